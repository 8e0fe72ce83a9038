/* SPDX-License-Identifier: MIT */
/* OWB_TEST_LABELS: gpu */
/*
 * test_backend_cuda.c: every op of the "cuda" backend against the "cpu" backend on the same
 * inputs: matmul of the eight formats at GEMV batches (1, 3, 8), a chunked GEMV batch (11) and
 * GEMM batches (16, 70) on a row range whose ends are not tile multiples; expert-indexed rows;
 * grouped experts (the route equal to the cpu's, rows against the cpu's grouped op);
 * rmsnorm, rope (both layouts), softmax (plain, causal, window, sinks), silu_mul, the gpt-oss
 * SwiGLU, add, embedding rows; KV store + attention (GQA, window, sinks, a sliding layer's ring
 * against the cpu's full cache); the MoE ops (bias by
 * expert, router top-k, weighted sum); a recorded graph replayed at positions read from device
 * memory; buffers, device copy, event timer. Exits 77 naming the reason when the build has no CUDA
 * or no device is usable.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backend.h"
#include "kernels/cuda/cuda.h"
#include "owb_common.h"
#include "owb_test.h"

#define GEMV_REL_TOL 1e-5 /* of sum |w x|: f32 accumulation in another order */
/* of sum |w x|: bf16 weights on the cpu take activations rounded to bf16 (2^-9 relative at most,
 * kernels/matmul.h), the device GEMV reads them in f32 */
#define ACT_BF16_REL_TOL (1.0 / 512.0)
/* of sum |w x|: weights and activations rounded to the tile type, 2^-11 (f16) or 2^-8 (bf16)
 * relative each, so at most about twice that per product, plus f32 accumulation */
#define GEMM_F16_REL_TOL 2e-3
#define GEMM_BF16_REL_TOL 1e-2
#define ATTN_ABS_TOL 2e-5 /* online softmax over up to 257 keys in f32 against two passes */
#define OP_REL_TOL 2e-5   /* row ops: device expf/rsqrtf against libm */
#define OP_ABS_TOL 1e-6

static const struct owb_backend *cpu, *gpu;
static char err[OWB_ERR_MAX];
static uint64_t rng = 0x2545f4914f6cdd1dull;

static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float *rand_f32(int64_t n, float scale)
{
    float *x = malloc(sizeof(float) * (size_t)n);
    OWB_ASSERT(x);
    for (int64_t i = 0; i < n; i++)
        x[i] = scale * frand();
    return x;
}

/* a device copy of host bytes (freed by the caller with owb_buf_free) */
static struct owb_buf dev(const void *host, size_t bytes)
{
    struct owb_buf b;
    OWB_ASSERT(gpu->buf_map(gpu, &b, host, bytes, err) == 0);
    return b;
}

static struct owb_buf dev_zero(size_t bytes)
{
    struct owb_buf b;
    void *z = calloc(1, bytes);
    OWB_ASSERT(z && gpu->buf_map(gpu, &b, z, bytes, err) == 0);
    free(z);
    return b;
}

static void fetch(const struct owb_buf *b, void *dst)
{
    CHECK_MSG(gpu->synchronize(gpu, err) == 0, "%s", err);
    CHECK_MSG(gpu->download(b, 0, dst, b->bytes, err) == 0, "%s", err);
}

static void *rand_weights(enum owb_type t, int64_t m, int64_t k)
{
    const size_t rb = owb_row_size(t, k);
    uint8_t *w = malloc(rb * (size_t)m);
    float *row = rand_f32(k, 1.0f);
    OWB_ASSERT(w);
    for (int64_t r = 0; r < m; r++) {
        for (int64_t i = 0; i < k; i++)
            row[i] = frand();
        owb_type_traits(t)->from_float_ref(row, w + (size_t)r * rb, k);
    }
    free(row);
    return w;
}

