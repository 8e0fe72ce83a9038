/* SPDX-License-Identifier: MIT */
/*
 * plot.c: the plot-kind registry and the gnuplot driver (plot/plot.h). Each kind turns matching
 * benchmarks into a .dat file (one gnuplot `index` block per series) and a .gp script that draws
 * a PNG and an SVG; gnuplot runs as a child process in the output folder so the scripts stay
 * relocatable. Kinds: stream_bw (STREAM bandwidth vs threads), kernels_gemv_bw (GEMV GB/s per
 * format against the read ceiling), kernels_gemm_gflops (GEMM GFLOP/s vs batch), serve_latency_cdf
 * (TTFT and TPOT CDFs per load point), serve_sweep (output tokens/s vs latency across a sweep) and
 * serve_ttft_vs_input (TTFT vs input length per request). The serve kinds read what
 * owb_serve_to_json stores: serving.per_request (per request TTFT, E2E, input and output tokens,
 * phase, error), metrics (<metric>_p<q>_ms, output_tok_per_s) and serving.latency stats.
 */
#define _GNU_SOURCE /* fork/exec, getline-free POSIX bits */
#include "plot/plot.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "owb_atomic.h"
#include "results/result.h"

/* A gnuplot single-quoted string body: '' stands for one quote, nothing else is special. */
static void put_gp_string(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputc('\'', f);
        if (*s != '\n' && *s != '\r')
            fputc(*s, f);
    }
    fputc('\'', f);
}

/* Short label of document i for legends when several documents are plotted together. */
static void doc_label(cJSON *const *docs, int ndocs, int i, char *buf, size_t n)
{
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(docs[i], "env");
    const cJSON *host = cJSON_GetObjectItemCaseSensitive(env, "host");
    if (ndocs <= 1)
        buf[0] = '\0';
    else if (cJSON_IsString(host) && host->valuestring[0])
        snprintf(buf, n, "%d: %.40s", i + 1, host->valuestring);
    else
        snprintf(buf, n, "%d", i + 1);
}

/* A .dat value: %.6g, or NaN (gnuplot's undefined value) when missing. */
static const char *fmt_val(double v, char *buf, size_t n)
{
    if (isfinite(v))
        snprintf(buf, n, "%.6g", v);
    else
        snprintf(buf, n, "NaN");
    return buf;
}

static double metric(const cJSON *bench, const char *key)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(bench, "metrics");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);
    return cJSON_IsNumber(v) ? v->valuedouble : (double)NAN;
}

/* Shared script head: comments, the PNG terminal (cairo when this gnuplot has it). */
static void script_head_sized(FILE *gp, const char *stem, const char *what, int w, int h)
{
    fprintf(gp,
            "# owbench plot %s: %s\n"
            "# written by owbench; redraw with: cd <this folder> && gnuplot %s.gp\n"
            "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
            "    set terminal pngcairo size %d,%d noenhanced\n"
            "} else {\n"
            "    set terminal png size %d,%d noenhanced\n"
            "}\n"
            "set output '%s.png'\n",
            stem, what, stem, w, h, w, h, stem);
}

static void script_head(FILE *gp, const char *stem, const char *what)
{
    script_head_sized(gp, stem, what, 960, 600);
}

/* Shared script tail: the same plot again as SVG. */
static void script_tail_sized(FILE *gp, const char *stem, int w, int h)
{
    fprintf(gp,
            "set terminal svg size %d,%d dynamic noenhanced\n"
            "set output '%s.svg'\n"
            "replot\n"
            "unset output\n",
            w, h, stem);
}

static void script_tail(FILE *gp, const char *stem)
{
    script_tail_sized(gp, stem, 960, 600);
}

/* ---- shared helpers of the kinds --------------------------------------------------------- */

