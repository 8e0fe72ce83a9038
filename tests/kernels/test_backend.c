/* SPDX-License-Identifier: MIT */
/*
 * test_backend.c: the backend registry and the "cpu" backend (kernels/backend.h). The cpu table
 * must give the same bits as calling kernels/matmul.h and kernels/ops.h directly: matmul of all
 * eight fast formats at GEMV and GEMM batch sizes (rows split in two ranges as two threads would),
 * expert-indexed rows against per-expert calls, grouped experts (route, the kernels' bits at
 * each expert's row count, split ranges, per-token GEMVs within GRP_GEMV_REL_TOL), rmsnorm, rope,
 * softmax, silu_mul, add, get_rows. The ops written in the backend itself (softmax with window and
 * sinks, gpt-oss SwiGLU, attention over a KV cache) are held against float64 formulas, a sliding
 * layer's ring cache against the full one. Buffers: map does not copy, range errors are reported,
 * copy/upload/download round-trip. "cuda": unknown without CUDA, otherwise either usable or
 * unavailable with a reason.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backend.h"
#include "owb_common.h"
#include "owb_config.h"
#include "owb_test.h"

#define SOFTMAX_REL_TOL 1e-5 /* expf + a float normalisation against float64 */
#define SWIGLU_REL_TOL 1e-5
#define ATTN_ABS_TOL 1e-5 /* outputs are convex mixes of values in [-1, 1] */
/* grouped expert rows (a GEMM at the expert's row count) against per-token GEMVs: the same
 * prepared activations, other float orders of the same sums; over sum |w_i x_i| of the row */
#define GRP_GEMV_REL_TOL 2e-6

static uint64_t rng = 88172645463325252ull;

static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float *rand_f32(int64_t n)
{
    float *x = malloc(sizeof(float) * (size_t)n);
    OWB_ASSERT(x);
    for (int64_t i = 0; i < n; i++)
        x[i] = frand();
    return x;
}

static void *rand_weights(enum owb_type t, int64_t m, int64_t k)
{
    const size_t rb = owb_row_size(t, k);
    uint8_t *w = malloc(rb * (size_t)m);
    float *row = rand_f32(k);
    const struct owb_type_traits *tr = owb_type_traits(t);
    OWB_ASSERT(w && tr && tr->from_float_ref);
    for (int64_t r = 0; r < m; r++) {
        for (int64_t i = 0; i < k; i++)
            row[i] = frand();
        tr->from_float_ref(row, w + (size_t)r * rb, k);
    }
    free(row);
    return w;
}

static const struct owb_backend *cpu;

static void test_registry(void)
{
    char why[OWB_ERR_MAX] = "";
    const struct owb_backend *be = NULL;
    CHECK(owb_backend_get("cpu") == &owb_backend_cpu);
    CHECK(owb_backend_get("nope") == NULL && owb_backend_get(NULL) == NULL);
    CHECK(owb_backend_open("cpu", &be, why) == 0 && be == &owb_backend_cpu);
    CHECK(owb_backend_open("tpu", &be, why) == OWB_E_USAGE && be == NULL);
    CHECK(strstr(why, "tpu") != NULL);
    int rc = owb_backend_open("cuda", &be, why);
#if OWB_HAVE_CUDA
    CHECK(owb_backend_get("cuda") != NULL);
    CHECK_MSG(rc == 0 || (rc == OWB_E_UNSUPPORTED && strncmp(why, "cuda: ", 6) == 0 && why[6]),
              "rc %d, %s", rc, why);
    if (rc)
        fprintf(stderr, "note: %s\n", why);
#else
    CHECK(owb_backend_get("cuda") == NULL);
    CHECK_MSG(rc == OWB_E_UNSUPPORTED && strstr(why, "built without CUDA"), "rc %d, %s", rc, why);
#endif
}

static void test_buffers(void)
{
    char err[OWB_ERR_MAX] = "";
    struct owb_buf a, b, m;
    float src[100], dst[100];
    for (int i = 0; i < 100; i++)
        src[i] = (float)i;
    CHECK(cpu->buf_alloc(cpu, &a, sizeof src, err) == 0 && a.data && a.owned && a.be == cpu);
    CHECK(cpu->buf_alloc(cpu, &b, sizeof src, err) == 0);
    CHECK(cpu->upload(&a, 0, src, sizeof src, err) == 0);
    CHECK(cpu->copy(&b, 0, &a, 0, sizeof src, err) == 0);
    CHECK(cpu->download(&b, 0, dst, sizeof dst, err) == 0 && memcmp(src, dst, sizeof src) == 0);
    CHECK(cpu->upload(&a, 8, src, sizeof src, err) == OWB_E_USAGE && strstr(err, "offset 8"));
    CHECK(cpu->download(&a, sizeof src + 1, dst, 0, err) == OWB_E_USAGE);
    CHECK(cpu->buf_map(cpu, &m, src, sizeof src, err) == 0 && m.data == (void *)src && !m.owned);
    owb_buf_free(&m);
    CHECK(m.data == NULL && src[99] == 99.0f);
    owb_buf_free(&a);
    owb_buf_free(&b);
    owb_buf_free(&b); /* freed buffer: no-op */
    CHECK(cpu->buf_alloc(cpu, &a, 0, err) == 0 && a.data == NULL);
    owb_buf_free(&a);
}

