/* SPDX-License-Identifier: MIT */
/*
 * ceiling.h: every bandwidth-bound and compute-bound figure of a result document held against the
 * ceilings measured in the same run, after all of its suites have run.
 *
 * Read ceiling of a figure measured on t threads: the best rate of every read kernel
 * (stream/read, read_pf, read_streams4: kernels/readbw.h), of every measurement of them in the
 * document (right before a suite, and again right after it: names ending in "/after") and of
 * every thread count <= t. A ceiling is what the memory can give t threads, so fewer threads that
 * read faster count. Compute peak of kind K on t threads: the best gop_per_s_best of every
 * <suite>/peak/K/t<t'> with t' <= t.
 *
 * Figures: benchmarks with params.roofline == "read" (GEMV, decode) need metrics.bytes_per_iter
 * (bytes per sample) and stats; benchmarks with params.compute_peak (GEMM, prefill) need
 * metrics.gflop_per_s. Each gets (re)written:
 *   read:    ceiling_gb_per_s (best), ceiling_gb_per_s_median, ceiling_gb_per_s_before / _after
 *            (the best before and after the suite, where both were measured), ceiling_spread_pct
 *            (|before - after| / the larger: the ceiling's own run-to-run spread),
 *            params.ceiling (the benchmark that gave the ceiling), pct_of_ceiling (median rate /
 *            best ceiling), pct_of_ceiling_best (best / best), pct_of_ceiling_median (median /
 *            median); decode also roofline_tok_per_s, pct_of_roofline(_best).
 *   compute: compute_peak_gop_per_s, params.compute_peak_from, pct_of_compute_peak.
 * A figure above 100% of its ceiling (median rate against the best ceiling, or GFLOP/s against
 * the best peak) is marked not valid with a note saying by how much: a ceiling that is exceeded
 * is not a ceiling, and the table shows the row as not valid.
 */
#ifndef OWB_BENCH_SUITES_CEILING_H
#define OWB_BENCH_SUITES_CEILING_H

#include <cjson/cJSON.h>

#include "owb_common.h"

/* Annotate every figure of doc as above; read ceilings come from doc and, when not NULL, from
 * ceiling_doc (a --ceiling FILE). Figures without a ceiling at their thread count get a note.
 * Returns the number of figures marked not valid for exceeding their ceiling (>= 0). */
int owb_ceiling_annotate(cJSON *doc, const cJSON *ceiling_doc);

#endif
