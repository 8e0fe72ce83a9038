/* SPDX-License-Identifier: MIT */
/*
 * pool.c: the pinned fork-join pool of the measurement core (bench/core/pool.h) on the runtime's
 * pool (runtime/pool.h: threads, pinning, the spin-then-sleep start and done events). This layer
 * adds what a measurement needs: each worker records sched_getcpu() at the start and end of every
 * region (requested vs observed CPUs, migrations), and each region is counted in a process total
 * that libsde exports as sde:::owbench::regions when PAPI SDE support is compiled in.
 */
#define _GNU_SOURCE
#include "bench/core/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "owb_config.h"
#include "runtime/pool.h"

#if OWB_HAVE_SDE
#include <sde_lib.h>
#endif

#define OWB_POOL_PAGE 4096

struct owb_worker {
    _Alignas(64) int cpu_req; /* requested CPU, -1 unpinned; one cache line per worker */
    int cpu_before;           /* sched_getcpu() at the start of the last region */
    int cpu_after;            /* ... and at its end */
    int migrated;             /* sticky until owb_pool_reset_migrations */
    int kept_before, kept_after, kept_migrated; /* owb_pool_keep_observed */
};

struct owb_pool {
    int n;
    struct owb_rt_pool *rt;
    struct owb_worker *w;
    owb_pool_fn fn; /* the caller's region body */
    void *ctx;
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

static void run_region(void *arg, int tid, int nthreads)
{
    struct owb_pool *p = arg;
    struct owb_worker *w = &p->w[tid];
    w->cpu_before = sched_getcpu();
    p->fn(p->ctx, tid, nthreads);
    w->cpu_after = sched_getcpu();
    if (w->cpu_req >= 0 ? (w->cpu_before != w->cpu_req || w->cpu_after != w->cpu_req)
                        : w->cpu_before != w->cpu_after)
        w->migrated = 1;
}

struct owb_pool *owb_pool_new(int n, const int *cpus, char err[OWB_ERR_MAX])
{
    if (n < 1) {
        snprintf(err, OWB_ERR_MAX, "a thread pool needs at least 1 thread (got %d)", n);
        return NULL;
    }
    struct owb_pool *p = calloc(1, sizeof *p);
    if (p)
        p->w = aligned_alloc(64, (size_t)n * sizeof *p->w);
    if (!p || !p->w) {
        free(p);
        snprintf(err, OWB_ERR_MAX, "out of memory creating a pool of %d threads", n);
        return NULL;
    }
    memset(p->w, 0, (size_t)n * sizeof *p->w);
    p->n = n;
    for (int i = 0; i < n; i++) {
        p->w[i].cpu_req = cpus ? cpus[i] : -1;
        p->w[i].cpu_before = p->w[i].cpu_after = -1;
    }
    p->rt = owb_rt_pool_new(n, cpus, err);
    if (!p->rt) {
        free(p->w);
        free(p);
        return NULL;
    }
    return p;
}

void owb_pool_free(struct owb_pool *p)
{
    if (!p)
        return;
    owb_rt_pool_free(p->rt);
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
    owb_rt_pool_run(p->rt, run_region, p);
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

void owb_pool_keep_observed(struct owb_pool *p)
{
    for (int i = 0; i < p->n; i++) {
        p->w[i].kept_before = p->w[i].cpu_before;
        p->w[i].kept_after = p->w[i].cpu_after;
        p->w[i].kept_migrated = p->w[i].migrated;
    }
}

void owb_pool_restore_observed(struct owb_pool *p)
{
    for (int i = 0; i < p->n; i++) {
        p->w[i].cpu_before = p->w[i].kept_before;
        p->w[i].cpu_after = p->w[i].kept_after;
        p->w[i].migrated = p->w[i].kept_migrated;
    }
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
