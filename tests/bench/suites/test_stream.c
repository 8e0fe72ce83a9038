/* SPDX-License-Identifier: MIT */
/*
 * test_stream.c: the stream suite on small arrays: every kernel and thread count gives a
 * benchmark with the documented name, params, positive bandwidth consistent with its samples and
 * byte count, and owb_stream_read_ceiling finds the read ceiling for a thread count.
 */
#include <string.h>

#include "owb_test.h"
#include "bench/suites/stream.h"
#include "bench/core/topo.h"
#include "results/result.h"

static const cJSON *find(const cJSON *doc, const char *name)
{
    const cJSON *b = NULL;
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(b, "name");
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name))
            return b;
    }
    return NULL;
}

static double num(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : (double)NAN;
}

int main(void)
{
    char err[OWB_ERR_MAX] = "";
    struct owb_topo *topo = owb_topo_new(NULL, err);
    CHECK_MSG(topo != NULL, "%s", err);
    if (!topo)
        TEST_DONE();
    int threads[2] = {1, owb_topo_npus(topo) > 1 ? 2 : 1};
    struct owb_stream_cfg cfg;
    owb_stream_cfg_default(&cfg);
    cfg.threads = threads;
    cfg.nthreads = threads[1] == 1 ? 1 : 2;
    cfg.array_bytes = (size_t)4 << 20; /* small: this tests the plumbing, not the machine */
    cfg.measure.min_reps = 6;
    cfg.measure.min_time_s = 0.01;
    cfg.measure.warmup_s = 0;
    cfg.counters = "none";
    cJSON *doc = owb_result_new(0, NULL);
    CHECK(owb_stream_run(&cfg, topo, doc, err) == 0);

    static const char *kernels[] = {"copy", "scale", "add", "triad", "read"};
    static const double bytes_per_elem[] = {16, 16, 24, 24, 8};
    for (int t = 0; t < cfg.nthreads; t++) {
        for (int k = 0; k < 5; k++) {
            char name[64];
            snprintf(name, sizeof name, "stream/%s/t%d", kernels[k], threads[t]);
            const cJSON *b = find(doc, name);
            CHECK_MSG(b != NULL, "missing %s", name);
            if (!b)
                continue;
            const cJSON *params = cJSON_GetObjectItemCaseSensitive(b, "params");
            const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(b, "metrics");
            const cJSON *stats = cJSON_GetObjectItemCaseSensitive(b, "stats");
            double elems = num(params, "elements");
            CHECK(num(params, "threads") == threads[t]);
            CHECK(elems * 8 <= (double)cfg.array_bytes && elems > 0);
            CHECK_NEAR(num(metrics, "bytes_per_iter"), bytes_per_elem[k] * elems, 0.5);
            /* best GB/s is bytes over the fastest sample, in bytes per ns */
            CHECK_NEAR(num(metrics, "gb_per_s"), num(metrics, "bytes_per_iter") / num(stats, "min"),
                       1e-9 * num(metrics, "gb_per_s"));
            CHECK(num(metrics, "gb_per_s") >= num(metrics, "gb_per_s_median"));
            CHECK(num(metrics, "gb_per_s") > 0.1); /* any machine moves more than 0.1 GB/s */
            CHECK(num(stats, "n") >= cfg.measure.min_reps);
            CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(b, "pinning")));
        }
    }
    double ceil1 = 0, ceil_big = 0;
    CHECK(owb_stream_read_ceiling(doc, 1, &ceil1) == 0);
    CHECK(owb_stream_read_ceiling(doc, 64, &ceil_big) == 0); /* falls back to the largest t */
    CHECK(ceil1 > 0 && ceil_big > 0);
    /* the ceiling at t threads is the best of every read kernel at <= t threads */
    double want1 = 0, want_big = 0;
    const char *reads[] = {"read", "read_pf", "read_streams4"};
    for (int k = 0; k < 3; k++)
        for (int t = 0; t < 2; t++) {
            char nm[64];
            snprintf(nm, sizeof nm, "stream/%s/t%d", reads[k], threads[t]);
            double g = num(cJSON_GetObjectItemCaseSensitive(find(doc, nm), "metrics"), "gb_per_s");
            CHECK_MSG(g > 0, "%s", nm);
            if (threads[t] <= 1 && g > want1)
                want1 = g;
            if (g > want_big)
                want_big = g;
        }
    CHECK_NEAR(ceil1, want1, 0);
    CHECK_NEAR(ceil_big, want_big, 0);
    cJSON *empty = owb_result_new(0, NULL);
    CHECK(owb_stream_read_ceiling(empty, 1, &ceil1) == OWB_E_FORMAT);

    /* a policy that cannot hold the threads is a usage error naming it */
    int too_many[1] = {owb_topo_npus(topo) + 1};
    cfg.threads = too_many;
    cfg.nthreads = 1;
    err[0] = 0;
    CHECK(owb_stream_run(&cfg, topo, doc, err) == OWB_E_USAGE);
    CHECK_MSG(strstr(err, "compact") != NULL, "%s", err);

    cJSON_Delete(empty);
    cJSON_Delete(doc);
    owb_topo_free(topo);
    TEST_DONE();
}
