/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* What the AMD-Vi extended feature register (EFR) says about a unit. */
typedef struct AmdIommuCaps {
        uint64_t efr, efr2;
        unsigned host_levels;     /* host page-table levels from EFR.HATS (4..6); 0 if HATS says none */
        unsigned address_width;   /* input width those levels translate; 0 = unknown */
        bool guest_translation;   /* EFR.GTSup */
        bool x2apic;              /* EFR.XTSup */
} AmdIommuCaps;

/* Parse amd-iommu/features: "EFR:EFR2" (6.x) or "EFR" (older), each "%llx". */
int amd_iommu_decode(const char *features, AmdIommuCaps *ret);
