/* SPDX-License-Identifier: MIT */
/*
 * readbw_cpu.h: the ISA variants of kernels/readbw.h (private to kernels/). Same contract as
 * owb_read_sum: 64-byte aligned p, any n, the wrapping sum of the n words.
 */
#ifndef OWB_KERNELS_CPU_READBW_CPU_H
#define OWB_KERNELS_CPU_READBW_CPU_H

#include <stdint.h>

/* Bytes between a demand load and its software prefetch (one 4 KiB page ahead measured best of
 * 1, 4 and 16 KiB for a read loop; the GEMV kernels prefetch a whole pass of rows ahead). */
#define OWB_READ_PF_AHEAD 4096

uint64_t owb_read_pf_avx512(const uint64_t *p, int64_t n);
uint64_t owb_read_streams4_avx512(const uint64_t *p, int64_t n);
uint64_t owb_read_pf_avx2(const uint64_t *p, int64_t n);
uint64_t owb_read_streams4_avx2(const uint64_t *p, int64_t n);

#endif
