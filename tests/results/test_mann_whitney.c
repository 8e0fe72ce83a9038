/* SPDX-License-Identifier: MIT */
/*
 * test_mann_whitney.c: owb_mann_whitney on known cases: identical samples (p = 1), clearly shifted
 * samples (tiny p), the tabulated two-sided 5% critical value for n1 = n2 = 8 (U = 13), exact
 * p-values cross-checked against a brute-force enumeration of every split written here, a
 * hand-computed tie case for the normal approximation, and the empty-side error.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "owb_common.h"
#include "owb_test.h"
#include "results/stats.h"

#define PI 3.14159265358979323846
#define TOL_P 1e-9

static uint64_t rng_state = 42;
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}
static double rng_uniform(void)
{
    return ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0;
}
static double rng_normal(void)
{
    return sqrt(-2.0 * log(rng_uniform())) * cos(2.0 * PI * rng_uniform());
}

/* Brute force: U of the split given by bitmask (bits set = sample A) over ranks 0..n-1. */
static int split_u(unsigned mask, int n)
{
    int u = 0;
    for (int i = 0; i < n; i++)
        if (mask & (1u << i))
            for (int j = 0; j < i; j++)
                if (!(mask & (1u << j)))
                    u++;
    return u;
}

/* Exact two-sided p of U for sizes na, nb by enumerating every subset (no ties). */
static double brute_p(int na, int nb, int u)
{
    int n = na + nb;
    double le = 0, ge = 0, tot = 0;
    for (unsigned m = 0; m < (1u << n); m++) {
        int bits = 0;
        for (unsigned q = m; q; q &= q - 1)
            bits++;
        if (bits != na)
            continue;
        int v = split_u(m, n);
        tot++;
        le += v <= u;
        ge += v >= u;
    }
    double p = 2.0 * fmin(le, ge) / tot;
    return p > 1.0 ? 1.0 : p;
}

int main(void)
{
    double u, p;

    /* Identical samples: U at its mean, p = 1. */
    double same[30];
    for (int i = 0; i < 30; i++)
        same[i] = (double)(i % 10);
    CHECK(owb_mann_whitney(same, 30, same, 30, &u, &p) == 0);
    CHECK_NEAR(u, 450.0, TOL_P);
    CHECK_MSG(p > 0.99, "p = %g", p);

    /* Completely separated 3 vs 3: U = 0, exact two-sided p = 2 / C(6,3) = 0.1. */
    const double a3[] = {1, 2, 3}, b3[] = {4, 5, 6};
    CHECK(owb_mann_whitney(a3, 3, b3, 3, &u, &p) == 0);
    CHECK_NEAR(u, 0.0, TOL_P);
    CHECK_NEAR(p, 0.1, TOL_P);
    CHECK(owb_mann_whitney(b3, 3, a3, 3, &u, &p) == 0);
    CHECK_NEAR(u, 9.0, TOL_P);
    CHECK_NEAR(p, 0.1, TOL_P);

    /* Tabulated critical value, n1 = n2 = 8, two-sided alpha 0.05: U <= 13 is significant.
     * b = 10..80; a's last three values beat 4, 4, 5 (U = 13) or 4, 4, 6 (U = 14) of them. */
    const double b8[] = {10, 20, 30, 40, 50, 60, 70, 80};
    const double a13[] = {1, 2, 3, 4, 5, 45, 46, 55};
    const double a14[] = {1, 2, 3, 4, 5, 45, 46, 65};
    CHECK(owb_mann_whitney(a13, 8, b8, 8, &u, &p) == 0);
    CHECK_NEAR(u, 13.0, TOL_P);
    CHECK_MSG(p <= 0.05, "U=13: p = %g", p);
    CHECK_NEAR(p, 642.0 / 12870.0, TOL_P); /* 2 * 321 orderings with U <= 13 of C(16, 8) */
    CHECK(owb_mann_whitney(a14, 8, b8, 8, &u, &p) == 0);
    CHECK_NEAR(u, 14.0, TOL_P);
    CHECK_MSG(p > 0.05, "U=14: p = %g", p);

    /* Random small untied cases against the brute-force enumeration. */
    for (int t = 0; t < 40; t++) {
        int na = 1 + (int)(rng_next() % 7), nb = 1 + (int)(rng_next() % 7);
        double a[8], b[8];
        for (int i = 0; i < na; i++)
            a[i] = rng_uniform();
        for (int i = 0; i < nb; i++)
            b[i] = rng_uniform() + 0.2;
        CHECK(owb_mann_whitney(a, (size_t)na, b, (size_t)nb, &u, &p) == 0);
        int ub = 0;
        for (int i = 0; i < na; i++)
            for (int j = 0; j < nb; j++)
                ub += a[i] > b[j];
        CHECK_NEAR(u, (double)ub, TOL_P);
        CHECK_NEAR(p, brute_p(na, nb, ub), 1e-12);
    }

    /* Ties -> normal approximation with tie and continuity correction, hand-computed:
     * a = {1,2,2,3,3,3,4}, b = {3,4,4,5,5,6}: mid-ranks give R_a = 31.5, U = 3.5, mean 21,
     * var = 42/12 * (14 - 102/156), z = (17.5 - 0.5) / sqrt(var), p = erfc(z / sqrt 2). */
    const double at[] = {1, 2, 2, 3, 3, 3, 4}, bt[] = {3, 4, 4, 5, 5, 6};
    CHECK(owb_mann_whitney(at, 7, bt, 6, &u, &p) == 0);
    CHECK_NEAR(u, 3.5, TOL_P);
    CHECK_NEAR(p, 0.012999854364387314, 1e-9);

    /* Clearly shifted large samples (normal approximation): p tiny; unshifted: p not tiny. */
    double x[200], y[200];
    for (int i = 0; i < 200; i++) {
        x[i] = rng_normal();
        y[i] = rng_normal() + 3.0;
    }
    CHECK(owb_mann_whitney(x, 200, y, 200, &u, &p) == 0);
    CHECK_MSG(p < 1e-20, "shifted: p = %g", p);
    for (int i = 0; i < 200; i++)
        y[i] = rng_normal();
    CHECK(owb_mann_whitney(x, 200, y, 200, &u, &p) == 0);
    CHECK_MSG(p > 0.001, "same distribution: p = %g (seeded; should not be tiny)", p);

    /* All values tied: no evidence. */
    const double c1[] = {5, 5, 5}, c2[] = {5, 5, 5, 5};
    CHECK(owb_mann_whitney(c1, 3, c2, 4, &u, &p) == 0);
    CHECK_NEAR(p, 1.0, TOL_P);

    CHECK(owb_mann_whitney(a3, 0, b3, 3, &u, &p) == OWB_E_USAGE);
    CHECK(owb_mann_whitney(a3, 3, b3, 0, &u, &p) == OWB_E_USAGE);
    TEST_DONE();
}
