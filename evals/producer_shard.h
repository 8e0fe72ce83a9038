/* SPDX-License-Identifier: MIT */
/*
 * producer_shard.h: eval shards over the ranks of an mpirun job. Wrapping a producer makes every
 * eval built on it (perplexity, fingerprint, KLD, multiple choice) split its score() calls across
 * the ranks (call k on rank k mod N) while rank 0 receives every call's scores in order, so rank
 * 0's figures, intervals and files are identical to a single process's. The other ranks' eval
 * results are placeholders: only rank 0 may print or write them. Every rank must make the same
 * sequence of score() calls (the evals do: their control flow does not depend on the scores).
 */
#ifndef OWB_EVALS_PRODUCER_SHARD_H
#define OWB_EVALS_PRODUCER_SHARD_H

#include "evals/producer.h"

/* With more than one rank, replace *p by a sharding producer that owns the old one; with one rank
 * leave *p as it is. Returns 0, or OWB_E_NOMEM with err (then *p has been freed and is NULL). */
int owb_producer_shard(struct owb_producer **p, char err[OWB_ERR_MAX]);

#endif
