/* SPDX-License-Identifier: MIT */
/*
 * ops_impl.h: private to kernels/ and its tests. Every ISA variant of the row ops in ops.h, with
 * the public signatures, so tests can run each one directly; the AVX2/AVX-512 variants exist on
 * x86 builds only (OWB_OPS_HAVE_X86) and must only be called when owb_isa_supported() says so.
 */
#ifndef OWB_KERNELS_OPS_IMPL_H
#define OWB_KERNELS_OPS_IMPL_H

#include <stdint.h>

#include "kernels/ops.h"

#if defined(__x86_64__) || defined(__i386__)
#define OWB_OPS_HAVE_X86 1
#else
#define OWB_OPS_HAVE_X86 0
#endif

#define OWB_OPS_DECLARE(isa)                                                                       \
    void owb_rmsnorm_##isa(float *y, const float *x, const float *w, int64_t n, float eps);        \
    void owb_rope_##isa(float *x, int64_t n_heads, int64_t head_dim, int64_t pos, float freq_base, \
                        float freq_scale, int neox, int64_t n_rot);                                \
    void owb_rope_apply_##isa(float *x, int64_t n_heads, int64_t head_dim,                         \
                              const struct owb_rope_cache *c, int neox);                           \
    void owb_softmax_##isa(float *x, int64_t n);                                                   \
    void owb_silu_mul_##isa(float *y, const float *gate, const float *up, int64_t n);              \
    void owb_add_##isa(float *y, const float *a, const float *b, int64_t n);

OWB_OPS_DECLARE(ref)
#if OWB_OPS_HAVE_X86
OWB_OPS_DECLARE(avx2)
OWB_OPS_DECLARE(avx512)
#endif

#endif
