/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "hexdecoct.h"
#include "intel-iommu.h"

/* sysfs prints these registers with "%llx\n": accept exactly that and nothing else,
 * so a malformed value is reported as missing instead of being half-decoded. */
int parse_hex_u64(const char *s, uint64_t *ret) {
        uint64_t v = 0;
        size_t n = 0;

        if (!s)
                return -EINVAL;

        for (; *s && *s != '\n'; s++, n++) {
                int d;

                if (n >= 16)
                        return -ERANGE;
                d = unhexchar(*s);
                if (d < 0)
                        return -EINVAL;
                v = (v << 4) | (unsigned) d;
        }
        if (n == 0)
                return -EINVAL;
        if (*s == '\n' && s[1] != '\0')
                return -EINVAL;

        *ret = v;
        return 0;
}

unsigned intel_sagaw_width(unsigned bit) {
        /* VT-d spec 11.4.2: SAGAW bit 1 = 39-bit (3-level), 2 = 48-bit (4-level), 3 = 57-bit (5-level). */
        return 30 + 9 * bit;
}

int intel_iommu_decode(const char *cap, const char *ecap, IntelIommuCaps *ret) {
        uint64_t c, e = 0;
        int r;

        r = parse_hex_u64(cap, &c);
        if (r < 0)
                return r;
        if (ecap) {
                r = parse_hex_u64(ecap, &e);
                if (r < 0)
                        return r;
        }
        /* No real unit reports an all-zero capability register. */
        if (c == 0)
                return -EBADMSG;

        IntelIommuCaps caps = {
                .mgaw = ((c >> 16) & 0x3f) + 1,
                .sagaw_mask = (c >> 8) & 0x1f,
                .interrupt_remapping = ecap && (e & (UINT64_C(1) << 3)),
                .pass_through = ecap && (e & (UINT64_C(1) << 6)),
        };

        /* The kernel builds page tables with the widest supported level count that does not
         * exceed MGAW; the usable input width is the smaller of the two. */
        for (unsigned bit = 1; bit <= 3; bit++)
                if (caps.sagaw_mask & (1u << bit)) {
                        unsigned w = intel_sagaw_width(bit);
                        caps.address_width = w < caps.mgaw ? w : caps.mgaw;
                }

        *ret = caps;
        return 0;
}
