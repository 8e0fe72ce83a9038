/* SPDX-License-Identifier: MIT */
/*
 * kld_llamacpp.c: reading and writing llama.cpp's perplexity logits file (format in
 * kld_llamacpp.h, from llama.cpp tools/perplexity/perplexity.cpp), and KLD of a producer's logits
 * against it. Every field is decoded little-endian byte by byte; the file size is checked against
 * the counts before anything is allocated from them; rows are read with pread at their computed
 * offsets and checked before use.
 */
#define _POSIX_C_SOURCE 200809L
#include "evals/kld_llamacpp.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evals/progress.h"

#define HEADER_BYTES 20u

static int32_t rd_i32(const unsigned char *b)
{
    uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    int32_t v;
    memcpy(&v, &u, 4);
    return v;
}

static float rd_f32(const unsigned char *b)
{
    uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    float v;
    memcpy(&v, &u, 4);
    return v;
}

static void wr_u32(unsigned char *b, uint32_t u)
{
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(u >> (8 * i));
}

static int pread_all(int fd, void *buf, size_t n, uint64_t off)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = pread(fd, p, n, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        p += got;
        n -= (size_t)got;
        off += (uint64_t)got;
    }
    return 0;
}

void owb_lcpp_close(struct owb_lcpp_logits *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    free(f->tokens);
    free(f->name);
    free(f);
}

int owb_lcpp_open(const char *path, struct owb_lcpp_logits **out, char err[OWB_ERR_MAX])
{
    struct owb_lcpp_logits *f = calloc(1, sizeof *f);
    unsigned char h[HEADER_BYTES];
    struct stat st;
    int rc = OWB_E_FORMAT;
    *out = NULL;
    if (!f || !(f->name = strdup(path))) {
        free(f);
        snprintf(err, OWB_ERR_MAX, "%.400s: out of memory", path);
        return OWB_E_NOMEM;
    }
    f->fd = open(path, O_RDONLY);
    if (f->fd < 0 || fstat(f->fd, &st) != 0) {
        snprintf(err, OWB_ERR_MAX, "%.400s: cannot read: %s", path, strerror(errno));
        rc = OWB_E_IO;
        goto fail;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < HEADER_BYTES) {
        snprintf(err, OWB_ERR_MAX,
                 "%.400s: %llu bytes, shorter than the 20-byte header of a llama.cpp logits file",
                 path, (unsigned long long)size);
        goto fail;
    }
    if (pread_all(f->fd, h, HEADER_BYTES, 0)) {
        snprintf(err, OWB_ERR_MAX, "%.400s: cannot read the header", path);
        rc = OWB_E_IO;
        goto fail;
    }
    if (memcmp(h, OWB_LCPP_MAGIC, 8)) {
        snprintf(err, OWB_ERR_MAX,
                 "%.400s: does not start with \"_logits_\": not a llama.cpp logits file "
                 "(llama-perplexity --kl-divergence-base)",
                 path);
        goto fail;
    }
    f->n_ctx = rd_i32(h + 8);
    f->n_vocab = rd_i32(h + 12);
    f->n_chunk = rd_i32(h + 16);
    if (f->n_ctx < 4 || f->n_ctx > OWB_LCPP_MAX_CTX) {
        snprintf(err, OWB_ERR_MAX, "%.400s: context %d is outside 4..%d", path, f->n_ctx,
                 OWB_LCPP_MAX_CTX);
        goto fail;
    }
    if (f->n_vocab < 2 || f->n_vocab > OWB_LCPP_MAX_VOCAB) {
        snprintf(err, OWB_ERR_MAX, "%.400s: vocabulary size %d is outside 2..%d", path, f->n_vocab,
                 OWB_LCPP_MAX_VOCAB);
        goto fail;
    }
    if (f->n_chunk < 1) {
        snprintf(err, OWB_ERR_MAX, "%.400s: chunk count %d (at least 1 is needed)", path,
                 f->n_chunk);
        goto fail;
    }
    f->n_pos = (int64_t)f->n_ctx - 1 - f->n_ctx / 2;
    f->row_u16 = 2 * (((int64_t)f->n_vocab + 1) / 2) + 4;
    uint64_t n_tok = (uint64_t)f->n_chunk * (uint64_t)f->n_ctx, rows_bytes = 0, expect = 0;
    f->rows_offset = HEADER_BYTES + 4 * n_tok;
    if (__builtin_mul_overflow((uint64_t)f->n_chunk * (uint64_t)f->n_pos, (uint64_t)f->row_u16 * 2u,
                               &rows_bytes) ||
        __builtin_add_overflow(f->rows_offset, rows_bytes, &expect) || size != expect) {
        snprintf(err, OWB_ERR_MAX,
                 "%.300s: %llu bytes, but %d chunks of %d tokens with a vocabulary of %d make a "
                 "llama.cpp logits file of %llu bytes (%s)",
                 path, (unsigned long long)size, f->n_chunk, f->n_ctx, f->n_vocab,
                 (unsigned long long)expect,
                 size < expect ? "truncated, or the counts are wrong" : "trailing bytes");
        goto fail;
    }
    if (!(f->tokens = malloc(n_tok * sizeof *f->tokens))) {
        snprintf(err, OWB_ERR_MAX, "%.400s: out of memory for %llu tokens", path,
                 (unsigned long long)n_tok);
        rc = OWB_E_NOMEM;
        goto fail;
    }
    if (pread_all(f->fd, f->tokens, n_tok * 4, HEADER_BYTES)) {
        snprintf(err, OWB_ERR_MAX, "%.400s: cannot read the tokens", path);
        rc = OWB_E_IO;
        goto fail;
    }
    for (uint64_t i = 0; i < n_tok; i++) {
        int32_t t = rd_i32((const unsigned char *)&f->tokens[i]);
        if (t < 0 || t >= f->n_vocab) {
            snprintf(err, OWB_ERR_MAX,
                     "%.400s: token %llu (window %llu) is %d, outside the vocabulary 0..%d", path,
                     (unsigned long long)i, (unsigned long long)(i / (uint64_t)f->n_ctx), t,
                     f->n_vocab - 1);
            goto fail;
        }
        f->tokens[i] = t;
    }
    *out = f;
    return OWB_OK;
fail:
    owb_lcpp_close(f);
    return rc;
}

