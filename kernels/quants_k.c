/* SPDX-License-Identifier: MIT */
/*
 * quants_k.c: reference quantizers, dequantizers and dot products of the k-quants (q2_K..q6_K,
 * super-blocks of 256) and of their activation format q8_K. The quantizers follow ggml's
 * quantize_row_qX_K_ref scale searches (no importance matrix) operation for operation, so they
 * give ggml's bytes and therefore its error; the dots unpack each super-block into int8 quants in
 * dequantization order, accumulate every sub-block in int32 and scale once per super-block.
 * Inputs are expected finite; n is a multiple of OWB_QK_K.
 */
#include <math.h>
#include <string.h>

#include "kernels/quants_impl.h"
#include "owb_common.h"

#define QK_K OWB_QK_K
#define GROUP_MAX_EPS 1e-15f

static float fp16(owb_f16_t h)
{
    return owb_fp16_to_fp32_inl(h);
}

static owb_f16_t to_fp16(float f)
{
    return owb_fp32_to_fp16_inl(f);
}

static int clamp_int(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* ---- scale searches (ggml-quants.c semantics) ---- */

/* Symmetric quants in [-nmax, nmax-1] for n values, weighted by x^2, trying 19 scales around
 * nmax / max; L gets q + nmax. Returns the scale (x ~ scale * q). ggml: make_qx_quants with
 * rmse_type 1 and no importance. */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L)
{
    float max = 0.0f;
    float amax = 0.0f;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = (float)-nmax / max;
    float sumlx = 0.0f;
    float suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        const int l = clamp_int(owb_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0)
            continue;
        iscale = -((float)nmax + 0.1f * (float)is) / max;
        sumlx = suml2 = 0.0f;
        for (int i = 0; i < n; i++) {
            const int l = clamp_int(owb_nearest_int(iscale * x[i]), -nmax, nmax - 1);
            const float w = x[i] * x[i];
            sumlx += w * x[i] * (float)l;
            suml2 += w * (float)l * (float)l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                const int l = clamp_int(owb_nearest_int(iscale * x[i]), -nmax, nmax - 1);
                L[i] = (int8_t)(l + nmax);
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Symmetric quants in [-nmax, nmax-1] with up to 5 rounds of coordinate descent on the x^2
 * weighted error; L gets q + nmax. ggml: make_q3_quants with do_rmse. */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L)
{
    float max = 0.0f;
    float amax = 0.0f;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    const float iscale = (float)-nmax / max;
    float sumlx = 0.0f;
    float suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        const int l = clamp_int(owb_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * (float)L[i] * (float)L[i];
                const int new_l = clamp_int(owb_nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (new_l != L[i]) {
                    slx += w * x[i] * (float)new_l;
                    sl2 += w * (float)new_l * (float)new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed)
            break;
    }
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Asymmetric quants in [0, nmax] with x ~ scale * q - the_min: a grid of nstep+1 inverse scales
 * from (nmax + rmin) / range in steps of rdelta, each followed by the weighted least-squares fit
 * of scale and min for its rounding; keeps the best by weighted squared (or absolute, use_mad)
 * error. ggml: make_qkx2_quants, including its use of the updated min in later grid points. */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                              float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                              bool use_mad)
{
    float min = x[0];
    float max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min)
            min = x[i];
        if (x[i] > max)
            max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0)
        min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.0f;
    }
    float iscale = (float)nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0.0f;
    for (int i = 0; i < n; i++) {
        const int l = owb_nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)clamp_int(l, 0, nmax);
        float diff = scale * (float)L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0.0f;
        float sum_l2 = 0.0f;
        float sum_xl = 0.0f;
        for (int i = 0; i < n; i++) {
            const int l = clamp_int(owb_nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            const float w = weights[i];
            sum_l += w * (float)l;
            sum_l2 += w * (float)l * (float)l;
            sum_xl += w * (float)l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0.0f;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * (float)Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* 6-bit scale j and min j of the 12-byte packing shared by q4_K and q5_K. */
static void get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

static void put_scale_min_k4(int j, uint8_t *q, uint8_t ls, uint8_t lm)
{
    if (j < 4) {
        q[j] = ls;
        q[j + 4] = lm;
    } else {
        q[j + 4] = (uint8_t)((ls & 0x0f) | ((lm & 0x0f) << 4));
        q[j - 4] |= (uint8_t)((ls >> 4) << 6);
        q[j] |= (uint8_t)((lm >> 4) << 6);
    }
}

/* 2-bit quants: element j + 32*s + 128*h at bits 2s of qs[32*h + j]. */
static void pack_2bit(uint8_t *qs, const uint8_t *L)
{
    for (int j = 0; j < QK_K; j += 128) {
        for (int l = 0; l < 32; l++) {
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                      (L[j + l + 96] << 6));
        }
    }
}

static void unpack_2bit(const uint8_t *qs, uint8_t *q)
{
    for (int h = 0; h < QK_K / 128; h++) {
        for (int s = 0; s < 4; s++) {
            for (int l = 0; l < 32; l++)
                q[128 * h + 32 * s + l] = (uint8_t)((qs[32 * h + l] >> (2 * s)) & 3);
        }
    }
}

/* ---- q2_K: 16 sub-blocks of 16, 4-bit scale and min each; x = d*sc*q - dmin*m ---- */

void owb_quantize_q2_K_ref(const float *x, void *vy, int64_t n)
{
    struct owb_block_q2_K *y = vy;
    uint8_t L[QK_K];
    uint8_t Laux[16];
    float weights[16];
    float mins[QK_K / 16];
    float scales[QK_K / 16];
    const float q4scale = 15.f;
    OWB_ASSERT(n % QK_K == 0);

    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0.0f; /* mins are subtracted, so scales are never negative */
        float max_min = 0.0f;
        for (int j = 0; j < QK_K / 16; j++) {
            for (int l = 0; l < 16; l++)
                weights[l] = fabsf(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux,
                                         -0.5f, 0.1f, 15, true);
            if (scales[j] > max_scale)
                max_scale = scales[j];
            if (mins[j] > max_min)
                max_min = mins[j];
        }
        if (max_scale > 0) {
            const float iscale = q4scale / max_scale;
            for (int j = 0; j < QK_K / 16; j++)
                y[i].scales[j] = (uint8_t)owb_nearest_int(iscale * scales[j]);
            y[i].d = to_fp16(max_scale / q4scale);
        } else {
            memset(y[i].scales, 0, sizeof y[i].scales);
            y[i].d = to_fp16(0.0f);
        }
        if (max_min > 0) {
            const float iscale = q4scale / max_min;
            for (int j = 0; j < QK_K / 16; j++)
                y[i].scales[j] |= (uint8_t)(owb_nearest_int(iscale * mins[j]) << 4);
            y[i].dmin = to_fp16(max_min / q4scale);
        } else {
            y[i].dmin = to_fp16(0.0f);
        }
        /* requantize against the stored (rounded) scales */
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = fp16(y[i].d) * (float)(y[i].scales[j] & 0x0f);
            if (!d)
                continue;
            const float dm = fp16(y[i].dmin) * (float)(y[i].scales[j] >> 4);
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (uint8_t)clamp_int(owb_nearest_int((x[16 * j + l] + dm) / d), 0, 3);
        }
        pack_2bit(y[i].qs, L);
    }
}

