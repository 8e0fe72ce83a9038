/* SPDX-License-Identifier: MIT */
/*
 * eval_server.c: the server options of `owbench eval` and the choice of producer (eval_server.h).
 */
#include "tools/eval_server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "evals/producer_http.h"

void owb_eval_server_init(struct owb_eval_server *s)
{
    memset(s, 0, sizeof *s);
    s->concurrency = 4;
    s->retries = 5;
}

static int num(const char *opt, const char *arg, int64_t lo, int64_t hi, int64_t *out,
               char err[OWB_ERR_MAX])
{
    char *e;
    errno = 0;
    long long v = strtoll(arg, &e, 10);
    if (errno || e == arg || *e || v < lo || v > hi) {
        snprintf(err, OWB_ERR_MAX, "%s '%.100s': expected an integer from %lld to %lld", opt, arg,
                 (long long)lo, (long long)hi);
        return OWB_E_USAGE;
    }
    *out = v;
    return 1;
}

int owb_eval_server_opt(int c, const char *arg, struct owb_eval_server *s, char err[OWB_ERR_MAX])
{
    switch (c) {
    case 0x1001:
        s->url = arg;
        return 1;
    case 0x1002:
        s->tokenizer = arg;
        return 1;
    case 0x1003:
        return num("--concurrency", arg, 1, 1024, &s->concurrency, err);
    case 0x1004:
        return num("--retries", arg, 0, 100, &s->retries, err);
    case 0x1005:
        s->checkpoint = arg;
        return 1;
    case 0x1006:
        if (strcmp(arg, "auto") && strcmp(arg, "echo") && strcmp(arg, "native")) {
            snprintf(err, OWB_ERR_MAX, "--method '%.100s': expected auto, echo or native", arg);
            return OWB_E_USAGE;
        }
        s->method = arg;
        return 1;
    case 0x1007:
        return num("--server-top-k", arg, 1, 1 << 20, &s->top_k_max, err);
    case 0x1008:
        s->api_key = arg;
        return 1;
    default:
        return 0;
    }
}

int owb_eval_server_check(const struct owb_eval_server *s, const char *model, const char *what,
                          char err[OWB_ERR_MAX])
{
    if (s->url && !s->tokenizer) {
        snprintf(err, OWB_ERR_MAX,
                 "--url needs --tokenizer GGUF (a GGUF with the served model's tokenizer)");
        return OWB_E_USAGE;
    }
    if (!s->url && (s->tokenizer || s->checkpoint || s->method || s->top_k_max)) {
        snprintf(err, OWB_ERR_MAX,
                 "--tokenizer, --checkpoint, --method and --server-top-k need --url");
        return OWB_E_USAGE;
    }
    if (!s->url && !model) {
        snprintf(err, OWB_ERR_MAX, "%s", what);
        return OWB_E_USAGE;
    }
    return OWB_OK;
}

const char *owb_eval_tokenizer_path(const struct owb_eval_server *s, const char *model)
{
    return s->url ? s->tokenizer : model;
}

int owb_eval_producer_open(const struct owb_eval_server *s, const char *model, int64_t n_ctx,
                           int threads, bool quiet, struct owb_producer **p, char err[OWB_ERR_MAX])
{
    if (!s->url) {
        struct owb_engine_opts eo = {.n_ctx = n_ctx, .threads = threads, .hash_model = true};
        return owb_producer_engine_new(model, &eo, p, err);
    }
    struct owb_http_opts ho = {.url = s->url,
                               .model = model,
                               .tokenizer = s->tokenizer,
                               .api_key = s->api_key,
                               .method = s->method,
                               .checkpoint = s->checkpoint,
                               .n_ctx = 0,
                               .concurrency = (int)s->concurrency,
                               .retries = (int)s->retries,
                               .top_k_max = (int)s->top_k_max,
                               .quiet = quiet};
    (void)n_ctx; /* the server's context bounds the windows; --ctx still sets their length */
    return owb_producer_http_new(&ho, p, err);
}

void owb_eval_server_params(cJSON *params, struct owb_producer *p)
{
    cJSON *d = owb_producer_describe(p);
    cJSON_AddStringToObject(params, "producer", d ? "server" : "engine");
    if (d)
        cJSON_AddItemToObject(params, "server", d);
}

void owb_eval_server_usage(FILE *f)
{
    fprintf(f,
            "\nThrough a server instead of the engine (docs/evals.md):\n"
            "  --url URL          OpenAI-compatible API base (http://HOST:PORT/v1); -m is then\n"
            "                     the served model's name (default: the first of URL/models)\n"
            "  --tokenizer GGUF   a GGUF with the served model's tokenizer (required with --url)\n"
            "  --method M         auto (default), echo (prompt log-probs) or native (llama.cpp\n"
            "                     /completion with n_probs, one request per position)\n"
            "  --concurrency N    requests in flight (default 4)\n"
            "  --retries N        retries on 429, 5xx and broken transfers (default 5)\n"
            "  --checkpoint FILE  keep answers in FILE; a rerun resumes from it\n"
            "  --server-top-k K   log-probs per position to ask for: echo at most K (servers\n"
            "                     cap it; vLLM at 20 by default), native exactly K (default\n"
            "                     100; the scored token must be among them)\n"
            "  --api-key KEY      bearer token (default $OPENAI_API_KEY)\n");
}
