/* SPDX-License-Identifier: MIT */
/*
 * model_suite.c: `owbench model` (bench/suites/model_suite.h). One pinned pool and one loaded model
 * per thread count (the model's per-thread scratch is sized for the pool); the GGUF is mapped once.
 * The timed loops call owb_model_forward directly and read the clock around each call; the
 * operation-class breakdown and the counters come from extra repetitions after the timed ones.
 */
#define _GNU_SOURCE /* mkstemps */
#include "bench/suites/model_suite.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/core/counters.h"
#include "bench/suites/peak_suite.h"
#include "bench/core/pool.h"
#include "bench/suites/ceiling.h"
#include "bench/suites/stream.h"
#include "bench/core/suite.h"
#include "bench/core/topo.h"
#include "bench/suites/kernels_gpu.h"
#include "kernels/backend.h"
#include "kernels/formats.h"
#include "kernels/isa.h"
#include "kernels/matmul.h"
#include "model/arch.h"
#include "model/gguf.h"
#include "model/quantize.h"
#include "model/synth.h"
#include "results/result.h"
#include "results/stats.h"

#define MS_COUNT_REPS 1 /* repetitions run again under the counters */

void owb_model_bench_cfg_default(struct owb_model_bench_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->n_prompt = 512;
    cfg->n_gen = 64;
    cfg->pin = "compact";
    cfg->reps = 5;
    cfg->warmup = 1;
    cfg->buckets = 8;
    cfg->profile = 1;
    cfg->seed = 1;
    cfg->interleave_ceiling = 1;
    owb_measure_cfg_default(&cfg->measure);
}

static void pool_run(void *pool, owb_par_fn fn, void *ctx)
{
    owb_pool_run(pool, fn, ctx);
}

/* xorshift64: token ids, the same for every thread count. */
static uint64_t xs_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* One model on one pool, and the token streams of both cases. */
struct ms_run {
    const struct owb_model_bench_cfg *cfg;
    struct owb_model *m;
    struct owb_pool *pool;
    int32_t *toks;                 /* (max(n_prompt, n_gen)) */
    float *logits;                 /* (n_vocab) */
    double *rep_ns;                /* (reps) whole-repetition times */
    double runq_wait_frac;         /* of the timed repetitions (owb_samples), -1 unknown */
    double *ns;                    /* samples being filled */
    size_t n;                      /* samples taken */
    bool migrated;                 /* a worker left its CPU during the timed repetitions */
    const struct owb_backend *dev; /* a device backend (no host threads): timed by its timer */
    struct owb_be_timer tm[2];     /* dev: marks around each forward call */
    char label[32];                /* last part of the benchmark names: t<threads> or the device */
    size_t sweep_bytes;            /* the interleaved ceiling's buffer (owb_topo_sweep_bytes) */
    struct owb_ilv ilv;            /* interleaved read ceiling (bench/suites/ceiling.h) */
    double *ilv_gbs;               /* (reps + 1) read GB/s before the first rep and after each */
    int failed;
    char err[OWB_ERR_MAX];
};

/* A timed forward call: the host clock around it, or on a device the backend's timer (events on
 * its stream before and after: the call downloads its logits, so the second mark follows all
 * of its work). */
static int ms_forward(struct ms_run *r, const int32_t *toks, int64_t n, int64_t pos)
{
    uint64_t t0 = r->dev ? 0 : owb_now_ns();
    if (r->dev)
        r->dev->timer_mark(&r->tm[0]);
    int rc = owb_model_forward(r->m, toks, n, pos, r->logits, false, r->err);
    if (r->dev)
        r->dev->timer_mark(&r->tm[1]);
    uint64_t t1 = r->dev ? 0 : owb_now_ns();
    if (rc)
        return r->failed = rc;
    double ns = r->dev ? r->dev->timer_elapsed_ns(&r->tm[0], &r->tm[1]) : (double)(t1 - t0);
    if (!(ns >= 0)) {
        snprintf(r->err, sizeof r->err, "backend %s: its timer failed", r->dev->name);
        return r->failed = OWB_E_SYSTEM;
    }
    if (r->ns)
        r->ns[r->n++] = ns;
    return 0;
}

static int ms_prefill(void *vctx)
{
    struct ms_run *r = vctx;
    return ms_forward(r, r->toks, r->cfg->n_prompt, 0);
}

static int ms_decode(void *vctx)
{
    struct ms_run *r = vctx;
    for (int i = 0; i < r->cfg->n_gen; i++)
        if (ms_forward(r, &r->toks[i], 1, i))
            return r->failed;
    return 0;
}

/* Facts of the file the suite reports with every case. */
struct ms_model_info {
    char name[256];
    enum owb_gguf_mem mem; /* where the weights live (owb_gguf_open_weights) */
    size_t huge_bytes;     /* of them, backed by huge pages */
    size_t file_bytes;
    uint64_t n_params;
    uint64_t file_tensor_bytes;
};

