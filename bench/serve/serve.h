/* SPDX-License-Identifier: MIT */
/*
 * serve.h: the load generator of `owbench serve`: many streaming requests to an OpenAI-compatible
 * server (/v1/completions or /v1/chat/completions) from event-loop threads, each a libcurl multi
 * handle driven by epoll and a timerfd, pinned to one CPU. Open loop (arrival schedule from
 * owb_serve_schedule), closed loop (a fixed number of requests in flight) or both (a schedule with
 * a cap). Every request's scheduled time, send time, first byte, each chunk's arrival and token
 * count, end, HTTP status and error class are kept; owb_serve_compute turns them into the metrics
 * of docs/serve.md (TTFT, TPOT, ITL per token and per chunk, E2E, throughput, goodput), always
 * measured from the scheduled time so a slow server cannot hide behind a waiting client.
 *
 * Ownership: a run (owb_serve_run) is allocated by the library and freed by owb_serve_run_free;
 * metrics (owb_serve_compute) by owb_serve_metrics_release. Functions are reentrant; one run uses
 * its own threads and curl handles and returns once they have stopped. The library never prints.
 * The event loop allocates nothing of its own (records, chunk log, SSE parsers, JSON token arrays
 * and request bodies are set up before the run); only libcurl allocates inside it.
 */
#ifndef OWB_BENCH_SERVE_H
#define OWB_BENCH_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "bench/serve/serve_workload.h"
#include "owb_common.h"

enum owb_arrival { OWB_ARRIVAL_POISSON, OWB_ARRIVAL_GAMMA, OWB_ARRIVAL_CONSTANT };

/* Arrival times t_s[0..n) in seconds from 0, non-decreasing: Poisson (exponential gaps of mean
 * 1/rate), gamma (shape = burstiness, mean gap 1/rate: burstiness < 1 is burstier than Poisson,
 * > 1 smoother) or constant (gaps exactly 1/rate). With ramp_s > 0 the rate rises linearly from 0
 * to rate over ramp_s seconds (time-warped: the process is generated at unit intensity and mapped
 * through the inverse of the cumulative intensity). Deterministic for a seed. Returns 0 or
 * OWB_E_USAGE (rate or burstiness not positive). */
int owb_serve_schedule(enum owb_arrival a, double rate, double burstiness, double ramp_s,
                       uint64_t seed, size_t n, double *t_s);

/* Error classes of a request (counted per class; the first error of a request wins). */
enum owb_serve_err {
    OWB_SERVE_OK,
    OWB_SERVE_E_HTTP,         /* HTTP status >= 400 */
    OWB_SERVE_E_CONNECT,      /* connection refused or not established */
    OWB_SERVE_E_DISCONNECT,   /* connection lost mid-response, or stream ended without [DONE] */
    OWB_SERVE_E_MALFORMED,    /* an event that is not JSON, or an SSE event too large */
    OWB_SERVE_E_STREAM_ERROR, /* an {"error": ...} object inside the stream */
    OWB_SERVE_E_TIMEOUT,      /* --timeout passed */
    OWB_SERVE_E_OTHER,
    OWB_SERVE_NERR
};
/* Class names as they appear in results ("http", "connect", ...). */
const char *owb_serve_err_name(int cls);

/* How a chunk's token count was known. */
enum owb_tok_method { OWB_TOK_CHUNK, OWB_TOK_LOGPROBS, OWB_TOK_USAGE, OWB_TOK_NMETHOD };
const char *owb_tok_method_name(int m);

enum owb_serve_endpoint { OWB_SERVE_COMPLETIONS, OWB_SERVE_CHAT };

struct owb_serve_cfg {
    const char *url;   /* base URL ending in /v1 (no trailing slash needed) */
    const char *model; /* model name sent in each request */
    enum owb_serve_endpoint endpoint;
    const char *api_key;        /* NULL: no Authorization header */
    const char *const *headers; /* extra "Name: value" headers, NULL-terminated list or NULL */
    bool include_usage;         /* send stream_options.include_usage (default true) */
    bool continuous_usage;      /* send stream_options.continuous_usage_stats (vLLM) */
    bool ignore_eos;            /* send ignore_eos and min_tokens = max_tokens (default true) */
    bool logprobs;              /* ask for logprobs (token counts per chunk) */
    bool insecure;              /* TLS: do not verify the peer */
    double timeout_s;           /* per request (default 600) */
    int client_threads;         /* event-loop threads (default 1) */
    const int *cpus;            /* CPU per thread (-1: not pinned), NULL: not pinned */
    size_t sse_buf_bytes;       /* per stream SSE event buffer (default 16384) */
    bool verbose;               /* reserved for progress output (the library prints nothing) */
};
void owb_serve_cfg_default(struct owb_serve_cfg *cfg);

