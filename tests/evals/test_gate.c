/* SPDX-License-Identifier: MIT */
/*
 * test_gate.c: the paired gate on result files made by the real writers from synthetic
 * producers. PPL: identical results PASS (ratio 1, interval [1, 1]); a clearly worse candidate
 * FAILs; 3 windows are INCONCLUSIVE whatever the data; another text is refused naming
 * text_sha256. KLD: a candidate against the base's fingerprint PASSes when it is the base and
 * FAILs when perturbed. Accuracy: 2000 identical items PASS; a candidate that loses 10% of the
 * items FAILs with the exact McNemar p of its flips; 6 identical items are INCONCLUSIVE; other
 * item subsets are refused. The MDE shrinks with n. The command maps verdicts to exit codes 0, 1,
 * 4 and refusals to 2.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/rng.h"
#include "datasets/sha256.h"
#include "evals/evstats.h"
#include "evals/fingerprint.h"
#include "evals/gate.h"
#include "evals/kld.h"
#include "evals/ppl.h"
#include "owb_test.h"
#include "results/result.h"
#include "synth_producer.h"
#include "tools/cmds.h"

#define V 300
#define CTX 64

static char tmp[512];
static int32_t tok[20000];

static void path_of(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmp, name);
}

/* A ppl result of producer p on the first n_tok tokens, written to DIR/ppl.json. */
static void ppl_result(struct owb_producer *p, int64_t n_tok, unsigned char text_tag,
                       const char *dir)
{
    char err[OWB_ERR_MAX] = "", d[600];
    unsigned char tsha[32];
    memset(tsha, text_tag, 32);
    struct owb_ppl_cfg cfg = {.n_ctx = CTX, .boot_reps = 200, .seed = 1};
    struct owb_ppl_result r;
    CHECK_MSG(owb_ppl_run(p, tok, n_tok, &cfg, &r, err) == 0, "%s", err);
    cJSON *doc = owb_result_new(0, NULL);
    owb_ppl_to_json(doc, "ppl/test", &r,
                    owb_window_identity_json("ppl", tsha, p->info.tokenizer_sha256, &r.plan), NULL);
    path_of(d, sizeof d, dir);
    char f[700];
    snprintf(f, sizeof f, "%s/ppl.json", d);
    CHECK_MSG(owb_result_write(doc, f, err) == 0, "%s", err);
    cJSON_Delete(doc);
    owb_ppl_result_release(&r);
}

static int fp_add(void *ctx, int64_t idx, const int32_t *win, const struct owb_scores *s,
                  char err[OWB_ERR_MAX])
{
    (void)idx;
    (void)win;
    return owb_fp_writer_add(ctx, s, err);
}

static void kld_result(struct owb_producer *base, struct owb_producer *model, int64_t n_tok,
                       const char *dir)
{
    char err[OWB_ERR_MAX] = "", fpath[600], f[700], d[600];
    struct owb_window_plan plan;
    struct owb_fp_header h;
    struct owb_fp_writer *w = NULL;
    memset(&h, 0, sizeof h);
    memset(h.text_sha256, 1, 32);
    h.flags = OWB_FP_HAS_TOKENIZER_SHA;
    memcpy(h.tokenizer_sha256, base->info.tokenizer_sha256, 32);
    h.n_vocab = V;
    h.top_k = 16;
    path_of(fpath, sizeof fpath, "gate.owbfp");
    owb_window_plan_make(&plan, n_tok, CTX, 0, true, 256, err);
    CHECK(owb_fp_writer_open(&w, fpath, &h, &plan, tok, err) == 0);
    struct owb_ppl_cfg cfg = {
        .n_ctx = CTX, .top_k = 16, .boot_reps = 10, .on_window = fp_add, .on_window_ctx = w};
    struct owb_ppl_result pr;
    CHECK(owb_ppl_run(base, tok, n_tok, &cfg, &pr, err) == 0);
    owb_ppl_result_release(&pr);
    CHECK(owb_fp_writer_finish(w, err) == 0);
    struct owb_fingerprint *fp = NULL;
    CHECK(owb_fp_read(fpath, &fp, err) == 0);
    struct owb_kld_cfg kc = {.boot_reps = 200, .seed = 1};
    struct owb_kld_result r;
    CHECK_MSG(owb_kld_run(model, fp, &kc, &r, err) == 0, "%s", err);
    cJSON *doc = owb_result_new(0, NULL);
    owb_kld_to_json(
        doc, "kld/test", &r,
        owb_window_identity_json("kld", fp->h.text_sha256, fp->h.tokenizer_sha256, &r.plan), NULL);
    path_of(d, sizeof d, dir);
    snprintf(f, sizeof f, "%s/kld.json", d);
    CHECK_MSG(owb_result_write(doc, f, err) == 0, "%s", err);
    cJSON_Delete(doc);
    owb_kld_result_release(&r);
    owb_fp_free(fp);
    unlink(fpath);
}

