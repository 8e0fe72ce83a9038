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

/* ---- streaming writer ---- */

struct sbuf {
    unsigned char *p;
    size_t n, cap;
    bool oom;
};

static void sbuf_put(struct sbuf *b, const void *p, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n)
            cap *= 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void sbuf_le(struct sbuf *b, uint64_t v, int bytes)
{
    unsigned char tmp[8];
    for (int i = 0; i < bytes; i++)
        tmp[i] = (unsigned char)(v >> (8 * i));
    sbuf_put(b, tmp, (size_t)bytes);
}

static void sbuf_str(struct sbuf *b, const char *s, uint64_t len)
{
    sbuf_le(b, len, 8);
    sbuf_put(b, s, (size_t)len);
}

struct stensor {
    char *name;
    enum owb_type type;
    int n_dims;
    int64_t ne[OWB_GGUF_MAX_DIMS];
    uint64_t size;   /* bytes of data */
    uint64_t offset; /* from the start of the data section */
};

struct owb_synth_stream {
    uint32_t align;
    struct sbuf kv; /* serialized key/value pairs */
    uint64_t n_kv;
    char **keys;
    size_t n_keys, cap_keys;
    bool has_alignment_key;
    struct stensor *t;
    size_t n_t, cap_t;
    uint64_t data_end; /* end of the last tensor's data, unpadded */
    /* writing state */
    FILE *f;
    char *path, *tmp;
    size_t cur;           /* tensor being written */
    uint64_t cur_written; /* bytes of it written */
    uint64_t pos;         /* file position */
    bool begun, finished, failed;
    int slot; /* temp_slot index, -1 when not registered */
};

/* Temporary paths of the streams being written, for owb_synth_stream_unlink_temps() in a signal
 * handler: a slot's path is complete before `used` is set, and `used` is cleared before the slot
 * is reused. */
static char temp_slot[OWB_SYNTH_STREAM_SLOTS][4096];
static volatile sig_atomic_t temp_used[OWB_SYNTH_STREAM_SLOTS];

