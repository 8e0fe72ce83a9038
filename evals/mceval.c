/* SPDX-License-Identifier: MIT */
/*
 * mceval.c: multiple-choice scoring (one producer call per ending), accuracies with Wilson
 * intervals, the per-item JSON lines and the result entries.
 */
#define _POSIX_C_SOURCE 200809L
#include "evals/mceval.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/sha256.h"
#include "evals/evstats.h"
#include "evals/ppl.h"
#include "evals/progress.h"

void owb_mc_result_release(struct owb_mc_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->s[i].ll);
        free(r->s[i].n_tokens);
        free(r->s[i].n_bytes);
    }
    free(r->s);
    memset(r, 0, sizeof *r);
}

/* The window of one ending: the tokens of context + " " + ending in *ids (caller frees), scored
 * from ids[*off + *first] on, cut from the left to the producer's context. Returns 0 or a status.
 */
static int ending_window(struct owb_producer *p, const struct owb_mc_item *it, int e,
                         const int32_t *ctx_ids, int64_t n_ctx_ids, int32_t **ids, int64_t *n,
                         int64_t *off, int64_t *first, bool *trunc, char err[OWB_ERR_MAX])
{
    size_t lc = strlen(it->context), le = strlen(it->endings[e]);
    char *text = malloc(lc + le + 2);
    int rc;
    *ids = NULL;
    if (!text) {
        snprintf(err, OWB_ERR_MAX, "out of memory");
        return OWB_E_NOMEM;
    }
    memcpy(text, it->context, lc);
    text[lc] = ' ';
    memcpy(text + lc + 1, it->endings[e], le + 1);
    rc = owb_producer_tokenize(p, text, lc + 1 + le, p->info.add_bos, ids, n, err);
    free(text);
    if (rc)
        return rc;
    int64_t start = 0;
    while (start < *n && start < n_ctx_ids && (*ids)[start] == ctx_ids[start])
        start++;
    if (start >= *n) {
        snprintf(err, OWB_ERR_MAX, "item %s: ending %d adds no tokens to the context", it->id, e);
        free(*ids);
        *ids = NULL;
        return OWB_E_FORMAT;
    }
    if (start < 1)
        start = 1;
    *off = *n > p->info.n_ctx ? *n - p->info.n_ctx : 0;
    if (*off > 0) {
        *trunc = true;
        if (p->info.add_bos)
            (*ids)[*off] = p->info.bos;
    }
    *first = start - *off < 1 ? 1 : start - *off;
    return OWB_OK;
}

/* Score one ending: returns 0 and *ll, *ntok, or a status. */
static int score_ending(struct owb_producer *p, const struct owb_mc_item *it, int e,
                        const int32_t *ctx_ids, int64_t n_ctx_ids, struct owb_scores *s, double *ll,
                        int64_t *ntok, bool *trunc, char err[OWB_ERR_MAX])
{
    int32_t *ids = NULL;
    int64_t n = 0, off = 0, first = 1;
    int rc = ending_window(p, it, e, ctx_ids, n_ctx_ids, &ids, &n, &off, &first, trunc, err);
    if (rc)
        return rc;
    if ((rc = owb_producer_score(p, ids + off, n - off, first, s, err))) {
        free(ids);
        return rc;
    }
    double sum = 0;
    for (int64_t j = 0; j < s->n; j++)
        sum += s->logp[j];
    *ll = sum;
    *ntok = s->n;
    free(ids);
    return OWB_OK;
}

/* Tell a remote producer about an item's windows ahead of time (errors are left for scoring). */
static void prefetch_item(struct owb_producer *p, const struct owb_mc_item *it)
{
    char err[OWB_ERR_MAX];
    int32_t *ctx_ids = NULL, *ids = NULL;
    int64_t n_ctx_ids = 0, n = 0, off = 0, first = 1;
    bool trunc = false;
    if (owb_producer_tokenize(p, it->context, strlen(it->context), p->info.add_bos, &ctx_ids,
                              &n_ctx_ids, err))
        return;
    for (int e = 0; e < it->n_endings; e++)
        if (!ending_window(p, it, e, ctx_ids, n_ctx_ids, &ids, &n, &off, &first, &trunc, err)) {
            owb_producer_prefetch(p, ids + off, n - off, first, 0, 0);
            free(ids);
        }
    free(ctx_ids);
}

