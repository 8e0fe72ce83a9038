/* SPDX-License-Identifier: MIT */
/*
 * test_synth_gpt_oss.c: the gpt-oss presets of model/synth.h against what llama.cpp's converter
 * writes and llama.cpp's loader (LLM_ARCH_OPENAI_MOE) asks for. Parameter counts of gpt-oss-20b
 * and -120b against the published totals; gpt-oss-tiny read back: every metadata key with the
 * value type llama.cpp checks, the keys a converted file lacks (rope.dimension_count,
 * vocab_size), every tensor's name, shape and type in the default mix (experts mxfp4, matrices
 * bf16, router / norms / sinks / biases f32), --type and --expert-type, the data size the preset
 * predicts, weight scales; the generated BPE vocabulary (GPT-2 byte spelling, merges in the
 * order of transformers' conversion of tiktoken ranks, harmony special tokens, padding; that the
 * merges build every token is test_synth_vocab.c's); --layers keeps the first layers' bytes; a
 * 201,088-token vocabulary copied from ggml-vocab-gpt-oss.gguf (on a narrow copy of the 20b
 * preset, so the test stays small), and a missing, foreign or wrong-sized vocabulary refused
 * with a clear error and no file.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "model/gguf.h"
#include "model/synth.h"
#include "owb_test.h"

#define STD_REL_TOL_EXACT                                                                          \
    0.06 /* sample std vs 1/sqrt(row) for f32/bf16 matrices (>= 1024 values) */
#define STD_REL_TOL_MXFP4 0.15 /* the same after mxfp4 rounding (4-bit grid) */
#define BIAS_STD_REL_TOL 0.25  /* biases of 64 or more values */

static char tmpdir[4096];

static bool str_eq(struct owb_gguf_str s, const char *c)
{
    return s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0;
}

static int count_files(const char *part)
{
    DIR *d = opendir(tmpdir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, part) != NULL;
    if (d)
        closedir(d);
    return n;
}

static void check_u32(const struct owb_gguf *g, const char *key, uint32_t want)
{
    const struct owb_gguf_kv *kv = owb_gguf_find(g, key);
    CHECK_MSG(kv != NULL, "missing key %s", key);
    if (!kv)
        return;
    CHECK_MSG(kv->value.type == OWB_GGUF_UINT32, "%s has type %s", key,
              owb_gguf_type_name(kv->value.type));
    CHECK_MSG(kv->value.v.u == want, "%s = %llu, want %u", key, (unsigned long long)kv->value.v.u,
              want);
}

static void check_f32(const struct owb_gguf *g, const char *key, float want)
{
    const struct owb_gguf_kv *kv = owb_gguf_find(g, key);
    CHECK_MSG(kv != NULL, "missing key %s", key);
    if (!kv)
        return;
    CHECK_MSG(kv->value.type == OWB_GGUF_FLOAT32, "%s has type %s", key,
              owb_gguf_type_name(kv->value.type));
    CHECK_MSG((float)kv->value.v.f == want, "%s = %g, want %g", key, kv->value.v.f, (double)want);
}

static void check_str(const struct owb_gguf *g, const char *key, const char *want)
{
    const struct owb_gguf_kv *kv = owb_gguf_find(g, key);
    CHECK_MSG(kv != NULL, "missing key %s", key);
    if (kv)
        CHECK_MSG(kv->value.type == OWB_GGUF_STRING && str_eq(kv->value.v.s, want),
                  "%s is not \"%s\"", key, want);
}

