/* SPDX-License-Identifier: MIT */
/*
 * test_plan.c: the planner on hand-computed cases. A Llama-2-7B-shaped q4_0 model on a 100 GB/s
 * machine decodes at the bytes-per-token bound computed by hand (~26-27 tok/s), gpt-oss-120b reads
 * ~5.0 GB per token (bf16 attention and output, 4 of 128 mxfp4 experts) and so decodes at ~600
 * tok/s on 3.0 TB/s, both within 2%; its KV cache at 32k counts the sliding-window layers at 128
 * positions; the decode sweep turns compute-bound at the ridge computed by hand; capacity for a
 * rate gives replicas that meet the SLO where one fewer would not; hardware figures from a
 * hand-made result document (best read ceiling at <= t threads before/after, median
 * efficiencies, the largest GEMM batch) and description errors.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "model/shape.h"
#include "model/synth.h"
#include "owb_test.h"
#include "plan/hw.h"
#include "plan/plan.h"

#define HAND_REL_TOL 0.02 /* the bound for hand-computed cases */

static double rel(double a, double b)
{
    return fabs(a - b) / fabs(b);
}

/* A described machine: bw GB/s read at efficiency 1, peak TOP/s for every precision. */
static void describe(struct owb_hw *hw, double bw, double tops, double ceff)
{
    char err[OWB_ERR_MAX], js[512];
    snprintf(js, sizeof js,
             "{\"schema\":\"owbench.hardware/1\",\"name\":\"hand\",\"kind\":\"gpu\","
             "\"memory_gb\":80,\"memory_bw_gb_per_s\":%g,\"peak_tflop_per_s\":{\"f32\":%g,"
             "\"f16\":%g,\"bf16\":%g,\"int8\":%g},\"efficiency\":{\"memory\":1,\"compute\":%g}}",
             bw, tops, tops, tops, tops, ceff);
    cJSON *d = cJSON_Parse(js);
    CHECK(d != NULL);
    CHECK_MSG(owb_hw_from_description(d, "hand.json", hw, err) == 0, "%s", err);
    cJSON_Delete(d);
}

/* Llama-2-7B in q4_0 (every matrix; norms f32), as a tensor table. */
static struct owb_gguf_tensor *llama7b(int64_t *n)
{
    enum { E = 4096, L = 32, F = 11008, V = 32000 };
    static char names[2 + L * 9 + 1][48];
    struct owb_gguf_tensor *t = calloc(2 + L * 9 + 1, sizeof *t);
    int k = 0;
#define T(ty, nd, a, b, ...)                                                                       \
    do {                                                                                           \
        snprintf(names[k], sizeof names[k], __VA_ARGS__);                                          \
        t[k].name = names[k];                                                                      \
        t[k].type = ty;                                                                            \
        t[k].n_dims = nd;                                                                          \
        t[k].ne[0] = a;                                                                            \
        t[k].ne[1] = b;                                                                            \
        t[k].ne[2] = t[k].ne[3] = 1;                                                               \
        t[k].n_elements = (int64_t)(a) * (b);                                                      \
        t[k].size_bytes = owb_row_size(ty, a) * (size_t)(b);                                       \
        k++;                                                                                       \
    } while (0)
    T(OWB_TYPE_Q4_0, 2, E, V, "token_embd.weight");
    for (int l = 0; l < L; l++) {
        T(OWB_TYPE_F32, 1, E, 1, "blk.%d.attn_norm.weight", l);
        T(OWB_TYPE_Q4_0, 2, E, E, "blk.%d.attn_q.weight", l);
        T(OWB_TYPE_Q4_0, 2, E, E, "blk.%d.attn_k.weight", l);
        T(OWB_TYPE_Q4_0, 2, E, E, "blk.%d.attn_v.weight", l);
        T(OWB_TYPE_Q4_0, 2, E, E, "blk.%d.attn_output.weight", l);
        T(OWB_TYPE_F32, 1, E, 1, "blk.%d.ffn_norm.weight", l);
        T(OWB_TYPE_Q4_0, 2, E, F, "blk.%d.ffn_gate.weight", l);
        T(OWB_TYPE_Q4_0, 2, E, F, "blk.%d.ffn_up.weight", l);
        T(OWB_TYPE_Q4_0, 2, F, E, "blk.%d.ffn_down.weight", l);
    }
    T(OWB_TYPE_F32, 1, E, 1, "output_norm.weight");
    T(OWB_TYPE_Q4_0, 2, E, V, "output.weight");
#undef T
    *n = k;
    return t;
}

