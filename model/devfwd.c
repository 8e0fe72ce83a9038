/* SPDX-License-Identifier: MIT */
/*
 * devfwd.c: the backend-driven forward pass (model/devfwd.h). Every address below is a backend
 * address (owb_buf.data plus pointer arithmetic); the host touches only its staging copies of
 * the per-chunk arguments and the downloaded logits.
 */
#define _POSIX_C_SOURCE 200809L /* getenv */
#include "model/devfwd.h"

#include "kernels/attn.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A layer in backend memory. */
struct dlayer {
    struct owb_wt w[OWB_DF_NW]; /* shapes and types (data: the host copy) */
    const void *wd[OWB_DF_NW];  /* backend addresses of the weights (NULL: absent) */
    const float *attn_norm, *ffn_norm, *bq, *bk, *bv, *bo, *br, *bg, *bu, *bd, *sinks;
    int64_t window;
    int64_t cap;    /* KV cache slots: n_ctx, or a sliding layer's ring (owb_attn_cache_slots) */
    int64_t kv_off; /* floats before the layer's K (and V) cache in D->kc (D->vc) */
    int rope;
};

/* Op classes of a profiled chunk (m->profile): marks in the backend's timeline (its timer: the
 * wall clock on the cpu, events on a device), each closing the interval since the mark before it
 * with a class: a weight type (its matmuls, preparing their inputs included) or PC_*; accounted
 * after the chunk's synchronize. */
enum { PC_ATTN = OWB_TYPE_COUNT, PC_NORM, PC_OTHER };
struct dprof {
    struct owb_be_timer *t; /* (cap) */
    int *cls;               /* (cap) */
    int n, cap;
    bool on;
};

/* The per-chunk arguments (host staging and backend copy alike) are two regions of one buffer:
 * chunks at offset 0 with room for n_batch tokens, decode steps after it with room for one (one
 * upload per decoded token). A region for S tokens: */
#define STEP_POS 0  /* int64_t: the chunk's first position */
#define STEP_TOK 64 /* int32_t (S): token ids */
/* then from args_rc(S): the rope caches, (n_rope, S) */

struct owb_devfwd {
    const struct owb_backend *be;
    struct owb_hparams hp;
    int64_t n_ctx, n_batch, q_dim, kv_dim, n_ff, n_expert, n_used;
    float w_scale, alpha, limit;
    bool moe;
    int n_rope;
    void (*rope_cache)(const void *impl, int table, int64_t pos, struct owb_rope_cache *rc);
    const void *impl;

    struct dlayer *layers;
    struct owb_wt tok_embd, output;
    const void *tok_embd_d, *output_d;
    const float *output_norm;

    /* Buffers: the weights (n_layer * OWB_DF_NW + 2: embedding, output), the 1-D tensors, the
     * activations, the KV cache, the per-chunk arguments. */
    struct owb_buf *wbuf;
    int64_t n_wbuf;
    struct owb_buf vecs, x, xn, q, kb, vb, att, proj, hg, hu, de, rlog, sel, selw, logits, act, kc,
        vc, step, route;
    void *step_host;    /* staging of step */
    size_t dec_off;     /* byte offset of the decode region in step */
    size_t act_cap;     /* bytes of act */
    size_t act1_expert; /* act bytes of one prepared row of the widest expert input */

    /* Plans: (n_layer * OWB_DF_NW + 1) for chunks of plan_nb tokens and for one token (the
     * experts' expert-indexed rows take batch-1 plans). */
    int64_t plan_nb;
    struct owb_be_mm *plans, *plans1;
    /* Grouped expert plans (n_layer * 3: gate, up, down) for chunks of several tokens, when the
     * backend has them for every expert weight (else the experts run as expert-indexed rows). */
    struct owb_be_mm *gplans;
    bool grouped;

    bool graphs;       /* try to record the decode step */
    bool graph_failed; /* recording failed once: decode op by op */
    void *graph;       /* the recorded decode step */

    struct dprof *prof; /* NULL until a profiled call */
};

static void prof_free(struct owb_devfwd *D)
{
    struct dprof *P = D->prof;
    if (!P)
        return;
    for (int i = 0; i < P->cap && P->t; i++)
        if (P->t[i].be)
            D->be->timer_release(&P->t[i]);
    free(P->t);
    free(P->cls);
    free(P);
    D->prof = NULL;
}

bool owb_devfwd_wanted(const struct owb_backend *be, const struct owb_model_opts *o)
{
    if (be && !be->host_threads)
        return true;
    if (o && o->driver)
        return true;
    const char *e = getenv("OWB_DEVFWD");
    return e && strcmp(e, "1") == 0;
}

