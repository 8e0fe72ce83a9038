/* SPDX-License-Identifier: MIT */
/*
 * fingerprint.c: the fingerprint writer (streamed: header placeholder, window tokens, one block of
 * records per window, then the final header) and the validating reader. Byte layout in
 * docs/fingerprint.md; integers and floats are little-endian and decoded byte by byte, so the
 * format does not depend on the host.
 */
#define _POSIX_C_SOURCE 200809L
#include "evals/fingerprint.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets/sha256.h"

/* Tolerances of the record checks: log-probs are float32 copies of double values. */
#define LP_TOL 1e-4   /* a log-prob may exceed 0 by this much */
#define MASS_TOL 1e-3 /* |sum of top-k probabilities + rest - 1| */

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_f32(unsigned char *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    put_u32(p, u);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static float get_f32(const unsigned char *p)
{
    uint32_t u = get_u32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

void owb_fp_header_encode(struct owb_fp_header *h, uint64_t tokens_offset, uint64_t records_offset,
                          uint64_t file_bytes, unsigned char b[256])
{
    memset(b, 0, 256);
    memcpy(b, OWB_FP_MAGIC, 8);
    put_u32(b + 8, h->version);
    put_u32(b + 12, OWB_FP_HEADER_BYTES);
    put_u32(b + 16, h->n_vocab);
    put_u32(b + 20, h->n_ctx);
    put_u32(b + 24, h->first);
    put_u32(b + 28, h->top_k);
    put_u64(b + 32, h->n_windows);
    put_u32(b + 40, h->flags);
    put_u32(b + 44, (uint32_t)h->bos);
    put_u64(b + 48, h->n_text_tokens);
    put_u64(b + 56, tokens_offset);
    put_u64(b + 64, records_offset);
    put_u64(b + 72, file_bytes);
    owb_sha256(b + 16, 40, h->settings_sha256);
    memcpy(b + 80, h->model_sha256, 32);
    memcpy(b + 112, h->tokenizer_sha256, 32);
    memcpy(b + 144, h->text_sha256, 32);
    memcpy(b + 176, h->settings_sha256, 32);
    memcpy(b + 208, h->payload_sha256, 32);
    unsigned char hc[32];
    owb_sha256(b, 240, hc); /* header checksum: every byte before it */
    memcpy(b + 240, hc, 16);
}

/* ---- writer ---- */

struct owb_fp_writer {
    FILE *f;
    char *path, *tmp;
    struct owb_fp_header h;
    struct owb_sha256 payload;
    uint64_t records_offset, windows_done;
    size_t rec_bytes;
    unsigned char *buf; /* one window of records */
};

void owb_fp_writer_abort(struct owb_fp_writer *w)
{
    if (!w)
        return;
    if (w->f)
        fclose(w->f);
    if (w->tmp)
        unlink(w->tmp);
    free(w->tmp);
    free(w->path);
    free(w->buf);
    free(w);
}

static int wr(struct owb_fp_writer *w, const void *p, size_t n, bool payload, char err[OWB_ERR_MAX])
{
    if (fwrite(p, 1, n, w->f) != n) {
        snprintf(err, OWB_ERR_MAX, "%.400s: write failed: %s", w->tmp, strerror(errno));
        return OWB_E_IO;
    }
    if (payload)
        owb_sha256_update(&w->payload, p, n);
    return OWB_OK;
}

int owb_fp_writer_open(struct owb_fp_writer **out, const char *path, const struct owb_fp_header *h,
                       const struct owb_window_plan *plan, const int32_t *tokens,
                       char err[OWB_ERR_MAX])
{
    struct owb_fp_writer *w = calloc(1, sizeof *w);
    unsigned char hdr[256] = {0};
    int32_t *win = NULL;
    int rc = OWB_OK;
    *out = NULL;
    if (!w)
        goto oom;
    w->h = *h;
    w->h.version = OWB_FP_VERSION;
    w->h.n_ctx = (uint32_t)plan->n_ctx;
    w->h.first = (uint32_t)plan->first;
    w->h.n_windows = (uint64_t)plan->n_windows;
    w->h.n_text_tokens = (uint64_t)plan->n_tokens;
    w->h.bos = plan->bos;
    w->h.flags =
        (h->flags & ~OWB_FP_BOS_PER_WINDOW) | (plan->bos_per_window ? OWB_FP_BOS_PER_WINDOW : 0);
    if (h->top_k < 1 || h->top_k > h->n_vocab || h->top_k > OWB_FP_MAX_TOP_K ||
        plan->n_ctx > (int64_t)OWB_FP_MAX_CTX) {
        snprintf(err, OWB_ERR_MAX,
                 "%.400s: top-k %u must be 1..%u and at most the vocabulary (%u); context %lld "
                 "at most %u",
                 path, h->top_k, OWB_FP_MAX_TOP_K, h->n_vocab, (long long)plan->n_ctx,
                 OWB_FP_MAX_CTX);
        rc = OWB_E_USAGE;
        goto fail;
    }
    w->rec_bytes = 12 + 8 * (size_t)h->top_k;
    w->path = malloc(strlen(path) + 1);
    w->tmp = malloc(strlen(path) + 16);
    w->buf = malloc((size_t)(plan->n_ctx - plan->first) * w->rec_bytes);
    win = malloc((size_t)plan->n_ctx * sizeof *win);
    if (!w->path || !w->tmp || !w->buf || !win)
        goto oom;
    strcpy(w->path, path);
    sprintf(w->tmp, "%s.XXXXXX", path);
    int fd = mkstemp(w->tmp);
    if (fd < 0) {
        snprintf(err, OWB_ERR_MAX, "%.400s: cannot create a temporary file beside it: %s", path,
                 strerror(errno));
        free(w->tmp);
        w->tmp = NULL;
        rc = OWB_E_IO;
        goto fail;
    }
    {
        /* mkstemp creates 0600; give the finished file the mode a plain fopen would. */
        mode_t um = umask(0);
        umask(um);
        (void)fchmod(fd, 0666 & ~um);
    }
    if (!(w->f = fdopen(fd, "wb"))) {
        close(fd);
        goto oom;
    }
    owb_sha256_init(&w->payload);
    if ((rc = wr(w, hdr, sizeof hdr, false, err)))
        goto fail;
    for (int64_t i = 0; i < plan->n_windows; i++) {
        unsigned char b[4];
        owb_window_tokens(plan, tokens, i, win);
        for (int64_t j = 0; j < plan->n_ctx; j++) {
            put_u32(b, (uint32_t)win[j]);
            if ((rc = wr(w, b, 4, true, err)))
                goto fail;
        }
    }
    w->records_offset = 256 + 4 * (uint64_t)plan->n_windows * (uint64_t)plan->n_ctx;
    free(win);
    *out = w;
    return OWB_OK;
oom:
    snprintf(err, OWB_ERR_MAX, "%.400s: out of memory", path);
    rc = OWB_E_NOMEM;
fail:
    free(win);
    owb_fp_writer_abort(w);
    return rc;
}

int owb_fp_writer_add(struct owb_fp_writer *w, const struct owb_scores *s, char err[OWB_ERR_MAX])
{
    int64_t np = (int64_t)w->h.n_ctx - (int64_t)w->h.first;
    OWB_ASSERT(s->n == np && s->top_k == (int)w->h.top_k);
    if (w->windows_done >= w->h.n_windows) {
        snprintf(err, OWB_ERR_MAX, "%.400s: more windows than planned (%llu)", w->path,
                 (unsigned long long)w->h.n_windows);
        return OWB_E_USAGE;
    }
    int k = s->top_k;
    for (int64_t i = 0; i < np; i++) {
        unsigned char *r = w->buf + (size_t)i * w->rec_bytes;
        put_f32(r, (float)s->logp[i]);
        put_f32(r + 4, (float)s->lse[i]);
        put_f32(r + 8, (float)s->top_rest[i]);
        for (int j = 0; j < k; j++) {
            put_u32(r + 12 + 4 * (size_t)j, (uint32_t)s->top_id[i * k + j]);
            put_f32(r + 12 + 4 * (size_t)k + 4 * (size_t)j, (float)s->top_lp[i * k + j]);
        }
    }
    w->windows_done++;
    return wr(w, w->buf, (size_t)np * w->rec_bytes, true, err);
}

int owb_fp_writer_finish(struct owb_fp_writer *w, char err[OWB_ERR_MAX])
{
    unsigned char hdr[256];
    int rc = OWB_OK;
    if (w->windows_done != w->h.n_windows) {
        snprintf(err, OWB_ERR_MAX, "%.400s: only %llu of %llu windows were written", w->path,
                 (unsigned long long)w->windows_done, (unsigned long long)w->h.n_windows);
        owb_fp_writer_abort(w);
        return OWB_E_USAGE;
    }
    uint64_t np = (uint64_t)(w->h.n_ctx - w->h.first);
    uint64_t size = w->records_offset + w->h.n_windows * np * w->rec_bytes;
    owb_sha256_final(&w->payload, w->h.payload_sha256);
    owb_fp_header_encode(&w->h, 256, w->records_offset, size, hdr);
    if (fseek(w->f, 0, SEEK_SET) || (rc = wr(w, hdr, sizeof hdr, false, err)))
        goto fail;
    if (fflush(w->f) || fsync(fileno(w->f))) {
        snprintf(err, OWB_ERR_MAX, "%.400s: write failed: %s", w->tmp, strerror(errno));
        rc = OWB_E_IO;
        goto fail;
    }
    int bad = fclose(w->f);
    w->f = NULL;
    if (bad || rename(w->tmp, w->path)) {
        snprintf(err, OWB_ERR_MAX, "%.400s: cannot move the finished file into place: %s", w->path,
                 strerror(errno));
        rc = OWB_E_IO;
        goto fail;
    }
    free(w->tmp);
    w->tmp = NULL;
    owb_fp_writer_abort(w);
    return OWB_OK;
fail:
    if (!rc)
        rc = OWB_E_IO;
    owb_fp_writer_abort(w);
    return rc;
}

/* ---- reader ---- */

void owb_fp_free(struct owb_fingerprint *f)
{
    if (!f)
        return;
    free(f->name);
    free(f->tokens);
    free(f->data);
    free(f);
}

void owb_fp_get(const struct owb_fingerprint *f, int64_t w, int64_t i, struct owb_fp_pos *pos,
                int32_t *ids, float *lps)
{
    uint64_t np = f->h.n_ctx - f->h.first;
    const unsigned char *r =
        f->data + f->records_offset + ((uint64_t)w * np + (uint64_t)i) * f->rec_bytes;
    uint32_t k = f->h.top_k;
    pos->target = f->tokens[(uint64_t)w * f->h.n_ctx + f->h.first + (uint64_t)i];
    pos->logp = get_f32(r);
    pos->lse = get_f32(r + 4);
    pos->rest = get_f32(r + 8);
    for (uint32_t j = 0; j < k; j++) {
        ids[j] = (int32_t)get_u32(r + 12 + 4 * (size_t)j);
        lps[j] = get_f32(r + 12 + 4 * (size_t)k + 4 * (size_t)j);
    }
}

void owb_fp_plan(const struct owb_fingerprint *f, struct owb_window_plan *w)
{
    w->n_ctx = f->h.n_ctx;
    w->first = f->h.first;
    w->n_windows = (int64_t)f->h.n_windows;
    w->n_tokens = (int64_t)f->h.n_text_tokens;
    w->bos_per_window = (f->h.flags & OWB_FP_BOS_PER_WINDOW) != 0;
    w->bos = f->h.bos;
}

#define BAD(...)                                                                                   \
    do {                                                                                           \
        char m_[200];                                                                              \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                                      \
        snprintf(err, OWB_ERR_MAX, "%.300s: %.200s", name, m_);                                    \
        rc = OWB_E_FORMAT;                                                                         \
        goto fail;                                                                                 \
    } while (0)

static int check_records(struct owb_fingerprint *f, const char *name, char err[OWB_ERR_MAX])
{
    int rc = OWB_OK;
    uint32_t k = f->h.top_k;
    int32_t *ids = malloc(k * sizeof *ids);
    float *lps = malloc(k * sizeof *lps);
    unsigned char *mark = calloc(f->h.n_vocab, 1);
    if (!ids || !lps || !mark) {
        snprintf(err, OWB_ERR_MAX, "%.300s: out of memory", name);
        rc = OWB_E_NOMEM;
        goto fail;
    }
    int64_t np = (int64_t)f->h.n_ctx - (int64_t)f->h.first;
    for (uint64_t w = 0; w < f->h.n_windows; w++)
        for (int64_t i = 0; i < np; i++) {
            struct owb_fp_pos p;
            owb_fp_get(f, (int64_t)w, i, &p, ids, lps);
            if (!isfinite(p.logp) || (double)p.logp > LP_TOL || !isfinite(p.lse))
                BAD("window %llu position %lld: target log-prob %g / log-sum-exp %g is not a "
                    "finite log-probability",
                    (unsigned long long)w, (long long)(f->h.first + i), (double)p.logp,
                    (double)p.lse);
            if (!(p.rest >= 0.0f && p.rest <= 1.0f + (float)MASS_TOL))
                BAD("window %llu position %lld: residual mass %g is outside [0, 1]",
                    (unsigned long long)w, (long long)(f->h.first + i), (double)p.rest);
            double mass = p.rest;
            for (uint32_t j = 0; j < k; j++) {
                if (ids[j] < 0 || (uint32_t)ids[j] >= f->h.n_vocab)
                    BAD("window %llu position %lld: top-k id %d is outside the vocabulary "
                        "(0..%u)",
                        (unsigned long long)w, (long long)(f->h.first + i), ids[j],
                        f->h.n_vocab - 1);
                if (mark[ids[j]])
                    BAD("window %llu position %lld: top-k id %d appears twice",
                        (unsigned long long)w, (long long)(f->h.first + i), ids[j]);
                mark[ids[j]] = 1;
                if (!isfinite(lps[j]) || (double)lps[j] > LP_TOL || (j && lps[j] > lps[j - 1]))
                    BAD("window %llu position %lld: top-k log-prob %u (%g) is not finite, "
                        "non-positive and descending",
                        (unsigned long long)w, (long long)(f->h.first + i), j, (double)lps[j]);
                mass += exp((double)lps[j]);
            }
            for (uint32_t j = 0; j < k; j++)
                mark[ids[j]] = 0;
            if (fabs(mass - 1.0) > MASS_TOL)
                BAD("window %llu position %lld: top-k probabilities plus the residual mass add "
                    "up to %.6f, not 1",
                    (unsigned long long)w, (long long)(f->h.first + i), mass);
        }
fail:
    free(ids);
    free(lps);
    free(mark);
    return rc;
}

static int parse_owned(unsigned char *data, size_t size, const char *name,
                       struct owb_fingerprint **out, char err[OWB_ERR_MAX])
{
    struct owb_fingerprint *f = calloc(1, sizeof *f);
    int rc = OWB_OK;
    *out = NULL;
    if (!f || !(f->name = malloc(strlen(name) + 1))) {
        free(data);
        if (f)
            free(f);
        snprintf(err, OWB_ERR_MAX, "%.400s: out of memory", name);
        return OWB_E_NOMEM;
    }
    strcpy(f->name, name);
    f->data = data;
    f->size = size;
    struct owb_fp_header *h = &f->h;
    const unsigned char *b = data;
    if (size < 8 || memcmp(b, OWB_FP_MAGIC, 8))
        BAD("not an owbench fingerprint (the file does not start with \"%s\")", OWB_FP_MAGIC);
    if (size < OWB_FP_HEADER_BYTES)
        BAD("truncated: %zu bytes, the header alone is %u", size, OWB_FP_HEADER_BYTES);
    h->version = get_u32(b + 8);
    if (h->version != OWB_FP_VERSION)
        BAD("unsupported fingerprint version %u (this owbench reads version %u)", h->version,
            OWB_FP_VERSION);
    if (get_u32(b + 12) != OWB_FP_HEADER_BYTES)
        BAD("header size %u, expected %u", get_u32(b + 12), OWB_FP_HEADER_BYTES);
    unsigned char hc[32];
    owb_sha256(b, 240, hc);
    if (memcmp(hc, b + 240, 16))
        BAD("header checksum does not match (corrupt header)");
    h->n_vocab = get_u32(b + 16);
    h->n_ctx = get_u32(b + 20);
    h->first = get_u32(b + 24);
    h->top_k = get_u32(b + 28);
    h->n_windows = get_u64(b + 32);
    h->flags = get_u32(b + 40);
    h->bos = (int32_t)get_u32(b + 44);
    h->n_text_tokens = get_u64(b + 48);
    uint64_t tok_off = get_u64(b + 56), rec_off = get_u64(b + 64), fbytes = get_u64(b + 72);
    memcpy(h->model_sha256, b + 80, 32);
    memcpy(h->tokenizer_sha256, b + 112, 32);
    memcpy(h->text_sha256, b + 144, 32);
    memcpy(h->settings_sha256, b + 176, 32);
    memcpy(h->payload_sha256, b + 208, 32);
    if (h->flags & ~OWB_FP_KNOWN_FLAGS)
        BAD("unknown flag bits 0x%x", h->flags & ~OWB_FP_KNOWN_FLAGS);
    if (h->n_vocab < 1 || h->n_vocab > (uint32_t)INT32_MAX)
        BAD("vocabulary size %u is not valid", h->n_vocab);
    if (h->n_ctx < 4 || h->n_ctx > OWB_FP_MAX_CTX)
        BAD("window length %u is outside 4..%u", h->n_ctx, OWB_FP_MAX_CTX);
    if (h->first < 1 || h->first >= h->n_ctx)
        BAD("first scored position %u is outside 1..%u", h->first, h->n_ctx - 1);
    if (h->top_k < 1 || h->top_k > OWB_FP_MAX_TOP_K || h->top_k > h->n_vocab)
        BAD("top-k %u is outside 1..%u (and the vocabulary of %u)", h->top_k, OWB_FP_MAX_TOP_K,
            h->n_vocab);
    if (h->n_windows < 1)
        BAD("no windows");
    if ((h->flags & OWB_FP_BOS_PER_WINDOW) && (h->bos < 0 || (uint32_t)h->bos >= h->n_vocab))
        BAD("BOS id %d is outside the vocabulary (0..%u)", h->bos, h->n_vocab - 1);
    f->rec_bytes = 12 + 8 * (size_t)h->top_k;
    uint64_t np = h->n_ctx - h->first;
    /* Every product below is checked against the file size before it can overflow: a window
     * costs at least 4 n_ctx bytes, so n_windows <= size / (4 n_ctx). */
    if (h->n_windows > size / (4 * (uint64_t)h->n_ctx))
        BAD("%llu windows of %u tokens cannot fit in %zu bytes (truncated or corrupt header)",
            (unsigned long long)h->n_windows, h->n_ctx, size);
    if (h->n_text_tokens < h->n_windows * h->n_ctx)
        BAD("the text has %llu tokens, fewer than %llu windows of %u",
            (unsigned long long)h->n_text_tokens, (unsigned long long)h->n_windows, h->n_ctx);
    uint64_t want_rec = OWB_FP_HEADER_BYTES + 4 * h->n_windows * h->n_ctx;
    if (tok_off != OWB_FP_HEADER_BYTES)
        BAD("token section offset %llu, expected %u", (unsigned long long)tok_off,
            OWB_FP_HEADER_BYTES);
    if (rec_off != want_rec)
        BAD("record section offset %llu, expected %llu for %llu windows of %u tokens",
            (unsigned long long)rec_off, (unsigned long long)want_rec,
            (unsigned long long)h->n_windows, h->n_ctx);
    if (size < want_rec)
        BAD("truncated: %zu bytes, the window tokens alone need %llu", size,
            (unsigned long long)want_rec);
    if (h->n_windows * np > (size - want_rec) / f->rec_bytes + 1)
        BAD("truncated: %llu records of %zu bytes do not fit in %zu bytes",
            (unsigned long long)(h->n_windows * np), f->rec_bytes, size);
    uint64_t want_size = want_rec + h->n_windows * np * f->rec_bytes;
    if (fbytes != want_size)
        BAD("header says %llu bytes, the counts imply %llu", (unsigned long long)fbytes,
            (unsigned long long)want_size);
    if (size < want_size)
        BAD("truncated: %zu bytes, expected %llu", size, (unsigned long long)want_size);
    if (size > want_size)
        BAD("%zu trailing bytes after the last record", size - (size_t)want_size);
    unsigned char dg[32];
    owb_sha256(b + 16, 40, dg);
    if (memcmp(dg, h->settings_sha256, 32))
        BAD("settings hash does not match the header (corrupt header)");
    owb_sha256(b + OWB_FP_HEADER_BYTES, size - OWB_FP_HEADER_BYTES, dg);
    if (memcmp(dg, h->payload_sha256, 32))
        BAD("payload hash does not match (the file is corrupt or was modified)");
    f->records_offset = (size_t)rec_off;
    size_t nt = (size_t)(h->n_windows * h->n_ctx);
    if (!(f->tokens = malloc(nt * sizeof *f->tokens))) {
        snprintf(err, OWB_ERR_MAX, "%.400s: out of memory", name);
        rc = OWB_E_NOMEM;
        goto fail;
    }
    for (size_t i = 0; i < nt; i++) {
        uint32_t t = get_u32(b + OWB_FP_HEADER_BYTES + 4 * i);
        if (t >= h->n_vocab)
            BAD("window %zu token %zu: id %u is outside the vocabulary (0..%u)", i / h->n_ctx,
                i % h->n_ctx, t, h->n_vocab - 1);
        f->tokens[i] = (int32_t)t;
    }
    if ((rc = check_records(f, name, err)))
        goto fail;
    *out = f;
    return OWB_OK;
fail:
    owb_fp_free(f);
    return rc;
}

int owb_fp_parse(const void *data, size_t size, const char *name, struct owb_fingerprint **out,
                 char err[OWB_ERR_MAX])
{
    unsigned char *copy = malloc(size ? size : 1);
    if (!copy) {
        snprintf(err, OWB_ERR_MAX, "%.400s: out of memory", name);
        return OWB_E_NOMEM;
    }
    memcpy(copy, data, size);
    return parse_owned(copy, size, name, out, err);
}

int owb_fp_read(const char *path, struct owb_fingerprint **out, char err[OWB_ERR_MAX])
{
    unsigned char *buf = NULL;
    FILE *f = fopen(path, "rb");
    *out = NULL;
    if (!f) {
        snprintf(err, OWB_ERR_MAX, "%.400s: cannot open: %s", path, strerror(errno));
        return OWB_E_IO;
    }
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET)) {
        snprintf(err, OWB_ERR_MAX, "%.400s: cannot determine the size (not a regular file?)", path);
        fclose(f);
        return OWB_E_IO;
    }
    buf = malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        snprintf(err, OWB_ERR_MAX, "%.400s: out of memory for %ld bytes", path, size);
        return OWB_E_NOMEM;
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    fclose(f);
    if (got != (size_t)size) {
        free(buf);
        snprintf(err, OWB_ERR_MAX, "%.400s: read error", path);
        return OWB_E_IO;
    }
    return parse_owned(buf, (size_t)size, path, out, err);
}

