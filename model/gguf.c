/* SPDX-License-Identifier: MIT */
/*
 * gguf.c: the GGUF reader and writer (model/gguf.h). The reader walks the mapped image with a
 * bounds-checked cursor: every length is compared with the bytes left before it is used, every
 * product and sum goes through __builtin_*_overflow, and counts are bounded by the smallest size
 * their elements can have before anything is allocated, so memory stays proportional to the file.
 * Names and keys are found through open-addressing hash tables (also used to reject duplicates).
 * The writer serialises each metadata value when it is set and streams header, tensor infos,
 * padding and borrowed tensor data into a temporary file that is renamed over the target.
 */
#define _GNU_SOURCE
#include "model/gguf.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Smallest encodings, used to bound counts before allocating: a key/value pair is an empty key
 * (8-byte length), a 4-byte type and a 1-byte value; a tensor info an empty name, n_dims, type
 * and offset; a string its 8-byte length; a nested array its type and count. */
#define MIN_KV_BYTES 13u
#define MIN_TENSOR_INFO_BYTES 24u
#define MIN_STRING_BYTES 8u
#define MIN_ARRAY_BYTES 12u

static const char *const type_names[OWB_GGUF_TYPE_COUNT] = {
    "uint8", "int8",   "uint16", "int16",  "uint32", "int32",   "float32",
    "bool",  "string", "array",  "uint64", "int64",  "float64",
};

/* ggml's names for type ids owbench may not support, so errors can name them. */
static const char *ggml_type_name(uint32_t id)
{
    static const char *const names[] = {
        "f32",   "f16",        "q4_0",       "q4_1",       "q4_2",     "q4_3",     "q5_0",
        "q5_1",  "q8_0",       "q8_1",       "q2_K",       "q3_K",     "q4_K",     "q5_K",
        "q6_K",  "q8_K",       "iq2_xxs",    "iq2_xs",     "iq3_xxs",  "iq1_s",    "iq4_nl",
        "iq3_s", "iq2_s",      "iq4_xs",     "i8",         "i16",      "i32",      "i64",
        "f64",   "iq1_m",      "bf16",       "q4_0_4_4",   "q4_0_4_8", "q4_0_8_8", "tq1_0",
        "tq2_0", "iq4_nl_4_4", "iq4_nl_4_8", "iq4_nl_8_8", "mxfp4",
    };
    return id < OWB_ARRAY_LEN(names) ? names[id] : NULL;
}

/* Fill a caller's error buffer (vsnprintf: messages longer than OWB_ERR_MAX are cut). */
size_t owb_gguf_scalar_size(enum owb_gguf_type t)
{
    switch (t) {
    case OWB_GGUF_UINT8:
    case OWB_GGUF_INT8:
    case OWB_GGUF_BOOL:
        return 1;
    case OWB_GGUF_UINT16:
    case OWB_GGUF_INT16:
        return 2;
    case OWB_GGUF_UINT32:
    case OWB_GGUF_INT32:
    case OWB_GGUF_FLOAT32:
        return 4;
    case OWB_GGUF_UINT64:
    case OWB_GGUF_INT64:
    case OWB_GGUF_FLOAT64:
        return 8;
    default:
        return 0; /* string, array, invalid */
    }
}

const char *owb_gguf_type_name(enum owb_gguf_type t)
{
    return (unsigned)t < OWB_GGUF_TYPE_COUNT ? type_names[t] : "?";
}

/* ---- little-endian decoding (independent of the host byte order) ---- */

