/* SPDX-License-Identifier: MIT */
/*
 * cmd_eval.c: `owbench eval ppl|fingerprint|kld|mc|gate`, the quality evals of a model or a
 * derivative (docs/evals.md): perplexity with a block-bootstrap interval, a base model's top-k
 * fingerprint, KL divergence against it, multiple-choice accuracy, and the paired three-way gate.
 * The engine is the producer of scores here; everything else lives in evals/.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/mc.h"
#include "datasets/sha256.h"
#include "datasets/text.h"
#include "evals/fingerprint.h"
#include "evals/gate.h"
#include "evals/producer_shard.h"
#include "dist/ranks.h"
#include "evals/kld.h"
#include "evals/kld_llamacpp.h"
#include "evals/mceval.h"
#include "evals/ppl.h"
#include "evals/producer.h"
#include "model/gguf.h"
#include "owb_common.h"
#include "results/result.h"
#include "tools/cli_common.h"
#include "tools/cmds.h"
#include "tools/eval_server.h"

#define DEFAULT_CTX 512
#define DEFAULT_TOP_K 32

static void usage(FILE *f)
{
    fprintf(
        f, "usage: owbench eval <ppl|fingerprint|kld|mc|gate> [options]\n\n"
           "Quality of a model or a derivative (docs/evals.md):\n"
           "  ppl          perplexity over non-overlapping windows, second half of each scored\n"
           "               (llama.cpp's convention), 95%% CI from a block bootstrap over windows\n"
           "  fingerprint  a base model's top-k log-probs on a text (docs/fingerprint.md)\n"
           "  kld          a model scored on a fingerprint's token ids: KLD, top-1, PPL ratio\n"
           "  mc           multiple choice (HellaSwag 6-line or JSONL): acc and acc_norm\n"
           "  gate         paired baseline/candidate gate: PASS (0), FAIL (1), INCONCLUSIVE (4)\n\n"
           "owbench eval <sub> --help for the options of each.\n");
}

static void usage_ppl(FILE *f)
{
    fprintf(f,
            "usage: owbench eval ppl -m MODEL -f TEXT [--ctx N] [--chunks K] [--max-bytes N]\n"
            "                        [-t THREADS] [--reps B] [--block W] [--seed S] [--quiet]\n"
            "                        [-o DIR]\n\n"
            "Perplexity of MODEL (GGUF) on TEXT: the text is tokenized once (BOS first when the\n"
            "tokenizer adds one), cut into non-overlapping windows of N tokens (each window's\n"
            "first token replaced by BOS), and the second half of each window is scored, as\n"
            "llama.cpp's perplexity tool does. 95%% CI: moving-block bootstrap over windows.\n\n"
            "  -m, --model FILE   GGUF model\n"
            "  -f, --file TEXT    raw text file\n"
            "  --ctx N            tokens per window (default min(%d, the model's context))\n"
            "  --chunks K         at most K windows (default all)\n"
            "  --max-bytes N      use only the first N bytes of TEXT (cut at a character)\n"
            "  -t, --threads N    worker threads (default 1; scores do not depend on it)\n"
            "  --reps B           bootstrap replicates (default 2000)\n"
            "  --block W          windows per bootstrap block (default ceil(n^(1/3)))\n"
            "  --seed S           bootstrap seed (default 1)\n"
            "  --quiet            no progress line\n"
            "  -o DIR             output folder (default results/runs/<time>-eval-ppl); writes\n"
            "                     DIR/ppl.json with the per-window NLL\n",
            DEFAULT_CTX);
}

static void usage_fp(FILE *f)
{
    fprintf(f,
            "usage: owbench eval fingerprint -m BASE -f TEXT -o FILE [--ctx N] [--chunks K]\n"
            "                                [--top-k K] [--max-bytes N] [-t THREADS] [--quiet]\n\n"
            "Record BASE on TEXT (the ppl windows) into FILE: every window's token ids and, per\n"
            "scored position, the target's log-prob, the log-sum-exp, the top-k ids and\n"
            "log-probs and the residual mass; hashes of the model, tokenizer, text and settings.\n"
            "Format: docs/fingerprint.md. Also prints BASE's perplexity.\n\n"
            "  --top-k K          tokens kept per position (default %d)\n"
            "  (other options as for eval ppl)\n",
            DEFAULT_TOP_K);
}

static void usage_kld(FILE *f)
{
    fprintf(f,
            "usage: owbench eval kld --base FINGERPRINT -m MODEL [-t THREADS] [--reps B]\n"
            "                        [--block W] [--seed S] [--quiet] [-o DIR]\n"
            "       owbench eval kld --base-llamacpp LOGITS -m MODEL -f TEXT [options]\n\n"
            "Score MODEL on the fingerprint's exact token ids: KL(base||model) mean, median,\n"
            "p90, p99, max (each with a block-bootstrap 95%% CI), top-1 agreement, mean |dp|\n"
            "of the target token, ln(PPL(model)/PPL(base)) with its paired standard error.\n"
            "A MODEL whose tokenizer differs from the base's is refused (exit 2).\n"
            "Writes DIR/kld.json (default folder results/runs/<time>-eval-kld).\n\n"
            "--base-llamacpp LOGITS: the base is llama.cpp's logits file\n"
            "(llama-perplexity -f TEXT -c N --kl-divergence-base LOGITS); TEXT must be the same\n"
            "text: its tokens must equal the file's (else exit 2). KLD over the full\n"
            "vocabulary as llama-perplexity --kl-divergence computes it.\n"
            "--tokens-from-file instead of -f: score on the file's tokens without checking\n"
            "our tokenization (when the tokenizers are known to differ).\n");
}

static void usage_mc(FILE *f)
{
    fprintf(f,
            "usage: owbench eval mc --task FILE -m MODEL [--format auto|hellaswag|jsonl]\n"
            "                       [--limit N] [--seed S] [--ctx N] [-t THREADS] [--quiet]\n"
            "                       [-o DIR]\n\n"
            "Multiple choice by log-likelihood of each ending given the context. acc: largest\n"
            "sum of log-probs; acc_norm: largest sum divided by the ending's length in UTF-8\n"
            "bytes (lm-eval's acc_norm). Wilson 95%% CIs. --limit N evaluates a random subset of\n"
            "N items drawn with --seed (default 1), never the first N; item ids are stable.\n"
            "Formats: HellaSwag in llama.cpp's 6-line text form, or JSONL with one object per\n"
            "line {\"id\", \"context\", \"endings\": [...], \"label\": index} (docs/evals.md).\n"
            "Writes DIR/mc.json and DIR/mc_items.jsonl (one line per item).\n");
}

static void usage_gate(FILE *f)
{
    fprintf(f,
            "usage: owbench eval gate --baseline A --candidate B [--max-ppl-ratio R]\n"
            "                         [--max-kld X] [--max-acc-drop PP] [--alpha A] [--reps B]\n"
            "                         [--seed S] [-o DIR]\n\n"
            "Paired non-inferiority of candidate B against baseline A (each an eval result file\n"
            "or a folder holding ppl.json / kld.json / mc.json), scored on the same items:\n"
            "  ppl  ln(PPL_B/PPL_A) from per-window NLL pairs, block bootstrap; margin R\n"
            "       (default 1.01)\n"
            "  kld  B's mean KLD against the base fingerprint, block bootstrap; margin X nats\n"
            "       (default 0.01)\n"
            "  acc, acc_norm  accuracy drop in percentage points, Bonett-Price paired interval,\n"
            "       exact McNemar on the flipped items; margin PP (default 1.0)\n"
            "Intervals are two-sided at 1 - A (default 0.05). PASS when the upper bound is\n"
            "below the margin, FAIL when the lower bound is above it, else INCONCLUSIVE. The\n"
            "minimum detectable effect (80%% power) is printed before the verdict.\n"
            "Exit: 0 PASS, 1 FAIL, 4 INCONCLUSIVE, 2 inputs not comparable or bad usage.\n"
            "  -o DIR  also write DIR/gate.json\n");
}

/* ---- value parsing ---- */