/* One load point. */
struct owb_serve_load {
    double rate; /* requests/s; 0: closed loop */
    enum owb_arrival arrival;
    double burstiness;   /* gamma shape (default 1) */
    double ramp_s;       /* linear ramp-up of the rate */
    bool replay;         /* arrival times from the workload's timestamps (trace replay) */
    int concurrency;     /* cap on requests in flight; 0: none (open loop only) */
    size_t requests;     /* measured requests (after warm-up, before cool-down); 0: use duration */
    double duration_s;   /* with requests 0: run until this many seconds have passed */
    size_t warmup;       /* requests before the measured ones, excluded from statistics */
    size_t cooldown;     /* requests after the measured ones, excluded */
    size_t max_requests; /* duration mode bound on records (default 200000) */
    uint64_t seed;
    /* Optional: called once on the calling thread after every buffer and handle is set up and
     * before the client threads start; returns the run's time zero on the owb_now_ns clock, best
     * at least 20 ms ahead for the threads to start (a time near or past is kept: requests due
     * before the threads run show as dispatch lag); 0: 20 ms from now. Lets several load
     * generators (MPI ranks) share one time zero. NULL: 20 ms from now. */
    uint64_t (*start_at)(void *ctx);
    void *start_ctx;
};
void owb_serve_load_default(struct owb_serve_load *l);

/* One chunk of a response that carried output tokens. */
struct owb_serve_chunk {
    uint64_t t_ns;   /* arrival, from the run's start */
    uint32_t tokens; /* tokens in this chunk (see token_method) */
    uint32_t req;    /* request index */
};

/* What happened to one request. Times are ns from the run's start; 0 = never happened. */
struct owb_serve_req {
    uint64_t sched_ns, send_ns, first_byte_ns, first_token_ns, end_ns;
    int item; /* workload item */
    int http_status;
    int err;           /* enum owb_serve_err */
    int phase;         /* 0 warm-up, 1 measured, 2 cool-down */
    int input_tokens;  /* usage.prompt_tokens when reported, else the workload estimate */
    int output_tokens; /* usage.completion_tokens when reported, else the sum over chunks */
    int max_tokens;
    int usage_reported;
    int token_method; /* the most precise method seen in this request */
    int n_chunks;     /* token-bearing chunks */
    size_t chunk0;    /* this request's chunks: run->chunks[chunk0 .. chunk0 + n_chunks) */
};

/* Client-side health, to tell a client-bound run from a server-bound one. */
struct owb_serve_client {
    int threads;
    double cpu_busy;            /* max over threads of (user + sys CPU) / wall */
    double dispatch_lag_p99_ms; /* timer-driven dispatch: how late the loop woke (p99) */
    double iter_p99_ms;         /* time one loop iteration spent processing (p99): bounds the
                                   timestamp error of every event handled in it */
    double iter_max_ms;
    double wake_p99_ms; /* p99 of how late the loop woke for its own 2 ms heartbeat timer:
                           the scheduling delay every socket wake-up suffers too */
    uint64_t events;    /* SSE events parsed */
    uint64_t bytes;
    double wall_s;
    int cpu_requested[64], cpu_observed[64];
    uint64_t chunks_dropped; /* chunk log full: chunk timings lost */
    double runq_wait_ms;     /* max over threads: time runnable but not running
                                (/proc/thread-self/schedstat), per scheduling of the thread */
    double runq_wait_frac;   /* max over threads: that time as a fraction of the wall time */
};

struct owb_serve_run {
    struct owb_serve_req *reqs; /* in scheduled order */
    size_t n;
    struct owb_serve_chunk *chunks; /* grouped by request, in arrival order within one */
    size_t n_chunks;
    struct owb_serve_client client;
    double wall_s;
    bool truncated;      /* stopped by max_requests */
    uint64_t t0_mono_ns; /* the run's time zero, owb_now_ns (CLOCK_MONOTONIC); times are from it */
};
void owb_serve_run_free(struct owb_serve_run *r);

