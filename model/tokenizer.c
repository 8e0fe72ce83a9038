/* SPDX-License-Identifier: MIT */
/*
 * tokenizer.c: SentencePiece-style and byte-level BPE tokenizers built from GGUF metadata
 * (model/tokenizer.h), written to give llama.cpp's ids exactly:
 *   - SPM: the text gets a leading space (add_space_prefix), spaces become U+2581, the text is cut
 *     into UTF-8 characters and adjacent symbols are merged best-score-first (ties: leftmost)
 *     while the merged text is a vocabulary entry; what is left and not in the vocabulary is
 *     emitted as <0xNN> byte tokens.
 *   - BPE: the GPT-2 pre-tokenizer regex ('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|
 *     ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+) is walked by hand over code points (as llama.cpp's
 *     unicode_regex_split_custom_gpt2 does), each word's bytes are mapped through GPT-2's
 *     byte-to-unicode table and merged lowest-rank-first (ties: leftmost). The Llama-3 / Qwen2
 *     variants of the regex are there too (digits in groups of 3 / 1, letters after any one
 *     non-letter, newline runs), and o200k's (gpt-4o: words split at case changes, combining
 *     marks inside words, contractions on their word), which gives tiktoken's ids.
 * Special tokens (user-defined always, control/unknown with OWB_TOK_PARSE_SPECIAL) are cut out of
 * the text first, longest first. Letter and number classes come from unicode_data.inc.
 */
#include "model/tokenizer.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/unicode_data.inc"

#define UCD_LETTER 1
#define UCD_NUMBER 2
#define UCD_SPACE 4
#define UCD_UPPER 8          /* Lu, Lt */
#define UCD_LOWER 16         /* Ll */
#define UCD_MARK 32          /* M* */
#define CPT_NONE 0xffffffffu /* "past the end of the word" for the pre-tokenizers */

enum pre_kind { PRE_GPT2, PRE_LLAMA3, PRE_QWEN2, PRE_GPT4O };

/* ---- string -> int32 map (open addressing; keys borrowed) ---- */

struct smap {
    uint32_t *slots; /* entry index + 1; 0 = empty */
    uint32_t mask;
    const char **kp;
    uint32_t *kl;
    int32_t *val;
    uint32_t n, cap;
};

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int smap_init(struct smap *m, uint32_t cap)
{
    uint32_t sl = 16;
    while (sl < 2 * (uint64_t)cap + 2)
        sl <<= 1;
    m->slots = calloc(sl, sizeof *m->slots);
    m->kp = calloc(cap + 1, sizeof *m->kp);
    m->kl = calloc(cap + 1, sizeof *m->kl);
    m->val = calloc(cap + 1, sizeof *m->val);
    m->mask = sl - 1;
    m->n = 0;
    m->cap = cap;
    return m->slots && m->kp && m->kl && m->val ? 0 : OWB_E_NOMEM;
}

static void smap_release(struct smap *m)
{
    free(m->slots);
    free(m->kp);
    free(m->kl);
    free(m->val);
}

static int32_t smap_get(const struct smap *m, const char *s, size_t n)
{
    if (!m->slots)
        return -1;
    for (uint32_t h = (uint32_t)fnv1a(s, n) & m->mask;; h = (h + 1) & m->mask) {
        uint32_t e = m->slots[h];
        if (!e)
            return -1;
        e--;
        if (m->kl[e] == n && memcmp(m->kp[e], s, n) == 0)
            return m->val[e];
    }
}

/* Insert or (when overwrite) replace; keys must stay alive as long as the map. */
static void smap_put(struct smap *m, const char *s, size_t n, int32_t v, bool overwrite)
{
    for (uint32_t h = (uint32_t)fnv1a(s, n) & m->mask;; h = (h + 1) & m->mask) {
        uint32_t e = m->slots[h];
        if (!e) {
            OWB_ASSERT(m->n < m->cap);
            m->kp[m->n] = s;
            m->kl[m->n] = (uint32_t)n;
            m->val[m->n] = v;
            m->slots[h] = ++m->n;
            return;
        }
        e--;
        if (m->kl[e] == n && memcmp(m->kp[e], s, n) == 0) {
            if (overwrite)
                m->val[e] = v;
            return;
        }
    }
}

struct owb_tokenizer {
    enum owb_tok_kind kind;
    enum pre_kind pre;
    int32_t n_vocab;
    char *arena;    /* token texts, each NUL-terminated */
    uint64_t *off;  /* (n_vocab) offset of each text in arena */
    uint32_t *len;  /* (n_vocab) text length in bytes */
    float *scores;  /* (n_vocab) */
    uint8_t *types; /* (n_vocab) enum owb_token_type */
    struct smap vocab;
    struct smap merges; /* "left\xffright" -> rank */
    char *merge_arena;
    int32_t byte_tok[256]; /* SPM: id of <0xNN>, or -1 */
    int32_t *special;      /* ids of control/user-defined/unknown tokens, longest text first */
    int32_t n_special;
    int32_t bos, eos, unk;
    bool add_bos, add_eos, add_space_prefix, ignore_merges;
    /* GPT-2 byte <-> unicode mapping: UTF-8 of the code point for each byte, and the inverse. */
    char b2u[256][2];
    uint8_t b2u_len[256];
    int16_t u2b[512];
};

