/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* "0000:00:1f.7" plus NUL; a domain wider than four digits (Intel VMD) needs up to eight. */
#define CTL_PCI_ADDRESS_MAX sizeof("ffffffff:ff:1f.7")

/* Check a PCI address given by a person and write it the way sysfs spells it (DDDD:BB:DD.F, lowercase).
 * Accepts DDDD:BB:DD.F and BB:DD.F (domain 0000), any case. On failure returns -EINVAL and says why
 * in *ret_reason. */
int ctl_pci_address_parse(const char *s, char ret[static CTL_PCI_ADDRESS_MAX], const char **ret_reason);

/* DEVICE... from the command line, each checked and written as sysfs spells it, repeats dropped, as a
 * NULL-terminated array of malloc'd strings (free with ctl_strv_free()). A bad address is a usage
 * error: it is printed with the reason and EXIT_USAGE is returned; -ENOMEM otherwise. */
int ctl_pci_address_list_parse(char *args[], int n, char ***ret);
