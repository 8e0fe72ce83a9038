/* SPDX-License-Identifier: MIT */
/*
 * cmd_ab.c: `owbench ab [--rounds N] [--threshold PCT] [--alpha P] [-o DIR] -- CMD_A... --
 * CMD_B...`: runs two commands (two builds, or two settings of one) alternately in rounds, A first
 * in odd rounds and B first in even ones so a drift of the machine falls on both sides, each with
 * "-o DIR/round<K>-<A|B>" appended and its output in DIR/round<K>-<A|B>.log; reads the one result
 * document each run wrote there, and hands the pairs to the paired-rounds analysis (results/ab.h).
 * Writes DIR/ab.json (owbench.result/1, suite "ab") and prints the table. Exit 0 nothing slower, 1
 * something slower, 2 usage error, 3 a command failed or wrote no result.
 */
#define _GNU_SOURCE /* getopt_long */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "owb_common.h"
#include "bench/core/topo.h"
#include "results/ab.h"
#include "results/result.h"
#include "tools/cli_common.h"
#include "tools/cmds.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: owbench ab [--rounds N] [--threshold PCT] [--alpha P] [--only LIST]\n"
        "                  [-o DIR] -- CMD_A... -- CMD_B...\n"
        "\n"
        "Interleaved A/B of two owbench commands: two builds (/path/a/owbench kernels ... vs\n"
        "/path/b/owbench kernels ...) or two settings of one (a first word that is an owbench\n"
        "command runs this binary). The commands run alternately in N rounds, A first in odd\n"
        "rounds and B first in even ones, each with '-o DIR/round<K>-<A|B>' appended (its output\n"
        "goes to DIR/round<K>-<A|B>.log); each run must write exactly one owbench result file\n"
        "(*.json) there, as the measuring commands do. Per round and benchmark (name + params)\n"
        "the ratio of medians B/A; per benchmark over the rounds the geometric mean ratio with a\n"
        "Student-t interval of the log ratios: slower/faster when p < alpha and it moved more\n"
        "than the threshold, same when the interval lies within +-threshold, else inconclusive\n"
        "(the Wilcoxon signed-rank p and the rounds in which B was worse are shown beside it).\n"
        "To run a command with an environment variable, start it with env: -- env X=1 owbench ...\n"
        "\n"
        "  --rounds N       rounds, each one run of A and one of B (default %d; 2 at least for a\n"
        "                   verdict, 6 for the signed-rank test to reach p < 0.05)\n"
        "  --threshold PCT  minimum change of the geometric mean ratio, percent (default %g)\n"
        "  --alpha P        significance level, 0 < P < 1 (default %g)\n"
        "  --only LIST      judge only the benchmarks whose name contains one of these\n"
        "                   comma-separated parts (e.g. kernels/gemv): fewer benchmarks, a\n"
        "                   milder Holm correction\n"
        "  -o DIR           output folder (default results/runs/<time>-ab): the rounds' folders "
        "and\n"
        "                   logs, DIR/ab.json (suite ab, per-round ratios as samples)\n"
        "  -h, --help       this text\n"
        "\n"
        "exit: 0 nothing slower, 1 something slower, 2 usage error, 3 a command failed or wrote\n"
        "no result (the message names the command and the round)\n",
        OWB_AB_ROUNDS, OWB_COMPARE_THRESHOLD_PCT, OWB_COMPARE_ALPHA);
}

struct ab_cmd {
    char label;     /* 'A' or 'B' */
    char **argv;    /* the command as given, argc words */
    int argc;       /* words */
    char exe[4096]; /* argv[0] to run: this binary for an owbench command word */
};

/* The text of a command for messages and the result ("owbench kernels --quick"). */
static void cmd_text(const struct ab_cmd *c, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < c->argc && k + 1 < n; i++) {
        int w = snprintf(buf + k, n - k, "%s%s", i ? " " : "", c->argv[i]);
        if (w < 0)
            break;
        k += (size_t)w;
    }
}

/* An owbench command word (kernels, stream, ...) runs this binary; anything else is run as given
 * (PATH lookup when it has no slash). */
static void resolve(struct ab_cmd *c)
{
    snprintf(c->exe, sizeof c->exe, "%s", c->argv[0]);
    if (strchr(c->argv[0], '/'))
        return;
    for (int i = 0; i < owb_ncmds; i++)
        if (!strcmp(c->argv[0], owb_cmds[i].name)) {
            ssize_t n = readlink("/proc/self/exe", c->exe, sizeof c->exe - 1);
            if (n > 0)
                c->exe[n] = '\0';
            else
                snprintf(c->exe, sizeof c->exe, "%s", owb_argv ? owb_argv[0] : "owbench");
            return;
        }
}

