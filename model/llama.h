/* SPDX-License-Identifier: MIT */
/*
 * llama.h: the Llama-family decoder (Llama 2/3, Mistral, Qwen2): token embedding, per layer
 * RMSNorm -> Q/K/V projections (+ bias when the file has one) -> RoPE -> grouped-query causal
 * attention over an f32 KV cache -> output projection -> residual, RMSNorm -> SwiGLU feed-forward
 * -> residual; final RMSNorm and the output projection (tied to token_embd when output.weight is
 * absent). Weights stay in the GGUF mapping in whatever type they have and go through the kernels'
 * matmul (kernels/matmul.h); prefill runs as GEMM over chunks of n_batch tokens, decode as GEMV.
 *
 * These are the architecture-table entry points (model/arch.h); callers use owb_model_load() /
 * owb_model_forward() / owb_model_free(). Same ownership and threading rules as arch.h.
 */
#ifndef OWB_MODEL_LLAMA_H
#define OWB_MODEL_LLAMA_H

#include "model/arch.h"

/* Read the hyperparameters (keys prefixed by general.architecture), check every tensor's presence,
 * type and shape, and allocate the KV cache and activations. Returns 0 or a negative status with
 * err ("FILE: reason"). */
int owb_llama_load(struct owb_model *m, const struct owb_gguf *g, const struct owb_model_opts *o,
                   char err[OWB_ERR_MAX]);
int owb_llama_forward(struct owb_model *m, const int32_t *tokens, int64_t n, int64_t pos,
                      float *logits, bool logits_all, char err[OWB_ERR_MAX]);
void owb_llama_release(struct owb_model *m);
/* Per-token costs of a loaded model (dense: every weight is read once per decoded token). */
void owb_llama_account(const struct owb_model *m, struct owb_model_cost *c);

#endif
