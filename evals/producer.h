/* SPDX-License-Identifier: MIT */
/*
 * producer.h: where the scores the evals consume come from. A producer is given a window of token
 * ids and returns, for each scored position j in [first, n), what the model predicted for
 * tokens[j] from tokens[0..j): the target's log-probability, the exact log-sum-exp of the logits,
 * the top-k tokens with their log-probabilities and the probability mass outside them, and (on
 * request) the log-probabilities of caller-chosen ids (a base model's top-k, for KLD). The
 * in-process engine is one producer (owb_producer_engine_new); a server's `logprobs` can be
 * another; the tests use a synthetic bigram producer. Everything downstream (perplexity,
 * fingerprints, KLD, multiple choice) sees only this interface.
 *
 * Units: natural logarithms (nats) everywhere. Ties among equal logits are broken by the lower id
 * so results do not depend on thread counts or on the order a producer visits the vocabulary.
 *
 * Ownership: a producer is a heap object freed by owb_producer_free (NULL is a no-op); scores
 * buffers are caller-owned (owb_scores_reserve / owb_scores_release). A producer is used by one
 * thread at a time.
 */
#ifndef OWB_EVALS_PRODUCER_H
#define OWB_EVALS_PRODUCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "owb_common.h"

struct owb_gguf;

/* Per-position outputs of one score() call. Arrays are (n) or (n, top_k) / (n, n_query), row i
 * for the position first + i of the window. */
struct owb_scores {
    int64_t n;           /* positions filled by the last score() */
    int64_t cap;         /* positions allocated */
    int top_k;           /* entries per position in top_id / top_lp (0: none wanted) */
    int n_query;         /* ids per position in query_id / query_lp (0: none) */
    int32_t n_vocab;     /* vocabulary size the scratch was sized for */
    int32_t *target;     /* (n) the scored token, tokens[first + i] */
    double *logp;        /* (n) ln p(target) */
    double *lse;         /* (n) ln sum_v exp(logit_v) of the raw logits (NaN if unknown) */
    int32_t *top_id;     /* (n, top_k) most probable ids, descending, ties by lower id */
    double *top_lp;      /* (n, top_k) their ln p */
    double *top_rest;    /* (n) probability mass of the ids not in top_id, summed directly */
    int32_t *query_id;   /* (n, n_query) INPUT set by the caller before score(): distinct ids */
    double *query_lp;    /* (n, n_query) ln p of query_id */
    double *query_rest;  /* (n) mass of the ids not in query_id, summed the same way as top_rest */
    unsigned char *mark; /* (n_vocab) scratch for the mass sums */
    /* Optional INPUT (kept by owb_scores_reserve): called by owb_scores_fill_row with each row's
     * raw logits, for consumers that need the whole distribution (KLD against llama.cpp's
     * logits file). A producer without logits (a server) never calls it; the consumer counts
     * the calls and refuses such a producer. */
    void (*on_row)(void *ctx, int64_t i, const float *logits, int32_t n_vocab, int32_t target);
    void *on_row_ctx;
};

/* Size s for cap positions with top_k and n_query entries each (grows, never shrinks; keeps
 * nothing). Returns 0 or OWB_E_NOMEM. A zeroed struct is a valid empty s. */
int owb_scores_reserve(struct owb_scores *s, int64_t cap, int top_k, int n_query, int32_t n_vocab);
void owb_scores_release(struct owb_scores *s);

/* Fill row i of s from one row of raw logits (n_vocab floats) and the target id, exactly: max,
 * log-sum-exp and every mass in double precision; query ids must already be in
 * s->query_id[i * n_query ...]. This is how logits-producing producers (the engine, the test
 * producers) fill their output, so two producers with equal logits give bit-identical scores. */
void owb_scores_fill_row(struct owb_scores *s, int64_t i, const float *logits, int32_t n_vocab,
                         int32_t target);

struct owb_producer_info {
    char name[256]; /* what produced the scores: the model file, a server URL, "synthetic" */
    int32_t n_vocab;
    int64_t n_ctx;         /* longest window score() accepts */
    int32_t bos;           /* BOS id, -1 when the vocabulary has none */
    bool add_bos;          /* the tokenizer puts BOS at the start of a text */
    bool has_model_sha256; /* model_sha256 is known */
    bool has_tokenizer_sha256;
    unsigned char model_sha256[32];     /* of the model file's bytes */
    unsigned char tokenizer_sha256[32]; /* of the tokenizer definition (docs/fingerprint.md) */
};

