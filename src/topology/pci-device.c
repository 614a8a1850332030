/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <libudev.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "intel-iommu.h"
#include "macro.h"
#include "strv.h"
#include "pci-address.h"
#include "pci-device.h"

static const char *const state_table[_DEVICE_STATE_MAX] = {
        [DEVICE_STATE_HOST] = "host",
        [DEVICE_STATE_UNBOUND] = "unbound",
        [DEVICE_STATE_VFIO] = "vfio",
};

const char *device_state_to_string(DeviceState s) {
        if (s < 0 || s >= _DEVICE_STATE_MAX)
                return NULL;
        return state_table[s];
}

bool pci_device_is_bridge(const PciDevice *d) {
        /* Header type 1/2, or class "bridge: host/PCI/CardBus" — none of these is assignable. */
        return d->header_type != 0 || (d->class >> 8) == 0x0600 || (d->class >> 8) == 0x0604 ||
                (d->class >> 8) == 0x0607;
}

void pci_device_done(PciDevice *d) {
        free(d->vendor_name);
        free(d->model_name);
        free(d->driver);
        free(d->driver_override);
        free(d->physfn);
        free(d->iommu_unit);
        free(d->parent);
        free(d->host_use_detail);
        free(d->held_by);
        free(d->held_by_domain);
        strv_free(d->domain_failed);
        *d = (PciDevice) {};
}

static int attr_hex(struct udev_device *d, const char *attr, uint64_t max, uint64_t *ret) {
        const char *v = udev_device_get_sysattr_value(d, attr);
        uint64_t x;

        if (!v)
                return -ENOENT;
        if (strncmp(v, "0x", 2) != 0)
                return -EINVAL;
        if (parse_hex_u64(v + 2, &x) < 0 || x > max)
                return -EINVAL;
        *ret = x;
        return 0;
}

static int attr_uint(struct udev_device *d, const char *attr, unsigned *ret) {
        const char *v = udev_device_get_sysattr_value(d, attr);
        char *end;
        unsigned long x;

        if (!v)
                return -ENOENT;
        errno = 0;
        x = strtoul(v, &end, 10);
        if (errno != 0 || end == v || (*end && *end != '\n') || x > UINT_MAX)
                return -EINVAL;
        *ret = x;
        return 0;
}

/* Basename of a symlink in the device directory ("iommu_group" -> "7"); NULL if absent. */
static int link_basename(struct udev_device *d, const char *name, char **ret) {
        _cleanup_free_ char *path = NULL;
        char target[PATH_MAX];
        ssize_t n;
        const char *b;

        if (asprintf(&path, "%s/%s", udev_device_get_syspath(d), name) < 0)
                return -ENOMEM;
        n = readlink(path, target, sizeof(target) - 1);
        if (n < 0) {
                *ret = NULL;
                return errno == ENOENT ? 0 : negative_errno();
        }
        target[n] = '\0';
        b = strrchr(target, '/');
        *ret = strdup(b ? b + 1 : target);
        return *ret ? 1 : -ENOMEM;
}

static int read_header_type(struct udev_device *d, uint8_t *ret) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint8_t b;

        /* Config space byte 0x0e; readable by everyone in the first 64 bytes. */
        if (asprintf(&path, "%s/config", udev_device_get_syspath(d)) < 0)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (pread(fd, &b, 1, 0x0e) != 1)
                return -EIO;
        *ret = b;
        return 0;
}

static int strdup_opt(const char *s, char **ret) {
        if (!s) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

int pci_device_read(struct udev_device *d, PciDevice *ret) {
        _cleanup_(pci_device_done) PciDevice p = { .iommu_group = -1 };
        _cleanup_free_ char *group = NULL;
        const char *v;
        uint64_t x;
        uint8_t ht = 0;
        int r;

        v = udev_device_get_sysname(d);
        if (!v || !pci_address_is_valid(v))
                return -EINVAL;
        strcpy(p.address, v);

        if (attr_hex(d, "vendor", 0xffff, &x) < 0)
                return -ENODEV;  /* the one attribute every live PCI device has */
        p.vendor = x;
        if (attr_hex(d, "device", 0xffff, &x) >= 0)
                p.device = x;
        if (attr_hex(d, "subsystem_vendor", 0xffff, &x) >= 0)
                p.subsystem_vendor = x;
        if (attr_hex(d, "subsystem_device", 0xffff, &x) >= 0)
                p.subsystem_device = x;
        if (attr_hex(d, "class", 0xffffff, &x) >= 0)
                p.class = x;

        r = strdup_opt(udev_device_get_property_value(d, "ID_VENDOR_FROM_DATABASE"), &p.vendor_name);
        if (r < 0)
                return r;
        r = strdup_opt(udev_device_get_property_value(d, "ID_MODEL_FROM_DATABASE"), &p.model_name);
        if (r < 0)
                return r;

        r = link_basename(d, "driver", &p.driver);
        if (r < 0)
                return r;
        v = udev_device_get_sysattr_value(d, "driver_override");
        if (v && strcmp(v, "(null)") != 0 && strcmp(v, "(null)\n") != 0) {
                p.driver_override = strndup(v, strcspn(v, "\n"));
                if (!p.driver_override)
                        return -ENOMEM;
        }

        if (read_header_type(d, &ht) >= 0) {
                p.header_type = ht & 0x7f;
                p.multifunction = ht & 0x80;
        }

        r = link_basename(d, "physfn", &p.physfn);
        if (r < 0)
                return r;
        (void) attr_uint(d, "sriov_numvfs", &p.sriov_numvfs);
        (void) attr_uint(d, "sriov_totalvfs", &p.sriov_totalvfs);
        v = udev_device_get_sysattr_value(d, "boot_vga");
        p.boot_vga = v && v[0] == '1';

        r = link_basename(d, "iommu_group", &group);
        if (r < 0)
                return r;
        if (group) {
                char *end;
                long g;

                errno = 0;
                g = strtol(group, &end, 10);
                if (errno == 0 && *end == '\0' && g >= 0 && g < INT_MAX)
                        p.iommu_group = g;
        }
        r = link_basename(d, "iommu", &p.iommu_unit);
        /* The AMD-Vi function carries its unit's own directory "iommu/", not a link to a unit:
         * that device is the IOMMU, translated by none, and still a PCI function to keep. */
        if (r == -EINVAL)
                p.iommu_unit = NULL;
        else if (r < 0)
                return r;

        /* The upstream bridge is the parent directory when that is a PCI function; reading it off
         * the path spares building a udev object per ancestor for every device. */
        v = udev_device_get_syspath(d);
        if (v) {
                const char *end = strrchr(v, '/'), *start = end;
                char buf[PCI_ADDRESS_STRLEN_MAX + 1];

                while (start && start > v && start[-1] != '/')
                        start--;
                if (end && start && (size_t) (end - start) <= PCI_ADDRESS_STRLEN_MAX) {
                        memcpy(buf, start, end - start);
                        buf[end - start] = '\0';
                        if (pci_address_is_valid(buf)) {
                                p.parent = strdup(buf);
                                if (!p.parent)
                                        return -ENOMEM;
                        }
                }
        }

        p.state = !p.driver ? DEVICE_STATE_UNBOUND :
                strcmp(p.driver, "vfio-pci") == 0 ? DEVICE_STATE_VFIO : DEVICE_STATE_HOST;

        *ret = p;
        p = (PciDevice) {};
        return 0;
}
