/* SPDX-License-Identifier: MIT */
/*
 * peak_cpu.h: private to kernels/peak.c and kernels/cpu/peak_*.c. The loops behind owb_peak_run:
 * each runs `iters` iterations and returns its checksum (see kernels/peak.h).
 */
#ifndef OWB_KERNELS_CPU_PEAK_CPU_H
#define OWB_KERNELS_CPU_PEAK_CPU_H

#include <stdint.h>

/* Accumulators per loop, and the float loops' chunk length: sums of small integers stay exact in
 * f32 (< 2^24) when the accumulators are emptied every PEAK_CHUNK iterations. */
#define PEAK_NACC 12      /* AVX-512: 32 registers */
#define PEAK_NACC_AVX2 10 /* AVX2: 16 registers, some for operands and temporaries */
#define PEAK_CHUNK 1048576
#define PEAK_Q8_COLS 8

uint64_t owb_peak_int8_avx512(int64_t iters);
uint64_t owb_peak_fma_avx512(int64_t iters);
uint64_t owb_peak_q8_block_avx512(int64_t iters);
uint64_t owb_peak_int8_avx2(int64_t iters);
uint64_t owb_peak_fma_avx2(int64_t iters);

#endif
