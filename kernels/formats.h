/* SPDX-License-Identifier: MIT */
/*
 * formats.h: the GGUF/ggml tensor types owbench reads and writes, laid out byte for byte as ggml
 * stores them, so tensors of real GGUF files are used in place. Each block format is a struct with
 * a static_assert on its size; a traits table gives per-type block size, bytes, name and the
 * reference converters. Everything here is plain C, thread-safe and allocation-free.
 */
#ifndef OWB_KERNELS_FORMATS_H
#define OWB_KERNELS_FORMATS_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ggml type ids (the numbers stored in GGUF tensor infos). */
enum owb_type {
    OWB_TYPE_F32 = 0,
    OWB_TYPE_F16 = 1,
    OWB_TYPE_Q4_0 = 2,
    OWB_TYPE_Q4_1 = 3,
    OWB_TYPE_Q5_0 = 6,
    OWB_TYPE_Q5_1 = 7,
    OWB_TYPE_Q8_0 = 8,
    OWB_TYPE_Q8_1 = 9,
    OWB_TYPE_Q2_K = 10,
    OWB_TYPE_Q3_K = 11,
    OWB_TYPE_Q4_K = 12,
    OWB_TYPE_Q5_K = 13,
    OWB_TYPE_Q6_K = 14,
    OWB_TYPE_Q8_K = 15,
    OWB_TYPE_BF16 = 30,
    OWB_TYPE_MXFP4 = 39,
    OWB_TYPE_COUNT = 40, /* one past the largest id; not every id below it is supported */
};

typedef uint16_t owb_f16_t;  /* IEEE binary16 bits */
typedef uint16_t owb_bf16_t; /* bfloat16 bits */

#define OWB_QK 32    /* elements per block of the 32-wide formats */
#define OWB_QK_K 256 /* elements per super-block of the k-quants */
#define OWB_K_SCALE_SIZE 12

/* q4_0: x = d * (q - 8), element j in the low nibble of qs[j], element j+16 in the high nibble. */
struct owb_block_q4_0 {
    owb_f16_t d;
    uint8_t qs[OWB_QK / 2];
};
static_assert(sizeof(struct owb_block_q4_0) == 18, "q4_0 block is 18 bytes");

/* q4_1: x = d * q + m. */
struct owb_block_q4_1 {
    owb_f16_t d;
    owb_f16_t m;
    uint8_t qs[OWB_QK / 2];
};
static_assert(sizeof(struct owb_block_q4_1) == 20, "q4_1 block is 20 bytes");

/* q5_0: x = d * (q - 16); bit 4 of element j in bit j of qh. */
struct owb_block_q5_0 {
    owb_f16_t d;
    uint8_t qh[4];
    uint8_t qs[OWB_QK / 2];
};
static_assert(sizeof(struct owb_block_q5_0) == 22, "q5_0 block is 22 bytes");

/* q5_1: x = d * q + m. */
struct owb_block_q5_1 {
    owb_f16_t d;
    owb_f16_t m;
    uint8_t qh[4];
    uint8_t qs[OWB_QK / 2];
};
static_assert(sizeof(struct owb_block_q5_1) == 24, "q5_1 block is 24 bytes");

/* q8_0: x = d * q. */
struct owb_block_q8_0 {
    owb_f16_t d;
    int8_t qs[OWB_QK];
};
static_assert(sizeof(struct owb_block_q8_0) == 34, "q8_0 block is 34 bytes");

/* q8_1: x = d * q, s = d * sum(q) (activation format for q4_1/q5_1 dots). */
struct owb_block_q8_1 {
    owb_f16_t d;
    owb_f16_t s;
    int8_t qs[OWB_QK];
};
static_assert(sizeof(struct owb_block_q8_1) == 36, "q8_1 block is 36 bytes");

/* q2_K: 16 sub-blocks of 16; scales/mins 4 bits each; x = d*sc*q - dmin*m. */
struct owb_block_q2_K {
    uint8_t scales[OWB_QK_K / 16];
    uint8_t qs[OWB_QK_K / 4];
    owb_f16_t d;
    owb_f16_t dmin;
};
static_assert(sizeof(struct owb_block_q2_K) == 84, "q2_K block is 84 bytes");

