/* SPDX-License-Identifier: MIT */
/*
 * cli_common.h: what the suite commands share: the output folder (-o DIR, default
 * results/runs/<UTC time>-<command>), a result document with the environment filled in, and
 * writing it atomically with a message on failure.
 */
#ifndef OWB_TOOLS_CLI_COMMON_H
#define OWB_TOOLS_CLI_COMMON_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "owb_common.h"

struct owb_topo;

/* Parse a finite number, with an optional trailing '%' when allow_pct; 1 and *out set on success,
 * 0 when s holds anything else. */
int owb_cli_parse_num(const char *s, int allow_pct, double *out);

/* Choose the output folder: dir if given, else results/runs/<YYYYmmddTHHMMSSZ>-<cmd>. Writes into
 * out (size n). */
void owb_cli_outdir(const char *dir, const char *cmd, char *out, size_t n);

/* A new result document for this process (argv from main) with env collected from topo. */
cJSON *owb_cli_result_new(const struct owb_topo *topo);

/* Write doc to <dir>/<file> atomically; on failure prints "owbench <cmd>: <reason>" and returns
 * OWB_EXIT_RUNTIME, else prints "wrote PATH" on stderr and returns 0. */
int owb_cli_write(const char *cmd, const cJSON *doc, const char *dir, const char *file);

/* Under mpirun, collective (no-op with one rank): rank 0's folder becomes every rank's (so a
 * default timestamped name agrees), and ranks other than 0 use DIR/rank<R> for their own files
 * (plots, derived models); rank 0 alone writes the result document. */
void owb_cli_rank_outdir(char *outdir, size_t n);

/* Under mpirun (more than one rank; a no-op returning 0 otherwise), collective: every rank passes
 * its document (NULL allowed on ranks other than 0 when benchmarks is 0). Rank 0's doc gets
 * "ranks": {"size", "per_rank": [{rank, host, env}]} with every rank's environment, and, when
 * benchmarks is non-zero, every rank's benchmarks appended after its own, each with params
 * "host" and "rank" (rank 0's too): one document for a fleet where each node measured itself.
 * Returns 0 or a status with err set (on rank 0). */
int owb_cli_ranks_collect(cJSON *doc, const struct owb_topo *topo, int benchmarks,
                          char err[OWB_ERR_MAX]);

/* Print "owbench <cmd>: <msg>" for a library failure and return the exit code for status rc. */
int owb_cli_fail(const char *cmd, int rc, const char *msg);

/* Print the stream table (kernel rows x thread columns, best GB/s) of doc to stdout. */
void owb_cli_print_stream_table(const cJSON *doc);

/* Measure the read-bandwidth ceiling of this run into doc: the stream suite (no counters) for the
 * given thread counts (NULL/0: 1..all PUs) and pinning policy, quick or default repetitions.
 * after == 0: before a suite, every stream kernel (stream/<kernel>/t<N>); after != 0: right after
 * it, the read kernels only (stream/read*\/t<N>/after), so each figure has the ceiling on both
 * sides of it (bench/suites/ceiling.h). Returns 0 or a status with err set. */
int owb_cli_measure_ceiling(struct owb_topo *topo, const char *pin, const int *threads,
                            int nthreads, int quick, int after, cJSON *doc, char err[OWB_ERR_MAX]);

/* Check every --threads count against the pinning policy before a run starts (at most 1024, and a
 * plan the topology can give). Returns 0, or OWB_E_USAGE with err naming the count or the policy.
 */
int owb_cli_check_threads(const struct owb_topo *topo, const char *pin, const int *threads, int n,
                          char err[OWB_ERR_MAX]);

/* Check a --counters list before a run starts (NULL: the default set). Returns 0, or prints
 * "owbench <cmd>: --counters LIST: reason" and returns OWB_EXIT_USAGE. */
int owb_cli_check_counters(const char *cmd, const char *list);

/* Make sure dir exists (mkdir -p) and is writable, before a long run starts. Returns 0, or prints
 * "owbench <cmd>: DIR: reason" and returns OWB_EXIT_RUNTIME. */
int owb_cli_check_outdir(const char *cmd, const char *dir);
/* Parse a comma list of positive integers ("1,2,4") into out[0..*n) (at most max). Returns 0 or
 * OWB_E_USAGE with err naming the option and the bad item. */
int owb_parse_int_list(const char *opt, const char *s, int *out, int max, int *n,
                       char err[OWB_ERR_MAX]);

/* The backend of `--device DEV` for a command that runs the engine: *be = NULL for "cpu" (the
 * engine's default), the backend otherwise. Returns OWB_EXIT_OK, OWB_EXIT_USAGE for an unknown
 * name, or OWB_EXIT_SKIPPED (77) with "owbench CMD: --device DEV: skipped: REASON" on stderr when
 * the backend cannot run here (not compiled in, no driver or device). A device backend runs the
 * engine's backend-driven forward pass (model/devfwd.h). */
struct owb_backend;
int owb_cli_model_backend(const char *cmd, const char *device, const struct owb_backend **be);

#endif
