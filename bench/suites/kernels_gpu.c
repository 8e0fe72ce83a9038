/* SPDX-License-Identifier: MIT */
/*
 * kernels_gpu.c: the device GEMV/GEMM sweep (bench/suites/kernels_gpu.h).
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/core/gpu.h"
#include "bench/suites/kernels_gpu.h"
#include "results/result.h"
#include "results/stats.h"

#define WARMUP 3
#define REPS 50
#define REPS_QUICK 10
#define COPY_BYTES (256u << 20) /* per copy: far above any L2 */

static uint64_t rng = 0x853c49e6748fea9bull;

static void fill_random(uint8_t *p, size_t n, int floats)
{
    for (size_t i = 0; i < n; i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        p[i] = (uint8_t)(rng >> 56);
    }
    if (floats) /* f32 activations in [-1, 1): no NaN or huge values in the timed products */
        for (size_t i = 0; i + 4 <= n; i += 4) {
            const float v = (float)((int)p[i] - 128) / 128.0f;
            memcpy(p + i, &v, 4);
        }
}

/* Time `reps` repetitions of fn between two event marks each; samples in ns. */
struct case_ctx {
    const struct owb_backend *be;
    const struct owb_be_mm *plan;
    struct owb_buf *w;
    int ncopies;
    struct owb_buf x, y, act, src, dst;
    size_t copy_bytes;
    enum owb_type cublas; /* f16/bf16: time the cuBLAS baseline instead of plan */
    int64_t m, k, batch;
};

static void run_once(const struct case_ctx *c, int rep)
{
    if (c->cublas) {
        char err[OWB_ERR_MAX];
        (void)owb_cuda_cublas_matmul(c->cublas, c->w[rep % c->ncopies].data, c->x.data, c->act.data,
                                     c->y.data, c->m, c->k, c->batch, err);
        return;
    }
    if (!c->plan) {
        char err[OWB_ERR_MAX];
        (void)c->be->copy(&c->dst, 0, &c->src, 0, c->copy_bytes, err);
        return;
    }
    const struct owb_be_mm *p = c->plan;
    c->be->mm_prepare(p, c->x.data, p->k, c->act.data, 0, p->batch);
    c->be->mm_rows(p, c->w[rep % c->ncopies].data, c->act.data, c->x.data, p->k, c->y.data, p->m, 0,
                   p->m);
}

static int time_case(const struct case_ctx *c, int reps, double *ns, char err[OWB_ERR_MAX])
{
    struct owb_be_timer t0, t1;
    int rc = c->be->timer_init(c->be, &t0, err);
    if (rc)
        return rc;
    if ((rc = c->be->timer_init(c->be, &t1, err))) {
        c->be->timer_release(&t0);
        return rc;
    }
    for (int i = 0; i < WARMUP; i++)
        run_once(c, i);
    for (int i = 0; i < reps && rc == 0; i++) {
        c->be->timer_mark(&t0);
        run_once(c, WARMUP + i);
        c->be->timer_mark(&t1);
        ns[i] = c->be->timer_elapsed_ns(&t0, &t1);
    }
    rc = c->be->synchronize(c->be, err);
    c->be->timer_release(&t0);
    c->be->timer_release(&t1);
    return rc;
}

static double median_of(const double *v, int n)
{
    struct owb_stats st;
    return owb_stats_compute(v, (size_t)n, &st) == 0 ? st.median : (double)NAN;
}

/* One case: weights rotating over copies above twice the L2, X and Y, the plan's scratch; timed
 * and appended to doc. cublas_bf16_ns: the baseline's median to hold the case against (NULL or
 * NaN: none); median_ns: where to leave this case's median (may be NULL). */
