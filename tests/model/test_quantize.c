/* SPDX-License-Identifier: MIT */
/*
 * test_quantize.c: quantized derivatives. stories260K.gguf quantized to every target: each tensor
 * has the type the documented rules give for its shape (incl. the fallbacks of its 64- and
 * 172-wide rows), dequantizes close to the original (per-type relative RMSE bound), the metadata
 * is carried over with general.file_type set; the q8_0 derivative is byte-identical to llama.cpp's
 * own stories260K-q8_0.gguf and the q4_0 one to llama.cpp's q4_0 file except token_embd (the
 * documented deviation). A small file with 256-wide rows exercises the k-quants, the output and
 * embedding rules, the fallback chain and the progress callback; quantizing is independent of
 * the thread count; a quantized input is re-quantized or copied; bad inputs fail with the right
 * status, leaving no output (and an existing output untouched).
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/gguf.h"
#include "model/quantize.h"
#include "owb_test.h"

/* Largest relative RMSE (rmse / rms of the original) of a tensor stored in each type, for
 * roughly Gaussian weights. Reference points: q8_0 ~0.4%, q6_K ~1%, q4_K ~4%, q4_0 ~7%,
 * mxfp4 ~10%, f16 ~0.03%, bf16 ~0.2%. */
#define TOL_F32 0.0
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
    case OWB_TYPE_F32:
        return TOL_F32;
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

/* Relative RMSE between two tensors of the same shape (any types). */
static double rel_rmse(const struct owb_gguf_tensor *a, const struct owb_gguf_tensor *b)
{
    float *x = malloc((size_t)a->n_elements * sizeof *x);
    float *y = malloc((size_t)a->n_elements * sizeof *y);
    double e = 0, r = 0;
    if (!x || !y) {
        free(x);
        free(y);
        return INFINITY;
    }
    owb_type_traits(a->type)->to_float(a->data, x, a->n_elements);
    owb_type_traits(b->type)->to_float(b->data, y, b->n_elements);
    for (int64_t i = 0; i < a->n_elements; i++) {
        double d = (double)x[i] - (double)y[i];
        e += d * d;
        r += (double)x[i] * (double)x[i];
    }
    free(x);
    free(y);
    return r > 0 ? sqrt(e / r) : sqrt(e);
}

static bool file_exists(const char *p)
{
    return access(p, F_OK) == 0;
}

static int count_tmp_files(void)
{
    DIR *d = opendir(tmpdir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".tmp.") != NULL;
    if (d)
        closedir(d);
    return n;
}

/* What the rules give on stories260K's shapes: token_embd [64 x 512], output [64 x 512], the
 * other matrices with 64-wide rows, ffn_down with 172-wide rows. */
struct expect {
    enum owb_type target, embd, output, mat64, ffn_down;
    int ftype;
};

static const struct expect stories_expect[] = {
    /* target       embd          output        64-wide       ffn_down (172)  file_type */
    {OWB_TYPE_F32, OWB_TYPE_F32, OWB_TYPE_F32, OWB_TYPE_F32, OWB_TYPE_F32, 0},
    {OWB_TYPE_F16, OWB_TYPE_F16, OWB_TYPE_F16, OWB_TYPE_F16, OWB_TYPE_F16, 1},
    {OWB_TYPE_BF16, OWB_TYPE_BF16, OWB_TYPE_BF16, OWB_TYPE_BF16, OWB_TYPE_BF16, 32},
    {OWB_TYPE_Q8_0, OWB_TYPE_Q8_0, OWB_TYPE_Q8_0, OWB_TYPE_Q8_0, OWB_TYPE_F16, 7},
    /* 4-bit: output wants q6_K, 64 is not a multiple of 256: q8_0 */
    {OWB_TYPE_Q4_0, OWB_TYPE_Q8_0, OWB_TYPE_Q8_0, OWB_TYPE_Q4_0, OWB_TYPE_F16, 2},
    {OWB_TYPE_MXFP4, OWB_TYPE_Q8_0, OWB_TYPE_Q8_0, OWB_TYPE_MXFP4, OWB_TYPE_F16, 38},
    /* k-quants: nothing in stories260K is 256-wide */
    {OWB_TYPE_Q4_K, OWB_TYPE_Q8_0, OWB_TYPE_Q8_0, OWB_TYPE_Q8_0, OWB_TYPE_F16, 14},
    {OWB_TYPE_Q6_K, OWB_TYPE_Q8_0, OWB_TYPE_Q8_0, OWB_TYPE_Q8_0, OWB_TYPE_F16, 18},
};

