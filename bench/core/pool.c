/* SPDX-License-Identifier: MIT */
/*
 * pool.c: the pinned fork-join pool. The owner publishes (fn, ctx) and bumps a generation counter;
 * workers spin briefly on it, then sleep on a condition variable, run their share, record
 * sched_getcpu() around it and count themselves done; the owner runs tid 0 itself and waits the
 * same way. Sleeping is announced through an atomic counter that the waker reads after its own
 * atomic store (both sequentially consistent), so a wake-up can never fall between a waiter's last
 * check and its sleep, and the fast path takes no lock. Each region is also counted in a process
 * total that libsde exports as sde:::owbench::regions when PAPI SDE support is compiled in.
 */
#define _GNU_SOURCE
#include "bench/core/pool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "owb_config.h"

#if OWB_HAVE_SDE
#include <sde_lib.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* Polls before sleeping: enough to cover back-to-back regions of a benchmark loop without burning
 * a core for long when the owner is busy elsewhere. */
#define OWB_POOL_SPINS 4096
#define OWB_POOL_PAGE 4096

struct owb_worker {
    _Alignas(64) struct owb_pool *pool; /* one cache line per worker: no false sharing */
    pthread_t th;
    int tid;
    int cpu_req;    /* requested CPU, -1 unpinned */
    int cpu_before; /* sched_getcpu() at the start of the last region */
    int cpu_after;  /* ... and at its end */
    int migrated;   /* sticky until owb_pool_reset_migrations */
};

struct owb_pool {
    int n;
    int nstarted; /* worker threads created (tids 1..nstarted) */
    struct owb_worker *w;
    owb_pool_fn fn; /* published before the generation bump */
    void *ctx;
    _Atomic unsigned gen;
    _Atomic int done;
    _Atomic int stop;
    _Atomic int sleepers;       /* workers waiting on cv_start */
    _Atomic int owner_sleeping; /* owner waiting on cv_done */
    pthread_mutex_t mu;
    pthread_cond_t cv_start, cv_done;
    cpu_set_t *saved_aff; /* owner's affinity before the pool pinned it */
    size_t saved_sz;
    int owner_pinned;
};

static _Atomic long long g_regions;

#if OWB_HAVE_SDE
static long long sde_regions_read(void *arg)
{
    (void)arg;
    return atomic_load(&g_regions);
}

/* Registered only when an sde:::owbench:: event is asked for: libsde 7.0 loses a small copy of
 * each counter name, which LeakSanitizer would report in every program that made a pool. */
static void sde_register(void)
{
    papi_handle_t h = papi_sde_init("owbench");
    if (!h)
        return;
    papi_sde_register_counter_cb(h, "regions", PAPI_SDE_RO | PAPI_SDE_DELTA, PAPI_SDE_long_long,
                                 sde_regions_read, NULL);
    papi_sde_describe_counter(h, "regions", "parallel regions run by owbench thread pools");
}

static pthread_once_t sde_once = PTHREAD_ONCE_INIT;
#endif

void owb_pool_sde_init(void)
{
#if OWB_HAVE_SDE
    pthread_once(&sde_once, sde_register);
#endif
}

long long owb_pool_regions_total(void)
{
    return atomic_load(&g_regions);
}

static void run_region(struct owb_pool *p, struct owb_worker *w)
{
    w->cpu_before = sched_getcpu();
    p->fn(p->ctx, w->tid, p->n);
    w->cpu_after = sched_getcpu();
    if (w->cpu_req >= 0 ? (w->cpu_before != w->cpu_req || w->cpu_after != w->cpu_req)
                        : w->cpu_before != w->cpu_after)
        w->migrated = 1;
}

