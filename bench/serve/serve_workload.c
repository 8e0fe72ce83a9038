/* SPDX-License-Identifier: MIT */
/*
 * serve_workload.c: building the request sets of serve_workload.h (random words, JSONL, ShareGPT,
 * traces) and hashing them with a small SHA-256 (FIPS 180-4) so no crypto library is needed.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bench/serve/serve_workload.h"

/* ---- SHA-256 ---- */

struct sha256 {
    uint32_t h[8];
    unsigned char buf[64];
    size_t len;
    uint64_t total;
};

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(struct sha256 *s, const unsigned char *p)
{
    uint32_t w[64], a, b, c, d, e, f, g, h;
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
    e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 =
            h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + sha_k[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d;
    s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

static void sha_init(struct sha256 *s)
{
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, h0, sizeof h0);
    s->len = 0;
    s->total = 0;
}

static void sha_update(struct sha256 *s, const void *data, size_t n)
{
    const unsigned char *p = data;
    s->total += n;
    while (n) {
        size_t k = 64 - s->len < n ? 64 - s->len : n;
        memcpy(s->buf + s->len, p, k);
        s->len += k;
        p += k;
        n -= k;
        if (s->len == 64) {
            sha_block(s, s->buf);
            s->len = 0;
        }
    }
}

static void sha_final(struct sha256 *s, char hex[65])
{
    uint64_t bits = s->total * 8;
    unsigned char pad = 0x80, len[8];
    sha_update(s, &pad, 1);
    pad = 0;
    while (s->len != 56)
        sha_update(s, &pad, 1);
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(bits >> (56 - 8 * i));
    sha_update(s, len, 8);
    for (int i = 0; i < 8; i++)
        snprintf(hex + 8 * i, 9, "%08x", s->h[i]);
}

void owb_sha256_hex(const void *data, size_t n, char hex[65])
{
    struct sha256 s;
    sha_init(&s);
    sha_update(&s, data, n);
    sha_final(&s, hex);
}

void owb_serve_workload_hash(struct owb_serve_workload *w)
{
    struct sha256 s;
    sha_init(&s);
    for (size_t i = 0; i < w->n; i++) {
        const struct owb_serve_item *it = &w->items[i];
        char num[32];
        const char *text = it->messages_json ? it->messages_json : it->prompt;
        sha_update(&s, it->messages_json ? "M" : "P", 1);
        sha_update(&s, text, strlen(text) + 1);
        snprintf(num, sizeof num, "%d", it->output_tokens);
        sha_update(&s, num, strlen(num) + 1);
    }
    sha_final(&s, w->sha256);
}

/* ---- random numbers ---- */

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double unit(uint64_t *x)
{
    return (double)(splitmix(x) >> 11) * 0x1.0p-53;
}

static int draw_len(const struct owb_len_dist *d, uint64_t *rng)
{
    double v = d->mean;
    if (d->kind == OWB_LEN_UNIFORM) {
        double lo = d->mean * (1 - d->spread), hi = d->mean * (1 + d->spread);
        v = floor(lo + unit(rng) * (hi - lo + 1));
        if (v > hi)
            v = hi;
    } else if (d->kind == OWB_LEN_NORMAL) {
        double u1 = unit(rng), u2 = unit(rng);
        v = round(d->mean +
                  d->spread * sqrt(-2 * log(u1 > 0 ? u1 : 1e-300)) * cos(6.283185307179586 * u2));
    }
    return v < 1 ? 1 : v > 1e6 ? 1000000 : (int)v;
}

int owb_len_dist_parse(const char *opt, const char *s, struct owb_len_dist *out,
                       char err[OWB_ERR_MAX])
{
    char *end;
    double m = strtod(s, &end), sp = 0;
    out->kind = OWB_LEN_FIXED;
    if (end == s || !(m >= 1 && m <= 1e6))
        goto bad;
    if (*end == ',') {
        const char *k = end + 1;
        if (!strncmp(k, "uniform:", 8)) {
            out->kind = OWB_LEN_UNIFORM;
            sp = strtod(k + 8, &end);
            if (end == k + 8 || !(sp >= 0 && sp <= 1))
                goto bad;
        } else if (!strncmp(k, "normal:", 7)) {
            out->kind = OWB_LEN_NORMAL;
            sp = strtod(k + 7, &end);
            if (end == k + 7 || !(sp >= 0))
                goto bad;
        } else {
            goto bad;
        }
    }
    if (*end)
        goto bad;
    out->mean = m;
    out->spread = sp;
    return 0;
bad:
    snprintf(err, OWB_ERR_MAX,
             "%s '%s': expected N (1..1000000), N,uniform:R (0 <= R <= 1) or N,normal:SD", opt, s);
    return OWB_E_USAGE;
}

static const char *const vocab[64] = {
    "the",    "of",     "and",    "to",    "in",     "is",     "that",  "for",   "it",    "as",
    "was",    "with",   "be",     "by",    "on",     "not",    "he",    "this",  "are",   "or",
    "his",    "from",   "at",     "which", "but",    "have",   "an",    "had",   "they",  "you",
    "were",   "their",  "one",    "all",   "we",     "can",    "her",   "has",   "there", "been",
    "if",     "more",   "when",   "will",  "would",  "who",    "so",    "no",    "time",  "river",
    "model",  "memory", "token",  "bench", "server", "stream", "north", "light", "stone", "paper",
    "garden", "signal", "window", "cloud"};

/* A prompt of n words; the first is unique per request (r<index>). */
static char *random_prompt(size_t index, int n, uint64_t *rng)
{
    size_t cap = (size_t)n * 8 + 32, at;
    char *p = malloc(cap);
    if (!p)
        return NULL;
    at = (size_t)snprintf(p, cap, "r%zu", index);
    for (int i = 1; i < n; i++) {
        const char *wd = vocab[splitmix(rng) & 63];
        size_t l = strlen(wd);
        p[at++] = ' ';
        memcpy(p + at, wd, l);
        at += l;
    }
    p[at] = '\0';
    return p;
}

void owb_serve_workload_release(struct owb_serve_workload *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->items[i].prompt);
        free(w->items[i].messages_json);
    }
    free(w->items);
    memset(w, 0, sizeof *w);
}

