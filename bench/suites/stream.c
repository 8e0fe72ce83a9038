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
#include "kernels/readbw.h"
#include "results/result.h"

#define STREAM_SCALAR 3.0
#define STREAM_ALIGN_ELEMS 64 /* 512 B: slices start on cache-line (and page-ish) boundaries */
#define STREAM_COUNT_REPS 3
#define STREAM_PAGE_ALIGN ((size_t)2 << 20)
/* read_pf and read_streams4 read one chunk of the array per repetition, the next one the next
 * time (a GEMV reads one weight copy of a few to a few tens of MiB per call, rotating over copies
 * that exceed the LLC): repetitions as short as the kernels' are disturbed as rarely by a
 * neighbour's time slice, so the best of them is as good a ceiling as the kernels' best. */
#define STREAM_READ_CHUNK_BYTES ((size_t)16 << 20)

static const char *const kernel_names[OWB_STREAM_NKERNELS] = {
    "copy", "scale", "add", "triad", "read", "read_pf", "read_streams4"};
/* Bytes per element moved by each kernel (STREAM convention; read counts only bytes read). */
static const int kernel_bytes[OWB_STREAM_NKERNELS] = {16, 16, 24, 24, 8, 8, 8};

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
    size_t chunk;  /* elements one chunked read repetition reads (<= n) */
    size_t nchunk; /* chunks in the array */
    size_t rot;    /* the chunk of the current repetition */
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
    case OWB_STREAM_READ:
    case OWB_STREAM_READ_PF:
    case OWB_STREAM_READ_STREAMS4: {
        if (s->kernel != OWB_STREAM_READ) { /* this repetition's chunk */
            owb_pool_slice((int64_t)s->chunk, STREAM_ALIGN_ELEMS, tid, nthreads, &lo, &hi);
            lo += (int64_t)(s->rot * s->chunk);
            hi += (int64_t)(s->rot * s->chunk);
        }
        /* the integer sum of the slice's bits (kernels/readbw.h): loads that are not dead */
        const enum owb_read_variant v = s->kernel == OWB_STREAM_READ      ? OWB_READ_PLAIN
                                        : s->kernel == OWB_STREAM_READ_PF ? OWB_READ_PF
                                                                          : OWB_READ_STREAMS4;
        s->sink[tid * 8] +=
            owb_read_sum(v, OWB_ISA_COUNT, (const uint64_t *)(const void *)(a + lo), hi - lo);
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
    s->rot = (s->rot + 1) % s->nchunk;
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
    for (int k = cfg->read_only ? OWB_STREAM_READ : 0; k < OWB_STREAM_NKERNELS; k++) {
        struct owb_samples smp = {0};
        char name[96];
        const bool is_read = k >= OWB_STREAM_READ;
        s->kernel = (enum owb_stream_kernel)k;
        snprintf(name, sizeof name, "stream/%s/t%d%s%s", kernel_names[k], n, cfg->suffix ? "/" : "",
                 cfg->suffix ? cfg->suffix : "");
        owb_pool_reset_migrations(s->pool);
        rc = owb_measure_run(&cfg->measure, stream_rep, s, &smp);
        if (rc) {
            snprintf(err, OWB_ERR_MAX, "%s: measurement failed", name);
            goto out;
        }
        cJSON *b = owb_result_add_benchmark(doc, name, "stream");
        const bool chunked = k == OWB_STREAM_READ_PF || k == OWB_STREAM_READ_STREAMS4;
        double bytes = (double)kernel_bytes[k] * (double)(chunked ? s->chunk : s->n);
        owb_result_param_str(b, "kernel", kernel_names[k]);
        owb_result_param_num(b, "threads", n);
        owb_result_param_str(b, "pin", cfg->pin);
        owb_result_param_num(b, "array_bytes", (double)(s->n * sizeof(double)));
        if (is_read) {
            const enum owb_read_variant v = k == OWB_STREAM_READ      ? OWB_READ_PLAIN
                                            : k == OWB_STREAM_READ_PF ? OWB_READ_PF
                                                                      : OWB_READ_STREAMS4;
            owb_result_param_str(b, "path", owb_read_variant_path(v, OWB_ISA_COUNT));
        }
        if (chunked)
            owb_result_param_num(b, "bytes_per_rep", bytes);
        if (cfg->suffix)
            owb_result_param_str(b, "measured", cfg->suffix);
        owb_result_param_num(b, "elements", (double)s->n);
        owb_result_param_str(b, "convention",
                             is_read ? "bytes read"
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
        bytes = owb_topo_sweep_bytes(topo); /* at least 64 MiB */
    }
    s->n = bytes / sizeof(double);
    s->n -= s->n % STREAM_ALIGN_ELEMS;
    s->chunk = STREAM_READ_CHUNK_BYTES / sizeof(double);
    if (s->chunk > s->n)
        s->chunk = s->n - s->n % STREAM_ALIGN_ELEMS;
    s->nchunk = s->chunk ? s->n / s->chunk : 1;
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

bool owb_stream_is_read_name(const char *name, int *threads)
{
    static const char *const pre[] = {"stream/read/t", "stream/read_pf/t",
                                      "stream/read_streams4/t"};
    for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++) {
        size_t n = strlen(pre[i]);
        if (strncmp(name, pre[i], n) != 0)
            continue;
        char *end = NULL;
        long t = strtol(name + n, &end, 10);
        if (end == name + n || t <= 0 || t > 1 << 20 || (*end && *end != '/'))
            return false;
        *threads = (int)t;
        return true;
    }
    return false;
}

static int read_ceiling(const cJSON *doc, int threads, const char *key, double *gb_per_s)
{
    const cJSON *benches = cJSON_GetObjectItemCaseSensitive(doc, "benchmarks");
    const cJSON *b = NULL;
    bool found = false;
    double best = 0;
    cJSON_ArrayForEach(b, benches)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(b, "name");
        int t = 0;
        if (!cJSON_IsString(name) || !owb_stream_is_read_name(name->valuestring, &t) || t > threads)
            continue;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(b, "metrics");
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(m, key);
        if (!cJSON_IsNumber(g) || !(g->valuedouble > 0))
            continue;
        if (!found || g->valuedouble > best)
            best = g->valuedouble;
        found = true;
    }
    if (!found)
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
