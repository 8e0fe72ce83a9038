/* SPDX-License-Identifier: MIT */
/*
 * topo.c: topology discovery (hwloc, or /sys when built without it) flattened into one record per
 * usable PU with its package, NUMA node, L3 domain and core, plus the PU's rank inside each parent.
 * Every pinning policy is then an ordering of that table: compact sorts by (SMT rank, core order),
 * scatter by (SMT rank, core in L3, L3 in NUMA node, NUMA node in package, package), which is a
 * round-robin over packages first, then NUMA nodes, then L3 domains.
 */
#define _GNU_SOURCE
#include "bench/core/topo.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "owb_config.h"

#if OWB_HAVE_HWLOC
#include <hwloc.h>
#endif

#define OWB_TOPO_DEFAULT_LLC_BYTES ((size_t)32 << 20)

struct owb_pu_info {
    int os;                /* OS CPU index */
    int pkg, numa, l3, l2; /* topology-wide logical indices; -1 when the level is absent */
    int core;              /* topology-wide core id (logical index) */
    int pkg_rank;          /* rank of the package among packages with usable PUs */
    int numa_in_pkg;       /* rank of the NUMA node among those of its package */
    int l3_in_numa;        /* rank of the L3 among those of its (package, NUMA node) */
    int core_in_l3;        /* rank of the core among those of its (package, NUMA node, L3) */
    int smt;               /* rank of the PU inside its core */
};

struct owb_cache_info {
    size_t size_bytes; /* one instance; 0 when unknown */
    int count;         /* instances in the machine */
    size_t total_bytes;
};

struct owb_numa_info {
    int logical, os;
    unsigned long long mem_bytes;
};

struct owb_topo {
    char source[192];
    int hwloc;
    int npus, pus_total;
    struct owb_pu_info *pu; /* (npus) usable PUs in topological order */
    int npackages, nnuma, nl3, nl2, ncores, max_smt;
    struct owb_cache_info l1d, l2, l3;
    int nnuma_all;
    struct owb_numa_info *numa_all; /* (nnuma_all) every NUMA node, memory-only ones too */
    unsigned long long mem_total;
    size_t sweep_env; /* OWB_SWEEP_BYTES for this machine's topology (0: not set) */
};

/* ---- affinity of the calling thread ---- */

/* The CPUs this thread may run on, as a malloc'd CPU set (size *setsize bytes). */
static cpu_set_t *affinity_get(size_t *setsize, int *maxcpus)
{
    for (int ncpu = 1024; ncpu <= (1 << 20); ncpu *= 2) {
        cpu_set_t *set = CPU_ALLOC((size_t)ncpu);
        if (!set)
            return NULL;
        size_t sz = CPU_ALLOC_SIZE((size_t)ncpu);
        CPU_ZERO_S(sz, set);
        if (sched_getaffinity(0, sz, set) == 0) {
            *setsize = sz;
            *maxcpus = ncpu;
            return set;
        }
        CPU_FREE(set);
        if (errno != EINVAL)
            return NULL;
    }
    return NULL;
}

/* ---- small parsers ---- */

/* Read a small text file into buf (trailing newline stripped). 0 or -1. */
static int read_text(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return 0;
}

/* "32K", "1024K", "16M", "1G" → bytes; 0 when unparsable. */
static size_t parse_size(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno)
        return 0;
    switch (toupper((unsigned char)*end)) {
    case 'K':
        v <<= 10;
        break;
    case 'M':
        v <<= 20;
        break;
    case 'G':
        v <<= 30;
        break;
    default:
        break;
    }
    return (size_t)v;
}

/* Parse a CPU list "0,2,4-7" into out[0..*n) in the order given (ranges ascending). Rejects empty
 * items, non-digits, backward ranges, duplicates and more than cap entries. 0 or OWB_E_USAGE with
 * err describing the problem (without the policy name; the caller prefixes it). */
