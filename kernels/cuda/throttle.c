/* SPDX-License-Identifier: MIT */
/*
 * throttle.c: names of NVML's clock-event (throttle) reason bits (nvmlClocksEventReasons, as
 * NVML documents them). Plain C with no CUDA dependency: compiled in every build, tested on the
 * CPU.
 */
#include <stdio.h>
#include <string.h>

#include "kernels/cuda/cuda.h"

void owb_cuda_throttle_names(uint64_t mask, char *buf, size_t size)
{
    static const struct {
        uint64_t bit;
        const char *name;
    } bits[] = {
        {0x1ull, "gpu_idle"},    {0x2ull, "app_clocks_setting"}, {0x4ull, "sw_power_cap"},
        {0x8ull, "hw_slowdown"}, {0x10ull, "sync_boost"},        {0x20ull, "sw_thermal"},
        {0x40ull, "hw_thermal"}, {0x80ull, "hw_power_brake"},    {0x100ull, "display_clocks"},
    };
    size_t len = 0;
    if (size == 0)
        return;
    buf[0] = '\0';
    uint64_t rest = mask;
    for (size_t i = 0; i < OWB_ARRAY_LEN(bits); i++) {
        if (!(mask & bits[i].bit))
            continue;
        rest &= ~bits[i].bit;
        int w = snprintf(buf + len, size - len, "%s%s", len ? "," : "", bits[i].name);
        if (w < 0 || (size_t)w >= size - len)
            return;
        len += (size_t)w;
    }
    if (rest) {
        int w = snprintf(buf + len, size - len, "%sother:0x%llx", len ? "," : "",
                         (unsigned long long)rest);
        if (w < 0 || (size_t)w >= size - len)
            return;
        len += (size_t)w;
    }
    if (len == 0)
        snprintf(buf, size, "none");
}
