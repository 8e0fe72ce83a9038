/* SPDX-License-Identifier: MIT */
/*
 * test_ceiling.c: figures held against the ceilings of their run (bench/suites/ceiling.h) on
 * hand-made documents: the read ceiling at t threads is the best read kernel at <= t threads
 * before or after the suite (a 1-thread read faster than the 2-thread one bounds 2 threads too);
 * before/after and their spread are recorded; a figure above its ceiling is not valid with a note
 * saying by how much, one below stays valid; a decode that fits in the LLC gets a note, not a
 * verdict; compute figures take the best peak at <= t threads.
 */
#include <math.h>
#include <string.h>

#include "bench/suites/ceiling.h"
#include "results/result.h"
#include "tests/owb_test.h"

static cJSON *add(cJSON *doc, const char *name, double med_ns, double min_ns)
{
    cJSON *b = owb_result_add_benchmark(doc, name, "test");
    double v[5] = {min_ns, med_ns, med_ns, med_ns, med_ns * 1.01};
    owb_result_set_samples(b, "ns", v, 5);
    return b;
}

static void read_bench(cJSON *doc, const char *name, int t, double gbs_best, double gbs_med)
{
    cJSON *b = add(doc, name, 1e6, 1e6);
    owb_result_param_num(b, "threads", t);
    owb_result_metric(b, "gb_per_s", gbs_best);
    owb_result_metric(b, "gb_per_s_median", gbs_med);
}

static double metric(const cJSON *b, const char *k)
{
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(b, "metrics"), k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static const char *param(const cJSON *b, const char *k)
{
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(b, "params"), k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int valid(const cJSON *b)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "valid"));
}

static int has_note(const cJSON *b, const char *text)
{
    const cJSON *n;
    cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(b, "notes"))
    {
        if (cJSON_IsString(n) && strstr(n->valuestring, text))
            return 1;
    }
    return 0;
}

/* A read-bound figure: bytes per sample so that the median is gbs GB/s. */
static cJSON *gemv(cJSON *doc, const char *name, int t, double gbs)
{
    const double bytes = 1e6;
    cJSON *b = add(doc, name, bytes / gbs, bytes / gbs * 0.9);
    owb_result_param_num(b, "threads", t);
    owb_result_param_str(b, "roofline", "read");
    owb_result_metric(b, "bytes_per_iter", bytes);
    return b;
}

