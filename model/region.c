/* SPDX-License-Identifier: MIT */
/*
 * region.c: the shared steps of a forward region (model/region.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "model/region.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/ops.h"
#include "model/loader.h"

int owb_region_bufs_init(struct owb_region_bufs *b, int nthreads, int64_t n_batch, int64_t width,
                         const struct owb_be_mm *plans, int64_t nplans, const struct owb_be_mm *one,
                         int64_t none)
{
    bool oom = false;
    memset(b, 0, sizeof *b);
    b->nthreads = nthreads;
    size_t ab = 0, a1 = 0;
    for (int64_t i = 0; i < nplans; i++) {
        size_t s = plans[i].act_bytes;
        ab = s > ab ? s : ab;
        a1 = plans[i].cpu.act_row_bytes > a1 ? plans[i].cpu.act_row_bytes : a1;
    }
    for (int64_t i = 0; i < none; i++)
        a1 = one[i].cpu.act_row_bytes > a1 ? one[i].cpu.act_row_bytes : a1;
    b->act_bytes = (ab + 63) & ~(size_t)63;
    b->act1_bytes = (a1 + 63) & ~(size_t)63;
    b->xb = owb_ld_alloc_f32(n_batch, width, 1, true, &oom);
    b->thr = calloc((size_t)nthreads, sizeof *b->thr);
    if (!b->thr)
        return OWB_E_NOMEM;
    for (int i = 0; i < OWB_REGION_GROUP; i++)
        if (b->act_bytes && !(b->act[i] = aligned_alloc(64, b->act_bytes)))
            oom = true;
    for (int t = 0; t < nthreads; t++) {
        b->thr[t].xb = owb_ld_alloc_f32(width, 1, 1, true, &oom);
        for (int i = 0; i < OWB_REGION_GROUP && b->act1_bytes; i++)
            if (!(b->thr[t].act[i] = aligned_alloc(64, b->act1_bytes)))
                oom = true;
    }
    return oom ? OWB_E_NOMEM : 0;
}

void owb_region_bufs_release(struct owb_region_bufs *b)
{
    free(b->xb);
    for (int i = 0; i < OWB_REGION_GROUP; i++)
        free(b->act[i]);
    if (b->thr)
        for (int t = 0; t < b->nthreads; t++) {
            free(b->thr[t].xb);
            for (int i = 0; i < OWB_REGION_GROUP; i++)
                free(b->thr[t].act[i]);
        }
    free(b->thr);
    memset(b, 0, sizeof *b);
}

void owb_region_attn_alloc(struct owb_attn_scratch *s, int64_t rows, int64_t hd, int64_t n_ctx,
                           int64_t cap_swa, bool *oom)
{
    s->qs = owb_ld_alloc_f32(rows, hd, 1, true, oom);
    s->sc = owb_ld_alloc_f32(rows, n_ctx, 1, false, oom);
    s->pv = owb_ld_alloc_f32(hd, rows, 1, true, oom);
    if (cap_swa > 0) {
        s->kw = owb_ld_alloc_f32(cap_swa, hd, 1, true, oom);
        s->vw = owb_ld_alloc_f32(hd, cap_swa, 1, true, oom);
    }
}

void owb_region_attn_free(struct owb_attn_scratch *s)
{
    free(s->qs);
    free(s->sc);
    free(s->pv);
    free(s->kw);
    free(s->vw);
    memset(s, 0, sizeof *s);
}

uint64_t owb_region_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void owb_region_barrier(struct owb_region *r, int tid, int nth)
{
    owb_barrier_wait(r->bar, nth);
    if (r->prof)
        owb_region_mark(r, tid, &r->prof->sync_ns);
}

static bool same_act(const struct owb_be_mm *a, const struct owb_be_mm *b)
{
    return a->cpu.act_row_bytes && owb_matmul_act_compatible(&a->cpu, &b->cpu);
}

void owb_region_input(struct owb_region *r, int tid, int nth, const float *src, int64_t lds,
                      int64_t rows, const float *w, const struct owb_be_mm *const *p, int np,
                      struct owb_input *in)
{
    struct owb_region_bufs *B = r->buf;
    const int64_t k = p[0]->k;
    const bool one = rows == 1;
    int64_t b0 = 0, b1 = 1;
    if (!one)
        owb_slice(rows, 1, tid, nth, &b0, &b1);
    in->x = src;
    in->ldx = lds;
    if (w) {
        float *dst = one ? B->thr[tid].xb : B->xb;
        for (int64_t b = b0; b < b1; b++)
            owb_rmsnorm(dst + b * k, src + b * lds, w, k, r->rms_eps);
        in->x = dst;
        in->ldx = k;
        if (r->prof)
            owb_region_mark(r, tid, &r->prof->norm_ns);
    }
    for (int i = 0; i < np; i++) {
        in->act[i] = NULL;
        if (!p[i]->cpu.act_row_bytes)
            continue;
        for (int j = 0; j < i && !in->act[i]; j++)
            if (same_act(p[j], p[i]))
                in->act[i] = in->act[j];
        if (in->act[i])
            continue;
        void *dst = one ? B->thr[tid].act[i] : B->act[i];
        if (b1 > b0)
            r->be->mm_prepare(p[i], in->x, in->ldx, dst, b0, b1);
        in->act[i] = dst;
        if (r->prof)
            owb_region_mark(r, tid, &r->prof->matmul_ns[p[i]->wtype]);
    }
    if (!one)
        owb_region_barrier(r, tid, nth);
}

void owb_region_mm(struct owb_region *r, int tid, const struct owb_be_mm *p, const void *w,
                   const void *act, const float *x, int64_t ldx, float *y, int64_t ldy, int64_t r0,
                   int64_t r1)
{
    if (r1 > r0)
        r->be->mm_rows(p, w, act, x, ldx, y, ldy, r0, r1);
    if (r->prof)
        owb_region_mark(r, tid, &r->prof->matmul_ns[p->wtype]);
}

#define GRAB_BYTES 32768
int64_t owb_region_grab_rows(const struct owb_be_mm *p)
{
    if (p->batch > OWB_MATMUL_GEMV_MAX_BATCH)
        return 64;
    const int64_t rb = (int64_t)owb_row_size(p->wtype, p->k);
    const int64_t n = (GRAB_BYTES + rb - 1) / rb;
    return (n + OWB_MATMUL_ROW_ALIGN - 1) / OWB_MATMUL_ROW_ALIGN * OWB_MATMUL_ROW_ALIGN;
}

void owb_region_add_rows(float *y, const float *d, int64_t ld, int64_t nb, int64_t r0, int64_t r1)
{
    if (r1 > r0)
        for (int64_t b = 0; b < nb; b++)
            owb_add(y + b * ld + r0, y + b * ld + r0, d + b * ld + r0, r1 - r0);
}

void owb_region_add_bias(float *y, int64_t ld, int64_t nb, const float *bias, int64_t r0,
                         int64_t r1)
{
    if (bias && r1 > r0)
        for (int64_t b = 0; b < nb; b++)
            owb_add(y + b * ld + r0, y + b * ld + r0, bias + r0, r1 - r0);
}

void owb_region_residual(struct owb_region *r, int tid, int nth, const float *src, int64_t lds,
                         int64_t nb, const struct owb_be_mm *p, const void *w, const float *bias,
                         float *proj, float *x, _Atomic int64_t *work)
{
    const int64_t D = p->m;
    struct owb_input in;
    int64_t r0, r1;
    owb_region_input(r, tid, nth, src, lds, nb, NULL, &p, 1, &in);
    while (owb_grab(work, D, owb_region_grab_rows(p), OWB_MATMUL_ROW_ALIGN, nth, &r0, &r1)) {
        owb_region_mm(r, tid, p, w, in.act[0], in.x, in.ldx, proj, D, r0, r1);
        owb_region_add_bias(proj, D, nb, bias, r0, r1);
        owb_region_add_rows(x, proj, D, nb, r0, r1);
        if (r->prof)
            owb_region_mark(r, tid, &r->prof->other_ns);
    }
    owb_region_barrier(r, tid, nth);
}

void owb_region_logits(struct owb_region *r, int tid, int nth, const float *x, int64_t nb,
                       const float *norm, const struct owb_be_mm *p_all, const struct owb_be_mm *p1,
                       const struct owb_wt *output, bool all, bool last, float *logits,
                       _Atomic int64_t *work)
{
    const int64_t D = p_all->k, V = output->m;
    const struct owb_be_mm *p = all ? p_all : p1;
    struct owb_input in;
    int64_t r0, r1;
    if (!all && !last)
        return;
    if (all)
        owb_region_input(r, tid, nth, x, D, nb, norm, &p, 1, &in);
    else
        owb_region_input(r, tid, nth, x + (nb - 1) * D, D, 1, norm, &p, 1, &in);
    while (owb_grab(work, V, owb_region_grab_rows(p), OWB_MATMUL_ROW_ALIGN, nth, &r0, &r1))
        owb_region_mm(r, tid, p, output->data, in.act[0], in.x, in.ldx, logits, V, r0, r1);
}

void owb_region_run(struct owb_region *r, const struct owb_runner *runner, int nthreads,
                    _Atomic int64_t *work, int64_t nwork, owb_par_fn fn, void *ctx)
{
    for (int64_t i = 0; i < nwork; i++)
        atomic_store_explicit(&work[i], 0, memory_order_relaxed); /* published by run() */
    if (r->prof)
        owb_region_mark(r, 0, &r->prof->other_ns);
    if (runner && runner->run && nthreads > 1)
        runner->run(runner->pool, fn, ctx);
    else
        fn(ctx, 0, 1);
    if (r->prof)
        owb_region_mark(r, 0, &r->prof->sync_ns); /* the region's end */
}

