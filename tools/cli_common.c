/* SPDX-License-Identifier: MIT */
/* cli_common.c: output folder, result document and table printing shared by suite commands. */
#define _GNU_SOURCE
#include "tools/cli_common.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "owb_common.h"
#include "bench/core/counters.h"
#include "bench/core/env.h"
#include "bench/suites/stream.h"
#include "bench/core/topo.h"
#include "dist/ranks.h"
#include "kernels/backend.h"
#include "results/result.h"
#include "tools/cmds.h"

int owb_cli_parse_num(const char *s, int allow_pct, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v))
        return 0;
    if (allow_pct && *end == '%')
        end++;
    if (*end != '\0')
        return 0;
    *out = v;
    return 1;
}

void owb_cli_outdir(const char *dir, const char *cmd, char *out, size_t n)
{
    if (dir && *dir) {
        snprintf(out, n, "%s", dir);
        return;
    }
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(out, n, "results/runs/%s-%s", ts, cmd);
}

cJSON *owb_cli_result_new(const struct owb_topo *topo)
{
    cJSON *doc = owb_result_new(owb_argc, owb_argv);
    if (!doc)
        return NULL;
    cJSON *env = owb_env_collect(topo);
    if (env)
        cJSON_ReplaceItemInObject(doc, "env", env);
    return doc;
}

int owb_cli_write(const char *cmd, const cJSON *doc, const char *dir, const char *file)
{
    char path[4096], err[OWB_ERR_MAX] = "";
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int rc = owb_result_write(doc, path, err);
    if (rc) {
        fprintf(stderr, "owbench %s: %s\n", cmd, err);
        return OWB_EXIT_RUNTIME;
    }
    fprintf(stderr, "wrote %s\n", path);
    return 0;
}

static void tag_benchmarks(cJSON *benches, const char *host, int rank)
{
    cJSON *b = NULL;
    cJSON_ArrayForEach(b, benches)
    {
        cJSON *params = cJSON_GetObjectItemCaseSensitive(b, "params");
        if (!params)
            params = cJSON_AddObjectToObject(b, "params");
        if (!params)
            continue;
        cJSON_DeleteItemFromObjectCaseSensitive(params, "host");
        cJSON_DeleteItemFromObjectCaseSensitive(params, "rank");
        cJSON_AddStringToObject(params, "host", host);
        cJSON_AddNumberToObject(params, "rank", rank);
    }
}

void owb_cli_rank_outdir(char *outdir, size_t n)
{
    if (owb_ranks_size() < 2)
        return;
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", outdir);
    owb_ranks_bcast(buf, sizeof buf);
    if (owb_ranks_rank() == 0)
        snprintf(outdir, n, "%s", buf);
    else
        snprintf(outdir, n, "%.4000s/rank%d", buf, owb_ranks_rank());
}

