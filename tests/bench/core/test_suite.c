/* SPDX-License-Identifier: MIT */
/*
 * test_suite.c: the spread validity rule of owb_suite_finish is the one measure.h, suite.h and
 * results/SCHEMA.md state: (p90 - p50) / p50 above max_rel_spread marks the benchmark not valid
 * with a "high spread" note. A wide fast tail (which (p90 - p10) / median would flag) keeps it
 * valid; a slow tail above the threshold does not; max_rel_spread = 0 turns the rule off.
 * The descheduling rule: a timed loop whose threads waited for a CPU more than
 * OWB_SUITE_MAX_RUNQ_WAIT of its wall time is not valid ("descheduled"), below it stays valid, an
 * unknown wait (-1) is no verdict; and the run-queue reader sees real waiting: two busy threads on
 * one CPU for 0.3 s wait about 0.15 s each.
 */
#define _GNU_SOURCE /* sched_setaffinity */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "bench/core/measure.h"
#include "bench/core/suite.h"
#include "owb_test.h"
#include "results/result.h"

static bool has_note(const cJSON *bench, const char *prefix)
{
    const cJSON *n;
    cJSON_ArrayForEach(n, cJSON_GetObjectItem(bench, "notes"))
    {
        if (cJSON_IsString(n) && strncmp(n->valuestring, prefix, strlen(prefix)) == 0)
            return true;
    }
    return false;
}

static double g_runq = -1; /* runq_wait_frac of the samples finish() gives */

/* Finish a benchmark over n samples; returns whether it stayed valid. */
static bool finish(double *ns, size_t n, double max_rel_spread, bool *high_spread)
{
    cJSON *doc = owb_result_new(0, NULL);
    OWB_ASSERT(doc);
    cJSON *b = owb_result_add_benchmark(doc, "case", "test");
    OWB_ASSERT(b);
    struct owb_measure_cfg cfg;
    owb_measure_cfg_default(&cfg);
    cfg.max_rel_spread = max_rel_spread;
    struct owb_samples s = {ns, n, g_runq};
    CHECK(owb_suite_finish(b, &s, &cfg, "none", NULL, NULL) == 0);
    bool valid = cJSON_IsTrue(cJSON_GetObjectItem(b, "valid"));
    *high_spread = has_note(b, "high spread");
    CHECK((g_runq > OWB_SUITE_MAX_RUNQ_WAIT) == has_note(b, "descheduled"));
    cJSON_Delete(doc);
    return valid;
}

static _Atomic int g_stop;

static void pin(int cpu)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    sched_setaffinity(0, sizeof one, &one);
}

static void *spin(void *arg)
{
    volatile uint64_t x = 0;
    pin(*(int *)arg);
    while (!g_stop)
        x++;
    return NULL;
}

int main(void)
{
    double ns[20];
    bool hs;

    /* descheduled: the same steady samples, valid or not by the run-queue wait */
    for (int i = 0; i < 20; i++)
        ns[i] = 100.0;
    g_runq = 0.01;
    CHECK(finish(ns, 20, 0.10, &hs));
    g_runq = 0.30;
    CHECK(!finish(ns, 20, 0.10, &hs));
    g_runq = -1;
    CHECK(finish(ns, 20, 0.10, &hs));

    /* the reader: two spinning threads pinned to one CPU each wait about half the time */
    const int64_t w0 = owb_runq_wait_ns();
    if (w0 < 0) {
        printf("skip the run-queue reader check: no /proc/self/task/<tid>/schedstat\n");
    } else {
        int cpu = sched_getcpu() >= 0 ? sched_getcpu() : 0;
        pthread_t th;
        pin(cpu);
        CHECK(pthread_create(&th, NULL, spin, &cpu) == 0);
        const uint64_t end = owb_now_ns() + 300000000ull;
        volatile uint64_t x = 0;
        while (owb_now_ns() < end)
            x++;
        const int64_t w1 = owb_runq_wait_ns(); /* the sibling still spins: its wait is counted */
        g_stop = 1;
        pthread_join(th, NULL);
        printf("run-queue wait while two threads shared CPU %d for 0.3 s: %.0f ms\n", cpu,
               (double)(w1 - w0) * 1e-6);
        CHECK_MSG(w1 - w0 > 100000000, "%.0f ms", (double)(w1 - w0) * 1e-6);
    }

    /* fast tail: 4 of 20 at 60, the rest at 100: (p90 - p10) / p50 = 40%, (p90 - p50) / p50 = 0 */
    for (int i = 0; i < 20; i++)
        ns[i] = i < 4 ? 60.0 : 100.0;
    CHECK(finish(ns, 20, 0.10, &hs));
    CHECK(!hs);

    /* slow tail: 4 of 20 at 150: p90 = 150, (p90 - p50) / p50 = 50% > 10% */
    for (int i = 0; i < 20; i++)
        ns[i] = i < 16 ? 100.0 : 150.0;
    CHECK(!finish(ns, 20, 0.10, &hs));
    CHECK(hs);
    /* the same samples with the threshold above their spread, and with the rule off */
    CHECK(finish(ns, 20, 0.60, &hs));
    CHECK(!hs);
    CHECK(finish(ns, 20, 0.0, &hs));
    CHECK(!hs);

    /* just over and just under: 4 of 20 at 111 (11%) and at 109 (9%) against 10% */
    for (int i = 0; i < 20; i++)
        ns[i] = i < 16 ? 100.0 : 111.0;
    CHECK(!finish(ns, 20, 0.10, &hs));
    CHECK(hs);
    for (int i = 0; i < 20; i++)
        ns[i] = i < 16 ? 100.0 : 109.0;
    CHECK(finish(ns, 20, 0.10, &hs));
    CHECK(!hs);
    TEST_DONE();
}