static void check_7b(void)
{
    struct owb_shape s = {0};
    struct owb_hw hw;
    struct owb_plan_step st;
    char err[OWB_ERR_MAX];
    int64_t n;
    struct owb_gguf_tensor *t = llama7b(&n);
    snprintf(s.arch, sizeof s.arch, "llama");
    snprintf(s.name, sizeof s.name, "llama-2-7b-q4_0");
    s.n_layer = 32;
    s.n_embd = 4096;
    s.n_head = s.n_head_kv = 32;
    s.head_dim_k = s.head_dim_v = 128;
    s.n_ff = 11008;
    CHECK_MSG(owb_shape_account(&s, t, n, 32, err) == 0, "%s", err);
    free(t);
    /* by hand: q4_0 is 18 bytes per 32 weights */
    const double E = 4096, F = 11008, V = 32000, L = 32, q4 = 18.0 / 32.0;
    const double hand_bytes = L * (4 * E * E + 3 * E * F) * q4 + E * V * q4 /* output */ +
                              E * q4 /* one embedding row */ + (2 * L + 1) * E * 4 /* norms */;
    CHECK_MSG(rel((double)owb_shape_decode_read_bytes(&s), hand_bytes) < 1e-12, "%llu vs %.0f",
              (unsigned long long)owb_shape_decode_read_bytes(&s), hand_bytes);
    CHECK(s.main_type == OWB_TYPE_Q4_0);
    describe(&hw, 100, 1000, 0.5);
    owb_plan_decode_step(&s, &hw, OWB_TYPE_F16, 1, 1, 0, &st);
    const double hand_tps = 100e9 / hand_bytes; /* 26.9: the "about 26" */
    fprintf(stderr, "7B q4_0 on 100 GB/s: %.3f GB per token, %.2f tok/s (by hand %.2f)\n",
            st.bytes / 1e9, 1 / st.s, hand_tps);
    CHECK_MSG(rel(1 / st.s, hand_tps) < HAND_REL_TOL, "%.3f vs %.3f", 1 / st.s, hand_tps);
    CHECK(fabs(hand_tps - 26) < 1.5);
    CHECK(st.mem_s > st.compute_s);

    /* the ridge: compute-bound from B* = bytes x peak x eff / (bw x flops per token) on (KV at
     * position 2 is negligible) */
    describe(&hw, 100, 10, 0.5);
    const double flop_tok = owb_shape_flop_per_token(&s) + s.output_flop_per_row;
    const double bstar = hand_bytes * 10e12 * 0.5 / (100e9 * flop_tok);
    struct owb_plan_cfg cfg;
    owb_plan_cfg_default(&cfg);
    cfg.input_len = 1;
    cfg.output_len = 2;
    cfg.max_batch = 64;
    cJSON *doc = cJSON_CreateObject();
    CHECK(owb_plan_build(&s, &hw, &cfg, doc, err) == 0);
    const cJSON *plan = cJSON_GetObjectItem(doc, "plan");
    int ridge = (int)cJSON_GetObjectItem(plan, "ridge_batch")->valuedouble;
    int want = 1;
    while (want < bstar)
        want *= 2;
    fprintf(stderr, "ridge: B* %.2f by hand, first compute-bound batch %d\n", bstar, ridge);
    CHECK_MSG(ridge == want, "ridge %d, want %d", ridge, want);
    const cJSON *row;
    cJSON_ArrayForEach(row, cJSON_GetObjectItem(plan, "decode_by_batch"))
    {
        const double b = cJSON_GetObjectItem(row, "batch")->valuedouble;
        const char *bound = cJSON_GetObjectItem(row, "bound")->valuestring;
        CHECK(strcmp(bound, b < bstar ? "memory" : "compute") == 0);
    }
    cJSON_Delete(doc);
}

static void check_gpt_oss_120b(void)
{
    const struct owb_synth_preset *p = owb_synth_find("gpt-oss-120b");
    struct owb_synth_opts o;
    struct owb_shape s;
    struct owb_hw hw;
    struct owb_plan_step st;
    char err[OWB_ERR_MAX];
    owb_synth_opts_init(&o, p);
    CHECK_MSG(owb_shape_from_preset(p, &o, &s, err) == 0, "%s", err);
    /* by hand: attention and output bf16, router and every 1-D tensor and expert bias f32,
     * experts mxfp4 (17 bytes per 32), 4 of 128 experts per token */
    const double E = 2880, F = 2880, V = 201088, L = 36, Q = 64 * 64, KV = 8 * 64, X = 128;
    const double mx = 17.0 / 32.0, K = 4;
    const double attn = (E * Q + 2 * E * KV + Q * E) * 2 + (Q + 2 * KV + E) * 4 + 64 * 4;
    const double router = E * X * 4 + X * 4;
    const double expert = 3 * E * F * mx + (F + F + E) * 4;
    const double layer = attn + 2 * E * 4 + router + K * expert;
    const double hand = L * layer + E * V * 2 + E * 2 + E * 4;
    fprintf(stderr, "gpt-oss-120b: %.3f GB per token by hand, %.3f by the shape\n", hand / 1e9,
            (double)owb_shape_decode_read_bytes(&s) / 1e9);
    CHECK_MSG(rel((double)owb_shape_decode_read_bytes(&s), hand) < 1e-9, "%llu vs %.0f",
              (unsigned long long)owb_shape_decode_read_bytes(&s), hand);
    CHECK(rel(hand, 5.0e9) < HAND_REL_TOL); /* the "about 5.0 GB" */
    describe(&hw, 3000, 1000, 0.5);
    owb_plan_decode_step(&s, &hw, OWB_TYPE_F16, 1, 1, 0, &st);
    fprintf(stderr, "gpt-oss-120b on 3.0 TB/s: %.1f tok/s at batch 1\n", 1 / st.s);
    CHECK_MSG(rel(1 / st.s, 3000e9 / hand) < HAND_REL_TOL, "%.1f", 1 / st.s);
    CHECK(rel(1 / st.s, 600) < HAND_REL_TOL);

    /* KV at 32k, f16: 18 full layers hold 32768 positions, 18 windowed ones 128 */
    struct owb_plan_mem m;
    owb_plan_memory(&s, &hw, OWB_TYPE_F16, 1, 32768, 16, 512, &m);
    const double kvl = 8 * 64 * 2 * 2.0; /* K and V, 8 heads of 64, f16 */
    CHECK_NEAR(m.kv_bytes_per_seq, kvl * (18 * 32768.0 + 18 * 128.0), 0.5);
    CHECK_NEAR(m.kv_bytes, 16 * m.kv_bytes_per_seq, 1);
    CHECK(m.weights_bytes == (double)s.weight_bytes);
    CHECK(m.weights_bytes > 60e9 && m.weights_bytes < 70e9);
    /* 80 GB x 0.9: 65 GB of weights + 19 GB of KV does not fit on one, fits on two */
    CHECK(!m.fits);
    owb_plan_memory(&s, &hw, OWB_TYPE_F16, 2, 32768, 16, 512, &m);
    CHECK(m.fits);
    CHECK(m.max_concurrency >= 16);
    CHECK(16 * owb_shape_kv_elems(&s, m.max_ctx) * 2 <=
          m.capacity_bytes - m.weights_bytes - m.activations_bytes);
    CHECK(16 * owb_shape_kv_elems(&s, m.max_ctx + 1) * 2 >
          m.capacity_bytes - m.weights_bytes - m.activations_bytes);

    /* a batch reads more experts, never more than all of them */
    struct owb_plan_step s64;
    owb_plan_decode_step(&s, &hw, OWB_TYPE_F16, 1, 64, 0, &s64);
    CHECK(s64.bytes > st.bytes);
    CHECK(s64.bytes < owb_shape_step_read_bytes(&s, 128) + 64 * 2 * kvl * 36);
}

