/* SPDX-License-Identifier: MIT */
/*
 * ab.c: paired rounds of two commands (results/ab.h): per round the ratio of medians B/A of every
 * matched benchmark (through owb_compare_docs), across rounds the geometric mean ratio with its
 * Student-t interval on the log ratios, the signed-rank test beside it, and a verdict against the
 * threshold.
 */
#include "results/ab.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "results/result.h"
#include "results/stats.h"

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static void row_free(struct owb_ab_row *r)
{
    free(r->name);
    free(r->params);
    free(r->ratio);
    free(r->median_a);
    free(r->median_b);
    free(r->valid_a);
    free(r->valid_b);
}

void owb_ab_release(struct owb_ab *ab)
{
    if (!ab)
        return;
    for (size_t i = 0; i < ab->nrows; i++)
        row_free(&ab->rows[i]);
    free(ab->rows);
    ab->rows = NULL;
    ab->nrows = ab->cap = 0;
}

int owb_ab_init(struct owb_ab *ab, size_t rounds, double threshold_pct, double alpha,
                char err[OWB_ERR_MAX])
{
    memset(ab, 0, sizeof *ab);
    if (rounds < 1 || rounds > 100000) {
        owb_seterr(err, "%zu rounds: expected 1 or more", rounds);
        return OWB_E_USAGE;
    }
    if (!(threshold_pct >= 0) || !isfinite(threshold_pct)) {
        owb_seterr(err, "threshold %g%% is not a finite percentage >= 0", threshold_pct);
        return OWB_E_USAGE;
    }
    if (!(alpha > 0 && alpha < 1)) {
        owb_seterr(err, "alpha %g is not in (0, 1)", alpha);
        return OWB_E_USAGE;
    }
    ab->rounds = rounds;
    ab->threshold_pct = threshold_pct;
    ab->alpha = alpha;
    return OWB_OK;
}

/* The row of (name, params), created (absent in every round so far) when new; NULL on OOM. */
static struct owb_ab_row *row_for(struct owb_ab *ab, const struct owb_compare_row *cr)
{
    for (size_t i = 0; i < ab->nrows; i++)
        if (!strcmp(ab->rows[i].name, cr->name) && !strcmp(ab->rows[i].params, cr->params))
            return &ab->rows[i];
    if (ab->nrows == ab->cap) {
        size_t ncap = ab->cap ? 2 * ab->cap : 16;
        struct owb_ab_row *nr = realloc(ab->rows, ncap * sizeof *nr);
        if (!nr)
            return NULL;
        ab->rows = nr;
        ab->cap = ncap;
    }
    struct owb_ab_row *r = &ab->rows[ab->nrows];
    memset(r, 0, sizeof *r);
    size_t n = ab->rounds;
    r->name = dupstr(cr->name);
    r->params = dupstr(cr->params);
    r->ratio = malloc(n * sizeof *r->ratio);
    r->median_a = malloc(n * sizeof *r->median_a);
    r->median_b = malloc(n * sizeof *r->median_b);
    r->valid_a = calloc(n, sizeof *r->valid_a);
    r->valid_b = calloc(n, sizeof *r->valid_b);
    if (!r->name || !r->params || !r->ratio || !r->median_a || !r->median_b || !r->valid_a ||
        !r->valid_b) {
        row_free(r);
        return NULL;
    }
    for (size_t k = 0; k < n; k++)
        r->ratio[k] = r->median_a[k] = r->median_b[k] = (double)NAN;
    snprintf(r->unit, sizeof r->unit, "%s", cr->unit);
    r->higher_is_better = cr->higher_is_better;
    r->verdict = OWB_VERDICT_INCONCLUSIVE;
    ab->nrows++;
    return r;
}

/* Whether name contains one of the comma-separated parts of only (NULL or "": every name). */
static bool selected(const char *only, const char *name)
{
    if (!only || !*only)
        return true;
    for (const char *p = only; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        for (const char *q = name; len && *q; q++)
            if (!strncmp(q, p, len))
                return true;
        if (!e)
            break;
        p = e + 1;
    }
    return false;
}