int owb_lcpp_read_row(const struct owb_lcpp_logits *f, int64_t w, int64_t i, uint16_t *buf,
                      float *lp, char err[OWB_ERR_MAX])
{
    OWB_ASSERT(w >= 0 && w < f->n_chunk && i >= 0 && i < f->n_pos);
    uint64_t off = f->rows_offset +
                   ((uint64_t)w * (uint64_t)f->n_pos + (uint64_t)i) * (uint64_t)f->row_u16 * 2u;
    if (pread_all(f->fd, buf, (size_t)f->row_u16 * 2u, off)) {
        snprintf(err, OWB_ERR_MAX, "%.400s: cannot read chunk %lld row %lld", f->name, (long long)w,
                 (long long)i);
        return OWB_E_IO;
    }
    const unsigned char *b = (const unsigned char *)buf;
    float scale = rd_f32(b), min_lp = rd_f32(b + 4);
    double lnv = log((double)f->n_vocab), top = (double)scale * 65535.0 + (double)min_lp;
    const char *why = NULL;
    if (!isfinite(scale) || scale < 0.0f || (double)scale > 16.0 / 65535.0 * (1 + 1e-4))
        why = "its scale is not in [0, 16/65535]";
    else if (!isfinite(min_lp) || min_lp > 1e-3f || (double)min_lp < -(16.0 + lnv) - 1e-2)
        why = "its minimum log-prob is out of range";
    else if (top > 1e-3 || top < -lnv - 1e-2)
        why = "its largest log-prob is out of range";
    if (!why) {
        double mass = 0.0;
        for (int32_t v = 0; v < f->n_vocab; v++) {
            const unsigned char *q = b + 8 + 2 * (size_t)v;
            lp[v] = scale * (float)((unsigned)q[0] | (unsigned)q[1] << 8) + min_lp;
            if (lp[v] > -16.0f)
                mass += exp((double)lp[v]);
        }
        if (mass > 1.0 + 2e-3 || mass < 1.0 - (double)f->n_vocab * exp(-16.0) - 2e-3)
            why = "its probabilities do not add up to 1";
    }
    if (why) {
        snprintf(err, OWB_ERR_MAX,
                 "%.300s: chunk %lld row %lld is not a log-probability row: %s (corrupt file?)",
                 f->name, (long long)w, (long long)i, why);
        return OWB_E_FORMAT;
    }
    return OWB_OK;
}

