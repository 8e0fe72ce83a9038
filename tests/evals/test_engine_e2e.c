/* SPDX-License-Identifier: MIT */
/*
 * test_engine_e2e.c: the evals on the real engine with stories260K (skipped, 77, when the shared
 * models are absent). Per-window NLL identical with 1 and 2 threads; a fingerprint of the f32 base
 * scored against the base itself gives KLD 0 and 100% top-1, against llama.cpp's q8_0 and q4_0
 * derivatives 0 < KLD(q8_0) < KLD(q4_0) and top-1(q8_0) > top-1(q4_0); a derivative with one
 * weight tensor replaced by noise has a far higher perplexity and the gate FAILs it while the base
 * against itself PASSes; the vocab-only llama-spm GGUF has another tokenizer hash and is refused.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/rng.h"
#include "datasets/text.h"
#include "evals/fingerprint.h"
#include "evals/gate.h"
#include "evals/kld.h"
#include "evals/ppl.h"
#include "evals/producer.h"
#include "model/gguf.h"
#include "owb_test.h"
#include "results/result.h"

#define CTX 128
#define WINDOWS 16
#define TEXT_BYTES 40000

static char tmp[512];

static struct owb_producer *engine(const char *path, int threads)
{
    char err[OWB_ERR_MAX] = "";
    struct owb_producer *p = NULL;
    struct owb_engine_opts o = {.n_ctx = CTX, .threads = threads};
    int rc = owb_producer_engine_new(path, &o, &p, err);
    CHECK_MSG(rc == 0, "%s", err);
    return p;
}

static int fp_add(void *ctx, int64_t idx, const int32_t *win, const struct owb_scores *s,
                  char err[OWB_ERR_MAX])
{
    (void)idx;
    (void)win;
    return owb_fp_writer_add(ctx, s, err);
}

/* stories260K with blk.2.ffn_up.weight replaced by N(0, 0.5) noise, written to path. */
static int write_damaged(const char *src, const char *path)
{
    char err[OWB_ERR_MAX] = "";
    struct owb_gguf *g = owb_gguf_open(src, err);
    struct owb_gguf_writer *w = owb_gguf_writer_new();
    float *noise = NULL;
    int rc = !g || !w;
    for (int64_t i = 0; !rc && i < g->n_kv; i++)
        rc = owb_gguf_writer_set_value(w, g->kv[i].key, &g->kv[i].value, err);
    for (int64_t i = 0; !rc && i < g->n_tensors; i++) {
        const struct owb_gguf_tensor *t = &g->tensors[i];
        const void *data = t->data;
        if (!strcmp(t->name, "blk.2.ffn_up.weight")) {
            OWB_ASSERT(t->type == OWB_TYPE_F32);
            struct owb_rng r;
            owb_rng_seed(&r, 12345);
            noise = malloc(t->size_bytes);
            for (int64_t j = 0; j < t->n_elements; j++)
                noise[j] = (float)(0.5 * owb_rng_normal(&r));
            data = noise;
        }
        rc = owb_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, data, t->size_bytes,
                                        err);
    }
    if (!rc)
        rc = owb_gguf_writer_write(w, path, err);
    CHECK_MSG(rc == 0, "damaged copy: %s", err);
    free(noise);
    owb_gguf_writer_free(w);
    owb_gguf_close(g);
    return rc;
}

static void write_ppl(struct owb_producer *p, const int32_t *ids, int64_t n, const char *dir,
                      const unsigned char tsha[32])
{
    char err[OWB_ERR_MAX] = "", f[700];
    struct owb_ppl_cfg cfg = {.n_ctx = CTX, .max_windows = WINDOWS, .boot_reps = 500, .seed = 1};
    struct owb_ppl_result r;
    CHECK_MSG(owb_ppl_run(p, ids, n, &cfg, &r, err) == 0, "%s", err);
    cJSON *doc = owb_result_new(0, NULL);
    owb_ppl_to_json(doc, "ppl/e2e", &r,
                    owb_window_identity_json("ppl", tsha, p->info.tokenizer_sha256, &r.plan), NULL);
    snprintf(f, sizeof f, "%s/%s/ppl.json", tmp, dir);
    CHECK_MSG(owb_result_write(doc, f, err) == 0, "%s", err);
    fprintf(stderr, "%s: PPL %.4f [%.4f, %.4f] over %lld windows\n", dir, r.ppl, r.ppl_lo, r.ppl_hi,
            (long long)r.plan.n_windows);
    cJSON_Delete(doc);
    owb_ppl_result_release(&r);
}

