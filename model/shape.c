/* SPDX-License-Identifier: MIT */
/*
 * shape.c: per-token accounting of a model from its metadata and tensor table (model/shape.h).
 */
#include "model/shape.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Layers windowed by the architecture's rule (model/shape.h). */
static void set_windows(struct owb_shape *s)
{
    if (strcmp(s->arch, "gpt-oss") == 0 && s->window > 0) {
        s->n_layer_window = (s->n_layer + 1) / 2; /* layers 0, 2, 4, ... */
        s->n_layer_full = s->n_layer / 2;
    } else {
        s->n_layer_full = s->n_layer;
        s->n_layer_window = 0;
        s->window = 0;
    }
}

/* Count one dense m x k matrix of type ty in s->mats (a new shape while there is room). */
static void add_mat(struct owb_shape *s, enum owb_type ty, int64_t m, int64_t k)
{
    const double f = 2.0 * (double)m * (double)k;
    for (int i = 0; i < s->n_mats; i++)
        if (s->mats[i].type == ty && s->mats[i].m == m && s->mats[i].k == k) {
            s->mats[i].flop_tok += f;
            return;
        }
    if (s->n_mats < OWB_SHAPE_MAX_MATS)
        s->mats[s->n_mats++] = (struct owb_shape_mat){ty, m, k, f};
}

static int cmp_mat(const void *a, const void *b)
{
    const double x = ((const struct owb_shape_mat *)a)->flop_tok;
    const double y = ((const struct owb_shape_mat *)b)->flop_tok;
    return (x < y) - (x > y);
}

int owb_shape_account(struct owb_shape *s, const struct owb_gguf_tensor *t, int64_t n,
                      uint32_t alignment, char err[OWB_ERR_MAX])
{
    const struct owb_gguf_tensor *embd = NULL;
    bool have_output = false;
    double elems_by_type[OWB_TYPE_COUNT] = {0};
    const double K = (double)s->n_expert_used;
    const uint64_t al = alignment ? alignment : OWB_GGUF_DEFAULT_ALIGNMENT;

    memset(s->read_dense, 0, sizeof s->read_dense);
    memset(s->read_expert, 0, sizeof s->read_expert);
    memset(s->flop_tok, 0, sizeof s->flop_tok);
    memset(s->flop_expert_tok, 0, sizeof s->flop_expert_tok);
    memset(s->mats, 0, sizeof s->mats);
    s->n_mats = 0;
    s->weight_bytes = 0;
    s->n_params = 0;
    for (int64_t i = 0; i < n; i++) {
        const struct owb_gguf_tensor *x = &t[i];
        const uint64_t bytes = x->size_bytes;
        const enum owb_type ty = x->type;
        if ((int)ty < 0 || ty >= OWB_TYPE_COUNT) {
            owb_seterr(err, "%s: tensor %s: type %d out of range", s->name, x->name, (int)ty);
            return OWB_E_FORMAT;
        }
        s->weight_bytes += (bytes + al - 1) / al * al;
        s->n_params += x->n_elements;
        if (strcmp(x->name, "token_embd.weight") == 0) {
            embd = x;
            s->read_dense[ty] += owb_row_size(ty, x->ne[0]); /* one row per token */
            continue;
        }
        if (strcmp(x->name, "output.weight") == 0) {
            have_output = true;
            s->read_dense[ty] += bytes;
            s->output_type = ty;
            s->output_flop_per_row = 2.0 * (double)x->ne[0] * (double)x->ne[1];
            continue;
        }
        long long layer = -1;
        if (sscanf(x->name, "blk.%lld.", &layer) == 1 && (layer < 0 || layer >= s->n_layer)) {
            owb_seterr(err, "%s: tensor %s: layer %lld but the model has %lld layers", s->name,
                       x->name, layer, (long long)s->n_layer);
            return OWB_E_FORMAT;
        }
        const bool expert = strstr(x->name, "_exps.") != NULL;
        if (expert) {
            /* [k, m, X] weights or [m, X] biases: a token reads K of the X slices */
            const int64_t nx = x->ne[x->n_dims - 1];
            if (s->n_expert <= 0 || nx != s->n_expert) {
                owb_seterr(err, "%s: tensor %s: %lld experts but expert_count is %lld", s->name,
                           x->name, (long long)nx, (long long)s->n_expert);
                return OWB_E_FORMAT;
            }
            s->read_expert[ty] += bytes / (uint64_t)s->n_expert;
            if (x->n_dims == 3) {
                s->flop_tok[ty] += 2.0 * (double)x->ne[0] * (double)x->ne[1] * K;
                s->flop_expert_tok[ty] += 2.0 * (double)x->ne[0] * (double)x->ne[1] * K;
                elems_by_type[ty] += (double)x->n_elements;
            }
            continue;
        }
        s->read_dense[ty] += bytes;
        if (layer >= 0 && x->n_dims == 2 && ends_with(x->name, ".weight")) {
            s->flop_tok[ty] += 2.0 * (double)x->ne[0] * (double)x->ne[1];
            elems_by_type[ty] += (double)x->n_elements;
            add_mat(s, ty, x->ne[1], x->ne[0]);
        }
    }
    if (!embd) {
        owb_seterr(err, "%s: no token_embd.weight tensor", s->name);
        return OWB_E_FORMAT;
    }
    s->n_vocab = embd->ne[1];
    if (!have_output) { /* tied: the logits read the whole embedding matrix */
        s->read_dense[embd->type] += embd->size_bytes;
        s->output_type = embd->type;
        s->output_flop_per_row = 2.0 * (double)embd->ne[0] * (double)embd->ne[1];
    }
    s->attn_flop_per_key =
        2.0 * (double)(s->n_head * s->head_dim_k) + 2.0 * (double)(s->n_head * s->head_dim_v);
    s->kv_elems_per_token_layer = s->n_head_kv * (s->head_dim_k + s->head_dim_v);
    set_windows(s);
    int best = 0;
    for (int ty = 1; ty < OWB_TYPE_COUNT; ty++)
        if (elems_by_type[ty] > elems_by_type[best])
            best = ty;
    s->main_type = (enum owb_type)best;
    qsort(s->mats, (size_t)s->n_mats, sizeof s->mats[0], cmp_mat);
    return 0;
}

