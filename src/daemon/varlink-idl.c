/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "varlink-idl.h"

static SD_VARLINK_DEFINE_ENUM_TYPE(
                IommuKind,
                SD_VARLINK_FIELD_COMMENT("Intel VT-d DMA remapping unit (DRHD)"),
                SD_VARLINK_DEFINE_ENUM_VALUE(intel),
                SD_VARLINK_FIELD_COMMENT("AMD-Vi unit"),
                SD_VARLINK_DEFINE_ENUM_VALUE(amd),
                SD_VARLINK_FIELD_COMMENT("virtio-iommu"),
                SD_VARLINK_DEFINE_ENUM_VALUE(virtio),
                SD_VARLINK_FIELD_COMMENT("Arm SMMU (v2 or v3)"),
                SD_VARLINK_DEFINE_ENUM_VALUE(smmu),
                SD_VARLINK_FIELD_COMMENT("A driver vfiod does not recognise"),
                SD_VARLINK_DEFINE_ENUM_VALUE(unknown));

static SD_VARLINK_DEFINE_STRUCT_TYPE(
                IntelCapabilities,
                SD_VARLINK_FIELD_COMMENT("The capability register as the kernel prints it (hex)"),
                SD_VARLINK_DEFINE_FIELD(cap, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("The extended capability register (hex)"),
                SD_VARLINK_DEFINE_FIELD(ecap, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("Maximum guest address width, cap bits 21:16 plus one"),
                SD_VARLINK_DEFINE_FIELD(mgaw, SD_VARLINK_INT, 0),
                SD_VARLINK_FIELD_COMMENT("Page-table input widths the unit supports (SAGAW), in bits"),
                SD_VARLINK_DEFINE_FIELD(sagawBits, SD_VARLINK_INT, SD_VARLINK_ARRAY),
                SD_VARLINK_FIELD_COMMENT("ecap.IR: the unit can remap interrupts"),
                SD_VARLINK_DEFINE_FIELD(interruptRemapping, SD_VARLINK_BOOL, 0),
                SD_VARLINK_FIELD_COMMENT("ecap.PT: the unit can pass DMA through untranslated"),
                SD_VARLINK_DEFINE_FIELD(passThrough, SD_VARLINK_BOOL, 0));

static SD_VARLINK_DEFINE_STRUCT_TYPE(
                IommuUnit,
                SD_VARLINK_FIELD_COMMENT("Name under /sys/class/iommu"),
                SD_VARLINK_DEFINE_FIELD(name, SD_VARLINK_STRING, 0),
                SD_VARLINK_DEFINE_FIELD_BY_TYPE(kind, IommuKind, 0),
                SD_VARLINK_FIELD_COMMENT("Usable DMA input address width in bits, when sysfs tells it; null otherwise"),
                SD_VARLINK_DEFINE_FIELD(addressWidthBits, SD_VARLINK_INT, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("Where the width came from, or why it is not known"),
                SD_VARLINK_DEFINE_FIELD(addressWidthSource, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("Decoded VT-d registers (Intel units only)"),
                SD_VARLINK_DEFINE_FIELD_BY_TYPE(intel, IntelCapabilities, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("Devices this unit translates for"),
                SD_VARLINK_DEFINE_FIELD(devices, SD_VARLINK_STRING, SD_VARLINK_ARRAY));

static SD_VARLINK_DEFINE_STRUCT_TYPE(
                KernelCapabilities,
                SD_VARLINK_FIELD_COMMENT("uname -r"),
                SD_VARLINK_DEFINE_FIELD(release, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("/dev/vfio/vfio exists: the VFIO container interface is available"),
                SD_VARLINK_DEFINE_FIELD(vfioContainer, SD_VARLINK_BOOL, 0),
                SD_VARLINK_FIELD_COMMENT("The vfio_iommu_type1 backend is loaded"),
                SD_VARLINK_DEFINE_FIELD(type1, SD_VARLINK_BOOL, 0),
                SD_VARLINK_FIELD_COMMENT("The vfio-pci driver is registered"),
                SD_VARLINK_DEFINE_FIELD(vfioPci, SD_VARLINK_BOOL, 0));

static SD_VARLINK_DEFINE_METHOD(
                GetInfo,
                SD_VARLINK_FIELD_COMMENT("vfiod version"),
                SD_VARLINK_DEFINE_OUTPUT(version, SD_VARLINK_STRING, 0),
                SD_VARLINK_DEFINE_OUTPUT_BY_TYPE(kernel, KernelCapabilities, 0),
                SD_VARLINK_FIELD_COMMENT("IOMMU units, sorted by name"),
                SD_VARLINK_DEFINE_OUTPUT_BY_TYPE(iommuUnits, IommuUnit, SD_VARLINK_ARRAY));

SD_VARLINK_DEFINE_INTERFACE(
                io_vfiod_Broker,
                "io.vfiod.Broker",
                SD_VARLINK_INTERFACE_COMMENT("vfiod: brokers VFIO device assignment on this host"),
                SD_VARLINK_SYMBOL_COMMENT("Kind of IOMMU unit"),
                &vl_type_IommuKind,
                SD_VARLINK_SYMBOL_COMMENT("Decoded Intel VT-d capability registers"),
                &vl_type_IntelCapabilities,
                SD_VARLINK_SYMBOL_COMMENT("One IOMMU unit (hardware remapping engine) of the host"),
                &vl_type_IommuUnit,
                SD_VARLINK_SYMBOL_COMMENT("What the running kernel offers for VFIO"),
                &vl_type_KernelCapabilities,
                SD_VARLINK_SYMBOL_COMMENT("The daemon's version, the kernel's VFIO capabilities and the IOMMU units"),
                &vl_method_GetInfo);
