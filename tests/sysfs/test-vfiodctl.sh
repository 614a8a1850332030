#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vfiodctl against the real daemon on a recorded sysfs tree: the error paths people hit first (no
# daemon, a mistyped address, an unknown command), then every verb on a daemon started by hand in a
# private /run, as test-lifecycle.sh does it.
#   test-vfiodctl.sh VFIOD VFIODCTL FIXTURE
# FIXTURE is a .umockdev file or a fixture directory (see run-fixture).
set -u
vfiod=$1 vfiodctl=$2 fixture=$3
here=$(cd "$(dirname "$0")" && pwd)

if [ -z "${VFIODCTL_TEST_INNER:-}" ]; then
    if [ -d "$fixture" ]; then
        runner=("$here/run-fixture" "$fixture" --)
    else
        runner=(umockdev-run -d "$fixture" --)
    fi
    # A private /run so parallel tests and the host's own /run/vfiod are untouched; a network
    # namespace of its own so the host's routes do not decide verdicts (routed-interface).
    exec env VFIODCTL_TEST_INNER=1 unshare --mount --net --propagation unchanged -- \
        bash -c 'mount --make-rprivate /run && mount -t tmpfs tmpfs /run &&
                 s=$0 a=$1 b=$2 c=$3 && shift 3 && exec "$@" bash "$s" "$a" "$b" "$c"' \
        "$here/test-vfiodctl.sh" "$vfiod" "$vfiodctl" "$fixture" "${runner[@]}"
fi

. "$here/../lib/checks.sh"
# Glyphs (✓ ✗ —) and widths do not depend on whoever runs the test.
export LC_ALL=C.UTF-8
unset NO_COLOR

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sanitizer_log=$tmp/sanitizers

# run ARGS...: vfiodctl's stdout in $out, stderr in $err, exit status in $rc.
run() {
    out=$(timeout 20 "$vfiodctl" "$@" 2>"$tmp/err")
    rc=$?
    err=$(cat "$tmp/err")
    cat "$tmp/err" >>"$sanitizer_log"
}

# wait_for PID: its exit status, or 124 after killing it when it hangs for 10 s.
wait_for() {
    for _ in $(seq 200); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$1" 2>/dev/null; then
        kill -KILL "$1"
        wait "$1"
        return 124
    fi
    wait "$1"
}

# Every row of a table has its second column where the header says it is.
columns_aligned() {
    local table=$1 second=$2 col
    col=$(head -n1 <<<"$table" | awk -v h="$second" '{ print index($0, h) }')
    [ "$col" -gt 1 ] || return 1
    tail -n +2 <<<"$table" | awk -v c="$col" 'NF == 0 { exit } substr($0, c - 1, 1) != " " || substr($0, c, 1) == " " { bad = 1 } END { exit bad }'
}

# --- without a daemon -------------------------------------------------------------------------
run --help
check_eq "--help exits 0" 0 "$rc"
check "--help lists the commands" grep -q "explain DEVICE" <<<"$out"
run help monitor
check_eq "help COMMAND exits 0" 0 "$rc"
check "help monitor says how it ends" grep -q "SIGTERM" <<<"$out"
run explain --help
check "COMMAND --help shows that command's help" grep -q "DDDD:BB:DD.F" <<<"$out"

run bogus
check_eq "unknown command -> exit 2" 2 "$rc"
check_eq "unknown command message" "vfiodctl: unknown command 'bogus'; see 'vfiodctl --help'" "$err"
run --frobnicate info
check_eq "unknown option -> exit 2" 2 "$rc"
run explain
check_eq "explain without a device -> exit 2" 2 "$rc"
run list extra
check_eq "too many arguments -> exit 2" 2 "$rc"
run list --uid=0
check_eq "--uid= on another command -> exit 2" 2 "$rc"
run explain 00:03.0 --uid=no-such-user-here
check_eq "--uid= with an unknown user -> exit 2" 2 "$rc"

