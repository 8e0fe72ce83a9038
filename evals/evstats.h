/* SPDX-License-Identifier: MIT */
/*
 * evstats.h: the statistics behind the quality evals and the paired gate: normal and binomial
 * distribution functions, the exact McNemar test, Wilson and Newcombe intervals for accuracies
 * and paired accuracy differences, and the moving-block bootstrap over windows (tokens inside a
 * window, and neighbouring windows of running text, are not independent; a window or a run of
 * windows is the resampling unit). Pure functions over caller arrays; thread-safe; the bootstrap
 * is deterministic for a given seed.
 */
#ifndef OWB_EVALS_EVSTATS_H
#define OWB_EVALS_EVSTATS_H

#include <stddef.h>
#include <stdint.h>

#include "datasets/rng.h"
#include "owb_common.h"

/* Standard normal CDF and its inverse (p in (0, 1); relative error < 1e-15 after one Halley
 * step on Acklam's approximation). */
double owb_norm_cdf(double x);
double owb_norm_quantile(double p);

/* P(X <= k) for X ~ Binomial(n, p), summed exactly in log space (n up to ~1e7 is fine). */
double owb_binom_cdf(int64_t k, int64_t n, double p);

/* Two-sided exact McNemar p-value from the discordant counts: b items right only in the first
 * run, c right only in the second. p = min(1, 2 P(X <= min(b, c))), X ~ Binomial(b + c, 1/2); 1
 * when b + c = 0. */
double owb_mcnemar_exact_p(int64_t b, int64_t c);

/* Wilson score interval (no continuity correction) for x successes of n at level 1 - alpha. n = 0
 * gives [0, 1]. */
void owb_wilson(int64_t x, int64_t n, double alpha, double *lo, double *hi);

/* Newcombe's hybrid score interval (1998, method 10) for the difference of paired proportions
 * p1 - p2, p1 = (a + b) / n, p2 = (a + c) / n, from the 2x2 table of paired outcomes: a both
 * right, b first right only, c second right only, d both wrong. Level 1 - alpha. n = 0 gives
 * [-1, 1]. */
void owb_newcombe_paired(int64_t a, int64_t b, int64_t c, int64_t d, double alpha, double *lo,
                         double *hi);

/* Bonett & Price (2012) adjusted Wald interval for the difference of paired proportions
 * p1 - p2 = (b - c) / n, from the discordant counts (b: first right only, c: second right only)
 * and the number of pairs n: with p12 = (b + 1) / (n + 2), p21 = (c + 1) / (n + 2),
 * (p12 - p21) +- z sqrt((p12 + p21 - (p12 - p21)^2) / (n + 2)). Unlike Newcombe's it does not
 * collapse to a point when nothing flips, so a handful of identical items stays uncertain. n = 0
 * gives [-1, 1]. */
void owb_bonett_price_paired(int64_t b, int64_t c, int64_t n, double alpha, double *lo, double *hi);

/* Moving-block bootstrap settings. block 0 chooses owb_boot_block_auto(n). */
struct owb_boot_cfg {
    int reps;      /* replicates, e.g. 2000 */
    int64_t block; /* windows per block */
    uint64_t seed;
    double alpha; /* the interval is [alpha/2, 1 - alpha/2] percentiles */
};

/* Default block length: ceil(n^(1/3)) windows (the n^(1/3) rate of Hall, Horowitz & Jing 1995
 * for variance and distribution estimation), at least 1. */
int64_t owb_boot_block_auto(int64_t n);

/* One replicate: n unit indices made of ceil(n / block) circular blocks, each starting at a
 * uniformly drawn unit, the last block cut so exactly n indices are written to idx. */
void owb_boot_draw(struct owb_rng *r, int64_t n, int64_t block, int64_t *idx);

/* Ratio estimator sum(num) / sum(den) over n units (den NULL: every den is 1, the mean) with a
 * percentile moving-block bootstrap interval and the replicates' standard deviation as the
 * standard error. Writes *est, *lo, *hi, *se (NaN where undefined: n = 0, zero denominators).
 * Returns 0, OWB_E_USAGE (reps < 1) or OWB_E_NOMEM. */
int owb_boot_ratio(const double *num, const double *den, int64_t n, const struct owb_boot_cfg *cfg,
                   double *est, double *lo, double *hi, double *se);

/* Type-7 quantile (numpy default) of v[0..n) by selection; reorders v. n = 0 gives NaN. */
double owb_quantile_select(double *v, int64_t n, double q);

#endif
