/* SPDX-License-Identifier: MIT */
/*
 * producer_http.c: scores through a server's log-probs (producer_http.h). Every request is a job
 * on one libcurl multi handle (at most `concurrency` running, retried with backoff on 429, 5xx
 * and transport errors); score() queues the jobs of its window unless prefetch did, and drives
 * the multi handle until they are answered. An answer is kept in its compact JSON form, appended
 * to the checkpoint when there is one, and parsed from that form in both the fresh and the resumed
 * path, so a resumed run sees exactly the same numbers.
 *
 * libcurl is used here directly (easy + multi, no event loop of our own): the load generator's
 * HTTP client in bench/serve is an epoll/timerfd machine tuned for timing, which scoring does not
 * need, and evals/ does not depend on bench/serve (docs/evals.md).
 */
#define _POSIX_C_SOURCE 200809L
#include "evals/producer_http.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "owb_config.h"

#if OWB_HAVE_CURL

#include <curl/curl.h>
#include <time.h>
#include <unistd.h>

#include "datasets/sha256.h"
#include "model/gguf.h"
#include "model/tokenizer.h"

enum { M_ECHO = 1, M_NATIVE = 2 };
enum { J_QUEUED, J_RUNNING, J_DONE, J_FAILED };

#define PROBE_TEXT                                                                                 \
    "Once upon a time, there was a little girl named Lily. She liked to play outside."
#define PROBE_K 5
#define NATIVE_K 100
#define NORM_TOL 1e-4
#define REPEAT_TOL 1e-6

struct buf {
    char *p;
    size_t n, cap;
};

struct job {
    unsigned char key[32];
    char *body;
    const char *endpoint;
    CURL *easy;
    struct buf resp;
    long status;
    int attempts;
    uint64_t retry_at_ns;
    int state;
    bool from_ck;
    char *answer; /* compact JSON */
    char err[300];
};

struct ck_slot {
    unsigned char key[32];
    long off; /* offset of the answer in the checkpoint file; -1 empty */
};

struct piece {
    char *s;
    int32_t id;
};

struct http {
    struct owb_gguf *g;
    struct owb_tokenizer *tok;
    char url[1024], root[1024], ep_compl[1100], ep_native[1100], ep_tok[1100], model[256];
    char auth[700];
    CURLM *multi;
    struct curl_slist *hdrs;
    struct job **jobs;
    int njobs, capjobs, running;
    int conc, retries, top_k_max, method;
    bool ids_field; /* the server takes return_tokens_as_token_ids */
    int max_tokens; /* 0 (prompt log-probs only, vLLM) or 1 when the server wants a generation */
    FILE *ck_w, *ck_r;
    char ck_path[1024];
    struct ck_slot *ck;
    size_t ck_cap, ck_n;
    struct piece *pieces;
    int32_t n_pieces, n_vocab;
    long n_requests, n_retries, n_from_ck, n_imputed, n_query, n_unmapped;
    int top_k_seen;
    cJSON *probe;
};

/* ---- small pieces ---- */

static int buf_put(struct buf *b, const void *p, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->n + n + 1)
            nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np)
            return -1;
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

static int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int buf_printf(struct buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return -1;
    return buf_put(b, tmp, (size_t)n);
}

static size_t on_write(char *p, size_t sz, size_t nm, void *ud)
{
    return buf_put(ud, p, sz * nm) ? 0 : sz * nm;
}

