/* SPDX-License-Identifier: MIT */
/*
 * matmul_avx512.c: AVX-512 (F/BW/VL/DQ + VNNI) GEMV and small-batch kernels for owb_matmul_rows,
 * and the activation quantizers (q8_0 with extras, q8_K) that write the same bytes as the
 * reference ones. The 32-wide integer formats (q4_0, q8_0, mxfp4) make their weights unsigned
 * (nibble, table value + 12, or quant + 128) so one vpdpbusd multiplies them with the signed q8_0
 * activations; the offset comes back through the nsum extra that initialises each block's integer
 * accumulator. Block scales are taken eight at a time with one word permute from two 64-byte loads
 * and applied in float once per block. The k-quants follow ggml: vpmaddubsw then vpdpwssd with the
 * sub-block scales, mins and q6_K's -32 through the q8_K bsums. Each kernel handles R weight rows
 * against C activation columns per pass so that activation loads are shared; every output element
 * sees the same operation sequence whatever R is, so row splits do not change results.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/cpu/matmul_cpu.h"

#define AI static inline __attribute__((always_inline))

/* ---------------------------------------------------------------- activation preparation ---- */

/* roundf() per lane, exactly: truncate, then step away from zero when |dropped part| >= 0.5. */
AI __m512i roundf_epi32(__m512 t)
{
    __m512 r = _mm512_roundscale_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_abs_ps(_mm512_sub_ps(t, r));
    __mmask16 m = _mm512_cmp_ps_mask(f, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    __m512 one = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(t, _mm512_set1_ps(-0.0f)));
    return _mm512_cvtps_epi32(_mm512_mask_add_ps(r, m, r, one));
}

static void prep_q8_0(const float *x, uint8_t *row, int64_t k, int off, int il4)
{
    struct owb_block_q8_0 *blk = (struct owb_block_q8_0 *)row;
    const int64_t nb = k / OWB_QK, nb8 = owb_mm_nb8(k);
    uint8_t *qs = row + owb_mm_q8_0_qs_off(k);
    float *dd = (float *)(row + owb_mm_q8_0_d_off(k));
    int32_t *ns = (int32_t *)(row + owb_mm_q8_0_sum_off(k));
    for (int64_t i = 0; i < nb8; i++) {
        uint8_t *lo = il4 ? qs + 128 * (i / 4) + 16 * (i % 4) : qs + 32 * i;
        uint8_t *hi = il4 ? lo + 64 : lo + 16;
        if (i >= nb) {
            memset(lo, 0, 16);
            memset(hi, 0, 16);
            dd[i] = 0.0f;
            ns[i] = 0;
            continue;
        }
        const __m512 v0 = _mm512_loadu_ps(x + 32 * i), v1 = _mm512_loadu_ps(x + 32 * i + 16);
        const float amax =
            _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        const float d = amax / 127;
        const float id = d ? 1.0f / d : 0.0f;
        const __m512i q0 = roundf_epi32(_mm512_mul_ps(v0, _mm512_set1_ps(id)));
        const __m512i q1 = roundf_epi32(_mm512_mul_ps(v1, _mm512_set1_ps(id)));
        const __m128i b0 = _mm512_cvtepi32_epi8(q0), b1 = _mm512_cvtepi32_epi8(q1);
        const unsigned short h = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        blk[i].d = h;
        _mm_storeu_si128((__m128i *)blk[i].qs, b0);
        _mm_storeu_si128((__m128i *)(blk[i].qs + 16), b1);
        _mm_storeu_si128((__m128i *)lo, b0);
        _mm_storeu_si128((__m128i *)hi, b1);
        dd[i] = _cvtsh_ss(h);
        ns[i] = -off * _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    }
}

static void prep_q8_0_nat(const float *x, uint8_t *row, int64_t k, int off)
{
    prep_q8_0(x, row, k, off, 0);
}

static void prep_q8_0_il4(const float *x, uint8_t *row, int64_t k, int off)
{
    prep_q8_0(x, row, k, off, 1);
}

/* q8_K as owb_quantize_q8_K_ref: scale from the first element of largest magnitude, ggml's
 * nearest_int (the 1.5 * 2^23 adder), quants capped at 127, bsums per 16. */
