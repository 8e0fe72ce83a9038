/* SPDX-License-Identifier: MIT */
/*
 * plan.c: memory, rates, latencies and capacity from a shape and a machine (plan/plan.h). The
 * model is a roofline per step: a decode step of B sequences takes the larger of (weights it
 * touches + the K/V it reads) / (ceiling x efficiency) and its FLOPs / (peak x efficiency), plus
 * the all-reduces of tensor parallelism; docs/plan.md states every assumption.
 */
#include "plan/plan.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void owb_plan_cfg_default(struct owb_plan_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->kv_type = OWB_TYPE_F16;
    c->input_len = 512;
    c->output_len = 128;
    c->concurrency = 0;
    c->n_batch = 512;
    c->max_batch = 256;
}

double owb_plan_kv_elem_bytes(enum owb_type t)
{
    const struct owb_type_traits *tr = owb_type_traits(t);
    if (!tr || tr->blck_size <= 0)
        return 4.0;
    return (double)tr->type_size / (double)tr->blck_size;
}

/* The type attention's products run in: the engine (measured) computes in f32; a described
 * device in the KV cache's precision (f16/bf16), quantized caches dequantized to f16. */
static enum owb_type attn_type(const struct owb_hw *hw, enum owb_type kv)
{
    if (hw->measured)
        return OWB_TYPE_F32;
    return kv == OWB_TYPE_F32 || kv == OWB_TYPE_BF16 ? kv : OWB_TYPE_F16;
}

/* The efficiency of type t's matmuls at `batch` rows: dense (owb_hw_compute_eff_at) or MoE
 * experts (owb_hw_expert_eff_at, each chosen expert multiplying `batch` rows). */
static double eff_at(const struct owb_hw *hw, enum owb_type t, double batch, bool expert)
{
    return expert ? owb_hw_expert_eff_at(hw, (int)t, batch, NULL)
                  : owb_hw_compute_eff_at(hw, (int)t, batch);
}

/* Seconds for `flops` of type t's matmuls run `batch` activation rows at a time on tp devices
 * (the efficiency at that batch; expert: of the MoE experts); the main type's peak where t has
 * none. */
static double compute_time(const struct owb_hw *hw, enum owb_type t, enum owb_type main_t,
                           double flops, double batch, int tp, bool expert)
{
    if (flops <= 0)
        return 0;
    double peak = hw->peak_gop_per_s[t], eff = eff_at(hw, t, batch, expert);
    if (!(peak > 0)) {
        peak = hw->peak_gop_per_s[main_t];
        eff = eff_at(hw, main_t, batch, expert);
    }
    if (!(peak > 0) || !(eff > 0))
        return 0; /* no compute figure at all: memory-bound by assumption (docs/plan.md) */
    return flops / (peak * 1e9 * eff * tp);
}

/* Seconds for the dense matmuls of type t when `batch` tokens each take `flops` FLOPs of them:
 * each of the model's matrix shapes of that type at the rate of its own GEMMs
 * (owb_hw_shape_eff_at), the FLOPs of shapes not listed at the type's curve. */
static double dense_time(const struct owb_shape *s, const struct owb_hw *hw, enum owb_type t,
                         double flops, double batch, int tp)
{
    if (flops <= 0)
        return 0;
    const double peak = hw->peak_gop_per_s[t];
    if (!(peak > 0))
        return compute_time(hw, t, s->main_type, flops, batch, tp, false);
    double time = 0, rest = flops;
    for (int i = 0; i < s->n_mats; i++) {
        const struct owb_shape_mat *mt = &s->mats[i];
        if (mt->type != t)
            continue;
        const double f = batch * mt->flop_tok > rest ? rest : batch * mt->flop_tok;
        const double eff = owb_hw_shape_eff_at(hw, (int)t, mt->m, mt->k, batch);
        if (!(eff > 0))
            continue;
        time += f / (peak * 1e9 * eff * tp);
        rest -= f;
    }
    return time + compute_time(hw, t, s->main_type, rest, batch, tp, false);
}

/* The efficiency the dense matmuls of type t reach at `batch` rows over the model's matrices:
 * their FLOPs over the time dense_time gives them at the peak (FLOP-weighted harmonic mean). */
static double dense_eff(const struct owb_shape *s, const struct owb_hw *hw, enum owb_type t,
                        double batch)
{
    const double f = batch * (s->flop_tok[t] - s->flop_expert_tok[t]);
    const double time = dense_time(s, hw, t, f, batch, 1);
    if (!(f > 0) || !(time > 0) || !(hw->peak_gop_per_s[t] > 0))
        return owb_hw_compute_eff_at(hw, (int)t, batch);
    return f / (hw->peak_gop_per_s[t] * 1e9 * time);
}

/* The CPU share step times are divided by (1 unless asked to apply the measured one). */
static double share(const struct owb_hw *hw)
{
    return hw->apply_cpu_share && hw->cpu_share > 0 ? hw->cpu_share : 1.0;
}

static double mem_time(const struct owb_hw *hw, enum owb_type t, double bytes, int tp)
{
    return bytes / (hw->read_gb_per_s * 1e9 * hw->bw_eff[t] * tp);
}

/* Reading type t's dense bytes b (the layers' matrices, the output, an embedding row): each matrix
 * shape of the model whose GEMV hw measured at its own efficiency, the rest at the type's.
 * *nshapes: the shapes that had their own. */