static int parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out,
                     char err[OWB_ERR_MAX])
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        snprintf(err, OWB_ERR_MAX, "%s '%.100s': expected an integer from %lld to %lld", opt, s,
                 (long long)lo, (long long)hi);
        return OWB_E_USAGE;
    }
    *out = v;
    return OWB_OK;
}

static int parse_u64(const char *opt, const char *s, uint64_t *out, char err[OWB_ERR_MAX])
{
    int64_t v = 0;
    /* Seeds go into JSON numbers: keep them exactly representable. */
    if (parse_i64(opt, s, 0, (int64_t)1 << 53, &v, err))
        return OWB_E_USAGE;
    *out = (uint64_t)v;
    return OWB_OK;
}

static int parse_f64(const char *opt, const char *s, double lo, double hi, bool open_lo,
                     double *out, char err[OWB_ERR_MAX])
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi || (open_lo && v == lo)) {
        snprintf(err, OWB_ERR_MAX, "%s '%.100s': expected a number %s %g and at most %g", opt, s,
                 open_lo ? "above" : "from", lo, hi);
        return OWB_E_USAGE;
    }
    *out = v;
    return OWB_OK;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int usage_err(const char *sub, const char *err)
{
    fprintf(stderr, "owbench eval %s: %s\n", sub, err);
    return OWB_EXIT_USAGE;
}

/* Under mpirun every rank runs the eval (score() calls sharded, evals/producer_shard.h); only rank
 * 0 prints, writes files and holds the real figures. */
static bool worker_rank(void)
{
    return owb_ranks_rank() > 0;
}

/* ---- shared pieces of ppl / fingerprint ---- */

struct text_opts {
    const char *model, *text, *out;
    int64_t ctx, chunks, max_bytes, threads, reps, block, top_k;
    uint64_t seed;
    bool quiet;
    struct owb_eval_server srv;
};

static int parse_text_opts(const char *sub, int argc, char **argv, struct text_opts *o,
                           bool fingerprint, void (*help)(FILE *))
{
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"file", required_argument, NULL, 'f'},
                                         {"ctx", required_argument, NULL, 'c'},
                                         {"chunks", required_argument, NULL, 'k'},
                                         {"max-bytes", required_argument, NULL, 'b'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"reps", required_argument, NULL, 'r'},
                                         {"block", required_argument, NULL, 'B'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"top-k", required_argument, NULL, 'K'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         OWB_EVAL_SERVER_LONGOPTS,
                                         {NULL, 0, NULL, 0}};
    char err[OWB_ERR_MAX] = "";
    int c;
    memset(o, 0, sizeof *o);
    owb_eval_server_init(&o->srv);
    o->threads = 1;
    o->reps = 2000;
    o->seed = 1;
    o->top_k = DEFAULT_TOP_K;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:f:t:o:h", opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'm':
            o->model = optarg;
            break;
        case 'f':
            o->text = optarg;
            break;
        case 'c':
            rc = parse_i64("--ctx", optarg, 4, 1 << 20, &o->ctx, err);
            break;
        case 'k':
            rc = parse_i64("--chunks", optarg, 1, INT64_MAX, &o->chunks, err);
            break;
        case 'b':
            rc = parse_i64("--max-bytes", optarg, 1, INT64_MAX, &o->max_bytes, err);
            break;
        case 't':
            rc = parse_i64("--threads", optarg, 1, 1024, &o->threads, err);
            break;
        case 'r':
            rc = parse_i64("--reps", optarg, 1, 1000000, &o->reps, err);
            break;
        case 'B':
            rc = parse_i64("--block", optarg, 1, INT64_MAX, &o->block, err);
            break;
        case 's':
            rc = parse_u64("--seed", optarg, &o->seed, err);
            break;
        case 'K':
            if (!fingerprint) {
                help(stderr);
                return OWB_EXIT_USAGE;
            }
            rc = parse_i64("--top-k", optarg, 1, OWB_FP_MAX_TOP_K, &o->top_k, err);
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'o':
            o->out = optarg;
            break;
        case 'h':
            help(stdout);
            owb_eval_server_usage(stdout);
            return -1;
        default:
            if (!(rc = owb_eval_server_opt(c, optarg, &o->srv, err))) {
                help(stderr);
                return OWB_EXIT_USAGE;
            }
            rc = rc < 0 ? rc : 0;
        }
        if (rc)
            return usage_err(sub, err);
    }
    if (optind < argc) {
        snprintf(err, sizeof err, "unexpected argument '%.100s'", argv[optind]);
        return usage_err(sub, err);
    }
    if (owb_eval_server_check(&o->srv, o->model, "both -m MODEL and -f TEXT are required", err))
        return usage_err(sub, err);
    if (!o->text)
        return usage_err(sub, "both -m MODEL and -f TEXT are required");
    if (fingerprint && !o->out)
        return usage_err(sub, "-o FILE (the fingerprint to write) is required");
    if (worker_rank())
        o->quiet = true;
    return 0;
}

