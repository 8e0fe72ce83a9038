/* SPDX-License-Identifier: MIT */
/*
 * test_gpu.c: bench/core/gpu.h without a device: the env probe says there is none and why (and
 * leaves gpus empty), and NVML readings that failed become {"na": reason} counters, while readings
 * that worked become numbers (a made-up reading: energy difference in joules, throttle names).
 * With a device the probe must list it.
 */
#include <string.h>

#include "bench/core/gpu.h"
#include "owb_config.h"
#include "owb_test.h"

int main(void)
{
    char why[OWB_ERR_MAX] = "";
    cJSON *gpus = cJSON_CreateArray();
    const bool any = owb_gpu_probe(gpus, why);
    if (!any) {
        CHECK(cJSON_GetArraySize(gpus) == 0);
        CHECK_MSG(strstr(why, OWB_HAVE_CUDA ? "no CUDA device" : "built without CUDA"), "%s", why);
    } else {
        const cJSON *g = cJSON_GetArrayItem(gpus, 0);
        CHECK(cJSON_IsString(cJSON_GetObjectItem(g, "name")));
        CHECK(cJSON_GetObjectItem(g, "sms")->valuedouble > 0);
    }
    cJSON_Delete(gpus);

    struct owb_cuda_nvml before, after;
    owb_cuda_nvml_read(0, &before);
    owb_cuda_nvml_read(0, &after);
    cJSON *c = cJSON_CreateObject();
    owb_gpu_counters_json(c, &before, &after);
    const char *keys[] = {"gpu_sm_clock_mhz_before", "gpu_power_w_after", "gpu_temp_c_before",
                          "gpu_energy_j", "gpu_throttle_after"};
    for (size_t i = 0; i < OWB_ARRAY_LEN(keys); i++) {
        const cJSON *v = cJSON_GetObjectItem(c, keys[i]);
        CHECK_MSG(v != NULL, "%s missing", keys[i]);
        if (!any && v)
            CHECK_MSG(cJSON_IsString(cJSON_GetObjectItem(v, "na")), "%s is not na", keys[i]);
    }
    cJSON_Delete(c);

    /* readings that worked */
    memset(&before, 0, sizeof before);
    memset(&after, 0, sizeof after);
    before.ok_energy = after.ok_energy = after.ok_throttle = after.ok_power = true;
    before.energy_mj = 1000;
    after.energy_mj = 3500;
    after.throttle_reasons = 0x20;
    after.power_w = 312.5;
    snprintf(before.reason, sizeof before.reason, "NVML clocks: Not Supported");
    c = cJSON_CreateObject();
    owb_gpu_counters_json(c, &before, &after);
    CHECK_NEAR(cJSON_GetObjectItem(c, "gpu_energy_j")->valuedouble, 2.5, 1e-12);
    CHECK_NEAR(cJSON_GetObjectItem(c, "gpu_power_w_after")->valuedouble, 312.5, 1e-12);
    CHECK(strcmp(cJSON_GetObjectItem(c, "gpu_throttle_after")->valuestring, "sw_thermal") == 0);
    const cJSON *na = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "gpu_sm_clock_mhz_before"), "na");
    CHECK(cJSON_IsString(na) && strstr(na->valuestring, "Not Supported"));
    cJSON_Delete(c);
    TEST_DONE();
}
