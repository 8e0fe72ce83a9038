/* SPDX-License-Identifier: MIT */
/*
 * test_serve_merge.c: merging the runs of several load generators (owb_serve_run_pack /
 * owb_serve_run_merge): records ordered by shifted scheduled time, every time shifted except the
 * zeros of events that never happened, chunks moved with their request and re-indexed, client
 * health summed or maxed, and the metrics of the merged run equal to those of the same requests
 * as one run; a buffer that is not a packed run is refused.
 */
#include "bench/serve/serve.h"
#include "owb_test.h"

#define MS 1000000ull

/* A run of n requests scheduled at sched_ms[i], each with TTFT ttft_ms and k chunks itl_ms apart
 * (one token each); request fail_idx (if >= 0) failed with HTTP 500 before any byte. */
static struct owb_serve_run *make_run(const double *sched_ms, int n, double ttft_ms, int k,
                                      double itl_ms, int fail_idx, double busy, uint64_t events)
{
    struct owb_serve_run *r = calloc(1, sizeof *r);
    r->reqs = calloc((size_t)n, sizeof *r->reqs);
    r->chunks = calloc((size_t)(n * k), sizeof *r->chunks);
    for (int i = 0; i < n; i++) {
        struct owb_serve_req *q = &r->reqs[i];
        uint64_t s = (uint64_t)(sched_ms[i] * (double)MS);
        q->sched_ns = s;
        q->send_ns = s + 10000;
        q->item = i;
        q->phase = 1;
        q->max_tokens = k;
        q->input_tokens = 8;
        q->chunk0 = r->n_chunks;
        if (i == fail_idx) {
            q->http_status = 500;
            q->err = OWB_SERVE_E_HTTP;
            q->end_ns = s + 2 * MS;
            continue;
        }
        q->http_status = 200;
        q->first_byte_ns = s + (uint64_t)(ttft_ms * (double)MS);
        q->first_token_ns = q->first_byte_ns;
        for (int c = 0; c < k; c++) {
            struct owb_serve_chunk *ch = &r->chunks[r->n_chunks++];
            ch->t_ns = q->first_token_ns + (uint64_t)(c * itl_ms * (double)MS);
            ch->tokens = 1;
            ch->req = (uint32_t)i;
        }
        q->n_chunks = k;
        q->output_tokens = k;
        q->usage_reported = 1;
        q->token_method = OWB_TOK_CHUNK;
        q->end_ns = r->chunks[r->n_chunks - 1].t_ns + MS;
    }
    r->n = (size_t)n;
    r->client.threads = 1;
    r->client.cpu_busy = busy;
    r->client.events = events;
    r->client.wall_s = 1;
    r->client.cpu_requested[0] = r->client.cpu_observed[0] = (int)events % 7;
    r->wall_s = 1;
    return r;
}

int main(void)
{
    const double sa[] = {0, 20, 40}, sb[] = {10, 30};
    struct owb_serve_run *a = make_run(sa, 3, 30, 4, 5, -1, 0.2, 100);
    struct owb_serve_run *b = make_run(sb, 2, 30, 4, 5, 1, 0.5, 50);
    void *pa = NULL, *pb = NULL;
    size_t la = 0, lb = 0;
    char err[OWB_ERR_MAX] = "";
    CHECK(owb_serve_run_pack(a, &pa, &la) == 0);
    CHECK(owb_serve_run_pack(b, &pb, &lb) == 0);

    /* b's time zero was 2 ms after a's: its times move 2 ms later on the merged axis. */
    const void *bufs[2] = {pa, pb};
    size_t lens[2] = {la, lb};
    int64_t shift[2] = {0, 2 * (int64_t)MS};
    struct owb_serve_run *m = NULL;
    CHECK(owb_serve_run_merge(bufs, lens, shift, 2, &m, err) == 0);
    CHECK(m && m->n == 5 && m->n_chunks == 16);
    const double want_sched[] = {0, 12, 20, 32, 40};
    for (size_t i = 0; m && i < m->n; i++) {
        CHECK_NEAR((double)m->reqs[i].sched_ns / MS, want_sched[i], 1e-9);
        if (i > 0)
            CHECK(m->reqs[i].sched_ns >= m->reqs[i - 1].sched_ns);
        for (int c = 0; c < m->reqs[i].n_chunks; c++) {
            const struct owb_serve_chunk *ch = &m->chunks[m->reqs[i].chunk0 + (size_t)c];
            CHECK(ch->req == i);
            CHECK(ch->t_ns >= m->reqs[i].first_token_ns);
        }
    }
    if (m) {
        /* The failed request (b's second, at 30 + 2 ms) kept its zeros. */
        CHECK(m->reqs[3].err == OWB_SERVE_E_HTTP && m->reqs[3].first_byte_ns == 0 &&
              m->reqs[3].n_chunks == 0);
        CHECK(m->reqs[1].first_token_ns == 12 * MS + 30 * MS);
        CHECK(m->client.threads == 2 && m->client.events == 150);
        CHECK_NEAR(m->client.cpu_busy, 0.5, 0);
        CHECK(m->client.cpu_requested[1] == 50 % 7);
    }

    /* The merged metrics are those of the five requests as one run. */
    const double sall[] = {0, 12, 20, 32, 40};
    struct owb_serve_run *one = make_run(sall, 5, 30, 4, 5, 3, 0.5, 150);
    struct owb_serve_metrics mm, mo;
    memset(&mm, 0, sizeof mm);
    memset(&mo, 0, sizeof mo);
    CHECK(owb_serve_compute(m, NULL, &mm) == 0);
    CHECK(owb_serve_compute(one, NULL, &mo) == 0);
    CHECK(mm.sent == 5 && mm.ok == 4 && mm.err_count[OWB_SERVE_E_HTTP] == 1);
    for (int k = 0; k < OWB_M_N; k++) {
        CHECK(mm.n[k] == mo.n[k]);
        for (size_t i = 0; i < mm.n[k] && i < mo.n[k]; i++)
            CHECK_NEAR(mm.v[k][i], mo.v[k][i], 1e-9);
    }
    double v, lo, hi;
    CHECK(owb_serve_percentile_ci(mm.v[OWB_M_TTFT], mm.n[OWB_M_TTFT], 50, &v, &lo, &hi) == 0);
    CHECK_NEAR(v, 30, 1e-9);
    owb_serve_metrics_release(&mm);
    owb_serve_metrics_release(&mo);

    /* Not a packed run. */
    struct owb_serve_run *bad = NULL;
    unsigned char junk[400] = {0};
    const void *jb[1] = {junk};
    size_t jl[1] = {sizeof junk};
    int64_t z[1] = {0};
    CHECK(owb_serve_run_merge(jb, jl, z, 1, &bad, err) == OWB_E_FORMAT && !bad);
    CHECK(strstr(err, "not a packed run") != NULL);
    lens[1] = lb - 1; /* truncated */
    CHECK(owb_serve_run_merge(bufs, lens, shift, 2, &bad, err) == OWB_E_FORMAT && !bad);

    owb_serve_run_free(m);
    owb_serve_run_free(one);
    owb_serve_run_free(a);
    owb_serve_run_free(b);
    free(pa);
    free(pb);
    TEST_DONE();
}
