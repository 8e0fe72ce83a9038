/* SPDX-License-Identifier: MIT */
/*
 * test_evstats.c: the statistics behind the evals on hand-computed cases and by simulation:
 * exact McNemar p on small tables (binomial sums by hand), the binomial CDF, normal quantiles,
 * Wilson intervals against Newcombe's (1998) published values, Newcombe's paired interval and
 * Bonett-Price's against an independent implementation (values from Python), the moving-block
 * bootstrap's coverage on simulated AR(1) sequences (and the under-coverage of an iid bootstrap
 * there), type-7 quantiles by selection against sorting, seeded subsets, SHA-256 NIST vectors.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/rng.h"
#include "datasets/sha256.h"
#include "evals/evstats.h"
#include "owb_test.h"

#define TOL_EXACT 1e-12
#define TOL_PUBLISHED 5e-5 /* Newcombe's tables give 4 decimals */
#define TOL_PY 1e-9        /* against the Python reference implementation */
#define AR_PHI 0.6
#define AR_N 400
#define AR_SIMS 200
#define AR_REPS 400

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void test_mcnemar(void)
{
    /* p = min(1, 2 P(X <= min(b, c))), X ~ Bin(b + c, 1/2), by hand: */
    CHECK_NEAR(owb_mcnemar_exact_p(1, 9), 2.0 * (1 + 10) / 1024, TOL_EXACT);
    CHECK_NEAR(owb_mcnemar_exact_p(9, 1), 2.0 * (1 + 10) / 1024, TOL_EXACT);
    CHECK_NEAR(owb_mcnemar_exact_p(0, 5), 2.0 / 32, TOL_EXACT);
    CHECK_NEAR(owb_mcnemar_exact_p(2, 10), 2.0 * (1 + 12 + 66) / 4096, TOL_EXACT);
    CHECK_NEAR(owb_mcnemar_exact_p(2, 12), 2.0 * (1 + 14 + 91) / 16384, TOL_EXACT);
    CHECK_NEAR(owb_mcnemar_exact_p(3, 3), 1.0, TOL_EXACT);
    CHECK_NEAR(owb_mcnemar_exact_p(0, 0), 1.0, TOL_EXACT);
    /* A large table: b=450, c=550 is about 3.1 sd from the null. */
    double p = owb_mcnemar_exact_p(450, 550);
    CHECK_MSG(p > 0.0015 && p < 0.0023, "p = %g", p);
}

static void test_distributions(void)
{
    /* P(X <= 2), X ~ Bin(5, 0.3) = 0.16807 + 0.36015 + 0.3087 */
    CHECK_NEAR(owb_binom_cdf(2, 5, 0.3), 0.83692, 1e-12);
    CHECK_NEAR(owb_binom_cdf(5, 5, 0.3), 1.0, 0);
    CHECK_NEAR(owb_binom_cdf(-1, 5, 0.3), 0.0, 0);
    CHECK_NEAR(owb_norm_quantile(0.975), 1.9599639845400536, 1e-13);
    CHECK_NEAR(owb_norm_quantile(0.8), 0.8416212335729144, 1e-13);
    CHECK_NEAR(owb_norm_quantile(1e-10), -6.361340902404056, 1e-9);
    CHECK_NEAR(owb_norm_quantile(0.5), 0.0, 1e-15);
    CHECK_NEAR(owb_norm_cdf(1.9599639845400536), 0.975, 1e-14);
}

