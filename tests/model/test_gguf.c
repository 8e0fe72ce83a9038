/* SPDX-License-Identifier: MIT */
/*
 * test_gguf.c: GGUF writer -> reader round trip over every metadata value type (scalars, strings,
 * arrays of numbers, of strings and nested arrays), tensors of several types and ranks, default
 * and custom alignment; a re-write of what was read must give the same bytes. Then the shared
 * real files (stories260K f32/q8_0/q4_0 and the vocab-only files) are read and checked against
 * the facts listed in MANIFEST.md, and stories260K.gguf copied through reader + writer must come
 * out byte-identical to the original (same layout rules as ggml).
 */
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "model/gguf.h"
#include "owb_test.h"

static char tmpdir[4096];

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc(sz > 0 ? (size_t)sz : 1);
    if (p && fread(p, 1, (size_t)sz, f) != (size_t)sz) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return p;
}

static bool str_eq(struct owb_gguf_str s, const char *c)
{
    return s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0;
}

/* Copy every key and tensor of g into a new file. */
static int copy_gguf(const struct owb_gguf *g, const char *path, char err[OWB_ERR_MAX])
{
    struct owb_gguf_writer *w = owb_gguf_writer_new();
    int rc = 0;
    if (!w)
        return OWB_E_NOMEM;
    for (int64_t i = 0; i < g->n_kv && !rc; i++)
        rc = owb_gguf_writer_set_value(w, g->kv[i].key, &g->kv[i].value, err);
    for (int64_t i = 0; i < g->n_tensors && !rc; i++) {
        const struct owb_gguf_tensor *t = &g->tensors[i];
        rc = owb_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data,
                                        t->size_bytes, err);
    }
    if (!rc)
        rc = owb_gguf_writer_write(w, path, err);
    owb_gguf_writer_free(w);
    return rc;
}

