/* SPDX-License-Identifier: MIT */
/*
 * owb_clock.c: owb_now_ns, the one clock of every duration in owbench (declared in owb_common.h,
 * which says why it reads CLOCK_MONOTONIC). A source file rather than a static inline so the
 * header needs no POSIX feature macro from the files that include it.
 */
#define _POSIX_C_SOURCE 200809L
#include "owb_common.h"

#include <time.h>

uint64_t owb_now_ns(void)
{
    struct timespec ts;
    /* Cannot fail for CLOCK_MONOTONIC on Linux with a valid pointer. */
    OWB_ASSERT(clock_gettime(OWB_NOW_CLOCK, &ts) == 0);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
