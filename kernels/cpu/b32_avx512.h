/* SPDX-License-Identifier: MIT */
/*
 * b32_avx512.h: private to kernels/cpu/matmul*_avx512.c. The AVX-512 VNNI GEMV kernels of the
 * 32-wide integer formats (q4_0, q8_0, mxfp4) as always-inline templates over the format, the rows
 * per pass R and the activation columns per pass C. Included once per translation unit with
 * B32_VBMI = 0 (matmul_avx512.c: 128-bit inserts gather four blocks) or 1 (matmul_vbmi_avx512.c,
 * compiled for AVX512-VBMI: two vpermt2b gather eight blocks' quants from three 64-byte loads, and
 * mxfp4 looks its values up with vpermb straight from the unmasked nibbles, 8% faster per core on
 * Zen 4 than vpand + vpshufb). With VBMI, mxfp4 runs its own kernel (mx8_rows, at the end) on the
 * x8 activations of the IL4_X8 layout.
 */
#ifndef OWB_KERNELS_CPU_B32_AVX512_H
#define OWB_KERNELS_CPU_B32_AVX512_H

#include <immintrin.h>
#include <string.h>

#include "kernels/cpu/matmul_cpu.h"
#include "kernels/cpu/simd_common.h"

#ifndef B32_VBMI
#error "define B32_VBMI (0 or 1) before including b32_avx512.h"
#endif

/* word indices of the block scales of eight blocks in two 64-byte loads, per format */
static const uint16_t idx_q4_0_d[32] = {0, 9, 18, 27, 36, 45, 54, 63};
static const uint16_t idx_q8_0_da[32] = {0, 17, 34, 51};
static const uint16_t idx_q8_0_db[32] = {0, 0, 0, 0, 4, 21, 38, 55};
static const uint16_t idx_mxfp4_e[32] = {0, 8, 17, 25, 34, 42, 51, 59};

/* ggml's e8m0_to_fp32_half for E8M0 bytes e (0..255, one per dword): 2^(e - 128), subnormal for
 * e < 2. Integer ops only: vcvtdq2ps + vscalefps, used before, ran the mxfp4 GEMV at half speed on
 * Sapphire/Emerald Rapids (docs/perf-notes.md, mxfp4 session). */
AI __m256 b32_e8m0_half(__m256i e)
{
    const __m256i nrm = _mm256_slli_epi32(_mm256_sub_epi32(e, _mm256_set1_epi32(1)), 23);
    const __mmask8 small = _mm256_cmplt_epu32_mask(e, _mm256_set1_epi32(2));
    return _mm256_castsi256_ps(
        _mm256_mask_sllv_epi32(nrm, small, _mm256_set1_epi32(0x00200000), e));
}

/* x * 2^(e - 128) for E8M0 bytes e in dwords: the same bits as _mm256_mul_ps(b32_e8m0_half(e), x)
 * (both round the exact product once; 2^(e - 128) is exact in float, denormals included), in
 * three operations where that takes six: 1 core from L2, an 8-block mxfp4 group of the VBMI GEMV
 * 19.0 -> 12.9 cycles (docs/perf-notes.md session 7). */
AI __m256 b32_e8m0_scale(__m256 x, __m256i e)
{
    return _mm256_scalef_ps(x, _mm256_cvtepi32_ps(_mm256_sub_epi32(e, _mm256_set1_epi32(128))));
}

AI __mmask64 b32_tail_mask(int tail, int at)
{
    return at >= tail ? 0 : tail - at >= 64 ? ~0ULL : (1ULL << (tail - at)) - 1;
}

/* 64 bytes at p + at; with tail > 0 only the bytes below p + tail are read, the rest are zero. */
AI __m512i b32_load(const uint8_t *p, int at, int tail)
{
    return tail ? _mm512_maskz_loadu_epi8(b32_tail_mask(tail, at), p + at)
                : _mm512_loadu_si512(p + at);
}

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
        __m512i hb =
            _mm512_permutex2var_epi16(_mm512_loadu_si512(p + 128), _mm512_loadu_si512(idx_q8_0_db),
                                      _mm512_loadu_si512(p + 192));
        __m512i h = _mm512_mask_blend_epi16(0xF0, ha, hb);
        return _mm256_cvtph_ps(_mm512_castsi512_si128(h));
    }
    /* mxfp4: byte 17 j sits in word 17 j / 2, high half for odd j */
    __m512i h = _mm512_permutex2var_epi16(z0, _mm512_loadu_si512(idx_mxfp4_e), z1);
    __m128i e8 = _mm_and_si128(
        _mm_srlv_epi16(_mm512_castsi512_si128(h), _mm_setr_epi16(0, 8, 0, 8, 0, 8, 0, 8)),
        _mm_set1_epi16(0xff));
    return b32_e8m0_half(_mm256_cvtepu16_epi32(e8));
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

