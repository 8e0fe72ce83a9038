/* SPDX-License-Identifier: MIT */
/*
 * hw.c: hardware figures for the planner from an owbench result or a description (plan/hw.h).
 */
#include "plan/hw.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kernels/isa.h"
#include "kernels/matmul.h"
#include "kernels/peak.h"
#include "results/result.h"

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    if (n <= 0)
        return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* "stream/read*\/t<N>[/after]" -> N, else 0. */
static int read_threads(const char *name)
{
    int t = 0, len = 0;
    static const char *const kernels[] = {"stream/read/t", "stream/read_pf/t",
                                          "stream/read_streams4/t"};
    for (size_t i = 0; i < OWB_ARRAY_LEN(kernels); i++) {
        size_t k = strlen(kernels[i]);
        if (strncmp(name, kernels[i], k) == 0 && sscanf(name + k, "%d%n", &t, &len) == 1 &&
            (name[k + (size_t)len] == '\0' || strcmp(name + k + len, "/after") == 0))
            return t;
    }
    return 0;
}

/* The read ceiling at <= threads: best gb_per_s and its benchmark name. */
static double read_ceiling(const cJSON *doc, int threads, const char **from)
{
    double best = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))
    {
        const char *name = str(b, "name");
        int t = name ? read_threads(name) : 0;
        double g = num(cJSON_GetObjectItemCaseSensitive(b, "metrics"), "gb_per_s");
        if (t > 0 && t <= threads && g > best) {
            best = g;
            *from = name;
        }
    }
    return best;
}

/* Best gop_per_s_best of "<suite>/peak/<kind>/t<N>" with N <= threads. */
static double peak_of(const cJSON *doc, const char *kind, int threads, const char **from)
{
    double best = 0;
    const cJSON *b;
    char pat[64];
    snprintf(pat, sizeof pat, "/peak/%s/t", kind);
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))
    {
        const char *name = str(b, "name"), *p = name ? strstr(name, pat) : NULL;
        int t = 0;
        if (!p || sscanf(p + strlen(pat), "%d", &t) != 1 || t < 1 || t > threads)
            continue;
        double g = num(cJSON_GetObjectItemCaseSensitive(b, "metrics"), "gop_per_s_best");
        if (g > best) {
            best = g;
            *from = name;
        }
    }
    return best;
}

/* Threads of a "kernels/gem?/<fmt>/..." name: its last "/t<N>". */
static int name_threads(const char *name)
{
    const char *p = strrchr(name, '/');
    int t = 0;
    return p && p[1] == 't' && sscanf(p + 2, "%d", &t) == 1 ? t : 0;
}

/* The peak kind a batched matmul of type t runs against on this build (model suite's rule). */
static enum owb_peak_kind kind_for_type(enum owb_type t)
{
    struct owb_matmul_plan mp;
    char e[OWB_ERR_MAX];
    const struct owb_type_traits *tr = owb_type_traits(t);
    const int64_t blk = tr ? tr->blck_size : 1;
    if (owb_matmul_plan_init(&mp, t, 16, blk, 512, owb_isa_detect(), e) == 0)
        return owb_peak_kind_for_act(mp.act_type);
    return t == OWB_TYPE_F32 || t == OWB_TYPE_F16 || t == OWB_TYPE_BF16 ? OWB_PEAK_F32_FMA
                                                                        : OWB_PEAK_INT8_DOT;
}

/* The efficiency curve of rows named prefix...t<threads> with params.batch > 1: per distinct batch
 * (ascending, at most OWB_HW_MAX_BATCHES) the median pct_of_compute_peak / 100; batches without a
 * figure are left out. v: scratch of nv doubles. Returns the number of batches. */