__attribute__((format(printf, 3, 4))) static void tok_err(char *err, const struct owb_gguf *g,
                                                          const char *fmt, ...)
{
    char msg[OWB_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(err, OWB_ERR_MAX, "%s: tokenizer: %.400s", g->path, msg);
}

void owb_tokenizer_free(struct owb_tokenizer *t)
{
    if (!t)
        return;
    free(t->arena);
    free(t->off);
    free(t->len);
    free(t->scores);
    free(t->types);
    smap_release(&t->vocab);
    smap_release(&t->merges);
    free(t->merge_arena);
    free(t->special);
    free(t);
}

static const char *tok_text(const struct owb_tokenizer *t, int32_t id)
{
    return t->arena + t->off[id];
}

/* Optional token id key: absent -> def; out of range (e.g. 2^32-1 for "none") -> -1. */
static int get_id(const struct owb_gguf *g, const char *key, int32_t n, int32_t def, int32_t *out,
                  char err[OWB_ERR_MAX])
{
    uint64_t v;
    *out = def;
    if (!owb_gguf_find(g, key))
        return 0;
    if (owb_gguf_get_u64(g, key, &v, err))
        return OWB_E_FORMAT;
    *out = v < (uint64_t)n ? (int32_t)v : -1;
    return 0;
}

static int get_flag(const struct owb_gguf *g, const char *key, bool def, bool *out,
                    char err[OWB_ERR_MAX])
{
    *out = def;
    if (!owb_gguf_find(g, key))
        return 0;
    return owb_gguf_get_bool(g, key, out, err);
}

static int cmp_special(const void *a, const void *b, void *ctx)
{
    const struct owb_tokenizer *t = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (t->len[x] != t->len[y])
        return t->len[x] > t->len[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Insertion-free sort with context: a small merge sort (qsort_r is not C11). */
static void sort_special(struct owb_tokenizer *t, int32_t *a, int32_t n, int32_t *tmp)
{
    if (n < 2)
        return;
    int32_t h = n / 2;
    sort_special(t, a, h, tmp);
    sort_special(t, a + h, n - h, tmp);
    int32_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = cmp_special(&a[j], &a[i], t) < 0 ? a[j++] : a[i++];
    while (i < h)
        tmp[k++] = a[i++];
    while (j < n)
        tmp[k++] = a[j++];
    memcpy(a, tmp, (size_t)n * sizeof *a);
}

static void init_byte_map(struct owb_tokenizer *t)
{
    int n = 0;
    for (int i = 0; i < 512; i++)
        t->u2b[i] = -1;
    for (int b = 0; b < 256; b++) {
        bool keep = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
        int cp = keep ? b : 256 + n++;
        t->u2b[cp] = (int16_t)b;
        if (cp < 0x80) {
            t->b2u[b][0] = (char)cp;
            t->b2u_len[b] = 1;
        } else {
            t->b2u[b][0] = (char)(0xc0 | (cp >> 6));
            t->b2u[b][1] = (char)(0x80 | (cp & 0x3f));
            t->b2u_len[b] = 2;
        }
    }
}

struct owb_tokenizer *owb_tokenizer_new(const struct owb_gguf *g, char err[OWB_ERR_MAX])
{
    struct owb_tokenizer *t = calloc(1, sizeof *t);
    const struct owb_gguf_value *toks = NULL, *scores = NULL, *types = NULL, *merges = NULL;
    uint64_t n = 0, n2 = 0;
    struct owb_gguf_str model, pre;
    char kerr[OWB_ERR_MAX];
    int32_t *tmp = NULL;

    if (!t) {
        tok_err(err, g, "out of memory");
        return NULL;
    }
    if (owb_gguf_get_str(g, "tokenizer.ggml.model", &model, kerr)) {
        snprintf(err, OWB_ERR_MAX, "%.500s", kerr);
        goto fail;
    }
    if (model.len == 5 && memcmp(model.ptr, "llama", 5) == 0) {
        t->kind = OWB_TOK_SPM;
    } else if (model.len == 4 && memcmp(model.ptr, "gpt2", 4) == 0) {
        t->kind = OWB_TOK_BPE;
    } else {
        tok_err(err, g, "tokenizer.ggml.model \"%.*s\" is not supported (llama, gpt2)",
                (int)(model.len > 40 ? 40 : model.len), model.ptr);
        goto fail;
    }
    t->pre = PRE_GPT2;
    if (t->kind == OWB_TOK_BPE && owb_gguf_find(g, "tokenizer.ggml.pre")) {
        if (owb_gguf_get_str(g, "tokenizer.ggml.pre", &pre, kerr)) {
            snprintf(err, OWB_ERR_MAX, "%.500s", kerr);
            goto fail;
        }
#define PRE_IS(s) (pre.len == strlen(s) && memcmp(pre.ptr, s, pre.len) == 0)
        if (PRE_IS("gpt-2")) {
            t->pre = PRE_GPT2;
        } else if (PRE_IS("llama-bpe") || PRE_IS("llama3") || PRE_IS("smaug-bpe")) {
            t->pre = PRE_LLAMA3;
            t->ignore_merges = true;
        } else if (PRE_IS("qwen2")) {
            t->pre = PRE_QWEN2;
        } else if (PRE_IS("gpt-4o")) {
            /* tiktoken: a word that is a token is that token. The harmony tokens keep their
             * CONTROL type (llama.cpp makes <|channel|>, <|message|>, <|start|>, <|constrain|>,
             * <|end|> USER_DEFINED, so that they are parsed even without parse_special; tiktoken
             * and this tokenizer parse them only when asked). */
            t->pre = PRE_GPT4O;
            t->ignore_merges = true;
        } else {
            tok_err(err, g,
                    "pre-tokenizer \"%.*s\" is not supported (gpt-2, llama-bpe, qwen2, gpt-4o)",
                    (int)(pre.len > 40 ? 40 : pre.len), pre.ptr);
            goto fail;
        }
#undef PRE_IS
    }

    if (owb_gguf_get_arr(g, "tokenizer.ggml.tokens", OWB_GGUF_STRING, &toks, &n, kerr)) {
        snprintf(err, OWB_ERR_MAX, "%.500s", kerr);
        goto fail;
    }
    if (n == 0 || n > (uint64_t)INT32_MAX - 1) {
        tok_err(err, g, "tokenizer.ggml.tokens has %" PRIu64 " entries", n);
        goto fail;
    }
    t->n_vocab = (int32_t)n;
    if (owb_gguf_find(g, "tokenizer.ggml.scores")) {
        if (owb_gguf_get_arr(g, "tokenizer.ggml.scores", OWB_GGUF_FLOAT32, &scores, &n2, kerr)) {
            snprintf(err, OWB_ERR_MAX, "%.500s", kerr);
            goto fail;
        }
        if (n2 != n) {
            tok_err(err, g, "tokenizer.ggml.scores has %" PRIu64 " entries, tokens %" PRIu64, n2,
                    n);
            goto fail;
        }
    }
    if (owb_gguf_find(g, "tokenizer.ggml.token_type")) {
        if (owb_gguf_get_arr(g, "tokenizer.ggml.token_type", OWB_GGUF_TYPE_COUNT, &types, &n2,
                             kerr)) {
            snprintf(err, OWB_ERR_MAX, "%.500s", kerr);
            goto fail;
        }
        enum owb_gguf_type et = types->v.arr.elem_type;
        if (et != OWB_GGUF_INT32 && et != OWB_GGUF_UINT32) {
            tok_err(err, g, "tokenizer.ggml.token_type is an array of %s, expected int32",
                    owb_gguf_type_name(et));
            goto fail;
        }
        if (n2 != n) {
            tok_err(err, g, "tokenizer.ggml.token_type has %" PRIu64 " entries, tokens %" PRIu64,
                    n2, n);
            goto fail;
        }
    }

    /* Texts, scores, types and the text -> id map (the last id of a duplicate text wins, as in
     * llama.cpp's token_to_id). */
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++)
        total += owb_gguf_arr_str(toks, i).len + 1;
    t->arena = malloc((size_t)total);
    t->off = malloc((size_t)n * sizeof *t->off);
    t->len = malloc((size_t)n * sizeof *t->len);
    t->scores = calloc((size_t)n, sizeof *t->scores);
    t->types = malloc((size_t)n);
    if (!t->arena || !t->off || !t->len || !t->scores || !t->types ||
        smap_init(&t->vocab, (uint32_t)n)) {
        tok_err(err, g, "out of memory for %" PRIu64 " tokens", n);
        goto fail;
    }
    uint64_t o = 0;
    for (uint64_t i = 0; i < n; i++) {
        struct owb_gguf_str s = owb_gguf_arr_str(toks, i);
        if (s.len > UINT32_MAX / 2) {
            tok_err(err, g, "token %" PRIu64 " is %" PRIu64 " bytes long", i, s.len);
            goto fail;
        }
        memcpy(t->arena + o, s.ptr, (size_t)s.len);
        t->arena[o + s.len] = '\0';
        t->off[i] = o;
        t->len[i] = (uint32_t)s.len;
        o += s.len + 1;
        if (scores)
            t->scores[i] = (float)owb_gguf_arr_num(scores, i);
        int64_t ty = types ? (int64_t)owb_gguf_arr_num(types, i) : OWB_TOKEN_NORMAL;
        t->types[i] = (uint8_t)(ty >= 0 && ty <= OWB_TOKEN_BYTE ? ty : OWB_TOKEN_UNDEFINED);
        if (s.len)
            smap_put(&t->vocab, t->arena + t->off[i], (size_t)s.len, (int32_t)i, true);
    }

    /* Special ids and flags (llama.cpp's defaults: SPM bos 1, eos 2, unk 0, add_bos, space
     * prefix; BPE none of them). */
    bool spm = t->kind == OWB_TOK_SPM;
    int32_t nv = t->n_vocab;
    if (get_id(g, "tokenizer.ggml.bos_token_id", nv, spm && nv > 1 ? 1 : -1, &t->bos, kerr) ||
        get_id(g, "tokenizer.ggml.eos_token_id", nv, spm && nv > 2 ? 2 : -1, &t->eos, kerr) ||
        get_id(g, "tokenizer.ggml.unknown_token_id", nv, spm ? 0 : -1, &t->unk, kerr) ||
        get_flag(g, "tokenizer.ggml.add_bos_token", spm, &t->add_bos, kerr) ||
        get_flag(g, "tokenizer.ggml.add_eos_token", false, &t->add_eos, kerr) ||
        get_flag(g, "tokenizer.ggml.add_space_prefix", spm, &t->add_space_prefix, kerr)) {
        snprintf(err, OWB_ERR_MAX, "%.500s", kerr);
        goto fail;
    }

    for (int b = 0; b < 256; b++) {
        char hex[8];
        snprintf(hex, sizeof hex, "<0x%02X>", b);
        t->byte_tok[b] = smap_get(&t->vocab, hex, 6);
    }
    init_byte_map(t);

    /* Special-token cache: control, user-defined and unknown tokens, longest text first. */
    t->special = malloc((size_t)n * sizeof *t->special);
    tmp = malloc((size_t)n * sizeof *tmp);
    if (!t->special || !tmp) {
        tok_err(err, g, "out of memory");
        goto fail;
    }
    for (int32_t i = 0; i < nv; i++) {
        uint8_t ty = t->types[i];
        if ((ty == OWB_TOKEN_CONTROL || ty == OWB_TOKEN_USER_DEFINED || ty == OWB_TOKEN_UNKNOWN) &&
            t->len[i] > 0)
            t->special[t->n_special++] = i;
    }
    sort_special(t, t->special, t->n_special, tmp);
    free(tmp);
    tmp = NULL;

    if (t->kind == OWB_TOK_BPE) {
        uint64_t nm;
        if (owb_gguf_get_arr(g, "tokenizer.ggml.merges", OWB_GGUF_STRING, &merges, &nm, kerr)) {
            snprintf(err, OWB_ERR_MAX, "%.500s", kerr);
            goto fail;
        }
        if (nm > (uint64_t)INT32_MAX - 1) {
            tok_err(err, g, "%" PRIu64 " merges", nm);
            goto fail;
        }
        uint64_t mt = 0;
        for (uint64_t i = 0; i < nm; i++)
            mt += owb_gguf_arr_str(merges, i).len + 1;
        t->merge_arena = malloc((size_t)mt + 1);
        if (!t->merge_arena || smap_init(&t->merges, (uint32_t)nm)) {
            tok_err(err, g, "out of memory for %" PRIu64 " merges", nm);
            goto fail;
        }
        /* "first second", split at the first space after the first byte (llama.cpp); stored as
         * first 0xFF second, since 0xFF never occurs in the (UTF-8) token texts. The first
         * occurrence of a pair keeps its rank. For gpt-4o the rank is tiktoken's, the id of the
         * merged token (o200k ids are its ranks): two merges that make the same token tie, and
         * the leftmost pair in the word goes first, where the merge list would order them by
         * their parts; a merge whose result is no token is left out, as tiktoken cannot make
         * it. */
        uint64_t mo = 0;
        for (uint64_t i = 0; i < nm; i++) {
            struct owb_gguf_str s = owb_gguf_arr_str(merges, i);
            const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', (size_t)s.len - 1) : NULL;
            if (!sp) {
                tok_err(err, g, "merge %" PRIu64 " has no space separating its two parts", i);
                goto fail;
            }
            char *k = t->merge_arena + mo;
            size_t nl = (size_t)(sp - s.ptr);
            int32_t rank = (int32_t)i;
            if (t->pre == PRE_GPT4O) {
                /* left and right side by side (the space dropped) to look the result up */
                memcpy(k, s.ptr, nl);
                memcpy(k + nl, sp + 1, (size_t)s.len - nl - 1);
                rank = smap_get(&t->vocab, k, (size_t)s.len - 1);
                if (rank < 0)
                    continue;
            }
            memcpy(k, s.ptr, (size_t)s.len);
            k[nl] = (char)0xff;
            smap_put(&t->merges, k, (size_t)s.len, rank, false);
            mo += s.len + 1;
        }
    }
    return t;
fail:
    free(tmp);
    owb_tokenizer_free(t);
    return NULL;
}

enum owb_tok_kind owb_tokenizer_kind(const struct owb_tokenizer *t)
{
    return t->kind;
}

int32_t owb_tokenizer_n_vocab(const struct owb_tokenizer *t)
{
    return t->n_vocab;
}

int32_t owb_tokenizer_bos(const struct owb_tokenizer *t)
{
    return t->bos;
}

int32_t owb_tokenizer_eos(const struct owb_tokenizer *t)
{
    return t->eos;
}

int32_t owb_tokenizer_unk(const struct owb_tokenizer *t)
{
    return t->unk;
}

bool owb_tokenizer_add_bos(const struct owb_tokenizer *t)
{
    return t->add_bos;
}

enum owb_token_type owb_tokenizer_type(const struct owb_tokenizer *t, int32_t id)
{
    OWB_ASSERT(id >= 0 && id < t->n_vocab);
    return (enum owb_token_type)t->types[id];
}

const char *owb_tokenizer_text(const struct owb_tokenizer *t, int32_t id)
{
    OWB_ASSERT(id >= 0 && id < t->n_vocab);
    return tok_text(t, id);
}

/* ---- encode scratch: growable buffers, one set per call ---- */

struct ivec {
    int32_t *p;
    int64_t n, cap;
    bool oom;
};

static void ivec_push(struct ivec *v, int32_t x)
{
    if (v->oom)
        return;
    if (v->n == v->cap) {
        int64_t cap = v->cap ? 2 * v->cap : 64;
        int32_t *p = realloc(v->p, (size_t)cap * sizeof *p);
        if (!p) {
            v->oom = true;
            return;
        }
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = x;
}

struct sym {
    const char *text;
    int32_t n; /* bytes; 0 once merged into its left neighbour */
    int32_t prev, next;
};

struct bigram {
    double key; /* larger first: SPM score, BPE -rank */
    int32_t left, right;
    int64_t size;
};

struct scratch {
    struct sym *sym;
    int64_t nsym, capsym;
    struct bigram *heap;
    int64_t nheap, capheap;
    char *buf; /* text being tokenized (escaped SPM text, byte-mapped BPE word) */
    int64_t capbuf;
    uint32_t *cpt; /* BPE: code points of a fragment */
    int64_t ncpt, capcpt;
    uint8_t *flg; /* gpt-4o: cpt_flags() of each code point of the fragment */
    int64_t capflg;
    bool merges_only; /* OWB_TOK_MERGES_ONLY: no whole-word lookup (ignore_merges) */
    bool oom;
};

/* Make room for `need` elements of p (capacity *cap); on failure sets *oom and returns p. */
static void *grow_buf(void *p, int64_t *cap, int64_t need, size_t elem, bool *oom)
{
    if (need <= *cap)
        return p;
    int64_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(p, (size_t)c * elem);
    if (!q) {
        *oom = true;
        return p;
    }
    *cap = c;
    return q;
}
#define GROW(p, cap, need, oom) ((p) = grow_buf((p), &(cap), (need), sizeof *(p), &(oom)), !(oom))

static bool heap_less(const struct bigram *a, const struct bigram *b)
{
    /* true when a has lower priority than b */
    return a->key < b->key || (a->key == b->key && a->left > b->left);
}

static void heap_push(struct scratch *s, struct bigram b)
{
    if (!GROW(s->heap, s->capheap, s->nheap + 1, s->oom))
        return;
    int64_t i = s->nheap++;
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (!heap_less(&s->heap[p], &b))
            break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = b;
}

static struct bigram heap_pop(struct scratch *s)
{
    struct bigram top = s->heap[0], last = s->heap[--s->nheap];
    int64_t i = 0, n = s->nheap;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && heap_less(&s->heap[c], &s->heap[c + 1]))
            c++;
        if (!heap_less(&last, &s->heap[c]))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n > 0)
        s->heap[i] = last;
    return top;
}

static int utf8_len(unsigned char c)
{
    static const int lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[c >> 4];
}

/* Split buf[0..n) into UTF-8 character symbols chained prev/next. */
static void make_symbols(struct scratch *s, const char *text, size_t n)
{
    s->nsym = 0;
    if (!GROW(s->sym, s->capsym, (int64_t)n + 1, s->oom))
        return;
    size_t off = 0;
    int32_t idx = 0;
    while (off < n) {
        size_t l = (size_t)utf8_len((unsigned char)text[off]);
        if (l > n - off)
            l = n - off;
        struct sym *y = &s->sym[s->nsym++];
        y->text = text + off;
        y->n = (int32_t)l;
        off += l;
        y->prev = idx - 1;
        y->next = off == n ? -1 : idx + 1;
        idx++;
    }
}

/* ---- SPM ---- */

static void spm_try_bigram(const struct owb_tokenizer *t, struct scratch *s, int32_t l, int32_t r)
{
    if (l < 0 || r < 0)
        return;
    size_t n = (size_t)s->sym[l].n + (size_t)s->sym[r].n;
    int32_t id = smap_get(&t->vocab, s->sym[l].text, n);
    if (id < 0)
        return;
    heap_push(s, (struct bigram){
                     .key = (double)t->scores[id], .left = l, .right = r, .size = (int64_t)n});
}

static void spm_emit_bytes(const struct owb_tokenizer *t, const char *p, size_t n, struct ivec *out)
{
    for (size_t j = 0; j < n; j++) {
        unsigned char b = (unsigned char)p[j];
        int32_t id = t->byte_tok[b];
        if (id < 0) {
            char one = (char)b;
            id = smap_get(&t->vocab, &one, 1);
        }
        ivec_push(out, id >= 0 ? id : t->unk);
    }
}

/* Tokenize one raw fragment: optional leading space, spaces -> U+2581, bigram merges. */
static void spm_tokenize(const struct owb_tokenizer *t, struct scratch *s, const char *text,
                         size_t n, bool prefix, struct ivec *out)
{
    size_t spaces = prefix ? 1 : 0;
    for (size_t i = 0; i < n; i++)
        spaces += text[i] == ' ';
    size_t need = n + (prefix ? 1 : 0) + 2 * spaces + 1;
    if (!GROW(s->buf, s->capbuf, (int64_t)need, s->oom))
        return;
    size_t o = 0;
    if (prefix) {
        memcpy(s->buf, "\xe2\x96\x81", 3);
        o = 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (text[i] == ' ') {
            memcpy(s->buf + o, "\xe2\x96\x81", 3);
            o += 3;
        } else {
            s->buf[o++] = text[i];
        }
    }
    make_symbols(s, s->buf, o);
    if (s->oom)
        return;
    s->nheap = 0;
    for (int32_t i = 1; i < (int32_t)s->nsym; i++)
        spm_try_bigram(t, s, i - 1, i);
    while (s->nheap > 0 && !s->oom) {
        struct bigram b = heap_pop(s);
        struct sym *l = &s->sym[b.left], *r = &s->sym[b.right];
        if (l->n == 0 || r->n == 0 || (int64_t)l->n + r->n != b.size)
            continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            s->sym[r->next].prev = b.left;
        spm_try_bigram(t, s, l->prev, b.left);
        spm_try_bigram(t, s, b.left, l->next);
    }
    /* Every merged symbol is a vocabulary entry; single characters may not be: bytes then.
     * (llama.cpp's rev_merge re-segmentation only applies to texts that are tokens, so it never
     * fires here.) */
    for (int32_t i = s->nsym ? 0 : -1; i != -1; i = s->sym[i].next) {
        int32_t id = smap_get(&t->vocab, s->sym[i].text, (size_t)s->sym[i].n);
        if (id >= 0)
            ivec_push(out, id);
        else
            spm_emit_bytes(t, s->sym[i].text, (size_t)s->sym[i].n, out);
    }
}

/* ---- BPE ---- */

static unsigned cpt_flags(uint32_t c)
{
    if (c == CPT_NONE)
        return 0;
    unsigned f = 0;
    if ((c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
        (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
        c == 0x3000)
        f |= UCD_SPACE;
    size_t lo = 0, hi = OWB_ARRAY_LEN(owb_ucd_ranges);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < owb_ucd_ranges[mid].lo)
            hi = mid;
        else if (c > owb_ucd_ranges[mid].hi)
            lo = mid + 1;
        else
            return f | owb_ucd_ranges[mid].flags;
    }
    /* Any in-range code point has some category (llama.cpp's flags are never 0 inside a word);
     * a marker bit keeps "[^\s\p{L}\p{N}]" true for it. */
    return f | 0x80;
}

/* llama.cpp's unicode_cpt_from_utf8: no overlong/surrogate checks; invalid lead or missing
 * continuation -> U+FFFD for one byte. */
static uint32_t next_cpt(const unsigned char *p, size_t n, size_t *off)
{
    size_t i = *off;
    unsigned char c = p[i];
    if (!(c & 0x80)) {
        *off = i + 1;
        return c;
    }
    if ((c & 0x40) && !(c & 0x20)) {
        if (i + 1 < n && (p[i + 1] & 0xc0) == 0x80) {
            *off = i + 2;
            return ((uint32_t)(c & 0x1f) << 6) | (p[i + 1] & 0x3f);
        }
    } else if ((c & 0x40) && !(c & 0x10)) {
        if (i + 2 < n && (p[i + 1] & 0xc0) == 0x80 && (p[i + 2] & 0xc0) == 0x80) {
            *off = i + 3;
            return ((uint32_t)(c & 0x0f) << 12) | ((uint32_t)(p[i + 1] & 0x3f) << 6) |
                   (p[i + 2] & 0x3f);
        }
    } else if ((c & 0x40) && !(c & 0x08)) {
        if (i + 3 < n && (p[i + 1] & 0xc0) == 0x80 && (p[i + 2] & 0xc0) == 0x80 &&
            (p[i + 3] & 0xc0) == 0x80) {
            *off = i + 4;
            return ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(p[i + 1] & 0x3f) << 12) |
                   ((uint32_t)(p[i + 2] & 0x3f) << 6) | (p[i + 3] & 0x3f);
        }
    }
    *off = i + 1;
    return 0xfffd;
}

