/* SPDX-License-Identifier: MIT */
/*
 * producer_engine.c: the in-process engine as a producer. A window is run from position 0 (the KV
 * cache of the previous window is overwritten): the prefix tokens[0..first-1) without logits,
 * then tokens[first-1..n-1) in chunks of the model's n_batch with logits for every row; row r
 * predicts the token after it. The logits buffer is one chunk (n_batch, n_vocab), allocated once.
 * Also the tokenizer identity (SHA-256 of the tokenizer.ggml.* metadata) that fingerprints and
 * KLD compare.
 */
#include "evals/producer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/sha256.h"
#include "model/arch.h"
#include "model/gguf.h"
#include "model/tokenizer.h"
#include "runtime/pool.h"

struct engine {
    struct owb_gguf *g;
    struct owb_tokenizer *tok;
    struct owb_model *m;
    struct owb_rt_pool *pool;
    struct owb_runner runner;
    float *logits; /* (n_batch, n_vocab) */
    int64_t n_batch;
    int32_t n_vocab;
    char name[256];
};

static void engine_free(void *self)
{
    struct engine *e = self;
    if (!e)
        return;
    owb_model_free(e->m);
    owb_tokenizer_free(e->tok);
    owb_gguf_close(e->g);
    owb_rt_pool_free(e->pool);
    free(e->logits);
    free(e);
}

static int engine_score(void *self, const int32_t *tokens, int64_t n, int64_t first,
                        struct owb_scores *out, char err[OWB_ERR_MAX])
{
    struct engine *e = self;
    int rc;
    if (first > 1 && (rc = owb_model_forward(e->m, tokens, first - 1, 0, e->logits, false, err)))
        return rc;
    for (int64_t s = first - 1; s < n - 1; s += e->n_batch) {
        int64_t cnt = n - 1 - s < e->n_batch ? n - 1 - s : e->n_batch;
        if ((rc = owb_model_forward(e->m, tokens + s, cnt, s, e->logits, true, err)))
            return rc;
        for (int64_t r = 0; r < cnt; r++)
            owb_scores_fill_row(out, s + r - (first - 1), e->logits + r * e->n_vocab, e->n_vocab,
                                tokens[s + r + 1]);
    }
    out->n = n - first;
    return OWB_OK;
}

static int64_t engine_tokenize(void *self, const char *text, size_t len, bool add_bos, int32_t *ids,
                               int64_t cap)
{
    struct engine *e = self;
    return owb_tokenizer_encode(e->tok, text, len, add_bos ? OWB_TOK_ADD_SPECIAL : 0, ids, cap);
}

static const struct owb_producer_ops engine_ops = {
    .score = engine_score, .tokenize = engine_tokenize, .free = engine_free};

static void run_pool(void *pool, owb_par_fn fn, void *ctx)
{
    owb_rt_pool_run(pool, fn, ctx);
}

int owb_producer_engine_new(const char *path, const struct owb_engine_opts *o,
                            struct owb_producer **out, char err[OWB_ERR_MAX])
{
    struct owb_producer_info info;
    struct owb_engine_opts defaults = {0};
    struct engine *e = calloc(1, sizeof *e);
    int rc = OWB_OK;
    *out = NULL;
    if (!o)
        o = &defaults;
    memset(&info, 0, sizeof info);
    if (!e) {
        snprintf(err, OWB_ERR_MAX, "%.400s: out of memory", path);
        return OWB_E_NOMEM;
    }
    if (!(e->g = owb_gguf_open_weights(path, OWB_GGUF_MEM_AUTO, NULL, NULL, err))) {
        rc = OWB_E_FORMAT;
        goto fail;
    }
    if (!(e->tok = owb_tokenizer_new(e->g, err))) {
        rc = OWB_E_FORMAT;
        goto fail;
    }
    if ((rc = owb_tokenizer_sha256(e->g, info.tokenizer_sha256, err)))
        goto fail;
    info.has_tokenizer_sha256 = true;
    if (o->threads > 1) {
        if (!(e->pool = owb_rt_pool_new(o->threads, NULL, err))) {
            rc = OWB_E_SYSTEM;
            goto fail;
        }
        e->runner.run = run_pool;
        e->runner.pool = e->pool;
        e->runner.nthreads = o->threads;
    }
    struct owb_model_opts mo = {
        .n_ctx = o->n_ctx, .n_batch = 0, .runner = e->pool ? &e->runner : NULL};
    if (!(e->m = owb_model_load(e->g, &mo, err))) {
        rc = OWB_E_FORMAT;
        goto fail;
    }
    e->n_vocab = (int32_t)e->m->hp.n_vocab;
    e->n_batch = e->m->n_batch > 0 ? e->m->n_batch : 1;
    if (owb_tokenizer_n_vocab(e->tok) > e->n_vocab) {
        snprintf(err, OWB_ERR_MAX,
                 "%.300s: the tokenizer has %d tokens but the model only %d output rows", path,
                 owb_tokenizer_n_vocab(e->tok), e->n_vocab);
        rc = OWB_E_FORMAT;
        goto fail;
    }
    if (!(e->logits = malloc((size_t)e->n_batch * (size_t)e->n_vocab * sizeof *e->logits))) {
        snprintf(err, OWB_ERR_MAX, "%.400s: out of memory for logits", path);
        rc = OWB_E_NOMEM;
        goto fail;
    }
    if (o->hash_model) {
        if ((rc = owb_sha256_file(path, info.model_sha256, err)))
            goto fail;
        info.has_model_sha256 = true;
    }
    snprintf(info.name, sizeof info.name, "%s", path);
    info.n_vocab = e->n_vocab;
    info.n_ctx = e->m->n_ctx;
    info.bos = owb_tokenizer_bos(e->tok);
    info.add_bos = owb_tokenizer_add_bos(e->tok) && info.bos >= 0;
    *out = owb_producer_new(&engine_ops, e, &info);
    if (!*out) {
        snprintf(err, OWB_ERR_MAX, "%.400s: out of memory", path);
        return OWB_E_NOMEM;
    }
    return OWB_OK;
fail:
    engine_free(e);
    return rc;
}

