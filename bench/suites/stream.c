/* SPDX-License-Identifier: MIT */
/*
 * stream.c: STREAM copy/scale/add/triad and a read-only kernel over pinned threads. Each worker
 * first-touches its own contiguous slice of every array, so on NUMA machines the pages sit on the
 * node that streams them; the same static slicing is used when timing.
 */
#define _GNU_SOURCE /* posix_memalign */
#include "bench/suites/stream.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench/core/counters.h"
#include "bench/core/pool.h"
#include "bench/core/suite.h"
#include "bench/core/topo.h"
#include "results/result.h"

#define STREAM_SCALAR 3.0
#define STREAM_ALIGN_ELEMS 64 /* 512 B: slices start on cache-line (and page-ish) boundaries */
#define STREAM_COUNT_REPS 3
#define STREAM_MIN_ARRAY_BYTES ((size_t)64 << 20)
#define STREAM_PAGE_ALIGN ((size_t)2 << 20)

static const char *const kernel_names[OWB_STREAM_NKERNELS] = {"copy", "scale", "add", "triad",
                                                              "read"};
/* Bytes per element moved by each kernel (STREAM convention; read counts only bytes read). */
static const int kernel_bytes[OWB_STREAM_NKERNELS] = {16, 16, 24, 24, 8};

const char *owb_stream_kernel_name(enum owb_stream_kernel k)
{
    return (unsigned)k < OWB_STREAM_NKERNELS ? kernel_names[k] : "?";
}

void owb_stream_cfg_default(struct owb_stream_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->pin = "compact";
    owb_measure_cfg_default(&cfg->measure);
    cfg->measure.min_reps = 10;
    cfg->measure.min_time_s = 0.3;
}

struct stream_ctx {
    double *a, *b, *c; /* (n) each */
    size_t n;
    enum owb_stream_kernel kernel;
    struct owb_pool *pool;
    uint64_t sink[64 * 8]; /* per-thread read results, 64 B apart, so the loads are not dead */
};

static void stream_init(void *vctx, int tid, int nthreads)
{
    struct stream_ctx *s = vctx;
    int64_t lo, hi;
    owb_pool_slice((int64_t)s->n, STREAM_ALIGN_ELEMS, tid, nthreads, &lo, &hi);
    for (int64_t i = lo; i < hi; i++) {
        s->a[i] = 1.0;
        s->b[i] = 2.0;
        s->c[i] = 0.0;
    }
}

/* The read kernel sums the arrays' bits as integers: integer addition is associative, so the
 * compiler vectorises it without -ffast-math and the loop is bound by loads, not by FP latency.
 * Measured on the 2-core EPYC VM: one thread reads 21 GB/s with SSE2, AVX2 or AVX-512 loads alike
 * (the limit is the core's outstanding misses, not the ISA), so baseline x86-64 code is enough. */
static uint64_t read_sum(const uint64_t *restrict p, int64_t lo, int64_t hi)
{
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = lo;
    for (; i + 4 <= hi; i += 4) {
        s0 += p[i];
        s1 += p[i + 1];
        s2 += p[i + 2];
        s3 += p[i + 3];
    }
    for (; i < hi; i++)
        s0 += p[i];
    return s0 + s1 + s2 + s3;
}

static void stream_body(void *vctx, int tid, int nthreads)
{
    struct stream_ctx *s = vctx;
    double *restrict a = s->a;
    double *restrict b = s->b;
    double *restrict c = s->c;
    int64_t lo, hi;
    owb_pool_slice((int64_t)s->n, STREAM_ALIGN_ELEMS, tid, nthreads, &lo, &hi);
    switch (s->kernel) {
    case OWB_STREAM_COPY:
        for (int64_t i = lo; i < hi; i++)
            c[i] = a[i];
        break;
    case OWB_STREAM_SCALE:
        for (int64_t i = lo; i < hi; i++)
            b[i] = STREAM_SCALAR * c[i];
        break;
    case OWB_STREAM_ADD:
        for (int64_t i = lo; i < hi; i++)
            c[i] = a[i] + b[i];
        break;
    case OWB_STREAM_TRIAD:
        for (int64_t i = lo; i < hi; i++)
            a[i] = b[i] + STREAM_SCALAR * c[i];
        break;
    case OWB_STREAM_READ: {
        uint64_t sum = read_sum((const uint64_t *)(const void *)a, lo, hi);
        s->sink[tid * 8] += sum;
        break;
    }
    default:
        break;
    }
}

