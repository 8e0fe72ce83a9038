/* SPDX-License-Identifier: MIT */
/*
 * matmul.c: planning and dispatch of GEMV/GEMM (kernels/matmul.h), plus the reference path that
 * defines correctness: each output is the traits' vec_dot_ref of a weight row with the prepared
 * activation row (or, for types without a reference dot, a float64 dot of the dequantized row).
 * The SIMD kernels live in kernels/cpu/matmul_avx2.c and matmul_avx512.c and are picked from their
 * tables by weight type, batch size and ISA.
 */
#include "kernels/matmul.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/matmul_cpu.h"

/* ---- reference path ---- */

static void rows_ref_dot(const struct owb_mm_args *a, int64_t r0, int64_t r1);
static void rows_ref_dequant(const struct owb_mm_args *a, int64_t r0, int64_t r1);

/* The reference entries carry no type: the traits come from the plan through args. */
static const struct owb_mm_kernel kern_ref_dot = {OWB_TYPE_COUNT, OWB_ISA_REF, 1, 0,
                                                  "ref",          NULL,        0};
static const struct owb_mm_kernel kern_ref_dequant = {OWB_TYPE_COUNT, OWB_ISA_REF, 1, 0,
                                                      "ref",          NULL,        0};

/* The traits of the plan being run by a reference kernel (set per call in owb_matmul_rows). */
struct ref_args {
    struct owb_mm_args a;
    const struct owb_type_traits *tr;
};

static void rows_ref_dot(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    const struct ref_args *ra = (const struct ref_args *)a;
    for (int64_t b = 0; b < a->batch; b++) {
        const void *act = a->act ? (const void *)(a->act + (size_t)b * a->act_row_bytes)
                                 : (const void *)(a->x + b * a->ldx);
        for (int64_t r = r0; r < r1; r++) {
            float s = 0.0f;
            ra->tr->vec_dot_ref(a->k, &s, a->w + (size_t)r * a->w_row_bytes, act);
            a->y[b * a->ldy + r] = s;
        }
    }
}

/* Dequantize OWB_QK_K-element chunks (a multiple of every block size) on the stack and dot in
 * double, so no scratch is needed. */
static void rows_ref_dequant(const struct owb_mm_args *a, int64_t r0, int64_t r1)
{
    const struct ref_args *ra = (const struct ref_args *)a;
    const int64_t chunk = OWB_QK_K;
    const size_t chunk_bytes = (size_t)(chunk / ra->tr->blck_size) * ra->tr->type_size;
    float tmp[OWB_QK_K];
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *w = a->w + (size_t)r * a->w_row_bytes;
        for (int64_t b = 0; b < a->batch; b++) {
            const float *x = a->x + b * a->ldx;
            double sum = 0.0;
            for (int64_t i = 0; i < a->k; i += chunk) {
                const int64_t n = a->k - i < chunk ? a->k - i : chunk;
                ra->tr->to_float(w + (size_t)(i / chunk) * chunk_bytes, tmp, n);
                for (int64_t j = 0; j < n; j++)
                    sum += (double)tmp[j] * (double)x[i + j];
            }
            a->y[b * a->ldy + r] = (float)sum;
        }
    }
}

/* Reference activation preparation: the traits' quantizer, then the q8_0 extras from its output. */
static void prep_ref(enum owb_mm_act_layout layout, const struct owb_type_traits *at,
                     const float *x, uint8_t *row, int64_t k, int off)
{
    at->from_float_ref(x, row, k);
    if (!owb_mm_act_is_q8_0x(layout))
        return;
    const struct owb_block_q8_0 *blk = (const struct owb_block_q8_0 *)row;
    const int64_t nb = k / OWB_QK, nb8 = owb_mm_nb8(k);
    uint8_t *qs = row + owb_mm_q8_0_qs_off(k);
    float *d = (float *)(row + owb_mm_q8_0_d_off(k));
    int32_t *nsum = (int32_t *)(row + owb_mm_q8_0_sum_off(k));
    memset(qs, 0, (size_t)nb8 * OWB_QK);
    for (int64_t i = 0; i < nb8; i++) {
        if (i >= nb) {
            d[i] = 0.0f;
            nsum[i] = 0;
            continue;
        }
        int32_t sum = 0;
        for (int j = 0; j < OWB_QK; j++)
            sum += blk[i].qs[j];
        d[i] = owb_f16_to_f32(blk[i].d);
        nsum[i] = -off * sum;
        if (layout == OWB_MM_ACT_Q8_0_NAT) {
            memcpy(qs + 32 * i, blk[i].qs, 32);
        } else {
            uint8_t *g = qs + 128 * (i / 4) + 16 * (i % 4);
            memcpy(g, blk[i].qs, 16);
            memcpy(g + 64, blk[i].qs + 16, 16);
        }
    }
}

