/* SPDX-License-Identifier: MIT */
/*
 * compare.h: A/B comparison of two owbench.result documents, the logic behind `owbench compare`.
 * Benchmarks are matched by name and params (params compared as canonical JSON, key order
 * ignored). For each pair: medians of the raw samples, ratio B/A, a conservative range of the
 * ratio from the two medians' 95% CIs, and the two-sided Mann-Whitney U p-value on the raw
 * samples. Direction comes from the samples' unit: time units (ns, us, ms, s) are
 * lower-is-better; rates (a unit ending in "_per_s" or "/s") are higher-is-better; any other unit
 * is treated as lower-is-better. The verdict is slower/faster only when the relative change of the
 * median, |B - A| / A, exceeds the threshold AND p < alpha AND the 95% CIs of the two medians do
 * not overlap (the conservative ratio range excludes 1); otherwise same. A slower/faster pair in
 * which A's or B's benchmark is not valid (its run flagged it: high spread, migrated threads, ...)
 * is "incomparable" instead: such samples are no evidence of a change. A pair with no usable
 * samples on a side, or units that cannot be converted, is "incomparable" (never a regression).
 *
 * Machine or code: a figure held against a ceiling measured in the same run (results/SCHEMA.md,
 * "Ceilings in compare") is also compared after normalising B to A's machine. The two runs'
 * ceilings are compared on their own samples (as rates, pooled with the re-measurement after the
 * suite); when they differ beyond their spread (Mann-Whitney p < alpha), B's samples are scaled by
 * the ceiling ratio C_B / C_A (times multiplied, rates divided) and judged again. A ceiling
 * explains differences, it never makes one: a raw slower/faster that is not the same verdict
 * against the ceiling is "machine changed" (not a regression); a raw same stays same. Stream cases
 * and the ceilings themselves measure the machine: slower/faster there is "machine changed".
 * Ceilings that differ by more than the threshold are listed in `ceilings` for a warning: the A/B
 * is then about the machine. Params that name the measurement a figure was held against
 * (params.ceiling, params.compute_peak_from) are no part of the matching key.
 *
 * Ownership: owb_compare_docs fills caller-owned struct owb_compare whose arrays it allocates;
 * release them with owb_compare_release. The input documents are only read. Thread-safe for
 * distinct outputs.
 */
#ifndef OWB_RESULTS_COMPARE_H
#define OWB_RESULTS_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <cjson/cJSON.h>

#include "owb_common.h"

#define OWB_COMPARE_THRESHOLD_PCT 5.0 /* default minimum change, percent */
#define OWB_COMPARE_ALPHA 0.05        /* default significance level */

enum owb_verdict {
    OWB_VERDICT_SAME = 0,
    OWB_VERDICT_FASTER,
    OWB_VERDICT_SLOWER,
    OWB_VERDICT_INCOMPARABLE,
    OWB_VERDICT_MACHINE,      /* raw slower/faster, same against its own run's ceiling */
    OWB_VERDICT_INCONCLUSIVE, /* `owbench ab`: neither a change nor sameness shown */
};

/* "same", "faster", "slower", "incomparable", "machine changed", "inconclusive". */
const char *owb_verdict_name(enum owb_verdict v);

