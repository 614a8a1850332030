#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vfiod.policy(5) documents every reason code and every policy key the code knows. Both lists are
# read from the sources, not kept here: the evaluator's emit() calls and host-check table, the
# broker's own Checks (Check.code), and the loader's field tables.
#   test-manuals.sh SOURCE-ROOT MAN-PAGE
set -euo pipefail
src=$1 page=$2
fail=0

codes=$( { grep -ho 'emit([a-z]*, "[a-z-]*"' "$src"/src/policy/*.c | sed 's/.*"\(.*\)"/\1/'
           grep -ho '{ "[a-z-]*", HOST_USE_' "$src"/src/policy/policy-eval.c | sed 's/{ "\(.*\)".*/\1/'
           # checks the broker makes itself (user-namespace); none is fine, the counts below guard
           grep -ho '\.code = "[a-z-]*"' "$src"/src/broker/*.c "$src"/src/daemon/*.c | sed 's/.*"\(.*\)"/\1/' || true
         } | sort -u)
keys=$(grep -ho '^ *{ "[A-Za-z]*", *parse_[a-z_]*, *\(offsetof\|0\)' "$src"/src/policy/policy-load.c |
       sed 's/^ *{ "\([A-Za-z]*\)".*/\1/' | sort -u)

# If the patterns stop matching the code, fail rather than check nothing.
n_codes=$(wc -w <<<"$codes") n_keys=$(wc -w <<<"$keys")
echo "# $n_codes reason codes, $n_keys policy keys in the sources"
[ "$n_codes" -ge 20 ] || { echo "not ok - found only $n_codes reason codes in the sources"; exit 1; }
[ "$n_keys" -ge 20 ] || { echo "not ok - found only $n_keys policy keys in the sources"; exit 1; }

# The page as text: roff's \- is a hyphen. Each code and key is an item heading in bold.
text=$(sed 's/\\-/-/g' "$page")
for c in $codes; do
    # a code is an item heading (.TP then the bold code alone) followed by its sentence
    if grep -A1 -x '\.TP' <<<"$text" | grep -qxF "\\fB$c\\fR"; then echo "ok - reason code $c"
    else echo "not ok - reason code $c has no entry in $(basename "$page")"; fail=1; fi
done
for k in $keys; do
    if grep -A1 -x '\.TP' <<<"$text" | grep -q "^\\\\fB$k\\\\fR\\( \\|$\\)"; then echo "ok - policy key $k"
    else echo "not ok - policy key $k has no entry in $(basename "$page")"; fail=1; fi
done
for d in /usr/share/vfiod/policy.d /etc/vfiod/policy.d /run/vfiod/policy.d /dev/null; do
    if grep -qF "$d" <<<"$text"; then echo "ok - names $d"; else echo "not ok - does not name $d"; fail=1; fi
done
exit $fail
