/* SPDX-License-Identifier: MIT */
/*
 * synth.h: synthetic models with the exact shapes of real ones.
 *
 * A preset is a real model's shape (width, layers, heads, feed-forward width, vocabulary, RoPE
 * base, tied or separate output, QKV biases). owb_synth_write() writes it as a GGUF that llama.cpp
 * and owbench both load: the llama (or qwen2) metadata keys, a complete SentencePiece-style
 * tokenizer with a generated vocabulary of the preset's size (<unk>, <s>, </s>, the 256 byte
 * tokens <0x00>..<0xFF>, "▁", the printable ASCII characters, then generated word pieces), and
 * seeded random weights: every matrix uniform with standard deviation 1/sqrt(row length) (so each
 * projection keeps unit scale and, with RMSNorm, activations stay finite at any length), norm
 * weights 1, biases uniform with standard deviation 0.02. Element i of a tensor is a hash of
 * (seed, tensor name, i) (splitmix64), so the bytes do not depend on chunking or threads, the same
 * seed gives the same file, and --layers N keeps the first N layers' weights unchanged. Weight
 * types follow the rules of model/quantize.h for the requested type.
 *
 * Presets (owb_synth_presets()): tiny (stories260K's shape, separate output, as in
 * ../shared/models/gguf/stories260K.gguf), llama-3.2-1b, llama-3.1-8b, qwen2.5-0.5b, mistral-7b
 * (v0.1: RoPE base 10000; v0.3 differs only in base 1e6 and a 32768 vocabulary), and llama-1b-32k
 * (Llama-3.2-1B with a 32000 vocabulary and a separate output, 1.10 B parameters: the model of the
 * speed anchor in issue 5). Llama 3.x files carry no llama3 RoPE scaling (rope_freqs): the shapes
 * and the per-token work are the real ones, the positional frequencies are plain RoPE.
 *
 * Large presets are written tensor by tensor through the streaming mode of model/gguf.h's writer
 * (a few tens of MB in memory whatever the model size).
 *
 * Ownership: presets are static. Failure: 0 or a
 * negative enum owb_status with err ("PATH: reason"); nothing is left at the output path on
 * failure. Thread-safety: presets may be read from any thread.
 */
#ifndef OWB_MODEL_SYNTH_H
#define OWB_MODEL_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/gguf.h"
#include "model/quantize.h"
#include "owb_common.h"

struct owb_synth_preset {
    const char *name;       /* "llama-3.2-1b" */
    const char *arch;       /* general.architecture: "llama" or "qwen2" */
    const char *model_name; /* the real model it mimics */
    int64_t n_vocab;
    int64_t n_embd;
    int64_t n_layer;
    int64_t n_head;
    int64_t n_head_kv;
    int64_t n_ff;
    int64_t n_ctx; /* context_length written to the metadata */
    float rope_freq_base;
    float rms_eps;
    bool tied_output; /* no output.weight: logits use token_embd */
    bool qkv_bias;    /* attn_q/k/v biases (Qwen2) */
};

/* The preset table and its length. */
const struct owb_synth_preset *owb_synth_presets(int *n);
/* A preset by exact name; NULL when unknown. */
const struct owb_synth_preset *owb_synth_find(const char *name);
/* Comma-separated preset names (static string, for messages). */
const char *owb_synth_preset_names(void);

/* Parameters (weights, norms and biases) of the preset with n_layer layers (0: the preset's). */
int64_t owb_synth_param_count(const struct owb_synth_preset *p, int64_t n_layer);
/* Bytes of tensor data (alignment padding included) the preset with n_layer layers (0: the
 * preset's) takes when written in `type` under the type rules; 0 for an unsupported type. */
uint64_t owb_synth_data_bytes(const struct owb_synth_preset *p, enum owb_type type,
                              int64_t n_layer);

/* Write the preset as a GGUF at path. type: one of owb_quantize_target_ok(); n_layer: 0 for the
 * preset's layer count, else 1..preset layers; nthreads: 0 = online CPUs; progress (may be NULL)
 * is called after each tensor. Returns 0, OWB_E_USAGE (bad type or layer count), OWB_E_IO,
 * OWB_E_NOMEM. */
int owb_synth_write(const struct owb_synth_preset *p, enum owb_type type, int64_t n_layer,
                    uint64_t seed, const char *path, int nthreads,
                    owb_quantize_progress_fn progress, void *progress_ctx, char err[OWB_ERR_MAX]);

#endif
