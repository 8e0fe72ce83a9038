/* SPDX-License-Identifier: MIT */
/*
 * test_plot_api.c: owb_plot_results (plot/plot.h) on stream-shaped result documents built with
 * results/result.h: with gnuplot, stream_bw.png (PNG magic), .svg (<svg) and .dat/.gp appear and
 * the data has one block per kernel with the thread counts in order; without gnuplot on PATH the
 * data and script are written, no figure, and a note says why; two documents give labelled
 * series; nothing matching gives a note; an unwritable folder is OWB_E_IO.
 */
#define _GNU_SOURCE /* mkdtemp, setenv */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "owb_test.h"
#include "results/result.h"
#include "plot/plot.h"

static char tmpdir[4096];

static char *slurp(const char *path, size_t *len)
{
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

static cJSON *stream_doc(const char *host, double scale)
{
    static const char *const kernels[] = {"copy", "triad"};
    static const int threads[] = {4, 1, 2}; /* out of order on purpose */
    cJSON *doc = owb_result_new(0, NULL);
    cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(doc, "env"), "host", host);
    for (int k = 0; k < 2; k++)
        for (int t = 0; t < 3; t++) {
            char name[64];
            snprintf(name, sizeof name, "stream/%s/t%d", kernels[k], threads[t]);
            cJSON *b = owb_result_add_benchmark(doc, name, "stream");
            double v[6] = {100, 101, 102, 103, 104, 105};
            owb_result_set_samples(b, "ns", v, 6);
            owb_result_metric(b, "gb_per_s", scale * (10.0 + k) * threads[t]);
            owb_result_metric(b, "gb_per_s_median", scale * (9.0 + k) * threads[t]);
        }
    owb_result_add_benchmark(doc, "kernels/gemv/q4_0/t1", "kernels"); /* not plotted */
    return doc;
}

static int file_size(const char *dir, const char *name)
{
    char p[4300];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 ? (int)st.st_size : -1;
}

int main(void)
{
    const char *root = getenv("OWB_TMP");
    if (!root || !*root)
        root = "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/plot_api.XXXXXX", root);
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    char dir[4200], path[4300], err[OWB_ERR_MAX];
    int nfig = -1;
    cJSON *doc = stream_doc("hostA", 1.0);
    cJSON *docs[2] = {doc, NULL};

    CHECK(owb_plot_nkinds >= 1 && !strcmp(owb_plot_kinds[0].name, "stream_bw"));
    CHECK(owb_plot_kinds[0].match("stream/copy/t16"));
    CHECK(!owb_plot_kinds[0].match("stream/copy/16"));
    CHECK(!owb_plot_kinds[0].match("stream//t1"));
    CHECK(!owb_plot_kinds[0].match("stream/copy/t1/x"));
    CHECK(!owb_plot_kinds[0].match("kernels/gemv/t1"));

    /* With gnuplot. */
    if (owb_plot_have_gnuplot()) {
        snprintf(dir, sizeof dir, "%s/with/deep", tmpdir);
        CHECK_MSG(owb_plot_results(docs, 1, dir, err, &nfig) == 0, "%s", err);
        CHECK_MSG(nfig == 1, "nfigures %d", nfig);
        CHECK_MSG(err[0] == '\0', "unexpected note: %s", err);
        size_t len = 0;
        snprintf(path, sizeof path, "%s/stream_bw.png", dir);
        char *png = slurp(path, &len);
        CHECK(png && len > 1000 && !memcmp(png, "\x89PNG\r\n\x1a\n", 8));
        free(png);
        snprintf(path, sizeof path, "%s/stream_bw.svg", dir);
        char *svg = slurp(path, &len);
        CHECK(svg && strstr(svg, "<svg") && strstr(svg, "copy best"));
        free(svg);
        snprintf(path, sizeof path, "%s/stream_bw.dat", dir);
        char *dat = slurp(path, NULL);
        CHECK(dat && strstr(dat, "# series 0: copy\n1 10 9\n2 20 18\n4 40 36\n"));
        CHECK(dat && strstr(dat, "# series 1: triad\n1 11 10\n2 22 20\n4 44 40\n"));
        free(dat);
        snprintf(path, sizeof path, "%s/stream_bw.gp", dir);
        char *gp = slurp(path, NULL);
        CHECK(gp && strstr(gp, "set xtics (1, 2, 4)") && strstr(gp, "'stream_bw.dat' index 1"));
        free(gp);
    } else {
        fprintf(stderr, "note: gnuplot not on PATH, figure checks skipped\n");
    }

    /* Without gnuplot: data + script, no figures, a note, still success. */
    const char *old = getenv("PATH");
    char *saved = old ? strdup(old) : NULL;
    setenv("PATH", "/nonexistent-owbench", 1);
    CHECK(!owb_plot_have_gnuplot());
    snprintf(dir, sizeof dir, "%s/nognuplot", tmpdir);
    CHECK_MSG(owb_plot_results(docs, 1, dir, err, &nfig) == 0, "%s", err);
    CHECK(nfig == 0);
    CHECK_MSG(strstr(err, "gnuplot not found") != NULL, "note: %s", err);
    CHECK(file_size(dir, "stream_bw.dat") > 0 && file_size(dir, "stream_bw.gp") > 0);
    CHECK(file_size(dir, "stream_bw.png") < 0 && file_size(dir, "stream_bw.svg") < 0);
    if (saved) {
        setenv("PATH", saved, 1);
        free(saved);
    }

    /* Two documents: series labelled by document and host. */
    docs[1] = stream_doc("hostB", 2.0);
    snprintf(dir, sizeof dir, "%s/two", tmpdir);
    CHECK_MSG(owb_plot_results(docs, 2, dir, err, &nfig) == 0, "%s", err);
    snprintf(path, sizeof path, "%s/stream_bw.dat", dir);
    char *dat = slurp(path, NULL);
    CHECK(dat && strstr(dat, "# series 0: copy (1: hostA)") &&
          strstr(dat, "# series 3: triad (2: hostB)\n1 22 20\n"));
    free(dat);
    cJSON_Delete(docs[1]);

    /* Nothing to plot. */
    cJSON *other = owb_result_new(0, NULL);
    owb_result_add_benchmark(other, "kernels/gemv/q4_0/t1", "kernels");
    snprintf(dir, sizeof dir, "%s/none", tmpdir);
    CHECK(owb_plot_results(&other, 1, dir, err, &nfig) == 0);
    CHECK(nfig == 0 && strstr(err, "nothing to plot") && strstr(err, "stream_bw"));
    cJSON_Delete(other);

    /* Unwritable output folder (a regular file in the way). */
    snprintf(path, sizeof path, "%s/afile", tmpdir);
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
    snprintf(dir, sizeof dir, "%s/afile/sub", tmpdir);
    CHECK(owb_plot_results(docs, 1, dir, err, &nfig) == OWB_E_IO);
    CHECK_MSG(strstr(err, dir) != NULL, "%s", err);

    cJSON_Delete(doc);
    TEST_DONE();
}
