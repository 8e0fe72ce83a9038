/* SPDX-License-Identifier: MIT */
/*
 * backend_cuda.c: the "cuda" backend table (kernels/backend.h) over the CUDA runtime and the
 * kernels of mm.cu and ops.cu. Device 0, one stream created on first use; every op is queued on
 * it; upload and download wait for it (the host memory may be reused at once); synchronize
 * reports the first launch or execution error. Graphs are stream captures (thread-local mode) of
 * the ops queued between graph_begin and graph_end, instantiated once and relaunched. Plans: GEMV
 * (batch chunks of up to 8) for batches below 16 or k not a multiple of 32, the tensor-core GEMM
 * otherwise (activations converted to the tile type in mm_prepare). k must be a multiple of 8
 * (every block format is) except for the float types' GEMV, which reads any width. Grouped
 * experts (mm_grp) run the tensor-core GEMM for every used expert in one launch (k a multiple of
 * 32; otherwise mm_grp_plan says unsupported and the caller runs expert-indexed GEMVs).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "kernels/backend.h"
#include "kernels/cuda/cuda.h"
#include "kernels/cuda/launch.h"

enum { KIND_GEMV = 0, KIND_GEMM = 1 };

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static cudaStream_t stream;
static int init_rc;
static char init_reason[OWB_ERR_MAX];

static void cuda_init(void)
{
    if (owb_cuda_device_count(init_reason) == 0) {
        init_rc = OWB_E_UNSUPPORTED;
        return;
    }
    cudaError_t e = cudaSetDevice(0);
    if (e == cudaSuccess)
        e = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        snprintf(init_reason, sizeof init_reason, "CUDA device 0: %s", cudaGetErrorString(e));
        init_rc = OWB_E_UNSUPPORTED;
    }
}

static int cuda_available(char reason[OWB_ERR_MAX])
{
    pthread_once(&init_once, cuda_init);
    if (init_rc && reason)
        snprintf(reason, OWB_ERR_MAX, "%s", init_reason);
    return init_rc;
}

void *owb_cu_stream(void)
{
    return cuda_available(NULL) == 0 ? (void *)stream : NULL;
}

static int fail(char err[OWB_ERR_MAX], const char *what, cudaError_t e)
{
    snprintf(err, OWB_ERR_MAX, "cuda: %s: %s (%s)", what, cudaGetErrorString(e),
             cudaGetErrorName(e));
    return e == cudaErrorMemoryAllocation ? OWB_E_NOMEM : OWB_E_SYSTEM;
}

static int cuda_buf_alloc(const struct owb_backend *be, struct owb_buf *b, size_t bytes,
                          char err[OWB_ERR_MAX])
{
    memset(b, 0, sizeof *b);
    b->be = be;
    int rc = cuda_available(err);
    if (rc || bytes == 0)
        return rc;
    cudaError_t e = cudaMalloc(&b->data, bytes);
    if (e != cudaSuccess) {
        b->data = NULL;
        return fail(err, "cudaMalloc", e);
    }
    b->bytes = bytes;
    b->owned = true;
    return 0;
}

static void cuda_buf_free(struct owb_buf *b)
{
    if (b->data && b->owned)
        cudaFree(b->data);
    b->data = NULL;
    b->bytes = 0;
    b->owned = false;
}

static int range_check(const struct owb_buf *b, size_t off, size_t bytes, char err[OWB_ERR_MAX])
{
    if (off > b->bytes || bytes > b->bytes - off) {
        snprintf(err, OWB_ERR_MAX,
                 "cuda: %zu bytes at offset %zu pass the end of a %zu-byte buffer", bytes, off,
                 b->bytes);
        return OWB_E_USAGE;
    }
    return 0;
}

static int memcpy_wait(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind,
                       const char *what, char err[OWB_ERR_MAX])
{
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, kind, stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(stream);
    return e == cudaSuccess ? 0 : fail(err, what, e);
}

static int cuda_upload(const struct owb_buf *b, size_t off, const void *src, size_t bytes,
                       char err[OWB_ERR_MAX])
{
    int rc = range_check(b, off, bytes, err);
    if (rc || bytes == 0)
        return rc;
    return memcpy_wait((char *)b->data + off, src, bytes, cudaMemcpyHostToDevice, "upload", err);
}

static int cuda_buf_map(const struct owb_backend *be, struct owb_buf *b, const void *host,
                        size_t bytes, char err[OWB_ERR_MAX])
{
    int rc = cuda_buf_alloc(be, b, bytes, err);
    if (rc == 0 && bytes)
        rc = cuda_upload(b, 0, host, bytes, err);
    if (rc)
        cuda_buf_free(b);
    return rc;
}

static int cuda_download(const struct owb_buf *b, size_t off, void *dst, size_t bytes,
                         char err[OWB_ERR_MAX])
{
    int rc = range_check(b, off, bytes, err);
    if (rc || bytes == 0)
        return rc;
    return memcpy_wait(dst, (const char *)b->data + off, bytes, cudaMemcpyDeviceToHost, "download",
                       err);
}

static int cuda_copy(const struct owb_buf *dst, size_t doff, const struct owb_buf *src, size_t soff,
                     size_t bytes, char err[OWB_ERR_MAX])
{
    int rc = range_check(dst, doff, bytes, err);
    if (rc == 0)
        rc = range_check(src, soff, bytes, err);
    if (rc || bytes == 0)
        return rc;
    cudaError_t e = cudaMemcpyAsync((char *)dst->data + doff, (const char *)src->data + soff, bytes,
                                    cudaMemcpyDeviceToDevice, stream);
    return e == cudaSuccess ? 0 : fail(err, "device copy", e);
}

/* ---- matmul ---- */

