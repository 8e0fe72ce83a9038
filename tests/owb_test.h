/* SPDX-License-Identifier: MIT */
/*
 * owb_test.h: tiny helpers for the ctest executables: CHECK macros that count failures, a skip
 * (exit 77) that says what was needed, and where the shared test data lives ($OWB_TEST_DATA).
 */
#ifndef OWB_TEST_H
#define OWB_TEST_H

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int owb_test_failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            owb_test_failures++;                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            owb_test_failures++;                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                      \
    CHECK_MSG(fabs((double)(a) - (double)(b)) <= (tol), "%.17g vs %.17g (tol %g)", (double)(a),    \
              (double)(b), (double)(tol))

#define SKIP(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "SKIP: ");                                                                 \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        exit(77);                                                                                  \
    } while (0)

#define TEST_DONE()                                                                                \
    do {                                                                                           \
        if (owb_test_failures) {                                                                   \
            fprintf(stderr, "%d check(s) failed\n", owb_test_failures);                            \
            return 1;                                                                              \
        }                                                                                          \
        return 0;                                                                                  \
    } while (0)

/* Path to a file under the shared data folder ($OWB_TEST_DATA, default ../shared); NULL (and a
 * message) when it is absent, so the caller can SKIP. Returns a static buffer. */
static inline const char *owb_test_data(const char *rel)
{
    static char path[4096];
    const char *root = getenv("OWB_TEST_DATA");
    if (!root || !*root)
        root = "../shared";
    snprintf(path, sizeof path, "%s/%s", root, rel);
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "test data %s not found (set OWB_TEST_DATA)\n", path);
        return NULL;
    }
    return path;
}

/* Remove the files of a flat temporary folder of a test, then the folder. */
static inline void owb_test_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4400];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        remove(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

#endif
