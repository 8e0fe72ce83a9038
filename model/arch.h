/* SPDX-License-Identifier: MIT */
/*
 * arch.h: the architecture table and the model interface every architecture implements. A GGUF's
 * `general.architecture` picks a table entry (llama, mistral, qwen2 -> model/llama.c; gpt-oss ->
 * model/gptoss.c); owb_model_load() reads the hyperparameters and binds the
 * weights in place, owb_model_forward() runs a batch of tokens through the network, filling a KV
 * cache, and returns logits.
 *
 * Threads: the model creates none. Parallel work goes through a caller-supplied runner whose
 * run() calls fn(ctx, tid, nthreads) once on each of its threads and returns when all are done
 * (runtime/pool.h's owb_rt_pool_run has exactly this shape). The threads of one run() must run
 * concurrently: a forward chunk is one region whose threads meet at barriers between the steps of
 * a layer. Work is split by output rows, heads, tokens and experts only, never by a reduction, so
 * logits are bitwise identical for any thread count.
 *
 * Ownership: a model borrows the GGUF's mapping (weights are used where they lie): the owb_gguf
 * must stay open until owb_model_free(). Everything else (KV cache, activations, scratch) is
 * allocated once in owb_model_load(); a forward call allocates nothing. A model is used by one
 * thread at a time (the runner's workers aside).
 */
#ifndef OWB_MODEL_ARCH_H
#define OWB_MODEL_ARCH_H

#include <stdbool.h>
#include <stdint.h>

#include "model/gguf.h"
#include "owb_common.h"

/* Body of a parallel region (same signature as bench/core/pool.h's owb_pool_fn). */
typedef void (*owb_par_fn)(void *ctx, int tid, int nthreads);

struct owb_runner {
    /* Run fn on nthreads threads (tid 0..nthreads-1) and wait for all of them. */
    void (*run)(void *pool, owb_par_fn fn, void *ctx);
    void *pool;
    int nthreads;
};

struct owb_backend;

struct owb_model_opts {
    int64_t n_ctx;   /* KV cache positions; 0: the model's context_length. Larger than the
                        trained context is allowed (the caller may warn). */
    int64_t n_batch; /* most tokens per internal chunk of a forward call; 0: min(512, n_ctx) */
    const struct owb_runner *runner;   /* NULL: everything on the calling thread */
    const struct owb_backend *backend; /* NULL: the cpu backend (kernels/backend.h) */
    /* Run the one-host-thread backend-driven forward pass (model/devfwd.h) on a host-threads
     * backend too (tests prove the device op sequence on the cpu with it; OWB_DEVFWD=1 in the
     * environment does the same). A backend without host threads (cuda) always runs it. */
    bool driver;
    bool no_graphs; /* the driver decodes op by op even where the backend records graphs */
    /* Keep every weight in the file's row layout: no load-time conversion of weights the process
     * owns into the layout its kernels read fastest (kernels/matmul.h, enum owb_wlayout). */
    bool rows_layout;
};

/* Hyperparameters shared by the decoder-only architectures. */
struct owb_hparams {
    char arch[32];   /* general.architecture */
    int64_t n_vocab; /* rows of token_embd */
    int64_t n_embd;  /* residual width */
    int64_t n_layer;
    int64_t n_head;    /* query heads */
    int64_t n_head_kv; /* key/value heads (GQA when < n_head) */
    int64_t head_dim;
    int64_t n_ff;        /* feed-forward width */
    int64_t n_ctx_train; /* context_length from the metadata */
    int64_t n_rot;       /* rotated dimensions per head */
    float rope_freq_base;
    float rope_freq_scale; /* 1 / linear scaling factor */
    float rms_eps;
    int rope_neox;         /* 0: pairs (2i, 2i+1); 1: pairs (i, i + n_rot/2) */
    bool tied_output;      /* no output.weight: logits use token_embd */
    int64_t n_expert;      /* experts per MoE layer (0: dense feed-forward) */
    int64_t n_expert_used; /* experts each token runs (router top-k) */
};

struct owb_arch;

/* Where forward calls spent their time, accumulated while a profile is attached (m->profile):
 * wall time of the calling thread (worker 0) split at the step boundaries of the forward pass.
 * The classes are disjoint and together at most total_ns; what worker 0 spent waiting for the
 * other threads at barriers is sync_ns, so an imbalance or a descheduled worker shows there.
 * Attaching one costs a clock read per step (a few dozen per layer); NULL costs nothing. */
struct owb_model_profile {
    uint64_t matmul_ns[OWB_TYPE_COUNT]; /* weight matrices by stored type, incl. quantizing
                                           their input activations */
    uint64_t attention_ns; /* biases, RoPE, KV cache writes, scores, softmax, weighted values */
    uint64_t norm_ns;      /* RMSNorm */
    uint64_t sync_ns;      /* waiting at barriers and for the region to start/finish */
    uint64_t other_ns;     /* embedding rows, RoPE tables, residual adds, SwiGLU, planning */
    uint64_t total_ns;     /* wall time of the profiled owb_model_forward calls */
    uint64_t calls;        /* owb_model_forward calls profiled */
    uint64_t tokens;       /* tokens they processed */
};

/* What a token costs, by architecture: filled after load by the table entry's account(). The
 * bench suites and the planner derive bytes and FLOPs from it (owb_model_flops,
 * owb_model_kv_read_bytes), never from dense formulas of their own. */
