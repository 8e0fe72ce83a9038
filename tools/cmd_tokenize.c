/* SPDX-License-Identifier: MIT */
/*
 * cmd_tokenize.c: `owbench tokenize`, the token ids of a text under the tokenizer of a GGUF file,
 * printed the way llama.cpp's llama-tokenize prints them: with --ids one line "[1, 2, 3]",
 * otherwise one line per token, "%6d -> 'piece'" (the piece's raw bytes, special tokens by their
 * text). Any vocabulary the tokenizer supports (SentencePiece "llama", byte-level BPE "gpt2" with
 * the gpt-2, llama-bpe, qwen2 and gpt-4o pre-tokenizers). Only the GGUF's metadata is read: a
 * vocab-only file is enough. BOS (and EOS) are added as the vocabulary says unless --no-bos;
 * special-token text becomes the special token only with --special (llama-tokenize's default is
 * the opposite: give it --no-parse-special to compare). The text is taken as it is: no escape
 * sequences are processed (llama-tokenize's --no-escape).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/tokenizer.h"
#include "owb_common.h"
#include "tools/cmds.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: owbench tokenize -m FILE (-p TEXT | -f FILE) [--ids] [--special] "
            "[--no-bos]\n\n"
            "Tokenize a text with the tokenizer of a GGUF file (a vocab-only file is enough) and\n"
            "print the tokens as llama.cpp's llama-tokenize does: one line \"ID -> 'piece'\" per\n"
            "token, or with --ids one list \"[ID, ID, ...]\".\n\n"
            "  -m, --model FILE   GGUF file with tokenizer.ggml.* metadata\n"
            "  -p, --prompt TEXT  the text (taken as is: no escape sequences)\n"
            "  -f, --file FILE    read the text from FILE ('-' reads standard input)\n"
            "  --ids              print only the ids, as [1, 2, 3]\n"
            "  --special          text of control tokens (e.g. <|start|>, <s>) becomes that\n"
            "                     token; without it such text is tokenized as plain text\n"
            "  --no-bos           do not add BOS/EOS even where the vocabulary asks for them\n\n"
            "exit codes: 0 ok, 2 usage error, 3 unreadable text file, unreadable or corrupt\n"
            "GGUF, unsupported tokenizer, or stdout write failure\n");
}

/* Read all of path ("-": stdin) into a heap buffer (*n bytes, NUL added). NULL with err set. */
static char *read_all(const char *path, size_t *n, char err[OWB_ERR_MAX])
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (!f) {
        snprintf(err, OWB_ERR_MAX, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (cap - len < 65536) {
            size_t nc = cap ? 2 * cap : 65536;
            char *p = realloc(buf, nc + 1);
            if (!p) {
                snprintf(err, OWB_ERR_MAX, "%s: out of memory after %zu bytes", path, len);
                goto fail;
            }
            buf = p;
            cap = nc;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        snprintf(err, OWB_ERR_MAX, "%s: read error: %s", path, strerror(errno));
        goto fail;
    }
    if (f != stdin)
        fclose(f);
    buf[len] = '\0';
    *n = len;
    return buf;
fail:
    if (f != stdin)
        fclose(f);
    free(buf);
    return NULL;
}

int cmd_tokenize(int argc, char **argv)
{
    enum { OPT_IDS = 256, OPT_SPECIAL, OPT_NO_BOS };
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"prompt", required_argument, NULL, 'p'},
                                         {"file", required_argument, NULL, 'f'},
                                         {"ids", no_argument, NULL, OPT_IDS},
                                         {"special", no_argument, NULL, OPT_SPECIAL},
                                         {"no-bos", no_argument, NULL, OPT_NO_BOS},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *model_path = NULL, *prompt = NULL, *text_path = NULL;
    bool ids_only = false, special = false, no_bos = false;
    int c, rc = OWB_EXIT_RUNTIME;
    char err[OWB_ERR_MAX] = "";
    char *text = NULL, *piece = NULL;
    size_t text_len = 0, piece_cap = 256;
    struct owb_gguf *g = NULL;
    struct owb_tokenizer *tok = NULL;
    int32_t *ids = NULL;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:p:f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            model_path = optarg;
            break;
        case 'p':
            prompt = optarg;
            break;
        case 'f':
            text_path = optarg;
            break;
        case OPT_IDS:
            ids_only = true;
            break;
        case OPT_SPECIAL:
            special = true;
            break;
        case OPT_NO_BOS:
            no_bos = true;
            break;
        case 'h':
            usage(stdout);
            return OWB_EXIT_OK;
        case ':':
            fprintf(stderr, "owbench tokenize: %s needs a value\n", argv[optind - 1]);
            usage(stderr);
            return OWB_EXIT_USAGE;
        default:
            if (optopt > 0 && optopt < 256)
                fprintf(stderr, "owbench tokenize: unknown option '-%c'\n", optopt);
            else
                fprintf(stderr, "owbench tokenize: unknown or malformed option '%s'\n",
                        argv[optind - 1]);
            usage(stderr);
            return OWB_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "owbench tokenize: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return OWB_EXIT_USAGE;
    }
    if (!model_path || (!prompt) == (!text_path)) {
        fprintf(stderr, "owbench tokenize: -m FILE and one of -p TEXT or -f FILE are required\n");
        usage(stderr);
        return OWB_EXIT_USAGE;
    }

    if (text_path) {
        if (!(text = read_all(text_path, &text_len, err)))
            goto fail;
    } else {
        text_len = strlen(prompt);
    }
    const char *src = text ? text : prompt;
    if (!(g = owb_gguf_open(model_path, err)) || !(tok = owb_tokenizer_new(g, err)))
        goto fail;
    owb_gguf_close(g);
    g = NULL;

    unsigned flags = (no_bos ? 0u : OWB_TOK_ADD_SPECIAL) | (special ? OWB_TOK_PARSE_SPECIAL : 0u);
    /* About one token per byte at most; byte fallbacks of odd vocabularies can give more, then
     * the returned count says how many and the text is tokenized again. */
    int64_t cap = (int64_t)text_len + 4, n;
    for (;;) {
        int32_t *p = realloc(ids, (size_t)cap * sizeof *ids);
        if (!p) {
            snprintf(err, sizeof err, "out of memory for %" PRId64 " token ids", cap);
            goto fail;
        }
        ids = p;
        n = owb_tokenizer_encode(tok, src, text_len, flags, ids, cap);
        if (n < 0) {
            snprintf(err, sizeof err, "%s: tokenizing failed (out of memory)", model_path);
            goto fail;
        }
        if (n <= cap)
            break;
        cap = n;
    }
    if (!(piece = malloc(piece_cap))) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }

    if (ids_only) {
        fputc('[', stdout);
        for (int64_t i = 0; i < n; i++)
            printf(i ? ", %" PRId32 : "%" PRId32, ids[i]);
        fputs("]\n", stdout);
    } else {
        for (int64_t i = 0; i < n; i++) {
            int len = owb_tokenizer_piece(tok, ids[i], true, piece, piece_cap);
            if (len > 0 && (size_t)len > piece_cap) {
                char *p = realloc(piece, (size_t)len);
                if (!p) {
                    snprintf(err, sizeof err, "out of memory for a piece of %d bytes", len);
                    goto fail;
                }
                piece = p;
                piece_cap = (size_t)len;
                len = owb_tokenizer_piece(tok, ids[i], true, piece, piece_cap);
            }
            printf("%6" PRId32 " -> '", ids[i]);
            if (len > 0)
                fwrite(piece, 1, (size_t)len, stdout);
            fputs("'\n", stdout);
        }
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        snprintf(err, sizeof err, "writing the tokens to standard output failed: %s",
                 strerror(errno));
        goto fail;
    }
    rc = OWB_EXIT_OK;
    goto out;
fail:
    fprintf(stderr, "owbench tokenize: %s\n", err);
out:
    owb_tokenizer_free(tok);
    owb_gguf_close(g);
    free(ids);
    free(piece);
    free(text);
    return rc;
}
