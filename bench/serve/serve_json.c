/* SPDX-License-Identifier: MIT */
/*
 * serve_json.c: the recursive-descent tokenizer of serve_json.h. Each value becomes one token;
 * an object's children are its keys and values alternately, so lookups skip whole subtrees with
 * the `next` index.
 */
#include <stdlib.h>
#include <string.h>

#include "bench/serve/serve_json.h"

struct jp {
    const char *s;
    size_t n, i;
    struct owb_jtok *t;
    int nt, max, depth, full;
};

static void ws(struct jp *p)
{
    while (p->i < p->n &&
           (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

static int tok(struct jp *p, int type, size_t start)
{
    if (p->nt == p->max) {
        p->full = 1;
        return -1;
    }
    p->t[p->nt].type = type;
    p->t[p->nt].start = (int)start;
    p->t[p->nt].end = (int)start;
    p->t[p->nt].size = 0;
    p->t[p->nt].next = p->nt + 1;
    return p->nt++;
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int string(struct jp *p)
{
    int k;
    size_t st = ++p->i; /* after the quote */
    while (p->i < p->n) {
        unsigned char c = (unsigned char)p->s[p->i];
        if (c == '"') {
            if ((k = tok(p, OWB_J_STR, st)) < 0)
                return -1;
            p->t[k].end = (int)p->i;
            p->i++;
            return k;
        }
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            char e;
            if (++p->i >= p->n)
                return -1;
            e = p->s[p->i];
            if (e == 'u') {
                if (p->i + 4 >= p->n || !is_hex(p->s[p->i + 1]) || !is_hex(p->s[p->i + 2]) ||
                    !is_hex(p->s[p->i + 3]) || !is_hex(p->s[p->i + 4]))
                    return -1;
                p->i += 4;
            } else if (!strchr("\"\\/bfnrt", e) || e == '\0') {
                return -1;
            }
        }
        p->i++;
    }
    return -1;
}

static int digits(struct jp *p)
{
    size_t st = p->i;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
        p->i++;
    return p->i > st;
}

static int number(struct jp *p)
{
    size_t st = p->i;
    int k;
    if (p->s[p->i] == '-')
        p->i++;
    if (p->i < p->n && p->s[p->i] == '0')
        p->i++;
    else if (!digits(p))
        return -1;
    if (p->i < p->n && p->s[p->i] == '.') {
        p->i++;
        if (!digits(p))
            return -1;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
            p->i++;
        if (!digits(p))
            return -1;
    }
    if ((k = tok(p, OWB_J_NUM, st)) < 0)
        return -1;
    p->t[k].end = (int)p->i;
    return k;
}

static int literal(struct jp *p, const char *word, int type)
{
    size_t l = strlen(word);
    int k;
    if (p->n - p->i < l || memcmp(p->s + p->i, word, l))
        return -1;
    if ((k = tok(p, type, p->i)) < 0)
        return -1;
    p->i += l;
    p->t[k].end = (int)p->i;
    return k;
}

static int value(struct jp *p);

static int container(struct jp *p, int obj)
{
    int k = tok(p, obj ? OWB_J_OBJ : OWB_J_ARR, p->i);
    char close = obj ? '}' : ']';
    if (k < 0 || ++p->depth > OWB_JSON_MAX_DEPTH)
        return -1;
    p->i++;
    ws(p);
    if (p->i < p->n && p->s[p->i] == close) {
        p->i++;
        goto done;
    }
    for (;;) {
        ws(p);
        if (obj) {
            if (p->i >= p->n || p->s[p->i] != '"' || string(p) < 0)
                return -1;
            ws(p);
            if (p->i >= p->n || p->s[p->i] != ':')
                return -1;
            p->i++;
        }
        if (value(p) < 0)
            return -1;
        p->t[k].size++;
        ws(p);
        if (p->i >= p->n)
            return -1;
        if (p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->s[p->i] != close)
            return -1;
        p->i++;
        break;
    }
done:
    p->depth--;
    p->t[k].end = (int)p->i;
    p->t[k].next = p->nt;
    return k;
}

static int value(struct jp *p)
{
    ws(p);
    if (p->i >= p->n)
        return -1;
    switch (p->s[p->i]) {
    case '{':
        return container(p, 1);
    case '[':
        return container(p, 0);
    case '"':
        return string(p);
    case 't':
        return literal(p, "true", OWB_J_TRUE);
    case 'f':
        return literal(p, "false", OWB_J_FALSE);
    case 'n':
        return literal(p, "null", OWB_J_NULL);
    default:
        if (p->s[p->i] == '-' || (p->s[p->i] >= '0' && p->s[p->i] <= '9'))
            return number(p);
        return -1;
    }
}

int owb_serve_json_tokenize(const char *s, size_t n, struct owb_jtok *t, int max)
{
    struct jp p = {s, n, 0, t, 0, max, 0, 0};
    if (value(&p) < 0)
        return p.full ? -2 : -1;
    ws(&p);
    return p.i == n ? p.nt : -1;
}

int owb_serve_json_get(const char *s, const struct owb_jtok *t, int obj, const char *key)
{
    size_t kl = strlen(key);
    int k;
    if (obj < 0 || t[obj].type != OWB_J_OBJ)
        return -1;
    for (k = obj + 1; k < t[obj].next;) {
        int v = t[k].next; /* a key is a string: its value follows it */
        if ((size_t)(t[k].end - t[k].start) == kl && !memcmp(s + t[k].start, key, kl))
            return v;
        k = t[v].next;
    }
    return -1;
}

int owb_serve_json_at(const struct owb_jtok *t, int arr, int i)
{
    int k;
    if (arr < 0 || t[arr].type != OWB_J_ARR || i < 0 || i >= t[arr].size)
        return -1;
    for (k = arr + 1; i > 0; i--)
        k = t[k].next;
    return k;
}

double owb_serve_json_num(const char *s, const struct owb_jtok *t, int i)
{
    char buf[64];
    int l;
    if (i < 0 || t[i].type != OWB_J_NUM)
        return 0;
    l = t[i].end - t[i].start;
    if (l <= 0 || l >= (int)sizeof buf)
        return 0;
    memcpy(buf, s + t[i].start, (size_t)l);
    buf[l] = '\0';
    return strtod(buf, NULL);
}
