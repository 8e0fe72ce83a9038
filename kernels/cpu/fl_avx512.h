/* SPDX-License-Identifier: MIT */
/*
 * fl_avx512.h: private to the AVX-512 kernel files (matmul_avx512.c: GEMV, gemm_avx512.c: GEMM).
 * What both use: loads of 16 weights of the float formats (f32, f16, bf16) as f32 (what any ISA
 * shares is in simd_common.h).
 */
#ifndef OWB_KERNELS_CPU_FL_AVX512_H
#define OWB_KERNELS_CPU_FL_AVX512_H

#include <immintrin.h>
#include <stdint.h>

#include "kernels/cpu/simd_common.h"

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

#endif
