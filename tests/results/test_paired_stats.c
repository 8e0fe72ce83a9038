/* SPDX-License-Identifier: MIT */
/*
 * test_paired_stats.c: the tests behind `owbench ab` (results/stats.h): Student's t two-sided
 * p-values against the closed forms for 1 and 2 degrees of freedom, critical values against the
 * printed table (12.706, 4.303, 2.571, 2.262, 2.042, 1.962) and p(t*) = alpha; Wilcoxon
 * signed-rank exact p-values against a hand count and a brute-force enumeration of every sign
 * assignment, zeros dropped, and the tie case (normal approximation) against a hand computation.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "owb_common.h"
#include "owb_test.h"
#include "results/stats.h"

#define PI 3.14159265358979323846
#define TOL_P 1e-9
#define TOL_T 5e-4 /* the table's 3 decimals */

/* Brute force two-sided p of W+ over every sign assignment of ranks 1..n (no ties). */
static double brute_wsr_p(size_t n, double w)
{
    double below = 0, above = 0, total = 0;
    for (uint32_t mask = 0; mask < (1u << n); mask++) {
        double s = 0;
        for (size_t k = 0; k < n; k++)
            if (mask & (1u << k))
                s += (double)(k + 1);
        total += 1;
        below += s <= w;
        above += s >= w;
    }
    return fmin(1.0, 2.0 * fmin(below, above) / total);
}

int main(void)
{
    /* t: closed forms for df 1 (Cauchy) and 2. */
    for (double t = 0.0; t < 30.0; t += 0.37) {
        CHECK_NEAR(owb_t_two_sided_p(t, 1.0), 1.0 - 2.0 / PI * atan(t), TOL_P);
        CHECK_NEAR(owb_t_two_sided_p(-t, 2.0), 1.0 - t / sqrt(2.0 + t * t), TOL_P);
    }
    CHECK_NEAR(owb_t_two_sided_p(0.0, 7.0), 1.0, TOL_P);
    static const struct {
        double df, t;
    } table[] = {{1, 12.706}, {2, 4.303}, {5, 2.571}, {9, 2.262}, {30, 2.042}, {1000, 1.962}};
    for (size_t i = 0; i < OWB_ARRAY_LEN(table); i++) {
        double tc = owb_t_critical(0.05, table[i].df);
        CHECK_MSG(fabs(tc - table[i].t) < TOL_T, "df %g: t* %.5f, table %.3f", table[i].df, tc,
                  table[i].t);
        CHECK_NEAR(owb_t_two_sided_p(tc, table[i].df), 0.05, 1e-9);
    }
    CHECK(isnan(owb_t_critical(0.0, 3.0)) && isnan(owb_t_critical(0.05, 0.0)));
    CHECK(isnan(owb_t_two_sided_p((double)NAN, 3.0)));

    /* Wilcoxon: all six positive -> W+ = 21, p = 2 / 64. */
    double w, p;
    const double six[] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6};
    CHECK(owb_wilcoxon_signed_rank(six, 6, &w, &p) == 0);
    CHECK_NEAR(w, 21.0, 0);
    CHECK_NEAR(p, 2.0 / 64.0, TOL_P);
    /* By hand: |d| ranks 1- 2+ 3- 4+ 5+ 6+ 7+ 8+, W+ = 32, W- = 4; 7 of 256 subsets of 1..8 sum
     * to <= 4, so p = 14 / 256. */
    const double eight[] = {0.1, 0.2, -0.05, 0.3, 0.4, 0.15, 0.25, -0.12};
    CHECK(owb_wilcoxon_signed_rank(eight, 8, &w, &p) == 0);
    CHECK_NEAR(w, 32.0, 0);
    CHECK_NEAR(p, 14.0 / 256.0, TOL_P);
    /* Zeros and NaN are dropped: same as the six above. */
    const double six_z[] = {0.1, 0.0, 0.2, 0.3, (double)NAN, 0.4, 0.5, 0.6};
    CHECK(owb_wilcoxon_signed_rank(six_z, 8, &w, &p) == 0);
    CHECK_NEAR(p, 2.0 / 64.0, TOL_P);
    /* Brute force on pseudo-random signs and magnitudes, n = 3..14. */
    uint64_t s = 7;
    for (size_t n = 3; n <= 14; n++) {
        double d[14];
        for (size_t i = 0; i < n; i++) {
            s = s * 6364136223846793005u + 1442695040888963407u;
            d[i] = ((double)(i + 1) + 0.01 * (double)(s >> 60)) * ((s >> 33) & 1 ? 1 : -1);
        }
        CHECK(owb_wilcoxon_signed_rank(d, n, &w, &p) == 0);
        CHECK_MSG(fabs(p - brute_wsr_p(n, w)) < TOL_P, "n %zu: p %g vs brute %g", n, p,
                  brute_wsr_p(n, w));
    }
    /* Ties -> normal approximation: d = 1, 1, 1, -1, 2: ranks 2.5 x4 (tied |1|), 5; W+ = 12.5,
     * mean 7.5, var 5*6*11/24 - (64 - 4)/48 = 13.75 - 1.25 = 12.5, z = (5 - 0.5)/sqrt(12.5). */
    const double tied[] = {1, 1, 1, -1, 2};
    CHECK(owb_wilcoxon_signed_rank(tied, 5, &w, &p) == 0);
    CHECK_NEAR(w, 12.5, 0);
    CHECK_NEAR(p, erfc(4.5 / sqrt(12.5) / sqrt(2.0)), TOL_P);
    /* Nothing left: p = 1. */
    const double zeros[] = {0, 0, 0};
    CHECK(owb_wilcoxon_signed_rank(zeros, 3, &w, &p) == 0);
    CHECK(p == 1.0 && w == 0.0);
    TEST_DONE();
}
