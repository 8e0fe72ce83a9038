/* SPDX-License-Identifier: MIT */
/*
 * backend_cpu.c: the "cpu" backend table. Buffers are host memory (aligned_alloc, or the caller's
 * memory as is for buf_map); matmul is kernels/matmul.h with the plan of the active ISA; the row
 * ops are kernels/ops.h called once per row (softmax with sinks, the gpt-oss SwiGLU and YaRN are
 * there too, the same definitions the engine calls). Attention over a KV cache is kernels/attn.h's
 * (the engine's). The masks of the softmax and expert-indexed rows are plain loops here. These
 * are the CPU definitions the CUDA backend is tested against.
 */
#define _GNU_SOURCE /* clock_gettime, CLOCK_MONOTONIC_RAW */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/attn.h"
#include "kernels/backend.h"

static int cpu_available(char reason[OWB_ERR_MAX])
{
    (void)reason;
    return 0;
}

static int cpu_buf_alloc(const struct owb_backend *be, struct owb_buf *b, size_t bytes,
                         char err[OWB_ERR_MAX])
{
    memset(b, 0, sizeof *b);
    b->be = be;
    if (bytes == 0)
        return 0;
    const size_t rounded = (bytes + 63) / 64 * 64;
    b->data = aligned_alloc(64, rounded);
    if (!b->data) {
        snprintf(err, OWB_ERR_MAX, "cpu: out of memory allocating a buffer of %zu bytes", bytes);
        return OWB_E_NOMEM;
    }
    b->bytes = bytes;
    b->owned = true;
    return 0;
}

static int cpu_buf_map(const struct owb_backend *be, struct owb_buf *b, const void *host,
                       size_t bytes, char err[OWB_ERR_MAX])
{
    (void)err;
    memset(b, 0, sizeof *b);
    b->be = be;
    b->data = (void *)(uintptr_t)host; /* read-only by contract: weights are never written */
    b->bytes = bytes;
    b->owned = false;
    return 0;
}

static void cpu_buf_free(struct owb_buf *b)
{
    if (b->owned)
        free(b->data);
    b->data = NULL;
    b->bytes = 0;
    b->owned = false;
}

static int range_check(const struct owb_buf *b, size_t off, size_t bytes, char err[OWB_ERR_MAX])
{
    if (off > b->bytes || bytes > b->bytes - off) {
        snprintf(err, OWB_ERR_MAX, "%s: %zu bytes at offset %zu pass the end of a %zu-byte buffer",
                 b->be ? b->be->name : "?", bytes, off, b->bytes);
        return OWB_E_USAGE;
    }
    return 0;
}

static int cpu_upload(const struct owb_buf *b, size_t off, const void *src, size_t bytes,
                      char err[OWB_ERR_MAX])
{
    int rc = range_check(b, off, bytes, err);
    if (rc == 0 && bytes)
        memcpy((char *)b->data + off, src, bytes);
    return rc;
}

static int cpu_download(const struct owb_buf *b, size_t off, void *dst, size_t bytes,
                        char err[OWB_ERR_MAX])
{
    int rc = range_check(b, off, bytes, err);
    if (rc == 0 && bytes)
        memcpy(dst, (const char *)b->data + off, bytes);
    return rc;
}

static int cpu_copy(const struct owb_buf *dst, size_t doff, const struct owb_buf *src, size_t soff,
                    size_t bytes, char err[OWB_ERR_MAX])
{
    int rc = range_check(dst, doff, bytes, err);
    if (rc == 0)
        rc = range_check(src, soff, bytes, err);
    if (rc == 0 && bytes)
        memmove((char *)dst->data + doff, (const char *)src->data + soff, bytes);
    return rc;
}

/* ---- matmul: the kernels' plan, prepare and rows as they are ---- */

static int cpu_mm_plan(const struct owb_backend *be, struct owb_be_mm *p, enum owb_type wtype,
                       int64_t m, int64_t k, int64_t batch, char err[OWB_ERR_MAX])
{
    memset(p, 0, sizeof *p);
    p->be = be;
    int rc = owb_matmul_plan_init(&p->cpu, wtype, m, k, batch, owb_isa_active(), err);
    if (rc)
        return rc;
    p->wtype = wtype;
    p->m = m;
    p->k = k;
    p->batch = batch;
    p->act_bytes = owb_matmul_act_bytes(&p->cpu);
    p->act_type = p->cpu.act_type;
    snprintf(p->path, sizeof p->path, "%s", p->cpu.path);
    return 0;
}

