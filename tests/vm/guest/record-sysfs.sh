# SPDX-License-Identifier: LGPL-2.1-or-later
# Record the guest's PCI and IOMMU sysfs for the fake-sysfs tier:
#   tools/dev vm -- tests/vm/guest/record-sysfs.sh > tests/sysfs/fixtures/q35-intel-aw48.umockdev
set -e
devs=(/sys/class/iommu/* /sys/bus/pci/devices/*)
umockdev-record "${devs[@]}"
