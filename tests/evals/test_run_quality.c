/* SPDX-License-Identifier: MIT */
/*
 * test_run_quality.c: the library pieces behind `owbench run`'s quality step. The embedded prose
 * is plain ASCII of the stated length, joined without loss. owb_fp_record writes a fingerprint
 * byte-identical to the one the writer API gives when driven by hand (plan, header, per-window
 * callback, finish) with the same perplexity, refuses a bad top-k or a text shorter than one
 * window leaving nothing behind, and the recorded base scored against itself has KLD exactly 0
 * while a perturbed model has KLD > 0. owb_gate_side_from_doc gives the same checks, intervals and
 * verdict as the same documents written to files and loaded with owb_gate_side_load, and names
 * its label when the identities differ. Synthetic bigram producers (synth_producer.h) only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/prose.h"
#include "datasets/sha256.h"
#include "evals/fingerprint.h"
#include "evals/gate.h"
#include "evals/kld.h"
#include "evals/ppl.h"
#include "owb_test.h"
#include "results/result.h"
#include "synth_producer.h"

#define V 300
#define CTX 64
#define TOP_K 16
#define REL 1e-9 /* file vs memory: JSON number round trip */
#define ABS 1e-12

static void tmp_path(char *buf, size_t n, const char *name)
{
    const char *t = getenv("OWB_TMP");
    snprintf(buf, n, "%s/runq_%d_%s", t && *t ? t : "/tmp", (int)getpid(), name);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b = NULL;
    *n = 0;
    if (!f)
        return NULL;
    if (!fseek(f, 0, SEEK_END)) {
        long sz = ftell(f);
        if (sz > 0 && !fseek(f, 0, SEEK_SET) && (b = malloc((size_t)sz)))
            *n = fread(b, 1, (size_t)sz, f);
    }
    fclose(f);
    return b;
}

static int fp_add(void *ctx, int64_t idx, const int32_t *win, const struct owb_scores *s,
                  char err[OWB_ERR_MAX])
{
    (void)idx;
    (void)win;
    return owb_fp_writer_add(ctx, s, err);
}

/* The fingerprint written by hand with the writer API, as `eval fingerprint` did before. */
static int record_by_hand(struct owb_producer *p, const int32_t *tok, int64_t n,
                          const unsigned char sha[32], const struct owb_ppl_cfg *cfg,
                          const char *path, struct owb_ppl_result *r)
{
    char err[OWB_ERR_MAX] = "";
    struct owb_window_plan plan;
    struct owb_fp_header h;
    struct owb_fp_writer *w = NULL;
    struct owb_ppl_cfg c = *cfg;
    memset(&h, 0, sizeof h);
    if (owb_window_plan_make(&plan, n, cfg->n_ctx, cfg->max_windows, p->info.add_bos, p->info.bos,
                             err))
        return -1;
    h.n_vocab = (uint32_t)p->info.n_vocab;
    h.top_k = (uint32_t)cfg->top_k;
    h.flags = OWB_FP_HAS_TOKENIZER_SHA;
    memcpy(h.tokenizer_sha256, p->info.tokenizer_sha256, 32);
    memcpy(h.text_sha256, sha, 32);
    if (owb_fp_writer_open(&w, path, &h, &plan, tok, err))
        return -1;
    c.on_window = fp_add;
    c.on_window_ctx = w;
    if (owb_ppl_run(p, tok, n, &c, r, err)) {
        owb_fp_writer_abort(w);
        return -1;
    }
    return owb_fp_writer_finish(w, err);
}

static void check_prose(void)
{
    size_t len = 0;
    char *t = owb_prose_text(&len);
    const struct owb_prose_info *in = owb_prose_info();
    CHECK(t != NULL);
    if (!t)
        return;
    CHECK(len == owb_prose_len() && strlen(t) == len);
    CHECK(len > 4000); /* a few KB: enough windows of 128 tokens for the gate's minimum of 10 */
    CHECK(!strncmp(t, "Four score and seven years ago", 30));
    CHECK(strstr(t, "shall not perish from the earth.\n\n") != NULL);
    CHECK(len > 0 && t[len - 1] == '\n');
    int ascii = 1;
    for (size_t i = 0; i < len; i++)
        ascii &= (t[i] >= 32 && t[i] < 127) || t[i] == '\n';
    CHECK(ascii);
    CHECK(in && in->name && in->source && in->license && in->what);
    CHECK(strstr(in->license, "public domain") != NULL);
    char *t2 = owb_prose_text(NULL);
    CHECK(t2 && !strcmp(t, t2));
    free(t2);
    free(t);
}

