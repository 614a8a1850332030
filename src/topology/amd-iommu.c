/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "amd-iommu.h"
#include "intel-iommu.h"

int amd_iommu_decode(const char *features, AmdIommuCaps *ret) {
        char efr[17];
        const char *colon;
        uint64_t e, e2 = 0;
        unsigned hats;
        size_t n;
        int r;

        if (!features)
                return -EINVAL;
        colon = strchr(features, ':');
        n = colon ? (size_t) (colon - features) : strcspn(features, "\n");
        if (n == 0 || n >= sizeof(efr))
                return -EINVAL;
        memcpy(efr, features, n);
        efr[n] = '\0';
        r = parse_hex_u64(efr, &e);
        if (r < 0)
                return r;
        if (colon) {
                r = parse_hex_u64(colon + 1, &e2);
                if (r < 0)
                        return r;
        } else if (features[n] == '\n' && features[n + 1] != '\0')
                return -EINVAL;

        AmdIommuCaps c = {
                .efr = e,
                .efr2 = e2,
                .guest_translation = e & (UINT64_C(1) << 4),
                .x2apic = e & (UINT64_C(1) << 2),
        };

        /* EFR.HATS (bits 11:10): 0 = 4 levels, 1 = 5, 2 = 6, 3 = reserved. Each level adds
         * 9 bits above the 12-bit page offset; six levels cover the whole 64-bit space. */
        hats = (e >> 10) & 3;
        if (hats != 3) {
                c.host_levels = 4 + hats;
                c.address_width = 12 + 9 * c.host_levels;
                if (c.address_width > 64)
                        c.address_width = 64;
        }

        *ret = c;
        return 0;
}
