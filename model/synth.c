/* SPDX-License-Identifier: MIT */
/*
 * synth.c: synthetic models of real shapes (the preset table, the generated tokenizer, the seeded
 * weights) and the streaming GGUF writer they are written with. Weights are generated in chunks
 * of rows (f32, CHUNK_ELEMS at most), converted to the tensor's type on the quantizer threads of
 * model/quantize.c and appended to the file, so memory stays at a few tens of MB for any preset.
 */
#define _POSIX_C_SOURCE 200809L

#include "model/synth.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK_ELEMS (4 * 1024 * 1024) /* f32 elements generated per chunk (16 MiB) */
#define BIAS_STD 0.02f
#define GGUF_ALIGN 32

static void seterr(char err[OWB_ERR_MAX], const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, OWB_ERR_MAX, fmt, ap);
    va_end(ap);
}

/* ---- presets ---- */

static const struct owb_synth_preset presets[] = {
    /* stories260K.gguf: every value read from the file (rope base absent there: 10000). */
    {"tiny", "llama", "stories260K", 512, 64, 5, 8, 4, 172, 128, 10000.0f, 1e-5f, false, false},
    {"llama-3.2-1b", "llama", "Llama-3.2-1B", 128256, 2048, 16, 32, 8, 8192, 131072, 500000.0f,
     1e-5f, true, false},
    {"llama-3.1-8b", "llama", "Llama-3.1-8B", 128256, 4096, 32, 32, 8, 14336, 131072, 500000.0f,
     1e-5f, false, false},
    {"qwen2.5-0.5b", "qwen2", "Qwen2.5-0.5B", 151936, 896, 24, 14, 2, 4864, 32768, 1000000.0f,
     1e-6f, true, true},
    {"mistral-7b", "llama", "Mistral-7B-v0.1", 32000, 4096, 32, 32, 8, 14336, 32768, 10000.0f,
     1e-5f, false, false},
    {"llama-1b-32k", "llama", "Llama-3.2-1B shape, 32000 vocabulary, separate output", 32000, 2048,
     16, 32, 8, 8192, 131072, 500000.0f, 1e-5f, false, false},
};

const struct owb_synth_preset *owb_synth_presets(int *n)
{
    *n = (int)OWB_ARRAY_LEN(presets);
    return presets;
}

const struct owb_synth_preset *owb_synth_find(const char *name)
{
    for (size_t i = 0; name && i < OWB_ARRAY_LEN(presets); i++)
        if (strcmp(presets[i].name, name) == 0)
            return &presets[i];
    return NULL;
}

const char *owb_synth_preset_names(void)
{
    return "tiny, llama-3.2-1b, llama-3.1-8b, qwen2.5-0.5b, mistral-7b, llama-1b-32k";
}

/* ---- the tensor plan ---- */

enum tkind { K_MATRIX, K_NORM, K_BIAS };

struct tdesc {
    char name[64];
    int n_dims;
    int64_t ne[2];
    enum tkind kind;
};

