/* SPDX-License-Identifier: MIT */
/*
 * engine.c: the state and set-up the host-threads engines share (model/engine.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "model/engine.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/attn.h"
#include "kernels/ops.h"

int owb_engine_new(struct owb_model *m, size_t size, const struct owb_model_opts *o, int per_layer,
                   owb_engine_wt_fn wt, const char *path, char err[OWB_ERR_MAX])
{
    const size_t bytes = (size + 63) / 64 * 64;
    struct owb_engine *e = aligned_alloc(64, bytes); /* 64-aligned members (barrier) */
    m->impl = NULL;
    if (!e) {
        owb_seterr(err, "%.300s: out of memory", path);
        return OWB_E_NOMEM;
    }
    memset(e, 0, bytes);
    if (owb_barrier_init(&e->bar) != 0) {
        owb_seterr(err, "%.300s: cannot create the forward pass's synchronisation objects", path);
        free(e);
        return OWB_E_SYSTEM;
    }
    e->bar_init = true;
    e->runner = o->runner;
    e->nthreads = o->runner && o->runner->nthreads > 0 ? o->runner->nthreads : 1;
    e->isa = owb_isa_active();
    e->be = o->backend ? o->backend : &owb_backend_cpu;
    e->per_layer = per_layer;
    e->wt = wt;
    m->impl = e;
    return 0;
}

void owb_engine_free(struct owb_model *m)
{
    struct owb_engine *e = m->impl;
    if (!e)
        return;
    owb_devfwd_free(e->dev);
    void *bufs[] = {e->vecs,    e->x,       e->proj,         e->q,    e->kb, e->vb, e->att_out,
                    e->k_cache, e->v_cache, (void *)e->work, e->plans};
    for (size_t i = 0; i < OWB_ARRAY_LEN(bufs); i++)
        free(bufs[i]);
    owb_region_bufs_release(&e->rb);
    if (e->bar_init)
        owb_barrier_release(&e->bar);
    free(e);
    m->impl = NULL;
}

int owb_engine_bind(struct owb_engine *e, struct owb_loader *ld, struct owb_hparams *hp,
                    char err[OWB_ERR_MAX])
{
    /* embedding: ne = [n_embd, n_vocab] */
    int rc = owb_ld_embd_output(ld, hp, &e->tok_embd, &e->output, err);
    if (rc)
        return rc;
    if (owb_ld_mul(ld, "head_count x key_length", hp->n_head, hp->head_dim, &e->q_dim, err) ||
        owb_ld_mul(ld, "head_count_kv x key_length", hp->n_head_kv, hp->head_dim, &e->kv_dim, err))
        return OWB_E_FORMAT;
    return 0;
}

void owb_engine_alloc(struct owb_engine *e, struct owb_model *m, int64_t kv_slots, int64_t nwork,
                      bool *oom)
{
    const struct owb_hparams *hp = &m->hp;
    const int64_t nb = m->n_batch;
    e->qb = owb_attn_block_tokens(hp->n_head / hp->n_head_kv, m->n_ctx, nb);
    e->nblk_max = (nb + e->qb - 1) / e->qb;
    e->x = owb_ld_alloc_f32(nb, hp->n_embd, 1, true, oom);
    e->proj = owb_ld_alloc_f32(nb, hp->n_embd, 1, true, oom);
    e->q = owb_ld_alloc_f32(nb, e->q_dim, 1, true, oom);
    e->kb = owb_ld_alloc_f32(nb, e->kv_dim, 1, true, oom);
    e->vb = owb_ld_alloc_f32(nb, e->kv_dim, 1, true, oom);
    e->att_out = owb_ld_alloc_f32(nb, e->q_dim, 1, true, oom);
    e->kv_slots = kv_slots;
    m->kv_cache_bytes = 2 * (uint64_t)kv_slots * (uint64_t)e->kv_dim * sizeof(float);
    e->k_cache = owb_ld_alloc_f32(kv_slots, e->kv_dim, 1, false, oom);
    e->v_cache = owb_ld_alloc_f32(kv_slots, e->kv_dim, 1, false, oom);
    e->nwork = nwork;
    e->work = calloc((size_t)nwork, sizeof *e->work);
    e->plans = calloc((size_t)(hp->n_layer * e->per_layer + 1), sizeof *e->plans);
    if (!e->work || !e->plans)
        *oom = true;
}

int owb_engine_nomem(const struct owb_engine *e, const struct owb_model *m, const char *path,
                     char err[OWB_ERR_MAX])
{
    owb_seterr(err,
               "%.300s: out of memory for a context of %" PRId64 " and batch of %" PRId64
               " (KV cache %.1f MiB)",
               path, m->n_ctx, m->n_batch,
               2.0 * (double)e->kv_slots * (double)e->kv_dim * 4.0 / 1048576.0);
    return OWB_E_NOMEM;
}

static int plan_weights(struct owb_engine *e, int64_t n_layer, int64_t nb, char err[OWB_ERR_MAX])
{
    return owb_region_plan_weights(e->be, e->plans, &e->plan_nb, n_layer, e->per_layer, e->wt, e,
                                   &e->output, nb, err);
}

