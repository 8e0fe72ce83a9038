/* SPDX-License-Identifier: MIT */
/*
 * ranks.c: ranks over Open MPI when compiled in and launched by mpirun, one local rank otherwise.
 * Every MPI call of owbench is in this file.
 */
#define _POSIX_C_SOURCE 200809L
#include "dist/ranks.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "owb_config.h"

#if OWB_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank, g_size = 1, g_local_rank, g_local_size = 1, g_mpi, g_agreed_fail;
static char g_host[256];
static char g_why[OWB_ERR_MAX];

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The environment variable that says an MPI starter launched us, or NULL. */
static const char *launcher_var(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < OWB_ARRAY_LEN(vars); i++)
        if (getenv(vars[i]))
            return vars[i];
    return NULL;
}

int owb_ranks_init(int *argc, char ***argv, char err[OWB_ERR_MAX])
{
    const char *var = launcher_var();
    if (gethostname(g_host, sizeof g_host - 1))
        snprintf(g_host, sizeof g_host, "unknown");
#if OWB_HAVE_MPI
    if (!var) {
        snprintf(g_why, sizeof g_why,
                 "not launched by mpirun (OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_SIZE unset)");
        return OWB_OK;
    }
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        snprintf(err, OWB_ERR_MAX, "MPI_Init_thread failed (launched by mpirun: %s is set)", var);
        return OWB_E_SYSTEM;
    }
    /* Failures come back as return codes where MPI can still report them; a rank that dies is
     * handled by mpirun, which ends the job and names the rank. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &node) ==
        MPI_SUCCESS) {
        MPI_Comm_rank(node, &g_local_rank);
        MPI_Comm_size(node, &g_local_size);
        MPI_Comm_free(&node);
    }
    g_mpi = 1;
    {
        char ver[MPI_MAX_LIBRARY_VERSION_STRING];
        int len = 0;
        MPI_Get_library_version(ver, &len);
        char *nl = strchr(ver, ',');
        if (nl)
            *nl = '\0';
        snprintf(g_why, sizeof g_why, "rank %d of %d (%s, launched: %s)", g_rank, g_size, ver, var);
    }
#else
    (void)argc;
    (void)argv;
    (void)err;
    if (var)
        snprintf(g_why, sizeof g_why,
                 "built without MPI, but launched by mpirun (%s is set): every rank runs alone",
                 var);
    else
        snprintf(g_why, sizeof g_why, "built without MPI");
#endif
    return OWB_OK;
}

void owb_ranks_finalize(void)
{
#if OWB_HAVE_MPI
    if (g_mpi) {
        MPI_Finalize();
        g_mpi = 0;
    }
#endif
}

void owb_ranks_abort(int code)
{
    fflush(stdout);
    fflush(stderr);
#if OWB_HAVE_MPI
    if (g_mpi)
        MPI_Abort(MPI_COMM_WORLD, code);
#endif
    exit(code);
}

int owb_ranks_rank(void)
{
    return g_rank;
}

int owb_ranks_size(void)
{
    return g_size;
}

int owb_ranks_local_rank(void)
{
    return g_local_rank;
}

int owb_ranks_local_size(void)
{
    return g_local_size;
}

const char *owb_ranks_host(void)
{
    if (!g_host[0] && gethostname(g_host, sizeof g_host - 1))
        snprintf(g_host, sizeof g_host, "unknown");
    return g_host;
}

void owb_ranks_feature(bool *compiled, bool *active, char reason[OWB_ERR_MAX])
{
    *compiled = OWB_HAVE_MPI != 0;
    *active = g_mpi != 0;
    snprintf(reason, OWB_ERR_MAX, "%s",
             g_why[0] ? g_why
                      : (OWB_HAVE_MPI ? "compiled in, not initialised (owb_ranks_init not called)"
                                      : "built without MPI"));
}

bool owb_ranks_agreed_failure(void)
{
    return g_agreed_fail != 0;
}

int owb_ranks_agree(int rc, char err[OWB_ERR_MAX])
{
    g_agreed_fail = rc != 0;
#if OWB_HAVE_MPI
    if (g_mpi && g_size > 1) {
        int mine = rc ? g_rank : g_size, first = g_size;
        MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        if (first == g_size) {
            g_agreed_fail = 0;
            return OWB_OK;
        }
        char msg[OWB_ERR_MAX];
        int st = rc;
        if (g_rank == first)
            snprintf(msg, sizeof msg, "rank %d (%.100s): %.380s", g_rank, g_host, err);
        MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, MPI_COMM_WORLD);
        MPI_Bcast(&st, 1, MPI_INT, first, MPI_COMM_WORLD);
        msg[sizeof msg - 1] = '\0';
        snprintf(err, OWB_ERR_MAX, "%s", msg);
        g_agreed_fail = st != 0;
        return st;
    }
#endif
    (void)err;
    return rc;
}

void owb_ranks_bcast(void *buf, size_t n)
{
#if OWB_HAVE_MPI
    if (g_mpi && g_size > 1) {
        OWB_ASSERT(n <= INT_MAX);
        MPI_Bcast(buf, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD);
    }
#else
    (void)buf;
    (void)n;
#endif
}

int owb_ranks_gather(const void *buf, size_t n, void **all, size_t *lens)
{
    *all = NULL;
#if OWB_HAVE_MPI
    if (g_mpi && g_size > 1) {
        long long mine = (long long)n;
        long long *ln = g_rank == 0 ? malloc((size_t)g_size * sizeof *ln) : NULL;
        int *cnt = g_rank == 0 ? malloc((size_t)g_size * sizeof *cnt) : NULL;
        int *dis = g_rank == 0 ? malloc((size_t)g_size * sizeof *dis) : NULL;
        int rc = OWB_OK, ok = 1;
        char *out = NULL;
        MPI_Gather(&mine, 1, MPI_LONG_LONG, ln, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
        if (g_rank == 0) {
            long long tot = 0;
            if (!ln || !cnt || !dis)
                rc = OWB_E_NOMEM;
            for (int r = 0; !rc && r < g_size; r++) {
                dis[r] = (int)tot;
                cnt[r] = (int)ln[r];
                lens[r] = (size_t)ln[r];
                tot += ln[r];
                if (tot > INT_MAX)
                    rc = OWB_E_USAGE;
            }
            if (!rc && !(out = malloc(tot ? (size_t)tot : 1)))
                rc = OWB_E_NOMEM;
            ok = rc == 0;
        }
        /* Everyone learns whether rank 0 can take the data; senders then skip the transfer. */
        MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
        if (ok)
            MPI_Gatherv(buf, (int)n, MPI_BYTE, out, cnt, dis, MPI_BYTE, 0, MPI_COMM_WORLD);
        free(ln);
        free(cnt);
        free(dis);
        if (g_rank == 0) {
            if (rc)
                free(out);
            else
                *all = out;
        }
        return rc;
    }
