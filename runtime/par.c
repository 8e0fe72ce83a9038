/* SPDX-License-Identifier: MIT */
/*
 * par.c: the region barrier and the work grab (runtime/par.h). The barrier's phase is read before
 * arriving; the last arrival resets the count before it publishes the next phase, waiters acquire
 * it. A waiter spins, then sleeps on the condition variable: it counts itself in `sleepers` and
 * re-checks the phase under the mutex, while the last arrival bumps the phase and then reads
 * `sleepers` (both sequentially consistent), so a wake-up cannot fall between a check and the
 * sleep. The fast path takes no lock.
 */
#include "runtime/par.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

void owb_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
}

int owb_barrier_init(struct owb_barrier *b)
{
    atomic_init(&b->phase, 0);
    atomic_init(&b->count, 0);
    atomic_init(&b->sleepers, 0);
    if (pthread_mutex_init(&b->mu, NULL) != 0)
        return -1;
    if (pthread_cond_init(&b->cv, NULL) != 0) {
        pthread_mutex_destroy(&b->mu);
        return -1;
    }
    return 0;
}

void owb_barrier_release(struct owb_barrier *b)
{
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
}

void owb_barrier_wait(struct owb_barrier *b, int nth)
{
    if (nth <= 1)
        return;
    unsigned ph = atomic_load_explicit(&b->phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&b->count, 1, memory_order_acq_rel) == nth - 1) {
        atomic_store_explicit(&b->count, 0, memory_order_relaxed);
        atomic_fetch_add(&b->phase, 1);
        if (atomic_load(&b->sleepers) > 0) {
            pthread_mutex_lock(&b->mu);
            pthread_cond_broadcast(&b->cv);
            pthread_mutex_unlock(&b->mu);
        }
        return;
    }
    for (int spins = 0; spins < OWB_BARRIER_SPINS; spins++) {
        if (atomic_load_explicit(&b->phase, memory_order_acquire) != ph)
            return;
        owb_cpu_relax();
    }
    pthread_mutex_lock(&b->mu);
    atomic_fetch_add(&b->sleepers, 1);
    while (atomic_load(&b->phase) == ph)
        pthread_cond_wait(&b->cv, &b->mu);
    atomic_fetch_sub(&b->sleepers, 1);
    pthread_mutex_unlock(&b->mu);
}

bool owb_grab(_Atomic int64_t *c, int64_t n, int64_t minc, int64_t align, int nth, int64_t *lo,
              int64_t *hi)
{
    int64_t s = atomic_load_explicit(c, memory_order_relaxed);
    for (;;) {
        if (s >= n)
            return false;
        int64_t take = nth == 1 ? n - s : (n - s) / (nth + 1);
        take = take < minc ? minc : (take + align - 1) / align * align;
        take = take < n - s ? take : n - s;
        if (atomic_compare_exchange_weak_explicit(c, &s, s + take, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *lo = s;
            *hi = s + take;
            return true;
        }
    }
}

void owb_slice(int64_t n, int64_t align, int tid, int nth, int64_t *lo, int64_t *hi)
{
    int64_t blocks = (n + align - 1) / align;
    int64_t b0 = blocks * tid / nth, b1 = blocks * (tid + 1) / nth;
    *lo = b0 * align < n ? b0 * align : n;
    *hi = b1 * align < n ? b1 * align : n;
}
