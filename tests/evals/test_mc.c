/* SPDX-License-Identifier: MIT */
/*
 * test_mc.c: multiple choice. A tiny hand-made JSONL task scored by a producer that prefers the
 * letter 'a' (logit +5 for 'a', 0 for every other byte, whatever came before) gives the acc and
 * acc_norm worked out by hand below, and ending log-likelihoods equal to the closed form; seeded
 * subsets are stable and not the first N; the per-item JSON lines round-trip; broken JSONL and
 * 6-line files are refused naming file and line; the text loader cuts at a UTF-8 character
 * boundary. (The shared HellaSwag file: test_hellaswag.c.)
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/mc.h"
#include "datasets/text.h"
#include "evals/evstats.h"
#include "evals/mceval.h"
#include "owb_test.h"
#include "synth_producer.h"

#define V 257
#define LOGIT_A 5.0

static char tmpdir[512];

static void write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "wb");
    OWB_ASSERT(f);
    fputs(s, f);
    fclose(f);
}

static struct owb_producer *prefers_a(void)
{
    struct owb_producer *p = synth_new(V, 1, 0.0, 0, 0, 1, 256);
    float *tab = (float *)synth_table(p);
    for (int r = 0; r < V; r++)
        tab[(size_t)r * V + 'a'] = (float)LOGIT_A;
    return p;
}

static void test_hand_task(void)
{
    char path[600], items[600], err[OWB_ERR_MAX] = "";
    /* Item by item, with la = ln p('a') and lo = ln p(other) (the joining space counts as lo):
     *  1 gold 0: "aaaa" lo+4la  vs "bb" 3lo          -> acc 0 ok, norm 0 ok
     *  2 gold 1: "b" 2lo  vs "aaaaaaaaaa" lo+10la     -> acc 0 (sum -12.0 > -16.0) wrong,
     *                                                     norm 1 (-1.6/byte > -12.0) ok
     *  3 gold 0: "bbb" 4lo vs "ab" 2lo+la             -> acc 1 wrong, norm 1 wrong
     *  4 gold 1: "aa" lo+2la, "aaa" lo+3la, "b" 2lo   -> acc 0 wrong, norm 1 (-3.0 > -4.0) ok
     * so acc = 1/4 and acc_norm = 3/4. */
    snprintf(path, sizeof path, "%s/hand.jsonl", tmpdir);
    write_file(path,
               "{\"id\": \"one\", \"context\": \"q\", \"endings\": [\"aaaa\", \"bb\"], "
               "\"label\": 0}\n"
               "\n"
               "{\"context\": \"q\", \"endings\": [\"b\", \"aaaaaaaaaa\"], \"label\": 1}\n"
               "{\"id\": 3, \"context\": \"q\", \"endings\": [\"bbb\", \"ab\"], \"label\": 0}\n"
               "{\"id\": \"four\", \"context\": \"q\", \"endings\": [\"aa\", \"aaa\", \"b\"], "
               "\"label\": 1}\n");
    struct owb_mc_task t;
    CHECK_MSG(owb_mc_load(&t, path, OWB_MC_AUTO, err) == 0, "%s", err);
    CHECK(t.n == 4 && t.format == OWB_MC_JSONL);
    CHECK(!strcmp(t.items[0].id, "one") && !strcmp(t.items[1].id, "line3") &&
          !strcmp(t.items[2].id, "3") && t.items[3].n_endings == 3 && t.items[1].line == 3);
    struct owb_producer *p = prefers_a();
    struct owb_mc_cfg cfg = {0};
    struct owb_mc_result r;
    CHECK_MSG(owb_mc_run(p, &t, &cfg, &r, err) == 0, "%s", err);
    double lz = log(exp(LOGIT_A) + 256.0), la = LOGIT_A - lz, lo = -lz;
    CHECK(r.n == 4);
    CHECK_NEAR(r.s[0].ll[0], lo + 4 * la, 1e-9);
    CHECK_NEAR(r.s[0].ll[1], 3 * lo, 1e-9);
    CHECK(r.s[0].n_tokens[0] == 5 && r.s[0].n_bytes[0] == 4);
    CHECK_NEAR(r.s[1].ll[1], lo + 10 * la, 1e-9);
    const int pred[4] = {0, 0, 1, 0}, pred_norm[4] = {0, 1, 1, 1};
    for (int i = 0; i < 4; i++) {
        CHECK_MSG(r.s[i].pred == pred[i], "item %d pred %d", i, r.s[i].pred);
        CHECK_MSG(r.s[i].pred_norm == pred_norm[i], "item %d pred_norm %d", i, r.s[i].pred_norm);
    }
    CHECK(r.correct == 1 && r.correct_norm == 3);
    CHECK_NEAR(r.acc, 0.25, 0);
    CHECK_NEAR(r.acc_norm, 0.75, 0);
    double lo95, hi95;
    owb_wilson(1, 4, 0.05, &lo95, &hi95);
    CHECK_NEAR(r.acc_lo, lo95, 1e-15);
    CHECK_NEAR(r.acc_hi, hi95, 1e-15);

    /* Per-item lines. */
    snprintf(items, sizeof items, "%s/hand_items.jsonl", tmpdir);
    CHECK_MSG(owb_mc_write_items(&t, &r, items, err) == 0, "%s", err);
    char *buf;
    size_t len;
    CHECK(owb_text_read(items, 0, &buf, &len, err) == 0);
    int lines = 0, ok = 0;
    for (char *s = strtok(buf, "\n"); s; s = strtok(NULL, "\n"), lines++) {
        cJSON *o = cJSON_Parse(s);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
        const cJSON *ll = cJSON_GetObjectItemCaseSensitive(o, "ll");
        const cJSON *cn = cJSON_GetObjectItemCaseSensitive(o, "correct_norm");
        if (cJSON_IsString(id) && cJSON_GetArraySize(ll) == t.items[lines].n_endings &&
            !strcmp(id->valuestring, t.items[lines].id) && cJSON_IsBool(cn) &&
            cJSON_IsTrue(cn) == (pred_norm[lines] == t.items[lines].gold))
            ok++;
        cJSON_Delete(o);
    }
    CHECK(lines == 4 && ok == 4);
    free(buf);
    unlink(items);

    /* The result entries. */
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddArrayToObject(doc, "evals");
    CHECK(owb_mc_to_json(doc, "mc/hand", &t, &r, "hand_items.jsonl", NULL) != NULL);
    const cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "evals"), 0);
    const cJSON *e1 = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "evals"), 1);
    CHECK(!strcmp(cJSON_GetObjectItem(e0, "metric")->valuestring, "acc"));
    CHECK(cJSON_GetObjectItem(e1, "value")->valuedouble == 0.75);
    CHECK(cJSON_IsObject(cJSON_GetObjectItem(e0, "identity")));
    cJSON_Delete(doc);
    owb_mc_result_release(&r);
    owb_producer_free(p);
    owb_mc_release(&t);
    unlink(path);
}

