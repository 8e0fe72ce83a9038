/* SPDX-License-Identifier: MIT */
/*
 * kernels_gpu.h: the GEMV/GEMM sweep on a device backend (`owbench kernels --device cuda`): the
 * device-to-device copy bandwidth first (the ceiling of the same run, kernels/gpu/copy), then for
 * every format, shape and batch Y = W X through the backend's mm_plan/mm_prepare/mm_rows, timed
 * per repetition with the backend's events after a warm-up, weights rotating over copies that
 * exceed twice the L2 so every repetition streams them from memory. NVML readings before and
 * after each case go to its counters. Benchmarks: kernels/gpu/gemv/<fmt>/<m>x<k>/b<batch> (batch
 * below the GEMM threshold) or kernels/gpu/gemm/<fmt>/<m>x<k>/b<batch>, params {format, m, k,
 * batch, path, device, copies}, metrics {us_median, us_min, gb_per_s, gflop_per_s,
 * copy_gb_per_s, pct_of_copy}. Weights are random bytes (timing only; the gpu tests check
 * values).
 */
#ifndef OWB_BENCH_KERNELS_GPU_H
#define OWB_BENCH_KERNELS_GPU_H

#include <stdio.h>
#include <cjson/cJSON.h>

#include "bench/suites/kernels_suite.h"
#include "kernels/backend.h"
#include "owb_common.h"

/* Run the sweep of cfg's formats, shapes and batches on be (an available device backend) into
 * doc. quick: fewer repetitions. Returns 0, OWB_E_UNSUPPORTED (a format the backend cannot run:
 * err names it), OWB_E_NOMEM (device memory), OWB_E_SYSTEM (a kernel failed). */
int owb_kernels_gpu_run(const struct owb_backend *be, const struct owb_kernels_cfg *cfg, int quick,
                        cJSON *doc, char err[OWB_ERR_MAX]);

/* The device-to-device copy bandwidth of be (read + write bytes per second, the median of the
 * repetitions; quick: fewer) as benchmark kernels/gpu/copy in doc and in *gb_per_s: the ceiling
 * of the kernels sweep and of `owbench model --device cuda`'s decode roofline. Any backend's
 * table copies (param device: the CUDA device's name, else the backend's). Returns 0,
 * OWB_E_UNSUPPORTED (no device), OWB_E_NOMEM (device memory), OWB_E_SYSTEM. */
int owb_kernels_gpu_copy(const struct owb_backend *be, int quick, cJSON *doc, double *gb_per_s,
                         char err[OWB_ERR_MAX]);

/* One line per case: name, path, µs, GB/s, % of copy, TFLOP/s. */
void owb_kernels_gpu_print_table(const cJSON *doc, FILE *f);

#endif
