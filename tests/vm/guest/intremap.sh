# SPDX-License-Identifier: LGPL-2.1-or-later
# In the guest booted with intremap=nosid: the kernel remaps interrupts (IR- chips are in use) but
# without source-ID checks, so any device may use any remapping entry. That is no isolation, and
# vfiod must say so rather than take the IR- chips at their word (F19).
set -u
. ./checks.sh
B=io.vfiod.Broker
call() { varlinkctl call "$BROKER" "$B.$1" "${2:-{\}}"; }
driver() { basename "$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null)" 2>/dev/null || echo none; }
host_state() { for d in /sys/bus/pci/devices/*; do echo "$(basename "$d") $(driver "$(basename "$d")")"; done; }

check "booted with intremap=nosid" grep -qw "intremap=nosid" /proc/cmdline
check "the kernel still uses remapping irq chips" grep -q " IR-" /proc/interrupts
systemctl start vfiod.socket
out=$(call GetInfo)
check_eq "GetInfo reports the switch" true "$(jq '.switches.intremapNoSid' <<<"$out")"
check_eq "... and what the irq chips say" remapping "$(jq -r '.switches.msiIsolation' <<<"$out")"
out=$(call Explain '{"device":"0000:00:03.0"}')
check_eq "Explain: no-interrupt-remapping" no-interrupt-remapping \
    "$(jq -r '[.checks[] | select(.passed|not) | .code] | join(" ")' <<<"$out")"
check "... naming intremap=nosid" grep -q "intremap=nosid" <<<"$(jq -r '.checks[] | select(.passed|not) | .sentence' <<<"$out")"
before=$(host_state)
err=$(call Bind '{"devices":["0000:00:03.0"]}' 2>&1)
check "Bind -> Denied" grep -q "$B.Denied" <<<"$err"
check_eq "... the host untouched" "$before" "$(host_state)"
err=$(vfiodctl acquire 0000:01:00.0 --exec -- true 2>&1)
check "Acquire -> refused with no-interrupt-remapping" grep -q "no-interrupt-remapping" <<<"$err"
check_eq "... the host untouched" "$before" "$(host_state)"
check "the denial is in the journal" bash -c "journalctl -o json MESSAGE_ID=c45757b8c4734020b47e0bb91e99abb1 | grep -q no-interrupt-remapping"

# Relaxing the requirement is the policy's call, and GetInfo says so.
mkdir -p /etc/vfiod/policy.d
echo '{"platform":{"requireInterruptRemapping":false}}' >/etc/vfiod/policy.d/50-nosid.json
call Reload >/dev/null
check_eq "relaxed by the policy: allowed" "" \
    "$(call Explain '{"device":"0000:00:03.0"}' | jq -r '[.checks[] | select(.passed|not) | .code] | join(" ")')"
finish
