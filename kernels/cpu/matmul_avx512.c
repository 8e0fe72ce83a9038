/* SPDX-License-Identifier: MIT */
/*
 * matmul_avx512.c: AVX-512 (F/BW/VL/DQ + VNNI) GEMV and small-batch kernels for owb_matmul_rows,
 * and the activation converters (q8_0 with extras, q8_K, bf16) that write the same bytes as the
 * reference ones. The 32-wide integer formats (q4_0, q8_0, mxfp4) make their weights unsigned
 * (nibble, table value + 12, or quant + 128) so one vpdpbusd multiplies them with the signed q8_0
 * activations; the offset comes back through the nsum extra that initialises each block's integer
 * accumulator. Block scales are taken eight at a time with one word permute from two 64-byte loads
 * and applied in float once per block. q4_K multiplies its nibbles with vpdpbusd (sums of four
 * products fit 16 bits), packs two such registers into words and applies the sub-block scales with
 * one vpdpwssd; q6_K follows ggml (vpmaddubsw, then vpdpwssd with the scales). Mins and q6_K's -32
 * come through the q8_K bsums. bf16 weights multiply the prepared bf16 activations with vdpbf16ps
 * where the CPU has AVX512_BF16, else both are widened to f32 for FMA. Each kernel handles R weight
 * rows against C activation columns per pass so that activation loads are shared; every output
 * element sees the same operation sequence whatever R is, so row splits do not change results.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/cpu/fl_avx512.h"
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

/* bf16 as ggml_compute_fp32_to_bf16, 16 lanes at a time: NaN -> (u >> 16) | 64 (quiet), anything
 * else (u + 0x7fff + bit 16 of u) >> 16, which rounds to nearest even and keeps subnormals (no
 * vcvtneps2bf16: it flushes them to zero). */
static void prep_bf16(const float *x, uint8_t *row, int64_t k, int off)
{
    (void)off;
    uint16_t *h = (uint16_t *)row;
    const __m512i absm = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
    const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff);
    const __m512i quiet = _mm512_set1_epi32(64);
    for (int64_t i = 0; i < k; i += 16) {
        const __mmask16 m = (__mmask16)(k - i >= 16 ? 0xffffu : (1u << (k - i)) - 1u);
        const __m512i u = _mm512_castps_si512(_mm512_maskz_loadu_ps(m, x + i));
        const __m512i hi = _mm512_srli_epi32(u, 16);
        const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, absm), inf);
        const __m512i lsb = _mm512_and_si512(hi, one);
        __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(bias, lsb)), 16);
        r = _mm512_mask_or_epi32(r, nan, hi, quiet);
        _mm256_mask_storeu_epi16(h + i, m, _mm512_cvtepi32_epi16(r));
    }
}

owb_mm_prep_fn owb_mm_prep_avx512(enum owb_mm_act_layout layout)
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

/* R weight rows of format f against C activation columns of format xf: F_F32 (X read as is, for
 * f32 and f16 weights) or F_BF16 (the prepared bf16 rows, widened to f32 by a shift). */
