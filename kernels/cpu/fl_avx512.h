/* SPDX-License-Identifier: MIT */
/*
 * fl_avx512.h: private to the AVX-512 kernel files (matmul_avx512.c: GEMV, gemm_avx512.c: GEMM).
 * What both use: loads of 16 weights of the float formats (f32, f16, bf16) as f32, the q4_K
 * scale unpack, and the format tags.
 */
#ifndef OWB_KERNELS_CPU_FL_AVX512_H
#define OWB_KERNELS_CPU_FL_AVX512_H

#include <immintrin.h>
#include <stdint.h>

#ifndef AI
#define AI static inline __attribute__((always_inline))
#endif

enum { F_Q4_K, F_Q6_K };

enum { F_F32, F_F16, F_BF16 };

AI __m512 fl_load(int f, const uint8_t *w, int64_t i)
{
    if (f == F_F32)
        return _mm512_loadu_ps((const float *)w + i);
    const __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)w + i));
    if (f == F_F16)
        return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

AI __m512 fl_load_mask(int f, const uint8_t *w, int64_t i, __mmask16 m)
{
    if (f == F_F32)
        return _mm512_maskz_loadu_ps(m, (const float *)w + i);
    const __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)w + i);
    if (f == F_F16)
        return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* q4_K scales and mins of one super-block as 16 words: sc[0..7], m[0..7]. ggml's utmp trick done
 * in one register (the scalar version stores 32-bit words and reloads them as 128 bits, which
 * stalls store forwarding). Reads 16 bytes from s: the 12 scale bytes and 4 quant bytes, all in the
 * block. */
AI __m128i q4k_scales8x2(const uint8_t *s)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)s); /* u0 u1 u2 (u3 unused) */
    const __m128i a = _mm_shuffle_epi32(v, 0x98);          /* u0 u2 u1 u2 */
    const __m128i b = _mm_shuffle_epi32(v, 0x50);          /* u0 u0 u1 u1 */
    const __m128i k1 = _mm_set1_epi32(0x3f3f3f3f), k2 = _mm_set1_epi32(0x0f0f0f0f);
    const __m128i k3 = _mm_set1_epi32(0x03030303);
    const __m128i y = _mm_and_si128(a, k1);
    const __m128i x = _mm_or_si128(_mm_and_si128(_mm_srlv_epi32(a, _mm_setr_epi32(0, 0, 0, 4)), k2),
                                   _mm_slli_epi32(_mm_and_si128(_mm_srli_epi32(b, 6), k3), 4));
    return _mm_blend_epi32(y, x, 0xa);
}

#endif
