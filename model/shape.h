/* SPDX-License-Identifier: MIT */
/*
 * shape.h: what a model costs per token, from its metadata and tensor table alone (no weights read,
 * nothing allocated but the table): the bytes it stores, the weight bytes one decoded token reads
 * (mixture-of-experts layers: the router and only the expert_used_count experts a token picks),
 * the matmul FLOPs per token, the attention FLOPs per key and the K/V elements per position, with
 * sliding-window layers counted as such. Filled from an open GGUF (owb_shape_from_gguf: header
 * and tensor table, the mapping's tensor data is never touched) or from a synthetic preset
 * (owb_shape_from_preset: the tensors owb_synth_write would write, without writing them).
 *
 * The per-token bytes follow the engine's accounting of a loaded model (struct owb_model's
 * decode_read_bytes): every matrix of every layer, the output matrix (token_embd when the output is
 * tied), one row of token_embd, every 1-D tensor; KV cache reads are separate. For a 3-D expert
 * tensor [k, m, n_expert] (and its 2-D bias [m, n_expert]) a token reads n_expert_used / n_expert
 * of it. A planner (plan/) and a loaded model can therefore agree to the byte.
 *
 * Sliding windows: gpt-oss alternates windowed and full-attention layers (llama.cpp's rule for
 * the architecture: layer il is windowed when il % 2 == 0), with attention.sliding_window
 * positions. Other architectures are full attention in every layer.
 *
 * Ownership: a shape is plain data in caller storage. Thread-safety: pure functions.
 */
#ifndef OWB_MODEL_SHAPE_H
#define OWB_MODEL_SHAPE_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/formats.h"
#include "model/gguf.h"
#include "model/synth.h"
#include "owb_common.h"

/* One distinct dense matrix shape of the layers (experts, embeddings and output excluded). */
#define OWB_SHAPE_MAX_MATS 16
struct owb_shape_mat {
    enum owb_type type;
    int64_t m, k;    /* output rows x input width */
    double flop_tok; /* 2 x m x k x the matrices of this type and shape over every layer */
};

struct owb_shape {
    char arch[32];   /* general.architecture */
    char name[128];  /* general.name, or the preset name and type */
    int64_t n_vocab; /* rows of token_embd */
    int64_t n_embd;
    int64_t n_layer;
    int64_t n_head, n_head_kv;
    int64_t head_dim_k, head_dim_v; /* key and value widths per head */
    int64_t n_ff;                   /* feed-forward width (MoE: per expert) */
    int64_t n_ctx_train;
    int64_t n_expert, n_expert_used; /* 0, 0 for dense models */
    int64_t n_layer_full;            /* layers whose queries see every earlier position */
    int64_t n_layer_window;          /* layers that see the last `window` positions */
    int64_t window;
    int64_t n_params; /* elements of every tensor */

    uint64_t weight_bytes; /* tensor data as stored: each tensor padded to the file's alignment
                              (the GGUF data section) */
    /* Per decoded token, by stored type (index: enum owb_type): */
    uint64_t read_dense[OWB_TYPE_COUNT];  /* bytes read whatever the batch: dense matrices, router,
                                             output matrix, one embedding row, 1-D tensors */
    uint64_t read_expert[OWB_TYPE_COUNT]; /* bytes of ONE expert summed over the MoE layers (its
                                             slice of every 3-D expert tensor and expert bias) */
    double flop_tok[OWB_TYPE_COUNT];      /* 2 x multiply-adds of one token's weight matmuls
                                             (experts: expert_used_count of them), output
                                             projection excluded */
    double flop_expert_tok[OWB_TYPE_COUNT]; /* the part of flop_tok in the MoE experts (a batch of
                                               B tokens gives each touched expert about
                                               B k / E(B) of them: owb_shape_tokens_per_expert) */
    enum owb_type output_type;              /* type of the output projection's matrix */
    double output_flop_per_row;             /* 2 x n_embd x n_vocab: one row of logits */
    double attn_flop_per_key;               /* one layer: QK and PV flops per key a query sees */
    int64_t kv_elems_per_token_layer;       /* K and V elements of one position in one layer */
    enum owb_type main_type; /* type of the bulk (by elements) of the layers' matrices (MoE: the
                                experts): the format a model is "in" */
    /* the layers' dense matrices by type and shape, most FLOPs first (a batched step's time is
     * the sum over them of FLOPs / the rate of that shape); shapes beyond OWB_SHAPE_MAX_MATS are
     * left out (their FLOPs stay in flop_tok) */
    struct owb_shape_mat mats[OWB_SHAPE_MAX_MATS];
    int n_mats;
};

