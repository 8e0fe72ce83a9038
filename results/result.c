/* SPDX-License-Identifier: MIT */
/*
 * result.c: the owbench.result/1 document (results/SCHEMA.md): builders that give every suite the
 * same benchmark shape, an atomic writer (temp file beside the target, fsync, rename) and a reader
 * that checks the schema version and the types of every field consumers rely on, naming the file
 * and the JSON path of the first problem. NaN and infinities are stored as JSON null.
 */
#define _GNU_SOURCE /* mkstemps */
#include "results/result.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "owb_config.h"

/* ---- building ---------------------------------------------------------------------------- */

cJSON *owb_json_num(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

int owb_json_add_num(cJSON *o, const char *key, double v)
{
    cJSON *n = owb_json_num(v);
    if (!n || !cJSON_AddItemToObject(o, key, n)) {
        cJSON_Delete(n);
        return -1;
    }
    return 0;
}

/* Set obj[key] = item, replacing an existing member so keys stay unique. Frees item on failure. */
/* Set obj[key] = item (taking item). Returns false when it could not (no obj, no item: an
 * allocation failed; item is freed). */
static bool set_member(cJSON *obj, const char *key, cJSON *item)
{
    if (!obj || !item) {
        cJSON_Delete(item);
        return false;
    }
    if (cJSON_GetObjectItemCaseSensitive(obj, key)) {
        if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item)) {
            cJSON_Delete(item);
            return false;
        }
    } else if (!cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

/* Something meant for bench was lost (an allocation failed): whatever it was, the benchmark must
 * not read valid. Turns the existing "valid" item false in place, which allocates nothing; the
 * note saying why is best effort. */
static void poison(cJSON *bench)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(bench, "valid");
    if (v)
        v->type = (v->type & ~0xFF) | cJSON_False;
}

cJSON *owb_result_new(int argc, char *const *argv)
{
    cJSON *doc = cJSON_CreateObject();
    if (!doc)
        return NULL;
    char created[32] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm))
        strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);

    cJSON *tool = NULL, *cmd = NULL;
    if (!cJSON_AddStringToObject(doc, "schema", OWB_RESULT_SCHEMA))
        goto fail;
    if (!(tool = cJSON_AddObjectToObject(doc, "tool")))
        goto fail;
    if (!cJSON_AddStringToObject(tool, "name", "owbench") ||
        !cJSON_AddStringToObject(tool, "version", OWB_VERSION) ||
        !cJSON_AddStringToObject(tool, "git", OWB_GIT_COMMIT))
        goto fail;
    if (!cJSON_AddStringToObject(doc, "created", created))
        goto fail;
    if (!(cmd = cJSON_AddArrayToObject(doc, "command")))
        goto fail;
    for (int i = 0; i < argc && argv && argv[i]; i++) {
        cJSON *s = cJSON_CreateString(argv[i]);
        if (!s || !cJSON_AddItemToArray(cmd, s)) {
            cJSON_Delete(s);
            goto fail;
        }
    }
    if (!cJSON_AddObjectToObject(doc, "env") || !cJSON_AddArrayToObject(doc, "benchmarks") ||
        !cJSON_AddArrayToObject(doc, "evals"))
        goto fail;
    return doc;
fail:
    cJSON_Delete(doc);
    return NULL;
}

cJSON *owb_stats_to_json(const struct owb_stats *s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    static const char *const keys[] = {"median", "mean", "stddev", "mad",  "min",     "max",
                                       "p50",    "p90",  "p99",    "p999", "ci95_lo", "ci95_hi"};
    const double vals[] = {s->median, s->mean, s->stddev, s->mad,  s->min,     s->max,
                           s->p50,    s->p90,  s->p99,    s->p999, s->ci95_lo, s->ci95_hi};
    _Static_assert(sizeof vals / sizeof vals[0] == sizeof keys / sizeof keys[0], "stats keys");
    if (!cJSON_AddNumberToObject(o, "n", (double)s->n))
        goto fail;
    for (size_t i = 0; i < OWB_ARRAY_LEN(keys); i++) {
        cJSON *v = owb_json_num(vals[i]);
        if (!v || !cJSON_AddItemToObject(o, keys[i], v)) {
            cJSON_Delete(v);
            goto fail;
        }
    }
    if (!cJSON_AddBoolToObject(o, "ci_exact", s->ci_exact))
        goto fail;
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

const cJSON *owb_result_find_benchmark(const cJSON *doc, const char *name)
{
    const cJSON *b = NULL;
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(doc, "benchmarks"))
    {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(b, "name");
        if (cJSON_IsString(nm) && !strcmp(nm->valuestring, name))
            return b;
    }
    return NULL;
}

