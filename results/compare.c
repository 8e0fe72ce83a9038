/* SPDX-License-Identifier: MIT */
/*
 * compare.c: A/B comparison of two result documents (results/compare.h): matching benchmarks by
 * name and canonical params, medians and their order-statistic CIs, the Mann-Whitney U test on the
 * raw samples, and a verdict that needs both a change over the threshold and significance.
 */
#include "results/compare.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "results/result.h"
#include "results/stats.h"

/* ---- canonical JSON (keys sorted) for matching params ------------------------------------ */

struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 64;
        while (ncap < b->len + n + 1)
            ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_json_string(struct sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        char esc[8];
        if (*q == '"' || *q == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*q;
            sb_put(b, esc, 2);
        } else if (*q < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *q);
            sb_str(b, esc);
        } else {
            sb_put(b, (const char *)q, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static int cmp_member(const void *pa, const void *pb)
{
    const cJSON *a = *(const cJSON *const *)pa, *b = *(const cJSON *const *)pb;
    return strcmp(a->string ? a->string : "", b->string ? b->string : "");
}

static void canonical(struct sbuf *b, const cJSON *j)
{
    if (!j || cJSON_IsNull(j)) {
        sb_str(b, "null");
    } else if (cJSON_IsTrue(j)) {
        sb_str(b, "true");
    } else if (cJSON_IsFalse(j)) {
        sb_str(b, "false");
    } else if (cJSON_IsNumber(j)) {
        char num[40];
        if (isfinite(j->valuedouble))
            snprintf(num, sizeof num, "%.17g", j->valuedouble);
        else
            snprintf(num, sizeof num, "null");
        sb_str(b, num);
    } else if (cJSON_IsString(j)) {
        sb_json_string(b, j->valuestring);
    } else if (cJSON_IsArray(j)) {
        sb_put(b, "[", 1);
        const cJSON *it;
        int first = 1;
        cJSON_ArrayForEach(it, j)
        {
            if (!first)
                sb_put(b, ",", 1);
            first = 0;
            canonical(b, it);
        }
        sb_put(b, "]", 1);
    } else if (cJSON_IsObject(j)) {
        size_t n = (size_t)cJSON_GetArraySize(j), i = 0;
        const cJSON **m = n ? malloc(n * sizeof *m) : NULL;
        if (n && !m) {
            b->oom = 1;
            return;
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, j) m[i++] = it;
        if (n)
            qsort(m, n, sizeof *m, cmp_member);
        sb_put(b, "{", 1);
        for (i = 0; i < n; i++) {
            if (i)
                sb_put(b, ",", 1);
            sb_json_string(b, m[i]->string ? m[i]->string : "");
            sb_put(b, ":", 1);
            canonical(b, m[i]);
        }
        sb_put(b, "}", 1);
        free(m);
    } else {
        sb_str(b, "null");
    }
}

/* Params that say which measurement of the run a figure was held against, not what was measured:
 * they differ between runs of the same case (the best read ceiling may be the one before or after
 * the suite), so the key leaves them out. */
static const char *const annotation_params[] = {"ceiling", "compute_peak_from"};

static bool is_annotation(const char *key)
{
    for (size_t i = 0; i < OWB_ARRAY_LEN(annotation_params); i++)
        if (key && !strcmp(key, annotation_params[i]))
            return true;
    return false;
}

/* Canonical params of a benchmark without the annotation params ("{}" when absent); NULL on
 * allocation failure. */
static char *canonical_params(const cJSON *bench)
{
    struct sbuf b = {0};
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(bench, "params");
    cJSON *copy = NULL;
    if (cJSON_IsObject(params)) {
        const cJSON *it;
        bool any = false;
        cJSON_ArrayForEach(it, params) any |= is_annotation(it->string);
        if (any) {
            if (!(copy = cJSON_Duplicate(params, 1)))
                return NULL;
            for (size_t i = 0; i < OWB_ARRAY_LEN(annotation_params); i++)
                cJSON_DeleteItemFromObjectCaseSensitive(copy, annotation_params[i]);
            params = copy;
        }
    }
    if (params)
        canonical(&b, params);
    else
        sb_str(&b, "{}");
    cJSON_Delete(copy);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* ---- units -------------------------------------------------------------------------------- */

/* Nanoseconds per unit for time units, 0 for anything else. */
static double time_unit_ns(const char *u)
{
    static const struct {
        const char *name;
        double ns;
    } t[] = {{"ns", 1.0}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}};
    for (size_t i = 0; i < OWB_ARRAY_LEN(t); i++)
        if (!strcmp(u, t[i].name))
            return t[i].ns;
    return 0.0;
}

static bool is_rate_unit(const char *u)
{
    size_t n = strlen(u);
    return (n > 6 && !strcmp(u + n - 6, "_per_s")) || (n > 2 && !strcmp(u + n - 2, "/s"));
}

static const char *bench_unit(const cJSON *bench)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(bench, "samples");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(s, "unit");
    return cJSON_IsString(u) ? u->valuestring : "";
}

/* Finite sample values scaled by `scale`, malloc'd (NULL with *n = 0 when none). */
static int bench_samples(const cJSON *bench, double scale, double **out, size_t *n)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(bench, "samples");
    const cJSON *vals = cJSON_GetObjectItemCaseSensitive(s, "values");
    *out = NULL;
    *n = 0;
    int total = cJSON_IsArray(vals) ? cJSON_GetArraySize(vals) : 0;
    if (total <= 0)
        return OWB_OK;
    double *x = malloc((size_t)total * sizeof *x);
    if (!x)
        return OWB_E_NOMEM;
    const cJSON *v;
    size_t k = 0;
    cJSON_ArrayForEach(v, vals)
    {
        if (cJSON_IsNumber(v) && isfinite(v->valuedouble))
            x[k++] = v->valuedouble * scale;
    }
    if (k == 0) {
        free(x);
        x = NULL;
    }
    *out = x;
    *n = k;
    return OWB_OK;
}

