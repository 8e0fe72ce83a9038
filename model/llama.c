/* SPDX-License-Identifier: MIT */
/*
 * llama.c: the Llama-family forward pass (model/llama.h), in the straight-line style of llama2.c's
 * run.c: every buffer is allocated once at load with its shape in a comment, and a forward call is
 * a loop over layers of matmuls (kernels/matmul.h, weights in place), row ops (kernels/ops.h) and
 * attention. Parallel regions go through the caller's runner: matmuls split output rows (aligned
 * to OWB_MATMUL_ROW_ALIGN; activations are quantized once per input, split by batch rows),
 * attention splits heads. Q/K/V (and gate/up) share one prepared input and one region each. K and
 * V rows are written by the matmul straight into the f32 KV cache at their positions.
 */
#include "model/llama.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/matmul.h"
#include "kernels/ops.h"

/* Fill a caller's error buffer (vsnprintf: over-long messages are cut). */
__attribute__((format(printf, 2, 3))) static void seterr(char *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, OWB_ERR_MAX, fmt, ap);
    va_end(ap);
}

/* Weight slots of a layer, in plan order. */
enum { W_Q, W_K, W_V, W_O, W_GATE, W_UP, W_DOWN, W_PER_LAYER };

#define MAX_GROUP 3 /* matmuls sharing one input in a parallel region */

/* A weight matrix in the mapping: m rows (outputs) of k elements (inputs). */
struct wt {
    const void *data;
    enum owb_type type;
    int64_t m, k;
};

struct layer {
    float *attn_norm; /* (n_embd) */
    float *ffn_norm;  /* (n_embd) */
    float *bq;        /* (q_dim) or NULL */
    float *bk;        /* (kv_dim) or NULL */
    float *bv;        /* (kv_dim) or NULL */
    struct wt w[W_PER_LAYER];
};

struct llama {
    const struct owb_runner *runner;
    int nthreads;
    enum owb_isa isa;
    int64_t q_dim, kv_dim; /* n_head * head_dim, n_head_kv * head_dim */
    struct layer *layers;  /* (n_layer) */
    struct wt tok_embd;    /* n_vocab rows of n_embd */
    struct wt output;      /* n_vocab rows of n_embd (== tok_embd when tied) */
    float *output_norm;    /* (n_embd) */
    float *rope_ff;        /* (n_rot / 2) frequency divisors (rope_freqs.weight) or NULL */
    float *vecs;           /* owned storage of the 1-D tensors above */

    /* Activations for up to n_batch tokens. */
    float *x;             /* (n_batch, n_embd) residual stream */
    float *xb;            /* (n_batch, n_embd) normed block input / projection output */
    float *q;             /* (n_batch, q_dim) queries */
    float *att_out;       /* (n_batch, q_dim) attention output, heads concatenated */
    float *hb;            /* (n_batch, n_ff) gate, then silu(gate) * up */
    float *hb2;           /* (n_batch, n_ff) up */
    float *att;           /* (nthreads, n_ctx) attention scores, one row per thread */
    float *k_cache;       /* (n_layer, n_ctx, kv_dim) */
    float *v_cache;       /* (n_layer, n_ctx, kv_dim) */
    void *act[MAX_GROUP]; /* prepared activations, act_bytes each */
    size_t act_bytes;

    /* Matmul plans for chunks of plan_nb tokens: (n_layer * W_PER_LAYER) then output. */
    int64_t plan_nb;
    struct owb_matmul_plan *plans;
    struct owb_matmul_plan out1; /* output projection of one token */
};

/* ---- loading ---- */

static int hp_get(const struct owb_gguf *g, const char *arch, const char *key, bool required,
                  uint32_t def, int64_t *out, char err[OWB_ERR_MAX])
{
    char k[128];
    uint32_t v;
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (!owb_gguf_find(g, k)) {
        if (required) {
            seterr(err, "%.300s: key %s is missing", g->path, k);
            return OWB_E_FORMAT;
        }
        *out = def;
        return 0;
    }
    if (owb_gguf_get_u32(g, k, &v, err))
        return OWB_E_FORMAT;
    *out = v;
    return 0;
}

static int hp_getf(const struct owb_gguf *g, const char *arch, const char *key, float def,
                   float *out, char err[OWB_ERR_MAX])
{
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    *out = def;
    if (!owb_gguf_find(g, k))
        return 0;
    return owb_gguf_get_f32(g, k, out, err);
}

