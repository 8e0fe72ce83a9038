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
#define SINK_STD 1.0f /* attention sinks: logits of the size of q.k / sqrt(head_dim) */
#define GGUF_ALIGN 32

/* ---- presets ---- */

/* Dense presets: general.architecture, shapes and RoPE base of the real model; f16 by default. */
#define DENSE(nm, ar, mimics, vocab, embd, layers, heads, heads_kv, ff, ctx, base, eps, tied,      \
              bias)                                                                                \
    {                                                                                              \
        .name = nm, .arch = ar, .model_name = mimics, .n_vocab = vocab, .n_embd = embd,            \
        .n_layer = layers, .n_head = heads, .n_head_kv = heads_kv, .n_ff = ff, .n_ctx = ctx,       \
        .rope_freq_base = base, .rms_eps = eps, .tied_output = tied, .qkv_bias = bias,             \
        .default_type = OWB_TYPE_F16, .default_expert_type = OWB_TYPE_COUNT                        \
    }

/* gpt-oss: openai/gpt-oss-20b and -120b config.json (hidden 2880, head_dim 64, 64 heads, 8 KV
 * heads, intermediate 2880, rope_theta 150000, rms_norm_eps 1e-5, sliding_window 128,
 * max_position_embeddings 131072, rope_scaling yarn factor 32 over 4096 with beta_fast 32 and
 * beta_slow 1, vocab 201088, attention_bias, untied output). Where llama.cpp was followed:
 * - keys and their order as convert_hf_to_gguf.py (TextModel + GptOssModel) writes them, no
 *   rope.dimension_count or vocab_size (it writes none), file_type 32 for its --outtype bf16;
 * - tensor names and shapes as llama.cpp's OPENAI_MOE loader creates them (post_attention_norm
 *   for the pre-FFN norm, attn_sinks.weight, ffn_{gate,up,down}_exps split from HF's gate_up);
 * - types: experts mxfp4 as the converter copies them through; every other .weight matrix in the
 *   output type (bf16, the HF dtype); f32 for 1-D tensors, non-.weight tensors (the 2-D expert
 *   biases) and ffn_gate_inp.weight (the converter's FFN_GATE_INP rule), as model/quantize.c's
 *   rules say;
 * - the vocabulary: the converter's (tokens padded with [PAD<id>] to 201088), from the vocab GGUF.
 * gpt-oss-tiny keeps all of it at 64 wide (see synth.h). */
#define GPT_OSS(nm, mimics, vocab, embd, layers, heads, heads_kv, hd, experts, used, ff_exp, swa,  \
                vfile)                                                                             \
    {                                                                                              \
        .name = nm, .arch = "gpt-oss", .model_name = mimics, .n_vocab = vocab, .n_embd = embd,     \
        .n_layer = layers, .n_head = heads, .n_head_kv = heads_kv, .n_ff = ff_exp,                 \
        .n_ctx = 131072, .rope_freq_base = 150000.0f, .rms_eps = 1e-5f, .tied_output = false,      \
        .qkv_bias = true, .head_dim = hd, .n_expert = experts, .n_expert_used = used,              \
        .n_ff_exp = ff_exp, .n_swa = swa, .yarn_factor = 32.0f, .yarn_orig_ctx = 4096,             \
        .yarn_beta_fast = 32.0f, .yarn_beta_slow = 1.0f, .vocab_file = vfile,                      \
        .default_type = OWB_TYPE_BF16, .default_expert_type = OWB_TYPE_MXFP4                       \
    }

#define GPT_OSS_VOCAB "ggml-vocab-gpt-oss.gguf"

static const struct owb_synth_preset presets[] = {
    /* stories260K.gguf: every value read from the file (rope base absent there: 10000). */
    DENSE("tiny", "llama", "stories260K", 512, 64, 5, 8, 4, 172, 128, 10000.0f, 1e-5f, false,
          false),
    DENSE("llama-3.2-1b", "llama", "Llama-3.2-1B", 128256, 2048, 16, 32, 8, 8192, 131072, 500000.0f,
          1e-5f, true, false),
    DENSE("llama-3.1-8b", "llama", "Llama-3.1-8B", 128256, 4096, 32, 32, 8, 14336, 131072,
          500000.0f, 1e-5f, false, false),
    DENSE("qwen2.5-0.5b", "qwen2", "Qwen2.5-0.5B", 151936, 896, 24, 14, 2, 4864, 32768, 1000000.0f,
          1e-6f, true, true),
    DENSE("mistral-7b", "llama", "Mistral-7B-v0.1", 32000, 4096, 32, 32, 8, 14336, 32768, 10000.0f,
          1e-5f, false, false),
    DENSE("llama-1b-32k", "llama", "Llama-3.2-1B shape, 32000 vocabulary, separate output", 32000,
          2048, 16, 32, 8, 8192, 131072, 500000.0f, 1e-5f, false, false),
    GPT_OSS("gpt-oss-tiny", "gpt-oss structure at test size", 1024, 64, 4, 4, 2, 32, 4, 2, 96, 8,
            NULL),
    GPT_OSS("gpt-oss-20b", "gpt-oss-20b", 201088, 2880, 24, 64, 8, 64, 32, 4, 2880, 128,
            GPT_OSS_VOCAB),
    GPT_OSS("gpt-oss-120b", "gpt-oss-120b", 201088, 2880, 36, 64, 8, 64, 128, 4, 2880, 128,
            GPT_OSS_VOCAB),
};