static void test_matmul(enum owb_type t, int64_t batch)
{
    const int64_t m = 200, k = 512, r0 = 8, r1 = 197;
    void *W = rand_weights(t, m, k);
    float *X = rand_f32(batch * k, 1.0f);
    float *Yc = calloc((size_t)(batch * m), 4), *Yg = calloc((size_t)(batch * m), 4);
    float *Wf = malloc(sizeof(float) * (size_t)(m * k));
    OWB_ASSERT(Yc && Yg && Wf);
    for (int64_t r = 0; r < m; r++)
        owb_get_row(t, W, r, k, Wf + r * k);
    struct owb_be_mm pc, pg;
    CHECK(cpu->mm_plan(cpu, &pc, t, m, k, batch, err) == 0);
    CHECK_MSG(gpu->mm_plan(gpu, &pg, t, m, k, batch, err) == 0, "%s", err);
    void *act = aligned_alloc(64, (pc.act_bytes + 64) / 64 * 64);
    OWB_ASSERT(act);
    cpu->mm_prepare(&pc, X, k, act, 0, batch);
    cpu->mm_rows(&pc, W, act, X, k, Yc, m, r0, r1);
    struct owb_buf dW = dev(W, owb_row_size(t, k) * (size_t)m);
    struct owb_buf dX = dev(X, sizeof(float) * (size_t)(batch * k));
    struct owb_buf dY = dev_zero(sizeof(float) * (size_t)(batch * m));
    struct owb_buf dA = dev_zero(pg.act_bytes ? pg.act_bytes : 16);
    gpu->mm_prepare(&pg, dX.data, k, dA.data, 0, batch);
    gpu->mm_rows(&pg, dW.data, dA.data, dX.data, k, dY.data, m, r0, r1);
    fetch(&dY, Yg);
    const double act_tol = pc.act_type == OWB_TYPE_BF16 ? ACT_BF16_REL_TOL : 0.0;
    const double tol = !pg.act_bytes                  ? GEMV_REL_TOL + act_tol
                       : pg.act_type == OWB_TYPE_BF16 ? GEMM_BF16_REL_TOL
                                                      : GEMM_F16_REL_TOL;
    long bad = 0;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t r = 0; r < m; r++) {
            double norm = 0.0;
            for (int64_t i = 0; i < k; i++)
                norm += fabs((double)Wf[r * k + i] * (double)X[b * k + i]);
            const float c = Yc[b * m + r], g = Yg[b * m + r];
            const bool inside = r >= r0 && r < r1;
            if (inside ? !(fabs((double)c - (double)g) <= tol * norm + 1e-6) : g != 0.0f) {
                if (bad++ < 3)
                    fprintf(stderr, "%s b%lld row %lld: cpu %g cuda %g\n", pg.path, (long long)b,
                            (long long)r, (double)c, (double)g);
            }
        }
    CHECK_MSG(bad == 0, "%s: %ld outputs differ", pg.path, bad);
    owb_buf_free(&dW);
    owb_buf_free(&dX);
    owb_buf_free(&dY);
    owb_buf_free(&dA);
    free(act);
    free(W);
    free(Wf);
    free(X);
    free(Yc);
    free(Yg);
}

static void test_mm_id(enum owb_type t)
{
    const int64_t n_exp = 4, m = 64, k = 256, n_tok = 3, n_used = 2;
    const size_t eb = owb_row_size(t, k) * (size_t)m;
    uint8_t *W = rand_weights(t, m * n_exp, k); /* experts are consecutive (m, k) slices */
    const int32_t ids[6] = {3, 0, 1, 1, 2, 3};
    for (int64_t xpt = 1; xpt <= n_used; xpt++) {
        const int64_t n_x = n_tok * xpt, ny = n_tok * n_used * m;
        float *X = rand_f32(n_x * k, 1.0f), *Yc = calloc((size_t)ny, 4),
              *Yg = calloc((size_t)ny, 4);
        struct owb_be_mm pc, pg;
        CHECK(cpu->mm_plan(cpu, &pc, t, m, k, 1, err) == 0);
        CHECK(gpu->mm_plan(gpu, &pg, t, m, k, 1, err) == 0);
        uint8_t *act = aligned_alloc(64, (pc.act_bytes * (size_t)n_x + 64) / 64 * 64);
        OWB_ASSERT(Yc && Yg && act);
        for (int64_t i = 0; i < n_x; i++)
            cpu->mm_prepare(&pc, X + i * k, k, act + (size_t)i * pc.act_bytes, 0, 1);
        const struct owb_be_mm_id idc = {ids, n_used, n_exp, eb, xpt};
        cpu->mm_id_rows(&pc, &idc, W, act, X, k, Yc, m, 0, n_tok);
        struct owb_buf dW = dev(W, eb * (size_t)n_exp),
                       dX = dev(X, sizeof(float) * (size_t)(n_x * k));
        struct owb_buf dI = dev(ids, sizeof ids), dY = dev_zero(sizeof(float) * (size_t)ny);
        const struct owb_be_mm_id idg = {dI.data, n_used, n_exp, eb, xpt};
        gpu->mm_id_rows(&pg, &idg, dW.data, NULL, dX.data, k, dY.data, m, 0, n_tok);
        fetch(&dY, Yg);
        float *wr = malloc(sizeof(float) * (size_t)k);
        OWB_ASSERT(wr);
        for (int64_t i = 0; i < ny; i++) {
            double tol = 1e-4 * (fabs((double)Yc[i]) + 1.0);
            if (pc.act_type == OWB_TYPE_BF16 && pg.act_type != OWB_TYPE_BF16) {
                /* output i: token t's choice j, row r of expert ids[t * n_used + j] */
                const int64_t tj = i / m, r = i % m, tok = tj / n_used, j = tj % n_used;
                const float *x = X + (tok * xpt + (xpt > 1 ? j : 0)) * k;
                owb_get_row(t, W, (int64_t)ids[tj] * m + r, k, wr);
                double norm = 0.0;
                for (int64_t e = 0; e < k; e++)
                    norm += fabs((double)wr[e] * (double)x[e]);
                tol += ACT_BF16_REL_TOL * norm;
            }
            CHECK_NEAR(Yg[i], Yc[i], tol);
        }
        free(wr);
        owb_buf_free(&dW);
        owb_buf_free(&dX);
        owb_buf_free(&dI);
        owb_buf_free(&dY);
        free(X);
        free(Yc);
        free(Yg);
        free(act);
    }
    free(W);
}

