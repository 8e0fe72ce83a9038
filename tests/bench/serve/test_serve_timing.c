/* SPDX-License-Identifier: MIT */
/*
 * test_serve_timing.c: the load generator recovers what the test server injected. 200 concurrent
 * streams (TTFT 50 ms, a token every 10 ms, 20 tokens): the server records when it actually sent
 * every chunk (owb_now_ns, the client's clock too), and requests are joined by the unique
 * first word of their prompt. At p99 the client's first-token time and every chunk gap must be
 * within 1 ms of the server's actual ones, and no chunk may be seen before it was sent (the join
 * and the clocks are right). Then with 4 tokens per chunk and logprobs: ITL per chunk is 4 gaps,
 * ITL per token one gap, TPOT = (E2E - TTFT) / (N - 1) from the run's own times.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/serve/serve.h"
#include "owb_test.h"
#include "serve_test_util.h"

#define TIMING_TOL_MS 1.0 /* the bound on timing error at p99 */

static int skipped; /* the machine was too busy for the timing bound (the run said so) */

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pctl(double *v, size_t n, double q)
{
    qsort(v, n, sizeof *v, cmp_d);
    return n ? v[(size_t)fmin((double)n - 1, floor(q * (double)n))] : (double)NAN;
}

static double median_of(const struct owb_serve_metrics *m, int k)
{
    double v, lo, hi;
    owb_serve_percentile_ci(m->v[k], m->n[k], 50, &v, &lo, &hi);
    return v;
}

/* Server "done" lines by request key ("r<item>"). */
static const cJSON *find_done(const cJSON *rec, int item)
{
    char key[32];
    const cJSON *o;
    snprintf(key, sizeof key, "r%d", item);
    cJSON_ArrayForEach(o, rec)
    {
        const cJSON *ev = cJSON_GetObjectItem(o, "event"), *k = cJSON_GetObjectItem(o, "key");
        if (cJSON_IsString(ev) && !strcmp(ev->valuestring, "done") && cJSON_IsString(k) &&
            !strcmp(k->valuestring, key))
            return o;
    }
    return NULL;
}