static bool is_moe(const struct owb_synth_preset *p)
{
    return p->n_expert > 0;
}

static int64_t head_dim(const struct owb_synth_preset *p)
{
    return p->head_dim > 0 ? p->head_dim : p->n_embd / p->n_head;
}

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
    return "tiny, llama-3.2-1b, llama-3.1-8b, qwen2.5-0.5b, mistral-7b, llama-1b-32k, "
           "gpt-oss-tiny, gpt-oss-20b, gpt-oss-120b";
}

/* ---- the tensor plan ---- */

enum tkind { K_MATRIX, K_NORM, K_BIAS, K_SINK };

struct tdesc {
    char name[64];
    int n_dims;
    int64_t ne[3]; /* unused dimensions are 1 */
    enum tkind kind;
};

/* Tensors of the preset with n_layer layers, in file order; *n gets the count. Caller frees. */
static struct tdesc *plan(const struct owb_synth_preset *p, int64_t n_layer, size_t *n)
{
    size_t cap = 3 + (size_t)n_layer * 24, k = 0;
    struct tdesc *t = calloc(cap, sizeof *t);
    if (!t)
        return NULL;
    int64_t hd = head_dim(p), q = hd * p->n_head, kv = hd * p->n_head_kv;
    int64_t E = p->n_embd, F = p->n_ff_exp, X = p->n_expert;
#define ADD(kd, nd, a, b, c, ...)                                                                  \
    do {                                                                                           \
        snprintf(t[k].name, sizeof t[k].name, __VA_ARGS__);                                        \
        t[k].kind = kd;                                                                            \
        t[k].n_dims = nd;                                                                          \
        t[k].ne[0] = a;                                                                            \
        t[k].ne[1] = b;                                                                            \
        t[k].ne[2] = c;                                                                            \
        k++;                                                                                       \
    } while (0)
    ADD(K_MATRIX, 2, E, p->n_vocab, 1, "token_embd.weight");
    for (int64_t l = 0; l < n_layer; l++) {
        long long L = (long long)l;
        ADD(K_NORM, 1, E, 1, 1, "blk.%lld.attn_norm.weight", L);
        ADD(K_MATRIX, 2, E, q, 1, "blk.%lld.attn_q.weight", L);
        if (p->qkv_bias)
            ADD(K_BIAS, 1, q, 1, 1, "blk.%lld.attn_q.bias", L);
        ADD(K_MATRIX, 2, E, kv, 1, "blk.%lld.attn_k.weight", L);
        if (p->qkv_bias)
            ADD(K_BIAS, 1, kv, 1, 1, "blk.%lld.attn_k.bias", L);
        ADD(K_MATRIX, 2, E, kv, 1, "blk.%lld.attn_v.weight", L);
        if (p->qkv_bias)
            ADD(K_BIAS, 1, kv, 1, 1, "blk.%lld.attn_v.bias", L);
        ADD(K_MATRIX, 2, q, E, 1, "blk.%lld.attn_output.weight", L);
        if (!is_moe(p)) {
            ADD(K_NORM, 1, E, 1, 1, "blk.%lld.ffn_norm.weight", L);
            ADD(K_MATRIX, 2, E, p->n_ff, 1, "blk.%lld.ffn_gate.weight", L);
            ADD(K_MATRIX, 2, E, p->n_ff, 1, "blk.%lld.ffn_up.weight", L);
            ADD(K_MATRIX, 2, p->n_ff, E, 1, "blk.%lld.ffn_down.weight", L);
            continue;
        }
        /* gpt-oss (llama.cpp LLM_ARCH_OPENAI_MOE): output bias, sinks, the pre-FFN norm under
         * its converter name, the router and the stacked experts with their biases. */
        ADD(K_BIAS, 1, E, 1, 1, "blk.%lld.attn_output.bias", L);
        ADD(K_SINK, 1, p->n_head, 1, 1, "blk.%lld.attn_sinks.weight", L);
        ADD(K_NORM, 1, E, 1, 1, "blk.%lld.post_attention_norm.weight", L);
        ADD(K_MATRIX, 2, E, X, 1, "blk.%lld.ffn_gate_inp.weight", L);
        ADD(K_BIAS, 1, X, 1, 1, "blk.%lld.ffn_gate_inp.bias", L);
        ADD(K_MATRIX, 3, E, F, X, "blk.%lld.ffn_gate_exps.weight", L);
        ADD(K_BIAS, 2, F, X, 1, "blk.%lld.ffn_gate_exps.bias", L);
        ADD(K_MATRIX, 3, E, F, X, "blk.%lld.ffn_up_exps.weight", L);
        ADD(K_BIAS, 2, F, X, 1, "blk.%lld.ffn_up_exps.bias", L);
        ADD(K_MATRIX, 3, F, E, X, "blk.%lld.ffn_down_exps.weight", L);
        ADD(K_BIAS, 2, E, X, 1, "blk.%lld.ffn_down_exps.bias", L);
    }
    ADD(K_NORM, 1, E, 1, 1, "output_norm.weight");
    if (!p->tied_output)
        ADD(K_MATRIX, 2, E, p->n_vocab, 1, "output.weight");
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
    /* Closed form (no allocation): per layer q, k, v, o, two norms, the FFN (three matrices, or
     * for MoE the router, the experts, their biases, the output bias and the sinks) and the
     * optional biases; plus embeddings, final norm and the untied output. */
    int64_t hd = head_dim(p), q = hd * p->n_head, kv = hd * p->n_head_kv, E = p->n_embd;
    int64_t layer = E * q + 2 * E * kv + q * E + 2 * E + (p->qkv_bias ? q + 2 * kv : 0);
    if (is_moe(p)) {
        int64_t F = p->n_ff_exp, X = p->n_expert;
        layer += E + p->n_head + (E * X + X) + X * (3 * E * F + 2 * F + E);
    } else {
        layer += 3 * E * p->n_ff;
    }
    int64_t emb = E * p->n_vocab;
    return emb * (p->tied_output ? 1 : 2) + E + layers_or_default(p, n_layer) * layer;
}

