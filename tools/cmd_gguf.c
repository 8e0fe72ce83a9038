/* SPDX-License-Identifier: MIT */
/*
 * cmd_gguf.c: `owbench gguf FILE [--json]`, a GGUF inspector: header facts, every metadata key
 * with its type and value (long arrays shortened to their first elements and the count, long
 * strings cut), the tensor table (name, type, shape, bytes, offset), total tensor bytes and the
 * parameter count. A file the reader rejects prints "FILE: reason" and exits 3.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "model/gguf.h"
#include "owb_common.h"
#include "tools/cmds.h"

#define ARRAY_HEAD 8   /* array elements shown before "... (N)" */
#define STRING_MAX 120 /* bytes of a string shown before it is cut */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: owbench gguf FILE [--json]\n\n"
            "Show a GGUF file: version, alignment, metadata (arrays longer than %d elements\n"
            "show the first %d and the count), the tensor table and the parameter count.\n\n"
            "  --json   one JSON object on stdout instead of the text listing\n",
            ARRAY_HEAD, ARRAY_HEAD);
}

/* Print a string quoted, control bytes escaped, cut after `max` bytes (0: no limit). */
static void print_str(FILE *f, struct owb_gguf_str s, size_t max)
{
    size_t n = (size_t)s.len;
    bool cut = max && n > max;
    if (cut)
        n = max;
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
    if (cut)
        fprintf(f, "... (%" PRIu64 " bytes)", s.len);
}

static void print_value(FILE *f, const struct owb_gguf_value *v, int depth)
{
    switch (v->type) {
    case OWB_GGUF_UINT8:
    case OWB_GGUF_UINT16:
    case OWB_GGUF_UINT32:
    case OWB_GGUF_UINT64:
        fprintf(f, "%" PRIu64, v->v.u);
        break;
    case OWB_GGUF_INT8:
    case OWB_GGUF_INT16:
    case OWB_GGUF_INT32:
    case OWB_GGUF_INT64:
        fprintf(f, "%" PRId64, v->v.i);
        break;
    case OWB_GGUF_FLOAT32:
        fprintf(f, "%.9g", v->v.f);
        break;
    case OWB_GGUF_FLOAT64:
        fprintf(f, "%.17g", v->v.f);
        break;
    case OWB_GGUF_BOOL:
        fputs(v->v.b ? "true" : "false", f);
        break;
    case OWB_GGUF_STRING:
        print_str(f, v->v.s, depth ? 40 : STRING_MAX);
        break;
    case OWB_GGUF_ARRAY: {
        uint64_t n = v->v.arr.n, show = n > ARRAY_HEAD ? ARRAY_HEAD : n;
        fputc('[', f);
        for (uint64_t i = 0; i < show; i++) {
            struct owb_gguf_value e;
            owb_gguf_arr_elem(v, i, &e);
            if (i)
                fputs(", ", f);
            print_value(f, &e, depth + 1);
        }
        if (show < n)
            fprintf(f, ", ... (%" PRIu64 " %s)", n, owb_gguf_type_name(v->v.arr.elem_type));
        fputc(']', f);
        break;
    }
    default:
        fputs("?", f);
    }
}

static void type_label(const struct owb_gguf_value *v, char *buf, size_t n)
{
    if (v->type == OWB_GGUF_ARRAY)
        snprintf(buf, n, "%s[%" PRIu64 "]", owb_gguf_type_name(v->v.arr.elem_type), v->v.arr.n);
    else
        snprintf(buf, n, "%s", owb_gguf_type_name(v->type));
}

static void shape_str(const struct owb_gguf_tensor *t, char *buf, size_t n)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (int d = 0; d < t->n_dims && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, "%s%" PRId64, d ? ", " : "", t->ne[d]);
    if (o < n)
        snprintf(buf + o, n - o, "]");
}

