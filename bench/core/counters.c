/* SPDX-License-Identifier: MIT */
/*
 * counters.c: PAPI event sets per worker thread and getrusage(RUSAGE_THREAD) deltas. At creation
 * every requested event is probed on the calling thread (name → code, then a trial
 * PAPI_add_event into a scratch event set) so unavailable ones are known up front with the reason
 * PAPI gives; each worker then builds its own event sets (PAPI binds an event set to one component
 * and to the thread that starts it) lazily on its first start. Failures on a worker turn that
 * event into "na" for the whole run, since a partial sum over threads would mislead.
 */
#define _GNU_SOURCE
#include "bench/core/counters.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>

#include "bench/core/pool.h"
#include "owb_config.h"

#if OWB_HAVE_PAPI
#include <papi.h>
#endif

#define OWB_CTR_NAME_MAX 128
#define OWB_CTR_REASON_MAX 320
#define OWB_CTR_MAX_SETS 8 /* PAPI components one thread may use at once */

enum { RU_NVCSW, RU_NIVCSW, RU_MINFLT, RU_MAJFLT, RU_N };
static const char *const ru_names[RU_N] = {"rusage_nvcsw", "rusage_nivcsw", "rusage_minflt",
                                           "rusage_majflt"};

struct owb_ctr_event {
    char name[OWB_CTR_NAME_MAX]; /* JSON key: the alternative in use, else the first one */
    int avail;                   /* probe succeeded: workers add it */
    int code;                    /* PAPI event code */
    int cidx;                    /* PAPI component index */
    char na[OWB_CTR_REASON_MAX]; /* probe failure reason (fixed after new) */
};

struct owb_ctr_thread {
    _Alignas(64) int ready; /* event sets built */
    pthread_t owner;        /* the thread that built them */
    int nsets;
    int set[OWB_CTR_MAX_SETS];
    int set_cidx[OWB_CTR_MAX_SETS]; /* PAPI component of each set */
    int set_running[OWB_CTR_MAX_SETS];
    int set_nev[OWB_CTR_MAX_SETS];
    int set_ev[OWB_CTR_MAX_SETS][OWB_COUNTERS_MAX_EVENTS]; /* event index of each set position */
    long long acc[OWB_COUNTERS_MAX_EVENTS];
    int counted[OWB_COUNTERS_MAX_EVENTS];
    struct rusage ru0;
    int ru_running;
    int ru_counted;
    long long ru_acc[RU_N];
};

struct owb_counters {
    int nev;
    struct owb_ctr_event ev[OWB_COUNTERS_MAX_EVENTS];
    int nthreads;
    struct owb_ctr_thread *thr; /* (nthreads) */
    pthread_mutex_t mu;         /* guards late_na and summary updates from workers */
    char late_na[OWB_COUNTERS_MAX_EVENTS][OWB_CTR_REASON_MAX]; /* failures on a worker thread */
    char summary[1024];
};

/* ---- PAPI initialisation and probing ---- */

#if OWB_HAVE_PAPI
static pthread_once_t papi_once = PTHREAD_ONCE_INIT;
static int papi_ok;
static char papi_init_reason[OWB_CTR_REASON_MAX];

static unsigned long papi_thread_id(void)
{
    return (unsigned long)pthread_self();
}

static void papi_init(void)
{
    int rc = PAPI_library_init(PAPI_VER_CURRENT);
    if (rc != PAPI_VER_CURRENT) {
        snprintf(papi_init_reason, sizeof papi_init_reason, "PAPI_library_init: %s",
                 rc < 0 ? PAPI_strerror(rc) : "library version differs from the headers");
        return;
    }
    rc = PAPI_thread_init(papi_thread_id);
    if (rc != PAPI_OK) {
        snprintf(papi_init_reason, sizeof papi_init_reason, "PAPI_thread_init: %s",
                 PAPI_strerror(rc));
        return;
    }
    papi_ok = 1;
}

/* What PAPI says about a component, to explain a failed add: disabled reason, or the count of
 * preset events and whether PAPI detected a virtual machine. */
static void component_context(int cidx, char *buf, size_t len)
{
    const PAPI_component_info_t *ci = PAPI_get_component_info(cidx);
    const PAPI_hw_info_t *hw = PAPI_get_hardware_info();
    buf[0] = '\0';
    if (!ci)
        return;
    if (ci->disabled) {
        snprintf(buf, len, " (PAPI component %.40s disabled: %.160s)", ci->name,
                 ci->disabled_reason);
        return;
    }
    if (cidx == 0) {
        snprintf(buf, len, " (PAPI component %.40s: %d preset events available%s%s%.40s)", ci->name,
                 ci->num_preset_events,
                 hw && hw->virtualized ? "; PAPI detects a virtual machine" : "",
                 hw && hw->virtualized && hw->virtual_vendor_string[0] ? ": " : "",
                 hw && hw->virtualized ? hw->virtual_vendor_string : "");
    }
}