static void shape_str(char *buf, size_t n, int nd, const int64_t *ne)
{
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < nd && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, "%s%" PRId64, d ? ", " : "", ne[d]);
    if (o < n)
        snprintf(buf + o, n - o, "]");
}

/* Find a tensor and check its shape is [ne0] (ne1 == 0) or [ne0, ne1]. */
static const struct owb_gguf_tensor *find_tensor(const struct owb_gguf *g, const char *name,
                                                 int64_t ne0, int64_t ne1, bool required,
                                                 char err[OWB_ERR_MAX])
{
    const struct owb_gguf_tensor *t = owb_gguf_tensor(g, name);
    if (!t) {
        if (required)
            seterr(err, "%.300s: tensor %s is missing", g->path, name);
        return NULL;
    }
    int nd = ne1 ? 2 : 1;
    int64_t want[2] = {ne0, ne1};
    bool ok = t->ne[0] == ne0 && t->ne[1] == (ne1 ? ne1 : 1) && t->ne[2] == 1 && t->ne[3] == 1;
    if (!ok) {
        char a[96], b[96];
        shape_str(a, sizeof a, t->n_dims, t->ne);
        shape_str(b, sizeof b, nd, want);
        seterr(err, "%.300s: tensor %s has shape %s, expected %s", g->path, name, a, b);
        return NULL;
    }
    return t;
}

/* Bind a weight matrix (rows = outputs) and check the kernels can multiply it. */
static int bind_wt(struct llama *L, const struct owb_gguf *g, const char *name, int64_t k,
                   int64_t m, struct wt *w, char err[OWB_ERR_MAX])
{
    const struct owb_gguf_tensor *t = find_tensor(g, name, k, m, true, err);
    if (!t)
        return OWB_E_FORMAT;
    /* Float weights are read as float / uint16 arrays: their data must be aligned for that
     * (it is whenever general.alignment >= 4). */
    size_t need = t->type == OWB_TYPE_F32                               ? 4
                  : t->type == OWB_TYPE_F16 || t->type == OWB_TYPE_BF16 ? 2
                                                                        : 1;
    if ((uintptr_t)t->data % need) {
        seterr(err, "%.300s: tensor %s: %s data is not %zu-byte aligned", g->path, name,
               owb_type_name(t->type), need);
        return OWB_E_FORMAT;
    }
    w->data = t->data;
    w->type = t->type;
    w->m = m;
    w->k = k;
    struct owb_matmul_plan p;
    char merr[OWB_ERR_MAX];
    int rc = owb_matmul_plan_init(&p, t->type, m, k, 1, L->isa, merr);
    if (rc) {
        seterr(err, "%.300s: tensor %s (%s): %.150s", g->path, name, owb_type_name(t->type), merr);
        return rc;
    }
    return 0;
}

/* Copy a 1-D tensor of n elements (any type with a dequantizer) into dst. */
static int load_vec(const struct owb_gguf *g, const char *name, int64_t n, bool required,
                    float *dst, bool *found, char err[OWB_ERR_MAX])
{
    const struct owb_gguf_tensor *t = find_tensor(g, name, n, 0, required, err);
    if (found)
        *found = t != NULL;
    if (!t)
        return required || owb_gguf_tensor(g, name) ? OWB_E_FORMAT : 0;
    if (owb_get_row(t->type, t->data, 0, n, dst) != 0) {
        seterr(err, "%.300s: tensor %s: type %s cannot be converted to f32", g->path, name,
               owb_type_name(t->type));
        return OWB_E_FORMAT;
    }
    return 0;
}

static void *alloc_f32(int64_t a, int64_t b, int64_t c, bool *oom)
{
    uint64_t n, bytes;
    if (__builtin_mul_overflow((uint64_t)a, (uint64_t)b, &n) ||
        __builtin_mul_overflow(n, (uint64_t)c, &n) ||
        __builtin_mul_overflow(n, (uint64_t)sizeof(float), &bytes) || bytes > SIZE_MAX - 64) {
        *oom = true;
        return NULL;
    }
    bytes = (bytes + 63) & ~(uint64_t)63;
    void *p = aligned_alloc(64, bytes ? (size_t)bytes : 64);
    if (!p)
        *oom = true;
    else
        memset(p, 0, (size_t)bytes);
    return p;
}