static void test_matmul(enum owb_type t, int64_t m, int64_t k, int64_t batch)
{
    char err[OWB_ERR_MAX] = "";
    void *W = rand_weights(t, m, k);
    float *X = rand_f32(batch * k);
    float *Y0 = calloc((size_t)(batch * m), sizeof(float));
    float *Y1 = calloc((size_t)(batch * m), sizeof(float));
    struct owb_matmul_plan p;
    struct owb_be_mm bp;
    OWB_ASSERT(Y0 && Y1);
    CHECK(owb_matmul_plan_init(&p, t, m, k, batch, owb_isa_active(), err) == 0);
    CHECK(cpu->mm_plan(cpu, &bp, t, m, k, batch, err) == 0);
    CHECK(bp.act_bytes == owb_matmul_act_bytes(&p) && strcmp(bp.path, p.path) == 0);
    const size_t ab = bp.act_bytes ? bp.act_bytes : 64;
    void *act0 = aligned_alloc(64, (ab + 63) / 64 * 64),
         *act1 = aligned_alloc(64, (ab + 63) / 64 * 64);
    OWB_ASSERT(act0 && act1);
    owb_matmul_prepare(&p, X, k, act0, 0, batch);
    owb_matmul_rows(&p, W, act0, X, k, Y0, m, 0, m);
    /* the backend, split as two threads would split it */
    const int64_t bh = batch / 2, rh = m / 2 / OWB_MATMUL_ROW_ALIGN * OWB_MATMUL_ROW_ALIGN;
    cpu->mm_prepare(&bp, X, k, act1, 0, bh);
    cpu->mm_prepare(&bp, X, k, act1, bh, batch);
    cpu->mm_rows(&bp, W, act1, X, k, Y1, m, 0, rh);
    cpu->mm_rows(&bp, W, act1, X, k, Y1, m, rh, m);
    CHECK_MSG(memcmp(Y0, Y1, sizeof(float) * (size_t)(batch * m)) == 0,
              "%s %lldx%lld batch %lld: backend differs from the kernels", owb_type_name(t),
              (long long)m, (long long)k, (long long)batch);
    free(act0);
    free(act1);
    free(W);
    free(X);
    free(Y0);
    free(Y1);
}

static void test_mm_id(enum owb_type t)
{
    char err[OWB_ERR_MAX] = "";
    const int64_t n_exp = 4, m = 32, k = 256, n_tok = 3, n_used = 2;
    const size_t eb = owb_row_size(t, k) * (size_t)m;
    uint8_t *W = malloc(eb * (size_t)n_exp);
    OWB_ASSERT(W);
    for (int64_t e = 0; e < n_exp; e++) {
        void *we = rand_weights(t, m, k);
        memcpy(W + (size_t)e * eb, we, eb);
        free(we);
    }
    const int32_t ids[6] = {3, 0, 1, 1, 2, 3};
    for (int64_t xpt = 1; xpt <= n_used; xpt++) {
        const int64_t n_x = n_tok * xpt;
        float *X = rand_f32(n_x * k), *Y = calloc((size_t)(n_tok * n_used * m), sizeof(float));
        float *ref = calloc((size_t)m, sizeof(float));
        struct owb_be_mm bp;
        CHECK(cpu->mm_plan(cpu, &bp, t, m, k, 1, err) == 0);
        uint8_t *act = aligned_alloc(64, (bp.act_bytes * (size_t)n_x + 64) / 64 * 64);
        OWB_ASSERT(X && Y && ref && act);
        for (int64_t i = 0; i < n_x; i++)
            cpu->mm_prepare(&bp, X + i * k, k, act + (size_t)i * bp.act_bytes, 0, 1);
        const struct owb_be_mm_id id = {ids, n_used, n_exp, eb, xpt};
        cpu->mm_id_rows(&bp, &id, W, act, X, k, Y, m, 0, 1);
        cpu->mm_id_rows(&bp, &id, W, act, X, k, Y, m, 1, n_tok);
        for (int64_t tk = 0; tk < n_tok; tk++)
            for (int64_t j = 0; j < n_used; j++) {
                const int64_t xi = tk * xpt + (xpt > 1 ? j : 0);
                CHECK(owb_matmul(t, W + (size_t)ids[tk * n_used + j] * eb, m, k, X + xi * k, 1, ref,
                                 err) == 0);
                CHECK_MSG(memcmp(ref, Y + (tk * n_used + j) * m, sizeof(float) * (size_t)m) == 0,
                          "%s mm_id token %lld choice %lld", owb_type_name(t), (long long)tk,
                          (long long)j);
            }
        free(X);
        free(Y);
        free(ref);
        free(act);
    }
    free(W);
}

