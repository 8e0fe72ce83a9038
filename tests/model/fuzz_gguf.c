/* SPDX-License-Identifier: MIT */
/*
 * fuzz_gguf.c: libFuzzer target for the GGUF reader, the tokenizer loader that reads GGUF
 * metadata and owb_model_load (hyperparameters, tensor shapes, weight binding of every supported
 * architecture). Any input must either be rejected with a message or parse into an object whose
 * every key, value, array element and tensor byte can be read without leaving the input; a model
 * that loads must run a forward pass of two tokens. Built only with
 * clang (tests/model/CMakeLists.txt): run as
 *     build/tests/model/fuzz_gguf -max_len=4096 -max_total_time=300 CORPUS_DIR
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "model/arch.h"
#include "model/gguf.h"
#include "model/tokenizer.h"

static volatile unsigned sink;

static void walk(const struct owb_gguf_value *v)
{
    if (v->type == OWB_GGUF_STRING && v->v.s.len)
        sink ^= (unsigned char)v->v.s.ptr[0] ^ (unsigned char)v->v.s.ptr[v->v.s.len - 1];
    if (v->type != OWB_GGUF_ARRAY)
        return;
    for (uint64_t i = 0; i < v->v.arr.n; i++) {
        struct owb_gguf_value e;
        owb_gguf_arr_elem(v, i, &e);
        if (e.type != OWB_GGUF_STRING && e.type != OWB_GGUF_ARRAY) {
            double d = owb_gguf_arr_num(v, i);
            sink ^= d > -1e9 && d < 1e9 ? (unsigned)(int64_t)d : 1u;
        }
        walk(&e);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[OWB_ERR_MAX];
    err[0] = '\0';
    struct owb_gguf *g = owb_gguf_open_mem(data, size, "fuzz.gguf", err);
    if (!g) {
        if (err[0] == '\0')
            __builtin_trap(); /* every rejection must say why */
        return 0;
    }
    for (int64_t i = 0; i < g->n_kv; i++) {
        if (owb_gguf_find(g, g->kv[i].key) == NULL)
            __builtin_trap();
        walk(&g->kv[i].value);
    }
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const struct owb_gguf_tensor *t = &g->tensors[i];
        if (owb_gguf_tensor(g, t->name) == NULL)
            __builtin_trap();
        if (t->size_bytes)
            sink ^= ((const uint8_t *)t->data)[0] ^ ((const uint8_t *)t->data)[t->size_bytes - 1];
    }
    /* Tokenizer: built from whatever tokenizer.* keys there are; the text to encode is the
     * string key fuzz.text when present (so the fuzzer mutates both), else a fixed sample. */
    struct owb_tokenizer *tok = owb_tokenizer_new(g, err);
    if (tok) {
        static const char sample[] = "Hello world! 123 \xc3\xa9t\xc3\xa9 \xf0\x9f\xa6\x99 it's";
        struct owb_gguf_str text = {sample, sizeof sample - 1};
        const struct owb_gguf_kv *kv = owb_gguf_find(g, "fuzz.text");
        if (kv && kv->value.type == OWB_GGUF_STRING)
            text = kv->value.v.s;
        static int32_t ids[8192];
        static char out[65536];
        for (unsigned flags = 0; flags < 4; flags++) {
            int64_t n = owb_tokenizer_encode(tok, text.ptr, (size_t)text.len, flags, ids, 8192);
            if (n < 0)
                break;
            if (n > 8192)
                n = 8192;
            for (int64_t i = 0; i < n; i++)
                if (ids[i] < 0 || ids[i] >= owb_tokenizer_n_vocab(tok))
                    __builtin_trap(); /* encode must only produce valid ids */
            owb_tokenizer_decode(tok, ids, n, out, sizeof out);
        }
        owb_tokenizer_free(tok);
    }
    /* Model: a small context so a crafted context_length cannot ask for a huge cache. */
    struct owb_model_opts mo = {.n_ctx = 16, .n_batch = 4, .runner = NULL};
    err[0] = '\0';
    struct owb_model *m = owb_model_load(g, &mo, err);
    if (!m) {
        if (err[0] == '\0')
            __builtin_trap();
    } else {
        static float logits[1 << 16];
        const int32_t toks[2] = {0, (int32_t)(m->hp.n_vocab - 1)};
        if ((uint64_t)m->hp.n_vocab * 2 <= OWB_ARRAY_LEN(logits) &&
            owb_model_forward(m, toks, 2, 0, logits, true, err) != 0)
            __builtin_trap(); /* valid ids in a fitting context must run */
        owb_model_free(m);
    }
    owb_gguf_close(g);
    return 0;
}