static bool bench_valid(const cJSON *bench)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(bench, "valid");
    return !cJSON_IsFalse(v);
}

/* ---- comparison --------------------------------------------------------------------------- */

const char *owb_verdict_name(enum owb_verdict v)
{
    switch (v) {
    case OWB_VERDICT_SAME:
        return "same";
    case OWB_VERDICT_FASTER:
        return "faster";
    case OWB_VERDICT_SLOWER:
        return "slower";
    case OWB_VERDICT_INCOMPARABLE:
        return "incomparable";
    case OWB_VERDICT_MACHINE:
        return "machine changed";
    case OWB_VERDICT_INCONCLUSIVE:
        return "inconclusive";
    }
    return "?";
}

/* Fill the numbers and verdict of one matched pair. machine is C_B / C_A, the ratio of the two
 * runs' ceilings as rates (1 = raw): B's times are multiplied by it and B's rates divided, which
 * puts B's figures on A's machine. */
static int compare_pair(const cJSON *ba, const cJSON *bb, double thr_pct, double alpha,
                        double machine, struct owb_compare_row *r)
{
    int rc = OWB_OK;
    double *xa = NULL, *xb = NULL;
    const char *ua = bench_unit(ba), *ub = bench_unit(bb);
    double scale_b = 1.0;

    r->median_a = r->median_b = r->ratio = r->ratio_lo = r->ratio_hi = (double)NAN;
    r->ci_a_lo = r->ci_a_hi = r->ci_b_lo = r->ci_b_hi = r->change_pct = r->u = r->p = (double)NAN;
    r->valid_a = bench_valid(ba);
    r->valid_b = bench_valid(bb);
    r->verdict = OWB_VERDICT_INCOMPARABLE;
    snprintf(r->unit, sizeof r->unit, "%s", ua);
    r->higher_is_better = is_rate_unit(ua);

    if (strcmp(ua, ub) != 0) {
        double na = time_unit_ns(ua), nb = time_unit_ns(ub);
        if (na > 0 && nb > 0) {
            scale_b = nb / na;
        } else {
            snprintf(r->why, sizeof r->why, "units differ: %.30s vs %.30s", ua, ub);
            return OWB_OK;
        }
    }
    scale_b *= r->higher_is_better ? 1.0 / machine : machine;
    if ((rc = bench_samples(ba, 1.0, &xa, &r->n_a)) ||
        (rc = bench_samples(bb, scale_b, &xb, &r->n_b)))
        goto out;
    struct owb_stats sa, sb;
    if ((rc = owb_stats_compute(xa, r->n_a, &sa)) || (rc = owb_stats_compute(xb, r->n_b, &sb)))
        goto out;
    r->median_a = sa.median;
    r->median_b = sb.median;
    r->ci_a_lo = sa.ci95_lo;
    r->ci_a_hi = sa.ci95_hi;
    r->ci_b_lo = sb.ci95_lo;
    r->ci_b_hi = sb.ci95_hi;
    if (r->n_a == 0 || r->n_b == 0) {
        snprintf(r->why, sizeof r->why, "no samples in %s", r->n_a == 0 ? "A" : "B");
        goto out;
    }
    rc = owb_mann_whitney(xa, r->n_a, xb, r->n_b, &r->u, &r->p);
    if (rc)
        goto out;
    if (!(sa.median != 0.0)) {
        snprintf(r->why, sizeof r->why, "median of A is 0, no ratio");
        goto out;
    }
    r->ratio = sb.median / sa.median;
    r->change_pct = 100.0 * (sb.median - sa.median) / fabs(sa.median);
    /* Every ratio of a point in B's CI to a point in A's CI; undefined if A's CI spans 0. */
    if (sa.ci95_lo > 0 || sa.ci95_hi < 0) {
        double q[4] = {sb.ci95_lo / sa.ci95_lo, sb.ci95_lo / sa.ci95_hi, sb.ci95_hi / sa.ci95_lo,
                       sb.ci95_hi / sa.ci95_hi};
        r->ratio_lo = fmin(fmin(q[0], q[1]), fmin(q[2], q[3]));
        r->ratio_hi = fmax(fmax(q[0], q[1]), fmax(q[2], q[3]));
    }
    r->verdict = OWB_VERDICT_SAME;
    /* the medians' CIs must not overlap too: with thousands of samples the U test calls a run
     * with bursts of contention significant although its median is not pinned down */
    bool apart = r->ratio_lo > 1.0 || r->ratio_hi < 1.0;
    if (r->p < alpha && fabs(r->change_pct) > thr_pct && apart) {
        bool worse = r->higher_is_better ? r->change_pct < 0 : r->change_pct > 0;
        r->verdict = worse ? OWB_VERDICT_SLOWER : OWB_VERDICT_FASTER;
    }
out:
    free(xa);
    free(xb);
    return rc;
}

/* ---- ceilings: machine change or code change ---------------------------------------------- */

static const cJSON *member(const cJSON *bench, const char *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(bench, obj), key);
}

static double member_num(const cJSON *bench, const char *obj, const char *key)
{
    const cJSON *v = member(bench, obj, key);
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) ? v->valuedouble : (double)NAN;
}

