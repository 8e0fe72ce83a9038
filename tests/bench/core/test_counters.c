/* SPDX-License-Identifier: MIT */
/*
 * test_counters.c: the counters module. With PAPI and libsde, a real PAPI event set reads the
 * pool's software-defined event sde:::owbench::regions and must return exactly the number of
 * regions run. Events PAPI cannot count become {"na": reason} with a non-empty reason while the
 * others are still counted; rusage deltas are present and page faults grow when fresh memory is
 * touched; malformed lists are rejected; without PAPI every event says so.
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>

#include "bench/core/counters.h"
#include "bench/core/pool.h"
#include "owb_config.h"
#include "owb_test.h"

/* libsde 7.0 loses track of a copy of each registered counter name; that is its leak, not ours,
 * so LeakSanitizer (the address,undefined CI build) is told to ignore it in this test. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libsde.so\n";
}

#define TOUCH_BYTES (16u << 20)
#define PAGE 4096u

/* Every value is a number >= 0 or {"na": non-empty string}. */
static void check_shape(const cJSON *j)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, j)
    {
        if (cJSON_IsNumber(it)) {
            CHECK_MSG(it->valuedouble >= 0, "%s = %g", it->string, it->valuedouble);
        } else {
            const cJSON *na = cJSON_GetObjectItem(it, "na");
            CHECK_MSG(cJSON_IsString(na) && na->valuestring[0], "%s: neither a number nor na",
                      it->string);
        }
    }
    static const char *ru[] = {"rusage_nvcsw", "rusage_nivcsw", "rusage_minflt", "rusage_majflt"};
    for (size_t i = 0; i < OWB_ARRAY_LEN(ru); i++)
        CHECK_MSG(cJSON_IsNumber(cJSON_GetObjectItem(j, ru[i])), "%s missing", ru[i]);
}

static double num(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(j, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void test_default_and_rusage(void)
{
    char err[OWB_ERR_MAX] = "";
    struct owb_counters *c = owb_counters_new(NULL, 1, err);
    CHECK_MSG(c != NULL, "%s", err);
    if (!c)
        return;
    /* Touch fresh 4 KiB pages (no huge pages) inside the region: each costs a minor fault. */
    unsigned char *m =
        mmap(NULL, TOUCH_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED);
    if (m == MAP_FAILED) {
        owb_counters_free(c);
        return;
    }
    madvise(m, TOUCH_BYTES, MADV_NOHUGEPAGE);
    owb_counters_thread_start(c, 0);
    for (size_t off = 0; off < TOUCH_BYTES; off += PAGE)
        m[off] = (unsigned char)off;
    owb_counters_thread_stop(c, 0);
    munmap(m, TOUCH_BYTES);

    cJSON *j = owb_counters_to_json(c);
    CHECK(j != NULL);
    if (j) {
        check_shape(j);
        static const char *keys[] = {"PAPI_TOT_CYC", "PAPI_TOT_INS", "PAPI_L1_DCM", "PAPI_BR_MSP",
                                     "ipc"};
        for (size_t i = 0; i < OWB_ARRAY_LEN(keys); i++)
            CHECK_MSG(cJSON_GetObjectItem(j, keys[i]) != NULL, "%s missing", keys[i]);
        CHECK(cJSON_GetObjectItem(j, "PAPI_L3_TCM") ||
              cJSON_GetObjectItem(j, "perf::LLC-LOAD-MISSES"));
        double minflt = num(j, "rusage_minflt");
        CHECK_MSG(minflt >= 0.9 * (TOUCH_BYTES / PAGE), "minor faults %g for %u fresh pages",
                  minflt, TOUCH_BYTES / PAGE);
        cJSON *cyc = cJSON_GetObjectItem(j, "PAPI_TOT_CYC");
        const char *miss = owb_counters_missing_summary(c);
        if (!cJSON_IsNumber(cyc)) {
            /* No PMU here (or no PAPI): the summary names the event and the reason. */
            CHECK_MSG(miss && strstr(miss, "PAPI_TOT_CYC"), "summary '%s'", miss ? miss : "");
            CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "ipc"), "na") != NULL);
            if (!OWB_HAVE_PAPI)
                CHECK(!strcmp(cJSON_GetObjectItem(cyc, "na")->valuestring, "built without PAPI"));
            fprintf(stderr, "note: %s\n", miss ? miss : "");
        } else {
            CHECK(cyc->valuedouble > 0);
        }
        cJSON_Delete(j);
    }

    /* Same counters, an empty region: far fewer faults than the touched one. */
    owb_counters_reset(c);
    owb_counters_thread_start(c, 0);
    owb_counters_thread_stop(c, 0);
    j = owb_counters_to_json(c);
    if (j) {
        CHECK_MSG(num(j, "rusage_minflt") < 0.5 * (TOUCH_BYTES / PAGE), "idle faults %g",
                  num(j, "rusage_minflt"));
        cJSON_Delete(j);
    }
    owb_counters_free(c);
}

