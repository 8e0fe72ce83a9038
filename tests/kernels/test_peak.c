/* SPDX-License-Identifier: MIT */
/*
 * test_peak.c: the compute-ceiling loops (kernels/peak.h) run the work they claim: for every ISA
 * the CPU has, each loop's checksum equals the closed form for iteration counts below, at and
 * across a float chunk, and loops an ISA lacks report no rate and do nothing. Rates are not
 * asserted (benchmarks are not timed tests).
 */
#include <stdio.h>
#include <string.h>

#include "kernels/cpu/peak_cpu.h"
#include "kernels/isa.h"
#include "kernels/peak.h"
#include "tests/owb_test.h"

int main(void)
{
    static const int64_t iters[] = {1, 7, 1000, PEAK_CHUNK, PEAK_CHUNK + 3};
    int ran = 0;
    CHECK(strcmp(owb_peak_name(OWB_PEAK_INT8_DOT), "int8_dot") == 0);
    CHECK(strcmp(owb_peak_name(OWB_PEAK_COUNT), "?") == 0);
    /* float activations are held against the FMA peak, quantized ones against the int8 dot */
    CHECK(owb_peak_kind_for_act(OWB_TYPE_F32) == OWB_PEAK_F32_FMA);
    CHECK(owb_peak_kind_for_act(OWB_TYPE_BF16) == OWB_PEAK_F32_FMA);
    CHECK(owb_peak_kind_for_act(OWB_TYPE_Q8_0) == OWB_PEAK_INT8_DOT);
    CHECK(owb_peak_kind_for_act(OWB_TYPE_Q8_K) == OWB_PEAK_INT8_DOT);
    for (int k = 0; k < OWB_PEAK_COUNT; k++) {
        /* the scalar ISA has no ceiling loops */
        CHECK(owb_peak_ops_per_iter((enum owb_peak_kind)k, OWB_ISA_REF) == 0.0);
        CHECK(owb_peak_insn((enum owb_peak_kind)k, OWB_ISA_REF) == NULL);
        CHECK(owb_peak_run((enum owb_peak_kind)k, OWB_ISA_REF, 10) == 0);
    }
    for (int isa = OWB_ISA_AVX2; isa < OWB_ISA_COUNT; isa++) {
        if (!owb_isa_supported((enum owb_isa)isa)) {
            printf("skip %s: not supported by this CPU\n", owb_isa_name((enum owb_isa)isa));
            continue;
        }
        /* int8 and f32 ceilings exist on every SIMD ISA; q8_block needs AVX-512 VNNI */
        CHECK(owb_peak_ops_per_iter(OWB_PEAK_INT8_DOT, (enum owb_isa)isa) > 0);
        CHECK(owb_peak_ops_per_iter(OWB_PEAK_F32_FMA, (enum owb_isa)isa) > 0);
        CHECK((owb_peak_ops_per_iter(OWB_PEAK_Q8_BLOCK, (enum owb_isa)isa) > 0) ==
              (isa == OWB_ISA_AVX512 && owb_isa_has_vnni()));
        for (int k = 0; k < OWB_PEAK_COUNT; k++) {
            const enum owb_peak_kind kind = (enum owb_peak_kind)k;
            if (owb_peak_ops_per_iter(kind, (enum owb_isa)isa) == 0.0) {
                CHECK(owb_peak_run(kind, (enum owb_isa)isa, 10) == 0);
                continue;
            }
            CHECK(owb_peak_insn(kind, (enum owb_isa)isa) != NULL);
            for (size_t i = 0; i < sizeof iters / sizeof iters[0]; i++) {
                const uint64_t got = owb_peak_run(kind, (enum owb_isa)isa, iters[i]);
                const uint64_t want = owb_peak_expect(kind, (enum owb_isa)isa, iters[i]);
                CHECK_MSG(got == want && want > 0, "%s %s iters %lld: checksum %llu, want %llu",
                          owb_peak_name(kind), owb_isa_name((enum owb_isa)isa), (long long)iters[i],
                          (unsigned long long)got, (unsigned long long)want);
                /* one iteration more changes the result: the loop really counts */
                CHECK(owb_peak_expect(kind, (enum owb_isa)isa, iters[i] + 1) != want);
            }
            ran++;
        }
    }
    if (!ran)
        SKIP("no SIMD ISA (AVX2 or AVX-512) on this CPU: no compute-ceiling loop to check");
    TEST_DONE();
}