static void round_trip(uint32_t alignment)
{
    char err[OWB_ERR_MAX] = "";
    char path[4200], path2[4200];
    snprintf(path, sizeof path, "%s/rt_%u.gguf", tmpdir, alignment);
    snprintf(path2, sizeof path2, "%s/rt_%u_copy.gguf", tmpdir, alignment);

    struct owb_gguf_writer *w = owb_gguf_writer_new();
    CHECK(w != NULL);
    if (alignment)
        CHECK(owb_gguf_writer_set_u32(w, "general.alignment", alignment, err) == 0);
    CHECK(owb_gguf_writer_set_str(w, "general.architecture", "llama", err) == 0);
    CHECK(owb_gguf_writer_set_u32(w, "llama.block_count", 7, err) == 0);
    CHECK(owb_gguf_writer_set_i32(w, "test.i32", -123456, err) == 0);
    CHECK(owb_gguf_writer_set_u64(w, "test.u64", UINT64_C(0xfedcba9876543210), err) == 0);
    CHECK(owb_gguf_writer_set_f32(w, "test.f32", 1e-5f, err) == 0);
    CHECK(owb_gguf_writer_set_bool(w, "test.bool", true, err) == 0);
    CHECK(owb_gguf_writer_set_str(w, "test.replaced", "first", err) == 0);
    CHECK(owb_gguf_writer_set_str(w, "test.replaced", "second", err) == 0);
    /* Scalar types without their own setter, through set_value. */
    struct owb_gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = OWB_GGUF_UINT8, v.v.u = 200;
    CHECK(owb_gguf_writer_set_value(w, "test.u8", &v, err) == 0);
    v.type = OWB_GGUF_INT8, v.v.i = -100;
    CHECK(owb_gguf_writer_set_value(w, "test.i8", &v, err) == 0);
    v.type = OWB_GGUF_UINT16, v.v.u = 65000;
    CHECK(owb_gguf_writer_set_value(w, "test.u16", &v, err) == 0);
    v.type = OWB_GGUF_INT16, v.v.i = -32000;
    CHECK(owb_gguf_writer_set_value(w, "test.i16", &v, err) == 0);
    v.type = OWB_GGUF_INT64, v.v.i = INT64_MIN + 5;
    CHECK(owb_gguf_writer_set_value(w, "test.i64", &v, err) == 0);
    v.type = OWB_GGUF_FLOAT64, v.v.f = 3.141592653589793;
    CHECK(owb_gguf_writer_set_value(w, "test.f64", &v, err) == 0);
    const int32_t ints[5] = {1, -2, 3, -4, 2147483647};
    CHECK(owb_gguf_writer_set_arr(w, "test.arr_i32", OWB_GGUF_INT32, 5, ints, err) == 0);
    const float fl[3] = {0.5f, -1.25f, 1e30f};
    CHECK(owb_gguf_writer_set_arr(w, "test.arr_f32", OWB_GGUF_FLOAT32, 3, fl, err) == 0);
    CHECK(owb_gguf_writer_set_arr(w, "test.arr_empty", OWB_GGUF_UINT8, 0, NULL, err) == 0);
    const char *const strs[4] = {"<unk>", "", "\xe2\x96\x81the", "a\nb"};
    CHECK(owb_gguf_writer_set_arr_str(w, "test.arr_str", 4, strs, err) == 0);
    /* A nested array: [[1, 2, 3], [], [9]] of uint8. */
    const uint8_t a0[3] = {1, 2, 3}, a2[1] = {9};
    struct owb_gguf_value inner[3], outer;
    memset(inner, 0, sizeof inner);
    for (int i = 0; i < 3; i++) {
        inner[i].type = OWB_GGUF_ARRAY;
        inner[i].v.arr.elem_type = OWB_GGUF_UINT8;
    }
    inner[0].v.arr.n = 3, inner[0].v.arr.raw = a0;
    inner[2].v.arr.n = 1, inner[2].v.arr.raw = a2;
    memset(&outer, 0, sizeof outer);
    outer.type = OWB_GGUF_ARRAY;
    outer.v.arr.elem_type = OWB_GGUF_ARRAY;
    outer.v.arr.n = 3;
    outer.v.arr.elems = inner;
    CHECK(owb_gguf_writer_set_value(w, "test.nested", &outer, err) == 0);
    /* Invalid writer input is refused. */
    CHECK(owb_gguf_writer_set_arr(w, "test.bad", OWB_GGUF_STRING, 1, ints, err) == OWB_E_USAGE);

    /* Tensors: f32 2-D, f16 1-D, q8_0 rows (bytes arbitrary but sized), a 4-D f32. */
    float t0[12];
    for (int i = 0; i < 12; i++)
        t0[i] = (float)i * 0.25f - 1.0f;
    uint16_t t1[3] = {0x3c00, 0xc000, 0x7bff};
    unsigned char t2[2 * 2 * 34];
    for (size_t i = 0; i < sizeof t2; i++)
        t2[i] = (unsigned char)(i * 7 + 1);
    float t3[2 * 1 * 3 * 2];
    for (int i = 0; i < 12; i++)
        t3[i] = (float)(i * i);
    const int64_t ne0[2] = {4, 3}, ne1[1] = {3}, ne2[2] = {64, 2}, ne3[4] = {2, 1, 3, 2};
    CHECK(owb_gguf_writer_add_tensor(w, "t.f32", OWB_TYPE_F32, 2, ne0, t0, sizeof t0, err) == 0);
    CHECK(owb_gguf_writer_add_tensor(w, "t.f16", OWB_TYPE_F16, 1, ne1, t1, sizeof t1, err) == 0);
    CHECK(owb_gguf_writer_add_tensor(w, "t.q8", OWB_TYPE_Q8_0, 2, ne2, t2, sizeof t2, err) == 0);
    CHECK(owb_gguf_writer_add_tensor(w, "t.4d", OWB_TYPE_F32, 4, ne3, t3, sizeof t3, err) == 0);
    /* Wrong size, duplicate name, row not a multiple of the block: refused. */
    CHECK(owb_gguf_writer_add_tensor(w, "t.bad", OWB_TYPE_F32, 2, ne0, t0, 4, err) == OWB_E_USAGE);
    CHECK(owb_gguf_writer_add_tensor(w, "t.f32", OWB_TYPE_F32, 2, ne0, t0, sizeof t0, err) ==
          OWB_E_USAGE);
    const int64_t ne_bad[1] = {33};
    CHECK(owb_gguf_writer_add_tensor(w, "t.bad2", OWB_TYPE_Q8_0, 1, ne_bad, t2, 34, err) ==
          OWB_E_USAGE);
    CHECK_MSG(strstr(err, "block size") != NULL, "%s", err);

    int rc = owb_gguf_writer_write(w, path, err);
    CHECK_MSG(rc == 0, "%s", err);
    owb_gguf_writer_free(w);

    struct owb_gguf *g = owb_gguf_open(path, err);
    CHECK_MSG(g != NULL, "%s", err);
    if (!g)
        return;
    uint32_t align = alignment ? alignment : 32;
    CHECK(g->version == 3);
    CHECK(g->alignment == align);
    CHECK(g->n_kv == (alignment ? 19 : 18));
    CHECK(g->n_tensors == 4);
    CHECK(g->data_offset % align == 0);

    struct owb_gguf_str s;
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    float f;
    bool b;
    CHECK(owb_gguf_get_str(g, "general.architecture", &s, err) == 0 && str_eq(s, "llama"));
    CHECK(owb_gguf_get_u32(g, "llama.block_count", &u32, err) == 0 && u32 == 7);
    CHECK(owb_gguf_get_i32(g, "test.i32", &i32, err) == 0 && i32 == -123456);
    CHECK(owb_gguf_get_u64(g, "test.u64", &u64, err) == 0 && u64 == UINT64_C(0xfedcba9876543210));
    CHECK(owb_gguf_get_f32(g, "test.f32", &f, err) == 0 && f == 1e-5f);
    CHECK(owb_gguf_get_bool(g, "test.bool", &b, err) == 0 && b);
    CHECK(owb_gguf_get_str(g, "test.replaced", &s, err) == 0 && str_eq(s, "second"));
    CHECK(owb_gguf_get_u32(g, "test.u8", &u32, err) == 0 && u32 == 200);
    CHECK(owb_gguf_get_i32(g, "test.i8", &i32, err) == 0 && i32 == -100);
    CHECK(owb_gguf_get_u32(g, "test.u16", &u32, err) == 0 && u32 == 65000);
    CHECK(owb_gguf_get_i32(g, "test.i16", &i32, err) == 0 && i32 == -32000);
    const struct owb_gguf_kv *kv = owb_gguf_find(g, "test.i64");
    CHECK(kv && kv->value.type == OWB_GGUF_INT64 && kv->value.v.i == INT64_MIN + 5);
    kv = owb_gguf_find(g, "test.f64");
    CHECK(kv && kv->value.type == OWB_GGUF_FLOAT64 && kv->value.v.f == 3.141592653589793);
    /* Type and range errors name the key. */
    CHECK(owb_gguf_get_u32(g, "general.architecture", &u32, err) == OWB_E_FORMAT);
    CHECK_MSG(strstr(err, "general.architecture") && strstr(err, "string"), "%s", err);
    CHECK(owb_gguf_get_u32(g, "test.i32", &u32, err) == OWB_E_FORMAT);
    CHECK_MSG(strstr(err, "out of range"), "%s", err);
    CHECK(owb_gguf_get_i32(g, "test.u64", &i32, err) == OWB_E_FORMAT);
    CHECK(owb_gguf_get_u32(g, "no.such.key", &u32, err) == OWB_E_FORMAT);
    CHECK_MSG(strstr(err, "no.such.key") && strstr(err, "missing"), "%s", err);
    CHECK(owb_gguf_find(g, "no.such.key") == NULL);

    const struct owb_gguf_value *arr;
    uint64_t n;
    CHECK(owb_gguf_get_arr(g, "test.arr_i32", OWB_GGUF_INT32, &arr, &n, err) == 0 && n == 5);
    if (n == 5)
        for (int i = 0; i < 5; i++)
            CHECK(owb_gguf_arr_num(arr, (uint64_t)i) == (double)ints[i]);
    CHECK(owb_gguf_get_arr(g, "test.arr_i32", OWB_GGUF_FLOAT32, &arr, &n, err) == OWB_E_FORMAT);
    CHECK(owb_gguf_get_arr(g, "test.arr_f32", OWB_GGUF_FLOAT32, &arr, &n, err) == 0 && n == 3);
    if (n == 3)
        for (int i = 0; i < 3; i++)
            CHECK(owb_gguf_arr_num(arr, (uint64_t)i) == (double)fl[i]);
    CHECK(owb_gguf_get_arr(g, "test.arr_empty", OWB_GGUF_UINT8, &arr, &n, err) == 0 && n == 0);
    CHECK(owb_gguf_get_arr(g, "test.arr_str", OWB_GGUF_STRING, &arr, &n, err) == 0 && n == 4);
    if (n == 4)
        for (int i = 0; i < 4; i++)
            CHECK(str_eq(owb_gguf_arr_str(arr, (uint64_t)i), strs[i]));
    CHECK(owb_gguf_get_arr(g, "test.nested", OWB_GGUF_ARRAY, &arr, &n, err) == 0 && n == 3);
    if (n == 3) {
        struct owb_gguf_value e;
        owb_gguf_arr_elem(arr, 0, &e);
        CHECK(e.type == OWB_GGUF_ARRAY && e.v.arr.n == 3 && owb_gguf_arr_num(&e, 2) == 3.0);
        owb_gguf_arr_elem(arr, 1, &e);
        CHECK(e.type == OWB_GGUF_ARRAY && e.v.arr.n == 0);
        owb_gguf_arr_elem(arr, 2, &e);
        CHECK(e.type == OWB_GGUF_ARRAY && e.v.arr.n == 1 && owb_gguf_arr_num(&e, 0) == 9.0);
    }

    const struct owb_gguf_tensor *t = owb_gguf_tensor(g, "t.f32");
    CHECK(t && t->type == OWB_TYPE_F32 && t->n_dims == 2 && t->ne[0] == 4 && t->ne[1] == 3 &&
          t->ne[2] == 1 && t->size_bytes == sizeof t0 && t->n_elements == 12 &&
          memcmp(t->data, t0, sizeof t0) == 0);
    t = owb_gguf_tensor(g, "t.f16");
    CHECK(t && t->type == OWB_TYPE_F16 && t->n_dims == 1 && t->size_bytes == 6 &&
          memcmp(t->data, t1, 6) == 0);
    t = owb_gguf_tensor(g, "t.q8");
    CHECK(t && t->type == OWB_TYPE_Q8_0 && t->ne[0] == 64 && t->size_bytes == sizeof t2 &&
          memcmp(t->data, t2, sizeof t2) == 0);
    t = owb_gguf_tensor(g, "t.4d");
    CHECK(t && t->n_dims == 4 && t->ne[3] == 2 && t->n_elements == 12 &&
          memcmp(t->data, t3, sizeof t3) == 0);
    for (int64_t i = 0; i < g->n_tensors; i++) {
        CHECK(g->tensors[i].offset % align == 0);
        CHECK((size_t)((const unsigned char *)g->tensors[i].data - g->base) % align == 0);
    }
    CHECK(owb_gguf_tensor(g, "t.nope") == NULL);

    /* Written size: header padded, each tensor padded to the alignment (ggml's layout). */
    struct stat st;
    CHECK(stat(path, &st) == 0 && (size_t)st.st_size == g->file_size);
    CHECK(g->file_size % align == 0);

    /* Read -> write gives the same bytes. */
    rc = copy_gguf(g, path2, err);
    CHECK_MSG(rc == 0, "%s", err);
    size_t n1 = 0, n2 = 0;
    unsigned char *b1 = slurp(path, &n1), *b2 = slurp(path2, &n2);
    CHECK(b1 && b2 && n1 == n2 && memcmp(b1, b2, n1) == 0);
    /* In-memory open sees the same file. */
    struct owb_gguf *gm = b1 ? owb_gguf_open_mem(b1, n1, "mem", err) : NULL;
    CHECK_MSG(gm && gm->n_kv == g->n_kv && gm->n_tensors == g->n_tensors, "%s", err);
    owb_gguf_close(gm);
    free(b1);
    free(b2);
    owb_gguf_close(g);
    CHECK(remove(path2) == 0);
    CHECK(remove(path) == 0);
}

