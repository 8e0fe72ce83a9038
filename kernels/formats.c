/* SPDX-License-Identifier: MIT */
/*
 * formats.c: the type traits table (kernels/formats.h), type names and row sizes, the scalar
 * f16/bf16 conversions, and the reference converters and dot products of the float formats
 * (f32, f16, bf16). The block formats' converters live in quants.c (32-wide blocks and mxfp4) and
 * quants_k.c (k-quants); this file only points at them.
 */
#include "kernels/formats.h"

#include <string.h>

#include "kernels/quants_impl.h"
#include "owb_common.h"

float owb_f16_to_f32(owb_f16_t h)
{
    return owb_fp16_to_fp32_inl(h);
}

owb_f16_t owb_f32_to_f16(float f)
{
    return owb_fp32_to_fp16_inl(f);
}

float owb_bf16_to_f32(owb_bf16_t h)
{
    return owb_bf16_to_fp32_inl(h);
}

owb_bf16_t owb_f32_to_bf16(float f)
{
    return owb_fp32_to_bf16_inl(f);
}

/* ---- f32 / f16 / bf16 rows ---- */

static void f32_to_float(const void *src, float *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void f32_from_float(const float *src, void *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void f16_to_float(const void *src, float *dst, int64_t n)
{
    const owb_f16_t *h = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = owb_fp16_to_fp32_inl(h[i]);
}

static void f16_from_float(const float *src, void *dst, int64_t n)
{
    owb_f16_t *h = dst;
    for (int64_t i = 0; i < n; i++)
        h[i] = owb_fp32_to_fp16_inl(src[i]);
}

static void bf16_to_float(const void *src, float *dst, int64_t n)
{
    const owb_bf16_t *h = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = owb_bf16_to_fp32_inl(h[i]);
}

static void bf16_from_float(const float *src, void *dst, int64_t n)
{
    owb_bf16_t *h = dst;
    for (int64_t i = 0; i < n; i++)
        h[i] = owb_fp32_to_bf16_inl(src[i]);
}

/* f32 and f16 weights take f32 activations (ggml rounds them to f16 for an f16 dot; owbench keeps
 * them, which is more accurate): each product is rounded to float, the sum is kept in double as
 * ggml_vec_dot_f32 does. bf16 weights take bf16 activations, as ggml's CPU backend (vec_dot_type
 * bf16): the product of two bf16 values is exact in double, and so is kept, summed in double. */
static void vec_dot_f32_f32(int64_t n, float *s, const void *w, const void *a)
{
    const float *x = w;
    const float *y = a;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(x[i] * y[i]);
    *s = (float)sum;
}

static void vec_dot_f16_f32(int64_t n, float *s, const void *w, const void *a)
{
    const owb_f16_t *x = w;
    const float *y = a;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(owb_fp16_to_fp32_inl(x[i]) * y[i]);
    *s = (float)sum;
}

static void vec_dot_bf16_bf16(int64_t n, float *s, const void *w, const void *a)
{
    const owb_bf16_t *x = w;
    const owb_bf16_t *y = a;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)owb_bf16_to_fp32_inl(x[i]) * (double)owb_bf16_to_fp32_inl(y[i]);
    *s = (float)sum;
}

/* ---- traits ---- */

static const struct owb_type_traits type_traits[OWB_TYPE_COUNT] = {
    [OWB_TYPE_F32] = {"f32", 1, sizeof(float), false, f32_to_float, f32_from_float, vec_dot_f32_f32,
                      OWB_TYPE_F32},
    [OWB_TYPE_F16] = {"f16", 1, sizeof(owb_f16_t), false, f16_to_float, f16_from_float,
                      vec_dot_f16_f32, OWB_TYPE_F32},
    [OWB_TYPE_BF16] = {"bf16", 1, sizeof(owb_bf16_t), false, bf16_to_float, bf16_from_float,
                       vec_dot_bf16_bf16, OWB_TYPE_BF16},
    [OWB_TYPE_Q4_0] = {"q4_0", OWB_QK, sizeof(struct owb_block_q4_0), true, owb_dequantize_q4_0,
                       owb_quantize_q4_0_ref, owb_vec_dot_q4_0_q8_0, OWB_TYPE_Q8_0},
    [OWB_TYPE_Q4_1] = {"q4_1", OWB_QK, sizeof(struct owb_block_q4_1), true, owb_dequantize_q4_1,
                       owb_quantize_q4_1_ref, owb_vec_dot_q4_1_q8_1, OWB_TYPE_Q8_1},
    [OWB_TYPE_Q5_0] = {"q5_0", OWB_QK, sizeof(struct owb_block_q5_0), true, owb_dequantize_q5_0,
                       owb_quantize_q5_0_ref, owb_vec_dot_q5_0_q8_0, OWB_TYPE_Q8_0},
    [OWB_TYPE_Q5_1] = {"q5_1", OWB_QK, sizeof(struct owb_block_q5_1), true, owb_dequantize_q5_1,
                       owb_quantize_q5_1_ref, owb_vec_dot_q5_1_q8_1, OWB_TYPE_Q8_1},
    [OWB_TYPE_Q8_0] = {"q8_0", OWB_QK, sizeof(struct owb_block_q8_0), true, owb_dequantize_q8_0,
                       owb_quantize_q8_0_ref, owb_vec_dot_q8_0_q8_0, OWB_TYPE_Q8_0},
    [OWB_TYPE_Q8_1] = {"q8_1", OWB_QK, sizeof(struct owb_block_q8_1), true, owb_dequantize_q8_1,
                       owb_quantize_q8_1_ref, NULL, OWB_TYPE_Q8_1},
    [OWB_TYPE_Q2_K] = {"q2_K", OWB_QK_K, sizeof(struct owb_block_q2_K), true, owb_dequantize_q2_K,
                       owb_quantize_q2_K_ref, owb_vec_dot_q2_K_q8_K, OWB_TYPE_Q8_K},
    [OWB_TYPE_Q3_K] = {"q3_K", OWB_QK_K, sizeof(struct owb_block_q3_K), true, owb_dequantize_q3_K,
                       owb_quantize_q3_K_ref, owb_vec_dot_q3_K_q8_K, OWB_TYPE_Q8_K},
    [OWB_TYPE_Q4_K] = {"q4_K", OWB_QK_K, sizeof(struct owb_block_q4_K), true, owb_dequantize_q4_K,
                       owb_quantize_q4_K_ref, owb_vec_dot_q4_K_q8_K, OWB_TYPE_Q8_K},
    [OWB_TYPE_Q5_K] = {"q5_K", OWB_QK_K, sizeof(struct owb_block_q5_K), true, owb_dequantize_q5_K,
                       owb_quantize_q5_K_ref, owb_vec_dot_q5_K_q8_K, OWB_TYPE_Q8_K},
    [OWB_TYPE_Q6_K] = {"q6_K", OWB_QK_K, sizeof(struct owb_block_q6_K), true, owb_dequantize_q6_K,
                       owb_quantize_q6_K_ref, owb_vec_dot_q6_K_q8_K, OWB_TYPE_Q8_K},
    [OWB_TYPE_Q8_K] = {"q8_K", OWB_QK_K, sizeof(struct owb_block_q8_K), true, owb_dequantize_q8_K,
                       owb_quantize_q8_K_ref, NULL, OWB_TYPE_Q8_K},
    [OWB_TYPE_MXFP4] = {"mxfp4", OWB_QK, sizeof(struct owb_block_mxfp4), true, owb_dequantize_mxfp4,
                        owb_quantize_mxfp4_ref, owb_vec_dot_mxfp4_q8_0, OWB_TYPE_Q8_0},
};

const struct owb_type_traits *owb_type_traits(enum owb_type t)
{
    if ((int)t < 0 || t >= OWB_TYPE_COUNT || !type_traits[t].name)
        return NULL;
    return &type_traits[t];
}

const char *owb_type_name(enum owb_type t)
{
    const struct owb_type_traits *tr = owb_type_traits(t);
    return tr ? tr->name : "?";
}

static int ascii_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/* Names compare case-insensitively ("Q4_K" and "q4_k" both name q4_K). */
static bool name_equal(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b))
            return false;
    }
    return *a == *b;
}

int owb_type_from_name(const char *name, enum owb_type *t)
{
    if (!name)
        return -1;
    for (int i = 0; i < OWB_TYPE_COUNT; i++) {
        if (type_traits[i].name && name_equal(name, type_traits[i].name)) {
            *t = (enum owb_type)i;
            return 0;
        }
    }
    return -1;
}

size_t owb_row_size(enum owb_type t, int64_t n)
{
    const struct owb_type_traits *tr = owb_type_traits(t);
    if (!tr || n < 0 || n % tr->blck_size != 0)
        return 0;
    return (size_t)(n / tr->blck_size) * tr->type_size;
}
