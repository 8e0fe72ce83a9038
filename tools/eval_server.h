/* SPDX-License-Identifier: MIT */
/*
 * eval_server.h: the options every `owbench eval` subcommand shares to score through a server
 * instead of the in-process engine (--url, --tokenizer, --concurrency, --retries, --checkpoint,
 * --method, --server-top-k, --api-key), and opening the producer either way
 * (evals/producer_http.h, docs/evals.md).
 */
#ifndef OWB_TOOLS_EVAL_SERVER_H
#define OWB_TOOLS_EVAL_SERVER_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <cjson/cJSON.h>

#include "evals/producer.h"
#include "owb_common.h"

struct owb_eval_server {
    const char *url, *tokenizer, *method, *checkpoint, *api_key;
    int64_t concurrency, retries, top_k_max;
};

#define OWB_EVAL_SERVER_LONGOPTS                                                                   \
    {"url", required_argument, NULL, 0x1001}, {"tokenizer", required_argument, NULL, 0x1002},      \
        {"concurrency", required_argument, NULL, 0x1003},                                          \
        {"retries", required_argument, NULL, 0x1004},                                              \
        {"checkpoint", required_argument, NULL, 0x1005},                                           \
        {"method", required_argument, NULL, 0x1006},                                               \
        {"server-top-k", required_argument, NULL, 0x1007},                                         \
    {                                                                                              \
        "api-key", required_argument, NULL, 0x1008                                                 \
    }

void owb_eval_server_init(struct owb_eval_server *s);
/* Parse getopt code c: 1 when it was a server option (parsed), 0 when it is not one,
 * OWB_E_USAGE with err for a bad value. */
int owb_eval_server_opt(int c, const char *arg, struct owb_eval_server *s, char err[OWB_ERR_MAX]);
/* With --url: --tokenizer required, -m optional (the served model's name). Returns 0 or
 * OWB_E_USAGE with err. */
int owb_eval_server_check(const struct owb_eval_server *s, const char *model, const char *what,
                          char err[OWB_ERR_MAX]);
/* The producer: a server when s->url (model: its name or NULL, n_ctx 0: the server's), else the
 * engine on the GGUF `model`. Returns 0 or a status with err. */
int owb_eval_producer_open(const struct owb_eval_server *s, const char *model, int64_t n_ctx,
                           int threads, bool quiet, struct owb_producer **p, char err[OWB_ERR_MAX]);
/* "producer": "engine" | "server", and "server": what the probe found, into params. */
void owb_eval_server_params(cJSON *params, struct owb_producer *p);
/* The GGUF the tokenizer (and default context) come from: --tokenizer with --url, else model. */
const char *owb_eval_tokenizer_path(const struct owb_eval_server *s, const char *model);
void owb_eval_server_usage(FILE *f);

#endif