cJSON *owb_result_add_benchmark(cJSON *doc, const char *name, const char *suite)
{
    cJSON *benches = cJSON_GetObjectItemCaseSensitive(doc, "benchmarks");
    if (!cJSON_IsArray(benches))
        return NULL;
    cJSON *b = cJSON_CreateObject(), *samples = NULL, *stats = NULL;
    struct owb_stats empty;
    if (!b)
        return NULL;
    owb_stats_compute(NULL, 0, &empty);
    if (!cJSON_AddStringToObject(b, "name", name ? name : "") ||
        !cJSON_AddStringToObject(b, "suite", suite ? suite : "") ||
        !cJSON_AddObjectToObject(b, "params") || !cJSON_AddObjectToObject(b, "pinning"))
        goto fail;
    if (!(samples = cJSON_AddObjectToObject(b, "samples")) ||
        !cJSON_AddStringToObject(samples, "unit", "ns") ||
        !cJSON_AddArrayToObject(samples, "values"))
        goto fail;
    if (!(stats = owb_stats_to_json(&empty)) || !cJSON_AddItemToObject(b, "stats", stats)) {
        cJSON_Delete(stats);
        goto fail;
    }
    if (!cJSON_AddObjectToObject(b, "metrics") || !cJSON_AddObjectToObject(b, "counters") ||
        !cJSON_AddBoolToObject(b, "valid", 1) || !cJSON_AddArrayToObject(b, "notes"))
        goto fail;
    if (!cJSON_AddItemToArray(benches, b))
        goto fail;
    return b;
fail:
    cJSON_Delete(b);
    return NULL;
}

int owb_result_set_samples(cJSON *bench, const char *unit, const double *values, size_t n)
{
    struct owb_stats st;
    cJSON *samples = NULL, *arr = NULL, *stats = NULL;
    int rc = owb_stats_compute(values, n, &st);
    if (rc)
        return rc;
    rc = OWB_E_NOMEM;
    if (!(samples = cJSON_CreateObject()) || !cJSON_AddStringToObject(samples, "unit", unit) ||
        !(arr = cJSON_AddArrayToObject(samples, "values")))
        goto out;
    for (size_t i = 0; i < n; i++) {
        cJSON *v = owb_json_num(values[i]);
        if (!v || !cJSON_AddItemToArray(arr, v)) {
            cJSON_Delete(v);
            goto out;
        }
    }
    if (!(stats = owb_stats_to_json(&st)))
        goto out;
    bool ok = set_member(bench, "samples", samples);
    ok = set_member(bench, "stats", stats) && ok;
    samples = stats = NULL;
    if (!ok) {
        poison(bench);
        goto out;
    }
    if (n < OWB_RESULT_MIN_SAMPLES) {
        char why[96];
        snprintf(why, sizeof why, "too few samples: %zu < %d", n, OWB_RESULT_MIN_SAMPLES);
        owb_result_invalidate(bench, why);
    }
    rc = OWB_OK;
out:
    if (rc == OWB_E_NOMEM)
        poison(bench);
    cJSON_Delete(samples);
    cJSON_Delete(stats);
    return rc;
}