static uint64_t le(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void decode_scalar(enum owb_gguf_type t, const unsigned char *p, struct owb_gguf_value *out)
{
    out->type = t;
    switch (t) {
    case OWB_GGUF_UINT8:
    case OWB_GGUF_UINT16:
    case OWB_GGUF_UINT32:
    case OWB_GGUF_UINT64:
        out->v.u = le(p, owb_gguf_scalar_size(t));
        break;
    case OWB_GGUF_INT8:
        out->v.i = (int8_t)p[0];
        break;
    case OWB_GGUF_INT16:
        out->v.i = (int16_t)(uint16_t)le(p, 2);
        break;
    case OWB_GGUF_INT32:
        out->v.i = (int32_t)(uint32_t)le(p, 4);
        break;
    case OWB_GGUF_INT64:
        out->v.i = (int64_t)le(p, 8);
        break;
    case OWB_GGUF_FLOAT32: {
        uint32_t bits = (uint32_t)le(p, 4);
        float f;
        memcpy(&f, &bits, 4);
        out->v.f = (double)f;
        break;
    }
    case OWB_GGUF_FLOAT64: {
        uint64_t bits = le(p, 8);
        memcpy(&out->v.f, &bits, 8);
        break;
    }
    case OWB_GGUF_BOOL:
        out->v.b = p[0] != 0;
        break;
    default:
        break;
    }
}

/* Copy up to 64 bytes of an untrusted name into dst for a message, control bytes as '?'. */
static const char *printable(char *dst, size_t cap, const char *s, uint64_t len)
{
    size_t n = 0;
    const size_t limit = cap > 68 ? 64 : cap - 4;
    for (uint64_t i = 0; i < len && n < limit; i++) {
        unsigned char ch = (unsigned char)s[i];
        dst[n++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    if (len > n) {
        memcpy(dst + n, "...", 3);
        n += 3;
    }
    dst[n] = '\0';
    return dst;
}

/* ---- hash table of (ptr, len) strings: slot holds index + 1, 0 = empty ---- */

struct strtab {
    uint64_t *slots;
    uint64_t mask;
};

static uint64_t hash_bytes(const char *s, uint64_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (uint64_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static int strtab_init(struct strtab *t, uint64_t n)
{
    uint64_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    t->slots = calloc(cap, sizeof *t->slots);
    t->mask = cap - 1;
    return t->slots ? 0 : OWB_E_NOMEM;
}

/* Find s in the table; returns its index or -1. With insert_idx >= 0, inserts it when absent. */
static int64_t strtab_find(struct strtab *t, const struct owb_gguf_str *strs, const char *s,
                           uint64_t n, int64_t insert_idx)
{
    if (!t->slots)
        return -1;
    for (uint64_t h = hash_bytes(s, n) & t->mask;; h = (h + 1) & t->mask) {
        uint64_t v = t->slots[h];
        if (v == 0) {
            if (insert_idx >= 0)
                t->slots[h] = (uint64_t)insert_idx + 1;
            return -1;
        }
        const struct owb_gguf_str *e = &strs[v - 1];
        if (e->len == n && memcmp(e->ptr, s, n) == 0)
            return (int64_t)(v - 1);
    }
}

struct priv {
    struct owb_gguf_str *knames; /* keys, in the mapping */
    struct owb_gguf_str *tnames; /* tensor names, in the mapping */
    struct strtab ktab, ttab;
    char *arena; /* NUL-terminated copies of keys and names */
    char *path;
};

/* ---- cursor ---- */

struct cur {
    const unsigned char *p;
    size_t size;
    size_t off;
    const char *path;
    char *err;
    char ctx[200]; /* what is being read, e.g. "key general.name" */
};

__attribute__((format(printf, 2, 3))) static int fail(struct cur *c, const char *fmt, ...)
{
    char msg[OWB_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    owb_seterr(c->err, "%s: %s: %s", c->path, c->ctx, msg);
    return OWB_E_FORMAT;
}

static int need(struct cur *c, uint64_t n, const char *what)
{
    if (n > c->size - c->off)
        return fail(c, "truncated: %s needs %" PRIu64 " bytes at offset %zu, file has %zu bytes",
                    what, n, c->off, c->size);
    return 0;
}

static int rd_u32(struct cur *c, uint32_t *v, const char *what)
{
    if (need(c, 4, what))
        return OWB_E_FORMAT;
    *v = (uint32_t)le(c->p + c->off, 4);
    c->off += 4;
    return 0;
}

static int rd_u64(struct cur *c, uint64_t *v, const char *what)
{
    if (need(c, 8, what))
        return OWB_E_FORMAT;
    *v = le(c->p + c->off, 8);
    c->off += 8;
    return 0;
}

static int rd_str(struct cur *c, struct owb_gguf_str *s, const char *what)
{
    uint64_t len;
    if (rd_u64(c, &len, what))
        return OWB_E_FORMAT;
    if (len > c->size - c->off)
        return fail(c,
                    "%s length %" PRIu64 " runs past the end of the file (offset %zu, file has "
                    "%zu bytes)",
                    what, len, c->off, c->size);
    s->ptr = (const char *)c->p + c->off;
    s->len = len;
    c->off += (size_t)len;
    return 0;
}

static void free_value(struct owb_gguf_value *v)
{
    if (v->type != OWB_GGUF_ARRAY || !v->v.arr.elems)
        return;
    if (v->v.arr.elem_type == OWB_GGUF_ARRAY)
        for (uint64_t i = 0; i < v->v.arr.n; i++)
            free_value(&v->v.arr.elems[i]);
    free(v->v.arr.elems);
    v->v.arr.elems = NULL;
}

/* Parse the payload of a value of type t (the type tag has been read). */
static int parse_value(struct cur *c, enum owb_gguf_type t, struct owb_gguf_value *out, int depth)
{
    memset(out, 0, sizeof *out);
    out->type = t;
    if (t == OWB_GGUF_STRING)
        return rd_str(c, &out->v.s, "string");
    if (t != OWB_GGUF_ARRAY) {
        size_t sz = owb_gguf_scalar_size(t);
        if (need(c, sz, owb_gguf_type_name(t)))
            return OWB_E_FORMAT;
        decode_scalar(t, c->p + c->off, out);
        c->off += sz;
        return 0;
    }
    if (depth >= OWB_GGUF_MAX_NESTING)
        return fail(c, "arrays nested deeper than %d levels", OWB_GGUF_MAX_NESTING);
    uint32_t et;
    uint64_t n;
    if (rd_u32(c, &et, "array element type"))
        return OWB_E_FORMAT;
    if (et >= OWB_GGUF_TYPE_COUNT)
        return fail(c, "array element type %" PRIu32 " is not a GGUF value type (0..12)", et);
    if (rd_u64(c, &n, "array length"))
        return OWB_E_FORMAT;
    out->v.arr.elem_type = (enum owb_gguf_type)et;
    out->v.arr.n = n;
    out->v.arr.raw = c->p + c->off;
    size_t left = c->size - c->off;
    size_t es = owb_gguf_scalar_size((enum owb_gguf_type)et);
    if (es) {
        uint64_t total;
        if (__builtin_mul_overflow(n, (uint64_t)es, &total) || total > left)
            return fail(c,
                        "array of %" PRIu64 " %s values needs more than the %zu bytes left "
                        "(offset %zu, file has %zu bytes)",
                        n, type_names[et], left, c->off, c->size);
        c->off += (size_t)total;
        return 0;
    }
    uint64_t min = et == OWB_GGUF_STRING ? MIN_STRING_BYTES : MIN_ARRAY_BYTES;
    if (n > left / min)
        return fail(c,
                    "array of %" PRIu64 " %ss cannot fit in the %zu bytes left (offset %zu, "
                    "file has %zu bytes)",
                    n, type_names[et], left, c->off, c->size);
    if (n == 0)
        return 0;
    out->v.arr.elems = calloc((size_t)n, sizeof *out->v.arr.elems);
    if (!out->v.arr.elems) {
        owb_seterr(c->err, "%s: %s: out of memory for %" PRIu64 " array elements", c->path, c->ctx,
                   n);
        return OWB_E_NOMEM;
    }
    for (uint64_t i = 0; i < n; i++) {
        int rc;
        if (et == OWB_GGUF_STRING) {
            out->v.arr.elems[i].type = OWB_GGUF_STRING;
            rc = rd_str(c, &out->v.arr.elems[i].v.s, "string element");
        } else {
            rc = parse_value(c, OWB_GGUF_ARRAY, &out->v.arr.elems[i], depth + 1);
        }
        if (rc) {
            free_value(out);
            return rc;
        }
    }
    return 0;
}

void owb_gguf_close(struct owb_gguf *g)
{
    if (!g)
        return;
    struct priv *pv = g->priv;
    if (g->kv)
        for (int64_t i = 0; i < g->n_kv; i++)
            free_value(&g->kv[i].value);
    free(g->kv);
    free(g->tensors);
    if (pv) {
        free(pv->knames);
        free(pv->tnames);
        free(pv->ktab.slots);
        free(pv->ttab.slots);
        free(pv->arena);
        free(pv->path);
        free(pv);
    }
    if (g->map)
        munmap(g->map, g->file_size);
    free(g);
}

int owb_gguf_tensor_size(enum owb_type type, int n_dims, const int64_t *ne, size_t *size,
                         char err[OWB_ERR_MAX])
{
    const struct owb_type_traits *tr = owb_type_traits(type);
    *size = 0;
    if (!tr || tr->blck_size <= 0 || tr->type_size == 0) {
        owb_seterr(err, "tensor type id %d is not supported", (int)type);
        return OWB_E_FORMAT;
    }
    if (n_dims < 0 || n_dims > OWB_GGUF_MAX_DIMS) {
        owb_seterr(err, "%d dimensions (at most %d)", n_dims, OWB_GGUF_MAX_DIMS);
        return OWB_E_USAGE;
    }
    int64_t d0 = n_dims > 0 ? ne[0] : 1;
    for (int d = 0; d < n_dims; d++)
        if (ne[d] < 0) {
            owb_seterr(err, "dimension %d is negative (%" PRId64 ")", d, ne[d]);
            return OWB_E_FORMAT;
        }
    if (d0 % tr->blck_size != 0) {
        owb_seterr(err, "row length %" PRId64 " is not a multiple of the %s block size %" PRId64,
                   d0, tr->name, tr->blck_size);
        return OWB_E_FORMAT;
    }
    uint64_t bytes;
    if (__builtin_mul_overflow((uint64_t)(d0 / tr->blck_size), (uint64_t)tr->type_size, &bytes))
        goto overflow;
    for (int d = 1; d < n_dims; d++)
        if (__builtin_mul_overflow(bytes, (uint64_t)ne[d], &bytes))
            goto overflow;
    if (bytes > SIZE_MAX)
        goto overflow;
    *size = (size_t)bytes;
    return 0;
overflow:
    owb_seterr(err, "size in bytes of a %s tensor of this shape overflows", tr->name);
    return OWB_E_FORMAT;
}

static int parse(struct owb_gguf *g, char err[OWB_ERR_MAX])
{
    struct priv *pv = g->priv;
    struct cur c = {.p = g->base, .size = g->file_size, .path = g->path, .err = err};
    char nm[80];
    int rc;
    snprintf(c.ctx, sizeof c.ctx, "header");

    if (need(&c, 4, "magic"))
        return OWB_E_FORMAT;
    if (memcmp(c.p, "GGUF", 4) != 0) {
        owb_seterr(err, "%s: not a GGUF file (magic bytes %02x %02x %02x %02x, expected \"GGUF\")",
                   g->path, c.p[0], c.p[1], c.p[2], c.p[3]);
        return OWB_E_FORMAT;
    }
    c.off = 4;
    if ((rc = rd_u32(&c, &g->version, "version")))
        return rc;
    if (g->version != 0 && (g->version & 0xffffu) == 0) {
        owb_seterr(err,
                   "%s: big-endian GGUF (version field reads 0x%08" PRIx32
                   "); only little-endian files are supported",
                   g->path, g->version);
        return OWB_E_FORMAT;
    }
    if (g->version == 1) {
        owb_seterr(err,
                   "%s: GGUF version 1 is not supported (32-bit counts; only versions 2 and 3)",
                   g->path);
        return OWB_E_FORMAT;
    }
    if (g->version < 2 || g->version > 3) {
        owb_seterr(err, "%s: unsupported GGUF version %" PRIu32 " (only 2 and 3)", g->path,
                   g->version);
        return OWB_E_FORMAT;
    }
    uint64_t n_tensors, n_kv;
    if ((rc = rd_u64(&c, &n_tensors, "tensor count")) || (rc = rd_u64(&c, &n_kv, "key count")))
        return rc;
    size_t left = c.size - c.off;
    if (n_kv > left / MIN_KV_BYTES)
        return fail(&c, "%" PRIu64 " key/value pairs cannot fit in the %zu bytes left", n_kv, left);
    if (n_tensors > left / MIN_TENSOR_INFO_BYTES)
        return fail(&c, "%" PRIu64 " tensor infos cannot fit in the %zu bytes left", n_tensors,
                    left);
    g->n_kv = (int64_t)n_kv;
    g->n_tensors = (int64_t)n_tensors;
    g->kv = calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    pv->knames = calloc(n_kv ? n_kv : 1, sizeof *pv->knames);
    g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    pv->tnames = calloc(n_tensors ? n_tensors : 1, sizeof *pv->tnames);
    if (!g->kv || !pv->knames || !g->tensors || !pv->tnames || strtab_init(&pv->ktab, n_kv) ||
        strtab_init(&pv->ttab, n_tensors)) {
        owb_seterr(err, "%s: out of memory", g->path);
        return OWB_E_NOMEM;
    }
    uint64_t arena_bytes = 0;

    for (uint64_t i = 0; i < n_kv; i++) {
        snprintf(c.ctx, sizeof c.ctx, "key/value pair %" PRIu64, i);
        struct owb_gguf_str *k = &pv->knames[i];
        if ((rc = rd_str(&c, k, "key")))
            return rc;
        snprintf(c.ctx, sizeof c.ctx, "key %s", printable(nm, sizeof nm, k->ptr, k->len));
        if (memchr(k->ptr, 0, (size_t)k->len))
            return fail(&c, "key contains a NUL byte");
        int64_t dup = strtab_find(&pv->ktab, pv->knames, k->ptr, k->len, (int64_t)i);
        if (dup >= 0)
            return fail(&c, "duplicate key (pairs %" PRId64 " and %" PRIu64 ")", dup, i);
        arena_bytes += k->len + 1;
        uint32_t t;
        if ((rc = rd_u32(&c, &t, "value type")))
            return rc;
        if (t >= OWB_GGUF_TYPE_COUNT)
            return fail(&c, "value type %" PRIu32 " is not a GGUF value type (0..12)", t);
        if ((rc = parse_value(&c, (enum owb_gguf_type)t, &g->kv[i].value, 0)))
            return rc;
    }

    g->alignment = OWB_GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = strtab_find(&pv->ktab, pv->knames, "general.alignment", 17, -1);
    if (ai >= 0) {
        const struct owb_gguf_value *v = &g->kv[ai].value;
        snprintf(c.ctx, sizeof c.ctx, "key general.alignment");
        if (v->type != OWB_GGUF_UINT32)
            return fail(&c, "has type %s, expected uint32", type_names[v->type]);
        if (v->v.u == 0 || (v->v.u & (v->v.u - 1)) != 0)
            return fail(&c, "alignment %" PRIu64 " is not a power of two", v->v.u);
        g->alignment = (uint32_t)v->v.u;
    }

    for (uint64_t i = 0; i < n_tensors; i++) {
        struct owb_gguf_tensor *t = &g->tensors[i];
        snprintf(c.ctx, sizeof c.ctx, "tensor info %" PRIu64, i);
        struct owb_gguf_str *name = &pv->tnames[i];
        if ((rc = rd_str(&c, name, "tensor name")))
            return rc;
        snprintf(c.ctx, sizeof c.ctx, "tensor %s", printable(nm, sizeof nm, name->ptr, name->len));
        if (memchr(name->ptr, 0, (size_t)name->len))
            return fail(&c, "tensor name contains a NUL byte");
        int64_t dup = strtab_find(&pv->ttab, pv->tnames, name->ptr, name->len, (int64_t)i);
        if (dup >= 0)
            return fail(&c, "duplicate tensor name (tensors %" PRId64 " and %" PRIu64 ")", dup, i);
        arena_bytes += name->len + 1;
        uint32_t nd;
        if ((rc = rd_u32(&c, &nd, "dimension count")))
            return rc;
        if (nd > OWB_GGUF_MAX_DIMS)
            return fail(&c, "%" PRIu32 " dimensions, at most %d are supported", nd,
                        OWB_GGUF_MAX_DIMS);
        t->n_dims = (int)nd;
        for (int d = 0; d < OWB_GGUF_MAX_DIMS; d++)
            t->ne[d] = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t v;
            if ((rc = rd_u64(&c, &v, "dimension")))
                return rc;
            if (v > (uint64_t)INT64_MAX)
                return fail(&c, "dimension %" PRIu32 " is %" PRIu64 ", more than INT64_MAX", d, v);
            t->ne[d] = (int64_t)v;
        }
        int64_t nel = 1;
        for (int d = 0; d < OWB_GGUF_MAX_DIMS; d++)
            if (__builtin_mul_overflow(nel, t->ne[d], &nel))
                return fail(&c,
                            "element count of shape [%" PRId64 ", %" PRId64 ", %" PRId64
                            ", %" PRId64 "] overflows",
                            t->ne[0], t->ne[1], t->ne[2], t->ne[3]);
        t->n_elements = nel;
        uint32_t ty;
        if ((rc = rd_u32(&c, &ty, "tensor type")))
            return rc;
        if (ty >= OWB_TYPE_COUNT || !owb_type_traits((enum owb_type)ty)) {
            const char *gn = ggml_type_name(ty);
            if (gn)
                return fail(&c, "type %s (id %" PRIu32 ") is not supported", gn, ty);
            return fail(&c, "unknown tensor type id %" PRIu32, ty);
        }
        t->type = (enum owb_type)ty;
        if ((rc = rd_u64(&c, &t->offset, "data offset")))
            return rc;
        char serr[OWB_ERR_MAX];
        if (owb_gguf_tensor_size(t->type, t->n_dims, t->ne, &t->size_bytes, serr))
            return fail(&c, "%s", serr);
        if (t->offset % g->alignment != 0)
            return fail(&c, "data offset %" PRIu64 " is not a multiple of the alignment %" PRIu32,
                        t->offset, g->alignment);
    }

    /* Data section: after the tensor infos, aligned. */
    snprintf(c.ctx, sizeof c.ctx, "tensor data");
    size_t data_off = c.off;
    if (data_off % g->alignment)
        data_off += g->alignment - data_off % g->alignment; /* off <= size < SIZE_MAX - 2^32 */
    if (n_tensors == 0 && data_off > g->file_size)
        data_off = g->file_size; /* no data section: files may end right after the metadata */
    g->data_offset = data_off;
    for (uint64_t i = 0; i < n_tensors; i++) {
        struct owb_gguf_tensor *t = &g->tensors[i];
        uint64_t start, end;
        snprintf(c.ctx, sizeof c.ctx, "tensor %s",
                 printable(nm, sizeof nm, pv->tnames[i].ptr, pv->tnames[i].len));
        if (__builtin_add_overflow((uint64_t)data_off, t->offset, &start) ||
            __builtin_add_overflow(start, (uint64_t)t->size_bytes, &end))
            return fail(&c, "data offset %" PRIu64 " + size %zu overflows", t->offset,
                        t->size_bytes);
        if (end > g->file_size)
            return fail(&c, "data ends at %" PRIu64 ", file has %zu bytes", end, g->file_size);
        t->data = g->base + start;
    }

    /* NUL-terminated copies of keys and names (the mapping's strings are not terminated). */
    pv->arena = malloc(arena_bytes ? (size_t)arena_bytes : 1);
    if (!pv->arena) {
        owb_seterr(err, "%s: out of memory", g->path);
        return OWB_E_NOMEM;
    }
    char *a = pv->arena;
    for (uint64_t i = 0; i < n_kv; i++) {
        memcpy(a, pv->knames[i].ptr, pv->knames[i].len);
        a[pv->knames[i].len] = '\0';
        g->kv[i].key = a;
        a += pv->knames[i].len + 1;
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        memcpy(a, pv->tnames[i].ptr, pv->tnames[i].len);
        a[pv->tnames[i].len] = '\0';
        g->tensors[i].name = a;
        a += pv->tnames[i].len + 1;
    }
    return 0;
}

static struct owb_gguf *new_reader(const char *name, char err[OWB_ERR_MAX])
{
    struct owb_gguf *g = calloc(1, sizeof *g);
    struct priv *pv = calloc(1, sizeof *pv);
    char *p = strdup(name ? name : "(memory)");
    if (!g || !pv || !p) {
        free(g);
        free(pv);
        free(p);
        owb_seterr(err, "%s: out of memory", name ? name : "(memory)");
        return NULL;
    }
    pv->path = p;
    g->path = p;
    g->priv = pv;
    return g;
}

struct owb_gguf *owb_gguf_open_mem(const void *data, size_t size, const char *name,
                                   char err[OWB_ERR_MAX])
{
    struct owb_gguf *g = new_reader(name, err);
    if (!g)
        return NULL;
    g->base = data;
    g->file_size = size;
    if (!data && size) {
        owb_seterr(err, "%s: no data", g->path);
        goto fail;
    }
    if (parse(g, err))
        goto fail;
    return g;
fail:
    owb_gguf_close(g);
    return NULL;
}

int owb_gguf_mem_parse(const char *s)
{
    if (!strcmp(s, "auto"))
        return OWB_GGUF_MEM_AUTO;
    if (!strcmp(s, "mmap"))
        return OWB_GGUF_MEM_MMAP;
    if (!strcmp(s, "copy"))
        return OWB_GGUF_MEM_COPY;
    return -1;
}

const char *owb_gguf_mem_name(enum owb_gguf_mem m)
{
    return m == OWB_GGUF_MEM_MMAP ? "mmap" : m == OWB_GGUF_MEM_COPY ? "copy" : "auto";
}

/* MemAvailable of /proc/meminfo in bytes; 0 when unreadable. */
static uint64_t mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    uint64_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %" SCNu64 " kB", &kb) == 1)
            break;
    fclose(f);
    return kb * 1024u;
}

/* AnonHugePages of the mappings that overlap [addr, addr + size), from /proc/self/smaps; 0 when
 * unreadable. (A neighbouring anonymous read-only mapping merged into the same VMA would be
 * counted too; the figure is what the process's weights can at most be backed by.) */
static size_t huge_bytes_of(const void *addr, size_t size)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return 0;
    char line[512];
    bool in = false;
    uint64_t total = 0, kb;
    const uintptr_t a0 = (uintptr_t)addr, a1 = a0 + size;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        const char *dash = strchr(line, '-'), *sp = strchr(line, ' ');
        if (dash && sp && dash < sp && sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
            in = (uintptr_t)lo < a1 && (uintptr_t)hi > a0;
            continue;
        }
        if (in && sscanf(line, "AnonHugePages: %" SCNu64 " kB", &kb) == 1)
            total += kb;
    }
    fclose(f);
    return (size_t)total * 1024u;
}

/* Anonymous huge-page-advised copy of the file; MAP_FAILED (errno set) on failure. */
static void *copy_file(int fd, size_t size, char err[OWB_ERR_MAX], const char *path)
{
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        owb_seterr(err, "%s: cannot allocate %zu bytes for the weights: %s", path, size,
                   strerror(errno));
        return MAP_FAILED;
    }
    madvise(m, size, MADV_HUGEPAGE); /* best effort: THP may be off */
    const size_t chunk = (size_t)64 << 20;
    for (size_t done = 0; done < size;) {
        size_t n = size - done > chunk ? chunk : size - done;
        ssize_t r = pread(fd, (char *)m + done, n, (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            owb_seterr(err, "%s: read failed at byte %zu of %zu: %s", path, done, size,
                       r < 0 ? strerror(errno) : "unexpected end of file");
            munmap(m, size);
            errno = EIO;
            return MAP_FAILED;
        }
        posix_fadvise(fd, (off_t)done, (off_t)r, POSIX_FADV_DONTNEED);
        done += (size_t)r;
    }
    if (mprotect(m, size, PROT_READ) != 0) { /* the weights are read-only, as when mapped */
        owb_seterr(err, "%s: mprotect: %s", path, strerror(errno));
        munmap(m, size);
        return MAP_FAILED;
    }
    return m;
}

struct owb_gguf *owb_gguf_open_weights(const char *path, enum owb_gguf_mem mem,
                                       enum owb_gguf_mem *used, size_t *huge_bytes,
                                       char err[OWB_ERR_MAX])
{
    struct owb_gguf *g = new_reader(path, err);
    int fd = -1;
    if (used)
        *used = OWB_GGUF_MEM_MMAP;
    if (huge_bytes)
        *huge_bytes = 0;
    if (!g)
        return NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        owb_seterr(err, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        owb_seterr(err, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        owb_seterr(err, "%s: not a regular file", path);
        goto fail;
    }
    if (st.st_size == 0) {
        owb_seterr(err, "%s: file is empty (0 bytes)", path);
        goto fail;
    }
    if ((uint64_t)st.st_size > SIZE_MAX / 2) {
        owb_seterr(err, "%s: file too large to map", path);
        goto fail;
    }
    g->file_size = (size_t)st.st_size;
    if (mem == OWB_GGUF_MEM_AUTO) {
        const uint64_t avail = mem_available();
        mem = avail && (uint64_t)g->file_size + ((uint64_t)1 << 30) <= avail / 10 * 8
                  ? OWB_GGUF_MEM_COPY
                  : OWB_GGUF_MEM_MMAP;
        if (mem == OWB_GGUF_MEM_COPY) {
            char cerr[OWB_ERR_MAX];
            void *m = copy_file(fd, g->file_size, cerr, path);
            if (m == MAP_FAILED && errno != EIO)
                mem = OWB_GGUF_MEM_MMAP; /* allocation refused: fall back to the page cache */
            else if (m == MAP_FAILED) {
                owb_seterr(err, "%s", cerr);
                goto fail;
            } else
                g->map = m;
        }
    } else if (mem == OWB_GGUF_MEM_COPY) {
        void *m = copy_file(fd, g->file_size, err, path);
        if (m == MAP_FAILED)
            goto fail;
        g->map = m;
    }
    if (!g->map) {
        mem = OWB_GGUF_MEM_MMAP;
        void *m = mmap(NULL, g->file_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            owb_seterr(err, "%s: mmap failed: %s", path, strerror(errno));
            goto fail;
        }
        g->map = m;
    }
    g->base = g->map;
    close(fd);
    fd = -1;
    if (parse(g, err))
        goto fail;
    if (used)
        *used = mem;
    g->owned = mem == OWB_GGUF_MEM_COPY;
    if (huge_bytes && mem == OWB_GGUF_MEM_COPY)
        *huge_bytes = huge_bytes_of(g->map, g->file_size);
    return g;
fail:
    if (fd >= 0)
        close(fd);
    owb_gguf_close(g);
    return NULL;
}

int owb_gguf_writable(const struct owb_gguf *g, bool writable, char err[OWB_ERR_MAX])
{
    if (!g->owned || !g->map) {
        owb_seterr(err, "%s: the weights are a file mapping, not a private copy", g->path);
        return OWB_E_UNSUPPORTED;
    }
    if (mprotect(g->map, g->file_size, writable ? PROT_READ | PROT_WRITE : PROT_READ) != 0) {
        owb_seterr(err, "%s: mprotect: %s", g->path, strerror(errno));
        return OWB_E_IO;
    }
    return OWB_OK;
}

void owb_gguf_set_wlayout(const struct owb_gguf *g, const struct owb_gguf_tensor *t, int wl)
{
    OWB_ASSERT(g->owned && t >= g->tensors && t < g->tensors + g->n_tensors);
    g->tensors[t - g->tensors].wlayout = wl; /* the table is the reader's own allocation */
}

struct owb_gguf *owb_gguf_open(const char *path, char err[OWB_ERR_MAX])
{
    return owb_gguf_open_weights(path, OWB_GGUF_MEM_MMAP, NULL, NULL, err);
}

/* ---- lookups ---- */

const struct owb_gguf_kv *owb_gguf_find(const struct owb_gguf *g, const char *key)
{
    struct priv *pv = g->priv;
    int64_t i = strtab_find(&pv->ktab, pv->knames, key, strlen(key), -1);
    return i >= 0 ? &g->kv[i] : NULL;
}

const struct owb_gguf_tensor *owb_gguf_tensor(const struct owb_gguf *g, const char *name)
{
    struct priv *pv = g->priv;
    int64_t i = strtab_find(&pv->ttab, pv->tnames, name, strlen(name), -1);
    return i >= 0 ? &g->tensors[i] : NULL;
}

static const struct owb_gguf_value *lookup(const struct owb_gguf *g, const char *key,
                                           char err[OWB_ERR_MAX])
{
    const struct owb_gguf_kv *kv = owb_gguf_find(g, key);
    if (!kv) {
        owb_seterr(err, "%s: key %s is missing", g->path, key);
        return NULL;
    }
    return &kv->value;
}

static int wrong_type(const struct owb_gguf *g, const char *key, const struct owb_gguf_value *v,
                      const char *want, char err[OWB_ERR_MAX])
{
    owb_seterr(err, "%s: key %s has type %s, expected %s", g->path, key,
               owb_gguf_type_name(v->type), want);
    return OWB_E_FORMAT;
}

static bool is_unsigned(enum owb_gguf_type t)
{
    return t == OWB_GGUF_UINT8 || t == OWB_GGUF_UINT16 || t == OWB_GGUF_UINT32 ||
           t == OWB_GGUF_UINT64;
}

static bool is_signed(enum owb_gguf_type t)
{
    return t == OWB_GGUF_INT8 || t == OWB_GGUF_INT16 || t == OWB_GGUF_INT32 || t == OWB_GGUF_INT64;
}

/* Integer value as [lo, hi]-checked int64/uint64; kind 0 unsigned target, 1 signed target. */
static int get_int(const struct owb_gguf *g, const char *key, bool want_signed, int64_t lo,
                   uint64_t hi, uint64_t *u, int64_t *s, char err[OWB_ERR_MAX])
{
    const struct owb_gguf_value *v = lookup(g, key, err);
    if (!v)
        return OWB_E_FORMAT;
    bool neg;
    uint64_t mag;
    if (is_unsigned(v->type)) {
        neg = false;
        mag = v->v.u;
    } else if (is_signed(v->type)) {
        neg = v->v.i < 0;
        mag = neg ? (uint64_t)0 - (uint64_t)v->v.i : (uint64_t)v->v.i;
    } else {
        return wrong_type(g, key, v, want_signed ? "a signed integer" : "an unsigned integer", err);
    }
    if ((neg && mag > (uint64_t)0 - (uint64_t)lo) || (!neg && mag > hi) || (neg && lo == 0)) {
        owb_seterr(err, "%s: key %s value %s%" PRIu64 " is out of range", g->path, key,
                   neg ? "-" : "", mag);
        return OWB_E_FORMAT;
    }
    if (u)
        *u = mag;
    if (s)
        *s = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;
}

int owb_gguf_get_u32(const struct owb_gguf *g, const char *key, uint32_t *out,
                     char err[OWB_ERR_MAX])
{
    uint64_t u;
    int rc = get_int(g, key, false, 0, UINT32_MAX, &u, NULL, err);
    if (!rc)
        *out = (uint32_t)u;
    return rc;
}

int owb_gguf_get_u64(const struct owb_gguf *g, const char *key, uint64_t *out,
                     char err[OWB_ERR_MAX])
{
    return get_int(g, key, false, 0, UINT64_MAX, out, NULL, err);
}

int owb_gguf_get_i32(const struct owb_gguf *g, const char *key, int32_t *out, char err[OWB_ERR_MAX])
{
    int64_t s;
    int rc = get_int(g, key, true, INT32_MIN, INT32_MAX, NULL, &s, err);
    if (!rc)
        *out = (int32_t)s;
    return rc;
}

int owb_gguf_get_f32(const struct owb_gguf *g, const char *key, float *out, char err[OWB_ERR_MAX])
{
    const struct owb_gguf_value *v = lookup(g, key, err);
    if (!v)
        return OWB_E_FORMAT;
    if (v->type != OWB_GGUF_FLOAT32 && v->type != OWB_GGUF_FLOAT64)
        return wrong_type(g, key, v, "float32", err);
    *out = (float)v->v.f;
    return 0;
}

int owb_gguf_get_bool(const struct owb_gguf *g, const char *key, bool *out, char err[OWB_ERR_MAX])
{
    const struct owb_gguf_value *v = lookup(g, key, err);
    if (!v)
        return OWB_E_FORMAT;
    if (v->type != OWB_GGUF_BOOL)
        return wrong_type(g, key, v, "bool", err);
    *out = v->v.b;
    return 0;
}

int owb_gguf_get_str(const struct owb_gguf *g, const char *key, struct owb_gguf_str *out,
                     char err[OWB_ERR_MAX])
{
    const struct owb_gguf_value *v = lookup(g, key, err);
    if (!v)
        return OWB_E_FORMAT;
    if (v->type != OWB_GGUF_STRING)
        return wrong_type(g, key, v, "string", err);
    *out = v->v.s;
    return 0;
}

int owb_gguf_get_arr(const struct owb_gguf *g, const char *key, enum owb_gguf_type want,
                     const struct owb_gguf_value **arr, uint64_t *n, char err[OWB_ERR_MAX])
{
    const struct owb_gguf_value *v = lookup(g, key, err);
    if (!v)
        return OWB_E_FORMAT;
    if (v->type != OWB_GGUF_ARRAY)
        return wrong_type(g, key, v, "array", err);
    if (want != OWB_GGUF_TYPE_COUNT && v->v.arr.elem_type != want) {
        owb_seterr(err, "%s: key %s is an array of %s, expected an array of %s", g->path, key,
                   owb_gguf_type_name(v->v.arr.elem_type), owb_gguf_type_name(want));
        return OWB_E_FORMAT;
    }
    *arr = v;
    if (n)
        *n = v->v.arr.n;
    return 0;
}

void owb_gguf_arr_elem(const struct owb_gguf_value *arr, uint64_t i, struct owb_gguf_value *out)
{
    OWB_ASSERT(arr->type == OWB_GGUF_ARRAY && i < arr->v.arr.n);
    if (arr->v.arr.elems) {
        *out = arr->v.arr.elems[i];
        return;
    }
    size_t es = owb_gguf_scalar_size(arr->v.arr.elem_type);
    decode_scalar(arr->v.arr.elem_type, arr->v.arr.raw + i * es, out);
}

double owb_gguf_arr_num(const struct owb_gguf_value *arr, uint64_t i)
{
    struct owb_gguf_value v;
    owb_gguf_arr_elem(arr, i, &v);
    if (is_unsigned(v.type))
        return (double)v.v.u;
    if (is_signed(v.type))
        return (double)v.v.i;
    if (v.type == OWB_GGUF_FLOAT32 || v.type == OWB_GGUF_FLOAT64)
        return v.v.f;
    if (v.type == OWB_GGUF_BOOL)
        return v.v.b ? 1.0 : 0.0;
    return 0.0;
}

struct owb_gguf_str owb_gguf_arr_str(const struct owb_gguf_value *arr, uint64_t i)
{
    OWB_ASSERT(arr->type == OWB_GGUF_ARRAY && arr->v.arr.elem_type == OWB_GGUF_STRING &&
               i < arr->v.arr.n);
    return arr->v.arr.elems[i].v.s;
}

/* ---- writer ---- */

struct bytes {
    unsigned char *p;
    size_t n, cap;
    bool oom;
};

static void put(struct bytes *b, const void *src, size_t n)
{
    if (b->oom)
        return;
    if (n > b->cap - b->n) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->n < n) {
            if (cap > SIZE_MAX / 2) {
                b->oom = true;
                return;
            }
            cap *= 2;
        }
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_le(struct bytes *b, uint64_t v, size_t n)
{
    unsigned char t[8];
    for (size_t i = 0; i < n; i++)
        t[i] = (unsigned char)(v >> (8 * i));
    put(b, t, n);
}

static void put_str(struct bytes *b, const char *s, uint64_t len)
{
    put_le(b, len, 8);
    put(b, s, (size_t)len);
}

struct wkv {
    char *key;
    struct bytes val; /* type tag + payload */
};

struct wtensor {
    char *name;
    enum owb_type type;
    int n_dims;
    int64_t ne[OWB_GGUF_MAX_DIMS];
    const void *data;
    size_t size;
    uint64_t offset;
};

struct owb_gguf_writer {
    struct wkv *kv;
    size_t n_kv, cap_kv;
    struct wtensor *t;
    size_t n_t, cap_t;
    /* writing state, between owb_gguf_writer_begin and _finish */
    FILE *f;
    char *path, *tmp;
    uint32_t align;
    size_t cur;           /* tensor whose data comes next */
    uint64_t cur_written; /* bytes of it written */
    uint64_t pos;         /* file position */
    bool begun, failed;
    int slot; /* temp_slot index, -1 when not registered */
};

/* Temporary paths of the files being written, for owb_gguf_unlink_temps() in a signal handler: a
 * slot's path is complete before `used` is set, and `used` is cleared before the slot is reused. */
static char temp_slot[OWB_GGUF_WRITE_SLOTS][4096];
static volatile sig_atomic_t temp_used[OWB_GGUF_WRITE_SLOTS];

static int temp_register(const char *path)
{
    size_t n = strlen(path);
    if (n >= sizeof temp_slot[0])
        return -1;
    for (int i = 0; i < OWB_GGUF_WRITE_SLOTS; i++)
        if (!temp_used[i]) {
            memcpy(temp_slot[i], path, n + 1);
            temp_used[i] = 1;
            return i;
        }
    return -1;
}

static void temp_release(int slot)
{
    if (slot >= 0)
        temp_used[slot] = 0;
}

void owb_gguf_unlink_temps(void)
{
    for (int i = 0; i < OWB_GGUF_WRITE_SLOTS; i++)
        if (temp_used[i])
            unlink(temp_slot[i]);
}

/* Drop a write in progress: close and remove the temporary file. */
static void writer_abort(struct owb_gguf_writer *w)
{
    if (w->f)
        fclose(w->f);
    w->f = NULL;
    if (w->tmp)
        unlink(w->tmp);
    temp_release(w->slot);
    w->slot = -1;
    free(w->tmp);
    free(w->path);
    w->tmp = w->path = NULL;
    w->begun = w->failed = false;
}

struct owb_gguf_writer *owb_gguf_writer_new(void)
{
    struct owb_gguf_writer *w = calloc(1, sizeof *w);
    if (w)
        w->slot = -1;
    return w;
}

void owb_gguf_writer_free(struct owb_gguf_writer *w)
{
    if (!w)
        return;
    writer_abort(w);
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val.p);
    }
    for (size_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

/* Store a serialised value under key (replacing an existing one); takes ownership of val. */
static int set_bytes(struct owb_gguf_writer *w, const char *key, struct bytes *val,
                     char err[OWB_ERR_MAX])
{
    if (val->oom) {
        free(val->p);
        owb_seterr(err, "key %s: out of memory", key);
        return OWB_E_NOMEM;
    }
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].val.p);
            w->kv[i].val = *val;
            return 0;
        }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        struct wkv *p = realloc(w->kv, cap * sizeof *p);
        if (!p)
            goto oom;
        w->kv = p;
        w->cap_kv = cap;
    }
    char *k = strdup(key);
    if (!k)
        goto oom;
    w->kv[w->n_kv].key = k;
    w->kv[w->n_kv].val = *val;
    w->n_kv++;
    return 0;
