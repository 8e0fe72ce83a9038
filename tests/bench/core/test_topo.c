/* SPDX-License-Identifier: MIT */
/*
 * test_topo.c: pinning policies on hwloc synthetic topologies against CPU lists written out by
 * hand, the errors of bad policies and thread counts, the JSON tree, and (always, also without
 * hwloc) the topology of this machine against sched_getaffinity and the env object.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "bench/core/env.h"
#include "bench/core/topo.h"
#include "owb_config.h"
#include "owb_test.h"

#define MAXPU 256

/* Plan `policy` for nthreads and compare with want[0..nwant). */
static void check_plan(const struct owb_topo *t, const char *policy, int nthreads, const int *want,
                       int nwant)
{
    int cpus[MAXPU], n = -1;
    char err[OWB_ERR_MAX] = "";
    int rc = owb_topo_pin_plan(t, policy, nthreads, cpus, &n, err);
    CHECK_MSG(rc == OWB_OK, "policy %s threads %d: %s", policy, nthreads, err);
    if (rc != OWB_OK)
        return;
    CHECK_MSG(n == nwant, "policy %s threads %d: %d CPUs, want %d", policy, nthreads, n, nwant);
    for (int i = 0; i < n && i < nwant; i++)
        CHECK_MSG(cpus[i] == want[i], "policy %s threads %d: cpus[%d] = %d, want %d", policy,
                  nthreads, i, cpus[i], want[i]);
}

/* The plan must fail with OWB_E_USAGE and a message containing every needle. */
static void check_plan_error(const struct owb_topo *t, const char *policy, int nthreads,
                             const char *needle1, const char *needle2)
{
    int cpus[MAXPU], n = -1;
    char err[OWB_ERR_MAX] = "";
    int rc = owb_topo_pin_plan(t, policy, nthreads, cpus, &n, err);
    CHECK_MSG(rc == OWB_E_USAGE, "policy '%s' threads %d: rc %d, want OWB_E_USAGE", policy,
              nthreads, rc);
    CHECK_MSG(needle1 == NULL || strstr(err, needle1), "policy '%s': '%s' lacks '%s'", policy, err,
              needle1);
    CHECK_MSG(needle2 == NULL || strstr(err, needle2), "policy '%s': '%s' lacks '%s'", policy, err,
              needle2);
}

static void test_small(void)
{
    char err[OWB_ERR_MAX] = "";
    /* One package, 4 cores of 2 PUs: core c holds PUs 2c and 2c+1. */
    struct owb_topo *t = owb_topo_new("pack:1 core:4 pu:2", err);
    CHECK_MSG(t != NULL, "%s", err);
    if (!t)
        return;
    CHECK(owb_topo_npus(t) == 8);
    CHECK(owb_topo_ncores(t) == 4);
    CHECK(owb_topo_npackages(t) == 1);

    static const int compact[] = {0, 2, 4, 6, 1, 3, 5, 7};
    check_plan(t, "compact", 0, compact, 8);
    check_plan(t, "compact", 3, compact, 3);
    check_plan(t, "compact", 5, compact, 5); /* 4 cores, then the first SMT sibling */
    check_plan(t, "scatter", 0, compact, 8); /* one package/NUMA/no L3: round-robin over cores */
    check_plan(t, "numa:0", 0, compact, 8);
    static const int lst[] = {0, 2, 4, 5, 6, 7};
    check_plan(t, "list:0,2,4-7", 0, lst, 6);
    check_plan(t, "list:0,2,4-7", 2, lst, 2);
    static const int rev[] = {7, 3, 1};
    check_plan(t, "list:7,3,1", 0, rev, 3);
    static const int none[] = {-1, -1, -1};
    check_plan(t, "none", 3, none, 3);

    check_plan_error(t, "compact", 9, "--threads 9 exceeds the 8 PUs of policy compact", NULL);
    check_plan_error(t, "list:0,2", 3, "--threads 3", "2 PUs of policy list:0,2");
    check_plan_error(t, "none", 9, "--threads 9", "none");
    check_plan_error(t, "numa:1", 0, "numa:1", "out of range");
    check_plan_error(t, "numa:x", 0, "numa:x", NULL);
    check_plan_error(t, "numa:", 0, "numa:", NULL);
    check_plan_error(t, "list:5-3", 0, "list:5-3", "5-3");
    check_plan_error(t, "list:1,,2", 0, "list:1,,2", NULL);
    check_plan_error(t, "list:", 0, "list:", "empty");
    check_plan_error(t, "list:1,a", 0, "list:1,a", "'a'");
    check_plan_error(t, "list:1,1", 0, "CPU 1", "twice");
    check_plan_error(t, "list:3,8", 0, "CPU 8", "usable");
    check_plan_error(t, "list:0-100", 0, "list:0-100", NULL);
    check_plan_error(t, "spread", 0, "'spread'", "compact");
    check_plan_error(t, "compact", -1, "-1", NULL);

    char buf[64];
    int a[] = {0, 1, 2, 3, 8, 10, 11};
    CHECK(!strcmp(owb_cpulist_format(a, 7, buf, sizeof buf), "0-3,8,10-11"));
    int b[] = {0, 4, 2};
    CHECK(!strcmp(owb_cpulist_format(b, 3, buf, sizeof buf), "0,4,2"));
    owb_cpulist_format(a, 7, buf, 8);
    CHECK_MSG(strlen(buf) < 8 && strstr(buf, "..."), "truncated list '%s'", buf);
    owb_topo_free(t);
}

