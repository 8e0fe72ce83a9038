/* SPDX-License-Identifier: MIT */
/*
 * test_gptoss_ops.c: the new operations of the gpt-oss forward pass against float64 references:
 * softmax with a sink logit, attention with a sliding window at the window's edges (several query
 * blocks, each with its own first key) with and without sinks, YaRN cosines/sines (llama.cpp's
 * correction dims and magnitude scale), the clamped SwiGLU, router top-k with ties (lower expert
 * index first) and its softmax weights, the grouping of a chunk's choices by expert, and an
 * expert's grouped GEMM equal to per-token GEMVs (f32, q8_0, mxfp4 weights).
 */
#include <math.h>
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#include <stdlib.h>
#include <string.h>

#include "kernels/matmul.h"
#include "kernels/attn.h"
#include "model/gptoss.h"
#include "owb_test.h"

#define SOFTMAX_TOL 1e-6
#define ATTN_TOL 2e-5
#define YARN_TOL 2e-6
#define SWIGLU_TOL 1e-5
#define GEMM_TOL 1e-4

static uint64_t rs = 88172645463325252ull;
static double urand(void) /* [-1, 1) */
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (double)(rs >> 11) / (double)(1ull << 53) * 2.0 - 1.0;
}

static void test_softmax_sink(void)
{
    for (int trial = 0; trial < 50; trial++) {
        float x[37];
        double ref[37];
        const int n = 1 + trial % 37;
        const float sink = (float)(urand() * (trial % 3 == 0 ? 30.0 : 3.0));
        for (int i = 0; i < n; i++)
            x[i] = (i % 7 == 3) ? -INFINITY : (float)(urand() * 5.0);
        double mx = sink, den = 0;
        for (int i = 0; i < n; i++)
            mx = (double)x[i] > mx ? (double)x[i] : mx;
        for (int i = 0; i < n; i++)
            den += isinf(x[i]) ? 0.0 : exp((double)x[i] - mx);
        den += exp((double)sink - mx);
        for (int i = 0; i < n; i++)
            ref[i] = isinf(x[i]) ? 0.0 : exp((double)x[i] - mx) / den;
        owb_softmax_sink(x, n, sink);
        for (int i = 0; i < n; i++)
            CHECK_NEAR(x[i], ref[i], SOFTMAX_TOL);
    }
    /* a huge sink takes all the mass: the row sums to ~0 */
    float y[4] = {1, 2, 3, 4};
    owb_softmax_sink(y, 4, 100.0f);
    CHECK(y[0] + y[1] + y[2] + y[3] < 1e-30f);
}

/* Attention of one chunk against a float64 reference: KV heads g, query head g*group+j, keys p with
 * p <= q and (window == 0 || q - p < window), optional sinks. The cache is a ring of cap slots
 * (position p in slot p % cap) holding the last cap positions; cap = 48 is the full policy. */