static double dense_mem_time(const struct owb_shape *s, const struct owb_hw *hw, enum owb_type t,
                             double b, int tp, int *nshapes)
{
    double rest = b, time = 0;
    int n = 0;
    for (int i = 0; i < s->n_mats; i++) {
        const struct owb_shape_mat *mt = &s->mats[i];
        const double e = mt->type == t ? owb_hw_gemv_eff(hw, (int)t, mt->m, mt->k) : -1;
        if (!(e > 0) || mt->k <= 0)
            continue;
        /* flop_tok = 2 m k x the matrices of this shape: rows of owb_row_size(t, k) bytes */
        double bytes = mt->flop_tok / (2.0 * (double)mt->k) * (double)owb_row_size(t, mt->k);
        bytes = bytes < rest ? bytes : rest;
        time += bytes / (hw->read_gb_per_s * 1e9 * e * tp);
        rest -= bytes;
        n++;
    }
    if (nshapes)
        *nshapes = n;
    return time + (rest > 0 ? mem_time(hw, t, rest, tp) : 0);
}

/* Two all-reduces of the residual (bf16) per layer across tp devices: ring time + latency. */
static double comm_time(const struct owb_shape *s, const struct owb_hw *hw, int tp, double tokens)
{
    if (tp <= 1 || hw->link_gb_per_s <= 0)
        return 0;
    const double bytes = tokens * (double)s->n_embd * 2.0;
    const double one =
        hw->link_latency_us * 1e-6 + 2.0 * (tp - 1) / tp * bytes / (hw->link_gb_per_s * 1e9);
    return 2.0 * (double)s->n_layer * one;
}

void owb_plan_decode_step(const struct owb_shape *s, const struct owb_hw *hw, enum owb_type kv_type,
                          int tp, double batch, int64_t pos, struct owb_plan_step *o)
{
    const double ex = owb_shape_distinct_experts(s, batch);
    const enum owb_type at = attn_type(hw, kv_type);
    memset(o, 0, sizeof *o);
    for (int t = 0; t < OWB_TYPE_COUNT; t++) {
        const double b = (double)s->read_dense[t] + ex * (double)s->read_expert[t];
        const double fe = batch * s->flop_expert_tok[t]; /* experts: fewer rows per GEMM */
        double f = batch * s->flop_tok[t] - fe;
        if ((enum owb_type)t == s->output_type)
            f += batch * s->output_flop_per_row;
        if (b > 0)
            o->mem_s +=
                dense_mem_time(s, hw, (enum owb_type)t, (double)s->read_dense[t], tp, NULL) +
                mem_time(hw, (enum owb_type)t, ex * (double)s->read_expert[t], tp);
        /* batch 1 runs the GEMV path, whose measured efficiency (against the read ceiling)
         * already carries its arithmetic; batches run the GEMM path at the compute peak */
        if (batch > 1)
            o->compute_s += dense_time(s, hw, (enum owb_type)t, f, batch, tp) +
                            compute_time(hw, (enum owb_type)t, s->main_type, fe,
                                         owb_shape_tokens_per_expert(s, batch), tp, true);
        f += fe;
        o->bytes += b;
        o->flops += f;
    }
    const double kvb = batch * owb_shape_kv_elems_at(s, pos) * owb_plan_kv_elem_bytes(kv_type);
    const double af = batch * owb_shape_keys_at(s, pos) * s->attn_flop_per_key;
    o->mem_s += mem_time(hw, s->main_type, kvb, tp);
    o->compute_s += compute_time(hw, at, s->main_type, af, batch, tp, false);
    o->bytes += kvb;
    o->flops += af;
    o->mem_s /= share(hw); /* a shared machine gives the engine a share of its CPUs */
    o->compute_s /= share(hw);
    o->comm_s = comm_time(s, hw, tp, batch);
    o->s = fmax(o->mem_s, o->compute_s) + o->comm_s;
}

double owb_plan_prefill_s(const struct owb_shape *s, const struct owb_hw *hw, enum owb_type kv_type,
                          int tp, int64_t pos0, int64_t n, int64_t chunk)
{
    double total = 0;
    const enum owb_type at = attn_type(hw, kv_type);
    if (chunk <= 0)
        chunk = n;
    for (int64_t p = pos0; p < pos0 + n; p += chunk) {
        const int64_t c = pos0 + n - p < chunk ? pos0 + n - p : chunk;
        const bool last = p + c == pos0 + n;
        const double ex = owb_shape_distinct_experts(s, (double)c);
        double mem = 0, comp = 0;
        for (int t = 0; t < OWB_TYPE_COUNT; t++) {
            const double b = (double)s->read_dense[t] + ex * (double)s->read_expert[t];
            const double fe = (double)c * s->flop_expert_tok[t];
            double f = (double)c * s->flop_tok[t] - fe;
            if (last && (enum owb_type)t == s->output_type)
                f += s->output_flop_per_row;
            if (b > 0)
                mem += dense_mem_time(s, hw, (enum owb_type)t, (double)s->read_dense[t], tp, NULL) +
                       mem_time(hw, (enum owb_type)t, ex * (double)s->read_expert[t], tp);
            /* dense matrices multiply the whole chunk; each touched expert its share of it */
            comp += dense_time(s, hw, (enum owb_type)t, f, (double)c, tp) +
                    compute_time(hw, (enum owb_type)t, s->main_type, fe,
                                 owb_shape_tokens_per_expert(s, (double)c), tp, true);
        }
        /* attention: all FLOPs of the chunk but its matmuls and output row; at the measured
         * efficiency of the engine's prefill attention where there is one */
        const double af = owb_shape_flops(s, p, c, 0) - (double)c * owb_shape_flop_per_token(s);
        const double ae = owb_hw_attn_eff_at(hw, (double)(p + c), NULL);
        if (ae > 0 && hw->peak_gop_per_s[at] > 0)
            comp += af / (hw->peak_gop_per_s[at] * 1e9 * ae * tp);
        else
            comp += compute_time(hw, at, s->main_type, af, (double)c, tp, false);
        mem += mem_time(hw, s->main_type,
                        owb_shape_kv_elems(s, p + c) * owb_plan_kv_elem_bytes(kv_type), tp);
        total += fmax(mem, comp) / share(hw) + comm_time(s, hw, tp, (double)c);
    }
    return total;
}

