/* SPDX-License-Identifier: MIT */
/*
 * owb_err.c: owb_seterr, the one way library functions fill their err sentence, and
 * owb_parse_size, the one reader of byte sizes (owb_common.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "owb_common.h"

void owb_seterr(char *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, OWB_ERR_MAX, fmt, ap);
    va_end(ap);
}

int owb_parse_size(const char *opt, const char *s, size_t *out, char err[OWB_ERR_MAX])
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned long long mul = 1;
    if (end == s || errno || s[0] == '-')
        goto bad;
    switch (*end) {
    case 'k':
    case 'K':
        mul = 1ull << 10;
        end++;
        break;
    case 'm':
    case 'M':
        mul = 1ull << 20;
        end++;
        break;
    case 'g':
    case 'G':
        mul = 1ull << 30;
        end++;
        break;
    default:
        break;
    }
    if (*end == 'i' || *end == 'B')
        end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
    if (*end || v == 0 || v > (unsigned long long)SIZE_MAX / mul)
        goto bad;
    *out = (size_t)(v * mul);
    return 0;
bad:
    owb_seterr(err, "%s '%s': expected a positive byte count with optional K, M or G suffix", opt,
               s);
    return OWB_E_USAGE;
}
