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
 * split, so logits do not depend on the thread count. A backend without host threads (cuda), or
 * the cpu when forced (owb_model_opts.driver), runs model/devfwd.c's one-thread op sequence over
 * the same bound weights instead (driver_init): none of the buffers below are allocated then.
 */
#define _POSIX_C_SOURCE 200809L
#include "model/llama.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backend.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/attn.h"
#include "model/devfwd.h"
#include "model/engine.h"
#include "model/loader.h"
#include "model/region.h"
#include "runtime/par.h"

/* Fill a caller's error buffer (vsnprintf: over-long messages are cut). */
/* Weight slots of a layer, in plan order. */
enum { W_Q, W_K, W_V, W_O, W_GATE, W_UP, W_DOWN, W_PER_LAYER };

/* Work counters of a region's steps: per layer the KV heads (fused Q/K/V + attention, or the
 * attention alone), the rows of Q, K and V (when not fused), of the output projection, of
 * gate/up and of down; then the rows of the logits. */
enum { S_HEADS, S_Q, S_K, S_V, S_O, S_GU, S_D, S_PER_LAYER };

struct layer {
    float *attn_norm; /* (n_embd) */
    float *ffn_norm;  /* (n_embd) */
    float *bq;        /* (q_dim) or NULL */
    float *bk;        /* (kv_dim) or NULL */
    float *bv;        /* (kv_dim) or NULL */
    struct owb_wt w[W_PER_LAYER];
};

/* Attention scratch of one worker thread (the one-row inputs: rb.thr). */
struct thr {
    struct owb_attn_scratch att; /* qs (group * qb, head_dim), sc (group * qb, n_ctx),
                                    pv (head_dim, group * qb) */
};

struct llama {
    struct owb_engine e;  /* first: what every engine holds (model/engine.h) */
    struct layer *layers; /* (n_layer) */
    float *rope_ff;       /* (n_rot / 2) frequency divisors (rope_freqs.weight) or NULL */

    /* Activations for up to n_batch tokens, beside the engine's. */
    float *hb;                         /* (n_batch, n_ff) gate, then silu(gate) * up */
    float *hb2;                        /* (n_batch, n_ff) up */
    struct owb_rope_cache *rope;       /* (n_batch) rotations of the chunk's positions */
    struct thr *thr;                   /* (nthreads) */
    struct owb_matmul_plan *att_plans; /* (nblk_max, 2): scores and P V plans of a chunk */
    int64_t *att_kstart;               /* (nblk_max) first key of each block */
    struct owb_attn_blocks blocks;     /* this chunk's attention blocks (full causal) */
};
static_assert(offsetof(struct llama, e) == 0, "m->impl is the engine too");

/* ---- loading ---- */

void owb_llama_release(struct owb_model *m)
{
    struct llama *L = m->impl;
    if (!L)
        return;
    free(L->layers);
    free(L->hb);
    free(L->hb2);
    free(L->rope);
    if (L->thr)
        for (int t = 0; t < L->e.nthreads; t++)
            owb_region_attn_free(&L->thr[t].att);
    free(L->thr);
    free(L->att_plans);
    free(L->att_kstart);
    owb_engine_free(m);
}

static const struct owb_wt *layer_wt(const void *impl, int64_t l, int i);
static int driver_init(struct owb_model *m, const struct owb_gguf *g,
                       const struct owb_model_opts *o, char err[OWB_ERR_MAX]);

