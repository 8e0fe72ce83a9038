/* SPDX-License-Identifier: MIT */
/*
 * test_compare.c: owb_compare_docs on synthetic documents built with results/result.h: a result
 * against itself is all "same"; 20% slower time samples (with noise) are "slower" and flag a
 * regression, 20% faster are "faster"; a significant change below the threshold is "same"; a big
 * change on 3 samples (p >= 0.05) is "same"; rates (gb_per_s) are higher-is-better; params match
 * regardless of key order; only-in-A/B lists; ns vs us are converted; ns vs a rate is
 * incomparable; the JSON form carries the same verdicts.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "owb_test.h"
#include "results/compare.h"
#include "results/result.h"

#define PI 3.14159265358979323846

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

/* Add a benchmark with n samples ~ center * (1 + rel_noise * N(0,1)). */
static cJSON *add(cJSON *doc, const char *name, const char *unit, double center, double rel_noise,
                  int n)
{
    double v[400];
    for (int i = 0; i < n; i++)
        v[i] = center * (1.0 + rel_noise * rng_normal());
    cJSON *b = owb_result_add_benchmark(doc, name, "test");
    owb_result_set_samples(b, unit, v, (size_t)n);
    return b;
}

/* time_scale multiplies the "k/time" median, rate_scale the "k/rate" median. */
static cJSON *make_doc(uint64_t seed, double time_scale, double rate_scale)
{
    rng_state = seed;
    cJSON *doc = owb_result_new(0, NULL);
    add(doc, "k/time", "ns", 1000.0 * time_scale, 0.02, 50);
    cJSON *b = add(doc, "k/params", "ns", 500.0, 0.02, 50);
    owb_result_param_num(b, "a", 1);
    owb_result_param_str(b, "b", "x");
    b = add(doc, "k/params", "ns", 800.0, 0.02, 50);
    owb_result_param_num(b, "a", 2);
    owb_result_param_str(b, "b", "x");
    add(doc, "k/rate", "gb_per_s", 10.0 * rate_scale, 0.02, 50);
    return doc;
}

static const struct owb_compare_row *row(const struct owb_compare *c, const char *name,
                                         const char *params_substr)
{
    for (size_t i = 0; i < c->nrows; i++)
        if (!strcmp(c->rows[i].name, name) &&
            (!params_substr || strstr(c->rows[i].params, params_substr)))
            return &c->rows[i];
    return NULL;
}

static enum owb_verdict verdict(const struct owb_compare *c, const char *name)
{
    const struct owb_compare_row *r = row(c, name, NULL);
    CHECK_MSG(r != NULL, "no row %s", name);
    return r ? r->verdict : (enum owb_verdict) - 1;
}

