/* SPDX-License-Identifier: MIT */
/*
 * cmd_run.c: `owbench run`, the default suite on an embedded default (no downloads): the
 * topology, the memory-bandwidth ceilings, and every later suite that exists, with a progress
 * line per step, a summary table, one result document and its plots.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "owb_common.h"
#include "bench/core/measure.h"
#include "bench/suites/stream.h"
#include "bench/core/topo.h"
#include "dist/ranks.h"
#include "tools/cli_common.h"
#include "tools/cmds.h"
#include "tools/run_steps.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: owbench run [-o DIR] [--quick|--full] [--pin POLICY]\n\n"
               "The default suite on an embedded default, no downloads: topology, memory\n"
               "bandwidth ceilings (stream) and every later suite, then a summary table, one\n"
               "result document (DIR/run.json) and its plots.\n\n"
               "  --quick       short runs: 1 and all threads, fewer repetitions (default)\n"
               "  --full        every thread count, longer repetitions\n"
               "  --pin POLICY  pinning policy (default compact)\n"
               "  -o DIR        output folder (default results/runs/<time>-run)\n");
}

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"quick", no_argument, NULL, 'q'},     {"full", no_argument, NULL, 'f'},
        {"pin", required_argument, NULL, 'p'}, {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0}};
    struct owb_run_ctx ctx = {0};
    const char *outarg = NULL;
    char err[OWB_ERR_MAX] = "";
    int c, rc = OWB_EXIT_OK;

    ctx.quick = 1;
    ctx.pin = "compact";
    optind = 1;
    while ((c = getopt_long(argc, argv, "qfp:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'q':
            ctx.quick = 1;
            break;
        case 'f':
            ctx.quick = 0;
            break;
        case 'p':
            ctx.pin = optarg;
            break;
        case 'o':
            outarg = optarg;
            break;
        case 'h':
            usage(stdout);
            return OWB_EXIT_OK;
        default:
            usage(stderr);
            return OWB_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "owbench run: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return OWB_EXIT_USAGE;
    }
    ctx.topo = owb_topo_new(NULL, err);
    if (!ctx.topo)
        return owb_cli_fail("run", OWB_E_SYSTEM, err);
    {
        int cpus[1024], n;
        if (owb_topo_pin_plan(ctx.topo, ctx.pin, 0, cpus, &n, err)) {
            fprintf(stderr, "owbench run: %s\n", err);
            rc = OWB_EXIT_USAGE;
            goto out;
        }
        ctx.max_threads = n;
    }
    owb_cli_outdir(outarg, "run", ctx.outdir, sizeof ctx.outdir);
    owb_cli_rank_outdir(ctx.outdir, sizeof ctx.outdir);
    rc = owb_cli_check_outdir("run", ctx.outdir);
    if (rc)
        goto out;
    ctx.doc = owb_cli_result_new(ctx.topo);
    if (!ctx.doc) {
        rc = owb_cli_fail("run", OWB_E_NOMEM, "out of memory");
        goto out;
    }
    uint64_t t0 = owb_now_ns();
    for (int i = 0; i < owb_run_nsteps; i++) {
        const struct owb_run_step *s = &owb_run_steps[i];
        uint64_t ts = owb_now_ns();
        fprintf(stderr, "[%d/%d] %s: %s\n", i + 1, owb_run_nsteps, s->name, s->what);
        err[0] = 0;
        int st = s->fn(&ctx, err);
        if (st) {
            rc = owb_cli_fail("run", st, err);
            goto out;
        }
        fprintf(stderr, "[%d/%d] %s done in %.1f s\n", i + 1, owb_run_nsteps, s->name,
                (double)(owb_now_ns() - ts) * 1e-9);
    }
    if (owb_ranks_size() > 1) {
        /* Each node measured itself; rank 0 writes one document for the fleet (its summary
         * below stays its own). */
        cJSON *fleet = owb_ranks_rank() == 0 ? cJSON_Duplicate(ctx.doc, 1) : NULL;
        int st = owb_ranks_rank() == 0 && !fleet ? OWB_E_NOMEM : OWB_OK;
        if (!st)
            st = owb_cli_ranks_collect(owb_ranks_rank() == 0 ? fleet : ctx.doc, ctx.topo, 1, err);
        if (!st && owb_ranks_rank() == 0)
            rc = owb_cli_write("run", fleet, ctx.outdir, "run.json");
        cJSON_Delete(fleet);
        if (st)
            rc = owb_cli_fail("run", st, err[0] ? err : "out of memory");
    } else {
        rc = owb_cli_write("run", ctx.doc, ctx.outdir, "run.json");
    }
    if (rc)
        goto out;
    owb_run_summary(&ctx);
    fflush(stdout); /* the summary (stdout) before the closing line (stderr) on a terminal */
    fprintf(stderr, "owbench run: finished in %.1f s, results in %s\n",
            (double)(owb_now_ns() - t0) * 1e-9, ctx.outdir);
out:
    cJSON_Delete(ctx.doc);
    owb_topo_free(ctx.topo);
    return rc;
}