static void check_capacity(void)
{
    const struct owb_synth_preset *p = owb_synth_find("llama-3.1-8b");
    struct owb_synth_opts o;
    struct owb_shape s;
    struct owb_hw hw;
    struct owb_plan_cfg cfg;
    char err[OWB_ERR_MAX];
    owb_synth_opts_init(&o, p);
    o.type = OWB_TYPE_Q4_K;
    CHECK(owb_shape_from_preset(p, &o, &s, err) == 0);
    describe(&hw, 3350, 990, 0.5);
    owb_plan_cfg_default(&cfg);
    cfg.rate = 50;
    cfg.slo_tpot_ms = 50;
    cfg.slo_ttft_ms = 2000;
    cfg.input_len = 1024;
    cfg.output_len = 256;
    cJSON *doc = cJSON_CreateObject();
    CHECK_MSG(owb_plan_build(&s, &hw, &cfg, doc, err) == 0, "%s", err);
    const cJSON *cap = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "plan"), "capacity");
    CHECK(cap != NULL);
    const cJSON *opt = cJSON_GetArrayItem(cJSON_GetObjectItem(cap, "options"), 0);
    const double r = cJSON_GetObjectItem(opt, "rate_per_replica")->valuedouble;
    const double reps = cJSON_GetObjectItem(opt, "replicas")->valuedouble;
    fprintf(stderr, "8B q4_K, 50 req/s, TPOT <= 50 ms: %.2f req/s per GPU, %g GPUs\n", r, reps);
    CHECK(r > 0 && reps * r >= 50 && (reps - 1) * r < 50);
    CHECK(cJSON_GetObjectItem(opt, "tpot_ms")->valuedouble <= 50 + 1e-6);
    CHECK(cJSON_GetObjectItem(cap, "devices")->valuedouble == reps);
    cJSON_Delete(doc);
    /* an objective no load meets */
    doc = cJSON_CreateObject();
    cfg.slo_tpot_ms = 0.001;
    CHECK(owb_plan_build(&s, &hw, &cfg, doc, err) == 0);
    cap = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "plan"), "capacity");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(cap, "devices")));
    cJSON_Delete(doc);
}

static void add_bench(cJSON *doc, const char *name, const char *metric, double v, const char *pkey,
                      double pv)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "name", name);
    cJSON *pr = cJSON_AddObjectToObject(b, "params");
    if (pkey)
        cJSON_AddNumberToObject(pr, pkey, pv);
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(b, "metrics"), metric, v);
    cJSON_AddItemToArray(cJSON_GetObjectItem(doc, "benchmarks"), b);
}

/* Build the plan of s on hw (1 TB of memory, f32 KV, input_len tokens when > 0) into pd and return
 * its prediction of `figure`, or NULL. */
static const cJSON *plan_prediction(const struct owb_shape *s, struct owb_hw *hw, int64_t input_len,
                                    const char *figure, cJSON *pd)
{
    char err[OWB_ERR_MAX];
    struct owb_plan_cfg cfg;
    owb_plan_cfg_default(&cfg);
    if (input_len > 0)
        cfg.input_len = input_len;
    cfg.kv_type = OWB_TYPE_F32;
    hw->memory_bytes = 1e12;
    CHECK_MSG(owb_plan_build(s, hw, &cfg, pd, err) == 0, "%s", err);
    const cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItem(cJSON_GetObjectItem(pd, "plan"), "predictions"))
    {
        const cJSON *fig = cJSON_GetObjectItem(x, "figure");
        if (cJSON_IsString(fig) && strcmp(fig->valuestring, figure) == 0)
            return x;
    }
    return NULL;
}

