/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LD_PRELOAD into vfiod (tests only): sd_varlink_push_fd() fails with ENOMEM on its Nth call in the
 * process, N from $VFIOD_SHIM_FAIL_PUSH_FD, as running out of memory half way through a reply would. */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <systemd/sd-varlink.h>

int sd_varlink_push_fd(sd_varlink *v, int fd) {
        static int (*real)(sd_varlink *, int);
        static unsigned long calls;
        const char *e = getenv("VFIOD_SHIM_FAIL_PUSH_FD");

        if (!real)
                real = (int (*)(sd_varlink *, int)) dlsym(RTLD_NEXT, "sd_varlink_push_fd");
        if (!real)
                return -ENOSYS;
        if (e && ++calls == strtoul(e, NULL, 10))
                return -ENOMEM;
        return real(v, fd);
}
