#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The state journal is input too: a lease that names no device is dropped with a clear line
# (it once crashed the start), and a lease whose moved device was replaced at its address
# (hot-unplug, then another device got the address and group) does not touch the new device.
#   test-state.sh VFIOD FIXTURE-DIR
set -u
vfiod=$1 fixture=$2
here=$(cd "$(dirname "$0")" && pwd)

if [ -z "${VFIOD_STATE_INNER:-}" ]; then
    # A private /run, as in test-lifecycle.sh.
    exec env VFIOD_STATE_INNER=1 unshare --mount --propagation unchanged -- \
        bash -c 'mount --make-rprivate /run && mount -t tmpfs tmpfs /run &&
                 exec "$(dirname "$0")/run-fixture" "$2" -- bash "$0" "$1" "$2"' \
        "$here/test-state.sh" "$vfiod" "$fixture"
fi

. "$here/../lib/checks.sh"
export VFIOD_POLICY_PATH=/nonexistent
log=$(mktemp)
trap 'rm -f "$log"' EXIT
mkdir -p /run/vfiod
empty='{"id":"0123456789abcdef0123456789abcdef","kind":"acquire","phase":"binding","uid":0,"pid":0,"pidStartTime":0,"since":0,"restoreOnRelease":true,"devices":[],"groups":[],"moved":[]}'
# 0000:00:03.0 is an 8086:10d3 in group 1 on e1000e; the lease says it moved a 1234:5678 there.
replaced='{"id":"fedcba9876543210fedcba9876543210","kind":"acquire","phase":"restoring","uid":0,"pid":0,"pidStartTime":0,"since":0,"restoreOnRelease":true,"devices":["0000:00:03.0"],"groups":[1],"moved":[{"address":"0000:00:03.0","originalDriver":"","originalOverride":"","vendor":4660,"device":22136,"group":1}]}'
echo "{\"version\":1,\"leases\":[$empty,$replaced]}" >/run/vfiod/state.json

"$vfiod" 2>"$log" &
pid=$!
for _ in $(seq 400); do [ -S "$BROKER" ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
check "starts with an empty lease in the journal" test -S "$BROKER"
out=$(varlinkctl call "$BROKER" io.vfiod.Broker.GetInfo '{}' 2>&1)
check_jq "answers" '.iommuUnits | length == 1' "$out"
check "says which lease it dropped and why" grep -q "lease 0 names no device and moved none; dropping it" "$log"
check "says it does not restore the replaced device" \
    grep -q "0000:00:03.0 is now 8086:10d3 in group 1, not the 1234:5678 in group 1 it moved; not restoring it" "$log"
out=$(varlinkctl call "$BROKER" io.vfiod.Broker.ListDevices '{}')
check_eq "the replaced device stays on its driver" e1000e "$(jq -r '.devices[] | select(.address=="0000:00:03.0") | .driver' <<<"$out")"
check_eq "its driver_override is untouched" "(null)" "$(cat /sys/bus/pci/devices/0000:00:03.0/driver_override 2>/dev/null || echo '(null)')"
check_jq "both leases are gone from the journal" '.leases == []' "$(cat /run/vfiod/state.json)"

kill -TERM "$pid"
wait "$pid"
check_eq "exit status after SIGTERM" 0 "$?"
if grep -qE "Sanitizer|runtime error" "$log"; then cat "$log"; not_ok "sanitizer reports"; else ok "no sanitizer reports"; fi
finish