/* Run c with "-o dir" appended, stdout and stderr to log, stdin from /dev/null. Returns 0 when it
 * exited 0; else fills why. */
static int run_child(const struct ab_cmd *c, const char *dir, const char *log, char *why,
                     size_t nwhy)
{
    int own = strcmp(c->exe, c->argv[0]) != 0; /* this binary: argv is exe + the command word */
    int n = c->argc + 3 + own;
    char **av = calloc((size_t)n, sizeof *av);
    if (!av) {
        snprintf(why, nwhy, "out of memory");
        return -1;
    }
    int k = 0;
    if (own)
        av[k++] = (char *)c->exe;
    for (int i = 0; i < c->argc; i++)
        av[k++] = c->argv[i];
    av[k++] = (char *)"-o";
    av[k++] = (char *)dir;
    av[k] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, nwhy, "fork: %s", strerror(errno));
        free(av);
        return -1;
    }
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 || (in >= 0 && dup2(in, 0) < 0))
            _exit(126);
        execvp(c->exe, av);
        fprintf(stderr, "owbench ab: cannot run %s: %s\n", c->exe, strerror(errno));
        _exit(127);
    }
    free(av);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            snprintf(why, nwhy, "waitpid: %s", strerror(errno));
            return -1;
        }
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
        snprintf(why, nwhy, "could not be started (exit 127)");
    else if (WIFEXITED(st))
        snprintf(why, nwhy, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(why, nwhy, "was killed by signal %d", WTERMSIG(st));
    else
        snprintf(why, nwhy, "ended with wait status %d", st);
    return -1;
}

/* Print the last lines of a log (a failed command's own message) to stderr. */
static void print_tail(const char *log, int lines)
{
    FILE *f = fopen(log, "r");
    if (!f)
        return;
    char buf[8192];
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size > (long)sizeof buf - 1)
            fseek(f, size - (long)sizeof buf + 1, SEEK_SET);
        else
            fseek(f, 0, SEEK_SET);
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    int seen = 0;
    char *p = buf + n;
    while (p > buf && seen <= lines)
        if (*--p == '\n' && p + 1 < buf + n)
            seen++;
    if (seen > lines)
        p++;
    fprintf(stderr, "%s%s", p, n && buf[n - 1] != '\n' ? "\n" : "");
}

/* The one result document a run wrote in dir (*.json at its top). Returns 0 with *doc and path,
 * or -1 with why. */
static int read_result(const char *dir, cJSON **doc, char *path, size_t npath, char *why,
                       size_t nwhy)
{
    DIR *d = opendir(dir);
    int found = 0;
    char err[OWB_ERR_MAX] = "", first_err[OWB_ERR_MAX] = "";
    *doc = NULL;
    if (!d) {
        snprintf(why, nwhy, "wrote no owbench result: %.300s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        char p[4400];
        struct stat st;
        if (l < 6 || strcmp(e->d_name + l - 5, ".json") != 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &st) || !S_ISREG(st.st_mode))
            continue;
        cJSON *x = NULL;
        if (owb_result_read(p, &x, err)) {
            if (!first_err[0])
                snprintf(first_err, sizeof first_err, "%s", err);
            continue;
        }
        if (++found > 1) {
            snprintf(why, nwhy,
                     "%.300s holds several result files (%.300s, %.300s); ab needs exactly one",
                     dir, path, p);
            cJSON_Delete(x);
            break;
        }
        *doc = x;
        snprintf(path, npath, "%s", p);
    }
    closedir(d);
    if (found == 1)
        return 0;
    if (found == 0)
        snprintf(why, nwhy, "wrote no owbench result file (*.json) in %.300s%s%.300s", dir,
                 first_err[0] ? ": " : "", first_err);
    cJSON_Delete(*doc);
    *doc = NULL;
    return -1;
}