double owb_plan_decode_tok_per_s(const struct owb_shape *s, const struct owb_hw *hw,
                                 enum owb_type kv_type, int tp, int64_t pos0, int64_t n)
{
    double t = 0;
    struct owb_plan_step st;
    for (int64_t p = pos0; p < pos0 + n; p++) {
        owb_plan_decode_step(s, hw, kv_type, tp, 1, p, &st);
        t += st.s;
    }
    return t > 0 ? (double)n / t : 0;
}

void owb_plan_memory(const struct owb_shape *s, const struct owb_hw *hw, enum owb_type kv_type,
                     int tp, int64_t ctx, int concurrency, int64_t n_batch, struct owb_plan_mem *o)
{
    const double kvb = owb_plan_kv_elem_bytes(kv_type);
    memset(o, 0, sizeof *o);
    o->weights_bytes = (double)s->weight_bytes;
    o->kv_bytes_per_token = (double)s->kv_elems_per_token_layer * (double)s->n_layer * kvb;
    o->kv_bytes_per_seq = owb_shape_kv_elems(s, ctx) * kvb;
    o->kv_bytes = o->kv_bytes_per_seq * concurrency;
    /* f32 activations of one prefill chunk (or the decode batch, if larger): residual, norm output,
     * attention output, q/k/v, the FFN's gate and up (MoE: the routed experts' share), one row of
     * logits per sequence; blocked attention keeps no score matrix */
    const double q = (double)(s->n_head * s->head_dim_k);
    const double kv = (double)(s->n_head_kv * (s->head_dim_k + s->head_dim_v));
    const double ff = (double)s->n_ff * (s->n_expert > 0 ? (double)s->n_expert_used : 1.0);
    const double rows = (double)(n_batch > concurrency ? n_batch : concurrency);
    o->activations_bytes = 4.0 * (rows * (3.0 * (double)s->n_embd + q + kv + 2.0 * ff) +
                                  (double)(concurrency > 1 ? concurrency : 1) * (double)s->n_vocab);
    o->total_bytes = o->weights_bytes + o->kv_bytes + o->activations_bytes;
    o->capacity_bytes = hw->memory_bytes * hw->usable_fraction * tp;
    o->fits = o->capacity_bytes > 0 && o->total_bytes <= o->capacity_bytes;
    const double free_b = o->capacity_bytes - o->weights_bytes - o->activations_bytes;
    o->max_concurrency =
        free_b > 0 && o->kv_bytes_per_seq > 0 ? (int64_t)floor(free_b / o->kv_bytes_per_seq) : 0;
    /* largest ctx with concurrency x kv(ctx) <= free: kv(ctx) is non-decreasing */
    int64_t lo = 0, hi = (int64_t)1 << 30;
    const double c = concurrency > 0 ? concurrency : 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo + 1) / 2;
        if (c * owb_shape_kv_elems(s, mid) * kvb <= free_b)
            lo = mid;
        else
            hi = mid - 1;
    }
    o->max_ctx = free_b > 0 ? lo : 0;
}

/* ---- the plan document ---- */

static int64_t ctx_of(const struct owb_plan_cfg *c)
{
    return c->ctx > 0 ? c->ctx : c->input_len + c->output_len;
}

/* One prediction row: figure, value, unit and where its ceiling and efficiency came from. */
static cJSON *pred(cJSON *arr, const char *figure, double value, const char *unit)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "figure", figure);
    cJSON_AddNumberToObject(o, "value", value);
    cJSON_AddStringToObject(o, "unit", unit);
    cJSON_AddItemToArray(arr, o);
    return o;
}

/* The ceiling and efficiency a compute-bound step of `batch` tokens used for the main type: its
 * peak, and the efficiency of its matmuls at that batch (a MoE model's main type is its experts':
 * the expert efficiency at the rows each chosen expert multiplies, added as rows_per_expert). */
static void add_compute_from(cJSON *o, const struct owb_shape *s, const struct owb_hw *hw,
                             double batch)
{
    char buf[512];
    const enum owb_type t = s->main_type;

    snprintf(buf, sizeof buf, "%.4g GOP/s: %s", hw->peak_gop_per_s[t], hw->peak_from[t]);
    cJSON_AddStringToObject(o, "ceiling", buf);
    if (s->n_expert > 0 && s->flop_expert_tok[t] > 0) {
        const char *from = NULL;
        const double rows = owb_shape_tokens_per_expert(s, batch);
        cJSON_AddNumberToObject(o, "efficiency", owb_hw_expert_eff_at(hw, (int)t, rows, &from));
        cJSON_AddStringToObject(o, "efficiency_from", from);
        cJSON_AddNumberToObject(o, "rows_per_expert", rows);
    } else if (hw->n_gemm > 0) {
        int n = 0;
        for (int i = 0; i < s->n_mats; i++)
            n += s->mats[i].type == t;
        snprintf(buf, sizeof buf,
                 "FLOP-weighted over the %d %s matrix shapes of the model: each its own "
                 "kernels/gemm/%s/<m>x<k> at batch %.0f where measured, else %s",
                 n, owb_type_name(t), owb_type_name(t), batch, hw->compute_eff_from[t]);
        cJSON_AddNumberToObject(o, "efficiency", dense_eff(s, hw, t, batch));
        cJSON_AddStringToObject(o, "efficiency_from", buf);
    } else {
        cJSON_AddNumberToObject(o, "efficiency", owb_hw_compute_eff_at(hw, (int)t, batch));
        cJSON_AddStringToObject(o, "efficiency_from", hw->compute_eff_from[t]);
    }
}