static bool starts_with(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

/* The name of the ceiling benchmark a figure is held against (results/SCHEMA.md): a ceiling
 * (stream/read..., .../peak/...) is its own; a compute-bound case (params.compute_peak) against
 * params.compute_peak_from, else kernels/peak/<kind>/t<threads>; a case with params.ceiling (the
 * read ceiling that gave its figure) against it; a case with a read ceiling
 * (metrics.ceiling_gb_per_s) and every stream case against stream/read/t<threads>. False when it
 * has none. */
static bool ceiling_name(const cJSON *bench, char *buf, size_t n)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(bench, "name");
    const cJSON *suite = cJSON_GetObjectItemCaseSensitive(bench, "suite");
    const cJSON *pc = member(bench, "params", "ceiling");
    const cJSON *peak = member(bench, "params", "compute_peak");
    const cJSON *peak_from = member(bench, "params", "compute_peak_from");
    double threads = member_num(bench, "params", "threads");
    bool has_threads = threads >= 1 && threads < 1e6;
    if (!cJSON_IsString(name))
        return false;
    if (starts_with(name->valuestring, "stream/read") || strstr(name->valuestring, "/peak/")) {
        snprintf(buf, n, "%s", name->valuestring);
        return true;
    }
    if (cJSON_IsString(peak) && peak->valuestring[0]) {
        if (cJSON_IsString(peak_from) && peak_from->valuestring[0])
            snprintf(buf, n, "%s", peak_from->valuestring);
        else if (has_threads)
            snprintf(buf, n, "kernels/peak/%s/t%d", peak->valuestring, (int)threads);
        else
            return false;
        return true;
    }
    if (cJSON_IsString(pc) && pc->valuestring[0]) {
        snprintf(buf, n, "%s", pc->valuestring);
        return true;
    }
    if (has_threads && (isfinite(member_num(bench, "metrics", "ceiling_gb_per_s")) ||
                        (cJSON_IsString(suite) && !strcmp(suite->valuestring, "stream")))) {
        snprintf(buf, n, "stream/read/t%d", (int)threads);
        return true;
    }
    return false;
}

/* A ceiling benchmark's samples as rates: rate units as they are; time samples as work / time,
 * the work per sample being metrics.bytes_per_iter (GB/s) or, for compute peaks,
 * metrics.gop_per_s x the median time (GOP/s). *n = 0 when there are none. */
static int ceiling_rates(const cJSON *bench, double **out, size_t *n, const char **unit)
{
    const char *u = bench_unit(bench);
    double tu = time_unit_ns(u);
    int rc = bench_samples(bench, tu > 0 ? tu : 1.0, out, n);
    if (rc || *n == 0)
        return rc;
    if (is_rate_unit(u)) {
        *unit = !strcmp(u, "gb_per_s") ? "GB/s" : u;
        return OWB_OK;
    }
    if (!(tu > 0)) {
        free(*out);
        *out = NULL;
        *n = 0;
        return OWB_OK;
    }
    double work = member_num(bench, "metrics", "bytes_per_iter");
    *unit = "GB/s";
    if (!(work > 0)) {
        struct owb_stats st;
        double gops = member_num(bench, "metrics", "gop_per_s");
        if ((rc = owb_stats_compute(*out, *n, &st)))
            return rc;
        work = gops * st.median;
        *unit = "GOP/s";
        if (!(work > 0)) {
            work = 1.0;
            *unit = "1/ns";
        }
    }
    for (size_t i = 0; i < *n; i++)
        (*out)[i] = work / (*out)[i];
    return OWB_OK;
}

/* The rates of ceiling `name` in doc: its samples and those of its re-measurement after the suite
 * ("<name>/after"), when the document has one and in the same unit. *n = 0 when it has none. */
static int ceiling_pool(const cJSON *doc, const char *name, double **out, size_t *n,
                        const char **unit)
{
    char after[160];
    double *x2 = NULL;
    size_t n2 = 0;
    const char *u2 = "";
    const cJSON *b1 = owb_result_find_benchmark(doc, name);
    *out = NULL;
    *n = 0;
    if (!b1)
        return OWB_OK;
    int rc = ceiling_rates(b1, out, n, unit);
    snprintf(after, sizeof after, "%s/after", name);
    const cJSON *b2 = owb_result_find_benchmark(doc, after);
    if (rc || !b2 || *n == 0)
        return rc;
    if ((rc = ceiling_rates(b2, &x2, &n2, &u2)) || n2 == 0 || strcmp(u2, *unit) != 0) {
        free(x2);
        return rc;
    }
    double *all = realloc(*out, (*n + n2) * sizeof *all);
    if (!all) {
        free(x2);
        return OWB_E_NOMEM;
    }
    memcpy(all + *n, x2, n2 * sizeof *x2);
    free(x2);
    *out = all;
    *n += n2;
    return OWB_OK;
}

/* Both runs' ceiling from the figures' own metrics, when the ceiling benchmarks are absent (e.g.
 * a run that read its ceiling from another file). The spread is the range of the value and the
 * before/after measurements when both runs recorded them; without it any change over the
 * threshold counts as beyond the spread. */
static bool ceiling_from_metrics(const cJSON *fa, const cJSON *fb, double thr_pct,
                                 struct owb_compare_ceiling *c)
{
    bool peak = strstr(c->name, "/peak/") != NULL;
    const char *med = peak ? "compute_peak_gop_per_s" : "ceiling_gb_per_s_median";
    const char *best = peak ? "compute_peak_gop_per_s" : "ceiling_gb_per_s";
    double va = member_num(fa, "metrics", med), vb = member_num(fb, "metrics", med);
    if (!(va > 0 && vb > 0)) {
        va = member_num(fa, "metrics", best);
        vb = member_num(fb, "metrics", best);
    }
    if (!(va > 0 && vb > 0))
        return false;
    snprintf(c->unit, sizeof c->unit, "%s", peak ? "GOP/s" : "GB/s");
    c->from_metrics = true;
    c->a = c->a_lo = c->a_hi = va;
    c->b = c->b_lo = c->b_hi = vb;
    c->p = (double)NAN;
    c->ratio = vb / va;
    c->change_pct = 100.0 * (vb - va) / va;
    c->over_threshold = fabs(c->change_pct) > thr_pct;
    bool spread = false;
    if (!peak) {
        double ab = member_num(fa, "metrics", "ceiling_gb_per_s_before");
        double aa = member_num(fa, "metrics", "ceiling_gb_per_s_after");
        double bb = member_num(fb, "metrics", "ceiling_gb_per_s_before");
        double ba = member_num(fb, "metrics", "ceiling_gb_per_s_after");
        if (ab > 0 && aa > 0 && bb > 0 && ba > 0) {
            spread = true;
            c->a_lo = fmin(va, fmin(ab, aa));
            c->a_hi = fmax(va, fmax(ab, aa));
            c->b_lo = fmin(vb, fmin(bb, ba));
            c->b_hi = fmax(vb, fmax(bb, ba));
        }
    }
    c->moved = c->over_threshold && (!spread || c->b_hi < c->a_lo || c->b_lo > c->a_hi);
    return true;
}

