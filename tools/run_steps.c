/* SPDX-License-Identifier: MIT */
/* run_steps.c: the table of steps `owbench run` performs and its summary. */
#include "tools/run_steps.h"

#include "bench/suites/ceiling.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/suites/kernels_suite.h"
#include "bench/suites/model_suite.h"
#include "bench/suites/stream.h"
#include "bench/core/topo.h"
#include "datasets/prose.h"
#include "datasets/sha256.h"
#include "evals/fingerprint.h"
#include "evals/gate.h"
#include "evals/kld.h"
#include "evals/ppl.h"
#include "evals/producer.h"
#include "model/quantize.h"
#include "model/synth.h"
#include "results/result.h"
#include "tools/cli_common.h"
#include "plot/plot.h"

static int step_topo(struct owb_run_ctx *ctx, char err[OWB_ERR_MAX])
{
    (void)err;
    owb_topo_print(ctx->topo, stderr);
    cJSON *t = owb_topo_to_json(ctx->topo);
    if (t)
        cJSON_AddItemToObject(ctx->doc, "topology", t);
    return 0;
}

static int stream_steps(struct owb_run_ctx *ctx, int after, char err[OWB_ERR_MAX])
{
    struct owb_stream_cfg cfg;
    int threads[1024], n = 0;
    owb_stream_cfg_default(&cfg);
    cfg.pin = ctx->pin;
    cfg.verbose = 1;
    if (ctx->quick) {
        threads[n++] = 1;
        if (ctx->max_threads > 1)
            threads[n++] = ctx->max_threads;
        owb_measure_cfg_quick(&cfg.measure);
    } else {
        for (int i = 1; i <= ctx->max_threads && n < 1024; i++)
            threads[n++] = i;
    }
    cfg.threads = threads;
    cfg.nthreads = n;
    if (after) { /* the read kernels only, named .../after (bench/suites/ceiling.h) */
        cfg.read_only = 1;
        cfg.suffix = "after";
    }
    return owb_stream_run(&cfg, ctx->topo, ctx->doc, err);
}

static int step_stream(struct owb_run_ctx *ctx, char err[OWB_ERR_MAX])
{
    return stream_steps(ctx, 0, err);
}

/* The read ceiling again after the kernels and the model (the host's bandwidth drifts), then
 * every GEMV, decode, GEMM and prefill figure held against the ceilings on both sides. */
static int step_ceiling(struct owb_run_ctx *ctx, char err[OWB_ERR_MAX])
{
    int rc = stream_steps(ctx, 1, err);
    if (!rc) {
        int over = owb_ceiling_annotate(ctx->doc, NULL);
        if (over)
            fprintf(stderr, "run: %d figure(s) above their ceiling: marked not valid\n", over);
    }
    return rc;
}

/* Quantized GEMV/GEMM against the stream step's read ceiling (stream/read/t<N> in ctx->doc).
 * Quick: every default format as GEMV at 4096x14336 (an 8B model's FFN down projection) and a
 * q4_0/q8_0/f16 GEMM sweep at 2880x2880 (gpt-oss-20b) over batch 16, 64, 256, all on every
 * thread of the policy with short measurements and no PAPI counters (2-5 s on 2 cores).
 * Full: the suite's defaults (owb_kernels_cfg_default) on 1..all threads of the policy. */