static void check_published_counts(void)
{
    /* openai/gpt-oss model card: 20.91 B and 116.83 B total parameters. */
    const struct owb_synth_preset *a = owb_synth_find("gpt-oss-20b");
    const struct owb_synth_preset *b = owb_synth_find("gpt-oss-120b");
    const struct owb_synth_preset *t = owb_synth_find("gpt-oss-tiny");
    CHECK(a && b && t);
    if (!a || !b || !t)
        return;
    CHECK_MSG(fabs((double)owb_synth_param_count(a, 0) - 20.91e9) <= 0.005e9, "20b: %lld",
              (long long)owb_synth_param_count(a, 0));
    CHECK_MSG(fabs((double)owb_synth_param_count(b, 0) - 116.83e9) <= 0.005e9, "120b: %lld",
              (long long)owb_synth_param_count(b, 0));
    CHECK(strcmp(a->arch, "gpt-oss") == 0 && a->n_embd == 2880 && a->n_layer == 24 &&
          a->n_head == 64 && a->head_dim == 64 && a->n_head_kv == 8 && a->n_expert == 32 &&
          a->n_expert_used == 4 && a->n_ff_exp == 2880 && a->n_vocab == 201088 && a->n_swa == 128 &&
          a->n_ctx == 131072 && a->rope_freq_base == 150000.0f);
    CHECK(b->n_layer == 36 && b->n_expert == 128 && b->n_embd == 2880);
    /* One more layer adds the same count at any depth. */
    int64_t per = owb_synth_param_count(a, 2) - owb_synth_param_count(a, 1);
    CHECK(owb_synth_param_count(a, 0) == owb_synth_param_count(a, 1) + 23 * per);
    /* Default mix of the 20b: ~12.8 GiB (experts mxfp4 10.2 GB, bf16 embeddings/output/attention
     * 3.6 GB): the "~13 GB" file. */
    struct owb_synth_opts o;
    owb_synth_opts_init(&o, a);
    CHECK(o.type == OWB_TYPE_BF16 && o.expert_type == OWB_TYPE_MXFP4 && o.seed == 1);
    double gib = (double)owb_synth_data_bytes_opts(a, &o) / (1024.0 * 1024.0 * 1024.0);
    CHECK_MSG(gib > 12.5 && gib < 13.0, "20b default mix %.2f GiB", gib);
}

/* What the default mix gives a tensor of gpt-oss-tiny (a spec written out here, independent of
 * model/quantize.c's rule code). */
static enum owb_type tiny_default_type(const struct owb_gguf_tensor *t)
{
    size_t n = strlen(t->name);
    bool weight = n > 7 && strcmp(t->name + n - 7, ".weight") == 0;
    if (t->n_dims == 1 || !weight || strstr(t->name, "ffn_gate_inp"))
        return OWB_TYPE_F32;
    return t->n_dims == 3 ? OWB_TYPE_MXFP4 : OWB_TYPE_BF16;
}

struct want_tensor {
    const char *suffix;
    int n_dims;
    int64_t ne[3];
};

static void check_tiny_tensors(const struct owb_gguf *g, const struct owb_synth_preset *p,
                               int64_t n_layer)
{
    const int64_t E = p->n_embd, Q = p->n_head * p->head_dim, KV = p->n_head_kv * p->head_dim,
                  F = p->n_ff_exp, X = p->n_expert, V = p->n_vocab;
    const struct want_tensor per_layer[] = {
        {"attn_norm.weight", 1, {E, 1, 1}},
        {"attn_q.weight", 2, {E, Q, 1}},
        {"attn_q.bias", 1, {Q, 1, 1}},
        {"attn_k.weight", 2, {E, KV, 1}},
        {"attn_k.bias", 1, {KV, 1, 1}},
        {"attn_v.weight", 2, {E, KV, 1}},
        {"attn_v.bias", 1, {KV, 1, 1}},
        {"attn_output.weight", 2, {Q, E, 1}},
        {"attn_output.bias", 1, {E, 1, 1}},
        {"attn_sinks.weight", 1, {p->n_head, 1, 1}},
        {"post_attention_norm.weight", 1, {E, 1, 1}},
        {"ffn_gate_inp.weight", 2, {E, X, 1}},
        {"ffn_gate_inp.bias", 1, {X, 1, 1}},
        {"ffn_gate_exps.weight", 3, {E, F, X}},
        {"ffn_gate_exps.bias", 2, {F, X, 1}},
        {"ffn_up_exps.weight", 3, {E, F, X}},
        {"ffn_up_exps.bias", 2, {F, X, 1}},
        {"ffn_down_exps.weight", 3, {F, E, X}},
        {"ffn_down_exps.bias", 2, {E, X, 1}},
    };
    const struct want_tensor global[] = {
        {"token_embd.weight", 2, {E, V, 1}},
        {"output_norm.weight", 1, {E, 1, 1}},
        {"output.weight", 2, {E, V, 1}},
    };
    int64_t want_n = (int64_t)OWB_ARRAY_LEN(global) + n_layer * (int64_t)OWB_ARRAY_LEN(per_layer);
    CHECK_MSG(g->n_tensors == want_n, "%lld tensors, want %lld", (long long)g->n_tensors,
              (long long)want_n);
    for (int64_t l = -1; l < n_layer; l++) {
        size_t n = l < 0 ? OWB_ARRAY_LEN(global) : OWB_ARRAY_LEN(per_layer);
        for (size_t i = 0; i < n; i++) {
            const struct want_tensor *w = l < 0 ? &global[i] : &per_layer[i];
            char name[96];
            if (l < 0)
                snprintf(name, sizeof name, "%s", w->suffix);
            else
                snprintf(name, sizeof name, "blk.%lld.%s", (long long)l, w->suffix);
            const struct owb_gguf_tensor *t = owb_gguf_tensor(g, name);
            CHECK_MSG(t != NULL, "missing tensor %s", name);
            if (!t)
                continue;
            CHECK_MSG(t->n_dims == w->n_dims && t->ne[0] == w->ne[0] && t->ne[1] == w->ne[1] &&
                          t->ne[2] == w->ne[2],
                      "%s: %d dims [%lld %lld %lld]", name, t->n_dims, (long long)t->ne[0],
                      (long long)t->ne[1], (long long)t->ne[2]);
            CHECK_MSG(t->type == tiny_default_type(t), "%s is %s, want %s", name,
                      owb_type_name(t->type), owb_type_name(tiny_default_type(t)));
        }
    }
}

