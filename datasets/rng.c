/* SPDX-License-Identifier: MIT */
/*
 * rng.c: xoshiro256** (Blackman & Vigna) with splitmix64 seeding, bias-free bounded integers by
 * rejection, and sampling without replacement.
 */
#include "datasets/rng.h"

#include <math.h>
#include <stdlib.h>

#include "owb_common.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void owb_rng_seed(struct owb_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

uint64_t owb_rng_u64(struct owb_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

uint64_t owb_rng_below(struct owb_rng *r, uint64_t n)
{
    OWB_ASSERT(n >= 1);
    uint64_t limit = UINT64_MAX - UINT64_MAX % n; /* accept [0, limit): a multiple of n values */
    uint64_t x;
    do
        x = owb_rng_u64(r);
    while (x >= limit);
    return x % n;
}

double owb_rng_uniform(struct owb_rng *r)
{
    return (double)(owb_rng_u64(r) >> 11) * 0x1.0p-53;
}

double owb_rng_normal(struct owb_rng *r)
{
    double u1 = ((double)(owb_rng_u64(r) >> 11) + 0.5) * 0x1.0p-53; /* (0, 1): log is finite */
    double u2 = owb_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

int owb_rng_sample(struct owb_rng *r, size_t n, size_t k, size_t *out)
{
    OWB_ASSERT(k <= n);
    size_t *perm = malloc((n ? n : 1) * sizeof *perm);
    if (!perm)
        return OWB_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    for (size_t i = 0; i < k; i++) {
        size_t j = i + (size_t)owb_rng_below(r, n - i);
        size_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
        out[i] = perm[i];
    }
    free(perm);
    qsort(out, k, sizeof *out, cmp_size);
    return OWB_OK;
}