static int step_kernels(struct owb_run_ctx *ctx, char err[OWB_ERR_MAX])
{
    static const enum owb_type gemm_types[] = {OWB_TYPE_Q4_0, OWB_TYPE_Q8_0, OWB_TYPE_F16};
    static const int gemm_batches[] = {16, 64, 256};
    struct owb_kernels_cfg cfg;
    int rc;
    owb_kernels_cfg_default(&cfg);
    cfg.pin = ctx->pin;
    cfg.verbose = 1;
    if (!ctx->quick) {
        for (int t = 1; t <= ctx->max_threads && cfg.nthreads < OWB_KERNELS_MAX_LIST; t++)
            cfg.threads[cfg.nthreads++] = t;
        return owb_kernels_run(&cfg, ctx->topo, NULL, ctx->doc, err);
    }
    cfg.threads[0] = ctx->max_threads;
    cfg.nthreads = 1;
    cfg.counters = "none";
    cfg.measure.min_reps = 5;
    cfg.measure.min_time_s = 0.05;
    cfg.measure.warmup_runs = 1;
    cfg.measure.warmup_s = 0.01;
    cfg.measure.max_time_s = 1.0;
    cfg.shapes[0][0] = 4096;
    cfg.shapes[0][1] = 14336;
    cfg.nshapes = 1;
    cfg.batches[0] = 1;
    cfg.nbatches = 1;
    if ((rc = owb_kernels_run(&cfg, ctx->topo, NULL, ctx->doc, err)))
        return rc;
    cfg.nformats = 0;
    for (size_t i = 0; i < OWB_ARRAY_LEN(gemm_types); i++)
        cfg.formats[cfg.nformats++] = gemm_types[i];
    cfg.shapes[0][0] = 2880;
    cfg.shapes[0][1] = 2880;
    cfg.nbatches = 0;
    for (size_t i = 0; i < OWB_ARRAY_LEN(gemm_batches); i++)
        cfg.batches[cfg.nbatches++] = gemm_batches[i];
    return owb_kernels_run(&cfg, ctx->topo, NULL, ctx->doc, err);
}

/* Prefill and decode of a synthetic Llama-3.2-1B-shaped model (32000 vocabulary, the anchor of
 * the llama.cpp comparison) in q4_0 and q8_0 on every thread of the policy: its first 2 layers,
 * 128/32 tokens in quick mode (a few seconds each), all 16 layers and llama-bench's pp512/tg64
 * in full mode. The ceiling is the stream step's. */
static int step_model(struct owb_run_ctx *ctx, char err[OWB_ERR_MAX])
{
    static const char *const types[] = {"q4_0", "q8_0"};
    int rc = 0;
    for (size_t i = 0; i < OWB_ARRAY_LEN(types) && !rc; i++) {
        struct owb_model_bench_cfg cfg;
        char path[4096], name[256], source[300];
        owb_model_bench_cfg_default(&cfg);
        rc = owb_model_bench_write_synthetic("llama-1b-32k", types[i], ctx->quick ? 2 : 0, 1, path,
                                             sizeof path, name, sizeof name, err);
        if (rc)
            break;
        snprintf(source, sizeof source, "synthetic:%s", name);
        cfg.path = path;
        cfg.name = name;
        cfg.source = source;
        cfg.pin = ctx->pin;
        cfg.threads[0] = ctx->max_threads;
        cfg.nthreads = 1;
        cfg.verbose = 1;
        if (ctx->quick) {
            cfg.n_prompt = 128;
            cfg.n_gen = 32;
            cfg.reps = 3;
            cfg.counters = "none";
        }
        rc = owb_model_bench_run(&cfg, ctx->topo, NULL, ctx->doc, err);
        unlink(path);
    }
    return rc;
}

/* ---- quality: quantized derivatives of a synthetic model against their base ----
 * The synthetic "tiny" preset (stories260K's shape: 512 tokens, width 64, 5 layers) written in
 * f32 with seed 1 is the base; owb_quantize_file derives each format of quality_types. The base's
 * top-32 fingerprint on the embedded prose (datasets/prose.h; windows of 128, the preset's
 * trained context) gives its perplexity; each derivative is scored on the fingerprint's token ids
 * (KLD, top-1 agreement, PPL ratio) and put through the paired gate with its default margins, all
 * with the library calls behind `owbench eval fingerprint|kld|gate`. The weights are random, so
 * the figures measure the drift quantization adds to the numerics, not language quality. The
 * model files and the fingerprint live in DIR/quality/ during the step and are removed after it.
 * Quick and full mode do the same work (about 1.5 s on 2 busy cores, load average 2-3). */