static enum owb_type tensor_type(const struct tdesc *d, const struct owb_synth_opts *o, bool *fell)
{
    return owb_quantize_pick_type_moe(d->name, d->n_dims, d->ne, o->type, o->expert_type, fell);
}

static bool opts_types_ok(const struct owb_synth_opts *o)
{
    return owb_quantize_target_ok(o->type) &&
           (o->expert_type == OWB_TYPE_COUNT || owb_quantize_target_ok(o->expert_type));
}

uint64_t owb_synth_data_bytes_opts(const struct owb_synth_preset *p, const struct owb_synth_opts *o)
{
    if (!opts_types_ok(o))
        return 0;
    size_t n = 0;
    struct tdesc *t = plan(p, layers_or_default(p, o->n_layer), &n);
    if (!t)
        return 0;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        enum owb_type tt = tensor_type(&t[i], o, NULL);
        uint64_t bytes = owb_row_size(tt, t[i].ne[0]) * (uint64_t)(t[i].ne[1] * t[i].ne[2]);
        total += (bytes + GGUF_ALIGN - 1) / GGUF_ALIGN * GGUF_ALIGN;
    }
    free(t);
    return total;
}

uint64_t owb_synth_data_bytes(const struct owb_synth_preset *p, enum owb_type type, int64_t n_layer)
{
    struct owb_synth_opts o;
    owb_synth_opts_init(&o, p);
    o.type = type;
    o.expert_type = OWB_TYPE_COUNT;
    o.n_layer = n_layer;
    return owb_synth_data_bytes_opts(p, &o);
}

int owb_synth_tensor_table(const struct owb_synth_preset *p, const struct owb_synth_opts *o,
                           struct owb_gguf_tensor **out, int64_t *n, char err[OWB_ERR_MAX])
{
    int64_t n_layer = layers_or_default(p, o->n_layer);
    *out = NULL;
    *n = 0;
    if (!opts_types_ok(o)) {
        owb_seterr(err, "%s: type %s is not supported (one of %s)", p->name,
                   owb_type_name(owb_quantize_target_ok(o->type) ? o->expert_type : o->type),
                   owb_quantize_target_names());
        return OWB_E_USAGE;
    }
    if (n_layer < 1 || n_layer > p->n_layer) {
        owb_seterr(err, "%s: %lld layers requested; the preset has 1..%lld", p->name,
                   (long long)n_layer, (long long)p->n_layer);
        return OWB_E_USAGE;
    }
    size_t nt = 0;
    struct tdesc *t = plan(p, n_layer, &nt);
    /* one block: the tensors, then their names */
    struct owb_gguf_tensor *r = t ? calloc(1, nt * (sizeof *r + sizeof t->name)) : NULL;
    if (!r) {
        free(t);
        owb_seterr(err, "%s: out of memory", p->name);
        return OWB_E_NOMEM;
    }
    char *names = (char *)(r + nt);
    for (size_t i = 0; i < nt; i++) {
        char *nm = names + i * sizeof t->name;
        memcpy(nm, t[i].name, sizeof t->name);
        r[i].name = nm;
        r[i].type = tensor_type(&t[i], o, NULL);
        r[i].n_dims = t[i].n_dims;
        r[i].ne[0] = t[i].ne[0];
        r[i].ne[1] = t[i].ne[1];
        r[i].ne[2] = t[i].ne[2];
        r[i].ne[3] = 1;
        r[i].n_elements = t[i].ne[0] * t[i].ne[1] * t[i].ne[2];
        r[i].size_bytes = owb_row_size(r[i].type, t[i].ne[0]) * (size_t)(t[i].ne[1] * t[i].ne[2]);
    }
    free(t);
    *out = r;
    *n = (int64_t)nt;
    return 0;
}

