/* SPDX-License-Identifier: MIT */
/*
 * gpu.h: the GPU side of the measurement core: the env probe (one object per CUDA device: name,
 * SMs, memory, clocks, L2, driver and runtime versions, ECC) registered with
 * owb_env_set_gpu_probe, and NVML readings before/after a measured region as a benchmark's
 * counters (clocks, power, temperature, throttle reasons, energy; {"na": reason} when NVML or a
 * device is absent). Uses kernels/cuda/cuda.h, which answers "built without CUDA" in CPU builds.
 */
#ifndef OWB_BENCH_GPU_H
#define OWB_BENCH_GPU_H

#include <stdbool.h>
#include <cjson/cJSON.h>

#include "kernels/cuda/cuda.h"
#include "owb_common.h"

/* owb_env_gpu_probe_fn: append the devices to gpus; false with the reason when there is none. */
bool owb_gpu_probe(cJSON *gpus, char reason[OWB_ERR_MAX]);

/* Counters of a region on device dev from NVML readings before and after it, into counters (an
 * object): gpu_sm_clock_mhz_{before,after}, gpu_mem_clock_mhz_after, gpu_power_w_{before,after},
 * gpu_temp_c_{before,after}, gpu_throttle_after (names), gpu_energy_j (after - before); each
 * {"na": reason} when unreadable. */
void owb_gpu_counters_json(cJSON *counters, const struct owb_cuda_nvml *before,
                           const struct owb_cuda_nvml *after);

#endif
