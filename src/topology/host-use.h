/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "topology.h"

struct udev;

/* Mark the devices the host cannot spare: storage under mounts of every namespace, swap,
 * held volumes and loop files (through dm/md/LVM), NICs with an address or a route, the boot VGA with a console. Read at decision
 * time: mounts and routes change without uevents on the PCI device. */
int host_use_apply(struct udev *udev, Topology *t);
