/* SPDX-License-Identifier: MIT */
/*
 * gemm_avx2.c: AVX2 + FMA + F16C GEMM kernels for owb_matmul_rows (batch >= 16): the 32-wide
 * integer formats (q4_0, q8_0, mxfp4), the k-quants (q4_K, q6_K) and the float formats, against
 * the same prepared activations as the GEMV kernels of matmul_avx2.c. The AVX-512 twin is
 * gemm_avx512.c; this one has no vpdpbusd, half the lanes and half the registers.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels/cpu/fl_avx2.h"
#include "kernels/cpu/matmul_cpu.h"

/* Pins a running integer sum in a register at this point. Without it GCC reassociates a block's
 * chain of vpaddw/vpaddd into a tree whose leaves (all the block's vpmaddubsw products) are live
 * at once and spill. q4_0 at 256x4096, batch 128, Zen 4: 160 GFLOP/s without, 195 with vpaddsw
 * (saturating, so never reassociated, but it shares the two multiply pipes), 248 with this. */
#define KEEP(v) __asm__("" : "+x"(v))

/*
 * Register-blocked tiles: a tile of 16 weight rows x one k slice is unpacked once into a
 * transposed layout, 8 rows in the 8 lanes of a register (int8 groups of four quants per row, or
 * f32), and reused for every column of the batch. A pass runs both halves of the tile (one when
 * it has at most 8 rows) against C columns, one broadcast activation value (or four quants) per
 * column and step. Integer dots are vpmaddubsw (unsigned weights x signed activations into
 * saturating int16 pairs) then vpmaddwd with ones; every int16 sum is kept below 32767 by
 * construction (see gemm_kernel_q). The partial sums of each k slice are added into a thread-local
 * scratch, in the same order whatever the row range, so a row split is bitwise equal to one call.
 */
#define GEMM_KC_Q 512 /* int8 tiles: 16 blocks, 8 KiB of quants + 1 KiB of scales */
#define GEMM_KC_F 256 /* f32 tiles: 16 KiB */
#define GEMM_RB 64    /* rows per outer block: its packed k slice is reused by GEMM_CB columns */
#define GEMM_CB 512
#define GEMM_CMAX 6 /* most columns per pass */

/* 8 x 8 dwords: o[g] gets dword g of r[0..7]. */
AI void transpose8(const __m256i r[8], __m256i o[8])
{
    __m256i t[8], s[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        s[4 * i] = _mm256_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        s[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        s[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        s[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    for (int g = 0; g < 4; g++) {
        o[g] = _mm256_permute2x128_si256(s[g], s[g + 4], 0x20);
        o[g + 4] = _mm256_permute2x128_si256(s[g], s[g + 4], 0x31);
    }
}

/* Partial sums of one block of GEMM_RB rows x GEMM_CB columns across the k slices, laid out
 * [tile][column][16 rows] (Y's own row stride is often a multiple of 4 KiB, which would alias in
 * L1). Thread-local: kernels get no scratch from their caller, and each thread runs its own rows.
 */
static _Thread_local struct {
    _Alignas(64) float y[GEMM_RB / 16][GEMM_CB][16];
} gemm_scratch;

/* Add (or store, on the first k slice) C columns of the first H halves of one tile into the
 * scratch. */
AI void gemm_accum(int H, int C, int tile, int64_t c, int first, __m256 acc[2][GEMM_CMAX])
{
    for (int j = 0; j < C; j++)
        for (int h = 0; h < H; h++) {
            float *s = gemm_scratch.y[tile][c + j] + 8 * h;
            _mm256_store_ps(s, first ? acc[h][j] : _mm256_add_ps(_mm256_load_ps(s), acc[h][j]));
        }
}

/* Write the scratch of rows [rb, re) and columns [cb, cb + nc) to Y. */
static void gemm_flush(const struct owb_mm_args *a, int64_t rb, int64_t re, int64_t cb, int64_t nc)
{
    for (int64_t r = rb; r < re; r += 16) {
        const int nr = (int)(re - r < 16 ? re - r : 16);
        const int tile = (int)((r - rb) / 16);
        for (int64_t c = 0; c < nc; c++) {
            const float *s = gemm_scratch.y[tile][c];
            float *y = a->y + (cb + c) * a->ldy + r;
            if (nr == 16) {
                _mm256_storeu_ps(y, _mm256_load_ps(s));
                _mm256_storeu_ps(y + 8, _mm256_load_ps(s + 8));
            } else {
                memcpy(y, s, (size_t)nr * sizeof(float));
            }
        }
    }
}

/* ------------------------------------------------------- 32-wide integer formats ---- */

struct gemm_tile_q {
    uint8_t q[GEMM_KC_Q / 32][8][64]; /* [block][group of 4 quants][row x 4 bytes] */
    float d[GEMM_KC_Q / 32][16];      /* weight block scales per row */
};

/* One block's 32 quants in element order, so dword g is group g: q4_0 nibbles 0..15, mxfp4 table
 * values 0..24, q8_0 signed as stored. */
AI __m256i b32_quants(int f, const uint8_t *blk)
{
    if (f == F_Q8_0)
        return _mm256_loadu_si256((const __m256i *)(blk + 2));
    const __m128i v = _mm_loadu_si128((const __m128i *)(blk + (f == F_Q4_0 ? 2 : 1)));
    const __m256i u =
        _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0f));
    if (f != F_MXFP4)
        return u;
    const __m256i tab = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)mxfp4_u));
    return _mm256_shuffle_epi8(tab, u);
}

