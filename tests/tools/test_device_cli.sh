#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `owbench kernels --device`: an unknown device is a usage error (2) naming it; cuda without a
# usable device (build without CUDA, no driver, no GPU) exits 77 naming the reason and writes
# nothing; with a device, a quick one-case sweep writes kernels.json with the copy ceiling.
set -u
bin=${OWB_BIN:?}
tmp=$(mktemp -d "${OWB_TMP:-/tmp}/devcli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$bin" kernels --device tpu -o "$tmp/a" 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] || fail "--device tpu: exit $rc, expected 2"
grep -q "tpu" "$tmp/err" || fail "--device tpu: message does not name it: $(cat "$tmp/err")"

"$bin" kernels --device cuda --quick --formats q4_0 --shapes 256x512 --batch 1 -o "$tmp/b" \
    >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 77 ]; then
    grep -Eq "skipped: cuda: (built without CUDA|no CUDA device|CUDA device)" "$tmp/err" ||
        fail "exit 77 without a reason: $(cat "$tmp/err")"
    [ ! -e "$tmp/b/kernels.json" ] || fail "exit 77 but kernels.json written"
    echo "no device: $(cat "$tmp/err")"
    exit 0
fi
[ $rc -eq 0 ] || fail "--device cuda: exit $rc: $(cat "$tmp/err")"
jq -e '.benchmarks | map(.name) | index("kernels/gpu/copy") != null' "$tmp/b/kernels.json" \
    >/dev/null || fail "no kernels/gpu/copy benchmark"
jq -e '.benchmarks | map(.name) | index("kernels/gpu/gemv/q4_0/256x512/b1") != null' \
    "$tmp/b/kernels.json" >/dev/null || fail "no gemv case"
echo ok
