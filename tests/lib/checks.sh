# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by test scripts (in the guest as ./checks.sh): TAP-style checks, the script fails if any check failed.
_checks_passed=0
_checks_failed=0
BROKER=/run/vfiod/io.vfiod.Broker

ok() { echo "ok - $*"; _checks_passed=$((_checks_passed + 1)); }
not_ok() { echo "not ok - $*"; _checks_failed=$((_checks_failed + 1)); }

# check DESCRIPTION CMD...: passes when CMD succeeds. CMD's output is dropped here, so a caller
# never redirects (which would swallow the ok/not ok line too).
check() {
    local desc=$1; shift
    if "$@" >/dev/null; then ok "$desc"; else not_ok "$desc"; fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (expected '$2', got '$3')"; fi
}

finish() {
    echo "# $_checks_passed checks passed, $_checks_failed failed"
    [ "$_checks_failed" -eq 0 ] && [ "$_checks_passed" -gt 0 ]
}

# check_jq DESCRIPTION FILTER JSON: passes when the jq FILTER is true for JSON.
check_jq() {
    if jq -e "$2" <<<"$3" >/dev/null 2>&1; then ok "$1"; else not_ok "$1 (jq '$2' is not true)"; fi
}