static void prep_q8_K(const float *x, uint8_t *row, int64_t k, int off)
{
    (void)off;
    struct owb_block_q8_K *blk = (struct owb_block_q8_K *)row;
    for (int64_t i = 0; i < k / OWB_QK_K; i++, x += OWB_QK_K) {
        struct owb_block_q8_K *y = &blk[i];
        __m512 v[16];
        __m512 m = _mm512_setzero_ps();
        for (int j = 0; j < 16; j++) {
            v[j] = _mm512_loadu_ps(x + 16 * j);
            m = _mm512_max_ps(m, _mm512_abs_ps(v[j]));
        }
        const float amax = _mm512_reduce_max_ps(m);
        if (!amax) {
            memset(y, 0, sizeof *y);
            continue;
        }
        float max = 0.0f;
        for (int j = 0; j < 16; j++) {
            __mmask16 e =
                _mm512_cmp_ps_mask(_mm512_abs_ps(v[j]), _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (e) {
                max = x[16 * j + __builtin_ctz(e)];
                break;
            }
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < 16; j++) {
            __m512 t = _mm512_add_ps(_mm512_mul_ps(v[j], _mm512_set1_ps(iscale)),
                                     _mm512_set1_ps(12582912.f));
            __m512i q = _mm512_sub_epi32(
                _mm512_and_si512(_mm512_castps_si512(t), _mm512_set1_epi32(0x007fffff)),
                _mm512_set1_epi32(0x00400000));
            q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
            _mm_storeu_si128((__m128i *)(y->qs + 16 * j), _mm512_cvtepi32_epi8(q));
            y->bsums[j] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        y->d = 1 / iscale;
    }
}

owb_mm_prep_fn owb_mm_prep_avx512(enum owb_mm_act_layout layout)
{
    switch (layout) {
    case OWB_MM_ACT_Q8_0_NAT:
        return prep_q8_0_nat;
    case OWB_MM_ACT_Q8_0_IL4:
        return prep_q8_0_il4;
    case OWB_MM_ACT_Q8_K:
        return prep_q8_K;
    default:
        return NULL;
    }
}

/* ------------------------------------------------------- 32-wide integer formats: GEMV ---- */

enum { F_Q4_0, F_Q8_0, F_MXFP4 };

AI int b32_size(int f)
{
    return f == F_Q4_0 ? 18 : f == F_Q8_0 ? 34 : 17;
}

static const uint16_t idx_q4_0_d[32] = {0, 9, 18, 27, 36, 45, 54, 63};
static const uint16_t idx_q8_0_da[32] = {0, 17, 34, 51};
static const uint16_t idx_q8_0_db[32] = {0, 0, 0, 0, 4, 21, 38, 55};
static const uint16_t idx_mxfp4_e[32] = {0, 8, 17, 25, 34, 42, 51, 59};
/* ggml's doubled E2M1 values plus 12, so the unsigned operand of vpdpbusd is 0..24 */
static const int8_t mxfp4_u[16] = {12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0};

/* Weight scales of the 8 blocks starting at p, as floats (reads 128 or 256 bytes from p, all inside
 * the 8 blocks). */
AI __m256 b32_wscales8(int f, const uint8_t *p)
{
    const __m512i z0 = _mm512_loadu_si512(p), z1 = _mm512_loadu_si512(p + 64);
    if (f == F_Q4_0) {
        __m512i h = _mm512_permutex2var_epi16(z0, _mm512_loadu_si512(idx_q4_0_d), z1);
        return _mm256_cvtph_ps(_mm512_castsi512_si128(h));
    }
    if (f == F_Q8_0) {
        __m512i ha = _mm512_permutex2var_epi16(z0, _mm512_loadu_si512(idx_q8_0_da), z1);
        __m512i hb = _mm512_permutex2var_epi16(_mm512_loadu_si512(p + 128),
                                               _mm512_loadu_si512(idx_q8_0_db),
                                               _mm512_loadu_si512(p + 192));
        __m512i h = _mm512_mask_blend_epi16(0xF0, ha, hb);
        return _mm256_cvtph_ps(_mm512_castsi512_si128(h));
    }
    /* mxfp4: byte 17 j sits in word 17 j / 2, high half for odd j; E8M0/2 to float bits */
    __m512i h = _mm512_permutex2var_epi16(z0, _mm512_loadu_si512(idx_mxfp4_e), z1);
    __m128i e8 = _mm_and_si128(
        _mm_srlv_epi16(_mm512_castsi512_si128(h), _mm_setr_epi16(0, 8, 0, 8, 0, 8, 0, 8)),
        _mm_set1_epi16(0xff));
    __m256i e = _mm256_cvtepu16_epi32(e8);
    __m256i nrm = _mm256_slli_epi32(_mm256_sub_epi32(e, _mm256_set1_epi32(1)), 23);
    __m256i sub = _mm256_sllv_epi32(_mm256_set1_epi32(0x00200000), e);
    __mmask8 small = _mm256_cmplt_epu32_mask(e, _mm256_set1_epi32(2));
    return _mm256_castsi256_ps(_mm256_mask_blend_epi32(small, nrm, sub));
}

/* Four 16-byte pieces at p, p + stride, ... into one register (one per 128-bit lane). */
AI __m512i load4x16(const uint8_t *p, int stride)
{
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)p));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + stride)), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + 2 * stride)), 2);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + 3 * stride)), 3);
    return v;
}

struct b32_act {
    const uint8_t *qs;
    const float *d;
    const int32_t *ns;
};

/*
 * Eight blocks (from block index b; weight bytes at w[i] + off) of R rows against C columns. With
 * C == 1 the weight and activation scales are multiplied once per block and fused into the FMA;
 * with C > 1 the activation scale is applied first, then the weight scale.
 */