/* Grouped expert matmul on odd shapes: 7 experts (one never chosen), 3 of them per token, 37
 * tokens, 100 output rows. The route sorts the pairs by expert in token order; every result row
 * is the same bits as the kernels' matmul of that expert at its row count over its gathered rows
 * (the definition, model/gptoss.c's grouping), the same bits whatever the expert and row ranges
 * (threads) and for a second weight of the same shape on the rows prepared for the first, and
 * within GRP_GEMV_REL_TOL of the per-token GEMVs of mm_id_rows. */
static void test_mm_grp(enum owb_type t)
{
    char err[OWB_ERR_MAX] = "";
    const int64_t n_exp = 7, n_tok = 37, n_used = 3, m = 100, np = n_tok * n_used;
    const int64_t k = owb_type_traits(t)->blck_size == 256 ? 512 : 288;
    const size_t eb = owb_row_size(t, k) * (size_t)m;
    uint8_t *W = rand_weights(t, m * n_exp, k); /* experts are consecutive (m, k) slices */
    uint8_t *W2 = rand_weights(t, m * n_exp, k);
    int32_t ids[37 * 3], route[7 + 1 + 37 * 3];
    for (int64_t i = 0; i < n_tok; i++)
        for (int64_t j = 0; j < n_used; j++) {
            int32_t e;
            bool dup;
            do { /* distinct experts of 0..5 per token, as a top-k picks them */
                e = (int32_t)((frand() + 1.0f) * 3.0f) % 6;
                dup = false;
                for (int64_t q = 0; q < j; q++)
                    dup |= ids[i * n_used + q] == e;
            } while (dup);
            ids[i * n_used + j] = e;
        }
    cpu->moe_route(ids, n_tok, n_used, n_exp, route);
    const int32_t *off = route, *pair = route + n_exp + 1;
    int64_t biggest = 0;
    CHECK(off[0] == 0 && off[n_exp] == np && off[n_exp - 1] == off[n_exp]);
    for (int64_t e = 0; e < n_exp; e++) {
        biggest = off[e + 1] - off[e] > biggest ? off[e + 1] - off[e] : biggest;
        for (int64_t r = off[e]; r < off[e + 1]; r++)
            CHECK_MSG(ids[pair[r]] == e && (r == off[e] || pair[r] > pair[r - 1]),
                      "route row %lld: pair %d of expert %d under expert %lld", (long long)r,
                      pair[r], ids[pair[r]], (long long)e);
    }
    CHECK_MSG(biggest > 16, "an expert takes the GEMM path (%lld rows)", (long long)biggest);

    for (int64_t xpt = 1; xpt <= n_used; xpt += n_used - 1) {
        const int64_t n_x = n_tok * xpt;
        float *X = rand_f32(n_x * k), *Y0 = malloc(sizeof(float) * (size_t)(np * m));
        float *Y1 = malloc(sizeof(float) * (size_t)(np * m));
        float *Yi = calloc((size_t)(np * m), sizeof(float));
        float *xg = malloc(sizeof(float) * (size_t)(np * k));
        float *ref = malloc(sizeof(float) * (size_t)(np * m)), *wr = rand_f32(k);
        struct owb_be_mm gp, bp;
        CHECK(cpu->mm_grp_plan(cpu, &gp, t, m, k, np + 5, n_exp, err) == 0);
        CHECK(cpu->mm_plan(cpu, &bp, t, m, k, 1, err) == 0);
        uint8_t *act = aligned_alloc(64, (gp.act_bytes + 63) / 64 * 64);
        uint8_t *act1 = aligned_alloc(64, (bp.act_bytes * (size_t)n_x + 64) / 64 * 64);
        OWB_ASSERT(X && Y0 && Y1 && Yi && xg && ref && act && act1);
        for (int64_t i = 0; i < np * m; i++)
            Y0[i] = Y1[i] = NAN; /* every row must be written */
        const struct owb_be_mm_grp g = {route, n_tok, n_used, eb, xpt};
        cpu->mm_grp_prepare(&gp, &g, X, k, act, 0, n_exp);
        cpu->mm_grp_rows(&gp, &g, W, act, Y0, m, 0, m);
        /* as two threads would split it */
        const int64_t rh = m / 2 / OWB_MATMUL_ROW_ALIGN * OWB_MATMUL_ROW_ALIGN;
        memset(act, 0xff, gp.act_bytes);
        cpu->mm_grp_prepare(&gp, &g, X, k, act, 3, n_exp);
        cpu->mm_grp_prepare(&gp, &g, X, k, act, 0, 3);
        cpu->mm_grp_rows(&gp, &g, W, act, Y1, m, rh, m);
        cpu->mm_grp_rows(&gp, &g, W, act, Y1, m, 0, rh);
        CHECK_MSG(memcmp(Y0, Y1, sizeof(float) * (size_t)(np * m)) == 0,
                  "%s grouped x_per_tok %lld: split ranges differ", owb_type_name(t),
                  (long long)xpt);
        /* a second weight of the same shape (up after gate) on the rows prepared already */
        cpu->mm_grp_rows(&gp, &g, W2, act, Y1, m, 0, m);
        /* the definition: each expert's gathered rows through the kernels at its row count */
        for (int64_t e = 0; e < n_exp; e++) {
            const int64_t c = off[e + 1] - off[e];
            if (!c)
                continue;
            for (int64_t r = 0; r < c; r++) {
                const int64_t pi = pair[off[e] + r], xi = xpt > 1 ? pi : pi / n_used;
                memcpy(xg + r * k, X + xi * k, sizeof(float) * (size_t)k);
            }
            CHECK(owb_matmul(t, W + (size_t)e * eb, m, k, xg, c, ref, err) == 0);
            for (int64_t r = 0; r < c; r++)
                CHECK_MSG(
                    memcmp(ref + r * m, Y0 + pair[off[e] + r] * m, sizeof(float) * (size_t)m) == 0,
                    "%s grouped expert %lld row %lld (pair %d): not the kernels' bits",
                    owb_type_name(t), (long long)e, (long long)r, pair[off[e] + r]);
            CHECK(owb_matmul(t, W2 + (size_t)e * eb, m, k, xg, c, ref, err) == 0);
            for (int64_t r = 0; r < c; r++)
                CHECK_MSG(
                    memcmp(ref + r * m, Y1 + pair[off[e] + r] * m, sizeof(float) * (size_t)m) == 0,
                    "%s grouped second weight, expert %lld row %lld: not the kernels' bits",
                    owb_type_name(t), (long long)e, (long long)r);
        }
        /* per-token GEMVs */
        for (int64_t i = 0; i < n_x; i++)
            cpu->mm_prepare(&bp, X + i * k, k, act1 + (size_t)i * bp.act_bytes, 0, 1);
        const struct owb_be_mm_id id = {ids, n_used, n_exp, eb, xpt};
        cpu->mm_id_rows(&bp, &id, W, act1, X, k, Yi, m, 0, n_tok);
        double worst = 0;
        for (int64_t i = 0; i < np * m; i++) {
            const int64_t pi = i / m, r = i % m, xi = xpt > 1 ? pi : pi / n_used;
            owb_get_row(t, W, (int64_t)ids[pi] * m + r, k, wr);
            double norm = 0.0;
            for (int64_t c = 0; c < k; c++)
                norm += fabs((double)wr[c] * (double)X[xi * k + c]);
            worst = fmax(worst, fabs((double)Y0[i] - (double)Yi[i]) / (norm + 1e-30));
        }
        CHECK_MSG(worst <= GRP_GEMV_REL_TOL, "%s grouped vs per-token GEMV: %.3g > %g",
                  owb_type_name(t), worst, GRP_GEMV_REL_TOL);
        printf("grouped %-6s x_per_tok %lld: vs per-token GEMV max %.2g of sum|w x|\n",
               owb_type_name(t), (long long)xpt, worst);
        free(X);
        free(Y0);
        free(Y1);
        free(Yi);
        free(xg);
        free(ref);
        free(wr);
        free(act);
        free(act1);
    }
    free(W);
    free(W2);
}