/* An mc result with per-item correctness ok[i] (acc and acc_norm alike) in DIR. */
static void mc_result(const char *dir, const unsigned char *ok, int n, unsigned char items_tag)
{
    char d[600], f[700], err[OWB_ERR_MAX] = "";
    path_of(d, sizeof d, dir);
    mkdir(d, 0777);
    snprintf(f, sizeof f, "%s/items.jsonl", d);
    FILE *fp = fopen(f, "wb");
    for (int i = 0; i < n; i++)
        fprintf(fp, "{\"id\": \"q%05d\", \"correct\": %s, \"correct_norm\": %s}\n", i,
                ok[i] ? "true" : "false", ok[i] ? "true" : "false");
    fclose(fp);
    cJSON *doc = owb_result_new(0, NULL);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", "mc/test");
    cJSON_AddStringToObject(e, "metric", "acc");
    cJSON_AddNumberToObject(e, "value", 0.5);
    cJSON_AddStringToObject(e, "items_file", "items.jsonl");
    cJSON_AddStringToObject(e, "kind", "mc");
    cJSON *id = cJSON_AddObjectToObject(e, "identity");
    unsigned char sha[32];
    memset(sha, 9, 32);
    owb_json_add_hex(id, "task_sha256", sha);
    cJSON_AddStringToObject(id, "format", "jsonl");
    cJSON_AddNumberToObject(id, "n_items", n);
    cJSON_AddNumberToObject(id, "limit", 0);
    cJSON_AddNumberToObject(id, "seed", 1);
    memset(sha, items_tag, 32);
    owb_json_add_hex(id, "items_sha256", sha);
    cJSON_AddItemToArray(cJSON_GetObjectItem(doc, "evals"), e);
    snprintf(f, sizeof f, "%s/mc.json", d);
    CHECK_MSG(owb_result_write(doc, f, err) == 0, "%s", err);
    cJSON_Delete(doc);
}

/* Run the gate in the library: returns the verdict, -rc on refusal. */
static int gate(const char *a, const char *b, struct owb_gate *g, char err[OWB_ERR_MAX])
{
    char pa[600], pb[600];
    struct owb_gate_side A, B;
    struct owb_gate_cfg cfg;
    owb_gate_cfg_default(&cfg);
    path_of(pa, sizeof pa, a);
    path_of(pb, sizeof pb, b);
    int rc = owb_gate_side_load(&A, pa, err);
    if (!rc)
        rc = owb_gate_side_load(&B, pb, err);
    if (rc)
        return -100 + rc;
    rc = owb_gate_prepare(g, &A, &B, &cfg, err);
    if (!rc) {
        for (int i = 0; i < g->n_checks; i++)
            CHECK(isfinite(g->checks[i].mde) && isnan(g->checks[i].effect)); /* not decided yet */
        rc = owb_gate_decide(g, &cfg);
    }
    owb_gate_side_release(&A);
    owb_gate_side_release(&B);
    return rc ? rc : (int)g->verdict;
}

static int run_cli(const char *a, const char *b)
{
    char pa[600], pb[600];
    path_of(pa, sizeof pa, a);
    path_of(pb, sizeof pb, b);
    char *argv[] = {"eval", "gate", "--baseline", pa, "--candidate", pb, NULL};
    fflush(stdout);
    return cmd_eval(6, argv);
}