static int eff_curve(const cJSON *doc, const char *prefix, int threads, double *batches,
                     double *effs, double *v, int nv)
{
    int n = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))
    {
        const char *name = str(b, "name");
        double batch = num(cJSON_GetObjectItemCaseSensitive(b, "params"), "batch");
        if (!name || strncmp(name, prefix, strlen(prefix)) != 0 || name_threads(name) != threads ||
            !(batch > 1))
            continue;
        int k = 0;
        while (k < n && batches[k] < batch)
            k++;
        if ((k < n && batches[k] == batch) || n >= OWB_HW_MAX_BATCHES)
            continue;
        memmove(&batches[k + 1], &batches[k], sizeof(double) * (size_t)(n - k));
        batches[k] = batch;
        n++;
    }
    int kept = 0;
    for (int k = 0; k < n; k++) {
        int m = 0;
        cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))
        {
            const char *name = str(b, "name");
            const cJSON *pr = cJSON_GetObjectItemCaseSensitive(b, "params");
            double p = num(cJSON_GetObjectItemCaseSensitive(b, "metrics"), "pct_of_compute_peak");
            if (name && strncmp(name, prefix, strlen(prefix)) == 0 &&
                name_threads(name) == threads && num(pr, "batch") == batches[k] && p > 0 && m < nv)
                v[m++] = p / 100.0;
        }
        if (m > 0) {
            effs[kept] = median(v, m);
            batches[kept++] = batches[k];
        }
    }
    return kept;
}

static void hw_init(struct owb_hw *hw)
{
    memset(hw, 0, sizeof *hw);
    hw->usable_fraction = OWB_HW_DEFAULT_USABLE;
    hw->devices_per_node = 1;
    hw->cpu_share = 1;
    snprintf(hw->cpu_share_from, sizeof hw->cpu_share_from, "not measured (1)");
}

/* plan/cpu_share/t<threads> of doc, if any. */
static void take_cpu_share(struct owb_hw *hw, const cJSON *doc, const char *path, int threads)
{
    char name[64];
    snprintf(name, sizeof name, "plan/cpu_share/t%d", threads);
    const cJSON *b = owb_result_find_benchmark(doc, name);
    double v = b ? num(cJSON_GetObjectItemCaseSensitive(b, "metrics"), "cpu_share") : (double)NAN;
    if (v > 0 && v <= 1) {
        hw->cpu_share = v;
        snprintf(hw->cpu_share_from, sizeof hw->cpu_share_from, "%s of %s", name, base_name(path));
    }
}

int owb_hw_take_ceilings(struct owb_hw *hw, const cJSON *doc, const char *path, int threads,
                         char err[OWB_ERR_MAX])
{
    const char *from = NULL;
    double g = read_ceiling(doc, threads, &from);
    if (g <= 0) {
        owb_seterr(
            err, "%s: no stream/read* benchmark at %d or fewer threads (a read ceiling is needed)",
            path, threads);
        return OWB_E_FORMAT;
    }
    hw->read_gb_per_s = g;
    snprintf(hw->read_from, sizeof hw->read_from, "%s of %s", from, base_name(path));
    hw->threads = threads;
    take_cpu_share(hw, doc, path, threads);
    double peaks[OWB_PEAK_COUNT];
    const char *pfrom[OWB_PEAK_COUNT] = {0};
    for (int k = 0; k < OWB_PEAK_COUNT; k++)
        peaks[k] = peak_of(doc, owb_peak_name((enum owb_peak_kind)k), threads, &pfrom[k]);
    for (int t = 0; t < OWB_TYPE_COUNT; t++) {
        if (!owb_type_traits((enum owb_type)t))
            continue;
        enum owb_peak_kind k = kind_for_type((enum owb_type)t);
        if (peaks[k] > 0) {
            hw->peak_gop_per_s[t] = peaks[k];
            snprintf(hw->peak_from[t], OWB_HW_FROM, "%s of %s", pfrom[k], base_name(path));
        }
    }
    return 0;
}

/* The kernels benchmarks named prefix... on `threads` threads (GEMMs: batch > 1, GEMVs: batch 1) by
 * (format, m, k, batch), each with the median of `metric` / 100 over its repeats; v is scratch of
 * maxv values. Returns the entries written to out (at most OWB_HW_MAX_GEMMS). */
