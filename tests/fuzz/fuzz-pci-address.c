/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Caller-supplied PCI addresses: what is accepted normalises to a canonical, valid, fixed point. */
#include "fuzz.h"
#include "macro.h"
#include "pci-address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = fuzz_string(data, size);
        char a[PCI_ADDRESS_STRLEN_MAX + 1], b[PCI_ADDRESS_STRLEN_MAX + 1];

        if (pci_address_normalize(text, a) < 0) {
                FUZZ_ASSERT(!pci_address_is_valid(text));
                return 0;
        }
        FUZZ_ASSERT(strlen(a) <= PCI_ADDRESS_STRLEN_MAX);
        FUZZ_ASSERT(pci_address_is_valid(a));
        FUZZ_ASSERT(pci_address_normalize(a, b) == 0 && strcmp(a, b) == 0);
        return 0;
}