/* Run the gate on A/B documents both ways; returns the in-memory verdict. */
static int gate_both_ways(const cJSON *da, const cJSON *db, const char *pa, const char *pb)
{
    char err[OWB_ERR_MAX] = "";
    struct owb_gate_cfg cfg;
    struct owb_gate_side fa = {0}, fb = {0}, ma = {0}, mb = {0};
    struct owb_gate gf = {0}, gm = {0};
    int verdict = -1;
    owb_gate_cfg_default(&cfg);
    cfg.boot_reps = 500;
    CHECK(owb_result_write(da, pa, err) == 0 && owb_result_write(db, pb, err) == 0);
    CHECK_MSG(owb_gate_side_load(&fa, pa, err) == 0, "%s", err);
    CHECK_MSG(owb_gate_side_load(&fb, pb, err) == 0, "%s", err);
    owb_gate_side_from_doc(&ma, "memory A", cJSON_Duplicate(da, 1), NULL);
    owb_gate_side_from_doc(&mb, "memory B", cJSON_Duplicate(db, 1), "/nonexistent");
    CHECK(ma.n_docs == 1 && !strcmp(ma.path, "memory A") && !strcmp(ma.dirs[0], "."));
    CHECK(!strcmp(mb.dirs[0], "/nonexistent"));
    CHECK_MSG(owb_gate_prepare(&gf, &fa, &fb, &cfg, err) == 0, "%s", err);
    CHECK_MSG(owb_gate_prepare(&gm, &ma, &mb, &cfg, err) == 0, "%s", err);
    CHECK(owb_gate_decide(&gf, &cfg) == 0 && owb_gate_decide(&gm, &cfg) == 0);
    CHECK(gf.n_checks == 2 && gm.n_checks == gf.n_checks); /* ppl and kld */
    for (int i = 0; i < gf.n_checks && i < gm.n_checks; i++) {
        CHECK(gf.checks[i].kind == gm.checks[i].kind);
        CHECK(gf.checks[i].n == gm.checks[i].n && gf.checks[i].n_tokens == gm.checks[i].n_tokens);
        /* cJSON prints 15 significant digits when they read back within an ulp or so: the
         * file path may differ from the in-memory one in the last digits of each per-window
         * NLL, and ln(PPL ratio) is a difference of such sums (cancellation: ABS). */
        CHECK_NEAR(gf.checks[i].effect, gm.checks[i].effect, ABS + REL * fabs(gm.checks[i].effect));
        CHECK_NEAR(gf.checks[i].lo, gm.checks[i].lo, ABS + REL * fabs(gm.checks[i].lo));
        CHECK_NEAR(gf.checks[i].hi, gm.checks[i].hi, ABS + REL * fabs(gm.checks[i].hi));
        CHECK_NEAR(gf.checks[i].mde, gm.checks[i].mde, ABS + REL * fabs(gm.checks[i].mde));
        CHECK(gf.checks[i].verdict == gm.checks[i].verdict);
    }
    CHECK(gf.verdict == gm.verdict);
    verdict = (int)gm.verdict;
    owb_gate_release(&gf);
    owb_gate_release(&gm);
    owb_gate_side_release(&fa);
    owb_gate_side_release(&fb);
    owb_gate_side_release(&ma);
    owb_gate_side_release(&mb);
    unlink(pa);
    unlink(pb);
    return verdict;
}