#define QUALITY_PRESET "tiny"
#define QUALITY_CTX 128
#define QUALITY_TOP_K 32
#define QUALITY_REPS 2000
#define QUALITY_NOTE                                                                               \
    "random-weight synthetic model: the figures measure the quantization drift of the numerics, "  \
    "not language quality"

/* No k-quant: the tiny model is 64 wide, so no 256-element super-block fits a row and a q4_K
 * derivative would hold the q8_0 fallback weights, a duplicate of the q8_0 row. */
static const enum owb_type quality_types[] = {OWB_TYPE_Q8_0, OWB_TYPE_Q4_0, OWB_TYPE_MXFP4};

static void quality_count_fallback(void *c, int64_t i, int64_t n, const char *name, int64_t row_len,
                                   enum owb_type in, enum owb_type out, bool fell_back)
{
    (void)i;
    (void)n;
    (void)name;
    (void)row_len;
    (void)in;
    (void)out;
    *(int *)c += fell_back;
}

static double quality_file_bytes(const char *path)
{
    struct stat st;
    return stat(path, &st) ? (double)NAN : (double)st.st_size;
}

/* A result document holding only a copy of entry e (a gate side). */
static cJSON *quality_side_doc(const cJSON *e)
{
    cJSON *d = cJSON_CreateObject(), *ev = d ? cJSON_AddArrayToObject(d, "evals") : NULL;
    cJSON *c = ev ? cJSON_Duplicate(e, 1) : NULL;
    if (!c) {
        cJSON_Delete(d);
        return NULL;
    }
    cJSON_AddItemToArray(ev, c);
    return d;
}

/* The paired gate of the base's ppl entry and a derivative's kld entry, appended to doc's evals[]
 * as "gate/<name>/<check>" and the overall "gate/<name>". */
static int quality_gate(cJSON *doc, const cJSON *base_e, const cJSON *kld_e, const char *name,
                        const char *label, enum owb_gate_verdict *verdict, char err[OWB_ERR_MAX])
{
    struct owb_gate_cfg cfg;
    struct owb_gate_side a = {0}, b = {0};
    struct owb_gate g = {0};
    cJSON *da = quality_side_doc(base_e), *db = quality_side_doc(kld_e);
    cJSON *gd = cJSON_CreateObject(), *e, *next;
    int rc = OWB_E_NOMEM;
    owb_gate_cfg_default(&cfg);
    if (!da || !db || !gd || !cJSON_AddArrayToObject(gd, "evals")) {
        cJSON_Delete(da);
        cJSON_Delete(db);
        snprintf(err, OWB_ERR_MAX, "out of memory");
        goto out;
    }
    owb_gate_side_from_doc(&a, "base " QUALITY_PRESET "-f32", da, NULL);
    owb_gate_side_from_doc(&b, label, db, NULL);
    if ((rc = owb_gate_prepare(&g, &a, &b, &cfg, err)))
        goto out;
    if ((rc = owb_gate_decide(&g, &cfg))) {
        snprintf(err, OWB_ERR_MAX, "out of memory");
        goto out;
    }
    owb_gate_to_json(&g, &cfg, gd);
    cJSON *evals = cJSON_GetObjectItemCaseSensitive(doc, "evals");
    for (e = cJSON_GetObjectItemCaseSensitive(gd, "evals")->child; e; e = next) {
        char nm[400];
        const char *old = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "name"));
        next = e->next;
        /* "gate" -> "gate/<name>", "gate/ppl" -> "gate/<name>/ppl" */
        snprintf(nm, sizeof nm, "gate/%s%s", name, old && strlen(old) > 4 ? old + 4 : "");
        cJSON_ReplaceItemInObject(e, "name", cJSON_CreateString(nm));
        cJSON_AddItemToArray(
            evals, cJSON_DetachItemViaPointer(cJSON_GetObjectItemCaseSensitive(gd, "evals"), e));
    }
    *verdict = g.verdict;
    rc = 0;
