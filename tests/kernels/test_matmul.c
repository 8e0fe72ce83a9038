/* SPDX-License-Identifier: MIT */
/*
 * test_matmul.c: GEMV/GEMM kernels (kernels/matmul.h) on every ISA the CPU has, for every weight
 * format, on random data with odd shapes: against the reference ISA (same quantized activations,
 * so only float rounding may differ) and against a float64 product of the dequantized weights with
 * the unquantized activations (allowing the activation quantization error, bounded per element);
 * row-range splits must give bitwise the same output as one call; the prepared activations must be
 * byte-identical across ISAs and start with the traits' reference quantization; bad plans fail.
 * bf16 weights take bf16 activations: the conversion of every ISA against a bitwise
 * round-to-nearest-even written here (ties, NaN, infinities, subnormals), the reference against the
 * float64 dot of the rounded inputs, and on CPUs with AVX512_BF16 the AVX-512 fallback kernels
 * (plain FMA) as well as the vdpbf16ps ones.
 */
#include <stdbool.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/matmul_cpu.h"
#include "kernels/formats.h"
#include "kernels/isa.h"
#include "kernels/cpu/matmul_cpu.h" /* the kernel tables: to run paths this CPU would not pick */
#include "kernels/matmul.h"
#include "owb_test.h"

/* Relative tolerances (times sum |w_i x_i| of the row) between an ISA and the reference path:
 * float rounding of differently ordered sums only. */
#define TOL_ISA_FLOAT 2e-6 /* f32, f16 x f32 and bf16 x bf16: f32 FMA or vdpbf16ps vs f64 sum */
#define TOL_ISA_QUANT 2e-6 /* integer dots: exact per block, float scaling and summation */
/* Float rounding allowance against the float64 product, on top of the activation error bound. */
#define TOL_F64_ROUND 4e-6
/* Activation quantization error per element, in units of the block's amax: q8_0 and q8_K round to
 * d/2 with d = amax/127; q8_0 (and q8_1) store d as f16, which adds up to 127 * d * 2^-11. */
#define ACT_ERR_Q8 (0.5 / 127.0 + 127.0 / 127.0 / 2048.0)
#define ACT_ERR_Q8_K (0.5 / 127.0 + 1e-6)
/* bf16 keeps 8 significant bits: round to nearest is off by at most half an ulp, 2^-8 of |x| for x
 * just above a power of two (the unit roundoff; 2^-9 held only by luck of the random stream) */
#define ACT_ERR_BF16 (1.0 / 256.0)

static const enum owb_type formats[] = {
    OWB_TYPE_F32,  OWB_TYPE_F16,  OWB_TYPE_BF16, OWB_TYPE_Q4_0,  OWB_TYPE_Q4_1,
    OWB_TYPE_Q5_0, OWB_TYPE_Q5_1, OWB_TYPE_Q8_0, OWB_TYPE_Q2_K,  OWB_TYPE_Q3_K,
    OWB_TYPE_Q4_K, OWB_TYPE_Q5_K, OWB_TYPE_Q6_K, OWB_TYPE_MXFP4,
};
static const int64_t ms[] = {1, 7, 33};
static const int64_t batches[] = {1, 3, 7, 17}; /* 7: GEMM tiles for some formats (min_batch 5) */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static int ran_nobf16;    /* cases run on the AVX-512 kernels without vdpbf16ps, on a BF16 CPU */
static double urand(void) /* uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

static void *xmalloc(size_t n)
{
    void *p = aligned_alloc(64, (n + 64) & ~(size_t)63);
    OWB_ASSERT(p);
    memset(p, 0, (n + 64) & ~(size_t)63);
    return p;
}

/* f32 -> bf16 round to nearest even from the definition (the 16 dropped bits against half an ulp),
 * independently of the code under test; NaN keeps its sign and payload's top bits and is made
 * quiet, as ggml_compute_fp32_to_bf16 does. */
static uint16_t bf16_rne_ref(uint32_t u)
{
    if (((u >> 23) & 0xffu) == 0xffu && (u & 0x7fffffu))
        return (uint16_t)((u >> 16) | 0x40u);
    uint32_t hi = u >> 16;
    const uint32_t lo = u & 0xffffu;
    if (lo > 0x8000u || (lo == 0x8000u && (hi & 1u)))
        hi++; /* carries into the exponent: 0x7f7f8000 and above round to infinity */
    return (uint16_t)hi;
}

static float bits_to_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static double bf16_value(uint16_t h)
{
    return (double)bits_to_f32((uint32_t)h << 16);
}

/* A copy of plan p that runs the kernel of its table that does without the CPU feature `needs`
 * (same type, ISA and batch range), for paths this CPU would not take; false when there is none. */
static bool plan_without(const struct owb_matmul_plan *p, int needs, struct owb_matmul_plan *out)
{
    if (!p->kern || !(p->kern->needs & needs))
        return false;
    const struct owb_mm_kernel *const tabs[] = {owb_mm_kernels_avx512, owb_mm_kernels_avx512_gemm,
                                                owb_mm_kernels_avx2, owb_mm_kernels_avx2_gemm};
    for (size_t i = 0; i < OWB_ARRAY_LEN(tabs); i++)
        for (const struct owb_mm_kernel *e = tabs[i]; e->rows; e++)
            if (e->wtype == p->kern->wtype && e->isa == p->kern->isa &&
                e->min_batch == p->kern->min_batch && !(e->needs & needs)) {
                *out = *p;
                out->kern = e;
                snprintf(out->path, sizeof out->path, "%s", e->path);
                return true;
            }
    return false;
}

/* Block size of the activation format of a plan (for the error bound). */
static int64_t act_block(enum owb_type act)
{
    return act == OWB_TYPE_F32 ? 1 : owb_type_traits(act)->blck_size;
}

static double act_err(enum owb_type act)
{
    if (act == OWB_TYPE_F32)
        return 0.0;
    if (act == OWB_TYPE_BF16)
        return ACT_ERR_BF16;
    return act == OWB_TYPE_Q8_K ? ACT_ERR_Q8_K : ACT_ERR_Q8;
}

