/* SPDX-License-Identifier: MIT */
/*
 * main.c: the owbench entry point. Looks the first word up in the command table and hands it the
 * rest of argv; prints usage (exit 2) for an unknown command. Under mpirun it starts the ranks
 * (dist/ranks.h) first; ranks other than 0 keep stderr but send stdout to /dev/null, so the
 * summary tables are printed once. A rank whose command fails stops every rank (MPI_Abort with its
 * exit code) so no rank waits forever in a collective and no result is written, unless every rank
 * agreed on that failure (dist/ranks.h): then all end normally with its exit code.
 */
#include <stdio.h>
#include <string.h>

#include "bench/core/env.h"
#include "bench/core/gpu.h"
#include "owb_common.h"
#include "dist/ranks.h"
#include "owb_config.h"
#include "tools/cmds.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: owbench <command> [options]   (owbench <command> --help for details)\n\n"
               "commands:\n");
    for (int i = 0; i < owb_ncmds; i++)
        fprintf(f, "  %-12s %s\n", owb_cmds[i].name, owb_cmds[i].help);
    fprintf(f, "\nexit codes: 0 ok, 1 regression or gate failed, 2 usage error, 3 runtime error,\n"
               "            4 gate inconclusive, 77 skipped\n");
}

static int finish(int rc)
{
    if (owb_ranks_size() > 1 && rc != OWB_EXIT_OK && rc != OWB_EXIT_REGRESSION &&
        rc != OWB_EXIT_INCONCLUSIVE && !owb_ranks_agreed_failure()) {
        fprintf(stderr,
                "owbench: rank %d of %d (%s) failed with exit code %d; stopping all ranks\n",
                owb_ranks_rank(), owb_ranks_size(), owb_ranks_host(), rc);
        owb_ranks_abort(rc);
    }
    owb_ranks_finalize();
    return rc;
}

int main(int argc, char **argv)
{
    char err[OWB_ERR_MAX] = "";
    if (owb_ranks_init(&argc, &argv, err)) {
        fprintf(stderr, "owbench: %s\n", err);
        return OWB_EXIT_RUNTIME;
    }
    if (owb_ranks_rank() > 0 && !freopen("/dev/null", "w", stdout)) {
        fprintf(stderr, "owbench: rank %d: cannot silence stdout\n", owb_ranks_rank());
        return finish(OWB_EXIT_RUNTIME);
    }
    owb_argc = argc;
    owb_argv = argv;
    owb_env_set_gpu_probe(owb_gpu_probe); /* env.gpus and features.cuda */
    if (argc < 2) {
        usage(stderr);
        return finish(OWB_EXIT_USAGE);
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return finish(OWB_EXIT_OK);
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("owbench %s (%s, %s)\n", OWB_VERSION, OWB_GIT_COMMIT, OWB_BUILD_TYPE);
        return finish(OWB_EXIT_OK);
    }
    for (int i = 0; i < owb_ncmds; i++)
        if (!strcmp(argv[1], owb_cmds[i].name))
            return finish(owb_cmds[i].fn(argc - 1, argv + 1));
    fprintf(stderr, "owbench: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return finish(OWB_EXIT_USAGE);
}