static void *worker_main(void *arg)
{
    struct owb_worker *w = arg;
    struct owb_pool *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load(&p->gen)) == seen && spins < OWB_POOL_SPINS) {
            CPU_RELAX();
            spins++;
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while ((g = atomic_load(&p->gen)) == seen)
                pthread_cond_wait(&p->cv_start, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        seen = g;
        if (atomic_load(&p->stop))
            break;
        run_region(p, w);
        if (atomic_fetch_add(&p->done, 1) + 1 == p->n - 1 && atomic_load(&p->owner_sleeping)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_broadcast(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

/* Bump the generation and wake sleeping workers. */
static void release_workers(struct owb_pool *p)
{
    atomic_fetch_add(&p->gen, 1);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv_start);
        pthread_mutex_unlock(&p->mu);
    }
}

static void wait_workers(struct owb_pool *p)
{
    int target = p->n - 1;
    for (int spins = 0; spins < OWB_POOL_SPINS; spins++) {
        if (atomic_load(&p->done) == target)
            return;
        CPU_RELAX();
    }
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->owner_sleeping, 1);
    while (atomic_load(&p->done) != target)
        pthread_cond_wait(&p->cv_done, &p->mu);
    atomic_store(&p->owner_sleeping, 0);
    pthread_mutex_unlock(&p->mu);
}

static void stop_workers(struct owb_pool *p)
{
    atomic_store(&p->stop, 1);
    release_workers(p);
    for (int i = 1; i <= p->nstarted; i++)
        pthread_join(p->w[i].th, NULL);
    p->nstarted = 0;
}

struct owb_pool *owb_pool_new(int n, const int *cpus, char err[OWB_ERR_MAX])
{
    struct owb_pool *p = NULL;
    cpu_set_t *one = NULL;
    pthread_attr_t attr;
    int attr_ok = 0, sync_ok = 0;

    if (n < 1) {
        snprintf(err, OWB_ERR_MAX, "a thread pool needs at least 1 thread (got %d)", n);
        return NULL;
    }
    p = calloc(1, sizeof *p);
    if (!p)
        goto nomem;
    p->n = n;
    p->w = aligned_alloc(64, (size_t)n * sizeof *p->w);
    if (!p->w)
        goto nomem;
    memset(p->w, 0, (size_t)n * sizeof *p->w);
    for (int i = 0; i < n; i++) {
        p->w[i].pool = p;
        p->w[i].tid = i;
        p->w[i].cpu_req = cpus ? cpus[i] : -1;
        p->w[i].cpu_before = p->w[i].cpu_after = -1;
    }
    if (pthread_mutex_init(&p->mu, NULL) != 0)
        goto sys;
    if (pthread_cond_init(&p->cv_start, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        goto sys;
    }
    if (pthread_cond_init(&p->cv_done, NULL) != 0) {
        pthread_cond_destroy(&p->cv_start);
        pthread_mutex_destroy(&p->mu);
        goto sys;
    }
    sync_ok = 1;

    /* The owner's affinity now: unpinned workers get it, and owb_pool_free restores it. */
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
        int req = p->w[i].cpu_req, rc;
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
    if (p->w[0].cpu_req >= 0) {
        int req = p->w[0].cpu_req, rc = EINVAL;
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
    if (p) {
        if (sync_ok) {
            stop_workers(p);
            pthread_cond_destroy(&p->cv_done);
            pthread_cond_destroy(&p->cv_start);
            pthread_mutex_destroy(&p->mu);
        }
        if (p->saved_aff)
            CPU_FREE(p->saved_aff);
        free(p->w);
        free(p);
    }
    return NULL;
}

void owb_pool_free(struct owb_pool *p)
{
    if (!p)
        return;
    stop_workers(p);
    if (p->owner_pinned)
        pthread_setaffinity_np(pthread_self(), p->saved_sz, p->saved_aff);
    pthread_cond_destroy(&p->cv_done);
    pthread_cond_destroy(&p->cv_start);
    pthread_mutex_destroy(&p->mu);
    CPU_FREE(p->saved_aff);
    free(p->w);
    free(p);
}

int owb_pool_size(const struct owb_pool *p)
{
    return p->n;
}

void owb_pool_run(struct owb_pool *p, owb_pool_fn fn, void *ctx)
{
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->done, 0);
    if (p->n > 1)
        release_workers(p);
    run_region(p, &p->w[0]);
    if (p->n > 1)
        wait_workers(p);
    atomic_fetch_add(&g_regions, 1);
}

void owb_pool_slice(int64_t n, int64_t align, int tid, int nthreads, int64_t *lo, int64_t *hi)
{
    if (align < 1)
        align = 1;
    if (n <= 0 || nthreads < 1 || tid < 0 || tid >= nthreads) {
        *lo = *hi = n > 0 ? n : 0;
        return;
    }
    /* Whole blocks of `align` items, spread as evenly as possible; the last (nblocks % nthreads)
     * slices get one block more, so the short final block lands on a longer slice and slice sizes
     * differ by at most `align` items. */
    int64_t nblocks = (n + align - 1) / align;
    int64_t base = nblocks / nthreads, extra = nblocks % nthreads;
    int64_t first_long = nthreads - extra; /* tids >= first_long get base + 1 blocks */
    int64_t b0 = tid * base + (tid > first_long ? tid - first_long : 0);
    int64_t b1 = b0 + base + (tid >= first_long ? 1 : 0);
    *lo = b0 * align < n ? b0 * align : n;
    *hi = b1 * align < n ? b1 * align : n;
}

int owb_pool_cpu_before(const struct owb_pool *p, int tid)
{
    return tid >= 0 && tid < p->n ? p->w[tid].cpu_before : -1;
}

int owb_pool_cpu_after(const struct owb_pool *p, int tid)
{
    return tid >= 0 && tid < p->n ? p->w[tid].cpu_after : -1;
}

int owb_pool_cpu_requested(const struct owb_pool *p, int tid)
{
    return tid >= 0 && tid < p->n ? p->w[tid].cpu_req : -1;
}

bool owb_pool_migrated(const struct owb_pool *p)
{
    for (int i = 0; i < p->n; i++)
        if (p->w[i].migrated)
            return true;
    return false;
}

void owb_pool_reset_migrations(struct owb_pool *p)
{
    for (int i = 0; i < p->n; i++)
        p->w[i].migrated = 0;
}

struct range_ctx {
    int64_t n, align;
    owb_pool_range_fn fn;
    void *ctx;
};

static void range_body(void *arg, int tid, int nthreads)
{
    const struct range_ctx *r = arg;
    int64_t lo, hi;
    owb_pool_slice(r->n, r->align, tid, nthreads, &lo, &hi);
    if (lo < hi)
        r->fn(r->ctx, lo, hi, tid);
}

void owb_pool_parallel_for(struct owb_pool *p, int64_t n, int64_t align, owb_pool_range_fn fn,
                           void *ctx)
{
    struct range_ctx r = {n, align, fn, ctx};
    owb_pool_run(p, range_body, &r);
}

struct local_ctx {
    void **bufs;
    size_t bytes;
};

static void touch_body(void *arg, int tid, int nthreads)
{
    const struct local_ctx *l = arg;
    (void)nthreads;
    memset(l->bufs[tid], 0, l->bytes);
}

int owb_pool_alloc_local(struct owb_pool *p, size_t bytes, void **bufs)
{
    size_t rounded = (bytes + OWB_POOL_PAGE - 1) / OWB_POOL_PAGE * OWB_POOL_PAGE;
    if (!rounded)
        rounded = OWB_POOL_PAGE;
    for (int i = 0; i < p->n; i++) {
        bufs[i] = aligned_alloc(OWB_POOL_PAGE, rounded);
        if (!bufs[i]) {
            for (int j = 0; j < i; j++) {
                free(bufs[j]);
                bufs[j] = NULL;
            }
            return OWB_E_NOMEM;
        }
    }
    struct local_ctx l = {bufs, bytes};
    owb_pool_run(p, touch_body, &l);
    return OWB_OK;
}

cJSON *owb_pinning_to_json(const char *policy, const struct owb_pool *p)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (!cJSON_AddStringToObject(o, "policy", policy ? policy : "none"))
        goto fail;
    if (!p)
        return o;
    cJSON *req = cJSON_AddArrayToObject(o, "requested");
    cJSON *bef = cJSON_AddArrayToObject(o, "observed_before");
    cJSON *aft = cJSON_AddArrayToObject(o, "observed_after");
    if (!req || !bef || !aft)
        goto fail;
    for (int i = 0; i < p->n; i++) {
        cJSON_AddItemToArray(req, cJSON_CreateNumber(p->w[i].cpu_req));
        cJSON_AddItemToArray(bef, cJSON_CreateNumber(p->w[i].cpu_before));
        cJSON_AddItemToArray(aft, cJSON_CreateNumber(p->w[i].cpu_after));
    }
    if (!cJSON_AddBoolToObject(o, "migrated", owb_pool_migrated(p)))
        goto fail;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}
