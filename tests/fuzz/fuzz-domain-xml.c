/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The libvirt domain XML reader (the hook's stdin, the watch's live XML): any input is refused or
 * gives canonical, distinct, valid PCI addresses and bounded strings. */
#include <stdlib.h>
#include <string.h>

#include "domain-xml.h"
#include "fuzz.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ DomainXml *d = calloc(1, sizeof(DomainXml));

        FUZZ_ASSERT(d);
        if (domain_xml_parse((const char *) data, size, d) < 0)
                return 0;
        FUZZ_ASSERT(d->n_devices <= DOMAIN_XML_DEVICES_MAX);
        FUZZ_ASSERT(strnlen(d->name, sizeof d->name) < sizeof d->name);
        FUZZ_ASSERT(strnlen(d->uuid, sizeof d->uuid) < sizeof d->uuid);
        for (size_t i = 0; i < d->n_devices; i++) {
                FUZZ_ASSERT(pci_address_is_valid(d->devices[i]));
                for (size_t k = 0; k < i; k++)
                        FUZZ_ASSERT(strcmp(d->devices[i], d->devices[k]) != 0);
        }
        return 0;
}
