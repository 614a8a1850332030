/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

#include "pci-address.h"

/* What vfiod needs from a libvirt domain XML (the hook's stdin, virDomainGetXMLDesc()): its name
 * and UUID, and the host PCI addresses of its <hostdev mode='subsystem' type='pci'> (managed or
 * not) and <interface type='hostdev'> devices, from their <source><address/>. A strict minimal
 * reader (no libxml2 in the build root): well-formed nesting, no DOCTYPE or entity declarations,
 * the five predefined entities and character references only, bounded depth and sizes. */

#define DOMAIN_XML_SIZE_MAX (16U * 1024U * 1024U)
#define DOMAIN_XML_DEVICES_MAX 256
#define DOMAIN_NAME_MAX 255

typedef struct DomainXml {
        char name[DOMAIN_NAME_MAX + 1];
        char uuid[37];
        char devices[DOMAIN_XML_DEVICES_MAX][PCI_ADDRESS_STRLEN_MAX + 1];  /* canonical, no duplicates */
        size_t n_devices;
} DomainXml;

/* -EBADMSG: not well-formed, or a PCI hostdev whose address is missing or malformed; -E2BIG: too
 * large, too deep, too many devices. The name and uuid are copied as found ("" if absent): a
 * caller that trusts them checks them. */
int domain_xml_parse(const char *xml, size_t size, DomainXml *ret);
