/* SPDX-License-Identifier: MIT */
/*
 * kernels_suite.h: the quantized GEMV/GEMM sweep (`owbench kernels`): for every weight format,
 * shape m x k, batch and thread count, time Y = W X through kernels/matmul.h on a pinned pool
 * (activation preparation split over batch rows, then output rows split over threads), and report
 * time statistics, effective GB/s (weight + activation + output bytes), GFLOP/s (2 m k batch) and
 * the fraction of the read-bandwidth ceiling measured in the same run (or read from a stream
 * result). Weights rotate over enough copies to span owb_topo_sweep_bytes (4x the LLC, at most 1/16
 * of memory), each thread first-touches its own rows of every copy, so GEMV reads come from memory
 * as in decode.
 */
#ifndef OWB_BENCH_KERNELS_SUITE_H
#define OWB_BENCH_KERNELS_SUITE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cjson/cJSON.h>

#include "bench/core/measure.h"
#include "kernels/formats.h"
#include "kernels/isa.h"
#include "owb_common.h"

struct owb_topo;

#define OWB_KERNELS_MAX_LIST 64

/* A mixture-of-experts FFN timed as the engine's prefill runs it (model/gptoss.c): `tokens`
 * tokens each routed to n_used of n_expert experts (uniformly, seeded), grouped by expert; per
 * expert its rows are prepared once for gate and up (shared when the layouts agree), gate and up
 * rows of every chosen expert split over the threads, the hidden rows prepared for down, then the
 * down rows; one pool region per step (the engine's barriers). Weights: n_expert stacks of gate
 * (n_ff x n_embd), up and down (n_embd x n_ff), so each chosen expert's weights are read once per
 * repetition, as once per chunk in the engine (at most 1 GiB of distinct experts; beyond that
 * experts share copies). */
#define OWB_KERNELS_MAX_MOE_TOKENS 8
struct owb_kernels_moe {
    enum owb_type type; /* expert weight type */
    int64_t n_embd, n_ff;
    int n_expert, n_used;                   /* 0 n_expert: no MoE cases */
    int tokens[OWB_KERNELS_MAX_MOE_TOKENS]; /* chunk sizes routed, one case each */
    int ntokens;
};

/* One layer's causal attention of a prompt chunk as the engine runs it (kernels/attn.h): RoPE and
 * cache writes (owb_attn_write) and the blocked attention (owb_attn_heads) of `tokens` tokens at
 * positions 0.., KV heads split over the threads, f32 cache, no window. */
struct owb_kernels_attn {
    int64_t n_head, n_head_kv, head_dim; /* 0 n_head: no attention case */
    int tokens;
};

struct owb_kernels_cfg {
    enum owb_type formats[OWB_KERNELS_MAX_LIST];
    int nformats;
    int64_t shapes[OWB_KERNELS_MAX_LIST][2]; /* m, k */
    int nshapes;
    int batches[OWB_KERNELS_MAX_LIST];
    int nbatches;
    int threads[OWB_KERNELS_MAX_LIST];
    int nthreads;
    const char *pin;     /* pinning policy (bench/core/topo.h), default "compact" */
    enum owb_isa isa;    /* kernels to run (default: owb_isa_detect()) */
    size_t rotate_bytes; /* weight bytes to rotate over; 0 = owb_topo_sweep_bytes */
    struct owb_measure_cfg measure;
    const char *counters;       /* PAPI list for bench/core/counters.h, NULL = default, "none" */
    int verbose;                /* progress lines on stderr */
    int interleave_ceiling;     /* 1 (default): each GEMV case samples the read ceiling right before
                                   and after its repetitions (bench/suites/ceiling.h owb_ilv) */
    struct owb_kernels_moe moe; /* MoE cases after the GEMMs of each thread count (none: zeroed) */
    struct owb_kernels_attn attn; /* an attention case after those (none: zeroed) */
};

