#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The daemon started by hand (no socket passed) binds its socket, serves several clients, refuses
# bad calls, and on SIGTERM exits 0, cleanly: under ASan/UBSan this is where leaks and undefined
# behaviour show, because the exit status and stderr of the daemon itself are checked.
#   test-lifecycle.sh VFIOD FIXTURE-DIR [valgrind]
# With "valgrind", the daemon runs under memcheck and any definite leak or memory error fails.
set -u
vfiod=$1 fixture=$2 mode=${3:-}
here=$(cd "$(dirname "$0")" && pwd)

if [ -z "${VFIOD_LIFECYCLE_INNER:-}" ]; then
    # A private /run so parallel tests and the host's own /run/vfiod are untouched. "/" need not
    # be a mount point (we may be in a chroot), so only /run is made private before covering it.
    exec env VFIOD_LIFECYCLE_INNER=1 unshare --mount --propagation unchanged -- \
        bash -c 'mount --make-rprivate /run && mount -t tmpfs tmpfs /run &&
                 exec "$(dirname "$0")/run-fixture" "$2" -- bash "$0" "$1" "$2" "$3"' \
        "$here/test-lifecycle.sh" "$vfiod" "$fixture" "$mode"
fi

. "$here/../lib/checks.sh"
export VFIOD_POLICY_PATH=/nonexistent
log=$(mktemp)
wrap=()
if [ "$mode" = valgrind ]; then
    wrap=(valgrind --quiet --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite
          --error-exitcode=99)
fi
"${wrap[@]}" "$vfiod" 2>"$log" &
pid=$!
for _ in $(seq 400); do [ -S "$BROKER" ] && break; sleep 0.05; done
check "binds $BROKER when started by hand" test -S "$BROKER"
check_eq "socket is world-connectable (policy decides, not the mode)" 666 "$(stat -c %a "$BROKER")"

for i in 1 2 3; do
    out=$(varlinkctl call "$BROKER" io.vfiod.Broker.GetInfo '{}')
    check_eq "call $i answered" dmar0 "$(jq -r '.iommuUnits[0].name' <<<"$out")"
done
check "wrong type -> error" bash -c "! varlinkctl call $BROKER io.vfiod.Broker.GetInfo '[]' 2>/dev/null"
check "unknown method -> error" bash -c "! varlinkctl call $BROKER io.vfiod.Broker.Nope '{}' 2>/dev/null"
# A client that sends half a message and goes away.
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.send(b"{\"method\":\"io.vfiod.Bro"); s.close()' "$BROKER"
out=$(varlinkctl call "$BROKER" io.vfiod.Broker.GetInfo '{}')
check_jq "still answers after a client vanished mid-message" '.iommuUnits | length == 1' "$out"

check "alive" kill -0 "$pid"
kill -TERM "$pid"
wait "$pid"
check_eq "exit status after SIGTERM" 0 "$?"
if grep -qE "Sanitizer|runtime error|definitely lost|Invalid (read|write)|uninitialised" "$log"; then
    cat "$log"
    not_ok "sanitizers or valgrind reported problems"
else
    ok "no sanitizer or valgrind reports"
fi
rm -f "$log"
finish
