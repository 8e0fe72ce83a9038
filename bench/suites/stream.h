/* SPDX-License-Identifier: MIT */
/*
 * stream.h: the memory-bandwidth suite (STREAM kernels plus a read-only kernel) whose results are
 * the ceilings later suites divide by. Byte counting follows STREAM: bytes read plus bytes
 * written by the kernel's source code (no write-allocate traffic): copy and scale 16 B per
 * element, add and triad 24 B, read 8 B (bytes read only).
 */
#ifndef OWB_BENCH_STREAM_H
#define OWB_BENCH_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "owb_common.h"
#include "bench/core/measure.h"

struct owb_topo;

enum owb_stream_kernel {
    OWB_STREAM_COPY,
    OWB_STREAM_SCALE,
    OWB_STREAM_ADD,
    OWB_STREAM_TRIAD,
    OWB_STREAM_READ,          /* kernels/readbw.h "plain" */
    OWB_STREAM_READ_PF,       /* "pf": vector loads + software prefetch (the GEMV's pattern) */
    OWB_STREAM_READ_STREAMS4, /* "streams4": four streams of one slice at once */
    OWB_STREAM_NKERNELS,
};

struct owb_stream_cfg {
    const int *threads; /* thread counts to run, e.g. {1, 2} */
    int nthreads;
    const char *pin;    /* pinning policy (bench/core/topo.h), default "compact" */
    size_t array_bytes; /* bytes per array; 0 = owb_topo_sweep_bytes */
    struct owb_measure_cfg measure;
    const char *counters; /* PAPI event list for bench/core/counters.h, NULL = default */
    int verbose;          /* progress lines on stderr */
    int read_only;        /* only the read kernels (a ceiling re-measured after a suite) */
    const char *suffix;   /* appended to every name ("stream/read/t2/after"); NULL: none */
};

void owb_stream_cfg_default(struct owb_stream_cfg *cfg);
const char *owb_stream_kernel_name(enum owb_stream_kernel k);

/* Run every kernel for every thread count and append benchmarks named stream/<kernel>/t<N> to
 * doc (suite "stream", metrics gb_per_s = best, gb_per_s_median, bytes_per_iter). Returns 0, or
 * OWB_E_USAGE (bad policy or thread count, err says which), OWB_E_NOMEM, OWB_E_SYSTEM. */
int owb_stream_run(const struct owb_stream_cfg *cfg, struct owb_topo *topo, cJSON *doc,
                   char err[OWB_ERR_MAX]);

/* True for the names of read-ceiling benchmarks: stream/read/t<N>, stream/read_pf/t<N>,
 * stream/read_streams4/t<N>, each optionally followed by "/<suffix>"; sets *threads to N. */
bool owb_stream_is_read_name(const char *name, int *threads);

/* The read-bandwidth ceiling in GB/s for a thread count found in a result document: the best
 * gb_per_s over every read kernel (plain, pf, streams4), every measurement of it (before and
 * after a suite) and every thread count up to `threads` (more threads than the memory needs can
 * read slower than fewer: the ceiling at t is what t threads can get). Returns 0 and sets
 * *gb_per_s, or OWB_E_FORMAT when the document has no read benchmark at or below `threads`. */
int owb_stream_read_ceiling(const cJSON *doc, int threads, double *gb_per_s);
/* The same maximum over the cases' median rates (metrics.gb_per_s_median): on a host whose
 * bandwidth comes in bursts the best repetition catches a burst, so medians are compared with
 * medians as well. Same returns. */
int owb_stream_read_ceiling_median(const cJSON *doc, int threads, double *gb_per_s);

#endif
