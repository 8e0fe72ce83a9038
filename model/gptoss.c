/* SPDX-License-Identifier: MIT */
/*
 * gptoss.c: the gpt-oss forward pass (model/gptoss.h) on the seams the Llama family uses: the
 * loader (model/loader.h) binds the weights in place, attention runs through kernels/attn.h
 * (window, sinks, the sliding layers' ring cache), the region steps through model/region.h, and a
 * forward chunk is ONE parallel region of the caller's runner whose threads meet at the runtime's
 * barrier (runtime/par.h) between steps and take output rows, KV heads, tokens or experts from
 * shared counters (owb_grab). Per layer the steps are: Q/K/V + RoPE + cache + attention by KV head;
 * output projection; router rows; then for a chunk of several tokens: top-k per token; grouping
 * of the chunk's (token, choice) pairs by expert (worker 0); per chosen expert: gather its tokens'
 * normed rows and quantize them once; gate/up rows of every chosen expert (+ biases, clamped
 * SwiGLU); quantize the hidden rows; down rows; the weighted sum per token in the order of its
 * choices. One decoded token takes a shorter route with the same operations (moe_decode). Every
 * output element is computed by one thread with a plan that depends only on the routing (never on
 * the thread count), so logits are bitwise identical for any thread count. A backend without
 * host threads (cuda), or the cpu when forced, runs model/devfwd.c's one-thread op sequence over
 * the same bound weights instead (driver_init; experts as expert-indexed GEMVs).
 *
 * llama.cpp behaviours followed: the sliding-window layers are those with l % period < period - 1
 * (set_swa_pattern, period 2: even layers); a key at p is visible to the query at q when
 * q - p < window; sinks join the softmax denominator as exp(sink - max) with max including the
 * sink; scores scaled by 1/sqrt(head_dim); router weights = softmax of the selected logits
 * (LLAMA_EXPERT_GATING_FUNC_TYPE_SOFTMAX_WEIGHT, no renormalisation); expert_weights_scale
 * applied when present and not 0 or 1; SwiGLU alpha 1.702, limit 7; YaRN as in
 * owb_yarn_init.
 *
 * Choices where llama.cpp is silent or looser: equal router logits go to the lower expert index
 * (ggml's top_k is a std::partial_sort, whose order of ties is unspecified); the experts' outputs
 * are summed in the order of the choices (descending logit); q/k/v/o, router and expert biases
 * are optional (absent: no add; llama.cpp requires them); the post-attention norm is read as
 * post_attention_norm or attn_post_norm; rotary angles are computed in double (ggml accumulates
 * them in float); a per-layer array for sliding_window_pattern is refused as unsupported; the
 * KV cache is f32 (llama.cpp's default is f16).
 */
#define _POSIX_C_SOURCE 200809L
#include "model/gptoss.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/backend.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/attn.h"
#include "model/devfwd.h"
#include "model/engine.h"
#include "model/loader.h"
#include "model/region.h"
#include "runtime/par.h"

#define OAI_ALPHA 1.702f
#define OAI_LIMIT 7.0f
#define MAX_USED OWB_TOPK_MAX /* expert_used_count limit (stack arrays of the router) */

/* ---- the ops ---- */

void owb_moe_topk(const float *logits, int64_t n, int64_t k, int32_t *ids, float *w)
{
    OWB_ASSERT(k <= MAX_USED);
    owb_topk_softmax(logits, n, k, ids, w); /* kernels/ops.h: shared with the backends' topk */
}

void owb_moe_group(const int32_t *ids, int64_t n_tok, int64_t k, int64_t n_expert, int64_t *counts,
                   int64_t *offsets, int32_t *row_tok, int32_t *tok_row)
{
    memset(counts, 0, (size_t)n_expert * sizeof *counts);
    for (int64_t i = 0; i < n_tok * k; i++)
        counts[ids[i]]++;
    offsets[0] = 0;
    for (int64_t e = 0; e < n_expert; e++)
        offsets[e + 1] = offsets[e] + counts[e];
    /* fill in token order: within an expert, rows follow the tokens */
    for (int64_t e = 0; e < n_expert; e++)
        counts[e] = 0;
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t j = 0; j < k; j++) {
            const int32_t e = ids[t * k + j];
            const int64_t r = offsets[e] + counts[e]++;
            row_tok[r] = (int32_t)t;
            tok_row[t * k + j] = (int32_t)r;
        }
}

/* ---- the model ---- */

/* Dense matrices of a layer, in plan order. */
enum { A_Q, A_K, A_V, A_O, A_R, A_PER_LAYER };
/* Expert tensors. */
enum { X_GATE, X_UP, X_DOWN, X_PER_LAYER };
static const char *const x_names[X_PER_LAYER] = {"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"};
/* Work counters of a layer's steps. */
enum { S_HEADS, S_O, S_R, S_TOPK, S_GATHER, S_GU, S_PREPD, S_D, S_COMB, S_PER_LAYER };

struct glayer {
    float *attn_norm;         /* (n_embd) */
    float *post_norm;         /* (n_embd) post_attention_norm */
    float *bq, *bk, *bv, *bo; /* (q_dim), (kv_dim) x 2, (n_embd); NULL when absent */
    float *sinks;             /* (n_head) */
    float *br;                /* (n_expert) router bias or NULL */
    float *bg, *bu;           /* (n_expert, n_ff_exp) or NULL */
    float *bd;                /* (n_expert, n_embd) or NULL */
    struct owb_wt w[A_PER_LAYER];
    struct owb_wt x[X_PER_LAYER];
    int64_t window; /* 0: full attention */
    int64_t cap;    /* KV cache slots (kernels/attn.h: n_ctx, or window + n_batch when sliding) */
    int64_t kv_off; /* floats from the start of k_cache / v_cache to this layer's cache */
};

struct gthr {
    struct owb_attn_scratch att;
    /* decode (one token): the routing and the experts' prepared inputs, per thread */
    int32_t sel[MAX_USED];
    float selw[MAX_USED];
    void *xg, *xu; /* (act row of the widest gate/up input) */
    void *xd;      /* (n_used, act row of the widest down input) */
    float *acc;    /* (n_embd) weighted sum of one row range */
};

struct gptoss {
    struct owb_engine e; /* first: what every engine holds (model/engine.h) */
    int64_t n_expert, n_used, n_ff_exp, window, period;
    float w_scale;           /* expert_weights_scale (0: none) */
    struct owb_yarn yarn[2]; /* full layers, sliding layers */
    struct glayer *layers;   /* (n_layer) */