oom:
    free(val->p);
    owb_seterr(err, "key %s: out of memory", key);
    return OWB_E_NOMEM;
}

static int set_scalar(struct owb_gguf_writer *w, const char *key, enum owb_gguf_type t,
                      uint64_t bits, char err[OWB_ERR_MAX])
{
    struct bytes b = {0};
    put_le(&b, (uint64_t)t, 4);
    put_le(&b, bits, owb_gguf_scalar_size(t));
    return set_bytes(w, key, &b, err);
}

int owb_gguf_writer_set_u32(struct owb_gguf_writer *w, const char *key, uint32_t v,
                            char err[OWB_ERR_MAX])
{
    return set_scalar(w, key, OWB_GGUF_UINT32, v, err);
}

int owb_gguf_writer_set_i32(struct owb_gguf_writer *w, const char *key, int32_t v,
                            char err[OWB_ERR_MAX])
{
    return set_scalar(w, key, OWB_GGUF_INT32, (uint32_t)v, err);
}

int owb_gguf_writer_set_u64(struct owb_gguf_writer *w, const char *key, uint64_t v,
                            char err[OWB_ERR_MAX])
{
    return set_scalar(w, key, OWB_GGUF_UINT64, v, err);
}

int owb_gguf_writer_set_f32(struct owb_gguf_writer *w, const char *key, float v,
                            char err[OWB_ERR_MAX])
{
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return set_scalar(w, key, OWB_GGUF_FLOAT32, bits, err);
}

