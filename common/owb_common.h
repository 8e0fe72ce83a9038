/* SPDX-License-Identifier: MIT */
/*
 * owb_common.h: the few definitions every layer shares: status codes, the size of a caller's
 * error buffer, an always-on assertion and the process exit codes. Header-only; depends on libc.
 */
#ifndef OWB_COMMON_H
#define OWB_COMMON_H

#include <stdio.h>
#include <stdlib.h>

/* Size of the `char err[OWB_ERR_MAX]` buffers that fallible functions fill with one sentence
 * naming the input and the problem. */
#define OWB_ERR_MAX 512

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

#define OWB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
