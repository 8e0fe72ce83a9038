#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_mpi_fleet.sh: `owbench stream` and `owbench model` under `mpirun -np 2`: each rank measures
# itself and rank 0 writes one document holding both ranks' benchmarks, each carrying params
# host and rank, with every rank's env under ranks.per_rank; the document validates against the
# schema; the other rank's folder DIR/rank1 holds no result. Skipped (77) without mpirun or an MPI
# build.
# OWB_TEST_LABELS: mpi
set -u
. "$(dirname "$0")/mpi_test_lib.sh"
t=$(mktemp -d "${OWB_TMP:-/tmp}/mpi_fleet.XXXXXX")
trap 'rm -rf "$t"' EXIT
"${MPIRUN[@]}" -np 2 "$OWB_BIN" stream --threads 1 --size 8M --quick -o "$t/st" >"$t/out" 2>"$t/err"
rc=$?
check "stream -np 2 exits 0 (got $rc)" test $rc -eq 0 || tail -5 "$t/err"
J=$t/st/stream.json
check "both ranks' benchmarks, the same cases on each" jq -e '[.benchmarks[] | select(.params.rank == 0) | .name] as $a | [.benchmarks[] | select(.params.rank == 1) | .name] as $b | ($a | length) > 0 and $a == $b' "$J"
check "every benchmark carries its host" jq -e 'all(.benchmarks[]; (.params.host | type) == "string" and (.params.host | length) > 0)' "$J"
check "every rank's env" jq -e '.ranks.size == 2 and ([.ranks.per_rank[].rank] == [0, 1]) and all(.ranks.per_rank[]; .env.features.mpi.active)' "$J"
check "rank 1 wrote no result of its own" test ! -e "$t/st/rank1/stream.json"
check "the table printed once" test "$(grep -c '^stream' "$t/out")" -le 1
if python3 -c 'import jsonschema' 2>/dev/null; then
    check "the fleet document validates against the schema" python3 -c "import json, jsonschema, sys; jsonschema.validate(json.load(open('$J')), json.load(open(sys.argv[1])))" "${OWB_SRC:-.}/results/owbench.result.schema.json"
fi
"${MPIRUN[@]}" -np 2 "$OWB_BIN" model --synthetic tiny -p 16 -n 8 --threads 1 --quick --reps 2 \
    --counters none --ceiling "$J" -o "$t/m" >/dev/null 2>"$t/err"
rc=$?
check "model -np 2 exits 0 (got $rc)" test $rc -eq 0 || tail -5 "$t/err"
check "model: decode of both ranks" jq -e '[.benchmarks[] | select(.name | test("decode")) | .params.rank] | (index(0) != null) and (index(1) != null)' "$t/m/model.json"
[ $fail -eq 0 ] && echo "all MPI fleet checks passed"
exit $fail
