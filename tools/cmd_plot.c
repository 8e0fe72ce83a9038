/* SPDX-License-Identifier: MIT */
/*
 * cmd_plot.c: `owbench plot RESULT.json... -o DIR`. Reads and validates the result files and hands
 * them to owb_plot_results (plot/plot.h), which writes .dat + .gp per plot kind and draws PNG +
 * SVG with gnuplot. Without gnuplot on PATH the data and scripts are still written and the command
 * exits 0 with a note on stderr.
 */
#define _GNU_SOURCE /* getopt_long */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "owb_common.h"
#include "results/result.h"
#include "tools/cmds.h"
#include "plot/plot.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: owbench plot RESULT.json... -o DIR\n"
               "\n"
               "Write gnuplot figures (PNG and SVG) of owbench results into DIR, with the data\n"
               "(.dat, plain columns) and the gnuplot scripts (.gp) beside them. Several result\n"
               "files are drawn into the same figures, one line per series and file.\n"
               "\n"
               "  -o, --output DIR  output folder (created if missing)\n"
               "  -h, --help        this text\n"
               "\n"
               "plot kinds:\n");
    for (int k = 0; k < owb_plot_nkinds; k++)
        fprintf(f, "  %-20s %s, from %s\n", owb_plot_kinds[k].name, owb_plot_kinds[k].what,
                owb_plot_kinds[k].naming);
    fprintf(f, "\nWithout gnuplot on PATH only the data and scripts are written (exit 0).\n"
               "exit: 0 ok, 2 usage error, 3 unreadable result file, write or gnuplot failure\n");
}

int cmd_plot(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL;
    int c, rc = OWB_EXIT_RUNTIME, ndocs = 0, nfig = 0;
    char err[OWB_ERR_MAX] = "";
    cJSON **docs = NULL;

    optind = 0; /* reinitialise getopt: another command may have run it in this process */
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            if (!*optarg) {
                fprintf(stderr, "owbench plot: --output needs a folder name, got ''\n");
                return OWB_EXIT_USAGE;
            }
            dir = optarg;
            break;
        case 'h':
            usage(stdout);
            return OWB_EXIT_OK;
        default:
            usage(stderr);
            return OWB_EXIT_USAGE;
        }
    }
    if (!dir) {
        fprintf(stderr, "owbench plot: missing -o DIR (the output folder)\n\n");
        usage(stderr);
        return OWB_EXIT_USAGE;
    }
    if (optind >= argc) {
        fprintf(stderr, "owbench plot: no result files given\n\n");
        usage(stderr);
        return OWB_EXIT_USAGE;
    }
    if (!(docs = calloc((size_t)(argc - optind), sizeof *docs))) {
        fprintf(stderr, "owbench plot: out of memory\n");
        return OWB_EXIT_RUNTIME;
    }
    for (int i = optind; i < argc; i++) {
        if (owb_result_read(argv[i], &docs[ndocs], err)) {
            fprintf(stderr, "owbench plot: %s\n", err);
            goto out;
        }
        ndocs++;
    }
    int prc = owb_plot_results(docs, ndocs, dir, err, &nfig);
    if (prc) {
        fprintf(stderr, "owbench plot: %s\n", err);
        rc = owb_status_exit(prc);
        goto out;
    }
    if (err[0])
        fprintf(stderr, "owbench plot: %s\n", err);
    if (nfig)
        fprintf(stderr, "owbench plot: %d figure(s) (PNG + SVG) written to %s\n", nfig, dir);
    rc = OWB_EXIT_OK;
out:
    for (int i = 0; i < ndocs; i++)
        cJSON_Delete(docs[i]);
    free(docs);
    return rc;
}
