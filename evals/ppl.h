/* SPDX-License-Identifier: MIT */
/*
 * ppl.h: perplexity over non-overlapping windows, scored as llama.cpp's perplexity tool does so
 * figures are comparable with published ones: the text is tokenized once (BOS first when the
 * tokenizer adds one), cut into floor(n_tokens / n_ctx) windows of n_ctx tokens, each window's
 * first token replaced by BOS (when the tokenizer adds BOS), and only the second half scored: the
 * logits of positions n_ctx/2 .. n_ctx-2 against the tokens n_ctx/2+1 .. n_ctx-1 (n_ctx/2 - 1
 * tokens per window, 63 at n_ctx 128). Windows are the resampling unit of a moving-block
 * bootstrap for the 95% interval (tokens inside a window and neighbouring windows of running text
 * are not independent). The same window plan drives fingerprints and KLD.
 *
 * Ownership: results own their arrays (owb_ppl_result_release). Thread-safety: one run per
 * producer at a time.
 */
#ifndef OWB_EVALS_PPL_H
#define OWB_EVALS_PPL_H

#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "results/result.h" /* owb_json_num, owb_json_add_num */

#include "evals/producer.h"
#include "owb_common.h"

struct owb_window_plan {
    int64_t n_ctx; /* tokens per window */
    int64_t first; /* first scored position in a window: n_ctx / 2 + 1 */
    int64_t n_windows;
    int64_t n_tokens;    /* tokens of the whole text (leading BOS included) */
    bool bos_per_window; /* each window's first token is replaced by bos */
    int32_t bos;
};

/* Plan windows of n_ctx over n_tokens tokens, at most max_windows (0: all that fit). Returns 0,
 * or OWB_E_USAGE with err when n_ctx < 4 or the text is shorter than one window. */
int owb_window_plan_make(struct owb_window_plan *w, int64_t n_tokens, int64_t n_ctx,
                         int64_t max_windows, bool bos_per_window, int32_t bos,
                         char err[OWB_ERR_MAX]);
/* Window idx's tokens (BOS substituted) into out[0..n_ctx). */
void owb_window_tokens(const struct owb_window_plan *w, const int32_t *tokens, int64_t idx,
                       int32_t *out);

/* Called once per window, in order, with the window's tokens and its scores. Non-zero stops the
 * run with that status (err filled). */
typedef int (*owb_window_fn)(void *ctx, int64_t idx, const int32_t *win, const struct owb_scores *s,
                             char err[OWB_ERR_MAX]);

struct owb_ppl_cfg {
    int64_t n_ctx;
    int64_t max_windows; /* 0: all */
    int top_k;           /* top-k requested from the producer (for on_window; 0 for plain PPL) */
    int boot_reps;       /* bootstrap replicates (e.g. 2000) */
    int64_t boot_block;  /* windows per bootstrap block; 0: ceil(n^(1/3)) */
    uint64_t seed;
    bool progress; /* progress line on stderr */
    owb_window_fn on_window;
    void *on_window_ctx;
};

struct owb_ppl_result {
    struct owb_window_plan plan;
    double *nll;    /* (n_windows) sum of -ln p over the window's scored tokens */
    double *nll2;   /* (n_windows) sum of (ln p)^2 */
    int64_t *count; /* (n_windows) tokens scored */
    int64_t n_scored;
    double mean_nll;            /* nats per token */
    double ppl, ppl_lo, ppl_hi; /* exp(mean_nll) and its 95% block-bootstrap interval */
    double ln_ppl_se;           /* bootstrap standard error of mean_nll */
    double ppl_se_iid; /* llama.cpp's "±": tokens taken as independent (for comparison only) */
    int boot_reps;
    int64_t boot_block;
    uint64_t seed;
    double seconds; /* wall time of the scoring loop */
};

/* Score the windows of tokens[0..n_tokens) with producer p. Returns 0 or a negative status with
 * err; r is empty on failure. */
int owb_ppl_run(struct owb_producer *p, const int32_t *tokens, int64_t n_tokens,
                const struct owb_ppl_cfg *cfg, struct owb_ppl_result *r, char err[OWB_ERR_MAX]);
void owb_ppl_result_release(struct owb_ppl_result *r);

/* The identity that makes two window-based results comparable: {"kind", "text_sha256",
 * "tokenizer_sha256" (null when unknown), "n_ctx", "first", "n_windows", "bos_per_window", "bos",
 * "n_text_tokens"}. NULL on OOM. */
cJSON *owb_window_identity_json(const char *kind, const unsigned char text_sha256[32],
                                const unsigned char *tokenizer_sha256,
                                const struct owb_window_plan *w);

/* Append the perplexity eval entry (docs/evals.md) to the document's evals[]: name, metric
 * "perplexity", value, ci95, n, kind "ppl", identity, params (filled by the caller: pass an object
 * to adopt, or NULL), summary, windows {count, nll, nll2}. Returns the entry or NULL on OOM
 * (params is then freed). */
cJSON *owb_ppl_to_json(cJSON *doc, const char *name, const struct owb_ppl_result *r,
                       cJSON *identity, cJSON *params);

/* Helper shared by the eval writers: a lowercase hex digest string (the JSON numbers are
 * results/result.h's owb_json_num / owb_json_add_num). */
void owb_json_add_hex(cJSON *o, const char *key, const unsigned char *digest);

#endif