void owb_synth_opts_init(struct owb_synth_opts *o, const struct owb_synth_preset *p)
{
    memset(o, 0, sizeof *o);
    o->type = p->default_type;
    o->expert_type = p->default_expert_type;
    o->seed = 1;
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

/* ---- gpt-oss-tiny's byte-level BPE vocabulary ---- */

#define BPE_MAX_TOKEN 48 /* bytes of the longest generated token text (UTF-8) */

/* Words whose left-to-right merges build the tiny vocabulary (with and without a leading space),
 * frequent English words so that ordinary text takes multi-byte tokens. */
static const char *const bpe_words[] = {
    "the",    "of",      "and",    "to",     "in",      "is",      "was",   "that",    "for",
    "it",     "with",    "as",     "on",     "he",      "she",     "they",  "be",      "at",
    "by",     "this",    "had",    "not",    "are",     "but",     "from",  "or",      "have",
    "an",     "which",   "one",    "you",    "were",    "her",     "all",   "their",   "there",
    "been",   "has",     "when",   "who",    "will",    "more",    "no",    "if",      "out",
    "so",     "said",    "what",   "up",     "its",     "about",   "into",  "than",    "them",
    "can",    "only",    "other",  "new",    "some",    "could",   "time",  "these",   "two",
    "may",    "then",    "do",     "first",  "any",     "my",      "now",   "such",    "like",
    "our",    "over",    "man",    "me",     "even",    "most",    "made",  "after",   "also",
    "did",    "many",    "before", "must",   "through", "back",    "years", "where",   "much",
    "your",   "way",     "well",   "down",   "should",  "because", "each",  "just",    "those",
    "people", "how",     "too",    "little", "state",   "good",    "very",  "make",    "world",
    "still",  "own",     "see",    "men",    "work",    "long",    "get",   "here",    "between",
    "both",   "life",    "being",  "under",  "never",   "day",     "same",  "another", "know",
    "while",  "last",    "might",  "us",     "great",   "old",     "year",  "off",     "come",
    "since",  "against", "go",     "came",   "right",   "used",    "take",  "three",   "once",
    "upon",   "house",   "water",  "little", "girl",    "boy",     "happy", "story",   "friend",
};

/* The harmony special tokens of o200k_harmony that gpt-oss uses, in their relative order. */
static const char *const bpe_special[] = {
    "<|startoftext|>", "<|endoftext|>", "<|return|>",  "<|constrain|>", "<|channel|>",
    "<|start|>",       "<|end|>",       "<|message|>", "<|call|>",
};
enum { BPE_BOS = 0, BPE_PAD = 1, BPE_EOS = 2 }; /* indices into bpe_special */

/* GPT-2's byte-to-unicode map: printable bytes stand for themselves, the others (controls,
 * space, 0x7F-0xA0, 0xAD) for U+0100 upwards in byte order. UTF-8 of byte b's character into
 * out (3 bytes at most); returns the length. */
static int byte_char(int b, char *out)
{
    int cp = b;
    if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))) {
        int k = 0;
        for (int c = 0; c < b; c++)
            k +=
                !((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF));
        cp = 256 + k;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

struct bpe_vocab {
    char (*tok)[BPE_MAX_TOKEN];
    const char **tokp;
    int32_t *type;
    int32_t *slot; /* open addressing over tok: id + 1, 0 = empty; n_slot a power of two */
    int64_t n_slot;
    char (*merge)[2 * BPE_MAX_TOKEN + 2];
    const char **mergep;
    int64_t n_tok, n_merge, cap_merge;
    int32_t bos, eos, pad;
};

static void bpe_free(struct bpe_vocab *v)
{
    free(v->tok);
    free(v->tokp);
    free(v->type);
    free(v->slot);
    free(v->merge);
    free(v->mergep);
}

static uint64_t bpe_hash(const char *s, size_t len)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325); /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * UINT64_C(0x100000001b3);
    return h;
}

