/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "kernel.h"
#include "macro.h"

int kernel_caps_read(KernelCaps *ret) {
        struct utsname u;

        if (uname(&u) < 0)
                return negative_errno();

        KernelCaps k = {
                .vfio_container = access("/dev/vfio/vfio", F_OK) >= 0,
                .type1 = access("/sys/module/vfio_iommu_type1", F_OK) >= 0,
                .vfio_pci = access("/sys/bus/pci/drivers/vfio-pci", F_OK) >= 0,
        };
        memcpy(k.release, u.release, sizeof(k.release));
        *ret = k;
        return 0;
}
