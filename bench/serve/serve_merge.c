/* SPDX-License-Identifier: MIT */
/*
 * serve_merge.c: packing a load generator's run into bytes and merging the runs of several
 * generators (MPI ranks) into one, so the metrics are computed once over every request. Packed
 * layout: struct pack_head, then n struct owb_serve_req, then n_chunks struct owb_serve_chunk
 * (native layout: sender and receiver run the same build).
 */
#include <stdlib.h>
#include <string.h>

#include "bench/serve/serve.h"

#define PACK_MAGIC 0x4f57425352554e31ull /* "OWBSRUN1" */

struct pack_head {
    uint64_t magic;
    uint64_t n, n_chunks;
    uint64_t t0_mono_ns;
    double wall_s;
    int32_t truncated, pad;
    struct owb_serve_client client;
};

int owb_serve_run_pack(const struct owb_serve_run *run, void **buf, size_t *len)
{
    struct pack_head h;
    memset(&h, 0, sizeof h);
    h.magic = PACK_MAGIC;
    h.n = run->n;
    h.n_chunks = run->n_chunks;
    h.t0_mono_ns = run->t0_mono_ns;
    h.wall_s = run->wall_s;
    h.truncated = run->truncated;
    h.client = run->client;
    size_t rb = run->n * sizeof *run->reqs, cb = run->n_chunks * sizeof *run->chunks;
    unsigned char *p = malloc(sizeof h + rb + cb);
    *buf = p;
    *len = sizeof h + rb + cb;
    if (!p)
        return OWB_E_NOMEM;
    memcpy(p, &h, sizeof h);
    if (rb)
        memcpy(p + sizeof h, run->reqs, rb);
    if (cb)
        memcpy(p + sizeof h + rb, run->chunks, cb);
    return OWB_OK;
}

struct ref {
    uint64_t sched_ns;
    int run;
    size_t idx;
};