static void attn_case(int64_t pos, int64_t nb, int64_t qb, int64_t window, bool sinks, int64_t cap)
{
    const int64_t P = pos + nb, hd = 8, hkv = 2, group = 3, nh = hkv * group, QD = nh * hd;
    double *kp = calloc((size_t)(hkv * P * hd), sizeof(double)); /* (hkv, P, hd) by position */
    double *vp = calloc((size_t)(hkv * P * hd), sizeof(double));
    float *kc = calloc((size_t)(hkv * cap * hd), sizeof(float));
    float *vc = calloc((size_t)(hkv * hd * cap), sizeof(float));
    float *q = calloc((size_t)(nb * QD), sizeof(float));
    float *out = calloc((size_t)(nb * QD), sizeof(float));
    float snk[6];
    struct owb_attn_scratch s = {calloc((size_t)(group * qb * hd), 4),
                                 calloc((size_t)(group * qb * P), 4),
                                 calloc((size_t)(hd * group * qb), 4),
                                 calloc((size_t)(cap * hd), 4), calloc((size_t)(cap * hd), 4)};
    const int64_t nblk = (nb + qb - 1) / qb;
    struct owb_matmul_plan *plans = calloc((size_t)(2 * nblk), sizeof *plans);
    int64_t *ks = calloc((size_t)nblk, sizeof *ks);
    for (int64_t g = 0; g < hkv; g++)
        for (int64_t p = 0; p < P; p++)
            for (int64_t i = 0; i < hd; i++) {
                const float kv = (float)urand(), vv = (float)urand();
                kp[(g * P + p) * hd + i] = kv;
                vp[(g * P + p) * hd + i] = vv;
                if (p >= P - cap) {
                    kc[(g * cap + p % cap) * hd + i] = kv;
                    vc[g * hd * cap + i * cap + p % cap] = vv;
                }
            }
    for (int64_t i = 0; i < nb * QD; i++)
        q[i] = (float)(urand() * 3.0);
    for (int i = 0; i < 6; i++)
        snk[i] = (float)(urand() * 2.0);
    struct owb_attn_blocks b = {.plans = plans, .kstart = ks};
    char err[OWB_ERR_MAX];
    CHECK_MSG(owb_attn_plan(&b, pos, nb, qb, group, hd, window, owb_isa_active(), err) == 0, "%s",
              err);
    const struct owb_attn_args a = {q,    out, QD, kc, vc, cap, hd, group, pos, sinks ? snk : NULL,
                                    0.35f};
    owb_attn_heads(&b, &a, 0, hkv, &s);
    double maxerr = 0;
    for (int64_t t = 0; t < nb; t++)
        for (int64_t h = 0; h < nh; h++) {
            const int64_t g = h / group, qp = pos + t;
            double sc[128], mx = sinks ? (double)snk[h] : -(double)INFINITY, den = 0;
            for (int64_t p = 0; p <= qp; p++) {
                double d = 0;
                for (int64_t i = 0; i < hd; i++)
                    d += (double)(q[t * QD + h * hd + i] * 0.35f) * kp[(g * P + p) * hd + i];
                const bool vis = window == 0 || qp - p < window;
                sc[p] = vis ? d : -(double)INFINITY;
                mx = sc[p] > mx ? sc[p] : mx;
            }
            for (int64_t p = 0; p <= qp; p++)
                den += isinf(sc[p]) ? 0 : exp(sc[p] - mx);
            if (sinks)
                den += exp((double)snk[h] - mx);
            for (int64_t i = 0; i < hd; i++) {
                double o = 0;
                for (int64_t p = 0; p <= qp; p++)
                    if (!isinf(sc[p]))
                        o += exp(sc[p] - mx) / den * vp[(g * P + p) * hd + i];
                double e = fabs(o - (double)out[t * QD + h * hd + i]);
                maxerr = e > maxerr ? e : maxerr;
            }
        }
    CHECK_MSG(maxerr < ATTN_TOL,
              "pos %lld nb %lld qb %lld window %lld sinks %d cap %lld: max error %g",
              (long long)pos, (long long)nb, (long long)qb, (long long)window, sinks,
              (long long)cap, maxerr);
    free(kp);
    free(vp);
    free(kc);
    free(vc);
    free(q);
    free(out);
    free(s.qs);
    free(s.sc);
    free(s.pv);
    free(s.kw);
    free(s.vw);
    free(plans);
    free(ks);
}

static void test_window(void)
{
    /* window 1 (only itself), windows that start inside a block, windows wider than the context
     * so far, a block boundary right at the window start */
    const int64_t cases[][4] = {{0, 12, 5, 4},   {0, 12, 5, 1},  {3, 9, 2, 4},  {20, 7, 3, 8},
                                {30, 10, 4, 10}, {5, 6, 6, 100}, {0, 16, 4, 4}, {7, 1, 1, 4},
                                {40, 1, 1, 3},   {10, 5, 5, 0}};
    for (size_t i = 0; i < OWB_ARRAY_LEN(cases); i++)
        for (int s = 0; s < 2; s++)
            attn_case(cases[i][0], cases[i][1], cases[i][2], cases[i][3], s, 48);
    /* sliding policy: a ring of window + n_batch slots, blocks whose keys wrap around it, decode
     * far past the ring's size */
    const int64_t ring[][4] = {{30, 7, 3, 8},  {40, 5, 2, 4}, {57, 1, 1, 6},
                               {100, 9, 4, 5}, {13, 6, 6, 4}, {71, 1, 1, 128}};
    for (size_t i = 0; i < OWB_ARRAY_LEN(ring); i++)
        for (int s = 0; s < 2; s++) {
            const int64_t cap =
                owb_attn_cache_slots(ring[i][3], ring[i][0] + ring[i][1] + 1000, ring[i][1]);
            CHECK(cap == ring[i][3] + ring[i][1]);
            attn_case(ring[i][0], ring[i][1], ring[i][2], ring[i][3], s, cap);
        }
    CHECK(owb_attn_cache_slots(0, 500, 64) == 500 && owb_attn_cache_slots(128, 100, 64) == 100);
}