/* Append note unless the same text is already there (several layers may flag the same cause). */
static void add_note(cJSON *bench, const char *note)
{
    cJSON *notes = cJSON_GetObjectItemCaseSensitive(bench, "notes");
    if (!notes) {
        notes = cJSON_AddArrayToObject(bench, "notes");
        if (!notes) {
            poison(bench);
            return;
        }
    }
    if (!cJSON_IsArray(notes) || !note)
        return;
    const cJSON *it;
    cJSON_ArrayForEach(it, notes)
    {
        if (cJSON_IsString(it) && !strcmp(it->valuestring, note))
            return;
    }
    cJSON *s = cJSON_CreateString(note);
    if (!s || !cJSON_AddItemToArray(notes, s)) {
        cJSON_Delete(s);
        poison(bench);
    }
}

void owb_result_invalidate(cJSON *bench, const char *reason)
{
    if (!bench)
        return;
    poison(bench);
    add_note(bench, reason);
}

void owb_result_note(cJSON *bench, const char *note)
{
    if (bench)
        add_note(bench, note);
}

static cJSON *sub_object(cJSON *bench, const char *key)
{
    cJSON *o = cJSON_GetObjectItemCaseSensitive(bench, key);
    if (!cJSON_IsObject(o)) {
        o = cJSON_CreateObject();
        set_member(bench, key, o);
        o = cJSON_GetObjectItemCaseSensitive(bench, key);
    }
    return o;
}

void owb_result_param_num(cJSON *bench, const char *key, double v)
{
    if (bench && !set_member(sub_object(bench, "params"), key, owb_json_num(v)))
        poison(bench);
}

void owb_result_param_str(cJSON *bench, const char *key, const char *v)
{
    if (bench && !set_member(sub_object(bench, "params"), key,
                             v ? cJSON_CreateString(v) : cJSON_CreateNull()))
        poison(bench);
}

void owb_result_metric(cJSON *bench, const char *key, double v)
{
    if (bench && !set_member(sub_object(bench, "metrics"), key, owb_json_num(v)))
        poison(bench);
}

/* ---- writing ----------------------------------------------------------------------------- */

int owb_mkdir_p(const char *dir, char err[OWB_ERR_MAX])
{
    int rc = OWB_E_IO;
    size_t len = dir ? strlen(dir) : 0;
    char *p = NULL;
    if (len == 0) {
        owb_seterr(err, "empty folder name");
        return OWB_E_USAGE;
    }
    if (!(p = malloc(len + 1))) {
        owb_seterr(err, "%s: out of memory", dir);
        return OWB_E_NOMEM;
    }
    memcpy(p, dir, len + 1);
    /* Create each prefix in turn; EEXIST is fine as long as it is a folder (checked at the end
     * and by the next component's mkdir failing with ENOTDIR). */
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            struct stat st;
            if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
                owb_seterr(err, "cannot create folder %s: %s", p, strerror(e));
                goto out;
            }
        }
        *s = c;
        if (c == '\0')
            break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        owb_seterr(err, "%s exists and is not a folder", dir);
        goto out;
    }
    rc = OWB_OK;
out:
    free(p);
    return rc;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