static int ref_cmp(const void *a, const void *b)
{
    const struct ref *x = a, *y = b;
    if (x->sched_ns != y->sched_ns)
        return x->sched_ns < y->sched_ns ? -1 : 1;
    if (x->run != y->run)
        return x->run < y->run ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static uint64_t shifted(uint64_t t, int64_t d)
{
    if (!t)
        return 0; /* never happened */
    int64_t v = (int64_t)t + d;
    return v > 0 ? (uint64_t)v : 1;
}

static double maxd(double a, double b)
{
    return a > b ? a : b;
}

int owb_serve_run_merge(const void *const *bufs, const size_t *lens, const int64_t *shift_ns, int n,
                        struct owb_serve_run **out, char err[OWB_ERR_MAX])
{
    struct pack_head *h = NULL;
    struct ref *refs = NULL;
    struct owb_serve_run *m = NULL;
    size_t nreq = 0, nch = 0;
    int rc = OWB_E_NOMEM;
    *out = NULL;
    h = calloc((size_t)(n > 0 ? n : 1), sizeof *h);
    if (!h)
        goto fail;
    for (int i = 0; i < n; i++) {
        if (lens[i] < sizeof *h) {
            snprintf(err, OWB_ERR_MAX, "run %d: %zu bytes, not a packed run", i, lens[i]);
            rc = OWB_E_FORMAT;
            goto fail;
        }
        memcpy(&h[i], bufs[i], sizeof *h);
        if (h[i].magic != PACK_MAGIC ||
            lens[i] != sizeof *h + h[i].n * sizeof(struct owb_serve_req) +
                           h[i].n_chunks * sizeof(struct owb_serve_chunk)) {
            snprintf(err, OWB_ERR_MAX,
                     "run %d: not a packed run of this build (magic or size differ)", i);
            rc = OWB_E_FORMAT;
            goto fail;
        }
        nreq += h[i].n;
        nch += h[i].n_chunks;
    }
    m = calloc(1, sizeof *m);
    refs = malloc((nreq ? nreq : 1) * sizeof *refs);
    if (!m || !refs)
        goto fail;
    m->reqs = malloc((nreq ? nreq : 1) * sizeof *m->reqs);
    m->chunks = malloc((nch ? nch : 1) * sizeof *m->chunks);
    if (!m->reqs || !m->chunks)
        goto fail;
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        const struct owb_serve_req *rq = (const void *)((const unsigned char *)bufs[i] + sizeof *h);
        for (size_t j = 0; j < h[i].n; j++) {
            struct owb_serve_req r;
            memcpy(&r, &rq[j], sizeof r);
            refs[k].sched_ns = shifted(r.sched_ns, shift_ns[i]);
            refs[k].run = i;
            refs[k].idx = j;
            k++;
        }
    }
    qsort(refs, nreq, sizeof *refs, ref_cmp);
    size_t c = 0;
    for (size_t j = 0; j < nreq; j++) {
        int i = refs[j].run;
        int64_t d = shift_ns[i];
        const unsigned char *base = (const unsigned char *)bufs[i] + sizeof *h;
        const struct owb_serve_req *rq = (const void *)base;
        const struct owb_serve_chunk *ch =
            (const void *)(base + h[i].n * sizeof(struct owb_serve_req));
        struct owb_serve_req r;
        memcpy(&r, &rq[refs[j].idx], sizeof r);
        r.sched_ns = shifted(r.sched_ns, d);
        r.send_ns = shifted(r.send_ns, d);
        r.first_byte_ns = shifted(r.first_byte_ns, d);
        r.first_token_ns = shifted(r.first_token_ns, d);
        r.end_ns = shifted(r.end_ns, d);
        size_t c0 = r.chunk0;
        r.chunk0 = c;
        for (int q = 0; q < r.n_chunks; q++) {
            struct owb_serve_chunk x;
            memcpy(&x, &ch[c0 + (size_t)q], sizeof x);
            x.t_ns = shifted(x.t_ns, d);
            x.req = (uint32_t)j;
            m->chunks[c++] = x;
        }
        m->reqs[j] = r;
    }
    m->n = nreq;
    m->n_chunks = c;
    struct owb_serve_client *mc = &m->client;
    for (int i = 0; i < n; i++) {
        const struct owb_serve_client *x = &h[i].client;
        for (int t = 0; t < x->threads && t < 64; t++)
            if (mc->threads + t < 64) {
                mc->cpu_requested[mc->threads + t] = x->cpu_requested[t];
                mc->cpu_observed[mc->threads + t] = x->cpu_observed[t];
            }
        mc->threads += x->threads;
        mc->cpu_busy = maxd(mc->cpu_busy, x->cpu_busy);
        mc->dispatch_lag_p99_ms = maxd(mc->dispatch_lag_p99_ms, x->dispatch_lag_p99_ms);
        mc->iter_p99_ms = maxd(mc->iter_p99_ms, x->iter_p99_ms);
        mc->iter_max_ms = maxd(mc->iter_max_ms, x->iter_max_ms);
        mc->wake_p99_ms = maxd(mc->wake_p99_ms, x->wake_p99_ms);
        mc->events += x->events;
        mc->bytes += x->bytes;
        mc->wall_s = maxd(mc->wall_s, x->wall_s);
        mc->chunks_dropped += x->chunks_dropped;
        mc->runq_wait_ms = maxd(mc->runq_wait_ms, x->runq_wait_ms);
        mc->runq_wait_frac = maxd(mc->runq_wait_frac, x->runq_wait_frac);
        m->wall_s = maxd(m->wall_s, h[i].wall_s);
        m->truncated = m->truncated || h[i].truncated;
    }
    m->t0_mono_ns = n > 0 ? h[0].t0_mono_ns : 0;
    free(refs);
    free(h);
    *out = m;
    return OWB_OK;
fail:
    if (rc == OWB_E_NOMEM)
        snprintf(err, OWB_ERR_MAX, "out of memory merging %zu requests", nreq);
    owb_serve_run_free(m);
    free(refs);
    free(h);
    return rc;
}