static int by_shape(const cJSON *doc, const char *prefix, const char *metric, int threads,
                    struct owb_hw_gemm *out, double *v, int maxv)
{
    const size_t pl = strlen(prefix);
    const bool gemv = strcmp(prefix, "kernels/gemv/") == 0;
    int n = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))
    {
        const char *name = str(b, "name");
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(b, "params");
        enum owb_type ty;
        const char *fmt = str(pr, "format");
        const double m = num(pr, "m"), k = num(pr, "k"), batch = num(pr, "batch");
        if (!name || strncmp(name, prefix, pl) != 0 || name_threads(name) != threads || !fmt ||
            owb_type_from_name(fmt, &ty) || !(m > 0) || !(k > 0) ||
            !(gemv ? batch == 1 : batch > 1) ||
            !(num(cJSON_GetObjectItemCaseSensitive(b, "metrics"), metric) > 0))
            continue;
        bool seen = false;
        for (int i = 0; i < n && !seen; i++)
            seen = out[i].type == (int)ty && out[i].m == (int64_t)m && out[i].k == (int64_t)k &&
                   out[i].batch == batch;
        if (seen || n >= OWB_HW_MAX_GEMMS)
            continue;
        int nv = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))
        {
            const char *cn = str(c, "name");
            const cJSON *cp = cJSON_GetObjectItemCaseSensitive(c, "params");
            const double p = num(cJSON_GetObjectItemCaseSensitive(c, "metrics"), metric);
            const char *cf = str(cp, "format");
            if (cn && strncmp(cn, prefix, pl) == 0 && name_threads(cn) == threads && cf &&
                strcmp(cf, fmt) == 0 && num(cp, "m") == m && num(cp, "k") == k &&
                num(cp, "batch") == batch && p > 0 && nv < maxv)
                v[nv++] = p / 100.0;
        }
        out[n++] = (struct owb_hw_gemm){(int)ty, (int64_t)m, (int64_t)k, batch, median(v, nv)};
    }
    return n;
}

