/* SPDX-License-Identifier: MIT */
/*
 * suite.c: the shared tail of every benchmark case (samples, stats, validity, pinning, counters)
 * and the option parsers the suites' commands share.
 */
#include "bench/suite.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/counters.h"
#include "bench/pool.h"
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
    if (pool) {
        cJSON *pin = owb_pinning_to_json(policy, pool);
        if (pin)
            cJSON_ReplaceItemInObject(bench, "pinning", pin);
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
    if (c)
        cJSON_ReplaceItemInObject(bench, "counters", c);
    if (counters) {
        const char *miss = owb_counters_missing_summary(counters);
        if (miss)
            owb_result_note(bench, miss);
    }
    return 0;
}

int owb_parse_int_list(const char *opt, const char *s, int *out, int max, int *n,
                       char err[OWB_ERR_MAX])
{
    const char *p = s;
    *n = 0;
    if (!s || !*s)
        goto bad;
    while (*p) {
        char *end = NULL;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v <= 0 || v > INT_MAX || (*end && *end != ','))
            goto bad;
        if (*n >= max) {
            snprintf(err, OWB_ERR_MAX, "%s '%s': more than %d values", opt, s, max);
            return OWB_E_USAGE;
        }
        out[(*n)++] = (int)v;
        p = *end ? end + 1 : end;
        if (*end == ',' && !*p)
            goto bad;
    }
    return 0;
bad:
    snprintf(err, OWB_ERR_MAX, "%s '%s': expected a comma-separated list of positive integers", opt,
             s ? s : "");
    return OWB_E_USAGE;
}

int owb_parse_size(const char *opt, const char *s, size_t *out, char err[OWB_ERR_MAX])
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned long long mul = 1;
    if (end == s || errno || s[0] == '-')
        goto bad;
    switch (*end) {
    case 'k':
    case 'K':
        mul = 1ull << 10;
        end++;
        break;
    case 'm':
    case 'M':
        mul = 1ull << 20;
        end++;
        break;
    case 'g':
    case 'G':
        mul = 1ull << 30;
        end++;
        break;
    default:
        break;
    }
    if (*end == 'i' || *end == 'B')
        end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
    if (*end || v == 0 || v > (unsigned long long)SIZE_MAX / mul)
        goto bad;
    *out = (size_t)(v * mul);
    return 0;
bad:
    snprintf(err, OWB_ERR_MAX,
             "%s '%s': expected a positive byte count with optional K, M or G suffix", opt, s);
    return OWB_E_USAGE;
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
    owb_pool_run(pool, count_edge, &cc);
    for (int i = 0; i < reps && !rc; i++)
        rc = fn(ctx);
    cc.start = 0;
    owb_pool_run(pool, count_edge, &cc);
    return rc ? OWB_E_SYSTEM : 0;
}