static int temp_register(const char *path)
{
    size_t n = strlen(path);
    if (n >= sizeof temp_slot[0])
        return -1;
    for (int i = 0; i < OWB_SYNTH_STREAM_SLOTS; i++)
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

void owb_synth_stream_unlink_temps(void)
{
    for (int i = 0; i < OWB_SYNTH_STREAM_SLOTS; i++)
        if (temp_used[i])
            unlink(temp_slot[i]);
}

struct owb_synth_stream *owb_synth_stream_new(uint32_t alignment)
{
    if (alignment == 0 || (alignment & (alignment - 1)))
        return NULL;
    struct owb_synth_stream *s = calloc(1, sizeof *s);
    if (s) {
        s->align = alignment;
        s->slot = -1;
    }
    return s;
}

void owb_synth_stream_free(struct owb_synth_stream *s)
{
    if (!s)
        return;
    if (s->f)
        fclose(s->f);
    if (s->tmp && !s->finished)
        unlink(s->tmp);
    temp_release(s->slot);
    free(s->tmp);
    free(s->path);
    for (size_t i = 0; i < s->n_keys; i++)
        free(s->keys[i]);
    free(s->keys);
    for (size_t i = 0; i < s->n_t; i++)
        free(s->t[i].name);
    free(s->t);
    free(s->kv.p);
    free(s);
}

/* Check the key is new and remember it; write the key string. */
static int kv_begin(struct owb_synth_stream *s, const char *key, char err[OWB_ERR_MAX])
{
    if (s->begun) {
        seterr(err, "metadata key %s set after the header was written", key);
        return OWB_E_USAGE;
    }
    if (!key || !*key) {
        seterr(err, "empty metadata key");
        return OWB_E_USAGE;
    }
    for (size_t i = 0; i < s->n_keys; i++)
        if (strcmp(s->keys[i], key) == 0) {
            seterr(err, "metadata key %s set twice", key);
            return OWB_E_USAGE;
        }
    if (s->n_keys == s->cap_keys) {
        size_t cap = s->cap_keys ? 2 * s->cap_keys : 32;
        char **k = realloc(s->keys, cap * sizeof *k);
        if (!k)
            goto oom;
        s->keys = k;
        s->cap_keys = cap;
    }
    size_t len = strlen(key);
    char *dup = malloc(len + 1);
    if (!dup)
        goto oom;
    memcpy(dup, key, len + 1);
    s->keys[s->n_keys++] = dup;
    sbuf_str(&s->kv, key, len);
    s->n_kv++;
    return 0;
oom:
    seterr(err, "out of memory for metadata key %s", key);
    return OWB_E_NOMEM;
}

static int kv_end(struct owb_synth_stream *s, const char *key, char err[OWB_ERR_MAX])
{
    if (s->kv.oom) {
        seterr(err, "out of memory for metadata key %s", key);
        return OWB_E_NOMEM;
    }
    return 0;
}

static int set_scalar(struct owb_synth_stream *s, const char *key, enum owb_gguf_type type,
                      uint64_t bits, int bytes, char err[OWB_ERR_MAX])
{
    if (strcmp(key, "general.alignment") == 0) {
        if (type != OWB_GGUF_UINT32 || bits != s->align) {
            seterr(err, "general.alignment must be the stream's alignment %u as uint32", s->align);
            return OWB_E_USAGE;
        }
        s->has_alignment_key = true;
    }
    int rc = kv_begin(s, key, err);
    if (rc)
        return rc;
    sbuf_le(&s->kv, (uint64_t)type, 4);
    sbuf_le(&s->kv, bits, bytes);
    return kv_end(s, key, err);
}

int owb_synth_stream_set_u32(struct owb_synth_stream *s, const char *key, uint32_t v,
                             char err[OWB_ERR_MAX])
{
    return set_scalar(s, key, OWB_GGUF_UINT32, v, 4, err);
}

int owb_synth_stream_set_i32(struct owb_synth_stream *s, const char *key, int32_t v,
                             char err[OWB_ERR_MAX])
{
    return set_scalar(s, key, OWB_GGUF_INT32, (uint32_t)v, 4, err);
}

int owb_synth_stream_set_u64(struct owb_synth_stream *s, const char *key, uint64_t v,
                             char err[OWB_ERR_MAX])
{
    return set_scalar(s, key, OWB_GGUF_UINT64, v, 8, err);
}

int owb_synth_stream_set_f32(struct owb_synth_stream *s, const char *key, float v,
                             char err[OWB_ERR_MAX])
{
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return set_scalar(s, key, OWB_GGUF_FLOAT32, bits, 4, err);
}

int owb_synth_stream_set_bool(struct owb_synth_stream *s, const char *key, bool v,
                              char err[OWB_ERR_MAX])
{
    return set_scalar(s, key, OWB_GGUF_BOOL, v ? 1u : 0u, 1, err);
}

int owb_synth_stream_set_str(struct owb_synth_stream *s, const char *key, const char *v,
                             char err[OWB_ERR_MAX])
{
    int rc = kv_begin(s, key, err);
    if (rc)
        return rc;
    sbuf_le(&s->kv, OWB_GGUF_STRING, 4);
    sbuf_str(&s->kv, v, strlen(v));
    return kv_end(s, key, err);
}

/* Bytes of one element of a fixed-size type; 0 for string, array and unknown types. */
static int elem_bytes(enum owb_gguf_type t)
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
        return 0;
    }
}

int owb_synth_stream_set_arr(struct owb_synth_stream *s, const char *key,
                             enum owb_gguf_type elem_type, uint64_t n, const void *elems,
                             char err[OWB_ERR_MAX])
{
    int eb = elem_bytes(elem_type);
    if (!eb) {
        seterr(err, "metadata key %s: array element type %s is not fixed-size", key,
               owb_gguf_type_name(elem_type));
        return OWB_E_USAGE;
    }
    if (n > SIZE_MAX / (size_t)eb) {
        seterr(err, "metadata key %s: array of %llu elements is too large", key,
               (unsigned long long)n);
        return OWB_E_USAGE;
    }
    int rc = kv_begin(s, key, err);
    if (rc)
        return rc;
    sbuf_le(&s->kv, OWB_GGUF_ARRAY, 4);
    sbuf_le(&s->kv, (uint64_t)elem_type, 4);
    sbuf_le(&s->kv, n, 8);
    sbuf_put(&s->kv, elems, (size_t)n * (size_t)eb);
    return kv_end(s, key, err);
}

