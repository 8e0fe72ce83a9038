# SPDX-License-Identifier: MIT
# test_ab_cli.sh: `owbench ab` end to end with a stand-in command (a bash script written here that
# takes "-o DIR" like the measuring commands and writes DIR/fake.json with 30 noisy samples per
# benchmark, time scaled by its first argument): A vs A has nothing slower (exit 0) and runs the
# rounds A B, B A, A B, B A (ordered by a log the script appends to); A vs B 30% slower says slower
# for the time and the rate benchmark but not for the unscaled one (exit 1); --only keeps the
# benchmarks whose name contains a part; one round is inconclusive; DIR/ab.json is a valid result (suite ab, per-round ratios as samples) that
# `compare` reads; a failing command exits 3 naming the round, the side and the command; a
# command that writes no result or cannot be started exits 3; usage errors exit 2.
set -u
: "${OWB_BIN:?}" "${OWB_TMP:?}"
d=$(mktemp -d "$OWB_TMP/ab_cli.XXXXXX")
fail=0
check() { # description, then a command that must succeed
    local what=$1
    shift
    if ! "$@"; then
        echo "FAIL: $what" >&2
        fail=1
    fi
}

# fake.sh SCALE LABEL [MODE] -o DIR: MODE "fail" exits 5, "none" writes no result.
cat >"$d/fake.sh" <<'EOF'
scale=$1 label=$2 mode=ok
shift 2
if [ "$1" != -o ]; then mode=$1; shift; fi
[ "$1" = -o ] || { echo "fake: expected -o DIR, got '$*'" >&2; exit 9; }
out=$2
echo "$label" >>"$FAKE_ORDER"
echo "fake $label running into $out"
if [ "$mode" = fail ]; then echo "fake: something broke" >&2; exit 5; fi
mkdir -p "$out"
[ "$mode" = none ] && exit 0
awk -v scale="$scale" -v seed="$RANDOM$$" '
function bench(name, unit, centre,   i, s) {
    s = sprintf("  {\"name\": \"%s\", \"suite\": \"fake\", \"params\": {\"threads\": 1}, \"pinning\": {},\n", name)
    s = s sprintf("   \"samples\": {\"unit\": \"%s\", \"values\": [", unit)
    for (i = 0; i < 30; i++)
        s = s sprintf("%s%.6f", i ? ", " : "", centre * (1 + 0.04 * (rand() - 0.5)))
    s = s "]},\n   \"stats\": {\"n\": 30, \"median\": null, \"mean\": null, \"stddev\": null, \"mad\": null,"
    s = s " \"min\": null, \"max\": null, \"p50\": null, \"p90\": null, \"p99\": null, \"p999\": null,"
    s = s " \"ci95_lo\": null, \"ci95_hi\": null},\n"
    return s "   \"metrics\": {}, \"counters\": {}, \"valid\": true, \"notes\": []}"
}
BEGIN {
    srand(seed)
    print "{\"schema\": \"owbench.result/1\", \"tool\": {\"name\": \"owbench\", \"version\": \"test\"},"
    print " \"created\": \"2024-01-01T00:00:00Z\", \"command\": [\"fake\"], \"env\": {}, \"benchmarks\": ["
    print bench("f/time", "ns", 1000 * scale) ","
    print bench("f/rate", "gb_per_s", 10 / scale) ","
    print bench("f/fixed", "ns", 500)
    print " ], \"evals\": []}"
}' >"$out/fake.json.tmp" && mv "$out/fake.json.tmp" "$out/fake.json"
EOF
export FAKE_ORDER="$d/order"

# A vs A, 4 rounds: exit 0, nothing slower, alternating order.
: >"$FAKE_ORDER"
"$OWB_BIN" ab --rounds 4 -o "$d/aa" -- bash "$d/fake.sh" 1.0 A -- bash "$d/fake.sh" 1.0 B \
    >"$d/out" 2>"$d/err"
check "A vs A exits 0" test $? -eq 0
check "A vs A: nothing slower" test "$(grep -Ec '^f/.* slower' "$d/out")" -eq 0
check "A vs A: three benchmarks" grep -q '^3 benchmarks' "$d/out"
check "order alternates ABBAABBA" test "$(tr -d '\n' <"$FAKE_ORDER")" = ABBAABBA
check "progress line per round" test "$(grep -c '^ab: round [1-4]/4' "$d/err")" -eq 4
check "round 2 says B first" grep -q '^ab: round 2/4 (B first)' "$d/err"
check "each run's output in its log" grep -q 'fake A running' "$d/aa/round3-A.log"
check "ab.json written" test -f "$d/aa/ab.json"
"$OWB_BIN" compare "$d/aa/ab.json" "$d/aa/ab.json" >/dev/null 2>"$d/err2"
check "compare reads ab.json (valid result)" test $? -eq 0
if command -v python3 >/dev/null 2>&1; then
    check "ab.json: suite ab, 4 ratios per benchmark, commands and order" python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["schema"] == "owbench.result/1"
b = {x["name"]: x for x in j["benchmarks"]}
assert set(b) == {"ab/f/time", "ab/f/rate", "ab/f/fixed"}, b.keys()
for x in b.values():
    assert x["suite"] == "ab" and x["samples"]["unit"] == "ratio"
    assert len(x["samples"]["values"]) == 4 and all(0.9 < v < 1.1 for v in x["samples"]["values"])
    assert x["ab"]["verdict"] in ("same", "inconclusive"), x["ab"]
    assert x["params"] == {"threads": 1}