int owb_cli_ranks_collect(cJSON *doc, const struct owb_topo *topo, int benchmarks,
                          char err[OWB_ERR_MAX])
{
    int size = owb_ranks_size(), rank = owb_ranks_rank(), rc = OWB_OK;
    size_t *lens = NULL;
    char *txt = NULL, *all = NULL;
    cJSON *mine = NULL;
    if (size < 2)
        return OWB_OK;
    lens = calloc((size_t)size, sizeof *lens);
    if (!lens) {
        /* Cannot take part in the gather: stop every rank rather than leave them waiting. */
        fprintf(stderr, "owbench: rank %d: out of memory gathering results\n", rank);
        owb_ranks_abort(OWB_EXIT_RUNTIME);
    }
    mine = cJSON_CreateObject();
    if (mine) {
        cJSON_AddNumberToObject(mine, "rank", rank);
        cJSON_AddStringToObject(mine, "host", owb_ranks_host());
        cJSON_AddItemToObject(mine, "env", owb_env_collect(topo));
        if (benchmarks && rank > 0 && doc) {
            cJSON *b = cJSON_GetObjectItemCaseSensitive(doc, "benchmarks");
            if (b)
                cJSON_AddItemToObject(mine, "benchmarks", cJSON_Duplicate(b, 1));
        }
        txt = cJSON_PrintUnformatted(mine);
    }
    /* Every rank takes part in the gather, even one that ran out of memory (it sends nothing). */
    rc = owb_ranks_gather(txt ? txt : "", txt ? strlen(txt) + 1 : 1, (void **)&all, lens);
    if (rank > 0)
        goto out;
    if (rc || !txt) {
        snprintf(err, OWB_ERR_MAX, "out of memory gathering the ranks' results");
        rc = OWB_E_NOMEM;
        goto out;
    }
    cJSON *ranks = cJSON_AddObjectToObject(doc, "ranks");
    cJSON *per = ranks ? cJSON_AddArrayToObject(ranks, "per_rank") : NULL;
    cJSON *benches = cJSON_GetObjectItemCaseSensitive(doc, "benchmarks");
    if (!per) {
        snprintf(err, OWB_ERR_MAX, "out of memory");
        rc = OWB_E_NOMEM;
        goto out;
    }
    cJSON_AddNumberToObject(ranks, "size", size);
    if (benchmarks && benches)
        tag_benchmarks(benches, owb_ranks_host(), 0);
    size_t off = 0;
    for (int r = 0; r < size; r++) {
        cJSON *one = lens[r] > 1 ? cJSON_ParseWithLength(all + off, lens[r]) : NULL;
        off += lens[r];
        if (!one) {
            snprintf(err, OWB_ERR_MAX, "rank %d sent no readable result (out of memory there?)", r);
            rc = OWB_E_FORMAT;
            goto out;
        }
        cJSON *b = cJSON_DetachItemFromObjectCaseSensitive(one, "benchmarks");
        if (b && benches) {
            const cJSON *host = cJSON_GetObjectItemCaseSensitive(one, "host");
            tag_benchmarks(b, cJSON_IsString(host) ? host->valuestring : "?", r);
            while (cJSON_GetArraySize(b) > 0)
                cJSON_AddItemToArray(benches, cJSON_DetachItemFromArray(b, 0));
        }
        cJSON_Delete(b);
        cJSON_AddItemToArray(per, one);
    }
out:
    free(all);
    free(lens);
    cJSON_free(txt);
    cJSON_Delete(mine);
    return rc;
}

int owb_cli_fail(const char *cmd, int rc, const char *msg)
{
    fprintf(stderr, "owbench %s: %s\n", cmd, msg && *msg ? msg : "failed");
    return owb_status_exit(rc);
}

void owb_cli_print_stream_table(const cJSON *doc)
{
    int threads[64], nt = 0;
    const cJSON *b = NULL;
    const cJSON *benches = cJSON_GetObjectItemCaseSensitive(doc, "benchmarks");
    cJSON_ArrayForEach(b, benches)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(b, "name");
        char kern[32];
        int t, seen = 0;
        if (!cJSON_IsString(name) || sscanf(name->valuestring, "stream/%31[^/]/t%d", kern, &t) != 2)
            continue;
        for (int i = 0; i < nt; i++)
            seen |= threads[i] == t;
        if (!seen && nt < 64)
            threads[nt++] = t;
    }
    if (!nt)
        return;
    printf("\nmemory bandwidth, GB/s (best of n; median in parentheses)\n%-13s", "kernel");
    for (int i = 0; i < nt; i++) {
        char h[24];
        snprintf(h, sizeof h, "%d thread%s", threads[i], threads[i] > 1 ? "s" : "");
        printf(" %17s", h);
    }
    printf("\n");
    for (int k = 0; k < OWB_STREAM_NKERNELS; k++) {
        const char *kn = owb_stream_kernel_name((enum owb_stream_kernel)k);
        printf("%-13s", kn);
        for (int i = 0; i < nt; i++) {
            char want[64], cell[32] = "-";
            snprintf(want, sizeof want, "stream/%s/t%d", kn, threads[i]);
            if ((b = owb_result_find_benchmark(doc, want))) {
                const cJSON *m = cJSON_GetObjectItemCaseSensitive(b, "metrics");
                const cJSON *g = cJSON_GetObjectItemCaseSensitive(m, "gb_per_s");
                const cJSON *gm = cJSON_GetObjectItemCaseSensitive(m, "gb_per_s_median");
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, "valid");
                if (cJSON_IsNumber(g) && cJSON_IsNumber(gm))
                    snprintf(cell, sizeof cell, "%.1f (%.1f)%s", g->valuedouble, gm->valuedouble,
                             cJSON_IsFalse(v) ? "*" : "");
            }
            printf(" %17s", cell);
        }
        printf("\n");
    }
    printf("(* = not valid: see the benchmark's notes)\n");
}

