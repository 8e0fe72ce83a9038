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
            __mmask16 e = _mm512_cmp_ps_mask(_mm512_abs_ps(v[j]), _mm512_set1_ps(amax), _CMP_EQ_OQ);
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

#define B32_VBMI 0
#include "kernels/cpu/b32_avx512.h"

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

/* q4_K scales and mins of one super-block as 16 words: sc[0..7], m[0..7]. ggml's utmp trick done
 * in one register (the scalar version stores 32-bit words and reloads them as 128 bits, which
 * stalls store forwarding). Reads 16 bytes from s: the 12 scale bytes and 4 quant bytes, all in the
 * block. */
AI __m128i q4k_scales8x2(const uint8_t *s)
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

/* vpshufb indices: word j of pattern z is scale 2z (words 0..15) or 2z + 1 (16..31), zero-extended;
 * mins: word j is m[j / 2] (bytes 8.. of the scale register) */
#define P2(a) a, 0x80
#define P8(a) P2(a), P2(a), P2(a), P2(a), P2(a), P2(a), P2(a), P2(a)
static const uint8_t shuf_q4k_pat[4][64] = {
    {P8(0), P8(0), P8(1), P8(1)},
    {P8(2), P8(2), P8(3), P8(3)},
    {P8(4), P8(4), P8(5), P8(5)},
    {P8(6), P8(6), P8(7), P8(7)},
};
static const uint8_t shuf_q4k_mins[32] = {P2(8),  P2(8),  P2(9),  P2(9),  P2(10), P2(10),
                                          P2(11), P2(11), P2(12), P2(12), P2(13), P2(13),
                                          P2(14), P2(14), P2(15), P2(15)};
#undef P2
#undef P8
static const uint16_t idx_q6k_pat[4][32] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
     2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
    {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5,
     6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7},
    {8,  8,  8,  8,  8,  8,  8,  8,  9,  9,  9,  9,  9,  9,  9,  9,
     10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11},
    {12, 12, 12, 12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13,
     14, 14, 14, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15},
};

enum { F_Q4_K, F_Q6_K };

