/* SPDX-License-Identifier: MIT */
/*
 * test_serve_threads.c: the load generator with two client threads, open loop (Poisson, 200
 * requests/s) with a concurrency cap, under ThreadSanitizer in CI: every request is sent once, at
 * or after its scheduled time, has all its chunks, and the schedule's arrivals are the ones
 * owb_serve_schedule gives for the seed. OWB_TEST_LABELS: tsan
 */
#define _GNU_SOURCE
#include <math.h>
#include <string.h>

#include "bench/serve/serve.h"
#include "owb_test.h"
#include "serve_test_util.h"

int main(void)
{
    static const char *const args[] = {"--ttft-ms", "5", "--itl-ms", "1", NULL};
    struct test_server ts;
    struct owb_serve_cfg cfg;
    struct owb_serve_load ld;
    struct owb_serve_workload w;
    struct owb_len_dist in = {OWB_LEN_FIXED, 8, 0}, out = {OWB_LEN_FIXED, 6, 0};
    struct owb_serve_run *run = NULL;
    struct owb_serve_metrics m;
    char err[OWB_ERR_MAX];
    double sched[200];
    cJSON *st;

    if (ts_start(&ts, "threads", args))
        SKIP("needs owb-testserver");
    owb_serve_cfg_default(&cfg);
    cfg.url = ts.url;
    cfg.model = "owb-test";
    cfg.client_threads = 2;
    owb_serve_load_default(&ld);
    ld.rate = 200;
    ld.concurrency = 16;
    ld.requests = 200;
    ld.seed = 9;
    CHECK(owb_serve_workload_random(&w, 200, &in, &out, 4, err) == 0);
    CHECK_MSG(owb_serve_run(&cfg, &ld, &w, &run, err) == 0, "%s", err);
    st = ts_stop(&ts);
    CHECK(ts_num(st, "requests") == 200);
    CHECK(owb_serve_schedule(OWB_ARRIVAL_POISSON, 200, 1, 0, 9, 200, sched) == 0);
    int crc = run ? owb_serve_compute(run, NULL, &m) : OWB_E_USAGE;
    CHECK_MSG(crc == 0, "no run, or owb_serve_compute failed (%d)", crc);
    if (crc == 0) {
        CHECK(run->n == 200 && m.ok == 200 && m.measured_ok == 200);
        CHECK(run->client.threads == 2);
        for (size_t i = 0; i < run->n; i++) {
            const struct owb_serve_req *r = &run->reqs[i];
            CHECK(r->item == (int)i);
            CHECK_NEAR((double)r->sched_ns / 1e9, sched[i], 1e-6);
            CHECK(r->send_ns >= r->sched_ns);
            CHECK(r->first_token_ns > r->send_ns && r->end_ns >= r->first_token_ns);
            CHECK(r->n_chunks == 6 && r->output_tokens == 6);
        }
        CHECK(m.n[OWB_M_ITL_CHUNK] == 200 * 5);
        owb_serve_metrics_release(&m);
    }
    cJSON_Delete(st);
    owb_serve_run_free(run);
    owb_serve_workload_release(&w);
    TEST_DONE();
}
