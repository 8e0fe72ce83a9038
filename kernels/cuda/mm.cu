// SPDX-License-Identifier: MIT
//
// mm.cu: dequantize-fused matmul kernels on the GGUF layout (kernels/cuda/blocks.h decoders).
//   GEMV (batch 1..8): one warp per output row, each lane decodes 8 consecutive weights per step
//   (a warp covers 256 elements: a q4_K/q6_K super-block or 8 blocks of 32) and multiplies them
//   with every activation row, f32 accumulation, one warp reduction per batch row at the end.
//   Float rows (f32, f16, bf16) may have any width: the group of 8 a row ends in is read element
//   by element.
//   GEMM (batch >= 16, k % 32 == 0): 64 x 64 output tiles, 4 warps with 2 x 2 WMMA 16x16x16
//   fragments each; the weight tile is decoded once into shared memory as f16 (quantized formats,
//   f16) or bf16 (f32, bf16: range), the activations are converted to the same type once per call
//   (owb_cu_convert_rows), f32 accumulation.
//   Grouped experts (a chunk's MoE, kernels/backend.h mm_grp): the route (pairs sorted by expert)
//   is built by one block; the input rows are gathered by it and converted to the tile type; the
//   GEMM runs with blockIdx.z = expert over that expert's rows only (blocks past its row count
//   exit), its weights at expert * expert_bytes, and stores each result row to its pair's row.
// One template per format; kept lean: nvcc time on CI is part of the budget.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>
#include <type_traits>

#include "kernels/cuda/blocks.h"
#include "kernels/cuda/launch.h"

namespace
{

template <int T> __device__ __forceinline__ void dec8(const void *row, int64_t e, float *out)
{
    if constexpr (T == OWB_TYPE_F32)
        owb_cu_dec8_f32(row, e, out);
    else if constexpr (T == OWB_TYPE_F16)
        owb_cu_dec8_f16(row, e, out);
    else if constexpr (T == OWB_TYPE_BF16)
        owb_cu_dec8_bf16(row, e, out);
    else if constexpr (T == OWB_TYPE_Q8_0)
        owb_cu_dec8_q8_0(row, e, out);
    else if constexpr (T == OWB_TYPE_Q4_0)
        owb_cu_dec8_q4_0(row, e, out);
    else if constexpr (T == OWB_TYPE_Q4_K)
        owb_cu_dec8_q4_K(row, e, out);
    else if constexpr (T == OWB_TYPE_Q6_K)
        owb_cu_dec8_q6_K(row, e, out);
    else
        owb_cu_dec8_mxfp4(row, e, out);
}

// One element i of a float row (f32, f16, bf16): the tail of a row whose width is not a multiple
// of 8 (stories260K's feed-forward width 172).
template <int T> __device__ __forceinline__ float dec1(const void *row, int64_t i)
{
    if constexpr (T == OWB_TYPE_F32)
        return ((const float *)row)[i];
    else if constexpr (T == OWB_TYPE_F16)
        return owb_cu_f16(((const uint16_t *)row)[i]);
    else
        return owb_cu_bf16(((const uint16_t *)row)[i]);
}

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

constexpr int GEMV_ROWS = 4; // warps (rows) per block

struct gemv_args {
    const uint8_t *W;
    size_t row_bytes, expert_bytes;
    const float *X;
    int64_t ldx;
    float *Y;
    int64_t ldy, m, k, nb, r0, r1;
    const int32_t *ids; // expert-indexed mode when not NULL: blockIdx.y = t * n_used + j
    int64_t n_used, x_per_tok, t0;
};

template <int T> __global__ void __launch_bounds__(32 * GEMV_ROWS) gemv_kernel(gemv_args a)
{
    const int64_t r = a.r0 + (int64_t)blockIdx.x * GEMV_ROWS + threadIdx.y;
    if (r >= a.r1)
        return;
    const uint8_t *W = a.W;
    const float *X = a.X;
    float *Y = a.Y;
    if (a.ids) {
        const int64_t pair = a.t0 * a.n_used + blockIdx.y; // (token, choice)
        const int64_t t = pair / a.n_used, j = pair % a.n_used;
        W += (size_t)a.ids[pair] * a.expert_bytes;
        X += (t * a.x_per_tok + (a.x_per_tok > 1 ? j : 0)) * a.ldx;
        Y += pair * a.ldy;
    }
    const uint8_t *row = W + (size_t)r * a.row_bytes;
    float acc[OWB_CU_GEMV_MAX_BATCH] = {0};
    for (int64_t e = (int64_t)threadIdx.x * 8; e < a.k; e += 256) {
        float w[8];
        if constexpr (T == OWB_TYPE_F32 || T == OWB_TYPE_F16 || T == OWB_TYPE_BF16) {
            if (e + 8 > a.k) { // float rows may end inside a group of 8: the last lane's tail
                const int64_t n = a.k - e;
                for (int i = 0; i < 8; i++)
                    w[i] = i < n ? dec1<T>(row, e + i) : 0.0f;
                for (int b = 0; b < OWB_CU_GEMV_MAX_BATCH; b++)
                    if (b < a.nb)
                        for (int i = 0; i < n; i++)
                            acc[b] = fmaf(w[i], X[b * a.ldx + e + i], acc[b]);
                continue;
            }
        }
        dec8<T>(row, e, w);
#pragma unroll
        for (int b = 0; b < OWB_CU_GEMV_MAX_BATCH; b++) {
            if (b < a.nb) {
                const float *x = X + b * a.ldx + e;
#pragma unroll
                for (int i = 0; i < 8; i++)
                    acc[b] = fmaf(w[i], x[i], acc[b]);
            }
        }
    }
#pragma unroll
    for (int b = 0; b < OWB_CU_GEMV_MAX_BATCH; b++) {
        if (b < a.nb) {
            const float s = warp_sum(acc[b]);
            if (threadIdx.x == 0)
                Y[b * a.ldy + r] = s;
        }
    }
}

template <typename E> __device__ __forceinline__ E to_elem(float v);
template <> __device__ __forceinline__ __half to_elem<__half>(float v)
{
    return __float2half_rn(v);
}
template <> __device__ __forceinline__ __nv_bfloat16 to_elem<__nv_bfloat16>(float v)
{
    return __float2bfloat16_rn(v);
}

template <typename E>
__global__ void convert_kernel(const float *X, int64_t ldx, E *act, int64_t k, int64_t b0)
{
    const int64_t b = b0 + blockIdx.y;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < k;
         i += (int64_t)gridDim.x * blockDim.x)
        act[b * k + i] = to_elem<E>(X[b * ldx + i]);
}

