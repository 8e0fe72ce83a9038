/* SPDX-License-Identifier: MIT */
/*
 * test_cuda_api.c: kernels/cuda/cuda.h in every build, without launching anything. Without a
 * usable device (a build without CUDA, no driver, no GPU: this machine and CI) the count is 0 with
 * a reason that says which, device info fails with the same kind of sentence, NVML readings are
 * all absent with a reason, and the cuda backend is unavailable with it too; with a device, the
 * facts are plausible. Throttle-reason names for known, unknown and empty masks.
 */
#include <stdio.h>
#include <string.h>

#include "kernels/backend.h"
#include "kernels/cuda/cuda.h"
#include "owb_common.h"
#include "owb_config.h"
#include "owb_test.h"

int main(void)
{
    char why[OWB_ERR_MAX] = "", err[OWB_ERR_MAX] = "";
    struct owb_cuda_device_info info;
    struct owb_cuda_nvml nv;
    const int n = owb_cuda_device_count(why);
    CHECK(n >= 0);
    CHECK(owb_cuda_device_count(NULL) == n); /* the first answer is kept */
    if (n == 0) {
        CHECK_MSG(strstr(why, OWB_HAVE_CUDA ? "no CUDA device" : "built without CUDA") != NULL,
                  "%s", why);
        CHECK(owb_cuda_device_info(0, &info, err) == OWB_E_UNSUPPORTED && err[0]);
        CHECK(info.name[0] == '\0' && info.sm_count == 0);
        owb_cuda_nvml_read(0, &nv);
        CHECK(!nv.ok_clocks && !nv.ok_power && !nv.ok_temp && !nv.ok_throttle && !nv.ok_energy);
        CHECK(nv.reason[0] != '\0');
        const struct owb_backend *be = NULL;
        CHECK(owb_backend_open("cuda", &be, err) == OWB_E_UNSUPPORTED && be == NULL);
        CHECK_MSG(strncmp(err, "cuda: ", 6) == 0 && strlen(err) > 10, "%s", err);
        CHECK(owb_cuda_cublas_matmul(OWB_TYPE_BF16, NULL, NULL, NULL, NULL, 16, 16, 1, err) ==
              OWB_E_UNSUPPORTED);
        CHECK(err[0] != '\0');
        fprintf(stderr, "no device (as expected here): %s\n", why);
    } else {
        CHECK(owb_cuda_device_info(0, &info, err) == 0);
        CHECK(info.name[0] && info.sm_count > 0 && info.mem_bytes > 0 && info.runtime_version > 0);
        CHECK(owb_cuda_device_info(n, &info, err) == OWB_E_UNSUPPORTED && strstr(err, "range"));
        owb_cuda_nvml_read(0, &nv);
        CHECK(nv.ok_clocks || nv.reason[0]);
        fprintf(stderr, "device 0: %s, %d SMs\n", info.name, info.sm_count);
    }
    /* only f16/bf16 baselines exist */
    const int rc = owb_cuda_cublas_matmul(OWB_TYPE_Q4_0, NULL, NULL, NULL, NULL, 16, 32, 1, err);
    CHECK(rc == (OWB_HAVE_CUDA ? OWB_E_USAGE : OWB_E_UNSUPPORTED));
    char names[128];
    owb_cuda_throttle_names(0, names, sizeof names);
    CHECK(strcmp(names, "none") == 0);
    owb_cuda_throttle_names(0x4 | 0x40, names, sizeof names);
    CHECK(strcmp(names, "sw_power_cap,hw_thermal") == 0);
    owb_cuda_throttle_names(0x1000 | 0x1, names, sizeof names);
    CHECK_MSG(strcmp(names, "gpu_idle,other:0x1000") == 0, "%s", names);
    owb_cuda_throttle_names(0x1ff, names, 8); /* truncated, still terminated */
    CHECK(strlen(names) < 8);
    TEST_DONE();
}