static void cpu_mm_prepare(const struct owb_be_mm *p, const float *X, int64_t ldx, void *act,
                           int64_t b0, int64_t b1)
{
    owb_matmul_prepare(&p->cpu, X, ldx, act, b0, b1);
}

static void cpu_mm_rows(const struct owb_be_mm *p, const void *W, const void *act, const float *X,
                        int64_t ldx, float *Y, int64_t ldy, int64_t r0, int64_t r1)
{
    owb_matmul_rows(&p->cpu, W, act, X, ldx, Y, ldy, r0, r1);
}

static void cpu_mm_id_rows(const struct owb_be_mm *p, const struct owb_be_mm_id *id, const void *W,
                           const void *act, const float *X, int64_t ldx, float *Y, int64_t ldy,
                           int64_t t0, int64_t t1)
{
    OWB_ASSERT(p->batch == 1 && id->x_per_tok >= 1);
    for (int64_t t = t0; t < t1; t++) {
        for (int64_t j = 0; j < id->n_used; j++) {
            const int32_t e = id->ids[t * id->n_used + j];
            OWB_ASSERT(e >= 0 && e < id->n_expert);
            const int64_t xi = t * id->x_per_tok + (id->x_per_tok > 1 ? j : 0);
            const uint8_t *a = act ? (const uint8_t *)act + (size_t)xi * p->act_bytes : NULL;
            owb_matmul_rows(&p->cpu, (const uint8_t *)W + (size_t)e * id->expert_bytes, a,
                            X + xi * ldx, ldx, Y + (t * id->n_used + j) * ldy, ldy, 0, p->m);
        }
    }
}

/* ---- grouped expert matmul ---- */

/* Counting sort of the pairs by expert, in token order within an expert (the engine's order). */
static void cpu_moe_route(const int32_t *ids, int64_t n_tok, int64_t n_used, int64_t n_expert,
                          int32_t *route)
{
    int32_t *off = route, *pair = route + n_expert + 1;
    const int64_t np = n_tok * n_used;
    memset(off, 0, sizeof *off * (size_t)(n_expert + 1));
    for (int64_t i = 0; i < np; i++) {
        OWB_ASSERT(ids[i] >= 0 && ids[i] < n_expert);
        off[ids[i] + 1]++;
    }
    for (int64_t e = 0; e < n_expert; e++)
        off[e + 1] += off[e];
    /* off[e] walks expert e's rows; shifted back afterwards */
    for (int64_t i = 0; i < np; i++)
        pair[off[ids[i]]++] = (int32_t)i;
    for (int64_t e = n_expert; e > 0; e--)
        off[e] = off[e - 1];
    off[0] = 0;
}

/* The scratch of a grouped plan: gathered input rows (max_pairs, k) f32, prepared rows
 * (max_pairs, grp_row_bytes), grouped outputs (max_pairs, m) f32; each part 64-byte aligned. */
