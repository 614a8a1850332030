# SPDX-License-Identifier: LGPL-2.1-or-later
# In the guest with QEMU's AMD-Vi: the width decoded from EFR.HATS, and the aperture Acquire measures.
set -u
. ./checks.sh
B=io.vfiod.Broker
call() { varlinkctl call "$BROKER" "$B.$1" "${2:-{\}}"; }

systemctl start vfiod.socket
out=$(call GetInfo)
check_eq "one AMD unit" amd "$(jq -r '[.iommuUnits[].kind] | join(" ")' <<<"$out")"
decoded=$(jq '.iommuUnits[0].addressWidthBits' <<<"$out")
check_eq "width decoded from amd-iommu/features" 64 "$decoded"
check_eq "interrupt remapping on" true "$(jq '.switches.interruptRemapping' <<<"$out")"
# The AMD-Vi unit is a PCI function of its own, with an iommu/ directory instead of a link (F11).
iommu_fn=$(basename "$(dirname "$(dirname "$(readlink -f /sys/class/iommu/ivhd0)")")")
check "the AMD-Vi function $iommu_fn is listed" bash -c "varlinkctl call $BROKER $B.ListDevices '{}' | jq -e '.devices[] | select(.address==\"$iommu_fn\")'"
out=$(call Explain "{\"device\":\"$iommu_fn\"}" 2>&1)
check_jq "... and explained, not NoSuchDevice" '.checks | length > 0' "$out"
out=$(timeout -s INT 15 vfiodctl --json acquire 0000:00:03.0 2>/tmp/acquire.err | head -c 100000)
cat /tmp/acquire.err
echo "$out" | jq -c '.containers'
measured=$(jq '.containers[0].apertureBits' <<<"$out")
check_jq "Acquire works behind AMD-Vi" '.containers | length == 1' "$out"
check "the measured aperture is not wider than the decoded width ($measured <= $decoded)" test "$measured" -le "$decoded"
sleep 2
check_eq "device back afterwards" e1000e "$(basename "$(readlink /sys/bus/pci/devices/0000:00:03.0/driver)")"
finish
