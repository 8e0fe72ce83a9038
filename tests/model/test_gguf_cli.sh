#!/bin/bash
# SPDX-License-Identifier: MIT
# test_gguf_cli.sh: `owbench gguf` on the shared files: the text listing names the metadata with
# types and values, abbreviates long arrays, lists every tensor with type and shape and totals;
# --json is valid JSON with the same facts; broken files print "FILE: reason" and exit 3.
set -u
data=${OWB_TEST_DATA:-../shared}
bin=${OWB_BIN:?}
tmp=${OWB_TMP:-/tmp}/gguf_cli.$$
model=$data/models/gguf/stories260K-q4_0.gguf
[ -r "$model" ] || { echo "SKIP: shared stories260K-q4_0.gguf absent"; exit 77; }
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; fi; }

"$bin" gguf "$model" > "$tmp/t.txt"
check "exit 0" '[ $? -eq 0 ]'
check "version" 'grep -q "^version: *3" "$tmp/t.txt"'
check "typed metadata" 'grep -Eq "llama.block_count +uint32 +5$" "$tmp/t.txt"'
check "string value" 'grep -Eq "general.architecture +string +\"llama\"" "$tmp/t.txt"'
check "long array shortened" 'grep -Eq "tokenizer.ggml.tokens +string\[512\] .*\.\.\. \(512 string\)" "$tmp/t.txt"'
check "tensor row" 'grep -Eq "blk.0.ffn_down.weight +f16 +\[172, 64\] +22016" "$tmp/t.txt"'
check "q4_0 tensor row" 'grep -Eq "blk.4.attn_q.weight +q4_0 +\[64, 64\] +2304" "$tmp/t.txt"'
check "48 tensor rows" '[ "$(grep -Ec "^  (blk\.|output|token_embd)" "$tmp/t.txt")" -eq 48 ]'
check "totals" 'grep -q "total: 48 tensors, 292800 parameters, 262624 bytes" "$tmp/t.txt"'

"$bin" gguf --json "$model" > "$tmp/j.json"
check "--json exit 0" '[ $? -eq 0 ]'
if command -v python3 > /dev/null; then
    check "--json parses and agrees" 'python3 -c "
import json,sys
d=json.load(open(sys.argv[1]))
assert d[\"n_tensors\"]==48 and d[\"n_params\"]==292800, d[\"n_params\"]
assert d[\"metadata\"][\"llama.embedding_length\"]==64
assert d[\"metadata\"][\"tokenizer.ggml.tokens\"][\"n\"]==512
t={x[\"name\"]:x for x in d[\"tensors\"]}
assert t[\"output.weight\"][\"type\"]==\"q8_0\" and t[\"output.weight\"][\"shape\"]==[64,512]
" "$tmp/j.json"'
fi

head -c 5000 "$model" > "$tmp/cut.gguf"
"$bin" gguf "$tmp/cut.gguf" > "$tmp/o.txt" 2> "$tmp/e.txt"
check "truncated file exits 3" '[ $? -eq 3 ]'
check "message starts with the file name" 'grep -q "^$tmp/cut.gguf: " "$tmp/e.txt"'
printf 'GGUF\001\000\000\000' > "$tmp/v1.gguf"
"$bin" gguf "$tmp/v1.gguf" > /dev/null 2> "$tmp/e.txt"
check "version 1 exits 3" '[ $? -eq 3 ] && grep -q "version 1" "$tmp/e.txt"'
"$bin" gguf "$tmp/missing.gguf" > /dev/null 2> "$tmp/e.txt"
check "missing file exits 3" '[ $? -eq 3 ] && grep -q "cannot open" "$tmp/e.txt"'
"$bin" gguf > /dev/null 2>&1; check "no file exits 2" '[ $? -eq 2 ]'
"$bin" gguf --nope "$model" > /dev/null 2>&1; check "unknown flag exits 2" '[ $? -eq 2 ]'
"$bin" gguf --help > /dev/null; check "--help exits 0" '[ $? -eq 0 ]'
exit $fail
