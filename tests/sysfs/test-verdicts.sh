#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Verdicts of the real daemon on the sysfs recorded from the VM's kernel, and on edits of it
# for what no VM here can make (noiommu, unsafe interrupts, ACS override, a direct-mapped
# region, two Intel units of 39 and 48 bits, SMMU bypass, a NIC with a default route).
#   test-verdicts.sh VFIOD FIXTURES-DIR
set -u
vfiod=$1 fixtures=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/checks.sh"

policy=$(mktemp -d)
trap 'rm -rf "$policy"' EXIT
export VFIOD_POLICY_PATH=$policy

# call FIXTURE EDIT METHOD PARAMS: one daemon per call, in a network namespace of its own.
call() {
    timeout 30 unshare -n "$here/run-fixture" "$fixtures/$1" --edit "ip link set lo up; $2" -- \
        varlinkctl call "exec:$vfiod" "io.vfiod.Broker.$3" "$4" 2>/dev/null
}
explain() { call "$1" "$2" Explain "{\"device\":\"$3\"}"; }
# failed FIXTURE EDIT DEVICE: the failed codes, space-separated, sorted
failed() { explain "$@" | jq -r '[.checks[] | select(.passed | not) | .code] | unique | join(" ")'; }

# --- recorded topology, strict defaults, root
out=$(call q35-aw48 : ListDevices '{}')
check_eq "12 PCI devices" 12 "$(jq '.devices | length' <<<"$out")"
check_eq "e1000e alone in its group: allowed" true "$(jq '.devices[] | select(.address=="0000:00:03.0") | .verdict.allowed' <<<"$out")"
check_eq "root port: not-an-endpoint" '["not-an-endpoint"]' "$(jq -c '.devices[] | select(.address=="0000:00:04.0") | .verdict.failed' <<<"$out")"
check_eq "root disk: root-storage" '["root-storage"]' "$(jq -c '.devices[] | select(.address=="0000:00:06.0") | .verdict.failed' <<<"$out")"
check_eq "root disk: why" "/ on vda" "$(jq -r '.devices[] | select(.address=="0000:00:06.0") | .hostUseDetail' <<<"$out")"
check_eq "e1000 behind the bridge alone: partial and not viable" "group-not-viable partial-group" \
    "$(failed q35-aw48 : 0000:02:01.0)"
check_eq "names and ids from the hwdb and sysfs" "8086 10d3 020000 82574L Gigabit Network Connection" \
    "$(jq -r '.devices[] | select(.address=="0000:00:03.0") | "\(.vendor) \(.device) \(.class) \(.modelName)"' <<<"$out")"
check_eq "parent bridge" "0000:00:05.0" "$(jq -r '.devices[] | select(.address=="0000:02:02.0") | .parent' <<<"$out")"

out=$(call q35-aw48 : ListGroups '{}')
check_eq "8 groups" 8 "$(jq '.groups | length' <<<"$out")"
check_eq "bridge group: members" '["0000:00:05.0","0000:02:01.0","0000:02:02.0"]' "$(jq -c '.groups[] | select(.id==3) | .members' <<<"$out")"
check_eq "bridge group: not viable while the e1000s are on e1000" false "$(jq '.groups[] | select(.id==3) | .viable' <<<"$out")"
check_eq "bridge group as a whole: allowed" true "$(jq '.groups[] | select(.id==3) | .verdict.allowed' <<<"$out")"
check_eq "ICH9 group has the direct-relaxable and msi regions" "direct-relaxable msi" \
    "$(jq -r '[.groups[] | select(.id==6) | .reservedRegions[].type] | join(" ")' <<<"$out")"
check_eq "ICH9 direct-relaxable region passes" true "$(jq '.groups[] | select(.id==6) | .verdict.allowed' <<<"$out")"

