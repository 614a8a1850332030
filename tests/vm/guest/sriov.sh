# SPDX-License-Identifier: LGPL-2.1-or-later
# In the guest, on the real kernel: an SR-IOV PF (QEMU's igb, an 82576, behind its own root port;
# tests/vm/meson.build adds it) with two VFs. Binding the PF destroys its VFs, so vfiod refuses the
# PF unless every VF is in the request, records sriov_numvfs in the lease and recreates the VFs
# when it gives the PF back; a VF is refused while its PF is held.
set -u
. ./checks.sh
B=io.vfiod.Broker
call() { timeout 120 varlinkctl call "$BROKER" "$B.$1" "${2:-{\}}"; }
driver() { basename "$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null)" 2>/dev/null || echo none; }
host_state() { for d in /sys/bus/pci/devices/*; do echo "$(basename "$d") $(driver "$(basename "$d")")"; done; }
failed_codes() { jq -r '[.checks[] | select(.passed|not) | .code] | unique | join(" ")'; }
devices() { local sep= d; printf '{"devices":['; for d; do printf '%s"%s"' "$sep" "$d"; sep=,; done; printf ']}'; }
lacks() { ! grep -q "$1"; }
numvfs() { cat "/sys/bus/pci/devices/$PF/sriov_numvfs"; }
vfs() { for l in /sys/bus/pci/devices/"$PF"/virtfn*; do [ -e "$l" ] && basename "$(readlink "$l")"; done | sort; }
wait_driver() {   # wait_driver DEVICE DRIVER: up to 10 s for the kernel's probe
    for _ in $(seq 100); do [ "$(driver "$1")" = "$2" ] && return 0; sleep 0.1; done; return 1
}
crash() {
    mkdir -p /run/systemd/system/vfiod.service.d
    printf '[Service]\nEnvironment=VFIOD_TEST_CRASH_AT=%s\nRestart=no\n' "$1" >/run/systemd/system/vfiod.service.d/crash.conf
    systemctl daemon-reload; systemctl restart vfiod.service
}
heal() {
    rm -f /run/systemd/system/vfiod.service.d/crash.conf
    systemctl daemon-reload; systemctl reset-failed vfiod.service 2>/dev/null; systemctl restart vfiod.service; sleep 2
}

PF=
for d in /sys/bus/pci/devices/*; do
    [ "$(cat "$d/vendor")" = 0x8086 ] && [ "$(cat "$d/device")" = 0x10c9 ] && PF=$(basename "$d")
done
check "an 82576 PF (8086:10c9) is there" test -n "$PF"
[ -n "$PF" ] || { finish; exit; }
echo "# PF $PF on $(driver "$PF"), sriov_totalvfs $(cat "/sys/bus/pci/devices/$PF/sriov_totalvfs")"
check_eq "the PF is on igb" igb "$(driver "$PF")"

systemctl start vfiod.socket
echo 2 >"/sys/bus/pci/devices/$PF/sriov_numvfs"
udevadm settle   # the VF netdevs get their final names
mapfile -t VF < <(vfs)
check_eq "sriov_numvfs=2 made two VFs" 2 "${#VF[@]}"
VF1=${VF[0]:-none} VF2=${VF[1]:-none}
check "VF1 $VF1 on igbvf" wait_driver "$VF1" igbvf
check "VF2 $VF2 on igbvf" wait_driver "$VF2" igbvf
echo "# VFs $VF1 (group $(basename "$(readlink "/sys/bus/pci/devices/$VF1/iommu_group")")) $VF2"
# VF1's netdev carries an address, as a container's or a host service's would.
n=$(ls "/sys/bus/pci/devices/$VF1/net/" 2>/dev/null | head -n1)
check "VF1 has a netdev" test -n "$n"
ip link set "$n" up
ip addr add 192.0.2.5/24 dev "$n"
udevadm settle
sleep 1
before=$(host_state)

# --- the PF alone: refused, and nothing moved
out=$(call Explain "{\"device\":\"$PF\"}")
check_eq "Explain PF: sriov-vfs-enabled" sriov-vfs-enabled "$(failed_codes <<<"$out")"
sentence=$(jq -r '.checks[] | select(.code=="sriov-vfs-enabled") | .sentence' <<<"$out")
echo "# $sentence"
check "... the sentence names the fix" grep -qF "echo 0 > /sys/bus/pci/devices/$PF/sriov_numvfs" <<<"$sentence"
check "... and the VFs" grep -qF "request its VFs $VF1 $VF2 too" <<<"$sentence"
err=$(call Bind "$(devices "$PF")" 2>&1)
check "Bind PF -> Denied" grep -q "$B.Denied" <<<"$err"
check "... with sriov-vfs-enabled" grep -q sriov-vfs-enabled <<<"$err"
check_eq "... the PF is still on igb" igb "$(driver "$PF")"
check_eq "... both VFs still exist" "$VF1 $VF2" "$(vfs | paste -sd' ')"
check "... VF1 keeps its address" bash -c "ip -o addr show dev $n | grep -q 192.0.2.5"
check_eq "... host untouched" "$before" "$(host_state)"
err=$(call Bind "$(devices "$PF" "$VF1")" 2>&1)
check "Bind PF + one VF -> Denied sriov-vfs-enabled" grep -q sriov-vfs-enabled <<<"$err"
check_eq "... host untouched" "$before" "$(host_state)"

# --- PF + every VF while VF1's netdev has an address: the VF's own check refuses
err=$(call Bind "$(devices "$PF" "$VF1" "$VF2")" 2>&1)
check "Bind PF + VFs, VF1 routed -> Denied" grep -q "$B.Denied" <<<"$err"
check "... with routed-interface" grep -q routed-interface <<<"$err"
check "... and not sriov-vfs-enabled" lacks sriov-vfs-enabled <<<"$err"
check_eq "... host untouched" "$before" "$(host_state)"

# --- a VF alone, then its PF: refused; the VF comes back
out=$(call Bind "$(devices "$VF2")" 2>&1)
check_eq "Bind VF2 alone: on vfio-pci" vfio-pci "$(driver "$VF2")"
mid=$(host_state)
out=$(call Explain "{\"device\":\"$PF\"}")
check "Explain PF while VF2 is bound: sriov-vfs-enabled" grep -qw sriov-vfs-enabled <<<"$(failed_codes <<<"$out")"
err=$(call Bind "$(devices "$PF")" 2>&1)
check "Bind PF while VF2 is bound -> Denied sriov-vfs-enabled" grep -q sriov-vfs-enabled <<<"$err"
err=$(call Bind "$(devices "$PF" "$VF1" "$VF2")" 2>&1)
check "Bind PF + VFs while VF2 is bound -> Busy" grep -q "$B.Busy" <<<"$err"
check_eq "... host untouched" "$mid" "$(host_state)"
call Unbind "$(devices "$VF2")" >/dev/null
check_eq "Unbind VF2: back on igbvf" igbvf "$(driver "$VF2")"
check_eq "host as before" "$before" "$(host_state)"

# --- PF + every VF, nothing routed: the VFs go with the PF and come back after
ip addr flush dev "$n"
udevadm settle
sleep 1
before=$(host_state)
# Acquire cannot hand out fds for VFs the bind destroys
err=$(call Acquire "$(devices "$PF" "$VF1" "$VF2")" 2>&1)
check "Acquire PF + VFs -> NotSupported" grep -q "$B.NotSupported" <<<"$err"
check_eq "... host untouched" "$before" "$(host_state)"

out=$(call Bind "$(devices "$PF" "$VF1" "$VF2")" 2>&1)
echo "$out" | jq -c . 2>/dev/null || echo "$out"
check_eq "Bind PF + VFs: PF on vfio-pci" vfio-pci "$(driver "$PF")"
check_eq "... the VFs are gone" 0 "$(numvfs)"
lease=$(jq -c '.leases[0]' /run/vfiod/state.json)
echo "# journal: $lease"
check_jq "... the journal records sriovNumvfs 2 for the PF" \
    ".moved | map(select(.address==\"$PF\")) | .[0].sriovNumvfs == 2" "$lease"
check_jq "... and moves no VF by itself" ".moved | map(.address) == [\"$PF\"]" "$lease"
check_eq "ListDevices: PF leased" leased "$(call ListDevices | jq -r ".devices[] | select(.address==\"$PF\") | .state")"

# A VF made while the PF is held (vfio-pci can enable SR-IOV when enable_sriov=Y) is refused.
# The VF stays without a driver (sriov_drivers_autoprobe=0), so taking it away again is simple.
if echo Y >/sys/module/vfio_pci/parameters/enable_sriov 2>/dev/null &&
   echo 0 >"/sys/bus/pci/devices/$PF/sriov_drivers_autoprobe" &&
   echo 1 >"/sys/bus/pci/devices/$PF/sriov_numvfs" 2>/dev/null; then
    udevadm settle; sleep 1
    v=$(vfs | head -n1)
    held=$(host_state)
    out=$(call Explain "{\"device\":\"$v\"}" 2>&1)
    echo "$out" | jq -c '[.checks[] | select(.passed|not)]' 2>/dev/null || echo "$out"
    check_eq "VF $v of the bound PF: Explain in-use" in-use "$(failed_codes <<<"$out")"
    check "... naming the PF" grep -qF "its PF $PF is held by lease" <<<"$(jq -r '.checks[] | select(.code=="in-use") | .sentence' <<<"$out")"
    err=$(call Bind "$(devices "$v")" 2>&1)
    echo "$err"
    check "Bind that VF -> refused (Busy or Denied in-use)" grep -qE "$B.Busy|in-use" <<<"$err"
    check_eq "... host untouched" "$held" "$(host_state)"
    echo 0 >"/sys/bus/pci/devices/$PF/sriov_numvfs"
    echo 1 >"/sys/bus/pci/devices/$PF/sriov_drivers_autoprobe"
    echo N >/sys/module/vfio_pci/parameters/enable_sriov
    udevadm settle
else
    not_ok "vfio-pci would not enable SR-IOV on the bound PF (enable_sriov), so the held-PF case was not tried"
fi

call Unbind "$(devices "$PF")" >/dev/null
check_eq "Unbind: PF back on igb" igb "$(driver "$PF")"
check_eq "... sriov_numvfs restored" 2 "$(numvfs)"
check_eq "... the same VFs again" "$VF1 $VF2" "$(vfs | paste -sd' ')"
check "... VF1 on igbvf" wait_driver "$VF1" igbvf
check "... VF2 on igbvf" wait_driver "$VF2" igbvf
check_eq "... no lease left" 0 "$(call ListLeases | jq '.leases | length')"
check_eq "... host as before" "$before" "$(host_state)"

# --- a crash at any point of the move or the give-back: the next start recreates the VFs
for point in bind-after-unbind restore-after-bind; do
    if [ "$point" = bind-after-unbind ]; then
        crash "$point"
        call Bind "$(devices "$PF" "$VF1" "$VF2")" >/dev/null 2>&1
    else
        heal
        call Bind "$(devices "$PF" "$VF1" "$VF2")" >/dev/null
        crash "$point"   # the restart re-adopts the bind lease
        call Unbind "$(devices "$PF")" >/dev/null 2>&1
    fi
    check_eq "crash at $point: vfiod died" failed "$(systemctl is-active vfiod.service)"
    check_eq "crash at $point: the VFs are gone for now" 0 "$(numvfs)"
    heal
    check_eq "crash at $point: PF back on igb after restart" igb "$(driver "$PF")"
    check_eq "crash at $point: sriov_numvfs 2 again" 2 "$(numvfs)"
    check_eq "crash at $point: no lease left" 0 "$(call ListLeases | jq '.leases | length')"
done
check "VF1 on igbvf at the end" wait_driver "$VF1" igbvf
check "VF2 on igbvf at the end" wait_driver "$VF2" igbvf
check_eq "host as before at the end" "$before" "$(host_state)"
check "vfiod still running" systemctl is-active --quiet vfiod.service
finish
