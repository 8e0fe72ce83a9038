/* SPDX-License-Identifier: MIT */
/*
 * mc.c: the HellaSwag 6-line and JSONL multiple-choice loaders and seeded subsets. The file is read
 * whole (it is hashed for the result's identity anyway) and split into lines in place.
 */
#include "datasets/mc.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/rng.h"
#include "datasets/sha256.h"
#include "datasets/text.h"

const char *owb_mc_format_name(enum owb_mc_format f)
{
    switch (f) {
    case OWB_MC_HELLASWAG:
        return "hellaswag";
    case OWB_MC_JSONL:
        return "jsonl";
    default:
        return "auto";
    }
}

int owb_mc_format_parse(const char *s, enum owb_mc_format *f)
{
    if (!strcmp(s, "auto"))
        *f = OWB_MC_AUTO;
    else if (!strcmp(s, "hellaswag"))
        *f = OWB_MC_HELLASWAG;
    else if (!strcmp(s, "jsonl"))
        *f = OWB_MC_JSONL;
    else
        return OWB_E_USAGE;
    return OWB_OK;
}

static void item_release(struct owb_mc_item *it)
{
    free(it->id);
    free(it->context);
    for (int i = 0; i < it->n_endings; i++)
        free(it->endings[i]);
    free(it->endings);
    memset(it, 0, sizeof *it);
}

void owb_mc_release(struct owb_mc_task *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        item_release(&t->items[i]);
    free(t->items);
    memset(t, 0, sizeof *t);
}

/* Split buf into lines in place (LF, a CR before it dropped); *lines gets pointers. A final line
 * without LF counts; a trailing empty line after the last LF does not. */
static int split_lines(char *buf, size_t len, char ***lines, size_t *n)
{
    size_t cap = 1024, k = 0;
    char **v = malloc(cap * sizeof *v);
    if (!v)
        return OWB_E_NOMEM;
    char *p = buf, *end = buf + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        if (e > p && e[-1] == '\r')
            e[-1] = '\0';
        *e = '\0';
        if (k == cap) {
            char **nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv) {
                free(v);
                return OWB_E_NOMEM;
            }
            v = nv;
            cap *= 2;
        }
        v[k++] = p;
        p = e + 1;
    }
    *lines = v;
    *n = k;
    return OWB_OK;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

static int grow_items(struct owb_mc_task *t, size_t *cap)
{
    if (t->n < *cap)
        return OWB_OK;
    size_t nc = *cap ? *cap * 2 : 256;
    struct owb_mc_item *ni = realloc(t->items, nc * sizeof *ni);
    if (!ni)
        return OWB_E_NOMEM;
    memset(ni + *cap, 0, (nc - *cap) * sizeof *ni);
    t->items = ni;
    *cap = nc;
    return OWB_OK;
}

static int load_hellaswag(struct owb_mc_task *t, const char *path, char **lines, size_t nl,
                          char err[OWB_ERR_MAX])
{
    size_t cap = 0;
    if (nl % 6) {
        snprintf(err, OWB_ERR_MAX,
                 "%.300s: %zu lines is not a multiple of 6 (HellaSwag format: context, gold index "
                 "0-3, four endings); the task at line %zu is incomplete",
                 path, nl, nl - nl % 6 + 1);
        return OWB_E_FORMAT;
    }
    for (size_t i = 0; i + 6 <= nl; i += 6) {
        const char *g = lines[i + 1];
        if (!lines[i][0]) {
            snprintf(err, OWB_ERR_MAX, "%.300s:%zu: empty context line", path, i + 1);
            return OWB_E_FORMAT;
        }
        if (!(g[0] >= '0' && g[0] <= '3' && g[1] == '\0')) {
            snprintf(err, OWB_ERR_MAX,
                     "%.300s:%zu: gold label \"%.40s\" is not one of 0, 1, 2, 3 (HellaSwag 6-line "
                     "format)",
                     path, i + 2, g);
            return OWB_E_FORMAT;
        }
        for (int e = 0; e < 4; e++)
            if (!lines[i + 2 + (size_t)e][0]) {
                snprintf(err, OWB_ERR_MAX, "%.300s:%zu: empty ending %d", path, i + 3 + (size_t)e,
                         e);
                return OWB_E_FORMAT;
            }
        if (grow_items(t, &cap))
            return OWB_E_NOMEM;
        struct owb_mc_item *it = &t->items[t->n++];
        char id[48];
        snprintf(id, sizeof id, "hellaswag/%zu", i / 6);
        it->index = i / 6;
        it->line = i + 1;
        it->gold = g[0] - '0';
        it->id = dup_str(id);
        it->context = dup_str(lines[i]);
        it->endings = calloc(4, sizeof *it->endings);
        if (!it->id || !it->context || !it->endings)
            return OWB_E_NOMEM;
        it->n_endings = 4;
        for (int e = 0; e < 4; e++)
            if (!(it->endings[e] = dup_str(lines[i + 2 + (size_t)e])))
                return OWB_E_NOMEM;
    }
    return OWB_OK;
}

