# SPDX-License-Identifier: MIT
# test_compare_cli.sh: `owbench compare` end to end on synthetic result files (written here with
# awk, seeded): a result against itself is all "same" (exit 0); against a copy whose time samples
# are 20% slower and rates 20% lower, with fresh noise, the rows say "slower" (exit 1); faster
# copies exit 0; --threshold above the change makes it "same"; --json is machine-readable; a
# missing, truncated or wrong-major file exits 3 naming the file; usage errors exit 2.
set -u
: "${OWB_BIN:?}" "${OWB_TMP:?}"
d=$(mktemp -d "$OWB_TMP/compare_cli.XXXXXX")
fail=0
check() { # description, then a command that must succeed
    local what=$1
    shift
    if ! "$@"; then
        echo "FAIL: $what" >&2
        fail=1
    fi
}

# gen FILE TIME_SCALE SEED: four benchmarks, 40 samples each with +-2% uniform noise. k/time and
# the two k/params (same name, different params) are in ns (scaled by TIME_SCALE), k/rate in
# gb_per_s (divided by TIME_SCALE).
gen() {
    awk -v scale="$2" -v seed="$3" '
    function bench(name, params, unit, centre,   i, s) {
        s = sprintf("    {\"name\": \"%s\", \"suite\": \"test\", \"params\": %s, \"pinning\": {},\n", name, params)
        s = s sprintf("     \"samples\": {\"unit\": \"%s\", \"values\": [", unit)
        for (i = 0; i < 40; i++)
            s = s sprintf("%s%.6f", i ? ", " : "", centre * (1 + 0.04 * (rand() - 0.5)))
        s = s "]},\n     \"stats\": {\"n\": 40, \"median\": null, \"mean\": null, \"stddev\": null, \"mad\": null,"
        s = s " \"min\": null, \"max\": null, \"p50\": null, \"p90\": null, \"p99\": null, \"p999\": null,"
        s = s " \"ci95_lo\": null, \"ci95_hi\": null},\n"
        s = s "     \"metrics\": {}, \"counters\": {}, \"valid\": true, \"notes\": []}"
        return s
    }
    BEGIN {
        srand(seed)
        print "{\"schema\": \"owbench.result/1\", \"tool\": {\"name\": \"owbench\", \"version\": \"test\"},"
        print " \"created\": \"2024-01-01T00:00:00Z\", \"command\": [\"awk\"], \"env\": {},"
        print " \"benchmarks\": ["
        print bench("k/time", "{}", "ns", 1000 * scale) ","
        print bench("k/params", "{\"size\": 1, \"kind\": \"x\"}", "ns", 500 * scale) ","
        print bench("k/params", "{\"kind\": \"x\", \"size\": 2}", "ns", 900 * scale) ","
        print bench("k/rate", "{}", "gb_per_s", 10 / scale)
        print " ], \"evals\": []}"
    }' >"$1"
}

gen "$d/a.json" 1.0 1
gen "$d/a2.json" 1.0 2
gen "$d/slow.json" 1.2 3
gen "$d/fast.json" 0.8 4

# Itself and an independent same-centre copy: all same, exit 0.
"$OWB_BIN" compare "$d/a.json" "$d/a.json" >"$d/out" 2>"$d/err"
check "self compare exits 0" test $? -eq 0
check "self compare: 4 rows same" test "$(grep -c ' same$' "$d/out")" -eq 4
check "self compare: nothing slower" test "$(grep -c ' slower$' "$d/out")" -eq 0
"$OWB_BIN" compare "$d/a.json" "$d/a2.json" >"$d/out" 2>"$d/err"
check "same-centre copy exits 0" test $? -eq 0

# 20% slower: exit 1, the time row and the rate row say slower.
"$OWB_BIN" compare "$d/a.json" "$d/slow.json" >"$d/out" 2>"$d/err"
check "slower copy exits 1" test $? -eq 1
check "k/time is slower" grep -Eq '^k/time .* slower' "$d/out"
check "k/rate is slower" grep -Eq '^k/rate .* slower' "$d/out"
check "k/params size 1 is slower, labelled with its params" \
    grep -Eq '^k/params \{"kind":"x","size":1\} .* slower' "$d/out"
check "k/params size 2 is slower" grep -Eq '^k/params \{"kind":"x","size":2\} .* slower' "$d/out"
check "unambiguous names without params" grep -Eq '^k/time +ns ' "$d/out"
# ... unless the threshold is above the change.
"$OWB_BIN" compare --threshold 30 "$d/a.json" "$d/slow.json" >"$d/out" 2>"$d/err"
check "--threshold 30 makes 20% same (exit 0)" test $? -eq 0
"$OWB_BIN" compare "$d/a.json" "$d/slow.json" --threshold=30% >"$d/out" 2>"$d/err"
check "--threshold=30% after the files" test $? -eq 0

# Faster: exit 0, verdict faster.
"$OWB_BIN" compare "$d/a.json" "$d/fast.json" >"$d/out" 2>"$d/err"
check "faster copy exits 0" test $? -eq 0
check "k/time is faster" grep -Eq '^k/time .* faster' "$d/out"

# --json.
"$OWB_BIN" compare --json "$d/a.json" "$d/slow.json" >"$d/out.json" 2>"$d/err"
check "--json slower exits 1" test $? -eq 1
check "--json says regressed" grep -q '"regressed":[[:space:]]*true' "$d/out.json"
check "--json has verdict slower" grep -q '"verdict":[[:space:]]*"slower"' "$d/out.json"
if command -v python3 >/dev/null 2>&1; then
    check "--json parses and has 4 rows" python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
assert j["schema"] == "owbench.compare/1" and len(j["rows"]) == 4, j
assert all(r["verdict"] == "slower" for r in j["rows"]), j["rows"]
assert all(r["p_value"] < 0.05 for r in j["rows"])' "$d/out.json"
fi

# Missing, corrupt, wrong-major files: exit 3, the message names the file.
"$OWB_BIN" compare "$d/a.json" "$d/missing.json" >/dev/null 2>"$d/err"
check "missing file exits 3" test $? -eq 3
check "missing file is named" grep -q "missing.json" "$d/err"
head -c 300 "$d/a.json" >"$d/trunc.json"
"$OWB_BIN" compare "$d/trunc.json" "$d/a.json" >/dev/null 2>"$d/err"
check "truncated file exits 3" test $? -eq 3
check "truncated file is named" grep -q "trunc.json.*JSON" "$d/err"
sed 's#owbench.result/1#owbench.result/2#' "$d/a.json" >"$d/v2.json"
"$OWB_BIN" compare "$d/a.json" "$d/v2.json" >/dev/null 2>"$d/err"
check "major 2 exits 3" test $? -eq 3
check "major 2 is explained" grep -q "v2.json.*major version 2" "$d/err"

# Usage errors: exit 2.
"$OWB_BIN" compare --bogus "$d/a.json" "$d/a.json" >/dev/null 2>&1
check "unknown flag exits 2" test $? -eq 2
"$OWB_BIN" compare --threshold abc "$d/a.json" "$d/a.json" >/dev/null 2>"$d/err"
check "bad threshold exits 2" test $? -eq 2
check "bad threshold is named" grep -q "abc" "$d/err"
"$OWB_BIN" compare "$d/a.json" >/dev/null 2>&1
check "one file exits 2" test $? -eq 2
"$OWB_BIN" compare --help >"$d/out" 2>&1
check "--help exits 0" test $? -eq 0
check "--help prints usage" grep -q "usage: owbench compare" "$d/out"

exit $fail