constexpr int TM = 64, TN = 64, TK = 32, PAD = 8; // GEMM tile, halves of padding per smem row

// Grouped mode of the GEMM: route NULL for a plain one.
struct gemm_grp {
    const int32_t *route; // offsets (n_expert + 1), then the pair of each row
    int64_t n_expert;
    size_t expert_bytes;
};

template <int T, typename E>
__global__ void __launch_bounds__(128)
    gemm_kernel(const uint8_t *W, size_t row_bytes, const E *act, float *Y, int64_t ldy, int64_t k,
                int64_t batch, int64_t r0, int64_t r1, gemm_grp g)
{
    using namespace nvcuda;
    __shared__ __align__(32) E As[TM][TK + PAD]; // weights, row-major (m, k)
    __shared__ __align__(32) E Bs[TN][TK + PAD]; // activations, (n, k) = B column-major
    __shared__ __align__(32) float Cs[4][32][32 + 4];
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int wm = warp / 2, wn = warp % 2;
    const int64_t m0 = r0 + (int64_t)blockIdx.x * TM;
    // activation rows [nbeg, nend) of act; output row of activation row b: pair[b] or b
    int64_t nbeg = 0, nend = batch;
    const int32_t *pair = nullptr;
    if (g.route) {
        nbeg = g.route[blockIdx.z];
        nend = g.route[blockIdx.z + 1];
        W += (size_t)blockIdx.z * g.expert_bytes;
        pair = g.route + g.n_expert + 1;
    }
    // the same bounds for every thread: the loop and its barriers are uniform
    for (int64_t n0 = nbeg + (int64_t)blockIdx.y * TN; n0 < nend; n0 += (int64_t)gridDim.y * TN) {
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> c[2][2];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++)
                wmma::fill_fragment(c[i][j], 0.0f);
        for (int64_t k0 = 0; k0 < k; k0 += TK) {
            // decode 64 x 32 weights: 256 groups of 8, two per thread
            for (int g = tid; g < TM * TK / 8; g += 128) {
                const int rr = g / (TK / 8), cc = (g % (TK / 8)) * 8;
                float w[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                if (m0 + rr < r1)
                    dec8<T>(W + (size_t)(m0 + rr) * row_bytes, k0 + cc, w);
#pragma unroll
                for (int i = 0; i < 8; i++)
                    As[rr][cc + i] = to_elem<E>(w[i]);
            }
            for (int g = tid; g < TN * TK / 8; g += 128) {
                const int nn = g / (TK / 8), cc = (g % (TK / 8)) * 8;
#pragma unroll
                for (int i = 0; i < 8; i++)
                    Bs[nn][cc + i] =
                        n0 + nn < nend ? act[(n0 + nn) * k + k0 + cc + i] : to_elem<E>(0.0f);
            }
            __syncthreads();
#pragma unroll
            for (int kk = 0; kk < TK; kk += 16) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, E, wmma::row_major> fa[2];
                wmma::fragment<wmma::matrix_b, 16, 16, 16, E, wmma::col_major> fb[2];
                for (int i = 0; i < 2; i++)
                    wmma::load_matrix_sync(fa[i], &As[wm * 32 + i * 16][kk], TK + PAD);
                for (int j = 0; j < 2; j++)
                    wmma::load_matrix_sync(fb[j], &Bs[wn * 32 + j * 16][kk], TK + PAD);
                for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 2; j++)
                        wmma::mma_sync(c[i][j], fa[i], fb[j], c[i][j]);
            }
            __syncthreads();
        }
        // stage each warp's 32 x 32 (m, n) through shared memory, then guarded stores
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++)
                wmma::store_matrix_sync(&Cs[warp][i * 16][j * 16], c[i][j], 32 + 4,
                                        wmma::mem_row_major);
        __syncwarp();
        for (int idx = lane; idx < 32 * 32; idx += 32) {
            const int mm = idx % 32, nn = idx / 32; // consecutive lanes: consecutive rows of Y
            const int64_t r = m0 + wm * 32 + mm, b = n0 + wn * 32 + nn;
            if (r < r1 && b < nend)
                Y[(pair ? (int64_t)pair[b] : b) * ldy + r] = Cs[warp][mm][nn];
        }
    }
}

