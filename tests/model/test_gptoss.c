/* SPDX-License-Identifier: MIT */
/*
 * test_gptoss.c: the gpt-oss forward pass on small files written through the GGUF writer (f32
 * weights, so the comparison is about the graph, not quantization):
 *   - logits of a 13-token prompt (prefill in chunks of 5, then single-token decode) against an
 *     independent float64 implementation of the reference graph (RMSNorm, Q/K/V + biases, YaRN
 *     NeoX RoPE, sinks, sliding-window (4) layers 0 and 2, full layer 1, router top-2 of 4 with
 *     softmax over the selected logits, clamped SwiGLU experts with biases, weighted sum);
 *   - bitwise identical logits for 1, 2 and 3 threads; prefill == token-by-token decode within
 *     float tolerance;
 *   - the accounting: active bytes = dense weights + 2 of 4 experts; 2 windowed layers;
 *   - hostile files refused with a clear error: expert_count 0, expert_used_count > expert_count,
 *     sliding_window 0, an expert tensor of the wrong shape, a missing sinks tensor.
 */
#include <math.h>
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "model/arch.h"
#include "model/tiny_gguf.h"
#include "owb_test.h"
#include "runtime/pool.h"

#define E 64
#define NH 4
#define NKV 2
#define HD 16
#define NX 4
#define NK 2
#define FF 32
#define NV 50
#define NL 3
#define WIN 4
#define NT 13
#define BASE 150000.0
#define FACTOR 32.0
#define ORIG 4096

#define LOGIT_TOL 2e-4 /* f32 engine vs float64 reference, relative to the largest logit */

struct breakage {
    const char *key;
    uint32_t value;
    const char *drop;
    const char *grow; /* tensor written with one more expert (last dimension) */
    const char *want;
};

static void u32_or(struct tg *t, const struct breakage *b, const char *key, uint32_t v)
{
    tg_u32(t, key, b && b->key && !strcmp(b->key, key) ? b->value : v);
}

