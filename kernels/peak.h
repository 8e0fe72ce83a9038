/* SPDX-License-Identifier: MIT */
/*
 * peak.h: compute ceilings of the CPU kernels, measured the way `stream` measures the bandwidth
 * ceiling: a fixed loop of the instructions a kernel family is built from, with enough independent
 * accumulators to reach the core's throughput, timed on the same threads in the same run. A GEMM's
 * GFLOP/s (2 ops per multiply-add) is then reported as % of the peak its path can reach at most.
 *
 *   int8_dot   the int8 dot product of the integer kernels: AVX-512 VNNI vpdpbusd (64 MAC per zmm),
 *              or AVX2 vpmaddubsw + vpmaddwd + vpaddd (32 MAC per ymm)
 *   f32_fma    vfmadd231ps (16 or 8 MAC)
 *   q8_block   the inner step of the 32-wide integer GEMM (q4_0, q8_0, mxfp4 x q8_0 activations):
 *              per 32-element block and 16 rows, 8 vpdpbusd, then vcvtdq2ps, vmulps by the
 * activation scale and vfmadd231ps by the weight scale. On cores where vpdpbusd and the float
 *              multiply/FMA share pipes (Zen 4) this is ~80% of int8_dot; AVX-512 VNNI only.
 *
 * Each loop's result is deterministic (integer sums, or float sums of exact small integers), so a
 * caller can check that the instructions really ran (owb_peak_expect).
 */
#ifndef OWB_KERNELS_PEAK_H
#define OWB_KERNELS_PEAK_H

#include <stdint.h>

#include "kernels/formats.h"
#include "kernels/isa.h"

enum owb_peak_kind {
    OWB_PEAK_INT8_DOT = 0,
    OWB_PEAK_F32_FMA,
    OWB_PEAK_Q8_BLOCK,
    OWB_PEAK_COUNT,
};

/* The ceiling a batched matmul whose plan takes activations of type act (kernels/matmul.h,
 * owb_matmul_plan.act_type) is held against: f32_fma for f32 activations (f32, f16 weights) and
 * bf16 ones (bf16 weights), int8_dot for quantized ones. */
enum owb_peak_kind owb_peak_kind_for_act(enum owb_type act);

/* "int8_dot", "f32_fma", "q8_block"; "?" for an invalid value. */
const char *owb_peak_name(enum owb_peak_kind k);

/* Operations (2 per multiply-add) one iteration of kind k's loop performs on isa, or 0 when this
 * CPU/build has no such loop for isa (the ref ISA never has one). */
double owb_peak_ops_per_iter(enum owb_peak_kind k, enum owb_isa isa);

/* The ISA-specific instruction sequence, e.g. "avx512-vnni vpdpbusd zmm" (static string), or NULL
 * where owb_peak_ops_per_iter is 0. */
const char *owb_peak_insn(enum owb_peak_kind k, enum owb_isa isa);

/* Run iters iterations of kind k's loop on isa (iters >= 1) and return its checksum; 0 when the
 * loop does not exist (see owb_peak_ops_per_iter). Thread-safe: each call uses only registers. */
uint64_t owb_peak_run(enum owb_peak_kind k, enum owb_isa isa, int64_t iters);

/* The checksum owb_peak_run must return for iters iterations. */
uint64_t owb_peak_expect(enum owb_peak_kind k, enum owb_isa isa, int64_t iters);

#endif
