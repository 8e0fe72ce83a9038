/* SPDX-License-Identifier: MIT */
/*
 * llama.c: the Llama-family forward pass (model/llama.h), in the straight-line style of llama2.c's
 * run.c: every buffer is allocated once at load with its shape in a comment, and a forward chunk
 * is a loop over layers of matmuls (kernels/matmul.h, weights in place), row ops (kernels/ops.h)
 * and attention. A chunk runs as ONE parallel region of the caller's runner; its threads meet at
 * a spin-then-sleep barrier between the steps of a layer (4 per layer for one token: after
 * attention, after the output projection, after gate/up, after down), so decode pays a handful of
 * barriers per layer instead of a fork-join per operation. Within a step, threads take output
 * rows (or KV heads) from a shared counter in shrinking ranges (guided self-scheduling), so a
 * thread slowed by a neighbour on a shared machine does less of the work instead of holding the
 * others at the barrier. A one-row input (decode) is normalized and quantized by every thread
 * into its own scratch (no barrier); a batch of rows is split by rows (one barrier). Q/K/V rows
 * are taken by KV head, so a thread goes straight on to RoPE, the cache writes and the attention
 * of the heads it computed. Decode GEMVs walk their rows in small groups while prefetching the
 * rows ahead (see mm_rows). Attention runs on the f32 matmul kernels: scores = K_g Q^T over the
 * cache of KV head g (layout (head, pos, head_dim): rows contiguous), then P V as a matmul with
 * the probabilities as the matrix and the transposed value cache (head, head_dim, pos) as the
 * inputs. Every output element is computed by one thread with the same operations whatever the
 * split, so logits do not depend on the thread count.
 */
#define _POSIX_C_SOURCE 200809L
#include "model/llama.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

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

/* Work counters of a region's steps: per layer the KV heads (fused Q/K/V + attention, or the
 * attention alone), the rows of Q, K and V (when not fused), of the output projection, of
 * gate/up and of down; then the rows of the logits. */
enum { S_HEADS, S_Q, S_K, S_V, S_O, S_GU, S_D, S_PER_LAYER };

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

/* Scratch of one worker thread. */
struct thr {
    float *xb;            /* (n_embd) normed input of a one-row step */
    void *act[MAX_GROUP]; /* (act1_bytes each) prepared one-row inputs */
    float *qs;            /* (group * qb, head_dim) queries of one KV head, gathered */
    float *sc;            /* (group * qb, n_ctx) scores, then probabilities */
    float *pv;            /* (head_dim, group * qb) P V, transposed */
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
    uint64_t bound_bytes;  /* file bytes of the tensors bound so far (load) */

    /* Activations for up to n_batch tokens. */
    float *x;       /* (n_batch, n_embd) residual stream */
    float *xb;      /* (n_batch, n_embd) normed block input (batched steps) */
    float *proj;    /* (n_batch, n_embd) output of the attention output / down projections */
    float *q;       /* (n_batch, q_dim) queries */
    float *kb;      /* (n_batch, kv_dim) keys of the chunk before they go into the cache */
    float *vb;      /* (n_batch, kv_dim) values of the chunk */
    float *att_out; /* (n_batch, q_dim) attention output, heads concatenated */
    float *hb;      /* (n_batch, n_ff) gate, then silu(gate) * up */
    float *hb2;     /* (n_batch, n_ff) up */
    float *k_cache; /* (n_layer, n_head_kv, n_ctx, head_dim) */
    float *v_cache; /* (n_layer, n_head_kv, head_dim, n_ctx): values transposed */
    struct owb_rope_cache *rope; /* (n_batch) rotations of the chunk's positions */
    void *act[MAX_GROUP];        /* prepared batched inputs, act_bytes each */
    size_t act_bytes;
    size_t act1_bytes;                 /* one prepared row of the widest input */
    struct thr *thr;                   /* (nthreads) */
    int64_t qb;                        /* query tokens per attention block */
    int64_t nblk_max;                  /* attention blocks of a full chunk */
    struct owb_matmul_plan *att_plans; /* (nblk_max, 2): scores and P V plans of a chunk */
    _Atomic int64_t *work;             /* (n_layer * S_PER_LAYER + 1) step counters (chunk_fn) */

    /* Matmul plans for chunks of plan_nb tokens: (n_layer * W_PER_LAYER) then output. */
    int64_t plan_nb;
    struct owb_matmul_plan *plans;
    struct owb_matmul_plan out1; /* output projection of one token */