static int parse_cpulist(const char *s, int *out, int cap, int *n, char *err, size_t errlen)
{
    int cnt = 0;
    const char *p = s;
    if (!*p) {
        snprintf(err, errlen, "the CPU list is empty");
        return OWB_E_USAGE;
    }
    for (;;) {
        long a, b;
        char *end;
        if (!isdigit((unsigned char)*p)) {
            snprintf(err, errlen, "expected a CPU number at '%s'", p);
            return OWB_E_USAGE;
        }
        errno = 0;
        a = strtol(p, &end, 10);
        if (errno || a > INT_MAX) {
            snprintf(err, errlen, "CPU number at '%s' is too large", p);
            return OWB_E_USAGE;
        }
        b = a;
        p = end;
        if (*p == '-') {
            p++;
            if (!isdigit((unsigned char)*p)) {
                snprintf(err, errlen, "expected the end of a range at '%s'", p);
                return OWB_E_USAGE;
            }
            errno = 0;
            b = strtol(p, &end, 10);
            if (errno || b > INT_MAX) {
                snprintf(err, errlen, "CPU number at '%s' is too large", p);
                return OWB_E_USAGE;
            }
            if (b < a) {
                snprintf(err, errlen, "range %ld-%ld runs backwards", a, b);
                return OWB_E_USAGE;
            }
            p = end;
        }
        for (long c = a; c <= b; c++) {
            for (int k = 0; k < cnt; k++) {
                if (out[k] == (int)c) {
                    snprintf(err, errlen, "CPU %ld is listed twice", c);
                    return OWB_E_USAGE;
                }
            }
            if (cnt >= cap) {
                snprintf(err, errlen, "more CPUs than the %d usable PUs", cap);
                return OWB_E_USAGE;
            }
            out[cnt++] = (int)c;
        }
        if (*p == '\0')
            break;
        if (*p != ',') {
            snprintf(err, errlen, "unexpected '%c' (use numbers, ranges A-B and commas)", *p);
            return OWB_E_USAGE;
        }
        p++;
    }
    *n = cnt;
    return OWB_OK;
}

/* ---- building the PU table ---- */

static int cmp_pu_topological(const void *a, const void *b)
{
    const struct owb_pu_info *x = a, *y = b;
    const int kx[5] = {x->pkg, x->numa, x->l3, x->core, x->os};
    const int ky[5] = {y->pkg, y->numa, y->l3, y->core, y->os};
    for (int i = 0; i < 5; i++)
        if (kx[i] != ky[i])
            return kx[i] < ky[i] ? -1 : 1;
    return 0;
}

static int count_distinct(const struct owb_topo *t, size_t field_off)
{
    /* PUs are sorted, but a field like l3 may repeat non-adjacently (an L3 spanning two NUMA
     * nodes); quadratic is fine for the few thousand PUs of the largest machines. */
    int n = 0;
    for (int i = 0; i < t->npus; i++) {
        int v = *(const int *)((const char *)&t->pu[i] + field_off);
        if (v < 0)
            continue;
        bool seen = false;
        for (int j = 0; j < i && !seen; j++)
            seen = *(const int *)((const char *)&t->pu[j] + field_off) == v;
        n += !seen;
    }
    return n;
}

/* Sort the table topologically and fill the per-parent ranks and the counts. */
static void finish_table(struct owb_topo *t)
{
    qsort(t->pu, (size_t)t->npus, sizeof *t->pu, cmp_pu_topological);
    int pkg_rank = -1, numa_r = -1, l3_r = -1, core_r = -1, smt = -1;
    for (int i = 0; i < t->npus; i++) {
        struct owb_pu_info *p = &t->pu[i];
        const struct owb_pu_info *q = i ? &t->pu[i - 1] : NULL;
        bool new_pkg = !q || q->pkg != p->pkg;
        bool new_numa = new_pkg || q->numa != p->numa;
        bool new_l3 = new_numa || q->l3 != p->l3;
        bool new_core = new_l3 || q->core != p->core;
        if (new_pkg) {
            pkg_rank++;
            numa_r = -1;
        }
        if (new_numa) {
            numa_r++;
            l3_r = -1;
        }
        if (new_l3) {
            l3_r++;
            core_r = -1;
        }
        if (new_core) {
            core_r++;
            smt = -1;
        }
        smt++;
        p->pkg_rank = pkg_rank;
        p->numa_in_pkg = numa_r;
        p->l3_in_numa = l3_r;
        p->core_in_l3 = core_r;
        p->smt = smt;
        if (smt + 1 > t->max_smt)
            t->max_smt = smt + 1;
    }
    t->npackages = count_distinct(t, offsetof(struct owb_pu_info, pkg));
    if (t->npackages == 0)
        t->npackages = 1;
    t->nnuma = count_distinct(t, offsetof(struct owb_pu_info, numa));
    if (t->nnuma == 0)
        t->nnuma = 1;
    t->nl3 = count_distinct(t, offsetof(struct owb_pu_info, l3));
    t->nl2 = count_distinct(t, offsetof(struct owb_pu_info, l2));
    t->ncores = count_distinct(t, offsetof(struct owb_pu_info, core));
}

#if OWB_HAVE_HWLOC
static int obj_logical(hwloc_topology_t topo, hwloc_obj_type_t type, hwloc_obj_t pu)
{
    hwloc_obj_t a = hwloc_get_ancestor_obj_by_type(topo, type, pu);
    return a ? (int)a->logical_index : -1;
}