int owb_synth_stream_set_arr_str(struct owb_synth_stream *s, const char *key, uint64_t n,
                                 const char *const *strs, char err[OWB_ERR_MAX])
{
    int rc = kv_begin(s, key, err);
    if (rc)
        return rc;
    sbuf_le(&s->kv, OWB_GGUF_ARRAY, 4);
    sbuf_le(&s->kv, OWB_GGUF_STRING, 4);
    sbuf_le(&s->kv, n, 8);
    for (uint64_t i = 0; i < n; i++)
        sbuf_str(&s->kv, strs[i], strlen(strs[i]));
    return kv_end(s, key, err);
}

/* Serialize a decoded value (type tag included unless `tagged` is false: array elements). */
static int put_value(struct sbuf *b, const struct owb_gguf_value *v, bool tagged, int depth)
{
    if (depth > OWB_GGUF_MAX_NESTING)
        return -1;
    if (tagged)
        sbuf_le(b, (uint64_t)v->type, 4);
    int eb = elem_bytes(v->type);
    switch (v->type) {
    case OWB_GGUF_INT8:
    case OWB_GGUF_INT16:
    case OWB_GGUF_INT32:
    case OWB_GGUF_INT64:
        sbuf_le(b, (uint64_t)v->v.i, eb);
        return 0;
    case OWB_GGUF_UINT8:
    case OWB_GGUF_UINT16:
    case OWB_GGUF_UINT32:
    case OWB_GGUF_UINT64:
        sbuf_le(b, v->v.u, eb);
        return 0;
    case OWB_GGUF_BOOL:
        sbuf_le(b, v->v.b ? 1u : 0u, 1);
        return 0;
    case OWB_GGUF_FLOAT32: {
        float f = (float)v->v.f;
        uint32_t bits;
        memcpy(&bits, &f, 4);
        sbuf_le(b, bits, 4);
        return 0;
    }
    case OWB_GGUF_FLOAT64: {
        uint64_t bits;
        memcpy(&bits, &v->v.f, 8);
        sbuf_le(b, bits, 8);
        return 0;
    }
    case OWB_GGUF_STRING:
        sbuf_str(b, v->v.s.ptr, v->v.s.len);
        return 0;
    case OWB_GGUF_ARRAY: {
        enum owb_gguf_type et = v->v.arr.elem_type;
        sbuf_le(b, (uint64_t)et, 4);
        sbuf_le(b, v->v.arr.n, 8);
        int aeb = elem_bytes(et);
        if (aeb) {
            sbuf_put(b, v->v.arr.raw, (size_t)(v->v.arr.n * (uint64_t)aeb));
            return 0;
        }
        if (et != OWB_GGUF_STRING && et != OWB_GGUF_ARRAY)
            return -1;
        for (uint64_t i = 0; i < v->v.arr.n; i++) {
            struct owb_gguf_value e;
            owb_gguf_arr_elem(v, i, &e);
            if (put_value(b, &e, false, depth + 1))
                return -1;
        }
        return 0;
    }
    default:
        return -1;
    }
}

int owb_synth_stream_set_value(struct owb_synth_stream *s, const char *key,
                               const struct owb_gguf_value *v, char err[OWB_ERR_MAX])
{
    if (v->type == OWB_GGUF_UINT32)
        return owb_synth_stream_set_u32(s, key, (uint32_t)v->v.u, err);
    if (strcmp(key, "general.alignment") == 0) {
        seterr(err, "general.alignment must be a uint32");
        return OWB_E_USAGE;
    }
    int rc = kv_begin(s, key, err);
    if (rc)
        return rc;
    if (put_value(&s->kv, v, true, 0)) {
        seterr(err, "metadata key %s: value of type %s cannot be written", key,
               owb_gguf_type_name(v->type));
        return OWB_E_USAGE;
    }
    return kv_end(s, key, err);
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) / a * a;
}