static const cJSON *jget(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static double jnum(const cJSON *o, const char *key)
{
    const cJSON *v = jget(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : (double)NAN;
}

/* Decimal digits at *p as a number in 1..max; advances *p past them. */
static bool take_uint(const char **p, long long max, long long *out)
{
    const char *d = *p;
    long long v = 0;
    if (*d < '0' || *d > '9')
        return false;
    for (; *d >= '0' && *d <= '9'; d++) {
        v = v * 10 + (*d - '0');
        if (v > max)
            return false;
    }
    if (v < 1)
        return false;
    *p = d;
    *out = v;
    return true;
}

/* Series keyed by (document, key): the writers' way to find or add a legend entry. */
struct series_keys {
    char key[OWB_PLOT_MAX_SERIES][96];
    int doc[OWB_PLOT_MAX_SERIES];
};

static int series_find(const struct owb_plot_series *s, const struct series_keys *ks, int doc,
                       const char *key)
{
    for (int i = 0; i < s->n; i++)
        if (ks->doc[i] == doc && !strcmp(ks->key[i], key))
            return i;
    return -1;
}

/* The series (doc, key), added with legend base (plus the document's label when several
 * documents are drawn) when new; -1 when the figure is full (counted in s->dropped). */
static int series_get(struct owb_plot_series *s, struct series_keys *ks, cJSON *const *docs,
                      int ndocs, int doc, const char *key, const char *base)
{
    int i = series_find(s, ks, doc, key);
    if (i >= 0)
        return i;
    if (s->n == OWB_PLOT_MAX_SERIES) {
        s->dropped++;
        return -1;
    }
    char dl[64];
    i = s->n++;
    snprintf(ks->key[i], sizeof ks->key[i], "%.95s", key);
    ks->doc[i] = doc;
    doc_label(docs, ndocs, doc, dl, sizeof dl);
    if (dl[0])
        snprintf(s->label[i], sizeof s->label[i], "%.50s (%.40s)", base, dl);
    else
        snprintf(s->label[i], sizeof s->label[i], "%.95s", base);
    return i;
}

/* One .dat row: its series (-1: dropped), group, x, values, and a word for label columns. */
#define ROW_NV 8
struct plot_row {
    int series, group;
    double x;
    double v[ROW_NV];
    char tag[40];
};

struct plot_rows {
    struct plot_row *r;
    size_t n, cap;
};

static int rows_push(struct plot_rows *a, const struct plot_row *row)
{
    if (a->n == a->cap) {
        size_t ncap = a->cap ? 2 * a->cap : 64;
        struct plot_row *nr = realloc(a->r, ncap * sizeof *nr);
        if (!nr)
            return OWB_E_NOMEM;
        a->r = nr;
        a->cap = ncap;
    }
    a->r[a->n++] = *row;
    return OWB_OK;
}

static int cmp_dbl(double a, double b)
{
    return (a > b) - (a < b);
}

/* Series, then x, then group. */
static int cmp_row(const void *pa, const void *pb)
{
    const struct plot_row *a = pa, *b = pb;
    if (a->series != b->series)
        return (a->series > b->series) - (a->series < b->series);
    if (a->x != b->x)
        return cmp_dbl(a->x, b->x);
    return (a->group > b->group) - (a->group < b->group);
}

static int cmp_int(const void *pa, const void *pb)
{
    int a = *(const int *)pa, b = *(const int *)pb;
    return (a > b) - (a < b);
}

static int cmp_double(const void *pa, const void *pb)
{
    return cmp_dbl(*(const double *)pa, *(const double *)pb);
}

/* series->xtics = "(v1, v2, ...)" of the distinct values of vals[0..n) (sorted in place), when
 * there are at most 24 of them; else automatic tics. */
static void xtics_from_ints(struct owb_plot_series *series, int *vals, size_t n)
{
    size_t nd = 0, off = 0;
    series->xtics[0] = '\0';
    if (!n)
        return;
    qsort(vals, n, sizeof *vals, cmp_int);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || vals[i] != vals[i - 1])
            vals[nd++] = vals[i];
    if (nd > 24)
        return;
    off += (size_t)snprintf(series->xtics + off, sizeof series->xtics - off, "(");
    for (size_t i = 0; i < nd && off < sizeof series->xtics; i++)
        off += (size_t)snprintf(series->xtics + off, sizeof series->xtics - off, "%s%d",
                                i ? ", " : "", vals[i]);
    if (off < sizeof series->xtics)
        snprintf(series->xtics + off, sizeof series->xtics - off, ")");
    else
        series->xtics[0] = '\0';
}

/* The head of series block s in a .dat file (blocks are separated by two blank lines). */
static void dat_block(FILE *dat, int block, const char *what, int s, const char *label)
{
    fprintf(dat, "%s# %s %d: %s\n", block ? "\n\n" : "", what, s, label);
}

/* One element of a plot command: `'dat' index N <spec> title 'T'` (notitle when title is NULL),
 * preceded by ", \" when it is not the first (*nel counts them). */
static void plot_elem(FILE *gp, int *nel, const char *dat_file, int index, const char *spec,
                      const char *title)
{
    fprintf(gp, *nel ? ", \\\n  " : "plot \\\n  ");
    put_gp_string(gp, dat_file);
    fprintf(gp, " index %d %s ", index, spec);
    if (title) {
        fprintf(gp, "title ");
        put_gp_string(gp, title);
    } else {
        fprintf(gp, "notitle");
    }
    (*nel)++;
}

/* Body of a figure (everything after the terminal is set). */
typedef void (*script_body_fn)(FILE *gp, const char *dat_file,
                               const struct owb_plot_series *series);

/* A script that draws body twice, to a w x h PNG and then SVG: for multiplot figures, which
 * `replot` cannot redraw. */
static void script_twice(FILE *gp, const char *stem, const char *what, const char *dat_file,
                         const struct owb_plot_series *series, script_body_fn body, int w, int h)
{
    script_head_sized(gp, stem, what, w, h);
    body(gp, dat_file, series);
    fprintf(gp,
            "set terminal svg size %d,%d dynamic noenhanced\n"
            "set output '%s.svg'\n",
            w, h, stem);
    body(gp, dat_file, series);
    fprintf(gp, "unset output\n");
}

/* ---- kind: stream_bw ---------------------------------------------------------------------- */

/* stream/<kernel>/t<N>; kernel (if asked) gets the kernel name, threads N. */
static bool stream_parse(const char *name, char *kernel, size_t klen, int *threads)
{
    static const char pfx[] = "stream/";
    if (strncmp(name, pfx, sizeof pfx - 1) != 0)
        return false;
    const char *k = name + sizeof pfx - 1;
    const char *slash = strchr(k, '/');
    if (!slash || slash == k || slash[1] != 't')
        return false;
    const char *d = slash + 2;
    if (*d < '0' || *d > '9')
        return false;
    long t = 0;
    for (; *d >= '0' && *d <= '9'; d++) {
        t = t * 10 + (*d - '0');
        if (t > 1000000)
            return false;
    }
    if (*d != '\0' || t < 1)
        return false;
    if (kernel) {
        size_t n = (size_t)(slash - k);
        if (n >= klen)
            n = klen - 1;
        memcpy(kernel, k, n);
        kernel[n] = '\0';
    }
    if (threads)
        *threads = (int)t;
    return true;
}

static bool stream_match(const char *name)
{
    return stream_parse(name, NULL, 0, NULL);
}

struct stream_pt {
    int series, threads;
    double best, median;
};

static int cmp_stream_pt(const void *pa, const void *pb)
{
    const struct stream_pt *a = pa, *b = pb;
    if (a->series != b->series)
        return (a->series > b->series) - (a->series < b->series);
    return (a->threads > b->threads) - (a->threads < b->threads);
}

static int stream_write_data(cJSON *const *docs, int ndocs, FILE *dat,
                             struct owb_plot_series *series, char err[OWB_ERR_MAX])
{
    struct stream_pt *pts = NULL;
    int *tvals = NULL;
    size_t npts = 0, cap = 0;
    int rc = OWB_E_NOMEM;
    char kernels[OWB_PLOT_MAX_SERIES][48]; /* kernel of each series */
    int sdoc[OWB_PLOT_MAX_SERIES];         /* document of each series */

    memset(series, 0, sizeof *series);
    for (int d = 0; d < ndocs; d++) {
        const cJSON *benches = cJSON_GetObjectItemCaseSensitive(docs[d], "benchmarks");
        const cJSON *b;
        char dl[64];
        doc_label(docs, ndocs, d, dl, sizeof dl);
        cJSON_ArrayForEach(b, benches)
        {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(b, "name");
            char kernel[48];
            int threads, s;
            if (!cJSON_IsString(name) ||
                !stream_parse(name->valuestring, kernel, sizeof kernel, &threads))
                continue;
            double best = metric(b, "gb_per_s"), med = metric(b, "gb_per_s_median");
            if (!isfinite(best) && !isfinite(med))
                continue;
            for (s = 0; s < series->n; s++)
                if (sdoc[s] == d && !strcmp(kernels[s], kernel))
                    break;
            if (s == series->n) {
                if (series->n == OWB_PLOT_MAX_SERIES) {
                    series->dropped++;
                    continue;
                }
                snprintf(kernels[s], sizeof kernels[s], "%s", kernel);
                sdoc[s] = d;
                if (dl[0])
                    snprintf(series->label[s], sizeof series->label[s], "%.40s (%.50s)", kernel,
                             dl);
                else
                    snprintf(series->label[s], sizeof series->label[s], "%s", kernel);
                series->n++;
            }
            if (npts == cap) {
                size_t ncap = cap ? 2 * cap : 64;
                struct stream_pt *np = realloc(pts, ncap * sizeof *np);
                if (!np)
                    goto nomem;
                pts = np;
                cap = ncap;
            }
            pts[npts++] = (struct stream_pt){s, threads, best, med};
        }
    }
    if (npts)
        qsort(pts, npts, sizeof *pts, cmp_stream_pt);

    fprintf(dat, "# owbench plot stream_bw: STREAM bandwidth vs threads (GB/s = 1e9 bytes/s)\n"
                 "# one block per series (gnuplot index), blocks separated by two blank lines\n"
                 "# columns: threads gb_per_s_best gb_per_s_median\n");
    size_t i = 0;
    char b1[32], b2[32];
    for (int s = 0; s < series->n; s++) {
        fprintf(dat, "%s# series %d: %s\n", s ? "\n\n" : "", s, series->label[s]);
        for (; i < npts && pts[i].series == s; i++)
            fprintf(dat, "%d %s %s\n", pts[i].threads, fmt_val(pts[i].best, b1, sizeof b1),
                    fmt_val(pts[i].median, b2, sizeof b2));
    }

    /* x tics at the measured thread counts (at most 24 distinct ones, else automatic). */
    if (npts) {
        if (!(tvals = malloc(npts * sizeof *tvals)))
            goto nomem;
        for (i = 0; i < npts; i++)
            tvals[i] = pts[i].threads;
        xtics_from_ints(series, tvals, npts);
    }
    rc = OWB_OK;
    goto out;
nomem:
    owb_seterr(err, "stream_bw: out of memory");
out:
    free(pts);
    free(tvals);
    return rc;
}

static void stream_write_script(FILE *gp, const char *stem, const char *dat_file,
                                const struct owb_plot_series *series)
{
    script_head(gp, stem, "STREAM bandwidth vs threads");
    fprintf(gp, "set title 'Memory bandwidth (STREAM kernels) vs threads'\n"
                "set xlabel 'threads'\n"
                "set ylabel 'GB/s (1e9 bytes/s)'\n"
                "set key outside right top\n"
                "set grid\n"
                "set yrange [0:*]\n"
                "set offsets graph 0.02, graph 0.02, 0, 0\n");
    if (series->xtics[0])
        fprintf(gp, "set xtics %s\n", series->xtics);
    fprintf(gp, "plot \\\n");
    for (int s = 0; s < series->n; s++) {
        char title[128];
        fprintf(gp, "  ");
        put_gp_string(gp, dat_file);
        fprintf(gp, " index %d using 1:2 with linespoints lc %d pt 7 lw 2 title ", s, s + 1);
        snprintf(title, sizeof title, "%s best", series->label[s]);
        put_gp_string(gp, title);
        fprintf(gp, ", \\\n  '' index %d using 1:3 with linespoints lc %d pt 6 dt 2 title ", s,
                s + 1);
        snprintf(title, sizeof title, "%s median", series->label[s]);
        put_gp_string(gp, title);
        fprintf(gp, "%s\n", s + 1 < series->n ? ", \\" : "");
    }
    script_tail(gp, stem);
}

/* ---- kernels: shared parsing -------------------------------------------------------------- */

/* One kernels benchmark: kernels/gemv/<fmt>/<m>x<k>/t<N> or kernels/gemm/<fmt>/<m>x<k>/b<B>/t<N>
 * and its metrics. */
struct kern_rec {
    int doc, gemm, batch, threads;
    long long m, k;
    char fmt[32];
    double gb_per_s, gflop_per_s, pct, ceiling, us;
};

static bool kernels_parse(const char *name, struct kern_rec *r)
{
    static const char gemv[] = "kernels/gemv/", gemm[] = "kernels/gemm/";
    const char *p, *slash;
    long long m, k, b = 1, t;
    int is_gemm;
    if (!strncmp(name, gemv, sizeof gemv - 1))
        is_gemm = 0;
    else if (!strncmp(name, gemm, sizeof gemm - 1))
        is_gemm = 1;
    else
        return false;
    p = name + sizeof gemv - 1;
    slash = strchr(p, '/');
    if (!slash || slash == p || (size_t)(slash - p) >= sizeof r->fmt)
        return false;
    if (r) {
        memcpy(r->fmt, p, (size_t)(slash - p));
        r->fmt[slash - p] = '\0';
    }
    p = slash + 1;
    if (!take_uint(&p, 1LL << 40, &m) || *p++ != 'x' || !take_uint(&p, 1LL << 40, &k) ||
        *p++ != '/')
        return false;
    if (is_gemm && (*p++ != 'b' || !take_uint(&p, 1 << 24, &b) || *p++ != '/'))
        return false;
    if (*p++ != 't' || !take_uint(&p, 1000000, &t) || *p != '\0')
        return false;
    if (r) {
        r->gemm = is_gemm;
        r->m = m;
        r->k = k;
        r->batch = (int)b;
        r->threads = (int)t;
    }
    return true;
}

static bool gemv_match(const char *name)
{
    return !strncmp(name, "kernels/gemv/", 13) && kernels_parse(name, NULL);
}

static bool gemm_match(const char *name)
{
    return !strncmp(name, "kernels/gemm/", 13) && kernels_parse(name, NULL);
}

/* Every kernels benchmark of docs (in document order); *out is malloc'd (NULL when none). */
static int kernels_collect(cJSON *const *docs, int ndocs, struct kern_rec **out, size_t *nout)
{
    struct kern_rec *recs = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *nout = 0;
    for (int d = 0; d < ndocs; d++) {
        const cJSON *b;
        cJSON_ArrayForEach(b, jget(docs[d], "benchmarks"))
        {
            const cJSON *name = jget(b, "name");
            struct kern_rec r;
            if (!cJSON_IsString(name) || !kernels_parse(name->valuestring, &r))
                continue;
            r.doc = d;
            r.gb_per_s = metric(b, "gb_per_s");
            r.gflop_per_s = metric(b, "gflop_per_s");
            r.pct = metric(b, "pct_of_ceiling");
            r.ceiling = metric(b, "ceiling_gb_per_s");
            r.us = metric(b, "us_median");
            if (n == cap) {
                size_t ncap = cap ? 2 * cap : 64;
                struct kern_rec *nr = realloc(recs, ncap * sizeof *nr);
                if (!nr) {
                    free(recs);
                    return OWB_E_NOMEM;
                }
                recs = nr;
                cap = ncap;
            }
            recs[n++] = r;
        }
    }
    *out = recs;
    *nout = n;
    return OWB_OK;
}

/* ---- kind: kernels_gemv_bw ---------------------------------------------------------------- */

struct gemv_group {
    long long m, k;
    int threads;
};

static int cmp_gemv_group(const void *pa, const void *pb)
{
    const struct gemv_group *a = pa, *b = pb;
    if (a->m != b->m)
        return (a->m > b->m) - (a->m < b->m);
    if (a->k != b->k)
        return (a->k > b->k) - (a->k < b->k);
    return (a->threads > b->threads) - (a->threads < b->threads);
}

static int gemv_group_of(const struct gemv_group *g, size_t ng, const struct kern_rec *r)
{
    for (size_t i = 0; i < ng; i++)
        if (g[i].m == r->m && g[i].k == r->k && g[i].threads == r->threads)
            return (int)i;
    return -1;
}

/* Bars: x = group + offset of the series within the group (0.8 wide in all). */
#define GEMV_CLUSTER 0.8

static int gemv_write_data(cJSON *const *docs, int ndocs, FILE *dat, struct owb_plot_series *series,
                           char err[OWB_ERR_MAX])
{
    struct kern_rec *recs = NULL;
    struct gemv_group *groups = NULL;
    struct series_keys *ks = NULL;
    struct plot_rows rows = {0};
    size_t nrec = 0, ng = 0, i;
    int rc;
    char b1[32], b2[32], b3[32], b4[32], b5[32];

    memset(series, 0, sizeof *series);
    if ((rc = kernels_collect(docs, ndocs, &recs, &nrec)))
        goto nomem;
    rc = OWB_E_NOMEM;
    if (!(groups = malloc((nrec ? nrec : 1) * sizeof *groups)) || !(ks = calloc(1, sizeof *ks)))
        goto nomem;
    for (i = 0; i < nrec; i++)
        if (!recs[i].gemm && isfinite(recs[i].gb_per_s) && gemv_group_of(groups, ng, &recs[i]) < 0)
            groups[ng++] = (struct gemv_group){recs[i].m, recs[i].k, recs[i].threads};
    qsort(groups, ng, sizeof *groups, cmp_gemv_group);
    for (i = 0; i < nrec; i++) {
        const struct kern_rec *r = &recs[i];
        if (r->gemm || !isfinite(r->gb_per_s))
            continue;
        int s = series_get(series, ks, docs, ndocs, r->doc, r->fmt, r->fmt);
        if (s < 0)
            continue;
        struct plot_row row = {.series = s, .group = gemv_group_of(groups, ng, r)};
        row.v[0] = r->gb_per_s;
        row.v[1] = r->pct;
        row.v[2] = r->ceiling;
        row.v[3] = r->us;
        if (isfinite(r->pct))
            snprintf(row.tag, sizeof row.tag, "%.0f%%", r->pct);
        else
            snprintf(row.tag, sizeof row.tag, "-");
        if (rows_push(&rows, &row))
            goto nomem;
    }
    /* Bar positions now that the number of series is known. */
    double w = series->n ? GEMV_CLUSTER / series->n : GEMV_CLUSTER;
    for (i = 0; i < rows.n; i++)
        rows.r[i].x = rows.r[i].group + (rows.r[i].series - (series->n - 1) / 2.0) * w;
    if (rows.n)
        qsort(rows.r, rows.n, sizeof *rows.r, cmp_row);

    fprintf(dat, "# owbench plot kernels_gemv_bw: GEMV bandwidth per weight format vs the read "
                 "ceiling (GB/s = 1e9 bytes/s)\n"
                 "# bars of one group share a shape and thread count; groups (x position):");
    for (i = 0; i < ng; i++)
        fprintf(dat, "%s %zu = %lldx%lld t%d", i ? "," : "", i, groups[i].m, groups[i].k,
                groups[i].threads);
    fprintf(dat, "\n# one block per series (gnuplot index), blocks separated by two blank lines;"
                 " the last block is the read ceiling per group\n"
                 "# columns: x group gb_per_s pct_of_ceiling ceiling_gb_per_s us_median "
                 "pct_label\n");
    i = 0;
    for (int s = 0; s < series->n; s++) {
        dat_block(dat, s, "series", s, series->label[s]);
        for (; i < rows.n && rows.r[i].series == s; i++, series->npts[s][0]++)
            fprintf(dat, "%s %d %s %s %s %s %s\n", fmt_val(rows.r[i].x, b1, sizeof b1),
                    rows.r[i].group, fmt_val(rows.r[i].v[0], b2, sizeof b2),
                    fmt_val(rows.r[i].v[1], b3, sizeof b3), fmt_val(rows.r[i].v[2], b4, sizeof b4),
                    fmt_val(rows.r[i].v[3], b5, sizeof b5), rows.r[i].tag);
    }
    /* The ceiling: one segment across each group per document that measured it. */
    int nseg = 0;
    for (size_t g = 0; g < ng && series->n; g++) {
        for (int d = 0; d < ndocs; d++) {
            for (i = 0; i < nrec; i++) {
                const struct kern_rec *r = &recs[i];
                if (r->gemm || r->doc != d || !isfinite(r->ceiling) ||
                    gemv_group_of(groups, ng, r) != (int)g)
                    continue;
                if (nseg++ == 0)
                    fprintf(dat, "\n\n# ceiling: stream read GB/s at the group's thread count\n"
                                 "# columns: x ceiling_gb_per_s\n");
                else
                    fprintf(dat, "\n");
                fprintf(dat, "%s %s\n", fmt_val((double)g - GEMV_CLUSTER / 2 - 0.05, b1, sizeof b1),
                        fmt_val(r->ceiling, b2, sizeof b2));
                fprintf(dat, "%s %s\n", fmt_val((double)g + GEMV_CLUSTER / 2 + 0.05, b1, sizeof b1),
                        fmt_val(r->ceiling, b2, sizeof b2));
                break;
            }
        }
    }
    series->nref = nseg ? 1 : 0;
    series->ngroups = (int)ng;
    /* Group names as x tics at the group centres. */
    size_t off = (size_t)snprintf(series->xtics, sizeof series->xtics, "(");
    for (i = 0; i < ng && off < sizeof series->xtics; i++)
        off += (size_t)snprintf(series->xtics + off, sizeof series->xtics - off,
                                "%s'%lldx%lld t%d' %zu", i ? ", " : "", groups[i].m, groups[i].k,
                                groups[i].threads, i);
    if (off + 1 < sizeof series->xtics)
        snprintf(series->xtics + off, sizeof series->xtics - off, ")");
    else
        series->xtics[0] = '\0';
    rc = OWB_OK;
    goto out;
nomem:
    rc = OWB_E_NOMEM;
    owb_seterr(err, "kernels_gemv_bw: out of memory");
out:
    free(recs);
    free(groups);
    free(ks);
    free(rows.r);
    return rc;
}

static void gemv_write_script(FILE *gp, const char *stem, const char *dat_file,
                              const struct owb_plot_series *series)
{
    int nel = 0, nbars = 0;
    char spec[160];
    for (int s = 0; s < series->n; s++)
        nbars += series->npts[s][0];
    /* Wider for many bars (about 14 pixels each beside the key). */
    int width = nbars > 40 ? 320 + 14 * nbars : 960;
    if (width > 2400)
        width = 2400;
    script_head_sized(gp, stem, "GEMV bandwidth per format vs the read ceiling", width, 600);
    fprintf(gp,
            "set title 'GEMV (batch 1) GB/s per format; labels: %% of the read ceiling'\n"
            "set xlabel 'shape m x k, threads (ceiling: stream read at the same threads)'\n"
            "set ylabel 'GB/s (1e9 bytes/s: weights + activations + outputs)'\n"
            "set key outside right top\n"
            "set grid ytics\n"
            "set style fill solid 0.75 border -1\n"
            "set boxwidth %g absolute\n"
            "set xrange [-0.6:%g]\n"
            "set yrange [0:*]\n"
            "set offsets 0, 0, graph 0.12, 0\n",
            series->n ? GEMV_CLUSTER / series->n * 0.95 : GEMV_CLUSTER,
            series->ngroups > 0 ? series->ngroups - 0.4 : 0.6);
    if (series->xtics[0])
        fprintf(gp, "set xtics %s%s\n", series->xtics,
                series->ngroups > 4 ? " rotate by 25 right font ',9'" : "");
    for (int s = 0; s < series->n; s++) {
        snprintf(spec, sizeof spec, "using 1:3 with boxes lc %d", s + 1);
        plot_elem(gp, &nel, dat_file, s, spec, series->label[s]);
    }
    for (int s = 0; s < series->n; s++)
        plot_elem(gp, &nel, dat_file, s,
                  nbars > 24
                      ? "using 1:3:(strcol(7) eq '-' ? '' : strcol(7)) with labels rotate by "
                        "90 left offset 0,0.3 font ',8'"
                      : "using 1:3:(strcol(7) eq '-' ? '' : strcol(7)) with labels "
                        "offset 0,0.7 font ',9'",
                  NULL);
    if (series->nref)
        plot_elem(gp, &nel, dat_file, series->n, "using 1:2 with lines lc rgb 'black' dt 2 lw 2",
                  "read ceiling");
    fprintf(gp, "\n");
    script_tail_sized(gp, stem, width, 600);
}

/* ---- kind: kernels_gemm_gflops ------------------------------------------------------------ */

/* Panels of the GEMM figure: one per shape when there are 2..OWB_PLOT_MAX_GROUPS shapes. */
struct gemm_shape {
    long long m, k;
};

static int cmp_gemm_shape(const void *pa, const void *pb)
{
    const struct gemm_shape *a = pa, *b = pb;
    if (a->m != b->m)
        return (a->m > b->m) - (a->m < b->m);
    return (a->k > b->k) - (a->k < b->k);
}

static int gemm_write_data(cJSON *const *docs, int ndocs, FILE *dat, struct owb_plot_series *series,
                           char err[OWB_ERR_MAX])
{
    struct kern_rec *recs = NULL;
    struct series_keys *ks = NULL;
    struct plot_rows rows = {0};
    struct gemm_shape *shapes = NULL;
    int *bvals = NULL, *maxthr = NULL;
    size_t nrec = 0, nshapes = 0, i;
    int rc;
    char key[96], label[96], fmts[OWB_PLOT_MAX_SERIES][32], b1[32], b2[32], b3[32];
    int nfmts = 0;

    memset(series, 0, sizeof *series);
    if ((rc = kernels_collect(docs, ndocs, &recs, &nrec)))
        goto nomem;
    if (!(maxthr = calloc((size_t)ndocs, sizeof *maxthr)) || !(ks = calloc(1, sizeof *ks)) ||
        !(shapes = malloc((nrec ? nrec : 1) * sizeof *shapes)))
        goto nomem;
    /* One line per format and shape at the largest thread count of each document (thread
     * scaling is the stream figure's job); with several shapes, one panel per shape. */
    for (i = 0; i < nrec; i++)
        if (recs[i].gemm && isfinite(recs[i].gflop_per_s) && recs[i].threads > maxthr[recs[i].doc])
            maxthr[recs[i].doc] = recs[i].threads;
    for (i = 0; i < nrec; i++) {
        const struct kern_rec *r = &recs[i];
        size_t j;
        if (!r->gemm || !isfinite(r->gflop_per_s) || r->threads != maxthr[r->doc])
            continue;
        for (j = 0; j < nshapes; j++)
            if (shapes[j].m == r->m && shapes[j].k == r->k)
                break;
        if (j == nshapes)
            shapes[nshapes++] = (struct gemm_shape){r->m, r->k};
    }
    qsort(shapes, nshapes, sizeof *shapes, cmp_gemm_shape);
    bool panels = nshapes >= 2 && nshapes <= OWB_PLOT_MAX_GROUPS;
    /* GEMMs make the series (panel by panel); GEMVs (batch 1) join the series of the same
     * format, shape and threads. */
    for (size_t p = 0; p < (panels ? nshapes : 1); p++) {
        for (i = 0; i < nrec; i++) {
            const struct kern_rec *r = &recs[i];
            if (!r->gemm || !isfinite(r->gflop_per_s) || r->threads != maxthr[r->doc] ||
                (panels && (r->m != shapes[p].m || r->k != shapes[p].k)))
                continue;
            snprintf(key, sizeof key, "%.31s %lldx%lld", r->fmt, r->m, r->k);
            if (nshapes > 1 && !panels)
                snprintf(label, sizeof label, "%s %lldx%lld", r->fmt, r->m, r->k);
            else
                snprintf(label, sizeof label, "%s", r->fmt);
            bool is_new = series_find(series, ks, r->doc, key) < 0;
            int s = series_get(series, ks, docs, ndocs, r->doc, key, label);
            if (s < 0 || !is_new)
                continue;
            int f;
            for (f = 0; f < nfmts; f++)
                if (!strcmp(fmts[f], r->fmt))
                    break;
            if (f == nfmts)
                snprintf(fmts[nfmts++], sizeof fmts[0], "%s", r->fmt);
            series->group_of[s] = panels ? (int)p : 0;
            /* The same colour for a format in every panel (one document). */
            series->color_of[s] = panels && ndocs == 1 ? f + 1 : 0;
        }
    }
    for (i = 0; i < nrec; i++) {
        const struct kern_rec *r = &recs[i];
        if (!isfinite(r->gflop_per_s) || r->threads != maxthr[r->doc])
            continue;
        snprintf(key, sizeof key, "%.31s %lldx%lld", r->fmt, r->m, r->k);
        int s = series_find(series, ks, r->doc, key);
        if (s < 0)
            continue;
        struct plot_row row = {.series = s, .x = r->batch};
        row.v[0] = r->gflop_per_s;
        row.v[1] = r->us;
        row.v[2] = r->gb_per_s;
        if (rows_push(&rows, &row))
            goto nomem;
    }
    if (rows.n)
        qsort(rows.r, rows.n, sizeof *rows.r, cmp_row);
    if (panels) {
        series->ngroups = (int)nshapes;
        for (i = 0; i < nshapes; i++)
            snprintf(series->group_label[i], sizeof series->group_label[i], "%lldx%lld",
                     shapes[i].m, shapes[i].k);
    }
    fprintf(dat, "# owbench plot kernels_gemm_gflops: GEMM GFLOP/s (2 m k batch / median time) "
                 "vs batch at the largest thread count of each result:");
    for (int d = 0; d < ndocs; d++)
        if (maxthr[d])
            fprintf(dat, " %d", maxthr[d]);
    fprintf(dat, "; batch 1 is the GEMV of the same format, shape and threads\n"
                 "# one block per series (gnuplot index), blocks separated by two blank lines\n"
                 "# columns: batch gflop_per_s us_median gb_per_s\n");
    i = 0;
    for (int s = 0; s < series->n; s++) {
        if (panels) {
            char l[160];
            snprintf(l, sizeof l, "%s, %s", series->label[s],
                     series->group_label[series->group_of[s]]);
            dat_block(dat, s, "series", s, l);
        } else {
            dat_block(dat, s, "series", s, series->label[s]);
        }
        for (; i < rows.n && rows.r[i].series == s; i++, series->npts[s][0]++)
            fprintf(dat, "%.0f %s %s %s\n", rows.r[i].x, fmt_val(rows.r[i].v[0], b1, sizeof b1),
                    fmt_val(rows.r[i].v[1], b2, sizeof b2), fmt_val(rows.r[i].v[2], b3, sizeof b3));
    }
    /* Compute peaks (kernels/peak/<kind>/t<N> at each result's thread count, measured in the same
     * run): one reference block per kind, a segment per result across the batch range. */
    static const char *const peak_kind[2] = {"int8_dot", "f32_fma"};
    static const char *const peak_label[2] = {"int8 dot peak", "f32 FMA peak"};
    double xmin = INFINITY, xmax = -INFINITY;
    for (i = 0; i < rows.n; i++) {
        xmin = rows.r[i].x < xmin ? rows.r[i].x : xmin;
        xmax = rows.r[i].x > xmax ? rows.r[i].x : xmax;
    }
    for (int k = 0; k < 2 && rows.n && series->n; k++) {
        int nseg = 0;
        for (int d = 0; d < ndocs; d++) {
            if (!maxthr[d])
                continue;
            char pname[64];
            snprintf(pname, sizeof pname, "kernels/peak/%s/t%d", peak_kind[k], maxthr[d]);
            const cJSON *b = owb_result_find_benchmark(docs[d], pname);
            const double v = b ? metric(b, "gop_per_s_best") : (double)NAN;
            if (!isfinite(v))
                continue;
            if (nseg++ == 0)
                fprintf(dat,
                        "\n\n# reference %d: %s (GOP/s, best) at the thread count of each "
                        "result\n# columns: batch gop_per_s_best\n",
                        series->nref, peak_kind[k]);
            else
                fprintf(dat, "\n");
            fprintf(dat, "%s %s\n", fmt_val(xmin, b1, sizeof b1), fmt_val(v, b2, sizeof b2));
            fprintf(dat, "%s %s\n", fmt_val(xmax, b1, sizeof b1), fmt_val(v, b2, sizeof b2));
        }
        if (nseg)
            snprintf(series->ref_label[series->nref++], sizeof series->ref_label[0], "%s",
                     peak_label[k]);
    }
    if (rows.n) {
        if (!(bvals = malloc(rows.n * sizeof *bvals)))
            goto nomem;
        for (i = 0; i < rows.n; i++)
            bvals[i] = (int)rows.r[i].x;
        xtics_from_ints(series, bvals, rows.n);
    }
    rc = OWB_OK;
    goto out;
nomem:
    rc = OWB_E_NOMEM;
    owb_seterr(err, "kernels_gemm_gflops: out of memory");
out:
    free(recs);
    free(ks);
    free(rows.r);
    free(bvals);
    free(maxthr);
    free(shapes);
    return rc;
}

static void gemm_body(FILE *gp, const char *dat_file, const struct owb_plot_series *series)
{
    int np = series->ngroups > 1 ? series->ngroups : 1;
    int cols = np <= 3 ? np : np <= 4 ? 2 : np <= 9 ? 3 : 4;
    int rows = (np + cols - 1) / cols;
    char spec[128], title[64];
    fprintf(gp,
            "set multiplot layout %d,%d title 'GEMM throughput vs batch at the most threads "
            "(batch 1: GEMV)'\n"
            "set xlabel '%s'\n"
            "set ylabel '%s'\n"
            "set logscale x 2\n"
            "set grid\n"
            "set yrange [0:*]\n"
            "set offsets graph 0.04, graph 0.04, graph 0.05, 0\n"
            "set key %s\n",
            rows, cols, np > 1 ? "batch (log2 scale)" : "batch (activation rows), log2 scale",
            np > 1 ? "GFLOP/s" : "GFLOP/s (2 m k batch / median time)",
            np > 1 ? "top left font ',8'" : "outside right top");
    if (series->xtics[0])
        fprintf(gp, "set xtics %s\n", series->xtics);
    for (int p = 0; p < np; p++) {
        int nel = 0;
        if (np > 1) {
            fprintf(gp, "set title ");
            snprintf(title, sizeof title, "%s", series->group_label[p]);
            put_gp_string(gp, title);
            fprintf(gp, "\n");
        } else {
            fprintf(gp, "unset title\n");
        }
        for (int s = 0; s < series->n; s++) {
            if (series->group_of[s] != p && np > 1)
                continue;
            snprintf(spec, sizeof spec, "using 1:2 with linespoints lc %d pt 7 lw 2",
                     series->color_of[s] ? series->color_of[s] : s + 1);
            plot_elem(gp, &nel, dat_file, s, spec, series->label[s]);
        }
        for (int r = 0; r < series->nref; r++) /* the compute peaks, in every panel */
            plot_elem(gp, &nel, dat_file, series->n + r,
                      r ? "using 1:2 with lines lc rgb 'gray40' dt 3 lw 2"
                        : "using 1:2 with lines lc rgb 'black' dt 2 lw 2",
                      p == 0 ? series->ref_label[r] : NULL);
        fprintf(gp, "\n");
    }
    fprintf(gp, "unset multiplot\n");
}

static void gemm_write_script(FILE *gp, const char *stem, const char *dat_file,
                              const struct owb_plot_series *series)
{
    int np = series->ngroups > 1 ? series->ngroups : 1;
    /* Panels: about 420 x 330 pixels each, three to a row. */
    script_twice(gp, stem, "GEMM GFLOP/s vs batch", dat_file, series, gemm_body,
                 np > 2 ? 1280 : 960, np > 3 ? 330 * ((np + 2) / 3) + 40 : 600);
}

/* ---- serve: shared reading ---------------------------------------------------------------- */

/* serve/<endpoint>/<dataset>/<point> (owbench serve), or any serve/... name. */
static bool serve_match(const char *name)
{
    return !strncmp(name, "serve/", 6) && name[6] != '\0';
}

/* A measured successful request of a serve benchmark, from serving.per_request. */
struct serve_req {
    double ttft_ms, e2e_ms, input_tokens, output_tokens;
};

static double item_num(const cJSON *it)
{
    return cJSON_IsNumber(it) ? it->valuedouble : (double)NAN;
}

static const cJSON *array_first(const cJSON *o, const char *key)
{
    const cJSON *a = jget(o, key);
    return cJSON_IsArray(a) ? a->child : NULL;
}

/* The measured (phase "measured") successful (error "ok", a first token) requests of bench into
 * *out (malloc'd; NULL when none). Returns their number, -1 when serving.per_request.ttft_ms is
 * absent, or OWB_E_NOMEM (negative, below -1). Arrays missing phase or error count every request
 * with a TTFT. */
static long serve_requests(const cJSON *bench, struct serve_req **out)
{
    const cJSON *pr = jget(jget(bench, "serving"), "per_request");
    const cJSON *ttft = array_first(pr, "ttft_ms"), *e2e = array_first(pr, "e2e_ms");
    const cJSON *in = array_first(pr, "input_tokens"), *outt = array_first(pr, "output_tokens");
    const cJSON *ph = array_first(pr, "phase"), *er = array_first(pr, "error");
    int n = cJSON_GetArraySize(jget(pr, "ttft_ms"));
    long k = 0;
    *out = NULL;
    if (!cJSON_IsArray(jget(pr, "ttft_ms")))
        return -1;
    if (n == 0)
        return 0;
    struct serve_req *r = malloc((size_t)n * sizeof *r);
    if (!r)
        return OWB_E_NOMEM;
    for (; ttft; ttft = ttft->next) {
        bool measured = !ph || (cJSON_IsString(ph) && !strcmp(ph->valuestring, "measured"));
        bool ok = !er || (cJSON_IsString(er) && !strcmp(er->valuestring, "ok"));
        double t = item_num(ttft);
        if (measured && ok && isfinite(t) && k < n)
            r[k++] = (struct serve_req){t, e2e ? item_num(e2e) : (double)NAN,
                                        in ? item_num(in) : (double)NAN,
                                        outt ? item_num(outt) : (double)NAN};
        e2e = e2e ? e2e->next : NULL;
        in = in ? in->next : NULL;
        outt = outt ? outt->next : NULL;
        ph = ph ? ph->next : NULL;
        er = er ? er->next : NULL;
    }
    *out = r;
    return k;
}

/* Percentile q (50 or 99) of latency metric m ("tpot", "e2e", ...) in ms: metrics
 * <m>_p<q>_ms, else serving.latency.<m>.stats.p<q>; NaN when neither is there. */
static double serve_pct(const cJSON *bench, const char *m, int q)
{
    char key[48];
    snprintf(key, sizeof key, "%s_p%d_ms", m, q);
    double v = metric(bench, key);
    if (isfinite(v))
        return v;
    snprintf(key, sizeof key, "p%d", q);
    return jnum(jget(jget(jget(jget(bench, "serving"), "latency"), m), "stats"), key);
}

/* ---- kind: serve_latency_cdf -------------------------------------------------------------- */

struct cdf_data {
    double *v[OWB_PLOT_MAX_SERIES][2]; /* TTFT, TPOT samples in ms, sorted */
    size_t n[OWB_PLOT_MAX_SERIES][2];
};

static int cdf_write_data(cJSON *const *docs, int ndocs, FILE *dat, struct owb_plot_series *series,
                          char err[OWB_ERR_MAX])
{
    struct cdf_data *cd = NULL;
    struct series_keys *ks = NULL;
    struct serve_req *req = NULL;
    int rc = OWB_E_NOMEM;
    char key[32], b1[32], b2[32];
    static const char *const what[2] = {"TTFT ms (first token - scheduled)",
                                        "TPOT ms ((E2E - TTFT) / (output tokens - 1))"};

    memset(series, 0, sizeof *series);
    if (!(cd = calloc(1, sizeof *cd)) || !(ks = calloc(1, sizeof *ks)))
        goto nomem;
    for (int d = 0; d < ndocs; d++) {
        const cJSON *b;
        int bi = -1;
        cJSON_ArrayForEach(b, jget(docs[d], "benchmarks"))
        {
            const cJSON *name = jget(b, "name");
            double *tt = NULL, *tp = NULL;
            size_t ntt = 0, ntp = 0;
            bi++;
            if (!cJSON_IsString(name) || !serve_match(name->valuestring))
                continue;
            long nreq = serve_requests(b, &req);
            if (nreq < -1)
                goto nomem;
            if (nreq >= 0) {
                if (nreq > 0 && (!(tt = malloc((size_t)nreq * sizeof *tt)) ||
                                 !(tp = malloc((size_t)nreq * sizeof *tp)))) {
                    free(tt);
                    goto nomem;
                }
                for (long i = 0; i < nreq; i++) {
                    const struct serve_req *r = &req[i];
                    tt[ntt++] = r->ttft_ms;
                    if (isfinite(r->e2e_ms) && r->output_tokens >= 2)
                        tp[ntp++] = (r->e2e_ms - r->ttft_ms) / (r->output_tokens - 1);
                }
            } else {
                /* No per-request arrays: the benchmark's samples are the TTFTs in ms. */
                const cJSON *smp = jget(b, "samples"), *v;
                const cJSON *unit = jget(smp, "unit");
                int n = cJSON_GetArraySize(jget(smp, "values"));
                if (n > 0 && cJSON_IsString(unit) && !strcmp(unit->valuestring, "ms")) {
                    if (!(tt = malloc((size_t)n * sizeof *tt)))
                        goto nomem;
                    cJSON_ArrayForEach(v, jget(smp, "values")) if (isfinite(item_num(v)))
                        tt[ntt++] = item_num(v);
                }
            }
            free(req);
            req = NULL;
            int s = -1;
            if (ntt) {
                snprintf(key, sizeof key, "#%d", bi);
                s = series_get(series, ks, docs, ndocs, d, key, name->valuestring + 6);
            }
            if (s < 0) {
                free(tt);
                free(tp);
                continue;
            }
            qsort(tt, ntt, sizeof *tt, cmp_double);
            if (ntp)
                qsort(tp, ntp, sizeof *tp, cmp_double);
            cd->v[s][0] = tt;
            cd->n[s][0] = ntt;
            cd->v[s][1] = tp;
            cd->n[s][1] = ntp;
        }
    }
    fprintf(dat, "# owbench plot serve_latency_cdf: empirical CDFs of the measured successful "
                 "requests of each serve benchmark\n"
                 "# blocks (gnuplot index, separated by two blank lines): TTFT of every series, "
                 "then TPOT of the series that have it\n"
                 "# columns: latency_ms cumulative_fraction\n");
    int block = 0;
    for (int p = 0; p < 2; p++)
        for (int s = 0; s < series->n; s++) {
            size_t n = cd->n[s][p];
            series->npts[s][p] = (int)n;
            if (!n)
                continue;
            fprintf(dat, "%s# series %d %s: %s\n", block++ ? "\n\n" : "", s, p ? "tpot" : "ttft",
                    series->label[s]);
            fprintf(dat, "# %s\n", what[p]);
            for (size_t i = 0; i < n; i++)
                fprintf(dat, "%s %s\n", fmt_val(cd->v[s][p][i], b1, sizeof b1),
                        fmt_val((double)(i + 1) / (double)n, b2, sizeof b2));
        }
    rc = OWB_OK;
    goto out;
nomem:
    rc = OWB_E_NOMEM;
    owb_seterr(err, "serve_latency_cdf: out of memory");
out:
    if (cd)
        for (int s = 0; s < OWB_PLOT_MAX_SERIES; s++) {
            free(cd->v[s][0]);
            free(cd->v[s][1]);
        }
    free(cd);
    free(ks);
    free(req);
    return rc;
}

static void cdf_body(FILE *gp, const char *dat_file, const struct owb_plot_series *series)
{
    int ntpot = 0, nel = 0;
    char spec[128];
    for (int s = 0; s < series->n; s++)
        ntpot += series->npts[s][1] > 0;
    fprintf(gp,
            "set multiplot layout 1,%d title 'Serving latency CDFs (measured successful "
            "requests, from the scheduled time)'\n"
            "set grid\n"
            "set yrange [0:1]\n"
            "set ylabel 'fraction of requests'\n"
            "set key bottom right font ',9'\n"
            "set title 'TTFT'\n"
            "set xlabel 'time to first token (ms)'\n",
            ntpot ? 2 : 1);
    for (int s = 0; s < series->n; s++) {
        snprintf(spec, sizeof spec, "using 1:2 with steps lc %d lw 2", s + 1);
        plot_elem(gp, &nel, dat_file, s, spec, series->label[s]);
    }
    fprintf(gp, "\n");
    if (ntpot) {
        int block = series->n;
        nel = 0;
        fprintf(gp, "set title 'TPOT'\n"
                    "set xlabel 'time per output token (ms)'\n");
        for (int s = 0; s < series->n; s++) {
            if (!series->npts[s][1])
                continue;
            snprintf(spec, sizeof spec, "using 1:2 with steps lc %d lw 2", s + 1);
            plot_elem(gp, &nel, dat_file, block++, spec, series->label[s]);
        }
        fprintf(gp, "\n");
    }
    fprintf(gp, "unset multiplot\n");
}

static void cdf_write_script(FILE *gp, const char *stem, const char *dat_file,
                             const struct owb_plot_series *series)
{
    script_twice(gp, stem, "serving latency CDFs (TTFT, TPOT)", dat_file, series, cdf_body, 960,
                 600);
}

/* ---- kind: serve_sweep -------------------------------------------------------------------- */

/* Series, then rate, then concurrency (v[0], v[1]). */
static int cmp_sweep_row(const void *pa, const void *pb)
{
    const struct plot_row *a = pa, *b = pb;
    if (a->series != b->series)
        return (a->series > b->series) - (a->series < b->series);
    if (a->v[0] != b->v[0])
        return cmp_dbl(a->v[0], b->v[0]);
    return cmp_dbl(a->v[1], b->v[1]);
}

static int sweep_write_data(cJSON *const *docs, int ndocs, FILE *dat,
                            struct owb_plot_series *series, char err[OWB_ERR_MAX])
{
    struct plot_rows rows = {0};
    struct series_keys *ks = NULL;
    struct sweep_group {
        int doc, count;
        char prefix[96];
    } *groups = NULL;
    size_t ng = 0, cap = 0, i;
    int rc = OWB_E_NOMEM;
    char b[8][32];

    memset(series, 0, sizeof *series);
    /* A sweep: the benchmarks of one document that share serve/<endpoint>/<dataset>/. */
    for (int d = 0; d < ndocs; d++) {
        const cJSON *bench;
        cJSON_ArrayForEach(bench, jget(docs[d], "benchmarks"))
        {
            const cJSON *name = jget(bench, "name");
            if (!cJSON_IsString(name) || !serve_match(name->valuestring))
                continue;
            const char *nm = name->valuestring, *last = strrchr(nm, '/');
            struct plot_row row = {.series = -1};
            row.v[0] = jnum(jget(bench, "params"), "rate");
            row.v[1] = jnum(jget(bench, "params"), "concurrency");
            row.v[2] = metric(bench, "output_tok_per_s");
            row.v[3] = serve_pct(bench, "tpot", 50);
            row.v[4] = serve_pct(bench, "tpot", 99);
            row.v[5] = serve_pct(bench, "e2e", 50);
            row.v[6] = serve_pct(bench, "e2e", 99);
            row.v[7] = metric(bench, "req_per_s");
            if (!isfinite(row.v[2]) || (!isfinite(row.v[3]) && !isfinite(row.v[5])))
                continue;
            snprintf(row.tag, sizeof row.tag, "%.39s", last[1] ? last + 1 : "?");
            int plen = (int)(last - nm) < 95 ? (int)(last - nm) : 95;
            for (i = 0; i < ng; i++)
                if (groups[i].doc == d && (int)strlen(groups[i].prefix) == plen &&
                    !strncmp(groups[i].prefix, nm, (size_t)plen))
                    break;
            if (i == ng) {
                if (ng == cap) {
                    size_t ncap = cap ? 2 * cap : 16;
                    struct sweep_group *g = realloc(groups, ncap * sizeof *g);
                    if (!g)
                        goto nomem;
                    groups = g;
                    cap = ncap;
                }
                groups[ng].doc = d;
                groups[ng].count = 0;
                snprintf(groups[ng].prefix, sizeof groups[ng].prefix, "%.*s", plen, nm);
                ng++;
            }
            groups[i].count++;
            row.group = (int)i;
            if (rows_push(&rows, &row))
                goto nomem;
        }
    }
    if (!(ks = calloc(1, sizeof *ks)))
        goto nomem;
    /* Only sweeps (two or more points) make a series. */
    for (i = 0; i < rows.n; i++) {
        const struct sweep_group *g = &groups[rows.r[i].group];
        if (g->count >= 2)
            rows.r[i].series =
                series_get(series, ks, docs, ndocs, g->doc, g->prefix,
                           !strncmp(g->prefix, "serve/", 6) ? g->prefix + 6 : g->prefix);
    }
    if (rows.n)
        qsort(rows.r, rows.n, sizeof *rows.r, cmp_sweep_row);
    fprintf(dat, "# owbench plot serve_sweep: output tokens/s vs latency across the points of "
                 "each sweep (benchmarks serve/<endpoint>/<dataset>/<point> of one result), in "
                 "load order\n"
                 "# one block per series (gnuplot index), blocks separated by two blank lines\n"
                 "# columns: rate concurrency output_tok_per_s tpot_p50_ms tpot_p99_ms e2e_p50_ms "
                 "e2e_p99_ms req_per_s point\n");
    i = 0;
    while (i < rows.n && rows.r[i].series < 0)
        i++;
    for (int s = 0; s < series->n; s++) {
        dat_block(dat, s, "series", s, series->label[s]);
        for (; i < rows.n && rows.r[i].series == s; i++) {
            const struct plot_row *r = &rows.r[i];
            series->npts[s][0] += isfinite(r->v[3]);
            series->npts[s][1] += isfinite(r->v[5]);
            for (int k = 0; k < 8; k++)
                fmt_val(r->v[k], b[k], sizeof b[k]);
            fprintf(dat, "%s %s %s %s %s %s %s %s %s\n", b[0], b[1], b[2], b[3], b[4], b[5], b[6],
                    b[7], r->tag);
        }
    }
    rc = OWB_OK;
    goto out;
nomem:
    rc = OWB_E_NOMEM;
    owb_seterr(err, "serve_sweep: out of memory");
out:
    free(rows.r);
    free(groups);
    free(ks);
    return rc;
}

static void sweep_panel(FILE *gp, const char *dat_file, const struct owb_plot_series *series, int p)
{
    int nel = 0, col = p ? 6 : 4;
    char spec[160], title[128];
    for (int s = 0; s < series->n; s++) {
        if (!series->npts[s][p])
            continue;
        snprintf(spec, sizeof spec, "using %d:3 with linespoints lc %d pt 7 lw 2", col, s + 1);
        snprintf(title, sizeof title, "%.80s p50", series->label[s]);
        plot_elem(gp, &nel, dat_file, s, spec, title);
        snprintf(spec, sizeof spec, "using %d:3 with linespoints lc %d pt 6 dt 2 lw 1", col + 1,
                 s + 1);
        snprintf(title, sizeof title, "%.80s p99", series->label[s]);
        plot_elem(gp, &nel, dat_file, s, spec, title);
        snprintf(spec, sizeof spec, "using %d:3:9 with labels offset char 0.8,0.6 font ',8'", col);
        plot_elem(gp, &nel, dat_file, s, spec, NULL);
    }
    fprintf(gp, "\n");
}

static void sweep_body(FILE *gp, const char *dat_file, const struct owb_plot_series *series)
{
    int has[2] = {0, 0};
    for (int s = 0; s < series->n; s++)
        for (int p = 0; p < 2; p++)
            has[p] += series->npts[s][p] > 0;
    fprintf(gp,
            "set multiplot layout 1,%d title 'Serving sweep: output tokens/s vs latency "
            "(points labelled by load)'\n"
            "set grid\n"
            "set yrange [0:*]\n"
            "set xrange [0:*]\n"
            "set ylabel 'output tokens/s'\n"
            "set key bottom right font ',9'\n",
            has[0] && has[1] ? 2 : 1);
    if (has[0]) {
        fprintf(gp, "set title 'vs TPOT'\nset xlabel 'time per output token (ms), p50 and p99'\n");
        sweep_panel(gp, dat_file, series, 0);
    }
    if (has[1]) {
        fprintf(gp, "set title 'vs E2E'\nset xlabel 'end-to-end latency (ms), p50 and p99'\n");
        sweep_panel(gp, dat_file, series, 1);
    }
    fprintf(gp, "unset multiplot\n");
}

static void sweep_write_script(FILE *gp, const char *stem, const char *dat_file,
                               const struct owb_plot_series *series)
{
    script_twice(gp, stem, "serving sweep: output tokens/s vs latency", dat_file, series,
                 sweep_body, 960, 600);
}

/* ---- kind: serve_ttft_vs_input ------------------------------------------------------------ */

static int ttin_write_data(cJSON *const *docs, int ndocs, FILE *dat, struct owb_plot_series *series,
                           char err[OWB_ERR_MAX])
{
    struct plot_rows rows = {0};
    struct series_keys *ks = NULL;
    struct serve_req *req = NULL;
    int rc = OWB_E_NOMEM;
    char key[32], b1[32], b2[32], b3[32];

    memset(series, 0, sizeof *series);
    if (!(ks = calloc(1, sizeof *ks)))
        goto nomem;
    for (int d = 0; d < ndocs; d++) {
        const cJSON *b;
        int bi = -1;
        cJSON_ArrayForEach(b, jget(docs[d], "benchmarks"))
        {
            const cJSON *name = jget(b, "name");
            bi++;
            if (!cJSON_IsString(name) || !serve_match(name->valuestring))
                continue;
            long nreq = serve_requests(b, &req);
            if (nreq < -1)
                goto nomem;
            int s = -1;
            for (long i = 0; i < nreq; i++) {
                if (!isfinite(req[i].input_tokens))
                    continue;
                if (s < 0) {
                    snprintf(key, sizeof key, "#%d", bi);
                    s = series_get(series, ks, docs, ndocs, d, key, name->valuestring + 6);
                    if (s < 0)
                        break;
                }
                struct plot_row row = {.series = s, .x = req[i].input_tokens};
                row.v[0] = req[i].ttft_ms;
                row.v[1] = req[i].output_tokens;
                if (rows_push(&rows, &row))
                    goto nomem;
            }
            free(req);
            req = NULL;
        }
    }
    if (rows.n)
        qsort(rows.r, rows.n, sizeof *rows.r, cmp_row);
    fprintf(dat, "# owbench plot serve_ttft_vs_input: TTFT vs input length per measured "
                 "successful request (serving.per_request)\n"
                 "# one block per series (gnuplot index), blocks separated by two blank lines\n"
                 "# columns: input_tokens ttft_ms output_tokens\n");
    size_t i = 0;
    for (int s = 0; s < series->n; s++) {
        dat_block(dat, s, "series", s, series->label[s]);
        for (; i < rows.n && rows.r[i].series == s; i++, series->npts[s][0]++)
            fprintf(dat, "%s %s %s\n", fmt_val(rows.r[i].x, b1, sizeof b1),
                    fmt_val(rows.r[i].v[0], b2, sizeof b2), fmt_val(rows.r[i].v[1], b3, sizeof b3));
    }
    rc = OWB_OK;
    goto out;
nomem:
    rc = OWB_E_NOMEM;
    owb_seterr(err, "serve_ttft_vs_input: out of memory");
out:
    free(rows.r);
    free(ks);
    free(req);
    return rc;
}

static void ttin_write_script(FILE *gp, const char *stem, const char *dat_file,
                              const struct owb_plot_series *series)
{
    int nel = 0;
    char spec[128];
    script_head(gp, stem, "TTFT vs input length");
    fprintf(gp, "set title 'Time to first token vs input length (measured successful requests)'\n"
                "set xlabel 'input tokens (usage.prompt_tokens, else the workload estimate)'\n"
                "set ylabel 'TTFT (ms, from the scheduled time)'\n"
                "set key outside right top\n"
                "set grid\n"
                "set yrange [0:*]\n"
                "set offsets graph 0.03, graph 0.03, graph 0.05, 0\n");
    for (int s = 0; s < series->n; s++) {
        snprintf(spec, sizeof spec, "using 1:2 with points lc %d pt 7 ps 0.6", s + 1);
        plot_elem(gp, &nel, dat_file, s, spec, series->label[s]);
    }
    fprintf(gp, "\n");
    script_tail(gp, stem);
}

/* ---- registry ----------------------------------------------------------------------------- */

const struct owb_plot_kind owb_plot_kinds[] = {
    {"stream_bw", "STREAM bandwidth vs threads", "stream/<kernel>/t<N> with metrics.gb_per_s",
     stream_match, stream_write_data, stream_write_script},
    {"kernels_gemv_bw", "GEMV GB/s per format vs the read ceiling",
     "kernels/gemv/<fmt>/<m>x<k>/t<N> with metrics.gb_per_s", gemv_match, gemv_write_data,
     gemv_write_script},
    {"kernels_gemm_gflops", "GEMM GFLOP/s vs batch",
     "kernels/gemm/<fmt>/<m>x<k>/b<B>/t<N> with metrics.gflop_per_s", gemm_match, gemm_write_data,
     gemm_write_script},
    {"serve_latency_cdf", "TTFT and TPOT CDFs per serve benchmark",
     "serve/... with serving.per_request (or TTFT samples)", serve_match, cdf_write_data,
     cdf_write_script},
    {"serve_sweep", "output tokens/s vs latency across a serve sweep",
     "serve/<endpoint>/<dataset>/<point>, two or more points", serve_match, sweep_write_data,
     sweep_write_script},
    {"serve_ttft_vs_input", "TTFT vs input length per request",
     "serve/... with serving.per_request.input_tokens", serve_match, ttin_write_data,
     ttin_write_script},
};
const int owb_plot_nkinds = (int)OWB_ARRAY_LEN(owb_plot_kinds);

/* ---- driver ------------------------------------------------------------------------------- */

bool owb_plot_have_gnuplot(void)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        return false;
    const char *p = path;
    for (;;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        char file[4096];
        struct stat st;
        /* An empty PATH element means the current folder. */
        if (n == 0)
            snprintf(file, sizeof file, "./gnuplot");
        else
            snprintf(file, sizeof file, "%.*s/gnuplot", (int)n, p);
        if (stat(file, &st) == 0 && S_ISREG(st.st_mode) && access(file, X_OK) == 0)
            return true;
        if (!colon)
            return false;
        p = colon + 1;
    }
}