static void test_row_ops(void)
{
    const int64_t rows = 5, n = 96, ld = 100;
    float *x = rand_f32(rows * ld), *w = rand_f32(n), *g = rand_f32(rows * ld);
    float *y0 = calloc((size_t)(rows * ld), sizeof(float)), *y1 = calloc((size_t)(rows * ld), 4);
    OWB_ASSERT(y0 && y1);
    /* rmsnorm */
    for (int64_t r = 0; r < rows; r++)
        owb_rmsnorm(y0 + r * ld, x + r * ld, w, n, 1e-5f);
    cpu->rmsnorm(y1, x, w, ld, n, 1e-5f, 0, 2);
    cpu->rmsnorm(y1, x, w, ld, n, 1e-5f, 2, rows);
    CHECK(memcmp(y0, y1, sizeof(float) * (size_t)(rows * ld)) == 0);
    /* silu_mul, add */
    for (int64_t r = 0; r < rows; r++)
        owb_silu_mul(y0 + r * ld, g + r * ld, x + r * ld, n);
    cpu->silu_mul(y1, g, x, ld, n, 0, rows);
    CHECK(memcmp(y0, y1, sizeof(float) * (size_t)(rows * ld)) == 0);
    for (int64_t r = 0; r < rows; r++)
        owb_add(y0 + r * ld, g + r * ld, x + r * ld, n);
    cpu->add(y1, g, x, ld, n, 0, rows);
    CHECK(memcmp(y0, y1, sizeof(float) * (size_t)(rows * ld)) == 0);
    /* rope: 3 heads of 32, both layouts, a cache per token */
    struct owb_rope_cache *rc = malloc(sizeof *rc * (size_t)rows);
    OWB_ASSERT(rc);
    for (int64_t r = 0; r < rows; r++)
        owb_rope_cache_init(&rc[r], 32, 7 + r * 1000, 10000.0f, 1.0f);
    for (int neox = 0; neox <= 1; neox++) {
        memcpy(y0, x, sizeof(float) * (size_t)(rows * ld));
        memcpy(y1, x, sizeof(float) * (size_t)(rows * ld));
        for (int64_t r = 0; r < rows; r++)
            owb_rope_apply(y0 + r * ld, 3, 32, &rc[r], neox);
        cpu->rope(y1, ld, 3, 32, rc, neox, 0, rows);
        CHECK(memcmp(y0, y1, sizeof(float) * (size_t)(rows * ld)) == 0);
    }
    free(rc);
    /* softmax without a mask == owb_softmax per row */
    memcpy(y0, x, sizeof(float) * (size_t)(rows * ld));
    memcpy(y1, x, sizeof(float) * (size_t)(rows * ld));
    for (int64_t r = 0; r < rows; r++)
        owb_softmax(y0 + r * ld, n);
    const struct owb_be_softmax none = {1, -1, 0, NULL};
    cpu->softmax(y1, ld, n, &none, 0, rows);
    CHECK(memcmp(y0, y1, sizeof(float) * (size_t)(rows * ld)) == 0);
    /* get_rows == owb_get_row */
    void *emb = rand_weights(OWB_TYPE_Q4_K, 9, 256);
    const int32_t ids[3] = {8, 0, 4};
    float e0[3 * 256], e1[3 * 256];
    for (int r = 0; r < 3; r++)
        CHECK(owb_get_row(OWB_TYPE_Q4_K, emb, ids[r], 256, e0 + r * 256) == 0);
    CHECK(cpu->get_rows(OWB_TYPE_Q4_K, emb, 256, ids, e1, 256, 0, 3) == 0);
    CHECK(memcmp(e0, e1, sizeof e0) == 0);
    CHECK(cpu->get_rows(OWB_TYPE_Q5_0, emb, 100, ids, e1, 256, 0, 1) != 0);
    free(emb);
    free(x);
    free(w);
    free(g);
    free(y0);
    free(y1);
}

