/* SPDX-License-Identifier: MIT */
/*
 * prom.c: the Prometheus text parser and the /metrics scraper (prom.h). The parser walks the
 * input once, line by line, with every read bounded by the line's end; the scraper keeps one
 * value array per series, NaN where a scrape did not have it.
 */
#define _POSIX_C_SOURCE 200809L
#include "bench/serve/prom.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "owb_config.h"

static bool name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static bool name_char(char c)
{
    return name_start(c) || (c >= '0' && c <= '9');
}

/* Parse a float token [p, e) strictly: the whole token, or NaN/+Inf/-Inf. */
static bool parse_value(const char *p, const char *e, double *out)
{
    char tmp[64];
    size_t n = (size_t)(e - p);
    if (n == 0 || n >= sizeof tmp)
        return false;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    if (!strcmp(tmp, "NaN")) {
        *out = NAN;
        return true;
    }
    if (!strcmp(tmp, "+Inf") || !strcmp(tmp, "Inf")) {
        *out = INFINITY;
        return true;
    }
    if (!strcmp(tmp, "-Inf")) {
        *out = -INFINITY;
        return true;
    }
    for (size_t i = 0; i < n; i++) /* strtod would take "inf", "0x1p3", "nan(...)" */
        if (!((tmp[i] >= '0' && tmp[i] <= '9') || tmp[i] == '.' || tmp[i] == 'e' || tmp[i] == 'E' ||
              tmp[i] == '+' || tmp[i] == '-'))
            return false;
    char *end;
    *out = strtod(tmp, &end);
    return *end == '\0';
}

/* One sample line [p, e) (no line end). Returns 1 and fills s, 0 for a malformed line. */
static int parse_line(const char *p, const char *e, struct owb_prom_sample *s)
{
    const char *q = p;
    if (q == e || !name_start(*q))
        return 0;
    while (q < e && name_char(*q))
        q++;
    s->name = p;
    s->name_len = (size_t)(q - p);
    s->labels = q;
    s->labels_len = 0;
    if (q < e && *q == '{') {
        const char *lb = ++q;
        for (;;) { /* label="value" pairs, optional trailing comma */
            while (q < e && (*q == ' ' || *q == '\t'))
                q++;
            if (q < e && *q == '}')
                break;
            if (q == e || !name_start(*q))
                return 0;
            while (q < e && name_char(*q))
                q++;
            if (q == e || *q != '=')
                return 0;
            q++;
            if (q == e || *q != '"')
                return 0;
            q++;
            while (q < e && *q != '"') {
                if (*q == '\\') {
                    if (q + 1 == e || (q[1] != '\\' && q[1] != '"' && q[1] != 'n'))
                        return 0;
                    q++;
                }
                q++;
            }
            if (q == e)
                return 0;
            q++; /* closing quote */
            while (q < e && (*q == ' ' || *q == '\t'))
                q++;
            if (q < e && *q == ',') {
                q++;
                continue;
            }
            if (q < e && *q == '}')
                break;
            return 0;
        }
        s->labels = lb;
        s->labels_len = (size_t)(q - lb);
        q++; /* '}' */
    }
    if (q == e || (*q != ' ' && *q != '\t'))
        return 0;
    while (q < e && (*q == ' ' || *q == '\t'))
        q++;
    const char *v = q;
    while (q < e && *q != ' ' && *q != '\t')
        q++;
    if (!parse_value(v, q, &s->value))
        return 0;
    while (q < e && (*q == ' ' || *q == '\t'))
        q++;
    s->has_ts = false;
    if (q < e) {
        const char *t = q;
        bool neg = *q == '-';
        if (neg)
            q++;
        if (q == e)
            return 0;
        int64_t ts = 0;
        while (q < e && *q >= '0' && *q <= '9') {
            if (ts > (INT64_MAX - 9) / 10)
                return 0;
            ts = ts * 10 + (*q - '0');
            q++;
        }
        while (q < e && (*q == ' ' || *q == '\t'))
            q++;
        if (q != e || q == t + neg)
            return 0;
        s->has_ts = true;
        s->ts_ms = neg ? -ts : ts;
    }
    return 1;
}

long owb_prom_parse(const char *text, size_t len, owb_prom_fn fn, void *ctx, size_t *n_bad)
{
    const char *p = text, *end = text + len;
    long n = 0;
    size_t bad = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        const char *le = e > p && e[-1] == '\r' ? e - 1 : e;
        const char *s = p;
        while (s < le && (*s == ' ' || *s == '\t'))
            s++;
        if (s < le && *s != '#') {
            struct owb_prom_sample smp;
            if (parse_line(s, le, &smp)) {
                int rc = fn ? fn(ctx, &smp) : 0;
                if (rc) {
                    if (n_bad)
                        *n_bad = bad;
                    return rc < 0 ? rc : -rc;
                }
                n++;
            } else {
                bad++;
            }
        }
        p = nl ? nl + 1 : end;
    }
    if (n_bad)
        *n_bad = bad;
    return n;
}

