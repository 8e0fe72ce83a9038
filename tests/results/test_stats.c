/* SPDX-License-Identifier: MIT */
/*
 * test_stats.c: results/stats.h on hand-computed small cases (mean, sample stddev, type-7
 * quantiles, raw MAD, order-statistic CI ranks from the binomial table), on seeded normal samples
 * (median, stddev, p90, p99, MAD against the normal's known values) and the coverage of the
 * median's 95% CI over many simulated samples of size 30.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "owb_test.h"
#include "results/stats.h"

#define PI 3.14159265358979323846
#define TOL_EXACT 1e-12
#define N_BIG 100000
#define TOL_BIG_CENTER 0.02 /* ~5 standard errors of the median/mean of 1e5 N(0,1) samples */
#define TOL_BIG_SPREAD 0.01
#define TOL_BIG_P90 0.03
#define TOL_BIG_P99 0.06
#define COVER_SIMS 10000
#define COVER_N 30

/* splitmix64: a small seeded generator so the test is reproducible everywhere. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}
static double rng_uniform(void) /* (0, 1) */
{
    return ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0;
}
static double rng_normal(void) /* Box-Muller */
{
    double u1 = rng_uniform(), u2 = rng_uniform();
    return sqrt(-2.0 * log(u1)) * cos(2.0 * PI * u2);
}

static void test_small_exact(void)
{
    const double x[] = {100, 3, 1, 4, 2}; /* unsorted on purpose; sorted {1,2,3,4,100} */
    double copy[5];
    memcpy(copy, x, sizeof x);
    struct owb_stats s;
    CHECK(owb_stats_compute(x, 5, &s) == 0);
    CHECK(memcmp(copy, x, sizeof x) == 0); /* input untouched */
    CHECK(s.n == 5);
    CHECK_NEAR(s.mean, 22.0, TOL_EXACT);
    CHECK_NEAR(s.median, 3.0, TOL_EXACT);
    CHECK_NEAR(s.p50, 3.0, TOL_EXACT);
    CHECK_NEAR(s.min, 1.0, TOL_EXACT);
    CHECK_NEAR(s.max, 100.0, TOL_EXACT);
    /* |x - 3| = {0,1,1,2,97} -> median 1 */
    CHECK_NEAR(s.mad, 1.0, TOL_EXACT);
    /* squares of deviations from 22: 441+400+361+324+6084 = 7610; /(n-1) = 1902.5 */
    CHECK_NEAR(s.stddev, 43.617656975128774, 1e-9);
    /* type 7: h = 4q; p90: 4 + 0.6 * 96 = 61.6; p99: 4 + 0.96 * 96; p99.9: 4 + 0.996 * 96 */
    CHECK_NEAR(s.p90, 61.6, 1e-9);
    CHECK_NEAR(s.p99, 96.16, 1e-9);
    CHECK_NEAR(s.p999, 99.616, 1e-9);
    /* n = 5: no 95% order-statistic interval exists (2/32 > 5%), so [min, max], not exact */
    CHECK(!s.ci_exact);
    CHECK_NEAR(s.ci95_lo, 1.0, TOL_EXACT);
    CHECK_NEAR(s.ci95_hi, 100.0, TOL_EXACT);

    const double e[] = {4, 1, 3, 2};
    CHECK(owb_stats_compute(e, 4, &s) == 0);
    CHECK_NEAR(s.median, 2.5, TOL_EXACT);
    CHECK_NEAR(s.mad, 1.0, TOL_EXACT); /* {1.5,.5,.5,1.5} -> 1 */
    const double sorted[] = {1, 2, 3, 4};
    CHECK_NEAR(owb_quantile_sorted(sorted, 4, 0.25), 1.75, TOL_EXACT);
    CHECK_NEAR(owb_quantile_sorted(sorted, 4, 0.0), 1.0, TOL_EXACT);
    CHECK_NEAR(owb_quantile_sorted(sorted, 4, 1.0), 4.0, TOL_EXACT);
    CHECK(isnan(owb_quantile_sorted(sorted, 0, 0.5)));

    const double one[] = {7.5};
    CHECK(owb_stats_compute(one, 1, &s) == 0);
    CHECK(s.n == 1 && s.median == 7.5 && s.p999 == 7.5 && s.mad == 0.0);
    CHECK(isnan(s.stddev)); /* sample stddev of one value is undefined */
    CHECK(!s.ci_exact && s.ci95_lo == 7.5 && s.ci95_hi == 7.5);

    CHECK(owb_stats_compute(NULL, 0, &s) == 0);
    CHECK(s.n == 0 && isnan(s.mean) && isnan(s.median) && isnan(s.ci95_lo) && !s.ci_exact);
}