int owb_ab_add_round(struct owb_ab *ab, const cJSON *a, const cJSON *b, char err[OWB_ERR_MAX])
{
    struct owb_compare c;
    if (ab->rounds_done >= ab->rounds) {
        owb_seterr(err, "all %zu rounds were added already", ab->rounds);
        return OWB_E_USAGE;
    }
    int rc = owb_compare_docs(a, b, ab->threshold_pct, ab->alpha, &c, err);
    if (rc)
        return rc;
    size_t k = ab->rounds_done;
    for (size_t i = 0; i < c.nrows; i++) {
        const struct owb_compare_row *cr = &c.rows[i];
        if (!selected(ab->only, cr->name))
            continue;
        struct owb_ab_row *r = row_for(ab, cr);
        if (!r) {
            owb_seterr(err, "paired rounds: out of memory");
            owb_compare_release(&c);
            return OWB_E_NOMEM;
        }
        if (strcmp(r->unit, cr->unit) != 0) {
            snprintf(r->round_why, sizeof r->round_why,
                     "round %zu: unit %.20s, earlier rounds %.20s", k + 1, cr->unit, r->unit);
            continue;
        }
        r->ratio[k] = cr->ratio;
        r->median_a[k] = cr->median_a;
        r->median_b[k] = cr->median_b;
        r->valid_a[k] = cr->valid_a;
        r->valid_b[k] = cr->valid_b;
        if (cr->raw_verdict == OWB_VERDICT_INCOMPARABLE && !r->round_why[0])
            snprintf(r->round_why, sizeof r->round_why, "round %zu: %.70s", k + 1, cr->why);
    }
    owb_compare_release(&c);
    ab->rounds_done++;
    return OWB_OK;
}

/* Statistics and verdict of one row over the rounds done. */
static int row_finish(const struct owb_ab *ab, struct owb_ab_row *r)
{
    size_t n = 0, rounds = ab->rounds_done;
    double *l = malloc((rounds ? rounds : 1) * sizeof *l);
    if (!l)
        return OWB_E_NOMEM;
    r->n_worse = 0;
    for (size_t k = 0; k < rounds; k++) {
        double q = r->ratio[k];
        if (!(isfinite(q) && q > 0))
            continue;
        l[n++] = log(q);
        if (r->higher_is_better ? q < 1.0 : q > 1.0)
            r->n_worse++;
    }
    r->n = n;
    r->ratio_gm = r->ratio_lo = r->ratio_hi = r->change_pct = r->p = r->p_adj = r->p_wilcoxon =
        (double)NAN;
    snprintf(r->why, sizeof r->why, "%s", r->round_why);
    if (r->round_why[0] && n == 0) {
        r->verdict = OWB_VERDICT_INCOMPARABLE;
        free(l);
        return OWB_OK;
    }
    double sum = 0.0, ss = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += l[i];
    double mean = n ? sum / (double)n : (double)NAN;
    for (size_t i = 0; i < n; i++)
        ss += (l[i] - mean) * (l[i] - mean);
    if (n >= 1) {
        r->ratio_gm = exp(mean);
        r->change_pct = 100.0 * (r->ratio_gm - 1.0);
    }
    double w;
    int rc = owb_wilcoxon_signed_rank(l, n, &w, &r->p_wilcoxon);
    if (rc) {
        free(l);
        return rc;
    }
    if (n < 2) {
        r->verdict = OWB_VERDICT_INCONCLUSIVE;
        snprintf(r->why, sizeof r->why, "%zu paired round(s), need 2 or more", n);
        free(l);
        return OWB_OK;
    }
    double se = sqrt(ss / (double)(n - 1)) / sqrt((double)n);
    double tc = owb_t_critical(ab->alpha, (double)(n - 1));
    if (se > 0) {
        r->p = owb_t_two_sided_p(mean / se, (double)(n - 1));
        r->ratio_lo = exp(mean - tc * se);
        r->ratio_hi = exp(mean + tc * se);
    } else { /* every round gave the same ratio */
        r->p = mean == 0.0 ? 1.0 : 0.0;
        r->ratio_lo = r->ratio_hi = r->ratio_gm;
    }
    free(l);
    return OWB_OK;
}

