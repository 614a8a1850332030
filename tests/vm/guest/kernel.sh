# SPDX-License-Identifier: LGPL-2.1-or-later
# In the guest, on the real kernel, without the daemon: the binder (driver_override, unbind,
# drivers_probe, verify, /dev/vfio/N, rollback, restore, crash points) and the vfio module
# (container, viability, TYPE1v2, measured IOVA ranges, DMA map, device fd), through
# vfiod-kernel-test.
#   kernel.sh [WIDTH]    (default: the MGAW the Intel unit's cap register reports)
set -u
. ./checks.sh
T=/usr/libexec/vfiod-tests/vfiod-kernel-test

cap=$(cat /sys/class/iommu/dmar0/intel-iommu/cap)
width=${1:-$(( ((16#$cap >> 16) & 0x3f) + 1 ))}

group_of() { basename "$(readlink "/sys/bus/pci/devices/$1/iommu_group")"; }
drv() { local l; if l=$(readlink "/sys/bus/pci/devices/$1/driver"); then basename "$l"; else echo none; fi; }
ovr() { cat "/sys/bus/pci/devices/$1/driver_override"; }
# Runs the tool: its stdout in $out, stderr in $err, status in $rc.
run() {
    local o e
    o=$(mktemp) e=$(mktemp)
    "$T" "$@" >"$o" 2>"$e"; rc=$?
    out=$(cat "$o") err=$(cat "$e")
    rm -f "$o" "$e"
}

A=0000:00:03.0          # e1000e alone
E1=0000:02:01.0         # two e1000 behind the PCIe-to-PCI bridge, one group with it
E2=0000:02:02.0
BR=0000:00:05.0
B=0000:01:00.0          # e1000e behind the root port
GA=$(group_of $A)
GE=$(group_of $E1)
GB=$(group_of $B)
br_drv=$(drv $BR)
echo "# groups: $A=$GA $E1,$E2,$BR=$GE $B=$GB; bridge driver: $br_drv; expected width $width"

# --- vfio-pci not loaded: a clear refusal, nothing touched.
run available
check_eq "vfio-pci is not loaded at boot" 1 "$rc"
run bind "$GA" $A
check_eq "bind without vfio-pci fails" 1 "$rc"
check "... and says how to load it" grep -q "vfio-pci is not loaded; the vfiod package ships /usr/lib/modules-load.d/vfiod.conf" <<<"$err"
check "... with EOPNOTSUPP" grep -q EOPNOTSUPP <<<"$err"
check_eq "... and touched nothing" "e1000e (null)" "$(drv $A) $(ovr $A)"

modprobe vfio-pci
check "vfio-pci is available after modprobe" "$T" available
check_jq "state reads driver and unset override" '.driver == "e1000e" and .override == ""' "$($T state $A)"

# --- Bind a single-device group.
run bind "$GA" $A
check_eq "bind $A (group $GA)" 0 "$rc"
check_jq "... records the original driver" '.[0].originalDriver == "e1000e" and .[0].originalOverride == ""' "$out"
check_eq "... now on vfio-pci with override vfio-pci" "vfio-pci vfio-pci" "$(drv $A) $(ovr $A)"
check "... /dev/vfio/$GA exists" test -c "/dev/vfio/$GA"
run bind "$GA" $A
check_eq "binding it again is harmless" "0 vfio-pci" "$rc $(drv $A)"

# --- The container's measured aperture.
run container "$GA"
c=$out
check_eq "container for group $GA" 0 "$rc"
echo "# container aw$width: $c"
check_jq "aperture bits = the IOMMU's width ($width)" ".apertureBits == $width" "$c"
check_jq "4 KiB pages supported" '.pageSizeBits | index(12) != null' "$c"
check_jq "DMA mappings available reported" '.dmaAvail > 0' "$c"
check_jq "first range starts at 0" '.ranges[0].start == "0x0"' "$c"
check_eq "last range ends at 2^$width - 1" "$(printf '0x%x' $(( (1 << width) - 1 )))" "$(jq -r '.ranges[-1].end' <<<"$c")"
# Every reserved region of the group (the MSI window at least) lies outside every range.
overlap=0 nres=0
while read -r rs re rtype; do
    nres=$((nres + 1))
    for row in $(jq -r '.ranges[] | "\(.start),\(.end)"' <<<"$c"); do
        s=$((${row%,*})) e=$((${row#*,}))
        if [ $((rs)) -le $e ] && [ $((re)) -ge $s ]; then overlap=1; echo "# $rtype $rs-$re overlaps $row"; fi
    done
done <"/sys/kernel/iommu_groups/$GA/reserved_regions"
check "the group has reserved regions" test "$nres" -gt 0
check_eq "no reserved region inside a usable range" 0 "$overlap"

# A group node can be open once: a second opener gets a clear sentence.
exec 9<>"/dev/vfio/$GA"
run container "$GA"
check_eq "container while the group is held elsewhere fails" 1 "$rc"
check "... and says the group is already open" grep -q "is already open elsewhere" <<<"$err"
exec 9>&-

# --- DMA map and the device fd.
run map "$GA" $A
m=$out
check_eq "map + device fd on $A" 0 "$rc"
echo "# map: $m"
check_jq "2 MiB mapped and unmapped at IOVA 0x100000" \
    '.mappedBytes == 2097152 and .unmappedBytes == 2097152 and .iova == "0x100000"' "$m"
check_jq "the mapping used one DMA entry" '.dmaAvailWhileMapped == .dmaAvail - 1' "$m"
check_jq "config space through the fd: Intel e1000e" '.vendor == "0x8086" and .device == "'"$(cat /sys/bus/pci/devices/$A/device)"'"' "$m"
check_jq "a PCI device fd with its regions" '.pci and .regions >= 9' "$m"

run bench 20 "$GA" $A
b=$out
check_eq "bench" 0 "$rc"
echo "# bench (container + attach + SET_IOMMU + GET_INFO + device fd, close): $b"

# --- Restore: back to e1000e, idempotent.
run restore $A e1000e
check_eq "restore $A" 0 "$rc"
check_eq "... back on e1000e, override cleared" "e1000e (null)" "$(drv $A) $(ovr $A)"
check "... /dev/vfio/$GA is gone" test ! -e "/dev/vfio/$GA"
run restore $A e1000e
check_eq "restoring again is a no-op" "0 e1000e" "$rc $(drv $A)"
run container "$GA"
check_eq "container without vfio-pci: refused" 1 "$rc"
check "... because the group has no VFIO node" grep -q "has no VFIO node (/dev/vfio/$GA)" <<<"$err"

# --- The shared group: the binder will not leave it half-bound (F11); the kernel refuses a
# container on a half-bound group; the whole group binds.
run bind "$GE" $E1
check_eq "bind only $E1 of group $GE: refused and rolled back" "1 e1000" "$rc $(drv $E1)"
check "... because the group would be half-bound" grep -q "would be half-bound" <<<"$err"
# What the kernel itself allows: half-bind it by hand, to see the kernel's own refusal.
echo vfio-pci >/sys/bus/pci/devices/$E1/driver_override
echo $E1 >/sys/bus/pci/devices/$E1/driver/unbind
echo $E1 >/sys/bus/pci/drivers_probe
check_eq "half-bound by hand" vfio-pci "$(drv $E1)"
run container "$GE"
check_eq "container with $E2 still on e1000: refused" 1 "$rc"
check "... group $GE is not viable" grep -q "group $GE is not viable: a member is still on a host driver" <<<"$err"
run bind "$GE" $E1 $E2
check_eq "bind the whole group ($E1 $E2)" "0 vfio-pci vfio-pci" "$rc $(drv $E1) $(drv $E2)"
run map "$GE" $E2
m=$out
check_jq "map + config read through $E2 (e1000)" '.vendor == "0x8086"' "$m"
run bind "$GA" $A
run container "$GA" "$GE"
c=$out
check_eq "one container, two groups" 0 "$rc"
check_jq "... both attached, same aperture" ".groups == [$GA,$GE] and .apertureBits == $width" "$c"
for d in $E1 $E2; do run restore $d e1000 >/dev/null; done
run restore $A e1000e
check_eq "all given back" "e1000 e1000 e1000e" "$(drv $E1) $(drv $E2) $(drv $A)"

# --- Restore when the original driver cannot take it: drivers_probe places it, the error says where.
run bind "$GA" $A
run restore $A nosuchdriver
check_eq "restore to a driver that does not exist fails" 1 "$rc"
check "... the sentence says what bind said and where drivers_probe put it" \
    grep -q "Giving $A back to nosuchdriver failed: the bind said \"No such file or directory\" and drivers_probe left it on e1000e" <<<"$err"
check_eq "... and the device is not stranded" "e1000e (null)" "$(drv $A) $(ovr $A)"
run state 0000:00:03.0x
check_eq "a malformed address is refused" 1 "$rc"

# --- Rollback: vfio-pci refuses the bridge (not an endpoint), so the group's e1000 goes back.
br_state="$(drv $BR) $(ovr $BR)"
run bind "$GE" $E1 $BR
check_eq "binding a bridge fails" 1 "$rc"
echo "# rollback error: $err"
check "... the sentence names the bridge" grep -q "$BR" <<<"$err"
check_eq "... $E1 rolled back to e1000, override cleared" "e1000 (null)" "$(drv $E1) $(ovr $E1)"
check_eq "... the bridge as it was" "$br_state" "$(drv $BR) $(ovr $BR)"

# --- Refusals before any write.
run bind "$GA" $E1
check "a device of another group is refused" grep -q "$E1 is in IOMMU group $GE, not $GA" <<<"$err"
check_eq "... untouched" "e1000 (null)" "$(drv $E1) $(ovr $E1)"

# --- Crash points: the tool dies at each; the next restore finishes the job. (The tool's
# parent is this shell, not vfiod, so only the tool is killed.)
crash() { VFIOD_TEST_CRASH_AT=$1 "$T" "${@:2}" >/dev/null 2>&1; echo $?; }
check_eq "crash at bind-after-override: killed" 137 "$(crash bind-after-override bind "$GA" $A)"
check_eq "... left on e1000e with override vfio-pci" "e1000e vfio-pci" "$(drv $A) $(ovr $A)"
run restore $A e1000e
check_eq "... restore clears the override" "e1000e (null)" "$(drv $A) $(ovr $A)"
check_eq "crash at bind-after-unbind: killed" 137 "$(crash bind-after-unbind bind "$GA" $A)"
check_eq "... left unbound with override vfio-pci" "none vfio-pci" "$(drv $A) $(ovr $A)"
run restore $A e1000e
check_eq "... restore binds e1000e again" "e1000e (null)" "$(drv $A) $(ovr $A)"
check_eq "crash at bind-after-probe: killed" 137 "$(crash bind-after-probe bind "$GA" $A)"
check_eq "... left on vfio-pci" "vfio-pci vfio-pci" "$(drv $A) $(ovr $A)"
check_eq "crash at restore-after-unbind: killed" 137 "$(crash restore-after-unbind restore $A e1000e)"
check_eq "... left unbound, override cleared" "none (null)" "$(drv $A) $(ovr $A)"
check_eq "crash at restore-after-bind: killed" 137 "$(crash restore-after-bind restore $A e1000e)"
check_eq "... already on e1000e" "e1000e (null)" "$(drv $A) $(ovr $A)"
run restore $A e1000e
check_eq "... and the last restore is a no-op" "0 e1000e (null)" "$rc $(drv $A) $(ovr $A)"
# Under a parent called vfiod (a copy of bash, which forks for the tool), the parent dies too.
fake=$(mktemp -d); cp /bin/bash "$fake/vfiod"
check_eq "a crash point kills a parent named vfiod too" 137 \
    "$(VFIOD_TEST_CRASH_AT=bind-after-unbind "$fake/vfiod" -c "$T bind $GA $A; echo survived" >/dev/null 2>&1; echo $?)"
run restore $A e1000e
check_eq "... and restore recovers" "0 e1000e (null)" "$rc $(drv $A) $(ovr $A)"
rm -rf "$fake"

# --- A device with no driver stays unbound on restore.
echo $B >"/sys/bus/pci/devices/$B/driver/unbind"
run bind "$GB" $B
check_eq "bind a device that had no driver" "0 vfio-pci" "$rc $(drv $B)"
run restore $B -
check_eq "... restore leaves it unbound" "0 none (null)" "$rc $(drv $B) $(ovr $B)"
echo $B >/sys/bus/pci/drivers/e1000e/bind

# --- A device that is gone: a clear error.
echo 1 >"/sys/bus/pci/devices/$B/remove"
run bind "$GB" $B
check_eq "bind of a removed device fails" 1 "$rc"
check "... saying it does not exist" grep -q "$B does not exist" <<<"$err"
echo 1 >/sys/bus/pci/rescan
udevadm settle --timeout=10
check "rescan brings it back" test -e "/sys/bus/pci/devices/$B"

finish