static int cmp_piece(const void *a, const void *b)
{
    const struct piece *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

/* Token id of a server's token string: "token_id:N" or a piece of the local vocabulary. */
static int32_t token_id_of(struct http *h, const char *s)
{
    if (!strncmp(s, "token_id:", 9)) {
        char *e;
        long v = strtol(s + 9, &e, 10);
        return (*e || v < 0 || v >= h->n_vocab) ? -1 : (int32_t)v;
    }
    struct piece k = {(char *)s, -1};
    size_t lo = 0, hi = (size_t)h->n_pieces;
    while (lo < hi) { /* first entry >= (s, -1): the lowest id with this piece */
        size_t mid = (lo + hi) / 2;
        if (cmp_piece(&h->pieces[mid], &k) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < (size_t)h->n_pieces && !strcmp(h->pieces[lo].s, s) ? h->pieces[lo].id : -1;
}

static void piece_of(struct http *h, int32_t id, char *buf, size_t cap)
{
    int n = owb_tokenizer_piece(h->tok, id, true, buf, cap - 1);
    if (n < 0)
        n = 0;
    if ((size_t)n > cap - 1)
        n = (int)cap - 1;
    buf[n] = '\0';
}

/* ---- checkpoint: "<64 hex key> <compact answer>\n" lines after one header line ---- */

static size_t ck_slot_of(const struct http *h, const unsigned char key[32])
{
    uint64_t x;
    memcpy(&x, key, sizeof x);
    size_t i = (size_t)x & (h->ck_cap - 1);
    while (h->ck[i].off >= 0 && memcmp(h->ck[i].key, key, 32))
        i = (i + 1) & (h->ck_cap - 1);
    return i;
}

static int ck_insert(struct http *h, const unsigned char key[32], long off)
{
    if (2 * (h->ck_n + 1) > h->ck_cap) {
        size_t oc = h->ck_cap, nc = oc ? 2 * oc : 1024;
        struct ck_slot *old = h->ck, *n = malloc(nc * sizeof *n);
        if (!n)
            return -1;
        for (size_t i = 0; i < nc; i++)
            n[i].off = -1;
        h->ck = n;
        h->ck_cap = nc;
        h->ck_n = 0;
        for (size_t i = 0; i < oc; i++)
            if (old[i].off >= 0)
                ck_insert(h, old[i].key, old[i].off);
        free(old);
    }
    size_t i = ck_slot_of(h, key);
    if (h->ck[i].off < 0)
        h->ck_n++;
    memcpy(h->ck[i].key, key, 32);
    h->ck[i].off = off;
    return 0;
}

static char *ck_get(struct http *h, const unsigned char key[32])
{
    if (!h->ck_cap)
        return NULL;
    size_t i = ck_slot_of(h, key);
    if (h->ck[i].off < 0 || fseek(h->ck_r, h->ck[i].off, SEEK_SET))
        return NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, h->ck_r);
    if (n <= 0) {
        free(line);
        return NULL;
    }
    if (line[n - 1] == '\n')
        line[n - 1] = '\0';
    return line;
}

static int ck_open(struct http *h, const char *path, char err[OWB_ERR_MAX])
{
    char head[1400], *line = NULL;
    size_t cap = 0;
    long good = 0;
    snprintf(head, sizeof head,
             "{\"owbench_checkpoint\":1,\"url\":\"%.600s\",\"model\":\"%.200s\"}", h->url,
             h->model);
    snprintf(h->ck_path, sizeof h->ck_path, "%s", path);
    FILE *f = fopen(path, "a+");
    if (!f) {
        snprintf(err, OWB_ERR_MAX, "%.400s: cannot open the checkpoint", path);
        return OWB_E_IO;
    }
    rewind(f);
    ssize_t n = getline(&line, &cap, f);
    if (n <= 0) {
        if (fprintf(f, "%s\n", head) < 0 || fflush(f)) {
            snprintf(err, OWB_ERR_MAX, "%.400s: cannot write the checkpoint", path);
            goto fail;
        }
    } else {
        if (line[n - 1] == '\n')
            line[n - 1] = '\0';
        if (strcmp(line, head)) {
            snprintf(err, OWB_ERR_MAX,
                     "%.300s: checkpoint of another server or model (%.120s); remove it or pass "
                     "another --checkpoint",
                     path, line);
            free(line);
            fclose(f);
            return OWB_E_USAGE;
        }
        good = ftell(f);
        /* Answers; a last line cut by a kill (no newline) is dropped and overwritten. */
        for (;;) {
            long off = ftell(f);
            n = getline(&line, &cap, f);
            if (n <= 0 || line[n - 1] != '\n' || n < 66 || line[64] != ' ')
                break;
            unsigned char key[32];
            line[64] = '\0';
            if (owb_sha256_from_hex(line, key))
                break;
            if (ck_insert(h, key, off + 65)) {
                snprintf(err, OWB_ERR_MAX, "%.400s: out of memory", path);
                goto fail;
            }
            good = ftell(f);
        }
        if (truncate(path, good)) {
            snprintf(err, OWB_ERR_MAX, "%.400s: cannot truncate the checkpoint's cut line", path);
            goto fail;
        }
    }
    free(line);
    fclose(f);
    if (!(h->ck_w = fopen(path, "a")) || !(h->ck_r = fopen(path, "r"))) {
        snprintf(err, OWB_ERR_MAX, "%.400s: cannot reopen the checkpoint", path);
        return OWB_E_IO;
    }
    return OWB_OK;
fail:
    free(line);
    fclose(f);
    return OWB_E_IO;
}

static int ck_append(struct http *h, const struct job *j)
{
    char hex[65];
    owb_sha256_to_hex(j->key, hex);
    long off = ftell(h->ck_w);
    if (off < 0 || fprintf(h->ck_w, "%s %s\n", hex, j->answer) < 0 || fflush(h->ck_w))
        return -1;
    return ck_insert(h, j->key, off + 65);
}

/* ---- jobs ---- */

static void job_free(struct job *j)
{
    if (!j)
        return;
    free(j->body);
    free(j->resp.p);
    free(j->answer);
    free(j);
}

static struct job *job_find(struct http *h, const unsigned char key[32])
{
    for (int i = 0; i < h->njobs; i++)
        if (!memcmp(h->jobs[i]->key, key, 32))
            return h->jobs[i];
    return NULL;
}

static void job_remove(struct http *h, struct job *j)
{
    for (int i = 0; i < h->njobs; i++)
        if (h->jobs[i] == j) {
            h->jobs[i] = h->jobs[--h->njobs];
            break;
        }
    if (j->easy) {
        curl_multi_remove_handle(h->multi, j->easy);
        curl_easy_cleanup(j->easy);
        if (j->state == J_RUNNING)
            h->running--;
    }
    job_free(j);
}

/* Queue a request (body is taken over); use_ck: answers may come from / go to the checkpoint. */
static struct job *job_submit(struct http *h, const char *endpoint, char *body, bool use_ck)
{
    unsigned char key[32];
    struct owb_sha256 s;
    owb_sha256_init(&s);
    owb_sha256_update(&s, endpoint, strlen(endpoint) + 1);
    owb_sha256_update(&s, body, strlen(body));
    owb_sha256_final(&s, key);
    struct job *j = job_find(h, key);
    if (j) {
        free(body);
        return j;
    }
    if (h->njobs == h->capjobs) {
        int nc = h->capjobs ? 2 * h->capjobs : 64;
        struct job **nj = realloc(h->jobs, (size_t)nc * sizeof *nj);
        if (!nj) {
            free(body);
            return NULL;
        }
        h->jobs = nj;
        h->capjobs = nc;
    }
    if (!(j = calloc(1, sizeof *j))) {
        free(body);
        return NULL;
    }
    memcpy(j->key, key, 32);
    j->body = body;
    j->endpoint = endpoint;
    j->state = J_QUEUED;
    if (use_ck && h->ck_r && (j->answer = ck_get(h, key))) {
        j->state = J_DONE;
        j->from_ck = true;
        h->n_from_ck++;
    }
    j->from_ck = j->from_ck || !use_ck; /* nothing to append for probe requests */
    h->jobs[h->njobs++] = j;
    return j;
}

static int job_start(struct http *h, struct job *j)
{
    if (!j->easy && !(j->easy = curl_easy_init()))
        return -1;
    CURL *e = j->easy;
    curl_easy_reset(e);
    j->resp.n = 0;
    curl_easy_setopt(e, CURLOPT_URL, j->endpoint);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->hdrs);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &j->resp);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 600000L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
        return -1;
    j->state = J_RUNNING;
    j->attempts++;
    h->running++;
    h->n_requests++;
    return 0;
}

static void job_error_text(const struct job *j, char *out, size_t cap)
{
    const char *msg = "";
    cJSON *r = cJSON_Parse(j->resp.p ? j->resp.p : "");
    const cJSON *m = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "error"), "message");
    if (!cJSON_IsString(m))
        m = cJSON_GetObjectItem(r, "message");
    if (!cJSON_IsString(m))
        m = cJSON_GetObjectItem(r, "detail");
    if (cJSON_IsString(m))
        msg = m->valuestring;
    else if (j->resp.p)
        msg = j->resp.p;
    snprintf(out, cap, "HTTP %ld: %.200s", j->status, msg);
    cJSON_Delete(r);
}

