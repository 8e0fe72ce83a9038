/* SPDX-License-Identifier: MIT */
/*
 * gate.c: loading the two sides, matching their evals by identity, reading the paired data
 * (per-window arrays from the result, per-item correctness from the items files) and the
 * three-way decisions.
 */
#define _POSIX_C_SOURCE 200809L
#include "evals/gate.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/text.h"
#include "evals/evstats.h"
#include "evals/ppl.h"
#include "results/result.h"

const char *owb_gate_verdict_name(enum owb_gate_verdict v)
{
    return v == OWB_VERDICT_PASS ? "PASS" : v == OWB_VERDICT_FAIL ? "FAIL" : "INCONCLUSIVE";
}

int owb_gate_verdict_exit(enum owb_gate_verdict v)
{
    return v == OWB_VERDICT_PASS   ? OWB_EXIT_OK
           : v == OWB_VERDICT_FAIL ? OWB_EXIT_REGRESSION
                                   : OWB_EXIT_INCONCLUSIVE;
}

void owb_gate_cfg_default(struct owb_gate_cfg *c)
{
    c->max_ppl_ratio = 1.01;
    c->max_kld = 0.01;
    c->max_acc_drop = 0.01;
    c->alpha = 0.05;
    c->power = 0.8;
    c->boot_reps = 2000;
    c->seed = 1;
    c->min_windows = 10;
}

/* ---- sides ---- */

void owb_gate_side_release(struct owb_gate_side *s)
{
    for (int i = 0; i < s->n_docs; i++)
        cJSON_Delete(s->docs[i]);
    memset(s, 0, sizeof *s);
}

void owb_gate_side_from_doc(struct owb_gate_side *s, const char *label, cJSON *doc, const char *dir)
{
    memset(s, 0, sizeof *s);
    snprintf(s->path, sizeof s->path, "%s", label);
    s->docs[0] = doc;
    snprintf(s->dirs[0], sizeof s->dirs[0], "%s", dir ? dir : ".");
    s->n_docs = 1;
}

static int add_doc(struct owb_gate_side *s, const char *file, const char *dir,
                   char err[OWB_ERR_MAX])
{
    cJSON *doc = NULL;
    int rc = owb_result_read(file, &doc, err);
    if (rc)
        return rc;
    s->docs[s->n_docs] = doc;
    snprintf(s->dirs[s->n_docs], sizeof s->dirs[0], "%s", dir);
    s->n_docs++;
    return OWB_OK;
}

int owb_gate_side_load(struct owb_gate_side *s, const char *path, char err[OWB_ERR_MAX])
{
    struct stat st;
    int rc = OWB_OK;
    memset(s, 0, sizeof *s);
    snprintf(s->path, sizeof s->path, "%s", path);
    if (stat(path, &st)) {
        snprintf(err, OWB_ERR_MAX, "%.400s: %s", path, strerror(errno));
        return OWB_E_IO;
    }
    if (S_ISDIR(st.st_mode)) {
        static const char *const names[] = {"ppl.json", "kld.json", "mc.json"};
        for (size_t i = 0; i < OWB_ARRAY_LEN(names); i++) {
            char f[1100];
            snprintf(f, sizeof f, "%s/%s", path, names[i]);
            if (access(f, F_OK) == 0 && (rc = add_doc(s, f, path, err)))
                goto fail;
        }
        if (!s->n_docs) {
            snprintf(err, OWB_ERR_MAX,
                     "%.400s: holds no eval result (ppl.json, kld.json or mc.json)", path);
            return OWB_E_USAGE;
        }
        return OWB_OK;
    }
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    if ((rc = add_doc(s, path, dir, err)))
        goto fail;
    return OWB_OK;
fail:
    owb_gate_side_release(s);
    return rc;
}

/* ---- matching ---- */

struct entry {
    const cJSON *e;
    const char *kind;
    int doc;
};

