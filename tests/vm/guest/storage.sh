# SPDX-License-Identifier: LGPL-2.1-or-later
# In the guest, on the real kernel: root-storage protects every disk the host uses, not only
# the ones a major:minor in the daemon's own mountinfo names. Three scratch disks:
#   --disk swap:64 --disk btr:256 --disk lvm:128  (0000:00:10.0, 00:11.0, 00:12.0)
# Each use is refused (Explain and Bind, the driver unchanged) and passes again once undone.
set -u
. ./checks.sh
B=io.vfiod.Broker
call() { varlinkctl call "$BROKER" "$B.$1" "${2:-{\}}"; }
driver() { basename "$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null)" 2>/dev/null || echo none; }
failed() { call Explain "{\"device\":\"$1\"}" | jq -r '[.checks[] | select(.passed | not) | .code] | unique | join(" ")'; }
detail() { call ListDevices | jq -r ".devices[] | select(.address==\"$1\") | .hostUseDetail"; }
# in_use WHAT DEVICE DETAIL: Explain fails root-storage for why, vfiodctl says so, Bind is
# refused and the disk stays on virtio-pci.
in_use() {
    local err
    check_eq "$1: root-storage" root-storage "$(failed "$2")"
    check_eq "$1: why" "$3" "$(detail "$2")"
    check "$1: vfiodctl explain refuses" bash -c "! vfiodctl explain $2 >/dev/null"
    err=$(call Bind "{\"devices\":[\"$2\"]}" 2>&1)
    check "$1: Bind -> Denied" grep -q "$B.Denied" <<<"$err"
    check "$1: ... for root-storage" grep -q root-storage <<<"$err"
    check_eq "$1: ... still on virtio-pci" virtio-pci "$(driver "$2")"
}
# Mounts in other namespaces and holders change with no notification vfiod can watch: an Explain may
# answer on facts up to 1 s old there (docs/DESIGN.md, "Load and hostile callers"); Bind and Acquire
# always judge again on facts read at that moment. Wait that second before asking Explain.
facts_age() { sleep 1.2; }
# unused WHAT DEVICE: passes root-storage again (retried: some teardown is asynchronous)
unused() {
    local got
    for _ in $(seq 20); do got=$(failed "$2"); [ -z "$got" ] && break; sleep 0.5; done
    check_eq "$1: free again" "" "$got"
}
SWAP=0000:00:10.0 BTR=0000:00:11.0 LVM=0000:00:12.0
swapdev=$(readlink -f /dev/disk/by-id/virtio-swap)
btrdev=$(readlink -f /dev/disk/by-id/virtio-btr)
lvmdev=$(readlink -f /dev/disk/by-id/virtio-lvm)
check_eq "scratch disks where expected" "$SWAP $BTR $LVM" \
    "$(for d in $swapdev $btrdev $lvmdev; do basename "$(readlink -f "/sys/class/block/${d#/dev/}/device/..")"; done | xargs)"

systemctl start vfiod.socket
for d in $SWAP $BTR $LVM; do check_eq "$d unused at first: passes" "" "$(failed $d)"; done
check_eq "the root disk is still protected" root-storage "$(failed 0000:00:06.0)"

# --- swap partition: never in mountinfo
mkswap -q "$swapdev" && swapon "$swapdev"
in_use "swap" $SWAP "swap on ${swapdev#/dev/}"
check "the swap area survived" grep -q "^$swapdev " /proc/swaps
swapoff "$swapdev"
unused "swapoff" $SWAP

# --- btrfs: 0:N in mountinfo; the devices come from /sys/fs/btrfs
mkfs.btrfs -q -f "$btrdev" >/dev/null
mkdir -p /mnt/btr
mount "$btrdev" /mnt/btr
check_jq "btrfs has an anonymous device number" 'startswith("0:")' \
    "\"$(awk '$5 == "/mnt/btr" { print $3 }' /proc/self/mountinfo)\""
in_use "btrfs" $BTR "/mnt/btr on ${btrdev#/dev/}"
umount /mnt/btr
unused "btrfs unmounted" $BTR

# --- the same btrfs mounted only in another mount namespace, kept alive by a sleeper
unshare -m --propagation private sh -c "mount $btrdev /mnt/btr && exec sleep 1000" &
ns_pid=$!
for _ in $(seq 20); do grep -q " /mnt/btr " /proc/$ns_pid/mountinfo 2>/dev/null && break; sleep 0.5; done
check "mounted in pid $ns_pid's namespace" grep -q " /mnt/btr " /proc/$ns_pid/mountinfo
check "... and not in ours" bash -c "! grep -q ' /mnt/btr ' /proc/self/mountinfo"
facts_age
in_use "btrfs in another namespace" $BTR "/mnt/btr on ${btrdev#/dev/} (mount namespace of pid $ns_pid)"
kill $ns_pid
wait $ns_pid 2>/dev/null
unused "namespace gone" $BTR

# --- LVM: an active LV nobody mounted (a VM's disk) holds the PV
pvcreate -qq "$lvmdev" && vgcreate -qq vfiodtest "$lvmdev" && lvcreate -qq -y -L 32M -n vm0 vfiodtest
dm=$(basename "$(readlink -f /dev/vfiodtest/vm0)")
check "the PV has a holder" test -e "/sys/class/block/${lvmdev#/dev/}/holders/$dm"
facts_age
in_use "active LV" $LVM "${lvmdev#/dev/} is held by $dm"
# Mounted, the LV is followed down its slaves as well.
mkfs.ext4 -q /dev/vfiodtest/vm0 && mkdir -p /mnt/lv && mount /dev/vfiodtest/vm0 /mnt/lv
check_jq "mounted LV: the mount is named too" 'contains("/mnt/lv on '"${lvmdev#/dev/}"'")' "\"$(detail $LVM)\""
umount /mnt/lv
lvchange -qq -an vfiodtest/vm0
unused "LV deactivated" $LVM

# --- a loop device whose backing file is on the swap disk, its file system lazily unmounted:
# only the loop device keeps the disk busy.
mkfs.ext4 -q -F "$swapdev" && mkdir -p /mnt/img && mount "$swapdev" /mnt/img
truncate -s 8M /mnt/img/disk.img
loopdev=$(losetup -f --show /mnt/img/disk.img)
umount -l /mnt/img
check "the disk is no longer mounted" bash -c "! grep -q ' ${swapdev#/dev/} ' /proc/self/mountinfo && ! grep -q '^[0-9]* [0-9]* $(cat /sys/class/block/${swapdev#/dev/}/dev) ' /proc/self/mountinfo"
check_eq "loop device: root-storage" root-storage "$(failed $SWAP)"
err=$(call Bind "{\"devices\":[\"$SWAP\"]}" 2>&1)
check "loop device: Bind -> Denied" grep -q root-storage <<<"$err"
check_eq "loop device: ... still on virtio-pci" virtio-pci "$(driver $SWAP)"
echo "# loop detail: $(detail $SWAP)"
losetup -d "$loopdev"
unused "loop device detached" $SWAP

check_eq "nothing was bound to vfio-pci" "" "$(ls /sys/bus/pci/drivers/vfio-pci | grep '^0000:' | xargs)"
finish