static void hwloc_cache(hwloc_topology_t topo, hwloc_obj_type_t type, struct owb_cache_info *c)
{
    int n = hwloc_get_nbobjs_by_type(topo, type);
    c->count = n > 0 ? n : 0;
    c->size_bytes = 0;
    c->total_bytes = 0;
    for (int i = 0; i < n; i++) {
        hwloc_obj_t o = hwloc_get_obj_by_type(topo, type, (unsigned)i);
        if (!o || !o->attr)
            continue;
        if (i == 0)
            c->size_bytes = (size_t)o->attr->cache.size;
        c->total_bytes += (size_t)o->attr->cache.size;
    }
}

static int load_hwloc(struct owb_topo *t, const char *synthetic, char err[OWB_ERR_MAX])
{
    hwloc_topology_t topo = NULL;
    cpu_set_t *aff = NULL;
    size_t affsz = 0;
    int affmax = 0;
    int rc = OWB_E_SYSTEM;

    if (hwloc_topology_init(&topo) != 0) {
        owb_seterr(err, "hwloc_topology_init failed: %s", strerror(errno));
        return OWB_E_SYSTEM;
    }
    if (synthetic && hwloc_topology_set_synthetic(topo, synthetic) != 0) {
        owb_seterr(err, "synthetic topology '%s' is not a valid hwloc description", synthetic);
        rc = OWB_E_USAGE;
        goto out;
    }
    if (hwloc_topology_load(topo) != 0) {
        owb_seterr(err, "hwloc_topology_load failed: %s", strerror(errno));
        goto out;
    }
    if (!synthetic) {
        aff = affinity_get(&affsz, &affmax);
        if (!aff) {
            owb_seterr(err, "sched_getaffinity failed: %s", strerror(errno));
            goto out;
        }
    }

    int npu = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    int ncore_hw = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    int nnuma = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    if (npu <= 0) {
        owb_seterr(err, "hwloc found no PUs%s%s", synthetic ? " in " : "",
                   synthetic ? synthetic : "");
        rc = OWB_E_USAGE;
        goto out;
    }
    t->pu = calloc((size_t)npu, sizeof *t->pu);
    t->numa_all = calloc((size_t)(nnuma > 0 ? nnuma : 1), sizeof *t->numa_all);
    if (!t->pu || !t->numa_all) {
        owb_seterr(err, "out of memory for a topology of %d PUs", npu);
        rc = OWB_E_NOMEM;
        goto out;
    }
    t->pus_total = npu;
    for (int i = 0; i < npu; i++) {
        hwloc_obj_t pu = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PU, (unsigned)i);
        if (!pu)
            continue;
        int os = (int)pu->os_index;
        if (aff && (os >= affmax || !CPU_ISSET_S((size_t)os, affsz, aff)))
            continue;
        struct owb_pu_info *p = &t->pu[t->npus++];
        p->os = os;
        p->pkg = obj_logical(topo, HWLOC_OBJ_PACKAGE, pu);
        p->l3 = obj_logical(topo, HWLOC_OBJ_L3CACHE, pu);
        p->l2 = obj_logical(topo, HWLOC_OBJ_L2CACHE, pu);
        p->core = obj_logical(topo, HWLOC_OBJ_CORE, pu);
        if (p->core < 0) /* no core level: every PU is its own core */
            p->core = ncore_hw + (int)pu->logical_index;
        p->numa = -1;
        for (int k = 0; k < nnuma; k++) {
            hwloc_obj_t nd = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)k);
            if (nd && nd->cpuset && hwloc_bitmap_isset(nd->cpuset, pu->os_index)) {
                p->numa = (int)nd->logical_index;
                break;
            }
        }
    }
    if (t->npus == 0) {
        owb_seterr(err, "none of the %d PUs hwloc found is in this process's CPU affinity", npu);
        goto out;
    }
    for (int k = 0; k < nnuma; k++) {
        hwloc_obj_t nd = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)k);
        if (!nd)
            continue;
        struct owb_numa_info *ni = &t->numa_all[t->nnuma_all++];
        ni->logical = (int)nd->logical_index;
        ni->os = (int)nd->os_index;
        ni->mem_bytes = nd->attr ? (unsigned long long)nd->attr->numanode.local_memory : 0;
    }
    hwloc_cache(topo, HWLOC_OBJ_L1CACHE, &t->l1d);
    hwloc_cache(topo, HWLOC_OBJ_L2CACHE, &t->l2);
    hwloc_cache(topo, HWLOC_OBJ_L3CACHE, &t->l3);
    t->mem_total = (unsigned long long)hwloc_get_root_obj(topo)->total_memory;
    t->hwloc = 1;
    if (synthetic)
        snprintf(t->source, sizeof t->source, "hwloc %s synthetic '%.120s'", HWLOC_VERSION,
                 synthetic);
    else
        snprintf(t->source, sizeof t->source, "hwloc %s", HWLOC_VERSION);
    rc = OWB_OK;
