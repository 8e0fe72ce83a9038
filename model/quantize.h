/* SPDX-License-Identifier: MIT */
/*
 * quantize.h: quantized derivatives of GGUF models. owb_quantize_file() reads a GGUF and writes a
 * copy whose weight matrices are in a target type, every metadata key carried over
 * (general.file_type and general.quantization_version updated), tensor by tensor so a model larger
 * than memory can be converted. The per-tensor type rules are shared with the synthetic-model
 * writer (model/synth.h), so `owbench synth --type T` and `owbench quantize --type T` give files
 * with the same type mix.
 *
 * Type rules (owb_quantize_pick_type), applied to each tensor in this order:
 *   1. Tensors with fewer than 2 dimensions (norm weights, biases, rope_freqs, attention sinks),
 *      tensors whose name does not end in ".weight" (the 2-D per-expert biases of gpt-oss) and
 *      the MoE router ffn_gate_inp.weight: f32, whatever the target. These are the tensors
 *      llama.cpp's converter always writes in f32 and llama-quantize never quantizes.
 *   2. token_embd.weight: q8_0 when the target has fewer than 8 bits per weight (q4_0, q4_K, q6_K,
 *      mxfp4), else the target. Decode reads one embedding row per token, so the higher precision
 *      costs no speed; and when the output is tied to the embeddings it keeps the logits close.
 *      (llama.cpp keeps token_embd at the target type for q4_0; this is a deliberate deviation.)
 *   3. output.weight: q6_K when the target is a 4-bit type (q4_0, q4_K, mxfp4), as llama.cpp does
 *      for its 4-bit file types; else the target.
 *   4. Every other tensor of 2 or more dimensions: the target. 3-D tensors (the stacked experts
 *      of a MoE layer, ne = {row, rows per expert, experts}) are rows of ne[0] like any matrix:
 *      ne[1] * ne[2] rows quantized one by one; owb_quantize_pick_type_moe() and
 *      owb_quantize_file_ex() give them a target of their own (e.g. bf16 with mxfp4 experts,
 *      the released gpt-oss mix).
 *   Fallback: when the row length ne[0] is not a multiple of the chosen type's block size (32 for
 *   q4_0/q8_0/mxfp4, 256 for q4_K/q6_K), the first of q8_0, f16, f32 whose block fits the row is
 *   used instead and the tensor is reported as fallen back. Example: stories260K (dim 64, ff 172)
 *   at q4_K puts every 64-wide matrix in q8_0 and ffn_down (rows of 172) in f16. llama.cpp falls
 *   back from q4_K to q5_0 instead; owbench has no q5_0 kernels worth measuring, hence q8_0.
 *   A tensor whose chosen type equals its input type is copied byte for byte; otherwise it is
 *   dequantized to f32 (the type's reference dequantizer) and quantized with the reference
 *   quantizer of kernels/formats.h, rows split over threads (the bytes do not depend on the thread
 *   count).
 *
 * Targets: f32, f16, bf16, q8_0, q4_0, q4_K, q6_K, mxfp4 (owb_quantize_target_ok()).
 * general.file_type gets llama.cpp's llama_ftype number: f32 0, f16 1, q4_0 2, q8_0 7, q4_K 14
 * (Q4_K_S: all matrices q4_K but output), q6_K 18, bf16 32, mxfp4 38.
 *
 * Ownership: nothing returned needs freeing. Failure: functions return 0 or a negative
 * enum owb_status with err ("PATH: reason"); on failure no output file is left behind (the output
 * is written to a temporary file in the same folder and renamed at the end). Thread-safety: all
 * functions are reentrant; owb_quantize_file() and owb_quantize_rows() start and join their own
 * threads.
 */
#ifndef OWB_MODEL_QUANTIZE_H
#define OWB_MODEL_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/formats.h"
#include "owb_common.h"

/* Called once per tensor after its data is written: index i of n (0-based), its name and row
 * length (ne[0]), input and output types (in == out for synthetic tensors), whether the fallback
 * rule changed its type. */
typedef void (*owb_quantize_progress_fn)(void *ctx, int64_t i, int64_t n, const char *name,
                                         int64_t row_len, enum owb_type in, enum owb_type out,
                                         bool fell_back);

/* True when t is one of the supported targets listed above. */
bool owb_quantize_target_ok(enum owb_type t);
/* Comma-separated names of the supported targets (static string, for messages). */
const char *owb_quantize_target_names(void);
/* llama.cpp's general.file_type value for a target (see above); -1 for an unsupported type. */
int owb_quantize_ftype(enum owb_type target);

/* The type a tensor of this name and shape gets for `target` under the rules above. *fell_back
 * (may be NULL) is set when the fallback changed the type. */
enum owb_type owb_quantize_pick_type(const char *name, int n_dims, const int64_t *ne,
                                     enum owb_type target, bool *fell_back);

/* As owb_quantize_pick_type, except that tensors of 3 or more dimensions (MoE experts) get
 * expert_target (OWB_TYPE_COUNT: target). */
enum owb_type owb_quantize_pick_type_moe(const char *name, int n_dims, const int64_t *ne,
                                         enum owb_type target, enum owb_type expert_target,
                                         bool *fell_back);

/* Convert nrows rows of ncols f32 values (src, row-major) to type t in dst (nrows *
 * owb_row_size(t, ncols) bytes) with the reference quantizers, on nthreads threads (0: the
 * online CPUs). ncols must be a multiple of t's block size (programmer error otherwise). Returns 0
 * or OWB_E_SYSTEM when threads cannot be started (the work is then done on the calling thread,
 * so dst is always filled: the return value only reports it). */
int owb_quantize_rows(enum owb_type t, const float *src, void *dst, int64_t nrows, int64_t ncols,
                      int nthreads);

/* Write the derivative of in_path in `target` to out_path. nthreads: 0 = online CPUs. progress
 * (may be NULL) is called after each tensor. Returns 0; OWB_E_USAGE for an unsupported target;
 * OWB_E_IO / OWB_E_FORMAT when the input cannot be read or parsed or the output not written;
 * OWB_E_UNSUPPORTED when a tensor must be converted from a type owbench cannot dequantize;
 * OWB_E_NOMEM. */
int owb_quantize_file(const char *in_path, const char *out_path, enum owb_type target, int nthreads,
                      owb_quantize_progress_fn progress, void *progress_ctx, char err[OWB_ERR_MAX]);
/* The same with the 3-D expert tensors in expert_target (OWB_TYPE_COUNT: target; else it must
 * be a supported target too). general.file_type follows `target`. */
int owb_quantize_file_ex(const char *in_path, const char *out_path, enum owb_type target,
                         enum owb_type expert_target, int nthreads,
                         owb_quantize_progress_fn progress, void *progress_ctx,
                         char err[OWB_ERR_MAX]);

#endif