/* Id of the token whose text is s[0..len), or -1. */
static int64_t bpe_find(const struct bpe_vocab *v, const char *s, size_t len)
{
    for (uint64_t i = bpe_hash(s, len);; i++) {
        int32_t e = v->slot[i & (uint64_t)(v->n_slot - 1)];
        if (e == 0)
            return -1;
        const char *t = v->tok[e - 1];
        if (strlen(t) == len && memcmp(t, s, len) == 0)
            return e - 1;
    }
}

/* Append token text s (not yet in the vocabulary) of the given type. */
static void bpe_add(struct bpe_vocab *v, const char *s, int32_t type)
{
    int64_t id = v->n_tok++;
    snprintf(v->tok[id], BPE_MAX_TOKEN, "%s", s);
    v->type[id] = type;
    uint64_t i = bpe_hash(s, strlen(s));
    while (v->slot[i & (uint64_t)(v->n_slot - 1)])
        i++;
    v->slot[i & (uint64_t)(v->n_slot - 1)] = (int32_t)id + 1;
}

/* Byte offsets of the characters of s (GPT-2 spelling: one character per byte of the raw text),
 * off[0..n] with off[n] = strlen(s); returns n. */
static int bpe_chars(const char *s, int off[BPE_MAX_TOKEN + 1])
{
    int n = 0, i = 0;
    while (s[i]) {
        off[n++] = i;
        i += ((unsigned char)s[i] & 0xE0) == 0xC0 && s[i + 1] ? 2 : 1;
    }
    off[n] = i;
    return n;
}

/* tiktoken's BPE of s over the vocabulary so far: repeatedly join the adjacent pair whose join
 * is the token of lowest id (leftmost on a tie) until no pair joins. Returns the number of pieces
 * left. The merge list written below (every split of a token into two tokens, ranked by the
 * token) makes llama.cpp's merge-rank BPE take the same steps. */
static int bpe_pieces(const struct bpe_vocab *v, const char *s)
{
    int off[BPE_MAX_TOKEN + 1];
    int n = bpe_chars(s, off);
    while (n > 1) {
        int best = -1;
        int64_t best_id = -1;
        for (int i = 0; i + 1 < n; i++) {
            int64_t id = bpe_find(v, s + off[i], (size_t)(off[i + 2] - off[i]));
            if (id >= 0 && (best < 0 || id < best_id)) {
                best = i;
                best_id = id;
            }
        }
        if (best < 0)
            break;
        memmove(&off[best + 1], &off[best + 2], (size_t)(n - best - 1) * sizeof off[0]);
        n--;
    }
    return n;
}

/* Append the merge "l r" (growing the list). */
static int bpe_add_merge(struct bpe_vocab *v, const char *l, int ll, const char *r, int rl)
{
    if (v->n_merge == v->cap_merge) {
        int64_t cap = v->cap_merge ? 2 * v->cap_merge : 1024;
        void *p = realloc(v->merge, (size_t)cap * sizeof *v->merge);
        if (!p)
            return OWB_E_NOMEM;
        v->merge = p;
        v->cap_merge = cap;
    }
    snprintf(v->merge[v->n_merge++], sizeof v->merge[0], "%.*s %.*s", ll, l, rl, r);
    return 0;
}

/* The vocabulary of n tokens described in synth.h (n large enough for the bytes, at least one
 * learned token and the special tokens). */
