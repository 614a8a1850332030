/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <libudev.h>
#include <stdlib.h>
#include <string.h>

#include "iommu-unit.h"
#include "macro.h"
#include "udev-util.h"


static const char *const kind_table[_IOMMU_KIND_MAX] = {
        [IOMMU_KIND_INTEL] = "intel",
        [IOMMU_KIND_AMD] = "amd",
        [IOMMU_KIND_VIRTIO] = "virtio",
        [IOMMU_KIND_SMMU] = "smmu",
        [IOMMU_KIND_UNKNOWN] = "unknown",
};

const char *iommu_kind_to_string(IommuKind k) {
        if (k < 0 || k >= _IOMMU_KIND_MAX)
                return NULL;
        return kind_table[k];
}

static void iommu_unit_done(IommuUnit *u) {
        free(u->name);
        free(u->width_note);
        free(u->intel_cap);
        free(u->intel_ecap);
        free(u->amd_features);
        *u = (IommuUnit) {};
}

void iommu_unit_list_done(IommuUnitList *l) {
        for (size_t i = 0; i < l->n_units; i++)
                iommu_unit_done(&l->units[i]);
        free(l->units);
        *l = (IommuUnitList) {};
}

static IommuKind classify(struct udev_device *d) {
        const char *name = udev_device_get_sysname(d);
        struct udev_device *parent;

        if (udev_device_get_sysattr_value(d, "intel-iommu/cap"))
                return IOMMU_KIND_INTEL;
        if (udev_device_get_sysattr_value(d, "amd-iommu/cap") || udev_device_get_sysattr_value(d, "amd-iommu/features"))
                return IOMMU_KIND_AMD;

        /* virtio-iommu and the Arm SMMUs expose no registers in sysfs; recognise them by the
         * driver of the device that registered the unit, falling back to the name. */
        parent = udev_device_get_parent(d);
        if (parent) {
                const char *drv = udev_device_get_driver(parent);
                if (drv && strcmp(drv, "virtio_iommu") == 0)
                        return IOMMU_KIND_VIRTIO;
                if (drv && (strncmp(drv, "arm-smmu", 8) == 0 || strncmp(drv, "arm_smmu", 8) == 0))
                        return IOMMU_KIND_SMMU;
        }
        if (name && strstr(name, "smmu"))
                return IOMMU_KIND_SMMU;
        return IOMMU_KIND_UNKNOWN;
}

static int unit_fill_intel(struct udev_device *d, IommuUnit *u) {
        const char *cap = udev_device_get_sysattr_value(d, "intel-iommu/cap");
        const char *ecap = udev_device_get_sysattr_value(d, "intel-iommu/ecap");
        int r;

        if (cap) {
                u->intel_cap = strndup(cap, strcspn(cap, "\n"));
                if (!u->intel_cap)
                        return -ENOMEM;
        }
        if (ecap) {
                u->intel_ecap = strndup(ecap, strcspn(ecap, "\n"));
                if (!u->intel_ecap)
                        return -ENOMEM;
        }

        r = intel_iommu_decode(cap, ecap, &u->intel);
        if (r < 0) {
                if (asprintf(&u->width_note, "intel-iommu/cap '%s' could not be decoded: %s",
                             strna(u->intel_cap), strerror(-r)) < 0)
                        return -ENOMEM;
                return 0;
        }
        u->have_intel = true;
        u->address_width = u->intel.address_width;
        u->width_note = strdup(u->address_width > 0 ? "decoded from intel-iommu/cap (MGAW and SAGAW)"
                                                    : "intel-iommu/cap lists no supported page-table depth");
        return u->width_note ? 0 : -ENOMEM;
}

static int unit_fill_amd(struct udev_device *d, IommuUnit *u) {
        const char *f = udev_device_get_sysattr_value(d, "amd-iommu/features");
        int r;

        if (f) {
                u->amd_features = strndup(f, strcspn(f, "\n"));
                if (!u->amd_features)
                        return -ENOMEM;
        }
        r = amd_iommu_decode(f, &u->amd);
        if (r < 0) {
                if (asprintf(&u->width_note, "amd-iommu/features '%s' could not be decoded: %s",
                             strna(u->amd_features), strerror(-r)) < 0)
                        return -ENOMEM;
                return 0;
        }
        u->have_amd = true;
        u->address_width = u->amd.address_width;
        if (u->address_width > 0)
                r = asprintf(&u->width_note, "decoded from amd-iommu/features (EFR.HATS: %u host page-table levels)",
                             u->amd.host_levels);
        else
                r = asprintf(&u->width_note, "amd-iommu/features: EFR.HATS is reserved; measured at Acquire");
        return r < 0 ? -ENOMEM : 0;
}

static int unit_from_udev(struct udev_device *d, IommuUnit *u) {
        const char *width_note = NULL;
        int r;

        u->name = strdup(udev_device_get_sysname(d));
        if (!u->name)
                return -ENOMEM;
        u->kind = classify(d);

        switch (u->kind) {
        case IOMMU_KIND_INTEL:
                r = unit_fill_intel(d, u);
                if (r < 0)
                        return r;
                break;
        case IOMMU_KIND_AMD:
                r = unit_fill_amd(d, u);
                if (r < 0)
                        return r;
                break;
        case IOMMU_KIND_VIRTIO:
                width_note = "virtio-iommu exposes its input range only through VFIO; measured at Acquire";
                break;
        case IOMMU_KIND_SMMU:
                width_note = "SMMU input size is not exposed in sysfs; measured at Acquire";
                break;
        default:
                width_note = "unrecognised IOMMU driver";
        }
        if (width_note) {
                u->width_note = strdup(width_note);
                if (!u->width_note)
                        return -ENOMEM;
        }

        return 0;
}

static int unit_cmp(const void *a, const void *b) {
        return strcmp(((const IommuUnit *) a)->name, ((const IommuUnit *) b)->name);
}

static int unit_add(struct udev_device *d, void *userdata) {
        IommuUnitList *l = userdata;
        IommuUnit *n;

        if (l->n_units >= IOMMU_UNITS_MAX)
                return -E2BIG;
        n = reallocarray(l->units, l->n_units + 1, sizeof(IommuUnit));
        if (!n)
                return -ENOMEM;
        l->units = n;
        l->units[l->n_units++] = (IommuUnit) {};
        return unit_from_udev(d, &l->units[l->n_units - 1]);
}

int iommu_units_scan(struct udev *udev, IommuUnitList *ret) {
        _cleanup_(iommu_unit_list_done) IommuUnitList l = {};
        int r;

        r = udev_foreach_device(udev, "iommu", unit_add, &l);
        if (r < 0)
                return r;
        if (l.n_units > 0)
                qsort(l.units, l.n_units, sizeof(IommuUnit), unit_cmp);
        *ret = l;
        l = (IommuUnitList) {};
        return 0;
}
