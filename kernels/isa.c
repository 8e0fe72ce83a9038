/* SPDX-License-Identifier: MIT */
/*
 * isa.c: CPUID-based ISA detection and the process-wide active ISA (kernels/isa.h). The active ISA
 * is an atomic int initialised once through pthread_once from OWB_ISA or the detected best.
 */
#include "kernels/isa.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "owb_common.h"

static const char *const isa_names[OWB_ISA_COUNT] = {"ref", "avx2", "avx512"};

static pthread_once_t isa_once = PTHREAD_ONCE_INIT;
static atomic_int isa_current = OWB_ISA_REF;

bool owb_isa_supported(enum owb_isa isa)
{
    switch (isa) {
    case OWB_ISA_REF:
        return true;
#if defined(__x86_64__) || defined(__i386__)
    case OWB_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("f16c");
    case OWB_ISA_AVX512:
        __builtin_cpu_init();
        return owb_isa_supported(OWB_ISA_AVX2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512dq");
#endif
    default:
        return false;
    }
}

bool owb_isa_has_vnni(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return owb_isa_supported(OWB_ISA_AVX512) && __builtin_cpu_supports("avx512vnni");
#else
    return false;
#endif
}

bool owb_isa_has_vbmi(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return owb_isa_supported(OWB_ISA_AVX512) && __builtin_cpu_supports("avx512vbmi");
#else
    return false;
#endif
}

enum owb_isa owb_isa_detect(void)
{
    if (owb_isa_supported(OWB_ISA_AVX512))
        return OWB_ISA_AVX512;
    if (owb_isa_supported(OWB_ISA_AVX2))
        return OWB_ISA_AVX2;
    return OWB_ISA_REF;
}

static void isa_init(void)
{
    enum owb_isa best = owb_isa_detect();
    enum owb_isa want = best;
    const char *env = getenv("OWB_ISA");
    if (env && *env) {
        if (owb_isa_from_name(env, &want) != 0) {
            fprintf(stderr, "owbench: OWB_ISA=%s is not one of ref, avx2, avx512; using %s\n", env,
                    isa_names[best]);
            want = best;
        } else if (!owb_isa_supported(want)) {
            fprintf(stderr, "owbench: OWB_ISA=%s is not supported by this CPU; using %s\n", env,
                    isa_names[best]);
            want = best;
        }
    }
    atomic_store(&isa_current, (int)want);
}

enum owb_isa owb_isa_active(void)
{
    pthread_once(&isa_once, isa_init);
    return (enum owb_isa)atomic_load(&isa_current);
}

int owb_isa_set(enum owb_isa isa)
{
    if ((int)isa < 0 || isa >= OWB_ISA_COUNT)
        return OWB_E_USAGE;
    pthread_once(&isa_once, isa_init);
    if (!owb_isa_supported(isa))
        return OWB_E_UNSUPPORTED;
    atomic_store(&isa_current, (int)isa);
    return OWB_OK;
}

const char *owb_isa_name(enum owb_isa isa)
{
    if ((int)isa < 0 || isa >= OWB_ISA_COUNT)
        return "?";
    return isa_names[isa];
}

int owb_isa_from_name(const char *name, enum owb_isa *isa)
{
    if (!name)
        return OWB_E_USAGE;
    if (strcmp(name, "best") == 0) {
        *isa = owb_isa_detect();
        return OWB_OK;
    }
    for (int i = 0; i < OWB_ISA_COUNT; i++) {
        if (strcmp(name, isa_names[i]) == 0) {
            *isa = (enum owb_isa)i;
            return OWB_OK;
        }
    }
    return OWB_E_USAGE;
}
