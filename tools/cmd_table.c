/* SPDX-License-Identifier: MIT */
/* cmd_table.c: the git-style command table of the owbench binary. */
#include "tools/cmds.h"

int owb_argc;
char **owb_argv;

const struct owb_cmd owb_cmds[] = {
    {"run", cmd_run, "the default suite on an embedded default (no downloads)"},
    {"topo", cmd_topo, "topology as hwloc sees it; the CPU list of a pinning policy"},
    {"stream", cmd_stream, "memory bandwidth ceilings (copy, scale, add, triad, read)"},
    {"compare", cmd_compare, "A/B of two result files: medians, Mann-Whitney p, verdicts"},
    {"plot", cmd_plot, "gnuplot figures (PNG, SVG) + data and scripts from result files"},
    {"gguf", cmd_gguf, "inspect a GGUF file: metadata, tensor table, parameter count"},
    {"serve", cmd_serve, "load generator against OpenAI-compatible servers (TTFT, TPOT, SLOs)"},
};
const int owb_ncmds = (int)(sizeof owb_cmds / sizeof owb_cmds[0]);
