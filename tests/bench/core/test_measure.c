/* SPDX-License-Identifier: MIT */
/*
 * test_measure.c: the measurement loop of bench/core/measure.h honours its configuration: warm-up
 * runs and warm-up seconds, min_reps, min_time_s, max_reps, max_time_s (even below min_reps), at
 * least one sample, a failing repetition aborting with OWB_E_SYSTEM, bad configurations refused;
 * samples are at least as long as the busy-wait they time. Timing bounds are one-sided so a loaded
 * machine cannot fail the test.
 */
#include <stdint.h>
#include <stdlib.h>

#include "bench/core/measure.h"
#include "owb_test.h"

struct ctx {
    uint64_t busy_ns; /* spin this long per call */
    int calls;
    int fail_at;                      /* fail on this call number (1-based), 0 = never */
    uint64_t first_start, last_start; /* owb_now_ns() at the start of the first and last call */
};

static int rep(void *p)
{
    struct ctx *c = p;
    c->last_start = owb_now_ns();
    if (c->calls == 0)
        c->first_start = c->last_start;
    c->calls++;
    if (c->fail_at && c->calls == c->fail_at)
        return -1;
    uint64_t t0 = owb_now_ns();
    while (owb_now_ns() - t0 < c->busy_ns)
        ;
    return 0;
}

static struct owb_measure_cfg base(void)
{
    struct owb_measure_cfg cfg;
    owb_measure_cfg_default(&cfg);
    cfg.warmup_runs = 0;
    cfg.warmup_s = 0;
    cfg.min_reps = 1;
    cfg.min_time_s = 0;
    cfg.max_reps = 100000;
    cfg.max_time_s = 10;
    return cfg;
}

int main(void)
{
    struct owb_measure_cfg cfg;
    struct owb_samples s;

    owb_measure_cfg_default(&cfg);
    CHECK(cfg.warmup_runs == 2 && cfg.min_reps == 10 && cfg.max_reps == 10000);
    CHECK(cfg.warmup_s == 0.05 && cfg.min_time_s == 0.5 && cfg.max_time_s == 10.0);
    CHECK(cfg.max_rel_spread == 0.10);

    uint64_t a = owb_now_ns(), b = owb_now_ns();
    CHECK(b >= a);

    /* min_reps with no time requirement: exactly min_reps samples after exactly warmup_runs. */
    {
        struct ctx c = {200000, 0, 0, 0, 0};
        cfg = base();
        cfg.warmup_runs = 3;
        cfg.min_reps = 20;
        CHECK(owb_measure_run(&cfg, rep, &c, &s) == 0);
        CHECK_MSG(s.n == 20, "n = %zu", s.n);
        CHECK_MSG(c.calls == 23, "calls = %d", c.calls);
        for (size_t i = 0; i < s.n; i++)
            CHECK_MSG(s.ns[i] >= 200000.0, "sample %zu = %g ns < busy time", i, s.ns[i]);
        free(s.ns);
    }
    /* min_time_s: 1 ms calls until 50 ms have passed; never more than 50 calls. */
    {
        struct ctx c = {1000000, 0, 0, 0, 0};
        cfg = base();
        cfg.min_time_s = 0.05;
        uint64_t t0 = owb_now_ns();
        CHECK(owb_measure_run(&cfg, rep, &c, &s) == 0);
        double wall = (double)(owb_now_ns() - t0) * 1e-9;
        CHECK_MSG(wall >= 0.05, "wall %g s", wall);
        CHECK_MSG(s.n >= 1 && s.n <= 50, "n = %zu", s.n);
        double sum = 0;
        for (size_t i = 0; i < s.n; i++)
            sum += s.ns[i];
        CHECK_MSG(sum >= 0.045e9, "samples sum %g ns", sum); /* loop overhead is tiny */
        free(s.ns);
    }
    /* max_reps wins over min_reps. */
    {
        struct ctx c = {1000, 0, 0, 0, 0};
        cfg = base();
        cfg.min_reps = 1000;
        cfg.max_reps = 15;
        CHECK(owb_measure_run(&cfg, rep, &c, &s) == 0);
        CHECK_MSG(s.n == 15, "n = %zu", s.n);
        free(s.ns);
    }
    /* max_time_s stops early, below min_reps. */
    {
        struct ctx c = {1000000, 0, 0, 0, 0};
        cfg = base();
        cfg.min_reps = 100000;
        cfg.max_time_s = 0.03;
        uint64_t t0 = owb_now_ns();
        CHECK(owb_measure_run(&cfg, rep, &c, &s) == 0);
        double wall = (double)(owb_now_ns() - t0) * 1e-9;
        CHECK_MSG(s.n >= 1 && s.n <= 30, "n = %zu", s.n);
        CHECK_MSG(wall < 2.0, "wall %g s for a 0.03 s limit", wall);
        free(s.ns);
    }
    /* max_time_s = 0 still takes one sample. */
    {
        struct ctx c = {1000, 0, 0, 0, 0};
        cfg = base();
        cfg.min_reps = 10;
        cfg.max_time_s = 0;
        CHECK(owb_measure_run(&cfg, rep, &c, &s) == 0);
        CHECK_MSG(s.n == 1, "n = %zu", s.n);
        free(s.ns);
    }
    /* warmup_s: no warm-up runs requested, but 20 ms of 1 ms calls before the one timed call
     * (its start is at least 20 ms after the first call's; fewer than 20 calls is possible on a
     * loaded machine, so the time is checked, not the count). */
    {
        struct ctx c = {1000000, 0, 0, 0, 0};
        cfg = base();
        cfg.warmup_s = 0.02;
        cfg.min_reps = 1;
        CHECK(owb_measure_run(&cfg, rep, &c, &s) == 0);
        CHECK_MSG(s.n == 1, "n = %zu", s.n);
        double warm = (double)(c.last_start - c.first_start) * 1e-9;
        CHECK_MSG(warm >= 0.0195, "warm-up lasted %g s", warm);
        CHECK_MSG(c.calls - (int)s.n <= 20, "warm-up calls %d for 20 ms of 1 ms calls",
                  c.calls - (int)s.n);
        free(s.ns);
    }
    /* A failing repetition (here during the timed loop) aborts; nothing is returned. */
    {
        struct ctx c = {0, 0, 5, 0, 0};
        cfg = base();
        cfg.warmup_runs = 2;
        cfg.min_reps = 10;
        s.ns = (double *)&c; /* must be reset */
        CHECK(owb_measure_run(&cfg, rep, &c, &s) == OWB_E_SYSTEM);
        CHECK(s.ns == NULL && s.n == 0);
        CHECK(c.calls == 5);
    }
    /* Bad configurations. */
    {
        struct ctx c = {0, 0, 0, 0, 0};
        cfg = base();
        cfg.max_reps = 0;
        CHECK(owb_measure_run(&cfg, rep, &c, &s) == OWB_E_USAGE);
        cfg = base();
        cfg.min_time_s = -1;
        CHECK(owb_measure_run(&cfg, rep, &c, &s) == OWB_E_USAGE);
        CHECK(c.calls == 0);
    }
    TEST_DONE();
}
