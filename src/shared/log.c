/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) {
        int saved = errno;
        va_list ap;

        (void) file;
        (void) line;
        (void) func;

        if (error < 0)
                error = -error;

        /* Debug output only on request; no global switch to keep in sync. */
        if (level < LOG_DEBUG || getenv("VFIOD_DEBUG")) {
                /* Make %m refer to the error we were given. */
                errno = error;
                fprintf(stderr, "<%d>", level);
                va_start(ap, format);
                vfprintf(stderr, format, ap);
                va_end(ap);
                fputc('\n', stderr);
        }

        errno = saved;
        return error > 0 ? -error : -EIO;
}
