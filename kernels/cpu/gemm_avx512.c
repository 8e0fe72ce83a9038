/* SPDX-License-Identifier: MIT */
/*
 * gemm_avx512.c: AVX-512 (F/BW/VL/DQ + VNNI) GEMM kernels for owb_matmul_rows (batch >= 16): the
 * 32-wide integer formats (q4_0, q8_0, mxfp4), the k-quants (q4_K, q6_K) and the float formats
 * (bf16 weights with their bf16 activations widened to f32), against the same prepared activations
 * as the GEMV kernels of matmul_avx512.c.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/cpu/fl_avx512.h"
#include "kernels/cpu/matmul_cpu.h"

#define B32_VBMI 0
#include "kernels/cpu/b32_avx512.h"

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
/* Rows x columns per outer block: each packed k slice of a weight tile is reused by GEMM_CB
 * columns, each packed activation slice (32-wide formats) by GEMM_RB / 16 tiles; the partial sums
 * of a block (128 KiB, or 512 KiB + 320 KiB of regrouped activations for the 32-wide formats) stay
 * in a 1 MiB L2. The 32-wide formats take bigger blocks so that their activation regrouping and
 * tile unpacking are amortized over more tiles and columns (256 x 512 against 256 x 256: +4% at
 * 4096x14336 b512, 2 threads, 3 alternated rounds). */
#define GEMM_RB 64
#define GEMM_CB 512
#define GEMM_RB_Q 256
#define GEMM_CB_Q 512

struct gemm_tile_q {
    uint8_t q[GEMM_KC_Q / 32][8][64]; /* [block][group of 4 quants][row x 4 bytes] */
    float d[GEMM_KC_Q / 32][16];      /* weight block scales per row */
};

/* The 32 quants of one weight block made unsigned for vpdpbusd, in element order, and its scale. */
/* The 32 mxfp4 quants of a block (16 bytes v: element i in the low nibble of byte i, element
 * 16 + i in the high one) as unsigned offsets for vpdpbusd, and its scale e as a float. */
AI __m256i gemm_mxfp4_u8(__m128i v, uint32_t e, float *d)
{
    const __m256i u =
        _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0f));
    const uint32_t bits = e < 2 ? 0x00200000u << e : (e - 1) << 23;
    memcpy(d, &bits, sizeof *d);
    return _mm256_shuffle_epi8(
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)mxfp4_u)), u);
}

AI __m256i gemm_block_u8(int f, const uint8_t *blk, float *d)
{
    if (f == F_Q8_0) {
        *d = _cvtsh_ss((unsigned short)(blk[0] | blk[1] << 8));
        return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + 2)),
                                _mm256_set1_epi8((char)0x80));
    }
    const __m128i v = _mm_loadu_si128((const __m128i *)(blk + (f == F_Q4_0 ? 2 : 1)));
    if (f == F_MXFP4)
        return gemm_mxfp4_u8(v, blk[0], d);
    *d = _cvtsh_ss((unsigned short)(blk[0] | blk[1] << 8));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0f));
}

/* Block b of row r as gemm_block_u8 takes it, in the weights' layout: a REP8 group's block is
 * read from its two quant halves and its scale byte where they lie (kernels/matmul.h). */
AI __m256i gemm_block_at(int f, const struct owb_mm_args *a, int64_t nbf, int64_t r, int64_t b,
                         int bs, float *d)
{
    const uint8_t *row = a->w + (size_t)r * a->w_row_bytes;
    if (f != F_MXFP4 || b >= nbf) /* nbf: blocks in REP8 groups (0 for rows as stored) */
        return gemm_block_u8(f, row + (size_t)b * (size_t)bs, d);
    const uint8_t *g = row + (size_t)(b / 8) * 136;
    const int j = (int)(b % 8);
    const __m128i v = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)(g + 8 * j)),
                                         _mm_loadl_epi64((const __m128i *)(g + 64 + 8 * j)));
    return gemm_mxfp4_u8(v, g[128 + j], d);
}

/*
 * Unpack blocks [jb, jb + nj) of rows r..r+nr (nr <= 16; missing rows are zero) into t. Per block,
 * the 16 rows' 8 dwords (4 quants each) are transposed in registers into the 8 [group][row] dwords
 * of the tile: two 8x8 dword transposes side by side in the halves of each zmm (rows i and i + 8),
 * unpack epi32/epi64 within 128-bit lanes, then one qword permute per output. (A vpscatterdd per
 * row and block cost ~14 cycles each on Zen 4: 8% of a whole GEMM.)
 */