int main(void)
{
    cJSON *doc = owb_result_new(0, NULL);
    CHECK(doc != NULL);
    if (!doc)
        TEST_DONE();
    /* 1 thread reads 40 before, 2 threads only 35 before and 38 after; pf at 1 thread 42 after */
    read_bench(doc, "stream/read/t1", 1, 40, 30);
    read_bench(doc, "stream/read/t2", 2, 35, 34);
    read_bench(doc, "stream/read_pf/t1/after", 1, 42, 31);
    read_bench(doc, "stream/read_streams4/t2/after", 2, 38, 36);
    read_bench(doc, "stream/copy/t2", 2, 99, 99);     /* not a read kernel: never a read ceiling */
    cJSON *a = gemv(doc, "kernels/gemv/x/t2", 2, 39); /* below the best (42): valid */
    cJSON *o = gemv(doc, "kernels/gemv/y/t2", 2, 46.2); /* 10% above: not valid */
    cJSON *one = gemv(doc, "kernels/gemv/z/t1", 1, 41); /* at 1 thread: 42 from read_pf/t1 */
    cJSON *none = gemv(doc, "kernels/gemv/w/t4", 4, 10);
    cJSON *cpu = gemv(doc, "kernels/gemm/v/t2", 2, 500); /* no roofline param: not held */
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(cpu, "params"),
                                            "roofline");
    /* decode that fits twice in the LLC: note, no verdict */
    cJSON *env = cJSON_GetObjectItemCaseSensitive(doc, "env");
    if (!env)
        env = cJSON_AddObjectToObject(doc, "env");
    cJSON_DeleteItemFromObjectCaseSensitive(env, "topology");
    cJSON *llc = cJSON_AddObjectToObject(env, "topology");
    cJSON_AddNumberToObject(llc, "llc_bytes", 32.0 * 1048576);
    cJSON *dec = gemv(doc, "model/decode/tiny/t2", 2, 200);
    owb_result_metric(dec, "bytes_per_token", 1e6);
    cJSON *dec_big = gemv(doc, "model/decode/big/t2", 2, 21);
    owb_result_metric(dec_big, "bytes_per_token", 700e6);
    /* compute: peaks at 1 thread 300, at 2 threads 280 (disturbed) and 500 */
    cJSON *p1 = add(doc, "kernels/peak/int8_dot/t1", 1, 1);
    owb_result_param_str(p1, "peak", "int8_dot");
    owb_result_param_num(p1, "threads", 1);
    owb_result_metric(p1, "gop_per_s_best", 300);
    cJSON *p2 = add(doc, "model/peak/int8_dot/t2", 1, 1);
    owb_result_param_str(p2, "peak", "int8_dot");
    owb_result_param_num(p2, "threads", 2);
    owb_result_metric(p2, "gop_per_s_best", 500);
    cJSON *g1 = add(doc, "kernels/gemm/q/t1", 1, 1);
    owb_result_param_str(g1, "compute_peak", "int8_dot");
    owb_result_param_num(g1, "threads", 1);
    owb_result_metric(g1, "gflop_per_s", 330); /* above the 1-thread peak */
    cJSON *g2 = add(doc, "kernels/gemm/q/t2", 1, 1);
    owb_result_param_str(g2, "compute_peak", "int8_dot");
    owb_result_param_num(g2, "threads", 2);
    owb_result_metric(g2, "gflop_per_s", 400);

    int over = owb_ceiling_annotate(doc, NULL);
    CHECK_MSG(over == 2, "%d figures over their ceiling, want 2 (gemv y, gemm q/t1)", over);

    CHECK_NEAR(metric(a, "ceiling_gb_per_s"), 42, 1e-9);
    CHECK(strcmp(param(a, "ceiling"), "stream/read_pf/t1/after") == 0);
    CHECK_NEAR(metric(a, "ceiling_gb_per_s_median"), 36, 1e-9);
    CHECK_NEAR(metric(a, "ceiling_gb_per_s_before"), 40, 1e-9);
    CHECK_NEAR(metric(a, "ceiling_gb_per_s_after"), 42, 1e-9);
    CHECK_NEAR(metric(a, "ceiling_spread_pct"), 100.0 * 2 / 42, 1e-9);
    CHECK_NEAR(metric(a, "pct_of_ceiling"), 100.0 * 39 / 42, 1e-6);
    CHECK_NEAR(metric(a, "pct_of_ceiling_median"), 100.0 * 39 / 36, 1e-6);
    CHECK(valid(a));
    CHECK(!valid(o));
    CHECK(has_note(o, "above the read ceiling by 10.0%"));
    CHECK(has_note(o, "stream/read_pf/t1/after"));
    CHECK_NEAR(metric(one, "ceiling_gb_per_s"), 42, 1e-9);
    CHECK_NEAR(metric(one, "ceiling_gb_per_s_before"), 40, 1e-9);
    CHECK(valid(one));
    CHECK(metric(none, "ceiling_gb_per_s") == 42); /* t4: everything at <= 4 threads */
    CHECK(metric(cpu, "ceiling_gb_per_s") == -1 && valid(cpu));
    CHECK(valid(dec) && has_note(dec, "cache-resident"));
    CHECK(metric(dec, "pct_of_roofline") > 100);
    CHECK(valid(dec_big));
    CHECK_NEAR(metric(dec_big, "roofline_tok_per_s"), 42e9 / 700e6, 1e-6);
    CHECK_NEAR(metric(dec_big, "pct_of_roofline"), 100.0 * 21 / 42, 1e-6);

    CHECK_NEAR(metric(g1, "compute_peak_gop_per_s"), 300, 1e-9);
    CHECK(!valid(g1) && has_note(g1, "above the compute peak by 10.0%"));
    CHECK_NEAR(metric(g2, "compute_peak_gop_per_s"), 500, 1e-9);
    CHECK_NEAR(metric(g2, "pct_of_compute_peak"), 80, 1e-9);
    CHECK(valid(g2));
    CHECK(strcmp(param(g2, "compute_peak_from"), "model/peak/int8_dot/t2") == 0);

    /* no read benchmark at all: a note, no ceiling, no verdict */
    cJSON *d2 = owb_result_new(0, NULL);
    cJSON *lone = gemv(d2, "kernels/gemv/x/t1", 1, 10);
    CHECK(owb_ceiling_annotate(d2, NULL) == 0);
    CHECK(has_note(lone, "no read-bandwidth ceiling"));
    /* the ceiling from another document (--ceiling FILE) */
    CHECK(owb_ceiling_annotate(d2, doc) == 0);
    CHECK_NEAR(metric(lone, "ceiling_gb_per_s"), 42, 1e-9);
    cJSON_Delete(d2);
    cJSON_Delete(doc);
    TEST_DONE();
}
