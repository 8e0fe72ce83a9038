/* SPDX-License-Identifier: MIT */
/*
 * fuzz_prom.c: libFuzzer target for the Prometheus text parser (bench/serve/prom.h; built only
 * with clang, see tests/CMakeLists.txt: fuzz_prom -max_total_time=60). Round trip: every sample
 * parsed from the input must lie inside the input, have a valid name, and, written back as
 * `name{labels} value [ts]`, parse again to the same samples (hashed) with no malformed line; the
 * parse of the input must be deterministic. Any difference aborts. test_prom_corpus.c runs the
 * same function over a corpus of broken inputs in every build.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/serve/prom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
    const char *lo, *hi; /* the input's bounds */
    uint64_t hash;
    long n;
    char *out; /* re-serialised samples */
    size_t out_n, out_cap;
};

static void fz_hash(struct fz *f, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        f->hash ^= s[i];
        f->hash *= 1099511628211ull;
    }
}

static void fz_put(struct fz *f, const char *s, size_t n)
{
    if (f->out_n + n + 1 > f->out_cap) {
        size_t nc = 2 * (f->out_n + n + 1);
        char *np = realloc(f->out, nc);
        if (!np)
            abort();
        f->out = np;
        f->out_cap = nc;
    }
    memcpy(f->out + f->out_n, s, n);
    f->out_n += n;
}

static int fz_sample(void *ctx, const struct owb_prom_sample *s)
{
    struct fz *f = ctx;
    if (f->lo && (s->name < f->lo || s->name + s->name_len > f->hi || s->labels < f->lo ||
                  s->labels + s->labels_len > f->hi))
        abort();
    if (!s->name_len)
        abort();
    for (size_t i = 0; i < s->name_len; i++) {
        char c = s->name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i && c >= '0' && c <= '9')))
            abort();
    }
    fz_hash(f, s->name, s->name_len);
    fz_hash(f, "{", 1);
    fz_hash(f, s->labels, s->labels_len);
    uint64_t bits;
    double v = isnan(s->value) ? (double)NAN : s->value;
    memcpy(&bits, &v, sizeof bits);
    fz_hash(f, &bits, sizeof bits);
    if (s->has_ts)
        fz_hash(f, &s->ts_ms, sizeof s->ts_ms);
    f->n++;
    char num[64];
    int k;
    fz_put(f, s->name, s->name_len);
    if (s->labels_len) {
        fz_put(f, "{", 1);
        fz_put(f, s->labels, s->labels_len);
        fz_put(f, "}", 1);
    }
    if (isnan(s->value))
        k = snprintf(num, sizeof num, " NaN");
    else if (isinf(s->value))
        k = snprintf(num, sizeof num, " %sInf", s->value > 0 ? "+" : "-");
    else
        k = snprintf(num, sizeof num, " %.17g", s->value);
    fz_put(f, num, (size_t)k);
    if (s->has_ts) {
        k = snprintf(num, sizeof num, " %lld", (long long)s->ts_ms);
        fz_put(f, num, (size_t)k);
    }
    fz_put(f, "\n", 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *t = (const char *)data;
    struct fz a = {t, t + size, 1469598103934665603ull, 0, NULL, 0, 0};
    struct fz b = {t, t + size, 1469598103934665603ull, 0, NULL, 0, 0};
    size_t bad_a = 0, bad_b = 0, bad_c = 0;
    long na = owb_prom_parse(t, size, fz_sample, &a, &bad_a);
    long nb = owb_prom_parse(t, size, fz_sample, &b, &bad_b);
    if (na != nb || a.hash != b.hash || bad_a != bad_b || na != a.n)
        abort();
    /* Round trip of what was understood. */
    struct fz c = {NULL, NULL, 1469598103934665603ull, 0, NULL, 0, 0};
    long nc = owb_prom_parse(a.out ? a.out : "", a.out_n, fz_sample, &c, &bad_c);
    if (nc != na || c.hash != a.hash || bad_c != 0)
        abort();
    free(a.out);
    free(b.out);
    free(c.out);
    return 0;
}
