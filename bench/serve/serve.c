/* SPDX-License-Identifier: MIT */
/*
 * serve.c: the event loop of the load generator (serve.h). Each client thread owns a libcurl multi
 * handle driven through curl_multi_socket_action by its own epoll set, plus a timerfd armed at the
 * earlier of the next scheduled arrival and curl's next timeout, so arrivals are dispatched with
 * sub-millisecond precision and every socket wake-up costs O(active transfers on that socket).
 * Per stream, curl's write callback timestamps the bytes (owb_now_ns, whose clock the timerfd uses)
 * with the time epoll_wait returned when the socket holds exactly what it held then (FIONREAD), so
 * the sockets handled earlier in a busy iteration do not delay the stamps of later ones; otherwise
 * with the time of the read (never early). It then pushes them into that stream's SSE parser, and
 * each complete event is classified (token chunk, usage, [DONE], error object, malformed). Chunk
 * arrivals go to a per-thread log allocated before the run; requests, bodies, SSE parsers and JSON
 * token arrays (bench/serve/serve_json.h) too, so the loop itself allocates only inside libcurl.
 * Threads never share mutable state except their own disjoint request records.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bench/serve/serve.h"
#include "bench/serve/serve_json.h"
#include "bench/serve/sse.h"
#include "owb_config.h"

#if OWB_HAVE_CURL
#include <curl/curl.h>
#endif

#define HIST_BINS 10000 /* 10 us bins up to 100 ms, last bin: above */
#define MAX_THREADS 64
#define HEARTBEAT_NS 2000000ull    /* the loop asks to be woken this often to time its wake-ups */
#define OWB_SERVE_MAX_STREAMS 8192 /* per thread */
#define CHUNK_LOG_MAX ((size_t)8 << 20) /* entries per thread (128 MiB) */

static const char *const err_names[OWB_SERVE_NERR] = {
    "ok", "http", "connect", "disconnect", "malformed", "stream_error", "timeout", "other"};
static const char *const tok_names[OWB_TOK_NMETHOD] = {"chunk", "logprobs", "usage"};

const char *owb_serve_err_name(int cls)
{
    return cls >= 0 && cls < OWB_SERVE_NERR ? err_names[cls] : "?";
}

const char *owb_tok_method_name(int m)
{
    return m >= 0 && m < OWB_TOK_NMETHOD ? tok_names[m] : "?";
}

void owb_serve_cfg_default(struct owb_serve_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->endpoint = OWB_SERVE_COMPLETIONS;
    cfg->include_usage = true;
    cfg->ignore_eos = true;
    cfg->timeout_s = 600;
    cfg->client_threads = 1;
    cfg->sse_buf_bytes = 16384;
}

void owb_serve_load_default(struct owb_serve_load *l)
{
    memset(l, 0, sizeof *l);
    l->arrival = OWB_ARRIVAL_POISSON;
    l->burstiness = 1;
    l->requests = 100;
    l->max_requests = 200000;
    l->seed = 1;
}

/* ---- arrival schedule ---- */

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1). */
static double unit_open(uint64_t *x)
{
    return ((double)(splitmix(x) >> 11) + 0.5) * 0x1.0p-53;
}

static double normal01(uint64_t *x)
{
    return sqrt(-2 * log(unit_open(x))) * cos(6.283185307179586 * unit_open(x));
}

/* Gamma(shape k, scale 1): Marsaglia & Tsang, with the k < 1 boost. */
static double gamma_draw(double k, uint64_t *x)
{
    double boost = 1, d, c;
    if (k < 1) {
        boost = pow(unit_open(x), 1 / k);
        k += 1;
    }
    d = k - 1.0 / 3;
    c = 1 / sqrt(9 * d);
    for (;;) {
        double z = normal01(x), v = 1 + c * z, u;
        if (v <= 0)
            continue;
        v = v * v * v;
        u = unit_open(x);
        if (log(u) < 0.5 * z * z + d - d * v + d * log(v))
            return d * v * boost;
    }
}

int owb_serve_schedule(enum owb_arrival a, double rate, double burstiness, double ramp_s,
                       uint64_t seed, size_t n, double *t_s)
{
    uint64_t x = seed * 0x2545F4914F6CDD1Dull + 1;
    double u = 0; /* time at unit intensity */
    if (!(rate > 0) || !(burstiness > 0) || ramp_s < 0)
        return OWB_E_USAGE;
    for (size_t i = 0; i < n; i++) {
        double gap;
        if (a == OWB_ARRIVAL_CONSTANT)
            gap = 1;
        else if (a == OWB_ARRIVAL_POISSON)
            gap = -log(unit_open(&x));
        else
            gap = gamma_draw(burstiness, &x) / burstiness;
        /* The first arrival is at 0 for constant arrivals, after one gap for random ones (so
         * the gaps of a Poisson process include the first). */
        if (i > 0 || a != OWB_ARRIVAL_CONSTANT)
            u += gap;
        /* Cumulative intensity L(t) = rate * t^2 / (2 ramp) for t < ramp, then
         * rate * ramp / 2 + rate * (t - ramp); t = L^-1(u). */
        if (ramp_s > 0 && u < rate * ramp_s / 2)
            t_s[i] = sqrt(2 * u * ramp_s / rate);
        else if (ramp_s > 0)
            t_s[i] = ramp_s + (u - rate * ramp_s / 2) / rate;
        else
            t_s[i] = u / rate;
    }
    return 0;
}

#if OWB_HAVE_CURL

/* ---- the run ---- */

struct shared {
    const struct owb_serve_cfg *cfg;
    const struct owb_serve_load *load;
    const struct owb_serve_workload *w;
    struct owb_serve_req *reqs;
    size_t nreq;         /* records allocated */
    const double *sched; /* open loop: arrival times (s), NULL for closed loop */
    char **bodies;       /* per item */
    size_t *body_len;
    struct curl_slist *hdrs;
    char url[2048];
    uint64_t t0;     /* run start (owb_now_ns) */
    uint64_t end_ns; /* duration mode: stop issuing at this offset; 0: never */
    int nthreads;
};

struct thr;

struct slot {
    struct thr *t;
    CURL *easy;
    struct owb_sse sse;
    char *sse_buf;
    long req;
    int status_checked, http_status, done_seen, finish_seen, prev_usage_ct;
    uint64_t now, last_byte, free_ns;
    char errbuf[CURL_ERROR_SIZE];
};

