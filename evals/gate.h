/* SPDX-License-Identifier: MIT */
/*
 * gate.h: the paired regression gate between a baseline A and a candidate B scored on the same
 * items. Checks, each a non-inferiority test against a margin:
 *   ppl  ln(PPL_B / PPL_A) from per-window NLL pairs (ppl or kld results with equal window
 *        identity), moving-block bootstrap interval over windows; margin ln(max_ppl_ratio);
 *   kld  B's mean KL divergence from the base (a kld result), block-bootstrap interval; margin
 *        max_kld nats;
 *   acc, acc_norm  accuracy drop acc_A - acc_B over items paired by id (mc results with equal
 *        identity), Bonett-Price paired interval, exact McNemar p on the flipped items; margin
 *        max_acc_drop.
 * Every interval is two-sided at level 1 - alpha. Verdict per check: PASS when the upper bound is
 * below the margin, FAIL when the lower bound is above it, INCONCLUSIVE otherwise (and when a
 * bootstrap check has fewer than min_windows windows). Overall: FAIL if any check fails, else
 * INCONCLUSIVE if any is, else PASS.
 *
 * Before deciding, owb_gate_prepare computes for each check the minimum detectable effect at the
 * given n: (z_{1-alpha/2} + z_{power}) times the standard error of the effect estimated from the
 * spread of the paired data, not from its mean (for acc: sqrt(discordant fraction / n); also under
 * independent errors, sqrt(2 p (1-p) / n)).
 *
 * Inputs whose identities differ (other text, tokenizer, windows, task file, item subset) are
 * refused with OWB_E_USAGE naming the field. Ownership: a gate owns what it loads
 * (owb_gate_release). Not thread-safe per gate.
 */
#ifndef OWB_EVALS_GATE_H
#define OWB_EVALS_GATE_H

#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "owb_common.h"

enum owb_gate_verdict {
    OWB_VERDICT_PASS = 0,
    OWB_VERDICT_FAIL = 1,
    OWB_VERDICT_INCONCLUSIVE = 2,
};

/* "PASS", "FAIL", "INCONCLUSIVE". */
const char *owb_gate_verdict_name(enum owb_gate_verdict v);
/* The process exit code of a verdict: 0, 1 (OWB_EXIT_REGRESSION), 4 (OWB_EXIT_INCONCLUSIVE). */
int owb_gate_verdict_exit(enum owb_gate_verdict v);

struct owb_gate_cfg {
    double max_ppl_ratio; /* PPL_B / PPL_A allowed, e.g. 1.01 */
    double max_kld;       /* nats */
    double max_acc_drop;  /* fraction: 0.01 is one percentage point */
    double alpha;         /* e.g. 0.05 */
    double power;         /* for the MDE, e.g. 0.8 */
    int boot_reps;
    uint64_t seed;
    int64_t min_windows; /* e.g. 10 */
};

void owb_gate_cfg_default(struct owb_gate_cfg *c);

enum owb_gate_kind { OWB_GATE_PPL, OWB_GATE_KLD, OWB_GATE_ACC, OWB_GATE_ACC_NORM };

struct owb_gate_check {
    enum owb_gate_kind kind;
    const char *name;        /* "ppl", "kld", "acc", "acc_norm" */
    const char *effect_desc; /* "ln(PPL_B/PPL_A)", ... */
    int64_t n;               /* windows (ppl, kld) or items (acc) */
    int64_t n_tokens;        /* scored tokens (ppl, kld) */
    double margin;
    double mde, mde_indep;             /* mde_indep: acc only (NaN otherwise) */
    double effect, lo, hi;             /* degradation of B (positive = worse) with its interval */
    double p_value;                    /* acc: exact McNemar; NaN otherwise */
    int64_t flips_worse, flips_better; /* acc: right in A only, right in B only */
    enum owb_gate_verdict verdict;
    char why[256];
    /* private: paired data */
    double *x, *y, *den;    /* ppl: nll_A, nll_B, count; kld: kld, -, count */
    unsigned char *ra, *rb; /* acc: correct in A, in B */
};

struct owb_gate {
    struct owb_gate_check checks[4];
    int n_checks;
    enum owb_gate_verdict verdict;
    char notes[4][256];
    int n_notes;
};

/* One side: a result file, or a folder holding ppl.json / kld.json / mc.json (all that exist
 * are used). Returns 0, OWB_E_IO / OWB_E_FORMAT with err, OWB_E_USAGE when it holds no eval. */
struct owb_gate_side {
    char path[1024];
    cJSON *docs[4];
    char dirs[4][1024]; /* folder of each doc, for items_file */
    int n_docs;
};
int owb_gate_side_load(struct owb_gate_side *s, const char *path, char err[OWB_ERR_MAX]);
void owb_gate_side_release(struct owb_gate_side *s);
/* A side made from a result document already in memory (e.g. entries of a larger run built by
 * the caller): doc is adopted (freed by owb_gate_side_release), label names the side in messages
 * and items files are looked up relative to dir (NULL: "."). */
void owb_gate_side_from_doc(struct owb_gate_side *s, const char *label, cJSON *doc,
                            const char *dir);

/* Match A and B, refuse mismatched identities, load the paired data, compute n and the MDE of
 * each check. Returns 0, OWB_E_USAGE (no comparable evals, mismatched items/settings), or
 * OWB_E_FORMAT / OWB_E_IO (malformed per-window data, unreadable items file). */
int owb_gate_prepare(struct owb_gate *g, const struct owb_gate_side *a,
                     const struct owb_gate_side *b, const struct owb_gate_cfg *cfg,
                     char err[OWB_ERR_MAX]);
/* Effects, intervals and verdicts (deterministic for cfg->seed). Returns 0 or OWB_E_NOMEM. */
int owb_gate_decide(struct owb_gate *g, const struct owb_gate_cfg *cfg);
void owb_gate_release(struct owb_gate *g);

/* Append the gate's checks to doc's evals[] (name "gate/<check>", kind "gate", verdict, margin,
 * mde, p_value, flips) plus a "gate" entry holding the overall verdict. */
void owb_gate_to_json(const struct owb_gate *g, const struct owb_gate_cfg *cfg, cJSON *doc);

#endif