int owb_hw_from_result(const cJSON *doc, const char *path, int threads, struct owb_hw *hw,
                       char err[OWB_ERR_MAX])
{
    hw_init(hw);
    hw->measured = true;
    snprintf(hw->kind, sizeof hw->kind, "cpu");
    snprintf(hw->source, sizeof hw->source, "%s", path);
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(doc, "env");
    const cJSON *cpu = cJSON_GetObjectItemCaseSensitive(env, "cpu");
    const char *host = str(env, "host"), *model = str(cpu, "model");
    snprintf(hw->name, sizeof hw->name, "%s (%s)", host ? host : "this machine",
             model ? model : "CPU");
    double mem = num(cJSON_GetObjectItemCaseSensitive(env, "topology"), "memory_bytes");
    hw->memory_bytes = mem > 0 ? mem : 0;
    if (threads <= 0) { /* the largest thread count with a read ceiling */
        const cJSON *b;
        cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))
        {
            const char *name = str(b, "name");
            int t = name ? read_threads(name) : 0;
            threads = t > threads ? t : threads;
        }
        if (threads <= 0) {
            owb_seterr(err,
                       "%s: no stream/read* benchmark (run owbench stream, kernels, model or run)",
                       path);
            return OWB_E_FORMAT;
        }
    }
    int rc = owb_hw_take_ceilings(hw, doc, path, threads, err);
    if (rc)
        return rc;

    /* efficiencies of this thread count's kernels, per format */
    enum { MAXV = 256 };
    double *v = malloc(sizeof(double) * MAXV * 2);
    if (!v) {
        owb_seterr(err, "%s: out of memory", path);
        return OWB_E_NOMEM;
    }
    double *all_bw = v + MAXV;
    int n_all_bw = 0, n_all_c = 0;
    double all_c[64];
    for (int t = 0; t < OWB_TYPE_COUNT; t++) {
        const char *tn = owb_type_traits((enum owb_type)t) ? owb_type_name((enum owb_type)t) : NULL;
        if (!tn)
            continue;
        char gemv[64], gemm[64];
        snprintf(gemv, sizeof gemv, "kernels/gemv/%s/", tn);
        snprintf(gemm, sizeof gemm, "kernels/gemm/%s/", tn);
        int n = 0, best_batch = 0;
        const cJSON *b;
        cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))
        {
            const char *name = str(b, "name");
            double p = num(cJSON_GetObjectItemCaseSensitive(b, "metrics"), "pct_of_ceiling");
            if (name && strncmp(name, gemv, strlen(gemv)) == 0 && name_threads(name) == threads &&
                p > 0 && n < MAXV)
                v[n++] = p / 100.0;
        }
        if (n > 0) {
            hw->bw_eff[t] = median(v, n);
            snprintf(hw->bw_eff_from[t], OWB_HW_FROM, "median pct_of_ceiling of %d %s*/t%d of %s",
                     n, gemv, threads, base_name(path));
            if (n_all_bw < MAXV)
                all_bw[n_all_bw++] = hw->bw_eff[t];
        }
        /* GEMMs: the largest batch measured at this thread count */
        cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))
        {
            const char *name = str(b, "name");
            double batch = num(cJSON_GetObjectItemCaseSensitive(b, "params"), "batch");
            if (name && strncmp(name, gemm, strlen(gemm)) == 0 && name_threads(name) == threads &&
                batch > best_batch)
                best_batch = (int)batch;
        }
        /* every batch > 1 measured: the efficiency curve (ascending batches) */
        hw->n_eff_batch[t] =
            eff_curve(doc, gemm, threads, hw->eff_batch[t], hw->eff_at_batch[t], v, MAXV);
        /* the MoE FFN as the engine runs it: its own curve */
        char experts[64];
        snprintf(experts, sizeof experts, "kernels/experts/%s/", tn);
        hw->n_xeff[t] =
            eff_curve(doc, experts, threads, hw->xeff_batch[t], hw->xeff_at_batch[t], v, MAXV);
        if (hw->n_xeff[t] > 0)
            snprintf(hw->xeff_from[t], OWB_HW_FROM,
                     "median pct_of_compute_peak of %s*/t%d of %s at %d batch(es) %.3g-%.3g rows "
                     "per expert",
                     experts, threads, base_name(path), hw->n_xeff[t], hw->xeff_batch[t][0],
                     hw->xeff_batch[t][hw->n_xeff[t] - 1]);
        n = 0;
        const char *kind = NULL;
        cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))
        {
            const char *name = str(b, "name");
            const cJSON *pr = cJSON_GetObjectItemCaseSensitive(b, "params");
            double p = num(cJSON_GetObjectItemCaseSensitive(b, "metrics"), "pct_of_compute_peak");
            if (name && strncmp(name, gemm, strlen(gemm)) == 0 && name_threads(name) == threads &&
                num(pr, "batch") == best_batch && p > 0 && n < MAXV) {
                v[n++] = p / 100.0;
                kind = str(pr, "compute_peak");
            }
        }
        if (n > 0) {
            hw->compute_eff[t] = median(v, n);
            snprintf(hw->compute_eff_from[t], OWB_HW_FROM,
                     "median pct_of_compute_peak of %d %s*/b%d/t%d of %s (%s)", n, gemm, best_batch,
                     threads, base_name(path), kind ? kind : "?");
            if (n_all_c < (int)OWB_ARRAY_LEN(all_c))
                all_c[n_all_c++] = hw->compute_eff[t];
        }
    }
    /* prefill attention as the engine runs it */
    hw->n_aeff = eff_curve(doc, "kernels/attn/", threads, hw->aeff_tokens, hw->aeff_at, v, MAXV);
    if (hw->n_aeff > 0)
        snprintf(hw->aeff_from, sizeof hw->aeff_from,
                 "median pct_of_compute_peak of kernels/attn/*/t%d of %s at %d chunk(s) of "
                 "%.0f-%.0f tokens (f32_fma)",
                 threads, base_name(path), hw->n_aeff, hw->aeff_tokens[0],
                 hw->aeff_tokens[hw->n_aeff - 1]);
    /* every GEMM by type, shape and batch, and every GEMV by type and shape: the median of each */
    hw->n_gemm = by_shape(doc, "kernels/gemm/", "pct_of_compute_peak", threads, hw->gemm, v, MAXV);
    hw->n_gemv = by_shape(doc, "kernels/gemv/", "pct_of_ceiling", threads, hw->gemv, v, MAXV);
    /* types not measured: the median of the measured ones, else the assumed default */
    double bw_def = OWB_HW_DEFAULT_BW_EFF, c_def = OWB_HW_DEFAULT_COMPUTE_EFF;
    char bw_from[OWB_HW_FROM], c_from[OWB_HW_FROM];
    snprintf(bw_from, sizeof bw_from, "assumed %.2f (no GEMV of this type measured)", bw_def);
    snprintf(c_from, sizeof c_from, "assumed %.2f (no GEMM of this type measured)", c_def);
    if (n_all_bw > 0) {
        bw_def = median(all_bw, n_all_bw);
        snprintf(bw_from, sizeof bw_from,
                 "median of the %d measured GEMV types (this one not measured)", n_all_bw);
    }
    if (n_all_c > 0) {
        c_def = median(all_c, n_all_c);
        snprintf(c_from, sizeof c_from,
                 "median of the %d measured GEMM types (this one not measured)", n_all_c);
    }
    for (int t = 0; t < OWB_TYPE_COUNT; t++) {
        if (hw->bw_eff[t] <= 0) {
            hw->bw_eff[t] = bw_def;
            snprintf(hw->bw_eff_from[t], OWB_HW_FROM, "%s", bw_from);
        }
        if (hw->compute_eff[t] <= 0) {
            hw->compute_eff[t] = c_def;
            snprintf(hw->compute_eff_from[t], OWB_HW_FROM, "%s", c_from);
        }
    }
    free(v);
    return 0;
}

