/* SPDX-License-Identifier: MIT */
/*
 * kernels_suite.c: the GEMV/GEMM sweep of `owbench kernels` (bench/suites/kernels_suite.h). One
 * pool per thread count; per case the weights are built from a few reference-quantized random rows
 * repeated (quantizing hundreds of MiB with the reference quantizers would take minutes and the
 * values do not change the timing), copied by each worker into its own row slice of every copy
 * (first touch), and each repetition runs two pool regions: activation preparation (batch rows
 * split over threads), then the rows (output rows split over threads, aligned to the kernels'
 * tile).
 */
#define _GNU_SOURCE /* posix_memalign, madvise */
#include "bench/suites/kernels_suite.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench/core/counters.h"
#include "bench/suites/ceiling.h"
#include "bench/suites/peak_suite.h"
#include "bench/core/pool.h"
#include "bench/suites/stream.h"
#include "bench/core/suite.h"
#include "bench/core/topo.h"
#include "kernels/attn.h"
#include "kernels/matmul.h"
#include "results/result.h"
#include "results/stats.h"

#define KS_PATTERN_ROWS 16 /* distinct quantized rows the weights repeat */
#define KS_COUNT_REPS 3    /* repetitions run again under the counters */
#define KS_ALIGN ((size_t)2 << 20)

static const enum owb_type default_formats[] = {
    OWB_TYPE_F32,  OWB_TYPE_F16,  OWB_TYPE_BF16, OWB_TYPE_Q8_0,
    OWB_TYPE_Q4_0, OWB_TYPE_Q4_K, OWB_TYPE_Q6_K, OWB_TYPE_MXFP4,
};
static const int64_t default_shapes[][2] = {
    {4096, 4096}, {14336, 4096}, {4096, 14336}, {2880, 2880}, {5760, 2880},
};

void owb_kernels_cfg_default(struct owb_kernels_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < OWB_ARRAY_LEN(default_formats); i++)
        cfg->formats[cfg->nformats++] = default_formats[i];
    for (size_t i = 0; i < OWB_ARRAY_LEN(default_shapes); i++) {
        cfg->shapes[cfg->nshapes][0] = default_shapes[i][0];
        cfg->shapes[cfg->nshapes++][1] = default_shapes[i][1];
    }
    cfg->batches[cfg->nbatches++] = 1;
    cfg->batches[cfg->nbatches++] = 512;
    cfg->pin = "compact";
    cfg->isa = owb_isa_detect();
    cfg->interleave_ceiling = 1;
    owb_measure_cfg_default(&cfg->measure);
}

int owb_kernels_parse_shapes(const char *s, struct owb_kernels_cfg *cfg, char err[OWB_ERR_MAX])
{
    int n = 0;
    const char *p = s;
    while (p && *p) {
        char *end = NULL;
        long long m = strtoll(p, &end, 10), k = 0;
        if (end == p || (*end != 'x' && *end != 'X'))
            goto bad;
        p = end + 1;
        k = strtoll(p, &end, 10);
        if (end == p || (*end != ',' && *end != '\0') || m <= 0 || k <= 0 || m > (1LL << 31) ||
            k > (1LL << 31))
            goto bad;
        if (n == OWB_KERNELS_MAX_LIST) {
            snprintf(err, OWB_ERR_MAX, "--shapes: at most %d shapes", OWB_KERNELS_MAX_LIST);
            return OWB_E_USAGE;
        }
        cfg->shapes[n][0] = m;
        cfg->shapes[n++][1] = k;
        p = *end ? end + 1 : end;
        continue;
    bad:
        snprintf(err, OWB_ERR_MAX,
                 "--shapes '%s': expected a comma list of MxK with positive M and K, e.g. "
                 "4096x14336",
                 s);
        return OWB_E_USAGE;
    }
    if (!n) {
        snprintf(err, OWB_ERR_MAX, "--shapes: empty list");
        return OWB_E_USAGE;
    }
    cfg->nshapes = n;
    return OWB_OK;
}

int owb_kernels_parse_formats(const char *s, struct owb_kernels_cfg *cfg, char err[OWB_ERR_MAX])
{
    char buf[1024];
    int n = 0;
    if (strlen(s) >= sizeof buf) {
        snprintf(err, OWB_ERR_MAX, "--formats: list too long");
        return OWB_E_USAGE;
    }
    strcpy(buf, s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        enum owb_type t;
        const struct owb_type_traits *tr = NULL;
        if (owb_type_from_name(tok, &t) == 0)
            tr = owb_type_traits(t);
        if (!tr || !tr->to_float || !tr->from_float_ref || t == OWB_TYPE_Q8_1 ||
            t == OWB_TYPE_Q8_K) {
            snprintf(err, OWB_ERR_MAX,
                     "--formats: '%s' is not a weight format (f32, f16, bf16, q4_0, q4_1, q5_0, "
                     "q5_1, q8_0, q2_K, q3_K, q4_K, q5_K, q6_K, mxfp4)",
                     tok);
            return OWB_E_USAGE;
        }
        if (n == OWB_KERNELS_MAX_LIST) {
            snprintf(err, OWB_ERR_MAX, "--formats: at most %d formats", OWB_KERNELS_MAX_LIST);
            return OWB_E_USAGE;
        }
        cfg->formats[n++] = t;
    }
    if (!n) {
        snprintf(err, OWB_ERR_MAX, "--formats: empty list");
        return OWB_E_USAGE;
    }
    cfg->nformats = n;
    return OWB_OK;
}

/* One case being timed. */
struct ks_case {
    struct owb_matmul_plan plan;
    struct owb_pool *pool;
    uint8_t *w;        /* ncopy copies of the weights, copy_bytes apart */
    size_t w_bytes;    /* one copy: m rows of row_bytes */
    size_t copy_bytes; /* w_bytes rounded up to KS_ALIGN (to 4 KiB when smaller) */
    size_t row_bytes;
    int ncopy;
    const uint8_t *pattern; /* KS_PATTERN_ROWS quantized rows */
    float *x;               /* (batch, k) */
    float *y;               /* (batch, m) */
    void *act;              /* prepared activations */
    int64_t rep;            /* repetitions run, picks the copy */
    double slowdown;        /* testing knob OWB_KERNELS_SLOWDOWN: extra fraction busy-waited */
};

/* Testing knob for validating `owbench ab` and `compare` against a known regression:
 * OWB_KERNELS_SLOWDOWN="PATTERN:PCT" makes every case whose benchmark name contains PATTERN
 * (empty: every case) busy-wait, on every thread after its rows, PCT percent of the time that
 * thread's kernel call took (inside the timed region; activation preparation is not stretched). The
 * case gets a note saying so; its name and params do not change, so it still pairs with an unslowed
 * run. *frac = 0 when the variable is unset or the name does not match. Returns 0 or OWB_E_USAGE
 * for a malformed value (err says why). */