/* Evaluate the ceiling `name` of the pair (fa in a, fb in b) into c. *found = false when neither
 * its benchmarks nor the figures' metrics give it on both sides. */
static int ceiling_eval(const cJSON *a, const cJSON *b, const cJSON *fa, const cJSON *fb,
                        double thr_pct, double alpha, struct owb_compare_ceiling *c, bool *found)
{
    double *xa = NULL, *xb = NULL;
    size_t na = 0, nb = 0;
    const char *ua = "", *ub = "";
    int rc = OWB_OK;
    *found = false;
    if ((rc = ceiling_pool(a, c->name, &xa, &na, &ua)) ||
        (rc = ceiling_pool(b, c->name, &xb, &nb, &ub)))
        goto out;
    if (na == 0 || nb == 0 || strcmp(ua, ub) != 0) {
        *found = ceiling_from_metrics(fa, fb, thr_pct, c);
        goto out;
    }
    struct owb_stats sa, sb;
    double u;
    if ((rc = owb_stats_compute(xa, na, &sa)) || (rc = owb_stats_compute(xb, nb, &sb)) ||
        (rc = owb_mann_whitney(xa, na, xb, nb, &u, &c->p)))
        goto out;
    if (!(sa.median > 0))
        goto out;
    snprintf(c->unit, sizeof c->unit, "%s", ua);
    c->a = sa.median;
    c->b = sb.median;
    c->a_lo = sa.ci95_lo;
    c->a_hi = sa.ci95_hi;
    c->b_lo = sb.ci95_lo;
    c->b_hi = sb.ci95_hi;
    c->ratio = sb.median / sa.median;
    c->change_pct = 100.0 * (sb.median - sa.median) / sa.median;
    c->over_threshold = fabs(c->change_pct) > thr_pct;
    c->moved = c->p < alpha; /* the test compare itself applies to a figure */
    *found = true;
out:
    free(xa);
    free(xb);
    return rc;
}

/* Index of the ceiling of the pair in out->ceilings, evaluating it on first use; -1 when the
 * figure has none. Returns 0 or OWB_E_NOMEM. */
static int pair_ceiling(const cJSON *a, const cJSON *b, const cJSON *fa, const cJSON *fb,
                        struct owb_compare *out, int *idx)
{
    char name[96];
    *idx = -1;
    if (!ceiling_name(fa, name, sizeof name))
        return OWB_OK;
    for (size_t i = 0; i < out->nceilings; i++)
        if (!strcmp(out->ceilings[i].name, name)) {
            *idx = (int)i;
            return OWB_OK;
        }
    struct owb_compare_ceiling c;
    bool found = false;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "%s", name);
    int rc = ceiling_eval(a, b, fa, fb, out->threshold_pct, out->alpha, &c, &found);
    if (rc || !found)
        return rc;
    struct owb_compare_ceiling *nc =
        realloc(out->ceilings, (out->nceilings + 1) * sizeof *out->ceilings);
    if (!nc)
        return OWB_E_NOMEM;
    out->ceilings = nc;
    out->ceilings[out->nceilings] = c;
    *idx = (int)out->nceilings++;
    return OWB_OK;
}

/* The first note of a benchmark (why it is not valid), or "". */
static const char *first_note(const cJSON *bench)
{
    const cJSON *n = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(bench, "notes"), 0);
    return cJSON_IsString(n) ? n->valuestring : "";
}

/* True for a benchmark that measures the machine rather than the code: the ceilings themselves
 * (stream/read..., .../peak/...) and every case of the stream suite. */
static bool machine_measure(const cJSON *bench)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(bench, "name");
    const cJSON *suite = cJSON_GetObjectItemCaseSensitive(bench, "suite");
    return (cJSON_IsString(suite) && !strcmp(suite->valuestring, "stream")) ||
           (cJSON_IsString(name) &&
            (starts_with(name->valuestring, "stream/") || strstr(name->valuestring, "/peak/")));
}

/* Hold the pair's figures against their runs' ceilings: when the ceiling moved, the verdict on
 * B's samples normalised to A's machine; "machine changed" when only the raw samples differ. */
