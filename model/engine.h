/* SPDX-License-Identifier: MIT */
/*
 * engine.h: what the host-threads engines (model/llama.c, model/gptoss.c) hold and do alike. Each
 * architecture's state starts with a struct owb_engine (its FIRST member, so m->impl points at
 * both): the caller's runner and thread count, the kernels' ISA and the backend, the forward
 * region's barrier, the embedding and output matrices, the buffers every decoder layer uses
 * (residual, projection, Q/K/V of a chunk, attention output, the KV cache storage), the region's
 * step counters, the weights' plans and input scratch (model/region.h), or the backend-driven
 * pass (model/devfwd.h) that load chose instead. Here: creating and freeing that state, sizing
 * its buffers and plans at load, describing the model to the driver, the set-up every forward
 * chunk starts with, a forward call (driver or chunks), and the per-token costs both count alike.
 * What an architecture has beyond this (its layers, routing, rope tables, attention plans, the
 * layout of its KV cache) stays in its file.
 *
 * Ownership: the engine owns every buffer named here (freed by owb_engine_free); the weights
 * point into the GGUF mapping. Not thread-safe except where a function says.
 */
#ifndef OWB_MODEL_ENGINE_H
#define OWB_MODEL_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/backend.h"
#include "kernels/isa.h"
#include "model/arch.h"
#include "model/devfwd.h"
#include "model/loader.h"
#include "model/region.h"
#include "runtime/par.h"

/* The i-th weight matmul of layer l of the architecture whose state starts at impl. */
typedef const struct owb_wt *(*owb_engine_wt_fn)(const void *impl, int64_t l, int i);

struct owb_engine {
    struct owb_barrier bar; /* of the forward region (64-byte aligned) */
    bool bar_init;          /* bar exists */
    const struct owb_runner *runner;
    int nthreads; /* the runner's threads (1 without one) */
    enum owb_isa isa;
    const struct owb_backend *be; /* matmuls run through its table (host threads) */
    struct owb_devfwd *dev;       /* the backend-driven pass instead of the buffers below */

    int per_layer;          /* weight matmuls of a layer, in plan order */
    owb_engine_wt_fn wt;    /* the architecture's weight of (layer, plan slot) */
    int64_t q_dim, kv_dim;  /* n_head * head_dim, n_head_kv * head_dim */
    struct owb_wt tok_embd; /* n_vocab rows of n_embd */
    struct owb_wt output;   /* n_vocab rows of n_embd (== tok_embd when tied) */
    float *output_norm;     /* (n_embd) */
    float *vecs;            /* owned storage of the architecture's 1-D/2-D float tensors */

    /* Activations for up to n_batch tokens (nb). */
    float *x;         /* (nb, n_embd) residual stream */
    float *proj;      /* (nb, n_embd) output of a projection into the residual */
    float *q;         /* (nb, q_dim) queries */
    float *kb;        /* (nb, kv_dim) keys of the chunk before they go into the cache */
    float *vb;        /* (nb, kv_dim) values of the chunk */
    float *att_out;   /* (nb, q_dim) attention output, heads concatenated */
    float *k_cache;   /* (kv_slots, kv_dim): the architecture's layout of layers and positions */
    float *v_cache;   /* (kv_slots, kv_dim) */
    int64_t kv_slots; /* positions held for K (and for V), all layers together */
    int64_t qb;       /* query tokens per attention block (kernels/attn.h) */
    int64_t nblk_max; /* attention blocks of a full chunk */
    _Atomic int64_t *work; /* (nwork) step counters of the region */
    int64_t nwork;
    int64_t plan_nb;           /* the chunk size plans are for (0: none yet) */
    struct owb_be_mm *plans;   /* (n_layer * per_layer) then output */
    struct owb_be_mm out1;     /* output projection of one token */
    struct owb_region_bufs rb; /* normed and prepared inputs (model/region.h) */
};

/* Allocate the architecture's state of `size` bytes (zeroed, 64-byte aligned, a struct whose
 * first member is a struct owb_engine) as m->impl and set up the engine: runner, thread count
 * and backend from o (the cpu backend when o has none), the active ISA, the barrier; per_layer
 * and wt as above. Returns 0, or OWB_E_NOMEM / OWB_E_SYSTEM with err "path: reason" and m->impl
 * NULL. */
int owb_engine_new(struct owb_model *m, size_t size, const struct owb_model_opts *o, int per_layer,
                   owb_engine_wt_fn wt, const char *path, char err[OWB_ERR_MAX]);

/* Free what the engine owns, then m->impl itself (the architecture frees its own buffers
 * first); m->impl NULL is a no-op. */
void owb_engine_free(struct owb_model *m);

