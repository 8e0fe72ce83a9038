/* SPDX-License-Identifier: MIT */
/*
 * ranks.h: the ranks of a run started by `mpirun -np N owbench ...` (Open MPI), and the few
 * collectives the commands need to split work and merge results: agreeing on a failure, broadcast,
 * gathering byte strings to rank 0, point-to-point messages for eval shards, a clock-offset
 * estimate against rank 0 and an agreed start instant. Without mpirun (or in a build without MPI)
 * there is exactly one rank and every call is a local no-op, so a command behaves as a single
 * process does.
 *
 * MPI is initialised only when the process was launched by an MPI starter (OMPI_COMM_WORLD_SIZE,
 * PMIX_RANK or PMI_SIZE in the environment), with MPI_THREAD_FUNNELED: only the main thread calls
 * into this module, and never from a measured loop. All functions but the point-to-point ones are
 * collective: every rank calls them in the same order. Buffers returned by the gathers are
 * malloc'd and owned by the caller. Not thread-safe.
 */
#ifndef OWB_DIST_RANKS_H
#define OWB_DIST_RANKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "owb_common.h"

/* Start MPI when launched by mpirun (see above); otherwise one rank. Returns 0, or OWB_E_SYSTEM
 * with err when MPI_Init failed. Call once, first thing in main. */
int owb_ranks_init(int *argc, char ***argv, char err[OWB_ERR_MAX]);
/* End MPI cleanly (all ranks reached this point). No-op without MPI. */
void owb_ranks_finalize(void);
/* Stop every rank with exit code code (MPI_Abort); without MPI: exit(code). Does not return. */
void owb_ranks_abort(int code);

int owb_ranks_rank(void); /* 0 .. size - 1 */
int owb_ranks_size(void); /* 1 without mpirun */
/* Index and count of the ranks on this host (for pinning: ranks on one node must not pin their
 * threads to the same CPUs). 0 and 1 without mpirun. */
int owb_ranks_local_rank(void);
int owb_ranks_local_size(void);
/* This host's name (gethostname). */
const char *owb_ranks_host(void);

/* For env.features.mpi: compiled in, active (MPI initialised by a launcher) and why. */
void owb_ranks_feature(bool *compiled, bool *active, char reason[OWB_ERR_MAX]);

/* ---- collectives ---- */

/* Agree on the outcome of a step every rank did: rc is this rank's status (0 ok). Returns the
 * status of the lowest failing rank (0 when none failed) on every rank; then err holds that
 * rank's message, prefixed "rank R (HOST): " when size > 1. Single process: returns rc. */
int owb_ranks_agree(int rc, char err[OWB_ERR_MAX]);
/* Whether the last owb_ranks_agree() returned a failure: then every rank knows, none waits in a
 * collective, and they may all end normally with that failure's exit code. */
bool owb_ranks_agreed_failure(void);

/* Broadcast n bytes from rank 0 into buf on every rank. */
void owb_ranks_bcast(void *buf, size_t n);

/* Gather each rank's n bytes to rank 0: there *all gets their concatenation in rank order and
 * lens[0..size) (caller-allocated, size entries) each rank's count; other ranks get *all = NULL.
 * Returns 0 or OWB_E_NOMEM / OWB_E_USAGE (more than INT_MAX bytes) on rank 0; every rank takes
 * part even when rank 0 fails. */
int owb_ranks_gather(const void *buf, size_t n, void **all, size_t *lens);

void owb_ranks_barrier(void);

/* Clock of this rank against rank 0 (NTP-style ping-pong over CLOCK_REALTIME, best of 8 rounds):
 * offset_ns = this rank's clock minus rank 0's, rtt_ns the round trip it was measured over (the
 * bound on its error is rtt / 2). Rank 0 gets 0, 0. */
struct owb_ranks_clock {
    int64_t offset_ns;
    int64_t rtt_ns;
};
void owb_ranks_clock_sync(struct owb_ranks_clock *c);

/* Agree on a start instant delay_ns from now on rank 0's clock: returns it as a CLOCK_MONOTONIC
 * time of this rank (translated through c), and in *start_rt0_ns the same instant on rank 0's
 * CLOCK_REALTIME. Single process: now + delay_ns. */
uint64_t owb_ranks_start_at(const struct owb_ranks_clock *c, uint64_t delay_ns,
                            int64_t *start_rt0_ns);
/* A CLOCK_MONOTONIC time of this rank on rank 0's CLOCK_REALTIME (ns). */
int64_t owb_ranks_mono_to_rt0(const struct owb_ranks_clock *c, uint64_t mono_ns);

/* ---- point to point ---- */

/* Send n bytes to rank dest with tag; returns once buf may be reused. Waiting sleeps between polls
 * (20 us doubling to 1 ms) rather than spinning: for messages that each follow milliseconds of
 * work (eval shards), not for latency-critical traffic. Returns 0 or OWB_E_SYSTEM. */
int owb_ranks_send(int dest, int tag, const void *buf, size_t n);
/* A send in flight (owb_ranks_isend): opaque; zero-initialised means none. */
struct owb_ranks_req {
    int active;
    union {
        void *p;
        long long i;
    } h; /* the MPI_Request */
};
/* Start sending n bytes to dest with tag; buf must stay untouched until owb_ranks_wait(req)
 * returns. Returns 0 or OWB_E_SYSTEM (req then inactive). */
int owb_ranks_isend(int dest, int tag, const void *buf, size_t n, struct owb_ranks_req *req);
/* Wait (sleeping between polls, as owb_ranks_send) until req's send is done; an inactive req
 * returns at once. Returns 0 or OWB_E_SYSTEM. */
int owb_ranks_wait(struct owb_ranks_req *req);

/* Receive one message from src with tag into a buffer that grows as needed (*buf, *cap: caller
 * owns, realloc'd); *n gets its size. Waits as owb_ranks_send does. Returns 0, OWB_E_NOMEM or
 * OWB_E_SYSTEM. */
int owb_ranks_recv(int src, int tag, void **buf, size_t *cap, size_t *n);

#endif