AI void qk_rows_rc(int f, int R, int C, const struct owb_mm_args *a, int64_t r, int64_t c0)
{
    const int64_t nb = a->k / OWB_QK_K;
    const size_t bs = f == F_Q4_K ? sizeof(struct owb_block_q4_K) : sizeof(struct owb_block_q6_K);
    const uint8_t *w[4];
    const struct owb_block_q8_K *ab[4];
    __m512 acc[4][4];
    __m256 accm[4][4]; /* q4_K: the mins term, 8 lanes */
    for (int i = 0; i < R; i++)
        w[i] = a->w + (size_t)(r + i) * a->w_row_bytes;
    for (int c = 0; c < C; c++) {
        ab[c] = (const struct owb_block_q8_K *)(a->act + (size_t)(c0 + c) * a->act_row_bytes);
        for (int i = 0; i < R; i++) {
            acc[i][c] = _mm512_setzero_ps();
            accm[i][c] = _mm256_setzero_ps();
        }
    }
    const __m512i m0f = _mm512_set1_epi8(0x0f);
    /* rows ahead of this pass, prefetched as it goes (b32_avx512.h, kpf_advance) */
    const int pf_on = a->w_row_bytes > KPF_MIN_ROW_BYTES;
    const uintptr_t nxt =
        (uintptr_t)a->w + (uintptr_t)(r + kpf_ahead_rows(R, a->w_row_bytes)) * a->w_row_bytes;
    uintptr_t pf = nxt;
    for (int64_t sb = 0; sb < nb; sb++) {
        if (pf_on)
            pf = kpf_advance(pf, nxt + (uintptr_t)R * (uintptr_t)(sb + 1) * bs);
        for (int i = 0; i < R; i++) {
            const uint8_t *blk = w[i] + (size_t)sb * bs;
            __m512i q[4], pat[4];
            float dw, dmin = 0.0f;
            __m256i mdup = _mm256_setzero_si256(), s16;
            if (f == F_Q4_K) {
                const struct owb_block_q4_K *x = (const struct owb_block_q4_K *)blk;
                dw = _cvtsh_ss(x->d);
                dmin = _cvtsh_ss(x->dmin);
                const __m128i sm = q4k_scales8x2(x->scales);
                s16 = _mm256_setzero_si256();
                /* scale patterns by in-lane byte shuffles of the broadcast scales (vpermw and
                 * vpsrlvw are slow on Zen 4) */
                const __m512i smz = _mm512_broadcast_i32x4(sm);
                for (int z = 0; z < 4; z++) {
                    const __m256i v = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * z));
                    const __m256i m0f8 = _mm256_set1_epi8(0x0f);
                    q[z] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(v, m0f8)),
                                              _mm256_and_si256(_mm256_srli_epi16(v, 4), m0f8), 1);
                    pat[z] = _mm512_shuffle_epi8(smz, _mm512_loadu_si512(shuf_q4k_pat[z]));
                }
                mdup = _mm256_shuffle_epi8(_mm512_castsi512_si256(smz),
                                           _mm256_loadu_si256((const __m256i *)shuf_q4k_mins));
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
                    const __m512i sh_b =
                        _mm512_setr_epi64(0, 0, 0, 0, 0x0002000200020002LL, 0x0002000200020002LL,
                                          0x0002000200020002LL, 0x0002000200020002LL);
                    q[2 * h] = _mm512_or_si512(_mm512_and_si512(l, m0f),
                                               _mm512_and_si512(_mm512_sllv_epi16(hb, sh_a), m30));
                    q[2 * h + 1] =
                        _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m0f),
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
                    acc[i][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(dw * y->d),
                                                acc[i][c]);
                    accm[i][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mins),
                                                 _mm256_set1_ps(-(dmin * y->d)), accm[i][c]);
                } else {
                    const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(bsums, s16), 5);
                    isum = _mm512_sub_epi32(isum, _mm512_zextsi256_si512(corr));
                    acc[i][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(dw * y->d),
                                                acc[i][c]);
                }
            }
        }
    }
    for (int c = 0; c < C; c++)
        for (int i = 0; i < R; i++) {
            __m512 t = acc[i][c];
            if (f == F_Q4_K)
                t = _mm512_add_ps(t, _mm512_zextps256_ps512(accm[i][c]));
            a->y[(c0 + c) * a->ldy + r + i] = _mm512_reduce_add_ps(t);
        }
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
            ROWS_LOOP(4, qk_rows_rc(f, 1, 1, a, r_, c0), qk_rows_rc(f, 4, 1, a, r_, c0));
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
 * Register-blocked tiles: 16 weight rows sit in the 16 lanes of a register, so one vpdpbusd (or
 * FMA) multiplies them with one activation value broadcast from memory, for GEMM_C columns at once.
 * A tile of 16 rows x GEMM_KC elements is unpacked once into that transposed layout (int8 groups of
 * four quants per row, or f32) and reused for every column of the batch; the partial sums of each
 * GEMM_KC slice are added into Y, in the same order whatever the row range.
 */
#define GEMM_C 8
#define GEMM_KC_Q 512 /* int8 tiles: 16 blocks, 8 KiB of quants + 1 KiB of scales */
#define GEMM_KC_F 256 /* f32 tiles: 16 KiB */
#define GEMM_RB 64    /* rows per outer block: its packed k slice is reused by GEMM_CB columns */

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
            acc[c] = _mm512_fmadd_ps(
                _mm512_mul_ps(_mm512_cvtepi32_ps(ai[c]), _mm512_set1_ps(da[c][j])), dw, acc[c]);
    }
}

/*
 * Partial sums of one block of GEMM_RB rows x GEMM_CB columns across the k slices, laid out
 * [tile][column][16 rows] so that slice after slice adds into contiguous memory (Y's own row stride
 * is often a multiple of 4 KiB, which would alias in L1). Thread-local: kernels get no scratch from
 * their caller, and each thread runs its own row range.
 */
#define GEMM_CB 512
static _Thread_local struct {
    _Alignas(64) float y[GEMM_RB / 16][GEMM_CB][16];
} gemm_scratch;

/* Add (or store, on the first k slice) C columns of one tile into the scratch. */
AI void gemm_accum(int tile, int64_t c, int C, int first, const __m512 acc[GEMM_C])
{
    for (int j = 0; j < C; j++) {
        float *s = gemm_scratch.y[tile][c + j];
        _mm512_store_ps(s, first ? acc[j] : _mm512_add_ps(_mm512_load_ps(s), acc[j]));
    }
}