/* The top-level "ab" object of the result: the commands, the order of each round, its files. */
static cJSON *ab_header(const struct ab_cmd cmds[2])
{
    cJSON *o = cJSON_CreateObject(), *c = NULL;
    if (!o || !(c = cJSON_AddObjectToObject(o, "commands")))
        goto fail;
    for (int s = 0; s < 2; s++) {
        cJSON *a = cJSON_CreateStringArray((const char *const *)cmds[s].argv, cmds[s].argc);
        if (!a || !cJSON_AddItemToObject(c, s ? "b" : "a", a)) {
            cJSON_Delete(a);
            goto fail;
        }
    }
    if (!cJSON_AddArrayToObject(o, "order") || !cJSON_AddArrayToObject(o, "files"))
        goto fail;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

static int header_add_round(cJSON *hdr, int first_b, const char *fa, const char *fb)
{
    cJSON *order = cJSON_GetObjectItemCaseSensitive(hdr, "order");
    cJSON *files = cJSON_GetObjectItemCaseSensitive(hdr, "files");
    cJSON *s = cJSON_CreateString(first_b ? "BA" : "AB"), *f = cJSON_CreateObject();
    if (!s || !f || !cJSON_AddItemToArray(order, s)) {
        cJSON_Delete(s);
        cJSON_Delete(f);
        return -1;
    }
    if (!cJSON_AddItemToArray(files, f)) {
        cJSON_Delete(f);
        return -1;
    }
    return cJSON_AddStringToObject(f, "a", fa) && cJSON_AddStringToObject(f, "b", fb) ? 0 : -1;
}

/* The largest |change| among rows with two or more rounds, for the progress line. */
static const struct owb_ab_row *largest_change(const struct owb_ab *ab)
{
    const struct owb_ab_row *best = NULL;
    for (size_t i = 0; i < ab->nrows; i++) {
        const struct owb_ab_row *r = &ab->rows[i];
        if (isfinite(r->change_pct) && (!best || fabs(r->change_pct) > fabs(best->change_pct)))
            best = r;
    }
    return best;
}

int cmd_ab(int argc, char **argv)
{
    static const struct option opts[] = {
        {"rounds", required_argument, NULL, 'r'},
        {"threshold", required_argument, NULL, 't'},
        {"alpha", required_argument, NULL, 'a'},
        {"output", required_argument, NULL, 'o'},
        {"only", required_argument, NULL, 'O'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    double threshold = OWB_COMPARE_THRESHOLD_PCT, alpha = OWB_COMPARE_ALPHA,
           rounds_d = OWB_AB_ROUNDS;
    const char *outarg = NULL, *only = NULL;
    char outdir[4096], err[OWB_ERR_MAX] = "";
    struct ab_cmd cmds[2];
    struct owb_ab ab;
    struct owb_topo *topo = NULL;
    cJSON *doc = NULL, *hdr = NULL, *res[2] = {NULL, NULL};
    int c, rc = OWB_EXIT_RUNTIME;

    memset(&ab, 0, sizeof ab);
    memset(cmds, 0, sizeof cmds);
    optind = 0; /* reinitialise getopt ('+': stop at the first word that is not an option) */
    while ((c = getopt_long(argc, argv, "+r:t:a:o:O:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            if (!owb_cli_parse_num(optarg, 0, &rounds_d) || rounds_d < 1 || rounds_d > 10000 ||
                rounds_d != floor(rounds_d)) {
                fprintf(stderr, "owbench ab: --rounds '%s' is not a whole number 1..10000\n",
                        optarg);
                return OWB_EXIT_USAGE;
            }
            break;
        case 't':
            if (!owb_cli_parse_num(optarg, 1, &threshold) || threshold < 0) {
                fprintf(stderr, "owbench ab: --threshold '%s' is not a percentage >= 0 (e.g. 5)\n",
                        optarg);
                return OWB_EXIT_USAGE;
            }
            break;
        case 'a':
            if (!owb_cli_parse_num(optarg, 0, &alpha) || !(alpha > 0 && alpha < 1)) {
                fprintf(stderr,
                        "owbench ab: --alpha '%s' is not a probability between 0 and 1 "
                        "(exclusive)\n",
                        optarg);
                return OWB_EXIT_USAGE;
            }
            break;
        case 'o':
            outarg = optarg;
            break;
        case 'O':
            only = optarg;
            break;
        case 'h':
            usage(stdout);
            return OWB_EXIT_OK;
        default:
            usage(stderr);
            return OWB_EXIT_USAGE;
        }
    }
    /* getopt consumed the first "--"; the second splits A from B */
    if (optind < 1 || optind > argc || strcmp(argv[optind - 1], "--") != 0) {
        fprintf(stderr, "owbench ab: expected '-- CMD_A... -- CMD_B...' after the options "
                        "(owbench ab --help for details)\n");
        return OWB_EXIT_USAGE;
    }
    int split = -1;
    for (int i = optind; i < argc; i++)
        if (!strcmp(argv[i], "--")) {
            split = i;
            break;
        }
    if (split < 0 || split == optind || split == argc - 1) {
        fprintf(stderr, "owbench ab: %s (owbench ab --help for details)\n",
                split < 0         ? "no second '--' before CMD_B"
                : split == optind ? "CMD_A is empty"
                                  : "CMD_B is empty");
        return OWB_EXIT_USAGE;
    }
    cmds[0] = (struct ab_cmd){.label = 'A', .argv = argv + optind, .argc = split - optind};
    cmds[1] = (struct ab_cmd){.label = 'B', .argv = argv + split + 1, .argc = argc - split - 1};
    for (int i = split + 1; i < argc; i++)
        if (!strcmp(argv[i], "--")) {
            fprintf(stderr, "owbench ab: a third '--' after CMD_B; each command is one list of "
                            "words\n");
            return OWB_EXIT_USAGE;
        }
    resolve(&cmds[0]);
    resolve(&cmds[1]);
    size_t rounds = (size_t)rounds_d;
    if (owb_ab_init(&ab, rounds, threshold, alpha, err)) {
        fprintf(stderr, "owbench ab: %s\n", err);
        return OWB_EXIT_USAGE;
    }
    ab.only = only;

    owb_cli_outdir(outarg, "ab", outdir, sizeof outdir);
    char probe[4200];
    struct stat st;
    snprintf(probe, sizeof probe, "%s/round1-A.log", outdir);
    if (stat(probe, &st) == 0) {
        fprintf(stderr,
                "owbench ab: %s already holds an ab run (round1-A.log); choose another -o\n",
                outdir);
        rc = OWB_EXIT_USAGE;
        goto out;
    }
    if (owb_cli_check_outdir("ab", outdir))
        goto out;
    if (!(hdr = ab_header(cmds)))
        goto nomem;
    char text[2][1024];
    cmd_text(&cmds[0], text[0], sizeof text[0]);
    cmd_text(&cmds[1], text[1], sizeof text[1]);
    fprintf(stderr, "ab: %zu rounds into %s\n  A: %s\n  B: %s\n", rounds, outdir, text[0], text[1]);

    for (size_t k = 1; k <= rounds; k++) {
        int first_b = (k % 2) == 0; /* ABBA...: the drift within a round falls on both sides */
        char dirs[2][4200], logs[2][4300], files[2][4400], why[1024];
        double secs[2] = {0, 0};
        for (int j = 0; j < 2; j++) {
            int s = first_b ? 1 - j : j;
            snprintf(dirs[s], sizeof dirs[s], "%s/round%zu-%c", outdir, k, cmds[s].label);
            snprintf(logs[s], sizeof logs[s], "%s.log", dirs[s]);
            uint64_t t0 = owb_now_ns();
            if (run_child(&cmds[s], dirs[s], logs[s], why, sizeof why)) {
                fprintf(stderr,
                        "owbench ab: round %zu, %c: command '%s' %s; its output is in %s:\n", k,
                        cmds[s].label, text[s], why, logs[s]);
                print_tail(logs[s], 5);
                goto out;
            }
            secs[s] = (double)(owb_now_ns() - t0) * 1e-9;
            if (read_result(dirs[s], &res[s], files[s], sizeof files[s], why, sizeof why)) {
                fprintf(stderr, "owbench ab: round %zu, %c: command '%s' %s\n", k, cmds[s].label,
                        text[s], why);
                goto out;
            }
        }
        int arc = owb_ab_add_round(&ab, res[0], res[1], err);
        cJSON_Delete(res[0]);
        cJSON_Delete(res[1]);
        res[0] = res[1] = NULL;
        if (arc) {
            fprintf(stderr, "owbench ab: round %zu: %s\n", k, err);
            goto out;
        }
        if (header_add_round(hdr, first_b, files[0], files[1]) || owb_ab_finish(&ab))
            goto nomem;
        const struct owb_ab_row *big = largest_change(&ab);
        fprintf(stderr, "ab: round %zu/%zu (%s first): A %.1f s, B %.1f s; %zu benchmarks", k,
                rounds, first_b ? "B" : "A", secs[0], secs[1], ab.nrows);
        if (big && k >= 2)
            fprintf(stderr, "; largest change so far %s B/A %.3f (%s)", big->name, big->ratio_gm,
                    owb_verdict_name(big->verdict));
        fputc('\n', stderr);
    }

    if (!(topo = owb_topo_new(NULL, err))) {
        fprintf(stderr, "owbench ab: %s\n", err);
        goto out;
    }
    if (!(doc = owb_cli_result_new(topo)) || !cJSON_AddItemToObject(doc, "ab", hdr))
        goto nomem;
    hdr = NULL; /* owned by doc */
    if (owb_ab_to_doc(&ab, doc))
        goto nomem;
    if (owb_cli_write("ab", doc, outdir, "ab.json"))
        goto out;
    printf("A: %s\nB: %s\n", text[0], text[1]);
    owb_ab_print(&ab, stdout);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "owbench ab: cannot write to stdout\n");
        goto out;
    }
    rc = owb_ab_regressed(&ab) ? OWB_EXIT_REGRESSION : OWB_EXIT_OK;
    goto out;
nomem:
    fprintf(stderr, "owbench ab: out of memory\n");
out:
    cJSON_Delete(res[0]);
    cJSON_Delete(res[1]);
    cJSON_Delete(hdr);
    cJSON_Delete(doc);
    owb_topo_free(topo);
    owb_ab_release(&ab);
    return rc;
}
