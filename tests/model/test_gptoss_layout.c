/* SPDX-License-Identifier: MIT */
/*
 * test_gptoss_layout.c: the gpt-oss engine with its mxfp4 experts converted at load into the
 * layout the kernels read fastest (kernels/matmul.h, OWB_WL_REP8) gives the logits of the same
 * file read in place, bit for bit: a 3-layer model with rows of 9 and 10 blocks (8-block groups
 * plus 1- and 2-block tails), 4 experts of which 2 are chosen, prefill in chunks of 7 (experts
 * get 1 to 7 tokens: GEMV and GEMM kernels) and decode, 1 and 2 threads. Checks too that the
 * conversion really happened where the CPU reads REP8 (the copy's expert bytes differ from the
 * file's) and only there, that a file mapping and `rows_layout` are left as they are, and that
 * the dense weights never move.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kernels/isa.h"
#include "kernels/matmul.h"
#include "model/arch.h"
#include "model/tiny_gguf.h"
#include "owb_test.h"
#include "runtime/pool.h"

#define E 320  /* 10 blocks: one group of 8 and a 2-block tail */
#define FF 288 /* 9 blocks: a 1-block tail */
#define NH 4
#define NKV 2
#define HD 32
#define NX 4
#define NK 2
#define NV 40
#define NL 3
#define NT 19
#define NPRE 14

static int build(const char *path)
{
    struct tg t;
    tg_init(&t, 23);
    tg_str(&t, "general.architecture", "gpt-oss");
    tg_u32(&t, "gpt-oss.block_count", NL);
    tg_u32(&t, "gpt-oss.context_length", 64);
    tg_u32(&t, "gpt-oss.embedding_length", E);
    tg_u32(&t, "gpt-oss.feed_forward_length", FF);
    tg_u32(&t, "gpt-oss.attention.head_count", NH);
    tg_u32(&t, "gpt-oss.attention.head_count_kv", NKV);
    tg_str(&t, "gpt-oss.rope.scaling.type", "yarn");
    tg_f32(&t, "gpt-oss.rope.scaling.factor", 32.0f);
    tg_u32(&t, "gpt-oss.rope.scaling.original_context_length", 4096);
    tg_f32(&t, "gpt-oss.rope.freq_base", 150000.0f);
    tg_f32(&t, "gpt-oss.attention.layer_norm_rms_epsilon", 1e-5f);
    tg_u32(&t, "gpt-oss.expert_count", NX);
    tg_u32(&t, "gpt-oss.expert_used_count", NK);
    tg_u32(&t, "gpt-oss.attention.key_length", HD);
    tg_u32(&t, "gpt-oss.attention.value_length", HD);
    tg_u32(&t, "gpt-oss.attention.sliding_window", 4);
    tg_u32(&t, "gpt-oss.expert_feed_forward_length", FF);
    char nm[64];
#define T(type, name, nd, a, b, c, sc, off)                                                        \
    do {                                                                                           \
        const int64_t ne_[3] = {a, b, c};                                                          \
        tg_tensor_t(&t, name, type, nd, ne_, sc, off);                                             \
    } while (0)
#define L(type, base, nd, a, b, c, sc, off)                                                        \
    do {                                                                                           \
        snprintf(nm, sizeof nm, "blk.%d.%s", l, base);                                             \
        T(type, nm, nd, a, b, c, sc, off);                                                         \
    } while (0)
    const enum owb_type F = OWB_TYPE_F32, MX = OWB_TYPE_MXFP4;
    T(F, "token_embd.weight", 2, E, NV, 1, 1.0f, 0.0f);
    for (int l = 0; l < NL; l++) {
        L(F, "attn_norm.weight", 1, E, 1, 1, 0.2f, 1.0f);
        L(OWB_TYPE_BF16, "attn_q.weight", 2, E, NH * HD, 1, 0.1f, 0.0f);
        L(F, "attn_q.bias", 1, NH * HD, 1, 1, 0.1f, 0.0f);
        L(OWB_TYPE_BF16, "attn_k.weight", 2, E, NKV * HD, 1, 0.1f, 0.0f);
        L(F, "attn_k.bias", 1, NKV * HD, 1, 1, 0.1f, 0.0f);
        L(OWB_TYPE_BF16, "attn_v.weight", 2, E, NKV * HD, 1, 0.1f, 0.0f);
        L(F, "attn_v.bias", 1, NKV * HD, 1, 1, 0.1f, 0.0f);
        L(OWB_TYPE_BF16, "attn_output.weight", 2, NH * HD, E, 1, 0.1f, 0.0f);
        L(F, "attn_output.bias", 1, E, 1, 1, 0.1f, 0.0f);
        L(F, "attn_sinks.weight", 1, NH, 1, 1, 1.0f, 0.0f);
        L(F, "post_attention_norm.weight", 1, E, 1, 1, 0.2f, 1.0f);
        L(F, "ffn_gate_inp.weight", 2, E, NX, 1, 0.3f, 0.0f);
        L(F, "ffn_gate_inp.bias", 1, NX, 1, 1, 0.2f, 0.0f);
        L(MX, "ffn_gate_exps.weight", 3, E, FF, NX, 0.2f, 0.0f);
        L(F, "ffn_gate_exps.bias", 2, FF, NX, 1, 0.1f, 0.0f);
        L(MX, "ffn_up_exps.weight", 3, E, FF, NX, 0.2f, 0.0f);
        L(F, "ffn_up_exps.bias", 2, FF, NX, 1, 0.1f, 0.0f);
        L(MX, "ffn_down_exps.weight", 3, FF, E, NX, 0.1f, 0.0f);
        L(F, "ffn_down_exps.bias", 2, E, NX, 1, 0.1f, 0.0f);
    }
    T(F, "output_norm.weight", 1, E, 1, 1, 0.2f, 1.0f);
    T(OWB_TYPE_BF16, "output.weight", 2, E, NV, 1, 0.2f, 0.0f);
#undef L
#undef T
    int rc = tg_write(&t, path);
    if (rc)
        fprintf(stderr, "build: %s\n", t.err);
    tg_free(&t);
    return rc;
}

