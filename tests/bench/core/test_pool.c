/* SPDX-License-Identifier: MIT */
/* OWB_TEST_LABELS: tsan */
/*
 * test_pool.c: the pinned pool: static slices cover [0, n) exactly with aligned boundaries,
 * parallel sums match the closed form, the end-of-region barrier holds over thousands of regions,
 * pinned workers run on their CPUs and the pinning record has the documented shape, first-touch
 * buffers, error for an impossible CPU, and the caller's affinity restored after free.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "bench/core/pool.h"
#include "bench/core/topo.h"
#include "owb_test.h"

#define MAXW 8
#define NREGIONS 2000

static void test_slice(void)
{
    static const int64_t ns[] = {0, 1, 7, 64, 100, 1000, 4097};
    static const int64_t aligns[] = {1, 4, 16, 64};
    for (size_t a = 0; a < OWB_ARRAY_LEN(ns); a++)
        for (size_t b = 0; b < OWB_ARRAY_LEN(aligns); b++)
            for (int nt = 1; nt <= 7; nt++) {
                int64_t n = ns[a], al = aligns[b], next = 0, minsz = INT64_MAX, maxsz = 0;
                for (int tid = 0; tid < nt; tid++) {
                    int64_t lo, hi;
                    owb_pool_slice(n, al, tid, nt, &lo, &hi);
                    CHECK_MSG(lo == next, "n %lld align %lld nt %d tid %d: lo %lld, want %lld",
                              (long long)n, (long long)al, nt, tid, (long long)lo, (long long)next);
                    CHECK(hi >= lo);
                    CHECK_MSG(lo % al == 0 || lo == n, "lo %lld not aligned to %lld", (long long)lo,
                              (long long)al);
                    CHECK_MSG(hi % al == 0 || hi == n, "hi %lld not aligned to %lld", (long long)hi,
                              (long long)al);
                    next = hi;
                    int64_t sz = hi - lo;
                    minsz = sz < minsz ? sz : minsz;
                    maxsz = sz > maxsz ? sz : maxsz;
                }
                CHECK_MSG(next == n, "n %lld align %lld nt %d: slices end at %lld", (long long)n,
                          (long long)al, nt, (long long)next);
                /* Balanced to within one aligned block. */
                CHECK_MSG(maxsz - minsz <= al, "n %lld align %lld nt %d: sizes %lld..%lld",
                          (long long)n, (long long)al, nt, (long long)minsz, (long long)maxsz);
            }
}

struct sum_ctx {
    int64_t partial[MAXW * 8]; /* one slot per worker, 64 bytes apart */
    int calls[MAXW * 8];
};

static void sum_range(void *arg, int64_t lo, int64_t hi, int tid)
{
    struct sum_ctx *s = arg;
    int64_t acc = 0;
    for (int64_t i = lo; i < hi; i++)
        acc += i;
    s->partial[tid * 8] += acc;
    s->calls[tid * 8]++;
}

struct barrier_ctx {
    _Atomic int slot[MAXW];
    _Atomic int errors;
    int region;
};

/* In region r every worker first sees all others at r-1 or r (never behind: the previous region's
 * barrier held), then marks itself r. */
static void barrier_body(void *arg, int tid, int nthreads)
{
    struct barrier_ctx *b = arg;
    for (int j = 0; j < nthreads; j++) {
        int v = atomic_load(&b->slot[j]);
        if (v < b->region - 1 || v > b->region)
            atomic_fetch_add(&b->errors, 1);
    }
    atomic_store(&b->slot[tid], b->region);
}

