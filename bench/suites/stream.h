/* SPDX-License-Identifier: MIT */
/*
 * stream.h: the memory-bandwidth suite (STREAM kernels plus a read-only kernel) whose results are
 * the ceilings later suites divide by. Byte counting follows STREAM: bytes read plus bytes
 * written by the kernel's source code (no write-allocate traffic): copy and scale 16 B per
 * element, add and triad 24 B, read 8 B (bytes read only).
 */
#ifndef OWB_BENCH_STREAM_H
#define OWB_BENCH_STREAM_H

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
    OWB_STREAM_READ,
    OWB_STREAM_NKERNELS,
};

struct owb_stream_cfg {
    const int *threads; /* thread counts to run, e.g. {1, 2} */
    int nthreads;
    const char *pin;    /* pinning policy (bench/core/topo.h), default "compact" */
    size_t array_bytes; /* bytes per array; 0 = max(4 x LLC, 64 MiB) */
    struct owb_measure_cfg measure;
    const char *counters; /* PAPI event list for bench/core/counters.h, NULL = default */
    int verbose;          /* progress lines on stderr */
};

void owb_stream_cfg_default(struct owb_stream_cfg *cfg);
const char *owb_stream_kernel_name(enum owb_stream_kernel k);

/* Run every kernel for every thread count and append benchmarks named stream/<kernel>/t<N> to
 * doc (suite "stream", metrics gb_per_s = best, gb_per_s_median, bytes_per_iter). Returns 0, or
 * OWB_E_USAGE (bad policy or thread count, err says which), OWB_E_NOMEM, OWB_E_SYSTEM. */
int owb_stream_run(const struct owb_stream_cfg *cfg, struct owb_topo *topo, cJSON *doc,
                   char err[OWB_ERR_MAX]);

/* The read-bandwidth ceiling in GB/s for a thread count found in a result document: the best
 * gb_per_s of stream/read/t<threads> (or of the largest thread count below it). Returns 0 and
 * sets *gb_per_s, or OWB_E_FORMAT when the document has no stream/read benchmark. */
int owb_stream_read_ceiling(const cJSON *doc, int threads, double *gb_per_s);
/* The same stream/read/t<N> case's median rate (metrics.gb_per_s_median): on a host whose
 * bandwidth comes in bursts the best repetition catches a burst, so medians are compared with
 * medians as well. Same returns. */
int owb_stream_read_ceiling_median(const cJSON *doc, int threads, double *gb_per_s);

#endif
