/* SPDX-License-Identifier: MIT */
/*
 * serve_json.h: a validating JSON tokenizer that does not allocate, for the load generator's
 * event loop (one streamed chunk is a small JSON object; parsing it must not malloc per event).
 * It checks the whole text against RFC 8259 (one value, strings with valid escapes and no raw
 * control characters, numbers, literals, nesting up to OWB_JSON_MAX_DEPTH) and fills a
 * caller-owned token array in document order; lookups walk it. Strings are not unescaped: a
 * token gives the raw bytes between the quotes. Pure functions, thread-safe.
 */
#ifndef OWB_BENCH_SERVE_JSON_H
#define OWB_BENCH_SERVE_JSON_H

#include <stddef.h>

#define OWB_JSON_MAX_DEPTH 64

enum owb_jtype {
    OWB_J_OBJ = 1,
    OWB_J_ARR,
    OWB_J_STR,
    OWB_J_NUM,
    OWB_J_TRUE,
    OWB_J_FALSE,
    OWB_J_NULL
};

struct owb_jtok {
    int type;       /* enum owb_jtype */
    int start, end; /* byte range; for strings the bytes between the quotes */
    int next;       /* index of the first token after this one's subtree */
    int size;       /* objects: number of keys; arrays: number of elements */
};

/* Tokenize s[0..n) into t[0..max). Returns the number of tokens (t[0] is the root), -1 when the
 * text is not valid JSON, -2 when it needs more than max tokens. */
int owb_serve_json_tokenize(const char *s, size_t n, struct owb_jtok *t, int max);

/* The value token of key in object token obj (key compared with the raw string bytes), or -1
 * (also when obj is -1 or not an object). */
int owb_serve_json_get(const char *s, const struct owb_jtok *t, int obj, const char *key);

/* Element i of array token arr, or -1. */
int owb_serve_json_at(const struct owb_jtok *t, int arr, int i);

/* Value of number token i (0 when i is -1 or not a number). */
double owb_serve_json_num(const char *s, const struct owb_jtok *t, int i);

#endif
