/* SPDX-License-Identifier: MIT */
/*
 * ops.c: the scalar reference row ops (the `_ref` variants that define correctness), the rotary
 * angle table, owb_get_row, and the per-ISA function table that the public ops dispatch through
 * (looked up on every call, so owb_isa_set() takes effect at once).
 */
#include <math.h>
#include <string.h>

#include "kernels/isa.h"
#include "kernels/ops.h"
#include "kernels/ops_impl.h"
#include "owb_common.h"

/* ---- reference variants ---- */

void owb_rmsnorm_ref(float *y, const float *x, const float *w, int64_t n, float eps)
{
    if (n <= 0)
        return;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)x[i] * (double)x[i];
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int64_t i = 0; i < n; i++)
        y[i] = w ? x[i] * scale * w[i] : x[i] * scale;
}

void owb_rope_cache_init(struct owb_rope_cache *c, int64_t n_rot, int64_t pos, float freq_base,
                         float freq_scale)
{
    OWB_ASSERT(n_rot >= 0 && n_rot % 2 == 0 && n_rot <= OWB_ROPE_MAX_ROT);
    c->n_rot = n_rot;
    /* theta_i = pos * scale * base^(-2i/n_rot), all in double: float angles lose about
     * pos * 2^-24 radians, which is visible at long contexts */
    const double p = (double)pos * (double)freq_scale;
    for (int64_t i = 0; i < n_rot / 2; i++) {
        const double theta = p * pow((double)freq_base, -2.0 * (double)i / (double)n_rot);
        c->cos[i] = (float)cos(theta);
        c->sin[i] = (float)sin(theta);
    }
}

void owb_rope_apply_ref(float *x, int64_t n_heads, int64_t head_dim, const struct owb_rope_cache *c,
                        int neox)
{
    const int64_t half = c->n_rot / 2;
    OWB_ASSERT(c->n_rot <= head_dim);
    for (int64_t h = 0; h < n_heads; h++) {
        float *v = x + h * head_dim; /* (head_dim) */
        for (int64_t i = 0; i < half; i++) {
            const int64_t i0 = neox ? i : 2 * i;
            const int64_t i1 = neox ? i + half : 2 * i + 1;
            const float x0 = v[i0], x1 = v[i1];
            v[i0] = x0 * c->cos[i] - x1 * c->sin[i];
            v[i1] = x0 * c->sin[i] + x1 * c->cos[i];
        }
    }
}

void owb_rope_ref(float *x, int64_t n_heads, int64_t head_dim, int64_t pos, float freq_base,
                  float freq_scale, int neox, int64_t n_rot)
{
    struct owb_rope_cache c;
    owb_rope_cache_init(&c, n_rot, pos, freq_base, freq_scale);
    owb_rope_apply_ref(x, n_heads, head_dim, &c, neox);
}

void owb_softmax_ref(float *x, int64_t n)
{
    if (n <= 0)
        return;
    float max = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        max = x[i] > max ? x[i] : max;
    if (max == -INFINITY) {
        memset(x, 0, (size_t)n * sizeof(float));
        return;
    }
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += (double)x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++)
        x[i] *= inv;
}

void owb_silu_mul_ref(float *y, const float *gate, const float *up, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i];
        y[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void owb_add_ref(float *y, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

/* ---- dispatch ---- */

struct ops_table {
    void (*rmsnorm)(float *, const float *, const float *, int64_t, float);
    void (*rope_apply)(float *, int64_t, int64_t, const struct owb_rope_cache *, int);
    void (*softmax)(float *, int64_t);
    void (*silu_mul)(float *, const float *, const float *, int64_t);
    void (*add)(float *, const float *, const float *, int64_t);
};

#define OPS_TABLE(isa)                                                                             \
    {                                                                                              \
        owb_rmsnorm_##isa, owb_rope_apply_##isa, owb_softmax_##isa, owb_silu_mul_##isa,            \
            owb_add_##isa                                                                          \
    }

static const struct ops_table ops_tables[OWB_ISA_COUNT] = {
    [OWB_ISA_REF] = OPS_TABLE(ref),
#if OWB_OPS_HAVE_X86
    [OWB_ISA_AVX2] = OPS_TABLE(avx2),
    [OWB_ISA_AVX512] = OPS_TABLE(avx512),
#else
    [OWB_ISA_AVX2] = OPS_TABLE(ref),
    [OWB_ISA_AVX512] = OPS_TABLE(ref),
#endif
};

static const struct ops_table *ops(void)
{
    const enum owb_isa isa = owb_isa_active();
    return &ops_tables[(int)isa >= 0 && isa < OWB_ISA_COUNT ? isa : OWB_ISA_REF];
}

void owb_rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps)
{
    ops()->rmsnorm(y, x, w, n, eps);
}

void owb_rope_apply(float *x, int64_t n_heads, int64_t head_dim, const struct owb_rope_cache *c,
                    int neox)
{
    ops()->rope_apply(x, n_heads, head_dim, c, neox);
}

void owb_rope(float *x, int64_t n_heads, int64_t head_dim, int64_t pos, float freq_base,
              float freq_scale, int neox, int64_t n_rot)
{
    struct owb_rope_cache c;
    owb_rope_cache_init(&c, n_rot, pos, freq_base, freq_scale);
    ops()->rope_apply(x, n_heads, head_dim, &c, neox);
}

void owb_softmax(float *x, int64_t n)
{
    ops()->softmax(x, n);
}

void owb_silu_mul(float *y, const float *gate, const float *up, int64_t n)
{
    ops()->silu_mul(y, gate, up, n);
}

void owb_add(float *y, const float *a, const float *b, int64_t n)
{
    ops()->add(y, a, b, n);
}

int owb_get_row(enum owb_type t, const void *data, int64_t row, int64_t n_cols, float *out)
{
    const struct owb_type_traits *tr = owb_type_traits(t);
    if (!tr || !tr->to_float)
        return OWB_E_UNSUPPORTED;
    const size_t rsz = owb_row_size(t, n_cols);
    if (n_cols <= 0 || rsz == 0 || row < 0)
        return OWB_E_USAGE;
    tr->to_float((const uint8_t *)data + (size_t)row * rsz, out, n_cols);
    return OWB_OK;
}

/* ---- scalar ops without ISA variants (gpt-oss: sinks, SwiGLU-OAI, YaRN) ---- */

void owb_softmax_sink(float *x, int64_t n, float sink)
{
    float mx = sink;
    for (int64_t i = 0; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float e = x[i] == -INFINITY ? 0.0f : expf(x[i] - mx);
        x[i] = e;
        sum += (double)e;
    }
    sum += (double)expf(sink - mx);
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++)
        x[i] *= inv;
}

