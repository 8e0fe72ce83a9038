/* SPDX-License-Identifier: MIT */
/*
 * tokenizer.h: text <-> token ids from the tokenizer metadata of a GGUF file, matching llama.cpp
 * token for token: SentencePiece-style (`tokenizer.ggml.model` = "llama": scores, token types,
 * <0xNN> byte fallback, add_space_prefix, llama.cpp's SPM bigram merge) and byte-level BPE
 * ("gpt2": ranked merges, the pre-tokenizer regex of tokenizer.ggml.pre written out by hand over
 * Unicode classes: gpt-2, llama-bpe, qwen2, and gpt-4o (o200k, gpt-oss), which follows tiktoken
 * where llama.cpp differs from it; GPT-2's byte-to-unicode mapping). User-defined tokens are
 * split out of the text before either runs, as llama.cpp does; control tokens (e.g. the harmony
 * format's <|start|>, <|channel|>, <|message|>, <|end|>) only when OWB_TOK_PARSE_SPECIAL is given,
 * else their text is tokenized as plain text.
 *
 * Ownership: owb_tokenizer_new() copies everything it needs out of the GGUF (which may be closed
 * afterwards) and returns a heap object freed by owb_tokenizer_free(). Thread-safety: the object
 * is immutable after creation; encode/decode allocate their own scratch and may run concurrently.
 */
#ifndef OWB_MODEL_TOKENIZER_H
#define OWB_MODEL_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/gguf.h"
#include "owb_common.h"

enum owb_tok_kind {
    OWB_TOK_SPM = 1, /* tokenizer.ggml.model = "llama" */
    OWB_TOK_BPE = 2, /* tokenizer.ggml.model = "gpt2" */
};

/* GGUF token types (tokenizer.ggml.token_type). */
enum owb_token_type {
    OWB_TOKEN_UNDEFINED = 0,
    OWB_TOKEN_NORMAL = 1,
    OWB_TOKEN_UNKNOWN = 2,
    OWB_TOKEN_CONTROL = 3,
    OWB_TOKEN_USER_DEFINED = 4,
    OWB_TOKEN_UNUSED = 5,
    OWB_TOKEN_BYTE = 6,
};

/* Flags of owb_tokenizer_encode. */
#define OWB_TOK_ADD_SPECIAL 1u   /* BOS (and EOS) as tokenizer.ggml.add_bos/eos_token say */
#define OWB_TOK_PARSE_SPECIAL 2u /* control-token text in the input becomes the control token */
/* BPE: apply the merges to every pre-tokenized word, also to a word that is a token itself, where
 * the llama-bpe and gpt-4o pre-tokenizers take such a word whole (tiktoken's rule, llama.cpp's
 * ignore_merges). llama.cpp merges gpt-4o words, so this flag gives its ids for them; where
 * the merges build each token of the vocabulary from its text (gpt-oss-tiny's) both give the
 * same ids. */
#define OWB_TOK_MERGES_ONLY 4u

struct owb_tokenizer;

/* Build the tokenizer of a GGUF file. Returns NULL and fills err ("FILE: tokenizer: reason") when
 * the metadata is missing, inconsistent (array lengths, ids out of range) or of an unsupported
 * model (e.g. "bert"). */
struct owb_tokenizer *owb_tokenizer_new(const struct owb_gguf *g, char err[OWB_ERR_MAX]);
void owb_tokenizer_free(struct owb_tokenizer *t);

enum owb_tok_kind owb_tokenizer_kind(const struct owb_tokenizer *t);
int32_t owb_tokenizer_n_vocab(const struct owb_tokenizer *t);
/* Special ids; -1 when the vocabulary has none. */
int32_t owb_tokenizer_bos(const struct owb_tokenizer *t);
int32_t owb_tokenizer_eos(const struct owb_tokenizer *t);
int32_t owb_tokenizer_unk(const struct owb_tokenizer *t);
bool owb_tokenizer_add_bos(const struct owb_tokenizer *t);
/* Token type and raw vocabulary text (NUL-terminated, e.g. "▁the", "Ġthe", "<0x0A>"); id must be
 * in [0, n_vocab). */
enum owb_token_type owb_tokenizer_type(const struct owb_tokenizer *t, int32_t id);
const char *owb_tokenizer_text(const struct owb_tokenizer *t, int32_t id);

/* Tokenize len bytes of UTF-8 text. Writes at most cap ids and returns the total count (which may
 * exceed cap: call again with a larger buffer), or OWB_E_NOMEM. Flags: OWB_TOK_ADD_SPECIAL,
 * OWB_TOK_PARSE_SPECIAL, OWB_TOK_MERGES_ONLY. */
int64_t owb_tokenizer_encode(const struct owb_tokenizer *t, const char *text, size_t len,
                             unsigned flags, int32_t *ids, int64_t cap);

/* The bytes one token stands for: SPM "▁" becomes a space and <0xNN> the byte NN; BPE code points
 * map back to bytes; control and unknown tokens give "" unless `special` (then their text). Writes
 * up to cap bytes (no terminator) and returns the piece length, or -1 for an id out of range. */
int owb_tokenizer_piece(const struct owb_tokenizer *t, int32_t id, bool special, char *buf,
                        size_t cap);

/* Decode ids into text: pieces concatenated (control tokens dropped); for SPM with
 * add_space_prefix the leading space of the first piece is removed, as SentencePiece does.
 * Writes at most cap - 1 bytes plus a terminator and returns the full length (> cap - 1 means cut
 * short), or -1 for an id out of range. */
int64_t owb_tokenizer_decode(const struct owb_tokenizer *t, const int32_t *ids, int64_t n,
                             char *out, size_t cap);

#endif
