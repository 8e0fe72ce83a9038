/* SPDX-License-Identifier: MIT */
/*
 * test_blocks.c: the CUDA block decoders (kernels/cuda/blocks.h) compiled as host code and held
 * against the `_ref` dequantizers (traits to_float) for every format the CUDA kernels read, on
 * random blocks: random bytes, so every scale, exponent (f16/bf16 subnormals, inf, NaN, e8m0 0 and
 * 1), nibble and packed 6-bit scale occurs. Each decoded value must have the same bits as the
 * reference's. Runs in every build (no CUDA needed): the decode arithmetic is proven before any
 * launch.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/blocks.h"
#include "kernels/formats.h"
#include "owb_common.h"
#include "owb_test.h"

#define ROWS 64             /* random rows per format */
#define ROW_ELEMS (4 * 256) /* elements per row: 4 super-blocks, 32 blocks of 32 */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

static int same_bits(float a, float b)
{
    uint32_t x, y;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    return x == y || (isnan(a) && isnan(b));
}

static void check_type(enum owb_type t)
{
    const struct owb_type_traits *tr = owb_type_traits(t);
    const size_t rb = owb_row_size(t, ROW_ELEMS);
    uint8_t *row = malloc(rb);
    float *ref = malloc(sizeof(float) * ROW_ELEMS), *got = malloc(sizeof(float) * ROW_ELEMS);
    OWB_ASSERT(tr && tr->to_float && rb && row && ref && got);
    long bad = 0;
    for (int r = 0; r < ROWS; r++) {
        for (size_t i = 0; i < rb; i++)
            row[i] = (uint8_t)rnd();
        if (r == 0) /* all-zero and all-ones rows: e8m0 0, f16 -0/NaN patterns */
            memset(row, 0, rb);
        if (r == 1)
            memset(row, 0xff, rb);
        tr->to_float(row, ref, ROW_ELEMS);
        for (int64_t e = 0; e < ROW_ELEMS; e += 8)
            CHECK(owb_cu_dec8(t, row, e, got + e) == 0);
        for (int64_t e = 0; e < ROW_ELEMS; e++) {
            if (!same_bits(ref[e], got[e])) {
                if (bad++ < 5)
                    fprintf(stderr, "%s row %d element %lld: ref %.9g, decoder %.9g\n", tr->name, r,
                            (long long)e, (double)ref[e], (double)got[e]);
            }
        }
    }
    CHECK_MSG(bad == 0, "%s: %ld element(s) differ from the _ref dequantizer", tr->name, bad);
    free(row);
    free(ref);
    free(got);
}

int main(void)
{
    const enum owb_type types[] = {OWB_TYPE_F32,  OWB_TYPE_F16,  OWB_TYPE_BF16, OWB_TYPE_Q8_0,
                                   OWB_TYPE_Q4_0, OWB_TYPE_Q4_K, OWB_TYPE_Q6_K, OWB_TYPE_MXFP4};
    for (size_t i = 0; i < OWB_ARRAY_LEN(types); i++)
        check_type(types[i]);
    /* a type without a decoder says so */
    float out[8];
    uint8_t blk[64] = {0};
    CHECK(owb_cu_dec8(OWB_TYPE_Q5_0, blk, 0, out) == -1);
    /* the scalar converters agree with the library's on every f16 and bf16 pattern */
    long bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        bad += !same_bits(owb_cu_f16((uint16_t)h), owb_f16_to_f32((owb_f16_t)h));
        bad += !same_bits(owb_cu_bf16((uint16_t)h), owb_bf16_to_f32((owb_bf16_t)h));
    }
    CHECK_MSG(bad == 0, "%ld f16/bf16 patterns differ", bad);
    TEST_DONE();
}
