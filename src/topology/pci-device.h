/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "topology.h"

struct udev_device;

const char *device_state_to_string(DeviceState s);
bool pci_device_is_bridge(const PciDevice *d);
/* Read one PCI device from sysfs. -ENODEV if it vanished while we looked. */
int pci_device_read(struct udev_device *d, PciDevice *ret);
void pci_device_done(PciDevice *d);
