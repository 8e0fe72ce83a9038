/* SPDX-License-Identifier: MIT */
/*
 * cublas.c: the cuBLAS baseline of the device sweep (kernels/cuda/cuda.h owb_cuda_cublas_matmul),
 * through dlopen("libcublas.so.13") with the few prototypes and constants cuBLAS documents declared
 * here, so owbench starts and runs without cuBLAS (the baseline then says why it is absent).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "kernels/cuda/cuda.h"
#include "kernels/cuda/launch.h"

typedef int cublas_status;
typedef void *cublas_handle;

#define OP_N 0
#define OP_T 1
#define R_32F 0
#define R_16F 2
#define R_16BF 14
#define COMPUTE_32F 68
#define GEMM_DEFAULT (-1)

static struct {
    cublas_status (*create)(cublas_handle *);
    cublas_status (*set_stream)(cublas_handle, void *);
    cublas_status (*gemm_ex)(cublas_handle, int, int, int, int, int, const void *, const void *,
                             int, int, const void *, int, int, const void *, void *, int, int, int,
                             int);
    const char *(*status_string)(cublas_status);
    cublas_handle h;
    int ok;
    char reason[OWB_ERR_MAX];
} cb;
static pthread_once_t cb_once = PTHREAD_ONCE_INIT;

static void cb_init(void)
{
    void *lib = dlopen("libcublas.so.13", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        snprintf(cb.reason, sizeof cb.reason, "cuBLAS unavailable: %s", why ? why : "dlopen");
        return;
    }
    *(void **)(&cb.create) = dlsym(lib, "cublasCreate_v2");
    *(void **)(&cb.set_stream) = dlsym(lib, "cublasSetStream_v2");
    *(void **)(&cb.gemm_ex) = dlsym(lib, "cublasGemmEx");
    *(void **)(&cb.status_string) = dlsym(lib, "cublasGetStatusString");
    if (!cb.create || !cb.set_stream || !cb.gemm_ex) {
        snprintf(cb.reason, sizeof cb.reason,
                 "cuBLAS unavailable: libcublas.so.13 lacks "
                 "cublasCreate_v2/cublasSetStream_v2/cublasGemmEx");
        return;
    }
    cublas_status s = cb.create(&cb.h);
    if (s == 0)
        s = cb.set_stream(cb.h, owb_cu_stream());
    if (s != 0) {
        snprintf(cb.reason, sizeof cb.reason, "cuBLAS: cublasCreate: %s",
                 cb.status_string ? cb.status_string(s) : "failed");
        return;
    }
    cb.ok = 1;
}

int owb_cuda_cublas_matmul(enum owb_type t, const void *W, const float *X, void *act, float *Y,
                           int64_t m, int64_t k, int64_t batch, char err[OWB_ERR_MAX])
{
    if (t != OWB_TYPE_F16 && t != OWB_TYPE_BF16) {
        snprintf(err, OWB_ERR_MAX, "cuBLAS baseline: %s weights (f16 or bf16 only)",
                 owb_type_name(t));
        return OWB_E_USAGE;
    }
    if (owb_cuda_device_count(err) == 0 || !owb_cu_stream())
        return OWB_E_UNSUPPORTED;
    pthread_once(&cb_once, cb_init);
    if (!cb.ok) {
        snprintf(err, OWB_ERR_MAX, "%s", cb.reason);
        return OWB_E_UNSUPPORTED;
    }
    /* Y (batch, m) row-major is the column-major m x batch product W X^T: W row-major (m, k) is
     * column-major k x m (transposed, lda k), X row-major (batch, k) column-major k x batch */
    const int dt = t == OWB_TYPE_F16 ? R_16F : R_16BF;
    const float alpha = 1.0f, beta = 0.0f;
    owb_cu_convert_rows(t, X, k, act, k, 0, batch, owb_cu_stream());
    cublas_status s =
        cb.gemm_ex(cb.h, OP_T, OP_N, (int)m, (int)batch, (int)k, &alpha, W, dt, (int)k, act, dt,
                   (int)k, &beta, Y, R_32F, (int)m, COMPUTE_32F, GEMM_DEFAULT);
    if (s != 0) {
        snprintf(err, OWB_ERR_MAX, "cuBLAS: cublasGemmEx %lldx%lld batch %lld: %s", (long long)m,
                 (long long)k, (long long)batch, cb.status_string ? cb.status_string(s) : "failed");
        return OWB_E_SYSTEM;
    }
    return 0;
}
