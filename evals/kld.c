/* SPDX-License-Identifier: MIT */
/*
 * kld.c: scoring a producer on a fingerprint's windows (the base's top-k ids are passed as query
 * ids, so the producer returns the model's log-probs of exactly those tokens and its mass outside
 * them), per-position divergences, and the bootstrap summaries; quantiles are re-computed on each
 * replicate's pooled positions by selection.
 */
#define _POSIX_C_SOURCE 200809L
#include "evals/kld.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/sha256.h"
#include "evals/evstats.h"
#include "evals/progress.h"

void owb_kld_result_release(struct owb_kld_result *r)
{
    if (!r)
        return;
    free(r->kld);
    free(r->w_kld);
    free(r->w_kld_max);
    free(r->w_nll);
    free(r->w_nll_base);
    free(r->w_top1);
    free(r->w_absdp);
    free(r->w_count);
    memset(r, 0, sizeof *r);
}

int owb_kld_check_compatible(const struct owb_fingerprint *fp, const struct owb_producer_info *info,
                             char err[OWB_ERR_MAX])
{
    char a[65], b[65];
    if ((fp->h.flags & OWB_FP_HAS_TOKENIZER_SHA) && info->has_tokenizer_sha256 &&
        memcmp(fp->h.tokenizer_sha256, info->tokenizer_sha256, 32)) {
        owb_sha256_to_hex(fp->h.tokenizer_sha256, a);
        owb_sha256_to_hex(info->tokenizer_sha256, b);
        snprintf(err, OWB_ERR_MAX,
                 "%.150s: its tokenizer differs from the base's in %.150s (tokenizer sha256 "
                 "%.12s... vs %.12s...); KLD on the base's token ids would hide a tokenizer "
                 "change, so it is refused",
                 info->name, fp->name, b, a);
        return OWB_E_USAGE;
    }
    if ((uint32_t)info->n_vocab != fp->h.n_vocab) {
        snprintf(err, OWB_ERR_MAX,
                 "%.180s: vocabulary of %d tokens, but the base in %.180s has %u; the "
                 "distributions cannot be compared",
                 info->name, info->n_vocab, fp->name, fp->h.n_vocab);
        return OWB_E_USAGE;
    }
    return OWB_OK;
}