static bool kind_has_match(const struct owb_plot_kind *k, cJSON *const *docs, int ndocs)
{
    for (int d = 0; d < ndocs; d++) {
        const cJSON *b, *benches = cJSON_GetObjectItemCaseSensitive(docs[d], "benchmarks");
        cJSON_ArrayForEach(b, benches)
        {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(b, "name");
            if (cJSON_IsString(name) && k->match(name->valuestring))
                return true;
        }
    }
    return false;
}

/* Run `gnuplot script` with dir as working folder; 0 when it exits with status 0. shown names the
 * script in messages (the script run may be a temporary copy of it). */
static int run_gnuplot(const char *dir, const char *script, const char *shown,
                       char err[OWB_ERR_MAX])
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        owb_seterr(err, "cannot start gnuplot: fork: %s", strerror(errno));
        return OWB_E_SYSTEM;
    }
    if (pid == 0) {
        if (chdir(dir) != 0)
            _exit(126);
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            owb_seterr(err, "gnuplot %s: waitpid: %s", shown, strerror(errno));
            return OWB_E_SYSTEM;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return OWB_OK;
    if (WIFEXITED(status))
        owb_seterr(err, "gnuplot %s (in %s) exited with status %d%s", shown, dir,
                   WEXITSTATUS(status),
                   WEXITSTATUS(status) == 127   ? " (could not run gnuplot)"
                   : WEXITSTATUS(status) == 126 ? " (cannot enter the folder)"
                                                : "");
    else
        owb_seterr(err, "gnuplot %s (in %s) was killed by signal %d", shown, dir,
                   WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return OWB_E_SYSTEM;
}

static bool nonempty_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The files of one kind while it is being drawn: all temporary until every one is complete. */
struct kind_files {
    struct owb_atomic_file dat, gp, run; /* run: the script gnuplot runs (temporary names) */
    char fig_tmp[2][4200];               /* the figures it draws (PNG, SVG); "" = none */
};

static void kind_files_abort(struct kind_files *kf)
{
    owb_atomic_file_abort(&kf->dat);
    owb_atomic_file_abort(&kf->gp);
    owb_atomic_file_abort(&kf->run);
    for (int i = 0; i < 2; i++) {
        if (kf->fig_tmp[i][0])
            unlink(kf->fig_tmp[i]);
        kf->fig_tmp[i][0] = '\0';
    }
}

/*
 * Draw one kind into dir: write <stem>.dat and <stem>.gp to temporary files and, with gnuplot, a
 * copy of the script whose figures and data file have the temporary names; run it; only when
 * gnuplot succeeded and both figures are there, rename the four into place. Any failure leaves
 * none of this kind's new files and no temporary one (earlier files of the same names are kept).
 * Without gnuplot, the data and script are renamed into place and figures of the same stem from
 * an earlier run are removed (they would show other data). *drawn: 1 when the series were
 * non-empty (the kind was written), 0 when there was nothing to draw.
 */
static int draw_kind(const struct owb_plot_kind *kind, cJSON *const *docs, int ndocs,
                     const char *dir, bool have, struct owb_plot_series *series,
                     struct kind_files *kf, int *drawn, char err[OWB_ERR_MAX])
{
    static const char *const ext[2] = {"png", "svg"};
    char path[4200], dat[128], gp[128], run_stem[4200];
    int rc;

    *drawn = 0;
    snprintf(dat, sizeof dat, "%s.dat", kind->name);
    snprintf(gp, sizeof gp, "%s.gp", kind->name);
    snprintf(path, sizeof path, "%s/%s", dir, dat);
    if ((rc = owb_atomic_file_open(&kf->dat, path, err)))
        return rc;
    if ((rc = kind->write_data(docs, ndocs, kf->dat.f, series, err)))
        return rc;
    if (series->n == 0)
        return OWB_OK; /* matching names but no numbers to draw: leave no file behind */
    if (fflush(kf->dat.f) != 0 || ferror(kf->dat.f)) {
        owb_seterr(err, "%s: write failed: %s", path, strerror(errno));
        return OWB_E_IO;
    }
    snprintf(path, sizeof path, "%s/%s", dir, gp);
    if ((rc = owb_atomic_file_open(&kf->gp, path, err)))
        return rc;
    kind->write_script(kf->gp.f, kind->name, dat, series);

    if (have) {
        snprintf(path, sizeof path, "%s/%s.run", dir, kind->name);
        if ((rc = owb_atomic_file_open(&kf->run, path, err)))
            return rc;
        /* <stem>.run.XXXXXX.tmp -> figures <stem>.run.XXXXXX.png and .svg */
        snprintf(run_stem, sizeof run_stem, "%s", base_name(kf->run.tmp));
        run_stem[strlen(run_stem) - 4] = '\0';
        for (int i = 0; i < 2; i++)
            if (snprintf(kf->fig_tmp[i], sizeof kf->fig_tmp[i], "%s/%s.%s", dir, run_stem,
                         ext[i]) >= (int)sizeof kf->fig_tmp[i]) {
                owb_seterr(err, "%s: output path too long", dir);
                return OWB_E_USAGE;
            }
        kind->write_script(kf->run.f, run_stem, base_name(kf->dat.tmp), series);
        if (fflush(kf->run.f) != 0 || ferror(kf->run.f)) {
            owb_seterr(err, "%s: write failed: %s", kf->run.tmp, strerror(errno));
            return OWB_E_IO;
        }
        if ((rc = run_gnuplot(dir, base_name(kf->run.tmp), gp, err)))
            return rc;
        if (!nonempty_file(kf->fig_tmp[0]) || !nonempty_file(kf->fig_tmp[1])) {
            owb_seterr(err, "gnuplot %s (in %s) succeeded but its PNG or SVG is missing or empty",
                       gp, dir);
            return OWB_E_SYSTEM;
        }
    }

    if ((rc = owb_atomic_file_commit(&kf->dat, err)) || (rc = owb_atomic_file_commit(&kf->gp, err)))
        return rc;
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s.%s", dir, kind->name, ext[i]);
        if (!have) {
            if (unlink(path) != 0 && errno != ENOENT) {
                owb_seterr(err, "%s: cannot remove the figure of an earlier run: %s", path,
                           strerror(errno));
                return OWB_E_IO;
            }
            continue;
        }
        if (rename(kf->fig_tmp[i], path) != 0) {
            owb_seterr(err, "%s: cannot rename the figure into place: %s", path, strerror(errno));
            return OWB_E_IO;
        }
        kf->fig_tmp[i][0] = '\0';
    }
    owb_atomic_file_abort(&kf->run);
    *drawn = 1;
    return OWB_OK;
}

