# SPDX-License-Identifier: LGPL-2.1-or-later
# In the guest, on the real system bus (dbus-daemon) and the real kernel: io.vfiod.Broker1.
# Activation by a bus call, introspection, an unprivileged Acquire over D-Bus whose fds map DMA,
# parity with varlink for every query, refusals and bad input, signals, and vfiod without a bus.
# The standard topology (see tests/vm/boot): 0000:01:00.0 e1000e alone in its group; 02:01.0 and
# 02:02.0 e1000 behind the bridge 00:05.0, one group.
set -u
. ./checks.sh
B=io.vfiod.Broker
N=io.vfiod.Broker1
P=/io/vfiod/Broker1
T=/usr/libexec/vfiod-tests
vcall() { varlinkctl call "$BROKER" "$B.$1" "${2:-{\}}"; }
bcall() { busctl --json=short call "$N" "$P" "$N" "$@"; }
driver() { basename "$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null)" 2>/dev/null || echo none; }
host_state() { for d in /sys/bus/pci/devices/*; do echo "$(basename "$d") $(driver "$(basename "$d")")"; done; }
as_user() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --init-groups "$@"; }
# pycall METHOD PYTHON-ARGS: call through dbus-python (any user may run it); prints "OK" and the
# reply, or the error name and then its message. The arguments are a Python expression of this
# script's own making.
cat >/tmp/pycall.py <<'PY'
import json, sys
import dbus
o = dbus.Interface(dbus.SystemBus().get_object("io.vfiod.Broker1", "/io/vfiod/Broker1"), "io.vfiod.Broker1")
args = eval(sys.argv[2]) if len(sys.argv) > 2 else ()
try:
    r = getattr(o, sys.argv[1])(*args)
    print("OK")
    print(json.dumps(r, default=str))
except dbus.exceptions.DBusException as e:
    print(e.get_dbus_name())
    print(e.get_dbus_message())
PY
chmod 644 /tmp/pycall.py
pycall() { python3 /tmp/pycall.py "$@"; }

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
check "a system bus runs (stock Debian server)" busctl status --no-pager org.freedesktop.DBus
before=$(host_state)

# --- activation: nothing of vfiod runs; the first bus call starts it
check "vfiod.service not running before the call" bash -c '! systemctl is-active -q vfiod.service'
info=$(bcall GetInfo)
check "a bus call activated vfiod.service" systemctl is-active -q vfiod.service
check "... and its socket came with it (varlink too)" systemctl is-active -q vfiod.socket
check_eq "GetInfo says it serves D-Bus" "$N" "$(jq -r '.data[0]' <<<"$info" | jq -r .frontends.dbus)"
check_eq "... and varlink" "$BROKER" "$(vcall GetInfo | jq -r .frontends.varlink)"

# --- introspection: every method and signal
intro=$(busctl introspect --no-pager "$N" "$P" "$N")
echo "$intro"
for m in GetInfo ListDevices ListGroups Explain Bind Unbind Acquire Release ListLeases Reload; do
    check "introspect: method $m" grep -qE "^\.$m +method" <<<"$intro"
done
for s in DeviceAdded DeviceRemoved DeviceBound DeviceUnbound DeviceChanged LeaseStarted LeaseEnded Denied PolicyReloaded Rescanned; do
    check "introspect: signal $s" grep -qE "^\.$s +signal" <<<"$intro"
done
check "introspect: Acquire returns fds" grep -qE '^\.Acquire +method +asua\(tt\) +sa\(haia\(tt\)txu\)a\(ih\)a\(sh\)' <<<"$intro"

# --- parity: the same answers on both front-ends, for root and for an unprivileged user
for u in root dpdk; do
    for q in GetInfo ListDevices ListGroups; do
        vl=$(as_user "$u" varlinkctl call "$BROKER" "$B.$q" '{}' | jq -S .)
        bus=$(as_user "$u" busctl --json=short call "$N" "$P" "$N" "$q" | jq -r '.data[0]' | jq -S .)
        check_eq "parity $q as $u" "$vl" "$bus"
    done
    vl=$(as_user "$u" varlinkctl call "$BROKER" "$B.Explain" '{"devices":["0000:01:00.0","0000:02:01.0"]}' | jq -S .)
    bus=$(as_user "$u" busctl --json=short call -- "$N" "$P" "$N" Explain asx 2 0000:01:00.0 0000:02:01.0 -1 | jq -r '.data[0]' | jq -S .)
    check_eq "parity Explain as $u" "$vl" "$bus"
done
check_jq "ListDevices over the bus has the standard topology" \
    '[.devices[] | select(.address == "0000:01:00.0" or .address == "0000:02:01.0")] | length == 2' \
    "$(bcall ListDevices | jq -r '.data[0]')"
check_jq "Explain over the bus: dpdk may have 01:00.0" '.allowed == true' \
    "$(as_user dpdk busctl --json=short call -- "$N" "$P" "$N" Explain asx 1 0000:01:00.0 -1 | jq -r '.data[0]')"
check_jq "Explain over the bus: mallory may not" '.allowed == false' \
    "$(as_user mallory busctl --json=short call -- "$N" "$P" "$N" Explain asx 1 0000:01:00.0 -1 | jq -r '.data[0]')"

# --- signals: an unprivileged listener hears the lease and the driver changes
as_user dpdk timeout 60 dbus-monitor --system "type='signal',sender='$N'" >/tmp/signals.txt 2>&1 &
mon=$!
sleep 1

# --- an unprivileged user allowed by policy acquires over D-Bus; the fds work; the device comes back
# The holder runs in the background until /tmp/go appears, so that others can ask meanwhile.
rm -f /tmp/holder.pid /tmp/go /tmp/asked
as_user dpdk "$T/bus-acquire.py" 0000:01:00.0 -- sh -c '
    echo $$ >/tmp/holder.pid
    varlinkctl call '"$BROKER"' '"$B"'.ListLeases "{}" >/tmp/leases-vl.json
    busctl --json=short call '"$N $P $N"' ListLeases >/tmp/leases-bus.json
    '"$T"'/bus-acquire.py 0000:01:00.0 -- true 2>/tmp/second.err
    touch /tmp/asked
    for i in $(seq 100); do [ -e /tmp/go ] && break; sleep 0.1; done
    exec '"$T"'/vfio-dma-check' >/tmp/holder.out 2>&1 &
holder=$!
for i in $(seq 300); do [ -e /tmp/asked ] && break; sleep 0.1; done
as_user mallory "$T/bus-acquire.py" 0000:01:00.0 -- true 2>/tmp/mallory-busy.err
touch /tmp/go
wait "$holder"
out=$(cat /tmp/holder.out)
echo "$out"
line=$(grep '^{' <<<"$out" | tail -n1)
check_eq "dpdk mapped 2 MiB through the container fd from D-Bus" 2097152 "$(jq -r '.mapped' <<<"$line")"
check_eq "config space read through the device fd: vendor" 8086 "$(jq -r '.vendor' <<<"$line")"
check_eq "as uid dpdk" "$(id -u dpdk)" "$(jq -r '.uid' <<<"$line")"
check_jq "the lease was in varlink's ListLeases while it lasted" \
    "(.leases | length) == 1 and .leases[0].kind == \"acquire\" and .leases[0].uid == $(id -u dpdk) and .leases[0].pid == $(cat /tmp/holder.pid)" \
    "$(cat /tmp/leases-vl.json)"
check_eq "... and in the bus's ListLeases, the same lease" "$(jq -r '.leases[0].id' /tmp/leases-vl.json)" \
    "$(jq -r '.data[0][0][0]' /tmp/leases-bus.json)"
check_eq "a second caller got Busy" "$B.Busy" "$(head -n1 /tmp/second.err)"
check "... naming the lease (its own uid may see it)" grep -q "$(jq -r '.leases[0].id' /tmp/leases-vl.json)" /tmp/second.err
check_eq "another user got Busy too" "$B.Busy" "$(head -n1 /tmp/mallory-busy.err)"
check "... without the lease's id (not theirs to see)" bash -c "! grep -q $(jq -r '.leases[0].id' /tmp/leases-vl.json) /tmp/mallory-busy.err"
sleep 2
check_eq "back on e1000e after the holder exited" e1000e "$(driver 0000:01:00.0)"
check_eq "no lease left" 0 "$(vcall ListLeases | jq '.leases | length')"
sleep 1
kill "$mon" 2>/dev/null; wait "$mon" 2>/dev/null
cat /tmp/signals.txt | grep -A3 "member=" | head -40
check "signal LeaseStarted heard by an unprivileged listener" grep -q "member=LeaseStarted" /tmp/signals.txt
check "signal LeaseEnded" grep -q "member=LeaseEnded" /tmp/signals.txt
check "signal DeviceBound (vfio-pci)" grep -q "member=DeviceBound" /tmp/signals.txt
check "signal DeviceUnbound" grep -q "member=DeviceUnbound" /tmp/signals.txt
check "signal Denied (mallory's try)" grep -q "member=Denied" /tmp/signals.txt
check_eq "host exactly as before" "$before" "$(host_state)"

# --- refusals: the right error names, the reason codes, the host unchanged
r=$(as_user mallory python3 /tmp/pycall.py Acquire '(["0000:01:00.0"], 0, [])')
echo "$r"
check_eq "mallory: Denied" "$B.Denied" "$(head -n1 <<<"$r")"
check "... with the not-authorized code and its sentence" grep -qE '^not-authorized: ' <<<"$r"
r=$(pycall Bind '(["0000:02:01.0"],)')
echo "$r"
check_eq "one e1000 of the bridge group: Denied" "$B.Denied" "$(head -n1 <<<"$r")"
check "... partial-group" grep -qE '^partial-group: ' <<<"$r"
r=$(as_user dpdk python3 /tmp/pycall.py Reload)
check_eq "unprivileged Reload on the bus: AccessDenied" org.freedesktop.DBus.Error.AccessDenied "$(head -n1 <<<"$r")"
r=$(as_user dpdk varlinkctl call "$BROKER" "$B.Reload" '{}' 2>&1)
check "... and on varlink: PermissionDenied, the same refusal" grep -q PermissionDenied <<<"$r"
r=$(pycall Reload)
check_eq "root's Reload works" OK "$(head -n1 <<<"$r")"
check_eq "host unchanged after the refusals" "$before" "$(host_state)"

# --- bad input
r=$(pycall Acquire '(["0000:0f:00.0"], 0, [])')
check_eq "unknown device: NoSuchDevice" "$B.NoSuchDevice" "$(head -n1 <<<"$r")"
r=$(pycall Bind '(["zz:01:00.0"],)')
check_eq "a malformed PCI address: InvalidArgs" org.freedesktop.DBus.Error.InvalidArgs "$(head -n1 <<<"$r")"
r=$(pycall Bind '(["0000:%02x:00.0" % (i % 256) for i in range(10000)],)')
check_eq "a 10,000-element array: InvalidArgs" org.freedesktop.DBus.Error.InvalidArgs "$(head -n1 <<<"$r")"
r=$(pycall Release '("not-a-lease",)')
check_eq "a malformed lease id: InvalidArgs" org.freedesktop.DBus.Error.InvalidArgs "$(head -n1 <<<"$r")"
r=$(pycall Release '("0123456789abcdef0123456789abcdef",)')
check_eq "an unknown lease: NoSuchLease" "$B.NoSuchLease" "$(head -n1 <<<"$r")"
r=$(busctl call "$N" "$P" "$N" Bind s 0000:01:00.0 2>&1)
check "wrong signature: refused by sd-bus" grep -qi "invalid arg\|expecting" <<<"$r"
r=$(busctl call "$N" "$P" "$N" Acquire as 1 0000:01:00.0 2>&1)
check "Acquire without its other arguments: refused" grep -qi "invalid arg\|expecting" <<<"$r"
# A caller that sends Acquire and hangs up before the reply: the lease is its process's; it ends
# with it, and the device comes back.
as_user dpdk "$T/bus-acquire.py" --hangup 0000:01:00.0
sleep 3
check_eq "hung-up caller: device back on e1000e" e1000e "$(driver 0000:01:00.0)"
check_eq "... no lease left" 0 "$(vcall ListLeases | jq '.leases | length')"
check "vfiod still answers on the bus" bcall GetInfo
check_eq "host unchanged after the bad input" "$before" "$(host_state)"

# --- the bus's error map is usable by clients: sd-bus turns the names into errnos
r=$(busctl call "$N" "$P" "$N" Release s 0123456789abcdef0123456789abcdef 2>&1)
check "busctl shows the broker's message" grep -q "no lease 0123456789abcdef0123456789abcdef" <<<"$r"

# --- no system bus: vfiod starts anyway, serves varlink, and says why it is not on the bus
systemctl stop dbus.socket dbus.service
systemctl restart vfiod.service
check "vfiod runs without a bus" systemctl is-active -q vfiod.service
info=$(vcall GetInfo)
check_jq "GetInfo says D-Bus is unavailable" '.frontends.dbus == null and (.frontends.dbusUnavailable | length) > 0' "$info"
check_jq "varlink still answers ListDevices" '.devices | length > 3' "$(vcall ListDevices)"
journalctl -b -u vfiod --no-pager | grep -i "bus" | tail -n 3

finish
