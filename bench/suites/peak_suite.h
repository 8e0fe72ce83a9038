/* SPDX-License-Identifier: MIT */
/*
 * peak_suite.h: compute ceilings (kernels/peak.h) measured in a benchmark run, on the threads the
 * run's cases use, so that compute-bound results (GEMM, prefill) carry the ceiling of the same run
 * as bandwidth-bound ones carry stream's read ceiling.
 */
#ifndef OWB_BENCH_PEAK_SUITE_H
#define OWB_BENCH_PEAK_SUITE_H

#include <cjson/cJSON.h>

#include "bench/core/measure.h"
#include "bench/core/pool.h"
#include "kernels/peak.h"
#include "owb_common.h"

/* Measure every compute ceiling isa has on the pool's nthr threads (quick measurement settings
 * derived from measure) and append <suite>/peak/<kind>/t<nthr> (suite `suite`; params peak,
 * threads, isa, instructions, iters_per_thread; metrics gop_per_s, gop_per_s_best) to doc.
 * best[kind] gets the best rate in GOP/s, 0 where isa has no such loop. A kind already in doc for
 * this suite and thread count is not measured again: best[kind] is its recorded best. verbose: one
 * line on stderr. Returns 0; OWB_E_NOMEM; OWB_E_SYSTEM when a loop returned a wrong checksum (err
 * says which), or the measurement's own error. */
int owb_peak_suite_run(struct owb_pool *pool, int nthr, enum owb_isa isa, const char *suite,
                       const struct owb_measure_cfg *measure, const char *pin, int verbose,
                       cJSON *doc, double best[OWB_PEAK_COUNT], char err[OWB_ERR_MAX]);

/* Name the compute peak a batched figure is held against (params.compute_peak: kind k, when this
 * ISA has a loop for it, best[k] > 0). The peak and the percentage are filled by
 * owb_ceiling_annotate (bench/suites/ceiling.h): the best peak of the run at <= its threads. */
void owb_peak_suite_annotate(cJSON *bench, enum owb_peak_kind k, const double best[OWB_PEAK_COUNT]);

#endif
