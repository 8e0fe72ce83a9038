/* SPDX-License-Identifier: MIT */
/*
 * test_isa.c: ISA detection and selection (kernels/isa.h). The environment variable OWB_ISA is
 * read once per process, so each forcing case runs in a forked child that sets it before the first
 * owb_isa_active() call (the parent never calls owb_isa_active before forking). Checks: names round
 * trip, forcing each supported ISA works, an unsupported or unknown value falls back to the best
 * one with a warning, concurrent first calls agree, owb_isa_set validates its argument.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernels/isa.h"
#include "owb_common.h"
#include "owb_test.h"

static void *thread_active(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)owb_isa_active();
}

/* In a child: set (or unset) OWB_ISA, then report owb_isa_active() as the exit status. */
static int child_active(const char *env, int threads)
{
    pid_t pid = fork();
    OWB_ASSERT(pid >= 0);
    if (pid == 0) {
        if (env)
            setenv("OWB_ISA", env, 1);
        else
            unsetenv("OWB_ISA");
        if (threads > 1) {
            /* several threads race for the first call; all must see one value */
            pthread_t th[8];
            enum owb_isa got[8];
            for (int i = 0; i < threads; i++)
                pthread_create(&th[i], NULL, thread_active, NULL);
            for (int i = 0; i < threads; i++) {
                void *r;
                pthread_join(th[i], &r);
                got[i] = (enum owb_isa)(intptr_t)r;
            }
            for (int i = 1; i < threads; i++)
                if (got[i] != got[0])
                    _exit(100);
        }
        _exit((int)owb_isa_active());
    }
    int st = 0;
    OWB_ASSERT(waitpid(pid, &st, 0) == pid);
    OWB_ASSERT(WIFEXITED(st));
    return WEXITSTATUS(st);
}

int main(void)
{
    const enum owb_isa best = owb_isa_detect();
    CHECK(owb_isa_supported(OWB_ISA_REF));
    CHECK(owb_isa_supported(best));
    for (int i = best + 1; i < OWB_ISA_COUNT; i++)
        CHECK(!owb_isa_supported((enum owb_isa)i));
    if (owb_isa_supported(OWB_ISA_AVX512))
        CHECK(owb_isa_supported(OWB_ISA_AVX2));
    printf("detected %s (vnni %d)\n", owb_isa_name(best), (int)owb_isa_has_vnni());

    /* names */
    for (int i = 0; i < OWB_ISA_COUNT; i++) {
        enum owb_isa back = OWB_ISA_COUNT;
        CHECK(owb_isa_from_name(owb_isa_name((enum owb_isa)i), &back) == 0);
        CHECK(back == (enum owb_isa)i);
    }
    enum owb_isa x = OWB_ISA_AVX2;
    CHECK(owb_isa_from_name("sse9", &x) == OWB_E_USAGE);
    CHECK(x == OWB_ISA_AVX2);
    CHECK(owb_isa_from_name(NULL, &x) == OWB_E_USAGE);
    CHECK(owb_isa_from_name("best", &x) == 0 && x == best);
    CHECK(strcmp(owb_isa_name((enum owb_isa)42), "?") == 0);

    /* forcing through the environment, in children */
    CHECK(child_active(NULL, 1) == (int)best);
    CHECK(child_active("", 1) == (int)best);
    for (int i = 0; i < OWB_ISA_COUNT; i++) {
        const char *name = owb_isa_name((enum owb_isa)i);
        const int want = owb_isa_supported((enum owb_isa)i) ? i : (int)best;
        CHECK_MSG(child_active(name, 1) == want, "OWB_ISA=%s", name);
    }
    fprintf(stderr, "(a warning about OWB_ISA=bogus is expected here)\n");
    CHECK(child_active("bogus", 1) == (int)best);
    CHECK(child_active("ref", 4) == OWB_ISA_REF);
    CHECK(child_active(NULL, 4) == (int)best);

    /* owb_isa_set in this process (the parent has not forked since) */
    CHECK(owb_isa_set(OWB_ISA_REF) == 0);
    CHECK(owb_isa_active() == OWB_ISA_REF);
    CHECK(owb_isa_set((enum owb_isa) - 1) == OWB_E_USAGE);
    CHECK(owb_isa_set(OWB_ISA_COUNT) == OWB_E_USAGE);
    for (int i = 0; i < OWB_ISA_COUNT; i++) {
        if (owb_isa_supported((enum owb_isa)i)) {
            CHECK(owb_isa_set((enum owb_isa)i) == 0);
            CHECK(owb_isa_active() == (enum owb_isa)i);
        } else {
            CHECK(owb_isa_set((enum owb_isa)i) == OWB_E_UNSUPPORTED);
            CHECK(owb_isa_active() != (enum owb_isa)i);
        }
    }
    TEST_DONE();
}