static int bpe_make(struct bpe_vocab *v, int64_t n)
{
    const int64_t n_special = (int64_t)OWB_ARRAY_LEN(bpe_special);
    memset(v, 0, sizeof *v);
    OWB_ASSERT(n > 256 + n_special && n < INT32_MAX / 2);
    v->n_slot = 1;
    while (v->n_slot < 2 * n)
        v->n_slot *= 2;
    v->tok = calloc((size_t)n, sizeof *v->tok);
    v->tokp = calloc((size_t)n, sizeof *v->tokp);
    v->type = calloc((size_t)n, sizeof *v->type);
    v->slot = calloc((size_t)v->n_slot, sizeof *v->slot);
    if (!v->tok || !v->tokp || !v->type || !v->slot)
        goto oom;
    for (int b = 0; b < 256; b++) {
        char ch[4];
        ch[byte_char(b, ch)] = 0;
        bpe_add(v, ch, 1); /* NORMAL */
    }
    /* Learned tokens: the prefixes of the words (each with a leading "Ġ", then without), in that
     * order, kept when tiktoken's BPE over the tokens so far brings the prefix down to two pieces
     * (the new token then joins them: its own text tokenizes to it). */
    const int64_t max_learned = n - 256 - n_special;
    for (size_t w = 0; w < OWB_ARRAY_LEN(bpe_words) && v->n_tok - 256 < max_learned; w++) {
        for (int spaced = 1; spaced >= 0 && v->n_tok - 256 < max_learned; spaced--) {
            char cur[BPE_MAX_TOKEN] = "", piece[4];
            const char *word = bpe_words[w];
            size_t nl = strlen(word), used = 0;
            for (size_t i = 0; i < nl + (size_t)spaced && v->n_tok - 256 < max_learned; i++) {
                int len = spaced && i == 0
                              ? byte_char(' ', piece)
                              : byte_char((unsigned char)word[i - (size_t)spaced], piece);
                piece[len] = 0;
                if (used + (size_t)len >= sizeof cur)
                    break; /* longer than a token may be: the word ends here */
                memcpy(cur + used, piece, (size_t)len + 1);
                used += (size_t)len;
                if (i > 0 && bpe_find(v, cur, used) < 0 && bpe_pieces(v, cur) == 2)
                    bpe_add(v, cur, 1);
            }
        }
    }
    /* Merges as transformers' tiktoken conversion derives them: for each learned token in id
     * order, every split into two parts that are both tokens, ordered by the left part's id. */
    for (int64_t id = 256; id < v->n_tok; id++) {
        const char *s = v->tok[id];
        int off[BPE_MAX_TOKEN + 1];
        int nc = bpe_chars(s, off), len = off[nc];
        int64_t lid[BPE_MAX_TOKEN];
        int split[BPE_MAX_TOKEN], ns = 0;
        for (int k = 1; k < nc; k++) {
            int64_t a = bpe_find(v, s, (size_t)off[k]);
            if (a < 0 || bpe_find(v, s + off[k], (size_t)(len - off[k])) < 0)
                continue;
            int j = ns++; /* insertion by left id */
            while (j > 0 && lid[j - 1] > a) {
                lid[j] = lid[j - 1];
                split[j] = split[j - 1];
                j--;
            }
            lid[j] = a;
            split[j] = off[k];
        }
        OWB_ASSERT(ns > 0);
        for (int j = 0; j < ns; j++)
            if (bpe_add_merge(v, s, split[j], s + split[j], len - split[j]))
                goto oom;
    }
    int64_t first_special = v->n_tok;
    for (int64_t i = 0; i < n_special; i++)
        bpe_add(v, bpe_special[i], 3); /* CONTROL */
    while (v->n_tok < n) {
        char pad[32];
        snprintf(pad, sizeof pad, "[PAD%lld]", (long long)v->n_tok);
        bpe_add(v, pad, 5); /* UNUSED */
    }
    v->mergep = calloc((size_t)(v->n_merge ? v->n_merge : 1), sizeof *v->mergep);
    if (!v->mergep)
        goto oom;
    for (int64_t i = 0; i < v->n_tok; i++)
        v->tokp[i] = v->tok[i];
    for (int64_t i = 0; i < v->n_merge; i++)
        v->mergep[i] = v->merge[i];
    v->bos = (int32_t)(first_special + BPE_BOS);
    v->eos = (int32_t)(first_special + BPE_EOS);
    v->pad = (int32_t)(first_special + BPE_PAD);
    return 0;
oom:
    bpe_free(v);
    memset(v, 0, sizeof *v);
    return OWB_E_NOMEM;
}

/* Copy every tokenizer.* key of a gpt-oss vocab GGUF after checking its size and model. */
static int copy_vocab(struct owb_gguf_writer *s, const struct owb_synth_preset *p,
                      const char *vpath, char err[OWB_ERR_MAX])
{
    char gerr[OWB_ERR_MAX];
    struct owb_gguf *g = owb_gguf_open(vpath, gerr);
    if (!g) {
        owb_seterr(err, "vocabulary %s", gerr);
        return OWB_E_FORMAT;
    }
    int rc = 0;
    struct owb_gguf_str model;
    const struct owb_gguf_value *arr = NULL;
    uint64_t n = 0;
    if (owb_gguf_get_str(g, "tokenizer.ggml.model", &model, gerr) ||
        !(model.len == 4 && memcmp(model.ptr, "gpt2", 4) == 0)) {
        owb_seterr(err, "vocabulary %s: tokenizer.ggml.model is not \"gpt2\" (byte-level BPE)",
                   vpath);
        rc = OWB_E_FORMAT;
    } else if (owb_gguf_get_arr(g, "tokenizer.ggml.tokens", OWB_GGUF_STRING, &arr, &n, gerr) ||
               n != (uint64_t)p->n_vocab) {
        owb_seterr(err, "vocabulary %s: %llu tokens, %s has %lld", vpath, (unsigned long long)n,
                   p->name, (long long)p->n_vocab);
        rc = OWB_E_FORMAT;
    }
    for (int64_t i = 0; !rc && i < g->n_kv; i++)
        if (strncmp(g->kv[i].key, "tokenizer.", 10) == 0)
            rc = owb_gguf_writer_set_value(s, g->kv[i].key, &g->kv[i].value, err);
    owb_gguf_close(g);
    return rc;
}

