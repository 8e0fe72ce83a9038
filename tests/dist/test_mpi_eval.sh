#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_mpi_eval.sh: eval shards under `mpirun -np 2` and `-np 3` give exactly the single-process
# figures on stories260K: ppl (value, CI, per-window sums), fingerprint (the same bytes), kld
# against it, mc on a HellaSwag subset (accuracies, CIs, per-item file); only the timings differ.
# env.features.mpi says active under mpirun and not without. A model that cannot be read fails
# under mpirun too (exit 3), naming the rank, with no result file. Skipped (77) without mpirun, an
# MPI build or the shared data.
# OWB_TEST_LABELS: mpi eval
set -u
. "$(dirname "$0")/mpi_test_lib.sh"
D=${OWB_TEST_DATA:-}
M=$D/models/gguf
T=$D/data/tinystories/tinystories_validation_head.txt
H=$D/data/hellaswag/hellaswag_val_full.txt
if [ ! -r "$M/stories260K.gguf" ] || [ ! -r "$M/stories260K-q8_0.gguf" ] || [ ! -r "$T" ] ||
    [ ! -r "$H" ]; then
    echo "SKIP: needs models/gguf/stories260K{,-q8_0}.gguf, data/tinystories and data/hellaswag under OWB_TEST_DATA"
    exit 77
fi
t=$(mktemp -d "${OWB_TMP:-/tmp}/mpi_eval.XXXXXX")
trap 'rm -rf "$t"' EXIT
B=$OWB_BIN
# The evals of two results, timings removed, must be equal.
same_evals() {
    python3 -c "
import json, sys
def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if k != 'seconds'}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x
a, b = (strip(json.load(open(f))['evals']) for f in sys.argv[1:3])
assert a == b, 'evals differ'
assert len(a) > 0
" "$1" "$2"
}

PPL=(eval ppl -m "$M/stories260K.gguf" -f "$T" --ctx 128 --max-bytes 30000 --quiet)
"$B" "${PPL[@]}" -o "$t/p1" >/dev/null 2>"$t/e"
check "ppl -np 1 (no mpirun) exits 0" test $? -eq 0
check "without mpirun: mpi not active" jq -e '.env.features.mpi.active == false' "$t/p1/ppl.json"
for n in 2 3; do
    "${MPIRUN[@]}" -np $n "$B" "${PPL[@]}" -o "$t/p$n" >"$t/o$n" 2>"$t/e"
    check "ppl -np $n exits 0 ($(tail -1 "$t/e"))" test $? -eq 0
    check "ppl -np $n: identical to -np 1" same_evals "$t/p1/ppl.json" "$t/p$n/ppl.json"
    check "ppl -np $n: mpi active, rank 0 of $n" jq -e ".env.features.mpi | .active and (.reason | test(\"rank 0 of $n\"))" "$t/p$n/ppl.json"
    check "ppl -np $n: printed once" test "$(grep -c '^perplexity' "$t/o$n")" -eq 1
done

FP=(eval fingerprint -m "$M/stories260K.gguf" -f "$T" --ctx 128 --max-bytes 30000 --top-k 8 --quiet)
"$B" "${FP[@]}" -o "$t/fp1.owbfp" >/dev/null 2>&1
"${MPIRUN[@]}" -np 3 "$B" "${FP[@]}" -o "$t/fp3.owbfp" >/dev/null 2>"$t/e"
check "fingerprint -np 3 exits 0 ($(tail -1 "$t/e"))" test $? -eq 0
check "fingerprint -np 3: the same bytes" cmp "$t/fp1.owbfp" "$t/fp3.owbfp"
check "fingerprint -np 3: one file, no temporaries" test "$(ls "$t" | grep -c owbfp)" -eq 2

KLD=(eval kld --base "$t/fp1.owbfp" -m "$M/stories260K-q8_0.gguf" --reps 200 --quiet)
"$B" "${KLD[@]}" -o "$t/k1" >/dev/null 2>&1
"${MPIRUN[@]}" -np 2 "$B" "${KLD[@]}" -o "$t/k2" >/dev/null 2>"$t/e"
check "kld -np 2 exits 0 ($(tail -1 "$t/e"))" test $? -eq 0
check "kld -np 2: identical to -np 1" same_evals "$t/k1/kld.json" "$t/k2/kld.json"

MC=(eval mc --task "$H" -m "$M/stories260K.gguf" --limit 8 --seed 3 --ctx 512 --quiet)
"$B" "${MC[@]}" -o "$t/m1" >/dev/null 2>&1
"${MPIRUN[@]}" -np 3 "$B" "${MC[@]}" -o "$t/m3" >/dev/null 2>"$t/e"
check "mc -np 3 exits 0 ($(tail -1 "$t/e"))" test $? -eq 0
check "mc -np 3: identical to -np 1" same_evals "$t/m1/mc.json" "$t/m3/mc.json"
check "mc -np 3: the same per-item file" cmp "$t/m1/mc_items.jsonl" "$t/m3/mc_items.jsonl"

"${MPIRUN[@]}" -np 2 "$B" eval ppl -m "$t/missing.gguf" -f "$T" -o "$t/bad" --quiet >/dev/null 2>"$t/e"
rc=$?
check "unreadable model under mpirun fails with 3 (got $rc)" test $rc -eq 3
check "the failure names the rank" grep -q "rank [01] of 2" "$t/e"
check "no result file" test ! -e "$t/bad/ppl.json"

[ $fail -eq 0 ] && echo "all MPI eval checks passed"
exit $fail
