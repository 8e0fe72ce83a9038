/* SPDX-License-Identifier: MIT */
/*
 * suite.c: the shared tail of every benchmark case (samples, stats, validity, pinning, counters)
 * and the option parsers the suites' commands share.
 */
#include "bench/core/suite.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/core/counters.h"
#include "bench/core/pool.h"
#include "results/result.h"
#include "results/stats.h"

int owb_suite_finish(cJSON *bench, const struct owb_samples *s, const struct owb_measure_cfg *cfg,
                     const char *policy, const struct owb_pool *pool,
                     const struct owb_counters *counters)
{
    struct owb_stats st;
    /* owb_result_set_samples applies the too-few-samples rule (OWB_RESULT_MIN_SAMPLES). */
    int rc = owb_result_set_samples(bench, "ns", s->ns, s->n);
    if (rc)
        return rc;
    rc = owb_stats_compute(s->ns, s->n, &st);
    if (rc)
        return rc;
    if (st.n > 0 && st.p50 > 0 && cfg->max_rel_spread > 0) {
        double spread = (st.p90 - st.p50) / st.p50;
        if (spread > cfg->max_rel_spread) {
            char why[160];
            snprintf(why, sizeof why, "high spread: (p90 - p50) / p50 = %.1f%% > %.1f%%",
                     100.0 * spread, 100.0 * cfg->max_rel_spread);
            owb_result_invalidate(bench, why);
        }
    }
    /* Threads that waited for a CPU during the timed loop: another process took the cores, and
     * the samples measure the share of the machine this run got, not the code. */
    if (s->runq_wait_frac >= 0) {
        owb_result_metric(bench, "runq_wait_pct", 100.0 * s->runq_wait_frac);
        if (s->runq_wait_frac > OWB_SUITE_MAX_RUNQ_WAIT) {
            char why[200];
            snprintf(why, sizeof why,
                     "descheduled: threads waited for a CPU %.1f%% of the timed loop (> %.0f%%: "
                     "other processes ran on its CPUs)",
                     100.0 * s->runq_wait_frac, 100.0 * OWB_SUITE_MAX_RUNQ_WAIT);
            owb_result_invalidate(bench, why);
        }
    }
    if (pool) {
        cJSON *pin = owb_pinning_to_json(policy, pool);
        if (!pin || !cJSON_ReplaceItemInObject(bench, "pinning", pin)) {
            cJSON_Delete(pin);
            owb_result_invalidate(bench, "out of memory: pinning record lost");
        }
        if (owb_pool_migrated(pool))
            owb_result_invalidate(bench, "threads migrated: observed CPUs differ from requested");
    }
    cJSON *c = NULL;
    if (counters) {
        c = owb_counters_to_json(counters);
    } else {
        c = cJSON_CreateObject();
        cJSON *na = cJSON_AddObjectToObject(c, "all");
        cJSON_AddStringToObject(na, "na", "not measured");
    }
    if (!c || !cJSON_ReplaceItemInObject(bench, "counters", c)) {
        cJSON_Delete(c);
        owb_result_invalidate(bench, "out of memory: counters lost");
    }
    if (counters) {
        const char *miss = owb_counters_missing_summary(counters);
        if (miss)
            owb_result_note(bench, miss);
    }
    return 0;
}

struct count_ctx {
    struct owb_counters *c;
    int start;
};

static void count_edge(void *vctx, int tid, int nthreads)
{
    struct count_ctx *cc = vctx;
    (void)nthreads;
    if (cc->start)
        owb_counters_thread_start(cc->c, tid);
    else
        owb_counters_thread_stop(cc->c, tid);
}

int owb_suite_count(struct owb_pool *pool, struct owb_counters *counters, owb_measure_fn fn,
                    void *ctx, int reps)
{
    struct count_ctx cc = {counters, 1};
    int rc = 0;
    /* the pinning record and the migration verdict stay the timed loop's */
    owb_pool_keep_observed(pool);
    owb_pool_run(pool, count_edge, &cc);
    for (int i = 0; i < reps && !rc; i++)
        rc = fn(ctx);
    cc.start = 0;
    owb_pool_run(pool, count_edge, &cc);
    owb_pool_restore_observed(pool);
    return rc ? OWB_E_SYSTEM : 0;
}