/* Fill s from an open GGUF's metadata (general.architecture, <arch>.block_count,
 * embedding_length, attention.head_count(_kv), attention.key_length/value_length, context_length,
 * expert_count, expert_used_count, attention.sliding_window) and its tensor table. Returns 0, or
 * OWB_E_FORMAT with err ("FILE: reason": a missing key, no token_embd.weight, counts that do not
 * fit the tensors). */
int owb_shape_from_gguf(const struct owb_gguf *g, struct owb_shape *s, char err[OWB_ERR_MAX]);

/* Fill s for what owb_synth_write_opts(p, o, ...) would write (o->n_layer 0: every layer).
 * Returns 0, OWB_E_USAGE (unsupported type, bad layer count) or OWB_E_NOMEM, with err. */
int owb_shape_from_preset(const struct owb_synth_preset *p, const struct owb_synth_opts *o,
                          struct owb_shape *s, char err[OWB_ERR_MAX]);

/* The accounting itself, for callers that have the hyperparameters in s (every field above
 * main_type's block left zero) and a tensor table t[0..n) (name, type, n_dims, ne, size_bytes).
 * Returns 0 or OWB_E_FORMAT (err: a layer count or expert count the tensors contradict). */
int owb_shape_account(struct owb_shape *s, const struct owb_gguf_tensor *t, int64_t n,
                      uint32_t alignment, char err[OWB_ERR_MAX]);

/* Weight bytes one decoded token reads: sum of read_dense + n_expert_used x read_expert. */
uint64_t owb_shape_decode_read_bytes(const struct owb_shape *s);
/* Weight bytes one decode step of a batch that touches `experts` distinct experts per MoE layer
 * reads (dense models: experts is ignored). */
double owb_shape_step_read_bytes(const struct owb_shape *s, double experts);
/* Expected distinct experts per MoE layer that a batch of b tokens touches when each picks
 * n_expert_used of n_expert uniformly and independently: X (1 - (1 - k/X)^b); 0 for dense. */
double owb_shape_distinct_experts(const struct owb_shape *s, double b);
/* Tokens each touched expert multiplies in a batch of b tokens: b k / E(b) (b for dense). */
double owb_shape_tokens_per_expert(const struct owb_shape *s, double b);
/* Matmul FLOPs per token, all types (output projection excluded). */
double owb_shape_flop_per_token(const struct owb_shape *s);
/* Keys the queries of one token at position pos see, summed over the layers (windows counted). */
double owb_shape_keys_at(const struct owb_shape *s, int64_t pos);
/* FLOPs of a forward call of n tokens at positions pos.. producing n_logits rows of logits: the
 * matmuls of every token, attention over the keys each query sees, the output projection. */
double owb_shape_flops(const struct owb_shape *s, int64_t pos, int64_t n, int64_t n_logits);
/* K/V elements a cache of n_ctx positions holds for one sequence: full layers n_ctx positions,
 * windowed layers min(n_ctx, window). */
double owb_shape_kv_elems(const struct owb_shape *s, int64_t n_ctx);
/* K/V elements one decoded token at position pos moves: the keys and values it reads in every
 * layer (windows respected) plus the position it writes. */
double owb_shape_kv_elems_at(const struct owb_shape *s, int64_t pos);

#endif
