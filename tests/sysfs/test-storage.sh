#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# root-storage on edits of the recorded q35 tree: every block device the host needs, not only
# what a major:minor in the daemon's own mountinfo names. 0000:00:06.0 is the root disk vda,
# 0000:00:07.0 the payload disk vdb, 0000:00:1f.2 the AHCI controller (no disks).
#   test-storage.sh VFIOD FIXTURES-DIR
set -u
vfiod=$1 fixtures=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/checks.sh"

policy=$(mktemp -d)
trap 'rm -rf "$policy"' EXIT
export VFIOD_POLICY_PATH=$policy

call() {
    timeout 30 unshare -n "$here/run-fixture" "$fixtures/$1" --edit "ip link set lo up; $2" -- \
        varlinkctl call "exec:$vfiod" "io.vfiod.Broker.$3" "$4" 2>/dev/null
}
explain() { call "$1" "$2" Explain "{\"device\":\"$3\"}"; }
# failed FIXTURE EDIT DEVICE: the failed codes, space-separated, sorted
failed() { explain "$@" | jq -r '[.checks[] | select(.passed | not) | .code] | unique | join(" ")'; }
# storage EDIT: "ADDRESS:root-storage" for every device the host's storage protects, sorted
storage() {
    call q35-aw48 "$1" ListDevices '{}' |
        jq -r '[.devices[] | select(.verdict.failed | index("root-storage")) | .address] | join(" ")'
}
# detail EDIT DEVICE: why the host needs it
detail() { call q35-aw48 "$1" ListDevices '{}' | jq -r ".devices[] | select(.address==\"$2\") | .hostUseDetail"; }
sentence() { explain q35-aw48 "$1" "$2" | jq -r '.checks[] | select(.code=="root-storage") | .sentence' | head -n1; }

vda=0000:00:06.0 vdb=0000:00:07.0 ahci=0000:00:1f.2
btrfs_root='sed -i "s# 254:0 / / # 0:33 / / #; s# - ext4 /dev/vda # - btrfs /dev/vda #" $P/self/mountinfo'
# A mounted btrfs has /sys/fs/btrfs/FSID/devices/NAME -> its block devices.
btrfs_dev() { echo "mkdir -p \$T/sys/fs/btrfs/$1/devices; ln -s ../../../../devices/pci0000:00/$2 \$T/sys/fs/btrfs/$1/devices/${2##*/}"; }
fsid=4f3c1a7e-0b7d-4e4e-9d35-3b1a6c2f9e01

# --- the recorded tree: only the ext4 root disk
check_eq "recorded: only vda" "$vda" "$(storage :)"

# --- btrfs root: anonymous 0:N in mountinfo
check_eq "btrfs root on vda" "$vda" "$(storage "$btrfs_root; $(btrfs_dev $fsid 0000:00:06.0/virtio0/block/vda)")"
check_eq "btrfs root: why" "/ on vda" "$(detail "$btrfs_root; $(btrfs_dev $fsid 0000:00:06.0/virtio0/block/vda)" $vda)"
check_eq "btrfs root over vda and vdb: both" "$vda $vdb" \
    "$(storage "$btrfs_root; $(btrfs_dev $fsid 0000:00:06.0/virtio0/block/vda); $(btrfs_dev $fsid 0000:00:07.0/virtio1/block/vdb)")"
# A btrfs known to the kernel (its sysfs directory lives while it is mounted anywhere) is
# protected even when no mountinfo we can read shows it.
check_eq "btrfs on vdb mounted nowhere we can see" "$vda $vdb" "$(storage "$(btrfs_dev $fsid 0000:00:07.0/virtio1/block/vdb)")"
# No sysfs directory matches the mount: its devices are unknown, every storage controller counts.
check_eq "btrfs root without its sysfs: fail closed" "$vda $vdb $ahci" "$(storage "$btrfs_root")"
check_eq "... and the sentence says why" \
    "$vdb backs storage the host uses (btrfs on / could not be resolved to its disks); unmount it, swapoff it or deactivate its volumes first, or pick another device" \
    "$(sentence "$btrfs_root" $vdb)"

# --- ZFS: no sysfs to resolve a pool's disks
zfs_root='sed -i "s# 254:0 / / # 0:33 / / #; s# - ext4 /dev/vda # - zfs rpool/ROOT/debian #" $P/self/mountinfo'
check_eq "zfs root: fail closed for every storage controller" "$vda $vdb $ahci" "$(storage "$zfs_root")"
check_eq "zfs root: why" "zfs on / could not be resolved to its disks" "$(detail "$zfs_root" $vdb)"
check_eq "zfs root: the NIC is not storage" "" "$(failed q35-aw48 "$zfs_root" 0000:00:03.0)"
check_eq "imported zpool with nothing mounted: fail closed" "$vda $vdb $ahci" \
    "$(storage 'mkdir -p $P/spl/kstat/zfs/tank; touch $P/spl/kstat/zfs/arcstats')"
# Network and virtual file systems need no local disk.
net='echo "90 28 0:50 / /srv rw - nfs4 server:/export rw" >> $P/self/mountinfo
     echo "91 28 0:51 / /mnt rw - fuse.sshfs user@host: rw" >> $P/self/mountinfo
     echo "92 28 0:52 / /var/lib/c rw - overlay overlay rw,lowerdir=/a,upperdir=/b" >> $P/self/mountinfo'