static int hold_against_ceiling(const cJSON *a, const cJSON *b, const cJSON *fa, const cJSON *fb,
                                struct owb_compare *out, struct owb_compare_row *r)
{
    int idx, rc;
    r->raw_verdict = r->norm_verdict = r->verdict;
    r->ceiling = -1;
    r->norm_median_b = r->norm_ratio = r->norm_change_pct = r->norm_p = (double)NAN;
    if (r->verdict == OWB_VERDICT_INCOMPARABLE)
        return OWB_OK;
    if ((rc = pair_ceiling(a, b, fa, fb, out, &idx)))
        return rc;
    struct owb_compare_ceiling *c = idx >= 0 ? &out->ceilings[idx] : NULL;
    bool differs = r->raw_verdict == OWB_VERDICT_SLOWER || r->raw_verdict == OWB_VERDICT_FASTER;
    r->ceiling = idx;
    if (c)
        c->n_rows++;
    if (differs && machine_measure(fa)) { /* a ceiling or stream case measures the machine */
        r->verdict = OWB_VERDICT_MACHINE;
        if (c)
            c->n_machine++;
        return OWB_OK;
    }
    if (!c || !c->moved)
        return OWB_OK;
    struct owb_compare_row t;
    memset(&t, 0, sizeof t);
    if ((rc = compare_pair(fa, fb, out->threshold_pct, out->alpha, c->ratio, &t)))
        return rc;
    r->normalised = true;
    r->norm_median_b = t.median_b;
    r->norm_ratio = t.ratio;
    r->norm_change_pct = t.change_pct;
    r->norm_p = t.p;
    r->norm_verdict = t.verdict;
    /* the ceiling explains a difference, it never makes one: a raw difference stays only where
     * it remains, in the same direction, against the ceiling */
    if (differs && t.verdict != r->raw_verdict && t.verdict != OWB_VERDICT_INCOMPARABLE) {
        r->verdict = OWB_VERDICT_MACHINE;
        c->n_machine++;
    }
    return OWB_OK;
}

void owb_compare_release(struct owb_compare *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nrows; i++) {
        free(c->rows[i].name);
        free(c->rows[i].params);
    }
    for (size_t i = 0; i < c->n_only_a; i++) {
        free(c->only_a[i].name);
        free(c->only_a[i].params);
    }
    for (size_t i = 0; i < c->n_only_b; i++) {
        free(c->only_b[i].name);
        free(c->only_b[i].params);
    }
    free(c->rows);
    free(c->only_a);
    free(c->only_b);
    free(c->ceilings);
    c->ceilings = NULL;
    c->nceilings = 0;
    c->rows = NULL;
    c->only_a = c->only_b = NULL;
    c->nrows = c->n_only_a = c->n_only_b = 0;
}

struct keyed {
    const cJSON *bench;
    const char *name;
    char *params;
    bool used;
};

/* Name + canonical params of every benchmark of doc; *n entries, malloc'd. */
static int key_benchmarks(const cJSON *doc, const char *label, struct keyed **out, size_t *n,
                          char err[OWB_ERR_MAX])
{
    const cJSON *benches = cJSON_GetObjectItemCaseSensitive(doc, "benchmarks");
    *out = NULL;
    *n = 0;
    if (!cJSON_IsArray(benches)) {
        owb_seterr(err, "%s: no benchmarks array", label);
        return OWB_E_FORMAT;
    }
    size_t total = (size_t)cJSON_GetArraySize(benches);
    struct keyed *k = calloc(total ? total : 1, sizeof *k);
    if (!k)
        goto nomem;
    const cJSON *b;
    size_t i = 0;
    cJSON_ArrayForEach(b, benches)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(b, "name");
        k[i].bench = b;
        k[i].name = cJSON_IsString(name) ? name->valuestring : "";
        if (!(k[i].params = canonical_params(b))) {
            for (size_t j = 0; j < i; j++)
                free(k[j].params);
            free(k);
            goto nomem;
        }
        i++;
    }
    *out = k;
    *n = i;
    return OWB_OK;
nomem:
    owb_seterr(err, "%s: out of memory", label);
    return OWB_E_NOMEM;
}

static void free_keyed(struct keyed *k, size_t n)
{
    for (size_t i = 0; k && i < n; i++)
        free(k[i].params);
    free(k);
}

static int add_only(struct owb_compare_only *arr, size_t *n, const struct keyed *k)
{
    char *name = dupstr(k->name), *params = dupstr(k->params);
    if (!name || !params) {
        free(name);
        free(params);
        return OWB_E_NOMEM;
    }
    arr[*n].name = name;
    arr[*n].params = params;
    (*n)++;
    return OWB_OK;
}

int owb_compare_docs(const cJSON *a, const cJSON *b, double threshold_pct, double alpha,
                     struct owb_compare *out, char err[OWB_ERR_MAX])
{
    int rc;
    struct keyed *ka = NULL, *kb = NULL;
    size_t na = 0, nb = 0;

    memset(out, 0, sizeof *out);
    if (!(threshold_pct >= 0) || !isfinite(threshold_pct)) {
        owb_seterr(err, "threshold %g%% is not a finite percentage >= 0", threshold_pct);
        return OWB_E_USAGE;
    }
    if (!(alpha > 0 && alpha < 1)) {
        owb_seterr(err, "alpha %g is not in (0, 1)", alpha);
        return OWB_E_USAGE;
    }
    out->threshold_pct = threshold_pct;
    out->alpha = alpha;
    if ((rc = key_benchmarks(a, "A", &ka, &na, err)) ||
        (rc = key_benchmarks(b, "B", &kb, &nb, err)))
        goto out;
    out->rows = calloc(na ? na : 1, sizeof *out->rows);
    out->only_a = calloc(na ? na : 1, sizeof *out->only_a);
    out->only_b = calloc(nb ? nb : 1, sizeof *out->only_b);
    if (!out->rows || !out->only_a || !out->only_b)
        goto nomem;