static void model_info(const struct owb_gguf *g, const struct owb_model_bench_cfg *cfg,
                       struct ms_model_info *mi)
{
    memset(mi, 0, sizeof *mi);
    mi->file_bytes = g->file_size;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const struct owb_gguf_tensor *t = &g->tensors[i];
        mi->n_params += (uint64_t)t->n_elements;
        mi->file_tensor_bytes += t->size_bytes;
    }
    if (cfg->name) {
        snprintf(mi->name, sizeof mi->name, "%s", cfg->name);
    } else {
        const char *b = strrchr(cfg->path, '/');
        b = b ? b + 1 : cfg->path;
        snprintf(mi->name, sizeof mi->name, "%s", b);
        size_t n = strlen(mi->name);
        if (n > 5 && strcmp(mi->name + n - 5, ".gguf") == 0)
            mi->name[n - 5] = '\0';
    }
    for (char *p = mi->name; *p; p++)
        if (*p == '/' || *p == ' ')
            *p = '_';
}

static void common_params(cJSON *b, const struct ms_run *r, const struct ms_model_info *mi,
                          int nthr)
{
    const struct owb_model *m = r->m;
    const struct owb_model_bench_cfg *cfg = r->cfg;
    owb_result_param_str(b, "model", mi->name);
    owb_result_param_str(b, "source", cfg->source ? cfg->source : cfg->path);
    owb_result_param_str(b, "arch", m->hp.arch);
    /* the type of the bulk of the per-layer matmul weights (the model's accounting) */
    owb_result_param_str(b, "weight_type", owb_type_name(m->cost.main_wtype));
    owb_result_param_num(b, "n_params", (double)mi->n_params);
    owb_result_param_num(b, "n_layer", (double)m->hp.n_layer);
    owb_result_param_num(b, "n_embd", (double)m->hp.n_embd);
    owb_result_param_num(b, "n_vocab", (double)m->hp.n_vocab);
    if (m->hp.n_expert) { /* mixture of experts: decode_read_bytes counts the used ones only */
        owb_result_param_num(b, "n_expert", (double)m->hp.n_expert);
        owb_result_param_num(b, "n_expert_used", (double)m->hp.n_expert_used);
    }
    if (m->cost.n_layer_window)
        owb_result_param_num(b, "sliding_window", (double)m->cost.window);
    owb_result_param_num(b, "n_ctx", (double)m->n_ctx);
    owb_result_param_num(b, "n_batch", (double)m->n_batch);
    owb_result_param_num(b, "threads", nthr);
    owb_result_param_str(b, "pin", cfg->pin);
    owb_result_param_num(b, "reps", cfg->reps);
    owb_result_param_str(b, "isa", owb_isa_name(owb_isa_active()));
    /* where the weights live: "mmap" (page cache, 4 KiB pages) or "copy" (anonymous memory,
     * huge pages advised; weights_huge_pct says how much the kernel gave) */
    owb_result_param_str(b, "weights_memory", owb_gguf_mem_name(mi->mem));
    if (mi->mem == OWB_GGUF_MEM_COPY && mi->file_bytes > 0)
        owb_result_metric(b, "weights_huge_pct",
                          100.0 * (double)mi->huge_bytes / (double)mi->file_bytes);
    /* how the forward calls ran: the backend, one driving thread or the host threads, and for
     * decode whether the steps replayed a recorded graph (model/devfwd.h) */
    owb_result_param_str(b, "backend", m->exec.backend ? m->exec.backend : "cpu");
    owb_result_param_str(b, "forward", m->exec.driver ? "driver" : "host_threads");
    /* weights the engine converted at load into the layout its kernels read fastest */
    owb_result_param_str(b, "weights_layout", m->exec.rep8_bytes ? "rep8" : "rows");
    if (m->exec.rep8_bytes)
        owb_result_metric(b, "weights_rep8_bytes", (double)m->exec.rep8_bytes);
    if (r->dev) {
        owb_result_param_str(b, "timer", "backend events");
        owb_result_metric(b, "device_bytes", (double)m->exec.device_bytes);
    }
    owb_result_metric(b, "weights_bytes", (double)m->weight_bytes);
    owb_result_metric(b, "decode_read_bytes", (double)m->decode_read_bytes);
    owb_result_metric(b, "flop_per_token", m->cost.matmul_flop_per_token);
    owb_result_metric(b, "kv_bytes_per_token", (double)m->kv_bytes_per_token);
    owb_result_metric(b, "kv_cache_bytes", (double)m->kv_cache_bytes);
}

/* The operation classes of one profiled repetition of `tokens` tokens: metrics
 * op_<class>_ns_per_token and the object "op_classes". A device's classes come from marks of its
 * timer between the driver's ops (model/devfwd.c), its decode steps then queued op by op instead
 * of replayed from the graph: param op_timer says so. */
