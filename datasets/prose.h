/* SPDX-License-Identifier: MIT */
/*
 * prose.h: a few KB of public-domain English prose compiled into the binary, the text `owbench
 * run` scores its quantized derivatives on when nothing may be downloaded: Lincoln's Gettysburg
 * Address (the Bliss copy, 1864; a U.S. public-domain work) followed by a short story written for
 * owbench and dedicated to the public domain (CC0 1.0). Plain ASCII, paragraphs separated by one
 * blank line, em dashes written as "--". The text is stored in pieces (ISO C only promises string
 * literals of 4095 bytes) and joined on request. Static, read-only data; thread-safe.
 */
#ifndef OWB_DATASETS_PROSE_H
#define OWB_DATASETS_PROSE_H

#include <stddef.h>

struct owb_prose_info {
    const char *name;    /* "owb-prose" */
    const char *what;    /* one line */
    const char *source;  /* where each part comes from */
    const char *license; /* "public domain (...)" */
};

/* The text's description (static). */
const struct owb_prose_info *owb_prose_info(void);

/* Bytes of the text (without a terminating NUL). */
size_t owb_prose_len(void);

/* A new NUL-terminated copy of the whole text (caller frees); *len (may be NULL) gets its length.
 * NULL when out of memory. The bytes never change between calls or builds of the same source. */
char *owb_prose_text(size_t *len);

#endif
