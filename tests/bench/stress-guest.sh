#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# In the guest (run by tests/bench/stress through tools/dev vm): the load and starvation figures.
# Prints one table; asserts no timings; exits non-zero only if the daemon stopped answering.
#
#   stress-guest.sh (--client-b64 BASE64 | --client PATH) [stress-client.py options]
set -euo pipefail

client= client_b64= args=()
while [ $# -gt 0 ]; do
    case $1 in
        --client-b64) client_b64=$2; shift 2 ;;
        --client) client=$2; shift 2 ;;
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
python3 "$client" --header "$header" "${args[@]}" || rc=$?
systemctl is-active --quiet vfiod.service || { echo "stress: vfiod.service is not running at the end" >&2; rc=1; }
echo
echo "journal: $(journalctl -u vfiod.service -b --no-pager -o cat | grep -c 'refusing more') notices of refused connections, \
$(journalctl -u vfiod.service -b --no-pager -o cat | grep -c 'leaves what it is sent unread') slow readers disconnected, \
$(journalctl -u vfiod.service -b --no-pager -o cat | grep -c 'Failed to accept') accept failures logged"
[ "$rc" -eq 0 ] || journalctl -u vfiod.service --no-pager -n 30 -o cat >&2 || true
exit "$rc"