static void compare_tol(const char *what, const float *c, const float *g, int64_t n, double abs_tol)
{
    long bad = 0;
    for (int64_t i = 0; i < n; i++)
        if (!(fabs((double)c[i] - (double)g[i]) <= OP_REL_TOL * fabs((double)c[i]) + abs_tol))
            if (bad++ < 3)
                fprintf(stderr, "%s [%lld]: cpu %.9g cuda %.9g\n", what, (long long)i, (double)c[i],
                        (double)g[i]);
    CHECK_MSG(bad == 0, "%s: %ld values differ", what, bad);
}

static void compare(const char *what, const float *c, const float *g, int64_t n)
{
    compare_tol(what, c, g, n, OP_ABS_TOL);
}

/* Grouped experts on odd shapes: 7 experts (one never chosen), 3 per token, 37 tokens, rows
 * [8, 197) of 200 (tile ends inside the range): the device route must equal the cpu's, the rows
 * the cpu's grouped rows within the GEMM's tolerance, rows outside the range untouched. */
static void test_mm_grp(enum owb_type t)
{
    const int64_t n_exp = 7, n_tok = 37, n_used = 3, np = n_tok * n_used, m = 200, r0 = 8, r1 = 197;
    const int64_t k = owb_type_traits(t)->blck_size == 256 ? 512 : 288;
    const size_t eb = owb_row_size(t, k) * (size_t)m,
                 rbytes = owb_be_route_bytes(n_tok, n_used, n_exp);
    uint8_t *W = rand_weights(t, m * n_exp, k);
    int32_t ids[37 * 3], route_c[7 + 1 + 37 * 3], route_g[7 + 1 + 37 * 3];
    for (int64_t i = 0; i < n_tok; i++)
        for (int64_t j = 0; j < n_used; j++) {
            int32_t e;
            bool dup;
            do {
                e = (int32_t)((frand() + 1.0f) * 3.0f) % 6;
                dup = false;
                for (int64_t q = 0; q < j; q++)
                    dup |= ids[i * n_used + q] == e;
            } while (dup);
            ids[i * n_used + j] = e;
        }
    cpu->moe_route(ids, n_tok, n_used, n_exp, route_c);
    struct owb_buf dI = dev(ids, sizeof ids), dR = dev_zero(rbytes);
    gpu->moe_route(dI.data, n_tok, n_used, n_exp, dR.data);
    fetch(&dR, route_g);
    CHECK_MSG(memcmp(route_c, route_g, rbytes) == 0, "%s: device route differs", owb_type_name(t));
    struct owb_buf dW = dev(W, eb * (size_t)n_exp);
    for (int64_t xpt = 1; xpt <= n_used; xpt += n_used - 1) {
        const int64_t n_x = n_tok * xpt;
        float *X = rand_f32(n_x * k, 1.0f), *Yc = calloc((size_t)(np * m), 4),
              *Yg = calloc((size_t)(np * m), 4), *wr = malloc(sizeof(float) * (size_t)k);
        struct owb_be_mm pc, pg;
        CHECK(cpu->mm_grp_plan(cpu, &pc, t, m, k, np, n_exp, err) == 0);
        CHECK_MSG(gpu->mm_grp_plan(gpu, &pg, t, m, k, np, n_exp, err) == 0, "%s", err);
        void *act = aligned_alloc(64, (pc.act_bytes + 63) / 64 * 64);
        OWB_ASSERT(Yc && Yg && wr && act);
        const struct owb_be_mm_grp gc = {route_c, n_tok, n_used, eb, xpt};
        cpu->mm_grp_prepare(&pc, &gc, X, k, act, 0, n_exp);
        cpu->mm_grp_rows(&pc, &gc, W, act, Yc, m, r0, r1);
        struct owb_buf dX = dev(X, sizeof(float) * (size_t)(n_x * k));
        struct owb_buf dY = dev_zero(sizeof(float) * (size_t)(np * m)), dA = dev_zero(pg.act_bytes);
        const struct owb_be_mm_grp gg = {dR.data, n_tok, n_used, eb, xpt};
        gpu->mm_grp_prepare(&pg, &gg, dX.data, k, dA.data, 0, 4);
        gpu->mm_grp_prepare(&pg, &gg, dX.data, k, dA.data, 4, n_exp);
        gpu->mm_grp_rows(&pg, &gg, dW.data, dA.data, dY.data, m, r0, r1);
        fetch(&dY, Yg);
        const double tol = pg.act_type == OWB_TYPE_BF16 ? GEMM_BF16_REL_TOL : GEMM_F16_REL_TOL;
        long bad = 0;
        for (int64_t i = 0; i < np * m; i++) {
            const int64_t pi = i / m, r = i % m, xi = xpt > 1 ? pi : pi / n_used;
            owb_get_row(t, W, (int64_t)ids[pi] * m + r, k, wr);
            double norm = 0.0;
            for (int64_t c = 0; c < k; c++)
                norm += fabs((double)wr[c] * (double)X[xi * k + c]);
            const bool inside = r >= r0 && r < r1;
            if (inside ? !(fabs((double)Yc[i] - (double)Yg[i]) <= tol * norm + 1e-6)
                       : Yg[i] != 0.0f) {
                if (bad++ < 3)
                    fprintf(stderr, "%s pair %lld row %lld: cpu %g cuda %g\n", pg.path,
                            (long long)pi, (long long)r, (double)Yc[i], (double)Yg[i]);
            }
        }
        CHECK_MSG(bad == 0, "%s x_per_tok %lld: %ld outputs differ", pg.path, (long long)xpt, bad);
        owb_buf_free(&dX);
        owb_buf_free(&dY);
        owb_buf_free(&dA);
        free(X);
        free(Yc);
        free(Yg);
        free(wr);
        free(act);
    }
    owb_buf_free(&dW);
    owb_buf_free(&dI);
    owb_buf_free(&dR);
    free(W);
}