/* Try one event name on the calling thread. 0 with code/cidx, or -1 with reason. */
static int probe_event(const char *name, int *code, int *cidx, char *reason, size_t len)
{
    char ctx[256];
    int es = PAPI_NULL, rc;
    if (strncmp(name, "sde:::owbench::", 15) == 0)
        owb_pool_sde_init();
    rc = PAPI_event_name_to_code(name, code);
    if (rc != PAPI_OK) {
        snprintf(reason, len, "PAPI_event_name_to_code: %s", PAPI_strerror(rc));
        return -1;
    }
    *cidx = PAPI_get_event_component(*code);
    rc = PAPI_create_eventset(&es);
    if (rc != PAPI_OK) {
        snprintf(reason, len, "PAPI_create_eventset: %s", PAPI_strerror(rc));
        return -1;
    }
    rc = PAPI_add_event(es, *code);
    if (rc != PAPI_OK) {
        component_context(*cidx, ctx, sizeof ctx);
        snprintf(reason, len, "PAPI_add_event: %s%s", PAPI_strerror(rc), ctx);
    }
    PAPI_cleanup_eventset(es);
    PAPI_destroy_eventset(&es);
    return rc == PAPI_OK ? 0 : -1;
}
#endif

void owb_counters_papi_status(bool *compiled, bool *active, char reason[OWB_ERR_MAX])
{
#if OWB_HAVE_PAPI
    *compiled = true;
    pthread_once(&papi_once, papi_init);
    if (!papi_ok) {
        *active = false;
        owb_seterr(reason, "%s", papi_init_reason);
        return;
    }
    *active = true;
    int v = PAPI_get_opt(PAPI_LIB_VERSION, NULL);
    char why[OWB_CTR_REASON_MAX];
    int code, cidx;
    if (probe_event("PAPI_TOT_CYC", &code, &cidx, why, sizeof why) != 0) {
        owb_seterr(reason,
                   "PAPI %d.%d.%d.%d: 0 hardware counters usable (virtual machine?): "
                   "PAPI_TOT_CYC: %s",
                   PAPI_VERSION_MAJOR(v), PAPI_VERSION_MINOR(v), PAPI_VERSION_REVISION(v),
                   PAPI_VERSION_INCREMENT(v), why);
        return;
    }
    const PAPI_component_info_t *ci = PAPI_get_component_info(cidx);
    owb_seterr(reason, "PAPI %d.%d.%d.%d: component %s with %d preset events, %d counters",
               PAPI_VERSION_MAJOR(v), PAPI_VERSION_MINOR(v), PAPI_VERSION_REVISION(v),
               PAPI_VERSION_INCREMENT(v), ci ? ci->name : "?", ci ? ci->num_preset_events : 0,
               ci ? ci->num_cntrs : 0);
#else
    *compiled = false;
    *active = false;
    owb_seterr(reason, "built without PAPI");
#endif
}

/* ---- list parsing ---- */

static void trim(char *s)
{
    size_t n = strlen(s), i = 0;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    while (s[i] == ' ' || s[i] == '\t')
        i++;
    memmove(s, s + i, n - i + 1);
}

/* Resolve one item "A|B|..." into ev: the first alternative that PAPI can count. */
static int resolve_item(struct owb_counters *c, const char *list, char *item, int pos,
                        char err[OWB_ERR_MAX])
{
    struct owb_ctr_event *ev = &c->ev[c->nev];
    int nalt = 0;
    memset(ev, 0, sizeof *ev);
    for (char *alt = item, *bar; alt; alt = bar ? bar + 1 : NULL) {
        bar = strchr(alt, '|');
        if (bar)
            *bar = '\0';
        trim(alt);
        if (!*alt) {
            owb_seterr(err, "counter list '%s': item %d has an empty alternative", list, pos);
            return OWB_E_USAGE;
        }
        if (strlen(alt) >= OWB_CTR_NAME_MAX) {
            owb_seterr(err, "counter list '%s': event name '%.40s...' is longer than %d characters",
                       list, alt, OWB_CTR_NAME_MAX - 1);
            return OWB_E_USAGE;
        }
        size_t alen = strlen(alt); /* < OWB_CTR_NAME_MAX, checked above */
        if (nalt++ == 0)
            memcpy(ev->name, alt, alen + 1);
        if (ev->avail)
            continue;
#if OWB_HAVE_PAPI
        char why[OWB_CTR_REASON_MAX];
        if (!papi_ok) {
            snprintf(ev->na, sizeof ev->na, "%s", papi_init_reason);
        } else if (probe_event(alt, &ev->code, &ev->cidx, why, sizeof why) == 0) {
            memcpy(ev->name, alt, alen + 1);
            ev->avail = 1;
        } else if (nalt == 1) {
            snprintf(ev->na, sizeof ev->na, "%s", why);
        } else {
            size_t l = strlen(ev->na);
            snprintf(ev->na + l, sizeof ev->na - l, "; %s: %s", alt, why);
        }
#else
        snprintf(ev->na, sizeof ev->na, "built without PAPI");
#endif
    }
    for (int i = 0; i < c->nev; i++) {
        if (!strcmp(c->ev[i].name, ev->name)) {
            owb_seterr(err, "counter list '%s': %s is listed twice", list, ev->name);
            return OWB_E_USAGE;
        }
    }
    if (ev->avail)
        ev->na[0] = '\0';
    c->nev++;
    return OWB_OK;
}

