/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Canonical form as sysfs names devices: "%04x:%02x:%02x.%x", lowercase. The domain has four
 * digits, or up to eight for the synthetic domains of Intel VMD (e.g. "10000:e1:00.0").
 * Anything that comes from a caller goes through here before it is compared with sysfs names. */
#define PCI_ADDRESS_STRLEN_MAX 16

/* Strictly parse a caller-supplied address; accepts upper-case hex and normalises it into ret
 * (PCI_ADDRESS_STRLEN_MAX + 1 bytes). Device must be <= 0x1f and function <= 7. */
int pci_address_normalize(const char *s, char ret[static PCI_ADDRESS_STRLEN_MAX + 1]);
bool pci_address_is_valid(const char *s);