# Addresses are checked before any connection is made: no daemon runs yet.
for bad in 0000:zz:00.0 00:03 0000:00:20.0 00:03.8 0000:000:03.0 foo 00:03.0x; do
    run explain "$bad"
    check_eq "'$bad' refused locally with exit 2" 2 "$rc"
    check "'$bad': the message says what is wrong" grep -q "is not a PCI address: " <<<"$err"
done

# bind, unbind, acquire, release, leases: the command line is checked before any connection is made.
run --help
check "--help lists the lease commands" grep -qE "^  (bind|unbind|acquire|release|leases) " <<<"$out"
run help acquire
check_eq "help acquire exits 0" 0 "$rc"
check "help acquire names the fds without ':'" \
    grep -q "vfio-device.DDDD-BB-DD.F" <<<"$out"
check "help acquire names the container fd" grep -qE "^  vfio-container  " <<<"$out"
check "help acquire documents the convention" grep -q "LISTEN_FDNAMES" <<<"$out"
for verb in bind unbind acquire release; do
    run "$verb"
    check_eq "$verb without an argument -> exit 2" 2 "$rc"
    check "$verb without an argument: says so" grep -q "^vfiodctl: $verb: missing argument; usage: " <<<"$err"
done
run release a-1 a-2
check_eq "release takes one lease id" 2 "$rc"
run release ""
check_eq "release of an empty id -> exit 2" 2 "$rc"
run leases extra
check_eq "leases takes no argument" 2 "$rc"
for verb in bind unbind acquire; do
    run "$verb" 00:03.0 0000:zz:00.0
    check_eq "$verb with a bad address -> exit 2" 2 "$rc"
    check_eq "$verb: the bad address is named" \
        "vfiodctl: '0000:zz:00.0' is not a PCI address: the bus must be 1 or 2 hex digits (e.g. 0000:01:00.0)" "$err"
done
run acquire 00:03.0 --exec
check_eq "acquire --exec without -- CMD -> exit 2" 2 "$rc"
check_eq "acquire --exec without CMD: message" \
    "vfiodctl: acquire: --exec needs a command: --exec -- CMD [ARGS...]" "$err"
run acquire 00:03.0 --exec --
check_eq "acquire --exec -- with nothing after -> exit 2" 2 "$rc"
run acquire 00:03.0 -- true
check_eq "acquire -- CMD without --exec -> exit 2" 2 "$rc"
check_eq "acquire -- CMD without --exec: message" \
    "vfiodctl: acquire: a command after -- needs --exec: --exec -- CMD [ARGS...]" "$err"
for bad in 0 65 -1 4x 0x; do
    run acquire 00:03.0 --min-aperture-bits="$bad"
    check_eq "--min-aperture-bits=$bad -> exit 2" 2 "$rc"
done
for bad in foo 0x2000-0x1000 0x1000 -0x1000 0x0x1-0x2 1-0x 0x1-0x1ffffffffffffffff " 1-2"; do
    run acquire 00:03.0 "--iova=$bad"
    check_eq "--iova=$bad -> exit 2" 2 "$rc"
    check "--iova=$bad: the message names the option" grep -q "^vfiodctl: --iova=" <<<"$err"
done
run list --iova=0-0xfff
check_eq "--iova= on another command -> exit 2" 2 "$rc"
run list --min-aperture-bits=39
check_eq "--min-aperture-bits= on another command -> exit 2" 2 "$rc"
run bind 00:03.0 --exec -- true
check_eq "--exec on another command -> exit 2" 2 "$rc"
# Well-formed: vfiodctl gets as far as connecting. What follows -- is CMD's, even what looks like
# an option of ours, and for other commands -- only ends the options.
run acquire 00:03.0 --min-aperture-bits=39 --iova=0x100000-0x2fffff --iova=0-4095 --exec -- true --frobnicate --json
check_eq "acquire: options after -- belong to CMD" 1 "$rc"
check "acquire: well-formed, then no daemon" grep -q "^vfiodctl: cannot reach vfiod at " <<<"$err"
run explain -- 00:03.0
check "explain -- DEVICE: -- ends the options" grep -q "^vfiodctl: cannot reach vfiod at " <<<"$err"
run leases
check_eq "leases without a daemon -> exit 1" 1 "$rc"

