/* SPDX-License-Identifier: MIT */
/*
 * owb_common.h: the few definitions every layer shares: status codes, the size of a caller's
 * error buffer, an always-on assertion, the process exit codes and the one clock (owb_now_ns, in
 * common/owb_clock.c, library owb_common that every owbench library links). Depends on libc.
 */
#ifndef OWB_COMMON_H
#define OWB_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Size of the `char err[OWB_ERR_MAX]` buffers that fallible functions fill with one sentence
 * naming the input and the problem. */
#define OWB_ERR_MAX 512

/* Fill err (NULL: nothing) with the printf-style sentence, cut at OWB_ERR_MAX - 1 bytes. */
void owb_seterr(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parse a positive byte size with an optional K/M/G suffix (powers of 1024; "iB" or "B" may
 * follow). Returns 0, or OWB_E_USAGE with err "OPT 'S': ..." (opt names the option or variable). */
int owb_parse_size(const char *opt, const char *s, size_t *out, char err[OWB_ERR_MAX]);

/* Return values of fallible library functions: 0 ok, negative on failure. */
enum owb_status {
    OWB_OK = 0,
    OWB_E_USAGE = -1,       /* bad argument from the user (maps to exit 2) */
    OWB_E_IO = -2,          /* file or network I/O failed (exit 3) */
    OWB_E_FORMAT = -3,      /* corrupt or unsupported input data (exit 3) */
    OWB_E_NOMEM = -4,       /* allocation failed (exit 3) */
    OWB_E_SYSTEM = -5,      /* OS or library call failed (exit 3) */
    OWB_E_UNSUPPORTED = -6, /* feature absent in this build or on this machine (exit 3 or 77) */
};

/* Process exit codes (documented in README.md). */
enum owb_exit {
    OWB_EXIT_OK = 0,
    OWB_EXIT_REGRESSION = 1, /* regression found, gate failed */
    OWB_EXIT_USAGE = 2,
    OWB_EXIT_RUNTIME = 3,
    OWB_EXIT_INCONCLUSIVE = 4, /* paired gate could not decide */
    OWB_EXIT_SKIPPED = 77,
};

/* Map a status to the exit code the CLI uses. */
static inline int owb_status_exit(int status)
{
    if (status == OWB_OK)
        return OWB_EXIT_OK;
    return status == OWB_E_USAGE ? OWB_EXIT_USAGE : OWB_EXIT_RUNTIME;
}

/* Always-on assertion for programmer errors (never for bad input). */
#define OWB_ASSERT(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Monotonic time in nanoseconds: the one clock of every duration owbench measures or reports
 * (benchmark samples, model profiles, eval and generate timings, the serving load generator and
 * the test server). Thread-safe; about as cheap as a clock read gets (vDSO, no system call).
 *
 * It reads CLOCK_MONOTONIC, not CLOCK_MONOTONIC_RAW, so that every deadline and timestamp lives in
 * one domain: the serving load generator schedules arrivals with timerfd, which cannot run on the
 * RAW clock, and its raw records are joined with the test server's send times (another process)
 * on the same clock. The price is NTP's frequency slewing, bounded by the kernel at 500 ppm
 * (0.05%) and normally a few ppm: far below the run-to-run spread of any benchmark; the clock
 * never steps. Never compare its values across machines or boots. */
uint64_t owb_now_ns(void);
/* The clock id owb_now_ns reads (expands at the use site, which includes <time.h> with POSIX
 * enabled): timers armed with absolute owb_now_ns values (timerfd) are created on it. */
#define OWB_NOW_CLOCK CLOCK_MONOTONIC

#define OWB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