/* float64 softmax of the visible keys of row r, as the header defines it */
static void softmax_ref(const float *x, int64_t n, int64_t q, int64_t window, const float *sink,
                        double *out)
{
    int64_t hi = q + 1 < n ? q + 1 : n, lo = window > 0 && q - window + 1 > 0 ? q - window + 1 : 0;
    double mx = sink ? (double)*sink : -(double)INFINITY, sum = 0.0;
    for (int64_t i = lo; i < hi; i++)
        mx = fmax(mx, (double)x[i]);
    for (int64_t i = 0; i < n; i++)
        out[i] = i >= lo && i < hi ? exp((double)x[i] - mx) : 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += out[i];
    if (sink)
        sum += exp((double)*sink - mx);
    for (int64_t i = 0; i < n; i++)
        out[i] /= sum;
}

static void test_softmax_masked(void)
{
    const int64_t n_head = 2, n_tok = 6, n = 40, rows = n_head * n_tok;
    float *x = rand_f32(rows * n), *y = malloc(sizeof(float) * (size_t)(rows * n));
    const float sinks[2] = {0.5f, -3.0f};
    double ref[40];
    OWB_ASSERT(y);
    for (int with_sinks = 0; with_sinks <= 1; with_sinks++)
        for (int64_t window = 0; window <= 4; window += 4) {
            memcpy(y, x, sizeof(float) * (size_t)(rows * n));
            const struct owb_be_softmax s = {n_head, 30, window, with_sinks ? sinks : NULL};
            cpu->softmax(y, n, n, &s, 0, rows);
            for (int64_t r = 0; r < rows; r++) {
                softmax_ref(x + r * n, n, 30 + r / n_head, window,
                            with_sinks ? &sinks[r % n_head] : NULL, ref);
                for (int64_t i = 0; i < n; i++)
                    CHECK_NEAR(y[r * n + i], ref[i], SOFTMAX_REL_TOL * ref[i] + 1e-30);
            }
        }
    free(x);
    free(y);
}