static void test_big(void)
{
    char err[OWB_ERR_MAX] = "";
    /* 2 packages x 2 NUMA nodes x 2 L3 (8 MiB) x 4 cores x 2 PUs: core c = 16*pack + 8*numa +
     * 4*l3 + k holds PUs 2c and 2c+1. */
    struct owb_topo *t =
        owb_topo_new("pack:2 numa:2(memory=1073741824) l3:2(size=8388608) core:4 pu:2", err);
    CHECK_MSG(t != NULL, "%s", err);
    if (!t)
        return;
    CHECK(owb_topo_npus(t) == 64);
    CHECK(owb_topo_ncores(t) == 32);
    CHECK(owb_topo_npackages(t) == 2);
    CHECK(owb_topo_nnuma(t) == 4);
    CHECK_MSG(owb_topo_llc_bytes(t) == (size_t)8 * 8388608, "llc %zu", owb_topo_llc_bytes(t));

    static const int compact[64] = {0,  2,  4,  6,  8,  10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30,
                                    32, 34, 36, 38, 40, 42, 44, 46, 48, 50, 52, 54, 56, 58, 60, 62,
                                    1,  3,  5,  7,  9,  11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31,
                                    33, 35, 37, 39, 41, 43, 45, 47, 49, 51, 53, 55, 57, 59, 61, 63};
    check_plan(t, "compact", 0, compact, 64);
    check_plan(t, "compact", 4, compact, 4);
    /* Round-robin: package, then NUMA node in the package, then L3 in the node, then core. */
    static const int scatter[64] = {0, 32, 16, 48, 8,  40, 24, 56, 2, 34, 18, 50, 10, 42, 26, 58,
                                    4, 36, 20, 52, 12, 44, 28, 60, 6, 38, 22, 54, 14, 46, 30, 62,
                                    1, 33, 17, 49, 9,  41, 25, 57, 3, 35, 19, 51, 11, 43, 27, 59,
                                    5, 37, 21, 53, 13, 45, 29, 61, 7, 39, 23, 55, 15, 47, 31, 63};
    check_plan(t, "scatter", 0, scatter, 64);
    check_plan(t, "scatter", 6, scatter, 6);
    /* NUMA node 1 is package 0's second node: cores 8-15. */
    static const int numa1[16] = {16, 18, 20, 22, 24, 26, 28, 30, 17, 19, 21, 23, 25, 27, 29, 31};
    check_plan(t, "numa:1", 0, numa1, 16);
    static const int numa3[3] = {48, 50, 52};
    check_plan(t, "numa:3", 3, numa3, 3);
    static const int lst[5] = {63, 0, 31, 32, 33};
    check_plan(t, "list:63,0,31-33", 0, lst, 5);

    check_plan_error(t, "numa:4", 0, "numa:4", "4 NUMA nodes");
    check_plan_error(t, "numa:1", 17, "--threads 17 exceeds the 16 PUs of policy numa:1", NULL);
    check_plan_error(t, "scatter", 65, "--threads 65 exceeds the 64 PUs of policy scatter", NULL);

    /* JSON: summary counts and the tree's shape. */
    cJSON *j = owb_topo_to_json(t);
    CHECK(j != NULL);
    if (j) {
        CHECK(cJSON_GetObjectItem(j, "pus")->valuedouble == 64);
        CHECK(cJSON_GetObjectItem(j, "cores")->valuedouble == 32);
        CHECK(cJSON_GetObjectItem(j, "l3_domains")->valuedouble == 8);
        CHECK(cJSON_GetObjectItem(j, "l2_domains")->valuedouble == 0); /* no L2 level given */
        CHECK(cJSON_GetObjectItem(j, "smt_per_core")->valuedouble == 2);
        cJSON *l3 = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "caches"), "l3");
        CHECK(cJSON_GetObjectItem(l3, "size_bytes")->valuedouble == 8388608);
        CHECK(cJSON_GetObjectItem(l3, "count")->valuedouble == 8);
        cJSON *numa = cJSON_GetObjectItem(j, "numa");
        CHECK(cJSON_GetArraySize(numa) == 4);
        cJSON *n1 = cJSON_GetArrayItem(numa, 1);
        CHECK(cJSON_GetObjectItem(n1, "memory_bytes")->valuedouble == 1073741824.0);
        CHECK(!strcmp(cJSON_GetObjectItem(n1, "cpus")->valuestring, "16-31"));
        cJSON *tree = cJSON_GetObjectItem(j, "packages_tree");
        CHECK(cJSON_GetArraySize(tree) == 2);
        cJSON *p1 = cJSON_GetArrayItem(tree, 1);
        cJSON *nn = cJSON_GetObjectItem(p1, "numa_nodes");
        CHECK(cJSON_GetArraySize(nn) == 2);
        cJSON *l3s = cJSON_GetObjectItem(cJSON_GetArrayItem(nn, 0), "l3");
        CHECK(cJSON_GetArraySize(l3s) == 2);
        cJSON *cores = cJSON_GetObjectItem(cJSON_GetArrayItem(l3s, 1), "cores");
        CHECK(cJSON_GetArraySize(cores) == 4);
        cJSON *pus = cJSON_GetObjectItem(cJSON_GetArrayItem(cores, 0), "pus");
        /* package 1, node 0, second L3, first core: core 20 → PUs 40, 41 */
        CHECK(cJSON_GetArraySize(pus) == 2 && cJSON_GetArrayItem(pus, 0)->valuedouble == 40 &&
              cJSON_GetArrayItem(pus, 1)->valuedouble == 41);
        cJSON_Delete(j);
    }
    owb_topo_free(t);

    /* An invalid description is a usage error naming it. */
    struct owb_topo *bad = NULL;
    int rc = owb_topo_load("pack:two", &bad, err);
    CHECK(rc == OWB_E_USAGE && bad == NULL);
    CHECK_MSG(strstr(err, "pack:two") != NULL, "%s", err);
}

