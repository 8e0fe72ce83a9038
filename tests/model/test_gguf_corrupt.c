/* SPDX-License-Identifier: MIT */
/*
 * test_gguf_corrupt.c: the GGUF reader against broken files. A small valid file is assembled byte
 * by byte here (independently of the writer), recording where each field lies; then
 *   - every truncation of it is opened from an exact-size heap copy (so ASan sees any read past
 *     the end): all lengths short of the end of the last tensor's data must be rejected with a
 *     message naming the file, longer ones (only trailing padding missing) accepted;
 *   - fields are patched one at a time (bad magic, version 1/4/big-endian, absurd counts, string
 *     length 2^63, array counts that overflow, bad value and element types, n_dims 5, dims that
 *     overflow, unknown and unsupported tensor types, misaligned and out-of-range offsets,
 * duplicate keys and names, bad general.alignment, rows not a multiple of the block, deep nesting)
 * and each must be rejected with the expected words in the message;
 *   - the shared stories260K.gguf (when present) is cut at every key/value and tensor-info boundary
 *     (and one byte either side) and at a sweep of lengths, through both open_mem and a real file.
 * Run under ASan/UBSan in CI.
 */
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "model/gguf.h"
#include "owb_test.h"

#define NAME "corrupt.gguf"
#define MAX_FIELDS 64

struct buf {
    unsigned char *p;
    size_t n, cap;
};