static int build(const char *path, const struct breakage *b)
{
    struct tg t;
    tg_init(&t, 11);
    tg_str(&t, "general.architecture", "gpt-oss");
    u32_or(&t, b, "gpt-oss.block_count", NL);
    u32_or(&t, b, "gpt-oss.context_length", 64);
    u32_or(&t, b, "gpt-oss.embedding_length", E);
    u32_or(&t, b, "gpt-oss.feed_forward_length", FF);
    u32_or(&t, b, "gpt-oss.attention.head_count", NH);
    u32_or(&t, b, "gpt-oss.attention.head_count_kv", NKV);
    tg_str(&t, "gpt-oss.rope.scaling.type", "yarn");
    tg_f32(&t, "gpt-oss.rope.scaling.factor", (float)FACTOR);
    u32_or(&t, b, "gpt-oss.rope.scaling.original_context_length", ORIG);
    tg_f32(&t, "gpt-oss.rope.freq_base", (float)BASE);
    tg_f32(&t, "gpt-oss.attention.layer_norm_rms_epsilon", 1e-5f);
    u32_or(&t, b, "gpt-oss.expert_count", NX);
    u32_or(&t, b, "gpt-oss.expert_used_count", NK);
    u32_or(&t, b, "gpt-oss.attention.key_length", HD);
    u32_or(&t, b, "gpt-oss.attention.value_length", HD);
    u32_or(&t, b, "gpt-oss.attention.sliding_window", WIN);
    u32_or(&t, b, "gpt-oss.expert_feed_forward_length", FF);
    struct td {
        char n[64];
        int nd;
        int64_t ne[3];
        float scale, offset;
    } ts[128];
    int n = 0;
#define T(name, nd_, a, b_, c, sc, off)                                                            \
    do {                                                                                           \
        snprintf(ts[n].n, sizeof ts[n].n, "%s", name);                                             \
        ts[n].nd = nd_;                                                                            \
        ts[n].ne[0] = a;                                                                           \
        ts[n].ne[1] = b_;                                                                          \
        ts[n].ne[2] = c;                                                                           \
        ts[n].scale = sc;                                                                          \
        ts[n].offset = off;                                                                        \
        n++;                                                                                       \
    } while (0)
    char nm[64];
    T("token_embd.weight", 2, E, NV, 1, 1.0f, 0.0f);
    for (int l = 0; l < NL; l++) {
#define L(base, nd_, a, b_, c, sc, off)                                                            \
    do {                                                                                           \
        snprintf(nm, sizeof nm, "blk.%d.%s", l, base);                                             \
        T(nm, nd_, a, b_, c, sc, off);                                                             \
    } while (0)
        L("attn_norm.weight", 1, E, 1, 1, 0.2f, 1.0f);
        L("attn_q.weight", 2, E, NH * HD, 1, 0.25f, 0.0f);
        L("attn_q.bias", 1, NH * HD, 1, 1, 0.1f, 0.0f);
        L("attn_k.weight", 2, E, NKV * HD, 1, 0.25f, 0.0f);
        L("attn_k.bias", 1, NKV * HD, 1, 1, 0.1f, 0.0f);
        L("attn_v.weight", 2, E, NKV * HD, 1, 0.25f, 0.0f);
        L("attn_v.bias", 1, NKV * HD, 1, 1, 0.1f, 0.0f);
        L("attn_output.weight", 2, NH * HD, E, 1, 0.2f, 0.0f);
        L("attn_output.bias", 1, E, 1, 1, 0.1f, 0.0f);
        L("attn_sinks.weight", 1, NH, 1, 1, 1.0f, 0.0f);
        L("post_attention_norm.weight", 1, E, 1, 1, 0.2f, 1.0f);
        L("ffn_gate_inp.weight", 2, E, NX, 1, 0.5f, 0.0f);
        L("ffn_gate_inp.bias", 1, NX, 1, 1, 0.2f, 0.0f);
        L("ffn_gate_exps.weight", 3, E, FF, NX, 0.4f, 0.0f);
        L("ffn_gate_exps.bias", 2, FF, NX, 1, 0.1f, 0.0f);
        L("ffn_up_exps.weight", 3, E, FF, NX, 0.4f, 0.0f);
        L("ffn_up_exps.bias", 2, FF, NX, 1, 0.1f, 0.0f);
        L("ffn_down_exps.weight", 3, FF, E, NX, 0.2f, 0.0f);
        L("ffn_down_exps.bias", 2, E, NX, 1, 0.1f, 0.0f);
#undef L
    }
    T("output_norm.weight", 1, E, 1, 1, 0.2f, 1.0f);
    T("output.weight", 2, E, NV, 1, 0.3f, 0.0f);
#undef T
    for (int i = 0; i < n; i++) {
        if (b && b->drop && !strcmp(b->drop, ts[i].n))
            continue;
        if (b && b->grow && !strcmp(b->grow, ts[i].n))
            ts[i].ne[ts[i].nd - 1]++;
        tg_tensor_t(&t, ts[i].n, OWB_TYPE_F32, ts[i].nd, ts[i].ne, ts[i].scale, ts[i].offset);
    }
    int rc = tg_write(&t, path);
    if (rc)
        fprintf(stderr, "build: %s\n", t.err);
    tg_free(&t);
    return rc;
}

/* ---- float64 reference ---- */

/* Tensor "blk.l.base" (l >= 0) or "base" (l < 0). */
static const float *W(const struct owb_gguf *g, const char *base, int l)
{
    char nm[96];
    if (l >= 0)
        snprintf(nm, sizeof nm, "blk.%d.%s", l, base);
    else
        snprintf(nm, sizeof nm, "%s", base);
    const struct owb_gguf_tensor *t = owb_gguf_tensor(g, nm);
    OWB_ASSERT(t && t->type == OWB_TYPE_F32);
    return t->data;
}

/* y[m] = W[m][k] x[k] (+ b) */
static void mv(double *y, const float *w, const double *x, int64_t m, int64_t k, const float *b)
{
    for (int64_t r = 0; r < m; r++) {
        double s = b ? (double)b[r] : 0.0;
        for (int64_t i = 0; i < k; i++)
            s += (double)w[r * k + i] * x[i];
        y[r] = s;
    }
}

