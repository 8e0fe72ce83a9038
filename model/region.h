/* SPDX-License-Identifier: MIT */
/*
 * region.h: the steps every architecture's forward region shares (model/llama.c, model/gptoss.c):
 * a chunk of tokens runs as one parallel region of the caller's runner whose threads meet at the
 * runtime's barrier (runtime/par.h) between steps. Here: the activation and attention scratch a
 * region needs (allocated once at load), profile marks (worker 0's wall time split by operation
 * class), the barrier with its mark, the input step of a group of matmuls (RMSNorm, then the
 * activations quantized once per distinct layout), one matmul's row range, the residual add of a
 * row range, the smallest row range worth a grab, the whole steps both architectures take alike
 * (a projection into the residual, the logits), running a chunk's region, splitting a forward
 * call into chunks, and the weights' plans for a chunk size.
 *
 * Input step: rows == 1 (decode): every thread normalizes and prepares the whole row into its own
 * scratch (no barrier: the row is tiny and decode is latency-bound); rows > 1: rows are split
 * over the threads into the shared buffers, then a barrier. Every output element is computed by
 * one thread with the same operations whatever the split, so results do not depend on the thread
 * count. Nothing here allocates after owb_region_bufs_init.
 */
#ifndef OWB_MODEL_REGION_H
#define OWB_MODEL_REGION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "kernels/attn.h"
#include "kernels/backend.h"
#include "kernels/matmul.h"
#include "model/arch.h"
#include "model/loader.h"
#include "runtime/par.h"

/* Matmuls sharing one input in a step. */
#define OWB_REGION_GROUP 3

/* One thread's one-row scratch. */
struct owb_region_thr {
    float *xb;                   /* (width) normed row */
    void *act[OWB_REGION_GROUP]; /* (act1_bytes each) prepared row */
};

/* The activation scratch of a model's regions. */
struct owb_region_bufs {
    int nthreads;
    float *xb;                   /* (n_batch, width) normed rows of a batched step */
    void *act[OWB_REGION_GROUP]; /* (act_bytes each) prepared rows of a batched step */
    size_t act_bytes, act1_bytes;
    struct owb_region_thr *thr; /* (nthreads) */
};

/* Size and allocate the scratch for inputs up to `width` floats wide: act_bytes is the largest
 * act_bytes of plans[0..nplans) (the batched plans), act1_bytes the largest
 * act_row_bytes of those and of one[0..none) (the one-row plans). Returns 0 or OWB_E_NOMEM. */
int owb_region_bufs_init(struct owb_region_bufs *b, int nthreads, int64_t n_batch, int64_t width,
                         const struct owb_be_mm *plans, int64_t nplans, const struct owb_be_mm *one,
                         int64_t none);
/* Free what init allocated (a zeroed struct is fine). */
void owb_region_bufs_release(struct owb_region_bufs *b);

/* One thread's attention scratch (kernels/attn.h) for blocks of `rows` query rows (group * qb)
 * of head size hd over up to n_ctx keys, with the sliding layers' window copies of cap_swa keys
 * when cap_swa > 0. Sets *oom when an allocation fails. */
void owb_region_attn_alloc(struct owb_attn_scratch *s, int64_t rows, int64_t hd, int64_t n_ctx,
                           int64_t cap_swa, bool *oom);
/* Free what owb_region_attn_alloc allocated (a zeroed struct is fine). */
void owb_region_attn_free(struct owb_attn_scratch *s);

/* What the threads of one chunk share. */
struct owb_region {
    struct owb_barrier *bar;
    struct owb_region_bufs *buf;
    float rms_eps;
    struct owb_model_profile *prof; /* NULL: not profiling */
    uint64_t t_last;                /* worker 0's last profile mark */
    const struct owb_backend *be;   /* runs the matmuls (a host-threads backend) */
};

/* The input of up to OWB_REGION_GROUP matmuls, ready for the backend's mm_rows. */
struct owb_input {
    const float *x; /* f32 rows (for f32-activation paths) */
    int64_t ldx;
    const void *act[OWB_REGION_GROUP]; /* prepared rows per plan (shared between equal layouts) */
};

/* CLOCK_MONOTONIC in ns. */
uint64_t owb_region_now_ns(void);

/* Profile mark (worker 0 only, when profiling): the time since the last mark goes to *bucket. */
static inline void owb_region_mark(struct owb_region *r, int tid, uint64_t *bucket)
{
    if (tid != 0 || !r->prof)
        return;
    uint64_t t = owb_region_now_ns();
    *bucket += t - r->t_last;
    r->t_last = t;
}

/* Wait for the region's nth threads, then mark sync time. */
void owb_region_barrier(struct owb_region *r, int tid, int nth);