/* Tensors of the preset with n_layer layers, in file order; *n gets the count. Caller frees. */
static struct tdesc *plan(const struct owb_synth_preset *p, int64_t n_layer, size_t *n)
{
    size_t cap = 3 + (size_t)n_layer * 12, k = 0;
    struct tdesc *t = calloc(cap, sizeof *t);
    if (!t)
        return NULL;
    int64_t hd = p->n_embd / p->n_head, q = hd * p->n_head, kv = hd * p->n_head_kv;
#define ADD(kd, nd, a, b, ...)                                                                     \
    do {                                                                                           \
        snprintf(t[k].name, sizeof t[k].name, __VA_ARGS__);                                        \
        t[k].kind = kd;                                                                            \
        t[k].n_dims = nd;                                                                          \
        t[k].ne[0] = a;                                                                            \
        t[k].ne[1] = b;                                                                            \
        k++;                                                                                       \
    } while (0)
    ADD(K_MATRIX, 2, p->n_embd, p->n_vocab, "token_embd.weight");
    for (int64_t l = 0; l < n_layer; l++) {
        ADD(K_NORM, 1, p->n_embd, 1, "blk.%lld.attn_norm.weight", (long long)l);
        ADD(K_MATRIX, 2, p->n_embd, q, "blk.%lld.attn_q.weight", (long long)l);
        if (p->qkv_bias)
            ADD(K_BIAS, 1, q, 1, "blk.%lld.attn_q.bias", (long long)l);
        ADD(K_MATRIX, 2, p->n_embd, kv, "blk.%lld.attn_k.weight", (long long)l);
        if (p->qkv_bias)
            ADD(K_BIAS, 1, kv, 1, "blk.%lld.attn_k.bias", (long long)l);
        ADD(K_MATRIX, 2, p->n_embd, kv, "blk.%lld.attn_v.weight", (long long)l);
        if (p->qkv_bias)
            ADD(K_BIAS, 1, kv, 1, "blk.%lld.attn_v.bias", (long long)l);
        ADD(K_MATRIX, 2, q, p->n_embd, "blk.%lld.attn_output.weight", (long long)l);
        ADD(K_NORM, 1, p->n_embd, 1, "blk.%lld.ffn_norm.weight", (long long)l);
        ADD(K_MATRIX, 2, p->n_embd, p->n_ff, "blk.%lld.ffn_gate.weight", (long long)l);
        ADD(K_MATRIX, 2, p->n_embd, p->n_ff, "blk.%lld.ffn_up.weight", (long long)l);
        ADD(K_MATRIX, 2, p->n_ff, p->n_embd, "blk.%lld.ffn_down.weight", (long long)l);
    }
    ADD(K_NORM, 1, p->n_embd, 1, "output_norm.weight");
    if (!p->tied_output)
        ADD(K_MATRIX, 2, p->n_embd, p->n_vocab, "output.weight");
#undef ADD
    OWB_ASSERT(k <= cap);
    *n = k;
    return t;
}

static int64_t layers_or_default(const struct owb_synth_preset *p, int64_t n_layer)
{
    return n_layer > 0 ? n_layer : p->n_layer;
}

int64_t owb_synth_param_count(const struct owb_synth_preset *p, int64_t n_layer)
{
    /* Closed form (no allocation): per layer q, k, v, o, three FFN matrices, two norms and the
     * optional biases; plus embeddings, final norm and the untied output. */
    int64_t hd = p->n_embd / p->n_head, q = hd * p->n_head, kv = hd * p->n_head_kv;
    int64_t layer = p->n_embd * q + 2 * p->n_embd * kv + q * p->n_embd + 3 * p->n_embd * p->n_ff +
                    2 * p->n_embd + (p->qkv_bias ? q + 2 * kv : 0);
    int64_t emb = p->n_embd * p->n_vocab;
    return emb * (p->tied_output ? 1 : 2) + p->n_embd + layers_or_default(p, n_layer) * layer;
}

uint64_t owb_synth_data_bytes(const struct owb_synth_preset *p, enum owb_type type, int64_t n_layer)
{
    if (!owb_quantize_target_ok(type))
        return 0;
    size_t n = 0;
    struct tdesc *t = plan(p, layers_or_default(p, n_layer), &n);
    if (!t)
        return 0;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        enum owb_type tt = owb_quantize_pick_type(t[i].name, t[i].n_dims, t[i].ne, type, NULL);
        uint64_t bytes = owb_row_size(tt, t[i].ne[0]) * (uint64_t)t[i].ne[1];
        total += (bytes + GGUF_ALIGN - 1) / GGUF_ALIGN * GGUF_ALIGN;
    }
    free(t);
    return total;
}

/* ---- tokenizer ---- */

enum { TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_BYTE = 6 };
#define N_ASCII 94 /* printable ASCII without the space: '!' .. '~' */

/* Word j >= 0 in bijective base 26 ("a", ..., "z", "aa", ...) into out (>= 16 bytes). */
static void word(int64_t j, char *out)
{
    char tmp[16];
    int n = 0;
    j++;
    while (j > 0 && n < 15) {
        j--;
        tmp[n++] = (char)('a' + j % 26);
        j /= 26;
    }
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = 0;
}