int owb_mc_run(struct owb_producer *p, const struct owb_mc_task *t, const struct owb_mc_cfg *cfg,
               struct owb_mc_result *r, char err[OWB_ERR_MAX])
{
    struct owb_scores s = {0};
    struct owb_progress prog;
    size_t *idx = NULL, n_idx = 0;
    int32_t *ctx_ids = NULL;
    int64_t n_ctx_ids = 0;
    int rc;
    memset(r, 0, sizeof *r);
    if ((rc = owb_mc_select(t, cfg->limit, cfg->seed, &idx, &n_idx)) ||
        !(r->s = calloc(n_idx ? n_idx : 1, sizeof *r->s)) ||
        owb_scores_reserve(&s, p->info.n_ctx, 0, 0, p->info.n_vocab)) {
        snprintf(err, OWB_ERR_MAX, "out of memory");
        rc = OWB_E_NOMEM;
        goto out;
    }
    r->limit = cfg->limit;
    r->seed = cfg->seed;
    struct owb_sha256 ih;
    owb_sha256_init(&ih);
    owb_progress_start(&prog, "mc", (int64_t)n_idx, "items", cfg->progress);
    uint64_t t0 = owb_now_ns();
    int64_t ntok_total = 0;
    size_t la = (size_t)owb_producer_lookahead(p), ahead = 0; /* items prefetched: [0, ahead) */
    for (size_t k = 0; k < n_idx; k++) {
        const struct owb_mc_item *it = &t->items[idx[k]];
        for (; la && ahead < n_idx && ahead <= k + la; ahead++)
            if (ahead > k)
                prefetch_item(p, &t->items[idx[ahead]]);
        struct owb_mc_score *sc = &r->s[k];
        r->n = k + 1;
        sc->item = idx[k];
        sc->n_endings = it->n_endings;
        sc->ll = calloc((size_t)it->n_endings, sizeof *sc->ll);
        sc->n_tokens = calloc((size_t)it->n_endings, sizeof *sc->n_tokens);
        sc->n_bytes = calloc((size_t)it->n_endings, sizeof *sc->n_bytes);
        if (!sc->ll || !sc->n_tokens || !sc->n_bytes) {
            snprintf(err, OWB_ERR_MAX, "out of memory");
            rc = OWB_E_NOMEM;
            goto out;
        }
        owb_sha256_update(&ih, it->id, strlen(it->id));
        owb_sha256_update(&ih, "\n", 1);
        free(ctx_ids);
        ctx_ids = NULL;
        if ((rc = owb_producer_tokenize(p, it->context, strlen(it->context), p->info.add_bos,
                                        &ctx_ids, &n_ctx_ids, err)))
            goto out;
        double best = -INFINITY, best_n = -INFINITY;
        for (int e = 0; e < it->n_endings; e++) {
            if ((rc = score_ending(p, it, e, ctx_ids, n_ctx_ids, &s, &sc->ll[e], &sc->n_tokens[e],
                                   &sc->truncated, err))) {
                char m[OWB_ERR_MAX];
                snprintf(m, sizeof m, "%s", err);
                snprintf(err, OWB_ERR_MAX, "item %.60s (line %zu): %.400s", it->id, it->line, m);
                goto out;
            }
            ntok_total += sc->n_tokens[e];
            sc->n_bytes[e] = strlen(it->endings[e]);
            double norm = sc->ll[e] / (double)sc->n_bytes[e];
            if (sc->ll[e] > best) {
                best = sc->ll[e];
                sc->pred = e;
            }
            if (norm > best_n) {
                best_n = norm;
                sc->pred_norm = e;
            }
        }
        r->correct += sc->pred == it->gold;
        r->correct_norm += sc->pred_norm == it->gold;
        r->n_truncated += sc->truncated;
        owb_progress_update(&prog, (int64_t)k + 1, ntok_total);
    }
    r->seconds = 1e-9 * (double)(owb_now_ns() - t0);
    owb_progress_finish(&prog, (int64_t)n_idx, ntok_total);
    owb_sha256_final(&ih, r->items_sha256);
    r->n = n_idx;
    r->acc = n_idx ? (double)r->correct / (double)n_idx : (double)NAN;
    r->acc_norm = n_idx ? (double)r->correct_norm / (double)n_idx : (double)NAN;
    owb_wilson(r->correct, (int64_t)n_idx, 0.05, &r->acc_lo, &r->acc_hi);
    owb_wilson(r->correct_norm, (int64_t)n_idx, 0.05, &r->acc_norm_lo, &r->acc_norm_hi);
out:
    free(idx);
    free(ctx_ids);
    owb_scores_release(&s);
    if (rc)
        owb_mc_result_release(r);
    return rc;
}

