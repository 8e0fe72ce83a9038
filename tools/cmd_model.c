/* SPDX-License-Identifier: MIT */
/*
 * cmd_model.c: `owbench model`, prefill and decode speed of a GGUF model
 * (bench/suites/model_suite.h), from a file or from a synthetic preset written to a temporary file
 * (model/synth.h) and removed afterwards, with the read-bandwidth ceiling measured in the same run
 * (stream suite) or read from --ceiling FILE, written as DIR/model.json.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/suites/model_suite.h"
#include "bench/suites/stream.h"
#include "model/gguf.h"
#include "bench/core/suite.h"
#include "bench/core/topo.h"
#include "model/quantize.h"
#include "model/synth.h"
#include "owb_common.h"
#include "results/result.h"
#include "bench/suites/ceiling.h"
#include "kernels/backend.h"
#include "dist/ranks.h"
#include "tools/cli_common.h"
#include "tools/cmds.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: owbench model (-m FILE | --synthetic PRESET [--type T] [--layers N])\n"
            "                     [-p N] [-n N] [--threads LIST] [--pin POLICY] [--reps N]\n"
            "                     [--ceiling FILE] [--counters LIST] [--quick] [--device DEV]\n"
            "                     [-o DIR]\n\n"
            "Prefill and decode speed of a model run in-process, as llama-bench's pp and tg:\n"
            "prefill times N prompt tokens as one batch, decode N single tokens from position 0.\n"
            "Reports tokens/s, the per-token decode latency and its change with the context\n"
            "position, time per operation class (matmul per weight type, attention, norm, sync,\n"
            "other), weights and KV cache bytes, decode as a share of the roofline (the read\n"
            "ceiling of this run divided by the bytes one token reads) and prefill as a share of\n"
            "the compute peak (int8 dot or f32 FMA, measured on the same threads).\n\n"
            "  -m, --model FILE    GGUF model (llama, mistral, qwen2, gpt-oss architectures)\n"
            "  --synthetic PRESET  a synthetic model of a real shape (%s),\n"
            "                      written to a temporary file in $TMPDIR (or /tmp) and removed\n"
            "  --type T            its weight type: %s (default q4_0)\n"
            "  --layers N          keep only its first N layers\n"
            "  --seed S            its weights' seed (default 1)\n"
            "  -p, --n-prompt N    prefill tokens (default 512; 0: no prefill case)\n"
            "  -n, --n-gen N       decode tokens (default 64; 0: no decode case)\n"
            "  --threads LIST      thread counts (default: every core of the policy)\n"
            "  --pin POLICY        compact|scatter|numa:K|list:0,2-3|none (default compact)\n"
            "  --reps N            timed repetitions per case (default 5)\n"
            "  --buckets N         latency-by-position buckets (default 8)\n"
            "  --ceiling FILE      a result file with stream/read/t<N> (default: measure now)\n"
            "  --counters LIST     PAPI events (default set; 'none' for rusage only)\n"
            "  --quick             fewer repetitions (3) and a quick ceiling\n"
            "  --no-interleave     do not sample the read ceiling between decode repetitions\n"
            "                      (%%ilv: each repetition against the ceiling read right\n"
            "                      before and after it; on by default on the CPU)\n"
            "  --device DEV        backend the model runs on: cpu (default) or cuda; exit 77\n"
            "                      naming the reason when it cannot run here\n"
            "  --weights MODE      where the weights live: mmap (the file's page cache, 4 KiB\n"
            "                      pages; llama.cpp's default), copy (anonymous memory with huge\n"
            "                      pages advised), auto (default: copy when the file fits in 80%%\n"
            "                      of available memory); params.weights_memory records it\n"
            "  --weights-layout L  auto (default: a copy's mxfp4 experts are repacked at load\n"
            "                      where the CPU's kernels read that faster: rep8) or rows\n"
            "                      (as in the file); params.weights_layout records it\n"
            "  -o DIR              output folder (default results/runs/<time>-model); writes\n"
            "                      DIR/model.json\n",
            owb_synth_preset_names(), owb_quantize_target_names());
}

static int parse_int(const char *opt, const char *s, long lo, long hi, int *out,
                     char err[OWB_ERR_MAX])
{
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || e == s || *e || v < lo || v > hi) {
        snprintf(err, OWB_ERR_MAX, "%s '%s': expected an integer from %ld to %ld", opt, s, lo, hi);
        return OWB_E_USAGE;
    }
    *out = (int)v;
    return 0;
}

int cmd_model(int argc, char **argv)
{
    enum {
        O_SYNTH = 1000,
        O_TYPE,
        O_LAYERS,
        O_SEED,
        O_THREADS,
        O_PIN,
        O_REPS,
        O_BUCKETS,
        O_CEILING,
        O_COUNTERS,
        O_QUICK,
        O_DEVICE,
        O_WEIGHTS,
        O_NO_ILV,
        O_WLAYOUT
    };
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"synthetic", required_argument, NULL, O_SYNTH},
                                         {"type", required_argument, NULL, O_TYPE},
                                         {"layers", required_argument, NULL, O_LAYERS},
                                         {"seed", required_argument, NULL, O_SEED},
                                         {"n-prompt", required_argument, NULL, 'p'},
                                         {"n-gen", required_argument, NULL, 'n'},
                                         {"threads", required_argument, NULL, O_THREADS},
                                         {"pin", required_argument, NULL, O_PIN},
                                         {"reps", required_argument, NULL, O_REPS},
                                         {"buckets", required_argument, NULL, O_BUCKETS},
                                         {"ceiling", required_argument, NULL, O_CEILING},
                                         {"counters", required_argument, NULL, O_COUNTERS},
                                         {"quick", no_argument, NULL, O_QUICK},
                                         {"device", required_argument, NULL, O_DEVICE},
                                         {"weights", required_argument, NULL, O_WEIGHTS},
                                         {"no-interleave", no_argument, NULL, O_NO_ILV},
                                         {"weights-layout", required_argument, NULL, O_WLAYOUT},
                                         {"output", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct owb_model_bench_cfg cfg;
    const char *model_path = NULL, *preset_name = NULL, *outarg = NULL, *ceiling_path = NULL;
    const char *type_name = "q4_0", *device = "cpu";
    int c, rc = OWB_EXIT_OK, quick = 0, layers = 0, reps_set = 0;
    uint64_t seed = 1;
    enum owb_type type = OWB_TYPE_Q4_0;
    const struct owb_synth_preset *preset = NULL;
    char err[OWB_ERR_MAX] = "", outdir[4096], tmp_path[4096] = "", name[256], source[300];
    struct owb_topo *topo = NULL;
    cJSON *doc = NULL, *ceiling_doc = NULL;

    owb_model_bench_cfg_default(&cfg);
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:p:n:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            model_path = optarg;
            break;
        case O_SYNTH:
            preset_name = optarg;
            break;
        case O_TYPE:
            type_name = optarg;
            break;
        case O_LAYERS:
            if (parse_int("--layers", optarg, 1, INT_MAX, &layers, err))
                goto usage_err;
            break;
        case O_SEED: {
            char *e;
            errno = 0;
            unsigned long long v = strtoull(optarg, &e, 10);
            if (errno || e == optarg || *e || optarg[0] == '-') {
                snprintf(err, sizeof err, "--seed '%s': expected an unsigned 64-bit integer",
                         optarg);
                goto usage_err;
            }
            seed = v;
            break;
        }
        case 'p':
            if (parse_int("-p", optarg, 0, 1 << 20, &cfg.n_prompt, err))
                goto usage_err;
            break;
        case 'n':
            if (parse_int("-n", optarg, 0, 1 << 20, &cfg.n_gen, err))
                goto usage_err;
            break;
        case O_THREADS:
            if (owb_parse_int_list("--threads", optarg, cfg.threads, OWB_MODEL_MAX_THREADS_LIST,
                                   &cfg.nthreads, err))
                goto usage_err;
            break;
        case O_PIN:
            cfg.pin = optarg;
            break;
        case O_REPS:
            if (parse_int("--reps", optarg, 1, 100000, &cfg.reps, err))
                goto usage_err;
            reps_set = 1;
            break;
        case O_BUCKETS:
            if (parse_int("--buckets", optarg, 1, OWB_MODEL_MAX_BUCKETS, &cfg.buckets, err))
                goto usage_err;
            break;
        case O_CEILING:
            ceiling_path = optarg;
            break;
        case O_COUNTERS:
            cfg.counters = optarg;
            break;
        case O_QUICK:
            quick = 1;
            break;
        case O_DEVICE:
            device = optarg;
            break;
        case O_NO_ILV:
            cfg.interleave_ceiling = 0;
            break;
        case O_WLAYOUT:
            if (strcmp(optarg, "auto") && strcmp(optarg, "rows")) {
                fprintf(stderr, "owbench model: --weights-layout %s: expected auto or rows\n",
                        optarg);
                return OWB_EXIT_USAGE;
            }
            cfg.rows_layout = !strcmp(optarg, "rows");
            break;
        case O_WEIGHTS:
            if ((cfg.weights_mem = owb_gguf_mem_parse(optarg)) < 0) {
                fprintf(stderr, "owbench model: --weights %s: expected auto, mmap or copy\n",
                        optarg);
                return OWB_EXIT_USAGE;
            }
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
    if (!model_path == !preset_name) {
        snprintf(err, sizeof err, "give exactly one of -m FILE and --synthetic PRESET");
        goto usage_err;
    }
    if (cfg.n_prompt == 0 && cfg.n_gen == 0) {
        snprintf(err, sizeof err, "-p 0 and -n 0: nothing to measure");
        goto usage_err;
    }
    if (preset_name) {
        preset = owb_synth_find(preset_name);
        if (!preset) {
            snprintf(err, sizeof err, "--synthetic '%s': unknown preset (%s)", preset_name,
                     owb_synth_preset_names());
            goto usage_err;
        }
        if (owb_type_from_name(type_name, &type) != 0 || !owb_quantize_target_ok(type)) {
            snprintf(err, sizeof err, "--type '%s': expected one of %s", type_name,
                     owb_quantize_target_names());
            goto usage_err;
        }
        if (layers > preset->n_layer) {
            snprintf(err, sizeof err, "--layers %d: preset %s has %" PRId64 " layers", layers,
                     preset->name, preset->n_layer);
            goto usage_err;
        }
    } else if (layers) {
        snprintf(err, sizeof err, "--layers %d: only with --synthetic", layers);
        goto usage_err;
    }
    if (quick && !reps_set)
        cfg.reps = 3;
    if ((rc = owb_cli_model_backend("model", device, &cfg.backend)) != OWB_EXIT_OK)
        goto out;

    if (owb_cli_check_counters("model", cfg.counters))
        return OWB_EXIT_USAGE;
    topo = owb_topo_new(NULL, err);
    if (!topo) {
        rc = owb_cli_fail("model", OWB_E_SYSTEM, err);
        goto out;
    }
    if (!cfg.nthreads) { /* default: one thread per core */
        cfg.threads[0] = owb_topo_ncores(topo) > 0 ? owb_topo_ncores(topo) : 1;
        cfg.threads[0] = cfg.threads[0] > 1024 ? 1024 : cfg.threads[0];
        cfg.nthreads = 1;
    }
    if (owb_cli_check_threads(topo, cfg.pin, cfg.threads, cfg.nthreads, err))
        goto usage_err;
    if (ceiling_path) {
        int st = owb_result_read(ceiling_path, &ceiling_doc, err);
        if (st) {
            rc = owb_cli_fail("model", st, err);
            goto out;
        }
        double gb;
        if (owb_stream_read_ceiling(ceiling_doc, INT_MAX, &gb)) { /* any thread count */
            snprintf(err, sizeof err, "--ceiling %s: no stream/read benchmark in it", ceiling_path);
            goto usage_err;
        }
    }
    if (model_path && access(model_path, R_OK) != 0) {
        fprintf(stderr, "owbench model: %s: %s\n", model_path, strerror(errno));
        rc = OWB_EXIT_RUNTIME;
        goto out;
    }
    owb_cli_outdir(outarg, "model", outdir, sizeof outdir);
    owb_cli_rank_outdir(outdir, sizeof outdir);
    rc = owb_cli_check_outdir("model", outdir);
    if (rc)
        goto out;
    doc = owb_cli_result_new(topo);
    if (!doc) {
        rc = owb_cli_fail("model", OWB_E_NOMEM, "out of memory");
        goto out;
    }

    if (preset) {
        int st = owb_model_bench_write_synthetic(preset->name, type_name, layers, seed, tmp_path,
                                                 sizeof tmp_path, name, sizeof name, err);
        if (st) {
            rc = owb_cli_fail("model", st, err);
            goto out;
        }
        snprintf(source, sizeof source, "synthetic:%s", name);
        cfg.path = tmp_path;
        cfg.name = name;
        cfg.source = source;
    } else {
        cfg.path = model_path;
    }

    /* a device backend (no host threads) is held against its copy bandwidth, measured by the
     * suite; the host's read ceilings are for the cpu */
    const bool on_device = cfg.backend && !cfg.backend->host_threads;
    if (!ceiling_doc && !on_device) { /* the ceiling of this run: same thread counts, pinning */
        int st =
            owb_cli_measure_ceiling(topo, cfg.pin, cfg.threads, cfg.nthreads, quick, 0, doc, err);
        if (st) {
            rc = owb_cli_fail("model", st, err);
            goto out;
        }
    }
    cfg.verbose = 1;
    int st = owb_model_bench_run(&cfg, topo, ceiling_doc, doc, err);
    if (st) {
        if (st == OWB_E_USAGE) {
            fprintf(stderr, "owbench model: %s\n", err);
            rc = OWB_EXIT_USAGE;
        } else {
            rc = owb_cli_fail("model", st, err);
        }
        goto out;
    }
    /* the ceiling again right after the suite: the host's bandwidth drifts (ceiling.h) */
    if (!ceiling_doc && !on_device &&
        (st = owb_cli_measure_ceiling(topo, cfg.pin, cfg.threads, cfg.nthreads, 1, 1, doc, err))) {
        rc = owb_cli_fail("model", st, err);
        goto out;
    }
    owb_ceiling_annotate(doc, ceiling_doc);
    owb_model_bench_print_table(doc, stdout);
    {
        /* Under mpirun each node measured itself; rank 0 writes one document for the fleet. */
        char rerr[OWB_ERR_MAX] = "";
        int cst = owb_cli_ranks_collect(doc, topo, 1, rerr);
        if (cst) {
            rc = owb_cli_fail("model", cst, rerr);
            goto out;
        }
        if (owb_ranks_rank() > 0)
            goto out;
    }
    rc = owb_cli_write("model", doc, outdir, "model.json");
out:
    if (tmp_path[0])
        unlink(tmp_path);
    cJSON_Delete(doc);
    cJSON_Delete(ceiling_doc);
    owb_topo_free(topo);
    return rc;
usage_err:
    fprintf(stderr, "owbench model: %s\n", err);
    cJSON_Delete(ceiling_doc);
    owb_topo_free(topo);
    return OWB_EXIT_USAGE;
}