void owb_llama_release(struct owb_model *m)
{
    struct llama *L = m->impl;
    if (!L)
        return;
    free(L->layers);
    free(L->vecs);
    free(L->x);
    free(L->xb);
    free(L->q);
    free(L->att_out);
    free(L->hb);
    free(L->hb2);
    free(L->att);
    free(L->k_cache);
    free(L->v_cache);
    for (int i = 0; i < MAX_GROUP; i++)
        free(L->act[i]);
    free(L->plans);
    free(L);
    m->impl = NULL;
}

static int plan_all(struct owb_model *m, int64_t nb, char err[OWB_ERR_MAX]);

int owb_llama_load(struct owb_model *m, const struct owb_gguf *g, const struct owb_model_opts *o,
                   char err[OWB_ERR_MAX])
{
    struct owb_hparams *hp = &m->hp;
    const char *a = hp->arch;
    struct llama *L = calloc(1, sizeof *L);
    char name[96];
    bool oom = false;
    int rc = OWB_E_FORMAT;

    if (!L) {
        seterr(err, "%.300s: out of memory", g->path);
        return OWB_E_NOMEM;
    }
    m->impl = L;
    L->runner = o->runner;
    L->nthreads = o->runner && o->runner->nthreads > 0 ? o->runner->nthreads : 1;
    L->isa = owb_isa_active();

    int64_t key_len, val_len;
    if (hp_get(g, a, "embedding_length", true, 0, &hp->n_embd, err) ||
        hp_get(g, a, "block_count", true, 0, &hp->n_layer, err) ||
        hp_get(g, a, "attention.head_count", true, 0, &hp->n_head, err) ||
        hp_get(g, a, "attention.head_count_kv", false, 0, &hp->n_head_kv, err) ||
        hp_get(g, a, "context_length", true, 0, &hp->n_ctx_train, err) ||
        hp_get(g, a, "feed_forward_length", false, 0, &hp->n_ff, err) ||
        hp_get(g, a, "attention.key_length", false, 0, &key_len, err) ||
        hp_get(g, a, "attention.value_length", false, 0, &val_len, err) ||
        hp_getf(g, a, "rope.freq_base", 10000.0f, &hp->rope_freq_base, err) ||
        hp_getf(g, a, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->rms_eps, err))
        goto fail;
    if (hp->n_head_kv == 0)
        hp->n_head_kv = hp->n_head;
    if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_head <= 0 || hp->n_head % hp->n_head_kv != 0) {
        seterr(err,
               "%.300s: bad hyperparameters: embedding_length %" PRId64 ", block_count %" PRId64
               ", head_count %" PRId64 ", head_count_kv %" PRId64,
               g->path, hp->n_embd, hp->n_layer, hp->n_head, hp->n_head_kv);
        goto fail;
    }
    if (!key_len && hp->n_embd % hp->n_head) {
        seterr(err, "%.300s: embedding_length %" PRId64 " is not a multiple of head_count %" PRId64,
               g->path, hp->n_embd, hp->n_head);
        goto fail;
    }
    hp->head_dim = key_len ? key_len : hp->n_embd / hp->n_head;
    if (val_len && val_len != hp->head_dim) {
        seterr(err,
               "%.300s: value_length %" PRId64 " differs from key_length %" PRId64
               " (not supported)",
               g->path, val_len, hp->head_dim);
        goto fail;
    }
    if (hp_get(g, a, "rope.dimension_count", false, (uint32_t)hp->head_dim, &hp->n_rot, err))
        goto fail;
    if (hp->n_rot <= 0 || hp->n_rot % 2 || hp->n_rot > hp->head_dim ||
        hp->n_rot > OWB_ROPE_MAX_ROT) {
        seterr(err,
               "%.300s: rope.dimension_count %" PRId64
               " must be even and at most the head size %" PRId64,
               g->path, hp->n_rot, hp->head_dim);
        goto fail;
    }
    hp->rope_freq_scale = 1.0f;
    {
        char k[128];
        float factor = 0.0f;
        struct owb_gguf_str st;
        snprintf(k, sizeof k, "%s.rope.scaling.type", a);
        bool linear = !owb_gguf_find(g, k) || (owb_gguf_get_str(g, k, &st, err) == 0 &&
                                               st.len == 6 && memcmp(st.ptr, "linear", 6) == 0);
        if (hp_getf(g, a, "rope.scaling.factor", 0.0f, &factor, err))
            goto fail;
        if (factor > 0.0f && factor != 1.0f) {
            if (!linear) {
                seterr(err, "%.300s: rope scaling other than linear is not supported", g->path);
                goto fail;
            }
            hp->rope_freq_scale = 1.0f / factor;
        }
    }
    if (owb_gguf_tensor(g, "blk.0.ffn_gate_inp.weight")) {
        seterr(err, "%.300s: mixture-of-experts layers are not supported", g->path);
        goto fail;
    }

    /* Embedding: ne = [n_embd, n_vocab]. */
    const struct owb_gguf_tensor *te = owb_gguf_tensor(g, "token_embd.weight");
    if (!te || te->n_dims != 2 || te->ne[0] != hp->n_embd || te->ne[1] <= 0) {
        if (!te)
            seterr(err, "%.300s: tensor token_embd.weight is missing", g->path);
        else
            seterr(err, "%.300s: tensor token_embd.weight is not [%" PRId64 ", n_vocab]", g->path,
                   hp->n_embd);
        goto fail;
    }
    hp->n_vocab = te->ne[1];
    L->tok_embd = (struct wt){te->data, te->type, hp->n_vocab, hp->n_embd};
    if (!owb_type_traits(te->type) || !owb_type_traits(te->type)->to_float) {
        seterr(err, "%.300s: token_embd.weight: type %s cannot be dequantized", g->path,
               owb_type_name(te->type));
        goto fail;
    }
    hp->tied_output = owb_gguf_tensor(g, "output.weight") == NULL;
    if ((rc = bind_wt(L, g, hp->tied_output ? "token_embd.weight" : "output.weight", hp->n_embd,
                      hp->n_vocab, &L->output, err)))
        goto fail;
    rc = OWB_E_FORMAT;

    L->q_dim = hp->n_head * hp->head_dim;
    L->kv_dim = hp->n_head_kv * hp->head_dim;
    if (!hp->n_ff) {
        const struct owb_gguf_tensor *tg = owb_gguf_tensor(g, "blk.0.ffn_gate.weight");
        hp->n_ff = tg ? tg->ne[1] : 0;
    }
    if (hp->n_ff <= 0) {
        seterr(err, "%.300s: feed_forward_length is missing", g->path);
        goto fail;
    }

    /* 1-D tensors: norms (2 per layer + output) and optional q/k/v biases. */
    int64_t per_layer = 2 * hp->n_embd + L->q_dim + 2 * L->kv_dim;
    L->layers = calloc((size_t)hp->n_layer, sizeof *L->layers);
    L->vecs = alloc_f32(hp->n_layer * per_layer + hp->n_embd + hp->n_rot, 1, 1, &oom);
    if (oom || !L->layers) {
        seterr(err, "%.300s: out of memory", g->path);
        rc = OWB_E_NOMEM;
        goto fail;
    }
    float *v = L->vecs;
    for (int64_t l = 0; l < hp->n_layer; l++) {
        struct layer *ly = &L->layers[l];
        static const char *const wname[W_PER_LAYER] = {
            "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
        const int64_t wk[W_PER_LAYER] = {hp->n_embd, hp->n_embd, hp->n_embd, L->q_dim,
                                         hp->n_embd, hp->n_embd, hp->n_ff};
        const int64_t wm[W_PER_LAYER] = {L->q_dim, L->kv_dim, L->kv_dim, hp->n_embd,
                                         hp->n_ff, hp->n_ff,  hp->n_embd};
        for (int i = 0; i < W_PER_LAYER; i++) {
            snprintf(name, sizeof name, "blk.%" PRId64 ".%s.weight", l, wname[i]);
            if ((rc = bind_wt(L, g, name, wk[i], wm[i], &ly->w[i], err)))
                goto fail;
        }
        rc = OWB_E_FORMAT;
        bool found;
        ly->attn_norm = v;
        v += hp->n_embd;
        ly->ffn_norm = v;
        v += hp->n_embd;
        snprintf(name, sizeof name, "blk.%" PRId64 ".attn_norm.weight", l);
        if (load_vec(g, name, hp->n_embd, true, ly->attn_norm, NULL, err))
            goto fail;
        snprintf(name, sizeof name, "blk.%" PRId64 ".ffn_norm.weight", l);
        if (load_vec(g, name, hp->n_embd, true, ly->ffn_norm, NULL, err))
            goto fail;
        snprintf(name, sizeof name, "blk.%" PRId64 ".attn_q.bias", l);
        if (load_vec(g, name, L->q_dim, false, v, &found, err))
            goto fail;
        ly->bq = found ? v : NULL;
        v += L->q_dim;
        snprintf(name, sizeof name, "blk.%" PRId64 ".attn_k.bias", l);
        if (load_vec(g, name, L->kv_dim, false, v, &found, err))
            goto fail;
        ly->bk = found ? v : NULL;
        v += L->kv_dim;
        snprintf(name, sizeof name, "blk.%" PRId64 ".attn_v.bias", l);
        if (load_vec(g, name, L->kv_dim, false, v, &found, err))
            goto fail;
        ly->bv = found ? v : NULL;
        v += L->kv_dim;
    }
    L->output_norm = v;
    v += hp->n_embd;
    if (load_vec(g, "output_norm.weight", hp->n_embd, true, L->output_norm, NULL, err))
        goto fail;
    {
        bool found;
        if (load_vec(g, "rope_freqs.weight", hp->n_rot / 2, false, v, &found, err))
            goto fail;
        L->rope_ff = found ? v : NULL;
    }

    /* Context and batch. */
    m->n_ctx = o->n_ctx > 0 ? o->n_ctx : hp->n_ctx_train;
    if (m->n_ctx <= 0) {
        seterr(err, "%.300s: context length is 0", g->path);
        goto fail;
    }
    m->n_batch = o->n_batch > 0 ? o->n_batch : 512;
    if (m->n_batch > m->n_ctx)
        m->n_batch = m->n_ctx;

    /* Activations, KV cache and scratch (all at once; nothing is allocated per token). */
    int64_t nb = m->n_batch;
    L->x = alloc_f32(nb, hp->n_embd, 1, &oom);
    L->xb = alloc_f32(nb, hp->n_embd, 1, &oom);
    L->q = alloc_f32(nb, L->q_dim, 1, &oom);
    L->att_out = alloc_f32(nb, L->q_dim, 1, &oom);
    L->hb = alloc_f32(nb, hp->n_ff, 1, &oom);
    L->hb2 = alloc_f32(nb, hp->n_ff, 1, &oom);
    L->att = alloc_f32(L->nthreads, m->n_ctx, 1, &oom);
    L->k_cache = alloc_f32(hp->n_layer, m->n_ctx, L->kv_dim, &oom);
    L->v_cache = alloc_f32(hp->n_layer, m->n_ctx, L->kv_dim, &oom);
    L->plans = calloc((size_t)(hp->n_layer * W_PER_LAYER + 1), sizeof *L->plans);
    if (oom || !L->plans) {
        seterr(err,
               "%.300s: out of memory for a context of %" PRId64 " and batch of %" PRId64
               " (KV cache %.1f MiB)",
               g->path, m->n_ctx, nb,
               2.0 * (double)hp->n_layer * (double)m->n_ctx * (double)L->kv_dim * 4.0 / 1048576.0);
        rc = OWB_E_NOMEM;
        goto fail;
    }
    /* Activation scratch: the largest any plan needs at the full batch. */
    if ((rc = plan_all(m, nb, err)))
        goto fail;
    size_t ab = 0;
    for (int64_t i = 0; i <= hp->n_layer * W_PER_LAYER; i++) {
        size_t b = owb_matmul_act_bytes(&L->plans[i]);
        ab = b > ab ? b : ab;
    }
    {
        char merr[OWB_ERR_MAX];
        if ((rc = owb_matmul_plan_init(&L->out1, L->output.type, L->output.m, L->output.k, 1,
                                       L->isa, merr))) {
            seterr(err, "%.300s: output projection: %.150s", g->path, merr);
            goto fail;
        }
    }
    L->act_bytes = (ab + 63) & ~(size_t)63;
    for (int i = 0; i < MAX_GROUP && L->act_bytes; i++) {
        L->act[i] = aligned_alloc(64, L->act_bytes);
        if (!L->act[i]) {
            seterr(err, "%.300s: out of memory", g->path);
            rc = OWB_E_NOMEM;
            goto fail;
        }
    }
    return 0;
fail:
    owb_llama_release(m);
    return rc ? rc : OWB_E_FORMAT;
}

