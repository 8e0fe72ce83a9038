/* SPDX-License-Identifier: MIT */
/*
 * mceval.h: multiple choice by log-likelihood of each ending (the lm-eval harness method). For an
 * item with context C and ending E the producer scores the tokens of C + " " + E that come after
 * the tokens of C (BOS first when the tokenizer adds one; where tokenizing the joined text merges
 * across the boundary, scoring starts at the first token that differs from C's own tokens).
 *   acc:      the ending with the largest sum of log-probs is chosen;
 *   acc_norm: the largest sum divided by the ending's length in UTF-8 bytes (without the joining
 *             space) is chosen -- lm-eval's acc_norm convention (it divides by the character
 *             count, which equals the byte count for ASCII text).
 * Ties go to the lowest ending index. Intervals are Wilson 95%. Sequences longer than the
 * producer's context lose tokens from the left of the context (counted in n_truncated).
 *
 * Ownership: results own their arrays (owb_mc_result_release). One run per producer at a time.
 */
#ifndef OWB_EVALS_MCEVAL_H
#define OWB_EVALS_MCEVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "datasets/mc.h"
#include "evals/producer.h"
#include "owb_common.h"

struct owb_mc_cfg {
    size_t limit;  /* items to evaluate (0: all); a seeded random subset when fewer than all */
    uint64_t seed; /* subset seed */
    bool progress;
};

struct owb_mc_score {
    size_t item; /* index into the task's items */
    int n_endings;
    double *ll;        /* (n_endings) sum of ln p over the ending's tokens */
    int64_t *n_tokens; /* (n_endings) tokens scored */
    size_t *n_bytes;   /* (n_endings) ending length in bytes */
    int pred, pred_norm;
    bool truncated;
};

struct owb_mc_result {
    size_t n;
    struct owb_mc_score *s; /* (n) in file order */
    int64_t correct, correct_norm, n_truncated;
    double acc, acc_lo, acc_hi, acc_norm, acc_norm_lo, acc_norm_hi;
    unsigned char items_sha256[32]; /* of the selected item ids, '\n'-joined */
    size_t limit;
    uint64_t seed;
    double seconds;
};

int owb_mc_run(struct owb_producer *p, const struct owb_mc_task *t, const struct owb_mc_cfg *cfg,
               struct owb_mc_result *r, char err[OWB_ERR_MAX]);
void owb_mc_result_release(struct owb_mc_result *r);

/* Write the per-item JSON lines (one object per evaluated item: id, index, gold, ll[],
 * n_tokens[], n_bytes[], pred, pred_norm, correct, correct_norm, truncated) to path atomically.
 * Returns 0 or OWB_E_IO / OWB_E_NOMEM with err. */
int owb_mc_write_items(const struct owb_mc_task *t, const struct owb_mc_result *r, const char *path,
                       char err[OWB_ERR_MAX]);

/* Append the "acc" (primary: kind "mc", identity {kind, task_sha256, format, n_items, limit,
 * seed, items_sha256}, params adopted, summary) and "acc_norm" entries; items_file is the
 * per-item file name relative to the result. Returns the primary entry or NULL on OOM. */
cJSON *owb_mc_to_json(cJSON *doc, const char *name, const struct owb_mc_task *t,
                      const struct owb_mc_result *r, const char *items_file, cJSON *params);

/* Write text[0..len) to path atomically (temporary file beside it, fsync, rename). */
int owb_write_file_atomic(const char *path, const char *text, size_t len, char err[OWB_ERR_MAX]);

#endif
