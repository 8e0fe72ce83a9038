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
 * Interleaved read ceiling: figures may also carry ceiling_interleaved_samples (GB/s read on their
 * own threads right before and after their repetitions, owb_ilv_sample below) and their share of
 * them (pct_of_ceiling_interleaved, pct_of_roofline_interleaved). Those are extra figures: the
 * ceiling above, its validity rule and params.ceiling (a benchmark `owbench compare` can find in
 * both runs) stay the suites' read benchmarks.
 * A figure above 100% of its ceiling (median rate against the best ceiling, or GFLOP/s against
 * the best peak) is marked not valid with a note saying by how much: a ceiling that is exceeded
 * is not a ceiling, and the table shows the row as not valid.
 */
#ifndef OWB_BENCH_SUITES_CEILING_H
#define OWB_BENCH_SUITES_CEILING_H

#include <cjson/cJSON.h>

#include "owb_common.h"

struct owb_pool;

/* The interleaved read ceiling: a buffer of owb_topo_sweep_bytes (4x the last-level cache, at most
 * 1/16 of memory, at least 64 MiB) placed by the pool's threads, read by them with the two fastest
 * read kernels of the ceiling (kernels/readbw.h: pf and streams4), twice each; a sample is the best
 * of the four rates. Taken between the repetitions of a figure, it measures the memory in the same
 * regime as the figure: on shared machines the bandwidth moves by 2x from one minute to the next
 * (docs/perf-notes.md: 40 -> 92 GB/s between the ceilings before and after one run). */
struct owb_ilv {
    struct owb_pool *pool;
    uint64_t *buf;
    int64_t words; /* 64-bit words of buf (0: not initialised) */
};
#define OWB_ILV_HOW                                                                                \
    "read kernels pf and streams4 (best of 2 passes each) over a buffer of 4x the LLC (at most "   \
    "1/16 of memory) on the same threads"

/* Allocate and first-touch the buffer on the pool's threads. Returns 0 or OWB_E_NOMEM (nothing
 * allocated). */
int owb_ilv_init(struct owb_ilv *v, struct owb_pool *pool, size_t sweep_bytes);
/* One sample in GB/s (0 when v is not initialised). */
double owb_ilv_sample(struct owb_ilv *v);
/* Free the buffer; v may be zeroed or released already. */
void owb_ilv_release(struct owb_ilv *v);

/* Annotate every figure of doc as above; read ceilings come from doc and, when not NULL, from
 * ceiling_doc (a --ceiling FILE). Figures without a ceiling at their thread count get a note.
 * Returns the number of figures marked not valid for exceeding their ceiling (>= 0). */
int owb_ceiling_annotate(cJSON *doc, const cJSON *ceiling_doc);

#endif
