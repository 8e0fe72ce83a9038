/* SPDX-License-Identifier: MIT */
/*
 * test_plot_kinds.c: the kernels and serve plot kinds of plot/plot.h on result documents built
 * with results/result.h. For each kind: the names it matches, the .dat columns (bar positions,
 * GB/s, % of ceiling and the ceiling segment for kernels_gemv_bw; batches in order with the GEMV
 * joining as batch 1, at the most threads only, for kernels_gemm_gflops; the empirical CDF of TTFT
 * and of TPOT = (E2E - TTFT) / (N - 1) over measured successful requests only for
 * serve_latency_cdf; sweep points in load order with p50/p99 from metrics or from serving.latency
 * stats for serve_sweep; (input, TTFT) pairs for serve_ttft_vs_input), the gnuplot script, and with
 * gnuplot a PNG (magic bytes) and an SVG. Kinds without numbers leave no files behind; series
 * beyond OWB_PLOT_MAX_SERIES are left out with a note.
 */
#define _GNU_SOURCE /* mkdtemp */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "owb_test.h"
#include "results/result.h"
#include "plot/plot.h"

static char tmpdir[4096];

static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 22);
    size_t n = buf ? fread(buf, 1, (1 << 22) - 1, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static bool exists(const char *dir, const char *name)
{
    char path[4400];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

static const struct owb_plot_kind *kind(const char *name)
{
    for (int k = 0; k < owb_plot_nkinds; k++)
        if (!strcmp(owb_plot_kinds[k].name, name))
            return &owb_plot_kinds[k];
    return NULL;
}

/* PNG with its magic, SVG with <svg and the given legend text, when gnuplot is there. */
static void check_figure(const char *dir, const char *stem, const char *legend)
{
    char name[128];
    size_t len = 0;
    if (!owb_plot_have_gnuplot())
        return;
    snprintf(name, sizeof name, "%s.png", stem);
    char *png = slurp(dir, name, &len);
    CHECK_MSG(png && len > 1000 && !memcmp(png, "\x89PNG\r\n\x1a\n", 8), "%s", name);
    free(png);
    snprintf(name, sizeof name, "%s.svg", stem);
    char *svg = slurp(dir, name, NULL);
    CHECK_MSG(svg && strstr(svg, "<svg") && strstr(svg, legend), "%s lacks '%s'", name, legend);
    free(svg);
}

static void add_kernel(cJSON *doc, const char *name, double gbs, double gflops, double ceiling)
{
    cJSON *b = owb_result_add_benchmark(doc, name, "kernels");
    double v[5] = {1, 2, 3, 4, 5};
    owb_result_set_samples(b, "ns", v, 5);
    owb_result_metric(b, "us_median", 3e-3);
    owb_result_metric(b, "gb_per_s", gbs);
    owb_result_metric(b, "gflop_per_s", gflops);
    if (ceiling > 0) {
        owb_result_metric(b, "ceiling_gb_per_s", ceiling);
        owb_result_metric(b, "pct_of_ceiling", 100 * gbs / ceiling);
    }
}

static void test_kernels(void)
{
    const struct owb_plot_kind *gv = kind("kernels_gemv_bw"), *gm = kind("kernels_gemm_gflops");
    char dir[4200], err[OWB_ERR_MAX];
    int nfig = -1;
    CHECK(gv && gm);
    if (!gv || !gm)
        return;
    CHECK(gv->match("kernels/gemv/q4_0/4096x14336/t2"));
    CHECK(!gv->match("kernels/gemv/q4_0/4096x14336/t2/x"));
    CHECK(!gv->match("kernels/gemv/q4_0/4096/t2"));
    CHECK(!gv->match("kernels/gemv//4096x14336/t2"));
    CHECK(!gv->match("kernels/gemm/q4_0/2880x2880/b16/t2"));
    CHECK(gm->match("kernels/gemm/q4_0/2880x2880/b16/t2"));
    CHECK(!gm->match("kernels/gemm/q4_0/2880x2880/t2"));
    CHECK(!gm->match("kernels/gemv/q4_0/2880x2880/t2"));
    CHECK(!gm->match("stream/read/t2"));

    cJSON *doc = owb_result_new(0, NULL);
    /* GEMV: two formats x two groups (4096x14336 t1, t2); the t2 group has no ceiling for f16. */
    add_kernel(doc, "kernels/gemv/q4_0/4096x14336/t2", 20, 5, 40);
    add_kernel(doc, "kernels/gemv/f16/4096x14336/t2", 30, 4, 0);
    add_kernel(doc, "kernels/gemv/q4_0/4096x14336/t1", 10, 2.5, 25);
    add_kernel(doc, "kernels/gemv/f16/4096x14336/t1", 15, 2, 25);
    /* GEMM: batches out of order; the 2880x2880 t2 GEMV joins q4_0 as batch 1. */
    add_kernel(doc, "kernels/gemm/q4_0/2880x2880/b256/t2", 1, 300, 40);
    add_kernel(doc, "kernels/gemm/q4_0/2880x2880/b16/t2", 2, 100, 40);
    add_kernel(doc, "kernels/gemm/q8_0/2880x2880/b16/t2", 3, 90, 40);
    add_kernel(doc, "kernels/gemm/q8_0/2880x2880/b64/t2", 3, 150, 40);
    add_kernel(doc, "kernels/gemv/q4_0/2880x2880/t2", 26, 7, 40);
    /* Compute peaks: the int8 one at the most threads is drawn, the t1 one and f32 (absent) not. */
    cJSON *pk = owb_result_add_benchmark(doc, "kernels/peak/int8_dot/t2", "kernels");
    owb_result_metric(pk, "gop_per_s_best", 900);
    pk = owb_result_add_benchmark(doc, "kernels/peak/int8_dot/t1", "kernels");
    owb_result_metric(pk, "gop_per_s_best", 450);
    CHECK(!gm->match("kernels/peak/int8_dot/t2") && !gv->match("kernels/peak/int8_dot/t2"));
    /* Fewer threads than the most: not in the GEMM figure. */
    add_kernel(doc, "kernels/gemm/q4_0/2880x2880/b16/t1", 1, 60, 25);
    add_kernel(doc, "kernels/gemm/f16/2880x2880/b16/t1", 1, 61, 25);

    snprintf(dir, sizeof dir, "%s/kernels", tmpdir);
    CHECK_MSG(owb_plot_results(&doc, 1, dir, err, &nfig) == 0, "%s", err);
    CHECK_MSG(nfig == (owb_plot_have_gnuplot() ? 2 : 0), "nfigures %d (%s)", nfig, err);

    /* Groups sorted by shape then threads: 0 = 2880x2880 t2, 1 = 4096x14336 t1,
     * 2 = 4096x14336 t2; two series (q4_0 first seen) so bars at group -+ 0.2. */
    char *dat = slurp(dir, "kernels_gemv_bw.dat", NULL);
    CHECK(dat && strstr(dat, "0 = 2880x2880 t2, 1 = 4096x14336 t1, 2 = 4096x14336 t2"));
    CHECK_MSG(dat && strstr(dat, "# series 0: q4_0\n"
                                 "-0.2 0 26 65 40 0.003 65%\n"
                                 "0.8 1 10 40 25 0.003 40%\n"
                                 "1.8 2 20 50 40 0.003 50%\n"),
              "%s", dat ? dat : "(no file)");
    CHECK(dat && strstr(dat, "# series 1: f16\n"
                             "1.2 1 15 60 25 0.003 60%\n"
                             "2.2 2 30 NaN NaN 0.003 -\n"));
    /* Ceiling: one segment per group that has one, 0.45 either side of its centre. */
    CHECK(dat && strstr(dat, "# columns: x ceiling_gb_per_s\n"
                             "-0.45 40\n0.45 40\n\n"
                             "0.55 25\n1.45 25\n\n"
                             "1.55 40\n2.45 40\n"));
    free(dat);
    char *gp = slurp(dir, "kernels_gemv_bw.gp", NULL);
    CHECK(gp && strstr(gp, "set xtics ('2880x2880 t2' 0, '4096x14336 t1' 1, '4096x14336 t2' 2)"));
    CHECK(gp && strstr(gp, "'kernels_gemv_bw.dat' index 2 using 1:2 with lines"));
    CHECK(gp && strstr(gp, "with labels") && strstr(gp, "set xrange [-0.6:2.6]"));
    free(gp);
    check_figure(dir, "kernels_gemv_bw", "read ceiling");

    dat = slurp(dir, "kernels_gemm_gflops.dat", NULL);
    CHECK_MSG(dat &&
                  strstr(dat, "# series 0: q4_0\n1 7 0.003 26\n16 100 0.003 2\n256 300 0.003 1\n"),
              "%s", dat ? dat : "(no file)");
    CHECK(dat && strstr(dat, "# series 1: q8_0\n16 90 0.003 3\n64 150 0.003 3\n"));
    CHECK(dat && !strstr(dat, "# series 2") && !strstr(dat, " 60 ") && !strstr(dat, "f16"));
    /* the t2 peak across the batch range, after the series; no f32 block */
    CHECK_MSG(dat && strstr(dat, "# reference 0: int8_dot (GOP/s, best) at the thread count of "
                                 "each result\n# columns: batch gop_per_s_best\n1 900\n256 900\n"),
              "%s", dat ? dat : "(no file)");
    CHECK(dat && !strstr(dat, " 450") && !strstr(dat, "f32_fma"));
    free(dat);
    gp = slurp(dir, "kernels_gemm_gflops.gp", NULL);
    CHECK(gp && strstr(gp, "set logscale x 2") && strstr(gp, "set xtics (1, 16, 64, 256)"));
    CHECK(gp && strstr(gp, "'kernels_gemm_gflops.dat' index 2 using 1:2 with lines") &&
          strstr(gp, "'int8 dot peak'") && !strstr(gp, "f32 FMA peak"));
    free(gp);
    check_figure(dir, "kernels_gemm_gflops", "q8_0");

    /* Two shapes and two documents: legends name the shape and the document. */
    cJSON *doc2 = owb_result_new(0, NULL);
    cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(doc2, "env"), "host", "hostB");
    add_kernel(doc2, "kernels/gemm/q4_0/4096x4096/b16/t2", 1, 50, 0);
    cJSON *docs[2] = {doc, doc2};
    snprintf(dir, sizeof dir, "%s/kernels2", tmpdir);
    CHECK_MSG(owb_plot_results(docs, 2, dir, err, &nfig) == 0, "%s", err);
    dat = slurp(dir, "kernels_gemm_gflops.dat", NULL);
    CHECK_MSG(dat && strstr(dat, "# series 0: q4_0 (1), 2880x2880\n") &&
                  strstr(dat, "# series 2: q4_0 (2: hostB), 4096x4096\n16 50 "),
              "%s", dat ? dat : "(no file)");
    free(dat);
    /* One panel per shape. */
    gp = slurp(dir, "kernels_gemm_gflops.gp", NULL);
    CHECK(gp && strstr(gp, "set multiplot layout 1,2") &&
          strstr(gp, "set title '4096x4096'\nplot") &&
          strstr(gp, "'kernels_gemm_gflops.dat' index 2 using 1:2"));
    free(gp);
    cJSON_Delete(doc2);
    cJSON_Delete(doc);

    /* More series than a figure takes: drawn without the extra ones, and a note says so. */
    doc = owb_result_new(0, NULL);
    for (int f = 0; f < OWB_PLOT_MAX_SERIES + 2; f++) {
        char name[96];
        snprintf(name, sizeof name, "kernels/gemm/fmt%d/64x64/b16/t1", f);
        add_kernel(doc, name, 1, f + 1, 0);
    }
    snprintf(dir, sizeof dir, "%s/many", tmpdir);
    CHECK_MSG(owb_plot_results(&doc, 1, dir, err, &nfig) == 0, "%s", err);
    CHECK_MSG(strstr(err, "kernels_gemm_gflops: 2 series beyond the first 64"), "%s", err);
    dat = slurp(dir, "kernels_gemm_gflops.dat", NULL);
    CHECK(dat && strstr(dat, "# series 63: fmt63\n16 64 ") && !strstr(dat, "fmt64"));
    free(dat);
    cJSON_Delete(doc);
}

/* One request of serving.per_request. */
struct req {
    const char *phase, *error;
    double ttft_ms, e2e_ms; /* NAN: null */
    int in, out;
};

static cJSON *num_or_null(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

/* A serve benchmark like owb_serve_to_json writes (the parts the plots read). With
 * per-request data r[0..n) (n < 0: none, TTFT samples only); latency p50/p99 as metrics, or,
 * with stats_only, only as serving.latency.<m>.stats. */
static void add_serve(cJSON *doc, const char *name, double rate, int conc, double tok_s,
                      const double lat[4], bool stats_only, const struct req *r, int n)
{
    cJSON *b = owb_result_add_benchmark(doc, name, "serve");
    double ttft[64];
    int nt = 0;
    owb_result_param_num(b, "rate", rate);
    owb_result_param_num(b, "concurrency", conc);
    owb_result_metric(b, "output_tok_per_s", tok_s);
    owb_result_metric(b, "req_per_s", tok_s / 10);
    cJSON *sv = cJSON_AddObjectToObject(b, "serving");
    cJSON *lt = cJSON_AddObjectToObject(sv, "latency");
    static const char *const m[2] = {"tpot", "e2e"};
    for (int k = 0; k < 2; k++) {
        char key[32];
        if (stats_only) {
            cJSON *st = cJSON_AddObjectToObject(cJSON_AddObjectToObject(lt, m[k]), "stats");
            cJSON_AddNumberToObject(st, "p50", lat[2 * k]);
            cJSON_AddNumberToObject(st, "p99", lat[2 * k + 1]);
        } else {
            snprintf(key, sizeof key, "%s_p50_ms", m[k]);
            owb_result_metric(b, key, lat[2 * k]);
            snprintf(key, sizeof key, "%s_p99_ms", m[k]);
            owb_result_metric(b, key, lat[2 * k + 1]);
        }
    }
    if (n >= 0) {
        cJSON *pr = cJSON_AddObjectToObject(sv, "per_request");
        cJSON *a_t = cJSON_AddArrayToObject(pr, "ttft_ms"),
              *a_e = cJSON_AddArrayToObject(pr, "e2e_ms");
        cJSON *a_i = cJSON_AddArrayToObject(pr, "input_tokens");
        cJSON *a_o = cJSON_AddArrayToObject(pr, "output_tokens");
        cJSON *a_p = cJSON_AddArrayToObject(pr, "phase"),
              *a_r = cJSON_AddArrayToObject(pr, "error");
        for (int i = 0; i < n; i++) {
            cJSON_AddItemToArray(a_t, num_or_null(r[i].ttft_ms));
            cJSON_AddItemToArray(a_e, num_or_null(r[i].e2e_ms));
            cJSON_AddItemToArray(a_i, cJSON_CreateNumber(r[i].in));
            cJSON_AddItemToArray(a_o, cJSON_CreateNumber(r[i].out));
            cJSON_AddItemToArray(a_p, cJSON_CreateString(r[i].phase));
            cJSON_AddItemToArray(a_r, cJSON_CreateString(r[i].error));
            if (!strcmp(r[i].phase, "measured") && !strcmp(r[i].error, "ok") &&
                isfinite(r[i].ttft_ms))
                ttft[nt++] = r[i].ttft_ms;
        }
    } else {
        ttft[nt++] = 12;
        ttft[nt++] = 11;
    }
    owb_result_set_samples(b, "ms", ttft, (size_t)nt);
}

static void test_serve(void)
{
    const struct owb_plot_kind *cdf = kind("serve_latency_cdf"), *sw = kind("serve_sweep"),
                               *ti = kind("serve_ttft_vs_input");
    char dir[4200], err[OWB_ERR_MAX];
    int nfig = -1;
    CHECK(cdf && sw && ti);
    if (!cdf || !sw || !ti)
        return;
    CHECK(cdf->match("serve/chat/random/c4") && sw->match("serve/chat/random/rate2"));
    CHECK(!ti->match("serve/") && !ti->match("kernels/gemv/q4_0/4096x14336/t2"));

    /* Per request: a warm-up, a failed request and a measured one with 1 output token (TTFT
     * but no TPOT) among four measured successful ones. TPOT = (E2E - TTFT) / (N - 1):
     * (110 - 10) / 10 = 10, (70 - 20) / 5 = 10, (130 - 30) / 4 = 25. */
    static const struct req rq[] = {
        {"warmup", "ok", 5, 50, 7, 10},         {"measured", "ok", 30, 130, 300, 5},
        {"measured", "http", NAN, NAN, 400, 0}, {"measured", "ok", 10, 110, 100, 11},
        {"measured", "ok", 40, 50, 150, 1},     {"measured", "ok", 20, 70, 200, 6},
        {"cooldown", "ok", 1, 2, 9, 3},
    };
    static const double lat4[4] = {12, 20, 300, 500}, lat1[4] = {8, 9, 100, 120},
                        lat2[4] = {10, 15, 200, 260}, lat_other[4] = {1, 2, 3, 4};
    cJSON *doc = owb_result_new(0, NULL);
    /* A concurrency sweep written out of order, c2 with stats only, and a lone rate point of
     * another endpoint (not a sweep) without per-request data. */
    add_serve(doc, "serve/chat/random/c4", 0, 4, 300, lat4, false, rq, (int)OWB_ARRAY_LEN(rq));
    add_serve(doc, "serve/chat/random/c1", 0, 1, 100, lat1, false, rq, 2);
    add_serve(doc, "serve/chat/random/c2", 0, 2, 180, lat2, true, rq, 0);
    add_serve(doc, "serve/completions/random/rate1", 1, 0, 50, lat_other, false, NULL, -1);

    snprintf(dir, sizeof dir, "%s/serve", tmpdir);
    CHECK_MSG(owb_plot_results(&doc, 1, dir, err, &nfig) == 0, "%s", err);
    CHECK_MSG(nfig == (owb_plot_have_gnuplot() ? 3 : 0), "nfigures %d (%s)", nfig, err);

    /* CDF: TTFT blocks of every benchmark with TTFTs (c2 has none: no series), then TPOT. */
    char *dat = slurp(dir, "serve_latency_cdf.dat", NULL);
    CHECK_MSG(dat && strstr(dat, "# series 0 ttft: chat/random/c4\n# TTFT ms (first token - "
                                 "scheduled)\n10 0.25\n20 0.5\n30 0.75\n40 1\n\n\n"),
              "%s", dat ? dat : "(no file)");
    CHECK(dat && strstr(dat, "# series 1 ttft: chat/random/c1\n# TTFT ms (first token - "
                             "scheduled)\n30 1\n\n\n"));
    CHECK(dat && strstr(dat, "# series 2 ttft: completions/random/rate1\n# TTFT ms (first token "
                             "- scheduled)\n11 0.5\n12 1\n\n\n"));
    CHECK(dat && strstr(dat, "# series 0 tpot: chat/random/c4\n# TPOT ms ((E2E - TTFT) / "
                             "(output tokens - 1))\n10 0.333333\n10 0.666667\n25 1\n\n\n"));
    CHECK(dat && strstr(dat, "# series 1 tpot: chat/random/c1\n# TPOT ms ((E2E - TTFT) / "
                             "(output tokens - 1))\n25 1\n"));
    CHECK(dat && !strstr(dat, "series 2 tpot") && !strstr(dat, "c2"));
    free(dat);
    char *gp = slurp(dir, "serve_latency_cdf.gp", NULL);
    /* TPOT blocks follow the three TTFT blocks: index 3 and 4. */
    CHECK(gp && strstr(gp, "set multiplot layout 1,2") &&
          strstr(gp, "'serve_latency_cdf.dat' index 4 using 1:2 with steps lc 2") &&
          !strstr(gp, "index 5") && strstr(gp, "set output 'serve_latency_cdf.svg'"));
    free(gp);
    check_figure(dir, "serve_latency_cdf", "chat/random/c1");

    /* Sweep: the three chat points in load order; the lone rate point makes no series. */
    dat = slurp(dir, "serve_sweep.dat", NULL);
    CHECK_MSG(dat && strstr(dat, "# series 0: chat/random\n"
                                 "0 1 100 8 9 100 120 10 c1\n"
                                 "0 2 180 10 15 200 260 18 c2\n"
                                 "0 4 300 12 20 300 500 30 c4\n"),
              "%s", dat ? dat : "(no file)");
    CHECK(dat && !strstr(dat, "# series 1") && !strstr(dat, "rate1"));
    free(dat);
    gp = slurp(dir, "serve_sweep.gp", NULL);
    CHECK(gp && strstr(gp, "using 4:3 with linespoints") &&
          strstr(gp, "using 7:3 with linespoints"));
    free(gp);
    check_figure(dir, "serve_sweep", "chat/random p99");

    /* TTFT vs input: measured successful requests, by input length. */
    dat = slurp(dir, "serve_ttft_vs_input.dat", NULL);
    CHECK_MSG(dat && strstr(dat, "# series 0: chat/random/c4\n"
                                 "100 10 11\n150 40 1\n200 20 6\n300 30 5\n"),
              "%s", dat ? dat : "(no file)");
    CHECK(dat && strstr(dat, "# series 1: chat/random/c1\n300 30 5\n"));
    CHECK(dat && !strstr(dat, "# series 2"));
    free(dat);
    check_figure(dir, "serve_ttft_vs_input", "chat/random/c4");
    cJSON_Delete(doc);

    /* One point without per-request data: the CDF only; the other kinds leave no files. */
    doc = owb_result_new(0, NULL);
    add_serve(doc, "serve/chat/random/c1", 0, 1, 100, lat1, false, NULL, -1);
    snprintf(dir, sizeof dir, "%s/serve1", tmpdir);
    CHECK_MSG(owb_plot_results(&doc, 1, dir, err, &nfig) == 0, "%s", err);
    CHECK_MSG(nfig == (owb_plot_have_gnuplot() ? 1 : 0), "nfigures %d", nfig);
    CHECK(exists(dir, "serve_latency_cdf.dat") && exists(dir, "serve_latency_cdf.gp"));
    CHECK(!exists(dir, "serve_sweep.dat") && !exists(dir, "serve_sweep.gp"));
    CHECK(!exists(dir, "serve_ttft_vs_input.dat") && !exists(dir, "serve_ttft_vs_input.png"));
    gp = slurp(dir, "serve_latency_cdf.gp", NULL);
    CHECK(gp && strstr(gp, "set multiplot layout 1,1"));
    free(gp);
    cJSON_Delete(doc);
}

int main(void)
{
    const char *root = getenv("OWB_TMP");
    if (!root || !*root)
        root = "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/plot_kinds.XXXXXX", root);
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    if (!owb_plot_have_gnuplot())
        fprintf(stderr, "note: gnuplot not on PATH, figure checks skipped\n");
    test_kernels();
    test_serve();
    TEST_DONE();
}
