# SPDX-License-Identifier: LGPL-2.1-or-later
# In the guest, on the real kernel: routed-interface protects the NICs the host's networking runs
# over — a bridge port with the address on the bridge, bond slaves, the lower device of a VLAN,
# a NIC moved into another network namespace. Each refuses Bind with the NIC left on e1000e, and
# passes again once the setup is gone. The standard topology: 0000:00:03.0 and 0000:01:00.0 are
# e1000e NICs.
set -u
. ./checks.sh
B=io.vfiod.Broker
A=0000:00:03.0 C=0000:01:00.0
call() { varlinkctl call "$BROKER" "$B.$1" "${2:-{\}}"; }
driver() { basename "$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null)" 2>/dev/null || echo none; }
host_state() { for d in /sys/bus/pci/devices/*; do echo "$(basename "$d") $(driver "$(basename "$d")")"; done; }
ifname() { ls "/sys/bus/pci/devices/$1/net/" | head -n1; }
# routed DEVICE: true when Explain says routed-interface failed for DEVICE
routed() { call Explain "{\"device\":\"$1\"}" | jq -r '[.checks[] | select(.code=="routed-interface") | .passed | not] | any'; }
detail() { call ListDevices | jq -r ".devices[] | select(.address==\"$1\") | .hostUseDetail"; }
# refused NAME DEVICE...: Bind of DEVICEs is Denied for routed-interface, and no driver moved
refused() {
    local name=$1; shift
    local before err devs
    before=$(host_state)
    devs=$(printf '"%s",' "$@")
    err=$(call Bind "{\"devices\":[${devs%,}]}" 2>&1)
    check "$name: Bind -> Denied" grep -q "$B.Denied" <<<"$err"
    check "$name: ... for routed-interface" grep -q "routed-interface" <<<"$err"
    for d in "$@"; do check_eq "$name: $d stays on e1000e" e1000e "$(driver "$d")"; done
    check_eq "$name: host untouched" "$before" "$(host_state)"
}

systemctl start vfiod.socket
# The first call starts the daemon (socket activation); on a loaded TCG host that can be slow.
for _ in $(seq 60); do call GetInfo >/dev/null 2>&1 && break; sleep 2; done
a=$(ifname $A) c=$(ifname $C)
echo "# $A is $a, $C is $c"
check "both NICs have an interface" test -n "$a" -a -n "$c"
check_eq "no setup: $A passes routed-interface" false "$(routed $A)"
check_eq "no setup: $C passes routed-interface" false "$(routed $C)"

# --- the NIC as a bridge port, the address and the default route on the bridge
ip link add br0 type bridge
ip link set "$a" master br0
ip link set "$a" up
ip link set br0 up
ip addr add 192.0.2.1/24 dev br0
ip route add default via 192.0.2.254 dev br0 onlink
check_eq "bridge: $A fails routed-interface" true "$(routed $A)"
check_eq "bridge: why" "$a is a port of br0, which has an address; $a is a port of br0, which has a route" "$(detail $A)"
refused bridge $A
ip link del br0
check_eq "bridge gone: $A passes again" false "$(routed $A)"

# --- both NICs in a bond with the address on the bond
ip link add bond0 type bond mode active-backup
ip link set "$a" down
ip link set "$c" down
ip link set "$a" master bond0
ip link set "$c" master bond0
ip link set bond0 up
ip addr add 192.0.2.1/24 dev bond0
check_eq "bond: $A fails routed-interface" true "$(routed $A)"
check_eq "bond: $C fails routed-interface" true "$(routed $C)"
check_eq "bond: why" "$c is a slave of bond0, which has an address" "$(detail $C)"
refused bond $A
refused "bond, both slaves" $A $C
ip link del bond0
check_eq "bond gone: $A passes again" false "$(routed $A)"
check_eq "bond gone: $C passes again" false "$(routed $C)"

# --- a VLAN on the NIC, the address on the VLAN
ip link set "$c" up
ip link add link "$c" name vlan10 type vlan id 10
ip link set vlan10 up
ip addr add 192.0.2.1/24 dev vlan10
check_eq "vlan: $C fails routed-interface" true "$(routed $C)"
check_eq "vlan: why" "$c is the lower device of vlan10, which has an address" "$(detail $C)"
refused vlan $C
ip link del vlan10
check_eq "vlan gone: $C passes again" false "$(routed $C)"

# --- the NIC moved into another network namespace (a container's)
ip netns add c1
ip link set "$c" netns c1
ip -n c1 addr add 192.0.2.9/24 dev "$c"
ip -n c1 link set "$c" up
echo "# in the host namespace, sysfs shows $C/net/ as: [$(ls -A /sys/bus/pci/devices/$C/net/ 2>&1)]"
check "netns: $C/net/ is there" test -d /sys/bus/pci/devices/$C/net
check_eq "netns: ... and empty here" "" "$(ls -A /sys/bus/pci/devices/$C/net/)"
check_eq "netns: $C fails routed-interface" true "$(routed $C)"
check_eq "netns: why" "its network interface is in another network namespace" "$(detail $C)"
refused netns $C
ip netns del c1
# The kernel hands a physical netdev back to the host namespace when its namespace goes.
for _ in $(seq 50); do [ -n "$(ifname $C)" ] && break; sleep 0.2; done
check_eq "netns gone: the interface is back" "$c" "$(ifname $C)"
check_eq "netns gone: $C passes again" false "$(routed $C)"

finish