#if B32_VBMI
/* vpermt2b indices: the 16 quant bytes of blocks 0..3 of an 8-block group out of its bytes 0..127
 * (first table) and of blocks 4..7 out of bytes 64..191 (second), one block per 128-bit lane. */
static _Alignas(64) const uint8_t vbmi_q4_0_lo[64] = {
    2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 20, 21, 22, 23, 24, 25,
    26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49,
    50, 51, 52, 53, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71,
};
static _Alignas(64) const uint8_t vbmi_q4_0_hi[64] = {
    10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 28, 29, 30, 31, 32, 33,
    34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57,
    58, 59, 60, 61, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79,
};
/* the E8M0 byte of block j (at 17 j) into the low byte of dword j */
static _Alignas(64) const uint8_t vbmi_mxfp4_e[64] = {
    0,  0, 0, 0, 17, 0, 0, 0, 34,  0, 0, 0, 51,  0, 0, 0,
    68, 0, 0, 0, 85, 0, 0, 0, 102, 0, 0, 0, 119, 0, 0, 0,
};

/* One q4_0 row's 8-block group at p (144 bytes, read through two full and one masked load): the
 * quants of blocks 0..3 and 4..7 and the 8 weight scales. (mxfp4 has its own kernel with VBMI,
 * mx8_rows below.) */
AI void b32_vbmi_row(const uint8_t *p, __m512i *q03, __m512i *q47, __m256 *dw)
{
    const __m512i z0 = _mm512_loadu_si512(p), z1 = _mm512_loadu_si512(p + 64);
    const __m512i z2 = _mm512_maskz_loadu_epi8(0xffffULL, p + 128);
    *q03 = _mm512_permutex2var_epi8(z0, _mm512_load_si512(vbmi_q4_0_lo), z1);
    *q47 = _mm512_permutex2var_epi8(z1, _mm512_load_si512(vbmi_q4_0_hi), z2);
    const __m512i h = _mm512_permutex2var_epi16(z0, _mm512_loadu_si512(idx_q4_0_d), z1);
    *dw = _mm256_cvtph_ps(_mm512_castsi512_si128(h));
}
#endif

/*
 * Eight blocks (from block index b; weight bytes at w[i] + off) of R rows against C columns. With
 * C == 1 the weight and activation scales are multiplied once per block and fused into the FMA;
 * with C > 1 the activation scale is applied first, then the weight scale.
 */
AI void b32_group8(int f, int R, int C, const uint8_t *const *w, size_t off,
                   const struct owb_mm_q8_0_act *act, int64_t b, __m512 acc[4][4])
{
    const int bs = b32_size(f);
    __m256 dw[4], da[4];
    __m512i ns[4];
    for (int c = 0; c < C; c++) {
        da[c] = _mm256_loadu_ps(act[c].d + b);
        ns[c] = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(act[c].ns + b)));
    }
    __m512i qv[4][2];
    for (int i = 0; i < R; i++) {
#if B32_VBMI
        if (f == F_Q4_0)
            b32_vbmi_row(w[i] + off, &qv[i][0], &qv[i][1], &dw[i]);
        else
            dw[i] = b32_wscales8(f, w[i] + off);
#else
        dw[i] = b32_wscales8(f, w[i] + off);
#endif
        if (C == 1)
            dw[i] = _mm256_mul_ps(dw[i], da[0]);
    }
    (void)qv;
    if (f != F_Q8_0) {
        const __m512i m0f = _mm512_set1_epi8(0x0f);
        /* mxfp4's table in every 16 bytes, for vpshufb (without VBMI) */
        const __m512i tab = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)mxfp4_u));
        for (int s = 0; s < 2; s++) {
            const __m512i cidx = _mm512_setr_epi32(4 * s, 0, 0, 0, 4 * s + 1, 0, 0, 0, 4 * s + 2, 0,
                                                   0, 0, 4 * s + 3, 0, 0, 0);
            const __m512i sidx = _mm512_setr_epi32(
                4 * s, 4 * s, 4 * s, 4 * s, 4 * s + 1, 4 * s + 1, 4 * s + 1, 4 * s + 1, 4 * s + 2,
                4 * s + 2, 4 * s + 2, 4 * s + 2, 4 * s + 3, 4 * s + 3, 4 * s + 3, 4 * s + 3);
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
#if B32_VBMI
                /* q4_0 only: mxfp4 with VBMI runs mx8_rows */
                const __m512i v = qv[i][s];
                const __m512i lo = _mm512_and_si512(v, m0f);
                const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m0f);
                (void)tab;