int owb_region_forward(struct owb_model *m, const int32_t *tokens, int64_t n, int64_t pos,
                       float *logits, bool logits_all, owb_region_chunk_fn chunk,
                       char err[OWB_ERR_MAX])
{
    for (int64_t i = 0; i < n; i += m->n_batch) {
        int64_t nb = n - i < m->n_batch ? n - i : m->n_batch;
        int rc = chunk(m, tokens + i, nb, pos + i, logits_all ? logits + i * m->hp.n_vocab : logits,
                       logits_all, i + nb == n, err);
        if (rc)
            return rc;
    }
    return 0;
}

int owb_region_plan_weights(const struct owb_backend *be, struct owb_be_mm *plans, int64_t *plan_nb,
                            int64_t n_layer, int per_layer,
                            const struct owb_wt *(*wt)(const void *impl, int64_t l, int i),
                            const void *impl, const struct owb_wt *output, int64_t nb,
                            char err[OWB_ERR_MAX])
{
    char merr[OWB_ERR_MAX];
    if (*plan_nb == nb)
        return 0;
    for (int64_t l = 0; l < n_layer; l++)
        for (int i = 0; i < per_layer; i++) {
            const struct owb_wt *w = wt(impl, l, i);
            int rc = be->mm_plan(be, &plans[l * per_layer + i], w->type, w->m, w->k, nb, merr);
            if (rc) {
                snprintf(err, OWB_ERR_MAX, "layer %" PRId64 ": %.400s", l, merr);
                return rc;
            }
        }
    int rc =
        be->mm_plan(be, &plans[n_layer * per_layer], output->type, output->m, output->k, nb, merr);
    if (rc)
        snprintf(err, OWB_ERR_MAX, "output: %.400s", merr);
    else
        *plan_nb = nb;
    return rc;
}