static void test_yarn(void)
{
    struct owb_yarn y;
    const int64_t n_rot = 64, orig = 4096;
    const double base = 150000, factor = 32, bf = 32, bs = 1;
    owb_yarn_init(&y, n_rot, (float)base, (float)factor, orig, (float)bf, (float)bs, 1.0f);
    /* ggml_rope_yarn_corr_dims in float64 */
    double lo = n_rot * log(orig / (bf * 2 * M_PI)) / (2 * log(base));
    double hi = n_rot * log(orig / (bs * 2 * M_PI)) / (2 * log(base));
    double c0 = fmax(0, floor(lo)), c1 = fmin(n_rot - 1, ceil(hi));
    CHECK_NEAR(y.corr[0], c0, 0);
    CHECK_NEAR(y.corr[1], c1, 0);
    CHECK_NEAR(y.freq_scale, 1.0 / factor, 1e-9);
    /* magnitude: the gpt-oss reference's concentration 0.1 ln(factor) + 1 */
    const double conc = 0.1 * log(factor) + 1.0;
    CHECK_NEAR((double)y.attn_factor * (1.0 + 0.1 * log(factor)), conc, 1e-6);
    const int64_t poss[] = {0, 1, 7, 127, 128, 4095, 4096, 100000};
    for (size_t pi = 0; pi < OWB_ARRAY_LEN(poss); pi++) {
        struct owb_rope_cache c;
        owb_yarn_cache(&c, &y, poss[pi]);
        CHECK(c.n_rot == n_rot);
        for (int64_t i = 0; i < n_rot / 2; i++) {
            double extrap = (double)poss[pi] * pow(base, -2.0 * (double)i / (double)n_rot);
            double interp = extrap / factor;
            double r = (i - c0) / fmax(0.001, c1 - c0);
            r = r < 0 ? 0 : r > 1 ? 1 : r;
            double mix = 1 - r, th = interp * (1 - mix) + extrap * mix;
            CHECK_NEAR(c.cos[i], cos(th) * conc, YARN_TOL);
            CHECK_NEAR(c.sin[i], sin(th) * conc, YARN_TOL);
        }
    }
    /* without scaling: plain NeoX RoPE, no magnitude change */
    owb_yarn_init(&y, 16, 10000.0f, 0.0f, 4096, 32, 1, 1.0f);
    struct owb_rope_cache c;
    owb_yarn_cache(&c, &y, 5);
    for (int i = 0; i < 8; i++) {
        double th = 5.0 * pow(10000.0, -2.0 * i / 16.0);
        CHECK_NEAR(c.cos[i], cos(th), YARN_TOL);
        CHECK_NEAR(c.sin[i], sin(th), YARN_TOL);
    }
}

static void test_swiglu(void)
{
    float g[200], u[200], y[200];
    for (int i = 0; i < 200; i++) {
        g[i] = (float)(urand() * 12.0);
        u[i] = (float)(urand() * 12.0);
    }
    g[0] = 7.0f;
    g[1] = 50.0f;
    u[2] = -7.5f;
    u[3] = 7.0f;
    owb_swiglu_oai(y, g, u, 200, 1.702f, 7.0f);
    for (int i = 0; i < 200; i++) {
        double gg = fmin(g[i], 7.0), uu = fmin(fmax(u[i], -7.0), 7.0);
        double ref = gg / (1.0 + exp(-1.702 * gg)) * (uu + 1.0);
        CHECK_NEAR(y[i], ref, SWIGLU_TOL * fmax(1.0, fabs(ref)));
    }
    /* in place on gate */
    float g2[3] = {1, 8, -3}, u2[3] = {0.5f, 9, -9};
    owb_swiglu_oai(g2, g2, u2, 3, 1.702f, 7.0f);
    CHECK_NEAR(g2[1], 7.0 / (1.0 + exp(-1.702 * 7.0)) * 8.0, 1e-4);
    CHECK_NEAR(g2[2], -3.0 / (1.0 + exp(1.702 * 3.0)) * -6.0, 1e-5);
}