static void add_op_classes(cJSON *b, const struct ms_run *r, const struct owb_model_profile *p,
                           double tokens)
{
    if (r->dev)
        owb_result_param_str(b, "op_timer",
                             "backend events between the driver's ops (decode steps op by op)");
    cJSON *oc = cJSON_AddObjectToObject(b, "op_classes");
    if (!oc || tokens <= 0 || !p->total_ns)
        return;
    const double tot = (double)p->total_ns;
    double sum = 0;
    char key[96], mkey[128];
    for (int t = 0; t < OWB_TYPE_COUNT; t++)
        if (p->matmul_ns[t]) {
            snprintf(key, sizeof key, "matmul/%s", owb_type_name((enum owb_type)t));
            cJSON *o = cJSON_AddObjectToObject(oc, key);
            if (o) {
                cJSON_AddNumberToObject(o, "ns_per_token", (double)p->matmul_ns[t] / tokens);
                cJSON_AddNumberToObject(o, "share", (double)p->matmul_ns[t] / tot);
            }
            snprintf(mkey, sizeof mkey, "op_matmul_%s_ns_per_token",
                     owb_type_name((enum owb_type)t));
            owb_result_metric(b, mkey, (double)p->matmul_ns[t] / tokens);
            sum += (double)p->matmul_ns[t];
        }
    const struct {
        const char *name;
        uint64_t ns;
    } rest[] = {{"attention", p->attention_ns},
                {"norm", p->norm_ns},
                {"sync", p->sync_ns},
                {"other", p->other_ns}};
    for (size_t i = 0; i < OWB_ARRAY_LEN(rest); i++) {
        cJSON *o = cJSON_AddObjectToObject(oc, rest[i].name);
        if (o) {
            cJSON_AddNumberToObject(o, "ns_per_token", (double)rest[i].ns / tokens);
            cJSON_AddNumberToObject(o, "share", (double)rest[i].ns / tot);
        }
        snprintf(mkey, sizeof mkey, "op_%s_ns_per_token", rest[i].name);
        owb_result_metric(b, mkey, (double)rest[i].ns / tokens);
        sum += (double)rest[i].ns;
    }
    cJSON *o = cJSON_AddObjectToObject(oc, "total");
    if (o) {
        cJSON_AddNumberToObject(o, "ns_per_token", tot / tokens);
        cJSON_AddNumberToObject(o, "unaccounted_ns_per_token", (tot - sum) / tokens);
    }
    owb_result_metric(b, "op_total_ns_per_token", tot / tokens);
}

/* Warm up, time `reps` repetitions of fn (samples into r->ns), then the profiled and the counted
 * repetitions. */
static int ms_measure(struct ms_run *r, int (*fn)(void *), size_t per_rep,
                      struct owb_model_profile *prof, struct owb_counters *cnt)
{
    const struct owb_model_bench_cfg *cfg = r->cfg;
    r->ns = NULL;
    for (int i = 0; i < cfg->warmup; i++)
        if (fn(r))
            return r->failed;
    r->ns = malloc((size_t)cfg->reps * per_rep * sizeof(double));
    if (!r->ns) {
        snprintf(r->err, sizeof r->err, "out of memory for %d x %zu samples", cfg->reps, per_rep);
        return OWB_E_NOMEM;
    }
    r->n = 0;
    owb_pool_reset_migrations(r->pool);
    const int64_t wait0 = owb_runq_wait_ns();
    const uint64_t t_start = owb_now_ns();
    r->runq_wait_frac = -1;
    if (r->ilv_gbs)
        r->ilv_gbs[0] = owb_ilv_sample(&r->ilv);
    for (int i = 0; i < cfg->reps; i++) {
        size_t n0 = r->n;
        if (fn(r))
            return r->failed;
        if (r->ilv_gbs)
            r->ilv_gbs[i + 1] = owb_ilv_sample(&r->ilv);
        double s = 0;
        for (size_t j = n0; j < r->n; j++)
            s += r->ns[j];
        r->rep_ns[i] = s;
    }
    {
        const int64_t wait1 = wait0 >= 0 ? owb_runq_wait_ns() : -1;
        const uint64_t wall = owb_now_ns() - t_start;
        if (wait0 >= 0 && wait1 >= wait0 && wall > 0)
            r->runq_wait_frac = (double)(wait1 - wait0) / (double)wall;
    }
    double *keep = r->ns;
    r->ns = NULL; /* the extra repetitions are not samples */
    r->migrated = owb_pool_migrated(r->pool);
    int rc = 0;
    /* counted, then profiled: neither changes the timed result (owb_suite_count and the keep /
     * restore below put the pool's pinning record back as the timed loop left it) */
    if (cnt)
        rc = owb_suite_count(r->pool, cnt, fn, r, MS_COUNT_REPS) ? r->failed : 0;
    if (!rc && prof) {
        owb_pool_keep_observed(r->pool);
        memset(prof, 0, sizeof *prof);
        r->m->profile = prof;
        rc = fn(r);
        r->m->profile = NULL;
        owb_pool_restore_observed(r->pool);
    }
    r->ns = keep;
    return rc;
}

static int finish_case(cJSON *b, struct ms_run *r, const char *policy, struct owb_counters *cnt)
{
    struct owb_samples smp = {r->ns, r->n, r->runq_wait_frac};
    if (r->migrated)
        owb_result_invalidate(b, "threads migrated during the timed loop");
    return owb_suite_finish(b, &smp, &r->cfg->measure, policy, r->pool, cnt);
}

/* Rep-level rates: mean (llama-bench's avg_ts) and best of tokens / rep time. */
static void rep_rates(cJSON *b, const double *rep_ns, int reps, double tokens)
{
    double sum = 0, best = 0;
    for (int i = 0; i < reps; i++) {
        double v = rep_ns[i] > 0 ? tokens * 1e9 / rep_ns[i] : 0;
        sum += v;
        best = v > best ? v : best;
    }
    owb_result_metric(b, "tok_per_s_mean", reps ? sum / reps : (double)NAN);
    owb_result_metric(b, "tok_per_s_best", best);
}

