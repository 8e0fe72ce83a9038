/* SPDX-License-Identifier: MIT */
/*
 * backend.h: one table of function pointers per compute backend (as ggml's ggml-backend-impl.h),
 * so the engine and the benchmarks run the same sequence of calls on the CPU kernels or on a GPU:
 * buffers (allocate, map host memory, upload, download, copy, free), matmul of a weight tensor in
 * its GGUF type (plan, prepare activations, rows; expert-indexed rows), the row ops of a
 * transformer layer, attention over a KV cache in the backend's memory, synchronize, and a timer
 * (wall clock on the CPU, events on a GPU). owb_backend_get("cpu"|"cuda") is the registry.
 *
 * Addresses. Every pointer an op takes is an address in the backend's memory: a host address for
 * "cpu" (host_memory true), a device address for "cuda". owb_buf.data is that address; a buffer
 * carries its backend. Ops take plain addresses (offsets into buffers are pointer arithmetic), so
 * the CPU backend calls the kernels of kernels/matmul.h and kernels/ops.h on the caller's memory
 * directly: it wraps them, it copies nothing and adds one indirect call per op.
 *
 * Ranges and threads. Ops work on a range of rows [r0, r1) (output rows of a matmul, tokens of a
 * row op) so a caller's pool can split them. With host_threads true (cpu) the caller's threads may
 * call an op concurrently on disjoint ranges; mm_prepare over [b0, b1) must finish on every
 * thread (a barrier) before mm_rows reads the activations. A backend with host_threads false
 * (cuda) is driven by one host thread: ops are queued on its stream in call order (ranges still
 * honoured) and complete at synchronize(); a download synchronizes first.
 *
 * Errors: functions that can fail return 0 or a negative enum owb_status and fill err. Ops queued
 * on a device do not report launch errors one by one: synchronize() returns the first one.
 * Programmer errors (bad ranges) are OWB_ASSERTs on the CPU. Backends are stateless tables;
 * state lives in buffers, plans and timers, each owned by the caller.
 */
#ifndef OWB_KERNELS_BACKEND_H
#define OWB_KERNELS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/formats.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "owb_common.h"

struct owb_backend;

/* A region of a backend's memory. Caller-owned struct; release with owb_buf_free. */
struct owb_buf {
    const struct owb_backend *be;
    void *data; /* backend address (host for cpu, device for cuda); NULL for an empty buffer */
    size_t bytes;
    bool owned; /* false: data maps caller memory the backend must not free */
};

/* A planned matmul Y = W X on a backend (W m x k in wtype, X batch x k f32, Y batch x m f32).
 * Filled by mm_plan, read-only afterwards, may be shared by threads. */
struct owb_be_mm {
    const struct owb_backend *be;
    enum owb_type wtype;
    int64_t m, k, batch;
    size_t act_bytes; /* activation scratch mm_prepare fills (backend memory); 0: none */
    char path[96];    /* what runs, e.g. "avx512-vnni q4_0xq8_0 gemv" or "cuda q4_0 gemv b8" */
    struct owb_matmul_plan cpu; /* cpu: the kernels' plan (used as is) */
    int kind;                   /* backend-private: kernel family */
    enum owb_type act_type;     /* prepared activations: cpu as the kernels' plan; cuda f32 (GEMV,
                                   X read as is) or the GEMM tile type (f16, bf16) */
    int64_t n_expert;           /* grouped plans (mm_grp_plan): experts of the 3-D weight */
    size_t grp_row_bytes;       /* cpu grouped plans: bytes reserved per prepared row */
};

/* Expert-indexed matmul (gpt-oss MoE): token t's choice j multiplies expert ids[t * n_used + j]
 * (slice e of a 3-D weight (n_expert, m, k), expert_bytes apart) with activation row
 * t * x_per_tok + (x_per_tok > 1 ? j : 0) of X; the result is row t * n_used + j of Y. */
struct owb_be_mm_id {
    const int32_t *ids; /* (n_tok, n_used) expert ids, backend memory */
    int64_t n_used;
    int64_t n_expert;
    size_t expert_bytes; /* bytes of one expert's (m, k) slice */
    int64_t x_per_tok;   /* 1 (gate/up: every choice reads the token's row) or n_used (down) */
};

/* Grouped expert matmul (ggml's mul_mat_id): moe_route sorts a chunk's (token, choice) pairs by
 * expert once per layer; then for each expert weight (gate, up, down) mm_grp_prepare gathers every
 * used expert's input rows and prepares them for one matmul at that expert's row count, and
 * mm_grp_rows runs that matmul (the expert's weights read once per chunk, whatever its number of
 * tokens) and writes each result to the row of its pair: Y row t * n_used + j, X rows picked by
 * x_per_tok, both exactly as in struct owb_be_mm_id, so the ops around it are unchanged.
 *
 * The route (backend memory, owb_be_route_bytes, int32): offsets (n_expert + 1), expert e's rows
 * are [offsets[e], offsets[e + 1]); then pair (n_tok * n_used), the pair index t * n_used + j of
 * each row, an expert's pairs in token order. */
