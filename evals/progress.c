/* SPDX-License-Identifier: MIT */
/* progress.c: rate-limited progress line with an ETA from the average rate so far. */
#define _POSIX_C_SOURCE 200809L
#include "evals/progress.h"

#include "owb_common.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* owb_now_ns in seconds: a double holds nanoseconds exactly for the first 104 days of uptime and
 * to within a few ns after, far below the 0.2 s the line is rate-limited to. */
static double now_s(void)
{
    return 1e-9 * (double)owb_now_ns();
}

static void fmt_hms(char *b, size_t n, double s)
{
    long t = s < 0 ? 0 : (long)(s + 0.5);
    if (t >= 3600)
        snprintf(b, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(b, n, "%ld:%02ld", t / 60, t % 60);
}

void owb_progress_start(struct owb_progress *p, const char *label, int64_t total, const char *unit,
                        bool enabled)
{
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    p->unit = unit;
    p->total = total;
    p->enabled = enabled;
    p->tty = isatty(fileno(stderr));
    p->t0 = p->last = now_s();
    p->last_done = -1;
}

static void print_line(struct owb_progress *p, int64_t done, int64_t tokens, double t, bool end)
{
    char el[32], eta[32], rate[48] = "";
    double dt = t - p->t0;
    fmt_hms(el, sizeof el, dt);
    if (done > 0 && done < p->total)
        fmt_hms(eta, sizeof eta, dt / (double)done * (double)(p->total - done));
    else
        snprintf(eta, sizeof eta, "%s", done >= p->total ? "0:00" : "?");
    if (tokens > 0 && dt > 0)
        snprintf(rate, sizeof rate, ", %.0f tok/s", (double)tokens / dt);
    fprintf(stderr, "%s%s: %lld/%lld %s (%.1f%%)%s, elapsed %s, ETA %s%s", p->tty ? "\r" : "",
            p->label, (long long)done, (long long)p->total, p->unit,
            p->total ? 100.0 * (double)done / (double)p->total : 100.0, rate, el, eta,
            p->tty && !end ? "   " : "\n");
    fflush(stderr);
    p->dirty = p->tty && !end;
    p->last_done = done;
}

void owb_progress_update(struct owb_progress *p, int64_t done, int64_t tokens)
{
    if (!p->enabled)
        return;
    double t = now_s();
    int decile = p->total ? (int)(10 * done / p->total) : 10;
    if (p->tty ? t - p->last >= 0.2 : (decile > p->last_decile || t - p->last >= 30.0)) {
        p->last = t;
        p->last_decile = decile;
        print_line(p, done, tokens, t, false);
    }
}

void owb_progress_finish(struct owb_progress *p, int64_t done, int64_t tokens)
{
    if (!p->enabled || (!p->tty && p->last_done == done))
        return;
    print_line(p, done, tokens, now_s(), true);
}
