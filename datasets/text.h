/* SPDX-License-Identifier: MIT */
/*
 * text.h: the raw-text loader behind perplexity and fingerprints: the file's bytes as they are
 * (no newline or encoding changes, so the recorded SHA-256 is the file's own when it is read
 * whole), optionally cut to a leading slice at a UTF-8 character boundary.
 */
#ifndef OWB_DATASETS_TEXT_H
#define OWB_DATASETS_TEXT_H

#include <stddef.h>

#include "owb_common.h"

/* Read path into a new NUL-terminated buffer (*out, caller frees) of *len bytes. max_bytes > 0
 * keeps only the first max_bytes bytes, moved back to the start of a UTF-8 character so no
 * character is split. Returns 0, OWB_E_IO (unreadable; err names the path), OWB_E_FORMAT (empty
 * file or contains a NUL byte) or OWB_E_NOMEM. */
int owb_text_read(const char *path, size_t max_bytes, char **out, size_t *len,
                  char err[OWB_ERR_MAX]);

#endif
