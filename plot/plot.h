/* SPDX-License-Identifier: MIT */
/*
 * plot.h: gnuplot figures from owbench result documents. A small registry of plot kinds, one table
 * row each (name, which benchmarks it draws, a data writer and a gnuplot script writer); for every
 * kind with matching benchmarks, owb_plot_results writes DIR/<kind>.dat (plain columns, header
 * comments), DIR/<kind>.gp and runs `gnuplot <kind>.gp` in DIR to draw DIR/<kind>.png and
 * DIR/<kind>.svg. The scripts use paths relative to DIR, so `cd DIR && gnuplot <kind>.gp` redraws
 * a figure. Adding a plot for a new suite = one new row in the table in plot/plot.c.
 *
 * Every file is written as a temporary one beside its final name and renamed into place only when
 * the kind's four files (.dat, .gp, .png, .svg) are complete, gnuplot drawing from temporary names;
 * a failed write or gnuplot run leaves none of that kind's new files and no temporary one.
 *
 * Ownership: the documents are only read. Not thread-safe (runs a child process, writes files).
 */
#ifndef OWB_TOOLS_PLOT_H
#define OWB_TOOLS_PLOT_H

#include <stdbool.h>
#include <stdio.h>
#include <cjson/cJSON.h>

#include "owb_common.h"

#define OWB_PLOT_MAX_SERIES 64 /* lines per figure */
#define OWB_PLOT_MAX_GROUPS 16 /* named groups (panels) per figure */

/* What a data writer tells the script writer: the series (gnuplot `index` blocks) it wrote. */
struct owb_plot_series {
    int n;
    char label[OWB_PLOT_MAX_SERIES][96];
    char xtics[2048]; /* gnuplot tic list for x, e.g. "(1, 2, 4)"; "" = automatic */
    int dropped;      /* series beyond OWB_PLOT_MAX_SERIES that were left out */
    /* Kind-specific extras, zero unless a kind sets them: points per series in its first and
     * second data set (two-panel kinds put the second panel's blocks after the first's and draw
     * only non-empty ones); groups (bar clusters or panels) with their names and each series'
     * group; a colour per series (gnuplot lc, 0: the series number); reference blocks (e.g. a
     * ceiling line) written after the series blocks. */
    int npts[OWB_PLOT_MAX_SERIES][2];
    int ngroups;
    char group_label[OWB_PLOT_MAX_GROUPS][48];
    int group_of[OWB_PLOT_MAX_SERIES];
    int color_of[OWB_PLOT_MAX_SERIES];
    int nref;
    char ref_label[4][48]; /* legend of each reference block (kinds that name them) */
};

struct owb_plot_kind {
    const char *name;   /* file stem in DIR, e.g. "stream_bw" */
    const char *what;   /* one line for messages, e.g. "stream bandwidth vs threads" */
    const char *naming; /* the benchmark names it draws, e.g. "stream/<kernel>/t<N>" */
    /* Does this kind draw the benchmark named name? */
    bool (*match)(const char *name);
    /* Write the .dat file from every matching benchmark of docs[0..ndocs); fill series. Returns 0,
     * or a negative status with err set. Zero series means nothing to draw. */
    int (*write_data)(cJSON *const *docs, int ndocs, FILE *dat, struct owb_plot_series *series,
                      char err[OWB_ERR_MAX]);
    /* Write the gnuplot script drawing <stem>.png and <stem>.svg from dat_file (both relative to
     * the output folder). */
    void (*write_script)(FILE *gp, const char *stem, const char *dat_file,
                         const struct owb_plot_series *series);
};

/* The registry (plot/plot.c). */
extern const struct owb_plot_kind owb_plot_kinds[];
extern const int owb_plot_nkinds;

/* Is a gnuplot executable on PATH? */
bool owb_plot_have_gnuplot(void);

/*
 * Write data, scripts and (when gnuplot is on PATH) figures for every plot kind that matches a
 * benchmark of docs[0..ndocs) into dir (created if missing). *nfigures gets the number of kinds
 * drawn (each one PNG + one SVG). Returns 0 with err = "" when all went well; 0 with err holding a
 * note when there was nothing to draw or gnuplot is not on PATH (data and scripts are still
 * written, *nfigures = 0, and figures of the same names from an earlier run are removed since
 * they would show other data); OWB_E_IO when a file cannot be written, OWB_E_SYSTEM when gnuplot
 * fails (its stderr passes through), each with err naming the file or script. On failure the
 * kinds drawn before the failing one are complete in dir; the failing kind's files are those of
 * an earlier run, if any, untouched.
 */
int owb_plot_results(cJSON *const *docs, int ndocs, const char *dir, char err[OWB_ERR_MAX],
                     int *nfigures);

#endif