/* Run a plan over all rows; splits > 1 cuts [0, m) at odd points. */
static void run_plan(const struct owb_matmul_plan *p, const void *W, const float *X, void *act,
                     float *Y, int splits)
{
    owb_matmul_prepare(p, X, p->k, act, 0, p->batch);
    if (splits <= 1) {
        owb_matmul_rows(p, W, act, X, p->k, Y, p->m, 0, p->m);
        return;
    }
    int64_t cut1 = p->m > 1 ? 1 : 0, cut2 = p->m > 5 ? 5 : p->m;
    owb_matmul_rows(p, W, act, X, p->k, Y, p->m, 0, cut1);
    owb_matmul_rows(p, W, act, X, p->k, Y, p->m, cut1, cut2);
    owb_matmul_rows(p, W, act, X, p->k, Y, p->m, cut2, p->m);
}

static void test_case(enum owb_type t, int64_t m, int64_t k, int64_t batch, int *ran)
{
    const struct owb_type_traits *tr = owb_type_traits(t);
    const size_t rb = owb_row_size(t, k);
    uint8_t *W = xmalloc(rb * (size_t)m);
    float *Wf = xmalloc(sizeof(float) * (size_t)(m * k));
    float *X = xmalloc(sizeof(float) * (size_t)(batch * k));
    float *Yref = xmalloc(sizeof(float) * (size_t)(batch * m));
    float *Y = xmalloc(sizeof(float) * (size_t)(batch * m));
    float *Ysplit = xmalloc(sizeof(float) * (size_t)(batch * m));
    char err[OWB_ERR_MAX];

    /* weights with a spread of magnitudes per row, activations with an outlier now and then */
    for (int64_t r = 0; r < m; r++) {
        double scale = 0.1 + (double)(r % 5);
        for (int64_t i = 0; i < k; i++)
            Wf[r * k + i] = (float)(urand() * scale);
        tr->from_float_ref(Wf + r * k, W + (size_t)r * rb, k);
        tr->to_float(W + (size_t)r * rb, Wf + r * k, k); /* the exact weights the kernels see */
    }
    for (int64_t i = 0; i < batch * k; i++)
        X[i] = (float)(urand() * ((i % 37) == 0 ? 8.0 : 1.0));

    struct owb_matmul_plan pref;
    CHECK(owb_matmul_plan_init(&pref, t, m, k, batch, OWB_ISA_REF, err) == 0);
    CHECK(pref.isa == OWB_ISA_REF);
    uint8_t *act_ref = xmalloc(owb_matmul_act_bytes(&pref));
    run_plan(&pref, W, X, act_ref, Yref, 1);

    /* the prepared activations begin with the traits' reference quantization of each row */
    if (pref.act_row_bytes) {
        const struct owb_type_traits *at = owb_type_traits(pref.act_type);
        uint8_t *q = xmalloc(owb_row_size(pref.act_type, k));
        for (int64_t b = 0; b < batch; b++) {
            at->from_float_ref(X + b * k, q, k);
            CHECK_MSG(memcmp(q, act_ref + (size_t)b * pref.act_row_bytes,
                             owb_row_size(pref.act_type, k)) == 0,
                      "%s k=%lld: prepared row %lld differs from from_float_ref", tr->name,
                      (long long)k, (long long)b);
        }
        free(q);
    }

    /* reference path against float64 with the activation quantization bound */
    const int64_t ab = act_block(pref.act_type);
    const double aerr = act_err(pref.act_type);
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t r = 0; r < m; r++) {
            double exact = 0.0, mag = 0.0, bound = 0.0;
            for (int64_t i0 = 0; i0 < k; i0 += ab) {
                double amax = 0.0, wsum = 0.0;
                for (int64_t i = i0; i < i0 + ab; i++) {
                    const double w = Wf[r * k + i], x = X[b * k + i];
                    exact += w * x;
                    mag += fabs(w * x);
                    wsum += fabs(w);
                    amax = fmax(amax, fabs(x));
                }
                bound += wsum * amax * aerr;
            }
            const double got = Yref[b * m + r];
            CHECK_MSG(fabs(got - exact) <= bound + TOL_F64_ROUND * mag + 1e-30,
                      "%s ref m=%lld k=%lld batch=%lld y[%lld][%lld]=%.9g, f64 %.9g, bound %.3g",
                      tr->name, (long long)m, (long long)k, (long long)batch, (long long)b,
                      (long long)r, got, exact, bound + TOL_F64_ROUND * mag);
        }
    }

    /* bf16: the reference is the float64 dot of the bf16-rounded inputs, rounded once */
    if (pref.act_type == OWB_TYPE_BF16) {
        for (int64_t b = 0; b < batch; b++)
            for (int64_t r = 0; r < m; r++) {
                double exact = 0.0;
                for (int64_t i = 0; i < k; i++) {
                    uint32_t u;
                    memcpy(&u, &X[b * k + i], sizeof u);
                    exact += (double)Wf[r * k + i] * bf16_value(bf16_rne_ref(u));
                }
                CHECK_MSG(Yref[b * m + r] == (float)exact,
                          "bf16 ref m=%lld k=%lld batch=%lld y[%lld][%lld]=%.9g, f64 of the "
                          "rounded inputs %.9g",
                          (long long)m, (long long)k, (long long)batch, (long long)b, (long long)r,
                          (double)Yref[b * m + r], exact);
            }
    }

    for (int isa = OWB_ISA_REF; isa < OWB_ISA_COUNT; isa++) {
        if (!owb_isa_supported((enum owb_isa)isa))
            continue;
        struct owb_matmul_plan pbest;
        CHECK(owb_matmul_plan_init(&pbest, t, m, k, batch, (enum owb_isa)isa, err) == 0);
        /* the plan, then (bf16 on AVX512_BF16 CPUs) the kernel that does without vdpbf16ps */
        for (int variant = 0; variant < 2; variant++) {
            struct owb_matmul_plan p = pbest;
            if (variant == 1 && !plan_without(&pbest, OWB_MM_NEEDS_BF16, &p))
                break;
            CHECK(p.act_type == pref.act_type && p.act_row_bytes == pref.act_row_bytes);
            CHECK(p.isa <= (enum owb_isa)isa);
            uint8_t *act = xmalloc(owb_matmul_act_bytes(&p));
            run_plan(&p, W, X, act, Y, 1);
            CHECK_MSG(memcmp(act, act_ref, owb_matmul_act_bytes(&p)) == 0,
                      "%s k=%lld batch=%lld: prepared activations differ on %s", tr->name,
                      (long long)k, (long long)batch, owb_isa_name((enum owb_isa)isa));
            const double tol = tr->is_quantized ? TOL_ISA_QUANT : TOL_ISA_FLOAT;
            for (int64_t b = 0; b < batch; b++) {
                for (int64_t r = 0; r < m; r++) {
                    double mag = 0.0;
                    for (int64_t i = 0; i < k; i++)
                        mag += fabs((double)Wf[r * k + i] * (double)X[b * k + i]);
                    const double d = fabs((double)Y[b * m + r] - (double)Yref[b * m + r]);
                    CHECK_MSG(d <= tol * mag + 1e-30,
                              "%s %s (%s) m=%lld k=%lld batch=%lld y[%lld][%lld]=%.9g ref %.9g",
                              tr->name, owb_isa_name((enum owb_isa)isa), p.path, (long long)m,
                              (long long)k, (long long)batch, (long long)b, (long long)r,
                              (double)Y[b * m + r], (double)Yref[b * m + r]);
                }
            }
            /* row splits (as threads would do) are bitwise identical to one call */
            memset(Ysplit, 0xff, sizeof(float) * (size_t)(batch * m));
            run_plan(&p, W, X, act, Ysplit, 3);
            CHECK_MSG(memcmp(Y, Ysplit, sizeof(float) * (size_t)(batch * m)) == 0,
                      "%s %s m=%lld k=%lld batch=%lld: split rows differ from one call", tr->name,
                      p.path, (long long)m, (long long)k, (long long)batch);
            free(act);
            ran[isa]++;
            if (variant == 1)
                ran_nobf16++;
        }
    }
    free(act_ref);
    free(W);
    free(Wf);
    free(X);
    free(Yref);
    free(Y);
    free(Ysplit);
}

