/* SPDX-License-Identifier: MIT */
/*
 * suite.h: what every benchmark suite does the same way once a case has been timed: store the raw
 * samples and their statistics, apply the validity rules (too few samples, spread over the
 * threshold, migrated threads), record the pinning and the counters. One place, so `stream`,
 * `kernels` and `model` results read alike.
 */
#ifndef OWB_BENCH_SUITE_H
#define OWB_BENCH_SUITE_H

#include <cjson/cJSON.h>

#include "bench/core/measure.h"

struct owb_pool;
struct owb_counters;

/* Fill bench from a finished measurement: samples (ns) + stats, validity ((p90 - p50) / p50 over
 * cfg->max_rel_spread, fewer than OWB_RESULT_MIN_SAMPLES samples, migration seen by the pool),
 * pinning (policy + requested/observed CPUs) and counters (may be NULL: then counters says
 * {"na": "not measured"}). Returns 0 or OWB_E_NOMEM. */
/* Run-queue wait over the timed loop (owb_samples.runq_wait_frac, summed over the process's
 * threads, per second of wall time) above which the case is not valid. */
#define OWB_SUITE_MAX_RUNQ_WAIT 0.05

int owb_suite_finish(cJSON *bench, const struct owb_samples *s, const struct owb_measure_cfg *cfg,
                     const char *policy, const struct owb_pool *pool,
                     const struct owb_counters *counters);

/* Run counting: start and stop the per-thread counters on every worker of pool around `reps`
 * calls of fn. Used after the timed loop, so timing is never perturbed by counter reads; the
 * pool's pinning record and migration flags are put back as the timed loop left them, so the
 * counting pass never changes or invalidates the timed result. */
int owb_suite_count(struct owb_pool *pool, struct owb_counters *counters, owb_measure_fn fn,
                    void *ctx, int reps);

#endif
