/* SPDX-License-Identifier: MIT */
/*
 * isa.h: which instruction-set variant of the CPU kernels runs. owb_isa_detect() asks CPUID what
 * the machine supports; owb_isa_active() is the ISA every dispatching kernel (matmul, row ops)
 * uses, decided once per process: the environment variable OWB_ISA=ref|avx2|avx512 forces one
 * (falling back to the best supported one, with a single warning on stderr, when the CPU lacks
 * it), otherwise the best detected. owb_isa_set() overrides it later (tests, the kernels bench).
 * All functions are thread-safe; nothing here allocates.
 */
#ifndef OWB_KERNELS_ISA_H
#define OWB_KERNELS_ISA_H

#include <stdbool.h>

enum owb_isa {
    OWB_ISA_REF = 0,    /* portable scalar C, the `_ref` functions: defines correctness */
    OWB_ISA_AVX2 = 1,   /* AVX2 + FMA + F16C */
    OWB_ISA_AVX512 = 2, /* AVX-512 F/BW/VL/DQ (VNNI used when present) */
    OWB_ISA_COUNT = 3,
};

/* Best ISA this CPU supports. The AVX-512 path needs avx512f+bw+vl+dq; AVX2 needs avx2+fma+f16c. */
enum owb_isa owb_isa_detect(void);

/* True when the CPU (and this build) can run `isa`; OWB_ISA_REF is always supported. */
bool owb_isa_supported(enum owb_isa isa);

/* True when the CPU has AVX-512 VNNI (vpdpbusd); the avx512 integer kernels use it if so and
 * report it in their path name. */
bool owb_isa_has_vnni(void);

/* True when the CPU has AVX-512 VBMI (vpermb, vpermt2b); some avx512 kernels use it. */
bool owb_isa_has_vbmi(void);

/* True when the CPU has AVX512_BF16 (vdpbf16ps); the avx512 bf16 matmul kernels use it and report
 * it in their path name ("avx512-bf16 ..."). */
bool owb_isa_has_avx512bf16(void);

/* The ISA kernels dispatch to. The first call decides (OWB_ISA in the environment, else the best
 * detected) and warns once on stderr if the forced ISA is unknown or unsupported. */
enum owb_isa owb_isa_active(void);

/* Make `isa` the active ISA for the whole process. Returns 0, or OWB_E_UNSUPPORTED (negative)
 * when the CPU lacks it (the active ISA is then unchanged), OWB_E_USAGE for an invalid value. */
int owb_isa_set(enum owb_isa isa);

/* "ref", "avx2", "avx512"; "?" for an invalid value. Static strings. */
const char *owb_isa_name(enum owb_isa isa);

/* Parse "ref", "avx2" or "avx512" (also "best": the detected one) into *isa. Returns 0, or
 * OWB_E_USAGE for an unknown name (*isa untouched). */
int owb_isa_from_name(const char *name, enum owb_isa *isa);

#endif