/* Weights: finite; matrices (router included) std 1/sqrt(row), biases std 0.02, norms 1, sinks of
 * unit scale. */
static void check_weights(const struct owb_gguf *g)
{
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const struct owb_gguf_tensor *t = &g->tensors[i];
        float *x = malloc((size_t)t->n_elements * sizeof *x);
        if (!x)
            continue;
        owb_type_traits(t->type)->to_float(t->data, x, t->n_elements);
        double s = 0, s2 = 0;
        int bad = 0;
        for (int64_t j = 0; j < t->n_elements; j++) {
            bad += !isfinite(x[j]);
            s += (double)x[j];
            s2 += (double)x[j] * (double)x[j];
        }
        double n = (double)t->n_elements, mean = s / n, sd = sqrt(s2 / n - mean * mean);
        CHECK_MSG(bad == 0, "%s: %d non-finite values", t->name, bad);
        if (strstr(t->name, "norm")) {
            CHECK_MSG(mean == 1.0 && sd == 0.0, "%s: mean %g sd %g", t->name, mean, sd);
        } else if (strstr(t->name, "attn_sinks")) {
            CHECK_MSG(sd > 0.2 && sd < 2.0 && fabs(mean) < 1.8, "%s: mean %g sd %g", t->name, mean,
                      sd);
        } else if (strstr(t->name, ".bias")) {
            /* Uniform on (-a, a), a = sqrt(3) * 0.02; the std is checked where there are enough
             * values for it (the router's 4 biases are not). */
            double amax = 0;
            for (int64_t j = 0; j < t->n_elements; j++)
                amax = fmax(amax, fabs((double)x[j]));
            CHECK_MSG(amax <= sqrt(3.0) * 0.02 * 1.0001 && amax > 0, "%s: max |x| %g", t->name,
                      amax);
            if (t->n_elements >= 64)
                CHECK_MSG(fabs(sd - 0.02) <= BIAS_STD_REL_TOL * 0.02, "%s: std %g", t->name, sd);
        } else {
            double want = 1.0 / sqrt((double)t->ne[0]);
            double tol = t->type == OWB_TYPE_MXFP4 ? STD_REL_TOL_MXFP4 : STD_REL_TOL_EXACT;
            CHECK_MSG(fabs(sd - want) <= tol * want, "%s: std %g, want %g", t->name, sd, want);
            CHECK_MSG(fabs(mean) <= 5.0 * want / sqrt(n), "%s: mean %g", t->name, mean);
        }
        free(x);
    }
}

/* GPT-2's byte-to-unicode spelling of byte b (UTF-8). */
static void byte_spelling(int b, char *out)
{
    bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    int cp = b;
    if (!printable) {
        int k = 0;
        for (int c = 0; c < b; c++)
            k += !((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE));
        cp = 256 + k;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = 0;
    }
}