static void check_from_result(void)
{
    cJSON *doc = cJSON_CreateObject();
    struct owb_hw *hw = malloc(sizeof *hw);
    char err[OWB_ERR_MAX];
    cJSON_AddArrayToObject(doc, "benchmarks");
    add_bench(doc, "stream/read/t1", "gb_per_s", 10, NULL, 0);
    add_bench(doc, "stream/read_pf/t2", "gb_per_s", 20, NULL, 0);
    add_bench(doc, "stream/read_pf/t2/after", "gb_per_s", 22, NULL, 0);
    add_bench(doc, "stream/read_streams4/t4", "gb_per_s", 30, NULL, 0);
    add_bench(doc, "stream/triad/t2", "gb_per_s", 99, NULL, 0); /* not a read kernel */
    add_bench(doc, "kernels/gemv/q4_0/8x8/t2", "pct_of_ceiling", 50, NULL, 0);
    add_bench(doc, "kernels/gemv/q4_0/8x16/t2", "pct_of_ceiling", 90, NULL, 0);
    add_bench(doc, "kernels/gemv/q4_0/16x8/t2", "pct_of_ceiling", 70, NULL, 0);
    add_bench(doc, "kernels/gemv/q4_0/16x8/t4", "pct_of_ceiling", 10, NULL, 0); /* other t */
    add_bench(doc, "kernels/gemm/q4_0/8x8/b64/t2", "pct_of_compute_peak", 10, "batch", 64);
    add_bench(doc, "kernels/gemm/q4_0/8x8/b512/t2", "pct_of_compute_peak", 20, "batch", 512);
    for (int k = 0; k < 3; k++) {
        static const char *kinds[] = {"int8_dot", "f32_fma", "q8_block"};
        char n[64];
        snprintf(n, sizeof n, "kernels/peak/%s/t2", kinds[k]);
        add_bench(doc, n, "gop_per_s_best", 150, NULL, 0);
        snprintf(n, sizeof n, "model/peak/%s/t1", kinds[k]);
        add_bench(doc, n, "gop_per_s_best", 100, NULL, 0);
        snprintf(n, sizeof n, "kernels/peak/%s/t4", kinds[k]);
        add_bench(doc, n, "gop_per_s_best", 400, NULL, 0);
    }
    CHECK_MSG(owb_hw_from_result(doc, "r.json", 2, hw, err) == 0, "%s", err);
    CHECK(hw->read_gb_per_s == 22 && strstr(hw->read_from, "stream/read_pf/t2/after of r.json"));
    CHECK_NEAR(hw->bw_eff[OWB_TYPE_Q4_0], 0.70, 1e-12);
    CHECK_NEAR(hw->compute_eff[OWB_TYPE_Q4_0], 0.20, 1e-12);
    CHECK(strstr(hw->compute_eff_from[OWB_TYPE_Q4_0], "b512"));
    /* the efficiency curve: measured batches, log-linear between them, held at the ends */
    CHECK(hw->n_eff_batch[OWB_TYPE_Q4_0] == 2);
    CHECK_NEAR(owb_hw_compute_eff_at(hw, OWB_TYPE_Q4_0, 64), 0.10, 1e-12);
    CHECK_NEAR(owb_hw_compute_eff_at(hw, OWB_TYPE_Q4_0, 512), 0.20, 1e-12);
    CHECK_NEAR(owb_hw_compute_eff_at(hw, OWB_TYPE_Q4_0, sqrt(64.0 * 512.0)), 0.15, 1e-12);
    CHECK_NEAR(owb_hw_compute_eff_at(hw, OWB_TYPE_Q4_0, 8), 0.10, 1e-12);
    CHECK_NEAR(owb_hw_compute_eff_at(hw, OWB_TYPE_Q4_0, 4096), 0.20, 1e-12);
    CHECK(hw->n_eff_batch[OWB_TYPE_Q8_0] == 0); /* not measured: the flat median */
    CHECK_NEAR(owb_hw_compute_eff_at(hw, OWB_TYPE_Q8_0, 64), hw->compute_eff[OWB_TYPE_Q8_0], 1e-12);
    CHECK(hw->peak_gop_per_s[OWB_TYPE_Q4_0] == 150);
    CHECK(hw->cpu_share == 1); /* no probe in the document */
    /* a type not measured takes the median of the measured ones, and says so */
    CHECK_NEAR(hw->bw_eff[OWB_TYPE_Q8_0], 0.70, 1e-12);
    CHECK(strstr(hw->bw_eff_from[OWB_TYPE_Q8_0], "not measured"));
    /* a CPU share probed at 2 threads, when applied, halves what the machine sustains */
    {
        struct owb_shape sh;
        struct owb_synth_opts so;
        struct owb_plan_step a, b;
        const struct owb_synth_preset *tp = owb_synth_find("tiny");
        owb_synth_opts_init(&so, tp);
        so.type = OWB_TYPE_Q4_0;
        CHECK(owb_shape_from_preset(tp, &so, &sh, err) == 0);
        owb_plan_decode_step(&sh, hw, OWB_TYPE_F32, 1, 1, 10, &a);
        const double pf_a = owb_plan_prefill_s(&sh, hw, OWB_TYPE_F32, 1, 0, 64, 512);
        add_bench(doc, "plan/cpu_share/t2", "cpu_share", 0.5, NULL, 0);
        CHECK(owb_hw_from_result(doc, "r.json", 2, hw, err) == 0);
        CHECK(hw->cpu_share == 0.5 && strstr(hw->cpu_share_from, "plan/cpu_share/t2"));
        owb_plan_decode_step(&sh, hw, OWB_TYPE_F32, 1, 1, 10, &b);
        CHECK(b.s == a.s); /* recorded, not applied unless asked */
        hw->apply_cpu_share = true;
        owb_plan_decode_step(&sh, hw, OWB_TYPE_F32, 1, 1, 10, &b);
        CHECK_NEAR(b.s, 2 * a.s, 1e-12 * a.s);
        CHECK_NEAR(owb_plan_prefill_s(&sh, hw, OWB_TYPE_F32, 1, 0, 64, 512), 2 * pf_a, 1e-9 * pf_a);
    }
    /* threads 0: the most threads with a read ceiling */
    CHECK(owb_hw_from_result(doc, "r.json", 0, hw, err) == 0);
    CHECK(hw->threads == 4 && hw->read_gb_per_s == 30 && hw->peak_gop_per_s[OWB_TYPE_Q4_0] == 400);
    CHECK_NEAR(hw->bw_eff[OWB_TYPE_Q4_0], 0.10, 1e-12);
    /* nothing at or below the thread count */
    cJSON *empty = cJSON_CreateObject();
    cJSON_AddArrayToObject(empty, "benchmarks");
    CHECK(owb_hw_from_result(empty, "e.json", 2, hw, err) == OWB_E_FORMAT && strstr(err, "e.json"));
    cJSON_Delete(empty);
    cJSON_Delete(doc);

    /* description errors name the file and the field */
    static const struct {
        const char *json, *want;
    } bad[] = {
        {"{\"name\":\"x\",\"kind\":\"gpu\",\"memory_bw_gb_per_s\":1,\"peak_tflop_per_s\":{\"f16\":"
         "1}}",
         "memory_gb"},
        {"{\"name\":\"x\",\"kind\":\"tpu\",\"memory_gb\":1,\"memory_bw_gb_per_s\":1}", "kind"},
        {"{\"name\":\"x\",\"kind\":\"gpu\",\"memory_gb\":1,\"memory_bw_gb_per_s\":-3,"
         "\"peak_tflop_per_s\":{\"f16\":1}}",
         "memory_bw_gb_per_s"},
        {"{\"name\":\"x\",\"kind\":\"gpu\",\"memory_gb\":1,\"memory_bw_gb_per_s\":1}",
         "peak_tflop_per_s"},
        {"{\"name\":\"x\",\"kind\":\"gpu\",\"memory_gb\":1,\"memory_bw_gb_per_s\":1,"
         "\"peak_tflop_per_s\":{\"f16\":1},\"devices_per_node\":8}",
         "interconnect"},
        {"{\"name\":\"x\",\"kind\":\"gpu\",\"memory_gb\":1,\"memory_bw_gb_per_s\":1,"
         "\"peak_tflop_per_s\":{\"f16\":1},\"efficiency\":{\"memory\":1.5}}",
         "efficiency"},
    };
    for (size_t i = 0; i < OWB_ARRAY_LEN(bad); i++) {
        cJSON *d = cJSON_Parse(bad[i].json);
        CHECK(d != NULL);
        err[0] = '\0';
        CHECK_MSG(owb_hw_from_description(d, "bad.json", hw, err) == OWB_E_FORMAT &&
                      strstr(err, "bad.json") && strstr(err, bad[i].want),
                  "case %zu: %s", i, err);
        cJSON_Delete(d);
    }
    free(hw);
}