/* The measured prefill attention efficiency a chunk of `tokens` used, if any. */
static void add_attn_from(cJSON *o, const struct owb_hw *hw, double tokens)
{
    const char *from = NULL;
    const double ae = owb_hw_attn_eff_at(hw, tokens, &from);
    if (o && ae > 0) {
        cJSON_AddNumberToObject(o, "attention_efficiency", ae);
        cJSON_AddStringToObject(o, "attention_efficiency_from", from);
    }
}

/* The read efficiency a memory-bound prediction used for the main type's dense weights: the type's
 * (bw_eff), or byte-weighted over the matrix shapes whose own GEMVs were measured. */
static void add_bw_eff(cJSON *o, const struct owb_shape *s, const struct owb_hw *hw)
{
    const enum owb_type t = s->main_type;
    const double b = (double)s->read_dense[t];
    int n = 0;
    const double tm = b > 0 ? dense_mem_time(s, hw, t, b, 1, &n) : 0;
    if (n == 0 || !(tm > 0)) {
        cJSON_AddNumberToObject(o, "efficiency", hw->bw_eff[t]);
        cJSON_AddStringToObject(o, "efficiency_from", hw->bw_eff_from[t]);
        return;
    }
    char buf[OWB_HW_FROM + 160];
    cJSON_AddNumberToObject(o, "efficiency", b / (tm * hw->read_gb_per_s * 1e9));
    snprintf(buf, sizeof buf,
             "byte-weighted over the %s weights: %d matrix shape(s) at their own GEMV's median "
             "pct_of_ceiling (kernels/gemv/%s/<m>x<k>), the rest at %.2f (%s)",
             owb_type_name(t), n, owb_type_name(t), hw->bw_eff[t], hw->bw_eff_from[t]);
    cJSON_AddStringToObject(o, "efficiency_from", buf);
}

/* batch: the tokens a compute-bound step multiplies at once (prefill: its first chunk). */
static void pred_from(cJSON *o, const struct owb_shape *s, const struct owb_hw *hw, bool compute,
                      double batch)
{
    char buf[512];
    if (hw->apply_cpu_share && hw->cpu_share < 1) {
        cJSON_AddNumberToObject(o, "cpu_share", hw->cpu_share);
        cJSON_AddStringToObject(o, "cpu_share_from", hw->cpu_share_from);
    }
    if (compute) {
        add_compute_from(o, s, hw, batch);
    } else {
        snprintf(buf, sizeof buf, "%.4g GB/s: %s", hw->read_gb_per_s, hw->read_from);
        cJSON_AddStringToObject(o, "ceiling", buf);
        add_bw_eff(o, s, hw);
    }
}

struct served {
    double ttft_s, tpot_s, concurrency, util;
    bool ok;
    char why[160];
};

/* Steady state of one replica at rate lambda (docs/plan.md): prefill utilization u = lambda x
 * prefill time; TTFT = prefill x (1 + u / (2 (1 - u))) (M/D/1 wait); TPOT = decode step at the
 * concurrency / (1 - u); concurrency = lambda x (TTFT + output_len x TPOT) (Little), iterated. */
static void serve_at(const struct owb_shape *s, const struct owb_hw *hw,
                     const struct owb_plan_cfg *c, int tp, double lambda, struct served *o)
{
    const double pf = owb_plan_prefill_s(s, hw, c->kv_type, tp, 0, c->input_len, c->n_batch);
    const int64_t pos = c->input_len + c->output_len / 2;
    struct owb_plan_step st;
    memset(o, 0, sizeof *o);
    o->util = lambda * pf;
    if (o->util >= 1) {
        snprintf(o->why, sizeof o->why, "prefill alone needs %.2f of the replica's time", o->util);
        return;
    }
    double conc = 1;
    for (int it = 0; it < 100; it++) {
        owb_plan_decode_step(s, hw, c->kv_type, tp, fmax(conc, 1), pos, &st);
        o->ttft_s = pf * (1 + o->util / (2 * (1 - o->util)));
        o->tpot_s = st.s / (1 - o->util);
        double next = lambda * (o->ttft_s + (double)c->output_len * o->tpot_s);
        if (fabs(next - conc) < 1e-6 * fmax(1, conc)) {
            conc = next;
            break;
        }
        conc = next;
    }
    o->concurrency = conc;
    struct owb_plan_mem m;
    owb_plan_memory(s, hw, c->kv_type, tp, ctx_of(c), (int)ceil(fmax(conc, 1)), c->n_batch, &m);
    if (!m.fits)
        snprintf(o->why, sizeof o->why, "%.0f sequences of %lld positions do not fit", ceil(conc),
                 (long long)ctx_of(c));
    else if (c->slo_tpot_ms > 0 && o->tpot_s * 1e3 > c->slo_tpot_ms)
        snprintf(o->why, sizeof o->why, "TPOT %.1f ms > %.1f ms", o->tpot_s * 1e3, c->slo_tpot_ms);
    else if (c->slo_ttft_ms > 0 && o->ttft_s * 1e3 > c->slo_ttft_ms)
        snprintf(o->why, sizeof o->why, "TTFT %.1f ms > %.1f ms", o->ttft_s * 1e3, c->slo_ttft_ms);
    else
        o->ok = true;
}