/* Make rows of src (stride lds, width p[0]->k) ready as the input of plans p[0..np): RMSNorm
 * with w (eps r->rms_eps) when w is not NULL, then prepared for each distinct activation layout
 * (see the header comment for rows == 1 vs rows > 1). */
void owb_region_input(struct owb_region *r, int tid, int nth, const float *src, int64_t lds,
                      int64_t rows, const float *w, const struct owb_be_mm *const *p, int np,
                      struct owb_input *in);

/* Output rows [r0, r1) of y = W x (an empty range does nothing), then a mark of the weight type.
 * Decode GEMVs prefetch their rows ahead inside the cpu backend's mm_rows. */
void owb_region_mm(struct owb_region *r, int tid, const struct owb_be_mm *p, const void *w,
                   const void *act, const float *x, int64_t ldx, float *y, int64_t ldy, int64_t r0,
                   int64_t r1);

/* Smallest range worth a grab: 64 rows for a GEMM (its row block), else about 32 KiB of weights
 * (16-row aligned). */
int64_t owb_region_grab_rows(const struct owb_be_mm *p);

/* y[b][r0..r1) += d[b][r0..r1) for the nb rows of stride ld. */
void owb_region_add_rows(float *y, const float *d, int64_t ld, int64_t nb, int64_t r0, int64_t r1);

/* y[b][r0..r1) += bias[r0..r1) for the nb rows of stride ld (bias NULL or an empty range: nothing).
 */
void owb_region_add_bias(float *y, int64_t ld, int64_t nb, const float *bias, int64_t r0,
                         int64_t r1);

/* A projection into the residual stream, as one step: the nb rows of src (stride lds) prepared
 * as the input of p (no norm), output rows taken from *work and computed into proj (nb rows of
 * p->m), bias added when not NULL, added into x (same shape as proj), then a barrier. */
void owb_region_residual(struct owb_region *r, int tid, int nth, const float *src, int64_t lds,
                         int64_t nb, const struct owb_be_mm *p, const void *w, const float *bias,
                         float *proj, float *x, _Atomic int64_t *work);

/* The logits step of a chunk of nb rows of x (stride p_all->k): with all, every row with plan
 * p_all into logits (nb rows of output->m); else, in the last chunk only, its last row with the
 * one-row plan p1. The rows are normed with norm; output rows are taken from *work. */
void owb_region_logits(struct owb_region *r, int tid, int nth, const float *x, int64_t nb,
                       const float *norm, const struct owb_be_mm *p_all, const struct owb_be_mm *p1,
                       const struct owb_wt *output, bool all, bool last, float *logits,
                       _Atomic int64_t *work);

/* Run fn(ctx, tid, nth) as the chunk's region: the nwork step counters reset to 0, then fn on the
 * runner's threads when it has more than one (nthreads of them), else on the calling thread;
 * the time before goes to the profile's other_ns, the region's end to sync_ns. */
void owb_region_run(struct owb_region *r, const struct owb_runner *runner, int nthreads,
                    _Atomic int64_t *work, int64_t nwork, owb_par_fn fn, void *ctx);

/* A forward call of n tokens from position pos as chunks of at most m->n_batch tokens:
 * chunk(m, tokens, nb, pos, logits, logits_all, last, err) per chunk in order, logits advanced
 * by n_vocab floats a token when logits_all. Returns 0 or the first chunk's error. */
typedef int (*owb_region_chunk_fn)(struct owb_model *m, const int32_t *tokens, int64_t nb,
                                   int64_t pos, float *logits, bool logits_all, bool last,
                                   char err[OWB_ERR_MAX]);
int owb_region_forward(struct owb_model *m, const int32_t *tokens, int64_t n, int64_t pos,
                       float *logits, bool logits_all, owb_region_chunk_fn chunk,
                       char err[OWB_ERR_MAX]);

/* Plan every weight matmul of a model for chunks of nb tokens on backend be: per layer the
 * per_layer weights wt(impl, l, i) names, into plans[l * per_layer + i], then the output matrix
 * into plans[n_layer * per_layer]. *plan_nb is the chunk size the plans are for: nothing is done
 * when it is nb already, and it is set to nb on success. Returns 0, or the backend's status with
 * err naming the layer (or "output"). */
int owb_region_plan_weights(const struct owb_backend *be, struct owb_be_mm *plans, int64_t *plan_nb,
                            int64_t n_layer, int per_layer,
                            const struct owb_wt *(*wt)(const void *impl, int64_t l, int i),
                            const void *impl, const struct owb_wt *output, int64_t nb,
                            char err[OWB_ERR_MAX]);

#endif