int owb_cli_check_outdir(const char *cmd, const char *dir)
{
    char probe[4200], err[OWB_ERR_MAX] = "";
    if (owb_mkdir_p(dir, err)) {
        fprintf(stderr, "owbench %s: %s\n", cmd, err);
        return OWB_EXIT_RUNTIME;
    }
    snprintf(probe, sizeof probe, "%s/.owbench-probe-XXXXXX", dir);
    int fd = mkstemp(probe);
    if (fd < 0) {
        fprintf(stderr, "owbench %s: output folder %s: %s\n", cmd, dir, strerror(errno));
        return OWB_EXIT_RUNTIME;
    }
    close(fd);
    unlink(probe);
    return 0;
}

int owb_cli_measure_ceiling(struct owb_topo *topo, const char *pin, const int *threads,
                            int nthreads, int quick, int after, cJSON *doc, char err[OWB_ERR_MAX])
{
    struct owb_stream_cfg scfg;
    int all[1024], nall = 0;
    owb_stream_cfg_default(&scfg);
    if (!nthreads) {
        for (int i = 1; i <= owb_topo_npus(topo) && nall < 1024; i++)
            all[nall++] = i;
        threads = all;
        nthreads = nall;
    }
    scfg.pin = pin;
    scfg.threads = threads;
    scfg.nthreads = nthreads;
    scfg.counters = "none";
    scfg.verbose = 1;
    if (after) {
        scfg.read_only = 1;
        scfg.suffix = "after";
    }
    if (quick)
        owb_measure_cfg_quick(&scfg.measure);
    return owb_stream_run(&scfg, topo, doc, err);
}

int owb_cli_check_counters(const char *cmd, const char *list)
{
    char err[OWB_ERR_MAX] = "";
    struct owb_counters *c = owb_counters_new(list, 1, err);
    if (!c) {
        fprintf(stderr, "owbench %s: --counters %s: %s\n", cmd, list ? list : "(default)", err);
        return OWB_EXIT_USAGE;
    }
    owb_counters_free(c);
    return 0;
}

int owb_cli_check_threads(const struct owb_topo *topo, const char *pin, const int *threads, int n,
                          char err[OWB_ERR_MAX])
{
    for (int i = 0; i < n; i++) {
        int cpus[1024], got;
        if (threads[i] > 1024) {
            snprintf(err, OWB_ERR_MAX, "--threads %d: at most 1024", threads[i]);
            return OWB_E_USAGE;
        }
        if (owb_topo_pin_plan(topo, pin, threads[i], cpus, &got, err))
            return OWB_E_USAGE;
    }
    return OWB_OK;
}

int owb_parse_int_list(const char *opt, const char *s, int *out, int max, int *n,
                       char err[OWB_ERR_MAX])
{
    const char *p = s;
    *n = 0;
    if (!s || !*s)
        goto bad;
    while (*p) {
        char *end = NULL;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v <= 0 || v > INT_MAX || (*end && *end != ','))
            goto bad;
        if (*n >= max) {
            snprintf(err, OWB_ERR_MAX, "%s '%s': more than %d values", opt, s, max);
            return OWB_E_USAGE;
        }
        out[(*n)++] = (int)v;
        p = *end ? end + 1 : end;
        if (*end == ',' && !*p)
            goto bad;
    }
    return 0;
bad:
    snprintf(err, OWB_ERR_MAX, "%s '%s': expected a comma-separated list of positive integers", opt,
             s ? s : "");
    return OWB_E_USAGE;
}

int owb_cli_model_backend(const char *cmd, const char *device, const struct owb_backend **be)
{
    char why[OWB_ERR_MAX] = "";
    *be = NULL;
    if (strcmp(device, "cpu") == 0)
        return OWB_EXIT_OK;
    if (strcmp(device, "cuda") != 0) {
        fprintf(stderr, "owbench %s: --device '%s': expected cpu or cuda\n", cmd, device);
        return OWB_EXIT_USAGE;
    }
    const struct owb_backend *b = NULL;
    if (owb_backend_open(device, &b, why) != 0) {
        fprintf(stderr, "owbench %s: --device %s: skipped: %s\n", cmd, device, why);
        return OWB_EXIT_SKIPPED;
    }
    *be = b;
    return OWB_EXIT_OK;
}
