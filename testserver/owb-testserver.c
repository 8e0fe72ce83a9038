/* SPDX-License-Identifier: MIT */
/*
 * owb-testserver.c: an OpenAI-compatible streaming test server for `owbench serve` and its tests.
 * One thread, epoll, loopback only, HTTP/1.1 keep-alive with chunked SSE responses. Each request's
 * chunks are emitted on a precise timetable (timerfd + a min-heap of deadlines, absolute times so
 * lateness never accumulates): headers at once, the first content chunk after --ttft-ms, then a
 * chunk of --tokens-per-chunk tokens every tokens-per-chunk x --itl-ms, each delay with optional
 * uniform jitter. --max-concurrency K gives the server a known capacity: K requests generate at a
 * time, the rest wait in a FIFO queue (their time to first token grows without bound past
 * capacity). Faults are drawn per request from a seeded generator in arrival order: HTTP 500, a
 * disconnect mid-stream, one malformed event, an error object inside the stream, or a stall.
 * Endpoints: POST /v1/completions and /v1/chat/completions (stream, stream_options.include_usage,
 * continuous_usage_stats, logprobs), GET /v1/models. --record writes one JSON line per request
 * (what it received and what it did); at exit (SIGTERM/SIGINT or --max-seconds) a JSON summary of
 * counts per outcome and emission lateness goes to stderr and --stats.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "owb_common.h"

enum { C_READ, C_QUEUED, C_STREAM, C_STALL, C_NONSTREAM };
enum { F_NONE, F_HTTP500, F_DISCONNECT, F_MALFORMED, F_STREAM_ERROR, F_STALL, F_NFAULT };
static const char *const fault_name[F_NFAULT] = {"ok",        "http_500",     "disconnect",
                                                 "malformed", "stream_error", "stall"};

#define LATE_BINS 10000 /* 10 us bins up to 100 ms */
#define MAX_BODY (8u << 20)
#define TIMER_SLACK_NS 50000ull /* deadlines this close together share a wake-up */

struct conn {
    int fd;
    int state;
    int dead;
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_len, out_off, out_cap;
    int want_out;  /* EPOLLOUT armed */
    int closing;   /* close once the output has drained (Connection: close) */
    int keepalive; /* the client did not ask to close */
    /* the request being served */
    uint64_t id;
    int chat, stream, include_usage, continuous_usage, logprobs;
    int max_tokens, prompt_tokens;
    int fault, fault_at; /* fault and the chunk index where it strikes */
    int sent_tokens, chunk_i;
    uint64_t start_ns, next_ns;
    int heap_idx;
    struct conn *qnext;
    /* --record: when each chunk went out (owb_now_ns, the client's clock), for timing checks */
    uint64_t arrival_ns, *sends;
    int n_sends, cap_sends, recorded;
    char key[64]; /* first word of the prompt: joins client and server records */
};

static struct {
    const char *host;
    int port;
    const char *port_file, *record_path, *stats_path, *model;
    double ttft_ms, itl_ms, jitter_ms;
    int tokens_per_chunk, default_output_len, max_concurrency;
    double p_http500, p_disconnect, p_malformed, p_stream_error, p_stall;
    int reject_stream_options, reject_extra;
    uint64_t seed;
    double max_seconds;
} opt = {"127.0.0.1", 0, NULL, NULL, NULL, "owb-test", 20, 5, 0, 1,  16,
         0,           0, 0,    0,    0,    0,          0,  0, 1, 300};

static struct {
    int ep, tfd, lfd;
    struct conn **heap;
    int heap_n, heap_cap;
    struct conn *q_head, *q_tail;
    int active, max_active, n_conns;
    uint64_t next_id, rng;
    uint64_t outcome[F_NFAULT], rejected, bad_request, not_found, models, events;
    uint64_t late[LATE_BINS + 1], late_max_ns, late_n;
    FILE *record;
    char scratch[1 << 16];
} S;

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static double rng_unit(void)
{
    /* xorshift64*, 53-bit uniform in [0, 1) */
    S.rng ^= S.rng >> 12;
    S.rng ^= S.rng << 25;
    S.rng ^= S.rng >> 27;
    return (double)((S.rng * 2685821657736338717ull) >> 11) * 0x1.0p-53;
}

static uint64_t jittered_ns(double ms)
{
    double v = ms;
    if (opt.jitter_ms > 0)
        v += (2 * rng_unit() - 1) * opt.jitter_ms;
    return v <= 0 ? 0 : (uint64_t)(v * 1e6);
}

/* ---- timer heap ---- */

static void heap_swap(int a, int b)
{
    struct conn *t = S.heap[a];
    S.heap[a] = S.heap[b];
    S.heap[b] = t;
    S.heap[a]->heap_idx = a;
    S.heap[b]->heap_idx = b;
}