static int run_case(struct case_ctx *c, enum owb_type t, const int64_t shape[2], int64_t batch,
                    int reps, double *ns, const struct owb_cuda_device_info *info, double copy_gbs,
                    const double *cublas_bf16_ns, double *median_ns, cJSON *doc,
                    char err[OWB_ERR_MAX])
{
    const struct owb_backend *be = c->be;
    const int64_t m = shape[0], k = shape[1];
    struct owb_be_mm plan;
    struct owb_cuda_nvml before, after;
    int rc = be->mm_plan(be, &plan, t, m, k, batch, err);
    if (rc)
        return rc;
    const size_t wbytes = owb_row_size(t, k) * (size_t)m;
    const size_t xbytes = sizeof(float) * (size_t)(batch * k);
    const size_t ybytes = sizeof(float) * (size_t)(batch * m);
    const size_t abytes = c->cublas ? (size_t)(batch * k) * 2 : plan.act_bytes;
    const int ncopies = (int)(2 * info->l2_bytes / wbytes) + 2;
    uint8_t *host = malloc(wbytes > xbytes ? wbytes : xbytes);
    c->w = calloc((size_t)ncopies, sizeof *c->w);
    c->ncopies = ncopies;
    c->plan = &plan;
    c->m = m;
    c->k = k;
    c->batch = batch;
    if (!host || !c->w) {
        rc = OWB_E_NOMEM;
        goto out;
    }
    fill_random(host, wbytes, t == OWB_TYPE_F32);
    for (int i = 0; i < ncopies && rc == 0; i++)
        rc = be->buf_map(be, &c->w[i], host, wbytes, err);
    fill_random(host, xbytes, 1);
    if (rc == 0)
        rc = be->buf_map(be, &c->x, host, xbytes, err);
    if (rc == 0)
        rc = be->buf_alloc(be, &c->y, ybytes, err);
    if (rc == 0)
        rc = be->buf_alloc(be, &c->act, abytes, err);
    if (rc == 0 && c->cublas) { /* one untimed call: is cuBLAS there at all? */
        rc = owb_cuda_cublas_matmul(t, c->w[0].data, c->x.data, c->act.data, c->y.data, m, k, batch,
                                    err);
    }
    if (rc)
        goto out;
    owb_cuda_nvml_read(0, &before);
    rc = time_case(c, reps, ns, err);
    owb_cuda_nvml_read(0, &after);
    if (rc)
        goto out;
    char name[256];
    const bool gemm = plan.act_bytes > 0;
    snprintf(name, sizeof name, "kernels/gpu/%s/%s/%lldx%lld/b%lld",
             c->cublas ? "cublas"
             : gemm    ? "gemm"
                       : "gemv",
             owb_type_name(t), (long long)m, (long long)k, (long long)batch);
    cJSON *b = owb_result_add_benchmark(doc, name, "kernels");
    struct owb_stats st;
    if (!b || owb_result_set_samples(b, "ns", ns, (size_t)reps) ||
        owb_stats_compute(ns, (size_t)reps, &st)) {
        rc = OWB_E_NOMEM;
        goto out;
    }
    const double gbs = (double)(wbytes + xbytes + ybytes) / st.median;
    owb_result_param_str(b, "format", owb_type_name(t));
    owb_result_param_num(b, "m", (double)m);
    owb_result_param_num(b, "k", (double)k);
    owb_result_param_num(b, "batch", (double)batch);
    owb_result_param_str(b, "path", c->cublas ? "cublasGemmEx" : plan.path);
    owb_result_param_str(b, "device", info->name);
    owb_result_param_num(b, "copies", ncopies);
    owb_result_metric(b, "us_median", st.median * 1e-3);
    owb_result_metric(b, "us_min", st.min * 1e-3);
    owb_result_metric(b, "gb_per_s", gbs);
    owb_result_metric(b, "gflop_per_s", 2.0 * (double)m * (double)k * (double)batch / st.median);
    owb_result_metric(b, "copy_gb_per_s", copy_gbs);
    owb_result_metric(b, "pct_of_copy", 100.0 * gbs / copy_gbs);
    if (cublas_bf16_ns && isfinite(*cublas_bf16_ns)) /* > 1: faster than cuBLAS bf16 */
        owb_result_metric(b, "speedup_vs_cublas_bf16", *cublas_bf16_ns / st.median);
    cJSON *cn = cJSON_GetObjectItem(b, "counters");
    owb_gpu_counters_json(cn ? cn : cJSON_AddObjectToObject(b, "counters"), &before, &after);
    if (median_ns)
        *median_ns = st.median;
out:
    free(host);
    if (c->w)
        for (int i = 0; i < ncopies; i++)
            owb_buf_free(&c->w[i]);
    free(c->w);
    c->w = NULL;
    c->plan = NULL;
    owb_buf_free(&c->x);
    owb_buf_free(&c->y);
    owb_buf_free(&c->act);
    return rc;
}

int owb_kernels_gpu_copy(const struct owb_backend *be, int quick, cJSON *doc, double *gb_per_s,
                         char err[OWB_ERR_MAX])
{
    const int reps = quick ? REPS_QUICK : REPS;
    double *ns = calloc((size_t)reps, sizeof *ns);
    struct owb_cuda_device_info info;
    struct owb_cuda_nvml before, after;
    struct case_ctx c;
    int rc = 0;
    memset(&c, 0, sizeof c);
    c.be = be;
    *gb_per_s = 0.0;
    if (!ns)
        return OWB_E_NOMEM;
    if (owb_cuda_device_info(0, &info, err)) /* a backend that is not cuda: named by its table */
        snprintf(info.name, sizeof info.name, "%s", be->name);
    /* read + write bytes per second */
    c.copy_bytes = quick ? COPY_BYTES / 4 : COPY_BYTES;
    if ((rc = be->buf_alloc(be, &c.src, c.copy_bytes, err)) ||
        (rc = be->buf_alloc(be, &c.dst, c.copy_bytes, err)))
        goto out;
    owb_cuda_nvml_read(0, &before);
    if ((rc = time_case(&c, reps, ns, err)))
        goto out;
    owb_cuda_nvml_read(0, &after);
    cJSON *cb = owb_result_add_benchmark(doc, "kernels/gpu/copy", "kernels");
    if (!cb || owb_result_set_samples(cb, "ns", ns, (size_t)reps)) {
        rc = OWB_E_NOMEM;
        goto out;
    }
    *gb_per_s = 2.0 * (double)c.copy_bytes / median_of(ns, reps);
    owb_result_param_str(cb, "device", info.name);
    owb_result_param_num(cb, "bytes", (double)c.copy_bytes);
    owb_result_metric(cb, "us_median", median_of(ns, reps) * 1e-3);
    owb_result_metric(cb, "gb_per_s", *gb_per_s);
    owb_gpu_counters_json(cJSON_GetObjectItem(cb, "counters")
                              ? cJSON_GetObjectItem(cb, "counters")
                              : cJSON_AddObjectToObject(cb, "counters"),
                          &before, &after);
out:
    owb_buf_free(&c.src);
    owb_buf_free(&c.dst);
    free(ns);
    return rc;
}