int owb_gguf_writer_set_bool(struct owb_gguf_writer *w, const char *key, bool v,
                             char err[OWB_ERR_MAX])
{
    return set_scalar(w, key, OWB_GGUF_BOOL, v ? 1 : 0, err);
}

int owb_gguf_writer_set_str(struct owb_gguf_writer *w, const char *key, const char *s,
                            char err[OWB_ERR_MAX])
{
    struct bytes b = {0};
    put_le(&b, OWB_GGUF_STRING, 4);
    put_str(&b, s, strlen(s));
    return set_bytes(w, key, &b, err);
}

int owb_gguf_writer_set_arr(struct owb_gguf_writer *w, const char *key,
                            enum owb_gguf_type elem_type, uint64_t n, const void *elems,
                            char err[OWB_ERR_MAX])
{
    size_t es = owb_gguf_scalar_size(elem_type);
    uint64_t total;
    if (!es) {
        owb_seterr(err, "key %s: array element type %s is not a fixed-size type", key,
                   owb_gguf_type_name(elem_type));
        return OWB_E_USAGE;
    }
    if (__builtin_mul_overflow(n, (uint64_t)es, &total) || total > SIZE_MAX) {
        owb_seterr(err, "key %s: array of %" PRIu64 " elements is too large", key, n);
        return OWB_E_USAGE;
    }
    struct bytes b = {0};
    put_le(&b, OWB_GGUF_ARRAY, 4);
    put_le(&b, (uint64_t)elem_type, 4);
    put_le(&b, n, 8);
    /* The host is little-endian (the reader's data is used in place on the same assumption), so
     * the C array is already the file encoding. */
    put(&b, elems, (size_t)total);
    return set_bytes(w, key, &b, err);
}