struct owb_model_cost {
    uint64_t decode_read_bytes;        /* weight bytes one decoded token reads: every dense matrix,
                                          for mixture-of-experts layers the router and only the
                                          expert_used_count experts a token picks, the output
                                          matrix, one embedding row, the 1-D tensors */
    double matmul_flop_per_token;      /* 2 x multiply-adds of one token's weight matmuls, output
                                          projection excluded (MoE: router + active experts) */
    double output_flop_per_row;        /* 2 x n_embd x n_vocab: one row of logits */
    double attn_flop_per_key;          /* one layer: QK and PV flops per key a query sees */
    uint64_t kv_bytes_per_token_layer; /* K and V of one position in one layer */
    uint64_t kv_bytes_per_token;       /* ... in every layer */
    int64_t n_layer_full;              /* layers whose queries see every earlier position */
    int64_t n_layer_window;            /* layers with a sliding window of `window` positions */
    int64_t window;
    enum owb_type main_wtype; /* type of the bulk (by elements) of the per-layer matmul weights
                                 (MoE: the experts): the format a model is "in" */
};

struct owb_model {
    const struct owb_arch *arch;
    struct owb_hparams hp;
    int64_t n_ctx;   /* KV cache positions */
    int64_t n_batch; /* largest chunk a forward call processes at once */
    void *impl;      /* the architecture's state */

    /* Memory facts, filled by the architecture's load. */
    uint64_t weight_bytes;       /* tensor data the model uses, as stored in the file */
    uint64_t decode_read_bytes;  /* weight bytes one single-token step reads: every matrix of
                                    every layer, the output matrix, one embedding row, the 1-D
                                    tensors (KV cache reads excluded) */
    uint64_t kv_bytes_per_token; /* KV cache bytes of one position (K and V, every layer) */
    uint64_t kv_cache_bytes;     /* KV cache bytes allocated for n_ctx positions (sliding layers
                                    keep a ring of window + n_batch) */
    struct owb_model_cost cost;  /* per-token costs (the two fields above come from it) */

    /* How forward calls run: filled at load, the counters by forward. */
    struct owb_model_exec {
        const char *backend;     /* the backend's name */
        bool driver;             /* one host thread drives the backend's ops (model/devfwd.h) */
        bool graphs;             /* decode steps are recorded as a graph where the backend can */
        bool grouped_experts;    /* MoE chunks run one matmul per used expert (mm_grp) */
        uint64_t rep8_bytes;     /* weight bytes held repacked (OWB_WL_REP8, kernels/matmul.h);
                                    0: every weight in the file's row layout */
        uint64_t graph_launches; /* decode steps replayed from the recorded graph */
        uint64_t plain_steps;    /* chunks and decode steps queued op by op */
        uint64_t device_bytes;   /* backend memory the driver allocated (weights it copied, KV
                                    cache, activations) */
        char note[OWB_ERR_MAX];  /* why decode runs without a graph ("" otherwise) */
    } exec;

    /* Profiling: NULL (default) or a caller-owned accumulator (owb_model_profile). */
    struct owb_model_profile *profile;
};

struct owb_arch {
    const char *name; /* general.architecture value */
    int rope_neox;
    /* Fill m->hp, m->n_ctx, m->n_batch and m->impl; on failure release what it took. */
    int (*load)(struct owb_model *m, const struct owb_gguf *g, const struct owb_model_opts *o,
                char err[OWB_ERR_MAX]);
    /* Called by owb_model_forward with arguments already checked (n tokens fit the context
     * at pos, every id in the vocabulary); the wrapper also accounts the profiled call. */
    int (*forward)(struct owb_model *m, const int32_t *tokens, int64_t n, int64_t pos,
                   float *logits, bool logits_all, char err[OWB_ERR_MAX]);
    void (*release)(struct owb_model *m);
    /* The per-token costs of a loaded model. */
    void (*account)(const struct owb_model *m, struct owb_model_cost *c);
};

/* The table entry for an architecture name; NULL when unsupported. */
const struct owb_arch *owb_arch_find(const char *name);
/* Comma-separated names of the supported architectures (static string). */
const char *owb_arch_names(void);

/* Load the model of an open GGUF (opts may be NULL: defaults). Returns NULL with err ("FILE:
 * reason": unsupported architecture, missing or mis-shaped tensor, bad hyperparameter, out of
 * memory). */
struct owb_model *owb_model_load(const struct owb_gguf *g, const struct owb_model_opts *opts,
                                 char err[OWB_ERR_MAX]);

/* Run tokens[0..n) at positions pos..pos+n-1 (the KV cache must hold positions 0..pos-1 from
 * earlier calls; later positions are overwritten). logits receives n_vocab floats for the last
 * token, or n * n_vocab (one row per token) when logits_all. Returns 0, or OWB_E_USAGE (err
 * filled) when a token id is out of range or pos + n > n_ctx. */
int owb_model_forward(struct owb_model *m, const int32_t *tokens, int64_t n, int64_t pos,
                      float *logits, bool logits_all, char err[OWB_ERR_MAX]);

/* FLOPs of a forward call of n tokens at positions pos.. that produces n_logits rows of logits:
 * the weight matmuls of every token, the attention products over the keys each query sees
 * (windows respected) and the output projection of the logits rows. */
double owb_model_flops(const struct owb_model *m, int64_t pos, int64_t n, int64_t n_logits);

/* KV-cache bytes a single decoded token at position pos moves: the keys and values it reads in
 * every layer (windows respected) plus the position it writes. */
double owb_model_kv_bytes_at(const struct owb_model *m, int64_t pos);

/* Free the model (not the GGUF); NULL is a no-op. */
void owb_model_free(struct owb_model *m);

#endif
