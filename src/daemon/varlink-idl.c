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
                AmdCapabilities,
                SD_VARLINK_FIELD_COMMENT("amd-iommu/features as the kernel prints it (EFR:EFR2, hex)"),
                SD_VARLINK_DEFINE_FIELD(features, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("Host page-table levels from EFR.HATS"),
                SD_VARLINK_DEFINE_FIELD(hostPageTableLevels, SD_VARLINK_INT, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("EFR.GTSup: guest (second-level) translation"),
                SD_VARLINK_DEFINE_FIELD(guestTranslation, SD_VARLINK_BOOL, 0),
                SD_VARLINK_FIELD_COMMENT("EFR.XTSup: x2APIC interrupt remapping"),
                SD_VARLINK_DEFINE_FIELD(x2apic, SD_VARLINK_BOOL, 0));

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
                SD_VARLINK_FIELD_COMMENT("Decoded AMD-Vi extended features (AMD units only)"),
                SD_VARLINK_DEFINE_FIELD_BY_TYPE(amd, AmdCapabilities, SD_VARLINK_NULLABLE),
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


static SD_VARLINK_DEFINE_STRUCT_TYPE(
                KernelSwitches,
                SD_VARLINK_FIELD_COMMENT("The kernel command line as read"),
                SD_VARLINK_DEFINE_FIELD(cmdline, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("Value of pcie_acs_override=, absent if not set"),
                SD_VARLINK_DEFINE_FIELD(acsOverride, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_FIELD(intremapOff, SD_VARLINK_BOOL, 0),
                SD_VARLINK_DEFINE_FIELD(intremapNoSid, SD_VARLINK_BOOL, 0),
                SD_VARLINK_DEFINE_FIELD(iommuPassThrough, SD_VARLINK_BOOL, 0),
                SD_VARLINK_DEFINE_FIELD(intelIommuOff, SD_VARLINK_BOOL, 0),
                SD_VARLINK_DEFINE_FIELD(amdIommuOff, SD_VARLINK_BOOL, 0),
                SD_VARLINK_FIELD_COMMENT("Module parameters; absent when the module is not loaded"),
                SD_VARLINK_DEFINE_FIELD(type1AllowUnsafeInterrupts, SD_VARLINK_BOOL, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_FIELD(iommufdAllowUnsafeInterrupts, SD_VARLINK_BOOL, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_FIELD(vfioNoIommuMode, SD_VARLINK_BOOL, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_FIELD(vfioPciDisableDenylist, SD_VARLINK_BOOL, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_FIELD(smmuDisableBypass, SD_VARLINK_BOOL, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("Whether interrupts are really remapped (IR- interrupt chips in /proc/interrupts)"),
                SD_VARLINK_DEFINE_FIELD(interruptRemapping, SD_VARLINK_BOOL, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("What isolates device MSIs, from the irq chips in use: remapping (x86 IR-), its (arm64 GICv3 ITS-), none; absent when unknown"),
                SD_VARLINK_DEFINE_FIELD(msiIsolation, SD_VARLINK_STRING, SD_VARLINK_NULLABLE));

static SD_VARLINK_DEFINE_STRUCT_TYPE(
                PolicyFile,
                SD_VARLINK_DEFINE_FIELD(path, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("path:line:column and what was expected, when the file was rejected"),
                SD_VARLINK_DEFINE_FIELD(error, SD_VARLINK_STRING, SD_VARLINK_NULLABLE));

static SD_VARLINK_DEFINE_STRUCT_TYPE(
                PolicySummary,
                SD_VARLINK_FIELD_COMMENT("The files in force; empty for callers other than root, who see only the counts"),
                SD_VARLINK_DEFINE_FIELD_BY_TYPE(files, PolicyFile, SD_VARLINK_ARRAY),
                SD_VARLINK_DEFINE_FIELD(fileCount, SD_VARLINK_INT, 0),
                SD_VARLINK_DEFINE_FIELD(ruleCount, SD_VARLINK_INT, 0),
                SD_VARLINK_FIELD_COMMENT("The last Reload's error, if it failed and the previous policy stayed (root only)"),
                SD_VARLINK_DEFINE_FIELD(lastError, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("For callers other than root: the last Reload failed and the previous policy stayed"),
                SD_VARLINK_DEFINE_FIELD(lastReloadFailed, SD_VARLINK_BOOL, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_FIELD(minApertureBits, SD_VARLINK_INT, 0),
                SD_VARLINK_DEFINE_FIELD(mixedApertures, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("Safety checks this policy relaxes (reason codes); empty in the strict default"),
                SD_VARLINK_DEFINE_FIELD(relaxed, SD_VARLINK_STRING, SD_VARLINK_ARRAY),
                SD_VARLINK_FIELD_COMMENT("Rule names, for root; empty for others"),
                SD_VARLINK_DEFINE_FIELD(rules, SD_VARLINK_STRING, SD_VARLINK_ARRAY));

static SD_VARLINK_DEFINE_STRUCT_TYPE(
                Check,
                SD_VARLINK_FIELD_COMMENT("Stable reason code, e.g. partial-group"),
                SD_VARLINK_DEFINE_FIELD(code, SD_VARLINK_STRING, 0),
                SD_VARLINK_DEFINE_FIELD(passed, SD_VARLINK_BOOL, 0),
                SD_VARLINK_FIELD_COMMENT("The device, group or unit the check is about"),
                SD_VARLINK_DEFINE_FIELD(subject, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("One sentence that names the fix"),
                SD_VARLINK_DEFINE_FIELD(sentence, SD_VARLINK_STRING, 0));

static SD_VARLINK_DEFINE_STRUCT_TYPE(
                Verdict,
                SD_VARLINK_DEFINE_FIELD(allowed, SD_VARLINK_BOOL, 0),
                SD_VARLINK_FIELD_COMMENT("The rule that decided, absent if none matched"),
                SD_VARLINK_DEFINE_FIELD(rule, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("Codes of the checks that failed"),
                SD_VARLINK_DEFINE_FIELD(failed, SD_VARLINK_STRING, SD_VARLINK_ARRAY));

static SD_VARLINK_DEFINE_ENUM_TYPE(
                DeviceState,
                SD_VARLINK_FIELD_COMMENT("On a host driver"),
                SD_VARLINK_DEFINE_ENUM_VALUE(host),
                SD_VARLINK_FIELD_COMMENT("No driver"),
                SD_VARLINK_DEFINE_ENUM_VALUE(unbound),
                SD_VARLINK_FIELD_COMMENT("On vfio-pci"),
                SD_VARLINK_DEFINE_ENUM_VALUE(vfio),
                SD_VARLINK_FIELD_COMMENT("Its group is held by a lease"),
                SD_VARLINK_DEFINE_ENUM_VALUE(leased));

static SD_VARLINK_DEFINE_STRUCT_TYPE(
                Device,
                SD_VARLINK_DEFINE_FIELD(address, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("PCI ids as 4-digit lowercase hex, class as 6 digits"),
                SD_VARLINK_DEFINE_FIELD(vendor, SD_VARLINK_STRING, 0),
                SD_VARLINK_DEFINE_FIELD(device, SD_VARLINK_STRING, 0),
                SD_VARLINK_DEFINE_FIELD(subsystemVendor, SD_VARLINK_STRING, 0),
                SD_VARLINK_DEFINE_FIELD(subsystemDevice, SD_VARLINK_STRING, 0),
                SD_VARLINK_DEFINE_FIELD(class, SD_VARLINK_STRING, 0),
                SD_VARLINK_DEFINE_FIELD(vendorName, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_FIELD(modelName, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_FIELD(driver, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_FIELD(driverOverride, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_FIELD_BY_TYPE(state, DeviceState, 0),
                SD_VARLINK_FIELD_COMMENT("Which lease holds it, when state is leased"),
                SD_VARLINK_FIELD_COMMENT("Which lease of which uid, for that uid and root; others see only the state leased"),
                SD_VARLINK_DEFINE_FIELD(heldBy, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("The running libvirt domain that uses the device's group (root only)"),
                SD_VARLINK_DEFINE_FIELD(heldByDomain, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("The domain uses the device without vfiod's Bind (a hotplug), and a Bind of it for that domain fails these checks (reason codes; root only)"),
                SD_VARLINK_DEFINE_FIELD(domainFailedChecks, SD_VARLINK_STRING, SD_VARLINK_ARRAY | SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("Header type 0: an endpoint; bridges are not assignable"),
                SD_VARLINK_DEFINE_FIELD(endpoint, SD_VARLINK_BOOL, 0),
                SD_VARLINK_DEFINE_FIELD(multifunction, SD_VARLINK_BOOL, 0),
                SD_VARLINK_FIELD_COMMENT("The physical function, when this is an SR-IOV virtual function"),
                SD_VARLINK_DEFINE_FIELD(physfn, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_FIELD(sriovNumVfs, SD_VARLINK_INT, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_FIELD(bootVga, SD_VARLINK_BOOL, 0),
                SD_VARLINK_DEFINE_FIELD(iommuGroup, SD_VARLINK_INT, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_FIELD(iommuUnit, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("The upstream bridge, absent on a root bus"),
                SD_VARLINK_DEFINE_FIELD(parent, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("Why the host needs it: root-storage, routed-interface, boot-console"),
                SD_VARLINK_DEFINE_FIELD(hostUse, SD_VARLINK_STRING, SD_VARLINK_ARRAY),
                SD_VARLINK_DEFINE_FIELD(hostUseDetail, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("Would the caller be allowed to take this device alone"),
                SD_VARLINK_DEFINE_FIELD_BY_TYPE(verdict, Verdict, 0));

static SD_VARLINK_DEFINE_STRUCT_TYPE(
                ReservedRegion,
                SD_VARLINK_FIELD_COMMENT("Inclusive bounds, hex with 0x"),
                SD_VARLINK_DEFINE_FIELD(start, SD_VARLINK_STRING, 0),
                SD_VARLINK_DEFINE_FIELD(end, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("direct, direct-relaxable, msi or reserved"),
                SD_VARLINK_DEFINE_FIELD(type, SD_VARLINK_STRING, 0));

static SD_VARLINK_DEFINE_STRUCT_TYPE(
                Group,
                SD_VARLINK_DEFINE_FIELD(id, SD_VARLINK_INT, 0),
                SD_VARLINK_DEFINE_FIELD(members, SD_VARLINK_STRING, SD_VARLINK_ARRAY),
                SD_VARLINK_DEFINE_FIELD(defaultDomainType, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_FIELD_BY_TYPE(reservedRegions, ReservedRegion, SD_VARLINK_ARRAY),
                SD_VARLINK_DEFINE_FIELD(noiommu, SD_VARLINK_BOOL, 0),
                SD_VARLINK_DEFINE_FIELD(iommuUnit, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("No member is on a host driver: VFIO would accept the group as it is"),
                SD_VARLINK_DEFINE_FIELD(viable, SD_VARLINK_BOOL, 0),
                SD_VARLINK_FIELD_COMMENT("Would the caller be allowed to take every endpoint of the group"),
                SD_VARLINK_DEFINE_FIELD_BY_TYPE(verdict, Verdict, 0));

static SD_VARLINK_DEFINE_STRUCT_TYPE(
                IovaRange,
                SD_VARLINK_FIELD_COMMENT("Inclusive bounds, hex with 0x"),
                SD_VARLINK_DEFINE_FIELD(start, SD_VARLINK_STRING, 0),
                SD_VARLINK_DEFINE_FIELD(end, SD_VARLINK_STRING, 0));

static SD_VARLINK_DEFINE_STRUCT_TYPE(
                GroupFd,
                SD_VARLINK_DEFINE_FIELD(group, SD_VARLINK_INT, 0),
                SD_VARLINK_FIELD_COMMENT("Index of the fd among those passed with this reply"),
                SD_VARLINK_DEFINE_FIELD(fd, SD_VARLINK_INT, 0));

static SD_VARLINK_DEFINE_STRUCT_TYPE(
                DeviceFd,
                SD_VARLINK_DEFINE_FIELD(device, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("Index of the fd among those passed with this reply"),
                SD_VARLINK_DEFINE_FIELD(fd, SD_VARLINK_INT, 0));

static SD_VARLINK_DEFINE_STRUCT_TYPE(
                Container,
                SD_VARLINK_FIELD_COMMENT("Index of the container fd among those passed with this reply"),
                SD_VARLINK_DEFINE_FIELD(fd, SD_VARLINK_INT, 0),
                SD_VARLINK_DEFINE_FIELD(groups, SD_VARLINK_INT, SD_VARLINK_ARRAY),
                SD_VARLINK_FIELD_COMMENT("Usable IOVA ranges measured from VFIO_IOMMU_GET_INFO"),
                SD_VARLINK_DEFINE_FIELD_BY_TYPE(iovaRanges, IovaRange, SD_VARLINK_ARRAY),
                SD_VARLINK_FIELD_COMMENT("Supported IOMMU page sizes, bitmap as the kernel reports it"),
                SD_VARLINK_DEFINE_FIELD(pageSizes, SD_VARLINK_INT, 0),
                SD_VARLINK_FIELD_COMMENT("DMA mappings still available in this container, if the kernel says"),
                SD_VARLINK_DEFINE_FIELD(dmaMappingsAvailable, SD_VARLINK_INT, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_FIELD(apertureBits, SD_VARLINK_INT, 0));

static SD_VARLINK_DEFINE_STRUCT_TYPE(
                LeaseOwner,
                SD_VARLINK_FIELD_COMMENT("What names itself: libvirt-domain for the libvirt hook; 1..32 of [a-z0-9-]"),
                SD_VARLINK_DEFINE_FIELD(kind, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("1..255 bytes of UTF-8, no control characters"),
                SD_VARLINK_DEFINE_FIELD(name, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("8-4-4-4-12 hex digits"),
                SD_VARLINK_DEFINE_FIELD(uuid, SD_VARLINK_STRING, 0));

static SD_VARLINK_DEFINE_STRUCT_TYPE(
                Lease,
                SD_VARLINK_DEFINE_FIELD(id, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("acquire (ends with its holder process) or bind (ends with Unbind)"),
                SD_VARLINK_DEFINE_FIELD(kind, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("binding, active, orphaned (holder gone or released, its fds still open elsewhere: "
                                         "ends when they close) or restoring"),
                SD_VARLINK_DEFINE_FIELD(state, SD_VARLINK_STRING, 0),
                SD_VARLINK_DEFINE_FIELD(uid, SD_VARLINK_INT, 0),
                SD_VARLINK_DEFINE_FIELD(pid, SD_VARLINK_INT, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_FIELD(devices, SD_VARLINK_STRING, SD_VARLINK_ARRAY),
                SD_VARLINK_DEFINE_FIELD(groups, SD_VARLINK_INT, SD_VARLINK_ARRAY),
                SD_VARLINK_FIELD_COMMENT("CLOCK_REALTIME, microseconds"),
                SD_VARLINK_DEFINE_FIELD(since, SD_VARLINK_INT, 0),
                SD_VARLINK_DEFINE_FIELD(restoreOnRelease, SD_VARLINK_BOOL, 0),
                SD_VARLINK_FIELD_COMMENT("The label the lease was bound with (root's Bind); a label, not an identity"),
                SD_VARLINK_DEFINE_FIELD_BY_TYPE(owner, LeaseOwner, SD_VARLINK_NULLABLE));

static SD_VARLINK_DEFINE_METHOD(
                GetInfo,
                SD_VARLINK_FIELD_COMMENT("vfiod version"),
                SD_VARLINK_DEFINE_OUTPUT(version, SD_VARLINK_STRING, 0),
                SD_VARLINK_DEFINE_OUTPUT_BY_TYPE(kernel, KernelCapabilities, 0),
                SD_VARLINK_FIELD_COMMENT("IOMMU units, sorted by name"),
                SD_VARLINK_DEFINE_OUTPUT_BY_TYPE(iommuUnits, IommuUnit, SD_VARLINK_ARRAY),
                SD_VARLINK_DEFINE_OUTPUT_BY_TYPE(switches, KernelSwitches, 0),
                SD_VARLINK_DEFINE_OUTPUT_BY_TYPE(policy, PolicySummary, 0),
                SD_VARLINK_FIELD_COMMENT("Only in test builds (-Dtest-hooks=true): the test hooks set in the environment now"),
                SD_VARLINK_DEFINE_OUTPUT(testHooks, SD_VARLINK_STRING, SD_VARLINK_ARRAY | SD_VARLINK_NULLABLE));

static SD_VARLINK_DEFINE_METHOD(
                ListDevices,
                SD_VARLINK_FIELD_COMMENT("Every PCI device, sorted by address, each with the caller's verdict"),
                SD_VARLINK_DEFINE_OUTPUT_BY_TYPE(devices, Device, SD_VARLINK_ARRAY));

static SD_VARLINK_DEFINE_METHOD(
                ListGroups,
                SD_VARLINK_FIELD_COMMENT("Every IOMMU group, sorted by id, each with the caller's verdict"),
                SD_VARLINK_DEFINE_OUTPUT_BY_TYPE(groups, Group, SD_VARLINK_ARRAY));

static SD_VARLINK_DEFINE_METHOD(
                Explain,
                SD_VARLINK_FIELD_COMMENT("PCI address, DDDD:BB:DD.F"),
                SD_VARLINK_DEFINE_INPUT(device, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("Instead of device: judge one request for several devices (as Bind/Acquire would)"),
                SD_VARLINK_DEFINE_INPUT(devices, SD_VARLINK_STRING, SD_VARLINK_ARRAY|SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("Judge for this user instead of the caller (root only)"),
                SD_VARLINK_DEFINE_INPUT(uid, SD_VARLINK_INT, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_OUTPUT(devices, SD_VARLINK_STRING, SD_VARLINK_ARRAY),
                SD_VARLINK_DEFINE_OUTPUT(uid, SD_VARLINK_INT, 0),
                SD_VARLINK_DEFINE_OUTPUT(allowed, SD_VARLINK_BOOL, 0),
                SD_VARLINK_DEFINE_OUTPUT(rule, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("Narrowest decoded IOMMU width the request spans; absent if unknown"),
                SD_VARLINK_DEFINE_OUTPUT(apertureBits, SD_VARLINK_INT, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("Every check, passed or failed"),
                SD_VARLINK_DEFINE_OUTPUT_BY_TYPE(checks, Check, SD_VARLINK_ARRAY));

static SD_VARLINK_DEFINE_METHOD_FULL(
                Monitor,
                SD_VARLINK_REQUIRES_MORE,
                SD_VARLINK_FIELD_COMMENT("added, removed, changed, bound, unbound, policy-reloaded; the first reply is ready"),
                SD_VARLINK_DEFINE_OUTPUT(event, SD_VARLINK_STRING, 0),
                SD_VARLINK_DEFINE_OUTPUT(device, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_OUTPUT(driver, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_OUTPUT(iommuGroup, SD_VARLINK_INT, SD_VARLINK_NULLABLE));

static SD_VARLINK_DEFINE_METHOD(
                Reload,
                SD_VARLINK_FIELD_COMMENT("The files now in force"),
                SD_VARLINK_DEFINE_OUTPUT_BY_TYPE(files, PolicyFile, SD_VARLINK_ARRAY));

static SD_VARLINK_DEFINE_METHOD(
                Bind,
                SD_VARLINK_FIELD_COMMENT("PCI addresses; their whole IOMMU groups move to vfio-pci"),
                SD_VARLINK_DEFINE_INPUT(devices, SD_VARLINK_STRING, SD_VARLINK_ARRAY),
                SD_VARLINK_FIELD_COMMENT("A label for the lease, e.g. the libvirt domain it is for (root only)"),
                SD_VARLINK_DEFINE_INPUT_BY_TYPE(owner, LeaseOwner, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_OUTPUT(leaseId, SD_VARLINK_STRING, 0),
                SD_VARLINK_DEFINE_OUTPUT(groups, SD_VARLINK_INT, SD_VARLINK_ARRAY),
                SD_VARLINK_FIELD_COMMENT("Every device now on vfio-pci, with /dev/vfio/N present"),
                SD_VARLINK_DEFINE_OUTPUT(devices, SD_VARLINK_STRING, SD_VARLINK_ARRAY));

static SD_VARLINK_DEFINE_METHOD(
                Unbind,
                SD_VARLINK_FIELD_COMMENT("PCI addresses bound earlier with Bind; their groups go back to their drivers"),
                SD_VARLINK_DEFINE_INPUT(devices, SD_VARLINK_STRING, SD_VARLINK_ARRAY),
                SD_VARLINK_DEFINE_OUTPUT(devices, SD_VARLINK_STRING, SD_VARLINK_ARRAY));

static SD_VARLINK_DEFINE_METHOD(
                Acquire,
                SD_VARLINK_DEFINE_INPUT(devices, SD_VARLINK_STRING, SD_VARLINK_ARRAY),
                SD_VARLINK_FIELD_COMMENT("Refuse unless the measured aperture covers at least this many bits"),
                SD_VARLINK_DEFINE_INPUT(minApertureBits, SD_VARLINK_INT, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("IOVA ranges the caller must be able to map"),
                SD_VARLINK_DEFINE_INPUT_BY_TYPE(iovaRanges, IovaRange, SD_VARLINK_ARRAY|SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_OUTPUT(leaseId, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("One per container (several when mixed apertures are split)"),
                SD_VARLINK_DEFINE_OUTPUT_BY_TYPE(containers, Container, SD_VARLINK_ARRAY),
                SD_VARLINK_DEFINE_OUTPUT_BY_TYPE(groups, GroupFd, SD_VARLINK_ARRAY),
                SD_VARLINK_DEFINE_OUTPUT_BY_TYPE(devices, DeviceFd, SD_VARLINK_ARRAY));

static SD_VARLINK_DEFINE_METHOD(
                Release,
                SD_VARLINK_DEFINE_INPUT(leaseId, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("The devices of the lease, given back where the policy says so"),
                SD_VARLINK_DEFINE_OUTPUT(devices, SD_VARLINK_STRING, SD_VARLINK_ARRAY));

static SD_VARLINK_DEFINE_METHOD(
                ListLeases,
                SD_VARLINK_DEFINE_OUTPUT_BY_TYPE(leases, Lease, SD_VARLINK_ARRAY));

static SD_VARLINK_DEFINE_ERROR(
                Denied,
                SD_VARLINK_FIELD_COMMENT("Codes of the failed checks"),
                SD_VARLINK_DEFINE_FIELD(reasons, SD_VARLINK_STRING, SD_VARLINK_ARRAY),
                SD_VARLINK_DEFINE_FIELD_BY_TYPE(checks, Check, SD_VARLINK_ARRAY),
                SD_VARLINK_DEFINE_FIELD(message, SD_VARLINK_STRING, 0));

static SD_VARLINK_DEFINE_ERROR(
                Busy,
                SD_VARLINK_DEFINE_FIELD(device, SD_VARLINK_STRING, 0),
                SD_VARLINK_FIELD_COMMENT("leaseId, uid and pid only for the lease's own uid and root"),
                SD_VARLINK_DEFINE_FIELD(leaseId, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_FIELD(uid, SD_VARLINK_INT, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_FIELD(pid, SD_VARLINK_INT, SD_VARLINK_NULLABLE),
                SD_VARLINK_FIELD_COMMENT("Why, when a Release or Unbind cannot end the lease yet"),
                SD_VARLINK_DEFINE_FIELD(message, SD_VARLINK_STRING, SD_VARLINK_NULLABLE));

static SD_VARLINK_DEFINE_ERROR(
                BindFailed,
                SD_VARLINK_DEFINE_FIELD(device, SD_VARLINK_STRING, SD_VARLINK_NULLABLE),
                SD_VARLINK_DEFINE_FIELD(message, SD_VARLINK_STRING, 0));

static SD_VARLINK_DEFINE_ERROR(
                Timeout,
                SD_VARLINK_DEFINE_FIELD(message, SD_VARLINK_STRING, 0));

static SD_VARLINK_DEFINE_ERROR(
                NotSupported,
                SD_VARLINK_DEFINE_FIELD(message, SD_VARLINK_STRING, 0));

static SD_VARLINK_DEFINE_ERROR(
                NoSuchLease,
                SD_VARLINK_DEFINE_FIELD(leaseId, SD_VARLINK_STRING, 0));

static SD_VARLINK_DEFINE_ERROR(
                NoSuchDevice,
                SD_VARLINK_DEFINE_FIELD(device, SD_VARLINK_STRING, 0));

static SD_VARLINK_DEFINE_ERROR(
                PolicyInvalid,
                SD_VARLINK_FIELD_COMMENT("path:line:column and what was expected; the previous policy stays"),
                SD_VARLINK_DEFINE_FIELD(message, SD_VARLINK_STRING, 0));

SD_VARLINK_DEFINE_INTERFACE(
                io_vfiod_Broker,
                "io.vfiod.Broker",
                SD_VARLINK_INTERFACE_COMMENT("vfiod: brokers VFIO device assignment on this host"),
                SD_VARLINK_SYMBOL_COMMENT("Kind of IOMMU unit"),
                &vl_type_IommuKind,
                SD_VARLINK_SYMBOL_COMMENT("Decoded Intel VT-d capability registers"),
                &vl_type_IntelCapabilities,
                SD_VARLINK_SYMBOL_COMMENT("Decoded AMD-Vi extended feature register"),
                &vl_type_AmdCapabilities,
                SD_VARLINK_SYMBOL_COMMENT("One IOMMU unit (hardware remapping engine) of the host"),
                &vl_type_IommuUnit,
                SD_VARLINK_SYMBOL_COMMENT("What the running kernel offers for VFIO"),
                &vl_type_KernelCapabilities,
                SD_VARLINK_SYMBOL_COMMENT("The kernel's DMA-safety switches, read at call time"),
                &vl_type_KernelSwitches,
                &vl_type_PolicyFile,
                SD_VARLINK_SYMBOL_COMMENT("The policy in force"),
                &vl_type_PolicySummary,
                SD_VARLINK_SYMBOL_COMMENT("One check of a verdict"),
                &vl_type_Check,
                SD_VARLINK_SYMBOL_COMMENT("A verdict in short"),
                &vl_type_Verdict,
                &vl_type_DeviceState,
                SD_VARLINK_SYMBOL_COMMENT("A PCI device"),
                &vl_type_Device,
                &vl_type_ReservedRegion,
                SD_VARLINK_SYMBOL_COMMENT("An IOMMU group"),
                &vl_type_Group,
                SD_VARLINK_SYMBOL_COMMENT("The daemon's version, the kernel's VFIO capabilities and switches, the IOMMU units, the policy"),
                &vl_method_GetInfo,
                &vl_method_ListDevices,
                &vl_method_ListGroups,
                SD_VARLINK_SYMBOL_COMMENT("Every check vfiod makes before handing out this device, passed or failed"),
                &vl_method_Explain,
                SD_VARLINK_SYMBOL_COMMENT("Topology and policy changes as they happen"),
                &vl_method_Monitor,
                SD_VARLINK_SYMBOL_COMMENT("Re-read the policy (root only); a bad file is rejected and the previous policy stays"),
                &vl_method_Reload,
                &vl_type_IovaRange,
                &vl_type_GroupFd,
                &vl_type_DeviceFd,
                SD_VARLINK_SYMBOL_COMMENT("A VFIO container passed with an Acquire reply"),
                &vl_type_Container,
                SD_VARLINK_SYMBOL_COMMENT("Who holds which devices"),
                &vl_type_LeaseOwner,
                &vl_type_Lease,
                SD_VARLINK_SYMBOL_COMMENT("Move whole IOMMU groups to vfio-pci, no fds (varlinkctl, the libvirt hook); held until Unbind"),
                &vl_method_Bind,
                SD_VARLINK_SYMBOL_COMMENT("Give groups bound with Bind back to the drivers they had"),
                &vl_method_Unbind,
                SD_VARLINK_SYMBOL_COMMENT("Bind if needed, then pass a ready VFIO container, group and device fds; the lease ends with the caller's process or Release"),
                &vl_method_Acquire,
                SD_VARLINK_SYMBOL_COMMENT("End a lease (its holder or root)"),
                &vl_method_Release,
                &vl_method_ListLeases,
                SD_VARLINK_SYMBOL_COMMENT("A check failed; every failed check is listed"),
                &vl_error_Denied,
                SD_VARLINK_SYMBOL_COMMENT("Another lease holds the device"),
                &vl_error_Busy,
                SD_VARLINK_SYMBOL_COMMENT("The kernel did not move the device; the host is as it was"),
                &vl_error_BindFailed,
                &vl_error_Timeout,
                SD_VARLINK_SYMBOL_COMMENT("vfio-pci or the type1 container is not available"),
                &vl_error_NotSupported,
                &vl_error_NoSuchLease,
                SD_VARLINK_SYMBOL_COMMENT("No PCI device has this address"),
                &vl_error_NoSuchDevice,
                SD_VARLINK_SYMBOL_COMMENT("The new policy was rejected"),
                &vl_error_PolicyInvalid);