AI void fl_rows_rc(int f, int xf, int R, int C, const struct owb_mm_args *a, int64_t r, int64_t c0)
{
    const uint8_t *w[4];
    const uint8_t *x[4];
    __m512 acc[4][4];
    for (int i = 0; i < R; i++)
        w[i] = a->w + (size_t)(r + i) * a->w_row_bytes;
    for (int c = 0; c < C; c++) {
        x[c] = xf == F_F32 ? (const uint8_t *)(a->x + (c0 + c) * a->ldx)
                           : a->act + (size_t)(c0 + c) * a->act_row_bytes;
        for (int i = 0; i < R; i++)
            acc[i][c] = _mm512_setzero_ps();
    }
    /* f16/bf16 long rows: the next pass prefetched as this one goes, as in the integer kernels
     * (kpf_advance, b32_avx512.h). 2 threads from DRAM (4096x14336, A/B call by call): f16 +4-10%,
     * bf16 +3-12%; f32 lost 3-10% with it (and gained nothing with a fixed distance per row), so
     * it streams on the hardware prefetchers alone. */
    const int64_t esz = f == F_F32 ? 4 : 2;
    const int pf_on = f != F_F32 && a->w_row_bytes > KPF_MIN_ROW_BYTES;
    const uintptr_t nxt =
        (uintptr_t)a->w + (uintptr_t)(r + kpf_ahead_rows(R, a->w_row_bytes)) * a->w_row_bytes;
    uintptr_t pf = nxt;
    int64_t j = 0;
    for (; j + 16 <= a->k; j += 16) {
        if (pf_on)
            pf = kpf_advance(pf, nxt + (uintptr_t)(R * (j + 16) * esz));
        __m512 xv[4];
        for (int c = 0; c < C; c++)
            xv[c] = fl_load(xf, x[c], j);
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
            xv[c] = fl_load_mask(xf, x[c], j, m);
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

AI void fl_rows(int f, int xf, const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    for (int64_t c0 = 0; c0 < a->batch;) {
        const int64_t nc = a->batch - c0;
        if (nc >= 4) {
            ROWS_LOOP(4, fl_rows_rc(f, xf, 1, 4, a, r_, c0), fl_rows_rc(f, xf, 4, 4, a, r_, c0));
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

/* bf16 x bf16 without AVX512_BF16: both widened to f32, FMA */
static void rows_bf16(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    fl_rows(F_BF16, F_BF16, a, r0, r1);
}

/* bf16 x bf16 with AVX512_BF16: vdpbf16ps multiplies 32 pairs of bf16 per instruction and adds
 * each pair's two products (odd element first) into 16 f32 lanes; bf16 subnormals count as zero.
 * Long rows prefetch the next pass as fl_rows_rc does. */
AI void bf_rows_rc(int R, int C, int pf_ok, const struct owb_mm_args *a, int64_t r, int64_t c0)
{
    const uint8_t *w[4], *x[4];
    __m512 acc[4][4];
    for (int i = 0; i < R; i++)
        w[i] = a->w + (size_t)(r + i) * a->w_row_bytes;
    for (int c = 0; c < C; c++) {
        x[c] = a->act + (size_t)(c0 + c) * a->act_row_bytes;
        for (int i = 0; i < R; i++)
            acc[i][c] = _mm512_setzero_ps();
    }
    const int pf_on = pf_ok && a->w_row_bytes > KPF_MIN_ROW_BYTES;
    const uintptr_t nxt =
        (uintptr_t)a->w + (uintptr_t)(r + kpf_ahead_rows(R, a->w_row_bytes)) * a->w_row_bytes;
    uintptr_t pf = nxt;
    int64_t j = 0;
    for (; j + 32 <= a->k; j += 32) {
        if (pf_on)
            pf = kpf_advance(pf, nxt + (uintptr_t)(R * (j + 32) * 2));
        __m512bh xv[4];
        for (int c = 0; c < C; c++)
            xv[c] = (__m512bh)_mm512_loadu_si512(x[c] + 2 * j);
        for (int i = 0; i < R; i++) {
            const __m512bh wv = (__m512bh)_mm512_loadu_si512(w[i] + 2 * j);
            for (int c = 0; c < C; c++)
                acc[i][c] = _mm512_dpbf16_ps(acc[i][c], wv, xv[c]);
        }
    }
    if (j < a->k) {
        const __mmask32 m = (__mmask32)((1ull << (a->k - j)) - 1u);
        __m512bh xv[4];
        for (int c = 0; c < C; c++)
            xv[c] = (__m512bh)_mm512_maskz_loadu_epi16(m, x[c] + 2 * j);
        for (int i = 0; i < R; i++) {
            const __m512bh wv = (__m512bh)_mm512_maskz_loadu_epi16(m, w[i] + 2 * j);
            for (int c = 0; c < C; c++)
                acc[i][c] = _mm512_dpbf16_ps(acc[i][c], wv, xv[c]);
        }
    }
    for (int c = 0; c < C; c++)
        for (int i = 0; i < R; i++)
            a->y[(c0 + c) * a->ldy + r + i] = _mm512_reduce_add_ps(acc[i][c]);
}

/* Rows [r0, r1) against every column, pf_ok: the long rows' prefetch of the next pass. Every
 * output is one accumulator over k in 32-element steps and one _mm512_reduce_add_ps, whatever R
 * and C are, so rows, columns and batch sizes all give the same bits. */
AI void bf_rows(int pf_ok, const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    for (int64_t c0 = 0; c0 < a->batch;) {
        const int64_t nc = a->batch - c0;
        if (nc >= 4) {
            ROWS_LOOP(4, bf_rows_rc(1, 4, pf_ok, a, r_, c0), bf_rows_rc(4, 4, pf_ok, a, r_, c0));
            c0 += 4;
        } else if (nc >= 2) {
            ROWS_LOOP(4, bf_rows_rc(1, 2, pf_ok, a, r_, c0), bf_rows_rc(4, 2, pf_ok, a, r_, c0));
            c0 += 2;
        } else if (pf_ok) {
            /* GEMV: one row at a time, one sequential stream: the hardware prefetchers follow
             * it better than four rows with software prefetch (2 threads, 201088x2880 from DRAM,
             * 20 alternated rounds: 1.10x median, as fast as the pf read kernel; the same
             * arithmetic, so the same bits; docs/perf-notes.md session 6) */
            for (int64_t r = r0; r < r1; r++)
                bf_rows_rc(1, 1, 0, a, r, c0);
            c0 += 1;
        } else {
            ROWS_LOOP(4, bf_rows_rc(1, 1, 0, a, r_, c0), bf_rows_rc(4, 1, 0, a, r_, c0));
            c0 += 1;
        }
    }
}

static void rows_bf16_dp(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    bf_rows(1, a, r0, r1);
}

/* The bf16 GEMM with AVX512_BF16 (batch >= 16): the GEMV's arithmetic (bf_rows_rc: per output one
 * vdpbf16ps accumulator over k, 32 elements a step, then _mm512_reduce_add_ps), which is also
 * ggml's tinyBLAS bf16 tile on AVX512_BF16 (llamafile sgemm: madd = vdpbf16ps, hsum =
 * _mm512_reduce_add_ps, k in steps of 32), so a prompt gives the bits of its tokens decoded one by
 * one and of llama.cpp's CPU backend. Blocked for the caches: a block of rows that fits in half
 * the L2 is multiplied with every column (4 at a time, from L1) before the next block. */
#define BF_GEMM_BLOCK_BYTES (512 * 1024)
void owb_mm_gemm_bf16_dp(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    int64_t rb = (int64_t)(BF_GEMM_BLOCK_BYTES / a->w_row_bytes) & ~(int64_t)3;
    rb = rb < 4 ? 4 : rb;
    for (int64_t b0 = r0; b0 < r1; b0 += rb)
        bf_rows(0, a, b0, b0 + rb < r1 ? b0 + rb : r1);
}

/* ------------------------------------------------------------------ k-quants: GEMV ---- */

/* q6_K as ggml: vpmaddubsw of the quants (0..63) with the activations, then vpdpwssd with the
 * sub-block scales (word j of pattern z is scale 4 z + j / 8). The vpdpbusd + vpackssdw scheme of
 * q4_K ran 5-9% faster per core but 1-3% slower at 2 threads from DRAM, where q6_K is bound. */
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

AI void q6k_rows_rc(int R, int C, const struct owb_mm_args *a, int64_t r, int64_t c0)
{
    const int64_t nb = a->k / OWB_QK_K;
    const size_t bs = sizeof(struct owb_block_q6_K);
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
    const __m512i m0f = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
    /* qh bits 2 j and 2 j + 1 of each byte to bits 4, 5: shift left 4 (j = 0), 2 (j = 1), right 0
     * (j = 2), 2 (j = 3); the low half of a register takes j = 0 / 2, the high half j = 1 / 3 */
    const __m512i sh_a = _mm512_setr_epi64(
        0x0004000400040004LL, 0x0004000400040004LL, 0x0004000400040004LL, 0x0004000400040004LL,
        0x0002000200020002LL, 0x0002000200020002LL, 0x0002000200020002LL, 0x0002000200020002LL);
    const __m512i sh_b = _mm512_setr_epi64(0, 0, 0, 0, 0x0002000200020002LL, 0x0002000200020002LL,
                                           0x0002000200020002LL, 0x0002000200020002LL);
    /* rows ahead of this pass, prefetched as it goes (b32_avx512.h, kpf_advance) */
    const int pf_on = a->w_row_bytes > OWB_MM_KERNEL_PF_MIN_ROW_BYTES_INT512;
    const uintptr_t nxt =
        (uintptr_t)a->w + (uintptr_t)(r + kpf_ahead_rows(R, a->w_row_bytes)) * a->w_row_bytes;
    uintptr_t pf = nxt;
    for (int64_t sb = 0; sb < nb; sb++) {
        if (pf_on)
            pf = kpf_advance(pf, nxt + (uintptr_t)R * (uintptr_t)(sb + 1) * bs);
        for (int i = 0; i < R; i++) {
            const struct owb_block_q6_K *x =
                (const struct owb_block_q6_K *)(w[i] + (size_t)sb * bs);
            const float dw = _cvtsh_ss(x->d);
            const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
            const __m512i s512 = _mm512_castsi256_si512(s16);
            __m512i q[4], pat[4];
            for (int h = 0; h < 2; h++) {
                const __m512i l = _mm512_loadu_si512(x->ql + 64 * h);
                const __m512i hb =
                    _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x->qh + 32 * h)));
                q[2 * h] = _mm512_or_si512(_mm512_and_si512(l, m0f),
                                           _mm512_and_si512(_mm512_sllv_epi16(hb, sh_a), m30));
                q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m0f),
                                               _mm512_and_si512(_mm512_srlv_epi16(hb, sh_b), m30));
            }
            for (int z = 0; z < 4; z++)
                pat[z] = _mm512_permutexvar_epi16(_mm512_loadu_si512(idx_q6k_pat[z]), s512);
            for (int c = 0; c < C; c++) {
                const struct owb_block_q8_K *y = &ab[c][sb];
                __m512i isum = _mm512_setzero_si512();
                for (int z = 0; z < 4; z++) {
                    const __m512i p =
                        _mm512_maddubs_epi16(q[z], _mm512_loadu_si512(y->qs + 64 * z));
                    isum = _mm512_dpwssd_epi32(isum, p, pat[z]);
                }
                const __m256i bsums = _mm256_loadu_si256((const __m256i *)y->bsums);
                const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(bsums, s16), 5);
                isum = _mm512_sub_epi32(isum, _mm512_zextsi256_si512(corr));
                acc[i][c] =
                    _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(dw * y->d), acc[i][c]);
            }
        }
    }
    for (int c = 0; c < C; c++)
        for (int i = 0; i < R; i++)
            a->y[(c0 + c) * a->ldy + r + i] = _mm512_reduce_add_ps(acc[i][c]);
}