static void test_swiglu_oai(void)
{
    const int64_t n = 64;
    float g[64], u[64], y[64];
    for (int64_t i = 0; i < n; i++) {
        g[i] = 12.0f * frand();
        u[i] = 12.0f * frand();
    }
    cpu->swiglu_oai(y, g, u, n, n, 1.702f, 7.0f, 0, 1);
    for (int64_t i = 0; i < n; i++) {
        const double gg = fmin((double)g[i], 7.0), uu = fmax(-7.0, fmin((double)u[i], 7.0));
        const double ref = gg / (1.0 + exp(-1.702 * gg)) * (uu + 1.0);
        CHECK_NEAR(y[i], ref, SWIGLU_REL_TOL * fabs(ref) + 1e-6);
    }
}

static void test_attn(void)
{
    char err[OWB_ERR_MAX] = "";
    const int64_t n_head = 4, n_kv = 2, hd = 16, n_ctx = 24, n_tok = 5, pos = 9;
    const float sinks[4] = {0.1f, 1.0f, -2.0f, 0.0f};
    struct owb_buf kc, vc;
    CHECK(cpu->buf_alloc(cpu, &kc, sizeof(float) * (size_t)(n_kv * n_ctx * hd), err) == 0);
    CHECK(cpu->buf_alloc(cpu, &vc, sizeof(float) * (size_t)(n_kv * n_ctx * hd), err) == 0);
    float *k = rand_f32((pos + n_tok) * n_kv * hd), *v = rand_f32((pos + n_tok) * n_kv * hd);
    float *q = rand_f32(n_tok * n_head * hd),
          *out = malloc(sizeof(float) * (size_t)(n_tok * n_head * hd));
    OWB_ASSERT(out);
    for (int wi = 0; wi < 2; wi++) {
        struct owb_be_attn a = {n_head, n_kv, hd, n_ctx, 0, wi ? 3 : 0, wi ? sinks : NULL,
                                0.25f,  NULL, 0};
        cpu->kv_store(kc.data, vc.data, k, v, n_kv * hd, &a, pos); /* the history */
        a.pos = pos;
        cpu->kv_store(kc.data, vc.data, k + pos * n_kv * hd, v + pos * n_kv * hd, n_kv * hd, &a,
                      n_tok);
        cpu->attn(out, q, kc.data, vc.data, &a, 0, n_tok);
        for (int64_t t = 0; t < n_tok; t++)
            for (int64_t h = 0; h < n_head; h++) {
                const int64_t g = h / (n_head / n_kv), qp = pos + t;
                double s[64], o[16] = {0}, mx = wi ? (double)sinks[h] : -(double)INFINITY,
                              sum = 0.0;
                const int64_t lo = wi && qp - 2 > 0 ? qp - 2 : 0;
                for (int64_t p = lo; p <= qp; p++) {
                    s[p] = 0.0;
                    for (int64_t i = 0; i < hd; i++)
                        s[p] += (double)q[(t * n_head + h) * hd + i] *
                                (double)k[(p * n_kv + g) * hd + i];
                    s[p] *= 0.25;
                    mx = fmax(mx, s[p]);
                }
                for (int64_t p = lo; p <= qp; p++) {
                    sum += exp(s[p] - mx);
                    for (int64_t i = 0; i < hd; i++)
                        o[i] += exp(s[p] - mx) * (double)v[(p * n_kv + g) * hd + i];
                }
                if (wi)
                    sum += exp((double)sinks[h] - mx);
                for (int64_t i = 0; i < hd; i++)
                    CHECK_NEAR(out[(t * n_head + h) * hd + i], o[i] / sum, ATTN_ABS_TOL);
            }
    }
    owb_buf_free(&kc);
    owb_buf_free(&vc);
    free(k);
    free(v);
    free(q);
    free(out);
}

