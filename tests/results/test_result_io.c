/* SPDX-License-Identifier: MIT */
/*
 * test_result_io.c: the owbench.result/1 document of results/result.h: builders give the fixed
 * benchmark shape, stats match owb_stats_compute, validity notes, NaN stored as null; atomic write
 * (parents created, file mode, no temp files left, nothing left on failure) and read back equal;
 * the reader refuses truncated files, non-JSON, a wrong schema major, a missing benchmarks array
 * and a mistyped benchmarks[1].stats, each with a message naming the file and the problem.
 */
#define _GNU_SOURCE /* mkdtemp */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "owb_test.h"
#include "results/result.h"
#include "results/stats.h"

static char tmpdir[4096];

static void make_tmpdir(void)
{
    const char *root = getenv("OWB_TMP");
    if (!root || !*root)
        root = "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/result_io.XXXXXX", root);
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "mkdtemp %s: %s\n", tmpdir, strerror(errno));
        exit(1);
    }
}

static void write_text(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(fwrite(text, 1, len, f) == len);
    fclose(f);
}

/* Number of entries in dir whose name contains needle. */
static int count_entries(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strstr(e->d_name, needle))
            n++;
    closedir(d);
    return n;
}

static cJSON *build_doc(void)
{
    char *argv[] = {"owbench", "stream", "--threads", "1,2"};
    cJSON *doc = owb_result_new(4, argv);
    CHECK(doc != NULL);
    cJSON *env = cJSON_GetObjectItemCaseSensitive(doc, "env");
    cJSON_AddStringToObject(env, "host", "testhost");

    cJSON *b = owb_result_add_benchmark(doc, "stream/copy/t1", "stream");
    CHECK(b != NULL);
    double v[12];
    for (int i = 0; i < 12; i++)
        v[i] = 1000.0 + 10.0 * i;
    CHECK(owb_result_set_samples(b, "ns", v, 12) == 0);
    owb_result_param_num(b, "threads", 1);
    owb_result_param_str(b, "kernel", "copy");
    owb_result_param_num(b, "threads", 1); /* replaced, not duplicated */
    owb_result_metric(b, "gb_per_s", 12.5);
    owb_result_metric(b, "gb_per_s_median", (double)NAN); /* stored as null */
    cJSON *counters = cJSON_GetObjectItemCaseSensitive(b, "counters");
    cJSON_AddNumberToObject(counters, "PAPI_TOT_CYC", 123456);
    cJSON *na = cJSON_AddObjectToObject(counters, "PAPI_L3_TCM");
    cJSON_AddStringToObject(na, "na", "event not available in this VM");
    owb_result_note(b, "array 64 MiB");

    cJSON *b2 = owb_result_add_benchmark(doc, "stream/copy/t2", "stream");
    const double few[] = {5.0, (double)NAN, 7.0};
    CHECK(owb_result_set_samples(b2, "ns", few, 3) == 0);
    owb_result_invalidate(b2, "threads migrated");
    owb_result_invalidate(b2, "threads migrated"); /* same note once */

    cJSON *evals = cJSON_GetObjectItemCaseSensitive(doc, "evals");
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", "ppl/synthetic");
    cJSON_AddStringToObject(e, "metric", "perplexity");
    cJSON_AddNumberToObject(e, "value", 12.3);
    cJSON_AddNumberToObject(e, "ci95_lo", 12.0);
    cJSON_AddNumberToObject(e, "ci95_hi", 12.6);
    cJSON_AddNumberToObject(e, "n", 512);
    cJSON_AddStringToObject(e, "items_file", "ppl_items.jsonl");
    cJSON_AddItemToArray(evals, e);
    return doc;
}