static void test_row_ops(void)
{
    const int64_t rows = 6, n = 160, ld = 168, sz = rows * ld;
    const size_t bytes = sizeof(float) * (size_t)sz;
    float *x = rand_f32(sz, 4.0f), *g = rand_f32(sz, 10.0f), *w = rand_f32(n, 1.0f);
    float *c = malloc(bytes), *o = malloc(bytes);
    OWB_ASSERT(c && o);
    struct owb_buf dx = dev(x, bytes), dg = dev(g, bytes), dw = dev(w, sizeof(float) * (size_t)n);
    struct owb_buf dy = dev_zero(bytes);

    memcpy(c, x, bytes);
    cpu->rmsnorm(c, x, w, ld, n, 1e-5f, 1, rows);
    CHECK(gpu->upload(&dy, 0, x, bytes, err) == 0);
    gpu->rmsnorm(dy.data, dx.data, dw.data, ld, n, 1e-5f, 1, rows);
    fetch(&dy, o);
    compare("rmsnorm", c, o, sz);

    memcpy(c, x, bytes);
    cpu->silu_mul(c, g, x, ld, n, 0, rows);
    gpu->silu_mul(dy.data, dg.data, dx.data, ld, n, 0, rows);
    fetch(&dy, o);
    compare("silu_mul", c, o, sz);

    cpu->swiglu_oai(c, g, x, ld, n, 1.702f, 7.0f, 0, rows);
    gpu->swiglu_oai(dy.data, dg.data, dx.data, ld, n, 1.702f, 7.0f, 0, rows);
    fetch(&dy, o);
    compare("swiglu_oai", c, o, sz);

    cpu->add(c, g, x, ld, n, 0, rows);
    gpu->add(dy.data, dg.data, dx.data, ld, n, 0, rows);
    fetch(&dy, o);
    compare("add", c, o, sz);

    /* rope: 5 heads of 32 in a row of 160, n_rot 32 (NeoX/YaRN-like magnitudes in the cache) */
    struct owb_rope_cache *rc = malloc(sizeof *rc * (size_t)rows);
    OWB_ASSERT(rc);
    for (int64_t r = 0; r < rows; r++) {
        owb_rope_cache_init(&rc[r], 32, 3 + 977 * r, 150000.0f, 1.0f / 32.0f);
        for (int i = 0; i < 16; i++) {
            rc[r].cos[i] *= 1.3f;
            rc[r].sin[i] *= 1.3f;
        }
    }
    struct owb_buf drc = dev(rc, sizeof *rc * (size_t)rows);
    for (int neox = 0; neox <= 1; neox++) {
        memcpy(c, x, bytes);
        CHECK(gpu->upload(&dy, 0, x, bytes, err) == 0);
        cpu->rope(c, ld, 5, 32, rc, neox, 0, rows);
        gpu->rope(dy.data, ld, 5, 32, drc.data, neox, 0, rows);
        fetch(&dy, o);
        compare(neox ? "rope neox" : "rope", c, o, sz);
    }

    /* softmax: plain, causal, window with sinks (2 heads per token) */
    const float sinks[2] = {0.7f, -1.0f};
    struct owb_buf ds = dev(sinks, sizeof sinks);
    const struct owb_be_softmax cases_c[3] = {
        {1, -1, 0, NULL}, {2, 150, 0, NULL}, {2, 150, 5, sinks}};
    for (int i = 0; i < 3; i++) {
        struct owb_be_softmax sg = cases_c[i];
        sg.sinks = cases_c[i].sinks ? ds.data : NULL;
        memcpy(c, x, bytes);
        CHECK(gpu->upload(&dy, 0, x, bytes, err) == 0);
        cpu->softmax(c, ld, n, &cases_c[i], 0, rows);
        gpu->softmax(dy.data, ld, n, &sg, 0, rows);
        fetch(&dy, o);
        compare("softmax", c, o, sz);
    }

    /* embedding rows of every format */
    const enum owb_type types[] = {OWB_TYPE_F32,  OWB_TYPE_F16,  OWB_TYPE_BF16, OWB_TYPE_Q8_0,
                                   OWB_TYPE_Q4_0, OWB_TYPE_Q4_K, OWB_TYPE_Q6_K, OWB_TYPE_MXFP4};
    const int32_t ids[4] = {9, 0, 3, 9};
    struct owb_buf di = dev(ids, sizeof ids);
    for (size_t i = 0; i < OWB_ARRAY_LEN(types); i++) {
        void *E = rand_weights(types[i], 10, 256);
        float ec[4 * 256], eg[4 * 256];
        struct owb_buf dE = dev(E, owb_row_size(types[i], 256) * 10);
        struct owb_buf de = dev_zero(sizeof eg);
        CHECK(cpu->get_rows(types[i], E, 256, ids, ec, 256, 0, 4) == 0);
        CHECK(gpu->get_rows(types[i], dE.data, 256, di.data, de.data, 256, 0, 4) == 0);
        fetch(&de, eg);
        compare(owb_type_name(types[i]), ec, eg, 4 * 256);
        owb_buf_free(&dE);
        owb_buf_free(&de);
        free(E);
    }
    owb_buf_free(&di);
    owb_buf_free(&ds);
    owb_buf_free(&drc);
    owb_buf_free(&dx);
    owb_buf_free(&dg);
    owb_buf_free(&dw);
    owb_buf_free(&dy);
    free(rc);
    free(x);
    free(g);
    free(w);
    free(c);
    free(o);
}

