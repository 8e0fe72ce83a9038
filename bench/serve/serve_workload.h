/* SPDX-License-Identifier: MIT */
/*
 * serve_workload.h: the request sets `owbench serve` sends. Four sources: random prompts of words
 * with fixed, uniform or normal input and output lengths; a JSONL file (one request per line:
 * "prompt" or "messages", optional "output_len"/"max_tokens", "input_len", "timestamp"); a
 * ShareGPT-style JSON array (first human turn is the prompt, the first reply's word count the
 * output length); and trace replay (JSONL with "timestamp" in milliseconds, and either a prompt or
 * "input_length"/"output_length" from which a random prompt is made). Every set is hashed (SHA-256
 * over each request's model-visible text and max_tokens, in order) so results say exactly which
 * prompts were sent. A workload owns its strings; free with owb_serve_workload_release. Not
 * thread-safe while being built; read-only afterwards.
 */
#ifndef OWB_BENCH_SERVE_WORKLOAD_H
#define OWB_BENCH_SERVE_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "owb_common.h"

/* A length: fixed (spread 0), uniform in [mean*(1-spread), mean*(1+spread)], or normal with
 * standard deviation spread (clamped to >= 1). Parsed from "N", "N,uniform:R" or "N,normal:SD". */
enum owb_len_kind { OWB_LEN_FIXED, OWB_LEN_UNIFORM, OWB_LEN_NORMAL };
struct owb_len_dist {
    enum owb_len_kind kind;
    double mean, spread;
};

/* Parse a length spec for option opt. Returns 0 or OWB_E_USAGE with err naming the value. */
int owb_len_dist_parse(const char *opt, const char *s, struct owb_len_dist *out,
                       char err[OWB_ERR_MAX]);

struct owb_serve_item {
    char *prompt;        /* completions prompt, or the user message of chat (owned); may be NULL
                            when messages_json is set */
    char *messages_json; /* chat messages as a JSON array (owned), NULL: one user message */
    int input_tokens;    /* estimate (words) unless the file gave it */
    int output_tokens;   /* max_tokens to request */
    double t_s;          /* trace replay: arrival offset in seconds; -1 when none */
};

struct owb_serve_workload {
    struct owb_serve_item *items;
    size_t n;
    char kind[16];    /* "random", "jsonl", "sharegpt", "trace" */
    char source[256]; /* "random" or the file path */
    char sha256[65];  /* hex digest of the prompt set (see above) */
    int has_times;    /* every item has a timestamp (trace replay possible) */
};

/* n random prompts of words (a fixed 64-word vocabulary, first word unique per request so prefix
 * caches do not merge them). Returns 0, OWB_E_NOMEM. */
int owb_serve_workload_random(struct owb_serve_workload *w, size_t n, const struct owb_len_dist *in,
                              const struct owb_len_dist *out, uint64_t seed, char err[OWB_ERR_MAX]);

/* Load path (JSONL, ShareGPT JSON array, or a trace: detected from the content). At most max_n
 * items (0: all). Items without an output length get one drawn from out_default. Returns 0,
 * OWB_E_IO (unreadable), OWB_E_FORMAT (err names the file, line and problem), OWB_E_NOMEM. */
int owb_serve_workload_load(struct owb_serve_workload *w, const char *path, size_t max_n,
                            const struct owb_len_dist *out_default, uint64_t seed,
                            char err[OWB_ERR_MAX]);

/* Recompute w->sha256 (done by the constructors). */
void owb_serve_workload_hash(struct owb_serve_workload *w);

/* Free the items; w may then be reused. NULL is a no-op. */
void owb_serve_workload_release(struct owb_serve_workload *w);

/* SHA-256 of data[0..n) as 64 hex digits + NUL into hex. */
void owb_sha256_hex(const void *data, size_t n, char hex[65]);

#endif