/* Largest rate one replica of tp devices serves within the SLOs; 0 when none. */
static double max_rate(const struct owb_shape *s, const struct owb_hw *hw,
                       const struct owb_plan_cfg *c, int tp, char *why, size_t why_len)
{
    const double pf = owb_plan_prefill_s(s, hw, c->kv_type, tp, 0, c->input_len, c->n_batch);
    double lo = 0, hi = pf > 0 ? 1.0 / pf : 1e6;
    struct served sv;
    serve_at(s, hw, c, tp, hi * 1e-6, &sv);
    if (!sv.ok) {
        snprintf(why, why_len, "%s", sv.why);
        return 0;
    }
    for (int it = 0; it < 60; it++) {
        double mid = 0.5 * (lo + hi);
        serve_at(s, hw, c, tp, mid, &sv);
        if (sv.ok)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static cJSON *model_json(const struct owb_shape *s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "name", s->name);
    cJSON_AddStringToObject(o, "arch", s->arch);
    cJSON_AddStringToObject(o, "main_type", owb_type_name(s->main_type));
    cJSON_AddNumberToObject(o, "n_params", (double)s->n_params);
    cJSON_AddNumberToObject(o, "n_layer", (double)s->n_layer);
    cJSON_AddNumberToObject(o, "n_embd", (double)s->n_embd);
    cJSON_AddNumberToObject(o, "n_head", (double)s->n_head);
    cJSON_AddNumberToObject(o, "n_head_kv", (double)s->n_head_kv);
    cJSON_AddNumberToObject(o, "head_dim", (double)s->head_dim_k);
    cJSON_AddNumberToObject(o, "n_vocab", (double)s->n_vocab);
    cJSON_AddNumberToObject(o, "n_ctx_train", (double)s->n_ctx_train);
    cJSON_AddNumberToObject(o, "n_expert", (double)s->n_expert);
    cJSON_AddNumberToObject(o, "n_expert_used", (double)s->n_expert_used);
    cJSON_AddNumberToObject(o, "n_layer_window", (double)s->n_layer_window);
    cJSON_AddNumberToObject(o, "window", (double)s->window);
    cJSON_AddNumberToObject(o, "weights_bytes", (double)s->weight_bytes);
    cJSON_AddNumberToObject(o, "decode_read_bytes", (double)owb_shape_decode_read_bytes(s));
    cJSON_AddNumberToObject(o, "flop_per_token", owb_shape_flop_per_token(s));
    cJSON_AddNumberToObject(o, "kv_elems_per_token_layer", (double)s->kv_elems_per_token_layer);
    return o;
}

static cJSON *mem_json(const struct owb_plan_mem *m, int64_t ctx, int conc, int tp)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "tp", tp);
    cJSON_AddNumberToObject(o, "ctx", (double)ctx);
    cJSON_AddNumberToObject(o, "concurrency", conc);
    cJSON_AddNumberToObject(o, "weights_bytes", m->weights_bytes);
    cJSON_AddNumberToObject(o, "kv_bytes_per_token", m->kv_bytes_per_token);
    cJSON_AddNumberToObject(o, "kv_bytes_per_seq", m->kv_bytes_per_seq);
    cJSON_AddNumberToObject(o, "kv_bytes", m->kv_bytes);
    cJSON_AddNumberToObject(o, "activations_bytes", m->activations_bytes);
    cJSON_AddNumberToObject(o, "total_bytes", m->total_bytes);
    cJSON_AddNumberToObject(o, "capacity_bytes", m->capacity_bytes);
    cJSON_AddBoolToObject(o, "fits", m->fits);
    cJSON_AddNumberToObject(o, "max_concurrency_at_ctx", (double)m->max_concurrency);
    cJSON_AddNumberToObject(o, "max_ctx_at_concurrency", (double)m->max_ctx);
    return o;
}

