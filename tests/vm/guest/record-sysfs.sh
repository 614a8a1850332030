# SPDX-License-Identifier: LGPL-2.1-or-later
# Record what vfiod reads from the guest's real kernel, for the fake-sysfs tier (use
# tools/record-fixture, which unpacks this output into tests/sysfs/fixtures/NAME/):
#   - the PCI devices, IOMMU units, block and net devices and vtconsoles, with umockdev-record;
#   - /sys/kernel/iommu_groups/*/{type,reserved_regions} and vfio's module parameters,
#     which are not devices and so not in umockdev's format;
#   - /proc/cmdline, /proc/interrupts, /proc/self/mountinfo.
set -e
modprobe vfio-pci
udevadm settle
devs=(/sys/class/iommu/* /sys/bus/pci/devices/* /sys/class/block/* /sys/class/net/* /sys/class/vtconsole/*)
echo "=== devices.umockdev"
umockdev-record "${devs[@]}"
files=(/sys/kernel/iommu_groups/*/type /sys/kernel/iommu_groups/*/reserved_regions
       /sys/module/vfio*/parameters/* /proc/cmdline /proc/interrupts /proc/self/mountinfo)
for f in "${files[@]}"; do
    [ -r "$f" ] || continue
    echo "=== file ${f#/}"
    cat "$f"
done
echo "=== end"