static void concurrent_200(void)
{
    static const char *const args[] = {"--ttft-ms", "50", "--itl-ms", "10", NULL};
    struct test_server ts;
    struct owb_serve_cfg cfg;
    struct owb_serve_load ld;
    struct owb_serve_workload w;
    struct owb_len_dist in = {OWB_LEN_FIXED, 16, 0}, out = {OWB_LEN_FIXED, 20, 0};
    struct owb_serve_run *run = NULL;
    struct owb_serve_metrics m;
    char err[OWB_ERR_MAX];
    cJSON *rec, *stats;
    double *first_err, *gap_err, *all_err, *server_gap, min_err = 1e9;
    size_t nf = 0, ng = 0, na = 0, nsg = 0, joined = 0, unusable = 0;
    double prev_before = 0;
    int prev_ok = 0;
    char why[256];

    if (ts_start(&ts, "timing", args))
        SKIP("needs owb-testserver");
    owb_serve_cfg_default(&cfg);
    int client_cpu[1] = {ts_client_cpu()};
    if (client_cpu[0] >= 0)
        cfg.cpus = client_cpu; /* the event loop alone on its CPU, the server on another */
    cfg.url = ts.url;
    cfg.model = "owb-test";
    owb_serve_load_default(&ld);
    ld.concurrency = 200;
    ld.warmup = 200; /* the first wave opens its 200 connections */
    ld.requests = 400;
    CHECK(owb_serve_workload_random(&w, 600, &in, &out, 1, err) == 0);
    CHECK_MSG(owb_serve_run(&cfg, &ld, &w, &run, err) == 0, "%s", err);
    stats = ts_stop(&ts);
    rec = ts_record(&ts);
    if (!run)
        goto out;
    CHECK(owb_serve_compute(run, NULL, &m) == 0);
    CHECK_MSG(m.measured_ok == 400, "measured ok %zu", m.measured_ok);
    CHECK(m.err_count[OWB_SERVE_OK] == 600);
    CHECK(ts_num(stats, "max_active") == 200);

    first_err = malloc(run->n * sizeof *first_err);
    gap_err = malloc(run->n_chunks * sizeof *gap_err);
    all_err = malloc(run->n_chunks * sizeof *all_err);
    server_gap = malloc(run->n_chunks * sizeof *server_gap);
    OWB_ASSERT(first_err && gap_err && all_err && server_gap);
    for (size_t i = 0; i < run->n; i++) {
        const struct owb_serve_req *r = &run->reqs[i];
        const struct owb_serve_chunk *ch = run->chunks + r->chunk0;
        const cJSON *d, *sends, *sent;
        if (r->phase != 1)
            continue;
        d = find_done(rec, r->item);
        sends = cJSON_GetObjectItem(d, "sends_ns");
        sent = cJSON_GetObjectItem(d, "sent_ns");
        if (!d || cJSON_GetArraySize(sends) != r->n_chunks) {
            CHECK_MSG(0, "request %zu: server record missing or chunk count differs", i);
            continue;
        }
        joined++;
        for (int c = 0; c < r->n_chunks; c++) {
            /* The server stamps before and after each send; the truth is in between. Chunks
             * whose send was itself preempted (> 0.2 ms) say nothing about the client. */
            double before = cJSON_GetArrayItem(sends, c)->valuedouble;
            double after = cJSON_GetArrayItem(sent, c)->valuedouble;
            double seen = (double)(run->t0_mono_ns + ch[c].t_ns);
            double e = (seen - before) / 1e6;
            if (e < min_err)
                min_err = e;
            if (after - before > 0.2e6) {
                unusable++;
                prev_ok = 0;
                continue;
            }
            all_err[na++] = e;
            if (c == 0)
                first_err[nf++] = fabs(e);
            else if (prev_ok)
                gap_err[ng++] = fabs((double)(ch[c].t_ns - ch[c - 1].t_ns) / 1e6 -
                                     (before - prev_before) / 1e6);
            if (c > 0)
                server_gap[nsg++] = (before - cJSON_GetArrayItem(sends, c - 1)->valuedouble) / 1e6;
            prev_before = before;
            prev_ok = 1;
        }
        prev_ok = 0;
    }
    CHECK(joined == 400);
    CHECK_MSG(unusable < run->n_chunks / 10, "%zu chunks with a preempted server send", unusable);
    CHECK_MSG(min_err > -0.05, "a chunk was seen %.3f ms before it was sent", -min_err);
    fprintf(stderr,
            "client: runq wait %.3f ms per wake-up (%.1f%%); timing error of all %zu chunks: "
            "p50 %.3f ms, p99 %.3f ms\n",
            run->client.runq_wait_ms, run->client.runq_wait_frac * 100, na, pctl(all_err, na, 0.5),
            pctl(all_err, na, 0.99));
    {
        double p_first = pctl(first_err, nf, 0.99), p_gap = pctl(gap_err, ng, 0.99);
        fprintf(stderr,
                "200 streams: first-token timing error p99 %.3f ms, gap error p99 %.3f ms "
                "(%zu gaps); TTFT median %.2f ms, ITL median %.2f ms; client busy %.0f%%, "
                "loop iteration p99 %.3f ms, wake-up p99 %.3f ms; server lateness p99 %.0f us\n",
                p_first, p_gap, ng, median_of(&m, OWB_M_TTFT), median_of(&m, OWB_M_ITL_CHUNK),
                run->client.cpu_busy * 100, run->client.iter_p99_ms, run->client.wake_p99_ms,
                ts_num(stats, "late_p99_us"));
        if (owb_serve_client_bound(&run->client, why, sizeof why)) {
            /* The run knows it is not valid: the claim "valid => error < 1 ms" is not testable
             * on a machine this busy. */
            fprintf(stderr, "SKIP timing bound: %s\n", why);
            skipped = 1;
        } else {
            CHECK_MSG(p_first < TIMING_TOL_MS, "first-token error p99 %.3f ms", p_first);
            CHECK_MSG(p_gap < TIMING_TOL_MS, "gap error p99 %.3f ms", p_gap);
        }
    }
    /* The injected values themselves, loosely (the server's own lateness adds to them). */
    CHECK(median_of(&m, OWB_M_TTFT) >= 50);
    CHECK(skipped || median_of(&m, OWB_M_TTFT) < 55);
    CHECK(skipped || fabs(median_of(&m, OWB_M_ITL_CHUNK) - 10) < 1);
    /* the client's median gap is the server's actual median gap (unless the client was bound:
     * then chunks queue up in the socket and arrive together) */
    CHECK_MSG(skipped || fabs(median_of(&m, OWB_M_ITL_CHUNK) - pctl(server_gap, nsg, 0.5)) < 0.5,
              "client ITL median %.3f ms, server's actual gaps %.3f ms",
              median_of(&m, OWB_M_ITL_CHUNK), pctl(server_gap, nsg, 0.5));
    free(first_err);
    free(gap_err);
    free(all_err);
    free(server_gap);
    owb_serve_metrics_release(&m);
out:
    cJSON_Delete(rec);
    cJSON_Delete(stats);
    owb_serve_run_free(run);
    owb_serve_workload_release(&w);
}