static inline size_t owb_be_route_bytes(int64_t n_tok, int64_t n_used, int64_t n_expert)
{
    return sizeof(int32_t) * (size_t)(n_expert + 1 + n_tok * n_used);
}

struct owb_be_mm_grp {
    const int32_t *route; /* moe_route's output for this chunk, backend memory */
    int64_t n_tok, n_used;
    size_t expert_bytes; /* bytes of one expert's (m, k) slice */
    int64_t x_per_tok;   /* 1 (gate/up: X row t) or n_used (down: X row t * n_used + j) */
};

/* Softmax row layout for attention scores: row r is query token r / n_head of head r % n_head at
 * position q_pos0 + r / n_head over keys at positions 0..n-1. Keys after the query (p > q) and,
 * with window > 0, keys with q - p >= window are masked (-inf -> 0). sinks (n_head) add
 * exp(sink - M) to the denominator when not NULL (ggml's soft_max_ext with sinks). q_pos0 < 0:
 * no mask (plain softmax of every row). */
struct owb_be_softmax {
    int64_t n_head;
    int64_t q_pos0;
    int64_t window;
    const float *sinks; /* backend memory or NULL */
};

/* Attention of n_tok query tokens at positions pos..pos+n_tok-1 over a KV cache in backend
 * memory laid out by the backend (kv_store writes it: cpu keeps K as (n_head_kv, cap, head_dim)
 * and V transposed as (n_head_kv, head_dim, cap), kernels/attn.h's layout; cuda keeps both as
 * (n_head_kv, cap, head_dim); n_head_kv * cap * head_dim floats each either way). Position p lives
 * in slot p % cap: cap n_ctx is the full cache; a sliding layer (window > 0) may keep a ring of
 * cap >= window + n_tok - 1 slots for every chunk of n_tok tokens written (kernels/attn.h's
 * owb_attn_cache_slots: window + n_batch), as the engine does. Query head h uses KV head
 * h / (n_head / n_head_kv). Scores are q.k * scale, masked and normalised as struct
 * owb_be_softmax says (window, sinks). */
struct owb_be_attn {
    int64_t n_head, n_head_kv, head_dim, n_ctx;
    int64_t pos;
    int64_t window;     /* 0: full causal */
    const float *sinks; /* (n_head) or NULL */
    float scale;
    /* NULL, or the position in backend memory, read when the op runs instead of pos: a recorded
     * graph (graph_begin) replays for every position with the same arguments */
    const int64_t *dpos;
    int64_t cap; /* cache slots (see above); 0: n_ctx */
};

/* The cache slots of a: cap, or n_ctx when cap is 0. */
static inline int64_t owb_be_attn_cap(const struct owb_be_attn *a)
{
    return a->cap > 0 ? a->cap : a->n_ctx;
}

/* Wall or event timer of a backend: mark() records a point in the backend's timeline (on a GPU:
 * an event on the stream), elapsed_ns(a, b) waits for b and returns the time between. */
struct owb_be_timer {
    const struct owb_backend *be;
    uint64_t host_ns; /* cpu: CLOCK_MONOTONIC_RAW at the mark */
    void *ev;         /* cuda: the event */
};

struct owb_backend {
    const char *name;  /* "cpu", "cuda" */
    bool host_threads; /* see the file comment */
    bool host_memory;  /* buffer addresses are host addresses */

    /* 0 when the backend can run here; OWB_E_UNSUPPORTED and a reason naming why not ("no CUDA
     * device: cudaGetDeviceCount: no CUDA-capable device is detected"). Cheap after the first
     * call; thread-safe. */
    int (*available)(char reason[OWB_ERR_MAX]);

    /* ---- buffers ---- */
    int (*buf_alloc)(const struct owb_backend *be, struct owb_buf *b, size_t bytes,
                     char err[OWB_ERR_MAX]);
    /* A buffer holding `bytes` of host memory that stays valid and unchanged while the buffer
     * lives: cpu points at it (no copy, owned false); a device backend allocates and copies. */
    int (*buf_map)(const struct owb_backend *be, struct owb_buf *b, const void *host, size_t bytes,
                   char err[OWB_ERR_MAX]);
    void (*buf_free)(struct owb_buf *b); /* b->data NULL is a no-op; leaves b empty */
    int (*upload)(const struct owb_buf *b, size_t off, const void *src, size_t bytes,
                  char err[OWB_ERR_MAX]);
    int (*download)(const struct owb_buf *b, size_t off, void *dst, size_t bytes,
                    char err[OWB_ERR_MAX]);
    /* backend-to-backend copy inside one backend (the copy ceiling of a device) */
    int (*copy)(const struct owb_buf *dst, size_t doff, const struct owb_buf *src, size_t soff,
                size_t bytes, char err[OWB_ERR_MAX]);

