# SPDX-License-Identifier: LGPL-2.1-or-later
# vfiod as an admin meets it: installed on a host where nothing VFIO was loaded by hand,
# `systemctl enable --now vfiod`, and it works for an unprivileged user at once and after a reboot,
# under the hardened unit, and bindAtBoot across a real reboot. Runs with --boots 2 (VFIOD_BOOT is
# 1, then 2; the same disk), a second PCIe-to-PCI bridge with two e1000 (03:01.0, 03:02.0: one
# shared group) and an igb (82576) SR-IOV PF whose VFs, made in boot 2, are bound as they appear.
set -u
. ./checks.sh
B=io.vfiod.Broker
T=/usr/libexec/vfiod-tests
call() { varlinkctl call "$BROKER" "$B.$1" "${2:-{\}}"; }
driver() { basename "$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null)" 2>/dev/null || echo none; }
wait_for() { for _ in $(seq 1 "${2:-30}"); do eval "$1" && return 0; sleep 1; done; return 1; }
as_user() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --init-groups "$@"; }
NIC=0000:01:00.0

# An unprivileged user's Acquire: real fds, a 2 MiB DMA mapping, the NIC back on its driver after.
acquire_as_dpdk() {
    local out line
    out=$(as_user dpdk vfiodctl acquire $NIC --exec -- $T/vfio-dma-check 2>&1)
    echo "$out"
    line=$(grep '^{' <<<"$out" | tail -n1)
    check_eq "boot $VFIOD_BOOT: dpdk mapped 2 MiB through the container fd" 2097152 "$(jq -r '.mapped' <<<"$line")"
    check_eq "boot $VFIOD_BOOT: as uid dpdk" "$(id -u dpdk)" "$(jq -r '.uid' <<<"$line")"
    sleep 2
    check_eq "boot $VFIOD_BOOT: $NIC back on e1000e" e1000e "$(driver $NIC)"
}

