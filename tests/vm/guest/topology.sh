# SPDX-License-Identifier: LGPL-2.1-or-later
# In the guest, on the real kernel: verdicts on the standard topology, the policy's aperture
# check against the real unit's width, live updates from uevents, Monitor, Reload.
#   topology.sh WIDTH
set -u
width=$1
. ./checks.sh
B=io.vfiod.Broker
call() { varlinkctl call "$BROKER" "$B.$1" "${2:-{\}}"; }

systemctl start vfiod.socket
out=$(call ListGroups)
bridge_group=$(basename "$(readlink /sys/bus/pci/devices/0000:02:01.0/iommu_group)")
check_eq "the bridge group holds the bridge and both e1000" '["0000:00:05.0","0000:02:01.0","0000:02:02.0"]' \
    "$(jq -c ".groups[] | select(.id==$bridge_group) | .members" <<<"$out")"
check_eq "bridge group not viable while an e1000 is on e1000" false \
    "$(jq ".groups[] | select(.id==$bridge_group) | .viable" <<<"$out")"
out=$(call Explain '{"device":"0000:02:01.0"}')
check_eq "one e1000 alone: partial-group and group-not-viable" "group-not-viable partial-group" \
    "$(jq -r '[.checks[] | select(.passed|not) | .code] | unique | join(" ")' <<<"$out")"
check_eq "the root disk is protected" '["root-storage"]' \
    "$(call ListDevices | jq -c '.devices[] | select(.address=="0000:00:06.0") | .verdict.failed')"
check_eq "real interrupt remapping seen" true "$(call GetInfo | jq '.switches.interruptRemapping')"

# A policy wanting 40 bits: the 39-bit unit fails it, the 48-bit one passes.
mkdir -p /etc/vfiod/policy.d
echo '{"platform":{"minApertureBits":40}}' >/etc/vfiod/policy.d/50-aperture.json
check_jq "Reload as root: the shipped defaults and this file" \
    '[.files[].path] == ["/usr/share/vfiod/policy.d/00-defaults.json", "/etc/vfiod/policy.d/50-aperture.json"]' "$(call Reload)"
codes=$(call Explain '{"device":"0000:00:03.0"}' | jq -r '[.checks[] | select(.passed|not) | .code] | join(" ")')
if [ "$width" -lt 40 ]; then
    check_eq "$width-bit IOMMU vs 40-bit policy" "aperture-too-small" "$codes"
else
    check_eq "$width-bit IOMMU vs 40-bit policy" "" "$codes"
fi

# Acquire is refused the same way, before anything is bound.
err=$(call Acquire '{"devices":["0000:00:03.0"],"minApertureBits":50}' 2>&1)
check "Acquire asking 50 bits -> Denied aperture-too-small" grep -q "aperture-too-small" <<<"$err"
if [ "$width" -lt 40 ]; then
    err=$(call Acquire '{"devices":["0000:00:03.0"]}' 2>&1)
    check "Acquire on a $width-bit IOMMU vs a 40-bit policy -> aperture-too-small" grep -q "aperture-too-small" <<<"$err"
fi
check_eq "host driver untouched" e1000e "$(basename "$(readlink /sys/bus/pci/devices/0000:00:03.0/driver)")"

# A typo in a policy file: rejected with file:line:column, the previous policy stays.
printf '{\n  "platform": { "minApertureBit": 40 }\n}\n' >/etc/vfiod/policy.d/60-typo.json
err=$(call Reload 2>&1)
check "typo -> PolicyInvalid" grep -q "io.vfiod.Broker.PolicyInvalid" <<<"$err"
check "the error names file, line and column" grep -q "60-typo.json:2:" <<<"$err"
check_eq "the previous policy stays" 40 "$(call GetInfo | jq '.policy.minApertureBits')"
rm /etc/vfiod/policy.d/60-typo.json
check "Reload is root only" bash -c "! setpriv --reuid=65534 --regid=65534 --clear-groups varlinkctl call $BROKER $B.Reload '{}' 2>/dev/null"

# A driver change behind vfiod's back shows up within a second, and Monitor reports it.
varlinkctl call --more "$BROKER" $B.Monitor '{}' >/tmp/monitor.json 2>&1 &
mon=$!
sleep 1
echo 0000:00:03.0 >/sys/bus/pci/drivers/e1000e/unbind
sleep 1
check_eq "unbound behind vfiod's back: seen within 1 s" unbound \
    "$(call ListDevices | jq -r '.devices[] | select(.address=="0000:00:03.0") | .state')"
echo 0000:00:03.0 >/sys/bus/pci/drivers/e1000e/bind
sleep 1
check_eq "bound again: seen within 1 s" e1000e \
    "$(call ListDevices | jq -r '.devices[] | select(.address=="0000:00:03.0") | .driver')"
kill $mon 2>/dev/null; wait $mon 2>/dev/null
check "Monitor said ready" grep -q '"ready"' /tmp/monitor.json
check "Monitor reported the unbind" grep -q '"event" *: *"unbound".*0000:00:03.0\|"unbound"' /tmp/monitor.json
check "Monitor reported the bind" grep -q '"bound"' /tmp/monitor.json
cat /tmp/monitor.json | head -20

# Unprivileged callers: no rule allows them (back to the strict defaults first).
rm /etc/vfiod/policy.d/50-aperture.json
call Reload >/dev/null
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups varlinkctl call "$BROKER" $B.Explain '{"device":"0000:00:03.0"}')
check_eq "nobody: not-authorized" "not-authorized" "$(jq -r '[.checks[] | select(.passed|not) | .code] | join(" ")' <<<"$out")"
check "nobody may not explain for root" \
    bash -c "! setpriv --reuid=65534 --regid=65534 --clear-groups varlinkctl call $BROKER $B.Explain '{\"device\":\"0000:00:03.0\",\"uid\":0}' 2>/dev/null"
finish
