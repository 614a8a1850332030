/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "udev-util.h"

int udev_foreach_device(struct udev *udev, const char *subsystem,
                        int (*cb)(struct udev_device *d, void *userdata), void *userdata) {
        _cleanup_(udev_enumerate_unrefp) struct udev_enumerate *e = NULL;
        struct udev_list_entry *entry;
        int r;

        e = udev_enumerate_new(udev);
        if (!e)
                return -ENOMEM;
        r = udev_enumerate_add_match_subsystem(e, subsystem);
        if (r < 0)
                return r;
        r = udev_enumerate_scan_devices(e);
        if (r < 0)
                return r;

        udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e)) {
                _cleanup_(udev_device_unrefp) struct udev_device *d = NULL;

                d = udev_device_new_from_syspath(udev, udev_list_entry_get_name(entry));
                if (!d)
                        continue;
                r = cb(d, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}