/* One finished transfer: done, failed, or queued again with backoff. */
static void job_finished(struct http *h, struct job *j, CURLcode cc)
{
    curl_multi_remove_handle(h->multi, j->easy);
    h->running--;
    j->status = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &j->status);
    bool transient = cc != CURLE_OK || j->status == 429 || j->status >= 500;
    if (!transient && j->status == 200) {
        cJSON *r = cJSON_Parse(j->resp.p ? j->resp.p : "");
        if (!r) {
            snprintf(j->err, sizeof j->err, "answer is not JSON: %.120s",
                     j->resp.p ? j->resp.p : "");
            j->state = J_FAILED;
            return;
        }
        j->answer = cJSON_PrintUnformatted(r);
        cJSON_Delete(r);
        j->state = j->answer ? J_DONE : J_FAILED;
        if (!j->answer)
            snprintf(j->err, sizeof j->err, "out of memory");
        if (j->answer && !j->from_ck && h->ck_w && ck_append(h, j)) {
            snprintf(j->err, sizeof j->err, "%.200s: cannot append to the checkpoint", h->ck_path);
            j->state = J_FAILED;
        }
        return;
    }
    if (!transient) {
        job_error_text(j, j->err, sizeof j->err);
        j->state = J_FAILED;
        return;
    }
    if (cc != CURLE_OK)
        snprintf(j->err, sizeof j->err, "%s", curl_easy_strerror(cc));
    else
        job_error_text(j, j->err, sizeof j->err);
    if (j->attempts > h->retries) {
        j->state = J_FAILED;
        return;
    }
    /* Backoff 100 ms x 2^(attempt-1), at most 5 s. */
    uint64_t d = 100000000ull << (j->attempts - 1 < 6 ? j->attempts - 1 : 6);
    j->retry_at_ns = owb_now_ns() + (d > 5000000000ull ? 5000000000ull : d);
    j->state = J_QUEUED;
    h->n_retries++;
}