static size_t put_utf8(uint32_t c, char *o)
{
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xc0 | (c >> 6));
        o[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xe0 | (c >> 12));
        o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        o[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (c >> 18));
    o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    o[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

static void bpe_try_bigram(const struct owb_tokenizer *t, struct scratch *s, int32_t l, int32_t r,
                           char *key)
{
    if (l < 0 || r < 0)
        return;
    size_t nl = (size_t)s->sym[l].n, nr = (size_t)s->sym[r].n;
    memcpy(key, s->sym[l].text, nl);
    key[nl] = (char)0xff;
    memcpy(key + nl + 1, s->sym[r].text, nr);
    int32_t rank = smap_get(&t->merges, key, nl + 1 + nr);
    if (rank < 0)
        return;
    heap_push(s, (struct bigram){
                     .key = -(double)rank, .left = l, .right = r, .size = (int64_t)(nl + nr)});
}

/* BPE over one word: code points cpt[a..b) re-encoded as UTF-8, byte-mapped, merged. */
static void bpe_word(const struct owb_tokenizer *t, struct scratch *s, int64_t a, int64_t b,
                     struct ivec *out)
{
    size_t need = (size_t)(b - a) * 8 + 1;
    /* buf holds the word's mapped text and, after it, room for a merge key. */
    if (!GROW(s->buf, s->capbuf, (int64_t)need * 2 + 8, s->oom))
        return;
    char *w = s->buf, *key = s->buf + need + 4;
    size_t o = 0;
    for (int64_t i = a; i < b; i++) {
        char u[4];
        size_t ul = put_utf8(s->cpt[i], u);
        for (size_t j = 0; j < ul; j++) {
            unsigned char byte = (unsigned char)u[j];
            memcpy(w + o, t->b2u[byte], t->b2u_len[byte]);
            o += t->b2u_len[byte];
        }
    }
    if (t->ignore_merges && !s->merges_only) {
        int32_t id = smap_get(&t->vocab, w, o);
        if (id >= 0) {
            ivec_push(out, id);
            return;
        }
    }
    make_symbols(s, w, o);
    if (s->oom)
        return;
    s->nheap = 0;
    for (int32_t i = 1; i < (int32_t)s->nsym; i++)
        bpe_try_bigram(t, s, i - 1, i, key);
    while (s->nheap > 0 && !s->oom) {
        struct bigram bg = heap_pop(s);
        struct sym *l = &s->sym[bg.left], *r = &s->sym[bg.right];
        if (l->n == 0 || r->n == 0 || (int64_t)l->n + r->n != bg.size)
            continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            s->sym[r->next].prev = bg.left;
        bpe_try_bigram(t, s, l->prev, bg.left, key);
        bpe_try_bigram(t, s, bg.left, l->next, key);
    }
    for (int32_t i = s->nsym ? 0 : -1; i != -1; i = s->sym[i].next) {
        const struct sym *y = &s->sym[i];
        int32_t id = smap_get(&t->vocab, y->text, (size_t)y->n);
        if (id >= 0) {
            ivec_push(out, id);
            continue;
        }
        for (int32_t j = 0; j < y->n; j++) { /* llama.cpp: each byte as a one-byte token */
            int32_t bid = smap_get(&t->vocab, y->text + j, 1);
            if (bid >= 0)
                ivec_push(out, bid);
        }
    }
}

/* Code point i of c[0..n), CPT_NONE past the end (a function: callers pass ++pos). */
static uint32_t cpt_at(const uint32_t *c, int64_t n, int64_t i)
{
    return i < n ? c[i] : CPT_NONE;
}

/* Pre-tokenize cpt[0..n) into words and BPE each; mirrors llama.cpp's custom splitters. */
static void bpe_fragment(const struct owb_tokenizer *t, struct scratch *s, int64_t n,
                         struct ivec *out)
{
    const uint32_t *c = s->cpt;
#define CPT(i) cpt_at(c, n, (i))
#define FLG(i) cpt_flags(cpt_at(c, n, (i)))
#define IS_L(f) ((f)&UCD_LETTER)
#define IS_N(f) ((f)&UCD_NUMBER)
#define IS_S(f) ((f)&UCD_SPACE)
    int64_t prev_end = 0, pos = 0;
#define ADD(end)                                                                                   \
    do {                                                                                           \
        int64_t e_ = (end);                                                                        \
        if (e_ > prev_end)                                                                         \
            bpe_word(t, s, prev_end, e_, out);                                                     \
        prev_end = e_;                                                                             \
    } while (0)
    while (pos < n && !s->oom) {
        uint32_t cp = c[pos];
        unsigned fl = cpt_flags(cp);
        /* 's|'t|'re|'ve|'m|'ll|'d (case-insensitive for llama3/qwen2) */
        if (cp == '\'' && pos + 1 < n) {
            uint32_t n1 = c[pos + 1];
            if (t->pre != PRE_GPT2 && n1 < 0x80)
                n1 = (uint32_t)(n1 >= 'A' && n1 <= 'Z' ? n1 + 32 : n1);
            if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') {
                ADD(pos + 2);
                pos += 2;
                continue;
            }
            if (pos + 2 < n) {
                uint32_t n2 = c[pos + 2];
                if (t->pre != PRE_GPT2 && n2 < 0x80)
                    n2 = (uint32_t)(n2 >= 'A' && n2 <= 'Z' ? n2 + 32 : n2);
                if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') ||
                    (n1 == 'l' && n2 == 'l')) {
                    ADD(pos + 3);
                    pos += 3;
                    continue;
                }
            }
        }
        if (t->pre == PRE_GPT2) {
            unsigned f2 = cp == ' ' ? FLG(pos + 1) : fl;
            if (IS_L(f2)) { /* ' ?\p{L}+' */
                pos += cp == ' ';
                while (IS_L(f2))
                    f2 = FLG(++pos);
                ADD(pos);
                continue;
            }
            if (IS_N(f2)) { /* ' ?\p{N}+' */
                pos += cp == ' ';
                while (IS_N(f2))
                    f2 = FLG(++pos);
                ADD(pos);
                continue;
            }
            if (!(IS_S(f2) | IS_L(f2) | IS_N(f2)) && f2) { /* ' ?[^\s\p{L}\p{N}]+' */
                pos += cp == ' ';
                while (!(IS_S(f2) | IS_L(f2) | IS_N(f2)) && f2)
                    f2 = FLG(++pos);
                ADD(pos);
                continue;
            }
            int64_t nw = 0;
            while (IS_S(FLG(pos + nw)))
                nw++;
            if (nw > 1 && CPT(pos + nw) != CPT_NONE) { /* '\s+(?!\S)' */
                pos += nw - 1;
                ADD(pos);
                continue;
            }
            if (nw > 0) { /* '\s+' */
                pos += nw;
                ADD(pos);
                continue;
            }
            ADD(++pos);
            continue;
        }
        /* Llama-3 / Qwen2. '[^\r\n\p{L}\p{N}]?\p{L}+' */
        if (!(cp == '\r' || cp == '\n' || IS_N(fl))) {
            if (IS_L(fl) || IS_L(FLG(pos + 1))) {
                pos++;
                while (IS_L(FLG(pos)))
                    pos++;
                ADD(pos);
                continue;
            }
        }
        if (IS_N(fl)) { /* '\p{N}{1,3}' (qwen2: '\p{N}') */
            int64_t ini = pos, maxd = t->pre == PRE_QWEN2 ? 1 : 3;
            while (IS_N(FLG(pos))) {
                if (++pos - ini >= maxd) {
                    ADD(pos);
                    ini = pos;
                }
            }
            ADD(pos);
            continue;
        }
        { /* ' ?[^\s\p{L}\p{N}]+[\r\n]*' */
            unsigned f2 = cp == ' ' ? FLG(pos + 1) : fl;
            if (!(IS_S(f2) | IS_L(f2) | IS_N(f2)) && fl) {
                pos += cp == ' ';
                while (!(IS_S(f2) | IS_L(f2) | IS_N(f2)) && f2)
                    f2 = FLG(++pos);
                while (CPT(pos) == '\r' || CPT(pos) == '\n')
                    pos++;
                ADD(pos);
                continue;
            }
        }
        int64_t nw = 0, last_rn = 0;
        while (IS_S(FLG(pos + nw))) {
            uint32_t c2 = CPT(pos + nw);
            if (c2 == '\r' || c2 == '\n')
                last_rn = pos + nw + 1;
            nw++;
        }
        if (last_rn > 0) { /* '\s*[\r\n]+' */
            pos = last_rn;
            ADD(pos);
            continue;
        }
        if (nw > 1 && CPT(pos + nw) != CPT_NONE) { /* '\s+(?!\S)' */
            pos += nw - 1;
            ADD(pos);
            continue;
        }
        if (nw > 0) {
            pos += nw;
            ADD(pos);
            continue;
        }
        ADD(++pos);
    }
