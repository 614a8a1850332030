# SPDX-License-Identifier: LGPL-2.1-or-later
# In the guest, under systemd: callers in a user namespace (whose uids and groups the namespace's
# creator chose) are refused Bind and Acquire with the reason user-namespace, and the host stays
# as it was; queries still answer. The same user from the host namespace gets on. Policy that
# others could write is refused on reload.
set -u
. ./checks.sh
B=io.vfiod.Broker
call() { varlinkctl call "$BROKER" "$B.$1" "${2:-{\}}"; }
driver() { basename "$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null)" 2>/dev/null || echo none; }
host_state() { for d in /sys/bus/pci/devices/*; do echo "$(basename "$d") $(driver "$(basename "$d")")"; done; }
as_user() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --init-groups "$@"; }

useradd --system --no-create-home --user-group dpdk
mkdir -p /etc/vfiod/policy.d
cat >/etc/vfiod/policy.d/50-test.json <<'JSON'
{ "rules": [ { "name": "dpdk-nic", "match": { "address": "0000:01:00.0" }, "allow": { "users": ["dpdk"] } } ] }
JSON
systemctl start vfiod.socket
before=$(host_state)

for who in root dpdk; do
    if [ $who = root ]; then run=(); else run=(as_user dpdk); fi
    for m in Acquire Bind; do
        err=$("${run[@]}" unshare --user --map-root-user varlinkctl call "$BROKER" "$B.$m" '{"devices":["0000:01:00.0"]}' 2>&1)
        check "$who in a user namespace: $m is Denied" grep -q "$B.Denied" <<<"$err"
        check "$who in a user namespace: $m names user-namespace" grep -q '"user-namespace"' <<<"$err"
    done
    out=$("${run[@]}" unshare --user --map-root-user varlinkctl call "$BROKER" "$B.ListDevices" '{}' 2>&1)
    check_jq "$who in a user namespace: ListDevices still answers" '.devices | length > 0' "$out"
done
check_eq "the host is as it was after the refusals" "$before" "$(host_state)"
check_eq "0000:01:00.0 still on e1000e" e1000e "$(driver 0000:01:00.0)"

# The same user from the host's namespace is judged by policy (and allowed).
out=$(as_user dpdk varlinkctl call "$BROKER" "$B.Explain" '{"device":"0000:01:00.0"}' 2>&1)
check_jq "dpdk from the host namespace: allowed" '.allowed == true' "$out"

# A production-like unit sets no test hook (this image is a test build, which reports them).
check_jq "GetInfo: no test hook set" '.testHooks == []' "$(call GetInfo)"

# Policy others could write is refused, naming it; the previous policy stays.
chmod 0777 /etc/vfiod/policy.d
err=$(call Reload 2>&1)
check "reload: a world-writable /etc/vfiod/policy.d is refused" grep -q "/etc/vfiod/policy.d: writable by its group or others (mode 0777)" <<<"$err"
chmod 0755 /etc/vfiod/policy.d
out=$(as_user dpdk varlinkctl call "$BROKER" "$B.Explain" '{"device":"0000:01:00.0"}' 2>&1)
check_jq "the previous policy still allows dpdk" '.allowed == true' "$out"
check "reload after the fix" call Reload

# --- the Acquire reply fails after an fd was pushed (ENOMEM, injected): no fd may reach the caller
# with an error; the connection is closed, the lease ended and the device given back.
mkdir -p /run/systemd/system/vfiod.service.d
printf '[Service]\nEnvironment=LD_PRELOAD=/usr/libexec/vfiod-tests/libvfiod-fail-push-fd.so VFIOD_SHIM_FAIL_PUSH_FD=2\n' \
    >/run/systemd/system/vfiod.service.d/fail-push.conf
systemctl daemon-reload
systemctl stop vfiod.service
before=$(host_state)
out=$(as_user dpdk python3 - "$BROKER" <<'PY'
import json, socket, subprocess, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b'{"method":"io.vfiod.Broker.Acquire","parameters":{"devices":["0000:01:00.0"]}}\0')
buf, fds = b"", []
while not buf.endswith(b"\0"):
    d, f, _, _ = socket.recv_fds(s, 65536, 16)
    fds += f
    if not d:
        break
    buf += d
time.sleep(3)   # still alive: the lease must end because of the failed reply, not our exit
leases = json.loads(subprocess.run(["varlinkctl", "call", sys.argv[1], "io.vfiod.Broker.ListLeases", "{}"],
                                   capture_output=True, text=True).stdout or "{}").get("leases")
print(json.dumps({"reply": buf.rstrip(b"\0").decode(errors="replace"), "fds": len(fds), "leases": leases}))
PY
)
echo "$out"
check_jq "push failure: no fd reached the caller" '.fds == 0' "$out"
check_jq "push failure: no reply, the connection was closed" '.reply == ""' "$out"
check_jq "push failure: the lease was ended" '.leases == []' "$out"
for _ in $(seq 50); do [ "$(driver 0000:01:00.0)" = e1000e ] && break; sleep 0.2; done
check_eq "push failure: the host is as it was" "$before" "$(host_state)"
check "push failure: vfiod still running" systemctl is-active --quiet vfiod.service
check "push failure: the daemon said why" bash -c 'journalctl -u vfiod.service | grep -q "Failed to send the Acquire reply of lease"'
rm /run/systemd/system/vfiod.service.d/fail-push.conf
systemctl daemon-reload
finish