static int cuda_mm_plan(const struct owb_backend *be, struct owb_be_mm *p, enum owb_type wtype,
                        int64_t m, int64_t k, int64_t batch, char err[OWB_ERR_MAX])
{
    memset(p, 0, sizeof *p);
    p->be = be;
    if (m <= 0 || k <= 0 || batch <= 0) {
        snprintf(err, OWB_ERR_MAX,
                 "cuda matmul: sizes must be positive (m %lld, k %lld, batch "
                 "%lld)",
                 (long long)m, (long long)k, (long long)batch);
        return OWB_E_USAGE;
    }
    if (!owb_cu_type_supported(wtype)) {
        snprintf(err, OWB_ERR_MAX,
                 "cuda matmul: no kernel reads %s weights (f32, f16, bf16, "
                 "q8_0, q4_0, q4_K, q6_K, mxfp4 only)",
                 owb_type_name(wtype));
        return OWB_E_UNSUPPORTED;
    }
    const struct owb_type_traits *tr = owb_type_traits(wtype);
    if (k % tr->blck_size || (tr->blck_size > 1 && k % 8)) { /* float rows: any width (GEMV) */
        snprintf(err, OWB_ERR_MAX,
                 "cuda matmul: k = %lld is not a multiple of %s's block (%lld) "
                 "and of 8",
                 (long long)k, tr->name, (long long)tr->blck_size);
        return OWB_E_USAGE;
    }
    p->wtype = wtype;
    p->m = m;
    p->k = k;
    p->batch = batch;
    if (batch >= OWB_CU_GEMM_MIN_BATCH && k % 32 == 0) {
        p->kind = KIND_GEMM;
        p->act_type = owb_cu_gemm_act_type(wtype);
        p->act_bytes = (size_t)batch * (size_t)k * 2;
        snprintf(p->path, sizeof p->path, "cuda %s gemm wmma %s", tr->name,
                 owb_type_name(p->act_type));
    } else {
        p->kind = KIND_GEMV;
        p->act_type = OWB_TYPE_F32;
        p->act_bytes = 0;
        snprintf(p->path, sizeof p->path, "cuda %s gemv b%lld", tr->name, (long long)batch);
    }
    return 0;
}

static void cuda_mm_prepare(const struct owb_be_mm *p, const float *X, int64_t ldx, void *act,
                            int64_t b0, int64_t b1)
{
    if (p->kind == KIND_GEMM)
        owb_cu_convert_rows(p->act_type, X, ldx, act, p->k, b0, b1, stream);
}

static void cuda_mm_rows(const struct owb_be_mm *p, const void *W, const void *act, const float *X,
                         int64_t ldx, float *Y, int64_t ldy, int64_t r0, int64_t r1)
{
    const size_t rb = owb_row_size(p->wtype, p->k);
    if (p->kind == KIND_GEMM) {
        owb_cu_gemm(p->wtype, W, rb, act, Y, ldy, p->k, p->batch, r0, r1, stream);
        return;
    }
    for (int64_t b = 0; b < p->batch; b += OWB_CU_GEMV_MAX_BATCH) {
        const int64_t nb =
            p->batch - b < OWB_CU_GEMV_MAX_BATCH ? p->batch - b : OWB_CU_GEMV_MAX_BATCH;
        owb_cu_gemv(p->wtype, W, rb, X + b * ldx, ldx, Y + b * ldy, ldy, p->k, nb, r0, r1, stream);
    }
}