static void shared_files(void)
{
    char err[OWB_ERR_MAX] = "";
    const char *p = owb_test_data("models/gguf/stories260K.gguf");
    if (!p) {
        fprintf(stderr, "shared data absent: real-file checks skipped\n");
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s", p);
    struct owb_gguf *g = owb_gguf_open(path, err);
    CHECK_MSG(g != NULL, "%s", err);
    if (g) {
        CHECK(g->version == 3 && g->n_kv == 19 && g->n_tensors == 48);
        uint32_t u;
        struct owb_gguf_str s;
        CHECK(owb_gguf_get_str(g, "general.architecture", &s, err) == 0 && str_eq(s, "llama"));
        CHECK(owb_gguf_get_u32(g, "llama.embedding_length", &u, err) == 0 && u == 64);
        CHECK(owb_gguf_get_u32(g, "llama.block_count", &u, err) == 0 && u == 5);
        CHECK(owb_gguf_get_u32(g, "llama.attention.head_count_kv", &u, err) == 0 && u == 4);
        CHECK(owb_gguf_get_u32(g, "llama.context_length", &u, err) == 0 && u == 128);
        const struct owb_gguf_value *arr;
        uint64_t n = 0;
        CHECK(owb_gguf_get_arr(g, "tokenizer.ggml.tokens", OWB_GGUF_STRING, &arr, &n, err) == 0 &&
              n == 512);
        if (n == 512)
            CHECK(str_eq(owb_gguf_arr_str(arr, 3), "<0x00>"));
        for (int64_t i = 0; i < g->n_tensors; i++)
            CHECK(g->tensors[i].type == OWB_TYPE_F32);
        const struct owb_gguf_tensor *t = owb_gguf_tensor(g, "token_embd.weight");
        const struct owb_gguf_tensor *o = owb_gguf_tensor(g, "output.weight");
        CHECK(t && t->ne[0] == 64 && t->ne[1] == 512);
        /* MANIFEST: token_embd == output for this model. */
        CHECK(t && o && t->size_bytes == o->size_bytes &&
              memcmp(t->data, o->data, t->size_bytes) == 0);
        t = owb_gguf_tensor(g, "blk.4.ffn_down.weight");
        CHECK(t && t->ne[0] == 172 && t->ne[1] == 64);

        /* Copy through reader + writer: byte-identical to llama.cpp's file. */
        char out[4200];
        snprintf(out, sizeof out, "%s/stories_copy.gguf", tmpdir);
        CHECK_MSG(copy_gguf(g, out, err) == 0, "%s", err);
        size_t n1 = 0, n2 = 0;
        unsigned char *b1 = slurp(path, &n1), *b2 = slurp(out, &n2);
        CHECK_MSG(b1 && b2 && n1 == n2 && memcmp(b1, b2, n1) == 0,
                  "copy differs (%zu vs %zu bytes)", n1, n2);
        free(b1);
        free(b2);
        remove(out);
        owb_gguf_close(g);
    }

    static const struct {
        const char *rel;
        const char *ffn_down, *attn_q, *output;
    } quant[] = {
        {"models/gguf/stories260K-q8_0.gguf", "f16", "q8_0", "q8_0"},
        {"models/gguf/stories260K-q4_0.gguf", "f16", "q4_0", "q8_0"},
    };
    for (size_t i = 0; i < OWB_ARRAY_LEN(quant); i++) {
        p = owb_test_data(quant[i].rel);
        if (!p)
            continue;
        g = owb_gguf_open(p, err);
        CHECK_MSG(g != NULL, "%s", err);
        if (!g)
            continue;
        const struct owb_gguf_tensor *t = owb_gguf_tensor(g, "blk.0.ffn_down.weight");
        CHECK(t && strcmp(owb_type_name(t->type), quant[i].ffn_down) == 0);
        t = owb_gguf_tensor(g, "blk.0.attn_q.weight");
        CHECK(t && strcmp(owb_type_name(t->type), quant[i].attn_q) == 0);
        t = owb_gguf_tensor(g, "output.weight");
        CHECK(t && strcmp(owb_type_name(t->type), quant[i].output) == 0);
        t = owb_gguf_tensor(g, "output_norm.weight");
        CHECK(t && t->type == OWB_TYPE_F32);
        owb_gguf_close(g);
    }

    static const struct {
        const char *rel, *model;
        uint64_t n_tokens;
    } vocab[] = {
        {"models/gguf/ggml-vocab-llama-spm.gguf", "llama", 32000},
        {"models/gguf/ggml-vocab-gpt-2.gguf", "gpt2", 50257},
        {"models/gguf/ggml-vocab-bert-bge.gguf", "bert", 30522},
    };
    for (size_t i = 0; i < OWB_ARRAY_LEN(vocab); i++) {
        p = owb_test_data(vocab[i].rel);
        if (!p)
            continue;
        g = owb_gguf_open(p, err);
        CHECK_MSG(g != NULL, "%s", err);
        if (!g)
            continue;
        struct owb_gguf_str s;
        const struct owb_gguf_value *arr;
        uint64_t n = 0;
        CHECK(g->n_tensors == 0);
        CHECK(owb_gguf_get_str(g, "tokenizer.ggml.model", &s, err) == 0 &&
              str_eq(s, vocab[i].model));
        CHECK(owb_gguf_get_arr(g, "tokenizer.ggml.tokens", OWB_GGUF_STRING, &arr, &n, err) == 0 &&
              n == vocab[i].n_tokens);
        /* Vocab-only files copy through reader + writer byte for byte too. */
        char out[4200];
        snprintf(out, sizeof out, "%s/vocab_copy.gguf", tmpdir);
        CHECK_MSG(copy_gguf(g, out, err) == 0, "%s", err);
        size_t n1 = 0, n2 = 0;
        unsigned char *b1 = slurp(p, &n1), *b2 = slurp(out, &n2);
        CHECK_MSG(b1 && b2 && n1 == n2 && memcmp(b1, b2, n1) == 0, "%s: copy differs",
                  vocab[i].rel);
        free(b1);
        free(b2);
        remove(out);
        owb_gguf_close(g);
    }
}

/* owb_gguf_open_weights: the copy holds the file's bytes (every tensor equal to the mapped
 * file's), reports the mode used, and refuses bad paths as owb_gguf_open does. */
static void weights_memory(void)
{
    char err[OWB_ERR_MAX] = "";
    CHECK(owb_gguf_mem_parse("auto") == OWB_GGUF_MEM_AUTO);
    CHECK(owb_gguf_mem_parse("mmap") == OWB_GGUF_MEM_MMAP);
    CHECK(owb_gguf_mem_parse("copy") == OWB_GGUF_MEM_COPY);
    CHECK(owb_gguf_mem_parse("huge") == -1 && owb_gguf_mem_parse("") == -1);
    CHECK(strcmp(owb_gguf_mem_name(OWB_GGUF_MEM_COPY), "copy") == 0);
    enum owb_gguf_mem used = OWB_GGUF_MEM_AUTO;
    size_t huge = 1;
    CHECK(owb_gguf_open_weights(tmpdir, OWB_GGUF_MEM_COPY, &used, &huge, err) == NULL);
    CHECK_MSG(strstr(err, tmpdir) && strstr(err, "not a regular file"), "%s", err);
    CHECK(used == OWB_GGUF_MEM_MMAP && huge == 0);
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/absent.gguf", tmpdir);
    CHECK(owb_gguf_open_weights(missing, OWB_GGUF_MEM_COPY, NULL, NULL, err) == NULL);
    CHECK_MSG(strstr(err, "absent.gguf") && strstr(err, "cannot open"), "%s", err);

    const char *p = owb_test_data("models/gguf/stories260K-q8_0.gguf");
    if (!p) {
        fprintf(stderr, "shared data absent: weights-memory checks on a real file skipped\n");
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s", p);
    struct owb_gguf *m = owb_gguf_open_weights(path, OWB_GGUF_MEM_MMAP, &used, &huge, err);
    CHECK_MSG(m != NULL, "%s", err);
    CHECK(used == OWB_GGUF_MEM_MMAP && huge == 0);
    struct owb_gguf *c = owb_gguf_open_weights(path, OWB_GGUF_MEM_COPY, &used, &huge, err);
    CHECK_MSG(c != NULL, "%s", err);
    CHECK(used == OWB_GGUF_MEM_COPY && huge <= c->file_size + ((size_t)2 << 20));
    struct owb_gguf *a = owb_gguf_open_weights(path, OWB_GGUF_MEM_AUTO, &used, NULL, err);
    CHECK_MSG(a != NULL, "%s", err);
    CHECK(used == OWB_GGUF_MEM_COPY || used == OWB_GGUF_MEM_MMAP);
    if (m && c && a) {
        CHECK(m->n_tensors == c->n_tensors && m->n_tensors == a->n_tensors && m->n_tensors > 0);
        for (int64_t i = 0; i < m->n_tensors && i < c->n_tensors && i < a->n_tensors; i++) {
            const struct owb_gguf_tensor *tm = &m->tensors[i], *tc = &c->tensors[i];
            CHECK(tc->data != tm->data && tc->size_bytes == tm->size_bytes);
            CHECK_MSG(memcmp(tc->data, tm->data, tm->size_bytes) == 0, "tensor %lld differs",
                      (long long)i);
            CHECK(memcmp(a->tensors[i].data, tm->data, tm->size_bytes) == 0);
        }
    }
    owb_gguf_close(a);
    owb_gguf_close(c);
    owb_gguf_close(m);
}

int main(void)
{
    const char *base = getenv("OWB_TMP");
    snprintf(tmpdir, sizeof tmpdir, "%s/gguf_%d", base && *base ? base : "/tmp", (int)getpid());
    mkdir(tmpdir, 0755);
    round_trip(0);
    round_trip(64);
    round_trip(1);
    shared_files();
    weights_memory();
    CHECK_MSG(rmdir(tmpdir) == 0, "%s not empty: a temporary file was left behind", tmpdir);
    TEST_DONE();
}
