#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What vfiod makes of running libvirt domains it did not start (libvirt's in-process test driver,
# through the VFIOD_TEST_LIBVIRT_URI test hook): every member of a used device's group is held by
# the domain; a hostdev that no lease holds (a hotplug, or a domain started while vfiod was not
# asked) is judged as a Bind of it for that domain would be, and a refusal shows in ListDevices as
# domainFailedChecks (root only, like heldByDomain); one that vfiod bound (a lease holds its
# group) is not judged again.
#   test-libvirt-domains.sh VFIOD FIXTURE-DIR
set -u
vfiod=$1 fixture=$2
here=$(cd "$(dirname "$0")" && pwd)

if [ -z "${VFIOD_DOMAINS_INNER:-}" ]; then
    exec env VFIOD_DOMAINS_INNER=1 unshare --mount --propagation unchanged -- \
        bash -c 'mount --make-rprivate /run && mount -t tmpfs tmpfs /run &&
                 exec "$(dirname "$0")/run-fixture" "$2" -- bash "$0" "$1" "$2"' \
        "$here/test-libvirt-domains.sh" "$vfiod" "$fixture"
fi

. "$here/../lib/checks.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 0755 "$tmp"
mkdir -m 0755 "$tmp/policy.d"
# 01:00.0 (alone in group 2) is denied to everyone; the lease below bound it all the same.
cat >"$tmp/policy.d/50-deny.json" <<'J'
{ "rules": [ { "name": "no-0100", "match": { "address": "0000:01:00.0" }, "deny": true } ] }
J
export VFIOD_POLICY_PATH=$tmp/policy.d
hostdev() { echo "<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='$1' slot='$2' function='0x0'/></source></hostdev>"; }
domain() { # NAME UUID HOSTDEV...
    local name=$1 uuid=$2; shift 2
    echo "<domain type='test'><name>$name</name><uuid>$uuid</uuid><memory unit='MiB'>64</memory><os><type>hvm</type></os><devices>$*</devices></domain>"
}
# half: one e1000 of the shared group 02:01.0/02:02.0 (with the bridge 00:05.0);
# whole: the e1000e alone on the root bus; bound: 01:00.0, which vfiod's lease holds.
{
    echo "<node>"
    domain half 11111111-2222-4333-8444-555555555555 "$(hostdev 0x02 0x01)"
    domain whole 22222222-3333-4444-8555-666666666666 "$(hostdev 0x00 0x03)"
    domain bound 33333333-4444-4555-8666-777777777777 "$(hostdev 0x01 0x00)"
    echo "</node>"
} >"$tmp/node.xml"
export VFIOD_TEST_LIBVIRT_URI="test://$tmp/node.xml"
mkdir -p /run/vfiod
lease=0123456789abcdef0123456789abcdef
echo "{\"version\":1,\"leases\":[{\"id\":\"$lease\",\"kind\":\"bind\",\"phase\":\"active\",\"uid\":0,\"pid\":0,\"pidStartTime\":0,\"since\":0,\"restoreOnRelease\":true,\"devices\":[\"0000:01:00.0\"],\"groups\":[2],\"moved\":[],\"owner\":{\"kind\":\"libvirt-domain\",\"name\":\"bound\",\"uuid\":\"33333333-4444-4555-8666-777777777777\"}}]}" \
    >/run/vfiod/state.json

"$vfiod" 2>"$tmp/log" &
pid=$!
for _ in $(seq 400); do [ -S "$BROKER" ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
check "daemon up" test -S "$BROKER"
list() { varlinkctl call "$BROKER" io.vfiod.Broker.ListDevices '{}'; }
dev() { jq -c ".devices[] | select(.address == \"$1\") | {heldByDomain, domainFailedChecks}" <<<"$2"; }
for _ in $(seq 100); do
    [ "$(list | jq -r '.devices[] | select(.address == "0000:00:03.0") | .heldByDomain')" = whole ] && break; sleep 0.1
done
out=$(list)
check_eq "the lease on 01:00.0 was re-adopted" "$lease" "$(varlinkctl call "$BROKER" io.vfiod.Broker.ListLeases '{}' | jq -r '.leases[0].id')"
check_eq "whole (00:03.0, its whole group): held, nothing failed" '{"heldByDomain":"whole","domainFailedChecks":null}' "$(dev 0000:00:03.0 "$out")"
check_eq "half uses 02:01.0: held, and a Bind for it would fail partial-group and group-not-viable" \
    '{"heldByDomain":"half","domainFailedChecks":["partial-group","group-not-viable"]}' "$(dev 0000:02:01.0 "$out")"
check_eq "... 02:02.0, in the same group, is held by half too, with no checks of its own" \
    '{"heldByDomain":"half","domainFailedChecks":null}' "$(dev 0000:02:02.0 "$out")"
check_eq "bound (01:00.0, denied by a rule, but bound by vfiod's lease): held, not judged again" \
    '{"heldByDomain":"bound","domainFailedChecks":null}' "$(dev 0000:01:00.0 "$out")"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups varlinkctl call "$BROKER" io.vfiod.Broker.ListDevices '{}')
check_eq "another user sees neither the domain nor the failed checks" '{"heldByDomain":null,"domainFailedChecks":null}' \
    "$(dev 0000:02:01.0 "$out")"
check_jq "Explain of 02:02.0 for root: held-by-domain names half" \
    '[.checks[] | select(.code == "held-by-domain" and .passed == false and (.sentence | contains("half")))] | length == 1' \
    "$(varlinkctl call "$BROKER" io.vfiod.Broker.Explain '{"device":"0000:02:02.0"}')"

kill -TERM "$pid"
wait "$pid"
check_eq "exit status after SIGTERM" 0 "$?"
finish
