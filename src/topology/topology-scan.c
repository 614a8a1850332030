/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <libudev.h>
#include <stdlib.h>
#include <string.h>

#include "iommu-group.h"
#include "macro.h"
#include "pci-address.h"
#include "pci-device.h"
#include "strv.h"
#include "switches.h"
#include "topology-scan.h"
#include "udev-util.h"


void topology_done(Topology *t) {
        for (size_t i = 0; i < t->n_devices; i++)
                pci_device_done(&t->devices[i]);
        free(t->devices);
        for (size_t i = 0; i < t->n_groups; i++)
                iommu_group_done(&t->groups[i]);
        free(t->groups);
        iommu_unit_list_done(&t->units);
        kernel_switches_done(&t->switches);
        *t = (Topology) {};
}

static int device_cmp(const void *a, const void *b) {
        return strcmp(((const PciDevice *) a)->address, ((const PciDevice *) b)->address);
}

/* Put group g (members already filled, or none) into the sorted group table, or drop its slot. */
static int group_store(Topology *t, int id, IommuGroup *g) {
        IommuGroup *slot = (IommuGroup *) topology_find_group(t, id);
        int r;

        if (g->n_members == 0) {
                if (slot) {
                        size_t idx = slot - t->groups;
                        iommu_group_done(slot);
                        memmove(slot, slot + 1, (t->n_groups - idx - 1) * sizeof(IommuGroup));
                        t->n_groups--;
                }
                return 0;
        }

        r = iommu_group_read(id, g);
        if (r < 0)
                return r;

        if (slot) {
                iommu_group_done(slot);
                *slot = *g;
        } else {
                IommuGroup *n = reallocarray(t->groups, t->n_groups + 1, sizeof(IommuGroup));
                size_t pos = t->n_groups;

                if (!n)
                        return -ENOMEM;
                t->groups = n;
                /* Scans add groups in ascending order: search from the end. */
                while (pos > 0 && t->groups[pos - 1].id > id)
                        pos--;
                memmove(t->groups + pos + 1, t->groups + pos, (t->n_groups - pos) * sizeof(IommuGroup));
                t->groups[pos] = *g;
                t->n_groups++;
        }
        *g = (IommuGroup) { .id = -1 };
        return 0;
}

/* (Re)build one group from the device list and its sysfs directory (after a uevent). */
static int group_refresh(Topology *t, int id) {
        _cleanup_(iommu_group_done) IommuGroup g = { .id = -1 };
        int r;

        for (size_t i = 0; i < t->n_devices; i++)
                if (t->devices[i].iommu_group == id) {
                        r = strv_push_n(&g.members, &g.n_members, t->devices[i].address);
                        if (r < 0)
                                return r;
                }
        return group_store(t, id, &g);
}

static int by_group(const void *a, const void *b, void *userdata) {
        const Topology *t = userdata;
        size_t i = *(const size_t *) a, j = *(const size_t *) b;
        int x = t->devices[i].iommu_group, y = t->devices[j].iommu_group;

        if (x != y)
                return (x > y) - (x < y);
        return (i > j) - (i < j);
}

static int device_add(struct udev_device *d, void *userdata) {
        Topology *t = userdata;
        PciDevice *n;
        int r;

        if (t->n_devices >= TOPOLOGY_DEVICES_MAX)
                return -E2BIG;
        n = reallocarray(t->devices, t->n_devices + 1, sizeof(PciDevice));
        if (!n)
                return -ENOMEM;
        t->devices = n;
        r = pci_device_read(d, &t->devices[t->n_devices]);
        if (r == -ENODEV || r == -EINVAL)
                return 0;  /* vanished, or not a PCI function we can name */
        if (r < 0)
                return r;
        t->n_devices++;
        return 0;
}

int topology_scan(struct udev *udev, Topology *ret) {
        _cleanup_(topology_done) Topology t = {};
        _cleanup_free_ void *ids = NULL;
        int r;

        r = iommu_units_scan(udev, &t.units);
        if (r < 0)
                return r;
        r = udev_foreach_device(udev, "pci", device_add, &t);
        if (r < 0)
                return r;
        if (t.n_devices > 1)
                qsort(t.devices, t.n_devices, sizeof(PciDevice), device_cmp);

        /* Groups in one pass: devices sorted by group id, each run of equal ids is one group. */
        ids = calloc(t.n_devices + 1, sizeof(size_t) * 2);
        if (!ids)
                return -ENOMEM;
        size_t *order = (size_t *) ids, n_order = 0;
        for (size_t i = 0; i < t.n_devices; i++)
                if (t.devices[i].iommu_group >= 0)
                        order[n_order++] = i;
        qsort_r(order, n_order, sizeof(size_t), by_group, &t);
        for (size_t i = 0; i < n_order; ) {
                _cleanup_(iommu_group_done) IommuGroup g = { .id = -1 };
                int id = t.devices[order[i]].iommu_group;

                /* Members keep address order: the sort is stable on it (ties broken by index). */
                for (; i < n_order && t.devices[order[i]].iommu_group == id; i++) {
                        r = strv_push_n(&g.members, &g.n_members, t.devices[order[i]].address);
                        if (r < 0)
                                return r;
                }
                r = group_store(&t, id, &g);
                if (r < 0)
                        return r;
        }

        *ret = t;
        t = (Topology) {};
        return 0;
}

