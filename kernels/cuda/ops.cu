// SPDX-License-Identifier: MIT
//
// ops.cu: the row ops of a transformer layer on the device, with the semantics of the cpu
// backend (kernels/backend_cpu.c): RMSNorm (one block per row), RoPE from per-token cos/sin
// caches (YaRN resolved by the caller), softmax with the causal/window mask and sinks (one block
// per row), SiLU-gated product, the gpt-oss clamped SwiGLU, add, embedding rows through the block
// decoders, the KV-cache store, and attention: one block per (token, head), each warp walks a
// quarter of the visible keys with an online softmax, the warps' partial results are merged with
// the sink in the denominator. K and V caches are (n_head_kv, cap, head_dim), position p in slot
// p % cap (cap n_ctx: the full cache; a sliding layer's ring: fewer). The KV store and
// attention read the position from device memory when given one (a decode graph replays for
// every position). The MoE ops: per-row bias (broadcast or by expert id), the router's top-k
// (one thread per row, the cpu's selection order), the weighted sum of the experts' outputs.
#include <cuda_runtime.h>
#include <math.h>

#include "kernels/cuda/blocks.h"
#include "kernels/cuda/launch.h"

namespace
{

constexpr int NT = 256; // threads of the row kernels

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum or max over the block (NT threads); every thread gets the result.
template <bool MAX> __device__ float block_reduce(float v)
{
    __shared__ float part[NT / 32];
    v = MAX ? warp_max(v) : warp_sum(v);
    __syncthreads(); // part may still be read from a previous call
    if (threadIdx.x % 32 == 0)
        part[threadIdx.x / 32] = v;
    __syncthreads();
    float r = part[0];
    for (int i = 1; i < NT / 32; i++)
        r = MAX ? fmaxf(r, part[i]) : r + part[i];
    return r;
}

__global__ void rmsnorm_kernel(float *y, const float *x, const float *w, int64_t ld, int64_t n,
                               float eps, int64_t r0)
{
    const float *xr = x + (r0 + blockIdx.x) * ld;
    float *yr = y + (r0 + blockIdx.x) * ld;
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += NT)
        ss = fmaf(xr[i], xr[i], ss);
    ss = block_reduce<false>(ss);
    const float scale = rsqrtf(ss / (float)n + eps);
    for (int64_t i = threadIdx.x; i < n; i += NT)
        yr[i] = xr[i] * scale * (w ? w[i] : 1.0f);
}

__global__ void rope_kernel(float *x, int64_t ld, int64_t n_heads, int64_t head_dim,
                            const owb_rope_cache *rc, int neox, int64_t r0)
{
    const int64_t t = r0 + blockIdx.y;
    const owb_rope_cache *c = rc + t;
    const int64_t half = c->n_rot / 2;
    const int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; // (head, pair)
    if (idx >= n_heads * half)
        return;
    const int64_t h = idx / half, i = idx % half;
    float *xh = x + t * ld + h * head_dim;
    const int64_t i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
    const float x0 = xh[i0], x1 = xh[i1], cs = c->cos[i], sn = c->sin[i];
    xh[i0] = x0 * cs - x1 * sn;
    xh[i1] = x0 * sn + x1 * cs;
}

// Visible keys [lo, hi) of a query at position q (causal, window; q < 0: all n).
__device__ __forceinline__ void key_range(int64_t q, int64_t n, int64_t window, int64_t *lo,
                                          int64_t *hi)
{
    if (q < 0) {
        *lo = 0;
        *hi = n;
        return;
    }
    *hi = q + 1 < n ? q + 1 : n;
    *lo = window > 0 && q - window + 1 > 0 ? q - window + 1 : 0;
    if (*lo > *hi)
        *lo = *hi;
}

__global__ void softmax_kernel(float *x, int64_t ld, int64_t n, int64_t n_head, int64_t q_pos0,
                               int64_t window, const float *sinks, int64_t r0)
{
    const int64_t r = r0 + blockIdx.x;
    float *row = x + r * ld;
    int64_t lo, hi;
    key_range(q_pos0 >= 0 ? q_pos0 + r / n_head : -1, n, window, &lo, &hi);
    const float sink = sinks ? sinks[r % n_head] : -INFINITY;
    float mx = sink;
    for (int64_t i = lo + threadIdx.x; i < hi; i += NT)
        mx = fmaxf(mx, row[i]);
    mx = block_reduce<true>(mx);
    float sum = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += NT) {
        const float e = i >= lo && i < hi && row[i] != -INFINITY ? expf(row[i] - mx) : 0.0f;
        row[i] = e;
        sum += e;
    }
    sum = block_reduce<false>(sum) + (sinks ? expf(sink - mx) : 0.0f);
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += NT)
        row[i] *= inv;
}