/* Run the multi handle until every job of want[] is done or failed. */
static int drive(struct http *h, struct job **want, int nwant, char err[OWB_ERR_MAX])
{
    for (;;) {
        int pending = 0;
        for (int i = 0; i < nwant; i++) {
            if (want[i]->state == J_FAILED) {
                snprintf(err, OWB_ERR_MAX, "%.300s: %.*s", want[i]->endpoint, 180, want[i]->err);
                return want[i]->status >= 400 && want[i]->status < 500 && want[i]->status != 429
                           ? OWB_E_USAGE
                           : OWB_E_IO;
            }
            pending += want[i]->state != J_DONE;
        }
        if (!pending)
            return OWB_OK;
        uint64_t now = owb_now_ns(), next = 0;
        /* Wanted jobs first, then prefetched ones, in queue order. */
        for (int pass = 0; pass < 2 && h->running < h->conc; pass++)
            for (int i = 0; i < (pass ? h->njobs : nwant) && h->running < h->conc; i++) {
                struct job *j = pass ? h->jobs[i] : want[i];
                if (j->state != J_QUEUED)
                    continue;
                if (j->retry_at_ns > now) {
                    if (!next || j->retry_at_ns < next)
                        next = j->retry_at_ns;
                    continue;
                }
                if (job_start(h, j)) {
                    snprintf(err, OWB_ERR_MAX, "%.300s: cannot start a request", j->endpoint);
                    return OWB_E_SYSTEM;
                }
            }
        int still = 0, msgs = 0;
        curl_multi_perform(h->multi, &still);
        CURLMsg *m;
        while ((m = curl_multi_info_read(h->multi, &msgs)))
            if (m->msg == CURLMSG_DONE) {
                struct job *j = NULL;
                curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
                job_finished(h, j, m->data.result);
            }
        int wait_ms = 50;
        if (next) {
            now = owb_now_ns();
            wait_ms = next > now ? (int)((next - now) / 1000000 + 1) : 0;
            if (wait_ms > 50)
                wait_ms = 50;
        }
        if (h->running)
            curl_multi_poll(h->multi, NULL, 0, wait_ms, NULL);
        else if (next && wait_ms > 0) { /* only backoffs pending: sleep until the first */
            struct timespec ts = {0, (long)wait_ms * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
}

/* ---- request bodies ---- */

static char *body_echo(struct http *h, const int32_t *ids, int64_t n, int k, bool ids_field)
{
    struct buf b = {0};
    int bad = buf_printf(&b, "{\"model\":\"%s\",\"prompt\":[", h->model);
    for (int64_t i = 0; i < n && !bad; i++)
        bad = buf_printf(&b, i ? ",%d" : "%d", ids[i]);
    bad = bad ||
          buf_printf(&b, "],\"max_tokens\":%d,\"temperature\":0,\"echo\":true,\"logprobs\":%d%s}",
                     h->max_tokens, k, ids_field ? ",\"return_tokens_as_token_ids\":true" : "");
    if (bad) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static char *body_native(const int32_t *ids, int64_t n, int k)
{
    struct buf b = {0};
    int bad = buf_put(&b, "{\"prompt\":[", 11);
    for (int64_t i = 0; i < n && !bad; i++)
        bad = buf_printf(&b, i ? ",%d" : "%d", ids[i]);
    bad = bad || buf_printf(&b,
                            "],\"n_predict\":1,\"n_probs\":%d,\"temperature\":0,"
                            "\"cache_prompt\":true}",
                            k);
    if (bad) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* Log-probs per position to ask for: what the caller wants (at least 1), capped by --server-top-k
 * for echo; for native scoring exactly --server-top-k (default NATIVE_K) or more, since the
 * target must be among them. */
static int want_k(const struct http *h, int top_k, int n_query)
{
    int k = top_k > n_query ? top_k : n_query;
    if (k < 1)
        k = 1;
    if (h->method == M_NATIVE) {
        int nk = h->top_k_max > 0 ? h->top_k_max : NATIVE_K;
        return nk > k ? nk : k;
    }
    if (h->top_k_max > 0 && k > h->top_k_max)
        k = h->top_k_max;
    return k;
}

/* Queue the jobs of a window; jobs[] gets (n - first) entries for native, 1 for echo. */
static int queue_window(struct http *h, const int32_t *tokens, int64_t n, int64_t first, int k,
                        struct job **jobs)
{
    if (h->method == M_ECHO) {
        char *b = body_echo(h, tokens, n, k, h->ids_field);
        return (b && (jobs[0] = job_submit(h, h->ep_compl, b, true))) ? 1 : -1;
    }
    for (int64_t j = first; j < n; j++) {
        char *b = body_native(tokens, j, k);
        if (!b || !(jobs[j - first] = job_submit(h, h->ep_native, b, true)))
            return -1;
    }
    return (int)(n - first);
}

/* ---- answers into scores ---- */

struct ent {
    int32_t id;
    double lp;
};

static int cmp_ent(const void *a, const void *b)
{
    const struct ent *x = a, *y = b;
    if (x->lp != y->lp)
        return x->lp < y->lp ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Row i of s from a target log-prob and the server's top entries (any order, maybe with
 * duplicates of the target). */
static int fill_row(struct http *h, struct owb_scores *s, int64_t i, int32_t target, double logp,
                    struct ent *e, int ne, int64_t pos, char err[OWB_ERR_MAX])
{
    qsort(e, (size_t)ne, sizeof *e, cmp_ent);
    int w = 0; /* drop duplicate ids (a server may list the target again) */
    for (int a = 0; a < ne; a++) {
        int dup = 0;
        for (int b = 0; b < w && !dup; b++)
            dup = e[b].id == e[a].id;
        if (!dup)
            e[w++] = e[a];
    }
    ne = w;
    if (ne > h->top_k_seen)
        h->top_k_seen = ne;
    s->target[i] = target;
    s->logp[i] = logp;
    s->lse[i] = 0.0;
    if (s->top_k > 0) {
        if (ne < s->top_k) {
            snprintf(err, OWB_ERR_MAX,
                     "%.300s: the server returned %d top log-probs at window position %lld, %d "
                     "wanted (lower --top-k or raise the server's logprobs limit)",
                     h->url, ne, (long long)pos, s->top_k);
            return OWB_E_USAGE;
        }
        double mass = 0.0;
        for (int j = 0; j < s->top_k; j++) {
            s->top_id[i * s->top_k + j] = e[j].id;
            s->top_lp[i * s->top_k + j] = e[j].lp;
            mass += exp(e[j].lp);
        }
        s->top_rest[i] = mass < 1.0 ? 1.0 - mass : 0.0;
    } else {
        s->top_rest[i] = 1.0;
    }
    if (s->n_query > 0) {
        /* Ids the server did not return share what its entries leave, each at most the
         * smallest probability it did return (they rank below it). */
        const int32_t *q = s->query_id + i * s->n_query;
        double *qlp = s->query_lp + i * s->n_query, known = 0.0, pmin = 1.0, seen = 0.0;
        int missing = 0;
        for (int a = 0; a < ne; a++) {
            seen += exp(e[a].lp);
            if (exp(e[a].lp) < pmin)
                pmin = exp(e[a].lp);
        }
        for (int j = 0; j < s->n_query; j++) {
            qlp[j] = NAN;
            if (q[j] == target)
                qlp[j] = logp;
            for (int a = 0; a < ne && isnan(qlp[j]); a++)
                if (e[a].id == q[j])
                    qlp[j] = e[a].lp;
            if (isnan(qlp[j]))
                missing++;
            else
                known += exp(qlp[j]);
        }
        double left = 1.0 - seen;
        if (left < 0)
            left = 0;
        double each = missing ? left / missing : 0.0;
        if (each > pmin)
            each = pmin;
        for (int j = 0; j < s->n_query; j++)
            if (isnan(qlp[j])) {
                qlp[j] = log(each > 1e-30 ? each : 1e-30);
                known += exp(qlp[j]);
            }
        h->n_imputed += missing;
        h->n_query += s->n_query;
        s->query_rest[i] = known < 1.0 ? 1.0 - known : 0.0;
    }
    return OWB_OK;
}

/* Entries of one top_logprobs object ({"tok": lp, ...}) into e (cap). */
static int entries_obj(struct http *h, const cJSON *o, struct ent *e, int cap)
{
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, o)
    {
        if (!cJSON_IsNumber(it) || !it->string || n == cap)
            continue;
        int32_t id = token_id_of(h, it->string);
        if (id < 0) {
            h->n_unmapped++;
            continue;
        }
        e[n].id = id;
        e[n].lp = it->valuedouble;
        n++;
    }
    return n;
}

/* llama.cpp's completion_probabilities[0]: top_logprobs [{id, logprob}] (or probs [{id, prob}]). */
static int entries_native(struct http *h, const cJSON *cp0, struct ent *e, int cap)
{
    const cJSON *arr = cJSON_GetObjectItem(cp0, "top_logprobs"), *it;
    bool probs = false;
    if (!cJSON_IsArray(arr)) {
        arr = cJSON_GetObjectItem(cp0, "probs");
        probs = true;
    }
    int n = 0;
    cJSON_ArrayForEach(it, arr)
    {
        const cJSON *id = cJSON_GetObjectItem(it, "id");
        const cJSON *v = cJSON_GetObjectItem(it, probs ? "prob" : "logprob");
        if (n == cap || !cJSON_IsNumber(v))
            continue;
        int32_t tid = -1;
        if (cJSON_IsNumber(id))
            tid = (int32_t)id->valuedouble;
        else {
            const cJSON *t = cJSON_GetObjectItem(it, "token");
            if (!cJSON_IsString(t))
                t = cJSON_GetObjectItem(it, "tok_str");
            if (cJSON_IsString(t))
                tid = token_id_of(h, t->valuestring);
        }
        if (tid < 0 || tid >= h->n_vocab) {
            h->n_unmapped++;
            continue;
        }
        e[n].id = tid;
        e[n].lp = probs ? log(v->valuedouble) : v->valuedouble;
        n++;
    }
    return n;
}

static int bad_answer(struct http *h, const char *what, int64_t pos, char err[OWB_ERR_MAX])
{
    snprintf(err, OWB_ERR_MAX, "%.300s: answer without %s (window position %lld)", h->url, what,
             (long long)pos);
    return OWB_E_FORMAT;
}

static int parse_window(struct http *h, const int32_t *tokens, int64_t n, int64_t first,
                        struct job **jobs, struct owb_scores *s, char err[OWB_ERR_MAX])
{
    int cap = 4096, rc = OWB_OK;
    struct ent *e = malloc((size_t)cap * sizeof *e);
    if (!e) {
        snprintf(err, OWB_ERR_MAX, "out of memory");
        return OWB_E_NOMEM;
    }
    if (h->method == M_ECHO) {
        cJSON *r = cJSON_Parse(jobs[0]->answer);
        const cJSON *lp = cJSON_GetObjectItem(
            cJSON_GetArrayItem(cJSON_GetObjectItem(r, "choices"), 0), "logprobs");
        const cJSON *tl = cJSON_GetObjectItem(lp, "token_logprobs");
        const cJSON *top = cJSON_GetObjectItem(lp, "top_logprobs");
        if (!cJSON_IsArray(tl) || cJSON_GetArraySize(tl) < n) {
            rc = bad_answer(h, "prompt log-probs (echo) for every token", first, err);
        } else {
            const cJSON *x = cJSON_GetArrayItem(tl, (int)first);
            const cJSON *t = cJSON_GetArrayItem(top, (int)first);
            for (int64_t j = first; j < n && !rc; j++) {
                if (!cJSON_IsNumber(x)) {
                    rc = bad_answer(h, "a numeric token log-prob", j, err);
                    break;
                }
                int ne = cJSON_IsObject(t) ? entries_obj(h, t, e, cap) : 0;
                rc = fill_row(h, s, j - first, tokens[j], x->valuedouble, e, ne, j, err);
                x = x->next;
                t = t ? t->next : NULL;
            }
        }
        cJSON_Delete(r);
    } else {
        for (int64_t j = first; j < n && !rc; j++) {
            cJSON *r = cJSON_Parse(jobs[j - first]->answer);
            const cJSON *cp0 =
                cJSON_GetArrayItem(cJSON_GetObjectItem(r, "completion_probabilities"), 0);
            int ne = cp0 ? entries_native(h, cp0, e, cap) : 0;
            double lp = NAN;
            for (int a = 0; a < ne; a++)
                if (e[a].id == tokens[j])
                    lp = e[a].lp;
            if (!cp0)
                rc = bad_answer(h, "completion_probabilities", j, err);
            else if (isnan(lp)) {
                snprintf(err, OWB_ERR_MAX,
                         "%.300s: token %d at window position %lld is not among the %d "
                         "log-probs the server returned (raise --server-top-k)",
                         h->url, tokens[j], (long long)j, ne);
                rc = OWB_E_USAGE;
            } else {
                rc = fill_row(h, s, j - first, tokens[j], lp, e, ne, j, err);
            }
            cJSON_Delete(r);
        }
    }
    free(e);
    s->n = n - first;
    return rc;
}

/* ---- producer ops ---- */

static int http_score(void *self, const int32_t *tokens, int64_t n, int64_t first,
                      struct owb_scores *out, char err[OWB_ERR_MAX])
{
    struct http *h = self;
    int k = want_k(h, out->top_k, out->n_query);
    struct job **jobs = malloc((size_t)(n - first + 1) * sizeof *jobs);
    if (!jobs) {
        snprintf(err, OWB_ERR_MAX, "out of memory");
        return OWB_E_NOMEM;
    }
    int nj = queue_window(h, tokens, n, first, k, jobs), rc;
    if (nj < 0) {
        snprintf(err, OWB_ERR_MAX, "out of memory");
        rc = OWB_E_NOMEM;
    } else if (!(rc = drive(h, jobs, nj, err))) {
        rc = parse_window(h, tokens, n, first, jobs, out, err);
    }
    for (int i = 0; i < nj; i++)
        if (jobs[i] && (jobs[i]->state == J_DONE || jobs[i]->state == J_FAILED))
            job_remove(h, jobs[i]);
    free(jobs);
    return rc;
}

static void http_prefetch(void *self, const int32_t *tokens, int64_t n, int64_t first, int top_k,
                          int n_query)
{
    struct http *h = self;
    if (h->njobs > 4 * h->conc + 256)
        return;
    struct job **jobs = malloc((size_t)(n - first + 1) * sizeof *jobs);
    if (jobs)
        queue_window(h, tokens, n, first, want_k(h, top_k, n_query), jobs);
    free(jobs);
}

static int http_lookahead(void *self)
{
    struct http *h = self;
    /* Native scoring queues a request per position: one window ahead keeps conc busy. */
    return h->method == M_ECHO ? 2 * h->conc : 1;
}

static void *http_describe(void *self)
{
    struct http *h = self;
    cJSON *o = cJSON_Duplicate(h->probe, true);
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "concurrency", h->conc);
    cJSON_AddNumberToObject(o, "retries_max", h->retries);
    cJSON_AddNumberToObject(o, "requests", (double)h->n_requests);
    cJSON_AddNumberToObject(o, "retried", (double)h->n_retries);
    cJSON_AddNumberToObject(o, "answers_from_checkpoint", (double)h->n_from_ck);
    if (h->ck_r)
        cJSON_AddStringToObject(o, "checkpoint", h->ck_path);
    cJSON_AddNumberToObject(o, "top_k_returned", h->top_k_seen);
    cJSON_AddNumberToObject(o, "unmapped_token_strings", (double)h->n_unmapped);
    if (h->n_query) {
        cJSON_AddNumberToObject(o, "query_ids", (double)h->n_query);
        cJSON_AddNumberToObject(o, "query_ids_imputed", (double)h->n_imputed);
    }
    return o;
}

static int64_t http_tokenize(void *self, const char *text, size_t len, bool add_bos, int32_t *ids,
                             int64_t cap)
{
    struct http *h = self;
    return owb_tokenizer_encode(h->tok, text, len, add_bos ? OWB_TOK_ADD_SPECIAL : 0, ids, cap);
}

static void http_free(void *self)
{
    struct http *h = self;
    if (!h)
        return;
    while (h->njobs)
        job_remove(h, h->jobs[h->njobs - 1]);
    free(h->jobs);
    if (h->multi)
        curl_multi_cleanup(h->multi);
    curl_slist_free_all(h->hdrs);
    if (h->ck_w)
        fclose(h->ck_w);
    if (h->ck_r)
        fclose(h->ck_r);
    free(h->ck);
    for (int32_t i = 0; i < h->n_pieces; i++)
        free(h->pieces[i].s);
    free(h->pieces);
    owb_tokenizer_free(h->tok);
    owb_gguf_close(h->g);
    cJSON_Delete(h->probe);
    free(h);
}

static const struct owb_producer_ops http_ops = {http_score,    http_tokenize,  http_free,
                                                 http_prefetch, http_lookahead, http_describe};

/* ---- the conformance probe ---- */

/* One request through the job machinery (not checkpointed); returns its parsed answer or NULL
 * with *status and err. */
static cJSON *request(struct http *h, const char *endpoint, char *body, long *status,
                      char err[OWB_ERR_MAX])
{
    struct job *j = job_submit(h, endpoint, body, false);
    *status = 0;
    if (!j) {
        snprintf(err, OWB_ERR_MAX, "out of memory");
        return NULL;
    }
    int rc = drive(h, &j, 1, err);
    *status = j->status;
    cJSON *r = rc ? NULL : cJSON_Parse(j->answer);
    job_remove(h, j);
    return r;
}

static cJSON *get_json(struct http *h, const char *url, long *status, char err[OWB_ERR_MAX])
{
    struct buf b = {0};
    CURL *e = curl_easy_init();
    cJSON *r = NULL;
    *status = 0;
    if (!e)
        return NULL;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->hdrs);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 30000L);
    CURLcode cc = curl_easy_perform(e);
    if (cc != CURLE_OK)
        snprintf(err, OWB_ERR_MAX, "cannot reach %.300s: %s", url, curl_easy_strerror(cc));
    else {
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
        r = cJSON_Parse(b.p ? b.p : "");
        if (!r)
            snprintf(err, OWB_ERR_MAX, "%.300s: HTTP %ld, not JSON", url, *status);
    }
    curl_easy_cleanup(e);
    free(b.p);
    return r;
}

/* Does the echo answer r have prompt log-probs for n tokens? */
static const cJSON *echo_lp(const cJSON *r, int64_t n)
{
    const cJSON *lp =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "choices"), 0), "logprobs");
    const cJSON *tl = cJSON_GetObjectItem(lp, "token_logprobs");
    return cJSON_IsArray(tl) && cJSON_GetArraySize(tl) >= n ? lp : NULL;
}