/* Open the model (window context from o or the model), read and tokenize the text. */
static int open_text(const char *sub, const struct text_opts *o, struct owb_producer **p,
                     int64_t *ctx, unsigned char text_sha[32], int32_t **ids, int64_t *n_ids)
{
    char err[OWB_ERR_MAX] = "", *text = NULL;
    size_t len = 0;
    int rc;
    *ctx = o->ctx;
    if (!*ctx) {
        /* The model's trained context decides the default window when it is below 512. */
        struct owb_gguf *g = owb_gguf_open(owb_eval_tokenizer_path(&o->srv, o->model), err);
        if (!g)
            return owb_cli_fail(sub, OWB_E_FORMAT, err);
        const struct owb_gguf_kv *kv = owb_gguf_find(g, "general.architecture");
        char key[128];
        uint32_t n_train = 0;
        *ctx = DEFAULT_CTX;
        if (kv && kv->value.type == OWB_GGUF_STRING && kv->value.v.s.len < 64) {
            snprintf(key, sizeof key, "%.*s.context_length", (int)kv->value.v.s.len,
                     kv->value.v.s.ptr);
            if (!owb_gguf_get_u32(g, key, &n_train, err) && n_train >= 4 && n_train < *ctx)
                *ctx = n_train;
        }
        owb_gguf_close(g);
    }
    if ((rc = owb_eval_producer_open(&o->srv, o->model, *ctx, (int)o->threads, o->quiet, p, err)) ||
        (rc = owb_producer_shard(p, err)))
        return owb_cli_fail(sub, rc, err);
    if ((rc = owb_text_read(o->text, (size_t)o->max_bytes, &text, &len, err)))
        return owb_cli_fail(sub, rc, err);
    owb_sha256(text, len, text_sha);
    rc = owb_producer_tokenize(*p, text, len, (*p)->info.add_bos, ids, n_ids, err);
    free(text);
    if (rc)
        return owb_cli_fail(sub, rc, err);
    if (!o->quiet)
        fprintf(stderr, "%s: %zu bytes of %s -> %lld tokens; windows of %lld\n", sub, len, o->text,
                (long long)*n_ids, (long long)*ctx);
    return 0;
}

static cJSON *text_params(const struct text_opts *o, struct owb_producer *p, int64_t ctx)
{
    cJSON *pj = cJSON_CreateObject();
    if (!pj)
        return NULL;
    cJSON_AddStringToObject(pj, "model", o->model ? o->model : p->info.name);
    owb_json_add_hex(pj, "model_sha256", p->info.has_model_sha256 ? p->info.model_sha256 : NULL);
    cJSON_AddStringToObject(pj, "text", o->text);
    cJSON_AddNumberToObject(pj, "max_bytes", (double)o->max_bytes);
    cJSON_AddNumberToObject(pj, "ctx", (double)ctx);
    cJSON_AddNumberToObject(pj, "chunks", (double)o->chunks);
    cJSON_AddNumberToObject(pj, "threads", (double)o->threads);
    owb_eval_server_params(pj, p);
    return pj;
}

static void print_ppl(const struct owb_ppl_result *r)
{
    printf("perplexity %.4f, 95%% CI [%.4f, %.4f] (moving-block bootstrap over %lld windows, "
           "block %lld, %d reps)\n",
           r->ppl, r->ppl_lo, r->ppl_hi, (long long)r->plan.n_windows, (long long)r->boot_block,
           r->boot_reps);
    printf("  mean NLL %.6f nats/token over %lld tokens (%lld per window of %lld); "
           "+/- %.4f if tokens were independent (llama.cpp's figure)\n",
           r->mean_nll, (long long)r->n_scored, (long long)(r->plan.n_ctx - r->plan.first),
           (long long)r->plan.n_ctx, r->ppl_se_iid);
}

static int eval_ppl(int argc, char **argv)
{
    struct text_opts o;
    struct owb_producer *p = NULL;
    struct owb_ppl_result r = {0};
    int32_t *ids = NULL;
    int64_t n_ids = 0, ctx = 0;
    unsigned char tsha[32];
    char err[OWB_ERR_MAX] = "", outdir[4096], name[300];
    cJSON *doc = NULL;
    int rc = parse_text_opts("ppl", argc, argv, &o, false, usage_ppl);
    if (rc)
        return rc < 0 ? OWB_EXIT_OK : rc;
    owb_cli_outdir(o.out, "eval-ppl", outdir, sizeof outdir);
    if (!worker_rank() && (rc = owb_cli_check_outdir("eval ppl", outdir)))
        return rc;
    if ((rc = open_text("eval ppl", &o, &p, &ctx, tsha, &ids, &n_ids)))
        goto out;
    struct owb_ppl_cfg cfg = {.n_ctx = ctx,
                              .max_windows = o.chunks,
                              .boot_reps = (int)o.reps,
                              .boot_block = o.block,
                              .seed = o.seed,
                              .progress = !o.quiet};
    if ((rc = owb_ppl_run(p, ids, n_ids, &cfg, &r, err))) {
        rc = owb_cli_fail("eval ppl", rc, err);
        goto out;
    }
    if (worker_rank())
        goto out;
    print_ppl(&r);
    if (!(doc = owb_cli_result_new(NULL))) {
        rc = owb_cli_fail("eval ppl", OWB_E_NOMEM, "out of memory");
        goto out;
    }
    snprintf(name, sizeof name, "ppl/%.200s", base_name(o.text));
    if (!owb_ppl_to_json(
            doc, name, &r,
            owb_window_identity_json("ppl", tsha,
                                     p->info.has_tokenizer_sha256 ? p->info.tokenizer_sha256 : NULL,
                                     &r.plan),
            text_params(&o, p, ctx))) {
        rc = owb_cli_fail("eval ppl", OWB_E_NOMEM, "out of memory");
        goto out;
    }
    rc = owb_cli_write("eval ppl", doc, outdir, "ppl.json");
out:
    cJSON_Delete(doc);
    owb_ppl_result_release(&r);
    owb_producer_free(p);
    free(ids);
    return rc;
}

