# SPDX-License-Identifier: LGPL-2.1-or-later
# In the guest: socket activation starts vfiod under systemd, GetInfo reports the real IOMMU.
#   getinfo.sh EXPECTED-WIDTH
set -u
width=$1
. ./checks.sh

check "vfiod.socket starts" systemctl start vfiod.socket
check "the socket exists" test -S "$BROKER"
check_eq "vfiod.service not running before the first call" inactive "$(systemctl is-active vfiod.service)"

out=$(varlinkctl call "$BROKER" io.vfiod.Broker.GetInfo '{}')
echo "$out"
check_eq "vfiod.service was socket-activated" active "$(systemctl is-active vfiod.service)"
check_eq "one Intel unit" 1 "$(jq '[.iommuUnits[] | select(.kind == "intel")] | length' <<<"$out")"
check_eq "its decoded width" "$width" "$(jq '.iommuUnits[0].addressWidthBits' <<<"$out")"
check_eq "the cap register as sysfs shows it" "$(cat /sys/class/iommu/dmar0/intel-iommu/cap)" \
    "$(jq -r '.iommuUnits[0].intel.cap' <<<"$out")"
check_eq "serves every PCI device" "$(ls /sys/class/iommu/dmar0/devices | wc -l)" \
    "$(jq '.iommuUnits[0].devices | length' <<<"$out")"
check_eq "kernel release" "$(uname -r)" "$(jq -r '.kernel.release' <<<"$out")"

# Starting vfiod loads VFIO itself (modprobe@ units), as a fresh install must: no reboot, no modprobe.
check_eq "vfio-pci loaded by starting vfiod" true "$(jq '.kernel.vfioPci' <<<"$out")"
check_eq "type1 loaded by starting vfiod" true "$(jq '.kernel.type1' <<<"$out")"
check_eq "container device there" true "$(jq '.kernel.vfioContainer' <<<"$out")"
check_eq "type1's unsafe-interrupts switch known at the first call" false "$(jq '.switches.type1AllowUnsafeInterrupts' <<<"$out")"

check "introspection shows the interface" \
    grep -q "method GetInfo" <<<"$(varlinkctl introspect "$BROKER" io.vfiod.Broker)"
check "unknown parameters are refused" \
    bash -c "! varlinkctl call $BROKER io.vfiod.Broker.GetInfo '{\"x\":1}' 2>/dev/null"
check "still running after a bad call" systemctl is-active --quiet vfiod.service
check "journald has the service's lines" \
    bash -c "journalctl -u vfiod.service --no-pager | grep -q 'Started vfiod.service'"

finish