static void test_subsets(void)
{
    char path[600], err[OWB_ERR_MAX] = "";
    snprintf(path, sizeof path, "%s/many.jsonl", tmpdir);
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 200; i++)
        fprintf(f,
                "{\"id\": \"it%03d\", \"context\": \"c%d\", \"endings\": [\"a\", \"b\"], "
                "\"label\": %d}\n",
                i, i, i % 2);
    fclose(f);
    struct owb_mc_task t;
    CHECK(owb_mc_load(&t, path, OWB_MC_JSONL, err) == 0);
    size_t *a, *b, *c, na, nb, nc;
    CHECK(owb_mc_select(&t, 20, 1, &a, &na) == 0);
    CHECK(owb_mc_select(&t, 20, 1, &b, &nb) == 0);
    CHECK(owb_mc_select(&t, 20, 2, &c, &nc) == 0);
    CHECK(na == 20 && !memcmp(a, b, 20 * sizeof *a));
    CHECK(memcmp(a, c, 20 * sizeof *a) != 0);
    size_t beyond = 0;
    for (size_t i = 0; i < na; i++)
        beyond += a[i] >= 20;
    CHECK_MSG(beyond > 10, "a subset is not the first N");
    free(a);
    free(b);
    free(c);
    CHECK(owb_mc_select(&t, 0, 1, &a, &na) == 0 && na == 200 && a[199] == 199);
    free(a);
    /* The same subset through owb_mc_run: same item hash; another seed, another hash. */
    struct owb_producer *p = prefers_a();
    struct owb_mc_cfg cfg = {.limit = 20, .seed = 1};
    struct owb_mc_result r1, r2, r3;
    CHECK(owb_mc_run(p, &t, &cfg, &r1, err) == 0);
    CHECK(owb_mc_run(p, &t, &cfg, &r2, err) == 0);
    cfg.seed = 2;
    CHECK(owb_mc_run(p, &t, &cfg, &r3, err) == 0);
    CHECK(r1.n == 20 && !memcmp(r1.items_sha256, r2.items_sha256, 32));
    CHECK(memcmp(r1.items_sha256, r3.items_sha256, 32) != 0);
    CHECK(r1.acc == r2.acc);
    owb_mc_result_release(&r1);
    owb_mc_result_release(&r2);
    owb_mc_result_release(&r3);
    owb_producer_free(p);
    owb_mc_release(&t);
    unlink(path);
}

