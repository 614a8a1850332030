/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Canonical form "dddd:bb:dd.f", lowercase. Anything that reaches sysfs paths goes through here. */
#define PCI_ADDRESS_STRLEN 12

/* Strictly parse a caller-supplied address; accepts upper-case hex and normalises it into ret
 * (PCI_ADDRESS_STRLEN + 1 bytes). Device must be <= 0x1f and function <= 7. */
int pci_address_normalize(const char *s, char ret[static PCI_ADDRESS_STRLEN + 1]);
bool pci_address_is_valid(const char *s);