int main(void)
{
    char err[OWB_ERR_MAX] = "", p1[512], p2[512], p3[512], ja[512], jb[512];
    struct owb_producer *base = synth_new(V, 7, 2.0, 0, 0, 0x11, CTX);
    struct owb_producer *same = synth_new(V, 7, 2.0, 0, 0, 0x11, CTX);
    struct owb_producer *noisy = synth_new(V, 7, 2.0, 0.5, 99, 0x11, CTX);
    struct owb_ppl_result r = {0}, r2 = {0}, rx = {0};
    struct owb_kld_result k0 = {0}, k1 = {0};
    struct owb_fingerprint *fp = NULL;
    int32_t *tok = NULL;
    int64_t n = 0;
    size_t len = 0, n1 = 0, n2 = 0;
    unsigned char sha[32];
    char *text = owb_prose_text(&len);
    CHECK(base && same && noisy && text);
    if (!base || !same || !noisy || !text)
        TEST_DONE();
    check_prose();
    tmp_path(p1, sizeof p1, "rec.owbfp");
    tmp_path(p2, sizeof p2, "hand.owbfp");
    tmp_path(p3, sizeof p3, "bad.owbfp");
    tmp_path(ja, sizeof ja, "a.json");
    tmp_path(jb, sizeof jb, "b.json");
    owb_sha256(text, len, sha);
    CHECK(owb_producer_tokenize(base, text, len, true, &tok, &n, err) == 0);
    CHECK(n == (int64_t)len + 1); /* byte tokenizer + BOS */

    /* owb_fp_record == the writer driven by hand, byte for byte. */
    struct owb_ppl_cfg cfg = {.n_ctx = CTX, .top_k = TOP_K, .boot_reps = 300, .seed = 3};
    CHECK_MSG(owb_fp_record(base, tok, n, sha, &cfg, p1, &r, err) == 0, "%s", err);
    CHECK(record_by_hand(base, tok, n, sha, &cfg, p2, &r2) == 0);
    unsigned char *b1 = slurp(p1, &n1), *b2 = slurp(p2, &n2);
    CHECK(b1 && b2 && n1 == n2 && n1 > OWB_FP_HEADER_BYTES && !memcmp(b1, b2, n1));
    free(b1);
    free(b2);
    CHECK(r.plan.n_windows == (n / CTX) && r.plan.n_windows >= 10);
    CHECK(r.mean_nll == r2.mean_nll && r.ppl_lo == r2.ppl_lo && r.ppl_hi == r2.ppl_hi);
    CHECK(isfinite(r.ppl) && r.ppl > 1 && r.ppl_lo <= r.ppl && r.ppl <= r.ppl_hi);
    CHECK_MSG(owb_fp_read(p1, &fp, err) == 0, "%s", err);
    if (fp) {
        CHECK(fp->h.top_k == TOP_K && fp->h.n_vocab == V && fp->h.n_ctx == CTX);
        CHECK(fp->h.n_windows == (uint64_t)r.plan.n_windows);
        CHECK(!memcmp(fp->h.text_sha256, sha, 32));
        CHECK((fp->h.flags & OWB_FP_HAS_TOKENIZER_SHA) && !(fp->h.flags & OWB_FP_HAS_MODEL_SHA));
    }

    /* Refusals leave nothing at the path and an empty result. */
    struct owb_ppl_cfg bad = cfg;
    bad.top_k = 0;
    CHECK(owb_fp_record(base, tok, n, sha, &bad, p3, &rx, err) == OWB_E_USAGE);
    CHECK(strstr(err, "top-k") != NULL && access(p3, F_OK) != 0 && rx.nll == NULL);
    bad.top_k = V + 1;
    CHECK(owb_fp_record(base, tok, n, sha, &bad, p3, &rx, err) == OWB_E_USAGE);
    CHECK(access(p3, F_OK) != 0);
    CHECK(owb_fp_record(base, tok, CTX - 1, sha, &cfg, p3, &rx, err) == OWB_E_USAGE);
    CHECK(access(p3, F_OK) != 0 && rx.nll == NULL);

    /* The base against its own fingerprint: exactly 0; a perturbed model: > 0. */
    struct owb_kld_cfg kc = {.boot_reps = 300, .seed = 1};
    CHECK(fp && owb_kld_run(same, fp, &kc, &k0, err) == 0);
    CHECK(fp && owb_kld_run(noisy, fp, &kc, &k1, err) == 0);
    CHECK(k0.kld_mean.v == 0 && k0.top1.v == 1);
    CHECK(k1.kld_mean.v > 0 && isfinite(k1.kld_mean.v) && k1.top1.v < 1);

    /* Gate sides from memory == the same documents through files. */
    cJSON *da = owb_result_new(0, NULL), *db = owb_result_new(0, NULL), *db0 = NULL;
    CHECK(da && db);
    if (da && db && fp) {
        CHECK(owb_ppl_to_json(
                  da, "ppl/base", &r,
                  owb_window_identity_json("ppl", sha, base->info.tokenizer_sha256, &r.plan),
                  NULL) != NULL);
        db0 = cJSON_Duplicate(db, 1);
        CHECK(
            owb_kld_to_json(db, "kld/noisy", &k1,
                            owb_window_identity_json("kld", sha, fp->h.tokenizer_sha256, &k1.plan),
                            NULL) != NULL);
        CHECK(
            owb_kld_to_json(db0, "kld/same", &k0,
                            owb_window_identity_json("kld", sha, fp->h.tokenizer_sha256, &k0.plan),
                            NULL) != NULL);
        CHECK(gate_both_ways(da, db0, ja, jb) == OWB_VERDICT_PASS);
        CHECK(gate_both_ways(da, db, ja, jb) == OWB_VERDICT_FAIL); /* KLD far above 0.01 */

        /* Another text: refused, naming the in-memory labels. */
        struct owb_gate_side a = {0}, b = {0};
        struct owb_gate g = {0};
        struct owb_gate_cfg gc;
        unsigned char other[32];
        memset(other, 0x5a, 32);
        cJSON *dc = owb_result_new(0, NULL);
        CHECK(owb_ppl_to_json(
                  dc, "ppl/other", &r,
                  owb_window_identity_json("ppl", other, base->info.tokenizer_sha256, &r.plan),
                  NULL) != NULL);
        owb_gate_cfg_default(&gc);
        owb_gate_side_from_doc(&a, "label-of-A", dc, NULL);
        owb_gate_side_from_doc(&b, "label-of-B", cJSON_Duplicate(db, 1), NULL);
        CHECK(owb_gate_prepare(&g, &a, &b, &gc, err) == OWB_E_USAGE);
        CHECK_MSG(strstr(err, "label-of-A") && strstr(err, "label-of-B") &&
                      strstr(err, "text_sha256"),
                  "%s", err);
        owb_gate_release(&g);
        owb_gate_side_release(&a);
        owb_gate_side_release(&b);
    }
    cJSON_Delete(da);
    cJSON_Delete(db);
    cJSON_Delete(db0);
    owb_kld_result_release(&k0);
    owb_kld_result_release(&k1);
    owb_fp_free(fp);
    owb_ppl_result_release(&r);
    owb_ppl_result_release(&r2);
    owb_producer_free(base);
    owb_producer_free(same);
    owb_producer_free(noisy);
    free(tok);
    free(text);
    unlink(p1);
    unlink(p2);
    TEST_DONE();
}