assert j["ab"]["order"] == ["AB", "BA", "AB", "BA"]
assert j["ab"]["commands"]["a"][-1] == "A" and j["ab"]["regressed"] is False
assert len(j["ab"]["files"]) == 4' "$d/aa/ab.json"
fi

# A vs B 30% slower: time and rate slower, the fixed one not; exit 1.
"$OWB_BIN" ab --rounds 4 -o "$d/ab" -- bash "$d/fake.sh" 1.0 A -- bash "$d/fake.sh" 1.3 B \
    >"$d/out" 2>"$d/err"
check "A vs slower B exits 1" test $? -eq 1
check "f/time slower" grep -Eq '^f/time .* slower' "$d/out"
check "f/rate slower" grep -Eq '^f/rate .* slower' "$d/out"
check "f/fixed not slower" grep -Eq '^f/fixed .* (same|inconclusive)' "$d/out"
check "B/A of f/time about 1.3" awk '$1 == "f/time" { ok = $6 > 1.27 && $6 < 1.33 } END { exit !ok }' \
    "$d/out"
# ... and faster the other way round: exit 0.
"$OWB_BIN" ab --rounds 4 -o "$d/ba" -- bash "$d/fake.sh" 1.3 A -- bash "$d/fake.sh" 1.0 B \
    >"$d/out" 2>"$d/err"
check "A vs faster B exits 0" test $? -eq 0
check "f/time faster" grep -Eq '^f/time .* faster' "$d/out"

# --only: the time benchmark alone.
"$OWB_BIN" ab --rounds 3 --only f/time -o "$d/only" -- bash "$d/fake.sh" 1.0 A -- \
    bash "$d/fake.sh" 1.3 B >"$d/out" 2>"$d/err"
check "--only f/time exits 1" test $? -eq 1
check "--only: one benchmark" grep -q '^1 benchmarks' "$d/out"
check "--only: no f/rate" test "$(grep -c '^f/rate' "$d/out")" -eq 0

# One round: no verdict but inconclusive, exit 0.
"$OWB_BIN" ab --rounds 1 -o "$d/one" -- bash "$d/fake.sh" 1.0 A -- bash "$d/fake.sh" 1.3 B \
    >"$d/out" 2>"$d/err"
check "one round exits 0" test $? -eq 0
check "one round is inconclusive" grep -Eq '^f/time .* inconclusive' "$d/out"

# A failing command: exit 3 naming round, side and command; its message is shown.
"$OWB_BIN" ab --rounds 3 -o "$d/failb" -- bash "$d/fake.sh" 1.0 A -- bash "$d/fake.sh" 1.0 B fail \
    >"$d/out" 2>"$d/err"
check "failing B exits 3" test $? -eq 3
check "failure names round 1, B and the command" \
    grep -q "round 1, B: command 'bash .*fake.sh 1.0 B fail' exited with status 5" "$d/err"
check "failure shows the command's message" grep -q "fake: something broke" "$d/err"
check "no ab.json after a failure" test ! -e "$d/failb/ab.json"
"$OWB_BIN" ab --rounds 2 -o "$d/nores" -- bash "$d/fake.sh" 1.0 A none -- bash "$d/fake.sh" 1.0 B \
    >"$d/out" 2>"$d/err"
check "no result exits 3" test $? -eq 3
check "no result is explained" grep -q "round 1, A: .*wrote no owbench result file" "$d/err"
"$OWB_BIN" ab --rounds 2 -o "$d/nostart" -- "$d/does-not-exist" -- bash "$d/fake.sh" 1.0 B \
    >"$d/out" 2>"$d/err"
check "missing program exits 3" test $? -eq 3
check "missing program is explained" grep -q "round 1, A: .*could not be started" "$d/err"

# Usage errors: exit 2.
"$OWB_BIN" ab >/dev/null 2>&1
check "no arguments exits 2" test $? -eq 2
"$OWB_BIN" ab -- bash "$d/fake.sh" 1.0 A >/dev/null 2>"$d/err"
check "one command exits 2" test $? -eq 2
check "one command is explained" grep -q "second '--'" "$d/err"
"$OWB_BIN" ab -- -- bash "$d/fake.sh" 1.0 A >/dev/null 2>"$d/err"
check "empty CMD_A exits 2" test $? -eq 2
"$OWB_BIN" ab -- bash x -- >/dev/null 2>"$d/err"
check "empty CMD_B exits 2" test $? -eq 2
"$OWB_BIN" ab --rounds x -- a -- b >/dev/null 2>"$d/err"
check "bad --rounds exits 2" test $? -eq 2
check "bad --rounds is named" grep -q "'x'" "$d/err"
"$OWB_BIN" ab --threshold -3 -- a -- b >/dev/null 2>&1
check "bad --threshold exits 2" test $? -eq 2
"$OWB_BIN" ab --alpha 2 -- a -- b >/dev/null 2>&1
check "bad --alpha exits 2" test $? -eq 2
"$OWB_BIN" ab -o "$d/aa" -- bash "$d/fake.sh" 1.0 A -- bash "$d/fake.sh" 1.0 B >/dev/null \
    2>"$d/err"
check "an output folder with a run exits 2" test $? -eq 2
check "... and says so" grep -q "already holds an ab run" "$d/err"
"$OWB_BIN" ab --help >"$d/out" 2>&1
check "--help exits 0" test $? -eq 0
check "--help prints usage" grep -q "usage: owbench ab" "$d/out"

exit $fail
