/* SPDX-License-Identifier: MIT */
/*
 * test_shape.c: per-token accounting without weights (model/shape.h). For synthetic files of
 * several presets and types (dense, with QKV biases, tied and untied output, MoE with windowed
 * layers): the shape from the preset equals the shape read back from the written GGUF; its
 * weight bytes equal the file's data section (file size - data offset) and owb_synth_data_bytes;
 * for the architectures the engine loads, the weight bytes one decoded token reads and the KV bytes
 * per position equal what the loaded model accounts and allocates (f32 cache). The closed-form
 * FLOPs and KV counts with sliding windows against brute-force sums over positions, and the
 * expected distinct experts of a batch against its limits.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "model/arch.h"
#include "model/gguf.h"
#include "model/shape.h"
#include "model/synth.h"
#include "owb_test.h"

#define FLOP_REL_TOL 1e-12

static char tmpdir[4096];

static bool same_shape(const struct owb_shape *a, const struct owb_shape *b)
{
    bool same = a->weight_bytes == b->weight_bytes && a->n_params == b->n_params &&
                a->n_layer == b->n_layer && a->n_vocab == b->n_vocab &&
                a->kv_elems_per_token_layer == b->kv_elems_per_token_layer &&
                a->n_layer_window == b->n_layer_window && a->window == b->window &&
                a->main_type == b->main_type && a->output_type == b->output_type &&
                a->output_flop_per_row == b->output_flop_per_row &&
                a->attn_flop_per_key == b->attn_flop_per_key;
    for (int t = 0; t < OWB_TYPE_COUNT; t++)
        same = same && a->read_dense[t] == b->read_dense[t] &&
               a->read_expert[t] == b->read_expert[t] && a->flop_tok[t] == b->flop_tok[t];
    return same;
}

/* Brute force: keys seen summed over positions pos..pos+n-1. */
static double keys_sum(const struct owb_shape *s, int64_t pos, int64_t n)
{
    double k = 0;
    for (int64_t p = pos; p < pos + n; p++)
        k += owb_shape_keys_at(s, p);
    return k;
}

static void check_preset(const char *name, const char *type, const char *expert_type, int layers)
{
    const struct owb_synth_preset *p = owb_synth_find(name);
    struct owb_synth_opts o;
    struct owb_shape sp, sg;
    char err[OWB_ERR_MAX] = "", path[4300];
    CHECK(p != NULL);
    if (!p)
        return;
    owb_synth_opts_init(&o, p);
    if (type) {
        CHECK(owb_type_from_name(type, &o.type) == 0);
        o.expert_type = OWB_TYPE_COUNT;
    }
    if (expert_type)
        CHECK(owb_type_from_name(expert_type, &o.expert_type) == 0);
    o.n_layer = layers;
    CHECK_MSG(owb_shape_from_preset(p, &o, &sp, err) == 0, "%s", err);
    snprintf(path, sizeof path, "%s/%s.gguf", tmpdir, name);
    int rc = owb_synth_write_opts(p, &o, path, NULL, NULL, err);
    CHECK_MSG(rc == 0, "%s: %s", name, err);
    if (rc)
        return;
    struct stat st;
    CHECK(stat(path, &st) == 0);
    struct owb_gguf *g = owb_gguf_open(path, err);
    CHECK_MSG(g != NULL, "%s", err);
    if (!g)
        return;
    CHECK_MSG(owb_shape_from_gguf(g, &sg, err) == 0, "%s", err);
    CHECK_MSG(same_shape(&sp, &sg), "%s: preset and file shapes differ", name);
    /* memory: weights as stored = the data section synth wrote */
    CHECK_MSG(sp.weight_bytes == (uint64_t)st.st_size - g->data_offset,
              "%s: weights %llu vs data section %llu", name, (unsigned long long)sp.weight_bytes,
              (unsigned long long)((uint64_t)st.st_size - g->data_offset));
    CHECK(sp.weight_bytes == owb_synth_data_bytes_opts(p, &o));
    CHECK(sp.n_layer == (layers ? layers : p->n_layer));
    fprintf(stderr, "%-14s %-5s weights %llu B, decode reads %llu B, kv %lld elems/pos/layer\n",
            name, type ? type : "dflt", (unsigned long long)sp.weight_bytes,
            (unsigned long long)owb_shape_decode_read_bytes(&sp),
            (long long)sp.kv_elems_per_token_layer);

    /* the engine's accounting and KV allocation, where it loads this architecture */
    if (owb_arch_find(sp.arch)) {
        struct owb_model_opts mo = {.n_ctx = 64};
        struct owb_model *m = owb_model_load(g, &mo, err);
        CHECK_MSG(m != NULL, "%s: %s", name, err);
        if (m) {
            CHECK_MSG(m->decode_read_bytes == owb_shape_decode_read_bytes(&sp),
                      "%s: engine reads %llu B per token, shape says %llu", name,
                      (unsigned long long)m->decode_read_bytes,
                      (unsigned long long)owb_shape_decode_read_bytes(&sp));
            /* the engine's cache is f32: K and V of every layer */
            CHECK(m->kv_bytes_per_token ==
                  (uint64_t)(sp.kv_elems_per_token_layer * sp.n_layer) * sizeof(float));
            if (sp.n_layer_window == 0)
                CHECK(owb_shape_kv_elems(&sp, m->n_ctx) * sizeof(float) ==
                      (double)m->kv_bytes_per_token * (double)m->n_ctx);
            owb_model_free(m);
        }
    } else {
        fprintf(stderr, "  (engine has no %s architecture yet: engine figures not compared)\n",
                sp.arch);
    }
    owb_gguf_close(g);
    remove(path);

    /* closed forms against sums, windows included */
    const int64_t cases[][2] = {{0, 1}, {0, 7}, {3, 20}, {100, 33}, {5, 300}};
    for (size_t i = 0; i < OWB_ARRAY_LEN(cases); i++) {
        const int64_t pos = cases[i][0], n = cases[i][1];
        double want = (double)n * owb_shape_flop_per_token(&sp) + sp.output_flop_per_row +
                      keys_sum(&sp, pos, n) * sp.attn_flop_per_key;
        double got = owb_shape_flops(&sp, pos, n, 1);
        CHECK_MSG(fabs(got - want) <= FLOP_REL_TOL * want, "%s pos %lld n %lld: %.17g vs %.17g",
                  name, (long long)pos, (long long)n, got, want);
    }
}