int owb_write_file_atomic(const char *path, const char *text, size_t len, char err[OWB_ERR_MAX])
{
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 8);
    if (!tmp) {
        snprintf(err, OWB_ERR_MAX, "%.400s: out of memory", path);
        return OWB_E_NOMEM;
    }
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".XXXXXX", 8);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, OWB_ERR_MAX, "%.400s: cannot create a temporary file beside it: %s", path,
                 strerror(errno));
        free(tmp);
        return OWB_E_IO;
    }
    {
        /* mkstemp creates 0600; give the finished file the mode a plain fopen would. */
        mode_t um = umask(0);
        umask(um);
        (void)fchmod(fd, 0666 & ~um);
    }
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            break;
        }
        done += (size_t)w;
    }
    int bad = done != len || fsync(fd) != 0;
    bad |= close(fd) != 0;
    if (bad || rename(tmp, path)) {
        snprintf(err, OWB_ERR_MAX, "%.400s: write failed: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return OWB_E_IO;
    }
    free(tmp);
    return OWB_OK;
}

int owb_mc_write_items(const struct owb_mc_task *t, const struct owb_mc_result *r, const char *path,
                       char err[OWB_ERR_MAX])
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    int rc = OWB_OK;
    if (!buf)
        goto oom;
    for (size_t k = 0; k < r->n; k++) {
        const struct owb_mc_score *sc = &r->s[k];
        const struct owb_mc_item *it = &t->items[sc->item];
        cJSON *o = cJSON_CreateObject();
        cJSON *ll = cJSON_AddArrayToObject(o, "ll");
        cJSON *nt = cJSON_AddArrayToObject(o, "n_tokens");
        cJSON *nb = cJSON_AddArrayToObject(o, "n_bytes");
        if (!o || !ll || !nt || !nb) {
            cJSON_Delete(o);
            goto oom;
        }
        cJSON_AddStringToObject(o, "id", it->id);
        cJSON_AddNumberToObject(o, "index", (double)it->index);
        cJSON_AddNumberToObject(o, "gold", it->gold);
        for (int e = 0; e < sc->n_endings; e++) {
            cJSON_AddItemToArray(ll, owb_json_num(sc->ll[e]));
            cJSON_AddItemToArray(nt, cJSON_CreateNumber((double)sc->n_tokens[e]));
            cJSON_AddItemToArray(nb, cJSON_CreateNumber((double)sc->n_bytes[e]));
        }
        cJSON_AddNumberToObject(o, "pred", sc->pred);
        cJSON_AddNumberToObject(o, "pred_norm", sc->pred_norm);
        cJSON_AddBoolToObject(o, "correct", sc->pred == it->gold);
        cJSON_AddBoolToObject(o, "correct_norm", sc->pred_norm == it->gold);
        cJSON_AddBoolToObject(o, "truncated", sc->truncated);
        char *line = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!line)
            goto oom;
        size_t ll_n = strlen(line);
        if (len + ll_n + 2 > cap) {
            while (len + ll_n + 2 > cap)
                cap *= 2;
            char *nb2 = realloc(buf, cap);
            if (!nb2) {
                free(line);
                goto oom;
            }
            buf = nb2;
        }
        memcpy(buf + len, line, ll_n);
        len += ll_n;
        buf[len++] = '\n';
        free(line);
    }
    rc = owb_write_file_atomic(path, buf, len, err);
    free(buf);
    return rc;
