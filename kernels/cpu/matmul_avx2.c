/* SPDX-License-Identifier: MIT */
/*
 * matmul_avx2.c: AVX2 + FMA + F16C kernels for owb_matmul_rows and the AVX2 activation converters
 * (q8_0, q8_K, bf16: same bytes as the reference ones). Integer dots use vpmaddubsw (unsigned x
 * signed bytes to saturating int16 pairs) then vpmaddwd: q4_0 and mxfp4 weights are made unsigned
 * (nibble, table value + 12; products stay far below the int16 limit) and their offset comes back
 * through the activation row's nsum extra; q8_0 uses ggml's sign trick (|w| times sign(w) * a). One
 * 128-bit lane holds one block, the block scales of eight blocks come from one gather, and the
 * float scaling happens once per two blocks. The k-quants follow ggml's AVX2 dots. bf16 weights and
 * their bf16 activations are both widened to f32 for FMA. R weight rows share
 * each activation load; every output element sees the same operation sequence whatever R is.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/cpu/fl_avx2.h"
#include "kernels/cpu/matmul_cpu.h"

/* ---------------------------------------------------------------- activation preparation ---- */

static float hmax8(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static int32_t hsum8i(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

static float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AI __m256 abs8(__m256 v)
{
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

/* roundf() per lane, exactly (see the AVX-512 twin). */
AI __m256i roundf8(__m256 t)
{
    __m256 r = _mm256_round_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 f = abs8(_mm256_sub_ps(t, r));
    __m256 ge = _mm256_cmp_ps(f, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    __m256 one = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(t, _mm256_set1_ps(-0.0f)));
    return _mm256_cvtps_epi32(_mm256_add_ps(r, _mm256_and_ps(ge, one)));
}

/* 32 int32 (four vectors, each in [-128, 127]) to 32 int8 in order. */
AI __m256i pack4x8(__m256i a, __m256i b, __m256i c, __m256i d)
{
    __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    __m256i q = _mm256_packs_epi16(ab, cd);
    return _mm256_permutevar8x32_epi32(q, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
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
        __m256 v[4];
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < 4; j++) {
            v[j] = _mm256_loadu_ps(x + 32 * i + 8 * j);
            m = _mm256_max_ps(m, abs8(v[j]));
        }
        const float amax = hmax8(m);
        const float d = amax / 127;
        const float id = d ? 1.0f / d : 0.0f;
        __m256i q[4];
        for (int j = 0; j < 4; j++)
            q[j] = roundf8(_mm256_mul_ps(v[j], _mm256_set1_ps(id)));
        const __m256i b = pack4x8(q[0], q[1], q[2], q[3]);
        const unsigned short h = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        blk[i].d = h;
        _mm256_storeu_si256((__m256i *)blk[i].qs, b);
        _mm_storeu_si128((__m128i *)lo, _mm256_castsi256_si128(b));
        _mm_storeu_si128((__m128i *)hi, _mm256_extracti128_si256(b, 1));
        dd[i] = _cvtsh_ss(h);
        ns[i] = -off * hsum8i(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]),
                                               _mm256_add_epi32(q[2], q[3])));
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

static void prep_q8_K(const float *x, uint8_t *row, int64_t k, int off)
{
    (void)off;
    struct owb_block_q8_K *blk = (struct owb_block_q8_K *)row;
    for (int64_t i = 0; i < k / OWB_QK_K; i++, x += OWB_QK_K) {
        struct owb_block_q8_K *y = &blk[i];
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < 32; j++)
            m = _mm256_max_ps(m, abs8(_mm256_loadu_ps(x + 8 * j)));
        const float amax = hmax8(m);
        if (!amax) {
            memset(y, 0, sizeof *y);
            continue;
        }
        float max = 0.0f;
        for (int j = 0; j < 32; j++) {
            int e = _mm256_movemask_ps(
                _mm256_cmp_ps(abs8(_mm256_loadu_ps(x + 8 * j)), _mm256_set1_ps(amax), _CMP_EQ_OQ));
            if (e) {
                max = x[8 * j + __builtin_ctz((unsigned)e)];
                break;
            }
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < 8; j++) {
            __m256i q[4];
            for (int t = 0; t < 4; t++) {
                __m256 f = _mm256_add_ps(
                    _mm256_mul_ps(_mm256_loadu_ps(x + 32 * j + 8 * t), _mm256_set1_ps(iscale)),
                    _mm256_set1_ps(12582912.f));
                q[t] = _mm256_sub_epi32(
                    _mm256_and_si256(_mm256_castps_si256(f), _mm256_set1_epi32(0x007fffff)),
                    _mm256_set1_epi32(0x00400000));
                q[t] = _mm256_min_epi32(q[t], _mm256_set1_epi32(127));
            }
            _mm256_storeu_si256((__m256i *)(y->qs + 32 * j), pack4x8(q[0], q[1], q[2], q[3]));
            y->bsums[2 * j] = (int16_t)hsum8i(_mm256_add_epi32(q[0], q[1]));
            y->bsums[2 * j + 1] = (int16_t)hsum8i(_mm256_add_epi32(q[2], q[3]));
        }
        y->d = 1 / iscale;
    }
}