void owb_yarn_init(struct owb_yarn *y, int64_t n_rot, float freq_base, float factor,
                   int64_t n_ctx_orig, float beta_fast, float beta_slow, float rope_attn_factor)
{
    memset(y, 0, sizeof *y);
    y->n_rot = n_rot;
    y->freq_base = freq_base;
    y->freq_scale = factor > 1.0f ? 1.0f / factor : 1.0f;
    y->ext_factor = factor > 1.0f ? 1.0f : 0.0f;
    y->attn_factor = 1.0f;
    if (y->ext_factor != 0.0f) {
        /* llama_context: get_mscale(factor, 1), then cancelled by 1 / (1 + 0.1 ln factor) because
         * the rotation multiplies it back (in float, as llama.cpp: not exactly 1) */
        const float f = 1.0f / y->freq_scale;
        const float ms = f <= 1.0f ? 1.0f : 0.1f * 1.0f * logf(f) + 1.0f;
        y->attn_factor = ms * (1.0f / (1.0f + 0.1f * logf(f)));
    }
    y->attn_factor *= rope_attn_factor;
    /* ggml_rope_yarn_corr_dims */
    const float nd = (float)n_rot, nc = (float)n_ctx_orig, pi = 3.14159265358979323846f;
    const float lo = nd * logf(nc / (beta_fast * 2.0f * pi)) / (2.0f * logf(freq_base));
    const float hi = nd * logf(nc / (beta_slow * 2.0f * pi)) / (2.0f * logf(freq_base));
    const float start = floorf(lo), end = ceilf(hi);
    y->corr[0] = start > 0.0f ? start : 0.0f;
    y->corr[1] = end < nd - 1.0f ? end : nd - 1.0f;
}

void owb_yarn_cache(struct owb_rope_cache *c, const struct owb_yarn *y, int64_t pos)
{
    c->n_rot = y->n_rot;
    float mscale = y->attn_factor;
    if (y->ext_factor != 0.0f)
        mscale *= 1.0f + 0.1f * logf(1.0f / y->freq_scale);
    /* angles in double (ggml accumulates them in float; at long contexts double is closer to
     * the formula both implement) */
    const double c0 = (double)y->corr[0], span = fmax(0.001, (double)y->corr[1] - c0);
    for (int64_t i = 0; i < y->n_rot / 2; i++) {
        const double extrap =
            (double)pos * pow((double)y->freq_base, -2.0 * (double)i / (double)y->n_rot);
        const double interp = (double)y->freq_scale * extrap;
        double theta = interp;
        if (y->ext_factor != 0.0f) {
            const double r = fmin(1.0, fmax(0.0, ((double)i - c0) / span));
            const double mix = (1.0 - r) * (double)y->ext_factor;
            theta = interp * (1.0 - mix) + extrap * mix;
        }
        c->cos[i] = (float)cos(theta) * mscale;
        c->sin[i] = (float)sin(theta) * mscale;
    }
}

void owb_swiglu_oai(float *y, const float *gate, const float *up, int64_t n, float alpha,
                    float limit)
{
    for (int64_t i = 0; i < n; i++) {
        const float g = gate[i] < limit ? gate[i] : limit;
        const float u = up[i] < -limit ? -limit : up[i] > limit ? limit : up[i];
        y[i] = g / (1.0f + expf(-alpha * g)) * (u + 1.0f);
    }
}

void owb_topk_softmax(const float *logits, int64_t n, int64_t k, int32_t *ids, float *w)
{
    OWB_ASSERT(k >= 1 && k <= n && k <= OWB_TOPK_MAX);
    /* selection by insertion into a sorted list of k: strictly greater moves ahead, so among
     * equal logits the lower index (seen first) stays first */
    int64_t m = 0;
    for (int64_t e = 0; e < n; e++) {
        const float v = logits[e];
        if (m == k && !(v > logits[ids[k - 1]]))
            continue;
        int64_t j = m < k ? m++ : k - 1;
        while (j > 0 && v > logits[ids[j - 1]]) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = (int32_t)e;
    }
    float mx = logits[ids[0]];
    double sum = 0;
    for (int64_t j = 0; j < k; j++) {
        w[j] = expf(logits[ids[j]] - mx);
        sum += (double)w[j];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t j = 0; j < k; j++)
        w[j] *= inv;
}
