/* SPDX-License-Identifier: MIT */
/*
 * device.c: the CUDA layer's C API of kernels/cuda/cuda.h when CUDA is compiled in: device count
 * and facts from the CUDA runtime, NVML readings through dlopen("libnvidia-ml.so.1") with the few
 * prototypes NVML documents declared here (its header is not part of the CUDA toolkit), so the
 * binary needs neither the driver nor NVML to start.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda.h"

static pthread_once_t count_once = PTHREAD_ONCE_INIT;
static int dev_count;
static char count_reason[OWB_ERR_MAX];

static void count_init(void)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        snprintf(count_reason, sizeof count_reason, "no CUDA device: cudaGetDeviceCount: %s (%s)",
                 cudaGetErrorString(e), cudaGetErrorName(e));
        n = 0;
    } else if (n == 0) {
        snprintf(count_reason, sizeof count_reason,
                 "no CUDA device: cudaGetDeviceCount found 0 devices");
    }
    dev_count = n;
}

int owb_cuda_device_count(char reason[OWB_ERR_MAX])
{
    pthread_once(&count_once, count_init);
    if (dev_count == 0 && reason)
        snprintf(reason, OWB_ERR_MAX, "%s", count_reason);
    return dev_count;
}

static int attr(enum cudaDeviceAttr a, int dev)
{
    int v = 0;
    if (cudaDeviceGetAttribute(&v, a, dev) != cudaSuccess)
        v = 0;
    return v;
}

int owb_cuda_device_info(int dev, struct owb_cuda_device_info *info, char err[OWB_ERR_MAX])
{
    memset(info, 0, sizeof *info);
    const int n = owb_cuda_device_count(err);
    if (n == 0)
        return OWB_E_UNSUPPORTED;
    if (dev < 0 || dev >= n) {
        snprintf(err, OWB_ERR_MAX, "CUDA device %d: out of range (%d device%s)", dev, n,
                 n == 1 ? "" : "s");
        return OWB_E_UNSUPPORTED;
    }
    struct cudaDeviceProp p;
    cudaError_t e = cudaGetDeviceProperties(&p, dev);
    if (e != cudaSuccess) {
        snprintf(err, OWB_ERR_MAX, "CUDA device %d: cudaGetDeviceProperties: %s", dev,
                 cudaGetErrorString(e));
        return OWB_E_UNSUPPORTED;
    }
    snprintf(info->name, sizeof info->name, "%s", p.name);
    if (cudaDeviceGetPCIBusId(info->pci_bus_id, (int)sizeof info->pci_bus_id, dev) != cudaSuccess)
        info->pci_bus_id[0] = '\0';
    info->cc_major = p.major;
    info->cc_minor = p.minor;
    info->sm_count = p.multiProcessorCount;
    info->mem_bytes = (uint64_t)p.totalGlobalMem;
    info->mem_bus_bits = p.memoryBusWidth;
    info->l2_bytes = (uint64_t)p.l2CacheSize;
    info->ecc = p.ECCEnabled;
    info->clock_khz = attr(cudaDevAttrClockRate, dev);
    info->mem_clock_khz = attr(cudaDevAttrMemoryClockRate, dev);
    if (cudaDriverGetVersion(&info->driver_version) != cudaSuccess)
        info->driver_version = 0;
    if (cudaRuntimeGetVersion(&info->runtime_version) != cudaSuccess)
        info->runtime_version = 0;
    info->peak_mem_gb_per_s =
        2.0 * (double)info->mem_clock_khz * 1e3 * (double)info->mem_bus_bits / 8.0 / 1e9;
    return 0;
}

/* ---- NVML through dlopen ---- */

typedef int nvml_ret;
typedef struct nvml_dev_s *nvml_dev;

static struct {
    nvml_ret (*init)(void);
    nvml_ret (*by_pci)(const char *, nvml_dev *);
    nvml_ret (*clock)(nvml_dev, unsigned, unsigned *);
    nvml_ret (*power)(nvml_dev, unsigned *);
    nvml_ret (*temp)(nvml_dev, unsigned, unsigned *);
    nvml_ret (*throttle)(nvml_dev, unsigned long long *);
    nvml_ret (*energy)(nvml_dev, unsigned long long *);
    const char *(*errstr)(nvml_ret);
    char reason[OWB_ERR_MAX];
    int ok;
} nv;
static pthread_once_t nv_once = PTHREAD_ONCE_INIT;