void owb_devfwd_free(struct owb_devfwd *D)
{
    if (!D)
        return;
    if (D->graph && D->be->graph_free)
        D->be->graph_free(D->graph);
    prof_free(D);
    if (D->wbuf)
        for (int64_t i = 0; i < D->n_wbuf; i++)
            owb_buf_free(&D->wbuf[i]);
    struct owb_buf *bufs[] = {&D->vecs,   &D->x,   &D->xn, &D->q,  &D->kb,   &D->vb,   &D->att,
                              &D->proj,   &D->hg,  &D->hu, &D->de, &D->rlog, &D->sel,  &D->selw,
                              &D->logits, &D->act, &D->kc, &D->vc, &D->step, &D->route};
    for (size_t i = 0; i < OWB_ARRAY_LEN(bufs); i++)
        owb_buf_free(bufs[i]);
    free(D->wbuf);
    free(D->layers);
    free(D->plans);
    free(D->plans1);
    free(D->gplans);
    free(D->step_host);
    free(D);
}

/* ---- setup ---- */

/* Byte offset of the rope caches in an argument region for S tokens, and its size. */
static size_t args_rc(int64_t S)
{
    return STEP_TOK + ((size_t)S * sizeof(int32_t) + 63) / 64 * 64;
}

static size_t args_bytes(const struct owb_devfwd *D, int64_t S)
{
    return args_rc(S) + (size_t)D->n_rope * (size_t)S * sizeof(struct owb_rope_cache);
}

/* Bytes of a weight's data: its rows, or every expert's. */
static size_t wt_bytes(const struct owb_wt *w)
{
    if (w->exp_stride)
        return (size_t)w->n_exp * w->exp_stride;
    return (size_t)w->m * owb_row_size(w->type, w->k);
}

/* Map weight w into the next weight buffer (cpu: its host address; a device: one upload). */
static int map_weight(struct owb_devfwd *D, const struct owb_wt *w, const void **dev,
                      struct owb_model *m, char err[OWB_ERR_MAX])
{
    *dev = NULL;
    if (!w->data)
        return 0;
    struct owb_buf *b = &D->wbuf[D->n_wbuf];
    int rc = D->be->buf_map(D->be, b, w->data, wt_bytes(w), err);
    if (rc)
        return rc;
    D->n_wbuf++;
    if (b->owned)
        m->exec.device_bytes += b->bytes;
    *dev = b->data;
    return 0;
}

static int alloc(struct owb_devfwd *D, struct owb_buf *b, int64_t a, int64_t c, size_t el,
                 struct owb_model *m, char err[OWB_ERR_MAX])
{
    const size_t bytes = (size_t)a * (size_t)c * el;
    int rc = D->be->buf_alloc(D->be, b, bytes ? bytes : el, err);
    if (!rc)
        m->exec.device_bytes += b->bytes;
    return rc;
}

/* The 1-D tensors of the model: sizes first (counting pass, dst NULL), then the upload. */
struct vec_put {
    struct owb_devfwd *D;
    size_t off; /* floats so far */
    char *err;
    int rc;
};

static const float *put_vec(struct vec_put *vp, const float *src, int64_t n)
{
    if (!src || vp->rc)
        return NULL;
    const size_t off = vp->off;
    vp->off += ((size_t)n + 15) / 16 * 16; /* 64-byte aligned pieces */
    if (!vp->D->vecs.data)
        return NULL;
    vp->rc = vp->D->be->upload(&vp->D->vecs, off * sizeof(float), src, (size_t)n * sizeof(float),
                               vp->err);
    return (const float *)vp->D->vecs.data + off;
}

static void put_vecs(struct owb_devfwd *D, const struct owb_df_desc *d, struct vec_put *vp)
{
    const int64_t E = D->hp.n_embd, X = D->n_expert, F = D->n_ff;
    for (int64_t l = 0; l < D->hp.n_layer; l++) {
        const struct owb_df_layer *s = &d->layers[l];
        struct dlayer *ly = &D->layers[l];
        ly->attn_norm = put_vec(vp, s->attn_norm, E);
        ly->ffn_norm = put_vec(vp, s->ffn_norm, E);
        ly->bq = put_vec(vp, s->bq, D->q_dim);
        ly->bk = put_vec(vp, s->bk, D->kv_dim);
        ly->bv = put_vec(vp, s->bv, D->kv_dim);
        ly->bo = put_vec(vp, s->bo, E);
        ly->sinks = put_vec(vp, s->sinks, D->hp.n_head);
        ly->br = put_vec(vp, s->br, X);
        ly->bg = put_vec(vp, s->bg, X * F);
        ly->bu = put_vec(vp, s->bu, X * F);
        ly->bd = put_vec(vp, s->bd, X * E);
    }
    D->output_norm = put_vec(vp, d->output_norm, E);
}

/* Plans of every weight for chunks of nb tokens into pl (experts: batch-1 plans of a slice). */
static int plan_weights(struct owb_devfwd *D, struct owb_be_mm *pl, int64_t nb,
                        char err[OWB_ERR_MAX])
{
    char merr[OWB_ERR_MAX];
    for (int64_t l = 0; l < D->hp.n_layer; l++)
        for (int i = 0; i < OWB_DF_NW; i++) {
            const struct owb_wt *w = &D->layers[l].w[i];
            struct owb_be_mm *p = &pl[l * OWB_DF_NW + i];
            memset(p, 0, sizeof *p);
            if (!w->data)
                continue;
            const bool expert = D->moe && (i == OWB_DF_GATE || i == OWB_DF_UP || i == OWB_DF_DOWN);
            int rc = D->be->mm_plan(D->be, p, w->type, w->m, w->k, expert ? 1 : nb, merr);
            if (rc) {
                owb_seterr(err, "layer %" PRId64 ": %.400s", l, merr);
                return rc;
            }
        }
    int rc = D->be->mm_plan(D->be, &pl[D->hp.n_layer * OWB_DF_NW], D->output.type, D->output.m,
                            D->output.k, nb, merr);
    if (rc)
        owb_seterr(err, "output: %.400s", merr);
    return rc;
}

