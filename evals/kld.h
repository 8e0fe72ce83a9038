/* SPDX-License-Identifier: MIT */
/*
 * kld.h: a model scored against a base's fingerprint on the fingerprint's exact token ids: per
 * scored position the KL divergence KL(base || model), whether the top tokens agree, |Δp| of the
 * target token, and both negative log-likelihoods, summarised with moving-block bootstrap
 * intervals over windows.
 *
 * KLD is computed over the base's top-k tokens plus one bucket for all other tokens:
 *   KL = sum_{i in top-k} p_i ln(p_i / q_i) + p_rest ln(p_rest / q_rest)
 * with q_rest the model's mass outside the base's top-k. This is the exact divergence of the
 * two distributions coarsened to those k + 1 outcomes, never larger than the full-vocabulary KL
 * and equal to it when the base puts no mass outside its top-k. Both sides use float32 log-probs
 * (the fingerprint's precision), so a model scored against its own fingerprint gives exactly 0.
 * A q below FLT_MIN is raised to FLT_MIN so a masked token gives a large finite term.
 *
 * A model whose tokenizer differs from the base's (SHA-256 of the tokenizer metadata) or whose
 * vocabulary size differs is refused: KLD on the base's ids would hide a broken tokenizer.
 *
 * Ownership: results own their arrays (owb_kld_result_release). One run per producer at a time.
 */
#ifndef OWB_EVALS_KLD_H
#define OWB_EVALS_KLD_H

#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "evals/fingerprint.h"
#include "evals/producer.h"
#include "owb_common.h"

struct owb_kld_cfg {
    int boot_reps;      /* bootstrap replicates (e.g. 1000) */
    int64_t boot_block; /* windows per block; 0: ceil(n^(1/3)) */
    uint64_t seed;
    bool progress;
};

/* A statistic with its 95% interval. */
struct owb_est {
    double v, lo, hi;
};

struct owb_kld_result {
    struct owb_window_plan plan;
    int64_t n;   /* scored positions */
    double *kld; /* (n) per position, window-major */
    /* (n_windows) per-window sums (and maximum) */
    double *w_kld, *w_kld_max, *w_nll, *w_nll_base, *w_top1, *w_absdp, *w_count;
    struct owb_est kld_mean, kld_median, kld_p90, kld_p99, kld_max;
    struct owb_est top1;     /* fraction of positions whose most probable token agrees */
    struct owb_est abs_dp;   /* mean |p_model(target) - p_base(target)| */
    struct owb_est ln_ratio; /* ln(PPL(model) / PPL(base)), bootstrap interval */
    double ln_ratio_se;      /* paired standard error: sd of per-window differences / sqrt(n) */
    double ppl, ppl_base;
    int boot_reps;
    int64_t boot_block;
    uint64_t seed;
    double seconds;
};

/* Refuse a producer that cannot be compared with the fingerprint: different vocabulary size or
 * tokenizer hash (when both are known). Returns 0 or OWB_E_USAGE with err naming both. */
int owb_kld_check_compatible(const struct owb_fingerprint *fp, const struct owb_producer_info *info,
                             char err[OWB_ERR_MAX]);

int owb_kld_run(struct owb_producer *p, const struct owb_fingerprint *fp,
                const struct owb_kld_cfg *cfg, struct owb_kld_result *r, char err[OWB_ERR_MAX]);
void owb_kld_result_release(struct owb_kld_result *r);

/* For other bases (evals/kld_llamacpp.h): allocate r's per-position and per-window arrays for
 * r->plan (zeroed sums; release with owb_kld_result_release), and, once they are filled, compute
 * every summary (bootstrap intervals, quantiles, PPLs). Return 0 or OWB_E_NOMEM (err). */
int owb_kld_result_alloc(struct owb_kld_result *r);
int owb_kld_finish(struct owb_kld_result *r, const struct owb_kld_cfg *cfg, char err[OWB_ERR_MAX]);

/* Append the KLD eval entries to doc's evals[]: the primary "kld_mean" entry (kind "kld",
 * identity, params (adopted), summary, windows {count, kld, kld_max, nll, nll_base, top1, absdp})
 * and one entry per other statistic (kld_median, kld_p90, kld_p99, kld_max, top1_agreement,
 * mean_abs_dp, ln_ppl_ratio, perplexity, perplexity_base). Returns the primary entry, NULL on OOM.
 */
cJSON *owb_kld_to_json(cJSON *doc, const char *name, const struct owb_kld_result *r,
                       cJSON *identity, cJSON *params);

#endif
