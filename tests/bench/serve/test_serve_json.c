/* SPDX-License-Identifier: MIT */
/*
 * test_serve_json.c: the hot-path JSON tokenizer: valid documents (RFC 8259 corners: escapes,
 * \u, numbers with exponents, nesting, whitespace) are accepted and invalid ones rejected
 * (truncation, trailing garbage, bare words, leading zeros, raw control characters, bad escapes,
 * missing colons/commas, too deep), the token budget is reported, and lookups find keys,
 * elements and numbers in an OpenAI stream chunk exactly as written.
 */
#include <string.h>

#include "bench/serve/serve_json.h"
#include "owb_common.h"
#include "owb_test.h"

static int tokn(const char *s)
{
    static struct owb_jtok t[256];
    return owb_serve_json_tokenize(s, strlen(s), t, 256);
}

int main(void)
{
    static const char *const good[] = {
        "{}",
        "[]",
        " { } ",
        "0",
        "-0",
        "1.5e-3",
        "-12.25E+10",
        "\"\"",
        "\"a\\\"b\\\\c\\/\\n\"",
        "\"\\u00e9\\uD83D\\uDE00\"",
        "true",
        "false",
        "null",
        "[1,[2,[3,{\"a\":[]}]]]",
        "{\"a\":1,\"b\":{\"c\":[true,false,null]},\"d\":\"x\"}",
        "\t\r\n[ 1 , 2 ]\n",
        "\"caf\xc3\xa9\"",
    };
    static const char *const bad[] = {
        "",           "{",        "{\"a\":1",  "{\"a\" 1}",
        "{\"a\":1,}", "[1,]",     "[1 2]",     "{a:1}",
        "tru",        "nul",      "01",        "1.",
        "-",          ".5",       "1e",        "+1",
        "\"abc",      "\"a\\x\"", "\"\\u12\"", "\"a\nb\"",
        "{} {}",      "[1]]",     "BROKEN",    "{\"choices\":[{\"text\": BROKEN",
        "[\"a\",",    "{\"a\":}", "{,}",
    };
    static struct owb_jtok t[64];
    const char *chunk = "{\"id\":\"c-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" w3\"},"
                        "\"logprobs\":{\"content\":[{\"token\":\" w3\",\"logprob\":-0.5}]},"
                        "\"finish_reason\":null}],\"usage\":{\"prompt_tokens\":12,"
                        "\"completion_tokens\":4}}";
    char deep[200];
    int n, c, c0, d, x;

    for (size_t i = 0; i < OWB_ARRAY_LEN(good); i++)
        CHECK_MSG(tokn(good[i]) > 0, "rejected valid '%s'", good[i]);
    for (size_t i = 0; i < OWB_ARRAY_LEN(bad); i++)
        CHECK_MSG(tokn(bad[i]) == -1, "accepted invalid '%s'", bad[i]);
    /* an embedded NUL inside a string is a raw control character */
    CHECK(owb_serve_json_tokenize("\"a\0b\"", 5, t, 64) == -1);
    /* nesting depth */
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    CHECK(owb_serve_json_tokenize(deep, 200, t, 64) == -2 ||
          owb_serve_json_tokenize(deep, 200, t, 64) == -1);
    {
        static struct owb_jtok big[256];
        CHECK(owb_serve_json_tokenize(deep, 200, big, 256) == -1); /* 100 > OWB_JSON_MAX_DEPTH */
        CHECK(owb_serve_json_tokenize(deep + 40, 120, big, 256) == 60); /* depth 60 is fine */
    }
    /* the token budget */
    CHECK(owb_serve_json_tokenize("[1,2,3,4]", 9, t, 4) == -2);
    CHECK(owb_serve_json_tokenize("[1,2,3,4]", 9, t, 5) == 5);

    n = owb_serve_json_tokenize(chunk, strlen(chunk), t, 64);
    CHECK(n > 0 && t[0].type == OWB_J_OBJ && t[0].size == 3);
    c = owb_serve_json_get(chunk, t, 0, "choices");
    CHECK(c > 0 && t[c].type == OWB_J_ARR && t[c].size == 1);
    c0 = owb_serve_json_at(t, c, 0);
    CHECK(c0 > 0 && t[c0].type == OWB_J_OBJ);
    CHECK(owb_serve_json_at(t, c, 1) == -1);
    d = owb_serve_json_get(chunk, t, c0, "delta");
    x = owb_serve_json_get(chunk, t, d, "content");
    CHECK(x > 0 && t[x].type == OWB_J_STR && t[x].end - t[x].start == 3 &&
          !memcmp(chunk + t[x].start, " w3", 3));
    x = owb_serve_json_get(chunk, t, c0, "finish_reason");
    CHECK(x > 0 && t[x].type == OWB_J_NULL);
    x = owb_serve_json_get(chunk, t, owb_serve_json_get(chunk, t, c0, "logprobs"), "content");
    CHECK(x > 0 && t[x].type == OWB_J_ARR && t[x].size == 1);
    x = owb_serve_json_get(chunk, t, owb_serve_json_get(chunk, t, 0, "usage"), "completion_tokens");
    CHECK(owb_serve_json_num(chunk, t, x) == 4);
    x = owb_serve_json_get(chunk, t, owb_serve_json_get(chunk, t, 0, "usage"), "prompt_tokens");
    CHECK(owb_serve_json_num(chunk, t, x) == 12);
    /* keys are matched whole; values are not mistaken for keys */
    CHECK(owb_serve_json_get(chunk, t, 0, "choice") == -1);
    CHECK(owb_serve_json_get(chunk, t, 0, "c-1") == -1);
    CHECK(owb_serve_json_get(chunk, t, 0, "error") == -1);
    CHECK(owb_serve_json_get(chunk, t, -1, "id") == -1);
    CHECK(owb_serve_json_get(chunk, t, c, "id") == -1); /* not an object */
    TEST_DONE();
}
