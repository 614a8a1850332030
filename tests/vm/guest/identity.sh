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
modprobe vfio-pci
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
finish