struct vocab {
    char **tok; /* pointers into buf */
    char *buf;
    float *score;
    int32_t *type;
};

static void vocab_free(struct vocab *v)
{
    free(v->tok);
    free(v->buf);
    free(v->score);
    free(v->type);
}

/* The generated vocabulary of n tokens (n >= 259 + 1 + N_ASCII): <unk>, <s>, </s>, the byte
 * tokens, "▁", the printable ASCII characters, then word pieces alternately "▁"+w and w for the
 * words of two or more letters (all distinct: the "▁" prefix, and single letters are not
 * words). Scores fall with the index so shorter, earlier pieces win SentencePiece merges. */
static int vocab_make(struct vocab *v, int64_t n)
{
    memset(v, 0, sizeof *v);
    v->tok = calloc((size_t)n, sizeof *v->tok);
    v->buf = malloc((size_t)n * 24);
    v->score = calloc((size_t)n, sizeof *v->score);
    v->type = calloc((size_t)n, sizeof *v->type);
    if (!v->tok || !v->buf || !v->score || !v->type) {
        vocab_free(v);
        return OWB_E_NOMEM;
    }
    static const char *const special[3] = {"<unk>", "<s>", "</s>"};
    char *w = v->buf;
    for (int64_t i = 0; i < n; i++) {
        char piece[24];
        int32_t type = TOK_NORMAL;
        float score = 0.0f;
        if (i < 3) {
            snprintf(piece, sizeof piece, "%s", special[i]);
            type = i == 0 ? TOK_UNKNOWN : TOK_CONTROL;
        } else if (i < 259) {
            snprintf(piece, sizeof piece, "<0x%02X>", (unsigned)(i - 3));
            type = TOK_BYTE;
        } else if (i == 259) {
            snprintf(piece, sizeof piece, "\xe2\x96\x81");
            score = -1.0f;
        } else if (i < 260 + N_ASCII) {
            snprintf(piece, sizeof piece, "%c", (char)('!' + (i - 260)));
            score = -2.0f;
        } else {
            int64_t k = i - (260 + N_ASCII);
            char wd[16];
            word(26 + k / 2, wd);
            snprintf(piece, sizeof piece, "%s%s", k % 2 == 0 ? "\xe2\x96\x81" : "", wd);
            score = -3.0f - (float)k;
        }
        size_t len = strlen(piece);
        memcpy(w, piece, len + 1);
        v->tok[i] = w;
        w += len + 1;
        v->score[i] = score;
        v->type[i] = type;
    }
    return 0;
}

/* ---- weights ---- */

static uint64_t mix64(uint64_t x)
{
    x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
    return x ^ (x >> 31);
}

#define GOLDEN UINT64_C(0x9E3779B97F4A7C15)

static uint64_t name_seed(uint64_t seed, const char *name)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325); /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        h = (h ^ *c) * UINT64_C(0x100000001b3);
    return mix64(seed ^ mix64(h));
}

/* Elements [i0, i0 + n) of a tensor: uniform in (-a, a), a = sqrt(3) * std, from splitmix64 over
 * the element index (24 random bits, symmetric about 0). */
static void fill_uniform(float *dst, int64_t n, uint64_t tseed, int64_t i0, float std)
{
    const float scale = sqrtf(3.0f) * std / (float)(1 << 23);
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = mix64(tseed + (uint64_t)(i0 + i + 1) * GOLDEN);
        int32_t k = (int32_t)(r >> 40) - (1 << 23);
        dst[i] = ((float)k + 0.5f) * scale;
    }
}

