/* SPDX-License-Identifier: MIT */
/*
 * quantize.c: the per-tensor type rules, the threaded row quantizer and the GGUF-to-GGUF
 * converter of quantize.h. The converter maps the input (model/gguf.h's reader), carries every
 * metadata key over, and streams each tensor through model/synth.h's writer in chunks of rows:
 * dequantize a chunk to f32, quantize it to the chosen type, append it.
 */
#define _POSIX_C_SOURCE 200809L

#include "model/quantize.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/gguf.h"
#include "model/synth.h"

#define CHUNK_ELEMS (4 * 1024 * 1024) /* f32 elements converted per chunk (16 MiB) */
#define MIN_ROWS_PER_THREAD 4
#define MIN_ELEMS_PER_THREAD (64 * 1024)
#define MAX_THREADS 256

static const enum owb_type targets[] = {OWB_TYPE_F32,  OWB_TYPE_F16,  OWB_TYPE_BF16,
                                        OWB_TYPE_Q8_0, OWB_TYPE_Q4_0, OWB_TYPE_Q4_K,
                                        OWB_TYPE_Q6_K, OWB_TYPE_MXFP4};

bool owb_quantize_target_ok(enum owb_type t)
{
    for (size_t i = 0; i < OWB_ARRAY_LEN(targets); i++)
        if (targets[i] == t)
            return true;
    return false;
}

const char *owb_quantize_target_names(void)
{
    return "f32, f16, bf16, q8_0, q4_0, q4_K, q6_K, mxfp4";
}

int owb_quantize_ftype(enum owb_type t)
{
    switch (t) {
    case OWB_TYPE_F32:
        return 0;
    case OWB_TYPE_F16:
        return 1;
    case OWB_TYPE_Q4_0:
        return 2;
    case OWB_TYPE_Q8_0:
        return 7;
    case OWB_TYPE_Q4_K:
        return 14;
    case OWB_TYPE_Q6_K:
        return 18;
    case OWB_TYPE_BF16:
        return 32;
    case OWB_TYPE_MXFP4:
        return 38;
    default:
        return -1;
    }
}