static void test_lists(void)
{
    char err[OWB_ERR_MAX] = "";
    struct owb_counters *c = owb_counters_new("none", 2, err);
    CHECK_MSG(c != NULL, "%s", err);
    if (c) {
        cJSON *j = owb_counters_to_json(c);
        CHECK(cJSON_GetArraySize(j) == 4); /* rusage only */
        CHECK(owb_counters_missing_summary(c) == NULL);
        cJSON_Delete(j);
        owb_counters_free(c);
    }
    c = owb_counters_new("PAPI_TOT_CYC,,PAPI_TOT_INS", 1, err);
    CHECK(c == NULL);
    CHECK_MSG(strstr(err, "item 2") != NULL, "%s", err);
    c = owb_counters_new("PAPI_TOT_CYC, PAPI_TOT_CYC", 1, err);
    CHECK(c == NULL);
    CHECK_MSG(strstr(err, "twice") != NULL, "%s", err);
    c = owb_counters_new("A|", 1, err);
    CHECK(c == NULL);
    c = owb_counters_new("PAPI_TOT_CYC", 0, err);
    CHECK(c == NULL);

    /* An unknown event is na with a reason, and the run goes on. */
    c = owb_counters_new("OWB_NO_SUCH_EVENT", 1, err);
    CHECK_MSG(c != NULL, "%s", err);
    if (c) {
        owb_counters_thread_start(c, 0);
        owb_counters_thread_stop(c, 0);
        cJSON *j = owb_counters_to_json(c);
        cJSON *na = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "OWB_NO_SUCH_EVENT"), "na");
        CHECK(cJSON_IsString(na) && na->valuestring[0]);
        CHECK(owb_counters_missing_summary(c) != NULL);
        long long v;
        CHECK(owb_counters_value(c, "OWB_NO_SUCH_EVENT", &v) == OWB_E_UNSUPPORTED);
        cJSON_Delete(j);
        owb_counters_free(c);
    }
}

struct region_ctx {
    struct owb_counters *c;
    unsigned char *mem[2]; /* (TOUCH_BYTES) fresh mapping per worker */
};

/* Each worker counts itself while touching its own fresh pages. */
static void counted_region(void *arg, int tid, int nthreads)
{
    struct region_ctx *r = arg;
    (void)nthreads;
    owb_counters_thread_start(r->c, tid);
    if (r->mem[tid])
        for (size_t off = 0; off < TOUCH_BYTES; off += PAGE)
            r->mem[tid][off] = 1;
    owb_counters_thread_stop(r->c, tid);
}

