/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

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