/* Quants at the ends of their ranges (most weights at the largest positive code, activations all
 * +1 or all -1, so q8 activations are +-127): the int16 sums of the integer kernels (vpmaddubsw
 * pairs, and the pairs the AVX2 GEMM adds in int16 before widening) must not saturate. */
static void test_extreme(enum owb_type t, int64_t m, int64_t k, int64_t batch)
{
    const struct owb_type_traits *tr = owb_type_traits(t);
    const size_t rb = owb_row_size(t, k);
    uint8_t *W = xmalloc(rb * (size_t)m);
    float *Wf = xmalloc(sizeof(float) * (size_t)(m * k));
    float *X = xmalloc(sizeof(float) * (size_t)(batch * k));
    float *Yref = xmalloc(sizeof(float) * (size_t)(batch * m));
    float *Y = xmalloc(sizeof(float) * (size_t)(batch * m));
    char err[OWB_ERR_MAX];
    /* one -1 per 32 elements sets the scale, 7/8 maps to q4_0's code 15 and mxfp4's +6 */
    for (int64_t r = 0; r < m; r++) {
        for (int64_t i = 0; i < k; i++)
            Wf[r * k + i] = i % 32 == (r % 32) ? -1.0f : 0.875f;
        tr->from_float_ref(Wf + r * k, W + (size_t)r * rb, k);
        tr->to_float(W + (size_t)r * rb, Wf + r * k, k);
    }
    for (int64_t b = 0; b < batch; b++)
        for (int64_t i = 0; i < k; i++)
            X[b * k + i] = b % 2 ? -1.0f : 1.0f;
    struct owb_matmul_plan pref;
    CHECK(owb_matmul_plan_init(&pref, t, m, k, batch, OWB_ISA_REF, err) == 0);
    uint8_t *act = xmalloc(owb_matmul_act_bytes(&pref));
    run_plan(&pref, W, X, act, Yref, 1);
    free(act);
    for (int isa = OWB_ISA_AVX2; isa < OWB_ISA_COUNT; isa++) {
        if (!owb_isa_supported((enum owb_isa)isa))
            continue;
        struct owb_matmul_plan p;
        CHECK(owb_matmul_plan_init(&p, t, m, k, batch, (enum owb_isa)isa, err) == 0);
        act = xmalloc(owb_matmul_act_bytes(&p));
        run_plan(&p, W, X, act, Y, 1);
        for (int64_t b = 0; b < batch; b++)
            for (int64_t r = 0; r < m; r++) {
                double mag = 0.0;
                for (int64_t i = 0; i < k; i++)
                    mag += fabs((double)Wf[r * k + i] * (double)X[b * k + i]);
                CHECK_MSG(fabs((double)Y[b * m + r] - (double)Yref[b * m + r]) <=
                              TOL_ISA_QUANT * mag,
                          "%s extreme %s (%s) m=%lld k=%lld batch=%lld y[%lld][%lld]=%.9g ref %.9g",
                          tr->name, owb_isa_name((enum owb_isa)isa), p.path, (long long)m,
                          (long long)k, (long long)batch, (long long)b, (long long)r,
                          (double)Y[b * m + r], (double)Yref[b * m + r]);
            }
        free(act);
    }
    free(W);
    free(Wf);
    free(X);
    free(Yref);
    free(Y);
}

static void test_errors(void)
{
    char err[OWB_ERR_MAX];
    struct owb_matmul_plan p;
    err[0] = 0;
    CHECK(owb_matmul_plan_init(&p, OWB_TYPE_Q4_0, 4, 100, 1, OWB_ISA_REF, err) == OWB_E_USAGE);
    CHECK(strstr(err, "100") != NULL);
    CHECK(owb_matmul_plan_init(&p, OWB_TYPE_Q4_K, 4, 32 * 3, 1, OWB_ISA_REF, err) == OWB_E_USAGE);
    CHECK(owb_matmul_plan_init(&p, OWB_TYPE_Q4_0, 0, 32, 1, OWB_ISA_REF, err) == OWB_E_USAGE);
    CHECK(owb_matmul_plan_init(&p, OWB_TYPE_Q4_0, 4, 32, 0, OWB_ISA_REF, err) == OWB_E_USAGE);
    CHECK(owb_matmul_plan_init(&p, (enum owb_type)5, 4, 32, 1, OWB_ISA_REF, err) ==
          OWB_E_UNSUPPORTED);
    CHECK(owb_matmul_plan_init(&p, OWB_TYPE_Q4_0, 4, 32, 1, (enum owb_isa)7, err) ==
          OWB_E_UNSUPPORTED);
    for (int isa = 0; isa < OWB_ISA_COUNT; isa++)
        if (!owb_isa_supported((enum owb_isa)isa))
            CHECK(owb_matmul_plan_init(&p, OWB_TYPE_Q4_0, 4, 32, 1, (enum owb_isa)isa, err) ==
                  OWB_E_UNSUPPORTED);
    /* the fast formats get a SIMD kernel on the best ISA */
    if (owb_isa_supported(OWB_ISA_AVX2)) {
        const enum owb_type fast[] = {OWB_TYPE_F32,  OWB_TYPE_F16,  OWB_TYPE_BF16, OWB_TYPE_Q8_0,
                                      OWB_TYPE_Q4_0, OWB_TYPE_Q4_K, OWB_TYPE_Q6_K, OWB_TYPE_MXFP4};
        for (size_t i = 0; i < OWB_ARRAY_LEN(fast); i++) {
            CHECK(owb_matmul_plan_init(&p, fast[i], 4, 256, 1, owb_isa_detect(), err) == 0);
            CHECK_MSG(p.isa != OWB_ISA_REF, "%s has no SIMD kernel: %s", owb_type_name(fast[i]),
                      p.path);
        }
    }
}