    /* ---- matmul ---- */
    int (*mm_plan)(const struct owb_backend *be, struct owb_be_mm *p, enum owb_type wtype,
                   int64_t m, int64_t k, int64_t batch, char err[OWB_ERR_MAX]);
    /* activation rows [b0, b1) of X (stride ldx floats) into act (p->act_bytes; no-op if 0) */
    void (*mm_prepare)(const struct owb_be_mm *p, const float *X, int64_t ldx, void *act,
                       int64_t b0, int64_t b1);
    /* output rows [r0, r1) of Y (stride ldy) for every batch row */
    void (*mm_rows)(const struct owb_be_mm *p, const void *W, const void *act, const float *X,
                    int64_t ldx, float *Y, int64_t ldy, int64_t r0, int64_t r1);
    /* expert-indexed rows: tokens [t0, t1); p is a batch-1 plan of one expert slice, act holds
     * n_x = n_tok * x_per_tok prepared rows (mm_prepare of a batch-1 plan, one row at a time at
     * act + i * p->act_bytes) */
    void (*mm_id_rows)(const struct owb_be_mm *p, const struct owb_be_mm_id *id, const void *W,
                       const void *act, const float *X, int64_t ldx, float *Y, int64_t ldy,
                       int64_t t0, int64_t t1);

    /* ---- grouped expert matmul (optional: NULL where the backend has none; mm_id_rows then) ----
     * moe_route: the route of ids (n_tok, n_used) over n_expert experts into route
     * (owb_be_route_bytes); one call for the whole chunk (not split between threads).
     * mm_grp_plan: a plan for chunks of up to max_pairs (token, choice) pairs of n_expert experts
     * of (m, k) in wtype; p->act_bytes is the scratch (backend memory, 64-byte aligned) that
     * mm_grp_prepare fills and mm_grp_rows uses; OWB_E_UNSUPPORTED when the backend has no
     * grouped kernel for it (the caller runs mm_id_rows instead).
     * mm_grp_prepare: input rows of experts [e0, e1) gathered from X and prepared into act.
     * mm_grp_rows: after every expert was prepared (a barrier), output rows [r0, r1) of every
     * used expert into Y (the pair's row). Results per row do not depend on the ranges. The
     * prepared rows stay in act: a plan of the same wtype, m and k (gate and up) runs its rows
     * on them without preparing again, after a barrier (the cpu stages results in act). */
    void (*moe_route)(const int32_t *ids, int64_t n_tok, int64_t n_used, int64_t n_expert,
                      int32_t *route);
    int (*mm_grp_plan)(const struct owb_backend *be, struct owb_be_mm *p, enum owb_type wtype,
                       int64_t m, int64_t k, int64_t max_pairs, int64_t n_expert,
                       char err[OWB_ERR_MAX]);
    void (*mm_grp_prepare)(const struct owb_be_mm *p, const struct owb_be_mm_grp *g, const float *X,
                           int64_t ldx, void *act, int64_t e0, int64_t e1);
    void (*mm_grp_rows)(const struct owb_be_mm *p, const struct owb_be_mm_grp *g, const void *W,
                        void *act, float *Y, int64_t ldy, int64_t r0, int64_t r1);

