/* SPDX-License-Identifier: MIT */
/*
 * producer_http.h: a producer that scores windows through an HTTP server's log-probs (vLLM,
 * SGLang, llama.cpp's server, `owbench serve-model`, ...), so every eval runs against a served
 * model with the same windows, statistics and gate as the in-process engine.
 *
 * Scoring methods, chosen by a conformance probe when the producer is made (docs/evals.md):
 *   echo    POST URL/completions with the window's token ids as the prompt, `echo`, `logprobs` K
 *           and `max_tokens` 1: the server returns the log-prob of every prompt token and its
 *           top-K (vLLM, serve-model). One request per window.
 *   native  llama.cpp's POST ROOT/completion with `n_probs` K and `n_predict` 1, teacher-forced:
 *           one request per scored position (prompt = the tokens before it, prompt cache on); the
 *           target's log-prob must be among the top K it returns (raise --server-top-k if not).
 * When neither works the producer is refused with a message naming what the server lacks.
 * The probe also checks that the server tokenizes a probe text as the local tokenizer does, that
 * its log-probs are normalised and that two identical calls agree; describe() returns the
 * findings for the result.
 *
 * Log-probs from a server are already normalised: lse is recorded as 0, top_rest is
 * 1 - sum(exp(top)). Query ids (a base's top-k, for KLD) that the server did not return are
 * imputed (docs/evals.md) and counted in describe().
 *
 * Requests run concurrently (prefetch/lookahead) on one libcurl multi handle; 429, 5xx and
 * transport failures are retried with exponential backoff. With a checkpoint file every answered
 * request is appended (key = SHA-256 of URL and request body) and a restarted run takes answers
 * from it, so a killed eval resumes where it stopped with identical final results.
 *
 * Ownership and threads as in producer.h. Built only with libcurl (OWB_HAVE_CURL); otherwise
 * owb_producer_http_new returns OWB_E_UNSUPPORTED.
 */
#ifndef OWB_EVALS_PRODUCER_HTTP_H
#define OWB_EVALS_PRODUCER_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "evals/producer.h"
#include "owb_common.h"

struct owb_http_opts {
    const char *url;        /* API base, e.g. http://127.0.0.1:8000/v1 */
    const char *model;      /* served model name (NULL: the first of URL/models) */
    const char *tokenizer;  /* GGUF whose tokenizer is the served model's (required) */
    const char *api_key;    /* Bearer token (NULL: $OPENAI_API_KEY when set) */
    const char *method;     /* "auto" (NULL), "echo" or "native" */
    const char *checkpoint; /* resumable answers file (NULL: none) */
    int64_t n_ctx;          /* longest window (0: the server's max_model_len, else 2048) */
    int concurrency;        /* requests in flight (<= 0: 4) */
    int retries;            /* retries per request (< 0: 5) */
    int top_k_max;          /* ask for at most this many log-probs per position (0: no cap) */
    bool quiet;             /* no probe summary on stderr */
};

/* Probe the server and make the producer. Returns 0 and *out; OWB_E_USAGE for a server or
 * tokenizer that cannot be used (the message says why), OWB_E_IO when the server cannot be
 * reached, OWB_E_UNSUPPORTED without libcurl. */
int owb_producer_http_new(const struct owb_http_opts *o, struct owb_producer **out,
                          char err[OWB_ERR_MAX]);

#endif
