/* SPDX-License-Identifier: MIT */
/*
 * serve_metrics.c: from a serving run's raw records to the metrics of docs/serve.md (TTFT, TPOT,
 * ITL per token and per chunk, E2E, dispatch lag, throughput, goodput), SLO parsing and checking
 * with distribution-free confidence intervals of percentiles, client-bound detection, and the
 * benchmark JSON of one load point. Pure functions over the run; nothing here touches the network.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/serve/serve.h"
#include "results/result.h"
#include "results/stats.h"

static const char *const metric_names[OWB_M_N] = {"ttft", "tpot", "itl", "itl_chunk", "e2e", "lag"};

const char *owb_serve_metric_name(int m)
{
    return m >= 0 && m < OWB_M_N ? metric_names[m] : "?";
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int owb_serve_percentile_ci(const double *x, size_t n, double q, double *val, double *lo,
                            double *hi)
{
    double *s, np, sd;
    long l, h;
    *val = *lo = *hi = (double)NAN;
    if (n == 0)
        return 0;
    s = malloc(n * sizeof *s);
    if (!s)
        return OWB_E_NOMEM;
    memcpy(s, x, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    *val = owb_quantile_sorted(s, n, q / 100);
    /* Ranks (1-based) of a 95% interval for the q-quantile: the number of samples below it is
     * Binomial(n, q); normal approximation, widened to whole ranks. */
    np = (double)n * q / 100;
    sd = sqrt(np * (1 - q / 100));
    l = (long)floor(np - 1.96 * sd);
    h = (long)ceil(np + 1.96 * sd) + 1;
    if (l < 1)
        l = 1;
    if (h > (long)n)
        h = (long)n;
    if (l > (long)n)
        l = (long)n;
    *lo = s[l - 1];
    *hi = s[h - 1];
    free(s);
    return 0;
}

void owb_serve_metrics_release(struct owb_serve_metrics *m)
{
    if (!m)
        return;
    for (int i = 0; i < OWB_M_N; i++)
        free(m->v[i]);
    memset(m, 0, sizeof *m);
}

static bool req_good(const struct owb_slo *slo, double ttft, double tpot, double e2e)
{
    for (int k = 0; slo && k < slo->n; k++) {
        double v = slo->metric[k] == OWB_M_TTFT   ? ttft
                   : slo->metric[k] == OWB_M_TPOT ? tpot
                   : slo->metric[k] == OWB_M_E2E  ? e2e
                                                  : (double)NAN;
        if (!isnan(v) && v > slo->limit_ms[k])
            return false;
    }
    return true;
}

