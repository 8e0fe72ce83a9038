/* SPDX-License-Identifier: MIT */
/*
 * ops_avx2.c: AVX2 + FMA variants of the row ops in kernels/ops.h, same signatures and contracts
 * as the `_ref` versions in kernels/ops.c. Eight floats per step; tails (fewer than 8 elements)
 * use masked loads/stores (vmaskmovps) so every element goes through the same vector code. Sums
 * of squares and of exponentials are accumulated in double as in the reference; exp is a
 * Cephes-style polynomial whose 2^n is applied as two exact power-of-two factors (about 1 ulp,
 * exact overflow to inf and gradual underflow).
 */
#include "kernels/ops_impl.h"

#if OWB_OPS_HAVE_X86

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "owb_common.h"

/* Lane mask for the last `left` (< 8) elements: lanes below `left` all ones. */
static __m256i tail_mask(int64_t left)
{
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(left < 8 ? left : 8)), lanes);
}

/* e^x for 8 floats; NaN stays NaN, -inf gives 0, large x gives inf. */
static __m256 exp_ps(__m256 x)
{
    x = _mm256_min_ps(_mm256_set1_ps(89.0f), _mm256_max_ps(_mm256_set1_ps(-104.0f), x));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    const __m256 y =
        _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    /* n is in [-150, 129]: scale by 2^a * 2^b with a = n >> 1, b = n - a, both normal powers of
     * two, so the product rounds once and overflows/underflows exactly as e^x should */
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i a = _mm256_srai_epi32(ni, 1);
    const __m256i b = _mm256_sub_epi32(ni, a);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 pa = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(a, bias), 23));
    const __m256 pb = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(b, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(y, pa), pb);
}

static double hsum_pd(__m256d v)
{
    double t[4];
    _mm256_storeu_pd(t, v);
    return (t[0] + t[1]) + (t[2] + t[3]);
}

