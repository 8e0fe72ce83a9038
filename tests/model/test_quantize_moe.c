/* SPDX-License-Identifier: MIT */
/*
 * test_quantize_moe.c: quantized derivatives of a MoE model (synthetic gpt-oss-tiny: mxfp4
 * experts, bf16 matrices). To every target: each tensor keeps its shape (3-D experts stay 3-D),
 * takes the type the documented rules give (router, biases, sinks and norms f32; experts the
 * target or their own --expert-type), dequantizes close to the source; every row of an expert
 * tensor (ne[1] * ne[2] rows of ne[0]) is exactly the reference quantizer's output for that row
 * alone, in order. Round trip mxfp4 -> q8_0 -> mxfp4 (with --expert-type) gives back the source
 * type mix and values within the formats' tolerances. Bad expert targets are refused without a
 * file.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "model/gguf.h"
#include "model/quantize.h"
#include "model/synth.h"
#include "owb_test.h"

/* Largest relative RMSE of a stored tensor against its source, per output type (as in
 * test_quantize.c; sources here are already on a bf16 or mxfp4 grid). */
#define TOL_F16 1e-3
#define TOL_BF16 5e-3
#define TOL_Q8_0 1e-2
#define TOL_Q6_K 2.5e-2
#define TOL_Q4_K 7e-2
#define TOL_Q4_0 1.2e-1
#define TOL_MXFP4 1.6e-1

static char tmpdir[4096];

static double tol_for(enum owb_type t)
{
    switch (t) {
    case OWB_TYPE_F16:
        return TOL_F16;
    case OWB_TYPE_BF16:
        return TOL_BF16;
    case OWB_TYPE_Q8_0:
        return TOL_Q8_0;
    case OWB_TYPE_Q6_K:
        return TOL_Q6_K;
    case OWB_TYPE_Q4_K:
        return TOL_Q4_K;
    case OWB_TYPE_Q4_0:
        return TOL_Q4_0;
    case OWB_TYPE_MXFP4:
        return TOL_MXFP4;
    default:
        return 0.0;
    }
}

static float *dequant(const struct owb_gguf_tensor *t)
{
    float *x = malloc((size_t)t->n_elements * sizeof *x);
    if (x)
        owb_type_traits(t->type)->to_float(t->data, x, t->n_elements);
    return x;
}

static double rel_rmse(const struct owb_gguf_tensor *a, const struct owb_gguf_tensor *b)
{
    float *x = dequant(a), *y = dequant(b);
    double e = 0, r = 0;
    for (int64_t i = 0; x && y && i < a->n_elements; i++) {
        double d = (double)x[i] - (double)y[i];
        e += d * d;
        r += (double)x[i] * (double)x[i];
    }
    bool ok = x && y;
    free(x);
    free(y);
    return !ok ? (double)INFINITY : r > 0 ? sqrt(e / r) : sqrt(e);
}

static bool ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

static bool fits(enum owb_type t, int64_t n)
{
    return n % owb_type_traits(t)->blck_size == 0;
}

/* The documented rules (model/quantize.h), written out independently of quantize.c. */
static enum owb_type want_type(const struct owb_gguf_tensor *t, enum owb_type target,
                               enum owb_type expert)
{
    if (t->n_dims < 2 || !ends_with(t->name, ".weight") || strstr(t->name, "ffn_gate_inp"))
        return OWB_TYPE_F32;
    enum owb_type w = t->n_dims == 3 && expert != OWB_TYPE_COUNT ? expert : target;
    bool four = w == OWB_TYPE_Q4_0 || w == OWB_TYPE_Q4_K || w == OWB_TYPE_MXFP4;
    if (strcmp(t->name, "token_embd.weight") == 0 && (four || w == OWB_TYPE_Q6_K))
        w = OWB_TYPE_Q8_0;
    else if (strcmp(t->name, "output.weight") == 0 && four)
        w = OWB_TYPE_Q6_K;
    if (fits(w, t->ne[0]))
        return w;
    return fits(OWB_TYPE_Q8_0, t->ne[0]) ? OWB_TYPE_Q8_0 : OWB_TYPE_F16;
}

/* Each of the ne[1] * ne[2] rows of `out` is the reference quantizer's bytes for that row of the
 * dequantized source, alone. */
static void check_rows_exact(const struct owb_gguf_tensor *src, const struct owb_gguf_tensor *out)
{
    const struct owb_type_traits *tr = owb_type_traits(out->type);
    int64_t ncols = src->ne[0], nrows = src->ne[1] * src->ne[2];
    size_t row_bytes = owb_row_size(out->type, ncols);
    float *x = dequant(src);
    unsigned char *q = malloc(row_bytes);
    int bad = 0;
    CHECK(x && q && out->size_bytes == row_bytes * (size_t)nrows);
    for (int64_t r = 0; x && q && r < nrows; r++) {
        if (out->type == OWB_TYPE_F32)
            memcpy(q, x + r * ncols, row_bytes);
        else
            tr->from_float_ref(x + r * ncols, q, ncols);
        bad += memcmp(q, (const unsigned char *)out->data + (size_t)r * row_bytes, row_bytes) != 0;
    }
    CHECK_MSG(bad == 0, "%s (%s): %d of %lld rows differ from a per-row quantization", out->name,
              owb_type_name(out->type), bad, (long long)nrows);
    free(x);
    free(q);
}