AI void b32_group8(int f, int R, int C, const uint8_t *const *w, size_t off,
                   const struct b32_act *act, int64_t b, __m512 acc[4][4])
{
    const int bs = b32_size(f);
    __m256 dw[4], da[4];
    __m512i ns[4];
    for (int c = 0; c < C; c++) {
        da[c] = _mm256_loadu_ps(act[c].d + b);
        ns[c] = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(act[c].ns + b)));
    }
    for (int i = 0; i < R; i++) {
        dw[i] = b32_wscales8(f, w[i] + off);
        if (C == 1)
            dw[i] = _mm256_mul_ps(dw[i], da[0]);
    }
    if (f != F_Q8_0) {
        const __m512i m0f = _mm512_set1_epi8(0x0f);
        const __m512i tab = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)mxfp4_u));
        for (int s = 0; s < 2; s++) {
            const __m512i cidx = _mm512_setr_epi32(4 * s, 0, 0, 0, 4 * s + 1, 0, 0, 0, 4 * s + 2,
                                                   0, 0, 0, 4 * s + 3, 0, 0, 0);
            const __m512i sidx =
                _mm512_setr_epi32(4 * s, 4 * s, 4 * s, 4 * s, 4 * s + 1, 4 * s + 1, 4 * s + 1,
                                  4 * s + 1, 4 * s + 2, 4 * s + 2, 4 * s + 2, 4 * s + 2, 4 * s + 3,
                                  4 * s + 3, 4 * s + 3, 4 * s + 3);
            __m512i alo[4], ahi[4], ci[4];
            __m512 sda[4];
            for (int c = 0; c < C; c++) {
                const uint8_t *q = act[c].qs + 32 * (b + 4 * s);
                alo[c] = _mm512_loadu_si512(q);
                ahi[c] = _mm512_loadu_si512(q + 64);
                ci[c] = _mm512_maskz_permutexvar_epi32(0x1111, cidx, ns[c]);
                if (C > 1)
                    sda[c] = _mm512_permutexvar_ps(sidx, _mm512_castps256_ps512(da[c]));
            }
            for (int i = 0; i < R; i++) {
                const uint8_t *p = w[i] + off + (size_t)(4 * s * bs);
                __m512i v = load4x16(p + (f == F_Q4_0 ? 2 : 1), bs);
                __m512i lo = _mm512_and_si512(v, m0f);
                __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m0f);
                if (f == F_MXFP4) {
                    lo = _mm512_shuffle_epi8(tab, lo);
                    hi = _mm512_shuffle_epi8(tab, hi);
                }
                const __m512 sdw = _mm512_permutexvar_ps(sidx, _mm512_castps256_ps512(dw[i]));
                for (int c = 0; c < C; c++) {
                    __m512i d = _mm512_dpbusd_epi32(ci[c], lo, alo[c]);
                    d = _mm512_dpbusd_epi32(d, hi, ahi[c]);
                    __m512 fd = _mm512_cvtepi32_ps(d);
                    if (C > 1)
                        fd = _mm512_mul_ps(fd, sda[c]);
                    acc[i][c] = _mm512_fmadd_ps(fd, sdw, acc[i][c]);
                }
            }
        }
    } else {
        const __m512i x80 = _mm512_set1_epi8((char)0x80);
        for (int t = 0; t < 4; t++) {
            const __m512i cidx =
                _mm512_setr_epi32(2 * t, 0, 0, 0, 0, 0, 0, 0, 2 * t + 1, 0, 0, 0, 0, 0, 0, 0);
            const __m512i sidx = _mm512_setr_epi32(2 * t, 2 * t, 2 * t, 2 * t, 2 * t, 2 * t, 2 * t,
                                                   2 * t, 2 * t + 1, 2 * t + 1, 2 * t + 1,
                                                   2 * t + 1, 2 * t + 1, 2 * t + 1, 2 * t + 1,
                                                   2 * t + 1);
            __m512i av[4], ci[4];
            __m512 sda[4];
            for (int c = 0; c < C; c++) {
                av[c] = _mm512_loadu_si512(act[c].qs + 32 * (b + 2 * t));
                ci[c] = _mm512_maskz_permutexvar_epi32(0x0101, cidx, ns[c]);
                if (C > 1)
                    sda[c] = _mm512_permutexvar_ps(sidx, _mm512_castps256_ps512(da[c]));
            }
            for (int i = 0; i < R; i++) {
                const uint8_t *p = w[i] + off + (size_t)(2 * t * bs);
                __m512i v = _mm512_inserti64x4(
                    _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(p + 2))),
                    _mm256_loadu_si256((const __m256i *)(p + 36)), 1);
                v = _mm512_xor_si512(v, x80);
                const __m512 sdw = _mm512_permutexvar_ps(sidx, _mm512_castps256_ps512(dw[i]));
                for (int c = 0; c < C; c++) {
                    __m512 fd = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(ci[c], v, av[c]));
                    if (C > 1)
                        fd = _mm512_mul_ps(fd, sda[c]);
                    acc[i][c] = _mm512_fmadd_ps(fd, sdw, acc[i][c]);
                }
            }
        }
    }
}

/* R rows from r against C columns from c0, whole k. */
AI void b32_rows_rc(int f, int R, int C, const struct owb_mm_args *a, int64_t r, int64_t c0)
{
    const int bs = b32_size(f);
    const int64_t nb = a->k / OWB_QK, nbf = nb / 8 * 8;
    const uint8_t *w[4];
    struct b32_act act[4];
    __m512 acc[4][4];
    for (int i = 0; i < R; i++)
        w[i] = a->w + (size_t)(r + i) * a->w_row_bytes;
    for (int c = 0; c < C; c++) {
        const uint8_t *row = a->act + (size_t)(c0 + c) * a->act_row_bytes;
        act[c].qs = row + owb_mm_q8_0_qs_off(a->k);
        act[c].d = (const float *)(row + owb_mm_q8_0_d_off(a->k));
        act[c].ns = (const int32_t *)(row + owb_mm_q8_0_sum_off(a->k));
        for (int i = 0; i < R; i++)
            acc[i][c] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < nbf; b += 8)
        b32_group8(f, R, C, w, (size_t)(b * bs), act, b, acc);
    if (nbf < nb) {
        /* the last partial group from zero-padded copies (the padded activations are zero too) */
        uint8_t tail[4][8 * 34];
        const uint8_t *tw[4];
        for (int i = 0; i < R; i++) {
            memset(tail[i], 0, sizeof tail[i]);
            memcpy(tail[i], w[i] + nbf * bs, (size_t)((nb - nbf) * bs));
            tw[i] = tail[i];
        }
        b32_group8(f, R, C, tw, 0, act, nbf, acc);
    }
    for (int c = 0; c < C; c++)
        for (int i = 0; i < R; i++)
            a->y[(c0 + c) * a->ldy + r + i] = _mm512_reduce_add_ps(acc[i][c]);
}