out=$(call q35-aw48 : GetInfo '{}')
check_eq "switches: interrupt remapping seen in /proc/interrupts" true "$(jq '.switches.interruptRemapping' <<<"$out")"
check_eq "switches: no ACS override" null "$(jq '.switches.acsOverride' <<<"$out")"
check_eq "strict defaults relax nothing" '[]' "$(jq -c '.policy.relaxed' <<<"$out")"

# --- the cases no VM here can make
check_eq "noiommu group" "noiommu" "$(failed q35-aw48 'echo vfio-noiommu > $T/sys/kernel/iommu_groups/1/name' 0000:00:03.0)"
check_eq "unsafe interrupts" "unsafe-interrupts" \
    "$(failed q35-aw48 'echo Y > $T/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts' 0000:00:03.0)"
check_eq "no interrupt remapping" "no-interrupt-remapping" "$(failed q35-aw48 'sed -i s/IR-//g $P/interrupts' 0000:00:03.0)"
check_eq "ACS override on the command line" "acs-override" \
    "$(failed q35-aw48 'echo "$(cat $P/cmdline) pcie_acs_override=downstream,multifunction" > $P/cmdline' 0000:00:03.0)"
check_eq "direct-mapped (RMRR) region" "direct-mapped-region" \
    "$(failed q35-aw48 'echo "0x00000000000e0000 0x00000000000fffff direct" >> $T/sys/kernel/iommu_groups/1/reserved_regions' 0000:00:03.0)"
smmu='d=$T/sys/devices/virtual/iommu; cp -r $d/dmar0 $d/smmu3.0x0000000009050000; rm -rf $d/smmu3.0x0000000009050000/intel-iommu
      ln -s ../../devices/virtual/iommu/smmu3.0x0000000009050000 $T/sys/class/iommu/
      ln -sfn ../../virtual/iommu/smmu3.0x0000000009050000 $T/sys/devices/pci0000:00/0000:00:03.0/iommu
      mkdir -p $T/sys/module/arm_smmu_v3/parameters; echo N > $T/sys/module/arm_smmu_v3/parameters/disable_bypass'
check_eq "SMMU with disable_bypass=N" "smmu-bypass" "$(failed q35-aw48 "$smmu" 0000:00:03.0)"
route='ip link add enp0s3 type veth peer name peer0; ip link set peer0 up; ip link set enp0s3 up; ip addr add 192.0.2.1/24 dev enp0s3; ip route add default via 192.0.2.254'
check_eq "NIC with an address and a default route" "routed-interface" "$(failed q35-aw48 "$route" 0000:00:03.0)"
check_eq "why the NIC is busy" "enp0s3 has an address; enp0s3 has a route" \
    "$(call q35-aw48 "$route" ListDevices '{}' | jq -r '.devices[] | select(.address=="0000:00:03.0") | .hostUseDetail')"

# Two Intel units of different widths (mixed-width DRHDs): 01:00.0 moves to a 39-bit dmar1.
mixed='d=$T/sys/devices/virtual/iommu; cp -r $d/dmar0 $d/dmar1; echo d2008c22260206 > $d/dmar1/intel-iommu/cap
       ln -s ../../devices/virtual/iommu/dmar1 $T/sys/class/iommu/
       ln -sfn ../../../virtual/iommu/dmar1 $T/sys/devices/pci0000:00/0000:00:04.0/0000:01:00.0/iommu'
out=$(call q35-aw48 "$mixed" Explain '{"devices":["0000:00:03.0","0000:01:00.0"]}')
check_eq "mixed widths, policy split: allowed" true "$(jq '.allowed' <<<"$out")"
check_eq "mixed widths: the narrower width applies" 39 "$(jq '.apertureBits' <<<"$out")"
echo '{"platform":{"mixedApertures":"deny"}}' > "$policy/50-mixed.json"
check_eq "mixed widths, policy deny" "aperture-mixed" \
    "$(call q35-aw48 "$mixed" Explain '{"devices":["0000:00:03.0","0000:01:00.0"]}' | jq -r '[.checks[] | select(.passed|not) | .code] | join(" ")')"
rm -f "$policy/50-mixed.json"