int owb_serve_compute(const struct owb_serve_run *run, const struct owb_slo *slo,
                      struct owb_serve_metrics *m)
{
    size_t cap_tok = 0, cap_chunk = 0, honoured = 0;
    uint64_t w0 = UINT64_MAX, w1 = 0;
    double sum_out = 0, sum_in = 0;

    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < run->n; i++) {
        const struct owb_serve_req *r = &run->reqs[i];
        if (r->phase == 1 && r->err == OWB_SERVE_OK && r->n_chunks > 1) {
            cap_chunk += (size_t)r->n_chunks - 1;
            for (int c = 1; c < r->n_chunks; c++)
                cap_tok += run->chunks[r->chunk0 + (size_t)c].tokens;
        }
    }
    for (int k = 0; k < OWB_M_N; k++) {
        size_t cap = k == OWB_M_ITL_TOKEN ? cap_tok : k == OWB_M_ITL_CHUNK ? cap_chunk : run->n;
        m->v[k] = malloc((cap ? cap : 1) * sizeof *m->v[k]);
        if (!m->v[k]) {
            owb_serve_metrics_release(m);
            return OWB_E_NOMEM;
        }
    }
    for (size_t i = 0; i < run->n; i++) {
        const struct owb_serve_req *r = &run->reqs[i];
        const struct owb_serve_chunk *ch = run->chunks + r->chunk0;
        double ttft, e2e, tpot = (double)NAN;
        long chunk_sum = 0;
        int n_out;
        if (r->item < 0)
            continue;
        m->sent++;
        if (r->end_ns)
            m->completed++;
        m->err_count[r->err]++;
        if (r->http_status >= 100 && r->http_status < 600 && r->http_status / 100 >= 4)
            m->http_status_count[r->http_status / 100]++;
        if (r->err == OWB_SERVE_OK)
            m->ok++;
        if (r->phase != 1)
            continue;
        m->measured++;
        m->v[OWB_M_LAG][m->n[OWB_M_LAG]++] = (double)(r->send_ns - r->sched_ns) / 1e6;
        if (r->err != OWB_SERVE_OK || !r->first_token_ns)
            continue;
        m->measured_ok++;
        for (int c = 0; c < r->n_chunks; c++)
            chunk_sum += ch[c].tokens;
        n_out = r->usage_reported ? r->output_tokens : (int)chunk_sum;
        if (r->usage_reported && r->output_tokens != chunk_sum)
            m->usage_mismatch++;
        ttft = (double)(r->first_token_ns - r->sched_ns) / 1e6;
        e2e = (double)(r->end_ns - r->sched_ns) / 1e6;
        m->v[OWB_M_TTFT][m->n[OWB_M_TTFT]++] = ttft;
        m->v[OWB_M_E2E][m->n[OWB_M_E2E]++] = e2e;
        if (n_out >= 2) {
            tpot = (e2e - ttft) / (n_out - 1);
            m->v[OWB_M_TPOT][m->n[OWB_M_TPOT]++] = tpot;
        }
        for (int c = 1; c < r->n_chunks; c++) {
            double gap = (double)(ch[c].t_ns - ch[c - 1].t_ns) / 1e6;
            m->v[OWB_M_ITL_CHUNK][m->n[OWB_M_ITL_CHUNK]++] = gap;
            for (uint32_t k = 0; k < ch[c].tokens; k++)
                m->v[OWB_M_ITL_TOKEN][m->n[OWB_M_ITL_TOKEN]++] = gap / ch[c].tokens;
        }
        m->token_method_count[r->token_method]++;
        if (n_out >= r->max_tokens)
            honoured++;
        sum_out += n_out;
        sum_in += r->input_tokens;
        if (r->sched_ns < w0)
            w0 = r->sched_ns;
        if (r->end_ns > w1)
            w1 = r->end_ns;
        if (req_good(slo, ttft, tpot, e2e))
            m->good++;
    }
    m->window_s = w1 > w0 ? (double)(w1 - w0) / 1e9 : 0;
    if (m->window_s > 0) {
        m->req_per_s = (double)m->measured_ok / m->window_s;
        m->output_tok_per_s = sum_out / m->window_s;
        m->total_tok_per_s = (sum_out + sum_in) / m->window_s;
        m->goodput_req_per_s = (double)m->good / m->window_s;
    }
    if (m->measured_ok) {
        m->mean_input_tokens = sum_in / (double)m->measured_ok;
        m->mean_output_tokens = sum_out / (double)m->measured_ok;
        m->output_len_honoured_frac = (double)honoured / (double)m->measured_ok;
    }
    return 0;
}

/* ---- SLO ---- */

static int parse_ms(const char *s, double *ms)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0))
        return -1;
    if (!strcmp(end, "ms") || !*end)
        *ms = v;
    else if (!strcmp(end, "s"))
        *ms = v * 1e3;
    else if (!strcmp(end, "us"))
        *ms = v / 1e3;
    else
        return -1;
    return 0;
}

int owb_slo_parse(const char *s, double default_pct, struct owb_slo *out, char err[OWB_ERR_MAX])
{
    char buf[512], *save = NULL, *tok;
    memset(out, 0, sizeof *out);
    out->max_error_frac = -1;
    if (strlen(s) >= sizeof buf) {
        snprintf(err, OWB_ERR_MAX, "--slo: too long");
        return OWB_E_USAGE;
    }
    snprintf(buf, sizeof buf, "%s", s);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '='), *name = tok, *colon;
        double pct = default_pct, lim;
        int metric = -1;
        if (!eq)
            goto bad;
        *eq = '\0';
        colon = strchr(name, ':');
        if (colon) {
            char *end;
            *colon = '\0';
            if (name[0] != 'p')
                goto bad;
            pct = strtod(name + 1, &end);
            if (end == name + 1 || *end || !(pct > 0 && pct < 100))
                goto bad;
            name = colon + 1;
        }
        if (!strcmp(name, "errors")) {
            char *end;
            double v = strtod(eq + 1, &end);
            if (end == eq + 1 || !(v >= 0))
                goto bad;
            if (!strcmp(end, "%"))
                v /= 100;
            else if (*end)
                goto bad;
            out->max_error_frac = v;
            continue;
        }
        for (int k = 0; k < OWB_M_N; k++)
            if (!strcmp(name, metric_names[k]))
                metric = k;
        if (metric < 0 || parse_ms(eq + 1, &lim))
            goto bad;
        if (out->n == OWB_SLO_MAX) {
            snprintf(err, OWB_ERR_MAX, "--slo: at most %d terms", OWB_SLO_MAX);
            return OWB_E_USAGE;
        }
        out->metric[out->n] = metric;
        out->pct[out->n] = pct;
        out->limit_ms[out->n] = lim;
        out->n++;
    }
    if (out->n == 0 && out->max_error_frac < 0)
        goto bad_all;
    return 0;
