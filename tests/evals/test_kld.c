/* SPDX-License-Identifier: MIT */
/*
 * test_kld.c: fingerprints and KLD with synthetic bigram producers. A fingerprint written and
 * read back keeps the header and every record; a producer scored against its own fingerprint has
 * KLD exactly 0, 100% top-1 agreement, |dp| 0 and a PPL ratio of 1; a perturbed producer has KLD
 * > 0 equal to a float64 computation straight from the two tables (full vocabulary when top-k =
 * V; the top-k + rest coarsening otherwise, which is also checked to be <= the full KL), and the
 * same top-1 agreement, |dp| and ln PPL ratio as computed directly; a producer with another
 * tokenizer or vocabulary is refused with a message.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/rng.h"
#include "evals/fingerprint.h"
#include "evals/kld.h"
#include "evals/ppl.h"
#include "owb_test.h"
#include "synth_producer.h"

#define V 300
#define N_TOK 3000
#define CTX 64
#define TOL_F32 2e-6 /* float32 storage of log-probs, relative */

static int fp_add(void *ctx, int64_t idx, const int32_t *win, const struct owb_scores *s,
                  char err[OWB_ERR_MAX])
{
    (void)idx;
    (void)win;
    return owb_fp_writer_add(ctx, s, err);
}

static void tmp_path(char *buf, size_t n, const char *name)
{
    const char *t = getenv("OWB_TMP");
    snprintf(buf, n, "%s/kld_%d_%s", t && *t ? t : "/tmp", (int)getpid(), name);
}

/* Write producer p's fingerprint of tok to path; returns 0. */
static int write_fp(struct owb_producer *p, const int32_t *tok, int64_t n, int k, const char *path)
{
    char err[OWB_ERR_MAX] = "";
    struct owb_window_plan plan;
    struct owb_fp_header h;
    struct owb_fp_writer *w = NULL;
    memset(&h, 0, sizeof h);
    CHECK(owb_window_plan_make(&plan, n, CTX, 0, p->info.add_bos, p->info.bos, err) == 0);
    h.n_vocab = (uint32_t)p->info.n_vocab;
    h.top_k = (uint32_t)k;
    h.flags = OWB_FP_HAS_TOKENIZER_SHA;
    memcpy(h.tokenizer_sha256, p->info.tokenizer_sha256, 32);
    memset(h.text_sha256, 0xab, 32);
    int rc = owb_fp_writer_open(&w, path, &h, &plan, tok, err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc)
        return rc;
    struct owb_ppl_cfg cfg = {.n_ctx = CTX,
                              .top_k = k,
                              .boot_reps = 50,
                              .seed = 1,
                              .on_window = fp_add,
                              .on_window_ctx = w};
    struct owb_ppl_result r;
    rc = owb_ppl_run(p, tok, n, &cfg, &r, err);
    CHECK_MSG(rc == 0, "%s", err);
    owb_ppl_result_release(&r);
    rc = owb_fp_writer_finish(w, err);
    CHECK_MSG(rc == 0, "%s", err);
    return rc;
}

/* log-softmax of every row of a table, computed once (V x V). */
static double *lsm_table(const float *tab)
{
    double *out = malloc((size_t)V * V * sizeof *out);
    for (int r = 0; r < V; r++) {
        const float *row = tab + (size_t)r * V;
        long double mx = row[0], s = 0;
        for (int v = 1; v < V; v++)
            if (row[v] > mx)
                mx = row[v];
        for (int v = 0; v < V; v++)
            s += expl((long double)row[v] - mx);
        for (int v = 0; v < V; v++)
            out[(size_t)r * V + v] = (double)((long double)row[v] - mx - logl(s));
    }
    return out;
}

/* float64 KL(P||Q) of softmax rows (pr, qr raw logits; lp, lq their log-softmax), over the whole
 * vocabulary or coarsened to P's top-k + rest. */