run info
check_eq "no daemon -> exit 1" 1 "$rc"
check_eq "no daemon: one clear line" \
    "vfiodctl: cannot reach vfiod at $BROKER: No such file or directory — is vfiod.socket running?" "$err"
run --address=/run/elsewhere/broker list
check_eq "--address= is used" \
    "vfiodctl: cannot reach vfiod at /run/elsewhere/broker: No such file or directory — is vfiod.socket running?" "$err"

# A socket in a directory the caller may not search.
mkdir -m 0700 /run/locked
if setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$vfiodctl" 2>/dev/null; then
    err=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$vfiodctl" --address=/run/locked/sock info 2>&1)
    check_eq "no access -> Permission denied" "vfiodctl: cannot reach vfiod at /run/locked/sock: Permission denied" "$err"
else
    ok "# SKIP the build directory is not reachable for uid 65534"
fi

# --- the daemon, started by hand on a private policy ------------------------------------------
policy=$tmp/policy.d
mkdir "$policy"
cat >"$policy/50-test.json" <<'EOF'
{ "rules": [ { "name": "no-bridged-nics", "match": { "address": "0000:02:*" }, "deny": true } ] }
EOF
export VFIOD_POLICY_PATH=$policy
"$vfiod" 2>"$tmp/vfiod.log" &
pid=$!
for _ in $(seq 100); do [ -S "$BROKER" ] && break; sleep 0.05; done
check "daemon binds $BROKER" test -S "$BROKER"
if ! [ -S "$BROKER" ]; then
    # Everything below needs the daemon: say why it is missing instead of failing each check.
    cat "$tmp/vfiod.log"
    finish
    exit 1
fi

run info
check_eq "info exits 0" 0 "$rc"
check_eq "info: nothing on stderr" "" "$err"
echo "$out"
check "info: version line" grep -qE "^vfiod [0-9]+\.[0-9]+" <<<"$out"
check "info: kernel release" grep -qF "$(uname -r)" <<<"$out"
check "info: the IOMMU unit with its width" grep -qE "^  dmar0 +intel +48 bits" <<<"$out"
check "info: no colours into a pipe" bash -c '! grep -q $'"'"'\e'"'"' <<<"$1"' _ "$out"
run --json info
check_eq "info --json exits 0" 0 "$rc"
check_eq "info --json is one line for scripts" 1 "$(wc -l <<<"$out")"
check_jq "info --json is the daemon's reply" '.iommuUnits[0].name == "dmar0" and .iommuUnits[0].addressWidthBits == 48' "$out"
reply=$(varlinkctl call "$BROKER" io.vfiod.Broker.GetInfo '{}' | jq -cS '{version, kernel, iommuUnits}')
check "varlinkctl answers GetInfo" test -n "$reply"
check_eq "info --json matches varlinkctl" "$reply" "$(jq -cS '{version, kernel, iommuUnits}' <<<"$out")"

