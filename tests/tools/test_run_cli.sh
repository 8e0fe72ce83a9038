#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# OWB_TEST_LABELS: slow
# `owbench run --quick -o DIR` (the README's main job): writes a valid result with the stream
# ceilings and at least one PNG, prints a summary table, (its duration is printed, not asserted: benchmarks are not timed tests).
set -u
fail=0
t=$(mktemp -d "${OWB_TMP:-/tmp}/run_cli.XXXXXX")
trap 'rm -rf "$t"' EXIT
check() { if ! eval "$2"; then echo "FAIL: $1" >&2; fail=1; fi; }
start=$(date +%s)
"$OWB_BIN" run --quick -o "$t/out" >"$t/o" 2>"$t/e"; rc=$?
secs=$(( $(date +%s) - start ))
cat "$t/o"
check "run exits 0 (got $rc: $(tail -3 $t/e))" "[ $rc = 0 ]"
check "run.json written" "[ -s '$t/out/run.json' ]"
check "progress lines" "grep -q '\[1/' '$t/e'"
check "summary printed" "grep -q 'read' '$t/o'"
check "a PNG written" "ls '$t/out'/*.png >/dev/null 2>&1"
check "PNG magic" "head -c 8 \$(ls '$t/out'/*.png | head -1) | od -An -tx1 | grep -q '89 50 4e 47'"
check "result has stream/read and env" \
  "python3 -c 'import json; d=json.load(open(\"$t/out/run.json\")); assert d[\"env\"]; assert any(b[\"name\"].startswith(\"stream/read/\") for b in d[\"benchmarks\"])'"
echo "owbench run --quick took ${secs}s"
exit $fail