__global__ void binary_kernel(int op, float *y, const float *a, const float *b, int64_t ld,
                              int64_t n, float alpha, float limit, int64_t r0)
{
    const int64_t r = r0 + blockIdx.y;
    for (int64_t i = (int64_t)blockIdx.x * NT + threadIdx.x; i < n; i += (int64_t)gridDim.x * NT) {
        const float av = a[r * ld + i], bv = b[r * ld + i];
        float v;
        if (op == 0) {
            v = av / (1.0f + expf(-av)) * bv;
        } else if (op == 1) {
            const float g = fminf(av, limit), u = fminf(fmaxf(bv, -limit), limit);
            v = g / (1.0f + expf(-alpha * g)) * (u + 1.0f);
        } else {
            v = av + bv;
        }
        y[r * ld + i] = v;
    }
}

__global__ void get_rows_kernel(enum owb_type t, const uint8_t *W, size_t row_bytes, int64_t n_cols,
                                const int32_t *ids, float *y, int64_t ldy, int64_t r0)
{
    const int64_t r = r0 + blockIdx.x;
    const uint8_t *row = W + (size_t)ids[r] * row_bytes;
    for (int64_t e = threadIdx.x * 8; e < n_cols; e += NT * 8)
        owb_cu_dec8(t, row, e, y + r * ldy + e);
}

__global__ void kv_store_kernel(float *kc, float *vc, const float *k, const float *v, int64_t ldk,
                                int64_t n_head_kv, int64_t head_dim, int64_t cap, int64_t pos,
                                const int64_t *dpos)
{
    const int64_t t = blockIdx.y;
    if (dpos)
        pos = *dpos;
    for (int64_t i = (int64_t)blockIdx.x * NT + threadIdx.x; i < n_head_kv * head_dim;
         i += (int64_t)gridDim.x * NT) {
        const int64_t h = i / head_dim, d = i % head_dim;
        const int64_t dst = (h * cap + (pos + t) % cap) * head_dim + d;
        kc[dst] = k[t * ldk + i];
        vc[dst] = v[t * ldk + i];
    }
}

constexpr int AW = 4;                             // warps per attention block
constexpr int AD = OWB_CU_ATTN_MAX_HEAD_DIM / 32; // head dims per lane

__global__ void __launch_bounds__(32 * AW)
    attn_kernel(float *out, const float *q, const float *kc, const float *vc, int64_t n_head,
                int64_t n_head_kv, int64_t hd, int64_t n_ctx, int64_t cap, int64_t pos,
                int64_t window, const float *sinks, float scale, int64_t t0, const int64_t *dpos)
{
    if (dpos)
        pos = *dpos;
    __shared__ float wm[AW], wl[AW];
    __shared__ float wacc[AW][OWB_CU_ATTN_MAX_HEAD_DIM];
    const int64_t t = t0 + blockIdx.y, h = blockIdx.x;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t g = h / (n_head / n_head_kv);
    const float *qh = q + (t * n_head + h) * hd;
    const float *K = kc + g * cap * hd, *V = vc + g * cap * hd;
    float qr[AD], acc[AD];
#pragma unroll
    for (int j = 0; j < AD; j++) {
        const int64_t d = lane + 32 * j;
        qr[j] = d < hd ? qh[d] * scale : 0.0f;
        acc[j] = 0.0f;
    }
    int64_t lo, hi;
    key_range(pos + t, n_ctx, window, &lo, &hi);
    float m = -INFINITY, l = 0.0f;
    for (int64_t p = lo + warp; p < hi; p += AW) {
        const int64_t slot = p % cap;
        float s = 0.0f;
#pragma unroll
        for (int j = 0; j < AD; j++) {
            const int64_t d = lane + 32 * j;
            if (d < hd)
                s = fmaf(qr[j], K[slot * hd + d], s);
        }
        s = warp_sum(s);
        const float mn = fmaxf(m, s), corr = expf(m - mn), e = expf(s - mn);
        l = l * corr + e;
#pragma unroll
        for (int j = 0; j < AD; j++) {
            const int64_t d = lane + 32 * j;
            acc[j] = acc[j] * corr + (d < hd ? e * V[slot * hd + d] : 0.0f);
        }
        m = mn;
    }
    if (lane == 0) {
        wm[warp] = m;
        wl[warp] = l;
    }
#pragma unroll
    for (int j = 0; j < AD; j++)
        if (lane + 32 * j < hd)
            wacc[warp][lane + 32 * j] = acc[j];
    __syncthreads();
    float M = sinks ? sinks[h] : -INFINITY;
    for (int w = 0; w < AW; w++)
        M = fmaxf(M, wm[w]);
    float L = sinks ? expf(sinks[h] - M) : 0.0f;
    for (int w = 0; w < AW; w++)
        L += wm[w] == -INFINITY ? 0.0f : wl[w] * expf(wm[w] - M);
    const float inv = L > 0.0f ? 1.0f / L : 0.0f;
    for (int64_t d = threadIdx.x; d < hd; d += 32 * AW) {
        float o = 0.0f;
        for (int w = 0; w < AW; w++)
            if (wm[w] != -INFINITY)
                o += wacc[w][d] * expf(wm[w] - M);
        out[(t * n_head + h) * hd + d] = o * inv;
    }
}