/* Rows [r0, r1) in groups of R (tail rows one at a time: same per-row arithmetic). */
#define ROWS_LOOP(R, call1, callR)                                                                 \
    do {                                                                                           \
        int64_t r_ = r0;                                                                           \
        for (; r_ + (R) <= r1; r_ += (R))                                                          \
            callR;                                                                                 \
        for (; r_ < r1; r_++)                                                                      \
            call1;                                                                                 \
    } while (0)

AI void b32_rows(int f, const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    for (int64_t c0 = 0; c0 < a->batch;) {
        const int64_t nc = a->batch - c0;
        if (nc >= 4) {
            ROWS_LOOP(2, b32_rows_rc(f, 1, 4, a, r_, c0), b32_rows_rc(f, 2, 4, a, r_, c0));
            c0 += 4;
        } else if (nc == 3) {
            ROWS_LOOP(2, b32_rows_rc(f, 1, 3, a, r_, c0), b32_rows_rc(f, 2, 3, a, r_, c0));
            c0 += 3;
        } else if (nc == 2) {
            ROWS_LOOP(4, b32_rows_rc(f, 1, 2, a, r_, c0), b32_rows_rc(f, 4, 2, a, r_, c0));
            c0 += 2;
        } else {
            ROWS_LOOP(4, b32_rows_rc(f, 1, 1, a, r_, c0), b32_rows_rc(f, 4, 1, a, r_, c0));
            c0 += 1;
        }
    }
}

static void rows_q4_0(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    b32_rows(F_Q4_0, a, r0, r1);
}

static void rows_q8_0(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    b32_rows(F_Q8_0, a, r0, r1);
}

static void rows_mxfp4(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    b32_rows(F_MXFP4, a, r0, r1);
}

/* ---------------------------------------------------------------- float formats: GEMV ---- */

enum { F_F32, F_F16, F_BF16 };

AI __m512 fl_load(int f, const uint8_t *w, int64_t i)
{
    if (f == F_F32)
        return _mm512_loadu_ps((const float *)w + i);
    const __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)w + i));
    if (f == F_F16)
        return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

AI __m512 fl_load_mask(int f, const uint8_t *w, int64_t i, __mmask16 m)
{
    if (f == F_F32)
        return _mm512_maskz_loadu_ps(m, (const float *)w + i);
    const __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)w + i);
    if (f == F_F16)
        return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

AI void fl_rows_rc(int f, int R, int C, const struct owb_mm_args *a, int64_t r, int64_t c0)
{
    const uint8_t *w[4];
    const float *x[4];
    __m512 acc[4][4];
    for (int i = 0; i < R; i++)
        w[i] = a->w + (size_t)(r + i) * a->w_row_bytes;
    for (int c = 0; c < C; c++) {
        x[c] = a->x + (c0 + c) * a->ldx;
        for (int i = 0; i < R; i++)
            acc[i][c] = _mm512_setzero_ps();
    }
    int64_t j = 0;
    for (; j + 16 <= a->k; j += 16) {
        __m512 xv[4];
        for (int c = 0; c < C; c++)
            xv[c] = _mm512_loadu_ps(x[c] + j);
        for (int i = 0; i < R; i++) {
            const __m512 wv = fl_load(f, w[i], j);
            for (int c = 0; c < C; c++)
                acc[i][c] = _mm512_fmadd_ps(wv, xv[c], acc[i][c]);
        }
    }
    if (j < a->k) {
        const __mmask16 m = (__mmask16)((1u << (a->k - j)) - 1u);
        __m512 xv[4];
        for (int c = 0; c < C; c++)
            xv[c] = _mm512_maskz_loadu_ps(m, x[c] + j);
        for (int i = 0; i < R; i++) {
            const __m512 wv = fl_load_mask(f, w[i], j, m);
            for (int c = 0; c < C; c++)
                acc[i][c] = _mm512_fmadd_ps(wv, xv[c], acc[i][c]);
        }
    }
    for (int c = 0; c < C; c++)
        for (int i = 0; i < R; i++)
            a->y[(c0 + c) * a->ldy + r + i] = _mm512_reduce_add_ps(acc[i][c]);
}

AI void fl_rows(int f, const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    for (int64_t c0 = 0; c0 < a->batch;) {
        const int64_t nc = a->batch - c0;
        if (nc >= 4) {
            ROWS_LOOP(4, fl_rows_rc(f, 1, 4, a, r_, c0), fl_rows_rc(f, 4, 4, a, r_, c0));
            c0 += 4;
        } else if (nc >= 2) {
            ROWS_LOOP(4, fl_rows_rc(f, 1, 2, a, r_, c0), fl_rows_rc(f, 4, 2, a, r_, c0));
            c0 += 2;
        } else {
            ROWS_LOOP(4, fl_rows_rc(f, 1, 1, a, r_, c0), fl_rows_rc(f, 4, 1, a, r_, c0));
            c0 += 1;
        }
    }
}