static void pool_run(void *pool, owb_par_fn fn, void *ctx)
{
    owb_rt_pool_run(pool, fn, ctx);
}

/* Logits of every token: prefill of NPRE in chunks of 7 (all logits), then one at a time. */
static int run(const struct owb_gguf *g, int nthreads, bool rows_layout, const int32_t *toks,
               float *out)
{
    char err[OWB_ERR_MAX];
    struct owb_rt_pool *pool = owb_rt_pool_new(nthreads, NULL, err);
    struct owb_runner r = {pool_run, pool, nthreads};
    struct owb_model_opts o = {.n_ctx = 32, .n_batch = 7, .runner = &r, .rows_layout = rows_layout};
    struct owb_model *m = pool ? owb_model_load(g, &o, err) : NULL;
    int rc = m ? 0 : -1;
    if (!m)
        fprintf(stderr, "load: %s\n", err);
    if (m) {
        rc = owb_model_forward(m, toks, NPRE, 0, out, true, err);
        for (int t = NPRE; t < NT && !rc; t++)
            rc = owb_model_forward(m, toks + t, 1, t, out + t * NV, false, err);
        if (rc)
            fprintf(stderr, "forward: %s\n", err);
    }
    owb_model_free(m);
    owb_rt_pool_free(pool);
    return rc;
}

/* Whether the tensor bytes of `name` differ between two opened files. */
static bool differs(const struct owb_gguf *a, const struct owb_gguf *b, const char *name)
{
    const struct owb_gguf_tensor *ta = owb_gguf_tensor(a, name), *tb = owb_gguf_tensor(b, name);
    if (!ta || !tb || ta->size_bytes != tb->size_bytes) {
        CHECK_MSG(0, "tensor %s missing or mis-sized", name);
        return false;
    }
    return memcmp(ta->data, tb->data, ta->size_bytes) != 0;
}

