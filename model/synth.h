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
 * gpt-oss presets (architecture "gpt-oss", llama.cpp's LLM_ARCH_OPENAI_MOE), written as llama.cpp's
 * convert_hf_to_gguf.py (GptOssModel) writes openai/gpt-oss-20b and -120b:
 *   gpt-oss-20b   2880 hidden, 24 layers, 64 heads of 64 (q 4096 wide), 8 KV heads, 32 experts,
 *                 top-4, expert FFN 2880, 201,088 vocabulary: 20.91 B parameters;
 *   gpt-oss-120b  the same with 36 layers and 128 experts: 116.83 B parameters;
 *   gpt-oss-tiny  the same structure at test size: 64 hidden, 4 layers, 4 heads of 32 (so q is
 *                 128 wide and head_dim != hidden / heads, as in the real models), 2 KV heads,
 *                 4 experts top-2, expert FFN 96 (!= hidden, so a swapped expert shape fails),
 *                 sliding window 8 (so windowed layers differ from full ones within a few dozen
 *                 tokens), and a generated 1024-token byte-level BPE vocabulary (see below).
 *   Metadata, in the converter's order: gpt-oss.{block_count, context_length 131072,
 *   embedding_length, feed_forward_length (= expert FFN, the HF intermediate_size), attention.
 *   head_count, attention.head_count_kv, rope.scaling.type "yarn", rope.scaling.factor 32,
 *   rope.scaling.original_context_length 4096, rope.scaling.yarn_beta_fast 32, rope.scaling.
 *   yarn_beta_slow 1 (written by current converters from config.json's rope_scaling; they equal
 *   llama.cpp's defaults), rope.freq_base 150000, attention.layer_norm_rms_epsilon 1e-5,
 *   expert_count, expert_used_count, attention.key_length, attention.value_length (64: head_dim),
 *   attention.sliding_window 128, expert_feed_forward_length}. As in converted files there is no
 *   rope.dimension_count (llama.cpp takes n_rot = key_length) and no vocab_size (the token list
 *   gives it). Layers alternate sliding-window and full attention by llama.cpp's rule (no key:
 *   swa pattern 2, layer 0 windowed).
 *   Tensors (ggml shapes, ne[0] first): token_embd {E, V}; output_norm {E}; output {E, V}; per
 *   layer attn_norm {E}; attn_q {E, H*D} + bias; attn_k, attn_v {E, Hkv*D} + biases; attn_output
 *   {H*D, E} + bias; attn_sinks {H} ("attn_sinks.weight"); post_attention_norm {E} (the pre-FFN
 *   norm); ffn_gate_inp {E, X} + bias (router); ffn_gate_exps, ffn_up_exps {E, F, X}; ffn_down_exps
 *   {F, E, X}; their biases {F, X}, {F, X}, {E, X}.
 *   Types: by default as the converter leaves the released checkpoint: experts MXFP4 (copied
 *   through as released), other matrices (embeddings, output, attention) bf16 (the HF dtype;
 *   general.file_type 32 as the converter writes for --outtype bf16/auto), and f32 for what the
 *   converter always keeps f32: every 1-D tensor (norms, sinks, q/k/v/o and router biases), every
 *   tensor whose name does not end in ".weight" (the 2-D expert biases) and the router
 *   ffn_gate_inp.weight (the converter's FFN_GATE_INP rule; the HF file has it in bf16). A
 *   requested type applies to every matrix (experts included) under model/quantize.h's rules
 *   unless an expert type is given separately.
 *   Vocabulary: gpt-oss-20b/120b copy every tokenizer.* key of a gpt-oss vocab GGUF (llama.cpp's
 *   ggml-vocab-gpt-oss.gguf: "gpt2" model, pre-tokenizer "gpt-4o", o200k_harmony, 201,088 tokens,
 *   446,189 merges, bos 199998, eos 200002, pad 199999, chat template): given by path, else
 *   looked up by owb_synth_find_vocab(). gpt-oss-tiny generates a byte-level BPE vocabulary of
 *   1024 tokens with tokenizer.ggml.pre "gpt-4o" (the o200k pre-tokenizer regex, so the same
 *   tokenizer path as the real models): ids 0..255 the bytes in GPT-2's byte-to-unicode spelling
 *   (id = byte value), then learned tokens: the prefixes of a fixed list of English words with
 *   and without a leading space ("Ġ"), in that order, each kept when tiktoken's BPE over the
 *   tokens before it leaves the prefix in two pieces (so every token's text tokenizes to that
 *   token), then the harmony special tokens as CONTROL (<|startoftext|> bos, <|endoftext|> pad,
 *   <|return|> eos, <|constrain|>, <|channel|>, <|start|>, <|end|>, <|message|>, <|call|>),
 *   then "[PAD<id>]" UNUSED tokens up to 1024 as the converter pads.
 *   tokenizer.ggml.merges as transformers derives them from tiktoken ranks: for each learned
 *   token in id order, every split into two parts that are both tokens, by the left part's id
 *   (a merge's rank orders it as tiktoken orders the token it makes, so llama.cpp's merge-based
 *   BPE and tiktoken's whole-word rule give the same ids).
 *   Like the real files it has no add_bos_token / add_eos_token keys.
 *   Scales: matrices and the router std 1/sqrt(row length); biases 0.02; sinks std 1 (attention
 *   logits of unit-scale q and k are of that size, so the sink takes a real share); norms 1.
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
    const char *arch;       /* general.architecture: "llama", "qwen2" or "gpt-oss" */
    const char *model_name; /* the real model it mimics */
    int64_t n_vocab;
    int64_t n_embd;
    int64_t n_layer;
    int64_t n_head;
    int64_t n_head_kv;
    int64_t n_ff;  /* feed_forward_length (gpt-oss: the expert FFN width, as the converter) */
    int64_t n_ctx; /* context_length written to the metadata */
    float rope_freq_base;
    float rms_eps;
    bool tied_output; /* no output.weight: logits use token_embd */
    bool qkv_bias;    /* attn_q/k/v biases (Qwen2) */
    /* Mixture of experts (gpt-oss); zero for the dense presets. */
    int64_t head_dim;      /* attention.key_length/value_length; 0: n_embd / n_head, not written */
    int64_t n_expert;      /* expert_count */
    int64_t n_expert_used; /* expert_used_count */
    int64_t n_ff_exp;      /* expert_feed_forward_length */
    int64_t n_swa;         /* attention.sliding_window */
    float yarn_factor;     /* rope.scaling.factor of rope.scaling.type "yarn"; 0: no scaling */
    int64_t yarn_orig_ctx; /* rope.scaling.original_context_length */
    float yarn_beta_fast, yarn_beta_slow;
    const char *vocab_file;     /* vocab GGUF the tokenizer is copied from; NULL: generated */
    enum owb_type default_type; /* type when none is asked (f16; gpt-oss bf16) */
    enum owb_type default_expert_type; /* experts when no type is asked (gpt-oss mxfp4) */
};

/* What to write; owb_synth_opts_init() gives the preset's defaults. */
struct owb_synth_opts {
    enum owb_type type;        /* weight matrices (rules of model/quantize.h) */
    enum owb_type expert_type; /* 3-D expert tensors; OWB_TYPE_COUNT: as type */
    int64_t n_layer;           /* 0: the preset's; else 1..preset layers */
    uint64_t seed;
    const char *vocab_path; /* presets with a vocab_file: that GGUF; NULL: owb_synth_find_vocab() */
    int nthreads;           /* quantizer threads; 0: online CPUs */
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
 * preset's) takes when written in `type` under the type rules (experts in `type` too); 0 for an
 * unsupported type. */
uint64_t owb_synth_data_bytes(const struct owb_synth_preset *p, enum owb_type type,
                              int64_t n_layer);
/* The same for a full set of options (expert type included); 0 for unsupported types. */
uint64_t owb_synth_data_bytes_opts(const struct owb_synth_preset *p,
                                   const struct owb_synth_opts *o);

/* The tensor table owb_synth_write_opts(p, o, ...) writes, in file order: name, type, n_dims, ne,
 * size_bytes and n_elements filled, offset and data 0/NULL. *out is one heap block (names
 * included) for the caller to free(). Returns 0, OWB_E_USAGE (unsupported type, bad layer count)
 * or OWB_E_NOMEM, with err. */
int owb_synth_tensor_table(const struct owb_synth_preset *p, const struct owb_synth_opts *o,
                           struct owb_gguf_tensor **out, int64_t *n, char err[OWB_ERR_MAX]);

/* The preset's defaults: default_type, default_expert_type (OWB_TYPE_COUNT for dense presets),
 * all layers, seed 1, vocab looked up, online CPUs. */
void owb_synth_opts_init(struct owb_synth_opts *o, const struct owb_synth_preset *p);

/* For a preset with a vocab_file: the first readable of $OWB_TEST_DATA/models/gguf/FILE and
 * ../shared/models/gguf/FILE into path (cap bytes). Returns 0, or OWB_E_IO with err naming the
 * places tried and how to give the file (--vocab); OWB_E_USAGE when the preset needs none. */
int owb_synth_find_vocab(const struct owb_synth_preset *p, char *path, size_t cap,
                         char err[OWB_ERR_MAX]);

/* Write the preset as a GGUF at path. type: one of owb_quantize_target_ok(), every matrix
 * (experts included); n_layer: 0 for the preset's layer count, else 1..preset layers; nthreads:
 * 0 = online CPUs; progress (may be NULL) is called after each tensor. Presets with a vocab_file
 * find it with owb_synth_find_vocab(). Returns 0, OWB_E_USAGE (bad type or layer count), OWB_E_IO
 * (also: vocabulary file absent), OWB_E_FORMAT (vocabulary file unreadable or of another size),
 * OWB_E_NOMEM. */
int owb_synth_write(const struct owb_synth_preset *p, enum owb_type type, int64_t n_layer,
                    uint64_t seed, const char *path, int nthreads,
                    owb_quantize_progress_fn progress, void *progress_ctx, char err[OWB_ERR_MAX]);
/* The same with every option (expert type, vocabulary path). */
int owb_synth_write_opts(const struct owb_synth_preset *p, const struct owb_synth_opts *o,
                         const char *path, owb_quantize_progress_fn progress, void *progress_ctx,
                         char err[OWB_ERR_MAX]);

#endif
