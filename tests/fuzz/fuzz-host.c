/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fuzz.h"
#include "macro.h"

const char *const fuzz_host_addresses[] = {
        "0000:00:00.0", "0000:00:01.0", "0000:00:03.0", "0000:00:04.0",
        "0000:00:05.0", "0000:00:06.0", "0000:02:01.0", "0000:02:02.0", NULL,
};

static char *g0[] = { (char *) "0000:00:00.0", NULL };
static char *g1[] = { (char *) "0000:00:03.0", NULL };
static char *g2[] = { (char *) "0000:00:04.0", NULL };
static char *g3[] = { (char *) "0000:00:05.0", (char *) "0000:02:01.0", (char *) "0000:02:02.0", NULL };
static char *g4[] = { (char *) "0000:00:01.0", NULL };

static ReservedRegion msi[] = {
        { .start = 0xfee00000, .end = 0xfeefffff, .type = RESERVED_REGION_MSI },
};
static ReservedRegion vga[] = {
        { .start = 0xfee00000, .end = 0xfeefffff, .type = RESERVED_REGION_MSI },
        { .start = 0x7d000000, .end = 0x7dffffff, .type = RESERVED_REGION_DIRECT },
};
static ReservedRegion nvme[] = {
        { .start = 0x000e0000, .end = 0x000fffff, .type = RESERVED_REGION_DIRECT_RELAXABLE },
};

#define DEV(a, v, d, cl, hdr, grp, unit, drv) \
        { .address = a, .vendor = v, .device = d, .class = cl, .header_type = hdr, .iommu_group = grp, \
          .iommu_unit = (char *) unit, .driver = (char *) drv, \
          .state = drv ? DEVICE_STATE_HOST : DEVICE_STATE_UNBOUND }

void fuzz_host(Topology *ret) {
        /* sorted by address, as the topology module keeps them */
        static PciDevice devices[] = {
                DEV("0000:00:00.0", 0x8086, 0x29c0, 0x060000, 0, 0, "dmar0", NULL),
                DEV("0000:00:01.0", 0x1234, 0x1111, 0x030000, 0, 4, "dmar0", "bochs-drm"),
                DEV("0000:00:03.0", 0x8086, 0x10d3, 0x020000, 0, 1, "dmar0", "e1000e"),
                DEV("0000:00:04.0", 0x1b36, 0x0010, 0x010802, 0, 2, "dmar1", "nvme"),
                DEV("0000:00:05.0", 0x1b36, 0x000e, 0x060400, 1, 3, "dmar0", NULL),
                DEV("0000:00:06.0", 0x1af4, 0x1041, 0x020000, 0, -1, NULL, "virtio-pci"),
                DEV("0000:02:01.0", 0x8086, 0x100e, 0x020000, 0, 3, "dmar0", "e1000"),
                DEV("0000:02:02.0", 0x8086, 0x100e, 0x020000, 0, 3, "dmar0", "vfio-pci"),
        };
        static IommuGroup groups[] = {
                { .id = 0, .members = g0, .n_members = 1, .default_domain_type = (char *) "DMA" },
                { .id = 1, .members = g1, .n_members = 1, .default_domain_type = (char *) "DMA-FQ",
                  .regions = msi, .n_regions = ELEMENTSOF(msi) },
                { .id = 2, .members = g2, .n_members = 1, .default_domain_type = (char *) "DMA",
                  .regions = nvme, .n_regions = ELEMENTSOF(nvme) },
                { .id = 3, .members = g3, .n_members = 3, .default_domain_type = (char *) "DMA" },
                { .id = 4, .members = g4, .n_members = 1, .default_domain_type = (char *) "identity",
                  .regions = vga, .n_regions = ELEMENTSOF(vga) },
        };
        static IommuUnit units[] = {
                { .name = (char *) "dmar0", .kind = IOMMU_KIND_INTEL, .address_width = 48 },
                { .name = (char *) "dmar1", .kind = IOMMU_KIND_INTEL, .address_width = 39 },
        };

        devices[3].host_use = HOST_USE_ROOT_STORAGE;
        devices[3].host_use_detail = (char *) "/ on nvme0n1p2";
        devices[1].host_use = HOST_USE_BOOT_CONSOLE;
        devices[1].host_use_detail = (char *) "fbcon on bochs-drm";
        devices[1].boot_vga = true;
        devices[7].state = DEVICE_STATE_VFIO;

        *ret = (Topology) {
                .devices = devices,
                .n_devices = ELEMENTSOF(devices),
                .groups = groups,
                .n_groups = ELEMENTSOF(groups),
                .units = { .units = units, .n_units = ELEMENTSOF(units) },
                .switches = {
                        .type1_unsafe_interrupts = TRI_NO,
                        .iommufd_unsafe_interrupts = TRI_UNKNOWN,
                        .vfio_noiommu = TRI_NO,
                        .vfio_pci_disable_denylist = TRI_NO,
                        .smmu_disable_bypass = TRI_UNKNOWN,
                        .interrupt_remapping = TRI_YES,
                        .msi_isolation = MSI_ISOLATION_REMAPPING,
                },
        };
}
