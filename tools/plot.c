/* SPDX-License-Identifier: MIT */
/*
 * plot.c: the plot-kind registry and the gnuplot driver (tools/plot.h). Each kind turns matching
 * benchmarks into a .dat file (one gnuplot `index` block per series) and a .gp script that draws
 * a PNG and an SVG; gnuplot runs as a child process in the output folder so the scripts stay
 * relocatable. Kinds so far: stream_bw (STREAM bandwidth vs threads).
 */
#define _GNU_SOURCE /* fork/exec, getline-free POSIX bits */
#include "tools/plot.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "results/result.h"

static void set_err(char err[OWB_ERR_MAX], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_err(char err[OWB_ERR_MAX], const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, OWB_ERR_MAX, fmt, ap);
    va_end(ap);
}

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
static void script_head(FILE *gp, const char *stem, const char *what)
{
    fprintf(gp,
            "# owbench plot %s: %s\n"
            "# written by owbench; redraw with: cd <this folder> && gnuplot %s.gp\n"
            "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
            "    set terminal pngcairo size 960,600 noenhanced\n"
            "} else {\n"
            "    set terminal png size 960,600 noenhanced\n"
            "}\n"
            "set output '%s.png'\n",
            stem, what, stem, stem);
}

/* Shared script tail: the same plot again as SVG. */
static void script_tail(FILE *gp, const char *stem)
{
    fprintf(gp,
            "set terminal svg size 960,600 dynamic noenhanced\n"
            "set output '%s.svg'\n"
            "replot\n"
            "unset output\n",
            stem);
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

static int cmp_int(const void *pa, const void *pb)
{
    int a = *(const int *)pa, b = *(const int *)pb;
    return (a > b) - (a < b);
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
        qsort(tvals, npts, sizeof *tvals, cmp_int);
        size_t nd = 0;
        for (i = 0; i < npts; i++)
            if (i == 0 || tvals[i] != tvals[i - 1])
                tvals[nd++] = tvals[i];
        if (nd <= 24) {
            size_t off = 0;
            off += (size_t)snprintf(series->xtics + off, sizeof series->xtics - off, "(");
            for (i = 0; i < nd && off < sizeof series->xtics; i++)
                off += (size_t)snprintf(series->xtics + off, sizeof series->xtics - off, "%s%d",
                                        i ? ", " : "", tvals[i]);
            if (off < sizeof series->xtics)
                snprintf(series->xtics + off, sizeof series->xtics - off, ")");
            else
                series->xtics[0] = '\0';
        }
    }
    rc = OWB_OK;
    goto out;
nomem:
    set_err(err, "stream_bw: out of memory");
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

/* ---- registry ----------------------------------------------------------------------------- */

const struct owb_plot_kind owb_plot_kinds[] = {
    {"stream_bw", "STREAM bandwidth vs threads", "stream/<kernel>/t<N> with metrics.gb_per_s",
     stream_match, stream_write_data, stream_write_script},
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

/* Run `gnuplot script` with dir as working folder; 0 when it exits with status 0. */
static int run_gnuplot(const char *dir, const char *script, char err[OWB_ERR_MAX])
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        set_err(err, "cannot start gnuplot: fork: %s", strerror(errno));
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
            set_err(err, "gnuplot %s: waitpid: %s", script, strerror(errno));
            return OWB_E_SYSTEM;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return OWB_OK;
    if (WIFEXITED(status))
        set_err(err, "gnuplot %s (in %s) exited with status %d%s", script, dir, WEXITSTATUS(status),
                WEXITSTATUS(status) == 127   ? " (could not run gnuplot)"
                : WEXITSTATUS(status) == 126 ? " (cannot enter the folder)"
                                             : "");
    else
        set_err(err, "gnuplot %s (in %s) was killed by signal %d", script, dir,
                WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return OWB_E_SYSTEM;
}

static bool nonempty_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

int owb_plot_results(cJSON *const *docs, int ndocs, const char *dir, char err[OWB_ERR_MAX],
                     int *nfigures)
{
    int rc = OWB_OK, written = 0;
    FILE *f = NULL;
    char path[4096], sub[OWB_ERR_MAX], first_gp[128] = "";
    struct owb_plot_series *series = NULL;

    err[0] = '\0';
    *nfigures = 0;
    if (!docs || ndocs < 1 || !dir || !*dir) {
        set_err(err, "plot: no result documents or no output folder");
        return OWB_E_USAGE;
    }
    if ((rc = owb_mkdir_p(dir, sub))) {
        set_err(err, "plot output %s: %s", dir, sub);
        return rc == OWB_E_NOMEM ? rc : OWB_E_IO;
    }
    if (!(series = malloc(sizeof *series))) {
        set_err(err, "plot: out of memory");
        return OWB_E_NOMEM;
    }
    bool have = owb_plot_have_gnuplot();

    for (int k = 0; k < owb_plot_nkinds; k++) {
        const struct owb_plot_kind *kind = &owb_plot_kinds[k];
        if (!kind_has_match(kind, docs, ndocs))
            continue;
        char dat[128], gp[128];
        snprintf(dat, sizeof dat, "%s.dat", kind->name);
        snprintf(gp, sizeof gp, "%s.gp", kind->name);

        snprintf(path, sizeof path, "%s/%s", dir, dat);
        if (!(f = fopen(path, "w"))) {
            set_err(err, "%s: cannot write: %s", path, strerror(errno));
            rc = OWB_E_IO;
            goto out;
        }
        if ((rc = kind->write_data(docs, ndocs, f, series, err)))
            goto out;
        int bad = ferror(f);
        bad |= fclose(f) != 0;
        f = NULL;
        if (bad) {
            set_err(err, "%s: write failed", path);
            rc = OWB_E_IO;
            goto out;
        }
        if (series->n == 0)
            continue; /* matching names but no numbers to draw */

        snprintf(path, sizeof path, "%s/%s", dir, gp);
        if (!(f = fopen(path, "w"))) {
            set_err(err, "%s: cannot write: %s", path, strerror(errno));
            rc = OWB_E_IO;
            goto out;
        }
        kind->write_script(f, kind->name, dat, series);
        bad = ferror(f);
        bad |= fclose(f) != 0;
        f = NULL;
        if (bad) {
            set_err(err, "%s: write failed", path);
            rc = OWB_E_IO;
            goto out;
        }
        written++;
        if (!first_gp[0])
            snprintf(first_gp, sizeof first_gp, "%s", gp);
        if (!have)
            continue;
        if ((rc = run_gnuplot(dir, gp, err)))
            goto out;
        char png[4200], svg[4200];
        snprintf(png, sizeof png, "%s/%s.png", dir, kind->name);
        snprintf(svg, sizeof svg, "%s/%s.svg", dir, kind->name);
        if (!nonempty_file(png) || !nonempty_file(svg)) {
            set_err(err, "gnuplot %s (in %s) succeeded but %s.png or %s.svg is missing or empty",
                    gp, dir, kind->name, kind->name);
            rc = OWB_E_SYSTEM;
            goto out;
        }
        (*nfigures)++;
    }
    if (written == 0) {
        char kinds[256] = "";
        size_t off = 0;
        for (int k = 0; k < owb_plot_nkinds && off < sizeof kinds; k++)
            off += (size_t)snprintf(kinds + off, sizeof kinds - off, "%s%s (%s)", k ? "; " : "",
                                    owb_plot_kinds[k].name, owb_plot_kinds[k].naming);
        set_err(err, "nothing to plot: no benchmark matches a plot kind (%s)", kinds);
    } else if (!have) {
        set_err(err,
                "gnuplot not found on PATH: wrote the data and scripts to %s but no figures; "
                "install gnuplot and run `cd %s && gnuplot %s`",
                dir, dir, first_gp);
    }
    rc = OWB_OK;
out:
    if (f)
        fclose(f);
    free(series);
    return rc;
}