oom:
    free(buf);
    snprintf(err, OWB_ERR_MAX, "%.400s: out of memory", path);
    return OWB_E_NOMEM;
}

cJSON *owb_mc_to_json(cJSON *doc, const char *name, const struct owb_mc_task *t,
                      const struct owb_mc_result *r, const char *items_file, cJSON *params)
{
    cJSON *evals = cJSON_GetObjectItemCaseSensitive(doc, "evals");
    cJSON *e = cJSON_CreateObject(), *e2 = cJSON_CreateObject();
    if (!evals || !e || !e2) {
        cJSON_Delete(e);
        cJSON_Delete(e2);
        cJSON_Delete(params);
        return NULL;
    }
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddStringToObject(e, "metric", "acc");
    owb_json_add_num(e, "value", r->acc);
    owb_json_add_num(e, "ci95_lo", r->acc_lo);
    owb_json_add_num(e, "ci95_hi", r->acc_hi);
    cJSON_AddNumberToObject(e, "n", (double)r->n);
    cJSON_AddStringToObject(e, "items_file", items_file);
    cJSON_AddStringToObject(e, "kind", "mc");
    cJSON *id = cJSON_AddObjectToObject(e, "identity");
    if (id) {
        cJSON_AddStringToObject(id, "kind", "mc");
        owb_json_add_hex(id, "task_sha256", t->sha256);
        cJSON_AddStringToObject(id, "format", owb_mc_format_name(t->format));
        cJSON_AddNumberToObject(id, "n_items", (double)t->n);
        cJSON_AddNumberToObject(id, "limit", (double)r->limit);
        cJSON_AddNumberToObject(id, "seed", (double)r->seed);
        owb_json_add_hex(id, "items_sha256", r->items_sha256);
    }
    cJSON_AddItemToObject(e, "params", params ? params : cJSON_CreateObject());
    cJSON *sm = cJSON_AddObjectToObject(e, "summary");
    if (sm) {
        cJSON_AddNumberToObject(sm, "correct", (double)r->correct);
        cJSON_AddNumberToObject(sm, "correct_norm", (double)r->correct_norm);
        cJSON_AddNumberToObject(sm, "n_truncated", (double)r->n_truncated);
        cJSON_AddStringToObject(sm, "acc_norm_definition",
                                "sum of ending log-probs divided by the ending's length in UTF-8 "
                                "bytes (lm-eval acc_norm)");
        cJSON_AddStringToObject(sm, "ci_method", "Wilson score 95%");
        owb_json_add_num(sm, "seconds", r->seconds);
    }
    cJSON_AddItemToArray(evals, e);
    cJSON_AddStringToObject(e2, "name", name);
    cJSON_AddStringToObject(e2, "metric", "acc_norm");
    owb_json_add_num(e2, "value", r->acc_norm);
    owb_json_add_num(e2, "ci95_lo", r->acc_norm_lo);
    owb_json_add_num(e2, "ci95_hi", r->acc_norm_hi);
    cJSON_AddNumberToObject(e2, "n", (double)r->n);
    cJSON_AddStringToObject(e2, "items_file", items_file);
    cJSON_AddItemToArray(evals, e2);
    return e;
}