#undef CPT
#undef FLG
#undef IS_L
#undef IS_N
#undef IS_S
#undef ADD
}

/* o200k's classes: U = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] ("upper"), W = [\p{Ll}\p{Lm}\p{Lo}\p{M}]
 * ("lower"); Lm, Lo and marks are in both. */
static bool o200k_u(unsigned f)
{
    return (f & UCD_MARK) || ((f & UCD_LETTER) && !(f & UCD_LOWER));
}

static bool o200k_w(unsigned f)
{
    return (f & UCD_MARK) || ((f & UCD_LETTER) && !(f & UCD_UPPER));
}

/* '[U]*[W]+' at i: the end of the match a backtracking engine finds (U* takes all it can and
 * gives back one code point at a time until W+ matches, then W+ takes all it can), or -1. */
static int64_t o200k_uw(const uint8_t *f, int64_t n, int64_t i)
{
    int64_t q = i;
    while (q < n && o200k_u(f[q]))
        q++;
    for (int64_t k = q; k >= i; k--) {
        if (k < n && o200k_w(f[k])) {
            int64_t e = k + 1;
            while (e < n && o200k_w(f[e]))
                e++;
            return e;
        }
    }
    return -1;
}

/* '[U]+[W]*' at i: its end, or -1. */
static int64_t o200k_u_w(const uint8_t *f, int64_t n, int64_t i)
{
    if (i >= n || !o200k_u(f[i]))
        return -1;
    int64_t e = i + 1;
    while (e < n && o200k_u(f[e]))
        e++;
    while (e < n && o200k_w(f[e]))
        e++;
    return e;
}

