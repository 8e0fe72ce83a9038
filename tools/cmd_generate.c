/* SPDX-License-Identifier: MIT */
/*
 * cmd_generate.c: `owbench generate`, text generation from a GGUF model for sanity and exactness
 * checks: the prompt is tokenized (BOS added as the vocabulary says), run as one batched prefill,
 * then tokens are sampled one at a time (greedy at --temp 0, else softmax at temperature T with a
 * seeded xorshift generator) and their text streamed to stdout, nothing else; model facts,
 * warnings and timings go to stderr. Generation stops after N tokens, at EOS or BOS, or at the end
 * of the context. Threads come from bench/pool (unpinned).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/core/pool.h"
#include "model/arch.h"
#include "model/gguf.h"
#include "model/tokenizer.h"
#include "owb_common.h"
#include "tools/cli_common.h"
#include "tools/cmds.h"

#define MAX_THREADS 1024

static void usage(FILE *f)
{
    fprintf(f,
            "usage: owbench generate -m FILE [-p PROMPT] -n N [--ctx N] [--temp T] [--seed S]\n"
            "                        [--threads N] [--device DEV]\n\n"
            "Generate text with a GGUF model (llama, mistral, qwen2, gpt-oss). Only the\n"
            "generated text is written to stdout; model facts and timings go to stderr.\n\n"
            "  -m, --model FILE   GGUF model\n"
            "  -p, --prompt TEXT  prompt (default: empty, generation starts from BOS)\n"
            "  -n, --n-predict N  tokens to generate (stops early at EOS/BOS or a full context)\n"
            "  --ctx N            context length (default: the model's context_length; larger\n"
            "                     values are allowed, with a warning)\n"
            "  --temp T           sampling temperature, 0 = greedy (default 0)\n"
            "  --seed S           seed of the sampler (default: from the clock, printed)\n"
            "  --threads N        worker threads (default 1)\n"
            "  --device DEV       backend: cpu (default) or cuda (exit 77 naming the reason when\n"
            "                     it cannot run here)\n");
}

static int parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *e;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (errno || e == s || *e || v < lo || v > hi) {
        fprintf(stderr,
                "owbench generate: %s '%s' is not an integer in [%" PRId64 ", %" PRId64 "]\n", opt,
                s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* xorshift64*: small, seedable, the same sequence everywhere. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

static int32_t sample(const float *logits, float *probs, int64_t n, float temp, uint64_t *rng)
{
    int32_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (logits[i] > logits[best])
            best = (int32_t)i;
    if (temp <= 0.0f)
        return best;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        probs[i] = expf((logits[i] - logits[best]) / temp);
        sum += (double)probs[i];
    }
    double r = (double)(rng_next(rng) >> 11) * 0x1.0p-53 * sum, acc = 0.0;
    for (int64_t i = 0; i < n; i++) {
        acc += (double)probs[i];
        if (r < acc)
            return (int32_t)i;
    }
    return best;
}

static void pool_run(void *pool, owb_par_fn fn, void *ctx)
{
    owb_pool_run(pool, fn, ctx);
}

int cmd_generate(int argc, char **argv)
{
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"prompt", required_argument, NULL, 'p'},
                                         {"n-predict", required_argument, NULL, 'n'},
                                         {"ctx", required_argument, NULL, 'c'},
                                         {"temp", required_argument, NULL, 't'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"threads", required_argument, NULL, 'T'},
                                         {"device", required_argument, NULL, 'D'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *model_path = NULL, *prompt = "", *device = "cpu";
    const struct owb_backend *be = NULL;
    int64_t n_predict = -1, n_ctx = 0, seed = -1, nthreads = 1;
    float temp = 0.0f;
    int c, rc = OWB_EXIT_RUNTIME;
    char err[OWB_ERR_MAX] = "";
    struct owb_gguf *g = NULL;
    struct owb_tokenizer *tok = NULL;
    struct owb_model *m = NULL;
    struct owb_pool *pool = NULL;
    int32_t *tokens = NULL;
    float *logits = NULL, *probs = NULL;

    optind = 1;
    while ((c = getopt_long(argc, argv, "m:p:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            model_path = optarg;
            break;
        case 'p':
            prompt = optarg;
            break;
        case 'n':
            if (parse_i64("-n", optarg, 0, INT32_MAX, &n_predict))
                return OWB_EXIT_USAGE;
            break;
        case 'c':
            if (parse_i64("--ctx", optarg, 1, INT32_MAX, &n_ctx))
                return OWB_EXIT_USAGE;
            break;
        case 't': {
            char *e;
            errno = 0;
            double t = strtod(optarg, &e);
            if (errno || e == optarg || *e || !(t >= 0.0) || !isfinite(t)) {
                fprintf(stderr,
                        "owbench generate: --temp '%s' is not a number >= 0 (0 is greedy)\n",
                        optarg);
                return OWB_EXIT_USAGE;
            }
            temp = (float)t;
            break;
        }
        case 's':
            if (parse_i64("--seed", optarg, 0, INT64_MAX, &seed))
                return OWB_EXIT_USAGE;
            break;
        case 'T':
            if (parse_i64("--threads", optarg, 1, MAX_THREADS, &nthreads))
                return OWB_EXIT_USAGE;
            break;
        case 'D':
            device = optarg;
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
        fprintf(stderr, "owbench generate: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return OWB_EXIT_USAGE;
    }
    if (!model_path || n_predict < 0) {
        fprintf(stderr, "owbench generate: -m FILE and -n N are required\n");
        usage(stderr);
        return OWB_EXIT_USAGE;
    }
    if ((rc = owb_cli_model_backend("generate", device, &be)) != OWB_EXIT_OK)
        return rc;
    rc = OWB_EXIT_RUNTIME;
    if (seed < 0)
        seed = (int64_t)time(NULL);

    g = owb_gguf_open_weights(model_path, OWB_GGUF_MEM_AUTO, NULL, NULL, err);
    if (!g)
        goto fail;
    tok = owb_tokenizer_new(g, err);
    if (!tok)
        goto fail;
    if (nthreads > 1) {
        pool = owb_pool_new((int)nthreads, NULL, err);
        if (!pool)
            goto fail;
    }
    struct owb_runner runner = {pool_run, pool, (int)nthreads};
    struct owb_model_opts mo = {.n_ctx = n_ctx, .runner = pool ? &runner : NULL, .backend = be};
    m = owb_model_load(g, &mo, err);
    if (!m)
        goto fail;
    const struct owb_hparams *hp = &m->hp;
    if (owb_tokenizer_n_vocab(tok) != hp->n_vocab)
        fprintf(stderr,
                "owbench generate: warning: tokenizer has %d tokens, the model %" PRId64 "\n",
                owb_tokenizer_n_vocab(tok), hp->n_vocab);
    fprintf(stderr,
            "model: %s, %s, %" PRId64 " layers, %" PRId64 " embd, %" PRId64 "/%" PRId64
            " heads, ff %" PRId64 ", vocab %" PRId64 ", context %" PRId64 " (trained %" PRId64
            "), %" PRId64 " thread(s)\n",
            model_path, hp->arch, hp->n_layer, hp->n_embd, hp->n_head, hp->n_head_kv, hp->n_ff,
            hp->n_vocab, m->n_ctx, hp->n_ctx_train, nthreads);
    if (m->n_ctx > hp->n_ctx_train)
        fprintf(stderr,
                "owbench generate: warning: context %" PRId64 " is larger than the model's "
                "context_length %" PRId64 "\n",
                m->n_ctx, hp->n_ctx_train);

    /* Prompt tokens. */
    size_t plen = strlen(prompt);
    int64_t cap = (int64_t)plen + 8;
    tokens = malloc((size_t)(cap > m->n_ctx ? cap : m->n_ctx) * sizeof *tokens);
    logits = malloc((size_t)hp->n_vocab * sizeof *logits);
    probs = malloc((size_t)hp->n_vocab * sizeof *probs);
    if (!tokens || !logits || !probs) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    int64_t np = owb_tokenizer_encode(tok, prompt, plen, OWB_TOK_ADD_SPECIAL, tokens, cap);
    if (np < 0) {
        snprintf(err, sizeof err, "tokenizing the prompt failed (out of memory)");
        goto fail;
    }
    if (np == 0) {
        snprintf(err, sizeof err,
                 "%s: the prompt is empty and the vocabulary adds no BOS token; give -p",
                 model_path);
        goto fail;
    }
    if (np > m->n_ctx) {
        snprintf(err, sizeof err,
                 "prompt of %" PRId64 " tokens does not fit the context of %" PRId64 " (use --ctx)",
                 np, m->n_ctx);
        goto fail;
    }
    fprintf(stderr, "prompt: %" PRId64 " tokens; seed %" PRId64 ", temperature %g\n", np, seed,
            (double)temp);

    uint64_t rng = (uint64_t)seed * 0x9E3779B97F4A7C15ull + 1;
    const int32_t bos = owb_tokenizer_bos(tok), eos = owb_tokenizer_eos(tok);
    const bool spm = owb_tokenizer_kind(tok) == OWB_TOK_SPM;
    uint64_t t0 = owb_now_ns();
    if (owb_model_forward(m, tokens, np, 0, logits, false, err))
        goto fail;
    uint64_t t1 = owb_now_ns();
    int64_t pos = np, generated = 0;
    int32_t prev = tokens[np - 1];
    char piece[512];
    while (generated < n_predict) {
        int32_t next = sample(logits, probs, hp->n_vocab, temp, &rng);
        if (next == eos || next == bos)
            break;
        generated++;
        int len = owb_tokenizer_piece(tok, next, false, piece, sizeof piece);
        if (len > (int)sizeof piece)
            len = (int)sizeof piece;
        const char *out = piece;
        if (spm && prev == bos && len > 0 && piece[0] == ' ') { /* as SentencePiece decodes */
            out++;
            len--;
        }
        if (len > 0)
            fwrite(out, 1, (size_t)len, stdout);
        fflush(stdout);
        prev = next;
        if (generated == n_predict)
            break;
        if (pos >= m->n_ctx) {
            fprintf(stderr, "\nowbench generate: context of %" PRId64 " tokens is full\n",
                    m->n_ctx);
            break;
        }
        if (owb_model_forward(m, &next, 1, pos, logits, false, err))
            goto fail;
        pos++;
    }
    uint64_t t2 = owb_now_ns();
    const double s_prefill = 1e-9 * (double)(t1 - t0), s_decode = 1e-9 * (double)(t2 - t1);
    if (fflush(stdout) != 0) {
        snprintf(err, sizeof err, "writing to stdout failed");
        goto fail;
    }
    fprintf(stderr,
            "prefill: %" PRId64 " tokens in %.2f ms (%.1f tok/s); generated %" PRId64
            " tokens in %.2f ms (%.1f tok/s)\n",
            np, 1e3 * s_prefill, (double)np / (s_prefill > 0 ? s_prefill : 1e-9), generated,
            1e3 * s_decode, (double)generated / (s_decode > 0 ? s_decode : 1e-9));
    rc = OWB_EXIT_OK;
    goto out;
fail:
    fprintf(stderr, "owbench generate: %s\n", err);
    rc = OWB_EXIT_RUNTIME;
out:
    free(tokens);
    free(logits);
    free(probs);
    owb_model_free(m);
    owb_pool_free(pool);
    owb_tokenizer_free(tok);
    owb_gguf_close(g);
    return rc;
}
