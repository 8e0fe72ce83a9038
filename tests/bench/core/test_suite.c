/* SPDX-License-Identifier: MIT */
/*
 * test_suite.c: the spread validity rule of owb_suite_finish is the one measure.h, suite.h and
 * results/SCHEMA.md state: (p90 - p50) / p50 above max_rel_spread marks the benchmark not valid
 * with a "high spread" note. A wide fast tail (which (p90 - p10) / median would flag) keeps it
 * valid; a slow tail above the threshold does not; max_rel_spread = 0 turns the rule off.
 */
#include <stdbool.h>
#include <string.h>

#include "bench/core/suite.h"
#include "owb_test.h"
#include "results/result.h"

static bool has_note(const cJSON *bench, const char *prefix)
{
    const cJSON *n;
    cJSON_ArrayForEach(n, cJSON_GetObjectItem(bench, "notes"))
    {
        if (cJSON_IsString(n) && strncmp(n->valuestring, prefix, strlen(prefix)) == 0)
            return true;
    }
    return false;
}

/* Finish a benchmark over n samples; returns whether it stayed valid. */
static bool finish(double *ns, size_t n, double max_rel_spread, bool *high_spread)
{
    cJSON *doc = owb_result_new(0, NULL);
    OWB_ASSERT(doc);
    cJSON *b = owb_result_add_benchmark(doc, "case", "test");
    OWB_ASSERT(b);
    struct owb_measure_cfg cfg;
    owb_measure_cfg_default(&cfg);
    cfg.max_rel_spread = max_rel_spread;
    struct owb_samples s = {ns, n};
    CHECK(owb_suite_finish(b, &s, &cfg, "none", NULL, NULL) == 0);
    bool valid = cJSON_IsTrue(cJSON_GetObjectItem(b, "valid"));
    *high_spread = has_note(b, "high spread");
    cJSON_Delete(doc);
    return valid;
}

int main(void)
{
    double ns[20];
    bool hs;

    /* fast tail: 4 of 20 at 60, the rest at 100: (p90 - p10) / p50 = 40%, (p90 - p50) / p50 = 0 */
    for (int i = 0; i < 20; i++)
        ns[i] = i < 4 ? 60.0 : 100.0;
    CHECK(finish(ns, 20, 0.10, &hs));
    CHECK(!hs);

    /* slow tail: 4 of 20 at 150: p90 = 150, (p90 - p50) / p50 = 50% > 10% */
    for (int i = 0; i < 20; i++)
        ns[i] = i < 16 ? 100.0 : 150.0;
    CHECK(!finish(ns, 20, 0.10, &hs));
    CHECK(hs);
    /* the same samples with the threshold above their spread, and with the rule off */
    CHECK(finish(ns, 20, 0.60, &hs));
    CHECK(!hs);
    CHECK(finish(ns, 20, 0.0, &hs));
    CHECK(!hs);

    /* just over and just under: 4 of 20 at 111 (11%) and at 109 (9%) against 10% */
    for (int i = 0; i < 20; i++)
        ns[i] = i < 16 ? 100.0 : 111.0;
    CHECK(!finish(ns, 20, 0.10, &hs));
    CHECK(hs);
    for (int i = 0; i < 20; i++)
        ns[i] = i < 16 ? 100.0 : 109.0;
    CHECK(finish(ns, 20, 0.10, &hs));
    CHECK(!hs);
    TEST_DONE();
}
