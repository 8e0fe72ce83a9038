/* SPDX-License-Identifier: MIT */
/*
 * cuda.h: what the rest of owbench may ask of the CUDA layer, in plain C: whether a usable device
 * exists (and why not), the facts of a device for a result's env, and NVML readings (clocks,
 * power, temperature, throttle reasons, energy) as counters. Every function exists in every build:
 * without CUDA (kernels/cuda/off.c) they answer "built without CUDA"; with CUDA but without a
 * driver or a GPU they answer with the runtime's reason. NVML is opened at run time
 * (libnvidia-ml.so.1 through dlopen), so a binary built with CUDA starts on a machine without the
 * driver. Thread-safe; nothing returned needs freeing.
 */
#ifndef OWB_KERNELS_CUDA_CUDA_H
#define OWB_KERNELS_CUDA_CUDA_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/formats.h"
#include "owb_common.h"

/* Number of usable CUDA devices (>= 1) or 0 with a reason: "built without CUDA", "no CUDA
 * device: cudaGetDeviceCount: <runtime's message>" (no driver, no GPU). The first call decides;
 * later calls return the same answer. */
int owb_cuda_device_count(char reason[OWB_ERR_MAX]);

/* Facts of device dev (cudaGetDeviceProperties, cudaDriverGetVersion, cudaRuntimeGetVersion). */
struct owb_cuda_device_info {
    char name[256];
    char pci_bus_id[32];
    int cc_major, cc_minor;
    int sm_count;
    uint64_t mem_bytes;
    int mem_bus_bits;
    int clock_khz;     /* SM clock the runtime reports (max); 0 when unknown */
    int mem_clock_khz; /* 0 when unknown */
    uint64_t l2_bytes;
    int driver_version; /* CUDA driver API version, e.g. 13000 */
    int runtime_version;
    int ecc;                  /* 1 on, 0 off */
    double peak_mem_gb_per_s; /* 2 * mem_clock * bus width / 8 (DDR), 0 when unknown */
};
/* 0, or OWB_E_UNSUPPORTED with err naming why (no device, dev out of range). */
int owb_cuda_device_info(int dev, struct owb_cuda_device_info *info, char err[OWB_ERR_MAX]);

/* NVML readings of device dev; a field that could not be read has its `ok_` flag false and the
 * reason in reason (the first failure; all fields fail alike when NVML is absent). */
struct owb_cuda_nvml {
    bool ok_clocks, ok_power, ok_temp, ok_throttle, ok_energy;
    unsigned sm_clock_mhz, mem_clock_mhz;
    double power_w;
    unsigned temp_c;
    uint64_t throttle_reasons; /* nvmlClocksEventReasons bitmask */
    uint64_t energy_mj;        /* total since driver load, millijoules */
    char reason[OWB_ERR_MAX];
};
void owb_cuda_nvml_read(int dev, struct owb_cuda_nvml *r);

/* Baseline Y = W X by cuBLAS (cublasGemmEx, f32 accumulation; opened at run time): W (m, k)
 * row-major in t (f16 or bf16), X (batch, k) f32 converted into act (batch * k * 2 bytes) first;
 * all device addresses, queued on the cuda backend's stream (time it with its timer). Returns 0,
 * OWB_E_USAGE for another type, OWB_E_UNSUPPORTED with the reason (no device, no cuBLAS),
 * OWB_E_SYSTEM when cuBLAS fails. */
int owb_cuda_cublas_matmul(enum owb_type t, const void *W, const float *X, void *act, float *Y,
                           int64_t m, int64_t k, int64_t batch, char err[OWB_ERR_MAX]);

/* Names of the bits of a throttle-reason mask, comma-separated ("none" for 0) into buf. */
void owb_cuda_throttle_names(uint64_t mask, char *buf, size_t size);

#endif
