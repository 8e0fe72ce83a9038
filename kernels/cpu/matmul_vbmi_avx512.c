/* SPDX-License-Identifier: MIT */
/*
 * matmul_vbmi_avx512.c: the q4_0 and mxfp4 GEMV kernels of b32_avx512.h built for AVX512-VBMI as
 * well (Ice Lake, Zen 4 and later): byte permutes gather eight blocks' quants from three loads
 * (mxfp4: from four, in the order of the x8 activations, b32_avx512.h mx8_rows).
 * Selected only on CPUs that report avx512vbmi and avx512vnni; the whole file is compiled with the
 * extra target, so nothing here may run elsewhere.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx512vbmi")
#elif defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512vbmi"))), apply_to = function)
#endif

#include <immintrin.h>
#include <string.h>

#include "kernels/cpu/matmul_cpu.h"

#define B32_VBMI 1
#include "kernels/cpu/b32_avx512.h"

static void rows_q4_0_vbmi(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    b32_rows(F_Q4_0, a, r0, r1);
}

static void rows_mxfp4_vbmi(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    mx8_rows(a, r0, r1);
}

#if defined(__clang__)
#pragma clang attribute pop
#endif

const struct owb_mm_kernel owb_mm_kernels_avx512_vbmi[] = {
    {OWB_TYPE_Q4_0, OWB_ISA_AVX512, 1, OWB_MM_NEEDS_VNNI | OWB_MM_NEEDS_VBMI,
     "avx512-vnni-vbmi q4_0xq8_0 gemv", rows_q4_0_vbmi, 0},
    {OWB_TYPE_MXFP4, OWB_ISA_AVX512, 1, OWB_MM_NEEDS_VNNI | OWB_MM_NEEDS_VBMI,
     "avx512-vnni-vbmi mxfp4xq8_0 gemv", rows_mxfp4_vbmi, 1},
    {OWB_TYPE_COUNT, OWB_ISA_AVX512, 0, 0, NULL, NULL, 0},
};
