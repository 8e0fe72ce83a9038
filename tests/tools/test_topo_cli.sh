#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# owbench topo from the command line: the readable summary, --json that python's json.tool
# accepts with the counts of this machine, --pin/--threads plans (also on an hwloc synthetic
# topology, checked against a CPU list written out by hand), and bad values exiting 2 with a
# message that names the value.
set -u
fail=0
t=$(mktemp -d "${OWB_TMP:-/tmp}/topo_cli.XXXXXX")
trap 'rm -rf "$t"' EXIT
check() { if ! eval "$2"; then echo "FAIL: $1" >&2; fail=1; fi; }
npus=$(python3 -c 'import os; print(len(os.sched_getaffinity(0)))')

"$OWB_BIN" topo --help >"$t/help" 2>&1; rc=$?
check "topo --help exits 0" "[ $rc = 0 ]"
check "help lists the policies" "grep -q scatter '$t/help' && grep -q 'numa:K' '$t/help'"

"$OWB_BIN" topo >"$t/o" 2>"$t/e"; rc=$?
check "topo exits 0 (got $rc: $(head -2 $t/e))" "[ $rc = 0 ]"
check "summary names PUs and caches" "grep -q 'PUs usable' '$t/o' && grep -q 'caches:' '$t/o'"
check "summary counts this machine's usable PUs ($npus)" "grep -q ' $npus PUs\? usable' '$t/o'"

"$OWB_BIN" topo --json >"$t/j" 2>"$t/e"; rc=$?
check "topo --json exits 0" "[ $rc = 0 ]"
check "topo --json is valid JSON" "python3 -m json.tool '$t/j' >/dev/null"
check "topo --json pus == affinity count" \
  "python3 -c 'import json; d=json.load(open(\"$t/j\")); assert d[\"pus\"]==$npus, d[\"pus\"]; assert d[\"cores\"]>=1; assert \"packages_tree\" in d'"

n=2; [ "$npus" -lt 2 ] && n=1
"$OWB_BIN" topo --pin compact --threads $n >"$t/o" 2>"$t/e"; rc=$?
check "--pin compact --threads $n exits 0 ($(cat $t/e))" "[ $rc = 0 ]"
check "plan line printed" "grep -q 'pinning compact, $n thread' '$t/o'"
"$OWB_BIN" topo --json --pin compact --threads $n >"$t/j" 2>"$t/e"; rc=$?
check "--json with a plan exits 0" "[ $rc = 0 ]"
check "plan in JSON has $n distinct usable CPUs" \
  "python3 -c 'import json,os; p=json.load(open(\"$t/j\"))[\"pinning\"]; c=p[\"cpus\"]; assert len(c)==$n and len(set(c))==$n and set(c)<=os.sched_getaffinity(0), c'"
"$OWB_BIN" topo --pin none --threads 1 >"$t/o" 2>&1; rc=$?
check "--pin none exits 0" "[ $rc = 0 ]"
check "--pin none shows no CPU" "grep -q 'CPUs none' '$t/o'"

# Synthetic topologies need hwloc; a build without it must say so (exit 3).
"$OWB_BIN" topo --synthetic "pack:2 core:2 pu:2" --pin scatter >"$t/o" 2>"$t/e"; rc=$?
if [ $rc = 0 ]; then
  # core k of package p holds PUs 4p+2k, 4p+2k+1; scatter alternates packages, SMT last.
  check "synthetic scatter plan" "grep -q 'CPUs 0,4,2,6,1,5,3,7$' '$t/o'"
  "$OWB_BIN" topo --synthetic "pack:2 core:2 pu:2" --pin compact --threads 3 >"$t/o" 2>&1
  check "synthetic compact plan" "grep -q 'CPUs 0,2,4$' '$t/o'"
  "$OWB_BIN" topo --synthetic "pack:2 core:2 pu:2" --pin numa:1 2>"$t/e"; rc=$?
  check "numa:1 of a one-node topology exits 2" "[ $rc = 2 ]"
  check "numa message names the policy" "grep -q 'numa:1' '$t/e'"
  "$OWB_BIN" topo --synthetic "bogus:3" 2>"$t/e"; rc=$?
  check "bad synthetic exits 2" "[ $rc = 2 ]"
  check "bad synthetic named" "grep -q bogus:3 '$t/e'"
else
  check "synthetic without hwloc exits 3" "[ $rc = 3 ]"
  check "and says hwloc is missing" "grep -q hwloc '$t/e'"
fi

big=$((npus + 1))
"$OWB_BIN" topo --pin compact --threads $big 2>"$t/e"; rc=$?
check "--threads $big exits 2" "[ $rc = 2 ]"
check "message names count and PUs" "grep -q -- '--threads $big exceeds the $npus PU' '$t/e'"
"$OWB_BIN" topo --threads abc 2>"$t/e"; rc=$?
check "--threads abc exits 2" "[ $rc = 2 ]"
check "message names abc" "grep -q \"'abc'\" '$t/e'"
"$OWB_BIN" topo --pin bogus 2>"$t/e"; rc=$?
check "--pin bogus exits 2" "[ $rc = 2 ]"
check "message names bogus" "grep -q \"'bogus'\" '$t/e'"
"$OWB_BIN" topo --pin list:3-1 2>"$t/e"; rc=$?
check "--pin list:3-1 exits 2" "[ $rc = 2 ]"
check "message names the list" "grep -q 'list:3-1' '$t/e'"
"$OWB_BIN" topo --pin 2>"$t/e"; rc=$?
check "--pin without a value exits 2" "[ $rc = 2 ]"
"$OWB_BIN" topo --nope 2>"$t/e"; rc=$?
check "unknown flag exits 2" "[ $rc = 2 ]"
check "unknown flag prints usage" "grep -q usage '$t/e'"

"$OWB_BIN" topo --env >"$t/env" 2>"$t/e"; rc=$?
check "topo --env exits 0" "[ $rc = 0 ]"
check "env has features and topology" \
  "python3 -c 'import json; d=json.load(open(\"$t/env\")); f=d[\"features\"]; assert all(k in f for k in (\"hwloc\",\"papi\",\"cuda\",\"mpi\",\"curl\")); assert d[\"topology\"][\"pus\"]==$npus; assert d[\"gpus\"]==[]'"
exit $fail
