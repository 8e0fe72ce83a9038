/* SPDX-License-Identifier: MIT */
/*
 * cmd_serve.c: `owbench serve`, the load generator against OpenAI-compatible servers. Parses the
 * options, builds the workload, probes the server (unreachable: exit 3), then runs one load point,
 * a sweep (--sweep rate=... or concurrency=...) or a capacity search (--find-max: the highest rate
 * whose SLO percentiles hold, by doubling then bisection), writing one result with a benchmark per
 * point and printing a summary per point. Exit 1 when an --slo is given and missed.
 *
 * Under mpirun (dist/ranks.h) every rank is a load generator: the load point is split (open loop:
 * rate / N per rank, each an independent stream with seed + rank; closed loop: the concurrency
 * and the requests split), ranks agree on a start instant (barrier, clock offset against rank 0,
 * an instant 100 ms ahead on rank 0's clock), and rank 0 merges every rank's raw records into one
 * run (bench/serve/serve.h, owb_serve_run_merge) before computing the metrics, so percentiles are
 * exact over all requests. Rank 0 alone probes the server, prints and writes; the SLO outcome of
 * each point is broadcast so --find-max and sweeps take the same steps on every rank.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/serve/prom.h"
#include "bench/serve/serve.h"
#include "bench/core/topo.h"
#include "dist/ranks.h"
#include "owb_common.h"
#include "results/result.h"
#include "tools/cli_common.h"
#include "tools/cmds.h"

#define MAX_HEADERS 16
#define MAX_SWEEP 32
#define MAX_PCTS 16

static void usage(FILE *f)
{
    fprintf(f,
            "usage: owbench serve --url http://HOST:PORT/v1 [options]\n"
            "Load generator for OpenAI-compatible servers (streaming /v1/completions or\n"
            "/v1/chat/completions). Latency counts from each request's scheduled time.\n"
            "Metrics and formulas: docs/serve.md.\n\n"
            "server:\n"
            "  --url URL              base URL ending in /v1 (required)\n"
            "  --model NAME           model to request (default: first of GET /models)\n"
            "  --endpoint E           completions (default) | chat\n"
            "  --api-key KEY          bearer token (default $OPENAI_API_KEY if set)\n"
            "  --header 'N: V'        extra header (repeatable)\n"
            "  --metrics-url URL      scrape this Prometheus /metrics page during the run\n"
            "                         (default: the server's /metrics when it answers)\n"
            "  --metrics-interval MS  scrape period (default 1000)\n"
            "  --no-metrics           do not scrape\n"
            "  --timeout S            per request (default 600)\n"
            "  --insecure             do not verify TLS certificates\n"
            "  --no-usage             do not send stream_options.include_usage\n"
            "  --continuous-usage     ask for usage in every chunk (vLLM) to count tokens\n"
            "  --logprobs             ask for logprobs to count tokens per chunk\n"
            "  --no-ignore-eos        do not send ignore_eos / min_tokens\n"
            "  --no-probe             skip the start-up streaming request (GET /models still)\n"
            "workload:\n"
            "  --dataset D            random (default) | FILE.jsonl | ShareGPT.json | trace.jsonl\n"
            "  --input-len L          random prompt words: N, N,uniform:R, N,normal:SD (256)\n"
            "  --output-len L         max_tokens, same forms (128)\n"
            "  --replay               trace replay: arrival times from the file's timestamps\n"
            "  --seed N               prompts and arrivals (default 1)\n"
            "load:\n"
            "  --rate R               open loop, requests/s (Poisson unless --arrival)\n"
            "  --arrival A            poisson | gamma | constant\n"
            "  --burstiness B         gamma shape (1 = Poisson, < 1 burstier)\n"
            "  --ramp-up S            rate rises linearly over S seconds\n"
            "  --concurrency C        closed loop, or a cap on requests in flight with --rate\n"
            "  --requests N           measured requests (default 100)\n"
            "  --duration S           run for S seconds instead of --requests\n"
            "  --warmup N             requests before, excluded (default 0)\n"
            "  --cooldown N           requests after, excluded (default 0)\n"
            "  --max-requests N       bound for --duration runs (default 200000)\n"
            "  --client-threads N     event-loop threads (default 1)\n"
            "  --client-pin POLICY    compact|scatter|list:L|none (default compact)\n"
            "sweeps and objectives:\n"
            "  --sweep rate=1,2,4     or concurrency=1,4,16: one benchmark per point\n"
            "  --slo TERMS            e.g. ttft=500ms,tpot=50ms,p90:e2e=5s,errors=1%%\n"
            "  --slo-percentile Q     default percentile of the SLO terms (99)\n"
            "  --find-max             highest rate meeting --slo (doubling, then bisection)\n"
            "  --find-max-probes N    runs at most (default 8)\n"
            "  --find-max-tol F       stop when (hi - lo) / lo <= F (default 0.05)\n"
            "  --percentiles LIST     reported percentiles (default 50,90,95,99)\n"
            "output:\n"
            "  -o, --output DIR       result folder (default results/runs/<time>-serve)\n"
            "  -q, --quiet            no progress on stderr\n"
            "exit: 0 ok, 1 --slo missed, 2 usage, 3 server unreachable or runtime error\n");
}

struct opts {
    struct owb_serve_cfg cfg;
    struct owb_serve_load load;
    const char *dataset, *in_spec, *out_spec, *pin, *outarg, *sweep_kind, *slo_str;
    struct owb_len_dist in_len, out_len;
    const char *headers[MAX_HEADERS + 1];
    int nheaders;
    double sweep[MAX_SWEEP];
    int nsweep;
    double pcts[MAX_PCTS];
    int npct;
    double slo_pct, find_tol;
    int find_max, find_probes, quiet, no_probe;
    struct owb_slo slo;
    int have_slo;
    char outdir[1024];
    const char *metrics_url;
    int metrics_ms, no_metrics;
    struct owb_prom_scrape *scrape; /* NULL: not scraping */
};

