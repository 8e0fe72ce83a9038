/* SPDX-License-Identifier: MIT */
/*
 * ppl.c: the window plan, the perplexity loop (per-window NLL sums, progress, optional per-window
 * hook for the fingerprint writer), the block-bootstrap interval and the JSON entry.
 */
#define _POSIX_C_SOURCE 200809L
#include "evals/ppl.h"
#include "results/result.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/sha256.h"
#include "evals/evstats.h"
#include "evals/progress.h"

int owb_window_plan_make(struct owb_window_plan *w, int64_t n_tokens, int64_t n_ctx,
                         int64_t max_windows, bool bos_per_window, int32_t bos,
                         char err[OWB_ERR_MAX])
{
    memset(w, 0, sizeof *w);
    if (n_ctx < 4) {
        snprintf(err, OWB_ERR_MAX, "context %lld is too small (at least 4 tokens per window)",
                 (long long)n_ctx);
        return OWB_E_USAGE;
    }
    if (n_tokens < n_ctx) {
        snprintf(err, OWB_ERR_MAX,
                 "the text has %lld tokens, fewer than one window of %lld (use a smaller --ctx "
                 "or a longer text)",
                 (long long)n_tokens, (long long)n_ctx);
        return OWB_E_USAGE;
    }
    w->n_ctx = n_ctx;
    w->first = n_ctx / 2 + 1;
    w->n_windows = n_tokens / n_ctx;
    if (max_windows > 0 && max_windows < w->n_windows)
        w->n_windows = max_windows;
    w->n_tokens = n_tokens;
    w->bos_per_window = bos_per_window && bos >= 0;
    w->bos = bos;
    return OWB_OK;
}

void owb_window_tokens(const struct owb_window_plan *w, const int32_t *tokens, int64_t idx,
                       int32_t *out)
{
    memcpy(out, tokens + idx * w->n_ctx, (size_t)w->n_ctx * sizeof *out);
    if (w->bos_per_window)
        out[0] = w->bos;
}

void owb_ppl_result_release(struct owb_ppl_result *r)
{
    if (!r)
        return;
    free(r->nll);
    free(r->nll2);
    free(r->count);
    memset(r, 0, sizeof *r);
}

int owb_ppl_run(struct owb_producer *p, const int32_t *tokens, int64_t n_tokens,
                const struct owb_ppl_cfg *cfg, struct owb_ppl_result *r, char err[OWB_ERR_MAX])
{
    struct owb_scores s = {0};
    struct owb_progress prog;
    int32_t *win = NULL;
    int rc;
    memset(r, 0, sizeof *r);
    rc = owb_window_plan_make(&r->plan, n_tokens, cfg->n_ctx, cfg->max_windows, p->info.add_bos,
                              p->info.bos, err);
    if (rc)
        return rc;
    const struct owb_window_plan *w = &r->plan;
    if (w->n_ctx > p->info.n_ctx) {
        snprintf(err, OWB_ERR_MAX,
                 "%.300s: window of %lld tokens exceeds the producer's context %lld", p->info.name,
                 (long long)w->n_ctx, (long long)p->info.n_ctx);
        return OWB_E_USAGE;
    }
    size_t nw = (size_t)w->n_windows;
    r->nll = calloc(nw, sizeof *r->nll);
    r->nll2 = calloc(nw, sizeof *r->nll2);
    r->count = calloc(nw, sizeof *r->count);
    win = malloc((size_t)w->n_ctx * sizeof *win);
    if (!r->nll || !r->nll2 || !r->count || !win ||
        owb_scores_reserve(&s, w->n_ctx - w->first, cfg->top_k, 0, p->info.n_vocab)) {
        snprintf(err, OWB_ERR_MAX, "out of memory for %lld windows", (long long)w->n_windows);
        rc = OWB_E_NOMEM;
        goto out;
    }
    owb_progress_start(&prog, "ppl", w->n_windows, "windows", cfg->progress);
    uint64_t t0 = owb_now_ns();
    for (int64_t i = 0; i < w->n_windows; i++) {
        /* Windows ahead first (a server producer has them in flight meanwhile). */
        for (int64_t d = 1, la = owb_producer_lookahead(p); d <= la && i + d < w->n_windows; d++) {
            owb_window_tokens(w, tokens, i + d, win);
            owb_producer_prefetch(p, win, w->n_ctx, w->first, cfg->top_k, 0);
        }
        owb_window_tokens(w, tokens, i, win);
        if ((rc = owb_producer_score(p, win, w->n_ctx, w->first, &s, err)))
            goto out;
        double a = 0, b = 0;
        for (int64_t j = 0; j < s.n; j++) {
            a -= s.logp[j];
            b += s.logp[j] * s.logp[j];
        }
        r->nll[i] = a;
        r->nll2[i] = b;
        r->count[i] = s.n;
        r->n_scored += s.n;
        if (cfg->on_window && (rc = cfg->on_window(cfg->on_window_ctx, i, win, &s, err)))
            goto out;
        owb_progress_update(&prog, i + 1, (i + 1) * w->n_ctx);
    }
    r->seconds = 1e-9 * (double)(owb_now_ns() - t0);
    owb_progress_finish(&prog, w->n_windows, w->n_windows * w->n_ctx);

    double *den = malloc(nw * sizeof *den);
    if (!den) {
        rc = OWB_E_NOMEM;
        snprintf(err, OWB_ERR_MAX, "out of memory");
        goto out;
    }
    double sum = 0, sum2 = 0;
    for (size_t i = 0; i < nw; i++) {
        den[i] = (double)r->count[i];
        sum += r->nll[i];
        sum2 += r->nll2[i];
    }
    struct owb_boot_cfg bc = {cfg->boot_reps > 0 ? cfg->boot_reps : 2000, cfg->boot_block,
                              cfg->seed, 0.05};
    double est, lo, hi, se;
    rc = owb_boot_ratio(r->nll, den, w->n_windows, &bc, &est, &lo, &hi, &se);
    free(den);
    if (rc) {
        snprintf(err, OWB_ERR_MAX, "bootstrap failed (out of memory)");
        goto out;
    }
    double n = (double)r->n_scored;
    r->mean_nll = sum / n;
    r->ppl = exp(r->mean_nll);
    r->ppl_lo = exp(lo);
    r->ppl_hi = exp(hi);
    r->ln_ppl_se = se;
    double var = n > 1 ? (sum2 / n - r->mean_nll * r->mean_nll) / (n - 1) : (double)NAN;
    r->ppl_se_iid = var >= 0 ? sqrt(var) * r->ppl : (double)NAN;
    r->boot_reps = bc.reps;
    r->boot_block = cfg->boot_block > 0 ? cfg->boot_block : owb_boot_block_auto(w->n_windows);
    r->seed = cfg->seed;
out:
    owb_scores_release(&s);
    free(win);
    if (rc)
        owb_ppl_result_release(r);
    return rc;
}

