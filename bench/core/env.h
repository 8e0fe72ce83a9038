/* SPDX-License-Identifier: MIT */
/*
 * env.h: the `env` object of a result: host, OS/kernel, CPU model and ISA flags, topology
 * summary, frequency/governor, build (compiler, flags, type, git), features {hwloc, papi, cuda,
 * mpi, curl: {compiled, active, reason}} and GPUs. Values that cannot be read are {"na": reason}.
 */
#ifndef OWB_BENCH_ENV_H
#define OWB_BENCH_ENV_H

#include <stdbool.h>
#include <cjson/cJSON.h>

#include "bench/core/topo.h"
#include "owb_common.h"

/* Collect the environment. t may be NULL (the machine's topology is loaded for the summary).
 * Caller owns the result (cJSON_Delete); NULL on OOM. Initialises PAPI once (thread-safe), reads
 * /proc and /sys; call it outside measured regions. */
cJSON *owb_env_collect(const struct owb_topo *t);

/* Hook for the CUDA layer: append one object per device to gpus and return true when at least one
 * usable device exists, else false with a reason ("no CUDA device: cudaGetDeviceCount returned
 * 100"). Registered once at start-up (not thread-safe against a concurrent owb_env_collect);
 * without it features.cuda is inactive and gpus is []. */
typedef bool (*owb_env_gpu_probe_fn)(cJSON *gpus, char reason[OWB_ERR_MAX]);
void owb_env_set_gpu_probe(owb_env_gpu_probe_fn fn);

#endif
