/* SPDX-License-Identifier: MIT */
/*
 * test_formats.c: the block formats without external data. Traits (names, sizes, lookups); f16
 * and bf16 conversions exhaustively over all 65536 values, every rounding midpoint and the
 * special cases; quantize -> dequantize round trips on Gaussian data of odd block counts, with a
 * per-format relative RMSE bound and, for the round-to-nearest formats, a per-element bound in
 * units of the block's step; vec_dot_ref against the float64 dot of the dequantized operands
 * (exact up to float rounding) and against the float64 dot of the original floats (a statistical
 * bound from the formats' errors).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/formats.h"
#include "owb_common.h"
#include "owb_test.h"

/* Round trip on N(0,1) data: RMSE(x - dequant(quant(x))) / RMS(x) must stay below these. They
 * are 1.2-1.4x the worst values ggml's formats reach here (the test prints them), so a wrong
 * rounding, scale or packing fails them. */
#define RT_REL_RMSE_F16 3.0e-4
#define RT_REL_RMSE_BF16 2.3e-3
#define RT_REL_RMSE_Q8_0 8.0e-3
#define RT_REL_RMSE_Q8_1 8.0e-3
#define RT_REL_RMSE_Q8_K 9.5e-3
#define RT_REL_RMSE_Q4_0 0.115
#define RT_REL_RMSE_Q4_1 0.11
#define RT_REL_RMSE_Q5_0 0.057
#define RT_REL_RMSE_Q5_1 0.047
#define RT_REL_RMSE_Q2_K 0.36
#define RT_REL_RMSE_Q3_K 0.19
#define RT_REL_RMSE_Q4_K 0.095
#define RT_REL_RMSE_Q5_K 0.047
#define RT_REL_RMSE_Q6_K 0.024
#define RT_REL_RMSE_MXFP4 0.145

/* Per-element error bounds of the round-to-nearest formats, in units of the block step d: half a
 * step plus the f16 rounding of d (2^-11 relative) times the largest quant; q4_0/q5_0 round
 * -max to the clamped top level, a full step away. */
#define STEP_BOUND_Q8 (0.5 + 128.0 / 2048.0)
#define STEP_BOUND_Q4_0 (1.0 + 16.0 / 2048.0)
#define STEP_BOUND_Q5_0 (1.0 + 32.0 / 2048.0)
#define STEP_BOUND_Q4_1 (0.5 + 16.0 / 2048.0)
#define STEP_BOUND_Q5_1 (0.5 + 32.0 / 2048.0)
#define F16_REL_ULP 0x1p-11 /* relative rounding error bound of f16 (m stored as f16) */

/* vec_dot_ref vs the float64 dot of the dequantized operands: float rounding only, relative to
 * sum_i max|w in block| * |a_i| (covers the min terms of the asymmetric formats). */
#define DOT_VS_DEQUANT_REL 4e-6
/* vec_dot_ref vs the float64 dot of the original floats: the error is a sum of n independent
 * terms, about (r_w + r_a) * |x| * |y| / sqrt(n) with r the formats' relative RMSEs; allow this
 * many of those standard deviations, plus a float rounding floor. */
#define DOT_VS_F64_SIGMAS 6.0
#define DOT_VS_F64_FLOOR 1e-5

/* ---- deterministic N(0,1) ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1dull;
}

static double rng_uniform(void)
{
    return ((double)(rng_next() >> 11) + 0.5) * 0x1p-53;
}

static float rng_normal(void)
{
    double u1 = rng_uniform(), u2 = rng_uniform();
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static void fill_normal(float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = rng_normal();
}

/* ---- traits ---- */

