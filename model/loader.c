/* SPDX-License-Identifier: MIT */
/*
 * loader.c: checked hyperparameter reads, tensor lookup and weight binding (model/loader.h).
 */
#include "model/loader.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "model/arch.h"

static void key_name(char *k, size_t n, const struct owb_loader *ld, const char *key)
{
    snprintf(k, n, "%s.%s", ld->arch, key);
}

int owb_ld_u32(struct owb_loader *ld, const char *key, bool required, uint32_t def, int64_t *out,
               char err[OWB_ERR_MAX])
{
    char k[160];
    uint32_t v;
    key_name(k, sizeof k, ld, key);
    if (!owb_gguf_find(ld->g, k)) {
        if (required) {
            owb_seterr(err, "%.300s: key %s is missing", ld->g->path, k);
            return OWB_E_FORMAT;
        }
        *out = def;
        return 0;
    }
    if (owb_gguf_get_u32(ld->g, k, &v, err))
        return OWB_E_FORMAT;
    if (v > INT32_MAX) {
        owb_seterr(err, "%.300s: key %s = %" PRIu32 " is out of range", ld->g->path, k, v);
        return OWB_E_FORMAT;
    }
    *out = v;
    return 0;
}

int owb_ld_f32(struct owb_loader *ld, const char *key, float def, float *out, char err[OWB_ERR_MAX])
{
    char k[160];
    key_name(k, sizeof k, ld, key);
    *out = def;
    if (!owb_gguf_find(ld->g, k))
        return 0;
    if (owb_gguf_get_f32(ld->g, k, out, err))
        return OWB_E_FORMAT;
    if (!isfinite(*out)) {
        owb_seterr(err, "%.300s: key %s is not a finite number", ld->g->path, k);
        return OWB_E_FORMAT;
    }
    return 0;
}

int owb_ld_str(struct owb_loader *ld, const char *key, char *buf, size_t size,
               char err[OWB_ERR_MAX])
{
    char k[160];
    struct owb_gguf_str s;
    key_name(k, sizeof k, ld, key);
    buf[0] = '\0';
    if (!owb_gguf_find(ld->g, k))
        return 0;
    if (owb_gguf_get_str(ld->g, k, &s, err))
        return OWB_E_FORMAT;
    size_t n = s.len < size - 1 ? (size_t)s.len : size - 1;
    memcpy(buf, s.ptr, n);
    buf[n] = '\0';
    return 0;
}

int owb_ld_mul(const struct owb_loader *ld, const char *what, int64_t a, int64_t b, int64_t *out,
               char err[OWB_ERR_MAX])
{
    int64_t p;
    if (a <= 0 || b <= 0 || __builtin_mul_overflow(a, b, &p) || p > OWB_LD_MAX_ELEMS) {
        owb_seterr(err, "%.300s: %s = %" PRId64 " x %" PRId64 " is out of range", ld->g->path, what,
                   a, b);
        return OWB_E_FORMAT;
    }
    *out = p;
    return 0;
}

void owb_ld_name(char *buf, size_t size, int64_t layer, const char *base, const char *suffix)
{
    snprintf(buf, size, "blk.%" PRId64 ".%s.%s", layer, base, suffix);
}

static void shape_str(char *buf, size_t n, int nd, const int64_t *ne)
{
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < nd && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, "%s%" PRId64, d ? ", " : "", ne[d]);
    if (o < n)
        snprintf(buf + o, n - o, "]");
}

const struct owb_gguf_tensor *owb_ld_tensor(struct owb_loader *ld, const char *name, int nd,
                                            const int64_t *ne, bool required, char err[OWB_ERR_MAX])
{
    const struct owb_gguf_tensor *t = owb_gguf_tensor(ld->g, name);
    OWB_ASSERT(nd >= 1 && nd <= OWB_GGUF_MAX_DIMS);
    if (!t) {
        if (required)
            owb_seterr(err, "%.300s: tensor %s is missing", ld->g->path, name);
        return NULL;
    }
    bool ok = true;
    for (int d = 0; d < OWB_GGUF_MAX_DIMS; d++)
        ok = ok && t->ne[d] == (d < nd ? ne[d] : 1);
    if (!ok) {
        char a[128], b[128];
        shape_str(a, sizeof a, t->n_dims, t->ne);
        shape_str(b, sizeof b, nd, ne);
        owb_seterr(err, "%.300s: tensor %s has shape %s, expected %s", ld->g->path, name, a, b);
        return NULL;
    }
    return t;
}