/* The verdict of a row with a p-value, from its Holm-adjusted p. */
static void row_verdict(const struct owb_ab *ab, struct owb_ab_row *r)
{
    double thr = ab->threshold_pct / 100.0;
    bool significant = r->p_adj < ab->alpha;
    bool within = r->ratio_lo >= 1.0 - thr && r->ratio_hi <= 1.0 + thr;
    if (significant && fabs(r->change_pct) > ab->threshold_pct) {
        bool worse = r->higher_is_better ? r->ratio_gm < 1.0 : r->ratio_gm > 1.0;
        r->verdict = worse ? OWB_VERDICT_SLOWER : OWB_VERDICT_FASTER;
    } else if (within || significant) {
        r->verdict = OWB_VERDICT_SAME;
    } else {
        r->verdict = OWB_VERDICT_INCONCLUSIVE;
        snprintf(r->why, sizeof r->why,
                 "interval %.3f..%.3f neither excludes 1 nor lies within +-%g%%%s", r->ratio_lo,
                 r->ratio_hi, ab->threshold_pct,
                 r->p < ab->alpha ? " after Holm's correction" : "");
    }
}

static int cmp_p(const void *pa, const void *pb)
{
    const struct owb_ab_row *a = *(const struct owb_ab_row *const *)pa;
    const struct owb_ab_row *b = *(const struct owb_ab_row *const *)pb;
    return (a->p > b->p) - (a->p < b->p);
}

/* Holm's step-down adjustment over the rows with a p-value: the family-wise error over all
 * benchmarks of the run stays at alpha. */
static int holm(struct owb_ab *ab)
{
    size_t m = 0;
    struct owb_ab_row **v = malloc((ab->nrows ? ab->nrows : 1) * sizeof *v);
    if (!v)
        return OWB_E_NOMEM;
    for (size_t i = 0; i < ab->nrows; i++)
        if (isfinite(ab->rows[i].p))
            v[m++] = &ab->rows[i];
    qsort(v, m, sizeof *v, cmp_p);
    double run = 0.0;
    for (size_t i = 0; i < m; i++) {
        run = fmax(run, fmin(1.0, (double)(m - i) * v[i]->p));
        v[i]->p_adj = run;
    }
    free(v);
    return OWB_OK;
}

int owb_ab_finish(struct owb_ab *ab)
{
    int rc;
    ab->n_same = ab->n_faster = ab->n_slower = ab->n_inconclusive = ab->n_incomparable = 0;
    for (size_t i = 0; i < ab->nrows; i++)
        if ((rc = row_finish(ab, &ab->rows[i])))
            return rc;
    if ((rc = holm(ab)))
        return rc;
    for (size_t i = 0; i < ab->nrows; i++) {
        struct owb_ab_row *r = &ab->rows[i];
        if (isfinite(r->p))
            row_verdict(ab, r);
        switch (r->verdict) {
        case OWB_VERDICT_SAME:
            ab->n_same++;
            break;
        case OWB_VERDICT_FASTER:
            ab->n_faster++;
            break;
        case OWB_VERDICT_SLOWER:
            ab->n_slower++;
            break;
        case OWB_VERDICT_INCOMPARABLE:
            ab->n_incomparable++;
            break;
        case OWB_VERDICT_INCONCLUSIVE:
        case OWB_VERDICT_MACHINE: /* not produced here */
            ab->n_inconclusive++;
            break;
        }
    }
    return OWB_OK;
}

bool owb_ab_regressed(const struct owb_ab *ab)
{
    return ab->n_slower > 0;
}

/* ---- output ------------------------------------------------------------------------------- */

