/* SPDX-License-Identifier: MIT */
/*
 * test_kld_llamacpp.c: llama.cpp's perplexity logits file as a KLD base (evals/kld_llamacpp.h),
 * without llama.cpp: a file written in its format from a synthetic bigram producer's own logits
 * reads back with the same counts and tokens, and scoring that producer against it gives KLD
 * below the uint16 quantization floor, 100% top-1 agreement and equal perplexities; a perturbed
 * producer gives the full-vocabulary KLD computed directly in float64 from the two tables (with
 * llama.cpp's -16 cutoff on the dequantized base). Our tokens are checked against the file's (a
 * difference is OWB_E_USAGE naming the position), a producer with another vocabulary or a
 * shorter context is refused. Then a corpus of broken files, each OWB_E_FORMAT with a message
 * naming the file: empty, every truncation of the header, bad magic, impossible counts, sizes
 * that do not match the counts (one byte short, one byte extra), token ids out of range, rows
 * with a NaN / negative / huge scale, a positive minimum log-prob, probabilities that do not add
 * up to 1; and 300 random byte flips: never a crash. A missing file is OWB_E_IO.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/rng.h"
#include "evals/kld.h"
#include "evals/kld_llamacpp.h"
#include "evals/ppl.h"
#include "owb_test.h"
#include "synth_producer.h"

#define V 301 /* odd: the rows carry one pad value */
#define CTX 16
#define N_CHUNK 6
#define NP (CTX - 1 - CTX / 2)

static char path[512], bad_path[512];

/* Tokens of the file: BOS then a fixed walk over the vocabulary. */
static void make_tokens(int32_t *tok)
{
    for (int i = 0; i < N_CHUNK * CTX; i++)
        tok[i] = (i * 37 + 11) % 256;
    tok[0] = 256;
}

/* Write p's logits for the file's windows (first token BOS, as llama.cpp runs them). */
static void write_file(struct owb_producer *p, const int32_t *tok, const char *out)
{
    char err[OWB_ERR_MAX] = "";
    struct owb_lcpp_writer *w = NULL;
    const float *table = synth_table(p);
    int rc = owb_lcpp_writer_open(&w, out, CTX, V, N_CHUNK, tok, err);
    CHECK_MSG(rc == 0, "%s", err);
    for (int c = 0; c < N_CHUNK && !rc; c++)
        for (int j = CTX / 2; j < CTX - 1 && !rc; j++) {
            int32_t prev = j == 0 ? 256 : tok[c * CTX + j];
            rc = owb_lcpp_writer_add(w, table + (size_t)prev * V, err);
        }
    CHECK_MSG(rc == 0, "%s", err);
    rc = owb_lcpp_writer_finish(w, err);
    CHECK_MSG(rc == 0, "%s", err);
}

static unsigned char *slurp(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    OWB_ASSERT(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n + 8);
    OWB_ASSERT(b && fread(b, 1, *n, f) == *n);
    fclose(f);
    return b;
}

static void spill(const unsigned char *b, size_t n)
{
    FILE *f = fopen(bad_path, "wb");
    OWB_ASSERT(f);
    OWB_ASSERT(fwrite(b, 1, n, f) == n);
    fclose(f);
}

/* Open bad_path and, if that works, read every row; returns the first error status. */
static int try_bad(char err[OWB_ERR_MAX])
{
    struct owb_lcpp_logits *f = NULL;
    int rc = owb_lcpp_open(bad_path, &f, err);
    if (rc)
        return rc;
    uint16_t *buf = malloc((size_t)f->row_u16 * 2);
    float *lp = malloc((size_t)f->n_vocab * sizeof *lp);
    for (int64_t w = 0; !rc && w < f->n_chunk; w++)
        for (int64_t i = 0; !rc && i < f->n_pos; i++)
            rc = owb_lcpp_read_row(f, w, i, buf, lp, err);
    free(buf);
    free(lp);
    owb_lcpp_close(f);
    return rc;
}

static void expect_bad(const unsigned char *b, size_t n, const char *what, const char *needle)
{
    char err[OWB_ERR_MAX] = "";
    spill(b, n);
    int rc = try_bad(err);
    CHECK_MSG(rc == OWB_E_FORMAT, "%s: status %d (%s)", what, rc, err);
    CHECK_MSG(strstr(err, bad_path) != NULL, "%s: message does not name the file: %s", what, err);
    CHECK_MSG(!needle || strstr(err, needle), "%s: message '%s' lacks '%s'", what, err, needle);
}

static void put_i32(unsigned char *b, int32_t v)
{
    uint32_t u = (uint32_t)v;
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(u >> (8 * i));
}