// The route of np = n_tok * n_used pairs over n_expert experts, one block: thread e counts and
// then lists expert e's pairs in token order (experts are few, pairs a few thousand).
__global__ void route_kernel(const int32_t *ids, int64_t np, int64_t n_expert, int32_t *route)
{
    int32_t *off = route, *pair = route + n_expert + 1;
    for (int64_t e = threadIdx.x; e < n_expert; e += blockDim.x) {
        int32_t c = 0;
        for (int64_t i = 0; i < np; i++)
            c += ids[i] == e;
        off[e + 1] = c;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        off[0] = 0;
        for (int64_t e = 0; e < n_expert; e++)
            off[e + 1] += off[e];
    }
    __syncthreads();
    for (int64_t e = threadIdx.x; e < n_expert; e += blockDim.x) {
        int32_t r = off[e];
        for (int64_t i = 0; i < np; i++)
            if (ids[i] == e)
                pair[r++] = (int32_t)i;
    }
}

// Row blockIdx.y of the route (when it belongs to experts [e0, e1)): its pair's input row of X
// converted into act row r.
template <typename E>
__global__ void gather_kernel(const float *X, int64_t ldx, E *act, int64_t k, const int32_t *route,
                              int64_t n_expert, int64_t n_used, int64_t x_per_tok, int64_t e0,
                              int64_t e1)
{
    const int64_t r = blockIdx.y;
    if (r < route[e0] || r >= route[e1])
        return;
    const int64_t pi = route[n_expert + 1 + r], xi = x_per_tok > 1 ? pi : pi / n_used;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < k;
         i += (int64_t)gridDim.x * blockDim.x)
        act[r * k + i] = to_elem<E>(X[xi * ldx + i]);
}

