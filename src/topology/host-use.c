/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <libudev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "host-use.h"
#include "host-use-internal.h"
#include "log.h"
#include "macro.h"

#define DETAIL_MAX 256

void host_use_mark(Topology *t, struct udev_device *d, HostUse use, const char *what) {
        struct udev_device *pci = udev_device_get_parent_with_subsystem_devtype(d, "pci", NULL);
        PciDevice *p;

        if (!pci)
                return;
        p = (PciDevice *) topology_find_device(t, udev_device_get_sysname(pci));
        if (p)
                host_use_mark_pci(p, use, what);
}

void host_use_mark_pci(PciDevice *p, HostUse use, const char *what) {
        size_t l;

        p->host_use |= use;

        /* Keep the first few reasons; enough for a person to recognise the device. */
        l = p->host_use_detail ? strlen(p->host_use_detail) : 0;
        if (l + strlen(what) + 3 > DETAIL_MAX || (p->host_use_detail && strstr(p->host_use_detail, what)))
                return;
        char *n = realloc(p->host_use_detail, l + strlen(what) + 3);
        if (!n)
                return;
        if (l > 0)
                strcpy(n + l, "; ");
        else
                n[0] = '\0';
        strcat(n, what);
        p->host_use_detail = n;
}

static bool console_bound(void) {
        _cleanup_closedir_ DIR *dir = opendir("/sys/class/vtconsole");
        struct dirent *de;

        if (!dir)
                return false;
        while ((de = readdir(dir))) {
                _cleanup_free_ char *p = NULL, *bind = NULL, *name = NULL;

                if (de->d_name[0] == '.')
                        continue;
                if (asprintf(&p, "/sys/class/vtconsole/%s/bind", de->d_name) < 0 || read_one_line_file(p, &bind) < 0)
                        continue;
                free(p);
                if (asprintf(&p, "/sys/class/vtconsole/%s/name", de->d_name) < 0 || read_one_line_file(p, &name) < 0)
                        continue;
                /* "dummy device" is the placeholder when no real console driver is bound. */
                if (strcmp(bind, "1") == 0 && !strstr(name, "dummy device"))
                        return true;
        }
        return false;
}

int host_use_apply(struct udev *udev, Topology *t) {
        bool console;
        int r, ret = 0;

        for (size_t i = 0; i < t->n_devices; i++) {
                t->devices[i].host_use = 0;
                free(t->devices[i].host_use_detail);
                t->devices[i].host_use_detail = NULL;
        }

        /* Failing to read mounts or routes must not make a device look free: report it, and
         * the caller fails closed. */
        r = host_use_apply_storage(udev, t);
        if (r < 0)
                ret = r;
        r = host_use_apply_net(udev, t);
        if (r < 0 && ret == 0)
                ret = r;

        console = console_bound();
        for (size_t i = 0; i < t->n_devices; i++)
                if (t->devices[i].boot_vga && console) {
                        t->devices[i].host_use |= HOST_USE_BOOT_CONSOLE;
                        if (!t->devices[i].host_use_detail)
                                t->devices[i].host_use_detail = strdup("boot VGA with a console bound");
                }
        return ret;
}