int owb_ld_matrix(struct owb_loader *ld, const char *name, int64_t k, int64_t m, int64_t n_exp,
                  struct owb_wt *w, char err[OWB_ERR_MAX])
{
    const int64_t ne[3] = {k, m, n_exp};
    const struct owb_gguf_tensor *t = owb_ld_tensor(ld, name, n_exp ? 3 : 2, ne, true, err);
    if (!t)
        return OWB_E_FORMAT;
    /* Float weights are read as float / uint16 arrays: their data must be aligned for that
     * (it is whenever general.alignment >= 4). */
    size_t need = t->type == OWB_TYPE_F32                               ? 4
                  : t->type == OWB_TYPE_F16 || t->type == OWB_TYPE_BF16 ? 2
                                                                        : 1;
    if ((uintptr_t)t->data % need) {
        owb_seterr(err, "%.300s: tensor %s: %s data is not %zu-byte aligned", ld->g->path, name,
                   owb_type_name(t->type), need);
        return OWB_E_FORMAT;
    }
    struct owb_matmul_plan p;
    char merr[OWB_ERR_MAX];
    int rc = owb_matmul_plan_init(&p, t->type, m, k, 1, ld->isa, merr);
    if (rc) {
        owb_seterr(err, "%.300s: tensor %s (%s): %.150s", ld->g->path, name, owb_type_name(t->type),
                   merr);
        return rc;
    }
    w->data = t->data;
    w->type = t->type;
    w->m = m;
    w->k = k;
    w->n_exp = n_exp ? n_exp : 1;
    w->exp_stride = (size_t)m * owb_row_size(t->type, k);
    w->wl = (enum owb_wlayout)t->wlayout; /* rows, unless an earlier load converted the copy */
    ld->bound_bytes += t->size_bytes;
    return 0;
}

int owb_ld_vec(struct owb_loader *ld, const char *name, int64_t n, int64_t n2, bool required,
               float *dst, bool *found, char err[OWB_ERR_MAX])
{
    const int64_t ne[2] = {n, n2};
    const struct owb_gguf_tensor *t = owb_ld_tensor(ld, name, n2 ? 2 : 1, ne, required, err);
    if (found)
        *found = t != NULL;
    if (!t)
        return required || owb_gguf_tensor(ld->g, name) ? OWB_E_FORMAT : 0;
    for (int64_t r = 0; r < (n2 ? n2 : 1); r++)
        if (owb_get_row(t->type, t->data, r, n, dst + r * n) != 0) {
            owb_seterr(err, "%.300s: tensor %s: type %s cannot be converted to f32", ld->g->path,
                       name, owb_type_name(t->type));
            return OWB_E_FORMAT;
        }
    ld->bound_bytes += t->size_bytes;
    return 0;
}

float *owb_ld_alloc_f32(int64_t a, int64_t b, int64_t c, bool zero, bool *oom)
{
    uint64_t n, bytes;
    if (a < 0 || b < 0 || c < 0 || __builtin_mul_overflow((uint64_t)a, (uint64_t)b, &n) ||
        __builtin_mul_overflow(n, (uint64_t)c, &n) ||
        __builtin_mul_overflow(n, (uint64_t)sizeof(float), &bytes) || bytes > SIZE_MAX - 64) {
        *oom = true;
        return NULL;
    }
    bytes = (bytes + 63) & ~(uint64_t)63;
    void *p = aligned_alloc(64, bytes ? (size_t)bytes : 64);
    if (!p)
        *oom = true;
    else if (zero)
        memset(p, 0, (size_t)bytes);
    return p;
}

