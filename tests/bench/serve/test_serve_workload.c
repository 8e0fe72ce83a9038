/* SPDX-License-Identifier: MIT */
/*
 * test_serve_workload.c: workloads: length specs (fixed, uniform, normal, bad values named),
 * random prompts have exactly the requested number of words and a unique first word, the set's
 * SHA-256 changes with any prompt and is reproducible per seed (and SHA-256 itself matches the
 * FIPS 180-2 test vectors), JSONL with prompts, messages and output lengths, ShareGPT JSON, a
 * trace with millisecond timestamps and lengths only, and clear errors for broken files.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "bench/serve/serve_workload.h"
#include "owb_test.h"

static int words(const char *s)
{
    int n = 0, in = 0;
    for (; *s; s++) {
        if (*s == ' ') {
            in = 0;
        } else if (!in) {
            in = 1;
            n++;
        }
    }
    return n;
}

static const char *write_tmp(const char *name, const char *text)
{
    static char path[1024];
    const char *tmp = getenv("OWB_TMP");
    FILE *f;
    snprintf(path, sizeof path, "%s/%s-%d", tmp && *tmp ? tmp : "/tmp", name, (int)getpid());
    f = fopen(path, "w");
    OWB_ASSERT(f);
    fputs(text, f);
    fclose(f);
    return path;
}

int main(void)
{
    struct owb_len_dist in, out;
    struct owb_serve_workload w, w2;
    char err[OWB_ERR_MAX], hex[65];
    const char *p;

    owb_sha256_hex("abc", 3, hex);
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    owb_sha256_hex("", 0, hex);
    CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    owb_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
    CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));

    CHECK(owb_len_dist_parse("--input-len", "100", &in, err) == 0 && in.kind == OWB_LEN_FIXED);
    CHECK(owb_len_dist_parse("--input-len", "100,uniform:0.5", &in, err) == 0 &&
          in.kind == OWB_LEN_UNIFORM && in.spread == 0.5);
    CHECK(owb_len_dist_parse("--input-len", "100,normal:10", &in, err) == 0 &&
          in.kind == OWB_LEN_NORMAL);
    CHECK(owb_len_dist_parse("--input-len", "0", &in, err) == OWB_E_USAGE &&
          strstr(err, "--input-len '0'"));
    CHECK(owb_len_dist_parse("--output-len", "10,uniform:2", &out, err) == OWB_E_USAGE);
    CHECK(owb_len_dist_parse("--output-len", "10,poisson:2", &out, err) == OWB_E_USAGE);

    /* random: fixed lengths are exact */
    CHECK(owb_len_dist_parse("i", "37", &in, err) == 0 &&
          owb_len_dist_parse("o", "9", &out, err) == 0);
    CHECK(owb_serve_workload_random(&w, 50, &in, &out, 5, err) == 0);
    CHECK(w.n == 50 && !strcmp(w.kind, "random") && strlen(w.sha256) == 64);
    for (size_t i = 0; i < w.n; i++) {
        char first[32];
        CHECK(words(w.items[i].prompt) == 37 && w.items[i].input_tokens == 37);
        CHECK(w.items[i].output_tokens == 9);
        snprintf(first, sizeof first, "r%zu ", i);
        CHECK(!strncmp(w.items[i].prompt, first, strlen(first)));
    }
    CHECK(owb_serve_workload_random(&w2, 50, &in, &out, 5, err) == 0);
    CHECK(!strcmp(w.sha256, w2.sha256));
    w2.items[7].prompt[5] ^= 1;
    owb_serve_workload_hash(&w2);
    CHECK(strcmp(w.sha256, w2.sha256) != 0);
    owb_serve_workload_release(&w2);
    CHECK(owb_serve_workload_random(&w2, 50, &in, &out, 6, err) == 0);
    CHECK(strcmp(w.sha256, w2.sha256) != 0);
    owb_serve_workload_release(&w2);
    owb_serve_workload_release(&w);

    /* random: uniform lengths stay in range and vary */
    CHECK(owb_len_dist_parse("i", "100,uniform:0.5", &in, err) == 0);
    CHECK(owb_serve_workload_random(&w, 200, &in, &out, 5, err) == 0);
    {
        int mn = 1 << 30, mx = 0;
        for (size_t i = 0; i < w.n; i++) {
            int n = w.items[i].input_tokens;
            mn = n < mn ? n : mn;
            mx = n > mx ? n : mx;
            CHECK(words(w.items[i].prompt) == n);
        }
        CHECK(mn >= 50 && mx <= 150 && mx - mn > 50);
    }
    owb_serve_workload_release(&w);

    /* JSONL */
    p = write_tmp("w.jsonl", "{\"prompt\": \"hello big world\", \"output_len\": 7}\n\n"
                             "{\"messages\": [{\"role\": \"system\", \"content\": \"be brief\"},"
                             " {\"role\": \"user\", \"content\": \"one two three\"}]}\n");
    CHECK_MSG(owb_serve_workload_load(&w, p, 0, &out, 1, err) == 0, "%s", err);
    CHECK(w.n == 2 && !strcmp(w.kind, "jsonl") && !w.has_times);
    CHECK(!strcmp(w.items[0].prompt, "hello big world") && w.items[0].output_tokens == 7);
    CHECK(w.items[0].input_tokens == 3);
    CHECK(w.items[1].messages_json && w.items[1].input_tokens == 5);
    CHECK(w.items[1].output_tokens == 9); /* the default */
    owb_serve_workload_release(&w);

    /* ShareGPT */
    p = write_tmp("sg.json", "[{\"conversations\": [{\"from\": \"human\", \"value\": \"why is the "
                             "sky blue\"}, {\"from\": \"gpt\", \"value\": \"because of "
                             "scattering\"}]}, {\"conversations\": [{\"from\": \"gpt\", "
                             "\"value\": \"no human\"}]}]");
    CHECK_MSG(owb_serve_workload_load(&w, p, 0, &out, 1, err) == 0, "%s", err);
    CHECK(w.n == 1 && !strcmp(w.kind, "sharegpt"));
    CHECK(w.items[0].input_tokens == 5 && w.items[0].output_tokens == 3);
    owb_serve_workload_release(&w);

    /* trace: ms timestamps, lengths only */
    p = write_tmp("tr.jsonl",
                  "{\"timestamp\": 1000, \"input_length\": 20, \"output_length\": 5}\n"
                  "{\"timestamp\": 1500, \"input_length\": 30, \"output_length\": 6}\n");
    CHECK_MSG(owb_serve_workload_load(&w, p, 0, &out, 1, err) == 0, "%s", err);
    CHECK(w.n == 2 && w.has_times && !strcmp(w.kind, "trace"));
    CHECK_NEAR(w.items[0].t_s, 0, 1e-12);
    CHECK_NEAR(w.items[1].t_s, 0.5, 1e-12);
    CHECK(words(w.items[1].prompt) == 30 && w.items[1].output_tokens == 6);
    owb_serve_workload_release(&w);

    /* broken files: the error names the file and line */
    p = write_tmp("bad.jsonl", "{\"prompt\": \"ok\"}\n{\"prompt\": 3}\n");
    CHECK(owb_serve_workload_load(&w, p, 0, &out, 1, err) == OWB_E_FORMAT);
    CHECK_MSG(strstr(err, ":2:") != NULL, "%s", err);
    p = write_tmp("bad2.jsonl", "{\"prompt\": \"ok\"\n");
    CHECK(owb_serve_workload_load(&w, p, 0, &out, 1, err) == OWB_E_FORMAT);
    CHECK(owb_serve_workload_load(&w, "/nonexistent/x.jsonl", 0, &out, 1, err) == OWB_E_IO);
    TEST_DONE();
}