static cJSON *num_array(const double *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++) {
        cJSON *x = owb_json_num(v[i]);
        if (!x || !cJSON_AddItemToArray(a, x)) {
            cJSON_Delete(x);
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

static int add_array(cJSON *o, const char *key, const double *v, size_t n)
{
    cJSON *a = num_array(v, n);
    if (!a || !cJSON_AddItemToObject(o, key, a)) {
        cJSON_Delete(a);
        return -1;
    }
    return 0;
}

/* Median of the finite values of v[0..n) (NaN when none or out of memory). */
static double finite_median(const double *v, size_t n)
{
    double *x = malloc((n ? n : 1) * sizeof *x);
    size_t k = 0;
    struct owb_stats st;
    st.median = (double)NAN;
    for (size_t i = 0; x && i < n; i++)
        if (isfinite(v[i]))
            x[k++] = v[i];
    if (k == 0 || owb_stats_compute(x, k, &st))
        st.median = (double)NAN;
    free(x);
    return st.median;
}

static int row_to_doc(const struct owb_ab *ab, const struct owb_ab_row *r, cJSON *doc)
{
    size_t nr = ab->rounds_done;
    char name[512];
    snprintf(name, sizeof name, "ab/%s", r->name);
    cJSON *b = owb_result_add_benchmark(doc, name, "ab");
    if (!b)
        return OWB_E_NOMEM;
    cJSON *params = cJSON_Parse(r->params);
    if (cJSON_IsObject(params))
        cJSON_ReplaceItemInObjectCaseSensitive(b, "params", params);
    else
        cJSON_Delete(params);
    if (owb_result_set_samples(b, "ratio", r->ratio, nr))
        return OWB_E_NOMEM;
    owb_result_metric(b, "ratio_geomean", r->ratio_gm);
    owb_result_metric(b, "ratio_lo", r->ratio_lo);
    owb_result_metric(b, "ratio_hi", r->ratio_hi);
    owb_result_metric(b, "change_pct", r->change_pct);
    owb_result_metric(b, "p_value", r->p);
    owb_result_metric(b, "p_holm", r->p_adj);
    owb_result_metric(b, "p_wilcoxon", r->p_wilcoxon);
    owb_result_metric(b, "rounds", (double)r->n);
    owb_result_metric(b, "rounds_worse", (double)r->n_worse);
    owb_result_metric(b, "median_a", finite_median(r->median_a, nr));
    owb_result_metric(b, "median_b", finite_median(r->median_b, nr));
    for (size_t k = 0; k < nr; k++) {
        char note[96];
        if (isfinite(r->ratio[k]) && (!r->valid_a[k] || !r->valid_b[k])) {
            snprintf(note, sizeof note, "round %zu: %s not valid", k + 1,
                     !r->valid_a[k] && !r->valid_b[k] ? "A and B" : (!r->valid_a[k] ? "A" : "B"));
            owb_result_note(b, note);
        } else if (!isfinite(r->ratio[k])) {
            snprintf(note, sizeof note, "round %zu: no ratio", k + 1);
            owb_result_note(b, note);
        }
    }
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToObject(b, "ab", o)) {
        cJSON_Delete(o);
        return OWB_E_NOMEM;
    }
    if (!cJSON_AddStringToObject(o, "verdict", owb_verdict_name(r->verdict)) ||
        !cJSON_AddStringToObject(o, "unit", r->unit) ||
        !cJSON_AddStringToObject(o, "better", r->higher_is_better ? "higher" : "lower") ||
        !cJSON_AddStringToObject(o, "why", r->why) || add_array(o, "medians_a", r->median_a, nr) ||
        add_array(o, "medians_b", r->median_b, nr))
        return OWB_E_NOMEM;
    return OWB_OK;
}

int owb_ab_to_doc(const struct owb_ab *ab, cJSON *doc)
{
    for (size_t i = 0; i < ab->nrows; i++) {
        int rc = row_to_doc(ab, &ab->rows[i], doc);
        if (rc)
            return rc;
    }
    cJSON *o = cJSON_GetObjectItemCaseSensitive(doc, "ab");
    if (!o && (!(o = cJSON_CreateObject()) || !cJSON_AddItemToObject(doc, "ab", o))) {
        cJSON_Delete(o);
        return OWB_E_NOMEM;
    }
    cJSON *sum = NULL;
    if (owb_json_add_num(o, "threshold_pct", ab->threshold_pct) ||
        owb_json_add_num(o, "alpha", ab->alpha) ||
        owb_json_add_num(o, "rounds", (double)ab->rounds_done) ||
        !cJSON_AddStringToObject(
            o, "rule",
            "per round the ratio of medians B/A; slower/faster when the Student-t test of the log "
            "ratios gives p < alpha after Holm's correction over the benchmarks and the geometric "
            "mean ratio is beyond the threshold; same when its interval lies within the "
            "threshold (or p < alpha below it); else inconclusive") ||
        !(sum = cJSON_AddObjectToObject(o, "summary")) ||
        owb_json_add_num(sum, "same", (double)ab->n_same) ||
        owb_json_add_num(sum, "slower", (double)ab->n_slower) ||
        owb_json_add_num(sum, "faster", (double)ab->n_faster) ||
        owb_json_add_num(sum, "inconclusive", (double)ab->n_inconclusive) ||
        owb_json_add_num(sum, "incomparable", (double)ab->n_incomparable) ||
        !cJSON_AddBoolToObject(o, "regressed", owb_ab_regressed(ab)))
        return OWB_E_NOMEM;
    return OWB_OK;
}

static void fmt_num(char *buf, size_t n, double v)
{
    if (isfinite(v))
        snprintf(buf, n, "%.4g", v);
    else
        snprintf(buf, n, "-");
}

void owb_ab_print(const struct owb_ab *ab, FILE *f)
{
    int w = 9;
    size_t nr = ab->rounds_done;
    for (size_t i = 0; i < ab->nrows; i++) {
        int l = (int)strlen(ab->rows[i].name);
        if (l > w)
            w = l;
    }
    if (w > 60)
        w = 60;
    fprintf(f,
            "verdict per benchmark from the %zu paired rounds: ratio of medians B/A per round; "
            "slower/faster\nwhen the t-test of the log ratios gives p < %g (Holm-adjusted over the "
            "benchmarks: 'p Holm')\nand the geometric mean moved more than %g%%; same when its "
            "%g%% interval lies within +-%g%%;\nelse inconclusive\n\n",
            nr, ab->alpha, ab->threshold_pct, 100.0 * (1.0 - ab->alpha), ab->threshold_pct);
    fprintf(f, "%-*s  %-8s %6s %11s %11s %8s  %-19s %8s %6s  %s\n", w, "benchmark", "unit",
            "rounds", "median A", "median B", "B/A", "B/A interval", "p Holm", "worse", "verdict");
    for (size_t i = 0; i < ab->nrows; i++) {
        const struct owb_ab_row *r = &ab->rows[i];
        char ma[24], mb[24], g[24], lo[24], hi[24], p[24], range[64], worse[24];
        fmt_num(ma, sizeof ma, finite_median(r->median_a, nr));
        fmt_num(mb, sizeof mb, finite_median(r->median_b, nr));
        fmt_num(g, sizeof g, r->ratio_gm);
        fmt_num(lo, sizeof lo, r->ratio_lo);
        fmt_num(hi, sizeof hi, r->ratio_hi);
        if (isfinite(r->p_adj))
            snprintf(p, sizeof p, "%.2g", r->p_adj);
        else
            snprintf(p, sizeof p, "-");
        snprintf(range, sizeof range, "[%s, %s]", lo, hi);
        snprintf(worse, sizeof worse, "%zu/%zu", r->n_worse, r->n);
        fprintf(f, "%-*.*s  %-8.8s %6zu %11s %11s %8s  %-19s %8s %6s  %s", w, w, r->name, r->unit,
                r->n, ma, mb, g, range, p, worse, owb_verdict_name(r->verdict));
        if (r->why[0] && r->verdict != OWB_VERDICT_SAME)
            fprintf(f, " (%s)", r->why);
        fputc('\n', f);
    }
    fprintf(f,
            "\n%zu benchmarks: %zu same, %zu slower, %zu faster, %zu inconclusive, %zu "
            "incomparable\n",
            ab->nrows, ab->n_same, ab->n_slower, ab->n_faster, ab->n_inconclusive,
            ab->n_incomparable);
}
