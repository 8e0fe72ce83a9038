/* SPDX-License-Identifier: MIT */
/*
 * test_compare_ceiling.c: owb_compare_docs telling a machine change from a code change, on
 * hand-made kernels-like documents (a stream/read/t1 ceiling, a GEMV held against it, a compute
 * peak and a GEMM held against the peak): the read ceiling 20% lower and the GEMV 20% slower is
 * "machine changed" (no regression, a warning naming the ceiling); equal ceilings and a 20% slower
 * GEMV is "slower" (regression), "incomparable" when its run flagged it not valid; noisy equal
 * documents are all "same"; a ceiling 25% higher with the GEMV unchanged stays "same" (norm_verdict
 * slower: a ceiling explains, never makes a difference); the machine 10% slower and the GEMV 40%
 * slower is still "slower"; a stream case is a machine measure ("machine changed"); the GEMM
 * follows the compute peak, not the read ceiling; params.ceiling names the ceiling and is no part
 * of the key (A and B may name the before and after measurement); without ceiling benchmarks the
 * figures' recorded ceilings are compared (and their before/after spread can explain a change); the
 * JSON carries the raw and normalised ratios and verdicts.
 */
#define _GNU_SOURCE /* fmemopen */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "owb_test.h"
#include "results/compare.h"
#include "results/result.h"

#define PI 3.14159265358979323846
#define READ_BYTES 134217728.0 /* bytes per stream/read sample */
#define GEMV_NS 2.0e6          /* time of one GEMV on A's machine */
#define GEMM_NS 1.0e7
#define PEAK_NS 2.0e7

static uint64_t rng_state;
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}
static double rng_normal(void)
{
    double u1 = ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0;
    double u2 = ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * PI * u2);
}

static cJSON *add(cJSON *doc, const char *name, const char *suite, double center_ns,
                  double rel_noise, int n)
{
    double v[400];
    for (int i = 0; i < n; i++)
        v[i] = center_ns * (1.0 + rel_noise * rng_normal());
    cJSON *b = owb_result_add_benchmark(doc, name, suite);
    owb_result_set_samples(b, "ns", v, (size_t)n);
    owb_result_param_num(b, "threads", 1);
    return b;
}

struct shape {
    double read_rate;  /* stream read rate factor (1 = A's machine) */
    double gemv_time;  /* GEMV time factor */
    double peak_rate;  /* int8 peak rate factor */
    double gemm_time;  /* GEMM time factor */
    double noise;      /* relative noise of every sample */
    int with_ceilings; /* include the ceiling benchmarks */
};

static cJSON *make_doc(uint64_t seed, struct shape s)
{
    rng_state = seed;
    cJSON *doc = owb_result_new(0, NULL);
    double read_ns = READ_BYTES / 29.0 / s.read_rate; /* 29 GB/s on A's machine */
    if (s.with_ceilings) {
        cJSON *r = add(doc, "stream/read/t1", "stream", read_ns, s.noise, 11);
        owb_result_metric(r, "bytes_per_iter", READ_BYTES);
        cJSON *p =
            add(doc, "kernels/peak/int8_dot/t1", "kernels", PEAK_NS / s.peak_rate, s.noise, 20);
        owb_result_param_str(p, "peak", "int8_dot");
        owb_result_metric(p, "gop_per_s", 300.0 * s.peak_rate);
    }
    cJSON *g =
        add(doc, "kernels/gemv/q4_0/4096x14336/t1", "kernels", GEMV_NS * s.gemv_time, s.noise, 200);
    owb_result_metric(g, "ceiling_gb_per_s", 29.0 * s.read_rate);
    owb_result_metric(g, "ceiling_gb_per_s_median", 29.0 * s.read_rate);
    cJSON *m = add(doc, "kernels/gemm/q4_0/4096x14336/b512/t1", "kernels", GEMM_NS * s.gemm_time,
                   s.noise, 50);
    owb_result_param_str(m, "compute_peak", "int8_dot");
    owb_result_metric(m, "ceiling_gb_per_s", 29.0 * s.read_rate);
    owb_result_metric(m, "compute_peak_gop_per_s", 300.0 * s.peak_rate);
    return doc;
}

static const struct owb_compare_row *row(const struct owb_compare *c, const char *name)
{
    for (size_t i = 0; i < c->nrows; i++)
        if (!strcmp(c->rows[i].name, name))
            return &c->rows[i];
    return NULL;
}

static enum owb_verdict verdict(const struct owb_compare *c, const char *name)
{
    const struct owb_compare_row *r = row(c, name);
    CHECK_MSG(r != NULL, "no row %s", name);
    return r ? r->verdict : (enum owb_verdict) - 1;
}