/* Plans of every weight for chunks of nb tokens (kept until the chunk size changes). */
static int plan_all(struct owb_model *m, int64_t nb, char err[OWB_ERR_MAX])
{
    struct llama *L = m->impl;
    char merr[OWB_ERR_MAX];
    if (L->plan_nb == nb)
        return 0;
    for (int64_t l = 0; l < m->hp.n_layer; l++)
        for (int i = 0; i < W_PER_LAYER; i++) {
            const struct wt *w = &L->layers[l].w[i];
            int rc = owb_matmul_plan_init(&L->plans[l * W_PER_LAYER + i], w->type, w->m, w->k, nb,
                                          L->isa, merr);
            if (rc) {
                seterr(err, "layer %" PRId64 ": %.400s", l, merr);
                return rc;
            }
        }
    int rc = owb_matmul_plan_init(&L->plans[m->hp.n_layer * W_PER_LAYER], L->output.type,
                                  L->output.m, L->output.k, nb, L->isa, merr);
    if (rc) {
        seterr(err, "output: %.400s", merr);
        return rc;
    }
    L->plan_nb = nb;
    return 0;
}

/* ---- parallel regions ---- */

static void run_par(const struct llama *L, owb_par_fn fn, void *ctx)
{
    if (L->runner && L->runner->run && L->nthreads > 1)
        L->runner->run(L->runner->pool, fn, ctx);
    else
        fn(ctx, 0, 1);
}

