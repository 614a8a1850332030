/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "hexdecoct.h"
#include "pci-address.h"

int pci_address_normalize(const char *s, char ret[static PCI_ADDRESS_STRLEN_MAX + 1]) {
        char out[PCI_ADDRESS_STRLEN_MAX + 1];
        size_t len, dlen;
        int dev, fn;

        if (!s)
                return -EINVAL;
        len = strnlen(s, PCI_ADDRESS_STRLEN_MAX + 1);
        if (len < 12 || len > PCI_ADDRESS_STRLEN_MAX)
                return -EINVAL;

        /* Checked character by character against "D…D:bb:dd.f", no sscanf leniency. */
        dlen = len - 8;
        for (size_t i = 0; i < len; i++) {
                bool sep = i == dlen || i == dlen + 3 || i == dlen + 6;

                if (sep) {
                        if (s[i] != (i == dlen + 6 ? '.' : ':'))
                                return -EINVAL;
                        out[i] = s[i];
                } else {
                        int v = unhexchar(s[i]);
                        if (v < 0)
                                return -EINVAL;
                        out[i] = "0123456789abcdef"[v];
                }
        }
        out[len] = '\0';

        /* Longer domains are printed without leading zeros, so "00000:..." names nothing. */
        if (dlen > 4 && out[0] == '0')
                return -EINVAL;

        dev = unhexchar(out[dlen + 4]) * 16 + unhexchar(out[dlen + 5]);
        fn = unhexchar(out[dlen + 7]);
        if (dev > 0x1f || fn > 7)
                return -EINVAL;

        memcpy(ret, out, len + 1);
        return 0;
}

bool pci_address_is_valid(const char *s) {
        char buf[PCI_ADDRESS_STRLEN_MAX + 1];
        return pci_address_normalize(s, buf) >= 0 && strcmp(buf, s) == 0;
}
