/* SPDX-License-Identifier: MIT */
/*
 * owb_atomic.h: write a file so that readers see either its old contents or the complete new ones,
 * never a part: the bytes go to a temporary file beside the final path (same folder, so rename is
 * atomic), which is flushed, fsync'ed and renamed over the path only on commit; any failure or an
 * abort removes the temporary file and leaves the path as it was. Depends on libc.
 *
 * Ownership: the struct is the caller's; open fills it, commit and abort release what it holds
 * (both are safe on a zeroed or already released struct). One writer per struct; distinct structs
 * may be used from distinct threads.
 */
#ifndef OWB_ATOMIC_H
#define OWB_ATOMIC_H

#include <stdio.h>

#include "owb_common.h"

struct owb_atomic_file {
    FILE *f;    /* write the contents here (stdio, "w") */
    char *path; /* the final path (malloc'd copy) */
    char *tmp;  /* the temporary file: path + ".XXXXXX.tmp" (malloc'd), NULL when none */
};

/* Create the temporary file for path (mode 0644, like a result file) and open it for writing.
 * The folder must exist. Returns 0, OWB_E_IO (err names path and the reason) or OWB_E_NOMEM; on
 * failure nothing is left on disk and *af is zeroed. */
int owb_atomic_file_open(struct owb_atomic_file *af, const char *path, char err[OWB_ERR_MAX]);

/* Finish: flush, check for write errors, fsync, close and rename the temporary file over path.
 * Returns 0, or OWB_E_IO with err naming path and the first failure (then the temporary file is
 * removed and path is untouched). Releases *af either way. */
int owb_atomic_file_commit(struct owb_atomic_file *af, char err[OWB_ERR_MAX]);

/* Give up: close and remove the temporary file; path is untouched. Releases *af. */
void owb_atomic_file_abort(struct owb_atomic_file *af);

#endif
