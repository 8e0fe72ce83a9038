/* SPDX-License-Identifier: MIT */
/*
 * simd_common.h: private to the kernel files of kernels/cpu/ built for AVX2 or AVX-512 (the
 * functions below need AVX2 at least). What every ISA variant shares: the format tags, the
 * 32-wide formats' block sizes and mxfp4's unsigned table, the row-group loop, the long-row
 * software prefetch of the GEMV kernels and the q4_K scale unpack.
 */
#ifndef OWB_KERNELS_CPU_SIMD_COMMON_H
#define OWB_KERNELS_CPU_SIMD_COMMON_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/cpu/matmul_cpu.h"

#ifndef AI
#define AI static inline __attribute__((always_inline))
#endif

enum { F_Q4_0, F_Q8_0, F_MXFP4 };
enum { F_Q4_K, F_Q6_K };
enum { F_F32, F_F16, F_BF16 };

AI int b32_size(int f)
{
    return f == F_Q4_0 ? 18 : f == F_Q8_0 ? 34 : 17;
}

/* ggml's doubled E2M1 values plus 12, so the unsigned operand of vpdpbusd is 0..24 */
static const int8_t mxfp4_u[16] = {12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0};

/* Rows [r0, r1) in groups of R (tail rows one at a time: same per-row arithmetic). */
#define ROWS_LOOP(R, call1, callR)                                                                 \
    do {                                                                                           \
        int64_t r_ = r0;                                                                           \
        for (; r_ + (R) <= r1; r_ += (R))                                                          \
            callR;                                                                                 \
        for (; r_ < r1; r_++)                                                                      \
            call1;                                                                                 \
    } while (0)

/* Software prefetch of long rows (K3 in docs/perf-notes.md): while R rows are read, rows at least
 * KPF_MIN_AHEAD bytes further on (the next pass of R rows, or more when a pass is shorter) are
 * prefetched into L2 at the same pace. The 4-bit kernels spend ~10 instructions per weight cache
 * line, so the out-of-order window alone keeps too few misses in flight and the hardware
 * prefetchers do not make up for it: 4096x14336 at 2 threads went from 26-30 to 32-62 GB/s.
 * Rows of at most KPF_MIN_ROW_BYTES are prefetched by owb_matmul_rows' group wrapper instead
 * (kernels/matmul.c). */
#define KPF_MIN_ROW_BYTES OWB_MM_KERNEL_PF_MIN_ROW_BYTES
#define KPF_MIN_AHEAD 16384

/* Rows ahead of r for a pass of R rows of rb bytes (a whole number of passes). */
AI int64_t kpf_ahead_rows(int R, size_t rb)
{
    const size_t pass = (size_t)R * rb;
    return (int64_t)R * (int64_t)(pass >= KPF_MIN_AHEAD ? 1 : (KPF_MIN_AHEAD + pass - 1) / pass);
}

/* Prefetch the lines from pf up to to, return where the next call goes on. Addresses are integers:
 * the rows ahead of the last pass lie past r1 or past the weights (harmless: prefetches do not
 * fault), where pointer arithmetic would be undefined. _MM_HINT_T0 (into L1) measured slower. */
AI uintptr_t kpf_advance(uintptr_t pf, uintptr_t to)
{
    for (; pf < to; pf += 64)
        _mm_prefetch((const char *)pf, _MM_HINT_T1);
    return pf;
}

/* q4_K scales and mins of one super-block as 16 bytes: sc[0..7], m[0..7]. ggml's utmp trick done
 * in one register (the scalar version stores 32-bit words and reloads them as 128 bits, which
 * stalls store forwarding). Reads 16 bytes from s: the 12 scale bytes and 4 quant bytes, all in the
 * block. */
AI __m128i q4k_scales(const uint8_t *s)
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