int owb_result_write(const cJSON *doc, const char *path, char err[OWB_ERR_MAX])
{
    int rc = OWB_E_IO, fd = -1;
    char *text = NULL, *tmp = NULL, *dir = NULL;
    char sub[OWB_ERR_MAX];

    if (!doc || !path || !*path) {
        owb_seterr(err, "no document or empty output path");
        return OWB_E_USAGE;
    }
    size_t plen = strlen(path);
    if (path[plen - 1] == '/') {
        owb_seterr(err, "%s: output path names a folder, not a file", path);
        return OWB_E_IO;
    }
    if (!(dir = malloc(plen + 1)) || !(tmp = malloc(plen + 16))) {
        owb_seterr(err, "%s: out of memory", path);
        rc = OWB_E_NOMEM;
        goto out;
    }
    memcpy(dir, path, plen + 1);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        int mrc = owb_mkdir_p(dir, sub);
        if (mrc) {
            owb_seterr(err, "%s: %s", path, sub);
            rc = mrc == OWB_E_NOMEM ? OWB_E_NOMEM : OWB_E_IO;
            goto out;
        }
    }
    if (!(text = cJSON_Print(doc))) {
        owb_seterr(err, "%s: cannot serialise the document (out of memory)", path);
        rc = OWB_E_NOMEM;
        goto out;
    }
    snprintf(tmp, plen + 16, "%s.XXXXXX.tmp", path);
    fd = mkstemps(tmp, 4);
    if (fd < 0) {
        owb_seterr(err, "%s: cannot create a temporary file beside it: %s", path, strerror(errno));
        free(tmp);
        tmp = NULL; /* nothing to unlink */
        goto out;
    }
    if (write_all(fd, text, strlen(text)) || write_all(fd, "\n", 1)) {
        owb_seterr(err, "%s: write failed: %s", path, strerror(errno));
        goto out;
    }
    /* mkstemp creates 0600; a result is an ordinary shareable file. */
    if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
        owb_seterr(err, "%s: cannot finish the temporary file: %s", path, strerror(errno));
        goto out;
    }
    int cfd = fd;
    fd = -1;
    if (close(cfd) != 0) {
        owb_seterr(err, "%s: close failed: %s", path, strerror(errno));
        goto out;
    }
    if (rename(tmp, path) != 0) {
        owb_seterr(err, "%s: cannot rename the temporary file into place: %s", path,
                   strerror(errno));
        goto out;
    }
    free(tmp);
    tmp = NULL;
    /* Make the rename durable too; failure here does not undo a complete file. */
    {
        const char *d = slash ? (slash == dir ? "/" : dir) : ".";
        int dfd = open(d, O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    }
    rc = OWB_OK;
out:
    if (fd >= 0)
        close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    free(dir);
    cJSON_free(text);
    return rc;
}

/* ---- reading and validation ------------------------------------------------------------- */

static const char *type_name(const cJSON *j)
{
    if (!j)
        return "nothing";
    if (cJSON_IsObject(j))
        return "an object";
    if (cJSON_IsArray(j))
        return "an array";
    if (cJSON_IsString(j))
        return "a string";
    if (cJSON_IsNumber(j))
        return "a number";
    if (cJSON_IsBool(j))
        return "a boolean";
    if (cJSON_IsNull(j))
        return "null";
    return "an invalid value";
}

enum jtype { J_OBJECT, J_ARRAY, J_STRING, J_NUMBER, J_NUMBER_OR_NULL, J_BOOL, J_COUNT };

static bool has_type(const cJSON *j, enum jtype t)
{
    switch (t) {
    case J_OBJECT:
        return cJSON_IsObject(j);
    case J_ARRAY:
        return cJSON_IsArray(j);
    case J_STRING:
        return cJSON_IsString(j);
    case J_NUMBER:
        return cJSON_IsNumber(j);
    case J_NUMBER_OR_NULL:
        return cJSON_IsNumber(j) || cJSON_IsNull(j);
    case J_BOOL:
        return cJSON_IsBool(j);
    case J_COUNT:
        return cJSON_IsNumber(j) && j->valuedouble >= 0 && j->valuedouble == floor(j->valuedouble);
    }
    return false;
}

static const char *jtype_name(enum jtype t)
{
    static const char *const names[] = {"an object",
                                        "an array",
                                        "a string",
                                        "a number",
                                        "a number or null",
                                        "a boolean",
                                        "a non-negative integer"};
    return names[t];
}

/* Check obj[key] has type t. prefix is the JSON path of obj ("" at the top, else "x.y" or
 * "benchmarks[2]"). optional: absence is fine. Returns the member or NULL (err set when wrong). */
