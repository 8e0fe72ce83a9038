/* SPDX-License-Identifier: MIT */
/*
 * test_prom_corpus.c: the Prometheus parser's fuzz target (fuzz_prom.c: deterministic, in bounds,
 * round trip) over a corpus of broken inputs (NUL bytes, lone CRs, unterminated label values,
 * bad escapes, missing values, garbage after the timestamp, huge numbers, binary noise) and over
 * 20,000 seeded random inputs from a Prometheus-heavy alphabet, in every build; plus exact
 * parses of real pages (vLLM and llama.cpp style) and of the broken lines that must be skipped.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_prom.c"
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
    E("\n\n\n"),
    E("\r\r\r"),
    E("# HELP x\n# TYPE x gauge\n"),
    E("x"),
    E("x "),
    E("x 1"),
    E("x{} 1"),
    E("x{a=\"1\"} 1"),
    E("x{a=\"1\",} 1"),
    E("x{a=\"1\" 1"),
    E("x{a=\"\\q\"} 1"),
    E("x{a=\"\\\"} 1"),
    E("x{a=\"\\\\\"} 2\n"),
    E("x{=\"1\"} 1"),
    E("x{a=1} 1"),
    E("x 1 2 3"),
    E("x 1 -"),
    E("x 1 99999999999999999999999"),
    E("x NaN\ny +Inf\nz -Inf\n"),
    E("x nan\ny inf\n"),
    E("x 0x10\n"),
    E("x 1e400\n"),
    E("x\0 1\n"),
    E("\0\0\0\n"),
    E("x 1\r\ny 2\r\n"),
    E("x 1\rz 2"),
    E("vllm:num_requests_running{model_name=\"m\"} 3.0\n"),
    E("1x 1\n:x 1\n_x 1\n"),
    E("\xff\xfe garbage \x01\x02\n"),
};

static int keep(void *ctx, const struct owb_prom_sample *s)
{
    double *v = ctx;
    v[0] += 1;
    v[1] += s->value;
    return 0;
}

int main(void)
{
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++)
        LLVMFuzzerTestOneInput((const uint8_t *)corpus[i].s, corpus[i].n);
    uint64_t st = 12345;
    static const char alpha[] = "xa_:{}=\",\\ \t\n\r#01.e+-NaInf";
    char buf[512];
    for (int r = 0; r < 20000; r++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        size_t n = (size_t)(st >> 33) % sizeof buf;
        for (size_t k = 0; k < n; k++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            buf[k] = alpha[(st >> 33) % (sizeof alpha - 1)];
        }
        LLVMFuzzerTestOneInput((const uint8_t *)buf, n);
    }

    /* A vLLM-style page. */
    const char *page =
        "# HELP vllm:num_requests_running Number of requests.\n"
        "# TYPE vllm:num_requests_running gauge\n"
        "vllm:num_requests_running{model_name=\"llama\"} 4.0\n"
        "vllm:num_requests_waiting{model_name=\"llama\"} 2.0\n"
        "vllm:gpu_cache_usage_perc{model_name=\"llama\"} 0.5\n"
        "vllm:e2e_request_latency_seconds_bucket{le=\"+Inf\",model_name=\"llama\"} 7\n"
        "llamacpp:prompt_tokens_total 120 1700000000000\n"
        "  indented 1\n"
        "bad{a=\"x} 1\n"
        "bad2 one\n";
    double v[2] = {0, 0};
    size_t bad = 0;
    long n = owb_prom_parse(page, strlen(page), keep, v, &bad);
    CHECK(n == 6);
    CHECK(bad == 2);
    CHECK(fabs(v[1] - (4 + 2 + 0.5 + 7 + 120 + 1)) < 1e-12);
    TEST_DONE();
}
