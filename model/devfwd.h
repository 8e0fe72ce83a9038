/* SPDX-License-Identifier: MIT */
/*
 * devfwd.h: the backend-driven forward pass: ONE host thread issues the backend table's ops
 * (kernels/backend.h) in order, every range covering the whole op, for a backend with
 * host_threads false (cuda), and for the cpu backend when a caller forces it
 * (owb_model_opts.driver, or OWB_DEVFWD=1 in the environment), so the op sequence a GPU runs is
 * proven on the CPU against the engine's own forward pass.
 *
 * The architectures (model/llama.c, model/gptoss.c) load and check a model as always (loader,
 * accounting) and then describe it here (struct owb_df_desc: their bound weights, 1-D tensors,
 * rope tables); owb_devfwd_init puts it in the backend's memory once: the weights through
 * buf_map (cpu: the mapping itself, no copy; cuda: one upload), the 1-D tensors into one buffer,
 * a KV cache of n_ctx positions for every full layer and a ring of window + n_batch slots for
 * every sliding one (kernels/attn.h's policy, the engine's: position p in slot p % cap),
 * activations for n_batch tokens.
 *
 * A chunk of nb tokens at position pos: its ids, position and rope caches (the architecture's
 * YaRN or frequency-factor tables, resolved on the host) are uploaded, then per layer: RMSNorm,
 * Q/K/V matmuls, biases, RoPE, kv_store, attention (causal, window, sinks), output projection
 * (+ bias) and residual add; then the dense feed-forward (gate, up, SiLU product, down, add) or
 * the mixture of experts (router + bias, top-k, gate/up + biases, clamped SwiGLU, down + bias,
 * weighted sum into the residual; the experts of a chunk of several tokens are routed once
 * (moe_route) and run grouped, one matmul per used expert at its row count (mm_grp), where the
 * backend has grouped kernels, else and in decode as expert-indexed rows); final RMSNorm, the
 * output matmul of every row or of the last, logits downloaded. What changes per decoded token
 * (token id, position, rope caches) is read from backend memory, so a backend with graphs records
 * the decode step once and replays it (graph_begin/end/launch); when recording fails, the ops run
 * plainly and the model's exec record says which ran and why.
 *
 * Profile: while m->profile is set, the driver marks the backend's timer (events on a device)
 * after every op and adds the intervals to the op classes of struct owb_model_profile (matmuls by
 * weight type with their input preparation; attention: biases, RoPE, KV store, attention; norm;
 * other), decode steps then queued op by op (a mark cannot sit inside a replayed graph); the
 * timers are created at the first profiled call.
 *
 * Numerics against the engine on the cpu backend: the same kernels and the same plans, the experts
 * of a chunk grouped per expert as the engine groups them: the same bits.
 */
#ifndef OWB_MODEL_DEVFWD_H
#define OWB_MODEL_DEVFWD_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/backend.h"
#include "kernels/ops.h"
#include "model/arch.h"
#include "model/loader.h"

/* Weights of a layer: dense matrices, then the feed-forward (2-D, or 3-D expert stacks with a
 * router). */
enum {
    OWB_DF_Q,
    OWB_DF_K,
    OWB_DF_V,
    OWB_DF_O,
    OWB_DF_GATE,
    OWB_DF_UP,
    OWB_DF_DOWN,
    OWB_DF_ROUTER,
    OWB_DF_NW
};

/* One layer as the architecture bound it (host addresses; NULL: absent). */
struct owb_df_layer {
    struct owb_wt w[OWB_DF_NW]; /* data NULL: absent (the router of a dense layer) */
    const float *attn_norm;     /* (n_embd) */
    const float *ffn_norm;      /* (n_embd): the norm before the feed-forward or the router */
    const float *bq, *bk, *bv, *bo;
    const float *br, *bg, *bu, *bd; /* router (n_expert); experts (n_expert, n_ff|n_embd) */
    const float *sinks;             /* (n_head) */
    int64_t window;                 /* 0: full causal */
    int rope;                       /* rope table of the layer (0 .. n_rope - 1) */
};

struct owb_df_desc {
    const char *path; /* for errors */
    const struct owb_hparams *hp;
    int64_t q_dim, kv_dim, n_ff; /* n_ff: dense width, or one expert's */
    int64_t n_used;              /* experts per token (MoE), else 0 */
    float w_scale;               /* expert weight scale (0 or 1: none) */
    float alpha, limit;          /* clamped SwiGLU of the experts */
    const struct owb_wt *tok_embd, *output;
    const float *output_norm;
    const struct owb_df_layer *layers; /* (hp->n_layer) */
    int n_rope;                        /* 1 or 2 rope tables */
    /* the rotation of position pos in table `table` */
    void (*rope_cache)(const void *impl, int table, int64_t pos, struct owb_rope_cache *rc);
    const void *impl;
};

struct owb_devfwd;

/* Put the described model in be's memory for contexts of n_ctx and chunks of up to n_batch
 * tokens; graphs: record decode steps where the backend can. Fills m->exec and
 * m->kv_cache_bytes. Returns 0, or OWB_E_NOMEM / OWB_E_UNSUPPORTED / OWB_E_SYSTEM with err
 * "FILE: backend B: reason" (a weight type or width the backend cannot multiply, memory). */
int owb_devfwd_init(struct owb_devfwd **out, struct owb_model *m, const struct owb_backend *be,
                    const struct owb_df_desc *d, bool graphs, char err[OWB_ERR_MAX]);

/* owb_model_forward's contract (arguments already checked by the architecture). */
int owb_devfwd_forward(struct owb_devfwd *D, struct owb_model *m, const int32_t *tokens, int64_t n,
                       int64_t pos, float *logits, bool logits_all, char err[OWB_ERR_MAX]);

/* Free what init took; NULL is a no-op. */
void owb_devfwd_free(struct owb_devfwd *D);

/* Whether load runs the driver for backend be: always without host threads; on a host-threads
 * backend when forced (opts->driver or OWB_DEVFWD=1 in the environment). */
bool owb_devfwd_wanted(const struct owb_backend *be, const struct owb_model_opts *o);

#endif
