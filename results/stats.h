/* SPDX-License-Identifier: MIT */
/*
 * stats.h: statistics over raw samples, shared by the runner (bench/), compare and the evals.
 * Pure functions over caller-owned arrays; thread-safe; they do not keep pointers.
 *
 * Conventions: quantiles use linear interpolation between order statistics (type 7, as numpy's
 * default); MAD is the raw median absolute deviation (not scaled by 1.4826); the 95% confidence
 * interval of the median is distribution-free from order statistics (binomial, Hollander & Wolfe),
 * the widest it can be for small n (then [min, max], flagged by ci_exact = false).
 */
#ifndef OWB_RESULTS_STATS_H
#define OWB_RESULTS_STATS_H

#include <stdbool.h>
#include <stddef.h>

struct owb_stats {
    size_t n;
    double mean, median, stddev, mad, min, max;
    double p50, p90, p99, p999;
    double ci95_lo, ci95_hi; /* 95% CI of the median (order statistics) */
    bool ci_exact;           /* false when n is too small for a 95% interval (< 6) */
};

/* Compute statistics of x[0..n). n == 0 gives all NaN and n = 0. Does not modify x. Returns 0, or
 * OWB_E_NOMEM. */
int owb_stats_compute(const double *x, size_t n, struct owb_stats *out);

/* Quantile q in [0,1] of already sorted data (type 7). */
double owb_quantile_sorted(const double *sorted, size_t n, double q);

/* Two-sided Mann-Whitney U test of a vs b (normal approximation with tie and continuity
 * correction; exact for n_a, n_b <= 20 without ties). Writes U of a and the p-value. Returns 0,
 * or OWB_E_USAGE when a side is empty, OWB_E_NOMEM. */
int owb_mann_whitney(const double *a, size_t na, const double *b, size_t nb, double *u, double *p);

#endif