static size_t grp_align(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

static size_t grp_prep_off(const struct owb_be_mm *p)
{
    return grp_align(sizeof(float) * (size_t)(p->batch * p->k));
}

static size_t grp_out_off(const struct owb_be_mm *p)
{
    return grp_prep_off(p) + (size_t)p->batch * p->grp_row_bytes;
}

static int cpu_mm_grp_plan(const struct owb_backend *be, struct owb_be_mm *p, enum owb_type wtype,
                           int64_t m, int64_t k, int64_t max_pairs, int64_t n_expert,
                           char err[OWB_ERR_MAX])
{
    if (max_pairs <= 0 || n_expert <= 0) {
        snprintf(err, OWB_ERR_MAX, "cpu grouped matmul: %lld pairs of %lld experts",
                 (long long)max_pairs, (long long)n_expert);
        return OWB_E_USAGE;
    }
    int rc = cpu_mm_plan(be, p, wtype, m, k, 1, err);
    if (rc)
        return rc;
    /* every row count an expert may get: the widest prepared row of their plans (the kernels
     * change at a few batch sizes; a row count past the sweep is checked when it comes) */
    size_t row = 0;
    for (int64_t c = 1;; c = c < 32 ? c + 1 : c * 2) {
        c = c < max_pairs ? c : max_pairs;
        struct owb_matmul_plan q;
        if ((rc = owb_matmul_plan_init(&q, wtype, m, k, c, owb_isa_active(), err)))
            return rc;
        row = q.act_row_bytes > row ? q.act_row_bytes : row;
        if (c == max_pairs)
            break;
    }
    p->batch = max_pairs;
    p->n_expert = n_expert;
    p->grp_row_bytes = grp_align(row);
    p->act_bytes = grp_out_off(p) + grp_align(sizeof(float) * (size_t)(max_pairs * m));
    snprintf(p->path, sizeof p->path, "cpu %s grouped: the kernels' plan per expert row count",
             owb_type_name(wtype));
    return 0;
}

/* The plan of expert rows at their count c (the engine's per-expert plan). */
static void grp_expert_plan(const struct owb_be_mm *p, int64_t c, struct owb_matmul_plan *q)
{
    char err[OWB_ERR_MAX];
    OWB_ASSERT(owb_matmul_plan_init(q, p->wtype, p->m, p->k, c, owb_isa_active(), err) == 0);
    OWB_ASSERT(q->act_row_bytes <= p->grp_row_bytes);
}

static void cpu_mm_grp_prepare(const struct owb_be_mm *p, const struct owb_be_mm_grp *g,
                               const float *X, int64_t ldx, void *act, int64_t e0, int64_t e1)
{
    const int32_t *off = g->route, *pair = g->route + p->n_expert + 1;
    float *xg = act;
    uint8_t *prep = (uint8_t *)act + grp_prep_off(p);
    OWB_ASSERT(g->n_tok * g->n_used <= p->batch && e0 >= 0 && e1 <= p->n_expert);
    for (int64_t e = e0; e < e1; e++) {
        const int64_t o0 = off[e], c = off[e + 1] - o0;
        if (!c)
            continue;
        for (int64_t r = o0; r < o0 + c; r++) {
            const int64_t xi = g->x_per_tok > 1 ? pair[r] : pair[r] / g->n_used;
            memcpy(xg + r * p->k, X + xi * ldx, sizeof(float) * (size_t)p->k);
        }
        struct owb_matmul_plan q;
        grp_expert_plan(p, c, &q);
        owb_matmul_prepare(&q, xg + o0 * p->k, p->k, prep + (size_t)o0 * p->grp_row_bytes, 0, c);
    }
}

static void cpu_mm_grp_rows(const struct owb_be_mm *p, const struct owb_be_mm_grp *g, const void *W,
                            void *act, float *Y, int64_t ldy, int64_t r0, int64_t r1)
{
    const int32_t *off = g->route, *pair = g->route + p->n_expert + 1;
    const float *xg = act;
    const uint8_t *prep = (const uint8_t *)act + grp_prep_off(p);
    float *yg = (float *)((uint8_t *)act + grp_out_off(p));
    for (int64_t e = 0; e < p->n_expert; e++) {
        const int64_t o0 = off[e], c = off[e + 1] - o0;
        if (!c)
            continue;
        struct owb_matmul_plan q;
        grp_expert_plan(p, c, &q);
        owb_matmul_rows(&q, (const uint8_t *)W + (size_t)e * g->expert_bytes,
                        prep + (size_t)o0 * p->grp_row_bytes, xg + o0 * p->k, p->k, yg + o0 * p->m,
                        p->m, r0, r1);
        for (int64_t r = o0; r < o0 + c; r++)
            memcpy(Y + pair[r] * ldy + r0, yg + r * p->m + r0, sizeof(float) * (size_t)(r1 - r0));
    }
}

/* ---- row ops ---- */

static void cpu_rmsnorm(float *y, const float *x, const float *w, int64_t ld, int64_t n, float eps,
                        int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; r++)
        owb_rmsnorm(y + r * ld, x + r * ld, w, n, eps);
}

static void cpu_rope(float *x, int64_t ld, int64_t n_heads, int64_t head_dim,
                     const struct owb_rope_cache *rc, int neox, int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; r++)
        owb_rope_apply(x + r * ld, n_heads, head_dim, &rc[r], neox);
}

/* The keys [*lo, *hi) a query at position q sees (causal, window). */
static void key_range(int64_t q, int64_t n, int64_t window, int64_t *lo, int64_t *hi)
{
    *hi = q + 1 < n ? q + 1 : n;
    *lo = window > 0 && q - window + 1 > 0 ? q - window + 1 : 0;
    if (*lo > *hi)
        *lo = *hi;
}

static void cpu_softmax(float *x, int64_t ld, int64_t n, const struct owb_be_softmax *s, int64_t r0,
                        int64_t r1)
{
    for (int64_t r = r0; r < r1; r++) {
        float *row = x + r * ld;
        int64_t lo = 0, hi = n;
        if (s && s->q_pos0 >= 0)
            key_range(s->q_pos0 + r / s->n_head, n, s->window, &lo, &hi);
        for (int64_t i = 0; i < lo; i++)
            row[i] = 0.0f;
        for (int64_t i = hi; i < n; i++)
            row[i] = 0.0f;
        if (s && s->sinks)
            owb_softmax_sink(row + lo, hi - lo, s->sinks[r % s->n_head]);
        else
            owb_softmax(row + lo, hi - lo);
    }
}

