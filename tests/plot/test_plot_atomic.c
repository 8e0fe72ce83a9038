/* SPDX-License-Identifier: MIT */
/*
 * test_plot_atomic.c: owb_plot_results never leaves a partial or temporary file. Fake `gnuplot`
 * scripts first on PATH draw (fake) figures at the names the script asks for, or fail: exit 1,
 * write half a PNG and exit 1, be killed by a signal, draw the PNG but no SVG. Every failure
 * returns OWB_E_SYSTEM naming stream_bw.gp, leaves an empty folder empty and a folder holding an
 * earlier run's four files byte for byte as they were, with no temporary file. A write that fails
 * half-way through the .dat (RLIMIT_FSIZE) is OWB_E_IO naming it, with the same guarantees; so is
 * a read-only folder (when not root). Without gnuplot, the data and script replace the earlier
 * ones and the earlier figures are removed (they showed other data). Also owb_atomic.h directly.
 */
#define _GNU_SOURCE /* mkdtemp, setenv */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "owb_atomic.h"
#include "owb_test.h"
#include "plot/plot.h"
#include "results/result.h"

static char tmpdir[4096], sys_path[8192];

static const char *const fig_files[4] = {"stream_bw.dat", "stream_bw.gp", "stream_bw.png",
                                         "stream_bw.svg"};

/* The body of each fake gnuplot: $1 is the script, run in the output folder. `outs` lists the
 * files the script's `set output` lines name. */
#define FAKE_HEAD "#!/bin/sh\nouts=$(sed -n \"s/^set output '\\(.*\\)'$/\\1/p\" \"$1\")\n"
#define FAKE_DRAW                                                                                  \
    "for o in $outs; do case $o in\n"                                                              \
    "  *.png) printf '\\211PNG\\r\\n\\032\\nfake' >\"$o\" ;;\n"                                    \
    "  *.svg) printf '<svg fake/>' >\"$o\" ;;\n"                                                   \
    "esac; done\n"
static const struct {
    const char *name, *body;
} fakes[] = {
    {"ok", FAKE_HEAD FAKE_DRAW "exit 0\n"},
    {"exit1", FAKE_HEAD "echo 'fake gnuplot: failing on purpose' >&2\nexit 1\n"},
    {"half", FAKE_HEAD "for o in $outs; do printf '\\211PN' >\"$o\"; done\nexit 1\n"},
    {"killed", FAKE_HEAD "for o in $outs; do printf '\\211PN' >\"$o\"; done\nkill -9 $$\n"},
    {"nosvg", FAKE_HEAD "for o in $outs; do case $o in *.png) printf '\\211PNG' >\"$o\" ;; esac; "
                        "done\nexit 0\n"},
};

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

/* Names in dir (not . and ..), sorted into one "a,b,c" string. */
static void listing(const char *dir, char *out, size_t cap)
{
    char names[64][256];
    int n = 0;
    out[0] = '\0';
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            snprintf(names[n++], sizeof names[0], "%s", e->d_name);
    closedir(d);
    for (int i = 1; i < n; i++) /* insertion sort */
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[256];
            memcpy(t, names[j], sizeof t);
            memcpy(names[j], names[j - 1], sizeof t);
            memcpy(names[j - 1], t, sizeof t);
        }
    size_t off = 0;
    for (int i = 0; i < n && off < cap; i++)
        off += (size_t)snprintf(out + off, cap - off, "%s%s", i ? "," : "", names[i]);
}

static void use_fake(const char *name)
{
    char path[8192 + 4200];
    snprintf(path, sizeof path, "%s/bin-%s:%s", tmpdir, name, sys_path);
    setenv("PATH", path, 1);
}

/* The four files of an earlier run, to compare against after a failure. */
struct snapshot {
    char *data[4];
    size_t len[4];
};

static void take(const char *dir, struct snapshot *s)
{
    char p[4400];
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, fig_files[i]);
        s->data[i] = slurp(p, &s->len[i]);
        CHECK_MSG(s->data[i] && s->len[i] > 0, "%s missing", p);
    }
}

static void same_as(const char *dir, const struct snapshot *s, const char *what)
{
    char p[4400];
    for (int i = 0; i < 4; i++) {
        size_t n = 0;
        snprintf(p, sizeof p, "%s/%s", dir, fig_files[i]);
        char *now = slurp(p, &n);
        CHECK_MSG(now && n == s->len[i] && !memcmp(now, s->data[i], n), "%s: %s changed", what,
                  fig_files[i]);
        free(now);
    }
}

