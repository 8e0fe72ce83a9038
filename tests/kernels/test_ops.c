/* SPDX-License-Identifier: MIT */
/*
 * test_ops.c: the row ops (kernels/ops.h). Every ISA variant the CPU runs is checked against the
 * scalar `_ref` variant and against float64 formulas written out here, on odd lengths
 * (1, 7, 33, 4097) so vector tails are exercised; RoPE in both pair layouts (and the identity
 * that relates them), partial rotation, long positions; the public dispatchers against the
 * variant of the ISA set with owb_isa_set; owb_get_row against whole-matrix dequantization.
 * Exits 77 after the other checks pass when the CPU lacks AVX-512 (that part is skipped).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/formats.h"
#include "kernels/isa.h"
#include "kernels/ops.h"
#include "kernels/ops_impl.h"
#include "owb_common.h"
#include "owb_test.h"

/* Relative tolerances (per element, relative to the float64 value or to the ref output). */
#define RMSNORM_REL_TOL 1e-6  /* scale rounded once, two float products */
#define ROPE_REL_TOL 1e-6     /* of |x0| + |x1|: cos/sin rounding plus two float products */
#define SOFTMAX_REL_TOL 4e-6  /* vector exp is ~1-2 ulp, plus the normalisation */
#define SOFTMAX_ABS_TOL 1e-12 /* flushed tiny exps differ from libm's subnormals */
#define SILU_REL_TOL 2e-6     /* vector exp + a division + a product */
#define SILU_ABS_TOL 1e-30
#define SUM_TOL 1e-5 /* softmax rows sum to 1 within this */

static const int64_t lengths[] = {1, 7, 16, 33, 4097};

struct variant {
    const char *name;
    enum owb_isa isa;
    void (*rmsnorm)(float *, const float *, const float *, int64_t, float);
    void (*rope)(float *, int64_t, int64_t, int64_t, float, float, int, int64_t);
    void (*softmax)(float *, int64_t);
    void (*silu_mul)(float *, const float *, const float *, int64_t);
    void (*add)(float *, const float *, const float *, int64_t);
};

#define VARIANT(isa_name, isa_enum)                                                                \
    {                                                                                              \
#isa_name, isa_enum, owb_rmsnorm_##isa_name, owb_rope_##isa_name, owb_softmax_##isa_name,  \
            owb_silu_mul_##isa_name, owb_add_##isa_name                                            \
    }

static const struct variant variants[] = {
    VARIANT(ref, OWB_ISA_REF),
#if OWB_OPS_HAVE_X86
    VARIANT(avx2, OWB_ISA_AVX2),
    VARIANT(avx512, OWB_ISA_AVX512),
#endif
};

