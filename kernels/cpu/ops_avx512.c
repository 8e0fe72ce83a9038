/* SPDX-License-Identifier: MIT */
/*
 * ops_avx512.c: AVX-512 (F/DQ/VL) variants of the row ops in kernels/ops.h, same signatures and
 * contracts as the `_ref` versions in kernels/ops.c. Tails use masked loads and stores, so every
 * element goes through the same vector code. Sums of squares and of exponentials are accumulated
 * in double as in the reference; exp is a Cephes-style polynomial with _mm512_scalef_ps (about
 * 1 ulp, exact overflow to inf and gradual underflow).
 */
#include "kernels/ops_impl.h"

#if OWB_OPS_HAVE_X86

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "owb_common.h"

static __mmask16 tail_mask(int64_t left)
{
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
}

/* e^x for 16 floats; NaN stays NaN, -inf gives 0, large x gives inf. */
static __m512 exp_ps(__m512 x)
{
    x = _mm512_min_ps(_mm512_set1_ps(89.0f), _mm512_max_ps(_mm512_set1_ps(-104.0f), x));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 y =
        _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(y, n);
}

/* Sum of the 16 lanes of v, each widened to double, added into acc (8 doubles). */
static __m512d add_pd_lanes(__m512d acc, __m512 v)
{
    acc = _mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    return _mm512_add_pd(acc, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
}

static __m512d sq_pd_lanes(__m512d acc, __m512 v)
{
    const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    const __m512d hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
    acc = _mm512_fmadd_pd(lo, lo, acc);
    return _mm512_fmadd_pd(hi, hi, acc);
}

void owb_rmsnorm_avx512(float *y, const float *x, const float *w, int64_t n, float eps)
{
    if (n <= 0)
        return;
    __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = sq_pd_lanes(acc0, _mm512_loadu_ps(x + i));
        acc1 = sq_pd_lanes(acc1, _mm512_loadu_ps(x + i + 16));
    }
    for (; i < n; i += 16)
        acc0 = sq_pd_lanes(acc0, _mm512_maskz_loadu_ps(tail_mask(n - i), x + i));
    const double sum = _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1));
    const float mean = (float)(sum / (double)n);
    const __m512 scale = _mm512_set1_ps(1.0f / sqrtf(mean + eps));
    for (i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), scale);
        if (w)
            v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i));
        _mm512_mask_storeu_ps(y + i, m, v);
    }
}

void owb_rope_apply_avx512(float *x, int64_t n_heads, int64_t head_dim,
                           const struct owb_rope_cache *c, int neox)
{
    const int64_t half = c->n_rot / 2;
    OWB_ASSERT(c->n_rot <= head_dim);
    /* lane j of a 16-float chunk holds pair j/2: duplicate each cos/sin into two lanes */
    const __m512i dup = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    for (int64_t h = 0; h < n_heads; h++) {
        float *v = x + h * head_dim; /* (head_dim) */
        if (neox) {
            for (int64_t i = 0; i < half; i += 16) {
                const __mmask16 m = tail_mask(half - i);
                const __m512 cs = _mm512_maskz_loadu_ps(m, c->cos + i);
                const __m512 sn = _mm512_maskz_loadu_ps(m, c->sin + i);
                const __m512 x0 = _mm512_maskz_loadu_ps(m, v + i);
                const __m512 x1 = _mm512_maskz_loadu_ps(m, v + i + half);
                const __m512 y0 = _mm512_fmsub_ps(x0, cs, _mm512_mul_ps(x1, sn));
                const __m512 y1 = _mm512_fmadd_ps(x1, cs, _mm512_mul_ps(x0, sn));
                _mm512_mask_storeu_ps(v + i, m, y0);
                _mm512_mask_storeu_ps(v + i + half, m, y1);
            }
        } else {
            for (int64_t i = 0; i < half; i += 8) {
                const int64_t left = half - i < 8 ? half - i : 8; /* pairs in this chunk */
                const __mmask8 mp = (__mmask8)((1u << left) - 1u);
                const __mmask16 m = (__mmask16)((1u << (2 * left)) - 1u);
                const __m512 cs = _mm512_permutexvar_ps(
                    dup, _mm512_castps256_ps512(_mm256_maskz_loadu_ps(mp, c->cos + i)));
                const __m512 sn = _mm512_permutexvar_ps(
                    dup, _mm512_castps256_ps512(_mm256_maskz_loadu_ps(mp, c->sin + i)));
                const __m512 xv = _mm512_maskz_loadu_ps(m, v + 2 * i);
                const __m512 xs = _mm512_permute_ps(xv, 0xb1); /* (x1, x0) in every pair */
                /* even lanes x0 c - x1 s, odd lanes x1 c + x0 s */
                const __m512 yv = _mm512_fmaddsub_ps(xv, cs, _mm512_mul_ps(xs, sn));
                _mm512_mask_storeu_ps(v + 2 * i, m, yv);
            }
        }
    }
}

void owb_rope_avx512(float *x, int64_t n_heads, int64_t head_dim, int64_t pos, float freq_base,
                     float freq_scale, int neox, int64_t n_rot)
{
    struct owb_rope_cache c;
    owb_rope_cache_init(&c, n_rot, pos, freq_base, freq_scale);
    owb_rope_apply_avx512(x, n_heads, head_dim, &c, neox);
}

void owb_softmax_avx512(float *x, int64_t n)
{
    if (n <= 0)
        return;
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        vmax = _mm512_mask_max_ps(vmax, m, vmax, _mm512_maskz_loadu_ps(m, x + i));
    }
    const float max = _mm512_reduce_max_ps(vmax);
    if (max == -INFINITY) {
        memset(x, 0, (size_t)n * sizeof(float));
        return;
    }
    const __m512 vm = _mm512_set1_ps(max);
    __m512d acc = _mm512_setzero_pd();
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        const __m512 e =
            _mm512_maskz_mov_ps(m, exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vm)));
        acc = add_pd_lanes(acc, e);
        _mm512_mask_storeu_ps(x + i, m, e);
    }
    const __m512 inv = _mm512_set1_ps((float)(1.0 / _mm512_reduce_add_pd(acc)));
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
    }
}

void owb_silu_mul_avx512(float *y, const float *gate, const float *up, int64_t n)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
        const __m512 e = exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), g));
        const __m512 s = _mm512_div_ps(g, _mm512_add_ps(one, e));
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, up + i)));
    }
}

void owb_add_avx512(float *y, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(
            y + i, m,
            _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i)));
    }
}

#endif