static cJSON *stream_doc(void)
{
    cJSON *doc = owb_result_new(0, NULL);
    static const char *const kernels[] = {"copy", "triad"};
    for (int k = 0; k < 2; k++)
        for (int t = 1; t <= 4; t *= 2) {
            char name[64];
            snprintf(name, sizeof name, "stream/%s/t%d", kernels[k], t);
            cJSON *b = owb_result_add_benchmark(doc, name, "stream");
            double v[6] = {100, 101, 102, 103, 104, 105};
            owb_result_set_samples(b, "ns", v, 6);
            owb_result_metric(b, "gb_per_s", (10.0 + k) * t);
            owb_result_metric(b, "gb_per_s_median", (9.0 + k) * t);
        }
    return doc;
}

static void test_atomic_file(void)
{
    char path[4200], err[OWB_ERR_MAX], ls[4096];
    struct owb_atomic_file af;
    size_t n = 0;

    snprintf(path, sizeof path, "%s/atomic", tmpdir);
    CHECK(mkdir(path, 0755) == 0);
    snprintf(path, sizeof path, "%s/atomic/f.txt", tmpdir);
    CHECK(owb_atomic_file_open(&af, path, err) == 0);
    fputs("new", af.f);
    CHECK(access(path, F_OK) != 0); /* nothing at the final name before commit */
    CHECK_MSG(owb_atomic_file_commit(&af, err) == 0, "%s", err);
    char *s = slurp(path, &n);
    CHECK(s && n == 3 && !memcmp(s, "new", 3));
    free(s);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);

    CHECK(owb_atomic_file_open(&af, path, err) == 0);
    fputs("other", af.f);
    owb_atomic_file_abort(&af);
    owb_atomic_file_abort(&af); /* released: a no-op */
    s = slurp(path, &n);
    CHECK(s && n == 3 && !memcmp(s, "new", 3));
    free(s);
    snprintf(path, sizeof path, "%s/atomic", tmpdir);
    listing(path, ls, sizeof ls);
    CHECK_MSG(!strcmp(ls, "f.txt"), "left: %s", ls);

    snprintf(path, sizeof path, "%s/atomic/no/such/folder/f.txt", tmpdir);
    CHECK(owb_atomic_file_open(&af, path, err) == OWB_E_IO);
    CHECK_MSG(strstr(err, path) != NULL, "%s", err);
    CHECK(af.f == NULL && af.tmp == NULL);
}

