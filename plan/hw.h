/* SPDX-License-Identifier: MIT */
/*
 * hw.h: the hardware a plan runs on, as the planner sees it: memory per device, one read-bandwidth
 * ceiling, and per weight type the fraction of that ceiling a batch-1 matmul reaches, the compute
 * peak its batched matmul runs against and the fraction of that peak it reaches. Every figure
 * carries where it came from ("stream/read_pf/t2 of run.json", "assumed", "memory_bw_gb_per_s of
 * h100-sxm.json"), so a prediction can name the ceiling and the efficiency it used.
 *
 * Two sources:
 * - an owbench result document (owbench.result/1: `run`, `stream`, `kernels` or `model`) of the
 *   machine: read ceiling = best gb_per_s of stream/read*, t<=N threads, before and after; compute
 *   peaks = best gop_per_s_best of <suite>/peak/<kind>/t<=N; efficiencies = median pct_of_ceiling
 * of kernels/gemv/<type>/... /tN and median pct_of_compute_peak of the largest batch of
 *   kernels/gemm/<type>/... /tN (with the peak kind named in those rows), per batch the curve of
 *   GEMMs and of kernels/experts/<type>/... /tN (MoE FFNs as the engine runs them). Types without
 *   kernel rows
 *   take the median of the measured types, else an assumed default (documented in docs/plan.md).
 * - a hardware description (owbench.hardware/1, docs/plan.md): memory, bandwidth, dense peak
 *   TFLOP/s per precision, devices per node and their interconnect, assumed efficiencies, sources.
 *
 * Ownership: plain data in caller storage. Thread-safety: no shared state.
 */
#ifndef OWB_PLAN_HW_H
#define OWB_PLAN_HW_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "kernels/formats.h"
#include "owb_common.h"

#define OWB_HW_FROM 200      /* bytes of a "where from" string */
#define OWB_HW_MAX_BATCHES 8 /* batches per type with a measured compute efficiency */
#define OWB_HW_MAX_GEMMS 64  /* (type, shape, batch) GEMM efficiencies kept */

/* One measured GEMM efficiency: type, m x k, batch (median of that case's rows). */
struct owb_hw_gemm {
    int type;
    int64_t m, k;
    double batch, eff;
};

/* Defaults when nothing was measured or described (docs/plan.md: assumptions). */
#define OWB_HW_DEFAULT_BW_EFF 0.75     /* batch-1 matmul: fraction of the read ceiling */
#define OWB_HW_DEFAULT_COMPUTE_EFF 0.5 /* batched matmul: fraction of the compute peak */
#define OWB_HW_DEFAULT_USABLE 0.9      /* share of the memory a server may fill */

struct owb_hw {
    char name[128];
    char source[512];       /* the file it came from, or "measured now" */
    bool measured;          /* an owbench result (this engine's kernels) vs a description */
    char kind[8];           /* "cpu" or "gpu" */
    int threads;            /* measured: the thread count the figures are for; else 0 */
    double memory_bytes;    /* per device */
    double usable_fraction; /* of memory_bytes a deployment may fill */
    double read_gb_per_s;   /* the read-bandwidth ceiling per device */
    char read_from[OWB_HW_FROM];
    /* per weight type (index enum owb_type) */
    double bw_eff[OWB_TYPE_COUNT];
    char bw_eff_from[OWB_TYPE_COUNT][OWB_HW_FROM];
    double peak_gop_per_s[OWB_TYPE_COUNT]; /* 0: no such path */
    char peak_from[OWB_TYPE_COUNT][OWB_HW_FROM];
    double compute_eff[OWB_TYPE_COUNT]; /* at the largest batch measured (or described) */
    char compute_eff_from[OWB_TYPE_COUNT][OWB_HW_FROM];
    /* measured: the compute efficiency at each batch > 1 measured, ascending (a MoE expert sees
     * a few tokens of a chunk: its GEMM runs far below the chunk's efficiency) */
    int n_eff_batch[OWB_TYPE_COUNT];
    double eff_batch[OWB_TYPE_COUNT][OWB_HW_MAX_BATCHES];
    double eff_at_batch[OWB_TYPE_COUNT][OWB_HW_MAX_BATCHES];
    /* measured: the compute efficiency of a MoE FFN run as the engine runs it
     * (kernels/experts/<type>/...: tokens grouped by expert, each chosen expert's rows prepared
     * once, its weights read once per chunk) against the rows each chosen expert multiplies,
     * ascending; none: expert FLOPs take the GEMM curve above */
    /* measured: every GEMM (batch > 1) by shape, so a model's matrices each take the rate of
     * their own shape (owb_hw_shape_eff_at) */
    struct owb_hw_gemm gemm[OWB_HW_MAX_GEMMS];
    int n_gemm;
    /* measured: every GEMV (batch 1) by type and shape, eff = median pct_of_ceiling / 100, so a
     * decoded token reads each of a model's matrices at its own shape's rate (small matrices
     * stream less well than the FFN's) */
    struct owb_hw_gemm gemv[OWB_HW_MAX_GEMMS];
    int n_gemv;
    /* measured: the f32 efficiency of one layer's prefill attention as the engine runs it
     * (kernels/attn/...) against the tokens of the chunk, ascending; none: attention takes the
     * main type's GEMM efficiency */
    int n_aeff;
    double aeff_tokens[OWB_HW_MAX_BATCHES], aeff_at[OWB_HW_MAX_BATCHES];
    char aeff_from[OWB_HW_FROM];
    int n_xeff[OWB_TYPE_COUNT];
    double xeff_batch[OWB_TYPE_COUNT][OWB_HW_MAX_BATCHES];
    double xeff_at_batch[OWB_TYPE_COUNT][OWB_HW_MAX_BATCHES];
    char xeff_from[OWB_TYPE_COUNT][OWB_HW_FROM];
    /* measured on a shared machine: the share of CPU time a thread of this process got while
     * it wanted all of it (plan/cpu_share/tN); 1 for described hardware and when not measured.
     * Recorded always; step times are divided by it only when apply_cpu_share is set (on this
     * project's shared host it made prefill predictions worse: docs/plan.md). */
    double cpu_share;
    char cpu_share_from[OWB_HW_FROM];
    bool apply_cpu_share;
    /* several devices per node (tensor parallel) */
    int devices_per_node;
    char link_name[64];
    double link_gb_per_s;   /* per device, one direction */
    double link_latency_us; /* per collective step */
};

