/* SPDX-License-Identifier: MIT */
/*
 * pool.h: a persistent pinned thread pool with fork-join parallel_for. Worker i is bound to
 * cpus[i] of the pinning plan (bench/core/topo.h); worker 0 is the calling thread (bound too while
 * the pool lives). One parallel region at a time: owb_pool_run is not reentrant and must be called
 * from the thread that created the pool. Workers record the CPU they ran on (sched_getcpu) at the
 * start and end of each region so callers can report requested vs observed CPUs and migrations.
 */
#ifndef OWB_BENCH_POOL_H
#define OWB_BENCH_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "owb_common.h"

struct owb_pool;

/* Body of a parallel region: runs once on each of nthreads workers (tid 0..nthreads-1). */
typedef void (*owb_pool_fn)(void *ctx, int tid, int nthreads);

/* Create a pool of n threads pinned to cpus[0..n) (cpus may be NULL: unpinned). Returns NULL and
 * fills err when threads cannot be created or pinned. */
struct owb_pool *owb_pool_new(int n, const int *cpus, char err[OWB_ERR_MAX]);
/* Join the workers and free the pool; NULL is a no-op. Restores the caller's affinity. */
void owb_pool_free(struct owb_pool *p);
int owb_pool_size(const struct owb_pool *p);

/* Run fn on every worker and wait for all (fork-join with a barrier at the end). */
void owb_pool_run(struct owb_pool *p, owb_pool_fn fn, void *ctx);

/* Static partition of [0, n) into nthreads contiguous slices, aligned to `align` items (except the
 * last); slice of tid in [*lo, *hi). */
void owb_pool_slice(int64_t n, int64_t align, int tid, int nthreads, int64_t *lo, int64_t *hi);

/* The CPU each worker ran on at the start and end of the last region (-1 if unknown). */
int owb_pool_cpu_before(const struct owb_pool *p, int tid);
int owb_pool_cpu_after(const struct owb_pool *p, int tid);
/* The CPU worker tid was asked to run on (-1 when unpinned). */
int owb_pool_cpu_requested(const struct owb_pool *p, int tid);
/* True when any worker ran on a CPU other than the requested one in any region since the last
 * owb_pool_reset_migrations() (for an unpinned worker: when its CPU at the end of a region differs
 * from the one at the start). */
bool owb_pool_migrated(const struct owb_pool *p);
/* Keep what the workers observed in the last region (CPUs at its start and end, the migration
 * flags), and put it back: a counting pass run after a timed loop is wrapped in these so that the
 * pinning record and the migration verdict are the timed loop's. Allocation-free. */
void owb_pool_keep_observed(struct owb_pool *p);
void owb_pool_restore_observed(struct owb_pool *p);
void owb_pool_reset_migrations(struct owb_pool *p);

/* ---- additions by the runner (not in the lead's first draft) ---- */

/* Body of owb_pool_parallel_for: one call per worker with a non-empty slice [lo, hi). */
typedef void (*owb_pool_range_fn)(void *ctx, int64_t lo, int64_t hi, int tid);
/* Fork-join parallel for over [0, n) with the static partition of owb_pool_slice. */
void owb_pool_parallel_for(struct owb_pool *p, int64_t n, int64_t align, owb_pool_range_fn fn,
                           void *ctx);

/* Per-worker memory placed by first touch: allocates one page-aligned buffer of `bytes` per worker
 * and has each worker zero its own buffer inside a region, so its pages land on the worker's NUMA
 * node. bufs[0..owb_pool_size) receive the buffers (free each with free()). Returns 0, or
 * OWB_E_NOMEM with nothing allocated. */
int owb_pool_alloc_local(struct owb_pool *p, size_t bytes, void **bufs);

/* The pinning record of a benchmark: {"policy", "requested": [cpu | -1], "observed_before": [...],
 * "observed_after": [...], "migrated": bool}: CPUs of the last region of p, migrated as
 * owb_pool_migrated (any region since the last reset); p NULL: policy only.
 * Caller owns the result (cJSON_Delete); NULL on OOM. */
cJSON *owb_pinning_to_json(const char *policy, const struct owb_pool *p);

/* Every owb_pool_run of the process counts one parallel region. With PAPI SDE support
 * (OWB_HAVE_SDE) the count is exported as the software-defined event below, readable through a
 * normal PAPI event set (bench/core/counters.h); owb_pool_regions_total returns it directly. */
#define OWB_POOL_SDE_REGIONS "sde:::owbench::regions"
long long owb_pool_regions_total(void);
/* Register the owbench SDE counters with libsde (idempotent, thread-safe; a no-op without SDE).
 * bench/core/counters.c calls it before looking up an sde:::owbench:: event; the count starts at
 * process start either way (SDE events are read as deltas). */
void owb_pool_sde_init(void);

#endif