    /* ---- row ops: rows [r0, r1) of (rows, ld) f32 matrices; y may equal x ---- */
    void (*rmsnorm)(float *y, const float *x, const float *w, int64_t ld, int64_t n, float eps,
                    int64_t r0, int64_t r1);
    /* x: (n_tok, ld) rows of (n_heads, head_dim); rc: n_tok rope caches (cos/sin of each token's
     * position, YaRN included: the caller resolves angles), in backend memory. */
    void (*rope)(float *x, int64_t ld, int64_t n_heads, int64_t head_dim,
                 const struct owb_rope_cache *rc, int neox, int64_t r0, int64_t r1);
    void (*softmax)(float *x, int64_t ld, int64_t n, const struct owb_be_softmax *s, int64_t r0,
                    int64_t r1);
    void (*silu_mul)(float *y, const float *gate, const float *up, int64_t ld, int64_t n,
                     int64_t r0, int64_t r1);
    /* gpt-oss: y = g sigmoid(alpha g) (u + 1), g = min(gate, limit), u = clamp(up, +-limit) */
    void (*swiglu_oai)(float *y, const float *gate, const float *up, int64_t ld, int64_t n,
                       float alpha, float limit, int64_t r0, int64_t r1);
    void (*add)(float *y, const float *a, const float *b, int64_t ld, int64_t n, int64_t r0,
                int64_t r1);
    /* embedding rows: y[r] = row ids[r] of W (type t, n_cols) dequantized, r in [r0, r1) */
    int (*get_rows)(enum owb_type t, const void *W, int64_t n_cols, const int32_t *ids, float *y,
                    int64_t ldy, int64_t r0, int64_t r1);
    /* y[r] = x[r] + b[r'] over n columns for rows [r0, r1) (stride ld): r' = 0 (a bias broadcast
     * to every row) when ids is NULL, else r' = ids[r] (a per-expert bias picked by the expert
     * of each row: ggml's add_id); b's rows are ldb floats apart; ids in backend memory. */
    void (*add_bias)(float *y, const float *x, const float *b, int64_t ldb, const int32_t *ids,
                     int64_t ld, int64_t n, int64_t r0, int64_t r1);
    /* router of rows [r0, r1) of logits (stride ld, n experts): the k largest, descending (ties:
     * lower index first) into ids[r * k ..] and the softmax of the k into w[r * k ..], times
     * scale when scale is neither 0 nor 1 (owb_topk_softmax; k <= OWB_TOPK_MAX) */
    void (*topk)(const float *logits, int64_t ld, int64_t n, int64_t k, float scale, int32_t *ids,
                 float *w, int64_t r0, int64_t r1);
    /* weighted sum of expert outputs into the residual for tokens [t0, t1): y[t] += a with
     * a = w[t k] d[t k] + w[t k + 1] d[t k + 1] + ... summed in choice order (rows of d and y
     * ld floats apart, n columns) */
    void (*moe_sum)(float *y, const float *d, const float *w, int64_t k, int64_t ld, int64_t n,
                    int64_t t0, int64_t t1);
    /* store n_tok rows of K and V (n_tok, n_head_kv * head_dim) at positions pos.. */
    void (*kv_store)(float *kc, float *vc, const float *k, const float *v, int64_t ldk,
                     const struct owb_be_attn *a, int64_t n_tok);
    /* out (n_tok, n_head * head_dim) for query tokens [t0, t1) of q (same layout) */
    void (*attn)(float *out, const float *q, const float *kc, const float *vc,
                 const struct owb_be_attn *a, int64_t t0, int64_t t1);

    /* ---- graphs (optional: NULL where the backend has none, e.g. cpu) ----
     * graph_begin: the ops this thread queues from now on are recorded, not run, until
     * graph_end, which makes them one graph (*graph) or returns why it could not (an op that
     * cannot be recorded, instantiation failed): nothing ran then, the caller queues the ops
     * again plainly. graph_launch queues the recorded ops once more with the arguments they were
     * recorded with (what changes between launches is read from backend memory: struct
     * owb_be_attn.dpos, token ids, rope caches). graph_free(NULL) is a no-op. */
    int (*graph_begin)(const struct owb_backend *be, char err[OWB_ERR_MAX]);
    int (*graph_end)(const struct owb_backend *be, void **graph, char err[OWB_ERR_MAX]);
    int (*graph_launch)(const struct owb_backend *be, void *graph, char err[OWB_ERR_MAX]);
    void (*graph_free)(void *graph);

    /* ---- sync and timing ---- */
    int (*synchronize)(const struct owb_backend *be, char err[OWB_ERR_MAX]);
    int (*timer_init)(const struct owb_backend *be, struct owb_be_timer *t, char err[OWB_ERR_MAX]);
    void (*timer_release)(struct owb_be_timer *t);
    void (*timer_mark)(struct owb_be_timer *t);
    /* nanoseconds from mark a to mark b (waits for b) */
    double (*timer_elapsed_ns)(const struct owb_be_timer *a, const struct owb_be_timer *b);
};

/* The registry: "cpu" always; "cuda" when compiled with OWB_HAVE_CUDA (whether a device is
 * present is what its available() says). NULL for an unknown or not compiled-in name. */
const struct owb_backend *owb_backend_get(const char *name);

/* owb_backend_get + available(): 0 and *be, OWB_E_USAGE for an unknown name, OWB_E_UNSUPPORTED
 * with the reason ("cuda: built without CUDA (OWB_WITH_CUDA=OFF or nvcc not found)", "cuda: no
 * CUDA device: ...") when the backend cannot run here. */
int owb_backend_open(const char *name, const struct owb_backend **be, char reason[OWB_ERR_MAX]);

/* Convenience wrappers over the table (b->be's functions). */
static inline void owb_buf_free(struct owb_buf *b)
{
    if (b && b->be)
        b->be->buf_free(b);
}

/* The CPU backend's table (also reachable as owb_backend_get("cpu")). */
extern const struct owb_backend owb_backend_cpu;

#endif
