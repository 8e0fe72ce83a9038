/* SPDX-License-Identifier: MIT */
/*
 * producer.c: the scores buffers, the exact per-row scoring every logits-producing producer
 * shares, and the checked wrappers around a producer's ops.
 */
#include "evals/producer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

static int grow(void **p, size_t bytes)
{
    void *n = realloc(*p, bytes ? bytes : 1);
    if (!n)
        return OWB_E_NOMEM;
    *p = n;
    return OWB_OK;
}

int owb_scores_reserve(struct owb_scores *s, int64_t cap, int top_k, int n_query, int32_t n_vocab)
{
    OWB_ASSERT(cap >= 0 && top_k >= 0 && n_query >= 0 && n_vocab >= 0);
    size_t c = (size_t)cap, k = (size_t)top_k, q = (size_t)n_query;
    if (grow((void **)&s->target, c * sizeof *s->target) ||
        grow((void **)&s->logp, c * sizeof *s->logp) ||
        grow((void **)&s->lse, c * sizeof *s->lse) ||
        grow((void **)&s->top_id, c * k * sizeof *s->top_id) ||
        grow((void **)&s->top_lp, c * k * sizeof *s->top_lp) ||
        grow((void **)&s->top_rest, c * sizeof *s->top_rest) ||
        grow((void **)&s->query_id, c * q * sizeof *s->query_id) ||
        grow((void **)&s->query_lp, c * q * sizeof *s->query_lp) ||
        grow((void **)&s->query_rest, c * sizeof *s->query_rest) ||
        grow((void **)&s->mark, (size_t)n_vocab))
        return OWB_E_NOMEM;
    memset(s->mark, 0, (size_t)n_vocab);
    s->cap = cap;
    s->top_k = top_k;
    s->n_query = n_query;
    s->n_vocab = n_vocab;
    s->n = 0;
    return OWB_OK;
}

void owb_scores_release(struct owb_scores *s)
{
    if (!s)
        return;
    free(s->target);
    free(s->logp);
    free(s->lse);
    free(s->top_id);
    free(s->top_lp);
    free(s->top_rest);
    free(s->query_id);
    free(s->query_lp);
    free(s->query_rest);
    free(s->mark);
    memset(s, 0, sizeof *s);
}

/* Mass of the ids not marked, relative to the whole: sum over the complement directly (not one
 * minus the marked mass) so a tiny remainder keeps its relative precision. */
static double rest_mass(const float *l, int32_t nv, float mx, double sum, const unsigned char *mark)
{
    double r = 0.0;
    for (int32_t v = 0; v < nv; v++)
        if (!mark[v])
            r += exp((double)l[v] - (double)mx);
    return r / sum;
}

void owb_scores_fill_row(struct owb_scores *s, int64_t i, const float *l, int32_t nv,
                         int32_t target)
{
    OWB_ASSERT(nv <= s->n_vocab && i < s->cap);
    if (s->on_row)
        s->on_row(s->on_row_ctx, i, l, nv, target);
    float mx = l[0];
    for (int32_t v = 1; v < nv; v++)
        if (l[v] > mx)
            mx = l[v];
    double sum = 0.0;
    for (int32_t v = 0; v < nv; v++)
        sum += exp((double)l[v] - (double)mx);
    double lse = (double)mx + log(sum);
    s->target[i] = target;
    s->lse[i] = lse;
    s->logp[i] = (double)l[target] - lse;

    int k = s->top_k < nv ? s->top_k : nv;
    if (s->top_k > 0) {
        int32_t *ids = s->top_id + i * s->top_k;
        double *lp = s->top_lp + i * s->top_k;
        int c = 0;
        /* Insertion into a descending list; a later id enters only when strictly greater, so
         * equal logits keep the lower id first. */
        for (int32_t v = 0; v < nv; v++) {
            float x = l[v];
            if (c == k && !(x > l[ids[k - 1]]))
                continue;
            int pos = c < k ? c++ : k - 1;
            while (pos > 0 && l[ids[pos - 1]] < x) {
                ids[pos] = ids[pos - 1];
                pos--;
            }
            ids[pos] = v;
        }
        for (int j = 0; j < k; j++) {
            lp[j] = (double)l[ids[j]] - lse;
            s->mark[ids[j]] = 1;
        }
        for (int j = k; j < s->top_k; j++) { /* vocabulary smaller than top_k */
            ids[j] = -1;
            lp[j] = -INFINITY;
        }
        s->top_rest[i] = rest_mass(l, nv, mx, sum, s->mark);
        for (int j = 0; j < k; j++)
            s->mark[ids[j]] = 0;
    } else {
        s->top_rest[i] = 1.0;
    }
    if (s->n_query > 0) {
        const int32_t *q = s->query_id + i * s->n_query;
        double *qlp = s->query_lp + i * s->n_query;
        for (int j = 0; j < s->n_query; j++) {
            qlp[j] = q[j] >= 0 && q[j] < nv ? (double)l[q[j]] - lse : -(double)INFINITY;
            if (q[j] >= 0 && q[j] < nv)
                s->mark[q[j]] = 1;
        }
        s->query_rest[i] = rest_mass(l, nv, mx, sum, s->mark);
        for (int j = 0; j < s->n_query; j++)
            if (q[j] >= 0 && q[j] < nv)
                s->mark[q[j]] = 0;
    }
}

