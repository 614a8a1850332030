# SPDX-License-Identifier: LGPL-2.1-or-later
# In the guest, on the real kernel: leases and the processes that hold their fds. A lease never
# gives a device back while its VFIO fds are open somewhere (it stays "orphaned" and ends when
# they close); a zombie holder does not keep a lease; Bind is a right of its own; workers are
# bounded per step, and do not outlive the daemon. The standard topology (see tests/vm/boot).
set -u
. ./checks.sh
B=io.vfiod.Broker
call() { varlinkctl call "$BROKER" "$B.$1" "${2:-{\}}"; }
driver() { local l; if l=$(readlink "/sys/bus/pci/devices/$1/driver"); then basename "$l"; else echo none; fi; }
host_state() { for d in /sys/bus/pci/devices/*; do echo "$(basename "$d") $(driver "$(basename "$d")")"; done; }
as_user() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --init-groups "$@"; }
# The daemon answers a cheap call at once, whatever else is going on.
answers() { timeout 15 varlinkctl call "$BROKER" "$B.GetInfo" '{}' >/dev/null; }
no_dstate() { ! ps -eo stat=,pid=,comm= | grep '^D'; }
leases() { timeout 15 varlinkctl call "$BROKER" "$B.ListLeases" '{}'; }
n_leases() { leases | jq '.leases | length'; }
lease_for() { leases | jq -e ".leases[] | select(.devices[0]==\"$1\")"; }
lease_in_state() { leases | jq -e ".leases[] | select(.id==\"$1\" and .state==\"$2\")"; }
no_lease() { [ "$(n_leases)" = 0 ]; }
gone() { ! kill -0 "$1" 2>/dev/null; }
no_sleep_of() { ! pgrep -u "$1" -x sleep; }
# wait_for SECONDS CMD...: until CMD succeeds, at most SECONDS.
wait_for() { local n=$1; shift; for _ in $(seq $((n * 2))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done; return 1; }
is_driver() { [ "$(driver "$1")" = "$2" ]; }
main_pid() { systemctl show -P MainPID vfiod.service; }
with_env() {   # with_env VAR=VALUE...: restart vfiod with a test environment (none: without)
    mkdir -p /run/systemd/system/vfiod.service.d
    if [ $# -gt 0 ]; then
        printf '[Service]\nEnvironment=%s\n' "$*" >/run/systemd/system/vfiod.service.d/test.conf
    else
        rm -f /run/systemd/system/vfiod.service.d/test.conf
    fi
    systemctl daemon-reload; systemctl reset-failed vfiod.service 2>/dev/null; systemctl restart vfiod.service
}

useradd --system --no-create-home --user-group dpdk
mkdir -p /etc/vfiod/policy.d
cat >/etc/vfiod/policy.d/50-test.json <<'JSON'
{
  "rules": [
    { "name": "dpdk-nic", "match": { "address": "0000:01:00.0" }, "allow": { "users": ["dpdk"] } }
  ]
}
JSON
systemctl start vfiod.socket
before=$(host_state)

# --- the measured scenario: the command backgrounds a child that keeps the fds and exits at once
as_user dpdk vfiodctl acquire 0000:01:00.0 --exec -- sh -c 'sleep 25 & exit 0' >/tmp/bg.out 2>&1 &
ctl=$!
check "the lease appears" wait_for 20 lease_for 0000:01:00.0
sleep 3
check "GetInfo answers while the background child holds the fds" answers
check_eq "the device stays on vfio-pci while its fds are open" vfio-pci "$(driver 0000:01:00.0)"
check "ListLeases still shows the lease, with its state" jq -e '.state' <<<"$(lease_for 0000:01:00.0)"
leases | jq -c '.leases[] | {id, state, pid}'
check "no process in D state" no_dstate
sleep 10
check "GetInfo answers 13 s later" answers
check "still no process in D state" no_dstate
check "the background sleep ends" wait_for 30 no_sleep_of dpdk
check "vfiodctl is done soon after" wait_for 15 gone "$ctl"
wait "$ctl"
check_eq "vfiodctl exit status is the command's" 0 "$?"
cat /tmp/bg.out
check "no 'did not finish rebinding'" bash -c '! grep -q "did not finish" /tmp/bg.out'
check "back on e1000e after the background child ended" wait_for 30 is_driver 0000:01:00.0 e1000e
check_eq "no lease left" 0 "$(n_leases)"
check "GetInfo answers afterwards" answers
check "no process in D state afterwards" no_dstate

# --- the holder is killed while its child keeps the fds: the lease is orphaned, not ended
as_user dpdk vfiodctl acquire 0000:01:00.0 --exec -- sleep 300 >/dev/null 2>&1 &
ctl=$!
check "lease for the second holder" wait_for 20 lease_for 0000:01:00.0
id=$(leases | jq -r '.leases[0].id')
# $! is the shell of as_user, not vfiodctl: kill vfiodctl itself.
kill -9 "$(pgrep -u dpdk -x vfiodctl)"; wait "$ctl" 2>/dev/null
check "the lease turns orphaned" wait_for 10 lease_in_state "$id" orphaned
leases | jq -c '.leases[]'
check "GetInfo answers while orphaned" answers
check "no process in D state while orphaned" no_dstate
check_eq "still on vfio-pci while orphaned" vfio-pci "$(driver 0000:01:00.0)"
check_eq "ListDevices: still leased" leased "$(call ListDevices | jq -r '.devices[] | select(.address=="0000:01:00.0") | .state')"
err=$(call Acquire '{"devices":["0000:01:00.0"]}' 2>&1)
check "someone else's Acquire -> Busy" grep -q "$B.Busy" <<<"$err"
err=$(as_user dpdk varlinkctl call "$BROKER" "$B.Release" "{\"leaseId\":\"$id\"}" 2>&1)
echo "$err"
check "Release of an orphaned lease says why it cannot end yet" grep -q "still open" <<<"$err"
check "no process in D state after that Release" no_dstate
check_eq "still on vfio-pci after that Release" vfio-pci "$(driver 0000:01:00.0)"
pkill -u dpdk -x sleep
check "given back once the last fd closed" wait_for 30 is_driver 0000:01:00.0 e1000e
check_eq "... and the lease is gone" 0 "$(n_leases)"

# --- a holder that exits during the bind and stays a zombie until its parent reaps it
n_end=$(journalctl -o json MESSAGE_ID=cfa61d8d517f4e42994a85288dc1159a | grep -c 0000:01:00.0)
as_user dpdk python3 - "$BROKER" <<'PY'
import json, os, socket, sys, time
pid = os.fork()
if pid == 0:
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
    s.sendall(json.dumps({"method": "io.vfiod.Broker.Acquire", "parameters": {"devices": ["0000:01:00.0"]}}).encode() + b"\0")
    time.sleep(0.3)     # the daemon has taken the call and is binding
    os._exit(0)         # without reading the reply
time.sleep(8)           # a zombie all this time
os.waitpid(pid, 0)
PY
check "zombie holder: the lease ended" wait_for 20 no_lease
check "zombie holder: back on e1000e" wait_for 20 is_driver 0000:01:00.0 e1000e
check "zombie holder: the lease had started and was ended" \
    test "$(journalctl -o json MESSAGE_ID=cfa61d8d517f4e42994a85288dc1159a | grep -c 0000:01:00.0)" -gt "$n_end"

# --- the process that connected is gone (reaped) when another sends Acquire on its connection:
# no pidfd for the connection, so no guessing by pid number: refused
out=$(as_user dpdk python3 - "$BROKER" <<'PY'
import json, os, socket, sys, time
a = os.fork()
if a == 0:
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
    if os.fork() == 0:          # B inherits the connection
        time.sleep(1)           # A is reaped by then
        s.sendall(json.dumps({"method": "io.vfiod.Broker.Acquire", "parameters": {"devices": ["0000:01:00.0"]}}).encode() + b"\0")
        buf = b""
        while not buf.endswith(b"\0"):
            d = s.recv(65536)
            if not d: break
            buf += d
        print(buf.rstrip(b"\0").decode(), flush=True)
        os._exit(0)
    os._exit(0)                 # A
os.waitpid(a, 0)
time.sleep(3)
PY
)
echo "$out"
# Refused before anything is bound: whichever of the identity checks sees it first (the caller's
# user namespace, which needs the process, or the pidfd the lease would hang on) says so.
check "Acquire on a connection whose process is gone -> refused" grep -qE "$B.NotSupported|$B.Denied" <<<"$out"
check "... saying why" grep -qE "pidfd|stays alive until the reply" <<<"$out"
check_eq "... no lease" 0 "$(n_leases)"
check_eq "... host untouched" "$before" "$(host_state)"

# --- Bind is a right of its own
err=$(as_user dpdk varlinkctl call "$BROKER" "$B.Bind" '{"devices":["0000:01:00.0"]}' 2>&1)
echo "$err"
check "dpdk may Acquire but not Bind -> Denied" grep -q "$B.Denied" <<<"$err"
check "... with bind-not-authorized" grep -q "bind-not-authorized" <<<"$err"
check_eq "... host untouched" "$before" "$(host_state)"
cat >/etc/vfiod/policy.d/40-bind.json <<'JSON'
{ "rules": [ { "name": "dpdk-bind", "match": { "address": "0000:00:03.0" }, "allow": { "users": ["dpdk"], "bind": true } } ] }
JSON
check "a rule with allow.bind loads" vfiodctl reload
check "with allow.bind, dpdk may Bind" as_user dpdk varlinkctl call "$BROKER" "$B.Bind" '{"devices":["0000:00:03.0"]}'
check_eq "... on vfio-pci" vfio-pci "$(driver 0000:00:03.0)"
check "... and Unbind it" as_user dpdk varlinkctl call "$BROKER" "$B.Unbind" '{"devices":["0000:00:03.0"]}'
check_eq "... back on e1000e" e1000e "$(driver 0000:00:03.0)"
echo '{ "rules": [ { "name": "x", "match": { "address": "0000:00:03.0" }, "allow": { "users": ["dpdk"], "bind": "yes" } } ] }' \
    >/etc/vfiod/policy.d/40-bind.json
check "allow.bind must be a boolean" bash -c '! vfiodctl reload'
rm /etc/vfiod/policy.d/40-bind.json; vfiodctl reload >/dev/null
check "root may still Bind" call Bind '{"devices":["0000:01:00.0"]}'
check_eq "... on vfio-pci" vfio-pci "$(driver 0000:01:00.0)"
call Unbind '{"devices":["0000:01:00.0"]}' >/dev/null
check_eq "... and Unbind" e1000e "$(driver 0000:01:00.0)"

# --- a restore of several slow devices: each step is bounded, not the whole
all='["0000:00:03.0","0000:01:00.0","0000:02:01.0","0000:02:02.0"]'
with_env VFIOD_TEST_STALL_AT=restore-after-bind:5
check "Bind four devices" call Bind "{\"devices\":$all}"
t0=$(date +%s)
out=$(call Unbind "{\"devices\":$all}" 2>&1)
echo "$out"
check "Unbind of four 5 s restores succeeds (more than the old 15 s for the whole worker)" jq -e '.devices | length == 4' <<<"$out"
echo "# four restores took $(( $(date +%s) - t0 )) s"
check_eq "00:03.0 back" e1000e "$(driver 0000:00:03.0)"
check_eq "01:00.0 back" e1000e "$(driver 0000:01:00.0)"
check_eq "02:01.0 back" e1000 "$(driver 0000:02:01.0)"
check_eq "02:02.0 back" e1000 "$(driver 0000:02:02.0)"
check_eq "no lease left after the slow restore" 0 "$(n_leases)"
check "the progress was logged" bash -c "journalctl -u vfiod -b | grep -q '4 of 4 device'"

# --- workers do not outlive the daemon
with_env VFIOD_TEST_STALL_AT=bind-after-unbind:120
call Bind '{"devices":["0000:00:03.0"]}' >/dev/null 2>&1 &
check "a worker is running" wait_for 20 pgrep -P "$(main_pid)"
worker=$(pgrep -P "$(main_pid)" | head -n1)
check_eq "the worker blocks no signals" 0000000000000000 "$(awk '/^SigBlk/ {print $2}' "/proc/$worker/status")"
t0=$(date +%s)
systemctl stop vfiod.service
elapsed=$(( $(date +%s) - t0 ))
echo "# systemctl stop took $elapsed s"
check "systemctl stop during a bind returns in a bounded time" test "$elapsed" -lt 30
check "... and leaves no worker behind" gone "$worker"
wait
systemctl start vfiod.service
# The start first gives back what the stopped bind left (its lease was "binding"); then bind again.
check "the interrupted bind is undone at the next start" wait_for 60 no_lease
call Bind '{"devices":["0000:00:03.0"]}' >/dev/null 2>&1 &
check "a worker again" wait_for 20 pgrep -P "$(main_pid)"
worker=$(pgrep -P "$(main_pid)" | head -n1)
kill -9 "$(main_pid)"
check "the worker dies with the daemon (kill -9)" wait_for 5 gone "$worker"
wait
with_env
check "after the restart 00:03.0 is back on e1000e" wait_for 20 is_driver 0000:00:03.0 e1000e
check_eq "no lease left at the end" 0 "$(n_leases)"
check_eq "the host as it was" "$before" "$(host_state)"
check "no process in D state at the end" no_dstate
check "vfiod running" systemctl is-active --quiet vfiod.service
finish
