/* SPDX-License-Identifier: MIT */
/*
 * matmul.h: y = W·x (GEMV, decode) and Y = W·X (GEMM, prefill) with W in any owbench weight format
 * (GGUF layout as stored, row-major, each row owb_row_size(type, k) bytes), f32 activations and
 * f32 output. Where an integer dot is faster, the activations are quantized once per call into the
 * type's vec_dot_type (q8_0 for the 32-wide formats and mxfp4, q8_K for the k-quants, q8_1 for
 * q4_1/q5_1), exactly as the traits' reference quantizer would (same bytes on every ISA). bf16
 * weights take bf16 activations as ggml's CPU backend does (vec_dot_type bf16): each activation is
 * rounded to nearest even as ggml_compute_fp32_to_bf16 rounds it (NaN made quiet, subnormals
 * kept), so gpt-oss's bf16 attention and output matrices see the inputs llama.cpp's see. f32 and
 * f16 weights read X as is: for f16, ggml rounds the activations to f16 (11 significant bits,
 * range to 65504) and owbench does not, which is more accurate and costs a GEMV nothing, so f16
 * models agree with llama.cpp to that rounding only. Fast kernels: f32, f16, bf16, q8_0, q4_0,
 * q4_K, q6_K, mxfp4 on AVX2 and AVX-512 (integer ones with VNNI; q4_0/mxfp4 also with VBMI; the
 * bf16 GEMV with vdpbf16ps where the CPU has AVX512_BF16, which counts bf16 subnormals as zero;
 * without it, and in every bf16 GEMM tile, both operands are widened to f32 for FMA), GEMM tiles
 * for batch >= 16 on AVX-512 for all eight of them.
 * Every other format, and the ISA "ref", run the reference path (traits vec_dot_ref, or
 * dequantize + float64 dot), which defines correctness.
 *
 * The kernels never create threads: a call is split into a plan (shape, ISA, path), a prepare step
 * over activation rows and a compute step over output rows, so a caller's pool can run
 *
 *     owb_matmul_plan_init(&p, type, m, k, batch, owb_isa_active(), err);
 *     act = aligned_alloc(64, owb_matmul_act_bytes(&p));           (once, reused across calls)
 *     on every thread:  owb_matmul_prepare(&p, X, ldx, act, b0, b1);   (its slice of the batch)
 *     barrier
 *     on every thread:  owb_matmul_rows(&p, W, act, X, ldx, Y, ldy, r0, r1);  (its slice of rows)
 *
 * Results do not depend on how rows are split (each output element is computed by the same
 * sequence of operations whatever [r0, r1) is), so any thread count gives bitwise identical Y for
 * a given plan. ISAs differ from each other by float rounding only. Row ranges aligned to
 * OWB_MATMUL_ROW_ALIGN keep every thread on the fast multi-row path.
 *
 * Memory: the caller owns W, X, Y and the activation scratch (64-byte aligned, act_bytes long);
 * nothing here allocates except owb_matmul() (the AVX-512 GEMM keeps its 128 KiB of partial sums
 * in thread-local storage). All functions are thread-safe on distinct outputs; concurrent
 * owb_matmul_rows calls may share W, act and a plan. Prepared activations may be shared between
 * plans only when owb_matmul_act_compatible() says so.
 */
#ifndef OWB_KERNELS_MATMUL_H
#define OWB_KERNELS_MATMUL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/formats.h"
#include "kernels/isa.h"
#include "owb_common.h"

/* Output-row multiple that keeps row slices on the widest kernels (16 rows of the GEMM tile). */
#define OWB_MATMUL_ROW_ALIGN 16

/* Calls with at most this many activation columns are treated as GEMV (decode): memory-bound,
 * so owb_matmul_rows walks the rows in small groups and prefetches the rows ahead into L2. */
#define OWB_MATMUL_GEMV_MAX_BATCH 4

struct owb_mm_kernel; /* private: the chosen kernel table entry (kernels/cpu/matmul_cpu.h) */

/*
 * How the rows of a weight matrix lie in memory.
 * ROWS: as GGUF stores them (row r at r * row_bytes).
 * REP8 (mxfp4): rows keep their place and length, but in each full group of 8 blocks (136 bytes)
 * the 8 blocks' quant bytes 0-7 come first (block j at 8 j), then their bytes 8-15 (at 64 + 8 j),
 * then their 8 scale bytes; the last nb % 8 blocks stay as stored. That is the order in which the
 * VBMI GEMV gathered them (two vpermt2b and a masked gather per row and group), so it reads them
 * with plain loads: 1 core from L2 27 -> 34 GB/s, 2 threads in the experts' decode pattern 1.07x
 * (docs/perf-notes.md, session 6). The engine converts weights it owns (a copied file, never a
 * mapping) once at load; every kernel gives the same bits in either layout.
 */
enum owb_wlayout { OWB_WL_ROWS = 0, OWB_WL_REP8 = 1 };

