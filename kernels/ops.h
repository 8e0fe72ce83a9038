/* SPDX-License-Identifier: MIT */
/*
 * ops.h: the row operations of a transformer forward pass on f32 data: RMS norm, rotary position
 * embedding (normal and NeoX pair layouts), softmax, SiLU-gated product, add, and dequantizing one
 * row of a weight matrix (embeddings). Each dispatches to the variant of the active ISA
 * (kernels/isa.h: ref, avx2, avx512); the variants differ by float rounding only and each has a
 * scalar `_ref` twin that defines correctness (kernels/ops_impl.h declares them all).
 *
 * Memory: the caller owns every buffer; nothing here allocates, locks or prints. Outputs may alias
 * inputs exactly (y == x in place) but must not partially overlap them. Lengths are element
 * counts; n = 0 is a no-op. All functions are thread-safe on distinct outputs.
 */
#ifndef OWB_KERNELS_OPS_H
#define OWB_KERNELS_OPS_H

#include <stdint.h>

#include "kernels/formats.h"

/* Largest rotated dimension count (n_rot) owb_rope accepts: the angle table lives on the stack. */
#define OWB_ROPE_MAX_ROT 1024

/* y[i] = x[i] / sqrt(mean(x^2) + eps) * w[i] for i < n; w may be NULL (no weight). The sum of
 * squares is accumulated in double. */
void owb_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps);

/* Rotary embedding in place on one token's heads: x is (n_heads, head_dim) row-major. In every
 * head, dimension pair i (i < n_rot / 2) is rotated by the angle
 *     theta_i = pos * freq_scale * freq_base^(-2 i / n_rot)
 * (x0, x1) -> (x0 cos - x1 sin, x0 sin + x1 cos). The pair is (2i, 2i+1) when neox == 0 (llama
 * layout) and (i, i + n_rot/2) when neox == 1 (NeoX/gpt-oss layout); dimensions >= n_rot are left
 * as they are. Angles, cosines and sines are computed in double. n_rot must be even, <= head_dim
 * and <= OWB_ROPE_MAX_ROT (OWB_ASSERT otherwise). */
void owb_rope(float *x, int64_t n_heads, int64_t head_dim, int64_t pos, float freq_base,
              float freq_scale, int neox, int64_t n_rot);

/* Cosines and sines of one position's rotary angles, for applying the same rotation to many
 * tensors (q and k of every layer) without recomputing them: owb_rope() == init + apply. */
struct owb_rope_cache {
    int64_t n_rot;
    float cos[OWB_ROPE_MAX_ROT / 2]; /* (n_rot / 2) */
    float sin[OWB_ROPE_MAX_ROT / 2]; /* (n_rot / 2) */
};
void owb_rope_cache_init(struct owb_rope_cache *c, int64_t n_rot, int64_t pos, float freq_base,
                         float freq_scale);
void owb_rope_apply(float *x, int64_t n_heads, int64_t head_dim, const struct owb_rope_cache *c,
                    int neox);

/* Softmax of x[0..n) in place: exp(x - max) / sum, numerically stable for any finite range;
 * -inf entries (masked positions) become 0. When every entry is -inf the row becomes all zeros. */
void owb_softmax(float *x, int64_t n);

/* y[i] = silu(gate[i]) * up[i] with silu(g) = g / (1 + exp(-g)). */
void owb_silu_mul(float *y, const float *gate, const float *up, int64_t n);

/* y[i] = a[i] + b[i]. */
void owb_add(float *y, const float *a, const float *b, int64_t n);

/* Dequantize row `row` of a matrix of type t with n_cols columns stored at data (rows of
 * owb_row_size(t, n_cols) bytes, as in GGUF) into out[0..n_cols). Returns 0, OWB_E_UNSUPPORTED
 * for a type without a dequantizer, OWB_E_USAGE when n_cols is not a positive multiple of the
 * block size or row is negative. */
int owb_get_row(enum owb_type t, const void *data, int64_t row, int64_t n_cols, float *out);

#endif