static void rows_f32(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    fl_rows(F_F32, a, r0, r1);
}

static void rows_f16(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    fl_rows(F_F16, a, r0, r1);
}

static void rows_bf16(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    fl_rows(F_BF16, a, r0, r1);
}

/* ------------------------------------------------------------------ k-quants: GEMV ---- */

struct qk_act {
    const struct owb_block_q8_K *blk;
};

/* q4_K scales and mins of one super-block as 16 words: sc[0..7], m[0..7] (ggml's utmp trick). */
AI __m256i q4k_scales16(const uint8_t *s)
{
    uint32_t u[4];
    memcpy(u, s, 12);
    const uint32_t k1 = 0x3f3f3f3f, k2 = 0x0f0f0f0f, k3 = 0x03030303;
    u[3] = ((u[2] >> 4) & k2) | (((u[1] >> 6) & k3) << 4);
    const uint32_t ua = u[1] & k1;
    u[1] = (u[2] & k2) | (((u[0] >> 6) & k3) << 4);
    u[2] = ua;
    u[0] &= k1;
    return _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)u));
}

static const uint16_t idx_q4k_pat[4][32] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
    {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5},
    {6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7},
};
static const uint16_t idx_q4k_mins[16] = {8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15};
static const uint16_t idx_q6k_pat[4][32] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7},
    {8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9, 10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11,
     11, 11, 11, 11},
    {12, 12, 12, 12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13, 14, 14, 14, 14, 14, 14, 14, 14,
     15, 15, 15, 15, 15, 15, 15, 15},
};

enum { F_Q4_K, F_Q6_K };

AI void qk_rows_rc(int f, int R, int C, const struct owb_mm_args *a, int64_t r, int64_t c0)
{
    const int64_t nb = a->k / OWB_QK_K;
    const size_t bs = f == F_Q4_K ? sizeof(struct owb_block_q4_K) : sizeof(struct owb_block_q6_K);
    const uint8_t *w[4];
    const struct owb_block_q8_K *ab[4];
    __m512 acc[4][4];
    for (int i = 0; i < R; i++)
        w[i] = a->w + (size_t)(r + i) * a->w_row_bytes;
    for (int c = 0; c < C; c++) {
        ab[c] = (const struct owb_block_q8_K *)(a->act + (size_t)(c0 + c) * a->act_row_bytes);
        for (int i = 0; i < R; i++)
            acc[i][c] = _mm512_setzero_ps();
    }
    const __m512i m0f = _mm512_set1_epi8(0x0f);
    for (int64_t sb = 0; sb < nb; sb++) {
        for (int i = 0; i < R; i++) {
            const uint8_t *blk = w[i] + (size_t)sb * bs;
            __m512i q[4], pat[4];
            float dw, dmin = 0.0f;
            __m256i mdup = _mm256_setzero_si256(), s16;
            if (f == F_Q4_K) {
                const struct owb_block_q4_K *x = (const struct owb_block_q4_K *)blk;
                dw = _cvtsh_ss(x->d);
                dmin = _cvtsh_ss(x->dmin);
                s16 = q4k_scales16(x->scales);
                const __m512i s512 = _mm512_castsi256_si512(s16);
                for (int z = 0; z < 4; z++) {
                    const __m512i v = _mm512_broadcast_i64x4(
                        _mm256_loadu_si256((const __m256i *)(x->qs + 32 * z)));
                    q[z] = _mm512_and_si512(
                        _mm512_srlv_epi16(v, _mm512_setr_epi64(0, 0, 0, 0, 0x0004000400040004LL,
                                                               0x0004000400040004LL,
                                                               0x0004000400040004LL,
                                                               0x0004000400040004LL)),
                        m0f);
                    pat[z] = _mm512_permutexvar_epi16(_mm512_loadu_si512(idx_q4k_pat[z]), s512);
                }
                mdup = _mm256_permutexvar_epi16(_mm256_loadu_si256((const __m256i *)idx_q4k_mins),
                                                s16);
            } else {
                const struct owb_block_q6_K *x = (const struct owb_block_q6_K *)blk;
                dw = _cvtsh_ss(x->d);
                s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
                const __m512i s512 = _mm512_castsi256_si512(s16);
                const __m512i m30 = _mm512_set1_epi8(0x30);
                for (int h = 0; h < 2; h++) {
                    const __m512i l = _mm512_loadu_si512(x->ql + 64 * h);
                    const __m512i hb = _mm512_broadcast_i64x4(
                        _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h)));
                    const __m512i sh_a = _mm512_setr_epi64(
                        0x0004000400040004LL, 0x0004000400040004LL, 0x0004000400040004LL,
                        0x0004000400040004LL, 0x0002000200020002LL, 0x0002000200020002LL,
                        0x0002000200020002LL, 0x0002000200020002LL);
                    const __m512i sh_b = _mm512_setr_epi64(0, 0, 0, 0, 0x0002000200020002LL,
                                                           0x0002000200020002LL,
                                                           0x0002000200020002LL,
                                                           0x0002000200020002LL);
                    q[2 * h] = _mm512_or_si512(
                        _mm512_and_si512(l, m0f),
                        _mm512_and_si512(_mm512_sllv_epi16(hb, sh_a), m30));
                    q[2 * h + 1] = _mm512_or_si512(
                        _mm512_and_si512(_mm512_srli_epi16(l, 4), m0f),
                        _mm512_and_si512(_mm512_srlv_epi16(hb, sh_b), m30));
                }
                for (int z = 0; z < 4; z++)
                    pat[z] = _mm512_permutexvar_epi16(_mm512_loadu_si512(idx_q6k_pat[z]), s512);
            }
            for (int c = 0; c < C; c++) {
                const struct owb_block_q8_K *y = &ab[c][sb];
                __m512i isum = _mm512_setzero_si512();
                for (int z = 0; z < 4; z++) {
                    const __m512i p =
                        _mm512_maddubs_epi16(q[z], _mm512_loadu_si512(y->qs + 64 * z));
                    isum = _mm512_dpwssd_epi32(isum, p, pat[z]);
                }
                const __m256i bsums = _mm256_loadu_si256((const __m256i *)y->bsums);
                if (f == F_Q4_K) {
                    const __m256i mins = _mm256_madd_epi16(bsums, mdup);
                    acc[i][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum),
                                                _mm512_set1_ps(dw * y->d), acc[i][c]);
                    acc[i][c] = _mm512_fmadd_ps(
                        _mm512_cvtepi32_ps(_mm512_zextsi256_si512(mins)),
                        _mm512_set1_ps(-(dmin * y->d)), acc[i][c]);
                } else {
                    const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(bsums, s16), 5);
                    isum = _mm512_sub_epi32(isum, _mm512_zextsi256_si512(corr));
                    acc[i][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum),
                                                _mm512_set1_ps(dw * y->d), acc[i][c]);
                }
            }
        }
    }
    for (int c = 0; c < C; c++)
        for (int i = 0; i < R; i++)
            a->y[(c0 + c) * a->ldy + r + i] = _mm512_reduce_add_ps(acc[i][c]);
}