static int eval_fingerprint(int argc, char **argv)
{
    struct text_opts o;
    struct owb_producer *p = NULL;
    struct owb_ppl_result r = {0};
    int32_t *ids = NULL;
    int64_t n_ids = 0, ctx = 0;
    unsigned char tsha[32];
    char err[OWB_ERR_MAX] = "";
    int rc = parse_text_opts("fingerprint", argc, argv, &o, true, usage_fp);
    if (rc)
        return rc < 0 ? OWB_EXIT_OK : rc;
    if ((rc = open_text("eval fingerprint", &o, &p, &ctx, tsha, &ids, &n_ids)))
        goto out;
    if (o.top_k > p->info.n_vocab) {
        snprintf(err, sizeof err, "--top-k %lld: at most the vocabulary size (%d)",
                 (long long)o.top_k, p->info.n_vocab);
        rc = usage_err("fingerprint", err);
        goto out;
    }
    {
        /* The fingerprint's folder may not exist yet (like -o DIR of the other commands). */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", o.out);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir && !worker_rank()) {
            *slash = '\0';
            if ((rc = owb_mkdir_p(dir, err))) {
                rc = owb_cli_fail("eval fingerprint", rc, err);
                goto out;
            }
        }
    }
    struct owb_ppl_cfg cfg = {.n_ctx = ctx,
                              .max_windows = o.chunks,
                              .top_k = (int)o.top_k,
                              .boot_reps = (int)o.reps,
                              .boot_block = o.block,
                              .seed = o.seed,
                              .progress = !o.quiet};
    if (worker_rank()) {
        /* The same score() calls as owb_fp_record, without its file. */
        if ((rc = owb_ppl_run(p, ids, n_ids, &cfg, &r, err)))
            rc = owb_cli_fail("eval fingerprint", rc, err);
        goto out;
    }
    if ((rc = owb_fp_record(p, ids, n_ids, tsha, &cfg, o.out, &r, err))) {
        rc = owb_cli_fail("eval fingerprint", rc, err);
        goto out;
    }
    print_ppl(&r);
    fprintf(stderr, "wrote %s (%lld windows, %lld positions, top-%lld)\n", o.out,
            (long long)r.plan.n_windows, (long long)r.n_scored, (long long)o.top_k);
out:
    owb_ppl_result_release(&r);
    owb_producer_free(p);
    free(ids);
    return rc;
}

static void print_est(const char *label, const struct owb_est *e, const char *fmt_unit)
{
    printf("  %-16s %12.6g  [%.6g, %.6g] %s\n", label, e->v, e->lo, e->hi, fmt_unit);
}

struct kld_opts {
    const char *lcpp, *model, *text, *out;
    int64_t threads, reps, block;
    uint64_t seed;
    bool quiet;
};

static void print_kld(const struct owb_kld_result *r)
{
    print_est("KLD mean", &r->kld_mean, "nats");
    print_est("KLD median", &r->kld_median, "nats");
    print_est("KLD p90", &r->kld_p90, "nats");
    print_est("KLD p99", &r->kld_p99, "nats");
    print_est("KLD max", &r->kld_max, "nats (bootstrap CI of a maximum: descriptive only)");
    printf("  %-16s %11.3f%%  [%.3f%%, %.3f%%]\n", "top-1 agreement", 100 * r->top1.v,
           100 * r->top1.lo, 100 * r->top1.hi);
    print_est("mean |dp|", &r->abs_dp, "of the target token");
    printf("  %-16s %12.6g  [%.6g, %.6g], paired SE %.3g; PPL %.4f vs base %.4f (ratio %.5f)\n",
           "ln PPL ratio", r->ln_ratio.v, r->ln_ratio.lo, r->ln_ratio.hi, r->ln_ratio_se, r->ppl,
           r->ppl_base, exp(r->ln_ratio.v));
}