static void heap_up(int i)
{
    while (i > 0 && S.heap[(i - 1) / 2]->next_ns > S.heap[i]->next_ns) {
        heap_swap(i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < S.heap_n && S.heap[l]->next_ns < S.heap[m]->next_ns)
            m = l;
        if (r < S.heap_n && S.heap[r]->next_ns < S.heap[m]->next_ns)
            m = r;
        if (m == i)
            return;
        heap_swap(i, m);
        i = m;
    }
}

static int heap_push(struct conn *c, uint64_t at)
{
    if (S.heap_n == S.heap_cap) {
        int cap = S.heap_cap ? 2 * S.heap_cap : 256;
        struct conn **h = realloc(S.heap, (size_t)cap * sizeof *h);
        if (!h)
            return -1;
        S.heap = h;
        S.heap_cap = cap;
    }
    c->next_ns = at;
    c->heap_idx = S.heap_n;
    S.heap[S.heap_n++] = c;
    heap_up(c->heap_idx);
    return 0;
}

static void heap_remove(struct conn *c)
{
    int i = c->heap_idx;
    if (i < 0)
        return;
    S.heap_n--;
    if (i != S.heap_n) {
        S.heap[i] = S.heap[S.heap_n];
        S.heap[i]->heap_idx = i;
        heap_down(i);
        heap_up(i);
    }
    c->heap_idx = -1;
}