AI void qk_rows(int f, const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    for (int64_t c0 = 0; c0 < a->batch;) {
        const int64_t nc = a->batch - c0;
        if (nc >= 4) {
            ROWS_LOOP(2, qk_rows_rc(f, 1, 4, a, r_, c0), qk_rows_rc(f, 2, 4, a, r_, c0));
            c0 += 4;
        } else if (nc >= 2) {
            ROWS_LOOP(2, qk_rows_rc(f, 1, 2, a, r_, c0), qk_rows_rc(f, 2, 2, a, r_, c0));
            c0 += 2;
        } else {
            ROWS_LOOP(2, qk_rows_rc(f, 1, 1, a, r_, c0), qk_rows_rc(f, 2, 1, a, r_, c0));
            c0 += 1;
        }
    }
}

static void rows_q4_K(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    qk_rows(F_Q4_K, a, r0, r1);
}

static void rows_q6_K(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    qk_rows(F_Q6_K, a, r0, r1);
}

/* ------------------------------------------------------------------ GEMM (batch >= 16) ---- */

/*
 * Register-blocked tiles: 16 weight rows sit in the 16 lanes of a register, so one vpdpbusd (or FMA)
 * multiplies them with one activation value broadcast from memory, for GEMM_C columns at once. A tile
 * of 16 rows x GEMM_KC elements is unpacked once into that transposed layout (int8 groups of four
 * quants per row, or f32) and reused for every column of the batch; the partial sums of each
 * GEMM_KC slice are added into Y, in the same order whatever the row range.
 */
#define GEMM_C 8
#define GEMM_KC_Q 512 /* int8 tiles: 16 blocks, 8 KiB of quants + 1 KiB of scales */
#define GEMM_KC_F 256 /* f32 tiles: 16 KiB */
#define GEMM_RB 128   /* rows per outer block (the Y block stays in L2 across k slices) */

struct gemm_tile_q {
    uint8_t q[GEMM_KC_Q / 32][8][64]; /* [block][group of 4 quants][row x 4 bytes] */
    float d[GEMM_KC_Q / 32][16];      /* weight block scales per row */
};

/* Unpack blocks [jb, jb + nj) of rows r..r+nr (nr <= 16; missing rows are zero) into t. */
AI void gemm_pack_q(int f, const struct owb_mm_args *a, int64_t r, int nr, int64_t jb, int nj,
                    struct gemm_tile_q *t)
{
    const int bs = b32_size(f);
    const __m256i vidx = _mm256_setr_epi32(0, 64, 128, 192, 256, 320, 384, 448);
    const __m256i m0f = _mm256_set1_epi8(0x0f);
    const __m256i tab = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)mxfp4_u));
    if (nr < 16)
        memset(t, 0, sizeof *t);
    for (int i = 0; i < nr; i++) {
        const uint8_t *row = a->w + (size_t)(r + i) * a->w_row_bytes + (size_t)(jb * bs);
        for (int j = 0; j < nj; j++) {
            const uint8_t *blk = row + (size_t)(j * bs);
            __m256i u;
            float d;
            if (f == F_Q8_0) {
                u = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + 2)),
                                     _mm256_set1_epi8((char)0x80));
                d = _cvtsh_ss((unsigned short)(blk[0] | blk[1] << 8));
            } else {
                const __m128i v = _mm_loadu_si128((const __m128i *)(blk + (f == F_Q4_0 ? 2 : 1)));
                const __m256i vv = _mm256_set_m128i(_mm_srli_epi16(v, 4), v);
                u = _mm256_and_si256(vv, m0f);
                if (f == F_MXFP4) {
                    u = _mm256_shuffle_epi8(tab, u);
                    const uint32_t e = blk[0];
                    const uint32_t bits = e < 2 ? 0x00200000u << e : (e - 1) << 23;
                    memcpy(&d, &bits, sizeof d);
                } else {
                    d = _cvtsh_ss((unsigned short)(blk[0] | blk[1] << 8));
                }
            }
            _mm256_i32scatter_epi32((int *)(t->q[j][0] + 4 * i), vidx, u, 1);
            t->d[j][i] = d;
        }
    }
}