static int list_entries(const struct owb_gate_side *s, struct entry *out, int cap)
{
    int n = 0;
    for (int d = 0; d < s->n_docs; d++) {
        const cJSON *ev = NULL, *evals = cJSON_GetObjectItemCaseSensitive(s->docs[d], "evals");
        cJSON_ArrayForEach(ev, evals)
        {
            const cJSON *k = cJSON_GetObjectItemCaseSensitive(ev, "kind");
            if (cJSON_IsString(k) && n < cap &&
                (!strcmp(k->valuestring, "ppl") || !strcmp(k->valuestring, "kld") ||
                 !strcmp(k->valuestring, "mc")))
                out[n++] = (struct entry){ev, k->valuestring, d};
        }
    }
    return n;
}

static const char *const window_keys[] = {"text_sha256", "tokenizer_sha256", "n_ctx",
                                          "first",       "n_windows",        "bos_per_window",
                                          "bos",         "n_text_tokens"};
static const char *const mc_keys[] = {"task_sha256", "format", "n_items",
                                      "limit",       "seed",   "items_sha256"};

/* First identity key whose values differ, or NULL. */
static const char *ident_diff(const cJSON *ea, const cJSON *eb, const char *const *keys, size_t n)
{
    const cJSON *ia = cJSON_GetObjectItemCaseSensitive(ea, "identity");
    const cJSON *ib = cJSON_GetObjectItemCaseSensitive(eb, "identity");
    for (size_t i = 0; i < n; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(ia, keys[i]);
        const cJSON *y = cJSON_GetObjectItemCaseSensitive(ib, keys[i]);
        if (!x || !y || !cJSON_Compare(x, y, true))
            return keys[i];
    }
    return NULL;
}

static void describe(const cJSON *e, const char *key, char *buf, size_t n)
{
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(e, "identity"), key);
    char *s = v && !cJSON_IsString(v) ? cJSON_PrintUnformatted(v) : NULL;
    const char *t = cJSON_IsString(v) ? v->valuestring : s ? s : "missing";
    snprintf(buf, n, "%.16s%s", t, strlen(t) > 16 ? "..." : "");
    free(s);
}

static int refuse(const struct owb_gate_side *a, const struct owb_gate_side *b, const cJSON *ea,
                  const cJSON *eb, const char *key, const char *what, char err[OWB_ERR_MAX])
{
    char va[48], vb[48];
    describe(ea, key, va, sizeof va);
    describe(eb, key, vb, sizeof vb);
    snprintf(err, OWB_ERR_MAX,
             "%.120s and %.120s were not scored on the same %.20s: %.20s differs (%s vs %s); a "
             "paired comparison needs the same items and settings",
             a->path, b->path, what, key, va, vb);
    return OWB_E_USAGE;
}

/* Read windows.<key> of e as n numbers into a new array. */
static int read_arr(const cJSON *e, const char *key, int64_t n, double **out, const char *side,
                    char err[OWB_ERR_MAX])
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(e, "windows");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(w, key), *v = NULL;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
    *out = NULL;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) {
        snprintf(err, OWB_ERR_MAX,
                 "%.300s: eval %.80s: windows.%s must be an array of %lld numbers", side,
                 cJSON_IsString(name) ? name->valuestring : "?", key, (long long)n);
        return OWB_E_FORMAT;
    }
    double *x = malloc((size_t)(n ? n : 1) * sizeof *x);
    if (!x)
        return OWB_E_NOMEM;
    int64_t i = 0;
    cJSON_ArrayForEach(v, a)
    {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
            snprintf(err, OWB_ERR_MAX,
                     "%.300s: eval %.80s: windows.%s[%lld] is not a finite number", side,
                     cJSON_IsString(name) ? name->valuestring : "?", key, (long long)i);
            free(x);
            return OWB_E_FORMAT;
        }
        x[i++] = v->valuedouble;
    }
    *out = x;
    return OWB_OK;
}

static int64_t n_windows_of(const cJSON *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(e, "identity"), "n_windows");
    return cJSON_IsNumber(v) && v->valuedouble >= 0 ? (int64_t)v->valuedouble : -1;
}

/* Items file: id -> correct, correct_norm. */
struct item {
    char *id;
    unsigned char ok, ok_norm;
};

static int cmp_item(const void *a, const void *b)
{
    return strcmp(((const struct item *)a)->id, ((const struct item *)b)->id);
}