int owb_synth_stream_add_tensor(struct owb_synth_stream *s, const char *name, enum owb_type type,
                                int n_dims, const int64_t *ne, char err[OWB_ERR_MAX])
{
    if (s->begun) {
        seterr(err, "tensor %s added after the header was written", name);
        return OWB_E_USAGE;
    }
    if (n_dims < 1 || n_dims > OWB_GGUF_MAX_DIMS) {
        seterr(err, "tensor %s: %d dimensions (1..%d allowed)", name, n_dims, OWB_GGUF_MAX_DIMS);
        return OWB_E_USAGE;
    }
    for (size_t i = 0; i < s->n_t; i++)
        if (strcmp(s->t[i].name, name) == 0) {
            seterr(err, "tensor %s added twice", name);
            return OWB_E_USAGE;
        }
    size_t size = 0;
    int rc = owb_gguf_tensor_size(type, n_dims, ne, &size, err);
    if (rc)
        return rc;
    if (s->n_t == s->cap_t) {
        size_t cap = s->cap_t ? 2 * s->cap_t : 64;
        struct stensor *t = realloc(s->t, cap * sizeof *t);
        if (!t)
            goto oom;
        s->t = t;
        s->cap_t = cap;
    }
    struct stensor *t = &s->t[s->n_t];
    memset(t, 0, sizeof *t);
    size_t len = strlen(name);
    t->name = malloc(len + 1);
    if (!t->name)
        goto oom;
    memcpy(t->name, name, len + 1);
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < OWB_GGUF_MAX_DIMS; d++)
        t->ne[d] = d < n_dims ? ne[d] : 1;
    t->size = size;
    t->offset = s->n_t ? align_up(s->data_end, s->align) : 0;
    s->data_end = t->offset + size;
    s->n_t++;
    return 0;
oom:
    seterr(err, "out of memory for tensor %s", name);
    return OWB_E_NOMEM;
}

uint64_t owb_synth_stream_data_bytes(const struct owb_synth_stream *s)
{
    return s->n_t ? align_up(s->data_end, s->align) : 0;
}

static int write_bytes(struct owb_synth_stream *s, const void *p, size_t n, char err[OWB_ERR_MAX])
{
    if (n && fwrite(p, 1, n, s->f) != n) {
        seterr(err, "%s: write failed: %s", s->path, strerror(errno));
        s->failed = true;
        return OWB_E_IO;
    }
    s->pos += n;
    return 0;
}

static int write_pad(struct owb_synth_stream *s, char err[OWB_ERR_MAX])
{
    static const unsigned char zeros[256];
    uint64_t pad = align_up(s->pos, s->align) - s->pos;
    while (pad) {
        size_t k = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
        int rc = write_bytes(s, zeros, k, err);
        if (rc)
            return rc;
        pad -= k;
    }
    return 0;
}

/* Skip over finished (and empty) tensors, padding after each. */
static int advance(struct owb_synth_stream *s, char err[OWB_ERR_MAX])
{
    while (s->cur < s->n_t && s->cur_written == s->t[s->cur].size) {
        int rc = write_pad(s, err);
        if (rc)
            return rc;
        s->cur++;
        s->cur_written = 0;
    }
    return 0;
}