out:
    if (aff)
        CPU_FREE(aff);
    hwloc_topology_destroy(topo);
    return rc;
}
#endif

/* Cache of one level from /sys for the first usable CPU; instances counted over usable CPUs by
 * their cache id. */
static void sysfs_cache(struct owb_topo *t, int level, struct owb_cache_info *c)
{
    char path[256], buf[256];
    memset(c, 0, sizeof *c);
    for (int idx = 0; idx < 16; idx++) {
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/cache/index%d/level",
                 t->pu[0].os, idx);
        if (read_text(path, buf, sizeof buf) != 0)
            break;
        if (atoi(buf) != level)
            continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/cache/index%d/type", t->pu[0].os,
                 idx);
        if (read_text(path, buf, sizeof buf) == 0 && !strcmp(buf, "Instruction"))
            continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/cache/index%d/size", t->pu[0].os,
                 idx);
        if (read_text(path, buf, sizeof buf) != 0)
            return;
        c->size_bytes = parse_size(buf);
        /* Distinct ids of this cache over the usable CPUs. */
        int *ids = calloc((size_t)t->npus, sizeof *ids);
        int nid = 0;
        if (!ids)
            return;
        for (int i = 0; i < t->npus; i++) {
            snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/cache/index%d/id",
                     t->pu[i].os, idx);
            int id = read_text(path, buf, sizeof buf) == 0 ? atoi(buf) : t->pu[i].os;
            if (level == 3)
                t->pu[i].l3 = id;
            else if (level == 2)
                t->pu[i].l2 = id;
            bool seen = false;
            for (int k = 0; k < nid && !seen; k++)
                seen = ids[k] == id;
            if (!seen)
                ids[nid++] = id;
        }
        free(ids);
        c->count = nid;
        c->total_bytes = c->size_bytes * (size_t)nid;
        return;
    }
}

static int load_sysfs(struct owb_topo *t, char err[OWB_ERR_MAX])
{
    size_t affsz = 0;
    int affmax = 0;
    cpu_set_t *aff = affinity_get(&affsz, &affmax);
    if (!aff) {
        owb_seterr(err, "sched_getaffinity failed: %s", strerror(errno));
        return OWB_E_SYSTEM;
    }
    int cnt = CPU_COUNT_S(affsz, aff);
    t->pu = calloc((size_t)(cnt > 0 ? cnt : 1), sizeof *t->pu);
    t->numa_all = calloc(1, sizeof *t->numa_all);
    if (!t->pu || !t->numa_all) {
        CPU_FREE(aff);
        owb_seterr(err, "out of memory for a topology of %d CPUs", cnt);
        return OWB_E_NOMEM;
    }
    for (int c = 0; c < affmax && t->npus < cnt; c++) {
        if (!CPU_ISSET_S((size_t)c, affsz, aff))
            continue;
        struct owb_pu_info *p = &t->pu[t->npus++];
        p->os = c;
        p->pkg = 0;
        p->numa = 0;
        p->l3 = -1;
        p->l2 = -1;
        p->core = c;
    }
    CPU_FREE(aff);
    long nconf = sysconf(_SC_NPROCESSORS_CONF);
    t->pus_total = nconf > t->npus ? (int)nconf : t->npus;
    sysfs_cache(t, 1, &t->l1d);
    sysfs_cache(t, 2, &t->l2);
    sysfs_cache(t, 3, &t->l3);
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    t->mem_total = pages > 0 && psz > 0 ? (unsigned long long)pages * (unsigned long long)psz : 0;
    t->nnuma_all = 1;
    t->numa_all[0].mem_bytes = t->mem_total;
    return OWB_OK;
}

#define SWEEP_FLOOR ((size_t)64 << 20) /* owb_topo_sweep_bytes: never less */

/* OWB_SWEEP_BYTES: a size as the command line's (owb_parse_size), at least SWEEP_FLOOR. */
static int sweep_from_env(size_t *out, char err[OWB_ERR_MAX])
{
    const char *s = getenv("OWB_SWEEP_BYTES");
    *out = 0;
    if (!s || !*s)
        return OWB_OK;
    if (owb_parse_size("OWB_SWEEP_BYTES", s, out, err))
        return OWB_E_USAGE;
    if (*out < SWEEP_FLOOR) {
        owb_seterr(err, "OWB_SWEEP_BYTES '%.40s': less than the 64M a sweep needs", s);
        *out = 0;
        return OWB_E_USAGE;
    }
    return OWB_OK;
}

