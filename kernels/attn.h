/* SPDX-License-Identifier: MIT */
/*
 * attn.h: causal grouped-query attention over an f32 KV cache: the one CPU definition, used by the
 * engine's architectures (model/) and by the cpu backend's kv_store/attn ops (kernels/backend.h). A
 * layer's cache holds K as (n_head_kv, cap, head_dim) and V transposed as (n_head_kv, head_dim,
 * cap), so both products run on the f32 matmul kernels: scores = K_g Q^T over the keys a block
 * of queries may see, then P V as a matmul with the probabilities as the matrix and the value
 * rows as inputs. The options a layer may have:
 *   - a window (KV policy "sliding"): the query at position q sees the keys at p with
 *     q - window < p <= q (llama.cpp's LLAMA_SWA_TYPE_STANDARD: masked when q - p >= window);
 *     window 0 is the full causal policy (p <= q);
 *   - per-head sink logits: a learned logit per query head that joins the softmax denominator
 *     only (gpt-oss; ggml's soft_max_ext with sinks).
 * KV-cache policy: position p lives in slot p % cap of its layer's cache. The full policy has
 * cap = n_ctx (no slot is ever reused); the sliding policy keeps cap = window + n_batch slots
 * (owb_attn_cache_slots), enough for every key a query of the chunk being written may see, so a
 * sliding layer's cache does not grow with the context. A block whose keys wrap around the ring
 * is gathered into the thread's scratch first (same values, same order: same results).
 *
 * Determinism: each output element is computed by one thread with the same operations whatever
 * the split over KV heads, so results do not depend on the thread count. Nothing allocates after
 * setup; scratch is the caller's (one owb_attn_scratch per thread).
 */
#ifndef OWB_KERNELS_ATTN_H
#define OWB_KERNELS_ATTN_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/isa.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "owb_common.h"

/* The attention plans of one chunk of nb tokens at positions pos.. for one window: blocks of up
 * to qb query tokens, each with the first key it may see and its two matmul plans. */
struct owb_attn_blocks {
    int nblk;
    int64_t qb;
    int64_t window;
    struct owb_matmul_plan *plans; /* (nblk_max, 2): scores, P V */
    int64_t *kstart;               /* (nblk_max) first key position of each block */
};

/* Query tokens per block: up to 64, fewer when a block's scores (group * qb rows of n_ctx
 * floats) would pass 4 MiB per thread; at most nb. */
int64_t owb_attn_block_tokens(int64_t group, int64_t n_ctx, int64_t nb);

/* Plan the blocks of a chunk (b->plans and b->kstart hold room for ceil(nb / qb) blocks).
 * Returns 0 or the matmul's error. */
int owb_attn_plan(struct owb_attn_blocks *b, int64_t pos, int64_t nb, int64_t qb, int64_t group,
                  int64_t head_dim, int64_t window, enum owb_isa isa, char err[OWB_ERR_MAX]);

/* Slots of a layer's cache: n_ctx for the full policy (window 0), else min(n_ctx, window +
 * n_batch). */
int64_t owb_attn_cache_slots(int64_t window, int64_t n_ctx, int64_t n_batch);

/* Per-thread scratch: qs (group * qb, head_dim), sc (group * qb, n_ctx), pv (head_dim,
 * group * qb); for sliding layers kw (cap, head_dim) and vw (head_dim, cap), the keys and values
 * of a block that wraps around the ring (NULL when no layer slides). */
struct owb_attn_scratch {
    float *qs, *sc, *pv;
    float *kw, *vw;
};

/* One layer's attention of a chunk. */
struct owb_attn_args {
    const float *q;               /* (nb, ldq) queries after RoPE, heads concatenated */
    float *out;                   /* (nb, ldq) attention output, heads concatenated */
    int64_t ldq;                  /* n_head * head_dim */
    const float *kc;              /* (n_head_kv, cap, head_dim) */
    const float *vc;              /* (n_head_kv, head_dim, cap) */
    int64_t cap, head_dim, group; /* cap: cache slots; group: query heads per KV head */
    int64_t pos;                  /* position of the chunk's first token */
    const float *sinks;           /* (n_head) sink logits or NULL */
    float scale;                  /* applied to q before the scores */
};

/* Attention of KV heads [g0, g1) (their groups of query heads) for every token of the chunk. */
void owb_attn_heads(const struct owb_attn_blocks *b, const struct owb_attn_args *a, int64_t g0,
                    int64_t g1, const struct owb_attn_scratch *s);

/* Biases, RoPE and cache writes of KV heads [g0, g1) (and their query heads) for nb tokens at
 * positions pos..: q (nb, ldq) and k, v (nb, ldkv) rows as the projections wrote them; bq, bk, bv
 * biases or NULL; rope[b] the rotation of token b (pairs as neox says); K and V of token b go to
 * slot (pos + b) % cap of kc (n_head_kv, cap, head_dim) and vc (n_head_kv, head_dim, cap). */
void owb_attn_write(float *q, float *k, float *v, int64_t ldq, int64_t ldkv, int64_t nb,
                    int64_t pos, const float *bq, const float *bk, const float *bv,
                    const struct owb_rope_cache *rope, int neox, int64_t head_dim, int64_t group,
                    int64_t g0, int64_t g1, float *kc, float *vc, int64_t cap);

#endif
