/* SPDX-License-Identifier: MIT */
/*
 * test_sse.c: the SSE parser against hand-written streams whose events are written out by hand
 * (per the WHATWG rules): every line-end style, comments, multi-line data, event types, the space
 * after the colon, a BOM, an OpenAI-style stream ending in [DONE]. Each stream is fed whole, byte
 * by byte, and cut at every single position and every pair of positions: the events must be the
 * same every time. Oversize events are dropped and counted, and unfinished events are reported.
 */
#include <stdint.h>
#include <string.h>

#include "bench/serve/sse.h"
#include "owb_common.h"
#include "owb_test.h"

struct rec {
    char out[4096]; /* "type|data;" per event, data bytes as they came */
    size_t len;
    int stop_after; /* return non-zero after this many events (0: never) */
    int n;
};

static int on_event(void *ctx, const struct owb_sse_event *ev)
{
    struct rec *r = ctx;
    size_t tl = strlen(ev->type);
    if (r->len + tl + ev->data_len + 3 < sizeof r->out) {
        memcpy(r->out + r->len, ev->type, tl);
        r->len += tl;
        r->out[r->len++] = '|';
        memcpy(r->out + r->len, ev->data, ev->data_len);
        r->len += ev->data_len;
        r->out[r->len++] = ';';
        r->out[r->len] = '\0';
    }
    CHECK(ev->data[ev->data_len] == '\0');
    r->n++;
    return r->stop_after && r->n >= r->stop_after ? 7 : 0;
}

/* Feed s cut at the given positions (sorted, within [0, n]); returns the events. */
static void feed(const char *s, size_t n, const size_t *cuts, int ncuts, size_t cap, struct rec *r,
                 int *pending)
{
    static char buf[1024];
    struct owb_sse p;
    size_t at = 0;
    memset(r, 0, sizeof *r);
    owb_sse_init(&p, buf, cap, on_event, r);
    for (int i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : n;
        CHECK(owb_sse_push(&p, s + at, end - at) == 0);
        at = end;
    }
    *pending = owb_sse_finish(&p);
}

struct tcase {
    const char *name;
    const char *in;
    const char *want; /* events as "type|data;" */
    int pending;      /* an unfinished event at the end */
};

static const struct tcase cases[] = {
    {"lf", "data: a\n\ndata: b\n\n", "message|a;message|b;", 0},
    {"crlf", "data: a\r\n\r\ndata: b\r\n\r\n", "message|a;message|b;", 0},
    {"cr", "data: a\r\rdata: b\r\r", "message|a;message|b;", 0},
    {"mixed", "data: a\r\n\ndata: b\r\r\ndata: c\n\r", "message|a;message|b;message|c;", 0},
    {"comments", ": keep-alive\n\n:x\ndata: a\n: mid\n\n", "message|a;", 0},
    {"multiline", "data: one\ndata: two\ndata\ndata:three\n\n", "message|one\ntwo\n\nthree;", 0},
    {"nospace", "data:x\n\ndata:  y\n\n", "message|x;message| y;", 0},
    {"event", "event: error\ndata: {\"e\":1}\n\nevent:ping\nevent: final\ndata: z\n\n",
     "error|{\"e\":1};final|z;", 0},
    {"empty data dispatches", "data:\n\ndata\n\n", "message|;message|;", 0},
    {"no data no event", "event: x\n\nid: 3\nretry: 10\n\n", "", 0},
    {"unknown fields", "foo: bar\ndatax: no\ndata: yes\nverylongfieldname: q\n\n", "message|yes;",
     0},
    {"bom",
     "\xEF\xBB\xBF"
     "data: a\n\n",
     "message|a;", 0},
    {"bom only once",
     "\xEF\xBB\xBF\xEF\xBB\xBF"
     "data: a\n\n",
     "", 0},
    {"not a bom",
     "\xEF\xBB"
     "data: a\n\ndata: b\n\n",
     "message|b;", 0},
    {"openai", "data: {\"choices\":[{\"text\":\"hi\"}]}\n\ndata: [DONE]\n\n",
     "message|{\"choices\":[{\"text\":\"hi\"}]};message|[DONE];", 0},
    {"truncated event", "data: a\n\ndata: b\n", "message|a;", 1},
    {"truncated line", "data: a\n\ndat", "message|a;", 1},
    {"clean end", "data: a\n\n", "message|a;", 0},
    {"colon in value", "data: a:b: c\n\n", "message|a:b: c;", 0},
};