/* Lane-indexed intrinsics take immediates; with the loops over lanes unrolled (any optimized
 * build) these switches fold away, and unoptimized (sanitizer) builds still compile. */
AI __m512i insert_lane(__m512i v, __m128i x, int lane)
{
    switch (lane) {
    case 0:
        return _mm512_inserti32x4(v, x, 0);
    case 1:
        return _mm512_inserti32x4(v, x, 1);
    case 2:
        return _mm512_inserti32x4(v, x, 2);
    default:
        return _mm512_inserti32x4(v, x, 3);
    }
}

/* 128-bit lane `lane` of v in lane 0, the other lanes zero. */
AI __m512 lane_to_low(__m512 v, int lane)
{
    switch (lane) {
    case 0:
        return _mm512_maskz_shuffle_f32x4(0x000f, v, v, 0x00);
    case 1:
        return _mm512_maskz_shuffle_f32x4(0x000f, v, v, 0x55);
    case 2:
        return _mm512_maskz_shuffle_f32x4(0x000f, v, v, 0xaa);
    default:
        return _mm512_maskz_shuffle_f32x4(0x000f, v, v, 0xff);
    }
}

/* q4_K, R rows at a time with one row per 128-bit lane where it pays: the 16 bytes from d of each
 * row's super-block (d, dmin, the 12 scale bytes) give the scales and mins of all R rows in one
 * register (q4k_scales on lanes, the scale bytes one dword later). One 64-byte load of qs holds
 * the nibbles of four sub-blocks, (0, 2) low and (1, 3) high (then 4..7); vpdpbusd multiplies them
 * with the activations (sums of four products, |s| <= 7620), vpackssdw packs two such registers
 * into words without loss and one vpdpwssd applies the scales. After the pack, 128-bit lane l of
 * the pair (z, z + 1) holds four words of sub-block A then four of B, with (A, B) the first
 * sub-blocks of z and z + 1 for l < 2 and their second ones for l >= 2. The mins term of the R rows
 * is one vpmaddwd of the mins (words, per lane) with the activations' bsums summed in pairs. */