/* C columns from c0 against a packed tile of nj blocks (block jb of the activations first). */
AI void gemm_kernel_q(int C, const struct owb_mm_args *a, const struct gemm_tile_q *t, int64_t jb,
                      int nj, int64_t c0, __m512 acc[GEMM_C])
{
    const struct owb_block_q8_0 *blk[GEMM_C];
    const float *da[GEMM_C];
    const int32_t *ns[GEMM_C];
    for (int c = 0; c < C; c++) {
        const uint8_t *row = a->act + (size_t)(c0 + c) * a->act_row_bytes;
        blk[c] = (const struct owb_block_q8_0 *)row + jb;
        da[c] = (const float *)(row + owb_mm_q8_0_d_off(a->k)) + jb;
        ns[c] = (const int32_t *)(row + owb_mm_q8_0_sum_off(a->k)) + jb;
        acc[c] = _mm512_setzero_ps();
    }
    for (int j = 0; j < nj; j++) {
        __m512i ai[GEMM_C];
        for (int c = 0; c < C; c++)
            ai[c] = _mm512_set1_epi32(ns[c][j]);
        for (int g = 0; g < 8; g++) {
            const __m512i wv = _mm512_load_si512(t->q[j][g]);
            for (int c = 0; c < C; c++) {
                int32_t q4;
                memcpy(&q4, blk[c][j].qs + 4 * g, 4);
                ai[c] = _mm512_dpbusd_epi32(ai[c], wv, _mm512_set1_epi32(q4));
            }
        }
        const __m512 dw = _mm512_load_ps(t->d[j]);
        for (int c = 0; c < C; c++)
            acc[c] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(ai[c]),
                                                   _mm512_set1_ps(da[c][j])),
                                     dw, acc[c]);
    }
}

/* Add (or store, on the first k slice) C columns of 16 rows from r (nr valid) into Y. */
AI void gemm_store(const struct owb_mm_args *a, int C, int64_t r, int nr, int64_t c0, int first,
                   const __m512 acc[GEMM_C])
{
    const __mmask16 m = (__mmask16)(nr >= 16 ? 0xffffu : (1u << nr) - 1u);
    for (int c = 0; c < C; c++) {
        float *y = a->y + (c0 + c) * a->ldy + r;
        __m512 v = acc[c];
        if (!first)
            v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, y), v);
        _mm512_mask_storeu_ps(y, m, v);
    }
}

AI void gemm_q(int f, const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    _Alignas(64) struct gemm_tile_q t;
    const int64_t nb = a->k / OWB_QK;
    for (int64_t rb = r0; rb < r1; rb += GEMM_RB) {
        const int64_t re = rb + GEMM_RB < r1 ? rb + GEMM_RB : r1;
        for (int64_t jb = 0; jb < nb; jb += GEMM_KC_Q / 32) {
            const int nj = (int)(nb - jb < GEMM_KC_Q / 32 ? nb - jb : GEMM_KC_Q / 32);
            for (int64_t r = rb; r < re; r += 16) {
                const int nr = (int)(re - r < 16 ? re - r : 16);
                gemm_pack_q(f, a, r, nr, jb, nj, &t);
                int64_t c0 = 0;
                __m512 acc[GEMM_C];
                for (; c0 + GEMM_C <= a->batch; c0 += GEMM_C) {
                    gemm_kernel_q(GEMM_C, a, &t, jb, nj, c0, acc);
                    gemm_store(a, GEMM_C, r, nr, c0, jb == 0, acc);
                }
                for (; c0 < a->batch; c0++) {
                    gemm_kernel_q(1, a, &t, jb, nj, c0, acc);
                    gemm_store(a, 1, r, nr, c0, jb == 0, acc);
                }
            }
        }
    }
}

static void gemm_q4_0(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    gemm_q(F_Q4_0, a, r0, r1);
}

static void gemm_q8_0(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    gemm_q(F_Q8_0, a, r0, r1);
}

static void gemm_mxfp4(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    gemm_q(F_MXFP4, a, r0, r1);
}

/* f32 tile: [element][row] */
struct gemm_tile_f {
    float w[GEMM_KC_F][16];
};