/* bf16 as ggml_compute_fp32_to_bf16 (see prep_bf16 of matmul_avx512.c), 16 floats at a time; the
 * last k % 16 through a zero-padded copy. */
AI __m256i bf16_rne8(__m256i u)
{
    const __m256i hi = _mm256_srli_epi32(u, 16);
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)),
                                           _mm256_set1_epi32(0x7f800000));
    const __m256i lsb = _mm256_and_si256(hi, _mm256_set1_epi32(1));
    const __m256i r = _mm256_srli_epi32(
        _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb)), 16);
    return _mm256_blendv_epi8(r, _mm256_or_si256(hi, _mm256_set1_epi32(64)), nan);
}

static void prep_bf16(const float *x, uint8_t *row, int64_t k, int off)
{
    (void)off;
    uint16_t *h = (uint16_t *)row;
    for (int64_t i = 0; i < k; i += 16) {
        const int64_t n = k - i < 16 ? k - i : 16;
        float t[16] = {0};
        const float *src = x + i;
        if (n < 16) {
            memcpy(t, src, (size_t)n * sizeof(float));
            src = t;
        }
        const __m256i lo = bf16_rne8(_mm256_castps_si256(_mm256_loadu_ps(src)));
        const __m256i hi = bf16_rne8(_mm256_castps_si256(_mm256_loadu_ps(src + 8)));
        /* packus works per 128-bit lane: 0-3 8-11 4-7 12-15, put back in order */
        const __m256i v = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xd8);
        if (n == 16) {
            _mm256_storeu_si256((__m256i *)(h + i), v);
        } else {
            uint16_t o[16];
            _mm256_storeu_si256((__m256i *)o, v);
            memcpy(h + i, o, (size_t)n * sizeof(uint16_t));
        }
    }
}

owb_mm_prep_fn owb_mm_prep_avx2(enum owb_mm_act_layout layout)
{
    switch (layout) {
    case OWB_MM_ACT_BF16:
        return prep_bf16;
    case OWB_MM_ACT_Q8_0_NAT:
        return prep_q8_0_nat;
    case OWB_MM_ACT_Q8_0_IL4:
    case OWB_MM_ACT_Q8_0_IL4_X8: /* x8 is filled by owb_matmul_prepare */
        return prep_q8_0_il4;
    case OWB_MM_ACT_Q8_K:
        return prep_q8_K;
    default:
        return NULL;
    }
}

/* ------------------------------------------------------- 32-wide integer formats: GEMV ---- */

/* Weight scales of the 8 blocks at p as floats, through one gather of the dwords at the scales
 * (the last one ends 4 bytes after block 7's scale, still inside the 8 blocks). */