int owb_llama_load(struct owb_model *m, const struct owb_gguf *g, const struct owb_model_opts *o,
                   char err[OWB_ERR_MAX])
{
    struct owb_hparams *hp = &m->hp;
    const char *a = hp->arch;
    char name[96];
    bool oom = false;
    int rc = owb_engine_new(m, sizeof(struct llama), o, W_PER_LAYER, layer_wt, g->path, err);
    if (rc)
        return rc;
    struct llama *L = m->impl;
    struct owb_loader ld = {g, a, L->e.isa, 0};
    rc = OWB_E_FORMAT;

    int64_t key_len, val_len;
    if (owb_ld_u32(&ld, "embedding_length", true, 0, &hp->n_embd, err) ||
        owb_ld_u32(&ld, "block_count", true, 0, &hp->n_layer, err) ||
        owb_ld_u32(&ld, "attention.head_count", true, 0, &hp->n_head, err) ||
        owb_ld_u32(&ld, "attention.head_count_kv", false, 0, &hp->n_head_kv, err) ||
        owb_ld_u32(&ld, "context_length", true, 0, &hp->n_ctx_train, err) ||
        owb_ld_u32(&ld, "feed_forward_length", false, 0, &hp->n_ff, err) ||
        owb_ld_u32(&ld, "attention.key_length", false, 0, &key_len, err) ||
        owb_ld_u32(&ld, "attention.value_length", false, 0, &val_len, err) ||
        owb_ld_f32(&ld, "rope.freq_base", 10000.0f, &hp->rope_freq_base, err) ||
        owb_ld_f32(&ld, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->rms_eps, err))
        goto fail;
    if (owb_ld_heads(&ld, hp, err))
        goto fail;
    if (owb_ld_head_dim(&ld, hp, key_len, val_len, err))
        goto fail;
    hp->rope_freq_scale = 1.0f;
    {
        char k[128];
        float factor = 0.0f;
        struct owb_gguf_str st;
        snprintf(k, sizeof k, "%s.rope.scaling.type", a);
        bool linear = !owb_gguf_find(g, k) || (owb_gguf_get_str(g, k, &st, err) == 0 &&
                                               st.len == 6 && memcmp(st.ptr, "linear", 6) == 0);
        if (owb_ld_f32(&ld, "rope.scaling.factor", 0.0f, &factor, err))
            goto fail;
        if (factor > 0.0f && factor != 1.0f) {
            if (!linear) {
                owb_seterr(err, "%.300s: rope scaling other than linear is not supported", g->path);
                goto fail;
            }
            hp->rope_freq_scale = 1.0f / factor;
        }
    }
    if (owb_gguf_tensor(g, "blk.0.ffn_gate_inp.weight")) {
        owb_seterr(err, "%.300s: mixture-of-experts layers are not supported", g->path);
        goto fail;
    }

    if ((rc = owb_engine_bind(&L->e, &ld, hp, err)))
        goto fail;
    rc = OWB_E_FORMAT;
    if (!hp->n_ff) {
        const struct owb_gguf_tensor *tg = owb_gguf_tensor(g, "blk.0.ffn_gate.weight");
        hp->n_ff = tg ? tg->ne[1] : 0;
    }
    if (hp->n_ff <= 0) {
        owb_seterr(err, "%.300s: feed_forward_length is missing", g->path);
        goto fail;
    }

    /* Every layer has its tensors in the file: a block_count beyond the tensor count is a lie
     * (checked before anything is sized by it). */
    if (hp->n_layer > g->n_tensors) {
        owb_seterr(err, "%.300s: block_count %" PRId64 " but the file has %" PRId64 " tensors",
                   g->path, hp->n_layer, g->n_tensors);
        goto fail;
    }
    L->layers = calloc((size_t)hp->n_layer, sizeof *L->layers);
    if (!L->layers) {
        owb_seterr(err, "%.300s: out of memory", g->path);
        rc = OWB_E_NOMEM;
        goto fail;
    }
    /* Matrices first: their shapes in the file bound q_dim, kv_dim and n_ff before any buffer is
     * sized by them. */
    for (int64_t l = 0; l < hp->n_layer; l++) {
        struct layer *ly = &L->layers[l];
        static const char *const wname[W_PER_LAYER] = {
            "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
        const int64_t wk[W_PER_LAYER] = {hp->n_embd, hp->n_embd, hp->n_embd, L->e.q_dim,
                                         hp->n_embd, hp->n_embd, hp->n_ff};
        const int64_t wm[W_PER_LAYER] = {L->e.q_dim, L->e.kv_dim, L->e.kv_dim, hp->n_embd,
                                         hp->n_ff,   hp->n_ff,    hp->n_embd};
        for (int i = 0; i < W_PER_LAYER; i++) {
            snprintf(name, sizeof name, "blk.%" PRId64 ".%s.weight", l, wname[i]);
            if ((rc = owb_ld_matrix(&ld, name, wk[i], wm[i], 0, &ly->w[i], err)))
                goto fail;
        }
    }
    rc = OWB_E_FORMAT;

    /* 1-D tensors: norms (2 per layer + output) and optional q/k/v biases. */
    int64_t per_layer = 2 * hp->n_embd + L->e.q_dim + 2 * L->e.kv_dim, all_layers;
    if (owb_ld_mul(&ld, "1-D tensors of the layers", hp->n_layer, per_layer, &all_layers, err))
        goto fail;
    L->e.vecs = owb_ld_alloc_f32(all_layers + hp->n_embd + hp->n_rot, 1, 1, true, &oom);
    if (oom) {
        owb_seterr(err, "%.300s: out of memory", g->path);
        rc = OWB_E_NOMEM;
        goto fail;
    }
    float *v = L->e.vecs;
    for (int64_t l = 0; l < hp->n_layer; l++) {
        struct layer *ly = &L->layers[l];
        bool found;
        ly->attn_norm = v;
        v += hp->n_embd;
        ly->ffn_norm = v;
        v += hp->n_embd;
        snprintf(name, sizeof name, "blk.%" PRId64 ".attn_norm.weight", l);
        if (owb_ld_vec(&ld, name, hp->n_embd, 0, true, ly->attn_norm, NULL, err))
            goto fail;
        snprintf(name, sizeof name, "blk.%" PRId64 ".ffn_norm.weight", l);
        if (owb_ld_vec(&ld, name, hp->n_embd, 0, true, ly->ffn_norm, NULL, err))
            goto fail;
        snprintf(name, sizeof name, "blk.%" PRId64 ".attn_q.bias", l);
        if (owb_ld_vec(&ld, name, L->e.q_dim, 0, false, v, &found, err))
            goto fail;
        ly->bq = found ? v : NULL;
        v += L->e.q_dim;
        snprintf(name, sizeof name, "blk.%" PRId64 ".attn_k.bias", l);
        if (owb_ld_vec(&ld, name, L->e.kv_dim, 0, false, v, &found, err))
            goto fail;
        ly->bk = found ? v : NULL;
        v += L->e.kv_dim;
        snprintf(name, sizeof name, "blk.%" PRId64 ".attn_v.bias", l);
        if (owb_ld_vec(&ld, name, L->e.kv_dim, 0, false, v, &found, err))
            goto fail;
        ly->bv = found ? v : NULL;
        v += L->e.kv_dim;
    }
    L->e.output_norm = v;
    v += hp->n_embd;
    if (owb_ld_vec(&ld, "output_norm.weight", hp->n_embd, 0, true, L->e.output_norm, NULL, err))
        goto fail;
    {
        bool found;
        if (owb_ld_vec(&ld, "rope_freqs.weight", hp->n_rot / 2, 0, false, v, &found, err))
            goto fail;
        L->rope_ff = found ? v : NULL;
    }

    /* Context and batch. */
    if (owb_ld_context(&ld, m, o, err))
        goto fail;

    /* What the model binds (the per-token costs: owb_llama_account). */
    m->weight_bytes = ld.bound_bytes;

    /* One host thread driving the backend's ops: its own buffers, none of the below. */
    if (owb_devfwd_wanted(L->e.be, o)) {
        if ((rc = driver_init(m, g, o, err)))
            goto fail;
        return 0;
    }

    /* Activations, KV cache and scratch (all at once; nothing is allocated per token). The
     * caches: k (n_layer, n_head_kv, n_ctx, head_dim), v (n_layer, n_head_kv, head_dim, n_ctx):
     * values transposed. */
    const int64_t nb = m->n_batch;
    const int64_t group = hp->n_head / hp->n_head_kv, hd = hp->head_dim;
    owb_engine_alloc(&L->e, m, hp->n_layer * m->n_ctx, hp->n_layer * S_PER_LAYER + 1, &oom);
    L->hb = owb_ld_alloc_f32(nb, hp->n_ff, 1, true, &oom);
    L->hb2 = owb_ld_alloc_f32(nb, hp->n_ff, 1, true, &oom);
    L->rope = calloc((size_t)nb, sizeof *L->rope);
    L->att_plans = calloc((size_t)L->e.nblk_max * 2, sizeof *L->att_plans);
    L->att_kstart = calloc((size_t)L->e.nblk_max, sizeof *L->att_kstart);
    L->thr = calloc((size_t)L->e.nthreads, sizeof *L->thr);
    if (!oom && L->thr)
        for (int t = 0; t < L->e.nthreads; t++)
            owb_region_attn_alloc(&L->thr[t].att, group * L->e.qb, hd, m->n_ctx, 0, &oom);
    if (oom || !L->rope || !L->att_plans || !L->att_kstart || !L->thr) {
        rc = owb_engine_nomem(&L->e, m, g->path, err);
        goto fail;
    }
    if ((rc = owb_engine_plan(&L->e, m, g->path, err)))
        goto fail;
    return 0;
fail:
    owb_llama_release(m);
    return rc ? rc : OWB_E_FORMAT;
}

static void rope_cache(const struct owb_model *m, const struct llama *L, int64_t pos,
                       struct owb_rope_cache *rc);

static void driver_rope(const void *impl, int table, int64_t pos, struct owb_rope_cache *rc)
{
    const struct owb_model *m = impl;
    (void)table; /* one table */
    rope_cache(m, m->impl, pos, rc);
}

/* Layer l as model/devfwd.h takes it: the bound weights and 1-D tensors. */
static void driver_layer(const void *impl, int64_t l, struct owb_df_layer *d)
{
    const struct layer *ly = &((const struct llama *)impl)->layers[l];
    memcpy(d->w, ly->w, sizeof ly->w); /* Q K V O GATE UP DOWN: devfwd's order */
    d->attn_norm = ly->attn_norm;
    d->ffn_norm = ly->ffn_norm;
    d->bq = ly->bq;
    d->bk = ly->bk;
    d->bv = ly->bv;
}

/* The model as model/devfwd.h takes it: its layers, one rope table. */
static int driver_init(struct owb_model *m, const struct owb_gguf *g,
                       const struct owb_model_opts *o, char err[OWB_ERR_MAX])
{
    struct llama *L = m->impl;
    struct owb_df_desc d = {
        .n_ff = m->hp.n_ff,
        .n_rope = 1,
        .rope_cache = driver_rope,
        .impl = m,
    };
    return owb_engine_driver(&L->e, m, &d, driver_layer, o, g->path, err);
}

/* Weight i of layer l, in plan order (the engine's plans, model/engine.h). */
static const struct owb_wt *layer_wt(const void *impl, int64_t l, int i)
{
    return &((const struct llama *)impl)->layers[l].w[i];
}

void owb_llama_account(const struct owb_model *m, struct owb_model_cost *c)
{
    const struct llama *L = m->impl;
    const struct owb_hparams *hp = &m->hp;
    struct owb_engine_tally t = {0};
    for (int64_t l = 0; l < hp->n_layer; l++) {
        const struct layer *ly = &L->layers[l];
        for (int i = 0; i < W_PER_LAYER; i++)
            owb_engine_tally_wt(&t, &ly->w[i]);
        t.read_bytes += 4 * (uint64_t)(2 * hp->n_embd + (ly->bq ? L->e.q_dim : 0) +
                                       (ly->bk ? L->e.kv_dim : 0) + (ly->bv ? L->e.kv_dim : 0));
    }
    memset(c, 0, sizeof *c);
    c->n_layer_full = hp->n_layer;
    owb_engine_cost(&L->e, hp, &t, c);
}

/* ---- the forward region ---- */

/* Output rows [r0, r1) of matmul i of the step's input. */
static void mm(struct owb_engine_fwd *f, int tid, const struct owb_be_mm *p, const struct owb_wt *w,
               const struct owb_input *in, int i, float *y, int64_t ldy, int64_t r0, int64_t r1)
{
    owb_region_mm(&f->rg, tid, p, w->data, in->act[i], in->x, in->ldx, y, ldy, r0, r1);
}

/* Biases, RoPE and cache writes of KV heads [g0, g1) (and their query heads) for the chunk. */
static void qkv_finish(struct owb_engine_fwd *f, const struct layer *ly, float *kc, float *vc,
                       int64_t g0, int64_t g1)
{
    struct llama *L = f->m->impl;
    const struct owb_hparams *hp = &f->m->hp;
    owb_attn_write(L->e.q, L->e.kb, L->e.vb, L->e.q_dim, L->e.kv_dim, f->nb, f->pos, ly->bq, ly->bk,
                   ly->bv, L->rope, hp->rope_neox, hp->head_dim, hp->n_head / hp->n_head_kv, g0, g1,
                   kc, vc, f->m->n_ctx);
}

/* Causal attention of KV heads [g0, g1) for every token of the chunk (kernels/attn.h). */
static void attention(struct owb_engine_fwd *f, int tid, const float *kc, const float *vc,
                      int64_t g0, int64_t g1)
{
    struct llama *L = f->m->impl;
    const struct owb_hparams *hp = &f->m->hp;
    const struct owb_attn_args a = {
        .q = L->e.q,
        .out = L->e.att_out,
        .ldq = L->e.q_dim,
        .kc = kc,
        .vc = vc,
        .cap = f->m->n_ctx,
        .head_dim = hp->head_dim,
        .group = hp->n_head / hp->n_head_kv,
        .pos = f->pos,
        .sinks = NULL,
        .scale = 1.0f / sqrtf((float)hp->head_dim),
    };
    owb_attn_heads(&L->blocks, &a, g0, g1, &L->thr[tid].att);
}

#define add_rows owb_region_add_rows
#define grab owb_grab /* runtime/par.h */

static int64_t grab_rows(const struct owb_be_mm *p, const struct owb_wt *w)
{
    (void)w; /* the plan has the weight's type and width */
    return owb_region_grab_rows(p);
}

static void chunk_fn(void *ctx, int tid, int nth)
{
    struct owb_engine_fwd *f = ctx;
    struct owb_model *m = f->m;
    struct llama *L = f->m->impl;
    const struct owb_hparams *hp = &m->hp;
    const int64_t D = hp->n_embd, F = hp->n_ff, QD = L->e.q_dim, KD = L->e.kv_dim, nb = f->nb;
    const int64_t hd = hp->head_dim, group = hp->n_head / hp->n_head_kv, A = OWB_MATMUL_ROW_ALIGN;
    /* Q/K/V rows by KV head, each head's attention right after by the same thread, when the
     * heads spread evenly enough; else Q/K/V by rows, a barrier, then the heads. */
    const bool fuse = hp->n_head_kv % nth == 0 || hp->n_head_kv >= 4 * nth;
    struct owb_model_profile *P = f->rg.prof;
    struct owb_input in;
    int64_t r0, r1;

    OWB_ASSERT(nth <= L->e.nthreads); /* per-thread scratch was allocated for nthreads */
    if (P && tid == 0)
        owb_region_mark(&f->rg, tid, &P->sync_ns); /* region start */

    for (int64_t l = 0; l < hp->n_layer; l++) {
        const struct layer *ly = &L->layers[l];
        const struct owb_be_mm *pl = &L->e.plans[l * W_PER_LAYER];
        float *kc = L->e.k_cache + l * m->n_ctx * KD; /* (n_head_kv, n_ctx, hd) */
        float *vc = L->e.v_cache + l * m->n_ctx * KD; /* (n_head_kv, hd, n_ctx) */
        _Atomic int64_t *work = L->e.work + l * S_PER_LAYER;

        /* Attention block: q, k, v of the normed residual, RoPE, cache, attention. */
        const struct owb_be_mm *pqkv[3] = {&pl[W_Q], &pl[W_K], &pl[W_V]};
        owb_region_input(&f->rg, tid, nth, L->e.x, D, nb, ly->attn_norm, pqkv, 3, &in);
        if (!fuse) {
            while (grab(&work[S_Q], QD, grab_rows(&pl[W_Q], &ly->w[W_Q]), A, nth, &r0, &r1))
                mm(f, tid, &pl[W_Q], &ly->w[W_Q], &in, 0, L->e.q, QD, r0, r1);
            while (grab(&work[S_K], KD, grab_rows(&pl[W_K], &ly->w[W_K]), A, nth, &r0, &r1))
                mm(f, tid, &pl[W_K], &ly->w[W_K], &in, 1, L->e.kb, KD, r0, r1);
            while (grab(&work[S_V], KD, grab_rows(&pl[W_V], &ly->w[W_V]), A, nth, &r0, &r1))
                mm(f, tid, &pl[W_V], &ly->w[W_V], &in, 2, L->e.vb, KD, r0, r1);
            owb_region_barrier(&f->rg, tid, nth);
        }
        while (grab(&work[S_HEADS], hp->n_head_kv, 1, 1, nth, &r0, &r1)) {
            if (fuse) {
                mm(f, tid, &pl[W_Q], &ly->w[W_Q], &in, 0, L->e.q, QD, r0 * group * hd,
                   r1 * group * hd);
                mm(f, tid, &pl[W_K], &ly->w[W_K], &in, 1, L->e.kb, KD, r0 * hd, r1 * hd);
                mm(f, tid, &pl[W_V], &ly->w[W_V], &in, 2, L->e.vb, KD, r0 * hd, r1 * hd);
            }
            qkv_finish(f, ly, kc, vc, r0, r1);
            attention(f, tid, kc, vc, r0, r1);
            if (P)
                owb_region_mark(&f->rg, tid, &P->attention_ns);
        }
        owb_region_barrier(&f->rg, tid, nth);

        /* Output projection + residual. */
        owb_region_residual(&f->rg, tid, nth, L->e.att_out, QD, nb, &pl[W_O], ly->w[W_O].data, NULL,
                            L->e.proj, L->e.x, &work[S_O]);

        /* Feed-forward block: down(silu(gate(x)) * up(x)). */
        const struct owb_be_mm *pgu[2] = {&pl[W_GATE], &pl[W_UP]};
        owb_region_input(&f->rg, tid, nth, L->e.x, D, nb, ly->ffn_norm, pgu, 2, &in);
        while (grab(&work[S_GU], F, grab_rows(pgu[0], &ly->w[W_GATE]), A, nth, &r0, &r1)) {
            mm(f, tid, pgu[0], &ly->w[W_GATE], &in, 0, L->hb, F, r0, r1);
            mm(f, tid, pgu[1], &ly->w[W_UP], &in, 1, L->hb2, F, r0, r1);
            for (int64_t b = 0; b < nb; b++)
                owb_silu_mul(L->hb + b * F + r0, L->hb + b * F + r0, L->hb2 + b * F + r0, r1 - r0);
            if (P)
                owb_region_mark(&f->rg, tid, &P->other_ns);
        }
        owb_region_barrier(&f->rg, tid, nth);
        owb_region_residual(&f->rg, tid, nth, L->hb, F, nb, &pl[W_DOWN], ly->w[W_DOWN].data, NULL,
                            L->e.proj, L->e.x, &work[S_D]);
    }

    /* Logits: every row of the chunk, or only the last token of the last chunk. */
    owb_region_logits(&f->rg, tid, nth, L->e.x, nb, L->e.output_norm,
                      &L->e.plans[hp->n_layer * W_PER_LAYER], &L->e.out1, &L->e.output,
                      f->logits_all, f->last, f->logits, L->e.work + hp->n_layer * S_PER_LAYER);
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

/* One chunk of nb <= n_batch tokens at positions pos..: the weights' plans for nb, embedding
 * rows, RoPE tables and the attention plans on the calling thread, then the layers as one
 * parallel region. */
static int forward_chunk(struct owb_model *m, const int32_t *tokens, int64_t nb, int64_t pos,
                         float *logits, bool logits_all, bool last, char err[OWB_ERR_MAX])
{
    struct llama *L = m->impl;
    const struct owb_hparams *hp = &m->hp;
    struct owb_engine_fwd f;
    int rc = owb_engine_chunk(&L->e, m, tokens, nb, pos, logits, logits_all, last, &f, err);
    if (rc)
        return rc;
    for (int64_t b = 0; b < nb; b++)
        rope_cache(m, L, pos + b, &L->rope[b]);
    /* Attention blocks: qb query tokens each, keys up to the block's last position. */
    L->blocks.plans = L->att_plans;
    L->blocks.kstart = L->att_kstart;
    rc = owb_attn_plan(&L->blocks, pos, nb, L->e.qb, hp->n_head / hp->n_head_kv, hp->head_dim, 0,
                       L->e.isa, err);
    if (rc)
        return rc;
    owb_engine_run(&L->e, &f, chunk_fn);
    return 0;
}

int owb_llama_forward(struct owb_model *m, const int32_t *tokens, int64_t n, int64_t pos,
                      float *logits, bool logits_all, char err[OWB_ERR_MAX])
{
    return owb_engine_forward(m, tokens, n, pos, logits, logits_all, forward_chunk, err);
}