AI void gemm_pack_f(int f, const struct owb_mm_args *a, int64_t r, int nr, int64_t kb, int nk,
                    struct gemm_tile_f *t)
{
    const __m512i vidx = _mm512_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176,
                                           192, 208, 224, 240);
    if (nr < 16 || nk < GEMM_KC_F)
        memset(t, 0, sizeof *t);
    for (int i = 0; i < nr; i++) {
        const uint8_t *row = a->w + (size_t)(r + i) * a->w_row_bytes;
        int j = 0;
        for (; j + 16 <= nk; j += 16)
            _mm512_i32scatter_ps(&t->w[j][i], vidx, fl_load(f, row, kb + j), 4);
        if (j < nk) {
            const __mmask16 m = (__mmask16)((1u << (nk - j)) - 1u);
            _mm512_mask_i32scatter_ps(&t->w[j][i], m, vidx, fl_load_mask(f, row, kb + j, m), 4);
        }
    }
}

AI void gemm_kernel_f(int C, const struct owb_mm_args *a, const struct gemm_tile_f *t, int64_t kb,
                      int nk, int64_t c0, __m512 acc[GEMM_C])
{
    const float *x[GEMM_C];
    for (int c = 0; c < C; c++) {
        x[c] = a->x + (c0 + c) * a->ldx + kb;
        acc[c] = _mm512_setzero_ps();
    }
    for (int j = 0; j < nk; j++) {
        const __m512 wv = _mm512_load_ps(t->w[j]);
        for (int c = 0; c < C; c++)
            acc[c] = _mm512_fmadd_ps(wv, _mm512_set1_ps(x[c][j]), acc[c]);
    }
}

AI void gemm_f(int f, const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    _Alignas(64) struct gemm_tile_f t;
    for (int64_t rb = r0; rb < r1; rb += GEMM_RB) {
        const int64_t re = rb + GEMM_RB < r1 ? rb + GEMM_RB : r1;
        for (int64_t kb = 0; kb < a->k; kb += GEMM_KC_F) {
            const int nk = (int)(a->k - kb < GEMM_KC_F ? a->k - kb : GEMM_KC_F);
            for (int64_t r = rb; r < re; r += 16) {
                const int nr = (int)(re - r < 16 ? re - r : 16);
                gemm_pack_f(f, a, r, nr, kb, nk, &t);
                int64_t c0 = 0;
                __m512 acc[GEMM_C];
                for (; c0 + GEMM_C <= a->batch; c0 += GEMM_C) {
                    gemm_kernel_f(GEMM_C, a, &t, kb, nk, c0, acc);
                    gemm_store(a, GEMM_C, r, nr, c0, kb == 0, acc);
                }
                for (; c0 < a->batch; c0++) {
                    gemm_kernel_f(1, a, &t, kb, nk, c0, acc);
                    gemm_store(a, 1, r, nr, c0, kb == 0, acc);
                }
            }
        }
    }
}

static void gemm_f32(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    gemm_f(F_F32, a, r0, r1);
}

static void gemm_f16(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    gemm_f(F_F16, a, r0, r1);
}

static void gemm_bf16(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    gemm_f(F_BF16, a, r0, r1);
}

/* ------------------------------------------------------------------------------ table ---- */

const struct owb_mm_kernel owb_mm_kernels_avx512[] = {
    {OWB_TYPE_F32, OWB_ISA_AVX512, 1, 0, "avx512 f32 fma gemv", rows_f32},
    {OWB_TYPE_F16, OWB_ISA_AVX512, 1, 0, "avx512 f16xf32 fma gemv", rows_f16},
    {OWB_TYPE_BF16, OWB_ISA_AVX512, 1, 0, "avx512 bf16xf32 fma gemv", rows_bf16},
    {OWB_TYPE_Q4_0, OWB_ISA_AVX512, 1, 1, "avx512-vnni q4_0xq8_0 gemv", rows_q4_0},
    {OWB_TYPE_Q8_0, OWB_ISA_AVX512, 1, 1, "avx512-vnni q8_0xq8_0 gemv", rows_q8_0},
    {OWB_TYPE_MXFP4, OWB_ISA_AVX512, 1, 1, "avx512-vnni mxfp4xq8_0 gemv", rows_mxfp4},
    {OWB_TYPE_Q4_K, OWB_ISA_AVX512, 1, 1, "avx512-vnni q4_Kxq8_K gemv", rows_q4_K},
    {OWB_TYPE_Q6_K, OWB_ISA_AVX512, 1, 1, "avx512-vnni q6_Kxq8_K gemv", rows_q6_K},
    {OWB_TYPE_F32, OWB_ISA_AVX512, 16, 0, "avx512 f32 fma gemm16x8", gemm_f32},
    {OWB_TYPE_F16, OWB_ISA_AVX512, 16, 0, "avx512 f16xf32 fma gemm16x8", gemm_f16},
    {OWB_TYPE_BF16, OWB_ISA_AVX512, 16, 0, "avx512 bf16xf32 fma gemm16x8", gemm_bf16},
    {OWB_TYPE_Q4_0, OWB_ISA_AVX512, 16, 1, "avx512-vnni q4_0xq8_0 gemm16x8", gemm_q4_0},
    {OWB_TYPE_Q8_0, OWB_ISA_AVX512, 16, 1, "avx512-vnni q8_0xq8_0 gemm16x8", gemm_q8_0},
    {OWB_TYPE_MXFP4, OWB_ISA_AVX512, 16, 1, "avx512-vnni mxfp4xq8_0 gemm16x8", gemm_mxfp4},
    {OWB_TYPE_COUNT, OWB_ISA_AVX512, 0, 0, NULL, NULL},
};