static int parse_list(struct owb_counters *c, const char *list, char err[OWB_ERR_MAX])
{
    char *copy = NULL;
    int rc = OWB_OK, pos = 0;
    if (!strcmp(list, "none"))
        return OWB_OK;
    copy = strdup(list);
    if (!copy) {
        owb_seterr(err, "out of memory parsing counter list '%s'", list);
        return OWB_E_NOMEM;
    }
    /* strtok would merge ",," and hide an empty item: walk the commas by hand. */
    char *p = copy;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        pos++;
        char tmp[OWB_ERR_MAX];
        snprintf(tmp, sizeof tmp, "%s", p);
        trim(tmp);
        if (!*tmp) {
            owb_seterr(err, "counter list '%s': item %d is empty", list, pos);
            rc = OWB_E_USAGE;
            goto out;
        }
        if (c->nev >= OWB_COUNTERS_MAX_EVENTS) {
            owb_seterr(err, "counter list '%s': more than %d events", list,
                       OWB_COUNTERS_MAX_EVENTS);
            rc = OWB_E_USAGE;
            goto out;
        }
        rc = resolve_item(c, list, tmp, pos, err);
        if (rc != OWB_OK)
            goto out;
        if (!comma)
            break;
        p = comma + 1;
    }
out:
    free(copy);
    return rc;
}

/* Rebuild the one-line summary: events grouped by reason. Caller holds mu or is the only user. */
static void build_summary(struct owb_counters *c)
{
    size_t used = 0;
    int done[OWB_COUNTERS_MAX_EVENTS] = {0};
    c->summary[0] = '\0';
    for (int i = 0; i < c->nev; i++) {
        const char *why = c->ev[i].avail ? c->late_na[i] : c->ev[i].na;
        if (done[i] || !*why)
            continue;
        used += (size_t)snprintf(c->summary + used, sizeof c->summary - used, "%s%s",
                                 used ? "; " : "counters unavailable: ", c->ev[i].name);
        for (int j = i + 1; j < c->nev && used < sizeof c->summary; j++) {
            const char *wj = c->ev[j].avail ? c->late_na[j] : c->ev[j].na;
            if (!done[j] && !strcmp(wj, why)) {
                done[j] = 1;
                used += (size_t)snprintf(c->summary + used, sizeof c->summary - used, ", %s",
                                         c->ev[j].name);
            }
        }
        if (used < sizeof c->summary)
            used += (size_t)snprintf(c->summary + used, sizeof c->summary - used, " (%s)", why);
        if (used >= sizeof c->summary) {
            used = sizeof c->summary - 1;
            break;
        }
    }
}

struct owb_counters *owb_counters_new(const char *list, int nthreads, char err[OWB_ERR_MAX])
{
    struct owb_counters *c = NULL;
    if (nthreads < 1) {
        owb_seterr(err, "counters need at least 1 thread (got %d)", nthreads);
        return NULL;
    }
    c = calloc(1, sizeof *c);
    if (!c)
        goto nomem;
    c->nthreads = nthreads;
    c->thr = aligned_alloc(64, (size_t)nthreads * sizeof *c->thr);
    if (!c->thr)
        goto nomem;
    memset(c->thr, 0, (size_t)nthreads * sizeof *c->thr);
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c->thr);
        free(c);
        owb_seterr(err, "cannot create the counters' mutex");
        return NULL;
    }
#if OWB_HAVE_PAPI
    pthread_once(&papi_once, papi_init);
