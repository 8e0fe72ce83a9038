/* SPDX-License-Identifier: MIT */
/*
 * owb_atomic.c: temporary file + fsync + rename (owb_atomic.h). mkstemps picks a name no other
 * writer uses, so two processes writing the same path never share a temporary file; the last
 * rename wins with a complete file.
 */
#define _GNU_SOURCE /* mkstemps */
#include "owb_atomic.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void release(struct owb_atomic_file *af)
{
    free(af->path);
    free(af->tmp);
    memset(af, 0, sizeof *af);
}

int owb_atomic_file_open(struct owb_atomic_file *af, const char *path, char err[OWB_ERR_MAX])
{
    int fd = -1;
    memset(af, 0, sizeof *af);
    if (!path || !*path) {
        owb_seterr(err, "empty output path");
        return OWB_E_IO;
    }
    size_t plen = strlen(path);
    if (!(af->path = malloc(plen + 1)) || !(af->tmp = malloc(plen + 12))) {
        owb_seterr(err, "%.400s: out of memory", path);
        release(af);
        return OWB_E_NOMEM;
    }
    memcpy(af->path, path, plen + 1);
    snprintf(af->tmp, plen + 12, "%s.XXXXXX.tmp", path);
    if ((fd = mkstemps(af->tmp, 4)) < 0) {
        owb_seterr(err, "%.400s: cannot create a temporary file beside it: %s", path,
                   strerror(errno));
        release(af);
        return OWB_E_IO;
    }
    /* mkstemps creates 0600; the finished file is an ordinary shareable one. */
    if (fchmod(fd, 0644) != 0 || !(af->f = fdopen(fd, "w"))) {
        owb_seterr(err, "%.400s: cannot open its temporary file: %s", path, strerror(errno));
        close(fd);
        unlink(af->tmp);
        release(af);
        return OWB_E_IO;
    }
    return OWB_OK;
}

int owb_atomic_file_commit(struct owb_atomic_file *af, char err[OWB_ERR_MAX])
{
    if (!af->f) {
        owb_seterr(err, "%.400s: no open temporary file to commit", af->path ? af->path : "(none)");
        owb_atomic_file_abort(af);
        return OWB_E_IO;
    }
    const char *what = NULL;
    int e = 0;
    if (fflush(af->f) != 0 || ferror(af->f)) {
        what = "write failed";
        e = errno;
    } else if (fsync(fileno(af->f)) != 0) {
        what = "fsync failed";
        e = errno;
    }
    FILE *f = af->f;
    af->f = NULL;
    if (fclose(f) != 0 && !what) {
        what = "close failed";
        e = errno;
    }
    if (!what && rename(af->tmp, af->path) != 0) {
        what = "cannot rename the temporary file into place";
        e = errno;
    }
    if (what) {
        owb_seterr(err, "%.400s: %s: %s", af->path, what, e ? strerror(e) : "stream error");
        unlink(af->tmp);
        release(af);
        return OWB_E_IO;
    }
    release(af);
    return OWB_OK;
}

void owb_atomic_file_abort(struct owb_atomic_file *af)
{
    if (af->f)
        fclose(af->f);
    if (af->tmp)
        unlink(af->tmp);
    release(af);
}
