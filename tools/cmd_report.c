/* SPDX-License-Identifier: MIT */
/*
 * cmd_report.c: `owbench report RESULT.json... -o DIR` writes DIR/report.html, one self-contained
 * page for one or several results: an inputs table, a side-by-side section when there are several
 * (serving speed and quality figures per input, overlaid figures), the gnuplot figures embedded as
 * SVG data URIs, and per input its environment, validity notes, benchmarks, the server's own
 * metrics during each load point, and eval results with how their scores were produced. No
 * script, no external resource (a Content-Security-Policy forbids any fetch), so the page renders
 * offline. The figures' data, scripts, PNG and SVG stay in DIR/figures.
 */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "owb_atomic.h"
#include "owb_common.h"
#include "plot/plot.h"
#include "results/result.h"
#include "tools/cmds.h"

#define MAX_INPUTS 32

static void usage(FILE *f)
{
    fprintf(f, "usage: owbench report RESULT.json... -o DIR [--title TEXT]\n\n"
               "One self-contained HTML page (DIR/report.html) for the results: inputs, a\n"
               "side-by-side section when there are several (backends, derivatives), gnuplot\n"
               "figures inline, environment and validity notes of every input, benchmarks,\n"
               "server-side metrics, eval results. No script and no network fetch: it renders\n"
               "offline. Figure data and scripts go to DIR/figures.\n"
               "exit: 0 ok, 2 usage error, 3 unreadable result or unwritable output\n");
}

/* ---- HTML output helpers ---- */