/* A sliding layer's ring cache (cap = window + chunk < n_ctx, position p in slot p % cap) against
 * the full cache: chunks of 5 tokens and then single tokens written past the ring's end several
 * times over, every chunk's attention output the same bits (kernels/attn.h gathers a block whose
 * keys wrap: same values, same order). */
static void test_attn_ring(void)
{
    const int64_t n_head = 4, n_kv = 2, hd = 16, n_ctx = 64, window = 6, nb = 5, n = 47;
    const int64_t cap = window + nb, kvd = n_kv * hd, qd = n_head * hd;
    const float sinks[4] = {0.3f, -1.0f, 2.0f, 0.0f};
    float *k = rand_f32(n * kvd), *v = rand_f32(n * kvd), *q = rand_f32(n * qd);
    float *kf = calloc((size_t)(n_ctx * kvd), 4), *vf = calloc((size_t)(n_ctx * kvd), 4);
    float *kr = calloc((size_t)(cap * kvd), 4), *vr = calloc((size_t)(cap * kvd), 4);
    float *of = malloc(sizeof(float) * (size_t)(nb * qd)),
          *orr = malloc(sizeof(float) * (size_t)(nb * qd));
    OWB_ASSERT(kf && vf && kr && vr && of && orr);
    bool same = true;
    for (int64_t pos = 0; pos < n;) {
        const int64_t c = pos < 30 ? (n - pos < nb ? n - pos : nb) : 1; /* chunks, then decode */
        struct owb_be_attn a = {n_head, n_kv, hd, n_ctx, pos, window, sinks, 0.25f, NULL, 0};
        struct owb_be_attn ar = a;
        ar.cap = cap;
        cpu->kv_store(kf, vf, k + pos * kvd, v + pos * kvd, kvd, &a, c);
        cpu->kv_store(kr, vr, k + pos * kvd, v + pos * kvd, kvd, &ar, c);
        cpu->attn(of, q + pos * qd, kf, vf, &a, 0, c);
        cpu->attn(orr, q + pos * qd, kr, vr, &ar, 0, c);
        same &= memcmp(of, orr, sizeof(float) * (size_t)(c * qd)) == 0;
        pos += c;
    }
    CHECK_MSG(same, "ring cache (%lld slots) differs from the full cache", (long long)cap);
    free(k);
    free(v);
    free(q);
    free(kf);
    free(vf);
    free(kr);
    free(vr);
    free(of);
    free(orr);
}

/* The position read from backend memory (dpos, what a recorded graph replays with) gives the
 * same cache and output as the position by value. */
static void test_attn_dpos(void)
{
    const int64_t n_head = 4, n_kv = 2, hd = 16, n_ctx = 24, n_tok = 3, pos = 11;
    const size_t cache = sizeof(float) * (size_t)(n_kv * n_ctx * hd);
    float *k = rand_f32(n_tok * n_kv * hd), *v = rand_f32(n_tok * n_kv * hd);
    float *q = rand_f32(n_tok * n_head * hd);
    float *kc[2] = {calloc(1, cache), calloc(1, cache)},
          *vc[2] = {calloc(1, cache), calloc(1, cache)};
    float *out[2] = {malloc(sizeof(float) * (size_t)(n_tok * n_head * hd)),
                     malloc(sizeof(float) * (size_t)(n_tok * n_head * hd))};
    OWB_ASSERT(kc[0] && kc[1] && vc[0] && vc[1] && out[0] && out[1]);
    int64_t dpos = pos;
    for (int i = 0; i < 2; i++) {
        struct owb_be_attn a = {n_head,           n_kv, hd, n_ctx, i ? -1 : pos, 5, NULL, 0.25f,
                                i ? &dpos : NULL, 0};
        cpu->kv_store(kc[i], vc[i], k, v, n_kv * hd, &a, n_tok);
        cpu->attn(out[i], q, kc[i], vc[i], &a, 0, n_tok);
    }
    CHECK(memcmp(kc[0], kc[1], cache) == 0 && memcmp(vc[0], vc[1], cache) == 0);
    CHECK(memcmp(out[0], out[1], sizeof(float) * (size_t)(n_tok * n_head * hd)) == 0);
    for (int i = 0; i < 2; i++) {
        free(kc[i]);
        free(vc[i]);
        free(out[i]);
    }
    free(k);
    free(v);
    free(q);
}

/* The MoE ops against plain loops: add_bias (broadcast and by id), topk (order, ties, softmax,
 * scale), moe_sum (choice order, into the residual). */