/* mxfp4's prepared rows end with the quants grouped by eight blocks (IL4_X8 in
 * kernels/cpu/matmul_cpu.h), which its VBMI kernel reads: element by element against the q8_0
 * blocks at the start of the row, zero for the padding blocks up to a multiple of 8, on every
 * ISA. */
static void test_x8_layout(void)
{
    const int64_t ks[] = {96, 2880};
    static const int chunk_of[4] = {0, 2, 1, 3}; /* elements 8 e8 .. 8 e8 + 7 -> chunk */
    char err[OWB_ERR_MAX];
    for (size_t ki = 0; ki < OWB_ARRAY_LEN(ks); ki++) {
        const int64_t k = ks[ki], nb = k / OWB_QK, nb8 = owb_mm_nb8(k), batch = 2;
        float *X = xmalloc(sizeof(float) * (size_t)(batch * k));
        for (int64_t i = 0; i < batch * k; i++)
            X[i] = (float)urand();
        for (int isa = OWB_ISA_REF; isa < OWB_ISA_COUNT; isa++) {
            if (!owb_isa_supported((enum owb_isa)isa))
                continue;
            struct owb_matmul_plan p;
            CHECK(owb_matmul_plan_init(&p, OWB_TYPE_MXFP4, 5, k, batch, (enum owb_isa)isa, err) ==
                  0);
            CHECK(p.act_row_bytes == owb_mm_q8_0_x8_row_bytes(k));
            uint8_t *act = xmalloc(owb_matmul_act_bytes(&p));
            owb_matmul_prepare(&p, X, k, act, 0, batch);
            int bad = 0;
            for (int64_t b = 0; b < batch; b++) {
                const uint8_t *row = act + (size_t)b * p.act_row_bytes;
                const struct owb_block_q8_0 *blk = (const struct owb_block_q8_0 *)row;
                const int8_t *x8 = (const int8_t *)(row + owb_mm_q8_0_x8_off(k));
                for (int64_t i = 0; i < nb8; i++)
                    for (int e = 0; e < OWB_QK; e++) {
                        const int8_t want = i < nb ? blk[i].qs[e] : 0;
                        const int8_t got =
                            x8[256 * (i / 8) + 64 * chunk_of[e / 8] + 8 * (i % 8) + e % 8];
                        bad += got != want;
                    }
            }
            CHECK_MSG(bad == 0, "mxfp4 k=%lld on %s: %d x8 quants differ from the q8_0 blocks",
                      (long long)k, owb_isa_name((enum owb_isa)isa), bad);
            free(act);
        }
        free(X);
    }
}

/* mxfp4 with every E8M0 exponent 0..255 (row r: all blocks e = r; quants 0 and +-1 so that e = 255
 * stays finite), against the reference path: the kernels convert E8M0 by integer ops, subnormal
 * for e < 2. The reference rounds d_w * d_x to float before multiplying by a block's integer dot;
 * in the subnormal range that rounding is absolute (up to 2^-150), so kernels that apply the two
 * scales in another order (batch > 1) may differ by |dot| * 2^-150 <= 4064 * 2^-150 per block on
 * top of the relative tolerance; at batch 1 they round the same product and differ by the
 * rounding of the sums only (2^-149 per block), far below the e = 1 rows' values (~2^-136). */
static void test_mxfp4_every_e(void)
{
    const int64_t m = 256, ks[] = {96, 256, 288}, batches_e[] = {1, 3};
    static const uint8_t codes[3] = {0, 1, 9}; /* E2M1 0, +1, -1 (doubled: 0, 1, -1) */
    char err[OWB_ERR_MAX];
    for (size_t ki = 0; ki < OWB_ARRAY_LEN(ks); ki++) {
        const int64_t k = ks[ki], nb = k / OWB_QK;
        const size_t rb = owb_row_size(OWB_TYPE_MXFP4, k);
        uint8_t *W = xmalloc(rb * (size_t)m);
        float *Wf = xmalloc(sizeof(float) * (size_t)(m * k));
        for (int64_t r = 0; r < m; r++) {
            struct owb_block_mxfp4 *blk = (struct owb_block_mxfp4 *)(W + (size_t)r * rb);
            for (int64_t i = 0; i < nb; i++) {
                blk[i].e = (uint8_t)r;
                for (int j = 0; j < OWB_QK / 2; j++)
                    blk[i].qs[j] = (uint8_t)(codes[(r + i + j) % 3] | codes[(r + 2 * j) % 3] << 4);
            }
            owb_type_traits(OWB_TYPE_MXFP4)->to_float(blk, Wf + r * k, k);
        }
        for (size_t bi = 0; bi < OWB_ARRAY_LEN(batches_e); bi++) {
            const int64_t batch = batches_e[bi];
            float *X = xmalloc(sizeof(float) * (size_t)(batch * k));
            float *Yref = xmalloc(sizeof(float) * (size_t)(batch * m));
            float *Y = xmalloc(sizeof(float) * (size_t)(batch * m));
            for (int64_t i = 0; i < batch * k; i++)
                X[i] = (float)(1e-3 * urand());
            struct owb_matmul_plan pref;
            CHECK(owb_matmul_plan_init(&pref, OWB_TYPE_MXFP4, m, k, batch, OWB_ISA_REF, err) == 0);
            uint8_t *act = xmalloc(owb_matmul_act_bytes(&pref));
            run_plan(&pref, W, X, act, Yref, 1);
            free(act);
            for (int isa = OWB_ISA_AVX2; isa < OWB_ISA_COUNT; isa++) {
                if (!owb_isa_supported((enum owb_isa)isa))
                    continue;
                struct owb_matmul_plan p;
                CHECK(owb_matmul_plan_init(&p, OWB_TYPE_MXFP4, m, k, batch, (enum owb_isa)isa,
                                           err) == 0);
                act = xmalloc(owb_matmul_act_bytes(&p));
                run_plan(&p, W, X, act, Y, 1);
                int bad = 0;
                for (int64_t b = 0; b < batch; b++)
                    for (int64_t r = 0; r < m; r++) {
                        double mag = 0.0;
                        for (int64_t i = 0; i < k; i++)
                            mag += fabs((double)Wf[r * k + i] * (double)X[b * k + i]);
                        const double y = Y[b * m + r], yr = Yref[b * m + r];
                        const double tol = TOL_ISA_QUANT * mag +
                                           (double)nb * (batch == 1 ? 0x1p-149 : 4064.0 * 0x1p-150);
                        if (!(isfinite(y) && isfinite(yr) && fabs(y - yr) <= tol)) {
                            if (bad++ < 3)
                                fprintf(stderr,
                                        "mxfp4 e=%lld %s (%s) k=%lld batch=%lld: %.9g, ref %.9g\n",
                                        (long long)r, owb_isa_name((enum owb_isa)isa), p.path,
                                        (long long)k, (long long)batch, y, yr);
                        }
                    }
                CHECK_MSG(bad == 0, "mxfp4 every e on %s k=%lld batch=%lld: %d rows differ",
                          owb_isa_name((enum owb_isa)isa), (long long)k, (long long)batch, bad);
                free(act);
            }
            free(X);
            free(Yref);
            free(Y);
        }
        free(W);
        free(Wf);
    }
}