/* Simple case folding onto ASCII lower case, as far as the contractions need it: A-Z, and
 * U+017F LATIN SMALL LETTER LONG S, which folds to 's'. */
static uint32_t fold_ascii(uint32_t c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c == 0x17f ? 's' : c;
}

/* '(?i:'s|'t|'re|'ve|'m|'ll|'d)?' at i: its end (i when absent). */
static int64_t o200k_contraction(const uint32_t *c, int64_t n, int64_t i)
{
    if (i + 1 >= n || c[i] != '\'')
        return i;
    uint32_t a = fold_ascii(c[i + 1]);
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return i + 2;
    uint32_t b = i + 2 < n ? fold_ascii(c[i + 2]) : 0;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return i + 3;
    return i;
}

/* The o200k (gpt-4o) pre-tokenizer, tiktoken's regex
 *   [^\r\n\p{L}\p{N}]?U*W+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
 *   |[^\r\n\p{L}\p{N}]?U+W*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
 *   |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * walked by hand over cpt[0..n) with the match a backtracking engine takes at each position: the
 * first alternative that matches, an optional part tried present first. Marks (M*) count in U and
 * W, so a word does not break at a combining mark (llama.cpp's GPT4O regex leaves \p{M} out and
 * splits there; tiktoken is the reference). Every code point matches some alternative. */