#endif
    lens[0] = n;
    *all = malloc(n ? n : 1);
    if (!*all)
        return OWB_E_NOMEM;
    if (n)
        memcpy(*all, buf, n);
    return OWB_OK;
}

void owb_ranks_barrier(void)
{
#if OWB_HAVE_MPI
    if (g_mpi && g_size > 1)
        MPI_Barrier(MPI_COMM_WORLD);
#endif
}

#define CLOCK_ROUNDS 8
#define TAG_CLOCK 7001

void owb_ranks_clock_sync(struct owb_ranks_clock *c)
{
    c->offset_ns = 0;
    c->rtt_ns = 0;
#if OWB_HAVE_MPI
    if (!g_mpi || g_size < 2)
        return;
    if (g_rank == 0) {
        for (int r = 1; r < g_size; r++) {
            int64_t best_rtt = INT64_MAX, best_off = 0, res[2];
            for (int k = 0; k < CLOCK_ROUNDS; k++) {
                int64_t t_remote = 0, t0 = clock_ns(CLOCK_REALTIME);
                MPI_Send(&t0, 1, MPI_INT64_T, r, TAG_CLOCK, MPI_COMM_WORLD);
                MPI_Recv(&t_remote, 1, MPI_INT64_T, r, TAG_CLOCK, MPI_COMM_WORLD,
                         MPI_STATUS_IGNORE);
                int64_t t1 = clock_ns(CLOCK_REALTIME);
                if (t1 - t0 < best_rtt) {
                    best_rtt = t1 - t0;
                    best_off = t_remote - (t0 + (t1 - t0) / 2);
                }
            }
            res[0] = best_off;
            res[1] = best_rtt;
            MPI_Send(res, 2, MPI_INT64_T, r, TAG_CLOCK, MPI_COMM_WORLD);
        }
    } else {
        int64_t t, res[2];
        for (int k = 0; k < CLOCK_ROUNDS; k++) {
            MPI_Recv(&t, 1, MPI_INT64_T, 0, TAG_CLOCK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            t = clock_ns(CLOCK_REALTIME);
            MPI_Send(&t, 1, MPI_INT64_T, 0, TAG_CLOCK, MPI_COMM_WORLD);
        }
        MPI_Recv(res, 2, MPI_INT64_T, 0, TAG_CLOCK, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        c->offset_ns = res[0];
        c->rtt_ns = res[1];
    }
#endif
}

int64_t owb_ranks_mono_to_rt0(const struct owb_ranks_clock *c, uint64_t mono_ns)
{
    int64_t rt = clock_ns(CLOCK_REALTIME), mono = clock_ns(CLOCK_MONOTONIC);
    return (int64_t)mono_ns - mono + rt - c->offset_ns;
}

uint64_t owb_ranks_start_at(const struct owb_ranks_clock *c, uint64_t delay_ns,
                            int64_t *start_rt0_ns)
{
    int64_t start = 0;
    if (g_rank == 0)
        start = clock_ns(CLOCK_REALTIME) + (int64_t)delay_ns;
    owb_ranks_bcast(&start, sizeof start);
    *start_rt0_ns = start;
    /* Rank 0's instant on this rank's realtime clock, then on its monotonic clock. */
    int64_t rt = clock_ns(CLOCK_REALTIME), mono = clock_ns(CLOCK_MONOTONIC);
    int64_t t = mono + (start + c->offset_ns - rt);
    return t > mono ? (uint64_t)t : (uint64_t)mono;
}

#if OWB_HAVE_MPI
/* Waiting for a peer sleeps between polls (20 us, doubling to 1 ms) instead of MPI's busy poll: a
 * spinning rank would take the CPU its peer (or the machine's other work) needs, and the messages
 * here (one per eval window or item, milliseconds of work each) gain nothing from a faster wake. */
static void poll_sleep(long *ns)
{
    struct timespec ts = {0, *ns};
    nanosleep(&ts, NULL);
    if (*ns < 1000000)
        *ns *= 2;
}
#endif

int owb_ranks_send(int dest, int tag, const void *buf, size_t n)
{
    struct owb_ranks_req rq;
    int rc = owb_ranks_isend(dest, tag, buf, n, &rq);
    return rc ? rc : owb_ranks_wait(&rq);
}

#if OWB_HAVE_MPI
_Static_assert(sizeof(MPI_Request) <= sizeof(((struct owb_ranks_req *)0)->h),
               "MPI_Request must fit owb_ranks_req");
#endif

int owb_ranks_isend(int dest, int tag, const void *buf, size_t n, struct owb_ranks_req *req)
{
    req->active = 0;
#if OWB_HAVE_MPI
    if (g_mpi && n <= INT_MAX) {
        MPI_Request rq;
        if (MPI_Isend(buf, (int)n, MPI_BYTE, dest, tag, MPI_COMM_WORLD, &rq) != MPI_SUCCESS)
            return OWB_E_SYSTEM;
        memcpy(&req->h, &rq, sizeof rq);
        req->active = 1;
        return OWB_OK;
    }
#else
    (void)dest;
    (void)tag;
    (void)buf;
    (void)n;
#endif
    return OWB_E_SYSTEM;
}

int owb_ranks_wait(struct owb_ranks_req *req)
{
    if (!req->active)
        return OWB_OK;
    req->active = 0;
#if OWB_HAVE_MPI
    MPI_Request rq;
    int done = 0;
    long ns = 20000;
    memcpy(&rq, &req->h, sizeof rq);
    for (;;) {
        if (MPI_Test(&rq, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            return OWB_E_SYSTEM;
        if (done)
            return OWB_OK;
        poll_sleep(&ns);
    }
#else
    return OWB_E_SYSTEM;
#endif
}

int owb_ranks_recv(int src, int tag, void **buf, size_t *cap, size_t *n)
{
#if OWB_HAVE_MPI
    if (g_mpi) {
        MPI_Status st;
        int count = 0, flag = 0;
        long ns = 20000;
        for (;;) {
            if (MPI_Iprobe(src, tag, MPI_COMM_WORLD, &flag, &st) != MPI_SUCCESS)
                return OWB_E_SYSTEM;
            if (flag)
                break;
            poll_sleep(&ns);
        }
        if (MPI_Get_count(&st, MPI_BYTE, &count) != MPI_SUCCESS)
            return OWB_E_SYSTEM;
        if ((size_t)count > *cap || !*buf) {
            void *nb = realloc(*buf, count ? (size_t)count : 1);
            if (!nb)
                return OWB_E_NOMEM;
            *buf = nb;
            *cap = count ? (size_t)count : 1;
        }
        if (MPI_Recv(*buf, count, MPI_BYTE, src, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE) !=
            MPI_SUCCESS)
            return OWB_E_SYSTEM;
        *n = (size_t)count;
        return OWB_OK;
    }
#else
    (void)src;
    (void)tag;
    (void)buf;
    (void)cap;
    (void)n;
#endif
    return OWB_E_SYSTEM;
}