int owb_synth_stream_begin(struct owb_synth_stream *s, const char *path, char err[OWB_ERR_MAX])
{
    struct sbuf hdr = {0};
    int rc = OWB_E_IO, fd = -1;
    if (s->begun) {
        seterr(err, "%s: stream already begun", path);
        return OWB_E_USAGE;
    }
    if (!s->has_alignment_key) {
        rc = owb_synth_stream_set_u32(s, "general.alignment", s->align, err);
        if (rc)
            return rc;
        rc = OWB_E_IO;
    }
    s->begun = true;
    size_t plen = strlen(path);
    s->path = malloc(plen + 1);
    s->tmp = malloc(plen + 16);
    if (!s->path || !s->tmp) {
        free(s->tmp);
        s->tmp = NULL;
        seterr(err, "%s: out of memory", path);
        rc = OWB_E_NOMEM;
        goto out;
    }
    memcpy(s->path, path, plen + 1);
    snprintf(s->tmp, plen + 16, "%s.tmp.XXXXXX", path);
    fd = mkstemp(s->tmp);
    if (fd < 0) {
        seterr(err, "%s: cannot create the output file: %s", path, strerror(errno));
        free(s->tmp);
        s->tmp = NULL;
        goto out;
    }
    s->slot = temp_register(s->tmp);
    (void)fchmod(fd, 0644);
    s->f = fdopen(fd, "wb");
    if (!s->f) {
        seterr(err, "%s: %s", path, strerror(errno));
        close(fd);
        goto out;
    }
    setvbuf(s->f, NULL, _IOFBF, 1 << 20);

    sbuf_put(&hdr, "GGUF", 4);
    sbuf_le(&hdr, 3, 4);
    sbuf_le(&hdr, s->n_t, 8);
    sbuf_le(&hdr, s->n_kv, 8);
    sbuf_put(&hdr, s->kv.p, s->kv.n);
    for (size_t i = 0; i < s->n_t; i++) {
        const struct stensor *t = &s->t[i];
        sbuf_str(&hdr, t->name, strlen(t->name));
        sbuf_le(&hdr, (uint64_t)t->n_dims, 4);
        for (int d = 0; d < t->n_dims; d++)
            sbuf_le(&hdr, (uint64_t)t->ne[d], 8);
        sbuf_le(&hdr, (uint64_t)t->type, 4);
        sbuf_le(&hdr, t->offset, 8);
    }
    if (hdr.oom || s->kv.oom) {
        seterr(err, "%s: out of memory for the header", path);
        rc = OWB_E_NOMEM;
        goto out;
    }
    rc = write_bytes(s, hdr.p, hdr.n, err);
    if (!rc && s->n_t)
        rc = write_pad(s, err);
    if (!rc)
        rc = advance(s, err);
out:
    if (rc)
        s->failed = true;
    free(hdr.p);
    return rc;
}

int owb_synth_stream_write(struct owb_synth_stream *s, const void *data, size_t n,
                           char err[OWB_ERR_MAX])
{
    const unsigned char *p = data;
    if (!s->begun || s->failed || s->finished) {
        seterr(err, "stream not writable (not begun, failed or finished)");
        return OWB_E_USAGE;
    }
    while (n) {
        if (s->cur >= s->n_t) {
            seterr(err, "%s: %zu bytes of tensor data more than the tensors hold", s->path, n);
            s->failed = true;
            return OWB_E_USAGE;
        }
        uint64_t left = s->t[s->cur].size - s->cur_written;
        size_t k = left < n ? (size_t)left : n;
        int rc = write_bytes(s, p, k, err);
        if (rc)
            return rc;
        s->cur_written += k;
        p += k;
        n -= k;
        rc = advance(s, err);
        if (rc)
            return rc;
    }
    return 0;
}

int owb_synth_stream_finish(struct owb_synth_stream *s, char err[OWB_ERR_MAX])
{
    if (!s->begun || s->failed || s->finished) {
        seterr(err, "stream cannot be finished (not begun, failed or finished)");
        return OWB_E_USAGE;
    }
    if (s->cur < s->n_t) {
        seterr(err, "%s: tensor %s has %llu of %llu bytes of data", s->path, s->t[s->cur].name,
               (unsigned long long)s->cur_written, (unsigned long long)s->t[s->cur].size);
        s->failed = true;
        return OWB_E_USAGE;
    }
    FILE *f = s->f;
    s->f = NULL;
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        seterr(err, "%s: write failed: %s", s->path, strerror(errno));
        fclose(f);
        s->failed = true;
        return OWB_E_IO;
    }
    if (fclose(f) != 0) {
        seterr(err, "%s: write failed: %s", s->path, strerror(errno));
        s->failed = true;
        return OWB_E_IO;
    }
    if (rename(s->tmp, s->path) != 0) {
        seterr(err, "%s: cannot rename the temporary file into place: %s", s->path,
               strerror(errno));
        s->failed = true;
        return OWB_E_IO;
    }
    s->finished = true;
    temp_release(s->slot);
    s->slot = -1;
    return 0;
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
        total += align_up(owb_row_size(tt, t[i].ne[0]) * (uint64_t)t[i].ne[1], GGUF_ALIGN);
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