struct thr {
    int id;
    struct shared *sh;
    CURLM *multi;
    int ep, tfd;
    struct slot *slots;
    int nslots, *free_list, nfree, in_flight;
    size_t next_idx; /* next request index of this thread (id + k * nthreads) */
    size_t *ring;    /* open loop: arrived, waiting for a slot (cap) */
    size_t ring_cap, ring_head, ring_len;
    uint64_t curl_deadline; /* absolute ns; 0: none */
    uint64_t batch_ns;      /* when epoll_wait returned (from t0), 0 outside socket events */
    int batch_fd;           /* the socket batch_ns applies to */
    uint64_t armed_ns;      /* what the timerfd is set to (0: disarmed) */
    struct owb_serve_chunk *log;
    size_t log_n, log_cap;
    struct owb_jtok *jt; /* JSON tokens of the event being parsed */
    int njt;
    uint64_t dropped, events, bytes;
    uint32_t *lag_hist, *iter_hist, *wake_hist;
    uint64_t lag_n, iter_n, wake_n, hb_ns;
    double iter_max_ms, cpu_s, wall_s, runq_ms, runq_frac;
    int cpu_req, cpu_obs;
    size_t max_idx_issued;
    int fail;
    char err[OWB_ERR_MAX];
};

static uint64_t rel_now(const struct thr *t)
{
    return owb_now_ns() - t->sh->t0;
}

static void hist_add(uint32_t *h, uint64_t ns)
{
    uint64_t b = ns / 10000;
    h[b >= HIST_BINS ? HIST_BINS : b]++;
}

static double hist_q_ms(const uint32_t *h, uint64_t n, double q)
{
    uint64_t want = (uint64_t)ceil(q * (double)n), acc = 0;
    if (n == 0)
        return 0;
    for (int i = 0; i <= HIST_BINS; i++) {
        acc += h[i];
        if (acc >= want)
            return (i + 1) * 0.01;
    }
    return HIST_BINS * 0.01;
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct thr *t = userp;
    struct epoll_event ev;
    (void)e;
    (void)socketp;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(t->ep, EPOLL_CTL_DEL, s, NULL);
        return 0;
    }
    memset(&ev, 0, sizeof ev);
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    ev.data.fd = s;
    if (epoll_ctl(t->ep, EPOLL_CTL_MOD, s, &ev) < 0 && errno == ENOENT)
        epoll_ctl(t->ep, EPOLL_CTL_ADD, s, &ev);
    return 0;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    struct thr *t = userp;
    (void)m;
    t->curl_deadline = timeout_ms < 0 ? 0 : owb_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    if (timeout_ms == 0)
        t->curl_deadline = 1; /* due now */
    return 0;
}

static void set_err(struct owb_serve_req *r, int cls)
{
    if (r->err == OWB_SERVE_OK)
        r->err = cls;
}

/* The first non-empty text of a choice: completions "text", chat delta content or reasoning. */
static int choice_has_text(const char *d, const struct owb_jtok *jt, int c0)
{
    static const char *const keys[] = {"content", "reasoning_content", "reasoning"};
    int delta = owb_serve_json_get(d, jt, c0, "delta"), x = owb_serve_json_get(d, jt, c0, "text");
    if (x >= 0 && jt[x].type == OWB_J_STR && jt[x].end > jt[x].start)
        return 1;
    for (size_t k = 0; delta >= 0 && k < OWB_ARRAY_LEN(keys); k++) {
        x = owb_serve_json_get(d, jt, delta, keys[k]);
        if (x >= 0 && jt[x].type == OWB_J_STR && jt[x].end > jt[x].start)
            return 1;
    }
    return 0;
}

/* One complete SSE event of a stream (its JSON tokenized into the thread's token array: no
 * allocation per event). */
static int on_event(void *ctx, const struct owb_sse_event *ev)
{
    struct slot *s = ctx;
    struct thr *t = s->t;
    struct owb_serve_req *r = &t->sh->reqs[s->req];
    const char *d = ev->data;
    struct owb_jtok *jt = t->jt;
    int nt, choices, usage, c0, text = 0, tokens = 0, method = OWB_TOK_CHUNK;

    t->events++;
    if (ev->data_len == 6 && !memcmp(d, "[DONE]", 6)) {
        s->done_seen = 1;
        return 0;
    }
    nt = owb_serve_json_tokenize(d, ev->data_len, jt, t->njt);
    if (nt < 1 || jt[0].type != OWB_J_OBJ) {
        set_err(r, OWB_SERVE_E_MALFORMED);
        return 0;
    }
    if (owb_serve_json_get(d, jt, 0, "error") >= 0 || !strcmp(ev->type, "error")) {
        set_err(r, OWB_SERVE_E_STREAM_ERROR);
        return 0;
    }
    choices = owb_serve_json_get(d, jt, 0, "choices");
    usage = owb_serve_json_get(d, jt, 0, "usage");
    c0 = owb_serve_json_at(jt, choices, 0);
    if (c0 >= 0 && jt[c0].type == OWB_J_OBJ) {
        int fr = owb_serve_json_get(d, jt, c0, "finish_reason");
        int lp = owb_serve_json_get(d, jt, c0, "logprobs");
        text = choice_has_text(d, jt, c0);
        if (fr >= 0 && jt[fr].type != OWB_J_NULL)
            s->finish_seen = 1;
        if (lp >= 0 && jt[lp].type == OWB_J_OBJ) {
            int a = owb_serve_json_get(d, jt, lp, "tokens"), n = 0;
            if (a < 0 || jt[a].type != OWB_J_ARR || jt[a].size == 0)
                a = owb_serve_json_get(d, jt, lp, "content");
            if (a >= 0 && jt[a].type == OWB_J_ARR)
                n = jt[a].size;
            if (n) {
                tokens = n;
                method = OWB_TOK_LOGPROBS;
            }
        }
    }
    if (usage >= 0 && jt[usage].type == OWB_J_OBJ) {
        int ct = owb_serve_json_get(d, jt, usage, "completion_tokens");
        int pt = owb_serve_json_get(d, jt, usage, "prompt_tokens");
        if (ct >= 0 && jt[ct].type == OWB_J_NUM) {
            int v = (int)owb_serve_json_num(d, jt, ct);
            if (text) {
                tokens = v - s->prev_usage_ct; /* continuous usage: cumulative count */
                method = OWB_TOK_USAGE;
            }
            s->prev_usage_ct = v;
            r->output_tokens = v;
            r->usage_reported = 1;
        }
        if (pt >= 0 && jt[pt].type == OWB_J_NUM)
            r->input_tokens = (int)owb_serve_json_num(d, jt, pt);
    }
    if (text) {
        if (tokens < 1)
            tokens = 1;
        if (!r->first_token_ns)
            r->first_token_ns = s->now;
        if (method > r->token_method)
            r->token_method = method;
        if (t->log_n < t->log_cap) {
            struct owb_serve_chunk *c = &t->log[t->log_n++];
            c->t_ns = s->now;
            c->tokens = (uint32_t)tokens;
            c->req = (uint32_t)s->req;
        } else {
            t->dropped++;
        }
        r->n_chunks++;
    }
    return 0;
}

