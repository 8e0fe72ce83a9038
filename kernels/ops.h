/* SPDX-License-Identifier: MIT */
/*
 * ops.h: the row operations of a transformer forward pass on f32 data: RMS norm, rotary position
 * embedding (normal and NeoX pair layouts), softmax, SiLU-gated product, add, and dequantizing one
 * row of a weight matrix (embeddings). Each dispatches to the variant of the active ISA
 * (kernels/isa.h: ref, avx2, avx512); the variants differ by float rounding only and each has a
 * scalar `_ref` twin that defines correctness (kernels/ops_impl.h declares them all). gpt-oss's
 * softmax with a sink logit, its clamped SwiGLU and the YaRN rotary caches are scalar only (one
 * definition, used by the engine and by the cpu backend).
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

/* Softmax of x[0..n) in place with a sink logit in the denominator:
 *     x_i <- exp(x_i - M) / (sum_j exp(x_j - M) + exp(sink - M)),  M = max(max_j x_j, sink)
 * (sum in double as ggml does); -inf entries become 0. */
void owb_softmax_sink(float *x, int64_t n, float sink);

/* YaRN rotary parameters as llama.cpp resolves them for a YaRN file (ext_factor 1, attention
 * factor from get_mscale and its cancellation, correction dims from ggml_rope_yarn_corr_dims). */
struct owb_yarn {
    int64_t n_rot;
    float freq_base;
    float freq_scale;  /* 1 / rope.scaling.factor (1 without YaRN) */
    float ext_factor;  /* 1 with YaRN, 0 without */
    float attn_factor; /* magnitude factor passed to the rotation (llama.cpp's yarn_attn_factor) */
    float corr[2];     /* first and last pair index of the interpolation ramp */
};

/* Resolve the parameters: factor <= 1 means no scaling (plain NeoX RoPE with freq_base).
 * rope_attn_factor is the file's rope.scaling.attn_factor (1 when absent). */
void owb_yarn_init(struct owb_yarn *y, int64_t n_rot, float freq_base, float factor,
                   int64_t n_ctx_orig, float beta_fast, float beta_slow, float rope_attn_factor);

/* The cosines and sines of position pos, each multiplied by the magnitude scale mscale =
 * attn_factor * (1 + 0.1 ln(1 / freq_scale)) when ext_factor != 0: pair i has
 *     theta_extrap = pos * freq_base^(-2 i / n_rot), theta_interp = freq_scale * theta_extrap,
 *     ramp = 1 - clamp((i - corr[0]) / max(0.001, corr[1] - corr[0]), 0, 1),
 *     theta = theta_interp * (1 - ramp * ext) + theta_extrap * ramp * ext. */
void owb_yarn_cache(struct owb_rope_cache *c, const struct owb_yarn *y, int64_t pos);

/* gpt-oss SwiGLU: y = g * sigmoid(alpha g) * (u + 1) with g = min(gate, limit) and
 * u = clamp(up, -limit, limit) (ggml's swiglu_oai; gpt-oss: alpha 1.702, limit 7). y may alias
 * gate or up. */
void owb_swiglu_oai(float *y, const float *gate, const float *up, int64_t n, float alpha,
                    float limit);

/* Most experts a router may pick per token (OWB_TOPK_MAX >= k). */
#define OWB_TOPK_MAX 64

/* Router top-k: the k largest of logits[0..n) in descending order (equal logits: the lower index
 * first) into ids[0..k) and their softmax w[0..k) = softmax of the k selected logits
 * (1 <= k <= n, k <= OWB_TOPK_MAX). The gpt-oss router (model/gptoss.h's owb_moe_topk) and the
 * backends' topk op. */
void owb_topk_softmax(const float *logits, int64_t n, int64_t k, int32_t *ids, float *w);

#endif
