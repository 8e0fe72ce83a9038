/* SPDX-License-Identifier: MIT */
/*
 * cmd_compare.c: `owbench compare A.json B.json [--threshold PCT] [--alpha P] [--json]`. Reads and
 * validates both result files, calls owb_compare_docs (results/compare.h) and prints the table or
 * the JSON comparison (warnings about moved ceilings first in the table, on stderr with --json).
 * Exit 0 when nothing got slower, 1 when something did, 2 on usage errors, 3 when a file is
 * missing or corrupt.
 */
#define _GNU_SOURCE /* getopt_long */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "owb_common.h"
#include "results/compare.h"
#include "results/result.h"
#include "tools/cli_common.h"
#include "tools/cmds.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: owbench compare A.json B.json [--threshold PCT] [--alpha P] [--json]\n"
        "\n"
        "Match the benchmarks of two owbench result files by name and params and compare the\n"
        "medians of their raw samples. A benchmark is slower/faster when its median changed by\n"
        "more than the threshold AND the Mann-Whitney U test on the samples gives p < alpha\n"
        "AND the 95%% CIs of the two medians do not overlap (the B/A range excludes 1); a\n"
        "change where A's or B's benchmark is not valid is 'incomparable' (no evidence);\n"
        "time units (ns, us, ms, s) are lower-is-better, rates (*_per_s) higher-is-better.\n"
        "\n"
        "Machine or code: a figure held against a ceiling of its run (params.ceiling or\n"
        "stream/read/t<N> for GEMVs, decode and stream cases; params.compute_peak_from or\n"
        "kernels/peak/<kind>/t<N> for GEMMs) is compared again with B's samples scaled by the\n"
        "ratio of the two runs' ceilings when those differ beyond their spread (Mann-Whitney\n"
        "p < alpha on the ceilings' samples, with their re-measurement after the suite): a raw\n"
        "difference that is gone (or reversed) against the ceiling is 'machine changed' (exit\n"
        "0); a ceiling only explains differences, it never makes one. Stream cases and the\n"
        "ceilings themselves measure the machine: when they differ, the verdict is 'machine\n"
        "changed'. Ceilings that differ by more than the threshold print a warning: the A/B is\n"
        "then about the machine, not the code.\n"
        "\n"
        "  --threshold PCT  minimum relative change of the median, percent (default %g)\n"
        "  --alpha P        significance level, 0 < P < 1 (default %g)\n"
        "  --json           print a machine-readable comparison (owbench.compare/1) to stdout\n"
        "  -h, --help       this text\n"
        "\n"
        "exit: 0 nothing slower (same, faster, machine changed), 1 something slower, 2 usage "
        "error,\n"
        "3 missing or corrupt file\n",
        OWB_COMPARE_THRESHOLD_PCT, OWB_COMPARE_ALPHA);
}

int cmd_compare(int argc, char **argv)
{
    static const struct option opts[] = {
        {"threshold", required_argument, NULL, 't'},
        {"alpha", required_argument, NULL, 'a'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    double threshold = OWB_COMPARE_THRESHOLD_PCT, alpha = OWB_COMPARE_ALPHA;
    int json = 0, c, rc = OWB_EXIT_RUNTIME;
    char err[OWB_ERR_MAX] = "";
    cJSON *a = NULL, *b = NULL, *out = NULL;
    struct owb_compare cmp = {0};

    optind = 0; /* reinitialise getopt: another command may have run it in this process */
    while ((c = getopt_long(argc, argv, "t:a:jh", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (!owb_cli_parse_num(optarg, 1, &threshold) || threshold < 0) {
                fprintf(stderr,
                        "owbench compare: --threshold '%s' is not a percentage >= 0 (e.g. 5)\n",
                        optarg);
                return OWB_EXIT_USAGE;
            }
            break;
        case 'a':
            if (!owb_cli_parse_num(optarg, 0, &alpha) || !(alpha > 0 && alpha < 1)) {
                fprintf(stderr,
                        "owbench compare: --alpha '%s' is not a probability between 0 and 1 "
                        "(exclusive)\n",
                        optarg);
                return OWB_EXIT_USAGE;
            }
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            usage(stdout);
            return OWB_EXIT_OK;
        default:
            usage(stderr);
            return OWB_EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "owbench compare: expected two result files, got %d\n\n", argc - optind);
        usage(stderr);
        return OWB_EXIT_USAGE;
    }
    const char *pa = argv[optind], *pb = argv[optind + 1];

    if (owb_result_read(pa, &a, err) || owb_result_read(pb, &b, err)) {
        fprintf(stderr, "owbench compare: %s\n", err);
        goto out;
    }
    int crc = owb_compare_docs(a, b, threshold, alpha, &cmp, err);
    if (crc) {
        fprintf(stderr, "owbench compare: %s\n", err);
        rc = owb_status_exit(crc);
        goto out;
    }
    if (json) {
        char *text = NULL;
        if (!(out = owb_compare_to_json(&cmp, pa, pb)) || !(text = cJSON_Print(out))) {
            fprintf(stderr, "owbench compare: out of memory writing the JSON comparison\n");
            goto out;
        }
        printf("%s\n", text);
        cJSON_free(text);
        owb_compare_print_warnings(&cmp, stderr);
    } else {
        owb_compare_print(&cmp, pa, pb, stdout);
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "owbench compare: cannot write to stdout\n");
        goto out;
    }
    rc = owb_compare_regressed(&cmp) ? OWB_EXIT_REGRESSION : OWB_EXIT_OK;
out:
    owb_compare_release(&cmp);
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(out);
    return rc;
}
