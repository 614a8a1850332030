/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/utsname.h>

/* What the running kernel offers for VFIO, read fresh each time: modules come and go at run time. */
typedef struct KernelCaps {
        char release[sizeof(((struct utsname *) 0)->release)];
        bool vfio_container;     /* /dev/vfio/vfio exists: the legacy container (type1) interface */
        bool type1;              /* vfio_iommu_type1 is loaded */
        bool vfio_pci;           /* the vfio-pci driver is registered on the PCI bus */
} KernelCaps;

int kernel_caps_read(KernelCaps *ret);