static void test_build(cJSON *doc)
{
    char err[OWB_ERR_MAX] = "";
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(doc, "schema");
    CHECK(cJSON_IsString(schema) && !strcmp(schema->valuestring, "owbench.result/1"));
    const cJSON *created = cJSON_GetObjectItemCaseSensitive(doc, "created");
    CHECK(cJSON_IsString(created) && strlen(created->valuestring) == 20 &&
          created->valuestring[10] == 'T' && created->valuestring[19] == 'Z');
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(doc, "command");
    CHECK(cJSON_GetArraySize(cmd) == 4 && !strcmp(cJSON_GetArrayItem(cmd, 3)->valuestring, "1,2"));
    CHECK(owb_result_validate(doc, "built", err) == 0);
    CHECK_MSG(err[0] == '\0', "%s", err);

    const cJSON *benches = cJSON_GetObjectItemCaseSensitive(doc, "benchmarks");
    const cJSON *b = cJSON_GetArrayItem(benches, 0);
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(b, "params");
    CHECK(cJSON_GetArraySize(params) == 2);
    const cJSON *stats = cJSON_GetObjectItemCaseSensitive(b, "stats");
    double v[12];
    for (int i = 0; i < 12; i++)
        v[i] = 1000.0 + 10.0 * i;
    struct owb_stats s;
    owb_stats_compute(v, 12, &s);
    CHECK(cJSON_GetObjectItemCaseSensitive(stats, "n")->valuedouble == 12);
    CHECK(cJSON_GetObjectItemCaseSensitive(stats, "median")->valuedouble == s.median);
    CHECK(cJSON_GetObjectItemCaseSensitive(stats, "p999")->valuedouble == s.p999);
    CHECK(cJSON_GetObjectItemCaseSensitive(stats, "ci95_lo")->valuedouble == s.ci95_lo);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "valid")));
    const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(b, "metrics");
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(metrics, "gb_per_s_median")));

    const cJSON *b2 = cJSON_GetArrayItem(benches, 1);
    /* lookup by name: each of the two, nothing for a missing name or a prefix */
    const cJSON *n0 = cJSON_GetObjectItemCaseSensitive(b, "name");
    const cJSON *n1 = cJSON_GetObjectItemCaseSensitive(b2, "name");
    CHECK(owb_result_find_benchmark(doc, n0->valuestring) == b);
    CHECK(owb_result_find_benchmark(doc, n1->valuestring) == b2);
    CHECK(owb_result_find_benchmark(doc, "no/such/benchmark") == NULL);
    CHECK(owb_result_find_benchmark(doc, "stream") == NULL);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(b2, "valid")));
    const cJSON *notes = cJSON_GetObjectItemCaseSensitive(b2, "notes");
    CHECK_MSG(cJSON_GetArraySize(notes) == 2, "notes: %d", cJSON_GetArraySize(notes));
    CHECK(strstr(cJSON_GetArrayItem(notes, 0)->valuestring, "too few samples") != NULL);
    const cJSON *vals =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(b2, "samples"), "values");
    CHECK(cJSON_IsNull(cJSON_GetArrayItem(vals, 1)));
}

static void test_roundtrip(cJSON *doc)
{
    char path[4300], dir[4200], err[OWB_ERR_MAX] = "";
    snprintf(dir, sizeof dir, "%s/new/sub", tmpdir);
    snprintf(path, sizeof path, "%s/r.json", dir);
    CHECK_MSG(owb_result_write(doc, path, err) == 0, "%s", err);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
    CHECK(count_entries(dir, ".tmp") == 0);

    /* Text is valid JSON without NaN/Infinity tokens. */
    FILE *f = fopen(path, "rb");
    char *text = calloc(1, (size_t)st.st_size + 1);
    CHECK(f && text && fread(text, 1, (size_t)st.st_size, f) == (size_t)st.st_size);
    if (f)
        fclose(f);
    CHECK(text && !strstr(text, "nan") && !strstr(text, "NaN") && !strstr(text, "inf"));

    cJSON *back = NULL;
    CHECK_MSG(owb_result_read(path, &back, err) == 0, "%s", err);
    CHECK(back && cJSON_Compare(doc, back, 1));
    cJSON_Delete(back);

    /* Overwrite in place: the second write replaces the first. */
    cJSON *doc2 = owb_result_new(0, NULL);
    CHECK(owb_result_write(doc2, path, err) == 0);
    CHECK(owb_result_read(path, &back, err) == 0);
    CHECK(back && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(back, "benchmarks")) == 0);
    cJSON_Delete(back);
    cJSON_Delete(doc2);
    CHECK(count_entries(dir, ".tmp") == 0);
    free(text);
}