AI __m512i q4k_scales_rows(__m512i v)
{
    const __m512i a = _mm512_shuffle_epi32(v, 0xed); /* u0 u2 u1 u2 */
    const __m512i b = _mm512_shuffle_epi32(v, 0xa5); /* u0 u0 u1 u1 */
    const __m512i k1 = _mm512_set1_epi32(0x3f3f3f3f), k2 = _mm512_set1_epi32(0x0f0f0f0f);
    const __m512i k3 = _mm512_set1_epi32(0x03030303);
    const __m512i y = _mm512_and_si512(a, k1);
    const __m512i x = _mm512_or_si512(
        _mm512_and_si512(
            _mm512_srlv_epi32(a, _mm512_setr_epi32(0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 4)),
            k2),
        _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(b, 6), k3), 4));
    return _mm512_mask_blend_epi32(0xaaaa, y, x);
}

/* vpermw indices: word j of the scale pattern of row i, half h, is scale word
 * 8 i + 4 h + (j & 4 ? 1 : 0) + (j & 16 ? 2 : 0) */
#define Q4(b) b, b, b, b, b + 1, b + 1, b + 1, b + 1
#define PAT(b) Q4(b), Q4(b), Q4(b + 2), Q4(b + 2)
static const uint16_t idx_q4k_pat[4][2][32] = {
    {{PAT(0)}, {PAT(4)}},
    {{PAT(8)}, {PAT(12)}},
    {{PAT(16)}, {PAT(20)}},
    {{PAT(24)}, {PAT(28)}},
};
#undef PAT
#undef Q4