AI __m256 b32_wscales8(int f, const uint8_t *p)
{
    const int bs = b32_size(f);
    const __m256i idx = _mm256_setr_epi32(0, bs, 2 * bs, 3 * bs, 4 * bs, 5 * bs, 6 * bs, 7 * bs);
    const __m256i g = _mm256_i32gather_epi32((const int *)p, idx, 1);
    if (f != F_MXFP4) {
        const __m256i h = _mm256_and_si256(g, _mm256_set1_epi32(0xffff));
        const __m128i h8 =
            _mm_packus_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        return _mm256_cvtph_ps(h8);
    }
    const __m256i e = _mm256_and_si256(g, _mm256_set1_epi32(0xff));
    const __m256i nrm = _mm256_slli_epi32(_mm256_sub_epi32(e, _mm256_set1_epi32(1)), 23);
    const __m256i sub = _mm256_sllv_epi32(_mm256_set1_epi32(0x00200000), e);
    const __m256i small = _mm256_cmpgt_epi32(_mm256_set1_epi32(2), e);
    return _mm256_castsi256_ps(_mm256_blendv_epi8(nrm, sub, small));
}

/* Sum of adjacent int16 pairs of a vpmaddubsw result into int32. */
AI __m256i madd1(__m256i p)
{
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* Eight blocks (from block b; weights at w[i] + off) of R rows against C columns. */
AI void b32_group8(int f, int R, int C, const uint8_t *const *w, size_t off,
                   const struct owb_mm_q8_0_act *act, int64_t b, __m256 acc[4][4])
{
    const int bs = b32_size(f);
    __m256 dw[4], da[4];
    __m256i ns[4];
    for (int c = 0; c < C; c++) {
        da[c] = _mm256_loadu_ps(act[c].d + b);
        ns[c] = _mm256_loadu_si256((const __m256i *)(act[c].ns + b));
    }
    for (int i = 0; i < R; i++) {
        dw[i] = b32_wscales8(f, w[i] + off);
        if (C == 1)
            dw[i] = _mm256_mul_ps(dw[i], da[0]);
    }
    for (int s = 0; s < 4; s++) { /* two blocks per step: 2s, 2s + 1 */
        const __m256i sidx = _mm256_setr_epi32(2 * s, 2 * s, 2 * s, 2 * s, 2 * s + 1, 2 * s + 1,
                                               2 * s + 1, 2 * s + 1);
        __m256i alo[4], ahi[4], ci[4];
        __m256 sda[4];
        for (int c = 0; c < C; c++) {
            if (f == F_Q8_0) {
                /* NAT layout: blocks 2s and 2s + 1 whole; regroup as first halves (alo) and
                 * second halves (ahi), block 2s in lane 0 */
                const uint8_t *q = act[c].qs + 32 * (b + 2 * s);
                const __m256i a0 = _mm256_loadu_si256((const __m256i *)q);
                const __m256i a1 = _mm256_loadu_si256((const __m256i *)(q + 32));
                alo[c] = _mm256_permute2x128_si256(a0, a1, 0x20);
                ahi[c] = _mm256_permute2x128_si256(a0, a1, 0x31);
            } else {
                /* IL4: group (b + 2 s) / 4, blocks 2 (s % 2) and 2 (s % 2) + 1 of it */
                const uint8_t *q = act[c].qs + 32 * (b + 4 * (s / 2)) + 32 * (s % 2);
                alo[c] = _mm256_loadu_si256((const __m256i *)q);
                ahi[c] = _mm256_loadu_si256((const __m256i *)(q + 64));
            }
            /* the offset correction of each block into the first int32 of its lane */
            ci[c] = _mm256_and_si256(_mm256_permutevar8x32_epi32(ns[c], sidx),
                                     _mm256_setr_epi32(-1, 0, 0, 0, -1, 0, 0, 0));
            if (C > 1)
                sda[c] = _mm256_permutevar8x32_ps(da[c], sidx);
        }
        for (int i = 0; i < R; i++) {
            const uint8_t *p = w[i] + off + (size_t)(2 * s * bs);
            const __m256 sdw = _mm256_permutevar8x32_ps(dw[i], sidx);
            if (f == F_Q8_0) {
                /* block in 32 bytes; lane 0 takes block 2s, lane 1 block 2s + 1, by halves */
                const __m256i w0 = _mm256_loadu_si256((const __m256i *)(p + 2));
                const __m256i w1 = _mm256_loadu_si256((const __m256i *)(p + 2 + bs));
                const __m256i wl = _mm256_permute2x128_si256(w0, w1, 0x20);
                const __m256i wh = _mm256_permute2x128_si256(w0, w1, 0x31);
                const __m256i ul = _mm256_sign_epi8(wl, wl), uh = _mm256_sign_epi8(wh, wh);
                for (int c = 0; c < C; c++) {
                    const __m256i pl = _mm256_maddubs_epi16(ul, _mm256_sign_epi8(alo[c], wl));
                    const __m256i ph = _mm256_maddubs_epi16(uh, _mm256_sign_epi8(ahi[c], wh));
                    const __m256i d = _mm256_add_epi32(madd1(pl), madd1(ph));
                    __m256 fd = _mm256_cvtepi32_ps(d);
                    if (C > 1)
                        fd = _mm256_mul_ps(fd, sda[c]);
                    acc[i][c] = _mm256_fmadd_ps(fd, sdw, acc[i][c]);
                }
            } else {
                const __m128i q0 = _mm_loadu_si128((const __m128i *)(p + (f == F_Q4_0 ? 2 : 1)));
                const __m128i q1 =
                    _mm_loadu_si128((const __m128i *)(p + bs + (f == F_Q4_0 ? 2 : 1)));
                const __m256i v = _mm256_set_m128i(q1, q0);
                const __m256i m0f = _mm256_set1_epi8(0x0f);
                __m256i lo = _mm256_and_si256(v, m0f);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m0f);
                if (f == F_MXFP4) {
                    const __m256i tab =
                        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)mxfp4_u));
                    lo = _mm256_shuffle_epi8(tab, lo);
                    hi = _mm256_shuffle_epi8(tab, hi);
                }
                for (int c = 0; c < C; c++) {
                    const __m256i p16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, alo[c]),
                                                         _mm256_maddubs_epi16(hi, ahi[c]));
                    const __m256i d = _mm256_add_epi32(madd1(p16), ci[c]);
                    __m256 fd = _mm256_cvtepi32_ps(d);
                    if (C > 1)
                        fd = _mm256_mul_ps(fd, sda[c]);
                    acc[i][c] = _mm256_fmadd_ps(fd, sdw, acc[i][c]);
                }
            }
        }
    }
}