static void free_items(struct item *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].id);
    free(v);
}

static int read_items(const struct owb_gate_side *s, int doc, const cJSON *e, struct item **out,
                      size_t *n_out, char err[OWB_ERR_MAX])
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(e, "items_file");
    char path[2200], *buf = NULL;
    size_t len = 0, n = 0, cap = 0;
    struct item *v = NULL;
    int rc;
    *out = NULL;
    *n_out = 0;
    if (!cJSON_IsString(f)) {
        snprintf(err, OWB_ERR_MAX, "%.400s: the mc eval has no items_file", s->path);
        return OWB_E_FORMAT;
    }
    if (f->valuestring[0] == '/')
        snprintf(path, sizeof path, "%s", f->valuestring);
    else
        snprintf(path, sizeof path, "%s/%s", s->dirs[doc], f->valuestring);
    if ((rc = owb_text_read(path, 0, &buf, &len, err)))
        return rc;
    char *save = NULL;
    size_t line = 0;
    for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        line++;
        cJSON *o = cJSON_Parse(l);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
        const cJSON *c1 = cJSON_GetObjectItemCaseSensitive(o, "correct");
        const cJSON *c2 = cJSON_GetObjectItemCaseSensitive(o, "correct_norm");
        if (!cJSON_IsString(id) || !cJSON_IsBool(c1) || !cJSON_IsBool(c2)) {
            cJSON_Delete(o);
            snprintf(err, OWB_ERR_MAX,
                     "%.400s:%zu: expected an object with \"id\", \"correct\", \"correct_norm\"",
                     path, line);
            rc = OWB_E_FORMAT;
            goto fail;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            struct item *nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                cJSON_Delete(o);
                rc = OWB_E_NOMEM;
                goto fail;
            }
            v = nv;
        }
        v[n].id = malloc(strlen(id->valuestring) + 1);
        if (!v[n].id) {
            cJSON_Delete(o);
            rc = OWB_E_NOMEM;
            goto fail;
        }
        strcpy(v[n].id, id->valuestring);
        v[n].ok = cJSON_IsTrue(c1);
        v[n].ok_norm = cJSON_IsTrue(c2);
        n++;
        cJSON_Delete(o);
    }
    qsort(v, n, sizeof *v, cmp_item);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(v[i].id, v[i - 1].id)) {
            snprintf(err, OWB_ERR_MAX, "%.400s: item id \"%.60s\" appears twice", path, v[i].id);
            rc = OWB_E_FORMAT;
            goto fail;
        }
    free(buf);
    *out = v;
    *n_out = n;
    return OWB_OK;
fail:
    if (rc == OWB_E_NOMEM)
        snprintf(err, OWB_ERR_MAX, "%.400s: out of memory", path);
    free(buf);
    free_items(v, n);
    return rc;
}

void owb_gate_release(struct owb_gate *g)
{
    for (int i = 0; i < g->n_checks; i++) {
        struct owb_gate_check *c = &g->checks[i];
        free(c->x);
        free(c->y);
        free(c->den);
        free(c->ra);
        free(c->rb);
    }
    memset(g, 0, sizeof *g);
}

static struct owb_gate_check *new_check(struct owb_gate *g, enum owb_gate_kind k)
{
    static const char *const names[] = {"ppl", "kld", "acc", "acc_norm"};
    static const char *const desc[] = {"ln(PPL_B/PPL_A)", "mean KLD(base||B), nats",
                                       "accuracy drop A-B", "acc_norm drop A-B"};
    struct owb_gate_check *c = &g->checks[g->n_checks++];
    memset(c, 0, sizeof *c);
    c->kind = k;
    c->name = names[k];
    c->effect_desc = desc[k];
    c->effect = c->lo = c->hi = c->p_value = c->mde = c->mde_indep = NAN;
    return c;
}

static void note(struct owb_gate *g, const char *msg)
{
    if (g->n_notes < 4)
        snprintf(g->notes[g->n_notes++], sizeof g->notes[0], "%s", msg);
}