static void cpu_silu_mul(float *y, const float *gate, const float *up, int64_t ld, int64_t n,
                         int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; r++)
        owb_silu_mul(y + r * ld, gate + r * ld, up + r * ld, n);
}

static void cpu_swiglu_oai(float *y, const float *gate, const float *up, int64_t ld, int64_t n,
                           float alpha, float limit, int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; r++)
        owb_swiglu_oai(y + r * ld, gate + r * ld, up + r * ld, n, alpha, limit);
}

static void cpu_add(float *y, const float *a, const float *b, int64_t ld, int64_t n, int64_t r0,
                    int64_t r1)
{
    for (int64_t r = r0; r < r1; r++)
        owb_add(y + r * ld, a + r * ld, b + r * ld, n);
}

static int cpu_get_rows(enum owb_type t, const void *W, int64_t n_cols, const int32_t *ids,
                        float *y, int64_t ldy, int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; r++) {
        int rc = owb_get_row(t, W, ids[r], n_cols, y + r * ldy);
        if (rc)
            return rc;
    }
    return 0;
}

static void cpu_add_bias(float *y, const float *x, const float *b, int64_t ldb, const int32_t *ids,
                         int64_t ld, int64_t n, int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; r++)
        owb_add(y + r * ld, x + r * ld, b + (ids ? (int64_t)ids[r] * ldb : 0), n);
}

static void cpu_topk(const float *logits, int64_t ld, int64_t n, int64_t k, float scale,
                     int32_t *ids, float *w, int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; r++) {
        owb_topk_softmax(logits + r * ld, n, k, ids + r * k, w + r * k);
        if (scale != 0.0f && scale != 1.0f)
            for (int64_t j = 0; j < k; j++)
                w[r * k + j] *= scale;
    }
}

/* The engine's order (model/gptoss.c): a = d_0 w_0, a += d_j w_j for j = 1.., then y + a. */
static void cpu_moe_sum(float *y, const float *d, const float *w, int64_t k, int64_t ld, int64_t n,
                        int64_t t0, int64_t t1)
{
    for (int64_t t = t0; t < t1; t++) {
        float *yt = y + t * ld;
        const float *wt = w + t * k, *dt = d + t * k * ld;
        for (int64_t i = 0; i < n; i++) {
            float a = dt[i] * wt[0];
            for (int64_t j = 1; j < k; j++)
                a += dt[j * ld + i] * wt[j];
            yt[i] = yt[i] + a;
        }
    }
}

static int64_t attn_pos(const struct owb_be_attn *a)
{
    return a->dpos ? *a->dpos : a->pos;
}

/* A ring holds every key the chunk's queries see (see kernels/backend.h). */
static void check_cap(const struct owb_be_attn *a, int64_t cap, int64_t n_tok)
{
    OWB_ASSERT(cap <= a->n_ctx &&
               (cap == a->n_ctx || (a->window > 0 && cap >= a->window + n_tok - 1)));
}

/* The cache layout of kernels/attn.h: K as (n_head_kv, cap, head_dim), V transposed as
 * (n_head_kv, head_dim, cap), position p in slot p % cap. */
static void cpu_kv_store(float *kc, float *vc, const float *k, const float *v, int64_t ldk,
                         const struct owb_be_attn *a, int64_t n_tok)
{
    const int64_t pos = attn_pos(a), hd = a->head_dim, cap = owb_be_attn_cap(a);
    OWB_ASSERT(pos >= 0 && pos + n_tok <= a->n_ctx);
    check_cap(a, cap, n_tok);
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t h = 0; h < a->n_head_kv; h++) {
            const int64_t slot = (pos + t) % cap;
            memcpy(kc + (h * cap + slot) * hd, k + t * ldk + h * hd, sizeof(float) * (size_t)hd);
            float *vt = vc + h * hd * cap + slot;
            for (int64_t i = 0; i < hd; i++)
                vt[i * cap] = v[t * ldk + h * hd + i];
        }
}

/* kernels/attn.h's blocked attention (the engine's definition) over query tokens [t0, t1). The
 * scratch and plans are allocated per call: the engine calls kernels/attn.h with its own; this
 * op serves tests and one-thread drivers. Allocation failure is an OWB_ASSERT (void op). */
