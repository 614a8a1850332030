/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* /sys/class/iommu/ivhdN/amd-iommu/features: "EFR:EFR2" or "EFR". */
#include "amd-iommu.h"
#include "fuzz.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = fuzz_string(data, size);
        AmdIommuCaps c;

        if (amd_iommu_decode(text, &c) < 0)
                return 0;
        FUZZ_ASSERT(c.address_width <= 64);
        FUZZ_ASSERT(c.host_levels == 0 || (c.host_levels >= 4 && c.host_levels <= 6));
        FUZZ_ASSERT((c.host_levels == 0) == (c.address_width == 0));
        return 0;
}