/* A MoE chunk: each touched expert multiplies chunk k / E(chunk) rows, so its FLOPs run at the
 * efficiency of that batch, not the chunk's (the planner over-predicted gpt-oss-20b prefill by
 * 42-52% with the chunk's efficiency: docs/plan.md). */
static void check_moe_prefill(void)
{
    const struct owb_synth_preset *p = owb_synth_find("gpt-oss-20b");
    struct owb_synth_opts o;
    struct owb_shape s;
    char err[OWB_ERR_MAX];
    owb_synth_opts_init(&o, p);
    CHECK_MSG(owb_shape_from_preset(p, &o, &s, err) == 0, "%s", err);
    double fe = 0;
    for (int t = 0; t < OWB_TYPE_COUNT; t++)
        fe += s.flop_expert_tok[t];
    /* 24 layers x 4 experts x 3 matrices of 2880 x 2880 */
    CHECK(rel(fe, 24.0 * 4 * 3 * 2 * 2880.0 * 2880.0) < 1e-12);
    CHECK(rel(s.flop_expert_tok[OWB_TYPE_MXFP4], fe) < 1e-12);
    const double tpe = owb_shape_tokens_per_expert(&s, 512);
    CHECK(rel(tpe, 64) < 1e-9); /* 512 x 4 / (32 (1 - (7/8)^512)) */
    CHECK(owb_shape_tokens_per_expert(&s, 1) == 1);

    cJSON *doc = cJSON_CreateObject();
    struct owb_hw *hw = malloc(sizeof *hw), *flat = malloc(sizeof *flat);
    cJSON_AddArrayToObject(doc, "benchmarks");
    add_bench(doc, "stream/read/t1", "gb_per_s", 1000, NULL, 0); /* compute-bound at 512 */
    add_bench(doc, "kernels/gemm/mxfp4/8x8/b16/t1", "pct_of_compute_peak", 5, "batch", 16);
    add_bench(doc, "kernels/gemm/mxfp4/8x8/b512/t1", "pct_of_compute_peak", 50, "batch", 512);
    add_bench(doc, "kernels/gemm/bf16/8x8/b512/t1", "pct_of_compute_peak", 50, "batch", 512);
    add_bench(doc, "kernels/peak/int8_dot/t1", "gop_per_s_best", 1000, NULL, 0);
    add_bench(doc, "kernels/peak/f32_fma/t1", "gop_per_s_best", 1000, NULL, 0);
    CHECK_MSG(owb_hw_from_result(doc, "m.json", 1, hw, err) == 0, "%s", err);
    *flat = *hw;
    flat->n_eff_batch[OWB_TYPE_MXFP4] = 0; /* the chunk's efficiency for every expert */
    const double eff = owb_hw_compute_eff_at(hw, OWB_TYPE_MXFP4, tpe);
    CHECK_NEAR(eff, 0.05 + 0.45 * log(tpe / 16) / log(32.0), 1e-9);
    const double a = owb_plan_prefill_s(&s, hw, OWB_TYPE_F32, 1, 0, 512, 512);
    const double b = owb_plan_prefill_s(&s, flat, OWB_TYPE_F32, 1, 0, 512, 512);
    const double want = 512 * fe / 1e12 * (1 / eff - 1 / 0.5);
    CHECK_MSG(rel(a - b, want) < 1e-9, "%.6g s vs %.6g s more", a - b, want);
    free(hw);
    free(flat);
    cJSON_Delete(doc);
}

/* Experts measured as the engine runs them (kernels/experts/...) give expert FLOPs their own
 * curve, by the rows each chosen expert multiplies; the dense matrices keep the GEMM curve. Hand
 * computed: gpt-oss-20b, a 256-token prompt in one chunk: E(256) = 32 (1 - (7/8)^256) = 32.000
 * experts, 256 x 4 / 32 = 32 rows each. The expert curve (8 rows: 10%, 64: 40%) at 32 is
 * 0.1 + 0.3 log(4) / log(8) = 0.30, so the experts' 256 x 4.7776 GFLOP take 4.077 s at
 * 1 TOP/s; the GEMM curve (b16: 5%, b512: 50%) at 32 is 0.05 + 0.45 log(2) / log(32) = 0.14:
 * 8.736 s. */