static void arm_timer(void)
{
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    if (S.heap_n) {
        uint64_t t = S.heap[0]->next_ns;
        if (t == 0)
            t = 1;
        its.it_value.tv_sec = (time_t)(t / 1000000000ull);
        its.it_value.tv_nsec = (long)(t % 1000000000ull);
    }
    timerfd_settime(S.tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* ---- output ---- */

static void set_events(struct conn *c, int want_out)
{
    struct epoll_event ev;
    if (c->want_out == want_out)
        return;
    c->want_out = want_out;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN | EPOLLRDHUP | (want_out ? EPOLLOUT : 0u);
    ev.data.ptr = c;
    epoll_ctl(S.ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void flush_out(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                c->dead = 1;
            break;
        }
        c->out_off += (size_t)w;
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (!c->dead)
        set_events(c, c->out_len > 0);
}

static void out_append(struct conn *c, const char *p, size_t n)
{
    if (c->dead)
        return;
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        char *o;
        while (cap < c->out_len + n)
            cap *= 2;
        o = realloc(c->out, cap);
        if (!o) {
            c->dead = 1;
            return;
        }
        c->out = o;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

static void conn_write(struct conn *c, const char *p, size_t n)
{
    out_append(c, p, n);
    flush_out(c);
}

static void http_response(struct conn *c, int status, const char *reason, const char *ctype,
                          const char *body)
{
    size_t bl = strlen(body);
    int n = snprintf(S.scratch, sizeof S.scratch,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n", status,
                     reason, ctype, bl, c->keepalive ? "" : "Connection: close\r\n");
    out_append(c, S.scratch, (size_t)n);
    conn_write(c, body, bl);
}

static void error_response(struct conn *c, int status, const char *reason, const char *msg)
{
    char body[512];
    snprintf(body, sizeof body, "{\"error\":{\"message\":\"%s\",\"type\":\"%s\",\"code\":%d}}", msg,
             status >= 500 ? "server_error" : "invalid_request_error", status);
    http_response(c, status, reason, "application/json", body);
}

/* One SSE event as one HTTP chunk. */
__attribute__((format(printf, 2, 3))) static void sse_send(struct conn *c, const char *fmt, ...)
{
    char ev[1 << 14];
    va_list ap;
    int n, h;
    va_start(ap, fmt);
    n = vsnprintf(ev + 32, sizeof ev - 40, fmt, ap);
    va_end(ap);
    if (n < 0 || n > (int)sizeof ev - 40)
        n = 0;
    h = snprintf(S.scratch, 32, "%x\r\n", (unsigned)(n + 8));
    out_append(c, S.scratch, (size_t)h);
    out_append(c, "data: ", 6);
    out_append(c, ev + 32, (size_t)n);
    conn_write(c, "\n\n\r\n", 4);
    S.events++;
}

/* ---- requests ---- */

static void conn_close(struct conn *c);
static void record_done(struct conn *c, const char *how);
static void parse_requests(struct conn *c);

static void start_next_queued(void)
{
    while (S.q_head && (opt.max_concurrency <= 0 || S.active < opt.max_concurrency)) {
        struct conn *c = S.q_head;
        S.q_head = c->qnext;
        if (!S.q_head)
            S.q_tail = NULL;
        c->qnext = NULL;
        c->state = c->stream ? C_STREAM : C_NONSTREAM;
        c->start_ns = owb_now_ns();
        S.active++;
        if (S.active > S.max_active)
            S.max_active = S.active;
        heap_push(c, c->start_ns + jittered_ns(opt.ttft_ms) +
                         (c->stream ? 0 : (uint64_t)(opt.itl_ms * 1e6 * (c->max_tokens - 1))));
    }
}

static void queue_remove(struct conn *c)
{
    struct conn **pp = &S.q_head, *prev = NULL;
    while (*pp && *pp != c) {
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    if (*pp) {
        *pp = c->qnext;
        if (S.q_tail == c)
            S.q_tail = prev;
    }
    c->qnext = NULL;
}

/* The request is over (normally or by a fault that keeps the connection). */
static void request_done(struct conn *c)
{
    record_done(c, "done");
    heap_remove(c);
    if (c->state == C_STREAM || c->state == C_STALL || c->state == C_NONSTREAM) {
        S.active--;
        start_next_queued();
    }
    c->state = C_READ;
    if (!c->keepalive) {
        c->closing = 1; /* closed by the main loop once the output has drained */
        return;
    }
    parse_requests(c);
}

static void token_text(char *buf, size_t cap, int first, int n)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && at + 16 < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, " w%d", first + i);
}

static void send_usage_chunk(struct conn *c)
{
    sse_send(c,
             "{\"id\":\"cmpl-%" PRIu64 "\",\"object\":\"%s\",\"created\":0,\"model\":\"%s\","
             "\"choices\":[],\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,"
             "\"total_tokens\":%d}}",
             c->id, c->chat ? "chat.completion.chunk" : "text_completion", opt.model,
             c->prompt_tokens, c->sent_tokens, c->prompt_tokens + c->sent_tokens);
}

static void note_send(struct conn *c)
{
    if (!S.record)
        return;
    if (c->n_sends == c->cap_sends) {
        int cap = c->cap_sends ? 2 * c->cap_sends : 64;
        uint64_t *p = realloc(c->sends, 2 * (size_t)cap * sizeof *p);
        if (!p)
            return;
        c->sends = p;
        c->cap_sends = cap;
    }
    c->sends[2 * c->n_sends] = owb_now_ns(); /* before the send; after it: sent_after() */
    c->sends[2 * c->n_sends + 1] = 0;
    c->n_sends++;
}

/* The "done" line of a request: every chunk's send time. */
static void record_done(struct conn *c, const char *how)
{
    if (!S.record || c->recorded)
        return;
    c->recorded = 1;
    fprintf(S.record,
            "{\"id\":%" PRIu64 ",\"event\":\"done\",\"key\":\"%s\",\"how\":\"%s\","
            "\"arrival_ns\":%" PRIu64 ",\"start_ns\":%" PRIu64 ",\"tokens\":%d,\"sends_ns\":[",
            c->id, c->key, how, c->arrival_ns, c->start_ns, c->sent_tokens);
    for (int i = 0; i < c->n_sends; i++)
        fprintf(S.record, "%s%" PRIu64, i ? "," : "", c->sends[2 * i]);
    fprintf(S.record, "],\"sent_ns\":[");
    for (int i = 0; i < c->n_sends; i++)
        fprintf(S.record, "%s%" PRIu64, i ? "," : "", c->sends[2 * i + 1]);
    fprintf(S.record, "]}\n");
}

static void sent_after(struct conn *c)
{
    if (S.record && c->n_sends > 0)
        c->sends[2 * c->n_sends - 1] = owb_now_ns();
}

static void send_token_chunk(struct conn *c, int ntok, int last)
{
    char text[4096], usage[160] = "", lp[4096] = "";
    token_text(text, sizeof text, c->sent_tokens, ntok);
    c->sent_tokens += ntok;
    note_send(c);
    if (c->continuous_usage)
        snprintf(usage, sizeof usage,
                 ",\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d}",
                 c->prompt_tokens, c->sent_tokens, c->prompt_tokens + c->sent_tokens);
    if (c->logprobs) {
        size_t at = 0;
        at += (size_t)snprintf(lp, sizeof lp, c->chat ? "{\"content\":[" : "{\"tokens\":[");
        for (int i = 0; i < ntok && at + 64 < sizeof lp; i++)
            at +=
                (size_t)snprintf(lp + at, sizeof lp - at,
                                 c->chat ? "%s{\"token\":\" w%d\",\"logprob\":-0.5}" : "%s\" w%d\"",
                                 i ? "," : "", c->sent_tokens - ntok + i);
        snprintf(lp + at, sizeof lp - at, "]}");
    } else {
        snprintf(lp, sizeof lp, "null");
    }
    if (c->chat)
        sse_send(c,
                 "{\"id\":\"chatcmpl-%" PRIu64 "\",\"object\":\"chat.completion.chunk\","
                 "\"created\":0,\"model\":\"%s\",\"choices\":[{\"index\":0,\"delta\":"
                 "{\"content\":\"%s\"},\"logprobs\":%s,\"finish_reason\":%s}]%s}",
                 c->id, opt.model, text, lp, last ? "\"length\"" : "null", usage);
    else
        sse_send(c,
                 "{\"id\":\"cmpl-%" PRIu64 "\",\"object\":\"text_completion\",\"created\":0,"
                 "\"model\":\"%s\",\"choices\":[{\"index\":0,\"text\":\"%s\",\"logprobs\":%s,"
                 "\"finish_reason\":%s}]%s}",
                 c->id, opt.model, text, lp, last ? "\"length\"" : "null", usage);
}

static void finish_stream(struct conn *c, int with_done)
{
    if (with_done)
        sse_send(c, "[DONE]");
    conn_write(c, "0\r\n\r\n", 5);
    request_done(c);
}

static void note_lateness(uint64_t deadline)
{
    uint64_t now = owb_now_ns(), late = now > deadline ? now - deadline : 0;
    uint64_t bin = late / 10000;
    S.late[bin > LATE_BINS ? LATE_BINS : bin]++;
    S.late_n++;
    if (late > S.late_max_ns)
        S.late_max_ns = late;
}

/* A stream's deadline came: emit its next chunk (or its fault). */
static void on_deadline(struct conn *c)
{
    uint64_t due = c->next_ns;
    int k = opt.tokens_per_chunk, left = c->max_tokens - c->sent_tokens;
    int ntok = left < k ? left : k;

    heap_remove(c);
    note_lateness(due);
    if (c->state == C_NONSTREAM) {
        char text[8192];
        char *body = S.scratch + 32768;
        c->sent_tokens = 0;
        token_text(text, sizeof text, 0, c->max_tokens);
        c->sent_tokens = c->max_tokens;
        snprintf(body, 32768,
                 c->chat ? "{\"id\":\"chatcmpl-%" PRIu64 "\",\"object\":\"chat.completion\","
                           "\"model\":\"%s\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
                           "\"assistant\",\"content\":\"%s\"},\"finish_reason\":\"length\"}],"
                           "\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,"
                           "\"total_tokens\":%d}}"
                         : "{\"id\":\"cmpl-%" PRIu64 "\",\"object\":\"text_completion\","
                           "\"model\":\"%s\",\"choices\":[{\"index\":0,\"text\":\"%s\","
                           "\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":%d,"
                           "\"completion_tokens\":%d,\"total_tokens\":%d}}",
                 c->id, opt.model, text, c->prompt_tokens, c->max_tokens,
                 c->prompt_tokens + c->max_tokens);
        {
            char copy[32768];
            snprintf(copy, sizeof copy, "%s", body);
            http_response(c, 200, "OK", "application/json", copy);
        }
        request_done(c);
        return;
    }
    if (c->fault != F_NONE && c->chunk_i == c->fault_at) {
        switch (c->fault) {
        case F_DISCONNECT:
            /* Abrupt close in the middle of the chunked body. */
            c->keepalive = 0;
            request_done(c);
            c->dead = 1;
            return;
        case F_STALL:
            c->state = C_STALL; /* nothing more until the client gives up */
            return;
        case F_STREAM_ERROR:
            sse_send(c, "{\"error\":{\"message\":\"injected stream error\",\"type\":"
                        "\"server_error\",\"code\":500}}");
            finish_stream(c, 1);
            return;
        case F_MALFORMED:
            sse_send(c, "{\"choices\":[{\"text\": BROKEN");
            break;
        default:
            break;
        }
    }
    send_token_chunk(c, ntok, ntok == left);
    sent_after(c);
    c->chunk_i++;
    if (c->sent_tokens >= c->max_tokens) {
        if (c->include_usage)
            send_usage_chunk(c);
        finish_stream(c, 1);
        return;
    }
    left = c->max_tokens - c->sent_tokens;
    heap_push(c, due + jittered_ns(opt.itl_ms * (left < k ? left : k)));
}

static int count_words(const char *s)
{
    int n = 0, in = 0;
    for (; s && *s; s++) {
        if (isspace((unsigned char)*s)) {
            in = 0;
        } else if (!in) {
            in = 1;
            n++;
        }
    }
    return n;
}

static void first_word(const char *s, char *out, size_t n)
{
    size_t k = 0;
    while (*s && isspace((unsigned char)*s))
        s++;
    while (*s && !isspace((unsigned char)*s) && k + 1 < n) {
        char ch = *s++;
        out[k++] = (ch == '"' || ch == '\\' || (unsigned char)ch < 32) ? '_' : ch;
    }
    out[k] = '\0';
}

static void record(struct conn *c, const char *method, const char *path, const cJSON *body,
                   const char *outcome, uint64_t t_ns)
{
    char *b = NULL;
    if (!S.record)
        return;
    if (body)
        b = cJSON_PrintUnformatted(body);
    fprintf(S.record,
            "{\"id\":%" PRIu64 ",\"event\":\"request\",\"key\":\"%s\",\"t_ns\":%" PRIu64
            ",\"method\":\"%s\",\"path\":\"%s\","
            "\"outcome\":\"%s\",\"max_tokens\":%d,\"prompt_tokens\":%d,\"stream\":%s,"
            "\"include_usage\":%s,\"body\":%s}\n",
            c->id, c->key, t_ns, method, path, outcome, c->max_tokens, c->prompt_tokens,
            c->stream ? "true" : "false", c->include_usage ? "true" : "false", b ? b : "null");
    free(b);
}

static void handle_completion(struct conn *c, const char *path, const char *body, size_t blen,
                              uint64_t t_ns)
{
    cJSON *j = cJSON_ParseWithLength(body, blen), *it;
    double u;
    c->id = S.next_id++;
    c->fault = F_NONE;
    c->arrival_ns = t_ns;
    c->start_ns = 0;
    c->n_sends = 0;
    c->recorded = 0;
    c->key[0] = '\0';
    c->sent_tokens = c->chunk_i = 0;
    c->stream = c->include_usage = c->continuous_usage = c->logprobs = 0;
    c->max_tokens = opt.default_output_len;
    c->prompt_tokens = 0;
    c->chat = strstr(path, "chat/") != NULL;
    if (!j || !cJSON_IsObject(j)) {
        S.bad_request++;
        record(c, "POST", path, NULL, "bad_request", t_ns);
        error_response(c, 400, "Bad Request", "request body is not a JSON object");
        goto out;
    }
    c->stream = cJSON_IsTrue(cJSON_GetObjectItem(j, "stream"));
    it = cJSON_GetObjectItem(j, "max_tokens");
    if (!it)
        it = cJSON_GetObjectItem(j, "max_completion_tokens");
    if (cJSON_IsNumber(it) && it->valuedouble >= 1)
        c->max_tokens = it->valuedouble > 100000 ? 100000 : (int)it->valuedouble;
    it = cJSON_GetObjectItem(j, "stream_options");
    if (it) {
        c->include_usage = cJSON_IsTrue(cJSON_GetObjectItem(it, "include_usage"));
        c->continuous_usage = cJSON_IsTrue(cJSON_GetObjectItem(it, "continuous_usage_stats"));
    }
    it = cJSON_GetObjectItem(j, "logprobs");
    c->logprobs = cJSON_IsTrue(it) || (cJSON_IsNumber(it) && it->valuedouble > 0);
    if (c->chat) {
        cJSON *m;
        cJSON_ArrayForEach(m, cJSON_GetObjectItem(j, "messages"))
        {
            cJSON *ct = cJSON_GetObjectItem(m, "content");
            if (cJSON_IsString(ct)) {
                c->prompt_tokens += count_words(ct->valuestring);
                if (!c->key[0])
                    first_word(ct->valuestring, c->key, sizeof c->key);
            }
        }
    } else {
        it = cJSON_GetObjectItem(j, "prompt");
        if (cJSON_IsString(it)) {
            c->prompt_tokens = count_words(it->valuestring);
            first_word(it->valuestring, c->key, sizeof c->key);
        }
    }
    if ((opt.reject_stream_options && cJSON_GetObjectItem(j, "stream_options")) ||
        (opt.reject_extra &&
         (cJSON_GetObjectItem(j, "ignore_eos") || cJSON_GetObjectItem(j, "min_tokens")))) {
        S.rejected++;
        record(c, "POST", path, j, "rejected", t_ns);
        error_response(c, 400, "Bad Request", "unrecognized request argument");
        goto out;
    }
    /* Fault draw: one uniform number per accepted request, in arrival order. */
    u = rng_unit();
    if ((u -= opt.p_http500) < 0)
        c->fault = F_HTTP500;
    else if ((u -= opt.p_disconnect) < 0)
        c->fault = F_DISCONNECT;
    else if ((u -= opt.p_malformed) < 0)
        c->fault = F_MALFORMED;
    else if ((u -= opt.p_stream_error) < 0)
        c->fault = F_STREAM_ERROR;
    else if ((u -= opt.p_stall) < 0)
        c->fault = F_STALL;
    if (!c->stream && c->fault != F_HTTP500)
        c->fault = F_NONE; /* stream faults need a stream */
    {
        int nchunks = (c->max_tokens + opt.tokens_per_chunk - 1) / opt.tokens_per_chunk;
        c->fault_at = c->fault == F_STREAM_ERROR ? (nchunks > 1 ? 1 : 0) : nchunks / 2;
    }
    S.outcome[c->fault]++;
    record(c, "POST", path, j, fault_name[c->fault], t_ns);
    if (c->fault == F_HTTP500) {
        c->recorded = 1;
        error_response(c, 500, "Internal Server Error", "injected failure");
        goto out;
    }
    if (c->stream) {
        int n = snprintf(S.scratch, sizeof S.scratch,
                         "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n%s\r\n",
                         c->keepalive ? "" : "Connection: close\r\n");
        conn_write(c, S.scratch, (size_t)n);
        if (c->chat)
            sse_send(c,
                     "{\"id\":\"chatcmpl-%" PRIu64 "\",\"object\":\"chat.completion.chunk\","
                     "\"created\":0,\"model\":\"%s\",\"choices\":[{\"index\":0,\"delta\":"
                     "{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}",
                     c->id, opt.model);
    }
    c->state = C_QUEUED;
    if (S.q_tail)
        S.q_tail->qnext = c;
    else
        S.q_head = c;
    S.q_tail = c;
    start_next_queued();
out:
    cJSON_Delete(j);
}

/* Whether the header value starting at v (up to the end of its line) contains word. */
static int header_has(const char *v, const char *word)
{
    const char *e = strstr(v, "\r\n");
    size_t n = e ? (size_t)(e - v) : strlen(v), w = strlen(word);
    for (size_t i = 0; i + w <= n; i++)
        if (!strncasecmp(v + i, word, w))
            return 1;
    return 0;
}

/* Parse complete requests from the input buffer while the connection is idle. */
static void parse_requests(struct conn *c)
{
    while (c->state == C_READ && !c->dead && !c->closing) {
        char *hend, *p, method[16], path[256];
        size_t hlen, clen = 0;
        uint64_t t = owb_now_ns();
        if (c->in_len < 4)
            return;
        hend = memmem(c->in, c->in_len, "\r\n\r\n", 4);
        if (!hend) {
            if (c->in_len > 65536) {
                c->keepalive = 0;
                error_response(c, 431, "Request Header Fields Too Large", "headers too large");
                c->dead = 1;
            }
            return;
        }
        hlen = (size_t)(hend - c->in) + 4;
        *hend = '\0';
        if (sscanf(c->in, "%15s %255s", method, path) != 2) {
            c->keepalive = 0;
            error_response(c, 400, "Bad Request", "malformed request line");
            c->dead = 1;
            return;
        }
        c->keepalive = strstr(c->in, "HTTP/1.0") == NULL;
        for (p = strstr(c->in, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
            if (!strncasecmp(p + 2, "content-length:", 15))
                clen = strtoul(p + 17, NULL, 10);
            else if (!strncasecmp(p + 2, "connection:", 11) && header_has(p + 13, "close"))
                c->keepalive = 0;
            else if (!strncasecmp(p + 2, "expect: 100-continue", 20) && c->in_len < hlen + clen)
                conn_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        }
        *hend = '\r';
        if (clen > MAX_BODY) {
            c->keepalive = 0;
            error_response(c, 413, "Payload Too Large", "body too large");
            c->dead = 1;
            return;
        }
        if (c->in_len < hlen + clen)
            return;
        if (!strcmp(method, "GET") && (!strcmp(path, "/v1/models") || !strcmp(path, "/models"))) {
            char body[512];
            snprintf(body, sizeof body,
                     "{\"object\":\"list\",\"data\":[{\"id\":\"%s\",\"object\":\"model\","
                     "\"created\":0,\"owned_by\":\"owbench\"}]}",
                     opt.model);
            S.models++;
            http_response(c, 200, "OK", "application/json", body);
        } else if (!strcmp(method, "GET") && !strcmp(path, "/health")) {
            http_response(c, 200, "OK", "application/json", "{}");
        } else if (!strcmp(method, "POST") &&
                   (!strcmp(path, "/v1/completions") || !strcmp(path, "/v1/chat/completions"))) {
            handle_completion(c, path, c->in + hlen, clen, t);
        } else {
            S.not_found++;
            error_response(c, 404, "Not Found", "no such endpoint");
        }
        memmove(c->in, c->in + hlen + clen, c->in_len - hlen - clen);
        c->in_len -= hlen + clen;
    }
}

static void conn_close(struct conn *c)
{
    if (c->state != C_READ)
        record_done(c, "closed");
    heap_remove(c);
    if (c->state == C_QUEUED)
        queue_remove(c);
    if (c->state == C_STREAM || c->state == C_STALL || c->state == C_NONSTREAM) {
        S.active--;
        c->state = C_READ;
        start_next_queued();
    }
    epoll_ctl(S.ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c->sends);
    free(c);
    S.n_conns--;
}

static void on_readable(struct conn *c)
{
    for (;;) {
        ssize_t r;
        if (c->in_cap - c->in_len < 4096) {
            size_t cap = c->in_cap ? 2 * c->in_cap : 16384;
            char *b;
            if (cap > MAX_BODY + 65536) {
                c->dead = 1;
                return;
            }
            b = realloc(c->in, cap);
            if (!b) {
                c->dead = 1;
                return;
            }
            c->in = b;
            c->in_cap = cap;
        }
        r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (r > 0) {
            c->in_len += (size_t)r;
            continue;
        }
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            c->dead = 1;
        if (r < 0 && errno == EINTR)
            continue;
        break;
    }
    parse_requests(c);
}

static void on_accept(void)
{
    for (;;) {
        struct epoll_event ev;
        struct conn *c;
        int one = 1;
        int fd = accept4(S.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        c->heap_idx = -1;
        c->keepalive = 1;
        memset(&ev, 0, sizeof ev);
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.ptr = c;
        if (epoll_ctl(S.ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            free(c);
            continue;
        }
        S.n_conns++;
    }
}

static double late_quantile_us(double q)
{
    uint64_t want = (uint64_t)ceil(q * (double)S.late_n), acc = 0;
    for (int i = 0; i <= LATE_BINS; i++) {
        acc += S.late[i];
        if (acc >= want && want > 0)
            return (i + 1) * 10.0;
    }
    return 0;
}

static void summary(void)
{
    char buf[2048];
    snprintf(buf, sizeof buf,
             "{\"requests\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"http_500\":%" PRIu64
             ",\"disconnect\":%" PRIu64 ",\"malformed\":%" PRIu64 ",\"stream_error\":%" PRIu64
             ",\"stall\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"bad_request\":%" PRIu64
             ",\"not_found\":%" PRIu64 ",\"models\":%" PRIu64 ",\"events\":%" PRIu64
             ",\"max_active\":%d,\"late_p50_us\":%.0f,"
             "\"late_p99_us\":%.0f,\"late_max_us\":%.1f}\n",
             S.next_id, S.outcome[F_NONE], S.outcome[F_HTTP500], S.outcome[F_DISCONNECT],
             S.outcome[F_MALFORMED], S.outcome[F_STREAM_ERROR], S.outcome[F_STALL], S.rejected,
             S.bad_request, S.not_found, S.models, S.events, S.max_active, late_quantile_us(0.5),
             late_quantile_us(0.99), (double)S.late_max_ns / 1e3);
    fputs(buf, stderr);
    if (opt.stats_path) {
        FILE *f = fopen(opt.stats_path, "w");
        if (f) {
            fputs(buf, f);
            fclose(f);
        }
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: owb-testserver [options]\n"
            "  --host ADDR               127.x.x.x only (default 127.0.0.1)\n"
            "  --port N                  0 picks a free port (default)\n"
            "  --port-file FILE          write the port there once listening\n"
            "  --model NAME              model id served (default owb-test)\n"
            "  --ttft-ms MS              time to first token (default 20)\n"
            "  --itl-ms MS               gap between tokens (default 5)\n"
            "  --tokens-per-chunk K      tokens per SSE chunk; chunks every K*itl (default 1)\n"
            "  --jitter-ms MS            uniform +-MS on every delay (default 0)\n"
            "  --output-len N            tokens when the request has no max_tokens (16)\n"
            "  --max-concurrency K       K requests generate at once, others queue (0: no limit)\n"
            "  --error-rate P            HTTP 500 (fraction of requests)\n"
            "  --disconnect-rate P       close the connection mid-stream\n"
            "  --malformed-rate P        one malformed event mid-stream\n"
            "  --stream-error-rate P     an error object inside the stream\n"
            "  --stall-rate P            stop sending mid-stream (client times out)\n"
            "  --reject-stream-options   400 when stream_options is present\n"
            "  --reject-extra            400 when ignore_eos or min_tokens is present\n"
            "  --seed N                  fault and jitter draws (default 1)\n"
            "  --record FILE             one JSON line per request received\n"
            "  --stats FILE              the exit summary as JSON\n"
            "  --max-seconds S           exit after S seconds (default 300)\n");
}

static int parse_double(const char *name, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "owb-testserver: %s '%s': expected a number in [%g, %g]\n", name, s, lo,
                hi);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"host", 1, 0, 'H'},
                                       {"port", 1, 0, 'p'},
                                       {"port-file", 1, 0, 'P'},
                                       {"model", 1, 0, 'm'},
                                       {"ttft-ms", 1, 0, 't'},
                                       {"itl-ms", 1, 0, 'i'},
                                       {"tokens-per-chunk", 1, 0, 'k'},
                                       {"jitter-ms", 1, 0, 'j'},
                                       {"output-len", 1, 0, 'n'},
                                       {"max-concurrency", 1, 0, 'c'},
                                       {"error-rate", 1, 0, 'E'},
                                       {"disconnect-rate", 1, 0, 'D'},
                                       {"malformed-rate", 1, 0, 'M'},
                                       {"stream-error-rate", 1, 0, 'S'},
                                       {"stall-rate", 1, 0, 'L'},
                                       {"reject-stream-options", 0, 0, 'R'},
                                       {"reject-extra", 0, 0, 'X'},
                                       {"seed", 1, 0, 's'},
                                       {"record", 1, 0, 'r'},
                                       {"stats", 1, 0, 'T'},
                                       {"max-seconds", 1, 0, 'x'},
                                       {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
    struct sockaddr_in addr;
    socklen_t alen = sizeof addr;
    struct epoll_event ev, evs[256];
    struct sigaction sa;
    uint64_t t_end;
    double d;
    int one = 1, c;

    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'H':
            opt.host = optarg;
            break;
        case 'p':
            if (parse_double("--port", optarg, 0, 65535, &d))
                return 2;
            opt.port = (int)d;
            break;
        case 'P':
            opt.port_file = optarg;
            break;
        case 'm':
            opt.model = optarg;
            break;
        case 't':
            if (parse_double("--ttft-ms", optarg, 0, 1e6, &opt.ttft_ms))
                return 2;
            break;
        case 'i':
            if (parse_double("--itl-ms", optarg, 0, 1e6, &opt.itl_ms))
                return 2;
            break;
        case 'j':
            if (parse_double("--jitter-ms", optarg, 0, 1e6, &opt.jitter_ms))
                return 2;
            break;
        case 'k':
            if (parse_double("--tokens-per-chunk", optarg, 1, 1000, &d))
                return 2;
            opt.tokens_per_chunk = (int)d;
            break;
        case 'n':
            if (parse_double("--output-len", optarg, 1, 100000, &d))
                return 2;
            opt.default_output_len = (int)d;
            break;
        case 'c':
            if (parse_double("--max-concurrency", optarg, 0, 1e6, &d))
                return 2;
            opt.max_concurrency = (int)d;
            break;
        case 'E':
            if (parse_double("--error-rate", optarg, 0, 1, &opt.p_http500))
                return 2;
            break;
        case 'D':
            if (parse_double("--disconnect-rate", optarg, 0, 1, &opt.p_disconnect))
                return 2;
            break;
        case 'M':
            if (parse_double("--malformed-rate", optarg, 0, 1, &opt.p_malformed))
                return 2;
            break;
        case 'S':
            if (parse_double("--stream-error-rate", optarg, 0, 1, &opt.p_stream_error))
                return 2;
            break;
        case 'L':
            if (parse_double("--stall-rate", optarg, 0, 1, &opt.p_stall))
                return 2;
            break;
        case 'R':
            opt.reject_stream_options = 1;
            break;
        case 'X':
            opt.reject_extra = 1;
            break;
        case 's':
            if (parse_double("--seed", optarg, 0, 1e18, &d))
                return 2;
            opt.seed = (uint64_t)d;
            break;
        case 'r':
            opt.record_path = optarg;
            break;
        case 'T':
            opt.stats_path = optarg;
            break;
        case 'x':
            if (parse_double("--max-seconds", optarg, 0.1, 86400, &opt.max_seconds))
                return 2;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opt.port);
    if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1 ||
        (ntohl(addr.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "owb-testserver: --host '%s': only loopback addresses 127.x.x.x\n",
                opt.host);
        return 2;
    }
    S.rng = opt.seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    if (opt.record_path && !(S.record = fopen(opt.record_path, "w"))) {
        fprintf(stderr, "owb-testserver: %s: %s\n", opt.record_path, strerror(errno));
        return 3;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    S.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    setsockopt(S.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (S.lfd < 0 || bind(S.lfd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        listen(S.lfd, 4096) < 0 || getsockname(S.lfd, (struct sockaddr *)&addr, &alen) < 0) {
        fprintf(stderr, "owb-testserver: %s:%d: %s\n", opt.host, opt.port, strerror(errno));
        return 3;
    }
    S.ep = epoll_create1(EPOLL_CLOEXEC);
    S.tfd = timerfd_create(OWB_NOW_CLOCK, TFD_NONBLOCK | TFD_CLOEXEC);
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = &S.lfd;
    epoll_ctl(S.ep, EPOLL_CTL_ADD, S.lfd, &ev);
    ev.data.ptr = &S.tfd;
    epoll_ctl(S.ep, EPOLL_CTL_ADD, S.tfd, &ev);

    fprintf(stderr, "owb-testserver: listening on http://%s:%d/v1\n", opt.host,
            ntohs(addr.sin_port));
    if (opt.port_file) {
        char tmp[4096];
        FILE *f;
        snprintf(tmp, sizeof tmp, "%s.tmp", opt.port_file);
        f = fopen(tmp, "w");
        if (!f || fprintf(f, "%d\n", ntohs(addr.sin_port)) < 0 || fclose(f) != 0 ||
            rename(tmp, opt.port_file) != 0) {
            fprintf(stderr, "owb-testserver: %s: %s\n", opt.port_file, strerror(errno));
            return 3;
        }
    }
    t_end = owb_now_ns() + (uint64_t)(opt.max_seconds * 1e9);
    while (!stop_flag && owb_now_ns() < t_end) {
        int n = epoll_wait(S.ep, evs, (int)(sizeof evs / sizeof evs[0]), 200);
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &S.lfd) {
                on_accept();
            } else if (p == &S.tfd) {
                uint64_t exp;
                if (read(S.tfd, &exp, sizeof exp) < 0) { /* spurious wake-up */
                }
            } else {
                struct conn *cn = p;
                if (evs[i].events & EPOLLOUT)
                    flush_out(cn);
                if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                    on_readable(cn);
                if (cn->dead || (cn->closing && cn->out_len == 0))
                    conn_close(cn);
            }
        }
        /* Every deadline due within the next TIMER_SLACK_NS, earliest first: one wake-up sends
         * them all (at most that early; --record has the true send times). */
        for (uint64_t now = owb_now_ns(); S.heap_n && S.heap[0]->next_ns <= now + TIMER_SLACK_NS;) {
            struct conn *cn = S.heap[0];
            on_deadline(cn);
            if (cn->dead || (cn->closing && cn->out_len == 0))
                conn_close(cn);
        }
        arm_timer();
    }
    if (S.record)
        fclose(S.record);
    summary();
    return 0;
}