/* Grouped plans of every layer's gate, up and down for chunks of up to n_pairs (token, choice)
 * pairs; false (and no error) when the backend has no grouped kernel for one of them. */
static int plan_grouped(struct owb_devfwd *D, int64_t n_pairs, bool *ok, char err[OWB_ERR_MAX])
{
    const struct owb_backend *be = D->be;
    char merr[OWB_ERR_MAX];
    *ok = false;
    if (!be->moe_route || !be->mm_grp_plan || !be->mm_grp_prepare || !be->mm_grp_rows)
        return 0;
    for (int64_t l = 0; l < D->hp.n_layer; l++)
        for (int i = 0; i < 3; i++) {
            const struct owb_wt *w = &D->layers[l].w[OWB_DF_GATE + i];
            int rc = be->mm_grp_plan(be, &D->gplans[l * 3 + i], w->type, w->m, w->k, n_pairs,
                                     D->n_expert, merr);
            if (rc == OWB_E_UNSUPPORTED)
                return 0;
            if (rc) {
                owb_seterr(err, "layer %" PRId64 ": grouped experts: %.400s", l, merr);
                return rc;
            }
        }
    *ok = true;
    return 0;
}

/* Activation scratch the plans pl need (one prepared input at a time). */
static size_t plans_act(const struct owb_devfwd *D, const struct owb_be_mm *pl)
{
    size_t a = 0;
    for (int64_t i = 0; i <= D->hp.n_layer * OWB_DF_NW; i++)
        a = pl[i].act_bytes > a ? pl[i].act_bytes : a;
    return a;
}

/* The act buffer holds at least `bytes`. Grown outside any recording; a recorded graph holds
 * the old address, so it is dropped (recorded again at the next decode step). */
static int act_reserve(struct owb_devfwd *D, size_t bytes, char err[OWB_ERR_MAX])
{
    if (bytes <= D->act_cap && D->act.be)
        return 0;
    if (D->graph) {
        D->be->graph_free(D->graph);
        D->graph = NULL;
    }
    owb_buf_free(&D->act);
    int rc = D->be->buf_alloc(D->be, &D->act, bytes ? bytes : 64, err);
    D->act_cap = rc ? 0 : bytes;
    return rc;
}

static int plan_chunk(struct owb_devfwd *D, int64_t nb, char err[OWB_ERR_MAX])
{
    if (D->plan_nb == nb)
        return 0;
    int rc = plan_weights(D, D->plans, nb, err);
    if (!rc)
        rc = act_reserve(D, plans_act(D, D->plans), err);
    D->plan_nb = rc ? 0 : nb;
    return rc;
}