__global__ void add_bias_kernel(float *y, const float *x, const float *b, int64_t ldb,
                                const int32_t *ids, int64_t ld, int64_t n, int64_t r0)
{
    const int64_t r = r0 + blockIdx.y;
    const float *br = b + (ids ? (int64_t)ids[r] * ldb : 0);
    for (int64_t i = (int64_t)blockIdx.x * NT + threadIdx.x; i < n; i += (int64_t)gridDim.x * NT)
        y[r * ld + i] = x[r * ld + i] + br[i];
}

// Router top-k of one row per warp-sized block: lane 0 selects as owb_topk_softmax does (k and n
// are small: 32..128 experts, 4 used), so ties and the order of the weights match the cpu.
__global__ void topk_kernel(const float *logits, int64_t ld, int64_t n, int64_t k, float scale,
                            int32_t *ids, float *w, int64_t r0)
{
    if (threadIdx.x != 0)
        return;
    const int64_t r = r0 + blockIdx.x;
    const float *lg = logits + r * ld;
    int32_t *id = ids + r * k;
    float *wr = w + r * k;
    int64_t m = 0;
    for (int64_t e = 0; e < n; e++) {
        const float v = lg[e];
        if (m == k && !(v > lg[id[k - 1]]))
            continue;
        int64_t j = m < k ? m++ : k - 1;
        while (j > 0 && v > lg[id[j - 1]]) {
            id[j] = id[j - 1];
            j--;
        }
        id[j] = (int32_t)e;
    }
    const float mx = lg[id[0]];
    double sum = 0;
    for (int64_t j = 0; j < k; j++) {
        wr[j] = expf(lg[id[j]] - mx);
        sum += (double)wr[j];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t j = 0; j < k; j++) {
        wr[j] *= inv;
        if (scale != 0.0f && scale != 1.0f)
            wr[j] *= scale;
    }
}

__global__ void moe_sum_kernel(float *y, const float *d, const float *w, int64_t k, int64_t ld,
                               int64_t n, int64_t t0)
{
    const int64_t t = t0 + blockIdx.y;
    const float *wt = w + t * k, *dt = d + t * k * ld;
    for (int64_t i = (int64_t)blockIdx.x * NT + threadIdx.x; i < n; i += (int64_t)gridDim.x * NT) {
        float a = __fmul_rn(dt[i], wt[0]);
        for (int64_t j = 1; j < k; j++)
            a = __fadd_rn(a, __fmul_rn(dt[j * ld + i], wt[j])); // no FMA: the cpu's rounding
        y[t * ld + i] = y[t * ld + i] + a;
    }
}

inline unsigned blocks_for(int64_t n, int64_t per)
{
    const int64_t b = (n + per - 1) / per;
    return (unsigned)(b < 1 ? 1 : b > 1024 ? 1024 : b);
}

} // namespace

extern "C" void owb_cu_rmsnorm(float *y, const float *x, const float *w, int64_t ld, int64_t n,
                               float eps, int64_t r0, int64_t r1, void *stream)
{
    if (r1 > r0)
        rmsnorm_kernel<<<(unsigned)(r1 - r0), NT, 0, (cudaStream_t)stream>>>(y, x, w, ld, n, eps,
                                                                             r0);
}

