/* SPDX-License-Identifier: MIT */
/*
 * pool.h: a persistent fork-join thread pool, optionally pinned: worker i runs on cpus[i], worker
 * 0 is the calling thread (pinned too while the pool lives, its affinity restored on free).
 * owb_rt_pool_run(fn, ctx) runs fn(ctx, tid, n) on all n workers at once and returns when every
 * one is done; the threads of one region run concurrently, so fn may use an owb_barrier
 * (runtime/par.h). Between regions the workers wait on a spin-then-sleep event. Pinning and the
 * pool itself need only libc and pthreads (bench/core/pool.h adds CPU records, migration checks
 * and the result JSON on top).
 *
 * One region at a time: owb_rt_pool_run is not reentrant and must be called from the thread that
 * created the pool. Ownership: the pool is a heap object freed by owb_rt_pool_free.
 */
#ifndef OWB_RUNTIME_POOL_H
#define OWB_RUNTIME_POOL_H

#include "owb_common.h"

struct owb_rt_pool;

/* Body of a parallel region: runs once on each of nthreads workers (tid 0..nthreads-1). */
typedef void (*owb_rt_fn)(void *ctx, int tid, int nthreads);

/* Create a pool of n threads pinned to cpus[0..n) (cpus NULL, or an entry -1: not pinned; an
 * unpinned worker gets the caller's affinity). Returns NULL and fills err when threads cannot be
 * created or pinned. */
struct owb_rt_pool *owb_rt_pool_new(int n, const int *cpus, char err[OWB_ERR_MAX]);
/* Join the workers and free the pool; NULL is a no-op. Restores the caller's affinity. */
void owb_rt_pool_free(struct owb_rt_pool *p);
int owb_rt_pool_size(const struct owb_rt_pool *p);
/* Run fn on every worker and wait for all of them. */
void owb_rt_pool_run(struct owb_rt_pool *p, owb_rt_fn fn, void *ctx);

#endif