/* Compare the first n token strings of an echo answer with ids: "ids", "pieces" or mismatch. */
static int tokens_match(struct http *h, const cJSON *lp, const int32_t *ids, int64_t n,
                        bool *as_ids)
{
    const cJSON *t = cJSON_GetObjectItem(lp, "tokens");
    char pc[256];
    int mism = 0;
    *as_ids = false;
    if (!cJSON_IsArray(t) || cJSON_GetArraySize(t) < n)
        return -1;
    const cJSON *it = t->child;
    for (int64_t i = 0; i < n; i++, it = it->next) {
        if (!cJSON_IsString(it))
            return -1;
        if (!strncmp(it->valuestring, "token_id:", 9)) {
            *as_ids = true;
            mism += token_id_of(h, it->valuestring) != ids[i];
        } else {
            piece_of(h, ids[i], pc, sizeof pc);
            mism += strcmp(pc, it->valuestring) != 0;
        }
    }
    return mism;
}

static double max_diff(const cJSON *a, const cJSON *b)
{
    double m = 0;
    const cJSON *x = cJSON_GetObjectItem(a, "token_logprobs")->child,
                *y = cJSON_GetObjectItem(b, "token_logprobs")->child;
    for (; x && y; x = x->next, y = y->next)
        if (cJSON_IsNumber(x) && cJSON_IsNumber(y) && fabs(x->valuedouble - y->valuedouble) > m)
            m = fabs(x->valuedouble - y->valuedouble);
    return m;
}

