/* SPDX-License-Identifier: MIT */
/*
 * test_ppl.c: perplexity of the synthetic bigram producer equals the value computed directly from
 * its table (long double log-softmax per scored position, llama.cpp's window convention written
 * out independently here); uniform logits give PPL = V exactly; the window plan (floor(n / ctx)
 * windows, BOS substituted, n_ctx/2 - 1 tokens scored per window: 63 at ctx 128); per-window NLL
 * sums; a bootstrap interval that contains the estimate and repeats for the same seed; the
 * producer's scores row (top-k order, ties by id, residual mass) against direct computation.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/rng.h"
#include "evals/ppl.h"
#include "owb_test.h"
#include "synth_producer.h"

#define V 300
#define N_TOK 5000
#define TOL_REL 1e-12

static void make_tokens(int32_t *t, int64_t n, uint64_t seed)
{
    struct owb_rng r;
    owb_rng_seed(&r, seed);
    t[0] = 256; /* BOS, as a tokenizer that adds one would start */
    for (int64_t i = 1; i < n; i++)
        t[i] = (int32_t)owb_rng_below(&r, V);
}

/* The expected mean NLL, straight from the table. */
static double direct_mean_nll(const struct owb_producer *p, const int32_t *tok, int64_t n_tok,
                              int64_t ctx, int64_t max_w, int64_t *n_scored)
{
    const float *tab = synth_table(p);
    int64_t nw = n_tok / ctx;
    if (max_w && max_w < nw)
        nw = max_w;
    long double s = 0;
    int64_t cnt = 0;
    for (int64_t w = 0; w < nw; w++)
        for (int64_t j = ctx / 2 + 1; j < ctx; j++) {
            int32_t prev = j - 1 == 0 ? 256 : tok[w * ctx + j - 1];
            s -= synth_logp(tab + (size_t)prev * V, V, tok[w * ctx + j]);
            cnt++;
        }
    *n_scored = cnt;
    return (double)(s / cnt);
}

static void test_analytic(void)
{
    char err[OWB_ERR_MAX] = "";
    int32_t *tok = malloc(N_TOK * sizeof *tok);
    make_tokens(tok, N_TOK, 1);
    struct owb_producer *p = synth_new(V, 7, 2.0, 0, 0, 1, 1024);
    CHECK(p != NULL);
    const int64_t ctxs[] = {128, 64, 37};
    for (size_t k = 0; k < sizeof ctxs / sizeof ctxs[0]; k++) {
        struct owb_ppl_cfg cfg = {.n_ctx = ctxs[k], .boot_reps = 500, .seed = 3};
        struct owb_ppl_result r;
        int64_t n_sc;
        double want = direct_mean_nll(p, tok, N_TOK, ctxs[k], 0, &n_sc);
        CHECK(owb_ppl_run(p, tok, N_TOK, &cfg, &r, err) == 0);
        CHECK(r.plan.n_windows == N_TOK / ctxs[k]);
        CHECK(r.n_scored == n_sc);
        CHECK(r.plan.first == ctxs[k] / 2 + 1);
        for (int64_t w = 0; w < r.plan.n_windows; w++)
            CHECK(r.count[w] == ctxs[k] - ctxs[k] / 2 - 1);
        if (ctxs[k] == 128)
            CHECK(r.count[0] == 63); /* llama.cpp: n_ctx - 1 - n_ctx/2 */
        CHECK_NEAR(r.mean_nll, want, TOL_REL * want);
        CHECK_NEAR(r.ppl, exp(want), TOL_REL * exp(want));
        CHECK_MSG(r.ppl_lo <= r.ppl && r.ppl <= r.ppl_hi && r.ppl_lo < r.ppl_hi,
                  "CI [%g, %g] around %g", r.ppl_lo, r.ppl_hi, r.ppl);
        double sum = 0;
        for (int64_t w = 0; w < r.plan.n_windows; w++)
            sum += r.nll[w];
        CHECK_NEAR(sum / (double)r.n_scored, r.mean_nll, 1e-12);
        /* Same seed, same interval. */
        struct owb_ppl_result r2;
        CHECK(owb_ppl_run(p, tok, N_TOK, &cfg, &r2, err) == 0);
        CHECK(r2.ppl == r.ppl && r2.ppl_lo == r.ppl_lo && r2.ppl_hi == r.ppl_hi);
        owb_ppl_result_release(&r2);
        owb_ppl_result_release(&r);
    }
    /* --chunks */
    struct owb_ppl_cfg cfg = {.n_ctx = 128, .max_windows = 3, .boot_reps = 100, .seed = 3};
    struct owb_ppl_result r;
    int64_t n_sc;
    double want = direct_mean_nll(p, tok, N_TOK, 128, 3, &n_sc);
    CHECK(owb_ppl_run(p, tok, N_TOK, &cfg, &r, err) == 0);
    CHECK(r.plan.n_windows == 3 && r.n_scored == 3 * 63);
    CHECK_NEAR(r.mean_nll, want, TOL_REL * want);
    owb_ppl_result_release(&r);
    /* Errors: a text shorter than one window; a window beyond the producer's context. */
    cfg.n_ctx = 128;
    CHECK(owb_ppl_run(p, tok, 100, &cfg, &r, err) == OWB_E_USAGE);
    CHECK_MSG(strstr(err, "100 tokens") != NULL, "%s", err);
    cfg.n_ctx = 2048;
    CHECK(owb_ppl_run(p, tok, N_TOK, &cfg, &r, err) == OWB_E_USAGE);
    CHECK_MSG(strstr(err, "exceeds") != NULL, "%s", err);
    owb_producer_free(p);
    free(tok);
}

