/* SPDX-License-Identifier: MIT */
/*
 * arch.c: the architecture table (model/arch.h) and the generic load/forward/free that dispatch
 * through it. Adding an architecture is one row here and one file with its load/forward/release.
 */
#include "model/arch.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backend.h"
#include "model/gptoss.h"
#include "model/llama.h"

/* Fill a caller's error buffer (vsnprintf: over-long messages are cut). */
static const struct owb_arch arch_table[] = {
    {"llama", 0, owb_llama_load, owb_llama_forward, owb_llama_release, owb_llama_account},
    {"mistral", 0, owb_llama_load, owb_llama_forward, owb_llama_release, owb_llama_account},
    {"qwen2", 1, owb_llama_load, owb_llama_forward, owb_llama_release, owb_llama_account},
    {"gpt-oss", 1, owb_gptoss_load, owb_gptoss_forward, owb_gptoss_release, owb_gptoss_account},
};

const struct owb_arch *owb_arch_find(const char *name)
{
    for (size_t i = 0; i < OWB_ARRAY_LEN(arch_table); i++)
        if (strcmp(arch_table[i].name, name) == 0)
            return &arch_table[i];
    return NULL;
}

const char *owb_arch_names(void)
{
    return "llama, mistral, qwen2, gpt-oss";
}

struct owb_model *owb_model_load(const struct owb_gguf *g, const struct owb_model_opts *opts,
                                 char err[OWB_ERR_MAX])
{
    struct owb_gguf_str s;
    char name[32];
    char kerr[OWB_ERR_MAX];
    static const struct owb_model_opts defaults = {0};

    if (owb_gguf_get_str(g, "general.architecture", &s, kerr)) {
        owb_seterr(err, "%.500s", kerr);
        return NULL;
    }
    if (s.len >= sizeof name) {
        owb_seterr(err, "%.300s: architecture name of %llu bytes is not supported", g->path,
                   (unsigned long long)s.len);
        return NULL;
    }
    memcpy(name, s.ptr, (size_t)s.len);
    name[s.len] = '\0';
    const struct owb_arch *a = owb_arch_find(name);
    if (!a) {
        owb_seterr(err, "%.300s: architecture \"%s\" is not supported (%s)", g->path, name,
                   owb_arch_names());
        return NULL;
    }
    struct owb_model *m = calloc(1, sizeof *m);
    if (!m) {
        owb_seterr(err, "%.300s: out of memory", g->path);
        return NULL;
    }
    m->arch = a;
    snprintf(m->hp.arch, sizeof m->hp.arch, "%s", name);
    m->hp.rope_neox = a->rope_neox;
    m->exec.backend = opts && opts->backend ? opts->backend->name : "cpu";
    if (a->load(m, g, opts ? opts : &defaults, err)) {
        free(m);
        return NULL;
    }
    a->account(m, &m->cost);
    m->decode_read_bytes = m->cost.decode_read_bytes;
    m->kv_bytes_per_token = m->cost.kv_bytes_per_token;
    return m;
}

/* Keys the query at position p sees in a layer with window w (0: all earlier positions). */
static double keys_seen(int64_t p, int64_t w)
{
    return (double)(w > 0 && w < p + 1 ? w : p + 1);
}

double owb_model_flops(const struct owb_model *m, int64_t pos, int64_t n, int64_t n_logits)
{
    const struct owb_model_cost *c = &m->cost;
    double keys = 0;
    for (int64_t p = pos; p < pos + n; p++)
        keys += (double)c->n_layer_full * keys_seen(p, 0) +
                (double)c->n_layer_window * keys_seen(p, c->window);
    return (double)n * c->matmul_flop_per_token + (double)n_logits * c->output_flop_per_row +
           keys * c->attn_flop_per_key;
}

double owb_model_kv_bytes_at(const struct owb_model *m, int64_t pos)
{
    const struct owb_model_cost *c = &m->cost;
    const double kl = (double)c->kv_bytes_per_token_layer;
    return kl * ((double)c->n_layer_full * keys_seen(pos, 0) +
                 (double)c->n_layer_window * keys_seen(pos, c->window)) +
           (double)c->kv_bytes_per_token;
}

int owb_model_forward(struct owb_model *m, const int32_t *tokens, int64_t n, int64_t pos,
                      float *logits, bool logits_all, char err[OWB_ERR_MAX])
{
    /* what every architecture checks: the tokens fit the context and the vocabulary */
    if (n <= 0 || pos < 0 || pos > m->n_ctx - n) {
        owb_seterr(err,
                   "forward: %" PRId64 " tokens at position %" PRId64
                   " do not fit the context of %" PRId64,
                   n, pos, m->n_ctx);
        return OWB_E_USAGE;
    }
    for (int64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->hp.n_vocab) {
            owb_seterr(err,
                       "forward: token id %" PRId32 " is outside the vocabulary (0..%" PRId64 ")",
                       tokens[i], m->hp.n_vocab - 1);
            return OWB_E_USAGE;
        }
    const uint64_t t0 = m->profile ? owb_now_ns() : 0;
    int rc = m->arch->forward(m, tokens, n, pos, logits, logits_all, err);
    if (!rc && m->profile) {
        m->profile->total_ns += owb_now_ns() - t0;
        m->profile->calls++;
        m->profile->tokens += (uint64_t)n;
    }
    return rc;
}

void owb_model_free(struct owb_model *m)
{
    if (!m)
        return;
    m->arch->release(m);
    free(m);
}
