/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* What the VT-d capability registers say about a DMA remapping unit (DRHD). */
typedef struct IntelIommuCaps {
        unsigned mgaw;           /* maximum guest address width, bits */
        unsigned sagaw_mask;     /* supported adjusted guest address widths, bit i = 30 + 9*i bits */
        unsigned address_width;  /* usable input width: min(MGAW, widest SAGAW); 0 if none supported */
        bool interrupt_remapping;        /* ecap.IR */
        bool pass_through;               /* ecap.PT */
} IntelIommuCaps;

int parse_hex_u64(const char *s, uint64_t *ret);
int intel_iommu_decode(const char *cap, const char *ecap, IntelIommuCaps *ret);
unsigned intel_sagaw_width(unsigned bit);