    /* Activations for up to n_batch tokens (nb), beside the engine's. */
    float *rlog;                /* (nb, n_expert) router logits */
    int32_t *sel;               /* (nb, n_used) chosen experts */
    float *selw;                /* (nb, n_used) their weights */
    int64_t *counts, *offsets;  /* (n_expert), (n_expert + 1) */
    int32_t *row_tok, *tok_row; /* (nb * n_used) */
    int32_t *active;            /* (n_expert) chosen experts in order */
    int64_t n_active;
    size_t *aoff_g, *aoff_d; /* (n_expert) byte offsets of an expert's prepared rows */
    float *xe;               /* (nb * n_used, n_embd) gathered normed rows, expert-grouped */
    float *hg, *hu;          /* (nb * n_used, n_ff_exp) gate (then SwiGLU), up */
    float *de;               /* (nb * n_used, n_embd) expert outputs */
    void *xact_g, *xact_u, *xact_d;
    size_t xact_bytes_g, xact_bytes_d;
    struct owb_be_mm *xplans;       /* (n_expert, 3) of the current layer */
    struct owb_rope_cache *rope[2]; /* (nb) each: full and sliding layers */
    struct gthr *thr;               /* (nthreads) */
    struct owb_matmul_plan *att_plans[2];
    int64_t *att_kstart[2];
    struct owb_attn_blocks blocks[2];
};
static_assert(offsetof(struct gptoss, e) == 0, "m->impl is the engine too");

void owb_gptoss_release(struct owb_model *m)
{
    struct gptoss *G = m->impl;
    if (!G)
        return;
    void *bufs[] = {G->layers,  G->rlog,   G->sel,    G->selw,   G->counts, G->offsets, G->row_tok,
                    G->tok_row, G->active, G->aoff_g, G->aoff_d, G->xe,     G->hg,      G->hu,
                    G->de,      G->xact_g, G->xact_u, G->xact_d, G->xplans, G->rope[0], G->rope[1]};
    for (size_t i = 0; i < OWB_ARRAY_LEN(bufs); i++)
        free(bufs[i]);
    for (int j = 0; j < 2; j++) {
        free(G->att_plans[j]);
        free(G->att_kstart[j]);
    }
    if (G->thr)
        for (int t = 0; t < G->e.nthreads; t++) {
            owb_region_attn_free(&G->thr[t].att);
            free(G->thr[t].xg);
            free(G->thr[t].xu);
            free(G->thr[t].xd);
            free(G->thr[t].acc);
        }
    free(G->thr);
    owb_engine_free(m);
}

static const struct owb_wt *layer_wt(const void *impl, int64_t l, int i);
static int relayout_experts(struct owb_model *m, const struct owb_gguf *g,
                            const struct owb_model_opts *o, char err[OWB_ERR_MAX]);
static int driver_init(struct owb_model *m, const struct owb_gguf *g,
                       const struct owb_model_opts *o, char err[OWB_ERR_MAX]);

/* The optional bias `name` of n (x n2) floats at *v (advanced), or NULL when absent. */
static int opt_vec(struct owb_loader *ld, const char *name, int64_t n, int64_t n2, float **v,
                   float **out, char err[OWB_ERR_MAX])
{
    bool found;
    if (owb_ld_vec(ld, name, n, n2, false, *v, &found, err))
        return OWB_E_FORMAT;
    *out = found ? *v : NULL;
    *v += n * (n2 ? n2 : 1);
    return 0;
}