out:
    owb_gate_release(&g);
    owb_gate_side_release(&a);
    owb_gate_side_release(&b);
    cJSON_Delete(gd);
    return rc;
}

/* Quantize the base to t, score it on the fingerprint, append its kld entries and its gate. */
static int quality_derivative(cJSON *doc, const char *dir, const char *base_path,
                              const struct owb_fingerprint *fp, const cJSON *base_e,
                              enum owb_type t, int threads, char err[OWB_ERR_MAX])
{
    char path[4400], name[128], label[64], model[128], text[128];
    struct owb_producer *p = NULL;
    struct owb_kld_result r = {0};
    int n_fb = 0, rc;
    snprintf(label, sizeof label, "%s", owb_type_name(t));
    snprintf(path, sizeof path, "%s/%s-%s.gguf", dir, QUALITY_PRESET, label);
    snprintf(name, sizeof name, "%s/%s-%s", owb_prose_info()->name, QUALITY_PRESET, label);
    snprintf(model, sizeof model, "synthetic:%s/%s", QUALITY_PRESET, label);
    snprintf(text, sizeof text, "embedded:%s", owb_prose_info()->name);
    if ((rc = owb_quantize_file(base_path, path, t, threads, quality_count_fallback, &n_fb, err)))
        goto out;
    struct owb_engine_opts eo = {.n_ctx = QUALITY_CTX, .threads = 1, .hash_model = true};
    if ((rc = owb_producer_engine_new(path, &eo, &p, err)) ||
        (rc = owb_kld_check_compatible(fp, &p->info, err)))
        goto out;
    struct owb_kld_cfg kc = {.boot_reps = QUALITY_REPS, .seed = 1};
    if ((rc = owb_kld_run(p, fp, &kc, &r, err)))
        goto out;
    cJSON *id = owb_window_identity_json(
        "kld", fp->h.text_sha256,
        (fp->h.flags & OWB_FP_HAS_TOKENIZER_SHA) ? fp->h.tokenizer_sha256 : NULL, &r.plan);
    cJSON *pj = cJSON_CreateObject();
    if (id)
        owb_json_add_hex(id, "fingerprint_payload_sha256", fp->h.payload_sha256);
    if (pj) {
        cJSON_AddStringToObject(pj, "base_model", "synthetic:" QUALITY_PRESET "/f32");
        owb_json_add_hex(pj, "base_model_sha256",
                         (fp->h.flags & OWB_FP_HAS_MODEL_SHA) ? fp->h.model_sha256 : NULL);
        cJSON_AddNumberToObject(pj, "top_k", fp->h.top_k);
        cJSON_AddStringToObject(pj, "text", text);
        cJSON_AddStringToObject(pj, "derivative", label);
        cJSON_AddStringToObject(pj, "model", model);
        owb_json_add_hex(pj, "model_sha256",
                         p->info.has_model_sha256 ? p->info.model_sha256 : NULL);
        owb_json_add_num(pj, "bytes", quality_file_bytes(path));
        cJSON_AddNumberToObject(pj, "fell_back_tensors", n_fb);
        cJSON_AddNumberToObject(pj, "threads", 1);
        cJSON_AddStringToObject(pj, "producer", "engine");
    }
    char kname[160];
    snprintf(kname, sizeof kname, "kld/%s", name);
    cJSON *e = owb_kld_to_json(doc, kname, &r, id, pj);
    if (!e || !id || !pj) {
        rc = OWB_E_NOMEM;
        snprintf(err, OWB_ERR_MAX, "out of memory");
        goto out;
    }
    cJSON *notes = cJSON_AddArrayToObject(e, "notes");
    cJSON_AddItemToArray(notes, cJSON_CreateString(QUALITY_NOTE));
    enum owb_gate_verdict v = OWB_VERDICT_INCONCLUSIVE;
    if ((rc = quality_gate(doc, base_e, e, name, label, &v, err)))
        goto out;
    fprintf(stderr,
            "  %-6s KLD %.3g nats, top-1 %.1f%%, PPL ratio %.4f, gate %s (%d tensor(s) fell "
            "back)\n",
            label, r.kld_mean.v, 100 * r.top1.v, exp(r.ln_ratio.v), owb_gate_verdict_name(v), n_fb);
out:
    owb_kld_result_release(&r);
    owb_producer_free(p);
    unlink(path);
    return rc;
}