/* Sums over all tensors; saturating (a hostile file cannot wrap them). */
static void totals(const struct owb_gguf *g, uint64_t *params, uint64_t *bytes)
{
    *params = 0;
    *bytes = 0;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        if (__builtin_add_overflow(*params, (uint64_t)g->tensors[i].n_elements, params))
            *params = UINT64_MAX;
        if (__builtin_add_overflow(*bytes, (uint64_t)g->tensors[i].size_bytes, bytes))
            *bytes = UINT64_MAX;
    }
}

static void print_text(const struct owb_gguf *g)
{
    uint64_t params, bytes;
    totals(g, &params, &bytes);
    printf("file:      %s\n", g->path);
    printf("version:   %" PRIu32 "\nalignment: %" PRIu32 "\nsize:      %zu bytes (tensor data "
           "at offset %zu)\n",
           g->version, g->alignment, g->file_size, g->data_offset);
    printf("\nmetadata: %" PRId64 " keys\n", g->n_kv);
    int kw = 10;
    for (int64_t i = 0; i < g->n_kv; i++) {
        int l = (int)strlen(g->kv[i].key);
        if (l > kw)
            kw = l > 60 ? 60 : l;
    }
    for (int64_t i = 0; i < g->n_kv; i++) {
        char tl[64];
        type_label(&g->kv[i].value, tl, sizeof tl);
        printf("  %-*s %-16s ", kw, g->kv[i].key, tl);
        print_value(stdout, &g->kv[i].value, 0);
        putchar('\n');
    }
    printf("\ntensors: %" PRId64 "\n", g->n_tensors);
    if (g->n_tensors) {
        int nw = 4;
        for (int64_t i = 0; i < g->n_tensors; i++) {
            int l = (int)strlen(g->tensors[i].name);
            if (l > nw)
                nw = l > 60 ? 60 : l;
        }
        printf("  %-*s %-6s %-26s %14s %14s\n", nw, "name", "type", "shape", "bytes", "offset");
        for (int64_t i = 0; i < g->n_tensors; i++) {
            const struct owb_gguf_tensor *t = &g->tensors[i];
            char sh[128];
            shape_str(t, sh, sizeof sh);
            printf("  %-*s %-6s %-26s %14zu %14" PRIu64 "\n", nw, t->name, owb_type_name(t->type),
                   sh, t->size_bytes, t->offset);
        }
    }
    printf("\ntotal: %" PRId64 " tensors, %" PRIu64 " parameters, %" PRIu64
           " bytes of tensor data (%.2f MiB)\n",
           g->n_tensors, params, bytes, (double)bytes / (1024.0 * 1024.0));
}