int owb_engine_plan(struct owb_engine *e, const struct owb_model *m, const char *path,
                    char err[OWB_ERR_MAX])
{
    const int64_t n_layer = m->hp.n_layer;
    char merr[OWB_ERR_MAX];
    int rc = plan_weights(e, n_layer, m->n_batch, err);
    if (rc)
        return rc;
    if ((rc = e->be->mm_plan(e->be, &e->out1, e->output.type, e->output.m, e->output.k, 1, merr))) {
        owb_seterr(err, "%.300s: output projection: %.150s", path, merr);
        return rc;
    }
    /* Activation scratch: the largest any plan needs at the full batch, and one row of it. */
    if (owb_region_bufs_init(&e->rb, e->nthreads, m->n_batch, m->hp.n_embd, e->plans,
                             n_layer * e->per_layer + 1, &e->out1, 1)) {
        owb_seterr(err, "%.300s: out of memory", path);
        return OWB_E_NOMEM;
    }
    return 0;
}

int owb_engine_driver(struct owb_engine *e, struct owb_model *m, struct owb_df_desc *d,
                      void (*layer)(const void *impl, int64_t l, struct owb_df_layer *dl),
                      const struct owb_model_opts *o, const char *path, char err[OWB_ERR_MAX])
{
    struct owb_df_layer *dl = calloc((size_t)m->hp.n_layer, sizeof *dl);
    if (!dl) {
        owb_seterr(err, "%.300s: out of memory", path);
        return OWB_E_NOMEM;
    }
    for (int64_t l = 0; l < m->hp.n_layer; l++)
        layer(e, l, &dl[l]);
    d->path = path;
    d->hp = &m->hp;
    d->q_dim = e->q_dim;
    d->kv_dim = e->kv_dim;
    d->tok_embd = &e->tok_embd;
    d->output = &e->output;
    d->output_norm = e->output_norm;
    d->layers = dl;
    int rc = owb_devfwd_init(&e->dev, m, e->be, d, !o->no_graphs, err);
    free(dl);
    d->layers = NULL;
    return rc;
}

int owb_engine_chunk(struct owb_engine *e, struct owb_model *m, const int32_t *tokens, int64_t nb,
                     int64_t pos, float *logits, bool logits_all, bool last,
                     struct owb_engine_fwd *f, char err[OWB_ERR_MAX])
{
    const int64_t D = m->hp.n_embd;
    int rc = plan_weights(e, m->hp.n_layer, nb, err);
    if (rc)
        return rc;
    *f = (struct owb_engine_fwd){
        .m = m,
        .nb = nb,
        .pos = pos,
        .logits = logits,
        .logits_all = logits_all,
        .last = last,
        .rg = {&e->bar, &e->rb, m->hp.rms_eps, m->profile, 0, e->be},
    };
    if (f->rg.prof)
        f->rg.t_last = owb_region_now_ns();
    for (int64_t b = 0; b < nb; b++)
        owb_get_row(e->tok_embd.type, e->tok_embd.data, tokens[b], D, e->x + b * D);
    return 0;
}

void owb_engine_run(struct owb_engine *e, struct owb_engine_fwd *f, owb_par_fn fn)
{
    owb_region_run(&f->rg, e->runner, e->nthreads, e->work, e->nwork, fn, f);
}

int owb_engine_forward(struct owb_model *m, const int32_t *tokens, int64_t n, int64_t pos,
                       float *logits, bool logits_all, owb_region_chunk_fn chunk,
                       char err[OWB_ERR_MAX])
{
    /* arguments checked and the call profiled by owb_model_forward (model/arch.c) */
    struct owb_engine *e = m->impl;
    if (e->dev)
        return owb_devfwd_forward(e->dev, m, tokens, n, pos, logits, logits_all, err);
    return owb_region_forward(m, tokens, n, pos, logits, logits_all, chunk, err);
}

void owb_engine_tally_wt(struct owb_engine_tally *t, const struct owb_wt *w)
{
    t->read_bytes += (uint64_t)w->m * owb_row_size(w->type, w->k);
    t->by_type[w->type] += (uint64_t)w->m * (uint64_t)w->k;
    t->mac += (double)w->m * (double)w->k;
}

void owb_engine_cost(const struct owb_engine *e, const struct owb_hparams *hp,
                     const struct owb_engine_tally *t, struct owb_model_cost *c)
{
    c->decode_read_bytes =
        t->read_bytes + e->output.m * (uint64_t)owb_row_size(e->output.type, e->output.k) +
        owb_row_size(e->tok_embd.type, hp->n_embd) + 4 * (uint64_t)hp->n_embd; /* output_norm */
    c->matmul_flop_per_token = 2 * t->mac;
    c->output_flop_per_row = 2.0 * (double)e->output.m * (double)e->output.k;
    c->attn_flop_per_key = 4.0 * (double)e->q_dim;
    c->kv_bytes_per_token_layer = 2 * (uint64_t)e->kv_dim * sizeof(float);
    c->kv_bytes_per_token = (uint64_t)hp->n_layer * c->kv_bytes_per_token_layer;
    int best = 0;
    for (int ty = 1; ty < OWB_TYPE_COUNT; ty++)
        if (t->by_type[ty] > t->by_type[best])
            best = ty;
    c->main_wtype = (enum owb_type)best;
}