static int step_quality(struct owb_run_ctx *ctx, char err[OWB_ERR_MAX])
{
    const struct owb_synth_preset *pre = owb_synth_find(QUALITY_PRESET);
    char dir[4200], base[4300], fpath[4300], name[128], tname[128];
    struct owb_producer *p = NULL;
    struct owb_fingerprint *fp = NULL;
    struct owb_ppl_result r = {0};
    int32_t *ids = NULL;
    int64_t n_ids = 0;
    size_t len = 0;
    unsigned char tsha[32];
    char *text = NULL;
    int rc;
    OWB_ASSERT(pre);
    snprintf(dir, sizeof dir, "%s/quality", ctx->outdir);
    snprintf(base, sizeof base, "%s/%s-f32.gguf", dir, QUALITY_PRESET);
    snprintf(fpath, sizeof fpath, "%s/base.owbfp", dir);
    snprintf(name, sizeof name, "ppl/%s/%s-f32", owb_prose_info()->name, QUALITY_PRESET);
    snprintf(tname, sizeof tname, "embedded:%s", owb_prose_info()->name);
    if ((rc = owb_mkdir_p(dir, err)) ||
        (rc = owb_synth_write(pre, OWB_TYPE_F32, 0, 1, base, ctx->max_threads, NULL, NULL, err)))
        goto out;
    struct owb_engine_opts eo = {.n_ctx = QUALITY_CTX, .threads = 1, .hash_model = true};
    if ((rc = owb_producer_engine_new(base, &eo, &p, err)))
        goto out;
    if (!(text = owb_prose_text(&len))) {
        rc = OWB_E_NOMEM;
        snprintf(err, OWB_ERR_MAX, "out of memory");
        goto out;
    }
    owb_sha256(text, len, tsha);
    if ((rc = owb_producer_tokenize(p, text, len, p->info.add_bos, &ids, &n_ids, err)))
        goto out;
    struct owb_ppl_cfg pc = {
        .n_ctx = QUALITY_CTX, .top_k = QUALITY_TOP_K, .boot_reps = QUALITY_REPS, .seed = 1};
    if ((rc = owb_fp_record(p, ids, n_ids, tsha, &pc, fpath, &r, err)) ||
        (rc = owb_fp_read(fpath, &fp, err)))
        goto out;
    fprintf(stderr,
            "  base %s-f32 (%s, random weights): %zu bytes of %s -> %lld tokens, %lld windows of "
            "%d; PPL %.2f\n",
            QUALITY_PRESET, pre->model_name, len, owb_prose_info()->name, (long long)n_ids,
            (long long)r.plan.n_windows, QUALITY_CTX, r.ppl);
    cJSON *pj = cJSON_CreateObject();
    if (pj) {
        cJSON_AddStringToObject(pj, "model", "synthetic:" QUALITY_PRESET "/f32");
        owb_json_add_hex(pj, "model_sha256",
                         p->info.has_model_sha256 ? p->info.model_sha256 : NULL);
        owb_json_add_num(pj, "bytes", quality_file_bytes(base));
        cJSON_AddNumberToObject(pj, "seed", 1);
        cJSON_AddStringToObject(pj, "text", tname);
        cJSON_AddNumberToObject(pj, "text_bytes", (double)len);
        cJSON_AddNumberToObject(pj, "ctx", QUALITY_CTX);
        cJSON_AddNumberToObject(pj, "top_k", QUALITY_TOP_K);
        cJSON_AddNumberToObject(pj, "threads", 1);
        cJSON_AddStringToObject(pj, "producer", "engine");
    }
    cJSON *be = owb_ppl_to_json(
        ctx->doc, name, &r,
        owb_window_identity_json(
            "ppl", tsha, p->info.has_tokenizer_sha256 ? p->info.tokenizer_sha256 : NULL, &r.plan),
        pj);
    if (!be) {
        rc = OWB_E_NOMEM;
        snprintf(err, OWB_ERR_MAX, "out of memory");
        goto out;
    }
    cJSON *notes = cJSON_AddArrayToObject(be, "notes");
    cJSON_AddItemToArray(notes, cJSON_CreateString(QUALITY_NOTE));
    for (size_t i = 0; i < OWB_ARRAY_LEN(quality_types) && !rc; i++)
        rc = quality_derivative(ctx->doc, dir, base, fp, be, quality_types[i], ctx->max_threads,
                                err);
out:
    owb_fp_free(fp);
    owb_ppl_result_release(&r);
    owb_producer_free(p);
    free(ids);
    free(text);
    unlink(fpath);
    unlink(base);
    rmdir(dir);
    return rc;
}

