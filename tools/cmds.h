/* SPDX-License-Identifier: MIT */
/*
 * cmds.h: the owbench commands. Each cmd_<name>() lives in tools/cmd_<name>.c, takes the argv
 * after the command word (argv[0] is the command name) and returns a process exit code
 * (see enum owb_exit in common/owb_common.h).
 */
#ifndef OWB_TOOLS_CMDS_H
#define OWB_TOOLS_CMDS_H

struct owb_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help; /* one line for `owbench --help` */
};

/* The command table (tools/main.c... defined in cmd_table.c so tests can reach it). */
extern const struct owb_cmd owb_cmds[];
extern const int owb_ncmds;

int cmd_topo(int argc, char **argv);
int cmd_stream(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_ab(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_kernels(int argc, char **argv);
int cmd_gguf(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_model(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_serve_model(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* Full argv of the process, for the result's `command` field (set by main). */
extern int owb_argc;
extern char **owb_argv;

#endif