static void test_moe_ops(void)
{
    const int64_t rows = 5, n = 40, ld = 48, X = 6, K = 3;
    float *x = rand_f32(rows * K * ld), *b = rand_f32(X * n), *y = malloc(sizeof(float) * 720);
    OWB_ASSERT(y && rows * K * ld <= 720);
    int32_t ids[15];
    for (int i = 0; i < 15; i++)
        ids[i] = (int32_t)((i * 5 + 1) % X);
    cpu->add_bias(y, x, b, n, NULL, ld, n, 1, rows);
    for (int64_t r = 1; r < rows; r++)
        for (int64_t i = 0; i < n; i++)
            CHECK(y[r * ld + i] == x[r * ld + i] + b[i]);
    cpu->add_bias(y, x, b, n, ids, ld, n, 0, rows * K);
    for (int64_t r = 0; r < rows * K; r++)
        for (int64_t i = 0; i < n; i++)
            CHECK(y[r * ld + i] == x[r * ld + i] + b[ids[r] * n + i]);

    /* logits with a tie between experts 1 and 4 (lower index first) */
    float lg[2 * 8] = {0.5f,  2.0f,  -1.0f, 0.1f, 2.0f, 1.5f, 0, 0, /* row 1 below */
                       -3.0f, -2.0f, -1.0f, 0.0f, 1.0f, 2.0f, 0, 0};
    int32_t sel[2 * 3];
    float w[2 * 3];
    cpu->topk(lg, 8, X, K, 2.0f, sel, w, 0, 2);
    CHECK(sel[0] == 1 && sel[1] == 4 && sel[2] == 5);
    CHECK(sel[3] == 5 && sel[4] == 4 && sel[5] == 3);
    for (int r = 0; r < 2; r++) {
        double den = 0;
        for (int j = 0; j < 3; j++)
            den += exp((double)lg[r * 8 + sel[r * 3 + j]] - (double)lg[r * 8 + sel[r * 3]]);
        for (int j = 0; j < 3; j++)
            CHECK_NEAR(
                w[r * 3 + j],
                2.0 * exp((double)lg[r * 8 + sel[r * 3 + j]] - (double)lg[r * 8 + sel[r * 3]]) /
                    den,
                1e-6);
    }

    /* moe_sum: y[t] += sum_j w[t K + j] d[t K + j], products summed in choice order */
    float *res = rand_f32(rows * ld), *res0 = malloc(sizeof(float) * (size_t)(rows * ld));
    float *wt = rand_f32(rows * K);
    OWB_ASSERT(res0);
    memcpy(res0, res, sizeof(float) * (size_t)(rows * ld));
    cpu->moe_sum(res, x, wt, K, ld, n, 1, rows);
    for (int64_t t = 0; t < rows; t++)
        for (int64_t i = 0; i < ld; i++) {
            float a = x[(t * K) * ld + i] * wt[t * K];
            for (int64_t j = 1; j < K; j++)
                a += x[(t * K + j) * ld + i] * wt[t * K + j];
            const float ref = t >= 1 && i < n ? res0[t * ld + i] + a : res0[t * ld + i];
            CHECK(res[t * ld + i] == ref);
        }
    free(x);
    free(b);
    free(y);
    free(res);
    free(res0);
    free(wt);
}

static void test_timer(void)
{
    char err[OWB_ERR_MAX] = "";
    struct owb_be_timer a, b;
    CHECK(cpu->timer_init(cpu, &a, err) == 0 && cpu->timer_init(cpu, &b, err) == 0);
    cpu->timer_mark(&a);
    volatile double s = 0;
    for (int i = 0; i < 100000; i++)
        s += i;
    cpu->timer_mark(&b);
    CHECK(cpu->timer_elapsed_ns(&a, &b) > 0.0);
    CHECK(cpu->synchronize(cpu, err) == 0);
    cpu->timer_release(&a);
    cpu->timer_release(&b);
}

int main(void)
{
    cpu = owb_backend_get("cpu");
    OWB_ASSERT(cpu);
    test_registry();
    test_buffers();
    const enum owb_type types[] = {OWB_TYPE_F32,  OWB_TYPE_F16,  OWB_TYPE_BF16, OWB_TYPE_Q8_0,
                                   OWB_TYPE_Q4_0, OWB_TYPE_Q4_K, OWB_TYPE_Q6_K, OWB_TYPE_MXFP4};
    const int64_t batches[] = {1, 3, 8, 17};
    for (size_t i = 0; i < OWB_ARRAY_LEN(types); i++) {
        for (size_t b = 0; b < OWB_ARRAY_LEN(batches); b++)
            test_matmul(types[i], 96, 512, batches[b]);
        test_mm_id(types[i]);
        test_mm_grp(types[i]);
    }
    test_row_ops();
    test_softmax_masked();
    test_swiglu_oai();
    test_attn();
    test_attn_dpos();
    test_attn_ring();
    test_moe_ops();
    test_timer();
    TEST_DONE();
}