/* A planned multiplication; filled by owb_matmul_plan_init, read-only afterwards. */
struct owb_matmul_plan {
    enum owb_type wtype;    /* weight format */
    int64_t m, k, batch;    /* W is m x k, X is batch x k, Y is batch x m */
    enum owb_isa isa;       /* ISA of the kernels in use (may be lower than asked: see path) */
    enum owb_type act_type; /* prepared activations: the traits' vec_dot_type (q8_0, q8_K, q8_1,
                               bf16), or OWB_TYPE_F32: X used as is (f32, f16 weights) */
    size_t act_row_bytes;   /* bytes of one prepared activation row in the scratch (0: none) */
    char path[64]; /* what runs, e.g. "avx512-vnni q4_0xq8_0 gemv", "avx512-bf16 bf16xbf16 dpbf16
                      gemv" or "ref q5_0xq8_0 vec_dot" */
    /* private to kernels/ */
    enum owb_wlayout wl; /* layout of W (OWB_WL_ROWS unless owb_matmul_plan_wlayout set it) */
    const struct owb_mm_kernel *kern;
    void (*prep)(const float *x, uint8_t *act_row, int64_t k, int off);
    int act_layout, act_off;
};

/* Plan y = W x for weights of type wtype (m rows of k elements), `batch` activation rows, computed
 * with kernels of `isa`. Types without a fast kernel for that ISA run the reference path (traits
 * vec_dot_ref, or dequantize + f32 dot) and say so in path. Returns 0; OWB_E_UNSUPPORTED when the
 * type has no reference converter or the CPU lacks `isa`; OWB_E_USAGE for non-positive sizes or k
 * not a multiple of the type's block size. err names the problem. */
int owb_matmul_plan_init(struct owb_matmul_plan *p, enum owb_type wtype, int64_t m, int64_t k,
                         int64_t batch, enum owb_isa isa, char err[OWB_ERR_MAX]);

/* The layout in which weights of this type and shape run fastest with `isa`'s kernels on this
 * CPU: REP8 for mxfp4 where the VBMI GEMV runs (rows of 8 blocks or more, at most
 * OWB_WL_MAX_ROW_BYTES), else ROWS. */
#define OWB_WL_MAX_ROW_BYTES 16384
enum owb_wlayout owb_matmul_wlayout_best(enum owb_type wtype, int64_t m, int64_t k,
                                         enum owb_isa isa);
/* Whether weights of this type and shape can be held in layout wl (ROWS always; REP8: mxfp4 rows
 * of at most OWB_WL_MAX_ROW_BYTES). */
bool owb_wlayout_ok(enum owb_wlayout wl, enum owb_type wtype, int64_t m, int64_t k);
/* Make a plan read W in layout wl (every path gives the bits of ROWS: the kernels that read REP8
 * themselves do, the others get each row unpacked first). OWB_E_USAGE when !owb_wlayout_ok. */
int owb_matmul_plan_wlayout(struct owb_matmul_plan *p, enum owb_wlayout wl, char err[OWB_ERR_MAX]);
/* Rewrite the m x k matrix w (one expert) in place from layout `from` to `to` (a permutation
 * inside each row). OWB_E_USAGE when a layout is not ok for the shape. */
int owb_wlayout_convert(enum owb_type wtype, int64_t m, int64_t k, void *w, enum owb_wlayout from,
                        enum owb_wlayout to, char err[OWB_ERR_MAX]);

/* Bytes of activation scratch the plan needs (batch * act_row_bytes); 0 when X is used directly. */
size_t owb_matmul_act_bytes(const struct owb_matmul_plan *p);

/* Quantize/convert activation rows [b0, b1) of X (row stride ldx floats) into act. Rows are
 * independent, so threads may prepare disjoint ranges concurrently. No-op when act_bytes is 0. The
 * first owb_row_size(act_type, k) bytes of each prepared row are the traits' from_float_ref
 * output, byte for byte; kernel-private extras (per-block sums) may follow. */
void owb_matmul_prepare(const struct owb_matmul_plan *p, const float *X, int64_t ldx, void *act,
                        int64_t b0, int64_t b1);

/* True when activations prepared for plan a may be used by plan b as they are (same k, batch and
 * prepared layout). Equal act_type is not enough: the layout of the extras depends on the weight
 * type (e.g. q4_0 and q8_0 plans both take q8_0 activations but different extras). */
bool owb_matmul_act_compatible(const struct owb_matmul_plan *a, const struct owb_matmul_plan *b);

/* Compute output rows [r0, r1) for every batch row: Y[b*ldy + r] = sum_i W[r][i] * X[b][i].
 * act is the prepared scratch (ignored when act_bytes is 0), X with stride ldx is read only by
 * paths that take f32 activations. 0 <= r0 <= r1 <= m. */
void owb_matmul_rows(const struct owb_matmul_plan *p, const void *W, const void *act,
                     const float *X, int64_t ldx, float *Y, int64_t ldy, int64_t r0, int64_t r1);

/* Convenience: single-threaded Y = W X with the active ISA (X is batch x k, Y batch x m, both
 * contiguous). Allocates and frees its scratch. Returns 0 or a negative status (err filled). */
int owb_matmul(enum owb_type wtype, const void *W, int64_t m, int64_t k, const float *X,
               int64_t batch, float *Y, char err[OWB_ERR_MAX]);

#endif
