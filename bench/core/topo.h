/* SPDX-License-Identifier: MIT */
/*
 * topo.h: the machine's topology (packages, NUMA nodes, L3 domains, cores, PUs, caches, memory per
 * NUMA node) as hwloc sees it, and the pinning plans built on it. Without hwloc (OWB_HAVE_HWLOC 0)
 * the topology is the CPUs this process may run on, each its own core, in one package and one
 * NUMA node, with cache sizes read from /sys. Pinning policies:
 *   compact   one PU per core, cores in topological order (package, NUMA node, L3, core), then
 *             the second PU of every core, and so on: no SMT sibling before every core has one;
 *   scatter   round-robin across packages, then NUMA nodes within a package, then L3 domains
 *             within a NUMA node, then cores within an L3; SMT siblings last;
 *   numa:K    the PUs of NUMA node K (logical index) in compact order;
 *   list:L    the OS CPU indices of L ("0,2,4-7") in the order given;
 *   none      no pinning (the plan's CPUs are -1).
 * A topology object is immutable after owb_topo_new, so it may be read from several threads.
 */
#ifndef OWB_BENCH_TOPO_H
#define OWB_BENCH_TOPO_H

#include <stddef.h>
#include <stdio.h>
#include <cjson/cJSON.h>

#include "owb_common.h"

struct owb_topo;

/* Load a topology. synthetic NULL: this machine, restricted to the PUs this thread may run on
 * (sched_getaffinity); if hwloc fails there, the /sys view is used and the source says why.
 * Otherwise an hwloc synthetic description ("pack:2 numa:2 l3:2 core:4 pu:2") whose PUs are all
 * usable. Returns NULL and fills err on failure (invalid description; synthetic asked of a build
 * without hwloc; out of memory); owb_topo_load gives the status too. Caller frees with
 * owb_topo_free. */
struct owb_topo *owb_topo_new(const char *synthetic, char err[OWB_ERR_MAX]);
/* Like owb_topo_new but returns the status (OWB_E_USAGE for a bad synthetic string,
 * OWB_E_UNSUPPORTED without hwloc, OWB_E_NOMEM, OWB_E_SYSTEM) and the topology in *out. */
int owb_topo_load(const char *synthetic, struct owb_topo **out, char err[OWB_ERR_MAX]);
void owb_topo_free(struct owb_topo *t); /* NULL is a no-op */

int owb_topo_npus(const struct owb_topo *t);   /* PUs usable by this process */
int owb_topo_ncores(const struct owb_topo *t); /* cores with at least one usable PU */
int owb_topo_npackages(const struct owb_topo *t);
int owb_topo_nnuma(const struct owb_topo *t); /* NUMA nodes with at least one usable PU */
/* Largest cache level's total size across the machine in bytes (sum of all L3s, or of all L2s
 * when there is no L3); 32 MiB when the caches are unknown. */
size_t owb_topo_llc_bytes(const struct owb_topo *t);
/* Bytes a buffer must span so that reading it comes from memory, not from the caches: 4x the LLC,
 * at most 1/16 of the machine's memory (a VM may report its host's caches, or an L3 of 508 MiB
 * per vCPU: 4x that for each of stream's three arrays, on two tests at once, is more than the
 * machine has), at least 64 MiB. For this machine's topology the environment's OWB_SWEEP_BYTES
 * (a size as `--size` takes it, owb_parse_size, at least 64M; owb_topo_load refuses anything else
 * with OWB_E_USAGE) replaces all of that: the tests set it so that they run in seconds wherever
 * the caches are. */
size_t owb_topo_sweep_bytes(const struct owb_topo *t);
/* Where the topology came from: "hwloc 2.9.0", "hwloc synthetic 'pack:2 core:4'", "sysfs (built
 * without hwloc)", ... Owned by t. */
const char *owb_topo_source(const struct owb_topo *t);
/* True when hwloc built this topology (false for the /sys fallback). */
int owb_topo_from_hwloc(const struct owb_topo *t);

/* Pinning plan: fills cpus[0..*n) with OS CPU indices in worker order. nthreads 0 means all PUs of
 * the policy. Returns 0, or OWB_E_USAGE with err naming the problem ("--threads 8 exceeds the 2
 * PUs of policy compact", "pinning policy 'list:3-1': range 3-1 runs backwards"). For "none" the
 * cpus are -1 (at most owb_topo_npus threads). cpus must have room for owb_topo_npus() entries, or
 * the list length for list:. */
int owb_topo_pin_plan(const struct owb_topo *t, const char *policy, int nthreads, int *cpus, int *n,
                      char err[OWB_ERR_MAX]);

/* The full topology for `owbench topo --json`: source, counts (packages, numa_nodes, l3_domains,
 * l2_domains, cores, pus, pus_total, smt_per_core), caches {l1d, l2, l3}, llc_bytes,
 * memory_bytes, numa[] {index, os_index, memory_bytes, cpus}, and the tree packages_tree[]
 * {index, numa_nodes[] {index, memory_bytes, l3[] {index, size_bytes, cores[] {index, l2, pus[]}}}}
 * (index -1: the level is absent). Caller owns (cJSON_Delete); NULL on OOM. */
cJSON *owb_topo_to_json(const struct owb_topo *t);
/* The summary used in a result's env.topology: the same without the tree. */
cJSON *owb_topo_summary_json(const struct owb_topo *t);
/* Readable summary (a few lines plus the tree) for `owbench topo`. */
void owb_topo_print(const struct owb_topo *t, FILE *f);

/* Format cpus[0..n) as a compact list ("0-3,8,10"); -1 entries print as "none". Always
 * NUL-terminates; truncates with "..." when len is too small. Returns buf. */
char *owb_cpulist_format(const int *cpus, int n, char *buf, size_t len);

#endif