static void bad(const char *name, const char *content, enum owb_mc_format fmt, const char *needle)
{
    char path[600], err[OWB_ERR_MAX] = "";
    struct owb_mc_task t;
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    write_file(path, content);
    int rc = owb_mc_load(&t, path, fmt, err);
    CHECK_MSG(rc == OWB_E_FORMAT, "%s: rc %d", name, rc);
    CHECK_MSG(strstr(err, path) && strstr(err, needle), "%s: \"%s\" lacks \"%s\"", name, err,
              needle);
    CHECK(t.n == 0 && t.items == NULL);
    unlink(path);
}

static void test_broken(void)
{
    bad("b1.jsonl", "{\"context\": \"c\", \"endings\": [\"a\", \"b\"], \"label\": 0}\n[1, 2]\n",
        OWB_MC_JSONL, ":2: not a JSON object");
    bad("b2.jsonl", "{\"endings\": [\"a\", \"b\"], \"label\": 0}\n", OWB_MC_JSONL,
        ":1: \"context\" must be a string");
    bad("b3.jsonl", "{\"context\": \"c\", \"endings\": [\"a\"], \"label\": 0}\n", OWB_MC_JSONL,
        "at least 2 strings");
    bad("b4.jsonl", "{\"context\": \"c\", \"endings\": [\"a\", \"b\"], \"label\": 4}\n",
        OWB_MC_JSONL, "\"label\" 4 is out of range for 2 endings");
    bad("b5.jsonl", "{\"context\": \"c\", \"endings\": [\"a\", \"b\"], \"label\": 0.5}\n",
        OWB_MC_JSONL, "must be an integer");
    bad("b6.jsonl",
        "{\"id\": \"x\", \"context\": \"c\", \"endings\": [\"a\", \"b\"], \"label\": 0}\n"
        "{\"id\": \"x\", \"context\": \"d\", \"endings\": [\"a\", \"b\"], \"label\": 1}\n",
        OWB_MC_JSONL, ":2: duplicate id \"x\" (first at line 1)");
    bad("b7.jsonl", "{\"context\": \"c\", \"endings\": [\"a\", \"\"], \"label\": 0}\n",
        OWB_MC_JSONL, "endings[1] must be a non-empty string");
    bad("b8.jsonl", "\n\n", OWB_MC_JSONL, "no items");
    bad("b9.txt", "ctx\n1\ne0\ne1\ne2\ne3\nctx2\n", OWB_MC_HELLASWAG,
        "7 lines is not a multiple of 6");
    bad("b10.txt", "ctx\n7\ne0\ne1\ne2\ne3\n", OWB_MC_HELLASWAG, ":2: gold label \"7\"");
    bad("b11.txt", "ctx\n1\ne0\n\ne2\ne3\n", OWB_MC_HELLASWAG, ":4: empty ending 1");
    /* CRLF is fine. */
    char path[600], err[OWB_ERR_MAX] = "";
    struct owb_mc_task t;
    snprintf(path, sizeof path, "%s/crlf.txt", tmpdir);
    write_file(path, "A man: he\r\n2\r\nx.\r\ny.\r\nz.\r\nw.\r\n");
    CHECK_MSG(owb_mc_load(&t, path, OWB_MC_AUTO, err) == 0, "%s", err);
    CHECK(t.n == 1 && t.format == OWB_MC_HELLASWAG && t.items[0].gold == 2 &&
          !strcmp(t.items[0].context, "A man: he") && !strcmp(t.items[0].endings[3], "w."));
    owb_mc_release(&t);
    unlink(path);
    CHECK(owb_mc_load(&t, "/nonexistent/t.jsonl", OWB_MC_AUTO, err) == OWB_E_IO);
}

static void test_text(void)
{
    char path[600], err[OWB_ERR_MAX] = "", *buf;
    size_t len;
    snprintf(path, sizeof path, "%s/utf8.txt", tmpdir);
    write_file(path, "a\xc3\xa9z\xe2\x82\xac!");
    CHECK(owb_text_read(path, 2, &buf, &len, err) == 0 && len == 1 && !strcmp(buf, "a"));
    free(buf);
    CHECK(owb_text_read(path, 3, &buf, &len, err) == 0 && len == 3);
    free(buf);
    CHECK(owb_text_read(path, 5, &buf, &len, err) == 0 && len == 4); /* before the euro sign */
    free(buf);
    CHECK(owb_text_read(path, 0, &buf, &len, err) == 0 && len == 8);
    free(buf);
    write_file(path, "");
    CHECK(owb_text_read(path, 0, &buf, &len, err) == OWB_E_FORMAT);
    unlink(path);
}

int main(void)
{
    const char *t = getenv("OWB_TMP");
    snprintf(tmpdir, sizeof tmpdir, "%s", t && *t ? t : "/tmp");
    test_hand_task();
    test_subsets();
    test_broken();
    test_text();
    TEST_DONE();
}
