/* SPDX-License-Identifier: MIT */
/*
 * test_synth_vocab.c: the generated vocabularies of the small presets reach every one of their
 * own tokens by merging alone. gpt-oss-tiny (byte-level BPE, gpt-4o pre-tokenizer): the text of
 * each learned token, tokenized with OWB_TOK_MERGES_ONLY (the merge list, as llama.cpp applies
 * it, no whole-word lookup), gives exactly that token, and so does the default whole-word path;
 * the merge list holds, for each learned token, every split into two tokens (transformers'
 * conversion of tiktoken ranks) and nothing else; the same options write the same bytes. tiny
 * (SentencePiece, no merge list): llama.cpp's score-ordered bigram merging brings each word piece
 * back to itself ("▁ab" from "ab", "ab" after a "!"). The same on a text corpus is
 * test_synth_vocab_corpus.c's.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <string.h>

#include "model/gguf.h"
#include "model/synth.h"
#include "model/tokenizer.h"
#include "owb_test.h"

#define MIN_LEARNED 700 /* gpt-oss-tiny learns 703 tokens (the word list runs out first) */

static char tmpdir[4096];

static bool same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

/* Write preset `name` (one layer: the vocabulary does not depend on the layer count) to
 * tmpdir/file and open it; NULL after a failed check. */
static struct owb_gguf *write_preset(const char *name, const char *file, char *path, size_t cap)
{
    char err[OWB_ERR_MAX] = "";
    const struct owb_synth_preset *p = owb_synth_find(name);
    CHECK_MSG(p != NULL, "preset %s", name);
    if (!p)
        return NULL;
    struct owb_synth_opts o;
    owb_synth_opts_init(&o, p);
    o.n_layer = 1;
    o.nthreads = 1;
    snprintf(path, cap, "%s/%s", tmpdir, file);
    int rc = owb_synth_write_opts(p, &o, path, NULL, NULL, err);
    CHECK_MSG(rc == 0, "%s: %s", name, err);
    struct owb_gguf *g = rc ? NULL : owb_gguf_open(path, err);
    CHECK_MSG(rc || g, "%s", err);
    return g;
}

/* Token id of text s among the GGUF's tokens, or -1 (linear: the vocabularies are small). */
static int64_t find_tok(const struct owb_gguf_value *tok, uint64_t n, const char *s, size_t len)
{
    for (uint64_t i = 0; i < n; i++) {
        struct owb_gguf_str t = owb_gguf_arr_str(tok, i);
        if (t.len == len && memcmp(t.ptr, s, len) == 0)
            return (int64_t)i;
    }
    return -1;
}

/* Number of bytes of the GPT-2-spelled character at s (1 or 2). */
static size_t char_len(const char *s, size_t left)
{
    return ((unsigned char)s[0] & 0xE0) == 0xC0 && left > 1 ? 2 : 1;
}

/* The merges of each learned token are exactly its splits into two tokens: every merge joins
 * two tokens into a learned token, in token order and, within a token, by left id (so no split
 * twice), and each token has as many merges as splits. */
static void check_merge_list(const struct owb_gguf *g)
{
    char err[OWB_ERR_MAX];
    const struct owb_gguf_value *tok = NULL, *ty = NULL, *mg = NULL;
    uint64_t nt = 0, ny = 0, nm = 0;
    CHECK(owb_gguf_get_arr(g, "tokenizer.ggml.tokens", OWB_GGUF_STRING, &tok, &nt, err) == 0);
    CHECK(owb_gguf_get_arr(g, "tokenizer.ggml.token_type", OWB_GGUF_INT32, &ty, &ny, err) == 0);
    CHECK(owb_gguf_get_arr(g, "tokenizer.ggml.merges", OWB_GGUF_STRING, &mg, &nm, err) == 0);
    if (!tok || !ty || !mg || nt != ny)
        return;
    int64_t *made = calloc(nt, sizeof *made); /* merges that make each token */
    if (!made)
        return;
    int64_t prev_c = -1, prev_a = -1;
    for (uint64_t j = 0; j < nm; j++) {
        struct owb_gguf_str m = owb_gguf_arr_str(mg, j);
        const char *sp = m.len > 1 ? memchr(m.ptr + 1, ' ', m.len - 1) : NULL;
        CHECK_MSG(sp != NULL, "merge %llu has no space", (unsigned long long)j);
        if (!sp)
            continue;
        size_t la = (size_t)(sp - m.ptr), lb = m.len - la - 1;
        char joined[128];
        snprintf(joined, sizeof joined, "%.*s%.*s", (int)la, m.ptr, (int)lb, sp + 1);
        int64_t a = find_tok(tok, nt, m.ptr, la), b = find_tok(tok, nt, sp + 1, lb);
        int64_t c = find_tok(tok, nt, joined, strlen(joined));
        bool ok = a >= 0 && b >= 0 && c >= 256 && owb_gguf_arr_num(ty, (uint64_t)c) == 1 &&
                  (c > prev_c || (c == prev_c && a > prev_a));
        CHECK_MSG(ok, "merge %llu '%.*s': parts %lld %lld, result %lld (previous %lld)",
                  (unsigned long long)j, (int)m.len, m.ptr, (long long)a, (long long)b,
                  (long long)c, (long long)prev_c);
        if (c >= 0) {
            made[c]++;
            prev_c = c;
            prev_a = a;
        }
    }
    uint64_t learned = 0;
    for (uint64_t id = 256; id < nt && owb_gguf_arr_num(ty, id) == 1; id++, learned++) {
        struct owb_gguf_str s = owb_gguf_arr_str(tok, id);
        int64_t splits = 0;
        for (size_t at = char_len(s.ptr, s.len); at < s.len; at += char_len(s.ptr + at, s.len - at))
            splits +=
                find_tok(tok, nt, s.ptr, at) >= 0 && find_tok(tok, nt, s.ptr + at, s.len - at) >= 0;
        CHECK_MSG(splits > 0 && made[id] == splits, "token %llu '%.*s': %lld merges, %lld splits",
                  (unsigned long long)id, (int)s.len, s.ptr, (long long)made[id],
                  (long long)splits);
    }
    CHECK_MSG(learned >= MIN_LEARNED, "%llu learned tokens", (unsigned long long)learned);
    free(made);
}