static void corpus(void)
{
    size_t n;
    unsigned char *good = slurp(path, &n), *b = malloc(n + 8);
    size_t rows_off = 20 + 4 * (size_t)N_CHUNK * CTX, row_bytes = (size_t)(V + 1 + 4) * 2;
    CHECK(n == rows_off + (size_t)N_CHUNK * NP * row_bytes);

    expect_bad(good, 0, "empty", "shorter than the 20-byte header");
    for (size_t k = 1; k < 20; k++)
        expect_bad(good, k, "short header", "header");
    memcpy(b, good, n);
    b[0] = 'X';
    expect_bad(b, n, "magic", "_logits_");
    memcpy(b, good, n);
    put_i32(b + 8, 2);
    expect_bad(b, n, "ctx 2", "context");
    put_i32(b + 8, -5);
    expect_bad(b, n, "ctx negative", "context");
    memcpy(b, good, n);
    put_i32(b + 12, 1);
    expect_bad(b, n, "vocab 1", "vocabulary");
    put_i32(b + 12, V + 3);
    expect_bad(b, n, "vocab changed", "bytes");
    memcpy(b, good, n);
    put_i32(b + 16, 0);
    expect_bad(b, n, "0 chunks", "chunk count");
    put_i32(b + 16, N_CHUNK + 1);
    expect_bad(b, n, "more chunks", "truncated");
    put_i32(b + 16, 0x7fffffff);
    expect_bad(b, n, "huge chunks", "bytes");
    memcpy(b, good, n);
    put_i32(b + 8, 1 << 24);
    put_i32(b + 12, 1 << 24);
    expect_bad(b, n, "huge counts", "bytes");
    expect_bad(good, n - 1, "one byte short", "truncated");
    memcpy(b, good, n);
    b[n] = 0;
    expect_bad(b, n + 1, "one byte extra", "trailing bytes");
    for (size_t k = 20; k < n; k += 977)
        expect_bad(good, k, "truncated anywhere", NULL);
    memcpy(b, good, n);
    put_i32(b + 20 + 4 * 5, V);
    expect_bad(b, n, "token = vocab", "outside the vocabulary");
    put_i32(b + 20 + 4 * 5, -1);
    expect_bad(b, n, "token -1", "outside the vocabulary");

    /* Row contents: chunk 2, row 3. */
    size_t r = rows_off + (2 * NP + 3) * row_bytes;
    float nanf_ = NAN, neg = -1e-3f, big = 1.0f, pos = 0.5f;
    memcpy(b, good, n);
    memcpy(b + r, &nanf_, 4);
    expect_bad(b, n, "NaN scale", "chunk 2 row 3");
    memcpy(b, good, n);
    memcpy(b + r, &neg, 4);
    expect_bad(b, n, "negative scale", "scale");
    memcpy(b, good, n);
    memcpy(b + r, &big, 4);
    expect_bad(b, n, "huge scale", "scale");
    memcpy(b, good, n);
    memcpy(b + r + 4, &pos, 4);
    expect_bad(b, n, "positive min log-prob", "out of range");
    memcpy(b, good, n);
    memset(b + r + 8, 0xff, 2 * 40); /* 40 tokens at the row's maximum */
    expect_bad(b, n, "mass", "add up to 1");

    /* Random flips: never a crash (an error or, for harmless flips, success). */
    struct owb_rng rng;
    owb_rng_seed(&rng, 7);
    for (int t = 0; t < 300; t++) {
        char err[OWB_ERR_MAX] = "";
        memcpy(b, good, n);
        for (int k = 0; k < 4; k++)
            b[owb_rng_below(&rng, n)] ^= (unsigned char)(1u << owb_rng_below(&rng, 8));
        spill(b, n);
        int rc = try_bad(err);
        CHECK_MSG(rc == 0 || rc == OWB_E_FORMAT, "flip %d: status %d", t, rc);
    }
    {
        char err[OWB_ERR_MAX] = "";
        struct owb_lcpp_logits *f = NULL;
        unlink(bad_path);
        CHECK(owb_lcpp_open(bad_path, &f, err) == OWB_E_IO && f == NULL);
    }
    free(b);
    free(good);
}

/* Full-vocabulary KL(base || model) at one position, llama.cpp's way, from the tables: the base
 * row dequantized from the file, the model's softmax in long double. */
static double direct_kl(const float *blp, const float *row)
{
    long double mx = row[0], s = 0, kl = 0;
    for (int v = 1; v < V; v++)
        mx = row[v] > mx ? row[v] : mx;
    for (int v = 0; v < V; v++)
        s += expl((long double)row[v] - mx);
    long double lse = mx + logl(s);
    for (int v = 0; v < V; v++)
        if (blp[v] > -16.0f)
            kl += expl((long double)blp[v]) * ((long double)blp[v] - ((long double)row[v] - lse));
    return (double)kl;
}

