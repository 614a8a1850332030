/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "pci-address.h"

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int pci_address_normalize(const char *s, char ret[static PCI_ADDRESS_STRLEN + 1]) {
        /* Layout: hhhh:hh:hh.h — checked character by character, no sscanf leniency. */
        static const char layout[] = "hhhh:hh:hh.h";
        char out[PCI_ADDRESS_STRLEN + 1];
        int dev, fn;

        if (!s || strnlen(s, PCI_ADDRESS_STRLEN + 1) != PCI_ADDRESS_STRLEN)
                return -EINVAL;

        for (size_t i = 0; i < PCI_ADDRESS_STRLEN; i++) {
                if (layout[i] == 'h') {
                        int v = hexval(s[i]);
                        if (v < 0)
                                return -EINVAL;
                        out[i] = "0123456789abcdef"[v];
                } else {
                        if (s[i] != layout[i])
                                return -EINVAL;
                        out[i] = s[i];
                }
        }
        out[PCI_ADDRESS_STRLEN] = '\0';

        dev = hexval(out[8]) * 16 + hexval(out[9]);
        fn = hexval(out[11]);
        if (dev > 0x1f || fn > 7)
                return -EINVAL;

        memcpy(ret, out, sizeof(out));
        return 0;
}

bool pci_address_is_valid(const char *s) {
        char buf[PCI_ADDRESS_STRLEN + 1];
        return pci_address_normalize(s, buf) >= 0 && strcmp(buf, s) == 0;
}