int owb_gguf_writer_set_arr_str(struct owb_gguf_writer *w, const char *key, uint64_t n,
                                const char *const *strs, char err[OWB_ERR_MAX])
{
    struct bytes b = {0};
    put_le(&b, OWB_GGUF_ARRAY, 4);
    put_le(&b, OWB_GGUF_STRING, 4);
    put_le(&b, n, 8);
    for (uint64_t i = 0; i < n; i++)
        put_str(&b, strs[i], strlen(strs[i]));
    return set_bytes(w, key, &b, err);
}

/* Payload of a decoded value (no type tag), recursively for arrays. */
static void put_payload(struct bytes *b, const struct owb_gguf_value *v)
{
    switch (v->type) {
    case OWB_GGUF_STRING:
        put_str(b, v->v.s.ptr, v->v.s.len);
        break;
    case OWB_GGUF_ARRAY: {
        put_le(b, (uint64_t)v->v.arr.elem_type, 4);
        put_le(b, v->v.arr.n, 8);
        size_t es = owb_gguf_scalar_size(v->v.arr.elem_type);
        if (es) {
            put(b, v->v.arr.raw, (size_t)(v->v.arr.n * es));
        } else {
            for (uint64_t i = 0; i < v->v.arr.n; i++)
                put_payload(b, &v->v.arr.elems[i]);
        }
        break;
    }
    case OWB_GGUF_FLOAT32: {
        float f = (float)v->v.f;
        uint32_t bits;
        memcpy(&bits, &f, 4);
        put_le(b, bits, 4);
        break;
    }
    case OWB_GGUF_FLOAT64: {
        uint64_t bits;
        memcpy(&bits, &v->v.f, 8);
        put_le(b, bits, 8);
        break;
    }
    case OWB_GGUF_BOOL:
        put_le(b, v->v.b ? 1 : 0, 1);
        break;
    default:
        put_le(b, is_signed(v->type) ? (uint64_t)v->v.i : v->v.u, owb_gguf_scalar_size(v->type));
        break;
    }
}