static void test_l2(void)
{
    char err[OWB_ERR_MAX] = "";
    /* Two L2 groups of two cores under one L3: cores 0-1 share L2 #0, cores 2-3 L2 #1. */
    struct owb_topo *t = owb_topo_new("pack:1 l3:1 l2:2 core:2 pu:1", err);
    CHECK_MSG(t != NULL, "%s", err);
    if (!t)
        return;
    cJSON *j = owb_topo_to_json(t);
    CHECK(cJSON_GetObjectItem(j, "l2_domains")->valuedouble == 2);
    cJSON *tree = cJSON_GetObjectItem(j, "packages_tree");
    cJSON *l3 = cJSON_GetArrayItem(
        cJSON_GetObjectItem(
            cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(tree, 0), "numa_nodes"), 0),
            "l3"),
        0);
    cJSON *cores = cJSON_GetObjectItem(l3, "cores");
    CHECK(cJSON_GetArraySize(cores) == 4);
    static const int want_l2[4] = {0, 0, 1, 1};
    for (int i = 0; i < 4 && i < cJSON_GetArraySize(cores); i++)
        CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(cores, i), "l2")->valuedouble == want_l2[i]);
    cJSON_Delete(j);
    owb_topo_free(t);
}

/* The bytes a buffer spans to be read from memory: 4x the LLC, capped at 1/16 of memory (a VM
 * that reports 508 MiB of L3 per vCPU), at least 64 MiB; sweep_bytes in the JSON too. */