static void rms(double *y, const double *x, const float *w)
{
    double ss = 0;
    for (int i = 0; i < E; i++)
        ss += x[i] * x[i];
    const double inv = 1.0 / sqrt(ss / E + 1e-5);
    for (int i = 0; i < E; i++)
        y[i] = x[i] * inv * (double)w[i];
}

static void rope(double *v, int64_t pos)
{
    /* YaRN as llama.cpp resolves it (ramp between its floored/ceiled correction dims), magnitude
     * 0.1 ln(factor) + 1 as in the gpt-oss reference */
    const double lo = HD * log(ORIG / (32.0 * 2 * M_PI)) / (2 * log(BASE));
    const double hi = HD * log(ORIG / (1.0 * 2 * M_PI)) / (2 * log(BASE));
    const double c0 = fmax(0, floor(lo)), c1 = fmin(HD - 1, ceil(hi)), ms = 0.1 * log(FACTOR) + 1;
    for (int i = 0; i < HD / 2; i++) {
        double ex = (double)pos * pow(BASE, -2.0 * i / HD), in = ex / FACTOR;
        double r = fmin(1, fmax(0, (i - c0) / fmax(0.001, c1 - c0))), mix = 1 - r;
        double th = in * (1 - mix) + ex * mix, c = cos(th) * ms, s = sin(th) * ms;
        double a = v[i], b = v[i + HD / 2];
        v[i] = a * c - b * s;
        v[i + HD / 2] = a * s + b * c;
    }
}

static void reference(const struct owb_gguf *g, const int32_t *toks, int nt, double *logits)
{
    static double x[NT][E], kc[NL][NT][NKV * HD], vcache[NL][NT][NKV * HD];
    const float *emb = W(g, "token_embd.weight", -1);
    for (int t = 0; t < nt; t++)
        for (int i = 0; i < E; i++)
            x[t][i] = emb[toks[t] * E + i];
    for (int t = 0; t < nt; t++) { /* token by token: causal, so the same as any batching */
        for (int l = 0; l < NL; l++) {
            double h[E], q[NH * HD], k[NKV * HD], v[NKV * HD], att[NH * HD], o[E];
            rms(h, x[t], W(g, "attn_norm.weight", l));
            mv(q, W(g, "attn_q.weight", l), h, NH * HD, E, W(g, "attn_q.bias", l));
            mv(k, W(g, "attn_k.weight", l), h, NKV * HD, E, W(g, "attn_k.bias", l));
            mv(v, W(g, "attn_v.weight", l), h, NKV * HD, E, W(g, "attn_v.bias", l));
            for (int hh = 0; hh < NH; hh++)
                rope(q + hh * HD, t);
            for (int hh = 0; hh < NKV; hh++)
                rope(k + hh * HD, t);
            memcpy(kc[l][t], k, sizeof k);
            memcpy(vcache[l][t], v, sizeof v);
            const int window = l % 2 == 0 ? WIN : 0; /* layers 0, 2 slide */
            const float *sinks = W(g, "attn_sinks.weight", l);
            for (int hh = 0; hh < NH; hh++) {
                const int gk = hh / (NH / NKV);
                double sc[NT], mx = (double)sinks[hh], den = 0;
                for (int p = 0; p <= t; p++) {
                    double d = 0;
                    for (int i = 0; i < HD; i++)
                        d += q[hh * HD + i] * kc[l][p][gk * HD + i];
                    sc[p] = window && t - p >= window ? -(double)INFINITY : d / sqrt(HD);
                    mx = fmax(mx, sc[p]);
                }
                for (int p = 0; p <= t; p++)
                    den += exp(sc[p] - mx);
                den += exp((double)sinks[hh] - mx);
                for (int i = 0; i < HD; i++) {
                    double s = 0;
                    for (int p = 0; p <= t; p++)
                        s += exp(sc[p] - mx) / den * vcache[l][p][gk * HD + i];
                    att[hh * HD + i] = s;
                }
            }
            mv(o, W(g, "attn_output.weight", l), att, E, NH * HD, W(g, "attn_output.bias", l));
            for (int i = 0; i < E; i++)
                x[t][i] += o[i];
            double h2[E], rl[NX], moe[E] = {0};
            rms(h2, x[t], W(g, "post_attention_norm.weight", l));
            mv(rl, W(g, "ffn_gate_inp.weight", l), h2, NX, E, W(g, "ffn_gate_inp.bias", l));
            int sel[NK];
            bool used[NX] = {0};
            for (int j = 0; j < NK; j++) {
                int best = -1;
                for (int e = 0; e < NX; e++)
                    if (!used[e] && (best < 0 || rl[e] > rl[best]))
                        best = e;
                used[best] = true;
                sel[j] = best;
            }
            double den = 0;
            for (int j = 0; j < NK; j++)
                den += exp(rl[sel[j]] - rl[sel[0]]);
            for (int j = 0; j < NK; j++) {
                const int e = sel[j];
                const double wgt = exp(rl[e] - rl[sel[0]]) / den;
                double gt[FF], up[FF], act[FF], d[E];
                mv(gt, W(g, "ffn_gate_exps.weight", l) + e * FF * E, h2, FF, E,
                   W(g, "ffn_gate_exps.bias", l) + e * FF);
                mv(up, W(g, "ffn_up_exps.weight", l) + e * FF * E, h2, FF, E,
                   W(g, "ffn_up_exps.bias", l) + e * FF);
                for (int i = 0; i < FF; i++) {
                    double gg = fmin(gt[i], 7.0), uu = fmin(fmax(up[i], -7.0), 7.0);
                    act[i] = gg / (1 + exp(-1.702 * gg)) * (uu + 1);
                }
                mv(d, W(g, "ffn_down_exps.weight", l) + e * E * FF, act, E, FF,
                   W(g, "ffn_down_exps.bias", l) + e * E);
                for (int i = 0; i < E; i++)
                    moe[i] += wgt * d[i];
            }
            for (int i = 0; i < E; i++)
                x[t][i] += moe[i];
        }
        double hf[E];
        rms(hf, x[t], W(g, "output_norm.weight", -1));
        mv(logits + t * NV, W(g, "output.weight", -1), hf, NV, E, NULL);
    }
}