static void bpe_fragment_o200k(const struct owb_tokenizer *t, struct scratch *s, int64_t n,
                               struct ivec *out)
{
    const uint32_t *c = s->cpt;
    const uint8_t *f = s->flg;
    int64_t pos = 0;
    while (pos < n && !s->oom) {
        uint32_t cp = c[pos];
        unsigned fl = f[pos];
        /* the optional [^\r\n\p{L}\p{N}] in front of the two word alternatives */
        bool lead = cp != '\r' && cp != '\n' && !(fl & (UCD_LETTER | UCD_NUMBER));
        int64_t e = lead ? o200k_uw(f, n, pos + 1) : -1;
        if (e < 0)
            e = o200k_uw(f, n, pos);
        if (e < 0 && lead)
            e = o200k_u_w(f, n, pos + 1);
        if (e < 0)
            e = o200k_u_w(f, n, pos);
        if (e >= 0) {
            e = o200k_contraction(c, n, e);
        } else if (fl & UCD_NUMBER) { /* \p{N}{1,3} */
            e = pos + 1;
            while (e < n && e < pos + 3 && (f[e] & UCD_NUMBER))
                e++;
        } else {
            /* ' ?[^\s\p{L}\p{N}]+[\r\n/]*' */
            const unsigned word = UCD_SPACE | UCD_LETTER | UCD_NUMBER;
            int64_t q = pos + (cp == ' ');
            if (q < n && !(f[q] & word)) {
                while (q < n && !(f[q] & word))
                    q++;
                while (q < n && (c[q] == '\r' || c[q] == '\n' || c[q] == '/'))
                    q++;
                e = q;
            } else {
                int64_t nw = 0, last_rn = 0;
                while (pos + nw < n && (f[pos + nw] & UCD_SPACE)) {
                    if (c[pos + nw] == '\r' || c[pos + nw] == '\n')
                        last_rn = pos + nw + 1;
                    nw++;
                }
                if (last_rn > 0) /* '\s*[\r\n]+' */
                    e = last_rn;
                else if (nw > 1 && pos + nw < n) /* '\s+(?!\S)' */
                    e = pos + nw - 1;
                else if (nw > 0) /* '\s+' */
                    e = pos + nw;
                else /* not reached: every code point is a letter, number, space or other */
                    e = pos + 1;
            }
        }
        bpe_word(t, s, pos, e, out);
        pos = e;
    }
}

