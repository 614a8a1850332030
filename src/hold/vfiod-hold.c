/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfiod-hold ADDRESS: run by udev (70-vfiod-hold.rules) when a PCI device is added, before the
 * driver modules are loaded for it. If the device's deciding policy rule says bindAtBoot, no driver
 * has it yet, and nobody set a driver_override, write BINDER_HOLD_OVERRIDE, which no driver
 * matches: the host driver never binds it, and vfiod then binds its group after every check, or
 * clears the hold and lets the bus pick a driver. Never fails the uevent: it exits 0 whatever
 * happens, and says why in the journal when it holds or cannot read the policy. */
#include <errno.h>
#include <fcntl.h>
#include <libudev.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <systemd/sd-journal.h>

#include "binder.h"
#include "macro.h"
#include "pci-address.h"
#include "pci-device.h"
#include "policy.h"

static void udev_unrefp(struct udev **u) {
        udev_unref(*u);
}

static void udev_device_unrefp(struct udev_device **d) {
        udev_device_unref(*d);
}

static int hold(const char *address) {
        char path[sizeof("/sys/bus/pci/devices//driver_override") + PCI_ADDRESS_STRLEN_MAX];
        _cleanup_close_ int fd = -EBADF;
        ssize_t n;

        /* address is canonical (pci_address_normalize), so this names the device and nothing else. */
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", address);
        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        n = write(fd, BINDER_HOLD_OVERRIDE, strlen(BINDER_HOLD_OVERRIDE));
        if (n < 0)
                return -errno;
        return n == (ssize_t) strlen(BINDER_HOLD_OVERRIDE) ? 0 : -EIO;
}

int main(int argc, char *argv[]) {
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(udev_device_unrefp) struct udev_device *ud = NULL;
        _cleanup_free_ char *error = NULL;
        char address[PCI_ADDRESS_STRLEN_MAX + 1];
        const PolicyRule *rule;
        PciDevice d = {};
        Policy p;
        int r;

        if (argc != 2 || pci_address_normalize(argv[1], address) < 0 || strcmp(address, argv[1]) != 0) {
                fprintf(stderr, "usage: vfiod-hold PCI-ADDRESS (canonical, as the kernel names it)\n");
                return 0;
        }

        udev = udev_new();
        if (udev)
                ud = udev_device_new_from_subsystem_sysname(udev, "pci", address);
        if (!ud || pci_device_read(ud, &d) < 0) {
                pci_device_done(&d);
                return 0;   /* gone again, or not a function we can name */
        }
        /* Bound already (most devices at coldplug: their drivers came with the initramfs), or
         * someone else chose its driver: nothing to hold, and no policy to read. */
        if (d.driver || (d.driver_override && *d.driver_override)) {
                pci_device_done(&d);
                return 0;
        }

        r = policy_load_standard(&p, &error);
        if (r < 0) {
                /* vfiod then runs on its strict defaults, which bind nothing at boot: hold nothing. */
                sd_journal_send("MESSAGE=Not holding %s: the policy does not load: %s", address, error ?: strerror(-r),
                                "PRIORITY=%i", LOG_WARNING, "SYSLOG_IDENTIFIER=vfiod-hold", "VFIOD_DEVICE=%s", address, NULL);
                pci_device_done(&d);
                return 0;
        }
        if (!policy_binds_at_boot(&p, &d))
                goto out;

        rule = policy_rule_for_device(&p, &d);
        r = hold(address);
        if (r < 0)
                sd_journal_send("MESSAGE=Cannot hold %s from its host driver for rule \"%s\": %s", address, rule->name,
                                strerror(-r), "PRIORITY=%i", LOG_WARNING, "SYSLOG_IDENTIFIER=vfiod-hold",
                                "VFIOD_DEVICE=%s", address, NULL);
        else
                sd_journal_send("MESSAGE=Holding %s from its host driver: rule \"%s\" in %s binds it at boot; vfiod decides.",
                                address, rule->name, strna(rule->file), "PRIORITY=%i", LOG_INFO,
                                "SYSLOG_IDENTIFIER=vfiod-hold", "VFIOD_DEVICE=%s", address, NULL);
out:
        pci_device_done(&d);
        policy_done(&p);
        return 0;
}