void owb_dequantize_q2_K(const void *vx, float *y, int64_t n)
{
    const struct owb_block_q2_K *x = vx;
    OWB_ASSERT(n % QK_K == 0);
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d = fp16(x[i].d);
        const float min = fp16(x[i].dmin);
        uint8_t q[QK_K];
        unpack_2bit(x[i].qs, q);
        for (int s = 0; s < QK_K / 16; s++) {
            const uint8_t sc = x[i].scales[s];
            const float dl = d * (float)(sc & 0x0f);
            const float ml = min * (float)(sc >> 4);
            for (int l = 0; l < 16; l++)
                y[16 * s + l] = dl * (float)q[16 * s + l] - ml;
        }
    }
}

void owb_vec_dot_q2_K_q8_K(int64_t n, float *s, const void *vw, const void *va)
{
    const struct owb_block_q2_K *w = vw;
    const struct owb_block_q8_K *a = va;
    OWB_ASSERT(n % QK_K == 0);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t q[QK_K];
        unpack_2bit(w[i].qs, q);
        int32_t summs = 0;
        int32_t isum = 0;
        for (int sb = 0; sb < QK_K / 16; sb++) {
            int32_t sumi = 0;
            for (int l = 0; l < 16; l++)
                sumi += q[16 * sb + l] * a[i].qs[16 * sb + l];
            isum += (w[i].scales[sb] & 0x0f) * sumi;
            summs += (w[i].scales[sb] >> 4) * a[i].bsums[sb];
        }
        const float dall = a[i].d * fp16(w[i].d);
        const float dmin = a[i].d * fp16(w[i].dmin);
        sum += dall * (float)isum - dmin * (float)summs;
    }
    *s = sum;
}