/* ---- the engine ---- */

static void pool_run(void *pool, owb_par_fn fn, void *ctx)
{
    owb_rt_pool_run(pool, fn, ctx);
}

/* Logits of every token: prefill of the first 8 in chunks of n_batch 5 (all logits), then one
 * token at a time. */
static int run(const struct owb_gguf *g, int nthreads, const int32_t *toks, float *out,
               struct owb_model_cost *cost)
{
    char err[OWB_ERR_MAX];
    struct owb_rt_pool *pool = owb_rt_pool_new(nthreads, NULL, err);
    struct owb_runner r = {pool_run, pool, nthreads};
    struct owb_model_opts o = {.n_ctx = 32, .n_batch = 5, .runner = &r};
    struct owb_model *m = pool ? owb_model_load(g, &o, err) : NULL;
    int rc = m ? 0 : -1;
    if (!m)
        fprintf(stderr, "load: %s\n", err);
    if (m) {
        rc = owb_model_forward(m, toks, 8, 0, out, true, err);
        for (int t = 8; t < NT && !rc; t++)
            rc = owb_model_forward(m, toks + t, 1, t, out + t * NV, false, err);
        if (rc)
            fprintf(stderr, "forward: %s\n", err);
        if (cost)
            *cost = m->cost;
        /* the full layer keeps 32 positions, the two sliding ones a ring of window + n_batch */
        CHECK(m->kv_cache_bytes == 2u * 4u * NKV * HD * (32 + 2 * (WIN + 5)));
    }
    owb_model_free(m);
    owb_rt_pool_free(pool);
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
    struct owb_model_opts o = {.n_ctx = 16};
    err[0] = '\0';
    struct owb_model *m = owb_model_load(g, &o, err);
    CHECK_MSG(m == NULL, "%s%s accepted", b->key ? b->key : "", b->grow ? b->grow : "");
    CHECK_MSG(strstr(err, path) && strstr(err, b->want), "error \"%s\" lacks \"%s\"", err, b->want);
    owb_model_free(m);
    owb_gguf_close(g);
}