/* The x8 quants of an IL4_X8 row (matmul_cpu.h) from its IL4 quants, the same on every ISA. The
 * padding blocks up to nb8 are zero in IL4, so they are in x8 too. */
static void fill_x8(uint8_t *row, int64_t k)
{
    const uint8_t *il4 = row + owb_mm_q8_0_qs_off(k);
    uint8_t *x8 = row + owb_mm_q8_0_x8_off(k);
    /* element offset of chunk t's 8 quants within a block */
    static const int elem[4] = {0, 16, 8, 24};
    for (int64_t i = 0; i < owb_mm_nb8(k); i++) {
        /* IL4: block i's elements 0..15 at 128 (i / 4) + 16 (i % 4), 16..31 64 bytes further */
        const uint8_t *src = il4 + 128 * (i / 4) + 16 * (i % 4);
        for (int t = 0; t < 4; t++)
            memcpy(x8 + 256 * (i / 8) + 64 * t + 8 * (i % 8),
                   src + (elem[t] < 16 ? elem[t] : 64 + elem[t] - 16), 8);
    }
}

/* ---- planning ---- */

/* The entry of tab for type t with the largest min_batch <= batch whose needs the CPU has, unless
 * best (from a more specialised table searched first) already has that min_batch. */
static const struct owb_mm_kernel *find_kernel(const struct owb_mm_kernel *tab, enum owb_type t,
                                               int64_t batch, int have,
                                               const struct owb_mm_kernel *best)
{
    for (const struct owb_mm_kernel *e = tab; e->rows; e++) {
        if (e->wtype != t || e->min_batch > batch || (e->needs & ~have))
            continue;
        if (!best || e->min_batch > best->min_batch)
            best = e;
    }
    return best;
}

