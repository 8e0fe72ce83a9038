/* SPDX-License-Identifier: MIT */
/*
 * readbw.h: the read kernels behind the read-bandwidth ceiling (`stream` read rows). A ceiling must
 * read at least as fast as the fastest kernel held against it, so there are several access
 * patterns and the ceiling is the best of them:
 *
 *   plain    one sequential stream, scalar 64-bit integer sums (4 accumulators); the hardware
 *            prefetchers alone keep misses in flight. Portable C, the reference twin.
 *   pf       the quantized GEMV's pattern: full-width vector loads (zmm/ymm) with software
 *            prefetch into L2 (prefetcht1) a fixed distance ahead of the demand loads, as the
 *            GEMV kernels prefetch the next pass of rows (kernels/cpu/simd_common.h).
 *   streams4 four sequential streams of one slice read together (a GEMV reads several rows at
 *            once), vector loads, each stream prefetched ahead into L2.
 *
 * Every kernel returns the wrapping 64-bit sum of the words it read, the same for every variant and
 * ISA (integer addition is associative), so a caller can check that all bytes were read and the
 * loads are not dead code. Thread-safe, no allocation.
 */
#ifndef OWB_KERNELS_READBW_H
#define OWB_KERNELS_READBW_H

#include <stdint.h>

#include "kernels/isa.h"

enum owb_read_variant {
    OWB_READ_PLAIN = 0,
    OWB_READ_PF,
    OWB_READ_STREAMS4,
    OWB_READ_COUNT,
};

/* "plain", "pf", "streams4"; "?" for an invalid value. */
const char *owb_read_variant_name(enum owb_read_variant v);

/* What runs for variant v on isa, e.g. "avx512 zmm loads + prefetcht1 4096 B ahead" (static). */
const char *owb_read_variant_path(enum owb_read_variant v, enum owb_isa isa);

/* Sum the n 64-bit words at p (p 64-byte aligned, n >= 0, any n) with variant v on isa (the
 * active ISA when isa is OWB_ISA_COUNT). An ISA the CPU lacks falls back to the reference. */
uint64_t owb_read_sum(enum owb_read_variant v, enum owb_isa isa, const uint64_t *p, int64_t n);

/* The reference: plain C, any alignment. */
uint64_t owb_read_sum_ref(const uint64_t *p, int64_t n);

#endif