void owb_json_add_hex(cJSON *o, const char *key, const unsigned char *digest)
{
    char hex[65];
    if (!digest) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    owb_sha256_to_hex(digest, hex);
    cJSON_AddStringToObject(o, key, hex);
}

cJSON *owb_window_identity_json(const char *kind, const unsigned char text_sha256[32],
                                const unsigned char *tokenizer_sha256,
                                const struct owb_window_plan *w)
{
    cJSON *id = cJSON_CreateObject();
    if (!id)
        return NULL;
    cJSON_AddStringToObject(id, "kind", kind);
    owb_json_add_hex(id, "text_sha256", text_sha256);
    owb_json_add_hex(id, "tokenizer_sha256", tokenizer_sha256);
    cJSON_AddNumberToObject(id, "n_ctx", (double)w->n_ctx);
    cJSON_AddNumberToObject(id, "first", (double)w->first);
    cJSON_AddNumberToObject(id, "n_windows", (double)w->n_windows);
    cJSON_AddBoolToObject(id, "bos_per_window", w->bos_per_window);
    cJSON_AddNumberToObject(id, "bos", (double)w->bos);
    cJSON_AddNumberToObject(id, "n_text_tokens", (double)w->n_tokens);
    return id;
}

static cJSON *num_array(const double *v, int64_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, owb_json_num(v[i]));
    return a;
}

static cJSON *int_array(const int64_t *v, int64_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
    return a;
}

cJSON *owb_ppl_to_json(cJSON *doc, const char *name, const struct owb_ppl_result *r,
                       cJSON *identity, cJSON *params)
{
    cJSON *evals = cJSON_GetObjectItemCaseSensitive(doc, "evals");
    cJSON *e = cJSON_CreateObject();
    if (!e || !evals) {
        cJSON_Delete(e);
        cJSON_Delete(identity);
        cJSON_Delete(params);
        return NULL;
    }
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddStringToObject(e, "metric", "perplexity");
    owb_json_add_num(e, "value", r->ppl);
    owb_json_add_num(e, "ci95_lo", r->ppl_lo);
    owb_json_add_num(e, "ci95_hi", r->ppl_hi);
    cJSON_AddNumberToObject(e, "n", (double)r->n_scored);
    cJSON_AddNullToObject(e, "items_file");
    cJSON_AddStringToObject(e, "kind", "ppl");
    cJSON_AddItemToObject(e, "identity", identity ? identity : cJSON_CreateObject());
    cJSON_AddItemToObject(e, "params", params ? params : cJSON_CreateObject());
    cJSON *sm = cJSON_AddObjectToObject(e, "summary");
    if (sm) {
        owb_json_add_num(sm, "mean_nll", r->mean_nll);
        owb_json_add_num(sm, "ln_ppl_se", r->ln_ppl_se);
        owb_json_add_num(sm, "ppl_se_iid", r->ppl_se_iid);
        cJSON_AddNumberToObject(sm, "n_windows", (double)r->plan.n_windows);
        cJSON_AddNumberToObject(sm, "tokens_per_window", (double)(r->plan.n_ctx - r->plan.first));
        cJSON_AddStringToObject(sm, "ci_method", "moving-block bootstrap over windows, percentile");
        cJSON_AddNumberToObject(sm, "bootstrap_reps", r->boot_reps);
        cJSON_AddNumberToObject(sm, "bootstrap_block_windows", (double)r->boot_block);
        cJSON_AddNumberToObject(sm, "seed", (double)r->seed);
        owb_json_add_num(sm, "seconds", r->seconds);
    }
    cJSON *wj = cJSON_AddObjectToObject(e, "windows");
    if (wj) {
        cJSON_AddItemToObject(wj, "count", int_array(r->count, r->plan.n_windows));
        cJSON_AddItemToObject(wj, "nll", num_array(r->nll, r->plan.n_windows));
        cJSON_AddItemToObject(wj, "nll2", num_array(r->nll2, r->plan.n_windows));
    }
    cJSON_AddItemToArray(evals, e);
    return e;
}
