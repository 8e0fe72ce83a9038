/* SPDX-License-Identifier: MIT */
/*
 * kld_llamacpp.h: llama.cpp's logits file (`llama-perplexity --kl-divergence-base FILE`, written
 * by its tools/perplexity) as the base of a KLD run, so a model in this engine is compared with
 * llama.cpp's logits on the same file in one command, and the same format written from our own
 * logits.
 *
 * The format (little-endian, as llama.cpp writes it on x86 and ARM; docs/evals.md):
 *   "_logits_" (8 bytes), int32 n_ctx, int32 n_vocab, int32 n_chunk,
 *   int32 tokens[n_chunk * n_ctx]   (the text's tokens as tokenized, BOS first; not substituted),
 *   then per chunk, per scored position j = n_ctx/2 .. n_ctx-2 (n_ctx - 1 - n_ctx/2 rows), one
 *   row of nv = 2 * ((n_vocab + 1) / 2) + 4 uint16: float32 scale, float32 min_log_prob, then
 *   n_vocab quantized values q (and one unused pad when n_vocab is odd), where the base's
 *   log-prob of token v is scale * q[v] + min_log_prob (llama.cpp clamps logits more than 16
 *   below the maximum to min_log_prob; scale = range / 65535).
 *
 * KLD is computed as llama.cpp's `--kl-divergence` does, over the full vocabulary: per position
 * KL = sum over v with base log-prob > -16 of p_base(v) (ln p_base(v) - ln q(v)), with q the
 * model's softmax in double precision; top-1 agreement compares the model's argmax with the base
 * row's (ties to the lower id); the base's NLL is -(its quantized log-prob of the target). The
 * quantization (steps of at most 16/65535 nats; the base is not renormalized, as in llama.cpp)
 * makes the KLD of a model against its own logits up to +-8/65535 (1.2e-4) nats at a position and
 * about 1e-6 nats on average (stories260K: mean 1.0e-6, max 9.9e-5).
 *
 * Ownership: owb_lcpp_open returns a heap object (owb_lcpp_close); it reads rows with pread and
 * may be used by one thread at a time. The writer writes a temporary beside the path and renames
 * it into place on finish.
 */
#ifndef OWB_EVALS_KLD_LLAMACPP_H
#define OWB_EVALS_KLD_LLAMACPP_H

#include <stdint.h>

#include "evals/kld.h"
#include "evals/producer.h"
#include "owb_common.h"

#define OWB_LCPP_MAGIC "_logits_"
#define OWB_LCPP_MAX_CTX (1 << 24)
#define OWB_LCPP_MAX_VOCAB (1 << 24)

struct owb_lcpp_logits {
    char *name;
    int fd;
    int32_t n_ctx, n_vocab, n_chunk;
    int64_t n_pos;        /* scored positions per chunk: n_ctx - 1 - n_ctx/2 */
    int64_t row_u16;      /* uint16 per row: 2 * ((n_vocab + 1) / 2) + 4 */
    int32_t *tokens;      /* (n_chunk, n_ctx) as stored */
    uint64_t rows_offset; /* file offset of the first row */
};

/* Open and validate path: magic, counts in range, the exact file size the counts imply (a
 * truncated or padded file is refused), token ids in range. Rows are checked when read. Returns 0,
 * OWB_E_IO (unreadable), OWB_E_FORMAT (err "FILE: reason"), OWB_E_NOMEM. */
int owb_lcpp_open(const char *path, struct owb_lcpp_logits **out, char err[OWB_ERR_MAX]);
void owb_lcpp_close(struct owb_lcpp_logits *f);

/* Row i (0 <= i < n_pos) of chunk w: the base's log-probs into lp[0..n_vocab); buf is scratch of
 * row_u16 uint16. Checks the row (finite scale in [0, 16/65535], min_log_prob and maximum in
 * their possible ranges, probabilities above e^-16 adding up to 1 within the quantization and
 * clamping error). Returns 0, OWB_E_IO or OWB_E_FORMAT naming the chunk and row. */
int owb_lcpp_read_row(const struct owb_lcpp_logits *f, int64_t w, int64_t i, uint16_t *buf,
                      float *lp, char err[OWB_ERR_MAX]);

/* Our tokenization of the text, ids[0..n), against the file's tokens: the file's n_chunk * n_ctx
 * tokens must be the first tokens of ours. Returns 0 or OWB_E_USAGE with the first difference
 * (position, window, both ids) or the shortfall. */
int owb_lcpp_check_tokens(const struct owb_lcpp_logits *f, const int32_t *ids, int64_t n,
                          char err[OWB_ERR_MAX]);

/* Score producer p (it must produce logits: owb_scores.on_row) on the file's windows (first token
 * replaced by p's BOS when p adds one, as llama.cpp does) and compare with the file's rows.
 * Refuses (OWB_E_USAGE) a vocabulary size that differs or windows longer than p's context.
 * r->plan: n_ctx, first = n_ctx/2 + 1, n_windows = n_chunk. */
int owb_kld_run_llamacpp(struct owb_producer *p, const struct owb_lcpp_logits *f,
                         const struct owb_kld_cfg *cfg, struct owb_kld_result *r,
                         char err[OWB_ERR_MAX]);

/* ---- writer ---- */
struct owb_lcpp_writer;
/* Start path (temporary beside it until finish) with n_chunk windows of n_ctx tokens (tokens:
 * n_chunk * n_ctx ids as they go into the header). */
int owb_lcpp_writer_open(struct owb_lcpp_writer **w, const char *path, int32_t n_ctx,
                         int32_t n_vocab, int32_t n_chunk, const int32_t *tokens,
                         char err[OWB_ERR_MAX]);
/* Append one row (the logits of the next scored position, in order), quantized as llama.cpp
 * does. */
int owb_lcpp_writer_add(struct owb_lcpp_writer *w, const float *logits, char err[OWB_ERR_MAX]);
/* All rows written: flush, fsync, rename; frees w. Fails (removing the temporary) when rows are
 * missing. */
int owb_lcpp_writer_finish(struct owb_lcpp_writer *w, char err[OWB_ERR_MAX]);
void owb_lcpp_writer_abort(struct owb_lcpp_writer *w);

#endif
