/* SPDX-License-Identifier: MIT */
/* run_steps.c: the table of steps `owbench run` performs and its summary. */
#include "tools/run_steps.h"

#include <stdio.h>
#include <string.h>

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
    {"plot", "figures (gnuplot)", step_plot},
};
const int owb_run_nsteps = (int)OWB_ARRAY_LEN(owb_run_steps);

void owb_run_summary(const struct owb_run_ctx *ctx)
{
    printf("owbench run summary (%s mode, pin %s)\n", ctx->quick ? "quick" : "full", ctx->pin);
    owb_cli_print_stream_table(ctx->doc);
}
