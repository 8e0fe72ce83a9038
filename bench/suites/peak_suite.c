/* SPDX-License-Identifier: MIT */
/*
 * peak_suite.c: the compute ceilings of kernels/peak.h measured on a pinned pool
 * (bench/suites/peak_suite.h). Every thread runs the same register loop; a repetition is one pool
 * region, so the rate is the work of all threads over the region's wall time.
 */
#include "bench/suites/peak_suite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/core/suite.h"
#include "results/result.h"
#include "results/stats.h"

/* Operations per thread and repetition: ~10 ms of int8 dot products at this machine's rate. */
#define PS_OPS_PER_REP 4e9

struct ps_peak {
    enum owb_peak_kind kind;
    enum owb_isa isa;
    int64_t iters;
    struct owb_pool *pool;
    uint64_t *got; /* checksum per thread */
};

static void ps_body(void *vctx, int tid, int nthreads)
{
    struct ps_peak *p = vctx;
    (void)nthreads;
    p->got[tid] = owb_peak_run(p->kind, p->isa, p->iters);
}

static int ps_rep(void *vctx)
{
    struct ps_peak *p = vctx;
    owb_pool_run(p->pool, ps_body, p);
    return 0;
}

int owb_peak_suite_run(struct owb_pool *pool, int nthr, enum owb_isa isa, const char *suite,
                       const struct owb_measure_cfg *measure, const char *pin, int verbose,
                       cJSON *doc, double best[OWB_PEAK_COUNT], char err[OWB_ERR_MAX])
{
    for (int k = 0; k < OWB_PEAK_COUNT; k++) {
        best[k] = 0.0;
        const double ops = owb_peak_ops_per_iter((enum owb_peak_kind)k, isa);
        if (ops <= 0.0)
            continue;
        /* once per document and thread count: a second sweep or model of the same run (owbench
         * run) takes the ceiling already measured (the loops touch no memory, so it does not
         * depend on what ran in between) */
        char name[96];
        snprintf(name, sizeof name, "%s/peak/%s/t%d", suite, owb_peak_name((enum owb_peak_kind)k),
                 nthr);
        const cJSON *have = owb_result_find_benchmark(doc, name);
        if (have) {
            const cJSON *g = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(have, "metrics"), "gop_per_s_best");
            best[k] = cJSON_IsNumber(g) ? g->valuedouble : 0.0;
            continue;
        }
        struct ps_peak p;
        memset(&p, 0, sizeof p);
        p.kind = (enum owb_peak_kind)k;
        p.isa = isa;
        p.iters = (int64_t)(PS_OPS_PER_REP / ops) + 1;
        p.pool = pool;
        p.got = calloc((size_t)nthr, sizeof *p.got);
        if (!p.got)
            return OWB_E_NOMEM;
        struct owb_samples smp = {0};
        struct owb_measure_cfg mc = *measure;
        owb_measure_cfg_quick(&mc);
        /* the ceiling is the best repetition: enough of them that a neighbour's burst on the other
         * core does not decide it (one prefill round read 107% of a 5-repetition peak) */
        mc.min_reps = 20;
        mc.min_time_s = 0.2;
        owb_pool_reset_migrations(pool);
        int rc = owb_measure_run(&mc, ps_rep, &p, &smp);
        if (rc) {
            snprintf(err, OWB_ERR_MAX, "%s: compute peak %s: measurement failed", suite,
                     owb_peak_name(p.kind));
            free(smp.ns);
            free(p.got);
            return rc;
        }
        const uint64_t want = owb_peak_expect(p.kind, isa, p.iters);
        for (int t = 0; t < nthr; t++)
            if (p.got[t] != want) {
                snprintf(err, OWB_ERR_MAX,
                         "%s: compute peak %s on thread %d returned checksum %llu, "
                         "expected %llu",
                         suite, owb_peak_name(p.kind), t, (unsigned long long)p.got[t],
                         (unsigned long long)want);
                free(smp.ns);
                free(p.got);
                return OWB_E_SYSTEM;
            }
        free(p.got);
        cJSON *b = owb_result_add_benchmark(doc, name, suite);
        if (!b) {
            free(smp.ns);
            return OWB_E_NOMEM;
        }
        owb_result_param_str(b, "peak", owb_peak_name(p.kind));
        owb_result_param_num(b, "threads", nthr);
        owb_result_param_str(b, "isa", owb_isa_name(isa));
        owb_result_param_str(b, "instructions", owb_peak_insn(p.kind, isa));
        owb_result_param_num(b, "iters_per_thread", (double)p.iters);
        if (owb_pool_migrated(pool))
            owb_result_invalidate(b, "threads migrated during the timed loop");
        rc = owb_suite_finish(b, &smp, &mc, pin, pool, NULL);
        struct owb_stats st;
        if (!rc && smp.n && !(rc = owb_stats_compute(smp.ns, smp.n, &st))) {
            const double total = ops * (double)p.iters * nthr; /* ops per repetition */
            owb_result_metric(b, "gop_per_s", total / st.median);
            owb_result_metric(b, "gop_per_s_best", total / st.min);
            best[k] = total / st.min;
        }
        free(smp.ns);
        if (rc)
            return rc;
    }
    if (verbose) {
        fprintf(stderr, "%s: %d thread(s) compute peaks (GOP/s):", suite, nthr);
        for (int k = 0; k < OWB_PEAK_COUNT; k++)
            if (best[k] > 0)
                fprintf(stderr, " %s %.0f", owb_peak_name((enum owb_peak_kind)k), best[k]);
        fprintf(stderr, "\n");
    }
    return OWB_OK;
}

void owb_peak_suite_annotate(cJSON *bench, enum owb_peak_kind k, const double best[OWB_PEAK_COUNT])
{
    if ((unsigned)k < OWB_PEAK_COUNT && best[k] > 0)
        owb_result_param_str(bench, "compute_peak", owb_peak_name(k));
}