/* Plans whose prepared activations are interchangeable say so, and the others do not. */
static void test_act_compatible(void)
{
    char err[OWB_ERR_MAX];
    struct owb_matmul_plan a, b, c, d, e;
    const enum owb_isa isa = owb_isa_detect();
    CHECK(owb_matmul_plan_init(&a, OWB_TYPE_Q4_0, 8, 256, 1, isa, err) == 0);
    CHECK(owb_matmul_plan_init(&b, OWB_TYPE_Q4_0, 24, 256, 1, isa, err) == 0);
    CHECK(owb_matmul_plan_init(&c, OWB_TYPE_Q8_0, 8, 256, 1, isa, err) == 0);
    CHECK(owb_matmul_plan_init(&d, OWB_TYPE_Q4_K, 8, 256, 1, isa, err) == 0);
    CHECK(owb_matmul_plan_init(&e, OWB_TYPE_Q6_K, 8, 256, 1, isa, err) == 0);
    CHECK(owb_matmul_act_compatible(&a, &b));
    CHECK(!owb_matmul_act_compatible(&a, &c)); /* both q8_0, different extras */
    CHECK(owb_matmul_act_compatible(&d, &e));  /* both plain q8_K */
    CHECK(!owb_matmul_act_compatible(&a, &d));
    /* a q8_0 plan run on q4_0-prepared activations would be wrong: the check must matter */
    const int64_t m = 8, k = 256;
    float wf[8 * 256], x[256], y1[8], y2[8];
    uint8_t w[8 * 272], *act_a = xmalloc(owb_matmul_act_bytes(&a)),
                        *act_c = xmalloc(owb_matmul_act_bytes(&c));
    for (int i = 0; i < m * k; i++)
        wf[i] = (float)urand();
    for (int i = 0; i < k; i++)
        x[i] = (float)urand();
    for (int r = 0; r < m; r++)
        owb_type_traits(OWB_TYPE_Q8_0)
            ->from_float_ref(wf + r * k, w + r * owb_row_size(OWB_TYPE_Q8_0, k), k);
    owb_matmul_prepare(&a, x, k, act_a, 0, 1);
    owb_matmul_prepare(&c, x, k, act_c, 0, 1);
    owb_matmul_rows(&c, w, act_c, x, k, y1, m, 0, m);
    owb_matmul_rows(&c, w, act_a, x, k, y2, m, 0, m);
    if (c.isa != OWB_ISA_REF)
        CHECK(memcmp(y1, y2, sizeof y1) != 0);
    free(act_a);
    free(act_c);
}

/* The bf16 activation conversion of every ISA, bit for bit against bf16_rne_ref, on the specials,
 * ties and near-ties, subnormals, every high half with the low halves around the midpoint, and
 * random words; the count is odd so that every ISA's tail runs. The reference itself is pinned by
 * hand-worked values first. */
