/* SPDX-License-Identifier: MIT */
/*
 * par.h: the pieces of a parallel region that every layer above shares: a spin-then-sleep barrier
 * for the threads of one region, and a guided work grab over a shared counter. A region is a
 * function run once on each of n threads at the same time (a pool's fork-join or the model's
 * runner); its threads meet at owb_barrier_wait between steps and take ranges of a step's items
 * with owb_grab. Neither allocates after init; both are lock-free on the fast path.
 *
 * Spinning then sleeping: a waiter polls for OWB_BARRIER_SPINS iterations (about 20-50 us), long
 * enough for the step imbalance of a decode, short enough that a thread whose partner was
 * descheduled on a shared machine gives its CPU away. Sleeping, not yielding: a woken thread
 * preempts a CPU hog at once (the scheduler credits sleepers), whereas a yielding one competes
 * for every slice.
 *
 * Thread-safety: a barrier is used by the threads of one region at a time; owb_grab may be called
 * concurrently on one counter by any number of threads.
 */
#ifndef OWB_RUNTIME_PAR_H
#define OWB_RUNTIME_PAR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Polls of the phase before a barrier waiter sleeps. */
#define OWB_BARRIER_SPINS 2000

/* A generation counter that threads wait on for a change: the one spin-then-sleep wait of the
 * runtime (the barrier and the pool are built on it). Each field has its own cache line. */
struct owb_event {
    _Alignas(64) _Atomic unsigned gen;
    _Alignas(64) _Atomic int sleepers; /* threads asleep on cv */
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

/* Create the mutex and condition variable. Returns 0, or -1 when the system refuses. */
int owb_event_init(struct owb_event *e);
void owb_event_release(struct owb_event *e);
/* The current generation (acquire): read it before the condition a later wait is for. */
unsigned owb_event_gen(struct owb_event *e);
/* Wait until the generation differs from seen: poll `spins` times, then sleep. Returns the new
 * generation. Writes made before the signal are visible after the wait. */
unsigned owb_event_wait(struct owb_event *e, unsigned seen, int spins);
/* Bump the generation and wake the sleepers. The waker bumps, then reads `sleepers`; a waiter
 * counts itself in `sleepers`, then re-checks the generation under the mutex (both sequentially
 * consistent), so a wake-up cannot fall between a waiter's last check and its sleep. */
void owb_event_signal(struct owb_event *e);

/* A reusable barrier (the thread count is given per wait; all threads of one wait pass the same
 * count). */
struct owb_barrier {
    _Alignas(64) _Atomic int count;
    struct owb_event ev; /* its generation is the barrier's phase */
};

/* Create the barrier's event. Returns 0, or -1 when the system refuses. The struct must stay at
 * its address (64-byte aligned storage) until owb_barrier_release. */
int owb_barrier_init(struct owb_barrier *b);
void owb_barrier_release(struct owb_barrier *b);

/* Wait until nth threads have arrived (nth == 1 returns at once). Memory written by any thread
 * before it arrives is visible to every thread after the wait. */
void owb_barrier_wait(struct owb_barrier *b, int nth);

/* Guided self-scheduling: the next range [*lo, *hi) of [0, n) for the calling thread, a
 * 1/(nth + 1) share of what is left (at least minc items, rounded up to a multiple of align,
 * never past n), taken from the shared counter c (set to 0 before the step). With minc a
 * multiple of align every range starts on a multiple of align. Threads that run
 * faster take more; the last ranges are small, so the threads reach the next barrier nearly
 * together. Returns false when nothing is left. */
bool owb_grab(_Atomic int64_t *c, int64_t n, int64_t minc, int64_t align, int nth, int64_t *lo,
              int64_t *hi);

/* Static partition of [0, n) into nth contiguous slices, boundaries on multiples of align (the
 * last slice takes the rest); slice of tid in [*lo, *hi). */
void owb_slice(int64_t n, int64_t align, int tid, int nth, int64_t *lo, int64_t *hi);

/* Spin-wait hint for the CPU (pause on x86). */
void owb_cpu_relax(void);

#endif
