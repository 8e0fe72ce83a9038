/* SPDX-License-Identifier: MIT */
/*
 * stats.h: statistics over raw samples, shared by the runner (bench/), compare and the evals.
 * Pure functions over caller-owned arrays; thread-safe; they do not keep pointers.
 *
 * Conventions: quantiles use linear interpolation between order statistics (type 7, as numpy's
 * default); MAD is the raw median absolute deviation (not scaled by 1.4826); the 95% confidence
 * interval of the median is distribution-free from order statistics (binomial, Hollander & Wolfe),
 * the widest it can be for small n (then [min, max], flagged by ci_exact = false). Tests:
 * Mann-Whitney U (two samples), Wilcoxon signed-rank (paired differences), Student's t p-values and
 * critical values.
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

/* Two-sided p-value of Student's t statistic t with df > 0 degrees of freedom,
 * P(|T| >= |t|) = I_{df / (df + t^2)}(df / 2, 1 / 2) (regularized incomplete beta). NaN for a NaN t
 * or df <= 0. */
double owb_t_two_sided_p(double t, double df);

/* The critical value t* > 0 with owb_t_two_sided_p(t*, df) = alpha (e.g. 12.706 for alpha 0.05,
 * df 1; 2.262 for df 9): a confidence interval of a mean is mean +- t* se. NaN for alpha outside
 * (0, 1) or df <= 0. */
double owb_t_critical(double alpha, double df);

/* Two-sided Wilcoxon signed-rank test of d[0..n) against a symmetric distribution around 0 (paired
 * differences, e.g. log ratios). Zero and non-finite differences are dropped; ranks of |d| with
 * mid-ranks for ties. Writes W+ (the rank sum of the positive differences) and the p-value: exact
 * null distribution without ties for up to 60 differences, else the normal approximation with tie
 * and continuity correction; p = 1 when no difference is left. Returns 0 or OWB_E_NOMEM. */
int owb_wilcoxon_signed_rank(const double *d, size_t n, double *w_plus, double *p);

#endif
