#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Decisions rest on the IOMMU groups as sysfs has them now, not on the snapshot the last uevent
# left (F11): a function that joins a group with no uevent reaching vfiod (a monitor overflow, a
# VF landing in its PF's group) must make the group partial, and one that vanishes must not be
# offered. The daemon runs by hand in a private /run and network namespace, as test-lifecycle.sh.
#   test-stale.sh VFIOD FIXTURE-DIR
set -u
vfiod=$1 fixture=$2
here=$(cd "$(dirname "$0")" && pwd)

if [ -z "${VFIOD_STALE_INNER:-}" ]; then
    exec env VFIOD_STALE_INNER=1 unshare --mount --net --propagation unchanged -- \
        bash -c 'mount --make-rprivate /run && mount -t tmpfs tmpfs /run &&
                 exec "$(dirname "$0")/run-fixture" "$2" -- bash "$0" "$1" "$2"' \
        "$here/test-stale.sh" "$vfiod" "$fixture"
fi

. "$here/../lib/checks.sh"
export VFIOD_POLICY_PATH=/nonexistent
ip link set lo up
log=$(mktemp)
"$vfiod" 2>"$log" &
pid=$!
for _ in $(seq 400); do [ -S "$BROKER" ] && break; sleep 0.05; done
call() { varlinkctl call "$BROKER" "io.vfiod.Broker.$1" "$2" 2>&1; }
failed() { call Explain "{\"device\":\"$1\"}" | jq -r '[.checks[] | select(.passed | not) | .code] | unique | join(" ")'; }
S=$UMOCKDEV_DIR/sys

check_eq "e1000e alone in group 1: allowed" "" "$(failed 0000:00:03.0)"

# A second function joins group 1 on a host driver; no uevent is sent.
new=$S/devices/pci0000:00/0000:00:03.1
cp -a "$S/devices/pci0000:00/0000:00:03.0" "$new"
rm -rf "$new/net"
sed -i 's/0000:00:03.0/0000:00:03.1/g' "$new/uevent"
ln -s ../../../devices/pci0000:00/0000:00:03.1 "$S/bus/pci/devices/0000:00:03.1"
ln -s ../../../../devices/pci0000:00/0000:00:03.1 "$S/kernel/iommu_groups/1/devices/0000:00:03.1"

check_eq "the joined function makes the group partial and not viable" "group-not-viable partial-group" "$(failed 0000:00:03.0)"
check_eq "ListGroups shows both members now" '["0000:00:03.0","0000:00:03.1"]' \
    "$(call ListGroups '{}' | jq -c '.groups[] | select(.id==1) | .members')"
mkdir -p "$S/bus/pci/drivers/vfio-pci"     # the "kernel" has vfio-pci loaded
before=$(readlink "$S/devices/pci0000:00/0000:00:03.0/driver")
err=$(call Bind '{"devices":["0000:00:03.0"]}')
check "Bind of half the group -> Denied" grep -q "io.vfiod.Broker.Denied" <<<"$err"
check "... with partial-group" grep -q "partial-group" <<<"$err"
check_eq "... the host untouched" "$before" "$(readlink "$S/devices/pci0000:00/0000:00:03.0/driver")"
check "the journal of the daemon says the group was stale" grep -q "IOMMU group 1 had changed" "$log"

# It goes away again, also without a uevent.
rm -f "$S/kernel/iommu_groups/1/devices/0000:00:03.1" "$S/bus/pci/devices/0000:00:03.1"
rm -rf "$new"
check_eq "gone again: the group is whole" "" "$(failed 0000:00:03.0)"
err=$(call Explain '{"device":"0000:00:03.1"}')
check "the vanished function -> NoSuchDevice" grep -q "io.vfiod.Broker.NoSuchDevice" <<<"$err"

check "alive" kill -0 "$pid"
kill -TERM "$pid"
wait "$pid"
check_eq "exit status after SIGTERM" 0 "$?"
if grep -qE "Sanitizer|runtime error" "$log"; then cat "$log"; not_ok "sanitizer reports"; else ok "no sanitizer reports"; fi
rm -f "$log"
finish