struct owb_producer *owb_producer_new(const struct owb_producer_ops *ops, void *self,
                                      const struct owb_producer_info *info)
{
    struct owb_producer *p = calloc(1, sizeof *p);
    if (!p) {
        ops->free(self);
        return NULL;
    }
    p->ops = ops;
    p->self = self;
    p->info = *info;
    return p;
}

void owb_producer_free(struct owb_producer *p)
{
    if (!p)
        return;
    if (p->ops && p->ops->free)
        p->ops->free(p->self);
    free(p);
}

int owb_producer_score(struct owb_producer *p, const int32_t *tokens, int64_t n, int64_t first,
                       struct owb_scores *out, char err[OWB_ERR_MAX])
{
    if (first < 1 || first >= n || n > p->info.n_ctx) {
        snprintf(err, OWB_ERR_MAX,
                 "%.300s: cannot score positions %lld..%lld of a %lld-token window (context %lld)",
                 p->info.name, (long long)first, (long long)n - 1, (long long)n,
                 (long long)p->info.n_ctx);
        return OWB_E_USAGE;
    }
    OWB_ASSERT(out->cap >= n - first && out->n_vocab >= p->info.n_vocab);
    for (int64_t j = 0; j < n; j++)
        if (tokens[j] < 0 || tokens[j] >= p->info.n_vocab) {
            snprintf(err, OWB_ERR_MAX,
                     "%.300s: token id %d at window position %lld is outside "
                     "the vocabulary (0..%d)",
                     p->info.name, tokens[j], (long long)j, p->info.n_vocab - 1);
            return OWB_E_FORMAT;
        }
    int rc = p->ops->score(p->self, tokens, n, first, out, err);
    if (rc)
        return rc;
    OWB_ASSERT(out->n == n - first);
    for (int64_t i = 0; i < out->n; i++)
        if (!isfinite(out->logp[i]) || isnan(out->lse[i])) {
            snprintf(err, OWB_ERR_MAX,
                     "%.300s: non-finite log-probability %g for token %d at window position "
                     "%lld (NaN or infinite logits?)",
                     p->info.name, out->logp[i], out->target[i], (long long)(first + i));
            return OWB_E_FORMAT;
        }
    return OWB_OK;
}

int owb_producer_tokenize(struct owb_producer *p, const char *text, size_t len, bool add_bos,
                          int32_t **ids, int64_t *n, char err[OWB_ERR_MAX])
{
    *ids = NULL;
    *n = 0;
    if (!p->ops->tokenize) {
        snprintf(err, OWB_ERR_MAX, "%.300s: this producer cannot tokenize text", p->info.name);
        return OWB_E_UNSUPPORTED;
    }
    int64_t cap = (int64_t)len + 16, got;
    int32_t *v = NULL;
    for (;;) {
        int32_t *nv = realloc(v, (size_t)cap * sizeof *v);
        if (!nv) {
            free(v);
            snprintf(err, OWB_ERR_MAX, "%.300s: out of memory tokenizing %zu bytes", p->info.name,
                     len);
            return OWB_E_NOMEM;
        }
        v = nv;
        got = p->ops->tokenize(p->self, text, len, add_bos, v, cap);
        if (got < 0) {
            free(v);
            snprintf(err, OWB_ERR_MAX, "%.300s: tokenizing %zu bytes failed", p->info.name, len);
            return (int)got;
        }
        if (got <= cap)
            break;
        cap = got;
    }
    *ids = v;
    *n = got;
    return OWB_OK;
}

void owb_producer_prefetch(struct owb_producer *p, const int32_t *tokens, int64_t n, int64_t first,
                           int top_k, int n_query)
{
    if (p->ops->prefetch && first >= 1 && first < n && n <= p->info.n_ctx)
        p->ops->prefetch(p->self, tokens, n, first, top_k, n_query);
}

int owb_producer_lookahead(struct owb_producer *p)
{
    return p->ops->lookahead ? p->ops->lookahead(p->self) : 0;
}

cJSON *owb_producer_describe(struct owb_producer *p)
{
    return p->ops->describe ? (cJSON *)p->ops->describe(p->self) : NULL;
}
