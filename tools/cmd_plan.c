/* SPDX-License-Identifier: MIT */
/*
 * cmd_plan.c: `owbench plan`, capacity planning (plan/plan.h) for a GGUF or a synthetic preset on
 * this machine (measured now, or an owbench result of it) or on a described one (plan/hardware/),
 * and `owbench plan --check RESULT.json...`, the plan's predictions held against measured
 * `owbench model` figures.
 */
#define _POSIX_C_SOURCE 200809L

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bench/core/pool.h"
#include "bench/core/suite.h"
#include "bench/core/topo.h"
#include "bench/suites/ceiling.h"
#include "bench/suites/kernels_suite.h"
#include "kernels/ops.h"
#include "model/gguf.h"
#include "model/shape.h"
#include "model/synth.h"
#include "owb_common.h"
#include "plan/hw.h"
#include "plan/plan.h"
#include "results/result.h"
#include "tools/cli_common.h"
#include "tools/cmds.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: owbench plan --model M [--type T] [--expert-type T] [--layers N]\n"
        "                    [--hardware measure|FILE|NAME] [--threads N] [--ctx N]\n"
        "                    [--concurrency C | --rate R] [--input-len L] [--output-len L]\n"
        "                    [--slo ttft=MS,tpot=MS] [--kv-type T] [-o DIR]\n"
        "       owbench plan --check RESULT.json... [--model M ...] [--hardware FILE]\n"
        "                    [--tolerance PCT] [-o DIR]\n\n"
        "Capacity planning from measured ceilings. Memory: weights as stored, KV cache per token\n"
        "and at the context (sliding-window layers hold only their window), activations; whether\n"
        "it fits and the largest context x concurrency that does. Rates: prefill tok/s, decode\n"
        "tok/s per stream and in aggregate against batch size (memory-bound until the ridge, then\n"
        "compute-bound; MoE reads the experts a batch is expected to touch), TTFT and TPOT at the\n"
        "load; with --rate and --slo the devices (tensor parallel on a node's interconnect) and\n"
        "machines needed. Every prediction names the ceiling and the efficiency it used. The "
        "model\n"
        "and its assumptions: docs/plan.md.\n\n"
        "  --model M          a GGUF file (metadata and tensor table only; no weights read) or a\n"
        "                     synth preset (%s)\n"
        "  --type T           preset weight type (default: the preset's)\n"
        "  --expert-type T    preset MoE expert type (default: the preset's)\n"
        "  --layers N         preset: keep the first N layers\n"
        "  --hardware H       'measure' (default): quick stream + kernels measurements of this\n"
        "                     machine now (written to DIR/hardware.json); an owbench result file\n"
        "                     (run, stream, kernels, model); a description file "
        "(owbench.hardware/1)\n"
        "                     or the name of a shipped one: h100-sxm, h200, epyc-9654-2s\n"
        "  --threads N        measured hardware: the thread count (default: all of the policy /\n"
        "                     the most in the result)\n"
        "  --ctx N            positions each sequence holds (default input + output length)\n"
        "  --concurrency C    sequences served at once (default 1)\n"
        "  --rate R           requests per second to serve: replicas, devices, machines\n"
        "  --input-len L      prompt tokens (default 512)\n"
        "  --output-len L     generated tokens (default 128)\n"
        "  --slo LIST         objectives, e.g. ttft=500,tpot=50 (milliseconds)\n"
        "  --kv-type T        KV cache type (default f32 on measured hardware: the owbench "
        "engine;\n"
        "                     f16 on described hardware)\n"
        "  --batch N          prefill chunk, tokens per forward call (default 512)\n"
        "  --check FILES      predict every model/decode and model/prefill figure of these\n"
        "                     owbench model results and print the error of each; the model comes\n"
        "                     from --model or the results' params.source, the hardware from\n"
        "                     --hardware (as a plan made before the run has it), else each file's\n"
        "  --own-ceilings     with --check and --hardware: the checked file's read ceiling and\n"
        "                     compute peaks, --hardware's efficiencies\n"
        "  --apply-cpu-share  measured hardware: divide step times by the CPU share probed at "
        "plan\n"
        "                     time (plan/cpu_share/tN; recorded, not applied by default)\n"
        "  --tolerance PCT    with --check: exit 1 when an error exceeds PCT percent\n"
        "  -o DIR             output folder (default results/runs/<time>-plan); writes\n"
        "                     DIR/plan.json (kind plan)\n",
        owb_synth_preset_names());
}

