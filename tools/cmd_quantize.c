/* SPDX-License-Identifier: MIT */
/*
 * cmd_quantize.c: `owbench quantize IN.gguf OUT.gguf --type T [--expert-type T] [--threads N]`
 * writes a quantized
 * derivative of a GGUF (model/quantize.h: the type rules, fallbacks and file types are documented
 * there), one progress line per tensor on stderr and a summary of the tensors that fell back.
 * Bad arguments exit 2; an unreadable or malformed input, or a failed write, exits 3 and leaves
 * no output file.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/quantize.h"
#include "model/synth.h"
#include "owb_common.h"
#include "tools/cmds.h"

#define FELL_SHOWN 8 /* names of fallen-back tensors listed in the summary */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: owbench quantize IN.gguf OUT.gguf --type T [--expert-type T] [--threads N]\n\n"
            "Write a derivative of IN.gguf with its weight matrices in type T (%s).\n"
            "Norms, biases, attention sinks, the MoE router (ffn_gate_inp) and other 1-D\n"
            "tensors stay f32; token_embd.weight is q8_0 for targets under 8 bits;\n"
            "output.weight is q6_K for 4-bit targets; a matrix whose rows are not whole blocks\n"
            "of its type falls back to q8_0, then f16, then f32 (listed at the end). 3-D MoE\n"
            "expert tensors are quantized row by row like any matrix.\n"
            "All metadata is kept; general.file_type is set as llama.cpp numbers it.\n\n"
            "  --type T          target type (required)\n"
            "  --expert-type T   type of the 3-D expert tensors (default: --type); e.g.\n"
            "                    --type bf16 --expert-type mxfp4 is the released gpt-oss mix\n"
            "  --threads N       quantizer threads (default: online CPUs)\n",
            owb_quantize_target_names());
}

struct progress {
    int64_t fell;
    char names[FELL_SHOWN][64];
};

static void on_tensor(void *ctx, int64_t i, int64_t n, const char *name, int64_t row_len,
                      enum owb_type in, enum owb_type out, bool fell_back)
{
    struct progress *pr = ctx;
    fprintf(stderr, "[%4" PRId64 "/%" PRId64 "] %-32s %-5s -> %-5s%s", i + 1, n, name,
            owb_type_name(in), owb_type_name(out), in == out ? " (copied)" : "");
    if (fell_back) {
        fprintf(stderr, " (fallback: %" PRId64 "-element rows are not whole blocks)", row_len);
        if (pr->fell < FELL_SHOWN)
            snprintf(pr->names[pr->fell], sizeof pr->names[0], "%s", name);
        pr->fell++;
    }
    fputc('\n', stderr);
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

int cmd_quantize(int argc, char **argv)
{
    static const struct option opts[] = {
        {"type", required_argument, NULL, 't'},
        {"expert-type", required_argument, NULL, 'x'},
        {"threads", required_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *type_name = NULL, *expert_name = NULL;
    long threads = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:j:h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            type_name = optarg;
            break;
        case 'x':
            expert_name = optarg;
            break;
        case 'j': {
            char *end = NULL;
            errno = 0;
            threads = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || threads < 1 || threads > 256) {
                fprintf(stderr, "owbench quantize: --threads '%s' is not an integer in 1..256\n",
                        optarg);
                return OWB_EXIT_USAGE;
            }
            break;
        }
        case 'h':
            usage(stdout);
            return OWB_EXIT_OK;
        default:
            usage(stderr);
            return OWB_EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "owbench quantize: expected IN.gguf and OUT.gguf, got %d file argument%s\n",
                argc - optind, argc - optind == 1 ? "" : "s");
        usage(stderr);
        return OWB_EXIT_USAGE;
    }
    const char *in = argv[optind], *out = argv[optind + 1];
    if (!type_name) {
        fprintf(stderr, "owbench quantize: --type is required (one of %s)\n",
                owb_quantize_target_names());
        return OWB_EXIT_USAGE;
    }
    enum owb_type type;
    if (owb_type_from_name(type_name, &type) != 0 || !owb_quantize_target_ok(type)) {
        fprintf(stderr, "owbench quantize: unknown or unsupported type '%s' (one of %s)\n",
                type_name, owb_quantize_target_names());
        return OWB_EXIT_USAGE;
    }

    enum owb_type expert = OWB_TYPE_COUNT;
    if (expert_name &&
        (owb_type_from_name(expert_name, &expert) != 0 || !owb_quantize_target_ok(expert))) {
        fprintf(stderr, "owbench quantize: unknown or unsupported --expert-type '%s' (one of %s)\n",
                expert_name, owb_quantize_target_names());
        return OWB_EXIT_USAGE;
    }

    char err[OWB_ERR_MAX] = "";
    struct progress pr = {0};
    if (expert != OWB_TYPE_COUNT)
        fprintf(stderr, "owbench quantize: %s -> %s (%s, experts %s)\n", in, out,
                owb_type_name(type), owb_type_name(expert));
    else
        fprintf(stderr, "owbench quantize: %s -> %s (%s)\n", in, out, owb_type_name(type));
    install_cleanup();
    int rc = owb_quantize_file_ex(in, out, type, expert, (int)threads, on_tensor, &pr, err);
    if (rc) {
        fprintf(stderr, "owbench quantize: %s\n", err);
        return owb_status_exit(rc);
    }
    if (pr.fell) {
        fprintf(stderr,
                "owbench quantize: %" PRId64 " tensor(s) fell back to a wider type:", pr.fell);
        for (int64_t i = 0; i < pr.fell && i < FELL_SHOWN; i++)
            fprintf(stderr, "%s %s", i ? "," : "", pr.names[i]);
        fprintf(stderr, "%s\n", pr.fell > FELL_SHOWN ? ", ..." : "");
    }
    fprintf(stderr, "wrote %s\n", out);
    return OWB_EXIT_OK;
}