int owb_ld_heads(const struct owb_loader *ld, struct owb_hparams *hp, char err[OWB_ERR_MAX])
{
    if (hp->n_head_kv == 0)
        hp->n_head_kv = hp->n_head;
    if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_head <= 0 || hp->n_head_kv <= 0 ||
        hp->n_head % hp->n_head_kv != 0) {
        owb_seterr(err,
                   "%.300s: bad hyperparameters: embedding_length %" PRId64 ", block_count %" PRId64
                   ", head_count %" PRId64 ", head_count_kv %" PRId64,
                   ld->g->path, hp->n_embd, hp->n_layer, hp->n_head, hp->n_head_kv);
        return OWB_E_FORMAT;
    }
    return 0;
}

int owb_ld_head_dim(struct owb_loader *ld, struct owb_hparams *hp, int64_t key_len, int64_t val_len,
                    char err[OWB_ERR_MAX])
{
    const char *path = ld->g->path;
    if (!key_len && hp->n_embd % hp->n_head) {
        owb_seterr(err,
                   "%.300s: embedding_length %" PRId64 " is not a multiple of head_count %" PRId64,
                   path, hp->n_embd, hp->n_head);
        return OWB_E_FORMAT;
    }
    hp->head_dim = key_len ? key_len : hp->n_embd / hp->n_head;
    if (val_len && val_len != hp->head_dim) {
        owb_seterr(err,
                   "%.300s: value_length %" PRId64 " differs from key_length %" PRId64
                   " (not supported)",
                   path, val_len, hp->head_dim);
        return OWB_E_FORMAT;
    }
    if (owb_ld_u32(ld, "rope.dimension_count", false, (uint32_t)hp->head_dim, &hp->n_rot, err))
        return OWB_E_FORMAT;
    if (hp->n_rot <= 0 || hp->n_rot % 2 || hp->n_rot > hp->head_dim ||
        hp->n_rot > OWB_ROPE_MAX_ROT) {
        owb_seterr(err,
                   "%.300s: rope.dimension_count %" PRId64
                   " must be even and at most the head size %" PRId64,
                   path, hp->n_rot, hp->head_dim);
        return OWB_E_FORMAT;
    }
    return 0;
}

int owb_ld_embd_output(struct owb_loader *ld, struct owb_hparams *hp, struct owb_wt *tok_embd,
                       struct owb_wt *output, char err[OWB_ERR_MAX])
{
    const struct owb_gguf *g = ld->g;
    const struct owb_gguf_tensor *te = owb_gguf_tensor(g, "token_embd.weight");
    if (!te || te->n_dims != 2 || te->ne[0] != hp->n_embd || te->ne[1] <= 0) {
        if (!te)
            owb_seterr(err, "%.300s: tensor token_embd.weight is missing", g->path);
        else
            owb_seterr(err, "%.300s: tensor token_embd.weight is not [%" PRId64 ", n_vocab]",
                       g->path, hp->n_embd);
        return OWB_E_FORMAT;
    }
    hp->n_vocab = te->ne[1];
    *tok_embd = (struct owb_wt){te->data, te->type, hp->n_vocab, hp->n_embd, 1, 0, OWB_WL_ROWS};
    if (!owb_type_traits(te->type) || !owb_type_traits(te->type)->to_float) {
        owb_seterr(err, "%.300s: token_embd.weight: type %s cannot be dequantized", g->path,
                   owb_type_name(te->type));
        return OWB_E_FORMAT;
    }
    hp->tied_output = owb_gguf_tensor(g, "output.weight") == NULL;
    if (!hp->tied_output)
        ld->bound_bytes += te->size_bytes;
    return owb_ld_matrix(ld, hp->tied_output ? "token_embd.weight" : "output.weight", hp->n_embd,
                         hp->n_vocab, 0, output, err);
}

int owb_ld_context(const struct owb_loader *ld, struct owb_model *m, const struct owb_model_opts *o,
                   char err[OWB_ERR_MAX])
{
    m->n_ctx = o->n_ctx > 0 ? o->n_ctx : m->hp.n_ctx_train;
    if (m->n_ctx <= 0) {
        owb_seterr(err, "%.300s: context length is 0", ld->g->path);
        return OWB_E_FORMAT;
    }
    m->n_batch = o->n_batch > 0 ? o->n_batch : 512;
    if (m->n_batch > m->n_ctx)
        m->n_batch = m->n_ctx;
    return 0;
}
