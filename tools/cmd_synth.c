/* SPDX-License-Identifier: MIT */
/*
 * cmd_synth.c: `owbench synth --preset NAME [--type T] [--layers N] [--seed S] [--threads N]
 * -o FILE.gguf` writes a synthetic GGUF with a real model's shape and seeded random weights
 * (model/synth.h), a progress line per tensor on stderr; `owbench synth --list` prints the presets
 * with their parameter counts and tensor-data sizes per type. Bad values exit 2, a failed write
 * exits 3 and leaves no file.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/synth.h"
#include "owb_common.h"
#include "tools/cmds.h"

static const enum owb_type list_types[] = {OWB_TYPE_F32,  OWB_TYPE_F16,  OWB_TYPE_BF16,
                                           OWB_TYPE_Q8_0, OWB_TYPE_Q6_K, OWB_TYPE_Q4_K,
                                           OWB_TYPE_Q4_0, OWB_TYPE_MXFP4};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: owbench synth --preset NAME [--type T] [--layers N] [--seed S] [--threads N]\n"
            "                     -o FILE.gguf\n"
            "       owbench synth --list\n\n"
            "Write a GGUF with the exact shapes of a real model, seeded random weights and a\n"
            "generated tokenizer; llama.cpp loads the same file.\n\n"
            "  --preset NAME   %s\n"
            "  --type T        weight type: %s (default f16); token embeddings, output\n"
            "                  and norms follow the rules of `owbench quantize`\n"
            "  --layers N      keep only the first N layers (quick runs)\n"
            "  --seed S        random seed, unsigned 64-bit (default 1); same seed, same bytes\n"
            "  --threads N     quantizer threads (default: online CPUs)\n"
            "  -o FILE         output file (written atomically)\n"
            "  --list          the presets, their parameter counts and sizes per type\n",
            owb_synth_preset_names(), owb_quantize_target_names());
}

static void print_size(uint64_t bytes)
{
    double v = (double)bytes;
    if (v >= 1024.0 * 1024.0 * 1024.0)
        printf(" %8.2fG", v / (1024.0 * 1024.0 * 1024.0));
    else
        printf(" %8.2fM", v / (1024.0 * 1024.0));
}

static void list_presets(void)
{
    int n = 0;
    const struct owb_synth_preset *p = owb_synth_presets(&n);
    printf("%-14s %-6s %14s %6s %5s %5s %6s %7s", "preset", "arch", "params", "layers", "embd",
           "heads", "ff", "vocab");
    for (size_t t = 0; t < OWB_ARRAY_LEN(list_types); t++)
        printf(" %9s", owb_type_name(list_types[t]));
    printf("\n");
    for (int i = 0; i < n; i++) {
        printf("%-14s %-6s %14" PRId64 " %6" PRId64 " %5" PRId64 " %2" PRId64 "/%-2" PRId64
               " %6" PRId64 " %7" PRId64,
               p[i].name, p[i].arch, owb_synth_param_count(&p[i], 0), p[i].n_layer, p[i].n_embd,
               p[i].n_head, p[i].n_head_kv, p[i].n_ff, p[i].n_vocab);
        for (size_t t = 0; t < OWB_ARRAY_LEN(list_types); t++)
            print_size(owb_synth_data_bytes(&p[i], list_types[t], 0));
        printf("\n");
    }
    printf("\nsizes: tensor data (GiB G, MiB M); the metadata adds a few MiB (the vocabulary).\n"
           "mimics:");
    for (int i = 0; i < n; i++)
        printf("%s %s = %s", i ? ";" : "", p[i].name, p[i].model_name);
    printf(".\n");
}

struct progress {
    int64_t fell;
};

static void on_tensor(void *ctx, int64_t i, int64_t n, const char *name, int64_t row_len,
                      enum owb_type in, enum owb_type out, bool fell_back)
{
    struct progress *pr = ctx;
    (void)in;
    fprintf(stderr, "[%4" PRId64 "/%" PRId64 "] %-32s %-5s", i + 1, n, name, owb_type_name(out));
    if (fell_back) {
        fprintf(stderr,
                " (fallback: %" PRId64 "-element rows are not whole blocks of the rule's type)",
                row_len);
        pr->fell++;
    }
    fputc('\n', stderr);
}

static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* An interrupted write (Ctrl-C, kill, closed stderr pipe) removes its temporary file, then dies
 * of the signal as it would have. */