/* ---- q3_K: 16 sub-blocks of 16, 6-bit signed scales; x = d * (sc - 32) * (q - 4) ---- */

/* Scale j (0..15) of the 12-byte q3_K packing, offset by -32. */
static int q3_scale(const uint8_t *sc, int j)
{
    const int lo = j < 8 ? sc[j] & 0x0f : sc[j - 8] >> 4;
    const int hi = (sc[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | (hi << 4)) - 32;
}

/* Signed 3-bit quants of a q3_K block: two bits as q2_K, the high bit of element e in bit e/32
 * of hmask[e%32]; a clear high bit means minus 4. */
static void q3_unpack(const struct owb_block_q3_K *b, int8_t *q)
{
    uint8_t lo[QK_K];
    unpack_2bit(b->qs, lo);
    for (int k = 0; k < QK_K / 32; k++) {
        for (int l = 0; l < 32; l++)
            q[32 * k + l] = (int8_t)(lo[32 * k + l] - (((b->hmask[l] >> k) & 1) ? 0 : 4));
    }
}

void owb_quantize_q3_K_ref(const float *x, void *vy, int64_t n)
{
    struct owb_block_q3_K *y = vy;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    OWB_ASSERT(n % QK_K == 0);

    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0.0f;
        float amax = 0.0f;
        for (int j = 0; j < QK_K / 16; j++) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            const float scale = fabsf(scales[j]);
            if (scale > amax) {
                amax = scale;
                max_scale = scales[j];
            }
        }
        memset(y[i].scales, 0, sizeof y[i].scales);
        if (max_scale) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < QK_K / 16; j++) {
                const int l = clamp_int(owb_nearest_int(iscale * scales[j]), -32, 31) + 32;
                if (j < 8)
                    y[i].scales[j] = (uint8_t)(l & 0x0f);
                else
                    y[i].scales[j - 8] |= (uint8_t)((l & 0x0f) << 4);
                y[i].scales[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            y[i].d = to_fp16(1 / iscale);
        } else {
            y[i].d = to_fp16(0.0f);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = fp16(y[i].d) * (float)q3_scale(y[i].scales, j);
            if (!d)
                continue;
            for (int l = 0; l < 16; l++) {
                const int q = clamp_int(owb_nearest_int(x[16 * j + l] / d), -4, 3);
                L[16 * j + l] = (int8_t)(q + 4);
            }
        }
        /* high bit of element e goes to bit e/32 of hmask[e%32]; two low bits as q2_K */
        uint8_t low[QK_K];
        memset(y[i].hmask, 0, sizeof y[i].hmask);
        for (int e = 0; e < QK_K; e++) {
            if (L[e] > 3)
                y[i].hmask[e % 32] |= (uint8_t)(1u << (e / 32));
            low[e] = (uint8_t)(L[e] & 3);
        }
        pack_2bit(y[i].qs, low);
    }
}

void owb_dequantize_q3_K(const void *vx, float *y, int64_t n)
{
    const struct owb_block_q3_K *x = vx;
    OWB_ASSERT(n % QK_K == 0);
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d_all = fp16(x[i].d);
        int8_t q[QK_K];
        q3_unpack(&x[i], q);
        for (int s = 0; s < QK_K / 16; s++) {
            const float dl = d_all * (float)q3_scale(x[i].scales, s);
            for (int l = 0; l < 16; l++)
                y[16 * s + l] = dl * (float)q[16 * s + l];
        }
    }
}

void owb_vec_dot_q3_K_q8_K(int64_t n, float *s, const void *vw, const void *va)
{
    const struct owb_block_q3_K *w = vw;
    const struct owb_block_q8_K *a = va;
    OWB_ASSERT(n % QK_K == 0);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t q[QK_K];
        q3_unpack(&w[i], q);
        int32_t isum = 0;
        for (int sb = 0; sb < QK_K / 16; sb++) {
            int32_t sumi = 0;
            for (int l = 0; l < 16; l++)
                sumi += q[16 * sb + l] * a[i].qs[16 * sb + l];
            isum += q3_scale(w[i].scales, sb) * sumi;
        }
        sum += (fp16(w[i].d) * a[i].d) * (float)isum;
    }
    *s = sum;
}