int main(void)
{
    char err[OWB_ERR_MAX] = "";
    struct owb_gate g;
    const char *t = getenv("OWB_TMP");
    snprintf(tmp, sizeof tmp, "%s/gate_%d", t && *t ? t : "/tmp", (int)getpid());
    mkdir(tmp, 0777);
    struct owb_rng r;
    owb_rng_seed(&r, 4);
    tok[0] = 256;
    for (int i = 1; i < 20000; i++)
        tok[i] = (int32_t)owb_rng_below(&r, V);
    struct owb_producer *base = synth_new(V, 5, 1.5, 0, 0, 1, 512);
    struct owb_producer *worse = synth_new(V, 5, 1.5, 0.8, 17, 1, 512);
    struct owb_producer *slight = synth_new(V, 5, 1.5, 0.05, 17, 1, 512);

    /* PPL */
    ppl_result(base, 20000, 1, "A");
    ppl_result(base, 20000, 1, "A2");
    ppl_result(worse, 20000, 1, "B");
    ppl_result(base, 3 * CTX, 1, "tinyA");
    ppl_result(base, 3 * CTX, 1, "tinyB");
    ppl_result(base, 20000, 2, "other_text");
    CHECK(gate("A/ppl.json", "A2", &g, err) == OWB_VERDICT_PASS);
    CHECK(g.n_checks == 1 && g.checks[0].kind == OWB_GATE_PPL && g.checks[0].n == 20000 / CTX);
    CHECK(g.checks[0].effect == 0 && g.checks[0].lo == 0 && g.checks[0].hi == 0);
    owb_gate_release(&g);
    CHECK(gate("A", "B", &g, err) == OWB_VERDICT_FAIL);
    CHECK_MSG(g.checks[0].lo > log(1.01), "lo %g", g.checks[0].lo);
    double mde_big = g.checks[0].mde;
    owb_gate_release(&g);
    CHECK(gate("tinyA", "tinyB", &g, err) == OWB_VERDICT_INCONCLUSIVE);
    CHECK_MSG(strstr(g.checks[0].why, "too small") != NULL, "%s", g.checks[0].why);
    owb_gate_release(&g);
    CHECK(gate("A", "other_text", &g, err) == OWB_E_USAGE);
    CHECK_MSG(strstr(err, "text_sha256 differs") != NULL, "%s", err);
    CHECK(gate("A", "tinyB", &g, err) == OWB_E_USAGE); /* different windows */
    CHECK_MSG(strstr(err, "differs") != NULL, "%s", err);
    (void)mde_big;

    /* KLD */
    kld_result(base, base, 20000, "A");
    kld_result(base, slight, 20000, "S");
    kld_result(base, worse, 20000, "B");
    CHECK(gate("A", "A", &g, err) == OWB_VERDICT_PASS);
    CHECK(g.n_checks == 2 && g.checks[1].kind == OWB_GATE_KLD && g.checks[1].effect == 0);
    owb_gate_release(&g);
    CHECK(gate("A", "B", &g, err) == OWB_VERDICT_FAIL);
    CHECK(g.checks[1].verdict == OWB_VERDICT_FAIL && g.checks[1].lo > 0.01);
    owb_gate_release(&g);
    int vs = gate("A", "S", &g, err); /* a slight perturbation: KLD well under 0.01 */
    CHECK_MSG(g.checks[1].effect > 0 && g.checks[1].effect < 0.01, "kld %g", g.checks[1].effect);
    CHECK(g.checks[1].verdict == OWB_VERDICT_PASS);
    (void)vs;
    owb_gate_release(&g);

    /* Accuracy */
    enum { N = 2000 };
    static unsigned char a_ok[N], b_ok[N];
    for (int i = 0; i < N; i++)
        a_ok[i] = b_ok[i] = owb_rng_below(&r, 100) < 40;
    mc_result("mcA", a_ok, N, 1);
    mc_result("mcA2", a_ok, N, 1);
    int worse_flips = 0, better_flips = 0;
    for (int i = 0; i < N; i++) {
        if (a_ok[i] && owb_rng_below(&r, 100) < 25) { /* 10 points lost */
            b_ok[i] = 0;
            worse_flips++;
        } else if (!a_ok[i] && owb_rng_below(&r, 100) < 2) {
            b_ok[i] = 1;
            better_flips++;
        }
    }
    mc_result("mcB", b_ok, N, 1);
    mc_result("mcTinyA", a_ok, 6, 1);
    mc_result("mcTinyB", a_ok, 6, 1);
    mc_result("mcOther", a_ok, N, 2);
    CHECK(gate("mcA", "mcA2", &g, err) == OWB_VERDICT_PASS);
    CHECK(g.n_checks == 2 && g.checks[0].kind == OWB_GATE_ACC && g.checks[0].flips_worse == 0);
    CHECK(g.checks[0].p_value == 1.0);
    double mde_n = g.checks[0].mde_indep;
    owb_gate_release(&g);
    CHECK(gate("mcA", "mcB", &g, err) == OWB_VERDICT_FAIL);
    CHECK(g.checks[0].flips_worse == worse_flips && g.checks[0].flips_better == better_flips);
    CHECK_NEAR(g.checks[0].effect, (double)(worse_flips - better_flips) / N, 1e-15);
    CHECK_NEAR(g.checks[0].p_value, owb_mcnemar_exact_p(worse_flips, better_flips), 0);
    CHECK(g.checks[0].p_value < 1e-10);
    owb_gate_release(&g);
    CHECK(gate("mcTinyA", "mcTinyB", &g, err) == OWB_VERDICT_INCONCLUSIVE);
    CHECK_MSG(g.checks[0].mde_indep > mde_n * 5, "MDE at n=6 %g vs n=2000 %g",
              g.checks[0].mde_indep, mde_n);
    owb_gate_release(&g);
    CHECK(gate("mcA", "mcOther", &g, err) == OWB_E_USAGE);
    CHECK_MSG(strstr(err, "items_sha256 differs") != NULL, "%s", err);
    CHECK(gate("A", "mcA", &g, err) == OWB_E_USAGE);
    CHECK_MSG(strstr(err, "no evals that can be compared") != NULL, "%s", err);

    /* Exit codes of the command. */
    CHECK(run_cli("A", "A2") == OWB_EXIT_OK);
    CHECK(run_cli("A", "B") == OWB_EXIT_REGRESSION);
    CHECK(run_cli("tinyA", "tinyB") == OWB_EXIT_INCONCLUSIVE);
    CHECK(run_cli("mcA", "mcOther") == OWB_EXIT_USAGE);
    CHECK(run_cli("A", "does-not-exist") == OWB_EXIT_RUNTIME);

    owb_producer_free(base);
    owb_producer_free(worse);
    owb_producer_free(slight);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0);
    TEST_DONE();
}