static bool fits(enum owb_type t, int64_t ncols)
{
    return owb_row_size(t, ncols) != 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

enum owb_type owb_quantize_pick_type(const char *name, int n_dims, const int64_t *ne,
                                     enum owb_type target, bool *fell_back)
{
    if (fell_back)
        *fell_back = false;
    if (n_dims < 2 || !ends_with(name, ".weight") || ends_with(name, "ffn_gate_inp.weight"))
        return OWB_TYPE_F32;
    bool four_bit = target == OWB_TYPE_Q4_0 || target == OWB_TYPE_Q4_K || target == OWB_TYPE_MXFP4;
    enum owb_type want = target;
    if (strcmp(name, "token_embd.weight") == 0 && (four_bit || target == OWB_TYPE_Q6_K))
        want = OWB_TYPE_Q8_0;
    else if (strcmp(name, "output.weight") == 0 && four_bit)
        want = OWB_TYPE_Q6_K;
    if (fits(want, ne[0]))
        return want;
    static const enum owb_type chain[] = {OWB_TYPE_Q8_0, OWB_TYPE_F16, OWB_TYPE_F32};
    for (size_t i = 0; i < OWB_ARRAY_LEN(chain); i++)
        if (chain[i] != want && fits(chain[i], ne[0])) {
            if (fell_back)
                *fell_back = true;
            return chain[i];
        }
    return OWB_TYPE_F32; /* not reached: f32 fits any row */
}

enum owb_type owb_quantize_pick_type_moe(const char *name, int n_dims, const int64_t *ne,
                                         enum owb_type target, enum owb_type expert_target,
                                         bool *fell_back)
{
    if (n_dims >= 3 && expert_target != OWB_TYPE_COUNT)
        target = expert_target;
    return owb_quantize_pick_type(name, n_dims, ne, target, fell_back);
}

/* ---- threaded row quantizer ---- */

struct qjob {
    enum owb_type t;
    const float *src;
    unsigned char *dst;
    int64_t r0, r1, ncols;
    size_t row_bytes;
};

static void *qjob_run(void *arg)
{
    const struct qjob *j = arg;
    if (j->r1 > j->r0)
        owb_type_traits(j->t)->from_float_ref(j->src + j->r0 * j->ncols,
                                              j->dst + (size_t)j->r0 * j->row_bytes,
                                              (j->r1 - j->r0) * j->ncols);
    return NULL;
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

int owb_quantize_rows(enum owb_type t, const float *src, void *dst, int64_t nrows, int64_t ncols,
                      int nthreads)
{
    const struct owb_type_traits *tr = owb_type_traits(t);
    OWB_ASSERT(tr && tr->from_float_ref && owb_row_size(t, ncols) != 0);
    size_t row_bytes = owb_row_size(t, ncols);
    if (nthreads <= 0)
        nthreads = online_cpus();
    if (nthreads > MAX_THREADS)
        nthreads = MAX_THREADS;
    /* Small jobs are not worth a thread: at least MIN_ROWS_PER_THREAD rows and
     * MIN_ELEMS_PER_THREAD elements each. */
    int64_t by_rows = nrows / MIN_ROWS_PER_THREAD;
    int64_t by_elems = nrows * ncols / MIN_ELEMS_PER_THREAD;
    int64_t cap = by_rows < by_elems ? by_rows : by_elems;
    if (cap < nthreads)
        nthreads = cap < 1 ? 1 : (int)cap;

    struct qjob jobs[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    bool started[MAX_THREADS] = {false};
    int rc = 0;
    for (int i = 0; i < nthreads; i++) {
        jobs[i] = (struct qjob){
            t, src, dst, nrows * i / nthreads, nrows * (i + 1) / nthreads, ncols, row_bytes};
        if (i > 0) {
            started[i] = pthread_create(&tid[i], NULL, qjob_run, &jobs[i]) == 0;
            if (!started[i])
                rc = OWB_E_SYSTEM;
        }
    }
    for (int i = 0; i < nthreads; i++)
        if (!started[i])
            qjob_run(&jobs[i]);
    for (int i = 1; i < nthreads; i++)
        if (started[i])
            pthread_join(tid[i], NULL);
    return rc;
}

/* ---- file conversion ---- */

int owb_quantize_file(const char *in_path, const char *out_path, enum owb_type target, int nthreads,
                      owb_quantize_progress_fn progress, void *progress_ctx, char err[OWB_ERR_MAX])
{
    return owb_quantize_file_ex(in_path, out_path, target, OWB_TYPE_COUNT, nthreads, progress,
                                progress_ctx, err);
}

int owb_quantize_file_ex(const char *in_path, const char *out_path, enum owb_type target,
                         enum owb_type expert_target, int nthreads,
                         owb_quantize_progress_fn progress, void *progress_ctx,
                         char err[OWB_ERR_MAX])
{
    struct owb_gguf *g = NULL;
    struct owb_gguf_writer *s = NULL;
    float *f32 = NULL;
    unsigned char *q = NULL;
    int rc = 0;
    struct stat st;

    if (!owb_quantize_target_ok(target)) {
        owb_seterr(err, "type %s cannot be a quantize target (one of %s)", owb_type_name(target),
                   owb_quantize_target_names());
        return OWB_E_USAGE;
    }
    if (expert_target != OWB_TYPE_COUNT && !owb_quantize_target_ok(expert_target)) {
        owb_seterr(err, "type %s cannot be an expert quantize target (one of %s)",
                   owb_type_name(expert_target), owb_quantize_target_names());
        return OWB_E_USAGE;
    }
    if (stat(in_path, &st) != 0) {
        owb_seterr(err, "%s: %s", in_path, strerror(errno));
        return OWB_E_IO;
    }
    g = owb_gguf_open(in_path, err);
    if (!g)
        return OWB_E_FORMAT;
    s = owb_gguf_writer_new();
    if (!s) {
        owb_seterr(err, "%s: out of memory", out_path);
        rc = OWB_E_NOMEM;
        goto out;
    }
    for (int64_t i = 0; i < g->n_kv; i++) {
        const char *key = g->kv[i].key;
        if (strcmp(key, "general.file_type") == 0 ||
            strcmp(key, "general.quantization_version") == 0 ||
            strcmp(key, "general.alignment") == 0)
            continue; /* rewritten below (alignment as a uint32, last) */
        rc = owb_gguf_writer_set_value(s, key, &g->kv[i].value, err);
        if (rc)
            goto out;
    }
    rc = owb_gguf_writer_set_u32(s, "general.file_type", (uint32_t)owb_quantize_ftype(target), err);
    if (!rc)
        rc = owb_gguf_writer_set_u32(s, "general.quantization_version", 2, err);
    if (!rc)
        rc = owb_gguf_writer_set_u32(s, "general.alignment", g->alignment, err);
    if (rc)
        goto out;

    int64_t max_row = 0;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const struct owb_gguf_tensor *t = &g->tensors[i];
        int nd = t->n_dims < 1 ? 1 : t->n_dims;
        enum owb_type ot =
            owb_quantize_pick_type_moe(t->name, t->n_dims, t->ne, target, expert_target, NULL);
        if (ot != t->type) {
            const struct owb_type_traits *tr = owb_type_traits(t->type);
            if (!tr || !tr->to_float) {
                owb_seterr(err, "%s: tensor %s: cannot convert from type %s (no dequantizer)",
                           in_path, t->name, owb_type_name(t->type));
                rc = OWB_E_UNSUPPORTED;
                goto out;
            }
        }
        rc = owb_gguf_writer_add_tensor_info(s, t->name, ot, nd, t->ne, err);
        if (rc)
            goto out;
        if (t->ne[0] > max_row)
            max_row = t->ne[0];
    }
    int64_t chunk_elems = max_row > CHUNK_ELEMS ? max_row : CHUNK_ELEMS;
    f32 = malloc((size_t)chunk_elems * sizeof *f32);
    q = malloc((size_t)chunk_elems * sizeof(float));
    if (!f32 || !q) {
        owb_seterr(err, "%s: out of memory", out_path);
        rc = OWB_E_NOMEM;
        goto out;
    }
    rc = owb_gguf_writer_begin(s, out_path, err);
    if (rc)
        goto out;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const struct owb_gguf_tensor *t = &g->tensors[i];
        bool fell = false;
        enum owb_type ot =
            owb_quantize_pick_type_moe(t->name, t->n_dims, t->ne, target, expert_target, &fell);
        if (ot == t->type) {
            rc = owb_gguf_writer_stream(s, t->data, t->size_bytes, err);
            if (rc)
                goto out;
        } else {
            const struct owb_type_traits *in_tr = owb_type_traits(t->type);
            int64_t ncols = t->ne[0] > 0 ? t->ne[0] : 1;
            int64_t nrows = t->n_elements / ncols;
            int64_t chunk_rows = chunk_elems / ncols;
            size_t in_row = owb_row_size(t->type, ncols), out_row = owb_row_size(ot, ncols);
            const unsigned char *src = t->data;
            for (int64_t r0 = 0; r0 < nrows; r0 += chunk_rows) {
                int64_t nr = nrows - r0 < chunk_rows ? nrows - r0 : chunk_rows;
                /* Rows are contiguous and whole blocks, so a chunk converts in one call. */
                in_tr->to_float(src + (size_t)r0 * in_row, f32, nr * ncols);
                const void *out = f32;
                if (ot != OWB_TYPE_F32) {
                    (void)owb_quantize_rows(ot, f32, q, nr, ncols, nthreads);
                    out = q;
                }
                rc = owb_gguf_writer_stream(s, out, (size_t)nr * out_row, err);
                if (rc)
                    goto out;
            }
        }
        if (progress)
            progress(progress_ctx, i, g->n_tensors, t->name, t->ne[0], t->type, ot, fell);
    }
    rc = owb_gguf_writer_finish(s, err);
out:
    owb_gguf_writer_free(s);
    owb_gguf_close(g);
    free(f32);
    free(q);
    return rc;
}