/* Write the scratch of rows [rb, re) and columns [cb, cb + nc) to Y. */
static void gemm_flush(const struct owb_mm_args *a, int64_t rb, int64_t re, int64_t cb, int64_t nc)
{
    for (int64_t r = rb; r < re; r += 16) {
        const int nr = (int)(re - r < 16 ? re - r : 16);
        const __mmask16 m = (__mmask16)(nr >= 16 ? 0xffffu : (1u << nr) - 1u);
        const int tile = (int)((r - rb) / 16);
        for (int64_t c = 0; c < nc; c++)
            _mm512_mask_storeu_ps(a->y + (cb + c) * a->ldy + r, m,
                                  _mm512_load_ps(gemm_scratch.y[tile][c]));
    }
}

AI void gemm_q(int f, const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    _Alignas(64) struct gemm_tile_q t;
    const int64_t nb = a->k / OWB_QK;
    for (int64_t cb = 0; cb < a->batch; cb += GEMM_CB) {
        const int64_t nc = a->batch - cb < GEMM_CB ? a->batch - cb : GEMM_CB;
        for (int64_t rb = r0; rb < r1; rb += GEMM_RB) {
            const int64_t re = rb + GEMM_RB < r1 ? rb + GEMM_RB : r1;
            for (int64_t jb = 0; jb < nb; jb += GEMM_KC_Q / 32) {
                const int nj = (int)(nb - jb < GEMM_KC_Q / 32 ? nb - jb : GEMM_KC_Q / 32);
                for (int64_t r = rb; r < re; r += 16) {
                    const int nr = (int)(re - r < 16 ? re - r : 16);
                    const int tile = (int)((r - rb) / 16);
                    gemm_pack_q(f, a, r, nr, jb, nj, &t);
                    int64_t c = 0;
                    __m512 acc[GEMM_C];
                    for (; c + GEMM_C <= nc; c += GEMM_C) {
                        gemm_kernel_q(GEMM_C, a, &t, jb, nj, cb + c, acc);
                        gemm_accum(tile, c, GEMM_C, jb == 0, acc);
                    }
                    for (; c < nc; c++) {
                        gemm_kernel_q(1, a, &t, jb, nj, cb + c, acc);
                        gemm_accum(tile, c, 1, jb == 0, acc);
                    }
                }
            }
            gemm_flush(a, rb, re, cb, nc);
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
    const __m512i vidx =
        _mm512_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240);
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
    for (int64_t cb = 0; cb < a->batch; cb += GEMM_CB) {
        const int64_t nc = a->batch - cb < GEMM_CB ? a->batch - cb : GEMM_CB;
        for (int64_t rb = r0; rb < r1; rb += GEMM_RB) {
            const int64_t re = rb + GEMM_RB < r1 ? rb + GEMM_RB : r1;
            for (int64_t kb = 0; kb < a->k; kb += GEMM_KC_F) {
                const int nk = (int)(a->k - kb < GEMM_KC_F ? a->k - kb : GEMM_KC_F);
                for (int64_t r = rb; r < re; r += 16) {
                    const int nr = (int)(re - r < 16 ? re - r : 16);
                    const int tile = (int)((r - rb) / 16);
                    gemm_pack_f(f, a, r, nr, kb, nk, &t);
                    int64_t c = 0;
                    __m512 acc[GEMM_C];
                    for (; c + GEMM_C <= nc; c += GEMM_C) {
                        gemm_kernel_f(GEMM_C, a, &t, kb, nk, cb + c, acc);
                        gemm_accum(tile, c, GEMM_C, kb == 0, acc);
                    }
                    for (; c < nc; c++) {
                        gemm_kernel_f(1, a, &t, kb, nk, cb + c, acc);
                        gemm_accum(tile, c, 1, kb == 0, acc);
                    }
                }
            }
            gemm_flush(a, rb, re, cb, nc);
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

/*
 * k-quant tiles (q4_K, q6_K) against q8_K activations. The quants go into the same [group][row]
 * int8 layout (q4_K nibbles 0..15, q6_K 0..63, both unsigned for vpdpbusd); the sub-block scales
 * are applied in float once per sub-block (d * sc per row), and the sub-block offsets (q4_K mins,
 * q6_K's -32) in int32 through vpdpwssd of per-row int16 pairs with the activations' bsums, once
 * per super-block. The activation scale is per super-block, so it multiplies once per 256 elements.
 */
#define GEMM_KC_K 512 /* two super-blocks */
#define GEMM_KS (GEMM_KC_K / OWB_QK_K)

struct gemm_tile_k {
    uint8_t q[GEMM_KC_K / 4][64];  /* [group of 4 quants][row x 4 bytes] */
    float dsc[GEMM_KC_K / 16][16]; /* per sub-block (32 or 16 quants): d * sc per row */
    int32_t off[GEMM_KS][8][16];   /* per super-block: int16 pairs for the bsums dwords */
    float mcoef[GEMM_KS][16];      /* per super-block: -dmin (q4_K) or d (q6_K) per row */
};

/* One super-block of one row as 256 unsigned quants in element order, its 8 or 16 sub-block
 * scales (as d * sc), the offset pairs and the offset coefficient. */
AI void gemm_unpack_k(int f, const uint8_t *blk, uint8_t u[256], float *dsc, int32_t off[8],
                      float *mcoef)
{
    const __m256i m0f = _mm256_set1_epi8(0x0f);
    if (f == F_Q4_K) {
        const struct owb_block_q4_K *x = (const struct owb_block_q4_K *)blk;
        const float d = _cvtsh_ss(x->d), dmin = _cvtsh_ss(x->dmin);
        uint8_t sm[16];
        _mm_storeu_si128((__m128i *)sm, q4k_scales8x2(x->scales));
        for (int c = 0; c < 4; c++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * c));
            _mm256_storeu_si256((__m256i *)(u + 64 * c), _mm256_and_si256(v, m0f));
            _mm256_storeu_si256((__m256i *)(u + 64 * c + 32),
                                _mm256_and_si256(_mm256_srli_epi16(v, 4), m0f));
        }
        for (int j = 0; j < 8; j++) {
            dsc[j] = d * (float)sm[j];
            off[j] = (int32_t)((uint32_t)sm[8 + j] | (uint32_t)sm[8 + j] << 16);
        }
        *mcoef = -dmin;
    } else {
        const struct owb_block_q6_K *x = (const struct owb_block_q6_K *)blk;
        const float d = _cvtsh_ss(x->d);
        const __m256i m30 = _mm256_set1_epi8(0x30);
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
            const __m256i hb = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
            uint8_t *o = u + 128 * h;
            _mm256_storeu_si256((__m256i *)o,
                                _mm256_or_si256(_mm256_and_si256(l0, m0f),
                                                _mm256_and_si256(_mm256_slli_epi16(hb, 4), m30)));
            _mm256_storeu_si256((__m256i *)(o + 32),
                                _mm256_or_si256(_mm256_and_si256(l1, m0f),
                                                _mm256_and_si256(_mm256_slli_epi16(hb, 2), m30)));
            _mm256_storeu_si256((__m256i *)(o + 64),
                                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m0f),
                                                _mm256_and_si256(hb, m30)));
            _mm256_storeu_si256((__m256i *)(o + 96),
                                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m0f),
                                                _mm256_and_si256(_mm256_srli_epi16(hb, 2), m30)));
        }
        for (int j = 0; j < 16; j++)
            dsc[j] = d * (float)x->scales[j];
        for (int p = 0; p < 8; p++)
            off[p] = (int32_t)((uint32_t)(uint16_t)(int16_t)(-32 * x->scales[2 * p]) |
                               (uint32_t)(uint16_t)(int16_t)(-32 * x->scales[2 * p + 1]) << 16);
        *mcoef = d;
    }
}

