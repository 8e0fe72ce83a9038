/* SPDX-License-Identifier: MIT */
/*
 * producer_shard.c: a producer that spreads another producer's score() calls over the ranks of an
 * mpirun job (dist/ranks.h). Every rank runs the same eval loop; call k belongs to rank k mod N.
 * The owner computes it; a worker rank sends its scores to rank 0 and gives its own loop zeroed
 * placeholder scores for calls it does not own (its results are thrown away); rank 0 receives the
 * calls it does not own, in call order, bit for bit. A worker keeps up to SEND_SLOTS sends in
 * flight, so it runs ahead of rank 0 instead of waiting for each message to be taken. So rank 0
 * sees exactly the scores a single process would, and sums them in the same order: the figures are
 * identical to -np 1.
 *
 * Message of one call: struct msg_head, then target (n int32), logp, lse (n double), top_id
 * (n * top_k int32), top_lp (n * top_k double), top_rest (n double), query_lp (n * n_query double),
 * query_rest (n double); or, when the owner failed, the head and its error message.
 */
#include "evals/producer_shard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/ranks.h"

#define TAG_SCORES 7101
#define SEND_SLOTS 16

struct msg_head {
    int64_t call, n;
    int32_t top_k, n_query, status, pad;
};

struct slot {
    void *buf;
    size_t cap;
    struct owb_ranks_req req;
};

struct shard {
    struct owb_producer *inner;
    int64_t calls, sent;
    int rank, size;
    void *buf; /* rank 0: receive buffer */
    size_t cap;
    struct slot out[SEND_SLOTS]; /* workers: sends in flight, round robin */
};

static size_t payload_bytes(int64_t n, int k, int q)
{
    size_t sn = (size_t)n, sk = (size_t)k, sq = (size_t)q;
    return sn * 4 + sn * 8 * 2 + sn * sk * 12 + sn * 8 + sn * sq * 8 + sn * 8;
}

static void put(unsigned char **p, const void *src, size_t n)
{
    if (n)
        memcpy(*p, src, n);
    *p += n;
}

static void get(const unsigned char **p, void *dst, size_t n)
{
    if (n)
        memcpy(dst, *p, n);
    *p += n;
}

static int grow(void **buf, size_t *cap, size_t need)
{
    if (need <= *cap && *buf)
        return OWB_OK;
    void *nb = realloc(*buf, need);
    if (!nb)
        return OWB_E_NOMEM;
    *buf = nb;
    *cap = need;
    return OWB_OK;
}

static int send_scores(struct shard *s, int64_t call, const struct owb_scores *o, int status,
                       const char *err)
{
    struct msg_head h = {call, o->n, o->top_k, o->n_query, status, 0};
    size_t sn = (size_t)o->n, sk = (size_t)o->top_k, sq = (size_t)o->n_query;
    size_t bytes =
        sizeof h + (status ? strlen(err) + 1 : payload_bytes(o->n, o->top_k, o->n_query));
    struct slot *sl = &s->out[s->sent++ % SEND_SLOTS];
    if (owb_ranks_wait(&sl->req))
        return OWB_E_SYSTEM;
    if (grow(&sl->buf, &sl->cap, bytes))
        return OWB_E_NOMEM;
    unsigned char *p = sl->buf;
    put(&p, &h, sizeof h);
    if (status) {
        put(&p, err, strlen(err) + 1);
    } else {
        put(&p, o->target, sn * 4);
        put(&p, o->logp, sn * 8);
        put(&p, o->lse, sn * 8);
        put(&p, o->top_id, sn * sk * 4);
        put(&p, o->top_lp, sn * sk * 8);
        put(&p, o->top_rest, sn * 8);
        put(&p, o->query_lp, sn * sq * 8);
        put(&p, o->query_rest, sn * 8);
    }
    return owb_ranks_isend(0, TAG_SCORES, sl->buf, bytes, &sl->req);
}