static void bpe_tokenize(const struct owb_tokenizer *t, struct scratch *s, const char *text,
                         size_t n, struct ivec *out)
{
    if (!GROW(s->cpt, s->capcpt, (int64_t)n + 1, s->oom))
        return;
    int64_t nc = 0;
    for (size_t off = 0; off < n;)
        s->cpt[nc++] = next_cpt((const unsigned char *)text, n, &off);
    if (t->pre != PRE_GPT4O) {
        bpe_fragment(t, s, nc, out);
        return;
    }
    if (!GROW(s->flg, s->capflg, nc + 1, s->oom))
        return;
    for (int64_t i = 0; i < nc; i++)
        s->flg[i] = (uint8_t)cpt_flags(s->cpt[i]);
    bpe_fragment_o200k(t, s, nc, out);
}

/* ---- special-token partition ---- */

struct frag {
    size_t off, len; /* raw text [off, off + len) when id < 0 */
    int32_t id;
};

static const char *find_bytes(const char *h, size_t hn, const char *nd, size_t nn)
{
    if (nn == 0 || nn > hn)
        return NULL;
    for (const char *p = h; (size_t)(p - h) <= hn - nn;) {
        p = memchr(p, nd[0], hn - nn - (size_t)(p - h) + 1);
        if (!p)
            return NULL;
        if (memcmp(p, nd, nn) == 0)
            return p;
        p++;
    }
    return NULL;
}