static void test_traits(void)
{
    static const struct {
        enum owb_type t;
        const char *name;
        int64_t blck;
        size_t bytes;
    } want[] = {
        {OWB_TYPE_F32, "f32", 1, 4},       {OWB_TYPE_F16, "f16", 1, 2},
        {OWB_TYPE_BF16, "bf16", 1, 2},     {OWB_TYPE_Q4_0, "q4_0", 32, 18},
        {OWB_TYPE_Q4_1, "q4_1", 32, 20},   {OWB_TYPE_Q5_0, "q5_0", 32, 22},
        {OWB_TYPE_Q5_1, "q5_1", 32, 24},   {OWB_TYPE_Q8_0, "q8_0", 32, 34},
        {OWB_TYPE_Q8_1, "q8_1", 32, 36},   {OWB_TYPE_Q2_K, "q2_K", 256, 84},
        {OWB_TYPE_Q3_K, "q3_K", 256, 110}, {OWB_TYPE_Q4_K, "q4_K", 256, 144},
        {OWB_TYPE_Q5_K, "q5_K", 256, 176}, {OWB_TYPE_Q6_K, "q6_K", 256, 210},
        {OWB_TYPE_Q8_K, "q8_K", 256, 292}, {OWB_TYPE_MXFP4, "mxfp4", 32, 17},
    };
    for (size_t i = 0; i < OWB_ARRAY_LEN(want); i++) {
        const struct owb_type_traits *tr = owb_type_traits(want[i].t);
        CHECK_MSG(tr != NULL, "no traits for %s", want[i].name);
        if (!tr)
            continue;
        CHECK_MSG(strcmp(tr->name, want[i].name) == 0, "%s vs %s", tr->name, want[i].name);
        CHECK(strcmp(owb_type_name(want[i].t), want[i].name) == 0);
        CHECK(tr->blck_size == want[i].blck);
        CHECK(tr->type_size == want[i].bytes);
        CHECK(tr->to_float && tr->from_float_ref);
        CHECK(tr->is_quantized == (want[i].blck > 1));
        enum owb_type t = OWB_TYPE_COUNT;
        CHECK(owb_type_from_name(want[i].name, &t) == 0 && t == want[i].t);
        CHECK(owb_row_size(want[i].t, 0) == 0);
        CHECK(owb_row_size(want[i].t, want[i].blck * 7) == 7 * want[i].bytes);
        if (want[i].blck > 1)
            CHECK(owb_row_size(want[i].t, want[i].blck * 7 + 1) == 0);
        /* every weight format has a dot whose activation format exists and quantizes */
        if (want[i].t != OWB_TYPE_Q8_1 && want[i].t != OWB_TYPE_Q8_K) {
            CHECK_MSG(tr->vec_dot_ref != NULL, "%s: no vec_dot_ref", tr->name);
            const struct owb_type_traits *at = owb_type_traits(tr->vec_dot_type);
            CHECK(at && at->from_float_ref && at->blck_size == tr->blck_size);
        }
    }
    enum owb_type t = OWB_TYPE_F32;
    CHECK(owb_type_from_name("Q4_K", &t) == 0 && t == OWB_TYPE_Q4_K);
    CHECK(owb_type_from_name("MXFP4", &t) == 0 && t == OWB_TYPE_MXFP4);
    t = OWB_TYPE_F16;
    CHECK(owb_type_from_name("q4_2", &t) == -1 && t == OWB_TYPE_F16);
    CHECK(owb_type_from_name("", &t) == -1);
    CHECK(owb_type_from_name("q4_0x", &t) == -1);
    CHECK(owb_type_from_name(NULL, &t) == -1);
    static const int unknown[] = {-1, 4, 5, 16, 29, 31, 38, 40, 1000};
    for (size_t i = 0; i < OWB_ARRAY_LEN(unknown); i++) {
        CHECK(owb_type_traits((enum owb_type)unknown[i]) == NULL);
        CHECK(strcmp(owb_type_name((enum owb_type)unknown[i]), "?") == 0);
        CHECK(owb_row_size((enum owb_type)unknown[i], 256) == 0);
    }
}

/* ---- f16 / bf16 ---- */

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Value of a binary16 from its definition, independently of the code under test. */
static double half_value(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    double v;
    if (exp == 0)
        v = ldexp((double)mant, -24);
    else if (exp == 31)
        v = mant ? NAN : INFINITY;
    else
        v = ldexp(1.0 + mant / 1024.0, exp - 15);
    return sign ? -v : v;
}