static void check_expert_curve(void)
{
    const struct owb_synth_preset *p = owb_synth_find("gpt-oss-20b");
    struct owb_synth_opts o;
    struct owb_shape s;
    char err[OWB_ERR_MAX];
    owb_synth_opts_init(&o, p);
    CHECK_MSG(owb_shape_from_preset(p, &o, &s, err) == 0, "%s", err);
    cJSON *doc = cJSON_CreateObject();
    struct owb_hw *hw = malloc(sizeof *hw), *gemm = malloc(sizeof *gemm);
    cJSON_AddArrayToObject(doc, "benchmarks");
    add_bench(doc, "stream/read/t1", "gb_per_s", 1000, NULL, 0);
    add_bench(doc, "kernels/gemm/mxfp4/8x8/b16/t1", "pct_of_compute_peak", 5, "batch", 16);
    add_bench(doc, "kernels/gemm/mxfp4/8x8/b512/t1", "pct_of_compute_peak", 50, "batch", 512);
    add_bench(doc, "kernels/gemm/bf16/8x8/b512/t1", "pct_of_compute_peak", 50, "batch", 512);
    add_bench(doc, "kernels/peak/int8_dot/t1", "gop_per_s_best", 1000, NULL, 0);
    add_bench(doc, "kernels/peak/f32_fma/t1", "gop_per_s_best", 1000, NULL, 0);
    CHECK_MSG(owb_hw_from_result(doc, "m.json", 1, gemm, err) == 0, "%s", err);
    CHECK(gemm->n_xeff[OWB_TYPE_MXFP4] == 0);
    const char *from = NULL;
    /* no expert rows: the GEMM curve, and its source */
    CHECK_NEAR(owb_hw_expert_eff_at(gemm, OWB_TYPE_MXFP4, 32, &from),
               owb_hw_compute_eff_at(gemm, OWB_TYPE_MXFP4, 32), 1e-15);
    CHECK(from && strstr(from, "kernels/gemm/mxfp4"));
    add_bench(doc, "kernels/experts/mxfp4/2880x2880/x32k4/c64/t1", "pct_of_compute_peak", 10,
              "batch", 8);
    add_bench(doc, "kernels/experts/mxfp4/2880x2880/x32k4/c512/t1", "pct_of_compute_peak", 40,
              "batch", 64);
    add_bench(doc, "kernels/experts/mxfp4/2880x2880/x32k4/c512/t2", "pct_of_compute_peak", 90,
              "batch", 64); /* other thread count */
    CHECK_MSG(owb_hw_from_result(doc, "m.json", 1, hw, err) == 0, "%s", err);
    CHECK(hw->n_xeff[OWB_TYPE_MXFP4] == 2 && hw->n_xeff[OWB_TYPE_BF16] == 0);
    CHECK_NEAR(owb_hw_expert_eff_at(hw, OWB_TYPE_MXFP4, 32, &from), 0.3, 1e-12);
    CHECK(from && strstr(from, "kernels/experts/mxfp4") && strstr(from, "m.json"));
    CHECK_NEAR(owb_hw_expert_eff_at(hw, OWB_TYPE_MXFP4, 2, NULL), 0.1, 1e-12);   /* held */
    CHECK_NEAR(owb_hw_expert_eff_at(hw, OWB_TYPE_MXFP4, 500, NULL), 0.4, 1e-12); /* held */
    /* the dense curve is unchanged by expert rows */
    CHECK_NEAR(owb_hw_compute_eff_at(hw, OWB_TYPE_MXFP4, 32),
               owb_hw_compute_eff_at(gemm, OWB_TYPE_MXFP4, 32), 1e-15);

    const double rows = owb_shape_tokens_per_expert(&s, 256);
    CHECK(rel(rows, 32.0) < 1e-6);
    const double fe = s.flop_expert_tok[OWB_TYPE_MXFP4];
    CHECK(rel(fe, 24.0 * 4 * 3 * 2 * 2880.0 * 2880.0) < 1e-12);
    /* every other cost is the same on both: the difference is the experts' time */
    const double a = owb_plan_prefill_s(&s, hw, OWB_TYPE_F32, 1, 0, 256, 512);
    const double b = owb_plan_prefill_s(&s, gemm, OWB_TYPE_F32, 1, 0, 256, 512);
    const double x_new = 256 * 4.7776e9 / (1e12 * 0.3); /* 4.077 s */
    const double x_old = 256 * 4.7776e9 / (1e12 * (0.05 + 0.45 * log(2.0) / log(32.0))); /* 8.74 */
    CHECK_MSG(rel(a - b, x_new - x_old) < 0.02, "%.4g s vs %.4g s", a - b, x_new - x_old);
    /* and the prediction names the expert curve, at the rows per expert */
    cJSON *pd = cJSON_CreateObject();
    const cJSON *x = plan_prediction(&s, hw, 256, "prefill_tok_per_s", pd);
    CHECK_MSG(x != NULL, "no prefill_tok_per_s prediction");
    if (x) {
        const cJSON *ef = cJSON_GetObjectItem(x, "efficiency_from");
        CHECK(cJSON_IsString(ef) && strstr(ef->valuestring, "kernels/experts/mxfp4"));
        CHECK_NEAR(cJSON_GetObjectItem(x, "efficiency")->valuedouble, 0.3, 1e-6);
        CHECK(rel(cJSON_GetObjectItem(x, "rows_per_expert")->valuedouble, 32) < 1e-6);
    }
    cJSON_Delete(pd);
    free(hw);
    free(gemm);
    cJSON_Delete(doc);
}

/* A kernels benchmark of format fmt at shape m x k and batch (params as the kernels suite writes
 * them) with one metric. */
static void add_kernel(cJSON *doc, const char *name, const char *metric, double v, const char *fmt,
                       int m, int k, int batch)
{
    add_bench(doc, name, metric, v, "batch", batch);
    cJSON *pr = cJSON_GetObjectItem(
        cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "benchmarks"),
                           cJSON_GetArraySize(cJSON_GetObjectItem(doc, "benchmarks")) - 1),
        "params");
    cJSON_AddStringToObject(pr, "format", fmt);
    cJSON_AddNumberToObject(pr, "m", m);
    cJSON_AddNumberToObject(pr, "k", k);
}

static void add_gemm(cJSON *doc, const char *fmt, int m, int k, int batch, double pct)
{
    char n[96];
    snprintf(n, sizeof n, "kernels/gemm/%s/%dx%d/b%d/t2", fmt, m, k, batch);
    add_kernel(doc, n, "pct_of_compute_peak", pct, fmt, m, k, batch);
}

static void add_gemv(cJSON *doc, const char *fmt, int m, int k, double pct)
{
    char n[96];
    snprintf(n, sizeof n, "kernels/gemv/%s/%dx%d/t2", fmt, m, k);
    add_kernel(doc, n, "pct_of_ceiling", pct, fmt, m, k, 1);
}