static float hmax_ps(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

static __m256d sq_pd_lanes(__m256d acc, __m256 v)
{
    const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    acc = _mm256_fmadd_pd(lo, lo, acc);
    return _mm256_fmadd_pd(hi, hi, acc);
}

static __m256d add_pd_lanes(__m256d acc, __m256 v)
{
    acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    return _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

void owb_rmsnorm_avx2(float *y, const float *x, const float *w, int64_t n, float eps)
{
    if (n <= 0)
        return;
    __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = sq_pd_lanes(acc0, _mm256_loadu_ps(x + i));
        acc1 = sq_pd_lanes(acc1, _mm256_loadu_ps(x + i + 8));
    }
    for (; i < n; i += 8)
        acc0 = sq_pd_lanes(acc0, _mm256_maskload_ps(x + i, tail_mask(n - i)));
    const double sum = hsum_pd(_mm256_add_pd(acc0, acc1));
    const float mean = (float)(sum / (double)n);
    const __m256 scale = _mm256_set1_ps(1.0f / sqrtf(mean + eps));
    for (i = 0; i < n; i += 8) {
        const __m256i m = tail_mask(n - i);
        __m256 v = _mm256_mul_ps(_mm256_maskload_ps(x + i, m), scale);
        if (w)
            v = _mm256_mul_ps(v, _mm256_maskload_ps(w + i, m));
        _mm256_maskstore_ps(y + i, m, v);
    }
}

void owb_rope_apply_avx2(float *x, int64_t n_heads, int64_t head_dim,
                         const struct owb_rope_cache *c, int neox)
{
    const int64_t half = c->n_rot / 2;
    OWB_ASSERT(c->n_rot <= head_dim);
    /* lane j of an 8-float chunk holds pair j/2: duplicate each cos/sin into two lanes */
    const __m256i dup = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
    for (int64_t h = 0; h < n_heads; h++) {
        float *v = x + h * head_dim; /* (head_dim) */
        if (neox) {
            for (int64_t i = 0; i < half; i += 8) {
                const __m256i m = tail_mask(half - i);
                const __m256 cs = _mm256_maskload_ps(c->cos + i, m);
                const __m256 sn = _mm256_maskload_ps(c->sin + i, m);
                const __m256 x0 = _mm256_maskload_ps(v + i, m);
                const __m256 x1 = _mm256_maskload_ps(v + i + half, m);
                const __m256 y0 = _mm256_fmsub_ps(x0, cs, _mm256_mul_ps(x1, sn));
                const __m256 y1 = _mm256_fmadd_ps(x1, cs, _mm256_mul_ps(x0, sn));
                _mm256_maskstore_ps(v + i, m, y0);
                _mm256_maskstore_ps(v + i + half, m, y1);
            }
        } else {
            for (int64_t i = 0; i < half; i += 4) {
                const int64_t left = half - i < 4 ? half - i : 4; /* pairs in this chunk */
                const __m128i mp = _mm256_castsi256_si128(tail_mask(left));
                const __m256i m = tail_mask(2 * left);
                const __m256 cs = _mm256_permutevar8x32_ps(
                    _mm256_castps128_ps256(_mm_maskload_ps(c->cos + i, mp)), dup);
                const __m256 sn = _mm256_permutevar8x32_ps(
                    _mm256_castps128_ps256(_mm_maskload_ps(c->sin + i, mp)), dup);
                const __m256 xv = _mm256_maskload_ps(v + 2 * i, m);
                const __m256 xs = _mm256_permute_ps(xv, 0xb1); /* (x1, x0) in every pair */
                /* even lanes x0 c - x1 s, odd lanes x1 c + x0 s */
                const __m256 yv = _mm256_fmaddsub_ps(xv, cs, _mm256_mul_ps(xs, sn));
                _mm256_maskstore_ps(v + 2 * i, m, yv);
            }
        }
    }
}

void owb_rope_avx2(float *x, int64_t n_heads, int64_t head_dim, int64_t pos, float freq_base,
                   float freq_scale, int neox, int64_t n_rot)
{
    struct owb_rope_cache c;
    owb_rope_cache_init(&c, n_rot, pos, freq_base, freq_scale);
    owb_rope_apply_avx2(x, n_heads, head_dim, &c, neox);
}

void owb_softmax_avx2(float *x, int64_t n)
{
    if (n <= 0)
        return;
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 vmax = ninf;
    for (int64_t i = 0; i < n; i += 8) {
        const __m256i m = tail_mask(n - i);
        const __m256 v =
            _mm256_blendv_ps(ninf, _mm256_maskload_ps(x + i, m), _mm256_castsi256_ps(m));
        vmax = _mm256_max_ps(vmax, v);
    }
    const float max = hmax_ps(vmax);
    if (max == -INFINITY) {
        memset(x, 0, (size_t)n * sizeof(float));
        return;
    }
    const __m256 vm = _mm256_set1_ps(max);
    __m256d acc = _mm256_setzero_pd();
    for (int64_t i = 0; i < n; i += 8) {
        const __m256i m = tail_mask(n - i);
        __m256 e = exp_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), vm));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(m));
        acc = add_pd_lanes(acc, e);
        _mm256_maskstore_ps(x + i, m, e);
    }
    const __m256 inv = _mm256_set1_ps((float)(1.0 / hsum_pd(acc)));
    for (int64_t i = 0; i < n; i += 8) {
        const __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(x + i, m, _mm256_mul_ps(_mm256_maskload_ps(x + i, m), inv));
    }
}

void owb_silu_mul_avx2(float *y, const float *gate, const float *up, int64_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 8) {
        const __m256i m = tail_mask(n - i);
        const __m256 g = _mm256_maskload_ps(gate + i, m);
        const __m256 e = exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), g));
        const __m256 s = _mm256_div_ps(g, _mm256_add_ps(one, e));
        _mm256_maskstore_ps(y + i, m, _mm256_mul_ps(s, _mm256_maskload_ps(up + i, m)));
    }
}

void owb_add_avx2(float *y, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i += 8) {
        const __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(
            y + i, m, _mm256_add_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m)));
    }
}

#endif