    for (size_t i = 0; i < na; i++) {
        size_t j = 0;
        for (; j < nb; j++)
            if (!kb[j].used && !strcmp(ka[i].name, kb[j].name) &&
                !strcmp(ka[i].params, kb[j].params))
                break;
        if (j == nb) {
            if (add_only(out->only_a, &out->n_only_a, &ka[i]))
                goto nomem;
            continue;
        }
        kb[j].used = true;
        struct owb_compare_row *r = &out->rows[out->nrows];
        if (!(r->name = dupstr(ka[i].name)) || !(r->params = dupstr(ka[i].params))) {
            free(r->name);
            r->name = NULL;
            goto nomem;
        }
        out->nrows++;
        if (compare_pair(ka[i].bench, kb[j].bench, threshold_pct, alpha, 1.0, r) ||
            hold_against_ceiling(a, b, ka[i].bench, kb[j].bench, out, r))
            goto nomem; /* their only failure */
        if ((r->verdict == OWB_VERDICT_SLOWER || r->verdict == OWB_VERDICT_FASTER) &&
            (!r->valid_a || !r->valid_b)) {
            /* a change between samples their own run flagged is no evidence either way */
            r->verdict = OWB_VERDICT_INCOMPARABLE;
            snprintf(r->why, sizeof r->why, "%s not valid: %.60s", !r->valid_a ? "A" : "B",
                     first_note(!r->valid_a ? ka[i].bench : kb[j].bench));
        }
        switch (r->verdict) {
        case OWB_VERDICT_SAME:
            out->n_same++;
            break;
        case OWB_VERDICT_FASTER:
            out->n_faster++;
            break;
        case OWB_VERDICT_SLOWER:
            out->n_slower++;
            break;
        case OWB_VERDICT_INCOMPARABLE:
            out->n_incomparable++;
            break;
        case OWB_VERDICT_MACHINE:
            out->n_machine++;
            break;
        case OWB_VERDICT_INCONCLUSIVE: /* not produced by compare */
            break;
        }
    }
    for (size_t j = 0; j < nb; j++)
        if (!kb[j].used && add_only(out->only_b, &out->n_only_b, &kb[j]))
            goto nomem;
    rc = OWB_OK;
    goto out;
nomem:
    owb_seterr(err, "comparison: out of memory");
    rc = OWB_E_NOMEM;
    owb_compare_release(out);
out:
    free_keyed(ka, na);
    free_keyed(kb, nb);
    return rc;
}

bool owb_compare_regressed(const struct owb_compare *c)
{
    return c->n_slower > 0;
}

/* ---- output ------------------------------------------------------------------------------- */

/* params as a parsed object (they were canonical JSON), or the raw string if it fails to parse. */
static int add_params(cJSON *o, const char *params)
{
    cJSON *p = cJSON_Parse(params);
    if (!p)
        p = cJSON_CreateString(params);
    if (!p || !cJSON_AddItemToObject(o, "params", p)) {
        cJSON_Delete(p);
        return -1;
    }
    return 0;
}

static cJSON *only_json(const struct owb_compare_only *o, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        if (!e || !cJSON_AddItemToArray(arr, e)) {
            cJSON_Delete(e);
            goto fail;
        }
        if (!cJSON_AddStringToObject(e, "name", o[i].name) || add_params(e, o[i].params))
            goto fail;
    }
    return arr;
fail:
    cJSON_Delete(arr);
    return NULL;
}

/* ---- warnings ----------------------------------------------------------------------------- */

typedef void (*warn_fn)(void *ctx, const char *line);

static void fmt_rate(char *buf, size_t n, double v, const char *unit)
{
    snprintf(buf, n, "%.4g %s", v, unit);
}

/* Every warning line of the comparison, in ceiling order. */
static void each_warning(const struct owb_compare *c, warn_fn emit, void *ctx)
{
    char line[512], ra[48], rb[48];
    for (size_t i = 0; i < c->nceilings; i++) {
        const struct owb_compare_ceiling *k = &c->ceilings[i];
        fmt_rate(ra, sizeof ra, k->a, k->unit);
        fmt_rate(rb, sizeof rb, k->b, k->unit);
        if (k->over_threshold) {
            char p[40] = "";
            if (isfinite(k->p))
                snprintf(p, sizeof p, ", p %.2g", k->p);
            snprintf(line, sizeof line,
                     "the ceilings differ by %+.1f%% (more than the %g%% threshold%s%s): %s A %s, "
                     "B %s; the A/B is then about the machine, not the code",
                     k->change_pct, c->threshold_pct, p,
                     k->from_metrics ? ", values recorded with the figures" : "", k->name, ra, rb);
            emit(ctx, line);
        }
        if (k->n_machine) {
            snprintf(line, sizeof line,
                     "%zu benchmark(s) held against %s (A %s, B %s) differ on the raw samples "
                     "only as the machine does: machine changed, not the code",
                     k->n_machine, k->name, ra, rb);
            emit(ctx, line);
        }
    }
}

static void warn_print(void *ctx, const char *line)
{
    fprintf((FILE *)ctx, "warning: %s\n", line);
}

void owb_compare_print_warnings(const struct owb_compare *c, FILE *f)
{
    each_warning(c, warn_print, f);
}

struct warn_json {
    cJSON *arr;
    int oom;
};

static void warn_add(void *ctx, const char *line)
{
    struct warn_json *w = ctx;
    cJSON *s = cJSON_CreateString(line);
    if (!s || !cJSON_AddItemToArray(w->arr, s)) {
        cJSON_Delete(s);
        w->oom = 1;
    }
}