check_eq "nfs, sshfs and overlay mounts: no fail closed" "$vda" "$(storage "$net")"
check_eq "an unknown major-0 file system: fail closed" "$vda $vdb $ahci" \
    "$(storage 'echo "90 28 0:50 / /data rw - bcachefs /dev/vdb rw" >> $P/self/mountinfo')"

# --- swap
check_eq "swap partition on vdb" "$vda $vdb" \
    "$(storage 'printf "Filename\tType\tSize\tUsed\tPriority\n/dev/vdb                                partition\t65532\t0\t-2\n" > $P/swaps')"
check_eq "swap: why" "swap on vdb" \
    "$(detail 'printf "Filename\tType\tSize\tUsed\tPriority\n/dev/vdb                                partition\t65532\t0\t-2\n" > $P/swaps' $vdb)"
check_eq "swap file that cannot be resolved: fail closed" "$vda $vdb $ahci" \
    "$(storage 'printf "Filename\tType\tSize\tUsed\tPriority\n/nonexistent/swap\\040file file\t65532\t0\t-2\n" > $P/swaps')"

# --- holders: an LVM/dm/md volume active on vdb, not mounted
holders='mkdir -p $T/sys/devices/pci0000:00/0000:00:07.0/virtio1/block/vdb/holders
         ln -s ../../../../../../virtual/block/dm-0 $T/sys/devices/pci0000:00/0000:00:07.0/virtio1/block/vdb/holders/dm-0'
check_eq "vdb held by dm-0" "$vda $vdb" "$(storage "$holders")"
check_eq "holders: why" "vdb is held by dm-0" "$(detail "$holders" $vdb)"
check_eq "an empty holders directory is no use" "$vda" \
    "$(storage 'mkdir -p $T/sys/devices/pci0000:00/0000:00:07.0/virtio1/block/vdb/holders')"

# --- a mount only another mount namespace sees
otherns='mkdir -p $P/4242/ns; ln -s "mnt:[4026532999]" $P/4242/ns/mnt
         echo "100 90 254:16 / /data rw - ext4 /dev/vdb rw" > $P/4242/mountinfo'
check_eq "vdb mounted in pid 4242's namespace" "$vda $vdb" "$(storage "$otherns")"
check_eq "other namespace: why" "/data on vdb (mount namespace of pid 4242)" "$(detail "$otherns" $vdb)"
check_eq "a vanished pid is skipped" "$vda" "$(storage 'mkdir -p $P/4243/ns; ln -s "mnt:[4026532998]" $P/4243/ns/mnt')"
check_eq "an unreadable namespace is not skipped: fail closed" "$vda $vdb $ahci" \
    "$(storage 'mkdir -p $P/4244/ns $P/4244/mountinfo; ln -s "mnt:[4026532997]" $P/4244/ns/mnt')"

# --- loop devices: the storage under the backing file
loop='d=$T/sys/devices/virtual/block/loop0; mkdir -p $d/loop
      printf "MAJOR=7\nMINOR=0\nDEVNAME=loop0\nDEVTYPE=disk\n" > $d/uevent; echo 7:0 > $d/dev
      ln -s ../../../../class/block $d/subsystem
      ln -s ../devices/virtual/block/loop0 $T/sys/block/loop0
      ln -s ../../devices/virtual/block/loop0 $T/sys/class/block/loop0
      ln -s ../../devices/virtual/block/loop0 $T/sys/dev/block/7:0'
check_eq "loop0 backed by vdb itself" "$vda $vdb" "$(storage "$loop; echo /dev/vdb > \$d/loop/backing_file")"
check_eq "loop0 whose backing file cannot be resolved: fail closed" "$vda $vdb $ahci" \
    "$(storage "$loop; echo '/nonexistent/disk.img (deleted)' > \$d/loop/backing_file")"
check_eq "a detached loop device is no use" "$vda" "$(storage "$loop")"

# --- NVMe native multipath: the head disk lives under the virtual nvme-subsystem, the
# controllers are links of the subsystem (here vdb's virtio device plays the controller).
mpath='s=$T/sys/devices/virtual/nvme-subsystem/nvme-subsys0; mkdir -p $s/nvme0n1 $T/sys/class/nvme-subsystem
       printf "DEVNAME=nvme-subsys0\n" > $s/uevent; ln -s ../../../../class/nvme-subsystem $s/subsystem
       printf "MAJOR=259\nMINOR=0\nDEVNAME=nvme0n1\nDEVTYPE=disk\n" > $s/nvme0n1/uevent; echo 259:0 > $s/nvme0n1/dev
       ln -s ../../../../../class/block $s/nvme0n1/subsystem
       ln -s ../../../pci0000:00/0000:00:07.0/virtio1 $s/nvme0
       ln -s ../devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1 $T/sys/block/nvme0n1
       ln -s ../../devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1 $T/sys/class/block/nvme0n1
       ln -s ../../devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1 $T/sys/dev/block/259:0
       echo "100 28 259:0 / /data rw - xfs /dev/nvme0n1 rw" >> $P/self/mountinfo'
check_eq "NVMe multipath head: its controllers" "$vda $vdb" "$(storage "$mpath")"
check_eq "NVMe multipath head: why" "/data on nvme0n1" "$(detail "$mpath" $vdb)"

# --- relaxing the protection relaxes all of it
echo '{"protect":{"rootStorage":false}}' > "$policy/50-storage.json"
check_eq "protect.rootStorage=false: zfs root allowed" "" "$(failed q35-aw48 "$zfs_root" $vdb)"
rm -f "$policy/50-storage.json"

finish