static double direct_kl(const float *pr, const double *lp, const double *lq, int k)
{
    if (k >= V) {
        double kl = 0;
        for (int v = 0; v < V; v++)
            kl += exp(lp[v]) * (lp[v] - lq[v]);
        return kl;
    }
    /* top-k of P by value, ties by id */
    int ids[V];
    unsigned char in[V] = {0};
    for (int v = 0; v < V; v++)
        ids[v] = v;
    for (int i = 0; i < k; i++)
        for (int j = i + 1; j < V; j++)
            if (pr[ids[j]] > pr[ids[i]] || (pr[ids[j]] == pr[ids[i]] && ids[j] < ids[i])) {
                int t = ids[i];
                ids[i] = ids[j];
                ids[j] = t;
            }
    double kl = 0, prest = 0, qrest = 0;
    for (int i = 0; i < k; i++) {
        in[ids[i]] = 1;
        kl += exp(lp[ids[i]]) * (lp[ids[i]] - lq[ids[i]]);
    }
    for (int v = 0; v < V; v++)
        if (!in[v]) {
            prest += exp(lp[v]);
            qrest += exp(lq[v]);
        }
    return kl + prest * log(prest / qrest);
}

static int argmax(const float *r)
{
    int b = 0;
    for (int v = 1; v < V; v++)
        if (r[v] > r[b])
            b = v;
    return b;
}

static void check_against(struct owb_producer *base, struct owb_producer *model,
                          const struct owb_fingerprint *fp, const int32_t *tok, int k)
{
    char err[OWB_ERR_MAX] = "";
    struct owb_kld_cfg cfg = {.boot_reps = 200, .seed = 1};
    struct owb_kld_result r;
    CHECK_MSG(owb_kld_run(model, fp, &cfg, &r, err) == 0, "%s", err);
    const float *tp = synth_table(base), *tq = synth_table(model);
    double *lsp = lsm_table(tp), *lsq = lsm_table(tq);
    int64_t nw = N_TOK / CTX, first = CTX / 2 + 1, np = CTX - first;
    CHECK(r.n == nw * np);
    double skl = 0, sfull = 0, sdp = 0, sd = 0;
    int64_t agree = 0;
    for (int64_t w = 0; w < nw; w++)
        for (int64_t i = 0; i < np; i++) {
            int64_t j = first + i;
            int32_t prev = tok[w * CTX + j - 1], t = tok[w * CTX + j];
            const float *pr = tp + (size_t)prev * V, *qr = tq + (size_t)prev * V;
            const double *lp_row = lsp + (size_t)prev * V, *lq_row = lsq + (size_t)prev * V;
            double kl = direct_kl(pr, lp_row, lq_row, k);
            CHECK_NEAR(r.kld[w * np + i], kl, 1e-6 + TOL_F32 * kl);
            skl += kl;
            if (k < V) {
                double full = direct_kl(pr, lp_row, lq_row, V);
                sfull += full;
                CHECK_MSG(kl <= full + 1e-12, "coarse KL %g > full %g", kl, full);
            }
            agree += argmax(pr) == argmax(qr);
            double lp = lp_row[t], lq = lq_row[t];
            sdp += fabs(exp(lq) - exp(lp));
            sd += lp - lq;
        }
    double n = (double)r.n;
    CHECK_NEAR(r.kld_mean.v, skl / n, 1e-6 * skl / n + 1e-9);
    CHECK(r.kld_mean.v > 0.01);
    CHECK_MSG(r.kld_mean.lo <= r.kld_mean.v && r.kld_mean.v <= r.kld_mean.hi, "CI");
    CHECK(r.kld_median.v > 0 && r.kld_p90.v >= r.kld_median.v && r.kld_p99.v >= r.kld_p90.v &&
          r.kld_max.v >= r.kld_p99.v);
    CHECK_NEAR(r.top1.v, (double)agree / n, 1e-12);
    CHECK(r.top1.v < 1.0);
    CHECK_NEAR(r.abs_dp.v, sdp / n, 1e-6);
    CHECK_NEAR(r.ln_ratio.v, sd / n, 1e-6);
    CHECK_NEAR(log(r.ppl / r.ppl_base), sd / n, 1e-6);
    CHECK(r.ln_ratio_se > 0);
    if (k < V)
        fprintf(stderr, "top-%d KLD %.6f vs full %.6f\n", k, skl / n, sfull / n);
    owb_kld_result_release(&r);
    free(lsp);
    free(lsq);
}