    /* Barrier of the forward region (one cache line each: no false sharing). */
    _Alignas(64) _Atomic unsigned bar_phase;
    _Alignas(64) _Atomic int bar_count;
    _Alignas(64) _Atomic int bar_sleepers; /* threads asleep on bar_cv */
    pthread_mutex_t bar_mu;
    pthread_cond_t bar_cv;
    bool bar_init; /* bar_mu and bar_cv exist */
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
    L->bound_bytes += t->size_bytes;
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
static int load_vec(struct llama *L, const struct owb_gguf *g, const char *name, int64_t n,
                    bool required, float *dst, bool *found, char err[OWB_ERR_MAX])
{
    const struct owb_gguf_tensor *t = find_tensor(g, name, n, 0, required, err);
    if (found)
        *found = t != NULL;
    if (!t)
        return required || owb_gguf_tensor(g, name) ? OWB_E_FORMAT : 0;
    L->bound_bytes += t->size_bytes;
    if (owb_get_row(t->type, t->data, 0, n, dst) != 0) {
        seterr(err, "%.300s: tensor %s: type %s cannot be converted to f32", g->path, name,
               owb_type_name(t->type));
        return OWB_E_FORMAT;
    }
    return 0;
}

/* a * b * c floats, 64-byte aligned, zeroed (the KV caches are not: every position is written
 * before it is read, and untouched pages of a long context cost no memory). */
static void *alloc_f32z(int64_t a, int64_t b, int64_t c, bool zero, bool *oom)
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
    else if (zero)
        memset(p, 0, (size_t)bytes);
    return p;
}

static void *alloc_f32(int64_t a, int64_t b, int64_t c, bool *oom)
{
    return alloc_f32z(a, b, c, true, oom);
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
    free(L->proj);
    free(L->q);
    free(L->kb);
    free(L->vb);
    free(L->att_out);
    free(L->hb);
    free(L->hb2);
    free(L->k_cache);
    free(L->v_cache);
    free(L->rope);
    for (int i = 0; i < MAX_GROUP; i++)
        free(L->act[i]);
    if (L->thr)
        for (int t = 0; t < L->nthreads; t++) {
            free(L->thr[t].xb);
            for (int i = 0; i < MAX_GROUP; i++)
                free(L->thr[t].act[i]);
            free(L->thr[t].qs);
            free(L->thr[t].sc);
            free(L->thr[t].pv);
        }
    free(L->thr);
    free(L->att_plans);
    free((void *)L->work);
    free(L->plans);
    if (L->bar_init) {
        pthread_cond_destroy(&L->bar_cv);
        pthread_mutex_destroy(&L->bar_mu);
    }
    free(L);
    m->impl = NULL;
}

static int plan_all(struct owb_model *m, int64_t nb, char err[OWB_ERR_MAX]);