static int run_prefill(struct ms_run *r, const struct ms_model_info *mi, int nthr,
                       const double peaks[OWB_PEAK_COUNT], cJSON *doc)
{
    const struct owb_model_bench_cfg *cfg = r->cfg;
    const struct owb_hparams *hp = &r->m->hp;
    struct owb_model_profile prof;
    struct owb_counters *cnt = NULL;
    char name[512];
    int rc;
    uint64_t s = cfg->seed * 0x9E3779B97F4A7C15ull + 1;
    for (int i = 0; i < cfg->n_prompt; i++)
        r->toks[i] = (int32_t)(xs_next(&s) % (uint64_t)hp->n_vocab);
    snprintf(name, sizeof name, "model/prefill/%s/p%d/%s", mi->name, cfg->n_prompt, r->label);
    if (cfg->verbose)
        fprintf(stderr, "model: %s ...\n", name);
    cnt = owb_counters_new(cfg->counters, nthr, r->err);
    if (!cnt) { /* a malformed --counters list (a missing PMU is not an error) */
        rc = OWB_E_USAGE;
        goto out;
    }
    rc = ms_measure(r, ms_prefill, 1, cfg->profile ? &prof : NULL, cnt);
    if (rc)
        goto out;
    cJSON *b = owb_result_add_benchmark(doc, name, "model");
    if (!b) {
        rc = OWB_E_NOMEM;
        goto out;
    }
    common_params(b, r, mi, nthr);
    owb_result_param_num(b, "n_prompt", cfg->n_prompt);
    if ((rc = finish_case(b, r, cfg->pin, cnt)))
        goto out;
    struct owb_stats st;
    if ((rc = owb_stats_compute(r->ns, r->n, &st)))
        goto out;
    const double n = cfg->n_prompt;
    /* matmuls of every token, the output row of the last, and causal attention (QK and PV), as
     * the architecture accounts them (MoE: active experts only; windows respected) */
    const double flop = owb_model_flops(r->m, 0, cfg->n_prompt, 1);
    owb_result_metric(b, "tok_per_s", n * 1e9 / st.median);
    rep_rates(b, r->rep_ns, cfg->reps, n);
    owb_result_metric(b, "ms_per_token", st.median * 1e-6 / n);
    owb_result_metric(b, "gflop_per_s", flop / st.median);
    owb_result_metric(b, "flop_per_iter", flop);
    /* prefill is compute-bound: against the peak of the activations the main weight type's
     * batched matmuls take (int8 dot for q8 activations, f32 FMA for float weights) */
    struct owb_matmul_plan mp;
    char merr[OWB_ERR_MAX];
    const enum owb_type wt = r->m->cost.main_wtype;
    const int64_t blk = owb_type_traits(wt) ? owb_type_traits(wt)->blck_size : 1;
    if (!r->dev &&
        owb_matmul_plan_init(&mp, wt, 16, blk, cfg->n_prompt, owb_isa_active(), merr) == 0)
        owb_peak_suite_annotate(b, owb_peak_kind_for_act(mp.act_type), peaks);
    if (cfg->profile)
        add_op_classes(b, r, &prof, n);
    if (cfg->verbose)
        fprintf(stderr, "  %-48s %10.1f tok/s  %8.1f GFLOP/s\n", name, n * 1e9 / st.median,
                flop / st.median);
out:
    owb_counters_free(cnt);
    free(r->ns);
    r->ns = NULL;
    return rc;
}

/* The interleaved read ceiling's samples and each repetition's share of it (ms_measure):
 * ceiling_interleaved_samples[reps + 1], metrics ceiling_interleaved_gb_per_s (median of the
 * samples), _min/_max, pct_of_roofline_interleaved (median over the repetitions of 100 x the
 * repetition's bytes/s over the better of the samples before and after it) and its min/max. */
static int add_interleaved(cJSON *b, struct ms_run *r, double bpt)
{
    const int reps = r->cfg->reps;
    double *q = malloc((size_t)reps * sizeof *q);
    struct owb_stats sc, sq;
    cJSON *arr = cJSON_CreateDoubleArray(r->ilv_gbs, reps + 1);
    if (!q || !arr || !cJSON_AddItemToObject(b, "ceiling_interleaved_samples", arr)) {
        if (!cJSON_GetObjectItemCaseSensitive(b, "ceiling_interleaved_samples"))
            cJSON_Delete(arr);
        free(q);
        return OWB_E_NOMEM;
    }
    for (int i = 0; i < reps; i++) {
        const double c = fmax(r->ilv_gbs[i], r->ilv_gbs[i + 1]);
        q[i] = 100.0 * (bpt * r->cfg->n_gen / r->rep_ns[i]) / c;
    }
    int rc = owb_stats_compute(r->ilv_gbs, (size_t)reps + 1, &sc);
    if (!rc)
        rc = owb_stats_compute(q, (size_t)reps, &sq);
    free(q);
    if (rc)
        return rc;
    owb_result_param_str(b, "ceiling_interleaved",
                         OWB_ILV_HOW ", before the first repetition and after each");
    owb_result_metric(b, "ceiling_interleaved_bytes", (double)r->ilv.words * 8.0);
    owb_result_metric(b, "ceiling_interleaved_gb_per_s", sc.median);
    owb_result_metric(b, "ceiling_interleaved_min_gb_per_s", sc.min);
    owb_result_metric(b, "ceiling_interleaved_max_gb_per_s", sc.max);
    owb_result_metric(b, "pct_of_roofline_interleaved", sq.median);
    owb_result_metric(b, "pct_of_roofline_interleaved_min", sq.min);
    owb_result_metric(b, "pct_of_roofline_interleaved_max", sq.max);
    return 0;
}