/* Log-linear in batch between the n measured points, held at the ends. */
static double interp(const double *b, const double *e, int n, double batch)
{
    if (batch <= b[0])
        return e[0];
    if (batch >= b[n - 1])
        return e[n - 1];
    int k = 1;
    while (b[k] < batch)
        k++;
    const double f = log(batch / b[k - 1]) / log(b[k] / b[k - 1]);
    return e[k - 1] + f * (e[k] - e[k - 1]);
}

double owb_hw_compute_eff_at(const struct owb_hw *hw, int t, double batch)
{
    const int n = hw->n_eff_batch[t];
    if (n < 2 || !(batch > 0))
        return hw->compute_eff[t];
    return interp(hw->eff_batch[t], hw->eff_at_batch[t], n, batch);
}

double owb_hw_gemv_eff(const struct owb_hw *hw, int t, int64_t m, int64_t k)
{
    for (int i = 0; i < hw->n_gemv; i++)
        if (hw->gemv[i].type == t && hw->gemv[i].m == m && hw->gemv[i].k == k)
            return hw->gemv[i].eff;
    return -1;
}

double owb_hw_shape_eff_at(const struct owb_hw *hw, int t, int64_t m, int64_t k, double batch)
{
    double b[OWB_HW_MAX_BATCHES], e[OWB_HW_MAX_BATCHES];
    int n = 0;
    for (int i = 0; i < hw->n_gemm; i++) {
        const struct owb_hw_gemm *g = &hw->gemm[i];
        if (g->type != t || g->m != m || g->k != k || n >= OWB_HW_MAX_BATCHES)
            continue;
        int j = n++;
        while (j > 0 && b[j - 1] > g->batch) { /* insertion: ascending batches */
            b[j] = b[j - 1];
            e[j] = e[j - 1];
            j--;
        }
        b[j] = g->batch;
        e[j] = g->eff;
    }
    if (n == 0)
        return owb_hw_compute_eff_at(hw, t, batch);
    return batch > 0 ? interp(b, e, n, batch) : e[n - 1];
}

double owb_hw_attn_eff_at(const struct owb_hw *hw, double tokens, const char **from)
{
    if (hw->n_aeff < 1)
        return -1;
    if (from)
        *from = hw->aeff_from;
    return tokens > 0 ? interp(hw->aeff_tokens, hw->aeff_at, hw->n_aeff, tokens)
                      : hw->aeff_at[hw->n_aeff - 1];
}