/* ---- scraper ---- */

#if OWB_HAVE_CURL
#include <curl/curl.h>
#endif

struct series {
    char *key;
    double *v; /* (cap) per scrape */
};

struct owb_prom_scrape {
    char url[1024];
    int interval_ms;
    pthread_t th;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    uint64_t *t; /* (cap) scrape times, owb_now_ns */
    size_t n, cap;
    struct series *ser;
    size_t nser, capser;
    long failures, bad_lines;
    char last_err[256];
};

struct grow_ctx {
    struct owb_prom_scrape *s;
    int oom;
};

static size_t find_series(struct owb_prom_scrape *s, const char *key, size_t kl)
{
    for (size_t i = 0; i < s->nser; i++)
        if (!strncmp(s->ser[i].key, key, kl) && s->ser[i].key[kl] == '\0')
            return i;
    return (size_t)-1;
}

/* Store one sample into the current (last) scrape; called with mu held. */
static int keep_sample(void *ctx, const struct owb_prom_sample *smp)
{
    struct grow_ctx *g = ctx;
    struct owb_prom_scrape *s = g->s;
    if (smp->name_len > 7 && !memcmp(smp->name + smp->name_len - 7, "_bucket", 7))
        return 0;
    char key[512];
    int kl = smp->labels_len ? snprintf(key, sizeof key, "%.*s{%.*s}", (int)smp->name_len,
                                        smp->name, (int)smp->labels_len, smp->labels)
                             : snprintf(key, sizeof key, "%.*s", (int)smp->name_len, smp->name);
    if (kl < 0 || (size_t)kl >= sizeof key)
        return 0;
    size_t i = find_series(s, key, (size_t)kl);
    if (i == (size_t)-1) {
        if (s->nser == s->capser) {
            size_t nc = s->capser ? 2 * s->capser : 64;
            struct series *ns = realloc(s->ser, nc * sizeof *ns);
            if (!ns) {
                g->oom = 1;
                return 0;
            }
            s->ser = ns;
            s->capser = nc;
        }
        struct series *se = &s->ser[s->nser];
        se->key = malloc((size_t)kl + 1);
        se->v = malloc(s->cap * sizeof *se->v);
        if (!se->key || !se->v) {
            free(se->key);
            free(se->v);
            g->oom = 1;
            return 0;
        }
        memcpy(se->key, key, (size_t)kl + 1);
        for (size_t k = 0; k < s->cap; k++)
            se->v[k] = NAN;
        i = s->nser++;
    }
    s->ser[i].v[s->n - 1] = smp->value;
    return 0;
}

#if OWB_HAVE_CURL
struct body {
    char *p;
    size_t n, cap;
};

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    struct body *b = ud;
    size_t n = sz * nm;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 16384;
        while (nc < b->n + n + 1)
            nc *= 2;
        if (nc > (64u << 20))
            return 0;
        char *np = realloc(b->p, nc);
        if (!np)
            return 0;
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

/* One scrape: GET, then parse under the lock into a new column. Returns samples or -1. */
static long scrape_once(struct owb_prom_scrape *s, CURL *h)
{
    struct body b = {0};
    long status = 0, n = -1;
    uint64_t t = owb_now_ns();
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    pthread_mutex_lock(&s->mu);
    if (cc != CURLE_OK || status != 200) {
        s->failures++;
        snprintf(s->last_err, sizeof s->last_err, "%s",
                 cc != CURLE_OK ? curl_easy_strerror(cc) : "HTTP status not 200");
        if (cc == CURLE_OK)
            snprintf(s->last_err, sizeof s->last_err, "HTTP %ld", status);
        goto out;
    }
    if (s->n == s->cap) {
        size_t nc = s->cap ? 2 * s->cap : 256;
        uint64_t *nt = realloc(s->t, nc * sizeof *nt);
        if (!nt)
            goto out;
        s->t = nt;
        for (size_t i = 0; i < s->nser; i++) {
            double *nv = realloc(s->ser[i].v, nc * sizeof *nv);
            if (!nv)
                goto out;
            for (size_t k = s->cap; k < nc; k++)
                nv[k] = NAN;
            s->ser[i].v = nv;
        }
        s->cap = nc;
    }
    s->t[s->n++] = t;
    struct grow_ctx g = {s, 0};
    size_t bad = 0;
    n = owb_prom_parse(b.p ? b.p : "", b.n, keep_sample, &g, &bad);
    s->bad_lines += (long)bad;
    if (n == 0) {
        s->n--; /* an empty page is not a scrape */
        s->failures++;
        snprintf(s->last_err, sizeof s->last_err, "no samples in the answer");
        n = -1;
    }
out:
    pthread_mutex_unlock(&s->mu);
    free(b.p);
    return n;
}