static int recv_scores(struct shard *s, int from, int64_t call, struct owb_scores *o, int64_t n,
                       char err[OWB_ERR_MAX])
{
    struct msg_head h;
    size_t len = 0;
    int rc = owb_ranks_recv(from, TAG_SCORES, &s->buf, &s->cap, &len);
    if (rc || len < sizeof h) {
        snprintf(err, OWB_ERR_MAX, "rank %d: no scores for call %lld (MPI receive failed)", from,
                 (long long)call);
        return rc ? rc : OWB_E_SYSTEM;
    }
    const unsigned char *p = s->buf;
    get(&p, &h, sizeof h);
    if (h.status) {
        ((char *)s->buf)[len - 1] = '\0';
        snprintf(err, OWB_ERR_MAX, "rank %d: %.480s", from, (const char *)p);
        return h.status;
    }
    if (h.call != call || h.n != n || h.top_k != o->top_k || h.n_query != o->n_query ||
        len != sizeof h + payload_bytes(h.n, h.top_k, h.n_query)) {
        snprintf(err, OWB_ERR_MAX,
                 "rank %d: scores out of step (call %lld, expected %lld; %lld positions, "
                 "expected %lld): the ranks did not run the same eval",
                 from, (long long)h.call, (long long)call, (long long)h.n, (long long)n);
        return OWB_E_SYSTEM;
    }
    size_t sn = (size_t)n, sk = (size_t)o->top_k, sq = (size_t)o->n_query;
    get(&p, o->target, sn * 4);
    get(&p, o->logp, sn * 8);
    get(&p, o->lse, sn * 8);
    get(&p, o->top_id, sn * sk * 4);
    get(&p, o->top_lp, sn * sk * 8);
    get(&p, o->top_rest, sn * 8);
    get(&p, o->query_lp, sn * sq * 8);
    get(&p, o->query_rest, sn * 8);
    o->n = n;
    return OWB_OK;
}

/* Placeholder for a call another rank computes: the targets, every other value zero. */
static void placeholder(const int32_t *tokens, int64_t n, int64_t first, struct owb_scores *o)
{
    size_t sn = (size_t)(n - first), sk = (size_t)o->top_k, sq = (size_t)o->n_query;
    memcpy(o->target, tokens + first, sn * sizeof *o->target);
    memset(o->logp, 0, sn * sizeof *o->logp);
    memset(o->lse, 0, sn * sizeof *o->lse);
    memset(o->top_rest, 0, sn * sizeof *o->top_rest);
    memset(o->query_rest, 0, sn * sizeof *o->query_rest);
    for (size_t i = 0; i < sn * sk; i++) {
        o->top_id[i] = (int32_t)(i % sk);
        o->top_lp[i] = 0;
    }
    if (sq)
        memset(o->query_lp, 0, sn * sq * sizeof *o->query_lp);
    o->n = n - first;
}

static int shard_score(void *self, const int32_t *tokens, int64_t n, int64_t first,
                       struct owb_scores *out, char err[OWB_ERR_MAX])
{
    struct shard *s = self;
    int64_t call = s->calls++;
    int owner = (int)(call % s->size);
    int rc;
    if (owner == s->rank) {
        rc = owb_producer_score(s->inner, tokens, n, first, out, err);
        if (s->rank != 0) {
            int st = send_scores(s, call, out, rc, err);
            if (!rc && st) {
                snprintf(err, OWB_ERR_MAX, "cannot send the scores of call %lld to rank 0",
                         (long long)call);
                rc = st;
            }
        }
        return rc;
    }
    if (s->rank == 0)
        return recv_scores(s, owner, call, out, n - first, err);
    placeholder(tokens, n, first, out);
    return OWB_OK;
}

static int64_t shard_tokenize(void *self, const char *text, size_t len, bool add_bos, int32_t *ids,
                              int64_t cap)
{
    struct shard *s = self;
    return s->inner->ops->tokenize(s->inner->self, text, len, add_bos, ids, cap);
}

static void shard_free(void *self)
{
    struct shard *s = self;
    if (!s)
        return;
    /* Rank 0 takes every message in its loop; wait for the last ones before freeing them. */
    for (int i = 0; i < SEND_SLOTS; i++) {
        owb_ranks_wait(&s->out[i].req);
        free(s->out[i].buf);
    }
    owb_producer_free(s->inner);
    free(s->buf);
    free(s);
}

/* Where the scores come from is the wrapped producer's (a server's probe findings). */
static void *shard_describe(void *self)
{
    struct shard *s = self;
    return owb_producer_describe(s->inner);
}

static const struct owb_producer_ops shard_ops = {.score = shard_score,
                                                  .tokenize = shard_tokenize,
                                                  .free = shard_free,
                                                  .describe = shard_describe};
static const struct owb_producer_ops shard_ops_notok = {
    .score = shard_score, .free = shard_free, .describe = shard_describe};

int owb_producer_shard(struct owb_producer **p, char err[OWB_ERR_MAX])
{
    if (owb_ranks_size() < 2)
        return OWB_OK;
    struct shard *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, OWB_ERR_MAX, "out of memory");
        return OWB_E_NOMEM;
    }
    s->inner = *p;
    s->rank = owb_ranks_rank();
    s->size = owb_ranks_size();
    struct owb_producer *w =
        owb_producer_new((*p)->ops->tokenize ? &shard_ops : &shard_ops_notok, s, &(*p)->info);
    if (!w) {
        *p = NULL; /* freed with s by owb_producer_new */
        snprintf(err, OWB_ERR_MAX, "out of memory");
        return OWB_E_NOMEM;
    }
    *p = w;
    return OWB_OK;
}
