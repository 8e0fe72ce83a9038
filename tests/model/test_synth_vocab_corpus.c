/* SPDX-License-Identifier: MIT */
/*
 * test_synth_vocab_corpus.c: on the head of the TinyStories validation text (the first
 * CORPUS_BYTES, cut at a line end), gpt-oss-tiny's tokenizer gives the same ids with the whole-word
 * lookup of the gpt-4o pre-tokenizer (tiktoken's rule, the default) as with the merges alone
 * (OWB_TOK_MERGES_ONLY, llama.cpp's way), and the text takes learned (multi-byte) tokens, so the
 * comparison covers them; decoding gives the text back. Skips (77) when the text is absent.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <string.h>

#include "model/gguf.h"
#include "model/synth.h"
#include "model/tokenizer.h"
#include "owb_test.h"

#define CORPUS_BYTES (256 * 1024)
#define MIN_LEARNED_SHARE 0.3 /* tokens of the text that are learned tokens (ids >= 256) */

int main(void)
{
    const char *rel = "data/tinystories/tinystories_validation_head.txt";
    const char *tpath = owb_test_data(rel);
    if (!tpath)
        SKIP("%s absent", rel);
    FILE *f = fopen(tpath, "rb");
    char *text = malloc(CORPUS_BYTES + 1);
    size_t len = f && text ? fread(text, 1, CORPUS_BYTES, f) : 0;
    if (f)
        fclose(f);
    while (len > 0 && text[len - 1] != '\n')
        len--;
    CHECK_MSG(len > CORPUS_BYTES / 2, "%s: %zu bytes read", tpath, len);

    char tmpdir[4096], path[4200], err[OWB_ERR_MAX] = "";
    const char *base = getenv("OWB_TMP");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_synth_vocab_corpus.XXXXXX",
             base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror(tmpdir);
        return 1;
    }
    snprintf(path, sizeof path, "%s/gpt_oss_tiny.gguf", tmpdir);
    const struct owb_synth_preset *p = owb_synth_find("gpt-oss-tiny");
    struct owb_synth_opts o;
    owb_synth_opts_init(&o, p);
    o.n_layer = 1;
    o.nthreads = 1;
    int rc = owb_synth_write_opts(p, &o, path, NULL, NULL, err);
    CHECK_MSG(rc == 0, "%s", err);
    struct owb_gguf *g = rc ? NULL : owb_gguf_open(path, err);
    struct owb_tokenizer *t = g ? owb_tokenizer_new(g, err) : NULL;
    CHECK_MSG(t != NULL, "%s", err);
    int32_t *a = malloc((len + 1) * sizeof *a), *b = malloc((len + 1) * sizeof *b);
    char *back = malloc(len + 1);
    if (t && a && b && back && len > 0) {
        int64_t na = owb_tokenizer_encode(t, text, len, 0, a, (int64_t)len + 1);
        int64_t nb = owb_tokenizer_encode(t, text, len, OWB_TOK_MERGES_ONLY, b, (int64_t)len + 1);
        CHECK_MSG(na > 0 && na == nb, "%lld tokens with the word lookup, %lld with merges only",
                  (long long)na, (long long)nb);
        int64_t first = -1, learned = 0;
        for (int64_t i = 0; i < na && i < nb; i++) {
            if (a[i] != b[i] && first < 0)
                first = i;
            learned += a[i] >= 256;
        }
        if (first >= 0)
            CHECK_MSG(false, "token %lld: %d ('%s') with the word lookup, %d ('%s') merges only",
                      (long long)first, a[first], owb_tokenizer_text(t, a[first]), b[first],
                      owb_tokenizer_text(t, b[first]));
        CHECK_MSG(na > 0 && (double)learned >= MIN_LEARNED_SHARE * (double)na,
                  "%lld of %lld tokens learned", (long long)learned, (long long)na);
        int64_t nd = owb_tokenizer_decode(t, a, na, back, len + 1);
        CHECK(nd == (int64_t)len && memcmp(back, text, len) == 0);
        fprintf(stderr, "%zu bytes: %lld tokens, %lld learned, paths agree: %s\n", len,
                (long long)na, (long long)learned, first < 0 && na == nb ? "yes" : "no");
    }
    free(a);
    free(b);
    free(back);
    free(text);
    owb_tokenizer_free(t);
    owb_gguf_close(g);
    remove(path);
    if (!owb_test_failures)
        owb_test_rmdir(tmpdir);
    TEST_DONE();
}
