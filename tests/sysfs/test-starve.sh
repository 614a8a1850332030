#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The daemon cannot be starved (F5) and does not re-read the host per call (F13), on the recorded
# fixture's devices, quicker than the vm test starve.sh that checks the same on the real kernel:
# a daemon started by hand in a private /run and network namespace with the fd soft limit at
# systemd's default of 1024; 16 uids holding as many connections as they can; accept() failing
# with EMFILE; the daemon's read() calls over 200 ListDevices (with the real /proc); an address
# or route added is seen by the next Explain.
#   test-starve.sh VFIOD FIXTURE-DIR
set -u
vfiod=$1 fixture=$2
here=$(cd "$(dirname "$0")" && pwd)

if [ -z "${STARVE_TEST_INNER:-}" ]; then
    exec env STARVE_TEST_INNER=1 unshare --mount --net --propagation unchanged -- \
        bash -c 'mount --make-rprivate /run && mount -t tmpfs tmpfs /run && exec bash "$0" "$@"' \
        "$here/test-starve.sh" "$vfiod" "$fixture"
fi

. "$here/../lib/checks.sh"
ip link set lo up
tmp=$(mktemp -d)
trap 'kill $daemon 2>/dev/null; rm -rf "$tmp"' EXIT
# The raw varlink client is the vm test's (the VM gets nothing but the guest script).
sed -n "/^cat >\/tmp\/starve.py <<'PY'$/,/^PY$/p" "$here/../vm/guest/starve.sh" | sed '1d;$d' >"$tmp/starve.py"
S="python3 $tmp/starve.py"
answers() { timeout "$1" varlinkctl call "unix:$BROKER" io.vfiod.Broker.GetInfo '{}' >/dev/null 2>&1; }
failed() {
    timeout 30 varlinkctl call "unix:$BROKER" io.vfiod.Broker.Explain "{\"device\":\"$1\"}" |
        jq -r '[.checks[] | select(.passed|not) | .code] | unique | join(" ")'
}

# start [ENV...]: the daemon on the fixture, soft fd limit 1024 as systemd gives; $daemon is its pid.
start() {
    rm -rf /run/vfiod
    (ulimit -Sn 1024; exec "$here/run-fixture" "$fixture" -- env "$@" "$vfiod") 2>>"$tmp/log" &
    for _ in $(seq 200); do [ -S "$BROKER" ] && break; sleep 0.1; done
    # Ours is the one in this mount namespace (other sysfs tests run theirs in parallel).
    daemon=$(for p in $(pgrep -f "^$vfiod\$"); do
                 [ "$(readlink /proc/$p/ns/mnt)" = "$(readlink /proc/self/ns/mnt)" ] && echo "$p"; done | tail -n 1)
    answers 30
}
stop() { kill "$daemon"; wait 2>/dev/null; }
# On a failure, the daemon's own words (sanitizer reports included) go with it.
trap 'kill $daemon 2>/dev/null; [ "$_checks_failed" -gt 0 ] && tail -n 40 "$tmp/log"; rm -rf "$tmp"' EXIT

# --- F5: 16 uids x 80 connections, a denied Acquire on each (each connection also caches a pidfd)
check "daemon up" start
check "the fd soft limit is raised" test "$(awk '/Max open files/ {print $4}' /proc/$daemon/limits)" -gt 1024
out=$($S flood "$daemon" 20000 16 80 Acquire '{"devices":["0000:00:03.0"]}' 60)
echo "# flood: $out"
check_jq "the per-uid cap holds: at most 16 answered per uid" '.answered_max_per_uid == 16' "$out"
check_jq "refused connections are closed at once" '.pending == 0 and .closed == 1024' "$out"
check_jq "the daemon's fds stay bounded" '.daemon_fds_held < 600' "$out"
check "a new client is answered afterwards" answers 10

# --- F5: accept() fails with EMFILE; the socket must not stay off.
# Not under ASan: there libsanitizer's open_memstream interceptor CHECK-fails ("h.created()") inside
# libsystemd's sd_json_variant_format during this flood and aborts the daemon (seen 2026-11-28); the
# plain build, which tools/dev test also runs, checks it.
if ldd "$vfiod" | grep -q libasan; then
    echo "# skipped under ASan: the EMFILE flood (libsanitizer's open_memstream interceptor aborts; the plain build runs it)"
else
    prlimit --pid "$daemon" --nofile=48:48
    out=$($S flood "$daemon" 21000 8 16 GetInfo '{}' 15)
    echo "# flood at 48 fds: $out"
    check "a new client is answered after accept() failed with EMFILE" answers 10
    check "the failure was logged" grep -q "Failed to accept a connection: Too many open files" "$tmp/log"
fi
stop

# --- F13: with the real /proc (notifications), no re-read per call ...
check "daemon up, real /proc" start -u VFIOD_TEST_PROC
$S calls 5 ListDevices
r0=$(awk '/^syscr/ {print $2}' /proc/$daemon/io)
$S calls 200 ListDevices
r1=$(awk '/^syscr/ {print $2}' /proc/$daemon/io)
echo "# 200 ListDevices: $((r1 - r0)) read() calls in the daemon"
# What remains per call is the caller's name and groups (NSS: /etc/passwd, /etc/group).
check "at most 5 read() per call: the facts are not re-read per call" test $((r1 - r0)) -le 1000

# ... yet an address or a route is seen by the very next decision (enp0s3 is 00:03.0's name).
before=$(failed 0000:00:03.0)
routed=$(echo "$before routed-interface" | xargs -n1 | sort -u | xargs)
ip link add enp0s3 type veth peer name peer0
ip link set peer0 up
ip link set enp0s3 up
ip addr add 192.0.2.1/24 dev enp0s3
check_eq "an address added: routed-interface at once" "$routed" "$(failed 0000:00:03.0)"
ip addr del 192.0.2.1/24 dev enp0s3
check_eq "the address removed: free at once" "$before" "$(failed 0000:00:03.0)"
ip route add 198.51.100.0/24 dev enp0s3
check_eq "a route added: routed-interface at once" "$routed" "$(failed 0000:00:03.0)"
stop
finish
