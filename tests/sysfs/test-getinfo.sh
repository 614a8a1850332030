#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The real daemon answers GetInfo on a sysfs tree recorded from the VM's real kernel (umockdev).
#   test-getinfo.sh VFIOD FIXTURE-DIR EXPECTED-WIDTH|none [EXPECTED-MGAW] [EDIT]
set -u
vfiod=$1 fixture=$2 width=$3 mgaw=${4:-} edit=${5:-:}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/checks.sh"
export VFIOD_POLICY_PATH=/nonexistent

# timeout: a hang must show as a failure here, not as a suite timeout.
out=$(timeout 20 "$here/run-fixture" "$fixture" --edit "$edit" -- varlinkctl call "exec:$vfiod" io.vfiod.Broker.GetInfo '{}' 2>/dev/null)
echo "$out"
check_jq "GetInfo answers with JSON" '.version' "$out"

check_eq "exactly one IOMMU unit" 1 "$(jq '.iommuUnits | length' <<<"$out")"
check_eq "unit is dmar0" dmar0 "$(jq -r '.iommuUnits[0].name' <<<"$out")"
check_eq "unit is Intel" intel "$(jq -r '.iommuUnits[0].kind' <<<"$out")"
if [ "$width" = none ]; then
    check_eq "width left out, not guessed" null "$(jq '.iommuUnits[0].addressWidthBits' <<<"$out")"
    check "the reason names the bad register" \
        grep -q "could not be decoded" <<<"$(jq -r '.iommuUnits[0].addressWidthSource' <<<"$out")"
    check_eq "no decoded registers" null "$(jq '.iommuUnits[0].intel' <<<"$out")"
else
    check_eq "decoded width" "$width" "$(jq '.iommuUnits[0].addressWidthBits' <<<"$out")"
    check_eq "MGAW" "$mgaw" "$(jq '.iommuUnits[0].intel.mgaw' <<<"$out")"
    check_eq "interrupt remapping capability" true "$(jq '.iommuUnits[0].intel.interruptRemapping' <<<"$out")"
fi
# The recorded unit translates for every PCI device of the q35 topology (12 of them).
check_eq "devices served" 12 "$(jq '.iommuUnits[0].devices | length' <<<"$out")"
check_jq "the root-bus e1000e is among them" '.iommuUnits[0].devices | index("0000:00:03.0") != null' "$out"
check_eq "kernel release is the running kernel's" "$(uname -r)" "$(jq -r '.kernel.release' <<<"$out")"

# Unknown parameters are refused, not ignored.
err=$(timeout 20 "$here/run-fixture" "$fixture" -- varlinkctl call "exec:$vfiod" io.vfiod.Broker.GetInfo '{"bogus":1}' 2>&1)
check "unknown parameter -> InvalidParameter" grep -q "InvalidParameter" <<<"$err"

finish