/* Bootstrap of sum(num)/sum(den) for the MDE (se) and the decision (est, lo, hi). */
static int boot(const struct owb_gate_check *c, const struct owb_gate_cfg *cfg, double *est,
                double *lo, double *hi, double *se)
{
    double *num = malloc((size_t)c->n * sizeof *num);
    if (!num)
        return OWB_E_NOMEM;
    for (int64_t i = 0; i < c->n; i++)
        num[i] = c->kind == OWB_GATE_PPL ? c->y[i] - c->x[i] : c->x[i];
    struct owb_boot_cfg bc = {cfg->boot_reps, 0, cfg->seed, cfg->alpha};
    int rc = owb_boot_ratio(num, c->den, c->n, &bc, est, lo, hi, se);
    free(num);
    return rc;
}

static int prepare_windows(struct owb_gate *g, const struct owb_gate_side *a,
                           const struct owb_gate_side *b, const struct entry *ea, int na,
                           const struct entry *eb, int nb, const struct owb_gate_cfg *cfg,
                           char err[OWB_ERR_MAX])
{
    const struct entry *pa = NULL, *pb = NULL, *fa = NULL, *fb = NULL, *kb = NULL;
    int rc;
    for (int j = 0; j < nb; j++) {
        if (!strcmp(eb[j].kind, "mc"))
            continue;
        if (!strcmp(eb[j].kind, "kld") && !kb)
            kb = &eb[j];
        for (int i = 0; i < na; i++) {
            if (!strcmp(ea[i].kind, "mc"))
                continue;
            if (!fa) {
                fa = &ea[i];
                fb = &eb[j];
            }
            if (!pa && !ident_diff(ea[i].e, eb[j].e, window_keys, OWB_ARRAY_LEN(window_keys))) {
                pa = &ea[i];
                pb = &eb[j];
            }
        }
    }
    if (fa && !pa)
        return refuse(a, b, fa->e, fb->e,
                      ident_diff(fa->e, fb->e, window_keys, OWB_ARRAY_LEN(window_keys)),
                      "text windows", err);
    if (pa) {
        /* Prefer B's kld entry as the partner when it matches too (same data either way). */
        struct owb_gate_check *c = new_check(g, OWB_GATE_PPL);
        c->n = n_windows_of(pa->e);
        double *cb = NULL;
        if ((rc = read_arr(pa->e, "nll", c->n, &c->x, a->path, err)) ||
            (rc = read_arr(pb->e, "nll", c->n, &c->y, b->path, err)) ||
            (rc = read_arr(pa->e, "count", c->n, &c->den, a->path, err)) ||
            (rc = read_arr(pb->e, "count", c->n, &cb, b->path, err)))
            return rc;
        for (int64_t i = 0; i < c->n; i++) {
            c->n_tokens += (int64_t)c->den[i];
            if (cb[i] != c->den[i]) {
                free(cb);
                snprintf(err, OWB_ERR_MAX,
                         "%.200s and %.200s: window %lld scored %g vs %g tokens; the results are "
                         "not paired",
                         a->path, b->path, (long long)i, c->den[i], cb[i]);
                return OWB_E_USAGE;
            }
        }
        free(cb);
        c->margin = log(cfg->max_ppl_ratio);
    }
    if (kb) {
        if (fa) {
            /* B's kld must be on A's windows. */
            const struct entry *m = NULL;
            for (int i = 0; i < na && !m; i++)
                if (strcmp(ea[i].kind, "mc") &&
                    !ident_diff(ea[i].e, kb->e, window_keys, OWB_ARRAY_LEN(window_keys)))
                    m = &ea[i];
            if (!m)
                return refuse(a, b, fa->e, kb->e,
                              ident_diff(fa->e, kb->e, window_keys, OWB_ARRAY_LEN(window_keys)),
                              "text windows", err);
        } else {
            note(g, "the baseline has no window-based eval: the candidate's KLD is checked "
                    "against the margin without a paired baseline");
        }
        struct owb_gate_check *c = new_check(g, OWB_GATE_KLD);
        c->n = n_windows_of(kb->e);
        if ((rc = read_arr(kb->e, "kld", c->n, &c->x, b->path, err)) ||
            (rc = read_arr(kb->e, "count", c->n, &c->den, b->path, err)))
            return rc;
        for (int64_t i = 0; i < c->n; i++)
            c->n_tokens += (int64_t)c->den[i];
        c->margin = cfg->max_kld;
    }
    return OWB_OK;
}