/* KL(base || model) over the base's top-k plus the rest bucket, float32 inputs on both sides. */
static double position_kld(const float *blp, float brest, const double *qlp, double qrest, int k)
{
    double kl = 0.0;
    for (int j = 0; j < k; j++) {
        double lp = (double)blp[j];
        double lq = (double)(float)qlp[j];
        if (lq < log((double)FLT_MIN))
            lq = log((double)FLT_MIN);
        kl += exp(lp) * (lp - lq);
    }
    double pr = (double)brest, qr = (double)(float)qrest;
    if (pr > 0.0)
        kl += pr * (log(pr) - log(qr > (double)FLT_MIN ? qr : (double)FLT_MIN));
    return kl;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void percentile_ci(double *rep, int n, double *lo, double *hi)
{
    if (n <= 0) {
        *lo = *hi = NAN;
        return;
    }
    qsort(rep, (size_t)n, sizeof *rep, cmp_double);
    double h = (n - 1) * 0.025;
    int i = (int)h;
    *lo = rep[i] + (h - i) * (rep[i + 1 < n ? i + 1 : i] - rep[i]);
    h = (n - 1) * 0.975;
    i = (int)h;
    *hi = rep[i] + (h - i) * (rep[i + 1 < n ? i + 1 : i] - rep[i]);
}

/* Median, p90, p99 and max with bootstrap intervals over windows (pooled positions). */
static int quantile_stats(struct owb_kld_result *r, const struct owb_boot_cfg *bc)
{
    int64_t nw = r->plan.n_windows, np = r->plan.n_ctx - r->plan.first, n = r->n;
    double *buf = malloc((size_t)n * sizeof *buf);
    double *rep = malloc(4 * (size_t)bc->reps * sizeof *rep);
    int64_t *idx = malloc((size_t)nw * sizeof *idx);
    if (!buf || !rep || !idx) {
        free(buf);
        free(rep);
        free(idx);
        return OWB_E_NOMEM;
    }
    memcpy(buf, r->kld, (size_t)n * sizeof *buf);
    r->kld_median.v = owb_quantile_select(buf, n, 0.5);
    r->kld_p90.v = owb_quantile_select(buf, n, 0.9);
    r->kld_p99.v = owb_quantile_select(buf, n, 0.99);
    r->kld_max.v = owb_quantile_select(buf, n, 1.0);
    struct owb_rng rng;
    owb_rng_seed(&rng, bc->seed ^ 0x6b6c64u);
    double *r50 = rep, *r90 = rep + bc->reps, *r99 = rep + 2 * bc->reps, *rmx = rep + 3 * bc->reps;
    for (int b = 0; b < bc->reps; b++) {
        owb_boot_draw(&rng, nw, bc->block, idx);
        double mx = -INFINITY;
        for (int64_t i = 0; i < nw; i++) {
            memcpy(buf + i * np, r->kld + idx[i] * np, (size_t)np * sizeof *buf);
            if (r->w_kld_max[idx[i]] > mx)
                mx = r->w_kld_max[idx[i]];
        }
        r50[b] = owb_quantile_select(buf, n, 0.5);
        r90[b] = owb_quantile_select(buf, n, 0.9);
        r99[b] = owb_quantile_select(buf, n, 0.99);
        rmx[b] = mx;
    }
    percentile_ci(r50, bc->reps, &r->kld_median.lo, &r->kld_median.hi);
    percentile_ci(r90, bc->reps, &r->kld_p90.lo, &r->kld_p90.hi);
    percentile_ci(r99, bc->reps, &r->kld_p99.lo, &r->kld_p99.hi);
    percentile_ci(rmx, bc->reps, &r->kld_max.lo, &r->kld_max.hi);
    free(buf);
    free(rep);
    free(idx);
    return OWB_OK;
}

int owb_kld_result_alloc(struct owb_kld_result *r)
{
    int64_t nw = r->plan.n_windows, np = r->plan.n_ctx - r->plan.first;
    size_t snw = (size_t)nw;
    r->n = nw * np;
    r->kld = malloc((size_t)r->n * sizeof *r->kld);
    r->w_kld = calloc(snw, sizeof(double));
    r->w_kld_max = calloc(snw, sizeof(double));
    r->w_nll = calloc(snw, sizeof(double));
    r->w_nll_base = calloc(snw, sizeof(double));
    r->w_top1 = calloc(snw, sizeof(double));
    r->w_absdp = calloc(snw, sizeof(double));
    r->w_count = calloc(snw, sizeof(double));
    if (!r->kld || !r->w_kld || !r->w_kld_max || !r->w_nll || !r->w_nll_base || !r->w_top1 ||
        !r->w_absdp || !r->w_count)
        return OWB_E_NOMEM;
    return OWB_OK;
}

int owb_kld_finish(struct owb_kld_result *r, const struct owb_kld_cfg *cfg, char err[OWB_ERR_MAX])
{
    int64_t nw = r->plan.n_windows;
    double *diff = malloc((size_t)nw * sizeof *diff);
    int rc = diff ? OWB_OK : OWB_E_NOMEM;
    struct owb_boot_cfg bc = {cfg->boot_reps > 0 ? cfg->boot_reps : 1000,
                              cfg->boot_block > 0 ? cfg->boot_block : owb_boot_block_auto(nw),
                              cfg->seed, 0.05};
    double se;
    r->boot_reps = bc.reps;
    r->boot_block = bc.block;
    r->seed = cfg->seed;
    if (!rc)
        rc = owb_boot_ratio(r->w_kld, r->w_count, nw, &bc, &r->kld_mean.v, &r->kld_mean.lo,
                            &r->kld_mean.hi, &se);
    if (!rc)
        rc = owb_boot_ratio(r->w_top1, r->w_count, nw, &bc, &r->top1.v, &r->top1.lo, &r->top1.hi,
                            &se);
    if (!rc)
        rc = owb_boot_ratio(r->w_absdp, r->w_count, nw, &bc, &r->abs_dp.v, &r->abs_dp.lo,
                            &r->abs_dp.hi, &se);
    double sd = 0, mean_d = 0, sn = 0, snb = 0, cnt = 0;
    for (int64_t i = 0; diff && i < nw; i++) {
        diff[i] = r->w_nll[i] - r->w_nll_base[i];
        sn += r->w_nll[i];
        snb += r->w_nll_base[i];
        cnt += r->w_count[i];
    }
    if (!rc)
        rc = owb_boot_ratio(diff, r->w_count, nw, &bc, &r->ln_ratio.v, &r->ln_ratio.lo,
                            &r->ln_ratio.hi, &se);
    if (!rc)
        rc = quantile_stats(r, &bc);
    if (rc) {
        snprintf(err, OWB_ERR_MAX, "bootstrap failed (out of memory)");
        free(diff);
        return rc;
    }
    for (int64_t i = 0; i < nw; i++)
        mean_d += diff[i] / r->w_count[i] / (double)nw;
    for (int64_t i = 0; i < nw; i++) {
        double d = diff[i] / r->w_count[i] - mean_d;
        sd += d * d;
    }
    r->ln_ratio_se = nw > 1 ? sqrt(sd / (double)(nw - 1) / (double)nw) : (double)NAN;
    r->ppl = exp(sn / cnt);
    r->ppl_base = exp(snb / cnt);
    free(diff);
    return OWB_OK;
}

int owb_kld_run(struct owb_producer *p, const struct owb_fingerprint *fp,
                const struct owb_kld_cfg *cfg, struct owb_kld_result *r, char err[OWB_ERR_MAX])
{
    struct owb_scores s = {0};
    struct owb_progress prog;
    int32_t *ids = NULL;
    float *lps = NULL;
    int rc;
    memset(r, 0, sizeof *r);
    if ((rc = owb_kld_check_compatible(fp, &p->info, err)))
        return rc;
    owb_fp_plan(fp, &r->plan);
    const struct owb_window_plan *w = &r->plan;
    if (w->n_ctx > p->info.n_ctx) {
        snprintf(err, OWB_ERR_MAX,
                 "%.200s: the fingerprint's windows of %lld tokens exceed the model's context "
                 "%lld (pass --ctx %lld)",
                 p->info.name, (long long)w->n_ctx, (long long)p->info.n_ctx, (long long)w->n_ctx);
        return OWB_E_USAGE;
    }
    int k = (int)fp->h.top_k;
    int64_t nw = w->n_windows, np = w->n_ctx - w->first;
    ids = malloc((size_t)k * sizeof *ids);
    lps = malloc((size_t)k * sizeof *lps);
    if (owb_kld_result_alloc(r) || !ids || !lps ||
        owb_scores_reserve(&s, np, 1, k, p->info.n_vocab)) {
        snprintf(err, OWB_ERR_MAX, "out of memory for %lld positions", (long long)r->n);
        rc = OWB_E_NOMEM;
        goto out;
    }
    owb_progress_start(&prog, "kld", nw, "windows", cfg->progress);
    uint64_t t0 = owb_now_ns();
    for (int64_t wi = 0; wi < nw; wi++) {
        const int32_t *win = fp->tokens + wi * w->n_ctx;
        for (int64_t i = 0; i < np; i++) {
            struct owb_fp_pos pos;
            owb_fp_get(fp, wi, i, &pos, s.query_id + i * k, lps);
        }
        for (int64_t d = 1, la = owb_producer_lookahead(p); d <= la && wi + d < nw; d++)
            owb_producer_prefetch(p, fp->tokens + (wi + d) * w->n_ctx, w->n_ctx, w->first, 1, k);
        if ((rc = owb_producer_score(p, win, w->n_ctx, w->first, &s, err)))
            goto out;
        double skl = 0, mx = 0, snll = 0, snllb = 0, top = 0, adp = 0;
        for (int64_t i = 0; i < np; i++) {
            struct owb_fp_pos pos;
            owb_fp_get(fp, wi, i, &pos, ids, lps);
            double kl = position_kld(lps, pos.rest, s.query_lp + i * k, s.query_rest[i], k);
            r->kld[wi * np + i] = kl;
            skl += kl;
            if (i == 0 || kl > mx)
                mx = kl;
            double lq = (double)(float)s.logp[i], lp = (double)pos.logp;
            snll -= lq;
            snllb -= lp;
            adp += fabs(exp(lq) - exp(lp));
            top += s.top_id[i] == ids[0];
        }
        r->w_kld[wi] = skl;
        r->w_kld_max[wi] = mx;
        r->w_nll[wi] = snll;
        r->w_nll_base[wi] = snllb;
        r->w_top1[wi] = top;
        r->w_absdp[wi] = adp;
        r->w_count[wi] = (double)np;
        owb_progress_update(&prog, wi + 1, (wi + 1) * w->n_ctx);
    }
    r->seconds = 1e-9 * (double)(owb_now_ns() - t0);
    owb_progress_finish(&prog, nw, nw * w->n_ctx);

    rc = owb_kld_finish(r, cfg, err);
out:
    owb_scores_release(&s);
    free(ids);
    free(lps);
    if (rc)
        owb_kld_result_release(r);
    return rc;
}

static cJSON *num_array(const double *v, int64_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, owb_json_num(v[i]));
    return a;
}