static void test_attn(int64_t hd, int64_t window, bool with_sinks)
{
    const int64_t n_head = 8, n_kv = 2, n_ctx = 300, n_tok = 7, pos = 250;
    const int64_t kvd = n_kv * hd, qd = n_head * hd;
    const size_t cache = sizeof(float) * (size_t)(n_kv * n_ctx * hd);
    float *k = rand_f32((pos + n_tok) * kvd, 1.0f), *v = rand_f32((pos + n_tok) * kvd, 1.0f);
    float *q = rand_f32(n_tok * qd, 1.0f), *sinks = rand_f32(n_head, 2.0f);
    float *oc = malloc(sizeof(float) * (size_t)(n_tok * qd)),
          *og = malloc(sizeof(float) * (size_t)(n_tok * qd));
    float *kc = calloc(1, cache), *vc = calloc(1, cache);
    OWB_ASSERT(oc && og && kc && vc);
    struct owb_buf dk = dev(k, sizeof(float) * (size_t)((pos + n_tok) * kvd));
    struct owb_buf dv = dev(v, sizeof(float) * (size_t)((pos + n_tok) * kvd));
    struct owb_buf dq = dev(q, sizeof(float) * (size_t)(n_tok * qd)),
                   dsk = dev(sinks, 4 * (size_t)n_head);
    struct owb_buf dkc = dev_zero(cache), dvc = dev_zero(cache),
                   dout = dev_zero(sizeof(float) * (size_t)(n_tok * qd));
    struct owb_be_attn a = {
        n_head, n_kv, hd, n_ctx, 0, window, with_sinks ? sinks : NULL, 1.0f / sqrtf((float)hd),
        NULL,   0};
    struct owb_be_attn ag = a;
    ag.sinks = with_sinks ? dsk.data : NULL;
    cpu->kv_store(kc, vc, k, v, kvd, &a, pos + n_tok);
    gpu->kv_store(dkc.data, dvc.data, dk.data, dv.data, kvd, &ag, pos + n_tok);
    a.pos = ag.pos = pos;
    cpu->attn(oc, q, kc, vc, &a, 0, n_tok);
    gpu->attn(dout.data, dq.data, dkc.data, dvc.data, &ag, 0, n_tok);
    fetch(&dout, og);
    compare_tol("attention", oc, og, n_tok * qd, ATTN_ABS_TOL);
    float *kcg = malloc(cache);
    OWB_ASSERT(kcg);
    fetch(&dkc, kcg);
    CHECK(memcmp(kc, kcg, cache) == 0);
    free(kcg);
    struct owb_buf *bufs[] = {&dk, &dv, &dq, &dsk, &dkc, &dvc, &dout};
    for (size_t i = 0; i < OWB_ARRAY_LEN(bufs); i++)
        owb_buf_free(bufs[i]);
    free(k);
    free(v);
    free(q);
    free(sinks);
    free(oc);
    free(og);
    free(kc);
    free(vc);
}