int owb_devfwd_init(struct owb_devfwd **out, struct owb_model *m, const struct owb_backend *be,
                    const struct owb_df_desc *d, bool graphs, char err[OWB_ERR_MAX])
{
    char berr[OWB_ERR_MAX] = "";
    int rc = OWB_E_NOMEM;
    *out = NULL;
    struct owb_devfwd *D = calloc(1, sizeof *D);
    if (!D) {
        owb_seterr(err, "%.300s: out of memory", d->path);
        return OWB_E_NOMEM;
    }
    const struct owb_hparams *hp = d->hp;
    D->be = be;
    D->hp = *hp;
    D->n_ctx = m->n_ctx;
    D->n_batch = m->n_batch;
    D->q_dim = d->q_dim;
    D->kv_dim = d->kv_dim;
    D->n_ff = d->n_ff;
    D->moe = hp->n_expert > 0;
    D->n_expert = D->moe ? hp->n_expert : 0;
    D->n_used = D->moe ? d->n_used : 0;
    D->w_scale = d->w_scale;
    D->alpha = d->alpha;
    D->limit = d->limit;
    D->n_rope = d->n_rope;
    D->rope_cache = d->rope_cache;
    D->impl = d->impl;
    D->tok_embd = *d->tok_embd;
    D->output = *d->output;
    D->graphs = graphs && be->graph_begin && be->graph_end && be->graph_launch;
    m->exec.driver = true;
    m->exec.graphs = D->graphs;
    m->exec.device_bytes = 0;
    if (graphs && !D->graphs)
        owb_seterr(m->exec.note, "backend %s records no graphs", be->name);

    const int64_t L = hp->n_layer, E = hp->n_embd, nb = m->n_batch, K = D->moe ? D->n_used : 1;
    const int64_t F = D->n_ff, X = D->n_expert;
    D->layers = calloc((size_t)L, sizeof *D->layers);
    D->wbuf = calloc((size_t)(L * OWB_DF_NW + 2), sizeof *D->wbuf);
    D->plans = calloc((size_t)(L * OWB_DF_NW + 1), sizeof *D->plans);
    D->plans1 = calloc((size_t)(L * OWB_DF_NW + 1), sizeof *D->plans1);
    D->gplans = calloc((size_t)(L * 3), sizeof *D->gplans);
    D->dec_off = args_bytes(D, nb);
    const size_t step_bytes = D->dec_off + args_bytes(D, 1);
    D->step_host = calloc(1, step_bytes);
    if (!D->layers || !D->wbuf || !D->plans || !D->plans1 || !D->gplans || !D->step_host)
        goto fail;
    for (int64_t l = 0; l < L; l++) {
        memcpy(D->layers[l].w, d->layers[l].w, sizeof D->layers[l].w);
        D->layers[l].window = d->layers[l].window;
        D->layers[l].rope = d->layers[l].rope;
    }

    /* Plans first: a type or width the backend cannot multiply is refused before any upload. */
    if ((rc = plan_weights(D, D->plans1, 1, berr)))
        goto fail_be;

    /* Weights, once. */
    for (int64_t l = 0; l < L && !rc; l++)
        for (int i = 0; i < OWB_DF_NW && !rc; i++)
            rc = map_weight(D, &D->layers[l].w[i], &D->layers[l].wd[i], m, berr);
    if (!rc)
        rc = map_weight(D, &D->tok_embd, &D->tok_embd_d, m, berr);
    if (!rc) {
        if (D->output.data == D->tok_embd.data && wt_bytes(&D->output) == wt_bytes(&D->tok_embd))
            D->output_d = D->tok_embd_d; /* tied */
        else
            rc = map_weight(D, &D->output, &D->output_d, m, berr);
    }
    if (rc)
        goto fail_be;
    /* the embedding's type: asked with an empty range (nothing runs) */
    if ((rc = be->get_rows(D->tok_embd.type, D->tok_embd_d, E, NULL, NULL, E, 0, 0))) {
        owb_seterr(berr, "token_embd.weight: no embedding rows of type %s",
                   owb_type_name(D->tok_embd.type));
        goto fail_be;
    }

    /* 1-D tensors: count, allocate, upload. */
    struct vec_put vp = {D, 0, berr, 0};
    put_vecs(D, d, &vp);
    if ((rc = alloc(D, &D->vecs, (int64_t)vp.off, 1, sizeof(float), m, berr)))
        goto fail_be;
    vp.off = 0;
    put_vecs(D, d, &vp);
    if ((rc = vp.rc))
        goto fail_be;

    /* Activations, KV cache, arguments. */
    const int64_t NR = nb * K; /* (token, choice) rows of the experts */
    const int64_t FW = D->moe ? NR : nb;
    /* KV caches: full layers hold n_ctx positions, sliding ones a ring of window + n_batch */
    int64_t kv_total = 0;
    for (int64_t l = 0; l < L; l++) {
        struct dlayer *ly = &D->layers[l];
        ly->cap = owb_attn_cache_slots(ly->window, D->n_ctx, nb);
        ly->kv_off = kv_total;
        kv_total += ly->cap * D->kv_dim;
    }
    m->kv_cache_bytes = 2 * (uint64_t)kv_total * sizeof(float);
    if ((rc = alloc(D, &D->x, nb, E, sizeof(float), m, berr)) ||
        (rc = alloc(D, &D->xn, nb, E, sizeof(float), m, berr)) ||
        (rc = alloc(D, &D->q, nb, D->q_dim, sizeof(float), m, berr)) ||
        (rc = alloc(D, &D->kb, nb, D->kv_dim, sizeof(float), m, berr)) ||
        (rc = alloc(D, &D->vb, nb, D->kv_dim, sizeof(float), m, berr)) ||
        (rc = alloc(D, &D->att, nb, D->q_dim, sizeof(float), m, berr)) ||
        (rc = alloc(D, &D->proj, nb, E, sizeof(float), m, berr)) ||
        (rc = alloc(D, &D->hg, FW, F, sizeof(float), m, berr)) ||
        (rc = alloc(D, &D->hu, FW, F, sizeof(float), m, berr)) ||
        (rc = alloc(D, &D->logits, nb, hp->n_vocab, sizeof(float), m, berr)) ||
        (rc = alloc(D, &D->kc, kv_total, 1, sizeof(float), m, berr)) ||
        (rc = alloc(D, &D->vc, kv_total, 1, sizeof(float), m, berr)) ||
        (rc = alloc(D, &D->step, (int64_t)step_bytes, 1, 1, m, berr)))
        goto fail_be;
    if (D->moe && ((rc = alloc(D, &D->de, NR, E, sizeof(float), m, berr)) ||
                   (rc = alloc(D, &D->rlog, nb, X, sizeof(float), m, berr)) ||
                   (rc = alloc(D, &D->sel, NR, 1, sizeof(int32_t), m, berr)) ||
                   (rc = alloc(D, &D->selw, NR, 1, sizeof(float), m, berr))))
        goto fail_be;
    /* Prepared activations: the one-token plans, every chunk plan as it comes (plan_chunk), and
     * for the experts one prepared row per (token, choice). */
    size_t a1 = plans_act(D, D->plans1);
    if (D->moe)
        for (int64_t l = 0; l < L; l++)
            for (int i = OWB_DF_GATE; i <= OWB_DF_DOWN; i++) {
                const size_t ab = D->plans1[l * OWB_DF_NW + i].act_bytes;
                D->act1_expert = ab > D->act1_expert ? ab : D->act1_expert;
            }
    size_t ax = (size_t)NR * D->act1_expert;
    if (D->moe && nb > 1) {
        if ((rc = plan_grouped(D, NR, &D->grouped, berr)))
            goto fail_be;
        m->exec.grouped_experts = D->grouped;
        if (D->grouped) {
            if ((rc = alloc(D, &D->route, (int64_t)owb_be_route_bytes(nb, K, X), 1, 1, m, berr)))
                goto fail_be;
            for (int64_t i = 0; i < L * 3; i++)
                ax = D->gplans[i].act_bytes > ax ? D->gplans[i].act_bytes : ax;
        }
    }
    if ((rc = act_reserve(D, a1 > ax ? a1 : ax, berr)))
        goto fail_be;
    if ((rc = plan_chunk(D, nb, berr)))
        goto fail_be;
    m->exec.device_bytes += D->act.bytes;
    *out = D;
    return 0;
fail_be:
    owb_seterr(err, "%.300s: backend %s: %.300s", d->path, be->name, berr);
    owb_devfwd_free(D);
    return rc ? rc : OWB_E_SYSTEM;
fail:
    owb_seterr(err, "%.300s: out of memory", d->path);
    owb_devfwd_free(D);
    return OWB_E_NOMEM;
}