int owb_serve_workload_random(struct owb_serve_workload *w, size_t n, const struct owb_len_dist *in,
                              const struct owb_len_dist *out, uint64_t seed, char err[OWB_ERR_MAX])
{
    uint64_t rng = seed ^ 0x5EEDull;
    memset(w, 0, sizeof *w);
    w->items = calloc(n ? n : 1, sizeof *w->items);
    if (!w->items)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        struct owb_serve_item *it = &w->items[i];
        it->input_tokens = draw_len(in, &rng);
        it->output_tokens = draw_len(out, &rng);
        it->t_s = -1;
        it->prompt = random_prompt(i, it->input_tokens, &rng);
        w->n = i + 1;
        if (!it->prompt)
            goto nomem;
    }
    snprintf(w->kind, sizeof w->kind, "random");
    snprintf(w->source, sizeof w->source, "random");
    owb_serve_workload_hash(w);
    return 0;
nomem:
    owb_serve_workload_release(w);
    snprintf(err, OWB_ERR_MAX, "random workload of %zu requests: out of memory", n);
    return OWB_E_NOMEM;
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

static char *read_file(const char *path, size_t *len, char err[OWB_ERR_MAX])
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    if (!f) {
        snprintf(err, OWB_ERR_MAX, "%s: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        size_t r;
        if (cap - n < 65536) {
            char *b = realloc(buf, cap ? cap * 2 : 1 << 20);
            if (!b) {
                free(buf);
                fclose(f);
                snprintf(err, OWB_ERR_MAX, "%s: out of memory", path);
                return NULL;
            }
            buf = b;
            cap = cap ? cap * 2 : 1 << 20;
        }
        r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(f)) {
        snprintf(err, OWB_ERR_MAX, "%s: read error", path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int push_item(struct owb_serve_workload *w, size_t *cap, struct owb_serve_item *it)
{
    if (w->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        struct owb_serve_item *p = realloc(w->items, nc * sizeof *p);
        if (!p)
            return OWB_E_NOMEM;
        w->items = p;
        *cap = nc;
    }
    w->items[w->n++] = *it;
    return 0;
}

static int num_field(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItem(o, a);
    if (!cJSON_IsNumber(x) && b)
        x = cJSON_GetObjectItem(o, b);
    return cJSON_IsNumber(x) && x->valuedouble >= 1 && x->valuedouble <= 1e6 ? (int)x->valuedouble
                                                                             : 0;
}

/* One JSONL object into an item. Returns 0, OWB_E_FORMAT (err says why), OWB_E_NOMEM. */
static int jsonl_item(const cJSON *o, size_t idx, const struct owb_len_dist *out_default,
                      uint64_t *rng, struct owb_serve_item *it, int *has_time, const char *where,
                      char err[OWB_ERR_MAX])
{
    const cJSON *prompt = cJSON_GetObjectItem(o, "prompt");
    const cJSON *msgs = cJSON_GetObjectItem(o, "messages");
    const cJSON *ts = cJSON_GetObjectItem(o, "timestamp");
    int in_len = num_field(o, "input_len", "input_length");
    memset(it, 0, sizeof *it);
    it->t_s = -1;
    if (cJSON_IsString(prompt)) {
        it->prompt = strdup(prompt->valuestring);
        if (!it->prompt)
            return OWB_E_NOMEM;
        it->input_tokens = in_len ? in_len : count_words(prompt->valuestring);
    } else if (cJSON_IsArray(msgs) && cJSON_GetArraySize(msgs) > 0) {
        const cJSON *m;
        int words = 0;
        cJSON_ArrayForEach(m, msgs)
        {
            const cJSON *c = cJSON_GetObjectItem(m, "content");
            if (!cJSON_IsObject(m) || !cJSON_IsString(cJSON_GetObjectItem(m, "role"))) {
                snprintf(err, OWB_ERR_MAX, "%s: messages need objects with a string \"role\"",
                         where);
                return OWB_E_FORMAT;
            }
            if (cJSON_IsString(c))
                words += count_words(c->valuestring);
        }
        it->messages_json = cJSON_PrintUnformatted(msgs);
        if (!it->messages_json)
            return OWB_E_NOMEM;
        it->input_tokens = in_len ? in_len : words;
    } else if (in_len) {
        it->prompt = random_prompt(idx, in_len, rng); /* trace with lengths only */
        if (!it->prompt)
            return OWB_E_NOMEM;
        it->input_tokens = in_len;
    } else {
        snprintf(err, OWB_ERR_MAX,
                 "%s: needs \"prompt\" (string), \"messages\" (array) or \"input_length\"", where);
        return OWB_E_FORMAT;
    }
    it->output_tokens = num_field(o, "output_len", "max_tokens");
    if (!it->output_tokens)
        it->output_tokens = num_field(o, "output_length", NULL);
    if (!it->output_tokens)
        it->output_tokens = draw_len(out_default, rng);
    if (cJSON_IsNumber(ts) && ts->valuedouble >= 0) {
        it->t_s = ts->valuedouble / 1000.0; /* milliseconds, as in published traces */
        *has_time = 1;
    } else {
        *has_time = 0;
    }
    return 0;
}

int owb_serve_workload_load(struct owb_serve_workload *w, const char *path, size_t max_n,
                            const struct owb_len_dist *out_default, uint64_t seed,
                            char err[OWB_ERR_MAX])
{
    uint64_t rng = seed ^ 0xF11Eull;
    size_t len = 0, cap = 0;
    char *buf = read_file(path, &len, err), *p;
    int rc = 0, all_times = 1;
    cJSON *doc = NULL;
    memset(w, 0, sizeof *w);
    if (!buf)
        return OWB_E_IO;
    p = buf;
    while (isspace((unsigned char)*p))
        p++;
    snprintf(w->source, sizeof w->source, "%s", path);
    if (*p == '[') {
        /* ShareGPT: [{"conversations": [{"from": "human", "value": ...}, {"from": "gpt", ...}]}] */
        const cJSON *conv;
        size_t idx = 0;
        snprintf(w->kind, sizeof w->kind, "sharegpt");
        doc = cJSON_ParseWithLength(buf, len);
        if (!doc) {
            snprintf(err, OWB_ERR_MAX, "%s: not valid JSON (ShareGPT files are one JSON array)",
                     path);
            rc = OWB_E_FORMAT;
            goto out;
        }
        cJSON_ArrayForEach(conv, doc)
        {
            const cJSON *turns = cJSON_GetObjectItem(conv, "conversations"), *t;
            const char *human = NULL, *reply = NULL;
            struct owb_serve_item it;
            idx++;
            if (!turns)
                turns = cJSON_GetObjectItem(conv, "conversation");
            cJSON_ArrayForEach(t, turns)
            {
                const cJSON *from = cJSON_GetObjectItem(t, "from");
                const cJSON *val = cJSON_GetObjectItem(t, "value");
                if (!cJSON_IsString(from) || !cJSON_IsString(val))
                    continue;
                if (!human &&
                    (!strcmp(from->valuestring, "human") || !strcmp(from->valuestring, "user")))
                    human = val->valuestring;
                else if (human && !reply)
                    reply = val->valuestring;
            }
            if (!human || !*human)
                continue; /* conversations without a human turn are skipped, as vLLM does */
            memset(&it, 0, sizeof it);
            it.t_s = -1;
            it.prompt = strdup(human);
            it.input_tokens = count_words(human);
            it.output_tokens =
                reply && count_words(reply) > 0 ? count_words(reply) : draw_len(out_default, &rng);
            if (!it.prompt || push_item(w, &cap, &it)) {
                free(it.prompt);
                rc = OWB_E_NOMEM;
                goto out;
            }
            if (max_n && w->n >= max_n)
                break;
        }
        all_times = 0;
        (void)idx;
    } else {
        size_t line = 0;
        char *s = buf;
        snprintf(w->kind, sizeof w->kind, "jsonl");
        while (*s && (!max_n || w->n < max_n)) {
            char *e = strchr(s, '\n'), where[320];
            struct owb_serve_item it;
            int has_time = 0;
            cJSON *o;
            line++;
            if (e)
                *e = '\0';
            while (isspace((unsigned char)*s))
                s++;
            if (*s) {
                snprintf(where, sizeof where, "%s:%zu", path, line);
                o = cJSON_Parse(s);
                if (!cJSON_IsObject(o)) {
                    cJSON_Delete(o);
                    snprintf(err, OWB_ERR_MAX, "%s: not a JSON object", where);
                    rc = OWB_E_FORMAT;
                    goto out;
                }
                rc = jsonl_item(o, w->n, out_default, &rng, &it, &has_time, where, err);
                cJSON_Delete(o);
                if (!rc && push_item(w, &cap, &it))
                    rc = OWB_E_NOMEM;
                if (rc) {
                    free(it.prompt);
                    free(it.messages_json);
                    if (rc == OWB_E_NOMEM)
                        snprintf(err, OWB_ERR_MAX, "%s: out of memory", where);
                    goto out;
                }
                all_times &= has_time;
            }
            if (!e)
                break;
            s = e + 1;
        }
    }
    if (w->n == 0) {
        snprintf(err, OWB_ERR_MAX, "%s: no requests in the file", path);
        rc = OWB_E_FORMAT;
        goto out;
    }
    w->has_times = all_times;
    if (all_times) {
        /* A trace: times relative to the first request, in file order. */
        double t0 = w->items[0].t_s;
        snprintf(w->kind, sizeof w->kind, "trace");
        for (size_t i = 0; i < w->n; i++) {
            if (w->items[i].t_s < t0) {
                snprintf(err, OWB_ERR_MAX,
                         "%s: request %zu: timestamp goes backwards (traces must be in time "
                         "order)",
                         path, i + 1);
                rc = OWB_E_FORMAT;
                goto out;
            }
            w->items[i].t_s -= t0;
        }
    }
    owb_serve_workload_hash(w);
out:
    cJSON_Delete(doc);
    free(buf);
    if (rc)
        owb_serve_workload_release(w);
    return rc;
}