/* When the bytes now delivered to slot s arrived: the loop's wake-up time if they were all in
 * their socket then (batch_fd is the socket being handled and it held exactly those bytes), else
 * now. curl may read other transfers' sockets while handling one (timeouts), hence the check of
 * this transfer's own socket. */
static uint64_t stamp(struct slot *s)
{
    struct thr *t = s->t;
    if (t->batch_ns) {
        curl_socket_t fd = CURL_SOCKET_BAD;
        if (curl_easy_getinfo(s->easy, CURLINFO_ACTIVESOCKET, &fd) == CURLE_OK && fd == t->batch_fd)
            return t->batch_ns;
    }
    return rel_now(t);
}

static size_t header_cb(char *p, size_t sz, size_t nm, void *ud)
{
    struct slot *s = ud;
    struct owb_serve_req *r = &s->t->sh->reqs[s->req];
    (void)p;
    if (!r->first_byte_ns)
        r->first_byte_ns = stamp(s);
    return sz * nm;
}

static size_t write_cb(char *p, size_t sz, size_t nm, void *ud)
{
    struct slot *s = ud;
    struct owb_serve_req *r = &s->t->sh->reqs[s->req];
    size_t n = sz * nm;
    s->now = stamp(s);
    s->last_byte = s->now;
    if (!r->first_byte_ns)
        r->first_byte_ns = s->now;
    if (!s->status_checked) {
        long code = 0;
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
        s->http_status = (int)code;
        s->status_checked = 1;
    }
    s->t->bytes += n;
    if (s->http_status != 200)
        return n; /* an error body: the status says it all */
    if (owb_sse_push(&s->sse, p, n) != 0)
        return 0;
    return n;
}

static int dispatch(struct thr *t, size_t idx, uint64_t sched_ns)
{
    struct shared *sh = t->sh;
    struct owb_serve_req *r = &sh->reqs[idx];
    struct slot *s;
    int item;
    OWB_ASSERT(t->nfree > 0);
    s = &t->slots[t->free_list[--t->nfree]];
    item = (int)(idx % sh->w->n);
    memset(r, 0, sizeof *r);
    r->item = item;
    r->sched_ns = sched_ns;
    r->max_tokens = sh->w->items[item].output_tokens;
    r->input_tokens = sh->w->items[item].input_tokens;
    s->req = (long)idx;
    s->status_checked = s->http_status = s->done_seen = s->finish_seen = s->prev_usage_ct = 0;
    s->last_byte = 0;
    s->errbuf[0] = '\0';
    owb_sse_reset(&s->sse);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, sh->bodies[item]);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long)sh->body_len[item]);
    r->send_ns = rel_now(t);
    if (idx > t->max_idx_issued || t->max_idx_issued == (size_t)-1)
        t->max_idx_issued = idx;
    if (curl_multi_add_handle(t->multi, s->easy) != CURLM_OK) {
        r->err = OWB_SERVE_E_OTHER;
        r->end_ns = r->send_ns;
        t->free_list[t->nfree++] = (int)(s - t->slots);
        return -1;
    }
    t->in_flight++;
    return 0;
}

static void complete(struct thr *t, CURL *e, CURLcode rc)
{
    struct slot *s = NULL;
    struct owb_serve_req *r;
    uint64_t now = rel_now(t);
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&s);
    OWB_ASSERT(s);
    r = &t->sh->reqs[s->req];
    if (!s->status_checked) {
        long code = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
        s->http_status = (int)code;
    }
    r->http_status = s->http_status;
    r->end_ns = s->last_byte ? s->last_byte : now;
    switch (rc) {
    case CURLE_OK:
        if (s->http_status >= 400 || s->http_status == 0)
            set_err(r, OWB_SERVE_E_HTTP);
        else if (owb_sse_finish(&s->sse) && !s->done_seen)
            set_err(r, OWB_SERVE_E_DISCONNECT);
        else if (!s->done_seen && !s->finish_seen)
            set_err(r, OWB_SERVE_E_DISCONNECT);
        break;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        set_err(r, OWB_SERVE_E_CONNECT);
        break;
    case CURLE_OPERATION_TIMEDOUT:
        set_err(r, OWB_SERVE_E_TIMEOUT);
        break;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        set_err(r, OWB_SERVE_E_DISCONNECT);
        break;
    case CURLE_WRITE_ERROR:
        set_err(r, OWB_SERVE_E_MALFORMED);
        break;
    default:
        set_err(r, OWB_SERVE_E_OTHER);
        break;
    }
    if (s->sse.n_oversize)
        set_err(r, OWB_SERVE_E_MALFORMED);
    if (!r->usage_reported) {
        /* sum of the chunk counts: done in owb_serve_compute from the chunk log */
        r->output_tokens = 0;
    }
    curl_multi_remove_handle(t->multi, e);
    t->in_flight--;
    s->free_ns = now;
    t->free_list[t->nfree++] = (int)(s - t->slots);
}

static void drain_msgs(struct thr *t)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(t->multi, &left)))
        if (m->msg == CURLMSG_DONE)
            complete(t, m->easy_handle, m->data.result);
}