static const struct owb_compare_ceiling *ceiling(const struct owb_compare *c, const char *name)
{
    for (size_t i = 0; i < c->nceilings; i++)
        if (!strcmp(c->ceilings[i].name, name))
            return &c->ceilings[i];
    return NULL;
}

/* The warnings as one string. */
static void warnings(const struct owb_compare *c, char *buf, size_t n)
{
    FILE *f = fmemopen(buf, n, "w");
    buf[0] = '\0';
    if (f) {
        owb_compare_print_warnings(c, f);
        fclose(f);
    }
}

#define GEMV "kernels/gemv/q4_0/4096x14336/t1"
#define GEMM "kernels/gemm/q4_0/4096x14336/b512/t1"

int main(void)
{
    char err[OWB_ERR_MAX] = "", warn[4096];
    struct owb_compare c;
    const struct shape base = {1.0, 1.0, 1.0, 1.0, 0.02, 1};
    cJSON *a = make_doc(1, base);

    /* The machine's read ceiling 20% lower and the GEMV 20% slower: machine changed. */
    struct shape s = base;
    s.read_rate = 0.8;
    s.gemv_time = 1.0 / 0.8;
    cJSON *b = make_doc(2, s);
    CHECK(owb_compare_docs(a, b, 5.0, 0.05, &c, err) == 0);
    const struct owb_compare_row *r = row(&c, GEMV);
    CHECK(r && r->raw_verdict == OWB_VERDICT_SLOWER && r->normalised);
    CHECK(r && r->verdict == OWB_VERDICT_MACHINE);
    CHECK_MSG(r && fabs(r->norm_ratio - 1.0) < 0.02, "norm ratio %g", r ? r->norm_ratio : -1.0);
    CHECK(r && r->ratio > 1.2 && r->ratio < 1.3);
    CHECK(verdict(&c, "stream/read/t1") == OWB_VERDICT_MACHINE); /* the ceiling itself */
    CHECK(verdict(&c, GEMM) == OWB_VERDICT_SAME);                /* held against the peak */
    CHECK(row(&c, GEMM) && !row(&c, GEMM)->normalised);
    const struct owb_compare_ceiling *k = ceiling(&c, "stream/read/t1");
    CHECK(k && k->moved && k->over_threshold && !k->from_metrics && !strcmp(k->unit, "GB/s"));
    CHECK(k && fabs(k->a - 29.0) < 1.0 && fabs(k->ratio - 0.8) < 0.03 && k->n_machine == 2);
    CHECK(!owb_compare_regressed(&c) && c.n_machine == 2 && c.n_slower == 0);
    warnings(&c, warn, sizeof warn);
    CHECK_MSG(strstr(warn, "warning: the ceilings differ by -") && strstr(warn, "stream/read/t1") &&
                  strstr(warn, "about the machine, not the code") &&
                  strstr(warn, "machine changed"),
              "%s", warn);
    cJSON *j = owb_compare_to_json(&c, "a.json", "b.json");
    CHECK(j != NULL);
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(j, "rows"), *jr = NULL, *it;
    cJSON_ArrayForEach(it, rows)
    {
        if (!strcmp(cJSON_GetObjectItemCaseSensitive(it, "name")->valuestring, GEMV))
            jr = it;
    }
    CHECK(jr &&
          !strcmp(cJSON_GetObjectItemCaseSensitive(jr, "verdict")->valuestring, "machine changed"));
    CHECK(jr &&
          !strcmp(cJSON_GetObjectItemCaseSensitive(jr, "raw_verdict")->valuestring, "slower"));
    CHECK(jr &&
          !strcmp(cJSON_GetObjectItemCaseSensitive(jr, "ceiling")->valuestring, "stream/read/t1"));
    CHECK(jr && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(jr, "norm_ratio")));
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "warnings")) >= 2);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "ceilings")) == 2);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "regressed")));
    CHECK(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "summary"),
                                           "machine_changed")
              ->valueint == 2);
    cJSON_Delete(j);
    owb_compare_release(&c);
    cJSON_Delete(b);

    /* Equal ceilings, GEMV 20% slower: a regression of the code. */
    s = base;
    s.gemv_time = 1.2;
    b = make_doc(3, s);
    CHECK(owb_compare_docs(a, b, 5.0, 0.05, &c, err) == 0);
    CHECK(verdict(&c, GEMV) == OWB_VERDICT_SLOWER);
    CHECK(verdict(&c, "stream/read/t1") == OWB_VERDICT_SAME);
    CHECK(owb_compare_regressed(&c) && c.n_machine == 0);
    warnings(&c, warn, sizeof warn);
    CHECK_MSG(warn[0] == '\0', "%s", warn);
    owb_compare_release(&c);
    cJSON_Delete(b);

    /* Noisy and equal: all same, nothing normalised. */
    s = base;
    s.noise = 0.05;
    cJSON *an = make_doc(4, s);
    b = make_doc(5, s);
    CHECK(owb_compare_docs(an, b, 5.0, 0.05, &c, err) == 0);
    CHECK_MSG(c.n_same == c.nrows && c.nrows == 4, "%zu rows, %zu same", c.nrows, c.n_same);
    CHECK(!owb_compare_regressed(&c) && c.n_machine == 0);
    owb_compare_release(&c);
    cJSON_Delete(an);
    cJSON_Delete(b);

    /* The same 20% slower GEMV flagged not valid by its run: no evidence, incomparable. */
    s = base;
    s.gemv_time = 1.2;
    b = make_doc(3, s);
    owb_result_invalidate((cJSON *)owb_result_find_benchmark(b, GEMV), "high spread: test");
    CHECK(owb_compare_docs(a, b, 5.0, 0.05, &c, err) == 0);
    r = row(&c, GEMV);
    CHECK(r && r->raw_verdict == OWB_VERDICT_SLOWER && r->verdict == OWB_VERDICT_INCOMPARABLE);
    CHECK_MSG(r && strstr(r->why, "B not valid: high spread"), "%s", r ? r->why : "");
    CHECK(!owb_compare_regressed(&c));
    owb_compare_release(&c);
    cJSON_Delete(b);

    /* A faster machine (ceiling +25%) and the GEMV time unchanged: slower against its ceiling, but
     * the ceiling only explains differences, it never makes one: same (norm_verdict says slower).
     */
    s = base;
    s.read_rate = 1.25;
    b = make_doc(6, s);
    CHECK(owb_compare_docs(a, b, 5.0, 0.05, &c, err) == 0);
    r = row(&c, GEMV);
    CHECK(r && r->raw_verdict == OWB_VERDICT_SAME && r->verdict == OWB_VERDICT_SAME);
    CHECK(r && r->norm_verdict == OWB_VERDICT_SLOWER && r->norm_ratio > 1.2);
    CHECK(!owb_compare_regressed(&c));
    owb_compare_release(&c);
    cJSON_Delete(b);

    /* The machine 10% slower and the GEMV 40% slower: still slower against its ceiling. */
    s = base;
    s.read_rate = 0.9;
    s.gemv_time = 1.4;
    b = make_doc(12, s);
    CHECK(owb_compare_docs(a, b, 5.0, 0.05, &c, err) == 0);
    r = row(&c, GEMV);
    CHECK(r && r->normalised && r->raw_verdict == OWB_VERDICT_SLOWER &&
          r->verdict == OWB_VERDICT_SLOWER && r->norm_ratio > 1.2 && r->norm_ratio < 1.33);
    CHECK(owb_compare_regressed(&c));
    owb_compare_release(&c);
    cJSON_Delete(b);

    /* A stream case measures the machine: 20% slower with its read ceiling unchanged is
     * "machine changed", not a regression. */
    s = base;
    b = make_doc(13, s);
    cJSON *sa = add(a, "stream/triad/t1", "stream", 3.0e7, 0.02, 20);
    cJSON *sb = add(b, "stream/triad/t1", "stream", 3.6e7, 0.02, 20);
    owb_result_metric(sa, "bytes_per_iter", 4.0e8);
    owb_result_metric(sb, "bytes_per_iter", 4.0e8);
    CHECK(owb_compare_docs(a, b, 5.0, 0.05, &c, err) == 0);
    r = row(&c, "stream/triad/t1");
    CHECK(r && r->raw_verdict == OWB_VERDICT_SLOWER && r->verdict == OWB_VERDICT_MACHINE);
    CHECK(r && !r->normalised && !owb_compare_regressed(&c));
    owb_compare_release(&c);
    cJSON_Delete(b);
    cJSON_DeleteItemFromArray(
        cJSON_GetObjectItemCaseSensitive(a, "benchmarks"),
        cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(a, "benchmarks")) - 1);

    /* The compute peak 20% lower and the GEMM 20% slower: machine changed, via the peak. */
    s = base;
    s.peak_rate = 0.8;
    s.gemm_time = 1.0 / 0.8;
    b = make_doc(7, s);
    CHECK(owb_compare_docs(a, b, 5.0, 0.05, &c, err) == 0);
    CHECK(verdict(&c, GEMM) == OWB_VERDICT_MACHINE);
    CHECK(verdict(&c, "kernels/peak/int8_dot/t1") == OWB_VERDICT_MACHINE);
    CHECK(verdict(&c, GEMV) == OWB_VERDICT_SAME);
    k = ceiling(&c, "kernels/peak/int8_dot/t1");
    CHECK(k && k->moved && !strcmp(k->unit, "GOP/s") && fabs(k->a - 300.0) < 10.0);
    CHECK(!owb_compare_regressed(&c));
    owb_compare_release(&c);
    cJSON_Delete(b);

    /* params.ceiling names the ceiling: the GEMV held against stream/read_nt/t1 (moved -20%),
     * not stream/read/t1 (unchanged). */
    cJSON *docs[2];
    for (int d = 0; d < 2; d++) {
        s = base;
        s.gemv_time = d ? 1.0 / 0.8 : 1.0;
        docs[d] = make_doc(8 + (uint64_t)d, s);
        cJSON *nt = add(docs[d], "stream/read_nt/t1", "stream", READ_BYTES / 29.0 / (d ? 0.8 : 1.0),
                        0.02, 11);
        owb_result_metric(nt, "bytes_per_iter", READ_BYTES);
        cJSON *g = (cJSON *)owb_result_find_benchmark(docs[d], GEMV);
        owb_result_param_str(g, "ceiling", "stream/read_nt/t1");
        /* which measurement gave the ceiling is no part of the key: B names another */
        cJSON *after = add(docs[d], "stream/read_nt/t1/after", "stream",
                           READ_BYTES / 29.0 / (d ? 0.8 : 1.0), 0.02, 11);
        owb_result_metric(after, "bytes_per_iter", READ_BYTES);
        if (d)
            cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(g, "params"),
                                                   "ceiling",
                                                   cJSON_CreateString("stream/read_nt/t1/after"));
    }
    CHECK(owb_compare_docs(docs[0], docs[1], 5.0, 0.05, &c, err) == 0);
    r = row(&c, GEMV);
    CHECK(r && r->verdict == OWB_VERDICT_MACHINE && r->ceiling >= 0 &&
          !strcmp(c.ceilings[r->ceiling].name, "stream/read_nt/t1"));
    CHECK(c.n_only_a == 0 && c.n_only_b == 0);
    owb_compare_release(&c);
    cJSON_Delete(docs[0]);
    cJSON_Delete(docs[1]);

    /* No ceiling benchmarks (a run that read its ceiling from a file): the recorded
     * metrics.ceiling_gb_per_s(_median), 29 vs 23.2 GB/s, explain a 20% slower GEMV. */
    s = base;
    s.with_ceilings = 0;
    cJSON *am = make_doc(10, s);
    s.read_rate = 0.8;
    s.gemv_time = 1.0 / 0.8;
    b = make_doc(11, s);
    CHECK(owb_compare_docs(am, b, 5.0, 0.05, &c, err) == 0);
    CHECK(verdict(&c, GEMV) == OWB_VERDICT_MACHINE);
    k = ceiling(&c, "stream/read/t1");
    CHECK(k && k->from_metrics && k->moved && fabs(k->ratio - 0.8) < 1e-9);
    owb_compare_release(&c);
    /* ... unless each run's before/after ceilings overlap the other's: then the spread of the
     * ceiling explains nothing and the GEMV is slower. */
    cJSON *ga = (cJSON *)owb_result_find_benchmark(am, GEMV);
    cJSON *gb = (cJSON *)owb_result_find_benchmark(b, GEMV);
    owb_result_metric(ga, "ceiling_gb_per_s_before", 22.0);
    owb_result_metric(ga, "ceiling_gb_per_s_after", 29.0);
    owb_result_metric(gb, "ceiling_gb_per_s_before", 23.2);
    owb_result_metric(gb, "ceiling_gb_per_s_after", 28.0);
    CHECK(owb_compare_docs(am, b, 5.0, 0.05, &c, err) == 0);
    CHECK(verdict(&c, GEMV) == OWB_VERDICT_SLOWER);
    k = ceiling(&c, "stream/read/t1");
    CHECK(k && k->from_metrics && !k->moved && k->over_threshold);
    CHECK(owb_compare_regressed(&c));
    owb_compare_release(&c);
    cJSON_Delete(am);
    cJSON_Delete(b);

    cJSON_Delete(a);
    TEST_DONE();
}