static int stream_rep(void *vctx)
{
    struct stream_ctx *s = vctx;
    owb_pool_run(s->pool, stream_body, s);
    return 0;
}

static int run_threads(const struct owb_stream_cfg *cfg, struct owb_topo *topo, int nthreads,
                       struct stream_ctx *s, cJSON *doc, char err[OWB_ERR_MAX])
{
    int npus = owb_topo_npus(topo);
    int *cpus = calloc((size_t)(npus > nthreads ? npus : nthreads), sizeof *cpus);
    struct owb_counters *cnt = NULL;
    int n = 0, rc = 0;
    if (!cpus)
        return OWB_E_NOMEM;
    rc = owb_topo_pin_plan(topo, cfg->pin, nthreads, cpus, &n, err);
    if (rc)
        goto out;
    s->pool = owb_pool_new(n, cpus, err);
    if (!s->pool) {
        rc = OWB_E_SYSTEM;
        goto out;
    }
    owb_pool_run(s->pool, stream_init, s);
    for (int k = 0; k < OWB_STREAM_NKERNELS; k++) {
        struct owb_samples smp = {0};
        char name[64];
        s->kernel = (enum owb_stream_kernel)k;
        snprintf(name, sizeof name, "stream/%s/t%d", kernel_names[k], n);
        owb_pool_reset_migrations(s->pool);
        rc = owb_measure_run(&cfg->measure, stream_rep, s, &smp);
        if (rc) {
            snprintf(err, OWB_ERR_MAX, "%s: measurement failed", name);
            goto out;
        }
        cJSON *b = owb_result_add_benchmark(doc, name, "stream");
        double bytes = (double)kernel_bytes[k] * (double)s->n;
        owb_result_param_str(b, "kernel", kernel_names[k]);
        owb_result_param_num(b, "threads", n);
        owb_result_param_str(b, "pin", cfg->pin);
        owb_result_param_num(b, "array_bytes", (double)(s->n * sizeof(double)));
        owb_result_param_num(b, "elements", (double)s->n);
        owb_result_param_str(b, "convention",
                             k == OWB_STREAM_READ
                                 ? "bytes read"
                                 : "STREAM: bytes read + written, no write-allocate");
        bool migrated = owb_pool_migrated(s->pool);
        owb_counters_free(cnt);
        cnt = owb_counters_new(cfg->counters, n, err);
        if (!cnt) { /* a malformed --counters list (a missing PMU is not an error) */
            free(smp.ns);
            rc = OWB_E_USAGE;
            goto out;
        }
        owb_suite_count(s->pool, cnt, stream_rep, s, STREAM_COUNT_REPS);
        if (migrated) /* the counting pass must not hide a migration in the timed loop */
            owb_result_invalidate(b, "threads migrated during the timed loop");
        rc = owb_suite_finish(b, &smp, &cfg->measure, cfg->pin, s->pool, cnt);
        owb_result_param_num(b, "counter_reps", STREAM_COUNT_REPS);
        if (!rc && smp.n) {
            struct owb_stats st;
            rc = owb_stats_compute(smp.ns, smp.n, &st);
            if (!rc) {
                owb_result_metric(b, "bytes_per_iter", bytes);
                owb_result_metric(b, "gb_per_s", bytes / st.min); /* bytes/ns == GB/s */
                owb_result_metric(b, "gb_per_s_median", bytes / st.median);
                if (cfg->verbose)
                    fprintf(stderr, "  %-18s %8.1f GB/s best, %8.1f median (n=%zu)\n", name,
                            bytes / st.min, bytes / st.median, smp.n);
            }
        }
        free(smp.ns);
        if (rc)
            goto out;
    }
out:
    owb_counters_free(cnt);
    owb_pool_free(s->pool);
    s->pool = NULL;
    free(cpus);
    return rc;
}