/* ---- q4_K and q5_K: 8 sub-blocks of 32, 6-bit scales and mins; x = d*sc*q - dmin*m ---- */

/* Shared by q4_K (nmax 15) and q5_K (nmax 31): per sub-block search, 6-bit scale/min packing,
 * requantization against the stored scales. Fills scales, d, dmin and the quants L. */
static void quantize_kx_block(const float *x, int nmax, float rmin, int nstep, uint8_t *scales_out,
                              owb_f16_t *d_out, owb_f16_t *dmin_out, uint8_t *L)
{
    uint8_t Laux[32];
    float weights[32];
    float mins[QK_K / 32];
    float scales[QK_K / 32];
    float max_scale = 0.0f;
    float max_min = 0.0f;
    for (int j = 0; j < QK_K / 32; j++) {
        float sum_x2 = 0.0f;
        for (int l = 0; l < 32; l++)
            sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++)
            weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux,
                                     rmin, 0.1f, nstep, false);
        if (scales[j] > max_scale)
            max_scale = scales[j];
        if (mins[j] > max_min)
            max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.0f;
    memset(scales_out, 0, OWB_K_SCALE_SIZE);
    for (int j = 0; j < QK_K / 32; j++) {
        /* ggml stores nearest_int into a uint8_t before clamping; keep that wrap-around */
        uint8_t ls = (uint8_t)owb_nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)owb_nearest_int(inv_min * mins[j]);
        ls = ls > 63 ? 63 : ls;
        lm = lm > 63 ? 63 : lm;
        put_scale_min_k4(j, scales_out, ls, lm);
    }
    *d_out = to_fp16(max_scale / 63.f);
    *dmin_out = to_fp16(max_min / 63.f);
    for (int j = 0; j < QK_K / 32; j++) {
        uint8_t sc, m;
        get_scale_min_k4(j, scales_out, &sc, &m);
        const float d = fp16(*d_out) * (float)sc;
        if (!d)
            continue;
        const float dm = fp16(*dmin_out) * (float)m;
        for (int l = 0; l < 32; l++) {
            const int q = owb_nearest_int((x[32 * j + l] + dm) / d);
            L[32 * j + l] = (uint8_t)clamp_int(q, 0, nmax);
        }
    }
}

/* The 4-bit quants of a q4_K/q5_K block: elements 64k..64k+31 in the low nibbles of
 * qs[32k..32k+31], 64k+32..64k+63 in the high nibbles. */
static void unpack_nibbles(const uint8_t *qs, uint8_t *q)
{
    for (int k = 0; k < QK_K / 64; k++) {
        for (int l = 0; l < 32; l++) {
            q[64 * k + l] = qs[32 * k + l] & 0x0f;
            q[64 * k + 32 + l] = qs[32 * k + l] >> 4;
        }
    }
}

void owb_quantize_q4_K_ref(const float *x, void *vy, int64_t n)
{
    struct owb_block_q4_K *y = vy;
    uint8_t L[QK_K];
    OWB_ASSERT(n % QK_K == 0);
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        quantize_kx_block(x, 15, -1.f, 20, y[i].scales, &y[i].d, &y[i].dmin, L);
        for (int j = 0; j < QK_K; j += 64) {
            for (int l = 0; l < 32; l++)
                y[i].qs[j / 2 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
        }
    }
}

void owb_dequantize_q4_K(const void *vx, float *y, int64_t n)
{
    const struct owb_block_q4_K *x = vx;
    OWB_ASSERT(n % QK_K == 0);
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d = fp16(x[i].d);
        const float min = fp16(x[i].dmin);
        uint8_t q[QK_K];
        unpack_nibbles(x[i].qs, q);
        for (int s = 0; s < QK_K / 32; s++) {
            uint8_t sc, m;
            get_scale_min_k4(s, x[i].scales, &sc, &m);
            const float dl = d * (float)sc;
            const float ml = min * (float)m;
            for (int l = 0; l < 32; l++)
                y[32 * s + l] = dl * (float)q[32 * s + l] - ml;
        }
    }
}