AI void gemm_pack_q(int f, const struct owb_mm_args *a, int64_t r, int nr, int64_t jb, int nj,
                    struct gemm_tile_q *t)
{
    const int bs = b32_size(f);
    const __m512i lo_idx = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
    const __m512i hi_idx = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    const int64_t nbf = f == F_MXFP4 && a->wl ? a->k / 256 * 8 : 0;
    for (int j = 0; j < nj; j++) {
        __m512i A[8];
        for (int i = 0; i < 8; i++) {
            __m256i u0 = _mm256_setzero_si256(), u1 = _mm256_setzero_si256();
            float d0 = 0.0f, d1 = 0.0f;
            if (i < nr)
                u0 = gemm_block_at(f, a, nbf, r + i, jb + j, bs, &d0);
            if (i + 8 < nr)
                u1 = gemm_block_at(f, a, nbf, r + i + 8, jb + j, bs, &d1);
            t->d[j][i] = d0;
            t->d[j][i + 8] = d1;
            A[i] = _mm512_inserti64x4(_mm512_castsi256_si512(u0), u1, 1);
        }
        __m512i T[8], S[8];
        for (int i = 0; i < 8; i += 2) {
            T[i] = _mm512_unpacklo_epi32(A[i], A[i + 1]);
            T[i + 1] = _mm512_unpackhi_epi32(A[i], A[i + 1]);
        }
        for (int h = 0; h < 8; h += 4) { /* rows h..h+3: dword c of each lane in S[h + c] */
            S[h + 0] = _mm512_unpacklo_epi64(T[h], T[h + 2]);
            S[h + 1] = _mm512_unpackhi_epi64(T[h], T[h + 2]);
            S[h + 2] = _mm512_unpacklo_epi64(T[h + 1], T[h + 3]);
            S[h + 3] = _mm512_unpackhi_epi64(T[h + 1], T[h + 3]);
        }
        for (int c = 0; c < 4; c++) { /* groups c (lanes 0, 2) and 4 + c (lanes 1, 3) */
            _mm512_store_si512(t->q[j][c], _mm512_permutex2var_epi64(S[c], lo_idx, S[c + 4]));
            _mm512_store_si512(t->q[j][c + 4], _mm512_permutex2var_epi64(S[c], hi_idx, S[c + 4]));
        }
    }
}

/* acc += wv . broadcast(4 bytes at p), with the broadcast as vpdpbusd's memory operand: gcc 12
 * emits a separate vpbroadcastd (plus register copies) for _mm512_set1_epi32 of a load. */
AI __m512i dpbusd_bcst(__m512i acc, __m512i wv, const void *p)
{
    __asm__("vpdpbusd %[m]%{1to16%}, %[w], %[acc]"
            : [acc] "+v"(acc)
            : [w] "v"(wv), [m] "m"(*(const int32_t *)p));
    return acc;
}

/*
 * The activation slice of the current k slice, regrouped per GEMM_C columns so that the kernel
 * reaches every column's quants, scale and offset sum from one pointer at fixed offsets (with one
 * pointer per column the kernel ran out of general registers and reloaded them from the stack) and
 * walks memory contiguously. Columns past the batch are zero. Built once per row block and k slice,
 * reused by its GEMM_RB_Q / 16 tiles.
 */
struct gemm_act_q {
    int32_t ns[GEMM_C][GEMM_KC_Q / 32];
    float d[GEMM_C][GEMM_KC_Q / 32];
    uint8_t qs[GEMM_C][GEMM_KC_Q / 32][32];
};
#define GEMM_PF_COLS 8
static _Thread_local struct {
    _Alignas(64) struct gemm_act_q g[GEMM_CB_Q / GEMM_C];
} gemm_act;

