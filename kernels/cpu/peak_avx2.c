/* SPDX-License-Identifier: MIT */
/*
 * peak_avx2.c: the AVX2 compute-ceiling loops of kernels/peak.h (see peak_avx512.c for why the
 * accumulators are separate variables and the operands are made opaque). 16 ymm registers: 10
 * accumulators plus the operands and the int8 step's temporaries.
 */
#include <immintrin.h>

#include "kernels/cpu/peak_cpu.h"

_Static_assert(PEAK_NACC_AVX2 == 10, "the loops below spell out each accumulator");

#define OPAQUE(v) __asm__ volatile("" : "+x"(v))

static uint64_t sum_epi32(__m256i v)
{
    uint32_t l[8];
    _mm256_storeu_si256((__m256i *)l, v);
    uint64_t s = 0;
    for (int i = 0; i < 8; i++)
        s += l[i];
    return s;
}

static uint64_t sum_ps(__m256 v)
{
    float l[8];
    _mm256_storeu_ps(l, v);
    uint64_t s = 0;
    for (int i = 0; i < 8; i++)
        s += (uint64_t)l[i];
    return s;
}

/* The int8 dot of the AVX2 kernels: vpmaddubsw (u8 x s8 pairs to s16), vpmaddwd with ones (to s32),
 * vpaddd; all bytes 1, so every lane of accumulator i ends at i + 4 iters. */
uint64_t owb_peak_int8_avx2(int64_t iters)
{
    __m256i w = _mm256_set1_epi8(1), x = _mm256_set1_epi8(1), one = _mm256_set1_epi16(1);
#define A(i) __m256i a##i = _mm256_set1_epi32(i)
    A(0);
    A(1);
    A(2);
    A(3);
    A(4);
    A(5);
    A(6);
    A(7);
    A(8);
    A(9);
#undef A
#define D(i)                                                                                       \
    do {                                                                                           \
        OPAQUE(x);                                                                                 \
        a##i = _mm256_add_epi32(a##i, _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), one));         \
    } while (0)
    for (int64_t n = 0; n < iters; n++) {
        OPAQUE(w);
        OPAQUE(one);
        D(0);
        D(1);
        D(2);
        D(3);
        D(4);
        D(5);
        D(6);
        D(7);
        D(8);
        D(9);
    }
#undef D
    return sum_epi32(a0) + sum_epi32(a1) + sum_epi32(a2) + sum_epi32(a3) + sum_epi32(a4) +
           sum_epi32(a5) + sum_epi32(a6) + sum_epi32(a7) + sum_epi32(a8) + sum_epi32(a9);
}

/* 10 chains of vfmadd231ps adding 1 * 1 from i (see peak_avx512.c). */
uint64_t owb_peak_fma_avx2(int64_t iters)
{
    __m256 w = _mm256_set1_ps(1.0f), x = _mm256_set1_ps(1.0f);
    uint64_t sum = 0;
    for (int64_t done = 0; done < iters;) {
        const int64_t n = iters - done < PEAK_CHUNK ? iters - done : PEAK_CHUNK;
#define A(i) __m256 f##i = _mm256_set1_ps((float)(i))
        A(0);
        A(1);
        A(2);
        A(3);
        A(4);
        A(5);
        A(6);
        A(7);
        A(8);
        A(9);
#undef A
#define F(i) f##i = _mm256_fmadd_ps(w, x, f##i)
        for (int64_t j = 0; j < n; j++) {
            OPAQUE(w);
            OPAQUE(x);
            F(0);
            F(1);
            F(2);
            F(3);
            F(4);
            F(5);
            F(6);
            F(7);
            F(8);
            F(9);
        }
#undef F
        sum += sum_ps(f0) + sum_ps(f1) + sum_ps(f2) + sum_ps(f3) + sum_ps(f4) + sum_ps(f5) +
               sum_ps(f6) + sum_ps(f7) + sum_ps(f8) + sum_ps(f9);
        done += n;
    }
    return sum;
}
