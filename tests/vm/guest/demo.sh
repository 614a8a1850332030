# SPDX-License-Identifier: LGPL-2.1-or-later
# The tour shown by `tools/dev demo`: real output from vfiod running under systemd in the guest.
set -u
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }

echo "Booted $(uname -r) under QEMU with an emulated Intel IOMMU; vfiod is installed, not yet running."
run systemctl start vfiod.socket
run vfiodctl info
run vfiodctl groups
run vfiodctl list
say "vfiodctl explain 0000:02:01.0      # one e1000 of the shared bridge group: every check"
vfiodctl explain 0000:02:01.0
say "vfiodctl explain 0000:00:06.0 | grep -v ✓      # the root disk: only what failed"
vfiodctl explain 0000:00:06.0 | grep -v ✓
say "vfiodctl explain --uid=nobody 0000:00:03.0 | grep -v ✓"
vfiodctl explain --uid=nobody 0000:00:03.0 | grep -v ✓
run varlinkctl introspect /run/vfiod/io.vfiod.Broker io.vfiod.Broker | head -n 12
run systemctl status --no-pager --lines=3 vfiod.service