static void chunks_of_four(void)
{
    static const char *const args[] = {"--ttft-ms",          "20", "--itl-ms", "5",
                                       "--tokens-per-chunk", "4",  NULL};
    struct test_server ts;
    struct owb_serve_cfg cfg;
    struct owb_serve_load ld;
    struct owb_serve_workload w;
    struct owb_len_dist in = {OWB_LEN_FIXED, 8, 0}, out = {OWB_LEN_FIXED, 20, 0};
    struct owb_serve_run *run = NULL;
    struct owb_serve_metrics m;
    char err[OWB_ERR_MAX];

    if (ts_start(&ts, "chunks", args))
        SKIP("needs owb-testserver");
    owb_serve_cfg_default(&cfg);
    int client_cpu[1] = {ts_client_cpu()};
    if (client_cpu[0] >= 0)
        cfg.cpus = client_cpu; /* the event loop alone on its CPU, the server on another */
    cfg.url = ts.url;
    cfg.model = "owb-test";
    cfg.logprobs = true;
    owb_serve_load_default(&ld);
    ld.concurrency = 10;
    ld.requests = 40;
    CHECK(owb_serve_workload_random(&w, 40, &in, &out, 2, err) == 0);
    CHECK_MSG(owb_serve_run(&cfg, &ld, &w, &run, err) == 0, "%s", err);
    cJSON_Delete(ts_stop(&ts));
    int crc = run ? owb_serve_compute(run, NULL, &m) : OWB_E_USAGE;
    CHECK_MSG(crc == 0, "no run, or owb_serve_compute failed (%d)", crc);
    char why[256];
    /* a client bound by this machine knows its times are late: the counts still hold */
    const bool bound = run && owb_serve_client_bound(&run->client, why, sizeof why);
    if (bound) {
        fprintf(stderr, "SKIP chunk timing: %s\n", why);
        skipped = 1;
    }
    if (crc == 0) {
        double ttft_sum = 0, e2e_sum = 0, tpot_sum = 0;
        CHECK(m.measured_ok == 40);
        CHECK(m.token_method_count[OWB_TOK_LOGPROBS] == 40);
        /* 20 tokens in 5 chunks: 4 gaps of 4 x 5 ms per request */
        CHECK(m.n[OWB_M_ITL_CHUNK] == 40 * 4);
        CHECK(m.n[OWB_M_ITL_TOKEN] == 40 * 16);
        CHECK(bound || fabs(median_of(&m, OWB_M_ITL_CHUNK) - 20.0) <= 1.0);
        CHECK(bound || fabs(median_of(&m, OWB_M_ITL_TOKEN) - 5.0) <= 0.25);
        /* TPOT is (E2E - TTFT) / (N - 1) per request: 80 ms / 19 here */
        for (size_t i = 0; i < m.n[OWB_M_TTFT]; i++) {
            ttft_sum += m.v[OWB_M_TTFT][i];
            e2e_sum += m.v[OWB_M_E2E][i];
            tpot_sum += m.v[OWB_M_TPOT][i];
        }
        CHECK_NEAR(tpot_sum, (e2e_sum - ttft_sum) / 19, 1e-6 * tpot_sum);
        CHECK(bound || fabs(median_of(&m, OWB_M_TPOT) - 80.0 / 19) <= 0.3);
        CHECK(m.output_len_honoured_frac == 1);
        owb_serve_metrics_release(&m);
    }
    owb_serve_run_free(run);
    run = NULL;
    /* the same with usage in every chunk instead of logprobs */
    if (ts_start(&ts, "chunks-usage", args))
        SKIP("needs owb-testserver");
    cfg.url = ts.url;
    cfg.logprobs = false;
    cfg.continuous_usage = true;
    CHECK_MSG(owb_serve_run(&cfg, &ld, &w, &run, err) == 0, "%s", err);
    cJSON_Delete(ts_stop(&ts));
    crc = run ? owb_serve_compute(run, NULL, &m) : OWB_E_USAGE;
    CHECK_MSG(crc == 0, "no run, or owb_serve_compute failed (%d)", crc);
    const bool bound2 = run && owb_serve_client_bound(&run->client, why, sizeof why);
    if (bound2) {
        fprintf(stderr, "SKIP chunk timing (usage): %s\n", why);
        skipped = 1;
    }
    if (crc == 0) {
        CHECK(m.token_method_count[OWB_TOK_USAGE] == 40);
        CHECK(m.n[OWB_M_ITL_TOKEN] == 40 * 16);
        CHECK(m.usage_mismatch == 0);
        CHECK(bound2 || fabs(median_of(&m, OWB_M_ITL_TOKEN) - 5.0) <= 0.25);
        owb_serve_metrics_release(&m);
    }
    owb_serve_run_free(run);
    owb_serve_workload_release(&w);
}

int main(void)
{
    concurrent_200();
    chunks_of_four();
    if (!owb_test_failures && skipped)
        SKIP("the client was bound by this machine (see above), timing bound not checked");
    TEST_DONE();
}