static int set_metadata(struct owb_gguf_writer *s, const struct owb_synth_preset *p,
                        enum owb_type type, int64_t n_layer, uint64_t seed, char err[OWB_ERR_MAX])
{
    char key[128], name[160];
    struct vocab v;
    int rc = 0;
    const char *a = p->arch;
    int64_t hd = p->n_embd / p->n_head;
    if (n_layer == p->n_layer)
        snprintf(name, sizeof name, "owbench synthetic %s", p->name);
    else
        snprintf(name, sizeof name, "owbench synthetic %s (%lld of %lld layers)", p->name,
                 (long long)n_layer, (long long)p->n_layer);

#define TRY(call)                                                                                  \
    do {                                                                                           \
        rc = (call);                                                                               \
        if (rc)                                                                                    \
            return rc;                                                                             \
    } while (0)
#define ARCH_U32(suffix, val)                                                                      \
    do {                                                                                           \
        snprintf(key, sizeof key, "%s.%s", a, suffix);                                             \
        TRY(owb_gguf_writer_set_u32(s, key, (uint32_t)(val), err));                                \
    } while (0)

    TRY(owb_gguf_writer_set_str(s, "general.architecture", a, err));
    TRY(owb_gguf_writer_set_str(s, "general.name", name, err));
    TRY(owb_gguf_writer_set_u32(s, "general.file_type", (uint32_t)owb_quantize_ftype(type), err));
    TRY(owb_gguf_writer_set_u32(s, "general.quantization_version", 2, err));
    TRY(owb_gguf_writer_set_u32(s, "general.alignment", GGUF_ALIGN, err));
    ARCH_U32("context_length", p->n_ctx);
    ARCH_U32("embedding_length", p->n_embd);
    ARCH_U32("block_count", n_layer);
    ARCH_U32("feed_forward_length", p->n_ff);
    ARCH_U32("attention.head_count", p->n_head);
    ARCH_U32("attention.head_count_kv", p->n_head_kv);
    ARCH_U32("rope.dimension_count", hd);
    ARCH_U32("vocab_size", p->n_vocab);
    snprintf(key, sizeof key, "%s.rope.freq_base", a);
    TRY(owb_gguf_writer_set_f32(s, key, p->rope_freq_base, err));
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", a);
    TRY(owb_gguf_writer_set_f32(s, key, p->rms_eps, err));
    TRY(owb_gguf_writer_set_str(s, "owbench.synth.preset", p->name, err));
    TRY(owb_gguf_writer_set_str(s, "owbench.synth.mimics", p->model_name, err));
    TRY(owb_gguf_writer_set_u64(s, "owbench.synth.seed", seed, err));

    TRY(owb_gguf_writer_set_str(s, "tokenizer.ggml.model", "llama", err));
    rc = vocab_make(&v, p->n_vocab);
    if (rc) {
        seterr(err, "out of memory for a vocabulary of %lld tokens", (long long)p->n_vocab);
        return rc;
    }
    rc = owb_gguf_writer_set_arr_str(s, "tokenizer.ggml.tokens", (uint64_t)p->n_vocab,
                                     (const char *const *)v.tok, err);
    if (!rc)
        rc = owb_gguf_writer_set_arr(s, "tokenizer.ggml.scores", OWB_GGUF_FLOAT32,
                                     (uint64_t)p->n_vocab, v.score, err);
    if (!rc)
        rc = owb_gguf_writer_set_arr(s, "tokenizer.ggml.token_type", OWB_GGUF_INT32,
                                     (uint64_t)p->n_vocab, v.type, err);
    vocab_free(&v);
    if (rc)
        return rc;
    TRY(owb_gguf_writer_set_u32(s, "tokenizer.ggml.unknown_token_id", 0, err));
    TRY(owb_gguf_writer_set_u32(s, "tokenizer.ggml.bos_token_id", 1, err));
    TRY(owb_gguf_writer_set_u32(s, "tokenizer.ggml.eos_token_id", 2, err));
    TRY(owb_gguf_writer_set_bool(s, "tokenizer.ggml.add_bos_token", true, err));
    TRY(owb_gguf_writer_set_bool(s, "tokenizer.ggml.add_eos_token", false, err));
#undef ARCH_U32
#undef TRY
    return 0;
}

