/* SPDX-License-Identifier: MIT */
/*
 * model_suite.h: prefill and decode speed of a GGUF model run in-process (`owbench model`), the
 * llama-bench pp/tg pair and what explains it. For every thread count a pinned pool runs the
 * model (model/arch.h) and this suite times (decode first: closest in time to a ceiling measured
 * just before the suite, on a machine whose bandwidth changes with its neighbours):
 *
 *   prefill  n_prompt random tokens from an empty cache as one forward call (logits of the last
 *            token only), `reps` times after one warm-up; samples are the calls' ns, tok_per_s =
 *            n_prompt / median (llama-bench's avg_ts is also given as tok_per_s_mean).
 *   decode   n_gen single-token forward calls at positions 0..n_gen-1 (llama-bench tg), `reps`
 *            times after one warm-up; samples are the per-token ns (reps x n_gen of them, in
 *            order), tok_per_s = number of samples / their sum (tokens over time), plus the
 *            latency by context position (buckets of positions: n, median, p90, mean) and the
 *            roofline: bytes one token reads (every weight matrix once, one embedding row, the
 *            KV cache of its context, averaged over the run's positions) against the read
 *            ceiling (stream/read/t<N> of the same run, or of a given document):
 *            roofline_tok_per_s = ceiling / bytes_per_token and pct_of_roofline (and
 *            pct_of_roofline_best: the best repetition's rate, as the ceiling is the best of its
 *            samples too; on a shared machine this is the least disturbed pair). On the CPU
 *            the read ceiling is also sampled between the repetitions (interleave_ceiling):
 *            pct_of_roofline_interleaved holds each repetition against the ceiling measured
 *            right before and after it, which stays meaningful when the host's bandwidth
 *            changes regime during the run.
 *
 * Both carry the memory footprint (weights_bytes, kv_bytes_per_token, kv_cache_bytes for the
 * context used) and, from one extra profiled repetition after the timed ones (so the clock reads
 * never perturb the samples), the time per operation class per token: matmul by weight type,
 * attention, norm, sync (waiting at barriers) and other (model/arch.h owb_model_profile).
 *
 * Ownership: the suite opens, maps and frees the model itself; doc receives the benchmarks.
 * Failure: 0 or a negative enum owb_status with err naming the file or value. Not thread-safe
 * (one run at a time per process: it pins the calling thread while a pool lives).
 */
#ifndef OWB_BENCH_MODEL_SUITE_H
#define OWB_BENCH_MODEL_SUITE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cjson/cJSON.h>

#include "bench/core/measure.h"
#include "owb_common.h"

struct owb_backend;
struct owb_topo;

#define OWB_MODEL_MAX_THREADS_LIST 64
#define OWB_MODEL_MAX_BUCKETS 64

struct owb_model_bench_cfg {
    const char *path;   /* GGUF file to run */
    const char *name;   /* model name in benchmark names (no '/'); NULL: file name minus .gguf */
    const char *source; /* params.source, e.g. "synthetic:llama-1b-32k" (NULL: the path) */
    int n_prompt;       /* prefill tokens (llama-bench -p, default 512); 0: no prefill case */
    int n_gen;          /* decode tokens (llama-bench -n, default 64); 0: no decode case */
    int threads[OWB_MODEL_MAX_THREADS_LIST];
    int nthreads;    /* 0: one case with every core of the pinning policy */
    const char *pin; /* pinning policy (bench/core/topo.h), default "compact" */
    int reps;        /* timed repetitions of each case (default 5) */
    int warmup;      /* untimed repetitions before them (default 1) */
    int buckets;     /* latency-by-position buckets (default 8, at most n_gen) */
    int profile;     /* 1 (default): one profiled repetition for the operation classes */
    uint64_t seed;   /* token ids are xorshift draws from this seed (default 1) */
    struct owb_measure_cfg measure; /* only max_rel_spread is used (validity rule) */
    const char *counters; /* PAPI list for bench/core/counters.h; NULL = default, "none" = rusage */
    int verbose;          /* progress lines on stderr */
    const struct owb_backend *backend; /* NULL: cpu (owb_model_opts.backend) */
    int weights_mem;        /* enum owb_gguf_mem (model/gguf.h): auto (default), mmap or copy */
    int rows_layout;        /* 1: weights stay in the file's row layout (owb_model_opts) */
    int interleave_ceiling; /* 1 (default): CPU decode samples the read ceiling before the first
                               repetition and after each (pct_of_roofline_interleaved) */
};

