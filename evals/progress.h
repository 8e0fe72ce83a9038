/* SPDX-License-Identifier: MIT */
/*
 * progress.h: the progress line of long evals on stderr: done/total, rate, elapsed and ETA. On a
 * terminal one line is rewritten (at most 5 times a second); otherwise a line is printed every
 * 10% or 30 s so logs stay short. Not thread-safe; one progress per loop.
 */
#ifndef OWB_EVALS_PROGRESS_H
#define OWB_EVALS_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct owb_progress {
    char label[64];
    const char *unit; /* what total counts ("windows", "items") */
    int64_t total;
    double t0, last; /* seconds (owb_now_ns) */
    int last_decile;
    int64_t last_done; /* done of the last line printed (-1: none) */
    bool enabled, tty, dirty;
};

void owb_progress_start(struct owb_progress *p, const char *label, int64_t total, const char *unit,
                        bool enabled);
/* done of total finished; tokens > 0 adds a tokens/s rate. */
void owb_progress_update(struct owb_progress *p, int64_t done, int64_t tokens);
/* Final line (always printed when enabled). */
void owb_progress_finish(struct owb_progress *p, int64_t done, int64_t tokens);

#endif