#else
                const uint8_t *p = w[i] + off + (size_t)(4 * s * bs);
                __m512i v = load4x16(p + (f == F_Q4_0 ? 2 : 1), bs);
                __m512i lo = _mm512_and_si512(v, m0f);
                __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m0f);
                if (f == F_MXFP4) {
                    lo = _mm512_shuffle_epi8(tab, lo);
                    hi = _mm512_shuffle_epi8(tab, hi);
                }
#endif
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
            const __m512i sidx = _mm512_setr_epi32(
                2 * t, 2 * t, 2 * t, 2 * t, 2 * t, 2 * t, 2 * t, 2 * t, 2 * t + 1, 2 * t + 1,
                2 * t + 1, 2 * t + 1, 2 * t + 1, 2 * t + 1, 2 * t + 1, 2 * t + 1);
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
    struct owb_mm_q8_0_act act[4];
    __m512 acc[4][4];
    for (int i = 0; i < R; i++)
        w[i] = a->w + (size_t)(r + i) * a->w_row_bytes;
    for (int c = 0; c < C; c++) {
        const uint8_t *row = a->act + (size_t)(c0 + c) * a->act_row_bytes;
        act[c] = owb_mm_q8_0_act_view(row, a->k);
        for (int i = 0; i < R; i++)
            acc[i][c] = _mm512_setzero_ps();
    }
    /* rows ahead of this pass, prefetched as it goes (kpf_advance) */
    const int pf_on = a->w_row_bytes > OWB_MM_KERNEL_PF_MIN_ROW_BYTES_INT512;
    const uintptr_t nxt =
        (uintptr_t)a->w + (uintptr_t)(r + kpf_ahead_rows(R, a->w_row_bytes)) * a->w_row_bytes;
    uintptr_t pf = nxt;
    for (int64_t b = 0; b < nbf; b += 8) {
        b32_group8(f, R, C, w, (size_t)(b * bs), act, b, acc);
        if (pf_on)
            pf = kpf_advance(pf, nxt + (uintptr_t)R * (uintptr_t)((b + 8) * bs));
    }
    if (nbf < nb) {
        /* the last partial group from zero-padded copies (the padded activations are zero too) */
        _Alignas(64) uint8_t tail[4][8 * 34 + 48];
        const uint8_t *tw[4];
        const int nt = (int)((nb - nbf) * bs);
        for (int i = 0; i < R; i++) {
            /* 64-byte masked loads and whole stores, no memset and memcpy (1 core, 2880x2880
             * from L3: q8_0 1.04x, q4_0 1.08x; docs/perf-notes.md session 7) */
            for (int at = 0; at < 8 * 34; at += 64)
                _mm512_store_si512(tail[i] + at, b32_load(w[i] + nbf * bs, at, nt));
            tw[i] = tail[i];
        }
        b32_group8(f, R, C, tw, 0, act, nbf, acc);
    }
    for (int c = 0; c < C; c++)
        for (int i = 0; i < R; i++)
            a->y[(c0 + c) * a->ldy + r + i] = _mm512_reduce_add_ps(acc[i][c]);
}

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

#if B32_VBMI
/*
 * mxfp4 with VBMI on the x8 activations (IL4_X8, matmul_cpu.h): one vpermt2b gathers bytes 0..7 of
 * the quants of eight blocks (two dwords per block), another bytes 8..15, so the four vpdpbusd of
 * an 8-block group (low and high nibbles of each) add all 32 products of a block into the same two
 * int32 lanes: one vcvtdq2ps and one FMA per eight blocks and column instead of two, and one
 * scale broadcast per row instead of two. Bytes 17 j + 1 + i of blocks j = 0..7, i = 0..7: the
 * first gather reads them from the group's bytes 0..127, the second (bytes 8..15 of each block)
 * the same offsets from bytes 8..135, so no load reads past the group.
 */
