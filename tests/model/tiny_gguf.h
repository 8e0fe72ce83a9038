/* SPDX-License-Identifier: MIT */
/*
 * tiny_gguf.h: build small model GGUFs in tests through model/gguf.h's writer: metadata setters,
 * tensors of seeded random f32 values (optionally stored quantized in any type with a reference
 * quantizer), and a write to a file under $OWB_TMP. Header-only, for the model tests.
 */
#ifndef OWB_TESTS_TINY_GGUF_H
#define OWB_TESTS_TINY_GGUF_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/formats.h"
#include "model/gguf.h"

#define TG_MAX_BUFS 512

struct tg {
    struct owb_gguf_writer *w;
    void *bufs[TG_MAX_BUFS];
    int nb;
    uint64_t seed;
    int failed;
    char err[OWB_ERR_MAX];
};

static inline void tg_init(struct tg *t, uint64_t seed)
{
    memset(t, 0, sizeof *t);
    t->w = owb_gguf_writer_new();
    t->seed = seed * 0x9E3779B97F4A7C15ull + 1;
    t->failed = t->w == NULL;
}

static inline void tg_free(struct tg *t)
{
    owb_gguf_writer_free(t->w);
    for (int i = 0; i < t->nb; i++)
        free(t->bufs[i]);
    t->nb = 0;
    t->w = NULL;
}

/* Uniform in [-1, 1). */
static inline float tg_rand(struct tg *t)
{
    t->seed ^= t->seed << 13;
    t->seed ^= t->seed >> 7;
    t->seed ^= t->seed << 17;
    return (float)((double)(t->seed >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

static inline void tg_u32(struct tg *t, const char *key, uint32_t v)
{
    t->failed |= owb_gguf_writer_set_u32(t->w, key, v, t->err) != 0;
}

static inline void tg_f32(struct tg *t, const char *key, float v)
{
    t->failed |= owb_gguf_writer_set_f32(t->w, key, v, t->err) != 0;
}

static inline void tg_str(struct tg *t, const char *key, const char *v)
{
    t->failed |= owb_gguf_writer_set_str(t->w, key, v, t->err) != 0;
}

/* A tensor of shape ne[0..nd) filled with scale * uniform(-1, 1) + offset, stored as `type`
 * (quantized from the f32 values). */
static inline void tg_tensor_t(struct tg *t, const char *name, enum owb_type type, int nd,
                               const int64_t *ne, float scale, float offset)
{
    int64_t n = 1;
    for (int d = 0; d < nd; d++)
        n *= ne[d];
    float *f = malloc((size_t)n * sizeof *f);
    size_t size = 0;
    if (!f || t->nb + 2 > TG_MAX_BUFS || owb_gguf_tensor_size(type, nd, ne, &size, t->err) != 0) {
        free(f);
        t->failed = 1;
        return;
    }
    for (int64_t i = 0; i < n; i++)
        f[i] = scale * tg_rand(t) + offset;
    void *data = f;
    if (type != OWB_TYPE_F32) {
        const struct owb_type_traits *tr = owb_type_traits(type);
        data = malloc(size);
        if (!data || !tr || !tr->from_float_ref) {
            free(data);
            free(f);
            t->failed = 1;
            return;
        }
        for (int64_t r = 0; r < n / ne[0]; r++)
            tr->from_float_ref(f + r * ne[0], (char *)data + (size_t)r * owb_row_size(type, ne[0]),
                               ne[0]);
        t->bufs[t->nb++] = f;
    }
    t->bufs[t->nb++] = data;
    t->failed |= owb_gguf_writer_add_tensor(t->w, name, type, nd, ne, data, size, t->err) != 0;
}

static inline void tg_tensor(struct tg *t, const char *name, int nd, int64_t ne0, int64_t ne1,
                             int64_t ne2, float scale, float offset)
{
    const int64_t ne[3] = {ne0, ne1, ne2};
    tg_tensor_t(t, name, OWB_TYPE_F32, nd, ne, scale, offset);
}

/* Write the file; 0 on success (t->err otherwise). */
static inline int tg_write(struct tg *t, const char *path)
{
    if (t->failed)
        return -1;
    return owb_gguf_writer_write(t->w, path, t->err);
}

#endif