static void test_bf16_rounding(void)
{
    static const struct {
        uint32_t in;
        uint16_t out;
    } known[] = {
        {0x00000000u, 0x0000}, {0x80000000u, 0x8000}, /* signed zeros */
        {0x7f800000u, 0x7f80}, {0xff800000u, 0xff80}, /* infinities */
        {0x7f7fffffu, 0x7f80},                        /* FLT_MAX rounds up to infinity */
        {0x7f7f7fffu, 0x7f7f}, {0x7f7f8000u, 0x7f80}, /* below, at the last tie (odd: up) */
        {0x3f808000u, 0x3f80}, {0x3f818000u, 0x3f82}, /* ties: even stays, odd rounds up */
        {0x3f807fffu, 0x3f80}, {0x3f808001u, 0x3f81}, /* one below, one above a tie */
        {0xbf818000u, 0xbf82},                        /* negative tie, away from even */
        {0x00000001u, 0x0000}, {0x00008000u, 0x0000}, /* subnormals: tiny, tie to even 0 */
        {0x00018000u, 0x0002}, {0x0000ffffu, 0x0001}, /* tie to even 2, above half */
        {0x007fffffu, 0x0080}, {0x80008001u, 0x8001}, /* largest to FLT_MIN, negative */
        {0x7fc00000u, 0x7fc0}, {0x7f800001u, 0x7fc0}, /* quiet NaN; payload in low bits only */
        {0x7fbfffffu, 0x7fff}, {0xff800001u, 0xffc0}, /* signalling NaNs made quiet */
        {0xffffffffu, 0xffff},
    };
    for (size_t i = 0; i < OWB_ARRAY_LEN(known); i++)
        CHECK_MSG(bf16_rne_ref(known[i].in) == known[i].out, "bf16_rne_ref(%08x) = %04x, not %04x",
                  known[i].in, bf16_rne_ref(known[i].in), known[i].out);

    static const uint16_t lows[] = {0x0000, 0x0001, 0x7fff, 0x8000, 0x8001, 0xffff};
    const int64_t n =
        ((int64_t)OWB_ARRAY_LEN(known) + 65536 * (int64_t)OWB_ARRAY_LEN(lows) + 4096) | 1;
    uint32_t *u = xmalloc(sizeof(uint32_t) * (size_t)n);
    int64_t j = 0;
    for (size_t i = 0; i < OWB_ARRAY_LEN(known); i++)
        u[j++] = known[i].in;
    for (uint32_t hi = 0; hi < 65536; hi++)
        for (size_t l = 0; l < OWB_ARRAY_LEN(lows); l++)
            u[j++] = hi << 16 | lows[l];
    while (j < n) {
        (void)urand(); /* steps rng */
        u[j++] = (uint32_t)(rng >> 32);
    }
    CHECK(n % 2 == 1);
    float *x = xmalloc(sizeof(float) * (size_t)n);
    memcpy(x, u, sizeof(float) * (size_t)n);
    char err[OWB_ERR_MAX];
    for (int isa = OWB_ISA_REF; isa < OWB_ISA_COUNT; isa++) {
        if (!owb_isa_supported((enum owb_isa)isa))
            continue;
        struct owb_matmul_plan p;
        CHECK(owb_matmul_plan_init(&p, OWB_TYPE_BF16, 1, n, 1, (enum owb_isa)isa, err) == 0);
        CHECK(p.act_type == OWB_TYPE_BF16 && p.act_row_bytes >= (size_t)n * 2);
        uint8_t *act = xmalloc(owb_matmul_act_bytes(&p));
        memset(act, 0xa5, owb_matmul_act_bytes(&p));
        owb_matmul_prepare(&p, x, n, act, 0, 1);
        int64_t bad = 0;
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, act + 2 * i, sizeof h);
            if (h != bf16_rne_ref(u[i]) || h != owb_f32_to_bf16(x[i])) {
                if (bad++ < 5)
                    fprintf(stderr, "%s: bf16(%08x) = %04x, want %04x\n",
                            owb_isa_name((enum owb_isa)isa), u[i], h, bf16_rne_ref(u[i]));
            }
        }
        CHECK_MSG(bad == 0, "%s: %lld of %lld bf16 conversions differ",
                  owb_isa_name((enum owb_isa)isa), (long long)bad, (long long)n);
        /* the padding after an odd row is zero: the pair kernels read element n as +0 */
        CHECK(act[2 * n] == 0 && act[2 * n + 1] == 0);
        free(act);
    }
    free(x);
    free(u);
}

/* The convenience call equals the plan API on the active ISA. */
static void test_convenience(void)
{
    const int64_t m = 9, k = 64, batch = 2;
    const struct owb_type_traits *tr = owb_type_traits(OWB_TYPE_Q4_0);
    float wf[9 * 64], x[2 * 64], y1[2 * 9], y2[2 * 9];
    uint8_t w[9 * 36];
    char err[OWB_ERR_MAX];
    for (int i = 0; i < m * k; i++)
        wf[i] = (float)urand();
    for (int i = 0; i < batch * k; i++)
        x[i] = (float)urand();
    for (int r = 0; r < m; r++)
        tr->from_float_ref(wf + r * k, w + r * owb_row_size(OWB_TYPE_Q4_0, k), k);
    CHECK(owb_matmul(OWB_TYPE_Q4_0, w, m, k, x, batch, y1, err) == 0);
    struct owb_matmul_plan p;
    CHECK(owb_matmul_plan_init(&p, OWB_TYPE_Q4_0, m, k, batch, owb_isa_active(), err) == 0);
    uint8_t *act = xmalloc(owb_matmul_act_bytes(&p));
    run_plan(&p, w, x, act, y2, 1);
    CHECK(memcmp(y1, y2, sizeof y1) == 0);
    free(act);
}

/* With AVX512_BF16 the bf16 GEMM is the GEMV's arithmetic (one vdpbf16ps accumulator per output,
 * ggml tinyBLAS's order): a batch gives bitwise the outputs of its columns run one at a time,
 * across more than one cache block of rows (75 rows of 8 KiB) and a k with a masked tail. */
static void test_bf16_batch_invariant(void)
{
    if (!owb_isa_supported(OWB_ISA_AVX512) || !owb_isa_has_avx512bf16()) {
        fprintf(stderr, "test_matmul: no AVX512_BF16 here, the bf16 GEMM/GEMV identity is not "
                        "checked\n");
        return;
    }
    static const int64_t cases[][3] = {{75, 4096, 19}, {37, 97, 16}, {9, 2880, 512}};
    char err[OWB_ERR_MAX];
    for (size_t ci = 0; ci < OWB_ARRAY_LEN(cases); ci++) {
        const int64_t m = cases[ci][0], k = cases[ci][1], batch = cases[ci][2];
        uint16_t *W = xmalloc(sizeof(uint16_t) * (size_t)(m * k));
        float *X = xmalloc(sizeof(float) * (size_t)(batch * k));
        float *Y = xmalloc(sizeof(float) * (size_t)(batch * m));
        float *Y1 = xmalloc(sizeof(float) * (size_t)m);
        for (int64_t i = 0; i < m * k; i++)
            W[i] = owb_f32_to_bf16((float)urand());
        for (int64_t i = 0; i < batch * k; i++)
            X[i] = (float)urand();
        struct owb_matmul_plan p, p1;
        CHECK(owb_matmul_plan_init(&p, OWB_TYPE_BF16, m, k, batch, OWB_ISA_AVX512, err) == 0);
        CHECK(owb_matmul_plan_init(&p1, OWB_TYPE_BF16, m, k, 1, OWB_ISA_AVX512, err) == 0);
        CHECK_MSG(strstr(p.path, "dpbf16") && strstr(p1.path, "dpbf16"), "paths %s / %s", p.path,
                  p1.path);
        uint8_t *act = xmalloc(owb_matmul_act_bytes(&p)),
                *act1 = xmalloc(owb_matmul_act_bytes(&p1));
        run_plan(&p, W, X, act, Y, 3);
        int bad = 0;
        for (int64_t b = 0; b < batch; b++) {
            run_plan(&p1, W, X + b * k, act1, Y1, 1);
            bad += memcmp(Y1, Y + b * m, sizeof(float) * (size_t)m) != 0;
        }
        CHECK_MSG(bad == 0, "bf16 m=%lld k=%lld batch=%lld (%s): %d columns differ from the GEMV",
                  (long long)m, (long long)k, (long long)batch, p.path, bad);
        free(act);
        free(act1);
        free(W);
        free(X);
        free(Y);
        free(Y1);
    }
}

