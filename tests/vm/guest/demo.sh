# SPDX-License-Identifier: LGPL-2.1-or-later
# The tour shown by `tools/dev demo`: real output from vfiod running under systemd in the guest.
set -u
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }

echo "Booted $(uname -r) with $(cat /sys/class/iommu/*/intel-iommu/cap >/dev/null 2>&1 && echo "an Intel IOMMU")."
run systemctl start vfiod.socket
run varlinkctl introspect /run/vfiod/io.vfiod.Broker io.vfiod.Broker
say "varlinkctl call /run/vfiod/io.vfiod.Broker io.vfiod.Broker.GetInfo '{}'"
out=$(varlinkctl call /run/vfiod/io.vfiod.Broker io.vfiod.Broker.GetInfo '{}')
jq . <<<"$out"

say "the IOMMU units, in short"
jq -r '.iommuUnits[] | "\(.name)  \(.kind)  \(.addressWidthBits // "?") bits  (\(.addressWidthSource))  serves \(.devices | length) devices"' <<<"$out"
run systemctl status --no-pager --lines=3 vfiod.service
