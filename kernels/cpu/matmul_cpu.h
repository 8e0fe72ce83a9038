/* SPDX-License-Identifier: MIT */
/*
 * matmul_cpu.h: private to kernels/ (matmul.c and kernels/cpu/matmul_*.c). The kernel table entry a
 * plan points at, the argument block of a row-range call, and the layout of a prepared activation
 * row, which every ISA writes identically:
 *
 *   q8_0 rows (q4_0, q8_0, mxfp4):  [nb x block_q8_0][pad to 64]
 *                                    [qs: nb8 x 32 int8][f32 d: nb8][i32 nsum: nb8]
 *   q8_K rows (k-quants):           [nb x block_q8_K]                (bsums suffice)
 *   bf16 rows (bf16 weights):       [k x bf16, ggml's round to nearest even][zero pad]
 *   other formats:                  [from_float_ref output]
 *
 * with nb = k / 32 blocks, nb8 = nb rounded up to 8 (the padding blocks are all zero), each row
 * padded to a multiple of 64 bytes. qs is a copy of the quants without the scales, either in block
 * order (NAT: block b at 32 b) or, for the nibble formats, interleaved by groups of four blocks
 * (IL4: group g holds the first 16 quants of its blocks at 128 g + 16 j and the last 16 at
 * 128 g + 64 + 16 j), which is the order in which a 64-byte register of four blocks' nibbles
 * unpacks. d is the block scale as float, nsum = -off * sum(qs) with off the unsigned offset the
 * weight format's kernels add to make weights unsigned for vpdpbusd (q4_0: 8, mxfp4: 12,
 * q8_0: 128), so the offset folds into the integer accumulator's initial value. A bf16 row of odd
 * k always has padding, so element k reads as +0 (the bf16 kernels take elements in pairs).
 *
 * mxfp4 rows (IL4_X8) append [pad to 64][x8: nb8 x 32 int8], the quants once more, grouped by
 * eight blocks: group g's 256 bytes at 256 g are four chunks of 64 bytes, chunk t holding 8 quants
 * of each block j of the group at 64 t + 8 j: elements 0..7 (t = 0), 16..23 (t = 1), 8..15 (2),
 * 24..31 (3). That is the order in which the low and high nibbles of weight bytes 0..7 and 8..15
 * of eight blocks unpack when gathered into one register (two dwords per block), so vpdpbusd
 * adds all 32 products of a block into the same two int32 lanes (kernels/cpu/b32_avx512.h). It is
 * written from the IL4 quants by owb_matmul_prepare on every ISA (matmul.c).
 */
#ifndef OWB_KERNELS_CPU_MATMUL_CPU_H
#define OWB_KERNELS_CPU_MATMUL_CPU_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/formats.h"
#include "kernels/isa.h"

/* One owb_matmul_rows call, pointers already offset to element 0. */
struct owb_mm_args {
    const uint8_t *w; /* row r at w + r * w_row_bytes, its blocks as wl says */
    size_t w_row_bytes;
    int wl;             /* enum owb_wlayout of w (OWB_WL_REP8 only for kernels that read it) */
    int64_t k;          /* elements per row */
    int64_t batch;      /* activation rows */
    const uint8_t *act; /* prepared activation row b at act + b * act_row_bytes */
    size_t act_row_bytes;
    const float *x; /* f32 activations (row stride ldx), for f32-activation paths */
    int64_t ldx;
    float *y; /* Y[b * ldy + r] */
    int64_t ldy;
};

typedef void (*owb_mm_rows_fn)(const struct owb_mm_args *a, int64_t r0, int64_t r1);
/* Convert one activation row of k floats into the prepared layout above (whole row incl. extras);
 * off is the nsum offset of the layout. */
typedef void (*owb_mm_prep_fn)(const float *x, uint8_t *act_row, int64_t k, int off);

/* Rows longer than this are prefetched by the AVX2 and AVX-512 integer GEMV kernels themselves
 * (kernels/cpu/b32_avx512.h, matmul_avx2.c); shorter ones by the grouped row walk of
 * owb_matmul_rows. */
#define OWB_MM_KERNEL_PF_MIN_ROW_BYTES 4096
/* The AVX-512 integer GEMV kernels (q4_0, q8_0, mxfp4, q4_K, q6_K) prefetch rows of every length
 * themselves: their 4-row path reads short rows (k = 2048) as one contiguous 4-row pass, where the
 * grouped walk called them one or two rows at a time. */
#define OWB_MM_KERNEL_PF_MIN_ROW_BYTES_INT512 0

#define OWB_MM_NEEDS_VNNI 1 /* AVX-512 VNNI (vpdpbusd) */
#define OWB_MM_NEEDS_VBMI 2 /* AVX-512 VBMI (vpermb, vpermt2b) */
#define OWB_MM_NEEDS_BF16 4 /* AVX512_BF16 (vdpbf16ps) */

struct owb_mm_kernel {
    enum owb_type wtype;
    enum owb_isa isa;
    int64_t min_batch; /* used for batch >= min_batch (the largest match wins) */
    int needs;         /* OWB_MM_NEEDS_* bits the CPU must have beyond the ISA */
    const char *path;
    owb_mm_rows_fn rows;
    int rep8; /* reads OWB_WL_REP8 weights itself (others get rows unpacked by owb_matmul_rows) */
};

/* How activations are prepared for a weight type (a function of the type only, never of the
 * ISA, so every ISA writes the same bytes). */