static CURL *scrape_handle(const char *url)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    return h;
}

static void *scrape_main(void *arg)
{
    struct owb_prom_scrape *s = arg;
    CURL *h = scrape_handle(s->url);
    const uint64_t iv = (uint64_t)s->interval_ms * 1000000ull;
    uint64_t next = owb_now_ns() + iv;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        uint64_t now = owb_now_ns();
        if (next > now) {
            /* The condition variable's clock is CLOCK_REALTIME: wait a relative amount. */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t d = next - now;
            ts.tv_sec += (time_t)(d / 1000000000ull);
            ts.tv_nsec += (long)(d % 1000000000ull);
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
            continue; /* woken or timed out: recheck stop and the time */
        }
        pthread_mutex_unlock(&s->mu);
        if (h)
            scrape_once(s, h);
        pthread_mutex_lock(&s->mu);
        next += iv;
        if (next < owb_now_ns())
            next = owb_now_ns() + iv; /* fell behind (a slow scrape): do not burst */
    }
    pthread_mutex_unlock(&s->mu);
    if (h) {
        scrape_once(s, h); /* the state at the end of the run */
        curl_easy_cleanup(h);
    }
    return NULL;
}
#endif

int owb_prom_scrape_start(const char *url, int interval_ms, struct owb_prom_scrape **out,
                          char err[OWB_ERR_MAX])
{
    *out = NULL;
#if OWB_HAVE_CURL
    struct owb_prom_scrape *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, OWB_ERR_MAX, "out of memory");
        return OWB_E_NOMEM;
    }
    snprintf(s->url, sizeof s->url, "%s", url);
    s->interval_ms = interval_ms > 0 ? interval_ms : 1000;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    CURL *h = scrape_handle(url);
    long n = h ? scrape_once(s, h) : -1;
    if (h)
        curl_easy_cleanup(h);
    if (n <= 0) {
        snprintf(err, OWB_ERR_MAX, "%.300s: no Prometheus metrics (%.150s)", url, s->last_err);
        owb_prom_scrape_free(s);
        return OWB_E_IO;
    }
    if (pthread_create(&s->th, NULL, scrape_main, s)) {
        snprintf(err, OWB_ERR_MAX, "%.400s: cannot start the scraper thread", url);
        owb_prom_scrape_free(s);
        return OWB_E_SYSTEM;
    }
    s->running = true;
    *out = s;
    return OWB_OK;
#else
    (void)interval_ms;
    snprintf(err, OWB_ERR_MAX, "%.400s: scraping needs libcurl (built without it)", url);
    return OWB_E_UNSUPPORTED;
#endif
}

void owb_prom_scrape_stop(struct owb_prom_scrape *s)
{
    if (!s || !s->running)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    s->running = false;
}

void owb_prom_scrape_free(struct owb_prom_scrape *s)
{
    if (!s)
        return;
    owb_prom_scrape_stop(s);
    for (size_t i = 0; i < s->nser; i++) {
        free(s->ser[i].key);
        free(s->ser[i].v);
    }
    free(s->ser);
    free(s->t);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

cJSON *owb_prom_scrape_json(struct owb_prom_scrape *s, uint64_t t0_ns, uint64_t t1_ns)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    pthread_mutex_lock(&s->mu);
    size_t a = 0, b;
    while (a < s->n && s->t[a] < t0_ns)
        a++;
    b = a;
    while (b < s->n && s->t[b] <= t1_ns)
        b++;
    cJSON_AddStringToObject(o, "url", s->url);
    cJSON_AddNumberToObject(o, "interval_ms", s->interval_ms);
    cJSON_AddNumberToObject(o, "scrapes", (double)(b - a));
    cJSON_AddNumberToObject(o, "failures", (double)s->failures);
    cJSON_AddNumberToObject(o, "bad_lines", (double)s->bad_lines);
    cJSON *t = cJSON_AddArrayToObject(o, "t_s"), *ser = cJSON_AddObjectToObject(o, "series");
    for (size_t k = a; k < b; k++)
        cJSON_AddItemToArray(t, cJSON_CreateNumber(1e-9 * ((double)s->t[k] - (double)t0_ns)));
    for (size_t i = 0; i < s->nser; i++) {
        bool any = false;
        for (size_t k = a; k < b && !any; k++)
            any = !isnan(s->ser[i].v[k]);
        if (!any)
            continue;
        cJSON *arr = cJSON_AddArrayToObject(ser, s->ser[i].key);
        for (size_t k = a; k < b; k++)
            cJSON_AddItemToArray(arr, isfinite(s->ser[i].v[k]) ? cJSON_CreateNumber(s->ser[i].v[k])
                                                               : cJSON_CreateNull());
    }
    pthread_mutex_unlock(&s->mu);
    return o;
}