static int parse_num(const char *opt, const char *s, double lo, double hi, double *out,
                     char err[OWB_ERR_MAX])
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) {
        snprintf(err, OWB_ERR_MAX, "%s '%s': expected a number in [%g, %g]", opt, s, lo, hi);
        return OWB_E_USAGE;
    }
    *out = v;
    return 0;
}

static int parse_list(const char *opt, const char *s, double lo, double hi, double *out, int max,
                      int *n, char err[OWB_ERR_MAX])
{
    char buf[512], *save = NULL, *tok;
    *n = 0;
    snprintf(buf, sizeof buf, "%s", s);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == max) {
            snprintf(err, OWB_ERR_MAX, "%s: at most %d values", opt, max);
            return OWB_E_USAGE;
        }
        if (parse_num(opt, tok, lo, hi, &out[*n], err))
            return OWB_E_USAGE;
        (*n)++;
    }
    if (!*n) {
        snprintf(err, OWB_ERR_MAX, "%s '%s': empty list", opt, s);
        return OWB_E_USAGE;
    }
    return 0;
}

static const char *arrival_name(enum owb_arrival a)
{
    return a == OWB_ARRIVAL_POISSON ? "poisson" : a == OWB_ARRIVAL_GAMMA ? "gamma" : "constant";
}

static void load_label(const struct owb_serve_load *l, char *buf, size_t n)
{
    if (l->replay)
        snprintf(buf, n, "replay");
    else if (l->rate > 0 && l->concurrency > 0)
        snprintf(buf, n, "rate%g-c%d", l->rate, l->concurrency);
    else if (l->rate > 0)
        snprintf(buf, n, "rate%g", l->rate);
    else
        snprintf(buf, n, "c%d", l->concurrency);
}

/* ---- ranks ---- */

/* The share of a count that rank r of n takes (the first count % n ranks take one more). */
static size_t share(size_t count, int r, int n)
{
    return count / (size_t)n + ((size_t)r < count % (size_t)n);
}

/* This rank's part of load point in. */
static void split_load(const struct owb_serve_load *in, struct owb_serve_load *out)
{
    int r = owb_ranks_rank(), n = owb_ranks_size();
    *out = *in;
    if (n < 2)
        return;
    out->seed = in->seed + (uint64_t)r;
    if (in->rate > 0)
        out->rate = in->rate / n;
    if (in->concurrency > 0)
        out->concurrency = (int)share((size_t)in->concurrency, r, n);
    out->requests = share(in->requests, r, n);
    out->warmup = share(in->warmup, r, n);
    out->cooldown = share(in->cooldown, r, n);
    out->max_requests = share(in->max_requests, r, n);
}

struct start_ctx {
    struct owb_ranks_clock clk;
    int64_t start_rt0_ns; /* agreed start on rank 0's CLOCK_REALTIME */
};

/* Called by owb_serve_run once every rank's buffers are ready: barrier, clock offset, start. */
static uint64_t agree_start(void *ctx)
{
    struct start_ctx *sc = ctx;
    owb_ranks_barrier();
    owb_ranks_clock_sync(&sc->clk);
    return owb_ranks_start_at(&sc->clk, 100000000, &sc->start_rt0_ns);
}

/* What each rank sends rank 0 besides its packed run. */
struct rank_head {
    int32_t rank, pad;
    int64_t t0_rt0_ns; /* this rank's time zero on rank 0's clock */
    int64_t offset_ns, rtt_ns;
    char host[64];
};

/* Collective: gather every rank's run to rank 0 and merge them there (*merged; NULL elsewhere),
 * with a per-rank JSON array in *ranks (rank 0). Returns 0 or a status with err. */
static int gather_runs(const struct owb_serve_run *run, const struct start_ctx *sc,
                       struct owb_serve_run **merged, cJSON **ranks, char err[OWB_ERR_MAX])
{
    int size = owb_ranks_size(), rc;
    void *pk = NULL, *all = NULL;
    size_t pk_len = 0, *lens = calloc((size_t)size, sizeof *lens);
    const void **bufs = NULL;
    size_t *blens = NULL;
    int64_t *shift = NULL;
    unsigned char *msg = NULL;
    struct rank_head h;