AI void gemm_pack_k(int f, const struct owb_mm_args *a, int64_t r, int nr, int64_t sb0, int ns,
                    struct gemm_tile_k *t)
{
    const size_t bs = f == F_Q4_K ? sizeof(struct owb_block_q4_K) : sizeof(struct owb_block_q6_K);
    const int nsub = f == F_Q4_K ? 8 : 16;
    if (nr < 16)
        memset(t, 0, sizeof *t);
    for (int i = 0; i < nr; i++) {
        const uint8_t *row = a->w + (size_t)(r + i) * a->w_row_bytes + (size_t)sb0 * bs;
        for (int s = 0; s < ns; s++) {
            _Alignas(32) uint8_t u[256];
            float dsc[16];
            int32_t off[8];
            float mc;
            gemm_unpack_k(f, row + (size_t)s * bs, u, dsc, off, &mc);
            uint32_t(*q)[16] = (uint32_t(*)[16])t->q[64 * s];
            for (int g = 0; g < 64; g++)
                memcpy(&q[g][i], u + 4 * g, 4);
            for (int j = 0; j < nsub; j++)
                t->dsc[s * nsub + j][i] = dsc[j];
            for (int p = 0; p < 8; p++)
                t->off[s][p][i] = off[p];
            t->mcoef[s][i] = mc;
        }
    }
}

