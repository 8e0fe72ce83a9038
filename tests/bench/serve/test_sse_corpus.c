/* SPDX-License-Identifier: MIT */
/*
 * test_sse_corpus.c: the SSE fuzz target (fuzz_sse.c, differential: one push vs many cuts) run over
 * a corpus of broken inputs (NUL bytes, lone CRs, invalid UTF-8, BOM fragments, endless lines,
 * fields without values, binary noise) and over 20,000 seeded random inputs drawn from an
 * SSE-heavy alphabet, so the split-invariance property is checked in every build, not only in
 * clang fuzzing builds. A few broken inputs also have their exact events checked.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_sse.c"
#include "owb_common.h"
#include "owb_test.h"

struct entry {
    const char *s;
    size_t n;
};
#define E(lit)                                                                                     \
    {                                                                                              \
        lit, sizeof(lit) - 1                                                                       \
    }

static const struct entry corpus[] = {
    E(""),
    E("\n\n\n\n\n\n"),
    E("\r\r\r\r"),
    E("data"),
    E("data:"),
    E("data: a\0b\n\n"),
    E("data: \xff\xfe\xfd invalid utf8\n\n"),
    E("\xEF"),
    E("\xEF\xBB"),
    E("\xEF\xBB\xBF"),
    E("\xEF\xBB\xBF\xEF\xBB\xBF\n\n"),
    E(":::::\n:\r\n:\r"),
    E("event: e\nevent:\ndata: x\n\n"),
    E("data: {\"choices\":[{\"text\":\"tok\"}]}\n\ndata: {\"choi"),
    E("data: {\"error\":{\"message\":\"boom\"}}\n\n"),
    E("data: [DONE]"),
    E("data: [DONE]\r\n\r\ndata: after done\r\n\r\n"),
    E("id: 1\nretry: x\nfoo\n\n"),
    E("\x00\x00\x00\n\n"),
    E("data:\x00\n\x00\n\n"),
};

struct seen {
    char data[64];
    int n;
};

static int keep(void *ctx, const struct owb_sse_event *ev)
{
    struct seen *s = ctx;
    if (ev->data_len < sizeof s->data)
        memcpy(s->data, ev->data, ev->data_len + 1);
    s->n++;
    return 0;
}

int main(void)
{
    static uint8_t in[2048];
    uint64_t x = 0x9E3779B97F4A7C15ull;

    /* Each corpus entry with several buffer sizes and cut seeds (the 3 header bytes). The strings
     * are taken with their literal length so embedded NULs count. */
    for (size_t i = 0; i < OWB_ARRAY_LEN(corpus); i++) {
        for (int h = 0; h < 24; h++) {
            in[0] = (uint8_t)(h * 11);
            in[1] = (uint8_t)(h * 37);
            in[2] = (uint8_t)h;
            memcpy(in + 3, corpus[i].s, corpus[i].n);
            LLVMFuzzerTestOneInput(in, corpus[i].n + 3);
        }
    }
    /* Random inputs from an alphabet that makes the grammar's corners likely. */
    for (int it = 0; it < 20000; it++) {
        static const char alpha[] = "data:event :\n\r\n\r x{}\xEF\xBB\xBF\0";
        size_t n;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        n = 3 + (size_t)(x % 300);
        for (size_t k = 0; k < n; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            in[k] = k < 3 ? (uint8_t)(x >> 8) : (uint8_t)alpha[(x >> 8) % (sizeof alpha - 1)];
        }
        LLVMFuzzerTestOneInput(in, n);
    }
    /* Exact events of a few broken inputs. */
    {
        static char buf[64];
        struct owb_sse p;
        struct seen s;
        memset(&s, 0, sizeof s);
        owb_sse_init(&p, buf, sizeof buf, keep, &s);
        CHECK(owb_sse_push(&p, "data: a\0b\n\n", 11) == 0);
        CHECK(s.n == 1 && !memcmp(s.data, "a\0b", 4));
        CHECK(owb_sse_push(&p, "data: {\"choi", 12) == 0);
        CHECK(s.n == 1);
        CHECK(owb_sse_finish(&p) == 1); /* a disconnect inside an event is visible */
        owb_sse_reset(&p);
        memset(&s, 0, sizeof s);
        CHECK(owb_sse_push(&p, "data: [DONE]", 12) == 0);
        CHECK(owb_sse_finish(&p) == 1 && s.n == 0); /* [DONE] without its blank line */
    }
    TEST_DONE();
}