int owb_topo_load(const char *synthetic, struct owb_topo **out, char err[OWB_ERR_MAX])
{
    struct owb_topo *t = NULL;
    int rc;
    *out = NULL;
#if !OWB_HAVE_HWLOC
    if (synthetic) {
        owb_seterr(err,
                   "synthetic topology '%s' needs hwloc, and this build has none "
                   "(OWB_WITH_HWLOC=OFF or hwloc not found)",
                   synthetic);
        return OWB_E_UNSUPPORTED;
    }
#endif
    t = calloc(1, sizeof *t);
    if (!t) {
        owb_seterr(err, "out of memory for a topology");
        return OWB_E_NOMEM;
    }
#if OWB_HAVE_HWLOC
    char herr[OWB_ERR_MAX] = "";
    rc = load_hwloc(t, synthetic, herr);
    if (rc != OWB_OK) {
        if (synthetic || rc == OWB_E_NOMEM) {
            owb_seterr(err, "%s", herr);
            goto out;
        }
        /* This machine: fall back to /sys and say why in the source. */
        free(t->pu);
        free(t->numa_all);
        memset(t, 0, sizeof *t);
        rc = load_sysfs(t, err);
        if (rc != OWB_OK)
            goto out;
        snprintf(t->source, sizeof t->source, "sysfs (hwloc failed: %.150s)", herr);
    }
#else
    rc = load_sysfs(t, err);
    if (rc != OWB_OK)
        goto out;
    snprintf(t->source, sizeof t->source, "sysfs (built without hwloc)");
#endif
    finish_table(t);
    if (!synthetic && (rc = sweep_from_env(&t->sweep_env, err)) != OWB_OK)
        goto out;
    *out = t;
    t = NULL;
    rc = OWB_OK;
out:
    owb_topo_free(t);
    return rc;
}

struct owb_topo *owb_topo_new(const char *synthetic, char err[OWB_ERR_MAX])
{
    struct owb_topo *t = NULL;
    owb_topo_load(synthetic, &t, err);
    return t;
}

void owb_topo_free(struct owb_topo *t)
{
    if (!t)
        return;
    free(t->pu);
    free(t->numa_all);
    free(t);
}

int owb_topo_npus(const struct owb_topo *t)
{
    return t->npus;
}

int owb_topo_ncores(const struct owb_topo *t)
{
    return t->ncores;
}

int owb_topo_npackages(const struct owb_topo *t)
{
    return t->npackages;
}

int owb_topo_nnuma(const struct owb_topo *t)
{
    return t->nnuma;
}

size_t owb_topo_llc_bytes(const struct owb_topo *t)
{
    if (t->l3.total_bytes)
        return t->l3.total_bytes;
    if (t->l2.total_bytes)
        return t->l2.total_bytes;
    return OWB_TOPO_DEFAULT_LLC_BYTES;
}

size_t owb_topo_sweep_bytes(const struct owb_topo *t)
{
    if (t->sweep_env)
        return t->sweep_env;
    size_t bytes = 4 * owb_topo_llc_bytes(t);
    if (t->mem_total && bytes > t->mem_total / 16)
        bytes = (size_t)(t->mem_total / 16);
    return bytes < SWEEP_FLOOR ? SWEEP_FLOOR : bytes;
}

const char *owb_topo_source(const struct owb_topo *t)
{
    return t->source;
}

int owb_topo_from_hwloc(const struct owb_topo *t)
{
    return t->hwloc;
}

/* ---- pinning plans ---- */

struct scatter_key {
    int key[5];
    int os;
};

static int cmp_scatter(const void *a, const void *b)
{
    const struct scatter_key *x = a, *y = b;
    for (int i = 0; i < 5; i++)
        if (x->key[i] != y->key[i])
            return x->key[i] < y->key[i] ? -1 : 1;
    return 0;
}

/* Compact order restricted to NUMA node `numa` (-2: all): first PU of every core in topological
 * order, then the second, ... Returns the count written. */
static int order_compact(const struct owb_topo *t, int numa, int *cpus)
{
    int n = 0;
    for (int s = 0; s < t->max_smt; s++)
        for (int i = 0; i < t->npus; i++)
            if (t->pu[i].smt == s && (numa == -2 || t->pu[i].numa == numa))
                cpus[n++] = t->pu[i].os;
    return n;
}

static int order_scatter(const struct owb_topo *t, int *cpus)
{
    struct scatter_key *k = malloc((size_t)t->npus * sizeof *k);
    if (!k)
        return -1;
    for (int i = 0; i < t->npus; i++) {
        const struct owb_pu_info *p = &t->pu[i];
        k[i] = (struct scatter_key){
            {p->smt, p->core_in_l3, p->l3_in_numa, p->numa_in_pkg, p->pkg_rank}, p->os};
    }
    qsort(k, (size_t)t->npus, sizeof *k, cmp_scatter);
    for (int i = 0; i < t->npus; i++)
        cpus[i] = k[i].os;
    free(k);
    return t->npus;
}