/* REP8 weights (kernels/matmul.h): every ISA and path (GEMV 1-4 columns, GEMM tiles, the unpacked
 * fallback of the reference, AVX2 and non-VBMI kernels) gives the bits of the same plan on the
 * rows as stored, for row ranges cut anywhere, odd row counts and k with and without a tail; the
 * conversion round-trips and moves bytes exactly when a row has a full group; what REP8 cannot
 * hold is refused; the fast layout is chosen for mxfp4 exactly where the VBMI GEMV runs. */
static void test_wlayout(void)
{
    /* k: one block, one full group, groups plus a 1- and a 2-block tail (2880: gpt-oss) */
    static const int64_t shapes[][2] = {{8, 32}, {16, 256}, {23, 9 * 32}, {40, 2880}, {7, 17 * 32}};
    static const int64_t bts[] = {1, 2, 3, 4, 5, 16, 19};
    const enum owb_type t = OWB_TYPE_MXFP4;
    const struct owb_type_traits *tr = owb_type_traits(t);
    char err[OWB_ERR_MAX];
    int checked = 0, native = 0;
    for (size_t si = 0; si < OWB_ARRAY_LEN(shapes); si++) {
        const int64_t m = shapes[si][0], k = shapes[si][1], rb = (int64_t)owb_row_size(t, k);
        float *wf = xmalloc(sizeof(float) * (size_t)k);
        uint8_t *W = xmalloc((size_t)(m * rb)), *WI = xmalloc((size_t)(m * rb));
        for (int64_t r = 0; r < m; r++) {
            for (int64_t i = 0; i < k; i++)
                wf[i] = (float)(urand() * (1.0 + (double)(r % 5)));
            tr->from_float_ref(wf, W + r * rb, k);
        }
        memcpy(WI, W, (size_t)(m * rb));
        CHECK(owb_wlayout_convert(t, m, k, WI, OWB_WL_ROWS, OWB_WL_REP8, err) == 0);
        CHECK_MSG(k < 256 ? memcmp(W, WI, (size_t)(m * rb)) == 0
                          : memcmp(W, WI, (size_t)(m * rb)) != 0,
                  "%lldx%lld: REP8 moves bytes exactly when rows have a full group of 8 blocks",
                  (long long)m, (long long)k);
        for (int isa = 0; isa < OWB_ISA_COUNT; isa++) {
            if (!owb_isa_supported((enum owb_isa)isa))
                continue;
            for (size_t bi = 0; bi < OWB_ARRAY_LEN(bts); bi++) {
                const int64_t batch = bts[bi];
                float *X = xmalloc(sizeof(float) * (size_t)(batch * k));
                float *Y = xmalloc(sizeof(float) * (size_t)(batch * m));
                float *YI = xmalloc(sizeof(float) * (size_t)(batch * m));
                for (int64_t i = 0; i < batch * k; i++)
                    X[i] = (float)urand();
                struct owb_matmul_plan p, pi;
                CHECK(owb_matmul_plan_init(&p, t, m, k, batch, (enum owb_isa)isa, err) == 0);
                pi = p;
                CHECK(owb_matmul_plan_wlayout(&pi, OWB_WL_REP8, err) == 0);
                CHECK_MSG(strstr(pi.path, " rep8") != NULL, "path %s", pi.path);
                native += strstr(pi.path, "unpacked") == NULL;
                uint8_t *act = xmalloc(owb_matmul_act_bytes(&p) + 64);
                run_plan(&p, W, X, act, Y, 1);
                memset(YI, 0xff, sizeof(float) * (size_t)(batch * m));
                run_plan(&pi, WI, X, act, YI, 3);
                CHECK_MSG(memcmp(Y, YI, sizeof(float) * (size_t)(batch * m)) == 0,
                          "%lldx%lld batch %lld (%s): REP8 differs from rows", (long long)m,
                          (long long)k, (long long)batch, pi.path);
                checked++;
                free(act);
                free(X);
                free(Y);
                free(YI);
            }
        }
        CHECK(owb_wlayout_convert(t, m, k, WI, OWB_WL_REP8, OWB_WL_ROWS, err) == 0);
        CHECK(memcmp(W, WI, (size_t)(m * rb)) == 0);
        free(wf);
        free(W);
        free(WI);
    }
    /* refused: a format other than mxfp4, rows over the limit */
    struct owb_matmul_plan p;
    CHECK(owb_matmul_plan_init(&p, OWB_TYPE_Q4_0, 8, 256, 1, OWB_ISA_REF, err) == 0);
    CHECK(owb_matmul_plan_wlayout(&p, OWB_WL_REP8, err) == OWB_E_USAGE && strstr(err, "8 x 256"));
    CHECK(p.wl == OWB_WL_ROWS);
    CHECK(!owb_wlayout_ok(OWB_WL_REP8, OWB_TYPE_MXFP4, 8, 32 * 1024));
    CHECK(owb_wlayout_ok(OWB_WL_REP8, OWB_TYPE_MXFP4, 2879, 2880));
    CHECK(owb_wlayout_convert(OWB_TYPE_Q4_K, 8, 256, &p, OWB_WL_ROWS, OWB_WL_REP8, err) ==
          OWB_E_USAGE);
    const bool vbmi = owb_isa_supported(OWB_ISA_AVX512) && owb_isa_has_vnni() && owb_isa_has_vbmi();
    CHECK(owb_matmul_wlayout_best(OWB_TYPE_MXFP4, 2880, 2880, OWB_ISA_AVX512) ==
          (vbmi ? OWB_WL_REP8 : OWB_WL_ROWS));
    CHECK(owb_matmul_wlayout_best(OWB_TYPE_MXFP4, 2880, 2880, OWB_ISA_REF) == OWB_WL_ROWS);
    CHECK(owb_matmul_wlayout_best(OWB_TYPE_MXFP4, 64, 224, OWB_ISA_AVX512) == OWB_WL_ROWS);
    CHECK(owb_matmul_wlayout_best(OWB_TYPE_Q4_0, 4096, 4096, OWB_ISA_AVX512) == OWB_WL_ROWS);
    CHECK(checked > 0);
    fprintf(stderr,
            "test_matmul: REP8 layout: %d plans bitwise equal to rows (%d read REP8 natively)\n",
            checked, native);
}