static void check_gpt_oss_tiny(void)
{
    char err[OWB_ERR_MAX] = "", path[4200], path2[4200];
    struct owb_gguf *g = write_preset("gpt-oss-tiny", "gpt_oss_tiny.gguf", path, sizeof path);
    if (!g)
        return;
    check_merge_list(g);
    struct owb_tokenizer *t = owb_tokenizer_new(g, err);
    CHECK_MSG(t != NULL, "%s", err);
    if (t) {
        int32_t n = owb_tokenizer_n_vocab(t), checked = 0;
        for (int32_t id = 256; id < n; id++) {
            if (owb_tokenizer_type(t, id) != OWB_TOKEN_NORMAL)
                continue;
            char text[64];
            int len = owb_tokenizer_piece(t, id, false, text, sizeof text);
            CHECK(len > 1 && len < (int)sizeof text);
            if (len <= 1 || len >= (int)sizeof text)
                continue;
            int32_t ids[8] = {-1}, ids_word[8] = {-1};
            int64_t nm = owb_tokenizer_encode(t, text, (size_t)len, OWB_TOK_MERGES_ONLY, ids, 8);
            int64_t nw = owb_tokenizer_encode(t, text, (size_t)len, 0, ids_word, 8);
            CHECK_MSG(nm == 1 && ids[0] == id, "'%.*s' (%d): merges give %lld tokens, first %d",
                      len, text, id, (long long)nm, ids[0]);
            CHECK_MSG(nw == 1 && ids_word[0] == id, "'%.*s' (%d): word lookup gives %lld tokens",
                      len, text, id, (long long)nw);
            checked++;
        }
        CHECK_MSG(checked >= MIN_LEARNED, "%d tokens checked", checked);
        /* The case that showed the problem: " with" once merged into " wi" + "th". */
        int32_t ids[8];
        int64_t nw = owb_tokenizer_encode(t, " with", 5, OWB_TOK_MERGES_ONLY, ids, 8);
        CHECK(nw == 1 && strcmp(owb_tokenizer_text(t, ids[0]), "\xc4\xa0with") == 0);
        owb_tokenizer_free(t);
    }
    owb_gguf_close(g);
    /* Same options, same bytes (the vocabulary included). */
    g = write_preset("gpt-oss-tiny", "gpt_oss_tiny_again.gguf", path2, sizeof path2);
    owb_gguf_close(g);
    CHECK_MSG(same_file(path, path2), "gpt-oss-tiny written twice differs");
    remove(path);
    remove(path2);
}

static void check_tiny(void)
{
    char err[OWB_ERR_MAX] = "", path[4200];
    struct owb_gguf *g = write_preset("tiny", "tiny.gguf", path, sizeof path);
    if (!g)
        return;
    struct owb_tokenizer *t = owb_tokenizer_new(g, err);
    CHECK_MSG(t != NULL, "%s", err);
    static const char space[] = "\xe2\x96\x81"; /* U+2581, SentencePiece's space */
    int32_t sp = -1, bang = -1;
    int checked = 0;
    for (int32_t id = 0; t && id < owb_tokenizer_n_vocab(t); id++) {
        const char *s = owb_tokenizer_text(t, id);
        if (strcmp(s, space) == 0)
            sp = id;
        if (strcmp(s, "!") == 0)
            bang = id;
    }
    CHECK(sp >= 0 && bang >= 0);
    for (int32_t id = 0; t && sp >= 0 && bang >= 0 && id < owb_tokenizer_n_vocab(t); id++) {
        const char *s = owb_tokenizer_text(t, id);
        if (owb_tokenizer_type(t, id) != OWB_TOKEN_NORMAL || id == sp)
            continue;
        char text[64];
        int32_t ids[8] = {-1, -1, -1};
        int64_t n;
        if (strncmp(s, space, 3) == 0) { /* "▁ab": the text "ab" (the space prefix adds "▁") */
            snprintf(text, sizeof text, "%s", s + 3);
            n = owb_tokenizer_encode(t, text, strlen(text), 0, ids, 8);
            CHECK_MSG(n == 1 && ids[0] == id, "'%s' (%d): %lld tokens, first %d", s, id,
                      (long long)n, ids[0]);
        } else { /* "ab": after "!", which joins nothing ("▁", "!", "ab") */
            snprintf(text, sizeof text, "!%s", s);
            n = owb_tokenizer_encode(t, text, strlen(text), 0, ids, 8);
            CHECK_MSG(n == 3 && ids[0] == sp && ids[1] == bang && ids[2] == id,
                      "'%s' (%d): %lld tokens, last %d", s, id, (long long)n,
                      n > 0 && n <= 8 ? ids[n - 1] : -1);
        }
        checked++;
    }
    CHECK_MSG(checked >= 200, "%d tiny tokens checked", checked);
    owb_tokenizer_free(t);
    owb_gguf_close(g);
    remove(path);
}

int main(void)
{
    const char *base = getenv("OWB_TMP");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_synth_vocab.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror(tmpdir);
        return 1;
    }
    check_gpt_oss_tiny();
    check_tiny();
    if (!owb_test_failures)
        owb_test_rmdir(tmpdir);
    TEST_DONE();
}
