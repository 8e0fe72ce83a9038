/* SPDX-License-Identifier: MIT */
/*
 * measure.c: the shared timing loop. Warm-up runs until both warmup_runs calls and warmup_s
 * seconds are done (the seconds capped at max_time_s); then each call is timed alone with
 * owb_now_ns (owb_common.h) and stored, until min_reps and min_time_s are both reached, or
 * max_reps or max_time_s is hit (at least one sample is always taken). The sample buffer is
 * allocated before the loop, so the timed region does not allocate.
 */
#include "bench/core/measure.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Samples are preallocated up to this count; above it the buffer grows between repetitions. */
#define MEASURE_PREALLOC_MAX 1000000

void owb_measure_cfg_quick(struct owb_measure_cfg *cfg)
{
    cfg->warmup_runs = 1;
    cfg->warmup_s = 0.02;
    cfg->min_reps = 5;
    cfg->min_time_s = 0.1;
}

void owb_measure_cfg_default(struct owb_measure_cfg *cfg)
{
    cfg->warmup_runs = 2;
    cfg->warmup_s = 0.05;
    cfg->min_reps = 10;
    cfg->min_time_s = 0.5;
    cfg->max_reps = 10000;
    cfg->max_time_s = 10.0;
    cfg->max_rel_spread = 0.10;
}

static int cfg_ok(const struct owb_measure_cfg *c)
{
    return c->warmup_runs >= 0 && c->min_reps >= 0 && c->max_reps >= 1 && c->warmup_s >= 0 &&
           c->min_time_s >= 0 && c->max_time_s >= 0 && isfinite(c->warmup_s) &&
           isfinite(c->min_time_s) && !isnan(c->max_time_s);
}

int64_t owb_runq_wait_ns(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int64_t sum = 0;
    int seen = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/self/task/%.20s/schedstat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* a thread that ended meanwhile */
        unsigned long long run = 0, wait = 0;
        if (fscanf(f, "%llu %llu", &run, &wait) == 2) {
            sum += (int64_t)wait;
            seen++;
        }
        fclose(f);
    }
    closedir(d);
    return seen ? sum : -1;
}

int owb_measure_run(const struct owb_measure_cfg *cfg, owb_measure_fn fn, void *ctx,
                    struct owb_samples *out)
{
    int rc = OWB_OK;
    double *ns = NULL;
    size_t n = 0, cap;

    out->ns = NULL;
    out->n = 0;
    out->runq_wait_frac = -1;
    if (!cfg || !fn || !cfg_ok(cfg))
        return OWB_E_USAGE;

    /* Time limits in ns; max_time_s may be +inf (no limit). */
    double max_ns = cfg->max_time_s * 1e9;
    uint64_t warm_ns = (uint64_t)(fmin(cfg->warmup_s, cfg->max_time_s) * 1e9);
    uint64_t min_ns = (uint64_t)(fmin(cfg->min_time_s, cfg->max_time_s) * 1e9);

    cap =
        (size_t)cfg->max_reps < MEASURE_PREALLOC_MAX ? (size_t)cfg->max_reps : MEASURE_PREALLOC_MAX;
    if (!(ns = malloc(cap * sizeof *ns)))
        return OWB_E_NOMEM;

    uint64_t t_start = owb_now_ns();
    for (int r = 0;; r++) {
        uint64_t el = owb_now_ns() - t_start;
        if (r >= cfg->warmup_runs && el >= warm_ns)
            break;
        if (fn(ctx) != 0) {
            rc = OWB_E_SYSTEM;
            goto out;
        }
    }

    const int64_t wait0 = owb_runq_wait_ns();
    t_start = owb_now_ns();
    for (;;) {
        uint64_t t0 = owb_now_ns();
        int frc = fn(ctx);
        uint64_t t1 = owb_now_ns();
        if (frc != 0) {
            rc = OWB_E_SYSTEM;
            goto out;
        }
        ns[n++] = (double)(t1 - t0);
        double el = (double)(t1 - t_start);
        if (n >= (size_t)cfg->max_reps || el >= max_ns)
            break;
        if (n >= (size_t)cfg->min_reps && el >= (double)min_ns)
            break;
        if (n == cap) {
            size_t ncap = cap * 2 < (size_t)cfg->max_reps ? cap * 2 : (size_t)cfg->max_reps;
            double *g = realloc(ns, ncap * sizeof *ns);
            if (!g) {
                rc = OWB_E_NOMEM;
                goto out;
            }
            ns = g;
            cap = ncap;
        }
    }
    {
        const uint64_t wall = owb_now_ns() - t_start;
        const int64_t wait1 = wait0 >= 0 ? owb_runq_wait_ns() : -1;
        if (wait0 >= 0 && wait1 >= wait0 && wall > 0)
            out->runq_wait_frac = (double)(wait1 - wait0) / (double)wall;
    }
    out->ns = ns;
    out->n = n;
    ns = NULL;
out:
    free(ns);
    return rc;
}