int owb_matmul_plan_init(struct owb_matmul_plan *p, enum owb_type wtype, int64_t m, int64_t k,
                         int64_t batch, enum owb_isa isa, char err[OWB_ERR_MAX])
{
    memset(p, 0, sizeof *p);
    const struct owb_type_traits *tr = owb_type_traits(wtype);
    if (!tr || !tr->to_float) {
        snprintf(err, OWB_ERR_MAX, "matmul: weight type %d (%s) has no converter", (int)wtype,
                 owb_type_name(wtype));
        return OWB_E_UNSUPPORTED;
    }
    if (m <= 0 || k <= 0 || batch <= 0) {
        snprintf(err, OWB_ERR_MAX,
                 "matmul: shape m=%lld k=%lld batch=%lld must have all sizes positive",
                 (long long)m, (long long)k, (long long)batch);
        return OWB_E_USAGE;
    }
    if (k % tr->blck_size != 0) {
        snprintf(err, OWB_ERR_MAX, "matmul: k=%lld is not a multiple of the %s block size %lld",
                 (long long)k, tr->name, (long long)tr->blck_size);
        return OWB_E_USAGE;
    }
    if ((int)isa < 0 || isa >= OWB_ISA_COUNT || !owb_isa_supported(isa)) {
        snprintf(err, OWB_ERR_MAX, "matmul: ISA %s is not supported by this CPU",
                 owb_isa_name(isa));
        return OWB_E_UNSUPPORTED;
    }
    p->wtype = wtype;
    p->m = m;
    p->k = k;
    p->batch = batch;

    const struct owb_mm_kernel *kern = NULL;
    const int have = (owb_isa_has_vnni() ? OWB_MM_NEEDS_VNNI : 0) |
                     (owb_isa_has_vbmi() ? OWB_MM_NEEDS_VBMI : 0) |
                     (owb_isa_has_avx512bf16() ? OWB_MM_NEEDS_BF16 : 0);
    if (isa == OWB_ISA_AVX512) {
        kern = find_kernel(owb_mm_kernels_avx512_gemm, wtype, batch, have, NULL);
        kern = find_kernel(owb_mm_kernels_avx512_vbmi, wtype, batch, have, kern);
        kern = find_kernel(owb_mm_kernels_avx512, wtype, batch, have, kern);
    }
    if (!kern && isa >= OWB_ISA_AVX2) {
        kern = find_kernel(owb_mm_kernels_avx2_gemm, wtype, batch, have, NULL);
        kern = find_kernel(owb_mm_kernels_avx2, wtype, batch, have, kern);
    }

    enum owb_type act = tr->vec_dot_type;
    if (!kern && !tr->vec_dot_ref)
        act = OWB_TYPE_F32; /* dequantize path */
    const struct owb_type_traits *at = owb_type_traits(act);
    if (!at || (act != OWB_TYPE_F32 && !at->from_float_ref)) {
        snprintf(err, OWB_ERR_MAX, "matmul: activation type %s of %s has no quantizer",
                 owb_type_name(act), tr->name);
        return OWB_E_UNSUPPORTED;
    }
    p->act_type = act;
    p->act_layout = (int)owb_mm_act_layout(wtype, act, &p->act_off);
    switch ((enum owb_mm_act_layout)p->act_layout) {
    case OWB_MM_ACT_F32:
        p->act_row_bytes = 0;
        break;
    case OWB_MM_ACT_Q8_0_NAT:
    case OWB_MM_ACT_Q8_0_IL4:
        p->act_row_bytes = owb_mm_q8_0_row_bytes(k);
        break;
    case OWB_MM_ACT_Q8_0_IL4_X8:
        p->act_row_bytes = owb_mm_q8_0_x8_row_bytes(k);
        break;
    default:
        p->act_row_bytes = (owb_row_size(act, k) + 63) & ~(size_t)63;
        break;
    }

    if (kern) {
        p->kern = kern;
        p->isa = kern->isa;
        snprintf(p->path, sizeof p->path, "%s", kern->path);
    } else {
        p->kern = tr->vec_dot_ref ? &kern_ref_dot : &kern_ref_dequant;
        p->isa = OWB_ISA_REF;
        if (tr->vec_dot_ref)
            snprintf(p->path, sizeof p->path, "ref %sx%s vec_dot", tr->name, at->name);
        else
            snprintf(p->path, sizeof p->path, "ref %s dequant f64 dot", tr->name);
    }
    /* Activation conversion on the fastest ISA the plan may use (same bytes on all of them). */
    enum owb_mm_act_layout layout = (enum owb_mm_act_layout)p->act_layout;
    if (layout != OWB_MM_ACT_F32 && layout != OWB_MM_ACT_REF) {
        if (isa == OWB_ISA_AVX512)
            p->prep = owb_mm_prep_avx512(layout);
        if (!p->prep && isa >= OWB_ISA_AVX2)
            p->prep = owb_mm_prep_avx2(layout);
    }
    return OWB_OK;
}

bool owb_wlayout_ok(enum owb_wlayout wl, enum owb_type wtype, int64_t m, int64_t k)
{
    if (wl == OWB_WL_ROWS)
        return true;
    if (wl != OWB_WL_REP8 || m <= 0 || k <= 0 || k % OWB_QK || wtype != OWB_TYPE_MXFP4)
        return false;
    return owb_row_size(wtype, k) <= OWB_WL_MAX_ROW_BYTES;
}

enum owb_wlayout owb_matmul_wlayout_best(enum owb_type wtype, int64_t m, int64_t k,
                                         enum owb_isa isa)
{
    if (wtype == OWB_TYPE_MXFP4 && k >= 8 * OWB_QK && isa == OWB_ISA_AVX512 &&
        owb_isa_supported(isa) && owb_isa_has_vnni() && owb_isa_has_vbmi() &&
        owb_wlayout_ok(OWB_WL_REP8, wtype, m, k))
        return OWB_WL_REP8;
    return OWB_WL_ROWS;
}

