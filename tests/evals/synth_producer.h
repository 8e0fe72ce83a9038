/* SPDX-License-Identifier: MIT */
/*
 * synth_producer.h: a deterministic in-test producer for the eval tests: a bigram model whose
 * logits at position j are row tokens[j-1] of a V x V table (seeded Gaussian, optionally scaled,
 * perturbed or all zero), so every expected value can be computed directly from the table in the
 * test. Tokenization maps each byte to its own id (V must be >= 256; BOS is id 256 when V > 256).
 * Header-only; each test includes it once.
 */
#ifndef OWB_TESTS_SYNTH_PRODUCER_H
#define OWB_TESTS_SYNTH_PRODUCER_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/rng.h"
#include "evals/producer.h"

struct synth {
    int32_t V;
    float *table; /* (V, V): table[prev * V + next] */
};

static void synth_free(void *self)
{
    struct synth *s = self;
    if (s) {
        free(s->table);
        free(s);
    }
}

static int synth_score(void *self, const int32_t *tokens, int64_t n, int64_t first,
                       struct owb_scores *out, char err[OWB_ERR_MAX])
{
    struct synth *s = self;
    (void)err;
    for (int64_t j = first; j < n; j++)
        owb_scores_fill_row(out, j - first, s->table + (size_t)tokens[j - 1] * (size_t)s->V, s->V,
                            tokens[j]);
    out->n = n - first;
    return 0;
}

static int64_t synth_tokenize(void *self, const char *text, size_t len, bool add_bos, int32_t *ids,
                              int64_t cap)
{
    struct synth *s = self;
    int64_t k = 0;
    if (add_bos && s->V > 256) {
        if (k < cap)
            ids[k] = 256;
        k++;
    }
    for (size_t i = 0; i < len; i++, k++)
        if (k < cap)
            ids[k] = (unsigned char)text[i];
    return k;
}

static const struct owb_producer_ops synth_ops = {
    .score = synth_score, .tokenize = synth_tokenize, .free = synth_free};

/* A bigram producer: logits = scale * N(0,1) from seed (scale 0: uniform), plus noise * N(0,1)
 * from noise_seed when noise > 0. Tokenizer identity bytes all equal tok_id. */
static inline struct owb_producer *synth_new(int32_t V, uint64_t seed, double scale, double noise,
                                             uint64_t noise_seed, unsigned char tok_id,
                                             int64_t n_ctx)
{
    struct synth *s = calloc(1, sizeof *s);
    struct owb_producer_info info;
    struct owb_rng r, rn;
    if (!s)
        return NULL;
    s->V = V;
    s->table = malloc((size_t)V * (size_t)V * sizeof *s->table);
    if (!s->table) {
        free(s);
        return NULL;
    }
    owb_rng_seed(&r, seed);
    owb_rng_seed(&rn, noise_seed);
    for (size_t i = 0; i < (size_t)V * (size_t)V; i++) {
        double v = scale * owb_rng_normal(&r);
        if (noise > 0)
            v += noise * owb_rng_normal(&rn);
        s->table[i] = (float)v;
    }
    memset(&info, 0, sizeof info);
    snprintf(info.name, sizeof info.name, "synthetic bigram V=%d seed=%llu", V,
             (unsigned long long)seed);
    info.n_vocab = V;
    info.n_ctx = n_ctx;
    info.bos = V > 256 ? 256 : -1;
    info.add_bos = V > 256;
    info.has_tokenizer_sha256 = true;
    memset(info.tokenizer_sha256, tok_id, 32);
    return owb_producer_new(&synth_ops, s, &info);
}

/* The table of a synthetic producer, for direct computations in the tests. */
static inline const float *synth_table(const struct owb_producer *p)
{
    return ((const struct synth *)p->self)->table;
}

/* ln softmax(row)[t] in long double, independently of evals/producer.c. */
static inline double synth_logp(const float *row, int32_t V, int32_t t)
{
    long double mx = row[0], s = 0;
    for (int32_t v = 1; v < V; v++)
        if (row[v] > mx)
            mx = row[v];
    for (int32_t v = 0; v < V; v++)
        s += expl((long double)row[v] - mx);
    return (double)((long double)row[t] - mx - logl(s));
}

#endif