static void test_intervals(void)
{
    double lo, hi;
    /* Newcombe (1998), "Two-sided confidence intervals for the single proportion", method 3. */
    owb_wilson(81, 263, 0.05, &lo, &hi);
    CHECK_NEAR(lo, 0.2553, TOL_PUBLISHED);
    CHECK_NEAR(hi, 0.3662, TOL_PUBLISHED);
    owb_wilson(15, 148, 0.05, &lo, &hi);
    CHECK_NEAR(lo, 0.0624, TOL_PUBLISHED);
    CHECK_NEAR(hi, 0.1605, TOL_PUBLISHED);
    owb_wilson(0, 20, 0.05, &lo, &hi);
    CHECK_NEAR(lo, 0.0, 0);
    CHECK_NEAR(hi, 0.1611, TOL_PUBLISHED);
    owb_wilson(1, 29, 0.05, &lo, &hi);
    CHECK_NEAR(lo, 0.0061, TOL_PUBLISHED);
    CHECK_NEAR(hi, 0.1718, TOL_PUBLISHED);
    /* Newcombe's paired method 10 and Bonett-Price, reference values from an independent
     * Python implementation of the published formulas. */
    owb_newcombe_paired(12, 5, 1, 26, 0.05, &lo, &hi);
    CHECK_NEAR(lo, -0.014722047302903121, TOL_PY);
    CHECK_NEAR(hi, 0.19450492781571438, TOL_PY);
    owb_newcombe_paired(30, 12, 3, 55, 0.05, &lo, &hi);
    CHECK_NEAR(lo, 0.016123440320563398, TOL_PY);
    CHECK_NEAR(hi, 0.1622268281505596, TOL_PY);
    owb_bonett_price_paired(12, 2, 100, 0.05, &lo, &hi);
    CHECK_NEAR(lo, 0.023569925209047007, TOL_PY);
    CHECK_NEAR(hi, 0.172508506163502, TOL_PY);
    owb_bonett_price_paired(0, 0, 4, 0.05, &lo, &hi);
    CHECK_NEAR(lo, -0.4619679414498925, TOL_PY);
    CHECK_NEAR(hi, 0.4619679414498925, TOL_PY);
    owb_bonett_price_paired(0, 0, 2000, 0.05, &lo, &hi);
    CHECK_NEAR(hi, 0.0013845193050446329, TOL_PY);
    /* Newcombe collapses to a point with no flips at p = 1/2 (why the gate uses Bonett-Price). */
    owb_newcombe_paired(2, 0, 0, 2, 0.05, &lo, &hi);
    CHECK_NEAR(lo, 0.0, 1e-12);
    CHECK_NEAR(hi, 0.0, 1e-12);
}

/* Coverage of the 95% interval of the mean of AR(1) sequences x_t = phi x_{t-1} + e_t (true
 * mean 0). With phi = 0.6 the variance of the mean is (1+phi)/(1-phi) = 4 times the iid one, so
 * an iid bootstrap (block 1) covers only ~67%; blocks of 20 recover most of the 95%. */
static double ar_coverage(int64_t block, uint64_t seed)
{
    struct owb_rng r;
    double x[AR_N];
    int covered = 0;
    owb_rng_seed(&r, seed);
    for (int s = 0; s < AR_SIMS; s++) {
        double prev = owb_rng_normal(&r) / sqrt(1 - AR_PHI * AR_PHI);
        for (int t = 0; t < AR_N; t++) {
            prev = AR_PHI * prev + owb_rng_normal(&r);
            x[t] = prev;
        }
        struct owb_boot_cfg bc = {AR_REPS, block, (uint64_t)s + 1, 0.05};
        double est, lo, hi, se;
        CHECK(owb_boot_ratio(x, NULL, AR_N, &bc, &est, &lo, &hi, &se) == 0);
        covered += lo <= 0.0 && 0.0 <= hi;
    }
    return (double)covered / AR_SIMS;
}

static void test_block_bootstrap(void)
{
    double cov_block = ar_coverage(20, 7), cov_iid = ar_coverage(1, 7);
    fprintf(stderr, "AR(1) phi=%.1f n=%d: coverage block-20 %.3f, iid %.3f\n", AR_PHI, AR_N,
            cov_block, cov_iid);
    CHECK_MSG(cov_block >= 0.85 && cov_block <= 0.995, "block coverage %.3f", cov_block);
    CHECK_MSG(cov_iid <= 0.80, "iid coverage %.3f should be well below 95%%", cov_iid);
    CHECK_MSG(cov_block > cov_iid + 0.1, "block %.3f vs iid %.3f", cov_block, cov_iid);
    CHECK(owb_boot_block_auto(1000) == 10);
    CHECK(owb_boot_block_auto(762) == 10);
    CHECK(owb_boot_block_auto(1) == 1);

    /* Ratio estimator: equal numerators/denominators give a degenerate interval at the value. */
    double num[20], den[20], est, lo, hi, se;
    for (int i = 0; i < 20; i++) {
        num[i] = 3.0;
        den[i] = 2.0;
    }
    struct owb_boot_cfg bc = {200, 0, 3, 0.05};
    CHECK(owb_boot_ratio(num, den, 20, &bc, &est, &lo, &hi, &se) == 0);
    CHECK_NEAR(est, 1.5, 0);
    CHECK_NEAR(lo, 1.5, 1e-15);
    CHECK_NEAR(hi, 1.5, 1e-15);
    /* Deterministic for a seed. */
    for (int i = 0; i < 20; i++)
        num[i] = i * 0.37 - 2;
    double lo2, hi2;
    CHECK(owb_boot_ratio(num, den, 20, &bc, &est, &lo, &hi, &se) == 0);
    CHECK(owb_boot_ratio(num, den, 20, &bc, &est, &lo2, &hi2, &se) == 0);
    CHECK(lo == lo2 && hi == hi2);
    /* Draws stay in range and are runs of consecutive (circular) units. */
    struct owb_rng r;
    int64_t idx[50];
    owb_rng_seed(&r, 5);
    owb_boot_draw(&r, 50, 7, idx);
    for (int i = 0; i < 50; i++) {
        CHECK(idx[i] >= 0 && idx[i] < 50);
        if (i % 7)
            CHECK(idx[i] == (idx[i - 1] + 1) % 50);
    }
}

