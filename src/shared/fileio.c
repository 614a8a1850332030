/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "test-hooks.h"

int read_full_file_bounded(const char *path, size_t max, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, alloc = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();

        for (;;) {
                ssize_t n;

                if (alloc - size < 2) {
                        size_t na = alloc == 0 ? 4096 : alloc * 2;
                        char *nb;

                        if (alloc >= max + 2)
                                return -EFBIG;
                        if (na > max + 2)
                                na = max + 2;
                        nb = realloc(buf, na);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                        alloc = na;
                }
                n = read(fd, buf + size, alloc - size - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break;
                size += n;
                if (size > max)
                        return -EFBIG;
        }

        if (!buf) {
                buf = strdup("");
                if (!buf)
                        return -ENOMEM;
        } else
                buf[size] = '\0';

        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = size;
        return 0;
}

int read_one_line_file(const char *path, char **ret) {
        char *buf;
        int r;

        r = read_full_file_bounded(path, 64 * 1024, &buf, NULL);
        if (r < 0)
                return r;
        buf[strcspn(buf, "\n")] = '\0';
        *ret = buf;
        return 0;
}

const char *proc_root(void) {
        return test_hook_getenv("VFIOD_TEST_PROC") ?: "/proc";
}

int read_proc_file(const char *name, size_t max, char **ret) {
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/%s", proc_root(), name) < 0)
                return -ENOMEM;
        return read_full_file_bounded(path, max, ret, NULL);
}

int read_proc_link(const char *name, char **ret) {
        _cleanup_free_ char *path = NULL;
        char buf[256];
        ssize_t n;

        if (asprintf(&path, "%s/%s", proc_root(), name) < 0)
                return -ENOMEM;
        n = readlink(path, buf, sizeof buf);
        if (n < 0)
                return negative_errno();
        if ((size_t) n >= sizeof buf)
                return -ENAMETOOLONG;
        buf[n] = '\0';
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}