static void arm(struct thr *t, uint64_t abs_ns)
{
    struct itimerspec its;
    if (abs_ns == t->armed_ns)
        return; /* already set (or already fired and not yet read): one syscall less */
    t->armed_ns = abs_ns;
    memset(&its, 0, sizeof its);
    if (abs_ns) {
        its.it_value.tv_sec = (time_t)(abs_ns / 1000000000ull);
        its.it_value.tv_nsec = (long)(abs_ns % 1000000000ull);
    }
    timerfd_settime(t->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Total requests this run may issue (records allocated). */
static size_t run_total(const struct shared *sh)
{
    return sh->nreq;
}

/* Run-queue wait (ns) and number of times on a CPU of the calling thread; 0 when unknown. */
static void schedstat(uint64_t *wait_ns, uint64_t *slices)
{
    FILE *f = fopen("/proc/thread-self/schedstat", "r");
    unsigned long long run = 0, wait = 0, n = 0;
    *wait_ns = *slices = 0;
    if (!f)
        return;
    if (fscanf(f, "%llu %llu %llu", &run, &wait, &n) == 3) {
        *wait_ns = wait;
        *slices = n;
    }
    fclose(f);
}

static void *thread_main(void *arg)
{
    struct thr *t = arg;
    struct shared *sh = t->sh;
    const struct owb_serve_load *ld = sh->load;
    size_t total = run_total(sh);
    struct rusage ru0, ru1;
    struct epoll_event evs[512];
    int avail0[512];
    uint64_t wall0, rq0, rq1, sl0, sl1;
    int running = 0;

    if (t->cpu_req >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(t->cpu_req, &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    }
    getrusage(RUSAGE_THREAD, &ru0);
    /* All threads start at t0. */
    while (owb_now_ns() < sh->t0) {
        uint64_t left = sh->t0 - owb_now_ns();
        struct timespec ts = {0, (long)(left > 1000000 ? left - 500000 : 0)};
        if (left > 1000000)
            nanosleep(&ts, NULL);
    }
    wall0 = owb_now_ns();
    t->hb_ns = wall0 + HEARTBEAT_NS;
    schedstat(&rq0, &sl0);
    for (;;) {
        uint64_t now = rel_now(t), next_wake = 0, it0;
        int n;
        /* 1. arrivals and refills */
        if (sh->sched) {
            while (t->next_idx < total) {
                uint64_t at = (uint64_t)(sh->sched[t->next_idx] * 1e9);
                if (at > now)
                    break;
                hist_add(t->lag_hist, now - at);
                t->lag_n++;
                if (t->nfree > 0 && t->ring_len == 0) {
                    dispatch(t, t->next_idx, at);
                } else {
                    OWB_ASSERT(t->ring_len < t->ring_cap);
                    t->ring[(t->ring_head + t->ring_len++) % t->ring_cap] = t->next_idx;
                }
                t->next_idx += (size_t)sh->nthreads;
            }
            while (t->nfree > 0 && t->ring_len > 0) {
                size_t idx = t->ring[t->ring_head];
                t->ring_head = (t->ring_head + 1) % t->ring_cap;
                t->ring_len--;
                dispatch(t, idx, (uint64_t)(sh->sched[idx] * 1e9));
            }
            if (t->next_idx < total)
                next_wake = sh->t0 + (uint64_t)(sh->sched[t->next_idx] * 1e9);
        } else {
            while (t->nfree > 0 && t->next_idx < total && (!sh->end_ns || now < sh->end_ns)) {
                /* closed loop: scheduled when its slot became free */
                uint64_t at = t->slots[t->free_list[t->nfree - 1]].free_ns;
                dispatch(t, t->next_idx, at);
                t->next_idx += (size_t)sh->nthreads;
            }
            if (sh->end_ns && now >= sh->end_ns)
                t->next_idx = total; /* duration over: issue no more */
            else if (sh->end_ns && t->next_idx < total)
                next_wake = sh->t0 + sh->end_ns;
        }
        /* 2. curl's own timeouts */
        if (t->curl_deadline && owb_now_ns() >= t->curl_deadline) {
            t->curl_deadline = 0;
            curl_multi_socket_action(t->multi, CURL_SOCKET_TIMEOUT, 0, &running);
            drain_msgs(t);
            continue; /* completions may free slots for the closed loop */
        }
        if (t->next_idx >= total && t->in_flight == 0 && t->ring_len == 0)
            break;
        if (t->curl_deadline && (!next_wake || t->curl_deadline < next_wake))
            next_wake = t->curl_deadline;
        if (!next_wake || t->hb_ns < next_wake)
            next_wake = t->hb_ns;
        arm(t, next_wake);
        n = epoll_wait(t->ep, evs, (int)OWB_ARRAY_LEN(evs), 1000);
        it0 = owb_now_ns();
        if (it0 >= t->hb_ns) {
            /* heartbeat: how late the loop got to a wake-up it asked for */
            hist_add(t->wake_hist, it0 - t->hb_ns);
            t->wake_n++;
            t->hb_ns = it0 + HEARTBEAT_NS;
        }
        /* What each ready socket held when the loop woke (bytes). */
        for (int i = 0; i < n; i++) {
            avail0[i] = 0;
            if (evs[i].data.fd != t->tfd && (evs[i].events & EPOLLIN) &&
                ioctl(evs[i].data.fd, FIONREAD, &avail0[i]) != 0)
                avail0[i] = 0;
        }
        if (n < 0 && errno != EINTR) {
            snprintf(t->err, sizeof t->err, "client thread %d: epoll_wait: %s", t->id,
                     strerror(errno));
            t->fail = 1;
            break;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd, flags = 0;
            if (fd == t->tfd) {
                uint64_t x;
                if (read(t->tfd, &x, sizeof x) < 0) { /* nothing to do: a stale expiry */
                }
                t->armed_ns = 0; /* it fired: disarmed */
                continue;
            }
            if (evs[i].events & EPOLLIN)
                flags |= CURL_CSELECT_IN;
            if (evs[i].events & EPOLLOUT)
                flags |= CURL_CSELECT_OUT;
            if (evs[i].events & (EPOLLERR | EPOLLHUP))
                flags |= CURL_CSELECT_ERR;
            /* Stamp this socket's bytes with the wake-up time only if nothing arrived since:
             * otherwise with the time curl reads them (late by the sockets handled before this
             * one, never early). */
            t->batch_ns = 0;
            if (avail0[i] > 0) {
                int now_avail = -1;
                if (ioctl(fd, FIONREAD, &now_avail) == 0 && now_avail == avail0[i]) {
                    t->batch_ns = it0 - sh->t0;
                    t->batch_fd = fd;
                }
            }
            curl_multi_socket_action(t->multi, fd, flags, &running);
        }
        t->batch_ns = 0;
        drain_msgs(t);
        if (n > 0) {
            uint64_t d = owb_now_ns() - it0;
            hist_add(t->iter_hist, d);
            t->iter_n++;
            if ((double)d / 1e6 > t->iter_max_ms)
                t->iter_max_ms = (double)d / 1e6;
        }
    }
    t->wall_s = (double)(owb_now_ns() - wall0) / 1e9;
    schedstat(&rq1, &sl1);
    if (sl1 > sl0) {
        t->runq_ms = (double)(rq1 - rq0) / 1e6 / (double)(sl1 - sl0);
        t->runq_frac = t->wall_s > 0 ? (double)(rq1 - rq0) / 1e9 / t->wall_s : 0;
    }
    getrusage(RUSAGE_THREAD, &ru1);
    t->cpu_s = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
               (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
               (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
               (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    t->cpu_obs = sched_getcpu();
    (void)ld;
    return NULL;
}

static char *build_body(const struct owb_serve_cfg *cfg, const struct owb_serve_item *it,
                        size_t *len)
{
    cJSON *o = cJSON_CreateObject(), *so;
    char *s = NULL;
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "model", cfg->model ? cfg->model : "");
    if (cfg->endpoint == OWB_SERVE_CHAT) {
        cJSON *msgs = it->messages_json ? cJSON_Parse(it->messages_json) : cJSON_CreateArray();
        if (!it->messages_json && msgs) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "role", "user");
            cJSON_AddStringToObject(m, "content", it->prompt ? it->prompt : "");
            cJSON_AddItemToArray(msgs, m);
        }
        cJSON_AddItemToObject(o, "messages", msgs);
    } else {
        /* A chat item sent to /completions: its message contents joined. */
        if (it->prompt) {
            cJSON_AddStringToObject(o, "prompt", it->prompt);
        } else {
            cJSON *msgs = cJSON_Parse(it->messages_json), *m;
            size_t cap = strlen(it->messages_json) + 1, at = 0;
            char *p = malloc(cap);
            if (p) {
                p[0] = '\0';
                cJSON_ArrayForEach(m, msgs)
                {
                    cJSON *c = cJSON_GetObjectItem(m, "content");
                    if (cJSON_IsString(c))
                        at += (size_t)snprintf(p + at, cap - at, "%s%s", at ? "\n" : "",
                                               c->valuestring);
                }
                cJSON_AddStringToObject(o, "prompt", p);
            }
            free(p);
            cJSON_Delete(msgs);
        }
    }
    cJSON_AddNumberToObject(o, "max_tokens", it->output_tokens);
    cJSON_AddBoolToObject(o, "stream", 1);
    if (cfg->include_usage || cfg->continuous_usage) {
        so = cJSON_AddObjectToObject(o, "stream_options");
        if (cfg->include_usage)
            cJSON_AddBoolToObject(so, "include_usage", 1);
        if (cfg->continuous_usage)
            cJSON_AddBoolToObject(so, "continuous_usage_stats", 1);
    }
    if (cfg->ignore_eos) {
        cJSON_AddBoolToObject(o, "ignore_eos", 1);
        cJSON_AddNumberToObject(o, "min_tokens", it->output_tokens);
    }
    if (cfg->logprobs) {
        if (cfg->endpoint == OWB_SERVE_CHAT)
            cJSON_AddBoolToObject(o, "logprobs", 1);
        else
            cJSON_AddNumberToObject(o, "logprobs", 1);
    }
    s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (s)
        *len = strlen(s);
    return s;
}

static struct curl_slist *build_headers(const struct owb_serve_cfg *cfg)
{
    struct curl_slist *h = NULL, *n;
    char auth[1024];
    h = curl_slist_append(h, "Content-Type: application/json");
    if (h && (n = curl_slist_append(h, "Expect:")))
        h = n;
    if (h && cfg->api_key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", cfg->api_key);
        if ((n = curl_slist_append(h, auth)))
            h = n;
    }
    for (const char *const *p = cfg->headers; h && p && *p; p++)
        if ((n = curl_slist_append(h, *p)))
            h = n;
    return h;
}

static void endpoint_url(const struct owb_serve_cfg *cfg, const char *path, char *out, size_t n)
{
    size_t l = strlen(cfg->url);
    while (l > 0 && cfg->url[l - 1] == '/')
        l--;
    snprintf(out, n, "%.*s%s", (int)l, cfg->url, path);
}

static int curl_global(char err[OWB_ERR_MAX])
{
    static atomic_int done;
    if (!atomic_load(&done)) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(err, OWB_ERR_MAX, "libcurl: global initialisation failed");
            return OWB_E_SYSTEM;
        }
        atomic_store(&done, 1);
    }
    return 0;
}

static void common_opts(CURL *e, const struct owb_serve_cfg *cfg)
{
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    if (cfg->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

static void thr_release(struct thr *t)
{
    if (t->multi) {
        for (int i = 0; i < t->nslots; i++)
            if (t->slots[i].easy)
                curl_multi_remove_handle(t->multi, t->slots[i].easy);
    }
    for (int i = 0; t->slots && i < t->nslots; i++) {
        if (t->slots[i].easy)
            curl_easy_cleanup(t->slots[i].easy);
        free(t->slots[i].sse_buf);
    }
    if (t->multi)
        curl_multi_cleanup(t->multi);
    if (t->ep > 0)
        close(t->ep);
    if (t->tfd > 0)
        close(t->tfd);
    free(t->slots);
    free(t->free_list);
    free(t->ring);
    free(t->log);
    free(t->lag_hist);
    free(t->iter_hist);
    free(t->wake_hist);
    free(t->jt);
}

static int thr_setup(struct thr *t, struct shared *sh, int id, int nslots, size_t log_cap,
                     char err[OWB_ERR_MAX])
{
    const struct owb_serve_cfg *cfg = sh->cfg;
    struct epoll_event ev;
    t->id = id;
    t->sh = sh;
    t->nslots = nslots;
    t->next_idx = (size_t)id;
    t->max_idx_issued = (size_t)-1;
    t->cpu_req = cfg->cpus ? cfg->cpus[id] : -1;
    t->ep = epoll_create1(EPOLL_CLOEXEC);
    /* armed with absolute owb_now_ns deadlines, so on owb_now_ns's clock */
    t->tfd = timerfd_create(OWB_NOW_CLOCK, TFD_NONBLOCK | TFD_CLOEXEC);
    t->multi = curl_multi_init();
    t->slots = calloc((size_t)nslots, sizeof *t->slots);
    t->free_list = calloc((size_t)nslots, sizeof *t->free_list);
    t->ring_cap = sh->nreq / (size_t)sh->nthreads + 2;
    t->ring = calloc(t->ring_cap, sizeof *t->ring);
    t->log_cap = log_cap;
    t->log = malloc((log_cap ? log_cap : 1) * sizeof *t->log);
    t->lag_hist = calloc(HIST_BINS + 1, sizeof *t->lag_hist);
    t->iter_hist = calloc(HIST_BINS + 1, sizeof *t->iter_hist);
    t->wake_hist = calloc(HIST_BINS + 1, sizeof *t->wake_hist);
    /* an event fits the SSE buffer, and every JSON token takes at least 2 of its bytes */
    t->njt = (int)(cfg->sse_buf_bytes / 2 + 2);
    t->jt = malloc((size_t)t->njt * sizeof *t->jt);
    if (t->ep < 0 || t->tfd < 0 || !t->multi) {
        snprintf(err, OWB_ERR_MAX, "client thread %d: epoll/timerfd/curl_multi: %s", id,
                 strerror(errno));
        return OWB_E_SYSTEM;
    }
    if (!t->slots || !t->free_list || !t->ring || !t->log || !t->lag_hist || !t->iter_hist ||
        !t->wake_hist || !t->jt)
        goto nomem;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.fd = t->tfd;
    epoll_ctl(t->ep, EPOLL_CTL_ADD, t->tfd, &ev);
    curl_multi_setopt(t->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(t->multi, CURLMOPT_SOCKETDATA, t);
    curl_multi_setopt(t->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(t->multi, CURLMOPT_TIMERDATA, t);
    curl_multi_setopt(t->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS, (long)nslots + 16);
    curl_multi_setopt(t->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    for (int i = 0; i < nslots; i++) {
        struct slot *s = &t->slots[i];
        s->t = t;
        s->req = -1;
        s->sse_buf = malloc(cfg->sse_buf_bytes);
        s->easy = curl_easy_init();
        if (!s->sse_buf || !s->easy)
            goto nomem;
        owb_sse_init(&s->sse, s->sse_buf, cfg->sse_buf_bytes, on_event, s);
        common_opts(s->easy, cfg);
        curl_easy_setopt(s->easy, CURLOPT_URL, sh->url);
        curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, sh->hdrs);
        curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(s->easy, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(s->easy, CURLOPT_HEADERDATA, s);
        curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
        curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, s->errbuf);
        curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, (long)(cfg->timeout_s * 1000));
        curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
        t->free_list[t->nfree++] = i;
    }
    return 0;
nomem:
    snprintf(err, OWB_ERR_MAX, "client thread %d: out of memory for %d streams", id, nslots);
    return OWB_E_NOMEM;
}

void owb_serve_run_free(struct owb_serve_run *r)
{
    if (!r)
        return;
    free(r->reqs);
    free(r->chunks);
    free(r);
}

int owb_serve_run(const struct owb_serve_cfg *cfg, const struct owb_serve_load *load,
                  const struct owb_serve_workload *w, struct owb_serve_run **out,
                  char err[OWB_ERR_MAX])
{
    struct shared sh;
    struct thr *thr = NULL;
    pthread_t tid[MAX_THREADS];
    int nthr = cfg->client_threads > 0 ? cfg->client_threads : 1, started = 0, rc = 0;
    double *sched = NULL;
    struct owb_serve_run *run = NULL;
    size_t total, *count = NULL, log_total = 0;

    *out = NULL;
    memset(&sh, 0, sizeof sh);
    if (nthr > MAX_THREADS) {
        snprintf(err, OWB_ERR_MAX, "--client-threads %d: at most %d", nthr, MAX_THREADS);
        return OWB_E_USAGE;
    }
    if (!w->n) {
        snprintf(err, OWB_ERR_MAX, "the workload has no requests");
        return OWB_E_USAGE;
    }
    if (load->rate <= 0 && load->concurrency <= 0 && !load->replay) {
        snprintf(err, OWB_ERR_MAX, "give --rate, --concurrency or both");
        return OWB_E_USAGE;
    }
    if (load->replay && !w->has_times) {
        snprintf(err, OWB_ERR_MAX, "%s: trace replay needs a \"timestamp\" on every request",
                 w->source);
        return OWB_E_USAGE;
    }
    if ((rc = curl_global(err)))
        return rc;

    /* How many requests, and their schedule. */
    if (load->replay) {
        total = load->requests ? load->warmup + load->requests + load->cooldown : w->n;
        if (total > w->n)
            total = w->n;
    } else if (load->requests) {
        total = load->warmup + load->requests + load->cooldown;
    } else if (load->rate > 0) {
        /* duration, open loop: arrivals before the end (bounded by max_requests) */
        size_t cap = load->max_requests ? load->max_requests : 200000;
        double *tmp = malloc(cap * sizeof *tmp);
        if (!tmp)
            goto nomem;
        owb_serve_schedule(load->arrival, load->rate, load->burstiness, load->ramp_s, load->seed,
                           cap, tmp);
        for (total = 0; total < cap && tmp[total] < load->duration_s; total++)
            ;
        free(tmp);
    } else {
        total = load->max_requests ? load->max_requests : 200000;
        sh.end_ns = (uint64_t)(load->duration_s * 1e9);
    }
    if (total == 0) {
        snprintf(err, OWB_ERR_MAX, "no requests to send (check --requests / --duration)");
        return OWB_E_USAGE;
    }
    if (load->rate > 0 || load->replay) {
        sched = malloc(total * sizeof *sched);
        if (!sched)
            goto nomem;
        if (load->replay) {
            for (size_t i = 0; i < total; i++)
                sched[i] = w->items[i].t_s;
        } else {
            owb_serve_schedule(load->arrival, load->rate, load->burstiness, load->ramp_s,
                               load->seed, total, sched);
        }
    }
    sh.cfg = cfg;
    sh.load = load;
    sh.w = w;
    sh.nreq = total;
    sh.sched = sched;
    sh.nthreads = nthr;
    endpoint_url(cfg, cfg->endpoint == OWB_SERVE_CHAT ? "/chat/completions" : "/completions",
                 sh.url, sizeof sh.url);
    sh.reqs = calloc(total, sizeof *sh.reqs);
    sh.bodies = calloc(w->n, sizeof *sh.bodies);
    sh.body_len = calloc(w->n, sizeof *sh.body_len);
    sh.hdrs = build_headers(cfg);
    thr = calloc((size_t)nthr, sizeof *thr);
    if (!sh.reqs || !sh.bodies || !sh.body_len || !sh.hdrs || !thr)
        goto nomem;
    for (size_t i = 0; i < total; i++)
        sh.reqs[i].item = -1; /* not issued */
    for (size_t i = 0; i < w->n && i < total; i++)
        if (!(sh.bodies[i] = build_body(cfg, &w->items[i], &sh.body_len[i])))
            goto nomem;
    for (int k = 0; k < nthr; k++) {
        /* Streams per thread: the concurrency cap split evenly; an uncapped open loop gets
         * enough for every request it may have in flight. */
        int slots;
        size_t lc = 0;
        if (load->concurrency > 0)
            slots = load->concurrency / nthr + (k < load->concurrency % nthr);
        else
            slots = (int)((total + (size_t)nthr - 1) / (size_t)nthr);
        if (slots < 1)
            slots = 1;
        if (slots > OWB_SERVE_MAX_STREAMS)
            slots = OWB_SERVE_MAX_STREAMS; /* more arrivals wait: visible as dispatch lag */
        for (size_t i = (size_t)k; i < total && lc < CHUNK_LOG_MAX; i += (size_t)nthr)
            lc += (size_t)w->items[i % w->n].output_tokens + 2;
        if (lc > CHUNK_LOG_MAX)
            lc = CHUNK_LOG_MAX;
        if ((rc = thr_setup(&thr[k], &sh, k, slots, lc, err))) {
            nthr = k + 1;
            goto out;
        }
    }
    sh.t0 = owb_now_ns() + 20000000; /* 20 ms for the threads to start */
    if (load->start_at) {
        /* The agreed instant even when it is near or past: the run's time zero is shared with
         * other generators; threads that start late show it as dispatch lag. */
        uint64_t t0 = load->start_at(load->start_ctx);
        if (t0)
            sh.t0 = t0;
    }
    for (int k = 0; k < nthr; k++) {
        if (pthread_create(&tid[k], NULL, thread_main, &thr[k]) != 0) {
            snprintf(err, OWB_ERR_MAX, "cannot start client thread %d: %s", k, strerror(errno));
            rc = OWB_E_SYSTEM;
            break;
        }
        started++;
    }
    for (int k = 0; k < started; k++)
        pthread_join(tid[k], NULL);
    if (rc)
        goto out;
    for (int k = 0; k < nthr; k++) {
        if (thr[k].fail) {
            snprintf(err, OWB_ERR_MAX, "%s", thr[k].err);
            rc = OWB_E_SYSTEM;
            goto out;
        }
    }

    /* Gather: records in schedule order, chunks grouped by request (counting sort). */
    run = calloc(1, sizeof *run);
    if (!run)
        goto nomem;
    for (int k = 0; k < nthr; k++)
        log_total += thr[k].log_n;
    count = calloc(total + 1, sizeof *count);
    run->chunks = malloc((log_total ? log_total : 1) * sizeof *run->chunks);
    if (!count || !run->chunks)
        goto nomem;
    for (int k = 0; k < nthr; k++)
        for (size_t i = 0; i < thr[k].log_n; i++)
            count[thr[k].log[i].req + 1]++;
    for (size_t i = 0; i < total; i++)
        count[i + 1] += count[i];
    for (size_t i = 0; i < total; i++) {
        sh.reqs[i].chunk0 = count[i];
        sh.reqs[i].n_chunks = (int)(count[i + 1] - count[i]);
    }
    for (int k = 0; k < nthr; k++)
        for (size_t i = 0; i < thr[k].log_n; i++)
            run->chunks[count[thr[k].log[i].req]++] = thr[k].log[i];
    run->n_chunks = log_total;
    /* Issued requests only (duration mode stops early), phases by issue order. */
    {
        size_t issued = 0;
        for (size_t i = 0; i < total; i++)
            if (sh.reqs[i].item >= 0)
                issued = i + 1;
        for (size_t i = 0; i < issued; i++) {
            struct owb_serve_req *r = &sh.reqs[i];
            r->phase = i < load->warmup ? 0 : (i + load->cooldown >= issued ? 2 : 1);
        }
        run->n = issued;
        run->truncated = !load->requests && !sched && issued >= total;
    }
    run->reqs = sh.reqs;
    sh.reqs = NULL;
    run->t0_mono_ns = sh.t0;
    run->client.threads = nthr;
    {
        uint64_t lag_n = 0, iter_n = 0;
        uint32_t *lag = calloc(3 * (HIST_BINS + 1), sizeof *lag), *iter, *wake;
        uint64_t wake_n = 0;
        if (!lag)
            goto nomem;
        iter = lag + HIST_BINS + 1;
        wake = iter + HIST_BINS + 1;
        for (int k = 0; k < nthr; k++) {
            struct thr *t = &thr[k];
            double busy = t->wall_s > 0 ? t->cpu_s / t->wall_s : 0;
            for (int b = 0; b <= HIST_BINS; b++) {
                lag[b] += t->lag_hist[b];
                iter[b] += t->iter_hist[b];
                wake[b] += t->wake_hist[b];
            }
            lag_n += t->lag_n;
            iter_n += t->iter_n;
            wake_n += t->wake_n;
            if (busy > run->client.cpu_busy)
                run->client.cpu_busy = busy;
            if (t->runq_ms > run->client.runq_wait_ms)
                run->client.runq_wait_ms = t->runq_ms;
            if (t->runq_frac > run->client.runq_wait_frac)
                run->client.runq_wait_frac = t->runq_frac;
            if (t->iter_max_ms > run->client.iter_max_ms)
                run->client.iter_max_ms = t->iter_max_ms;
            if (t->wall_s > run->client.wall_s)
                run->client.wall_s = t->wall_s;
            run->client.events += t->events;
            run->client.bytes += t->bytes;
            run->client.chunks_dropped += t->dropped;
            if (k < 64) {
                run->client.cpu_requested[k] = t->cpu_req;
                run->client.cpu_observed[k] = t->cpu_obs;
            }
        }
        run->client.dispatch_lag_p99_ms = hist_q_ms(lag, lag_n, 0.99);
        run->client.iter_p99_ms = hist_q_ms(iter, iter_n, 0.99);
        run->client.wake_p99_ms = hist_q_ms(wake, wake_n, 0.99);
        free(lag);
        run->wall_s = run->client.wall_s;
    }
    *out = run;
    run = NULL;
    goto out;
nomem:
    snprintf(err, OWB_ERR_MAX, "serving run: out of memory");
    rc = OWB_E_NOMEM;
out:
    for (int k = 0; thr && k < nthr; k++)
        thr_release(&thr[k]);
    free(thr);
    for (size_t i = 0; sh.bodies && i < w->n; i++)
        free(sh.bodies[i]);
    free(sh.bodies);
    free(sh.body_len);
    curl_slist_free_all(sh.hdrs);
    free(sh.reqs);
    free(sched);
    free(count);
    owb_serve_run_free(run);
    return rc;
}

/* ---- probe ---- */

struct probe_buf {
    char data[65536];
    size_t len;
};

static size_t probe_write(char *p, size_t sz, size_t nm, void *ud)
{
    struct probe_buf *b = ud;
    size_t n = sz * nm, k = n;
    if (k > sizeof b->data - 1 - b->len)
        k = sizeof b->data - 1 - b->len;
    memcpy(b->data + b->len, p, k);
    b->len += k;
    b->data[b->len] = '\0';
    return n;
}

/* One blocking request; returns the curl code, status in *status, body in b. */
static CURLcode probe_request(const struct owb_serve_cfg *cfg, const char *url, const char *body,
                              struct curl_slist *hdrs, struct probe_buf *b, long *status)
{
    CURL *e = curl_easy_init();
    CURLcode rc;
    if (!e)
        return CURLE_FAILED_INIT;
    b->len = 0;
    b->data[0] = '\0';
    common_opts(e, cfg);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, probe_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                     (long)((cfg->timeout_s < 60 ? cfg->timeout_s : 60) * 1000));
    if (body)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    rc = curl_easy_perform(e);
    *status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(e);
    return rc;
}

int owb_serve_probe(struct owb_serve_cfg *cfg, const struct owb_serve_workload *w,
                    struct owb_serve_probe *out, char err[OWB_ERR_MAX])
{
    static struct probe_buf b; /* 64 KiB: not on the stack */
    char url[2048];
    struct curl_slist *hdrs = NULL;
    struct owb_serve_item item;
    long status = 0;
    CURLcode cc;
    int rc = 0;

    memset(out, 0, sizeof *out);
    if ((rc = curl_global(err)))
        return rc;
    hdrs = build_headers(cfg);
    if (!hdrs) {
        snprintf(err, OWB_ERR_MAX, "probe: out of memory");
        return OWB_E_NOMEM;
    }
    endpoint_url(cfg, "/models", url, sizeof url);
    cc = probe_request(cfg, url, NULL, hdrs, &b, &status);
    if (cc != CURLE_OK) {
        snprintf(err, OWB_ERR_MAX, "cannot reach %.400s: %s", url, curl_easy_strerror(cc));
        rc = OWB_E_IO;
        goto out;
    }
    if (status == 200) {
        cJSON *j = cJSON_Parse(b.data);
        cJSON *id =
            cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "data"), 0), "id");
        out->models_ok = true;
        if (cJSON_IsString(id))
            snprintf(out->model, sizeof out->model, "%s", id->valuestring);
        cJSON_Delete(j);
    }
    if (!cfg->model || !*cfg->model) {
        if (!out->model[0]) {
            snprintf(err, OWB_ERR_MAX, "%.400s did not list a model (HTTP %ld): give --model NAME",
                     url, status);
            rc = OWB_E_USAGE;
            goto out;
        }
        cfg->model = out->model;
    }
    if (!w || !w->n)
        goto out;
    /* A short streaming request with every option; fall back on rejection. */
    item = w->items[0];
    item.output_tokens = 2;
    endpoint_url(cfg, cfg->endpoint == OWB_SERVE_CHAT ? "/chat/completions" : "/completions", url,
                 sizeof url);
    out->extra_ok = cfg->ignore_eos;
    out->stream_options_ok = cfg->include_usage || cfg->continuous_usage;
    for (int attempt = 0, retries = 0; attempt < 5; attempt++) {
        size_t len;
        char *body = build_body(cfg, &item, &len);
        if (!body) {
            snprintf(err, OWB_ERR_MAX, "probe: out of memory");
            rc = OWB_E_NOMEM;
            goto out;
        }
        cc = probe_request(cfg, url, body, hdrs, &b, &status);
        free(body);
        if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
            (cc != CURLE_OK && retries == 2)) {
            snprintf(err, OWB_ERR_MAX, "cannot reach %.400s: %s", url, curl_easy_strerror(cc));
            rc = OWB_E_IO;
            goto out;
        }
        out->status = (int)status;
        if (cc == CURLE_OK && status == 200)
            break;
        if ((cc != CURLE_OK || status >= 500) && retries < 2) {
            /* a transient failure (a server still loading, an injected fault): try again */
            struct timespec ts = {0, 200000000L};
            retries++;
            nanosleep(&ts, NULL);
            continue;
        }
        if ((status == 400 || status == 422) && cfg->ignore_eos) {
            cfg->ignore_eos = false;
            out->extra_ok = false;
            continue;
        }
        if ((status == 400 || status == 422) && (cfg->include_usage || cfg->continuous_usage)) {
            cfg->include_usage = cfg->continuous_usage = false;
            out->stream_options_ok = false;
            continue;
        }
        break;
    }
    if (status != 200) {
        snprintf(err, OWB_ERR_MAX, "%.300s: a streaming request failed with HTTP %ld: %.150s", url,
                 status, b.data);
        rc = OWB_E_FORMAT;
        goto out;
    }
    for (const char *p = b.data; (p = strstr(p, "data:")); p += 5)
        out->out_tokens++;
out:
    curl_slist_free_all(hdrs);
    return rc;
}

#else /* !OWB_HAVE_CURL */

int owb_serve_run(const struct owb_serve_cfg *cfg, const struct owb_serve_load *load,
                  const struct owb_serve_workload *w, struct owb_serve_run **out,
                  char err[OWB_ERR_MAX])
{
    (void)cfg;
    (void)load;
    (void)w;
    *out = NULL;
    snprintf(err, OWB_ERR_MAX, "this build has no libcurl: serving benchmarks are unavailable");
    return OWB_E_UNSUPPORTED;
}

int owb_serve_probe(struct owb_serve_cfg *cfg, const struct owb_serve_workload *w,
                    struct owb_serve_probe *out, char err[OWB_ERR_MAX])
{
    (void)cfg;
    (void)w;
    memset(out, 0, sizeof *out);
    snprintf(err, OWB_ERR_MAX, "this build has no libcurl: serving benchmarks are unavailable");
    return OWB_E_UNSUPPORTED;
}

void owb_serve_run_free(struct owb_serve_run *r)
{
    if (!r)
        return;
    free(r->reqs);
    free(r->chunks);
    free(r);
}

#endif