static double quality_num(const cJSON *o, const char *k1, const char *k2)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k1);
    if (k2)
        v = cJSON_GetObjectItemCaseSensitive(v, k2);
    return cJSON_IsNumber(v) ? v->valuedouble : (double)NAN;
}

/* The entry of doc's evals[] named name (and of metric metric when not NULL). */
static const cJSON *quality_find(const cJSON *doc, const char *name, const char *metric)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, "evals"))
    {
        const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "name"));
        const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "metric"));
        if (n && !strcmp(n, name) && (!metric || (m && !strcmp(m, metric))))
            return e;
    }
    return NULL;
}

/* The quality step's table, from doc's evals[] (nothing when the step did not run). */
static void quality_print_table(const cJSON *doc)
{
    char nm[200], pfx[160];
    snprintf(nm, sizeof nm, "ppl/%s/%s-f32", owb_prose_info()->name, QUALITY_PRESET);
    const cJSON *b = quality_find(doc, nm, "perplexity"), *e, *gate = NULL;
    int any_fb = 0;
    if (!b)
        return;
    const cJSON *bp = cJSON_GetObjectItemCaseSensitive(b, "params");
    printf("\nquality of quantized derivatives of a synthetic '%s' model (%s shape, f32 base);\n"
           "RANDOM weights: the figures measure the quantization drift of the numerics, not "
           "language quality\n",
           QUALITY_PRESET, owb_synth_find(QUALITY_PRESET)->model_name);
    printf("base: %.0f bytes, PPL %.2f [%.2f, %.2f] on %s (%.0f bytes, %.0f windows of %.0f, "
           "%.0f scored tokens)\n",
           quality_num(bp, "bytes", NULL), quality_num(b, "value", NULL),
           quality_num(b, "ci95_lo", NULL), quality_num(b, "ci95_hi", NULL), owb_prose_info()->name,
           quality_num(bp, "text_bytes", NULL), quality_num(b, "summary", "n_windows"),
           quality_num(bp, "ctx", NULL), quality_num(b, "n", NULL));
    printf("%-10s %9s  %-32s %7s  %-26s %s\n", "derivative", "bytes", "KLD mean [95% CI] (nats)",
           "top-1 %", "PPL ratio [95% CI]", "gate");
    snprintf(pfx, sizeof pfx, "kld/%s/%s-", owb_prose_info()->name, QUALITY_PRESET);
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, "evals"))
    {
        const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "name"));
        const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "metric"));
        if (!n || !m || strncmp(n, pfx, strlen(pfx)) || strcmp(m, "kld_mean"))
            continue;
        const cJSON *pj = cJSON_GetObjectItemCaseSensitive(e, "params");
        const cJSON *sm = cJSON_GetObjectItemCaseSensitive(e, "summary");
        const char *d = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pj, "derivative"));
        char kld[64], ratio[64], gname[200], fb[16] = "";
        snprintf(gname, sizeof gname, "gate/%s", n + 4);
        const cJSON *g = quality_find(doc, gname, "verdict_exit_code");
        const char *v =
            g ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(g, "verdict")) : NULL;
        if (g)
            gate = g;
        snprintf(kld, sizeof kld, "%.3g [%.3g, %.3g]", quality_num(e, "value", NULL),
                 quality_num(e, "ci95_lo", NULL), quality_num(e, "ci95_hi", NULL));
        snprintf(ratio, sizeof ratio, "%.4f [%.4f, %.4f]",
                 exp(quality_num(sm, "ln_ppl_ratio", "value")),
                 exp(quality_num(sm, "ln_ppl_ratio", "ci95_lo")),
                 exp(quality_num(sm, "ln_ppl_ratio", "ci95_hi")));
        if (quality_num(pj, "fell_back_tensors", NULL) > 0 && ++any_fb)
            snprintf(fb, sizeof fb, " (%.0f fb)", quality_num(pj, "fell_back_tensors", NULL));
        printf("%-10s %9.0f  %-32s %7.1f  %-26s %s%s\n", d ? d : n + strlen(pfx),
               quality_num(pj, "bytes", NULL), kld,
               100 * quality_num(sm, "top1_agreement", "value"), ratio, v ? v : "-", fb);
    }
    if (gate) {
        const cJSON *gp = cJSON_GetObjectItemCaseSensitive(gate, "params");
        printf("gate: paired against the base on the same windows, default margins (PPL ratio "
               "%.3g,\n      KLD %.3g nats, %.0f%% intervals): PASS, FAIL or INCONCLUSIVE\n",
               quality_num(gp, "max_ppl_ratio", NULL), quality_num(gp, "max_kld", NULL),
               100 * (1 - quality_num(gp, "alpha", NULL)));
    }
    if (any_fb)
        printf("(N fb): N weight matrices fell back to a wider type (q8_0 or f16): their\n"
               "      rows are not whole blocks of the format (e.g. the 172-wide FFN rows).\n");
}
static int step_plot(struct owb_run_ctx *ctx, char err[OWB_ERR_MAX])
{
    int nfig = 0;
    cJSON *docs[1] = {ctx->doc};
    int rc = owb_plot_results(docs, 1, ctx->outdir, err, &nfig);
    if (rc)
        return rc;
    if (err[0]) { /* a note (no gnuplot, nothing to draw): the data files are still written */
        fprintf(stderr, "  note: %s\n", err);
        err[0] = 0;
    }
    fprintf(stderr, "  %d figure(s) in %s\n", nfig, ctx->outdir);
    return 0;
}

const struct owb_run_step owb_run_steps[] = {
    {"topo", "topology and pinning plan", step_topo},
    {"stream", "memory bandwidth ceilings", step_stream},
    {"kernels", "quantized GEMV/GEMM sweep vs the read ceiling", step_kernels},
    {"model", "prefill and decode of a synthetic model (q4_0, q8_0)", step_model},
    {"ceiling", "read ceiling again; every figure held against its ceilings", step_ceiling},
    {"quality", "quantized derivatives of a synthetic model vs their base (KLD, PPL, gate)",
     step_quality},
    {"plot", "figures (gnuplot)", step_plot},
};
const int owb_run_nsteps = (int)OWB_ARRAY_LEN(owb_run_steps);

void owb_run_summary(const struct owb_run_ctx *ctx)
{
    printf("owbench run summary (%s mode, pin %s)\n", ctx->quick ? "quick" : "full", ctx->pin);
    owb_cli_print_stream_table(ctx->doc);
    printf("\nquantized GEMV/GEMM (%%ceil: of the stream read ceiling at the same threads)\n");
    owb_kernels_print_table(ctx->doc, stdout);
    owb_model_bench_print_table(ctx->doc, stdout);
    quality_print_table(ctx->doc);
}