/* `eval kld --base-llamacpp`: llama.cpp's logits file as the base (evals/kld_llamacpp.h). */
static int eval_kld_llamacpp(const struct kld_opts *o)
{
    const char *sub = "eval kld";
    char err[OWB_ERR_MAX] = "", outdir[4096], name[300], *txt = NULL;
    struct owb_lcpp_logits *f = NULL;
    struct owb_producer *p = NULL;
    struct owb_kld_result r = {0};
    int32_t *ids = NULL;
    int64_t n_ids = 0;
    size_t len = 0;
    unsigned char tsha[32];
    cJSON *doc = NULL;
    int rc;
    if (owb_ranks_size() > 1)
        return usage_err("kld", "--base-llamacpp runs in one process (not under mpirun)");
    owb_cli_outdir(o->out, "eval-kld", outdir, sizeof outdir);
    if ((rc = owb_cli_check_outdir(sub, outdir)))
        return rc;
    if ((rc = owb_lcpp_open(o->lcpp, &f, err))) {
        rc = owb_cli_fail(sub, rc, err);
        goto out;
    }
    struct owb_engine_opts eo = {.n_ctx = f->n_ctx, .threads = (int)o->threads, .hash_model = true};
    if ((rc = owb_producer_engine_new(o->model, &eo, &p, err)) ||
        (o->text && (rc = owb_text_read(o->text, 0, &txt, &len, err)))) {
        rc = owb_cli_fail(sub, rc, err);
        goto out;
    }
    if (o->text) {
        owb_sha256(txt, len, tsha);
        if ((rc = owb_producer_tokenize(p, txt, len, p->info.add_bos, &ids, &n_ids, err)) ||
            (rc = owb_lcpp_check_tokens(f, ids, n_ids, err))) {
            rc = owb_cli_fail(sub, rc, err);
            goto out;
        }
    } else {
        /* --tokens-from-file: the identity hashes the file's tokens instead of a text. */
        n_ids = (int64_t)f->n_chunk * f->n_ctx;
        owb_sha256(f->tokens, (size_t)n_ids * sizeof *f->tokens, tsha);
    }
    if (!o->quiet)
        fprintf(stderr, "eval kld: %s: %d windows of %d tokens, vocabulary %d; %s\n", o->lcpp,
                f->n_chunk, f->n_ctx, f->n_vocab,
                o->text ? "its tokens equal ours"
                        : "scored on its tokens (--tokens-from-file: tokenization NOT checked)");
    struct owb_kld_cfg cfg = {
        .boot_reps = (int)o->reps, .boot_block = o->block, .seed = o->seed, .progress = !o->quiet};
    if ((rc = owb_kld_run_llamacpp(p, f, &cfg, &r, err))) {
        rc = owb_cli_fail(sub, rc, err);
        goto out;
    }
    printf("%s vs llama.cpp logits %s: %lld positions in %lld windows of %lld\n", o->model, o->lcpp,
           (long long)r.n, (long long)r.plan.n_windows, (long long)r.plan.n_ctx);
    print_kld(&r);
    if (!(doc = owb_cli_result_new(NULL))) {
        rc = owb_cli_fail(sub, OWB_E_NOMEM, "out of memory");
        goto out;
    }
    r.plan.n_tokens = n_ids;
    cJSON *id = owb_window_identity_json(
        "kld", tsha, p->info.has_tokenizer_sha256 ? p->info.tokenizer_sha256 : NULL, &r.plan);
    cJSON *pj = cJSON_CreateObject();
    cJSON_AddStringToObject(pj, "base_llamacpp_logits", o->lcpp);
    if (o->text)
        cJSON_AddStringToObject(pj, "text", o->text);
    else
        cJSON_AddStringToObject(pj, "text", "(the logits file's tokens; --tokens-from-file)");
    cJSON_AddStringToObject(pj, "model", o->model);
    owb_json_add_hex(pj, "model_sha256", p->info.has_model_sha256 ? p->info.model_sha256 : NULL);
    cJSON_AddNumberToObject(pj, "threads", (double)o->threads);
    cJSON_AddStringToObject(pj, "producer", "engine");
    cJSON_AddStringToObject(pj, "kld_definition",
                            "full vocabulary, base log-probs above -16 (llama.cpp's "
                            "--kl-divergence), base from its uint16 logits file");
    snprintf(name, sizeof name, "kld/%.200s", base_name(o->model));
    cJSON *e = owb_kld_to_json(doc, name, &r, id, pj);
    if (!e) {
        rc = owb_cli_fail(sub, OWB_E_NOMEM, "out of memory");
        goto out;
    }
    cJSON *sm = cJSON_GetObjectItemCaseSensitive(e, "summary");
    if (sm)
        cJSON_ReplaceItemInObjectCaseSensitive(
            sm, "kld_definition",
            cJSON_CreateString("KL(base||model) over the full vocabulary, base tokens with "
                               "log-prob > -16, base log-probs from llama.cpp's uint16 logits "
                               "file (llama-perplexity --kl-divergence)"));
    rc = owb_cli_write(sub, doc, outdir, "kld.json");
out:
    cJSON_Delete(doc);
    owb_kld_result_release(&r);
    owb_producer_free(p);
    owb_lcpp_close(f);
    free(ids);
    free(txt);
    return rc;
}

