/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <libudev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "fileio.h"
#include "host-use-internal.h"
#include "log.h"
#include "macro.h"
#include "udev-util.h"

/* Storage the host needs: block devices under mounted file systems. */

#define BLOCK_DEPTH_MAX 8

static void mark_block(struct udev *udev, Topology *t, struct udev_device *d, const char *mnt, unsigned depth) {
        _cleanup_free_ char *what = NULL, *slaves = NULL;
        _cleanup_closedir_ DIR *dir = NULL;
        struct udev_device *disk = d;
        struct dirent *de;

        if (depth > BLOCK_DEPTH_MAX)
                return;

        if (asprintf(&what, "%s on %s", mnt, udev_device_get_sysname(d)) < 0)
                return;
        host_use_mark(t, d, HOST_USE_ROOT_STORAGE, what);

        /* dm, md and LVM sit on other block devices: follow "slaves" down to the hardware.
         * A partition's slaves are listed on its disk. */
        if (strcmp(udev_device_get_devtype(d) ?: "", "partition") == 0)
                disk = udev_device_get_parent(d) ?: d;
        if (asprintf(&slaves, "%s/slaves", udev_device_get_syspath(disk)) < 0)
                return;
        dir = opendir(slaves);
        if (!dir)
                return;
        while ((de = readdir(dir))) {
                _cleanup_(udev_device_unrefp) struct udev_device *s = NULL;

                if (de->d_name[0] == '.')
                        continue;
                s = udev_device_new_from_subsystem_sysname(udev, "block", de->d_name);
                if (s)
                        mark_block(udev, t, s, mnt, depth + 1);
        }
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s) {
        char *w = s;
        for (char *r = s; *r; ) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
                        *w++ = (char) ((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
                        r += 4;
                } else
                        *w++ = *r++;
        }
        *w = '\0';
}

int host_use_apply_storage(struct udev *udev, Topology *t) {
        _cleanup_free_ char *text = NULL;
        char *save = NULL;
        int r;

        r = read_proc_file("self/mountinfo", 16 * 1024 * 1024, &text);
        if (r < 0)
                return r;

        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                _cleanup_(udev_device_unrefp) struct udev_device *d = NULL;
                unsigned maj, min;
                char mnt[4096];

                /* id parent major:minor root mountpoint ... */
                if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, mnt) != 3)
                        continue;
                if (maj == 0)
                        continue;  /* not backed by a block device */
                unescape(mnt);
                d = udev_device_new_from_devnum(udev, 'b', makedev(maj, min));
                if (d)
                        mark_block(udev, t, d, mnt, 0);
        }
        return 0;
}