int owb_matmul_plan_wlayout(struct owb_matmul_plan *p, enum owb_wlayout wl, char err[OWB_ERR_MAX])
{
    if (!owb_wlayout_ok(wl, p->wtype, p->m, p->k)) {
        snprintf(err, OWB_ERR_MAX,
                 "matmul: %s weights of %lld x %lld cannot be held in weight layout %d (REP8: "
                 "mxfp4, rows of at most %d bytes)",
                 owb_type_name(p->wtype), (long long)p->m, (long long)p->k, (int)wl,
                 OWB_WL_MAX_ROW_BYTES);
        return OWB_E_USAGE;
    }
    if (p->wl == wl)
        return OWB_OK;
    p->wl = wl;
    if (wl != OWB_WL_ROWS) {
        const char *tag = p->kern->rep8 ? " rep8" : " rep8-unpacked";
        const size_t n = strlen(p->path);
        if (n + strlen(tag) < sizeof p->path)
            memcpy(p->path + n, tag, strlen(tag) + 1);
    }
    return OWB_OK;
}

/* One mxfp4 row between the layouts: groups of 8 blocks repacked (REP8) or as stored. */
static void rep8_row(uint8_t *row, int64_t nb, bool pack)
{
    uint8_t g[136];
    for (int64_t b = 0; b + 8 <= nb; b += 8) {
        uint8_t *src = row + b * 17;
        for (int j = 0; j < 8; j++) {
            if (pack) {
                g[128 + j] = src[17 * j];
                memcpy(g + 8 * j, src + 17 * j + 1, 8);
                memcpy(g + 64 + 8 * j, src + 17 * j + 9, 8);
            } else {
                g[17 * j] = src[128 + j];
                memcpy(g + 17 * j + 1, src + 8 * j, 8);
                memcpy(g + 17 * j + 9, src + 64 + 8 * j, 8);
            }
        }
        memcpy(src, g, sizeof g);
    }
}

int owb_wlayout_convert(enum owb_type wtype, int64_t m, int64_t k, void *w, enum owb_wlayout from,
                        enum owb_wlayout to, char err[OWB_ERR_MAX])
{
    if (!owb_wlayout_ok(from, wtype, m, k) || !owb_wlayout_ok(to, wtype, m, k)) {
        snprintf(err, OWB_ERR_MAX,
                 "matmul: %s weights of %lld x %lld cannot be converted between layouts %d and %d",
                 owb_type_name(wtype), (long long)m, (long long)k, (int)from, (int)to);
        return OWB_E_USAGE;
    }
    if (from == to)
        return OWB_OK;
    const size_t rb = owb_row_size(wtype, k);
    for (int64_t r = 0; r < m; r++)
        rep8_row((uint8_t *)w + (size_t)r * rb, k / OWB_QK, to == OWB_WL_REP8);
    return OWB_OK;
}

size_t owb_matmul_act_bytes(const struct owb_matmul_plan *p)
{
    return p->act_row_bytes * (size_t)p->batch;
}

bool owb_matmul_act_compatible(const struct owb_matmul_plan *a, const struct owb_matmul_plan *b)
{
    return a->k == b->k && a->batch == b->batch && a->act_type == b->act_type &&
           a->act_row_bytes == b->act_row_bytes && a->act_layout == b->act_layout &&
           a->act_off == b->act_off;
}

void owb_matmul_prepare(const struct owb_matmul_plan *p, const float *X, int64_t ldx, void *act,
                        int64_t b0, int64_t b1)
{
    if (!p->act_row_bytes)
        return;
    OWB_ASSERT(b0 >= 0 && b0 <= b1 && b1 <= p->batch);
    const struct owb_type_traits *at = owb_type_traits(p->act_type);
    for (int64_t b = b0; b < b1; b++) {
        uint8_t *row = (uint8_t *)act + (size_t)b * p->act_row_bytes;
        if (p->prep)
            p->prep(X + b * ldx, row, p->k, p->act_off);
        else
            prep_ref((enum owb_mm_act_layout)p->act_layout, at, X + b * ldx, row, p->k, p->act_off);
        /* zero the padding so that whole prepared rows compare equal across ISAs */
        size_t used = owb_row_size(p->act_type, p->k);
        if (owb_mm_act_is_q8_0x((enum owb_mm_act_layout)p->act_layout)) {
            memset(row + used, 0, owb_mm_q8_0_qs_off(p->k) - used);
            used = owb_mm_q8_0_sum_off(p->k) + (size_t)owb_mm_nb8(p->k) * sizeof(int32_t);
        }
        memset(row + used, 0, p->act_row_bytes - used);
        if (p->act_layout == OWB_MM_ACT_Q8_0_IL4_X8)
            fill_x8(row, p->k);
    }
}