int main(void)
{
    char err[OWB_ERR_MAX] = "";
    const char *t = getenv("OWB_TMP");
    int32_t tok[N_CHUNK * CTX];
    snprintf(path, sizeof path, "%s/lcpp_%d.kld", t && *t ? t : "/tmp", (int)getpid());
    snprintf(bad_path, sizeof bad_path, "%s/lcpp_bad_%d.kld", t && *t ? t : "/tmp", (int)getpid());
    make_tokens(tok);
    struct owb_producer *base = synth_new(V, 5, 2.0, 0, 0, 1, 64);
    struct owb_producer *pert = synth_new(V, 5, 2.0, 0.3, 9, 1, 64);
    OWB_ASSERT(base && pert);
    write_file(base, tok, path);

    struct owb_lcpp_logits *f = NULL;
    int rc = owb_lcpp_open(path, &f, err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc)
        return 1;
    CHECK(f->n_ctx == CTX && f->n_vocab == V && f->n_chunk == N_CHUNK && f->n_pos == NP);
    CHECK(f->row_u16 == V + 1 + 4);
    CHECK(memcmp(f->tokens, tok, sizeof tok) == 0);

    /* Token check: equal, longer text, a difference, a shorter text. */
    int32_t ours[N_CHUNK * CTX + 5];
    memcpy(ours, tok, sizeof tok);
    CHECK(owb_lcpp_check_tokens(f, ours, N_CHUNK * CTX, err) == 0);
    CHECK(owb_lcpp_check_tokens(f, ours, N_CHUNK * CTX + 5, err) == 0);
    ours[CTX + 3] ^= 1;
    CHECK(owb_lcpp_check_tokens(f, ours, N_CHUNK * CTX, err) == OWB_E_USAGE);
    CHECK_MSG(strstr(err, "window 1, position 3") != NULL, "%s", err);
    ours[CTX + 3] ^= 1;
    CHECK(owb_lcpp_check_tokens(f, ours, N_CHUNK * CTX - 1, err) == OWB_E_USAGE);

    /* The producer against its own logits: quantization floor only. */
    struct owb_kld_cfg cfg = {.boot_reps = 50, .seed = 1};
    struct owb_kld_result r;
    rc = owb_kld_run_llamacpp(base, f, &cfg, &r, err);
    CHECK_MSG(rc == 0, "%s", err);
    if (!rc) {
        CHECK(r.n == N_CHUNK * NP && r.plan.n_windows == N_CHUNK && r.plan.first == CTX / 2 + 1);
        CHECK_MSG(fabs(r.kld_mean.v) < 1e-6, "self KLD %g", r.kld_mean.v);
        /* per position |sum p delta| <= half a step: 8/65535 */
        CHECK_MSG(r.kld_max.v < 8.0 / 65535 * 1.01, "self KLD max %g", r.kld_max.v);
        CHECK_NEAR(r.top1.v, 1.0, 0);
        CHECK_NEAR(r.ppl / r.ppl_base, 1.0, 1e-4);
        owb_kld_result_release(&r);
    }

    /* A perturbed model: the direct float64 value. */
    rc = owb_kld_run_llamacpp(pert, f, &cfg, &r, err);
    CHECK_MSG(rc == 0, "%s", err);
    if (!rc) {
        uint16_t *buf = malloc((size_t)f->row_u16 * 2);
        float *blp = malloc(V * sizeof *blp);
        double sum = 0, worst = 0;
        for (int c = 0; c < N_CHUNK; c++)
            for (int i = 0; i < NP; i++) {
                CHECK(owb_lcpp_read_row(f, c, i, buf, blp, err) == 0);
                int32_t prev = tok[c * CTX + CTX / 2 + i];
                double kl = direct_kl(blp, synth_table(pert) + (size_t)prev * V);
                double d = fabs(kl - r.kld[c * NP + i]);
                worst = d > worst ? d : worst;
                sum += kl;
            }
        CHECK_MSG(worst < 1e-9, "per-position KLD off by %g", worst);
        CHECK_NEAR(r.kld_mean.v, sum / (N_CHUNK * NP), 1e-9);
        CHECK_MSG(r.kld_mean.v > 0.01, "perturbed KLD %g", r.kld_mean.v);
        free(buf);
        free(blp);
        owb_kld_result_release(&r);
    }

    /* Refusals: another vocabulary, a shorter context. */
    struct owb_producer *other = synth_new(V + 1, 5, 2.0, 0, 0, 1, 64);
    struct owb_producer *shortc = synth_new(V, 5, 2.0, 0, 0, 1, CTX - 1);
    CHECK(owb_kld_run_llamacpp(other, f, &cfg, &r, err) == OWB_E_USAGE);
    CHECK_MSG(strstr(err, "vocabulary") != NULL, "%s", err);
    CHECK(owb_kld_run_llamacpp(shortc, f, &cfg, &r, err) == OWB_E_USAGE);
    CHECK_MSG(strstr(err, "context") != NULL, "%s", err);
    owb_producer_free(other);
    owb_producer_free(shortc);

    owb_lcpp_close(f);
    corpus();
    unlink(path);
    unlink(bad_path);
    owb_producer_free(base);
    owb_producer_free(pert);
    TEST_DONE();
}
