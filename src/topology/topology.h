/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The snapshot of the host that every decision is made on. Filled by src/topology (I/O),
 * read by src/policy (pure). Plain data: no handles, no back-pointers that need fixing up. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "iommu-unit.h"

#define PCI_ADDRESS_MAX sizeof("ffffffff:bb:dd.f")   /* VMD domains have more than 4 digits */

typedef enum DeviceState {
        DEVICE_STATE_HOST,       /* bound to a host driver (not vfio-pci) */
        DEVICE_STATE_UNBOUND,    /* no driver */
        DEVICE_STATE_VFIO,       /* bound to vfio-pci */
        _DEVICE_STATE_MAX,
} DeviceState;

/* Why the host cannot spare a device. Bits, because one device can be several of these. */
typedef enum HostUse {
        HOST_USE_ROOT_STORAGE    = 1 << 0,  /* a mount (any namespace), swap, held volume or loop file lives on it */
        HOST_USE_ROUTED_IFACE    = 1 << 1,  /* one of its network interfaces has an address or a route */
        HOST_USE_BOOT_CONSOLE    = 1 << 2,  /* boot VGA with the console on it */
} HostUse;

typedef struct PciDevice {
        char address[PCI_ADDRESS_MAX];     /* "0000:00:03.0" */
        uint16_t vendor, device, subsystem_vendor, subsystem_device;
        uint32_t class;                    /* 24-bit class code, e.g. 0x020000 */
        char *vendor_name, *model_name;    /* from the hwdb; NULL if unknown */
        char *driver;                      /* NULL when unbound */
        char *driver_override;             /* NULL when unset */
        uint8_t header_type;               /* low 7 bits of config byte 0x0e: 0 endpoint, 1 bridge, 2 cardbus */
        bool multifunction;
        char *physfn;                      /* PF address when this is an SR-IOV VF */
        unsigned sriov_numvfs, sriov_totalvfs;
        bool boot_vga;
        int iommu_group;                   /* -1: no group */
        char *iommu_unit;                  /* name under /sys/class/iommu, NULL if none */
        char *parent;                      /* upstream PCI bridge address, NULL on a root bus */
        unsigned host_use;                 /* HostUse bits */
        char *host_use_detail;             /* human words for host_use, e.g. "/ on nvme0n1p2" */
        DeviceState state;
        char *held_by;                     /* "lease ID of uid U", when a lease holds its group; NULL if free */
        uid_t held_by_uid;                 /* that lease's uid: only it and root may read held_by */
        char *held_by_domain;              /* the running libvirt domain using its group; NULL if none */
        char **domain_failed;              /* a domain uses it without vfiod's Bind (hotplug) and these checks
                                            * (reason codes, NULL-terminated) refuse that; NULL if none */
} PciDevice;

typedef enum ReservedRegionType {
        RESERVED_REGION_DIRECT,            /* identity-mapped for firmware (RMRR/IVMD): DMA bypass */
        RESERVED_REGION_DIRECT_RELAXABLE,  /* identity mapping the kernel may drop for VFIO */
        RESERVED_REGION_MSI,               /* MSI doorbell window */
        RESERVED_REGION_RESERVED,          /* simply not usable as IOVA */
        _RESERVED_REGION_TYPE_MAX,
} ReservedRegionType;

typedef struct ReservedRegion {
        uint64_t start, end;               /* inclusive, as the kernel prints them */
        ReservedRegionType type;
} ReservedRegion;

typedef struct IommuGroup {
        int id;
        char **members;                    /* PCI addresses, sorted, NULL-terminated */
        size_t n_members;
        char *default_domain_type;         /* "DMA", "DMA-FQ", "identity", "blocked", NULL if unknown */
        ReservedRegion *regions;
        size_t n_regions;
        char *regions_error;               /* why reserved_regions could not be read; the group fails closed */
        bool noiommu;                      /* a VFIO no-IOMMU group: no translation at all */
} IommuGroup;

/* Tri-state for module parameters: the module may not be loaded. */
typedef enum Tristate { TRI_UNKNOWN = -1, TRI_NO = 0, TRI_YES = 1 } Tristate;

/* What keeps a device from raising interrupts it does not own (VFIO's "isolated MSI"). */
typedef enum MsiIsolation {
        MSI_ISOLATION_UNKNOWN,             /* /proc/interrupts unreadable or unparsable */
        MSI_ISOLATION_NONE,                /* neither remapping nor an ITS is in use */
        MSI_ISOLATION_REMAPPING,           /* x86 interrupt remapping (Intel VT-d IR, AMD-Vi IR) */
        MSI_ISOLATION_ITS,                 /* arm64 GICv3/v4 ITS: MSIs are tagged with the device ID */
        _MSI_ISOLATION_MAX,
} MsiIsolation;

typedef struct KernelSwitches {
        char *cmdline;                     /* the kernel command line as read */
        char *acs_override;                /* value of pcie_acs_override=, NULL if absent */
        bool intremap_off;                 /* intremap=off, or the old spelling nointremap */
        bool intremap_nosid;               /* intremap=nosid */
        bool iommu_pt;                     /* iommu=pt */
        bool intel_iommu_off, amd_iommu_off;
        bool cmdline_noiommu;              /* vfio.enable_unsafe_noiommu_mode=1 on the command line */
        Tristate type1_unsafe_interrupts;  /* vfio_iommu_type1.allow_unsafe_interrupts */
        Tristate iommufd_unsafe_interrupts;
        bool iommufd_present;              /* /sys/module/iommufd exists (loaded or built in) */
        Tristate vfio_noiommu;             /* vfio.enable_unsafe_noiommu_mode */
        Tristate vfio_pci_disable_denylist;
        Tristate smmu_disable_bypass;      /* arm_smmu.disable_bypass (N means bypass allowed) */
        Tristate interrupt_remapping;      /* whether the kernel actually remaps interrupts */
        MsiIsolation msi_isolation;        /* what isolates MSIs, from the irq chips in use */
} KernelSwitches;

typedef struct Topology {
        PciDevice *devices;                /* sorted by address */
        size_t n_devices;
        IommuGroup *groups;                /* sorted by id */
        size_t n_groups;
        IommuUnitList units;
        KernelSwitches switches;
} Topology;

const PciDevice *topology_find_device(const Topology *t, const char *address);
const IommuGroup *topology_find_group(const Topology *t, int id);
const IommuUnit *topology_find_unit(const Topology *t, const char *name);