static void cuda_mm_id_rows(const struct owb_be_mm *p, const struct owb_be_mm_id *id, const void *W,
                            const void *act, const float *X, int64_t ldx, float *Y, int64_t ldy,
                            int64_t t0, int64_t t1)
{
    (void)act;
    owb_cu_gemv_id(p->wtype, W, owb_row_size(p->wtype, p->k), id->expert_bytes, id->ids, id->n_used,
                   id->x_per_tok, X, ldx, Y, ldy, p->m, p->k, t0, t1, stream);
}

/* ---- grouped experts ---- */

static void cuda_moe_route(const int32_t *ids, int64_t n_tok, int64_t n_used, int64_t n_expert,
                           int32_t *route)
{
    owb_cu_moe_route(ids, n_tok * n_used, n_expert, route, stream);
}

static int cuda_mm_grp_plan(const struct owb_backend *be, struct owb_be_mm *p, enum owb_type wtype,
                            int64_t m, int64_t k, int64_t max_pairs, int64_t n_expert,
                            char err[OWB_ERR_MAX])
{
    int rc = cuda_mm_plan(be, p, wtype, m, k, max_pairs, err);
    if (rc)
        return rc;
    if (k % 32 || n_expert <= 0 || n_expert > 65535) {
        snprintf(err, OWB_ERR_MAX,
                 "cuda grouped matmul: k = %lld is not a multiple of 32 or %lld experts are not "
                 "1..65535",
                 (long long)k, (long long)n_expert);
        return OWB_E_UNSUPPORTED;
    }
    p->kind = KIND_GEMM;
    p->act_type = owb_cu_gemm_act_type(wtype);
    p->act_bytes = (size_t)max_pairs * (size_t)k * 2;
    p->n_expert = n_expert;
    snprintf(p->path, sizeof p->path, "cuda %s grouped gemm wmma %s", owb_type_name(wtype),
             owb_type_name(p->act_type));
    return 0;
}

static void cuda_mm_grp_prepare(const struct owb_be_mm *p, const struct owb_be_mm_grp *g,
                                const float *X, int64_t ldx, void *act, int64_t e0, int64_t e1)
{
    OWB_ASSERT(g->n_tok * g->n_used <= p->batch && e0 >= 0 && e1 <= p->n_expert);
    owb_cu_gather_rows(p->act_type, X, ldx, act, p->k, g->route, p->n_expert, g->n_used,
                       g->x_per_tok, g->n_tok * g->n_used, e0, e1, stream);
}

static void cuda_mm_grp_rows(const struct owb_be_mm *p, const struct owb_be_mm_grp *g,
                             const void *W, void *act, float *Y, int64_t ldy, int64_t r0,
                             int64_t r1)
{
    owb_cu_gemm_grp(p->wtype, W, owb_row_size(p->wtype, p->k), g->expert_bytes, act, Y, ldy, p->k,
                    g->route, p->n_expert, g->n_tok, r0, r1, stream);
}

/* ---- row ops ---- */

static void cuda_rmsnorm(float *y, const float *x, const float *w, int64_t ld, int64_t n, float eps,
                         int64_t r0, int64_t r1)
{
    owb_cu_rmsnorm(y, x, w, ld, n, eps, r0, r1, stream);
}

static void cuda_rope(float *x, int64_t ld, int64_t n_heads, int64_t head_dim,
                      const struct owb_rope_cache *rc, int neox, int64_t r0, int64_t r1)
{
    owb_cu_rope(x, ld, n_heads, head_dim, rc, neox, r0, r1, stream);
}

static void cuda_softmax(float *x, int64_t ld, int64_t n, const struct owb_be_softmax *s,
                         int64_t r0, int64_t r1)
{
    if (s)
        owb_cu_softmax(x, ld, n, s->n_head, s->q_pos0, s->window, s->sinks, r0, r1, stream);
    else
        owb_cu_softmax(x, ld, n, 1, -1, 0, NULL, r0, r1, stream);
}

