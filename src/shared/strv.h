/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* Counted string arrays that are also NULL-terminated (so they can be handed to sd-json as strv). */
int strv_push_n(char ***l, size_t *n, const char *s);
void strv_free_n(char **l, size_t n);
void strv_sort_n(char **l, size_t n);