static int64_t find_tok(const struct owb_gguf_value *tok, uint64_t n, const char *s, size_t len)
{
    for (uint64_t i = 0; i < n; i++) {
        struct owb_gguf_str t = owb_gguf_arr_str(tok, i);
        if (t.len == len && memcmp(t.ptr, s, len) == 0)
            return (int64_t)i;
    }
    return -1;
}

static void check_tiny_vocab(const struct owb_gguf *g, uint64_t n_vocab)
{
    char err[OWB_ERR_MAX];
    check_str(g, "tokenizer.ggml.model", "gpt2");
    check_str(g, "tokenizer.ggml.pre", "gpt-4o");
    CHECK(owb_gguf_find(g, "tokenizer.ggml.add_bos_token") == NULL);
    CHECK(owb_gguf_find(g, "tokenizer.ggml.scores") == NULL);
    const struct owb_gguf_value *tok = NULL, *ty = NULL, *mg = NULL;
    uint64_t nt = 0, ny = 0, nm = 0;
    CHECK(owb_gguf_get_arr(g, "tokenizer.ggml.tokens", OWB_GGUF_STRING, &tok, &nt, err) == 0);
    CHECK(owb_gguf_get_arr(g, "tokenizer.ggml.token_type", OWB_GGUF_INT32, &ty, &ny, err) == 0);
    CHECK(owb_gguf_get_arr(g, "tokenizer.ggml.merges", OWB_GGUF_STRING, &mg, &nm, err) == 0);
    CHECK(nt == n_vocab && ny == n_vocab && nm > 200);
    if (!tok || !ty || !mg || nt != n_vocab || ny != n_vocab)
        return;
    /* Ids 0..255: the bytes in byte order, GPT-2 spelling ("Ġ" for the space, "Ā" for 0x00). */
    for (int b = 0; b < 256; b++) {
        char want[4];
        byte_spelling(b, want);
        CHECK_MSG(str_eq(owb_gguf_arr_str(tok, (uint64_t)b), want), "byte %d", b);
        CHECK(owb_gguf_arr_num(ty, (uint64_t)b) == 1);
    }
    CHECK(str_eq(owb_gguf_arr_str(tok, ' '), "\xc4\xa0") &&
          str_eq(owb_gguf_arr_str(tok, 0), "\xc4\x80"));
    /* Each merge joins two tokens into a learned token; merges come in the order of the token
     * they make, then of their left part (transformers' conversion of tiktoken ranks). */
    int64_t prev_c = 255, prev_a = -1, n_made = 0;
    for (uint64_t k = 0; k < nm; k++) {
        struct owb_gguf_str m = owb_gguf_arr_str(mg, k);
        const char *sp = memchr(m.ptr, ' ', m.len);
        CHECK_MSG(sp != NULL, "merge %llu has no space", (unsigned long long)k);
        if (!sp)
            continue;
        size_t la = (size_t)(sp - m.ptr), lb = m.len - la - 1;
        int64_t a = find_tok(tok, nt, m.ptr, la), b = find_tok(tok, nt, sp + 1, lb);
        char joined[128];
        snprintf(joined, sizeof joined, "%.*s%.*s", (int)la, m.ptr, (int)lb, sp + 1);
        int64_t c = find_tok(tok, nt, joined, strlen(joined));
        CHECK_MSG(a >= 0 && b >= 0 && c > 255 && (c > prev_c || (c == prev_c && a > prev_a)) &&
                      owb_gguf_arr_num(ty, (uint64_t)(c < 0 ? 0 : c)) == 1,
                  "merge %llu '%.*s': parts %lld %lld, result %lld after %lld",
                  (unsigned long long)k, (int)m.len, m.ptr, (long long)a, (long long)b,
                  (long long)c, (long long)prev_c);
        n_made += c != prev_c;
        if (c >= 0) {
            CHECK_MSG(c == prev_c || c == prev_c + 1, "no merge makes token %lld",
                      (long long)c - 1);
            prev_c = c;
            prev_a = a;
        }
    }
    /* "Ġthe" and "the" are tokens: ordinary text takes multi-byte tokens. */
    CHECK(find_tok(tok, nt, "\xc4\xa0the", 5) > 255 && find_tok(tok, nt, "the", 3) > 255);
    /* Then the special tokens (CONTROL), then [PAD<id>] (UNUSED). */
    static const char *const special[] = {
        "<|startoftext|>", "<|endoftext|>", "<|return|>",  "<|constrain|>", "<|channel|>",
        "<|start|>",       "<|end|>",       "<|message|>", "<|call|>",
    };
    uint64_t s0 = 256 + (uint64_t)n_made; /* every learned token is made by some merge */
    CHECK(n_made > 200 && nm >= (uint64_t)n_made);
    for (size_t i = 0; i < OWB_ARRAY_LEN(special); i++) {
        CHECK_MSG(str_eq(owb_gguf_arr_str(tok, s0 + i), special[i]), "special %s", special[i]);
        CHECK(owb_gguf_arr_num(ty, s0 + i) == 3);
    }
    check_u32(g, "tokenizer.ggml.bos_token_id", (uint32_t)s0);
    check_u32(g, "tokenizer.ggml.padding_token_id", (uint32_t)s0 + 1);
    check_u32(g, "tokenizer.ggml.eos_token_id", (uint32_t)s0 + 2);
    for (uint64_t i = s0 + OWB_ARRAY_LEN(special); i < nt; i++) {
        char want[32];
        snprintf(want, sizeof want, "[PAD%llu]", (unsigned long long)i);
        CHECK_MSG(str_eq(owb_gguf_arr_str(tok, i), want) && owb_gguf_arr_num(ty, i) == 5,
                  "pad token %llu", (unsigned long long)i);
    }
    /* All distinct. */
    int dups = 0;
    for (uint64_t i = 0; i < nt; i++) {
        struct owb_gguf_str a = owb_gguf_arr_str(tok, i);
        for (uint64_t j = i + 1; j < nt; j++) {
            struct owb_gguf_str b = owb_gguf_arr_str(tok, j);
            dups += a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
        }
    }
    CHECK_MSG(dups == 0, "%d duplicate tokens", dups);
}

