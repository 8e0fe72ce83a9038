/* SPDX-License-Identifier: MIT */
/*
 * cmd_kernels.c: `owbench kernels`, the quantized GEMV/GEMM sweep (bench/suites/kernels_suite.h)
 * with the read-bandwidth ceiling measured in the same run (stream suite) or read from --ceiling
 * FILE, written as an owbench.result/1 document.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "owb_common.h"
#include "bench/suites/kernels_suite.h"
#include "bench/suites/stream.h"
#include "bench/core/suite.h"
#include "bench/core/topo.h"
#include "kernels/isa.h"
#include "results/result.h"
#include "bench/suites/ceiling.h"
#include "dist/ranks.h"
#include "tools/cli_common.h"
#include "tools/cmds.h"
#include "tools/kernels_device.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: owbench kernels [--formats LIST] [--shapes MxK,...] [--batch LIST]\n"
        "                       [--threads LIST] [--pin POLICY] [--isa ISA]\n"
        "                       [--ceiling FILE] [--counters LIST] [--device cpu|cuda]\n"
        "                       [--quick] [--rotate SIZE] [-o DIR]\n\n"
        "Quantized GEMV (batch 1) and GEMM (batch > 1) through the owbench kernels: Y = W X,\n"
        "W m x k in a GGUF format as stored, f32 activations and outputs. Weights rotate over\n"
        "copies exceeding 4x the last-level cache (at most 1/16 of memory); each thread\n"
        "first-touches its rows.\n"
        "Reports time, GB/s (weight + activation + output bytes), GFLOP/s (2 m k batch) and\n"
        "the percentage of the read-bandwidth ceiling (stream read, same thread count); batched\n"
        "cases also the percentage of the compute peak of their path (int8 dot or f32 FMA,\n"
        "measured on the same threads before the cases, as kernels/peak/<kind>/t<N>).\n\n"
        "  --formats LIST   weight formats (default f32,f16,bf16,q8_0,q4_0,q4_K,q6_K,mxfp4;\n"
        "                   also q4_1,q5_0,q5_1,q2_K,q3_K,q5_K on the reference path)\n"
        "  --shapes LIST    m x k pairs (default 4096x4096,14336x4096,4096x14336,2880x2880,\n"
        "                   5760x2880)\n"
        "  --batch LIST     activation rows (default 1,512)\n"
        "  --threads LIST   thread counts (default 1..all PUs)\n"
        "  --pin POLICY     compact|scatter|numa:K|list:0,2-3|none (default compact)\n"
        "  --isa ISA        ref|avx2|avx512|best (default best)\n"
        "  --ceiling FILE   a result file with stream/read/t<N> (default: measure it now)\n"
        "  --counters LIST  PAPI events (default set; 'none' for rusage only)\n"
        "  --device DEV     cpu (default) or cuda: the sweep on the GPU backend with its\n"
        "                   copy ceiling (exit 77 naming the reason when no device is usable)\n"
        "  --quick          shorter measurements (and a quick ceiling)\n"
        "  --no-interleave  do not read the ceiling right before and after each GEMV\n"
        "                   (pct_of_ceiling_interleaved; on by default)\n"
        "  --rotate SIZE    weight bytes to rotate over, K/M/G suffixes (default 4x the\n"
        "                   last-level cache, at most 1/16 of memory; smaller sizes measure from "
        "cache, for tests)\n"
        "  -o DIR           output folder (default results/runs/<time>-kernels); writes\n"
        "                   DIR/kernels.json\n");
}

int cmd_kernels(int argc, char **argv)
{
    static const struct option opts[] = {{"formats", required_argument, NULL, 'f'},
                                         {"shapes", required_argument, NULL, 's'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"pin", required_argument, NULL, 'p'},
                                         {"isa", required_argument, NULL, 'i'},
                                         {"ceiling", required_argument, NULL, 'C'},
                                         {"counters", required_argument, NULL, 'c'},
                                         {"quick", no_argument, NULL, 'q'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"rotate", required_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"device", required_argument, NULL, 'D'},
                                         {"no-interleave", no_argument, NULL, 'N'},
                                         {NULL, 0, NULL, 0}};
    struct owb_kernels_cfg cfg;
    int c, rc = OWB_EXIT_OK, quick = 0;
    const char *outarg = NULL, *ceiling_path = NULL, *device = NULL;
    char err[OWB_ERR_MAX] = "", outdir[4096];
    struct owb_topo *topo = NULL;
    cJSON *doc = NULL, *ceiling_doc = NULL;

    owb_kernels_cfg_default(&cfg);
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:s:b:t:p:i:C:c:qo:r:hD:", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (owb_kernels_parse_formats(optarg, &cfg, err))
                goto usage_err;
            break;
        case 's':
            if (owb_kernels_parse_shapes(optarg, &cfg, err))
                goto usage_err;
            break;
        case 'b':
            if (owb_parse_int_list("--batch", optarg, cfg.batches, OWB_KERNELS_MAX_LIST,
                                   &cfg.nbatches, err))
                goto usage_err;
            break;
        case 't':
            if (owb_parse_int_list("--threads", optarg, cfg.threads, OWB_KERNELS_MAX_LIST,
                                   &cfg.nthreads, err))
                goto usage_err;
            break;
        case 'p':
            cfg.pin = optarg;
            break;
        case 'i':
            if (owb_isa_from_name(optarg, &cfg.isa)) {
                snprintf(err, sizeof err, "--isa '%s': expected ref, avx2, avx512 or best", optarg);
                goto usage_err;
            }
            if (!owb_isa_supported(cfg.isa)) {
                snprintf(err, sizeof err, "--isa %s: this CPU does not support it (best: %s)",
                         optarg, owb_isa_name(owb_isa_detect()));
                goto usage_err;
            }
            break;
        case 'C':
            ceiling_path = optarg;
            break;
        case 'c':
            cfg.counters = optarg;
            break;
        case 'q':
            quick = 1;
            break;
        case 'N':
            cfg.interleave_ceiling = 0;
            break;
        case 'r':
            if (owb_parse_size("--rotate", optarg, &cfg.rotate_bytes, err) ||
                cfg.rotate_bytes == 0) {
                if (!err[0])
                    snprintf(err, sizeof err, "--rotate '%s': expected a size > 0", optarg);
                goto usage_err;
            }
            break;
        case 'D':
            device = optarg;
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
    if (device && strcmp(device, "cpu") != 0)
        return owb_cli_kernels_device(device, &cfg, quick, outarg);
    if (owb_cli_check_counters("kernels", cfg.counters))
        return OWB_EXIT_USAGE;
    topo = owb_topo_new(NULL, err);
    if (!topo) {
        rc = owb_cli_fail("kernels", OWB_E_SYSTEM, err);
        goto out;
    }
    if (owb_cli_check_threads(topo, cfg.pin, cfg.threads, cfg.nthreads, err))
        goto usage_err;
    if (ceiling_path) {
        int st = owb_result_read(ceiling_path, &ceiling_doc, err);
        if (st) {
            rc = owb_cli_fail("kernels", st, err);
            goto out;
        }
        double g;
        if (owb_stream_read_ceiling(ceiling_doc, 1, &g)) {
            snprintf(err, sizeof err, "--ceiling %s: no stream/read benchmark in it", ceiling_path);
            goto usage_err;
        }
    }
    if (quick) {
        owb_measure_cfg_quick(&cfg.measure);
        cfg.measure.max_time_s = 3.0;
    }
    cfg.verbose = 1;
    owb_cli_outdir(outarg, "kernels", outdir, sizeof outdir);
    owb_cli_rank_outdir(outdir, sizeof outdir);
    rc = owb_cli_check_outdir("kernels", outdir);
    if (rc)
        goto out;
    doc = owb_cli_result_new(topo);
    if (!doc) {
        rc = owb_cli_fail("kernels", OWB_E_NOMEM, "out of memory");
        goto out;
    }
    if (!ceiling_doc) { /* the ceiling of this run: same thread counts and pinning */
        int st =
            owb_cli_measure_ceiling(topo, cfg.pin, cfg.threads, cfg.nthreads, quick, 0, doc, err);
        if (st) {
            rc = owb_cli_fail("kernels", st, err);
            goto out;
        }
    }
    int st = owb_kernels_run(&cfg, topo, ceiling_doc, doc, err);
    if (st) {
        rc = st == OWB_E_USAGE ? (fprintf(stderr, "owbench kernels: %s\n", err), OWB_EXIT_USAGE)
                               : owb_cli_fail("kernels", st, err);
        goto out;
    }
    /* the ceiling again right after the suite: the host's bandwidth drifts (ceiling.h) */
    if (!ceiling_doc &&
        (st = owb_cli_measure_ceiling(topo, cfg.pin, cfg.threads, cfg.nthreads, 1, 1, doc, err))) {
        rc = owb_cli_fail("kernels", st, err);
        goto out;
    }
    owb_ceiling_annotate(doc, ceiling_doc);
    owb_kernels_print_table(doc, stdout);
    {
        /* Under mpirun each node measured itself; rank 0 writes one document for the fleet. */
        char rerr[OWB_ERR_MAX] = "";
        int cst = owb_cli_ranks_collect(doc, topo, 1, rerr);
        if (cst) {
            rc = owb_cli_fail("kernels", cst, rerr);
            goto out;
        }
        if (owb_ranks_rank() > 0)
            goto out;
    }
    rc = owb_cli_write("kernels", doc, outdir, "kernels.json");
out:
    cJSON_Delete(doc);
    cJSON_Delete(ceiling_doc);
    owb_topo_free(topo);
    return rc;
usage_err:
    fprintf(stderr, "owbench kernels: %s\n", err);
    cJSON_Delete(ceiling_doc);
    owb_topo_free(topo);
    return OWB_EXIT_USAGE;
}