/* A GEMV (decode) reads every weight byte once from DRAM. The kernels walk 1-4 rows as parallel
 * streams, which the hardware prefetchers follow poorly when rows are short (1-2 KiB at k = 2048),
 * so a call with at most OWB_MATMUL_GEMV_MAX_BATCH columns runs the kernel on groups of about
 * PF_GROUP_BYTES of rows while the rows PF_AHEAD_BYTES further on are prefetched into L2. One core,
 * weights from DRAM, before -> after (measured in the engine, docs/perf-notes.md): q4_0
 * 8192x2048 6.8 -> 22 GB/s, q8_0 10.5 -> 25, q6_K 6.7 -> 25. Batched (GEMM) calls are compute-bound
 * and keep whole slices. Each output row is still computed by one kernel call on the same data, so
 * the results are bitwise the same as without the grouping. */
#define PF_GROUP_BYTES 2304
/* Long rows stream well with the hardware prefetchers alone: at 4096x14336 (2 threads, A/B in
 * one session) software prefetch was neutral for q4_0 rows of 8 KiB and cut q8_0 (15 KiB rows)
 * from 30 to 22 GB/s, so it is used for rows up to 6 KiB only (the engine's k = 2048 shapes). */
#define PF_MAX_ROW_BYTES 6144
/* The AVX2 and AVX-512 integer GEMV kernels (q4_0, q8_0, mxfp4, q4_K, q6_K) prefetch rows longer
 * than this themselves, one pass of their R rows ahead (kernels/cpu/b32_avx512.h,
 * KPF_MIN_ROW_BYTES), which also keeps their 4-row path: the wrapper above calls them one row at a
 * time for rows over PF_GROUP_BYTES. A/B at 2048x8192 (4.5 KiB q4_0 rows): 31 -> 37 GB/s; at
 * 14336x4096 (2.25 KiB rows) the wrapper stayed 5-10% ahead, so shorter rows keep it on AVX2.
 * The AVX-512 integer kernels prefetch rows of every length
 * (OWB_MM_KERNEL_PF_MIN_ROW_BYTES_INT512): the wrapper's one- or two-row calls cost compute on the
 * engine's k = 2048 rows (1 core, L2, CPU time: q4_0 256x2048 18-23 -> 30 GB/s, q8_0 31 -> 41;
 * docs/perf-notes.md, session 3). */
#define PF_KERNEL_MIN_ROW_BYTES OWB_MM_KERNEL_PF_MIN_ROW_BYTES
#define PF_AHEAD_BYTES 16384

static void rows_prefetched(const struct owb_mm_kernel *kern, const struct owb_mm_args *a,
                            int64_t r0, int64_t r1)
{
    const size_t rb = a->w_row_bytes;
    const int64_t g = rb >= PF_GROUP_BYTES ? 1 : (int64_t)(PF_GROUP_BYTES / rb);
    const uint8_t *base = a->w, *end = base + (size_t)r1 * rb;
    /* next cache line to prefetch */
    const uint8_t *pf = base + (((size_t)r0 * rb) & ~(size_t)63);
    for (int64_t r = r0; r < r1; r += g) {
        const int64_t e = r + g < r1 ? r + g : r1;
        const uint8_t *to = base + (size_t)e * rb;
        to = (size_t)(end - to) > PF_AHEAD_BYTES ? to + PF_AHEAD_BYTES : end;
        for (; pf < to; pf += 64)
            __builtin_prefetch(pf, 0, 2);
        kern->rows(a, r, e);
    }
}

/* Whether kern prefetches rows of rb bytes itself (see PF_KERNEL_MIN_ROW_BYTES). */
static bool kern_prefetches(const struct owb_mm_kernel *kern, size_t rb)
{
    if (kern->isa == OWB_ISA_AVX512 && rb > OWB_MM_KERNEL_PF_MIN_ROW_BYTES_INT512 &&
        (kern->wtype == OWB_TYPE_Q4_0 || kern->wtype == OWB_TYPE_Q8_0 ||
         kern->wtype == OWB_TYPE_MXFP4 || kern->wtype == OWB_TYPE_Q4_K ||
         kern->wtype == OWB_TYPE_Q6_K))
        return true;
    if (rb <= PF_KERNEL_MIN_ROW_BYTES)
        return false;
    if (kern->isa == OWB_ISA_AVX512 &&
        (kern->wtype == OWB_TYPE_F16 || kern->wtype == OWB_TYPE_BF16)) /* not f32: measured worse */
        return true;
    return (kern->isa == OWB_ISA_AVX512 || kern->isa == OWB_ISA_AVX2) &&
           (kern->wtype == OWB_TYPE_Q4_0 || kern->wtype == OWB_TYPE_Q8_0 ||
            kern->wtype == OWB_TYPE_MXFP4 || kern->wtype == OWB_TYPE_Q4_K ||
            kern->wtype == OWB_TYPE_Q6_K);
}

