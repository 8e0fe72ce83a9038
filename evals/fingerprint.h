/* SPDX-License-Identifier: MIT */
/*
 * fingerprint.h: a compact binary record of a base model on a text (docs/fingerprint.md): the
 * window plan and the exact token ids of every window, and per scored position the target's
 * log-prob, the log-sum-exp, the base's top-k ids and log-probs and the probability mass outside
 * them; a header with magic, version, and SHA-256 of the model file, its tokenizer definition,
 * the text, the settings and the payload. `owbench eval kld` scores another model on exactly these
 * token ids.
 *
 * The reader validates every count, offset and size against the file before use, recomputes the
 * settings and payload hashes, and checks every record (ids in range, distinct, log-probs finite,
 * non-positive and descending, masses adding up to 1), so a truncated, corrupted or hand-edited
 * file gives one sentence naming the file and the problem, never a crash.
 *
 * Ownership: owb_fp_read returns a heap object freed by owb_fp_free (NULL is a no-op); a writer is
 * freed by owb_fp_writer_finish or owb_fp_writer_abort (which removes the temporary file). A read
 * fingerprint is immutable and may be shared between threads; a writer is used by one thread.
 */
#ifndef OWB_EVALS_FINGERPRINT_H
#define OWB_EVALS_FINGERPRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evals/ppl.h"
#include "evals/producer.h"
#include "owb_common.h"

#define OWB_FP_MAGIC "OWBFPRNT"
#define OWB_FP_VERSION 1u
#define OWB_FP_HEADER_BYTES 256u
#define OWB_FP_MAX_TOP_K 4096u
#define OWB_FP_MAX_CTX (1u << 24)

/* flags */
#define OWB_FP_BOS_PER_WINDOW 1u
#define OWB_FP_HAS_MODEL_SHA 2u
#define OWB_FP_HAS_TOKENIZER_SHA 4u
#define OWB_FP_KNOWN_FLAGS 7u

struct owb_fp_header {
    uint32_t version;
    uint32_t n_vocab;
    uint32_t n_ctx;
    uint32_t first;
    uint32_t top_k;
    uint32_t flags;
    int32_t bos;
    uint64_t n_windows;
    uint64_t n_text_tokens;
    unsigned char model_sha256[32];
    unsigned char tokenizer_sha256[32];
    unsigned char text_sha256[32];
    unsigned char settings_sha256[32]; /* of header bytes 16..55 */
    unsigned char payload_sha256[32];  /* of bytes 256..end */
    /* bytes 240..255 of the file: the first 16 bytes of SHA-256(bytes 0..239) */
};

struct owb_fingerprint {
    struct owb_fp_header h;
    char *name;          /* path, for messages */
    int32_t *tokens;     /* (n_windows, n_ctx) window tokens as scored (BOS substituted) */
    unsigned char *data; /* the whole file */
    size_t size;
    size_t records_offset;
    size_t rec_bytes; /* 12 + 8 top_k */
};

/* One scored position of a fingerprint. */
struct owb_fp_pos {
    int32_t target;
    float logp; /* ln p_base(target) */
    float lse;  /* base log-sum-exp */
    float rest; /* base mass outside the top-k */
};

/* Read and validate path. Returns 0, OWB_E_IO (unreadable), OWB_E_FORMAT (err: "FILE: reason"),
 * OWB_E_NOMEM. */
int owb_fp_read(const char *path, struct owb_fingerprint **out, char err[OWB_ERR_MAX]);
/* The same for an image in memory (copied); name is used in messages. */
int owb_fp_parse(const void *data, size_t size, const char *name, struct owb_fingerprint **out,
                 char err[OWB_ERR_MAX]);
void owb_fp_free(struct owb_fingerprint *f);

/* Position i (0 <= i < n_ctx - first) of window w: the record and the top-k ids / log-probs into
 * ids[0..top_k), lps[0..top_k). */
void owb_fp_get(const struct owb_fingerprint *f, int64_t w, int64_t i, struct owb_fp_pos *pos,
                int32_t *ids, float *lps);
/* The window plan the fingerprint was made with. */
void owb_fp_plan(const struct owb_fingerprint *f, struct owb_window_plan *w);

/* ---- writer ---- */

struct owb_fp_writer;

/* Start writing path (a temporary file beside it until finish): the header fields come from h
 * (version, settings and payload hashes are computed), the window tokens from the plan over
 * tokens[0..plan->n_tokens). h->top_k must be 1..min(n_vocab, OWB_FP_MAX_TOP_K). Returns 0 or a
 * negative status with err. */
int owb_fp_writer_open(struct owb_fp_writer **w, const char *path, const struct owb_fp_header *h,
                       const struct owb_window_plan *plan, const int32_t *tokens,
                       char err[OWB_ERR_MAX]);
/* Append one window's scores (in window order; s->top_k == h->top_k, s->n == n_ctx - first). */
int owb_fp_writer_add(struct owb_fp_writer *w, const struct owb_scores *s, char err[OWB_ERR_MAX]);
/* Write the final header, fsync and rename into place; frees w. Fails (and removes the temporary)
 * when fewer windows were added than planned. */
int owb_fp_writer_finish(struct owb_fp_writer *w, char err[OWB_ERR_MAX]);
/* Remove the temporary file and free w; NULL is a no-op. */
void owb_fp_writer_abort(struct owb_fp_writer *w);

/* ---- recording ---- */

/* Record the base producer p on tokens[0..n_tokens) (a text whose SHA-256 is text_sha256) into a
 * new fingerprint at path: the window plan of cfg->n_ctx / cfg->max_windows (llama.cpp's, as in
 * ppl.h), cfg->top_k tokens per scored position (1..min(n_vocab, OWB_FP_MAX_TOP_K)), and the model
 * and tokenizer hashes of p->info where they are known. This is `owbench eval fingerprint` after
 * the text is read and tokenized. r receives the base's perplexity over the same windows (cfg's
 * bootstrap settings and progress line); cfg->on_window must be NULL (the recorder uses it). The
 * folder of path must exist. Returns 0, or OWB_E_USAGE (top_k out of range, text shorter than one
 * window, window longer than the producer's context), OWB_E_IO, OWB_E_NOMEM or the producer's
 * status with err; on failure nothing is left at path and r is empty. */
int owb_fp_record(struct owb_producer *p, const int32_t *tokens, int64_t n_tokens,
                  const unsigned char text_sha256[32], const struct owb_ppl_cfg *cfg,
                  const char *path, struct owb_ppl_result *r, char err[OWB_ERR_MAX]);

/* Encode the 256 header bytes of h (settings hash computed into h->settings_sha256; the payload
 * hash is taken from h; the header checksum is computed last). Exposed for the tests that build
 * corrupt files. */
void owb_fp_header_encode(struct owb_fp_header *h, uint64_t tokens_offset, uint64_t records_offset,
                          uint64_t file_bytes, unsigned char out[256]);

#endif