enum owb_mm_act_layout {
    OWB_MM_ACT_F32 = 0,     /* X used directly */
    OWB_MM_ACT_REF,         /* traits from_float_ref of the vec_dot_type, nothing else */
    OWB_MM_ACT_Q8_0_NAT,    /* q8_0 + extras, qs in block order */
    OWB_MM_ACT_Q8_0_IL4,    /* q8_0 + extras, qs interleaved by four blocks */
    OWB_MM_ACT_Q8_0_IL4_X8, /* as IL4, plus the quants grouped by eight blocks (x8) */
    OWB_MM_ACT_Q8_K,        /* q8_K blocks */
    OWB_MM_ACT_BF16,        /* bf16 elements (from_float_ref of bf16) */
};

/* Layout for weights of type t whose dot takes activations of type act (from the traits), and the
 * offset folded into nsum (0 where unused). */
static inline enum owb_mm_act_layout owb_mm_act_layout(enum owb_type t, enum owb_type act, int *off)
{
    *off = 0;
    switch (act) {
    case OWB_TYPE_F32:
        return OWB_MM_ACT_F32;
    case OWB_TYPE_Q8_0:
        if (t == OWB_TYPE_Q4_0) {
            *off = 8;
            return OWB_MM_ACT_Q8_0_IL4;
        }
        if (t == OWB_TYPE_MXFP4) {
            *off = 12;
            return OWB_MM_ACT_Q8_0_IL4_X8;
        }
        *off = t == OWB_TYPE_Q8_0 ? 128 : 0;
        return OWB_MM_ACT_Q8_0_NAT;
    case OWB_TYPE_Q8_K:
        return OWB_MM_ACT_Q8_K;
    case OWB_TYPE_BF16:
        return OWB_MM_ACT_BF16;
    default:
        return OWB_MM_ACT_REF;
    }
}

static inline int64_t owb_mm_nb8(int64_t k)
{
    return (k / OWB_QK + 7) / 8 * 8;
}
/* Offsets inside a prepared q8_0 activation row of k elements. */
static inline size_t owb_mm_q8_0_qs_off(int64_t k)
{
    size_t blocks = (size_t)(k / OWB_QK) * sizeof(struct owb_block_q8_0);
    return (blocks + 63) & ~(size_t)63;
}
static inline size_t owb_mm_q8_0_d_off(int64_t k)
{
    return owb_mm_q8_0_qs_off(k) + (size_t)owb_mm_nb8(k) * OWB_QK;
}
static inline size_t owb_mm_q8_0_sum_off(int64_t k)
{
    return owb_mm_q8_0_d_off(k) + (size_t)owb_mm_nb8(k) * sizeof(float);
}
static inline size_t owb_mm_q8_0_row_bytes(int64_t k)
{
    return (owb_mm_q8_0_sum_off(k) + (size_t)owb_mm_nb8(k) * sizeof(int32_t) + 63) & ~(size_t)63;
}
/* The x8 quants of an IL4_X8 row start where a q8_0 row of the other layouts ends. */
static inline size_t owb_mm_q8_0_x8_off(int64_t k)
{
    return owb_mm_q8_0_row_bytes(k);
}
static inline size_t owb_mm_q8_0_x8_row_bytes(int64_t k)
{
    return owb_mm_q8_0_x8_off(k) + (size_t)owb_mm_nb8(k) * OWB_QK;
}
/* Whether a layout is one of the q8_0 layouts with extras (the three above). */
static inline int owb_mm_act_is_q8_0x(enum owb_mm_act_layout l)
{
    return l == OWB_MM_ACT_Q8_0_NAT || l == OWB_MM_ACT_Q8_0_IL4 || l == OWB_MM_ACT_Q8_0_IL4_X8;
}

/* A view of one prepared q8_0 activation row: the contiguous quants, the per-block scales as
 * f32 and the per-block offset sums (laid out by the offsets above). */
struct owb_mm_q8_0_act {
    const uint8_t *qs;
    const float *d;
    const int32_t *ns;
};
static inline struct owb_mm_q8_0_act owb_mm_q8_0_act_view(const uint8_t *row, int64_t k)
{
    struct owb_mm_q8_0_act v;
    v.qs = row + owb_mm_q8_0_qs_off(k);
    v.d = (const float *)(const void *)(row + owb_mm_q8_0_d_off(k));
    v.ns = (const int32_t *)(const void *)(row + owb_mm_q8_0_sum_off(k));
    return v;
}

/* Kernel tables of each ISA file, terminated by an entry with rows == NULL. */
extern const struct owb_mm_kernel owb_mm_kernels_avx2[];
extern const struct owb_mm_kernel owb_mm_kernels_avx2_gemm[]; /* gemm_avx2.c */
extern const struct owb_mm_kernel owb_mm_kernels_avx512[];
extern const struct owb_mm_kernel owb_mm_kernels_avx512_gemm[]; /* gemm_avx512.c */
/* The AVX512_BF16 bf16 GEMM (matmul_avx512.c, next to the GEMV whose arithmetic it shares). */
void owb_mm_gemm_bf16_dp(const struct owb_mm_args *a, int64_t r0, int64_t r1);
extern const struct owb_mm_kernel owb_mm_kernels_avx512_vbmi[];

/* Activation preparation per ISA: NULL when that ISA has no converter for the layout. */
owb_mm_prep_fn owb_mm_prep_avx2(enum owb_mm_act_layout layout);
owb_mm_prep_fn owb_mm_prep_avx512(enum owb_mm_act_layout layout);

#endif
