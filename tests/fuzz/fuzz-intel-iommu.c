/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* /sys/class/iommu/dmarN/intel-iommu/{cap,ecap}: input is "CAP" or "CAP\0ECAP". */
#include "fuzz.h"
#include "intel-iommu.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = fuzz_string(data, size);
        size_t n = strlen(text);
        const char *ecap = n < size ? text + n + 1 : NULL;
        IntelIommuCaps c;
        uint64_t v;

        if (intel_iommu_decode(text, ecap, &c) < 0)
                return 0;
        FUZZ_ASSERT(c.mgaw >= 1 && c.mgaw <= 64);
        FUZZ_ASSERT(c.address_width <= c.mgaw);
        FUZZ_ASSERT(c.sagaw_mask < 32);
        FUZZ_ASSERT(parse_hex_u64(text, &v) == 0 && v != 0);
        return 0;
}