struct seen {
    int calls, fell;
    int64_t n;
    char fell_names[64][64];
};

static void on_tensor(void *ctx, int64_t i, int64_t n, const char *name, int64_t row_len,
                      enum owb_type in, enum owb_type out, bool fell_back)
{
    struct seen *s = ctx;
    (void)in;
    (void)out;
    (void)row_len;
    CHECK(i == s->calls);
    s->calls++;
    s->n = n;
    if (fell_back) {
        if (s->fell < 64)
            snprintf(s->fell_names[s->fell], sizeof s->fell_names[0], "%s", name);
        s->fell++;
    }
}

static bool fell_back_named(const struct seen *s, const char *name)
{
    for (int i = 0; i < s->fell && i < 64; i++)
        if (strcmp(s->fell_names[i], name) == 0)
            return true;
    return false;
}

/* Same keys and values, except general.file_type / quantization_version. */
static void check_metadata_kept(const struct owb_gguf *in, const struct owb_gguf *out)
{
    for (int64_t i = 0; i < in->n_kv; i++) {
        const struct owb_gguf_kv *a = &in->kv[i];
        if (strcmp(a->key, "general.file_type") == 0 ||
            strcmp(a->key, "general.quantization_version") == 0)
            continue;
        const struct owb_gguf_kv *b = owb_gguf_find(out, a->key);
        CHECK_MSG(b != NULL, "key %s lost", a->key);
        if (!b)
            continue;
        CHECK_MSG(a->value.type == b->value.type, "key %s changed type", a->key);
        if (a->value.type == OWB_GGUF_ARRAY) {
            CHECK(a->value.v.arr.n == b->value.v.arr.n);
            for (uint64_t j = 0; j < a->value.v.arr.n; j++) {
                if (a->value.v.arr.elem_type == OWB_GGUF_STRING) {
                    struct owb_gguf_str x = owb_gguf_arr_str(&a->value, j),
                                        y = owb_gguf_arr_str(&b->value, j);
                    CHECK(x.len == y.len && memcmp(x.ptr, y.ptr, x.len) == 0);
                } else {
                    CHECK(owb_gguf_arr_num(&a->value, j) == owb_gguf_arr_num(&b->value, j));
                }
            }
        } else if (a->value.type == OWB_GGUF_STRING) {
            CHECK(a->value.v.s.len == b->value.v.s.len &&
                  memcmp(a->value.v.s.ptr, b->value.v.s.ptr, a->value.v.s.len) == 0);
        } else {
            CHECK_MSG(memcmp(&a->value.v, &b->value.v, sizeof a->value.v) == 0,
                      "key %s changed value", a->key);
        }
    }
}