echo "# boot $VFIOD_BOOT"
case $VFIOD_BOOT in
1)
    check "installed: /etc/vfiod/policy.d/ exists" test -d /etc/vfiod/policy.d
    check "installed: the shipped defaults" test -f /usr/share/vfiod/policy.d/00-defaults.json
    check "installed: the worked examples" test -f /usr/share/doc/vfiod/examples/50-dpdk-nics.json
    for page in man8/vfiod.8 man1/vfiodctl.1 man5/vfiod.policy.5; do
        check "installed: $page" bash -c "ls /usr/share/man/$page* >/dev/null"
    done
    check_eq "vfiod.service not enabled by installing" disabled "$(systemctl is-enabled vfiod.service)"
    check_eq "vfiod.socket not enabled by installing" disabled "$(systemctl is-enabled vfiod.socket)"
    # The payload came after boot: modules-load.d has not run, nothing loaded VFIO.
    check "vfio_pci not loaded before vfiod starts" test ! -d /sys/module/vfio_pci

    useradd --system --no-create-home --user-group dpdk
    cat >/etc/vfiod/policy.d/50-dpdk.json <<'JSON'
{ "rules": [ { "name": "dpdk-nic", "match": { "address": "0000:01:00.0" }, "allow": { "users": ["dpdk"] } } ] }
JSON
    check "systemctl enable --now vfiod" systemctl enable --now vfiod
    check_eq "vfiod.service enabled" enabled "$(systemctl is-enabled vfiod.service)"
    check_eq "vfiod.socket enabled (Also=)" enabled "$(systemctl is-enabled vfiod.socket)"
    check_eq "vfiod.service active" active "$(systemctl is-active vfiod.service)"
    check_eq "vfiod.socket active" active "$(systemctl is-active vfiod.socket)"
    check "starting vfiod loaded vfio_pci" test -d /sys/module/vfio_pci
    check "starting vfiod loaded vfio_iommu_type1" test -d /sys/module/vfio_iommu_type1
    check_jq "GetInfo lists the shipped defaults" \
        '[.policy.files[].path] | index("/usr/share/vfiod/policy.d/00-defaults.json") != null' "$(call GetInfo)"
    acquire_as_dpdk

    # Each worked example is accepted by a Reload of the running daemon.
    for f in /usr/share/doc/vfiod/examples/*.json; do
        cp "$f" /etc/vfiod/policy.d/90-example.json
        check "Reload accepts the example $(basename "$f")" vfiodctl reload
        rm /etc/vfiod/policy.d/90-example.json
    done
    check "Reload without the examples" vfiodctl reload

    out=$(systemd-analyze security vfiod.service 2>&1)
    echo "$out" | grep -v '^✓'
    score=$(sed -n 's/.*Overall exposure level for vfiod.service: \([0-9.]*\).*/\1/p' <<<"$out")
    echo "# exposure: $score"
    check "systemd-analyze security vfiod.service <= 2.0 (got '$score')" awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }'
    check "vfiod runs with CAP_NET_ADMIN and CAP_SYS_PTRACE only" bash -c \
        "grep -q '^CapBnd:	0000000000081000$' /proc/\$(systemctl show -P MainPID vfiod)/status"
    # What the hardening leaves vfiod: read-only /proc/sys, writable where binding writes, VFIO in /dev.
    pid=$(systemctl show -P MainPID vfiod)
    awk '$5 ~ /^\/(sys|sys\/bus\/pci|sys\/devices|proc\/sys|dev|dev\/vfio)$/ {print "# mount", $5, $6}' /proc/$pid/mountinfo
    check "vfiod's /proc/sys is read-only" bash -c "! nsenter -t $pid -m sh -c 'echo 1 >/proc/sys/kernel/sysrq' 2>/dev/null"
    check "vfiod's driver_override is writable" nsenter -t $pid -m sh -c 'echo >/sys/bus/pci/devices/0000:00:03.0/driver_override'
    check "vfiod's /dev has /dev/vfio and no disk" nsenter -t $pid -m sh -c 'test -c /dev/vfio/vfio && test ! -e /dev/vda'
    check "libvirtd is ordered after vfiod" bash -c "systemctl show -P After libvirtd.service | grep -qw vfiod.service"
    check "virtqemud is ordered after vfiod" bash -c "systemctl show -P After virtqemud.service | grep -qw vfiod.service"

    # bindAtBoot for the next boot: a single-device group, a whole two-device group, and one member
    # of a shared group alone. Nothing is bound before then (this boot's bindings were made when
    # vfiod started, before these rules existed).
    before=$(for d in 0000:00:03.0 0000:02:01.0 0000:02:02.0 0000:03:01.0 0000:03:02.0; do echo "$d $(driver $d)"; done)
    cat >/etc/vfiod/policy.d/60-boot.json <<'JSON'
{ "rules": [
  { "name": "boot-single", "match": { "address": "0000:00:03.0" }, "allow": { "users": ["root"] }, "bindAtBoot": true },
  { "name": "boot-group", "match": { "address": "0000:02:0?.0" }, "allow": { "users": ["root"] }, "bindAtBoot": true },
  { "name": "boot-half", "match": { "address": "0000:03:01.0" }, "allow": { "users": ["root"] }, "bindAtBoot": true },
  { "name": "boot-vfs", "match": { "vendor": "8086", "device": "10ca" }, "allow": { "users": ["root"] }, "bindAtBoot": true }
] }
JSON
    check "Reload accepts the bindAtBoot rules" vfiodctl reload
    check_eq "bindAtBoot binds nothing before the next boot" "$before" \
        "$(for d in 0000:00:03.0 0000:02:01.0 0000:02:02.0 0000:03:01.0 0000:03:02.0; do echo "$d $(driver $d)"; done)"
    check_eq "03:01.0 and 03:02.0 share a group" \
        "$(basename "$(readlink /sys/bus/pci/devices/0000:03:01.0/iommu_group)")" \
        "$(basename "$(readlink /sys/bus/pci/devices/0000:03:02.0/iommu_group)")"
    ;;
