/* SPDX-License-Identifier: MIT */
/*
 * pool.c: the fork-join pool (runtime/pool.h). The owner publishes (fn, ctx) and signals the
 * start event; workers wait on it (spin, then sleep), run their share and count themselves done;
 * the last one signals the done event the owner waits on after running tid 0 itself.
 */
#define _GNU_SOURCE /* CPU_ALLOC, pthread_*affinity_np */
#include "runtime/pool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/par.h"

/* Polls before sleeping: enough to cover back-to-back regions of a benchmark loop without burning
 * a core for long when the owner is busy elsewhere. */
#define POOL_SPINS 4096

struct worker {
    struct owb_rt_pool *pool;
    pthread_t th;
    int tid;
};

struct owb_rt_pool {
    struct owb_event start; /* generation bumped per region (and to stop) */
    struct owb_event done;  /* bumped by the last worker to finish a region */
    _Alignas(64) _Atomic int ndone;
    int n;
    int nstarted; /* worker threads created (tids 1..nstarted) */
    owb_rt_fn fn; /* published before the start signal */
    void *ctx;
    _Atomic int stop;
    struct worker *w;
    cpu_set_t *saved_aff; /* owner's affinity before the pool pinned it */
    size_t saved_sz;
    int owner_pinned;
    bool sync_ok;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct owb_rt_pool *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        seen = owb_event_wait(&p->start, seen, POOL_SPINS);
        if (atomic_load(&p->stop))
            break;
        p->fn(p->ctx, w->tid, p->n);
        if (atomic_fetch_add(&p->ndone, 1) + 1 == p->n - 1)
            owb_event_signal(&p->done);
    }
    return NULL;
}

static void stop_workers(struct owb_rt_pool *p)
{
    atomic_store(&p->stop, 1);
    owb_event_signal(&p->start);
    for (int i = 1; i <= p->nstarted; i++)
        pthread_join(p->w[i].th, NULL);
    p->nstarted = 0;
}

static void pool_destroy(struct owb_rt_pool *p)
{
    if (p->sync_ok) {
        stop_workers(p);
        owb_event_release(&p->done);
        owb_event_release(&p->start);
    }
    if (p->owner_pinned)
        pthread_setaffinity_np(pthread_self(), p->saved_sz, p->saved_aff);
    if (p->saved_aff)
        CPU_FREE(p->saved_aff);
    free(p->w);
    free(p);
}

struct owb_rt_pool *owb_rt_pool_new(int n, const int *cpus, char err[OWB_ERR_MAX])
{
    struct owb_rt_pool *p = NULL;
    cpu_set_t *one = NULL;
    pthread_attr_t attr;
    int attr_ok = 0;

    if (n < 1) {
        snprintf(err, OWB_ERR_MAX, "a thread pool needs at least 1 thread (got %d)", n);
        return NULL;
    }
    p = aligned_alloc(64, (sizeof *p + 63) / 64 * 64);
    if (!p)
        goto nomem;
    memset(p, 0, sizeof *p);
    p->n = n;
    p->w = calloc((size_t)n, sizeof *p->w);
    if (!p->w)
        goto nomem;
    for (int i = 0; i < n; i++) {
        p->w[i].pool = p;
        p->w[i].tid = i;
    }
    if (owb_event_init(&p->start) != 0)
        goto sys;
    if (owb_event_init(&p->done) != 0) {
        owb_event_release(&p->start);
        goto sys;
    }
    p->sync_ok = true;

    /* The owner's affinity now: unpinned workers get it, and owb_rt_pool_free restores it. */
    for (int ncpu = 1024; ncpu <= (1 << 20); ncpu *= 2) {
        p->saved_sz = CPU_ALLOC_SIZE((size_t)ncpu);
        p->saved_aff = CPU_ALLOC((size_t)ncpu);
        if (!p->saved_aff)
            goto nomem;
        if (pthread_getaffinity_np(pthread_self(), p->saved_sz, p->saved_aff) == 0)
            break;
        CPU_FREE(p->saved_aff);
        p->saved_aff = NULL;
    }
    if (!p->saved_aff) {
        snprintf(err, OWB_ERR_MAX, "cannot read the calling thread's CPU affinity");
        goto fail;
    }
    one = CPU_ALLOC(8 * p->saved_sz); /* same capacity as saved_aff */
    if (!one)
        goto nomem;

    if (pthread_attr_init(&attr) != 0)
        goto sys;
    attr_ok = 1;
    for (int i = 1; i < n; i++) {
        int req = cpus ? cpus[i] : -1, rc;
        if (req >= 0) {
            if ((size_t)req >= 8 * p->saved_sz) {
                snprintf(err, OWB_ERR_MAX,
                         "cannot pin worker %d to CPU %d: beyond the %zu CPUs "
                         "of the affinity mask",
                         i, req, 8 * p->saved_sz);
                goto fail;
            }
            CPU_ZERO_S(p->saved_sz, one);
            CPU_SET_S((size_t)req, p->saved_sz, one);
            rc = pthread_attr_setaffinity_np(&attr, p->saved_sz, one);
        } else {
            rc = pthread_attr_setaffinity_np(&attr, p->saved_sz, p->saved_aff);
        }
        if (rc == 0)
            rc = pthread_create(&p->w[i].th, &attr, worker_main, &p->w[i]);
        if (rc != 0) {
            if (req >= 0)
                snprintf(err, OWB_ERR_MAX, "cannot start worker %d pinned to CPU %d: %s", i, req,
                         strerror(rc));
            else
                snprintf(err, OWB_ERR_MAX, "cannot start worker %d: %s", i, strerror(rc));
            goto fail;
        }
        p->nstarted = i;
    }
    if (cpus && cpus[0] >= 0) {
        int req = cpus[0], rc = EINVAL;
        if ((size_t)req < 8 * p->saved_sz) {
            CPU_ZERO_S(p->saved_sz, one);
            CPU_SET_S((size_t)req, p->saved_sz, one);
            rc = pthread_setaffinity_np(pthread_self(), p->saved_sz, one);
        }
        if (rc != 0) {
            snprintf(err, OWB_ERR_MAX, "cannot pin the calling thread (worker 0) to CPU %d: %s",
                     req, strerror(rc));
            goto fail;
        }
        p->owner_pinned = 1;
    }
    pthread_attr_destroy(&attr);
    CPU_FREE(one);
    return p;

nomem:
    snprintf(err, OWB_ERR_MAX, "out of memory creating a pool of %d threads", n);
    goto fail;
sys:
    snprintf(err, OWB_ERR_MAX, "cannot create the pool's synchronisation objects: %s",
             strerror(errno));
fail:
    if (attr_ok)
        pthread_attr_destroy(&attr);
    if (one)
        CPU_FREE(one);
    if (p)
        pool_destroy(p);
    return NULL;
}

void owb_rt_pool_free(struct owb_rt_pool *p)
{
    if (p)
        pool_destroy(p);
}

int owb_rt_pool_size(const struct owb_rt_pool *p)
{
    return p->n;
}

void owb_rt_pool_run(struct owb_rt_pool *p, owb_rt_fn fn, void *ctx)
{
    p->fn = fn;
    p->ctx = ctx;
    if (p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    atomic_store(&p->ndone, 0);
    const unsigned seen = owb_event_gen(&p->done);
    owb_event_signal(&p->start);
    fn(ctx, 0, p->n);
    owb_event_wait(&p->done, seen, POOL_SPINS);
}
