/* SPDX-License-Identifier: MIT */
/*
 * blocks.h: block decoders shared by the CUDA kernels (device code) and the host (C tests): eight
 * consecutive elements of a weight row in its GGUF layout (kernels/formats.h structs, read in
 * place), decoded to f32 with the same operations, in the same order, as the `_ref` dequantizers
 * of kernels/quants.c and kernels/quants_k.c, so every decoded value is bitwise equal to theirs.
 * That is what tests/kernels/cuda/test_blocks.c proves on the CPU for every format on random
 * blocks, before any launch.
 *
 * owb_cu_dec8_<type>(row, e, out): out[0..8) = elements e..e+7 of the row starting at `row`
 * (e a multiple of 8; the 8 elements never straddle a block). Formats: f32, f16, bf16, q8_0,
 * q4_0, q4_K, q6_K, mxfp4. Everything is header-only, allocation-free and thread-safe; in C the
 * functions are static inline, under nvcc they are __host__ __device__.
 */
#ifndef OWB_KERNELS_CUDA_BLOCKS_H
#define OWB_KERNELS_CUDA_BLOCKS_H

#include <stdint.h>
#include <string.h>

#include "kernels/formats.h"

#ifdef __CUDACC__
#define OWB_HD static __host__ __device__ __forceinline__
#else
#define OWB_HD static inline
#endif

OWB_HD float owb_cu_bits_f32(uint32_t u)
{
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
#endif
}

/* binary16 -> binary32, exact (the same bits as kernels' owb_f16_to_f32, NaN payloads included). */
OWB_HD float owb_cu_f16(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t ex = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (ex == 0x1f)
        return owb_cu_bits_f32(sign | 0x7f800000u | (mant << 13) | (mant ? 0x00400000u : 0u));
    if (ex != 0)
        return owb_cu_bits_f32(sign | ((ex + 112u) << 23) | (mant << 13));
    if (mant == 0)
        return owb_cu_bits_f32(sign);
    uint32_t e = 113; /* subnormal half: normalise so the leading one lands on bit 10 */
    while (!(mant & 0x400u)) {
        mant <<= 1;
        e--;
    }
    return owb_cu_bits_f32(sign | (e << 23) | ((mant & 0x3ffu) << 13));
}

OWB_HD float owb_cu_bf16(uint16_t h)
{
    return owb_cu_bits_f32((uint32_t)h << 16);
}

/* ggml's doubled E2M1 table {0, 1, 2, 3, 4, 6, 8, 12} with the sign in bit 3, computed rather
 * than looked up (a local table would live in the device's local memory), and
 * GGML_E8M0_TO_FP32_HALF: 2^(e - 128), subnormal for e < 2. */
OWB_HD float owb_cu_mxfp4_value(int q)
{
    const int i = q & 7;
    const int v = i < 4 ? i : (2 + (i & 1)) << ((i >> 1) - 1);
    return (float)(q & 8 ? -v : v);
}

OWB_HD float owb_cu_e8m0_half(uint8_t e)
{
    return owb_cu_bits_f32(e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23);
}

OWB_HD void owb_cu_dec8_f32(const void *row, int64_t e, float *out)
{
    const float *x = (const float *)row + e;
    for (int i = 0; i < 8; i++)
        out[i] = x[i];
}

OWB_HD void owb_cu_dec8_f16(const void *row, int64_t e, float *out)
{
    const uint16_t *x = (const uint16_t *)row + e;
    for (int i = 0; i < 8; i++)
        out[i] = owb_cu_f16(x[i]);
}

OWB_HD void owb_cu_dec8_bf16(const void *row, int64_t e, float *out)
{
    const uint16_t *x = (const uint16_t *)row + e;
    for (int i = 0; i < 8; i++)
        out[i] = owb_cu_bf16(x[i]);
}

/* x = q * d */
OWB_HD void owb_cu_dec8_q8_0(const void *row, int64_t e, float *out)
{
    const struct owb_block_q8_0 *b = (const struct owb_block_q8_0 *)row + e / OWB_QK;
    const int j = (int)(e % OWB_QK);
    const float d = owb_cu_f16(b->d);
    for (int i = 0; i < 8; i++)
        out[i] = (float)b->qs[j + i] * d;
}

/* x = (q - 8) * d; element j in the low nibble of qs[j], j + 16 in the high nibble */
OWB_HD void owb_cu_dec8_q4_0(const void *row, int64_t e, float *out)
{
    const struct owb_block_q4_0 *b = (const struct owb_block_q4_0 *)row + e / OWB_QK;
    const int j = (int)(e % OWB_QK);
    const float d = owb_cu_f16(b->d);
    const int hi = j >= OWB_QK / 2;
    const uint8_t *qs = b->qs + (hi ? j - OWB_QK / 2 : j);
    for (int i = 0; i < 8; i++)
        out[i] = (float)(((hi ? qs[i] >> 4 : qs[i] & 0x0f)) - 8) * d;
}