struct model_arg {
    const char *name;
    const char *type, *expert_type;
    int layers;
};

/* The shape of a GGUF path or a preset. Returns 0 or a status with err. */
static int load_shape(const struct model_arg *ma, struct owb_shape *s, char err[OWB_ERR_MAX])
{
    struct stat st;
    if (stat(ma->name, &st) == 0) {
        if (ma->type || ma->expert_type || ma->layers) {
            snprintf(err, OWB_ERR_MAX,
                     "--type, --expert-type and --layers apply to presets, not to a GGUF file (%s)",
                     ma->name);
            return OWB_E_USAGE;
        }
        struct owb_gguf *g = owb_gguf_open(ma->name, err);
        if (!g)
            return OWB_E_FORMAT;
        int rc = owb_shape_from_gguf(g, s, err);
        owb_gguf_close(g);
        return rc;
    }
    const struct owb_synth_preset *p = owb_synth_find(ma->name);
    if (!p) {
        snprintf(err, OWB_ERR_MAX, "--model %s: no such file, and not a preset (%s)", ma->name,
                 owb_synth_preset_names());
        return OWB_E_USAGE;
    }
    struct owb_synth_opts o;
    owb_synth_opts_init(&o, p);
    if (ma->type && owb_type_from_name(ma->type, &o.type)) {
        snprintf(err, OWB_ERR_MAX, "--type '%s': unknown type", ma->type);
        return OWB_E_USAGE;
    }
    if (ma->type && !ma->expert_type)
        o.expert_type = OWB_TYPE_COUNT; /* a requested type applies to the experts too */
    if (ma->expert_type && owb_type_from_name(ma->expert_type, &o.expert_type)) {
        snprintf(err, OWB_ERR_MAX, "--expert-type '%s': unknown type", ma->expert_type);
        return OWB_E_USAGE;
    }
    o.n_layer = ma->layers;
    return owb_shape_from_preset(p, &o, s, err);
}

/* The model of a checked result: params.source of its first model benchmark, a GGUF path or
 * "synthetic:<preset>-<type>[-L<layers>]". */
static int infer_model(const cJSON *doc, const char *path, struct owb_shape *s,
                       char err[OWB_ERR_MAX])
{
    const cJSON *b;
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(b, "name");
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(b, "params"), "source");
        if (!cJSON_IsString(name) || strncmp(name->valuestring, "model/", 6) != 0 ||
            !cJSON_IsString(src))
            continue;
        const char *v = src->valuestring;
        if (strncmp(v, "synthetic:", 10) != 0) {
            struct model_arg ma = {v, NULL, NULL, 0};
            return load_shape(&ma, s, err);
        }
        v += 10;
        int np = 0;
        const struct owb_synth_preset *ps = owb_synth_presets(&np), *best = NULL;
        for (int i = 0; i < np; i++) {
            size_t k = strlen(ps[i].name);
            if (strncmp(v, ps[i].name, k) == 0 && v[k] == '-' && (!best || k > strlen(best->name)))
                best = &ps[i];
        }
        if (!best)
            break;
        char type[32] = "";
        int layers = 0;
        const char *rest = v + strlen(best->name) + 1;
        const char *l = strstr(rest, "-L");
        size_t tl = l ? (size_t)(l - rest) : strlen(rest);
        snprintf(type, sizeof type, "%.*s", (int)(tl < 31 ? tl : 31), rest);
        if (l)
            layers = atoi(l + 2);
        struct model_arg ma = {best->name, type, NULL, layers};
        return load_shape(&ma, s, err);
    }
    snprintf(err, OWB_ERR_MAX,
             "%s: no model benchmark with a params.source this owbench can rebuild; give --model",
             path);
    return OWB_E_USAGE;
}

/* "ttft=500,tpot=50" */
static int parse_slo(const char *s, struct owb_plan_cfg *c, char err[OWB_ERR_MAX])
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = buf, *next; tok; tok = next) {
        next = strchr(tok, ',');
        if (next)
            *next++ = '\0';
        char *eq = strchr(tok, '='), *end = NULL;
        double v = eq ? strtod(eq + 1, &end) : 0;
        if (!eq || end == eq + 1 || *end || !(v > 0) || !isfinite(v)) {
            snprintf(err, OWB_ERR_MAX, "--slo '%s': expected ttft=MS,tpot=MS with positive numbers",
                     s);
            return OWB_E_USAGE;
        }
        *eq = '\0';
        if (strcmp(tok, "ttft") == 0)
            c->slo_ttft_ms = v;
        else if (strcmp(tok, "tpot") == 0)
            c->slo_tpot_ms = v;
        else {
            snprintf(err, OWB_ERR_MAX, "--slo '%s': unknown objective '%s' (ttft, tpot)", s, tok);
            return OWB_E_USAGE;
        }
    }
    return 0;
}

