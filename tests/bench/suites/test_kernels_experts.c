/* SPDX-License-Identifier: MIT */
/*
 * test_kernels_experts.c: the MoE cases of the kernels suite (bench/suites/kernels_suite.h) on a
 * small expert shape: one row per chunk size, named kernels/experts/<fmt>/<ff>x<embd>/x<X>k<K>/
 * c<tokens>/t<N>, whose batch is the rows each chosen expert multiplied (tokens x K / experts
 * chosen), with a GFLOP/s figure and the compute peak of its path; a row count that does not fit
 * the blocks and more experts used than exist are usage errors naming the shape. The attention
 * case (one layer's prefill attention as the engine runs it) gives one row per chunk with
 * tokens (tokens + 1) / 2 keys x 4 n_head head_dim FLOPs, held against the f32 peak.
 */
#include <stdio.h>
#include <string.h>

#include "bench/core/topo.h"
#include "bench/suites/kernels_suite.h"
#include "results/result.h"
#include "tests/owb_test.h"

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

int main(void)
{
    char err[OWB_ERR_MAX] = "";
    struct owb_topo *topo = owb_topo_new(NULL, err);
    if (!topo)
        SKIP("no topology: %s", err);
    struct owb_kernels_cfg kc;
    owb_kernels_cfg_default(&kc);
    owb_measure_cfg_quick(&kc.measure);
    kc.measure.max_time_s = 0.2;
    kc.counters = "none";
    kc.nformats = 0; /* no GEMV/GEMM cases: the peaks, then the experts */
    kc.nshapes = 0;
    kc.threads[0] = 1;
    kc.nthreads = 1;
    static const enum owb_type types[] = {OWB_TYPE_MXFP4, OWB_TYPE_Q8_0};
    cJSON *doc = owb_result_new(0, NULL);
    for (size_t i = 0; i < OWB_ARRAY_LEN(types); i++) {
        kc.moe = (struct owb_kernels_moe){.type = types[i],
                                          .n_embd = 64,
                                          .n_ff = 96,
                                          .n_expert = 8,
                                          .n_used = 2,
                                          .tokens = {3, 40},
                                          .ntokens = 2};
        CHECK_MSG(owb_kernels_run(&kc, topo, NULL, doc, err) == 0, "%s", err);
    }
    for (size_t i = 0; i < OWB_ARRAY_LEN(types); i++)
        for (int c = 0; c < 2; c++) {
            const int tokens = c ? 40 : 3;
            char name[128];
            snprintf(name, sizeof name, "kernels/experts/%s/96x64/x8k2/c%d/t1",
                     owb_type_name(types[i]), tokens);
            const cJSON *b = owb_result_find_benchmark(doc, name);
            CHECK_MSG(b != NULL, "%s missing", name);
            if (!b)
                continue;
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "params");
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(b, "metrics");
            const double active = num(p, "experts_active");
            /* 3 tokens x 2 distinct experts: 2..6 chosen; 40 tokens: at most all 8 */
            CHECK_MSG(active >= 2 && active <= (c ? 8 : 6), "%s: %g experts", name, active);
            CHECK_NEAR(num(p, "batch"), tokens * 2.0 / active, 1e-12);
            CHECK(num(p, "tokens") == tokens && num(p, "n_used") == 2 && num(p, "n_expert") == 8);
            CHECK(num(m, "gflop_per_s") > 0 && num(m, "us_median") > 0);
            /* 6 x embd x ff per routed row: GFLOP/s and the median time agree */
            CHECK_NEAR(num(m, "gflop_per_s") * num(m, "us_median") * 1e3,
                       6.0 * tokens * 2 * 64 * 96, 1e-6 * 6.0 * tokens * 2 * 64 * 96);
            const cJSON *peak = cJSON_GetObjectItemCaseSensitive(p, "compute_peak");
            CHECK_MSG(cJSON_IsString(peak), "%s: no compute peak named", name);
        }

    /* attention: 4 heads over 2 KV heads of 32, 40 tokens */
    kc.moe.n_expert = 0;
    kc.attn = (struct owb_kernels_attn){4, 2, 32, 40};
    CHECK_MSG(owb_kernels_run(&kc, topo, NULL, doc, err) == 0, "%s", err);
    const cJSON *ab = owb_result_find_benchmark(doc, "kernels/attn/f32/h4kv2d32/c40/t1");
    CHECK(ab != NULL);
    if (ab) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(ab, "params");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(ab, "metrics");
        const double flop = 40.0 * 41 / 2 * 4 * 4 * 32;
        CHECK(num(p, "tokens") == 40 && num(p, "batch") == 40 && num(p, "head_dim") == 32);
        CHECK_NEAR(num(m, "gflop_per_s") * num(m, "us_median") * 1e3, flop, 1e-6 * flop);
        const cJSON *peak = cJSON_GetObjectItemCaseSensitive(p, "compute_peak");
        CHECK(cJSON_IsString(peak) && strcmp(peak->valuestring, "f32_fma") == 0);
    }
    kc.attn = (struct owb_kernels_attn){4, 3, 32, 40}; /* 3 KV heads do not divide 4 heads */
    CHECK(owb_kernels_run(&kc, topo, NULL, doc, err) == OWB_E_USAGE && strstr(err, "3 KV heads"));
    kc.attn.n_head = 0;
    kc.moe = (struct owb_kernels_moe){.type = OWB_TYPE_MXFP4,
                                      .n_embd = 64,
                                      .n_ff = 96,
                                      .n_expert = 8,
                                      .n_used = 2,
                                      .tokens = {3},
                                      .ntokens = 1};

    /* usage errors name the shape */
    kc.moe.type = OWB_TYPE_MXFP4;
    kc.moe.n_ff = 100; /* not a multiple of 32 */
    CHECK(owb_kernels_run(&kc, topo, NULL, doc, err) == OWB_E_USAGE && strstr(err, "100"));
    kc.moe.n_ff = 96;
    kc.moe.n_used = 9;
    CHECK(owb_kernels_run(&kc, topo, NULL, doc, err) == OWB_E_USAGE && strstr(err, "9 of 8"));
    cJSON_Delete(doc);
    owb_topo_free(topo);
    TEST_DONE();
}