/* ---- tokenizer identity ---- */

static void put_u64(struct owb_sha256 *s, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    owb_sha256_update(s, b, 8);
}

static void hash_value(struct owb_sha256 *s, const struct owb_gguf_value *v, int depth)
{
    put_u64(s, (uint64_t)v->type);
    switch (v->type) {
    case OWB_GGUF_STRING:
        put_u64(s, v->v.s.len);
        owb_sha256_update(s, v->v.s.ptr, (size_t)v->v.s.len);
        break;
    case OWB_GGUF_ARRAY:
        put_u64(s, (uint64_t)v->v.arr.elem_type);
        put_u64(s, v->v.arr.n);
        if (owb_gguf_scalar_size(v->v.arr.elem_type)) {
            owb_sha256_update(s, v->v.arr.raw,
                              (size_t)v->v.arr.n * owb_gguf_scalar_size(v->v.arr.elem_type));
        } else if (v->v.arr.elem_type == OWB_GGUF_STRING) {
            for (uint64_t i = 0; i < v->v.arr.n; i++) {
                struct owb_gguf_str str = owb_gguf_arr_str(v, i);
                put_u64(s, str.len);
                owb_sha256_update(s, str.ptr, (size_t)str.len);
            }
        } else if (depth < OWB_GGUF_MAX_NESTING) {
            for (uint64_t i = 0; i < v->v.arr.n; i++) {
                struct owb_gguf_value el;
                owb_gguf_arr_elem(v, i, &el);
                hash_value(s, &el, depth + 1);
            }
        }
        break;
    case OWB_GGUF_INT8:
    case OWB_GGUF_INT16:
    case OWB_GGUF_INT32:
    case OWB_GGUF_INT64:
        put_u64(s, (uint64_t)v->v.i);
        break;
    case OWB_GGUF_FLOAT32:
    case OWB_GGUF_FLOAT64: {
        uint64_t bits;
        memcpy(&bits, &v->v.f, sizeof bits);
        put_u64(s, bits);
        break;
    }
    case OWB_GGUF_BOOL:
        put_u64(s, v->v.b ? 1 : 0);
        break;
    default:
        put_u64(s, v->v.u);
        break;
    }
}

static int cmp_kv_key(const void *a, const void *b)
{
    const struct owb_gguf_kv *x = *(const struct owb_gguf_kv *const *)a;
    const struct owb_gguf_kv *y = *(const struct owb_gguf_kv *const *)b;
    return strcmp(x->key, y->key);
}

int owb_tokenizer_sha256(const struct owb_gguf *g, unsigned char out[32], char err[OWB_ERR_MAX])
{
    static const char prefix[] = "tokenizer.ggml.";
    const struct owb_gguf_kv **v = malloc(((size_t)g->n_kv + 1) * sizeof *v);
    size_t n = 0;
    if (!v) {
        snprintf(err, OWB_ERR_MAX, "%.400s: out of memory", g->path);
        return OWB_E_NOMEM;
    }
    if (!owb_gguf_find(g, "tokenizer.ggml.model")) {
        snprintf(err, OWB_ERR_MAX, "%.400s: no tokenizer (tokenizer.ggml.model is missing)",
                 g->path);
        free(v);
        return OWB_E_FORMAT;
    }
    for (int64_t i = 0; i < g->n_kv; i++)
        if (!strncmp(g->kv[i].key, prefix, sizeof prefix - 1))
            v[n++] = &g->kv[i];
    qsort(v, n, sizeof *v, cmp_kv_key);
    struct owb_sha256 s;
    owb_sha256_init(&s);
    owb_sha256_update(&s, "owbench-tokenizer/1", 19);
    for (size_t i = 0; i < n; i++) {
        size_t kl = strlen(v[i]->key);
        put_u64(&s, kl);
        owb_sha256_update(&s, v[i]->key, kl);
        hash_value(&s, &v[i]->value, 0);
    }
    owb_sha256_final(&s, out);
    free(v);
    return OWB_OK;
}

int owb_tokenizer_sha256_file(const char *path, unsigned char out[32], char err[OWB_ERR_MAX])
{
    struct owb_gguf *g = owb_gguf_open(path, err);
    if (!g)
        return OWB_E_FORMAT;
    int rc = owb_tokenizer_sha256(g, out, err);
    owb_gguf_close(g);
    return rc;
}