/* ---- recording ---- */

static int record_window(void *ctx, int64_t idx, const int32_t *win, const struct owb_scores *s,
                         char err[OWB_ERR_MAX])
{
    (void)idx;
    (void)win;
    return owb_fp_writer_add(ctx, s, err);
}

int owb_fp_record(struct owb_producer *p, const int32_t *tokens, int64_t n_tokens,
                  const unsigned char text_sha256[32], const struct owb_ppl_cfg *cfg,
                  const char *path, struct owb_ppl_result *r, char err[OWB_ERR_MAX])
{
    struct owb_window_plan plan;
    struct owb_fp_writer *w = NULL;
    struct owb_fp_header h;
    struct owb_ppl_cfg c = *cfg;
    int rc;
    OWB_ASSERT(!cfg->on_window);
    memset(r, 0, sizeof *r);
    memset(&h, 0, sizeof h);
    if (cfg->top_k < 1 || cfg->top_k > p->info.n_vocab || cfg->top_k > (int)OWB_FP_MAX_TOP_K) {
        snprintf(err, OWB_ERR_MAX, "%.400s: top-k %d must be 1..%u and at most the vocabulary (%d)",
                 path, cfg->top_k, OWB_FP_MAX_TOP_K, p->info.n_vocab);
        return OWB_E_USAGE;
    }
    if ((rc = owb_window_plan_make(&plan, n_tokens, cfg->n_ctx, cfg->max_windows, p->info.add_bos,
                                   p->info.bos, err)))
        return rc;
    memcpy(h.text_sha256, text_sha256, 32);
    h.n_vocab = (uint32_t)p->info.n_vocab;
    h.top_k = (uint32_t)cfg->top_k;
    if (p->info.has_model_sha256) {
        h.flags |= OWB_FP_HAS_MODEL_SHA;
        memcpy(h.model_sha256, p->info.model_sha256, 32);
    }
    if (p->info.has_tokenizer_sha256) {
        h.flags |= OWB_FP_HAS_TOKENIZER_SHA;
        memcpy(h.tokenizer_sha256, p->info.tokenizer_sha256, 32);
    }
    if ((rc = owb_fp_writer_open(&w, path, &h, &plan, tokens, err)))
        return rc;
    c.on_window = record_window;
    c.on_window_ctx = w;
    if ((rc = owb_ppl_run(p, tokens, n_tokens, &c, r, err)))
        goto fail;
    rc = owb_fp_writer_finish(w, err);
    w = NULL;
    if (rc)
        goto fail;
    return OWB_OK;
fail:
    owb_fp_writer_abort(w);
    owb_ppl_result_release(r);
    return rc;
}