int owb_stream_run(const struct owb_stream_cfg *cfg, struct owb_topo *topo, cJSON *doc,
                   char err[OWB_ERR_MAX])
{
    struct stream_ctx *s = calloc(1, sizeof *s);
    size_t bytes = cfg->array_bytes;
    int rc = 0;
    if (!s)
        return OWB_E_NOMEM;
    if (!bytes) {
        bytes = 4 * owb_topo_llc_bytes(topo);
        if (bytes < STREAM_MIN_ARRAY_BYTES)
            bytes = STREAM_MIN_ARRAY_BYTES;
    }
    s->n = bytes / sizeof(double);
    s->n -= s->n % STREAM_ALIGN_ELEMS;
    if (s->n < STREAM_ALIGN_ELEMS) {
        snprintf(err, OWB_ERR_MAX, "--size %zu: arrays need at least %d bytes", bytes,
                 STREAM_ALIGN_ELEMS * (int)sizeof(double));
        rc = OWB_E_USAGE;
        goto out;
    }
    /* Aligned to 2 MiB and asked for transparent huge pages, as `kernels` does with its weights
     * (best effort: without THP the arrays stay on 4 KiB pages), so that the ceiling and the
     * kernels held against it use the same page size; untouched until the workers' first touch. */
    if (posix_memalign((void **)&s->a, STREAM_PAGE_ALIGN, s->n * sizeof(double)) ||
        posix_memalign((void **)&s->b, STREAM_PAGE_ALIGN, s->n * sizeof(double)) ||
        posix_memalign((void **)&s->c, STREAM_PAGE_ALIGN, s->n * sizeof(double))) {
        snprintf(err, OWB_ERR_MAX, "cannot allocate 3 arrays of %zu bytes", s->n * sizeof(double));
        rc = OWB_E_NOMEM;
        goto out;
    }
    madvise(s->a, s->n * sizeof(double), MADV_HUGEPAGE);
    madvise(s->b, s->n * sizeof(double), MADV_HUGEPAGE);
    madvise(s->c, s->n * sizeof(double), MADV_HUGEPAGE);
    for (int i = 0; i < cfg->nthreads && !rc; i++) {
        if (cfg->verbose)
            fprintf(stderr, "stream: %d thread(s), 3 arrays of %.0f MiB, pin %s\n", cfg->threads[i],
                    (double)(s->n * sizeof(double)) / (1 << 20), cfg->pin);
        rc = run_threads(cfg, topo, cfg->threads[i], s, doc, err);
    }
out:
    free(s->a);
    free(s->b);
    free(s->c);
    free(s);
    return rc;
}

static int read_ceiling(const cJSON *doc, int threads, const char *key, double *gb_per_s)
{
    const cJSON *benches = cJSON_GetObjectItemCaseSensitive(doc, "benchmarks");
    const cJSON *b = NULL;
    int best_t = 0;
    double best = 0;
    cJSON_ArrayForEach(b, benches)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(b, "name");
        int t = 0;
        if (!cJSON_IsString(name) || sscanf(name->valuestring, "stream/read/t%d", &t) != 1)
            continue;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(b, "metrics");
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(m, key);
        if (!cJSON_IsNumber(g) || t > threads || t < best_t)
            continue;
        best_t = t;
        best = g->valuedouble;
    }
    if (!best_t)
        return OWB_E_FORMAT;
    *gb_per_s = best;
    return 0;
}

int owb_stream_read_ceiling(const cJSON *doc, int threads, double *gb_per_s)
{
    return read_ceiling(doc, threads, "gb_per_s", gb_per_s);
}

int owb_stream_read_ceiling_median(const cJSON *doc, int threads, double *gb_per_s)
{
    return read_ceiling(doc, threads, "gb_per_s_median", gb_per_s);
}
