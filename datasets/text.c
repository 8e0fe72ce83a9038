/* SPDX-License-Identifier: MIT */
/* text.c: whole-file text reading with an optional leading slice cut at a character boundary. */
#include "datasets/text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int owb_text_read(const char *path, size_t max_bytes, char **out, size_t *len,
                  char err[OWB_ERR_MAX])
{
    int rc = OWB_OK;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    FILE *f = fopen(path, "rb");
    *out = NULL;
    *len = 0;
    if (!f) {
        snprintf(err, OWB_ERR_MAX, "%.400s: cannot open: %s", path, strerror(errno));
        return OWB_E_IO;
    }
    for (;;) {
        if (cap - n < 65536) {
            size_t ncap = cap ? cap * 2 : 1 << 20;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                snprintf(err, OWB_ERR_MAX, "%.400s: out of memory after %zu bytes", path, n);
                rc = OWB_E_NOMEM;
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        size_t want = cap - n;
        if (max_bytes && max_bytes - n < want)
            want = max_bytes - n;
        size_t got = want ? fread(buf + n, 1, want, f) : 0;
        n += got;
        if (got < want || (max_bytes && n >= max_bytes))
            break;
    }
    if (ferror(f)) {
        snprintf(err, OWB_ERR_MAX, "%.400s: read error: %s", path, strerror(errno));
        rc = OWB_E_IO;
        goto out;
    }
    if (max_bytes && n >= max_bytes) {
        /* Back up over UTF-8 continuation bytes (10xxxxxx) so the next character starts the cut. */
        int c = fgetc(f);
        if (c != EOF && ((unsigned)c & 0xC0u) == 0x80u) {
            size_t i = n - 1;
            while (i > 0 && ((unsigned char)buf[i] & 0xC0u) == 0x80u)
                i--;
            n = i; /* buf[i] is the lead byte of the split character: drop it too */
        }
    }
    if (n == 0) {
        snprintf(err, OWB_ERR_MAX, "%.400s: the file is empty", path);
        rc = OWB_E_FORMAT;
        goto out;
    }
    if (memchr(buf, '\0', n)) {
        snprintf(err, OWB_ERR_MAX, "%.400s: contains a NUL byte at offset %zu (not a text file?)",
                 path, (size_t)((char *)memchr(buf, '\0', n) - buf));
        rc = OWB_E_FORMAT;
        goto out;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
out:
    free(buf);
    fclose(f);
    return rc;
}