static void check_tiny_file(void)
{
    char err[OWB_ERR_MAX] = "", path[4200];
    const struct owb_synth_preset *p = owb_synth_find("gpt-oss-tiny");
    CHECK(p != NULL);
    if (!p)
        return;
    struct owb_synth_opts o;
    owb_synth_opts_init(&o, p);
    o.seed = 42;
    snprintf(path, sizeof path, "%s/tiny.gguf", tmpdir);
    int rc = owb_synth_write_opts(p, &o, path, NULL, NULL, err);
    CHECK_MSG(rc == 0, "%s", err);
    struct owb_gguf *g = owb_gguf_open(path, err);
    CHECK_MSG(g != NULL, "%s", err);
    if (!g)
        return;
    check_str(g, "general.architecture", "gpt-oss");
    check_str(g, "general.type", "model");
    check_u32(g, "general.file_type", 32); /* --outtype bf16, as the converter */
    check_u32(g, "general.quantization_version", 2);
    check_u32(g, "gpt-oss.block_count", 4);
    check_u32(g, "gpt-oss.context_length", 131072);
    check_u32(g, "gpt-oss.embedding_length", 64);
    check_u32(g, "gpt-oss.feed_forward_length", 96);
    check_u32(g, "gpt-oss.attention.head_count", 4);
    check_u32(g, "gpt-oss.attention.head_count_kv", 2);
    check_u32(g, "gpt-oss.attention.key_length", 32);
    check_u32(g, "gpt-oss.attention.value_length", 32);
    check_u32(g, "gpt-oss.attention.sliding_window", 8);
    check_u32(g, "gpt-oss.expert_count", 4);
    check_u32(g, "gpt-oss.expert_used_count", 2);
    check_u32(g, "gpt-oss.expert_feed_forward_length", 96);
    check_u32(g, "gpt-oss.rope.scaling.original_context_length", 4096);
    check_str(g, "gpt-oss.rope.scaling.type", "yarn");
    check_f32(g, "gpt-oss.rope.scaling.factor", 32.0f);
    check_f32(g, "gpt-oss.rope.scaling.yarn_beta_fast", 32.0f);
    check_f32(g, "gpt-oss.rope.scaling.yarn_beta_slow", 1.0f);
    check_f32(g, "gpt-oss.rope.freq_base", 150000.0f);
    check_f32(g, "gpt-oss.attention.layer_norm_rms_epsilon", 1e-5f);
    /* Absent in converted files: llama.cpp takes n_rot from key_length, n_vocab from the tokens. */
    CHECK(owb_gguf_find(g, "gpt-oss.rope.dimension_count") == NULL);
    CHECK(owb_gguf_find(g, "gpt-oss.vocab_size") == NULL);
    CHECK(owb_gguf_find(g, "llama.block_count") == NULL);
    /* The converter's key order: block_count first of the arch keys, the vocabulary last. */
    CHECK(g->n_kv > 3 && strcmp(g->kv[0].key, "general.architecture") == 0 &&
          strcmp(g->kv[3].key, "gpt-oss.block_count") == 0 &&
          strncmp(g->kv[g->n_kv - 1].key, "tokenizer.", 10) == 0);
    check_tiny_tensors(g, p, 4);
    check_weights(g);
    check_tiny_vocab(g, 1024);
    CHECK(owb_synth_data_bytes_opts(p, &o) == g->file_size - g->data_offset);
    owb_gguf_close(g);

    /* --type q8_0: every matrix q8_0 (experts too), the f32 rules unchanged, file_type 7. */
    o.type = OWB_TYPE_Q8_0;
    o.expert_type = OWB_TYPE_COUNT;
    snprintf(path, sizeof path, "%s/tiny_q8.gguf", tmpdir);
    CHECK_MSG(owb_synth_write_opts(p, &o, path, NULL, NULL, err) == 0, "%s", err);
    g = owb_gguf_open(path, err);
    CHECK_MSG(g != NULL, "%s", err);
    for (int64_t i = 0; g && i < g->n_tensors; i++) {
        const struct owb_gguf_tensor *t = &g->tensors[i];
        enum owb_type want = tiny_default_type(t) == OWB_TYPE_F32 ? OWB_TYPE_F32 : OWB_TYPE_Q8_0;
        CHECK_MSG(t->type == want, "q8_0: %s is %s", t->name, owb_type_name(t->type));
    }
    if (g) {
        check_u32(g, "general.file_type", 7);
        CHECK(owb_synth_data_bytes_opts(p, &o) == g->file_size - g->data_offset);
        CHECK(owb_synth_data_bytes(p, OWB_TYPE_Q8_0, 0) == g->file_size - g->data_offset);
    }
    owb_gguf_close(g);

    /* --type f16 --expert-type q4_0. */
    o.type = OWB_TYPE_F16;
    o.expert_type = OWB_TYPE_Q4_0;
    snprintf(path, sizeof path, "%s/tiny_mix.gguf", tmpdir);
    CHECK_MSG(owb_synth_write_opts(p, &o, path, NULL, NULL, err) == 0, "%s", err);
    g = owb_gguf_open(path, err);
    CHECK_MSG(g != NULL, "%s", err);
    for (int64_t i = 0; g && i < g->n_tensors; i++) {
        const struct owb_gguf_tensor *t = &g->tensors[i];
        enum owb_type want = tiny_default_type(t) == OWB_TYPE_F32 ? OWB_TYPE_F32
                             : t->n_dims == 3                     ? OWB_TYPE_Q4_0
                                                                  : OWB_TYPE_F16;
        CHECK_MSG(t->type == want, "f16+q4_0: %s is %s", t->name, owb_type_name(t->type));
    }
    owb_gguf_close(g);

    /* A bad expert type is refused without a file. */
    o.expert_type = OWB_TYPE_Q5_0;
    snprintf(path, sizeof path, "%s/tiny_bad.gguf", tmpdir);
    CHECK(owb_synth_write_opts(p, &o, path, NULL, NULL, err) == OWB_E_USAGE);
    CHECK(strstr(err, "q5_0") != NULL);
    CHECK(count_files("tiny_bad") == 0);
}