static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static const cJSON *jget(const cJSON *o, const char *k)
{
    return o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = jget(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *v = jget(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : (double)NAN;
}

static void num_cell(FILE *f, double v)
{
    if (isnan(v))
        fputs("<td class=na>&ndash;</td>", f);
    else
        fprintf(f, "<td class=n>%.5g</td>", v);
}

/* Any JSON value, compact and escaped. */
static void json_cell(FILE *f, const cJSON *v)
{
    char *s = v ? cJSON_PrintUnformatted(v) : NULL;
    fputs("<td><code>", f);
    if (s && strlen(s) > 400)
        s[400] = '\0';
    esc(f, s ? s : "");
    fputs("</code></td>", f);
    free(s);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The file as a data URI image; returns 0 or -1 when unreadable. */
static int img_data_uri(FILE *f, const char *path, const char *alt)
{
    FILE *in = fopen(path, "rb");
    if (!in)
        return -1;
    fputs("<img alt=\"", f);
    esc(f, alt);
    fputs("\" src=\"data:image/svg+xml;base64,", f);
    unsigned char b[3];
    size_t n;
    while ((n = fread(b, 1, 3, in)) > 0) {
        unsigned v = (unsigned)b[0] << 16 | (n > 1 ? (unsigned)b[1] << 8 : 0) | (n > 2 ? b[2] : 0);
        fputc(b64[(v >> 18) & 63], f);
        fputc(b64[(v >> 12) & 63], f);
        fputc(n > 1 ? b64[(v >> 6) & 63] : '=', f);
        fputc(n > 2 ? b64[v & 63] : '=', f);
    }
    fclose(in);
    fputs("\">", f);
    return 0;
}

/* ---- sections ---- */

/* The last two components of a path ("run-a/serve.json"): results are usually DIR/<kind>.json. */
static const char *label_of(const char *path)
{
    const char *s = strrchr(path, '/');
    if (!s)
        return path;
    const char *p = s;
    while (p > path && p[-1] != '/')
        p--;
    return p;
}

static void inputs_table(FILE *f, cJSON *const *docs, char *const *paths, int n)
{
    fputs("<h2 id=inputs>Inputs</h2>\n<table><tr><th>#</th><th>file</th><th>created</th>"
          "<th>host</th><th>CPU</th><th>owbench</th><th>benchmarks</th><th>not valid</th>"
          "<th>evals</th><th>command</th></tr>\n",
          f);
    for (int i = 0; i < n; i++) {
        const cJSON *env = jget(docs[i], "env"), *b, *cmd = jget(docs[i], "command"), *c;
        int nb = 0, nv = 0;
        cJSON_ArrayForEach(b, jget(docs[i], "benchmarks"))
        {
            nb++;
            nv += cJSON_IsFalse(jget(b, "valid"));
        }
        fprintf(f, "<tr><td><a href=\"#in%d\">%d</a></td><td>", i + 1, i + 1);
        esc(f, paths[i]);
        fputs("</td><td>", f);
        esc(f, jstr(docs[i], "created"));
        fputs("</td><td>", f);
        esc(f, jstr(env, "host"));
        fputs("</td><td>", f);
        esc(f, jstr(jget(env, "cpu"), "model"));
        fputs("</td><td>", f);
        esc(f, jstr(jget(docs[i], "tool"), "git"));
        fprintf(f, "</td><td class=n>%d</td><td class=n>%d</td><td class=n>%d</td><td><code>", nb,
                nv, cJSON_GetArraySize(jget(docs[i], "evals")));
        cJSON_ArrayForEach(c, cmd)
        {
            esc(f, cJSON_IsString(c) ? c->valuestring : "");
            fputc(' ', f);
        }
        fputs("</code></td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* Union of benchmark names (serve suite) or eval name/metric pairs over the inputs. */
static int collect_names(cJSON *const *docs, int n, const char *arr, const char *suite,
                         char names[][320], int max)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        const cJSON *b;
        cJSON_ArrayForEach(b, jget(docs[i], arr))
        {
            char key[320];
            const char *nm = jstr(b, "name"), *m = jstr(b, "metric");
            if (!nm || (suite && (!jstr(b, "suite") || strcmp(jstr(b, "suite"), suite))))
                continue;
            snprintf(key, sizeof key, "%.200s%s%.100s", nm, m ? " \xc2\xb7 " : "", m ? m : "");
            int dup = 0;
            for (int j = 0; j < k && !dup; j++)
                dup = !strcmp(names[j], key);
            if (!dup && k < max)
                snprintf(names[k++], sizeof names[0], "%s", key);
        }
    }
    return k;
}

static const cJSON *find_item(const cJSON *doc, const char *arr, const char *key)
{
    const cJSON *b;
    cJSON_ArrayForEach(b, jget(doc, arr))
    {
        char k[320];
        const char *nm = jstr(b, "name"), *m = jstr(b, "metric");
        if (!nm)
            continue;
        snprintf(k, sizeof k, "%.200s%s%.100s", nm, m ? " \xc2\xb7 " : "", m ? m : "");
        if (!strcmp(k, key))
            return b;
    }
    return NULL;
}

static void side_by_side(FILE *f, cJSON *const *docs, char *const *paths, int n)
{
    static char names[256][320];
    fputs("<h2 id=sbs>Side by side</h2>\n", f);
    int k = collect_names(docs, n, "benchmarks", "serve", names, 256);
    if (k) {
        static const char *const col[] = {"req_per_s",   "output_tok_per_s", "ttft_p50_ms",
                                          "ttft_p99_ms", "tpot_p50_ms",      "tpot_p99_ms",
                                          "error_frac"};
        fputs("<h3>Serving speed</h3>\n<table><tr><th>benchmark</th><th>input</th>", f);
        for (size_t c = 0; c < sizeof col / sizeof col[0]; c++)
            fprintf(f, "<th>%s</th>", col[c]);
        fputs("<th>valid</th></tr>\n", f);
        for (int r = 0; r < k; r++)
            for (int i = 0; i < n; i++) {
                const cJSON *b = find_item(docs[i], "benchmarks", names[r]);
                if (!b)
                    continue;
                fputs("<tr><td>", f);
                esc(f, names[r]);
                fprintf(f, "</td><td>%d: ", i + 1);
                esc(f, label_of(paths[i]));
                fputs("</td>", f);
                for (size_t c = 0; c < sizeof col / sizeof col[0]; c++)
                    num_cell(f, jnum(jget(b, "metrics"), col[c]));
                fprintf(f, "<td>%s</td></tr>\n", cJSON_IsFalse(jget(b, "valid")) ? "no" : "yes");
            }
        fputs("</table>\n", f);
    }
    k = collect_names(docs, n, "evals", NULL, names, 256);
    if (k) {
        fputs("<h3>Quality</h3>\n<table><tr><th>eval &middot; metric</th>", f);
        for (int i = 0; i < n; i++) {
            fprintf(f, "<th>%d: ", i + 1);
            esc(f, label_of(paths[i]));
            fputs("</th>", f);
        }
        fputs("</tr>\n", f);
        for (int r = 0; r < k; r++) {
            fputs("<tr><td>", f);
            esc(f, names[r]);
            fputs("</td>", f);
            for (int i = 0; i < n; i++) {
                const cJSON *e = find_item(docs[i], "evals", names[r]);
                double v = jnum(e, "value"), lo = jnum(e, "ci95_lo"), hi = jnum(e, "ci95_hi");
                if (!e || isnan(v)) {
                    const char *verdict = jstr(e, "verdict");
                    fputs("<td>", f);
                    esc(f, verdict ? verdict : "\xe2\x80\x93");
                    fputs("</td>", f);
                } else if (!isnan(lo)) {
                    fprintf(f, "<td class=n>%.5g [%.5g, %.5g]</td>", v, lo, hi);
                } else {
                    fprintf(f, "<td class=n>%.5g</td>", v);
                }
            }
            fputs("</tr>\n", f);
        }
        fputs("</table>\n", f);
    }
}

static void figures(FILE *f, const char *figdir, int nfig, const char *note)
{
    fputs("<h2 id=figures>Figures</h2>\n", f);
    if (note && *note) {
        fputs("<p class=note>", f);
        esc(f, note);
        fputs("</p>\n", f);
    }
    if (!nfig)
        return;
    for (int k = 0; k < owb_plot_nkinds; k++) {
        char path[4400];
        snprintf(path, sizeof path, "%.4200s/%.100s.svg", figdir, owb_plot_kinds[k].name);
        FILE *t = fopen(path, "rb");
        if (!t)
            continue;
        fclose(t);
        fputs("<figure>", f);
        img_data_uri(f, path, owb_plot_kinds[k].what);
        fputs("<figcaption>", f);
        esc(f, owb_plot_kinds[k].what);
        fputs(" (", f);
        esc(f, owb_plot_kinds[k].name);
        fputs(".svg)</figcaption></figure>\n", f);
    }
}

static void env_table(FILE *f, const cJSON *env)
{
    const cJSON *os = jget(env, "os"), *cpu = jget(env, "cpu"), *top = jget(env, "topology");
    const cJSON *build = jget(env, "build"), *feat = jget(env, "features"), *x;
    fputs("<table class=kv>", f);
    fputs("<tr><th>host</th><td>", f);
    esc(f, jstr(env, "host"));
    fputs("</td></tr><tr><th>OS</th><td>", f);
    esc(f, jstr(os, "sysname"));
    fputc(' ', f);
    esc(f, jstr(os, "release"));
    fputs("</td></tr><tr><th>CPU</th><td>", f);
    esc(f, jstr(cpu, "vendor"));
    fputc(' ', f);
    esc(f, jstr(cpu, "model"));
    fprintf(f, ", %g MHz</td></tr>", jnum(cpu, "mhz"));
    fprintf(f,
            "<tr><th>topology</th><td>%g packages, %g NUMA nodes, %g cores, %g PUs, LLC %g MiB, "
            "memory %.1f GiB</td></tr>",
            jnum(top, "packages"), jnum(top, "numa_nodes"), jnum(top, "cores"), jnum(top, "pus"),
            jnum(top, "llc_bytes") / 1048576.0, jnum(top, "memory_bytes") / 1073741824.0);
    fputs("<tr><th>frequency</th>", f);
    json_cell(f, jget(env, "frequency"));
    fputs("</tr><tr><th>build</th><td>", f);
    esc(f, jstr(build, "version"));
    fputs(" git ", f);
    esc(f, jstr(build, "git"));
    fputs(", ", f);
    esc(f, jstr(build, "type"));
    fputs(", ", f);
    esc(f, jstr(build, "compiler"));
    fputs(" <code>", f);
    esc(f, jstr(build, "c_flags"));
    fputs("</code></td></tr>", f);
    cJSON_ArrayForEach(x, feat)
    {
        fputs("<tr><th>feature ", f);
        esc(f, x->string);
        fprintf(
            f, "</th><td>%s, %s: ", cJSON_IsTrue(jget(x, "compiled")) ? "compiled" : "not compiled",
            cJSON_IsTrue(jget(x, "active")) ? "active" : "not active");
        esc(f, jstr(x, "reason"));
        fputs("</td></tr>", f);
    }
    fputs("</table>\n", f);
}

/* A sparkline of one series over the scrape times t (inline SVG, 200 x 28 px). */
static void sparkline(FILE *f, const cJSON *t, const cJSON *vals, double mn, double mx)
{
    const cJSON *ti = t ? t->child : NULL, *v = vals ? vals->child : NULL;
    double t0 = NAN, t1 = NAN;
    const cJSON *x;
    cJSON_ArrayForEach(x, t) if (cJSON_IsNumber(x))
    {
        t0 = isnan(t0) ? x->valuedouble : t0;
        t1 = x->valuedouble;
    }
    fputs("<td><svg width=200 height=28 viewBox=\"0 0 200 28\" role=img><polyline fill=none "
          "stroke=\"#1f77b4\" stroke-width=1.2 points=\"",
          f);
    for (; ti && v; ti = ti->next, v = v->next) {
        if (!cJSON_IsNumber(ti) || !cJSON_IsNumber(v))
            continue;
        double px = t1 > t0 ? 2 + 196 * (ti->valuedouble - t0) / (t1 - t0) : 100;
        double py = mx > mn ? 26 - 24 * (v->valuedouble - mn) / (mx - mn) : 14;
        fprintf(f, "%.1f,%.1f ", px, py);
    }
    fputs("\"/></svg></td>", f);
}

static void server_metrics(FILE *f, const char *bench, const cJSON *sm)
{
    const cJSON *s;
    fputs("<h4>Server metrics during ", f);
    esc(f, bench);
    fputs("</h4>\n<p>", f);
    esc(f, jstr(sm, "url"));
    fprintf(f, ": %g scrapes every %g ms, %g failed, %g malformed lines</p>\n", jnum(sm, "scrapes"),
            jnum(sm, "interval_ms"), jnum(sm, "failures"), jnum(sm, "bad_lines"));
    fputs("<table><tr><th>series</th><th>first</th><th>min</th><th>mean</th><th>max</th>"
          "<th>last</th><th>over the run (min to max)</th></tr>\n",
          f);
    cJSON_ArrayForEach(s, jget(sm, "series"))
    {
        double mn = INFINITY, mx = -INFINITY, sum = 0, first = NAN, last = NAN;
        int n = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, s)
        {
            if (!cJSON_IsNumber(v))
                continue;
            double x = v->valuedouble;
            if (isnan(first))
                first = x;
            last = x;
            mn = x < mn ? x : mn;
            mx = x > mx ? x : mx;
            sum += x;
            n++;
        }
        if (!n)
            continue;
        fputs("<tr><td><code>", f);
        esc(f, s->string);
        fputs("</code></td>", f);
        num_cell(f, first);
        num_cell(f, mn);
        num_cell(f, sum / n);
        num_cell(f, mx);
        num_cell(f, last);
        sparkline(f, jget(sm, "t_s"), s, mn, mx);
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void input_section(FILE *f, int i, const cJSON *doc, const char *path)
{
    const cJSON *b, *e;
    fprintf(f, "<h2 id=in%d>Input %d: ", i + 1, i + 1);
    esc(f, path);
    fputs("</h2>\n<h3>Environment</h3>\n", f);
    env_table(f, jget(doc, "env"));
    int nbad = 0;
    cJSON_ArrayForEach(b, jget(doc, "benchmarks")) nbad += cJSON_IsFalse(jget(b, "valid"));
    fputs("<h3>Validity</h3>\n", f);
    if (!nbad) {
        fputs("<p>Every benchmark is marked valid.</p>\n", f);
    } else {
        fprintf(f, "<p class=warn>%d benchmark%s not valid:</p><ul>\n", nbad, nbad > 1 ? "s" : "");
        cJSON_ArrayForEach(b, jget(doc, "benchmarks"))
        {
            const cJSON *note;
            if (!cJSON_IsFalse(jget(b, "valid")))
                continue;
            fputs("<li><code>", f);
            esc(f, jstr(b, "name"));
            fputs("</code>: ", f);
            cJSON_ArrayForEach(note, jget(b, "notes"))
            {
                esc(f, cJSON_IsString(note) ? note->valuestring : "");
                fputs("; ", f);
            }
            fputs("</li>\n", f);
        }
        fputs("</ul>\n", f);
    }
    if (cJSON_GetArraySize(jget(doc, "benchmarks"))) {
        fputs("<h3>Benchmarks</h3>\n<table><tr><th>name</th><th>unit</th><th>n</th>"
              "<th>median</th><th>p90</th><th>p99</th><th>95% CI of the median</th><th>valid</th>"
              "<th>metrics</th></tr>\n",
              f);
        cJSON_ArrayForEach(b, jget(doc, "benchmarks"))
        {
            const cJSON *st = jget(b, "stats");
            fputs("<tr><td><code>", f);
            esc(f, jstr(b, "name"));
            fputs("</code></td><td>", f);
            esc(f, jstr(jget(b, "samples"), "unit"));
            fputs("</td>", f);
            num_cell(f, jnum(st, "n"));
            num_cell(f, jnum(st, "median"));
            num_cell(f, jnum(st, "p90"));
            num_cell(f, jnum(st, "p99"));
            double lo = jnum(st, "ci95_lo"), hi = jnum(st, "ci95_hi");
            if (isnan(lo))
                fputs("<td class=na>&ndash;</td>", f);
            else
                fprintf(f, "<td class=n>[%.5g, %.5g]</td>", lo, hi);
            fprintf(f, "<td>%s</td>", cJSON_IsFalse(jget(b, "valid")) ? "no" : "yes");
            json_cell(f, jget(b, "metrics"));
            fputs("</tr>\n", f);
        }
        fputs("</table>\n", f);
        cJSON_ArrayForEach(b, jget(doc, "benchmarks"))
        {
            const cJSON *sm = jget(jget(b, "serving"), "server_metrics");
            if (sm)
                server_metrics(f, jstr(b, "name") ? jstr(b, "name") : "", sm);
        }
    }
    if (cJSON_GetArraySize(jget(doc, "evals"))) {
        fputs("<h3>Evals</h3>\n<table><tr><th>name</th><th>metric</th><th>value</th>"
              "<th>95% CI</th><th>n</th><th>scored by</th></tr>\n",
              f);
        cJSON_ArrayForEach(e, jget(doc, "evals"))
        {
            const cJSON *pr = jget(e, "params"), *srv = jget(pr, "server");
            fputs("<tr><td><code>", f);
            esc(f, jstr(e, "name"));
            fputs("</code></td><td>", f);
            esc(f, jstr(e, "metric"));
            fputs("</td>", f);
            num_cell(f, jnum(e, "value"));
            if (isnan(jnum(e, "ci95_lo")))
                fputs("<td class=na>&ndash;</td>", f);
            else
                fprintf(f, "<td class=n>[%.5g, %.5g]</td>", jnum(e, "ci95_lo"), jnum(e, "ci95_hi"));
            num_cell(f, jnum(e, "n"));
            if (srv) {
                fputs("<td>server ", f);
                esc(f, jstr(srv, "url"));
                fputs(" by ", f);
                esc(f, jstr(srv, "method"));
                fprintf(f, "; tokenizer %s, log-probs %s, repeatable %s, top-k returned %g",
                        cJSON_IsTrue(jget(srv, "tokenizer_agrees")) ? "agrees" : "DIFFERS",
                        cJSON_IsTrue(jget(srv, "normalised")) ? "normalised" : "NOT normalised",
                        cJSON_IsTrue(jget(srv, "repeatable")) ? "yes" : "NO",
                        jnum(srv, "top_k_returned"));
                fputs("</td>", f);
            } else {
                fputs("<td>", f);
                esc(f, jstr(pr, "producer") ? jstr(pr, "producer") : "");
                fputc(' ', f);
                esc(f, jstr(pr, "model"));
                fputs("</td>", f);
            }
            fputs("</tr>\n", f);
        }
        fputs("</table>\n", f);
    }
}

static const char css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:1400px}"
    "table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ccc;padding:2px 6px;"
    "vertical-align:top}th{background:#f0f0f0;text-align:left}td.n{text-align:right;"
    "font-variant-numeric:tabular-nums}td.na{color:#999;text-align:center}code{font-size:12px;"
    "word-break:break-all}.warn{color:#a00}.note{color:#555;font-style:italic}figure{display:"
    "inline-block;margin:.5em}figure img{max-width:100%;border:1px solid #ddd}table.kv th{width:"
    "12em}nav a{margin-right:1em}";

int cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                         {"title", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL, *title = "owbench report";
    cJSON *docs[MAX_INPUTS] = {0};
    char *paths[MAX_INPUTS] = {0};
    char err[OWB_ERR_MAX] = "", figdir[4200], html[4200], note[OWB_ERR_MAX] = "";
    int c, n = 0, rc = OWB_EXIT_OK, nfig = 0;
    struct owb_atomic_file af;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 't':
            title = optarg;
            break;
        case 'h':
            usage(stdout);
            return OWB_EXIT_OK;
        default:
            usage(stderr);
            return OWB_EXIT_USAGE;
        }
    }
    if (!out || optind >= argc) {
        fprintf(stderr, "owbench report: %s\n",
                out ? "at least one RESULT.json is required" : "-o DIR is required");
        return OWB_EXIT_USAGE;
    }
    if (argc - optind > MAX_INPUTS) {
        fprintf(stderr, "owbench report: at most %d results\n", MAX_INPUTS);
        return OWB_EXIT_USAGE;
    }
    for (int i = optind; i < argc; i++) {
        if (owb_result_read(argv[i], &docs[n], err)) {
            fprintf(stderr, "owbench report: %s\n", err);
            rc = OWB_EXIT_RUNTIME;
            goto out;
        }
        paths[n++] = argv[i];
    }
    snprintf(figdir, sizeof figdir, "%s/figures", out);
    if (owb_mkdir_p(figdir, err)) {
        fprintf(stderr, "owbench report: %s\n", err);
        rc = OWB_EXIT_RUNTIME;
        goto out;
    }
    /* Every input in one set of figures: several backends or derivatives overlay. */
    if (owb_plot_results(docs, n, figdir, note, &nfig)) {
        fprintf(stderr, "owbench report: figures: %s (the page goes on without them)\n", note);
        nfig = 0;
    }
    snprintf(html, sizeof html, "%s/report.html", out);
    if (owb_atomic_file_open(&af, html, err)) {
        fprintf(stderr, "owbench report: %s\n", err);
        rc = OWB_EXIT_RUNTIME;
        goto out;
    }
    FILE *f = af.f;
    char when[64];
    time_t now = time(NULL);
    struct tm tmv;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&now, &tmv));
    fputs("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>\n"
          "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; img-src data:; "
          "style-src 'unsafe-inline'\">\n<title>",
          f);
    esc(f, title);
    fprintf(f, "</title>\n<style>%s</style></head><body>\n<h1>", css);
    esc(f, title);
    fprintf(f,
            "</h1>\n<p>%d input%s, written %s by owbench report.</p>\n<nav>"
            "<a href=\"#inputs\">inputs</a>%s<a href=\"#figures\">figures</a>",
            n, n > 1 ? "s" : "", when, n > 1 ? "<a href=\"#sbs\">side by side</a>" : "");
    for (int i = 0; i < n; i++)
        fprintf(f, "<a href=\"#in%d\">input %d</a>", i + 1, i + 1);
    fputs("</nav>\n", f);
    inputs_table(f, docs, paths, n);
    if (n > 1)
        side_by_side(f, docs, paths, n);
    figures(f, figdir, nfig, note);
    for (int i = 0; i < n; i++)
        input_section(f, i, docs[i], paths[i]);
    fputs("</body></html>\n", f);
    if (owb_atomic_file_commit(&af, err)) {
        fprintf(stderr, "owbench report: %s\n", err);
        rc = OWB_EXIT_RUNTIME;
        goto out;
    }
    fprintf(stderr, "wrote %s (%d figure%s)\n", html, nfig, nfig == 1 ? "" : "s");
out:
    for (int i = 0; i < n; i++)
        cJSON_Delete(docs[i]);
    return rc;
}