static _Alignas(64) const uint8_t vbmi_mx8_q[64] = {
    1,   2,   3,   4,   5,   6,   7,   8,   18,  19,  20,  21,  22,  23,  24,  25,
    35,  36,  37,  38,  39,  40,  41,  42,  52,  53,  54,  55,  56,  57,  58,  59,
    69,  70,  71,  72,  73,  74,  75,  76,  86,  87,  88,  89,  90,  91,  92,  93,
    103, 104, 105, 106, 107, 108, 109, 110, 120, 121, 122, 123, 124, 125, 126, 127,
};
/* float j of a ymm into dwords 2 j and 2 j + 1 */
static const int32_t mx8_pair_idx[16] = {0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7};

/* Eight blocks from block index b (weight bytes at w[i] + off) of R rows against C columns. rep:
 * the group is repacked (OWB_WL_REP8, kernels/matmul.h): its quant bytes 0-7 and 8-15 of the eight
 * blocks and their scale bytes already lie where the two vpermt2b and the masked gather put them,
 * so each row costs two plain loads and a byte widening instead. Same arithmetic, same bits.
 * tail (rows as stored only): 0 for a whole group, else the bytes of the last, partial group (its
 * blocks); the bytes after them read as zero, as do the zero-padded activations (so each missing
 * block adds nothing), and no load touches memory past them. */
AI void mx8_group8(int rep, int tail, int R, int C, const uint8_t *const *w, size_t off,
                   const struct owb_mm_q8_0_act *act, const uint8_t *const *x8, int64_t b,
                   __m512 acc[8][4])
{
    const __m512i pair = _mm512_loadu_si512(mx8_pair_idx);
    const __m512i tab = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)mxfp4_u));
    __m256 da[4];
    __m512i ci[4];
    __m512 sda[4];
    const uint8_t *xq[4];
    for (int c = 0; c < C; c++) {
        da[c] = _mm256_loadu_ps(act[c].d + b);
        /* nsum of block j into dword 2 j (the other dword of the pair starts at 0) */
        ci[c] = _mm512_cvtepu32_epi64(_mm256_loadu_si256((const __m256i *)(act[c].ns + b)));
        if (C > 1)
            sda[c] = _mm512_permutexvar_ps(pair, _mm512_castps256_ps512(da[c]));
        xq[c] = x8[c] + 32 * b;
    }
    for (int i = 0; i < R; i++) {
        const uint8_t *p = w[i] + off;
        __m512i q0, q1;
        __m256i e; /* the eight scale bytes in dwords */
        if (rep) {
            q0 = _mm512_loadu_si512(p);
            q1 = _mm512_loadu_si512(p + 64);
            e = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 128)));
        } else {
            const __m512i z0 = b32_load(p, 0, tail), z1 = b32_load(p, 64, tail);
            const __m512i idx = _mm512_load_si512(vbmi_mx8_q);
            q0 = _mm512_permutex2var_epi8(z0, idx, z1);
            q1 = _mm512_permutex2var_epi8(b32_load(p, 8, tail), idx, b32_load(p, 72, tail));
            e = _mm512_castsi512_si256(_mm512_maskz_permutex2var_epi8(
                0x11111111ULL, z0, _mm512_load_si512(vbmi_mxfp4_e), z1));
        }
        const __m256 dw = C == 1 ? b32_e8m0_scale(da[0], e) : b32_e8m0_half(e);
        const __m512 sdw = _mm512_permutexvar_ps(pair, _mm512_castps256_ps512(dw));
        /* vpermb reads 6 index bits and tab repeats every 16 bytes: no nibble masks */
        const __m512i v0 = _mm512_permutexvar_epi8(q0, tab);                       /* 0..7 */
        const __m512i v1 = _mm512_permutexvar_epi8(_mm512_srli_epi16(q0, 4), tab); /* 16..23 */
        const __m512i v2 = _mm512_permutexvar_epi8(q1, tab);                       /* 8..15 */
        const __m512i v3 = _mm512_permutexvar_epi8(_mm512_srli_epi16(q1, 4), tab); /* 24..31 */
        for (int c = 0; c < C; c++) {
            __m512i d = _mm512_dpbusd_epi32(ci[c], v0, _mm512_loadu_si512(xq[c]));
            d = _mm512_dpbusd_epi32(d, v1, _mm512_loadu_si512(xq[c] + 64));
            d = _mm512_dpbusd_epi32(d, v2, _mm512_loadu_si512(xq[c] + 128));
            d = _mm512_dpbusd_epi32(d, v3, _mm512_loadu_si512(xq[c] + 192));
            __m512 fd = _mm512_cvtepi32_ps(d);
            if (C > 1)
                fd = _mm512_mul_ps(fd, sda[c]);
            acc[i][c] = _mm512_fmadd_ps(fd, sdw, acc[i][c]);
        }
    }
}