static void run_pool_checks(struct owb_pool *p, const int *cpus, int n)
{
    /* Sums: 0 + 1 + ... + (N-1) in parallel. */
    const int64_t N = 1000003;
    struct sum_ctx s;
    memset(&s, 0, sizeof s);
    owb_pool_parallel_for(p, N, 64, sum_range, &s);
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        total += s.partial[i * 8];
        CHECK_MSG(s.calls[i * 8] == 1, "worker %d called %d times", i, s.calls[i * 8]);
    }
    CHECK_MSG(total == N * (N - 1) / 2, "sum %lld", (long long)total);

    /* Barrier over many regions. */
    struct barrier_ctx b;
    memset(&b, 0, sizeof b);
    long long before = owb_pool_regions_total();
    for (int r = 1; r <= NREGIONS; r++) {
        b.region = r;
        owb_pool_run(p, barrier_body, &b);
        for (int j = 0; j < n; j++)
            if (atomic_load(&b.slot[j]) != r)
                atomic_fetch_add(&b.errors, 1);
    }
    CHECK_MSG(atomic_load(&b.errors) == 0, "%d barrier violations", atomic_load(&b.errors));
    CHECK(owb_pool_regions_total() - before == NREGIONS);

    /* Pinning record. */
    cJSON *j = owb_pinning_to_json("compact", p);
    CHECK(j != NULL);
    if (j) {
        CHECK(!strcmp(cJSON_GetObjectItem(j, "policy")->valuestring, "compact"));
        cJSON *req = cJSON_GetObjectItem(j, "requested");
        cJSON *bef = cJSON_GetObjectItem(j, "observed_before");
        cJSON *aft = cJSON_GetObjectItem(j, "observed_after");
        CHECK(cJSON_GetArraySize(req) == n && cJSON_GetArraySize(bef) == n &&
              cJSON_GetArraySize(aft) == n);
        CHECK(cJSON_IsBool(cJSON_GetObjectItem(j, "migrated")));
        for (int i = 0; i < n; i++) {
            int want = cpus ? cpus[i] : -1;
            CHECK(cJSON_GetArrayItem(req, i)->valueint == want);
            CHECK(owb_pool_cpu_requested(p, i) == want);
            if (cpus) {
                /* A pinned worker can only run on its CPU. */
                CHECK_MSG(owb_pool_cpu_before(p, i) == cpus[i], "worker %d ran on %d, pinned %d", i,
                          owb_pool_cpu_before(p, i), cpus[i]);
                CHECK(owb_pool_cpu_after(p, i) == cpus[i]);
            } else {
                CHECK(owb_pool_cpu_before(p, i) >= 0);
            }
        }
        if (cpus)
            CHECK(cJSON_IsFalse(cJSON_GetObjectItem(j, "migrated")) && !owb_pool_migrated(p));
        cJSON_Delete(j);
    }
    owb_pool_reset_migrations(p);
    CHECK(!owb_pool_migrated(p));

    /* First-touch buffers: one per worker, page aligned, zeroed, distinct. */
    void *bufs[MAXW] = {0};
    CHECK(owb_pool_alloc_local(p, 10000, bufs) == OWB_OK);
    for (int i = 0; i < n; i++) {
        CHECK(bufs[i] != NULL && ((uintptr_t)bufs[i] % 4096) == 0);
        const unsigned char *c = bufs[i];
        int nz = 0;
        for (int k = 0; k < 10000; k++)
            nz |= c[k];
        CHECK(nz == 0);
        for (int k = 0; k < i; k++)
            CHECK(bufs[k] != bufs[i]);
    }
    for (int i = 0; i < n; i++)
        free(bufs[i]);
}

static int same_affinity(const cpu_set_t *a)
{
    cpu_set_t now;
    CPU_ZERO(&now);
    pthread_getaffinity_np(pthread_self(), sizeof now, &now);
    return CPU_EQUAL(a, &now);
}

int main(void)
{
    char err[OWB_ERR_MAX] = "";
    cpu_set_t orig;
    CPU_ZERO(&orig);
    CHECK(pthread_getaffinity_np(pthread_self(), sizeof orig, &orig) == 0);

    test_slice();

    /* Pinned pool on this machine's compact plan (up to 4 workers). */
    struct owb_topo *t = owb_topo_new(NULL, err);
    CHECK_MSG(t != NULL, "%s", err);
    if (t) {
        int cpus[1024], n = 0, want = owb_topo_npus(t) < 4 ? owb_topo_npus(t) : 4;
        CHECK(owb_topo_pin_plan(t, "compact", want, cpus, &n, err) == OWB_OK);
        struct owb_pool *p = owb_pool_new(n, cpus, err);
        CHECK_MSG(p != NULL, "%s", err);
        if (p) {
            CHECK(owb_pool_size(p) == n);
            run_pool_checks(p, cpus, n);
            owb_pool_free(p);
        }
        CHECK_MSG(same_affinity(&orig), "caller affinity not restored after a pinned pool");
        owb_topo_free(t);
    }

    /* Unpinned pools, more threads than CPUs, and the one-thread pool. */
    for (int n = 1; n <= 5; n += 2) {
        struct owb_pool *p = owb_pool_new(n, NULL, err);
        CHECK_MSG(p != NULL, "%s", err);
        if (p) {
            run_pool_checks(p, NULL, n);
            owb_pool_free(p);
        }
    }

    /* A CPU that cannot exist is an error naming it. */
    int bad[2] = {0, 100000};
    struct owb_pool *p = owb_pool_new(2, bad, err);
    CHECK(p == NULL);
    CHECK_MSG(strstr(err, "100000") != NULL, "%s", err);
    CHECK(owb_pool_new(0, NULL, err) == NULL);
    CHECK_MSG(same_affinity(&orig), "caller affinity changed by a failed pool");
    owb_pool_free(NULL);
    TEST_DONE();
}
