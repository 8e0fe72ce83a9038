/* SPDX-License-Identifier: MIT */
/*
 * cmd_synth.c: `owbench synth --preset NAME [--type T] [--expert-type T] [--layers N] [--seed S]
 * [--vocab FILE] [--threads N] -o FILE.gguf` writes a synthetic GGUF with a real model's shape and
 * seeded random weights (model/synth.h), a progress line per tensor on stderr; `owbench synth
 * --list` prints the presets with their parameter counts and tensor-data sizes per type (and in
 * the preset's default mix). Bad values exit 2, a failed write (or an absent gpt-oss vocabulary)
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
    fprintf(
        f,
        "usage: owbench synth --preset NAME [--type T] [--expert-type T] [--layers N]\n"
        "                     [--seed S] [--vocab FILE] [--threads N] -o FILE.gguf\n"
        "       owbench synth --list\n\n"
        "Write a GGUF with the exact shapes of a real model, seeded random weights and a\n"
        "tokenizer (generated; gpt-oss-20b/120b: copied from the gpt-oss vocab GGUF);\n"
        "llama.cpp loads the same file.\n\n"
        "  --preset NAME     %s\n"
        "  --type T          weight type: %s; token embeddings,\n"
        "                    output, router, norms and biases follow the rules of\n"
        "                    `owbench quantize`. Default f16; gpt-oss presets: as the\n"
        "                    released files convert (experts mxfp4, other matrices bf16,\n"
        "                    router, norms, sinks and biases f32)\n"
        "  --expert-type T   type of the 3-D MoE expert tensors (default: --type if given,\n"
        "                    else the preset's: mxfp4 for gpt-oss)\n"
        "  --layers N        keep only the first N layers (quick runs)\n"
        "  --seed S          random seed, unsigned 64-bit (default 1); same seed, same bytes\n"
        "  --vocab FILE      gpt-oss-20b/120b: the vocab GGUF (default: ggml-vocab-gpt-oss.gguf\n"
        "                    under $OWB_TEST_DATA/models/gguf or ../shared/models/gguf)\n"
        "  --threads N       quantizer threads (default: online CPUs)\n"
        "  -o FILE           output file (written atomically)\n"
        "  --list            the presets, their parameter counts and sizes per type\n",
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
    printf(" %9s\n", "default");
    for (int i = 0; i < n; i++) {
        printf("%-14s %-6s %14" PRId64 " %6" PRId64 " %5" PRId64 " %2" PRId64 "/%-2" PRId64
               " %6" PRId64 " %7" PRId64,
               p[i].name, p[i].arch, owb_synth_param_count(&p[i], 0), p[i].n_layer, p[i].n_embd,
               p[i].n_head, p[i].n_head_kv, p[i].n_ff, p[i].n_vocab);
        for (size_t t = 0; t < OWB_ARRAY_LEN(list_types); t++)
            print_size(owb_synth_data_bytes(&p[i], list_types[t], 0));
        struct owb_synth_opts o;
        owb_synth_opts_init(&o, &p[i]);
        print_size(owb_synth_data_bytes_opts(&p[i], &o));
        printf("\n");
    }
    printf("\nsizes: tensor data (GiB G, MiB M); the metadata adds a few MiB (the vocabulary).\n"
           "default: without --type (f16; gpt-oss: mxfp4 experts, bf16 other matrices).\n"
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
        {"expert-type", required_argument, NULL, 'x'},
        {"vocab", required_argument, NULL, 'v'},
        {"layers", required_argument, NULL, 'l'},
        {"seed", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 'j'},
        {"output", required_argument, NULL, 'o'},
        {"list", no_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *preset_name = NULL, *type_name = NULL, *expert_name = NULL, *vocab = NULL,
               *out = NULL;
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
        case 'x':
            expert_name = optarg;
            break;
        case 'v':
            vocab = optarg;
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
    struct owb_synth_opts o;
    owb_synth_opts_init(&o, p);
    const char *names[2] = {type_name, expert_name};
    enum owb_type *dst[2] = {&o.type, &o.expert_type};
    for (int k = 0; k < 2; k++) {
        if (!names[k])
            continue;
        if (owb_type_from_name(names[k], dst[k]) != 0 || !owb_quantize_target_ok(*dst[k])) {
            fprintf(stderr, "owbench synth: unknown or unsupported %s '%s' (one of %s)\n",
                    k ? "--expert-type" : "type", names[k], owb_quantize_target_names());
            return OWB_EXIT_USAGE;
        }
    }
    if (type_name && !expert_name)
        o.expert_type = OWB_TYPE_COUNT; /* experts follow --type */
    if (expert_name && p->n_expert == 0)
        fprintf(stderr, "owbench synth: note: %s has no expert tensors; --expert-type unused\n",
                p->name);
    if (vocab && !p->vocab_file) {
        fprintf(stderr, "owbench synth: --vocab: preset %s generates its own vocabulary\n",
                p->name);
        return OWB_EXIT_USAGE;
    }
    if (layers > p->n_layer) {
        fprintf(stderr,
                "owbench synth: --layers '%" PRId64 "' is more than the %" PRId64 " layers of %s\n",
                layers, p->n_layer, p->name);
        return OWB_EXIT_USAGE;
    }
    o.n_layer = layers;
    o.seed = seed;
    o.vocab_path = vocab;
    o.nthreads = (int)threads;

    char err[OWB_ERR_MAX] = "";
    struct progress pr = {0};
    int64_t nl = layers ? layers : p->n_layer;
    char types[64];
    if (p->n_expert > 0 && o.expert_type != OWB_TYPE_COUNT && o.expert_type != o.type)
        snprintf(types, sizeof types, "%s, experts %s", owb_type_name(o.type),
                 owb_type_name(o.expert_type));
    else
        snprintf(types, sizeof types, "%s", owb_type_name(o.type));
    fprintf(stderr,
            "owbench synth: %s (%s shape), %" PRId64 " layers, %s, seed %" PRIu64
            ": %.3f B parameters, %.1f MiB of tensor data\n",
            p->name, p->model_name, nl, types, seed, (double)owb_synth_param_count(p, nl) / 1e9,
            (double)owb_synth_data_bytes_opts(p, &o) / (1024.0 * 1024.0));
    install_cleanup();
    int rc = owb_synth_write_opts(p, &o, out, on_tensor, &pr, err);
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