int main(void)
{
    const char *tmp = getenv("OWB_TMP");
    char path[4096], err[OWB_ERR_MAX];
    snprintf(path, sizeof path, "%s/gptoss_%d.gguf", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    CHECK(build(path, NULL) == 0);
    struct owb_gguf *g = owb_gguf_open(path, err);
    CHECK_MSG(g != NULL, "%s", err);
    if (g) {
        const int32_t toks[NT] = {3, 17, 42, 0, 49, 8, 8, 21, 30, 5, 11, 47, 2};
        static float l1[NT * NV], l2[NT * NV], l3[NT * NV];
        static double ref[NT * NV];
        struct owb_model_cost c;
        CHECK(run(g, 1, toks, l1, &c) == 0);
        CHECK(run(g, 2, toks, l2, NULL) == 0);
        CHECK(run(g, 3, toks, l3, NULL) == 0);
        CHECK_MSG(memcmp(l1, l2, sizeof l1) == 0, "2 threads differ from 1");
        CHECK_MSG(memcmp(l1, l3, sizeof l1) == 0, "3 threads differ from 1");
        reference(g, toks, NT, ref);
        double mx = 0, maxerr = 0;
        for (int i = 0; i < NT * NV; i++) {
            mx = fmax(mx, fabs(ref[i]));
            maxerr = fmax(maxerr, fabs(ref[i] - (double)l1[i]));
        }
        fprintf(stderr, "logits vs float64 reference: max error %.3g of max |logit| %.3g\n", maxerr,
                mx);
        CHECK_MSG(maxerr <= LOGIT_TOL * mx, "logits vs float64 reference: max error %g (max %g)",
                  maxerr, mx);
        /* accounting: 2 of 4 experts per token; layers 0 and 2 windowed */
        const double dense = 4.0 * (NL * ((double)E * NH * HD * 2 + 2.0 * E * NKV * HD + E * NX));
        const double active = 4.0 * NL * NK * 3.0 * E * FF;
        CHECK(c.n_layer_window == 2 && c.n_layer_full == 1 && c.window == WIN);
        CHECK(c.main_wtype == OWB_TYPE_F32);
        CHECK_NEAR(c.matmul_flop_per_token, (dense + active) / 2.0, 0.5);
        CHECK(c.decode_read_bytes > dense + active && c.decode_read_bytes < dense + 2 * active);
        owb_gguf_close(g);
    }
    const struct breakage cases[] = {
        {"gpt-oss.expert_count", 0, NULL, NULL, "expert_count 0"},
        {"gpt-oss.expert_used_count", 5, NULL, NULL, "expert_used_count 5"},
        {"gpt-oss.expert_used_count", 0, NULL, NULL, "expert_used_count 0"},
        {"gpt-oss.attention.sliding_window", 0, NULL, NULL, "sliding_window is 0"},
        {"gpt-oss.expert_feed_forward_length", 48, NULL, NULL, "ffn_gate_exps.weight has shape"},
        {NULL, 0, NULL, "blk.1.ffn_down_exps.weight", "blk.1.ffn_down_exps.weight has shape"},
        {NULL, 0, NULL, "blk.0.ffn_up_exps.bias", "blk.0.ffn_up_exps.bias has shape"},
        {NULL, 0, "blk.2.attn_sinks.weight", NULL, "blk.2.attn_sinks.weight is missing"},
        {NULL, 0, "blk.0.ffn_gate_exps.weight", NULL, "ffn_gate_exps.weight is missing"},
    };
    for (size_t i = 0; i < OWB_ARRAY_LEN(cases); i++)
        expect_refused(path, &cases[i]);
    unlink(path);
    TEST_DONE();
}