#define NVML_SUCCESS 0
#define NVML_CLOCK_SM 1
#define NVML_CLOCK_MEM 2
#define NVML_TEMPERATURE_GPU 0

static void nv_init(void)
{
    void *h = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(nv.reason, sizeof nv.reason, "NVML unavailable: %s", why ? why : "dlopen failed");
        return;
    }
#define SYM(field, name) *(void **)(&nv.field) = dlsym(h, name)
    SYM(init, "nvmlInit_v2");
    SYM(by_pci, "nvmlDeviceGetHandleByPciBusId_v2");
    SYM(clock, "nvmlDeviceGetClockInfo");
    SYM(power, "nvmlDeviceGetPowerUsage");
    SYM(temp, "nvmlDeviceGetTemperature");
    SYM(throttle, "nvmlDeviceGetCurrentClocksEventReasons");
    if (!nv.throttle)
        SYM(throttle, "nvmlDeviceGetCurrentClocksThrottleReasons");
    SYM(energy, "nvmlDeviceGetTotalEnergyConsumption");
    SYM(errstr, "nvmlErrorString");
#undef SYM
    if (!nv.init || !nv.by_pci || !nv.errstr) {
        snprintf(nv.reason, sizeof nv.reason,
                 "NVML unavailable: libnvidia-ml.so.1 lacks "
                 "nvmlInit_v2/nvmlDeviceGetHandleByPciBusId_v2");
        return;
    }
    nvml_ret r = nv.init();
    if (r != NVML_SUCCESS) {
        snprintf(nv.reason, sizeof nv.reason, "NVML unavailable: nvmlInit: %s", nv.errstr(r));
        return;
    }
    nv.ok = 1;
}

static void nv_fail(struct owb_cuda_nvml *o, const char *what, nvml_ret r)
{
    if (!o->reason[0])
        snprintf(o->reason, sizeof o->reason, "NVML %s: %s", what,
                 nv.errstr ? nv.errstr(r) : "not available");
}

void owb_cuda_nvml_read(int dev, struct owb_cuda_nvml *o)
{
    memset(o, 0, sizeof *o);
    char pci[32];
    if (owb_cuda_device_count(o->reason) <= dev || dev < 0) {
        if (!o->reason[0])
            snprintf(o->reason, sizeof o->reason, "CUDA device %d: out of range", dev);
        return;
    }
    pthread_once(&nv_once, nv_init);
    if (!nv.ok) {
        snprintf(o->reason, sizeof o->reason, "%s", nv.reason);
        return;
    }
    nvml_dev d;
    nvml_ret r;
    if (cudaDeviceGetPCIBusId(pci, (int)sizeof pci, dev) != cudaSuccess) {
        snprintf(o->reason, sizeof o->reason, "CUDA device %d: no PCI bus id", dev);
        return;
    }
    if ((r = nv.by_pci(pci, &d)) != NVML_SUCCESS) {
        nv_fail(o, "device handle", r);
        return;
    }
    unsigned u = 0, v = 0;
    unsigned long long ull = 0;
    if (nv.clock && (r = nv.clock(d, NVML_CLOCK_SM, &u)) == NVML_SUCCESS &&
        (r = nv.clock(d, NVML_CLOCK_MEM, &v)) == NVML_SUCCESS) {
        o->ok_clocks = true;
        o->sm_clock_mhz = u;
        o->mem_clock_mhz = v;
    } else {
        nv_fail(o, "clocks", r);
    }
    if (nv.power && (r = nv.power(d, &u)) == NVML_SUCCESS) {
        o->ok_power = true;
        o->power_w = (double)u / 1000.0;
    } else {
        nv_fail(o, "power", r);
    }
    if (nv.temp && (r = nv.temp(d, NVML_TEMPERATURE_GPU, &u)) == NVML_SUCCESS) {
        o->ok_temp = true;
        o->temp_c = u;
    } else {
        nv_fail(o, "temperature", r);
    }
    if (nv.throttle && (r = nv.throttle(d, &ull)) == NVML_SUCCESS) {
        o->ok_throttle = true;
        o->throttle_reasons = ull;
    } else {
        nv_fail(o, "throttle reasons", r);
    }
    if (nv.energy && (r = nv.energy(d, &ull)) == NVML_SUCCESS) {
        o->ok_energy = true;
        o->energy_mj = ull;
    } else {
        nv_fail(o, "energy", r);
    }
}