/* Contiguous slice of [0, n) for thread tid, boundaries on multiples of align. */
static void slice(int64_t n, int64_t align, int tid, int nth, int64_t *lo, int64_t *hi)
{
    int64_t blocks = (n + align - 1) / align;
    int64_t b0 = blocks * tid / nth, b1 = blocks * (tid + 1) / nth;
    *lo = b0 * align < n ? b0 * align : n;
    *hi = b1 * align < n ? b1 * align : n;
}

/* Up to MAX_GROUP matmuls over the same input rows X (batch x k, stride ldx). */
struct mm_group {
    const float *x;
    int64_t ldx;
    int n;
    struct {
        const struct owb_matmul_plan *p;
        const void *w;
        float *y;
        int64_t ldy;
        void *act;
        bool prepare; /* false: shares the prepared input of an earlier member */
    } t[MAX_GROUP];
};

static void mm_prepare_fn(void *ctx, int tid, int nth)
{
    const struct mm_group *g = ctx;
    for (int i = 0; i < g->n; i++) {
        if (!g->t[i].prepare)
            continue;
        int64_t b0, b1;
        slice(g->t[i].p->batch, 1, tid, nth, &b0, &b1);
        owb_matmul_prepare(g->t[i].p, g->x, g->ldx, g->t[i].act, b0, b1);
    }
}