static enum owb_gate_verdict gate(const char *a, const char *b)
{
    char err[OWB_ERR_MAX] = "", pa[600], pb[600];
    struct owb_gate_side A, B;
    struct owb_gate g;
    struct owb_gate_cfg cfg;
    owb_gate_cfg_default(&cfg);
    snprintf(pa, sizeof pa, "%s/%s", tmp, a);
    snprintf(pb, sizeof pb, "%s/%s", tmp, b);
    CHECK(owb_gate_side_load(&A, pa, err) == 0 && owb_gate_side_load(&B, pb, err) == 0);
    CHECK_MSG(owb_gate_prepare(&g, &A, &B, &cfg, err) == 0, "%s", err);
    owb_gate_decide(&g, &cfg);
    enum owb_gate_verdict v = g.verdict;
    owb_gate_release(&g);
    owb_gate_side_release(&A);
    owb_gate_side_release(&B);
    return v;
}

int main(void)
{
    char err[OWB_ERR_MAX] = "", *text = NULL, path[700], fpath[700];
    char base_path[600], q8[600], q4[600], spm[600], txt[600];
    const char *m = owb_test_data("models/gguf/stories260K.gguf"); /* a static buffer */
    snprintf(base_path, sizeof base_path, "%s", m ? m : "");
    const char *tx = owb_test_data("data/tinystories/tinystories_validation_head.txt");
    snprintf(txt, sizeof txt, "%s", tx ? tx : "");
    if (!m || !tx)
        SKIP("needs models/gguf/stories260K.gguf and data/tinystories under $OWB_TEST_DATA");
    const char *root = getenv("OWB_TEST_DATA") ? getenv("OWB_TEST_DATA") : "../shared";
    snprintf(q8, sizeof q8, "%s/models/gguf/stories260K-q8_0.gguf", root);
    snprintf(q4, sizeof q4, "%s/models/gguf/stories260K-q4_0.gguf", root);
    snprintf(spm, sizeof spm, "%s/models/gguf/ggml-vocab-llama-spm.gguf", root);
    const char *t = getenv("OWB_TMP");
    snprintf(tmp, sizeof tmp, "%s/e2e_%d", t && *t ? t : "/tmp", (int)getpid());
    mkdir(tmp, 0777);
    static const char *const dirs[] = {"base", "base2", "damaged"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", tmp, dirs[i]);
        mkdir(path, 0777);
    }

    size_t len;
    CHECK(owb_text_read(txt, TEXT_BYTES, &text, &len, err) == 0);
    unsigned char tsha[32];
    memset(tsha, 0x5a, 32);
    struct owb_producer *p1 = engine(base_path, 1), *p2 = engine(base_path, 2);
    if (!p1 || !p2)
        TEST_DONE();
    int32_t *ids;
    int64_t n;
    CHECK(owb_producer_tokenize(p1, text, len, p1->info.add_bos, &ids, &n, err) == 0);
    CHECK(ids[0] == 1 && p1->info.n_vocab == 512);

    /* Thread count does not change a single bit. */
    struct owb_ppl_cfg cfg = {.n_ctx = CTX, .max_windows = 6, .boot_reps = 100, .seed = 1};
    struct owb_ppl_result r1, r2;
    CHECK(owb_ppl_run(p1, ids, n, &cfg, &r1, err) == 0);
    CHECK(owb_ppl_run(p2, ids, n, &cfg, &r2, err) == 0);
    CHECK(!memcmp(r1.nll, r2.nll, 6 * sizeof *r1.nll));
    CHECK(r1.ppl > 2 && r1.ppl < 10);
    owb_ppl_result_release(&r1);
    owb_ppl_result_release(&r2);
    owb_producer_free(p2);

    /* Fingerprint of the base; KLD of itself and of the derivatives. */
    struct owb_window_plan plan;
    struct owb_fp_header h;
    struct owb_fp_writer *w = NULL;
    memset(&h, 0, sizeof h);
    h.n_vocab = 512;
    h.top_k = 32;
    h.flags = OWB_FP_HAS_TOKENIZER_SHA;
    memcpy(h.tokenizer_sha256, p1->info.tokenizer_sha256, 32);
    memcpy(h.text_sha256, tsha, 32);
    snprintf(fpath, sizeof fpath, "%s/base.owbfp", tmp);
    CHECK(owb_window_plan_make(&plan, n, CTX, WINDOWS, true, 1, err) == 0);
    CHECK(owb_fp_writer_open(&w, fpath, &h, &plan, ids, err) == 0);
    struct owb_ppl_cfg fc = {.n_ctx = CTX,
                             .max_windows = WINDOWS,
                             .top_k = 32,
                             .boot_reps = 10,
                             .on_window = fp_add,
                             .on_window_ctx = w};
    CHECK(owb_ppl_run(p1, ids, n, &fc, &r1, err) == 0);
    owb_ppl_result_release(&r1);
    CHECK(owb_fp_writer_finish(w, err) == 0);
    struct owb_fingerprint *fp = NULL;
    CHECK_MSG(owb_fp_read(fpath, &fp, err) == 0, "%s", err);
    struct owb_kld_cfg kc = {.boot_reps = 200, .seed = 1};
    struct owb_kld_result ks, k8, k4;
    CHECK_MSG(owb_kld_run(p1, fp, &kc, &ks, err) == 0, "%s", err);
    CHECK(ks.kld_mean.v == 0 && ks.top1.v == 1.0 && ks.ln_ratio.v == 0);
    struct owb_producer *pq8 = engine(q8, 1), *pq4 = engine(q4, 1);
    CHECK(pq8 && pq4);
    CHECK_MSG(owb_kld_run(pq8, fp, &kc, &k8, err) == 0, "%s", err);
    CHECK_MSG(owb_kld_run(pq4, fp, &kc, &k4, err) == 0, "%s", err);
    fprintf(stderr, "KLD q8_0 %.6f (top-1 %.2f%%), q4_0 %.6f (top-1 %.2f%%)\n", k8.kld_mean.v,
            100 * k8.top1.v, k4.kld_mean.v, 100 * k4.top1.v);
    CHECK(0 < k8.kld_mean.v && k8.kld_mean.v < k4.kld_mean.v);
    CHECK(k8.kld_mean.hi < k4.kld_mean.lo);
    CHECK(k8.top1.v > k4.top1.v && k4.top1.v < 1.0);
    CHECK(k4.ln_ratio.v > 0);
    owb_kld_result_release(&ks);
    owb_kld_result_release(&k8);
    owb_kld_result_release(&k4);
    owb_producer_free(pq8);
    owb_producer_free(pq4);

    /* A damaged derivative fails the gate; the base against itself passes. */
    snprintf(path, sizeof path, "%s/damaged.gguf", tmp);
    if (write_damaged(base_path, path) == 0) {
        struct owb_producer *pd = engine(path, 1);
        unsigned char tok_d[32];
        CHECK(owb_tokenizer_sha256_file(path, tok_d, err) == 0);
        CHECK(!memcmp(tok_d, p1->info.tokenizer_sha256, 32)); /* same tokenizer metadata */
        write_ppl(p1, ids, n, "base", tsha);
        write_ppl(p1, ids, n, "base2", tsha);
        if (pd)
            write_ppl(pd, ids, n, "damaged", tsha);
        CHECK(gate("base", "base2") == OWB_VERDICT_PASS);
        CHECK(gate("base", "damaged") == OWB_VERDICT_FAIL);
        owb_producer_free(pd);
    }

    /* Another tokenizer is refused. */
    unsigned char tok_spm[32];
    if (access(spm, R_OK) == 0) {
        CHECK(owb_tokenizer_sha256_file(spm, tok_spm, err) == 0);
        struct owb_producer_info info = {0};
        snprintf(info.name, sizeof info.name, "%.200s", spm);
        info.n_vocab = 512;
        info.has_tokenizer_sha256 = true;
        memcpy(info.tokenizer_sha256, tok_spm, 32);
        CHECK(owb_kld_check_compatible(fp, &info, err) == OWB_E_USAGE);
        CHECK_MSG(strstr(err, "tokenizer differs") != NULL, "%s", err);
    }
    owb_fp_free(fp);
    owb_producer_free(p1);
    free(ids);
    free(text);
    snprintf(path, sizeof path, "rm -rf '%s'", tmp);
    CHECK(system(path) == 0);
    TEST_DONE();
}