int owb_gptoss_load(struct owb_model *m, const struct owb_gguf *g, const struct owb_model_opts *o,
                    char err[OWB_ERR_MAX])
{
    struct owb_hparams *hp = &m->hp;
    char name[128];
    bool oom = false;
    int rc = owb_engine_new(m, sizeof(struct gptoss), o, A_PER_LAYER, layer_wt, g->path, err);
    if (rc)
        return rc;
    struct gptoss *G = m->impl;
    struct owb_loader ld = {g, hp->arch, G->e.isa, 0};
    rc = OWB_E_FORMAT;

    int64_t key_len, val_len, orig_ctx;
    float freq_base_swa, factor, beta_fast, beta_slow, rope_attn;
    char stype[32];
    if (owb_ld_u32(&ld, "embedding_length", true, 0, &hp->n_embd, err) ||
        owb_ld_u32(&ld, "block_count", true, 0, &hp->n_layer, err) ||
        owb_ld_u32(&ld, "attention.head_count", true, 0, &hp->n_head, err) ||
        owb_ld_u32(&ld, "attention.head_count_kv", false, 0, &hp->n_head_kv, err) ||
        owb_ld_u32(&ld, "context_length", true, 0, &hp->n_ctx_train, err) ||
        owb_ld_u32(&ld, "attention.key_length", false, 0, &key_len, err) ||
        owb_ld_u32(&ld, "attention.value_length", false, 0, &val_len, err) ||
        owb_ld_u32(&ld, "expert_count", true, 0, &G->n_expert, err) ||
        owb_ld_u32(&ld, "expert_used_count", true, 0, &G->n_used, err) ||
        owb_ld_u32(&ld, "expert_feed_forward_length", true, 0, &G->n_ff_exp, err) ||
        owb_ld_u32(&ld, "attention.sliding_window", true, 0, &G->window, err) ||
        owb_ld_f32(&ld, "rope.freq_base", 10000.0f, &hp->rope_freq_base, err) ||
        owb_ld_f32(&ld, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->rms_eps, err) ||
        owb_ld_f32(&ld, "rope.scaling.factor", 0.0f, &factor, err) ||
        owb_ld_f32(&ld, "rope.scaling.yarn_beta_fast", 32.0f, &beta_fast, err) ||
        owb_ld_f32(&ld, "rope.scaling.yarn_beta_slow", 1.0f, &beta_slow, err) ||
        owb_ld_f32(&ld, "rope.scaling.attn_factor", 1.0f, &rope_attn, err) ||
        owb_ld_f32(&ld, "expert_weights_scale", 0.0f, &G->w_scale, err) ||
        owb_ld_str(&ld, "rope.scaling.type", stype, sizeof stype, err))
        goto fail;
    if (owb_ld_f32(&ld, "rope.freq_base_swa", hp->rope_freq_base, &freq_base_swa, err) ||
        owb_ld_u32(&ld, "rope.scaling.original_context_length", false, (uint32_t)hp->n_ctx_train,
                   &orig_ctx, err))
        goto fail;
    {
        /* llama.cpp reads the pattern with get_key_or_arr; a per-layer array is not supported */
        char k[128];
        snprintf(k, sizeof k, "%s.attention.sliding_window_pattern", hp->arch);
        const struct owb_gguf_kv *kv = owb_gguf_find(g, k);
        if (kv && kv->value.type == OWB_GGUF_ARRAY) {
            owb_seterr(err, "%.300s: %s as a per-layer array is not supported", g->path, k);
            rc = OWB_E_UNSUPPORTED;
            goto fail;
        }
        if (owb_ld_u32(&ld, "attention.sliding_window_pattern", false, 2, &G->period, err))
            goto fail;
    }
    if (owb_ld_heads(&ld, hp, err))
        goto fail;
    if (hp->n_layer > g->n_tensors) {
        owb_seterr(err, "%.300s: block_count %" PRId64 " but the file has %" PRId64 " tensors",
                   g->path, hp->n_layer, g->n_tensors);
        goto fail;
    }
    if (G->n_expert <= 0 || G->n_used <= 0 || G->n_used > G->n_expert || G->n_used > MAX_USED) {
        owb_seterr(err,
                   "%.300s: expert_count %" PRId64 " and expert_used_count %" PRId64
                   ": need 1 <= expert_used_count <= expert_count (and <= %d)",
                   g->path, G->n_expert, G->n_used, MAX_USED);
        goto fail;
    }
    if (G->n_ff_exp <= 0) {
        owb_seterr(err, "%.300s: expert_feed_forward_length is 0", g->path);
        goto fail;
    }
    if (G->window <= 0) {
        owb_seterr(err, "%.300s: attention.sliding_window is 0 (gpt-oss needs a window)", g->path);
        goto fail;
    }
    if (owb_ld_head_dim(&ld, hp, key_len, val_len, err))
        goto fail;
    if (factor > 1.0f && stype[0] && strcmp(stype, "yarn") != 0) {
        owb_seterr(err, "%.300s: rope scaling \"%s\" is not supported for gpt-oss (yarn)", g->path,
                   stype);
        rc = OWB_E_UNSUPPORTED;
        goto fail;
    }
    if (factor > 1.0f && (orig_ctx <= 0 || beta_fast <= 0.0f || beta_slow <= 0.0f)) {
        owb_seterr(err, "%.300s: YaRN needs a positive original context and beta values", g->path);
        goto fail;
    }
    if (hp->rope_freq_base <= 1.0f || freq_base_swa <= 1.0f) {
        owb_seterr(err, "%.300s: rope.freq_base must be above 1", g->path);
        goto fail;
    }
    owb_yarn_init(&G->yarn[0], hp->n_rot, hp->rope_freq_base, factor, orig_ctx, beta_fast,
                  beta_slow, rope_attn);
    owb_yarn_init(&G->yarn[1], hp->n_rot, freq_base_swa, factor, orig_ctx, beta_fast, beta_slow,
                  rope_attn);
    hp->rope_freq_scale = G->yarn[0].freq_scale;
    hp->rope_neox = 1;

    if ((rc = owb_engine_bind(&G->e, &ld, hp, err)))
        goto fail;
    rc = OWB_E_FORMAT;
    hp->n_ff = G->n_ff_exp;
    hp->n_expert = G->n_expert;
    hp->n_expert_used = G->n_used;

    /* Matrices first (their shapes in the file bound every size below). */
    const int64_t E = hp->n_embd, F = G->n_ff_exp, X = G->n_expert;
    G->layers = calloc((size_t)hp->n_layer, sizeof *G->layers);
    if (!G->layers) {
        owb_seterr(err, "%.300s: out of memory", g->path);
        rc = OWB_E_NOMEM;
        goto fail;
    }
    for (int64_t l = 0; l < hp->n_layer; l++) {
        struct glayer *ly = &G->layers[l];
        static const char *const an[A_PER_LAYER] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                                    "ffn_gate_inp"};
        const int64_t ak[A_PER_LAYER] = {E, E, E, G->e.q_dim, E};
        const int64_t am[A_PER_LAYER] = {G->e.q_dim, G->e.kv_dim, G->e.kv_dim, E, X};
        for (int i = 0; i < A_PER_LAYER; i++) {
            owb_ld_name(name, sizeof name, l, an[i], "weight");
            if ((rc = owb_ld_matrix(&ld, name, ak[i], am[i], 0, &ly->w[i], err)))
                goto fail;
        }
        const int64_t xk[X_PER_LAYER] = {E, E, F}, xm[X_PER_LAYER] = {F, F, E};
        for (int i = 0; i < X_PER_LAYER; i++) {
            owb_ld_name(name, sizeof name, l, x_names[i], "weight");
            if ((rc = owb_ld_matrix(&ld, name, xk[i], xm[i], X, &ly->x[i], err)))
                goto fail;
        }
        /* llama.cpp: sliding when l % period < period - 1 (period 0: every layer) */
        ly->window = G->period == 0 || l % G->period < G->period - 1 ? G->window : 0;
    }
    rc = OWB_E_FORMAT;

    /* 1-D and 2-D float tensors. */
    int64_t fx, ex, per_layer, all_layers;
    if (owb_ld_mul(&ld, "expert_count x expert_feed_forward_length", X, F, &fx, err) ||
        owb_ld_mul(&ld, "expert_count x embedding_length", X, E, &ex, err))
        goto fail;
    per_layer = 3 * E + G->e.q_dim + 2 * G->e.kv_dim + hp->n_head + X + 2 * fx + ex;
    if (owb_ld_mul(&ld, "float tensors of the layers", hp->n_layer, per_layer, &all_layers, err))
        goto fail;
    G->e.vecs = owb_ld_alloc_f32(all_layers + E, 1, 1, true, &oom);
    if (oom) {
        owb_seterr(err, "%.300s: out of memory", g->path);
        rc = OWB_E_NOMEM;
        goto fail;
    }
    float *v = G->e.vecs;
    for (int64_t l = 0; l < hp->n_layer; l++) {
        struct glayer *ly = &G->layers[l];
        ly->attn_norm = v;
        v += E;
        owb_ld_name(name, sizeof name, l, "attn_norm", "weight");
        if (owb_ld_vec(&ld, name, E, 0, true, ly->attn_norm, NULL, err))
            goto fail;
        ly->post_norm = v;
        v += E;
        bool found;
        owb_ld_name(name, sizeof name, l, "post_attention_norm", "weight");
        if (owb_ld_vec(&ld, name, E, 0, false, ly->post_norm, &found, err))
            goto fail;
        if (!found) {
            owb_ld_name(name, sizeof name, l, "attn_post_norm", "weight");
            if (owb_ld_vec(&ld, name, E, 0, false, ly->post_norm, &found, err))
                goto fail;
        }
        if (!found) {
            owb_seterr(err, "%.300s: tensor blk.%" PRId64 ".post_attention_norm.weight is missing",
                       g->path, l);
            goto fail;
        }
        ly->sinks = v;
        v += hp->n_head;
        owb_ld_name(name, sizeof name, l, "attn_sinks", "weight");
        if (owb_ld_vec(&ld, name, hp->n_head, 0, true, ly->sinks, NULL, err))
            goto fail;
        struct {
            const char *base;
            int64_t n, n2;
            float **dst;
        } b[] = {{"attn_q", G->e.q_dim, 0, &ly->bq},  {"attn_k", G->e.kv_dim, 0, &ly->bk},
                 {"attn_v", G->e.kv_dim, 0, &ly->bv}, {"attn_output", E, 0, &ly->bo},
                 {"ffn_gate_inp", X, 0, &ly->br},     {"ffn_gate_exps", F, X, &ly->bg},
                 {"ffn_up_exps", F, X, &ly->bu},      {"ffn_down_exps", E, X, &ly->bd}};
        for (size_t i = 0; i < OWB_ARRAY_LEN(b); i++) {
            owb_ld_name(name, sizeof name, l, b[i].base, "bias");
            if (opt_vec(&ld, name, b[i].n, b[i].n2, &v, b[i].dst, err))
                goto fail;
        }
    }
    G->e.output_norm = v;
    if (owb_ld_vec(&ld, "output_norm.weight", E, 0, true, G->e.output_norm, NULL, err))
        goto fail;
    m->weight_bytes = ld.bound_bytes;

    /* Context and batch. */
    if (owb_ld_context(&ld, m, o, err))
        goto fail;

    if ((rc = relayout_experts(m, g, o, err)))
        goto fail;
    for (int64_t l = 0; l < hp->n_layer; l++)
        for (int i = 0; i < X_PER_LAYER; i++) {
            const struct owb_wt *w = &G->layers[l].x[i];
            if (w->wl != OWB_WL_ROWS)
                m->exec.rep8_bytes += (uint64_t)w->n_exp * w->exp_stride;
        }

    /* One host thread driving the backend's ops: its own buffers, none of the below. */
    if (owb_devfwd_wanted(G->e.be, o)) {
        if ((rc = driver_init(m, g, o, err)))
            goto fail;
        return 0;
    }

    /* Activations, KV cache and scratch. KV caches: full layers hold n_ctx positions, sliding
     * ones a ring of window + n_batch; layer after layer, each (n_head_kv, cap, head_dim) for K
     * and (n_head_kv, head_dim, cap) for V. */
    const int64_t nb = m->n_batch, K = G->n_used, NR = nb * K;
    const int64_t group = hp->n_head / hp->n_head_kv, hd = hp->head_dim;
    int64_t kv_total = 0, kv_slots = 0, cap_swa = 0;
    for (int64_t l = 0; l < hp->n_layer; l++) {
        struct glayer *ly = &G->layers[l];
        int64_t n;
        ly->cap = owb_attn_cache_slots(ly->window, m->n_ctx, nb);
        ly->kv_off = kv_total;
        if (owb_ld_mul(&ld, "KV cache of a layer", ly->cap, G->e.kv_dim, &n, err))
            goto fail;
        kv_total += n;
        kv_slots += ly->cap;
        if (ly->window && ly->cap > cap_swa)
            cap_swa = ly->cap;
    }
    owb_engine_alloc(&G->e, m, kv_slots, hp->n_layer * S_PER_LAYER + 1, &oom);
    G->rlog = owb_ld_alloc_f32(nb, X, 1, true, &oom);
    G->selw = owb_ld_alloc_f32(nb, K, 1, true, &oom);
    G->xe = owb_ld_alloc_f32(NR, E, 1, true, &oom);
    G->hg = owb_ld_alloc_f32(NR, F, 1, true, &oom);
    G->hu = owb_ld_alloc_f32(NR, F, 1, true, &oom);
    G->de = owb_ld_alloc_f32(NR, E, 1, true, &oom);
    G->sel = calloc((size_t)NR, sizeof *G->sel);
    G->row_tok = calloc((size_t)NR, sizeof *G->row_tok);
    G->tok_row = calloc((size_t)NR, sizeof *G->tok_row);
    G->counts = calloc((size_t)X, sizeof *G->counts);
    G->offsets = calloc((size_t)X + 1, sizeof *G->offsets);
    G->active = calloc((size_t)X, sizeof *G->active);
    G->aoff_g = calloc((size_t)X, sizeof *G->aoff_g);
    G->aoff_d = calloc((size_t)X, sizeof *G->aoff_d);
    G->xplans = calloc((size_t)X * X_PER_LAYER, sizeof *G->xplans);
    for (int j = 0; j < 2; j++) {
        G->rope[j] = calloc((size_t)nb, sizeof *G->rope[j]);
        G->att_plans[j] = calloc((size_t)G->e.nblk_max * 2, sizeof *G->att_plans[j]);
        G->att_kstart[j] = calloc((size_t)G->e.nblk_max, sizeof *G->att_kstart[j]);
        oom |= !G->rope[j] || !G->att_plans[j] || !G->att_kstart[j];
    }
    G->thr = calloc((size_t)G->e.nthreads, sizeof *G->thr);
    oom |= !G->sel || !G->row_tok || !G->tok_row || !G->counts || !G->offsets || !G->active ||
           !G->aoff_g || !G->aoff_d || !G->xplans || !G->thr;
    if (!oom)
        for (int t = 0; t < G->e.nthreads; t++)
            owb_region_attn_alloc(&G->thr[t].att, group * G->e.qb, hd, m->n_ctx, cap_swa, &oom);
    if (oom) {
        rc = owb_engine_nomem(&G->e, m, g->path, err);
        goto fail;
    }
    if ((rc = owb_engine_plan(&G->e, m, g->path, err)))
        goto fail;
    {
        /* Expert activation scratch: every row of the chunk prepared for the widest expert
         * input, plus 64 bytes of alignment per expert. */
        char merr[OWB_ERR_MAX];
        size_t rg = 0, rd = 0;
        for (int64_t l = 0; l < hp->n_layer; l++)
            for (int64_t c = 1; c <= NR; c = c < 16 ? c + 1 : c * 2) {
                struct owb_be_mm p;
                const struct glayer *ly = &G->layers[l];
                for (int i = 0; i < X_PER_LAYER; i++) {
                    int64_t cc = c > NR ? NR : c;
                    if ((rc = G->e.be->mm_plan(G->e.be, &p, ly->x[i].type, ly->x[i].m, ly->x[i].k,
                                               cc, merr))) {
                        owb_seterr(err, "%.300s: experts of layer %" PRId64 ": %.150s", g->path, l,
                                   merr);
                        goto fail;
                    }
                    size_t *r = i == X_DOWN ? &rd : &rg;
                    *r = p.cpu.act_row_bytes > *r ? p.cpu.act_row_bytes : *r;
                }
            }
        G->xact_bytes_g = (size_t)NR * rg + (size_t)X * 64 + 64;
        G->xact_bytes_d = (size_t)NR * rd + (size_t)X * 64 + 64;
        if (rg && (!(G->xact_g = aligned_alloc(64, (G->xact_bytes_g + 63) & ~(size_t)63)) ||
                   !(G->xact_u = aligned_alloc(64, (G->xact_bytes_g + 63) & ~(size_t)63))))
            oom = true;
        if (rd && !(G->xact_d = aligned_alloc(64, (G->xact_bytes_d + 63) & ~(size_t)63)))
            oom = true;
        const size_t r1g = (rg + 63) & ~(size_t)63, r1d = ((size_t)K * rd + 63) & ~(size_t)63;
        for (int t = 0; t < G->e.nthreads; t++) {
            struct gthr *T = &G->thr[t];
            if ((r1g && (!(T->xg = aligned_alloc(64, r1g)) || !(T->xu = aligned_alloc(64, r1g)))) ||
                (r1d && !(T->xd = aligned_alloc(64, r1d))))
                oom = true;
            T->acc = owb_ld_alloc_f32(E, 1, 1, true, &oom);
        }
    }
    if (oom) {
        owb_seterr(err, "%.300s: out of memory", g->path);
        rc = OWB_E_NOMEM;
        goto fail;
    }
    return 0;