int owb_llama_load(struct owb_model *m, const struct owb_gguf *g, const struct owb_model_opts *o,
                   char err[OWB_ERR_MAX])
{
    struct owb_hparams *hp = &m->hp;
    const char *a = hp->arch;
    struct llama *L = aligned_alloc(64, sizeof *L); /* 64-aligned members (barrier) */
    char name[96];
    bool oom = false;
    int rc = OWB_E_FORMAT;

    if (!L) {
        seterr(err, "%.300s: out of memory", g->path);
        return OWB_E_NOMEM;
    }
    memset(L, 0, sizeof *L);
    m->impl = L;
    if (pthread_mutex_init(&L->bar_mu, NULL) == 0) {
        if (pthread_cond_init(&L->bar_cv, NULL) == 0)
            L->bar_init = true;
        else
            pthread_mutex_destroy(&L->bar_mu);
    }
    if (!L->bar_init) {
        seterr(err, "%.300s: cannot create the forward pass's synchronisation objects", g->path);
        owb_llama_release(m);
        return OWB_E_SYSTEM;
    }
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
    if (!hp->tied_output)
        L->bound_bytes += te->size_bytes;
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
        if (load_vec(L, g, name, hp->n_embd, true, ly->attn_norm, NULL, err))
            goto fail;
        snprintf(name, sizeof name, "blk.%" PRId64 ".ffn_norm.weight", l);
        if (load_vec(L, g, name, hp->n_embd, true, ly->ffn_norm, NULL, err))
            goto fail;
        snprintf(name, sizeof name, "blk.%" PRId64 ".attn_q.bias", l);
        if (load_vec(L, g, name, L->q_dim, false, v, &found, err))
            goto fail;
        ly->bq = found ? v : NULL;
        v += L->q_dim;
        snprintf(name, sizeof name, "blk.%" PRId64 ".attn_k.bias", l);
        if (load_vec(L, g, name, L->kv_dim, false, v, &found, err))
            goto fail;
        ly->bk = found ? v : NULL;
        v += L->kv_dim;
        snprintf(name, sizeof name, "blk.%" PRId64 ".attn_v.bias", l);
        if (load_vec(L, g, name, L->kv_dim, false, v, &found, err))
            goto fail;
        ly->bv = found ? v : NULL;
        v += L->kv_dim;
    }
    L->output_norm = v;
    v += hp->n_embd;
    if (load_vec(L, g, "output_norm.weight", hp->n_embd, true, L->output_norm, NULL, err))
        goto fail;
    {
        bool found;
        if (load_vec(L, g, "rope_freqs.weight", hp->n_rot / 2, false, v, &found, err))
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

    /* Memory facts: what the model binds, what one decode step reads, what a position costs. */
    m->weight_bytes = L->bound_bytes;
    {
        uint64_t rd = L->output.m * (uint64_t)owb_row_size(L->output.type, L->output.k) +
                      owb_row_size(L->tok_embd.type, hp->n_embd);
        for (int64_t l = 0; l < hp->n_layer; l++) {
            const struct layer *ly = &L->layers[l];
            for (int i = 0; i < W_PER_LAYER; i++)
                rd += (uint64_t)ly->w[i].m * owb_row_size(ly->w[i].type, ly->w[i].k);
            rd += 4 * (uint64_t)(2 * hp->n_embd + (ly->bq ? L->q_dim : 0) +
                                 (ly->bk ? L->kv_dim : 0) + (ly->bv ? L->kv_dim : 0));
        }
        rd += 4 * (uint64_t)hp->n_embd; /* output_norm */
        m->decode_read_bytes = rd;
        m->kv_bytes_per_token = 2 * (uint64_t)hp->n_layer * (uint64_t)L->kv_dim * sizeof(float);
    }

    /* Activations, KV cache and scratch (all at once; nothing is allocated per token). */
    int64_t nb = m->n_batch;
    const int64_t group = hp->n_head / hp->n_head_kv, hd = hp->head_dim;
    /* Query tokens per attention block: up to 64, fewer when a block's scores (group * qb rows of
     * n_ctx) would pass 4 MiB per thread. */
    L->qb = (int64_t)(((size_t)4 << 20) / ((size_t)group * (size_t)m->n_ctx * sizeof(float)));
    L->qb = L->qb < 1 ? 1 : L->qb > 64 ? 64 : L->qb;
    L->qb = L->qb > nb ? nb : L->qb;
    L->nblk_max = (nb + L->qb - 1) / L->qb;
    L->x = alloc_f32(nb, hp->n_embd, 1, &oom);
    L->xb = alloc_f32(nb, hp->n_embd, 1, &oom);
    L->proj = alloc_f32(nb, hp->n_embd, 1, &oom);
    L->q = alloc_f32(nb, L->q_dim, 1, &oom);
    L->kb = alloc_f32(nb, L->kv_dim, 1, &oom);
    L->vb = alloc_f32(nb, L->kv_dim, 1, &oom);
    L->att_out = alloc_f32(nb, L->q_dim, 1, &oom);
    L->hb = alloc_f32(nb, hp->n_ff, 1, &oom);
    L->hb2 = alloc_f32(nb, hp->n_ff, 1, &oom);
    L->k_cache = alloc_f32z(hp->n_layer, m->n_ctx, L->kv_dim, false, &oom);
    L->v_cache = alloc_f32z(hp->n_layer, m->n_ctx, L->kv_dim, false, &oom);
    L->rope = calloc((size_t)nb, sizeof *L->rope);
    L->att_plans = calloc((size_t)L->nblk_max * 2, sizeof *L->att_plans);
    L->thr = calloc((size_t)L->nthreads, sizeof *L->thr);
    L->work = calloc((size_t)(hp->n_layer * S_PER_LAYER + 1), sizeof *L->work);
    L->plans = calloc((size_t)(hp->n_layer * W_PER_LAYER + 1), sizeof *L->plans);
    if (!oom && L->thr)
        for (int t = 0; t < L->nthreads; t++) {
            L->thr[t].xb = alloc_f32(hp->n_embd, 1, 1, &oom);
            L->thr[t].qs = alloc_f32(group * L->qb, hd, 1, &oom);
            L->thr[t].sc = alloc_f32z(group * L->qb, m->n_ctx, 1, false, &oom);
            L->thr[t].pv = alloc_f32(hd, group * L->qb, 1, &oom);
        }
    if (oom || !L->plans || !L->rope || !L->att_plans || !L->thr || !L->work) {
        seterr(err,
               "%.300s: out of memory for a context of %" PRId64 " and batch of %" PRId64
               " (KV cache %.1f MiB)",
               g->path, m->n_ctx, nb,
               2.0 * (double)hp->n_layer * (double)m->n_ctx * (double)L->kv_dim * 4.0 / 1048576.0);
        rc = OWB_E_NOMEM;
        goto fail;
    }
    /* Activation scratch: the largest any plan needs at the full batch, and one row of it. */
    if ((rc = plan_all(m, nb, err)))
        goto fail;
    {
        char merr[OWB_ERR_MAX];
        if ((rc = owb_matmul_plan_init(&L->out1, L->output.type, L->output.m, L->output.k, 1,
                                       L->isa, merr))) {
            seterr(err, "%.300s: output projection: %.150s", g->path, merr);
            goto fail;
        }
    }
    size_t ab = 0, a1 = L->out1.act_row_bytes;
    for (int64_t i = 0; i <= hp->n_layer * W_PER_LAYER; i++) {
        size_t b = owb_matmul_act_bytes(&L->plans[i]);
        ab = b > ab ? b : ab;
        a1 = L->plans[i].act_row_bytes > a1 ? L->plans[i].act_row_bytes : a1;
    }
    L->act_bytes = (ab + 63) & ~(size_t)63;
    L->act1_bytes = (a1 + 63) & ~(size_t)63;
    for (int i = 0; i < MAX_GROUP; i++) {
        if (L->act_bytes && !(L->act[i] = aligned_alloc(64, L->act_bytes)))
            oom = true;
        for (int t = 0; t < L->nthreads && L->act1_bytes; t++)
            if (!(L->thr[t].act[i] = aligned_alloc(64, L->act1_bytes)))
                oom = true;
    }
    if (oom) {
        seterr(err, "%.300s: out of memory", g->path);
        rc = OWB_E_NOMEM;
        goto fail;
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

/* ---- the forward region ---- */

/* Contiguous slice of [0, n) for thread tid, boundaries on multiples of align. */
static void slice(int64_t n, int64_t align, int tid, int nth, int64_t *lo, int64_t *hi)
{
    int64_t blocks = (n + align - 1) / align;
    int64_t b0 = blocks * tid / nth, b1 = blocks * (tid + 1) / nth;
    *lo = b0 * align < n ? b0 * align : n;
    *hi = b1 * align < n ? b1 * align : n;
}

/* Polls of the barrier flag before a waiting thread goes to sleep (about 20-50 us): long enough
 * for the step imbalance of a decode, short enough that a thread whose partner was descheduled
 * on a shared machine gives its CPU away. Sleeping, not yielding: a woken thread preempts a CPU
 * hog at once (the scheduler credits sleepers), whereas a yielding one competes for every slice
 * and arrives at the next barrier a time slice late. */
#define BAR_SPINS 2000

/* One chunk of a forward call: what every thread of the region reads. */
struct fwd {
    struct owb_model *m;
    struct llama *L;
    int64_t nb, pos;
    float *logits;
    bool logits_all, last;
    int nblk;                       /* attention blocks of this chunk (L->att_plans) */
    struct owb_model_profile *prof; /* NULL: not profiling */
    uint64_t t_last;                /* worker 0's last profile mark */
};

/* Profile mark (worker 0 only): the time since the last mark goes to *bucket. */
static inline void mark(struct fwd *f, int tid, uint64_t *bucket)
{
    if (tid != 0 || !f->prof)
        return;
    uint64_t t = owb_now_ns();
    *bucket += t - f->t_last;
    f->t_last = t;
}

/* Wait until all nth threads of the region arrive. The phase is read before arriving; the last
 * arrival resets the count before it publishes the next phase, waiters acquire it. A waiter
 * spins, then sleeps on the condition variable: it counts itself in bar_sleepers and re-checks
 * the phase under the mutex, while the last arrival bumps the phase and then reads bar_sleepers
 * (both sequentially consistent), so a wake-up cannot fall between a check and the sleep. The
 * fast path takes no lock. */
static void barrier(struct fwd *f, int tid, int nth)
{
    struct llama *L = f->L;
    if (nth > 1) {
        unsigned ph = atomic_load_explicit(&L->bar_phase, memory_order_acquire);
        if (atomic_fetch_add_explicit(&L->bar_count, 1, memory_order_acq_rel) == nth - 1) {
            atomic_store_explicit(&L->bar_count, 0, memory_order_relaxed);
            atomic_fetch_add(&L->bar_phase, 1);
            if (atomic_load(&L->bar_sleepers) > 0) {
                pthread_mutex_lock(&L->bar_mu);
                pthread_cond_broadcast(&L->bar_cv);
                pthread_mutex_unlock(&L->bar_mu);
            }
        } else {
            for (int spins = 0; spins < BAR_SPINS; spins++) {
                if (atomic_load_explicit(&L->bar_phase, memory_order_acquire) != ph)
                    goto done;
                CPU_RELAX();
            }
            pthread_mutex_lock(&L->bar_mu);
            atomic_fetch_add(&L->bar_sleepers, 1);
            while (atomic_load(&L->bar_phase) == ph)
                pthread_cond_wait(&L->bar_cv, &L->bar_mu);
            atomic_fetch_sub(&L->bar_sleepers, 1);
            pthread_mutex_unlock(&L->bar_mu);
        }
    }
done:
    if (f->prof)
        mark(f, tid, &f->prof->sync_ns);
}

/* The input of up to MAX_GROUP matmuls, ready for owb_matmul_rows. */
struct input {
    const float *x; /* f32 rows (for f32-activation paths) */
    int64_t ldx;
    const void *act[MAX_GROUP]; /* prepared rows per plan (shared between equal layouts) */
};

static bool same_act(const struct owb_matmul_plan *a, const struct owb_matmul_plan *b)
{
    return a->act_row_bytes && a->act_type == b->act_type && a->act_row_bytes == b->act_row_bytes &&
           a->act_layout == b->act_layout && a->act_off == b->act_off && a->k == b->k &&
           a->prep == b->prep;
}

/* Make rows of src (stride lds, width k) ready as the input of plans p[0..np): RMSNorm with w
 * when w is not NULL, then quantized for each distinct activation layout. rows == 1: every
 * thread does the whole row into its own scratch (no barrier: the row is tiny and decode is
 * latency-bound). rows > 1: rows are split over the threads into shared buffers, then a
 * barrier. */
static void input_step(struct fwd *f, int tid, int nth, const float *src, int64_t lds, int64_t rows,
                       const float *w, const struct owb_matmul_plan *const *p, int np,
                       struct input *in)
{
    struct llama *L = f->L;
    const struct owb_hparams *hp = &f->m->hp;
    const int64_t k = p[0]->k;
    const bool one = rows == 1;
    int64_t b0 = 0, b1 = 1;
    if (!one)
        slice(rows, 1, tid, nth, &b0, &b1);
    in->x = src;
    in->ldx = lds;
    if (w) {
        float *dst = one ? L->thr[tid].xb : L->xb;
        for (int64_t b = b0; b < b1; b++)
            owb_rmsnorm(dst + b * k, src + b * lds, w, k, hp->rms_eps);
        in->x = dst;
        in->ldx = k;
        if (f->prof)
            mark(f, tid, &f->prof->norm_ns);
    }
    for (int i = 0; i < np; i++) {
        in->act[i] = NULL;
        if (!p[i]->act_row_bytes)
            continue;
        for (int j = 0; j < i && !in->act[i]; j++)
            if (same_act(p[j], p[i]))
                in->act[i] = in->act[j];
        if (in->act[i])
            continue;
        void *dst = one ? L->thr[tid].act[i] : L->act[i];
        if (b1 > b0)
            owb_matmul_prepare(p[i], in->x, in->ldx, dst, b0, b1);
        in->act[i] = dst;
        if (f->prof)
            mark(f, tid, &f->prof->matmul_ns[p[i]->wtype]);
    }
    if (!one)
        barrier(f, tid, nth);
}

/* Output rows [r0, r1) of one matmul of the step (an empty or reversed range does nothing).
 * Decode GEMVs prefetch their rows ahead inside owb_matmul_rows (kernels/matmul.c). */
static void mm(struct fwd *f, int tid, const struct owb_matmul_plan *p, const struct wt *w,
               const struct input *in, int i, float *y, int64_t ldy, int64_t r0, int64_t r1)
{
    if (r1 > r0)
        owb_matmul_rows(p, w->data, in->act[i], in->x, in->ldx, y, ldy, r0, r1);
    if (f->prof)
        mark(f, tid, &f->prof->matmul_ns[p->wtype]);
}

/* Biases, RoPE and cache writes of KV heads [g0, g1) (and their query heads) for the chunk. */
static void qkv_finish(struct fwd *f, const struct layer *ly, float *kc, float *vc, int64_t g0,
                       int64_t g1)
{
    struct llama *L = f->L;
    const struct owb_hparams *hp = &f->m->hp;
    const int64_t hd = hp->head_dim, group = hp->n_head / hp->n_head_kv, n_ctx = f->m->n_ctx;
    const int64_t QD = L->q_dim, KD = L->kv_dim, qo = g0 * group * hd, ko = g0 * hd;
    const int64_t qn = (g1 - g0) * group * hd, kn = (g1 - g0) * hd;
    if (g1 <= g0)
        return;
    for (int64_t b = 0; b < f->nb; b++) {
        float *q = L->q + b * QD, *k = L->kb + b * KD, *v = L->vb + b * KD;
        const int64_t t = f->pos + b;
        if (ly->bq)
            owb_add(q + qo, q + qo, ly->bq + qo, qn);
        if (ly->bk)
            owb_add(k + ko, k + ko, ly->bk + ko, kn);
        if (ly->bv)
            owb_add(v + ko, v + ko, ly->bv + ko, kn);
        owb_rope_apply(q + qo, (g1 - g0) * group, hd, &L->rope[b], hp->rope_neox);
        owb_rope_apply(k + ko, g1 - g0, hd, &L->rope[b], hp->rope_neox);
        for (int64_t g = g0; g < g1; g++) {
            memcpy(kc + (g * n_ctx + t) * hd, k + g * hd, (size_t)hd * sizeof *k);
            float *vt = vc + g * hd * n_ctx + t; /* column t of (head_dim, n_ctx) */
            for (int64_t i = 0; i < hd; i++)
                vt[i * n_ctx] = v[g * hd + i];
        }
    }
}

/* Causal attention of KV heads [g0, g1) (their group of query heads each) for every token of the
 * chunk, in blocks of qb query tokens: gather the group's queries, scores = K Q^T (f32 matmul over
 * the cached keys up to the block's last position), scale + causal mask + softmax per row, then
 * out^T = V^T P^T as a matmul with P as the matrix, scattered into att_out. */
static void attention(struct fwd *f, int tid, const float *kc, const float *vc, int64_t g0,
                      int64_t g1)
{
    struct llama *L = f->L;
    const struct owb_hparams *hp = &f->m->hp;
    const int64_t hd = hp->head_dim, group = hp->n_head / hp->n_head_kv, n_ctx = f->m->n_ctx;
    const int64_t QD = L->q_dim;
    const float scale = 1.0f / sqrtf((float)hd);
    struct thr *T = &L->thr[tid];
    for (int64_t g = g0; g < g1; g++) {
        const float *kg = kc + g * n_ctx * hd; /* (n_ctx, hd) */
        const float *vg = vc + g * hd * n_ctx; /* (hd, n_ctx) */
        for (int blk = 0; blk < f->nblk; blk++) {
            const struct owb_matmul_plan *pqk = &L->att_plans[2 * blk];
            const struct owb_matmul_plan *ppv = &L->att_plans[2 * blk + 1];
            const int64_t b0 = blk * L->qb, bq = pqk->batch / group, nkeys = pqk->m;
            const int64_t rows = group * bq;
            for (int64_t j = 0; j < group; j++) /* row j * bq + bb: head g*group+j, token b0+bb */
                for (int64_t bb = 0; bb < bq; bb++) {
                    const float *src = L->q + (b0 + bb) * QD + (g * group + j) * hd;
                    float *dst = T->qs + (j * bq + bb) * hd; /* the scale folded into q */
                    for (int64_t i = 0; i < hd; i++)
                        dst[i] = src[i] * scale;
                }
            owb_matmul_rows(pqk, kg, NULL, T->qs, hd, T->sc, nkeys, 0, nkeys);
            for (int64_t r = 0; r < rows; r++) {
                float *s = T->sc + r * nkeys;              /* (nkeys) */
                const int64_t last = f->pos + b0 + r % bq; /* the query's position */
                for (int64_t t = last + 1; t < nkeys; t++)
                    s[t] = -INFINITY;
                owb_softmax(s, nkeys);
            }
            owb_matmul_rows(ppv, T->sc, NULL, vg, n_ctx, T->pv, rows, 0, rows);
            for (int64_t j = 0; j < group; j++)
                for (int64_t bb = 0; bb < bq; bb++) {
                    float *o = L->att_out + (b0 + bb) * QD + (g * group + j) * hd;
                    const float *src = T->pv + j * bq + bb;
                    for (int64_t i = 0; i < hd; i++)
                        o[i] = src[i * rows];
                }
        }
    }
}

/* y[b][r0..r1) += d[b][r0..r1) for every row of the chunk (residual of the caller's slice). */
static void add_rows(float *y, const float *d, int64_t ld, int64_t nb, int64_t r0, int64_t r1)
{
    if (r1 > r0)
        for (int64_t b = 0; b < nb; b++)
            owb_add(y + b * ld + r0, y + b * ld + r0, d + b * ld + r0, r1 - r0);
}

/* Guided self-scheduling: the next range of [0, n) for the calling thread, a 1/(nth + 1) share
 * of what is left (at least minc items, ranges aligned to align), from the step's counter.
 * Threads that run faster (or are not descheduled on a shared machine) take more; the last
 * ranges are small, so the threads reach the following barrier nearly together. Which thread
 * computes a row never changes its value (kernels/matmul.h), so results stay bitwise identical.
 * Returns false when nothing is left. */
static bool grab(_Atomic int64_t *c, int64_t n, int64_t minc, int64_t align, int nth, int64_t *lo,
                 int64_t *hi)
{
    int64_t s = atomic_load_explicit(c, memory_order_relaxed);
    for (;;) {
        if (s >= n)
            return false;
        int64_t take = nth == 1 ? n - s : (n - s) / (nth + 1);
        take = take < minc ? minc : (take + align - 1) / align * align;
        take = take < n - s ? take : n - s;
        if (atomic_compare_exchange_weak_explicit(c, &s, s + take, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *lo = s;
            *hi = s + take;
            return true;
        }
    }
}

/* Smallest range worth a grab: 64 rows for a GEMM (its row block), else about 32 KiB of
 * weights (16-row aligned). */
#define GRAB_BYTES 32768
static int64_t grab_rows(const struct owb_matmul_plan *p, const struct wt *w)
{
    if (p->batch > OWB_MATMUL_GEMV_MAX_BATCH)
        return 64;
    const int64_t rb = (int64_t)owb_row_size(w->type, w->k);
    const int64_t r = (GRAB_BYTES + rb - 1) / rb;
    return (r + OWB_MATMUL_ROW_ALIGN - 1) / OWB_MATMUL_ROW_ALIGN * OWB_MATMUL_ROW_ALIGN;
}

static void chunk_fn(void *ctx, int tid, int nth)
{
    struct fwd *f = ctx;
    struct owb_model *m = f->m;
    struct llama *L = f->L;
    const struct owb_hparams *hp = &m->hp;
    const int64_t D = hp->n_embd, F = hp->n_ff, QD = L->q_dim, KD = L->kv_dim, nb = f->nb;
    const int64_t hd = hp->head_dim, group = hp->n_head / hp->n_head_kv, A = OWB_MATMUL_ROW_ALIGN;
    /* Q/K/V rows by KV head, each head's attention right after by the same thread, when the
     * heads spread evenly enough; else Q/K/V by rows, a barrier, then the heads. */
    const bool fuse = hp->n_head_kv % nth == 0 || hp->n_head_kv >= 4 * nth;
    struct owb_model_profile *P = f->prof;
    struct input in;
    int64_t r0, r1;

    OWB_ASSERT(nth <= L->nthreads); /* per-thread scratch was allocated for nthreads */
    if (P && tid == 0)
        mark(f, tid, &P->sync_ns); /* region start */

    for (int64_t l = 0; l < hp->n_layer; l++) {
        const struct layer *ly = &L->layers[l];
        const struct owb_matmul_plan *pl = &L->plans[l * W_PER_LAYER];
        float *kc = L->k_cache + l * m->n_ctx * KD; /* (n_head_kv, n_ctx, hd) */
        float *vc = L->v_cache + l * m->n_ctx * KD; /* (n_head_kv, hd, n_ctx) */
        _Atomic int64_t *work = L->work + l * S_PER_LAYER;

        /* Attention block: q, k, v of the normed residual, RoPE, cache, attention. */
        const struct owb_matmul_plan *pqkv[3] = {&pl[W_Q], &pl[W_K], &pl[W_V]};
        input_step(f, tid, nth, L->x, D, nb, ly->attn_norm, pqkv, 3, &in);
        if (!fuse) {
            while (grab(&work[S_Q], QD, grab_rows(&pl[W_Q], &ly->w[W_Q]), A, nth, &r0, &r1))
                mm(f, tid, &pl[W_Q], &ly->w[W_Q], &in, 0, L->q, QD, r0, r1);
            while (grab(&work[S_K], KD, grab_rows(&pl[W_K], &ly->w[W_K]), A, nth, &r0, &r1))
                mm(f, tid, &pl[W_K], &ly->w[W_K], &in, 1, L->kb, KD, r0, r1);
            while (grab(&work[S_V], KD, grab_rows(&pl[W_V], &ly->w[W_V]), A, nth, &r0, &r1))
                mm(f, tid, &pl[W_V], &ly->w[W_V], &in, 2, L->vb, KD, r0, r1);
            barrier(f, tid, nth);
        }
        while (grab(&work[S_HEADS], hp->n_head_kv, 1, 1, nth, &r0, &r1)) {
            if (fuse) {
                mm(f, tid, &pl[W_Q], &ly->w[W_Q], &in, 0, L->q, QD, r0 * group * hd,
                   r1 * group * hd);
                mm(f, tid, &pl[W_K], &ly->w[W_K], &in, 1, L->kb, KD, r0 * hd, r1 * hd);
                mm(f, tid, &pl[W_V], &ly->w[W_V], &in, 2, L->vb, KD, r0 * hd, r1 * hd);
            }
            qkv_finish(f, ly, kc, vc, r0, r1);
            attention(f, tid, kc, vc, r0, r1);
            if (P)
                mark(f, tid, &P->attention_ns);
        }
        barrier(f, tid, nth);

        /* Output projection + residual. */
        const struct owb_matmul_plan *po = &pl[W_O];
        input_step(f, tid, nth, L->att_out, QD, nb, NULL, &po, 1, &in);
        while (grab(&work[S_O], D, grab_rows(po, &ly->w[W_O]), A, nth, &r0, &r1)) {
            mm(f, tid, po, &ly->w[W_O], &in, 0, L->proj, D, r0, r1);
            add_rows(L->x, L->proj, D, nb, r0, r1);
            if (P)
                mark(f, tid, &P->other_ns);
        }
        barrier(f, tid, nth);

        /* Feed-forward block: down(silu(gate(x)) * up(x)). */
        const struct owb_matmul_plan *pgu[2] = {&pl[W_GATE], &pl[W_UP]};
        input_step(f, tid, nth, L->x, D, nb, ly->ffn_norm, pgu, 2, &in);
        while (grab(&work[S_GU], F, grab_rows(pgu[0], &ly->w[W_GATE]), A, nth, &r0, &r1)) {
            mm(f, tid, pgu[0], &ly->w[W_GATE], &in, 0, L->hb, F, r0, r1);
            mm(f, tid, pgu[1], &ly->w[W_UP], &in, 1, L->hb2, F, r0, r1);
            for (int64_t b = 0; b < nb; b++)
                owb_silu_mul(L->hb + b * F + r0, L->hb + b * F + r0, L->hb2 + b * F + r0, r1 - r0);
            if (P)
                mark(f, tid, &P->other_ns);
        }
        barrier(f, tid, nth);
        const struct owb_matmul_plan *pd = &pl[W_DOWN];
        input_step(f, tid, nth, L->hb, F, nb, NULL, &pd, 1, &in);
        while (grab(&work[S_D], D, grab_rows(pd, &ly->w[W_DOWN]), A, nth, &r0, &r1)) {
            mm(f, tid, pd, &ly->w[W_DOWN], &in, 0, L->proj, D, r0, r1);
            add_rows(L->x, L->proj, D, nb, r0, r1);
            if (P)
                mark(f, tid, &P->other_ns);
        }
        barrier(f, tid, nth);
    }

    /* Logits: every row of the chunk, or only the last token of the last chunk. */
    const int64_t V = hp->n_vocab;
    _Atomic int64_t *work = L->work + hp->n_layer * S_PER_LAYER;
    const struct owb_matmul_plan *p =
        f->logits_all ? &L->plans[hp->n_layer * W_PER_LAYER] : &L->out1;
    if (!f->logits_all && !f->last)
        return;
    if (f->logits_all)
        input_step(f, tid, nth, L->x, D, nb, L->output_norm, &p, 1, &in);
    else
        input_step(f, tid, nth, L->x + (nb - 1) * D, D, 1, L->output_norm, &p, 1, &in);
    while (grab(work, V, grab_rows(p, &L->output), A, nth, &r0, &r1))
        mm(f, tid, p, &L->output, &in, 0, f->logits, V, r0, r1);
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

/* One chunk of nb <= n_batch tokens at positions pos..: embedding rows, RoPE tables and the
 * attention plans on the calling thread, then the layers as one parallel region. */
static int forward_chunk(struct owb_model *m, const int32_t *tokens, int64_t nb, int64_t pos,
                         float *logits, bool logits_all, bool last, char err[OWB_ERR_MAX])
{
    struct llama *L = m->impl;
    const struct owb_hparams *hp = &m->hp;
    const int64_t D = hp->n_embd, group = hp->n_head / hp->n_head_kv;
    struct fwd f = {m, L, nb, pos, logits, logits_all, last, 0, m->profile, 0};
    char merr[OWB_ERR_MAX];

    if (f.prof)
        f.t_last = owb_now_ns();
    for (int64_t b = 0; b < nb; b++) {
        owb_get_row(L->tok_embd.type, L->tok_embd.data, tokens[b], D, L->x + b * D);
        rope_cache(m, L, pos + b, &L->rope[b]);
    }
    /* Attention blocks: qb query tokens each, keys up to the block's last position. */
    for (int64_t b0 = 0; b0 < nb; b0 += L->qb) {
        const int64_t bq = nb - b0 < L->qb ? nb - b0 : L->qb, nkeys = pos + b0 + bq;
        struct owb_matmul_plan *p = &L->att_plans[2 * f.nblk];
        if (owb_matmul_plan_init(&p[0], OWB_TYPE_F32, nkeys, hp->head_dim, group * bq, L->isa,
                                 merr) ||
            owb_matmul_plan_init(&p[1], OWB_TYPE_F32, group * bq, nkeys, hp->head_dim, L->isa,
                                 merr)) {
            seterr(err, "attention: %.400s", merr);
            return OWB_E_UNSUPPORTED;
        }
        f.nblk++;
    }
    for (int64_t i = 0; i <= hp->n_layer * S_PER_LAYER; i++)
        atomic_store_explicit(&L->work[i], 0, memory_order_relaxed); /* published by run() */
    if (f.prof)
        mark(&f, 0, &f.prof->other_ns);
    if (L->runner && L->runner->run && L->nthreads > 1)
        L->runner->run(L->runner->pool, chunk_fn, &f);
    else
        chunk_fn(&f, 0, 1);
    if (f.prof)
        mark(&f, 0, &f.prof->sync_ns); /* the region's end */
    return 0;
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
    const uint64_t t0 = m->profile ? owb_now_ns() : 0;
    for (int64_t i = 0; i < n; i += m->n_batch) {
        int64_t nb = n - i < m->n_batch ? n - i : m->n_batch;
        int rc = plan_all(m, nb, err);
        if (!rc)
            rc = forward_chunk(m, tokens + i, nb, pos + i,
                               logits_all ? logits + i * m->hp.n_vocab : logits, logits_all,
                               i + nb == n, err);
        if (rc)
            return rc;
    }
    if (m->profile) {
        m->profile->total_ns += owb_now_ns() - t0;
        m->profile->calls++;
        m->profile->tokens += (uint64_t)n;
    }
    return 0;
}