/* The Llama-1B shape (synth preset llama-1b-32k) in q8_0. */
static void l1b_q8_0_shape(struct owb_shape *s)
{
    const struct owb_synth_preset *p = owb_synth_find("llama-1b-32k");
    struct owb_synth_opts o;
    char err[OWB_ERR_MAX];
    owb_synth_opts_init(&o, p);
    o.type = OWB_TYPE_Q8_0;
    CHECK_MSG(owb_shape_from_preset(p, &o, s, err) == 0, "%s", err);
}

/* A decoded token reads each matrix at its own shape's GEMV efficiency. Llama-1B shape in q8_0 on a
 * 100 GB/s machine: with the FFN GEMVs measured at 80% (the type's efficiency, used for the rest),
 * measuring q and o's 2048x2048 at 50% adds, by hand, their bytes (16 layers x 2 x 2048 x 2048 x
 * 34 / 32 = 142.6 MB) x (1 / 0.5 - 1 / 0.8) / 100 GB/s = 1.07 ms to the token; 512x2048 (not
 * measured) stays at the type's 80%. */
static void check_gemv_shapes(void)
{
    struct owb_shape s;
    char err[OWB_ERR_MAX];
    l1b_q8_0_shape(&s);
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddArrayToObject(doc, "benchmarks");
    add_bench(doc, "stream/read/t2", "gb_per_s", 100, NULL, 0);
    add_gemv(doc, "q8_0", 8192, 2048, 80);
    add_gemv(doc, "q8_0", 2048, 8192, 80);
    struct owb_hw *h1 = malloc(sizeof *h1), *h2 = malloc(sizeof *h2);
    CHECK_MSG(owb_hw_from_result(doc, "g.json", 2, h1, err) == 0, "%s", err);
    add_gemv(doc, "q8_0", 2048, 2048, 50);
    CHECK_MSG(owb_hw_from_result(doc, "g.json", 2, h2, err) == 0, "%s", err);
    CHECK(h1->n_gemv == 2 && h2->n_gemv == 3);
    CHECK_NEAR(h2->bw_eff[OWB_TYPE_Q8_0], 0.80, 1e-12); /* median of 80, 80, 50 */
    CHECK_NEAR(owb_hw_gemv_eff(h2, OWB_TYPE_Q8_0, 2048, 2048), 0.50, 1e-12);
    CHECK(owb_hw_gemv_eff(h2, OWB_TYPE_Q8_0, 512, 2048) < 0);
    CHECK(owb_hw_gemv_eff(h2, OWB_TYPE_Q4_0, 2048, 2048) < 0);
    struct owb_plan_step a, b;
    owb_plan_decode_step(&s, h1, OWB_TYPE_F32, 1, 1, 100, &a);
    owb_plan_decode_step(&s, h2, OWB_TYPE_F32, 1, 1, 100, &b);
    const double qo = 16.0 * 2 * 2048 * 2048 * 34 / 32;
    const double want = qo * (1 / 0.5 - 1 / 0.8) / 100e9;
    CHECK_MSG(rel(b.mem_s - a.mem_s, want) < 1e-9, "decode +%.6g s, by hand %.6g s",
              b.mem_s - a.mem_s, want);
    CHECK(rel(a.bytes, b.bytes) < 1e-12); /* the same bytes, read slower */
    /* the prediction names the byte-weighted efficiency and what it came from */
    cJSON *pd = cJSON_CreateObject();
    const cJSON *x = plan_prediction(&s, h2, 0, "decode_tok_per_s", pd);
    CHECK_MSG(x != NULL, "no decode_tok_per_s prediction");
    if (x) {
        const double e = cJSON_GetObjectItem(x, "efficiency")->valuedouble;
        const double dense = (double)s.read_dense[OWB_TYPE_Q8_0];
        const double want_e = dense / (qo / 0.5 + (dense - qo) / 0.8);
        CHECK_MSG(rel(e, want_e) < 1e-9, "efficiency %.6f, by hand %.6f", e, want_e);
        const cJSON *ef = cJSON_GetObjectItem(x, "efficiency_from");
        CHECK(cJSON_IsString(ef) && strstr(ef->valuestring, "byte-weighted") &&
              strstr(ef->valuestring, "3 matrix shape(s)"));
    }
    cJSON_Delete(pd);
    cJSON_Delete(doc);
    free(h1);
    free(h2);
}

/* Each dense matrix at the rate of its own shape. Llama-1B shape (llama-1b-32k, q8_0), per layer
 * and token: gate + up 2 x 2 x 8192 x 2048 = 67.1 MFLOP, down 33.6, q + o 2 x 2 x 2048^2 = 16.8,
 * k + v 2 x 2 x 512 x 2048 = 4.19 (121.6 in all). GEMMs at batch 256: 8192x2048 60%, 2048x8192
 * 40%, 2048x2048 50%; 512x2048 not measured: the type's curve at 256 (median of the b256 rows,
 * 50%). By hand: 121.6 / (67.1 / 0.6 + 33.6 / 0.4 + 16.8 / 0.5 + 4.19 / 0.5) = 121.6 / 237.7 =
 * 0.512, where the FFN shapes' median at b512 (the type's efficiency before) says 0.60. A
 * 256-token prompt on a 1 TOP/s int8 peak: 256 x 16 x 237.7 MFLOP / 1e12 = 0.974 s of matmuls,
 * plus attention (f32 peak 0.5 TOP/s; f32 has no GEMMs: the measured types' median efficiency,
 * 60%) and one row of logits (the q8_0 curve at 256, 50%). */