fail:
    owb_gptoss_release(m);
    return rc ? rc : OWB_E_FORMAT;
}

static const struct owb_wt *layer_wt(const void *impl, int64_t l, int i)
{
    return &((const struct gptoss *)impl)->layers[l].w[i];
}

static void driver_rope(const void *impl, int table, int64_t pos, struct owb_rope_cache *rc)
{
    owb_yarn_cache(rc, &((const struct gptoss *)impl)->yarn[table], pos);
}

/* Expert matrices the cpu kernels read faster in another layout (kernels/matmul.h: mxfp4 as REP8
 * where the VBMI GEMV runs) are converted in place, once, when the weights are this process's own
 * copy of the file (never a file mapping, which other processes share) and the host-threads
 * forward pass runs them; the tensor table remembers the layout for later loads from the same
 * copy. Every kernel gives the same bits in either layout. */
static int relayout_experts(struct owb_model *m, const struct owb_gguf *g,
                            const struct owb_model_opts *o, char err[OWB_ERR_MAX])
{
    struct gptoss *G = m->impl;
    if (!g->owned)
        return 0; /* a mapping: always as in the file */
    /* the file's rows for a device, the driver pass or when asked (back from an earlier load's
     * conversion if need be) */
    const bool rows =
        o->rows_layout || G->e.be != &owb_backend_cpu || owb_devfwd_wanted(G->e.be, o);
#define WANT(w) (rows ? OWB_WL_ROWS : owb_matmul_wlayout_best((w)->type, (w)->m, (w)->k, G->e.isa))
    bool any = false;
    for (int64_t l = 0; l < m->hp.n_layer; l++)
        for (int i = 0; i < X_PER_LAYER; i++)
            any |= WANT(&G->layers[l].x[i]) != G->layers[l].x[i].wl;
    if (!any)
        return 0; /* as wanted (an earlier load from this copy may have converted them) */
    char merr[OWB_ERR_MAX], perr[OWB_ERR_MAX], name[128];
    int rc = owb_gguf_writable(g, true, merr);
    for (int64_t l = 0; !rc && l < m->hp.n_layer; l++)
        for (int i = 0; !rc && i < X_PER_LAYER; i++) {
            struct owb_wt *w = &G->layers[l].x[i];
            const enum owb_wlayout wl = WANT(w);
            for (int64_t e = 0; !rc && wl != w->wl && e < w->n_exp; e++)
                rc = owb_wlayout_convert(w->type, w->m, w->k, (void *)owb_wt_expert(w, e), w->wl,
                                         wl, merr);
            if (!rc && wl != w->wl) {
                w->wl = wl;
                owb_ld_name(name, sizeof name, l, x_names[i], "weight");
                owb_gguf_set_wlayout(g, owb_gguf_tensor(g, name), (int)wl);
            }
        }
#undef WANT
    const int rc2 = owb_gguf_writable(g, false, perr);
    if (rc || rc2) {
        owb_seterr(err, "%.300s: converting the expert weights' layout: %.150s", g->path,
                   rc ? merr : perr);
        return rc ? rc : rc2;
    }
    return 0;
}

