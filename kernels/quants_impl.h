/* SPDX-License-Identifier: MIT */
/*
 * quants_impl.h: private to kernels/ (formats.c, quants.c, quants_k.c). The per-format reference
 * row converters that the traits table in formats.c points at, and the small inline helpers they
 * share: f16/bf16 bit conversions and ggml's nearest_int. Other modules use kernels/formats.h.
 */
#ifndef OWB_KERNELS_QUANTS_IMPL_H
#define OWB_KERNELS_QUANTS_IMPL_H

#include <stdint.h>
#include <string.h>

#include "kernels/formats.h"

static inline uint32_t owb_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float owb_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* binary16 -> binary32, exact. NaNs keep sign and payload and come back quiet (as F16C does). */
static inline float owb_fp16_to_fp32_inl(owb_f16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f)
        return owb_bits_f32(sign | 0x7f800000u | (mant << 13) | (mant ? 0x00400000u : 0u));
    if (exp != 0)
        return owb_bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
    if (mant == 0)
        return owb_bits_f32(sign);
    /* subnormal half: mant * 2^-24; normalise so the leading one lands on bit 10 */
    uint32_t e = 113;
    while (!(mant & 0x400u)) {
        mant <<= 1;
        e--;
    }
    return owb_bits_f32(sign | (e << 23) | ((mant & 0x3ffu) << 13));
}

/* binary32 -> binary16, round to nearest even, subnormals and overflow to inf as IEEE 754 says;
 * NaN stays NaN (quiet, top payload bits kept). Bit-exact with ggml and with F16C vcvtps2ph for
 * every non-NaN input. */
static inline owb_f16_t owb_fp32_to_fp16_inl(float f)
{
    uint32_t x = owb_f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    x &= 0x7fffffffu;
    if (x > 0x7f800000u)
        return (owb_f16_t)(sign | 0x7e00u | ((x >> 13) & 0x3ffu));
    if (x >= 0x47800000u) /* >= 65536 (and inf): beyond the largest finite half even rounded */
        return (owb_f16_t)(sign | 0x7c00u);
    if (x >= 0x38800000u) { /* normal half: rebias the exponent, round the low 13 bits */
        uint32_t h = (x - 0x38000000u) >> 13;
        uint32_t rem = x & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
            h++; /* a carry out of the mantissa bumps the exponent, up to inf: correct */
        return (owb_f16_t)(sign | h);
    }
    /* subnormal half (or zero): round(m * 2^(e - 126)) with m the 24-bit significand */
    uint32_t e = x >> 23;
    if (e < 102) /* below 2^-25: rounds to zero */
        return sign;
    uint32_t m = (x & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e; /* 14..24 */
    uint32_t q = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (q & 1u)))
        q++;
    return (owb_f16_t)(sign | q);
}

static inline float owb_bf16_to_fp32_inl(owb_bf16_t h)
{
    return owb_bits_f32((uint32_t)h << 16);
}

/* ggml_compute_fp32_to_bf16: NaN -> quiet NaN, everything else round to nearest even. */
static inline owb_bf16_t owb_fp32_to_bf16_inl(float f)
{
    uint32_t u = owb_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (owb_bf16_t)((u >> 16) | 64u);
    return (owb_bf16_t)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

/* ggml's nearest_int: round half to even through the float adder (exact for |f| <= 2^22). The
 * k-quant searches depend on this exact rounding, so it is copied bit for bit in behaviour. */
static inline int owb_nearest_int(float f)
{
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* 32-wide formats (quants.c); n is the element count, a multiple of the block size. */
void owb_quantize_q4_0_ref(const float *x, void *y, int64_t n);
void owb_dequantize_q4_0(const void *x, float *y, int64_t n);
void owb_vec_dot_q4_0_q8_0(int64_t n, float *s, const void *w, const void *a);
void owb_quantize_q4_1_ref(const float *x, void *y, int64_t n);
void owb_dequantize_q4_1(const void *x, float *y, int64_t n);
void owb_vec_dot_q4_1_q8_1(int64_t n, float *s, const void *w, const void *a);
void owb_quantize_q5_0_ref(const float *x, void *y, int64_t n);
void owb_dequantize_q5_0(const void *x, float *y, int64_t n);
void owb_vec_dot_q5_0_q8_0(int64_t n, float *s, const void *w, const void *a);
void owb_quantize_q5_1_ref(const float *x, void *y, int64_t n);
void owb_dequantize_q5_1(const void *x, float *y, int64_t n);
void owb_vec_dot_q5_1_q8_1(int64_t n, float *s, const void *w, const void *a);
void owb_quantize_q8_0_ref(const float *x, void *y, int64_t n);
void owb_dequantize_q8_0(const void *x, float *y, int64_t n);
void owb_vec_dot_q8_0_q8_0(int64_t n, float *s, const void *w, const void *a);
void owb_quantize_q8_1_ref(const float *x, void *y, int64_t n);
void owb_dequantize_q8_1(const void *x, float *y, int64_t n);
void owb_quantize_mxfp4_ref(const float *x, void *y, int64_t n);
void owb_dequantize_mxfp4(const void *x, float *y, int64_t n);
void owb_vec_dot_mxfp4_q8_0(int64_t n, float *s, const void *w, const void *a);

/* k-quants (quants_k.c), super-blocks of 256. */
void owb_quantize_q2_K_ref(const float *x, void *y, int64_t n);
void owb_dequantize_q2_K(const void *x, float *y, int64_t n);
void owb_vec_dot_q2_K_q8_K(int64_t n, float *s, const void *w, const void *a);
void owb_quantize_q3_K_ref(const float *x, void *y, int64_t n);
void owb_dequantize_q3_K(const void *x, float *y, int64_t n);
void owb_vec_dot_q3_K_q8_K(int64_t n, float *s, const void *w, const void *a);
void owb_quantize_q4_K_ref(const float *x, void *y, int64_t n);
void owb_dequantize_q4_K(const void *x, float *y, int64_t n);
void owb_vec_dot_q4_K_q8_K(int64_t n, float *s, const void *w, const void *a);
void owb_quantize_q5_K_ref(const float *x, void *y, int64_t n);
void owb_dequantize_q5_K(const void *x, float *y, int64_t n);
void owb_vec_dot_q5_K_q8_K(int64_t n, float *s, const void *w, const void *a);
void owb_quantize_q6_K_ref(const float *x, void *y, int64_t n);
void owb_dequantize_q6_K(const void *x, float *y, int64_t n);
void owb_vec_dot_q6_K_q8_K(int64_t n, float *s, const void *w, const void *a);
void owb_quantize_q8_K_ref(const float *x, void *y, int64_t n);
void owb_dequantize_q8_K(const void *x, float *y, int64_t n);

#endif