AI void q4k_rows_rc(int R, int C, const struct owb_mm_args *a, int64_t r, int64_t c0)
{
    const int64_t nb = a->k / OWB_QK_K;
    const size_t bs = sizeof(struct owb_block_q4_K);
    const uint8_t *w[4];
    const struct owb_block_q8_K *ab[4];
    __m512 acc[4][4];
    __m512 accm[4]; /* the mins terms, row i in lane i */
    for (int i = 0; i < R; i++)
        w[i] = a->w + (size_t)(r + i) * a->w_row_bytes;
    for (int c = 0; c < C; c++) {
        ab[c] = (const struct owb_block_q8_K *)(a->act + (size_t)(c0 + c) * a->act_row_bytes);
        accm[c] = _mm512_setzero_ps();
        for (int i = 0; i < R; i++)
            acc[i][c] = _mm512_setzero_ps();
    }
    const __m512i m0f = _mm512_set1_epi8(0x0f);
    const int pf_on = a->w_row_bytes > OWB_MM_KERNEL_PF_MIN_ROW_BYTES_INT512;
    const uintptr_t nxt =
        (uintptr_t)a->w + (uintptr_t)(r + kpf_ahead_rows(R, a->w_row_bytes)) * a->w_row_bytes;
    uintptr_t pf = nxt;
    for (int64_t sb = 0; sb < nb; sb++) {
        if (pf_on)
            pf = kpf_advance(pf, nxt + (uintptr_t)R * (uintptr_t)(sb + 1) * bs);
        /* d, dmin, scales and mins of the R rows */
        __m512i sv = _mm512_zextsi128_si512(_mm_loadu_si128((const __m128i *)(w[0] + sb * bs)));
        for (int i = 1; i < R; i++)
            sv = insert_lane(sv, _mm_loadu_si128((const __m128i *)(w[i] + sb * bs)), i);
        const __m512i sm = q4k_scales_rows(sv);
        const __m512i scw = _mm512_unpacklo_epi8(sm, _mm512_setzero_si512());
        const __m512i mw = _mm512_unpackhi_epi8(sm, _mm512_setzero_si512());
        const __m256 dd = _mm256_cvtph_ps(_mm512_castsi512_si128(_mm512_permutexvar_epi32(
            _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), sv)));
        /* per column: activations in sub-block pair order, d y->d and dmin y->d of each row, and
         * the mins term of all rows */
        __m512i av[4][4];
        float dy[4][8];
        for (int c = 0; c < C; c++) {
            const struct owb_block_q8_K *y = &ab[c][sb];
            for (int h = 0; h < 2; h++) {
                const __m512i l0 = _mm512_loadu_si512(y->qs + 128 * h);
                const __m512i l1 = _mm512_loadu_si512(y->qs + 128 * h + 32);
                const __m512i l2 = _mm512_loadu_si512(y->qs + 128 * h + 64);
                av[c][2 * h] = _mm512_mask_blend_epi64(0xf0, l0, l1);
                av[c][2 * h + 1] = _mm512_mask_blend_epi64(0xf0, l1, l2);
            }
            const __m256 dyv = _mm256_mul_ps(dd, _mm256_set1_ps(y->d));
            _mm256_storeu_ps(dy[c], dyv);
            const __m256i bp = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums),
                                                 _mm256_set1_epi16(1));
            const __m512i bpw = _mm512_broadcast_i32x4(_mm256_cvtepi32_epi16(bp));
            const __m512 dmin4 = _mm512_permutexvar_ps(
                _mm512_setr_epi32(1, 1, 1, 1, 3, 3, 3, 3, 5, 5, 5, 5, 7, 7, 7, 7),
                _mm512_castps256_ps512(dyv));
            accm[c] =
                _mm512_fnmadd_ps(_mm512_cvtepi32_ps(_mm512_madd_epi16(mw, bpw)), dmin4, accm[c]);
        }
        for (int i = 0; i < R; i++) {
            const struct owb_block_q4_K *x =
                (const struct owb_block_q4_K *)(w[i] + (size_t)sb * bs);
            __m512i q[4], pat[2];
            for (int h = 0; h < 2; h++) {
                const __m512i v = _mm512_loadu_si512(x->qs + 64 * h);
                q[2 * h] = _mm512_and_si512(v, m0f);
                q[2 * h + 1] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m0f);
                pat[h] = _mm512_permutexvar_epi16(_mm512_loadu_si512(idx_q4k_pat[i][h]), scw);
            }
            for (int c = 0; c < C; c++) {
                __m512i isum = _mm512_setzero_si512();
                for (int h = 0; h < 2; h++) {
                    const __m512i z = _mm512_setzero_si512();
                    const __m512i d0 = _mm512_dpbusd_epi32(z, q[2 * h], av[c][2 * h]);
                    const __m512i d1 = _mm512_dpbusd_epi32(z, q[2 * h + 1], av[c][2 * h + 1]);
                    isum = _mm512_dpwssd_epi32(isum, _mm512_packs_epi32(d0, d1), pat[h]);
                }
                acc[i][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(dy[c][2 * i]),
                                            acc[i][c]);
            }
        }
    }
    for (int c = 0; c < C; c++)
        for (int i = 0; i < R; i++) {
            const __m512 m = lane_to_low(accm[c], i);
            a->y[(c0 + c) * a->ldy + r + i] = _mm512_reduce_add_ps(_mm512_add_ps(acc[i][c], m));
        }
}