static int probe_echo(struct http *h, const int32_t *ids, int64_t n, char why[300],
                      char err[OWB_ERR_MAX])
{
    long st = 0;
    cJSON *r1 = NULL, *r2 = NULL, *rt = NULL;
    int rc = 1;
    /* max_tokens 0 (prompt only) with token ids as token strings; a strict server: without the
     * extra field; one that wants a generation: max_tokens 1 (windows then stay 1 below its
     * context). */
    static const int tries[3][2] = {{0, 1}, {0, 0}, {1, 0}};
    char *b;
    for (int t = 0; t < 3 && !r1; t++) {
        h->max_tokens = tries[t][0];
        h->ids_field = tries[t][1];
        b = body_echo(h, ids, n, PROBE_K, h->ids_field);
        r1 = b ? request(h, h->ep_compl, b, &st, err) : NULL;
        if (!r1 && st != 400 && st != 422)
            break;
    }
    const cJSON *lp1 = echo_lp(r1, n);
    if (!lp1) {
        snprintf(why, 300, "/completions with echo and logprobs: %.200s",
                 r1 ? "no prompt log-probs in the answer" : err);
        goto out;
    }
    b = body_echo(h, ids, n, PROBE_K, h->ids_field);
    r2 = b ? request(h, h->ep_compl, b, &st, err) : NULL;
    const cJSON *lp2 = echo_lp(r2, n);
    if (!lp2) {
        snprintf(why, 300, "a second identical echo request failed: %.200s", err);
        goto out;
    }
    bool as_ids;
    int mism = tokens_match(h, lp1, ids, n, &as_ids);
    /* Server-side tokenization of the probe text. */
    struct buf tb = {0};
    cJSON *ps = cJSON_CreateString(PROBE_TEXT);
    char *pj = ps ? cJSON_PrintUnformatted(ps) : NULL;
    if (pj && !buf_printf(&tb, "{\"model\":\"%s\",\"prompt\":", h->model) &&
        !buf_put(&tb, pj, strlen(pj)) &&
        !buf_printf(&tb, ",\"max_tokens\":%d,\"temperature\":0,\"echo\":true,\"logprobs\":1%s}",
                    h->max_tokens, h->ids_field ? ",\"return_tokens_as_token_ids\":true" : ""))
        rt = request(h, h->ep_compl, tb.p, &st, err);
    else
        free(tb.p);
    free(pj);
    cJSON_Delete(ps);
    const cJSON *lpt = echo_lp(rt, n);
    const cJSON *pt = cJSON_GetObjectItem(cJSON_GetObjectItem(rt, "usage"), "prompt_tokens");
    bool dummy;
    int tmism = lpt ? tokens_match(h, lpt, ids, n, &dummy) : -1;
    bool text_agrees = tmism == 0 && (!cJSON_IsNumber(pt) || (int64_t)pt->valuedouble == n);
    /* Normalisation: every position's top mass at most 1, the token's log-prob consistent. */
    double max_mass = 0, max_lp = -INFINITY;
    const cJSON *tl = cJSON_GetObjectItem(lp1, "token_logprobs")->child;
    const cJSON *top = cJSON_GetObjectItem(lp1, "top_logprobs");
    top = top ? top->child : NULL;
    for (int64_t j = 0; j < n && tl; j++, tl = tl->next, top = top ? top->next : NULL) {
        double mass = 0;
        const cJSON *it;
        if (cJSON_IsNumber(tl) && tl->valuedouble > max_lp)
            max_lp = tl->valuedouble;
        cJSON_ArrayForEach(it, top)
        {
            if (cJSON_IsNumber(it) && token_id_of(h, it->string) != ids[j] && it->string)
                mass += exp(it->valuedouble);
        }
        if (j > 0 && cJSON_IsNumber(tl))
            mass += exp(tl->valuedouble);
        if (mass > max_mass)
            max_mass = mass;
    }
    double rep = max_diff(lp1, lp2);
    cJSON_AddStringToObject(h->probe, "method", "echo");
    cJSON_AddStringToObject(h->probe, "endpoint", h->ep_compl);
    cJSON_AddBoolToObject(h->probe, "token_ids_returned", as_ids);
    cJSON_AddNumberToObject(h->probe, "max_tokens", h->max_tokens);
    cJSON_AddNumberToObject(h->probe, "probe_tokens", (double)n);
    cJSON_AddNumberToObject(h->probe, "probe_token_mismatches", mism);
    cJSON_AddBoolToObject(h->probe, "tokenizer_agrees", mism == 0 && text_agrees);
    cJSON_AddStringToObject(h->probe, "tokenizer_check",
                            tmism < 0 ? "the server did not echo the probe text"
                            : text_agrees
                                ? "the server tokenizes the probe text as the local tokenizer"
                                : "the server tokenizes the probe text differently");
    cJSON_AddNumberToObject(h->probe, "max_top_mass", max_mass);
    cJSON_AddBoolToObject(h->probe, "normalised", max_mass <= 1 + NORM_TOL && max_lp <= 1e-9);
    cJSON_AddNumberToObject(h->probe, "repeat_max_abs_diff", rep);
    cJSON_AddBoolToObject(h->probe, "repeatable", rep <= REPEAT_TOL);
    if (mism != 0 || !text_agrees) {
        snprintf(err, OWB_ERR_MAX,
                 "%.300s: the server does not tokenize as the local tokenizer (%d of %lld probe "
                 "tokens differ; %s): pass the served model's GGUF as --tokenizer",
                 h->url, mism, (long long)n,
                 tmism < 0     ? "text not echoed"
                 : text_agrees ? "text agrees"
                               : "text differs");
        rc = -2;
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(r1);
    cJSON_Delete(r2);
    cJSON_Delete(rt);
    return rc;
}

static int probe_native(struct http *h, const int32_t *ids, int64_t n, char why[300],
                        char err[OWB_ERR_MAX])
{
    long st = 0;
    int rc = 1;
    cJSON *r1 = NULL, *r2 = NULL, *rt = NULL;
    char *b = body_native(ids, n - 1, PROBE_K);
    r1 = b ? request(h, h->ep_native, b, &st, err) : NULL;
    const cJSON *cp1 = cJSON_GetArrayItem(cJSON_GetObjectItem(r1, "completion_probabilities"), 0);
    struct ent e[64];
    int ne = cp1 ? entries_native(h, cp1, e, 64) : 0;
    if (ne < 1) {
        snprintf(why, 300, "/completion with n_probs: %.200s",
                 r1 ? "no completion_probabilities in the answer" : err);
        goto out;
    }
    b = body_native(ids, n - 1, PROBE_K);
    r2 = b ? request(h, h->ep_native, b, &st, err) : NULL;
    const cJSON *cp2 = cJSON_GetArrayItem(cJSON_GetObjectItem(r2, "completion_probabilities"), 0);
    struct ent e2[64];
    int ne2 = cp2 ? entries_native(h, cp2, e2, 64) : 0;
    double rep = ne2 == ne ? 0 : INFINITY, mass = 0;
    for (int i = 0; i < ne && i < ne2; i++)
        if (fabs(e[i].lp - e2[i].lp) > rep)
            rep = fabs(e[i].lp - e2[i].lp);
    for (int i = 0; i < ne; i++)
        mass += exp(e[i].lp);
    /* llama.cpp's /tokenize, when there is one. */
    struct buf tb = {0};
    int tmism = -1;
    if (!buf_printf(&tb, "{\"content\":\"%s\",\"add_special\":%s}", PROBE_TEXT,
                    owb_tokenizer_add_bos(h->tok) ? "true" : "false"))
        rt = request(h, h->ep_tok, tb.p, &st, err);
    else
        free(tb.p);
    const cJSON *tt = cJSON_GetObjectItem(rt, "tokens");
    if (cJSON_IsArray(tt)) {
        tmism = cJSON_GetArraySize(tt) != n;
        for (int64_t i = 0; i < n && !tmism; i++) {
            const cJSON *x = cJSON_GetArrayItem(tt, (int)i);
            tmism = !cJSON_IsNumber(x) || (int32_t)x->valuedouble != ids[i];
        }
    }
    cJSON_AddStringToObject(h->probe, "method", "native");
    cJSON_AddStringToObject(h->probe, "endpoint", h->ep_native);
    cJSON_AddBoolToObject(h->probe, "token_ids_returned", true);
    cJSON_AddNumberToObject(h->probe, "probe_tokens", (double)n);
    cJSON_AddBoolToObject(h->probe, "tokenizer_agrees", tmism == 0);
    cJSON_AddStringToObject(h->probe, "tokenizer_check",
                            tmism < 0    ? "no /tokenize endpoint: not checked"
                            : tmism == 0 ? "the server's /tokenize agrees with the local tokenizer"
                                         : "the server's /tokenize differs");
    cJSON_AddNumberToObject(h->probe, "max_top_mass", mass);
    cJSON_AddBoolToObject(h->probe, "normalised", mass <= 1 + NORM_TOL);
    cJSON_AddNumberToObject(h->probe, "repeat_max_abs_diff", isfinite(rep) ? rep : -1);
    cJSON_AddBoolToObject(h->probe, "repeatable", rep <= REPEAT_TOL);
    if (tmism > 0) {
        snprintf(err, OWB_ERR_MAX,
                 "%.300s: the server's /tokenize does not tokenize as the local tokenizer: pass "
                 "the served model's GGUF as --tokenizer",
                 h->url);
        rc = -2;
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(r1);
    cJSON_Delete(r2);
    cJSON_Delete(rt);
    return rc;
}

int owb_producer_http_new(const struct owb_http_opts *o, struct owb_producer **out,
                          char err[OWB_ERR_MAX])
{
    struct owb_producer_info info;
    struct http *h = calloc(1, sizeof *h);
    int32_t ids[256];
    int rc = OWB_OK;
    *out = NULL;
    memset(&info, 0, sizeof info);
    if (!h) {
        snprintf(err, OWB_ERR_MAX, "out of memory");
        return OWB_E_NOMEM;
    }
    if (!o->url || !o->tokenizer) {
        snprintf(err, OWB_ERR_MAX, "scoring through a server needs --url and --tokenizer GGUF");
        rc = OWB_E_USAGE;
        goto fail;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(h->url, sizeof h->url, "%s", o->url);
    size_t ul = strlen(h->url);
    while (ul && h->url[ul - 1] == '/')
        h->url[--ul] = '\0';
    snprintf(h->root, sizeof h->root, "%s", h->url);
    if (ul >= 3 && !strcmp(h->root + ul - 3, "/v1"))
        h->root[ul - 3] = '\0';
    snprintf(h->ep_compl, sizeof h->ep_compl, "%s/completions", h->url);
    snprintf(h->ep_native, sizeof h->ep_native, "%s/completion", h->root);
    snprintf(h->ep_tok, sizeof h->ep_tok, "%s/tokenize", h->root);
    h->conc = o->concurrency > 0 ? o->concurrency : 4;
    h->retries = o->retries >= 0 ? o->retries : 5;
    h->top_k_max = o->top_k_max;
    if (!(h->g = owb_gguf_open(o->tokenizer, err)) || !(h->tok = owb_tokenizer_new(h->g, err))) {
        rc = OWB_E_USAGE;
        goto fail;
    }
    if ((rc = owb_tokenizer_sha256(h->g, info.tokenizer_sha256, err)))
        goto fail;
    info.has_tokenizer_sha256 = true;
    h->n_vocab = owb_tokenizer_n_vocab(h->tok);
    if (!(h->pieces = calloc((size_t)h->n_vocab, sizeof *h->pieces))) {
        rc = OWB_E_NOMEM;
        snprintf(err, OWB_ERR_MAX, "out of memory");
        goto fail;
    }
    for (int32_t i = 0; i < h->n_vocab; i++) {
        char pc[256];
        piece_of(h, i, pc, sizeof pc);
        if (!(h->pieces[i].s = strdup(pc))) {
            rc = OWB_E_NOMEM;
            snprintf(err, OWB_ERR_MAX, "out of memory");
            goto fail;
        }
        h->pieces[i].id = i;
        h->n_pieces++;
    }
    qsort(h->pieces, (size_t)h->n_pieces, sizeof *h->pieces, cmp_piece);
    const char *key = o->api_key ? o->api_key : getenv("OPENAI_API_KEY");
    h->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (key && *key) {
        snprintf(h->auth, sizeof h->auth, "Authorization: Bearer %.600s", key);
        h->hdrs = curl_slist_append(h->hdrs, h->auth);
    }
    if (!h->hdrs || !(h->multi = curl_multi_init()) || !(h->probe = cJSON_CreateObject())) {
        rc = OWB_E_NOMEM;
        snprintf(err, OWB_ERR_MAX, "out of memory");
        goto fail;
    }
    /* The model name and context from URL/models (vLLM and serve-model give max_model_len). */
    char murl[1200];
    long st = 0;
    snprintf(murl, sizeof murl, "%s/models", h->url);
    cJSON *models = get_json(h, murl, &st, err);
    if (!models && !st) {
        rc = OWB_E_IO;
        goto fail;
    }
    const cJSON *m0 = cJSON_GetArrayItem(cJSON_GetObjectItem(models, "data"), 0);
    const cJSON *mid = cJSON_GetObjectItem(m0, "id"),
                *mlen = cJSON_GetObjectItem(m0, "max_model_len");
    if (o->model)
        snprintf(h->model, sizeof h->model, "%s", o->model);
    else if (cJSON_IsString(mid))
        snprintf(h->model, sizeof h->model, "%s", mid->valuestring);
    info.n_ctx = o->n_ctx ? o->n_ctx : cJSON_IsNumber(mlen) ? (int64_t)mlen->valuedouble : 2048;
    cJSON_Delete(models);
    if (strchr(h->model, '"') || strchr(h->model, '\\')) {
        snprintf(err, OWB_ERR_MAX, "--model '%.200s': quotes and backslashes are not supported",
                 h->model);
        rc = OWB_E_USAGE;
        goto fail;
    }

    /* The probe: the local tokens of a probe text, scored the ways the server may allow. */
    int64_t n =
        owb_tokenizer_encode(h->tok, PROBE_TEXT, strlen(PROBE_TEXT),
                             owb_tokenizer_add_bos(h->tok) ? OWB_TOK_ADD_SPECIAL : 0, ids, 256);
    if (n < 4 || n > 256) {
        snprintf(err, OWB_ERR_MAX, "%.300s: the tokenizer gives %lld tokens for the probe text",
                 o->tokenizer, (long long)n);
        rc = OWB_E_FORMAT;
        goto fail;
    }
    char why_echo[300] = "not tried", why_native[300] = "not tried";
    const char *want = o->method ? o->method : "auto";
    int pr = 1;
    if (strcmp(want, "native")) {
        pr = probe_echo(h, ids, n, why_echo, err);
        if (pr == 0)
            h->method = M_ECHO;
    }
    if (pr == 1 && strcmp(want, "echo")) {
        cJSON_Delete(h->probe);
        h->probe = cJSON_CreateObject();
        pr = probe_native(h, ids, n, why_native, err);
        if (pr == 0)
            h->method = M_NATIVE;
    }
    if (pr == -2) {
        rc = OWB_E_USAGE;
        goto fail;
    }
    if (!h->method) {
        snprintf(err, OWB_ERR_MAX,
                 "%.100s: cannot score text through this server: it gives no prompt log-probs "
                 "(%.100s) and no llama.cpp-style next-token log-probs (%.100s)",
                 h->url, why_echo, why_native);
        rc = OWB_E_USAGE;
        goto fail;
    }
    cJSON_AddStringToObject(h->probe, "url", h->url);
    cJSON_AddStringToObject(h->probe, "model", h->model);
    cJSON_AddStringToObject(h->probe, "tokenizer", o->tokenizer);
    cJSON_AddStringToObject(h->probe, "echo_probe", h->method == M_ECHO ? "ok" : why_echo);
    if (!o->quiet) {
        const cJSON *norm = cJSON_GetObjectItem(h->probe, "normalised");
        const cJSON *rep = cJSON_GetObjectItem(h->probe, "repeatable");
        fprintf(stderr,
                "%s: scoring by %s; tokenizer %s; log-probs %snormalised; two identical calls "
                "%s\n",
                h->url, h->method == M_ECHO ? "prompt log-probs (echo)" : "native /completion",
                cJSON_GetObjectItem(h->probe, "tokenizer_check")->valuestring,
                cJSON_IsTrue(norm) ? "" : "NOT ", cJSON_IsTrue(rep) ? "agree" : "DISAGREE");
    }
    if (o->checkpoint && (rc = ck_open(h, o->checkpoint, err)))
        goto fail;
    snprintf(info.name, sizeof info.name, "%.200s (%.40s)", h->url, h->model);
    info.n_vocab = h->n_vocab;
    info.bos = owb_tokenizer_bos(h->tok);
    info.add_bos = owb_tokenizer_add_bos(h->tok) && info.bos >= 0;
    *out = owb_producer_new(&http_ops, h, &info);
    if (!*out) {
        snprintf(err, OWB_ERR_MAX, "out of memory");
        return OWB_E_NOMEM;
    }
    return OWB_OK;
fail:
    http_free(h);
    return rc;
}

#else /* !OWB_HAVE_CURL */

int owb_producer_http_new(const struct owb_http_opts *o, struct owb_producer **out,
                          char err[OWB_ERR_MAX])
{
    (void)o;
    *out = NULL;
    snprintf(err, OWB_ERR_MAX, "scoring through a server needs libcurl (built without it)");
    return OWB_E_UNSUPPORTED;
}

#endif