/* Regroup blocks [jb, jb + nj) of columns [cb, cb + nc) into gemm_act. */
static void gemm_pack_act_q(const struct owb_mm_args *a, int64_t jb, int nj, int64_t cb, int64_t nc)
{
    const int64_t ng = (nc + GEMM_C - 1) / GEMM_C;
    const __mmask16 m = (__mmask16)(nj >= 16 ? 0xffffu : (1u << nj) - 1u);
    const size_t d_off = owb_mm_q8_0_d_off(a->k), ns_off = owb_mm_q8_0_sum_off(a->k);
    for (int64_t gi = 0; gi < ng; gi++) {
        struct gemm_act_q *g = &gemm_act.g[gi];
        for (int c = 0; c < GEMM_C; c++) {
            const int64_t col = gi * GEMM_C + c;
            if (col >= nc) {
                _mm512_store_si512(g->ns[c], _mm512_setzero_si512());
                _mm512_store_si512(g->d[c], _mm512_setzero_si512());
                memset(g->qs[c], 0, sizeof g->qs[c]);
                continue;
            }
            const uint8_t *row = a->act + (size_t)(cb + col) * a->act_row_bytes;
            const struct owb_block_q8_0 *blk = (const struct owb_block_q8_0 *)row + jb;
            if (col + GEMM_PF_COLS < nc) { /* the slices come from L3: fetch a few columns ahead */
                const uint8_t *nx = row + GEMM_PF_COLS * a->act_row_bytes;
                const uint8_t *b0 = (const uint8_t *)((const struct owb_block_q8_0 *)nx + jb);
                for (int l = 0; l <= nj * 34 / 64 + 1; l++)
                    _mm_prefetch((const char *)(b0 + 64 * l), _MM_HINT_T0);
                _mm_prefetch((const char *)((const int32_t *)(nx + ns_off) + jb), _MM_HINT_T0);
                _mm_prefetch((const char *)((const int32_t *)(nx + d_off) + jb), _MM_HINT_T0);
            }
            _mm512_store_si512(g->ns[c],
                               _mm512_maskz_loadu_epi32(m, (const int32_t *)(row + ns_off) + jb));
            _mm512_store_si512(g->d[c],
                               _mm512_maskz_loadu_epi32(m, (const int32_t *)(row + d_off) + jb));
            for (int j = 0; j < nj; j++)
                _mm256_store_si256((__m256i *)g->qs[c][j],
                                   _mm256_loadu_si256((const __m256i *)blk[j].qs));
        }
    }
}

/* The GEMM_C columns of group g against a packed tile of nj blocks, added into (or, on the first
 * k slice, stored to) the partial sums s[GEMM_C][16]. */
AI void gemm_kernel_q(const struct gemm_tile_q *t, const struct gemm_act_q *g, int nj, int first,
                      float *s)
{
    __m512 acc[GEMM_C];
    for (int c = 0; c < GEMM_C; c++)
        acc[c] = first ? _mm512_setzero_ps() : _mm512_load_ps(s + 16 * c);
    for (int j = 0; j < nj; j++) {
        __m512i ai[GEMM_C];
        for (int c = 0; c < GEMM_C; c++)
            ai[c] = _mm512_set1_epi32(g->ns[c][j]);
        for (int q = 0; q < 8; q++) {
            const __m512i wv = _mm512_load_si512(t->q[j][q]);
            for (int c = 0; c < GEMM_C; c++)
                ai[c] = dpbusd_bcst(ai[c], wv, g->qs[c][j] + 4 * q);
        }
        const __m512 dw = _mm512_load_ps(t->d[j]);
        for (int c = 0; c < GEMM_C; c++)
            acc[c] = _mm512_fmadd_ps(
                _mm512_mul_ps(_mm512_cvtepi32_ps(ai[c]), _mm512_set1_ps(g->d[c][j])), dw, acc[c]);
    }
    for (int c = 0; c < GEMM_C; c++)
        _mm512_store_ps(s + 16 * c, acc[c]);
}

/*
 * Partial sums of one block of GEMM_RB rows x GEMM_CB columns across the k slices, laid out
 * [tile][column][16 rows] so that slice after slice adds into contiguous memory (Y's own row stride
 * is often a multiple of 4 KiB, which would alias in L1). Thread-local: kernels get no scratch from
 * their caller, and each thread runs its own row range.
 */
static _Thread_local struct {
    _Alignas(64) float y[GEMM_RB_Q * GEMM_CB_Q > GEMM_RB *GEMM_CB ? GEMM_RB_Q *GEMM_CB_Q
                                                                  : GEMM_RB *GEMM_CB];
} gemm_scratch;

/* Partial sums of column c of tile `tile` in a block of cbs columns. */
AI float *gemm_part(int tile, int64_t c, int64_t cbs)
{
    return gemm_scratch.y + ((size_t)tile * (size_t)cbs + (size_t)c) * 16;
}