static int cmp_item_id(const void *a, const void *b)
{
    const struct owb_mc_item *x = *(const struct owb_mc_item *const *)a;
    const struct owb_mc_item *y = *(const struct owb_mc_item *const *)b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* Item ids must be unique (results are paired by id): sort pointers and compare neighbours. */
static int check_unique_ids(const struct owb_mc_task *t, const char *path, char err[OWB_ERR_MAX])
{
    const struct owb_mc_item **v = malloc((t->n ? t->n : 1) * sizeof *v);
    int rc = OWB_OK;
    if (!v)
        return OWB_E_NOMEM;
    for (size_t i = 0; i < t->n; i++)
        v[i] = &t->items[i];
    qsort(v, t->n, sizeof *v, cmp_item_id);
    for (size_t i = 1; i < t->n; i++)
        if (!strcmp(v[i]->id, v[i - 1]->id)) {
            snprintf(err, OWB_ERR_MAX, "%.300s:%zu: duplicate id \"%s\" (first at line %zu)", path,
                     v[i]->line, v[i]->id, v[i - 1]->line);
            rc = OWB_E_FORMAT;
            break;
        }
    free(v);
    return rc;
}

static int load_jsonl(struct owb_mc_task *t, const char *path, char **lines, size_t nl,
                      char err[OWB_ERR_MAX])
{
    size_t cap = 0;
    int rc = OWB_OK;
    cJSON *o = NULL;
    for (size_t ln = 0; ln < nl; ln++) {
        const char *s = lines[ln];
        s += strspn(s, " \t");
        if (!*s)
            continue;
        cJSON_Delete(o);
        o = cJSON_Parse(s);
        if (!o || !cJSON_IsObject(o)) {
            snprintf(err, OWB_ERR_MAX, "%.300s:%zu: not a JSON object", path, ln + 1);
            rc = OWB_E_FORMAT;
            goto out;
        }
        const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(o, "context");
        const cJSON *end = cJSON_GetObjectItemCaseSensitive(o, "endings");
        const cJSON *lab = cJSON_GetObjectItemCaseSensitive(o, "label");
        const cJSON *jid = cJSON_GetObjectItemCaseSensitive(o, "id");
        if (!cJSON_IsString(ctx)) {
            snprintf(err, OWB_ERR_MAX, "%.300s:%zu: \"context\" must be a string", path, ln + 1);
            rc = OWB_E_FORMAT;
            goto out;
        }
        int ne = cJSON_IsArray(end) ? cJSON_GetArraySize(end) : 0;
        if (ne < 2) {
            snprintf(err, OWB_ERR_MAX,
                     "%.300s:%zu: \"endings\" must be an array of at least 2 strings", path,
                     ln + 1);
            rc = OWB_E_FORMAT;
            goto out;
        }
        if (!cJSON_IsNumber(lab) || lab->valuedouble != (double)(int)lab->valuedouble) {
            snprintf(err, OWB_ERR_MAX, "%.300s:%zu: \"label\" must be an integer", path, ln + 1);
            rc = OWB_E_FORMAT;
            goto out;
        }
        if (lab->valueint < 0 || lab->valueint >= ne) {
            snprintf(err, OWB_ERR_MAX, "%.300s:%zu: \"label\" %d is out of range for %d endings",
                     path, ln + 1, lab->valueint, ne);
            rc = OWB_E_FORMAT;
            goto out;
        }
        char id[64];
        if (cJSON_IsString(jid) && jid->valuestring[0] && strlen(jid->valuestring) < sizeof id)
            snprintf(id, sizeof id, "%s", jid->valuestring);
        else if (cJSON_IsNumber(jid) && jid->valuedouble == (double)(long long)jid->valuedouble)
            snprintf(id, sizeof id, "%lld", (long long)jid->valuedouble);
        else if (!jid)
            snprintf(id, sizeof id, "line%zu", ln + 1);
        else {
            snprintf(err, OWB_ERR_MAX,
                     "%.300s:%zu: \"id\" must be a non-empty string of at most 63 bytes or an "
                     "integer",
                     path, ln + 1);
            rc = OWB_E_FORMAT;
            goto out;
        }
        if ((rc = grow_items(t, &cap)))
            goto out;
        struct owb_mc_item *it = &t->items[t->n++];
        it->index = t->n - 1;
        it->line = ln + 1;
        it->gold = lab->valueint;
        it->id = dup_str(id);
        it->context = dup_str(ctx->valuestring);
        it->endings = calloc((size_t)ne, sizeof *it->endings);
        if (!it->id || !it->context || !it->endings) {
            rc = OWB_E_NOMEM;
            goto out;
        }
        it->n_endings = ne;
        for (int e = 0; e < ne; e++) {
            const cJSON *s_e = cJSON_GetArrayItem(end, e);
            if (!cJSON_IsString(s_e) || !s_e->valuestring[0]) {
                snprintf(err, OWB_ERR_MAX, "%.300s:%zu: endings[%d] must be a non-empty string",
                         path, ln + 1, e);
                rc = OWB_E_FORMAT;
                goto out;
            }
            if (!(it->endings[e] = dup_str(s_e->valuestring))) {
                rc = OWB_E_NOMEM;
                goto out;
            }
        }
    }
    rc = check_unique_ids(t, path, err);
out:
    cJSON_Delete(o);
    return rc;
}

int owb_mc_load(struct owb_mc_task *t, const char *path, enum owb_mc_format f,
                char err[OWB_ERR_MAX])
{
    char *buf = NULL, **lines = NULL;
    size_t len = 0, nl = 0;
    memset(t, 0, sizeof *t);
    int rc = owb_text_read(path, 0, &buf, &len, err);
    if (rc)
        return rc;
    owb_sha256(buf, len, t->sha256);
    if (f == OWB_MC_AUTO) {
        const char *p = buf + strspn(buf, " \t\r\n");
        f = *p == '{' ? OWB_MC_JSONL : OWB_MC_HELLASWAG;
    }
    t->format = f;
    if ((rc = split_lines(buf, len, &lines, &nl)))
        goto out;
    rc = f == OWB_MC_JSONL ? load_jsonl(t, path, lines, nl, err)
                           : load_hellaswag(t, path, lines, nl, err);
    if (!rc && t->n == 0) {
        snprintf(err, OWB_ERR_MAX, "%.400s: no items", path);
        rc = OWB_E_FORMAT;
    }
out:
    if (rc == OWB_E_NOMEM)
        snprintf(err, OWB_ERR_MAX, "%.400s: out of memory", path);
    if (rc)
        owb_mc_release(t);
    free(lines);
    free(buf);
    return rc;
}

int owb_mc_select(const struct owb_mc_task *t, size_t limit, uint64_t seed, size_t **idx,
                  size_t *n_idx)
{
    size_t k = limit && limit < t->n ? limit : t->n;
    size_t *v = malloc((k ? k : 1) * sizeof *v);
    *idx = NULL;
    *n_idx = 0;
    if (!v)
        return OWB_E_NOMEM;
    if (k == t->n) {
        for (size_t i = 0; i < k; i++)
            v[i] = i;
    } else {
        struct owb_rng r;
        owb_rng_seed(&r, seed);
        if (owb_rng_sample(&r, t->n, k, v)) {
            free(v);
            return OWB_E_NOMEM;
        }
    }
    *idx = v;
    *n_idx = k;
    return OWB_OK;
}