static int parse_pos(const char *opt, const char *s, double max, double *out, char err[OWB_ERR_MAX])
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0) || v > max) {
        snprintf(err, OWB_ERR_MAX, "%s '%s': expected a positive number up to %g", opt, s, max);
        return OWB_E_USAGE;
    }
    *out = v;
    return 0;
}

/* Shapes m x k for the kernels of a measurement: the FFN's two matrices of the model (the down
 * projection only where its rows hold whole blocks of every format measured). */
static void measure_shapes(const struct owb_shape *s, struct owb_kernels_cfg *kc)
{
    int64_t ff = s->n_ff > 0 ? s->n_ff : 4 * s->n_embd, blk = 1;
    for (int i = 0; i < kc->nformats; i++) {
        const struct owb_type_traits *tr = owb_type_traits(kc->formats[i]);
        blk = tr && tr->blck_size > blk ? tr->blck_size : blk;
    }
    kc->nshapes = 0;
    kc->shapes[kc->nshapes][0] = ff;
    kc->shapes[kc->nshapes++][1] = s->n_embd;
    if (ff % blk == 0) {
        kc->shapes[kc->nshapes][0] = s->n_embd;
        kc->shapes[kc->nshapes++][1] = ff;
    }
}

/* The CPU-share probe: every thread spins for PROBE_S of wall time and reads how much CPU time
 * it got (CLOCK_THREAD_CPUTIME_ID). */
#define PROBE_S 1.0
struct probe {
    double share[1024];
};

static double now_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void probe_fn(void *ctx, int tid, int nthreads)
{
    struct probe *p = ctx;
    (void)nthreads;
    const double w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
    volatile uint64_t x = 0;
    double w = w0;
    while (w - w0 < PROBE_S) {
        for (int i = 0; i < 100000; i++)
            x += (uint64_t)i;
        w = now_s(CLOCK_MONOTONIC);
    }
    p->share[tid] = (now_s(CLOCK_THREAD_CPUTIME_ID) - c0) / (w - w0);
}

/* plan/cpu_share/t<threads>: the mean share of CPU time `threads` pinned spinning threads got (1 on
 * a quiet machine; less where other processes compete for the cores). */
static int measure_cpu_share(struct owb_topo *topo, int threads, cJSON *doc, char err[OWB_ERR_MAX])
{
    int cpus[1024], n = 0;
    struct probe *p = calloc(1, sizeof *p);
    int rc = p ? owb_topo_pin_plan(topo, "compact", threads, cpus, &n, err) : OWB_E_NOMEM;
    struct owb_pool *pool = rc ? NULL : owb_pool_new(n, cpus, err);
    if (!rc && !pool)
        rc = OWB_E_SYSTEM;
    if (!rc) {
        owb_pool_run(pool, probe_fn, p);
        double sum = 0;
        for (int i = 0; i < n; i++)
            sum += p->share[i] > 1 ? 1 : p->share[i];
        char name[64];
        snprintf(name, sizeof name, "plan/cpu_share/t%d", threads);
        cJSON *b = owb_result_add_benchmark(doc, name, "plan");
        if (!b) {
            rc = OWB_E_NOMEM;
        } else {
            owb_result_param_num(b, "threads", n);
            owb_result_param_num(b, "probe_s", PROBE_S);
            owb_result_param_str(b, "how", "pinned threads spin; CPU time / wall time");
            owb_result_metric(b, "cpu_share", sum / n);
            fprintf(stderr, "plan: CPU share of %d spinning thread(s): %.2f\n", n, sum / n);
        }
    }
    owb_pool_free(pool);
    free(p);
    return rc;
}

/* Measure this machine for the model: read ceilings before and after, compute peaks, GEMV and
 * GEMM of the model's weight types at its FFN shapes, on `threads` threads; the GEMMs at the
 * prefill's chunk (n_batch, and the first chunk of an input_len prompt when shorter), and at that
 * first chunk the GEMMs of the model's other dense matrix shapes (each type its own); for a MoE
 * model its experts as the engine's prefill runs them (kernels/experts/...) at that chunk, a half
 * and a quarter of it. */