int main(void)
{
    char err[OWB_ERR_MAX] = "", path_full[512], path_k[512];
    int32_t *tok = malloc(N_TOK * sizeof *tok);
    struct owb_rng rng;
    owb_rng_seed(&rng, 9);
    tok[0] = 256;
    for (int i = 1; i < N_TOK; i++)
        tok[i] = (int32_t)owb_rng_below(&rng, V);
    struct owb_producer *base = synth_new(V, 21, 1.5, 0, 0, 5, 512);
    struct owb_producer *pert = synth_new(V, 21, 1.5, 0.4, 99, 5, 512);
    tmp_path(path_full, sizeof path_full, "full.owbfp");
    tmp_path(path_k, sizeof path_k, "k8.owbfp");
    CHECK(write_fp(base, tok, N_TOK, V, path_full) == 0);
    CHECK(write_fp(base, tok, N_TOK, 8, path_k) == 0);

    struct owb_fingerprint *ff = NULL, *fk = NULL;
    CHECK_MSG(owb_fp_read(path_full, &ff, err) == 0, "%s", err);
    CHECK_MSG(owb_fp_read(path_k, &fk, err) == 0, "%s", err);
    if (!ff || !fk)
        TEST_DONE();
    /* Header and records round trip. */
    CHECK(fk->h.version == OWB_FP_VERSION && fk->h.n_vocab == V && fk->h.n_ctx == CTX &&
          fk->h.first == CTX / 2 + 1 && fk->h.top_k == 8 && fk->h.n_windows == N_TOK / CTX &&
          fk->h.n_text_tokens == N_TOK && (fk->h.flags & OWB_FP_BOS_PER_WINDOW) &&
          fk->h.bos == 256);
    CHECK(fk->h.text_sha256[0] == 0xab && fk->h.tokenizer_sha256[3] == 5);
    {
        struct owb_fp_pos pos;
        int32_t ids[8];
        float lps[8];
        owb_fp_get(fk, 2, 5, &pos, ids, lps);
        int32_t prev = tok[2 * CTX + CTX / 2 + 1 + 5 - 1];
        const float *row = synth_table(base) + (size_t)prev * V;
        CHECK(pos.target == tok[2 * CTX + CTX / 2 + 1 + 5]);
        CHECK_NEAR(pos.logp, synth_logp(row, V, pos.target), 1e-6);
        CHECK(ids[0] == argmax(row));
        CHECK_NEAR(lps[0], synth_logp(row, V, ids[0]), 1e-6);
        CHECK(fk->tokens[2 * CTX] == 256); /* BOS substituted in every window */
    }

    /* Self: exactly zero. */
    struct owb_kld_cfg cfg = {.boot_reps = 200, .seed = 1};
    struct owb_kld_result r;
    CHECK_MSG(owb_kld_run(base, fk, &cfg, &r, err) == 0, "%s", err);
    int nonzero = 0;
    for (int64_t i = 0; i < r.n; i++)
        nonzero += r.kld[i] != 0.0;
    CHECK_MSG(nonzero == 0, "%d positions with KLD != 0 against itself", nonzero);
    CHECK(r.kld_mean.v == 0 && r.kld_max.v == 0 && r.kld_mean.hi == 0);
    CHECK(r.top1.v == 1.0);
    CHECK(r.abs_dp.v == 0.0);
    CHECK(r.ln_ratio.v == 0.0 && r.ppl == r.ppl_base);
    owb_kld_result_release(&r);

    /* Perturbed: positive and equal to the direct float64 computation. */
    check_against(base, pert, ff, tok, V);
    check_against(base, pert, fk, tok, 8);

    /* Refusals. */
    struct owb_producer *other_tok = synth_new(V, 21, 1.5, 0, 0, 6, 512);
    CHECK(owb_kld_run(other_tok, fk, &cfg, &r, err) == OWB_E_USAGE);
    CHECK_MSG(strstr(err, "tokenizer differs") != NULL, "%s", err);
    struct owb_producer *other_v = synth_new(V + 1, 21, 1.5, 0, 0, 5, 512);
    CHECK(owb_kld_run(other_v, fk, &cfg, &r, err) == OWB_E_USAGE);
    CHECK_MSG(strstr(err, "vocabulary") != NULL, "%s", err);
    struct owb_producer *short_ctx = synth_new(V, 21, 1.5, 0, 0, 5, 32);
    CHECK(owb_kld_run(short_ctx, fk, &cfg, &r, err) == OWB_E_USAGE);
    CHECK_MSG(strstr(err, "context") != NULL, "%s", err);

    owb_producer_free(other_tok);
    owb_producer_free(other_v);
    owb_producer_free(short_ctx);
    owb_fp_free(ff);
    owb_fp_free(fk);
    unlink(path_full);
    unlink(path_k);
    owb_producer_free(base);
    owb_producer_free(pert);
    free(tok);
    TEST_DONE();
}