int owb_plot_results(cJSON *const *docs, int ndocs, const char *dir, char err[OWB_ERR_MAX],
                     int *nfigures)
{
    int rc = OWB_OK, written = 0;
    char sub[OWB_ERR_MAX], first_gp[128] = "", dropped[256] = "";
    struct owb_plot_series *series = NULL;
    struct kind_files kf;

    memset(&kf, 0, sizeof kf);
    err[0] = '\0';
    *nfigures = 0;
    if (!docs || ndocs < 1 || !dir || !*dir) {
        owb_seterr(err, "plot: no result documents or no output folder");
        return OWB_E_USAGE;
    }
    if ((rc = owb_mkdir_p(dir, sub))) {
        owb_seterr(err, "plot output %s: %s", dir, sub);
        return rc == OWB_E_NOMEM ? rc : OWB_E_IO;
    }
    if (!(series = malloc(sizeof *series))) {
        owb_seterr(err, "plot: out of memory");
        return OWB_E_NOMEM;
    }
    bool have = owb_plot_have_gnuplot();

    for (int k = 0; k < owb_plot_nkinds; k++) {
        const struct owb_plot_kind *kind = &owb_plot_kinds[k];
        if (!kind_has_match(kind, docs, ndocs))
            continue;
        int drawn = 0;
        if ((rc = draw_kind(kind, docs, ndocs, dir, have, series, &kf, &drawn, err)))
            goto out;
        kind_files_abort(&kf); /* what was not renamed into place */
        if (series->dropped && !dropped[0])
            snprintf(dropped, sizeof dropped,
                     "%s: %d series beyond the first %d were left out of the figure", kind->name,
                     series->dropped, OWB_PLOT_MAX_SERIES);
        if (!drawn)
            continue;
        written++;
        if (!first_gp[0])
            snprintf(first_gp, sizeof first_gp, "%s.gp", kind->name);
        if (have)
            (*nfigures)++;
    }
    if (written == 0) {
        char kinds[OWB_ERR_MAX] = "";
        size_t off = 0;
        for (int k = 0; k < owb_plot_nkinds && off < sizeof kinds; k++)
            off += (size_t)snprintf(kinds + off, sizeof kinds - off, "%s%s", k ? ", " : "",
                                    owb_plot_kinds[k].name);
        owb_seterr(err,
                   "nothing to plot: no benchmark with numbers matches a plot kind (%.300s; "
                   "`owbench plot --help` lists the benchmark names each kind draws)",
                   kinds);
    } else if (!have) {
        owb_seterr(err,
                   "gnuplot not found on PATH: wrote the data and scripts to %s but no figures; "
                   "install gnuplot and run `cd %s && gnuplot %s`",
                   dir, dir, first_gp);
    }
    if (written && dropped[0]) {
        size_t off = strlen(err);
        snprintf(err + off, OWB_ERR_MAX - off, "%s%s", off ? "; " : "", dropped);
    }
    rc = OWB_OK;
out:
    kind_files_abort(&kf);
    free(series);
    return rc;
}