int64_t owb_tokenizer_encode(const struct owb_tokenizer *t, const char *text, size_t len,
                             unsigned flags, int32_t *ids, int64_t cap)
{
    struct ivec out = {0};
    struct scratch s = {.merges_only = (flags & OWB_TOK_MERGES_ONLY) != 0};
    struct frag *fr = NULL, *nf = NULL;
    int64_t nfr = 0, capfr = 0, capnf = 0, result = OWB_E_NOMEM;
    bool oom = false;
    const bool add_special = flags & OWB_TOK_ADD_SPECIAL;
    const bool parse_special = flags & OWB_TOK_PARSE_SPECIAL;

    if (len > 0) {
        if (!GROW(fr, capfr, 1, oom))
            goto out;
        fr[nfr++] = (struct frag){0, len, -1};
    }
    for (int32_t k = 0; k < t->n_special && nfr > 0; k++) {
        int32_t sid = t->special[k];
        uint8_t ty = t->types[sid];
        if (!parse_special && (ty == OWB_TOKEN_CONTROL || ty == OWB_TOKEN_UNKNOWN))
            continue;
        const char *st = tok_text(t, sid);
        size_t sl = t->len[sid];
        int64_t nn = 0;
        for (int64_t i = 0; i < nfr; i++) {
            if (fr[i].id >= 0) {
                if (!GROW(nf, capnf, nn + 1, oom))
                    goto out;
                nf[nn++] = fr[i];
                continue;
            }
            size_t off = fr[i].off, end = fr[i].off + fr[i].len;
            for (;;) {
                const char *m = find_bytes(text + off, end - off, st, sl);
                if (!GROW(nf, capnf, nn + 3, oom))
                    goto out;
                if (!m) {
                    if (end > off)
                        nf[nn++] = (struct frag){off, end - off, -1};
                    break;
                }
                size_t mo = (size_t)(m - text);
                if (mo > off)
                    nf[nn++] = (struct frag){off, mo - off, -1};
                nf[nn++] = (struct frag){0, 0, sid};
                off = mo + sl;
            }
        }
        struct frag *tf = fr;
        int64_t tc = capfr;
        fr = nf;
        capfr = capnf;
        nf = tf;
        capnf = tc;
        nfr = nn;
    }

    if (add_special && t->add_bos && t->bos >= 0)
        ivec_push(&out, t->bos);
    bool prev_special = true; /* SPM: prefix a space to the first text and after specials */
    for (int64_t i = 0; i < nfr; i++) {
        if (fr[i].id >= 0) {
            ivec_push(&out, fr[i].id);
            prev_special = true;
            continue;
        }
        if (t->kind == OWB_TOK_SPM) {
            spm_tokenize(t, &s, text + fr[i].off, fr[i].len, t->add_space_prefix && prev_special,
                         &out);
            prev_special = false;
        } else {
            bpe_tokenize(t, &s, text + fr[i].off, fr[i].len, &out);
        }
        if (s.oom)
            goto out;
    }
    if (add_special && t->add_eos && t->eos >= 0)
        ivec_push(&out, t->eos);
    if (out.oom)
        goto out;
    for (int64_t i = 0; i < out.n && i < cap; i++)
        ids[i] = out.p[i];
    result = out.n;
out:
    free(out.p);
    free(s.sym);
    free(s.heap);
    free(s.buf);
    free(s.cpt);
    free(s.flg);
    free(fr);
    free(nf);
    return result;
}

/* ---- decode ---- */

static int put_piece(char *buf, size_t cap, const char *p, size_t n)
{
    if (buf && cap)
        memcpy(buf, p, n < cap ? n : cap);
    return (int)n;
}

static int byte_of(const struct owb_tokenizer *t, int32_t id)
{
    const char *s = tok_text(t, id);
    if (t->len[id] == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' && s[5] == '>') {
        int v = 0;
        for (int i = 3; i < 5; i++) {
            char h = s[i];
            v = v * 16 + (h >= '0' && h <= '9'   ? h - '0'
                          : h >= 'A' && h <= 'F' ? h - 'A' + 10
                          : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                                 : 0);
        }
        return v;
    }
    return t->len[id] ? (unsigned char)s[0] : 0;
}

int owb_tokenizer_piece(const struct owb_tokenizer *t, int32_t id, bool special, char *buf,
                        size_t cap)
{
    if (id < 0 || id >= t->n_vocab)
        return -1;
    uint8_t ty = t->types[id];
    const char *s = tok_text(t, id);
    size_t n = t->len[id];
    if (ty == OWB_TOKEN_CONTROL || ty == OWB_TOKEN_UNKNOWN)
        return special ? put_piece(buf, cap, s, n) : 0;
    if (ty == OWB_TOKEN_USER_DEFINED)
        return put_piece(buf, cap, s, n);
    if (ty == OWB_TOKEN_BYTE) {
        char b = (char)byte_of(t, id);
        return put_piece(buf, cap, &b, 1);
    }
    if (ty != OWB_TOKEN_NORMAL)
        return 0;
    size_t o = 0;
    if (t->kind == OWB_TOK_SPM) {
        for (size_t i = 0; i < n;) {
            if (i + 2 < n && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
                if (buf && o < cap)
                    buf[o] = ' ';
                o++;
                i += 3;
            } else {
                if (buf && o < cap)
                    buf[o] = s[i];
                o++;
                i++;
            }
        }
        return (int)o;
    }
    for (size_t i = 0; i < n;) {
        size_t at = i;
        uint32_t cp = next_cpt((const unsigned char *)s, n, &i);
        if (cp < 512 && t->u2b[cp] >= 0) {
            if (buf && o < cap)
                buf[o] = (char)t->u2b[cp];
            o++;
        } else { /* not a mapped code point: copy its bytes */
            for (size_t j = at; j < i; j++) {
                if (buf && o < cap)
                    buf[o] = s[j];
                o++;
            }
        }
    }
    return (int)o;
}

int64_t owb_tokenizer_decode(const struct owb_tokenizer *t, const int32_t *ids, int64_t n,
                             char *out, size_t cap)
{
    int64_t total = 0;
    bool strip = t->kind == OWB_TOK_SPM && t->add_space_prefix;
    char tmp[256];
    for (int64_t i = 0; i < n; i++) {
        int len = owb_tokenizer_piece(t, ids[i], false, NULL, 0);
        if (len < 0)
            return -1;
        if (len == 0)
            continue;
        char *p = (size_t)len <= sizeof tmp ? tmp : malloc((size_t)len);
        if (!p)
            return OWB_E_NOMEM;
        owb_tokenizer_piece(t, ids[i], false, p, (size_t)len);
        const char *q = p;
        size_t ql = (size_t)len;
        if (strip && q[0] == ' ') {
            q++;
            ql--;
        }
        strip = false;
        for (size_t j = 0; j < ql; j++, total++)
            if (cap && (size_t)total < cap - 1)
                out[total] = q[j];
        if (p != tmp)
            free(p);
    }
    if (cap)
        out[(size_t)total < cap - 1 ? (size_t)total : cap - 1] = '\0';
    return total;
}
