/* SPDX-License-Identifier: MIT */
/*
 * cmd_stream.c: `owbench stream`, the memory-bandwidth ceilings (copy, scale, add, triad, read)
 * per thread count, written as an owbench.result/1 document.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "owb_common.h"
#include "bench/suites/stream.h"
#include "bench/core/suite.h"
#include "bench/core/topo.h"
#include "dist/ranks.h"
#include "tools/cli_common.h"
#include "tools/cmds.h"

#define MAX_THREAD_COUNTS 256

static void usage(FILE *f)
{
    fprintf(f,
            "usage: owbench stream [--threads LIST] [--size BYTES] [--pin POLICY]\n"
            "                      [--counters LIST] [--quick] [-o DIR]\n\n"
            "Memory-bandwidth ceilings: STREAM copy, scale, add, triad and three read-only\n"
            "kernels (read: a plain loop; read_pf: vector loads + software prefetch, the GEMVs'\n"
            "pattern; read_streams4: four prefetched streams; the last two read 16 MiB chunks),\n"
            "pinned, arrays of 4x the last-level cache (at most 1/16 of memory), for each\n"
            "thread count. GB/s counts bytes read + written (STREAM convention; no\n"
            "write-allocate traffic); the read kernels count bytes read. Later suites hold GEMVs\n"
            "and decode against the best read kernel at <= their thread count.\n\n"
            "  --threads LIST   thread counts, e.g. 1,2 (default: 1..all PUs)\n"
            "  --size BYTES     bytes per array, K/M/G suffixes (default: 4x LLC, at most\n"
            "                   1/16 of memory, at least 64M; OWB_SWEEP_BYTES sets it)\n"
            "  --pin POLICY     compact|scatter|numa:K|list:0,2-3|none (default compact)\n"
            "  --counters LIST  PAPI events (default cycles, instructions, cache misses, branch\n"
            "                   mispredictions); 'none' for rusage only\n"
            "  --quick          fewer, shorter repetitions\n"
            "  -o DIR           output folder (default results/runs/<time>-stream); writes\n"
            "                   DIR/stream.json\n");
}

int cmd_stream(int argc, char **argv)
{
    static const struct option opts[] = {
        {"threads", required_argument, NULL, 't'}, {"size", required_argument, NULL, 's'},
        {"pin", required_argument, NULL, 'p'},     {"counters", required_argument, NULL, 'c'},
        {"quick", no_argument, NULL, 'q'},         {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    struct owb_stream_cfg cfg;
    int threads[MAX_THREAD_COUNTS], nthreads = 0, c, rc = OWB_EXIT_OK, quick = 0;
    const char *outarg = NULL;
    char err[OWB_ERR_MAX] = "", outdir[4096];
    struct owb_topo *topo = NULL;
    cJSON *doc = NULL;

    owb_stream_cfg_default(&cfg);
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:s:p:c:qo:h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (owb_parse_int_list("--threads", optarg, threads, MAX_THREAD_COUNTS, &nthreads, err))
                goto usage_err;
            break;
        case 's':
            if (owb_parse_size("--size", optarg, &cfg.array_bytes, err))
                goto usage_err;
            break;
        case 'p':
            cfg.pin = optarg;
            break;
        case 'c':
            cfg.counters = optarg;
            break;
        case 'q':
            quick = 1;
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
        snprintf(err, sizeof err, "unexpected argument '%s'", argv[optind]);
        goto usage_err;
    }
    if (owb_cli_check_counters("stream", cfg.counters))
        return OWB_EXIT_USAGE;
    topo = owb_topo_new(NULL, err);
    if (!topo) {
        rc = owb_cli_fail("stream", OWB_E_SYSTEM, err);
        goto out;
    }
    if (!nthreads) {
        int npus = owb_topo_npus(topo);
        for (int i = 1; i <= npus && i <= MAX_THREAD_COUNTS; i++)
            threads[nthreads++] = i;
    }
    /* Validate every thread count against the policy before running anything. */
    if (owb_cli_check_threads(topo, cfg.pin, threads, nthreads, err))
        goto usage_err;
    if (quick) {
        owb_measure_cfg_quick(&cfg.measure);
    }
    cfg.threads = threads;
    cfg.nthreads = nthreads;
    cfg.verbose = 1;
    owb_cli_outdir(outarg, "stream", outdir, sizeof outdir);
    owb_cli_rank_outdir(outdir, sizeof outdir);
    rc = owb_cli_check_outdir("stream", outdir);
    if (rc)
        goto out;
    doc = owb_cli_result_new(topo);
    if (!doc) {
        rc = owb_cli_fail("stream", OWB_E_NOMEM, "out of memory");
        goto out;
    }
    int st = owb_stream_run(&cfg, topo, doc, err);
    if (st) {
        rc = owb_cli_fail("stream", st, err);
        goto out;
    }
    owb_cli_print_stream_table(doc);
    {
        /* Under mpirun each node measured itself; rank 0 writes one document for the fleet. */
        char rerr[OWB_ERR_MAX] = "";
        int cst = owb_cli_ranks_collect(doc, topo, 1, rerr);
        if (cst) {
            rc = owb_cli_fail("stream", cst, rerr);
            goto out;
        }
        if (owb_ranks_rank() > 0)
            goto out;
    }
    rc = owb_cli_write("stream", doc, outdir, "stream.json");
out:
    cJSON_Delete(doc);
    owb_topo_free(topo);
    return rc;
usage_err:
    fprintf(stderr, "owbench stream: %s\n", err);
    owb_topo_free(topo);
    return OWB_EXIT_USAGE;
}
