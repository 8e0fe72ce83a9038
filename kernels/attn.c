/* SPDX-License-Identifier: MIT */
/*
 * attn.c: blocked attention over the f32 KV cache with a window and sinks (kernels/attn.h).
 */
#include "kernels/attn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels/ops.h"

int64_t owb_attn_block_tokens(int64_t group, int64_t n_ctx, int64_t nb)
{
    int64_t qb = (int64_t)(((size_t)4 << 20) / ((size_t)group * (size_t)n_ctx * sizeof(float)));
    qb = qb < 1 ? 1 : qb > 64 ? 64 : qb;
    return qb > nb ? nb : qb;
}

int64_t owb_attn_cache_slots(int64_t window, int64_t n_ctx, int64_t n_batch)
{
    return window > 0 && window + n_batch < n_ctx ? window + n_batch : n_ctx;
}

int owb_attn_plan(struct owb_attn_blocks *b, int64_t pos, int64_t nb, int64_t qb, int64_t group,
                  int64_t head_dim, int64_t window, enum owb_isa isa, char err[OWB_ERR_MAX])
{
    char merr[OWB_ERR_MAX];
    b->nblk = 0;
    b->qb = qb;
    b->window = window;
    for (int64_t b0 = 0; b0 < nb; b0 += qb) {
        const int64_t bq = nb - b0 < qb ? nb - b0 : qb, nkeys = pos + b0 + bq;
        /* the block's first query sees keys from first - window + 1 on */
        int64_t ks = window > 0 ? pos + b0 - window + 1 : 0;
        ks = ks < 0 ? 0 : ks;
        struct owb_matmul_plan *p = &b->plans[2 * b->nblk];
        if (owb_matmul_plan_init(&p[0], OWB_TYPE_F32, nkeys - ks, head_dim, group * bq, isa,
                                 merr) ||
            owb_matmul_plan_init(&p[1], OWB_TYPE_F32, group * bq, nkeys - ks, head_dim, isa,
                                 merr)) {
            snprintf(err, OWB_ERR_MAX, "attention: %.400s", merr);
            return OWB_E_UNSUPPORTED;
        }
        b->kstart[b->nblk] = ks;
        b->nblk++;
    }
    return 0;
}

void owb_attn_heads(const struct owb_attn_blocks *b, const struct owb_attn_args *a, int64_t g0,
                    int64_t g1, const struct owb_attn_scratch *s)
{
    const int64_t hd = a->head_dim, group = a->group, cap = a->cap, QD = a->ldq;
    const int64_t window = b->window;
    for (int64_t g = g0; g < g1; g++) {
        for (int blk = 0; blk < b->nblk; blk++) {
            const struct owb_matmul_plan *pqk = &b->plans[2 * blk];
            const struct owb_matmul_plan *ppv = &b->plans[2 * blk + 1];
            const int64_t b0 = blk * b->qb, bq = pqk->batch / group, nk = pqk->m;
            const int64_t ks = b->kstart[blk], rows = group * bq;
            const int64_t s0 = ks % cap;
            const float *kg = a->kc + (g * cap + s0) * hd; /* (nk, hd) */
            const float *vg = a->vc + g * hd * cap + s0;   /* (hd, nk), rows ldv apart */
            int64_t ldv = cap;
            if (s0 + nk > cap) { /* the keys wrap around the ring: gather them in order */
                for (int64_t j = 0; j < nk; j++) {
                    const int64_t slot = (ks + j) % cap;
                    memcpy(s->kw + j * hd, a->kc + (g * cap + slot) * hd,
                           (size_t)hd * sizeof(float));
                    for (int64_t i = 0; i < hd; i++)
                        s->vw[i * nk + j] = a->vc[g * hd * cap + i * cap + slot];
                }
                kg = s->kw;
                vg = s->vw;
                ldv = nk;
            }
            for (int64_t j = 0; j < group; j++) /* row j * bq + bb: head g*group+j, token b0+bb */
                for (int64_t bb = 0; bb < bq; bb++) {
                    const float *src = a->q + (b0 + bb) * QD + (g * group + j) * hd;
                    float *dst = s->qs + (j * bq + bb) * hd; /* the scale folded into q */
                    for (int64_t i = 0; i < hd; i++)
                        dst[i] = src[i] * a->scale;
                }
            owb_matmul_rows(pqk, kg, NULL, s->qs, hd, s->sc, nk, 0, nk);
            for (int64_t r = 0; r < rows; r++) {
                float *sc = s->sc + r * nk;                /* (nk): keys ks.. */
                const int64_t last = a->pos + b0 + r % bq; /* the query's position */
                for (int64_t t = last + 1 - ks; t < nk; t++)
                    sc[t] = -INFINITY;
                if (window > 0) /* keys at or before last - window */
                    for (int64_t t = 0; t <= last - window - ks && t < nk; t++)
                        sc[t] = -INFINITY;
                if (a->sinks)
                    owb_softmax_sink(sc, nk, a->sinks[g * group + r / bq]);
                else
                    owb_softmax(sc, nk);
            }
            owb_matmul_rows(ppv, s->sc, NULL, vg, ldv, s->pv, rows, 0, rows);
            for (int64_t j = 0; j < group; j++)
                for (int64_t bb = 0; bb < bq; bb++) {
                    float *o = a->out + (b0 + bb) * QD + (g * group + j) * hd;
                    const float *src = s->pv + j * bq + bb;
                    for (int64_t i = 0; i < hd; i++)
                        o[i] = src[i * rows];
                }
        }
    }
}

void owb_attn_write(float *q, float *k, float *v, int64_t ldq, int64_t ldkv, int64_t nb,
                    int64_t pos, const float *bq, const float *bk, const float *bv,
                    const struct owb_rope_cache *rope, int neox, int64_t head_dim, int64_t group,
                    int64_t g0, int64_t g1, float *kc, float *vc, int64_t cap)
{
    const int64_t hd = head_dim, qo = g0 * group * hd, ko = g0 * hd;
    const int64_t qn = (g1 - g0) * group * hd, kn = (g1 - g0) * hd;
    if (g1 <= g0)
        return;
    for (int64_t b = 0; b < nb; b++) {
        float *qb = q + b * ldq, *kb = k + b * ldkv;
        float *vb = v + b * ldkv;
        const int64_t slot = (pos + b) % cap;
        if (bq)
            owb_add(qb + qo, qb + qo, bq + qo, qn);
        if (bk)
            owb_add(kb + ko, kb + ko, bk + ko, kn);
        if (bv)
            owb_add(vb + ko, vb + ko, bv + ko, kn);
        owb_rope_apply(qb + qo, (g1 - g0) * group, hd, &rope[b], neox);
        owb_rope_apply(kb + ko, g1 - g0, hd, &rope[b], neox);
        for (int64_t g = g0; g < g1; g++) {
            memcpy(kc + (g * cap + slot) * hd, kb + g * hd, (size_t)hd * sizeof *kb);
            float *vt = vc + g * hd * cap + slot; /* column `slot` of (head_dim, cap) */
            for (int64_t i = 0; i < hd; i++)
                vt[i * cap] = vb[g * hd + i];
        }
    }
}