/* <arch>.<key> as an integer, def when absent and !required. */
static int key_i64(const struct owb_gguf *g, const char *arch, const char *key, bool required,
                   int64_t def, int64_t *out, char err[OWB_ERR_MAX])
{
    char full[128];
    uint64_t v;
    snprintf(full, sizeof full, "%s.%s", arch, key);
    if (!owb_gguf_find(g, full)) {
        if (required) {
            owb_seterr(err, "%s: metadata key %s is missing", g->path, full);
            return OWB_E_FORMAT;
        }
        *out = def;
        return 0;
    }
    if (owb_gguf_get_u64(g, full, &v, err) || v > ((uint64_t)1 << 40)) {
        owb_seterr(err, "%s: metadata key %s: expected a non-negative integer below 2^40", g->path,
                   full);
        return OWB_E_FORMAT;
    }
    *out = (int64_t)v;
    return 0;
}

int owb_shape_from_gguf(const struct owb_gguf *g, struct owb_shape *s, char err[OWB_ERR_MAX])
{
    struct owb_gguf_str str;
    const char *a;
    int rc;
    memset(s, 0, sizeof *s);
    if (owb_gguf_get_str(g, "general.architecture", &str, err))
        return OWB_E_FORMAT;
    if (str.len == 0 || str.len >= sizeof s->arch || memchr(str.ptr, '\0', (size_t)str.len)) {
        owb_seterr(err, "%s: general.architecture is empty or too long", g->path);
        return OWB_E_FORMAT;
    }
    memcpy(s->arch, str.ptr, (size_t)str.len);
    a = s->arch;
    if (owb_gguf_get_str(g, "general.name", &str, err) == 0 && str.len > 0)
        snprintf(s->name, sizeof s->name, "%.*s", (int)(str.len < 120 ? str.len : 120), str.ptr);
    else {
        const char *base = strrchr(g->path, '/');
        snprintf(s->name, sizeof s->name, "%s", base ? base + 1 : g->path);
    }
    if ((rc = key_i64(g, a, "block_count", true, 0, &s->n_layer, err)) ||
        (rc = key_i64(g, a, "embedding_length", true, 0, &s->n_embd, err)) ||
        (rc = key_i64(g, a, "attention.head_count", true, 0, &s->n_head, err)) ||
        (rc = key_i64(g, a, "attention.head_count_kv", false, s->n_head, &s->n_head_kv, err)) ||
        (rc = key_i64(g, a, "context_length", false, 0, &s->n_ctx_train, err)) ||
        (rc = key_i64(g, a, "feed_forward_length", false, 0, &s->n_ff, err)) ||
        (rc = key_i64(g, a, "expert_count", false, 0, &s->n_expert, err)) ||
        (rc = key_i64(g, a, "expert_used_count", false, 0, &s->n_expert_used, err)) ||
        (rc = key_i64(g, a, "attention.sliding_window", false, 0, &s->window, err)))
        return rc;
    if (s->n_layer < 1 || s->n_embd < 1 || s->n_head < 1 || s->n_head_kv < 1) {
        owb_seterr(err, "%s: block_count, embedding_length and head counts must be positive",
                   g->path);
        return OWB_E_FORMAT;
    }
    if ((rc = key_i64(g, a, "attention.key_length", false, s->n_embd / s->n_head, &s->head_dim_k,
                      err)) ||
        (rc = key_i64(g, a, "attention.value_length", false, s->head_dim_k, &s->head_dim_v, err)))
        return rc;
    if (s->n_expert > 0 && (s->n_expert_used < 1 || s->n_expert_used > s->n_expert)) {
        owb_seterr(err, "%s: expert_used_count %lld is not in 1..expert_count (%lld)", g->path,
                   (long long)s->n_expert_used, (long long)s->n_expert);
        return OWB_E_FORMAT;
    }
    char kerr[OWB_ERR_MAX];
    rc = owb_shape_account(s, g->tensors, g->n_tensors, g->alignment, kerr);
    if (rc)
        owb_seterr(err, "%s: %s", g->path, kerr);
    return rc;
}