static void test_uniform(void)
{
    char err[OWB_ERR_MAX] = "";
    int32_t *tok = malloc(N_TOK * sizeof *tok);
    make_tokens(tok, N_TOK, 2);
    struct owb_producer *p = synth_new(V, 1, 0.0, 0, 0, 1, 1024);
    struct owb_ppl_cfg cfg = {.n_ctx = 100, .boot_reps = 100, .seed = 1};
    struct owb_ppl_result r;
    CHECK(owb_ppl_run(p, tok, N_TOK, &cfg, &r, err) == 0);
    CHECK_NEAR(r.ppl, (double)V, 1e-9);
    CHECK_NEAR(r.ppl_lo, (double)V, 1e-9);
    CHECK_NEAR(r.ppl_hi, (double)V, 1e-9);
    owb_ppl_result_release(&r);
    owb_producer_free(p);
    free(tok);
}

static void test_scores_row(void)
{
    /* Ties: equal logits keep the lower id first; the residual is summed over the rest. */
    float l[8] = {1, 3, 3, -2, 0.5f, 3, 1, -7};
    struct owb_scores s = {0};
    CHECK(owb_scores_reserve(&s, 2, 4, 2, 8) == 0);
    s.query_id[0] = 7;
    s.query_id[1] = 0;
    owb_scores_fill_row(&s, 0, l, 8, 4);
    long double z = 0;
    for (int i = 0; i < 8; i++)
        z += expl(l[i]);
    double lse = (double)logl(z);
    CHECK_NEAR(s.lse[0], lse, 1e-12);
    CHECK_NEAR(s.logp[0], 0.5 - lse, 1e-12);
    CHECK(s.top_id[0] == 1 && s.top_id[1] == 2 && s.top_id[2] == 5);
    CHECK(s.top_id[3] == 0); /* 1.0 at ids 0 and 6: the lower id wins */
    CHECK_NEAR(s.top_lp[3], 1.0 - lse, 1e-12);
    double rest = (double)((expl(-2.0L) + expl(0.5L) + expl(1.0L) + expl(-7.0L)) / z);
    CHECK_NEAR(s.top_rest[0], rest, 1e-14);
    CHECK_NEAR(s.query_lp[0], -7.0 - lse, 1e-12);
    CHECK_NEAR(s.query_lp[1], 1.0 - lse, 1e-12);
    CHECK_NEAR(s.query_rest[0], 1.0 - (double)((expl(-7.0L) + expl(1.0L)) / z), 1e-14);
    owb_scores_release(&s);
}

int main(void)
{
    test_analytic();
    test_uniform();
    test_scores_row();
    TEST_DONE();
}
