# SPDX-License-Identifier: LGPL-2.1-or-later
# In the guest, on the real kernel: Bind, Acquire with fds, Release, leases, the journal, races,
# crashes at injected points, malformed requests. The standard topology (see tests/vm/boot).
set -u
. ./checks.sh
B=io.vfiod.Broker
T=/usr/libexec/vfiod-tests
call() { varlinkctl call "$BROKER" "$B.$1" "${2:-{\}}"; }
driver() { basename "$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null)" 2>/dev/null || echo none; }
# Every PCI device with its driver: "the host exactly as it was" is this, unchanged.
host_state() { for d in /sys/bus/pci/devices/*; do echo "$(basename "$d") $(driver "$(basename "$d")")"; done; }
as_user() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --init-groups "$@"; }

useradd --system --no-create-home --user-group dpdk
useradd --system --no-create-home --user-group mallory
mkdir -p /etc/vfiod/policy.d
cat >/etc/vfiod/policy.d/50-test.json <<'JSON'
{
  "rules": [
    { "name": "dpdk-nic", "match": { "address": "0000:01:00.0" }, "allow": { "users": ["dpdk"] } }
  ]
}
JSON
check "modules-load.d ships vfio-pci" grep -qx vfio-pci /usr/lib/modules-load.d/vfiod.conf
systemctl start vfiod.socket
before=$(host_state)
# The payload was installed after boot, so modules-load.d has not run: starting vfiod loads VFIO.
call GetInfo >/dev/null
check "vfio-pci loaded by starting vfiod" test -d /sys/bus/pci/drivers/vfio-pci

# --- an unprivileged user allowed by policy: fds that really work, device back afterwards
out=$(as_user dpdk vfiodctl acquire 0000:01:00.0 --exec -- $T/vfio-dma-check 2>&1)
echo "$out"
line=$(grep '^{' <<<"$out" | tail -n1)
check_eq "dpdk mapped 2 MiB through the container fd" 2097152 "$(jq -r '.mapped' <<<"$line")"
check_eq "config space read through the device fd: vendor" 8086 "$(jq -r '.vendor' <<<"$line")"
check_eq "as uid dpdk" "$(id -u dpdk)" "$(jq -r '.uid' <<<"$line")"
sleep 2
check_eq "back on e1000e after the holder exited" e1000e "$(driver 0000:01:00.0)"
check "its interface is back" ls /sys/bus/pci/devices/0000:01:00.0/net/
check_eq "no lease left" 0 "$(call ListLeases | jq '.leases | length')"
check "journal: lease start" bash -c "journalctl -o json MESSAGE_ID=a2a90d80529345a791c5f1d4bd1b739c | grep -q 0000:01:00.0"
check "journal: lease end" bash -c "journalctl -o json MESSAGE_ID=cfa61d8d517f4e42994a85288dc1159a | grep -q 0000:01:00.0"

# --- whole groups only
err=$(call Acquire '{"devices":["0000:02:01.0"]}' 2>&1)
check "one e1000 of the bridge group -> Denied" grep -q "$B.Denied" <<<"$err"
check "... with partial-group" grep -q "partial-group" <<<"$err"
check_eq "... host untouched" "$before" "$(host_state)"
# varlinkctl 257 cannot receive fds: use vfiodctl (holds the lease while the command runs).
out=$(vfiodctl --json acquire 0000:02:01.0 0000:02:02.0 --exec -- sh -c 'echo "fds=$LISTEN_FDS names=$LISTEN_FDNAMES"; vfiodctl --json leases' 2>&1)
echo "$out"
check "both e1000 -> granted" grep -q "fds=" <<<"$out"
check_eq "one container, one group, two devices" "fds=4" "$(grep -o 'fds=[0-9]*' <<<"$out")"
sleep 2
check_eq "bridge group back: 02:01.0" e1000 "$(driver 0000:02:01.0)"
check_eq "bridge group back: 02:02.0" e1000 "$(driver 0000:02:02.0)"
check_eq "the bridge itself never moved" "$(grep '^0000:00:05.0 ' <<<"$before")" "0000:00:05.0 $(driver 0000:00:05.0)"

# --- not authorized: denied, and the journal says so with every field
err=$(as_user mallory varlinkctl call "$BROKER" $B.Acquire '{"devices":["0000:01:00.0"]}' 2>&1)
check "mallory -> Denied not-authorized" grep -q "not-authorized" <<<"$err"
j=$(journalctl -o json MESSAGE_ID=c45757b8c4734020b47e0bb91e99abb1 _COMM=vfiod | tail -n1)
echo "$j" | jq -c '{MESSAGE, PRIORITY, VFIOD_OPERATION, VFIOD_DEVICE, VFIOD_GROUP, VFIOD_REASONS, VFIOD_CALLER_UID, VFIOD_CALLER_PID}'
check_eq "journal: PRIORITY 4" 4 "$(jq -r .PRIORITY <<<"$j")"
check_eq "journal: VFIOD_OPERATION" acquire "$(jq -r .VFIOD_OPERATION <<<"$j")"
check_eq "journal: VFIOD_DEVICE" 0000:01:00.0 "$(jq -r .VFIOD_DEVICE <<<"$j")"
check_eq "journal: VFIOD_GROUP" "$(basename "$(readlink /sys/bus/pci/devices/0000:01:00.0/iommu_group)")" "$(jq -r .VFIOD_GROUP <<<"$j")"
check_eq "journal: VFIOD_REASONS" not-authorized "$(jq -r .VFIOD_REASONS <<<"$j")"
check_eq "journal: VFIOD_CALLER_UID" "$(id -u mallory)" "$(jq -r .VFIOD_CALLER_UID <<<"$j")"
check_jq "journal: VFIOD_CALLER_PID" '.VFIOD_CALLER_PID | tonumber > 1' "$j"
check "journalctl -x explains it" bash -c "journalctl -x MESSAGE_ID=c45757b8c4734020b47e0bb91e99abb1 | grep -q 'vfiodctl explain'"

# --- two clients race for one device: one lease, one Busy
( vfiodctl acquire 0000:00:03.0 --exec -- sleep 4 >/tmp/race1 2>&1; echo "rc=$?" >>/tmp/race1 ) &
( vfiodctl acquire 0000:00:03.0 --exec -- sleep 4 >/tmp/race2 2>&1; echo "rc=$?" >>/tmp/race2 ) &
wait
cat /tmp/race1 /tmp/race2
check_eq "exactly one of two racing callers won" 1 "$(cat /tmp/race1 /tmp/race2 | grep -c '^rc=0$')"
check "the other was told who holds it" bash -c "cat /tmp/race1 /tmp/race2 | grep -qi busy"
sleep 2
check_eq "back on e1000e after the race" e1000e "$(driver 0000:00:03.0)"

# --- Bind / Unbind (the libvirt hook's calls), by root
out=$(call Bind '{"devices":["0000:00:03.0"]}')
check_eq "Bind: on vfio-pci" vfio-pci "$(driver 0000:00:03.0)"
check "Bind: /dev/vfio/N exists" test -e "/dev/vfio/$(basename "$(readlink /sys/bus/pci/devices/0000:00:03.0/iommu_group)")"
check_eq "Bind: ListDevices says leased" leased \
    "$(call ListDevices | jq -r '.devices[] | select(.address=="0000:00:03.0") | .state')"
check "Bind: Explain says in-use" bash -c "varlinkctl call $BROKER $B.Explain '{\"device\":\"0000:00:03.0\"}' | jq -e '.checks[] | select(.code==\"in-use\" and (.passed|not))'"
err=$(as_user dpdk varlinkctl call "$BROKER" $B.Unbind '{"devices":["0000:00:03.0"]}' 2>&1)
check "someone else cannot Unbind it" grep -q "$B.BindFailed" <<<"$err"
call Unbind '{"devices":["0000:00:03.0"]}' >/dev/null
check_eq "Unbind: back on e1000e" e1000e "$(driver 0000:00:03.0)"

# --- kill -9 at injected points; a restart leaves nothing stranded and no lease lost
crash() {   # crash POINT: make the next vfiod die there
    mkdir -p /run/systemd/system/vfiod.service.d
    printf '[Service]\nEnvironment=VFIOD_TEST_CRASH_AT=%s\nRestart=no\n' "$1" >/run/systemd/system/vfiod.service.d/crash.conf
    systemctl daemon-reload; systemctl restart vfiod.service
}
heal() {
    rm -f /run/systemd/system/vfiod.service.d/crash.conf
    systemctl daemon-reload; systemctl reset-failed vfiod.service 2>/dev/null; systemctl restart vfiod.service; sleep 2
}
for point in bind-after-override bind-after-unbind bind-after-probe; do
    crash "$point"
    call Bind '{"devices":["0000:00:03.0"]}' >/dev/null 2>&1
    check_eq "crash at $point: vfiod died" failed "$(systemctl is-active vfiod.service)"
    heal
    check_eq "crash at $point: 00:03.0 back on e1000e after restart" e1000e "$(driver 0000:00:03.0)"
    check_eq "crash at $point: no lease left" 0 "$(call ListLeases | jq '.leases | length')"
done
for point in restore-after-unbind restore-after-bind; do
    heal
    call Bind '{"devices":["0000:00:03.0"]}' >/dev/null
    crash "$point"   # the restart re-adopts the bind lease
    check_eq "crash at $point: the bind lease survived a restart" 1 "$(call ListLeases | jq '.leases | length')"
    call Unbind '{"devices":["0000:00:03.0"]}' >/dev/null 2>&1
    check_eq "crash at $point: vfiod died" failed "$(systemctl is-active vfiod.service)"
    heal
    check_eq "crash at $point: 00:03.0 back on e1000e after restart" e1000e "$(driver 0000:00:03.0)"
    check_eq "crash at $point: no lease left" 0 "$(call ListLeases | jq '.leases | length')"
done
# An acquire lease whose holder is alive is re-adopted after a crash.
vfiodctl acquire 0000:00:03.0 --exec -- sleep 8 >/dev/null 2>&1 &
holder=$!
sleep 3
systemctl kill -s KILL vfiod.service; sleep 2; systemctl start vfiod.service
check_eq "kill -9 with a live holder: lease re-adopted" 1 "$(call ListLeases | jq '.leases | length')"
wait $holder
sleep 2
check_eq "... and ended with its holder" 0 "$(call ListLeases | jq '.leases | length')"
check_eq "... device back" e1000e "$(driver 0000:00:03.0)"

# --- malformed requests: clear errors, host unchanged
for req in '{"devices":["0000:00:03"]}' '{"devices":["../../../sys"]}' '{"devices":["0000:00:09.0"]}' \
           '{"devices":"0000:00:03.0"}' '{"devices":[]}' '{"devices":[1]}' '{"device":["0000:00:03.0"]}' \
           '{"devices":["0000:00:03.0"],"minApertureBits":"x"}' '{"devices":["0000:00:03.0"],"iovaRanges":[{"start":"1"}]}'; do
    err=$(call Acquire "$req" 2>&1)
    check "Acquire $req -> error" grep -qE "InvalidParameter|NoSuchDevice|io.vfiod" <<<"$err"
done
# Too big for a command line: send it raw.
err=$(python3 - "$BROKER" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(json.dumps({"method": "io.vfiod.Broker.Acquire", "parameters": {"devices": ["0000:00:03.0"] * 100000}}).encode() + b"\0")
buf = b""
while not buf.endswith(b"\0"):
    d = s.recv(65536)
    if not d: break
    buf += d
print(buf.rstrip(b"\0").decode())
PY
)
echo "$err"
check "100000 devices -> InvalidParameter" grep -q "InvalidParameter" <<<"$err"
python3 - "$BROKER" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.send(b'{"method":"io.vfiod.Broker.Acquire","parameters":{"devices":["0000:00:03.0"]}}\0')
s.close()   # gone before the reply
PY
sleep 3
check_eq "a client that disconnects mid-Acquire leaves no lease" 0 "$(call ListLeases | jq '.leases | length')"
check_eq "... and the host as it was" "$before" "$(host_state)"
check "vfiod still running" systemctl is-active --quiet vfiod.service
finish