void owb_vec_dot_q4_K_q8_K(int64_t n, float *s, const void *vw, const void *va)
{
    const struct owb_block_q4_K *w = vw;
    const struct owb_block_q8_K *a = va;
    OWB_ASSERT(n % QK_K == 0);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t q[QK_K];
        unpack_nibbles(w[i].qs, q);
        int32_t isum = 0;
        int32_t summs = 0;
        for (int sb = 0; sb < QK_K / 32; sb++) {
            uint8_t sc, m;
            get_scale_min_k4(sb, w[i].scales, &sc, &m);
            int32_t sumi = 0;
            for (int l = 0; l < 32; l++)
                sumi += q[32 * sb + l] * a[i].qs[32 * sb + l];
            isum += sc * sumi;
            summs += m * (a[i].bsums[2 * sb] + a[i].bsums[2 * sb + 1]);
        }
        const float d = fp16(w[i].d) * a[i].d;
        const float dmin = fp16(w[i].dmin) * a[i].d;
        sum += d * (float)isum - dmin * (float)summs;
    }
    *s = sum;
}

/* The 5-bit quants of a q5_K block: nibbles as q4_K, fifth bit of element e in bit e/32 of
 * qh[e%32]. */
static void q5_K_unpack(const struct owb_block_q5_K *b, uint8_t *q)
{
    unpack_nibbles(b->qs, q);
    for (int k = 0; k < QK_K / 32; k++) {
        for (int l = 0; l < 32; l++)
            q[32 * k + l] |= (uint8_t)(((b->qh[l] >> k) & 1) << 4);
    }
}

void owb_quantize_q5_K_ref(const float *x, void *vy, int64_t n)
{
    struct owb_block_q5_K *y = vy;
    uint8_t L[QK_K];
    OWB_ASSERT(n % QK_K == 0);
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        quantize_kx_block(x, 31, -0.5f, 15, y[i].scales, &y[i].d, &y[i].dmin, L);
        /* fifth bit of element e goes to bit e/32 of qh[e%32] */
        memset(y[i].qh, 0, sizeof y[i].qh);
        for (int e = 0; e < QK_K; e++) {
            if (L[e] > 15)
                y[i].qh[e % 32] |= (uint8_t)(1u << (e / 32));
        }
        for (int j = 0; j < QK_K; j += 64) {
            for (int l = 0; l < 32; l++) {
                y[i].qs[j / 2 + l] = (uint8_t)((L[j + l] & 0x0f) | ((L[j + l + 32] & 0x0f) << 4));
            }
        }
    }
}

void owb_dequantize_q5_K(const void *vx, float *y, int64_t n)
{
    const struct owb_block_q5_K *x = vx;
    OWB_ASSERT(n % QK_K == 0);
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d = fp16(x[i].d);
        const float min = fp16(x[i].dmin);
        uint8_t q[QK_K];
        q5_K_unpack(&x[i], q);
        for (int s = 0; s < QK_K / 32; s++) {
            uint8_t sc, m;
            get_scale_min_k4(s, x[i].scales, &sc, &m);
            const float dl = d * (float)sc;
            const float ml = min * (float)m;
            for (int l = 0; l < 32; l++)
                y[32 * s + l] = dl * (float)q[32 * s + l] - ml;
        }
    }
}

void owb_vec_dot_q5_K_q8_K(int64_t n, float *s, const void *vw, const void *va)
{
    const struct owb_block_q5_K *w = vw;
    const struct owb_block_q8_K *a = va;
    OWB_ASSERT(n % QK_K == 0);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t q[QK_K];
        q5_K_unpack(&w[i], q);
        int32_t isum = 0;
        int32_t summs = 0;
        for (int sb = 0; sb < QK_K / 32; sb++) {
            uint8_t sc, m;
            get_scale_min_k4(sb, w[i].scales, &sc, &m);
            int32_t sumi = 0;
            for (int l = 0; l < 32; l++)
                sumi += q[32 * sb + l] * a[i].qs[32 * sb + l];
            isum += sc * sumi;
            summs += m * (a[i].bsums[2 * sb] + a[i].bsums[2 * sb + 1]);
        }
        const float d = fp16(w[i].d) * a[i].d;
        const float dmin = fp16(w[i].dmin) * a[i].d;
        sum += d * (float)isum - dmin * (float)summs;
    }
    *s = sum;
}

/* ---- q6_K: 16 sub-blocks of 16, int8 scales; x = d * sc * (q - 32) ---- */