static void test_sweep(void)
{
    static const struct {
        const char *desc;
        size_t want;
    } cases[] = {
        /* 4 x 32 MiB under 16 GiB / 16 */
        {"pack:1 numa:1(memory=17179869184) l3:1(size=33554432) core:2 pu:1", (size_t)128 << 20},
        /* 4 x 2 x 508 MiB capped at 24 GiB / 16 */
        {"pack:1 numa:1(memory=25769803776) l3:2(size=532676608) core:1 pu:1", (size_t)1536 << 20},
        /* 4 x 8 MiB raised to 64 MiB */
        {"pack:1 numa:1(memory=17179869184) l3:1(size=8388608) core:2 pu:1", (size_t)64 << 20},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[OWB_ERR_MAX] = "";
        struct owb_topo *t = owb_topo_new(cases[i].desc, err);
        CHECK_MSG(t != NULL, "%s: %s", cases[i].desc, err);
        if (!t)
            continue;
        CHECK_MSG(owb_topo_sweep_bytes(t) == cases[i].want, "%s: sweep %zu, want %zu",
                  cases[i].desc, owb_topo_sweep_bytes(t), cases[i].want);
        cJSON *j = owb_topo_summary_json(t);
        CHECK(j && cJSON_GetObjectItem(j, "sweep_bytes") &&
              cJSON_GetObjectItem(j, "sweep_bytes")->valuedouble == (double)cases[i].want);
        cJSON_Delete(j);
        owb_topo_free(t);
    }
}

/* OWB_SWEEP_BYTES replaces this machine's sweep (not a synthetic topology's); a bad value is a
 * usage error naming the variable. */
static void test_sweep_env(void)
{
    const char *was = getenv("OWB_SWEEP_BYTES");
    char *saved = was ? strdup(was) : NULL;
    char err[OWB_ERR_MAX] = "";
    static const struct {
        const char *v;
        size_t want; /* 0: refused */
    } cases[] = {{"256M", (size_t)256 << 20},
                 {"3g", (size_t)3 << 30},
                 {"65536K", (size_t)64 << 20},
                 {"67108864", (size_t)64 << 20},
                 {"2048K", 0},
                 {"67108863", 0},
                 {"17", 0},
                 {"abc", 0},
                 {"12Q", 0},
                 {"-5M", 0},
                 {"0", 0},
                 {"5MX", 0},
                 {"80MiB", (size_t)80 << 20},
                 {"99999999999999999999G", 0}};
    for (size_t i = 0; i < OWB_ARRAY_LEN(cases); i++) {
        setenv("OWB_SWEEP_BYTES", cases[i].v, 1);
        struct owb_topo *t = NULL;
        err[0] = 0;
        int rc = owb_topo_load(NULL, &t, err);
        if (cases[i].want) {
            CHECK_MSG(rc == OWB_OK && t, "%s: %s", cases[i].v, err);
            CHECK_MSG(t && owb_topo_sweep_bytes(t) == cases[i].want, "%s: sweep %zu", cases[i].v,
                      t ? owb_topo_sweep_bytes(t) : 0);
        } else {
            CHECK_MSG(rc == OWB_E_USAGE && !t, "%s: rc %d", cases[i].v, rc);
            CHECK_MSG(strstr(err, "OWB_SWEEP_BYTES") && strstr(err, cases[i].v), "%s: '%s'",
                      cases[i].v, err);
        }
        owb_topo_free(t);
    }
    if (OWB_HAVE_HWLOC) { /* a synthetic topology is another machine: its own sweep */
        setenv("OWB_SWEEP_BYTES", "100M", 1);
        struct owb_topo *t =
            owb_topo_new("pack:1 numa:1(memory=17179869184) l3:1(size=33554432) core:2 pu:1", err);
        CHECK(t && owb_topo_sweep_bytes(t) == (size_t)128 << 20);
        owb_topo_free(t);
    }
    if (saved)
        setenv("OWB_SWEEP_BYTES", saved, 1);
    else
        unsetenv("OWB_SWEEP_BYTES");
    free(saved);
}