double owb_hw_expert_eff_at(const struct owb_hw *hw, int t, double batch, const char **from)
{
    const int n = hw->n_xeff[t];
    if (n < 1) {
        if (from)
            *from = hw->compute_eff_from[t];
        return owb_hw_compute_eff_at(hw, t, batch);
    }
    if (from)
        *from = hw->xeff_from[t];
    return batch > 0 ? interp(hw->xeff_batch[t], hw->xeff_at_batch[t], n, batch)
                     : hw->xeff_at_batch[t][n - 1];
}

/* The precision key of a description's peak table that a weight type's matmuls run at. */
static const char *precision_of(enum owb_type t)
{
    switch (t) {
    case OWB_TYPE_F32:
        return "f32";
    case OWB_TYPE_F16:
        return "f16";
    case OWB_TYPE_BF16:
        return "bf16";
    default:
        return "int8"; /* block-quantized weights: int8 dot products on quantized activations */
    }
}

static int need_num(const cJSON *o, const char *key, const char *path, double *out,
                    char err[OWB_ERR_MAX])
{
    double v = num(o, key);
    if (!(v > 0) || !isfinite(v)) {
        owb_seterr(err, "%s: \"%s\" must be a positive number", path, key);
        return OWB_E_FORMAT;
    }
    *out = v;
    return 0;
}

int owb_hw_from_description(const cJSON *doc, const char *path, struct owb_hw *hw,
                            char err[OWB_ERR_MAX])
{
    hw_init(hw);
    snprintf(hw->source, sizeof hw->source, "%s", path);
    const char *name = str(doc, "name"), *kind = str(doc, "kind");
    if (!name || !kind || (strcmp(kind, "cpu") != 0 && strcmp(kind, "gpu") != 0)) {
        owb_seterr(err, "%s: \"name\" (string) and \"kind\" (\"cpu\" or \"gpu\") are required",
                   path);
        return OWB_E_FORMAT;
    }
    snprintf(hw->name, sizeof hw->name, "%s", name);
    snprintf(hw->kind, sizeof hw->kind, "%s", kind);
    double mem_gb, bw;
    if (need_num(doc, "memory_gb", path, &mem_gb, err) ||
        need_num(doc, "memory_bw_gb_per_s", path, &bw, err))
        return OWB_E_FORMAT;
    hw->memory_bytes = mem_gb * 1e9;
    hw->read_gb_per_s = bw;
    snprintf(hw->read_from, sizeof hw->read_from, "memory_bw_gb_per_s of %s", base_name(path));
    double u = num(doc, "usable_fraction");
    if (!isnan(u)) {
        if (!(u > 0 && u <= 1)) {
            owb_seterr(err, "%s: \"usable_fraction\" must be in (0, 1]", path);
            return OWB_E_FORMAT;
        }
        hw->usable_fraction = u;
    }
    const cJSON *peaks = cJSON_GetObjectItemCaseSensitive(doc, "peak_tflop_per_s");
    if (!cJSON_IsObject(peaks) || !cJSON_GetArraySize(peaks)) {
        owb_seterr(err, "%s: \"peak_tflop_per_s\" must be an object of precision -> dense TFLOP/s",
                   path);
        return OWB_E_FORMAT;
    }
    const cJSON *eff = cJSON_GetObjectItemCaseSensitive(doc, "efficiency");
    double bw_eff = OWB_HW_DEFAULT_BW_EFF, c_eff = OWB_HW_DEFAULT_COMPUTE_EFF;
    const char *bw_why = "assumed (planner default)", *c_why = "assumed (planner default)";
    if (eff) {
        double m = num(eff, "memory"), c = num(eff, "compute");
        if ((!isnan(m) && !(m > 0 && m <= 1)) || (!isnan(c) && !(c > 0 && c <= 1))) {
            owb_seterr(err, "%s: \"efficiency\": memory and compute must be in (0, 1]", path);
            return OWB_E_FORMAT;
        }
        if (!isnan(m)) {
            bw_eff = m;
            bw_why = "efficiency.memory";
        }
        if (!isnan(c)) {
            c_eff = c;
            c_why = "efficiency.compute";
        }
    }
    for (int t = 0; t < OWB_TYPE_COUNT; t++) {
        hw->bw_eff[t] = bw_eff;
        snprintf(hw->bw_eff_from[t], OWB_HW_FROM, "%s of %s", bw_why, base_name(path));
        hw->compute_eff[t] = c_eff;
        snprintf(hw->compute_eff_from[t], OWB_HW_FROM, "%s of %s", c_why, base_name(path));
        const char *prec = precision_of((enum owb_type)t);
        double p = num(peaks, prec);
        if (!(p > 0) && strcmp(prec, "int8") == 0) { /* no int8 path: dequantize to f16 */
            prec = "f16";
            p = num(peaks, prec);
        }
        if (p > 0) {
            hw->peak_gop_per_s[t] = p * 1e3;
            snprintf(hw->peak_from[t], OWB_HW_FROM, "peak_tflop_per_s.%s of %s", prec,
                     base_name(path));
        }
    }
    double dev = num(doc, "devices_per_node");
    hw->devices_per_node = dev >= 1 ? (int)dev : 1;
    const cJSON *ic = cJSON_GetObjectItemCaseSensitive(doc, "interconnect");
    if (hw->devices_per_node > 1) {
        if (!cJSON_IsObject(ic) || need_num(ic, "gb_per_s", path, &hw->link_gb_per_s, err)) {
            owb_seterr(err, "%s: devices_per_node > 1 needs \"interconnect\": {\"gb_per_s\": ...}",
                       path);
            return OWB_E_FORMAT;
        }
        double lat = num(ic, "latency_us");
        hw->link_latency_us = lat >= 0 ? lat : 10.0;
        const char *ln = str(ic, "name");
        snprintf(hw->link_name, sizeof hw->link_name, "%s", ln ? ln : "interconnect");
    }
    return 0;
}