struct owb_producer_ops {
    /* Score tokens[first..n) of the window tokens[0..n) (1 <= first < n <= info.n_ctx, ids in
     * range: owb_producer_score checks). out is reserved for >= n - first positions with the
     * wanted top_k / n_query; the producer sets out->n = n - first and fills every row. Returns 0
     * or a negative status with err. */
    int (*score)(void *self, const int32_t *tokens, int64_t n, int64_t first,
                 struct owb_scores *out, char err[OWB_ERR_MAX]);
    /* Tokenize len bytes (BOS first when add_bos and the vocabulary has one); writes at most cap
     * ids, returns the full count or a negative status. NULL when the producer cannot tokenize. */
    int64_t (*tokenize)(void *self, const char *text, size_t len, bool add_bos, int32_t *ids,
                        int64_t cap);
    void (*free)(void *self);
    /* Optional (NULL: none). Windows the caller will score soon, so a producer that works
     * remotely can have them in flight while it scores the current one; same arguments as score
     * plus the top_k / n_query the later score() will want. Never fails: a prefetch that cannot
     * be queued is done by score(). */
    void (*prefetch)(void *self, const int32_t *tokens, int64_t n, int64_t first, int top_k,
                     int n_query);
    /* Optional: how many windows ahead prefetch is worth calling for (0: none). */
    int (*lookahead)(void *self);
    /* Optional: a new JSON object describing where the scores came from (a server's URL, the
     * scoring method its conformance probe chose and what the probe found); caller frees. */
    void *(*describe)(void *self);
};

struct owb_producer {
    const struct owb_producer_ops *ops;
    void *self;
    struct owb_producer_info info;
};

/* A new producer around ops/self (self is freed through ops->free by owb_producer_free); NULL on
 * OOM (then ops->free(self) has been called). */
struct owb_producer *owb_producer_new(const struct owb_producer_ops *ops, void *self,
                                      const struct owb_producer_info *info);
void owb_producer_free(struct owb_producer *p);

/* Checked score(): validates first/n/token ids and out's capacity, then calls the producer. */
int owb_producer_score(struct owb_producer *p, const int32_t *tokens, int64_t n, int64_t first,
                       struct owb_scores *out, char err[OWB_ERR_MAX]);

/* Prefetch hint (no-op for producers without one) and its useful depth (0 without). */
void owb_producer_prefetch(struct owb_producer *p, const int32_t *tokens, int64_t n, int64_t first,
                           int top_k, int n_query);
int owb_producer_lookahead(struct owb_producer *p);
/* A new cJSON object describing the producer, or NULL when it has nothing to add (the engine). */
struct cJSON *owb_producer_describe(struct owb_producer *p);

/* Tokenize text into a new array (*ids, caller frees) of *n ids. Returns 0, OWB_E_UNSUPPORTED (no
 * tokenizer), OWB_E_NOMEM. */
int owb_producer_tokenize(struct owb_producer *p, const char *text, size_t len, bool add_bos,
                          int32_t **ids, int64_t *n, char err[OWB_ERR_MAX]);

/* ---- the in-process engine (model/arch.h) as a producer ---- */

struct owb_engine_opts {
    int64_t n_ctx;   /* KV positions = longest window; 0: the model's context_length */
    int threads;     /* worker threads (0 or 1: the calling thread only) */
    bool hash_model; /* compute model_sha256 over the file's bytes (one extra read) */
};

/* Load a GGUF model as a producer: tokenizer from its metadata, weights through
 * owb_model_load. Logits are bitwise identical for any thread count (model/arch.h), so are the
 * scores. Returns 0 and *out, or a negative status with err ("FILE: reason"). */
int owb_producer_engine_new(const char *gguf_path, const struct owb_engine_opts *o,
                            struct owb_producer **out, char err[OWB_ERR_MAX]);

/* SHA-256 of a GGUF's tokenizer definition: every `tokenizer.ggml.*` key, sorted by name, with
 * its type and value (docs/fingerprint.md gives the byte layout). Two files tokenize identically
 * when these match. Returns 0, OWB_E_FORMAT when the file has no tokenizer.ggml.model key. */
int owb_tokenizer_sha256(const struct owb_gguf *g, unsigned char out[32], char err[OWB_ERR_MAX]);
/* The same for a file by path (opens and closes it). */
int owb_tokenizer_sha256_file(const char *path, unsigned char out[32], char err[OWB_ERR_MAX]);

#endif
