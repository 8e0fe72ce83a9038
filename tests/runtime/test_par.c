/* SPDX-License-Identifier: MIT */
/*
 * test_par.c: the runtime layer (runtime/par.h, runtime/pool.h): a pool's region runs every tid
 * once, concurrently (threads meet at a barrier inside it); the barrier orders writes across many
 * rounds; owb_grab hands out [0, n) exactly once in ranges aligned as asked; owb_slice covers
 * [0, n) in order; a one-thread pool runs on the caller.
 */
#include <stdatomic.h>
#include <string.h>

#include "owb_test.h"
#include "runtime/par.h"
#include "runtime/pool.h"

#define NTH 4
#define ROUNDS 500
#define N_ITEMS 100003

struct ctx {
    struct owb_barrier bar;
    int seen[NTH];
    int round_val[NTH];
    int errors;
    _Atomic int64_t counter;
    unsigned char *hits;
    _Atomic int bad_align;
};

static void region(void *p, int tid, int nth)
{
    struct ctx *c = p;
    c->seen[tid]++;
    for (int r = 0; r < ROUNDS; r++) {
        c->round_val[tid] = r;
        owb_barrier_wait(&c->bar, nth);
        for (int t = 0; t < nth; t++) /* every thread wrote this round before the barrier */
            if (c->round_val[t] != r)
                c->errors++; /* benign race on the counter: only 0 matters */
        owb_barrier_wait(&c->bar, nth);
    }
    int64_t lo, hi;
    while (owb_grab(&c->counter, N_ITEMS, 32, 16, nth, &lo, &hi)) {
        if (lo % 16 != 0)
            atomic_store(&c->bad_align, 1);
        for (int64_t i = lo; i < hi; i++)
            c->hits[i]++;
    }
}

int main(void)
{
    char err[OWB_ERR_MAX];
    static _Alignas(64) struct ctx c;
    CHECK(owb_barrier_init(&c.bar) == 0);
    c.hits = calloc(N_ITEMS, 1);
    CHECK(c.hits != NULL);
    struct owb_rt_pool *p = owb_rt_pool_new(NTH, NULL, err);
    CHECK_MSG(p != NULL, "%s", err);
    if (p && c.hits) {
        CHECK(owb_rt_pool_size(p) == NTH);
        for (int rep = 0; rep < 3; rep++) {
            atomic_store(&c.counter, 0);
            memset(c.hits, 0, N_ITEMS);
            owb_rt_pool_run(p, region, &c);
            for (int64_t i = 0; i < N_ITEMS; i++)
                if (c.hits[i] != 1) {
                    CHECK_MSG(0, "item %lld taken %d times", (long long)i, c.hits[i]);
                    break;
                }
        }
        for (int t = 0; t < NTH; t++)
            CHECK(c.seen[t] == 3);
        CHECK(c.errors == 0);
        CHECK(atomic_load(&c.bad_align) == 0);
    }
    owb_rt_pool_free(p);
    /* one thread: the caller runs the region */
    struct owb_rt_pool *p1 = owb_rt_pool_new(1, NULL, err);
    CHECK(p1 != NULL);
    if (p1) {
        memset(c.seen, 0, sizeof c.seen);
        atomic_store(&c.counter, 0);
        memset(c.hits, 0, N_ITEMS);
        owb_rt_pool_run(p1, region, &c);
        CHECK(c.seen[0] == 1 && c.hits[0] == 1 && c.hits[N_ITEMS - 1] == 1);
    }
    owb_rt_pool_free(p1);
    CHECK(owb_rt_pool_new(0, NULL, err) == NULL && strstr(err, "at least 1") != NULL);
    /* slices */
    int64_t prev = 0;
    for (int t = 0; t < 5; t++) {
        int64_t lo, hi;
        owb_slice(1000, 16, t, 5, &lo, &hi);
        CHECK(lo == prev && hi >= lo && (hi == 1000 || hi % 16 == 0));
        prev = hi;
    }
    CHECK(prev == 1000);
    owb_barrier_release(&c.bar);
    free(c.hits);
    TEST_DONE();
}