2)
    check_eq "vfiod.service still enabled" enabled "$(systemctl is-enabled vfiod.service)"
    check_eq "vfiod.socket still enabled" enabled "$(systemctl is-enabled vfiod.socket)"
    # Nobody has connected yet: the service was started by the boot itself.
    check_eq "vfiod.service started at boot" active "$(systemctl is-active vfiod.service)"
    check "its start was at boot, before this script" bash -c \
        "[ \$(systemctl show -P ActiveEnterTimestampMonotonic vfiod.service) -lt \$(systemctl show -P ActiveEnterTimestampMonotonic multi-user.target) ]"
    # bindAtBoot: on vfio-pci before this script (and libvirt) ran, as Bind leases of root.
    check_eq "bindAtBoot: 00:03.0 on vfio-pci at boot" vfio-pci "$(driver 0000:00:03.0)"
    check_eq "bindAtBoot: 02:01.0 on vfio-pci at boot" vfio-pci "$(driver 0000:02:01.0)"
    check_eq "bindAtBoot: 02:02.0 on vfio-pci at boot" vfio-pci "$(driver 0000:02:02.0)"
    check_eq "bindAtBoot: half group untouched, 03:01.0" e1000 "$(driver 0000:03:01.0)"
    check_eq "bindAtBoot: half group untouched, 03:02.0" e1000 "$(driver 0000:03:02.0)"
    j=$(journalctl -b -o json MESSAGE_ID=c45757b8c4734020b47e0bb91e99abb1 VFIOD_DEVICE=0000:03:01.0 | tail -n1)
    echo "$j" | jq -c '{MESSAGE, VFIOD_OPERATION, VFIOD_REASONS, VFIOD_CALLER_UID}'
    check_jq "the half group's refusal is in the journal: bind, partial-group" \
        '.VFIOD_OPERATION == "bind" and (.VFIOD_REASONS | test("partial-group"))' "$j"
    leases=$(call ListLeases)
    echo "$leases" | jq -c '.leases[] | {kind, uid, devices}'
    check_jq "ListLeases: two bind leases of root" '[.leases[] | select(.kind == "bind" and .uid == 0)] | length == 2' "$leases"
    check_jq "ListLeases: 00:03.0 alone" 'any(.leases[]; .devices == ["0000:00:03.0"])' "$leases"
    check_jq "ListLeases: 02:01.0 with 02:02.0" 'any(.leases[]; (.devices | sort) == ["0000:02:01.0","0000:02:02.0"])' "$leases"
    check "journal: the boot binding is logged" bash -c \
        "journalctl -b -u vfiod.service -o cat | grep -q 'Bound by bindAtBoot: 0000:00:03.0'"
    acquire_as_dpdk
    # Unbind gives them back, as any Bind lease.
    check "Unbind 00:03.0" vfiodctl unbind 0000:00:03.0
    check "Unbind 02:01.0 02:02.0" vfiodctl unbind 0000:02:01.0 0000:02:02.0
    check_eq "00:03.0 back on e1000e" e1000e "$(driver 0000:00:03.0)"
    check_eq "02:01.0 back on e1000" e1000 "$(driver 0000:02:01.0)"
    check_eq "no lease left" 0 "$(call ListLeases | jq '.leases | length')"

    # Devices that appear later: the igb PF makes two VFs (8086:10ca), which rule boot-vfs binds
    # as they appear, each group a Bind lease of root. igbvf is not loaded yet: udev loads it for
    # the first VF, and the udev rule's hold (vfiod-hold) must keep it off the VFs meanwhile.
    PF=
    for d in /sys/bus/pci/devices/*; do
        [ "$(cat "$d/vendor")" = 0x8086 ] && [ "$(cat "$d/device")" = 0x10c9 ] && PF=$(basename "$d")
    done
    check "an 82576 PF (8086:10c9) is there" test -n "$PF"
    echo 2 >"/sys/bus/pci/devices/$PF/sriov_numvfs"
    mapfile -t VF < <(for l in /sys/bus/pci/devices/"$PF"/virtfn*; do basename "$(readlink "$l")"; done | sort)
    check_eq "sriov_numvfs=2 made two VFs" 2 "${#VF[@]}"
    for vf in "${VF[@]}"; do
        check "new VF $vf on vfio-pci within 30 s" wait_for "[ \"\$(driver $vf)\" = vfio-pci ]" 30
    done
    leases=$(call ListLeases)
    echo "$leases" | jq -c '.leases[] | {kind, uid, devices}'
    for vf in "${VF[@]}"; do
        check_jq "ListLeases: $vf in a bind lease of root" \
            "any(.leases[]; .kind == \"bind\" and .uid == 0 and (.devices | index(\"$vf\")))" "$leases"
    done
    check "journal: the VFs' bindings are logged as they appeared" bash -c \
        "journalctl -b -u vfiod.service -o cat | grep -q '${VF[0]} appeared and its rule says bindAtBoot'"
    check "journal: vfiod-hold held ${VF[0]} for rule boot-vfs" bash -c \
        "journalctl -b SYSLOG_IDENTIFIER=vfiod-hold -o cat | grep -q 'Holding ${VF[0]} from its host driver: rule \"boot-vfs\"'"
    check "igbvf was loaded for the VFs" test -d /sys/bus/pci/drivers/igbvf
    check "igbvf never probed ${VF[0]} (no kernel line of it)" bash -c "! journalctl -b -k -o cat | grep -q '^igbvf ${VF[0]}'"
    check "Unbind the VFs" vfiodctl unbind "${VF[@]}"
    # Held when moved, so given back by letting the bus pick: igbvf, which now says so.
    check_eq "${VF[0]} back on igbvf" igbvf "$(driver "${VF[0]}")"
    check_eq "${VF[1]} back on igbvf" igbvf "$(driver "${VF[1]}")"
    check "igbvf probed ${VF[0]} then (the check above could see it)" bash -c "journalctl -b -k -o cat | grep -q '^igbvf ${VF[0]}'"
    check_eq "${VF[0]}: no driver_override left" "" "$(cat "/sys/bus/pci/devices/${VF[0]}/driver_override" | sed 's/(null)//')"
    echo 0 >"/sys/bus/pci/devices/$PF/sriov_numvfs"
    check_eq "no lease left after the VFs" 0 "$(call ListLeases | jq '.leases | length')"

    # A hold vfiod does not follow: the files say bindAtBoot, the policy vfiod runs (reloaded
    # before the edit) does not. vfiod clears the hold and lets the bus pick. igbvf is unloaded
    # first, so the new VF has no driver when the rule runs (loaded, igbvf would take it at once).
    # (sriov_drivers_autoprobe=0 would not do: the kernel then refuses drivers_probe for VFs too.)
    sed -i 's/"name": "boot-vfs", \(.*\)"bindAtBoot": true/"name": "boot-vfs", \1"bindAtBoot": false/' /etc/vfiod/policy.d/60-boot.json
    check "Reload: boot-vfs without bindAtBoot" vfiodctl reload
    sed -i 's/"name": "boot-vfs", \(.*\)"bindAtBoot": false/"name": "boot-vfs", \1"bindAtBoot": true/' /etc/vfiod/policy.d/60-boot.json
    check "igbvf unloaded" modprobe -r igbvf
    since=$(date '+%Y-%m-%d %H:%M:%S')
    echo 1 >"/sys/bus/pci/devices/$PF/sriov_numvfs"
    vf=$(basename "$(readlink "/sys/bus/pci/devices/$PF/virtfn0")")
    check "journal: vfiod-hold held $vf" wait_for \
        "journalctl --since '$since' SYSLOG_IDENTIFIER=vfiod-hold -o cat | grep -q 'Holding $vf from its host driver'" 20
    check "vfiod lets it go: $vf on igbvf" wait_for "[ \"\$(driver $vf)\" = igbvf ]" 30
    check "journal: the hold was released" bash -c \
        "journalctl --since '$since' -u vfiod.service -o cat | grep -q '$vf is no longer held'"
    check_eq "no lease for it" 0 "$(call ListLeases | jq '.leases | length')"
    echo 0 >"/sys/bus/pci/devices/$PF/sriov_numvfs"
    check "no vfiod error in this boot's journal" bash -c "! journalctl -q -b -u vfiod.service -p err --no-pager | grep -q ."
    ;;
esac
finish
