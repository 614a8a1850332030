/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* /sys/kernel/iommu_groups/N/reserved_regions: what is accepted prints back to the same regions. */
#include <inttypes.h>
#include <stdio.h>

#include "fuzz.h"
#include "iommu-group.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = fuzz_string(data, size), *again = NULL;
        _cleanup_free_ ReservedRegion *regions = NULL, *regions2 = NULL;
        size_t n = 0, n2 = 0, len = 0;
        FILE *f;

        if (reserved_regions_parse(text, &regions, &n) < 0)
                return 0;
        FUZZ_ASSERT(n <= RESERVED_REGIONS_MAX);

        f = open_memstream(&again, &len);
        FUZZ_ASSERT(f);
        for (size_t i = 0; i < n; i++) {
                FUZZ_ASSERT(regions[i].start <= regions[i].end);
                FUZZ_ASSERT(reserved_region_type_to_string(regions[i].type));
                fprintf(f, "0x%016" PRIx64 " 0x%016" PRIx64 " %s\n", regions[i].start, regions[i].end,
                        reserved_region_type_to_string(regions[i].type));
        }
        FUZZ_ASSERT(fclose(f) == 0);

        FUZZ_ASSERT(reserved_regions_parse(again, &regions2, &n2) == 0);
        FUZZ_ASSERT(n2 == n);
        FUZZ_ASSERT(n == 0 || memcmp(regions, regions2, n * sizeof(ReservedRegion)) == 0);
        return 0;
}