static void test_f16(void)
{
    int bad_value = 0, bad_trip = 0, bad_nan = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = owb_f16_to_f32((owb_f16_t)h);
        double v = half_value((uint16_t)h);
        bool is_nan = ((h >> 10) & 0x1f) == 31 && (h & 0x3ff);
        if (is_nan) {
            /* NaN keeps its sign and payload and becomes quiet */
            uint16_t back = owb_f32_to_f16(f);
            if (!isnan(f) || (f32_bits(f) >> 31) != (h >> 15) || back != (h | 0x200u))
                bad_nan++;
            continue;
        }
        if ((double)f != v || !signbit(f) != !signbit(v))
            bad_value++;
        if (owb_f32_to_f16(f) != h)
            bad_trip++;
    }
    CHECK_MSG(bad_value == 0, "%d halves decode to the wrong float", bad_value);
    CHECK_MSG(bad_trip == 0, "%d halves do not round-trip", bad_trip);
    CHECK_MSG(bad_nan == 0, "%d NaN halves mishandled", bad_nan);

    /* every midpoint between adjacent finite halves of either sign rounds to the even one, and
     * one float ulp either side rounds to the nearer one */
    int bad_mid = 0;
    for (uint32_t h = 0; h < 0x7bff; h++) {
        for (int sgn = 0; sgn < 2; sgn++) {
            uint16_t lo = (uint16_t)(h | (sgn ? 0x8000u : 0u));
            uint16_t hi = (uint16_t)(lo + 1);
            double a = half_value(lo), b = half_value(hi);
            float mid = (float)((a + b) / 2);
            if ((double)mid != (a + b) / 2) {
                bad_mid++;
                continue;
            }
            uint16_t even = (lo & 1) ? hi : lo;
            float below = nextafterf(mid, (float)a), above = nextafterf(mid, (float)b);
            if (owb_f32_to_f16(mid) != even || owb_f32_to_f16(below) != lo ||
                owb_f32_to_f16(above) != hi)
                bad_mid++;
        }
    }
    CHECK_MSG(bad_mid == 0, "%d f16 midpoints round wrongly", bad_mid);

    /* overflow, underflow and the specials */
    CHECK(owb_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(owb_f32_to_f16(nextafterf(65520.0f, 0.0f)) == 0x7bff);
    CHECK(owb_f32_to_f16(65520.0f) == 0x7c00);
    CHECK(owb_f32_to_f16(-65520.0f) == 0xfc00);
    CHECK(owb_f32_to_f16(1e10f) == 0x7c00);
    CHECK(owb_f32_to_f16(FLT_MAX) == 0x7c00);
    CHECK(owb_f32_to_f16(INFINITY) == 0x7c00);
    CHECK(owb_f32_to_f16(-INFINITY) == 0xfc00);
    CHECK(owb_f32_to_f16(0x1p-25f) == 0x0000);                   /* tie to even: zero */
    CHECK(owb_f32_to_f16(nextafterf(0x1p-25f, 1.0f)) == 0x0001); /* just above: min subnormal */
    CHECK(owb_f32_to_f16(-0x1p-25f) == 0x8000);
    CHECK(owb_f32_to_f16(0x1.8p-24f) == 0x0002); /* 1.5 ulp: tie to even 2 */
    CHECK(owb_f32_to_f16(0x1p-26f) == 0x0000);
    CHECK(owb_f32_to_f16(FLT_MIN) == 0x0000);
    CHECK(owb_f32_to_f16(0x1p-149f) == 0x0000);
    CHECK(owb_f32_to_f16(0x1.ff8p-15f) == 0x03ff); /* largest subnormal */
    CHECK(owb_f32_to_f16(0x1.ffcp-15f) == 0x0400); /* tie: up to min normal */
    CHECK(owb_f32_to_f16(nextafterf(0x1.ffcp-15f, 0.0f)) == 0x03ff);
    CHECK(owb_f32_to_f16(0.0f) == 0x0000);
    CHECK(owb_f32_to_f16(-0.0f) == 0x8000);
    CHECK(owb_f32_to_f16(1.0f) == 0x3c00);
    CHECK(owb_f32_to_f16(1.0f + 0x1p-11f) == 0x3c00);   /* tie, even stays */
    CHECK(owb_f32_to_f16(1.0f + 0x1.8p-10f) == 0x3c02); /* tie, odd rounds up */
    uint16_t qn = owb_f32_to_f16(NAN);
    CHECK(((qn >> 10) & 0x1f) == 31 && (qn & 0x3ff) != 0 && (qn & 0x200));
    uint16_t sn = owb_f32_to_f16(bits_f32(0x7f800001u)); /* signalling, payload in low bits */
    CHECK(((sn >> 10) & 0x1f) == 31 && (sn & 0x200));
    CHECK(owb_f32_to_f16(bits_f32(0xffc00000u)) & 0x8000);
}

