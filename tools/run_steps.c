/* SPDX-License-Identifier: MIT */
/* run_steps.c: the table of steps `owbench run` performs and its summary. */
#include "tools/run_steps.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench/kernels_suite.h"
#include "bench/model_suite.h"
#include "bench/stream.h"
#include "bench/topo.h"
#include "tools/cli_common.h"
#include "tools/plot.h"

static int step_topo(struct owb_run_ctx *ctx, char err[OWB_ERR_MAX])
{
    (void)err;
    owb_topo_print(ctx->topo, stderr);
    cJSON *t = owb_topo_to_json(ctx->topo);
    if (t)
        cJSON_AddItemToObject(ctx->doc, "topology", t);
    return 0;
}

static int step_stream(struct owb_run_ctx *ctx, char err[OWB_ERR_MAX])
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
        cfg.measure.min_reps = 5;
        cfg.measure.min_time_s = 0.1;
        cfg.measure.warmup_runs = 1;
        cfg.measure.warmup_s = 0.02;
    } else {
        for (int i = 1; i <= ctx->max_threads && n < 1024; i++)
            threads[n++] = i;
    }
    cfg.threads = threads;
    cfg.nthreads = n;
    return owb_stream_run(&cfg, ctx->topo, ctx->doc, err);
}

/* Quantized GEMV/GEMM against the stream step's read ceiling (stream/read/t<N> in ctx->doc).
 * Quick: every default format as GEMV at 4096x14336 (an 8B model's FFN down projection) and a
 * q4_0/q8_0/f16 GEMM sweep at 2880x2880 (gpt-oss-20b) over batch 16, 64, 256, all on every
 * thread of the policy with short measurements and no PAPI counters (about 10 s on 2 cores).
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
}