static bool usable_cpu(const struct owb_topo *t, int os)
{
    for (int i = 0; i < t->npus; i++)
        if (t->pu[i].os == os)
            return true;
    return false;
}

int owb_topo_pin_plan(const struct owb_topo *t, const char *policy, int nthreads, int *cpus, int *n,
                      char err[OWB_ERR_MAX])
{
    int avail = 0;
    *n = 0;
    if (!policy || !*policy)
        policy = "compact";
    if (nthreads < 0) {
        owb_seterr(err, "--threads %d is negative (use 0 for all PUs of the policy)", nthreads);
        return OWB_E_USAGE;
    }
    if (!strcmp(policy, "compact")) {
        avail = order_compact(t, -2, cpus);
    } else if (!strcmp(policy, "scatter")) {
        avail = order_scatter(t, cpus);
        if (avail < 0) {
            owb_seterr(err, "out of memory planning policy scatter");
            return OWB_E_NOMEM;
        }
    } else if (!strcmp(policy, "none")) {
        avail = t->npus;
        for (int i = 0; i < avail; i++)
            cpus[i] = -1;
    } else if (!strncmp(policy, "numa:", 5)) {
        const char *k = policy + 5;
        char *end;
        errno = 0;
        long v = strtol(k, &end, 10);
        int maxnode = t->nnuma_all > 0 ? t->nnuma_all - 1 : 0;
        if (!isdigit((unsigned char)*k) || *end || errno || v > INT_MAX) {
            owb_seterr(err, "pinning policy '%s': K must be a NUMA node index (0-%d here)", policy,
                       maxnode);
            return OWB_E_USAGE;
        }
        if (v > maxnode) {
            owb_seterr(err,
                       "pinning policy '%s': NUMA node %ld out of range (this topology has %d "
                       "NUMA node%s: 0-%d)",
                       policy, v, maxnode + 1, maxnode ? "s" : "", maxnode);
            return OWB_E_USAGE;
        }
        avail = order_compact(t, (int)v, cpus);
        if (avail == 0) {
            owb_seterr(err, "pinning policy '%s': NUMA node %ld has no PUs this process may use",
                       policy, v);
            return OWB_E_USAGE;
        }
    } else if (!strncmp(policy, "list:", 5)) {
        char perr[256];
        if (parse_cpulist(policy + 5, cpus, t->npus, &avail, perr, sizeof perr) != OWB_OK) {
            owb_seterr(err, "pinning policy '%s': %s", policy, perr);
            return OWB_E_USAGE;
        }
        for (int i = 0; i < avail; i++) {
            if (!usable_cpu(t, cpus[i])) {
                char lst[128];
                int *all = malloc((size_t)t->npus * sizeof *all);
                if (all) {
                    for (int j = 0; j < t->npus; j++)
                        all[j] = t->pu[j].os;
                    owb_cpulist_format(all, t->npus, lst, sizeof lst);
                    free(all);
                } else {
                    snprintf(lst, sizeof lst, "?");
                }
                owb_seterr(err, "pinning policy '%s': CPU %d is not one of the %d usable PUs (%s)",
                           policy, cpus[i], t->npus, lst);
                return OWB_E_USAGE;
            }
        }
    } else {
        owb_seterr(err,
                   "unknown pinning policy '%s' (use compact, scatter, numa:K, list:CPUS or none)",
                   policy);
        return OWB_E_USAGE;
    }
    if (nthreads > avail) {
        owb_seterr(err, "--threads %d exceeds the %d PU%s of policy %s", nthreads, avail,
                   avail == 1 ? "" : "s", policy);
        return OWB_E_USAGE;
    }
    *n = nthreads ? nthreads : avail;
    return OWB_OK;
}

/* ---- output ---- */

char *owb_cpulist_format(const int *cpus, int n, char *buf, size_t len)
{
    size_t used = 0;
    if (!len)
        return buf;
    buf[0] = '\0';
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && cpus[i] >= 0 && cpus[j + 1] == cpus[j] + 1)
            j++;
        char item[48];
        if (cpus[i] < 0)
            snprintf(item, sizeof item, "%snone", used ? "," : "");
        else if (j > i)
            snprintf(item, sizeof item, "%s%d-%d", used ? "," : "", cpus[i], cpus[j]);
        else
            snprintf(item, sizeof item, "%s%d", used ? "," : "", cpus[i]);
        size_t il = strlen(item);
        if (used + il + 4 >= len) { /* keep room for "..." and the NUL */
            if (used + 4 <= len)
                memcpy(buf + used, "...", 4);
            return buf;
        }
        memcpy(buf + used, item, il + 1);
        used += il;
        i = j + 1;
    }
    return buf;
}