int owb_gguf_writer_set_value(struct owb_gguf_writer *w, const char *key,
                              const struct owb_gguf_value *v, char err[OWB_ERR_MAX])
{
    if ((unsigned)v->type >= OWB_GGUF_TYPE_COUNT) {
        owb_seterr(err, "key %s: invalid value type %d", key, (int)v->type);
        return OWB_E_USAGE;
    }
    struct bytes b = {0};
    put_le(&b, (uint64_t)v->type, 4);
    put_payload(&b, v);
    return set_bytes(w, key, &b, err);
}

int owb_gguf_writer_add_tensor(struct owb_gguf_writer *w, const char *name, enum owb_type type,
                               int n_dims, const int64_t *ne, const void *data, size_t size,
                               char err[OWB_ERR_MAX])
{
    size_t want;
    char serr[OWB_ERR_MAX];
    if (w->begun) {
        owb_seterr(err, "tensor %s: added after the header was written", name);
        return OWB_E_USAGE;
    }
    if (owb_gguf_tensor_size(type, n_dims, ne, &want, serr)) {
        owb_seterr(err, "tensor %s: %s", name, serr);
        return OWB_E_USAGE;
    }
    if (want != size) {
        owb_seterr(err, "tensor %s: %zu bytes given, its type and shape need %zu", name, size,
                   want);
        return OWB_E_USAGE;
    }
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0) {
            owb_seterr(err, "tensor %s: duplicate name", name);
            return OWB_E_USAGE;
        }
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 16;
        struct wtensor *p = realloc(w->t, cap * sizeof *p);
        if (!p)
            goto oom;
        w->t = p;
        w->cap_t = cap;
    }
    struct wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name)
        goto oom;
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < OWB_GGUF_MAX_DIMS; d++)
        t->ne[d] = d < n_dims ? ne[d] : 1;
    t->data = data;
    t->size = size;
    w->n_t++;
    return 0;
