/* SPDX-License-Identifier: MIT */
/*
 * peak_avx512.c: the AVX-512 compute-ceiling loops of kernels/peak.h. Accumulators are separate
 * variables (an array would be kept in memory by the compiler and turn the loop into a store-
 * forwarding chain); empty asm statements mark the operands as changed so the compiler can neither
 * merge identical chains nor hoist work out of the loop. They emit no instruction.
 */
#include <immintrin.h>

#include "kernels/cpu/peak_cpu.h"

_Static_assert(PEAK_NACC == 12, "the loops below spell out each accumulator");

#define OPAQUE(v) __asm__ volatile("" : "+v"(v))

static uint64_t sum_epi32(__m512i v)
{
    uint32_t l[16];
    _mm512_storeu_si512(l, v);
    uint64_t s = 0;
    for (int i = 0; i < 16; i++)
        s += l[i];
    return s;
}

static uint64_t sum_ps(__m512 v)
{
    float l[16];
    _mm512_storeu_ps(l, v);
    uint64_t s = 0;
    for (int i = 0; i < 16; i++)
        s += (uint64_t)l[i];
    return s;
}

/* 12 chains of vpdpbusd with all bytes 1: every lane of accumulator i ends at i + 4 iters. */
uint64_t owb_peak_int8_avx512(int64_t iters)
{
    __m512i w = _mm512_set1_epi8(1), x = _mm512_set1_epi8(1);
#define A(i) __m512i a##i = _mm512_set1_epi32(i)
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
    A(10);
    A(11);
#undef A
#define D(i) a##i = _mm512_dpbusd_epi32(a##i, w, x)
    for (int64_t n = 0; n < iters; n++) {
        OPAQUE(w);
        OPAQUE(x);
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
        D(10);
        D(11);
    }
#undef D
    return sum_epi32(a0) + sum_epi32(a1) + sum_epi32(a2) + sum_epi32(a3) + sum_epi32(a4) +
           sum_epi32(a5) + sum_epi32(a6) + sum_epi32(a7) + sum_epi32(a8) + sum_epi32(a9) +
           sum_epi32(a10) + sum_epi32(a11);
}

/* 12 chains of vfmadd231ps adding 1 * 1 from i (distinct, or the compiler merges them): every lane
 * of chain i ends each chunk at i + the chunk's iterations. */
uint64_t owb_peak_fma_avx512(int64_t iters)
{
    __m512 w = _mm512_set1_ps(1.0f), x = _mm512_set1_ps(1.0f);
    uint64_t sum = 0;
    for (int64_t done = 0; done < iters;) {
        const int64_t n = iters - done < PEAK_CHUNK ? iters - done : PEAK_CHUNK;
#define A(i) __m512 f##i = _mm512_set1_ps((float)(i))
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
        A(10);
        A(11);
#undef A
#define F(i) f##i = _mm512_fmadd_ps(w, x, f##i)
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
            F(10);
            F(11);
        }
#undef F
        sum += sum_ps(f0) + sum_ps(f1) + sum_ps(f2) + sum_ps(f3) + sum_ps(f4) + sum_ps(f5) +
               sum_ps(f6) + sum_ps(f7) + sum_ps(f8) + sum_ps(f9) + sum_ps(f10) + sum_ps(f11);
        done += n;
    }
    return sum;
}

/* The 32-wide GEMM step for 8 columns: 8 vpdpbusd per column from zero (32 per lane), then
 * cvt, x 0.5 (activation scale), fma x 0.25 (weight scale) into column i's sum, which starts at i
 * each chunk: every lane adds 4 per iteration. */
uint64_t owb_peak_q8_block_avx512(int64_t iters)
{
    __m512i w = _mm512_set1_epi8(1), x = _mm512_set1_epi8(1);
    __m512 da = _mm512_set1_ps(0.5f), dw = _mm512_set1_ps(0.25f);
    uint64_t sum = 0;
    for (int64_t done = 0; done < iters;) {
        const int64_t n = iters - done < PEAK_CHUNK ? iters - done : PEAK_CHUNK;
#define A(i) __m512 c##i = _mm512_set1_ps((float)(i))
        A(0);
        A(1);
        A(2);
        A(3);
        A(4);
        A(5);
        A(6);
        A(7);
#undef A
#define COL(i)                                                                                     \
    do {                                                                                           \
        __m512i s = _mm512_setzero_si512();                                                        \
        OPAQUE(x);                                                                                 \
        for (int g = 0; g < 8; g++)                                                                \
            s = _mm512_dpbusd_epi32(s, w, x);                                                      \
        c##i = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(s), da), dw, c##i);                \
    } while (0)
        for (int64_t j = 0; j < n; j++) {
            OPAQUE(w);
            OPAQUE(da);
            OPAQUE(dw);
            COL(0);
            COL(1);
            COL(2);
            COL(3);
            COL(4);
            COL(5);
            COL(6);
            COL(7);
        }
#undef COL
        sum += sum_ps(c0) + sum_ps(c1) + sum_ps(c2) + sum_ps(c3) + sum_ps(c4) + sum_ps(c5) +
               sum_ps(c6) + sum_ps(c7);
        done += n;
    }
    return sum;
}