AI void gemm_kernel_k(int f, int C, const struct owb_mm_args *a, const struct gemm_tile_k *t,
                      int64_t sb0, int ns, int64_t c0, __m512 acc[GEMM_C])
{
    const struct owb_block_q8_K *y[GEMM_C];
    const int sub = f == F_Q4_K ? 32 : 16, nsub = OWB_QK_K / sub;
    for (int c = 0; c < C; c++) {
        y[c] = (const struct owb_block_q8_K *)(a->act + (size_t)(c0 + c) * a->act_row_bytes) + sb0;
        acc[c] = _mm512_setzero_ps();
    }
    for (int s = 0; s < ns; s++) {
        /* offsets: sum over the 8 bsums pairs, int32, then -dmin (or d) * da in float */
        for (int c = 0; c < C; c++) {
            __m512i m = _mm512_setzero_si512();
            for (int p = 0; p < 8; p++) {
                int32_t b2;
                memcpy(&b2, y[c][s].bsums + 2 * p, 4);
                m = _mm512_dpwssd_epi32(m, _mm512_load_si512(t->off[s][p]), _mm512_set1_epi32(b2));
            }
            acc[c] = _mm512_fmadd_ps(
                _mm512_mul_ps(_mm512_load_ps(t->mcoef[s]), _mm512_set1_ps(y[c][s].d)),
                _mm512_cvtepi32_ps(m), acc[c]);
        }
        __m512 inner[GEMM_C];
        for (int c = 0; c < C; c++)
            inner[c] = _mm512_setzero_ps();
        for (int j = 0; j < nsub; j++) {
            __m512i ai[GEMM_C];
            for (int c = 0; c < C; c++)
                ai[c] = _mm512_setzero_si512();
            for (int g = 0; g < sub / 4; g++) {
                const __m512i wv = _mm512_load_si512(t->q[64 * s + j * (sub / 4) + g]);
                for (int c = 0; c < C; c++) {
                    int32_t q4;
                    memcpy(&q4, y[c][s].qs + j * sub + 4 * g, 4);
                    ai[c] = _mm512_dpbusd_epi32(ai[c], wv, _mm512_set1_epi32(q4));
                }
            }
            const __m512 dsc = _mm512_load_ps(t->dsc[s * nsub + j]);
            for (int c = 0; c < C; c++)
                inner[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai[c]), dsc, inner[c]);
        }
        for (int c = 0; c < C; c++)
            acc[c] = _mm512_fmadd_ps(inner[c], _mm512_set1_ps(y[c][s].d), acc[c]);
    }
}

AI void gemm_k(int f, const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    _Alignas(64) struct gemm_tile_k t;
    const int64_t nb = a->k / OWB_QK_K;
    for (int64_t cb = 0; cb < a->batch; cb += GEMM_CB) {
        const int64_t nc = a->batch - cb < GEMM_CB ? a->batch - cb : GEMM_CB;
        for (int64_t rb = r0; rb < r1; rb += GEMM_RB) {
            const int64_t re = rb + GEMM_RB < r1 ? rb + GEMM_RB : r1;
            for (int64_t sb = 0; sb < nb; sb += GEMM_KS) {
                const int ns = (int)(nb - sb < GEMM_KS ? nb - sb : GEMM_KS);
                for (int64_t r = rb; r < re; r += 16) {
                    const int nr = (int)(re - r < 16 ? re - r : 16);
                    const int tile = (int)((r - rb) / 16);
                    gemm_pack_k(f, a, r, nr, sb, ns, &t);
                    int64_t c = 0;
                    __m512 acc[GEMM_C];
                    for (; c + GEMM_C <= nc; c += GEMM_C) {
                        gemm_kernel_k(f, GEMM_C, a, &t, sb, ns, cb + c, acc);
                        gemm_accum(tile, c, GEMM_C, sb == 0, acc);
                    }
                    for (; c < nc; c++) {
                        gemm_kernel_k(f, 1, a, &t, sb, ns, cb + c, acc);
                        gemm_accum(tile, c, 1, sb == 0, acc);
                    }
                }
            }
            gemm_flush(a, rb, re, cb, nc);
        }
    }
}