int main(void)
{
    char err[OWB_ERR_MAX] = "";
    struct owb_compare c;
    cJSON *a = make_doc(1, 1.0, 1.0);

    /* Against itself. */
    CHECK(owb_compare_docs(a, a, 5.0, 0.05, &c, err) == 0);
    CHECK(c.nrows == 4 && c.n_same == 4 && c.n_only_a == 0 && c.n_only_b == 0);
    CHECK(!owb_compare_regressed(&c));
    for (size_t i = 0; i < c.nrows; i++) {
        CHECK_NEAR(c.rows[i].ratio, 1.0, 1e-12);
        CHECK_MSG(c.rows[i].p > 0.99, "p = %g", c.rows[i].p);
    }
    const struct owb_compare_row *rr = row(&c, "k/rate", NULL);
    CHECK(rr && rr->higher_is_better && !strcmp(rr->unit, "gb_per_s"));
    CHECK(row(&c, "k/time", NULL) && !row(&c, "k/time", NULL)->higher_is_better);
    owb_compare_release(&c);

    /* Independent noise, same centre: same. */
    cJSON *b = make_doc(2, 1.0, 1.0);
    CHECK(owb_compare_docs(a, b, 5.0, 0.05, &c, err) == 0);
    CHECK_MSG(c.n_same == 4, "same %zu slower %zu faster %zu", c.n_same, c.n_slower, c.n_faster);
    owb_compare_release(&c);
    cJSON_Delete(b);

    /* 20% slower time and 20% lower rate: both slower. */
    b = make_doc(3, 1.2, 0.8);
    CHECK(owb_compare_docs(a, b, 5.0, 0.05, &c, err) == 0);
    CHECK(verdict(&c, "k/time") == OWB_VERDICT_SLOWER);
    CHECK(verdict(&c, "k/rate") == OWB_VERDICT_SLOWER);
    CHECK(c.n_slower == 2 && c.n_same == 2);
    CHECK(owb_compare_regressed(&c));
    const struct owb_compare_row *rt = row(&c, "k/time", NULL);
    CHECK(rt && rt->ratio > 1.15 && rt->ratio < 1.25 && rt->p < 1e-6);
    CHECK(rt && rt->ratio_lo <= rt->ratio && rt->ratio <= rt->ratio_hi);
    CHECK(rt && rt->change_pct > 15 && rt->change_pct < 25);

    cJSON *j = owb_compare_to_json(&c, "a.json", "b.json");
    CHECK(j != NULL);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "regressed")));
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(j, "rows");
    CHECK(cJSON_GetArraySize(rows) == 4);
    const cJSON *r0 = cJSON_GetArrayItem(rows, 0);
    CHECK(!strcmp(cJSON_GetObjectItemCaseSensitive(r0, "name")->valuestring, "k/time"));
    CHECK(!strcmp(cJSON_GetObjectItemCaseSensitive(r0, "verdict")->valuestring, "slower"));
    CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(r0, "params")));
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(j, "summary");
    CHECK(cJSON_GetObjectItemCaseSensitive(sum, "slower")->valueint == 2);
    cJSON_Delete(j);
    owb_compare_release(&c);
    cJSON_Delete(b);

    /* 20% faster time and higher rate: faster, no regression. */
    b = make_doc(4, 0.8, 1.2);
    CHECK(owb_compare_docs(a, b, 5.0, 0.05, &c, err) == 0);
    CHECK(verdict(&c, "k/time") == OWB_VERDICT_FASTER);
    CHECK(verdict(&c, "k/rate") == OWB_VERDICT_FASTER);
    CHECK(!owb_compare_regressed(&c));
    owb_compare_release(&c);
    cJSON_Delete(b);

    /* 3% slower with tiny noise: significant but under the 5% threshold -> same; over a 2%
     * threshold -> slower. */
    rng_state = 5;
    cJSON *q = owb_result_new(0, NULL), *r = owb_result_new(0, NULL);
    add(q, "k/small", "ns", 1000.0, 0.002, 200);
    add(r, "k/small", "ns", 1030.0, 0.002, 200);
    CHECK(owb_compare_docs(q, r, 5.0, 0.05, &c, err) == 0);
    CHECK(verdict(&c, "k/small") == OWB_VERDICT_SAME);
    CHECK(c.rows[0].p < 1e-6);
    owb_compare_release(&c);
    CHECK(owb_compare_docs(q, r, 2.0, 0.05, &c, err) == 0);
    CHECK(verdict(&c, "k/small") == OWB_VERDICT_SLOWER);
    owb_compare_release(&c);
    cJSON_Delete(q);
    cJSON_Delete(r);

    /* 50% slower on 3 samples each: the smallest exact two-sided p is 0.1 -> same. */
    q = owb_result_new(0, NULL);
    r = owb_result_new(0, NULL);
    add(q, "k/few", "ns", 1000.0, 0.01, 3);
    add(r, "k/few", "ns", 1500.0, 0.01, 3);
    CHECK(owb_compare_docs(q, r, 5.0, 0.05, &c, err) == 0);
    CHECK(verdict(&c, "k/few") == OWB_VERDICT_SAME);
    CHECK_NEAR(c.rows[0].p, 0.1, 1e-9);
    owb_compare_release(&c);
    cJSON_Delete(q);
    cJSON_Delete(r);

    /* Params key order, only-in lists, unit conversion, incomparable units. */
    q = owb_result_new(0, NULL);
    r = owb_result_new(0, NULL);
    rng_state = 9;
    cJSON *x = add(q, "m/p", "ns", 100.0, 0.01, 20);
    owb_result_param_num(x, "a", 1);
    owb_result_param_str(x, "b", "x");
    x = add(r, "m/p", "ns", 100.0, 0.01, 20);
    owb_result_param_str(x, "b", "x");
    owb_result_param_num(x, "a", 1);
    add(q, "m/onlya", "ns", 1.0, 0.01, 20);
    add(r, "m/onlyb", "ns", 1.0, 0.01, 20);
    add(q, "m/units", "ns", 5000.0, 0.01, 20);
    add(r, "m/units", "us", 5.0, 0.01, 20);
    add(q, "m/mixed", "ns", 5000.0, 0.01, 20);
    add(r, "m/mixed", "gb_per_s", 5.0, 0.01, 20);
    CHECK(owb_compare_docs(q, r, 5.0, 0.05, &c, err) == 0);
    CHECK(c.nrows == 3);
    CHECK(row(&c, "m/p", "\"a\":1") && row(&c, "m/p", NULL)->verdict == OWB_VERDICT_SAME);
    CHECK(c.n_only_a == 1 && !strcmp(c.only_a[0].name, "m/onlya"));
    CHECK(c.n_only_b == 1 && !strcmp(c.only_b[0].name, "m/onlyb"));
    const struct owb_compare_row *ru = row(&c, "m/units", NULL);
    CHECK(ru && ru->verdict == OWB_VERDICT_SAME && fabs(ru->ratio - 1.0) < 0.02);
    CHECK(verdict(&c, "m/mixed") == OWB_VERDICT_INCOMPARABLE);
    CHECK(c.n_incomparable == 1 && !owb_compare_regressed(&c));
    owb_compare_release(&c);
    owb_compare_release(&c); /* twice is harmless */

    CHECK(owb_compare_docs(q, r, -1.0, 0.05, &c, err) == OWB_E_USAGE);
    CHECK(strstr(err, "threshold") != NULL);
    CHECK(owb_compare_docs(q, r, 5.0, 1.5, &c, err) == OWB_E_USAGE);
    cJSON_Delete(q);
    cJSON_Delete(r);
    cJSON_Delete(a);
    TEST_DONE();
}
