#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# In the guest (run by tests/bench/stress through tools/dev vm): the load and starvation figures,
# then kill -9 at every injected crash point during bind, acquire and restore.
# Prints tables; asserts no timings; exits non-zero only if the daemon stopped answering, a device
# was stranded or a lease lost.
#
#   stress-guest.sh (--client-b64 BASE64 | --client PATH) [--crash-rounds N] [--crash-only]
#                   [stress-client.py options]
set -euo pipefail

client= client_b64= args=() crash_rounds=100 crash_only=0
while [ $# -gt 0 ]; do
    case $1 in
        --client-b64) client_b64=$2; shift 2 ;;
        --client) client=$2; shift 2 ;;
        --crash-rounds) crash_rounds=$2; shift 2 ;;
        --crash-only) crash_only=1; shift ;;
        *) args+=("$1"); shift ;;
    esac
done
fail() { echo "stress: $*" >&2; exit 1; }

if [ -n "$client_b64" ]; then
    mkdir -p /run/vfiod-bench
    client=/run/vfiod-bench/stress-client.py
    base64 -d <<<"$client_b64" >"$client" || fail "cannot decode the client"
fi
[ -n "$client" ] && [ -f "$client" ] || fail "no client (--client-b64 or --client)"

systemctl start vfiod.socket
varlinkctl call /run/vfiod/io.vfiod.Broker io.vfiod.Broker.GetInfo '{}' >/tmp/stress-info.json \
    || fail "vfiod does not answer GetInfo"
header="vfiod stress figures ($(jq -r .version /tmp/stress-info.json), kernel $(uname -r), QEMU TCG, \
$(nproc) vCPUs, $(awk '/MemTotal/ {printf "%d MiB", $2/1024}' /proc/meminfo))"

rc=0
if [ "$crash_only" = 0 ]; then
python3 "$client" --header "$header" "${args[@]}" || rc=$?
systemctl is-active --quiet vfiod.service || { echo "stress: vfiod.service is not running at the end" >&2; rc=1; }
echo
echo "journal: $(journalctl -u vfiod.service -b --no-pager -o cat | grep -c 'refusing more') notices of refused connections, \
$(journalctl -u vfiod.service -b --no-pager -o cat | grep -c 'leaves what it is sent unread') slow readers disconnected, \
$(journalctl -u vfiod.service -b --no-pager -o cat | grep -c 'Failed to accept') accept failures logged"
[ "$rc" -eq 0 ] || journalctl -u vfiod.service --no-pager -n 30 -o cat >&2 || true
else
echo "$header"
fi