/* Signed 6-bit quants of a q6_K block. Each half of 128 elements uses 64 bytes of ql and 32 of
 * qh: with l < 32, element l is the low nibble of ql[l], l+32 the low nibble of ql[l+32], l+64
 * the high nibble of ql[l], l+96 the high nibble of ql[l+32]; qh[l] holds their two top bits at
 * shifts 0, 2, 4, 6. */
static void q6_unpack(const struct owb_block_q6_K *b, int8_t *q)
{
    for (int h = 0; h < QK_K / 128; h++) {
        const uint8_t *ql = b->ql + 64 * h;
        const uint8_t *qh = b->qh + 32 * h;
        int8_t *o = q + 128 * h;
        for (int l = 0; l < 32; l++) {
            o[l] = (int8_t)(((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32);
            o[l + 32] = (int8_t)(((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32);
            o[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            o[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
    }
}

void owb_quantize_q6_K_ref(const float *x, void *vy, int64_t n)
{
    struct owb_block_q6_K *y = vy;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    OWB_ASSERT(n % QK_K == 0);

    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max_scale = 0.0f;
        float max_abs_scale = 0.0f;
        for (int ib = 0; ib < QK_K / 16; ib++) {
            scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            const float abs_scale = fabsf(scales[ib]);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale = scales[ib];
            }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -128.f / max_scale;
        y[i].d = to_fp16(1 / iscale);
        for (int ib = 0; ib < QK_K / 16; ib++) {
            const int v = owb_nearest_int(iscale * scales[ib]);
            y[i].scales[ib] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            const float d = fp16(y[i].d) * (float)y[i].scales[j];
            if (!d)
                continue;
            for (int l = 0; l < 16; l++) {
                const int q = clamp_int(owb_nearest_int(x[16 * j + l] / d), -32, 31);
                L[16 * j + l] = (int8_t)(q + 32);
            }
        }
        uint8_t *ql = y[i].ql;
        uint8_t *qh = y[i].qh;
        for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                const int q1 = L[j + l];
                const int q2 = L[j + l + 32];
                const int q3 = L[j + l + 64];
                const int q4 = L[j + l + 96];
                ql[l] = (uint8_t)((q1 & 0x0f) | ((q3 & 0x0f) << 4));
                ql[l + 32] = (uint8_t)((q2 & 0x0f) | ((q4 & 0x0f) << 4));
                qh[l] =
                    (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }
}

void owb_dequantize_q6_K(const void *vx, float *y, int64_t n)
{
    const struct owb_block_q6_K *x = vx;
    OWB_ASSERT(n % QK_K == 0);
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        const float d = fp16(x[i].d);
        int8_t q[QK_K];
        q6_unpack(&x[i], q);
        for (int e = 0; e < QK_K; e++)
            y[e] = d * (float)x[i].scales[e / 16] * (float)q[e];
    }
}

void owb_vec_dot_q6_K_q8_K(int64_t n, float *s, const void *vw, const void *va)
{
    const struct owb_block_q6_K *w = vw;
    const struct owb_block_q8_K *a = va;
    OWB_ASSERT(n % QK_K == 0);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t q[QK_K];
        q6_unpack(&w[i], q);
        int32_t isum = 0;
        for (int sb = 0; sb < QK_K / 16; sb++) {
            int32_t sumi = 0;
            for (int l = 0; l < 16; l++)
                sumi += q[16 * sb + l] * a[i].qs[16 * sb + l];
            isum += w[i].scales[sb] * sumi;
        }
        sum += (fp16(w[i].d) * a[i].d) * (float)isum;
    }
    *s = sum;
}

/* ---- q8_K: x = d * q with d = max / -127 (float scale), bsums per 16 ---- */

void owb_quantize_q8_K_ref(const float *x, void *vy, int64_t n)
{
    struct owb_block_q8_K *y = vy;
    OWB_ASSERT(n % QK_K == 0);
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float max = 0.0f;
        float amax = 0.0f;
        for (int j = 0; j < QK_K; j++) {
            const float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (!amax) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) {
            const int v = owb_nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += y[i].qs[16 * j + l];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

void owb_dequantize_q8_K(const void *vx, float *y, int64_t n)
{
    const struct owb_block_q8_K *x = vx;
    OWB_ASSERT(n % QK_K == 0);
    for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
        for (int j = 0; j < QK_K; j++)
            y[j] = x[i].d * (float)x[i].qs[j];
    }
}
