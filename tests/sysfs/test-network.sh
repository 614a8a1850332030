#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# routed-interface on the usual server network setups. Each call runs in a network namespace
# of its own, where a veth named enp0s3 stands in for the NIC 0000:00:03.0 of the q35-aw48
# fixture (its recorded sysfs has net/enp0s3 under the PCI device): bridges, bonds, VLANs,
# macvlan, a large ifindex, policy routing, nexthop objects.
#   test-network.sh VFIOD FIXTURES-DIR
set -u
vfiod=$1 fixtures=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/checks.sh"

policy=$(mktemp -d)
trap 'rm -rf "$policy"' EXIT
export VFIOD_POLICY_PATH=$policy

call() {
    timeout 60 unshare -n "$here/run-fixture" "$fixtures/q35-aw48" --edit "ip link set lo up; $1" -- \
        varlinkctl call "exec:$vfiod" "io.vfiod.Broker.$2" "$3" 2>/dev/null
}
# failed EDIT: the failed codes of 0000:00:03.0, space-separated, sorted
failed() {
    call "$1" Explain '{"device":"0000:00:03.0"}' | jq -r '[.checks[] | select(.passed | not) | .code] | unique | join(" ")'
}
detail() { call "$1" ListDevices '{}' | jq -r '.devices[] | select(.address=="0000:00:03.0") | .hostUseDetail'; }
# case NAME EDIT DETAIL: 0000:00:03.0 fails routed-interface, and the detail says why
case_() {
    if [ -n "${needs:-}" ] && ! unshare -n ip link add x type "$needs" $needs_args 2>/dev/null; then
        echo "# skip $1: this kernel cannot make a $needs device (the vm test network.sh covers it)"
        return
    fi
    check_eq "$1: routed-interface" "routed-interface" "$(failed "$2")"
    check_eq "$1: why" "$3" "$(detail "$2")"
}

nic='ip link add enp0s3 type veth peer name peer0; ip link set peer0 up; ip link set enp0s3 up'

check_eq "the NIC alone, no address: passes" "" "$(failed "$nic")"

case_ bridge "$nic; ip link add br0 type bridge; ip link set enp0s3 master br0; ip link set br0 up
    ip addr add 192.0.2.1/24 dev br0; ip route add default via 192.0.2.254" \
    "enp0s3 is a port of br0, which has an address; enp0s3 is a port of br0, which has a route"

needs=bond needs_args=
case_ bond "$nic; ip link set enp0s3 down; ip link add bond0 type bond mode active-backup
    ip link set enp0s3 master bond0; ip link set bond0 up; ip addr add 192.0.2.1/24 dev bond0" \
    "enp0s3 is a slave of bond0, which has an address"

case_ "bond under a bridge" "$nic; ip link set enp0s3 down; ip link add bond0 type bond mode active-backup
    ip link set enp0s3 master bond0; ip link add br0 type bridge; ip link set bond0 master br0
    ip link set bond0 up; ip link set br0 up; ip addr add 192.0.2.1/24 dev br0" \
    "enp0s3 is a slave of bond0, which is a port of br0, which has an address"

needs=vlan needs_args="link lo id 10"
case_ vlan "$nic; ip link add link enp0s3 name enp0s3.10 type vlan id 10; ip link set enp0s3.10 up
    ip addr add 192.0.2.1/24 dev enp0s3.10" \
    "enp0s3 is the lower device of enp0s3.10, which has an address"

needs= needs_args=
case_ macvlan "$nic; ip link add link enp0s3 name mv0 type macvlan mode bridge; ip link set mv0 up
    ip -6 addr add 2001:db8::1/64 dev mv0 nodad" \
    "enp0s3 is the lower device of mv0, which has an address"

# ifindex grows with every interface ever made in a namespace; a large one, set directly.
case_ "ifindex >= 4096" "ip link add enp0s3 index 70000 type veth peer name peer0; ip link set peer0 up; ip link set enp0s3 up
    ip addr add 192.0.2.1/24 dev enp0s3" \
    "enp0s3 has an address"

# Policy routing: the only route is in table 100, found through an ip rule; no address.
case_ "route only in table 100" "$nic; ip route add 198.51.100.0/24 dev enp0s3 table 100
    ip rule add from 203.0.113.0/24 table 100" \
    "enp0s3 has a route"

case_ "IPv6 route only in table 200" "$nic; ip -6 route add 2001:db8:1::/48 dev enp0s3 table 200" \
    "enp0s3 has a route"

# Nexthop objects, without the compatibility view that repeats the device in the route.
nhcompat='sysctl -qw net.ipv4.nexthop_compat_mode=0'
case_ "route via a nexthop object" "$nic; $nhcompat; ip nexthop add id 1 dev enp0s3
    ip route add 198.51.100.0/24 nhid 1" \
    "enp0s3 has a route"

case_ "route via a nexthop group" "$nic; $nhcompat
    ip nexthop add id 1 dev peer0; ip nexthop add id 2 dev enp0s3; ip nexthop add id 10 group 1/2
    ip route add 198.51.100.0/24 nhid 10" \
    "enp0s3 has a route"

# The NIC's netdev is not in vfiod's namespace: sysfs then shows its net/ directory empty.
case_ "netdev in another network namespace" 'rm -rf $T/sys/devices/pci0000:00/0000:00:03.0/net/enp0s3' \
    "its network interface is in another network namespace"

finish