int owb_plan_build(const struct owb_shape *s, const struct owb_hw *hw, const struct owb_plan_cfg *c,
                   cJSON *doc, char err[OWB_ERR_MAX])
{
    if (c->input_len < 1 || c->output_len < 1 || c->n_batch < 1) {
        owb_seterr(err, "--input-len, --output-len and the prefill chunk must be positive");
        return OWB_E_USAGE;
    }
    if (!(hw->read_gb_per_s > 0)) {
        owb_seterr(err, "%s: no memory bandwidth", hw->source);
        return OWB_E_USAGE;
    }
    const int64_t ctx = ctx_of(c);
    const int conc = c->concurrency > 0 ? c->concurrency : 1;
    cJSON *plan = cJSON_CreateObject();
    if (!plan)
        return OWB_E_NOMEM;
    cJSON_AddStringToObject(doc, "kind", "plan");
    cJSON_AddItemToObject(doc, "plan", plan);
    cJSON_AddItemToObject(plan, "model", model_json(s));
    enum owb_type types[OWB_TYPE_COUNT];
    int nt = 0;
    for (int t = 0; t < OWB_TYPE_COUNT; t++)
        if (s->read_dense[t] || s->read_expert[t])
            types[nt++] = (enum owb_type)t;
    cJSON_AddItemToObject(plan, "hardware", owb_hw_to_json(hw, types, nt));
    cJSON *w = cJSON_AddObjectToObject(plan, "workload");
    if (w) {
        cJSON_AddNumberToObject(w, "ctx", (double)ctx);
        cJSON_AddNumberToObject(w, "concurrency", conc);
        cJSON_AddNumberToObject(w, "input_len", (double)c->input_len);
        cJSON_AddNumberToObject(w, "output_len", (double)c->output_len);
        cJSON_AddStringToObject(w, "kv_type", owb_type_name(c->kv_type));
        cJSON_AddNumberToObject(w, "prefill_chunk", (double)c->n_batch);
        if (c->rate > 0)
            cJSON_AddNumberToObject(w, "rate_per_s", c->rate);
        if (c->slo_ttft_ms > 0)
            cJSON_AddNumberToObject(w, "slo_ttft_ms", c->slo_ttft_ms);
        if (c->slo_tpot_ms > 0)
            cJSON_AddNumberToObject(w, "slo_tpot_ms", c->slo_tpot_ms);
    }
    if (ctx > s->n_ctx_train && s->n_ctx_train > 0) {
        char note[160];
        snprintf(note, sizeof note, "ctx %lld is beyond the trained context %lld", (long long)ctx,
                 (long long)s->n_ctx_train);
        cJSON *notes = cJSON_AddArrayToObject(plan, "notes");
        cJSON_AddItemToArray(notes, cJSON_CreateString(note));
    }

    /* tensor parallel: the fewest devices of a node the weights fit on (1 on a measured CPU) */
    int tp = 1;
    struct owb_plan_mem m;
    owb_plan_memory(s, hw, c->kv_type, tp, ctx, conc, c->n_batch, &m);
    while (!m.fits && tp * 2 <= hw->devices_per_node) {
        tp *= 2;
        owb_plan_memory(s, hw, c->kv_type, tp, ctx, conc, c->n_batch, &m);
    }
    cJSON_AddItemToObject(plan, "memory", mem_json(&m, ctx, conc, tp));

    cJSON *preds = cJSON_AddArrayToObject(plan, "predictions");
    if (!preds)
        return OWB_E_NOMEM;
    struct owb_plan_step st;
    const double pf = owb_plan_prefill_s(s, hw, c->kv_type, tp, 0, c->input_len, c->n_batch);
    const double c0 = (double)(c->input_len < c->n_batch ? c->input_len : c->n_batch);
    cJSON *o = pred(preds, "prefill_tok_per_s", (double)c->input_len / pf, "tok/s");
    if (o) {
        cJSON_AddNumberToObject(o, "tokens", (double)c->input_len);
        cJSON_AddNumberToObject(o, "tp", tp);
        pred_from(o, s, hw, true, c0);
        add_attn_from(o, hw, c0);
    }
    const int64_t pos = c->input_len + c->output_len / 2;
    owb_plan_decode_step(s, hw, c->kv_type, tp, 1, pos, &st);
    o = pred(preds, "decode_tok_per_s", 1.0 / st.s, "tok/s");
    if (o) {
        cJSON_AddNumberToObject(o, "batch", 1);
        cJSON_AddNumberToObject(o, "pos", (double)pos);
        cJSON_AddNumberToObject(o, "bytes_per_token", st.bytes);
        cJSON_AddStringToObject(o, "bound", st.mem_s >= st.compute_s ? "memory" : "compute");
        pred_from(o, s, hw, st.mem_s < st.compute_s, 1);
    }
    o = pred(preds, "ttft_ms", pf * 1e3, "ms");
    if (o) {
        cJSON_AddStringToObject(o, "assumes", "prefill of input_len alone, no queueing");
        pred_from(o, s, hw, true, c0);
        add_attn_from(o, hw, c0);
    }
    owb_plan_decode_step(s, hw, c->kv_type, tp, conc, pos, &st);
    o = pred(preds, "tpot_ms", st.s * 1e3, "ms");
    if (o) {
        cJSON_AddNumberToObject(o, "batch", conc);
        cJSON_AddNumberToObject(o, "pos", (double)pos);
        cJSON_AddStringToObject(o, "bound", st.mem_s >= st.compute_s ? "memory" : "compute");
        pred_from(o, s, hw, st.mem_s < st.compute_s, conc);
    }
    o = pred(preds, "decode_tok_per_s_total", conc / st.s, "tok/s");
    if (o)
        cJSON_AddNumberToObject(o, "batch", conc);

    /* decode against batch size: memory-bound until the ridge */
    cJSON *sweep = cJSON_AddArrayToObject(plan, "decode_by_batch");
    int ridge = 0;
    for (int b = 1; sweep && b <= c->max_batch; b *= 2) {
        struct owb_plan_mem mb;
        owb_plan_decode_step(s, hw, c->kv_type, tp, b, pos, &st);
        owb_plan_memory(s, hw, c->kv_type, tp, ctx, b, c->n_batch, &mb);
        cJSON *r = cJSON_CreateObject();
        if (!r)
            return OWB_E_NOMEM;
        cJSON_AddNumberToObject(r, "batch", b);
        cJSON_AddNumberToObject(r, "tok_per_s_per_stream", 1.0 / st.s);
        cJSON_AddNumberToObject(r, "tok_per_s_total", b / st.s);
        cJSON_AddNumberToObject(r, "step_ms", st.s * 1e3);
        cJSON_AddNumberToObject(r, "memory_ms", st.mem_s * 1e3);
        cJSON_AddNumberToObject(r, "compute_ms", st.compute_s * 1e3);
        if (st.comm_s > 0)
            cJSON_AddNumberToObject(r, "comm_ms", st.comm_s * 1e3);
        if (s->n_expert > 0)
            cJSON_AddNumberToObject(r, "experts_per_layer", owb_shape_distinct_experts(s, b));
        cJSON_AddStringToObject(r, "bound", st.mem_s >= st.compute_s ? "memory" : "compute");
        cJSON_AddBoolToObject(r, "fits", mb.fits);
        cJSON_AddItemToArray(sweep, r);
        if (!ridge && st.compute_s > st.mem_s)
            ridge = b;
    }
    if (ridge)
        cJSON_AddNumberToObject(plan, "ridge_batch", ridge);
    else
        cJSON_AddNullToObject(plan, "ridge_batch");

    /* capacity for a rate */
    if (c->rate > 0) {
        cJSON *cap = cJSON_AddObjectToObject(plan, "capacity");
        if (!cap)
            return OWB_E_NOMEM;
        cJSON *opts = cJSON_AddArrayToObject(cap, "options");
        int best_dev = 0, best_tp = 0;
        double best_rate = 0;
        for (int t = 1; t <= hw->devices_per_node; t *= 2) {
            char why[160] = "";
            struct owb_plan_mem mt;
            owb_plan_memory(s, hw, c->kv_type, t, ctx, 1, c->n_batch, &mt);
            double r = mt.fits ? max_rate(s, hw, c, t, why, sizeof why) : 0;
            if (!mt.fits)
                snprintf(why, sizeof why, "weights + one sequence do not fit on %d device(s)", t);
            cJSON *e = cJSON_CreateObject();
            if (!e)
                return OWB_E_NOMEM;
            cJSON_AddNumberToObject(e, "tp", t);
            cJSON_AddNumberToObject(e, "rate_per_replica", r);
            if (r > 0) {
                int replicas = (int)ceil(c->rate / r - 1e-9);
                struct served sv;
                serve_at(s, hw, c, t, c->rate / replicas, &sv);
                cJSON_AddNumberToObject(e, "replicas", replicas);
                cJSON_AddNumberToObject(e, "devices", replicas * t);
                cJSON_AddNumberToObject(e, "ttft_ms", sv.ttft_s * 1e3);
                cJSON_AddNumberToObject(e, "tpot_ms", sv.tpot_s * 1e3);
                cJSON_AddNumberToObject(e, "concurrency_per_replica", sv.concurrency);
                if (!best_dev || replicas * t < best_dev) {
                    best_dev = replicas * t;
                    best_tp = t;
                    best_rate = r;
                }
            } else {
                cJSON_AddStringToObject(e, "why_not", why);
            }
            cJSON_AddItemToArray(opts, e);
        }
        cJSON_AddNumberToObject(cap, "rate_per_s", c->rate);
        if (best_dev) {
            cJSON_AddNumberToObject(cap, "tp", best_tp);
            cJSON_AddNumberToObject(cap, "rate_per_replica", best_rate);
            cJSON_AddNumberToObject(cap, "devices", best_dev);
            cJSON_AddNumberToObject(cap, "machines", ceil((double)best_dev / hw->devices_per_node));
        } else {
            cJSON_AddNullToObject(cap, "devices");
            cJSON_AddNullToObject(cap, "machines");
        }
    }
    return 0;
}

