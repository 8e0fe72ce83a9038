/* SPDX-License-Identifier: MIT */
/*
 * test_schema.c: documents written by results/result.h (with a hand-built env and with the real
 * one from bench/core/env.c, pinning, counters, NaN stats, an eval) validate against
 * results/owbench.result.schema.json with python3-jsonschema; broken variants (wrong schema
 * major, mistyped stats, bad counter, env not an object, missing benchmarks) are rejected, so the
 * schema really constrains. Skips (77) when python3 or its jsonschema module is missing.
 */
#define _GNU_SOURCE /* mkdtemp */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "bench/core/env.h"
#include "owb_test.h"
#include "results/result.h"

static char tmpdir[4096], schema[4096], checker[4200];

static const char check_py[] =
    "import json, sys\n"
    "import jsonschema\n"
    "schema = json.load(open(sys.argv[1]))\n"
    "cls = jsonschema.validators.validator_for(schema)\n"
    "cls.check_schema(schema)\n"
    "doc = json.load(open(sys.argv[2]))\n"
    "errs = sorted(cls(schema).iter_errors(doc), key=lambda e: list(e.path))\n"
    "for e in errs[:3]:\n"
    "    print('%s: %s: %s' % (sys.argv[2], '/'.join(str(p) for p in e.path), e.message[:200]))\n"
    "sys.exit(1 if errs else 0)\n";

/* 0 valid, 1 invalid, other: the checker failed. */
static int run_check(const char *doc_path)
{
    char cmd[12800];
    snprintf(cmd, sizeof cmd, "python3 '%s' '%s' '%s' >&2", checker, schema, doc_path);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_doc(const cJSON *doc, const char *name, char *path, size_t n)
{
    char err[OWB_ERR_MAX];
    snprintf(path, n, "%s/%s", tmpdir, name);
    CHECK_MSG(owb_result_write(doc, path, err) == 0, "%s", err);
}

static cJSON *build_doc(void)
{
    char *argv[] = {"owbench", "stream"};
    cJSON *doc = owb_result_new(2, argv);
    cJSON *env = cJSON_GetObjectItemCaseSensitive(doc, "env");
    cJSON_AddStringToObject(env, "host", "box");
    cJSON *os = cJSON_AddObjectToObject(env, "os");
    cJSON_AddStringToObject(os, "sysname", "Linux");
    cJSON_AddStringToObject(os, "release", "6.1.0");
    cJSON *cpu = cJSON_AddObjectToObject(env, "cpu");
    cJSON_AddStringToObject(cpu, "model", "Test CPU");
    const char *flags[] = {"avx2", "fma"};
    cJSON_AddItemToObject(cpu, "flags", cJSON_CreateStringArray(flags, 2));
    cJSON *freq = cJSON_AddObjectToObject(env, "frequency");
    cJSON *na = cJSON_AddObjectToObject(freq, "governor");
    cJSON_AddStringToObject(na, "na", "no cpufreq");
    cJSON *feat = cJSON_AddObjectToObject(env, "features");
    cJSON *hw = cJSON_AddObjectToObject(feat, "hwloc");
    cJSON_AddBoolToObject(hw, "compiled", 1);
    cJSON_AddBoolToObject(hw, "active", 1);
    cJSON_AddStringToObject(hw, "reason", "");
    cJSON_AddArrayToObject(env, "gpus");

    cJSON *b = owb_result_add_benchmark(doc, "stream/triad/t2", "stream");
    double v[8] = {100, 101, 99, 102, 98, 100, 103, 97};
    owb_result_set_samples(b, "ns", v, 8);
    owb_result_param_num(b, "threads", 2);
    owb_result_metric(b, "gb_per_s", 20.5);
    owb_result_metric(b, "pct_of_ceiling", (double)NAN);
    cJSON *pin = cJSON_GetObjectItemCaseSensitive(b, "pinning");
    cJSON_AddStringToObject(pin, "policy", "compact");
    const int cpus[] = {0, 1};
    cJSON_AddItemToObject(pin, "requested", cJSON_CreateIntArray(cpus, 2));
    cJSON_AddItemToObject(pin, "observed_before", cJSON_CreateIntArray(cpus, 2));
    cJSON_AddItemToObject(pin, "observed_after", cJSON_CreateIntArray(cpus, 2));
    cJSON_AddBoolToObject(pin, "migrated", 0);
    cJSON *c = cJSON_GetObjectItemCaseSensitive(b, "counters");
    cJSON_AddNumberToObject(c, "PAPI_TOT_INS", 1e9);
    cJSON *cna = cJSON_AddObjectToObject(c, "PAPI_L3_TCM");
    cJSON_AddStringToObject(cna, "na", "not supported");

    /* One sample: stddev is NaN -> null, n < 5 -> invalid with a note. */
    cJSON *b1 = owb_result_add_benchmark(doc, "stream/copy/t1", "stream");
    double one = 5;
    owb_result_set_samples(b1, "ns", &one, 1);
    owb_result_add_benchmark(doc, "empty/none", "test"); /* no samples at all: stats all null */

    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", "ppl/tiny");
    cJSON_AddStringToObject(e, "metric", "perplexity");
    cJSON_AddNumberToObject(e, "value", 9.5);
    cJSON_AddNumberToObject(e, "n", 100);
    cJSON_AddNullToObject(e, "items_file");
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(doc, "evals"), e);
    return doc;
}