static void mm_rows_fn(void *ctx, int tid, int nth)
{
    const struct mm_group *g = ctx;
    for (int i = 0; i < g->n; i++) {
        int64_t r0, r1;
        slice(g->t[i].p->m, OWB_MATMUL_ROW_ALIGN, tid, nth, &r0, &r1);
        owb_matmul_rows(g->t[i].p, g->t[i].w, g->t[i].act, g->x, g->ldx, g->t[i].y, g->t[i].ldy, r0,
                        r1);
    }
}

static void mm_add(struct mm_group *g, const struct llama *L, const struct owb_matmul_plan *p,
                   const void *w, float *y, int64_t ldy)
{
    int i = g->n++;
    OWB_ASSERT(i < MAX_GROUP);
    g->t[i].p = p;
    g->t[i].w = w;
    g->t[i].y = y;
    g->t[i].ldy = ldy;
    g->t[i].act = L->act[i];
    g->t[i].prepare = owb_matmul_act_bytes(p) > 0;
    for (int j = 0; j < i && g->t[i].prepare; j++)
        if (g->t[j].prepare && g->t[j].p->act_type == p->act_type &&
            g->t[j].p->act_row_bytes == p->act_row_bytes && g->t[j].p->k == p->k &&
            g->t[j].p->batch == p->batch &&
            owb_matmul_act_bytes(g->t[j].p) == owb_matmul_act_bytes(p)) {
            g->t[i].act = g->t[j].act;
            g->t[i].prepare = false;
        }
}

static void mm_run(const struct llama *L, struct mm_group *g)
{
    bool any = false;
    for (int i = 0; i < g->n; i++)
        any |= g->t[i].prepare;
    if (any)
        run_par(L, mm_prepare_fn, g);
    run_par(L, mm_rows_fn, g);
}

struct att_job {
    const struct owb_model *m;
    const struct llama *L;
    const float *kc, *vc; /* this layer's caches: (n_ctx, kv_dim) */
    int64_t nb, pos;
};

