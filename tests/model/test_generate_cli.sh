#!/bin/bash
# SPDX-License-Identifier: MIT
# test_generate_cli.sh: `owbench generate` end to end on the shared stories260K models. Greedy
# 256 tokens from BOS with --ctx 512 must print exactly the reference text of MANIFEST.md (read
# from the file here) and nothing else on stdout, with 1 and 2 threads; the q8_0/q4_0 derivatives
# must run (how their text differs is printed); bad arguments exit 2, bad files exit 3.
set -u
data=${OWB_TEST_DATA:-../shared}
bin=${OWB_BIN:?}
tmp=${OWB_TMP:-/tmp}/generate_cli.$$
model=$data/models/gguf/stories260K.gguf
[ -r "$model" ] && [ -r "$data/MANIFEST.md" ] || { echo "SKIP: shared stories260K.gguf or MANIFEST.md absent"; exit 77; }
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; fi; }

# The reference text: the fenced block after "Decoded text." in MANIFEST.md, without the final
# newline that closes the block.
awk '/^Decoded text\./ {f=1; next} f && /^```/ {if (in_block) exit; in_block=1; next} in_block {print}' \
    "$data/MANIFEST.md" > "$tmp/ref.txt"
printf '%s' "$(cat "$tmp/ref.txt")" > "$tmp/ref_exact.txt"
check "reference text found in MANIFEST.md" '[ "$(wc -c < "$tmp/ref_exact.txt")" -gt 500 ]'

"$bin" generate -m "$model" -n 256 --ctx 512 --temp 0 > "$tmp/out1.txt" 2> "$tmp/err1.txt"
check "generate exit 0" '[ $? -eq 0 ]'
check "greedy 256 tokens equal MANIFEST text" 'cmp -s "$tmp/out1.txt" "$tmp/ref_exact.txt"'
check "warning about context > trained on stderr" 'grep -q "larger than the model" "$tmp/err1.txt"'
"$bin" generate -m "$model" -n 256 --ctx 512 --temp 0 --threads 2 > "$tmp/out2.txt" 2>/dev/null
check "2 threads give the same text" 'cmp -s "$tmp/out1.txt" "$tmp/out2.txt"'
# Sampling is reproducible for a seed.
"$bin" generate -m "$model" -p "Once upon a time" -n 30 --temp 0.9 --seed 7 > "$tmp/s1.txt" 2>/dev/null
"$bin" generate -m "$model" -p "Once upon a time" -n 30 --temp 0.9 --seed 7 > "$tmp/s2.txt" 2>/dev/null
check "same seed, same sample" 'cmp -s "$tmp/s1.txt" "$tmp/s2.txt" && [ -s "$tmp/s1.txt" ]'
# Without --ctx the metadata context (128) bounds generation.
"$bin" generate -m "$model" -n 300 > /dev/null 2> "$tmp/err3.txt"
check "context 128 fills up" 'grep -q "context of 128 tokens is full" "$tmp/err3.txt"'

for q in q8_0 q4_0; do
    f=$data/models/gguf/stories260K-$q.gguf
    [ -r "$f" ] || continue
    "$bin" generate -m "$f" -n 256 --ctx 512 --temp 0 > "$tmp/$q.txt" 2>/dev/null
    check "$q generate exit 0" '[ $? -eq 0 ] && [ -s "$tmp/$q.txt" ]'
    same=$(cmp "$tmp/$q.txt" "$tmp/ref_exact.txt" 2>/dev/null | sed -n 's/.*byte \([0-9]*\).*/\1/p')
    echo "$q: greedy text equals the f32 reference for the first ${same:-all} bytes:"
    head -c 300 "$tmp/$q.txt"; echo
done

"$bin" generate -n 5 > /dev/null 2>&1; check "missing -m exits 2" '[ $? -eq 2 ]'
"$bin" generate -m "$model" > /dev/null 2>&1; check "missing -n exits 2" '[ $? -eq 2 ]'
"$bin" generate -m "$model" -n 5 --temp -1 > /dev/null 2> "$tmp/e.txt"
check "negative --temp exits 2 with a message" '[ $? -eq 2 ] && grep -q -- "--temp" "$tmp/e.txt"'
"$bin" generate -m "$model" -n x > /dev/null 2>&1; check "-n x exits 2" '[ $? -eq 2 ]'
"$bin" generate --bogus > /dev/null 2>&1; check "unknown flag exits 2" '[ $? -eq 2 ]'
"$bin" generate --help > "$tmp/h.txt" 2>&1; check "--help exits 0" '[ $? -eq 0 ] && grep -q usage "$tmp/h.txt"'
head -c 100 "$model" > "$tmp/cut.gguf"
"$bin" generate -m "$tmp/cut.gguf" -n 5 > "$tmp/o.txt" 2> "$tmp/e.txt"
check "truncated model exits 3 naming the file" '[ $? -eq 3 ] && grep -q "cut.gguf" "$tmp/e.txt" && [ ! -s "$tmp/o.txt" ]'
vocab=$data/models/gguf/ggml-vocab-llama-spm.gguf
if [ -r "$vocab" ]; then
    "$bin" generate -m "$vocab" -n 5 > /dev/null 2> "$tmp/e.txt"
    check "vocab-only file exits 3 (no tensors)" '[ $? -eq 3 ] && grep -q "token_embd.weight" "$tmp/e.txt"'
fi
exit $fail