/* Layer l as model/devfwd.h takes it: dense Q/K/V/O and router, the experts' 3-D stacks, the
 * biases, sinks and window; rope table 0 for full layers, 1 for sliding ones (their base). */
static void driver_layer(const void *impl, int64_t l, struct owb_df_layer *d)
{
    const struct glayer *ly = &((const struct gptoss *)impl)->layers[l];
    d->w[OWB_DF_Q] = ly->w[A_Q];
    d->w[OWB_DF_K] = ly->w[A_K];
    d->w[OWB_DF_V] = ly->w[A_V];
    d->w[OWB_DF_O] = ly->w[A_O];
    d->w[OWB_DF_ROUTER] = ly->w[A_R];
    d->w[OWB_DF_GATE] = ly->x[X_GATE];
    d->w[OWB_DF_UP] = ly->x[X_UP];
    d->w[OWB_DF_DOWN] = ly->x[X_DOWN];
    d->attn_norm = ly->attn_norm;
    d->ffn_norm = ly->post_norm;
    d->bq = ly->bq;
    d->bk = ly->bk;
    d->bv = ly->bv;
    d->bo = ly->bo;
    d->br = ly->br;
    d->bg = ly->bg;
    d->bu = ly->bu;
    d->bd = ly->bd;
    d->sinks = ly->sinks;
    d->window = ly->window;
    d->rope = ly->window ? 1 : 0;
}

/* The model as model/devfwd.h takes it: its layers, the experts' widths and SwiGLU, two rope
 * tables. */
static int driver_init(struct owb_model *m, const struct owb_gguf *g,
                       const struct owb_model_opts *o, char err[OWB_ERR_MAX])
{
    struct gptoss *G = m->impl;
    struct owb_df_desc d = {
        .n_ff = G->n_ff_exp,
        .n_used = G->n_used,
        .w_scale = G->w_scale,
        .alpha = OAI_ALPHA,
        .limit = OAI_LIMIT,
        .n_rope = 2,
        .rope_cache = driver_rope,
        .impl = G,
    };
    return owb_engine_driver(&G->e, m, &d, driver_layer, o, g->path, err);
}

void owb_gptoss_account(const struct owb_model *m, struct owb_model_cost *c)
{
    const struct gptoss *G = m->impl;
    const struct owb_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd, F = G->n_ff_exp, K = G->n_used;
    struct owb_engine_tally t = {0};
    memset(c, 0, sizeof *c);
    for (int64_t l = 0; l < hp->n_layer; l++) {
        const struct glayer *ly = &G->layers[l];
        for (int i = 0; i < A_PER_LAYER; i++)
            owb_engine_tally_wt(&t, &ly->w[i]);
        for (int i = 0; i < X_PER_LAYER; i++) { /* K of the experts per token */
            t.read_bytes += (uint64_t)K * ly->x[i].exp_stride;
            t.by_type[ly->x[i].type] +=
                (uint64_t)ly->x[i].m * (uint64_t)ly->x[i].k * (uint64_t)ly->x[i].n_exp;
            t.mac += (double)K * (double)ly->x[i].m * (double)ly->x[i].k;
        }
        t.read_bytes +=
            4 *
            (uint64_t)(2 * E + hp->n_head + (ly->bq ? G->e.q_dim : 0) + (ly->bk ? G->e.kv_dim : 0) +
                       (ly->bv ? G->e.kv_dim : 0) + (ly->bo ? E : 0) + (ly->br ? G->n_expert : 0) +
                       K * ((ly->bg ? F : 0) + (ly->bu ? F : 0) + (ly->bd ? E : 0)));
        if (ly->window)
            c->n_layer_window++;
        else
            c->n_layer_full++;
    }
    c->window = G->window;
    owb_engine_cost(&G->e, hp, &t, c);
}

/* ---- the forward region ---- */

#define grab_rows owb_region_grab_rows
#define add_bias owb_region_add_bias

static bool same_act(const struct owb_be_mm *a, const struct owb_be_mm *b)
{
    return a->cpu.act_row_bytes && owb_matmul_act_compatible(&a->cpu, &b->cpu);
}

/* Q/K/V biases, RoPE (the layer's table) and cache writes of KV heads [g0, g1). */
static void qkv_finish(struct owb_engine_fwd *f, const struct glayer *ly, float *kc, float *vc,
                       int64_t g0, int64_t g1)
{
    struct gptoss *G = f->m->impl;
    const struct owb_hparams *hp = &f->m->hp;
    owb_attn_write(G->e.q, G->e.kb, G->e.vb, G->e.q_dim, G->e.kv_dim, f->nb, f->pos, ly->bq, ly->bk,
                   ly->bv, G->rope[ly->window ? 1 : 0], 1, hp->head_dim, hp->n_head / hp->n_head_kv,
                   g0, g1, kc, vc, ly->cap);
}