static const cJSON *need(const cJSON *obj, const char *prefix, const char *key, enum jtype t,
                         bool optional, const char *what, char err[OWB_ERR_MAX], int *bad)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, key);
    const char *dot = *prefix ? "." : "";
    if (!m) {
        if (!optional) {
            owb_seterr(err, "%s: %s%s%s: missing", what, prefix, dot, key);
            *bad = 1;
        }
        return NULL;
    }
    if (!has_type(m, t)) {
        owb_seterr(err, "%s: %s%s%s: expected %s, got %s", what, prefix, dot, key, jtype_name(t),
                   type_name(m));
        *bad = 1;
        return NULL;
    }
    return m;
}

static const char *const stat_keys[] = {"median", "mean", "stddev", "mad",  "min",     "max",
                                        "p50",    "p90",  "p99",    "p999", "ci95_lo", "ci95_hi"};

static int validate_benchmark(const cJSON *b, int idx, const char *what, char err[OWB_ERR_MAX])
{
    char pfx[64], sub[96];
    int bad = 0;
    snprintf(pfx, sizeof pfx, "benchmarks[%d]", idx);
    if (!cJSON_IsObject(b)) {
        owb_seterr(err, "%s: %s: expected an object, got %s", what, pfx, type_name(b));
        return OWB_E_FORMAT;
    }
    const cJSON *name = need(b, pfx, "name", J_STRING, false, what, err, &bad);
    if (bad)
        return OWB_E_FORMAT;
    if (!*name->valuestring) {
        owb_seterr(err, "%s: %s.name: empty", what, pfx);
        return OWB_E_FORMAT;
    }
    need(b, pfx, "suite", J_STRING, false, what, err, &bad);
    if (!bad)
        need(b, pfx, "params", J_OBJECT, false, what, err, &bad);
    if (!bad)
        need(b, pfx, "pinning", J_OBJECT, true, what, err, &bad);
    if (bad)
        return OWB_E_FORMAT;

    const cJSON *samples = need(b, pfx, "samples", J_OBJECT, false, what, err, &bad);
    if (bad)
        return OWB_E_FORMAT;
    snprintf(sub, sizeof sub, "%s.samples", pfx);
    need(samples, sub, "unit", J_STRING, false, what, err, &bad);
    const cJSON *values =
        bad ? NULL : need(samples, sub, "values", J_ARRAY, false, what, err, &bad);
    if (bad)
        return OWB_E_FORMAT;
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, values)
    {
        if (!has_type(v, J_NUMBER_OR_NULL)) {
            owb_seterr(err, "%s: %s.values[%d]: expected a number or null, got %s", what, sub, i,
                       type_name(v));
            return OWB_E_FORMAT;
        }
        i++;
    }

    const cJSON *stats = need(b, pfx, "stats", J_OBJECT, false, what, err, &bad);
    if (bad)
        return OWB_E_FORMAT;
    snprintf(sub, sizeof sub, "%s.stats", pfx);
    need(stats, sub, "n", J_COUNT, false, what, err, &bad);
    for (size_t k = 0; !bad && k < OWB_ARRAY_LEN(stat_keys); k++)
        need(stats, sub, stat_keys[k], J_NUMBER_OR_NULL, false, what, err, &bad);
    if (!bad)
        need(stats, sub, "ci_exact", J_BOOL, true, what, err, &bad);
    if (bad)
        return OWB_E_FORMAT;

    const cJSON *metrics = need(b, pfx, "metrics", J_OBJECT, false, what, err, &bad);
    if (bad)
        return OWB_E_FORMAT;
    cJSON_ArrayForEach(v, metrics)
    {
        if (!has_type(v, J_NUMBER_OR_NULL)) {
            owb_seterr(err, "%s: %s.metrics.%s: expected a number or null, got %s", what, pfx,
                       v->string, type_name(v));
            return OWB_E_FORMAT;
        }
    }
    const cJSON *counters = need(b, pfx, "counters", J_OBJECT, false, what, err, &bad);
    if (bad)
        return OWB_E_FORMAT;
    cJSON_ArrayForEach(v, counters)
    {
        const cJSON *na = cJSON_GetObjectItemCaseSensitive(v, "na");
        if (!(cJSON_IsNumber(v) || cJSON_IsNull(v) || (cJSON_IsObject(v) && cJSON_IsString(na)))) {
            owb_seterr(err, "%s: %s.counters.%s: expected a number or {\"na\": reason}, got %s",
                       what, pfx, v->string, type_name(v));
            return OWB_E_FORMAT;
        }
    }
    need(b, pfx, "valid", J_BOOL, false, what, err, &bad);
    const cJSON *notes = bad ? NULL : need(b, pfx, "notes", J_ARRAY, false, what, err, &bad);
    if (bad)
        return OWB_E_FORMAT;
    i = 0;
    cJSON_ArrayForEach(v, notes)
    {
        if (!cJSON_IsString(v)) {
            owb_seterr(err, "%s: %s.notes[%d]: expected a string, got %s", what, pfx, i,
                       type_name(v));
            return OWB_E_FORMAT;
        }
        i++;
    }
    return OWB_OK;
}