bad:
    snprintf(err, OWB_ERR_MAX,
             "--slo '%s': bad term; expected [pQ:]METRIC=VALUE with METRIC one of ttft, tpot, "
             "itl, itl_chunk, e2e, lag and VALUE like 500ms, 2s, 800us (or errors=1%%)",
             s);
    return OWB_E_USAGE;
bad_all:
    snprintf(err, OWB_ERR_MAX, "--slo '%s': no terms", s);
    return OWB_E_USAGE;
}

bool owb_slo_check(const struct owb_slo *slo, const struct owb_serve_metrics *m, cJSON **detail)
{
    bool ok = true;
    cJSON *arr = detail ? cJSON_CreateArray() : NULL;
    for (int k = 0; k < slo->n; k++) {
        int mt = slo->metric[k];
        double v, lo, hi;
        bool holds;
        if (owb_serve_percentile_ci(m->v[mt], m->n[mt], slo->pct[k], &v, &lo, &hi))
            v = lo = hi = (double)NAN;
        holds = !isnan(v) && v <= slo->limit_ms[k];
        ok = ok && holds;
        if (arr) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "metric", metric_names[mt]);
            cJSON_AddNumberToObject(o, "percentile", slo->pct[k]);
            cJSON_AddNumberToObject(o, "limit_ms", slo->limit_ms[k]);
            cJSON_AddNumberToObject(o, "value_ms", v);
            cJSON_AddNumberToObject(o, "ci95_lo_ms", lo);
            cJSON_AddNumberToObject(o, "ci95_hi_ms", hi);
            cJSON_AddNumberToObject(o, "n", (double)m->n[mt]);
            cJSON_AddBoolToObject(o, "holds", holds);
            /* confident: the whole interval is on one side of the limit */
            cJSON_AddBoolToObject(o, "confident",
                                  !isnan(v) && (hi <= slo->limit_ms[k] || lo > slo->limit_ms[k]));
            cJSON_AddItemToArray(arr, o);
        }
    }
    if (slo->max_error_frac >= 0) {
        double frac = m->sent ? (double)(m->sent - m->ok) / (double)m->sent : 0;
        bool holds = frac <= slo->max_error_frac;
        ok = ok && holds;
        if (arr) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "metric", "errors");
            cJSON_AddNumberToObject(o, "limit_frac", slo->max_error_frac);
            cJSON_AddNumberToObject(o, "value_frac", frac);
            cJSON_AddBoolToObject(o, "holds", holds);
            cJSON_AddItemToArray(arr, o);
        }
    }
    if (detail)
        *detail = arr;
    return ok;
}

bool owb_serve_client_bound(const struct owb_serve_client *c, char *buf, size_t len)
{
    buf[0] = '\0';
    if (c->cpu_busy > OWB_SERVE_CPU_BUSY_MAX)
        snprintf(buf, len, "client-bound: a client thread was busy %.0f%% of the time (> %.0f%%)",
                 c->cpu_busy * 100, OWB_SERVE_CPU_BUSY_MAX * 100);
    else if (c->dispatch_lag_p99_ms > OWB_SERVE_LAG_MAX_MS)
        snprintf(buf, len,
                 "client-bound: the event loop dispatched scheduled requests %.2f ms late at p99 "
                 "(> %.1f ms)",
                 c->dispatch_lag_p99_ms, OWB_SERVE_LAG_MAX_MS);
    else if (c->iter_p99_ms > OWB_SERVE_LAG_MAX_MS)
        snprintf(buf, len,
                 "client-bound: one event-loop iteration took %.2f ms at p99 (> %.1f ms): "
                 "event timestamps may be that late",
                 c->iter_p99_ms, OWB_SERVE_LAG_MAX_MS);
    else if (c->wake_p99_ms > OWB_SERVE_WAKE_MAX_MS)
        snprintf(buf, len,
                 "client-bound: the event loop woke %.2f ms late at p99 (> %.1f ms): the machine "
                 "delayed it",
                 c->wake_p99_ms, OWB_SERVE_WAKE_MAX_MS);
    else if (c->runq_wait_ms > OWB_SERVE_RUNQ_MAX_MS)
        snprintf(buf, len,
                 "client-bound: the client thread waited %.3f ms for a CPU per wake-up on average "
                 "(> %.2f ms; %.1f%% of the run): the machine is oversubscribed",
                 c->runq_wait_ms, OWB_SERVE_RUNQ_MAX_MS, c->runq_wait_frac * 100);
    return buf[0] != '\0';
}