static cJSON *add_entry(cJSON *evals, const char *name, const char *metric, const struct owb_est *e,
                        int64_t n)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "metric", metric);
    owb_json_add_num(o, "value", e->v);
    owb_json_add_num(o, "ci95_lo", e->lo);
    owb_json_add_num(o, "ci95_hi", e->hi);
    cJSON_AddNumberToObject(o, "n", (double)n);
    cJSON_AddNullToObject(o, "items_file");
    cJSON_AddItemToArray(evals, o);
    return o;
}

cJSON *owb_kld_to_json(cJSON *doc, const char *name, const struct owb_kld_result *r,
                       cJSON *identity, cJSON *params)
{
    cJSON *evals = cJSON_GetObjectItemCaseSensitive(doc, "evals");
    cJSON *e = evals ? add_entry(evals, name, "kld_mean", &r->kld_mean, r->n) : NULL;
    if (!e) {
        cJSON_Delete(identity);
        cJSON_Delete(params);
        return NULL;
    }
    int64_t nw = r->plan.n_windows;
    cJSON_AddStringToObject(e, "kind", "kld");
    cJSON_AddItemToObject(e, "identity", identity ? identity : cJSON_CreateObject());
    cJSON_AddItemToObject(e, "params", params ? params : cJSON_CreateObject());
    cJSON *sm = cJSON_AddObjectToObject(e, "summary");
    if (sm) {
        const struct {
            const char *k;
            const struct owb_est *v;
        } st[] = {{"kld_mean", &r->kld_mean},  {"kld_median", &r->kld_median},
                  {"kld_p90", &r->kld_p90},    {"kld_p99", &r->kld_p99},
                  {"kld_max", &r->kld_max},    {"top1_agreement", &r->top1},
                  {"mean_abs_dp", &r->abs_dp}, {"ln_ppl_ratio", &r->ln_ratio}};
        for (size_t i = 0; i < OWB_ARRAY_LEN(st); i++) {
            cJSON *o = cJSON_AddObjectToObject(sm, st[i].k);
            owb_json_add_num(o, "value", st[i].v->v);
            owb_json_add_num(o, "ci95_lo", st[i].v->lo);
            owb_json_add_num(o, "ci95_hi", st[i].v->hi);
        }
        owb_json_add_num(sm, "ln_ppl_ratio_se", r->ln_ratio_se);
        owb_json_add_num(sm, "perplexity", r->ppl);
        owb_json_add_num(sm, "perplexity_base", r->ppl_base);
        cJSON_AddNumberToObject(sm, "n_windows", (double)nw);
        cJSON_AddStringToObject(sm, "kld_definition",
                                "KL(base||model) over the base's top-k tokens plus one bucket "
                                "for all others; float32 log-probs on both sides");
        cJSON_AddStringToObject(sm, "ci_method", "moving-block bootstrap over windows, percentile");
        cJSON_AddNumberToObject(sm, "bootstrap_reps", r->boot_reps);
        cJSON_AddNumberToObject(sm, "bootstrap_block_windows", (double)r->boot_block);
        cJSON_AddNumberToObject(sm, "seed", (double)r->seed);
        owb_json_add_num(sm, "seconds", r->seconds);
    }
    cJSON *wj = cJSON_AddObjectToObject(e, "windows");
    if (wj) {
        cJSON_AddItemToObject(wj, "count", num_array(r->w_count, nw));
        cJSON_AddItemToObject(wj, "kld", num_array(r->w_kld, nw));
        cJSON_AddItemToObject(wj, "kld_max", num_array(r->w_kld_max, nw));
        cJSON_AddItemToObject(wj, "nll", num_array(r->w_nll, nw));
        cJSON_AddItemToObject(wj, "nll_base", num_array(r->w_nll_base, nw));
        cJSON_AddItemToObject(wj, "top1", num_array(r->w_top1, nw));
        cJSON_AddItemToObject(wj, "absdp", num_array(r->w_absdp, nw));
    }
    add_entry(evals, name, "kld_median", &r->kld_median, r->n);
    add_entry(evals, name, "kld_p90", &r->kld_p90, r->n);
    add_entry(evals, name, "kld_p99", &r->kld_p99, r->n);
    add_entry(evals, name, "kld_max", &r->kld_max, r->n);
    add_entry(evals, name, "top1_agreement", &r->top1, r->n);
    add_entry(evals, name, "mean_abs_dp", &r->abs_dp, r->n);
    cJSON *lr = add_entry(evals, name, "ln_ppl_ratio", &r->ln_ratio, r->n);
    if (lr)
        owb_json_add_num(lr, "se", r->ln_ratio_se);
    struct owb_est pm = {r->ppl, NAN, NAN}, pb = {r->ppl_base, NAN, NAN};
    add_entry(evals, name, "perplexity", &pm, r->n);
    add_entry(evals, name, "perplexity_base", &pb, r->n);
    return e;
}
