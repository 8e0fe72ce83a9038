/* SPDX-License-Identifier: MIT */
/*
 * quants.c: reference quantizers, dequantizers and dot products of the 32-element block formats
 * (q4_0, q4_1, q5_0, q5_1, q8_0, mxfp4) and of the activation format q8_1. The quantizers round to
 * nearest exactly as ggml's quantize_row_*_ref do (same float operations in the same order, so the
 * bytes match); the dots accumulate each block in int32 and scale once per block, as ggml does.
 * Inputs are expected finite; n is a multiple of OWB_QK.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "kernels/quants_impl.h"
#include "owb_common.h"

#define QK OWB_QK

static float fp16(owb_f16_t h)
{
    return owb_fp16_to_fp32_inl(h);
}

static owb_f16_t to_fp16(float f)
{
    return owb_fp32_to_fp16_inl(f);
}

/* Absolute maximum of a block and the signed value that has it (the first one on ties). */
static float signed_absmax(const float *x, int n, float *amax_out)
{
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    if (amax_out)
        *amax_out = amax;
    return max;
}

static void min_max(const float *x, int n, float *min_out, float *max_out)
{
    float min = FLT_MAX;
    float max = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < min)
            min = x[j];
        if (x[j] > max)
            max = x[j];
    }
    *min_out = min;
    *max_out = max;
}

static int min_int(int a, int b)
{
    return a < b ? a : b;
}

/* ---- q4_0: x = d * (q - 8), d = max / -8 with max the signed absolute maximum ---- */