/* --layers 2 keeps the first two layers' bytes and the shared tensors. */
static void check_layers(void)
{
    char err[OWB_ERR_MAX] = "", a[4200], b[4200];
    const struct owb_synth_preset *p = owb_synth_find("gpt-oss-tiny");
    snprintf(a, sizeof a, "%s/all.gguf", tmpdir);
    snprintf(b, sizeof b, "%s/two.gguf", tmpdir);
    struct owb_synth_opts o;
    owb_synth_opts_init(&o, p);
    CHECK(owb_synth_write_opts(p, &o, a, NULL, NULL, err) == 0);
    o.n_layer = 2;
    o.nthreads = 1;
    CHECK(owb_synth_write_opts(p, &o, b, NULL, NULL, err) == 0);
    struct owb_gguf *ga = owb_gguf_open(a, err), *gb = owb_gguf_open(b, err);
    CHECK(ga && gb);
    if (ga && gb) {
        check_u32(gb, "gpt-oss.block_count", 2);
        check_tiny_tensors(gb, p, 2);
        for (int64_t i = 0; i < gb->n_tensors; i++) {
            const struct owb_gguf_tensor *t = &gb->tensors[i];
            const struct owb_gguf_tensor *u = owb_gguf_tensor(ga, t->name);
            CHECK_MSG(u && u->size_bytes == t->size_bytes &&
                          memcmp(u->data, t->data, t->size_bytes) == 0,
                      "%s differs between 4 and 2 layers", t->name);
        }
        /* Experts of one layer differ from each other (per-element streams over the 3-D
         * tensor). */
        const struct owb_gguf_tensor *e = owb_gguf_tensor(ga, "blk.0.ffn_up_exps.weight");
        CHECK(e &&
              memcmp(e->data, (const char *)e->data + e->size_bytes / 4, e->size_bytes / 4) != 0);
    }
    owb_gguf_close(ga);
    owb_gguf_close(gb);
}