#define KS_SLOWDOWN_ENV "OWB_KERNELS_SLOWDOWN"
static int ks_slowdown(const char *name, double *frac, char err[OWB_ERR_MAX])
{
    const char *v = getenv(KS_SLOWDOWN_ENV);
    *frac = 0.0;
    if (!v || !*v)
        return OWB_OK;
    const char *colon = strrchr(v, ':');
    char *end = NULL;
    double pct = colon ? strtod(colon + 1, &end) : (double)NAN;
    if (!colon || end == colon + 1 || *end != '\0' || !(pct >= 0 && pct <= 1000)) {
        snprintf(err, OWB_ERR_MAX,
                 "%s='%s': expected PATTERN:PERCENT (a part of the benchmark name, then 0..1000)",
                 KS_SLOWDOWN_ENV, v);
        return OWB_E_USAGE;
    }
    size_t plen = (size_t)(colon - v);
    for (const char *q = name; name && *q; q++)
        if (!strncmp(q, v, plen)) {
            *frac = pct / 100.0;
            break;
        }
    if (plen == 0)
        *frac = pct / 100.0;
    return OWB_OK;
}

static void ks_touch(void *vctx, int tid, int nthreads)
{
    struct ks_case *c = vctx;
    int64_t r0, r1;
    owb_pool_slice(c->plan.m, OWB_MATMUL_ROW_ALIGN, tid, nthreads, &r0, &r1);
    for (int cp = 0; cp < c->ncopy; cp++) {
        uint8_t *w = c->w + (size_t)cp * c->copy_bytes;
        for (int64_t r = r0; r < r1; r++)
            memcpy(w + (size_t)r * c->row_bytes,
                   c->pattern + (size_t)(r % KS_PATTERN_ROWS) * c->row_bytes, c->row_bytes);
    }
    int64_t b0, b1;
    owb_pool_slice(c->plan.batch, 1, tid, nthreads, &b0, &b1);
    if (b1 > b0)
        memset(c->y + b0 * c->plan.m, 0, (size_t)((b1 - b0) * c->plan.m) * sizeof(float));
}

static void ks_prepare(void *vctx, int tid, int nthreads)
{
    struct ks_case *c = vctx;
    int64_t b0, b1;
    owb_pool_slice(c->plan.batch, 1, tid, nthreads, &b0, &b1);
    if (b1 > b0)
        owb_matmul_prepare(&c->plan, c->x, c->plan.k, c->act, b0, b1);
}

static void ks_rows(void *vctx, int tid, int nthreads)
{
    struct ks_case *c = vctx;
    int64_t r0, r1;
    const uint8_t *w = c->w + (size_t)(c->rep % c->ncopy) * c->copy_bytes;
    uint64_t t0 = c->slowdown > 0 ? owb_now_ns() : 0;
    owb_pool_slice(c->plan.m, OWB_MATMUL_ROW_ALIGN, tid, nthreads, &r0, &r1);
    if (r1 > r0)
        owb_matmul_rows(&c->plan, w, c->act, c->x, c->plan.k, c->y, c->plan.m, r0, r1);
    if (c->slowdown > 0) { /* testing knob: each thread spins a fraction of its kernel time */
        uint64_t t1 = owb_now_ns();
        uint64_t until = t1 + (uint64_t)((double)(t1 - t0) * c->slowdown);
        while (owb_now_ns() < until)
            ;
    }
}

static int ks_rep(void *vctx)
{
    struct ks_case *c = vctx;
    if (c->plan.act_row_bytes)
        owb_pool_run(c->pool, ks_prepare, c);
    owb_pool_run(c->pool, ks_rows, c);
    c->rep++;
    return 0;
}