template <int T> void launch_gemv(const gemv_args &a, unsigned pairs, cudaStream_t s)
{
    const dim3 grid((unsigned)((a.r1 - a.r0 + GEMV_ROWS - 1) / GEMV_ROWS), pairs);
    gemv_kernel<T><<<grid, dim3(32, GEMV_ROWS), 0, s>>>(a);
}

// Plain: one block row per TN activation rows. Grouped (g.route): blockIdx.z the expert, block
// rows for `batch` rows per expert (n_tok: a token picks an expert once; more rows loop).
template <int T, typename E>
void launch_gemm(const void *W, size_t rb, const void *act, float *Y, int64_t ldy, int64_t k,
                 int64_t batch, int64_t r0, int64_t r1, const gemm_grp &g, cudaStream_t s)
{
    const dim3 grid((unsigned)((r1 - r0 + TM - 1) / TM), (unsigned)((batch + TN - 1) / TN),
                    g.route ? (unsigned)g.n_expert : 1u);
    gemm_kernel<T, E>
        <<<grid, 128, 0, s>>>((const uint8_t *)W, rb, (const E *)act, Y, ldy, k, batch, r0, r1, g);
}

// f(std::integral_constant<int, T>) for the weight type t: the one switch from a runtime type to
// the kernels' template argument (owb_cu_type_supported lists the same types).
template <typename F> void with_type(enum owb_type t, F &&f)
{
    switch (t) {
    case OWB_TYPE_F32:
        f(std::integral_constant<int, OWB_TYPE_F32>{});
        break;
    case OWB_TYPE_F16:
        f(std::integral_constant<int, OWB_TYPE_F16>{});
        break;
    case OWB_TYPE_BF16:
        f(std::integral_constant<int, OWB_TYPE_BF16>{});
        break;
    case OWB_TYPE_Q8_0:
        f(std::integral_constant<int, OWB_TYPE_Q8_0>{});
        break;
    case OWB_TYPE_Q4_0:
        f(std::integral_constant<int, OWB_TYPE_Q4_0>{});
        break;
    case OWB_TYPE_Q4_K:
        f(std::integral_constant<int, OWB_TYPE_Q4_K>{});
        break;
    case OWB_TYPE_Q6_K:
        f(std::integral_constant<int, OWB_TYPE_Q6_K>{});
        break;
    default:
        f(std::integral_constant<int, OWB_TYPE_MXFP4>{});
        break;
    }
}

// The GEMM's activation element for weight type T (owb_cu_gemm_act_type at run time).
template <int T>
using gemm_act_t =
    std::conditional_t<T == OWB_TYPE_F32 || T == OWB_TYPE_BF16, __nv_bfloat16, __half>;

void gemv_dispatch(enum owb_type t, const gemv_args &a, unsigned pairs, cudaStream_t s)
{
    with_type(t, [&](auto T) { launch_gemv<decltype(T)::value>(a, pairs, s); });
}

void gemm_dispatch(enum owb_type t, const void *W, size_t rb, const void *act, float *Y,
                   int64_t ldy, int64_t k, int64_t batch, int64_t r0, int64_t r1, const gemm_grp &g,
                   cudaStream_t s)
{
    with_type(t, [&](auto T) {
        constexpr int TT = decltype(T)::value;
        launch_gemm<TT, gemm_act_t<TT>>(W, rb, act, Y, ldy, k, batch, r0, r1, g, s);
    });
}

} // namespace

extern "C" int owb_cu_type_supported(enum owb_type t)
{
    switch (t) {
    case OWB_TYPE_F32:
    case OWB_TYPE_F16:
    case OWB_TYPE_BF16:
    case OWB_TYPE_Q8_0:
    case OWB_TYPE_Q4_0:
    case OWB_TYPE_Q4_K:
    case OWB_TYPE_Q6_K:
    case OWB_TYPE_MXFP4:
        return 1;
    default:
        return 0;
    }
}

extern "C" enum owb_type owb_cu_gemm_act_type(enum owb_type t)
{
    return t == OWB_TYPE_F32 || t == OWB_TYPE_BF16 ? OWB_TYPE_BF16 : OWB_TYPE_F16;
}