/* q4_K: four rows per pass at every batch (the scales of the four rows share one register) */
static void rows_q4_K(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    for (int64_t c0 = 0; c0 < a->batch;) {
        const int64_t nc = a->batch - c0;
        if (nc >= 4) {
            ROWS_LOOP(4, q4k_rows_rc(1, 4, a, r_, c0), q4k_rows_rc(4, 4, a, r_, c0));
            c0 += 4;
        } else if (nc >= 2) {
            ROWS_LOOP(4, q4k_rows_rc(1, 2, a, r_, c0), q4k_rows_rc(4, 2, a, r_, c0));
            c0 += 2;
        } else {
            ROWS_LOOP(4, q4k_rows_rc(1, 1, a, r_, c0), q4k_rows_rc(4, 1, a, r_, c0));
            c0 += 1;
        }
    }
}

static void rows_q6_K(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    for (int64_t c0 = 0; c0 < a->batch;) {
        const int64_t nc = a->batch - c0;
        if (nc >= 4) {
            ROWS_LOOP(2, q6k_rows_rc(1, 4, a, r_, c0), q6k_rows_rc(2, 4, a, r_, c0));
            c0 += 4;
        } else if (nc >= 2) {
            ROWS_LOOP(2, q6k_rows_rc(1, 2, a, r_, c0), q6k_rows_rc(2, 2, a, r_, c0));
            c0 += 2;
        } else {
            ROWS_LOOP(4, q6k_rows_rc(1, 1, a, r_, c0), q6k_rows_rc(4, 1, a, r_, c0));
            c0 += 1;
        }
    }
}
/* ------------------------------------------------------------------------------ table ---- */