static uint64_t ks_rng = 0x2545f4914f6cdd1dull;
static float ks_frand(void)
{
    ks_rng ^= ks_rng << 13;
    ks_rng ^= ks_rng >> 7;
    ks_rng ^= ks_rng << 17;
    return (float)((double)(ks_rng >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

/* Time one (format, shape, batch) on the pool; appends one benchmark. */
static int ks_run_case(const struct owb_kernels_cfg *cfg, struct owb_pool *pool, int nthr,
                       enum owb_type t, int64_t m, int64_t k, int batch, size_t rotate,
                       const double peaks[OWB_PEAK_COUNT], struct owb_ilv *ilv, cJSON *doc,
                       char err[OWB_ERR_MAX])
{
    double ilv_gbs[2] = {0, 0}; /* the read ceiling right before and after a GEMV's repetitions */
    struct ks_case c;
    struct owb_counters *cnt = NULL;
    struct owb_samples smp = {0};
    uint8_t *pattern = NULL;
    float *row = NULL;
    int rc;
    memset(&c, 0, sizeof c);
    c.pool = pool;
    rc = owb_matmul_plan_init(&c.plan, t, m, k, batch, cfg->isa, err);
    if (rc)
        return rc;
    const struct owb_type_traits *tr = owb_type_traits(t);
    c.row_bytes = owb_row_size(t, k);
    c.w_bytes = c.row_bytes * (size_t)m;
    /* Copies of a small matrix 4 KiB apart, not 2 MiB: ncopy of them span rotate bytes of
     * weights, and 2 MiB each would be (2 MiB / w_bytes) x that (242 GB for 256x256 q4_0). */
    const size_t align = c.w_bytes >= KS_ALIGN ? KS_ALIGN : 4096;
    c.copy_bytes = (c.w_bytes + align - 1) / align * align;
    c.ncopy = (int)((rotate + c.w_bytes - 1) / c.w_bytes);
    if (c.ncopy < 1)
        c.ncopy = 1;
    if (c.w_bytes < rotate && c.ncopy < 2)
        c.ncopy = 2;
    pattern = malloc(c.row_bytes * KS_PATTERN_ROWS);
    row = malloc((size_t)k * sizeof(float));
    c.x = malloc((size_t)(batch * k) * sizeof(float));
    c.y = NULL;
    if (!pattern || !row || !c.x ||
        posix_memalign((void **)&c.y, 64, (size_t)(batch * m) * sizeof(float)) ||
        posix_memalign((void **)&c.w, KS_ALIGN, c.copy_bytes * (size_t)c.ncopy) ||
        (owb_matmul_act_bytes(&c.plan) &&
         posix_memalign(&c.act, 64, (owb_matmul_act_bytes(&c.plan) + 63) & ~(size_t)63))) {
        snprintf(err, OWB_ERR_MAX, "kernels %s %lldx%lld batch %d: cannot allocate %d x %zu bytes",
                 tr->name, (long long)m, (long long)k, batch, c.ncopy, c.copy_bytes);
        rc = OWB_E_NOMEM;
        goto out;
    }
    madvise(c.w, c.copy_bytes * (size_t)c.ncopy, MADV_HUGEPAGE); /* best effort */
    for (int r = 0; r < KS_PATTERN_ROWS; r++) {
        for (int64_t i = 0; i < k; i++)
            row[i] = ks_frand();
        tr->from_float_ref(row, pattern + (size_t)r * c.row_bytes, k);
    }
    for (int64_t i = 0; i < (int64_t)batch * k; i++)
        c.x[i] = ks_frand();
    c.pattern = pattern;
    owb_pool_run(pool, ks_touch, &c);

    char name[160];
    if (batch == 1)
        snprintf(name, sizeof name, "kernels/gemv/%s/%lldx%lld/t%d", tr->name, (long long)m,
                 (long long)k, nthr);
    else
        snprintf(name, sizeof name, "kernels/gemm/%s/%lldx%lld/b%d/t%d", tr->name, (long long)m,
                 (long long)k, batch, nthr);
    if ((rc = ks_slowdown(name, &c.slowdown, err)))
        goto out;
    owb_pool_reset_migrations(pool);
    if (batch == 1 && ilv)
        ilv_gbs[0] = owb_ilv_sample(ilv);
    rc = owb_measure_run(&cfg->measure, ks_rep, &c, &smp);
    if (batch == 1 && ilv)
        ilv_gbs[1] = owb_ilv_sample(ilv);
    if (rc) {
        snprintf(err, OWB_ERR_MAX, "%s: measurement failed", name);
        goto out;
    }
    bool migrated = owb_pool_migrated(pool);
    cJSON *b = owb_result_add_benchmark(doc, name, "kernels");
    if (!b) {
        rc = OWB_E_NOMEM;
        goto out;
    }
    owb_result_param_str(b, "format", tr->name);
    owb_result_param_num(b, "m", (double)m);
    owb_result_param_num(b, "k", (double)k);
    owb_result_param_num(b, "batch", batch);
    owb_result_param_num(b, "threads", nthr);
    owb_result_param_str(b, "isa", owb_isa_name(c.plan.isa));
    owb_result_param_str(b, "isa_requested", owb_isa_name(cfg->isa));
    owb_result_param_str(b, "path", c.plan.path);
    owb_result_param_str(b, "act_type", owb_type_name(c.plan.act_type));
    owb_result_param_num(b, "weight_bytes", (double)c.w_bytes);
    owb_result_param_num(b, "copies", c.ncopy);
    owb_result_param_str(b, "pin", cfg->pin);
    owb_result_param_str(b, "bytes_convention",
                         "weights as stored + f32 activations read + f32 outputs written");
    if (c.slowdown > 0) {
        char note[160];
        snprintf(note, sizeof note,
                 "testing knob " KS_SLOWDOWN_ENV ": %.4g%% busy-wait added to every repetition",
                 100.0 * c.slowdown);
        owb_result_note(b, note);
    }
    cnt = owb_counters_new(cfg->counters, nthr, err);
    if (!cnt) { /* a malformed --counters list (a missing PMU is not an error) */
        rc = OWB_E_USAGE;
        goto out;
    }
    owb_suite_count(pool, cnt, ks_rep, &c, KS_COUNT_REPS);
    if (migrated)
        owb_result_invalidate(b, "threads migrated during the timed loop");
    rc = owb_suite_finish(b, &smp, &cfg->measure, cfg->pin, pool, cnt);
    owb_result_param_num(b, "counter_reps", KS_COUNT_REPS);
    if (!rc && smp.n) {
        struct owb_stats st;
        rc = owb_stats_compute(smp.ns, smp.n, &st);
        if (!rc) {
            const double bytes = (double)c.w_bytes + 4.0 * (double)batch * (double)k +
                                 4.0 * (double)batch * (double)m;
            const double flop = 2.0 * (double)m * (double)k * (double)batch;
            const double gbs = bytes / st.median; /* bytes/ns = GB/s */
            owb_result_metric(b, "us_median", st.median * 1e-3);
            owb_result_metric(b, "us_min", st.min * 1e-3);
            owb_result_metric(b, "bytes_per_iter", bytes);
            owb_result_metric(b, "gb_per_s", gbs);
            owb_result_metric(b, "gb_per_s_best", bytes / st.min);
            owb_result_metric(b, "gflop_per_s", flop / st.median);
            if (batch == 1) /* GEMV: held against the read ceiling (owb_ceiling_annotate) */
                owb_result_param_str(b, "roofline", "read");
            const double ic = ilv_gbs[0] > ilv_gbs[1] ? ilv_gbs[0] : ilv_gbs[1];
            if (batch == 1 && ic > 0) {
                cJSON *arr = cJSON_CreateDoubleArray(ilv_gbs, 2);
                if (!arr || !cJSON_AddItemToObject(b, "ceiling_interleaved_samples", arr)) {
                    cJSON_Delete(arr);
                    rc = OWB_E_NOMEM;
                    goto out;
                }
                owb_result_param_str(b, "ceiling_interleaved", OWB_ILV_HOW ", before and after");
                owb_result_metric(b, "ceiling_interleaved_bytes", (double)ilv->words * 8.0);
                owb_result_metric(b, "ceiling_interleaved_gb_per_s", ic);
                owb_result_metric(b, "pct_of_ceiling_interleaved", 100.0 * gbs / ic);
            }
            /* batched cases are compute-bound: against the int8 or f32 peak of the ISA (measured
             * for cfg->isa only, so a path that fell back to a lower ISA gets none) */
            if (batch > 1 && c.plan.isa == cfg->isa)
                owb_peak_suite_annotate(b, owb_peak_kind_for_act(c.plan.act_type), peaks);
            if (cfg->verbose)
                fprintf(stderr, "  %-40s %10.1f us %7.1f GB/s %8.1f GFLOP/s  %s\n", name,
                        st.median * 1e-3, gbs, flop / st.median, c.plan.path);
        }
    }
out:
    owb_counters_free(cnt);
    free(smp.ns);
    free(pattern);
    free(row);
    free(c.x);
    free(c.y);
    free(c.w);
    free(c.act);
    return rc;
}

/* ---- MoE experts as the engine's prefill runs them ---- */

#define KX_MAX_WEIGHT_BYTES ((size_t)1 << 30) /* distinct expert weights allocated at most */

enum { KX_GATE, KX_UP, KX_DOWN, KX_N };

/* One MoE case being timed. */
struct kx_case {
    struct owb_pool *pool;
    int64_t E, F;                 /* n_embd, n_ff */
    int n_alloc;                  /* distinct experts in memory (expert e uses copy e % n_alloc) */
    uint8_t *w[KX_N];             /* (n_alloc, m, row) stacks: gate, up (F x E), down (E x F) */
    size_t wexp[KX_N], row[KX_N]; /* bytes of one expert's matrix, of one of its rows */
    const uint8_t *pattern[KX_N]; /* KS_PATTERN_ROWS quantized rows each */
    int n_active;
    int32_t *active;            /* (n_active) chosen experts, ascending */
    int64_t *count, *off;       /* (n_expert) rows of each expert, its first row */
    struct owb_matmul_plan *pl; /* (n_expert, KX_N) plans over each chosen expert's rows */
    size_t *aoff_g, *aoff_d;    /* (n_expert) byte offsets of its prepared rows */
    float *x;                   /* (rows, E) the chosen experts' input rows, expert-grouped */
    float *hg, *hu;             /* (rows, F) gate and up outputs (hg is down's input) */
    float *y;                   /* (rows, E) down outputs */
    uint8_t *act_g, *act_u, *act_d;
    size_t act_bytes; /* of each */
};

static const uint8_t *kx_weight(const struct kx_case *c, int i, int32_t e)
{
    return c->w[i] + (size_t)(e % c->n_alloc) * c->wexp[i];
}

static void kx_touch(void *vctx, int tid, int nthreads)
{
    struct kx_case *c = vctx;
    for (int i = 0; i < KX_N; i++) {
        const int64_t rows = (int64_t)(c->wexp[i] / c->row[i]) * c->n_alloc;
        int64_t r0, r1;
        owb_pool_slice(rows, 1, tid, nthreads, &r0, &r1);
        for (int64_t r = r0; r < r1; r++)
            memcpy(c->w[i] + (size_t)r * c->row[i],
                   c->pattern[i] + (size_t)(r % KS_PATTERN_ROWS) * c->row[i], c->row[i]);
    }
}

static bool kx_share(const struct owb_matmul_plan *p)
{
    return p[KX_GATE].act_row_bytes && owb_matmul_act_compatible(&p[KX_GATE], &p[KX_UP]);
}

/* Step 1: each chosen expert's rows prepared for gate and up (experts split over threads). */
static void kx_prep_gu(void *vctx, int tid, int nthreads)
{
    struct kx_case *c = vctx;
    int64_t a0, a1;
    owb_pool_slice(c->n_active, 1, tid, nthreads, &a0, &a1);
    for (int64_t ia = a0; ia < a1; ia++) {
        const int32_t e = c->active[ia];
        const struct owb_matmul_plan *p = &c->pl[(size_t)e * KX_N];
        const float *x = c->x + c->off[e] * c->E;
        if (p[KX_GATE].act_row_bytes)
            owb_matmul_prepare(&p[KX_GATE], x, c->E, c->act_g + c->aoff_g[e], 0, c->count[e]);
        if (p[KX_UP].act_row_bytes && !kx_share(p))
            owb_matmul_prepare(&p[KX_UP], x, c->E, c->act_u + c->aoff_g[e], 0, c->count[e]);
    }
}

/* Steps 2 and 4: output rows of matrix i (gate and up together, or down) over the flat (chosen
 * expert, row) space, split over the threads at the kernels' row alignment. */
static void kx_rows(struct kx_case *c, int tid, int nthreads, bool down)
{
    const int64_t m = down ? c->E : c->F, k = down ? c->F : c->E;
    int64_t lo, hi;
    owb_pool_slice((int64_t)c->n_active * m, OWB_MATMUL_ROW_ALIGN, tid, nthreads, &lo, &hi);
    for (int64_t ia = lo / m; ia * m < hi; ia++) {
        const int64_t r0 = (lo > ia * m ? lo : ia * m) - ia * m;
        const int64_t r1 = (hi < (ia + 1) * m ? hi : (ia + 1) * m) - ia * m;
        const int32_t e = c->active[ia];
        const struct owb_matmul_plan *p = &c->pl[(size_t)e * KX_N];
        const int64_t o = c->off[e];
        if (down) {
            owb_matmul_rows(&p[KX_DOWN], kx_weight(c, KX_DOWN, e), c->act_d + c->aoff_d[e],
                            c->hg + o * k, k, c->y + o * m, m, r0, r1);
        } else {
            const uint8_t *ag = c->act_g + c->aoff_g[e];
            owb_matmul_rows(&p[KX_GATE], kx_weight(c, KX_GATE, e), ag, c->x + o * k, k,
                            c->hg + o * m, m, r0, r1);
            owb_matmul_rows(&p[KX_UP], kx_weight(c, KX_UP, e),
                            kx_share(p) ? ag : c->act_u + c->aoff_g[e], c->x + o * k, k,
                            c->hu + o * m, m, r0, r1);
        }
    }
}

static void kx_gu(void *vctx, int tid, int nthreads)
{
    kx_rows(vctx, tid, nthreads, false);
}

static void kx_down(void *vctx, int tid, int nthreads)
{
    kx_rows(vctx, tid, nthreads, true);
}

/* Step 3: the hidden rows prepared for down. */
static void kx_prep_d(void *vctx, int tid, int nthreads)
{
    struct kx_case *c = vctx;
    int64_t a0, a1;
    owb_pool_slice(c->n_active, 1, tid, nthreads, &a0, &a1);
    for (int64_t ia = a0; ia < a1; ia++) {
        const int32_t e = c->active[ia];
        const struct owb_matmul_plan *p = &c->pl[(size_t)e * KX_N + KX_DOWN];
        if (p->act_row_bytes)
            owb_matmul_prepare(p, c->hg + c->off[e] * c->F, c->F, c->act_d + c->aoff_d[e], 0,
                               c->count[e]);
    }
}

static int kx_rep(void *vctx)
{
    struct kx_case *c = vctx;
    owb_pool_run(c->pool, kx_prep_gu, c);
    owb_pool_run(c->pool, kx_gu, c);
    owb_pool_run(c->pool, kx_prep_d, c);
    owb_pool_run(c->pool, kx_down, c);
    return 0;
}

/* Route `tokens` tokens to n_used distinct experts each (uniform, seeded per case) and plan every
 * chosen expert's three matmuls over its rows. Returns 0 or a status with err. */
static int kx_route(const struct owb_kernels_cfg *cfg, struct kx_case *c, int tokens,
                    char err[OWB_ERR_MAX])
{
    const struct owb_kernels_moe *mo = &cfg->moe;
    const int X = mo->n_expert, K = mo->n_used;
    uint64_t rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)tokens;
    memset(c->count, 0, sizeof(int64_t) * (size_t)X);
    for (int t = 0; t < tokens; t++) {
        int32_t pick[64];
        for (int j = 0; j < K; j++) {
            bool again = true;
            while (again) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                pick[j] = (int32_t)((rng >> 11) % (uint64_t)X);
                again = false;
                for (int i = 0; i < j; i++)
                    again |= pick[i] == pick[j];
            }
            c->count[pick[j]]++;
        }
    }
    size_t og = 0, od = 0;
    int64_t r = 0;
    c->n_active = 0;
    for (int32_t e = 0; e < X; e++) {
        c->off[e] = r;
        r += c->count[e];
        if (!c->count[e])
            continue;
        c->active[c->n_active++] = e;
        struct owb_matmul_plan *p = &c->pl[(size_t)e * KX_N];
        int rc =
            owb_matmul_plan_init(&p[KX_GATE], mo->type, c->F, c->E, c->count[e], cfg->isa, err);
        if (!rc)
            rc = owb_matmul_plan_init(&p[KX_UP], mo->type, c->F, c->E, c->count[e], cfg->isa, err);
        if (!rc)
            rc =
                owb_matmul_plan_init(&p[KX_DOWN], mo->type, c->E, c->F, c->count[e], cfg->isa, err);
        if (rc)
            return rc;
        c->aoff_g[e] = og;
        c->aoff_d[e] = od;
        og += (owb_matmul_act_bytes(&p[KX_GATE]) + 63) & ~(size_t)63;
        od += (owb_matmul_act_bytes(&p[KX_DOWN]) + 63) & ~(size_t)63;
        OWB_ASSERT(og <= c->act_bytes && od <= c->act_bytes); /* sized in kx_run */
    }
    return 0;
}

/* Time the MoE FFN for each of cfg->moe.tokens on the pool; appends one benchmark each. */
static int kx_run(const struct owb_kernels_cfg *cfg, struct owb_pool *pool, int nthr,
                  const double peaks[OWB_PEAK_COUNT], cJSON *doc, char err[OWB_ERR_MAX])
{
    const struct owb_kernels_moe *mo = &cfg->moe;
    const struct owb_type_traits *tr = owb_type_traits(mo->type);
    const int X = mo->n_expert, K = mo->n_used;
    struct kx_case c;
    struct owb_samples smp = {0};
    uint8_t *pat[KX_N] = {0};
    float *rowf = NULL;
    int rc = 0, max_tokens = 0;
    memset(&c, 0, sizeof c);
    c.pool = pool;
    c.E = mo->n_embd;
    c.F = mo->n_ff;
    if (!tr || X < 1 || K < 1 || K > X || K > 64 || c.E <= 0 || c.F <= 0 || c.E % tr->blck_size ||
        c.F % tr->blck_size) {
        snprintf(err, OWB_ERR_MAX,
                 "experts: %s %lld x %lld, %d of %d experts: need 1 <= used <= experts (<= 64) and "
                 "both widths multiples of the block size",
                 tr ? tr->name : "?", (long long)c.F, (long long)c.E, K, X);
        return OWB_E_USAGE;
    }
    for (int i = 0; i < mo->ntokens; i++)
        max_tokens = mo->tokens[i] > max_tokens ? mo->tokens[i] : max_tokens;
    const int64_t max_rows = (int64_t)max_tokens * K;
    c.row[KX_GATE] = c.row[KX_UP] = owb_row_size(mo->type, c.E);
    c.row[KX_DOWN] = owb_row_size(mo->type, c.F);
    c.wexp[KX_GATE] = c.wexp[KX_UP] = c.row[KX_GATE] * (size_t)c.F;
    c.wexp[KX_DOWN] = c.row[KX_DOWN] * (size_t)c.E;
    const size_t per_expert = c.wexp[KX_GATE] + c.wexp[KX_UP] + c.wexp[KX_DOWN];
    c.n_alloc = X;
    if ((size_t)X * per_expert > KX_MAX_WEIGHT_BYTES)
        c.n_alloc = (int)(KX_MAX_WEIGHT_BYTES / per_expert) > 0
                        ? (int)(KX_MAX_WEIGHT_BYTES / per_expert)
                        : 1;
    /* prepared rows: every row of the largest chunk in the widest layout a plan of any batch
     * uses, + 64 bytes of alignment per expert (kx_route checks) */
    size_t act_row = 0;
    for (int64_t bb = 1; bb <= 64; bb *= 2)
        for (int i = 0; i < KX_N; i++) {
            struct owb_matmul_plan tp;
            if ((rc = owb_matmul_plan_init(&tp, mo->type, i == KX_DOWN ? c.E : c.F,
                                           i == KX_DOWN ? c.F : c.E, bb, cfg->isa, err)))
                return rc;
            act_row = tp.act_row_bytes > act_row ? tp.act_row_bytes : act_row;
        }
    c.act_bytes = (size_t)max_rows * act_row + (size_t)X * 64 + 64;
    const size_t act_bytes = c.act_bytes;
    c.active = calloc((size_t)X, sizeof *c.active);
    c.count = calloc((size_t)X, sizeof *c.count);
    c.off = calloc((size_t)X, sizeof *c.off);
    c.pl = calloc((size_t)X * KX_N, sizeof *c.pl);
    c.aoff_g = calloc((size_t)X, sizeof *c.aoff_g);
    c.aoff_d = calloc((size_t)X, sizeof *c.aoff_d);
    c.x = malloc(sizeof(float) * (size_t)(max_rows * c.E));
    c.hg = malloc(sizeof(float) * (size_t)(max_rows * c.F));
    c.hu = malloc(sizeof(float) * (size_t)(max_rows * c.F));
    c.y = malloc(sizeof(float) * (size_t)(max_rows * c.E));
    rowf = malloc(sizeof(float) * (size_t)(c.E > c.F ? c.E : c.F));
    bool oom = !c.active || !c.count || !c.off || !c.pl || !c.aoff_g || !c.aoff_d || !c.x ||
               !c.hg || !c.hu || !c.y || !rowf;
    oom = oom || posix_memalign((void **)&c.act_g, 64, act_bytes) ||
          posix_memalign((void **)&c.act_u, 64, act_bytes) ||
          posix_memalign((void **)&c.act_d, 64, act_bytes);
    for (int i = 0; i < KX_N && !oom; i++) {
        oom = posix_memalign((void **)&c.w[i], KS_ALIGN, c.wexp[i] * (size_t)c.n_alloc) ||
              !(pat[i] = malloc(c.row[i] * KS_PATTERN_ROWS));
        if (!oom)
            madvise(c.w[i], c.wexp[i] * (size_t)c.n_alloc, MADV_HUGEPAGE); /* best effort */
    }
    if (oom) {
        snprintf(err, OWB_ERR_MAX, "experts %s: cannot allocate %d x %zu bytes of experts",
                 tr->name, c.n_alloc, per_expert);
        rc = OWB_E_NOMEM;
        goto out;
    }
    for (int i = 0; i < KX_N; i++) {
        const int64_t k = i == KX_DOWN ? c.F : c.E;
        for (int r = 0; r < KS_PATTERN_ROWS; r++) {
            for (int64_t j = 0; j < k; j++)
                rowf[j] = ks_frand();
            tr->from_float_ref(rowf, pat[i] + (size_t)r * c.row[i], k);
        }
        c.pattern[i] = pat[i];
    }
    for (int64_t i = 0; i < max_rows * c.E; i++)
        c.x[i] = ks_frand();
    for (int64_t i = 0; i < max_rows * c.F; i++)
        c.hg[i] = c.hu[i] = ks_frand();
    owb_pool_run(pool, kx_touch, &c);

    for (int ti = 0; ti < mo->ntokens && !rc; ti++) {
        const int tokens = mo->tokens[ti];
        if (tokens < 1 || tokens > max_tokens)
            continue;
        if ((rc = kx_route(cfg, &c, tokens, err)))
            break;
        char name[200];
        snprintf(name, sizeof name, "kernels/experts/%s/%lldx%lld/x%dk%d/c%d/t%d", tr->name,
                 (long long)c.F, (long long)c.E, X, K, tokens, nthr);
        owb_pool_reset_migrations(pool);
        free(smp.ns);
        memset(&smp, 0, sizeof smp);
        if (owb_measure_run(&cfg->measure, kx_rep, &c, &smp)) {
            snprintf(err, OWB_ERR_MAX, "%s: measurement failed", name);
            rc = OWB_E_SYSTEM;
            break;
        }
        const bool migrated = owb_pool_migrated(pool);
        cJSON *b = owb_result_add_benchmark(doc, name, "kernels");
        if (!b) {
            rc = OWB_E_NOMEM;
            break;
        }
        /* the path of the most common plan: an expert with the median row count */
        const int32_t em = c.active[c.n_active / 2];
        const struct owb_matmul_plan *pm = &c.pl[(size_t)em * KX_N];
        const double batch = (double)tokens * K / c.n_active;
        owb_result_param_str(b, "format", tr->name);
        owb_result_param_num(b, "n_embd", (double)c.E);
        owb_result_param_num(b, "n_ff", (double)c.F);
        owb_result_param_num(b, "n_expert", X);
        owb_result_param_num(b, "n_used", K);
        owb_result_param_num(b, "tokens", tokens);
        owb_result_param_num(b, "experts_active", c.n_active);
        owb_result_param_num(b, "batch", batch);
        owb_result_param_num(b, "threads", nthr);
        owb_result_param_str(b, "isa", owb_isa_name(pm->isa));
        owb_result_param_str(b, "isa_requested", owb_isa_name(cfg->isa));
        owb_result_param_str(b, "path", pm->path);
        owb_result_param_str(b, "act_type", owb_type_name(pm->act_type));
        owb_result_param_num(b, "weight_bytes", (double)per_expert * c.n_active);
        owb_result_param_num(b, "expert_copies", c.n_alloc);
        owb_result_param_str(b, "pin", cfg->pin);
        owb_result_param_str(b, "how",
                             "tokens routed uniformly; per chosen expert: prepare, gate + up "
                             "rows, prepare, down rows (the engine's prefill steps)");
        if (migrated)
            owb_result_invalidate(b, "threads migrated during the timed loop");
        if ((rc = owb_suite_finish(b, &smp, &cfg->measure, cfg->pin, pool, NULL)))
            break;
        struct owb_stats st;
        if (smp.n && owb_stats_compute(smp.ns, smp.n, &st) == 0) {
            const double flop = 6.0 * (double)tokens * K * (double)c.E * (double)c.F;
            owb_result_metric(b, "us_median", st.median * 1e-3);
            owb_result_metric(b, "us_min", st.min * 1e-3);
            owb_result_metric(b, "gflop_per_s", flop / st.median);
            owb_result_metric(b, "gflop_per_s_best", flop / st.min);
            if (pm->isa == cfg->isa)
                owb_peak_suite_annotate(b, owb_peak_kind_for_act(pm->act_type), peaks);
            if (cfg->verbose)
                fprintf(stderr, "  %-46s %10.1f us %8.1f GFLOP/s  %.1f rows x %d experts  %s\n",
                        name, st.median * 1e-3, flop / st.median, batch, c.n_active, pm->path);
        }
    }
out:
    free(smp.ns);
    for (int i = 0; i < KX_N; i++) {
        free(c.w[i]);
        free(pat[i]);
    }
    free(rowf);
    free(c.active);
    free(c.count);
    free(c.off);
    free(c.pl);
    free(c.aoff_g);
    free(c.aoff_d);
    free(c.x);
    free(c.hg);
    free(c.hu);
    free(c.y);
    free(c.act_g);
    free(c.act_u);
    free(c.act_d);
    return rc;
}

/* ---- attention of a prompt chunk as the engine runs it ---- */

struct ka_case {
    struct owb_pool *pool;
    struct owb_attn_blocks blk;
    struct owb_attn_args a;
    struct owb_attn_scratch *scr; /* (threads) */
    struct owb_rope_cache *rope;  /* (tokens) */
    float *q, *k, *v, *kc, *vc, *out;
    int64_t tokens, n_head_kv, head_dim, group, ldkv;
};

static void ka_heads(void *vctx, int tid, int nthreads)
{
    struct ka_case *c = vctx;
    int64_t g0, g1;
    owb_pool_slice(c->n_head_kv, 1, tid, nthreads, &g0, &g1);
    if (g1 <= g0)
        return;
    owb_attn_write(c->q, c->k, c->v, c->a.ldq, c->ldkv, c->tokens, 0, NULL, NULL, NULL, c->rope, 0,
                   c->head_dim, c->group, g0, g1, c->kc, c->vc, c->tokens);
    owb_attn_heads(&c->blk, &c->a, g0, g1, &c->scr[tid]);
}

static int ka_rep(void *vctx)
{
    struct ka_case *c = vctx;
    owb_pool_run(c->pool, ka_heads, c);
    return 0;
}

/* Time one layer's attention of cfg->attn.tokens prompt tokens; appends one benchmark. */
static int ka_run(const struct owb_kernels_cfg *cfg, struct owb_pool *pool, int nthr,
                  const double peaks[OWB_PEAK_COUNT], cJSON *doc, char err[OWB_ERR_MAX])
{
    const struct owb_kernels_attn *at = &cfg->attn;
    struct ka_case c;
    struct owb_samples smp = {0};
    int rc = 0;
    memset(&c, 0, sizeof c);
    c.pool = pool;
    c.tokens = at->tokens;
    c.n_head_kv = at->n_head_kv;
    c.head_dim = at->head_dim;
    if (at->n_head < 1 || at->n_head_kv < 1 || at->n_head % at->n_head_kv || at->head_dim < 2 ||
        at->head_dim % 2 || at->head_dim > OWB_ROPE_MAX_ROT || at->tokens < 1) {
        snprintf(err, OWB_ERR_MAX,
                 "attention: %lld heads, %lld KV heads of %lld, %d tokens: need KV heads dividing "
                 "the heads, an even head size up to %d and tokens >= 1",
                 (long long)at->n_head, (long long)at->n_head_kv, (long long)at->head_dim,
                 at->tokens, OWB_ROPE_MAX_ROT);
        return OWB_E_USAGE;
    }
    c.group = at->n_head / at->n_head_kv;
    c.ldkv = at->n_head_kv * at->head_dim;
    const int64_t T = c.tokens, hd = c.head_dim, ldq = at->n_head * hd;
    const int64_t qb = owb_attn_block_tokens(c.group, T, T), nblk = (T + qb - 1) / qb;
    c.blk.plans = calloc((size_t)nblk * 2, sizeof *c.blk.plans);
    c.blk.kstart = calloc((size_t)nblk, sizeof *c.blk.kstart);
    c.scr = calloc((size_t)nthr, sizeof *c.scr);
    c.rope = calloc((size_t)T, sizeof *c.rope);
    c.q = malloc(sizeof(float) * (size_t)(T * ldq));
    c.out = malloc(sizeof(float) * (size_t)(T * ldq));
    c.k = malloc(sizeof(float) * (size_t)(T * c.ldkv));
    c.v = malloc(sizeof(float) * (size_t)(T * c.ldkv));
    c.kc = malloc(sizeof(float) * (size_t)(T * c.ldkv));
    c.vc = malloc(sizeof(float) * (size_t)(T * c.ldkv));
    bool oom = !c.blk.plans || !c.blk.kstart || !c.scr || !c.rope || !c.q || !c.out || !c.k ||
               !c.v || !c.kc || !c.vc;
    for (int t = 0; t < nthr && !oom; t++) {
        c.scr[t].qs = malloc(sizeof(float) * (size_t)(c.group * qb * hd));
        c.scr[t].sc = malloc(sizeof(float) * (size_t)(c.group * qb * T));
        c.scr[t].pv = malloc(sizeof(float) * (size_t)(hd * c.group * qb));
        oom = !c.scr[t].qs || !c.scr[t].sc || !c.scr[t].pv;
    }
    if (oom) {
        snprintf(err, OWB_ERR_MAX, "attention of %d tokens: out of memory", at->tokens);
        rc = OWB_E_NOMEM;
        goto out;
    }
    if ((rc = owb_attn_plan(&c.blk, 0, T, qb, c.group, hd, 0, cfg->isa, err)))
        goto out;
    for (int64_t i = 0; i < T * ldq; i++)
        c.q[i] = ks_frand();
    for (int64_t i = 0; i < T * c.ldkv; i++) {
        c.k[i] = ks_frand();
        c.v[i] = ks_frand();
    }
    for (int64_t p = 0; p < T; p++)
        owb_rope_cache_init(&c.rope[p], hd, p, 10000.0f, 1.0f);
    c.a = (struct owb_attn_args){.q = c.q,
                                 .out = c.out,
                                 .ldq = ldq,
                                 .kc = c.kc,
                                 .vc = c.vc,
                                 .cap = T,
                                 .head_dim = hd,
                                 .group = c.group,
                                 .pos = 0,
                                 .sinks = NULL,
                                 .scale = 1.0f / sqrtf((float)hd)};
    char name[160];
    snprintf(name, sizeof name, "kernels/attn/f32/h%lldkv%lldd%lld/c%d/t%d", (long long)at->n_head,
             (long long)at->n_head_kv, (long long)hd, at->tokens, nthr);
    owb_pool_reset_migrations(pool);
    if (owb_measure_run(&cfg->measure, ka_rep, &c, &smp)) {
        snprintf(err, OWB_ERR_MAX, "%s: measurement failed", name);
        rc = OWB_E_SYSTEM;
        goto out;
    }
    const bool migrated = owb_pool_migrated(pool);
    cJSON *b = owb_result_add_benchmark(doc, name, "kernels");
    if (!b) {
        rc = OWB_E_NOMEM;
        goto out;
    }
    owb_result_param_num(b, "n_head", (double)at->n_head);
    owb_result_param_num(b, "n_head_kv", (double)at->n_head_kv);
    owb_result_param_num(b, "head_dim", (double)hd);
    owb_result_param_num(b, "tokens", at->tokens);
    owb_result_param_num(b, "batch", at->tokens);
    owb_result_param_num(b, "threads", nthr);
    owb_result_param_str(b, "isa", owb_isa_name(c.blk.plans[0].isa));
    owb_result_param_str(b, "path", c.blk.plans[0].path);
    owb_result_param_str(b, "pin", cfg->pin);
    owb_result_param_str(b, "how",
                         "one layer's causal prefill attention at positions 0..: RoPE + cache "
                         "writes, blocked scores, softmax, P V (kernels/attn.h), KV heads split "
                         "over the threads");
    if (migrated)
        owb_result_invalidate(b, "threads migrated during the timed loop");
    if ((rc = owb_suite_finish(b, &smp, &cfg->measure, cfg->pin, pool, NULL)))
        goto out;
    struct owb_stats st;
    if (smp.n && owb_stats_compute(smp.ns, smp.n, &st) == 0) {
        const double flop =
            (double)T * (double)(T + 1) / 2.0 * 4.0 * (double)at->n_head * (double)hd;
        owb_result_metric(b, "us_median", st.median * 1e-3);
        owb_result_metric(b, "us_min", st.min * 1e-3);
        owb_result_metric(b, "gflop_per_s", flop / st.median);
        owb_result_metric(b, "gflop_per_s_best", flop / st.min);
        if (c.blk.plans[0].isa == cfg->isa)
            owb_peak_suite_annotate(b, OWB_PEAK_F32_FMA, peaks);
        if (cfg->verbose)
            fprintf(stderr, "  %-46s %10.1f us %8.1f GFLOP/s  %s\n", name, st.median * 1e-3,
                    flop / st.median, c.blk.plans[0].path);
    }
out:
    free(smp.ns);
    for (int t = 0; c.scr && t < nthr; t++) {
        free(c.scr[t].qs);
        free(c.scr[t].sc);
        free(c.scr[t].pv);
    }
    free(c.scr);
    free(c.blk.plans);
    free(c.blk.kstart);
    free(c.rope);
    free(c.q);
    free(c.out);
    free(c.k);
    free(c.v);
    free(c.kc);
    free(c.vc);
    return rc;
}

int owb_kernels_run(const struct owb_kernels_cfg *cfg, struct owb_topo *topo,
                    const cJSON *ceiling_doc, cJSON *doc, char err[OWB_ERR_MAX])
{
    int npus = owb_topo_npus(topo), rc = 0;
    int threads[OWB_KERNELS_MAX_LIST], nthreads = cfg->nthreads;
    int *cpus = calloc((size_t)(npus > 1024 ? npus : 1024), sizeof *cpus);
    size_t rotate = cfg->rotate_bytes ? cfg->rotate_bytes : owb_topo_sweep_bytes(topo);
    if (!cpus)
        return OWB_E_NOMEM;
    double slowdown_check;
    if ((rc = ks_slowdown(NULL, &slowdown_check, err)))
        goto out;
    if (!owb_isa_supported(cfg->isa)) {
        snprintf(err, OWB_ERR_MAX, "ISA %s is not supported by this CPU (best: %s)",
                 owb_isa_name(cfg->isa), owb_isa_name(owb_isa_detect()));
        rc = OWB_E_UNSUPPORTED;
        goto out;
    }
    if (nthreads) {
        memcpy(threads, cfg->threads, (size_t)nthreads * sizeof threads[0]);
    } else {
        for (int i = 1; i <= npus && nthreads < OWB_KERNELS_MAX_LIST; i++)
            threads[nthreads++] = i;
    }
    for (int f = 0; f < cfg->nformats; f++) {
        const int64_t blk = owb_type_traits(cfg->formats[f])->blck_size;
        for (int s = 0; s < cfg->nshapes; s++) {
            if (cfg->shapes[s][1] % blk) {
                snprintf(err, OWB_ERR_MAX,
                         "shape %lldx%lld: k is not a multiple of the %s block "
                         "size %lld",
                         (long long)cfg->shapes[s][0], (long long)cfg->shapes[s][1],
                         owb_type_name(cfg->formats[f]), (long long)blk);
                rc = OWB_E_USAGE;
                goto out;
            }
        }
    }
    for (int ti = 0; ti < nthreads && !rc; ti++) {
        int n = 0;
        rc = owb_topo_pin_plan(topo, cfg->pin, threads[ti], cpus, &n, err);
        if (rc)
            break;
        double ceiling = 0.0;
        if (owb_stream_read_ceiling(ceiling_doc ? ceiling_doc : doc, n, &ceiling) != 0)
            ceiling = 0.0;
        struct owb_pool *pool = owb_pool_new(n, cpus, err);
        if (!pool) {
            rc = OWB_E_SYSTEM;
            break;
        }
        if (cfg->verbose)
            fprintf(stderr, "kernels: %d thread(s), pin %s, isa %s, ceiling %.1f GB/s\n", n,
                    cfg->pin, owb_isa_name(cfg->isa), ceiling);
        double peaks[OWB_PEAK_COUNT];
        rc = owb_peak_suite_run(pool, n, cfg->isa, "kernels", &cfg->measure, cfg->pin, cfg->verbose,
                                doc, peaks, err);
        struct owb_ilv ilv = {0};
        bool gemv = false;
        for (int bi = 0; bi < cfg->nbatches; bi++)
            gemv |= cfg->batches[bi] == 1;
        if (!rc && gemv && cfg->interleave_ceiling &&
            owb_ilv_init(&ilv, pool, owb_topo_sweep_bytes(topo)) && cfg->verbose)
            fprintf(stderr, "kernels: no memory for the interleaved read ceiling's buffer\n");
        for (int f = 0; f < cfg->nformats && !rc; f++)
            for (int s = 0; s < cfg->nshapes && !rc; s++)
                for (int bi = 0; bi < cfg->nbatches && !rc; bi++)
                    rc = ks_run_case(cfg, pool, n, cfg->formats[f], cfg->shapes[s][0],
                                     cfg->shapes[s][1], cfg->batches[bi], rotate, peaks,
                                     ilv.words ? &ilv : NULL, doc, err);
        owb_ilv_release(&ilv);
        if (!rc && cfg->moe.n_expert > 0)
            rc = kx_run(cfg, pool, n, peaks, doc, err);
        if (!rc && cfg->attn.n_head > 0)
            rc = ka_run(cfg, pool, n, peaks, doc, err);
        owb_pool_free(pool);
    }
out:
    free(cpus);
    return rc;
}

static double ks_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : (double)NAN;
}