static bool cpu_runs(enum owb_isa isa)
{
#if OWB_OPS_HAVE_X86
    __builtin_cpu_init();
    if (isa == OWB_ISA_AVX2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (isa == OWB_ISA_AVX512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
#endif
    return isa == OWB_ISA_REF;
}

/* ---- deterministic random data ---- */

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static double rng_uniform(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return ((double)((x * 0x2545f4914f6cdd1dull) >> 11) + 0.5) * 0x1p-53;
}

static float rng_normal(void)
{
    double u1 = rng_uniform(), u2 = rng_uniform();
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static float *vec_new(int64_t n)
{
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    OWB_ASSERT(v);
    return v;
}

static bool close_rel(double got, double want, double rel, double abs_tol)
{
    if (isnan(want))
        return isnan(got);
    if (isinf(want))
        return got == want;
    return fabs(got - want) <= rel * fabs(want) + abs_tol;
}

/* ---- rmsnorm ---- */

static void test_rmsnorm(const struct variant *v)
{
    for (size_t li = 0; li < OWB_ARRAY_LEN(lengths); li++) {
        const int64_t n = lengths[li];
        float *x = vec_new(n), *w = vec_new(n), *y = vec_new(n), *yr = vec_new(n);
        for (int64_t i = 0; i < n; i++) {
            x[i] = rng_normal() * 3.0f;
            w[i] = 1.0f + 0.5f * rng_normal();
        }
        const float eps = 1e-5f;
        for (int with_w = 0; with_w < 2; with_w++) {
            const float *wp = with_w ? w : NULL;
            v->rmsnorm(y, x, wp, n, eps);
            owb_rmsnorm_ref(yr, x, wp, n, eps);
            double ss = 0;
            for (int64_t i = 0; i < n; i++)
                ss += (double)x[i] * (double)x[i];
            const double inv = 1.0 / sqrt(ss / (double)n + (double)eps);
            int bad_ref = 0, bad_f64 = 0;
            for (int64_t i = 0; i < n; i++) {
                const double want = (double)x[i] * inv * (wp ? (double)wp[i] : 1.0);
                bad_ref += !close_rel(y[i], yr[i], RMSNORM_REL_TOL, 0);
                bad_f64 += !close_rel(y[i], want, RMSNORM_REL_TOL, 1e-30);
            }
            CHECK_MSG(bad_ref == 0, "rmsnorm %s n=%lld w=%d: %d elements differ from ref", v->name,
                      (long long)n, with_w, bad_ref);
            CHECK_MSG(bad_f64 == 0, "rmsnorm %s n=%lld w=%d: %d elements differ from float64",
                      v->name, (long long)n, with_w, bad_f64);
            /* in place gives the same bits */
            memcpy(yr, x, (size_t)n * sizeof(float));
            v->rmsnorm(yr, yr, wp, n, eps);
            CHECK_MSG(memcmp(yr, y, (size_t)n * sizeof(float)) == 0, "rmsnorm %s in place",
                      v->name);
        }
        free(x);
        free(w);
        free(y);
        free(yr);
    }
    /* all zeros: eps keeps it finite, output zeros */
    float z[5] = {0}, out[5];
    v->rmsnorm(out, z, NULL, 5, 1e-6f);
    for (int i = 0; i < 5; i++)
        CHECK(out[i] == 0.0f);
}

/* ---- rope ---- */

struct rope_case {
    int64_t n_heads, head_dim, n_rot;
};

static const struct rope_case rope_cases[] = {
    {1, 2, 2},     /* a single pair */
    {3, 64, 64},   /* llama-style head */
    {7, 128, 128}, /* 64 pairs: full vectors only */
    {2, 96, 64},   /* partial rotation: 32 dims untouched */
    {5, 80, 80},   /* 40 pairs: vector tails in both layouts */
    {1, 34, 34},   /* 17 pairs */
    {3, 66, 30},   /* partial and odd pair count */
};

static const int64_t rope_positions[] = {0, 1, 17, 4095, 131071};

/* float64 rotation of one head, from the definition in ops.h */
static void rope_f64(double *out, const float *x, int64_t head_dim, int64_t n_rot, int64_t pos,
                     float base, float scale, int neox)
{
    for (int64_t d = 0; d < head_dim; d++)
        out[d] = x[d];
    for (int64_t i = 0; i < n_rot / 2; i++) {
        const double theta =
            (double)pos * (double)scale * pow((double)base, -2.0 * (double)i / (double)n_rot);
        const int64_t i0 = neox ? i : 2 * i, i1 = neox ? i + n_rot / 2 : 2 * i + 1;
        const double x0 = x[i0], x1 = x[i1];
        out[i0] = x0 * cos(theta) - x1 * sin(theta);
        out[i1] = x0 * sin(theta) + x1 * cos(theta);
    }
}

static void test_rope(const struct variant *v)
{
    static const float bases[] = {10000.0f, 500000.0f};
    static const float scales[] = {1.0f, 0.25f};
    for (size_t ci = 0; ci < OWB_ARRAY_LEN(rope_cases); ci++) {
        const struct rope_case rc = rope_cases[ci];
        const int64_t n = rc.n_heads * rc.head_dim;
        float *x = vec_new(n), *y = vec_new(n), *yr = vec_new(n);
        double *want = malloc((size_t)rc.head_dim * sizeof(double));
        OWB_ASSERT(want);
        for (size_t pi = 0; pi < OWB_ARRAY_LEN(rope_positions); pi++) {
            for (int neox = 0; neox < 2; neox++) {
                const float base = bases[(pi + (size_t)neox) % 2];
                const float scale = scales[pi % 2];
                const int64_t pos = rope_positions[pi];
                for (int64_t i = 0; i < n; i++)
                    x[i] = rng_normal();
                memcpy(y, x, (size_t)n * sizeof(float));
                memcpy(yr, x, (size_t)n * sizeof(float));
                v->rope(y, rc.n_heads, rc.head_dim, pos, base, scale, neox, rc.n_rot);
                owb_rope_ref(yr, rc.n_heads, rc.head_dim, pos, base, scale, neox, rc.n_rot);
                int bad_ref = 0, bad_f64 = 0, bad_tail = 0;
                for (int64_t h = 0; h < rc.n_heads; h++) {
                    const float *xh = x + h * rc.head_dim;
                    rope_f64(want, xh, rc.head_dim, rc.n_rot, pos, base, scale, neox);
                    for (int64_t d = 0; d < rc.head_dim; d++) {
                        const int64_t k = h * rc.head_dim + d;
                        if (d >= rc.n_rot) {
                            bad_tail += y[k] != x[k];
                            continue;
                        }
                        /* the partner of d in its pair bounds the magnitude */
                        const int64_t half = rc.n_rot / 2;
                        const int64_t pd = neox ? (d < half ? d + half : d - half) : (d ^ 1);
                        const double mag = fabs((double)xh[d]) + fabs((double)xh[pd]);
                        bad_ref += fabs((double)y[k] - (double)yr[k]) > ROPE_REL_TOL * mag;
                        bad_f64 += fabs((double)y[k] - want[d]) > ROPE_REL_TOL * mag;
                        if (pos == 0)
                            bad_f64 += y[k] != x[k]; /* angle 0 is the identity, exactly */
                    }
                }
                CHECK_MSG(bad_ref == 0 && bad_f64 == 0 && bad_tail == 0,
                          "rope %s heads=%lld dim=%lld rot=%lld pos=%lld neox=%d: %d vs ref, %d vs "
                          "float64, %d untouched dims changed",
                          v->name, (long long)rc.n_heads, (long long)rc.head_dim,
                          (long long)rc.n_rot, (long long)pos, neox, bad_ref, bad_f64, bad_tail);
            }
        }
        free(x);
        free(y);
        free(yr);
        free(want);
    }

    /* NeoX on x equals normal on the interleaved x, de-interleaved: same angles per pair */
    const int64_t hd = 48, rot = 48, half = rot / 2;
    float a[48], b[48], back[48];
    for (int i = 0; i < hd; i++)
        a[i] = rng_normal();
    for (int64_t i = 0; i < half; i++) {
        b[2 * i] = a[i];
        b[2 * i + 1] = a[i + half];
    }
    v->rope(a, 1, hd, 321, 10000.0f, 1.0f, 1, rot);
    v->rope(b, 1, hd, 321, 10000.0f, 1.0f, 0, rot);
    for (int64_t i = 0; i < half; i++) {
        back[i] = b[2 * i];
        back[i + half] = b[2 * i + 1];
    }
    CHECK_MSG(memcmp(a, back, sizeof a) == 0, "rope %s: NeoX and normal layouts disagree", v->name);
}

/* ---- softmax ---- */

static void test_softmax(const struct variant *v)
{
    for (size_t li = 0; li < OWB_ARRAY_LEN(lengths); li++) {
        const int64_t n = lengths[li];
        for (int kind = 0; kind < 3; kind++) {
            float *x = vec_new(n), *y = vec_new(n), *yr = vec_new(n);
            for (int64_t i = 0; i < n; i++) {
                /* 0: N(0, 5); 1: large offsets (stability); 2: with masked (-inf) entries */
                x[i] = rng_normal() * 5.0f;
                if (kind == 1)
                    x[i] = x[i] * 20.0f + 1e4f;
                if (kind == 2 && i % 3 == 1)
                    x[i] = -INFINITY;
            }
            memcpy(y, x, (size_t)n * sizeof(float));
            memcpy(yr, x, (size_t)n * sizeof(float));
            v->softmax(y, n);
            owb_softmax_ref(yr, n);
            double mx = -INFINITY, sum = 0, ysum = 0;
            for (int64_t i = 0; i < n; i++)
                mx = fmax(mx, (double)x[i]);
            for (int64_t i = 0; i < n; i++)
                sum += exp((double)x[i] - mx);
            int bad_ref = 0, bad_f64 = 0;
            for (int64_t i = 0; i < n; i++) {
                const double want = exp((double)x[i] - mx) / sum;
                bad_ref += !close_rel(y[i], yr[i], SOFTMAX_REL_TOL, SOFTMAX_ABS_TOL);
                bad_f64 += !close_rel(y[i], want, SOFTMAX_REL_TOL, SOFTMAX_ABS_TOL);
                if (x[i] == -INFINITY)
                    bad_f64 += y[i] != 0.0f;
                ysum += (double)y[i];
            }
            CHECK_MSG(bad_ref == 0 && bad_f64 == 0,
                      "softmax %s n=%lld kind=%d: %d elements vs ref, %d vs float64", v->name,
                      (long long)n, kind, bad_ref, bad_f64);
            CHECK_MSG(fabs(ysum - 1.0) <= SUM_TOL, "softmax %s n=%lld: sums to %.9g", v->name,
                      (long long)n, ysum);
            free(x);
            free(y);
            free(yr);
        }
    }
    float masked[9];
    for (int i = 0; i < 9; i++)
        masked[i] = -INFINITY;
    v->softmax(masked, 9);
    for (int i = 0; i < 9; i++)
        CHECK_MSG(masked[i] == 0.0f, "softmax %s: fully masked row gives %g", v->name,
                  (double)masked[i]);
}

/* ---- silu_mul and add ---- */

static void test_silu_add(const struct variant *v)
{
    static const float extremes[] = {-1000.0f, -100.0f, -88.0f, -20.0f, -1e-3f, 0.0f,
                                     1e-3f,    20.0f,   88.0f,  100.0f, 1000.0f};
    for (size_t li = 0; li < OWB_ARRAY_LEN(lengths); li++) {
        const int64_t n = lengths[li];
        float *g = vec_new(n), *u = vec_new(n), *y = vec_new(n), *yr = vec_new(n);
        for (int64_t i = 0; i < n; i++) {
            g[i] = rng_normal() * 4.0f;
            if (i % 5 == 3)
                g[i] = extremes[(size_t)i % OWB_ARRAY_LEN(extremes)];
            u[i] = rng_normal();
        }
        v->silu_mul(y, g, u, n);
        owb_silu_mul_ref(yr, g, u, n);
        int bad_ref = 0, bad_f64 = 0;
        for (int64_t i = 0; i < n; i++) {
            const double want = (double)g[i] / (1.0 + exp(-(double)g[i])) * (double)u[i];
            bad_ref += !close_rel(y[i], yr[i], SILU_REL_TOL, SILU_ABS_TOL);
            bad_f64 += !close_rel(y[i], want, SILU_REL_TOL, SILU_ABS_TOL);
        }
        CHECK_MSG(bad_ref == 0 && bad_f64 == 0, "silu_mul %s n=%lld: %d vs ref, %d vs float64",
                  v->name, (long long)n, bad_ref, bad_f64);
        /* in place over the gate */
        memcpy(yr, g, (size_t)n * sizeof(float));
        v->silu_mul(yr, yr, u, n);
        CHECK_MSG(memcmp(yr, y, (size_t)n * sizeof(float)) == 0, "silu_mul %s in place", v->name);

        /* add is correctly rounded: the float of the exact (double) sum, on every ISA */
        v->add(y, g, u, n);
        int bad_add = 0;
        for (int64_t i = 0; i < n; i++)
            bad_add += y[i] != (float)((double)g[i] + (double)u[i]);
        CHECK_MSG(bad_add == 0, "add %s n=%lld: %d elements", v->name, (long long)n, bad_add);
        v->add(u, u, g, n);
        CHECK_MSG(memcmp(u, y, (size_t)n * sizeof(float)) == 0, "add %s in place", v->name);
        free(g);
        free(u);
        free(y);
        free(yr);
    }
}

/* ---- dispatch ---- */

static void test_dispatch(const struct variant *v)
{
    if (owb_isa_set(v->isa) != 0) {
        CHECK_MSG(0, "owb_isa_set(%s) failed on a CPU that runs it", v->name);
        return;
    }
    CHECK(owb_isa_active() == v->isa);
    enum { N = 45 };
    float x[N], w[N], a[N], b[N];
    for (int i = 0; i < N; i++) {
        x[i] = rng_normal();
        w[i] = rng_normal();
    }
    owb_rmsnorm(a, x, w, N, 1e-6f);
    v->rmsnorm(b, x, w, N, 1e-6f);
    CHECK_MSG(memcmp(a, b, sizeof a) == 0, "owb_rmsnorm does not run %s", v->name);
    memcpy(a, x, sizeof a);
    memcpy(b, x, sizeof b);
    owb_softmax(a, N);
    v->softmax(b, N);
    CHECK_MSG(memcmp(a, b, sizeof a) == 0, "owb_softmax does not run %s", v->name);
    owb_silu_mul(a, x, w, N);
    v->silu_mul(b, x, w, N);
    CHECK_MSG(memcmp(a, b, sizeof a) == 0, "owb_silu_mul does not run %s", v->name);
    owb_add(a, x, w, N);
    v->add(b, x, w, N);
    CHECK_MSG(memcmp(a, b, sizeof a) == 0, "owb_add does not run %s", v->name);
    float q[3 * 30], r[3 * 30];
    for (int i = 0; i < 90; i++)
        q[i] = r[i] = rng_normal();
    owb_rope(q, 3, 30, 77, 10000.0f, 1.0f, 1, 30);
    v->rope(r, 3, 30, 77, 10000.0f, 1.0f, 1, 30);
    CHECK_MSG(memcmp(q, r, sizeof q) == 0, "owb_rope does not run %s", v->name);
    struct owb_rope_cache c;
    owb_rope_cache_init(&c, 30, 77, 10000.0f, 1.0f);
    for (int i = 0; i < 90; i++)
        q[i] = r[i];
    owb_rope_apply(q, 3, 30, &c, 0);
    v->rope(r, 3, 30, 77, 10000.0f, 1.0f, 0, 30);
    CHECK_MSG(memcmp(q, r, sizeof q) == 0, "owb_rope_apply does not run %s", v->name);
}

/* ---- get_row ---- */

static void test_get_row(void)
{
    static const enum owb_type types[] = {OWB_TYPE_F32,  OWB_TYPE_F16,  OWB_TYPE_BF16,
                                          OWB_TYPE_Q4_0, OWB_TYPE_Q6_K, OWB_TYPE_MXFP4};
    for (size_t ti = 0; ti < OWB_ARRAY_LEN(types); ti++) {
        const struct owb_type_traits *tr = owb_type_traits(types[ti]);
        const int64_t rows = 5, cols = 3 * (tr->blck_size > 1 ? tr->blck_size : 32);
        const size_t rsz = owb_row_size(types[ti], cols);
        float *x = vec_new(rows * cols), *all = vec_new(rows * cols), *row = vec_new(cols);
        uint8_t *q = malloc(rsz * (size_t)rows);
        OWB_ASSERT(q);
        for (int64_t i = 0; i < rows * cols; i++)
            x[i] = rng_normal();
        for (int64_t r = 0; r < rows; r++)
            tr->from_float_ref(x + r * cols, q + (size_t)r * rsz, cols);
        tr->to_float(q, all, rows * cols);
        for (int64_t r = 0; r < rows; r++) {
            CHECK(owb_get_row(types[ti], q, r, cols, row) == OWB_OK);
            CHECK_MSG(memcmp(row, all + r * cols, (size_t)cols * sizeof(float)) == 0,
                      "get_row %s row %lld", tr->name, (long long)r);
        }
        if (tr->blck_size > 1)
            CHECK(owb_get_row(types[ti], q, 0, cols + 1, row) == OWB_E_USAGE);
        CHECK(owb_get_row(types[ti], q, -1, cols, row) == OWB_E_USAGE);
        CHECK(owb_get_row(types[ti], q, 0, 0, row) == OWB_E_USAGE);
        free(x);
        free(all);
        free(row);
        free(q);
    }
    float dummy[32];
    CHECK(owb_get_row((enum owb_type)4, dummy, 0, 32, dummy) == OWB_E_UNSUPPORTED);
}

int main(void)
{
    bool skipped_avx512 = false;
    for (size_t i = 0; i < OWB_ARRAY_LEN(variants); i++) {
        const struct variant *v = &variants[i];
        if (!cpu_runs(v->isa)) {
            fprintf(stderr, "%s variant not run: the CPU lacks it\n", v->name);
            skipped_avx512 |= v->isa == OWB_ISA_AVX512;
            continue;
        }
        test_rmsnorm(v);
        test_rope(v);
        test_softmax(v);
        test_silu_add(v);
        if (owb_isa_supported(v->isa))
            test_dispatch(v);
    }
    test_get_row();
    if (!owb_test_failures && skipped_avx512)
        SKIP("AVX-512 variants not tested: this CPU lacks AVX-512 (ref and AVX2 passed)");
    TEST_DONE();
}
