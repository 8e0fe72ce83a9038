/* SPDX-License-Identifier: MIT */
/*
 * gptoss.h: the gpt-oss decoder (architecture "gpt-oss", llama.cpp's LLM_ARCH_OPENAI_MOE; the
 * weights as openai/gpt-oss's torch reference uses them). Per layer: RMSNorm -> Q/K/V with biases
 * -> YaRN RoPE (NeoX pairs) -> grouped-query attention with a learned per-head sink logit in the
 * softmax denominator, on sliding-window (128) and full layers alternating as llama.cpp orders
 * them (layer l slides when l % period < period - 1, period 2 unless the file says: even layers
 * slide) -> output projection with bias -> residual; RMSNorm (post_attention_norm) -> router
 * (ffn_gate_inp + bias) -> top-k experts, weights = softmax of the k selected logits -> per expert
 * gate/up (+ biases) -> clamped SwiGLU -> down (+ bias) -> weighted sum -> residual. Final RMSNorm
 * and the output projection.
 *
 * Expert matmuls run on the expert's 2-D slice of the 3-D tensor through the kernels' GEMV/GEMM:
 * a chunk's tokens are grouped by expert, each chosen expert multiplies its tokens at once (GEMM
 * for prefill; for one decoded token only the k chosen experts' rows are read).
 *
 * The ops below are the pieces the tests check against float64 references. Same ownership and
 * threading rules as model/arch.h.
 */
#ifndef OWB_MODEL_GPTOSS_H
#define OWB_MODEL_GPTOSS_H

#include <stdint.h>

#include "kernels/ops.h"
#include "model/arch.h"

/* Router: the k largest of logits[0..n) in descending order (equal logits: the lower expert index
 * first), their ids in ids[0..k) and weights w[0..k) = softmax of the k selected logits (k <= n,
 * k <= 64). */
void owb_moe_topk(const float *logits, int64_t n, int64_t k, int32_t *ids, float *w);

/* Group the routing of n_tok tokens (ids: (n_tok, k) expert ids) by expert: counts[e] tokens
 * chose expert e, rows of expert e are offsets[e]..offsets[e+1]-1 in expert order and token order
 * within an expert; row_tok[r] is the token of row r, tok_row[t * k + j] the row of token t's
 * j-th choice. offsets has n_expert + 1 entries. */
void owb_moe_group(const int32_t *ids, int64_t n_tok, int64_t k, int64_t n_expert, int64_t *counts,
                   int64_t *offsets, int32_t *row_tok, int32_t *tok_row);

/* Architecture-table entry points (model/arch.h). */
int owb_gptoss_load(struct owb_model *m, const struct owb_gguf *g, const struct owb_model_opts *o,
                    char err[OWB_ERR_MAX]);
int owb_gptoss_forward(struct owb_model *m, const int32_t *tokens, int64_t n, int64_t pos,
                       float *logits, bool logits_all, char err[OWB_ERR_MAX]);
void owb_gptoss_release(struct owb_model *m);
/* Per-token costs: the dense weights plus the router and expert_used_count experts per layer. */
void owb_gptoss_account(const struct owb_model *m, struct owb_model_cost *c);

#endif