/* ---- the op sequence ---- */

/* A profiling mark closing an op of class cls (no-op when not profiling). */
static void pm(const struct owb_devfwd *D, int cls)
{
    struct dprof *P = D->prof;
    if (!P || !P->on)
        return;
    OWB_ASSERT(P->n < P->cap);
    D->be->timer_mark(&P->t[P->n]);
    P->cls[P->n++] = cls;
}

static float *F32(const struct owb_buf *b)
{
    return (float *)b->data;
}

/* Y (rows of ldy) = W X for the plan's batch: prepare the input when the plan asks, then every
 * output row. */
static void mm(const struct owb_devfwd *D, const struct owb_be_mm *p, const void *W, const float *X,
               int64_t ldx, float *Y, int64_t ldy)
{
    const struct owb_backend *be = D->be;
    void *act = p->act_bytes ? D->act.data : NULL;
    if (act)
        be->mm_prepare(p, X, ldx, act, 0, p->batch);
    be->mm_rows(p, W, act, X, ldx, Y, ldy, 0, p->m);
    pm(D, p->wtype);
}

/* Expert-indexed Y rows (t * K + j) = W[ids[t K + j]] X rows for tokens [0, nb): p a batch-1
 * plan of one expert slice, x_per_tok 1 (every choice reads the token's row) or K. */
static void mm_id(const struct owb_devfwd *D, const struct owb_be_mm *p, const struct owb_wt *w,
                  const void *W, const float *X, int64_t ldx, int64_t x_per_tok, float *Y,
                  int64_t ldy, int64_t nb)
{
    const struct owb_backend *be = D->be;
    const int64_t nx = nb * x_per_tok;
    if (p->act_bytes)
        for (int64_t i = 0; i < nx; i++)
            be->mm_prepare(p, X + i * ldx, ldx, (char *)D->act.data + (size_t)i * p->act_bytes, 0,
                           1);
    const struct owb_be_mm_id id = {(const int32_t *)D->sel.data, D->n_used, D->n_expert,
                                    w->exp_stride, x_per_tok};
    be->mm_id_rows(p, &id, W, p->act_bytes ? D->act.data : NULL, X, ldx, Y, ldy, 0, nb);
    pm(D, p->wtype);
}

/* The grouped form of mm_id for a chunk routed into D->route: gather, one matmul per used expert,
 * results in the same rows. X NULL: the rows prepared by the call before (same plan shape). */
static void mm_grp(const struct owb_devfwd *D, const struct owb_be_mm *p, const void *W,
                   const struct owb_wt *w, const float *X, int64_t ldx, int64_t x_per_tok, float *Y,
                   int64_t ldy, int64_t nb)
{
    const struct owb_be_mm_grp g = {(const int32_t *)D->route.data, nb, D->n_used, w->exp_stride,
                                    x_per_tok};
    if (X)
        D->be->mm_grp_prepare(p, &g, X, ldx, D->act.data, 0, D->n_expert);
    D->be->mm_grp_rows(p, &g, W, D->act.data, Y, ldy, 0, p->m);
    pm(D, p->wtype);
}

/* The ops of one chunk of nb tokens whose arguments are in the region of D->step at `off` (room
 * for S tokens): nothing here waits for the
 * backend or copies between host and backend, so a decode step can be recorded as a graph.
 * pl: the chunk's plans. Logits land in D->logits: every row (LG_ALL), row 0 of the last token
 * (LG_LAST) or none (a chunk before the last whose logits nobody asked for). */
