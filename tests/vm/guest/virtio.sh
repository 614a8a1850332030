# SPDX-License-Identifier: LGPL-2.1-or-later
# In the guest with virtio-iommu instead of VT-d: a unit whose width sysfs does not tell, no
# interrupt remapping, and an aperture that only Acquire can measure.
set -u
. ./checks.sh
B=io.vfiod.Broker
call() { varlinkctl call "$BROKER" "$B.$1" "${2:-{\}}"; }

systemctl start vfiod.socket
out=$(call GetInfo)
check_eq "one unit, virtio-iommu" virtio "$(jq -r '[.iommuUnits[].kind] | join(" ")' <<<"$out")"
check_eq "its width is not guessed" null "$(jq '.iommuUnits[0].addressWidthBits' <<<"$out")"
check "and the reason says so" grep -q "measured at Acquire" <<<"$(jq -r '.iommuUnits[0].addressWidthSource' <<<"$out")"
check_eq "no interrupt remapping" false "$(jq '.switches.interruptRemapping' <<<"$out")"
codes=$(call Explain '{"device":"0000:00:03.0"}' | jq -r '[.checks[] | select(.passed|not) | .code] | join(" ")')
check_eq "strict defaults refuse: no-interrupt-remapping" no-interrupt-remapping "$codes"

mkdir -p /etc/vfiod/policy.d
echo '{"platform":{"requireInterruptRemapping":false}}' >/etc/vfiod/policy.d/50-virtio.json
call Reload >/dev/null
check_eq "GetInfo says what the policy relaxes" '["no-interrupt-remapping"]' "$(call GetInfo | jq -c '.policy.relaxed')"
# The kernel itself refuses a type1 container on an IOMMU without MSI isolation: vfiod says why
# and gives the device back.
err=$(vfiodctl acquire 0000:00:03.0 --exec -- true 2>&1)
echo "$err"
check "relaxing our check is not enough: the kernel refuses, and vfiod says why" grep -q "does not isolate device interrupts" <<<"$err"
check "... as a denial under no-interrupt-remapping, not a bind failure" grep -q "no-interrupt-remapping" <<<"$err"
sleep 1
check_eq "device back after the refusal" e1000e "$(basename "$(readlink /sys/bus/pci/devices/0000:00:03.0/driver)")"

# With the kernel's switch on, vfiod's unsafe-interrupts check stops it until the policy allows it.
echo Y >/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts
codes=$(call Explain '{"device":"0000:00:03.0"}' | jq -r '[.checks[] | select(.passed|not) | .code] | join(" ")')
check_eq "allow_unsafe_interrupts=Y, read at decision time" unsafe-interrupts "$codes"
echo '{"platform":{"requireInterruptRemapping":false,"allowUnsafeInterrupts":true}}' >/etc/vfiod/policy.d/50-virtio.json
call Reload >/dev/null
out=$(timeout -s INT 15 vfiodctl --json acquire 0000:00:03.0 2>/dev/null | head -c 100000)
echo "$out" | jq -c '.containers' 2>/dev/null
check_jq "Acquire measured the aperture" '.containers[0].apertureBits >= 39' "$out"
check_jq "... and the usable IOVA ranges" '.containers[0].iovaRanges | length >= 1' "$out"
sleep 2
check_eq "device back afterwards" e1000e "$(basename "$(readlink /sys/bus/pci/devices/0000:00:03.0/driver)")"

# The decoded width is unknown here, so only the measurement can find a shortfall: asking for
# more bits than the container gives binds, measures, tears down, gives the device back, denies.
bits=$(jq '.containers[0].apertureBits' <<<"$out")
err=$(vfiodctl acquire 0000:00:03.0 --min-aperture-bits=$((bits + 1)) --exec -- true 2>&1)
echo "$err"
check "measured shortfall -> aperture-too-small" grep -q "aperture-too-small" <<<"$err"
check "the sentence gives the measured width" grep -q "measures $bits address bits" <<<"$err"
sleep 1
check_eq "device back after the measured refusal" e1000e "$(basename "$(readlink /sys/bus/pci/devices/0000:00:03.0/driver)")"
check_eq "no lease left" 0 "$(call ListLeases | jq '.leases | length')"
check "journal: the denial names the measurement" bash -c "journalctl -o json MESSAGE_ID=c45757b8c4734020b47e0bb91e99abb1 | grep -q 'measures $bits address bits'"
finish