/* The compute efficiency of type t's batched matmul at `batch` activation rows: interpolated
 * linearly in log(batch) between the measured batches, held at the ends; compute_eff[t] when
 * fewer than two batches were measured. */
double owb_hw_compute_eff_at(const struct owb_hw *hw, int t, double batch);

/* The compute efficiency of an m x k matrix of type t at `batch` rows: its own GEMMs (log-linear
 * in batch between the measured ones, held at the ends; one batch held everywhere), else
 * owb_hw_compute_eff_at. */
/* The read-ceiling efficiency of type t's GEMV at shape m x k where measured (n_gemv), else -1. */
double owb_hw_gemv_eff(const struct owb_hw *hw, int t, int64_t m, int64_t k);

double owb_hw_shape_eff_at(const struct owb_hw *hw, int t, int64_t m, int64_t k, double batch);

/* The efficiency of prefill attention over a chunk whose queries see up to `tokens` keys: the
 * kernels/attn curve (interpolated, held at the ends) and *from = aeff_from, or -1 when none was
 * measured. */
double owb_hw_attn_eff_at(const struct owb_hw *hw, double tokens, const char **from);

/* The compute efficiency of type t's MoE expert matmuls when each chosen expert multiplies
 * `batch` rows: the expert curve (n_xeff: interpolated as above, held at the ends, one point held
 * everywhere) where measured, else owb_hw_compute_eff_at. *from (may be NULL): xeff_from[t] or
 * compute_eff_from[t]. */
double owb_hw_expert_eff_at(const struct owb_hw *hw, int t, double batch, const char **from);

/* Fill hw from an owbench result document (path only names it in messages). threads 0: the
 * largest thread count with a read ceiling in doc. Returns 0, or OWB_E_FORMAT with err when doc
 * has no stream/read* benchmark at or below that count. */
int owb_hw_from_result(const cJSON *doc, const char *path, int threads, struct owb_hw *hw,
                       char err[OWB_ERR_MAX]);

/* Fill hw from a parsed owbench.hardware/1 description. Returns 0 or OWB_E_FORMAT (err: path and
 * the field that is missing or wrong). */
int owb_hw_from_description(const cJSON *doc, const char *path, struct owb_hw *hw,
                            char err[OWB_ERR_MAX]);

/* Load `arg`: a path to a result or description file, or the name of a shipped description
 * (dir/<name>.json, dir: the shipped folder). Returns 0, OWB_E_IO (no such file or name: err lists
 * the shipped names), OWB_E_FORMAT. */
int owb_hw_load(const char *arg, const char *dir, int threads, struct owb_hw *hw,
                char err[OWB_ERR_MAX]);

/* Replace hw's read ceiling and compute peaks by those doc measured at threads (the efficiencies
 * stay): a checked run's own ceilings, measured minutes apart from the figures it holds. Returns
 * 0, or OWB_E_FORMAT when doc has no read ceiling at <= threads (hw unchanged). */
int owb_hw_take_ceilings(struct owb_hw *hw, const cJSON *doc, const char *path, int threads,
                         char err[OWB_ERR_MAX]);

/* hw as a JSON object (name, source, measured, figures with their sources) for a plan document;
 * types: the weight types the plan uses (n of them). NULL on OOM. */
cJSON *owb_hw_to_json(const struct owb_hw *hw, const enum owb_type *types, int n);

#endif