#endif
    if (parse_list(c, list ? list : OWB_COUNTERS_DEFAULT, err) != OWB_OK) {
        owb_counters_free(c);
        return NULL;
    }
    build_summary(c);
    return c;
nomem:
    if (c)
        free(c->thr);
    free(c);
    owb_seterr(err, "out of memory creating counters for %d threads", nthreads);
    return NULL;
}

#if OWB_HAVE_PAPI
static void late_fail(struct owb_counters *c, int ev, int tid, const char *what, int rc)
{
    pthread_mutex_lock(&c->mu);
    if (!c->late_na[ev][0]) {
        char ctx[256];
        component_context(c->ev[ev].cidx, ctx, sizeof ctx);
        snprintf(c->late_na[ev], sizeof c->late_na[ev], "%s on worker %d: %s%s", what, tid,
                 PAPI_strerror(rc), ctx);
        build_summary(c);
    }
    pthread_mutex_unlock(&c->mu);
}

static void destroy_sets(struct owb_ctr_thread *t)
{
    long long scratch[OWB_COUNTERS_MAX_EVENTS];
    for (int s = 0; s < t->nsets; s++) {
        if (t->set_running[s])
            PAPI_stop(t->set[s], scratch);
        PAPI_cleanup_eventset(t->set[s]);
        PAPI_destroy_eventset(&t->set[s]);
        t->set_running[s] = 0;
    }
    t->nsets = 0;
    t->ready = 0;
}

/* Build this thread's event sets: one per component among the available events. */
static void build_sets(struct owb_counters *c, struct owb_ctr_thread *t, int tid)
{
    t->owner = pthread_self();
    t->ready = 1;
    for (int i = 0; i < c->nev; i++) {
        if (!c->ev[i].avail)
            continue;
        int s = 0;
        while (s < t->nsets && t->set_cidx[s] != c->ev[i].cidx)
            s++;
        if (s == t->nsets) {
            if (s == OWB_CTR_MAX_SETS) {
                late_fail(c, i, tid, "too many PAPI components in one list", PAPI_ECMP);
                continue;
            }
            int es = PAPI_NULL, rc = PAPI_create_eventset(&es);
            if (rc != PAPI_OK) {
                late_fail(c, i, tid, "PAPI_create_eventset", rc);
                continue;
            }
            t->set[s] = es;
            t->set_cidx[s] = c->ev[i].cidx;
            t->set_nev[s] = 0;
            t->nsets++;
        }
        int rc = PAPI_add_event(t->set[s], c->ev[i].code);
        if (rc != PAPI_OK) {
            late_fail(c, i, tid, "PAPI_add_event", rc);
            continue;
        }
        t->set_ev[s][t->set_nev[s]++] = i;
    }
}
#endif

void owb_counters_thread_start(struct owb_counters *c, int tid)
{
    OWB_ASSERT(c && tid >= 0 && tid < c->nthreads);
    struct owb_ctr_thread *t = &c->thr[tid];
#if OWB_HAVE_PAPI
    if (papi_ok) {
        if (t->ready && !pthread_equal(t->owner, pthread_self()))
            destroy_sets(t);
        if (!t->ready)
            build_sets(c, t, tid);
    }
#endif
    getrusage(RUSAGE_THREAD, &t->ru0);
    t->ru_running = 1;
#if OWB_HAVE_PAPI
    for (int s = 0; papi_ok && s < t->nsets; s++) {
        if (t->set_nev[s] == 0)
            continue;
        int rc = PAPI_start(t->set[s]);
        if (rc != PAPI_OK) {
            for (int k = 0; k < t->set_nev[s]; k++)
                late_fail(c, t->set_ev[s][k], tid, "PAPI_start", rc);
            continue;
        }
        t->set_running[s] = 1;
    }
#endif
}

void owb_counters_thread_stop(struct owb_counters *c, int tid)
{
    OWB_ASSERT(c && tid >= 0 && tid < c->nthreads);
    struct owb_ctr_thread *t = &c->thr[tid];
#if OWB_HAVE_PAPI
    for (int s = 0; s < t->nsets; s++) {
        if (!t->set_running[s])
            continue;
        long long v[OWB_COUNTERS_MAX_EVENTS] = {0};
        int rc = PAPI_stop(t->set[s], v);
        t->set_running[s] = 0;
        if (rc != PAPI_OK) {
            for (int k = 0; k < t->set_nev[s]; k++)
                late_fail(c, t->set_ev[s][k], tid, "PAPI_stop", rc);
            continue;
        }
        for (int k = 0; k < t->set_nev[s]; k++) {
            t->acc[t->set_ev[s][k]] += v[k];
            t->counted[t->set_ev[s][k]] = 1;
        }
    }
#endif
    if (!t->ru_running)
        return;
    struct rusage ru1;
    getrusage(RUSAGE_THREAD, &ru1);
    t->ru_acc[RU_NVCSW] += ru1.ru_nvcsw - t->ru0.ru_nvcsw;
    t->ru_acc[RU_NIVCSW] += ru1.ru_nivcsw - t->ru0.ru_nivcsw;
    t->ru_acc[RU_MINFLT] += ru1.ru_minflt - t->ru0.ru_minflt;
    t->ru_acc[RU_MAJFLT] += ru1.ru_majflt - t->ru0.ru_majflt;
    t->ru_running = 0;
    t->ru_counted = 1;
}