static const char *ks_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "?";
}

void owb_kernels_print_table(const cJSON *doc, FILE *f)
{
    const cJSON *benches = cJSON_GetObjectItemCaseSensitive(doc, "benchmarks");
    const cJSON *b = NULL;
    fprintf(f, "%-6s %-11s %5s %3s %11s %8s %7s %9s %6s  %s\n", "format", "shape", "batch", "thr",
            "us", "GB/s", "%ceil", "GFLOP/s", "%peak", "path");
    int npeaks = 0;
    cJSON_ArrayForEach(b, benches)
    {
        const cJSON *suite = cJSON_GetObjectItemCaseSensitive(b, "suite");
        if (!cJSON_IsString(suite) || strcmp(suite->valuestring, "kernels") != 0)
            continue;
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "params");
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(b, "metrics");
        if (cJSON_GetObjectItemCaseSensitive(p, "peak")) {
            npeaks++;
            continue;
        }
        char shape[32], pct[16], ppk[16];
        snprintf(shape, sizeof shape, "%.0fx%.0f", ks_num(p, "m"), ks_num(p, "k"));
        double pc = ks_num(mt, "pct_of_ceiling"), pp = ks_num(mt, "pct_of_compute_peak");
        if (isnan(pc))
            snprintf(pct, sizeof pct, "-");
        else /* "!": above the ceiling, a figure the ceiling does not explain (not valid) */
            snprintf(pct, sizeof pct, "%.0f%%%s", pc, pc > 100.0 ? "!" : "");
        if (isnan(pp))
            snprintf(ppk, sizeof ppk, "-");
        else
            snprintf(ppk, sizeof ppk, "%.0f%%%s", pp, pp > 100.0 ? "!" : "");
        const cJSON *valid = cJSON_GetObjectItemCaseSensitive(b, "valid");
        fprintf(f, "%-6s %-11s %5.0f %3.0f %11.1f %8.1f %7s %9.1f %6s  %s%s\n", ks_str(p, "format"),
                shape, ks_num(p, "batch"), ks_num(p, "threads"), ks_num(mt, "us_median"),
                ks_num(mt, "gb_per_s"), pct, ks_num(mt, "gflop_per_s"), ppk, ks_str(p, "path"),
                cJSON_IsFalse(valid) ? " (not valid)" : "");
    }
    if (!npeaks)
        return;
    fprintf(f, "(%%ceil: median GB/s against the best read ceiling at <= the same threads, before "
               "or after the sweep or right around the case; ! = above it: not valid; each GEMV's "
               "share of the ceiling read right around it: pct_of_ceiling_interleaved in the "
               "JSON)\n");
    fprintf(f, "compute peaks (GOP/s, 2 per multiply-add; %%peak is GFLOP/s against the best "
               "int8_dot or f32_fma at <= the same thread count):\n");
    cJSON_ArrayForEach(b, benches)
    {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "params");
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(b, "metrics");
        const cJSON *suite = cJSON_GetObjectItemCaseSensitive(b, "suite");
        if (!cJSON_GetObjectItemCaseSensitive(p, "peak") || !cJSON_IsString(suite) ||
            strcmp(suite->valuestring, "kernels") != 0)
            continue;
        fprintf(f, "  %-9s t%-3.0f %9.1f best, %9.1f median  %s\n", ks_str(p, "peak"),
                ks_num(p, "threads"), ks_num(mt, "gop_per_s_best"), ks_num(mt, "gop_per_s"),
                ks_str(p, "instructions"));
    }
}