int main(void)
{
    const char *tmp = getenv("OWB_TMP");
    char path[4096], err[OWB_ERR_MAX];
    snprintf(path, sizeof path, "%s/gptoss_layout_%d.gguf", tmp && *tmp ? tmp : "/tmp",
             (int)getpid());
    if (build(path) != 0)
        return 1;
    struct owb_gguf *gm = owb_gguf_open(path, err);
    struct owb_gguf *gc = owb_gguf_open_weights(path, OWB_GGUF_MEM_COPY, NULL, NULL, err);
    struct owb_gguf *gr = owb_gguf_open_weights(path, OWB_GGUF_MEM_COPY, NULL, NULL, err);
    unlink(path);
    CHECK_MSG(gm && gc && gr, "%s", err);
    if (!gm || !gc || !gr)
        return 1;
    CHECK(!gm->owned && gc->owned);
    CHECK(owb_gguf_writable(gm, true, err) == OWB_E_UNSUPPORTED && strstr(err, "mapping"));

    int32_t toks[NT];
    for (int i = 0; i < NT; i++)
        toks[i] = (int32_t)((i * 7 + 3) % NV);
    static float lm[NT * NV], lc[NT * NV], lc2[NT * NV], lr[NT * NV];
    CHECK(run(gm, 1, false, toks, lm) == 0);
    CHECK(run(gc, 1, false, toks, lc) == 0);
    CHECK(run(gc, 2, false, toks, lc2) == 0); /* a second load of the converted copy: no-op */
    CHECK(run(gr, 2, true, toks, lr) == 0);

    const bool rep8 =
        owb_matmul_wlayout_best(OWB_TYPE_MXFP4, FF, E, owb_isa_active()) == OWB_WL_REP8;
    CHECK_MSG(differs(gm, gc, "blk.1.ffn_up_exps.weight") == rep8,
              "the copy's experts must be converted exactly where the CPU reads REP8 (%d)", rep8);
    CHECK(differs(gm, gc, "blk.2.ffn_down_exps.weight") == rep8);
    CHECK(!differs(gm, gc, "blk.0.attn_q.weight") && !differs(gm, gc, "output.weight"));
    CHECK(!differs(gm, gr, "blk.1.ffn_up_exps.weight")); /* rows_layout: left as stored */
    /* rows_layout on the converted copy: back to the file's bytes, same logits */
    static float lb[NT * NV];
    CHECK(run(gc, 2, true, toks, lb) == 0);
    CHECK(!differs(gm, gc, "blk.1.ffn_up_exps.weight") &&
          !differs(gm, gc, "blk.0.ffn_gate_exps.weight"));
    CHECK_MSG(memcmp(lm, lb, sizeof lm) == 0, "the copy converted back changes the logits");

    CHECK_MSG(memcmp(lm, lc, sizeof lm) == 0, "REP8 experts change the logits");
    CHECK_MSG(memcmp(lm, lc2, sizeof lm) == 0, "REP8 experts, 2 threads, change the logits");
    CHECK_MSG(memcmp(lm, lr, sizeof lm) == 0, "rows_layout copy changes the logits");
    float amax = 0.0f;
    for (int i = 0; i < NT * NV; i++)
        amax = fabsf(lm[i]) > amax ? fabsf(lm[i]) : amax;
    CHECK_MSG(amax > 1e-3f, "logits are all ~0 (%g): the comparison would prove nothing",
              (double)amax);
    fprintf(stderr, "test_gptoss_layout: experts %s at load; logits of %d tokens bitwise equal\n",
            rep8 ? "converted to REP8" : "kept as rows (this CPU reads rows fastest)", NT);
    owb_gguf_close(gm);
    owb_gguf_close(gc);
    owb_gguf_close(gr);
    return owb_test_failures ? 1 : 0;
}
