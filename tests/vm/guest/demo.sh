# SPDX-License-Identifier: LGPL-2.1-or-later
# The tour shown by `tools/dev demo`: real output from vfiod running under systemd in the guest.
set -u
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }

echo "Booted $(uname -r) under QEMU with an emulated Intel IOMMU; vfiod is installed, not yet running."
run systemctl start vfiod.socket
say "varlinkctl call /run/vfiod/io.vfiod.Broker io.vfiod.Broker.GetInfo '{}' | jq -c '.iommuUnits[] | ...'"
varlinkctl call /run/vfiod/io.vfiod.Broker io.vfiod.Broker.GetInfo '{}' |
    jq -c '.iommuUnits[] | {name, kind, addressWidthBits, addressWidthSource, devices: (.devices | length)}'
run vfiodctl info
run vfiodctl groups
run vfiodctl list
say "vfiodctl explain 0000:02:01.0      # one e1000 of the shared bridge group: every check"
vfiodctl explain 0000:02:01.0
say "vfiodctl explain 0000:00:06.0 | grep -v ✓      # the root disk: only what failed"
vfiodctl explain 0000:00:06.0 | grep -v ✓
say "vfiodctl explain --uid=nobody 0000:00:03.0 | grep -v ✓"
vfiodctl explain --uid=nobody 0000:00:03.0 | grep -v ✓

say "an unprivileged user whom the policy allows the e1000e behind the root port"
mkdir -p /etc/vfiod/policy.d
useradd --system --no-create-home --user-group dpdk
echo '{"rules":[{"name":"dpdk-nic","match":{"address":"0000:01:00.0"},"allow":{"users":["dpdk"]}}]}' \
    >/etc/vfiod/policy.d/50-demo.json
cat /etc/vfiod/policy.d/50-demo.json
run vfiodctl reload
say "setpriv --reuid=dpdk ... vfiodctl acquire 0000:01:00.0 --exec -- vfio-dma-check"
setpriv --reuid=dpdk --regid=dpdk --init-groups vfiodctl acquire 0000:01:00.0 --exec -- \
    sh -c 'echo "  LISTEN_FDNAMES=$LISTEN_FDNAMES"; vfiodctl leases; exec /usr/libexec/vfiod-tests/vfio-dma-check'
sleep 1
say "after the command exited: the device is back on its driver"
echo "  0000:01:00.0 -> $(basename "$(readlink /sys/bus/pci/devices/0000:01:00.0/driver)"), interface $(ls /sys/bus/pci/devices/0000:01:00.0/net)"
say "libvirt: a domain with a PCI host device; the hook /etc/libvirt/hooks/qemu.d/50-vfiod binds it through vfiod"
cat >/tmp/demo-vm.xml <<'XML'
<domain type='qemu'>
  <name>demo-vm</name>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source>
    </hostdev>
  </devices>
</domain>
XML
cat /tmp/demo-vm.xml
run virsh define /tmp/demo-vm.xml
run virsh start --paused demo-vm
run vfiodctl leases
sleep 1
say "varlinkctl call /run/vfiod/io.vfiod.Broker io.vfiod.Broker.ListDevices '{}' | jq -c '.devices[] | select(.heldByDomain) | ...'"
varlinkctl call /run/vfiod/io.vfiod.Broker io.vfiod.Broker.ListDevices '{}' |
    jq -c '.devices[] | select(.heldByDomain) | {address, driver, state, heldByDomain}'
say "vfiodctl acquire 0000:01:00.0 --exec -- true      # root too: the domain has it"
vfiodctl acquire 0000:01:00.0 --exec -- true
run virsh destroy demo-vm
echo "  0000:01:00.0 -> $(basename "$(readlink /sys/bus/pci/devices/0000:01:00.0/driver)")"
virsh undefine demo-vm >/dev/null
run journalctl -o cat _COMM=vfiod --no-pager -n 8
run systemctl status --no-pager --lines=3 vfiod.service