static void check_stories(void)
{
    const char *src = owb_test_data("models/gguf/stories260K.gguf");
    if (!src) {
        fprintf(stderr, "note: stories260K.gguf absent; stories checks skipped\n");
        return;
    }
    char err[OWB_ERR_MAX] = "", path[4200];
    struct owb_gguf *in = owb_gguf_open(src, err);
    CHECK_MSG(in != NULL, "%s", err);
    if (!in)
        return;
    for (size_t k = 0; k < OWB_ARRAY_LEN(stories_expect); k++) {
        const struct expect *x = &stories_expect[k];
        struct seen seen = {0};
        snprintf(path, sizeof path, "%s/stories-%s.gguf", tmpdir, owb_type_name(x->target));
        int rc = owb_quantize_file(src, path, x->target, 0, on_tensor, &seen, err);
        CHECK_MSG(rc == 0, "%s: %s", owb_type_name(x->target), err);
        struct owb_gguf *out = rc ? NULL : owb_gguf_open(path, err);
        CHECK_MSG(rc || out, "%s", err);
        if (!out)
            continue;
        CHECK(seen.calls == in->n_tensors && seen.n == in->n_tensors);
        CHECK(out->n_tensors == in->n_tensors);
        uint32_t ft = 99;
        CHECK(owb_gguf_get_u32(out, "general.file_type", &ft, err) == 0 && (int)ft == x->ftype);
        CHECK(owb_quantize_ftype(x->target) == x->ftype);
        check_metadata_kept(in, out);
        for (int64_t i = 0; i < in->n_tensors; i++) {
            const struct owb_gguf_tensor *a = &in->tensors[i];
            const struct owb_gguf_tensor *b = owb_gguf_tensor(out, a->name);
            CHECK_MSG(b != NULL, "%s missing", a->name);
            if (!b)
                continue;
            enum owb_type want;
            if (a->n_dims == 1)
                want = OWB_TYPE_F32;
            else if (strcmp(a->name, "token_embd.weight") == 0)
                want = x->embd;
            else if (strcmp(a->name, "output.weight") == 0)
                want = x->output;
            else if (strstr(a->name, "ffn_down"))
                want = x->ffn_down;
            else
                want = x->mat64;
            CHECK_MSG(b->type == want, "%s at %s: %s, want %s", a->name, owb_type_name(x->target),
                      owb_type_name(b->type), owb_type_name(want));
            CHECK(b->ne[0] == a->ne[0] && b->ne[1] == a->ne[1] && b->n_dims == a->n_dims);
            double e = rel_rmse(a, b), tol = tol_for(b->type);
            CHECK_MSG(e <= tol, "%s at %s (%s): relative RMSE %.3g > %.3g", a->name,
                      owb_type_name(x->target), owb_type_name(b->type), e, tol);
            /* A type other than the rule's first choice is reported as a fallback. */
            bool first_choice = b->type == x->target || a->n_dims == 1 ||
                                (strcmp(a->name, "token_embd.weight") == 0 && b->type == x->embd) ||
                                (strcmp(a->name, "output.weight") == 0 && b->type == OWB_TYPE_Q6_K);
            CHECK_MSG(fell_back_named(&seen, a->name) == !first_choice,
                      "%s at %s: fallback reported %d", a->name, owb_type_name(x->target),
                      (int)fell_back_named(&seen, a->name));
        }
        owb_gguf_close(out);
    }
    owb_gguf_close(in);

    /* llama.cpp's own derivatives of the same file: same types everywhere for q8_0 and the same
     * bytes (the reference q8_0 quantizer is deterministic); for q4_0 the same except
     * token_embd (llama.cpp keeps it at q4_0, owbench at q8_0). */
    static const struct {
        const char *file, *ours;
    } ref[] = {{"models/gguf/stories260K-q8_0.gguf", "q8_0"},
               {"models/gguf/stories260K-q4_0.gguf", "q4_0"}};
    for (size_t k = 0; k < OWB_ARRAY_LEN(ref); k++) {
        const char *lp = owb_test_data(ref[k].file);
        if (!lp)
            continue;
        snprintf(path, sizeof path, "%s/stories-%s.gguf", tmpdir, ref[k].ours);
        struct owb_gguf *l = owb_gguf_open(lp, err), *o = owb_gguf_open(path, err);
        CHECK(l && o);
        int same = 0;
        for (int64_t i = 0; l && o && i < l->n_tensors; i++) {
            const struct owb_gguf_tensor *a = &l->tensors[i];
            const struct owb_gguf_tensor *b = owb_gguf_tensor(o, a->name);
            bool deviation = k == 1 && strcmp(a->name, "token_embd.weight") == 0;
            CHECK(b != NULL);
            if (!b)
                continue;
            if (deviation) {
                CHECK(a->type == OWB_TYPE_Q4_0 && b->type == OWB_TYPE_Q8_0);
                continue;
            }
            CHECK_MSG(a->type == b->type, "%s: llama.cpp %s, owbench %s", a->name,
                      owb_type_name(a->type), owb_type_name(b->type));
            bool eq =
                a->size_bytes == b->size_bytes && memcmp(a->data, b->data, a->size_bytes) == 0;
            CHECK_MSG(eq, "%s (%s): bytes differ from llama.cpp's", a->name,
                      owb_type_name(a->type));
            same += eq;
        }
        CHECK(l && same == l->n_tensors - (k == 1 ? 1 : 0));
        owb_gguf_close(l);
        owb_gguf_close(o);
    }
}