/* ---- JSON ---- */

static cJSON *metric_json(const double *v, size_t n, const double *pcts, int npct)
{
    struct owb_stats st;
    cJSON *o = cJSON_CreateObject(), *p;
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "unit", "ms");
    if (owb_stats_compute(v, n, &st) == 0)
        cJSON_AddItemToObject(o, "stats", owb_stats_to_json(&st));
    p = cJSON_AddObjectToObject(o, "percentiles");
    for (int k = 0; p && k < npct; k++) {
        char key[32];
        double val, lo, hi;
        cJSON *e;
        if (owb_serve_percentile_ci(v, n, pcts[k], &val, &lo, &hi))
            continue;
        snprintf(key, sizeof key, "p%g", pcts[k]);
        e = cJSON_AddObjectToObject(p, key);
        cJSON_AddNumberToObject(e, "value", val);
        cJSON_AddNumberToObject(e, "ci95_lo", lo);
        cJSON_AddNumberToObject(e, "ci95_hi", hi);
    }
    return o;
}

static cJSON *per_request(const struct owb_serve_run *run)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *sched = cJSON_AddArrayToObject(o, "sched_ms");
    cJSON *lag = cJSON_AddArrayToObject(o, "lag_ms");
    cJSON *ttft = cJSON_AddArrayToObject(o, "ttft_ms");
    cJSON *e2e = cJSON_AddArrayToObject(o, "e2e_ms");
    cJSON *in = cJSON_AddArrayToObject(o, "input_tokens");
    cJSON *out = cJSON_AddArrayToObject(o, "output_tokens");
    cJSON *chunks = cJSON_AddArrayToObject(o, "chunks");
    cJSON *st = cJSON_AddArrayToObject(o, "http_status");
    cJSON *err = cJSON_AddArrayToObject(o, "error");
    cJSON *phase = cJSON_AddArrayToObject(o, "phase");
    for (size_t i = 0; i < run->n; i++) {
        const struct owb_serve_req *r = &run->reqs[i];
        long sum = 0;
        if (r->item < 0)
            continue;
        for (int c = 0; c < r->n_chunks; c++)
            sum += run->chunks[r->chunk0 + (size_t)c].tokens;
        cJSON_AddItemToArray(sched, cJSON_CreateNumber((double)r->sched_ns / 1e6));
        cJSON_AddItemToArray(lag, cJSON_CreateNumber((double)(r->send_ns - r->sched_ns) / 1e6));
        cJSON_AddItemToArray(
            ttft, r->first_token_ns
                      ? cJSON_CreateNumber((double)(r->first_token_ns - r->sched_ns) / 1e6)
                      : cJSON_CreateNull());
        cJSON_AddItemToArray(e2e, r->end_ns
                                      ? cJSON_CreateNumber((double)(r->end_ns - r->sched_ns) / 1e6)
                                      : cJSON_CreateNull());
        cJSON_AddItemToArray(in, cJSON_CreateNumber(r->input_tokens));
        cJSON_AddItemToArray(
            out, cJSON_CreateNumber(r->usage_reported ? r->output_tokens : (double)sum));
        cJSON_AddItemToArray(chunks, cJSON_CreateNumber(r->n_chunks));
        cJSON_AddItemToArray(st, cJSON_CreateNumber(r->http_status));
        cJSON_AddItemToArray(err, cJSON_CreateString(owb_serve_err_name(r->err)));
        cJSON_AddItemToArray(phase, cJSON_CreateString(r->phase == 0   ? "warmup"
                                                       : r->phase == 1 ? "measured"
                                                                       : "cooldown"));
    }
    return o;
}