enum { LG_NONE, LG_LAST, LG_ALL };
static int chunk_ops(struct owb_devfwd *D, int64_t nb, const struct owb_be_mm *pl, int lg,
                     size_t off, int64_t S)
{
    const struct owb_backend *be = D->be;
    const struct owb_hparams *hp = &D->hp;
    const int64_t E = hp->n_embd, QD = D->q_dim, KD = D->kv_dim, F = D->n_ff, X = D->n_expert;
    const int64_t K = D->n_used, hd = hp->head_dim, V = hp->n_vocab;
    const char *args = (const char *)D->step.data + off;
    const int32_t *tok = (const int32_t *)(args + STEP_TOK);
    const struct owb_rope_cache *rc0 = (const struct owb_rope_cache *)(args + args_rc(S));
    float *x = F32(&D->x), *xn = F32(&D->xn), *q = F32(&D->q), *kb = F32(&D->kb);
    float *vb = F32(&D->vb), *att = F32(&D->att), *proj = F32(&D->proj), *hg = F32(&D->hg);
    float *hu = F32(&D->hu);
    pm(D, PC_OTHER); /* the chunk's first mark: no interval before it */
    int rc = be->get_rows(D->tok_embd.type, D->tok_embd_d, E, tok, x, E, 0, nb);
    if (rc)
        return rc;
    pm(D, PC_OTHER);
    struct owb_be_attn a = {
        .n_head = hp->n_head,
        .n_head_kv = hp->n_head_kv,
        .head_dim = hd,
        .n_ctx = D->n_ctx,
        .pos = 0,
        .dpos = (const int64_t *)(args + STEP_POS),
        .scale = 1.0f / sqrtf((float)hd),
    };
    for (int64_t l = 0; l < hp->n_layer; l++) {
        const struct dlayer *ly = &D->layers[l];
        const struct owb_be_mm *p = &pl[l * OWB_DF_NW];
        float *kc = F32(&D->kc) + ly->kv_off, *vc = F32(&D->vc) + ly->kv_off;
        const struct owb_rope_cache *rot = rc0 + (int64_t)ly->rope * S;

        /* attention */
        be->rmsnorm(xn, x, ly->attn_norm, E, E, hp->rms_eps, 0, nb);
        pm(D, PC_NORM);
        mm(D, &p[OWB_DF_Q], ly->wd[OWB_DF_Q], xn, E, q, QD);
        mm(D, &p[OWB_DF_K], ly->wd[OWB_DF_K], xn, E, kb, KD);
        mm(D, &p[OWB_DF_V], ly->wd[OWB_DF_V], xn, E, vb, KD);
        if (ly->bq)
            be->add_bias(q, q, ly->bq, 0, NULL, QD, QD, 0, nb);
        if (ly->bk)
            be->add_bias(kb, kb, ly->bk, 0, NULL, KD, KD, 0, nb);
        if (ly->bv)
            be->add_bias(vb, vb, ly->bv, 0, NULL, KD, KD, 0, nb);
        be->rope(q, QD, hp->n_head, hd, rot, hp->rope_neox, 0, nb);
        be->rope(kb, KD, hp->n_head_kv, hd, rot, hp->rope_neox, 0, nb);
        a.window = ly->window;
        a.cap = ly->cap;
        a.sinks = ly->sinks;
        be->kv_store(kc, vc, kb, vb, KD, &a, nb);
        be->attn(att, q, kc, vc, &a, 0, nb);
        pm(D, PC_ATTN);
        mm(D, &p[OWB_DF_O], ly->wd[OWB_DF_O], att, QD, proj, E);
        if (ly->bo)
            be->add_bias(proj, proj, ly->bo, 0, NULL, E, E, 0, nb);
        pm(D, PC_ATTN);
        be->add(x, x, proj, E, E, 0, nb);
        pm(D, PC_OTHER);

        /* feed-forward */
        be->rmsnorm(xn, x, ly->ffn_norm, E, E, hp->rms_eps, 0, nb);
        pm(D, PC_NORM);
        if (!D->moe) {
            mm(D, &p[OWB_DF_GATE], ly->wd[OWB_DF_GATE], xn, E, hg, F);
            mm(D, &p[OWB_DF_UP], ly->wd[OWB_DF_UP], xn, E, hu, F);
            be->silu_mul(hg, hg, hu, F, F, 0, nb);
            pm(D, PC_OTHER);
            mm(D, &p[OWB_DF_DOWN], ly->wd[OWB_DF_DOWN], hg, F, proj, E);
            be->add(x, x, proj, E, E, 0, nb);
            pm(D, PC_OTHER);
            continue;
        }
        float *rlog = F32(&D->rlog), *de = F32(&D->de), *selw = F32(&D->selw);
        int32_t *sel = (int32_t *)D->sel.data;
        mm(D, &p[OWB_DF_ROUTER], ly->wd[OWB_DF_ROUTER], xn, E, rlog, X);
        if (ly->br)
            be->add_bias(rlog, rlog, ly->br, 0, NULL, X, X, 0, nb);
        be->topk(rlog, X, X, K, D->w_scale, sel, selw, 0, nb);
        const bool grp = D->grouped && nb > 1;
        const struct owb_be_mm *gp = &D->gplans[l * 3];
        if (grp)
            be->moe_route(sel, nb, K, X, (int32_t *)D->route.data);
        pm(D, PC_OTHER);
        if (grp) {
            mm_grp(D, &gp[0], ly->wd[OWB_DF_GATE], &ly->w[OWB_DF_GATE], xn, E, 1, hg, F, nb);
            const bool same = gp[1].wtype == gp[0].wtype && gp[1].m == gp[0].m &&
                              gp[1].k == gp[0].k; /* up reads gate's prepared rows */
            mm_grp(D, &gp[1], ly->wd[OWB_DF_UP], &ly->w[OWB_DF_UP], same ? NULL : xn, E, 1, hu, F,
                   nb);
        } else {
            mm_id(D, &p[OWB_DF_GATE], &ly->w[OWB_DF_GATE], ly->wd[OWB_DF_GATE], xn, E, 1, hg, F,
                  nb);
            mm_id(D, &p[OWB_DF_UP], &ly->w[OWB_DF_UP], ly->wd[OWB_DF_UP], xn, E, 1, hu, F, nb);
        }
        if (ly->bg)
            be->add_bias(hg, hg, ly->bg, F, sel, F, F, 0, nb * K);
        if (ly->bu)
            be->add_bias(hu, hu, ly->bu, F, sel, F, F, 0, nb * K);
        be->swiglu_oai(hg, hg, hu, F, F, D->alpha, D->limit, 0, nb * K);
        pm(D, PC_OTHER);
        if (grp)
            mm_grp(D, &gp[2], ly->wd[OWB_DF_DOWN], &ly->w[OWB_DF_DOWN], hg, F, K, de, E, nb);
        else
            mm_id(D, &p[OWB_DF_DOWN], &ly->w[OWB_DF_DOWN], ly->wd[OWB_DF_DOWN], hg, F, K, de, E,
                  nb);
        if (ly->bd)
            be->add_bias(de, de, ly->bd, E, sel, E, E, 0, nb * K);
        be->moe_sum(x, de, selw, K, E, E, 0, nb);
        pm(D, PC_OTHER);
    }

    /* logits: every row, or the last one into row 0 */
    const struct owb_be_mm *po = &pl[hp->n_layer * OWB_DF_NW];
    if (lg == LG_ALL) {
        be->rmsnorm(xn, x, D->output_norm, E, E, hp->rms_eps, 0, nb);
        pm(D, PC_NORM);
        mm(D, po, D->output_d, xn, E, F32(&D->logits), V);
    } else if (lg == LG_LAST) {
        be->rmsnorm(xn, x, D->output_norm, E, E, hp->rms_eps, nb - 1, nb);
        pm(D, PC_NORM);
        mm(D, &D->plans1[hp->n_layer * OWB_DF_NW], D->output_d, xn + (nb - 1) * E, E,
           F32(&D->logits), V);
    }
    return 0;
}