int owb_hw_load(const char *arg, const char *dir, int threads, struct owb_hw *hw,
                char err[OWB_ERR_MAX])
{
    char path[1024];
    struct stat st;
    cJSON *doc = NULL;
    int rc;
    if (stat(arg, &st) == 0)
        snprintf(path, sizeof path, "%s", arg);
    else if (snprintf(path, sizeof path, "%s/%s.json", dir, arg) < (int)sizeof path &&
             !strchr(arg, '/') && stat(path, &st) == 0)
        ;
    else {
        owb_seterr(err,
                   "--hardware %s: no such file, and no shipped description of that name in %s "
                   "(h100-sxm, h200, epyc-9654-2s; or 'measure')",
                   arg, dir);
        return OWB_E_IO;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        owb_seterr(err, "%s: cannot open", path);
        return OWB_E_IO;
    }
    char *buf = NULL;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        len < (1L << 30))
        buf = malloc((size_t)len + 1);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        free(buf);
        owb_seterr(err, "%s: cannot read", path);
        return OWB_E_IO;
    }
    fclose(f);
    buf[len] = '\0';
    doc = cJSON_Parse(buf);
    free(buf);
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        owb_seterr(err, "%s: not a JSON object", path);
        return OWB_E_FORMAT;
    }
    const char *schema = str(doc, "schema");
    if (schema && strncmp(schema, "owbench.result/", 15) == 0) {
        cJSON_Delete(doc);
        doc = NULL;
        if ((rc = owb_result_read(path, &doc, err)) == 0)
            rc = owb_hw_from_result(doc, path, threads, hw, err);
    } else if (schema && (strcmp(schema, "owbench.hardware/1") == 0 ||
                          strncmp(schema, "owbench.hardware/1.", 19) == 0)) {
        rc = owb_hw_from_description(doc, path, hw, err);
    } else {
        owb_seterr(
            err,
            "%s: \"schema\" is %s%s%s; expected \"owbench.hardware/1\" or an owbench.result/1 "
            "document",
            path, schema ? "\"" : "", schema ? schema : "missing", schema ? "\"" : "");
        rc = OWB_E_FORMAT;
    }
    cJSON_Delete(doc);
    return rc;
}