/* CI ranks against the binomial table: n = 6 -> (1, 6); n = 30 -> (10, 21); n = 100 -> (40, 61). */
static void test_ci_ranks(void)
{
    static const struct {
        size_t n, lo, hi;
    } t[] = {{6, 1, 6}, {30, 10, 21}, {100, 40, 61}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        double x[100];
        /* values 1..n in a scrambled order so sorting is exercised */
        for (size_t j = 0; j < t[i].n; j++)
            x[j] = (double)((j * 7) % t[i].n + 1);
        struct owb_stats s;
        CHECK(owb_stats_compute(x, t[i].n, &s) == 0);
        CHECK_MSG(s.ci_exact, "n=%zu", t[i].n);
        CHECK_MSG(s.ci95_lo == (double)t[i].lo && s.ci95_hi == (double)t[i].hi,
                  "n=%zu: got [%g, %g], want [%zu, %zu]", t[i].n, s.ci95_lo, s.ci95_hi, t[i].lo,
                  t[i].hi);
    }
}

static void test_normal_big(void)
{
    double *x = malloc(N_BIG * sizeof *x);
    CHECK(x != NULL);
    if (!x)
        return;
    rng_state = 12345;
    for (size_t i = 0; i < N_BIG; i++)
        x[i] = rng_normal();
    struct owb_stats s;
    CHECK(owb_stats_compute(x, N_BIG, &s) == 0);
    CHECK(s.n == N_BIG);
    CHECK_NEAR(s.median, 0.0, TOL_BIG_CENTER);
    CHECK_NEAR(s.mean, 0.0, TOL_BIG_CENTER);
    CHECK_NEAR(s.stddev, 1.0, TOL_BIG_SPREAD);
    CHECK_NEAR(s.mad, 0.6744897501960817, TOL_BIG_SPREAD); /* Phi^-1(0.75) */
    CHECK_NEAR(s.p90, 1.2815515655446004, TOL_BIG_P90);
    CHECK_NEAR(s.p99, 2.3263478740408408, TOL_BIG_P99);
    CHECK(s.p999 > s.p99 && s.p99 > s.p90 && s.p90 > s.p50);
    CHECK(s.ci_exact && s.ci95_lo < 0.0 + TOL_BIG_CENTER && s.ci95_hi > 0.0 - TOL_BIG_CENTER);
    CHECK(s.ci95_hi - s.ci95_lo < 0.05); /* ~ 2 * 1.96 * 1.2533 / sqrt(1e5) = 0.016 */
    free(x);
}

/* Fraction of simulated samples of size 30 whose CI covers the true median 0. The order-statistic
 * interval (10, 21) has exact coverage 1 - 2 P(B <= 9) = 0.9572 for any continuous distribution. */
static void test_ci_coverage(void)
{
    double x[COVER_N];
    int covered = 0;
    rng_state = 777;
    for (int sim = 0; sim < COVER_SIMS; sim++) {
        for (int i = 0; i < COVER_N; i++)
            x[i] = rng_normal();
        struct owb_stats s;
        owb_stats_compute(x, COVER_N, &s);
        covered += s.ci95_lo <= 0.0 && 0.0 <= s.ci95_hi;
    }
    double cov = (double)covered / COVER_SIMS;
    CHECK_MSG(cov > 0.945 && cov < 0.970, "coverage %.4f, expected about 0.957", cov);
}

int main(void)
{
    test_small_exact();
    test_ci_ranks();
    test_normal_big();
    test_ci_coverage();
    TEST_DONE();
}