static void test_bf16(void)
{
    int bad_trip = 0, bad_nan = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = owb_bf16_to_f32((owb_bf16_t)h);
        if (f32_bits(f) != h << 16)
            bad_trip++;
        bool is_nan = ((h >> 7) & 0xff) == 0xff && (h & 0x7f);
        uint16_t back = owb_f32_to_bf16(f);
        if (is_nan) {
            if (back != (h | 0x40u))
                bad_nan++;
        } else if (back != h) {
            bad_trip++;
        }
    }
    CHECK_MSG(bad_trip == 0, "%d bf16 values do not round-trip", bad_trip);
    CHECK_MSG(bad_nan == 0, "%d bf16 NaNs are not quieted", bad_nan);

    int bad_mid = 0;
    for (uint32_t h = 0; h < 0x7f7f; h++) {
        for (int sgn = 0; sgn < 2; sgn++) {
            uint32_t lo = h | (sgn ? 0x8000u : 0u);
            uint32_t mid = (lo << 16) | 0x8000u;
            uint32_t even = (lo & 1) ? lo + 1 : lo;
            if (owb_f32_to_bf16(bits_f32(mid)) != even ||
                owb_f32_to_bf16(bits_f32(mid - 1)) != lo ||
                owb_f32_to_bf16(bits_f32(mid + 1)) != lo + 1)
                bad_mid++;
        }
    }
    CHECK_MSG(bad_mid == 0, "%d bf16 midpoints round wrongly", bad_mid);
    CHECK(owb_f32_to_bf16(FLT_MAX) == 0x7f80); /* beyond the largest bf16 midpoint: inf */
    CHECK(owb_f32_to_bf16(INFINITY) == 0x7f80);
    CHECK(owb_f32_to_bf16(-INFINITY) == 0xff80);
    CHECK(owb_f32_to_bf16(1.0f) == 0x3f80);
    CHECK(owb_f32_to_bf16(-0.0f) == 0x8000);
    CHECK(owb_f32_to_bf16(0x1p-149f) == 0x0000); /* subnormals round, not flushed: */
    CHECK(owb_f32_to_bf16(0x1p-133f) == 0x0001); /* 2^-133 is the smallest bf16 subnormal */
    CHECK(owb_f32_to_bf16(bits_f32(0x7f800001u)) == 0x7fc0);
    CHECK(owb_f32_to_bf16(bits_f32(0xff812345u)) == 0xffc1);
}

/* ---- round trips ---- */

struct fmt_case {
    enum owb_type t;
    double rt_rel_rmse; /* bound on RMSE / RMS(x) for N(0,1) data */
};

static const struct fmt_case fmt_cases[] = {
    {OWB_TYPE_F32, 0.0},
    {OWB_TYPE_F16, RT_REL_RMSE_F16},
    {OWB_TYPE_BF16, RT_REL_RMSE_BF16},
    {OWB_TYPE_Q8_0, RT_REL_RMSE_Q8_0},
    {OWB_TYPE_Q8_1, RT_REL_RMSE_Q8_1},
    {OWB_TYPE_Q8_K, RT_REL_RMSE_Q8_K},
    {OWB_TYPE_Q4_0, RT_REL_RMSE_Q4_0},
    {OWB_TYPE_Q4_1, RT_REL_RMSE_Q4_1},
    {OWB_TYPE_Q5_0, RT_REL_RMSE_Q5_0},
    {OWB_TYPE_Q5_1, RT_REL_RMSE_Q5_1},
    {OWB_TYPE_Q2_K, RT_REL_RMSE_Q2_K},
    {OWB_TYPE_Q3_K, RT_REL_RMSE_Q3_K},
    {OWB_TYPE_Q4_K, RT_REL_RMSE_Q4_K},
    {OWB_TYPE_Q5_K, RT_REL_RMSE_Q5_K},
    {OWB_TYPE_Q6_K, RT_REL_RMSE_Q6_K},
    {OWB_TYPE_MXFP4, RT_REL_RMSE_MXFP4},
};

