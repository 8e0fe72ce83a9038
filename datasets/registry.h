/* SPDX-License-Identifier: MIT */
/*
 * registry.h: the standard evaluation sets owbench knows by name: where they come from, their
 * licence, the format the loaders read and, where it is known for certain, the SHA-256 of the
 * file the loaders expect (a download is checked against it). Entries without a known hash say
 * so (sha256 NULL): a fetch of them cannot be verified. Static, read-only data; thread-safe.
 */
#ifndef OWB_DATASETS_REGISTRY_H
#define OWB_DATASETS_REGISTRY_H

#include <stddef.h>

struct owb_dataset {
    const char *name;   /* e.g. "hellaswag-val" */
    const char *what;   /* one line */
    const char *url;    /* where the file (or an archive holding it) is downloaded from */
    const char *file;   /* the file the loaders read, inside the archive when url is one */
    const char *sha256; /* hex digest of `file`, or NULL when not known for certain */
    const char *license;
    const char *format; /* "text" (eval ppl), "hellaswag" or "jsonl" (eval mc), or a note */
    const char *eval;   /* the owbench command that reads it */
};

/* The table and its length. */
const struct owb_dataset *owb_datasets(size_t *n);
/* Entry by name; NULL when unknown. */
const struct owb_dataset *owb_dataset_find(const char *name);

#endif
