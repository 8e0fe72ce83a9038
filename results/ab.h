/* SPDX-License-Identifier: MIT */
/*
 * ab.h: the paired-rounds analysis behind `owbench ab`. Two commands ran alternately in rounds
 * (A then B, B then A, ...); each round gives one result document per side. Every round's pair is
 * matched like `compare` (owb_compare_docs: name + canonical params, B's time samples converted
 * to A's unit) and gives, per benchmark, the ratio of medians B/A of that round. Across rounds the
 * log ratios l_1..l_n are the paired differences; drift of the machine that is slow compared with
 * one round cancels in each ratio.
 *
 * Verdict of a benchmark from its n rounds (threshold T percent, level alpha):
 * - the geometric mean ratio G = exp(mean l) with the Student-t 1 - alpha interval
 *   exp(mean l +- t*(alpha, n - 1) sd(l) / sqrt(n)) and its two-sided p-value;
 * - p adjusted with Holm's step-down method over every benchmark that has one, so the chance of
 *   any false "slower" in an A/A run stays at alpha however many benchmarks it has;
 * - "slower"/"faster" when the adjusted p < alpha and |G - 1| > T% (direction from the unit, as in
 *   compare);
 * - "same" when the interval lies within [1 - T%, 1 + T%] (equivalence shown), or adjusted
 *   p < alpha with |G - 1| <= T% (a real change below the threshold);
 * - "inconclusive" otherwise, and with fewer than 2 rounds;
 * - "incomparable" when a round could not form the ratio (units, no samples, zero median).
 * The Wilcoxon signed-rank p of the log ratios and the number of rounds in which B was worse are
 * reported beside it (a robustness check; with fewer than 6 rounds the signed-rank test cannot
 * reach p < 0.05).
 *
 * Ownership: owb_ab_init allocates what owb_ab_release frees; documents passed in are only read.
 * Not thread-safe per struct owb_ab.
 */
#ifndef OWB_RESULTS_AB_H
#define OWB_RESULTS_AB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <cjson/cJSON.h>

#include "owb_common.h"
#include "results/compare.h"

#define OWB_AB_ROUNDS 6 /* default rounds of `owbench ab` */

struct owb_ab_row {
    char *name, *params;         /* as in compare (malloc'd) */
    char unit[32];               /* A's unit of the medians below */
    bool higher_is_better;       /* rate units */
    double *ratio;               /* [rounds]: median_b / median_a of the round, NaN when absent */
    double *median_a, *median_b; /* [rounds] */
    bool *valid_a, *valid_b;     /* [rounds]: the benchmarks' validity flags */
    size_t n;                    /* rounds with a finite positive ratio */
    double ratio_gm, ratio_lo, ratio_hi; /* geometric mean ratio and its 1 - alpha interval */
    double change_pct;                   /* 100 (ratio_gm - 1) */
    double p, p_wilcoxon;                /* t-test and signed-rank p of the log ratios */
    double p_adj;                        /* p after Holm's correction over the rows */
    size_t n_worse;                      /* rounds in which B was worse than A */
    enum owb_verdict verdict;
    char why[160];      /* reason for inconclusive/incomparable, else "" */
    char round_why[96]; /* the first round that could not form the ratio, else "" */
};

struct owb_ab {
    double threshold_pct, alpha;
    const char *only;   /* NULL, or comma-separated parts of names: only those benchmarks (and only
                         * they count in Holm's correction); set after owb_ab_init, not owned */
    size_t rounds;      /* capacity, as given to owb_ab_init */
    size_t rounds_done; /* rounds added */
    struct owb_ab_row *rows;
    size_t nrows, cap;
    size_t n_same, n_faster, n_slower, n_inconclusive, n_incomparable;
};

/* Prepare for `rounds` >= 1 rounds. threshold_pct >= 0, alpha in (0, 1). Returns 0, OWB_E_USAGE
 * (bad numbers, err says which) or OWB_E_NOMEM. */
int owb_ab_init(struct owb_ab *ab, size_t rounds, double threshold_pct, double alpha,
                char err[OWB_ERR_MAX]);

/* Add the next round: A's and B's result documents (validated). Benchmarks not seen before get a
 * row (absent in earlier rounds); unmatched ones, and with `only` set those whose name contains
 * none of its parts, are ignored. Returns 0, OWB_E_USAGE when all
 * rounds were added, OWB_E_FORMAT (a document without benchmarks) or OWB_E_NOMEM. */
int owb_ab_add_round(struct owb_ab *ab, const cJSON *a, const cJSON *b, char err[OWB_ERR_MAX]);

/* Compute every row's statistics and verdict from the rounds added so far (may be called after
 * each round for progress). Returns 0 or OWB_E_NOMEM. */
int owb_ab_finish(struct owb_ab *ab);

/* True when a row is "slower". */
bool owb_ab_regressed(const struct owb_ab *ab);

/* Append the analysis to a result document: one benchmark per row named "ab/<name>", suite "ab",
 * the row's params, samples {unit "ratio", values: the per-round ratios}, metrics {ratio_geomean,
 * ratio_lo, ratio_hi, change_pct, p_value, p_holm, p_wilcoxon, rounds, rounds_worse, median_a,
 * median_b} and an "ab" member {verdict, unit, better, why, medians_a[], medians_b[]}; and a
 * top-level "ab" object {threshold_pct, alpha, rounds, summary, regressed} that the caller may
 * extend (commands, order, files). Documented in results/SCHEMA.md. Returns 0 or OWB_E_NOMEM. */
int owb_ab_to_doc(const struct owb_ab *ab, cJSON *doc);

/* Print the table (one row per benchmark: rounds, medians, G, interval, p, worse rounds, verdict)
 * and the summary line to f. */
void owb_ab_print(const struct owb_ab *ab, FILE *f);

/* Free what owb_ab_init and the rounds allocated; safe on a zeroed or released struct. */
void owb_ab_release(struct owb_ab *ab);

#endif