int owb_shape_from_preset(const struct owb_synth_preset *p, const struct owb_synth_opts *o,
                          struct owb_shape *s, char err[OWB_ERR_MAX])
{
    struct owb_gguf_tensor *t = NULL;
    int64_t n = 0;
    memset(s, 0, sizeof *s);
    int rc = owb_synth_tensor_table(p, o, &t, &n, err);
    if (rc)
        return rc;
    snprintf(s->arch, sizeof s->arch, "%s", p->arch);
    /* as `owbench model --synthetic` names it: preset-type[-LN]; experts' type when separate */
    int k = snprintf(s->name, sizeof s->name, "%s-%s", p->name, owb_type_name(o->type));
    if (o->expert_type != OWB_TYPE_COUNT && o->expert_type != o->type && k > 0 &&
        (size_t)k < sizeof s->name)
        k += snprintf(s->name + k, sizeof s->name - (size_t)k, "+%s-experts",
                      owb_type_name(o->expert_type));
    if (o->n_layer > 0 && o->n_layer < p->n_layer && k > 0 && (size_t)k < sizeof s->name)
        snprintf(s->name + k, sizeof s->name - (size_t)k, "-L%lld", (long long)o->n_layer);
    s->n_layer = o->n_layer > 0 ? o->n_layer : p->n_layer;
    s->n_embd = p->n_embd;
    s->n_head = p->n_head;
    s->n_head_kv = p->n_head_kv;
    s->head_dim_k = s->head_dim_v = p->head_dim > 0 ? p->head_dim : p->n_embd / p->n_head;
    s->n_ff = p->n_ff;
    s->n_ctx_train = p->n_ctx;
    s->n_expert = p->n_expert;
    s->n_expert_used = p->n_expert_used;
    s->window = p->n_swa;
    rc = owb_shape_account(s, t, n, OWB_GGUF_DEFAULT_ALIGNMENT, err);
    free(t);
    return rc;
}

