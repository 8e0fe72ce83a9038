# SPDX-License-Identifier: MIT
# test_ab_kernels.sh: `owbench ab` on the real kernels suite with a tiny case (q4_0 1024x1024, batch
# 1, one thread, weights rotating over 4 MiB, the read ceiling from a hand-written file, no
# counters; 2-4 s a run): A vs A (2 rounds, alpha 0.01) finds no regression (exit 0); A vs A with
# the testing knob OWB_KERNELS_SLOWDOWN=gemv/q4_0:200 (4 rounds, --only kernels/gemv) says the GEMV
# is slower (exit 1) and the slowed benchmark carries a note. The knob is 200%, not 30%: on a shared 2-core machine
# one run of this tiny case differs from the next by up to 35% (two modes), which hides 30% in 4
# rounds; detecting 10-30% takes more rounds of a bigger case (docs/ab.md). Then `compare` on a
# real result against a copy whose times are 25% longer and whose recorded read ceiling is 20%
# lower says "machine changed" (exit 0, with the warning), and against a copy only 25% slower says
# slower (exit 1). Wall time 30-75 s on the shared VM: label slow.
# OWB_TEST_LABELS: slow
set -u
: "${OWB_BIN:?}" "${OWB_TMP:?}"
d=$(mktemp -d "$OWB_TMP/ab_kernels.XXXXXX")
fail=0
check() { # description, then a command that must succeed
    local what=$1
    shift
    if ! "$@"; then
        echo "FAIL: $what" >&2
        fail=1
    fi
}

cat >"$d/ceiling.json" <<'EOF'
{"schema": "owbench.result/1", "tool": {"name": "owbench", "version": "test"},
 "created": "2024-01-01T00:00:00Z", "command": ["hand-written"], "env": {},
 "benchmarks": [{"name": "stream/read/t1", "suite": "stream",
  "params": {"kernel": "read", "threads": 1}, "pinning": {},
  "samples": {"unit": "ns", "values": [4600000, 4650000, 4700000, 4620000, 4680000]},
  "stats": {"n": 5, "median": 4650000, "mean": null, "stddev": null, "mad": null, "min": null,
            "max": null, "p50": null, "p90": null, "p99": null, "p999": null, "ci95_lo": null,
            "ci95_hi": null},
  "metrics": {"bytes_per_iter": 134217728, "gb_per_s": 29.2, "gb_per_s_median": 28.9},
  "counters": {}, "valid": true, "notes": []}], "evals": []}
EOF
k=(kernels --quick --formats q4_0 --shapes 1024x1024 --batch 1 --threads 1
    --ceiling "$d/ceiling.json" --counters none --rotate 4M)

"$OWB_BIN" ab --rounds 2 --alpha 0.01 -o "$d/aa" -- "${k[@]}" -- "${k[@]}" >"$d/out" 2>"$d/err"
rc=$?
check "A vs A exits 0 (got $rc)" test $rc -eq 0
check "A vs A: the GEMV is in the table" grep -q '^kernels/gemv/q4_0/1024x1024/t1 ' "$d/out"
check "A vs A: nothing slower" test "$(grep -Ec '^kernels/.* slower' "$d/out")" -eq 0

"$OWB_BIN" ab --rounds 4 --only kernels/gemv -o "$d/slow" -- "${k[@]}" -- env OWB_KERNELS_SLOWDOWN=gemv/q4_0:200 \
    "$OWB_BIN" "${k[@]}" >"$d/out" 2>"$d/err"
rc=$?
check "A vs slowed A exits 1 (got $rc)" test $rc -eq 1
check "the slowed GEMV is slower" grep -Eq '^kernels/gemv/q4_0/1024x1024/t1 .* slower' "$d/out"
check "the slowed run notes the knob" grep -q 'testing knob OWB_KERNELS_SLOWDOWN' \
    "$d/slow/round1-B/kernels.json"
check "the unslowed run does not" test "$(grep -c 'testing knob' "$d/slow/round1-A/kernels.json")" -eq 0
if [ $fail -ne 0 ]; then
    cat "$d/out" "$d/err" >&2
fi

# A malformed knob is a usage error of the kernels command.
OWB_KERNELS_SLOWDOWN=nonsense "$OWB_BIN" "${k[@]}" -o "$d/bad" >/dev/null 2>"$d/err"
check "a malformed knob exits 2" test $? -eq 2
check "a malformed knob is named" grep -q "OWB_KERNELS_SLOWDOWN='nonsense'" "$d/err"

# compare: a machine 20% slower (recorded ceiling) explains a GEMV 25% slower; the same GEMV
# against an unchanged ceiling is a regression.
if command -v python3 >/dev/null 2>&1; then
    # (the GEMV marked valid on both sides: a change between not-valid samples is incomparable)
    python3 - "$d/aa/round1-A/kernels.json" "$d/base.json" "$d/machine.json" "$d/code.json" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
for path, scale, ceiling in ((sys.argv[2], 1.0, 1.0), (sys.argv[3], 1.25, 0.8),
                             (sys.argv[4], 1.25, 1.0)):
    d = json.loads(json.dumps(doc))
    for b in d["benchmarks"]:
        if b["name"].startswith("kernels/gemv/"):
            b["valid"], b["notes"] = True, []
            b["samples"]["values"] = [v * scale for v in b["samples"]["values"]]
            for key in ("ceiling_gb_per_s", "ceiling_gb_per_s_median"):
                b["metrics"][key] *= ceiling
    json.dump(d, open(path, "w"))
EOF
    "$OWB_BIN" compare "$d/base.json" "$d/machine.json" >"$d/out" 2>"$d/err"
    check "machine changed exits 0" test $? -eq 0
    check "the GEMV says machine changed" \
        grep -Eq '^kernels/gemv/q4_0/1024x1024/t1 .* machine changed' "$d/out"
    check "the warning names the ceiling" \
        grep -q '^warning: the ceilings differ by -20.0%.*stream/read/t1.*not the code' "$d/out"
    "$OWB_BIN" compare "$d/base.json" "$d/code.json" >"$d/out" 2>"$d/err"
    check "a code regression exits 1" test $? -eq 1
    check "the GEMV says slower" grep -Eq '^kernels/gemv/q4_0/1024x1024/t1 .* slower' "$d/out"
fi

exit $fail
