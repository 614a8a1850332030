/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "topology.h"

struct udev;
struct udev_device;

/* Upper bound on PCI devices we track: 256 buses x 32 x 8 per domain is the PCI limit per
 * domain; a host with more than this is treated as hostile input and refused. */
#define TOPOLOGY_DEVICES_MAX 65536

int topology_scan(struct udev *udev, Topology *ret);
void topology_done(Topology *t);

/* Apply one uevent: re-read (add/change/bind/unbind) or drop (remove) one device, then
 * refresh the groups it was and is in. Returns 1 if something changed. */
int topology_update_device(Topology *t, struct udev_device *d, const char *action);
/* Re-read IOMMU group id's members from sysfs, and every device it names or named, into the
 * snapshot. Decisions call this for the groups they touch: the snapshot follows uevents, which can
 * be lost (monitor overflow) or never sent. *ret_changed: the member list was stale. */
int topology_refresh_group(struct udev *udev, Topology *t, int id, bool *ret_changed);
/* Re-read one device by address (drop it if sysfs no longer has it), refreshing its groups. */
int topology_reread_device(struct udev *udev, Topology *t, const char *address);