static cJSON *ceilings_json(const struct owb_compare *c)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < c->nceilings; i++) {
        const struct owb_compare_ceiling *k = &c->ceilings[i];
        cJSON *e = cJSON_CreateObject();
        if (!e || !cJSON_AddItemToArray(arr, e)) {
            cJSON_Delete(e);
            goto fail;
        }
        if (!cJSON_AddStringToObject(e, "name", k->name) ||
            !cJSON_AddStringToObject(e, "unit", k->unit) ||
            !cJSON_AddStringToObject(e, "source", k->from_metrics ? "metrics" : "samples") ||
            owb_json_add_num(e, "median_a", k->a) || owb_json_add_num(e, "median_b", k->b) ||
            owb_json_add_num(e, "lo_a", k->a_lo) || owb_json_add_num(e, "hi_a", k->a_hi) ||
            owb_json_add_num(e, "lo_b", k->b_lo) || owb_json_add_num(e, "hi_b", k->b_hi) ||
            owb_json_add_num(e, "ratio", k->ratio) ||
            owb_json_add_num(e, "change_pct", k->change_pct) ||
            owb_json_add_num(e, "p_value", k->p) || !cJSON_AddBoolToObject(e, "moved", k->moved) ||
            !cJSON_AddBoolToObject(e, "over_threshold", k->over_threshold) ||
            owb_json_add_num(e, "rows", (double)k->n_rows) ||
            owb_json_add_num(e, "machine_changed", (double)k->n_machine))
            goto fail;
    }
    return arr;
fail:
    cJSON_Delete(arr);
    return NULL;
}

cJSON *owb_compare_to_json(const struct owb_compare *c, const char *label_a, const char *label_b)
{
    cJSON *j = cJSON_CreateObject(), *rows = NULL, *sum = NULL, *x = NULL;
    if (!j)
        return NULL;
    if (!cJSON_AddStringToObject(j, "schema", "owbench.compare/1") ||
        !cJSON_AddStringToObject(j, "a", label_a ? label_a : "A") ||
        !cJSON_AddStringToObject(j, "b", label_b ? label_b : "B") ||
        owb_json_add_num(j, "threshold_pct", c->threshold_pct) ||
        owb_json_add_num(j, "alpha", c->alpha) || !(rows = cJSON_AddArrayToObject(j, "rows")))
        goto fail;
    for (size_t i = 0; i < c->nrows; i++) {
        const struct owb_compare_row *r = &c->rows[i];
        cJSON *e = cJSON_CreateObject();
        if (!e || !cJSON_AddItemToArray(rows, e)) {
            cJSON_Delete(e);
            goto fail;
        }
        if (!cJSON_AddStringToObject(e, "name", r->name) || add_params(e, r->params) ||
            !cJSON_AddStringToObject(e, "unit", r->unit) ||
            !cJSON_AddStringToObject(e, "better", r->higher_is_better ? "higher" : "lower") ||
            owb_json_add_num(e, "n_a", (double)r->n_a) ||
            owb_json_add_num(e, "n_b", (double)r->n_b) ||
            owb_json_add_num(e, "median_a", r->median_a) ||
            owb_json_add_num(e, "median_b", r->median_b) ||
            owb_json_add_num(e, "ci95_a_lo", r->ci_a_lo) ||
            owb_json_add_num(e, "ci95_a_hi", r->ci_a_hi) ||
            owb_json_add_num(e, "ci95_b_lo", r->ci_b_lo) ||
            owb_json_add_num(e, "ci95_b_hi", r->ci_b_hi) ||
            owb_json_add_num(e, "ratio", r->ratio) ||
            owb_json_add_num(e, "ratio_lo", r->ratio_lo) ||
            owb_json_add_num(e, "ratio_hi", r->ratio_hi) ||
            owb_json_add_num(e, "change_pct", r->change_pct) || owb_json_add_num(e, "u", r->u) ||
            owb_json_add_num(e, "p_value", r->p) ||
            !cJSON_AddBoolToObject(e, "valid_a", r->valid_a) ||
            !cJSON_AddBoolToObject(e, "valid_b", r->valid_b) ||
            !cJSON_AddStringToObject(e, "verdict", owb_verdict_name(r->verdict)))
            goto fail;
        if (r->why[0] && !cJSON_AddStringToObject(e, "why", r->why))
            goto fail;
        const char *cn = r->ceiling >= 0 ? c->ceilings[r->ceiling].name : NULL;
        if ((cn ? !cJSON_AddStringToObject(e, "ceiling", cn)
                : !cJSON_AddNullToObject(e, "ceiling")) ||
            !cJSON_AddBoolToObject(e, "normalised", r->normalised) ||
            owb_json_add_num(e, "norm_median_b", r->norm_median_b) ||
            owb_json_add_num(e, "norm_ratio", r->norm_ratio) ||
            owb_json_add_num(e, "norm_change_pct", r->norm_change_pct) ||
            owb_json_add_num(e, "norm_p_value", r->norm_p) ||
            !cJSON_AddStringToObject(e, "raw_verdict", owb_verdict_name(r->raw_verdict)) ||
            !cJSON_AddStringToObject(e, "norm_verdict", owb_verdict_name(r->norm_verdict)))
            goto fail;
    }
    if (!(x = only_json(c->only_a, c->n_only_a)) || !cJSON_AddItemToObject(j, "only_a", x))
        goto fail_x;
    if (!(x = only_json(c->only_b, c->n_only_b)) || !cJSON_AddItemToObject(j, "only_b", x))
        goto fail_x;
    if (!(x = ceilings_json(c)) || !cJSON_AddItemToObject(j, "ceilings", x))
        goto fail_x;
    x = NULL;
    struct warn_json wj = {cJSON_AddArrayToObject(j, "warnings"), 0};
    if (!wj.arr)
        goto fail;
    each_warning(c, warn_add, &wj);
    if (wj.oom)
        goto fail;
    if (!(sum = cJSON_AddObjectToObject(j, "summary")) ||
        owb_json_add_num(sum, "same", (double)c->n_same) ||
        owb_json_add_num(sum, "faster", (double)c->n_faster) ||
        owb_json_add_num(sum, "slower", (double)c->n_slower) ||
        owb_json_add_num(sum, "incomparable", (double)c->n_incomparable) ||
        owb_json_add_num(sum, "machine_changed", (double)c->n_machine) ||
        owb_json_add_num(sum, "only_a", (double)c->n_only_a) ||
        owb_json_add_num(sum, "only_b", (double)c->n_only_b))
        goto fail;
    if (!cJSON_AddBoolToObject(j, "regressed", owb_compare_regressed(c)))
        goto fail;
    return j;
fail_x:
    cJSON_Delete(x);
fail:
    cJSON_Delete(j);
    return NULL;
}