/* Write text (len bytes) to <tmpdir>/name, read it, expect status want and every needle in err. */
static void expect_read_error(const char *name, const char *text, size_t len, int want,
                              const char *needle1, const char *needle2)
{
    char path[4200], err[OWB_ERR_MAX] = "";
    cJSON *out = (cJSON *)&err; /* must be reset to NULL */
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    if (text)
        write_text(path, text, len);
    int rc = owb_result_read(path, &out, err);
    CHECK_MSG(rc == want, "%s: rc %d, want %d (%s)", name, rc, want, err);
    CHECK_MSG(out == NULL, "%s: out not NULL", name);
    CHECK_MSG(strstr(err, path) != NULL, "%s: message does not name the file: %s", name, err);
    CHECK_MSG(strstr(err, needle1) != NULL, "%s: want '%s' in: %s", name, needle1, err);
    if (needle2)
        CHECK_MSG(strstr(err, needle2) != NULL, "%s: want '%s' in: %s", name, needle2, err);
}

static void test_reader_errors(cJSON *doc)
{
    char *text = cJSON_Print(doc);
    size_t len = strlen(text);

    expect_read_error("truncated.json", text, len / 2, OWB_E_FORMAT, "not valid JSON", "truncated");
    expect_read_error("notjson.json", "hello, world\n", 13, OWB_E_FORMAT, "not valid JSON",
                      "line 1");
    expect_read_error("empty.json", "", 0, OWB_E_FORMAT, "empty", NULL);
    expect_read_error("trailing.json", "{} x", 4, OWB_E_FORMAT, "not valid JSON", NULL);
    expect_read_error("missing-file.json", NULL, 0, OWB_E_IO, "cannot open", NULL);
    expect_read_error("array.json", "[1, 2]", 6, OWB_E_FORMAT, "top level", NULL);

    cJSON *bad = cJSON_Duplicate(doc, 1);
    cJSON_ReplaceItemInObjectCaseSensitive(bad, "schema", cJSON_CreateString("owbench.result/2"));
    char *t = cJSON_Print(bad);
    expect_read_error("major2.json", t, strlen(t), OWB_E_FORMAT, "major version 2",
                      "owbench.result/1");
    cJSON_free(t);
    cJSON_ReplaceItemInObjectCaseSensitive(bad, "schema", cJSON_CreateString("other.thing/1"));
    t = cJSON_Print(bad);
    expect_read_error("other.json", t, strlen(t), OWB_E_FORMAT, "not an owbench result", NULL);
    cJSON_free(t);
    cJSON_Delete(bad);

    /* A minor version is read. */
    bad = cJSON_Duplicate(doc, 1);
    cJSON_ReplaceItemInObjectCaseSensitive(bad, "schema", cJSON_CreateString("owbench.result/1.3"));
    char err[OWB_ERR_MAX];
    CHECK_MSG(owb_result_validate(bad, "minor", err) == 0, "%s", err);
    cJSON_Delete(bad);

    bad = cJSON_Duplicate(doc, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(bad, "benchmarks");
    t = cJSON_Print(bad);
    expect_read_error("nobench.json", t, strlen(t), OWB_E_FORMAT, "benchmarks: missing", NULL);
    cJSON_free(t);
    cJSON_Delete(bad);

    bad = cJSON_Duplicate(doc, 1);
    cJSON *b1 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(bad, "benchmarks"), 1);
    cJSON_ReplaceItemInObjectCaseSensitive(b1, "stats", cJSON_CreateString("fast"));
    t = cJSON_Print(bad);
    expect_read_error("stats.json", t, strlen(t), OWB_E_FORMAT, "benchmarks[1].stats",
                      "expected an object, got a string");
    cJSON_free(t);
    cJSON_Delete(bad);

    bad = cJSON_Duplicate(doc, 1);
    b1 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(bad, "benchmarks"), 0);
    cJSON *st = cJSON_GetObjectItemCaseSensitive(b1, "stats");
    cJSON_DeleteItemFromObjectCaseSensitive(st, "median");
    t = cJSON_Print(bad);
    expect_read_error("median.json", t, strlen(t), OWB_E_FORMAT, "benchmarks[0].stats.median",
                      "missing");
    cJSON_free(t);
    cJSON_Delete(bad);

    bad = cJSON_Duplicate(doc, 1);
    b1 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(bad, "benchmarks"), 0);
    cJSON *vals =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(b1, "samples"), "values");
    cJSON_AddItemToArray(vals, cJSON_CreateString("12"));
    t = cJSON_Print(bad);
    expect_read_error("values.json", t, strlen(t), OWB_E_FORMAT, "benchmarks[0].samples.values[12]",
                      NULL);
    cJSON_free(t);
    cJSON_Delete(bad);

    bad = cJSON_Duplicate(doc, 1);
    b1 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(bad, "benchmarks"), 0);
    cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(b1, "counters"), "X", "many");
    t = cJSON_Print(bad);
    expect_read_error("counter.json", t, strlen(t), OWB_E_FORMAT, "benchmarks[0].counters.X", NULL);
    cJSON_free(t);
    cJSON_Delete(bad);

    bad = cJSON_Duplicate(doc, 1);
    cJSON_ReplaceItemInObjectCaseSensitive(bad, "env", cJSON_CreateArray());
    t = cJSON_Print(bad);
    expect_read_error("env.json", t, strlen(t), OWB_E_FORMAT, "env: expected an object", NULL);
    cJSON_free(t);
    cJSON_Delete(bad);
    cJSON_free(text);
}