static cJSON *cache_json(const struct owb_cache_info *c)
{
    cJSON *o = cJSON_CreateObject();
    if (!c->size_bytes) {
        cJSON_AddStringToObject(o, "na", "size not reported by the topology source");
        return o;
    }
    cJSON_AddNumberToObject(o, "size_bytes", (double)c->size_bytes);
    cJSON_AddNumberToObject(o, "count", c->count);
    cJSON_AddNumberToObject(o, "total_bytes", (double)c->total_bytes);
    return o;
}

static void numa_cpus(const struct owb_topo *t, int numa, char *buf, size_t len)
{
    int *c = malloc((size_t)t->npus * sizeof *c);
    int n = 0;
    if (!c) {
        snprintf(buf, len, "?");
        return;
    }
    for (int i = 0; i < t->npus; i++)
        if (t->pu[i].numa == numa || (numa == 0 && t->pu[i].numa < 0))
            c[n++] = t->pu[i].os;
    /* Sorted OS order reads best ("0-7,16-23"). */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && c[j - 1] > c[j]; j--) {
            int x = c[j];
            c[j] = c[j - 1];
            c[j - 1] = x;
        }
    owb_cpulist_format(c, n, buf, len);
    free(c);
}

cJSON *owb_topo_summary_json(const struct owb_topo *t)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "source", t->source);
    cJSON_AddNumberToObject(o, "packages", t->npackages);
    cJSON_AddNumberToObject(o, "numa_nodes", t->nnuma);
    cJSON_AddNumberToObject(o, "l3_domains", t->nl3);
    cJSON_AddNumberToObject(o, "l2_domains", t->nl2);
    cJSON_AddNumberToObject(o, "cores", t->ncores);
    cJSON_AddNumberToObject(o, "pus", t->npus);
    cJSON_AddNumberToObject(o, "pus_total", t->pus_total);
    cJSON_AddNumberToObject(o, "smt_per_core", t->max_smt);
    cJSON *caches = cJSON_AddObjectToObject(o, "caches");
    if (caches) {
        cJSON_AddItemToObject(caches, "l1d", cache_json(&t->l1d));
        cJSON_AddItemToObject(caches, "l2", cache_json(&t->l2));
        cJSON_AddItemToObject(caches, "l3", cache_json(&t->l3));
    }
    cJSON_AddNumberToObject(o, "llc_bytes", (double)owb_topo_llc_bytes(t));
    cJSON_AddNumberToObject(o, "sweep_bytes", (double)owb_topo_sweep_bytes(t));
    cJSON_AddNumberToObject(o, "memory_bytes", (double)t->mem_total);
    cJSON *numa = cJSON_AddArrayToObject(o, "numa");
    for (int k = 0; numa && k < t->nnuma_all; k++) {
        char lst[512];
        cJSON *nd = cJSON_CreateObject();
        cJSON_AddNumberToObject(nd, "index", t->numa_all[k].logical);
        cJSON_AddNumberToObject(nd, "os_index", t->numa_all[k].os);
        cJSON_AddNumberToObject(nd, "memory_bytes", (double)t->numa_all[k].mem_bytes);
        numa_cpus(t, t->numa_all[k].logical, lst, sizeof lst);
        cJSON_AddStringToObject(nd, "cpus", lst);
        cJSON_AddItemToArray(numa, nd);
    }
    return o;
}

cJSON *owb_topo_to_json(const struct owb_topo *t)
{
    cJSON *o = owb_topo_summary_json(t);
    if (!o)
        return NULL;
    cJSON *pkgs = cJSON_AddArrayToObject(o, "packages_tree");
    cJSON *pkg = NULL, *numas = NULL, *l3s = NULL, *cores = NULL, *pus = NULL;
    for (int i = 0; pkgs && i < t->npus; i++) {
        const struct owb_pu_info *p = &t->pu[i];
        const struct owb_pu_info *q = i ? &t->pu[i - 1] : NULL;
        bool new_pkg = !q || q->pkg != p->pkg;
        bool new_numa = new_pkg || q->numa != p->numa;
        bool new_l3 = new_numa || q->l3 != p->l3;
        bool new_core = new_l3 || q->core != p->core;
        if (new_pkg) {
            pkg = cJSON_CreateObject();
            cJSON_AddNumberToObject(pkg, "index", p->pkg);
            numas = cJSON_AddArrayToObject(pkg, "numa_nodes");
            cJSON_AddItemToArray(pkgs, pkg);
        }
        if (new_numa) {
            cJSON *nd = cJSON_CreateObject();
            cJSON_AddNumberToObject(nd, "index", p->numa);
            for (int k = 0; k < t->nnuma_all; k++)
                if (t->numa_all[k].logical == p->numa)
                    cJSON_AddNumberToObject(nd, "memory_bytes", (double)t->numa_all[k].mem_bytes);
            l3s = cJSON_AddArrayToObject(nd, "l3");
            cJSON_AddItemToArray(numas, nd);
        }
        if (new_l3) {
            cJSON *l3 = cJSON_CreateObject();
            cJSON_AddNumberToObject(l3, "index", p->l3);
            if (p->l3 >= 0 && t->l3.size_bytes)
                cJSON_AddNumberToObject(l3, "size_bytes", (double)t->l3.size_bytes);
            cores = cJSON_AddArrayToObject(l3, "cores");
            cJSON_AddItemToArray(l3s, l3);
        }
        if (new_core) {
            cJSON *core = cJSON_CreateObject();
            cJSON_AddNumberToObject(core, "index", p->core);
            cJSON_AddNumberToObject(core, "l2", p->l2);
            pus = cJSON_AddArrayToObject(core, "pus");
            cJSON_AddItemToArray(cores, core);
        }
        cJSON_AddItemToArray(pus, cJSON_CreateNumber(p->os));
    }
    return o;
}

