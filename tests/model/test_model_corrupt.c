/* SPDX-License-Identifier: MIT */
/*
 * test_model_corrupt.c: owb_model_load on crafted Llama-family files. A tiny valid model is built
 * through the GGUF writer and must load and run; then one thing at a time is made hostile
 * (hyperparameters whose products overflow, counts of zero, a block_count beyond the tensors, a
 * missing or mis-shaped tensor) and each must be refused with a sentence naming the file and the
 * problem, never a crash or a huge allocation.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "model/arch.h"
#include "model/tiny_gguf.h"
#include "owb_test.h"

#define D 32
#define H 4
#define HKV 2
#define FF 64
#define V 40
#define NL 2

/* What to break: a key to override with a u32 value, or a tensor to drop or reshape. */
struct breakage {
    const char *key;
    uint32_t value;
    const char *drop;    /* tensor left out */
    const char *reshape; /* tensor written with one more row */
    const char *want;    /* substring the error must contain */
};

static int build(const char *path, const struct breakage *b)
{
    struct tg t;
    tg_init(&t, 7);
    tg_str(&t, "general.architecture", "llama");
    const struct {
        const char *k;
        uint32_t v;
    } kv[] = {{"llama.embedding_length", D},     {"llama.block_count", NL},
              {"llama.attention.head_count", H}, {"llama.attention.head_count_kv", HKV},
              {"llama.context_length", 64},      {"llama.feed_forward_length", FF}};
    for (size_t i = 0; i < OWB_ARRAY_LEN(kv); i++)
        tg_u32(&t, kv[i].k, b && b->key && !strcmp(b->key, kv[i].k) ? b->value : kv[i].v);
    if (b && b->key && strncmp(b->key, "llama.", 6) == 0) {
        bool known = false;
        for (size_t i = 0; i < OWB_ARRAY_LEN(kv); i++)
            known |= !strcmp(b->key, kv[i].k);
        if (!known)
            tg_u32(&t, b->key, b->value);
    }
    tg_f32(&t, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    char name[96];
    struct tdesc {
        const char *n;
        int nd;
        int64_t a, c;
    } ts[64];
    int n = 0;
    ts[n++] = (struct tdesc){"token_embd.weight", 2, D, V};
    ts[n++] = (struct tdesc){"output_norm.weight", 1, D, 0};
    static char names[NL][9][64];
    for (int l = 0; l < NL; l++) {
        const char *base[9] = {"attn_norm",   "ffn_norm", "attn_q", "attn_k",  "attn_v",
                               "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
        const int64_t k[9] = {D, D, D, D, D, H * 8, D, D, FF};
        const int64_t m[9] = {0, 0, H * 8, HKV * 8, HKV * 8, D, FF, FF, D};
        for (int i = 0; i < 9; i++) {
            snprintf(names[l][i], sizeof names[l][i], "blk.%d.%s.weight", l, base[i]);
            ts[n++] = (struct tdesc){names[l][i], m[i] ? 2 : 1, k[i], m[i]};
        }
    }
    for (int i = 0; i < n; i++) {
        if (b && b->drop && !strcmp(b->drop, ts[i].n))
            continue;
        const bool grow = b && b->reshape && !strcmp(b->reshape, ts[i].n);
        int64_t cols = ts[i].a + (grow && ts[i].nd == 1), rows = ts[i].c + (grow && ts[i].nd == 2);
        snprintf(name, sizeof name, "%s", ts[i].n);
        tg_tensor(&t, name, ts[i].nd, cols, rows, 1, 0.3f, ts[i].nd == 1 ? 1.0f : 0.0f);
    }
    int rc = tg_write(&t, path);
    if (rc)
        fprintf(stderr, "build: %s\n", t.err);
    tg_free(&t);
    return rc;
}

static void expect_refused(const char *path, const struct breakage *b)
{
    char err[OWB_ERR_MAX] = "";
    CHECK(build(path, b) == 0);
    struct owb_gguf *g = owb_gguf_open(path, err);
    CHECK_MSG(g != NULL, "%s", err);
    if (!g)
        return;
    struct owb_model_opts o = {.n_ctx = 32};
    err[0] = '\0';
    struct owb_model *m = owb_model_load(g, &o, err);
    CHECK_MSG(m == NULL, "%s %s accepted", b->key ? b->key : "", b->drop ? b->drop : "");
    CHECK_MSG(strstr(err, path) != NULL && strstr(err, b->want) != NULL,
              "error \"%s\" lacks \"%s\"", err, b->want);
    owb_model_free(m);
    owb_gguf_close(g);
}

int main(void)
{
    const char *tmp = getenv("OWB_TMP");
    char path[4096];
    snprintf(path, sizeof path, "%s/model_corrupt_%d.gguf", tmp && *tmp ? tmp : "/tmp",
             (int)getpid());

    /* the valid model loads and runs */
    char err[OWB_ERR_MAX] = "";
    CHECK(build(path, NULL) == 0);
    struct owb_gguf *g = owb_gguf_open(path, err);
    CHECK_MSG(g != NULL, "%s", err);
    if (g) {
        struct owb_model_opts o = {.n_ctx = 32};
        struct owb_model *m = owb_model_load(g, &o, err);
        CHECK_MSG(m != NULL, "%s", err);
        if (m) {
            static float logits[3 * V];
            const int32_t toks[3] = {1, 5, V - 1};
            CHECK(owb_model_forward(m, toks, 3, 0, logits, true, err) == 0);
            CHECK(m->cost.main_wtype == OWB_TYPE_F32 && m->cost.n_layer_window == 0);
        }
        owb_model_free(m);
        owb_gguf_close(g);
    }

    const struct breakage cases[] = {
        {"llama.attention.head_count", 0, NULL, NULL, "head_count"},
        {"llama.attention.head_count_kv", 3, NULL, NULL, "head_count_kv"},
        {"llama.block_count", 0, NULL, NULL, "block_count"},
        {"llama.block_count", 2000000000u, NULL, NULL, "block_count"},
        {"llama.embedding_length", 0, NULL, NULL, "embedding_length"},
        {"llama.embedding_length", 3000000000u, NULL, NULL, "out of range"},
        /* 2^30 heads of 2^20: the q width overflows the element limit */
        {"llama.attention.head_count", 1u << 30, NULL, NULL, "head_count"},
        {"llama.attention.key_length", 1u << 30, NULL, NULL, "rope.dimension_count"},
        {"llama.feed_forward_length", 1u << 30, NULL, NULL, "ffn_gate"},
        {"llama.attention.key_length", 16, NULL, NULL, "attn_q"},
        {"llama.rope.dimension_count", 7, NULL, NULL, "rope.dimension_count"},
        {NULL, 0, "blk.1.ffn_down.weight", NULL, "blk.1.ffn_down.weight is missing"},
        {NULL, 0, "output_norm.weight", NULL, "output_norm.weight is missing"},
        {NULL, 0, NULL, "blk.0.attn_k.weight", "blk.0.attn_k.weight has shape"},
        {NULL, 0, NULL, "blk.1.attn_norm.weight", "blk.1.attn_norm.weight has shape"},
    };
    for (size_t i = 0; i < OWB_ARRAY_LEN(cases); i++)
        expect_refused(path, &cases[i]);
    unlink(path);
    TEST_DONE();
}