/* The plan of expert matrix i of a layer for `batch` rows, reading the layout it is held in
 * (relayout_experts). Shapes and batches were checked at load. */
static void xplan(const struct gptoss *G, const struct glayer *ly, int i, int64_t batch,
                  struct owb_be_mm *p)
{
    char merr[OWB_ERR_MAX];
    OWB_ASSERT(G->e.be->mm_plan(G->e.be, p, ly->x[i].type, ly->x[i].m, ly->x[i].k, batch, merr) ==
               0);
    if (ly->x[i].wl != OWB_WL_ROWS)
        OWB_ASSERT(owb_matmul_plan_wlayout(&p->cpu, ly->x[i].wl, merr) == 0);
}

/* Worker 0: group the chunk's choices by expert, list the chosen experts and plan each one's
 * gate, up and down over its tokens, with the byte offsets of its prepared rows. */
static void route_plan(struct owb_engine_fwd *f, const struct glayer *ly)
{
    struct gptoss *G = f->m->impl;
    const int64_t X = G->n_expert;
    owb_moe_group(G->sel, f->nb, G->n_used, X, G->counts, G->offsets, G->row_tok, G->tok_row);
    size_t og = 0, od = 0;
    G->n_active = 0;
    for (int64_t e = 0; e < X; e++) {
        const int64_t c = G->counts[e];
        if (!c)
            continue;
        G->active[G->n_active++] = (int32_t)e;
        struct owb_be_mm *p = &G->xplans[e * X_PER_LAYER];
        for (int i = 0; i < X_PER_LAYER; i++)
            xplan(G, ly, i, c, &p[i]);
        G->aoff_g[e] = og;
        G->aoff_d[e] = od;
        og += (p[X_GATE].act_bytes + 63) & ~(size_t)63;
        od += (p[X_DOWN].act_bytes + 63) & ~(size_t)63;
    }
}

/* Map a range [lo, hi) of the flat (active expert, row) space of `rows` rows per expert to the
 * pieces of one expert each, calling fn for each piece. */
#define FOR_PIECES(lo, hi, rows, ia, r0, r1)                                                       \
    for (int64_t ia = (lo) / (rows), _p = (lo); _p < (hi); ia++, _p = ia * (rows))                 \
        for (int64_t r0 = _p - ia * (rows),                                                        \
                     r1 = ((hi) < (ia + 1) * (rows) ? (hi) : (ia + 1) * (rows)) - ia * (rows),     \
                     _once = 1;                                                                    \
             _once; _once = 0)

/* The experts of one decoded token with two barriers: every thread routes the token itself
 * (the same top-k everywhere) and prepares the normed row for gate/up in its own scratch; the
 * gate/up rows of the k experts are shared out; after a barrier every thread prepares the k
 * hidden rows for down, and a range of down rows is computed for all k experts by one thread and
 * summed in the order of the choices into the residual. The same operations as the grouped path
 * with one token per expert, so both give the same bits. xn: the token's normed row. */
static void moe_decode(struct owb_engine_fwd *f, int tid, int nth, const struct glayer *ly,
                       _Atomic int64_t *work, const float *xn)
{
    struct gptoss *G = f->m->impl;
    const int64_t E = f->m->hp.n_embd, F = G->n_ff_exp, K = G->n_used;
    const int64_t A = OWB_MATMUL_ROW_ALIGN;
    struct gthr *T = &G->thr[tid];
    struct owb_model_profile *P = f->rg.prof;
    struct owb_be_mm p[X_PER_LAYER];
    int64_t r0, r1;

    owb_moe_topk(G->rlog, G->n_expert, K, T->sel, T->selw);
    if (G->w_scale != 0.0f && G->w_scale != 1.0f)
        for (int64_t j = 0; j < K; j++)
            T->selw[j] *= G->w_scale;
    for (int i = 0; i < X_PER_LAYER; i++)
        xplan(G, ly, i, 1, &p[i]);
    const bool share = same_act(&p[X_GATE], &p[X_UP]);
    if (p[X_GATE].cpu.act_row_bytes)
        G->e.be->mm_prepare(&p[X_GATE], xn, E, T->xg, 0, 1);
    if (p[X_UP].cpu.act_row_bytes && !share)
        G->e.be->mm_prepare(&p[X_UP], xn, E, T->xu, 0, 1);
    const void *ag = p[X_GATE].cpu.act_row_bytes ? T->xg : NULL;
    const void *au = !p[X_UP].cpu.act_row_bytes ? NULL : share ? T->xg : T->xu;
    if (P)
        owb_region_mark(&f->rg, tid, &P->other_ns);

    /* gate/up rows of the k experts: row ia * F + r of hg is row r of choice ia */
    while (owb_grab(&work[S_GU], K * F, grab_rows(&p[X_GATE]), A, nth, &r0, &r1))
        FOR_PIECES(r0, r1, F, ia, a0, a1)
        {
            const int64_t e = T->sel[ia];
            float *hg = G->hg + ia * F, *hu = G->hu + ia * F;
            owb_region_mm(&f->rg, tid, &p[X_GATE], owb_wt_expert(&ly->x[X_GATE], e), ag, xn, E, hg,
                          F, a0, a1);
            owb_region_mm(&f->rg, tid, &p[X_UP], owb_wt_expert(&ly->x[X_UP], e), au, xn, E, hu, F,
                          a0, a1);
            add_bias(hg, F, 1, ly->bg ? ly->bg + e * F : NULL, a0, a1);
            add_bias(hu, F, 1, ly->bu ? ly->bu + e * F : NULL, a0, a1);
            owb_swiglu_oai(hg + a0, hg + a0, hu + a0, a1 - a0, OAI_ALPHA, OAI_LIMIT);
            if (P)
                owb_region_mark(&f->rg, tid, &P->other_ns);
        }
    owb_region_barrier(&f->rg, tid, nth);

    const size_t adr = p[X_DOWN].cpu.act_row_bytes;
    if (adr)
        for (int64_t ia = 0; ia < K; ia++)
            G->e.be->mm_prepare(&p[X_DOWN], G->hg + ia * F, F, (char *)T->xd + (size_t)ia * adr, 0,
                                1);
    if (P)
        owb_region_mark(&f->rg, tid, &P->matmul_ns[p[X_DOWN].wtype]);
    while (owb_grab(&work[S_D], E, grab_rows(&p[X_DOWN]), A, nth, &r0, &r1)) {
        for (int64_t ia = 0; ia < K; ia++) {
            const int64_t e = T->sel[ia];
            float *de = G->de + ia * E;
            owb_region_mm(&f->rg, tid, &p[X_DOWN], owb_wt_expert(&ly->x[X_DOWN], e),
                          adr ? (char *)T->xd + (size_t)ia * adr : NULL, G->hg + ia * F, F, de, E,
                          r0, r1);
            add_bias(de, E, 1, ly->bd ? ly->bd + e * E : NULL, r0, r1);
        }
        float *acc = T->acc;
        for (int64_t i = r0; i < r1; i++)
            acc[i] = G->de[i] * T->selw[0];
        for (int64_t ia = 1; ia < K; ia++)
            for (int64_t i = r0; i < r1; i++)
                acc[i] += G->de[ia * E + i] * T->selw[ia];
        owb_add(G->e.x + r0, G->e.x + r0, acc + r0, r1 - r0);
        if (P)
            owb_region_mark(&f->rg, tid, &P->other_ns);
    }
    owb_region_barrier(&f->rg, tid, nth);
}

