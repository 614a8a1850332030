/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared by the host-use collectors (storage, network, console); not for other modules. */

#include "topology.h"

struct udev;
struct udev_device;

/* Mark the PCI device above d (if any) as used by the host for "what". */
void host_use_mark(Topology *t, struct udev_device *d, HostUse use, const char *what);
void host_use_mark_pci(PciDevice *p, HostUse use, const char *what);

int host_use_apply_storage(struct udev *udev, Topology *t);
int host_use_apply_net(struct udev *udev, Topology *t);
