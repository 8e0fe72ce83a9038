/* SPDX-License-Identifier: MIT */
/*
 * rng.h: the seeded generator behind every random choice the evals make (task subsets, bootstrap
 * resamples), so a result can be reproduced from the seed it records: xoshiro256** seeded through
 * splitmix64, the same sequence on every platform. A state is used by one thread at a time.
 */
#ifndef OWB_DATASETS_RNG_H
#define OWB_DATASETS_RNG_H

#include <stddef.h>
#include <stdint.h>

struct owb_rng {
    uint64_t s[4];
};

void owb_rng_seed(struct owb_rng *r, uint64_t seed);
uint64_t owb_rng_u64(struct owb_rng *r);
/* Uniform integer in [0, n) without modulo bias (n >= 1). */
uint64_t owb_rng_below(struct owb_rng *r, uint64_t n);
/* Uniform double in [0, 1) with 53 random bits. */
double owb_rng_uniform(struct owb_rng *r);
/* Standard normal (Box-Muller, no cached second value). */
double owb_rng_normal(struct owb_rng *r);

/* k distinct indices of [0, n) drawn uniformly (partial Fisher-Yates over a scratch permutation),
 * returned in increasing order in out[0..k). k <= n. Returns 0 or OWB_E_NOMEM. */
int owb_rng_sample(struct owb_rng *r, size_t n, size_t k, size_t *out);

#endif
