/* SPDX-License-Identifier: MIT */
/*
 * serve_test_util.h: what the serving tests share: start owb-testserver (next to $OWB_BIN) on a
 * free loopback port and wait for it (bounded), stop it and read its exit summary, and read its
 * --record file. ts_start returns -1 (the caller skips) only when the binary is absent; a server
 * that cannot be started or does not come up ends the test as failed. Header-only, static
 * functions; tests only.
 */
#ifndef OWB_TESTS_SERVE_UTIL_H
#define OWB_TESTS_SERVE_UTIL_H

/* the including test defines _GNU_SOURCE before any header (getline, kill, nanosleep) */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

extern char **environ;

struct test_server {
    pid_t pid;
    int port;
    char url[128];
    char dir[512];
    char port_file[600], stats_file[600], record_file[600];
};

static inline void ts_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Path of owb-testserver ($OWB_BIN's folder), NULL when absent. */
static inline const char *ts_binary(void)
{
    static char path[1024];
    const char *bin = getenv("OWB_BIN");
    char *slash;
    if (!bin || !*bin)
        return NULL;
    snprintf(path, sizeof path, "%s", bin);
    slash = strrchr(path, '/');
    if (!slash)
        return NULL;
    snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "owb-testserver");
    return access(path, X_OK) == 0 ? path : NULL;
}

/* Start the server with extra args (NULL-terminated) and wait up to 5 s for its port. name makes
 * the scratch folder unique. Returns 0, or -1 with a message. */
/* The first CPU this process may run on when it may run on more than one, else -1. The timing
 * tests pin the client's event loop there; ts_start keeps the server on the last one. */
static inline int ts_client_cpu(void)
{
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) < 2)
        return -1;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &allowed))
            return c;
    return -1;
}

static inline int ts_start(struct test_server *s, const char *name, const char *const *args)
{
    const char *bin = ts_binary(), *tmp = getenv("OWB_TMP");
    char *argv[64];
    int n = 0;
    memset(s, 0, sizeof *s);
    if (!bin) {
        fprintf(stderr, "owb-testserver not found next to $OWB_BIN\n");
        return -1;
    }
    snprintf(s->dir, sizeof s->dir, "%s/%s-%d", tmp && *tmp ? tmp : "/tmp", name, (int)getpid());
    mkdir(s->dir, 0777);
    snprintf(s->port_file, sizeof s->port_file, "%s/port", s->dir);
    snprintf(s->stats_file, sizeof s->stats_file, "%s/stats.json", s->dir);
    snprintf(s->record_file, sizeof s->record_file, "%s/record.jsonl", s->dir);
    unlink(s->port_file);
    argv[n++] = (char *)bin;
    argv[n++] = "--port-file";
    argv[n++] = s->port_file;
    argv[n++] = "--stats";
    argv[n++] = s->stats_file;
    argv[n++] = "--record";
    argv[n++] = s->record_file;
    argv[n++] = "--max-seconds";
    argv[n++] = "120";
    for (int i = 0; args && args[i] && n < 62; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    if (posix_spawn(&s->pid, bin, NULL, NULL, argv, environ) != 0) {
        fprintf(stderr, "FAIL: cannot start %s: %s\n", bin, strerror(errno));
        exit(1); /* the server is part of the build: failing to start it is a failure, no skip */
    }
    /* The client pins its event loop to the first CPU of the compact plan; keep the server off
     * it (on the last allowed CPU), or the server's bursts delay the client's wake-ups and the
     * timing checks measure the scheduler instead of the client. */
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0 && CPU_COUNT(&allowed) > 1) {
        int last = -1;
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &allowed))
                last = c;
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(last, &one);
        sched_setaffinity(s->pid, sizeof one, &one);
    }
    for (int i = 0; i < 500; i++) { /* 5 s */
        FILE *f = fopen(s->port_file, "r");
        if (f) {
            int ok = fscanf(f, "%d", &s->port) == 1;
            fclose(f);
            if (ok) {
                snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d/v1", s->port);
                return 0;
            }
        }
        ts_sleep_ms(10);
    }
    fprintf(stderr, "FAIL: owb-testserver did not start within 5 s\n");
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    exit(1);
}

/* Stop the server (SIGTERM, then SIGKILL after 5 s) and return its exit summary (caller deletes),
 * NULL if it could not be read. */
static inline cJSON *ts_stop(struct test_server *s)
{
    int status;
    char buf[4096];
    size_t n;
    FILE *f;
    if (s->pid <= 0)
        return NULL;
    kill(s->pid, SIGTERM);
    for (int i = 0; i < 500; i++) {
        if (waitpid(s->pid, &status, WNOHANG) == s->pid)
            goto done;
        ts_sleep_ms(10);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &status, 0);
done:
    s->pid = 0;
    f = fopen(s->stats_file, "r");
    if (!f)
        return NULL;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return cJSON_Parse(buf);
}

/* Read the record file: returns an array of its JSON lines (caller deletes). */
static inline cJSON *ts_record(const struct test_server *s)
{
    FILE *f = fopen(s->record_file, "r");
    cJSON *arr = cJSON_CreateArray();
    char *line = NULL;
    size_t cap = 0;
    if (!f)
        return arr;
    while (getline(&line, &cap, f) > 0) {
        cJSON *o = cJSON_Parse(line);
        if (o)
            cJSON_AddItemToArray(arr, o);
    }
    free(line);
    fclose(f);
    return arr;
}

static inline double ts_num(const cJSON *o, const char *key)
{
    const cJSON *x = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(x) ? x->valuedouble : -1;
}

#endif