/* gpt-oss-20b's vocabulary on a narrow copy of the preset (same vocabulary size, tiny width):
 * every tokenizer.* key of the vocab file is copied. Errors: vocabulary absent, not GGUF, of
 * another size. */
static void check_vocab_copy(void)
{
    char err[OWB_ERR_MAX] = "", path[4200], bad[4200];
    const struct owb_synth_preset *real = owb_synth_find("gpt-oss-20b");
    struct owb_synth_preset p = *real;
    p.n_embd = 64;
    p.n_layer = 1;
    p.n_head = 2;
    p.head_dim = 32;
    p.n_head_kv = 1;
    p.n_expert = 2;
    p.n_expert_used = 1;
    p.n_ff_exp = 32;
    p.n_ff = 32;
    struct owb_synth_opts o;
    owb_synth_opts_init(&o, &p);
    o.type = OWB_TYPE_Q8_0; /* 201088 x 64 embeddings and output, 14 MB each */

    /* Not to be found: a clear error naming --vocab, no file. */
    char here[4096];
    CHECK(getcwd(here, sizeof here) != NULL);
    const char *env = getenv("OWB_TEST_DATA");
    char saved[4096] = "";
    if (env)
        snprintf(saved, sizeof saved, "%s", env);
    setenv("OWB_TEST_DATA", tmpdir, 1);
    CHECK(chdir(tmpdir) == 0);
    snprintf(path, sizeof path, "%s/v.gguf", tmpdir);
    CHECK(owb_synth_write_opts(&p, &o, path, NULL, NULL, err) == OWB_E_IO);
    CHECK_MSG(strstr(err, "--vocab") && strstr(err, "ggml-vocab-gpt-oss.gguf"), "%s", err);
    char found[1024];
    CHECK(owb_synth_find_vocab(&p, found, sizeof found, err) == OWB_E_IO);
    CHECK(owb_synth_find_vocab(owb_synth_find("gpt-oss-tiny"), found, sizeof found, err) ==
          OWB_E_USAGE);
    CHECK(chdir(here) == 0);
    if (saved[0])
        setenv("OWB_TEST_DATA", saved, 1);
    else
        unsetenv("OWB_TEST_DATA");
    CHECK(count_files("v.gguf") == 0);

    /* Not a GGUF. */
    snprintf(bad, sizeof bad, "%s/notgguf.txt", tmpdir);
    FILE *f = fopen(bad, "w");
    if (f) {
        fputs("not a gguf\n", f);
        fclose(f);
    }
    o.vocab_path = bad;
    CHECK(owb_synth_write_opts(&p, &o, path, NULL, NULL, err) == OWB_E_FORMAT);
    CHECK_MSG(strstr(err, "notgguf.txt") != NULL, "%s", err);
    CHECK(count_files("v.gguf") == 0);

    const char *gpt2 = owb_test_data("models/gguf/ggml-vocab-gpt-2.gguf");
    if (gpt2) {
        o.vocab_path = gpt2;
        CHECK(owb_synth_write_opts(&p, &o, path, NULL, NULL, err) == OWB_E_FORMAT);
        CHECK_MSG(strstr(err, "50257 tokens") && strstr(err, "201088"), "%s", err);
        CHECK(count_files("v.gguf") == 0);
    }

    const char *vpath = owb_test_data("models/gguf/ggml-vocab-gpt-oss.gguf");
    if (!vpath) {
        fprintf(stderr, "note: ggml-vocab-gpt-oss.gguf absent, vocabulary copy not checked\n");
        return;
    }
    char vcopy[4096];
    snprintf(vcopy, sizeof vcopy, "%s", vpath);
    o.vocab_path = vcopy;
    int rc = owb_synth_write_opts(&p, &o, path, NULL, NULL, err);
    CHECK_MSG(rc == 0, "%s", err);
    struct owb_gguf *g = owb_gguf_open(path, err), *v = owb_gguf_open(vcopy, err);
    CHECK(g && v);
    if (g && v) {
        int n_tok_keys = 0;
        for (int64_t i = 0; i < v->n_kv; i++) {
            const struct owb_gguf_kv *a = &v->kv[i];
            if (strncmp(a->key, "tokenizer.", 10) != 0)
                continue;
            n_tok_keys++;
            const struct owb_gguf_kv *b = owb_gguf_find(g, a->key);
            CHECK_MSG(b && b->value.type == a->value.type, "%s not copied", a->key);
            if (b && a->value.type == OWB_GGUF_ARRAY)
                CHECK_MSG(b->value.v.arr.n == a->value.v.arr.n &&
                              b->value.v.arr.elem_type == a->value.v.arr.elem_type,
                          "%s", a->key);
            else if (b && a->value.type == OWB_GGUF_STRING)
                CHECK(b->value.v.s.len == a->value.v.s.len &&
                      memcmp(b->value.v.s.ptr, a->value.v.s.ptr, a->value.v.s.len) == 0);
            else if (b)
                CHECK(b->value.v.u == a->value.v.u);
        }
        CHECK(n_tok_keys >= 8);
        check_str(g, "tokenizer.ggml.pre", "gpt-4o");
        check_u32(g, "tokenizer.ggml.bos_token_id", 199998);
        check_u32(g, "tokenizer.ggml.eos_token_id", 200002);
        check_u32(g, "tokenizer.ggml.padding_token_id", 199999);
        const struct owb_gguf_value *arr = NULL;
        uint64_t n = 0;
        CHECK(owb_gguf_get_arr(g, "tokenizer.ggml.merges", OWB_GGUF_STRING, &arr, &n, err) == 0 &&
              n == 446189);
        CHECK(owb_gguf_get_arr(g, "tokenizer.ggml.tokens", OWB_GGUF_STRING, &arr, &n, err) == 0 &&
              n == 201088);
        if (arr && n == 201088)
            CHECK(str_eq(owb_gguf_arr_str(arr, 200006), "<|start|>"));
        const struct owb_gguf_tensor *e = owb_gguf_tensor(g, "token_embd.weight");
        CHECK(e && e->ne[0] == 64 && e->ne[1] == 201088);
        check_str(g, "general.architecture", "gpt-oss");
    }
    owb_gguf_close(g);
    owb_gguf_close(v);
    remove(path);
}

int main(void)
{
    const char *base = getenv("OWB_TMP");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_synth_gpt_oss.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror(tmpdir);
        return 1;
    }
    check_published_counts();
    check_tiny_file();
    check_layers();
    check_vocab_copy();
    CHECK(count_files(".tmp.") == 0);
    if (!owb_test_failures)
        owb_test_rmdir(tmpdir);
    TEST_DONE();
}