oom:
    owb_seterr(err, "tensor %s: out of memory", name);
    return OWB_E_NOMEM;
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) / a * a;
}

/* The alignment general.alignment asks for (32 when absent); 0 when the value is invalid. */
static uint32_t writer_alignment(const struct owb_gguf_writer *w)
{
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, "general.alignment") == 0) {
            const struct bytes *v = &w->kv[i].val;
            uint64_t a = v->n == 8 ? le(v->p + 4, 4) : 0;
            if (v->n != 8 || le(v->p, 4) != OWB_GGUF_UINT32 || a == 0 || (a & (a - 1)))
                return 0;
            return (uint32_t)a;
        }
    return OWB_GGUF_DEFAULT_ALIGNMENT;
}

int owb_gguf_writer_add_tensor_info(struct owb_gguf_writer *w, const char *name, enum owb_type type,
                                    int n_dims, const int64_t *ne, char err[OWB_ERR_MAX])
{
    size_t size;
    char serr[OWB_ERR_MAX];
    if (owb_gguf_tensor_size(type, n_dims, ne, &size, serr)) {
        owb_seterr(err, "tensor %s: %s", name, serr);
        return OWB_E_USAGE;
    }
    return owb_gguf_writer_add_tensor(w, name, type, n_dims, ne, NULL, size, err);
}