static void cuda_silu_mul(float *y, const float *gate, const float *up, int64_t ld, int64_t n,
                          int64_t r0, int64_t r1)
{
    owb_cu_binary(0, y, gate, up, ld, n, 0.0f, 0.0f, r0, r1, stream);
}

static void cuda_swiglu_oai(float *y, const float *gate, const float *up, int64_t ld, int64_t n,
                            float alpha, float limit, int64_t r0, int64_t r1)
{
    owb_cu_binary(1, y, gate, up, ld, n, alpha, limit, r0, r1, stream);
}

static void cuda_add(float *y, const float *a, const float *b, int64_t ld, int64_t n, int64_t r0,
                     int64_t r1)
{
    owb_cu_binary(2, y, a, b, ld, n, 0.0f, 0.0f, r0, r1, stream);
}

static int cuda_get_rows(enum owb_type t, const void *W, int64_t n_cols, const int32_t *ids,
                         float *y, int64_t ldy, int64_t r0, int64_t r1)
{
    const size_t rb = owb_row_size(t, n_cols);
    if (!owb_cu_type_supported(t) || n_cols % 8)
        return OWB_E_UNSUPPORTED;
    if (rb == 0)
        return OWB_E_USAGE;
    owb_cu_get_rows(t, W, rb, n_cols, ids, y, ldy, r0, r1, stream);
    return 0;
}

static void cuda_kv_store(float *kc, float *vc, const float *k, const float *v, int64_t ldk,
                          const struct owb_be_attn *a, int64_t n_tok)
{
    const int64_t cap = owb_be_attn_cap(a);
    OWB_ASSERT(a->dpos || (a->pos >= 0 && a->pos + n_tok <= a->n_ctx));
    OWB_ASSERT(cap <= a->n_ctx &&
               (cap == a->n_ctx || (a->window > 0 && cap >= a->window + n_tok - 1)));
    owb_cu_kv_store(kc, vc, k, v, ldk, a->n_head_kv, a->head_dim, cap, a->pos, a->dpos, n_tok,
                    stream);
}

static void cuda_attn(float *out, const float *q, const float *kc, const float *vc,
                      const struct owb_be_attn *a, int64_t t0, int64_t t1)
{
    OWB_ASSERT(a->head_dim <= OWB_CU_ATTN_MAX_HEAD_DIM && a->n_head % a->n_head_kv == 0);
    owb_cu_attn(out, q, kc, vc, a->n_head, a->n_head_kv, a->head_dim, a->n_ctx, owb_be_attn_cap(a),
                a->pos, a->dpos, a->window, a->sinks, a->scale, t0, t1, stream);
}

static void cuda_add_bias(float *y, const float *x, const float *b, int64_t ldb, const int32_t *ids,
                          int64_t ld, int64_t n, int64_t r0, int64_t r1)
{
    owb_cu_add_bias(y, x, b, ldb, ids, ld, n, r0, r1, stream);
}

static void cuda_topk(const float *logits, int64_t ld, int64_t n, int64_t k, float scale,
                      int32_t *ids, float *w, int64_t r0, int64_t r1)
{
    OWB_ASSERT(k >= 1 && k <= n && k <= OWB_TOPK_MAX);
    owb_cu_topk(logits, ld, n, k, scale, ids, w, r0, r1, stream);
}

static void cuda_moe_sum(float *y, const float *d, const float *w, int64_t k, int64_t ld, int64_t n,
                         int64_t t0, int64_t t1)
{
    owb_cu_moe_sum(y, d, w, k, ld, n, t0, t1, stream);
}

/* ---- graphs: stream capture of the ops queued between begin and end (this thread only) ---- */

static int cuda_graph_begin(const struct owb_backend *be, char err[OWB_ERR_MAX])
{
    (void)be;
    int rc = cuda_available(err);
    if (rc)
        return rc;
    cudaError_t e = cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal);
    return e == cudaSuccess ? 0 : fail(err, "cudaStreamBeginCapture", e);
}