struct owb_compare_row {
    char *name;            /* benchmark name (malloc'd) */
    char *params;          /* canonical JSON of params, keys sorted (malloc'd) */
    char unit[32];         /* unit of the numbers below (B's samples are converted to A's unit) */
    bool higher_is_better; /* rate units */
    size_t n_a, n_b;       /* usable (finite) samples */
    double median_a, median_b;
    double ci_a_lo, ci_a_hi, ci_b_lo, ci_b_hi; /* 95% CI of each median (order statistics) */
    double ratio;                              /* median_b / median_a */
    double ratio_lo, ratio_hi; /* ci_b_lo / ci_a_hi .. ci_b_hi / ci_a_lo (conservative) */
    double change_pct;         /* 100 (median_b - median_a) / median_a */
    double u, p;               /* Mann-Whitney U of A and the two-sided p-value; NaN if none */
    bool valid_a, valid_b;     /* the benchmarks' own validity flags */
    enum owb_verdict verdict;
    char why[96]; /* reason for an incomparable verdict, else "" */
    /* The ceiling this figure is held against (index into owb_compare.ceilings, -1 when none);
     * when that ceiling moved, the figures after normalising B by it. */
    int ceiling;
    enum owb_verdict raw_verdict; /* the verdict on the raw samples */
    bool normalised;              /* the ceiling moved and norm_* below are set */
    double norm_median_b, norm_ratio, norm_change_pct, norm_p; /* NaN unless normalised */
    enum owb_verdict norm_verdict;                             /* = raw_verdict unless normalised */
};

/* A ceiling as both runs measured it: medians as rates (bytes/ns = GB/s for stream read, GOP/s for
 * compute peaks), from its own benchmark's samples or, without one, from the figures' recorded
 * metrics (from_metrics; spread from the before/after values when recorded). */
struct owb_compare_ceiling {
    char name[96]; /* e.g. stream/read/t2, kernels/peak/int8_dot/t1 */
    char unit[16]; /* GB/s, GOP/s, or 1/ns when the work per sample is unknown */
    bool from_metrics;
    double a, b;                   /* medians (rates) */
    double a_lo, a_hi, b_lo, b_hi; /* 95% CIs of the medians (or the before/after range) */
    double ratio, change_pct;      /* b / a, 100 (b - a) / a */
    double p;                      /* Mann-Whitney p of the two samples (NaN from metrics) */
    bool moved;                    /* differ beyond their spread: figures normalised */
    bool over_threshold;           /* |change_pct| > threshold_pct: warn */
    size_t n_rows, n_machine;      /* figures held against it; of those, "machine changed" */
};

struct owb_compare_only {
    char *name, *params;
};

struct owb_compare {
    double threshold_pct, alpha;
    struct owb_compare_row *rows; /* in A's order */
    size_t nrows;
    struct owb_compare_only *only_a, *only_b; /* unmatched benchmarks of A / of B */
    size_t n_only_a, n_only_b;
    size_t n_same, n_faster, n_slower, n_incomparable, n_machine;
    struct owb_compare_ceiling *ceilings; /* every ceiling a matched figure is held against */
    size_t nceilings;
};

/* Compare result documents a and b (already validated, e.g. by owb_result_read). threshold_pct
 * >= 0 (percent), alpha in (0, 1). Returns 0, OWB_E_USAGE (bad threshold/alpha), OWB_E_FORMAT
 * (a document without a benchmarks array) or OWB_E_NOMEM, with err set. */
int owb_compare_docs(const cJSON *a, const cJSON *b, double threshold_pct, double alpha,
                     struct owb_compare *out, char err[OWB_ERR_MAX]);

/* Free what owb_compare_docs allocated; safe on a zeroed or released struct. */
void owb_compare_release(struct owb_compare *c);

/* True when at least one matched benchmark is slower. */
bool owb_compare_regressed(const struct owb_compare *c);

/* A machine-readable comparison (documented in results/SCHEMA.md, "owbench.compare/1"); label_a
 * and label_b (e.g. the file names) are recorded as "a" and "b". NULL on allocation failure;
 * caller deletes. Non-finite numbers are null. */
cJSON *owb_compare_to_json(const struct owb_compare *c, const char *label_a, const char *label_b);

/* Print the warnings (ceilings that moved by more than the threshold, figures whose verdict is
 * "machine changed") to f, one "warning: ..." line each; nothing when there are none. */
void owb_compare_print_warnings(const struct owb_compare *c, FILE *f);

/* Print the human table to f (warnings first). */
void owb_compare_print(const struct owb_compare *c, const char *label_a, const char *label_b,
                       FILE *f);

#endif