/* A sliding layer's ring on the device (cap = window + 7 slots, written in chunks of 7 and then
 * token by token past its end several times) against the cpu's full cache. */
static void test_attn_ring(int64_t hd, int64_t window)
{
    const int64_t n_head = 8, n_kv = 2, n_ctx = 300, nb = 7, n = 200, cap = window + nb;
    const int64_t kvd = n_kv * hd, qd = n_head * hd;
    float *k = rand_f32(n * kvd, 1.0f), *v = rand_f32(n * kvd, 1.0f), *q = rand_f32(n * qd, 1.0f);
    float *sinks = rand_f32(n_head, 2.0f), *oc = malloc(sizeof(float) * (size_t)(nb * qd)),
          *og = malloc(sizeof(float) * (size_t)(nb * qd));
    float *kc = calloc((size_t)(n_ctx * kvd), 4), *vc = calloc((size_t)(n_ctx * kvd), 4);
    OWB_ASSERT(oc && og && kc && vc);
    struct owb_buf dk = dev(k, sizeof(float) * (size_t)(n * kvd)),
                   dv = dev(v, sizeof(float) * (size_t)(n * kvd));
    struct owb_buf dq = dev(q, sizeof(float) * (size_t)(n * qd)),
                   dsk = dev(sinks, 4 * (size_t)n_head);
    struct owb_buf dkc = dev_zero(sizeof(float) * (size_t)(cap * kvd)),
                   dvc = dev_zero(sizeof(float) * (size_t)(cap * kvd)),
                   dout = dev_zero(sizeof(float) * (size_t)(nb * qd));
    for (int64_t pos = 0; pos < n;) {
        const int64_t c = pos < 150 ? (n - pos < nb ? n - pos : nb) : 1;
        struct owb_be_attn a = {
            n_head, n_kv, hd, n_ctx, pos, window, sinks, 1.0f / sqrtf((float)hd), NULL, 0};
        struct owb_be_attn ag = a;
        ag.sinks = dsk.data;
        ag.cap = cap;
        cpu->kv_store(kc, vc, k + pos * kvd, v + pos * kvd, kvd, &a, c);
        gpu->kv_store(dkc.data, dvc.data, (float *)dk.data + pos * kvd,
                      (float *)dv.data + pos * kvd, kvd, &ag, c);
        cpu->attn(oc, q + pos * qd, kc, vc, &a, 0, c);
        gpu->attn(dout.data, (float *)dq.data + pos * qd, dkc.data, dvc.data, &ag, 0, c);
        fetch(&dout, og);
        compare_tol("attention over a ring", oc, og, c * qd, ATTN_ABS_TOL);
        pos += c;
    }
    struct owb_buf *bufs[] = {&dk, &dv, &dq, &dsk, &dkc, &dvc, &dout};
    for (size_t i = 0; i < OWB_ARRAY_LEN(bufs); i++)
        owb_buf_free(bufs[i]);
    free(k);
    free(v);
    free(q);
    free(sinks);
    free(oc);
    free(og);
    free(kc);
    free(vc);
}

/* the cuBLAS baseline computes the same product (f16/bf16 weights, activations rounded alike) */
static void test_cublas(enum owb_type t, int64_t batch)
{
    const int64_t m = 96, k = 256;
    void *W = rand_weights(t, m, k);
    float *X = rand_f32(batch * k, 1.0f), *Yc = calloc((size_t)(batch * m), 4);
    float *Yg = calloc((size_t)(batch * m), 4);
    OWB_ASSERT(Yc && Yg);
    CHECK(owb_matmul(t, W, m, k, X, batch, Yc, err) == 0);
    struct owb_buf dW = dev(W, owb_row_size(t, k) * (size_t)m);
    struct owb_buf dX = dev(X, sizeof(float) * (size_t)(batch * k));
    struct owb_buf dY = dev_zero(sizeof(float) * (size_t)(batch * m));
    struct owb_buf dA = dev_zero((size_t)(batch * k) * 2);
    int rc = owb_cuda_cublas_matmul(t, dW.data, dX.data, dA.data, dY.data, m, k, batch, err);
    if (rc == OWB_E_UNSUPPORTED) {
        fprintf(stderr, "note: no cuBLAS baseline: %s\n", err);
    } else {
        CHECK_MSG(rc == 0, "%s", err);
        fetch(&dY, Yg);
        for (int64_t i = 0; i < batch * m; i++)
            CHECK_NEAR(Yg[i], Yc[i], GEMM_BF16_REL_TOL * 16.0);
    }
    owb_buf_free(&dW);
    owb_buf_free(&dX);
    owb_buf_free(&dY);
    owb_buf_free(&dA);
    free(W);
    free(X);
    free(Yc);
    free(Yg);
}