static void test_write_failures(cJSON *doc)
{
    char file[4200], path[4200], err[OWB_ERR_MAX] = "";
    /* A regular file where a parent folder should be: mkdir fails (also as root). */
    snprintf(file, sizeof file, "%s/afile", tmpdir);
    write_text(file, "x", 1);
    snprintf(path, sizeof path, "%s/afile/sub/out.json", tmpdir);
    CHECK(owb_result_write(doc, path, err) == OWB_E_IO);
    CHECK_MSG(strstr(err, path) != NULL, "message does not name the path: %s", err);
    struct stat st;
    CHECK(stat(file, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 1);
    CHECK(stat(path, &st) != 0);

    /* The target is a folder: the temp file is made and written, rename fails, and the temp file
     * must be gone afterwards. */
    snprintf(path, sizeof path, "%s/isdir", tmpdir);
    CHECK(mkdir(path, 0755) == 0);
    err[0] = '\0';
    CHECK(owb_result_write(doc, path, err) == OWB_E_IO);
    CHECK_MSG(strstr(err, path) != NULL, "message does not name the path: %s", err);
    CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_MSG(count_entries(tmpdir, ".tmp") == 0, "temporary file left in %s", tmpdir);
    CHECK(count_entries(path, "") == 0);

    /* A trailing slash names a folder. */
    snprintf(path, sizeof path, "%s/x/", tmpdir);
    CHECK(owb_result_write(doc, path, err) == OWB_E_IO);

    /* owb_mkdir_p on an existing tree is fine, and creates deep trees. */
    snprintf(path, sizeof path, "%s/a/b/c/d", tmpdir);
    CHECK(owb_mkdir_p(path, err) == 0);
    CHECK(owb_mkdir_p(path, err) == 0);
    CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
}

int main(void)
{
    make_tmpdir();
    cJSON *doc = build_doc();
    if (!doc)
        TEST_DONE();
    test_build(doc);
    test_roundtrip(doc);
    test_reader_errors(doc);
    test_write_failures(doc);
    cJSON_Delete(doc);
    TEST_DONE();
}
