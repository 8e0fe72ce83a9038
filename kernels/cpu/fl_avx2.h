/* SPDX-License-Identifier: MIT */
/*
 * fl_avx2.h: private to the AVX2 kernel files (matmul_avx2.c: GEMV, gemm_avx2.c: GEMM). Loads of 8
 * weights of the float formats (f32, f16, bf16) as f32 (what any ISA shares is in simd_common.h).
 */
#ifndef OWB_KERNELS_CPU_FL_AVX2_H
#define OWB_KERNELS_CPU_FL_AVX2_H

#include <immintrin.h>
#include <stdint.h>

#include "kernels/cpu/simd_common.h"

/* Elements i..i+7 of row w of format f (F_F32, F_F16, F_BF16) as floats. */
AI __m256 fl_load(int f, const void *w, int64_t i)
{
    if (f == F_F32)
        return _mm256_loadu_ps((const float *)w + i);
    const __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + i));
    if (f == F_F16)
        return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

#endif
