/* SPDX-License-Identifier: MIT */
/*
 * test_vectors.c: checks the block formats against ggml's own output, the shared test vectors
 * (vectors/<format>.qvec under $OWB_TEST_DATA, written by ggml at commit d99724f). For every
 * format: the header agrees with our traits; dequantizing the stored bytes gives the stored floats
 * bit for bit; quantizing the stored input gives the stored bytes exactly (round-to-nearest
 * formats) or, for the k-quants whose scale search may differ, a per-row RMSE no worse than the
 * stored bytes'. Skips (77) when the shared data is absent.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/formats.h"
#include "owb_common.h"
#include "owb_test.h"

/* A k-quant row of ours may be worse than ggml's by this relative RMSE margin (float rounding in
 * the error itself, not a looser search). */
#define KQUANT_RMSE_REL_SLACK 1e-6

struct qvec {
    uint32_t type, rows, cols, blck, bytes;
    char name[13];
    float *input;   /* (rows, cols) */
    uint8_t *quant; /* rows * cols / blck blocks of `bytes` */
    float *dequant; /* (rows, cols) */
};

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void qvec_free(struct qvec *q)
{
    free(q->input);
    free(q->quant);
    free(q->dequant);
    memset(q, 0, sizeof *q);
}

static int qvec_read(const char *path, struct qvec *q)
{
    int rc = -1;
    uint8_t hdr[40];
    FILE *f = fopen(path, "rb");
    memset(q, 0, sizeof *q);
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        return -1;
    }
    if (fread(hdr, 1, sizeof hdr, f) != sizeof hdr || memcmp(hdr, "OWBQVEC1", 8) != 0) {
        fprintf(stderr, "%s: not a qvec file\n", path);
        goto out;
    }
    q->type = get_u32(hdr + 8);
    q->rows = get_u32(hdr + 12);
    q->cols = get_u32(hdr + 16);
    q->blck = get_u32(hdr + 20);
    q->bytes = get_u32(hdr + 24);
    memcpy(q->name, hdr + 28, 12);
    q->name[12] = '\0';
    if (!q->rows || !q->cols || !q->blck || q->cols % q->blck) {
        fprintf(stderr, "%s: bad shape\n", path);
        goto out;
    }
    size_t nel = (size_t)q->rows * q->cols;
    size_t nq = (size_t)q->rows * (q->cols / q->blck) * q->bytes;
    q->input = malloc(nel * sizeof(float));
    q->quant = malloc(nq);
    q->dequant = malloc(nel * sizeof(float));
    if (!q->input || !q->quant || !q->dequant)
        goto out;
    if (fread(q->input, sizeof(float), nel, f) != nel || fread(q->quant, 1, nq, f) != nq ||
        fread(q->dequant, sizeof(float), nel, f) != nel) {
        fprintf(stderr, "%s: truncated\n", path);
        goto out;
    }
    rc = 0;
out:
    fclose(f);
    if (rc)
        qvec_free(q);
    return rc;
}

static double row_rmse(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        s += d * d;
    }
    return sqrt(s / (double)n);
}

