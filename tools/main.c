/* SPDX-License-Identifier: MIT */
/*
 * main.c: the owbench entry point. Looks the first word up in the command table and hands it the
 * rest of argv; prints usage (exit 2) for an unknown command.
 */
#include <stdio.h>
#include <string.h>

#include "bench/core/env.h"
#include "bench/core/gpu.h"
#include "owb_common.h"
#include "owb_config.h"
#include "tools/cmds.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: owbench <command> [options]   (owbench <command> --help for details)\n\n"
               "commands:\n");
    for (int i = 0; i < owb_ncmds; i++)
        fprintf(f, "  %-10s %s\n", owb_cmds[i].name, owb_cmds[i].help);
    fprintf(f, "\nexit codes: 0 ok, 1 regression or gate failed, 2 usage error, 3 runtime error,\n"
               "            4 gate inconclusive, 77 skipped\n");
}

int main(int argc, char **argv)
{
    owb_argc = argc;
    owb_argv = argv;
    owb_env_set_gpu_probe(owb_gpu_probe); /* env.gpus and features.cuda */
    if (argc < 2) {
        usage(stderr);
        return OWB_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return OWB_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("owbench %s (%s, %s)\n", OWB_VERSION, OWB_GIT_COMMIT, OWB_BUILD_TYPE);
        return OWB_EXIT_OK;
    }
    for (int i = 0; i < owb_ncmds; i++)
        if (!strcmp(argv[1], owb_cmds[i].name))
            return owb_cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "owbench: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return OWB_EXIT_USAGE;
}
