/* SPDX-License-Identifier: MIT */
/* cmd_table.c: the git-style command table of the owbench binary. */
#include "tools/cmds.h"

int owb_argc;
char **owb_argv;

const struct owb_cmd owb_cmds[] = {
    {"topo", cmd_topo, "topology as hwloc sees it; the CPU list of a pinning policy"},
};
const int owb_ncmds = (int)(sizeof owb_cmds / sizeof owb_cmds[0]);