static void check_case(const struct tcase *c)
{
    size_t n = strlen(c->in);
    struct rec r;
    int pending;
    size_t cuts[2];

    feed(c->in, n, NULL, 0, 1024, &r, &pending);
    CHECK_MSG(!strcmp(r.out, c->want), "%s: whole: got '%s' want '%s'", c->name, r.out, c->want);
    CHECK_MSG(pending == c->pending, "%s: pending %d", c->name, pending);

    for (size_t i = 0; i <= n; i++) {
        cuts[0] = i;
        feed(c->in, n, cuts, 1, 1024, &r, &pending);
        CHECK_MSG(!strcmp(r.out, c->want), "%s: cut at %zu: got '%s'", c->name, i, r.out);
        CHECK_MSG(pending == c->pending, "%s: cut at %zu: pending %d", c->name, i, pending);
        for (size_t j = i; j <= n; j++) {
            cuts[1] = j;
            feed(c->in, n, cuts, 2, 1024, &r, &pending);
            CHECK_MSG(!strcmp(r.out, c->want), "%s: cuts %zu,%zu: got '%s'", c->name, i, j, r.out);
        }
    }
    /* byte by byte */
    {
        size_t bc[256];
        OWB_ASSERT(n <= 256);
        for (size_t i = 0; i < n; i++)
            bc[i] = i;
        feed(c->in, n, bc, (int)n, 1024, &r, &pending);
        CHECK_MSG(!strcmp(r.out, c->want), "%s: bytewise: got '%s'", c->name, r.out);
    }
}

int main(void)
{
    for (size_t i = 0; i < OWB_ARRAY_LEN(cases); i++)
        check_case(&cases[i]);

    /* Oversize: with an 8-byte buffer, 7 data bytes fit, 8 do not; the big event is dropped and
     * counted, the parser carries on. */
    {
        static char buf[8];
        struct rec r;
        struct owb_sse p;
        const char *s = "data: 1234567\n\ndata: 12345678\n\ndata: 1234\ndata: 567\n\ndata: ok\n\n";
        memset(&r, 0, sizeof r);
        owb_sse_init(&p, buf, sizeof buf, on_event, &r);
        CHECK(owb_sse_push(&p, s, strlen(s)) == 0);
        CHECK_MSG(!strcmp(r.out, "message|1234567;message|ok;"), "oversize: got '%s'", r.out);
        CHECK(p.n_oversize == 2);
        CHECK(p.n_events == 2);
        CHECK(p.n_bytes == strlen(s));
    }
    /* A callback's non-zero return stops the push and is returned. */
    {
        static char buf[64];
        struct rec r;
        struct owb_sse p;
        const char *s = "data: a\n\ndata: b\n\ndata: c\n\n";
        memset(&r, 0, sizeof r);
        r.stop_after = 2;
        owb_sse_init(&p, buf, sizeof buf, on_event, &r);
        CHECK(owb_sse_push(&p, s, strlen(s)) == 7);
        CHECK(r.n == 2);
        /* reset starts a clean stream */
        owb_sse_reset(&p);
        r.stop_after = 0;
        CHECK(owb_sse_push(&p, "data: d\n\n", 9) == 0);
        CHECK(r.n == 3);
        CHECK(p.n_events == 1);
        CHECK(p.n_comments == 0);
    }
    /* Comments are counted. */
    {
        static char buf[64];
        struct rec r;
        struct owb_sse p;
        memset(&r, 0, sizeof r);
        owb_sse_init(&p, buf, sizeof buf, on_event, &r);
        CHECK(owb_sse_push(&p, ":a\n:b\r\n: c\r", 11) == 0);
        CHECK(p.n_comments == 3);
        CHECK(owb_sse_finish(&p) == 0);
    }
    TEST_DONE();
}