/* Deterministic pseudo-Gaussian values (sum of uniforms). */
static void fill(float *x, int64_t n, uint64_t seed)
{
    uint64_t s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        double v = 0;
        for (int k = 0; k < 4; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            v += (double)(s >> 11) / 9007199254740992.0 - 0.5;
        }
        x[i] = (float)(v * 1.7320508);
    }
}

struct small_tensor {
    const char *name;
    int n_dims;
    int64_t ne0, ne1;
    enum owb_type in_type;
    /* expected output type at q4_K, q6_K */
    enum owb_type at_q4k, at_q6k;
    bool fell;
};

static const struct small_tensor small[] = {
    {"token_embd.weight", 2, 256, 40, OWB_TYPE_F32, OWB_TYPE_Q8_0, OWB_TYPE_Q8_0, false},
    {"blk.0.attn_norm.weight", 1, 256, 1, OWB_TYPE_F16, OWB_TYPE_F32, OWB_TYPE_F32, false},
    {"blk.0.attn_q.weight", 2, 256, 48, OWB_TYPE_F32, OWB_TYPE_Q4_K, OWB_TYPE_Q6_K, false},
    /* big enough (256 K values) for owb_quantize_rows to split it over threads */
    {"blk.0.ffn_up.weight", 2, 256, 1024, OWB_TYPE_F32, OWB_TYPE_Q4_K, OWB_TYPE_Q6_K, false},
    {"blk.0.ffn_down.weight", 2, 96, 16, OWB_TYPE_F32, OWB_TYPE_Q8_0, OWB_TYPE_Q8_0, true},
    {"blk.0.odd.weight", 2, 100, 4, OWB_TYPE_F32, OWB_TYPE_F16, OWB_TYPE_F16, true},
    {"output.weight", 2, 256, 40, OWB_TYPE_F32, OWB_TYPE_Q6_K, OWB_TYPE_Q6_K, false},
};

/* A small GGUF (model/gguf.h's writer) whose 256-wide rows fit the k-quants. */
static int write_small(const char *path)
{
    char err[OWB_ERR_MAX];
    struct owb_gguf_writer *w = owb_gguf_writer_new();
    void *bufs[OWB_ARRAY_LEN(small)] = {0};
    int rc = owb_gguf_writer_set_str(w, "general.architecture", "llama", err);
    rc = rc ? rc : owb_gguf_writer_set_u32(w, "general.file_type", 0, err);
    rc = rc ? rc : owb_gguf_writer_set_u32(w, "general.alignment", 64, err); /* kept by quantize */
    for (size_t i = 0; i < OWB_ARRAY_LEN(small) && !rc; i++) {
        const struct small_tensor *t = &small[i];
        int64_t n = t->ne0 * t->ne1, ne[2] = {t->ne0, t->ne1};
        float *x = malloc((size_t)n * sizeof *x);
        void *q = malloc((size_t)n * sizeof(float));
        bufs[i] = q;
        if (!x || !q) {
            free(x);
            rc = OWB_E_NOMEM;
            break;
        }
        fill(x, n, i + 1);
        owb_type_traits(t->in_type)->from_float_ref(x, q, n);
        free(x);
        rc = owb_gguf_writer_add_tensor(w, t->name, t->in_type, t->n_dims, ne, q,
                                        owb_row_size(t->in_type, n), err);
    }
    if (!rc)
        rc = owb_gguf_writer_write(w, path, err);
    if (rc)
        fprintf(stderr, "write_small: %s\n", err);
    owb_gguf_writer_free(w);
    for (size_t i = 0; i < OWB_ARRAY_LEN(small); i++)
        free(bufs[i]);
    return rc;
}