static double rt_bound(enum owb_type t)
{
    for (size_t i = 0; i < OWB_ARRAY_LEN(fmt_cases); i++) {
        if (fmt_cases[i].t == t)
            return fmt_cases[i].rt_rel_rmse;
    }
    return 0.0;
}

/* Block counts: odd, so no power-of-two layout hides an indexing bug. */
static const int64_t block_counts[] = {1, 3, 7, 33};

/* Per-element check of the round-to-nearest formats: |x - x^| <= bound * step (+ m rounding). */
static int check_elementwise(enum owb_type t, const float *x, const float *y, int64_t n)
{
    int bad = 0;
    for (int64_t b = 0; b < n / OWB_QK; b++) {
        const float *xb = x + b * OWB_QK;
        const float *yb = y + b * OWB_QK;
        double amax = 0, mn = INFINITY, mx = -INFINITY;
        for (int j = 0; j < OWB_QK; j++) {
            amax = fmax(amax, fabs((double)xb[j]));
            mn = fmin(mn, (double)xb[j]);
            mx = fmax(mx, (double)xb[j]);
        }
        double tol;
        switch (t) {
        case OWB_TYPE_Q8_0:
        case OWB_TYPE_Q8_1:
            tol = STEP_BOUND_Q8 * amax / 127;
            break;
        case OWB_TYPE_Q4_0:
            tol = STEP_BOUND_Q4_0 * amax / 8;
            break;
        case OWB_TYPE_Q5_0:
            tol = STEP_BOUND_Q5_0 * amax / 16;
            break;
        case OWB_TYPE_Q4_1:
            tol = STEP_BOUND_Q4_1 * (mx - mn) / 15 + F16_REL_ULP * fabs(mn);
            break;
        case OWB_TYPE_Q5_1:
            tol = STEP_BOUND_Q5_1 * (mx - mn) / 31 + F16_REL_ULP * fabs(mn);
            break;
        case OWB_TYPE_MXFP4: {
            /* nearest value of the scaled E2M1 grid, with the block scale amax/d in [4, 16) */
            static const int8_t kv[8] = {0, 1, 2, 3, 4, 6, 8, 12};
            /* d = 2^(floor(log2 amax) - 3): amax / d in [8, 16), so values beyond 12 d clamp */
            int e;
            (void)frexp(amax, &e);
            const double d = ldexp(1.0, e - 4);
            if (amax == 0)
                continue;
            for (int j = 0; j < OWB_QK; j++) {
                double best = INFINITY;
                for (int k = 0; k < 8; k++)
                    best = fmin(best, fabs(fabs((double)xb[j]) - kv[k] * d));
                double err = fabs((double)xb[j] - (double)yb[j]);
                if (err > best * (1 + 1e-6) + 1e-30) {
                    if (bad++ < 3)
                        fprintf(stderr, "mxfp4 block %lld elem %d: %g -> %g, nearest is %g away\n",
                                (long long)b, j, (double)xb[j], (double)yb[j], best);
                }
            }
            continue;
        }
        default:
            return 0;
        }
        tol += 1e-6 * amax; /* float rounding of x * id and q * d */
        for (int j = 0; j < OWB_QK; j++) {
            double err = fabs((double)xb[j] - (double)yb[j]);
            if (err > tol) {
                if (bad++ < 3)
                    fprintf(stderr, "%s block %lld elem %d: %g -> %g, error %g > %g\n",
                            owb_type_name(t), (long long)b, j, (double)xb[j], (double)yb[j], err,
                            tol);
            }
        }
    }
    return bad;
}