cJSON *owb_hw_to_json(const struct owb_hw *hw, const enum owb_type *types, int n)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "name", hw->name);
    cJSON_AddStringToObject(o, "source", hw->source);
    cJSON_AddBoolToObject(o, "measured", hw->measured);
    cJSON_AddStringToObject(o, "kind", hw->kind);
    if (hw->threads > 0)
        cJSON_AddNumberToObject(o, "threads", hw->threads);
    cJSON_AddNumberToObject(o, "memory_bytes", hw->memory_bytes);
    cJSON_AddNumberToObject(o, "usable_fraction", hw->usable_fraction);
    cJSON_AddNumberToObject(o, "read_gb_per_s", hw->read_gb_per_s);
    cJSON_AddStringToObject(o, "read_from", hw->read_from);
    cJSON_AddNumberToObject(o, "cpu_share", hw->cpu_share);
    cJSON_AddStringToObject(o, "cpu_share_from", hw->cpu_share_from);
    cJSON_AddBoolToObject(o, "cpu_share_applied", hw->apply_cpu_share);
    if (hw->n_aeff > 0) { /* [[tokens, efficiency], ...] */
        cJSON *curve = cJSON_AddArrayToObject(o, "attn_eff_by_tokens");
        for (int k = 0; curve && k < hw->n_aeff; k++) {
            const double pair[2] = {hw->aeff_tokens[k], hw->aeff_at[k]};
            cJSON_AddItemToArray(curve, cJSON_CreateDoubleArray(pair, 2));
        }
        cJSON_AddStringToObject(o, "attn_eff_from", hw->aeff_from);
    }
    cJSON_AddNumberToObject(o, "devices_per_node", hw->devices_per_node);
    if (hw->devices_per_node > 1) {
        cJSON_AddStringToObject(o, "link", hw->link_name);
        cJSON_AddNumberToObject(o, "link_gb_per_s", hw->link_gb_per_s);
        cJSON_AddNumberToObject(o, "link_latency_us", hw->link_latency_us);
    }
    cJSON *ty = cJSON_AddObjectToObject(o, "types");
    for (int i = 0; ty && i < n; i++) {
        enum owb_type t = types[i];
        cJSON *e = cJSON_AddObjectToObject(ty, owb_type_name(t));
        if (!e)
            continue;
        cJSON_AddNumberToObject(e, "bw_eff", hw->bw_eff[t]);
        cJSON_AddStringToObject(e, "bw_eff_from", hw->bw_eff_from[t]);
        if (hw->peak_gop_per_s[t] > 0) {
            cJSON_AddNumberToObject(e, "peak_gop_per_s", hw->peak_gop_per_s[t]);
            cJSON_AddStringToObject(e, "peak_from", hw->peak_from[t]);
        } else {
            cJSON_AddNullToObject(e, "peak_gop_per_s");
        }
        cJSON_AddNumberToObject(e, "compute_eff", hw->compute_eff[t]);
        cJSON_AddStringToObject(e, "compute_eff_from", hw->compute_eff_from[t]);
        if (hw->n_eff_batch[t] > 0) { /* [[batch, efficiency], ...] */
            cJSON *curve = cJSON_AddArrayToObject(e, "compute_eff_by_batch");
            for (int k = 0; curve && k < hw->n_eff_batch[t]; k++) {
                const double pair[2] = {hw->eff_batch[t][k], hw->eff_at_batch[t][k]};
                cJSON_AddItemToArray(curve, cJSON_CreateDoubleArray(pair, 2));
            }
        }
        if (hw->n_xeff[t] > 0) { /* [[rows per expert, efficiency], ...] */
            cJSON *curve = cJSON_AddArrayToObject(e, "expert_eff_by_batch");
            for (int k = 0; curve && k < hw->n_xeff[t]; k++) {
                const double pair[2] = {hw->xeff_batch[t][k], hw->xeff_at_batch[t][k]};
                cJSON_AddItemToArray(curve, cJSON_CreateDoubleArray(pair, 2));
            }
            cJSON_AddStringToObject(e, "expert_eff_from", hw->xeff_from[t]);
        }
    }
    return o;
}