static void test_topk(void)
{
    int32_t ids[8];
    float w[8];
    const float tie[] = {1, 3, 3, 2, 3, -1};
    owb_moe_topk(tie, 6, 2, ids, w);
    CHECK(ids[0] == 1 && ids[1] == 2);
    CHECK_NEAR(w[0], 0.5, 1e-7);
    CHECK_NEAR(w[1], 0.5, 1e-7);
    owb_moe_topk(tie, 6, 4, ids, w);
    CHECK(ids[0] == 1 && ids[1] == 2 && ids[2] == 4 && ids[3] == 3);
    const float all_eq[] = {0, 0, 0, 0};
    owb_moe_topk(all_eq, 4, 3, ids, w);
    CHECK(ids[0] == 0 && ids[1] == 1 && ids[2] == 2);
    for (int trial = 0; trial < 200; trial++) {
        float l[32];
        const int n = 4 + trial % 29, k = 1 + trial % 4;
        for (int i = 0; i < n; i++)
            l[i] = (float)(trial % 5 == 0 ? (double)(int)(urand() * 3) : urand() * 4);
        owb_moe_topk(l, n, k, ids, w);
        /* reference: repeated selection of the max, lowest index among equals */
        bool used[32] = {0};
        double den = 0, mx = -INFINITY;
        int32_t ref[8];
        for (int j = 0; j < k; j++) {
            int best = -1;
            for (int i = 0; i < n; i++)
                if (!used[i] && (best < 0 || l[i] > l[best]))
                    best = i;
            used[best] = true;
            ref[j] = best;
            mx = fmax(mx, (double)l[best]);
        }
        for (int j = 0; j < k; j++)
            den += exp((double)l[ref[j]] - mx);
        for (int j = 0; j < k; j++) {
            CHECK_MSG(ids[j] == ref[j], "trial %d choice %d: %d vs %d", trial, j, ids[j], ref[j]);
            CHECK_NEAR(w[j], exp((double)l[ref[j]] - mx) / den, 1e-6);
        }
    }
}

static void test_group_and_gemm(void)
{
    /* grouping: 5 tokens x 2 choices over 4 experts */
    const int32_t ids[10] = {2, 0, 0, 2, 3, 0, 2, 3, 0, 1};
    int64_t counts[4], offs[5];
    int32_t row_tok[10], tok_row[10];
    owb_moe_group(ids, 5, 2, 4, counts, offs, row_tok, tok_row);
    CHECK(counts[0] == 4 && counts[1] == 1 && counts[2] == 3 && counts[3] == 2);
    CHECK(offs[0] == 0 && offs[1] == 4 && offs[2] == 5 && offs[3] == 8 && offs[4] == 10);
    for (int t = 0; t < 5; t++)
        for (int j = 0; j < 2; j++) {
            const int r = tok_row[t * 2 + j], e = ids[t * 2 + j];
            CHECK(row_tok[r] == t && r >= offs[e] && r < offs[e + 1]);
        }
    for (int e = 0; e < 4; e++) /* token order within an expert */
        for (int64_t r = offs[e] + 1; r < offs[e + 1]; r++)
            CHECK(row_tok[r] > row_tok[r - 1]);

    /* an expert's grouped GEMM == per-token GEMV, for its 2-D slice of a 3-D tensor */
    const enum owb_type types[] = {OWB_TYPE_F32, OWB_TYPE_Q8_0, OWB_TYPE_MXFP4};
    const int64_t m = 48, k = 64, nexp = 3, c = 19;
    float *wf = malloc((size_t)(m * k * nexp) * sizeof(float));
    float *x = malloc((size_t)(c * k) * sizeof(float));
    float *yg = malloc((size_t)(c * m) * sizeof(float)), *y1 = malloc((size_t)m * sizeof(float));
    for (int64_t i = 0; i < m * k * nexp; i++)
        wf[i] = (float)urand();
    for (int64_t i = 0; i < c * k; i++)
        x[i] = (float)urand();
    for (size_t ti = 0; ti < OWB_ARRAY_LEN(types); ti++) {
        const struct owb_type_traits *tr = owb_type_traits(types[ti]);
        const size_t rb = owb_row_size(types[ti], k);
        unsigned char *w = malloc(rb * (size_t)(m * nexp));
        for (int64_t r = 0; r < m * nexp; r++) {
            if (types[ti] == OWB_TYPE_F32)
                memcpy(w + (size_t)r * rb, wf + r * k, rb);
            else
                tr->from_float_ref(wf + r * k, w + (size_t)r * rb, k);
        }
        char err[OWB_ERR_MAX];
        const unsigned char *we = w + 2 * (size_t)m * rb; /* expert 2 */
        CHECK(owb_matmul(types[ti], we, m, k, x, c, yg, err) == 0);
        double maxerr = 0;
        for (int64_t b = 0; b < c; b++) {
            CHECK(owb_matmul(types[ti], we, m, k, x + b * k, 1, y1, err) == 0);
            for (int64_t r = 0; r < m; r++)
                maxerr = fmax(maxerr, fabs((double)yg[b * m + r] - (double)y1[r]));
        }
        CHECK_MSG(maxerr < GEMM_TOL, "%s: grouped GEMM vs GEMV max error %g", tr->name, maxerr);
        free(w);
    }
    free(wf);
    free(x);
    free(yg);
    free(y1);
}

int main(void)
{
    test_softmax_sink();
    test_window();
    test_yarn();
    test_swiglu();
    test_topk();
    test_group_and_gemm();
    TEST_DONE();
}