/* A JSON string from bytes that may not be UTF-8: invalid sequences become U+FFFD. */
static cJSON *json_str(struct owb_gguf_str s)
{
    size_t n = (size_t)s.len, o = 0;
    char *buf = malloc(n * 3 + 1);
    if (!buf)
        return cJSON_CreateNull();
    const unsigned char *p = (const unsigned char *)s.ptr;
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + len <= n && c != 0;
        for (size_t j = 1; ok && j < len; j++)
            ok = (p[i + j] & 0xc0) == 0x80;
        if (ok) {
            memcpy(buf + o, p + i, len);
            o += len;
            i += len;
        } else {
            memcpy(buf + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    buf[o] = '\0';
    cJSON *j = cJSON_CreateString(buf);
    free(buf);
    return j;
}

static cJSON *json_value(const struct owb_gguf_value *v)
{
    switch (v->type) {
    case OWB_GGUF_UINT8:
    case OWB_GGUF_UINT16:
    case OWB_GGUF_UINT32:
    case OWB_GGUF_UINT64:
        return cJSON_CreateNumber((double)v->v.u);
    case OWB_GGUF_INT8:
    case OWB_GGUF_INT16:
    case OWB_GGUF_INT32:
    case OWB_GGUF_INT64:
        return cJSON_CreateNumber((double)v->v.i);
    case OWB_GGUF_FLOAT32:
    case OWB_GGUF_FLOAT64:
        return cJSON_CreateNumber(v->v.f);
    case OWB_GGUF_BOOL:
        return cJSON_CreateBool(v->v.b);
    case OWB_GGUF_STRING:
        return json_str(v->v.s);
    case OWB_GGUF_ARRAY: {
        uint64_t n = v->v.arr.n, show = n > ARRAY_HEAD ? ARRAY_HEAD : n;
        cJSON *a = cJSON_CreateArray();
        for (uint64_t i = 0; i < show; i++) {
            struct owb_gguf_value e;
            owb_gguf_arr_elem(v, i, &e);
            cJSON_AddItemToArray(a, json_value(&e));
        }
        if (show == n)
            return a;
        /* Shortened: {"n": count, "head": [first elements]}. */
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "n", (double)n);
        cJSON_AddItemToObject(o, "head", a);
        return o;
    }
    default:
        return cJSON_CreateNull();
    }
}

static int print_json(const struct owb_gguf *g)
{
    uint64_t params, bytes;
    totals(g, &params, &bytes);
    cJSON *doc = cJSON_CreateObject(), *meta = cJSON_CreateObject(), *types = cJSON_CreateObject(),
          *ts = cJSON_CreateArray();
    cJSON_AddStringToObject(doc, "file", g->path);
    cJSON_AddNumberToObject(doc, "version", g->version);
    cJSON_AddNumberToObject(doc, "alignment", g->alignment);
    cJSON_AddNumberToObject(doc, "file_size", (double)g->file_size);
    cJSON_AddNumberToObject(doc, "data_offset", (double)g->data_offset);
    for (int64_t i = 0; i < g->n_kv; i++) {
        char tl[64];
        type_label(&g->kv[i].value, tl, sizeof tl);
        cJSON_AddItemToObject(meta, g->kv[i].key, json_value(&g->kv[i].value));
        cJSON_AddStringToObject(types, g->kv[i].key, tl);
    }
    cJSON_AddItemToObject(doc, "metadata", meta);
    cJSON_AddItemToObject(doc, "metadata_types", types);
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const struct owb_gguf_tensor *t = &g->tensors[i];
        cJSON *o = cJSON_CreateObject(), *shape = cJSON_CreateArray();
        cJSON_AddItemToObject(o, "name", json_str((struct owb_gguf_str){t->name, strlen(t->name)}));
        cJSON_AddStringToObject(o, "type", owb_type_name(t->type));
        for (int d = 0; d < t->n_dims; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->ne[d]));
        cJSON_AddItemToObject(o, "shape", shape);
        cJSON_AddNumberToObject(o, "bytes", (double)t->size_bytes);
        cJSON_AddNumberToObject(o, "offset", (double)t->offset);
        cJSON_AddItemToArray(ts, o);
    }
    cJSON_AddItemToObject(doc, "tensors", ts);
    cJSON_AddNumberToObject(doc, "n_tensors", (double)g->n_tensors);
    cJSON_AddNumberToObject(doc, "n_params", (double)params);
    cJSON_AddNumberToObject(doc, "tensor_bytes", (double)bytes);
    char *s = cJSON_Print(doc);
    cJSON_Delete(doc);
    if (!s) {
        fprintf(stderr, "owbench gguf: out of memory\n");
        return OWB_EXIT_RUNTIME;
    }
    puts(s);
    cJSON_free(s);
    return OWB_EXIT_OK;
}

int cmd_gguf(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    bool json = false;
    int c;
    char err[OWB_ERR_MAX] = "";

    optind = 1;
    while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = true;
            break;
        case 'h':
            usage(stdout);
            return OWB_EXIT_OK;
        default:
            usage(stderr);
            return OWB_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "owbench gguf: expected exactly one FILE, got %d\n", argc - optind);
        usage(stderr);
        return OWB_EXIT_USAGE;
    }
    struct owb_gguf *g = owb_gguf_open(argv[optind], err);
    if (!g) {
        fprintf(stderr, "%s\n", err);
        return OWB_EXIT_RUNTIME;
    }
    int rc = OWB_EXIT_OK;
    if (json)
        rc = print_json(g);
    else
        print_text(g);
    owb_gguf_close(g);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "owbench gguf: writing to stdout failed\n");
        rc = OWB_EXIT_RUNTIME;
    }
    return rc;
}
