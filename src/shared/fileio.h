/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* Read a whole (small) file, NUL-terminated, at most max bytes; -EFBIG beyond. */
int read_full_file_bounded(const char *path, size_t max, char **ret, size_t *ret_size);
/* First line without the newline; for sysfs attributes. */
int read_one_line_file(const char *path, char **ret);
/* Read a file below the proc directory: /proc, or $VFIOD_TEST_PROC in tests (files recorded
 * from a real kernel), so the fake-sysfs tier can show command lines no VM here boots with. */
int read_proc_file(const char *name, size_t max, char **ret);
/* The proc directory itself (/proc or $VFIOD_TEST_PROC), for walking it. */
const char *proc_root(void);
/* A short symbolic link below the proc directory, e.g. "1/ns/mnt". */
int read_proc_link(const char *name, char **ret);