/* Causal attention for heads [h0, h1) of every token in the chunk. */
static void att_fn(void *ctx, int tid, int nth)
{
    const struct att_job *j = ctx;
    const struct owb_hparams *hp = &j->m->hp;
    const struct llama *L = j->L;
    const int64_t hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
    const float scale = 1.0f / sqrtf((float)hd);
    OWB_ASSERT(nth <= L->nthreads);                   /* one score row per thread was allocated */
    float *att = L->att + (int64_t)tid * j->m->n_ctx; /* (n_ctx) */
    int64_t h0, h1;
    slice(hp->n_head, 1, tid, nth, &h0, &h1);
    for (int64_t h = h0; h < h1; h++) {
        const int64_t kvo = (h / group) * hd;
        for (int64_t b = 0; b < j->nb; b++) {
            const int64_t p = j->pos + b;
            const float *q = L->q + b * L->q_dim + h * hd; /* (hd) */
            for (int64_t t = 0; t <= p; t++) {
                const float *k = j->kc + t * L->kv_dim + kvo;
                float s = 0.0f;
                for (int64_t i = 0; i < hd; i++)
                    s += q[i] * k[i];
                att[t] = s * scale;
            }
            owb_softmax(att, p + 1);
            float *o = L->att_out + b * L->q_dim + h * hd; /* (hd) */
            memset(o, 0, (size_t)hd * sizeof *o);
            for (int64_t t = 0; t <= p; t++) {
                const float *vv = j->vc + t * L->kv_dim + kvo;
                const float a = att[t];
                for (int64_t i = 0; i < hd; i++)
                    o[i] += a * vv[i];
            }
        }
    }
}

static void add_bias(float *y, int64_t ldy, const float *bias, int64_t n, int64_t nb)
{
    if (!bias)
        return;
    for (int64_t b = 0; b < nb; b++)
        owb_add(y + b * ldy, y + b * ldy, bias, n);
}

static void rope_cache(const struct owb_model *m, const struct llama *L, int64_t pos,
                       struct owb_rope_cache *rc)
{
    const struct owb_hparams *hp = &m->hp;
    if (!L->rope_ff) {
        owb_rope_cache_init(rc, hp->n_rot, pos, hp->rope_freq_base, hp->rope_freq_scale);
        return;
    }
    /* Llama 3.1 style: each pair's angle divided by its frequency factor. */
    rc->n_rot = hp->n_rot;
    for (int64_t i = 0; i < hp->n_rot / 2; i++) {
        double theta = (double)pos * (double)hp->rope_freq_scale *
                       pow((double)hp->rope_freq_base, -2.0 * (double)i / (double)hp->n_rot) /
                       (double)L->rope_ff[i];
        rc->cos[i] = (float)cos(theta);
        rc->sin[i] = (float)sin(theta);
    }
}

