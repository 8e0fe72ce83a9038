/* SPDX-License-Identifier: MIT */
/*
 * ceiling.c: figures held against the ceilings of their own run (bench/suites/ceiling.h).
 */
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */
#include "bench/suites/ceiling.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "bench/core/measure.h"
#include "bench/core/pool.h"
#include "bench/suites/stream.h"
#include "kernels/readbw.h"
#include "results/result.h"

struct ilv_ctx {
    const uint64_t *buf;
    int64_t words;
    enum owb_read_variant v;
    _Atomic uint64_t sum; /* the words' sum: the loads are not dead code */
};

static void ilv_read(void *ctx, int tid, int nth)
{
    struct ilv_ctx *c = ctx;
    int64_t lo, hi;
    owb_pool_slice(c->words, 8, tid, nth, &lo, &hi);
    if (hi > lo)
        atomic_fetch_add(&c->sum, owb_read_sum(c->v, OWB_ISA_COUNT, c->buf + lo, hi - lo));
}

static void ilv_fill(void *ctx, int64_t lo, int64_t hi, int tid)
{
    (void)tid;
    uint64_t *b = ctx;
    for (int64_t i = lo; i < hi; i++)
        b[i] = (uint64_t)i * 0x9E3779B97F4A7C15ull;
}

int owb_ilv_init(struct owb_ilv *v, struct owb_pool *pool, size_t sweep_bytes)
{
    const size_t huge = (size_t)2 << 20;
    const size_t bytes = (sweep_bytes + huge - 1) & ~(huge - 1);
    memset(v, 0, sizeof *v);
    v->buf = aligned_alloc(huge, bytes);
    if (!v->buf)
        return OWB_E_NOMEM;
    madvise(v->buf, bytes, MADV_HUGEPAGE);
    v->pool = pool;
    v->words = (int64_t)(bytes / 8);
    owb_pool_parallel_for(pool, v->words, 8, ilv_fill, v->buf);
    return 0;
}

double owb_ilv_sample(struct owb_ilv *v)
{
    if (!v->words)
        return 0.0;
    struct ilv_ctx c = {v->buf, v->words, OWB_READ_PF, 0};
    double best = 0;
    for (int pass = 0; pass < 4; pass++) {
        c.v = pass < 2 ? OWB_READ_PF : OWB_READ_STREAMS4;
        const uint64_t t0 = owb_now_ns();
        owb_pool_run(v->pool, ilv_read, &c);
        const uint64_t dt = owb_now_ns() - t0;
        const double gbs = dt ? (double)v->words * 8.0 / (double)dt : 0.0;
        best = gbs > best ? gbs : best;
    }
    return best;
}

void owb_ilv_release(struct owb_ilv *v)
{
    free(v->buf);
    memset(v, 0, sizeof *v);
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : (double)NAN;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

struct read_ceiling {
    double best, median;  /* over every read benchmark at <= t threads */
    double before, after; /* best over the measurements before / after a suite (0: none) */
    const char *from;     /* name of the benchmark that gave best */
};

static bool is_after(const char *name)
{
    size_t n = strlen(name);
    return n > 6 && !strcmp(name + n - 6, "/after");
}

static void scan_read(const cJSON *doc, int threads, struct read_ceiling *c)
{
    const cJSON *b = NULL;
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))
    {
        const char *name = str(b, "name");
        int t = 0;
        if (!name || !owb_stream_is_read_name(name, &t) || t > threads)
            continue;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(b, "metrics");
        double g = num(m, "gb_per_s"), gm = num(m, "gb_per_s_median");
        if (!(g > 0))
            continue;
        if (g > c->best) {
            c->best = g;
            c->from = name;
        }
        if (gm > c->median)
            c->median = gm;
        double *side = is_after(name) ? &c->after : &c->before;
        if (g > *side)
            *side = g;
    }
}

static double peak_at(const cJSON *doc, const char *kind, int threads, const char **from)
{
    double best = 0;
    const cJSON *b = NULL;
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))
    {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "params");
        const char *k = str(p, "peak");
        double t = num(p, "threads");
        double g = num(cJSON_GetObjectItemCaseSensitive(b, "metrics"), "gop_per_s_best");
        if (!k || strcmp(k, kind) || !(t <= threads) || !(g > best))
            continue;
        best = g;
        *from = str(b, "name");
    }
    return best;
}

/* Bytes one decoded token reads below which the weights may stay in the last-level cache between
 * tokens, so the memory's ceiling does not bound the rate: 2 x the LLC. */
static bool cache_resident(const cJSON *doc, const cJSON *m, double *llc)
{
    double bpt = num(m, "bytes_per_token");
    const cJSON *topo =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "env"), "topology");
    *llc = num(topo, "llc_bytes");
    return bpt > 0 && *llc > 0 && bpt < 2.0 * *llc;
}

