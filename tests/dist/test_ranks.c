/* SPDX-License-Identifier: MIT */
/*
 * test_ranks.c: dist/ranks.h without mpirun behaves as one process: one rank, agreement returns
 * the rank's own status and message, the gather copies the bytes, broadcast and barrier do
 * nothing, the clock offset is zero, the start instant is delay_ns ahead, point-to-point fails,
 * and env.features.mpi says compiled (as built), not active, and why.
 */
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "dist/ranks.h"
#include "owb_config.h"
#include "owb_test.h"

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    char err[OWB_ERR_MAX] = "";
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_SIZE"))
        SKIP("started by an MPI launcher; this test checks the single-process behaviour");
    CHECK(owb_ranks_init(&argc, &argv, err) == 0);
    CHECK(owb_ranks_size() == 1);
    CHECK(owb_ranks_rank() == 0);
    CHECK(owb_ranks_local_rank() == 0 && owb_ranks_local_size() == 1);
    CHECK(owb_ranks_host()[0] != '\0');

    bool compiled = true, active = true;
    char why[OWB_ERR_MAX];
    owb_ranks_feature(&compiled, &active, why);
    CHECK(compiled == (OWB_HAVE_MPI != 0));
    CHECK(!active);
    CHECK_MSG(strstr(why, OWB_HAVE_MPI ? "not launched by mpirun" : "built without MPI"), "%s",
              why);

    snprintf(err, sizeof err, "model.gguf: broken");
    CHECK(owb_ranks_agree(OWB_E_FORMAT, err) == OWB_E_FORMAT);
    CHECK(!strcmp(err, "model.gguf: broken")); /* no rank prefix with one rank */
    CHECK(owb_ranks_agree(0, err) == 0);

    const char msg[] = "abc\0def";
    void *all = NULL;
    size_t lens[1] = {0};
    CHECK(owb_ranks_gather(msg, sizeof msg, &all, lens) == 0);
    CHECK(all && lens[0] == sizeof msg && !memcmp(all, msg, sizeof msg));
    free(all);

    int x = 42;
    owb_ranks_bcast(&x, sizeof x);
    CHECK(x == 42);
    owb_ranks_barrier();

    struct owb_ranks_clock c = {123, 456};
    owb_ranks_clock_sync(&c);
    CHECK(c.offset_ns == 0 && c.rtt_ns == 0);
    int64_t rt0 = 0;
    uint64_t before = mono_ns();
    uint64_t t = owb_ranks_start_at(&c, 50000000, &rt0);
    CHECK(t >= before + 49000000 && t <= mono_ns() + 50000000);
    CHECK(rt0 > 0);
    /* A monotonic time maps onto the realtime clock within a millisecond of now. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t rt_now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    int64_t mapped = owb_ranks_mono_to_rt0(&c, mono_ns());
    CHECK_MSG(llabs(mapped - rt_now) < 1000000, "%lld vs %lld", (long long)mapped,
              (long long)rt_now);

    void *buf = NULL;
    size_t cap = 0, n = 0;
    CHECK(owb_ranks_send(0, 1, "x", 1) != 0);
    CHECK(owb_ranks_recv(0, 1, &buf, &cap, &n) != 0);
    free(buf);
    owb_ranks_finalize();
    TEST_DONE();
}
