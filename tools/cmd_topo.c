/* SPDX-License-Identifier: MIT */
/*
 * cmd_topo.c: `owbench topo`: prints the topology (hwloc's view, or the /sys fallback) and, when
 * asked, the CPU list a pinning policy gives for a thread count; --json prints the same as one
 * JSON object, --env the env object a result would carry.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/core/env.h"
#include "bench/core/topo.h"
#include "owb_common.h"
#include "tools/cmds.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: owbench topo [--json] [--pin POLICY] [--threads N] [--synthetic DESC] [--env]\n"
            "\n"
            "Print the machine topology (packages, NUMA nodes, L3 domains, cores, PUs, caches,\n"
            "memory per NUMA node) and, with --pin or --threads, the OS CPUs a pinning policy\n"
            "gives, in worker order.\n"
            "\n"
            "  --json             one JSON object (the topology, plus \"pinning\" when asked)\n"
            "  --pin POLICY       compact (default), scatter, numa:K, list:0,2,4-7 or none\n"
            "  --threads N        threads to place (0 = all PUs of the policy, the default)\n"
            "  --synthetic DESC   use an hwloc synthetic topology, e.g. \"pack:2 core:4 pu:2\"\n"
            "  --env              print the env object of a result (JSON) instead\n"
            "  -h, --help         this help\n"
            "\n"
            "exit codes: 0 ok, 2 bad option or value (policy, thread count), 3 runtime error\n");
}

static int parse_threads(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < 0 || v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

int cmd_topo(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"pin", required_argument, NULL, 'p'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"synthetic", required_argument, NULL, 's'},
                                         {"env", no_argument, NULL, 'e'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int json = 0, env = 0, nthreads = 0, want_plan = 0, rc = OWB_EXIT_OK, c;
    const char *policy = "compact", *synthetic = NULL;
    char err[OWB_ERR_MAX] = "";
    struct owb_topo *t = NULL;
    int *cpus = NULL;
    cJSON *doc = NULL;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = 1;
            break;
        case 'p':
            policy = optarg;
            want_plan = 1;
            break;
        case 't':
            if (parse_threads(optarg, &nthreads) != 0) {
                fprintf(stderr, "owbench topo: --threads '%s' is not a whole number >= 0\n",
                        optarg);
                return OWB_EXIT_USAGE;
            }
            want_plan = 1;
            break;
        case 's':
            synthetic = optarg;
            break;
        case 'e':
            env = 1;
            break;
        case 'h':
            usage(stdout);
            return OWB_EXIT_OK;
        case ':':
            fprintf(stderr, "owbench topo: option '%s' needs a value\n\n", argv[optind - 1]);
            usage(stderr);
            return OWB_EXIT_USAGE;
        default:
            fprintf(stderr, "owbench topo: unknown option '%s'\n\n", argv[optind - 1]);
            usage(stderr);
            return OWB_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "owbench topo: unexpected argument '%s'\n\n", argv[optind]);
        usage(stderr);
        return OWB_EXIT_USAGE;
    }

    int st = owb_topo_load(synthetic, &t, err);
    if (st != OWB_OK) {
        fprintf(stderr, "owbench topo: %s\n", err);
        return st == OWB_E_USAGE ? OWB_EXIT_USAGE : OWB_EXIT_RUNTIME;
    }

    if (env) {
        doc = owb_env_collect(t);
        char *s = doc ? cJSON_Print(doc) : NULL;
        if (!s) {
            fprintf(stderr, "owbench topo: out of memory printing the env object\n");
            rc = OWB_EXIT_RUNTIME;
            goto out;
        }
        printf("%s\n", s);
        free(s);
        goto out;
    }

    int n = 0, cap = owb_topo_npus(t); /* a plan never exceeds the usable PUs */
    if (want_plan) {
        cpus = malloc((size_t)cap * sizeof *cpus);
        if (!cpus) {
            fprintf(stderr, "owbench topo: out of memory\n");
            rc = OWB_EXIT_RUNTIME;
            goto out;
        }
        st = owb_topo_pin_plan(t, policy, nthreads, cpus, &n, err);
        if (st != OWB_OK) {
            fprintf(stderr, "owbench topo: %s\n", err);
            rc = owb_status_exit(st);
            goto out;
        }
    }

    if (json) {
        doc = owb_topo_to_json(t);
        if (doc && want_plan) {
            cJSON *pin = cJSON_AddObjectToObject(doc, "pinning");
            cJSON_AddStringToObject(pin, "policy", policy);
            cJSON_AddNumberToObject(pin, "threads", n);
            cJSON *arr = cJSON_AddArrayToObject(pin, "cpus");
            for (int i = 0; i < n; i++)
                cJSON_AddItemToArray(arr, cJSON_CreateNumber(cpus[i]));
        }
        char *s = doc ? cJSON_Print(doc) : NULL;
        if (!s) {
            fprintf(stderr, "owbench topo: out of memory printing JSON\n");
            rc = OWB_EXIT_RUNTIME;
            goto out;
        }
        printf("%s\n", s);
        free(s);
    } else {
        owb_topo_print(t, stdout);
        if (want_plan) {
            char lst[4096];
            printf("pinning %s, %d thread%s: CPUs %s\n", policy, n, n == 1 ? "" : "s",
                   owb_cpulist_format(cpus, n, lst, sizeof lst));
        }
    }
out:
    cJSON_Delete(doc);
    free(cpus);
    owb_topo_free(t);
    return rc;
}