/* ---- printing ---- */

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : (double)NAN;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static const char *gb(double bytes, char *buf, size_t n)
{
    if (bytes >= 1e9)
        snprintf(buf, n, "%.2f GB", bytes / 1e9);
    else
        snprintf(buf, n, "%.1f MB", bytes / 1e6);
    return buf;
}

void owb_plan_print(const cJSON *doc, FILE *f)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(doc, "plan");
    const cJSON *mo = cJSON_GetObjectItemCaseSensitive(p, "model");
    const cJSON *hw = cJSON_GetObjectItemCaseSensitive(p, "hardware");
    const cJSON *me = cJSON_GetObjectItemCaseSensitive(p, "memory");
    const cJSON *x;
    char a[32], b[32], c[32];
    fprintf(f, "model     %s (%s, %s, %.2f B params, %g layers", jstr(mo, "name"), jstr(mo, "arch"),
            jstr(mo, "main_type"), jnum(mo, "n_params") / 1e9, jnum(mo, "n_layer"));
    if (jnum(mo, "n_expert") > 0)
        fprintf(f, ", %g of %g experts", jnum(mo, "n_expert_used"), jnum(mo, "n_expert"));
    if (jnum(mo, "n_layer_window") > 0)
        fprintf(f, ", %g layers windowed at %g", jnum(mo, "n_layer_window"), jnum(mo, "window"));
    fprintf(f, ")\nhardware  %s: %.1f GB/s read (%s)", jstr(hw, "name"), jnum(hw, "read_gb_per_s"),
            jstr(hw, "read_from"));
    if (jnum(hw, "threads") > 0)
        fprintf(f, ", %g threads", jnum(hw, "threads"));
    if (jnum(hw, "cpu_share") < 1)
        fprintf(f, ", CPU share %.2f (%s, %s)", jnum(hw, "cpu_share"), jstr(hw, "cpu_share_from"),
                cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(hw, "cpu_share_applied"))
                    ? "applied"
                    : "not applied");
    fprintf(f, "\n\nmemory (tp %g, ctx %g, concurrency %g)\n", jnum(me, "tp"), jnum(me, "ctx"),
            jnum(me, "concurrency"));
    fprintf(f, "  weights %s, KV %s per token (%s per sequence, %s in all), activations %s\n",
            gb(jnum(me, "weights_bytes"), a, sizeof a), gb(jnum(me, "kv_bytes_per_token"), b, 32),
            gb(jnum(me, "kv_bytes_per_seq"), c, sizeof c),
            gb(jnum(me, "kv_bytes"), (char[32]){0}, 32),
            gb(jnum(me, "activations_bytes"), (char[32]){0}, 32));
    fprintf(f,
            "  total %s of %s usable: %s; at this ctx up to %g sequences, at this concurrency "
            "up to %g positions\n",
            gb(jnum(me, "total_bytes"), a, sizeof a), gb(jnum(me, "capacity_bytes"), b, 32),
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(me, "fits")) ? "fits" : "DOES NOT FIT",
            jnum(me, "max_concurrency_at_ctx"), jnum(me, "max_ctx_at_concurrency"));
    fprintf(f, "\n%-24s %12s  %-8s %6s  %s\n", "prediction", "value", "bound", "eff",
            "ceiling / efficiency from");
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(p, "predictions"))
    {
        fprintf(f, "%-24s %12.4g  %-8s ", jstr(x, "figure"), jnum(x, "value"), jstr(x, "bound"));
        if (isnan(jnum(x, "efficiency")))
            fprintf(f, "%6s\n", "");
        else
            fprintf(f, "%6.2f  %s; %s\n", jnum(x, "efficiency"), jstr(x, "ceiling"),
                    jstr(x, "efficiency_from"));
    }
    fprintf(f, "\n%6s %14s %14s %10s  %-8s %s\n", "batch", "tok/s/stream", "tok/s total", "step ms",
            "bound", "fits");
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(p, "decode_by_batch"))
    {
        fprintf(f, "%6g %14.4g %14.4g %10.3f  %-8s %s\n", jnum(x, "batch"),
                jnum(x, "tok_per_s_per_stream"), jnum(x, "tok_per_s_total"), jnum(x, "step_ms"),
                jstr(x, "bound"),
                cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "fits")) ? "yes" : "no");
    }
    const cJSON *cap = cJSON_GetObjectItemCaseSensitive(p, "capacity");
    if (cap) {
        fprintf(f, "\ncapacity for %g requests/s\n", jnum(cap, "rate_per_s"));
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(cap, "options"))
        {
            if (jnum(x, "rate_per_replica") > 0)
                fprintf(f,
                        "  tp %g: %.3g req/s per replica, %g replicas = %g devices (TTFT %.1f ms, "
                        "TPOT %.2f ms, %.1f sequences each)\n",
                        jnum(x, "tp"), jnum(x, "rate_per_replica"), jnum(x, "replicas"),
                        jnum(x, "devices"), jnum(x, "ttft_ms"), jnum(x, "tpot_ms"),
                        jnum(x, "concurrency_per_replica"));
            else
                fprintf(f, "  tp %g: not possible: %s\n", jnum(x, "tp"), jstr(x, "why_not"));
        }
        if (jnum(cap, "devices") > 0)
            fprintf(f, "  => %g devices at tp %g, %g machine(s)\n", jnum(cap, "devices"),
                    jnum(cap, "tp"), jnum(cap, "machines"));
        else
            fprintf(f, "  => not possible on this hardware under these objectives\n");
    }
}