int main(void)
{
    const char *root = getenv("OWB_TMP");
    if (!root || !*root)
        root = "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/plot_atomic.XXXXXX", root);
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    const char *p = getenv("PATH");
    snprintf(sys_path, sizeof sys_path, "%s", p && *p ? p : "/usr/bin:/bin");
    char dir[4200], path[4400], err[OWB_ERR_MAX], ls[4096];
    int nfig = -1;
    cJSON *doc = stream_doc();

    test_atomic_file();

    for (size_t i = 0; i < OWB_ARRAY_LEN(fakes); i++) {
        snprintf(path, sizeof path, "%s/bin-%s", tmpdir, fakes[i].name);
        CHECK(mkdir(path, 0755) == 0);
        snprintf(path, sizeof path, "%s/bin-%s/gnuplot", tmpdir, fakes[i].name);
        FILE *f = fopen(path, "w");
        CHECK(f && fputs(fakes[i].body, f) >= 0 && fclose(f) == 0);
        CHECK(chmod(path, 0755) == 0);
    }

    /* A good run (fake gnuplot): the four files and nothing else. */
    use_fake("ok");
    snprintf(dir, sizeof dir, "%s/kept", tmpdir);
    CHECK_MSG(owb_plot_results(&doc, 1, dir, err, &nfig) == 0, "%s", err);
    CHECK(nfig == 1);
    listing(dir, ls, sizeof ls);
    CHECK_MSG(!strcmp(ls, "stream_bw.dat,stream_bw.gp,stream_bw.png,stream_bw.svg"), "%s", ls);
    struct snapshot before;
    take(dir, &before);
    CHECK(before.data[2] && !memcmp(before.data[2], "\x89PNG\r\n\x1a\nfake", 12));
    CHECK(before.data[1] && strstr(before.data[1], "set output 'stream_bw.png'") &&
          strstr(before.data[1], "'stream_bw.dat'") && !strstr(before.data[1], ".tmp"));

    /* Every gnuplot failure: an error naming the script, nothing new, nothing temporary. */
    for (size_t i = 1; i < OWB_ARRAY_LEN(fakes); i++) {
        use_fake(fakes[i].name);
        CHECK(owb_plot_have_gnuplot());
        CHECK_MSG(owb_plot_results(&doc, 1, dir, err, &nfig) == OWB_E_SYSTEM, "%s", fakes[i].name);
        CHECK_MSG(strstr(err, "stream_bw.gp") != NULL, "%s: %s", fakes[i].name, err);
        CHECK(nfig == 0);
        same_as(dir, &before, fakes[i].name);
        listing(dir, ls, sizeof ls);
        CHECK_MSG(!strcmp(ls, "stream_bw.dat,stream_bw.gp,stream_bw.png,stream_bw.svg"),
                  "%s: left %s", fakes[i].name, ls);

        snprintf(path, sizeof path, "%s/fresh-%s", tmpdir, fakes[i].name);
        CHECK(owb_plot_results(&doc, 1, path, err, &nfig) == OWB_E_SYSTEM);
        listing(path, ls, sizeof ls);
        CHECK_MSG(ls[0] == '\0', "%s: left %s", fakes[i].name, ls);
    }
    use_fake("exit1");
    owb_plot_results(&doc, 1, dir, err, &nfig);
    CHECK_MSG(strstr(err, "status 1"), "%s", err);
    use_fake("killed");
    owb_plot_results(&doc, 1, dir, err, &nfig);
    CHECK_MSG(strstr(err, "signal 9"), "%s", err);
    use_fake("nosvg");
    owb_plot_results(&doc, 1, dir, err, &nfig);
    CHECK_MSG(strstr(err, "missing or empty"), "%s", err);

    /* A write failing half-way through the .dat (file size limit, SIGXFSZ ignored: EFBIG). */
    use_fake("ok");
    struct rlimit old_lim, lim;
    CHECK(getrlimit(RLIMIT_FSIZE, &old_lim) == 0);
    lim = old_lim;
    lim.rlim_cur = 64;
    signal(SIGXFSZ, SIG_IGN);
    snprintf(path, sizeof path, "%s/fsize", tmpdir);
    CHECK(mkdir(path, 0755) == 0);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    int rc_kept = owb_plot_results(&doc, 1, dir, err, &nfig);
    char err_kept[OWB_ERR_MAX];
    memcpy(err_kept, err, sizeof err);
    int rc_fresh = owb_plot_results(&doc, 1, path, err, &nfig);
    CHECK(setrlimit(RLIMIT_FSIZE, &old_lim) == 0);
    CHECK_MSG(rc_kept == OWB_E_IO && strstr(err_kept, "stream_bw.dat"), "%d %s", rc_kept, err_kept);
    CHECK_MSG(rc_fresh == OWB_E_IO && strstr(err, "stream_bw.dat"), "%d %s", rc_fresh, err);
    same_as(dir, &before, "file size limit");
    listing(dir, ls, sizeof ls);
    CHECK_MSG(!strcmp(ls, "stream_bw.dat,stream_bw.gp,stream_bw.png,stream_bw.svg"), "left %s", ls);
    listing(path, ls, sizeof ls);
    CHECK_MSG(ls[0] == '\0', "fresh folder, file size limit: left %s", ls);

    /* A folder that cannot be written (permissions do not stop root). */
    if (geteuid() != 0) {
        snprintf(path, sizeof path, "%s/readonly", tmpdir);
        CHECK(mkdir(path, 0555) == 0);
        CHECK(owb_plot_results(&doc, 1, path, err, &nfig) == OWB_E_IO);
        CHECK_MSG(strstr(err, "stream_bw.dat") != NULL, "%s", err);
        listing(path, ls, sizeof ls);
        CHECK_MSG(ls[0] == '\0', "read-only folder: left %s", ls);
    } else {
        fprintf(stderr, "note: running as root, the read-only folder check is skipped\n");
    }

    /* Without gnuplot: new data and script, the earlier figures removed. */
    setenv("PATH", "/nonexistent-owbench", 1);
    CHECK(owb_plot_results(&doc, 1, dir, err, &nfig) == 0 && nfig == 0);
    CHECK_MSG(strstr(err, "gnuplot not found") != NULL, "%s", err);
    listing(dir, ls, sizeof ls);
    CHECK_MSG(!strcmp(ls, "stream_bw.dat,stream_bw.gp"), "left %s", ls);
    setenv("PATH", sys_path, 1);

    for (int i = 0; i < 4; i++)
        free(before.data[i]);
    cJSON_Delete(doc);
    TEST_DONE();
}
