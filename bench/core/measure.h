/* SPDX-License-Identifier: MIT */
/*
 * measure.h: the measurement loop every suite uses: warm-up (runs and/or seconds), then
 * repetitions until both a minimum count and a minimum time are reached (bounded by a maximum
 * count and time), keeping every raw sample in nanoseconds (owb_now_ns, owb_common.h).
 */
#ifndef OWB_BENCH_MEASURE_H
#define OWB_BENCH_MEASURE_H

#include <stddef.h>
#include <stdint.h>

#include "owb_common.h"

struct owb_measure_cfg {
    int warmup_runs;       /* default 2 */
    double warmup_s;       /* minimum warm-up seconds, default 0.05 */
    int min_reps;          /* default 10 */
    double min_time_s;     /* default 0.5 */
    int max_reps;          /* default 10000 */
    double max_time_s;     /* default 10; stops early even below min_reps (flagged by stats) */
    double max_rel_spread; /* validity: (p90 - p50) / p50 above this is "high spread" (the slow
                            * tail: interruptions only ever add time); default 0.10, 0 = off */
};

/* Defaults above; the quick mode of `owbench run` shrinks the times. */
void owb_measure_cfg_default(struct owb_measure_cfg *cfg);
/* Shorten a configuration for quick runs (`--quick`, `owbench run`): 1 warm-up run of at least
 * 0.02 s, then at least 5 repetitions and 0.1 s. Other fields are left as they are. */
void owb_measure_cfg_quick(struct owb_measure_cfg *cfg);

/* One repetition of the measured thing; returns 0, or non-zero to abort the measurement. */
typedef int (*owb_measure_fn)(void *ctx);

struct owb_samples {
    double *ns; /* malloc'd, owned by the caller: free() it */
    size_t n;
    /* Time this process's threads spent runnable but waiting for a CPU during the timed loop
     * (Linux schedstat, summed over threads), as a fraction of the loop's wall time: another
     * process held the CPUs. Negative: not known (no /proc/<pid>/task/<tid>/schedstat). */
    double runq_wait_frac;
};

/* Nanoseconds this process's threads have waited on a run queue (sum over threads), or -1 when
 * the kernel does not say. Reads /proc/self/task/<tid>/schedstat; for use outside timed code. */
int64_t owb_runq_wait_ns(void);

/* Warm up, then time fn repeatedly per cfg. At least one sample is always taken; max_time_s may be
 * INFINITY. Returns 0, OWB_E_USAGE (negative counts or times, max_reps < 1), OWB_E_NOMEM, or the
 * fn's failure as OWB_E_SYSTEM (then out is empty). Not thread-safe per out; fn runs on the
 * calling thread. */
int owb_measure_run(const struct owb_measure_cfg *cfg, owb_measure_fn fn, void *ctx,
                    struct owb_samples *out);

#endif