static int run_decode(struct ms_run *r, const struct ms_model_info *mi, int nthr, double ceiling,
                      cJSON *doc)
{
    const struct owb_model_bench_cfg *cfg = r->cfg;
    const struct owb_model *m = r->m;
    struct owb_model_profile prof;
    struct owb_counters *cnt = NULL;
    double *tmp = NULL;
    char name[512];
    int rc;
    uint64_t s = (cfg->seed + 1) * 0x9E3779B97F4A7C15ull + 1;
    for (int i = 0; i < cfg->n_gen; i++)
        r->toks[i] = (int32_t)(xs_next(&s) % (uint64_t)m->hp.n_vocab);
    snprintf(name, sizeof name, "model/decode/%s/n%d/%s", mi->name, cfg->n_gen, r->label);
    if (cfg->verbose)
        fprintf(stderr, "model: %s ...\n", name);
    cnt = owb_counters_new(cfg->counters, nthr, r->err);
    if (!cnt) { /* a malformed --counters list (a missing PMU is not an error) */
        rc = OWB_E_USAGE;
        goto out;
    }
    if (!r->dev && cfg->interleave_ceiling) {
        r->ilv_gbs = calloc((size_t)cfg->reps + 1, sizeof *r->ilv_gbs);
        if (!r->ilv_gbs || owb_ilv_init(&r->ilv, r->pool, r->sweep_bytes)) {
            free(r->ilv_gbs);
            r->ilv_gbs = NULL;
            if (cfg->verbose)
                fprintf(stderr, "model: no memory for the interleaved read ceiling's buffer\n");
        }
    }
    rc = ms_measure(r, ms_decode, (size_t)cfg->n_gen, cfg->profile ? &prof : NULL, cnt);
    if (rc)
        goto out;
    cJSON *b = owb_result_add_benchmark(doc, name, "model");
    if (!b) {
        rc = OWB_E_NOMEM;
        goto out;
    }
    common_params(b, r, mi, nthr);
    owb_result_param_num(b, "n_gen", cfg->n_gen);
    if (r->dev) { /* decode steps replayed from the recorded graph, or queued op by op (why) */
        owb_result_param_str(b, "decode_launch", m->exec.graph_launches ? "graph" : "ops");
        owb_result_metric(b, "graph_launches", (double)m->exec.graph_launches);
        if (m->exec.note[0])
            owb_result_note(b, m->exec.note);
    }
    /* One sample per repetition (the time of its n_gen tokens), not per token: the tokens of one
     * repetition depend on their position (a longer context to attend to), so they are neither
     * independent nor identically distributed, and an A/B test over them would claim a precision
     * it does not have. Per-token times stay in latency_by_position. */
    {
        double *tok_ns = r->ns;
        size_t ntok = r->n;
        r->ns = r->rep_ns;
        r->n = (size_t)cfg->reps;
        owb_result_param_str(b, "sample", "one repetition of n_gen tokens");
        rc = finish_case(b, r, cfg->pin, cnt);
        r->ns = tok_ns;
        r->n = ntok;
        if (rc)
            goto out;
    }
    struct owb_stats st;
    if ((rc = owb_stats_compute(r->rep_ns, (size_t)cfg->reps, &st)))
        goto out;
    const double tps = (double)cfg->n_gen * 1e9 / st.median;
    owb_result_metric(b, "tok_per_s", tps);
    rep_rates(b, r->rep_ns, cfg->reps, cfg->n_gen);
    owb_result_metric(b, "ms_per_token", st.median * 1e-6 / (double)cfg->n_gen);
    /* Bytes per token: the weights one token reads (MoE: the active experts), plus the K and V
     * of the context each position attends to and the one it writes, averaged over the
     * positions 0..n_gen-1 (the architecture's accounting: windows respected). */
    double kvsum = 0;
    for (int p = 0; p < cfg->n_gen; p++)
        kvsum += owb_model_kv_bytes_at(m, p);
    const double bpt = (double)m->decode_read_bytes + kvsum / cfg->n_gen;
    owb_result_metric(b, "bytes_per_token", bpt);
    owb_result_metric(b, "bytes_per_iter", bpt * cfg->n_gen); /* per sample */
    owb_result_metric(b, "gb_per_s", bpt * tps / 1e9);
    /* the read roofline: ceiling, roofline_tok_per_s and pct_of_roofline come from
     * owb_ceiling_annotate (bench/suites/ceiling.h) once every ceiling of the run is measured */
    if (!r->dev) {
        owb_result_param_str(b, "roofline", "read");
        if (r->ilv_gbs && (rc = add_interleaved(b, r, bpt)))
            goto out;
    } else if (ceiling > 0) { /* the device's copy bandwidth of this run (kernels/gpu/copy) */
        const double rate = bpt * tps / 1e9, best = bpt * (double)cfg->n_gen / st.min;
        owb_result_param_str(b, "roofline", "device_copy");
        owb_result_param_str(b, "ceiling", "kernels/gpu/copy");
        owb_result_metric(b, "ceiling_gb_per_s", ceiling);
        owb_result_metric(b, "roofline_tok_per_s", ceiling * 1e9 / bpt);
        owb_result_metric(b, "pct_of_roofline", 100.0 * rate / ceiling);
        owb_result_metric(b, "pct_of_roofline_best", 100.0 * best / ceiling);
        if (rate > ceiling)
            owb_result_invalidate(b, "above the device's copy bandwidth of this run");
    }
    /* Latency by context position: buckets of positions over every repetition. */
    int nbk = cfg->buckets < cfg->n_gen ? cfg->buckets : cfg->n_gen;
    cJSON *arr = cJSON_AddArrayToObject(b, "latency_by_position");
    tmp = malloc((size_t)cfg->reps * (size_t)cfg->n_gen * sizeof *tmp);
    if (!arr || !tmp) {
        rc = OWB_E_NOMEM;
        goto out;
    }
    for (int k = 0; k < nbk; k++) {
        int lo = (int)((int64_t)k * cfg->n_gen / nbk),
            hi = (int)((int64_t)(k + 1) * cfg->n_gen / nbk);
        size_t n = 0;
        for (int rep = 0; rep < cfg->reps; rep++)
            for (int p = lo; p < hi; p++)
                tmp[n++] = r->ns[(size_t)rep * (size_t)cfg->n_gen + (size_t)p];
        struct owb_stats bs;
        if ((rc = owb_stats_compute(tmp, n, &bs)))
            goto out;
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            rc = OWB_E_NOMEM;
            goto out;
        }
        cJSON_AddNumberToObject(o, "pos_lo", lo);
        cJSON_AddNumberToObject(o, "pos_hi", hi - 1);
        cJSON_AddNumberToObject(o, "n", (double)n);
        cJSON_AddNumberToObject(o, "median_ns", bs.median);
        cJSON_AddNumberToObject(o, "p90_ns", bs.p90);
        cJSON_AddNumberToObject(o, "mean_ns", bs.mean);
        cJSON_AddItemToArray(arr, o);
    }
    if (cfg->profile)
        add_op_classes(b, r, &prof, cfg->n_gen);
    if (cfg->verbose)
        fprintf(stderr, "  %-48s %10.1f tok/s  %7.1f GB/s%s\n", name, tps, bpt * tps / 1e9,
                ceiling > 0 ? "" : " (no ceiling)");