    *merged = NULL;
    *ranks = NULL;
    memset(&h, 0, sizeof h);
    h.rank = owb_ranks_rank();
    h.t0_rt0_ns = owb_ranks_mono_to_rt0(&sc->clk, run->t0_mono_ns);
    h.offset_ns = sc->clk.offset_ns;
    h.rtt_ns = sc->clk.rtt_ns;
    snprintf(h.host, sizeof h.host, "%s", owb_ranks_host());
    if (!lens) {
        fprintf(stderr, "owbench serve: rank %d: out of memory\n", h.rank);
        owb_ranks_abort(OWB_EXIT_RUNTIME);
    }
    rc = owb_serve_run_pack(run, &pk, &pk_len);
    msg = malloc(sizeof h + pk_len);
    if (rc || !msg) {
        fprintf(stderr, "owbench serve: rank %d: out of memory packing the run\n", h.rank);
        owb_ranks_abort(OWB_EXIT_RUNTIME);
    }
    memcpy(msg, &h, sizeof h);
    memcpy(msg + sizeof h, pk, pk_len);
    rc = owb_ranks_gather(msg, sizeof h + pk_len, &all, lens);
    if (owb_ranks_rank() > 0)
        goto out;
    if (rc) {
        snprintf(err, OWB_ERR_MAX, "rank 0: cannot take every rank's records (%s)",
                 rc == OWB_E_NOMEM ? "out of memory" : "over 2 GiB");
        goto out;
    }
    bufs = calloc((size_t)size, sizeof *bufs);
    blens = calloc((size_t)size, sizeof *blens);
    shift = calloc((size_t)size, sizeof *shift);
    *ranks = cJSON_CreateArray();
    if (!bufs || !blens || !shift || !*ranks) {
        snprintf(err, OWB_ERR_MAX, "out of memory");
        rc = OWB_E_NOMEM;
        goto out;
    }
    size_t off = 0;
    int64_t t0_ref = 0;
    for (int r = 0; r < size; r++) {
        struct rank_head rh;
        if (lens[r] < sizeof rh) {
            snprintf(err, OWB_ERR_MAX, "rank %d sent %zu bytes, not its records", r, lens[r]);
            rc = OWB_E_FORMAT;
            goto out;
        }
        memcpy(&rh, (char *)all + off, sizeof rh);
        rh.host[sizeof rh.host - 1] = '\0';
        bufs[r] = (char *)all + off + sizeof rh;
        blens[r] = lens[r] - sizeof rh;
        if (r == 0)
            t0_ref = rh.t0_rt0_ns;
        shift[r] = rh.t0_rt0_ns - t0_ref;
        off += lens[r];
        cJSON *o = cJSON_CreateObject();
        if (!o)
            continue;
        cJSON_AddNumberToObject(o, "rank", rh.rank);
        cJSON_AddStringToObject(o, "host", rh.host);
        cJSON_AddNumberToObject(o, "clock_offset_ns", (double)rh.offset_ns);
        cJSON_AddNumberToObject(o, "clock_rtt_ns", (double)rh.rtt_ns);
        cJSON_AddNumberToObject(o, "start_skew_ns", (double)shift[r]);
        cJSON_AddItemToArray(*ranks, o);
    }
    if ((rc = owb_serve_run_merge(bufs, blens, shift, size, merged, err)))
        goto out;
    /* Per-rank client health and verdict, from the packed runs. */
    for (int r = 0; r < size; r++) {
        struct owb_serve_run *one = NULL;
        char why[256];
        int64_t z = 0;
        cJSON *o = cJSON_GetArrayItem(*ranks, r);
        if (!o || owb_serve_run_merge(&bufs[r], &blens[r], &z, 1, &one, err))
            continue;
        size_t ok = 0;
        for (size_t i = 0; i < one->n; i++)
            ok += one->reqs[i].err == OWB_SERVE_OK && one->reqs[i].end_ns;
        cJSON_AddNumberToObject(o, "requests", (double)one->n);
        cJSON_AddNumberToObject(o, "ok", (double)ok);
        cJSON_AddNumberToObject(o, "events", (double)one->client.events);
        cJSON_AddNumberToObject(
            o, "events_per_s",
            one->client.wall_s > 0 ? (double)one->client.events / one->client.wall_s : 0);
        cJSON_AddNumberToObject(o, "client_threads", one->client.threads);
        cJSON_AddNumberToObject(o, "cpu_busy", one->client.cpu_busy);
        cJSON_AddNumberToObject(o, "dispatch_lag_p99_ms", one->client.dispatch_lag_p99_ms);
        cJSON_AddNumberToObject(o, "iter_p99_ms", one->client.iter_p99_ms);
        cJSON_AddNumberToObject(o, "wake_p99_ms", one->client.wake_p99_ms);
        cJSON_AddNumberToObject(o, "runq_wait_ms", one->client.runq_wait_ms);
        bool bound = owb_serve_client_bound(&one->client, why, sizeof why);
        cJSON_AddBoolToObject(o, "client_bound", bound);
        if (bound)
            cJSON_AddStringToObject(o, "client_bound_reason", why);
        owb_serve_run_free(one);
    }
out:
    if (rc) {
        cJSON_Delete(*ranks);
        *ranks = NULL;
    }
    free(pk);
    free(msg);
    free(all);
    free(lens);
    free(bufs);
    free(blens);
    free(shift);
    return rc;
}

static double pct_of(const struct owb_serve_metrics *m, int metric, double q)
{
    double v, lo, hi;
    if (owb_serve_percentile_ci(m->v[metric], m->n[metric], q, &v, &lo, &hi))
        return (double)NAN;
    return v;
}

static void print_point(const struct opts *o, const char *name, const struct owb_serve_run *run,
                        const struct owb_serve_metrics *m, bool slo_ok)
{
    char why[256];
    printf("\n%s\n", name);
    printf("  %-22s %10s %10s", "metric (ms)", "mean", "median");
    for (int q = 0; q < o->npct; q++)
        printf(" %9sp%g", "", o->pcts[q]);
    printf("\n");
    for (int k = 0; k < OWB_M_N; k++) {
        double sum = 0;
        static const char *const label[OWB_M_N] = {"TTFT",          "TPOT", "ITL per token",
                                                   "ITL per chunk", "E2E",  "dispatch lag"};
        for (size_t i = 0; i < m->n[k]; i++)
            sum += m->v[k][i];
        printf("  %-22s %10.2f %10.2f", label[k], m->n[k] ? sum / (double)m->n[k] : (double)NAN,
               pct_of(m, k, 50));
        for (int q = 0; q < o->npct; q++)
            printf(" %10.2f", pct_of(m, k, o->pcts[q]));
        printf("\n");
    }
    printf("  requests: %zu sent, %zu ok, %zu measured; %.2f req/s, %.1f output tok/s, %.1f total "
           "tok/s, goodput %.2f req/s\n",
           m->sent, m->ok, m->measured_ok, m->req_per_s, m->output_tok_per_s, m->total_tok_per_s,
           m->goodput_req_per_s);
    if (m->sent > m->ok) {
        printf("  errors:");
        for (int k = 1; k < OWB_SERVE_NERR; k++)
            if (m->err_count[k])
                printf(" %s %zu", owb_serve_err_name(k), m->err_count[k]);
        printf("\n");
    }
    printf("  client: %.0f%% busy, %llu events (%.0f/s), loop iteration p99 %.3f ms, wake-up "
           "p99 %.3f ms, dispatch lag p99 %.3f ms\n",
           run->client.cpu_busy * 100, (unsigned long long)run->client.events,
           run->client.wall_s > 0 ? (double)run->client.events / run->client.wall_s : 0,
           run->client.iter_p99_ms, run->client.wake_p99_ms, run->client.dispatch_lag_p99_ms);
    if (owb_serve_client_bound(&run->client, why, sizeof why))
        printf("  NOT VALID: %s\n", why);
    if (o->have_slo)
        printf("  SLO %s: %s\n", o->slo_str, slo_ok ? "met" : "MISSED");
    fflush(stdout);
}