static const char *human_bytes(unsigned long long b, char *buf, size_t len)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    if (v == (double)(unsigned long long)v)
        snprintf(buf, len, "%llu %s", (unsigned long long)v, unit[u]);
    else
        snprintf(buf, len, "%.1f %s", v, unit[u]);
    return buf;
}

static void print_cache(FILE *f, const char *name, const struct owb_cache_info *c)
{
    char b[32];
    if (c->size_bytes)
        fprintf(f, "%s %s x%d", name, human_bytes(c->size_bytes, b, sizeof b), c->count);
    else
        fprintf(f, "%s ?", name);
}

void owb_topo_print(const struct owb_topo *t, FILE *f)
{
    char b[64];
    fprintf(f, "topology: %s\n", t->source);
    fprintf(f, "  %d package%s, %d NUMA node%s, %d L3 domain%s, %d core%s, %d PU%s usable",
            t->npackages, t->npackages == 1 ? "" : "s", t->nnuma, t->nnuma == 1 ? "" : "s", t->nl3,
            t->nl3 == 1 ? "" : "s", t->ncores, t->ncores == 1 ? "" : "s", t->npus,
            t->npus == 1 ? "" : "s");
    fprintf(f, " (%d in the machine), %d PU%s per core\n", t->pus_total, t->max_smt,
            t->max_smt == 1 ? "" : "s");
    fprintf(f, "  caches: ");
    print_cache(f, "L1d", &t->l1d);
    fprintf(f, ", ");
    print_cache(f, "L2", &t->l2);
    fprintf(f, ", ");
    print_cache(f, "L3", &t->l3);
    fprintf(f, "; LLC total %s\n", human_bytes(owb_topo_llc_bytes(t), b, sizeof b));
    for (int k = 0; k < t->nnuma_all; k++) {
        char lst[256];
        numa_cpus(t, t->numa_all[k].logical, lst, sizeof lst);
        fprintf(f, "  NUMA node %d (P#%d): %s, CPUs %s\n", t->numa_all[k].logical,
                t->numa_all[k].os, human_bytes(t->numa_all[k].mem_bytes, b, sizeof b),
                *lst ? lst : "none");
    }
    /* The tree: one line per core while it stays readable, else one line per L3 domain. */
    bool per_core = t->ncores <= 64;
    int *grp = malloc((size_t)t->npus * sizeof *grp);
    if (!grp)
        return;
    for (int i = 0; i < t->npus;) {
        const struct owb_pu_info *p = &t->pu[i];
        if (i == 0 || t->pu[i - 1].pkg != p->pkg)
            fprintf(f, "  package %d\n", p->pkg);
        if (i == 0 || t->pu[i - 1].pkg != p->pkg || t->pu[i - 1].numa != p->numa)
            fprintf(f, "    NUMA node %d\n", p->numa);
        if (i == 0 || t->pu[i - 1].pkg != p->pkg || t->pu[i - 1].numa != p->numa ||
            t->pu[i - 1].l3 != p->l3) {
            if (p->l3 >= 0)
                fprintf(f, "      L3 %d\n", p->l3);
            else
                fprintf(f, "      (no L3)\n");
        }
        int j = i, n = 0;
        while (j < t->npus && t->pu[j].pkg == p->pkg && t->pu[j].numa == p->numa &&
               t->pu[j].l3 == p->l3 && (!per_core || t->pu[j].core == p->core))
            grp[n++] = t->pu[j++].os;
        char lst[256];
        owb_cpulist_format(grp, n, lst, sizeof lst);
        if (per_core)
            fprintf(f, "        core %d: PU%s %s\n", p->core, n > 1 ? "s" : "", lst);
        else
            fprintf(f, "        PUs %s\n", lst);
        i = j;
    }
    free(grp);
}
