/* SPDX-License-Identifier: MIT */
/*
 * synth.h: synthetic models with the exact shapes of real ones, and the streaming GGUF writer
 * they (and model/quantize.h) are written with.
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
 * Large presets are written tensor by tensor through owb_synth_stream (a few tens of MB in memory
 * whatever the model size): the GGUF writer of model/gguf.h needs every tensor's data at write
 * time.
 *
 * Ownership: presets are static. A stream is freed by owb_synth_stream_free(). Failure: 0 or a
 * negative enum owb_status with err ("PATH: reason"); nothing is left at the output path on
 * failure. Thread-safety: presets may be read from any thread; a stream is used by one thread.
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

/* ---- streaming GGUF writer ----
 * Same layout as model/gguf.h's writer (version 3, little-endian, tensor data at offsets aligned
 * to `alignment`, zero padding after each tensor). Use: set metadata and add tensor infos, then
 * begin() (writes header, metadata and tensor infos to a temporary file next to path), then
 * write() the data of each tensor in the order the tensors were added (any chunking), then
 * finish() (checks every byte came, fsyncs, renames over path). free() without finish() removes
 * the temporary file. */
struct owb_synth_stream;

/* alignment: a power of two (GGUF's default is 32); written as general.alignment when not 32.
 * NULL on OOM or a bad alignment. */
struct owb_synth_stream *owb_synth_stream_new(uint32_t alignment);
void owb_synth_stream_free(struct owb_synth_stream *s);

/* Metadata, before begin(). Keys must be unique (OWB_E_USAGE otherwise). */
int owb_synth_stream_set_u32(struct owb_synth_stream *s, const char *key, uint32_t v,
                             char err[OWB_ERR_MAX]);
int owb_synth_stream_set_i32(struct owb_synth_stream *s, const char *key, int32_t v,
                             char err[OWB_ERR_MAX]);
int owb_synth_stream_set_u64(struct owb_synth_stream *s, const char *key, uint64_t v,
                             char err[OWB_ERR_MAX]);
int owb_synth_stream_set_f32(struct owb_synth_stream *s, const char *key, float v,
                             char err[OWB_ERR_MAX]);
int owb_synth_stream_set_bool(struct owb_synth_stream *s, const char *key, bool v,
                              char err[OWB_ERR_MAX]);
int owb_synth_stream_set_str(struct owb_synth_stream *s, const char *key, const char *v,
                             char err[OWB_ERR_MAX]);
/* n fixed-size elements of elem_type (not string or array), as the host's C array. */
int owb_synth_stream_set_arr(struct owb_synth_stream *s, const char *key,
                             enum owb_gguf_type elem_type, uint64_t n, const void *elems,
                             char err[OWB_ERR_MAX]);
/* n NUL-terminated strings. */
int owb_synth_stream_set_arr_str(struct owb_synth_stream *s, const char *key, uint64_t n,
                                 const char *const *strs, char err[OWB_ERR_MAX]);
/* A value as model/gguf.h's reader decodes it (scalars, strings, nested arrays). */
int owb_synth_stream_set_value(struct owb_synth_stream *s, const char *key,
                               const struct owb_gguf_value *v, char err[OWB_ERR_MAX]);

/* A tensor info (names unique, 1..4 dims, row length a multiple of the type's block size). */
int owb_synth_stream_add_tensor(struct owb_synth_stream *s, const char *name, enum owb_type type,
                                int n_dims, const int64_t *ne, char err[OWB_ERR_MAX]);
/* Bytes of tensor data (padding included) the file will hold, as of the tensors added so far. */
uint64_t owb_synth_stream_data_bytes(const struct owb_synth_stream *s);

int owb_synth_stream_begin(struct owb_synth_stream *s, const char *path, char err[OWB_ERR_MAX]);
/* The next n bytes of tensor data; OWB_E_USAGE when more bytes come than the tensors hold. */
int owb_synth_stream_write(struct owb_synth_stream *s, const void *data, size_t n,
                           char err[OWB_ERR_MAX]);
int owb_synth_stream_finish(struct owb_synth_stream *s, char err[OWB_ERR_MAX]);

/* Remove the temporary files of the streams begun and not yet finished or freed (at most
 * OWB_SYNTH_STREAM_SLOTS at a time are tracked). Async-signal-safe: for a SIGINT/SIGTERM/SIGPIPE
 * handler that then re-raises the signal, so an interrupted write leaves no partial file. */
#define OWB_SYNTH_STREAM_SLOTS 8
void owb_synth_stream_unlink_temps(void);

#endif
