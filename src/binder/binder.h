/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The only code that rebinds PCI drivers. Every function here is blocking (a driver's unbind
 * may hang in the kernel): the daemon calls them in a worker process, never on its event loop.
 * Paths are built only from addresses that passed pci_address_is_valid() and from driver
 * names read back from sysfs, never from caller input as such. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BINDER_DRIVER_MAX 64

typedef struct BindDevice {
        char address[17];                       /* canonical PCI address */
        char original_driver[BINDER_DRIVER_MAX]; /* "" when it had none */
        char original_override[BINDER_DRIVER_MAX]; /* "" when unset */
        /* What was at the address when it was moved (vendor 0: not recorded, older journals):
         * addresses and group ids are reused after a hot-unplug, and a restore must not take
         * whatever device came next. */
        uint16_t vendor, device;
        int group;
} BindDevice;

/* Test-only fault injection: if $VFIOD_TEST_CRASH_AT names this point, the whole daemon (the
 * worker and its parent) is killed with SIGKILL right there. Points: "bind-after-override",
 * "bind-after-unbind", "bind-after-probe", "restore-after-unbind", "restore-after-bind". */
void binder_crash_point(const char *point);

/* Is the vfio-pci driver registered? (-ENOENT when not: the module is not loaded) */
int binder_vfio_pci_available(void);

/* Read what a device is bound to now: driver name ("" if none) and driver_override ("" if unset). */
int binder_read_state(const char *address, char driver[static BINDER_DRIVER_MAX], char override[static BINDER_DRIVER_MAX]);

/* Move every device to vfio-pci: driver_override=vfio-pci, unbind from its current driver,
 * drivers_probe, verify the driver link, then wait (bounded by timeout_usec) for /dev/vfio/GROUP.
 * On any failure every device already touched is rolled back to its original driver and
 * override, and a negative errno is returned with a sentence in *ret_error (malloc'd). */
int binder_bind_group(const BindDevice *devices, size_t n, int group, uint64_t timeout_usec, char **ret_error);

/* Give one device back: clear driver_override, unbind it from vfio-pci (or whatever it is on,
 * if that is not its original driver), bind the original driver and verify; a device that had no
 * driver stays unbound. Idempotent: a device already on its original driver is left alone. */
int binder_restore_device(const BindDevice *device, uint64_t timeout_usec, char **ret_error);