/* Defaults as listed above. */
void owb_model_bench_cfg_default(struct owb_model_bench_cfg *cfg);

/* Run the cases and append benchmarks (suite "model") named
 *     model/prefill/<model>/p<n_prompt>/t<threads>   and   model/decode/<model>/n<n_gen>/t<threads>
 * to doc with params {model, source, arch, weight_type (the type of the bulk of the layers' matmul
 * weights), n_params, n_layer, n_embd, n_vocab, [n_expert, n_expert_used for MoE],
 * [sliding_window], n_ctx, n_batch, n_prompt | n_gen, threads, pin, reps, isa}, samples (ns),
 * metrics {tok_per_s, tok_per_s_mean, tok_per_s_best, ms_per_token (decode), gflop_per_s
 * (prefill), weights_bytes, decode_read_bytes (the weight bytes one decoded token reads: for MoE
 * the used experts only), flop_per_token, kv_bytes_per_token, kv_cache_bytes, and for decode
 * bytes_per_token,
 * gb_per_s, ceiling_gb_per_s, roofline_tok_per_s, pct_of_roofline, pct_of_roofline_best (the
 * last four when a ceiling is known), ceiling_interleaved_gb_per_s (median), _min_, _max_,
 * ceiling_interleaved_bytes, pct_of_roofline_interleaved (median over the repetitions) and its
 * _min/_max (CPU decode), op_<class>_ns_per_token}, the extra members "op_classes"
 * {class: {ns_per_token, share}} (shares of the profiled wall time; on a device from its event
 * timer between the driver's ops, param op_timer) and, for decode,
 * "latency_by_position" [{pos_lo, pos_hi, n, median_ns, p90_ns, mean_ns}] and
 * "ceiling_interleaved_samples" [reps + 1 GB/s: before repetition 1, after each]. The ceiling is
 * stream/read/t<N> of ceiling_doc when given, else of doc. Returns 0; OWB_E_USAGE (bad policy,
 * thread count, sizes; err says which), OWB_E_IO / OWB_E_FORMAT (file cannot be opened or parsed),
 * OWB_E_UNSUPPORTED (architecture or type), OWB_E_NOMEM, OWB_E_SYSTEM (pool). */
int owb_model_bench_run(const struct owb_model_bench_cfg *cfg, struct owb_topo *topo,
                        const cJSON *ceiling_doc, cJSON *doc, char err[OWB_ERR_MAX]);

/* Write synthetic preset `preset` (model/synth.h) with weight type `type`, its first `layers`
 * layers (0: all) and weights from `seed` to a new temporary file in $TMPDIR (or /tmp) for a run:
 * path receives the file's name (the caller unlink()s it), name "<preset>-<type>" or
 * "<preset>-<type>-L<layers>" for cfg.name. Returns 0; OWB_E_USAGE for an unknown preset, a type
 * the synthesizer does not write or too many layers; OWB_E_IO, OWB_E_NOMEM (nothing is left at
 * path then). */
int owb_model_bench_write_synthetic(const char *preset, const char *type, int layers, uint64_t seed,
                                    char *path, size_t path_len, char *name, size_t name_len,
                                    char err[OWB_ERR_MAX]);

/* Print the table (model, test, threads, tok/s median and spread, ms/token, % of roofline, top
 * operation classes) of the model benchmarks in doc to f; nothing when there are none. */
void owb_model_bench_print_table(const cJSON *doc, FILE *f);

#endif