const struct owb_mm_kernel owb_mm_kernels_avx512[] = {
    {OWB_TYPE_F32, OWB_ISA_AVX512, 1, 0, "avx512 f32 fma gemv", rows_f32, 0},
    {OWB_TYPE_F16, OWB_ISA_AVX512, 1, 0, "avx512 f16xf32 fma gemv", rows_f16, 0},
    {OWB_TYPE_BF16, OWB_ISA_AVX512, 1, OWB_MM_NEEDS_BF16, "avx512-bf16 bf16xbf16 dpbf16 gemv",
     rows_bf16_dp, 0},
    {OWB_TYPE_BF16, OWB_ISA_AVX512, 1, 0, "avx512 bf16xbf16 fma gemv", rows_bf16, 0},
    {OWB_TYPE_Q4_0, OWB_ISA_AVX512, 1, OWB_MM_NEEDS_VNNI, "avx512-vnni q4_0xq8_0 gemv", rows_q4_0,
     0},
    {OWB_TYPE_Q8_0, OWB_ISA_AVX512, 1, OWB_MM_NEEDS_VNNI, "avx512-vnni q8_0xq8_0 gemv", rows_q8_0,
     0},
    {OWB_TYPE_MXFP4, OWB_ISA_AVX512, 1, OWB_MM_NEEDS_VNNI, "avx512-vnni mxfp4xq8_0 gemv",
     rows_mxfp4, 0},
    {OWB_TYPE_Q4_K, OWB_ISA_AVX512, 1, OWB_MM_NEEDS_VNNI, "avx512-vnni q4_Kxq8_K gemv", rows_q4_K,
     0},
    {OWB_TYPE_Q6_K, OWB_ISA_AVX512, 1, OWB_MM_NEEDS_VNNI, "avx512-vnni q6_Kxq8_K gemv", rows_q6_K,
     0},
    {OWB_TYPE_COUNT, OWB_ISA_AVX512, 0, 0, NULL, NULL, 0},
};