static void check_windows(void)
{
    /* gpt-oss-tiny: 4 layers, window 8 -> layers 0 and 2 windowed */
    const struct owb_synth_preset *p = owb_synth_find("gpt-oss-tiny");
    struct owb_synth_opts o;
    struct owb_shape s;
    char err[OWB_ERR_MAX];
    owb_synth_opts_init(&o, p);
    CHECK(owb_shape_from_preset(p, &o, &s, err) == 0);
    CHECK(s.n_layer_window == 2 && s.n_layer_full == 2 && s.window == 8);
    const double kvl = (double)s.kv_elems_per_token_layer;
    CHECK(kvl == 2 * 2 * 32); /* 2 KV heads of 32, K and V */
    CHECK(owb_shape_kv_elems(&s, 5) == kvl * 4 * 5);
    CHECK(owb_shape_kv_elems(&s, 100) == kvl * (2 * 100 + 2 * 8));
    /* a token at position 50 reads 51 keys in full layers, 8 in windowed ones, writes 4 */
    CHECK(owb_shape_kv_elems_at(&s, 50) == kvl * (2 * 51 + 2 * 8 + 4));
    /* odd layer counts: layer 0, 2, 4 windowed */
    o.n_layer = 3;
    CHECK(owb_shape_from_preset(p, &o, &s, err) == 0);
    CHECK(s.n_layer_window == 2 && s.n_layer_full == 1);
    /* distinct experts: 4 experts top-2 */
    CHECK_NEAR(owb_shape_distinct_experts(&s, 1), 2, 1e-12);
    CHECK_NEAR(owb_shape_distinct_experts(&s, 2), 4 * (1 - 0.25), 1e-12);
    CHECK(owb_shape_distinct_experts(&s, 1000) <= 4 && owb_shape_distinct_experts(&s, 1000) > 3.99);
    CHECK(owb_shape_decode_read_bytes(&s) == (uint64_t)owb_shape_step_read_bytes(&s, 2));
    /* a dense model has no experts */
    const struct owb_synth_preset *d = owb_synth_find("tiny");
    owb_synth_opts_init(&o, d);
    CHECK(owb_shape_from_preset(d, &o, &s, err) == 0);
    CHECK(owb_shape_distinct_experts(&s, 64) == 0);
    CHECK(owb_shape_step_read_bytes(&s, 64) == (double)owb_shape_decode_read_bytes(&s));
    /* bad options fail with a sentence */
    owb_synth_opts_init(&o, d);
    o.n_layer = 99;
    CHECK(owb_shape_from_preset(d, &o, &s, err) == OWB_E_USAGE && strstr(err, "layers"));
}

int main(void)
{
    const char *base = getenv("OWB_TMP") ? getenv("OWB_TMP") : "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/test_shape_XXXXXX", base);
    if (!mkdtemp(tmpdir))
        SKIP("cannot create a temporary folder under %s", base);
    check_preset("tiny", NULL, NULL, 0);           /* f16 default, separate output */
    check_preset("tiny", "q8_0", NULL, 0);         /* quantized */
    check_preset("qwen2.5-0.5b", "q4_0", NULL, 2); /* QKV biases, tied output (q8_0 embeddings) */
    check_preset("gpt-oss-tiny", NULL, NULL, 0);   /* MoE: bf16 + mxfp4 experts, windows */
    check_preset("gpt-oss-tiny", "q8_0", "mxfp4", 3);
    check_windows();
    owb_test_rmdir(tmpdir);
    TEST_DONE();
}