static int cuda_graph_end(const struct owb_backend *be, void **graph, char err[OWB_ERR_MAX])
{
    (void)be;
    cudaGraph_t g = NULL;
    cudaGraphExec_t x = NULL;
    *graph = NULL;
    cudaError_t e = cudaStreamEndCapture(stream, &g);
    if (e != cudaSuccess || !g) {
        (void)cudaGetLastError(); /* the capture's error is not the next op's */
        if (g)
            cudaGraphDestroy(g);
        return fail(err, "cudaStreamEndCapture", e != cudaSuccess ? e : cudaErrorUnknown);
    }
    e = cudaGraphInstantiate(&x, g, 0);
    cudaGraphDestroy(g);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return fail(err, "cudaGraphInstantiate", e);
    }
    *graph = x;
    return 0;
}

static int cuda_graph_launch(const struct owb_backend *be, void *graph, char err[OWB_ERR_MAX])
{
    (void)be;
    cudaError_t e = cudaGraphLaunch((cudaGraphExec_t)graph, stream);
    return e == cudaSuccess ? 0 : fail(err, "cudaGraphLaunch", e);
}

static void cuda_graph_free(void *graph)
{
    if (graph)
        cudaGraphExecDestroy((cudaGraphExec_t)graph);
}

/* ---- sync and timing ---- */

static int cuda_synchronize(const struct owb_backend *be, char err[OWB_ERR_MAX])
{
    (void)be;
    int rc = cuda_available(err);
    if (rc)
        return rc;
    cudaError_t e = cudaStreamSynchronize(stream);
    if (e == cudaSuccess)
        e = cudaGetLastError();
    return e == cudaSuccess ? 0 : fail(err, "kernel", e);
}

static int cuda_timer_init(const struct owb_backend *be, struct owb_be_timer *t,
                           char err[OWB_ERR_MAX])
{
    memset(t, 0, sizeof *t);
    t->be = be;
    int rc = cuda_available(err);
    if (rc)
        return rc;
    cudaEvent_t ev;
    cudaError_t e = cudaEventCreate(&ev);
    if (e != cudaSuccess)
        return fail(err, "cudaEventCreate", e);
    t->ev = ev;
    return 0;
}

static void cuda_timer_release(struct owb_be_timer *t)
{
    if (t->ev)
        cudaEventDestroy((cudaEvent_t)t->ev);
    t->ev = NULL;
}

static void cuda_timer_mark(struct owb_be_timer *t)
{
    cudaEventRecord((cudaEvent_t)t->ev, stream);
}

static double cuda_timer_elapsed_ns(const struct owb_be_timer *a, const struct owb_be_timer *b)
{
    float ms = 0.0f;
    if (cudaEventSynchronize((cudaEvent_t)b->ev) != cudaSuccess ||
        cudaEventElapsedTime(&ms, (cudaEvent_t)a->ev, (cudaEvent_t)b->ev) != cudaSuccess)
        return -1.0;
    return (double)ms * 1e6;
}

const struct owb_backend owb_backend_cuda = {
    .name = "cuda",
    .host_threads = false,
    .host_memory = false,
    .available = cuda_available,
    .buf_alloc = cuda_buf_alloc,
    .buf_map = cuda_buf_map,
    .buf_free = cuda_buf_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .copy = cuda_copy,
    .mm_plan = cuda_mm_plan,
    .mm_prepare = cuda_mm_prepare,
    .mm_rows = cuda_mm_rows,
    .mm_id_rows = cuda_mm_id_rows,
    .moe_route = cuda_moe_route,
    .mm_grp_plan = cuda_mm_grp_plan,
    .mm_grp_prepare = cuda_mm_grp_prepare,
    .mm_grp_rows = cuda_mm_grp_rows,
    .rmsnorm = cuda_rmsnorm,
    .rope = cuda_rope,
    .softmax = cuda_softmax,
    .silu_mul = cuda_silu_mul,
    .swiglu_oai = cuda_swiglu_oai,
    .add = cuda_add,
    .get_rows = cuda_get_rows,
    .add_bias = cuda_add_bias,
    .topk = cuda_topk,
    .moe_sum = cuda_moe_sum,
    .kv_store = cuda_kv_store,
    .attn = cuda_attn,
    .graph_begin = cuda_graph_begin,
    .graph_end = cuda_graph_end,
    .graph_launch = cuda_graph_launch,
    .graph_free = cuda_graph_free,
    .synchronize = cuda_synchronize,
    .timer_init = cuda_timer_init,
    .timer_release = cuda_timer_release,
    .timer_mark = cuda_timer_mark,
    .timer_elapsed_ns = cuda_timer_elapsed_ns,
};