static void check_derivative(const struct owb_gguf *in, const struct owb_gguf *out,
                             enum owb_type target, enum owb_type expert)
{
    CHECK(in->n_tensors == out->n_tensors);
    int experts = 0;
    for (int64_t i = 0; i < in->n_tensors; i++) {
        const struct owb_gguf_tensor *a = &in->tensors[i];
        const struct owb_gguf_tensor *b = owb_gguf_tensor(out, a->name);
        CHECK_MSG(b != NULL, "%s missing", a->name);
        if (!b)
            continue;
        CHECK_MSG(b->n_dims == a->n_dims && b->ne[0] == a->ne[0] && b->ne[1] == a->ne[1] &&
                      b->ne[2] == a->ne[2],
                  "%s: shape changed", a->name);
        enum owb_type w = want_type(a, target, expert);
        CHECK_MSG(b->type == w, "%s at %s/%s: %s, want %s", a->name, owb_type_name(target),
                  owb_type_name(expert), owb_type_name(b->type), owb_type_name(w));
        double e = rel_rmse(a, b);
        double tol = b->type == a->type ? 0.0 : tol_for(b->type);
        CHECK_MSG(e <= tol, "%s: %s -> %s relative RMSE %.3g (tol %.3g)", a->name,
                  owb_type_name(a->type), owb_type_name(b->type), e, tol);
        if (b->type == a->type)
            CHECK_MSG(memcmp(a->data, b->data, a->size_bytes) == 0, "%s: not copied", a->name);
        if (a->n_dims == 3) {
            experts++;
            if (b->type != a->type)
                check_rows_exact(a, b);
        }
    }
    CHECK(experts == 3 * 4); /* 3 expert tensors x 4 layers of gpt-oss-tiny */
}

static void check_targets(const char *src)
{
    char err[OWB_ERR_MAX] = "", path[4200];
    struct owb_gguf *in = owb_gguf_open(src, err);
    CHECK_MSG(in != NULL, "%s", err);
    if (!in)
        return;
    static const enum owb_type targets[] = {OWB_TYPE_Q8_0, OWB_TYPE_Q4_0, OWB_TYPE_MXFP4,
                                            OWB_TYPE_Q4_K, OWB_TYPE_Q6_K, OWB_TYPE_F16,
                                            OWB_TYPE_BF16, OWB_TYPE_F32};
    for (size_t k = 0; k < OWB_ARRAY_LEN(targets); k++) {
        snprintf(path, sizeof path, "%s/d-%s.gguf", tmpdir, owb_type_name(targets[k]));
        int rc = owb_quantize_file(src, path, targets[k], 2, NULL, NULL, err);
        CHECK_MSG(rc == 0, "%s: %s", owb_type_name(targets[k]), err);
        struct owb_gguf *out = owb_gguf_open(path, err);
        CHECK_MSG(out != NULL, "%s", err);
        if (out)
            check_derivative(in, out, targets[k], OWB_TYPE_COUNT);
        owb_gguf_close(out);
    }
    /* Separate expert type: q8_0 matrices, q4_0 experts. */
    snprintf(path, sizeof path, "%s/d-q8_0-q4_0.gguf", tmpdir);
    CHECK(owb_quantize_file_ex(src, path, OWB_TYPE_Q8_0, OWB_TYPE_Q4_0, 0, NULL, NULL, err) == 0);
    struct owb_gguf *out = owb_gguf_open(path, err);
    CHECK_MSG(out != NULL, "%s", err);
    if (out)
        check_derivative(in, out, OWB_TYPE_Q8_0, OWB_TYPE_Q4_0);
    owb_gguf_close(out);
    owb_gguf_close(in);
}