static void test_quantiles(void)
{
    struct owb_rng r;
    owb_rng_seed(&r, 11);
    for (int trial = 0; trial < 50; trial++) {
        int n = 1 + (int)owb_rng_below(&r, 300);
        double *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
        for (int i = 0; i < n; i++)
            a[i] = trial % 2 ? (double)owb_rng_below(&r, 4) : owb_rng_normal(&r); /* ties */
        memcpy(b, a, (size_t)n * sizeof *a);
        qsort(b, (size_t)n, sizeof *b, cmp_d);
        const double qs[] = {0, 0.1, 0.5, 0.9, 0.99, 1};
        for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
            double h = (n - 1) * qs[k];
            int i0 = (int)floor(h);
            double want = b[i0] + (i0 + 1 < n ? (h - i0) * (b[i0 + 1] - b[i0]) : 0);
            CHECK_NEAR(owb_quantile_select(a, n, qs[k]), want, 1e-12);
        }
        free(a);
        free(b);
    }
    /* All-equal input (a model against itself) stays fast and exact. */
    static double z[200000];
    CHECK_NEAR(owb_quantile_select(z, 200000, 0.99), 0.0, 0);
}

static void test_rng_sample(void)
{
    struct owb_rng r1, r2;
    size_t a[100], b[100];
    owb_rng_seed(&r1, 42);
    owb_rng_seed(&r2, 42);
    CHECK(owb_rng_sample(&r1, 10042, 100, a) == 0);
    CHECK(owb_rng_sample(&r2, 10042, 100, b) == 0);
    CHECK(!memcmp(a, b, sizeof a));
    int beyond = 0;
    for (int i = 0; i < 100; i++) {
        CHECK(a[i] < 10042);
        if (i)
            CHECK(a[i] > a[i - 1]); /* distinct, increasing */
        beyond += a[i] >= 100;
    }
    CHECK_MSG(beyond > 90, "a random subset is not the first N (%d beyond)", beyond);
}

static void hexcheck(const void *data, size_t n, const char *want)
{
    unsigned char d[32];
    char hex[65];
    owb_sha256(data, n, d);
    owb_sha256_to_hex(d, hex);
    CHECK_MSG(!strcmp(hex, want), "sha256 %s, want %s", hex, want);
    unsigned char back[32];
    CHECK(owb_sha256_from_hex(hex, back) == 0 && !memcmp(back, d, 32));
}

static void test_sha256(void)
{
    hexcheck("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hexcheck("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hexcheck(m, strlen(m), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    static char mil[1000000];
    memset(mil, 'a', sizeof mil);
    hexcheck(mil, sizeof mil, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* Streaming in odd pieces equals one shot. */
    struct owb_sha256 s;
    unsigned char d1[32], d2[32];
    owb_sha256_init(&s);
    for (size_t off = 0, step = 1; off < sizeof mil; off += step, step = step * 3 % 997 + 1)
        owb_sha256_update(&s, mil + off, off + step > sizeof mil ? sizeof mil - off : step);
    owb_sha256_final(&s, d1);
    owb_sha256(mil, sizeof mil, d2);
    CHECK(!memcmp(d1, d2, 32));
    CHECK(owb_sha256_from_hex("xyz", d1) != 0);
}

int main(void)
{
    test_mcnemar();
    test_distributions();
    test_intervals();
    test_block_bootstrap();
    test_quantiles();
    test_rng_sample();
    test_sha256();
    TEST_DONE();
}