# The 39-bit IOMMU recorded from the VM, against a policy that wants 40 bits.
echo '{"platform":{"minApertureBits":40}}' > "$policy/50-aperture.json"
check_eq "39-bit unit, policy wants 40" "aperture-too-small" "$(failed q35-aw39 : 0000:00:03.0)"
check_eq "48-bit unit, policy wants 40" "" "$(failed q35-aw48 : 0000:00:03.0)"
out=$(call q35-aw39 : GetInfo '{}')
check_eq "GetInfo shows the policy file" "$policy/50-aperture.json" "$(jq -r '.policy.files[0].path' <<<"$out")"
rm -f "$policy/50-aperture.json"

# A deny rule names itself.
echo '{"rules":[{"name":"never-nics","match":{"class":"0200*"},"deny":true}]}' > "$policy/50-rules.json"
out=$(explain q35-aw48 : 0000:00:03.0)
check_eq "deny rule" "denied-by-rule" "$(jq -r '[.checks[] | select(.passed|not) | .code] | join(" ")' <<<"$out")"
check_eq "deny rule is named" never-nics "$(jq -r '.rule' <<<"$out")"
rm -f "$policy/50-rules.json"

# AMD-Vi, recorded from QEMU's amd-iommu: the width comes from EFR.HATS.
out=$(call q35-amd : GetInfo '{}')
check_eq "AMD unit" "ivhd0 amd" "$(jq -r '.iommuUnits[0] | "\(.name) \(.kind)"' <<<"$out")"
check_eq "AMD width from EFR.HATS (6 levels)" "64 6" "$(jq -r '.iommuUnits[0] | "\(.addressWidthBits) \(.amd.hostPageTableLevels)"' <<<"$out")"
check_eq "AMD: interrupt remapping seen" true "$(jq '.switches.interruptRemapping' <<<"$out")"
check_eq "AMD: e1000e alone is allowed" "" "$(failed q35-amd : 0000:00:03.0)"

# --- interrupt isolation, judged by what the switches do (F19)
cmd='echo "$(cat $P/cmdline) intremap=nosid" > $P/cmdline'
check_eq "intremap=nosid: remapping without source-id checks" "no-interrupt-remapping" "$(failed q35-aw48 "$cmd" 0000:00:03.0)"
check "... and the sentence names it" grep -q "intremap=nosid" <<<"$(explain q35-aw48 "$cmd" 0000:00:03.0)"
check_eq "nointremap (the old spelling of intremap=off)" "no-interrupt-remapping" \
    "$(failed q35-aw48 'echo "$(cat $P/cmdline) nointremap" > $P/cmdline' 0000:00:03.0)"
check_eq "intremap=no_x2apic_optout changes nothing about isolation" "" \
    "$(failed q35-aw48 'echo "$(cat $P/cmdline) intremap=no_x2apic_optout" > $P/cmdline' 0000:00:03.0)"
# An action name that merely starts with IR- is not a remapping irq chip.
check_eq "an action named IR-something is not remapping" "no-interrupt-remapping" \
    "$(failed q35-aw48 'sed -i "s/IR-//g; s/ timer/ IR-timer/" $P/interrupts' 0000:00:03.0)"
# arm64: MSIs isolated by a GICv3 ITS, no IR- chips anywhere.
its='sed -i "s/IR-IO-APIC/GICv3/; s/IR-PCI-MSIX-[0-9a-f:.]*/ITS-PCI-MSIX-0000:00:03.0/; s/IR-PCI-MSI-[0-9a-f:.]*/ITS-MSI/; s/IR-//g" $P/interrupts'
check_eq "arm64 with a GICv3 ITS: MSIs isolated" "" "$(failed q35-aw48 "$its" 0000:00:03.0)"
check "... and GetInfo says by what" grep -q '"its"' <<<"$(call q35-aw48 "$its" GetInfo '{}' | jq -c '.switches.msiIsolation')"
check_eq "arm64 without an ITS (GICv2m): not isolated" "no-interrupt-remapping" \
    "$(failed q35-aw48 'sed -i "s/IR-IO-APIC/GICv3/; s/IR-PCI-MSIX-[0-9a-f:.]*/GICv2m-PCI-MSIX-0000:00:03.0/; s/IR-PCI-MSI-[0-9a-f:.]*/GICv2m-MSI/; s/IR-//g" $P/interrupts' 0000:00:03.0)"
