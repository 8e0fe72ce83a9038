/* SPDX-License-Identifier: MIT */
/*
 * test_readbw.c: the read-ceiling kernels (kernels/readbw.h) read every word they are given: for
 * every variant and every ISA the CPU has, the sum equals the reference's and a float64-free
 * closed form on odd lengths (below, at and across one vector, one prefetch distance and one
 * stream split), and a changed word anywhere changes the sum. Rates are not asserted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/isa.h"
#include "kernels/readbw.h"
#include "tests/owb_test.h"

int main(void)
{
    static const int64_t lens[] = {0, 1, 3, 7, 8, 31, 32, 33, 255, 257, 511, 1000, 4099, 65537};
    const int64_t nmax = 65536 + 2048; /* room past the end; a whole number of 64-byte lines */
    uint64_t *p = aligned_alloc(64, (size_t)nmax * sizeof *p);
    CHECK(p != NULL);
    if (!p)
        TEST_DONE();
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int64_t i = 0; i < nmax; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = x;
    }
    CHECK(strcmp(owb_read_variant_name(OWB_READ_PF), "pf") == 0);
    CHECK(strcmp(owb_read_variant_name(OWB_READ_COUNT), "?") == 0);
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        const int64_t n = lens[li];
        uint64_t want = 0; /* closed form: the wrapping sum, one word at a time */
        for (int64_t i = 0; i < n; i++)
            want += p[i];
        CHECK(owb_read_sum_ref(p, n) == want);
        for (int isa = 0; isa < OWB_ISA_COUNT; isa++) {
            if (!owb_isa_supported((enum owb_isa)isa))
                continue;
            for (int v = 0; v < OWB_READ_COUNT; v++) {
                uint64_t got = owb_read_sum((enum owb_read_variant)v, (enum owb_isa)isa, p, n);
                CHECK_MSG(got == want, "%s/%s n=%lld", owb_read_variant_name(v),
                          owb_isa_name((enum owb_isa)isa), (long long)n);
                CHECK(owb_read_variant_path((enum owb_read_variant)v, (enum owb_isa)isa) != NULL);
                if (n > 0) { /* every word counts: the last, the first and one in the middle */
                    const int64_t at[3] = {0, n / 2, n - 1};
                    for (int k = 0; k < 3; k++) {
                        p[at[k]] += 1;
                        CHECK_MSG(owb_read_sum((enum owb_read_variant)v, (enum owb_isa)isa, p, n) ==
                                      want + 1,
                                  "%s/%s n=%lld word %lld ignored", owb_read_variant_name(v),
                                  owb_isa_name((enum owb_isa)isa), (long long)n, (long long)at[k]);
                        p[at[k]] -= 1;
                    }
                }
            }
        }
    }
    free(p);
    TEST_DONE();
}