/* q3_K: 16 sub-blocks of 16, 6-bit scales; high bit in hmask. */
struct owb_block_q3_K {
    uint8_t hmask[OWB_QK_K / 8];
    uint8_t qs[OWB_QK_K / 4];
    uint8_t scales[12];
    owb_f16_t d;
};
static_assert(sizeof(struct owb_block_q3_K) == 110, "q3_K block is 110 bytes");

/* q4_K: 8 sub-blocks of 32, 6-bit scales and mins packed in 12 bytes; x = d*sc*q - dmin*m. */
struct owb_block_q4_K {
    owb_f16_t d;
    owb_f16_t dmin;
    uint8_t scales[OWB_K_SCALE_SIZE];
    uint8_t qs[OWB_QK_K / 2];
};
static_assert(sizeof(struct owb_block_q4_K) == 144, "q4_K block is 144 bytes");

/* q5_K: as q4_K plus the fifth bit in qh. */
struct owb_block_q5_K {
    owb_f16_t d;
    owb_f16_t dmin;
    uint8_t scales[OWB_K_SCALE_SIZE];
    uint8_t qh[OWB_QK_K / 8];
    uint8_t qs[OWB_QK_K / 2];
};
static_assert(sizeof(struct owb_block_q5_K) == 176, "q5_K block is 176 bytes");

/* q6_K: 16 sub-blocks of 16, int8 scales; x = d * sc * (q - 32). */
struct owb_block_q6_K {
    uint8_t ql[OWB_QK_K / 2];
    uint8_t qh[OWB_QK_K / 4];
    int8_t scales[OWB_QK_K / 16];
    owb_f16_t d;
};
static_assert(sizeof(struct owb_block_q6_K) == 210, "q6_K block is 210 bytes");

/* q8_K: activation format for k-quant dots; bsums are sums of each 16 quants. */
struct owb_block_q8_K {
    float d;
    int8_t qs[OWB_QK_K];
    int16_t bsums[OWB_QK_K / 16];
};
static_assert(sizeof(struct owb_block_q8_K) == 292, "q8_K block is 292 bytes");

/* mxfp4 (OCP MX): E8M0 shared exponent e, 32 E2M1 values; element j in the low nibble of qs[j],
 * element j+16 in the high nibble. x = kvalue[q] * 2^(e - 128) with ggml's doubled E2M1 table. */
struct owb_block_mxfp4 {
    uint8_t e;
    uint8_t qs[OWB_QK / 2];
};
static_assert(sizeof(struct owb_block_mxfp4) == 17, "mxfp4 block is 17 bytes");

typedef void (*owb_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*owb_from_float_fn)(const float *src, void *dst, int64_t n);
/* Reference dot product of n elements: weights in the type, activations in its vec_dot_type. */
typedef void (*owb_vec_dot_fn)(int64_t n, float *s, const void *w, const void *act);

struct owb_type_traits {
    const char *name;  /* "q4_0", as ggml names it */
    int64_t blck_size; /* elements per block */
    size_t type_size;  /* bytes per block */
    bool is_quantized;
    owb_to_float_fn to_float;         /* reference dequantizer; NULL if unsupported */
    owb_from_float_fn from_float_ref; /* reference quantizer; NULL if not provided */
    owb_vec_dot_fn vec_dot_ref;       /* reference dot; NULL if not provided */
    enum owb_type vec_dot_type;       /* activation format vec_dot_ref expects */
};

/* Traits of a type, or NULL for an id owbench does not know. */
const struct owb_type_traits *owb_type_traits(enum owb_type t);
/* Name of a type ("q4_0"), or "?" for unknown ids. */
const char *owb_type_name(enum owb_type t);
/* Look a type up by name; returns 0 and sets *t, or -1 for an unknown name. */
int owb_type_from_name(const char *name, enum owb_type *t);
/* Bytes of a row of n elements; 0 when n is not a multiple of the block size or t is unknown. */
size_t owb_row_size(enum owb_type t, int64_t n);

/* Scalar conversions, exact as ggml's (round to nearest even; NaN preserved). */
float owb_f16_to_f32(owb_f16_t h);
owb_f16_t owb_f32_to_f16(float f);
float owb_bf16_to_f32(owb_bf16_t h);
owb_bf16_t owb_f32_to_bf16(float f);

#endif