int main(void)
{
    if (system("python3 -c 'import jsonschema' >/dev/null 2>&1") != 0)
        SKIP("python3 with the jsonschema module (Debian: python3-jsonschema) is needed");
    const char *src = getenv("OWB_SRC");
    const char *root = getenv("OWB_TMP");
    if (!src || !*src)
        src = "..";
    if (!root || !*root)
        root = "/tmp";
    snprintf(schema, sizeof schema, "%s/results/owbench.result.schema.json", src);
    snprintf(tmpdir, sizeof tmpdir, "%s/schema.XXXXXX", root);
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "mkdtemp %s: %s\n", tmpdir, strerror(errno));
        return 1;
    }
    snprintf(checker, sizeof checker, "%s/check.py", tmpdir);
    FILE *f = fopen(checker, "w");
    CHECK(f && fputs(check_py, f) >= 0);
    if (f)
        fclose(f);

    char path[4300];
    cJSON *doc = build_doc();
    write_doc(doc, "good.json", path, sizeof path);
    CHECK_MSG(run_check(path) == 0, "written document does not validate");

    /* The real environment block. */
    cJSON *real = cJSON_Duplicate(doc, 1);
    cJSON *env = owb_env_collect(NULL);
    CHECK(env != NULL);
    if (env)
        cJSON_ReplaceItemInObjectCaseSensitive(real, "env", env);
    write_doc(real, "real_env.json", path, sizeof path);
    CHECK_MSG(run_check(path) == 0, "document with owb_env_collect()'s env does not validate");
    cJSON_Delete(real);

    /* Broken variants must be rejected. */
    cJSON *v;

    v = cJSON_Duplicate(doc, 1);
    cJSON_ReplaceItemInObjectCaseSensitive(v, "schema", cJSON_CreateString("owbench.result/2"));
    write_doc(v, "major2.json", path, sizeof path);
    CHECK_MSG(run_check(path) == 1, "schema major 2 accepted");
    cJSON_Delete(v);

    v = cJSON_Duplicate(doc, 1);
    cJSON_ReplaceItemInObjectCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(v, "benchmarks"), 1), "stats",
        cJSON_CreateString("fast"));
    write_doc(v, "stats.json", path, sizeof path);
    CHECK_MSG(run_check(path) == 1, "string stats accepted");
    cJSON_Delete(v);

    v = cJSON_Duplicate(doc, 1);
    cJSON_AddStringToObject(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(v, "benchmarks"), 0), "counters"),
        "X", "lots");
    write_doc(v, "counter.json", path, sizeof path);
    CHECK_MSG(run_check(path) == 1, "string counter accepted");
    cJSON_Delete(v);

    v = cJSON_Duplicate(doc, 1);
    cJSON_ReplaceItemInObjectCaseSensitive(v, "env", cJSON_CreateArray());
    write_doc(v, "env.json", path, sizeof path);
    CHECK_MSG(run_check(path) == 1, "env array accepted");
    cJSON_Delete(v);

    v = cJSON_Duplicate(doc, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(v, "benchmarks");
    write_doc(v, "nobench.json", path, sizeof path);
    CHECK_MSG(run_check(path) == 1, "missing benchmarks accepted");
    cJSON_Delete(v);

    v = cJSON_Duplicate(doc, 1);
    cJSON *st = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(v, "benchmarks"), 0), "stats");
    cJSON_ReplaceItemInObjectCaseSensitive(st, "n", cJSON_CreateNumber(2.5));
    write_doc(v, "n.json", path, sizeof path);
    CHECK_MSG(run_check(path) == 1, "fractional stats.n accepted");
    cJSON_Delete(v);

    cJSON_Delete(doc);
    TEST_DONE();
}
