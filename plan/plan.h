/* SPDX-License-Identifier: MIT */
/*
 * plan.h: capacity planning from a model's shape (model/shape.h) and a machine's ceilings
 * (plan/hw.h): memory (weights as stored, KV cache at a context with sliding-window layers counted
 * right, activations), whether it fits and the largest context x concurrency that does, predicted
 * prefill and decode rates against batch size (memory-bound until the ridge, then compute-bound;
 * MoE counts the expected distinct experts a batch touches), TTFT and TPOT at a load, and for a
 * request rate under SLOs the devices and machines needed. The model and every assumption are in
 * docs/plan.md; every prediction names the ceiling and the efficiency it used.
 *
 * Ownership: JSON objects returned are the caller's (cJSON_Delete). Thread-safety: pure functions.
 */
#ifndef OWB_PLAN_PLAN_H
#define OWB_PLAN_PLAN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "model/shape.h"
#include "owb_common.h"
#include "plan/hw.h"

struct owb_plan_cfg {
    enum owb_type kv_type; /* KV cache element type */
    int64_t ctx;           /* positions each sequence holds; 0: input_len + output_len */
    int concurrency;       /* sequences served at once (0: 1, or derived from rate) */
    double rate;           /* requests per second to serve; 0: none */
    int64_t input_len, output_len;
    double slo_ttft_ms, slo_tpot_ms; /* 0: no objective */
    int64_t n_batch;                 /* prefill chunk (tokens per forward call) */
    int max_batch;                   /* largest batch of the decode sweep */
};

/* Defaults: kv f16, input 512, output 128, concurrency 1, n_batch 512, max_batch 256. */
void owb_plan_cfg_default(struct owb_plan_cfg *c);

/* Time of one decode step of `batch` sequences, each at position pos, on tp devices. */
struct owb_plan_step {
    double s;         /* max(memory, compute) + communication */
    double mem_s;     /* weights + KV read at the ceiling x efficiency */
    double compute_s; /* matmul + attention FLOPs at the peak x efficiency */
    double comm_s;    /* tensor-parallel all-reduces */
    double bytes, flops;
};
void owb_plan_decode_step(const struct owb_shape *s, const struct owb_hw *hw, enum owb_type kv_type,
                          int tp, double batch, int64_t pos, struct owb_plan_step *out);

/* Time to prefill n tokens from position pos0 in chunks of `chunk` (each chunk: max(weights read
 * once, FLOPs), summed), producing one row of logits at the end. */
double owb_plan_prefill_s(const struct owb_shape *s, const struct owb_hw *hw, enum owb_type kv_type,
                          int tp, int64_t pos0, int64_t n, int64_t chunk);

/* Decode rate of one sequence over positions pos0..pos0+n-1 (n tokens / summed step times): what
 * `owbench model` measures as decode tok/s with pos0 0 and n n_gen. */
double owb_plan_decode_tok_per_s(const struct owb_shape *s, const struct owb_hw *hw,
                                 enum owb_type kv_type, int tp, int64_t pos0, int64_t n);

/* Memory of a deployment on tp devices. */
struct owb_plan_mem {
    double weights_bytes;
    double kv_bytes_per_token; /* one position, every layer (full layers' growth rate) */
    double kv_bytes_per_seq;   /* one sequence at ctx (windowed layers capped) */
    double kv_bytes;           /* concurrency sequences */
    double activations_bytes;  /* forward scratch of one prefill chunk + the decode batch */
    double total_bytes;
    double capacity_bytes; /* memory x usable fraction x tp */
    bool fits;
    int64_t max_concurrency; /* at ctx */
    int64_t max_ctx;         /* at the concurrency (0: not even one position fits) */
};
void owb_plan_memory(const struct owb_shape *s, const struct owb_hw *hw, enum owb_type kv_type,
                     int tp, int64_t ctx, int concurrency, int64_t n_batch,
                     struct owb_plan_mem *out);

/* Bytes of one KV element of type t (f32 4, f16/bf16 2, q8_0 34/32, ...). */
double owb_plan_kv_elem_bytes(enum owb_type t);

/* Build the "plan" object (model, hardware, workload, memory, predictions, capacity) and add it
 * with "kind": "plan" to doc (an owbench.result/1 document). Returns 0, OWB_E_USAGE (a load that
 * cannot be planned: err says why) or OWB_E_NOMEM. */
int owb_plan_build(const struct owb_shape *s, const struct owb_hw *hw,
                   const struct owb_plan_cfg *cfg, cJSON *doc, char err[OWB_ERR_MAX]);

/* Print the plan of doc as tables. */
void owb_plan_print(const cJSON *doc, FILE *f);

/* Check predictions against measured `owbench model` figures: for every model/decode/... and
 * model/prefill/... benchmark of `measured` (file `path`) on threads t, predict it on hw and append
 * {name, figure, threads, tokens, predicted, measured, error_pct, ceiling, efficiency} objects to
 * checks. hw NULL: the hardware of `measured` itself at t (its ceilings; efficiencies measured
 * there or assumed). own_ceilings: replace hw's read ceiling and compute peaks by those `measured`
 * has at t (hw's efficiencies stay). s: the model of those figures. Returns the number of figures
 * checked (>= 0), or a negative status with err. */
int owb_plan_check(const struct owb_shape *s, const struct owb_hw *hw, bool own_ceilings,
                   enum owb_type kv_type, const cJSON *measured, const char *path, cJSON *checks,
                   char err[OWB_ERR_MAX]);

/* Print a checks array as a table; returns the largest |error_pct| (0 for none). */
double owb_plan_print_checks(const cJSON *checks, FILE *f);

#endif