# --- kill -9 at every crash point ($VFIOD_TEST_CRASH_AT, src/binder/binder.h): the daemon and its
# worker die there; systemd restarts it (Restart=on-failure) and the start reconciles the journal.
# After each round: a device off its original driver that no live lease holds is stranded; the
# Bind lease on B, held across every round, missing from ListLeases is a lost lease.
[ "$crash_rounds" -gt 0 ] || exit "$rc"
# From here every outcome is counted, none ends the run.
set +e
A=0000:00:03.0 B=0000:01:00.0
BR=io.vfiod.Broker
call() { timeout 60 varlinkctl call "$BROKER" "$BR.$1" "${2:-{\}}"; }
driver() { basename "$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null)" 2>/dev/null || echo none; }
host_state() { for d in /sys/bus/pci/devices/*; do echo "$(basename "$d") $(driver "$(basename "$d")")"; done; }
mainpid() { systemctl show -P MainPID vfiod.service; }
BROKER=/run/vfiod/io.vfiod.Broker

# Every crash is restarted, however many in a row (a crash during the start's own restore included).
mkdir -p /run/systemd/system/vfiod.service.d
printf '[Unit]\nStartLimitIntervalSec=0\n' >/run/systemd/system/vfiod.service.d/bench.conf
systemctl daemon-reload
systemctl unset-environment VFIOD_TEST_CRASH_AT
systemctl restart vfiod.service
call GetInfo >/dev/null || { echo "stress: vfiod does not answer before the crash rounds" >&2; exit 1; }
base=$(host_state)
[ "$(driver $A)" != vfio-pci ] && [ "$(driver $B)" != vfio-pci ] || { echo "stress: A or B on vfio-pci at the start" >&2; exit 1; }
blease=$(call Bind "{\"devices\":[\"$B\"]}" | jq -r .leaseId)
[ "$(driver $B)" = vfio-pci ] || { echo "stress: Bind of $B failed" >&2; exit 1; }
jq -e --arg id "$blease" '.leases[] | select(.id == $id)' /run/vfiod/state.json >/dev/null 2>&1 ||
    grep -q "$blease" /run/vfiod/state.json || { echo "stress: lease $blease is not in the journal" >&2; exit 1; }

# settle: wait (up to 120 s) for the daemon to answer with A back and no lease but B's.
settle() {
    local i
    for i in $(seq 240); do
        if systemctl is-active --quiet vfiod.service && [ "$(driver $A)" = "$(awk -v a=$A '$1 == a {print $2}' <<<"$base")" ] &&
           [ "$(call ListLeases 2>/dev/null | jq -r '[.leases[].id] | join(" ")')" = "$blease" ]; then
            return 0
        fi
        sleep 0.5
    done
    return 1
}
# died OLDPID: wait (up to 60 s) for the daemon that had OLDPID to be gone.
died() {
    local i
    for i in $(seq 120); do
        [ "$(mainpid)" != "$1" ] && return 0
        sleep 0.5
    done
    return 1
}
# count: stranded devices and lost leases now; adds to the current row.
count() {
    local leases held dev drv
    leases=$(call ListLeases 2>/dev/null || echo '{"leases":[]}')
    held=$(jq -r '.leases[].devices[]' <<<"$leases")
    while read -r dev drv; do
        [ "$drv" = "$(driver "$dev")" ] && continue
        grep -qx "$dev" <<<"$held" && continue
        stranded=$((stranded + 1)); echo "stress: round $round at $point ($op): $dev on $(driver "$dev"), was $drv, no lease holds it" >&2
    done <<<"$(grep -v "^$B " <<<"$base")"
    if ! jq -e --arg id "$blease" '.leases[] | select(.id == $id)' <<<"$leases" >/dev/null || [ "$(driver $B)" != vfio-pci ]; then
        lost=$((lost + 1)); echo "stress: round $round at $point ($op): the Bind lease $blease of $B is gone" >&2
    fi
    extra=$((extra + $(jq --arg id "$blease" '[.leases[] | select(.id != $id)] | length' <<<"$leases")))
}
# op: what runs into the crash point.
run_op() {
    case $op in
        bind) call Bind "{\"devices\":[\"$A\"]}" >/dev/null 2>&1 || true ;;
        acquire) timeout 120 vfiodctl acquire $A --exec -- true >/dev/null 2>&1 || true ;;
        unbind) call Unbind "{\"devices\":[\"$A\"]}" >/dev/null 2>&1 || true ;;
        release) timeout 120 vfiodctl acquire $A --exec -- true >/dev/null 2>&1 || true ;;
    esac
}

echo
echo "kill -9 at injected crash points, $crash_rounds rounds each; B ($B) held by Bind lease $blease throughout"
printf '%-22s %-8s %6s %8s %9s %6s %10s %11s\n' point op rounds crashed stranded lost "leases left" "s/round"
total_stranded=0 total_lost=0 total_extra=0 t_all=$(date +%s)
for point in bind-after-override bind-after-unbind bind-after-probe restore-after-unbind restore-after-bind; do
    case $point in bind-*) ops="bind acquire" ;; *) ops="unbind release" ;; esac
    for op in $ops; do
        stranded=0 lost=0 extra=0 crashed=0 unsettled=0 t0=$(date +%s)
        for round in $(seq "$crash_rounds"); do
            if [ "$op" = unbind ]; then
                # A on vfio-pci under a Bind lease, made by a daemon without the crash point.
                call Bind "{\"devices\":[\"$A\"]}" >/dev/null 2>&1 || true
            fi
            # A bind point stays set: the restarted daemon meets it again only in the next round.
            if [ "$round" = 1 ] || [ "${point%%-*}" = restore ]; then
                systemctl set-environment VFIOD_TEST_CRASH_AT=$point
                systemctl restart vfiod.service
                call GetInfo >/dev/null 2>&1 || true
            fi
            pid=$(mainpid)
            run_op
            if died "$pid"; then crashed=$((crashed + 1)); fi
            # A restore point must not be met again by the start's own restore (it would, each time).
            [ "${point%%-*}" = restore ] && systemctl unset-environment VFIOD_TEST_CRASH_AT
            settle || unsettled=$((unsettled + 1))
            count
        done
        systemctl unset-environment VFIOD_TEST_CRASH_AT
        t=$(( $(date +%s) - t0 ))
        printf '%-22s %-8s %6d %8d %9d %6d %10d %11s\n' "$point" "$op" "$crash_rounds" "$crashed" "$stranded" "$lost" "$extra" \
            "$(awk -v t=$t -v n=$crash_rounds 'BEGIN {printf "%.1f", t / n}')"
        [ "$unsettled" -eq 0 ] || echo "  $unsettled round(s) did not settle within 120 s"
        total_stranded=$((total_stranded + stranded)) total_lost=$((total_lost + lost)) total_extra=$((total_extra + extra))
    done
done
systemctl restart vfiod.service
call Unbind "{\"devices\":[\"$B\"]}" >/dev/null 2>&1 || true
sleep 2
echo "crash rounds: $total_stranded stranded, $total_lost lost, $total_extra leases left over (120 s after a crash) in $(( $(date +%s) - t_all )) s; B back on $(driver $B); host as at the start: \
$([ "$(host_state)" = "$base" ] && echo yes || echo NO)"
# A lease still there 120 s after its operation was killed holds a device for no one: fail too.
[ "$total_stranded" -eq 0 ] && [ "$total_lost" -eq 0 ] && [ "$total_extra" -eq 0 ] || rc=1
call GetInfo >/dev/null || { echo "stress: vfiod does not answer after the crash rounds" >&2; rc=1; }
exit "$rc"