int owb_synth_write(const struct owb_synth_preset *p, enum owb_type type, int64_t n_layer,
                    uint64_t seed, const char *path, int nthreads,
                    owb_quantize_progress_fn progress, void *progress_ctx, char err[OWB_ERR_MAX])
{
    struct owb_gguf_writer *s = NULL;
    struct tdesc *t = NULL;
    float *src = NULL;
    unsigned char *dst = NULL;
    size_t n_t = 0;
    int rc = 0;

    if (!owb_quantize_target_ok(type)) {
        seterr(err, "%s: type %s is not supported (one of %s)", path, owb_type_name(type),
               owb_quantize_target_names());
        return OWB_E_USAGE;
    }
    if (n_layer == 0)
        n_layer = p->n_layer;
    if (n_layer < 1 || n_layer > p->n_layer) {
        seterr(err, "%s: %lld layers requested; preset %s has 1..%lld", path, (long long)n_layer,
               p->name, (long long)p->n_layer);
        return OWB_E_USAGE;
    }
    s = owb_gguf_writer_new();
    t = plan(p, n_layer, &n_t);
    if (!s || !t) {
        seterr(err, "%s: out of memory", path);
        rc = OWB_E_NOMEM;
        goto out;
    }
    rc = set_metadata(s, p, type, n_layer, seed, err);
    if (rc)
        goto out;
    int64_t max_row = 0;
    for (size_t i = 0; i < n_t; i++) {
        enum owb_type tt = owb_quantize_pick_type(t[i].name, t[i].n_dims, t[i].ne, type, NULL);
        rc = owb_gguf_writer_add_tensor_info(s, t[i].name, tt, t[i].n_dims, t[i].ne, err);
        if (rc)
            goto out;
        if (t[i].ne[0] > max_row)
            max_row = t[i].ne[0];
    }
    /* One chunk holds at least one row. f32 is the widest type, so dst fits any. */
    int64_t chunk_elems = max_row > CHUNK_ELEMS ? max_row : CHUNK_ELEMS;
    src = malloc((size_t)chunk_elems * sizeof *src);
    dst = malloc((size_t)chunk_elems * sizeof(float));
    if (!src || !dst) {
        seterr(err, "%s: out of memory", path);
        rc = OWB_E_NOMEM;
        goto out;
    }
    rc = owb_gguf_writer_begin(s, path, err);
    if (rc)
        goto out;
    for (size_t i = 0; i < n_t; i++) {
        const struct tdesc *d = &t[i];
        bool fell = false;
        enum owb_type tt = owb_quantize_pick_type(d->name, d->n_dims, d->ne, type, &fell);
        int64_t ncols = d->ne[0], nrows = d->ne[1];
        int64_t chunk_rows = chunk_elems / ncols;
        size_t row_bytes = owb_row_size(tt, ncols);
        uint64_t tseed = name_seed(seed, d->name);
        float std = d->kind == K_BIAS ? BIAS_STD : 1.0f / sqrtf((float)ncols);
        for (int64_t r0 = 0; r0 < nrows; r0 += chunk_rows) {
            int64_t nr = nrows - r0 < chunk_rows ? nrows - r0 : chunk_rows;
            int64_t ne = nr * ncols;
            if (d->kind == K_NORM)
                for (int64_t j = 0; j < ne; j++)
                    src[j] = 1.0f;
            else
                fill_uniform(src, ne, tseed, r0 * ncols, std);
            const void *out = src;
            if (tt != OWB_TYPE_F32) {
                (void)owb_quantize_rows(tt, src, dst, nr, ncols, nthreads);
                out = dst;
            }
            rc = owb_gguf_writer_stream(s, out, (size_t)nr * row_bytes, err);
            if (rc)
                goto out;
        }
        if (progress)
            progress(progress_ctx, (int64_t)i, (int64_t)n_t, d->name, d->ne[0], tt, tt, fell);
    }
    rc = owb_gguf_writer_finish(s, err);
out:
    owb_gguf_writer_free(s);
    free(t);
    free(src);
    free(dst);
    return rc;
}