static void on_signal(int sig)
{
    owb_gguf_unlink_temps();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_cleanup(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
}

int cmd_synth(int argc, char **argv)
{
    static const struct option opts[] = {
        {"preset", required_argument, NULL, 'p'},
        {"type", required_argument, NULL, 't'},
        {"layers", required_argument, NULL, 'l'},
        {"seed", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 'j'},
        {"output", required_argument, NULL, 'o'},
        {"list", no_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *preset_name = NULL, *type_name = "f16", *out = NULL;
    int64_t layers = 0, threads = 0;
    uint64_t seed = 1;
    bool list = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:t:l:s:j:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            preset_name = optarg;
            break;
        case 't':
            type_name = optarg;
            break;
        case 'l':
            if (parse_i64(optarg, 1, 1 << 20, &layers)) {
                fprintf(stderr, "owbench synth: --layers '%s' is not a positive integer\n", optarg);
                return OWB_EXIT_USAGE;
            }
            break;
        case 's': {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 0);
            if (errno || end == optarg || *end || optarg[0] == '-') {
                fprintf(stderr, "owbench synth: --seed '%s' is not an unsigned 64-bit integer\n",
                        optarg);
                return OWB_EXIT_USAGE;
            }
            seed = (uint64_t)v;
            break;
        }
        case 'j':
            if (parse_i64(optarg, 1, 256, &threads)) {
                fprintf(stderr, "owbench synth: --threads '%s' is not an integer in 1..256\n",
                        optarg);
                return OWB_EXIT_USAGE;
            }
            break;
        case 'o':
            out = optarg;
            break;
        case 'L':
            list = true;
            break;
        case 'h':
            usage(stdout);
            return OWB_EXIT_OK;
        default:
            usage(stderr);
            return OWB_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "owbench synth: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return OWB_EXIT_USAGE;
    }
    if (list) {
        list_presets();
        return OWB_EXIT_OK;
    }
    if (!preset_name || !out) {
        fprintf(stderr, "owbench synth: %s is required\n", !preset_name ? "--preset" : "-o FILE");
        usage(stderr);
        return OWB_EXIT_USAGE;
    }
    const struct owb_synth_preset *p = owb_synth_find(preset_name);
    if (!p) {
        fprintf(stderr, "owbench synth: unknown preset '%s' (one of %s)\n", preset_name,
                owb_synth_preset_names());
        return OWB_EXIT_USAGE;
    }
    enum owb_type type;
    if (owb_type_from_name(type_name, &type) != 0 || !owb_quantize_target_ok(type)) {
        fprintf(stderr, "owbench synth: unknown or unsupported type '%s' (one of %s)\n", type_name,
                owb_quantize_target_names());
        return OWB_EXIT_USAGE;
    }
    if (layers > p->n_layer) {
        fprintf(stderr,
                "owbench synth: --layers '%" PRId64 "' is more than the %" PRId64 " layers of %s\n",
                layers, p->n_layer, p->name);
        return OWB_EXIT_USAGE;
    }

    char err[OWB_ERR_MAX] = "";
    struct progress pr = {0};
    int64_t nl = layers ? layers : p->n_layer;
    fprintf(stderr,
            "owbench synth: %s (%s shape), %" PRId64 " layers, %s, seed %" PRIu64
            ": %.3f B parameters, %.1f MiB of tensor data\n",
            p->name, p->model_name, nl, owb_type_name(type), seed,
            (double)owb_synth_param_count(p, nl) / 1e9,
            (double)owb_synth_data_bytes(p, type, nl) / (1024.0 * 1024.0));
    install_cleanup();
    int rc = owb_synth_write(p, type, nl, seed, out, (int)threads, on_tensor, &pr, err);
    if (rc) {
        fprintf(stderr, "owbench synth: %s\n", err);
        return owb_status_exit(rc);
    }
    if (pr.fell)
        fprintf(stderr, "owbench synth: %" PRId64 " tensor(s) fell back to a wider type\n",
                pr.fell);
    fprintf(stderr, "wrote %s\n", out);
    return OWB_EXIT_OK;
}
