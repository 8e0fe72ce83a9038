/* SPDX-License-Identifier: MIT */
/*
 * run_steps.h: the steps of `owbench run`, in order. A later suite joins the default run by
 * adding a function and a row to the table in run_steps.c.
 */
#ifndef OWB_TOOLS_RUN_STEPS_H
#define OWB_TOOLS_RUN_STEPS_H

#include <cjson/cJSON.h>

#include "owb_common.h"

struct owb_topo;

struct owb_run_ctx {
    int quick;       /* 1: short runs (under 2 minutes on 2 cores) */
    const char *pin; /* pinning policy */
    int max_threads; /* PUs of the policy */
    struct owb_topo *topo;
    cJSON *doc; /* the run's result document */
    char outdir[4096];
};

struct owb_run_step {
    const char *name;
    const char *what;
    int (*fn)(struct owb_run_ctx *ctx, char err[OWB_ERR_MAX]); /* 0 or a status */
};

extern const struct owb_run_step owb_run_steps[];
extern const int owb_run_nsteps;

/* Print the summary table of a finished run to stdout. */
void owb_run_summary(const struct owb_run_ctx *ctx);

#endif
