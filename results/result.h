/* SPDX-License-Identifier: MIT */
/*
 * result.h: the owbench.result/1 document (results/SCHEMA.md): building it, writing it atomically
 * and reading it back with validation. The document is a cJSON tree; these helpers create the
 * fixed shape so every suite writes the same fields. The caller owns the returned cJSON trees
 * (cJSON_Delete), not thread-safe per document.
 */
#ifndef OWB_RESULTS_RESULT_H
#define OWB_RESULTS_RESULT_H

#include <stddef.h>
#include <stdbool.h>
#include <cjson/cJSON.h>

#include "owb_common.h"
#include "results/stats.h"

#define OWB_RESULT_SCHEMA "owbench.result/1"
#define OWB_RESULT_MAJOR 1

/* Fewer samples than this make owb_result_set_samples mark a benchmark invalid ("too few
 * samples: n < 5"); bench/core/suite.c relies on it. */
#define OWB_RESULT_MIN_SAMPLES 5

/* A new document with schema, tool {name, version, git}, created (UTC ISO-8601) and command
 * (argv), an empty env object and empty benchmarks[] / evals[]. NULL on allocation failure. */
cJSON *owb_result_new(int argc, char *const *argv);

/* A number, or null when it is not finite (JSON has no NaN/Infinity). NULL when out of memory. */
cJSON *owb_json_num(double v);
/* o[key] = owb_json_num(v) (added, not replaced). Returns 0, or -1 when out of memory. */
int owb_json_add_num(cJSON *o, const char *key, double v);

/* Append a benchmark {name, suite, params{}, pinning{}, samples, stats, metrics{}, counters{},
 * valid: true, notes[]} and return it (owned by doc). */
cJSON *owb_result_add_benchmark(cJSON *doc, const char *name, const char *suite);

/* The first benchmark of doc named name, or NULL. */
const cJSON *owb_result_find_benchmark(const cJSON *doc, const char *name);

/* Set samples {"unit", "values"} and the stats computed from them (in the same unit). When n is
 * below OWB_RESULT_MIN_SAMPLES, marks the benchmark invalid with a note. Non-finite values are
 * stored as null. Returns 0 or OWB_E_NOMEM. */
int owb_result_set_samples(cJSON *bench, const char *unit, const double *values, size_t n);

/* Mark a benchmark not valid and append the reason to notes (valid stays false once set). */
void owb_result_invalidate(cJSON *bench, const char *reason);
/* Append a note without changing validity. */
void owb_result_note(cJSON *bench, const char *note);

/* Shorthands for params/metrics members. */
void owb_result_param_num(cJSON *bench, const char *key, double v);
void owb_result_param_str(cJSON *bench, const char *key, const char *v);
void owb_result_metric(cJSON *bench, const char *key, double v);

/* Write doc to path atomically (temp file in the same folder + fsync + rename); creates missing
 * parent folders. On failure nothing is left at path or beside it. Returns 0, or OWB_E_IO with err
 * naming the path. */
int owb_result_write(const cJSON *doc, const char *path, char err[OWB_ERR_MAX]);

/* Create folder dir and its missing parents (mkdir -p; existing folders are fine). Returns 0,
 * OWB_E_IO with err naming the component that could not be created, OWB_E_USAGE for an empty
 * name or OWB_E_NOMEM. Used by the writers of results and plots. */
int owb_mkdir_p(const char *dir, char err[OWB_ERR_MAX]);

/* Read and validate a result file: JSON parses, schema is owbench.result/<major> with a known
 * major, required fields present with the right types. *out gets the tree (caller deletes).
 * Errors name the file and the problem ("a.json: benchmarks[3].stats: missing"); returns
 * OWB_E_IO (unreadable) or OWB_E_FORMAT (corrupt, wrong schema). */
int owb_result_read(const char *path, cJSON **out, char err[OWB_ERR_MAX]);

/* Validate an in-memory document the same way; err names `what` (e.g. the path). */
int owb_result_validate(const cJSON *doc, const char *what, char err[OWB_ERR_MAX]);

/* Write a benchmark's stats object from s (used by owb_result_set_samples; exposed for suites
 * that compute statistics of derived values). */
cJSON *owb_stats_to_json(const struct owb_stats *s);

#endif