out:
    owb_ilv_release(&r->ilv);
    free(r->ilv_gbs);
    r->ilv_gbs = NULL;
    free(tmp);
    owb_counters_free(cnt);
    free(r->ns);
    r->ns = NULL;
    return rc;
}

int owb_model_bench_run(const struct owb_model_bench_cfg *cfg, struct owb_topo *topo,
                        const cJSON *ceiling_doc, cJSON *doc, char err[OWB_ERR_MAX])
{
    struct owb_gguf *g = NULL;
    struct ms_run r;
    struct ms_model_info mi;
    int threads[OWB_MODEL_MAX_THREADS_LIST], nthreads = cfg->nthreads, rc = 0;
    int *cpus = NULL;

    memset(&r, 0, sizeof r);
    r.cfg = cfg;
    r.dev = cfg->backend && !cfg->backend->host_threads ? cfg->backend : NULL;
    if (cfg->n_prompt < 0 || cfg->n_gen < 0 || (cfg->n_prompt == 0 && cfg->n_gen == 0) ||
        cfg->reps < 1 || cfg->warmup < 0 || cfg->buckets < 1 ||
        cfg->buckets > OWB_MODEL_MAX_BUCKETS) {
        snprintf(err, OWB_ERR_MAX,
                 "model bench: prompt %d and generation %d tokens (not both 0), %d repetitions "
                 "(>= 1), %d buckets (1..%d)",
                 cfg->n_prompt, cfg->n_gen, cfg->reps, cfg->buckets, OWB_MODEL_MAX_BUCKETS);
        return OWB_E_USAGE;
    }
    if (r.dev) { /* one host thread drives the device */
        threads[0] = 1;
        nthreads = 1;
    } else if (nthreads) {
        memcpy(threads, cfg->threads, (size_t)nthreads * sizeof threads[0]);
    } else {
        threads[0] = owb_topo_ncores(topo) > 0 ? owb_topo_ncores(topo) : 1;
        nthreads = 1;
    }
    int npus = owb_topo_npus(topo);
    cpus = calloc((size_t)(npus > 1024 ? npus : 1024), sizeof *cpus);
    if (!cpus)
        return OWB_E_NOMEM;
    for (int i = 0; i < nthreads; i++) { /* every thread count is valid before anything runs */
        int n;
        if (threads[i] > 1024) {
            snprintf(err, OWB_ERR_MAX, "--threads %d: at most 1024", threads[i]);
            rc = OWB_E_USAGE;
            goto out;
        }
        if ((rc = owb_topo_pin_plan(topo, cfg->pin, threads[i], cpus, &n, err)))
            goto out;
    }

    enum owb_gguf_mem mem_used;
    size_t huge_bytes;
    g = owb_gguf_open_weights(cfg->path, (enum owb_gguf_mem)cfg->weights_mem, &mem_used,
                              &huge_bytes, err);
    if (!g) {
        rc = OWB_E_IO;
        goto out;
    }
    model_info(g, cfg, &mi);
    mi.mem = mem_used;
    mi.huge_bytes = huge_bytes;
    const int maxtok = cfg->n_prompt > cfg->n_gen ? cfg->n_prompt : cfg->n_gen;
    r.toks = malloc((size_t)maxtok * sizeof *r.toks);
    r.rep_ns = malloc((size_t)cfg->reps * sizeof *r.rep_ns);
    if (!r.toks || !r.rep_ns) {
        rc = OWB_E_NOMEM;
        snprintf(err, OWB_ERR_MAX, "out of memory");
        goto out;
    }

    double dev_ceiling = 0.0;
    if (r.dev) {
        if ((rc = r.dev->timer_init(r.dev, &r.tm[0], err)) ||
            (rc = r.dev->timer_init(r.dev, &r.tm[1], err)))
            goto out;
        /* the decode roofline: the device's copy bandwidth, measured in this run */
        if ((rc = owb_kernels_gpu_copy(r.dev, 1, doc, &dev_ceiling, err)))
            goto out;
    }
    for (int ti = 0; ti < nthreads && !rc; ti++) {
        int n = 0;
        if ((rc = owb_topo_pin_plan(topo, cfg->pin, threads[ti], cpus, &n, err)))
            break;
        r.pool = owb_pool_new(n, cpus, err);
        r.sweep_bytes = owb_topo_sweep_bytes(topo);
        if (!r.pool) {
            rc = OWB_E_SYSTEM;
            break;
        }
        struct owb_runner runner = {pool_run, r.pool, n};
        /* as llama-bench: a context just large enough for the case (the work per token does
         * not depend on it) */
        struct owb_model_opts mo = {.n_ctx = maxtok,
                                    .runner = &runner,
                                    .backend = cfg->backend,
                                    .rows_layout = cfg->rows_layout != 0};
        r.m = owb_model_load(g, &mo, err);
        if (!r.m) {
            rc = strstr(err, "out of memory")   ? OWB_E_NOMEM
                 : strstr(err, "not supported") ? OWB_E_UNSUPPORTED
                                                : OWB_E_FORMAT;
            owb_pool_free(r.pool);
            r.pool = NULL;
            break;
        }
        r.logits = malloc((size_t)r.m->hp.n_vocab * sizeof *r.logits);
        if (!r.logits) {
            rc = OWB_E_NOMEM;
            snprintf(err, OWB_ERR_MAX, "out of memory");
        }
        double ceiling = dev_ceiling;
        if (r.dev)
            snprintf(r.label, sizeof r.label, "%s", r.dev->name);
        else
            snprintf(r.label, sizeof r.label, "t%d", n);
        if (!r.dev && owb_stream_read_ceiling(ceiling_doc ? ceiling_doc : doc, n, &ceiling) != 0)
            ceiling = 0.0;
        if (cfg->verbose)
            fprintf(stderr,
                    "model: %s (%s, %" PRId64 " layers, %s), %s, %d thread(s), pin %s, %s "
                    "ceiling %.1f GB/s\n",
                    mi.name, r.m->hp.arch, r.m->hp.n_layer, owb_type_name(r.m->cost.main_wtype),
                    r.m->exec.backend, n, cfg->pin, r.dev ? "device copy" : "read", ceiling);
        /* decode first: closest in time to the ceiling measured before the suite, which
         * matters on a machine whose bandwidth changes with its neighbours */
        if (!rc && cfg->n_gen)
            rc = run_decode(&r, &mi, n, ceiling, doc);
        double peaks[OWB_PEAK_COUNT] = {0};
        if (!rc && cfg->n_prompt && !r.dev)
            rc = owb_peak_suite_run(r.pool, n, owb_isa_active(), "model", &cfg->measure, cfg->pin,
                                    cfg->verbose, doc, peaks, err);
        if (!rc && cfg->n_prompt)
            rc = run_prefill(&r, &mi, n, peaks, doc);
        if (rc && r.err[0])
            snprintf(err, OWB_ERR_MAX, "%.200s: %.300s", cfg->path, r.err);
        free(r.logits);
        r.logits = NULL;
        owb_model_free(r.m);
        r.m = NULL;
        owb_pool_free(r.pool);
        r.pool = NULL;
    }
out:
    if (r.dev) {
        if (r.tm[0].ev || r.tm[0].be)
            r.dev->timer_release(&r.tm[0]);
        if (r.tm[1].ev || r.tm[1].be)
            r.dev->timer_release(&r.tm[1]);
    }
    free(r.toks);
    free(r.rep_ns);
    owb_gguf_close(g);
    free(cpus);
    return rc;
}

