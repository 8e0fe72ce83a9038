/* SPDX-License-Identifier: MIT */
/*
 * launch.h: private to kernels/cuda/. The C entry points of the device kernels (mm.cu, ops.cu),
 * called by the cuda backend table (backend_cuda.c). Every pointer is a device address; every
 * launch is queued on `stream` (a cudaStream_t) and returns at once. Launch errors are collected
 * by the caller with cudaGetLastError (the backend's synchronize does it). Shapes are checked by
 * the backend before these are called.
 */
#ifndef OWB_KERNELS_CUDA_LAUNCH_H
#define OWB_KERNELS_CUDA_LAUNCH_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/formats.h"
#include "kernels/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The cuda backend's stream (a cudaStream_t; NULL before a device was found). */
void *owb_cu_stream(void);

/* Largest batch of one GEMV launch; larger batches below the GEMM threshold loop over chunks. */
#define OWB_CU_GEMV_MAX_BATCH 8
/* Batches from this size on run the tensor-core GEMM (when k is a multiple of its 32-deep step). */
#define OWB_CU_GEMM_MIN_BATCH 16
/* Largest head_dim of the attention kernel. */
#define OWB_CU_ATTN_MAX_HEAD_DIM 256

/* True when the dequantize-fused kernels read type t (f32, f16, bf16, q8_0, q4_0, q4_K, q6_K,
 * mxfp4). */
int owb_cu_type_supported(enum owb_type t);
/* Tile type of the GEMM for weights of type t: OWB_TYPE_BF16 for f32/bf16, else OWB_TYPE_F16. */
enum owb_type owb_cu_gemm_act_type(enum owb_type t);

/* Y[b * ldy + r] = sum_i W[r][i] X[b * ldx + i] for rows [r0, r1), batch nb <= 8; k % 8 == 0. */
void owb_cu_gemv(enum owb_type t, const void *W, size_t row_bytes, const float *X, int64_t ldx,
                 float *Y, int64_t ldy, int64_t k, int64_t nb, int64_t r0, int64_t r1,
                 void *stream);
/* Expert-indexed GEMV: for tokens [t0, t1) and choices j < n_used, expert e = ids[t n_used + j],
 * X row t * x_per_tok + (x_per_tok > 1 ? j : 0), Y row t * n_used + j. */
void owb_cu_gemv_id(enum owb_type t, const void *W, size_t row_bytes, size_t expert_bytes,
                    const int32_t *ids, int64_t n_used, int64_t x_per_tok, const float *X,
                    int64_t ldx, float *Y, int64_t ldy, int64_t m, int64_t k, int64_t t0,
                    int64_t t1, void *stream);
/* Activation rows [b0, b1) of X converted to act_t (f16 or bf16), rows of k elements in act. */
void owb_cu_convert_rows(enum owb_type act_t, const float *X, int64_t ldx, void *act, int64_t k,
                         int64_t b0, int64_t b1, void *stream);
/* GEMM on tensor cores: W rows [r0, r1) dequantized to the tile type, act (batch, k) in that
 * type; k % 32 == 0. */
void owb_cu_gemm(enum owb_type t, const void *W, size_t row_bytes, const void *act, float *Y,
                 int64_t ldy, int64_t k, int64_t batch, int64_t r0, int64_t r1, void *stream);
/* Grouped experts (kernels/backend.h mm_grp): the route of n_pairs ids over n_expert experts (one
 * block); the input rows of experts [e0, e1) gathered from X (row of pair p: p, or p / n_used when
 * x_per_tok is 1) and converted to act_t, row r of the route at act row r; the GEMM of every
 * expert over its rows (grid sized for n_tok rows each; more rows loop), W rows [r0, r1) of
 * expert e at e * expert_bytes, each result to Y row pair[r]; k % 32 == 0. */
void owb_cu_moe_route(const int32_t *ids, int64_t n_pairs, int64_t n_expert, int32_t *route,
                      void *stream);
void owb_cu_gather_rows(enum owb_type act_t, const float *X, int64_t ldx, void *act, int64_t k,
                        const int32_t *route, int64_t n_expert, int64_t n_used, int64_t x_per_tok,
                        int64_t n_pairs, int64_t e0, int64_t e1, void *stream);
void owb_cu_gemm_grp(enum owb_type t, const void *W, size_t row_bytes, size_t expert_bytes,
                     const void *act, float *Y, int64_t ldy, int64_t k, const int32_t *route,
                     int64_t n_expert, int64_t n_tok, int64_t r0, int64_t r1, void *stream);

void owb_cu_rmsnorm(float *y, const float *x, const float *w, int64_t ld, int64_t n, float eps,
                    int64_t r0, int64_t r1, void *stream);
void owb_cu_rope(float *x, int64_t ld, int64_t n_heads, int64_t head_dim,
                 const struct owb_rope_cache *rc, int neox, int64_t r0, int64_t r1, void *stream);
void owb_cu_softmax(float *x, int64_t ld, int64_t n, int64_t n_head, int64_t q_pos0, int64_t window,
                    const float *sinks, int64_t r0, int64_t r1, void *stream);
/* op 0: silu(a) * b; 1: gpt-oss swiglu (alpha, limit); 2: a + b */
void owb_cu_binary(int op, float *y, const float *a, const float *b, int64_t ld, int64_t n,
                   float alpha, float limit, int64_t r0, int64_t r1, void *stream);
void owb_cu_get_rows(enum owb_type t, const void *W, size_t row_bytes, int64_t n_cols,
                     const int32_t *ids, float *y, int64_t ldy, int64_t r0, int64_t r1,
                     void *stream);
/* dpos: NULL, or the position in device memory (read by the kernel instead of pos); cap: cache
 * slots (n_ctx, or a sliding layer's ring), position p in slot p % cap */
void owb_cu_kv_store(float *kc, float *vc, const float *k, const float *v, int64_t ldk,
                     int64_t n_head_kv, int64_t head_dim, int64_t cap, int64_t pos,
                     const int64_t *dpos, int64_t n_tok, void *stream);
void owb_cu_attn(float *out, const float *q, const float *kc, const float *vc, int64_t n_head,
                 int64_t n_head_kv, int64_t head_dim, int64_t n_ctx, int64_t cap, int64_t pos,
                 const int64_t *dpos, int64_t window, const float *sinks, float scale, int64_t t0,
                 int64_t t1, void *stream);
/* the backend table's add_bias, topk and moe_sum (kernels/backend.h) */
void owb_cu_add_bias(float *y, const float *x, const float *b, int64_t ldb, const int32_t *ids,
                     int64_t ld, int64_t n, int64_t r0, int64_t r1, void *stream);
void owb_cu_topk(const float *logits, int64_t ld, int64_t n, int64_t k, float scale, int32_t *ids,
                 float *w, int64_t r0, int64_t r1, void *stream);
void owb_cu_moe_sum(float *y, const float *d, const float *w, int64_t k, int64_t ld, int64_t n,
                    int64_t t0, int64_t t1, void *stream);

#ifdef __cplusplus
}
#endif

#endif
