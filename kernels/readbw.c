/* SPDX-License-Identifier: MIT */
/*
 * readbw.c: dispatch of the read kernels (kernels/readbw.h) and the portable reference.
 */
#include "kernels/readbw.h"

#include "kernels/cpu/readbw_cpu.h"

static const char *const variant_names[OWB_READ_COUNT] = {"plain", "pf", "streams4"};

const char *owb_read_variant_name(enum owb_read_variant v)
{
    return (unsigned)v < OWB_READ_COUNT ? variant_names[v] : "?";
}

const char *owb_read_variant_path(enum owb_read_variant v, enum owb_isa isa)
{
    if (isa == OWB_ISA_COUNT)
        isa = owb_isa_active();
    if (v == OWB_READ_PLAIN || !owb_isa_supported(isa) || isa == OWB_ISA_REF)
        return "scalar 64-bit loads, 4 accumulators";
    if (v == OWB_READ_PF)
        return isa == OWB_ISA_AVX512 ? "avx512 zmm loads + prefetcht1 4096 B ahead"
                                     : "avx2 ymm loads + prefetcht1 4096 B ahead";
    if (v == OWB_READ_STREAMS4)
        return isa == OWB_ISA_AVX512 ? "avx512 4 streams of zmm loads + prefetcht1 4096 B ahead"
                                     : "avx2 4 streams of ymm loads + prefetcht1 4096 B ahead";
    return "?";
}

uint64_t owb_read_sum_ref(const uint64_t *p, int64_t n)
{
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += p[i];
        s1 += p[i + 1];
        s2 += p[i + 2];
        s3 += p[i + 3];
    }
    for (; i < n; i++)
        s0 += p[i];
    return s0 + s1 + s2 + s3;
}

uint64_t owb_read_sum(enum owb_read_variant v, enum owb_isa isa, const uint64_t *p, int64_t n)
{
    if (isa == OWB_ISA_COUNT)
        isa = owb_isa_active();
    if (v == OWB_READ_PLAIN || isa == OWB_ISA_REF || !owb_isa_supported(isa))
        return owb_read_sum_ref(p, n);
    if (isa == OWB_ISA_AVX512)
        return v == OWB_READ_PF ? owb_read_pf_avx512(p, n) : owb_read_streams4_avx512(p, n);
    return v == OWB_READ_PF ? owb_read_pf_avx2(p, n) : owb_read_streams4_avx2(p, n);
}