int owb_model_bench_write_synthetic(const char *preset, const char *type, int layers, uint64_t seed,
                                    char *path, size_t path_len, char *name, size_t name_len,
                                    char err[OWB_ERR_MAX])
{
    const struct owb_synth_preset *p = owb_synth_find(preset);
    enum owb_type t;
    if (!p) {
        snprintf(err, OWB_ERR_MAX, "--synthetic '%s': unknown preset (%s)", preset,
                 owb_synth_preset_names());
        return OWB_E_USAGE;
    }
    if (owb_type_from_name(type, &t) != 0 || !owb_quantize_target_ok(t)) {
        snprintf(err, OWB_ERR_MAX, "--type '%s': expected one of %s", type,
                 owb_quantize_target_names());
        return OWB_E_USAGE;
    }
    if (layers < 0 || layers > p->n_layer) {
        snprintf(err, OWB_ERR_MAX, "--layers %d: preset %s has %" PRId64 " layers", layers, p->name,
                 p->n_layer);
        return OWB_E_USAGE;
    }
    if (layers)
        snprintf(name, name_len, "%s-%s-L%d", p->name, owb_type_name(t), layers);
    else
        snprintf(name, name_len, "%s-%s", p->name, owb_type_name(t));
    const char *td = getenv("TMPDIR");
    snprintf(path, path_len, "%s/owb-synth-XXXXXX.gguf", td && *td ? td : "/tmp");
    int fd = mkstemps(path, 5);
    if (fd < 0) {
        snprintf(err, OWB_ERR_MAX, "cannot create a temporary file %.400s: %s", path,
                 strerror(errno));
        path[0] = '\0';
        return OWB_E_IO;
    }
    close(fd);
    fprintf(stderr, "model: writing synthetic %s (seed %" PRIu64 ") to %s\n", name, seed, path);
    int rc = owb_synth_write(p, t, layers, seed, path, 0, NULL, NULL, err);
    if (rc) {
        unlink(path);
        path[0] = '\0';
    }
    return rc;
}