run list
check_eq "list exits 0" 0 "$rc"
echo "$out"
list=$out
check "list: header" grep -qE "^ADDRESS +VENDOR:DEVICE +CLASS +DRIVER +STATE +GROUP +UNIT +VERDICT +MODEL$" <<<"$out"
check "list: the root-bus e1000e" grep -qE "^0000:00:03\.0 +8086:10d3 +020000 " <<<"$out"
check "list: columns aligned from the data" columns_aligned "$list" "VENDOR:DEVICE"
check "list: the denying rule's devices show the reason" grep -qE "^0000:02:01\.0 .*denied" <<<"$out"
run --json list
check_eq "list --json exits 0" 0 "$rc"
n_devices=$(jq '.devices | length' <<<"$out" 2>/dev/null)
check "list --json has devices" test "${n_devices:-0}" -gt 0
check "list: footer counts them" grep -qx "${n_devices:-x} devices listed." <<<"$list"
run --no-legend list
check_eq "list --no-legend: one line per device, nothing else" "${n_devices:-x}" "$(grep -c . <<<"$out")"
check "list --no-legend: no header" bash -c '! grep -q "^ADDRESS" <<<"$1"' _ "$out"

run groups
check_eq "groups exits 0" 0 "$rc"
echo "$out"
check "groups: header" grep -qE "^GROUP +MEMBERS +VIABLE +REGIONS +VERDICT$" <<<"$out"
check "groups: columns aligned from the data" columns_aligned "$out" "MEMBERS"
run --json groups
n_groups=$(jq '.groups | length' <<<"$out" 2>/dev/null)
check "groups --json has groups" test "${n_groups:-0}" -gt 0
run --no-legend groups
check_eq "groups --no-legend: one line per group" "${n_groups:-x}" "$(grep -c . <<<"$out")"

# explain: the short form is completed to the domain 0000.
run --json explain 00:03.0
json=$out json_rc=$rc
run explain 00:03.0
echo "$out"
check "explain: names the device in full" grep -q "^0000:00:03\.0" <<<"$out"
check_eq "explain: one line per check" "$(jq '.checks | length' <<<"$json" 2>/dev/null)" "$(grep -cE "^  (✓|✗) " <<<"$out")"
check "explain: check lines read 'mark code subject — sentence'" grep -qE "^  (✓|✗) +[a-z-]+ +[^ ].* — " <<<"$out"
check "explain: verdict line" grep -qE "^Verdict: (allowed|denied)[ ,]" <<<"$out"
check_eq "explain: exit status follows the verdict" "$(jq -r 'if .allowed then 0 else 1 end' <<<"$json" 2>/dev/null)" "$rc"
check_eq "explain --json: same exit status" "$rc" "$json_rc"
run explain 0000:02:01.0
check_eq "explain: a denied device exits 1" 1 "$rc"
check "explain: the deciding rule is named" grep -q "^Verdict: denied, failed: .*denied-by-rule.* (rule no-bridged-nics)" <<<"$out"
run explain 0000:00:09.0
check_eq "explain: no such device -> exit 1" 1 "$rc"
check_eq "explain: no such device message" "vfiodctl: no PCI device 0000:00:09.0" "$err"
run --json explain 00:03.0 --uid=nobody
check_jq "explain --uid=NAME judges for that uid" '.uid == 65534' "$out"
run --json explain 00:03.0 --uid=4242
check_jq "explain --uid=NUMBER judges for that uid" '.uid == 4242' "$out"

# monitor: the JSON stream starts with "ready"; a reload shows up; SIGINT and SIGTERM end it with 0.
"$vfiodctl" --json monitor >"$tmp/mon-json" 2>>"$sanitizer_log" &
mon_json=$!
"$vfiodctl" monitor >"$tmp/mon-text" 2>>"$sanitizer_log" &
mon_text=$!
for _ in $(seq 100); do [ -s "$tmp/mon-json" ] && break; sleep 0.05; done
check_jq "monitor --json: first line is ready" '.event == "ready"' "$(head -n1 "$tmp/mon-json")"
sleep 0.2

run reload
check_eq "reload exits 0" 0 "$rc"
check "reload names the files in force" grep -q "50-test.json" <<<"$out"
for _ in $(seq 100); do grep -q policy-reloaded "$tmp/mon-text" 2>/dev/null && break; sleep 0.05; done
check_jq "monitor --json: the reload event" '.event == "policy-reloaded"' "$(sed -n 2p "$tmp/mon-json")"
check "monitor: one line for people" grep -qE "^[0-9:]{8}  policy-reloaded" "$tmp/mon-text"

