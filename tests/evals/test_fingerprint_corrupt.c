/* SPDX-License-Identifier: MIT */
/*
 * test_fingerprint_corrupt.c: a corpus of broken fingerprint files, each rejected with
 * OWB_E_FORMAT and a message that names the file and the problem: empty, truncated anywhere, bad
 * magic, other version, header size, unknown flags, impossible counts (vocabulary, window,
 * first position, top-k, windows that cannot fit), wrong offsets and sizes, trailing bytes,
 * payload and settings hashes that do not match; and, with the hashes recomputed so only the
 * content is wrong, token ids outside the vocabulary, duplicate or unsorted top-k entries,
 * positive or NaN log-probs, residual masses outside [0, 1] and masses that do not add up to 1.
 * Also 2000 random byte flips: never a crash, always an error. A missing file is OWB_E_IO.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/rng.h"
#include "datasets/sha256.h"
#include "evals/fingerprint.h"
#include "evals/ppl.h"
#include "owb_test.h"
#include "synth_producer.h"

#define V 260
#define CTX 8
#define N_TOK 30
#define TOPK 4
#define NAME "corpus.owbfp"

static unsigned char *good;
static size_t good_n;

static int fp_add(void *ctx, int64_t idx, const int32_t *win, const struct owb_scores *s,
                  char err[OWB_ERR_MAX])
{
    (void)idx;
    (void)win;
    return owb_fp_writer_add(ctx, s, err);
}

static void make_good(void)
{
    char err[OWB_ERR_MAX] = "", path[512];
    const char *t = getenv("OWB_TMP");
    int32_t tok[N_TOK];
    struct owb_window_plan plan;
    struct owb_fp_header h;
    struct owb_fp_writer *w = NULL;
    struct owb_producer *p = synth_new(V, 3, 2.0, 0, 0, 1, 64);
    for (int i = 0; i < N_TOK; i++)
        tok[i] = (i * 37 + 11) % V;
    snprintf(path, sizeof path, "%s/fpc_%d.owbfp", t && *t ? t : "/tmp", (int)getpid());
    memset(&h, 0, sizeof h);
    h.n_vocab = V;
    h.top_k = TOPK;
    OWB_ASSERT(owb_window_plan_make(&plan, N_TOK, CTX, 0, true, 256, err) == 0);
    OWB_ASSERT(owb_fp_writer_open(&w, path, &h, &plan, tok, err) == 0);
    struct owb_ppl_cfg cfg = {
        .n_ctx = CTX, .top_k = TOPK, .boot_reps = 10, .on_window = fp_add, .on_window_ctx = w};
    struct owb_ppl_result r;
    OWB_ASSERT(owb_ppl_run(p, tok, N_TOK, &cfg, &r, err) == 0);
    owb_ppl_result_release(&r);
    OWB_ASSERT(owb_fp_writer_finish(w, err) == 0);
    FILE *f = fopen(path, "rb");
    OWB_ASSERT(f);
    fseek(f, 0, SEEK_END);
    good_n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    good = malloc(good_n);
    OWB_ASSERT(fread(good, 1, good_n, f) == good_n);
    fclose(f);
    unlink(path);
    owb_producer_free(p);
}

static unsigned char *copy(void)
{
    unsigned char *b = malloc(good_n + 16);
    memcpy(b, good, good_n);
    return b;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void putf(unsigned char *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    put32(p, u);
}

/* Recompute the settings, payload and header hashes so only the content is wrong. */
static void reseal(unsigned char *b, size_t n)
{
    unsigned char hc[32];
    owb_sha256(b + 16, 40, b + 176);
    if (n >= 256)
        owb_sha256(b + 256, n - 256, b + 208);
    owb_sha256(b, 240, hc);
    memcpy(b + 240, hc, 16);
}

/* Recompute only the header checksum (a header edited on purpose past the checksum). */
static void reseal_header(unsigned char *b)
{
    unsigned char hc[32];
    owb_sha256(b, 240, hc);
    memcpy(b + 240, hc, 16);
}