static int eval_kld(int argc, char **argv)
{
    static const struct option opts[] = {{"base", required_argument, NULL, 'b'},
                                         {"model", required_argument, NULL, 'm'},
                                         {"base-llamacpp", required_argument, NULL, 'L'},
                                         {"file", required_argument, NULL, 'f'},
                                         {"tokens-from-file", no_argument, NULL, 'T'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"reps", required_argument, NULL, 'r'},
                                         {"block", required_argument, NULL, 'B'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         OWB_EVAL_SERVER_LONGOPTS,
                                         {NULL, 0, NULL, 0}};
    const char *base = NULL, *model = NULL, *out = NULL, *lcpp = NULL, *text = NULL;
    struct owb_eval_server srv;
    int64_t threads = 1, reps = 1000, block = 0;
    uint64_t seed = 1;
    bool quiet = false, file_tokens = false;
    char err[OWB_ERR_MAX] = "", outdir[4096], name[300];
    struct owb_fingerprint *fp = NULL;
    struct owb_producer *p = NULL;
    struct owb_kld_result r = {0};
    cJSON *doc = NULL;
    int c, rc = 0;
    owb_eval_server_init(&srv);
    optind = 1;
    while ((c = getopt_long(argc, argv, "b:m:f:t:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            base = optarg;
            break;
        case 'L':
            lcpp = optarg;
            break;
        case 'f':
            text = optarg;
            break;
        case 'T':
            file_tokens = true;
            break;
        case 'm':
            model = optarg;
            break;
        case 't':
            rc = parse_i64("--threads", optarg, 1, 1024, &threads, err);
            break;
        case 'r':
            rc = parse_i64("--reps", optarg, 1, 1000000, &reps, err);
            break;
        case 'B':
            rc = parse_i64("--block", optarg, 1, INT64_MAX, &block, err);
            break;
        case 's':
            rc = parse_u64("--seed", optarg, &seed, err);
            break;
        case 'q':
            quiet = true;
            break;
        case 'o':
            out = optarg;
            break;
        case 'h':
            usage_kld(stdout);
            owb_eval_server_usage(stdout);
            return OWB_EXIT_OK;
        default:
            if (!(rc = owb_eval_server_opt(c, optarg, &srv, err))) {
                usage_kld(stderr);
                return OWB_EXIT_USAGE;
            }
            rc = rc < 0 ? rc : 0;
        }
        if (rc)
            return usage_err("kld", err);
    }
    if (optind < argc) {
        snprintf(err, sizeof err, "unexpected argument '%.100s'", argv[optind]);
        return usage_err("kld", err);
    }
    if (lcpp) {
        if (base || srv.url)
            return usage_err("kld", "--base-llamacpp excludes --base and --url");
        if (!model || !text == !file_tokens)
            return usage_err("kld", "--base-llamacpp needs -m MODEL and either -f TEXT (the text "
                                    "llama-perplexity read) or --tokens-from-file");
        struct kld_opts ko = {lcpp, model, text, out, threads, reps, block, seed, quiet};
        return eval_kld_llamacpp(&ko);
    }
    if (text || file_tokens)
        return usage_err("kld", "-f TEXT and --tokens-from-file go with --base-llamacpp (a "
                                "fingerprint holds its ids)");
    if (owb_eval_server_check(&srv, model, "both --base FINGERPRINT and -m MODEL are required",
                              err))
        return usage_err("kld", err);
    if (!base)
        return usage_err("kld", "both --base FINGERPRINT and -m MODEL are required");
    owb_cli_outdir(out, "eval-kld", outdir, sizeof outdir);
    if (worker_rank())
        quiet = true;
    else if ((rc = owb_cli_check_outdir("eval kld", outdir)))
        return rc;
    if ((rc = owb_fp_read(base, &fp, err))) {
        rc = owb_cli_fail("eval kld", rc, err);
        goto out;
    }
    /* Refuse a different tokenizer before loading any weights. */
    unsigned char tsha[32];
    if ((rc = owb_tokenizer_sha256_file(owb_eval_tokenizer_path(&srv, model), tsha, err))) {
        rc = owb_cli_fail("eval kld", rc, err);
        goto out;
    }
    struct owb_producer_info probe = {0};
    snprintf(probe.name, sizeof probe.name, "%s", owb_eval_tokenizer_path(&srv, model));
    probe.has_tokenizer_sha256 = true;
    memcpy(probe.tokenizer_sha256, tsha, 32);
    probe.n_vocab = (int32_t)fp->h.n_vocab; /* vocabulary is checked after loading */
    if ((rc = owb_kld_check_compatible(fp, &probe, err))) {
        rc = owb_cli_fail("eval kld", rc, err);
        goto out;
    }
    if ((rc = owb_eval_producer_open(&srv, model, fp->h.n_ctx, (int)threads, quiet, &p, err)) ||
        (rc = owb_producer_shard(&p, err))) {
        rc = owb_cli_fail("eval kld", rc, err);
        goto out;
    }
    struct owb_kld_cfg cfg = {
        .boot_reps = (int)reps, .boot_block = block, .seed = seed, .progress = !quiet};
    if ((rc = owb_kld_run(p, fp, &cfg, &r, err))) {
        rc = owb_cli_fail("eval kld", rc, err);
        goto out;
    }
    if (worker_rank())
        goto out;
    printf("%s vs base fingerprint %s: %lld positions in %lld windows of %lld\n", p->info.name,
           base, (long long)r.n, (long long)r.plan.n_windows, (long long)r.plan.n_ctx);
    print_est("KLD mean", &r.kld_mean, "nats");
    print_est("KLD median", &r.kld_median, "nats");
    print_est("KLD p90", &r.kld_p90, "nats");
    print_est("KLD p99", &r.kld_p99, "nats");
    print_est("KLD max", &r.kld_max, "nats (bootstrap CI of a maximum: descriptive only)");
    printf("  %-16s %11.3f%%  [%.3f%%, %.3f%%]\n", "top-1 agreement", 100 * r.top1.v,
           100 * r.top1.lo, 100 * r.top1.hi);
    print_est("mean |dp|", &r.abs_dp, "of the target token");
    printf("  %-16s %12.6g  [%.6g, %.6g], paired SE %.3g; PPL %.4f vs base %.4f (ratio %.5f)\n",
           "ln PPL ratio", r.ln_ratio.v, r.ln_ratio.lo, r.ln_ratio.hi, r.ln_ratio_se, r.ppl,
           r.ppl_base, exp(r.ln_ratio.v));
    if (!(doc = owb_cli_result_new(NULL))) {
        rc = owb_cli_fail("eval kld", OWB_E_NOMEM, "out of memory");
        goto out;
    }
    cJSON *id = owb_window_identity_json(
        "kld", fp->h.text_sha256,
        (fp->h.flags & OWB_FP_HAS_TOKENIZER_SHA) ? fp->h.tokenizer_sha256 : NULL, &r.plan);
    owb_json_add_hex(id, "fingerprint_payload_sha256", fp->h.payload_sha256);
    cJSON *pj = cJSON_CreateObject();
    cJSON_AddStringToObject(pj, "base_fingerprint", base);
    owb_json_add_hex(pj, "base_model_sha256",
                     (fp->h.flags & OWB_FP_HAS_MODEL_SHA) ? fp->h.model_sha256 : NULL);
    cJSON_AddNumberToObject(pj, "top_k", fp->h.top_k);
    cJSON_AddStringToObject(pj, "model", model ? model : p->info.name);
    owb_json_add_hex(pj, "model_sha256", p->info.has_model_sha256 ? p->info.model_sha256 : NULL);
    cJSON_AddNumberToObject(pj, "threads", (double)threads);
    owb_eval_server_params(pj, p);
    snprintf(name, sizeof name, "kld/%.200s", base_name(model ? model : "server"));
    if (!owb_kld_to_json(doc, name, &r, id, pj)) {
        rc = owb_cli_fail("eval kld", OWB_E_NOMEM, "out of memory");
        goto out;
    }
    rc = owb_cli_write("eval kld", doc, outdir, "kld.json");
out:
    cJSON_Delete(doc);
    owb_kld_result_release(&r);
    owb_producer_free(p);
    owb_fp_free(fp);
    return rc;
}

static int eval_mc(int argc, char **argv)
{
    static const struct option opts[] = {{"task", required_argument, NULL, 'T'},
                                         {"format", required_argument, NULL, 'F'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"model", required_argument, NULL, 'm'},
                                         {"ctx", required_argument, NULL, 'c'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         OWB_EVAL_SERVER_LONGOPTS,
                                         {NULL, 0, NULL, 0}};
    const char *task = NULL, *model = NULL, *out = NULL;
    struct owb_eval_server srv;
    enum owb_mc_format fmt = OWB_MC_AUTO;
    int64_t limit = 0, ctx = 0, threads = 1;
    uint64_t seed = 1;
    bool quiet = false;
    char err[OWB_ERR_MAX] = "", outdir[4096], name[300], items[4200];
    struct owb_mc_task t = {0};
    struct owb_producer *p = NULL;
    struct owb_mc_result r = {0};
    cJSON *doc = NULL;
    int c, rc = 0;
    owb_eval_server_init(&srv);
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:t:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'T':
            task = optarg;
            break;
        case 'F':
            if (owb_mc_format_parse(optarg, &fmt)) {
                snprintf(err, sizeof err, "--format '%.100s': expected auto, hellaswag or jsonl",
                         optarg);
                rc = OWB_E_USAGE;
            }
            break;
        case 'l':
            rc = parse_i64("--limit", optarg, 1, INT64_MAX, &limit, err);
            break;
        case 's':
            rc = parse_u64("--seed", optarg, &seed, err);
            break;
        case 'm':
            model = optarg;
            break;
        case 'c':
            rc = parse_i64("--ctx", optarg, 4, 1 << 20, &ctx, err);
            break;
        case 't':
            rc = parse_i64("--threads", optarg, 1, 1024, &threads, err);
            break;
        case 'q':
            quiet = true;
            break;
        case 'o':
            out = optarg;
            break;
        case 'h':
            usage_mc(stdout);
            owb_eval_server_usage(stdout);
            return OWB_EXIT_OK;
        default:
            if (!(rc = owb_eval_server_opt(c, optarg, &srv, err))) {
                usage_mc(stderr);
                return OWB_EXIT_USAGE;
            }
            rc = rc < 0 ? rc : 0;
        }
        if (rc)
            return usage_err("mc", err);
    }
    if (optind < argc) {
        snprintf(err, sizeof err, "unexpected argument '%.100s'", argv[optind]);
        return usage_err("mc", err);
    }
    if (owb_eval_server_check(&srv, model, "both --task FILE and -m MODEL are required", err))
        return usage_err("mc", err);
    if (!task)
        return usage_err("mc", "both --task FILE and -m MODEL are required");
    owb_cli_outdir(out, "eval-mc", outdir, sizeof outdir);
    if (worker_rank())
        quiet = true;
    else if ((rc = owb_cli_check_outdir("eval mc", outdir)))
        return rc;
    if ((rc = owb_mc_load(&t, task, fmt, err))) {
        rc = owb_cli_fail("eval mc", rc, err);
        goto out;
    }
    if ((rc = owb_eval_producer_open(&srv, model, ctx, (int)threads, quiet, &p, err)) ||
        (rc = owb_producer_shard(&p, err))) {
        rc = owb_cli_fail("eval mc", rc, err);
        goto out;
    }
    if (!quiet)
        fprintf(stderr, "mc: %zu items in %s (%s)%s\n", t.n, task, owb_mc_format_name(t.format),
                limit && (size_t)limit < t.n ? "; evaluating a seeded random subset" : "");
    struct owb_mc_cfg cfg = {.limit = (size_t)limit, .seed = seed, .progress = !quiet};
    if ((rc = owb_mc_run(p, &t, &cfg, &r, err))) {
        rc = owb_cli_fail("eval mc", rc, err);
        goto out;
    }
    if (worker_rank())
        goto out;
    printf("%s on %s: %zu items%s\n", p->info.name, task, r.n,
           limit && (size_t)limit < t.n ? " (seeded random subset)" : "");
    printf("  acc       %.4f  95%% CI [%.4f, %.4f]  (%lld correct)\n", r.acc, r.acc_lo, r.acc_hi,
           (long long)r.correct);
    printf("  acc_norm  %.4f  95%% CI [%.4f, %.4f]  (%lld correct; log-likelihood / ending "
           "bytes)\n",
           r.acc_norm, r.acc_norm_lo, r.acc_norm_hi, (long long)r.correct_norm);
    if (r.n_truncated)
        printf("  %lld items were longer than the context and lost tokens on the left\n",
               (long long)r.n_truncated);
    snprintf(items, sizeof items, "%s/mc_items.jsonl", outdir);
    if ((rc = owb_mc_write_items(&t, &r, items, err))) {
        rc = owb_cli_fail("eval mc", rc, err);
        goto out;
    }
    fprintf(stderr, "wrote %s\n", items);
    if (!(doc = owb_cli_result_new(NULL))) {
        rc = owb_cli_fail("eval mc", OWB_E_NOMEM, "out of memory");
        goto out;
    }
    cJSON *pj = cJSON_CreateObject();
    cJSON_AddStringToObject(pj, "task", task);
    cJSON_AddStringToObject(pj, "model", model ? model : p->info.name);
    owb_json_add_hex(pj, "model_sha256", p->info.has_model_sha256 ? p->info.model_sha256 : NULL);
    cJSON_AddNumberToObject(pj, "ctx", (double)p->info.n_ctx);
    cJSON_AddNumberToObject(pj, "threads", (double)threads);
    owb_eval_server_params(pj, p);
    snprintf(name, sizeof name, "mc/%.200s", base_name(task));
    if (!owb_mc_to_json(doc, name, &t, &r, "mc_items.jsonl", pj)) {
        rc = owb_cli_fail("eval mc", OWB_E_NOMEM, "out of memory");
        goto out;
    }
    rc = owb_cli_write("eval mc", doc, outdir, "mc.json");
out:
    cJSON_Delete(doc);
    owb_mc_result_release(&r);
    owb_producer_free(p);
    owb_mc_release(&t);
    return rc;
}

static void print_check_mde(const struct owb_gate_check *c)
{
    switch (c->kind) {
    case OWB_GATE_PPL:
        printf("  ppl       n = %lld windows (%lld tokens): MDE %.3g in ln(PPL ratio) "
               "(ratio %.5f); margin %.5f\n",
               (long long)c->n, (long long)c->n_tokens, c->mde, exp(c->mde), exp(c->margin));
        break;
    case OWB_GATE_KLD:
        printf("  kld       n = %lld windows (%lld tokens): MDE %.3g nats above a margin of "
               "%.3g\n",
               (long long)c->n, (long long)c->n_tokens, c->mde, c->margin);
        break;
    default:
        printf("  %-9s n = %lld items: MDE %.2f pp at the observed flip rate, %.2f pp if "
               "errors were independent; margin %.2f pp\n",
               c->name, (long long)c->n, 100 * c->mde, 100 * c->mde_indep, 100 * c->margin);
        break;
    }
}

static void print_check(const struct owb_gate_check *c, double alpha)
{
    int lvl = (int)lround(100 * (1 - alpha));
    switch (c->kind) {
    case OWB_GATE_PPL:
        printf("  ppl       PPL ratio %.5f, %d%% CI [%.5f, %.5f], margin %.5f: %s\n",
               exp(c->effect), lvl, exp(c->lo), exp(c->hi), exp(c->margin),
               owb_gate_verdict_name(c->verdict));
        break;
    case OWB_GATE_KLD:
        printf("  kld       mean %.4g nats, %d%% CI [%.4g, %.4g], margin %.4g: %s\n", c->effect,
               lvl, c->lo, c->hi, c->margin, owb_gate_verdict_name(c->verdict));
        break;
    default:
        printf("  %-9s drop %+.2f pp, %d%% CI [%+.2f, %+.2f] pp, margin %.2f pp; flips %lld "
               "worse / %lld better, McNemar exact p = %.3g: %s\n",
               c->name, 100 * c->effect, lvl, 100 * c->lo, 100 * c->hi, 100 * c->margin,
               (long long)c->flips_worse, (long long)c->flips_better, c->p_value,
               owb_gate_verdict_name(c->verdict));
        break;
    }
    printf("            (%s)\n", c->why);
}

static int eval_gate(int argc, char **argv)
{
    static const struct option opts[] = {{"baseline", required_argument, NULL, 'a'},
                                         {"candidate", required_argument, NULL, 'b'},
                                         {"max-ppl-ratio", required_argument, NULL, 'R'},
                                         {"max-kld", required_argument, NULL, 'K'},
                                         {"max-acc-drop", required_argument, NULL, 'P'},
                                         {"alpha", required_argument, NULL, 'A'},
                                         {"reps", required_argument, NULL, 'r'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"min-windows", required_argument, NULL, 'W'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *pa = NULL, *pb = NULL, *out = NULL;
    struct owb_gate_cfg cfg;
    struct owb_gate_side A = {0}, B = {0};
    struct owb_gate g = {0};
    char err[OWB_ERR_MAX] = "";
    double pp = 0;
    int64_t v = 0;
    cJSON *doc = NULL;
    int c, rc = 0;
    owb_gate_cfg_default(&cfg);
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            pa = optarg;
            break;
        case 'b':
            pb = optarg;
            break;
        case 'R':
            rc = parse_f64("--max-ppl-ratio", optarg, 1.0, 1e6, true, &cfg.max_ppl_ratio, err);
            break;
        case 'K':
            rc = parse_f64("--max-kld", optarg, 0.0, 1e6, true, &cfg.max_kld, err);
            break;
        case 'P':
            rc = parse_f64("--max-acc-drop", optarg, 0.0, 100.0, true, &pp, err);
            cfg.max_acc_drop = pp / 100.0;
            break;
        case 'A':
            rc = parse_f64("--alpha", optarg, 0.0, 0.5, true, &cfg.alpha, err);
            break;
        case 'r':
            rc = parse_i64("--reps", optarg, 100, 1000000, &v, err);
            cfg.boot_reps = (int)v;
            break;
        case 's':
            rc = parse_u64("--seed", optarg, &cfg.seed, err);
            break;
        case 'W':
            rc = parse_i64("--min-windows", optarg, 2, 1000000, &cfg.min_windows, err);
            break;
        case 'o':
            out = optarg;
            break;
        case 'h':
            usage_gate(stdout);
            return OWB_EXIT_OK;
        default:
            usage_gate(stderr);
            return OWB_EXIT_USAGE;
        }
        if (rc)
            return usage_err("gate", err);
    }
    if (optind < argc) {
        snprintf(err, sizeof err, "unexpected argument '%.100s'", argv[optind]);
        return usage_err("gate", err);
    }
    if (!pa || !pb)
        return usage_err("gate", "both --baseline A and --candidate B are required");
    if ((rc = owb_gate_side_load(&A, pa, err)) || (rc = owb_gate_side_load(&B, pb, err))) {
        rc = owb_cli_fail("eval gate", rc, err);
        goto out;
    }
    if ((rc = owb_gate_prepare(&g, &A, &B, &cfg, err))) {
        rc = owb_cli_fail("eval gate", rc, err);
        goto out;
    }
    printf("gate: baseline %s, candidate %s; %.0f%% two-sided intervals\n", pa, pb,
           100 * (1 - cfg.alpha));
    printf("minimum detectable effect (80%% power, alpha %.3g) for these n:\n", cfg.alpha);
    for (int i = 0; i < g.n_checks; i++)
        print_check_mde(&g.checks[i]);
    fflush(stdout);
    if (owb_gate_decide(&g, &cfg)) {
        rc = owb_cli_fail("eval gate", OWB_E_NOMEM, "out of memory");
        goto out;
    }
    printf("checks:\n");
    for (int i = 0; i < g.n_checks; i++)
        print_check(&g.checks[i], cfg.alpha);
    for (int i = 0; i < g.n_notes; i++)
        printf("note: %s\n", g.notes[i]);
    printf("verdict: %s\n", owb_gate_verdict_name(g.verdict));
    rc = owb_gate_verdict_exit(g.verdict);
    if (out) {
        char dir[4096];
        owb_cli_outdir(out, "eval-gate", dir, sizeof dir);
        int wrc = owb_cli_check_outdir("eval gate", dir);
        if (!wrc && !(doc = owb_cli_result_new(NULL)))
            wrc = owb_cli_fail("eval gate", OWB_E_NOMEM, "out of memory");
        if (!wrc) {
            owb_gate_to_json(&g, &cfg, doc);
            wrc = owb_cli_write("eval gate", doc, dir, "gate.json");
        }
        if (wrc)
            rc = wrc;
    }
out:
    cJSON_Delete(doc);
    owb_gate_release(&g);
    owb_gate_side_release(&A);
    owb_gate_side_release(&B);
    return rc;
}

int cmd_eval(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return OWB_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        usage(stdout);
        return OWB_EXIT_OK;
    }
    if (!strcmp(sub, "ppl"))
        return eval_ppl(argc - 1, argv + 1);
    if (!strcmp(sub, "fingerprint"))
        return eval_fingerprint(argc - 1, argv + 1);
    if (!strcmp(sub, "kld"))
        return eval_kld(argc - 1, argv + 1);
    if (!strcmp(sub, "mc"))
        return eval_mc(argc - 1, argv + 1);
    if (!strcmp(sub, "gate"))
        return eval_gate(argc - 1, argv + 1);
    fprintf(stderr, "owbench eval: unknown subcommand '%s'\n\n", sub);
    usage(stderr);
    return OWB_EXIT_USAGE;
}