static int measure(struct owb_topo *topo, const struct owb_shape *s, int threads, int64_t chunk,
                   int64_t input_len, cJSON *doc, char err[OWB_ERR_MAX])
{
    struct owb_kernels_cfg kc;
    int rc;
    owb_kernels_cfg_default(&kc);
    owb_measure_cfg_quick(&kc.measure);
    kc.measure.max_time_s = 2.0;
    kc.counters = "none";
    kc.verbose = 1;
    kc.threads[0] = threads;
    kc.nthreads = 1;
    kc.nformats = 0;
    for (int t = 0; t < OWB_TYPE_COUNT; t++) {
        const struct owb_type_traits *tr = owb_type_traits((enum owb_type)t);
        if (!tr || (s->flop_tok[t] <= 0 && (enum owb_type)t != s->output_type) ||
            kc.nformats >= OWB_KERNELS_MAX_LIST)
            continue;
        if (s->n_embd % tr->blck_size) /* the kernels need whole blocks per row */
            continue;
        kc.formats[kc.nformats++] = (enum owb_type)t;
    }
    measure_shapes(s, &kc);
    if (chunk < 1)
        chunk = 512;
    /* the first chunk of the prompt: the batch the prefill's dense matmuls multiply */
    const int c0 = (int)(input_len > 0 && input_len < chunk ? input_len : chunk);
    kc.batches[0] = 1;
    kc.batches[1] = (int)chunk;
    kc.nbatches = 2;
    if (c0 > 1 && c0 < chunk)
        kc.batches[kc.nbatches++] = c0;
    if (s->n_expert > 0) {
        /* each chosen expert multiplies about c k / E(c) rows of a chunk of c tokens: the MoE
         * FFN as the engine runs it, at the first chunk, a half, a quarter and a sixteenth of it
         * (the expert efficiency curve of plan/hw.h; batched decode steps are the small end) */
        enum owb_type xt = s->main_type;
        for (int t = 0; t < OWB_TYPE_COUNT; t++)
            if (s->flop_expert_tok[t] > s->flop_expert_tok[xt])
                xt = (enum owb_type)t;
        const struct owb_type_traits *tr = owb_type_traits(xt);
        if (tr && s->flop_expert_tok[xt] > 0 && s->n_embd % tr->blck_size == 0 &&
            s->n_ff % tr->blck_size == 0) {
            kc.moe.type = xt;
            kc.moe.n_embd = s->n_embd;
            kc.moe.n_ff = s->n_ff;
            kc.moe.n_expert = (int)s->n_expert;
            kc.moe.n_used = (int)s->n_expert_used;
            static const int div[] = {16, 4, 2, 1}; /* 16: a decode batch, ~1-2 rows each */
            for (size_t i = 0; i < OWB_ARRAY_LEN(div); i++)
                if (c0 / div[i] >= 1 &&
                    (kc.moe.ntokens == 0 || c0 / div[i] > kc.moe.tokens[kc.moe.ntokens - 1]))
                    kc.moe.tokens[kc.moe.ntokens++] = c0 / div[i];
        }
    }
    /* one layer's attention of the prompt's first chunk, as the engine runs it */
    if (s->n_head > 0 && s->n_head_kv > 0 && s->head_dim_k == s->head_dim_v &&
        s->head_dim_k % 2 == 0 && s->head_dim_k <= OWB_ROPE_MAX_ROT)
        kc.attn = (struct owb_kernels_attn){s->n_head, s->n_head_kv, s->head_dim_k, c0};
    fprintf(stderr, "plan: measuring this machine on %d threads: read ceiling ...\n", threads);
    if ((rc = owb_cli_measure_ceiling(topo, kc.pin, kc.threads, 1, 1, 0, doc, err)))
        return rc;
    fprintf(stderr,
            "plan: compute peaks and %d weight type(s) at %lldx%lld%s, batch 1 and %d%s%s ...\n",
            kc.nformats, (long long)kc.shapes[0][0], (long long)kc.shapes[0][1],
            kc.nshapes > 1 ? " and its transpose" : "", kc.batches[1],
            kc.nbatches > 2 ? " and the prompt's first chunk" : "",
            kc.moe.n_expert > 0 ? ", the experts as the engine runs them" : "");
    if (kc.nformats > 0 && (rc = owb_kernels_run(&kc, topo, NULL, doc, err)))
        return rc;
    /* the model's other dense matrix shapes (attention projections, router), each type at its
     * own shapes, as GEMVs and at the prompt's first chunk: a decoded token reads each matrix at
     * the rate of its shape's GEMV, a batched step costs each matrix's FLOPs at the rate of its
     * shape's GEMM */
    for (int f = 0; f < kc.nformats; f++) {
        struct owb_kernels_cfg kd = kc;
        kd.moe.n_expert = 0;
        kd.attn.n_head = 0;
        kd.nformats = 1;
        kd.formats[0] = kc.formats[f];
        kd.nbatches = 2;
        kd.batches[0] = 1;
        kd.batches[1] = c0 > 1 ? c0 : (int)chunk;
        kd.nshapes = 0;
        const int64_t blk = owb_type_traits(kd.formats[0])->blck_size;
        for (int i = 0; i < s->n_mats && kd.nshapes < OWB_KERNELS_MAX_LIST; i++) {
            const struct owb_shape_mat *mt = &s->mats[i];
            bool have = mt->type != kd.formats[0] || mt->k % blk != 0;
            for (int j = 0; j < kc.nshapes && !have; j++)
                have = kc.shapes[j][0] == mt->m && kc.shapes[j][1] == mt->k;
            if (have)
                continue;
            kd.shapes[kd.nshapes][0] = mt->m;
            kd.shapes[kd.nshapes++][1] = mt->k;
        }
        if (kd.nshapes == 0)
            continue;
        fprintf(stderr, "plan: %s at the model's other %d matrix shape(s), batch 1 and %d ...\n",
                owb_type_name(kd.formats[0]), kd.nshapes, kd.batches[1]);
        if ((rc = owb_kernels_run(&kd, topo, NULL, doc, err)))
            return rc;
    }
    fprintf(stderr, "plan: read ceiling again ...\n");
    if ((rc = owb_cli_measure_ceiling(topo, kc.pin, kc.threads, 1, 1, 1, doc, err)))
        return rc;
    if ((rc = measure_cpu_share(topo, threads, doc, err)))
        return rc;
    owb_ceiling_annotate(doc, NULL);
    return 0;
}

