/* SPDX-License-Identifier: MIT */
/*
 * test_serve_errors.c: error counts are exact per class. The test server injects HTTP 500s,
 * mid-stream disconnects, malformed events, error objects inside streams and stalls (the client's
 * 1 s timeout ends them), each drawn per request from a seeded generator; its exit summary counts
 * what it did. The client's classes must match those counts exactly, the run must go on through
 * them, and the successful requests must still have their latencies. A refused connection (a port
 * nobody listens on) is counted as "connect" for every request.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "bench/serve/serve.h"
#include "owb_test.h"
#include "serve_test_util.h"

static void injected(void)
{
    static const char *const args[] = {"--ttft-ms",
                                       "5",
                                       "--itl-ms",
                                       "2",
                                       "--error-rate",
                                       "0.1",
                                       "--disconnect-rate",
                                       "0.1",
                                       "--malformed-rate",
                                       "0.1",
                                       "--stream-error-rate",
                                       "0.1",
                                       "--stall-rate",
                                       "0.05",
                                       "--seed",
                                       "7",
                                       NULL};
    struct test_server ts;
    struct owb_serve_cfg cfg;
    struct owb_serve_load ld;
    struct owb_serve_workload w;
    struct owb_len_dist in = {OWB_LEN_FIXED, 8, 0}, out = {OWB_LEN_FIXED, 8, 0};
    struct owb_serve_run *run = NULL;
    struct owb_serve_metrics m;
    char err[OWB_ERR_MAX];
    cJSON *st;

    if (ts_start(&ts, "errors", args))
        SKIP("needs owb-testserver");
    owb_serve_cfg_default(&cfg);
    cfg.url = ts.url;
    cfg.model = "owb-test";
    cfg.timeout_s = 1.0;
    owb_serve_load_default(&ld);
    ld.concurrency = 50;
    ld.requests = 300;
    CHECK(owb_serve_workload_random(&w, 300, &in, &out, 3, err) == 0);
    CHECK_MSG(owb_serve_run(&cfg, &ld, &w, &run, err) == 0, "%s", err);
    st = ts_stop(&ts);
    CHECK_MSG(st != NULL, "no server summary");
    int crc = run ? owb_serve_compute(run, NULL, &m) : OWB_E_USAGE;
    CHECK_MSG(crc == 0, "no run, or owb_serve_compute failed (%d)", crc);
    if (crc == 0 && st) {
        fprintf(stderr,
                "server: ok %.0f, 500 %.0f, disconnect %.0f, malformed %.0f, stream_error %.0f, "
                "stall %.0f\n",
                ts_num(st, "ok"), ts_num(st, "http_500"), ts_num(st, "disconnect"),
                ts_num(st, "malformed"), ts_num(st, "stream_error"), ts_num(st, "stall"));
        CHECK(ts_num(st, "requests") == 300);
        CHECK(m.sent == 300);
        /* every class present, so the comparison means something */
        CHECK(ts_num(st, "http_500") > 0 && ts_num(st, "disconnect") > 0 &&
              ts_num(st, "malformed") > 0 && ts_num(st, "stream_error") > 0 &&
              ts_num(st, "stall") > 0);
        CHECK_MSG((double)m.err_count[OWB_SERVE_OK] == ts_num(st, "ok"), "ok %zu",
                  m.err_count[OWB_SERVE_OK]);
        CHECK_MSG((double)m.err_count[OWB_SERVE_E_HTTP] == ts_num(st, "http_500"), "http %zu",
                  m.err_count[OWB_SERVE_E_HTTP]);
        CHECK_MSG((double)m.err_count[OWB_SERVE_E_DISCONNECT] == ts_num(st, "disconnect"),
                  "disconnect %zu", m.err_count[OWB_SERVE_E_DISCONNECT]);
        CHECK_MSG((double)m.err_count[OWB_SERVE_E_MALFORMED] == ts_num(st, "malformed"),
                  "malformed %zu", m.err_count[OWB_SERVE_E_MALFORMED]);
        CHECK_MSG((double)m.err_count[OWB_SERVE_E_STREAM_ERROR] == ts_num(st, "stream_error"),
                  "stream_error %zu", m.err_count[OWB_SERVE_E_STREAM_ERROR]);
        CHECK_MSG((double)m.err_count[OWB_SERVE_E_TIMEOUT] == ts_num(st, "stall"), "timeout %zu",
                  m.err_count[OWB_SERVE_E_TIMEOUT]);
        CHECK(m.err_count[OWB_SERVE_E_OTHER] == 0 && m.err_count[OWB_SERVE_E_CONNECT] == 0);
        CHECK(m.http_status_count[5] == (size_t)ts_num(st, "http_500"));
        /* latencies come from the successful requests only */
        CHECK(m.n[OWB_M_TTFT] == m.err_count[OWB_SERVE_OK]);
        owb_serve_metrics_release(&m);
    }
    cJSON_Delete(st);
    owb_serve_run_free(run);
    owb_serve_workload_release(&w);
}

static void refused(void)
{
    struct owb_serve_cfg cfg;
    struct owb_serve_load ld;
    struct owb_serve_workload w;
    struct owb_len_dist in = {OWB_LEN_FIXED, 4, 0}, out = {OWB_LEN_FIXED, 4, 0};
    struct owb_serve_run *run = NULL;
    struct owb_serve_metrics m;
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    char err[OWB_ERR_MAX], url[128];
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    /* A port that was free a moment ago: bind, read it, close. */
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    OWB_ASSERT(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
               getsockname(fd, (struct sockaddr *)&a, &al) == 0);
    close(fd);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", ntohs(a.sin_port));
    owb_serve_cfg_default(&cfg);
    cfg.url = url;
    cfg.model = "x";
    owb_serve_load_default(&ld);
    ld.concurrency = 2;
    ld.requests = 5;
    CHECK(owb_serve_workload_random(&w, 5, &in, &out, 3, err) == 0);
    CHECK_MSG(owb_serve_run(&cfg, &ld, &w, &run, err) == 0, "%s", err);
    int crc = run ? owb_serve_compute(run, NULL, &m) : OWB_E_USAGE;
    CHECK_MSG(crc == 0, "no run, or owb_serve_compute failed (%d)", crc);
    if (crc == 0) {
        CHECK_MSG(m.err_count[OWB_SERVE_E_CONNECT] == 5, "connect %zu",
                  m.err_count[OWB_SERVE_E_CONNECT]);
        CHECK(m.ok == 0 && m.n[OWB_M_TTFT] == 0);
        owb_serve_metrics_release(&m);
    }
    /* and the probe says the server is unreachable */
    {
        struct owb_serve_probe pr;
        CHECK(owb_serve_probe(&cfg, &w, &pr, err) == OWB_E_IO);
        CHECK_MSG(strstr(err, "cannot reach") != NULL, "%s", err);
    }
    owb_serve_run_free(run);
    owb_serve_workload_release(&w);
}

int main(void)
{
    refused();
    injected();
    TEST_DONE();
}