static void check_small(void)
{
    char err[OWB_ERR_MAX] = "", src[4200], path[4200], path2[4200];
    snprintf(src, sizeof src, "%s/small.gguf", tmpdir);
    CHECK(write_small(src) == 0);
    struct owb_gguf *in = owb_gguf_open(src, err);
    CHECK_MSG(in != NULL, "%s", err);
    if (!in)
        return;
    const enum owb_type targets[2] = {OWB_TYPE_Q4_K, OWB_TYPE_Q6_K};
    for (int k = 0; k < 2; k++) {
        struct seen seen = {0};
        snprintf(path, sizeof path, "%s/small-%s.gguf", tmpdir, owb_type_name(targets[k]));
        CHECK(owb_quantize_file(src, path, targets[k], 1, on_tensor, &seen, err) == 0);
        struct owb_gguf *out = owb_gguf_open(path, err);
        CHECK_MSG(out != NULL, "%s", err);
        if (!out)
            continue;
        CHECK(out->alignment == 64);
        for (size_t i = 0; i < OWB_ARRAY_LEN(small); i++) {
            const struct owb_gguf_tensor *a = owb_gguf_tensor(in, small[i].name);
            const struct owb_gguf_tensor *b = owb_gguf_tensor(out, small[i].name);
            enum owb_type want = k == 0 ? small[i].at_q4k : small[i].at_q6k;
            CHECK(a && b);
            if (!a || !b)
                continue;
            CHECK_MSG(b->type == want, "%s at %s: %s, want %s", small[i].name,
                      owb_type_name(targets[k]), owb_type_name(b->type), owb_type_name(want));
            double e = rel_rmse(a, b);
            CHECK_MSG(e <= tol_for(b->type), "%s: relative RMSE %.3g (%s)", small[i].name, e,
                      owb_type_name(b->type));
            CHECK_MSG(fell_back_named(&seen, small[i].name) == small[i].fell,
                      "%s: fallback reported wrongly", small[i].name);
            bool fb = true;
            int64_t ne[2] = {small[i].ne0, small[i].ne1};
            CHECK(owb_quantize_pick_type(small[i].name, small[i].n_dims, ne, targets[k], &fb) ==
                  want);
            CHECK(fb == small[i].fell);
        }
        owb_gguf_close(out);
        /* Any thread count gives the same bytes. */
        snprintf(path2, sizeof path2, "%s/small-%s-t3.gguf", tmpdir, owb_type_name(targets[k]));
        CHECK(owb_quantize_file(src, path2, targets[k], 3, NULL, NULL, err) == 0);
        struct owb_gguf *a = owb_gguf_open(path, err), *b = owb_gguf_open(path2, err);
        CHECK(a && b && a->file_size == b->file_size &&
              memcmp(a->base, b->base, a->file_size) == 0);
        owb_gguf_close(a);
        owb_gguf_close(b);
    }
    owb_gguf_close(in);

    /* Re-quantizing a quantized file: q4_K -> f16 dequantizes (the values equal the q4_K
     * file's to f16 precision); q4_K -> q4_K copies every tensor byte for byte. */
    snprintf(src, sizeof src, "%s/small-q4_K.gguf", tmpdir);
    snprintf(path, sizeof path, "%s/small-q4_K-f16.gguf", tmpdir);
    snprintf(path2, sizeof path2, "%s/small-q4_K-q4_K.gguf", tmpdir);
    CHECK(owb_quantize_file(src, path, OWB_TYPE_F16, 0, NULL, NULL, err) == 0);
    CHECK(owb_quantize_file(src, path2, OWB_TYPE_Q4_K, 0, NULL, NULL, err) == 0);
    struct owb_gguf *q = owb_gguf_open(src, err), *f = owb_gguf_open(path, err),
                    *c = owb_gguf_open(path2, err);
    CHECK(q && f && c);
    for (int64_t i = 0; q && f && c && i < q->n_tensors; i++) {
        const struct owb_gguf_tensor *a = &q->tensors[i];
        const struct owb_gguf_tensor *b = owb_gguf_tensor(f, a->name);
        const struct owb_gguf_tensor *d = owb_gguf_tensor(c, a->name);
        CHECK(b && (b->type == OWB_TYPE_F16 || a->n_dims == 1));
        CHECK(b && rel_rmse(a, b) <= TOL_F16);
        CHECK(d && d->type == a->type && memcmp(d->data, a->data, a->size_bytes) == 0);
    }
    owb_gguf_close(q);
    owb_gguf_close(f);
    owb_gguf_close(c);
}

