# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by test scripts (in the guest as ./checks.sh): TAP-style checks, the script fails if any check failed.
passed=0
failed=0
BROKER=/run/vfiod/io.vfiod.Broker

ok() { echo "ok - $*"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $*"; failed=$((failed + 1)); }

# check DESCRIPTION CMD...: passes when CMD succeeds.
check() {
    local desc=$1; shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (expected '$2', got '$3')"; fi
}

finish() {
    echo "# $passed checks passed, $failed failed"
    [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
}

# check_jq DESCRIPTION FILTER JSON: passes when the jq FILTER is true for JSON.
check_jq() {
    if jq -e "$2" <<<"$3" >/dev/null 2>&1; then ok "$1"; else not_ok "$1 (jq '$2' is not true)"; fi
}