/* Upload the arguments of a chunk into the region at `off` (room for S tokens): position, token
 * ids, each rope table's rotations; one upload when the region is for one token. */
static int put_step(struct owb_devfwd *D, const int32_t *tokens, int64_t nb, int64_t pos,
                    size_t off, int64_t S, char err[OWB_ERR_MAX])
{
    char *h = (char *)D->step_host + off;
    const size_t rcs = sizeof(struct owb_rope_cache), rco = args_rc(S);
    memcpy(h + STEP_POS, &pos, sizeof pos);
    memcpy(h + STEP_TOK, tokens, (size_t)nb * sizeof *tokens);
    for (int j = 0; j < D->n_rope; j++) {
        struct owb_rope_cache *c = (struct owb_rope_cache *)(h + rco) + j * S;
        for (int64_t b = 0; b < nb; b++)
            D->rope_cache(D->impl, j, pos + b, &c[b]);
    }
    if (S == 1)
        return D->be->upload(&D->step, off, h, args_bytes(D, 1), err);
    int rc = D->be->upload(&D->step, off, h, STEP_TOK + (size_t)nb * sizeof *tokens, err);
    for (int j = 0; j < D->n_rope && !rc; j++)
        rc = D->be->upload(&D->step, off + rco + (size_t)j * (size_t)S * rcs,
                           h + rco + (size_t)j * (size_t)S * rcs, (size_t)nb * rcs, err);
    return rc;
}

/* One decode step from the recorded graph (recorded on first use); op by op when the backend
 * has no graphs or recording failed (the reason goes to m->exec.note). */
