#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Test hooks exist only in test builds. Without -Dtest-hooks the daemon has not even the names in
# its binary and reads the real /proc whatever VFIOD_TEST_PROC says; with it, it warns and GetInfo
# names the hooks that are set.
#   test-hooks.sh VFIOD FIXTURE-DIR on|off
set -u
vfiod=$1 fixture=$2 mode=$3
here=$(cd "$(dirname "$0")" && pwd)

if [ -z "${VFIOD_HOOKS_INNER:-}" ]; then
    # run-fixture points VFIOD_TEST_PROC at a copy of the fixture's /proc, with a marker added.
    exec env VFIOD_HOOKS_INNER=1 unshare --mount --propagation unchanged -- \
        bash -c 'mount --make-rprivate /run && mount -t tmpfs tmpfs /run &&
                 exec "$(dirname "$0")/run-fixture" "$2" --edit "echo \"\$(cat \$P/cmdline) vfiod-fake-proc-marker\" > \$P/cmdline" \
                      -- bash "$0" "$1" "$2" "$3"' \
        "$here/test-hooks.sh" "$vfiod" "$fixture" "$mode"
fi

. "$here/../lib/checks.sh"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
check "VFIOD_TEST_PROC is set for the daemon" test -n "${VFIOD_TEST_PROC:-}"
export VFIOD_POLICY_PATH=/nonexistent

if [ "$mode" = off ]; then
    check "no hook name in the binary" bash -c '! grep -qaE "VFIOD_TEST_|VFIOD_POLICY_PATH" "$1"' _ "$vfiod"
fi

"$vfiod" 2>"$log" &
pid=$!
for _ in $(seq 400); do [ -S "$BROKER" ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
check "daemon up" test -S "$BROKER"
out=$(varlinkctl call "$BROKER" io.vfiod.Broker.GetInfo '{}')
cmdline=$(jq -r .switches.cmdline <<<"$out")

if [ "$mode" = off ]; then
    check_eq "the real /proc/cmdline is read" "$(tr -d '\n' </proc/cmdline | sed 's/ *$//')" "$cmdline"
    check "not the fake one" bash -c '! grep -q vfiod-fake-proc-marker <<<"$1"' _ "$cmdline"
    check_jq "GetInfo has no testHooks" 'has("testHooks") | not' "$out"
    check "no test-hook warning" bash -c '! grep -q "Test hook" "$1"' _ "$log"
else
    check "the fake /proc/cmdline is read" grep -q vfiod-fake-proc-marker <<<"$cmdline"
    check_jq "GetInfo names the hooks set" '.testHooks == ["VFIOD_TEST_PROC", "VFIOD_POLICY_PATH"]' "$out"
    check "the daemon warns about each" grep -q "Test hook VFIOD_TEST_PROC=.* is active" "$log"
fi

kill -TERM "$pid"
wait "$pid"
check_eq "exit status after SIGTERM" 0 "$?"
finish