static double ms_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : (double)NAN;
}

static const char *ms_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "?";
}

void owb_model_bench_print_table(const cJSON *doc, FILE *f)
{
    const cJSON *benches = cJSON_GetObjectItemCaseSensitive(doc, "benchmarks");
    const cJSON *b = NULL;
    bool any = false;
    cJSON_ArrayForEach(b, benches) any |= strcmp(ms_str(b, "suite"), "model") == 0;
    if (!any)
        return;
    /* %ceil: decode against the read roofline, prefill against the compute peak */
    /* %ilv: decode against the read ceiling sampled between its repetitions */
    fprintf(f, "%-28s %-7s %3s %10s %7s %9s %6s %5s  %s\n", "model", "test", "thr", "tok/s", "+-%",
            "ms/tok", "%ceil", "%ilv", "time per token: largest classes");
    cJSON_ArrayForEach(b, benches)
    {
        if (strcmp(ms_str(b, "suite"), "model") != 0)
            continue;
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "params");
        if (cJSON_GetObjectItemCaseSensitive(p, "peak"))
            continue; /* model/peak/...: the ceiling itself */
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(b, "metrics");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(b, "stats");
        const bool dec = strncmp(ms_str(b, "name"), "model/decode/", 13) == 0;
        char test[32], pct[16], cls[160] = "";
        snprintf(test, sizeof test, "%s%.0f", dec ? "tg" : "pp",
                 ms_num(p, dec ? "n_gen" : "n_prompt"));
        double pc = ms_num(mt, dec ? "pct_of_roofline" : "pct_of_compute_peak");
        if (isnan(pc))
            snprintf(pct, sizeof pct, "-");
        else /* "!": above the ceiling (not valid) */
            snprintf(pct, sizeof pct, "%.0f%%%s", pc, pc > 100.0 ? "!" : "");
        char ilv[16] = "-";
        const double pi = ms_num(mt, "pct_of_roofline_interleaved");
        if (dec && !isnan(pi))
            snprintf(ilv, sizeof ilv, "%.0f%%%s", pi, pi > 100.0 ? "!" : "");
        /* spread: half-width of the median's 95% CI, relative */
        double lo = ms_num(st, "ci95_lo"), hi = ms_num(st, "ci95_hi"), med = ms_num(st, "median");
        double spread = med > 0 ? 50.0 * (hi - lo) / med : (double)NAN;
        const cJSON *oc = cJSON_GetObjectItemCaseSensitive(b, "op_classes");
        const cJSON *c = NULL;
        /* the three largest shares */
        const char *top[3] = {0};
        double topv[3] = {0};
        cJSON_ArrayForEach(c, oc)
        {
            double sh = ms_num(c, "share");
            if (isnan(sh))
                continue;
            for (int i = 0; i < 3; i++)
                if (sh > topv[i]) {
                    for (int j = 2; j > i; j--) {
                        topv[j] = topv[j - 1];
                        top[j] = top[j - 1];
                    }
                    topv[i] = sh;
                    top[i] = c->string;
                    break;
                }
        }
        size_t o = 0;
        for (int i = 0; i < 3 && top[i] && o < sizeof cls; i++)
            o += (size_t)snprintf(cls + o, sizeof cls - o, "%s%s %.0f%%", i ? ", " : "", top[i],
                                  100.0 * topv[i]);
        const cJSON *valid = cJSON_GetObjectItemCaseSensitive(b, "valid");
        fprintf(f, "%-28s %-7s %3.0f %10.1f %7.1f %9.3f %6s %5s  %s%s\n", ms_str(p, "model"), test,
                ms_num(p, "threads"), ms_num(mt, "tok_per_s"), spread, ms_num(mt, "ms_per_token"),
                pct, ilv, cls, cJSON_IsFalse(valid) ? " (not valid)" : "");
    }
}