static void test_pool_region(void)
{
    char err[OWB_ERR_MAX] = "";
    struct owb_pool *p = owb_pool_new(2, NULL, err);
    CHECK_MSG(p != NULL, "%s", err);
    struct owb_counters *c = owb_counters_new(NULL, 2, err);
    CHECK_MSG(c != NULL, "%s", err);
    struct region_ctx r = {c, {NULL, NULL}};
    for (int i = 0; i < 2; i++) {
        void *m =
            mmap(NULL, TOUCH_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CHECK(m != MAP_FAILED);
        if (m != MAP_FAILED) {
            madvise(m, TOUCH_BYTES, MADV_NOHUGEPAGE);
            r.mem[i] = m;
        }
    }
    if (p && c && r.mem[0] && r.mem[1]) {
        owb_pool_run(p, counted_region, &r);
        cJSON *j = owb_counters_to_json(c);
        check_shape(j);
        /* Per-thread rusage deltas are summed: both workers' faults are in the total. */
        CHECK_MSG(num(j, "rusage_minflt") >= 2 * 0.9 * (TOUCH_BYTES / PAGE),
                  "minor faults %g for 2 x %u fresh pages", num(j, "rusage_minflt"),
                  TOUCH_BYTES / PAGE);
        cJSON_Delete(j);
    }
    for (int i = 0; i < 2; i++)
        if (r.mem[i])
            munmap(r.mem[i], TOUCH_BYTES);
    owb_counters_free(c);
    owb_pool_free(p);
}

#if OWB_HAVE_SDE
static void noop(void *ctx, int tid, int nthreads)
{
    (void)ctx;
    (void)tid;
    (void)nthreads;
}
#endif

static void test_sde(void)
{
#if OWB_HAVE_SDE
    char err[OWB_ERR_MAX] = "";
    const int K = 37;
    /* A hardware event PAPI may not have here, the SDE event, and a bogus one in one list: the
     * SDE count must be exact whatever happens to the others. */
    struct owb_counters *c =
        owb_counters_new("PAPI_TOT_CYC," OWB_POOL_SDE_REGIONS ",OWB_NO_SUCH_EVENT", 1, err);
    CHECK_MSG(c != NULL, "%s", err);
    struct owb_pool *p = owb_pool_new(2, NULL, err);
    CHECK_MSG(p != NULL, "%s", err);
    if (!c || !p) {
        owb_counters_free(c);
        owb_pool_free(p);
        return;
    }
    owb_counters_thread_start(c, 0);
    for (int i = 0; i < K; i++)
        owb_pool_run(p, noop, NULL);
    owb_counters_thread_stop(c, 0);
    long long v = -1;
    int rc = owb_counters_value(c, OWB_POOL_SDE_REGIONS, &v);
    CHECK_MSG(rc == OWB_OK, "SDE event not counted: %s",
              owb_counters_missing_summary(c) ? owb_counters_missing_summary(c) : "?");
    CHECK_MSG(v == K, "PAPI read %lld regions, ran %d", v, K);
    cJSON *j = owb_counters_to_json(c);
    check_shape(j);
    CHECK(num(j, OWB_POOL_SDE_REGIONS) == K);
    cJSON_Delete(j);

    /* A second measurement after reset counts only its own regions. */
    owb_counters_reset(c);
    owb_counters_thread_start(c, 0);
    for (int i = 0; i < 5; i++)
        owb_pool_run(p, noop, NULL);
    owb_counters_thread_stop(c, 0);
    CHECK(owb_counters_value(c, OWB_POOL_SDE_REGIONS, &v) == OWB_OK && v == 5);
    owb_counters_free(c);

    /* Per-worker event sets inside a pool region: each worker's set reads the process-wide SDE
     * counter, and no region completes while they count, so every delta is 0. */
    c = owb_counters_new(OWB_POOL_SDE_REGIONS, 2, err);
    CHECK_MSG(c != NULL, "%s", err);
    if (c) {
        struct region_ctx r = {c, {NULL, NULL}};
        owb_pool_run(p, counted_region, &r);
        CHECK(owb_counters_value(c, OWB_POOL_SDE_REGIONS, &v) == OWB_OK && v == 0);
        j = owb_counters_to_json(c);
        check_shape(j);
        cJSON_Delete(j);
        owb_counters_free(c);
    }
    owb_pool_free(p);
#else
    fprintf(stderr, "built without PAPI SDE: the SDE read is not tested\n");
#endif
}

static void test_papi_status(void)
{
    bool compiled = false, active = false;
    char why[OWB_ERR_MAX] = "";
    owb_counters_papi_status(&compiled, &active, why);
    CHECK(compiled == (OWB_HAVE_PAPI != 0));
    CHECK(why[0] != '\0');
    if (!OWB_HAVE_PAPI)
        CHECK(!active && !strcmp(why, "built without PAPI"));
    fprintf(stderr, "papi: compiled %d active %d: %s\n", compiled, active, why);
}

int main(void)
{
    test_default_and_rusage();
    test_lists();
    test_pool_region();
    test_sde();
    test_papi_status();
    TEST_DONE();
}