/* ---- several load generators (MPI ranks) ---- */

/* Pack run into one byte string (*buf malloc'd by the library, *len bytes): its records, chunks,
 * client health and flags, for another process of the same build to merge. Returns 0 or
 * OWB_E_NOMEM. */
int owb_serve_run_pack(const struct owb_serve_run *run, void **buf, size_t *len);

/* Merge n packed runs into one: records of run i get shift_ns[i] added to every time (their time
 * zero against the merged run's, run 0's), then all records are ordered by scheduled time (ties:
 * lower i first), chunks follow their records. Client health: threads, events, bytes and dropped
 * chunks summed; busy, p99s, maxima and run-queue figures the maximum over runs (so the merged run
 * is client-bound when one generator was); CPUs concatenated (64 at most). wall_s and t0 from run
 * 0 with wall_s the maximum. *out is a new run (owb_serve_run_free). Returns 0, OWB_E_NOMEM, or
 * OWB_E_FORMAT with err when a buffer is not a packed run. */
int owb_serve_run_merge(const void *const *bufs, const size_t *lens, const int64_t *shift_ns, int n,
                        struct owb_serve_run **out, char err[OWB_ERR_MAX]);

/* Result of the start-up probe. */
struct owb_serve_probe {
    char model[256];        /* first model listed by /models ("" if none) */
    bool models_ok;         /* GET /models answered 200 */
    bool stream_options_ok; /* a request with stream_options was accepted */
    bool extra_ok;          /* ignore_eos / min_tokens were accepted */
    int status;             /* HTTP status of the probe request */
    int out_tokens;         /* tokens the probe streamed */
};

/* Check the server before a run: GET <url>/models (fills model), then one short streaming request
 * with item 0 of w (retried twice after 200 ms on a 5xx or a broken transfer); when the server
 * rejects it (HTTP 400/422) the request is retried without ignore_eos/min_tokens and then without
 * stream_options, and cfg is adjusted accordingly (cfg->ignore_eos, include_usage, continuous_usage
 * may be cleared). Returns 0; OWB_E_IO when the server cannot be reached (err: "cannot reach URL:
 * reason"); OWB_E_FORMAT when the streaming request fails even without the extras (err gives the
 * status and the server's message). */
int owb_serve_probe(struct owb_serve_cfg *cfg, const struct owb_serve_workload *w,
                    struct owb_serve_probe *out, char err[OWB_ERR_MAX]);

/* Run one load point over workload w (items used in order, cycling). *out gets the run. Returns 0,
 * OWB_E_USAGE (inconsistent load: neither rate nor concurrency, replay without timestamps),
 * OWB_E_NOMEM, OWB_E_SYSTEM (threads, epoll, curl). Request failures are not errors of the run:
 * they are in the records. */
int owb_serve_run(const struct owb_serve_cfg *cfg, const struct owb_serve_load *load,
                  const struct owb_serve_workload *w, struct owb_serve_run **out,
                  char err[OWB_ERR_MAX]);

/* ---- metrics ---- */

enum owb_serve_metric {
    OWB_M_TTFT,
    OWB_M_TPOT,
    OWB_M_ITL_TOKEN,
    OWB_M_ITL_CHUNK,
    OWB_M_E2E,
    OWB_M_LAG, /* dispatch lag: send - scheduled */
    OWB_M_N
};
/* Names in results and in --slo: "ttft", "tpot", "itl", "itl_chunk", "e2e", "lag". */
const char *owb_serve_metric_name(int m);

/* A service-level objective: per metric, the percentile that must stay at or below a bound. */
#define OWB_SLO_MAX 8
struct owb_slo {
    int n;
    int metric[OWB_SLO_MAX]; /* enum owb_serve_metric */
    double pct[OWB_SLO_MAX]; /* percentile in (0, 100) */
    double limit_ms[OWB_SLO_MAX];
    double max_error_frac; /* "errors=1%": failed / sent; < 0 when not set */
};
/* Parse "ttft=500ms,tpot=50ms,p90:e2e=2s,errors=1%" (units us, ms, s; default percentile
 * default_pct). Returns 0 or OWB_E_USAGE with err naming the bad term. */