static int prepare_mc(struct owb_gate *g, const struct owb_gate_side *a,
                      const struct owb_gate_side *b, const struct entry *ea, int na,
                      const struct entry *eb, int nb, const struct owb_gate_cfg *cfg,
                      char err[OWB_ERR_MAX])
{
    const struct entry *pa = NULL, *pb = NULL;
    struct item *ia = NULL, *ib = NULL;
    size_t nia = 0, nib = 0;
    int rc;
    for (int i = 0; i < na && !pa; i++)
        if (!strcmp(ea[i].kind, "mc"))
            pa = &ea[i];
    for (int j = 0; j < nb && !pb; j++)
        if (!strcmp(eb[j].kind, "mc"))
            pb = &eb[j];
    if (!pa || !pb)
        return OWB_OK;
    const char *d = ident_diff(pa->e, pb->e, mc_keys, OWB_ARRAY_LEN(mc_keys));
    if (d)
        return refuse(a, b, pa->e, pb->e, d, "task items", err);
    if ((rc = read_items(a, pa->doc, pa->e, &ia, &nia, err)) ||
        (rc = read_items(b, pb->doc, pb->e, &ib, &nib, err)))
        goto out;
    if (nia != nib) {
        snprintf(err, OWB_ERR_MAX, "%.200s has %zu scored items, %.200s has %zu; not paired",
                 a->path, nia, b->path, nib);
        rc = OWB_E_USAGE;
        goto out;
    }
    for (size_t i = 0; i < nia; i++)
        if (strcmp(ia[i].id, ib[i].id)) {
            snprintf(err, OWB_ERR_MAX,
                     "%.180s and %.180s scored different items (\"%.40s\" vs \"%.40s\")", a->path,
                     b->path, ia[i].id, ib[i].id);
            rc = OWB_E_USAGE;
            goto out;
        }
    for (int k = 0; k < 2; k++) {
        struct owb_gate_check *c = new_check(g, k ? OWB_GATE_ACC_NORM : OWB_GATE_ACC);
        c->n = (int64_t)nia;
        c->ra = malloc(nia ? nia : 1);
        c->rb = malloc(nia ? nia : 1);
        if (!c->ra || !c->rb) {
            rc = OWB_E_NOMEM;
            snprintf(err, OWB_ERR_MAX, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < nia; i++) {
            c->ra[i] = k ? ia[i].ok_norm : ia[i].ok;
            c->rb[i] = k ? ib[i].ok_norm : ib[i].ok;
        }
        c->margin = cfg->max_acc_drop;
    }
out:
    free_items(ia, nia);
    free_items(ib, nib);
    return rc;
}

int owb_gate_prepare(struct owb_gate *g, const struct owb_gate_side *a,
                     const struct owb_gate_side *b, const struct owb_gate_cfg *cfg,
                     char err[OWB_ERR_MAX])
{
    struct entry ea[16], eb[16];
    int rc;
    memset(g, 0, sizeof *g);
    int na = list_entries(a, ea, 16), nb = list_entries(b, eb, 16);
    if ((rc = prepare_windows(g, a, b, ea, na, eb, nb, cfg, err)) ||
        (rc = prepare_mc(g, a, b, ea, na, eb, nb, cfg, err))) {
        owb_gate_release(g);
        return rc;
    }
    if (!g->n_checks) {
        snprintf(err, OWB_ERR_MAX,
                 "%.150s and %.150s have no evals that can be compared (need ppl/kld results on "
                 "the same text or mc results on the same items)",
                 a->path, b->path);
        return OWB_E_USAGE;
    }
    double z = owb_norm_quantile(1 - cfg->alpha / 2) + owb_norm_quantile(cfg->power);
    for (int i = 0; i < g->n_checks; i++) {
        struct owb_gate_check *c = &g->checks[i];
        if (c->kind == OWB_GATE_PPL || c->kind == OWB_GATE_KLD) {
            double est, lo, hi, se;
            if ((rc = boot(c, cfg, &est, &lo, &hi, &se))) {
                snprintf(err, OWB_ERR_MAX, "out of memory");
                owb_gate_release(g);
                return rc;
            }
            c->mde = z * se;
        } else {
            int64_t disc = 0, ok = 0;
            for (int64_t j = 0; j < c->n; j++) {
                disc += c->ra[j] != c->rb[j];
                ok += c->ra[j] + c->rb[j];
            }
            double nn = (double)c->n, pbar = c->n ? (double)ok / (2 * nn) : 0;
            c->mde = c->n ? z * sqrt((double)disc / nn / nn) : (double)NAN;
            c->mde_indep = c->n ? z * sqrt(2 * pbar * (1 - pbar) / nn) : (double)NAN;
        }
    }
    return OWB_OK;
}

int owb_gate_decide(struct owb_gate *g, const struct owb_gate_cfg *cfg)
{
    bool any_fail = false, any_inc = false;
    for (int i = 0; i < g->n_checks; i++) {
        struct owb_gate_check *c = &g->checks[i];
        if (c->kind == OWB_GATE_PPL || c->kind == OWB_GATE_KLD) {
            double se;
            if (boot(c, cfg, &c->effect, &c->lo, &c->hi, &se))
                return OWB_E_NOMEM;
        } else {
            int64_t a = 0, b = 0, cc = 0, d = 0;
            for (int64_t j = 0; j < c->n; j++) {
                if (c->ra[j] && c->rb[j])
                    a++;
                else if (c->ra[j])
                    b++;
                else if (c->rb[j])
                    cc++;
                else
                    d++;
            }
            c->flips_worse = b;
            c->flips_better = cc;
            c->effect = c->n ? (double)(b - cc) / (double)c->n : (double)NAN;
            (void)a;
            (void)d;
            owb_bonett_price_paired(b, cc, c->n, cfg->alpha, &c->lo, &c->hi);
            c->p_value = owb_mcnemar_exact_p(b, cc);
        }
        bool boot_check = c->kind == OWB_GATE_PPL || c->kind == OWB_GATE_KLD;
        if (c->n == 0 || (boot_check && c->n < cfg->min_windows)) {
            c->verdict = OWB_VERDICT_INCONCLUSIVE;
            snprintf(c->why, sizeof c->why,
                     "n = %lld %s is too small for an interval (need at least %lld)",
                     (long long)c->n, boot_check ? "windows" : "items",
                     (long long)(boot_check ? cfg->min_windows : 1));
        } else if (!(c->hi >= c->lo)) {
            c->verdict = OWB_VERDICT_INCONCLUSIVE;
            snprintf(c->why, sizeof c->why, "the interval is undefined");
        } else if (c->kind == OWB_GATE_PPL && c->hi < c->margin) {
            c->verdict = OWB_VERDICT_PASS;
            snprintf(c->why, sizeof c->why,
                     "upper %.0f%% bound of the PPL ratio %.5f is below the margin %.5f",
                     100 * (1 - cfg->alpha), exp(c->hi), exp(c->margin));
        } else if (c->kind == OWB_GATE_PPL && c->lo > c->margin) {
            c->verdict = OWB_VERDICT_FAIL;
            snprintf(c->why, sizeof c->why,
                     "lower %.0f%% bound of the PPL ratio %.5f is above the margin %.5f",
                     100 * (1 - cfg->alpha), exp(c->lo), exp(c->margin));
        } else if (c->hi < c->margin) {
            c->verdict = OWB_VERDICT_PASS;
            snprintf(c->why, sizeof c->why, "upper %.0f%% bound %.4g is below the margin %.4g",
                     100 * (1 - cfg->alpha), c->hi, c->margin);
        } else if (c->lo > c->margin) {
            c->verdict = OWB_VERDICT_FAIL;
            snprintf(c->why, sizeof c->why, "lower %.0f%% bound %.4g is above the margin %.4g",
                     100 * (1 - cfg->alpha), c->lo, c->margin);
        } else {
            c->verdict = OWB_VERDICT_INCONCLUSIVE;
            snprintf(c->why, sizeof c->why,
                     "the interval [%.4g, %.4g] contains the margin %.4g: more items needed", c->lo,
                     c->hi, c->margin);
        }
        any_fail |= c->verdict == OWB_VERDICT_FAIL;
        any_inc |= c->verdict == OWB_VERDICT_INCONCLUSIVE;
    }
    g->verdict = any_fail  ? OWB_VERDICT_FAIL
                 : any_inc ? OWB_VERDICT_INCONCLUSIVE
                           : OWB_VERDICT_PASS;
    return OWB_OK;
}

void owb_gate_to_json(const struct owb_gate *g, const struct owb_gate_cfg *cfg, cJSON *doc)
{
    cJSON *evals = cJSON_GetObjectItemCaseSensitive(doc, "evals");
    static const char *const metric[] = {"ln_ppl_ratio", "kld_mean", "acc_drop", "acc_norm_drop"};
    if (!evals)
        return;
    for (int i = 0; i < g->n_checks; i++) {
        const struct owb_gate_check *c = &g->checks[i];
        cJSON *e = cJSON_CreateObject();
        char name[32];
        if (!e)
            return;
        snprintf(name, sizeof name, "gate/%s", c->name);
        cJSON_AddStringToObject(e, "name", name);
        cJSON_AddStringToObject(e, "metric", metric[c->kind]);
        owb_json_add_num(e, "value", c->effect);
        owb_json_add_num(e, "ci95_lo", c->lo);
        owb_json_add_num(e, "ci95_hi", c->hi);
        cJSON_AddNumberToObject(e, "n", (double)c->n);
        cJSON_AddNullToObject(e, "items_file");
        cJSON_AddStringToObject(e, "kind", "gate");
        cJSON *s = cJSON_AddObjectToObject(e, "summary");
        if (s) {
            cJSON_AddStringToObject(s, "verdict", owb_gate_verdict_name(c->verdict));
            cJSON_AddStringToObject(s, "why", c->why);
            cJSON_AddStringToObject(s, "effect", c->effect_desc);
            owb_json_add_num(s, "margin", c->margin);
            owb_json_add_num(s, "mde", c->mde);
            owb_json_add_num(s, "mde_independent_errors", c->mde_indep);
            owb_json_add_num(s, "interval_level", 1 - cfg->alpha);
            owb_json_add_num(s, "mcnemar_p", c->p_value);
            cJSON_AddNumberToObject(s, "flips_worse", (double)c->flips_worse);
            cJSON_AddNumberToObject(s, "flips_better", (double)c->flips_better);
            cJSON_AddNumberToObject(s, "n_tokens", (double)c->n_tokens);
        }
        cJSON_AddItemToArray(evals, e);
    }
    cJSON *e = cJSON_CreateObject();
    if (!e)
        return;
    cJSON_AddStringToObject(e, "name", "gate");
    cJSON_AddStringToObject(e, "metric", "verdict_exit_code");
    cJSON_AddNumberToObject(e, "value", owb_gate_verdict_exit(g->verdict));
    cJSON_AddStringToObject(e, "kind", "gate");
    cJSON_AddStringToObject(e, "verdict", owb_gate_verdict_name(g->verdict));
    cJSON *p = cJSON_AddObjectToObject(e, "params");
    if (p) {
        owb_json_add_num(p, "max_ppl_ratio", cfg->max_ppl_ratio);
        owb_json_add_num(p, "max_kld", cfg->max_kld);
        owb_json_add_num(p, "max_acc_drop", cfg->max_acc_drop);
        owb_json_add_num(p, "alpha", cfg->alpha);
        owb_json_add_num(p, "power", cfg->power);
        cJSON_AddNumberToObject(p, "bootstrap_reps", cfg->boot_reps);
        cJSON_AddNumberToObject(p, "seed", (double)cfg->seed);
        cJSON_AddNumberToObject(p, "min_windows", (double)cfg->min_windows);
    }
    cJSON *notes = cJSON_AddArrayToObject(e, "notes");
    for (int i = 0; notes && i < g->n_notes; i++)
        cJSON_AddItemToArray(notes, cJSON_CreateString(g->notes[i]));
    cJSON_AddItemToArray(evals, e);
}