static void run_rows(const struct owb_matmul_plan *p, struct ref_args *ra, int64_t r0, int64_t r1)
{
    if (p->kern == &kern_ref_dot)
        rows_ref_dot(&ra->a, r0, r1);
    else if (p->kern == &kern_ref_dequant)
        rows_ref_dequant(&ra->a, r0, r1);
    else if (p->batch <= OWB_MATMUL_GEMV_MAX_BATCH && ra->a.w_row_bytes <= PF_MAX_ROW_BYTES &&
             !kern_prefetches(p->kern, ra->a.w_row_bytes))
        rows_prefetched(p->kern, &ra->a, r0, r1);
    else
        p->kern->rows(&ra->a, r0, r1);
}

/* REP8 weights for a kernel that reads rows as stored: each row unpacked into a row buffer and
 * run alone (the same operations on the same bytes, so the same bits; slower, which is why
 * owb_matmul_wlayout_best picks REP8 only where the kernels read it themselves). */
static void rows_unpacked(const struct owb_matmul_plan *p, const struct ref_args *ra, int64_t r0,
                          int64_t r1)
{
    static _Thread_local _Alignas(64) uint8_t row[OWB_WL_MAX_ROW_BYTES];
    const size_t rb = ra->a.w_row_bytes;
    struct ref_args g = *ra;
    g.a.w = row;
    g.a.wl = OWB_WL_ROWS;
    for (int64_t r = r0; r < r1; r++) {
        memcpy(row, ra->a.w + (size_t)r * rb, rb);
        rep8_row(row, p->k / OWB_QK, false);
        g.a.y = ra->a.y + r;
        run_rows(p, &g, 0, 1);
    }
}

void owb_matmul_rows(const struct owb_matmul_plan *p, const void *W, const void *act,
                     const float *X, int64_t ldx, float *Y, int64_t ldy, int64_t r0, int64_t r1)
{
    OWB_ASSERT(r0 >= 0 && r0 <= r1 && r1 <= p->m);
    if (r0 == r1)
        return;
    struct ref_args ra;
    ra.a.w = W;
    ra.a.w_row_bytes = owb_row_size(p->wtype, p->k);
    ra.a.k = p->k;
    ra.a.batch = p->batch;
    ra.a.act = p->act_row_bytes ? act : NULL;
    ra.a.act_row_bytes = p->act_row_bytes;
    ra.a.x = X;
    ra.a.ldx = ldx;
    ra.a.y = Y;
    ra.a.ldy = ldy;
    ra.a.wl = p->kern->rep8 ? (int)p->wl : OWB_WL_ROWS;
    ra.tr = owb_type_traits(p->wtype);
    if (p->wl != OWB_WL_ROWS && !p->kern->rep8)
        rows_unpacked(p, &ra, r0, r1);
    else
        run_rows(p, &ra, r0, r1);
}

int owb_matmul(enum owb_type wtype, const void *W, int64_t m, int64_t k, const float *X,
               int64_t batch, float *Y, char err[OWB_ERR_MAX])
{
    struct owb_matmul_plan p;
    int rc = owb_matmul_plan_init(&p, wtype, m, k, batch, owb_isa_active(), err);
    if (rc)
        return rc;
    void *act = NULL;
    size_t bytes = owb_matmul_act_bytes(&p);
    if (bytes) {
        act = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
        if (!act) {
            snprintf(err, OWB_ERR_MAX, "matmul: cannot allocate %zu bytes of activation scratch",
                     bytes);
            return OWB_E_NOMEM;
        }
    }
    owb_matmul_prepare(&p, X, k, act, 0, batch);
    owb_matmul_rows(&p, W, act, X, k, Y, m, 0, m);
    free(act);
    return OWB_OK;
}