/* How many matched or unmatched benchmarks carry this name. */
static size_t name_count(const struct owb_compare *c, const char *name)
{
    size_t k = 0;
    for (size_t i = 0; i < c->nrows; i++)
        k += !strcmp(c->rows[i].name, name);
    for (size_t i = 0; i < c->n_only_a; i++)
        k += !strcmp(c->only_a[i].name, name);
    for (size_t i = 0; i < c->n_only_b; i++)
        k += !strcmp(c->only_b[i].name, name);
    return k;
}

/* The name, plus the params when the name alone is ambiguous (names usually encode the params
 * that vary, and printing every param would bury the table). */
static void row_label(const struct owb_compare *c, char *buf, size_t n, const char *name,
                      const char *params)
{
    if (!params || !strcmp(params, "{}") || name_count(c, name) < 2)
        snprintf(buf, n, "%s", name);
    else
        snprintf(buf, n, "%s %s", name, params);
}

static void fmt_num(char *buf, size_t n, double v)
{
    if (isfinite(v))
        snprintf(buf, n, "%.4g", v);
    else
        snprintf(buf, n, "-");
}

void owb_compare_print(const struct owb_compare *c, const char *label_a, const char *label_b,
                       FILE *f)
{
    char lab[256];
    int w = 9; /* "benchmark" */
    for (size_t i = 0; i < c->nrows; i++) {
        row_label(c, lab, sizeof lab, c->rows[i].name, c->rows[i].params);
        int l = (int)strlen(lab);
        if (l > w)
            w = l;
    }
    if (w > 60)
        w = 60;
    fprintf(f, "A: %s\nB: %s\n", label_a ? label_a : "A", label_b ? label_b : "B");
    owb_compare_print_warnings(c, f);
    fprintf(
        f,
        "verdict: slower/faster when |change of median| > %g%%, Mann-Whitney p < %g and the B/A\n"
        "range excludes 1; time units lower is better, rates higher. 'B/A ceil': B held against\n"
        "A's ceiling, when the runs' ceilings differ beyond their spread; 'machine changed' when\n"
        "only the raw ratio differs, or a stream case or ceiling differs\n\n",
        c->threshold_pct, c->alpha);
    fprintf(f, "%-*s  %-8s %11s %11s %8s  %-19s %9s %8s  %s\n", w, "benchmark", "unit", "median A",
            "median B", "B/A", "B/A range (CIs)", "p", "B/A ceil", "verdict");
    for (size_t i = 0; i < c->nrows; i++) {
        const struct owb_compare_row *r = &c->rows[i];
        char ma[24], mb[24], ra[24], lo[24], hi[24], p[24], range[64], nr[24];
        row_label(c, lab, sizeof lab, r->name, r->params);
        fmt_num(nr, sizeof nr, r->norm_ratio);
        fmt_num(ma, sizeof ma, r->median_a);
        fmt_num(mb, sizeof mb, r->median_b);
        fmt_num(ra, sizeof ra, r->ratio);
        fmt_num(lo, sizeof lo, r->ratio_lo);
        fmt_num(hi, sizeof hi, r->ratio_hi);
        if (isfinite(r->p))
            snprintf(p, sizeof p, "%.2g", r->p);
        else
            snprintf(p, sizeof p, "-");
        snprintf(range, sizeof range, "[%s, %s]", lo, hi);
        fprintf(f, "%-*.*s  %-8.8s %11s %11s %8s  %-19s %9s %8s  %s", w, w, lab, r->unit, ma, mb,
                ra, range, p, nr, owb_verdict_name(r->verdict));
        if (r->why[0])
            fprintf(f, " (%s)", r->why);
        if (!r->valid_a || !r->valid_b)
            fprintf(f, " [%s not valid]",
                    !r->valid_a && !r->valid_b ? "A and B" : (!r->valid_a ? "A" : "B"));
        fputc('\n', f);
    }
    if (c->n_only_a) {
        fprintf(f, "\nonly in A:\n");
        for (size_t i = 0; i < c->n_only_a; i++) {
            row_label(c, lab, sizeof lab, c->only_a[i].name, c->only_a[i].params);
            fprintf(f, "  %s\n", lab);
        }
    }
    if (c->n_only_b) {
        fprintf(f, "\nonly in B:\n");
        for (size_t i = 0; i < c->n_only_b; i++) {
            row_label(c, lab, sizeof lab, c->only_b[i].name, c->only_b[i].params);
            fprintf(f, "  %s\n", lab);
        }
    }
    if (c->nceilings) {
        fprintf(f, "\nceilings (median, A -> B):\n");
        for (size_t i = 0; i < c->nceilings; i++) {
            const struct owb_compare_ceiling *k = &c->ceilings[i];
            fprintf(f, "  %-28s %9.4g -> %9.4g %-6s %+6.1f%%%s%s\n", k->name, k->a, k->b, k->unit,
                    k->change_pct, k->moved ? "  moved beyond its spread" : "",
                    k->from_metrics ? " (recorded with the figures)" : "");
        }
    }
    fprintf(f,
            "\n%zu matched: %zu same, %zu slower, %zu faster, %zu machine changed, %zu "
            "incomparable; %zu only in A, %zu only in B\n",
            c->nrows, c->n_same, c->n_slower, c->n_faster, c->n_machine, c->n_incomparable,
            c->n_only_a, c->n_only_b);
}
