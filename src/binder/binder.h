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
        unsigned sriov_numvfs;                  /* SR-IOV VFs it had: unbinding a PF destroys them, restore recreates them */
        /* What was at the address when it was moved (vendor 0: not recorded, older journals):
         * addresses and group ids are reused after a hot-unplug, and a restore must not take
         * whatever device came next. */
        uint16_t vendor, device;
        int group;
        /* It was held from its host driver (BINDER_HOLD_OVERRIDE) when it was moved: giving it back
         * means letting the bus pick its driver, as if the hold had never been. */
        bool reprobe;
} BindDevice;

/* The driver_override vfiod-hold (the udev rule) writes for a device whose policy rule says
 * bindAtBoot and that no driver has yet: no driver has this name, so none binds it until vfiod
 * binds it or gives it back. */
#define BINDER_HOLD_OVERRIDE "vfiod-hold"

/* TotalVFs is a 16-bit field in the SR-IOV capability. */
#define BINDER_SRIOV_NUMVFS_MAX 65535U

/* Test-only fault injection: if $VFIOD_TEST_CRASH_AT names this point, the whole daemon (the
 * worker and its parent) is killed with SIGKILL right there. Points: "bind-after-override",
 * "bind-after-unbind", "bind-after-probe", "restore-after-unbind", "restore-after-bind".
 * $VFIOD_TEST_STALL_AT=POINT:SECONDS makes the worker sleep at that point instead (a slow driver). */
void binder_crash_point(const char *point);

/* Is the vfio-pci driver registered? (-ENOENT when not: the module is not loaded) */
int binder_vfio_pci_available(void);

/* Read what a device is bound to now: driver name ("" if none) and driver_override ("" if unset). */
int binder_read_state(const char *address, char driver[static BINDER_DRIVER_MAX], char override[static BINDER_DRIVER_MAX]);

/* Read sriov_numvfs (0 when the device is not an SR-IOV PF). */
int binder_read_sriov_numvfs(const char *address, unsigned *ret);

/* Move every device to vfio-pci: driver_override=vfio-pci, unbind from its current driver,
 * drivers_probe, verify the driver link, then wait (bounded by timeout_usec) for /dev/vfio/GROUP.
 * On any failure every device already touched is rolled back to its original driver and
 * override, and a negative errno is returned with a sentence in *ret_error (malloc'd). */
int binder_bind_group(const BindDevice *devices, size_t n, int group, uint64_t timeout_usec, char **ret_error);

/* Give one device back: clear driver_override, unbind it from vfio-pci (or whatever it is on,
 * if that is not its original driver), bind the original driver and verify; a device that had no
 * driver stays unbound. A PF that had VFs (sriov_numvfs > 0) gets them back once it is on its
 * driver again; if it has another non-zero number of VFs by then (made by the driver's probe), they
 * are left alone with a warning. Idempotent: a device already on its original driver with its VFs is left alone. */
int binder_restore_device(const BindDevice *device, uint64_t timeout_usec, char **ret_error);