static void test_round_trips(void)
{
    for (size_t f = 0; f < OWB_ARRAY_LEN(fmt_cases); f++) {
        const struct owb_type_traits *tr = owb_type_traits(fmt_cases[f].t);
        double worst = 0;
        for (size_t c = 0; c < OWB_ARRAY_LEN(block_counts); c++) {
            int64_t n = block_counts[c] * (tr->blck_size > 1 ? tr->blck_size : 37);
            size_t rsz = owb_row_size(fmt_cases[f].t, n);
            float *x = malloc((size_t)n * sizeof(float));
            float *y = malloc((size_t)n * sizeof(float));
            /* one spare byte past the row, which the quantizer must not touch */
            uint8_t *q = malloc(rsz + 1);
            OWB_ASSERT(x && y && q);
            fill_normal(x, n);
            q[rsz] = 0xa5;
            tr->from_float_ref(x, q, n);
            CHECK_MSG(q[rsz] == 0xa5, "%s: quantizer wrote past the row", tr->name);
            tr->to_float(q, y, n);
            double se = 0, sx = 0;
            for (int64_t i = 0; i < n; i++) {
                double d = (double)x[i] - (double)y[i];
                se += d * d;
                sx += (double)x[i] * (double)x[i];
            }
            double rel = sqrt(se / sx);
            worst = fmax(worst, rel);
            CHECK_MSG(rel <= fmt_cases[f].rt_rel_rmse, "%s n=%lld: relative RMSE %g > %g", tr->name,
                      (long long)n, rel, fmt_cases[f].rt_rel_rmse);
            int bad = check_elementwise(fmt_cases[f].t, x, y, n);
            CHECK_MSG(bad == 0, "%s n=%lld: %d elements beyond the per-element bound", tr->name,
                      (long long)n, bad);
            if (fmt_cases[f].t == OWB_TYPE_Q8_K) {
                const struct owb_block_q8_K *b = (const void *)q;
                for (int64_t i = 0; i < n / OWB_QK_K; i++) {
                    for (int j = 0; j < OWB_QK_K / 16; j++) {
                        int s = 0;
                        for (int l = 0; l < 16; l++)
                            s += b[i].qs[16 * j + l];
                        CHECK(b[i].bsums[j] == s);
                    }
                }
            }
            free(x);
            free(y);
            free(q);
        }
        fprintf(stderr, "round trip %-6s worst relative RMSE %.4g (bound %.4g)\n", tr->name, worst,
                fmt_cases[f].rt_rel_rmse);
    }

    /* zero and constant blocks: zeros stay exact zeros; constants come back within the step */
    for (size_t f = 0; f < OWB_ARRAY_LEN(fmt_cases); f++) {
        const struct owb_type_traits *tr = owb_type_traits(fmt_cases[f].t);
        int64_t n = tr->blck_size > 1 ? tr->blck_size * 3 : 96;
        float *x = calloc((size_t)n, sizeof(float));
        float *y = malloc((size_t)n * sizeof(float));
        uint8_t *q = malloc(owb_row_size(fmt_cases[f].t, n));
        OWB_ASSERT(x && y && q);
        tr->from_float_ref(x, q, n);
        tr->to_float(q, y, n);
        int nonzero = 0;
        for (int64_t i = 0; i < n; i++)
            nonzero += y[i] != 0.0f;
        CHECK_MSG(nonzero == 0, "%s: zeros come back as %d non-zeros", tr->name, nonzero);
        for (int64_t i = 0; i < n; i++)
            x[i] = (i / (n / 3) == 1) ? -0.75f : 0.75f; /* one block negative, two positive */
        tr->from_float_ref(x, q, n);
        tr->to_float(q, y, n);
        for (int64_t i = 0; i < n; i++) {
            CHECK_MSG(fabsf(y[i] - x[i]) <=
                          0.75f * fmaxf(2 * (float)fmt_cases[f].rt_rel_rmse, 1e-3f),
                      "%s: constant %g comes back as %g", tr->name, (double)x[i], (double)y[i]);
        }
        free(x);
        free(y);
        free(q);
    }
}

/* ---- dot products ---- */