static void test_copy_timer(void)
{
    const size_t n = 1 << 20;
    float *x = rand_f32((int64_t)n, 1.0f), *y = malloc(n * 4);
    struct owb_buf a = dev(x, n * 4), b = dev_zero(n * 4);
    struct owb_be_timer t0, t1;
    OWB_ASSERT(y);
    CHECK(gpu->timer_init(gpu, &t0, err) == 0 && gpu->timer_init(gpu, &t1, err) == 0);
    gpu->timer_mark(&t0);
    CHECK(gpu->copy(&b, 0, &a, 0, n * 4, err) == 0);
    gpu->timer_mark(&t1);
    CHECK(gpu->timer_elapsed_ns(&t0, &t1) > 0.0);
    fetch(&b, y);
    CHECK(memcmp(x, y, n * 4) == 0);
    CHECK(gpu->copy(&b, 8, &a, 0, n * 4, err) == OWB_E_USAGE);
    gpu->timer_release(&t0);
    gpu->timer_release(&t1);
    owb_buf_free(&a);
    owb_buf_free(&b);
    free(x);
    free(y);
}

/* MoE ops: add_bias (broadcast, by id), topk (the same ids and weights), moe_sum. */
static void test_moe_ops(void)
{
    const int64_t rows = 7, n = 200, ld = 208, X = 32, K = 4, NR = rows * K;
    float *x = rand_f32(NR * ld, 2.0f), *b = rand_f32(X * n, 1.0f), *lg = rand_f32(rows * X, 3.0f);
    float *c = malloc(sizeof(float) * (size_t)(NR * ld)),
          *o = malloc(sizeof(float) * (size_t)(NR * ld));
    int32_t ids[7 * 4], gids[7 * 4];
    float w[7 * 4], gw[7 * 4];
    OWB_ASSERT(c && o);
    lg[3 * X + 5] = lg[3 * X + 9] = 10.0f; /* a tie at the top: lower index first on both */
    for (int64_t i = 0; i < NR; i++)
        ids[i] = (int32_t)((i * 7 + 3) % X);
    struct owb_buf dx = dev(x, sizeof(float) * (size_t)(NR * ld)), db = dev(b, 4 * (size_t)(X * n));
    struct owb_buf dy = dev_zero(sizeof(float) * (size_t)(NR * ld)), di = dev(ids, sizeof ids);
    struct owb_buf dl = dev(lg, 4 * (size_t)(rows * X)), dsel = dev_zero(sizeof gids),
                   dw = dev_zero(sizeof gw);
    memcpy(c, x, sizeof(float) * (size_t)(NR * ld));
    CHECK(gpu->upload(&dy, 0, x, dy.bytes, err) == 0);
    cpu->add_bias(c, x, b, 0, NULL, ld, n, 1, rows);
    gpu->add_bias(dy.data, dx.data, db.data, 0, NULL, ld, n, 1, rows);
    fetch(&dy, o);
    compare("add_bias", c, o, NR * ld);
    cpu->add_bias(c, x, b, n, ids, ld, n, 0, NR);
    gpu->add_bias(dy.data, dx.data, db.data, n, di.data, ld, n, 0, NR);
    fetch(&dy, o);
    compare("add_bias by id", c, o, NR * ld);

    cpu->topk(lg, X, X, K, 2.5f, ids, w, 0, rows);
    gpu->topk(dl.data, X, X, K, 2.5f, dsel.data, dw.data, 0, rows);
    fetch(&dsel, gids);
    fetch(&dw, gw);
    CHECK(memcmp(ids, gids, sizeof ids) == 0);
    compare("topk weights", w, gw, NR);

    float *wr = rand_f32(NR, 1.0f);
    struct owb_buf dwr = dev(wr, 4 * (size_t)NR);
    CHECK(gpu->upload(&dy, 0, c, dy.bytes, err) == 0);
    cpu->moe_sum(c, x, wr, K, ld, n, 0, rows);
    gpu->moe_sum(dy.data, dx.data, dwr.data, K, ld, n, 0, rows);
    fetch(&dy, o);
    compare("moe_sum", c, o, NR * ld);
    struct owb_buf *bufs[] = {&dx, &db, &dy, &di, &dl, &dsel, &dw, &dwr};
    for (size_t i = 0; i < OWB_ARRAY_LEN(bufs); i++)
        owb_buf_free(bufs[i]);
    free(x);
    free(b);
    free(lg);
    free(c);
    free(o);
    free(wr);
}