AI void b32_rows_rc(int f, int R, int C, const struct owb_mm_args *a, int64_t r, int64_t c0)
{
    const int bs = b32_size(f);
    const int64_t nb = a->k / OWB_QK, nbf = nb / 8 * 8;
    const uint8_t *w[4];
    struct owb_mm_q8_0_act act[4];
    __m256 acc[4][4];
    for (int i = 0; i < R; i++)
        w[i] = a->w + (size_t)(r + i) * a->w_row_bytes;
    for (int c = 0; c < C; c++) {
        const uint8_t *row = a->act + (size_t)(c0 + c) * a->act_row_bytes;
        act[c] = owb_mm_q8_0_act_view(row, a->k);
        for (int i = 0; i < R; i++)
            acc[i][c] = _mm256_setzero_ps();
    }
    /* rows ahead of this pass, prefetched as it goes */
    const int pf_on = a->w_row_bytes > KPF_MIN_ROW_BYTES;
    const uintptr_t nxt =
        (uintptr_t)a->w + (uintptr_t)(r + kpf_ahead_rows(R, a->w_row_bytes)) * a->w_row_bytes;
    uintptr_t pf = nxt;
    for (int64_t b = 0; b < nbf; b += 8) {
        b32_group8(f, R, C, w, (size_t)(b * bs), act, b, acc);
        if (pf_on)
            pf = kpf_advance(pf, nxt + (uintptr_t)R * (uintptr_t)((b + 8) * bs));
    }
    if (nbf < nb) {
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
            a->y[(c0 + c) * a->ldy + r + i] = hsum8(acc[i][c]);
}

AI void b32_rows(int f, const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    for (int64_t c0 = 0; c0 < a->batch;) {
        const int64_t nc = a->batch - c0;
        if (nc >= 4) {
            ROWS_LOOP(2, b32_rows_rc(f, 1, 4, a, r_, c0), b32_rows_rc(f, 2, 4, a, r_, c0));
            c0 += 4;
        } else if (nc >= 2) {
            ROWS_LOOP(2, b32_rows_rc(f, 1, 2, a, r_, c0), b32_rows_rc(f, 2, 2, a, r_, c0));
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

/* R weight rows of format f against C activation columns of format xf: F_F32 (X read as is, for
 * f32 and f16 weights) or F_BF16 (the prepared bf16 rows, widened to f32 by a shift). */
AI void fl_rows_rc(int f, int xf, int R, int C, const struct owb_mm_args *a, int64_t r, int64_t c0)
{
    const size_t es = f == F_F32 ? 4 : 2, xs = xf == F_F32 ? 4 : 2;
    const uint8_t *w[4];
    const uint8_t *x[4];
    __m256 acc[4][4];
    for (int i = 0; i < R; i++)
        w[i] = a->w + (size_t)(r + i) * a->w_row_bytes;
    for (int c = 0; c < C; c++) {
        x[c] = xf == F_F32 ? (const uint8_t *)(a->x + (c0 + c) * a->ldx)
                           : a->act + (size_t)(c0 + c) * a->act_row_bytes;
        for (int i = 0; i < R; i++)
            acc[i][c] = _mm256_setzero_ps();
    }
    int64_t j = 0;
    for (; j + 8 <= a->k; j += 8) {
        __m256 xv[4];
        for (int c = 0; c < C; c++)
            xv[c] = fl_load(xf, x[c], j);
        for (int i = 0; i < R; i++) {
            const __m256 wv = fl_load(f, w[i], j);
            for (int c = 0; c < C; c++)
                acc[i][c] = _mm256_fmadd_ps(wv, xv[c], acc[i][c]);
        }
    }
    if (j < a->k) {
        /* the last k % 8 elements through zero-padded copies */
        const size_t n = (size_t)(a->k - j);
        uint8_t xt[4][32];
        uint8_t wt[4][32];
        __m256 xv[4];
        for (int c = 0; c < C; c++) {
            memset(xt[c], 0, sizeof xt[c]);
            memcpy(xt[c], x[c] + (size_t)j * xs, n * xs);
            xv[c] = fl_load(xf, xt[c], 0);
        }
        for (int i = 0; i < R; i++) {
            memset(wt[i], 0, sizeof wt[i]);
            memcpy(wt[i], w[i] + (size_t)j * es, n * es);
            const __m256 wv = fl_load(f, wt[i], 0);
            for (int c = 0; c < C; c++)
                acc[i][c] = _mm256_fmadd_ps(wv, xv[c], acc[i][c]);
        }
    }
    for (int c = 0; c < C; c++)
        for (int i = 0; i < R; i++)
            a->y[(c0 + c) * a->ldy + r + i] = hsum8(acc[i][c]);
}

AI void fl_rows(int f, int xf, const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    for (int64_t c0 = 0; c0 < a->batch;) {
        const int64_t nc = a->batch - c0;
        if (nc >= 4) {
            ROWS_LOOP(2, fl_rows_rc(f, xf, 1, 4, a, r_, c0), fl_rows_rc(f, xf, 2, 4, a, r_, c0));
            c0 += 4;
        } else if (nc >= 2) {
            ROWS_LOOP(4, fl_rows_rc(f, xf, 1, 2, a, r_, c0), fl_rows_rc(f, xf, 4, 2, a, r_, c0));
            c0 += 2;
        } else {
            ROWS_LOOP(4, fl_rows_rc(f, xf, 1, 1, a, r_, c0), fl_rows_rc(f, xf, 4, 1, a, r_, c0));
            c0 += 1;
        }
    }
}

static void rows_f32(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    fl_rows(F_F32, F_F32, a, r0, r1);
}

static void rows_f16(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    fl_rows(F_F16, F_F32, a, r0, r1);
}

static void rows_bf16(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    fl_rows(F_BF16, F_BF16, a, r0, r1);
}

/* ------------------------------------------------------------------ k-quants: GEMV ---- */

AI void qk_rows_rc(int f, int R, int C, const struct owb_mm_args *a, int64_t r, int64_t c0)
{
    const int64_t nb = a->k / OWB_QK_K;
    const size_t bs = f == F_Q4_K ? sizeof(struct owb_block_q4_K) : sizeof(struct owb_block_q6_K);
    const uint8_t *w[4];
    const struct owb_block_q8_K *ab[4];
    __m256 acc[4][4];
    for (int i = 0; i < R; i++)
        w[i] = a->w + (size_t)(r + i) * a->w_row_bytes;
    for (int c = 0; c < C; c++) {
        ab[c] = (const struct owb_block_q8_K *)(a->act + (size_t)(c0 + c) * a->act_row_bytes);
        for (int i = 0; i < R; i++)
            acc[i][c] = _mm256_setzero_ps();
    }
    const __m256i m0f = _mm256_set1_epi8(0x0f);
    /* rows ahead of this pass, prefetched as it goes (kpf_advance) */
    const int pf_on = a->w_row_bytes > KPF_MIN_ROW_BYTES;
    const uintptr_t nxt =
        (uintptr_t)a->w + (uintptr_t)(r + kpf_ahead_rows(R, a->w_row_bytes)) * a->w_row_bytes;
    uintptr_t pf = nxt;
    for (int64_t sb = 0; sb < nb; sb++) {
        if (pf_on)
            pf = kpf_advance(pf, nxt + (uintptr_t)R * (uintptr_t)(sb + 1) * bs);
        for (int i = 0; i < R; i++) {
            const uint8_t *blk = w[i] + (size_t)sb * bs;
            if (f == F_Q4_K) {
                const struct owb_block_q4_K *x = (const struct owb_block_q4_K *)blk;
                const float dw = _cvtsh_ss(x->d), dmin = _cvtsh_ss(x->dmin);
                const __m128i sm = q4k_scales(x->scales);
                const __m256i mdup = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(
                    sm, _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15)));
                __m256i q[8];
                for (int z = 0; z < 4; z++) {
                    const __m256i v = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * z));
                    q[2 * z] = _mm256_and_si256(v, m0f);
                    q[2 * z + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m0f);
                }
                /* one scale per 32 quants, zero-extended to words by an in-lane shuffle */
                const __m256i sm2 = _mm256_broadcastsi128_si256(sm);
                __m256i sc[8];
                for (int j = 0; j < 8; j++)
                    sc[j] = _mm256_shuffle_epi8(sm2, _mm256_set1_epi16((short)(0x8000 | j)));
                for (int c = 0; c < C; c++) {
                    const struct owb_block_q8_K *y = &ab[c][sb];
                    __m256i isum = _mm256_setzero_si256();
                    for (int j = 0; j < 8; j++) {
                        const __m256i p = _mm256_maddubs_epi16(
                            q[j], _mm256_loadu_si256((const __m256i *)(y->qs + 32 * j)));
                        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, sc[j]));
                    }
                    const __m256i mins =
                        _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums), mdup);
                    acc[i][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(dw * y->d),
                                                acc[i][c]);
                    acc[i][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mins),
                                                _mm256_set1_ps(-(dmin * y->d)), acc[i][c]);
                }
            } else {
                const struct owb_block_q6_K *x = (const struct owb_block_q6_K *)blk;
                const float dw = _cvtsh_ss(x->d);
                const __m256i s16 =
                    _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
                /* pattern t: words of scale 2t (lane 0) and 2t + 1 (lane 1) */
                const __m256i dup_lo = _mm256_unpacklo_epi16(s16, s16);
                const __m256i dup_hi = _mm256_unpackhi_epi16(s16, s16);
                /* dup_lo dwords: s0 s1 s2 s3 | s8 s9 s10 s11; dup_hi: s4..s7 | s12..s15 */
                __m256i sc[8];
                for (int t = 0; t < 8; t++) {
                    const int j0 = 2 * t, j1 = 2 * t + 1;
                    const __m256i src = ((j0 % 8) < 4) ? dup_lo : dup_hi;
                    const int l0 = (j0 % 4) + (j0 >= 8 ? 4 : 0), l1 = (j1 % 4) + (j1 >= 8 ? 4 : 0);
                    sc[t] = _mm256_permutevar8x32_epi32(
                        src, _mm256_setr_epi32(l0, l0, l0, l0, l1, l1, l1, l1));
                }
                const __m256i m30 = _mm256_set1_epi8(0x30);
                __m256i q[8];
                for (int h = 0; h < 2; h++) {
                    const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
                    const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
                    const __m256i hb = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
                    q[4 * h + 0] = _mm256_or_si256(_mm256_and_si256(l0, m0f),
                                                   _mm256_and_si256(_mm256_slli_epi16(hb, 4), m30));
                    q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(l1, m0f),
                                                   _mm256_and_si256(_mm256_slli_epi16(hb, 2), m30));
                    q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m0f),
                                                   _mm256_and_si256(hb, m30));
                    q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m0f),
                                                   _mm256_and_si256(_mm256_srli_epi16(hb, 2), m30));
                }
                for (int c = 0; c < C; c++) {
                    const struct owb_block_q8_K *y = &ab[c][sb];
                    __m256i isum = _mm256_setzero_si256();
                    for (int t = 0; t < 8; t++) {
                        const __m256i p = _mm256_maddubs_epi16(
                            q[t], _mm256_loadu_si256((const __m256i *)(y->qs + 32 * t)));
                        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, sc[t]));
                    }
                    const __m256i corr = _mm256_slli_epi32(
                        _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums), s16), 5);
                    isum = _mm256_sub_epi32(isum, corr);
                    acc[i][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(dw * y->d),
                                                acc[i][c]);
                }
            }
        }
    }
    for (int c = 0; c < C; c++)
        for (int i = 0; i < R; i++)
            a->y[(c0 + c) * a->ldy + r + i] = hsum8(acc[i][c]);
}