int cmd_plan(int argc, char **argv)
{
    enum {
        O_TYPE = 256,
        O_ETYPE,
        O_LAYERS,
        O_HW,
        O_THREADS,
        O_CTX,
        O_CONC,
        O_RATE,
        O_IN,
        O_OUT,
        O_SLO,
        O_KV,
        O_BATCH,
        O_CHECK,
        O_TOL,
        O_OWN,
        O_SHARE
    };
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"type", required_argument, NULL, O_TYPE},
                                         {"expert-type", required_argument, NULL, O_ETYPE},
                                         {"layers", required_argument, NULL, O_LAYERS},
                                         {"hardware", required_argument, NULL, O_HW},
                                         {"threads", required_argument, NULL, O_THREADS},
                                         {"ctx", required_argument, NULL, O_CTX},
                                         {"concurrency", required_argument, NULL, O_CONC},
                                         {"rate", required_argument, NULL, O_RATE},
                                         {"input-len", required_argument, NULL, O_IN},
                                         {"output-len", required_argument, NULL, O_OUT},
                                         {"slo", required_argument, NULL, O_SLO},
                                         {"kv-type", required_argument, NULL, O_KV},
                                         {"batch", required_argument, NULL, O_BATCH},
                                         {"check", no_argument, NULL, O_CHECK},
                                         {"tolerance", required_argument, NULL, O_TOL},
                                         {"own-ceilings", no_argument, NULL, O_OWN},
                                         {"apply-cpu-share", no_argument, NULL, O_SHARE},
                                         {"output", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct model_arg ma = {0};
    struct owb_plan_cfg cfg;
    const char *hw_arg = "measure", *outarg = NULL, *kv_arg = NULL;
    int c, rc = OWB_EXIT_OK, check = 0, threads = 0;
    bool own_ceilings = false, apply_share = false;
    double v, tolerance = -1;
    char err[OWB_ERR_MAX] = "", outdir[4096];
    struct owb_topo *topo = NULL;
    struct owb_shape *shape = NULL;
    struct owb_hw *hw = NULL;
    cJSON *doc = NULL, *hwdoc = NULL;
    bool have_hw = false;

    owb_plan_cfg_default(&cfg);
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            ma.name = optarg;
            break;
        case O_TYPE:
            ma.type = optarg;
            break;
        case O_ETYPE:
            ma.expert_type = optarg;
            break;
        case O_LAYERS:
            if (parse_pos("--layers", optarg, 100000, &v, err))
                goto usage_err;
            ma.layers = (int)v;
            break;
        case O_HW:
            hw_arg = optarg;
            break;
        case O_THREADS:
            if (parse_pos("--threads", optarg, 1024, &v, err))
                goto usage_err;
            threads = (int)v;
            break;
        case O_CTX:
            if (parse_pos("--ctx", optarg, 1 << 30, &v, err))
                goto usage_err;
            cfg.ctx = (int64_t)v;
            break;
        case O_CONC:
            if (parse_pos("--concurrency", optarg, 1 << 20, &v, err))
                goto usage_err;
            cfg.concurrency = (int)v;
            break;
        case O_RATE:
            if (parse_pos("--rate", optarg, 1e9, &cfg.rate, err))
                goto usage_err;
            break;
        case O_IN:
            if (parse_pos("--input-len", optarg, 1 << 30, &v, err))
                goto usage_err;
            cfg.input_len = (int64_t)v;
            break;
        case O_OUT:
            if (parse_pos("--output-len", optarg, 1 << 30, &v, err))
                goto usage_err;
            cfg.output_len = (int64_t)v;
            break;
        case O_SLO:
            if (parse_slo(optarg, &cfg, err))
                goto usage_err;
            break;
        case O_KV:
            kv_arg = optarg;
            break;
        case O_BATCH:
            if (parse_pos("--batch", optarg, 1 << 20, &v, err))
                goto usage_err;
            cfg.n_batch = (int64_t)v;
            break;
        case O_CHECK:
            check = 1;
            break;
        case O_SHARE:
            apply_share = true;
            break;
        case O_OWN:
            own_ceilings = true;
            break;
        case O_TOL:
            if (parse_pos("--tolerance", optarg, 1e6, &tolerance, err))
                goto usage_err;
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
    if (kv_arg && (owb_type_from_name(kv_arg, &cfg.kv_type) || !owb_type_traits(cfg.kv_type))) {
        snprintf(err, sizeof err, "--kv-type '%s': unknown type", kv_arg);
        goto usage_err;
    }
    if (check && optind >= argc) {
        snprintf(err, sizeof err, "--check needs at least one result file");
        goto usage_err;
    }
    if (!check && optind < argc) {
        snprintf(err, sizeof err, "unexpected argument '%s'", argv[optind]);
        goto usage_err;
    }
    if (!check && !ma.name) {
        snprintf(err, sizeof err, "--model is required (a GGUF file or a preset)");
        goto usage_err;
    }
    if (cfg.rate > 0 && cfg.concurrency > 0) {
        snprintf(err, sizeof err, "--concurrency and --rate exclude each other");
        goto usage_err;
    }
    if ((tolerance >= 0 || own_ceilings) && !check) {
        snprintf(err, sizeof err, "--tolerance and --own-ceilings apply to --check");
        goto usage_err;
    }
    shape = calloc(1, sizeof *shape);
    hw = calloc(1, sizeof *hw);
    if (!shape || !hw) {
        rc = owb_cli_fail("plan", OWB_E_NOMEM, "out of memory");
        goto out;
    }
    if (ma.name) {
        int st = load_shape(&ma, shape, err);
        if (st) {
            rc = st == OWB_E_USAGE ? (fprintf(stderr, "owbench plan: %s\n", err), OWB_EXIT_USAGE)
                                   : owb_cli_fail("plan", st, err);
            goto out;
        }
    }
    topo = owb_topo_new(NULL, err);
    if (!topo) {
        rc = owb_cli_fail("plan", OWB_E_SYSTEM, err);
        goto out;
    }
    owb_cli_outdir(outarg, "plan", outdir, sizeof outdir);
    if ((rc = owb_cli_check_outdir("plan", outdir)))
        goto out;
    doc = owb_cli_result_new(topo);
    if (!doc) {
        rc = owb_cli_fail("plan", OWB_E_NOMEM, "out of memory");
        goto out;
    }

    /* hardware */
    if (strcmp(hw_arg, "measure") == 0 && !check) {
        if (threads <= 0) /* the model suite's default: every core */
            threads = owb_topo_ncores(topo) > 0 ? owb_topo_ncores(topo) : 1;
        if (owb_cli_check_threads(topo, "compact", &threads, 1, err))
            goto usage_err;
        hwdoc = owb_cli_result_new(topo);
        if (!hwdoc) {
            rc = owb_cli_fail("plan", OWB_E_NOMEM, "out of memory");
            goto out;
        }
        int st = measure(topo, shape, threads, cfg.n_batch, cfg.input_len, hwdoc, err);
        if (st) {
            rc = owb_cli_fail("plan", st, err);
            goto out;
        }
        if ((rc = owb_cli_write("plan", hwdoc, outdir, "hardware.json")))
            goto out;
        char hp[4200];
        snprintf(hp, sizeof hp, "%s/hardware.json", outdir);
        if ((st = owb_hw_from_result(hwdoc, hp, threads, hw, err))) {
            rc = owb_cli_fail("plan", st, err);
            goto out;
        }
        have_hw = true;
    } else if (strcmp(hw_arg, "measure") != 0) {
        int st = owb_hw_load(hw_arg, OWB_PLAN_HW_DIR, threads, hw, err);
        if (st) {
            rc = owb_cli_fail("plan", st, err);
            goto out;
        }
        have_hw = true;
    }
    hw->apply_cpu_share = apply_share;
    if (!kv_arg)
        cfg.kv_type = !have_hw || hw->measured ? OWB_TYPE_F32 : OWB_TYPE_F16;

    if (check) {
        cJSON *plan = cJSON_CreateObject();
        cJSON *checks = plan ? cJSON_AddArrayToObject(plan, "checks") : NULL;
        if (!checks) {
            cJSON_Delete(plan);
            rc = owb_cli_fail("plan", OWB_E_NOMEM, "out of memory");
            goto out;
        }
        cJSON_AddStringToObject(doc, "kind", "plan");
        cJSON_AddItemToObject(doc, "plan", plan);
        cJSON_AddStringToObject(plan, "kv_type", owb_type_name(cfg.kv_type));
        for (int i = optind; i < argc; i++) {
            cJSON *m = NULL;
            struct owb_shape *cs = shape;
            struct owb_shape inferred;
            int st = owb_result_read(argv[i], &m, err);
            if (!st && !ma.name) {
                st = infer_model(m, argv[i], &inferred, err);
                cs = &inferred;
            }
            if (!st)
                st = owb_plan_check(cs, have_hw ? hw : NULL, own_ceilings, cfg.kv_type, m, argv[i],
                                    checks, err);
            cJSON_Delete(m);
            if (st < 0) {
                rc = st == OWB_E_USAGE
                         ? (fprintf(stderr, "owbench plan: %s\n", err), OWB_EXIT_USAGE)
                         : owb_cli_fail("plan", st, err);
                goto out;
            }
            if (st == 0)
                fprintf(stderr, "owbench plan: %s: no model/decode or model/prefill figures\n",
                        argv[i]);
        }
        double worst = owb_plan_print_checks(checks, stdout);
        cJSON_AddNumberToObject(plan, "max_abs_error_pct", worst);
        if ((rc = owb_cli_write("plan", doc, outdir, "plan.json")))
            goto out;
        if (tolerance >= 0 && worst > tolerance) {
            fprintf(stderr, "owbench plan: an error of %.1f%% exceeds --tolerance %g%%\n", worst,
                    tolerance);
            rc = OWB_EXIT_REGRESSION;
        }
        goto out;
    }

    int st = owb_plan_build(shape, hw, &cfg, doc, err);
    if (st) {
        rc = st == OWB_E_USAGE ? (fprintf(stderr, "owbench plan: %s\n", err), OWB_EXIT_USAGE)
                               : owb_cli_fail("plan", st, err);
        goto out;
    }
    owb_plan_print(doc, stdout);
    rc = owb_cli_write("plan", doc, outdir, "plan.json");
out:
    cJSON_Delete(doc);
    cJSON_Delete(hwdoc);
    owb_topo_free(topo);
    free(shape);
    free(hw);
    return rc;
usage_err:
    fprintf(stderr, "owbench plan: %s\n", err);
    cJSON_Delete(doc);
    cJSON_Delete(hwdoc);
    owb_topo_free(topo);
    free(shape);
    free(hw);
    return OWB_EXIT_USAGE;
}
