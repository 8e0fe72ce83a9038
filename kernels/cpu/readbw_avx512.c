/* SPDX-License-Identifier: MIT */
/*
 * readbw_avx512.c: AVX-512 read kernels for the read-bandwidth ceiling (kernels/readbw.h): zmm
 * loads into four vpaddq accumulators, software prefetch into L2 ahead of the loads.
 */
#include <immintrin.h>

#include "kernels/cpu/readbw_cpu.h"
#include "kernels/readbw.h"

/* The wrapping sum of the 8 lanes. _mm512_reduce_add_epi64 adds as signed 64-bit integers,
 * whose overflow is undefined in C; vector adds wrap. */
static uint64_t hsum(__m512i a)
{
    __m256i h = _mm256_add_epi64(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64(a, 1));
    __m128i q = _mm_add_epi64(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    return (uint64_t)_mm_cvtsi128_si64(q) + (uint64_t)_mm_extract_epi64(q, 1);
}

uint64_t owb_read_pf_avx512(const uint64_t *p, int64_t n)
{
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    const char *c = (const char *)p;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) { /* 256 B: four lines, four prefetches */
        const char *q = c + i * 8;
        _mm_prefetch(q + OWB_READ_PF_AHEAD, _MM_HINT_T1);
        _mm_prefetch(q + OWB_READ_PF_AHEAD + 64, _MM_HINT_T1);
        _mm_prefetch(q + OWB_READ_PF_AHEAD + 128, _MM_HINT_T1);
        _mm_prefetch(q + OWB_READ_PF_AHEAD + 192, _MM_HINT_T1);
        a0 = _mm512_add_epi64(a0, _mm512_load_si512((const void *)q));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512((const void *)(q + 64)));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512((const void *)(q + 128)));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512((const void *)(q + 192)));
    }
    a0 = _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3));
    uint64_t s = hsum(a0);
    for (; i < n; i++)
        s += p[i];
    return s;
}

uint64_t owb_read_streams4_avx512(const uint64_t *p, int64_t n)
{
    const int64_t q4 = (n / 4) & ~(int64_t)7; /* words per stream, whole zmm */
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    const char *s0 = (const char *)p, *s1 = s0 + q4 * 8, *s2 = s1 + q4 * 8, *s3 = s2 + q4 * 8;
    for (int64_t i = 0; i < q4 * 8; i += 64) {
        _mm_prefetch(s0 + i + OWB_READ_PF_AHEAD, _MM_HINT_T1);
        _mm_prefetch(s1 + i + OWB_READ_PF_AHEAD, _MM_HINT_T1);
        _mm_prefetch(s2 + i + OWB_READ_PF_AHEAD, _MM_HINT_T1);
        _mm_prefetch(s3 + i + OWB_READ_PF_AHEAD, _MM_HINT_T1);
        a0 = _mm512_add_epi64(a0, _mm512_load_si512((const void *)(s0 + i)));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512((const void *)(s1 + i)));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512((const void *)(s2 + i)));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512((const void *)(s3 + i)));
    }
    a0 = _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3));
    uint64_t s = hsum(a0);
    for (int64_t i = 4 * q4; i < n; i++)
        s += p[i];
    return s;
}
