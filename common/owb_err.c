/* SPDX-License-Identifier: MIT */
/*
 * owb_err.c: owb_seterr, the one way library functions fill their err sentence (owb_common.h).
 */
#include <stdarg.h>
#include <stdio.h>

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