int owb_serve_to_json(cJSON *bench, const struct owb_serve_run *run,
                      const struct owb_serve_metrics *m, const double *pcts, int npct,
                      const struct owb_slo *slo)
{
    cJSON *sv, *o, *mt;
    char why[256];
    size_t failed = m->sent - m->ok;

    if (owb_result_set_samples(bench, "ms", m->v[OWB_M_TTFT], m->n[OWB_M_TTFT]))
        return OWB_E_NOMEM;
    sv = cJSON_AddObjectToObject(bench, "serving");
    if (!sv)
        return OWB_E_NOMEM;
    mt = cJSON_AddObjectToObject(sv, "latency");
    for (int k = 0; k < OWB_M_N; k++)
        cJSON_AddItemToObject(mt, metric_names[k], metric_json(m->v[k], m->n[k], pcts, npct));
    o = cJSON_AddObjectToObject(sv, "errors");
    for (int k = 1; k < OWB_SERVE_NERR; k++)
        cJSON_AddNumberToObject(o, owb_serve_err_name(k), (double)m->err_count[k]);
    o = cJSON_AddObjectToObject(sv, "http_status");
    cJSON_AddNumberToObject(o, "4xx", (double)m->http_status_count[4]);
    cJSON_AddNumberToObject(o, "5xx", (double)m->http_status_count[5]);
    o = cJSON_AddObjectToObject(sv, "requests");
    cJSON_AddNumberToObject(o, "sent", (double)m->sent);
    cJSON_AddNumberToObject(o, "completed", (double)m->completed);
    cJSON_AddNumberToObject(o, "ok", (double)m->ok);
    cJSON_AddNumberToObject(o, "failed", (double)failed);
    cJSON_AddNumberToObject(o, "measured", (double)m->measured);
    cJSON_AddNumberToObject(o, "measured_ok", (double)m->measured_ok);
    cJSON_AddNumberToObject(o, "good", (double)m->good);
    cJSON_AddNumberToObject(sv, "window_s", m->window_s);
    o = cJSON_AddObjectToObject(sv, "token_count_method");
    for (int k = 0; k < OWB_TOK_NMETHOD; k++)
        cJSON_AddNumberToObject(o, owb_tok_method_name(k), (double)m->token_method_count[k]);
    cJSON_AddNumberToObject(sv, "usage_mismatch", (double)m->usage_mismatch);
    cJSON_AddNumberToObject(sv, "output_len_honoured_frac", m->output_len_honoured_frac);
    o = cJSON_AddObjectToObject(sv, "client");
    {
        const struct owb_serve_client *c = &run->client;
        cJSON *rq, *ob;
        cJSON_AddNumberToObject(o, "threads", c->threads);
        cJSON_AddNumberToObject(o, "cpu_busy", c->cpu_busy);
        cJSON_AddNumberToObject(o, "dispatch_lag_p99_ms", c->dispatch_lag_p99_ms);
        cJSON_AddNumberToObject(o, "iteration_p99_ms", c->iter_p99_ms);
        cJSON_AddNumberToObject(o, "iteration_max_ms", c->iter_max_ms);
        cJSON_AddNumberToObject(o, "wake_p99_ms", c->wake_p99_ms);
        cJSON_AddNumberToObject(o, "events", (double)c->events);
        cJSON_AddNumberToObject(o, "events_per_s",
                                c->wall_s > 0 ? (double)c->events / c->wall_s : 0);
        cJSON_AddNumberToObject(o, "bytes", (double)c->bytes);
        cJSON_AddNumberToObject(o, "wall_s", c->wall_s);
        cJSON_AddNumberToObject(o, "chunks_dropped", (double)c->chunks_dropped);
        cJSON_AddNumberToObject(o, "runq_wait_ms_per_wakeup", c->runq_wait_ms);
        cJSON_AddNumberToObject(o, "runq_wait_frac", c->runq_wait_frac);
        rq = cJSON_AddArrayToObject(o, "cpus_requested");
        ob = cJSON_AddArrayToObject(o, "cpus_observed");
        for (int k = 0; k < c->threads && k < 64; k++) {
            cJSON_AddItemToArray(rq, cJSON_CreateNumber(c->cpu_requested[k]));
            cJSON_AddItemToArray(ob, cJSON_CreateNumber(c->cpu_observed[k]));
        }
    }
    if (slo) {
        cJSON *detail = NULL;
        bool ok = owb_slo_check(slo, m, &detail);
        o = cJSON_AddObjectToObject(sv, "slo");
        cJSON_AddBoolToObject(o, "met", ok);
        cJSON_AddItemToObject(o, "terms", detail);
    }
    cJSON_AddItemToObject(sv, "per_request", per_request(run));

    owb_result_metric(bench, "req_per_s", m->req_per_s);
    owb_result_metric(bench, "output_tok_per_s", m->output_tok_per_s);
    owb_result_metric(bench, "total_tok_per_s", m->total_tok_per_s);
    owb_result_metric(bench, "goodput_req_per_s", m->goodput_req_per_s);
    owb_result_metric(bench, "error_frac", m->sent ? (double)failed / (double)m->sent : 0);
    for (int k = 0; k < OWB_M_N; k++) {
        for (int q = 0; q < npct; q++) {
            char key[48];
            double v, lo, hi;
            if (owb_serve_percentile_ci(m->v[k], m->n[k], pcts[q], &v, &lo, &hi) || isnan(v))
                continue;
            snprintf(key, sizeof key, "%s_p%g_ms", metric_names[k], pcts[q]);
            owb_result_metric(bench, key, v);
        }
    }

    if (owb_serve_client_bound(&run->client, why, sizeof why))
        owb_result_invalidate(bench, why);
    if (run->client.chunks_dropped) {
        snprintf(why, sizeof why, "chunk log full: %llu chunk timings lost",
                 (unsigned long long)run->client.chunks_dropped);
        owb_result_invalidate(bench, why);
    }
    if (failed) {
        snprintf(why, sizeof why, "%zu of %zu requests failed (see serving.errors)", failed,
                 m->sent);
        owb_result_note(bench, why);
    }
    if (run->truncated)
        owb_result_note(bench, "stopped at --max-requests before the duration ended");
    if (m->usage_mismatch && m->token_method_count[OWB_TOK_CHUNK] == m->measured_ok) {
        snprintf(why, sizeof why,
                 "%zu requests sent several tokens per chunk: ITL per token assumes one token "
                 "per chunk (ask for --logprobs or --continuous-usage)",
                 m->usage_mismatch);
        owb_result_note(bench, why);
    }
    return 0;
}

