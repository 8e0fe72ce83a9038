#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# owbench stream and owbench run from the command line: a small stream run writes a valid result;
# bad values exit 2 naming the value; an unwritable output folder exits 3 leaving no file.
set -u
fail=0
t=$(mktemp -d "${OWB_TMP:-/tmp}/stream_cli.XXXXXX")
trap 'rm -rf "$t"' EXIT
check() { if ! eval "$2"; then echo "FAIL: $1" >&2; fail=1; fi; }

"$OWB_BIN" stream --help >"$t/help" 2>&1; check "stream --help exits 0" "[ $? = 0 ]"
check "help mentions --threads" "grep -q -- --threads '$t/help'"

"$OWB_BIN" stream --threads 1 --size 2M --quick --counters none -o "$t/out" >"$t/o" 2>"$t/e"
rc=$?
check "small stream run exits 0 (got $rc: $(tail -2 $t/e))" "[ $rc = 0 ]"
check "stream.json written" "[ -s '$t/out/stream.json' ]"
check "table printed" "grep -q triad '$t/o'"
check "json parses and has stream/read/t1" \
  "python3 -c 'import json,sys; d=json.load(open(\"$t/out/stream.json\")); assert d[\"schema\"]==\"owbench.result/1\"; assert any(b[\"name\"]==\"stream/read/t1\" for b in d[\"benchmarks\"])'"

"$OWB_BIN" stream --threads 0 -o "$t/x" 2>"$t/e"; rc=$?
check "--threads 0 exits 2" "[ $rc = 2 ]"
check "message names the value" "grep -q \"'0'\" '$t/e'"
"$OWB_BIN" stream --threads 99999 -o "$t/x" 2>"$t/e"; rc=$?
check "--threads 99999 exits 2" "[ $rc = 2 ]"
"$OWB_BIN" stream --size 12Q -o "$t/x" 2>"$t/e"; rc=$?
check "--size 12Q exits 2" "[ $rc = 2 ]"
check "size message names the value" "grep -q 12Q '$t/e'"
"$OWB_BIN" stream --pin bogus -o "$t/x" 2>"$t/e"; rc=$?
check "--pin bogus exits 2" "[ $rc = 2 ]"
"$OWB_BIN" stream --counters PAPI_TOT_CYC,,PAPI_TOT_INS -o "$t/x" 2>"$t/e"; rc=$?
check "malformed --counters exits 2 (got $rc)" "[ $rc = 2 ]"
check "counters message names the list" "grep -q -- '--counters PAPI_TOT_CYC,,PAPI_TOT_INS' '$t/e'"
check "no output for a malformed --counters" "[ ! -e '$t/x' ]"
"$OWB_BIN" stream --nope 2>"$t/e"; rc=$?
check "unknown flag exits 2" "[ $rc = 2 ]"
"$OWB_BIN" nosuchcommand 2>"$t/e"; rc=$?
check "unknown command exits 2" "[ $rc = 2 ]"
check "unknown command prints usage" "grep -q usage '$t/e'"

touch "$t/afile"
"$OWB_BIN" stream --threads 1 --size 1M --quick -o "$t/afile/sub" 2>"$t/e"; rc=$?
check "unwritable output exits 3" "[ $rc = 3 ]"
check "no partial output" "[ ! -e '$t/afile/sub' ] && [ -f '$t/afile' ] && [ ! -s '$t/afile' ]"
exit $fail