/* Run one point, add its benchmark to doc. *slo_ok gets whether the SLO held. */
static int run_point(struct opts *o, const struct owb_serve_workload *w,
                     const struct owb_serve_load *ld, cJSON *doc, const char *policy, bool *slo_ok,
                     char err[OWB_ERR_MAX])
{
    struct owb_serve_run *run = NULL;
    struct owb_serve_metrics m;
    struct owb_serve_load mine;
    struct start_ctx sc;
    char label[64], name[256];
    cJSON *b, *pin, *a1, *a2, *ranks = NULL;
    int rc, nranks = owb_ranks_size();
    bool told = false; /* rank 0 has broadcast the SLO outcome */

    memset(&m, 0, sizeof m);
    memset(&sc, 0, sizeof sc);
    load_label(ld, label, sizeof label);
    snprintf(name, sizeof name, "serve/%s/%s/%s",
             o->cfg.endpoint == OWB_SERVE_CHAT ? "chat" : "completions", w->kind, label);
    if (!o->quiet)
        fprintf(stderr, "owbench serve: %s ...\n", name);
    uint64_t t_start = owb_now_ns();
    split_load(ld, &mine);
    if (nranks > 1) {
        mine.start_at = agree_start;
        mine.start_ctx = &sc;
    }
    /* A rank that fails here returns to main, which stops every rank (MPI_Abort). */
    rc = owb_serve_run(&o->cfg, &mine, w, &run, err);
    if (rc)
        return rc;
    if (nranks > 1) {
        struct owb_serve_run *merged = NULL;
        int ok = 0;
        rc = gather_runs(run, &sc, &merged, &ranks, err);
        owb_serve_run_free(run);
        run = merged;
        if (owb_ranks_rank() > 0) {
            /* The SLO outcome decides the next point of --find-max on every rank. */
            owb_ranks_bcast(&ok, sizeof ok);
            *slo_ok = ok != 0;
            return rc;
        }
        if (rc)
            goto out;
    }
    uint64_t t_stop = owb_now_ns();
    rc = owb_serve_compute(run, o->have_slo ? &o->slo : NULL, &m);
    if (rc) {
        snprintf(err, OWB_ERR_MAX, "out of memory computing metrics");
        goto out;
    }
    *slo_ok = o->have_slo ? owb_slo_check(&o->slo, &m, NULL) : true;
    if (nranks > 1) {
        int ok = *slo_ok;
        owb_ranks_bcast(&ok, sizeof ok);
        told = true;
    }
    b = owb_result_add_benchmark(doc, name, "serve");
    if (!b) {
        rc = OWB_E_NOMEM;
        snprintf(err, OWB_ERR_MAX, "out of memory");
        goto out;
    }
    owb_result_param_str(b, "url", o->cfg.url);
    owb_result_param_str(b, "model", o->cfg.model);
    owb_result_param_str(b, "endpoint", o->cfg.endpoint == OWB_SERVE_CHAT ? "chat" : "completions");
    owb_result_param_str(b, "dataset", w->kind);
    owb_result_param_str(b, "dataset_source", w->source);
    owb_result_param_str(b, "dataset_sha256", w->sha256);
    owb_result_param_num(b, "dataset_items", (double)w->n);
    if (!strcmp(w->kind, "random")) {
        owb_result_param_str(b, "input_len", o->in_spec);
        owb_result_param_str(b, "output_len", o->out_spec);
    }
    owb_result_param_num(b, "rate", ld->rate);
    owb_result_param_str(b, "arrival", ld->replay ? "replay" : arrival_name(ld->arrival));
    owb_result_param_num(b, "burstiness", ld->burstiness);
    owb_result_param_num(b, "ramp_up_s", ld->ramp_s);
    owb_result_param_num(b, "concurrency", ld->concurrency);
    owb_result_param_num(b, "requests", (double)ld->requests);
    owb_result_param_num(b, "duration_s", ld->duration_s);
    owb_result_param_num(b, "warmup", (double)ld->warmup);
    owb_result_param_num(b, "cooldown", (double)ld->cooldown);
    owb_result_param_num(b, "seed", (double)ld->seed);
    owb_result_param_num(b, "client_threads", o->cfg.client_threads);
    if (nranks > 1)
        owb_result_param_num(b, "ranks", nranks);
    owb_result_param_num(b, "timeout_s", o->cfg.timeout_s);
    owb_result_param_str(b, "include_usage", o->cfg.include_usage ? "sent" : "not sent");
    owb_result_param_str(b, "continuous_usage", o->cfg.continuous_usage ? "sent" : "not sent");
    owb_result_param_str(b, "ignore_eos", o->cfg.ignore_eos ? "sent" : "not sent");
    owb_result_param_str(b, "logprobs", o->cfg.logprobs ? "sent" : "not sent");
    pin = cJSON_GetObjectItem(b, "pinning");
    if (pin) {
        cJSON_AddStringToObject(pin, "policy", policy);
        a1 = cJSON_AddArrayToObject(pin, "requested");
        a2 = cJSON_AddArrayToObject(pin, "observed");
        for (int k = 0; k < run->client.threads && k < 64; k++) {
            cJSON_AddItemToArray(a1, cJSON_CreateNumber(run->client.cpu_requested[k]));
            cJSON_AddItemToArray(a2, cJSON_CreateNumber(run->client.cpu_observed[k]));
        }
    }
    rc = owb_serve_to_json(b, run, &m, o->pcts, o->npct, o->have_slo ? &o->slo : NULL);
    if (rc) {
        snprintf(err, OWB_ERR_MAX, "out of memory");
        goto out;
    }
    if (ranks) {
        /* Per rank: host, clock offset and start skew, requests, client health and verdict. */
        cJSON *sv = cJSON_GetObjectItem(b, "serving");
        cJSON_AddItemToObject(sv, "ranks", ranks);
        ranks = NULL;
        cJSON *st = cJSON_AddObjectToObject(sv, "start");
        if (st) {
            cJSON_AddStringToObject(st, "method",
                                    "MPI barrier, then NTP-style clock offset of each rank "
                                    "against rank 0 (best of 8 round trips), then one instant "
                                    "100 ms ahead on rank 0's clock");
            cJSON_AddNumberToObject(st, "start_realtime_ns", (double)sc.start_rt0_ns);
        }
    }
    {
        /* The raw per-request record next to the result. */
        char file[128], path[1200];
        snprintf(file, sizeof file, "requests-%s.jsonl", label);
        snprintf(path, sizeof path, "%s/%s", o->outdir, file);
        if (owb_serve_write_requests(run, path, err) == 0) {
            cJSON *sv = cJSON_GetObjectItem(b, "serving");
            cJSON_AddStringToObject(sv, "requests_file", file);
        } else {
            owb_result_note(b, err);
        }
    }
    if (o->scrape) /* the server's own metrics over this point (times from its start) */
        cJSON_AddItemToObject(cJSON_GetObjectItem(b, "serving"), "server_metrics",
                              owb_prom_scrape_json(o->scrape, t_start, t_stop));
    if (o->cfg.ignore_eos && m.output_len_honoured_frac < 1 && m.measured_ok) {
        char note[160];
        snprintf(note, sizeof note,
                 "ignore_eos/min_tokens not fully honoured: %.0f%% of requests reached max_tokens",
                 m.output_len_honoured_frac * 100);
        owb_result_note(b, note);
    }
    if (!o->quiet)
        print_point(o, name, run, &m, *slo_ok);
out:
    if (nranks > 1 && rc && !told) {
        /* Workers wait for the SLO outcome: let them go on; main stops every rank. */
        int ok = 0;
        owb_ranks_bcast(&ok, sizeof ok);
    }
    cJSON_Delete(ranks);
    owb_serve_metrics_release(&m);
    owb_serve_run_free(run);
    return rc;
}

