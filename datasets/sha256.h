/* SPDX-License-Identifier: MIT */
/*
 * sha256.h: streaming SHA-256 (FIPS 180-4) for the identities that quality results carry: the
 * text a perplexity was measured on, a task file, a model file, a fingerprint's payload and the
 * registry's download checks. Plain C, no allocation; a context is used by one thread at a time,
 * separate contexts are independent.
 */
#ifndef OWB_DATASETS_SHA256_H
#define OWB_DATASETS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "owb_common.h"

struct owb_sha256 {
    uint32_t h[8];
    uint64_t n_bytes;      /* bytes hashed so far */
    unsigned char buf[64]; /* pending partial block */
    size_t n_buf;
};

void owb_sha256_init(struct owb_sha256 *s);
void owb_sha256_update(struct owb_sha256 *s, const void *data, size_t n);
/* Finish and write the 32-byte digest; s must be re-initialised before reuse. */
void owb_sha256_final(struct owb_sha256 *s, unsigned char digest[32]);

/* One-shot digest of data[0..n). */
void owb_sha256(const void *data, size_t n, unsigned char digest[32]);
/* 64 lowercase hex digits + NUL. */
void owb_sha256_to_hex(const unsigned char digest[32], char hex[65]);
/* Parse 64 hex digits (either case); returns 0 or OWB_E_FORMAT. */
int owb_sha256_from_hex(const char *hex, unsigned char digest[32]);

/* Digest of a whole file, read in 64 KiB pieces. Returns 0, or OWB_E_IO with err naming the path.
 */
int owb_sha256_file(const char *path, unsigned char digest[32], char err[OWB_ERR_MAX]);

#endif
