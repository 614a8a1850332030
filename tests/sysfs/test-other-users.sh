#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What a caller learns about other users: a device another uid leases reads "leased", with no
# lease id, uid or pid (ListDevices, ListGroups, Explain, Busy); GetInfo gives non-root callers
# a policy summary without paths, rule names or load errors. Root and the lease's own uid see all.
#   test-other-users.sh VFIOD FIXTURE-DIR VFIODCTL
set -u
vfiod=$1 fixture=$2 vfiodctl=$3
here=$(cd "$(dirname "$0")" && pwd)

if [ -z "${VFIOD_OTHERS_INNER:-}" ]; then
    exec env VFIOD_OTHERS_INNER=1 unshare --mount --propagation unchanged -- \
        bash -c 'mount --make-rprivate /run && mount -t tmpfs tmpfs /run &&
                 exec "$(dirname "$0")/run-fixture" "$2" -- bash "$0" "$1" "$2" "$3"' \
        "$here/test-other-users.sh" "$vfiod" "$fixture" "$vfiodctl"
fi

. "$here/../lib/checks.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 0755 "$tmp"
mkdir -m 0755 "$tmp/policy.d"
cat >"$tmp/policy.d/50-secret-name.json" <<'J'
{ "rules": [ { "name": "secret-rule-name", "match": { "address": "0000:00:03.0" }, "allow": { "users": ["nobody"] } } ] }
J
export VFIOD_POLICY_PATH=$tmp/policy.d
mkdir -p /run/vfiod
lease=0123456789abcdef0123456789abcdef
# A bind lease of uid 4242 on the e1000e (group 1), re-adopted at start.
echo "{\"version\":1,\"leases\":[{\"id\":\"$lease\",\"kind\":\"bind\",\"phase\":\"active\",\"uid\":4242,\"pid\":0,\"pidStartTime\":0,\"since\":0,\"restoreOnRelease\":true,\"devices\":[\"0000:00:03.0\"],\"groups\":[1],\"moved\":[]}]}" \
    >/run/vfiod/state.json

"$vfiod" 2>"$tmp/log" &
pid=$!
for _ in $(seq 400); do [ -S "$BROKER" ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
check "daemon up" test -S "$BROKER"

as() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --clear-groups varlinkctl call "$BROKER" "$@" 2>&1; }
dev='.devices[] | select(.address=="0000:00:03.0")'

out=$(as 65534 io.vfiod.Broker.ListDevices '{}')
check_eq "other user: state leased" leased "$(jq -r "$dev | .state" <<<"$out")"
check_eq "other user: no heldBy" null "$(jq -r "$dev | .heldBy" <<<"$out")"
check "other user: the lease id appears nowhere in ListDevices" bash -c '! grep -q "$1" <<<"$2"' _ "$lease" "$out"
out=$(as 65534 io.vfiod.Broker.ListGroups '{}')
check "other user: nor in ListGroups" bash -c '! grep -q "$1" <<<"$2"' _ "$lease" "$out"
out=$(as 65534 io.vfiod.Broker.Explain '{"device":"0000:00:03.0"}')
check "other user: Explain says leased by another user" grep -q "leased by another user" <<<"$out"
check "other user: nor in Explain" bash -c '! grep -q "$1\|uid 4242" <<<"$2"' _ "$lease" "$out"
out=$(as 65534 io.vfiod.Broker.Acquire '{"devices":["0000:00:03.0"]}')
check "other user: Acquire is Busy" grep -q "io.vfiod.Broker.Busy" <<<"$out"
check "other user: Busy names no lease, uid or pid" bash -c '! grep -qE "$1|leaseId|\"uid\"|\"pid\"" <<<"$2"' _ "$lease" "$out"

out=$(as 4242 io.vfiod.Broker.ListDevices '{}')
check_eq "the lease's own uid sees its lease" "lease $lease of uid 4242" "$(jq -r "$dev | .heldBy" <<<"$out")"
out=$(varlinkctl call "$BROKER" io.vfiod.Broker.ListDevices '{}')
check_eq "root sees the lease" "lease $lease of uid 4242" "$(jq -r "$dev | .heldBy" <<<"$out")"
out=$(varlinkctl call "$BROKER" io.vfiod.Broker.Acquire '{"devices":["0000:00:03.0"]}' 2>&1)
check "root: Busy names the lease" grep -q "$lease" <<<"$out"

# GetInfo: a summary for others, all of it for root.
echo '{ "rules": [ { "name": "x", "dney": true } ] }' >"$tmp/policy.d/60-typo.json"
varlinkctl call "$BROKER" io.vfiod.Broker.Reload '{}' >/dev/null 2>&1
out=$(as 65534 io.vfiod.Broker.GetInfo '{}')
check_jq "other user: policy counts" '.policy.fileCount == 1 and .policy.ruleCount == 1' "$out"
check_jq "other user: no files, rules or error text" \
    '.policy.files == [] and .policy.rules == [] and (.policy | has("lastError") | not) and .policy.lastReloadFailed == true' "$out"
check "other user: no path or rule name anywhere" bash -c '! grep -qE "secret-rule-name|policy.d|60-typo" <<<"$1"' _ "$out"
if setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$vfiodctl" 2>/dev/null; then
    out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$vfiodctl" info 2>&1)
    check "vfiodctl info for others: counts, not paths" grep -qE "files +1 \(paths shown to root\)" <<<"$out"
    check "vfiodctl info for others: the failed reload, not its text" grep -q "failed (details shown to root)" <<<"$out"
    out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$vfiodctl" acquire 0000:00:03.0 2>&1)
    check "vfiodctl: Busy without whose" grep -q "0000:00:03.0 is busy: leased by another user" <<<"$out"
else
    ok "# SKIP the build directory is not reachable for uid 65534"
fi
out=$(varlinkctl call "$BROKER" io.vfiod.Broker.GetInfo '{}')
check_jq "root: files, rules and the error" \
    '(.policy.files[0].path | endswith("50-secret-name.json")) and .policy.rules == ["secret-rule-name"] and (.policy.lastError | test("60-typo.json"))' "$out"

kill -TERM "$pid"
wait "$pid"
check_eq "exit status after SIGTERM" 0 "$?"
if grep -qE "Sanitizer|runtime error" "$tmp/log"; then cat "$tmp/log"; not_ok "sanitizer reports"; else ok "no sanitizer reports"; fi
finish