/* ---- checks ---- */

int owb_plan_check(const struct owb_shape *s, const struct owb_hw *hw, bool own_ceilings,
                   enum owb_type kv_type, const cJSON *measured, const char *path, cJSON *checks,
                   char err[OWB_ERR_MAX])
{
    int n = 0, rc = 0;
    const cJSON *b;
    struct owb_hw *h = malloc(sizeof *h);
    if (!h) {
        owb_seterr(err, "out of memory");
        return OWB_E_NOMEM;
    }
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(measured, "benchmarks"))
    {
        const char *name = jstr(b, "name");
        const bool dec = strncmp(name, "model/decode/", 13) == 0;
        const bool pre = strncmp(name, "model/prefill/", 14) == 0;
        if (!dec && !pre)
            continue;
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(b, "params");
        const double meas = jnum(cJSON_GetObjectItemCaseSensitive(b, "metrics"), "tok_per_s");
        const int t = (int)jnum(pr, "threads");
        const int64_t tokens = (int64_t)jnum(pr, dec ? "n_gen" : "n_prompt");
        const int64_t chunk = (int64_t)jnum(pr, "n_batch");
        if (!(meas > 0) || t < 1 || tokens < 1)
            continue;
        char cerr[OWB_ERR_MAX];
        if (hw) {
            *h = *hw;
            if (own_ceilings)
                (void)owb_hw_take_ceilings(h, measured, path, t, cerr); /* else hw's own */
        } else if ((rc = owb_hw_from_result(measured, path, t, h, err)) != 0) {
            break;
        }
        double predicted;
        if (dec)
            predicted = owb_plan_decode_tok_per_s(s, h, kv_type, 1, 0, tokens);
        else
            predicted = (double)tokens /
                        owb_plan_prefill_s(s, h, kv_type, 1, 0, tokens, chunk > 0 ? chunk : 512);
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            rc = OWB_E_NOMEM;
            break;
        }
        cJSON_AddStringToObject(o, "name", name);
        cJSON_AddStringToObject(o, "file", path);
        cJSON_AddStringToObject(o, "figure", dec ? "decode_tok_per_s" : "prefill_tok_per_s");
        cJSON_AddNumberToObject(o, "threads", t);
        cJSON_AddNumberToObject(o, "tokens", (double)tokens);
        cJSON_AddNumberToObject(o, "predicted", predicted);
        cJSON_AddNumberToObject(o, "measured", meas);
        cJSON_AddNumberToObject(o, "error_pct", 100.0 * (predicted - meas) / meas);
        cJSON_AddNumberToObject(o, "cpu_share", h->cpu_share);
        cJSON_AddBoolToObject(o, "cpu_share_applied", h->apply_cpu_share);
        cJSON_AddStringToObject(o, "cpu_share_from", h->cpu_share_from);
        cJSON_AddBoolToObject(o, "measured_valid",
                              cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "valid")));
        char buf[512];
        if (dec) {
            snprintf(buf, sizeof buf, "%.4g GB/s: %s", h->read_gb_per_s, h->read_from);
            cJSON_AddStringToObject(o, "ceiling", buf);
            add_bw_eff(o, s, h);
        } else {
            const int64_t ch = chunk > 0 ? chunk : 512;
            add_compute_from(o, s, h, (double)(tokens < ch ? tokens : ch));
            add_attn_from(o, h, (double)(tokens < ch ? tokens : ch));
        }
        cJSON_AddItemToArray(checks, o);
        n++;
    }
    free(h);
    return rc ? rc : n;
}

double owb_plan_print_checks(const cJSON *checks, FILE *f)
{
    const cJSON *x;
    double worst = 0;
    fprintf(f, "%-56s %12s %12s %9s %6s  %s\n", "measured figure", "predicted", "measured", "error",
            "share", "ceiling; efficiency");
    cJSON_ArrayForEach(x, checks)
    {
        double e = jnum(x, "error_pct");
        worst = fabs(e) > worst ? fabs(e) : worst;
        fprintf(f, "%-56s %12.4g %12.4g %+8.1f%% %6.2f  %s; %.2f (%s)%s\n", jstr(x, "name"),
                jnum(x, "predicted"), jnum(x, "measured"), e, jnum(x, "cpu_share"),
                jstr(x, "ceiling"), jnum(x, "efficiency"), jstr(x, "efficiency_from"),
                cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "measured_valid"))
                    ? ""
                    : " [measured figure not valid]");
    }
    return worst;
}
