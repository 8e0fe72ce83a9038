/* SPDX-License-Identifier: MIT */
/*
 * loader.h: what every architecture's load needs from a GGUF, checked: hyperparameters read under
 * the architecture's key prefix, products of them computed with overflow checks, tensors looked up
 * by name with their N-dimensional shape checked, weight matrices (2-D, or 3-D stacks of experts)
 * bound in place with the checks the matmul kernels need, small 1-D/2-D tensors copied to f32,
 * and what every architecture derives alike (head geometry, token embedding and output matrix,
 * context and batch sizes). Every failure fills err with "FILE: what is wrong" and returns a
 * negative status, so a crafted file gets a sentence, never undefined behaviour.
 *
 * Ownership: a loader borrows the open GGUF; bound weights point into its mapping.
 * Not thread-safe (one load at a time per loader).
 */
#ifndef OWB_MODEL_LOADER_H
#define OWB_MODEL_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/isa.h"
#include "kernels/matmul.h"
#include "model/gguf.h"
#include "owb_common.h"

/* Largest element count a hyperparameter product may reach (2^40): far above any real model's
 * widths, and low enough that a few more products by small counts stay inside int64_t. */
#define OWB_LD_MAX_ELEMS ((int64_t)1 << 40)

/* A weight matrix in the mapping: m rows (outputs) of k elements (inputs), rows of
 * owb_row_size(type, k) bytes. A 3-D expert tensor [k, m, n_exp] is n_exp such matrices,
 * exp_stride bytes apart; a 2-D tensor has n_exp 1. */
struct owb_wt {
    const void *data;
    enum owb_type type;
    int64_t m, k;
    int64_t n_exp;
    size_t exp_stride;
    enum owb_wlayout wl; /* layout of each matrix (OWB_WL_ROWS as bound; an architecture may
                            convert weights it owns, kernels/matmul.h) */
};

/* The matrix of expert e (0 for a 2-D weight). */
static inline const void *owb_wt_expert(const struct owb_wt *w, int64_t e)
{
    return (const char *)w->data + (size_t)e * w->exp_stride;
}

struct owb_loader {
    const struct owb_gguf *g;
    const char *arch;     /* key prefix (general.architecture) */
    enum owb_isa isa;     /* kernels the bound weights must run on */
    uint64_t bound_bytes; /* file bytes of the tensors bound or copied so far */
};

/* `arch.key` as an unsigned integer: *out = its value, or def when absent and not required.
 * Values above 2^31 - 1 are refused (no width or count of a model is that large). */
int owb_ld_u32(struct owb_loader *ld, const char *key, bool required, uint32_t def, int64_t *out,
               char err[OWB_ERR_MAX]);
/* `arch.key` as a float (float32 or float64 in the file); def when absent. NaN and infinities
 * are refused. */
int owb_ld_f32(struct owb_loader *ld, const char *key, float def, float *out,
               char err[OWB_ERR_MAX]);
/* `arch.key` as a string into buf (cut to its size); "" when absent. */
int owb_ld_str(struct owb_loader *ld, const char *key, char *buf, size_t size,
               char err[OWB_ERR_MAX]);

/* *out = a * b for positive a and b, refused (OWB_E_FORMAT, err naming `what`) when the product
 * passes OWB_LD_MAX_ELEMS. */
int owb_ld_mul(const struct owb_loader *ld, const char *what, int64_t a, int64_t b, int64_t *out,
               char err[OWB_ERR_MAX]);

/* Find tensor `name` and check its shape is exactly ne[0..nd) (unused dimensions 1). NULL when
 * absent (err filled only when required) or mis-shaped (err filled). */
const struct owb_gguf_tensor *owb_ld_tensor(struct owb_loader *ld, const char *name, int nd,
                                            const int64_t *ne, bool required,
                                            char err[OWB_ERR_MAX]);

/* Bind weight `name` of shape [k, m] (n_exp == 0) or [k, m, n_exp] (experts) to w and check the
 * kernels can multiply its type (float data aligned for its element size). */
int owb_ld_matrix(struct owb_loader *ld, const char *name, int64_t k, int64_t m, int64_t n_exp,
                  struct owb_wt *w, char err[OWB_ERR_MAX]);

/* Copy tensor `name` of shape [n] (n2 == 0) or [n, n2] into dst (n * max(n2, 1) floats; any type
 * with a dequantizer). Absent and not required: *found = false, 0. */
int owb_ld_vec(struct owb_loader *ld, const char *name, int64_t n, int64_t n2, bool required,
               float *dst, bool *found, char err[OWB_ERR_MAX]);

/* Per-layer tensor name "blk.L.base.suffix" into buf. */
void owb_ld_name(char *buf, size_t size, int64_t layer, const char *base, const char *suffix);

struct owb_hparams;
struct owb_model;
struct owb_model_opts;

/* The head counts of hp once its keys are read: n_head_kv defaulted to n_head, then n_embd,
 * n_layer and both head counts checked positive, n_head a multiple of n_head_kv. */
int owb_ld_heads(const struct owb_loader *ld, struct owb_hparams *hp, char err[OWB_ERR_MAX]);

/* hp->head_dim: key_len (attention.key_length), or n_embd / n_head when 0; val_len
 * (attention.value_length) must be 0 or the same. Then hp->n_rot: rope.dimension_count (default
 * head_dim), even, at most head_dim and OWB_ROPE_MAX_ROT. */
int owb_ld_head_dim(struct owb_loader *ld, struct owb_hparams *hp, int64_t key_len, int64_t val_len,
                    char err[OWB_ERR_MAX]);

/* token_embd.weight ([n_embd, n_vocab], a type with a dequantizer) as *tok_embd, setting
 * hp->n_vocab; then output.weight bound as *output, or the embedding again when absent
 * (hp->tied_output). The embedding counts in bound_bytes only when the output is separate.
 * Returns 0, OWB_E_FORMAT or owb_ld_matrix's status. */
int owb_ld_embd_output(struct owb_loader *ld, struct owb_hparams *hp, struct owb_wt *tok_embd,
                       struct owb_wt *output, char err[OWB_ERR_MAX]);

/* m->n_ctx: o->n_ctx, or the training context when 0 (0 refused); m->n_batch: o->n_batch, or 512
 * when 0, at most n_ctx. */
int owb_ld_context(const struct owb_loader *ld, struct owb_model *m, const struct owb_model_opts *o,
                   char err[OWB_ERR_MAX]);

/* a * b * c floats, 64-byte aligned; zeroed when zero. Sets *oom (and returns NULL) on overflow
 * or allocation failure; free() the result. */
float *owb_ld_alloc_f32(int64_t a, int64_t b, int64_t c, bool zero, bool *oom);

#endif
