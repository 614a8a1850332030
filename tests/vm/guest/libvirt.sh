# SPDX-License-Identifier: LGPL-2.1-or-later
# In the guest: libvirt (qemu:///system, the daemon a stock Debian 13 host runs, confined by
# AppArmor) starts a nested TCG QEMU with a PCI hostdev, through vfiod's hook (installed by the
# payload, as the package installs it). The domain's device goes to vfio-pci through vfiod in one
# lease naming the domain (managed='yes' and 'no'); vfiod refuses it to anyone else while the
# domain runs, also after a restart; virsh destroy gives it back; a hostdev hotplugged into a
# running domain is held by it, and one a Bind would refuse (half a group) is journalled and shown
# (domainFailedChecks); a domain listing half of a shared group, or a device under a deny rule,
# does not start, with the reason code in virsh's error, and the host does not change. The
# standard topology (see tests/vm/boot): 0000:00:03.0 and 0000:01:00.0 e1000e alone in their
# groups; 02:01.0 and 02:02.0 e1000 behind the bridge 00:05.0, one group.
set -u
. ./checks.sh
B=io.vfiod.Broker
vcall() { varlinkctl call "$BROKER" "$B.$1" "${2:-{\}}"; }
driver() { basename "$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null)" 2>/dev/null || echo none; }
host_state() { for d in /sys/bus/pci/devices/*; do echo "$(basename "$d") $(driver "$(basename "$d")")"; done; }
UUID1=6a3c8e0c-1b7d-4f5e-9c2a-0123456789ab
UUID2=0f1e2d3c-4b5a-4968-8776-655443322110
UUID3=3c2b1a09-8f7e-4d6c-9b5a-493827160544
UUID4=9e8d7c6b-5a49-4382-a716-05f4e3d2c1b0
# wait_for SHELL-CONDITION [SECONDS]
wait_for() { for _ in $(seq 1 "${2:-30}"); do eval "$1" && return 0; sleep 1; done; return 1; }
holder() { vcall ListDevices | jq -r ".devices[] | select(.address == \"$1\") | .heldByDomain // \"none\""; }
failed_checks() { vcall ListDevices | jq -c ".devices[] | select(.address == \"$1\") | .domainFailedChecks"; }

# A tiny domain: no disk, no graphics, TCG; it only has to start (paused) with its hostdevs.
domain_xml() { # NAME UUID HOSTDEV-XML...
    local name=$1 uuid=$2; shift 2
    cat <<EOF
<domain type='qemu'>
  <name>$name</name>
  <uuid>$uuid</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    $*
  </devices>
</domain>
EOF
}
hostdev() { # BUS SLOT MANAGED
    echo "<hostdev mode='subsystem' type='pci' managed='$3'><source><address domain='0x0000' bus='$1' slot='$2' function='0x0'/></source></hostdev>"
}

echo "# libvirt units:"; systemctl list-units --all --no-pager --no-legend 'libvirt*' 'virt*' | sed 's/^/#   /'
check "the hook is installed as an executable" test -x /etc/libvirt/hooks/qemu.d/50-vfiod
check "... and runs vfiodctl" grep -q 'exec /usr/bin/vfiodctl libvirt-hook "$@"' /etc/libvirt/hooks/qemu.d/50-vfiod

# --- the image is a stock Debian 13 host: libvirt's TCP and TLS sockets are off (libvirtd would
# look for certificates and exit), AppArmor confines libvirtd; libvirtd starts at boot (or on its
# socket) by itself.
check_eq "libvirtd-tcp.socket is not enabled" disabled "$(systemctl is-enabled libvirtd-tcp.socket 2>&1)"
check_eq "libvirtd-tls.socket is not enabled" disabled "$(systemctl is-enabled libvirtd-tls.socket 2>&1)"
check_eq "AppArmor is enabled in the kernel" Y "$(cat /sys/module/apparmor/parameters/enabled 2>&1)"
aa=$(aa-status --json 2>&1)
echo "# aa-status: $(aa-status 2>&1 | head -n 4 | tr '\n' ' ')"
check_jq "aa-status: libvirtd's profile is loaded in enforce mode" '.profiles.libvirtd == "enforce"' "$aa"
jq -e .profiles <<<"$aa" >/dev/null 2>&1 || echo "# aa-status --json said: ${aa:0:400}"
systemctl start vfiod.socket
check "virsh reaches qemu:///system" virsh -c qemu:///system version
echo "# $(systemctl is-active libvirtd.service virtqemud.service | tr '\n' ' ')"
check_eq "libvirtd runs confined by its profile" "libvirtd (enforce)" \
    "$(cat "/proc/$(pidof libvirtd)/attr/apparmor/current" 2>&1)"

before=$(host_state)
check_eq "01:00.0 starts on e1000e" e1000e "$(driver 0000:01:00.0)"

# --- a domain with a managed hostdev starts: vfiod bound the group, in a lease naming the domain
domain_xml vm1 "$UUID1" "$(hostdev 0x01 0x00 yes)" >/tmp/vm1.xml
check "virsh define vm1" virsh define /tmp/vm1.xml
if virsh start --paused vm1 2>/tmp/start1.err; then ok "virsh start vm1 (managed='yes' 0000:01:00.0)"; else
    not_ok "virsh start vm1: $(cat /tmp/start1.err)"; journalctl -u libvirtd -u virtqemud --no-pager | tail -20; fi
check_eq "vm1 is running (paused)" paused "$(virsh domstate vm1 2>/dev/null)"
check_eq "0000:01:00.0 is on vfio-pci" vfio-pci "$(driver 0000:01:00.0)"
check_eq "vm1's QEMU runs confined by its own AppArmor profile (virt-aa-helper's, with /dev/vfio/N)" \
    "libvirt-$UUID1 (enforce)" "$(cat "/proc/$(pgrep -f 'guest=vm1' | head -n1)/attr/apparmor/current" 2>&1)"
leases=$(vcall ListLeases)
echo "$leases"
check_jq "one bind lease holds 0000:01:00.0" '[.leases[] | select(.kind == "bind" and (.devices | index("0000:01:00.0")))] | length == 1' "$leases"
check_jq "... and names the domain (kind, name, uuid)" \
    ".leases[0].owner == {\"kind\":\"libvirt-domain\",\"name\":\"vm1\",\"uuid\":\"$UUID1\"}" "$leases"
check_jq "the state journal keeps the owner" ".leases[0].owner.name == \"vm1\"" "$(cat /run/vfiod/state.json)"
vfiodctl leases | sed 's/^/# /'
check "vfiodctl leases shows it with its owner" bash -c "vfiodctl leases | grep 0000:01:00.0 | grep -q \"libvirt-domain vm1\""
check "the lease is journalled with the domain" bash -c \
    "journalctl -o json --no-pager VFIOD_OWNER_NAME=vm1 | grep -q '\"VFIOD_OWNER_UUID\":\"$UUID1\"'"

# --- the daemon's own view: the libvirt watch knows the running domain and its device
check "GetInfo: the libvirt watch is connected" wait_for '[ "$(vcall GetInfo | jq -r .watchers.libvirt.state)" = connected ]'
vcall GetInfo | jq -c .watchers
check "ListDevices names vm1 as the domain using 0000:01:00.0" wait_for '[ "$(holder 0000:01:00.0)" = vm1 ]'
systemctl restart vfiod.service
check "after systemctl restart vfiod: the lease is back" wait_for '[ "$(vcall ListLeases | jq -r ".leases[0].owner.name")" = vm1 ]' 10
check "... and ListDevices names vm1 again" wait_for '[ "$(holder 0000:01:00.0)" = vm1 ]'

# libvirtd restarts (the domain keeps running; libvirt runs the hook's reconnect): the watch
# notices the closed connection and connects again.
n=$(journalctl -u vfiod --no-pager -o cat | grep -c 'Watching the libvirt domains')
systemctl restart libvirtd.service
check_eq "vm1 survived libvirtd's restart" paused "$(virsh domstate vm1 2>/dev/null)"
check "after libvirtd's restart the watch connected again" \
    wait_for '[ "$(journalctl -u vfiod --no-pager -o cat | grep -c "Watching the libvirt domains")" -gt "$n" ]' 60
check "... and still names vm1" wait_for '[ "$(holder 0000:01:00.0)" = vm1 ]'

# --- another caller: vfiod refuses the device the domain holds
out=$(vfiodctl acquire 0000:01:00.0 --exec -- true 2>&1); rc=$?
echo "$out"
check_eq "root's Acquire of vm1's device is refused" 1 "$rc"
check "... Busy (the domain's lease) or held-by-domain" grep -Eiq 'busy|held-by-domain' <<<"$out"
check "a Bind with an owner from a user other than root is PermissionDenied" bash -c \
    "setpriv --reuid=65534 --regid=65534 --clear-groups varlinkctl call $BROKER $B.Bind '{\"devices\":[\"0000:00:03.0\"],\"owner\":{\"kind\":\"libvirt-domain\",\"name\":\"x\",\"uuid\":\"$UUID2\"}}' 2>&1 | grep -q PermissionDenied"
check "an owner with a bad uuid is InvalidParameter" bash -c \
    "varlinkctl call $BROKER $B.Bind '{\"devices\":[\"0000:00:03.0\"],\"owner\":{\"kind\":\"libvirt-domain\",\"name\":\"x\",\"uuid\":\"nope\"}}' 2>&1 | grep -q InvalidParameter"
check_eq "... and 00:03.0 stayed on e1000e" e1000e "$(driver 0000:00:03.0)"

# --- virsh destroy: release end gives the device back
check "virsh destroy vm1" virsh destroy vm1
for _ in $(seq 1 30); do [ "$(driver 0000:01:00.0)" = e1000e ] && break; sleep 1; done
check_eq "0000:01:00.0 is back on e1000e" e1000e "$(driver 0000:01:00.0)"
check_eq "no lease left" 0 "$(vcall ListLeases | jq '.leases | length')"
check "the release is idempotent (the hook again, no lease)" bash -c \
    "virsh dumpxml vm1 | /etc/libvirt/hooks/qemu.d/50-vfiod vm1 release end -"
check "hook operations that must never fail exit 0" bash -c \
    "for op in 'started begin' 'stopped end' 'reconnect begin' 'attach begin'; do /etc/libvirt/hooks/qemu.d/50-vfiod vm1 \$op - </dev/null || exit 1; done"
check_eq "migrate/restore leave the XML alone (empty stdout)" "" \
    "$(virsh dumpxml vm1 | /etc/libvirt/hooks/qemu.d/50-vfiod vm1 restore begin -)"
check_eq "the host is as it was" "$before" "$(host_state)"

# --- managed='no': libvirt moves nothing (the device must be on vfio-pci already); vfiod does,
# through the hook's Bind. Spare root ports and a PCIe-to-PCI bridge take the hotplugs below
# (libvirt puts a conventional PCI device, the e1000, only behind such a bridge: without one,
# "No more available PCI slots"). 00:03.0 here, and 01:00.0 for the hotplug: libvirt keeps a managed='no' device in its
# own lists, and a later managed='yes' use of it (vm1 below) would then not be given back.
domain_xml vm3 "$UUID3" "$(hostdev 0x00 0x03 no)
    <controller type='pci' index='0' model='pcie-root'/>
    <controller type='pci' model='pcie-root-port'/>
    <controller type='pci' model='pcie-root-port'/>
    <controller type='pci' model='pcie-root-port'/>
    <controller type='pci' model='pcie-root-port'/>
    <controller type='pci' model='pcie-root-port'/>
    <controller type='pci' model='pcie-root-port'/>
    <controller type='pci' model='pcie-to-pci-bridge'/>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>" >/tmp/vm3.xml
check "virsh define vm3" virsh define /tmp/vm3.xml
if virsh start --paused vm3 2>/tmp/start5.err; then ok "virsh start vm3 (managed='no' 0000:00:03.0)"; else
    not_ok "virsh start vm3: $(cat /tmp/start5.err)"; fi
check_eq "vm3 is running (paused)" paused "$(virsh domstate vm3 2>/dev/null)"
check_eq "0000:00:03.0 went to vfio-pci" vfio-pci "$(driver 0000:00:03.0)"
check_jq "... through vfiod: a bind lease naming vm3 holds it" \
    "[.leases[] | select(.kind == \"bind\" and .owner.name == \"vm3\" and any(.devices[]; . == \"0000:00:03.0\"))] | length == 1" \
    "$(vcall ListLeases)"
check "ListDevices names vm3 as the domain using 0000:00:03.0" wait_for '[ "$(holder 0000:00:03.0)" = vm3 ]'
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups varlinkctl call "$BROKER" $B.Acquire '{"devices":["0000:00:03.0"]}' 2>&1)
echo "$out"
check "another user's Acquire of vm3's device is Busy" grep -q 'io.vfiod.Broker.Busy' <<<"$out"
systemctl restart vfiod.service
check "after systemctl restart vfiod: ListDevices names vm3 again" wait_for '[ "$(holder 0000:00:03.0)" = vm3 ]'
out=$(vfiodctl acquire 0000:00:03.0 --exec -- true 2>&1); rc=$?
echo "$out"
check_eq "... and root's Acquire is still refused" 1 "$rc"
check "... Busy (the domain's lease) or held-by-domain" grep -Eiq 'busy|held-by-domain' <<<"$out"

# --- hotplug: libvirt runs no hook, vfiod hears DEVICE_ADDED and judges the device as a Bind of
# it for vm3 would be; a refusal cannot stop libvirt any more: it is journalled and shown.
hostdev 0x01 0x00 yes >/tmp/hot1.xml
if virsh attach-device vm3 /tmp/hot1.xml --live 2>/tmp/hot1.err; then ok "virsh attach-device --live 0000:01:00.0 (its whole group)"; else
    not_ok "attach-device 01:00.0: $(cat /tmp/hot1.err)"; fi
check_eq "libvirt moved 0000:01:00.0 to vfio-pci itself" vfio-pci "$(driver 0000:01:00.0)"
check "ListDevices names vm3 as the domain using 0000:01:00.0" wait_for '[ "$(holder 0000:01:00.0)" = vm3 ]'
check_eq "... and no check failed for it" null "$(failed_checks 0000:01:00.0)"
# Half of the shared group: 02:02.0 leaves its driver (by hand, so that QEMU can open the group),
# 02:01.0 goes to vm3; a Bind of 02:01.0 alone would be refused with partial-group.
echo 0000:02:02.0 >/sys/bus/pci/drivers/e1000/unbind
hostdev 0x02 0x01 yes >/tmp/hot2.xml
if virsh attach-device vm3 /tmp/hot2.xml --live 2>/tmp/hot2.err; then ok "virsh attach-device --live 0000:02:01.0 (half its group)"; else
    not_ok "attach-device 02:01.0: $(cat /tmp/hot2.err)"; fi
check "ListDevices names vm3 as the domain using 0000:02:01.0" wait_for '[ "$(holder 0000:02:01.0)" = vm3 ]'
check "... and shows partial-group in its domainFailedChecks" \
    wait_for '[ "$(failed_checks 0000:02:01.0 | jq "any(.[]?; . == \"partial-group\")")" = true ]'
vcall ListDevices | jq -c '.devices[] | select(.heldByDomain) | {address, driver, heldByDomain, domainFailedChecks}'
journalctl -o cat --no-pager MESSAGE_ID=bba4aa5cbd264ab2923b65b7da808cc1 | sed 's/^/# journal: /'
check "the warning is journalled (MESSAGE_ID, device, reasons, the domain)" bash -c \
    "journalctl -o json --no-pager MESSAGE_ID=bba4aa5cbd264ab2923b65b7da808cc1 VFIOD_OWNER_NAME=vm3 VFIOD_OWNER_UUID=$UUID3 VFIOD_DEVICE=0000:02:01.0 | grep -q '\"VFIOD_REASONS\":\"[^\"]*partial-group'"
check_eq "... once, and none for 01:00.0" 1 \
    "$(journalctl -o json --no-pager MESSAGE_ID=bba4aa5cbd264ab2923b65b7da808cc1 | wc -l)"
check "virsh destroy vm3" virsh destroy vm3
wait_for '[ "$(driver 0000:00:03.0)" = e1000e ] && [ "$(driver 0000:01:00.0)" = e1000e ] && [ "$(driver 0000:02:01.0)" = e1000 ]'
check_eq "vfiod gave 0000:00:03.0 back (the hook's release)" e1000e "$(driver 0000:00:03.0)"
check_eq "libvirt gave 0000:01:00.0 back" e1000e "$(driver 0000:01:00.0)"
check_eq "libvirt gave 0000:02:01.0 back" e1000 "$(driver 0000:02:01.0)"
echo 0000:02:02.0 >/sys/bus/pci/drivers/e1000/bind
check_eq "no lease left" 0 "$(vcall ListLeases | jq '.leases | length')"
check "vfiod forgot vm3 and its warning" wait_for '[ "$(holder 0000:02:01.0)" = none ] && [ "$(failed_checks 0000:02:01.0)" = null ]'
check_eq "the host is as it was" "$before" "$(host_state)"

# --- half of a shared group: the domain does not start, the host does not change
domain_xml vm2 "$UUID2" "$(hostdev 0x02 0x01 yes)" >/tmp/vm2.xml
check "virsh define vm2" virsh define /tmp/vm2.xml
if virsh start --paused vm2 2>/tmp/start2.err; then not_ok "vm2 (one e1000 of 02:01.0/02:02.0) started"; virsh destroy vm2; else
    ok "vm2 (one e1000 of 02:01.0/02:02.0) does not start"; fi
cat /tmp/start2.err
check "virsh's error carries partial-group" grep -q 'partial-group' /tmp/start2.err
check "the refusal is journalled (MESSAGE_ID, reasons) with the domain" bash -c \
    "journalctl -o json --no-pager MESSAGE_ID=c45757b8c4734020b47e0bb91e99abb1 VFIOD_OWNER_NAME=vm2 | grep -q '\"VFIOD_REASONS\":\"[^\"]*partial-group'"
check_eq "vm2 is shut off" "shut off" "$(virsh domstate vm2 2>/dev/null)"
check_eq "no lease" 0 "$(vcall ListLeases | jq '.leases | length')"
check_eq "the host did not change" "$before" "$(host_state)"

# --- a managed='yes' hostdev under a deny rule: refused at prepare, before libvirt moves anything
mkdir -p /etc/vfiod/policy.d
echo '{"rules":[{"name":"not-00-03","match":{"address":"0000:00:03.0"},"deny":true}]}' >/etc/vfiod/policy.d/50-libvirt-test.json
check "vfiodctl reload" vfiodctl reload
domain_xml vm4 "$UUID4" "$(hostdev 0x00 0x03 yes)" >/tmp/vm4.xml
check "virsh define vm4" virsh define /tmp/vm4.xml
if virsh start --paused vm4 2>/tmp/start6.err; then not_ok "vm4 (00:03.0 under a deny rule) started"; virsh destroy vm4; else
    ok "vm4 (00:03.0 under a deny rule) does not start"; fi
cat /tmp/start6.err
check "virsh's error carries denied-by-rule" grep -q 'denied-by-rule' /tmp/start6.err
check "the refusal is journalled: MESSAGE_ID, operation, device, reasons, caller, the domain" bash -c \
    "journalctl -o json --no-pager MESSAGE_ID=c45757b8c4734020b47e0bb91e99abb1 VFIOD_OPERATION=bind VFIOD_DEVICE=0000:00:03.0 VFIOD_CALLER_UID=0 VFIOD_OWNER_KIND=libvirt-domain VFIOD_OWNER_NAME=vm4 VFIOD_OWNER_UUID=$UUID4 | grep -q '\"VFIOD_REASONS\":\"[^\"]*denied-by-rule'"
check_eq "vm4 is shut off" "shut off" "$(virsh domstate vm4 2>/dev/null)"
check_eq "no lease" 0 "$(vcall ListLeases | jq '.leases | length')"
check_eq "nothing moved" "$before" "$(host_state)"
rm -f /etc/vfiod/policy.d/50-libvirt-test.json
vfiodctl reload >/dev/null

# --- vfiod not running: refused by default (unreachable=refuse), with one line saying so
systemctl stop vfiod.socket vfiod.service
if virsh start --paused vm1 2>/tmp/start3.err; then not_ok "vm1 started without vfiod"; virsh destroy vm1; else
    ok "vm1 does not start while vfiod is stopped (unreachable=refuse)"; fi
cat /tmp/start3.err
check "... virsh says vfiod is not reachable" grep -q 'vfiod: not reachable' /tmp/start3.err
check_eq "... and the host did not change" "$before" "$(host_state)"

# --- unreachable=pass: the domain starts unchecked and libvirt detaches the device itself; vfiod,
# started afterwards, learns from libvirt that vm1 uses it and refuses it to everyone
printf 'unreachable=pass\n' >/etc/vfiod/libvirt-hook.conf; chmod 0644 /etc/vfiod/libvirt-hook.conf
if virsh start --paused vm1 2>/tmp/start4.err; then ok "with unreachable=pass vm1 starts without vfiod"; else
    not_ok "vm1 with unreachable=pass: $(cat /tmp/start4.err)"; fi
check_eq "... libvirt put 0000:01:00.0 on vfio-pci itself" vfio-pci "$(driver 0000:01:00.0)"
systemctl start vfiod.socket
check "vfiod, started now, names vm1 as the domain using 0000:01:00.0" wait_for '[ "$(holder 0000:01:00.0)" = vm1 ]'
check_eq "... with no lease of its own" 0 "$(vcall ListLeases | jq '.leases | length')"
check_eq "... and its checks allow vm1's use of it (no domainFailedChecks)" null "$(failed_checks 0000:01:00.0)"
out=$(vfiodctl acquire 0000:01:00.0 --exec -- true 2>&1); rc=$?
echo "$out"
check_eq "root's Acquire of the device vm1 uses is refused" 1 "$rc"
check "... with held-by-domain" grep -q 'held-by-domain' <<<"$out"
check "... naming vm1" grep -q "'vm1'" <<<"$out"
check_jq "Explain: held-by-domain failed" '[.checks[] | select(.code == "held-by-domain" and .passed == false)] | length == 1' \
    "$(vcall Explain '{"device":"0000:01:00.0"}')"
check "virsh destroy vm1" virsh destroy vm1
for _ in $(seq 1 30); do [ "$(driver 0000:01:00.0)" = e1000e ] && break; sleep 1; done
check_eq "libvirt gave 0000:01:00.0 back to e1000e" e1000e "$(driver 0000:01:00.0)"
check "vfiod forgot the domain" wait_for '[ "$(holder 0000:01:00.0)" = none ]'
rm -f /etc/vfiod/libvirt-hook.conf
check_eq "the host is as it was" "$before" "$(host_state)"

for d in vm1 vm2 vm3 vm4; do virsh undefine "$d" >/dev/null; done
finish