/* Add (or store, on the first k slice) C columns of one tile into the scratch. */
AI void gemm_accum(int tile, int64_t c, int C, int first, const __m512 acc[GEMM_C])
{
    for (int j = 0; j < C; j++) {
        float *s = gemm_part(tile, c + j, GEMM_CB);
        _mm512_store_ps(s, first ? acc[j] : _mm512_add_ps(_mm512_load_ps(s), acc[j]));
    }
}

/* Write the scratch of rows [rb, re) and columns [cb, cb + nc) to Y. */
static void gemm_flush(const struct owb_mm_args *a, int64_t rb, int64_t re, int64_t cb, int64_t nc,
                       int64_t cbs)
{
    for (int64_t r = rb; r < re; r += 16) {
        const int nr = (int)(re - r < 16 ? re - r : 16);
        const __mmask16 m = (__mmask16)(nr >= 16 ? 0xffffu : (1u << nr) - 1u);
        const int tile = (int)((r - rb) / 16);
        for (int64_t c = 0; c < nc; c++)
            _mm512_mask_storeu_ps(a->y + (cb + c) * a->ldy + r, m,
                                  _mm512_load_ps(gemm_part(tile, c, cbs)));
    }
}

AI void gemm_q(int f, const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    _Alignas(64) struct gemm_tile_q t;
    const int64_t nb = a->k / OWB_QK;
    for (int64_t cb = 0; cb < a->batch; cb += GEMM_CB_Q) {
        const int64_t nc = a->batch - cb < GEMM_CB_Q ? a->batch - cb : GEMM_CB_Q;
        for (int64_t rb = r0; rb < r1; rb += GEMM_RB_Q) {
            const int64_t re = rb + GEMM_RB_Q < r1 ? rb + GEMM_RB_Q : r1;
            for (int64_t jb = 0; jb < nb; jb += GEMM_KC_Q / 32) {
                const int nj = (int)(nb - jb < GEMM_KC_Q / 32 ? nb - jb : GEMM_KC_Q / 32);
                gemm_pack_act_q(a, jb, nj, cb, nc);
                for (int64_t r = rb; r < re; r += 16) {
                    const int nr = (int)(re - r < 16 ? re - r : 16);
                    const int tile = (int)((r - rb) / 16);
                    gemm_pack_q(f, a, r, nr, jb, nj, &t);
                    for (int64_t c = 0; c < nc; c += GEMM_C)
                        gemm_kernel_q(&t, &gemm_act.g[c / GEMM_C], nj, jb == 0,
                                      gemm_part(tile, c, GEMM_CB_Q));
                }
            }
            gemm_flush(a, rb, re, cb, nc, GEMM_CB_Q);
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

/* 16 x 16 floats: o[c] gets element c of r[0..15] (unpacks within 128-bit lanes, then two rounds
 * of 128-bit lane shuffles). */
AI void transpose16_ps(const __m512 r[16], __m512 o[16])
{
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) { /* u[i + e], lane L: rows i..i+3 of column 4 L + e */
        const __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 2]);
        const __m512d c = _mm512_castps_pd(t[i + 1]), d = _mm512_castps_pd(t[i + 3]);
        u[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        u[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        u[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
        u[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
    }
    for (int e = 0; e < 4; e++) {
        const __m512 v0 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0x88);
        const __m512 w0 = _mm512_shuffle_f32x4(u[e], u[4 + e], 0xdd);
        const __m512 v1 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0x88);
        const __m512 w1 = _mm512_shuffle_f32x4(u[8 + e], u[12 + e], 0xdd);
        o[e] = _mm512_shuffle_f32x4(v0, v1, 0x88);
        o[8 + e] = _mm512_shuffle_f32x4(v0, v1, 0xdd);
        o[4 + e] = _mm512_shuffle_f32x4(w0, w1, 0x88);
        o[12 + e] = _mm512_shuffle_f32x4(w0, w1, 0xdd);
    }
}

/* Unpack elements [kb, kb + nk) of rows r..r+nr (nr <= 16; missing rows are zero) into t, 16
 * elements of 16 rows at a time by an in-register transpose (a vscatterdps per row and 16
 * elements made the tile unpacking cost more than the FMAs up to batch ~32). */
AI void gemm_pack_f(int f, const struct owb_mm_args *a, int64_t r, int nr, int64_t kb, int nk,
                    struct gemm_tile_f *t)
{
    /* the same rows' next k slice is unpacked GEMM_RB / 16 tiles later: fetch it into L2 now (at
     * small batches the tiles stream from DRAM as 16 short row pieces, which the hardware
     * prefetchers follow badly) */
    const int esz = f == F_F32 ? 4 : 2;
    if (kb + GEMM_KC_F < a->k)
        for (int i = 0; i < nr; i++)
            for (int l = 0; l < GEMM_KC_F * esz; l += 64)
                _mm_prefetch((const char *)(a->w + (size_t)(r + i) * a->w_row_bytes +
                                            (size_t)(kb + GEMM_KC_F) * (size_t)esz + (size_t)l),
                             _MM_HINT_T1);
    for (int j = 0; j < nk; j += 16) {
        const __mmask16 m = (__mmask16)(nk - j >= 16 ? 0xffffu : (1u << (nk - j)) - 1u);
        __m512 rows[16], cols[16];
        for (int i = 0; i < 16; i++)
            rows[i] = i < nr ? fl_load_mask(f, a->w + (size_t)(r + i) * a->w_row_bytes, kb + j, m)
                             : _mm512_setzero_ps();
        transpose16_ps(rows, cols);
        for (int c = 0; c < 16 && j + c < nk; c++)
            _mm512_store_ps(t->w[j + c], cols[c]);
    }
}

/* Columns c0..c0+C of the k slice from x0 (column c at x0 + c * ldx) against the tile. */
AI void gemm_kernel_f(int C, const float *x0, int64_t ldx, const struct gemm_tile_f *t, int nk,
                      __m512 acc[GEMM_C])
{
    const float *x[GEMM_C];
    for (int c = 0; c < C; c++) {
        x[c] = x0 + c * ldx;
        acc[c] = _mm512_setzero_ps();
    }
    for (int j = 0; j < nk; j++) {
        const __m512 wv = _mm512_load_ps(t->w[j]);
        for (int c = 0; c < C; c++)
            acc[c] = _mm512_fmadd_ps(wv, _mm512_set1_ps(x[c][j]), acc[c]);
    }
}

/* bf16 activations of the current row block and k slice, widened to f32 once for its GEMM_RB / 16
 * tiles (about 5% of the FMAs) so that the kernel keeps its broadcast loads. */
static _Thread_local struct {
    _Alignas(64) float x[GEMM_CB][GEMM_KC_F];
} gemm_xw;

static void gemm_widen_bf16(const struct owb_mm_args *a, int64_t cb, int64_t nc, int64_t kb, int nk)
{
    for (int64_t c = 0; c < nc; c++) {
        const uint8_t *src = a->act + (size_t)(cb + c) * a->act_row_bytes;
        for (int j = 0; j < nk; j += 16) {
            const __mmask16 m = (__mmask16)(nk - j >= 16 ? 0xffffu : (1u << (nk - j)) - 1u);
            _mm512_store_ps(gemm_xw.x[c] + j, fl_load_mask(F_BF16, src, kb + j, m));
        }
    }
}

/* Weights of format f; activations f32 (X) or, for bf16 weights, the prepared bf16 rows (xf). */
AI void gemm_f(int f, int xf, const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    _Alignas(64) struct gemm_tile_f t;
    for (int64_t cb = 0; cb < a->batch; cb += GEMM_CB) {
        const int64_t nc = a->batch - cb < GEMM_CB ? a->batch - cb : GEMM_CB;
        for (int64_t rb = r0; rb < r1; rb += GEMM_RB) {
            const int64_t re = rb + GEMM_RB < r1 ? rb + GEMM_RB : r1;
            for (int64_t kb = 0; kb < a->k; kb += GEMM_KC_F) {
                const int nk = (int)(a->k - kb < GEMM_KC_F ? a->k - kb : GEMM_KC_F);
                if (xf == F_BF16)
                    gemm_widen_bf16(a, cb, nc, kb, nk);
                const float *xs = xf == F_BF16 ? gemm_xw.x[0] : a->x + cb * a->ldx + kb;
                const int64_t ldx = xf == F_BF16 ? GEMM_KC_F : a->ldx;
                for (int64_t r = rb; r < re; r += 16) {
                    const int nr = (int)(re - r < 16 ? re - r : 16);
                    const int tile = (int)((r - rb) / 16);
                    gemm_pack_f(f, a, r, nr, kb, nk, &t);
                    int64_t c = 0;
                    __m512 acc[GEMM_C];
                    for (; c + GEMM_C <= nc; c += GEMM_C) {
                        gemm_kernel_f(GEMM_C, xs + c * ldx, ldx, &t, nk, acc);
                        gemm_accum(tile, c, GEMM_C, kb == 0, acc);
                    }
                    for (; c < nc; c++) {
                        gemm_kernel_f(1, xs + c * ldx, ldx, &t, nk, acc);
                        gemm_accum(tile, c, 1, kb == 0, acc);
                    }
                }
            }
            gemm_flush(a, rb, re, cb, nc, GEMM_CB);
        }
    }
}

static void gemm_f32(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    gemm_f(F_F32, F_F32, a, r0, r1);
}

static void gemm_f16(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    gemm_f(F_F16, F_F32, a, r0, r1);
}

/* bf16 x bf16 on AVX-512 CPUs without AVX512_BF16 (widened to f32, FMA). With it the GEMM is
 * owb_mm_gemm_bf16_dp (matmul_avx512.c): the GEMV's vdpbf16ps arithmetic, blocked for the caches,
 * which gives every batch size the same bits as ggml's tinyBLAS tile. On the Sapphire Rapids VM
 * a vdpbf16ps tile with bf16 pairs in the lanes (rows in lanes, the column's pair broadcast) ran
 * at 77 GFLOP/s where this one ran 93-101; on Zen 4 the k-in-lanes 4x4 tile runs 195-208 GFLOP/s
 * per core where this one runs 97-103 (docs/perf-notes.md, session 5). */
static void gemm_bf16(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    gemm_f(F_BF16, F_BF16, a, r0, r1);
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
        _mm_storeu_si128((__m128i *)sm, q4k_scales(x->scales));
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
            gemm_flush(a, rb, re, cb, nc, GEMM_CB);
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

/* From which batch the tiles beat the multi-column GEMV (4096x4096, 1 thread, DRAM): q4_0 and
 * mxfp4 at 5 (1.3-1.6x at batch 5-12: their GEMV unpacks nibbles per column pass); q8_0, the
 * k-quants and the float formats are even with it below 16. */
const struct owb_mm_kernel owb_mm_kernels_avx512_gemm[] = {
    {OWB_TYPE_F32, OWB_ISA_AVX512, 16, 0, "avx512 f32 fma gemm16x8", gemm_f32, 0},
    {OWB_TYPE_F16, OWB_ISA_AVX512, 16, 0, "avx512 f16xf32 fma gemm16x8", gemm_f16, 0},
    {OWB_TYPE_BF16, OWB_ISA_AVX512, 16, OWB_MM_NEEDS_BF16, "avx512-bf16 bf16xbf16 dpbf16 gemm4x4",
     owb_mm_gemm_bf16_dp, 0},
    {OWB_TYPE_BF16, OWB_ISA_AVX512, 16, 0, "avx512 bf16xbf16 fma gemm16x8", gemm_bf16, 0},
    {OWB_TYPE_Q4_0, OWB_ISA_AVX512, 5, OWB_MM_NEEDS_VNNI, "avx512-vnni q4_0xq8_0 gemm16x8",
     gemm_q4_0, 0},
    {OWB_TYPE_Q8_0, OWB_ISA_AVX512, 16, OWB_MM_NEEDS_VNNI, "avx512-vnni q8_0xq8_0 gemm16x8",
     gemm_q8_0, 0},
    {OWB_TYPE_MXFP4, OWB_ISA_AVX512, 5, OWB_MM_NEEDS_VNNI, "avx512-vnni mxfp4xq8_0 gemm16x8",
     gemm_mxfp4, 1},
    {OWB_TYPE_Q4_K, OWB_ISA_AVX512, 16, OWB_MM_NEEDS_VNNI, "avx512-vnni q4_Kxq8_K gemm16x8",
     gemm_q4_K, 0},
    {OWB_TYPE_Q6_K, OWB_ISA_AVX512, 16, OWB_MM_NEEDS_VNNI, "avx512-vnni q6_Kxq8_K gemm16x8",
     gemm_q6_K, 0},
    {OWB_TYPE_COUNT, OWB_ISA_AVX512, 0, 0, NULL, NULL, 0},
};