/* At load, once the head geometry is known (owb_ld_head_dim): the token embedding and output
 * matrix into tok_embd and output (owb_ld_embd_output), then q_dim and kv_dim. Returns 0,
 * owb_ld_embd_output's status, or OWB_E_FORMAT with err. */
int owb_engine_bind(struct owb_engine *e, struct owb_loader *ld, struct owb_hparams *hp,
                    char err[OWB_ERR_MAX]);

/* The buffers above for chunks of m->n_batch tokens and a KV cache of kv_slots positions of
 * kv_dim floats each for K and V (sets m->kv_cache_bytes), nwork step counters and the plans;
 * qb and nblk_max for the model's query group and context. Allocation failures set *oom; the
 * caller allocates its own buffers next and reports with owb_engine_nomem. */
void owb_engine_alloc(struct owb_engine *e, struct owb_model *m, int64_t kv_slots, int64_t nwork,
                      bool *oom);

/* Fill err with "path: out of memory for a context of N and batch of B (KV cache X MiB)";
 * returns OWB_E_NOMEM. */
int owb_engine_nomem(const struct owb_engine *e, const struct owb_model *m, const char *path,
                     char err[OWB_ERR_MAX]);

/* At the end of load: the weights' plans for chunks of m->n_batch tokens, the one-token output
 * plan and the region's input scratch sized by them. Returns 0 or the failing step's status
 * with err. */
int owb_engine_plan(struct owb_engine *e, const struct owb_model *m, const char *path,
                    char err[OWB_ERR_MAX]);

/* Hand the model to the driver (model/devfwd.h): d's widths of the feed-forward, rope tables
 * and the like as the architecture filled them; layer(impl, l, dl) describes layer l of the
 * architecture whose state starts at impl into the zeroed dl; the engine fills path, hp, q_dim,
 * kv_dim, tok_embd, output, output_norm and the layers' table (freed before it returns).
 * Returns owb_devfwd_init's status, or OWB_E_NOMEM with err. */
int owb_engine_driver(struct owb_engine *e, struct owb_model *m, struct owb_df_desc *d,
                      void (*layer)(const void *impl, int64_t l, struct owb_df_layer *dl),
                      const struct owb_model_opts *o, const char *path, char err[OWB_ERR_MAX]);

/* One chunk of a forward call: what every thread of its region reads (the architecture's state
 * is m->impl). */
struct owb_engine_fwd {
    struct owb_model *m;
    int64_t nb, pos; /* tokens of the chunk, position of the first */
    float *logits;   /* the call's logits at this chunk (model/region.h: owb_region_forward) */
    bool logits_all, last;
    struct owb_region rg; /* barrier, input scratch, profile (model/region.h) */
};

/* What every forward chunk of nb tokens at pos starts with on the calling thread: *f for the
 * chunk, the weights' plans for nb and the tokens' embedding rows in x. Returns 0 or the
 * planning status with err. */
int owb_engine_chunk(struct owb_engine *e, struct owb_model *m, const int32_t *tokens, int64_t nb,
                     int64_t pos, float *logits, bool logits_all, bool last,
                     struct owb_engine_fwd *f, char err[OWB_ERR_MAX]);

/* Run fn(f, tid, nth) as the chunk's region on the engine's runner (owb_region_run). */
void owb_engine_run(struct owb_engine *e, struct owb_engine_fwd *f, owb_par_fn fn);

/* owb_model_forward's contract for the model whose state m->impl is: the driver's pass when
 * load chose it, else chunks of at most n_batch tokens (owb_region_forward). */
int owb_engine_forward(struct owb_model *m, const int32_t *tokens, int64_t n, int64_t pos,
                       float *logits, bool logits_all, owb_region_chunk_fn chunk,
                       char err[OWB_ERR_MAX]);

/* What a decoded token reads and multiplies, summed by the architecture's accounting. */
struct owb_engine_tally {
    uint64_t read_bytes;              /* weight and 1-D tensor bytes */
    double mac;                       /* multiply-adds of the weight matmuls */
    uint64_t by_type[OWB_TYPE_COUNT]; /* elements of the layers' matrices by type */
};

/* Count dense matrix w once: its bytes, m * k multiply-adds, its elements under its type. */
void owb_engine_tally_wt(struct owb_engine_tally *t, const struct owb_wt *w);

/* The costs both architectures count alike into c (which the caller zeroed and gave its layer
 * counts and window): t plus the output matrix, one embedding row and output_norm, the flops of
 * the output and of attention, the KV bytes per token, the main weight type. */
void owb_engine_cost(const struct owb_engine *e, const struct owb_hparams *hp,
                     const struct owb_engine_tally *t, struct owb_model_cost *c);

#endif