static void b_raw(struct buf *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        OWB_ASSERT(b->p);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void b_le(struct buf *b, uint64_t v, size_t n)
{
    unsigned char t[8];
    for (size_t i = 0; i < n; i++)
        t[i] = (unsigned char)(v >> (8 * i));
    b_raw(b, t, n);
}

static void b_str(struct buf *b, const char *s)
{
    b_le(b, strlen(s), 8);
    b_raw(b, s, strlen(s));
}

static void b_pad(struct buf *b, size_t align)
{
    while (b->n % align)
        b_le(b, 0, 1);
}

static void patch(unsigned char *p, size_t off, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[off + i] = (unsigned char)(v >> (8 * i));
}

/* Offsets of the fields the mutations patch. */
struct layout {
    size_t version, n_tensors, n_kv;
    size_t kv_start[8], n_kvs;     /* start of each key/value pair */
    size_t key0_len;               /* length of the first key */
    size_t type_u32;               /* value type of test.u32 */
    size_t str_len;                /* length of general.architecture's value */
    size_t strs_elem_type, strs_n; /* test.strs array header */
    size_t f32s_n;                 /* test.f32s count */
    size_t nest_inner_n;           /* count of the inner array of test.nest */
    size_t dupb_key;               /* first byte of "test.dupb" */
    size_t ti_start[4], n_tis;     /* start of each tensor info */
    size_t ti_name[4], ti_ndims[4], ti_ne[4][4], ti_type[4], ti_offset[4];
    size_t info_end, data_start, data_end;
};

/* The valid base file: 7 keys, 3 tensors (f32 4x2, q8_0 32x2, f16 3), alignment 32. */
static void build_base(struct buf *b, struct layout *L)
{
    memset(L, 0, sizeof *L);
    b->n = 0;
    b_raw(b, "GGUF", 4);
    L->version = b->n;
    b_le(b, 3, 4);
    L->n_tensors = b->n;
    b_le(b, 3, 8);
    L->n_kv = b->n;
    b_le(b, 7, 8);

    L->kv_start[L->n_kvs++] = b->n;
    L->key0_len = b->n;
    b_str(b, "general.architecture");
    b_le(b, OWB_GGUF_STRING, 4);
    L->str_len = b->n;
    b_str(b, "llama");

    L->kv_start[L->n_kvs++] = b->n;
    b_str(b, "test.u32");
    L->type_u32 = b->n;
    b_le(b, OWB_GGUF_UINT32, 4);
    b_le(b, 7, 4);

    L->kv_start[L->n_kvs++] = b->n;
    b_str(b, "test.strs");
    b_le(b, OWB_GGUF_ARRAY, 4);
    L->strs_elem_type = b->n;
    b_le(b, OWB_GGUF_STRING, 4);
    L->strs_n = b->n;
    b_le(b, 3, 8);
    b_str(b, "a");
    b_str(b, "bc");
    b_str(b, "");

    L->kv_start[L->n_kvs++] = b->n;
    b_str(b, "test.f32s");
    b_le(b, OWB_GGUF_ARRAY, 4);
    b_le(b, OWB_GGUF_FLOAT32, 4);
    L->f32s_n = b->n;
    b_le(b, 2, 8);
    b_le(b, 0x3f800000, 4);
    b_le(b, 0x40000000, 4);

    L->kv_start[L->n_kvs++] = b->n;
    b_str(b, "test.nest");
    b_le(b, OWB_GGUF_ARRAY, 4);
    b_le(b, OWB_GGUF_ARRAY, 4);
    b_le(b, 1, 8);
    b_le(b, OWB_GGUF_UINT8, 4);
    L->nest_inner_n = b->n;
    b_le(b, 2, 8);
    b_le(b, 1, 1);
    b_le(b, 2, 1);

    L->kv_start[L->n_kvs++] = b->n;
    b_str(b, "test.dupa");
    b_le(b, OWB_GGUF_UINT8, 4);
    b_le(b, 1, 1);

    L->kv_start[L->n_kvs++] = b->n;
    L->dupb_key = b->n + 8;
    b_str(b, "test.dupb");
    b_le(b, OWB_GGUF_INT8, 4);
    b_le(b, 2, 1);

    static const struct {
        const char *name;
        uint32_t type, n_dims;
        uint64_t ne[2], offset;
    } ts[3] = {
        {"w.a", OWB_TYPE_F32, 2, {4, 2}, 0},
        {"w.b", OWB_TYPE_Q8_0, 2, {32, 2}, 32},
        {"w.c", OWB_TYPE_F16, 1, {3, 1}, 128},
    };
    for (int i = 0; i < 3; i++) {
        L->ti_start[L->n_tis++] = b->n;
        L->ti_name[i] = b->n + 8;
        b_str(b, ts[i].name);
        L->ti_ndims[i] = b->n;
        b_le(b, ts[i].n_dims, 4);
        for (uint32_t d = 0; d < ts[i].n_dims; d++) {
            L->ti_ne[i][d] = b->n;
            b_le(b, ts[i].ne[d], 8);
        }
        L->ti_type[i] = b->n;
        b_le(b, ts[i].type, 4);
        L->ti_offset[i] = b->n;
        b_le(b, ts[i].offset, 8);
    }
    L->info_end = b->n;
    b_pad(b, 32);
    L->data_start = b->n;
    /* w.a: 32 bytes at 0; w.b: 68 bytes at 32 (pad to 128); w.c: 6 bytes at 128. */
    for (int i = 0; i < 32; i++)
        b_le(b, (uint64_t)i, 1);
    for (int i = 0; i < 68; i++)
        b_le(b, (uint64_t)(i * 3), 1);
    b_pad(b, 32);
    for (int i = 0; i < 6; i++)
        b_le(b, 0x11, 1);
    L->data_end = b->n;
    b_pad(b, 32);
}

/* Open a heap copy of exactly n bytes; returns 1 if accepted. */
static int try_open(const unsigned char *p, size_t n, char err[OWB_ERR_MAX])
{
    unsigned char *copy = malloc(n ? n : 1);
    OWB_ASSERT(copy);
    if (n)
        memcpy(copy, p, n);
    err[0] = '\0';
    struct owb_gguf *g = owb_gguf_open_mem(copy, n, NAME, err);
    int ok = g != NULL;
    if (g) {
        /* Touch everything the reader hands out. */
        volatile unsigned char sink = 0;
        for (int64_t i = 0; i < g->n_tensors; i++) {
            const struct owb_gguf_tensor *t = &g->tensors[i];
            CHECK(owb_gguf_tensor(g, t->name) == t);
            if (t->size_bytes)
                sink ^= ((const unsigned char *)t->data)[0] ^
                        ((const unsigned char *)t->data)[t->size_bytes - 1];
        }
        for (int64_t i = 0; i < g->n_kv; i++)
            CHECK(owb_gguf_find(g, g->kv[i].key) == &g->kv[i]);
        (void)sink;
        owb_gguf_close(g);
    }
    free(copy);
    return ok;
}

static int rejected_with(const unsigned char *p, size_t n, const char *words, const char *what)
{
    char err[OWB_ERR_MAX];
    if (try_open(p, n, err)) {
        fprintf(stderr, "%s: accepted, expected an error\n", what);
        owb_test_failures++;
        return 0;
    }
    CHECK_MSG(strncmp(err, NAME ": ", strlen(NAME) + 2) == 0,
              "%s: message does not name the file: %s", what, err);
    CHECK_MSG(strstr(err, words) != NULL, "%s: message lacks \"%s\": %s", what, words, err);
    if (getenv("OWB_VERBOSE"))
        fprintf(stderr, "%-28s -> %s\n", what, err);
    return 1;
}

static void truncations(void)
{
    struct buf b = {0};
    struct layout L;
    char err[OWB_ERR_MAX];
    build_base(&b, &L);
    CHECK_MSG(try_open(b.p, b.n, err), "base file rejected: %s", err);
    int rejected = 0, accepted = 0;
    for (size_t n = 0; n <= b.n; n++) {
        int ok = try_open(b.p, n, err);
        if (n < L.data_end) {
            CHECK_MSG(!ok, "truncated at %zu of %zu bytes: accepted", n, b.n);
            CHECK_MSG(ok || err[0] != '\0', "truncated at %zu: empty message", n);
            CHECK_MSG(ok || strncmp(err, NAME ": ", strlen(NAME) + 2) == 0, "%zu: %s", n, err);
            rejected += !ok;
        } else {
            CHECK_MSG(ok, "cut only in trailing padding (%zu bytes) rejected: %s", n, err);
            accepted += ok;
        }
    }
    fprintf(stderr, "truncations: %d rejected, %d accepted (file %zu bytes, data ends at %zu)\n",
            rejected, accepted, b.n, L.data_end);
    free(b.p);
}

static void mutations(void)
{
    struct buf b = {0};
    struct layout L;
    build_base(&b, &L);
    unsigned char *m = malloc(b.n);
    OWB_ASSERT(m);
#define MUT(words, what, ...)                                                                      \
    do {                                                                                           \
        memcpy(m, b.p, b.n);                                                                       \
        __VA_ARGS__;                                                                               \
        rejected_with(m, b.n, words, what);                                                        \
    } while (0)

    /* Version 2 has the same layout as 3 and is accepted. */
    memcpy(m, b.p, b.n);
    patch(m, L.version, 2, 4);
    char verr[OWB_ERR_MAX];
    CHECK_MSG(try_open(m, b.n, verr), "version 2 rejected: %s", verr);
    MUT("not a GGUF file", "bad magic", m[0] = 'X');
    MUT("version 1", "version 1", patch(m, L.version, 1, 4));
    MUT("version 4", "version 4", patch(m, L.version, 4, 4));
    MUT("version 0", "version 0", patch(m, L.version, 0, 4));
    MUT("big-endian", "big-endian", patch(m, L.version, 0x03000000u, 4));
    MUT("cannot fit", "n_kv 2^60", patch(m, L.n_kv, UINT64_C(1) << 60, 8));
    MUT("cannot fit", "n_kv 2^64-1", patch(m, L.n_kv, UINT64_MAX, 8));
    MUT("cannot fit", "n_tensors 2^60", patch(m, L.n_tensors, UINT64_C(1) << 60, 8));
    MUT("", "n_kv one too many", patch(m, L.n_kv, 8, 8));
    MUT("runs past the end", "key length 2^63", patch(m, L.key0_len, UINT64_C(1) << 63, 8));
    MUT("runs past the end", "key length 2^64-1", patch(m, L.key0_len, UINT64_MAX, 8));
    MUT("runs past the end", "string length 2^63", patch(m, L.str_len, UINT64_C(1) << 63, 8));
    MUT("not a GGUF value type", "value type 13", patch(m, L.type_u32, 13, 4));
    MUT("not a GGUF value type", "value type 2^32-1", patch(m, L.type_u32, UINT32_MAX, 4));
    MUT("not a GGUF value type", "array elem type 99", patch(m, L.strs_elem_type, 99, 4));
    MUT("cannot fit", "string array count 2^62", patch(m, L.strs_n, UINT64_C(1) << 62, 8));
    MUT("needs more than", "f32 array count 2^62 (x4 overflows)",
        patch(m, L.f32s_n, UINT64_C(1) << 62, 8));
    MUT("needs more than", "f32 array count 2^61", patch(m, L.f32s_n, UINT64_C(1) << 61, 8));
    MUT("needs more than", "nested inner count", patch(m, L.nest_inner_n, 1u << 20, 8));
    /* Array of u32 instead of strings: the payload no longer parses the same way. */
    MUT("", "array of uint64 instead of strings", patch(m, L.strs_elem_type, OWB_GGUF_UINT64, 4));
    MUT("duplicate key", "duplicate key", m[L.dupb_key + 8] = 'a');
    MUT("5 dimensions", "n_dims 5", patch(m, L.ti_ndims[0], 5, 4));
    MUT("dimensions", "n_dims 2^32-1", patch(m, L.ti_ndims[0], UINT32_MAX, 4));
    MUT("overflows", "dims overflow when multiplied", patch(m, L.ti_ne[0][0], UINT64_C(1) << 40, 8);
        patch(m, L.ti_ne[0][1], UINT64_C(1) << 40, 8));
    MUT("more than INT64_MAX", "dim 2^63", patch(m, L.ti_ne[0][1], UINT64_C(1) << 63, 8));
    MUT("unknown tensor type id 77", "type 77", patch(m, L.ti_type[0], 77, 4));
    MUT("unknown tensor type id 4294967295", "type 2^32-1", patch(m, L.ti_type[0], UINT32_MAX, 4));
    MUT("iq2_xxs (id 16) is not supported", "type 16", patch(m, L.ti_type[0], 16, 4));
    MUT("not supported", "type 4 (removed q4_2)", patch(m, L.ti_type[0], 4, 4));
    MUT("block size", "q8_0 row of 33", patch(m, L.ti_ne[1][0], 33, 8));
    MUT("not a multiple of the alignment", "misaligned offset", patch(m, L.ti_offset[1], 33, 8));
    MUT("data ends at", "offset past the end", patch(m, L.ti_offset[2], 4096, 8));
    MUT("overflows", "offset near 2^64", patch(m, L.ti_offset[2], UINT64_MAX - 31, 8));
    MUT("data ends at", "dims too large for the file", patch(m, L.ti_ne[0][1], 1000, 8));
    MUT("duplicate tensor name", "duplicate tensor name", m[L.ti_name[1] + 2] = 'a');
    MUT("NUL byte", "NUL in a tensor name", m[L.ti_name[1] + 1] = 0);
    MUT("NUL byte", "NUL in a key", m[L.key0_len + 8 + 3] = 0);
    MUT("tensor w.b", "error names the tensor", patch(m, L.ti_offset[1], 33, 8));
    free(m);

    /* Structural variants built from scratch. */
    struct buf c = {0};
    /* general.alignment = 3 (not a power of two), then 0. */
    for (int k = 0; k < 2; k++) {
        c.n = 0;
        b_raw(&c, "GGUF", 4);
        b_le(&c, 3, 4);
        b_le(&c, 0, 8);
        b_le(&c, 1, 8);
        b_str(&c, "general.alignment");
        b_le(&c, OWB_GGUF_UINT32, 4);
        b_le(&c, k ? 0 : 3, 4);
        rejected_with(c.p, c.n, "power of two", k ? "alignment 0" : "alignment 3");
    }
    /* general.alignment as a string. */
    c.n = 0;
    b_raw(&c, "GGUF", 4);
    b_le(&c, 3, 4);
    b_le(&c, 0, 8);
    b_le(&c, 1, 8);
    b_str(&c, "general.alignment");
    b_le(&c, OWB_GGUF_STRING, 4);
    b_str(&c, "32");
    rejected_with(c.p, c.n, "expected uint32", "alignment of type string");
    /* Arrays nested 9 deep. */
    c.n = 0;
    b_raw(&c, "GGUF", 4);
    b_le(&c, 2, 4);
    b_le(&c, 0, 8);
    b_le(&c, 1, 8);
    b_str(&c, "deep");
    b_le(&c, OWB_GGUF_ARRAY, 4);
    for (int d = 0; d < OWB_GGUF_MAX_NESTING + 1; d++) {
        b_le(&c, OWB_GGUF_ARRAY, 4);
        b_le(&c, 1, 8);
    }
    for (int d = 0; d < 64; d++)
        b_le(&c, 0, 1);
    rejected_with(c.p, c.n, "nested deeper", "arrays nested too deep");
    /* Exactly at the limit is fine: 8 levels, innermost an empty u8 array. */
    c.n = 0;
    b_raw(&c, "GGUF", 4);
    b_le(&c, 2, 4);
    b_le(&c, 0, 8);
    b_le(&c, 1, 8);
    b_str(&c, "deep");
    b_le(&c, OWB_GGUF_ARRAY, 4);
    for (int d = 0; d < OWB_GGUF_MAX_NESTING - 1; d++) {
        b_le(&c, OWB_GGUF_ARRAY, 4);
        b_le(&c, 1, 8);
    }
    b_le(&c, OWB_GGUF_UINT8, 4);
    b_le(&c, 0, 8);
    char err[OWB_ERR_MAX];
    CHECK_MSG(try_open(c.p, c.n, err), "8-deep nesting rejected: %s", err);
    /* Empty input. */
    rejected_with((const unsigned char *)"", 0, "truncated", "empty");
    free(c.p);
    free(b.p);
}

/* Boundaries of the real file's key/value pairs and tensor infos (trusting the valid file). */
static size_t real_boundaries(const unsigned char *p, size_t n, size_t *out, size_t max)
{
    size_t k = 0, off = 24;
    uint64_t nt, nkv;
    memcpy(&nt, p + 8, 8);
    memcpy(&nkv, p + 16, 8);
    out[k++] = 4, out[k++] = 8, out[k++] = 16, out[k++] = 24;
    for (uint64_t i = 0; i < nkv && off < n && k < max; i++) {
        uint64_t len, cnt;
        uint32_t t, et;
        memcpy(&len, p + off, 8);
        off += 8 + len;
        out[k++] = off;
        memcpy(&t, p + off, 4);
        off += 4;
        if (t == OWB_GGUF_STRING) {
            memcpy(&len, p + off, 8);
            off += 8 + len;
        } else if (t == OWB_GGUF_ARRAY) {
            memcpy(&et, p + off, 4);
            memcpy(&cnt, p + off + 4, 8);
            off += 12;
            for (uint64_t j = 0; j < cnt; j++) {
                if (et == OWB_GGUF_STRING) {
                    memcpy(&len, p + off, 8);
                    off += 8 + len;
                } else {
                    off += et == OWB_GGUF_UINT8 || et == OWB_GGUF_INT8 || et == OWB_GGUF_BOOL ? 1
                           : et == OWB_GGUF_UINT16 || et == OWB_GGUF_INT16                    ? 2
                           : et >= OWB_GGUF_UINT64                                            ? 8
                                                                                              : 4;
                }
            }
        } else {
            off += t == OWB_GGUF_UINT8 || t == OWB_GGUF_INT8 || t == OWB_GGUF_BOOL ? 1
                   : t == OWB_GGUF_UINT16 || t == OWB_GGUF_INT16                   ? 2
                   : t >= OWB_GGUF_UINT64                                          ? 8
                                                                                   : 4;
        }
        if (k < max)
            out[k++] = off;
    }
    for (uint64_t i = 0; i < nt && off < n && k + 4 < max; i++) {
        uint64_t len;
        uint32_t nd;
        memcpy(&len, p + off, 8);
        off += 8 + len;
        out[k++] = off;
        memcpy(&nd, p + off, 4);
        off += 4 + 8 * (size_t)nd;
        out[k++] = off;
        off += 4;
        out[k++] = off;
        off += 8;
        out[k++] = off;
    }
    return k;
}

static void real_file(void)
{
    const char *p = owb_test_data("models/gguf/stories260K.gguf");
    if (!p) {
        fprintf(stderr, "shared stories260K.gguf absent: real-file sweep skipped\n");
        return;
    }
    char path[4096], tpath[4200];
    snprintf(path, sizeof path, "%s", p);
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    size_t n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *img = malloc(n);
    OWB_ASSERT(img && fread(img, 1, n, f) == n);
    fclose(f);

    char err[OWB_ERR_MAX];
    struct owb_gguf *g = owb_gguf_open_mem(img, n, NAME, err);
    CHECK_MSG(g != NULL, "%s", err);
    size_t data_end = 0;
    for (int64_t i = 0; g && i < g->n_tensors; i++) {
        size_t e =
            (size_t)((const unsigned char *)g->tensors[i].data - img) + g->tensors[i].size_bytes;
        if (e > data_end)
            data_end = e;
    }
    owb_gguf_close(g);

    static size_t cuts[4096];
    size_t nc = real_boundaries(img, n, cuts, 1000);
    int tried = 0;
    for (size_t i = 0; i < nc; i++)
        for (int d = -1; d <= 1; d++) {
            size_t len = cuts[i] + (size_t)d;
            if (len >= data_end || cuts[i] == 0)
                continue;
            CHECK_MSG(!try_open(img, len, err), "real file cut at %zu accepted", len);
            tried++;
        }
    for (size_t len = 0; len < data_end; len += 2039) {
        CHECK_MSG(!try_open(img, len, err), "real file cut at %zu accepted", len);
        tried++;
    }
    CHECK(!try_open(img, data_end - 1, err));
    CHECK_MSG(try_open(img, data_end, err), "cut after the last tensor rejected: %s", err);

    /* The mmap path: a few cuts written to a real file. */
    const char *tmp = getenv("OWB_TMP");
    snprintf(tpath, sizeof tpath, "%s/corrupt_%d.gguf", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    for (size_t i = 0; i < nc; i += 7) {
        FILE *o = fopen(tpath, "wb");
        if (!o)
            break;
        fwrite(img, 1, cuts[i], o);
        fclose(o);
        g = owb_gguf_open(tpath, err);
        CHECK_MSG(g == NULL, "file cut at %zu accepted", cuts[i]);
        CHECK_MSG(g || strstr(err, tpath) == err, "message does not start with the path: %s", err);
        owb_gguf_close(g);
        tried++;
    }
    remove(tpath);
    g = owb_gguf_open("/nonexistent/x.gguf", err);
    CHECK(g == NULL && strstr(err, "/nonexistent/x.gguf: cannot open"));
    fprintf(stderr, "real file: %d cuts rejected (%zu boundaries)\n", tried, nc);
    free(img);
}

int main(void)
{
    truncations();
    mutations();
    real_file();
    TEST_DONE();
}
