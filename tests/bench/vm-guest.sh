#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# In the guest (run by tests/bench/vm through tools/dev vm): the Acquire and bind + restore
# benchmark on the real kernel, 0000:00:03.0 (e1000e, alone in its group). Prints one table;
# asserts no timings; exits non-zero only if something did not work.
#
#   vm-guest.sh (--client-b64 BASE64 | --client PATH) [--acquire N] [--bind N]
#
# The measuring is done by tests/bench/acquire-client.py; tools/dev vm copies only this script
# into the guest, so tests/bench/vm passes the client along as one base64 argument.
set -euo pipefail

DEV=0000:00:03.0
FLOOR=/usr/libexec/vfiod-tests/vfiod-kernel-test
acquire=100 bind=20 client= client_b64=
while [ $# -gt 0 ]; do
    case $1 in
        --client-b64) client_b64=$2; shift 2 ;;
        --client) client=$2; shift 2 ;;
        --acquire) acquire=$2; shift 2 ;;
        --bind) bind=$2; shift 2 ;;
        *) echo "usage: $0 (--client-b64 BASE64 | --client PATH) [--acquire N] [--bind N]" >&2; exit 2 ;;
    esac
done
fail() { echo "bench: $*" >&2; exit 1; }

if [ -n "$client_b64" ]; then
    mkdir -p /run/vfiod-bench
    client=/run/vfiod-bench/acquire-client.py
    base64 -d <<<"$client_b64" >"$client" || fail "cannot decode the client"
fi
[ -n "$client" ] && [ -f "$client" ] || fail "no client (--client-b64 or --client)"
for t in python3 varlinkctl "$FLOOR"; do
    command -v "$t" >/dev/null || fail "$t is missing"
done
[ -d "/sys/bus/pci/devices/$DEV" ] || fail "no $DEV in this VM"
# The comparison tools come with the Debian root; a missing one is reported, not measured.
driverctl=$(command -v driverctl || true)
devbind=$(command -v dpdk-devbind.py || true)

# Root may use any device; the rule keeps $DEV on vfio-pci after an Acquire's Release, so the
# timed Acquire calls find it already bound. (Bind always gives the device back on Unbind.)
mkdir -p /etc/vfiod/policy.d
cat >/etc/vfiod/policy.d/50-bench.json <<JSON
{ "rules": [ { "name": "bench-nic", "match": { "address": "$DEV" }, "allow": { "users": ["root"] },
               "restoreOnRelease": false } ] }
JSON
modprobe vfio-pci
systemctl start vfiod.socket
varlinkctl call /run/vfiod/io.vfiod.Broker io.vfiod.Broker.GetInfo '{}' >/tmp/bench-info.json \
    || fail "vfiod does not answer GetInfo"
jq -e 'any(.policy.files[]; (.path | endswith("/50-bench.json")) and .error == null)' \
    /tmp/bench-info.json >/dev/null || fail "vfiod did not load the bench policy: $(jq -c .policy /tmp/bench-info.json)"

header="vfiod Acquire and bind + restore benchmark ($(jq -r .version /tmp/bench-info.json), kernel $(uname -r), \
QEMU TCG, $(nproc) vCPUs, intel-iommu; driverctl: ${driverctl:-not installed}; dpdk-devbind.py: ${devbind:-not installed})"

rc=0
python3 "$client" --device "$DEV" --acquire "$acquire" --bind "$bind" --floor-tool "$FLOOR" \
    --driverctl "$driverctl" --dpdk-devbind "$devbind" --header "$header" || rc=$?

# Whatever happened: say where the device is, and that vfiod is still up.
drv=$(basename "$(readlink "/sys/bus/pci/devices/$DEV/driver" 2>/dev/null)" 2>/dev/null || echo none)
[ "$drv" = e1000e ] || { echo "bench: $DEV is on $drv at the end, not e1000e" >&2; rc=1; }
systemctl is-active --quiet vfiod.service || { echo "bench: vfiod.service is not running at the end" >&2; rc=1; }
[ "$rc" -eq 0 ] || journalctl -u vfiod.service --no-pager -n 30 -o cat >&2 || true
exit "$rc"