int owb_kernels_gpu_run(const struct owb_backend *be, const struct owb_kernels_cfg *cfg, int quick,
                        cJSON *doc, char err[OWB_ERR_MAX])
{
    const int reps = quick ? REPS_QUICK : REPS;
    double *ns = calloc((size_t)reps, sizeof *ns);
    struct owb_cuda_device_info info;
    struct case_ctx c;
    int rc = 0;
    double copy_gbs = 0.0;
    memset(&c, 0, sizeof c);
    c.be = be;
    if (!ns)
        return OWB_E_NOMEM;
    if ((rc = owb_cuda_device_info(0, &info, err)))
        goto out;
    /* the copy ceiling of the same run */
    if ((rc = owb_kernels_gpu_copy(be, quick, doc, &copy_gbs, err)))
        goto out;

    /* cuBLAS f16 and bf16 first (the bf16 medians give each case its ratio), then the formats */
    const int nsb = cfg->nshapes * cfg->nbatches;
    double *cublas_ns = malloc(sizeof(double) * (size_t)(nsb > 0 ? nsb : 1));
    if (!cublas_ns) {
        rc = OWB_E_NOMEM;
        goto out;
    }
    for (int i = 0; i < nsb; i++)
        cublas_ns[i] = (double)NAN;
    const enum owb_type base[2] = {OWB_TYPE_F16, OWB_TYPE_BF16};
    bool have_cublas = true;
    for (int fi = 0; fi < 2 && have_cublas && rc == 0; fi++)
        for (int sb = 0; sb < nsb && have_cublas && rc == 0; sb++) {
            c.cublas = base[fi];
            double med = (double)NAN;
            rc = run_case(&c, base[fi], cfg->shapes[sb / cfg->nbatches],
                          cfg->batches[sb % cfg->nbatches], reps, ns, &info, copy_gbs, NULL, &med,
                          doc, err);
            if (rc == OWB_E_UNSUPPORTED) { /* no cuBLAS here: say so and go on without it */
                cJSON *nb = owb_result_add_benchmark(doc, "kernels/gpu/cublas", "kernels");
                if (nb)
                    owb_result_invalidate(nb, err);
                fprintf(stderr, "owbench kernels: no cuBLAS baseline: %s\n", err);
                have_cublas = false;
                rc = 0;
            } else if (fi == 1) {
                cublas_ns[sb] = med;
            }
        }
    c.cublas = (enum owb_type)0;
    for (int fi = 0; fi < cfg->nformats && rc == 0; fi++)
        for (int sb = 0; sb < nsb && rc == 0; sb++)
            rc = run_case(&c, cfg->formats[fi], cfg->shapes[sb / cfg->nbatches],
                          cfg->batches[sb % cfg->nbatches], reps, ns, &info, copy_gbs,
                          &cublas_ns[sb], NULL, doc, err);
    free(cublas_ns);
out:
    owb_buf_free(&c.src);
    owb_buf_free(&c.dst);
    free(ns);
    return rc;
}

static double metric(const cJSON *b, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(b, "metrics"), key);
    return cJSON_IsNumber(v) ? v->valuedouble : (double)NAN;
}

void owb_kernels_gpu_print_table(const cJSON *doc, FILE *f)
{
    const cJSON *b;
    fprintf(f, "%-44s %-28s %10s %9s %7s %9s\n", "benchmark", "path", "us", "GB/s", "%copy",
            "TFLOP/s");
    cJSON_ArrayForEach(b, cJSON_GetObjectItem(doc, "benchmarks"))
    {
        const cJSON *name = cJSON_GetObjectItem(b, "name");
        if (!cJSON_IsString(name) || strncmp(name->valuestring, "kernels/gpu/", 12) != 0)
            continue;
        const cJSON *path = cJSON_GetObjectItem(cJSON_GetObjectItem(b, "params"), "path");
        fprintf(f, "%-44s %-28s %10.2f %9.1f %7.1f %9.2f\n", name->valuestring + 12,
                cJSON_IsString(path) ? path->valuestring : "-", metric(b, "us_median"),
                metric(b, "gb_per_s"), metric(b, "pct_of_copy"), metric(b, "gflop_per_s") * 1e-3);
    }
}