check_eq "allow_unsafe_interrupts unreadable: unknown fails closed" "unsafe-interrupts" \
    "$(failed q35-aw48 'rm -rf $T/sys/module/vfio_iommu_type1' 0000:00:03.0)"
echo '{"platform":{"allowUnsafeInterrupts":true}}' > "$policy/50-unsafe.json"
check_eq "... unless the policy relaxes it" "" "$(failed q35-aw48 'rm -rf $T/sys/module/vfio_iommu_type1' 0000:00:03.0)"
rm -f "$policy/50-unsafe.json"

# --- topology that must not be lost or stop the daemon (F11, F22)
out=$(explain q35-amd : 0000:00:01.0)
check_jq "AMD: the IOMMU's own function (an iommu/ directory, not a link) is kept" '.checks | length > 0' "$out"
check_eq "AMD: 13 devices, the IOMMU function included" 13 "$(call q35-amd : ListDevices '{}' | jq '.devices | length')"
bad='echo "0x00000000fee00000 0x00000000feefffff msi-foo" >> $T/sys/kernel/iommu_groups/1/reserved_regions'
check_eq "an unparsable reserved_regions line: the daemon still answers" 12 "$(call q35-aw48 "$bad" ListDevices '{}' | jq '.devices | length')"
check_eq "... and that group fails closed" "direct-mapped-region" "$(failed q35-aw48 "$bad" 0000:00:03.0)"
check "... saying why" grep -q "could not be read" <<<"$(explain q35-aw48 "$bad" 0000:00:03.0)"
check_eq "... other groups are unaffected" "" "$(failed q35-aw48 "$bad" 0000:01:00.0)"

# Bad input: clear errors.
err=$(timeout 30 unshare -n "$here/run-fixture" "$fixtures/q35-aw48" -- varlinkctl call "exec:$vfiod" \
      io.vfiod.Broker.Explain '{"device":"../../../etc/passwd"}' 2>&1)
check "a path as PCI address -> InvalidParameter" grep -q "InvalidParameter" <<<"$err"
err=$(timeout 30 unshare -n "$here/run-fixture" "$fixtures/q35-aw48" -- varlinkctl call "exec:$vfiod" \
      io.vfiod.Broker.Explain '{"device":"0000:00:09.0"}' 2>&1)
check "unknown device -> NoSuchDevice" grep -q "io.vfiod.Broker.NoSuchDevice" <<<"$err"
err=$(timeout 30 unshare -n "$here/run-fixture" "$fixtures/q35-aw48" -- varlinkctl call "exec:$vfiod" \
      io.vfiod.Broker.Explain '{"device":"0000:00:03.0","devices":["0000:00:03.0"]}' 2>&1)
check "device and devices together -> InvalidParameter" grep -q "InvalidParameter" <<<"$err"
err=$(timeout 30 unshare -n "$here/run-fixture" "$fixtures/q35-aw48" -- varlinkctl call "exec:$vfiod" \
      io.vfiod.Broker.Explain '{"devices":["0000:00:03.0","0000:00:03.0"]}' 2>&1)
check "duplicate devices -> InvalidParameter" grep -q "InvalidParameter" <<<"$err"
err=$(timeout 30 unshare -n "$here/run-fixture" "$fixtures/q35-aw48" -- varlinkctl call "exec:$vfiod" \
      io.vfiod.Broker.Explain "{\"devices\":$(python3 -c 'print(["0000:00:03.0"]*300)' | tr "'" '"')}" 2>&1)
check "300 devices -> InvalidParameter" grep -q "InvalidParameter" <<<"$err"

finish