void owb_quantize_q4_0_ref(const float *x, void *vy, int64_t n)
{
    struct owb_block_q4_0 *y = vy;
    OWB_ASSERT(n % QK == 0);
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        const float max = signed_absmax(x, QK, NULL);
        const float d = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = to_fp16(d);
        for (int j = 0; j < QK / 2; j++) {
            const float x0 = x[j] * id;
            const float x1 = x[QK / 2 + j] * id;
            const int q0 = min_int(15, (int8_t)(x0 + 8.5f));
            const int q1 = min_int(15, (int8_t)(x1 + 8.5f));
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void owb_dequantize_q4_0(const void *vx, float *y, int64_t n)
{
    const struct owb_block_q4_0 *x = vx;
    OWB_ASSERT(n % QK == 0);
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        const float d = fp16(x[i].d);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = (float)((x[i].qs[j] & 0x0f) - 8) * d;
            y[j + QK / 2] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void owb_vec_dot_q4_0_q8_0(int64_t n, float *s, const void *vw, const void *va)
{
    const struct owb_block_q4_0 *w = vw;
    const struct owb_block_q8_0 *a = va;
    OWB_ASSERT(n % QK == 0);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int32_t sumi = 0;
        for (int j = 0; j < QK / 2; j++) {
            sumi += ((w[i].qs[j] & 0x0f) - 8) * a[i].qs[j];
            sumi += ((w[i].qs[j] >> 4) - 8) * a[i].qs[j + QK / 2];
        }
        sum += (float)sumi * (fp16(w[i].d) * fp16(a[i].d));
    }
    *s = sum;
}

/* ---- q4_1: x = d * q + m over [min, max] ---- */

void owb_quantize_q4_1_ref(const float *x, void *vy, int64_t n)
{
    struct owb_block_q4_1 *y = vy;
    OWB_ASSERT(n % QK == 0);
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float min, max;
        min_max(x, QK, &min, &max);
        const float d = (max - min) / ((1 << 4) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = to_fp16(d);
        y[i].m = to_fp16(min);
        for (int j = 0; j < QK / 2; j++) {
            const float x0 = (x[j] - min) * id;
            const float x1 = (x[QK / 2 + j] - min) * id;
            const int q0 = min_int(15, (int8_t)(x0 + 0.5f));
            const int q1 = min_int(15, (int8_t)(x1 + 0.5f));
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void owb_dequantize_q4_1(const void *vx, float *y, int64_t n)
{
    const struct owb_block_q4_1 *x = vx;
    OWB_ASSERT(n % QK == 0);
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        const float d = fp16(x[i].d);
        const float m = fp16(x[i].m);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = (float)(x[i].qs[j] & 0x0f) * d + m;
            y[j + QK / 2] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

void owb_vec_dot_q4_1_q8_1(int64_t n, float *s, const void *vw, const void *va)
{
    const struct owb_block_q4_1 *w = vw;
    const struct owb_block_q8_1 *a = va;
    OWB_ASSERT(n % QK == 0);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int32_t sumi = 0;
        for (int j = 0; j < QK / 2; j++) {
            sumi += (w[i].qs[j] & 0x0f) * a[i].qs[j];
            sumi += (w[i].qs[j] >> 4) * a[i].qs[j + QK / 2];
        }
        /* sum(d_w q_w + m)(d_a q_a) = d_w d_a sum(q_w q_a) + m * (d_a sum q_a); the latter is s */
        sum += (fp16(w[i].d) * fp16(a[i].d)) * (float)sumi + fp16(w[i].m) * fp16(a[i].s);
    }
    *s = sum;
}

/* ---- q5_0: x = d * (q - 16), fifth bits in qh ---- */

void owb_quantize_q5_0_ref(const float *x, void *vy, int64_t n)
{
    struct owb_block_q5_0 *y = vy;
    OWB_ASSERT(n % QK == 0);
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        const float max = signed_absmax(x, QK, NULL);
        const float d = max / -16;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < QK / 2; j++) {
            const float x0 = x[j] * id;
            const float x1 = x[QK / 2 + j] * id;
            const uint32_t q0 = (uint32_t)min_int(31, (int8_t)(x0 + 16.5f));
            const uint32_t q1 = (uint32_t)min_int(31, (int8_t)(x1 + 16.5f));
            y[i].qs[j] = (uint8_t)((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= ((q0 >> 4) & 1u) << j;
            qh |= ((q1 >> 4) & 1u) << (j + QK / 2);
        }
        memcpy(y[i].qh, &qh, sizeof qh);
    }
}

/* The 32 five-bit quants of a q5 block in element order: low nibbles from qs (elements j and
 * j + 16 share byte j), fifth bit j from bit j of qh. */
static void q5_unpack(const uint8_t *qs, const uint8_t *qh_bytes, uint8_t *q)
{
    uint32_t qh;
    memcpy(&qh, qh_bytes, sizeof qh);
    for (int j = 0; j < QK / 2; j++) {
        q[j] = (uint8_t)((qs[j] & 0x0f) | (((qh >> j) & 1u) << 4));
        q[j + QK / 2] = (uint8_t)((qs[j] >> 4) | (((qh >> (j + QK / 2)) & 1u) << 4));
    }
}

void owb_dequantize_q5_0(const void *vx, float *y, int64_t n)
{
    const struct owb_block_q5_0 *x = vx;
    OWB_ASSERT(n % QK == 0);
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        const float d = fp16(x[i].d);
        uint8_t q[QK];
        q5_unpack(x[i].qs, x[i].qh, q);
        for (int j = 0; j < QK; j++)
            y[j] = (float)(q[j] - 16) * d;
    }
}

void owb_vec_dot_q5_0_q8_0(int64_t n, float *s, const void *vw, const void *va)
{
    const struct owb_block_q5_0 *w = vw;
    const struct owb_block_q8_0 *a = va;
    OWB_ASSERT(n % QK == 0);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        uint8_t q[QK];
        q5_unpack(w[i].qs, w[i].qh, q);
        int32_t sumi = 0;
        for (int j = 0; j < QK; j++)
            sumi += (q[j] - 16) * a[i].qs[j];
        sum += (float)sumi * (fp16(w[i].d) * fp16(a[i].d));
    }
    *s = sum;
}

/* ---- q5_1: x = d * q + m ---- */

void owb_quantize_q5_1_ref(const float *x, void *vy, int64_t n)
{
    struct owb_block_q5_1 *y = vy;
    OWB_ASSERT(n % QK == 0);
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float min, max;
        min_max(x, QK, &min, &max);
        const float d = (max - min) / ((1 << 5) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = to_fp16(d);
        y[i].m = to_fp16(min);
        uint32_t qh = 0;
        for (int j = 0; j < QK / 2; j++) {
            const float x0 = (x[j] - min) * id;
            const float x1 = (x[QK / 2 + j] - min) * id;
            /* ggml does not clamp here; (max - min) * id stays below 31.5 for finite input, so
             * the clamp only guards against wrap-around and never changes a result */
            const uint32_t q0 = (uint32_t)min_int(31, (uint8_t)(x0 + 0.5f));
            const uint32_t q1 = (uint32_t)min_int(31, (uint8_t)(x1 + 0.5f));
            y[i].qs[j] = (uint8_t)((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= ((q0 >> 4) & 1u) << j;
            qh |= ((q1 >> 4) & 1u) << (j + QK / 2);
        }
        memcpy(y[i].qh, &qh, sizeof qh);
    }
}

void owb_dequantize_q5_1(const void *vx, float *y, int64_t n)
{
    const struct owb_block_q5_1 *x = vx;
    OWB_ASSERT(n % QK == 0);
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        const float d = fp16(x[i].d);
        const float m = fp16(x[i].m);
        uint8_t q[QK];
        q5_unpack(x[i].qs, x[i].qh, q);
        for (int j = 0; j < QK; j++)
            y[j] = (float)q[j] * d + m;
    }
}

void owb_vec_dot_q5_1_q8_1(int64_t n, float *s, const void *vw, const void *va)
{
    const struct owb_block_q5_1 *w = vw;
    const struct owb_block_q8_1 *a = va;
    OWB_ASSERT(n % QK == 0);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        uint8_t q[QK];
        q5_unpack(w[i].qs, w[i].qh, q);
        int32_t sumi = 0;
        for (int j = 0; j < QK; j++)
            sumi += q[j] * a[i].qs[j];
        sum += (fp16(w[i].d) * fp16(a[i].d)) * (float)sumi + fp16(w[i].m) * fp16(a[i].s);
    }
    *s = sum;
}

/* ---- q8_0 and q8_1: x = d * q, d = amax / 127, round half away from zero ---- */

void owb_quantize_q8_0_ref(const float *x, void *vy, int64_t n)
{
    struct owb_block_q8_0 *y = vy;
    OWB_ASSERT(n % QK == 0);
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = to_fp16(d);
        for (int j = 0; j < QK; j++)
            y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

void owb_dequantize_q8_0(const void *vx, float *y, int64_t n)
{
    const struct owb_block_q8_0 *x = vx;
    OWB_ASSERT(n % QK == 0);
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        const float d = fp16(x[i].d);
        for (int j = 0; j < QK; j++)
            y[j] = (float)x[i].qs[j] * d;
    }
}

void owb_vec_dot_q8_0_q8_0(int64_t n, float *s, const void *vw, const void *va)
{
    const struct owb_block_q8_0 *w = vw;
    const struct owb_block_q8_0 *a = va;
    OWB_ASSERT(n % QK == 0);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int32_t sumi = 0;
        for (int j = 0; j < QK; j++)
            sumi += w[i].qs[j] * a[i].qs[j];
        sum += (float)sumi * (fp16(w[i].d) * fp16(a[i].d));
    }
    *s = sum;
}

void owb_quantize_q8_1_ref(const float *x, void *vy, int64_t n)
{
    struct owb_block_q8_1 *y = vy;
    OWB_ASSERT(n % QK == 0);
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax = 0.0f;
        for (int j = 0; j < QK; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = to_fp16(d);
        int sum = 0;
        for (int j = 0; j < QK; j++) {
            y[i].qs[j] = (int8_t)roundf(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].s = to_fp16((float)sum * d);
    }
}

void owb_dequantize_q8_1(const void *vx, float *y, int64_t n)
{
    const struct owb_block_q8_1 *x = vx;
    OWB_ASSERT(n % QK == 0);
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        const float d = fp16(x[i].d);
        for (int j = 0; j < QK; j++)
            y[j] = (float)x[i].qs[j] * d;
    }
}

/* ---- mxfp4: E2M1 values (doubled, as ggml stores them) times 2^(e - 128) ---- */

static const int8_t kvalues_mxfp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

/* GGML_E8M0_TO_FP32_HALF: 2^(e - 127) / 2, subnormal for e < 2. */
static float e8m0_to_fp32_half(uint8_t e)
{
    const uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    return owb_bits_f32(bits);
}

/* Index of the table value nearest x / d; the first one wins on ties (so +0 beats -0). */
static int mxfp4_best_index(float x, float d)
{
    int best = 0;
    float best_err = fabsf((float)kvalues_mxfp4[0] * d - x);
    for (int i = 1; i < 16; i++) {
        const float err = fabsf((float)kvalues_mxfp4[i] * d - x);
        if (err < best_err) {
            best = i;
            best_err = err;
        }
    }
    return best;
}

void owb_quantize_mxfp4_ref(const float *x, void *vy, int64_t n)
{
    struct owb_block_mxfp4 *y = vy;
    OWB_ASSERT(n % QK == 0);
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax;
        (void)signed_absmax(x, QK, &amax);
        /* the largest doubled E2M1 value is 12 = 1.5 * 2^3, hence the -2 after the exponent
         * (ggml: floor(log2(amax)) - 2 + 127); clamped instead of wrapping for extreme inputs */
        int e = 0;
        if (amax > 0.0f) {
            e = (int)floorf(log2f(amax)) - 2 + 127;
            e = e < 0 ? 0 : e > 254 ? 254 : e;
        }
        const float d = e8m0_to_fp32_half((uint8_t)e);
        y[i].e = (uint8_t)e;
        for (int j = 0; j < QK / 2; j++) {
            const int q0 = mxfp4_best_index(x[j], d);
            const int q1 = mxfp4_best_index(x[QK / 2 + j], d);
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void owb_dequantize_mxfp4(const void *vx, float *y, int64_t n)
{
    const struct owb_block_mxfp4 *x = vx;
    OWB_ASSERT(n % QK == 0);
    for (int64_t i = 0; i < n / QK; i++, y += QK) {
        const float d = e8m0_to_fp32_half(x[i].e);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = (float)kvalues_mxfp4[x[i].qs[j] & 0x0f] * d;
            y[j + QK / 2] = (float)kvalues_mxfp4[x[i].qs[j] >> 4] * d;
        }
    }
}

void owb_vec_dot_mxfp4_q8_0(int64_t n, float *s, const void *vw, const void *va)
{
    const struct owb_block_mxfp4 *w = vw;
    const struct owb_block_q8_0 *a = va;
    OWB_ASSERT(n % QK == 0);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK; i++) {
        int32_t sumi = 0;
        for (int j = 0; j < QK / 2; j++) {
            sumi += kvalues_mxfp4[w[i].qs[j] & 0x0f] * a[i].qs[j];
            sumi += kvalues_mxfp4[w[i].qs[j] >> 4] * a[i].qs[j + QK / 2];
        }
        sum += (float)sumi * (fp16(a[i].d) * e8m0_to_fp32_half(w[i].e));
    }
    *s = sum;
}