int owb_slo_parse(const char *s, double default_pct, struct owb_slo *out, char err[OWB_ERR_MAX]);

struct owb_serve_metrics {
    double *v[OWB_M_N]; /* samples in ms (malloc'd) */
    size_t n[OWB_M_N];
    size_t sent, completed, ok, measured_ok, measured;
    size_t err_count[OWB_SERVE_NERR];
    size_t http_status_count[6]; /* by status / 100 (index 4: 4xx, 5: 5xx) */
    double window_s;             /* first measured scheduled time to last measured end */
    double req_per_s, output_tok_per_s, total_tok_per_s, goodput_req_per_s;
    double mean_input_tokens, mean_output_tokens;
    size_t good; /* measured ok requests meeting every per-request SLO bound */
    size_t token_method_count[OWB_TOK_NMETHOD];
    double output_len_honoured_frac; /* ok requests whose output reached max_tokens */
    size_t usage_mismatch;           /* requests whose usage count differs from the chunk sum */
};

/* Compute metrics over the measured requests of run (see docs/serve.md for every formula). slo
 * may be NULL (then goodput = ok requests/s). Returns 0 or OWB_E_NOMEM. */
int owb_serve_compute(const struct owb_serve_run *run, const struct owb_slo *slo,
                      struct owb_serve_metrics *m);
void owb_serve_metrics_release(struct owb_serve_metrics *m);

/* Percentile q (0..100) of samples x[0..n) (type 7) and its distribution-free 95% confidence
 * interval from order statistics (normal approximation to the binomial). n == 0: NaNs. Returns 0
 * or OWB_E_NOMEM. */
int owb_serve_percentile_ci(const double *x, size_t n, double q, double *val, double *lo,
                            double *hi);

/* Check slo on m: per term, the percentile and its CI; returns true when every term holds (value
 * <= limit) and the error fraction is within bounds. When detail is non-NULL it gets a JSON array
 * of {metric, percentile, limit_ms, value_ms, ci95_lo, ci95_hi, n, holds, confident}. */
bool owb_slo_check(const struct owb_slo *slo, const struct owb_serve_metrics *m, cJSON **detail);

/* Fill a result benchmark (from owb_result_add_benchmark) with the point: samples = TTFT (ms),
 * a "serving" object (per metric: unit, stats and the percentiles pcts[0..npct), errors per class,
 * HTTP statuses, request counts, token counting, client health, per-request arrays), metrics
 * (req/s, tok/s, goodput, and <metric>_p<q>_ms for each percentile), validity (client-bound, too
 * few requests, failed requests). Returns 0 or OWB_E_NOMEM. */
int owb_serve_to_json(cJSON *bench, const struct owb_serve_run *run,
                      const struct owb_serve_metrics *m, const double *pcts, int npct,
                      const struct owb_slo *slo);

/* Write every request of run as one JSON line to path (atomically: temp file + rename): index,
 * item, phase, scheduled/send/first-byte/first-token/end times (ns from the run start), HTTP
 * status, error class, input/output tokens, token counting method, and every token chunk's arrival
 * time and token count. The first line is {"t0_monotonic_ns": ...}. Returns 0 or OWB_E_IO. */
int owb_serve_write_requests(const struct owb_serve_run *run, const char *path,
                             char err[OWB_ERR_MAX]);

/* Thresholds of client-bound detection: a run is client-bound when a thread was busy more than
 * OWB_SERVE_CPU_BUSY_MAX of the wall time, or the loop's dispatch lag or iteration time p99
 * exceeded OWB_SERVE_LAG_MAX_MS, or its wake-ups were late by more than OWB_SERVE_WAKE_MAX_MS at
 * p99, or a thread waited for a CPU (runnable, not running) more than
 * OWB_SERVE_RUNQ_MAX_MS per scheduling on average: then the machine, not the server, delayed the
 * timestamps. */
#define OWB_SERVE_CPU_BUSY_MAX 0.90
#define OWB_SERVE_LAG_MAX_MS 1.0
#define OWB_SERVE_WAKE_MAX_MS 0.5
#define OWB_SERVE_RUNQ_MAX_MS 0.10

/* The reason a run is client-bound into buf (empty string and false when it is not). */
bool owb_serve_client_bound(const struct owb_serve_client *c, char *buf, size_t len);

#endif