static void test_machine(void)
{
    char err[OWB_ERR_MAX] = "";
    struct owb_topo *t = owb_topo_new(NULL, err);
    CHECK_MSG(t != NULL, "%s", err);
    if (!t)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
    int want = CPU_COUNT(&set);
    CHECK_MSG(owb_topo_npus(t) == want, "npus %d, affinity %d", owb_topo_npus(t), want);
    CHECK(owb_topo_ncores(t) >= 1 && owb_topo_ncores(t) <= owb_topo_npus(t));
    CHECK(owb_topo_llc_bytes(t) > 0);
    CHECK(owb_topo_from_hwloc(t) == OWB_HAVE_HWLOC);

    /* Every policy's plan is a set of distinct CPUs this process may use. */
    const char *pols[] = {"compact", "scatter", "numa:0"};
    for (size_t k = 0; k < OWB_ARRAY_LEN(pols); k++) {
        int cpus[MAXPU], n = 0;
        int rc = owb_topo_pin_plan(t, pols[k], 0, cpus, &n, err);
        CHECK_MSG(rc == OWB_OK, "%s: %s", pols[k], err);
        CHECK_MSG(k == 2 || n == want, "%s: %d CPUs", pols[k], n);
        for (int i = 0; i < n; i++) {
            CHECK(cpus[i] >= 0 && CPU_ISSET(cpus[i], &set));
            for (int j = 0; j < i; j++)
                CHECK(cpus[i] != cpus[j]);
        }
    }
    char pol[64];
    snprintf(pol, sizeof pol, "compact");
    check_plan_error(t, pol, want + 1, "exceeds", "policy compact");
    check_plan_error(t, "list:9-", 0, "list:9-", NULL);

    /* The synthetic path needs hwloc; without it the error says so. */
    struct owb_topo *s = NULL;
    int rc = owb_topo_load("pack:1 core:2 pu:1", &s, err);
    if (OWB_HAVE_HWLOC) {
        CHECK_MSG(rc == OWB_OK && s, "%s", err);
    } else {
        CHECK(rc == OWB_E_UNSUPPORTED && s == NULL);
        CHECK_MSG(strstr(err, "hwloc") != NULL, "%s", err);
    }
    owb_topo_free(s);

    /* The env object carries this topology and what was compiled in. */
    cJSON *env = owb_env_collect(t);
    CHECK(env != NULL);
    if (env) {
        CHECK(cJSON_IsString(cJSON_GetObjectItem(env, "host")));
        CHECK(cJSON_IsString(cJSON_GetObjectItem(cJSON_GetObjectItem(env, "os"), "release")));
        cJSON *topo = cJSON_GetObjectItem(env, "topology");
        CHECK(cJSON_GetObjectItem(topo, "pus")->valuedouble == want);
        CHECK(cJSON_GetObjectItem(topo, "packages_tree") == NULL); /* summary only */
        cJSON *feat = cJSON_GetObjectItem(env, "features");
        const char *names[] = {"hwloc", "papi", "cuda", "mpi", "curl"};
        const int compiled[] = {OWB_HAVE_HWLOC, OWB_HAVE_PAPI, OWB_HAVE_CUDA, OWB_HAVE_MPI,
                                OWB_HAVE_CURL};
        for (size_t k = 0; k < OWB_ARRAY_LEN(names); k++) {
            cJSON *f = cJSON_GetObjectItem(feat, names[k]);
            CHECK_MSG(f != NULL, "features.%s missing", names[k]);
            if (!f)
                continue;
            CHECK_MSG(cJSON_IsTrue(cJSON_GetObjectItem(f, "compiled")) == compiled[k],
                      "features.%s.compiled", names[k]);
            cJSON *r = cJSON_GetObjectItem(f, "reason");
            CHECK_MSG(cJSON_IsString(r) && r->valuestring[0], "features.%s.reason", names[k]);
            if (!compiled[k])
                CHECK(cJSON_IsFalse(cJSON_GetObjectItem(f, "active")));
        }
        CHECK(cJSON_IsArray(cJSON_GetObjectItem(env, "gpus")));
        cJSON *freq = cJSON_GetObjectItem(env, "frequency");
        CHECK(cJSON_IsObject(freq));
        cJSON *flags = cJSON_GetObjectItem(cJSON_GetObjectItem(env, "cpu"), "flags");
        CHECK(flags != NULL);
#if defined(__x86_64__)
        /* Every x86-64 CPU has SSE2, and the filter keeps it. */
        int sse2 = 0;
        cJSON *fl;
        cJSON_ArrayForEach(fl, flags) sse2 |=
            cJSON_IsString(fl) && !strcmp(fl->valuestring, "sse2");
        CHECK(sse2);
#endif
        cJSON_Delete(env);
    }
    owb_topo_free(t);
}

int main(void)
{
    if (OWB_HAVE_HWLOC) {
        test_small();
        test_big();
        test_l2();
        test_sweep();
    } else {
        fprintf(stderr, "built without hwloc: synthetic topologies skipped\n");
    }
    test_machine();
    test_sweep_env();
    TEST_DONE();
}