static void check_format(const char *dir, const char *file, enum owb_type want, bool exact)
{
    char path[4200];
    struct qvec q;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (qvec_read(path, &q) != 0) {
        CHECK_MSG(0, "%s unreadable", path);
        return;
    }
    const struct owb_type_traits *tr = owb_type_traits(want);
    CHECK_MSG(tr != NULL, "%s: no traits", file);
    if (!tr) {
        qvec_free(&q);
        return;
    }
    CHECK_MSG(q.type == (uint32_t)want, "%s: type id %u, want %d", file, q.type, (int)want);
    CHECK_MSG(strcmp(q.name, tr->name) == 0, "%s: name %s vs %s", file, q.name, tr->name);
    CHECK_MSG(q.blck == (uint32_t)tr->blck_size, "%s: block %u vs %lld", file, q.blck,
              (long long)tr->blck_size);
    CHECK_MSG(q.bytes == tr->type_size, "%s: bytes %u vs %zu", file, q.bytes, tr->type_size);

    size_t rsz = owb_row_size(want, q.cols);
    CHECK(rsz == (size_t)(q.cols / q.blck) * q.bytes);
    float *deq = malloc(q.cols * sizeof(float));
    uint8_t *mine = malloc(rsz);
    float *mine_deq = malloc(q.cols * sizeof(float));
    OWB_ASSERT(deq && mine && mine_deq);
    int deq_bad = 0, bytes_bad = 0, rmse_bad = 0, same_bytes = 0;
    for (uint32_t r = 0; r < q.rows; r++) {
        const float *in = q.input + (size_t)r * q.cols;
        const uint8_t *qb = q.quant + (size_t)r * rsz;
        const float *ref = q.dequant + (size_t)r * q.cols;

        tr->to_float(qb, deq, q.cols);
        if (memcmp(deq, ref, q.cols * sizeof(float)) != 0) {
            deq_bad++;
            for (uint32_t c = 0; c < q.cols; c++) {
                if (memcmp(&deq[c], &ref[c], sizeof(float)) != 0) {
                    fprintf(stderr, "%s row %u col %u: dequant %.9g, ggml %.9g\n", file, r, c,
                            (double)deq[c], (double)ref[c]);
                    break;
                }
            }
        }

        tr->from_float_ref(in, mine, q.cols);
        bool same = memcmp(mine, qb, rsz) == 0;
        same_bytes += same;
        if (exact && !same) {
            bytes_bad++;
            for (size_t b = 0; b < rsz; b++) {
                if (mine[b] != qb[b]) {
                    fprintf(stderr, "%s row %u: byte %zu (block %zu) is %u, ggml %u\n", file, r, b,
                            b / q.bytes, mine[b], qb[b]);
                    break;
                }
            }
        }
        if (!exact) {
            tr->to_float(mine, mine_deq, q.cols);
            double e_mine = row_rmse(mine_deq, in, q.cols);
            double e_ggml = row_rmse(ref, in, q.cols);
            if (e_mine > e_ggml * (1.0 + KQUANT_RMSE_REL_SLACK)) {
                rmse_bad++;
                fprintf(stderr, "%s row %u: rmse %.9g > ggml %.9g\n", file, r, e_mine, e_ggml);
            }
        }
    }
    CHECK_MSG(deq_bad == 0, "%s: %d of %u rows dequantize differently", file, deq_bad, q.rows);
    CHECK_MSG(bytes_bad == 0, "%s: %d of %u rows quantize differently", file, bytes_bad, q.rows);
    CHECK_MSG(rmse_bad == 0, "%s: %d of %u rows have a higher error", file, rmse_bad, q.rows);
    fprintf(stderr,
            "%-6s rows %u x %u: %d rows dequantize differently, %d/%u rows byte-identical\n",
            tr->name, q.rows, q.cols, deq_bad, same_bytes, q.rows);
    free(deq);
    free(mine);
    free(mine_deq);
    qvec_free(&q);
}

int main(void)
{
    const char *probe = owb_test_data("vectors/q4_0.qvec");
    if (!probe)
        SKIP("needs the shared test vectors (vectors/*.qvec under OWB_TEST_DATA)");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", probe);
    char *slash = strrchr(dir, '/');
    OWB_ASSERT(slash);
    *slash = '\0';

    static const struct {
        const char *file;
        enum owb_type type;
        bool exact;
    } cases[] = {
        {"f16.qvec", OWB_TYPE_F16, true},    {"bf16.qvec", OWB_TYPE_BF16, true},
        {"q8_0.qvec", OWB_TYPE_Q8_0, true},  {"q4_0.qvec", OWB_TYPE_Q4_0, true},
        {"q4_1.qvec", OWB_TYPE_Q4_1, true},  {"q5_0.qvec", OWB_TYPE_Q5_0, true},
        {"q5_1.qvec", OWB_TYPE_Q5_1, true},  {"mxfp4.qvec", OWB_TYPE_MXFP4, true},
        {"q2_K.qvec", OWB_TYPE_Q2_K, false}, {"q3_K.qvec", OWB_TYPE_Q3_K, false},
        {"q4_K.qvec", OWB_TYPE_Q4_K, false}, {"q5_K.qvec", OWB_TYPE_Q5_K, false},
        {"q6_K.qvec", OWB_TYPE_Q6_K, false},
    };
    for (size_t i = 0; i < OWB_ARRAY_LEN(cases); i++)
        check_format(dir, cases[i].file, cases[i].type, cases[i].exact);
    TEST_DONE();
}