static int validate_eval(const cJSON *e, int idx, const char *what, char err[OWB_ERR_MAX])
{
    char pfx[64];
    int bad = 0;
    snprintf(pfx, sizeof pfx, "evals[%d]", idx);
    if (!cJSON_IsObject(e)) {
        owb_seterr(err, "%s: %s: expected an object, got %s", what, pfx, type_name(e));
        return OWB_E_FORMAT;
    }
    need(e, pfx, "name", J_STRING, false, what, err, &bad);
    if (!bad)
        need(e, pfx, "metric", J_STRING, false, what, err, &bad);
    if (!bad)
        need(e, pfx, "value", J_NUMBER_OR_NULL, false, what, err, &bad);
    if (!bad)
        need(e, pfx, "ci95_lo", J_NUMBER_OR_NULL, true, what, err, &bad);
    if (!bad)
        need(e, pfx, "ci95_hi", J_NUMBER_OR_NULL, true, what, err, &bad);
    if (!bad)
        need(e, pfx, "n", J_COUNT, true, what, err, &bad);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(e, "items_file");
    if (!bad && items && !cJSON_IsString(items) && !cJSON_IsNull(items)) {
        owb_seterr(err, "%s: %s.items_file: expected a string or null, got %s", what, pfx,
                   type_name(items));
        bad = 1;
    }
    return bad ? OWB_E_FORMAT : OWB_OK;
}

int owb_result_validate(const cJSON *doc, const char *what, char err[OWB_ERR_MAX])
{
    int bad = 0;
    if (!what)
        what = "result";
    if (!cJSON_IsObject(doc)) {
        owb_seterr(err, "%s: expected a JSON object at the top level, got %s", what,
                   type_name(doc));
        return OWB_E_FORMAT;
    }
    const cJSON *schema = need(doc, "", "schema", J_STRING, false, what, err, &bad);
    if (bad)
        return OWB_E_FORMAT;
    static const char prefix[] = "owbench.result/";
    const char *s = schema->valuestring;
    if (strncmp(s, prefix, sizeof prefix - 1) != 0) {
        owb_seterr(err, "%s: not an owbench result (schema \"%s\", expected \"%s\")", what, s,
                   OWB_RESULT_SCHEMA);
        return OWB_E_FORMAT;
    }
    /* "owbench.result/<major>[.<minor>]": minor versions only add fields, so any is read. */
    const char *ver = s + sizeof prefix - 1;
    char *end = NULL;
    errno = 0;
    long major = strtol(ver, &end, 10);
    if (end == ver || errno || (*end != '\0' && *end != '.') || *ver == '-' || *ver == '+') {
        owb_seterr(err, "%s: malformed schema version \"%s\"", what, s);
        return OWB_E_FORMAT;
    }
    if (major != OWB_RESULT_MAJOR) {
        owb_seterr(err,
                   "%s: unsupported schema major version %ld (\"%s\"); this owbench reads "
                   "\"%s\"",
                   what, major, s, OWB_RESULT_SCHEMA);
        return OWB_E_FORMAT;
    }

    const cJSON *tool = need(doc, "", "tool", J_OBJECT, false, what, err, &bad);
    if (!bad)
        need(tool, "tool", "name", J_STRING, false, what, err, &bad);
    if (!bad)
        need(tool, "tool", "version", J_STRING, false, what, err, &bad);
    if (!bad)
        need(tool, "tool", "git", J_STRING, true, what, err, &bad);
    if (!bad)
        need(doc, "", "created", J_STRING, false, what, err, &bad);
    const cJSON *cmd = bad ? NULL : need(doc, "", "command", J_ARRAY, false, what, err, &bad);
    if (bad)
        return OWB_E_FORMAT;
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, cmd)
    {
        if (!cJSON_IsString(v)) {
            owb_seterr(err, "%s: command[%d]: expected a string, got %s", what, i, type_name(v));
            return OWB_E_FORMAT;
        }
        i++;
    }
    need(doc, "", "env", J_OBJECT, false, what, err, &bad);
    const cJSON *benches =
        bad ? NULL : need(doc, "", "benchmarks", J_ARRAY, false, what, err, &bad);
    const cJSON *evals = bad ? NULL : need(doc, "", "evals", J_ARRAY, false, what, err, &bad);
    if (bad)
        return OWB_E_FORMAT;
    i = 0;
    cJSON_ArrayForEach(v, benches)
    {
        int rc = validate_benchmark(v, i++, what, err);
        if (rc)
            return rc;
    }
    i = 0;
    cJSON_ArrayForEach(v, evals)
    {
        int rc = validate_eval(v, i++, what, err);
        if (rc)
            return rc;
    }
    return OWB_OK;
}