static int annotate_read(cJSON *doc, const cJSON *ceiling_doc, cJSON *b)
{
    cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "params");
    cJSON *m = cJSON_GetObjectItemCaseSensitive(b, "metrics");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(b, "stats");
    const double t = num(p, "threads"), bytes = num(m, "bytes_per_iter");
    const double med = num(st, "median"), min = num(st, "min");
    if (!(t >= 1) || !(bytes > 0) || !(med > 0) || !(min > 0))
        return 0;
    struct read_ceiling c = {0};
    scan_read(doc, (int)t, &c);
    if (ceiling_doc)
        scan_read(ceiling_doc, (int)t, &c);
    if (!(c.best > 0)) {
        owb_result_note(b, "no read-bandwidth ceiling at or below this thread count");
        return 0;
    }
    const double rate = bytes / med, best_rate = bytes / min; /* bytes/ns = GB/s */
    const double pct = 100.0 * rate / c.best;
    owb_result_param_str(b, "ceiling", c.from);
    owb_result_metric(b, "ceiling_gb_per_s", c.best);
    owb_result_metric(b, "pct_of_ceiling", pct);
    owb_result_metric(b, "pct_of_ceiling_best", 100.0 * best_rate / c.best);
    if (c.median > 0) {
        owb_result_metric(b, "ceiling_gb_per_s_median", c.median);
        owb_result_metric(b, "pct_of_ceiling_median", 100.0 * rate / c.median);
    }
    if (c.before > 0)
        owb_result_metric(b, "ceiling_gb_per_s_before", c.before);
    if (c.after > 0)
        owb_result_metric(b, "ceiling_gb_per_s_after", c.after);
    if (c.before > 0 && c.after > 0)
        owb_result_metric(b, "ceiling_spread_pct",
                          100.0 * fabs(c.before - c.after) / fmax(c.before, c.after));
    const double bpt = num(m, "bytes_per_token");
    if (bpt > 0) { /* decode: the roofline in tokens */
        owb_result_metric(b, "roofline_tok_per_s", c.best * 1e9 / bpt);
        owb_result_metric(b, "pct_of_roofline", pct);
        owb_result_metric(b, "pct_of_roofline_best", 100.0 * best_rate / c.best);
    }
    double llc = 0;
    if (bpt > 0 && cache_resident(doc, m, &llc)) {
        char why[200];
        snprintf(why, sizeof why,
                 "%.1f MiB read per token < 2 x the last-level cache (%.0f MiB): partly "
                 "cache-resident, the memory's read ceiling does not bound it",
                 bpt / 1048576.0, llc / 1048576.0);
        owb_result_note(b, why);
        return 0;
    }
    if (pct > 100.0) {
        char why[256];
        snprintf(why, sizeof why,
                 "above the read ceiling by %.1f%%: median %.2f GB/s vs %.2f GB/s (%s, the best "
                 "read of this run at <= %d threads)",
                 pct - 100.0, rate, c.best, c.from, (int)t);
        owb_result_invalidate(b, why);
        return 1;
    }
    return 0;
}

static int annotate_compute(cJSON *doc, cJSON *b)
{
    cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "params");
    cJSON *m = cJSON_GetObjectItemCaseSensitive(b, "metrics");
    const char *kind = str(p, "compute_peak");
    const double t = num(p, "threads"), gf = num(m, "gflop_per_s");
    if (!kind || !(t >= 1) || !(gf > 0))
        return 0;
    const char *from = NULL;
    const double peak = peak_at(doc, kind, (int)t, &from);
    if (!(peak > 0))
        return 0;
    const double pct = 100.0 * gf / peak;
    owb_result_metric(b, "compute_peak_gop_per_s", peak);
    owb_result_metric(b, "pct_of_compute_peak", pct);
    owb_result_param_str(b, "compute_peak_from", from);
    if (pct > 100.0) {
        char why[256];
        snprintf(why, sizeof why,
                 "above the compute peak by %.1f%%: %.1f GFLOP/s vs %.1f GOP/s (%s, the best of "
                 "this run at <= %d threads)",
                 pct - 100.0, gf, peak, from ? from : "?", (int)t);
        owb_result_invalidate(b, why);
        return 1;
    }
    return 0;
}

int owb_ceiling_annotate(cJSON *doc, const cJSON *ceiling_doc)
{
    int over = 0;
    cJSON *b = NULL;
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))
    {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "params");
        const char *roof = str(p, "roofline");
        if (roof && !strcmp(roof, "read"))
            over += annotate_read(doc, ceiling_doc, b);
        if (str(p, "compute_peak"))
            over += annotate_compute(doc, b);
    }
    return over;
}