static void cpu_attn(float *out, const float *q, const float *kc, const float *vc,
                     const struct owb_be_attn *a, int64_t t0, int64_t t1)
{
    if (t1 <= t0)
        return;
    const int64_t pos = attn_pos(a), cap = owb_be_attn_cap(a);
    const int64_t hd = a->head_dim, ld = a->n_head * hd, group = a->n_head / a->n_head_kv;
    const bool ring = cap < a->n_ctx;
    const int64_t nb = t1 - t0, qb = owb_attn_block_tokens(group, a->n_ctx, nb);
    const int64_t nblk = (nb + qb - 1) / qb;
    struct owb_matmul_plan *plans = malloc(sizeof *plans * (size_t)(2 * nblk));
    int64_t *kstart = malloc(sizeof *kstart * (size_t)nblk);
    struct owb_attn_scratch s = {
        .qs = malloc(sizeof(float) * (size_t)(group * qb * hd)),
        .sc = malloc(sizeof(float) * (size_t)(group * qb * a->n_ctx)),
        .pv = malloc(sizeof(float) * (size_t)(hd * group * qb)),
        .kw = ring ? malloc(sizeof(float) * (size_t)(cap * hd)) : NULL,
        .vw = ring ? malloc(sizeof(float) * (size_t)(cap * hd)) : NULL,
    };
    OWB_ASSERT(plans && kstart && s.qs && s.sc && s.pv && (!ring || (s.kw && s.vw)));
    check_cap(a, cap, t1 - t0);
    struct owb_attn_blocks b = {.plans = plans, .kstart = kstart};
    char err[OWB_ERR_MAX];
    OWB_ASSERT(owb_attn_plan(&b, pos + t0, nb, qb, group, hd, a->window, owb_isa_active(), err) ==
               0);
    const struct owb_attn_args args = {
        .q = q + t0 * ld,
        .out = out + t0 * ld,
        .ldq = ld,
        .kc = kc,
        .vc = vc,
        .cap = cap,
        .head_dim = hd,
        .group = group,
        .pos = pos + t0,
        .sinks = a->sinks,
        .scale = a->scale,
    };
    owb_attn_heads(&b, &args, 0, a->n_head_kv, &s);
    free(plans);
    free(kstart);
    free(s.qs);
    free(s.sc);
    free(s.pv);
    free(s.kw);
    free(s.vw);
}

/* ---- sync and timing ---- */

static int cpu_synchronize(const struct owb_backend *be, char err[OWB_ERR_MAX])
{
    (void)be;
    (void)err;
    return 0;
}

static int cpu_timer_init(const struct owb_backend *be, struct owb_be_timer *t,
                          char err[OWB_ERR_MAX])
{
    (void)err;
    memset(t, 0, sizeof *t);
    t->be = be;
    return 0;
}

static void cpu_timer_release(struct owb_be_timer *t)
{
    t->host_ns = 0;
}

static void cpu_timer_mark(struct owb_be_timer *t)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    t->host_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double cpu_timer_elapsed_ns(const struct owb_be_timer *a, const struct owb_be_timer *b)
{
    return (double)(int64_t)(b->host_ns - a->host_ns);
}

const struct owb_backend owb_backend_cpu = {
    .name = "cpu",
    .host_threads = true,
    .host_memory = true,
    .available = cpu_available,
    .buf_alloc = cpu_buf_alloc,
    .buf_map = cpu_buf_map,
    .buf_free = cpu_buf_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .copy = cpu_copy,
    .mm_plan = cpu_mm_plan,
    .mm_prepare = cpu_mm_prepare,
    .mm_rows = cpu_mm_rows,
    .mm_id_rows = cpu_mm_id_rows,
    .moe_route = cpu_moe_route,
    .mm_grp_plan = cpu_mm_grp_plan,
    .mm_grp_prepare = cpu_mm_grp_prepare,
    .mm_grp_rows = cpu_mm_grp_rows,
    .rmsnorm = cpu_rmsnorm,
    .rope = cpu_rope,
    .softmax = cpu_softmax,
    .silu_mul = cpu_silu_mul,
    .swiglu_oai = cpu_swiglu_oai,
    .add = cpu_add,
    .get_rows = cpu_get_rows,
    .add_bias = cpu_add_bias,
    .topk = cpu_topk,
    .moe_sum = cpu_moe_sum,
    .kv_store = cpu_kv_store,
    .attn = cpu_attn,
    .synchronize = cpu_synchronize,
    .timer_init = cpu_timer_init,
    .timer_release = cpu_timer_release,
    .timer_mark = cpu_timer_mark,
    .timer_elapsed_ns = cpu_timer_elapsed_ns,
};