static int decode_step(struct owb_devfwd *D, struct owb_model *m, char err[OWB_ERR_MAX])
{
    const struct owb_backend *be = D->be;
    char gerr[OWB_ERR_MAX] = "";
    const bool prof = D->prof && D->prof->on; /* marks between ops: no graph */
    if (D->graphs && !D->graph && !D->graph_failed && !prof) {
        int rc = be->graph_begin(be, gerr);
        if (!rc) {
            int orc = chunk_ops(D, 1, D->plans1, LG_LAST, D->dec_off, 1);
            rc = be->graph_end(be, &D->graph, gerr);
            if (orc && !rc) { /* an op refused its arguments: nothing to replay */
                be->graph_free(D->graph);
                D->graph = NULL;
                rc = orc;
                owb_seterr(gerr, "an op of the decode step failed while recording (%d)", orc);
            }
        }
        if (rc) {
            D->graph_failed = true;
            D->graph = NULL;
            owb_seterr(m->exec.note, "decode graph not recorded: %.400s", gerr);
        }
    }
    if (D->graph && !prof) {
        int rc = be->graph_launch(be, D->graph, err);
        if (!rc)
            m->exec.graph_launches++;
        return rc;
    }
    m->exec.plain_steps++;
    int rc = chunk_ops(D, 1, D->plans1, LG_LAST, D->dec_off, 1);
    if (rc)
        owb_seterr(err, "backend %s: an op refused the decode step (status %d)", be->name, rc);
    return rc;
}

/* The timers of profiled calls, at the first one: room for every mark of a chunk (a layer marks
 * at most 16 ops, the chunk 4 more). */
static int prof_init(struct owb_devfwd *D, char err[OWB_ERR_MAX])
{
    struct dprof *P = calloc(1, sizeof *P);
    if (!P) {
        owb_seterr(err, "profile: out of memory");
        return OWB_E_NOMEM;
    }
    D->prof = P;
    P->cap = (int)(D->hp.n_layer * 16 + 4);
    P->t = calloc((size_t)P->cap, sizeof *P->t);
    P->cls = calloc((size_t)P->cap, sizeof *P->cls);
    if (!P->t || !P->cls) {
        prof_free(D);
        owb_seterr(err, "profile: out of memory");
        return OWB_E_NOMEM;
    }
    for (int i = 0; i < P->cap; i++) {
        char terr[OWB_ERR_MAX];
        int rc = D->be->timer_init(D->be, &P->t[i], terr);
        if (rc) {
            P->t[i].be = NULL;
            prof_free(D);
            owb_seterr(err, "profile: backend %s timer: %.400s", D->be->name, terr);
            return rc;
        }
    }
    return 0;
}

/* The intervals between the marks of a finished chunk into the profile's classes. */
static void prof_account(struct owb_devfwd *D, struct owb_model_profile *mp)
{
    struct dprof *P = D->prof;
    for (int i = 1; i < P->n; i++) {
        const double ns = D->be->timer_elapsed_ns(&P->t[i - 1], &P->t[i]);
        if (!(ns > 0))
            continue;
        const uint64_t v = (uint64_t)ns;
        const int c = P->cls[i];
        if (c < OWB_TYPE_COUNT)
            mp->matmul_ns[c] += v;
        else if (c == PC_ATTN)
            mp->attention_ns += v;
        else if (c == PC_NORM)
            mp->norm_ns += v;
        else
            mp->other_ns += v;
    }
    P->n = 0;
}

int owb_devfwd_forward(struct owb_devfwd *D, struct owb_model *m, const int32_t *tokens, int64_t n,
                       int64_t pos, float *logits, bool logits_all, char err[OWB_ERR_MAX])
{
    const struct owb_backend *be = D->be;
    const int64_t V = D->hp.n_vocab;
    if (m->profile && !D->prof) {
        int rc = prof_init(D, err);
        if (rc)
            return rc;
    }
    if (D->prof) {
        D->prof->on = m->profile != NULL;
        D->prof->n = 0;
    }
    for (int64_t i = 0; i < n; i += D->n_batch) {
        const int64_t nb = n - i < D->n_batch ? n - i : D->n_batch;
        const bool last = i + nb == n;
        int rc = nb == 1 ? put_step(D, tokens + i, 1, pos + i, D->dec_off, 1, err)
                         : put_step(D, tokens + i, nb, pos + i, 0, D->n_batch, err);
        if (rc)
            return rc;
        if (nb == 1) {
            rc = decode_step(D, m, err);
        } else {
            if ((rc = plan_chunk(D, nb, err)))
                return rc;
            m->exec.plain_steps++;
            rc = chunk_ops(D, nb, D->plans,
                           logits_all ? LG_ALL
                           : last     ? LG_LAST
                                      : LG_NONE,
                           0, D->n_batch);
            if (rc)
                owb_seterr(err, "backend %s: an op refused the chunk (status %d)", be->name, rc);
        }
        if (rc)
            return rc;
        if (logits_all)
            rc = be->download(&D->logits, 0, logits + i * V, (size_t)(nb * V) * sizeof(float), err);
        else if (last)
            rc = be->download(&D->logits, 0, logits, (size_t)V * sizeof(float), err);
        if (!rc)
            rc = be->synchronize(be, err);
        if (rc)
            return rc;
        if (D->prof && D->prof->on)
            prof_account(D, m->profile);
    }
    return 0;
}