int owb_lcpp_check_tokens(const struct owb_lcpp_logits *f, const int32_t *ids, int64_t n,
                          char err[OWB_ERR_MAX])
{
    int64_t need = (int64_t)f->n_chunk * f->n_ctx;
    int64_t m = n < need ? n : need;
    for (int64_t i = 0; i < m; i++)
        if (ids[i] != f->tokens[i]) {
            snprintf(
                err, OWB_ERR_MAX,
                "%.300s: token %lld (window %lld, position %lld) is %d in llama.cpp's file but "
                "%d in ours: the text, its tokenization or BOS differs from what "
                "llama-perplexity used",
                f->name, (long long)i, (long long)(i / f->n_ctx), (long long)(i % f->n_ctx),
                f->tokens[i], ids[i]);
            return OWB_E_USAGE;
        }
    if (n < need) {
        snprintf(err, OWB_ERR_MAX,
                 "%.300s: holds %lld tokens (%d chunks of %d) but the text gives only %lld: not "
                 "the text llama-perplexity read",
                 f->name, (long long)need, f->n_chunk, f->n_ctx, (long long)n);
        return OWB_E_USAGE;
    }
    return OWB_OK;
}

/* ---- KLD against the file ---- */

struct lcpp_run {
    const struct owb_lcpp_logits *f;
    struct owb_kld_result *r;
    uint16_t *buf;
    float *lp;
    int64_t wi, rows;
    int rc;
    char *err;
};

static void lcpp_row(void *ctx, int64_t i, const float *l, int32_t nv, int32_t target)
{
    struct lcpp_run *c = ctx;
    if (c->rc)
        return;
    if (i < 0 || i >= c->f->n_pos || nv != c->f->n_vocab) {
        snprintf(c->err, OWB_ERR_MAX, "row %lld of %d logits does not fit the file's rows",
                 (long long)i, nv);
        c->rc = OWB_E_FORMAT;
        return;
    }
    if ((c->rc = owb_lcpp_read_row(c->f, c->wi, i, c->buf, c->lp, c->err)))
        return;
    float mx = l[0];
    int32_t im = 0, ib = 0;
    for (int32_t v = 1; v < nv; v++)
        if (l[v] > mx) {
            mx = l[v];
            im = v;
        }
    double sum = 0.0;
    for (int32_t v = 0; v < nv; v++)
        sum += exp((double)l[v] - (double)mx);
    double lse = (double)mx + log(sum), kl = 0.0;
    for (int32_t v = 0; v < nv; v++) {
        double lp = (double)c->lp[v];
        if (c->lp[v] > c->lp[ib])
            ib = v;
        if (c->lp[v] > -16.0f)
            kl += exp(lp) * (lp - ((double)l[v] - lse));
    }
    double lq = (double)l[target] - lse, lb = (double)c->lp[target];
    struct owb_kld_result *r = c->r;
    int64_t wi = c->wi;
    r->kld[wi * c->f->n_pos + i] = kl;
    if (c->rows == 0 || kl > r->w_kld_max[wi])
        r->w_kld_max[wi] = kl;
    r->w_kld[wi] += kl;
    r->w_nll[wi] -= lq;
    r->w_nll_base[wi] -= lb;
    r->w_top1[wi] += im == ib;
    r->w_absdp[wi] += fabs(exp(lq) - exp(lb));
    r->w_count[wi] += 1.0;
    c->rows++;
}