static void check_shape_rates(void)
{
    struct owb_shape s;
    char err[OWB_ERR_MAX];
    l1b_q8_0_shape(&s);
    /* the four shapes, most FLOPs first, summing to the type's dense FLOPs */
    CHECK(s.n_mats == 4);
    double sum = 0;
    for (int i = 0; i < s.n_mats; i++) {
        CHECK(s.mats[i].type == OWB_TYPE_Q8_0);
        sum += s.mats[i].flop_tok;
    }
    CHECK(rel(sum, s.flop_tok[OWB_TYPE_Q8_0]) < 1e-12);
    CHECK(s.mats[0].m == 8192 && s.mats[0].k == 2048 &&
          rel(s.mats[0].flop_tok, 16 * 2 * 2 * 8192.0 * 2048) < 1e-12);
    CHECK(s.mats[1].m == 2048 && s.mats[1].k == 8192);
    CHECK(s.mats[2].m == 2048 && s.mats[2].k == 2048 &&
          rel(s.mats[2].flop_tok, 16 * 2 * 2 * 2048.0 * 2048) < 1e-12);
    CHECK(s.mats[3].m == 512 && s.mats[3].k == 2048);

    cJSON *doc = cJSON_CreateObject();
    struct owb_hw *hw = malloc(sizeof *hw);
    cJSON_AddArrayToObject(doc, "benchmarks");
    add_bench(doc, "stream/read/t2", "gb_per_s", 1e6, NULL, 0); /* compute-bound */
    add_bench(doc, "kernels/peak/int8_dot/t2", "gop_per_s_best", 1000, NULL, 0);
    add_bench(doc, "kernels/peak/f32_fma/t2", "gop_per_s_best", 500, NULL, 0);
    add_gemm(doc, "q8_0", 8192, 2048, 512, 70);
    add_gemm(doc, "q8_0", 2048, 8192, 512, 50);
    add_gemm(doc, "q8_0", 8192, 2048, 256, 60);
    add_gemm(doc, "q8_0", 2048, 8192, 256, 40);
    add_gemm(doc, "q8_0", 2048, 2048, 256, 50);
    CHECK_MSG(owb_hw_from_result(doc, "s.json", 2, hw, err) == 0, "%s", err);
    CHECK(hw->n_gemm == 5);
    CHECK_NEAR(hw->compute_eff[OWB_TYPE_Q8_0], 0.60, 1e-12);
    CHECK_NEAR(owb_hw_shape_eff_at(hw, OWB_TYPE_Q8_0, 8192, 2048, 256), 0.60, 1e-12);
    CHECK_NEAR(owb_hw_shape_eff_at(hw, OWB_TYPE_Q8_0, 8192, 2048, 512), 0.70, 1e-12);
    CHECK_NEAR(owb_hw_shape_eff_at(hw, OWB_TYPE_Q8_0, 8192, 2048, 4096), 0.70, 1e-12); /* held */
    CHECK_NEAR(owb_hw_shape_eff_at(hw, OWB_TYPE_Q8_0, 2048, 2048, 512), 0.50, 1e-12);  /* one */
    CHECK_NEAR(owb_hw_shape_eff_at(hw, OWB_TYPE_Q8_0, 512, 2048, 256), 0.50, 1e-12);   /* curve */

    const double want_eff = 121.6 / 237.7;
    const double out_row = s.output_flop_per_row; /* 2 x 2048 x 32000, at the type's 50% */
    const double attn = owb_shape_flops(&s, 0, 256, 0) - 256 * owb_shape_flop_per_token(&s);
    const double want_s =
        256 * 16 * 237.7e6 / 1e12 + out_row / (1e12 * 0.5) + attn / (0.5e12 * 0.6);
    const double got_s = owb_plan_prefill_s(&s, hw, OWB_TYPE_F32, 1, 0, 256, 512);
    CHECK_MSG(rel(got_s, want_s) < 0.02, "prefill %.4g s, by hand %.4g s", got_s, want_s);
    printf("llama-1b-32k q8_0 prefill of 256 by shape: %.4f s (by hand %.4f)\n", got_s, want_s);
    cJSON *pd = cJSON_CreateObject();
    const cJSON *x = plan_prediction(&s, hw, 256, "prefill_tok_per_s", pd);
    CHECK_MSG(x != NULL, "no prefill_tok_per_s prediction");
    if (x) {
        const double e = cJSON_GetObjectItem(x, "efficiency")->valuedouble;
        CHECK_MSG(rel(e, want_eff) < 0.02, "efficiency %.4f, by hand %.4f", e, want_eff);
        const cJSON *ef = cJSON_GetObjectItem(x, "efficiency_from");
        CHECK(cJSON_IsString(ef) && strstr(ef->valuestring, "FLOP-weighted over the 4 q8_0"));
    }
    cJSON_Delete(pd);

    /* prefill attention measured as the engine runs it (kernels/attn/...: 20% of the f32 peak at
     * 256 tokens) replaces the borrowed GEMM efficiency (60%): its FLOPs, 256 x 257 / 2 keys x
     * 16 layers x 2 x 32 x (64 + 64) = 4.31 GFLOP, take 4.31e9 / (0.5e12 x 0.2) = 43.1 ms instead
     * of 14.4 ms */
    add_bench(doc, "kernels/attn/f32/h32kv8d64/c256/t2", "pct_of_compute_peak", 20, "batch", 256);
    struct owb_hw *ha = malloc(sizeof *ha);
    CHECK_MSG(owb_hw_from_result(doc, "s.json", 2, ha, err) == 0, "%s", err);
    const char *afrom = NULL;
    CHECK_NEAR(owb_hw_attn_eff_at(ha, 256, &afrom), 0.20, 1e-12);
    CHECK(afrom && strstr(afrom, "kernels/attn/") && strstr(afrom, "s.json"));
    CHECK(owb_hw_attn_eff_at(hw, 256, NULL) < 0); /* none measured */
    const double af = 256.0 * 257 / 2 * 16 * 2 * 32 * (64 + 64);
    CHECK(rel(af, attn) < 1e-12);
    const double more = owb_plan_prefill_s(&s, ha, OWB_TYPE_F32, 1, 0, 256, 512) - got_s;
    const double want_more = af / 0.5e12 * (1 / 0.2 - 1 / 0.6);
    CHECK_MSG(rel(more, want_more) < 0.02, "%.4g s vs %.4g s", more, want_more);
    free(ha);
    free(hw);
    cJSON_Delete(doc);
}

int main(void)
{
    check_7b();
    check_gpt_oss_120b();
    check_capacity();
    check_from_result();
    check_moe_prefill();
    check_expert_curve();
    check_shape_rates();
    check_gemv_shapes();
    TEST_DONE();
}