static int find_max(struct opts *o, const struct owb_serve_workload *w, cJSON *doc,
                    const char *policy, double *best, char err[OWB_ERR_MAX])
{
    double lo = 0, hi = 0, r = o->load.rate > 0 ? o->load.rate : 1;
    cJSON *fm;
    *best = 0;
    for (int probe = 0; probe < o->find_probes; probe++) {
        struct owb_serve_load ld = o->load;
        bool ok = false;
        int rc;
        ld.rate = r;
        rc = run_point(o, w, &ld, doc, policy, &ok, err);
        if (rc)
            return rc;
        if (!o->quiet)
            fprintf(stderr, "owbench serve: find-max: rate %g req/s: SLO %s\n", r,
                    ok ? "met" : "missed");
        if (ok)
            lo = r;
        else
            hi = r;
        if (hi == 0)
            r = 2 * r;
        else if (lo == 0)
            r = hi / 2;
        else if ((hi - lo) / lo <= o->find_tol)
            break;
        else
            r = (lo + hi) / 2;
    }
    *best = lo;
    fm = cJSON_AddObjectToObject(doc, "find_max");
    if (fm) {
        cJSON_AddStringToObject(fm, "slo", o->slo_str);
        cJSON_AddNumberToObject(fm, "max_rate_req_per_s", lo);
        cJSON_AddNumberToObject(fm, "first_failing_rate_req_per_s", hi);
        cJSON_AddNumberToObject(fm, "tolerance", o->find_tol);
    }
    if (!o->quiet)
        printf("\nfind-max: highest rate meeting the SLO: %g req/s (first failing: %g)\n", lo, hi);
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    static const struct option lo[] = {{"url", required_argument, NULL, 'U'},
                                       {"model", required_argument, NULL, 'm'},
                                       {"endpoint", required_argument, NULL, 'e'},
                                       {"api-key", required_argument, NULL, 'K'},
                                       {"header", required_argument, NULL, 'H'},
                                       {"timeout", required_argument, NULL, 'T'},
                                       {"insecure", no_argument, NULL, 'k'},
                                       {"no-usage", no_argument, NULL, 1},
                                       {"continuous-usage", no_argument, NULL, 2},
                                       {"logprobs", no_argument, NULL, 3},
                                       {"no-ignore-eos", no_argument, NULL, 4},
                                       {"no-probe", no_argument, NULL, 5},
                                       {"dataset", required_argument, NULL, 'd'},
                                       {"input-len", required_argument, NULL, 'i'},
                                       {"output-len", required_argument, NULL, 'O'},
                                       {"replay", no_argument, NULL, 6},
                                       {"seed", required_argument, NULL, 's'},
                                       {"rate", required_argument, NULL, 'r'},
                                       {"arrival", required_argument, NULL, 'a'},
                                       {"burstiness", required_argument, NULL, 'b'},
                                       {"ramp-up", required_argument, NULL, 'R'},
                                       {"concurrency", required_argument, NULL, 'c'},
                                       {"requests", required_argument, NULL, 'n'},
                                       {"duration", required_argument, NULL, 'D'},
                                       {"warmup", required_argument, NULL, 'w'},
                                       {"cooldown", required_argument, NULL, 'C'},
                                       {"max-requests", required_argument, NULL, 'M'},
                                       {"client-threads", required_argument, NULL, 't'},
                                       {"client-pin", required_argument, NULL, 'p'},
                                       {"sweep", required_argument, NULL, 'S'},
                                       {"slo", required_argument, NULL, 'L'},
                                       {"slo-percentile", required_argument, NULL, 'P'},
                                       {"find-max", no_argument, NULL, 7},
                                       {"find-max-probes", required_argument, NULL, 8},
                                       {"find-max-tol", required_argument, NULL, 9},
                                       {"percentiles", required_argument, NULL, 10},
                                       {"output", required_argument, NULL, 'o'},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {"help", no_argument, NULL, 'h'},
                                       {"metrics-url", required_argument, NULL, 11},
                                       {"metrics-interval", required_argument, NULL, 12},
                                       {"no-metrics", no_argument, NULL, 13},
                                       {NULL, 0, NULL, 0}};
    static struct opts o;
    struct owb_serve_workload w;
    struct owb_serve_probe probe;
    struct owb_topo *topo = NULL;
    cJSON *doc = NULL;
    char err[OWB_ERR_MAX] = "", outdir[1024];
    int cpus[64], ncpu = 0, c, rc = OWB_EXIT_OK, st;
    bool all_ok = true;
    double v;

    memset(&o, 0, sizeof o);
    memset(&w, 0, sizeof w);
    owb_serve_cfg_default(&o.cfg);
    owb_serve_load_default(&o.load);
    o.dataset = "random";
    o.in_spec = "256";
    o.out_spec = "128";
    o.pin = "compact";
    o.slo_pct = 99;
    o.find_tol = 0.05;
    o.find_probes = 8;
    o.pcts[0] = 50, o.pcts[1] = 90, o.pcts[2] = 95, o.pcts[3] = 99;
    o.npct = 4;
    o.cfg.api_key = getenv("OPENAI_API_KEY");
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'U':
            o.cfg.url = optarg;
            break;
        case 'm':
            o.cfg.model = optarg;
            break;
        case 'e':
            if (!strcmp(optarg, "completions"))
                o.cfg.endpoint = OWB_SERVE_COMPLETIONS;
            else if (!strcmp(optarg, "chat"))
                o.cfg.endpoint = OWB_SERVE_CHAT;
            else {
                snprintf(err, sizeof err, "--endpoint '%s': expected completions or chat", optarg);
                goto usage_err;
            }
            break;
        case 'K':
            o.cfg.api_key = optarg;
            break;
        case 'H':
            if (o.nheaders == MAX_HEADERS || !strchr(optarg, ':')) {
                snprintf(err, sizeof err, "--header '%s': expected 'Name: value' (at most %d)",
                         optarg, MAX_HEADERS);
                goto usage_err;
            }
            o.headers[o.nheaders++] = optarg;
            break;
        case 'T':
            if (parse_num("--timeout", optarg, 0.001, 86400, &o.cfg.timeout_s, err))
                goto usage_err;
            break;
        case 'k':
            o.cfg.insecure = true;
            break;
        case 1:
            o.cfg.include_usage = false;
            break;
        case 2:
            o.cfg.continuous_usage = true;
            break;
        case 3:
            o.cfg.logprobs = true;
            break;
        case 4:
            o.cfg.ignore_eos = false;
            break;
        case 5:
            o.no_probe = 1;
            break;
        case 'd':
            o.dataset = optarg;
            break;
        case 'i':
            o.in_spec = optarg;
            break;
        case 'O':
            o.out_spec = optarg;
            break;
        case 6:
            o.load.replay = true;
            break;
        case 's':
            if (parse_num("--seed", optarg, 0, 1e15, &v, err))
                goto usage_err;
            o.load.seed = (uint64_t)v;
            break;
        case 'r':
            if (parse_num("--rate", optarg, 1e-6, 1e7, &o.load.rate, err))
                goto usage_err;
            break;
        case 'a':
            if (!strcmp(optarg, "poisson"))
                o.load.arrival = OWB_ARRIVAL_POISSON;
            else if (!strcmp(optarg, "gamma"))
                o.load.arrival = OWB_ARRIVAL_GAMMA;
            else if (!strcmp(optarg, "constant"))
                o.load.arrival = OWB_ARRIVAL_CONSTANT;
            else {
                snprintf(err, sizeof err, "--arrival '%s': expected poisson, gamma or constant",
                         optarg);
                goto usage_err;
            }
            break;
        case 'b':
            if (parse_num("--burstiness", optarg, 1e-3, 1e6, &o.load.burstiness, err))
                goto usage_err;
            if (o.load.burstiness != 1)
                o.load.arrival = OWB_ARRIVAL_GAMMA;
            break;
        case 'R':
            if (parse_num("--ramp-up", optarg, 0, 86400, &o.load.ramp_s, err))
                goto usage_err;
            break;
        case 'c':
            if (parse_num("--concurrency", optarg, 1, 100000, &v, err))
                goto usage_err;
            o.load.concurrency = (int)v;
            break;
        case 'n':
            if (parse_num("--requests", optarg, 1, 1e7, &v, err))
                goto usage_err;
            o.load.requests = (size_t)v;
            break;
        case 'D':
            if (parse_num("--duration", optarg, 0.001, 1e6, &o.load.duration_s, err))
                goto usage_err;
            o.load.requests = 0;
            break;
        case 'w':
            if (parse_num("--warmup", optarg, 0, 1e7, &v, err))
                goto usage_err;
            o.load.warmup = (size_t)v;
            break;
        case 'C':
            if (parse_num("--cooldown", optarg, 0, 1e7, &v, err))
                goto usage_err;
            o.load.cooldown = (size_t)v;
            break;
        case 'M':
            if (parse_num("--max-requests", optarg, 1, 1e8, &v, err))
                goto usage_err;
            o.load.max_requests = (size_t)v;
            break;
        case 't':
            if (parse_num("--client-threads", optarg, 1, 64, &v, err))
                goto usage_err;
            o.cfg.client_threads = (int)v;
            break;
        case 'p':
            o.pin = optarg;
            break;
        case 'S': {
            const char *eq = strchr(optarg, '=');
            if (!eq || (strncmp(optarg, "rate=", 5) && strncmp(optarg, "concurrency=", 12))) {
                snprintf(err, sizeof err,
                         "--sweep '%s': expected rate=R1,R2,... or concurrency=C1,C2,...", optarg);
                goto usage_err;
            }
            o.sweep_kind = optarg[0] == 'r' ? "rate" : "concurrency";
            if (parse_list("--sweep", eq + 1, o.sweep_kind[0] == 'r' ? 1e-6 : 1,
                           o.sweep_kind[0] == 'r' ? 1e7 : 100000, o.sweep, MAX_SWEEP, &o.nsweep,
                           err))
                goto usage_err;
            break;
        }
        case 'L':
            o.slo_str = optarg;
            break;
        case 'P':
            if (parse_num("--slo-percentile", optarg, 0.001, 99.999, &o.slo_pct, err))
                goto usage_err;
            break;
        case 7:
            o.find_max = 1;
            break;
        case 8:
            if (parse_num("--find-max-probes", optarg, 1, 100, &v, err))
                goto usage_err;
            o.find_probes = (int)v;
            break;
        case 9:
            if (parse_num("--find-max-tol", optarg, 0.001, 10, &o.find_tol, err))
                goto usage_err;
            break;
        case 10:
            if (parse_list("--percentiles", optarg, 0.001, 99.999, o.pcts, MAX_PCTS, &o.npct, err))
                goto usage_err;
            break;
        case 11:
            o.metrics_url = optarg;
            break;
        case 12: {
            double ms;
            if (parse_num("--metrics-interval", optarg, 10, 3600000, &ms, err))
                goto usage_err;
            o.metrics_ms = (int)ms;
            break;
        }
        case 13:
            o.no_metrics = 1;
            break;
        case 'o':
            o.outarg = optarg;
            break;
        case 'q':
            o.quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return OWB_EXIT_OK;
        default:
            usage(stderr);
            return OWB_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        snprintf(err, sizeof err, "unexpected argument '%s'", argv[optind]);
        goto usage_err;
    }
    if (!o.cfg.url || strncmp(o.cfg.url, "http", 4)) {
        snprintf(err, sizeof err, "--url %s: expected http://HOST:PORT/v1 or https://...",
                 o.cfg.url ? o.cfg.url : "(missing)");
        goto usage_err;
    }
    if (o.slo_str && owb_slo_parse(o.slo_str, o.slo_pct, &o.slo, err))
        goto usage_err;
    o.have_slo = o.slo_str != NULL;
    if (o.find_max && !o.have_slo) {
        snprintf(err, sizeof err, "--find-max needs --slo");
        goto usage_err;
    }
    if (o.find_max && o.nsweep) {
        snprintf(err, sizeof err, "--find-max and --sweep cannot be combined");
        goto usage_err;
    }
    if (!o.load.replay && o.load.rate <= 0 && o.load.concurrency <= 0 && !o.find_max && !o.nsweep) {
        snprintf(err, sizeof err, "give --rate R, --concurrency C (or both), --sweep or --replay");
        goto usage_err;
    }
    if (owb_len_dist_parse("--input-len", o.in_spec, &o.in_len, err) ||
        owb_len_dist_parse("--output-len", o.out_spec, &o.out_len, err))
        goto usage_err;
    if (owb_ranks_size() > 1) {
        int n = owb_ranks_size();
        if (o.load.replay) {
            snprintf(err, sizeof err, "--replay runs on one rank (started with %d ranks)", n);
            goto usage_err;
        }
        if (o.load.requests && o.load.requests < (size_t)n) {
            snprintf(err, sizeof err, "--requests %zu: fewer than the %d ranks", o.load.requests,
                     n);
            goto usage_err;
        }
        for (int i = 0; i < (o.sweep_kind && o.sweep_kind[0] == 'c' ? o.nsweep : 1); i++) {
            double cc = o.sweep_kind && o.sweep_kind[0] == 'c' ? o.sweep[i] : o.load.concurrency;
            if (cc > 0 && cc < n) {
                snprintf(err, sizeof err,
                         "concurrency %g: fewer than the %d ranks (each rank "
                         "takes a share of the streams)",
                         cc, n);
                goto usage_err;
            }
        }
        if (owb_ranks_rank() > 0)
            o.quiet = 1;
    }
    o.headers[o.nheaders] = NULL;
    o.cfg.headers = o.headers;
    o.cfg.verbose = !o.quiet;

    /* Workload: each rank its own prompts (seed + rank) when several ranks share the load. */
    {
        struct owb_serve_load mine;
        split_load(&o.load, &mine);
        if (!strcmp(o.dataset, "random")) {
            size_t n = o.load.requests ? o.load.warmup + o.load.requests + o.load.cooldown : 1000;
            st = owb_serve_workload_random(&w, n, &o.in_len, &o.out_len, mine.seed, err);
        } else {
            st = owb_serve_workload_load(&w, o.dataset, 0, &o.out_len, mine.seed, err);
        }
    }
    if (st) {
        rc = owb_cli_fail("serve", st == OWB_E_FORMAT ? OWB_E_USAGE : st, err);
        goto out;
    }
    if (o.load.replay && !w.has_times) {
        snprintf(err, sizeof err, "--replay: %s has no \"timestamp\" on every request", o.dataset);
        goto usage_err;
    }

    /* Pinning of the client threads. */
    topo = owb_topo_new(NULL, err);
    if (!topo) {
        rc = owb_cli_fail("serve", OWB_E_SYSTEM, err);
        goto out;
    }
    {
        /* Ranks on one host take consecutive slices of the plan (wrapping round the CPUs). */
        int all[1024], lr = owb_ranks_local_rank(), want = o.cfg.client_threads, got = 0;
        int npu = owb_topo_npus(topo);
        if (npu > 1024)
            goto usage_err;
        if (owb_ranks_local_size() > 1) {
            want = o.cfg.client_threads * owb_ranks_local_size();
            if (want > npu)
                want = npu;
        }
        if (owb_topo_pin_plan(topo, o.pin, want, all, &got, err))
            goto usage_err;
        ncpu = o.cfg.client_threads;
        for (int k = 0; k < ncpu && k < 64; k++)
            cpus[k] = got > 0 ? all[(lr * o.cfg.client_threads + k) % got] : -1;
        o.cfg.cpus = strcmp(o.pin, "none") ? cpus : NULL;
    }

    /* Is the server there, and what does it accept? (Rank 0 asks; the others take its
     * answer.) */
    memset(&probe, 0, sizeof probe);
    st = 0;
    if (owb_ranks_rank() == 0) {
        if (o.no_probe) {
            st = owb_serve_probe(&o.cfg, NULL, &probe, err);
        } else {
            st = owb_serve_probe(&o.cfg, &w, &probe, err);
        }
    }
    if ((st = owb_ranks_agree(st, err))) {
        /* Rank 0 tells the user; the others only end with the same code. */
        rc = owb_ranks_rank() == 0 ? owb_cli_fail("serve", st, err) : owb_status_exit(st);
        goto out;
    }
    if (owb_ranks_size() > 1) {
        static char model[256];
        int flags[4] = {o.cfg.ignore_eos, o.cfg.include_usage, o.cfg.continuous_usage, 0};
        snprintf(model, sizeof model, "%s", o.cfg.model ? o.cfg.model : "");
        owb_ranks_bcast(model, sizeof model);
        owb_ranks_bcast(flags, sizeof flags);
        owb_ranks_bcast(&probe, sizeof probe);
        o.cfg.model = model;
        o.cfg.ignore_eos = flags[0];
        o.cfg.include_usage = flags[1];
        o.cfg.continuous_usage = flags[2];
    }
    if (!o.quiet)
        fprintf(stderr,
                "owbench serve: %s model %s, %zu requests in the workload (%s, sha256 %.12s)%s%s\n",
                o.cfg.url, o.cfg.model, w.n, w.kind, w.sha256,
                !o.no_probe && !probe.stream_options_ok ? "; stream_options rejected" : "",
                !o.no_probe && !probe.extra_ok ? "; ignore_eos/min_tokens rejected" : "");

    owb_cli_outdir(o.outarg, "serve", outdir, sizeof outdir);
    if (owb_ranks_size() > 1)
        owb_ranks_bcast(outdir, sizeof outdir); /* the same default folder name everywhere */
    st = 0;
    if (owb_ranks_rank() == 0) {
        if (owb_cli_check_outdir("serve", outdir))
            st = OWB_E_IO;
        else if (!(doc = owb_cli_result_new(topo)))
            st = OWB_E_NOMEM;
        snprintf(err, sizeof err, "%.400s", st == OWB_E_NOMEM ? "out of memory" : outdir);
    }
    if ((st = owb_ranks_agree(st, err))) {
        rc = owb_status_exit(st);
        if (owb_ranks_rank() == 0 && st == OWB_E_NOMEM)
            owb_cli_fail("serve", st, err);
        goto out;
    }
    snprintf(o.outdir, sizeof o.outdir, "%s", outdir);

    if (!o.no_metrics && owb_ranks_rank() == 0) {
        /* --metrics-url, else ROOT/metrics of --url when it answers (a note either way); rank 0
         * scrapes for all ranks. */
        char murl[1100], merr[OWB_ERR_MAX];
        size_t ul = strlen(o.cfg.url);
        if (o.metrics_url)
            snprintf(murl, sizeof murl, "%s", o.metrics_url);
        else
            snprintf(murl, sizeof murl, "%.*s/metrics",
                     (int)(ul >= 3 && !strcmp(o.cfg.url + ul - 3, "/v1") ? ul - 3 : ul), o.cfg.url);
        st = owb_prom_scrape_start(murl, o.metrics_ms ? o.metrics_ms : 1000, &o.scrape, merr);
        if (st && o.metrics_url) {
            rc = owb_cli_fail("serve", st, merr);
            goto out;
        }
        if (!o.quiet)
            fprintf(stderr, "owbench serve: %s %s\n", st ? "no server metrics:" : "scraping",
                    st ? merr : murl);
    }
    if (o.find_max) {
        double best;
        st = find_max(&o, &w, doc, o.pin, &best, err);
        if (st) {
            rc = owb_cli_fail("serve", st, err);
            goto out;
        }
        all_ok = best > 0;
    } else if (o.nsweep) {
        for (int i = 0; i < o.nsweep; i++) {
            struct owb_serve_load ld = o.load;
            bool ok = true;
            if (o.sweep_kind[0] == 'r')
                ld.rate = o.sweep[i];
            else
                ld.concurrency = (int)o.sweep[i];
            st = run_point(&o, &w, &ld, doc, o.pin, &ok, err);
            if (st) {
                rc = owb_cli_fail("serve", st, err);
                goto out;
            }
            all_ok = all_ok && ok;
        }
    } else {
        st = run_point(&o, &w, &o.load, doc, o.pin, &all_ok, err);
        if (st) {
            rc = owb_cli_fail("serve", st, err);
            goto out;
        }
    }
    owb_prom_scrape_stop(o.scrape);
    if ((st = owb_cli_ranks_collect(doc, topo, 0, err))) {
        rc = owb_cli_fail("serve", st, err);
        goto out;
    }
    if (owb_ranks_rank() > 0)
        goto out; /* rank 0 writes the one result */
    rc = owb_cli_write("serve", doc, outdir, "serve.json");
    if (rc == OWB_EXIT_OK && o.have_slo && !all_ok)
        rc = OWB_EXIT_REGRESSION;
out:
    owb_prom_scrape_free(o.scrape);
    cJSON_Delete(doc);
    owb_topo_free(topo);
    owb_serve_workload_release(&w);
    return rc;
usage_err:
    fprintf(stderr, "owbench serve: %s\n", err);
    cJSON_Delete(doc);
    owb_topo_free(topo);
    owb_serve_workload_release(&w);
    return OWB_EXIT_USAGE;
}