int owb_kld_run_llamacpp(struct owb_producer *p, const struct owb_lcpp_logits *f,
                         const struct owb_kld_cfg *cfg, struct owb_kld_result *r,
                         char err[OWB_ERR_MAX])
{
    struct owb_scores s = {0};
    struct owb_progress prog;
    struct lcpp_run c = {.f = f, .r = r, .err = err};
    int32_t *win = NULL;
    int rc = OWB_OK;
    memset(r, 0, sizeof *r);
    if (p->info.n_vocab != f->n_vocab) {
        snprintf(err, OWB_ERR_MAX,
                 "%.180s: vocabulary of %d tokens, but llama.cpp's logits in %.180s have %d",
                 p->info.name, p->info.n_vocab, f->name, f->n_vocab);
        return OWB_E_USAGE;
    }
    if (f->n_ctx > p->info.n_ctx) {
        snprintf(err, OWB_ERR_MAX,
                 "%.200s: llama.cpp's windows of %d tokens exceed the model's context %lld",
                 p->info.name, f->n_ctx, (long long)p->info.n_ctx);
        return OWB_E_USAGE;
    }
    struct owb_window_plan *w = &r->plan;
    w->n_ctx = f->n_ctx;
    w->first = f->n_ctx / 2 + 1;
    w->n_windows = f->n_chunk;
    w->n_tokens = (int64_t)f->n_chunk * f->n_ctx;
    w->bos_per_window = p->info.add_bos;
    w->bos = p->info.bos;
    OWB_ASSERT(w->n_ctx - w->first == f->n_pos);
    c.buf = malloc((size_t)f->row_u16 * sizeof *c.buf);
    c.lp = malloc((size_t)f->n_vocab * sizeof *c.lp);
    win = malloc((size_t)f->n_ctx * sizeof *win);
    if (!c.buf || !c.lp || !win || owb_kld_result_alloc(r) ||
        owb_scores_reserve(&s, f->n_pos, 0, 0, p->info.n_vocab)) {
        snprintf(err, OWB_ERR_MAX, "out of memory for %lld positions",
                 (long long)f->n_chunk * f->n_pos);
        rc = OWB_E_NOMEM;
        goto out;
    }
    s.on_row = lcpp_row;
    s.on_row_ctx = &c;
    owb_progress_start(&prog, "kld", f->n_chunk, "windows", cfg->progress);
    uint64_t t0 = owb_now_ns();
    for (int64_t wi = 0; wi < f->n_chunk; wi++) {
        memcpy(win, f->tokens + wi * f->n_ctx, (size_t)f->n_ctx * sizeof *win);
        if (w->bos_per_window && w->bos >= 0)
            win[0] = w->bos;
        c.wi = wi;
        c.rows = 0;
        if ((rc = owb_producer_score(p, win, f->n_ctx, w->first, &s, err)))
            goto out;
        if ((rc = c.rc))
            goto out;
        if (c.rows != f->n_pos) {
            snprintf(err, OWB_ERR_MAX,
                     "%.300s: gives no full logits (%lld of %lld rows), which KLD against "
                     "llama.cpp's logits needs",
                     p->info.name, (long long)c.rows, (long long)f->n_pos);
            rc = OWB_E_UNSUPPORTED;
            goto out;
        }
        owb_progress_update(&prog, wi + 1, (wi + 1) * f->n_ctx);
    }
    r->seconds = 1e-9 * (double)(owb_now_ns() - t0);
    owb_progress_finish(&prog, f->n_chunk, (int64_t)f->n_chunk * f->n_ctx);
    rc = owb_kld_finish(r, cfg, err);
out:
    owb_scores_release(&s);
    free(c.buf);
    free(c.lp);
    free(win);
    if (rc)
        owb_kld_result_release(r);
    return rc;
}

/* ---- writer ---- */

struct owb_lcpp_writer {
    FILE *fp;
    char *path, *tmp;
    int32_t n_vocab;
    int64_t rows, want;
    unsigned char *row;
};

void owb_lcpp_writer_abort(struct owb_lcpp_writer *w)
{
    if (!w)
        return;
    if (w->fp)
        fclose(w->fp);
    if (w->tmp)
        unlink(w->tmp);
    free(w->path);
    free(w->tmp);
    free(w->row);
    free(w);
}

