/* SPDX-License-Identifier: MIT */
/*
 * test_serve_metrics.c: the metric formulas of docs/serve.md on hand-made records whose values are
 * worked out by hand here: TTFT and E2E from the scheduled time (not the send time), TPOT =
 * (E2E - TTFT) / (N - 1) with N from usage, ITL per chunk (gaps) and per token (gap / tokens,
 * once per token), dispatch lag, warm-up/cool-down exclusion, the throughput window, goodput under
 * an SLO, the SLO parser and checker, percentile confidence intervals, and client-bound rules.
 */
#include <math.h>
#include <string.h>

#include "bench/serve/serve.h"
#include "owb_test.h"

#define MS 1000000ull /* ns */

int main(void)
{
    /* Request 0 (warm-up) and 3 (cool-down) are excluded. Request 1: scheduled at 0, sent at
     * 2 ms (lag 2), first token at 100 ms, chunks at 100 (1 token), 120 (2 tokens), 150 (1
     * token), end at 160; usage says 4 tokens. Request 2: scheduled at 50, sent at 50, chunks at
     * 300 (1) and 340 (1), end 350, no usage (N = 2 from the chunks). Request 4: HTTP 500. */
    struct owb_serve_chunk ch[] = {
        {10 * MS, 1, 0},  {100 * MS, 1, 1}, {120 * MS, 2, 1}, {150 * MS, 1, 1},
        {300 * MS, 1, 2}, {340 * MS, 1, 2}, {900 * MS, 1, 3},
    };
    struct owb_serve_req rq[5];
    struct owb_serve_run run;
    struct owb_serve_metrics m;
    struct owb_slo slo;
    char err[OWB_ERR_MAX], why[256];
    double v, lo, hi;

    memset(rq, 0, sizeof rq);
    memset(&run, 0, sizeof run);
    for (int i = 0; i < 5; i++) {
        rq[i].item = i;
        rq[i].phase = 1;
        rq[i].max_tokens = 4;
        rq[i].http_status = 200;
        rq[i].input_tokens = 10;
    }
    rq[0].phase = 0, rq[0].first_token_ns = 10 * MS, rq[0].end_ns = 20 * MS;
    rq[0].chunk0 = 0, rq[0].n_chunks = 1;
    rq[1].sched_ns = 0, rq[1].send_ns = 2 * MS, rq[1].first_token_ns = 100 * MS;
    rq[1].end_ns = 160 * MS, rq[1].chunk0 = 1, rq[1].n_chunks = 3;
    rq[1].usage_reported = 1, rq[1].output_tokens = 4, rq[1].input_tokens = 12;
    rq[1].token_method = OWB_TOK_USAGE;
    rq[2].sched_ns = 50 * MS, rq[2].send_ns = 50 * MS, rq[2].first_token_ns = 300 * MS;
    rq[2].end_ns = 350 * MS, rq[2].chunk0 = 4, rq[2].n_chunks = 2;
    rq[3].phase = 2, rq[3].sched_ns = 800 * MS, rq[3].first_token_ns = 900 * MS;
    rq[3].end_ns = 950 * MS, rq[3].chunk0 = 6, rq[3].n_chunks = 1;
    rq[4].sched_ns = 60 * MS, rq[4].send_ns = 61 * MS, rq[4].end_ns = 62 * MS;
    rq[4].http_status = 500, rq[4].err = OWB_SERVE_E_HTTP, rq[4].chunk0 = 7;
    run.reqs = rq;
    run.n = 5;
    run.chunks = ch;
    run.n_chunks = 7;

    CHECK(owb_serve_compute(&run, NULL, &m) == 0);
    CHECK(m.sent == 5 && m.ok == 4 && m.measured == 3 && m.measured_ok == 2);
    CHECK(m.err_count[OWB_SERVE_E_HTTP] == 1 && m.http_status_count[5] == 1);
    CHECK(m.n[OWB_M_TTFT] == 2);
    CHECK_NEAR(m.v[OWB_M_TTFT][0], 100, 1e-9); /* from scheduled 0, not sent 2 */
    CHECK_NEAR(m.v[OWB_M_TTFT][1], 250, 1e-9);
    CHECK_NEAR(m.v[OWB_M_E2E][0], 160, 1e-9);
    CHECK_NEAR(m.v[OWB_M_E2E][1], 300, 1e-9);
    CHECK(m.n[OWB_M_TPOT] == 2);
    CHECK_NEAR(m.v[OWB_M_TPOT][0], (160.0 - 100) / 3, 1e-9); /* N = 4 from usage */
    CHECK_NEAR(m.v[OWB_M_TPOT][1], (300.0 - 250) / 1, 1e-9); /* N = 2 from chunks */
    /* per chunk: 20, 30 (request 1), 40 (request 2) */
    CHECK(m.n[OWB_M_ITL_CHUNK] == 3);
    CHECK_NEAR(m.v[OWB_M_ITL_CHUNK][0], 20, 1e-9);
    CHECK_NEAR(m.v[OWB_M_ITL_CHUNK][1], 30, 1e-9);
    CHECK_NEAR(m.v[OWB_M_ITL_CHUNK][2], 40, 1e-9);
    /* per token: 10, 10 (the 2-token chunk), 30, 40 */
    CHECK(m.n[OWB_M_ITL_TOKEN] == 4);
    CHECK_NEAR(m.v[OWB_M_ITL_TOKEN][0], 10, 1e-9);
    CHECK_NEAR(m.v[OWB_M_ITL_TOKEN][1], 10, 1e-9);
    CHECK_NEAR(m.v[OWB_M_ITL_TOKEN][2], 30, 1e-9);
    CHECK_NEAR(m.v[OWB_M_ITL_TOKEN][3], 40, 1e-9);
    /* lag of every measured request sent, failures included: 2, 0, 1 */
    CHECK(m.n[OWB_M_LAG] == 3);
    CHECK_NEAR(m.v[OWB_M_LAG][0] + m.v[OWB_M_LAG][1] + m.v[OWB_M_LAG][2], 3, 1e-9);
    /* window: scheduled 0 to end 350 ms; 2 ok requests, 4 + 2 output tokens, 12 + 10 input */
    CHECK_NEAR(m.window_s, 0.35, 1e-12);
    CHECK_NEAR(m.req_per_s, 2 / 0.35, 1e-9);
    CHECK_NEAR(m.output_tok_per_s, 6 / 0.35, 1e-9);
    CHECK_NEAR(m.total_tok_per_s, 28 / 0.35, 1e-9);
    CHECK_NEAR(m.goodput_req_per_s, m.req_per_s, 1e-12);
    CHECK_NEAR(m.output_len_honoured_frac, 0.5, 1e-12);
    CHECK(m.usage_mismatch == 0);
    CHECK(m.token_method_count[OWB_TOK_USAGE] == 1 && m.token_method_count[OWB_TOK_CHUNK] == 1);
    owb_serve_metrics_release(&m);

    /* goodput: TTFT <= 200 ms keeps request 1 only */
    CHECK(owb_slo_parse("ttft=200ms,tpot=1s", 99, &slo, err) == 0);
    CHECK(slo.n == 2 && slo.metric[0] == OWB_M_TTFT && slo.limit_ms[1] == 1000);
    CHECK(owb_serve_compute(&run, &slo, &m) == 0);
    CHECK(m.good == 1);
    CHECK_NEAR(m.goodput_req_per_s, 1 / 0.35, 1e-9);
    CHECK(!owb_slo_check(&slo, &m, NULL)); /* p99 of TTFT is ~250 */
    CHECK(owb_slo_parse("p50:ttft=300ms,errors=25%", 99, &slo, err) == 0);
    CHECK(slo.pct[0] == 50 && fabs(slo.max_error_frac - 0.25) < 1e-12);
    CHECK(owb_slo_check(&slo, &m, NULL)); /* median 175 <= 300, errors 1/5 <= 25% */
    CHECK(owb_slo_parse("errors=10%", 99, &slo, err) == 0);
    CHECK(!owb_slo_check(&slo, &m, NULL));
    owb_serve_metrics_release(&m);

    /* bad SLO terms name the problem */
    CHECK(owb_slo_parse("ttft=fast", 99, &slo, err) == OWB_E_USAGE && strstr(err, "ttft=fast"));
    CHECK(owb_slo_parse("latency=1s", 99, &slo, err) == OWB_E_USAGE);
    CHECK(owb_slo_parse("p100:ttft=1s", 99, &slo, err) == OWB_E_USAGE);
    CHECK(owb_slo_parse("ttft=2s,e2e=800us", 90, &slo, err) == 0 &&
          fabs(slo.limit_ms[0] - 2000) < 1e-9 && fabs(slo.limit_ms[1] - 0.8) < 1e-12 &&
          slo.pct[1] == 90);

    /* percentile CI: 1..100, median 50.5; ranks 50 -+ 1.96 * 5 widened to whole ranks: the 40th
     * and 61st order statistics (the textbook interval for the median of 100) */
    {
        double x[100];
        for (int i = 0; i < 100; i++)
            x[i] = 100 - i;
        CHECK(owb_serve_percentile_ci(x, 100, 50, &v, &lo, &hi) == 0);
        CHECK_NEAR(v, 50.5, 1e-12);
        CHECK_NEAR(lo, 40, 1e-12);
        CHECK_NEAR(hi, 61, 1e-12);
        CHECK(owb_serve_percentile_ci(x, 100, 99, &v, &lo, &hi) == 0);
        CHECK_NEAR(v, 99.01, 1e-9);
        CHECK(lo <= v && hi == 100);
        CHECK(owb_serve_percentile_ci(x, 0, 50, &v, &lo, &hi) == 0 && isnan(v));
    }

    /* client-bound rules */
    {
        struct owb_serve_client c;
        memset(&c, 0, sizeof c);
        CHECK(!owb_serve_client_bound(&c, why, sizeof why) && why[0] == '\0');
        c.cpu_busy = 0.95;
        CHECK(owb_serve_client_bound(&c, why, sizeof why) && strstr(why, "client-bound"));
        c.cpu_busy = 0.5;
        c.iter_p99_ms = 1.5;
        CHECK(owb_serve_client_bound(&c, why, sizeof why));
        c.iter_p99_ms = 0.2;
        c.dispatch_lag_p99_ms = 3;
        CHECK(owb_serve_client_bound(&c, why, sizeof why));
        c.dispatch_lag_p99_ms = 0.1;
        c.wake_p99_ms = 0.8;
        CHECK(owb_serve_client_bound(&c, why, sizeof why) && strstr(why, "woke"));
        c.wake_p99_ms = 0.1;
        c.runq_wait_ms = 0.5;
        CHECK(owb_serve_client_bound(&c, why, sizeof why));
        c.runq_wait_ms = 0.01;
        CHECK(!owb_serve_client_bound(&c, why, sizeof why));
    }
    TEST_DONE();
}
