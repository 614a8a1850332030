/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "amd-iommu.h"
#include "intel-iommu.h"

struct udev;

typedef enum IommuKind {
        IOMMU_KIND_INTEL,
        IOMMU_KIND_AMD,
        IOMMU_KIND_VIRTIO,
        IOMMU_KIND_SMMU,
        IOMMU_KIND_UNKNOWN,
        _IOMMU_KIND_MAX,
} IommuKind;

typedef struct IommuUnit {
        char *name;              /* sysfs name under /sys/class/iommu, e.g. "dmar0" */
        IommuKind kind;
        unsigned address_width;  /* decoded input width in bits; 0 = not known from sysfs */
        char *width_note;        /* why the width is unknown, or how it was derived */
        bool have_intel;
        char *intel_cap, *intel_ecap;
        IntelIommuCaps intel;
        bool have_amd;
        char *amd_features;
        AmdIommuCaps amd;
} IommuUnit;

typedef struct IommuUnitList {
        IommuUnit *units;
        size_t n_units;
} IommuUnitList;

/* Upper bound: a real host has a few dozen units; anything
 * beyond is treated as a broken or hostile sysfs and cut off rather than followed. */
#define IOMMU_UNITS_MAX 1024

const char *iommu_kind_to_string(IommuKind k);
int iommu_units_scan(struct udev *udev, IommuUnitList *ret);
void iommu_unit_list_done(IommuUnitList *l);