/* mxfp4 experts -> q8_0 -> back to the released mix (bf16, experts mxfp4). */
static void check_round_trip(const char *src)
{
    char err[OWB_ERR_MAX] = "", mid[4200], back[4200];
    snprintf(mid, sizeof mid, "%s/rt-q8_0.gguf", tmpdir);
    snprintf(back, sizeof back, "%s/rt-back.gguf", tmpdir);
    CHECK(owb_quantize_file(src, mid, OWB_TYPE_Q8_0, 0, NULL, NULL, err) == 0);
    CHECK(owb_quantize_file_ex(mid, back, OWB_TYPE_BF16, OWB_TYPE_MXFP4, 0, NULL, NULL, err) == 0);
    struct owb_gguf *a = owb_gguf_open(src, err), *b = owb_gguf_open(back, err);
    CHECK(a && b);
    if (!a || !b) {
        owb_gguf_close(a);
        owb_gguf_close(b);
        return;
    }
    int64_t blocks = 0, same = 0;
    for (int64_t i = 0; i < a->n_tensors; i++) {
        const struct owb_gguf_tensor *x = &a->tensors[i];
        const struct owb_gguf_tensor *y = owb_gguf_tensor(b, x->name);
        CHECK_MSG(y && y->type == x->type, "%s: type %s after the round trip, was %s", x->name,
                  y ? owb_type_name(y->type) : "-", owb_type_name(x->type));
        if (!y || y->type != x->type)
            continue;
        /* Two roundings: q8_0 then the source type. */
        double tol = x->type == OWB_TYPE_F32 ? 0.0 : TOL_Q8_0 + tol_for(x->type);
        double e = rel_rmse(x, y);
        CHECK_MSG(e <= tol, "%s: relative RMSE %.3g after the round trip", x->name, e);
        if (x->type == OWB_TYPE_MXFP4) {
            for (size_t off = 0; off < x->size_bytes; off += 17) {
                blocks++;
                same += memcmp((const char *)x->data + off, (const char *)y->data + off, 17) == 0;
            }
        }
    }
    /* q8_0's error (<= 1/254 of a block's largest value) is under half of mxfp4's finest step,
     * so most mxfp4 blocks come back bit for bit. */
    fprintf(stderr, "round trip mxfp4 -> q8_0 -> mxfp4: %lld of %lld blocks identical\n",
            (long long)same, (long long)blocks);
    CHECK_MSG(same * 10 >= blocks * 9, "%lld of %lld mxfp4 blocks identical", (long long)same,
              (long long)blocks);
    uint32_t ft = 0;
    CHECK(owb_gguf_get_u32(b, "general.file_type", &ft, err) == 0 && ft == 32);
    owb_gguf_close(a);
    owb_gguf_close(b);
}

static void check_rules_and_errors(const char *src)
{
    char err[OWB_ERR_MAX] = "", path[4200];
    int64_t ne3[3] = {64, 96, 4}, ne2[2] = {64, 4}, nb[2] = {96, 4};
    CHECK(owb_quantize_pick_type_moe("blk.0.ffn_up_exps.weight", 3, ne3, OWB_TYPE_BF16,
                                     OWB_TYPE_MXFP4, NULL) == OWB_TYPE_MXFP4);
    CHECK(owb_quantize_pick_type_moe("blk.0.ffn_up_exps.weight", 3, ne3, OWB_TYPE_Q4_0,
                                     OWB_TYPE_COUNT, NULL) == OWB_TYPE_Q4_0);
    CHECK(owb_quantize_pick_type_moe("blk.0.attn_q.weight", 2, ne2, OWB_TYPE_BF16, OWB_TYPE_MXFP4,
                                     NULL) == OWB_TYPE_BF16);
    CHECK(owb_quantize_pick_type("blk.0.ffn_gate_inp.weight", 2, ne2, OWB_TYPE_Q8_0, NULL) ==
          OWB_TYPE_F32);
    CHECK(owb_quantize_pick_type("blk.0.ffn_up_exps.bias", 2, nb, OWB_TYPE_Q8_0, NULL) ==
          OWB_TYPE_F32);
    bool fb = false;
    CHECK(owb_quantize_pick_type("blk.0.ffn_up_exps.weight", 3, ne3, OWB_TYPE_Q4_K, &fb) ==
              OWB_TYPE_Q8_0 &&
          fb);

    snprintf(path, sizeof path, "%s/bad-expert.gguf", tmpdir);
    CHECK(owb_quantize_file_ex(src, path, OWB_TYPE_Q8_0, OWB_TYPE_Q5_0, 0, NULL, NULL, err) ==
          OWB_E_USAGE);
    CHECK(strstr(err, "q5_0") != NULL);
    CHECK(access(path, F_OK) != 0);
}

int main(void)
{
    const char *base = getenv("OWB_TMP");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_quantize_moe.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror(tmpdir);
        return 1;
    }
    char err[OWB_ERR_MAX] = "", src[4200];
    const struct owb_synth_preset *p = owb_synth_find("gpt-oss-tiny");
    CHECK(p != NULL);
    if (!p)
        TEST_DONE();
    struct owb_synth_opts o;
    owb_synth_opts_init(&o, p);
    o.seed = 9;
    snprintf(src, sizeof src, "%s/src.gguf", tmpdir);
    int rc = owb_synth_write_opts(p, &o, src, NULL, NULL, err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc == 0) {
        check_targets(src);
        check_round_trip(src);
        check_rules_and_errors(src);
    }
    if (!owb_test_failures)
        owb_test_rmdir(tmpdir);
    TEST_DONE();
}