/* A recorded graph replays with what it reads from device memory now: kv_store + attention at a
 * position in device memory, recorded once, launched at two positions, against plain ops. */
static void test_graph(void)
{
    const int64_t n_head = 4, n_kv = 2, hd = 64, n_ctx = 40, kvd = n_kv * hd, qd = n_head * hd;
    const size_t cache = sizeof(float) * (size_t)(n_kv * n_ctx * hd);
    float *k = rand_f32(kvd, 1.0f), *v = rand_f32(kvd, 1.0f), *q = rand_f32(qd, 1.0f);
    float *og = malloc(sizeof(float) * (size_t)qd), *op = malloc(sizeof(float) * (size_t)qd);
    OWB_ASSERT(og && op);
    struct owb_buf dk = dev(k, 4 * (size_t)kvd), dv = dev(v, 4 * (size_t)kvd),
                   dq = dev(q, 4 * (size_t)qd);
    struct owb_buf kc[2] = {dev_zero(cache), dev_zero(cache)},
                   vc[2] = {dev_zero(cache), dev_zero(cache)};
    struct owb_buf out[2] = {dev_zero(4 * (size_t)qd), dev_zero(4 * (size_t)qd)};
    int64_t p0 = 0;
    struct owb_buf dpos = dev(&p0, sizeof p0);
    struct owb_be_attn a = {n_head, n_kv, hd, n_ctx, 0, 0, NULL, 0.125f, dpos.data, 0};
    void *graph = NULL;
    CHECK_MSG(gpu->graph_begin(gpu, err) == 0, "%s", err);
    gpu->kv_store(kc[0].data, vc[0].data, dk.data, dv.data, kvd, &a, 1);
    gpu->attn(out[0].data, dq.data, kc[0].data, vc[0].data, &a, 0, 1);
    CHECK_MSG(gpu->graph_end(gpu, &graph, err) == 0 && graph, "%s", err);
    for (int64_t pos = 3; pos <= 17 && graph; pos += 14) {
        CHECK(gpu->upload(&dpos, 0, &pos, sizeof pos, err) == 0);
        CHECK_MSG(gpu->graph_launch(gpu, graph, err) == 0, "%s", err);
        struct owb_be_attn ap = a;
        ap.dpos = NULL;
        ap.pos = pos;
        gpu->kv_store(kc[1].data, vc[1].data, dk.data, dv.data, kvd, &ap, 1);
        gpu->attn(out[1].data, dq.data, kc[1].data, vc[1].data, &ap, 0, 1);
        fetch(&out[0], og);
        fetch(&out[1], op);
        CHECK_MSG(memcmp(og, op, 4 * (size_t)qd) == 0, "graph at position %lld", (long long)pos);
    }
    gpu->graph_free(graph);
    struct owb_buf *bufs[] = {&dk,    &dv,    &dq,     &kc[0],  &kc[1],
                              &vc[0], &vc[1], &out[0], &out[1], &dpos};
    for (size_t i = 0; i < OWB_ARRAY_LEN(bufs); i++)
        owb_buf_free(bufs[i]);
    free(k);
    free(v);
    free(q);
    free(og);
    free(op);
}

int main(void)
{
    char why[OWB_ERR_MAX];
    if (owb_backend_open("cuda", &gpu, why) != 0)
        SKIP("%s", why);
    cpu = owb_backend_get("cpu");
    const enum owb_type types[] = {OWB_TYPE_F32,  OWB_TYPE_F16,  OWB_TYPE_BF16, OWB_TYPE_Q8_0,
                                   OWB_TYPE_Q4_0, OWB_TYPE_Q4_K, OWB_TYPE_Q6_K, OWB_TYPE_MXFP4};
    const int64_t batches[] = {1, 3, 8, 11, 16, 70};
    for (size_t i = 0; i < OWB_ARRAY_LEN(types); i++) {
        for (size_t b = 0; b < OWB_ARRAY_LEN(batches); b++)
            test_matmul(types[i], batches[b]);
        test_mm_id(types[i]);
        test_mm_grp(types[i]);
    }
    test_row_ops();
    test_attn(64, 0, false);
    test_attn(64, 128, true);
    test_attn(128, 0, true);
    test_attn_ring(64, 16);
    test_attn_ring(128, 40);
    test_moe_ops();
    test_graph();
    test_copy_timer();
    test_cublas(OWB_TYPE_F16, 1);
    test_cublas(OWB_TYPE_BF16, 40);
    TEST_DONE();
}