kill -INT "$mon_json"
wait_for "$mon_json"
check_eq "monitor exits 0 on SIGINT" 0 "$?"
kill -TERM "$mon_text"
wait_for "$mon_text"
check_eq "monitor exits 0 on SIGTERM" 0 "$?"

# A bad file is rejected with where and why; the previous policy stays.
echo '{ "rules": [ { "name": "x", "dney": true } ] }' >"$policy/60-typo.json"
run reload
check_eq "reload of a bad policy exits 1" 1 "$rc"
check "reload: the message names the file" grep -q "^vfiodctl: policy rejected, the previous policy stays: .*60-typo.json" <<<"$err"
run explain 0000:02:01.0
check "the previous policy still decides" grep -q "rule no-bridged-nics" <<<"$out"
rm "$policy/60-typo.json"
run reload
check_eq "reload after the fix exits 0" 0 "$rc"

# Policy is root's to write: a file others can change, or a symlink out of the directory, is
# refused naming the file, and the previous policy stays.
echo '{ "rules": [ { "name": "mine", "match": { "address": "*" }, "allow": { "users": ["nobody"] } } ] }' >"$policy/70-user.json"
chmod 0666 "$policy/70-user.json"
run reload
check_eq "reload of a world-writable file exits 1" 1 "$rc"
check "reload: names the file and the mode" \
    grep -q "^vfiodctl: policy rejected, the previous policy stays: .*70-user.json:1:1: writable by its group or others (mode 0666)" <<<"$err"
chmod 0644 "$policy/70-user.json"
chown 65534 "$policy/70-user.json"
run reload
check "reload: a file owned by another user is refused" \
    grep -q "70-user.json:1:1: owned by uid 65534; expected a file owned by root" <<<"$err"
run --json info
check_jq "info: the load error is reported" '.policy.lastError | test("owned by uid 65534")' "$out"
rm "$policy/70-user.json"
echo '{ "rules": [ { "name": "mine", "match": { "address": "*" }, "allow": { "users": ["nobody"] } } ] }' >"$tmp/elsewhere.json"
ln -s "$tmp/elsewhere.json" "$policy/70-user.json"
run reload
check "reload: a symlink out of the directory is refused" grep -q "70-user.json:1:1: is a symlink" <<<"$err"
run explain 0000:02:01.0
check "the previous policy still decides" grep -q "rule no-bridged-nics" <<<"$out"
rm "$policy/70-user.json"
chmod 0777 "$policy"
run reload
check "reload: a world-writable policy directory is refused" \
    grep -q "policy.d: writable by its group or others (mode 0777)" <<<"$err"
chmod 0755 "$policy"
run reload
check_eq "reload after the fix exits 0" 0 "$rc"

# The daemon going away ends a monitor with a message and status 1.
"$vfiodctl" --json monitor >"$tmp/mon-gone" 2>"$tmp/mon-err" &
mon_gone=$!
for _ in $(seq 100); do [ -s "$tmp/mon-gone" ] && break; sleep 0.05; done

check "daemon alive" kill -0 "$pid"
kill -TERM "$pid"
wait "$pid"
check_eq "daemon exit status after SIGTERM" 0 "$?"
wait_for "$mon_gone"
check_eq "monitor: daemon gone -> exit 1" 1 "$?"
check "monitor: says the connection closed" grep -q "closed the connection" "$tmp/mon-err"
cat "$tmp/mon-err" >>"$sanitizer_log"

if grep -qE "Sanitizer|runtime error" "$sanitizer_log" "$tmp/vfiod.log"; then
    cat "$sanitizer_log" "$tmp/vfiod.log"
    not_ok "sanitizers reported problems"
else
    ok "no sanitizer reports"
fi
finish
