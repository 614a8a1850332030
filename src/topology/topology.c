/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>

#include "topology.h"

static int device_cmp(const void *key, const void *elem) {
        return strcmp(key, ((const PciDevice *) elem)->address);
}

const PciDevice *topology_find_device(const Topology *t, const char *address) {
        if (!t || !address || t->n_devices == 0)
                return NULL;
        return bsearch(address, t->devices, t->n_devices, sizeof(PciDevice), device_cmp);
}

static int group_cmp(const void *key, const void *elem) {
        int a = *(const int *) key, b = ((const IommuGroup *) elem)->id;
        return (a > b) - (a < b);
}

const IommuGroup *topology_find_group(const Topology *t, int id) {
        if (!t || id < 0 || t->n_groups == 0)
                return NULL;
        return bsearch(&id, t->groups, t->n_groups, sizeof(IommuGroup), group_cmp);
}

const IommuUnit *topology_find_unit(const Topology *t, const char *name) {
        if (!t || !name)
                return NULL;
        for (size_t i = 0; i < t->units.n_units; i++)
                if (strcmp(t->units.units[i].name, name) == 0)
                        return &t->units.units[i];
        return NULL;
}
