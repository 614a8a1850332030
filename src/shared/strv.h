/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* Counted string arrays that are also NULL-terminated (so they can be handed to sd-json as strv). */
int strv_push_n(char ***l, size_t *n, const char *s);
void strv_free_n(char **l, size_t n);
void strv_sort_n(char **l, size_t n);
/* Free a NULL-terminated array (as strv_push_n builds them); for _cleanup_(strv_freep). */
void strv_free(char **l);
static inline void strv_freep(char ***l) {
        strv_free(*l);
}