extern "C" void owb_cu_rope(float *x, int64_t ld, int64_t n_heads, int64_t head_dim,
                            const struct owb_rope_cache *rc, int neox, int64_t r0, int64_t r1,
                            void *stream)
{
    // every cache of a call has the same n_rot; head_dim / 2 pairs bound the grid
    if (r1 > r0)
        rope_kernel<<<dim3(blocks_for(n_heads * (head_dim / 2), NT), (unsigned)(r1 - r0)), NT, 0,
                      (cudaStream_t)stream>>>(x, ld, n_heads, head_dim, rc, neox, r0);
}

extern "C" void owb_cu_softmax(float *x, int64_t ld, int64_t n, int64_t n_head, int64_t q_pos0,
                               int64_t window, const float *sinks, int64_t r0, int64_t r1,
                               void *stream)
{
    if (r1 > r0)
        softmax_kernel<<<(unsigned)(r1 - r0), NT, 0, (cudaStream_t)stream>>>(
            x, ld, n, n_head, q_pos0, window, sinks, r0);
}

extern "C" void owb_cu_binary(int op, float *y, const float *a, const float *b, int64_t ld,
                              int64_t n, float alpha, float limit, int64_t r0, int64_t r1,
                              void *stream)
{
    if (r1 > r0)
        binary_kernel<<<dim3(blocks_for(n, NT), (unsigned)(r1 - r0)), NT, 0,
                        (cudaStream_t)stream>>>(op, y, a, b, ld, n, alpha, limit, r0);
}

extern "C" void owb_cu_get_rows(enum owb_type t, const void *W, size_t row_bytes, int64_t n_cols,
                                const int32_t *ids, float *y, int64_t ldy, int64_t r0, int64_t r1,
                                void *stream)
{
    if (r1 > r0)
        get_rows_kernel<<<(unsigned)(r1 - r0), NT, 0, (cudaStream_t)stream>>>(
            t, (const uint8_t *)W, row_bytes, n_cols, ids, y, ldy, r0);
}

extern "C" void owb_cu_kv_store(float *kc, float *vc, const float *k, const float *v, int64_t ldk,
                                int64_t n_head_kv, int64_t head_dim, int64_t cap, int64_t pos,
                                const int64_t *dpos, int64_t n_tok, void *stream)
{
    if (n_tok > 0)
        kv_store_kernel<<<dim3(blocks_for(n_head_kv * head_dim, NT), (unsigned)n_tok), NT, 0,
                          (cudaStream_t)stream>>>(kc, vc, k, v, ldk, n_head_kv, head_dim, cap, pos,
                                                  dpos);
}

extern "C" void owb_cu_add_bias(float *y, const float *x, const float *b, int64_t ldb,
                                const int32_t *ids, int64_t ld, int64_t n, int64_t r0, int64_t r1,
                                void *stream)
{
    if (r1 > r0)
        add_bias_kernel<<<dim3(blocks_for(n, NT), (unsigned)(r1 - r0)), NT, 0,
                          (cudaStream_t)stream>>>(y, x, b, ldb, ids, ld, n, r0);
}

extern "C" void owb_cu_topk(const float *logits, int64_t ld, int64_t n, int64_t k, float scale,
                            int32_t *ids, float *w, int64_t r0, int64_t r1, void *stream)
{
    if (r1 > r0)
        topk_kernel<<<(unsigned)(r1 - r0), 32, 0, (cudaStream_t)stream>>>(logits, ld, n, k, scale,
                                                                          ids, w, r0);
}

extern "C" void owb_cu_moe_sum(float *y, const float *d, const float *w, int64_t k, int64_t ld,
                               int64_t n, int64_t t0, int64_t t1, void *stream)
{
    if (t1 > t0)
        moe_sum_kernel<<<dim3(blocks_for(n, NT), (unsigned)(t1 - t0)), NT, 0,
                         (cudaStream_t)stream>>>(y, d, w, k, ld, n, t0);
}

extern "C" void owb_cu_attn(float *out, const float *q, const float *kc, const float *vc,
                            int64_t n_head, int64_t n_head_kv, int64_t head_dim, int64_t n_ctx,
                            int64_t cap, int64_t pos, const int64_t *dpos, int64_t window,
                            const float *sinks, float scale, int64_t t0, int64_t t1, void *stream)
{
    if (t1 > t0)
        attn_kernel<<<dim3((unsigned)n_head, (unsigned)(t1 - t0)), 32 * AW, 0,
                      (cudaStream_t)stream>>>(out, q, kc, vc, n_head, n_head_kv, head_dim, n_ctx,
                                              cap, pos, window, sinks, scale, t0, dpos);
}
