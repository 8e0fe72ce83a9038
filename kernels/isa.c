/* SPDX-License-Identifier: MIT */
/*
 * isa.c: CPUID-based ISA detection and the process-wide active ISA (kernels/isa.h). The active ISA
 * is an atomic int initialised once through pthread_once from OWB_ISA or the detected best.
 */
#include "kernels/isa.h"

#include <pthread.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "owb_common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

static const char *const isa_names[OWB_ISA_COUNT] = {"ref", "avx2", "avx512"};

static pthread_once_t isa_once = PTHREAD_ONCE_INIT;
static atomic_int isa_current = OWB_ISA_REF;

#if defined(__x86_64__) || defined(__i386__)
/* The CPUID feature bits the kernels need, read directly (cpuid.h, the same in GCC and clang)
 * rather than through __builtin_cpu_supports, whose accepted names differ between compilers
 * (clang 14 rejects "f16c"). A vector ISA also needs the OS to save its registers: XCR0 bits 1-2
 * (SSE, AVX state) and 5-7 (AVX-512 opmask and upper registers), read with xgetbv when OSXSAVE
 * is set. */
struct isa_bits {
    bool avx2, avx512, vnni, vbmi, bf16;
};

static uint64_t read_xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static struct isa_bits isa_bits_found;
static pthread_once_t isa_bits_once = PTHREAD_ONCE_INIT;

static void isa_bits_read(void)
{
    struct isa_bits *out = &isa_bits_found;
    struct isa_bits b = {false, false, false, false, false};
    unsigned a, bx, c, d;
    *out = b;
    if (!__get_cpuid(1, &a, &bx, &c, &d))
        return;
    bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28),
         f16c = c & (1u << 29);
    if (!osxsave || !avx)
        return;
    uint64_t xcr0 = read_xcr0();
    if ((xcr0 & 0x6u) != 0x6u || __get_cpuid_max(0, NULL) < 7)
        return;
    __cpuid_count(7, 0, a, bx, c, d);
    b.avx2 = fma && f16c && (bx & (1u << 5));
    bool os512 = (xcr0 & 0xE6u) == 0xE6u;
    b.avx512 = b.avx2 && os512 && (bx & (1u << 16)) && (bx & (1u << 17)) && (bx & (1u << 30)) &&
               (bx & (1u << 31));
    b.vnni = b.avx512 && (c & (1u << 11));
    b.vbmi = b.avx512 && (c & (1u << 1));
    /* AVX512_BF16: leaf 7 sub-leaf 1, EAX bit 5 (sub-leaf 0's EAX is the highest sub-leaf) */
    if (b.avx512 && a >= 1) {
        unsigned a1, b1, c1, d1;
        __cpuid_count(7, 1, a1, b1, c1, d1);
        b.bf16 = a1 & (1u << 5);
    }
    *out = b;
}

/* CPUID traps to the hypervisor in a VM: read once. */
static struct isa_bits isa_bits(void)
{
    pthread_once(&isa_bits_once, isa_bits_read);
    return isa_bits_found;
}
#endif

bool owb_isa_supported(enum owb_isa isa)
{
    switch (isa) {
    case OWB_ISA_REF:
        return true;
#if defined(__x86_64__) || defined(__i386__)
    case OWB_ISA_AVX2:
        return isa_bits().avx2;
    case OWB_ISA_AVX512:
        return isa_bits().avx512;
#endif
    default:
        return false;
    }
}

bool owb_isa_has_vnni(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return isa_bits().vnni;
#else
    return false;
#endif
}

bool owb_isa_has_vbmi(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return isa_bits().vbmi;
#else
    return false;
#endif
}

bool owb_isa_has_avx512bf16(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return isa_bits().bf16;
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