static int set_metadata(struct owb_synth_stream *s, const struct owb_synth_preset *p,
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
        TRY(owb_synth_stream_set_u32(s, key, (uint32_t)(val), err));                               \
    } while (0)

    TRY(owb_synth_stream_set_str(s, "general.architecture", a, err));
    TRY(owb_synth_stream_set_str(s, "general.name", name, err));
    TRY(owb_synth_stream_set_u32(s, "general.file_type", (uint32_t)owb_quantize_ftype(type), err));
    TRY(owb_synth_stream_set_u32(s, "general.quantization_version", 2, err));
    TRY(owb_synth_stream_set_u32(s, "general.alignment", GGUF_ALIGN, err));
    ARCH_U32("context_length", p->n_ctx);
    ARCH_U32("embedding_length", p->n_embd);
    ARCH_U32("block_count", n_layer);
    ARCH_U32("feed_forward_length", p->n_ff);
    ARCH_U32("attention.head_count", p->n_head);
    ARCH_U32("attention.head_count_kv", p->n_head_kv);
    ARCH_U32("rope.dimension_count", hd);
    ARCH_U32("vocab_size", p->n_vocab);
    snprintf(key, sizeof key, "%s.rope.freq_base", a);
    TRY(owb_synth_stream_set_f32(s, key, p->rope_freq_base, err));
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", a);
    TRY(owb_synth_stream_set_f32(s, key, p->rms_eps, err));
    TRY(owb_synth_stream_set_str(s, "owbench.synth.preset", p->name, err));
    TRY(owb_synth_stream_set_str(s, "owbench.synth.mimics", p->model_name, err));
    TRY(owb_synth_stream_set_u64(s, "owbench.synth.seed", seed, err));

    TRY(owb_synth_stream_set_str(s, "tokenizer.ggml.model", "llama", err));
    rc = vocab_make(&v, p->n_vocab);
    if (rc) {
        seterr(err, "out of memory for a vocabulary of %lld tokens", (long long)p->n_vocab);
        return rc;
    }
    rc = owb_synth_stream_set_arr_str(s, "tokenizer.ggml.tokens", (uint64_t)p->n_vocab,
                                      (const char *const *)v.tok, err);
    if (!rc)
        rc = owb_synth_stream_set_arr(s, "tokenizer.ggml.scores", OWB_GGUF_FLOAT32,
                                      (uint64_t)p->n_vocab, v.score, err);
    if (!rc)
        rc = owb_synth_stream_set_arr(s, "tokenizer.ggml.token_type", OWB_GGUF_INT32,
                                      (uint64_t)p->n_vocab, v.type, err);
    vocab_free(&v);
    if (rc)
        return rc;
    TRY(owb_synth_stream_set_u32(s, "tokenizer.ggml.unknown_token_id", 0, err));
    TRY(owb_synth_stream_set_u32(s, "tokenizer.ggml.bos_token_id", 1, err));
    TRY(owb_synth_stream_set_u32(s, "tokenizer.ggml.eos_token_id", 2, err));
    TRY(owb_synth_stream_set_bool(s, "tokenizer.ggml.add_bos_token", true, err));
    TRY(owb_synth_stream_set_bool(s, "tokenizer.ggml.add_eos_token", false, err));
#undef ARCH_U32
#undef TRY
    return 0;
}

int owb_synth_write(const struct owb_synth_preset *p, enum owb_type type, int64_t n_layer,
                    uint64_t seed, const char *path, int nthreads,
                    owb_quantize_progress_fn progress, void *progress_ctx, char err[OWB_ERR_MAX])
{
    struct owb_synth_stream *s = NULL;
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
    s = owb_synth_stream_new(GGUF_ALIGN);
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
        rc = owb_synth_stream_add_tensor(s, t[i].name, tt, t[i].n_dims, t[i].ne, err);
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
    rc = owb_synth_stream_begin(s, path, err);
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
            rc = owb_synth_stream_write(s, out, (size_t)nr * row_bytes, err);
            if (rc)
                goto out;
        }
        if (progress)
            progress(progress_ctx, (int64_t)i, (int64_t)n_t, d->name, d->ne[0], tt, tt, fell);
    }
    rc = owb_synth_stream_finish(s, err);
out:
    owb_synth_stream_free(s);
    free(t);
    free(src);
    free(dst);
    return rc;
}