uint64_t owb_gguf_writer_data_bytes(const struct owb_gguf_writer *w)
{
    uint32_t align = writer_alignment(w);
    uint64_t off = 0;
    if (!align)
        align = OWB_GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_t; i++)
        off = align_up(off, align) + w->t[i].size;
    return align_up(off, align);
}

static int write_bytes(struct owb_gguf_writer *w, const void *p, size_t n, char err[OWB_ERR_MAX])
{
    if (n && fwrite(p, 1, n, w->f) != n) {
        owb_seterr(err, "%s: write failed: %s", w->path, strerror(errno));
        w->failed = true;
        return OWB_E_IO;
    }
    w->pos += n;
    return 0;
}

static int write_pad(struct owb_gguf_writer *w, char err[OWB_ERR_MAX])
{
    static const unsigned char zeros[256];
    uint64_t pad = align_up(w->pos, w->align) - w->pos;
    while (pad) {
        size_t k = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
        int rc = write_bytes(w, zeros, k, err);
        if (rc)
            return rc;
        pad -= k;
    }
    return 0;
}

/* Step over finished (and empty) tensors, padding after each. */
static int advance(struct owb_gguf_writer *w, char err[OWB_ERR_MAX])
{
    while (w->cur < w->n_t && w->cur_written == w->t[w->cur].size) {
        int rc = write_pad(w, err);
        if (rc)
            return rc;
        w->cur++;
        w->cur_written = 0;
    }
    return 0;
}

int owb_gguf_writer_begin(struct owb_gguf_writer *w, const char *path, char err[OWB_ERR_MAX])
{
    struct bytes hdr = {0};
    int rc = OWB_E_IO, fd = -1;
    if (w->begun) {
        owb_seterr(err, "%s: a write is already in progress", path);
        return OWB_E_USAGE;
    }
    w->align = writer_alignment(w);
    if (!w->align) {
        owb_seterr(err, "%s: general.alignment must be a uint32 power of two", path);
        return OWB_E_USAGE;
    }
    /* Header, metadata and tensor infos, with data offsets padded to the alignment. */
    put(&hdr, "GGUF", 4);
    put_le(&hdr, 3, 4);
    put_le(&hdr, w->n_t, 8);
    put_le(&hdr, w->n_kv, 8);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(&hdr, w->kv[i].key, strlen(w->kv[i].key));
        put(&hdr, w->kv[i].val.p, w->kv[i].val.n);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        struct wtensor *t = &w->t[i];
        t->offset = off = align_up(off, w->align);
        off += t->size;
        put_str(&hdr, t->name, strlen(t->name));
        put_le(&hdr, (uint64_t)t->n_dims, 4);
        for (int d = 0; d < t->n_dims; d++)
            put_le(&hdr, (uint64_t)t->ne[d], 8);
        put_le(&hdr, (uint64_t)t->type, 4);
        put_le(&hdr, t->offset, 8);
    }
    if (hdr.oom) {
        owb_seterr(err, "%s: out of memory", path);
        free(hdr.p);
        return OWB_E_NOMEM;
    }
    w->begun = true;
    w->cur = 0;
    w->cur_written = 0;
    w->pos = 0;
    size_t plen = strlen(path);
    w->path = strdup(path);
    w->tmp = malloc(plen + 16);
    if (!w->path || !w->tmp) {
        free(w->tmp);
        w->tmp = NULL;
        owb_seterr(err, "%s: out of memory", path);
        rc = OWB_E_NOMEM;
        goto out;
    }
    snprintf(w->tmp, plen + 16, "%s.tmp.XXXXXX", path);
    fd = mkstemp(w->tmp);
    if (fd < 0) {
        owb_seterr(err, "%s: cannot create temporary file: %s", path, strerror(errno));
        free(w->tmp);
        w->tmp = NULL;
        goto out;
    }
    w->slot = temp_register(w->tmp);
    (void)fchmod(fd, 0644);
    w->f = fdopen(fd, "wb");
    if (!w->f) {
        owb_seterr(err, "%s: fdopen failed: %s", path, strerror(errno));
        close(fd);
        goto out;
    }
    setvbuf(w->f, NULL, _IOFBF, 1 << 20);
    /* Files without tensors end right after the metadata (as llama.cpp's vocab files do). */
    rc = write_bytes(w, hdr.p, hdr.n, err);
    if (!rc && w->n_t)
        rc = write_pad(w, err);
    if (!rc)
        rc = advance(w, err);
out:
    free(hdr.p);
    if (rc)
        writer_abort(w);
    return rc;
}

int owb_gguf_writer_stream(struct owb_gguf_writer *w, const void *data, size_t n,
                           char err[OWB_ERR_MAX])
{
    const unsigned char *p = data;
    if (!w->begun || w->failed) {
        owb_seterr(err, "GGUF writer: no write in progress (not begun, or failed)");
        return OWB_E_USAGE;
    }
    while (n) {
        if (w->cur >= w->n_t) {
            owb_seterr(err, "%s: %zu bytes of tensor data more than the tensors hold", w->path, n);
            w->failed = true;
            return OWB_E_USAGE;
        }
        uint64_t left = w->t[w->cur].size - w->cur_written;
        size_t k = left < n ? (size_t)left : n;
        int rc = write_bytes(w, p, k, err);
        if (rc)
            return rc;
        w->cur_written += k;
        p += k;
        n -= k;
        rc = advance(w, err);
        if (rc)
            return rc;
    }
    return 0;
}

int owb_gguf_writer_finish(struct owb_gguf_writer *w, char err[OWB_ERR_MAX])
{
    int rc = OWB_E_IO;
    if (!w->begun || w->failed) {
        owb_seterr(err, "GGUF writer: no write to finish (not begun, or failed)");
        rc = OWB_E_USAGE;
        goto out;
    }
    if (w->cur < w->n_t) {
        owb_seterr(err, "%s: tensor %s has %llu of %llu bytes of data", w->path, w->t[w->cur].name,
                   (unsigned long long)w->cur_written, (unsigned long long)w->t[w->cur].size);
        rc = OWB_E_USAGE;
        goto out;
    }
    FILE *f = w->f;
    w->f = NULL;
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        owb_seterr(err, "%s: write failed: %s", w->path, strerror(errno));
        fclose(f);
        goto out;
    }
    if (fclose(f) != 0) {
        owb_seterr(err, "%s: write failed: %s", w->path, strerror(errno));
        goto out;
    }
    if (rename(w->tmp, w->path) != 0) {
        owb_seterr(err, "%s: rename from %s failed: %s", w->path, w->tmp, strerror(errno));
        goto out;
    }
    free(w->tmp);
    w->tmp = NULL;
    rc = 0;
out:
    writer_abort(w); /* after a rename there is no temporary file left to remove */
    return rc;
}

int owb_gguf_writer_write(struct owb_gguf_writer *w, const char *path, char err[OWB_ERR_MAX])
{
    for (size_t i = 0; i < w->n_t; i++)
        if (w->t[i].size && !w->t[i].data) {
            owb_seterr(err, "%s: tensor %s has no data (added for streaming)", path, w->t[i].name);
            return OWB_E_USAGE;
        }
    int rc = owb_gguf_writer_begin(w, path, err);
    for (size_t i = 0; i < w->n_t && !rc; i++)
        rc = owb_gguf_writer_stream(w, w->t[i].data, w->t[i].size, err);
    if (!rc)
        return owb_gguf_writer_finish(w, err);
    writer_abort(w);
    return rc;
}
