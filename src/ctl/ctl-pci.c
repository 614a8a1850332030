/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include "hexdecoct.h"
#include "ctl-pci.h"
#include "ctl-util.h"

/* Parse 1..max_digits hex digits at *p, stopping at the first non-digit. */
static int parse_hex(const char **p, size_t max_digits, uint32_t *ret) {
        uint32_t v = 0;
        size_t n = 0;

        for (; unhexchar(**p) >= 0; (*p)++) {
                if (++n > max_digits)
                        return -ERANGE;
                v = (v << 4) | (uint32_t) unhexchar(**p);
        }
        if (n == 0)
                return -EINVAL;

        *ret = v;
        return 0;
}

int ctl_pci_address_parse(const char *s, char ret[static CTL_PCI_ADDRESS_MAX], const char **ret_reason) {
        uint32_t domain = 0, bus, dev, fn;
        const char *p = s;
        size_t colons = 0;

        /* Count the colons to know whether a domain was given: BB:DD.F has one, DDDD:BB:DD.F two. */
        for (const char *q = s; *q; q++)
                if (*q == ':')
                        colons++;
        if (colons < 1 || colons > 2 || !strchr(s, '.')) {
                *ret_reason = "expected DDDD:BB:DD.F or BB:DD.F";
                return -EINVAL;
        }

        if (colons == 2) {
                if (parse_hex(&p, 8, &domain) < 0 || *p++ != ':') {
                        *ret_reason = "the domain must be 1 to 8 hex digits";
                        return -EINVAL;
                }
        }
        if (parse_hex(&p, 2, &bus) < 0 || *p++ != ':') {
                *ret_reason = "the bus must be 1 or 2 hex digits";
                return -EINVAL;
        }
        if (parse_hex(&p, 2, &dev) < 0 || *p++ != '.') {
                *ret_reason = "the device must be 1 or 2 hex digits";
                return -EINVAL;
        }
        if (dev > 0x1f) {
                *ret_reason = "the device number is at most 1f";
                return -EINVAL;
        }
        if (parse_hex(&p, 1, &fn) < 0 || *p != 0) {
                *ret_reason = "the function must be one digit, 0 to 7";
                return -EINVAL;
        }
        if (fn > 7) {
                *ret_reason = "the function is at most 7";
                return -EINVAL;
        }

        (void) snprintf(ret, CTL_PCI_ADDRESS_MAX, "%04x:%02x:%02x.%x", domain, bus, dev, fn);
        *ret_reason = NULL;
        return 0;
}

int ctl_pci_address_list_parse(char *args[], int n, char ***ret) {
        _cleanup_(ctl_strv_freep) char **l = NULL;
        size_t m = 0;

        l = calloc((size_t) n + 1, sizeof(char *));
        if (!l)
                return ctl_log_errno(ENOMEM, "Out of memory: %m");

        for (int i = 0; i < n; i++) {
                char address[CTL_PCI_ADDRESS_MAX];
                const char *reason;
                bool seen = false;

                /* Catch typos here, with a message that says what is wrong, rather than as NoSuchDevice. */
                if (ctl_pci_address_parse(args[i], address, &reason) < 0) {
                        char given[TEXT_MAX];

                        (void) text_clean(given, sizeof given, args[i], 64);
                        ctl_log("'%s' is not a PCI address: %s (e.g. 0000:01:00.0)", given, reason);
                        return EXIT_USAGE;
                }
                for (size_t j = 0; j < m && !seen; j++)
                        seen = streq(l[j], address);
                if (seen)
                        continue;

                l[m] = strdup(address);
                if (!l[m])
                        return ctl_log_errno(ENOMEM, "Out of memory: %m");
                m++;
        }

        *ret = TAKE_PTR(l);
        return 0;
}