/* One chunk of nb <= n_batch tokens at positions pos.. */
static void forward_chunk(struct owb_model *m, const int32_t *tokens, int64_t nb, int64_t pos,
                          float *logits, bool logits_all, bool last)
{
    struct llama *L = m->impl;
    const struct owb_hparams *hp = &m->hp;
    const int64_t D = hp->n_embd, F = hp->n_ff, QD = L->q_dim, KD = L->kv_dim;
    struct owb_rope_cache rc;

    for (int64_t b = 0; b < nb; b++)
        owb_get_row(L->tok_embd.type, L->tok_embd.data, tokens[b], D, L->x + b * D);

    for (int64_t l = 0; l < hp->n_layer; l++) {
        const struct layer *ly = &L->layers[l];
        const struct owb_matmul_plan *pl = &L->plans[l * W_PER_LAYER];
        float *kc = L->k_cache + l * m->n_ctx * KD; /* (n_ctx, kv_dim) */
        float *vc = L->v_cache + l * m->n_ctx * KD; /* (n_ctx, kv_dim) */
        struct mm_group g;

        /* Attention block: q, k, v (k and v straight into the cache rows pos..pos+nb). */
        for (int64_t b = 0; b < nb; b++)
            owb_rmsnorm(L->xb + b * D, L->x + b * D, ly->attn_norm, D, hp->rms_eps);
        g = (struct mm_group){.x = L->xb, .ldx = D};
        mm_add(&g, L, &pl[W_Q], ly->w[W_Q].data, L->q, QD);
        mm_add(&g, L, &pl[W_K], ly->w[W_K].data, kc + pos * KD, KD);
        mm_add(&g, L, &pl[W_V], ly->w[W_V].data, vc + pos * KD, KD);
        mm_run(L, &g);
        add_bias(L->q, QD, ly->bq, QD, nb);
        add_bias(kc + pos * KD, KD, ly->bk, KD, nb);
        add_bias(vc + pos * KD, KD, ly->bv, KD, nb);
        for (int64_t b = 0; b < nb; b++) {
            rope_cache(m, L, pos + b, &rc);
            owb_rope_apply(L->q + b * QD, hp->n_head, hp->head_dim, &rc, hp->rope_neox);
            owb_rope_apply(kc + (pos + b) * KD, hp->n_head_kv, hp->head_dim, &rc, hp->rope_neox);
        }
        struct att_job aj = {m, L, kc, vc, nb, pos};
        run_par(L, att_fn, &aj);
        g = (struct mm_group){.x = L->att_out, .ldx = QD};
        mm_add(&g, L, &pl[W_O], ly->w[W_O].data, L->xb, D);
        mm_run(L, &g);
        for (int64_t b = 0; b < nb; b++)
            owb_add(L->x + b * D, L->x + b * D, L->xb + b * D, D);

        /* Feed-forward block: down(silu(gate(x)) * up(x)). */
        for (int64_t b = 0; b < nb; b++)
            owb_rmsnorm(L->xb + b * D, L->x + b * D, ly->ffn_norm, D, hp->rms_eps);
        g = (struct mm_group){.x = L->xb, .ldx = D};
        mm_add(&g, L, &pl[W_GATE], ly->w[W_GATE].data, L->hb, F);
        mm_add(&g, L, &pl[W_UP], ly->w[W_UP].data, L->hb2, F);
        mm_run(L, &g);
        for (int64_t b = 0; b < nb; b++)
            owb_silu_mul(L->hb + b * F, L->hb + b * F, L->hb2 + b * F, F);
        g = (struct mm_group){.x = L->hb, .ldx = F};
        mm_add(&g, L, &pl[W_DOWN], ly->w[W_DOWN].data, L->xb, D);
        mm_run(L, &g);
        for (int64_t b = 0; b < nb; b++)
            owb_add(L->x + b * D, L->x + b * D, L->xb + b * D, D);
    }

    /* Logits: every row of the chunk, or only the last token of the last chunk. */
    struct mm_group g;
    if (logits_all) {
        for (int64_t b = 0; b < nb; b++)
            owb_rmsnorm(L->xb + b * D, L->x + b * D, L->output_norm, D, hp->rms_eps);
        g = (struct mm_group){.x = L->xb, .ldx = D};
        mm_add(&g, L, &L->plans[hp->n_layer * W_PER_LAYER], L->output.data, logits, hp->n_vocab);
        mm_run(L, &g);
    } else if (last) {
        owb_rmsnorm(L->xb, L->x + (nb - 1) * D, L->output_norm, D, hp->rms_eps);
        g = (struct mm_group){.x = L->xb, .ldx = D};
        mm_add(&g, L, &L->out1, L->output.data, logits, hp->n_vocab);
        mm_run(L, &g);
    }
}

int owb_llama_forward(struct owb_model *m, const int32_t *tokens, int64_t n, int64_t pos,
                      float *logits, bool logits_all, char err[OWB_ERR_MAX])
{
    if (n <= 0 || pos < 0 || pos > m->n_ctx - n) {
        seterr(err,
               "forward: %" PRId64 " tokens at position %" PRId64
               " do not fit the context of %" PRId64,
               n, pos, m->n_ctx);
        return OWB_E_USAGE;
    }
    for (int64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->hp.n_vocab) {
            seterr(err, "forward: token id %" PRId32 " is outside the vocabulary (0..%" PRId64 ")",
                   tokens[i], m->hp.n_vocab - 1);
            return OWB_E_USAGE;
        }
    for (int64_t i = 0; i < n; i += m->n_batch) {
        int64_t nb = n - i < m->n_batch ? n - i : m->n_batch;
        int rc = plan_all(m, nb, err);
        if (rc)
            return rc;
        forward_chunk(m, tokens + i, nb, pos + i, logits_all ? logits + i * m->hp.n_vocab : logits,
                      logits_all, i + nb == n);
    }
    return 0;
}