int topology_update_device(Topology *t, struct udev_device *d, const char *action) {
        const char *name = udev_device_get_sysname(d);
        PciDevice *slot = (PciDevice *) topology_find_device(t, name);
        int old_group = slot ? slot->iommu_group : -1, new_group = -1;
        int r;

        if (action && strcmp(action, "remove") == 0) {
                if (!slot)
                        return 0;
                size_t idx = slot - t->devices;
                pci_device_done(slot);
                memmove(slot, slot + 1, (t->n_devices - idx - 1) * sizeof(PciDevice));
                t->n_devices--;
        } else {
                PciDevice p;

                r = pci_device_read(d, &p);
                if (r == -ENODEV) {
                        /* Gone between the event and our read: treat as removed. */
                        return slot ? topology_update_device(t, d, "remove") : 0;
                }
                if (r < 0)
                        return r;
                new_group = p.iommu_group;

                if (slot) {
                        /* The host-use marks come from facts read apart from the device (mounts,
                         * routes, swap): they hold until those facts are read again. */
                        p.host_use = slot->host_use;
                        p.host_use_detail = TAKE_PTR(slot->host_use_detail);
                        pci_device_done(slot);
                        *slot = p;
                } else {
                        PciDevice *n;
                        size_t pos = 0;

                        if (t->n_devices >= TOPOLOGY_DEVICES_MAX) {
                                pci_device_done(&p);
                                return -E2BIG;
                        }
                        n = reallocarray(t->devices, t->n_devices + 1, sizeof(PciDevice));
                        if (!n) {
                                pci_device_done(&p);
                                return -ENOMEM;
                        }
                        t->devices = n;
                        while (pos < t->n_devices && strcmp(t->devices[pos].address, p.address) < 0)
                                pos++;
                        memmove(t->devices + pos + 1, t->devices + pos, (t->n_devices - pos) * sizeof(PciDevice));
                        t->devices[pos] = p;
                        t->n_devices++;
                }
        }

        if (old_group >= 0) {
                r = group_refresh(t, old_group);
                if (r < 0)
                        return r;
        }
        if (new_group >= 0 && new_group != old_group) {
                r = group_refresh(t, new_group);
                if (r < 0)
                        return r;
        }
        return 1;
}

/* Drop a device that is gone from sysfs (no udev object to be had) and refresh its group. */
static int topology_drop_device(Topology *t, const char *address) {
        PciDevice *slot = (PciDevice *) topology_find_device(t, address);
        int group;
        size_t idx;

        if (!slot)
                return 0;
        group = slot->iommu_group;
        idx = slot - t->devices;
        pci_device_done(slot);
        memmove(slot, slot + 1, (t->n_devices - idx - 1) * sizeof(PciDevice));
        t->n_devices--;
        return group >= 0 ? group_refresh(t, group) : 0;
}

int topology_reread_device(struct udev *udev, Topology *t, const char *address) {
        _cleanup_(udev_device_unrefp) struct udev_device *d = NULL;
        int r;

        d = udev_device_new_from_subsystem_sysname(udev, "pci", address);
        if (!d)
                return topology_drop_device(t, address);
        r = topology_update_device(t, d, "change");
        return r < 0 ? r : 0;
}

static bool strv_n_contains(char *const *l, size_t n, const char *s) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(l[i], s) == 0)
                        return true;
        return false;
}

int topology_refresh_group(struct udev *udev, Topology *t, int id, bool *ret_changed) {
        _cleanup_(strv_freep) char **listed = NULL, **before = NULL;
        _cleanup_closedir_ DIR *dir = NULL;
        _cleanup_free_ char *path = NULL;
        size_t n_listed = 0, n_before = 0;
        const IommuGroup *g;
        struct dirent *de;
        bool changed = false;
        int r;

        if (id < 0)
                return -EINVAL;
        g = topology_find_group(t, id);
        for (size_t i = 0; g && i < g->n_members; i++) {
                r = strv_push_n(&before, &n_before, g->members[i]);
                if (r < 0)
                        return r;
        }

        if (asprintf(&path, "/sys/kernel/iommu_groups/%d/devices", id) < 0)
                return -ENOMEM;
        dir = opendir(path);
        if (!dir && errno != ENOENT)
                return negative_errno();
        while (dir && (errno = 0, de = readdir(dir))) {
                if (de->d_name[0] == '.')
                        continue;
                /* Anything else there is not a PCI function we could hand out or leave behind:
                 * refuse the group rather than guess. */
                if (!pci_address_is_valid(de->d_name))
                        return -EBADMSG;
                if (n_listed >= TOPOLOGY_DEVICES_MAX)
                        return -E2BIG;
                r = strv_push_n(&listed, &n_listed, de->d_name);
                if (r < 0)
                        return r;
        }
        if (dir && errno != 0)
                return negative_errno();

        /* Every device the group names now, and every one it named before (moved or gone). */
        for (size_t i = 0; i < n_listed; i++) {
                r = topology_reread_device(udev, t, listed[i]);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < n_before; i++)
                if (!strv_n_contains(listed, n_listed, before[i])) {
                        r = topology_reread_device(udev, t, before[i]);
                        if (r < 0)
                                return r;
                }

        g = topology_find_group(t, id);
        changed = (g ? g->n_members : 0) != n_before;
        for (size_t i = 0; g && !changed && i < g->n_members; i++)
                changed = !strv_n_contains(before, n_before, g->members[i]);
        if (ret_changed)
                *ret_changed = changed;
        return 0;
}