int owb_synth_find_vocab(const struct owb_synth_preset *p, char *path, size_t cap,
                         char err[OWB_ERR_MAX])
{
    if (!p->vocab_file) {
        owb_seterr(err, "preset %s generates its vocabulary", p->name);
        return OWB_E_USAGE;
    }
    const char *env = getenv("OWB_TEST_DATA");
    const char *roots[2] = {env && *env ? env : NULL, "../shared"};
    char tried[2][512] = {"", ""};
    for (int i = 0; i < 2; i++) {
        if (!roots[i])
            continue;
        snprintf(tried[i], sizeof tried[i], "%s/models/gguf/%s", roots[i], p->vocab_file);
        if (access(tried[i], R_OK) == 0) {
            snprintf(path, cap, "%s", tried[i]);
            return 0;
        }
    }
    owb_seterr(err,
               "%s needs the gpt-oss vocabulary %s (o200k_harmony, 201088 tokens): not found at "
               "%s%s%s; give it with --vocab FILE",
               p->name, p->vocab_file, tried[0][0] ? tried[0] : "", tried[0][0] ? " or " : "",
               tried[1]);
    return OWB_E_IO;
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
        owb_seterr(err, "out of memory for a vocabulary of %lld tokens", (long long)p->n_vocab);
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

/* gpt-oss metadata in the order llama.cpp's converter writes it (TextModel.set_gguf_parameters,
 * then GptOssModel's sliding window and expert FFN, then the vocabulary). */
static int set_metadata_gpt_oss(struct owb_gguf_writer *s, const struct owb_synth_preset *p,
                                const struct owb_synth_opts *o, int64_t n_layer, const char *vpath,
                                char err[OWB_ERR_MAX])
{
    char key[128], name[160];
    int rc = 0;
    const char *a = p->arch;
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
#define ARCH_F32(suffix, val)                                                                      \
    do {                                                                                           \
        snprintf(key, sizeof key, "%s.%s", a, suffix);                                             \
        TRY(owb_gguf_writer_set_f32(s, key, (val), err));                                          \
    } while (0)
    TRY(owb_gguf_writer_set_str(s, "general.architecture", a, err));
    TRY(owb_gguf_writer_set_str(s, "general.type", "model", err));
    TRY(owb_gguf_writer_set_str(s, "general.name", name, err));
    ARCH_U32("block_count", n_layer);
    ARCH_U32("context_length", p->n_ctx);
    ARCH_U32("embedding_length", p->n_embd);
    ARCH_U32("feed_forward_length", p->n_ff);
    ARCH_U32("attention.head_count", p->n_head);
    ARCH_U32("attention.head_count_kv", p->n_head_kv);
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    TRY(owb_gguf_writer_set_str(s, key, "yarn", err));
    ARCH_F32("rope.scaling.factor", p->yarn_factor);
    ARCH_U32("rope.scaling.original_context_length", p->yarn_orig_ctx);
    ARCH_F32("rope.scaling.yarn_beta_fast", p->yarn_beta_fast);
    ARCH_F32("rope.scaling.yarn_beta_slow", p->yarn_beta_slow);
    ARCH_F32("rope.freq_base", p->rope_freq_base);
    ARCH_F32("attention.layer_norm_rms_epsilon", p->rms_eps);
    ARCH_U32("expert_count", p->n_expert);
    ARCH_U32("expert_used_count", p->n_expert_used);
    ARCH_U32("attention.key_length", head_dim(p));
    ARCH_U32("attention.value_length", head_dim(p));
    TRY(owb_gguf_writer_set_u32(s, "general.file_type", (uint32_t)owb_quantize_ftype(o->type),
                                err));
    ARCH_U32("attention.sliding_window", p->n_swa);
    ARCH_U32("expert_feed_forward_length", p->n_ff_exp);
    TRY(owb_gguf_writer_set_u32(s, "general.quantization_version", 2, err));
    TRY(owb_gguf_writer_set_u32(s, "general.alignment", GGUF_ALIGN, err));
    TRY(owb_gguf_writer_set_str(s, "owbench.synth.preset", p->name, err));
    TRY(owb_gguf_writer_set_str(s, "owbench.synth.mimics", p->model_name, err));
    TRY(owb_gguf_writer_set_u64(s, "owbench.synth.seed", o->seed, err));
#undef ARCH_F32
#undef ARCH_U32
    if (vpath)
        return copy_vocab(s, p, vpath, err);

    struct bpe_vocab v;
    rc = bpe_make(&v, p->n_vocab);
    if (rc) {
        owb_seterr(err, "out of memory for a vocabulary of %lld tokens", (long long)p->n_vocab);
        return rc;
    }
    rc = owb_gguf_writer_set_str(s, "tokenizer.ggml.model", "gpt2", err);
    if (!rc)
        rc = owb_gguf_writer_set_str(s, "tokenizer.ggml.pre", "gpt-4o", err);
    if (!rc)
        rc =
            owb_gguf_writer_set_arr_str(s, "tokenizer.ggml.tokens", (uint64_t)v.n_tok, v.tokp, err);
    if (!rc)
        rc = owb_gguf_writer_set_arr(s, "tokenizer.ggml.token_type", OWB_GGUF_INT32,
                                     (uint64_t)v.n_tok, v.type, err);
    if (!rc)
        rc = owb_gguf_writer_set_arr_str(s, "tokenizer.ggml.merges", (uint64_t)v.n_merge, v.mergep,
                                         err);
    if (!rc)
        rc = owb_gguf_writer_set_u32(s, "tokenizer.ggml.bos_token_id", (uint32_t)v.bos, err);
    if (!rc)
        rc = owb_gguf_writer_set_u32(s, "tokenizer.ggml.eos_token_id", (uint32_t)v.eos, err);
    if (!rc)
        rc = owb_gguf_writer_set_u32(s, "tokenizer.ggml.padding_token_id", (uint32_t)v.pad, err);
    bpe_free(&v);
#undef TRY
    return rc;
}

int owb_synth_write(const struct owb_synth_preset *p, enum owb_type type, int64_t n_layer,
                    uint64_t seed, const char *path, int nthreads,
                    owb_quantize_progress_fn progress, void *progress_ctx, char err[OWB_ERR_MAX])
{
    struct owb_synth_opts o;
    owb_synth_opts_init(&o, p);
    o.type = type;
    o.expert_type = OWB_TYPE_COUNT;
    o.n_layer = n_layer;
    o.seed = seed;
    o.nthreads = nthreads;
    return owb_synth_write_opts(p, &o, path, progress, progress_ctx, err);
}

int owb_synth_write_opts(const struct owb_synth_preset *p, const struct owb_synth_opts *o,
                         const char *path, owb_quantize_progress_fn progress, void *progress_ctx,
                         char err[OWB_ERR_MAX])
{
    struct owb_gguf_writer *s = NULL;
    struct tdesc *t = NULL;
    float *src = NULL;
    unsigned char *dst = NULL;
    size_t n_t = 0;
    int rc = 0;
    char vpath[1024] = "";
    int64_t n_layer = o->n_layer;
    const uint64_t seed = o->seed;
    const int nthreads = o->nthreads;

    if (!opts_types_ok(o)) {
        enum owb_type bad = owb_quantize_target_ok(o->type) ? o->expert_type : o->type;
        owb_seterr(err, "%s: type %s is not supported (one of %s)", path, owb_type_name(bad),
                   owb_quantize_target_names());
        return OWB_E_USAGE;
    }
    if (n_layer == 0)
        n_layer = p->n_layer;
    if (n_layer < 1 || n_layer > p->n_layer) {
        owb_seterr(err, "%s: %lld layers requested; preset %s has 1..%lld", path,
                   (long long)n_layer, p->name, (long long)p->n_layer);
        return OWB_E_USAGE;
    }
    if (p->vocab_file) {
        if (o->vocab_path)
            snprintf(vpath, sizeof vpath, "%s", o->vocab_path);
        else if ((rc = owb_synth_find_vocab(p, vpath, sizeof vpath, err)) != 0)
            return rc;
    }
    s = owb_gguf_writer_new();
    t = plan(p, n_layer, &n_t);
    if (!s || !t) {
        owb_seterr(err, "%s: out of memory", path);
        rc = OWB_E_NOMEM;
        goto out;
    }
    if (is_moe(p))
        rc = set_metadata_gpt_oss(s, p, o, n_layer, vpath[0] ? vpath : NULL, err);
    else
        rc = set_metadata(s, p, o->type, n_layer, seed, err);
    if (rc)
        goto out;
    int64_t max_row = 0;
    for (size_t i = 0; i < n_t; i++) {
        enum owb_type tt = tensor_type(&t[i], o, NULL);
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
        owb_seterr(err, "%s: out of memory", path);
        rc = OWB_E_NOMEM;
        goto out;
    }
    rc = owb_gguf_writer_begin(s, path, err);
    if (rc)
        goto out;
    for (size_t i = 0; i < n_t; i++) {
        const struct tdesc *d = &t[i];
        bool fell = false;
        enum owb_type tt = tensor_type(d, o, &fell);
        int64_t ncols = d->ne[0], nrows = d->ne[1] * d->ne[2]; /* experts: rows of all experts */
        int64_t chunk_rows = chunk_elems / ncols;
        size_t row_bytes = owb_row_size(tt, ncols);
        uint64_t tseed = name_seed(seed, d->name);
        float std = d->kind == K_BIAS   ? BIAS_STD
                    : d->kind == K_SINK ? SINK_STD
                                        : 1.0f / sqrtf((float)ncols);
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