int owb_lcpp_writer_open(struct owb_lcpp_writer **out, const char *path, int32_t n_ctx,
                         int32_t n_vocab, int32_t n_chunk, const int32_t *tokens,
                         char err[OWB_ERR_MAX])
{
    struct owb_lcpp_writer *w = calloc(1, sizeof *w);
    size_t plen = strlen(path) + 32;
    unsigned char h[HEADER_BYTES];
    *out = NULL;
    OWB_ASSERT(n_ctx >= 4 && n_vocab >= 2 && n_chunk >= 1);
    if (!w || !(w->path = strdup(path)) || !(w->tmp = malloc(plen)) ||
        !(w->row = malloc((size_t)(2 * (((int64_t)n_vocab + 1) / 2) + 4) * 2u))) {
        owb_lcpp_writer_abort(w);
        snprintf(err, OWB_ERR_MAX, "%.400s: out of memory", path);
        return OWB_E_NOMEM;
    }
    snprintf(w->tmp, plen, "%s.tmp.%d", path, (int)getpid());
    w->n_vocab = n_vocab;
    w->want = (int64_t)n_chunk * (n_ctx - 1 - n_ctx / 2);
    if (!(w->fp = fopen(w->tmp, "wb"))) {
        snprintf(err, OWB_ERR_MAX, "%.400s: cannot write: %s", w->tmp, strerror(errno));
        free(w->tmp);
        w->tmp = NULL;
        owb_lcpp_writer_abort(w);
        return OWB_E_IO;
    }
    memcpy(h, OWB_LCPP_MAGIC, 8);
    wr_u32(h + 8, (uint32_t)n_ctx);
    wr_u32(h + 12, (uint32_t)n_vocab);
    wr_u32(h + 16, (uint32_t)n_chunk);
    int bad = fwrite(h, 1, sizeof h, w->fp) != sizeof h;
    for (int64_t i = 0; !bad && i < (int64_t)n_chunk * n_ctx; i++) {
        unsigned char b[4];
        wr_u32(b, (uint32_t)tokens[i]);
        bad = fwrite(b, 1, 4, w->fp) != 4;
    }
    if (bad) {
        snprintf(err, OWB_ERR_MAX, "%.400s: write failed: %s", w->tmp, strerror(errno));
        owb_lcpp_writer_abort(w);
        return OWB_E_IO;
    }
    *out = w;
    return OWB_OK;
}

int owb_lcpp_writer_add(struct owb_lcpp_writer *w, const float *l, char err[OWB_ERR_MAX])
{
    int32_t nv = w->n_vocab;
    size_t row_bytes = (size_t)(2 * (((int64_t)nv + 1) / 2) + 4) * 2u;
    if (w->rows >= w->want) {
        snprintf(err, OWB_ERR_MAX, "%.400s: more rows than the %lld planned", w->path,
                 (long long)w->want);
        return OWB_E_USAGE;
    }
    float mx = l[0], mn = l[0];
    for (int32_t v = 1; v < nv; v++) {
        mx = l[v] > mx ? l[v] : mx;
        mn = l[v] < mn ? l[v] : mn;
    }
    if (mn < mx - 16.0f)
        mn = mx - 16.0f;
    double sum = 0.0;
    for (int32_t v = 0; v < nv; v++)
        sum += (double)expf(l[v] - mx);
    float lse = (float)log(sum), min_lp = mn - mx - lse, scale = (mx - mn) / 65535.0f;
    memset(w->row, 0, row_bytes);
    memcpy(w->row, &scale, 4);
    memcpy(w->row + 4, &min_lp, 4);
    if (scale > 0.0f) {
        float inv = 1.0f / scale;
        for (int32_t v = 0; v < nv; v++) {
            long q = l[v] > mn ? lrintf(inv * (l[v] - mn)) : 0;
            q = q < 0 ? 0 : q > 65535 ? 65535 : q;
            w->row[8 + 2 * (size_t)v] = (unsigned char)(q & 0xff);
            w->row[9 + 2 * (size_t)v] = (unsigned char)(q >> 8);
        }
    }
    if (fwrite(w->row, 1, row_bytes, w->fp) != row_bytes) {
        snprintf(err, OWB_ERR_MAX, "%.400s: write failed: %s", w->tmp, strerror(errno));
        return OWB_E_IO;
    }
    w->rows++;
    return OWB_OK;
}

int owb_lcpp_writer_finish(struct owb_lcpp_writer *w, char err[OWB_ERR_MAX])
{
    int rc = OWB_OK;
    if (w->rows != w->want) {
        snprintf(err, OWB_ERR_MAX, "%.400s: %lld rows written of %lld planned", w->path,
                 (long long)w->rows, (long long)w->want);
        rc = OWB_E_USAGE;
    } else {
        int bad = fflush(w->fp) != 0 || fsync(fileno(w->fp)) != 0;
        bad |= fclose(w->fp) != 0;
        w->fp = NULL;
        if (bad) {
            snprintf(err, OWB_ERR_MAX, "%.400s: write failed: %s", w->tmp, strerror(errno));
            rc = OWB_E_IO;
        } else if (rename(w->tmp, w->path)) {
            snprintf(err, OWB_ERR_MAX, "%.400s: cannot rename into place: %s", w->path,
                     strerror(errno));
            rc = OWB_E_IO;
        } else {
            free(w->tmp);
            w->tmp = NULL;
        }
    }
    owb_lcpp_writer_abort(w);
    return rc;
}