extern "C" void owb_cu_gemv(enum owb_type t, const void *W, size_t row_bytes, const float *X,
                            int64_t ldx, float *Y, int64_t ldy, int64_t k, int64_t nb, int64_t r0,
                            int64_t r1, void *stream)
{
    if (r1 <= r0 || nb <= 0)
        return;
    gemv_args a = {
        (const uint8_t *)W, row_bytes, 0, X, ldx, Y, ldy, r1, k, nb, r0, r1, nullptr, 0, 1, 0};
    gemv_dispatch(t, a, 1, (cudaStream_t)stream);
}

extern "C" void owb_cu_gemv_id(enum owb_type t, const void *W, size_t row_bytes,
                               size_t expert_bytes, const int32_t *ids, int64_t n_used,
                               int64_t x_per_tok, const float *X, int64_t ldx, float *Y,
                               int64_t ldy, int64_t m, int64_t k, int64_t t0, int64_t t1,
                               void *stream)
{
    if (t1 <= t0)
        return;
    gemv_args a = {
        (const uint8_t *)W, row_bytes, expert_bytes, X, ldx, Y, ldy, m, k, 1, 0, m, ids, n_used,
        x_per_tok,          t0};
    gemv_dispatch(t, a, (unsigned)((t1 - t0) * n_used), (cudaStream_t)stream);
}

extern "C" void owb_cu_convert_rows(enum owb_type act_t, const float *X, int64_t ldx, void *act,
                                    int64_t k, int64_t b0, int64_t b1, void *stream)
{
    if (b1 <= b0)
        return;
    const dim3 grid((unsigned)((k + 255) / 256 < 64 ? (k + 255) / 256 : 64), (unsigned)(b1 - b0));
    if (act_t == OWB_TYPE_BF16)
        convert_kernel<<<grid, 256, 0, (cudaStream_t)stream>>>(X, ldx, (__nv_bfloat16 *)act, k, b0);
    else
        convert_kernel<<<grid, 256, 0, (cudaStream_t)stream>>>(X, ldx, (__half *)act, k, b0);
}

extern "C" void owb_cu_gemm(enum owb_type t, const void *W, size_t rb, const void *act, float *Y,
                            int64_t ldy, int64_t k, int64_t batch, int64_t r0, int64_t r1,
                            void *stream)
{
    if (r1 <= r0)
        return;
    gemm_dispatch(t, W, rb, act, Y, ldy, k, batch, r0, r1, gemm_grp{nullptr, 0, 0},
                  (cudaStream_t)stream);
}

extern "C" void owb_cu_moe_route(const int32_t *ids, int64_t n_pairs, int64_t n_expert,
                                 int32_t *route, void *stream)
{
    route_kernel<<<1, 256, 0, (cudaStream_t)stream>>>(ids, n_pairs, n_expert, route);
}

extern "C" void owb_cu_gather_rows(enum owb_type act_t, const float *X, int64_t ldx, void *act,
                                   int64_t k, const int32_t *route, int64_t n_expert,
                                   int64_t n_used, int64_t x_per_tok, int64_t n_pairs, int64_t e0,
                                   int64_t e1, void *stream)
{
    if (e1 <= e0 || n_pairs <= 0)
        return;
    const dim3 grid((unsigned)((k + 255) / 256 < 64 ? (k + 255) / 256 : 64), (unsigned)n_pairs);
    cudaStream_t s = (cudaStream_t)stream;
    if (act_t == OWB_TYPE_BF16)
        gather_kernel<<<grid, 256, 0, s>>>(X, ldx, (__nv_bfloat16 *)act, k, route, n_expert, n_used,
                                           x_per_tok, e0, e1);
    else
        gather_kernel<<<grid, 256, 0, s>>>(X, ldx, (__half *)act, k, route, n_expert, n_used,
                                           x_per_tok, e0, e1);
}

extern "C" void owb_cu_gemm_grp(enum owb_type t, const void *W, size_t rb, size_t expert_bytes,
                                const void *act, float *Y, int64_t ldy, int64_t k,
                                const int32_t *route, int64_t n_expert, int64_t n_tok, int64_t r0,
                                int64_t r1, void *stream)
{
    if (r1 <= r0 || n_tok <= 0)
        return;
    gemm_dispatch(t, W, rb, act, Y, ldy, k, n_tok, r0, r1, gemm_grp{route, n_expert, expert_bytes},
                  (cudaStream_t)stream);
}