static void test_vec_dots(void)
{
    static const enum owb_type weights[] = {
        OWB_TYPE_F32,  OWB_TYPE_F16,  OWB_TYPE_BF16, OWB_TYPE_Q8_0,  OWB_TYPE_Q4_0,
        OWB_TYPE_Q4_1, OWB_TYPE_Q5_0, OWB_TYPE_Q5_1, OWB_TYPE_Q2_K,  OWB_TYPE_Q3_K,
        OWB_TYPE_Q4_K, OWB_TYPE_Q5_K, OWB_TYPE_Q6_K, OWB_TYPE_MXFP4,
    };
    for (size_t f = 0; f < OWB_ARRAY_LEN(weights); f++) {
        const struct owb_type_traits *wt = owb_type_traits(weights[f]);
        const struct owb_type_traits *at = owb_type_traits(wt->vec_dot_type);
        double worst_deq = 0, worst_f64 = 0;
        for (size_t c = 0; c < OWB_ARRAY_LEN(block_counts); c++) {
            int64_t blk = wt->blck_size > 1 ? wt->blck_size : 32;
            int64_t n = block_counts[c] * blk;
            float *x = malloc((size_t)n * sizeof(float));
            float *y = malloc((size_t)n * sizeof(float));
            float *xd = malloc((size_t)n * sizeof(float));
            float *yd = malloc((size_t)n * sizeof(float));
            uint8_t *wq = malloc(owb_row_size(weights[f], n));
            uint8_t *aq = malloc(owb_row_size(wt->vec_dot_type, n));
            OWB_ASSERT(x && y && xd && yd && wq && aq);
            fill_normal(x, n);
            fill_normal(y, n);
            wt->from_float_ref(x, wq, n);
            at->from_float_ref(y, aq, n);
            wt->to_float(wq, xd, n);
            at->to_float(aq, yd, n);
            float s = NAN;
            wt->vec_dot_ref(n, &s, wq, aq);

            /* (1) against the dequantized operands */
            double ref = 0, mag = 0;
            for (int64_t b = 0; b < n / blk; b++) {
                double wmax = 0;
                for (int64_t i = b * blk; i < (b + 1) * blk; i++)
                    wmax = fmax(wmax, fabs((double)xd[i]));
                for (int64_t i = b * blk; i < (b + 1) * blk; i++) {
                    ref += (double)xd[i] * (double)yd[i];
                    mag += wmax * fabs((double)yd[i]);
                }
            }
            double tol = DOT_VS_DEQUANT_REL * mag;
            if (wt->vec_dot_type == OWB_TYPE_Q8_1) {
                /* q8_1 carries s = f16(d * sum q); the dot uses it for the min term, so add the
                 * f16 rounding of s times the weight block's min (its smallest value) */
                const struct owb_block_q8_1 *ab = (const void *)aq;
                for (int64_t b = 0; b < n / blk; b++) {
                    double exact = 0, m = 0;
                    for (int j = 0; j < blk; j++) {
                        exact += (double)yd[b * blk + j];
                        m = fmax(m, fabs((double)xd[b * blk + j]));
                    }
                    tol += 2 * m * fabs((double)owb_f16_to_f32(ab[b].s) - exact);
                }
            }
            double err = fabs((double)s - ref);
            worst_deq = fmax(worst_deq, err / (mag > 0 ? mag : 1));
            CHECK_MSG(err <= tol, "%s x %s n=%lld: dot %.9g vs dequantized %.9g (tol %g)", wt->name,
                      at->name, (long long)n, (double)s, ref, tol);

            /* (2) against the original floats */
            double exact = 0, nx = 0, ny = 0;
            for (int64_t i = 0; i < n; i++) {
                exact += (double)x[i] * (double)y[i];
                nx += (double)x[i] * (double)x[i];
                ny += (double)y[i] * (double)y[i];
            }
            double scale = sqrt(nx * ny);
            double sig =
                (rt_bound(weights[f]) + rt_bound(wt->vec_dot_type)) * scale / sqrt((double)n);
            double tol2 = DOT_VS_F64_SIGMAS * sig + DOT_VS_F64_FLOOR * scale;
            double err2 = fabs((double)s - exact);
            worst_f64 = fmax(worst_f64, err2 / (sig > 0 ? sig : 1));
            CHECK_MSG(err2 <= tol2, "%s x %s n=%lld: dot %.9g vs float64 %.9g (tol %g)", wt->name,
                      at->name, (long long)n, (double)s, exact, tol2);
            free(x);
            free(y);
            free(xd);
            free(yd);
            free(wq);
            free(aq);
        }
        fprintf(stderr, "vec_dot %-6s x %-4s: vs dequantized %.3g (rel), vs float64 %.3g sigmas\n",
                wt->name, at->name, worst_deq, worst_f64);
    }
}

int main(void)
{
    test_traits();
    test_f16();
    test_bf16();
    test_round_trips();
    test_vec_dots();
    TEST_DONE();
}
