/* SPDX-License-Identifier: MIT */
/*
 * mc.h: multiple-choice task files for `owbench eval mc`, in two formats.
 *
 * HellaSwag, llama.cpp's 6-line text format (what its scripts/get-hellaswag.sh downloads): per
 * task, the context (activity label + ": " + ctx), the gold ending's index 0-3, then the four
 * endings, one per line; LF or CRLF. Item ids are "hellaswag/<i>", i = 0-based task position in
 * the file, so the same task keeps its id in every subset.
 *
 * JSONL (docs/evals.md): one object per line, blank lines ignored:
 *   {"id": "q17", "context": "The man", "endings": ["runs.", "sleeps."], "label": 1}
 * `context` string, `endings` array of >= 2 non-empty strings, `label` integer index of the
 * correct ending; `id` (string or integer, optional, unique) defaults to "line<N>" (1-based line).
 *
 * Ownership: a loaded task owns all its strings; owb_mc_release() frees them. Loading is
 * reentrant; a task is read-only afterwards and may be shared between threads.
 */
#ifndef OWB_DATASETS_MC_H
#define OWB_DATASETS_MC_H

#include <stddef.h>
#include <stdint.h>

#include "owb_common.h"

enum owb_mc_format {
    OWB_MC_AUTO = 0, /* JSONL when the first non-blank byte is '{', else HellaSwag */
    OWB_MC_HELLASWAG = 1,
    OWB_MC_JSONL = 2,
};

struct owb_mc_item {
    char *id;     /* stable item id (see above) */
    size_t index; /* 0-based position of the item in the file */
    size_t line;  /* 1-based line where the item starts */
    char *context;
    char **endings; /* n_endings NUL-terminated strings */
    int n_endings;
    int gold; /* index of the correct ending */
};

struct owb_mc_task {
    struct owb_mc_item *items;
    size_t n;
    enum owb_mc_format format; /* the format actually read */
    unsigned char sha256[32];  /* of the file's bytes */
};

/* "auto", "hellaswag", "jsonl". */
const char *owb_mc_format_name(enum owb_mc_format f);
/* Parse a --format value; returns 0 or OWB_E_USAGE. */
int owb_mc_format_parse(const char *s, enum owb_mc_format *f);

/* Load a task file. Returns 0, OWB_E_IO (unreadable), OWB_E_FORMAT (err names the file, the line
 * and the problem: "t.jsonl:7: \"label\" 4 is out of range for 4 endings") or OWB_E_NOMEM. An
 * empty file (no items) is OWB_E_FORMAT. On failure t is left empty. */
int owb_mc_load(struct owb_mc_task *t, const char *path, enum owb_mc_format f,
                char err[OWB_ERR_MAX]);
/* Free everything t owns and leave it empty; NULL is a no-op. */
void owb_mc_release(struct owb_mc_task *t);

/* The items to evaluate: all of them (limit 0 or >= n) or `limit` drawn uniformly without
 * replacement with owb_rng seeded by seed, in file order. *idx (caller frees) receives the item
 * indices, *n_idx their count. Returns 0 or OWB_E_NOMEM. */
int owb_mc_select(const struct owb_mc_task *t, size_t limit, uint64_t seed, size_t **idx,
                  size_t *n_idx);

#endif