int main(void)
{
    int ran[OWB_ISA_COUNT] = {0};
    test_wlayout();
    test_bf16_batch_invariant();
    for (size_t f = 0; f < OWB_ARRAY_LEN(formats); f++) {
        const enum owb_type t = formats[f];
        const int64_t bs = owb_type_traits(t)->blck_size;
        /* k: three blocks, and one long enough for full 8-block groups plus a tail */
        const int64_t ks[2] = {bs == 1 ? 97 : 3 * bs, bs == 1 ? 672 : bs == 32 ? 21 * 32 : 5 * 256};
        for (size_t mi = 0; mi < OWB_ARRAY_LEN(ms); mi++)
            for (int ki = 0; ki < 2; ki++)
                for (size_t bi = 0; bi < OWB_ARRAY_LEN(batches); bi++)
                    test_case(t, ms[mi], ks[ki], batches[bi], ran);
    }
    /* more than one GEMM column chunk (512) and a partial one */
    const enum owb_type big[] = {OWB_TYPE_Q4_0, OWB_TYPE_Q8_0, OWB_TYPE_MXFP4, OWB_TYPE_F16};
    for (size_t f = 0; f < OWB_ARRAY_LEN(big); f++)
        test_case(big[f], 19, 96, 520, ran);
    /* rows longer than 4 KiB take the kernels' own prefetching row walk (kernels/cpu/b32_avx512.h)
     * and 1-6 KiB rows the grouped walk of owb_matmul_rows: both must give every row */
    const enum owb_type longrow[] = {OWB_TYPE_Q4_0, OWB_TYPE_Q8_0, OWB_TYPE_MXFP4, OWB_TYPE_Q4_K,
                                     OWB_TYPE_Q6_K, OWB_TYPE_F16,  OWB_TYPE_BF16};
    for (size_t f = 0; f < OWB_ARRAY_LEN(longrow); f++) {
        test_case(longrow[f], 37, 14336, 1, ran);
        test_case(longrow[f], 21, 8192, 4, ran);
        test_case(longrow[f], 45, 4096, 1, ran);
    }
    /* GEMM tails: two row blocks of 64 with a partial 16-row tile, a one-block or partial k
     * slice, batches whose remainders after the column groups (3 and 6 on AVX2, 8 on AVX-512)
     * are 1 to 7 columns */
    const enum owb_type gemm[] = {OWB_TYPE_Q4_0, OWB_TYPE_Q8_0, OWB_TYPE_MXFP4, OWB_TYPE_Q4_K,
                                  OWB_TYPE_Q6_K, OWB_TYPE_F32,  OWB_TYPE_F16,   OWB_TYPE_BF16};
    const int64_t gemm_batches[] = {16, 19, 21, 23};
    for (size_t f = 0; f < OWB_ARRAY_LEN(gemm); f++) {
        const int64_t bs = owb_type_traits(gemm[f])->blck_size;
        for (size_t bi = 0; bi < OWB_ARRAY_LEN(gemm_batches); bi++)
            test_case(gemm[f], 75,
                      bs == 1    ? 300
                      : bs == 32 ? 33 * 32
                                 : 3 * 256,
                      gemm_batches[bi], ran);
    }
    /* more columns than one column block (512 on AVX-512, 512 on AVX2) and more rows than one
     * row block (256 for the 32-wide formats): the outer loops of the tiled GEMMs */
    const enum owb_type blocks[] = {OWB_TYPE_Q4_0, OWB_TYPE_Q8_0, OWB_TYPE_Q4_K, OWB_TYPE_F16,
                                    OWB_TYPE_BF16};
    for (size_t f = 0; f < OWB_ARRAY_LEN(blocks); f++)
        test_case(blocks[f], 272, owb_type_traits(blocks[f])->blck_size == 256 ? 256 : 64, 521,
                  ran);
    const enum owb_type intf[] = {OWB_TYPE_Q4_0, OWB_TYPE_Q8_0, OWB_TYPE_MXFP4, OWB_TYPE_Q4_K,
                                  OWB_TYPE_Q6_K};
    for (size_t f = 0; f < OWB_ARRAY_LEN(intf); f++)
        for (size_t bi = 0; bi < OWB_ARRAY_LEN(batches); bi++)
            test_extreme(intf[f], 21, 2 * 256, batches[bi]);
    /* bf16 x bf16 (vdpbf16ps and its fallbacks): gpt-oss's k (2880) and odd ones (the last pair
     * of an odd row is half padding), rows not a multiple of the 16-row tile or the 4-row GEMV
     * group, GEMV batches 1-4 (and 5: GEMV column groups), GEMM batches around the 8-column pass
     * and a whole 512-column block */
    const int64_t bf_ks[] = {32, 96, 97, 2880, 2881};
    const int64_t bf_batches[] = {1, 2, 3, 4, 5, 16, 17, 512};
    for (size_t ki = 0; ki < OWB_ARRAY_LEN(bf_ks); ki++)
        for (size_t bi = 0; bi < OWB_ARRAY_LEN(bf_batches); bi++)
            test_case(OWB_TYPE_BF16, bf_batches[bi] == 512 && bf_ks[ki] > 100 ? 21 : 37, bf_ks[ki],
                      bf_batches[bi], ran);
    test_bf16_rounding();
    /* gpt-oss expert shape k (90 blocks: 11 groups of 8 and a 2-block tail), every GEMV batch:
     * the mxfp4 VBMI kernel's 8-row (one column) and 4-row passes with tail rows */
    for (int64_t b = 1; b <= 4; b++)
        test_case(OWB_TYPE_MXFP4, 45, 2880, b, ran);
    test_x8_layout();
    test_mxfp4_every_e();
    test_errors();
    test_act_compatible();
    test_convenience();
    if (owb_isa_has_avx512bf16())
        printf("avx512 without vdpbf16ps: %d cases\n", ran_nobf16);
    CHECK(!owb_isa_has_avx512bf16() || ran_nobf16 > 0);
    for (int isa = 0; isa < OWB_ISA_COUNT; isa++) {
        if (ran[isa])
            printf("%s: %d cases\n", owb_isa_name((enum owb_isa)isa), ran[isa]);
        else
            printf("%s: SKIPPED (not supported by this CPU)\n", owb_isa_name((enum owb_isa)isa));
    }
    TEST_DONE();
}