uint64_t owb_shape_decode_read_bytes(const struct owb_shape *s)
{
    uint64_t r = 0;
    for (int t = 0; t < OWB_TYPE_COUNT; t++)
        r += s->read_dense[t] + (uint64_t)s->n_expert_used * s->read_expert[t];
    return r;
}

double owb_shape_step_read_bytes(const struct owb_shape *s, double experts)
{
    double r = 0;
    for (int t = 0; t < OWB_TYPE_COUNT; t++)
        r += (double)s->read_dense[t] + (s->n_expert > 0 ? experts : 0) * (double)s->read_expert[t];
    return r;
}

double owb_shape_distinct_experts(const struct owb_shape *s, double b)
{
    if (s->n_expert <= 0)
        return 0;
    const double X = (double)s->n_expert, k = (double)s->n_expert_used;
    if (b <= 1)
        return k * (b > 0 ? b : 0);
    return X * (1.0 - pow(1.0 - k / X, b));
}

double owb_shape_tokens_per_expert(const struct owb_shape *s, double b)
{
    const double ex = owb_shape_distinct_experts(s, b);
    if (s->n_expert <= 0 || !(ex > 0))
        return b;
    return b * (double)s->n_expert_used / ex;
}

double owb_shape_flop_per_token(const struct owb_shape *s)
{
    double f = 0;
    for (int t = 0; t < OWB_TYPE_COUNT; t++)
        f += s->flop_tok[t];
    return f;
}

static double seen(int64_t pos, int64_t w)
{
    return (double)(w > 0 && w < pos + 1 ? w : pos + 1);
}

double owb_shape_keys_at(const struct owb_shape *s, int64_t pos)
{
    return (double)s->n_layer_full * seen(pos, 0) +
           (double)s->n_layer_window * seen(pos, s->window);
}

double owb_shape_flops(const struct owb_shape *s, int64_t pos, int64_t n, int64_t n_logits)
{
    /* keys summed over positions pos..pos+n-1 in closed form for the full layers; windowed layers
     * see min(p + 1, window) */
    const double a = (double)pos, b = (double)(pos + n);
    double full = (b * (b + 1) - a * (a + 1)) / 2.0; /* sum of p + 1 */
    double win = 0;
    if (s->n_layer_window > 0) {
        const int64_t w = s->window;
        const int64_t lo = pos, hi = pos + n;                            /* p in [lo, hi) */
        const int64_t cut = w - 1 < lo ? lo : (w - 1 < hi ? w - 1 : hi); /* p < cut: p + 1 < w */
        const double c = (double)cut;
        win = (c * (c + 1) - a * (a + 1)) / 2.0 + (double)(hi - cut) * (double)w;
    }
    const double keys = (double)s->n_layer_full * full + (double)s->n_layer_window * win;
    return (double)n * owb_shape_flop_per_token(s) + (double)n_logits * s->output_flop_per_row +
           keys * s->attn_flop_per_key;
}

double owb_shape_kv_elems(const struct owb_shape *s, int64_t n_ctx)
{
    const double w = s->window > 0 && s->window < n_ctx ? (double)s->window : (double)n_ctx;
    return (double)s->kv_elems_per_token_layer *
           ((double)s->n_layer_full * (double)n_ctx + (double)s->n_layer_window * w);
}

double owb_shape_kv_elems_at(const struct owb_shape *s, int64_t pos)
{
    return (double)s->kv_elems_per_token_layer *
           (owb_shape_keys_at(s, pos) + (double)(s->n_layer_full + s->n_layer_window));
}