/* Defaults: the formats with fast kernels (f32, f16, bf16, q8_0, q4_0, q4_K, q6_K, mxfp4), shapes
 * 4096x4096, 14336x4096, 4096x14336, 2880x2880, 5760x2880, batch 1 and 512, threads 1..all PUs
 * (filled in by owb_kernels_run when nthreads is 0), pin compact, best ISA. */
void owb_kernels_cfg_default(struct owb_kernels_cfg *cfg);

/* Parse "4096x14336,2880x2880" into cfg->shapes. Returns 0 or OWB_E_USAGE (err names the item). */
int owb_kernels_parse_shapes(const char *s, struct owb_kernels_cfg *cfg, char err[OWB_ERR_MAX]);
/* Parse "q4_0,q8_0,f16" into cfg->formats (every owbench type with a reference converter).
 * Returns 0 or OWB_E_USAGE. */
int owb_kernels_parse_formats(const char *s, struct owb_kernels_cfg *cfg, char err[OWB_ERR_MAX]);

/* Run the sweep and append benchmarks named kernels/gemv/<fmt>/<m>x<k>/t<N> (batch 1) or
 * kernels/gemm/<fmt>/<m>x<k>/b<batch>/t<N> (suite "kernels") to doc, with params {format, m, k,
 * batch, threads, isa, path, act_type, weight_bytes, copies, pin}, metrics {us_median, us_min,
 * gb_per_s, gflop_per_s, ceiling_gb_per_s, pct_of_ceiling} (the last two when a ceiling is known).
 * Before the cases of each thread count, the compute ceilings of cfg->isa (kernels/peak.h) are
 * measured on the same threads and appended as kernels/peak/<kind>/t<N> (metrics gop_per_s,
 * gop_per_s_best); batched cases then get compute_peak_gop_per_s and pct_of_compute_peak (GFLOP/s
 * against the int8_dot or f32_fma peak of their path). A peak loop that returns a wrong checksum
 * fails the run (OWB_E_SYSTEM).
 * The ceiling is stream/read/t<N> of ceiling_doc when given, else of doc itself (run the stream
 * suite into doc first).
 * Testing knob: OWB_KERNELS_SLOWDOWN="PATTERN:PCT" in the environment makes every case whose name
 * contains PATTERN busy-wait PCT% of each thread's kernel time more inside the timed region (a
 * known regression for validating `owbench ab` and `compare`; the case gets a note, its name and
 * params stay the same).
 * MoE cases (cfg->moe.n_expert > 0), after the GEMMs of each thread count:
 * kernels/experts/<fmt>/<n_ff>x<n_embd>/x<n_expert>k<n_used>/c<tokens>/t<N>, params {format,
 * n_embd, n_ff, n_expert, n_used, tokens, experts_active, batch (rows each chosen expert
 * multiplies: tokens x n_used / experts_active), threads, isa, path, act_type, weight_bytes, pin},
 * metrics {us_median, us_min, gflop_per_s (6 n_embd n_ff per routed row), gflop_per_s_best} and the
 * compute peak annotation of the GEMMs.
 * Attention case (cfg->attn.n_head > 0): kernels/attn/f32/h<n_head>kv<n_head_kv>d<head_dim>/
 * c<tokens>/t<N>, params {n_head, n_head_kv, head_dim, tokens, batch (= tokens), threads, path},
 * metrics {us_median, us_min, gflop_per_s: tokens (tokens + 1) / 2 keys x 4 n_head head_dim} held
 * against the f32_fma peak. Returns 0; OWB_E_USAGE for a bad policy, thread count,
 * shape or knob value (err says which), OWB_E_UNSUPPORTED when the CPU lacks cfg->isa, OWB_E_NOMEM,
 * OWB_E_SYSTEM. */
int owb_kernels_run(const struct owb_kernels_cfg *cfg, struct owb_topo *topo,
                    const cJSON *ceiling_doc, cJSON *doc, char err[OWB_ERR_MAX]);

/* Print the table (format, shape, batch, threads, us, GB/s, % of ceiling, GFLOP/s, path) of the
 * kernels benchmarks in doc to f. */
void owb_kernels_print_table(const cJSON *doc, FILE *f);

#endif