static void moe_step(struct owb_engine_fwd *f, int tid, int nth, const struct glayer *ly,
                     _Atomic int64_t *work)
{
    struct gptoss *G = f->m->impl;
    const struct owb_hparams *hp = &f->m->hp;
    const int64_t E = hp->n_embd, F = G->n_ff_exp, X = G->n_expert, K = G->n_used, nb = f->nb;
    const int64_t A = OWB_MATMUL_ROW_ALIGN;
    struct owb_model_profile *P = f->rg.prof;
    int64_t r0, r1;

    /* Router logits of the normed residual. */
    const struct owb_be_mm *pr = &G->e.plans[(ly - G->layers) * A_PER_LAYER + A_R];
    struct owb_input in;
    owb_region_input(&f->rg, tid, nth, G->e.x, E, nb, ly->post_norm, &pr, 1, &in);
    while (owb_grab(&work[S_R], X, grab_rows(pr), A, nth, &r0, &r1)) {
        owb_region_mm(&f->rg, tid, pr, ly->w[A_R].data, in.act[0], in.x, in.ldx, G->rlog, X, r0,
                      r1);
        add_bias(G->rlog, X, nb, ly->br, r0, r1);
    }
    owb_region_barrier(&f->rg, tid, nth);
    if (nb == 1) {
        moe_decode(f, tid, nth, ly, work, in.x);
        return;
    }
    /* Top-k per token. */
    while (owb_grab(&work[S_TOPK], nb, 1, 1, nth, &r0, &r1))
        for (int64_t b = r0; b < r1; b++) {
            float *w = G->selw + b * K;
            owb_moe_topk(G->rlog + b * X, X, K, G->sel + b * K, w);
            if (G->w_scale != 0.0f && G->w_scale != 1.0f)
                for (int64_t j = 0; j < K; j++)
                    w[j] *= G->w_scale;
        }
    if (P)
        owb_region_mark(&f->rg, tid, &P->other_ns);
    owb_region_barrier(&f->rg, tid, nth);
    if (tid == 0) {
        route_plan(f, ly);
        if (P)
            owb_region_mark(&f->rg, tid, &P->other_ns);
    }
    owb_region_barrier(&f->rg, tid, nth);

    /* Gather each chosen expert's tokens (normed again from the residual: the same operation
     * as the router's input) and prepare them for gate and up. */
    const int64_t NA = G->n_active;
    while (owb_grab(&work[S_GATHER], NA, 1, 1, nth, &r0, &r1))
        for (int64_t ia = r0; ia < r1; ia++) {
            const int64_t e = G->active[ia], o0 = G->offsets[e], c = G->counts[e];
            const struct owb_be_mm *p = &G->xplans[e * X_PER_LAYER];
            for (int64_t r = o0; r < o0 + c; r++)
                owb_rmsnorm(G->xe + r * E, G->e.x + G->row_tok[r] * E, ly->post_norm, E,
                            hp->rms_eps);
            if (p[X_GATE].cpu.act_row_bytes)
                G->e.be->mm_prepare(&p[X_GATE], G->xe + o0 * E, E, (char *)G->xact_g + G->aoff_g[e],
                                    0, c);
            if (p[X_UP].cpu.act_row_bytes && !same_act(&p[X_GATE], &p[X_UP]))
                G->e.be->mm_prepare(&p[X_UP], G->xe + o0 * E, E, (char *)G->xact_u + G->aoff_g[e],
                                    0, c);
            if (P)
                owb_region_mark(&f->rg, tid, &P->matmul_ns[p[X_GATE].wtype]);
        }
    owb_region_barrier(&f->rg, tid, nth);

    /* Gate and up rows of every chosen expert, biases, SwiGLU. */
    const int64_t gmin = NA ? grab_rows(&G->xplans[G->active[0] * X_PER_LAYER]) : 1;
    while (owb_grab(&work[S_GU], NA * F, gmin, A, nth, &r0, &r1))
        FOR_PIECES(r0, r1, F, ia, a0, a1)
        {
            const int64_t e = G->active[ia], o0 = G->offsets[e], c = G->counts[e];
            const struct owb_be_mm *p = &G->xplans[e * X_PER_LAYER];
            const void *ag = p[X_GATE].cpu.act_row_bytes ? (char *)G->xact_g + G->aoff_g[e] : NULL;
            const void *au = !p[X_UP].cpu.act_row_bytes       ? NULL
                             : same_act(&p[X_GATE], &p[X_UP]) ? ag
                                                              : (char *)G->xact_u + G->aoff_g[e];
            float *hg = G->hg + o0 * F, *hu = G->hu + o0 * F;
            owb_region_mm(&f->rg, tid, &p[X_GATE], owb_wt_expert(&ly->x[X_GATE], e), ag,
                          G->xe + o0 * E, E, hg, F, a0, a1);
            owb_region_mm(&f->rg, tid, &p[X_UP], owb_wt_expert(&ly->x[X_UP], e), au, G->xe + o0 * E,
                          E, hu, F, a0, a1);
            add_bias(hg, F, c, ly->bg ? ly->bg + e * F : NULL, a0, a1);
            add_bias(hu, F, c, ly->bu ? ly->bu + e * F : NULL, a0, a1);
            for (int64_t b = 0; b < c; b++)
                owb_swiglu_oai(hg + b * F + a0, hg + b * F + a0, hu + b * F + a0, a1 - a0,
                               OAI_ALPHA, OAI_LIMIT);
            if (P)
                owb_region_mark(&f->rg, tid, &P->other_ns);
        }
    owb_region_barrier(&f->rg, tid, nth);

    /* The hidden rows prepared for down. */
    while (owb_grab(&work[S_PREPD], NA, 1, 1, nth, &r0, &r1))
        for (int64_t ia = r0; ia < r1; ia++) {
            const int64_t e = G->active[ia], o0 = G->offsets[e], c = G->counts[e];
            const struct owb_be_mm *p = &G->xplans[e * X_PER_LAYER + X_DOWN];
            if (p->cpu.act_row_bytes)
                G->e.be->mm_prepare(p, G->hg + o0 * F, F, (char *)G->xact_d + G->aoff_d[e], 0, c);
            if (P)
                owb_region_mark(&f->rg, tid, &P->matmul_ns[p->wtype]);
        }
    owb_region_barrier(&f->rg, tid, nth);

    /* Down rows of every chosen expert (+ bias). */
    const int64_t dmin = NA ? grab_rows(&G->xplans[G->active[0] * X_PER_LAYER + X_DOWN]) : 1;
    while (owb_grab(&work[S_D], NA * E, dmin, A, nth, &r0, &r1))
        FOR_PIECES(r0, r1, E, ia, a0, a1)
        {
            const int64_t e = G->active[ia], o0 = G->offsets[e], c = G->counts[e];
            const struct owb_be_mm *p = &G->xplans[e * X_PER_LAYER + X_DOWN];
            const void *ad = p->cpu.act_row_bytes ? (char *)G->xact_d + G->aoff_d[e] : NULL;
            owb_region_mm(&f->rg, tid, p, owb_wt_expert(&ly->x[X_DOWN], e), ad, G->hg + o0 * F, F,
                          G->de + o0 * E, E, a0, a1);
            add_bias(G->de + o0 * E, E, c, ly->bd ? ly->bd + e * E : NULL, a0, a1);
        }
    owb_region_barrier(&f->rg, tid, nth);

    /* Weighted sum in the order of each token's choices, into the residual. */
    float *acc = G->thr[tid].acc;
    while (owb_grab(&work[S_COMB], nb, 1, 1, nth, &r0, &r1))
        for (int64_t b = r0; b < r1; b++) {
            const float *w = G->selw + b * K;
            const float *d0 = G->de + (int64_t)G->tok_row[b * K] * E;
            for (int64_t i = 0; i < E; i++)
                acc[i] = d0[i] * w[0];
            for (int64_t j = 1; j < K; j++) {
                const float *d = G->de + (int64_t)G->tok_row[b * K + j] * E;
                for (int64_t i = 0; i < E; i++)
                    acc[i] += d[i] * w[j];
            }
            owb_add(G->e.x + b * E, G->e.x + b * E, acc, E);
        }
    if (P)
        owb_region_mark(&f->rg, tid, &P->other_ns);
    owb_region_barrier(&f->rg, tid, nth);
}

