/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "strv.h"

int strv_push_n(char ***l, size_t *n, const char *s) {
        char **a, *c;

        c = strdup(s);
        if (!c)
                return -ENOMEM;
        /* Keep a NULL terminator so the array can go straight to SD_JSON_BUILD_STRV(). */
        a = reallocarray(*l, *n + 2, sizeof(char *));
        if (!a) {
                free(c);
                return -ENOMEM;
        }
        a[(*n)++] = c;
        a[*n] = NULL;
        *l = a;
        return 0;
}

void strv_free_n(char **l, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(l[i]);
        free(l);
}

static int cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

void strv_sort_n(char **l, size_t n) {
        if (n > 1)
                qsort(l, n, sizeof(char *), cmp);
}

void strv_free(char **l) {
        for (char **i = l; i && *i; i++)
                free(*i);
        free(l);
}