AI void qk_rows(int f, const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    for (int64_t c0 = 0; c0 < a->batch;) {
        const int64_t nc = a->batch - c0;
        if (nc >= 2) {
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

/* ------------------------------------------------------------------------------ table ---- */

const struct owb_mm_kernel owb_mm_kernels_avx2[] = {
    {OWB_TYPE_F32, OWB_ISA_AVX2, 1, 0, "avx2 f32 fma gemv", rows_f32, 0},
    {OWB_TYPE_F16, OWB_ISA_AVX2, 1, 0, "avx2 f16xf32 fma gemv", rows_f16, 0},
    {OWB_TYPE_BF16, OWB_ISA_AVX2, 1, 0, "avx2 bf16xbf16 fma gemv", rows_bf16, 0},
    {OWB_TYPE_Q4_0, OWB_ISA_AVX2, 1, 0, "avx2 q4_0xq8_0 maddubs gemv", rows_q4_0, 0},
    {OWB_TYPE_Q8_0, OWB_ISA_AVX2, 1, 0, "avx2 q8_0xq8_0 maddubs gemv", rows_q8_0, 0},
    {OWB_TYPE_MXFP4, OWB_ISA_AVX2, 1, 0, "avx2 mxfp4xq8_0 maddubs gemv", rows_mxfp4, 0},
    {OWB_TYPE_Q4_K, OWB_ISA_AVX2, 1, 0, "avx2 q4_Kxq8_K maddubs gemv", rows_q4_K, 0},
    {OWB_TYPE_Q6_K, OWB_ISA_AVX2, 1, 0, "avx2 q6_Kxq8_K maddubs gemv", rows_q6_K, 0},
    {OWB_TYPE_COUNT, OWB_ISA_AVX2, 0, 0, NULL, NULL, 0},
};