static void gemm_q4_K(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    gemm_k(F_Q4_K, a, r0, r1);
}

static void gemm_q6_K(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    gemm_k(F_Q6_K, a, r0, r1);
}

/* ------------------------------------------------------------------------------ table ---- */

const struct owb_mm_kernel owb_mm_kernels_avx512[] = {
    {OWB_TYPE_F32, OWB_ISA_AVX512, 1, 0, "avx512 f32 fma gemv", rows_f32},
    {OWB_TYPE_F16, OWB_ISA_AVX512, 1, 0, "avx512 f16xf32 fma gemv", rows_f16},
    {OWB_TYPE_BF16, OWB_ISA_AVX512, 1, 0, "avx512 bf16xf32 fma gemv", rows_bf16},
    {OWB_TYPE_Q4_0, OWB_ISA_AVX512, 1, OWB_MM_NEEDS_VNNI, "avx512-vnni q4_0xq8_0 gemv", rows_q4_0},
    {OWB_TYPE_Q8_0, OWB_ISA_AVX512, 1, OWB_MM_NEEDS_VNNI, "avx512-vnni q8_0xq8_0 gemv", rows_q8_0},
    {OWB_TYPE_MXFP4, OWB_ISA_AVX512, 1, OWB_MM_NEEDS_VNNI, "avx512-vnni mxfp4xq8_0 gemv",
     rows_mxfp4},
    {OWB_TYPE_Q4_K, OWB_ISA_AVX512, 1, OWB_MM_NEEDS_VNNI, "avx512-vnni q4_Kxq8_K gemv", rows_q4_K},
    {OWB_TYPE_Q6_K, OWB_ISA_AVX512, 1, OWB_MM_NEEDS_VNNI, "avx512-vnni q6_Kxq8_K gemv", rows_q6_K},
    {OWB_TYPE_F32, OWB_ISA_AVX512, 16, 0, "avx512 f32 fma gemm16x8", gemm_f32},
    {OWB_TYPE_F16, OWB_ISA_AVX512, 16, 0, "avx512 f16xf32 fma gemm16x8", gemm_f16},
    {OWB_TYPE_BF16, OWB_ISA_AVX512, 16, 0, "avx512 bf16xf32 fma gemm16x8", gemm_bf16},
    {OWB_TYPE_Q4_0, OWB_ISA_AVX512, 16, OWB_MM_NEEDS_VNNI, "avx512-vnni q4_0xq8_0 gemm16x8",
     gemm_q4_0},
    {OWB_TYPE_Q8_0, OWB_ISA_AVX512, 16, OWB_MM_NEEDS_VNNI, "avx512-vnni q8_0xq8_0 gemm16x8",
     gemm_q8_0},
    {OWB_TYPE_MXFP4, OWB_ISA_AVX512, 16, OWB_MM_NEEDS_VNNI, "avx512-vnni mxfp4xq8_0 gemm16x8",
     gemm_mxfp4},
    {OWB_TYPE_Q4_K, OWB_ISA_AVX512, 16, OWB_MM_NEEDS_VNNI, "avx512-vnni q4_Kxq8_K gemm16x8",
     gemm_q4_K},
    {OWB_TYPE_Q6_K, OWB_ISA_AVX512, 16, OWB_MM_NEEDS_VNNI, "avx512-vnni q6_Kxq8_K gemm16x8",
     gemm_q6_K},
    {OWB_TYPE_COUNT, OWB_ISA_AVX512, 0, 0, NULL, NULL},
};
