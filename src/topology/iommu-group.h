/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "topology.h"

#define RESERVED_REGIONS_MAX 256

const char *reserved_region_type_to_string(ReservedRegionType t);
/* Parse /sys/kernel/iommu_groups/N/reserved_regions ("0x... 0x... type" per line). Strict. */
int reserved_regions_parse(const char *text, ReservedRegion **ret, size_t *ret_n);
/* Read type, name and reserved regions of group id (members are filled by the caller). */
int iommu_group_read(int id, IommuGroup *g);
void iommu_group_done(IommuGroup *g);
