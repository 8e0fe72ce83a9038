/* SPDX-License-Identifier: MIT */
/*
 * readbw_avx2.c: AVX2 read kernels for the read-bandwidth ceiling (kernels/readbw.h): ymm loads
 * into four vpaddq accumulators, software prefetch into L2 ahead of the loads.
 */
#include <immintrin.h>

#include "kernels/cpu/readbw_cpu.h"
#include "kernels/readbw.h"

static uint64_t hsum(__m256i a)
{
    __m128i s = _mm_add_epi64(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    return (uint64_t)_mm_cvtsi128_si64(s) + (uint64_t)_mm_extract_epi64(s, 1);
}

uint64_t owb_read_pf_avx2(const uint64_t *p, int64_t n)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    const char *c = (const char *)p;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) { /* 128 B: two lines */
        const char *q = c + i * 8;
        _mm_prefetch(q + OWB_READ_PF_AHEAD, _MM_HINT_T1);
        _mm_prefetch(q + OWB_READ_PF_AHEAD + 64, _MM_HINT_T1);
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(const void *)q));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(const void *)(q + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(const void *)(q + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(const void *)(q + 96)));
    }
    uint64_t s = hsum(_mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)));
    for (; i < n; i++)
        s += p[i];
    return s;
}

uint64_t owb_read_streams4_avx2(const uint64_t *p, int64_t n)
{
    const int64_t q4 = (n / 4) & ~(int64_t)7; /* words per stream, whole lines */
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    const char *s0 = (const char *)p, *s1 = s0 + q4 * 8, *s2 = s1 + q4 * 8, *s3 = s2 + q4 * 8;
    for (int64_t i = 0; i < q4 * 8; i += 64) {
        _mm_prefetch(s0 + i + OWB_READ_PF_AHEAD, _MM_HINT_T1);
        _mm_prefetch(s1 + i + OWB_READ_PF_AHEAD, _MM_HINT_T1);
        _mm_prefetch(s2 + i + OWB_READ_PF_AHEAD, _MM_HINT_T1);
        _mm_prefetch(s3 + i + OWB_READ_PF_AHEAD, _MM_HINT_T1);
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(const void *)(s0 + i)));
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(const void *)(s0 + i + 32)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(const void *)(s1 + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(const void *)(s1 + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(const void *)(s2 + i)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(const void *)(s2 + i + 32)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(const void *)(s3 + i)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(const void *)(s3 + i + 32)));
    }
    uint64_t s = hsum(_mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)));
    for (int64_t i = 4 * q4; i < n; i++)
        s += p[i];
    return s;
}