static void chunk_fn(void *ctx, int tid, int nth)
{
    struct owb_engine_fwd *f = ctx;
    struct owb_model *m = f->m;
    struct gptoss *G = f->m->impl;
    const struct owb_hparams *hp = &m->hp;
    const int64_t D = hp->n_embd, QD = G->e.q_dim, KD = G->e.kv_dim, nb = f->nb;
    const int64_t hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
    struct owb_model_profile *P = f->rg.prof;
    struct owb_input in;
    int64_t r0, r1;

    OWB_ASSERT(nth <= G->e.nthreads);
    if (P && tid == 0)
        owb_region_mark(&f->rg, tid, &P->sync_ns);
    for (int64_t l = 0; l < hp->n_layer; l++) {
        const struct glayer *ly = &G->layers[l];
        const struct owb_be_mm *pl = &G->e.plans[l * A_PER_LAYER];
        float *kc = G->e.k_cache + ly->kv_off; /* (n_head_kv, cap, hd) */
        float *vc = G->e.v_cache + ly->kv_off; /* (n_head_kv, hd, cap) */
        _Atomic int64_t *work = G->e.work + l * S_PER_LAYER;

        /* Attention: q, k, v by KV head, then that head's attention (window, sinks). */
        const struct owb_be_mm *pqkv[3] = {&pl[A_Q], &pl[A_K], &pl[A_V]};
        owb_region_input(&f->rg, tid, nth, G->e.x, D, nb, ly->attn_norm, pqkv, 3, &in);
        const struct owb_attn_args aa = {
            .q = G->e.q,
            .out = G->e.att_out,
            .ldq = QD,
            .kc = kc,
            .vc = vc,
            .cap = ly->cap,
            .head_dim = hd,
            .group = group,
            .pos = f->pos,
            .sinks = ly->sinks,
            .scale = 1.0f / sqrtf((float)hd),
        };
        while (owb_grab(&work[S_HEADS], hp->n_head_kv, 1, 1, nth, &r0, &r1)) {
            owb_region_mm(&f->rg, tid, &pl[A_Q], ly->w[A_Q].data, in.act[0], in.x, in.ldx, G->e.q,
                          QD, r0 * group * hd, r1 * group * hd);
            owb_region_mm(&f->rg, tid, &pl[A_K], ly->w[A_K].data, in.act[1], in.x, in.ldx, G->e.kb,
                          KD, r0 * hd, r1 * hd);
            owb_region_mm(&f->rg, tid, &pl[A_V], ly->w[A_V].data, in.act[2], in.x, in.ldx, G->e.vb,
                          KD, r0 * hd, r1 * hd);
            qkv_finish(f, ly, kc, vc, r0, r1);
            owb_attn_heads(&G->blocks[ly->window ? 1 : 0], &aa, r0, r1, &G->thr[tid].att);
            if (P)
                owb_region_mark(&f->rg, tid, &P->attention_ns);
        }
        owb_region_barrier(&f->rg, tid, nth);

        /* Output projection + bias + residual. */
        owb_region_residual(&f->rg, tid, nth, G->e.att_out, QD, nb, &pl[A_O], ly->w[A_O].data,
                            ly->bo, G->e.proj, G->e.x, &work[S_O]);

        moe_step(f, tid, nth, ly, work);
    }

    owb_region_logits(&f->rg, tid, nth, G->e.x, nb, G->e.output_norm,
                      &G->e.plans[hp->n_layer * A_PER_LAYER], &G->e.out1, &G->e.output,
                      f->logits_all, f->last, f->logits, G->e.work + hp->n_layer * S_PER_LAYER);
}

/* One chunk of nb <= n_batch tokens at positions pos..: the weights' plans for nb, embedding
 * rows, both RoPE tables and both attention plans on the calling thread, then the layers as one
 * parallel region. */
static int forward_chunk(struct owb_model *m, const int32_t *tokens, int64_t nb, int64_t pos,
                         float *logits, bool logits_all, bool last, char err[OWB_ERR_MAX])
{
    struct gptoss *G = m->impl;
    const struct owb_hparams *hp = &m->hp;
    struct owb_engine_fwd f;
    int rc = owb_engine_chunk(&G->e, m, tokens, nb, pos, logits, logits_all, last, &f, err);
    if (rc)
        return rc;
    for (int64_t b = 0; b < nb; b++) {
        owb_yarn_cache(&G->rope[0][b], &G->yarn[0], pos + b);
        owb_yarn_cache(&G->rope[1][b], &G->yarn[1], pos + b);
    }
    for (int j = 0; j < 2; j++) {
        G->blocks[j].plans = G->att_plans[j];
        G->blocks[j].kstart = G->att_kstart[j];
        rc = owb_attn_plan(&G->blocks[j], pos, nb, G->e.qb, hp->n_head / hp->n_head_kv,
                           hp->head_dim, j ? G->window : 0, G->e.isa, err);
        if (rc)
            return rc;
    }
    owb_engine_run(&G->e, &f, chunk_fn);
    return 0;
}

int owb_gptoss_forward(struct owb_model *m, const int32_t *tokens, int64_t n, int64_t pos,
                       float *logits, bool logits_all, char err[OWB_ERR_MAX])
{
    return owb_engine_forward(m, tokens, n, pos, logits, logits_all, forward_chunk, err);
}