/* owb_quantize_rows: every thread count gives the bytes of one reference call over all rows. */
static void check_rows(void)
{
    const int64_t nrows = 1024, ncols = 256;
    const enum owb_type types[] = {OWB_TYPE_Q4_K, OWB_TYPE_Q4_0, OWB_TYPE_MXFP4, OWB_TYPE_F16};
    float *x = malloc((size_t)(nrows * ncols) * sizeof *x);
    unsigned char *ref = malloc((size_t)(nrows * ncols) * sizeof(float));
    unsigned char *got = malloc((size_t)(nrows * ncols) * sizeof(float));
    CHECK(x && ref && got);
    if (x && ref && got) {
        fill(x, nrows * ncols, 99);
        for (size_t k = 0; k < OWB_ARRAY_LEN(types); k++) {
            size_t bytes = owb_row_size(types[k], ncols) * (size_t)nrows;
            owb_type_traits(types[k])->from_float_ref(x, ref, nrows * ncols);
            for (int nt = 0; nt <= 5; nt++) {
                memset(got, 0xAB, bytes);
                CHECK(owb_quantize_rows(types[k], x, got, nrows, ncols, nt) == 0);
                CHECK_MSG(memcmp(ref, got, bytes) == 0, "%s with %d threads",
                          owb_type_name(types[k]), nt);
            }
        }
    }
    free(x);
    free(ref);
    free(got);
}

static void check_errors(void)
{
    char err[OWB_ERR_MAX] = "", path[4200], bad[4200], src[4200];
    snprintf(path, sizeof path, "%s/err-out.gguf", tmpdir);
    snprintf(src, sizeof src, "%s/small.gguf", tmpdir);

    /* Missing input. */
    CHECK(owb_quantize_file("/nonexistent/x.gguf", path, OWB_TYPE_Q8_0, 0, NULL, NULL, err) ==
          OWB_E_IO);
    CHECK(strstr(err, "/nonexistent/x.gguf") != NULL);
    CHECK(!file_exists(path));

    /* Not a GGUF: the existing output file stays as it was. */
    snprintf(bad, sizeof bad, "%s/not.gguf", tmpdir);
    FILE *fp = fopen(bad, "w");
    if (fp) {
        fputs("this is not a gguf file, just some text\n", fp);
        fclose(fp);
    }
    fp = fopen(path, "w");
    if (fp) {
        fputs("old", fp);
        fclose(fp);
    }
    CHECK(owb_quantize_file(bad, path, OWB_TYPE_Q8_0, 0, NULL, NULL, err) == OWB_E_FORMAT);
    CHECK(strstr(err, "not.gguf") != NULL);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size == 3);
    remove(path);

    /* Unsupported target. */
    CHECK(owb_quantize_file(src, path, OWB_TYPE_Q5_0, 0, NULL, NULL, err) == OWB_E_USAGE);
    CHECK(strstr(err, "q5_0") != NULL);
    CHECK(!owb_quantize_target_ok(OWB_TYPE_Q5_0) && owb_quantize_ftype(OWB_TYPE_Q5_0) == -1);
    CHECK(!file_exists(path));

    /* Unwritable output folder. */
    snprintf(path, sizeof path, "%s/no/such/dir/out.gguf", tmpdir);
    CHECK(owb_quantize_file(src, path, OWB_TYPE_Q8_0, 0, NULL, NULL, err) == OWB_E_IO);
    CHECK(strstr(err, "no/such/dir") != NULL);
    CHECK(count_tmp_files() == 0);
}

int main(void)
{
    const char *base = getenv("OWB_TMP");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_quantize.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror(tmpdir);
        return 1;
    }
    check_stories();
    check_small();
    check_rows();
    check_errors();
    if (!owb_test_failures)
        owb_test_rmdir(tmpdir);
    TEST_DONE();
}