/* R rows from r against C columns from c0, whole k (as b32_rows_rc). */
AI void mx8_rows_rc(int R, int C, const struct owb_mm_args *a, int64_t r, int64_t c0)
{
    const int bs = 17;
    const int64_t nb = a->k / OWB_QK, nbf = nb / 8 * 8;
    const int rep = a->wl != 0; /* OWB_WL_REP8: groups repacked (mx8_group8) */
    const uint8_t *w[8], *x8[4];
    struct owb_mm_q8_0_act act[4];
    __m512 acc[8][4];
    for (int i = 0; i < R; i++)
        w[i] = a->w + (size_t)(r + i) * a->w_row_bytes;
    for (int c = 0; c < C; c++) {
        const uint8_t *row = a->act + (size_t)(c0 + c) * a->act_row_bytes;
        act[c] = owb_mm_q8_0_act_view(row, a->k);
        x8[c] = row + owb_mm_q8_0_x8_off(a->k);
        for (int i = 0; i < R; i++)
            acc[i][c] = _mm512_setzero_ps();
    }
    /* single rows stream without software prefetch (mx8_rows) */
    const int pf_on = R > 1 && a->w_row_bytes > OWB_MM_KERNEL_PF_MIN_ROW_BYTES_INT512;
    const uintptr_t nxt =
        (uintptr_t)a->w + (uintptr_t)(r + kpf_ahead_rows(R, a->w_row_bytes)) * a->w_row_bytes;
    uintptr_t pf = nxt;
    for (int64_t b = 0; b < nbf; b += 8) {
        if (rep) /* literal flags: each call is its own specialised copy */
            mx8_group8(1, 0, R, C, w, (size_t)(b * bs), act, x8, b, acc);
        else
            mx8_group8(0, 0, R, C, w, (size_t)(b * bs), act, x8, b, acc);
        if (pf_on)
            pf = kpf_advance(pf, nxt + (uintptr_t)R * (uintptr_t)((b + 8) * bs));
    }
    if (nbf < nb) /* the last partial group by masked loads (the blocks stay as stored) */
        mx8_group8(0, (int)((nb - nbf) * bs), R, C, w, (size_t)(nbf * bs), act, x8, nbf, acc);
    for (int c = 0; c < C; c++)
        for (int i = 0; i < R; i++)
            a->y[(c0 + c) * a->ldy + r + i] = _mm512_reduce_add_ps(acc[i][c]);
}

/* Rows per pass: 1 for one column: a single sequential stream with no software prefetch, which
 * the hardware prefetchers follow into the fast minutes of the memory where 8-row passes with
 * software prefetch fell behind (2 threads from DRAM, the gpt-oss experts' decode pattern and
 * 201088x2880, 15-30 alternated rounds: 1.13-1.14x median, bitwise the same outputs;
 * docs/perf-notes.md session 6; from L2 8-row passes were 3% faster per core: 1 core 256x2880
 * 18.2 us at 4 rows, 17.7 at 8). 4 for two to four columns (C = 4: 36.6 us at 2 rows, 35.0 at
 * 4). */
AI void mx8_rows(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    for (int64_t c0 = 0; c0 < a->batch;) {
        const int64_t nc = a->batch - c0;
        if (nc >= 4) {
            ROWS_LOOP(4, mx8_rows_rc(1, 4, a, r_, c0), mx8_rows_rc(4, 4, a, r_, c0));
            c0 += 4;
        } else if (nc == 3) {
            ROWS_LOOP(4, mx8_rows_rc(1, 3, a, r_, c0), mx8_rows_rc(4, 3, a, r_, c0));
            c0 += 3;
        } else if (nc == 2) {
            ROWS_LOOP(4, mx8_rows_rc(1, 2, a, r_, c0), mx8_rows_rc(4, 2, a, r_, c0));
            c0 += 2;
        } else {
            for (int64_t r = r0; r < r1; r++)
                mx8_rows_rc(1, 1, a, r, c0);
            c0 += 1;
        }
    }
}
#endif

#endif