int owb_serve_write_requests(const struct owb_serve_run *run, const char *path,
                             char err[OWB_ERR_MAX])
{
    char tmp[4096];
    FILE *f;
    int bad = 0;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, OWB_ERR_MAX, "%.400s: %s", tmp, strerror(errno));
        return OWB_E_IO;
    }
    fprintf(f, "{\"t0_monotonic_ns\":%" PRIu64 ",\"requests\":%zu}\n", run->t0_mono_ns, run->n);
    for (size_t i = 0; i < run->n; i++) {
        const struct owb_serve_req *r = &run->reqs[i];
        const struct owb_serve_chunk *ch = run->chunks + r->chunk0;
        if (r->item < 0)
            continue;
        fprintf(f,
                "{\"i\":%zu,\"item\":%d,\"phase\":\"%s\",\"sched_ns\":%" PRIu64
                ",\"send_ns\":%" PRIu64 ",\"first_byte_ns\":%" PRIu64 ",\"first_token_ns\":%" PRIu64
                ",\"end_ns\":%" PRIu64
                ",\"status\":%d,\"error\":\"%s\",\"input_tokens\":%d,\"output_tokens\":%d,"
                "\"usage_reported\":%s,\"max_tokens\":%d,\"token_method\":\"%s\",\"chunks_ns\":[",
                i, r->item,
                r->phase == 0   ? "warmup"
                : r->phase == 1 ? "measured"
                                : "cooldown",
                r->sched_ns, r->send_ns, r->first_byte_ns, r->first_token_ns, r->end_ns,
                r->http_status, owb_serve_err_name(r->err), r->input_tokens, r->output_tokens,
                r->usage_reported ? "true" : "false", r->max_tokens,
                owb_tok_method_name(r->token_method));
        for (int c = 0; c < r->n_chunks; c++)
            fprintf(f, "%s%" PRIu64, c ? "," : "", ch[c].t_ns);
        fprintf(f, "],\"chunk_tokens\":[");
        for (int c = 0; c < r->n_chunks; c++)
            fprintf(f, "%s%u", c ? "," : "", ch[c].tokens);
        fprintf(f, "]}\n");
    }
    if (fflush(f) != 0 || ferror(f))
        bad = 1;
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        snprintf(err, OWB_ERR_MAX, "%.400s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
        return OWB_E_IO;
    }
    return 0;
}