AI float b32_scale(int f, const uint8_t *blk)
{
    if (f != F_MXFP4)
        return _cvtsh_ss((unsigned short)(blk[0] | blk[1] << 8));
    /* E8M0 / 2 (ggml's e8m0_to_fp32_half) */
    const uint32_t e = blk[0];
    const uint32_t bits = e < 2 ? 0x00200000u << e : (e - 1) << 23;
    float d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* Unpack blocks [jb, jb + nj) of rows r..r+nr (nr <= 16; missing rows are zero) into t. */
AI void gemm_pack_q(int f, const struct owb_mm_args *a, int64_t r, int nr, int64_t jb, int nj,
                    struct gemm_tile_q *t)
{
    const int bs = b32_size(f);
    for (int h = 0; h < 2; h++) {
        const uint8_t *row[8];
        for (int i = 0; i < 8; i++)
            row[i] = 8 * h + i < nr
                         ? a->w + (size_t)(r + 8 * h + i) * a->w_row_bytes + (size_t)(jb * bs)
                         : NULL;
        for (int j = 0; j < nj; j++) {
            __m256i u[8], o[8];
            for (int i = 0; i < 8; i++) {
                const uint8_t *blk = row[i] ? row[i] + (size_t)(j * bs) : NULL;
                u[i] = blk ? b32_quants(f, blk) : _mm256_setzero_si256();
                t->d[j][8 * h + i] = blk ? b32_scale(f, blk) : 0.0f;
            }
            transpose8(u, o);
            for (int g = 0; g < 8; g++)
                _mm256_store_si256((__m256i *)(t->q[j][g] + 32 * h), o[g]);
        }
    }
}

/*
 * C columns from c0 against the first H halves of a packed tile of nj blocks (block jb of the
 * activations first). q4_0 and mxfp4 add the int16 pairs of a whole block (q4_0: 8 x 2 x 15 x 128
 * = 30720) or half a block (mxfp4: 4 x 2 x 24 x 128 = 24576) before widening; their offset (-8 or
 * -12 times the block's activation sum) comes in through nsum. q8_0 takes ggml's sign trick, |w|
 * times sign(w) * a (2 x 128 x 127 < 32767 per pair), widened at once.
 */
AI void gemm_kernel_q(int f, int H, int C, const struct owb_mm_args *a, const struct gemm_tile_q *t,
                      int64_t jb, int nj, int64_t c0, __m256 acc[2][GEMM_CMAX])
{
    const struct owb_block_q8_0 *blk[GEMM_CMAX];
    const float *da[GEMM_CMAX];
    const int32_t *ns[GEMM_CMAX];
    const __m256i ones = _mm256_set1_epi16(1);
    for (int c = 0; c < C; c++) {
        const uint8_t *row = a->act + (size_t)(c0 + c) * a->act_row_bytes;
        blk[c] = (const struct owb_block_q8_0 *)row + jb;
        da[c] = (const float *)(row + owb_mm_q8_0_d_off(a->k)) + jb;
        ns[c] = (const int32_t *)(row + owb_mm_q8_0_sum_off(a->k)) + jb;
        for (int h = 0; h < H; h++)
            acc[h][c] = _mm256_setzero_ps();
    }
    for (int j = 0; j < nj; j++) {
        __m256i ai[2][GEMM_CMAX];
        if (f == F_Q8_0) {
            for (int c = 0; c < C; c++)
                for (int h = 0; h < H; h++)
                    ai[h][c] = _mm256_setzero_si256();
            for (int g = 0; g < 8; g++) {
                __m256i wv[2], uv[2];
                for (int h = 0; h < H; h++) {
                    wv[h] = _mm256_load_si256((const __m256i *)(t->q[j][g] + 32 * h));
                    uv[h] = _mm256_sign_epi8(wv[h], wv[h]);
                }
                for (int c = 0; c < C; c++) {
                    int32_t q4;
                    memcpy(&q4, blk[c][j].qs + 4 * g, 4);
                    const __m256i av = _mm256_set1_epi32(q4);
                    for (int h = 0; h < H; h++) {
                        const __m256i p = _mm256_maddubs_epi16(uv[h], _mm256_sign_epi8(av, wv[h]));
                        ai[h][c] = _mm256_add_epi32(ai[h][c], _mm256_madd_epi16(p, ones));
                        KEEP(ai[h][c]);
                    }
                }
            }
        } else {
            __m256i s16[2][GEMM_CMAX];
            for (int c = 0; c < C; c++) {
                const __m256i n = _mm256_set1_epi32(ns[c][j]);
                for (int h = 0; h < H; h++) {
                    ai[h][c] = n;
                    s16[h][c] = _mm256_setzero_si256();
                }
            }
            /* runs of G groups in int16, then widened (G = 8: q4_0, 4: mxfp4) */
            const int G = f == F_MXFP4 ? 4 : 8;
            for (int g0 = 0; g0 < 8; g0 += G) {
                for (int g = g0; g < g0 + G; g++) {
                    __m256i wv[2];
                    for (int h = 0; h < H; h++)
                        wv[h] = _mm256_load_si256((const __m256i *)(t->q[j][g] + 32 * h));
                    for (int c = 0; c < C; c++) {
                        int32_t q4;
                        memcpy(&q4, blk[c][j].qs + 4 * g, 4);
                        const __m256i av = _mm256_set1_epi32(q4);
                        for (int h = 0; h < H; h++) {
                            s16[h][c] =
                                _mm256_add_epi16(s16[h][c], _mm256_maddubs_epi16(wv[h], av));
                            KEEP(s16[h][c]);
                        }
                    }
                }
                for (int c = 0; c < C; c++)
                    for (int h = 0; h < H; h++) {
                        ai[h][c] = _mm256_add_epi32(ai[h][c], _mm256_madd_epi16(s16[h][c], ones));
                        s16[h][c] = _mm256_setzero_si256();
                    }
            }
        }
        for (int h = 0; h < H; h++) {
            const __m256 dw = _mm256_load_ps(t->d[j] + 8 * h);
            for (int c = 0; c < C; c++)
                acc[h][c] = _mm256_fmadd_ps(
                    _mm256_mul_ps(_mm256_cvtepi32_ps(ai[h][c]), _mm256_set1_ps(da[c][j])), dw,
                    acc[h][c]);
        }
    }
}

/* 16 rows x 3 columns per pass of the integer kernels: 6 float and 6 int16/int32 accumulators,
 * two weight registers, a broadcast and a product. Measured on Zen 4 at 256x4096, batch 128, q4_0
 * (mxfp4) GFLOP/s: 8 x 4 208 (200), 8 x 6 220 (181), 16 x 2 234, 16 x 3 248 (222), 16 x 4 253
 * (223, with spills). */
#define GEMM_QC 3

/* C columns from cb + c against a packed tile of nr rows (one half when nr <= 8); the remainder
 * columns of a batch take a pass of their own size, with the same operations per column. H stays
 * a constant for gemm_accum: acc is an array of __m256, which may alias the activations, and
 * only full unrolling keeps it in registers (f32 gemm: 45 GFLOP/s with a run-time H, 92 without).
 */
AI void gemm_q_pass(int f, int C, const struct owb_mm_args *a, const struct gemm_tile_q *t, int nr,
                    int tile, int64_t jb, int nj, int64_t cb, int64_t c)
{
    __m256 acc[2][GEMM_CMAX];
    if (nr > 8) {
        gemm_kernel_q(f, 2, C, a, t, jb, nj, cb + c, acc);
        gemm_accum(2, C, tile, c, jb == 0, acc);
    } else {
        gemm_kernel_q(f, 1, C, a, t, jb, nj, cb + c, acc);
        gemm_accum(1, C, tile, c, jb == 0, acc);
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
                    for (; c + GEMM_QC <= nc; c += GEMM_QC)
                        gemm_q_pass(f, GEMM_QC, a, &t, nr, tile, jb, nj, cb, c);
                    if (nc - c == 2)
                        gemm_q_pass(f, 2, a, &t, nr, tile, jb, nj, cb, c);
                    else if (nc - c == 1)
                        gemm_q_pass(f, 1, a, &t, nr, tile, jb, nj, cb, c);
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

/* ------------------------------------------------------------------ float formats ---- */

/* f32 tile: [element][row] */
struct gemm_tile_f {
    float w[GEMM_KC_F][16];
};

AI void gemm_pack_f(int f, const struct owb_mm_args *a, int64_t r, int nr, int64_t kb, int nk,
                    struct gemm_tile_f *t)
{
    const size_t es = f == F_F32 ? 4 : 2;
    for (int h = 0; h < 2; h++) {
        const uint8_t *row[8];
        for (int i = 0; i < 8; i++)
            row[i] = 8 * h + i < nr ? a->w + (size_t)(r + 8 * h + i) * a->w_row_bytes : NULL;
        for (int j = 0; j < nk; j += 8) {
            __m256i u[8], o[8];
            for (int i = 0; i < 8; i++) {
                if (!row[i]) {
                    u[i] = _mm256_setzero_si256();
                } else if (j + 8 <= nk) {
                    u[i] = _mm256_castps_si256(fl_load(f, row[i], kb + j));
                } else {
                    /* the last k % 8 elements through a zero-padded copy */
                    _Alignas(32) uint8_t tmp[32] = {0};
                    memcpy(tmp, row[i] + (size_t)(kb + j) * es, (size_t)(nk - j) * es);
                    u[i] = _mm256_castps_si256(fl_load(f, tmp, 0));
                }
            }
            transpose8(u, o);
            for (int e = 0; e < 8; e++)
                _mm256_store_si256((__m256i *)(t->w[j + e] + 8 * h), o[e]);
        }
    }
}

/* Columns c0..c0+C of the k slice from x0 (column c at x0 + c * ldx) against the tile. */
AI void gemm_kernel_f(int H, int C, const float *x0, int64_t ldx, const struct gemm_tile_f *t,
                      int nk, __m256 acc[2][GEMM_CMAX])
{
    const float *x[GEMM_CMAX];
    for (int c = 0; c < C; c++) {
        x[c] = x0 + c * ldx;
        for (int h = 0; h < H; h++)
            acc[h][c] = _mm256_setzero_ps();
    }
    for (int j = 0; j < nk; j++) {
        __m256 wv[2];
        for (int h = 0; h < H; h++)
            wv[h] = _mm256_load_ps(t->w[j] + 8 * h);
        for (int c = 0; c < C; c++) {
            const __m256 xv = _mm256_broadcast_ss(x[c] + j);
            for (int h = 0; h < H; h++)
                acc[h][c] = _mm256_fmadd_ps(wv[h], xv, acc[h][c]);
        }
    }
}

/* 16 rows x 6 columns: 12 accumulators, two weight registers and a broadcast. */
#define GEMM_FC 6

AI void gemm_f_pass(int C, const float *x0, int64_t ldx, const struct gemm_tile_f *t, int nr,
                    int tile, int nk, int first, int64_t c)
{
    __m256 acc[2][GEMM_CMAX];
    if (nr > 8) {
        gemm_kernel_f(2, C, x0, ldx, t, nk, acc);
        gemm_accum(2, C, tile, c, first, acc);
    } else {
        gemm_kernel_f(1, C, x0, ldx, t, nk, acc);
        gemm_accum(1, C, tile, c, first, acc);
    }
}

/* bf16 activations of the current row block and k slice, widened to f32 once for its GEMM_RB / 16
 * tiles (about 5% of the FMAs) so that the kernel keeps its broadcast loads. */
static _Thread_local struct {
    _Alignas(32) float x[GEMM_CB][GEMM_KC_F];
} gemm_xw;

static void gemm_widen_bf16(const struct owb_mm_args *a, int64_t cb, int64_t nc, int64_t kb, int nk)
{
    for (int64_t c = 0; c < nc; c++) {
        const uint8_t *src = a->act + (size_t)(cb + c) * a->act_row_bytes + (size_t)kb * 2;
        int j = 0;
        for (; j + 8 <= nk; j += 8)
            _mm256_store_ps(gemm_xw.x[c] + j, fl_load(F_BF16, src, j));
        for (; j < nk; j++) {
            const uint32_t u = (uint32_t)(src[2 * j] | src[2 * j + 1] << 8) << 16;
            memcpy(gemm_xw.x[c] + j, &u, sizeof u);
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
                const int first = kb == 0;
                for (int64_t r = rb; r < re; r += 16) {
                    const int nr = (int)(re - r < 16 ? re - r : 16);
                    const int tile = (int)((r - rb) / 16);
                    gemm_pack_f(f, a, r, nr, kb, nk, &t);
                    int64_t c = 0;
                    for (; c + GEMM_FC <= nc; c += GEMM_FC)
                        gemm_f_pass(GEMM_FC, xs + c * ldx, ldx, &t, nr, tile, nk, first, c);
                    switch (nc - c) {
                    case 5:
                        gemm_f_pass(5, xs + c * ldx, ldx, &t, nr, tile, nk, first, c);
                        break;
                    case 4:
                        gemm_f_pass(4, xs + c * ldx, ldx, &t, nr, tile, nk, first, c);
                        break;
                    case 3:
                        gemm_f_pass(3, xs + c * ldx, ldx, &t, nr, tile, nk, first, c);
                        break;
                    case 2:
                        gemm_f_pass(2, xs + c * ldx, ldx, &t, nr, tile, nk, first, c);
                        break;
                    case 1:
                        gemm_f_pass(1, xs + c * ldx, ldx, &t, nr, tile, nk, first, c);
                        break;
                    default:
                        break;
                    }
                }
            }
            gemm_flush(a, rb, re, cb, nc);
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

static void gemm_bf16(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    gemm_f(F_BF16, F_BF16, a, r0, r1);
}

/* ----------------------------------------------------------------------------- k-quants ---- */

/*
 * k-quant tiles (q4_K, q6_K) against q8_K activations. The quants go into the same [group][row]
 * int8 layout (q4_K nibbles 0..15, q6_K 0..63, both unsigned for vpmaddubsw). As in ggml's AVX2
 * dots, vpmaddwd multiplies each sub-block's int16 pairs by its integer scale (per row: a word pair
 * per lane) straight into the int32 sum of the super-block, so the float work is once per 256
 * elements: d * da * isum, and for q4_K -dmin * da * sum(m_j bsums_j) (q6_K's -32 offset stays
 * integer: -32 sc_j bsums_j, added to isum). int16 runs: q4_K 8 groups (8 x 2 x 15 x 128 =
 * 30720), q6_K 2 groups (2 x 2 x 63 x 128 = 32256); int32 sums stay below 2^31 (q6_K: 16 x 128 x
 * 16 x 63 x 128 plus the offsets).
 */
#define GEMM_KC_K 512 /* two super-blocks */
#define GEMM_KS (GEMM_KC_K / OWB_QK_K)

struct gemm_tile_k {
    uint8_t q[GEMM_KC_K / 4][64];   /* [group of 4 quants][row x 4 bytes] */
    int32_t sc[GEMM_KC_K / 16][16]; /* per sub-block (32 or 16 quants): scale as a word pair */
    int32_t off[GEMM_KS][8][16];    /* per super-block: word pairs for the bsums dwords */
    float d[GEMM_KS][16];           /* per super-block: d per row */
    float dmin[GEMM_KS][16];        /* per super-block: -dmin per row (q4_K) */
};

AI int32_t word_pair(int v)
{
    return (int32_t)((uint32_t)(uint16_t)(int16_t)v | (uint32_t)(uint16_t)(int16_t)v << 16);
}

/* One super-block of one row: 256 unsigned quants in element order, the sub-block scales and
 * offset pairs into column i of t's sub-block / super-block s entries. */
AI void gemm_unpack_k(int f, const uint8_t *blk, uint8_t u[256], struct gemm_tile_k *t, int s,
                      int i)
{
    const __m256i m0f = _mm256_set1_epi8(0x0f);
    if (f == F_Q4_K) {
        const struct owb_block_q4_K *x = (const struct owb_block_q4_K *)(const void *)blk;
        uint8_t sm[16];
        _mm_storeu_si128((__m128i *)sm, q4k_scales(x->scales));
        for (int c = 0; c < 4; c++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * c));
            _mm256_storeu_si256((__m256i *)(u + 64 * c), _mm256_and_si256(v, m0f));
            _mm256_storeu_si256((__m256i *)(u + 64 * c + 32),
                                _mm256_and_si256(_mm256_srli_epi16(v, 4), m0f));
        }
        for (int j = 0; j < 8; j++) {
            t->sc[8 * s + j][i] = word_pair(sm[j]);
            t->off[s][j][i] = word_pair(sm[8 + j]);
        }
        t->d[s][i] = _cvtsh_ss(x->d);
        t->dmin[s][i] = -_cvtsh_ss(x->dmin);
    } else {
        const struct owb_block_q6_K *x = (const struct owb_block_q6_K *)(const void *)blk;
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
            t->sc[16 * s + j][i] = word_pair(x->scales[j]);
        for (int p = 0; p < 8; p++)
            t->off[s][p][i] =
                (int32_t)((uint32_t)(uint16_t)(int16_t)(-32 * x->scales[2 * p]) |
                          (uint32_t)(uint16_t)(int16_t)(-32 * x->scales[2 * p + 1]) << 16);
        t->d[s][i] = _cvtsh_ss(x->d);
        t->dmin[s][i] = 0.0f;
    }
}

AI void gemm_pack_k(int f, const struct owb_mm_args *a, int64_t r, int nr, int64_t sb0, int ns,
                    struct gemm_tile_k *t)
{
    const size_t bs = f == F_Q4_K ? sizeof(struct owb_block_q4_K) : sizeof(struct owb_block_q6_K);
    if (nr < 16)
        memset(t, 0, sizeof *t);
    for (int h = 0; h < 2 && 8 * h < nr; h++) {
        for (int s = 0; s < ns; s++) {
            _Alignas(32) uint8_t u[8][256];
            for (int i = 0; i < 8; i++) {
                if (8 * h + i < nr)
                    gemm_unpack_k(
                        f, a->w + (size_t)(r + 8 * h + i) * a->w_row_bytes + (size_t)(sb0 + s) * bs,
                        u[i], t, s, 8 * h + i);
                else
                    memset(u[i], 0, 256);
            }
            for (int g8 = 0; g8 < 8; g8++) {
                __m256i v[8], o[8];
                for (int i = 0; i < 8; i++)
                    v[i] = _mm256_load_si256((const __m256i *)(u[i] + 32 * g8));
                transpose8(v, o);
                for (int g = 0; g < 8; g++)
                    _mm256_store_si256((__m256i *)(t->q[64 * s + 8 * g8 + g] + 32 * h), o[g]);
            }
        }
    }
}

/* Columns per pass of the k-quant kernels (16 rows): 6 int32 sums, 6 int16 runs, two weight
 * registers, a broadcast and a product; the float sums are touched once per super-block. */
#define GEMM_KQC 3

AI void gemm_kernel_k(int f, int H, int C, const struct owb_mm_args *a, const struct gemm_tile_k *t,
                      int64_t sb0, int ns, int64_t c0, __m256 acc[2][GEMM_CMAX])
{
    const struct owb_block_q8_K *y[GEMM_CMAX];
    const int sub = f == F_Q4_K ? 32 : 16, nsub = OWB_QK_K / sub;
    const int G = f == F_Q4_K ? 8 : 2; /* groups per int16 run */
    for (int c = 0; c < C; c++) {
        y[c] = (const struct owb_block_q8_K *)(const void *)(a->act +
                                                             (size_t)(c0 + c) * a->act_row_bytes) +
               sb0;
        for (int h = 0; h < H; h++)
            acc[h][c] = _mm256_setzero_ps();
    }
    for (int s = 0; s < ns; s++) {
        __m256i isum[2][GEMM_CMAX], msum[2][GEMM_CMAX];
        /* offsets: q4_K mins (kept apart, they take -dmin), q6_K -32 sc (into isum) */
        for (int c = 0; c < C; c++)
            for (int h = 0; h < H; h++) {
                __m256i m = _mm256_setzero_si256();
                for (int p = 0; p < 8; p++) {
                    int32_t b2;
                    memcpy(&b2, y[c][s].bsums + 2 * p, 4);
                    m = _mm256_add_epi32(
                        m, _mm256_madd_epi16(
                               _mm256_load_si256((const __m256i *)(t->off[s][p] + 8 * h)),
                               _mm256_set1_epi32(b2)));
                }
                if (f == F_Q4_K) {
                    msum[h][c] = m;
                    isum[h][c] = _mm256_setzero_si256();
                } else {
                    isum[h][c] = m;
                }
            }
        for (int j = 0; j < nsub; j++) {
            for (int g0 = 0; g0 < sub / 4; g0 += G) {
                __m256i s16[2][GEMM_CMAX];
                for (int c = 0; c < C; c++)
                    for (int h = 0; h < H; h++)
                        s16[h][c] = _mm256_setzero_si256();
                for (int g = g0; g < g0 + G; g++) {
                    const int gi = j * (sub / 4) + g; /* group in the super-block */
                    __m256i wv[2];
                    for (int h = 0; h < H; h++)
                        wv[h] = _mm256_load_si256((const __m256i *)(t->q[64 * s + gi] + 32 * h));
                    for (int c = 0; c < C; c++) {
                        int32_t q4;
                        memcpy(&q4, y[c][s].qs + 4 * gi, 4);
                        const __m256i av = _mm256_set1_epi32(q4);
                        for (int h = 0; h < H; h++) {
                            s16[h][c] =
                                _mm256_add_epi16(s16[h][c], _mm256_maddubs_epi16(wv[h], av));
                            KEEP(s16[h][c]);
                        }
                    }
                }
                for (int h = 0; h < H; h++) {
                    const __m256i scv =
                        _mm256_load_si256((const __m256i *)(t->sc[s * nsub + j] + 8 * h));
                    for (int c = 0; c < C; c++) {
                        isum[h][c] =
                            _mm256_add_epi32(isum[h][c], _mm256_madd_epi16(s16[h][c], scv));
                        KEEP(isum[h][c]);
                    }
                }
            }
        }
        for (int h = 0; h < H; h++) {
            const __m256 dw = _mm256_load_ps(t->d[s] + 8 * h);
            const __m256 dm = _mm256_load_ps(t->dmin[s] + 8 * h);
            for (int c = 0; c < C; c++) {
                const __m256 da = _mm256_set1_ps(y[c][s].d);
                acc[h][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[h][c]), _mm256_mul_ps(dw, da),
                                            acc[h][c]);
                if (f == F_Q4_K)
                    acc[h][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum[h][c]),
                                                _mm256_mul_ps(dm, da), acc[h][c]);
            }
        }
    }
}

AI void gemm_k_pass(int f, int C, const struct owb_mm_args *a, const struct gemm_tile_k *t, int nr,
                    int tile, int64_t sb, int ns, int64_t cb, int64_t c)
{
    __m256 acc[2][GEMM_CMAX];
    if (nr > 8) {
        gemm_kernel_k(f, 2, C, a, t, sb, ns, cb + c, acc);
        gemm_accum(2, C, tile, c, sb == 0, acc);
    } else {
        gemm_kernel_k(f, 1, C, a, t, sb, ns, cb + c, acc);
        gemm_accum(1, C, tile, c, sb == 0, acc);
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
                    for (; c + GEMM_KQC <= nc; c += GEMM_KQC)
                        gemm_k_pass(f, GEMM_KQC, a, &t, nr, tile, sb, ns, cb, c);
                    if (nc - c == 2)
                        gemm_k_pass(f, 2, a, &t, nr, tile, sb, ns, cb, c);
                    else if (nc - c == 1)
                        gemm_k_pass(f, 1, a, &t, nr, tile, sb, ns, cb, c);
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

/* From which batch the tiles beat the multi-column GEMV (512x4096, 1 thread, L2-resident,
 * GFLOP/s GEMV -> GEMM): integer formats at 5 (q4_0 77 -> 149, q8_0 65 -> 95, q4_K 70 -> 109),
 * float formats at 12 (f32 at 8: 48 -> 37, at 12: 60 -> 76). */
const struct owb_mm_kernel owb_mm_kernels_avx2_gemm[] = {
    {OWB_TYPE_F32, OWB_ISA_AVX2, 12, 0, "avx2 f32 fma gemm16x6", gemm_f32, 0},
    {OWB_TYPE_F16, OWB_ISA_AVX2, 12, 0, "avx2 f16xf32 fma gemm16x6", gemm_f16, 0},
    {OWB_TYPE_BF16, OWB_ISA_AVX2, 12, 0, "avx2 bf16xbf16 fma gemm16x6", gemm_bf16, 0},
    {OWB_TYPE_Q4_0, OWB_ISA_AVX2, 5, 0, "avx2 q4_0xq8_0 maddubs gemm16x3", gemm_q4_0, 0},
    {OWB_TYPE_Q8_0, OWB_ISA_AVX2, 5, 0, "avx2 q8_0xq8_0 maddubs gemm16x3", gemm_q8_0, 0},
    {OWB_TYPE_MXFP4, OWB_ISA_AVX2, 5, 0, "avx2 mxfp4xq8_0 maddubs gemm16x3", gemm_mxfp4, 0},
    {OWB_TYPE_Q4_K, OWB_ISA_AVX2, 5, 0, "avx2 q4_Kxq8_K maddubs gemm16x3", gemm_q4_K, 0},
    {OWB_TYPE_Q6_K, OWB_ISA_AVX2, 5, 0, "avx2 q6_Kxq8_K maddubs gemm16x3", gemm_q6_K, 0},
    {OWB_TYPE_COUNT, OWB_ISA_AVX2, 0, 0, NULL, NULL, 0},
};