void owb_counters_reset(struct owb_counters *c)
{
    for (int i = 0; i < c->nthreads; i++) {
        memset(c->thr[i].acc, 0, sizeof c->thr[i].acc);
        memset(c->thr[i].counted, 0, sizeof c->thr[i].counted);
        memset(c->thr[i].ru_acc, 0, sizeof c->thr[i].ru_acc);
        c->thr[i].ru_counted = 0;
    }
}

void owb_counters_free(struct owb_counters *c)
{
    if (!c)
        return;
#if OWB_HAVE_PAPI
    /* PAPI lets another thread tear down a stopped event set; failures only leak a descriptor. */
    for (int i = 0; i < c->nthreads; i++)
        if (c->thr[i].ready)
            destroy_sets(&c->thr[i]);
#endif
    pthread_mutex_destroy(&c->mu);
    free(c->thr);
    free(c);
}

/* Value of event i over threads: sum for per-thread (CPU component) events, max otherwise. */
static int event_total(const struct owb_counters *c, int i, long long *out)
{
    const struct owb_ctr_event *ev = &c->ev[i];
    long long v = 0;
    int any = 0;
    if (!ev->avail || c->late_na[i][0])
        return OWB_E_UNSUPPORTED;
    for (int k = 0; k < c->nthreads; k++) {
        const struct owb_ctr_thread *t = &c->thr[k];
        if (!t->counted[i])
            continue;
        if (ev->cidx == 0)
            v += t->acc[i];
        else if (!any || t->acc[i] > v)
            v = t->acc[i];
        any = 1;
    }
    if (!any)
        return OWB_E_UNSUPPORTED;
    *out = v;
    return OWB_OK;
}

int owb_counters_value(const struct owb_counters *c, const char *name, long long *out)
{
    for (int i = 0; i < c->nev; i++)
        if (!strcmp(c->ev[i].name, name))
            return event_total(c, i, out);
    return OWB_E_UNSUPPORTED;
}

static cJSON *na(const char *reason)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "na", reason);
    return o;
}

cJSON *owb_counters_to_json(const struct owb_counters *c)
{
    cJSON *o = cJSON_CreateObject();
    int ins = -1, cyc = -1;
    if (!o)
        return NULL;
    for (int i = 0; i < c->nev; i++) {
        long long v;
        const struct owb_ctr_event *ev = &c->ev[i];
        cJSON *item;
        if (!ev->avail)
            item = na(ev->na);
        else if (c->late_na[i][0])
            item = na(c->late_na[i]);
        else if (event_total(c, i, &v) == OWB_OK)
            item = cJSON_CreateNumber((double)v);
        else
            item = na("not measured: no thread started and stopped the counters");
        cJSON_AddItemToObject(o, ev->name, item);
        if (!strcmp(ev->name, "PAPI_TOT_INS"))
            ins = i;
        if (!strcmp(ev->name, "PAPI_TOT_CYC"))
            cyc = i;
    }
    if (ins >= 0 && cyc >= 0) {
        long long vi, vc;
        if (event_total(c, ins, &vi) == OWB_OK && event_total(c, cyc, &vc) == OWB_OK && vc > 0) {
            cJSON_AddNumberToObject(o, "ipc", (double)vi / (double)vc);
        } else {
            cJSON_AddItemToObject(o, "ipc",
                                  na("needs PAPI_TOT_INS and PAPI_TOT_CYC, and at least one is "
                                     "not available"));
        }
    }
    for (int r = 0; r < RU_N; r++) {
        long long v = 0;
        for (int k = 0; k < c->nthreads; k++)
            v += c->thr[k].ru_acc[r];
        cJSON_AddNumberToObject(o, ru_names[r], (double)v);
    }
    return o;
}

const char *owb_counters_missing_summary(const struct owb_counters *c)
{
    return c->summary[0] ? c->summary : NULL;
}