/* 1-based line and column of byte offset off in buf. */
static void line_col(const char *buf, size_t off, size_t *line, size_t *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (buf[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

int owb_result_read(const char *path, cJSON **out, char err[OWB_ERR_MAX])
{
    int rc = OWB_E_IO;
    FILE *f = NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    cJSON *doc = NULL;

    *out = NULL;
    if (!(f = fopen(path, "rb"))) {
        owb_seterr(err, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    for (;;) {
        if (cap - len < 65536) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                owb_seterr(err, "%s: out of memory reading the file", path);
                rc = OWB_E_NOMEM;
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) {
                owb_seterr(err, "%s: read failed: %s", path, strerror(errno));
                goto out;
            }
            break;
        }
    }
    buf[len] = '\0';
    rc = OWB_E_FORMAT;
    if (len == 0) {
        owb_seterr(err, "%s: empty file, not an owbench result", path);
        goto out;
    }
    if (strlen(buf) != len) {
        owb_seterr(err, "%s: not JSON (contains a NUL byte at offset %zu)", path, strlen(buf));
        goto out;
    }
    const char *end = NULL;
    /* The length includes the terminating NUL: cJSON's "require null terminated" check looks
     * for it inside the buffer, which also rejects trailing garbage. */
    doc = cJSON_ParseWithLengthOpts(buf, len + 1, &end, 1);
    if (!doc) {
        size_t off = end && end >= buf && end <= buf + len ? (size_t)(end - buf) : len;
        size_t ln, col;
        /* Past the last non-blank byte means the text stopped mid-value. */
        size_t last = len;
        while (last > 0 && (buf[last - 1] == ' ' || buf[last - 1] == '\n' ||
                            buf[last - 1] == '\r' || buf[last - 1] == '\t'))
            last--;
        if (off >= last) {
            owb_seterr(err,
                       "%s: not valid JSON: unexpected end of file after %zu bytes (truncated?)",
                       path, len);
        } else {
            line_col(buf, off, &ln, &col);
            owb_seterr(err, "%s: not valid JSON: syntax error at line %zu, column %zu (byte %zu)",
                       path, ln, col, off);
        }
        goto out;
    }
    rc = owb_result_validate(doc, path, err);
    if (rc)
        goto out;
    *out = doc;
    doc = NULL;
    rc = OWB_OK;
out:
    if (f)
        fclose(f);
    free(buf);
    cJSON_Delete(doc);
    return rc;
}
