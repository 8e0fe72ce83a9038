/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sse.c: libFuzzer target for the SSE parser (built only with clang, see tests/CMakeLists.txt:
 * fuzz_sse -max_total_time=60). Differential: the input is parsed once in one push and once cut at
 * pseudo-random places chosen from its first bytes, with a buffer size also chosen from them; both
 * runs must see the same events (hashed), the same counts and the same end state, and every event
 * must fit the buffer and be NUL-terminated; each event's data also goes through the load
 * generator's JSON tokenizer (bench/serve/serve_json.h). Any difference aborts. test_sse_corpus.c
 * runs the same function over a corpus of broken inputs in every build.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/serve/serve_json.h"
#include "bench/serve/sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
    uint64_t hash; /* FNV-1a over type, 0, data, 0 of every event */
    uint64_t n;
    size_t cap;
};

static void fz_hash(struct fz *f, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        f->hash ^= s[i];
        f->hash *= 1099511628211ull;
    }
}

static int fz_event(void *ctx, const struct owb_sse_event *ev)
{
    struct fz *f = ctx;
    size_t tl = strlen(ev->type);
    if (ev->data_len + 1 > f->cap || ev->data[ev->data_len] != '\0' || tl >= OWB_SSE_TYPE_MAX)
        abort();
    {
        /* the load generator tokenizes every event's data: it must never read out of bounds,
         * and a valid document's tokens must lie inside it */
        static struct owb_jtok jt[512];
        int n = owb_serve_json_tokenize(ev->data, ev->data_len, jt, 512);
        for (int i = 0; i < n; i++)
            if (jt[i].start < 0 || jt[i].end > (int)ev->data_len || jt[i].next > n)
                abort();
        if (n > 0) {
            (void)owb_serve_json_get(ev->data, jt, 0, "choices");
            (void)owb_serve_json_num(ev->data, jt, owb_serve_json_at(jt, 0, 0));
        }
    }
    fz_hash(f, ev->type, tl + 1);
    fz_hash(f, ev->data, ev->data_len + 1);
    f->n++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char buf_a[4096], buf_b[4096];
    struct owb_sse a, b;
    struct fz fa = {14695981039346656037ull, 0, 0}, fb = {14695981039346656037ull, 0, 0};
    uint32_t seed;
    size_t at = 0, cap;
    int pa, pb;

    if (size < 3)
        return 0;
    cap = 2 + (size_t)data[0] * 16; /* 2 .. 4082 bytes */
    seed = (uint32_t)data[1] << 8 | data[2];
    data += 3;
    size -= 3;
    fa.cap = fb.cap = cap;

    owb_sse_init(&a, buf_a, cap, fz_event, &fa);
    owb_sse_init(&b, buf_b, cap, fz_event, &fb);
    if (owb_sse_push(&a, (const char *)data, size) != 0)
        abort();
    while (at < size) {
        size_t len;
        seed = seed * 1103515245u + 12345u;
        len = (seed >> 16) % 9; /* 0..8 bytes: empty pushes too */
        if (len > size - at)
            len = size - at;
        if (owb_sse_push(&b, (const char *)data + at, len) != 0)
            abort();
        at += len;
    }
    pa = owb_sse_finish(&a);
    pb = owb_sse_finish(&b);
    if (fa.hash != fb.hash || fa.n != fb.n || pa != pb || a.n_events != b.n_events ||
        a.n_comments != b.n_comments || a.n_oversize != b.n_oversize || a.n_bytes != size ||
        b.n_bytes != size || a.n_events != fa.n)
        abort();
    return 0;
}