static void expect(const char *what, const unsigned char *b, size_t n, const char *needle)
{
    char err[OWB_ERR_MAX] = "";
    struct owb_fingerprint *f = NULL;
    int rc = owb_fp_parse(b, n, NAME, &f, err);
    CHECK_MSG(rc == OWB_E_FORMAT, "%s: rc %d (%s)", what, rc, err);
    CHECK_MSG(!strncmp(err, NAME ": ", strlen(NAME) + 2), "%s: message does not name the file: %s",
              what, err);
    CHECK_MSG(strstr(err, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, err, needle);
    CHECK(f == NULL);
    owb_fp_free(f);
}

/* Offset of record (w, i) and its fields. */
static size_t rec(size_t w, size_t i)
{
    size_t np = CTX - (CTX / 2 + 1), rb = 12 + 8 * TOPK;
    return 256 + 4 * (size_t)(N_TOK / CTX) * CTX + (w * np + i) * rb;
}

int main(void)
{
    char err[OWB_ERR_MAX] = "";
    struct owb_fingerprint *f = NULL;
    make_good();
    CHECK_MSG(owb_fp_parse(good, good_n, NAME, &f, err) == 0, "the good file: %s", err);
    owb_fp_free(f);
    unsigned char *b;

    expect("empty", good, 0, "not an owbench fingerprint");
    expect("short", good, 100, "truncated");
    for (size_t n = 0; n < good_n; n++) { /* every truncation */
        f = NULL;
        CHECK_MSG(owb_fp_parse(good, n, NAME, &f, err) == OWB_E_FORMAT, "cut at %zu", n);
        owb_fp_free(f);
    }
    b = copy();
    b[0] = 'X';
    expect("magic", b, good_n, "not an owbench fingerprint");
    memcpy(b, good, good_n);
    put32(b + 8, 2);
    expect("version", b, good_n, "unsupported fingerprint version 2");
    memcpy(b, good, good_n);
    put32(b + 12, 128);
    expect("header size", b, good_n, "header size 128");
    memcpy(b, good, good_n);
    put32(b + 40, 8 | 1);
    reseal(b, good_n);
    expect("flags", b, good_n, "unknown flag bits 0x8");
    memcpy(b, good, good_n);
    put32(b + 16, 0);
    reseal(b, good_n);
    expect("vocab", b, good_n, "vocabulary size 0");
    memcpy(b, good, good_n);
    put32(b + 20, 2);
    reseal(b, good_n);
    expect("ctx", b, good_n, "window length 2");
    memcpy(b, good, good_n);
    put32(b + 24, CTX);
    reseal(b, good_n);
    expect("first", b, good_n, "first scored position 8");
    memcpy(b, good, good_n);
    put32(b + 28, 0);
    reseal(b, good_n);
    expect("top-k 0", b, good_n, "top-k 0");
    memcpy(b, good, good_n);
    put32(b + 28, V + 1);
    reseal(b, good_n);
    expect("top-k > V", b, good_n, "top-k 261");
    memcpy(b, good, good_n);
    put64(b + 32, (uint64_t)1 << 40);
    reseal(b, good_n);
    expect("windows", b, good_n, "cannot fit");
    memcpy(b, good, good_n);
    put64(b + 32, 0);
    reseal(b, good_n);
    expect("no windows", b, good_n, "no windows");
    memcpy(b, good, good_n);
    put64(b + 48, 5);
    reseal(b, good_n);
    expect("text tokens", b, good_n, "fewer than");
    memcpy(b, good, good_n);
    put64(b + 56, 300);
    reseal(b, good_n);
    expect("token offset", b, good_n, "token section offset 300");
    memcpy(b, good, good_n);
    put64(b + 64, 12);
    reseal(b, good_n);
    expect("record offset", b, good_n, "record section offset 12");
    memcpy(b, good, good_n);
    put64(b + 72, good_n + 4);
    reseal(b, good_n);
    expect("file bytes", b, good_n, "header says");
    memcpy(b, good, good_n);
    expect("truncated by one", b, good_n - 1, "truncated");
    b[good_n] = 0;
    expect("trailing byte", b, good_n + 1, "1 trailing bytes");
    memcpy(b, good, good_n);
    b[good_n - 3] ^= 0x40;
    expect("payload flip", b, good_n, "payload hash does not match");
    memcpy(b, good, good_n);
    b[120] ^= 1; /* the tokenizer hash: covered by the header checksum */
    expect("header flip", b, good_n, "header checksum does not match");
    memcpy(b, good, good_n);
    put32(b + 44, 7); /* bos: a setting, with a valid header checksum */
    reseal_header(b);
    expect("settings", b, good_n, "settings hash does not match");

    /* Content errors behind valid hashes. */
    memcpy(b, good, good_n);
    put32(b + 256 + 4 * 3, V);
    reseal(b, good_n);
    expect("token id", b, good_n, "id 260 is outside the vocabulary");
    memcpy(b, good, good_n);
    put32(b + 44, V + 5);
    reseal(b, good_n);
    expect("bos id", b, good_n, "BOS id 265");
    memcpy(b, good, good_n);
    put32(b + rec(1, 1) + 12 + 4, (uint32_t)-3);
    reseal(b, good_n);
    expect("top id", b, good_n, "top-k id -3");
    memcpy(b, good, good_n);
    memcpy(b + rec(1, 1) + 12 + 4, b + rec(1, 1) + 12, 4);
    reseal(b, good_n);
    expect("duplicate top id", b, good_n, "appears twice");
    memcpy(b, good, good_n);
    putf(b + rec(2, 0) + 12 + 4 * TOPK + 4 * 2, -0.0001f);
    reseal(b, good_n);
    expect("unsorted", b, good_n, "descending");
    memcpy(b, good, good_n);
    putf(b + rec(0, 2), 0.5f);
    reseal(b, good_n);
    expect("positive logp", b, good_n, "not a finite log-probability");
    memcpy(b, good, good_n);
    putf(b + rec(0, 2), NAN);
    reseal(b, good_n);
    expect("nan logp", b, good_n, "not a finite log-probability");
    memcpy(b, good, good_n);
    putf(b + rec(0, 2) + 4, INFINITY);
    reseal(b, good_n);
    expect("inf lse", b, good_n, "not a finite log-probability");
    memcpy(b, good, good_n);
    putf(b + rec(0, 1) + 8, -0.25f);
    reseal(b, good_n);
    expect("negative rest", b, good_n, "residual mass -0.25");
    memcpy(b, good, good_n);
    putf(b + rec(0, 1) + 8, 0.9f);
    reseal(b, good_n);
    expect("mass", b, good_n, "add up to");
    free(b);

    /* Random flips: one byte changed anywhere is always caught (the header checksum, the
     * settings and payload hashes cover every byte). */
    struct owb_rng r;
    owb_rng_seed(&r, 77);
    b = copy();
    for (int it = 0; it < 2000; it++) {
        size_t at = (size_t)owb_rng_below(&r, good_n);
        unsigned char x = (unsigned char)(1 + owb_rng_below(&r, 255));
        b[at] ^= x;
        f = NULL;
        int rc = owb_fp_parse(b, good_n, NAME, &f, err);
        CHECK_MSG(rc == OWB_E_FORMAT, "flip at %zu: rc %d", at, rc);
        owb_fp_free(f);
        b[at] ^= x;
    }
    free(b);

    f = NULL;
    CHECK(owb_fp_read("/nonexistent/dir/x.owbfp", &f, err) == OWB_E_IO);
    CHECK_MSG(strstr(err, "/nonexistent/dir/x.owbfp") != NULL, "%s", err);
    free(good);
    TEST_DONE();
}
