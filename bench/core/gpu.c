/* SPDX-License-Identifier: MIT */
/*
 * gpu.c: CUDA device facts for env and NVML readings as counters (bench/core/gpu.h).
 */
#include <stdio.h>

#include "bench/core/gpu.h"

bool owb_gpu_probe(cJSON *gpus, char reason[OWB_ERR_MAX])
{
    const int n = owb_cuda_device_count(reason);
    for (int d = 0; d < n; d++) {
        struct owb_cuda_device_info in;
        char err[OWB_ERR_MAX];
        cJSON *o = cJSON_CreateObject();
        if (!o)
            return n > 0;
        cJSON_AddItemToArray(gpus, o);
        cJSON_AddNumberToObject(o, "index", d);
        if (owb_cuda_device_info(d, &in, err) != 0) {
            cJSON_AddStringToObject(o, "na", err);
            continue;
        }
        char cc[32], drv[32], rt[32];
        snprintf(cc, sizeof cc, "%d.%d", in.cc_major, in.cc_minor);
        snprintf(drv, sizeof drv, "%d.%d", in.driver_version / 1000, in.driver_version % 1000 / 10);
        snprintf(rt, sizeof rt, "%d.%d", in.runtime_version / 1000, in.runtime_version % 1000 / 10);
        cJSON_AddStringToObject(o, "name", in.name);
        cJSON_AddStringToObject(o, "pci_bus_id", in.pci_bus_id);
        cJSON_AddStringToObject(o, "compute_capability", cc);
        cJSON_AddNumberToObject(o, "sms", in.sm_count);
        cJSON_AddNumberToObject(o, "memory_bytes", (double)in.mem_bytes);
        cJSON_AddNumberToObject(o, "memory_bus_bits", in.mem_bus_bits);
        cJSON_AddNumberToObject(o, "l2_bytes", (double)in.l2_bytes);
        cJSON_AddNumberToObject(o, "sm_clock_max_mhz", in.clock_khz / 1000.0);
        cJSON_AddNumberToObject(o, "mem_clock_max_mhz", in.mem_clock_khz / 1000.0);
        cJSON_AddNumberToObject(o, "mem_peak_gb_per_s", in.peak_mem_gb_per_s);
        cJSON_AddStringToObject(o, "driver_cuda_version", drv);
        cJSON_AddStringToObject(o, "runtime_version", rt);
        cJSON_AddBoolToObject(o, "ecc", in.ecc != 0);
    }
    if (n > 0)
        snprintf(reason, OWB_ERR_MAX, "%d device%s", n, n == 1 ? "" : "s");
    return n > 0;
}

static void num_or_na(cJSON *c, const char *key, bool ok, double v, const char *why)
{
    if (ok) {
        cJSON_AddNumberToObject(c, key, v);
    } else {
        cJSON *na = cJSON_CreateObject();
        cJSON_AddStringToObject(na, "na", why);
        cJSON_AddItemToObject(c, key, na);
    }
}

void owb_gpu_counters_json(cJSON *c, const struct owb_cuda_nvml *b, const struct owb_cuda_nvml *a)
{
    num_or_na(c, "gpu_sm_clock_mhz_before", b->ok_clocks, b->sm_clock_mhz, b->reason);
    num_or_na(c, "gpu_sm_clock_mhz_after", a->ok_clocks, a->sm_clock_mhz, a->reason);
    num_or_na(c, "gpu_mem_clock_mhz_after", a->ok_clocks, a->mem_clock_mhz, a->reason);
    num_or_na(c, "gpu_power_w_before", b->ok_power, b->power_w, b->reason);
    num_or_na(c, "gpu_power_w_after", a->ok_power, a->power_w, a->reason);
    num_or_na(c, "gpu_temp_c_before", b->ok_temp, b->temp_c, b->reason);
    num_or_na(c, "gpu_temp_c_after", a->ok_temp, a->temp_c, a->reason);
    num_or_na(c, "gpu_energy_j", a->ok_energy && b->ok_energy,
              (double)(a->energy_mj - b->energy_mj) / 1000.0, a->reason);
    if (a->ok_throttle) {
        char names[256];
        owb_cuda_throttle_names(a->throttle_reasons, names, sizeof names);
        cJSON_AddStringToObject(c, "gpu_throttle_after", names);
    } else {
        num_or_na(c, "gpu_throttle_after", false, 0, a->reason);
    }
}
