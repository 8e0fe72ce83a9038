/* SPDX-License-Identifier: MIT */
/*
 * test_result_nomem.c: a failed allocation while a benchmark is filled can never leave it
 * `valid: true`. cJSON's allocator is replaced by one that fails the k-th allocation, for every
 * k over the whole filling of a benchmark (samples, params, metrics, notes, invalidation); after
 * each run, if any allocation failed and the benchmark exists, it must read valid false.
 */
#include <stdlib.h>
#include <string.h>

#include "results/result.h"
#include "tests/owb_test.h"

static long g_count, g_fail_at = -1, g_failed;

static void *failing_malloc(size_t n)
{
    if (g_count++ == g_fail_at) {
        g_failed++;
        return NULL;
    }
    return malloc(n);
}

static void fill(cJSON *b)
{
    const double v[6] = {100, 110, 105, 103, 108, 101};
    owb_result_set_samples(b, "ns", v, 6);
    owb_result_param_num(b, "threads", 2);
    owb_result_param_str(b, "format", "q4_0");
    owb_result_metric(b, "gb_per_s", 31.5);
    owb_result_metric(b, "pct_of_ceiling", 92.0);
    owb_result_note(b, "a plain note");
    owb_result_param_str(b, "path", "avx512 something long enough to allocate a string");
}

int main(void)
{
    int runs = 0, caught = 0;
    for (long k = 0; k < 400; k++) {
        cJSON *doc = owb_result_new(0, NULL); /* the document itself with the real allocator */
        CHECK(doc != NULL);
        if (!doc)
            break;
        cJSON_Hooks h = {failing_malloc, free};
        g_count = 0;
        g_fail_at = k;
        g_failed = 0;
        cJSON_InitHooks(&h);
        cJSON *b = owb_result_add_benchmark(doc, "kernels/gemv/q4_0/4096x4096/t2", "kernels");
        if (b)
            fill(b);
        cJSON_InitHooks(NULL);
        const long used = g_count;
        if (b && g_failed) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, "valid");
            CHECK_MSG(!cJSON_IsTrue(v), "allocation %ld of %ld failed, benchmark still valid", k,
                      used);
            caught++;
        }
        if (!g_failed) { /* k past the last allocation: the untouched run stays valid */
            CHECK(b && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "valid")));
            cJSON_Delete(doc);
            runs++;
            break;
        }
        cJSON_Delete(doc);
        runs++;
    }
    CHECK_MSG(caught > 10, "only %d runs failed an allocation inside a benchmark", caught);
    printf("%d runs, %d with a failed allocation inside the benchmark\n", runs, caught);
    TEST_DONE();
}
