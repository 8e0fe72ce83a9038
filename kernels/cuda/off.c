/* SPDX-License-Identifier: MIT */
/*
 * off.c: kernels/cuda/cuda.h in a build without CUDA: every answer is "built without CUDA".
 * Compiled only when OWB_HAVE_CUDA is 0 (kernels/CMakeLists.txt).
 */
#include <stdio.h>
#include <string.h>

#include "kernels/cuda/cuda.h"

#define OFF_REASON "built without CUDA (OWB_WITH_CUDA=OFF or nvcc not found at configure time)"

int owb_cuda_device_count(char reason[OWB_ERR_MAX])
{
    if (reason)
        snprintf(reason, OWB_ERR_MAX, "%s", OFF_REASON);
    return 0;
}

int owb_cuda_device_info(int dev, struct owb_cuda_device_info *info, char err[OWB_ERR_MAX])
{
    (void)dev;
    memset(info, 0, sizeof *info);
    snprintf(err, OWB_ERR_MAX, "%s", OFF_REASON);
    return OWB_E_UNSUPPORTED;
}

void owb_cuda_nvml_read(int dev, struct owb_cuda_nvml *r)
{
    (void)dev;
    memset(r, 0, sizeof *r);
    snprintf(r->reason, sizeof r->reason, "%s", OFF_REASON);
}

int owb_cuda_cublas_matmul(enum owb_type t, const void *W, const float *X, void *act, float *Y,
                           int64_t m, int64_t k, int64_t batch, char err[OWB_ERR_MAX])
{
    (void)t, (void)W, (void)X, (void)act, (void)Y, (void)m, (void)k, (void)batch;
    snprintf(err, OWB_ERR_MAX, "%s", OFF_REASON);
    return OWB_E_UNSUPPORTED;
}