/* x = kvalue[q] * 2^(e - 128); same nibble order as q4_0 */
OWB_HD void owb_cu_dec8_mxfp4(const void *row, int64_t e, float *out)
{
    const struct owb_block_mxfp4 *b = (const struct owb_block_mxfp4 *)row + e / OWB_QK;
    const int j = (int)(e % OWB_QK);
    const float d = owb_cu_e8m0_half(b->e);
    const int hi = j >= OWB_QK / 2;
    const uint8_t *qs = b->qs + (hi ? j - OWB_QK / 2 : j);
    for (int i = 0; i < 8; i++)
        out[i] = owb_cu_mxfp4_value(hi ? qs[i] >> 4 : qs[i] & 0x0f) * d;
}

/* q4_K: sub-block s (32 elements) has 6-bit scale and min packed in 12 bytes; x = d*sc*q - dmin*m.
 * Elements 64c..64c+31 are the low nibbles of qs[32c..32c+31], 64c+32.. their high nibbles. */
OWB_HD void owb_cu_dec8_q4_K(const void *row, int64_t e, float *out)
{
    const struct owb_block_q4_K *b = (const struct owb_block_q4_K *)row + e / OWB_QK_K;
    const int j = (int)(e % OWB_QK_K);
    const int s = j / 32, c = j / 64, l = j % 32;
    const uint8_t *q = b->scales;
    uint8_t sc, m;
    if (s < 4) {
        sc = q[s] & 63;
        m = q[s + 4] & 63;
    } else {
        sc = (uint8_t)((q[s + 4] & 0x0f) | ((q[s - 4] >> 6) << 4));
        m = (uint8_t)((q[s + 4] >> 4) | ((q[s] >> 6) << 4));
    }
    const float dl = owb_cu_f16(b->d) * (float)sc;
    const float ml = owb_cu_f16(b->dmin) * (float)m;
    const uint8_t *qs = b->qs + 32 * c + l;
    const int hi = s & 1;
    for (int i = 0; i < 8; i++)
        out[i] = dl * (float)(hi ? qs[i] >> 4 : qs[i] & 0x0f) - ml;
}

/* q6_K: x = d * sc[e / 16] * (q - 32), q's low 4 bits in ql and high 2 bits in qh, in ggml's
 * 128-element halves of four 32-element quarters. */
OWB_HD void owb_cu_dec8_q6_K(const void *row, int64_t e, float *out)
{
    const struct owb_block_q6_K *b = (const struct owb_block_q6_K *)row + e / OWB_QK_K;
    const int j = (int)(e % OWB_QK_K);
    const int half = j / 128, quarter = (j % 128) / 32, l = j % 32;
    const uint8_t *ql = b->ql + 64 * half + l + (quarter & 1) * 32;
    const uint8_t *qh = b->qh + 32 * half + l;
    const int lshift = (quarter >> 1) * 4, hshift = 2 * quarter;
    const float d = owb_cu_f16(b->d);
    const float dsc = d * (float)b->scales[j / 16];
    for (int i = 0; i < 8; i++) {
        const int q = (((ql[i] >> lshift) & 0x0f) | (((qh[i] >> hshift) & 3) << 4)) - 32;
        out[i] = dsc * (float)q;
    }
}

/* Dispatch by type (host and tests; kernels template on the type instead). Returns 0, or -1 for a
 * type without a decoder here. */
OWB_HD int owb_cu_dec8(enum owb_type t, const void *row, int64_t e, float *out)
{
    switch (t) {
    case OWB_TYPE_F32:
        owb_cu_dec8_f32(row, e, out);
        return 0;
    case OWB_TYPE_F16:
        owb_cu_dec8_f16(row, e, out);
        return 0;
    case OWB_TYPE_BF16:
        owb_cu_dec8_bf16(row, e, out);
        return 0;
    case OWB_TYPE_Q8_0:
        owb_cu_dec8_q8_0(row, e, out);
        return 0;
    case OWB_TYPE_Q4_0:
        owb_cu_dec8_q4_0(row, e, out);
        return 0;
    case OWB_TYPE_Q4_K:
        owb_cu_dec8_q4_K(row, e, out);
        return 0;
    case OWB_TYPE_Q6_K:
        owb_cu_dec8_q6_K(row, e, out);
        return 0;
    case OWB_TYPE_MXFP4:
        owb_cu_dec8_mxfp4(row, e, out);
        return 0;
    default:
        return -1;
    }
}

#endif
