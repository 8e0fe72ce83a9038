/* SPDX-License-Identifier: MIT */
/*
 * par.c: the spin-then-sleep event, the region barrier on it, and the work grab (runtime/par.h).
 * The fast paths take no lock.
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

int owb_event_init(struct owb_event *e)
{
    atomic_init(&e->gen, 0);
    atomic_init(&e->sleepers, 0);
    if (pthread_mutex_init(&e->mu, NULL) != 0)
        return -1;
    if (pthread_cond_init(&e->cv, NULL) != 0) {
        pthread_mutex_destroy(&e->mu);
        return -1;
    }
    return 0;
}

void owb_event_release(struct owb_event *e)
{
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
}

unsigned owb_event_gen(struct owb_event *e)
{
    return atomic_load_explicit(&e->gen, memory_order_acquire);
}

unsigned owb_event_wait(struct owb_event *e, unsigned seen, int spins)
{
    unsigned g;
    for (int i = 0; i < spins; i++) {
        if ((g = atomic_load_explicit(&e->gen, memory_order_acquire)) != seen)
            return g;
        owb_cpu_relax();
    }
    pthread_mutex_lock(&e->mu);
    atomic_fetch_add(&e->sleepers, 1);
    while ((g = atomic_load(&e->gen)) == seen)
        pthread_cond_wait(&e->cv, &e->mu);
    atomic_fetch_sub(&e->sleepers, 1);
    pthread_mutex_unlock(&e->mu);
    return g;
}

void owb_event_signal(struct owb_event *e)
{
    atomic_fetch_add(&e->gen, 1);
    if (atomic_load(&e->sleepers) > 0) {
        pthread_mutex_lock(&e->mu);
        pthread_cond_broadcast(&e->cv);
        pthread_mutex_unlock(&e->mu);
    }
}

int owb_barrier_init(struct owb_barrier *b)
{
    atomic_init(&b->count, 0);
    return owb_event_init(&b->ev);
}

void owb_barrier_release(struct owb_barrier *b)
{
    owb_event_release(&b->ev);
}

void owb_barrier_wait(struct owb_barrier *b, int nth)
{
    if (nth <= 1)
        return;
    /* the phase is read before arriving; the last arrival resets the count, then publishes the
     * next phase */
    unsigned ph = owb_event_gen(&b->ev);
    if (atomic_fetch_add_explicit(&b->count, 1, memory_order_acq_rel) == nth - 1) {
        atomic_store_explicit(&b->count, 0, memory_order_relaxed);
        owb_event_signal(&b->ev);
        return;
    }
    owb_event_wait(&b->ev, ph, OWB_BARRIER_SPINS);
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
