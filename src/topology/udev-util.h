/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libudev.h>

#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev_enumerate *, udev_enumerate_unref);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev_device *, udev_device_unref);

/* Call cb for every device of a subsystem; devices that vanish while we look are skipped.
 * A negative return from cb stops the walk and is returned. */
int udev_foreach_device(struct udev *udev, const char *subsystem,
                        int (*cb)(struct udev_device *d, void *userdata), void *userdata);
