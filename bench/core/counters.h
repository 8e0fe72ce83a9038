/* SPDX-License-Identifier: MIT */
/*
 * counters.h: per-thread event counters for a measured region: PAPI event sets (one per PAPI
 * component per thread) plus getrusage(RUSAGE_THREAD) deltas (context switches, page faults).
 * An event PAPI cannot count (no PMU in a virtual machine, unknown name, build without PAPI)
 * becomes {"na": "<reason PAPI gave>"}; a run never fails because counters are missing.
 *
 * Usage: owb_counters_new on the coordinating thread, then on each worker thread (e.g. inside an
 * owb_pool_run region) owb_counters_thread_start(c, tid) before and owb_counters_thread_stop(c,
 * tid) after the measured work; repeated start/stop pairs accumulate. Read the totals with
 * owb_counters_to_json after the workers have finished (e.g. after owb_pool_run returned).
 *
 * Thread safety: start/stop for different tids may run concurrently; one tid must not be used by
 * two threads at once. new, free, reset, to_json and missing_summary are for the coordinating
 * thread while no start/stop is running. A tid's PAPI event sets belong to the thread that first
 * started them; starting the same tid on another thread recreates them there.
 */
#ifndef OWB_BENCH_COUNTERS_H
#define OWB_BENCH_COUNTERS_H

#include <stdbool.h>
#include <cjson/cJSON.h>

#include "owb_common.h"

/* The default event list. "A|B" means: A, or B when A cannot be counted (the JSON key names the
 * event actually used); here an LLC-miss equivalent where PAPI_L3_TCM is not a preset. */
#define OWB_COUNTERS_DEFAULT                                                                       \
    "PAPI_TOT_CYC,PAPI_TOT_INS,PAPI_L1_DCM,PAPI_L3_TCM|perf::LLC-LOAD-MISSES,PAPI_BR_MSP"
#define OWB_COUNTERS_MAX_EVENTS 32

struct owb_counters;

/* list: NULL = OWB_COUNTERS_DEFAULT; otherwise comma-separated PAPI event names (preset, native
 * like "perf::PAGE-FAULTS", or software-defined like "sde:::owbench::regions"), each optionally
 * "A|B"; "none" = getrusage figures only. nthreads: the tids 0..nthreads-1 that will count.
 * Returns NULL with OWB_E_USAGE-style err only for a malformed list (empty item, duplicate, more
 * than OWB_COUNTERS_MAX_EVENTS, name over 127 characters) or bad nthreads, or when out of memory;
 * never because PAPI or a PMU is absent. Caller frees with owb_counters_free. */
struct owb_counters *owb_counters_new(const char *list, int nthreads, char err[OWB_ERR_MAX]);
void owb_counters_free(struct owb_counters *c); /* NULL is a no-op */

/* Call on the worker thread itself, around the measured work. */
void owb_counters_thread_start(struct owb_counters *c, int tid);
void owb_counters_thread_stop(struct owb_counters *c, int tid);
/* Zero the accumulated values (between measurements). */
void owb_counters_reset(struct owb_counters *c);

/* {"PAPI_TOT_CYC": 123 | {"na": "reason"}, ..., "ipc": x | {"na": ...} (when both PAPI_TOT_INS and
 * PAPI_TOT_CYC were asked for), "rusage_nvcsw": n, "rusage_nivcsw": n, "rusage_minflt": n,
 * "rusage_majflt": n}. CPU-component events and rusage are summed over threads; events of other
 * PAPI components (sde:::, uncore) count process-wide and report the largest per-thread delta.
 * Caller owns the result; NULL on OOM. */
cJSON *owb_counters_to_json(const struct owb_counters *c);

/* One line naming the events that were unavailable and why, or NULL when all were counted. Owned
 * by c, valid until the next call on c. */
const char *owb_counters_missing_summary(const struct owb_counters *c);

/* The accumulated value of one event (by its JSON key) in *out: 0, or OWB_E_UNSUPPORTED when the
 * event is na or was not asked for. */
int owb_counters_value(const struct owb_counters *c, const char *name, long long *out);

/* PAPI's state for a result's env.features.papi: compiled in, library usable (active), and a
 * reason ("built without PAPI", "PAPI 7.0.0.0: 0 hardware counters usable (PAPI_TOT_CYC: ...;
 * virtual machine?)", ...). Initialises PAPI once; thread-safe. */
void owb_counters_papi_status(bool *compiled, bool *active, char reason[OWB_ERR_MAX]);

#endif
