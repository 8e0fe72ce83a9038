#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# owbench synth and owbench quantize from the command line: --list shows every preset with the
# published parameter counts; a tiny synthetic model is written, inspected by `owbench gguf`, and
# is reproducible by seed; --layers truncates; quantize writes a derivative with per-tensor
# progress and a fallback summary; `owbench generate` runs both files; bad arguments exit 2
# naming the value, runtime failures exit 3, and no partial output file is left behind.
set -u
fail=0
t=$(mktemp -d "${OWB_TMP:-/tmp}/synth_cli.XXXXXX")
trap 'rm -rf "$t"' EXIT
check() { if ! eval "$2"; then echo "FAIL: $1" >&2; fail=1; fi; }
no_output() { [ -z "$(ls "$t" | grep -E "$1")" ]; }
stories="${OWB_TEST_DATA:-}/models/gguf/stories260K.gguf"

"$OWB_BIN" synth --help >"$t/help" 2>&1; rc=$?
check "synth --help exits 0" "[ $rc = 0 ]"
check "help mentions --layers" "grep -q -- --layers '$t/help'"
"$OWB_BIN" quantize --help >"$t/help" 2>&1; rc=$?
check "quantize --help exits 0" "[ $rc = 0 ]"
check "quantize help lists q4_K" "grep -q q4_K '$t/help'"

"$OWB_BIN" synth --list >"$t/list" 2>&1; rc=$?
check "synth --list exits 0" "[ $rc = 0 ]"
for p in tiny llama-3.2-1b llama-3.1-8b qwen2.5-0.5b mistral-7b llama-1b-32k; do
  check "--list shows $p" "grep -q '^$p ' '$t/list'"
done
# Published counts (safetensors of the real models): Llama 3.2 1B 1,235,814,400; Llama 3.1 8B
# 8,030,261,248; Mistral 7B 7,241,732,096.
check "--list: llama-3.2-1b has 1235814400 parameters" "grep '^llama-3.2-1b ' '$t/list' | grep -q 1235814400"
check "--list: llama-3.1-8b has 8030261248 parameters" "grep '^llama-3.1-8b ' '$t/list' | grep -q 8030261248"
check "--list: mistral-7b has 7241732096 parameters" "grep '^mistral-7b ' '$t/list' | grep -q 7241732096"

"$OWB_BIN" synth --preset tiny --type q8_0 --seed 11 -o "$t/a.gguf" 2>"$t/e"; rc=$?
check "synth tiny exits 0 (got $rc: $(tail -2 "$t/e"))" "[ $rc = 0 ]"
check "progress line per tensor" "[ \$(grep -c '^\[' '$t/e') = 48 ]"
check "ffn_down fallback reported" "grep 'blk.0.ffn_down.weight' '$t/e' | grep -q fallback"
"$OWB_BIN" gguf "$t/a.gguf" >"$t/g" 2>&1; rc=$?
check "owbench gguf reads the synthetic file" "[ $rc = 0 ]"
check "48 tensors" "grep -q 'tensors: 48' '$t/g'"
check "block_count 5" "grep 'llama.block_count' '$t/g' | grep -q 5"
check "file_type 7 (q8_0)" "grep 'general.file_type' '$t/g' | grep -q 7"
check "tokenizer present" "grep -q 'tokenizer.ggml.tokens *string\[512\]' '$t/g'"

"$OWB_BIN" synth --preset tiny --type q8_0 --seed 11 -o "$t/b.gguf" 2>/dev/null
"$OWB_BIN" synth --preset tiny --type q8_0 --seed 12 -o "$t/c.gguf" 2>/dev/null
check "same seed, same bytes" "cmp -s '$t/a.gguf' '$t/b.gguf'"
check "other seed, other bytes" "! cmp -s '$t/a.gguf' '$t/c.gguf'"

"$OWB_BIN" synth --preset tiny --layers 2 -o "$t/l2.gguf" 2>/dev/null; rc=$?
check "--layers 2 exits 0" "[ $rc = 0 ]"
"$OWB_BIN" gguf "$t/l2.gguf" >"$t/g2" 2>&1
check "--layers 2: 2 blocks, 21 tensors" "grep -q 'tensors: 21' '$t/g2' && grep 'llama.block_count' '$t/g2' | grep -q 2"
check "default type is f16" "grep 'blk.0.attn_q.weight' '$t/g2' | grep -q f16"

if "$OWB_BIN" generate --help >/dev/null 2>&1; then
  "$OWB_BIN" generate -m "$t/a.gguf" -n 8 --temp 0 >"$t/gen" 2>"$t/e"; rc=$?
  check "generate runs the synthetic model (got $rc: $(tail -1 "$t/e"))" "[ $rc = 0 ]"
else
  echo "note: owbench generate absent; synthetic decode check skipped" >&2
fi

# Bad arguments: exit 2, the message names the value, nothing written.
"$OWB_BIN" synth --preset llama-9000 -o "$t/x.gguf" 2>"$t/e"; rc=$?
check "unknown preset exits 2" "[ $rc = 2 ]"
check "message names the preset" "grep -q llama-9000 '$t/e'"
"$OWB_BIN" synth --preset tiny --type q5_9 -o "$t/x.gguf" 2>"$t/e"; rc=$?
check "unknown type exits 2" "[ $rc = 2 ]"
check "message names the type" "grep -q q5_9 '$t/e'"
"$OWB_BIN" synth --preset tiny --layers 6 -o "$t/x.gguf" 2>"$t/e"; rc=$?
check "--layers 6 on a 5-layer preset exits 2" "[ $rc = 2 ]"
"$OWB_BIN" synth --preset tiny --layers 0 -o "$t/x.gguf" 2>"$t/e"; rc=$?
check "--layers 0 exits 2" "[ $rc = 2 ]"
check "layers message names the value" "grep -q \"'0'\" '$t/e'"
"$OWB_BIN" synth --preset tiny --seed -3 -o "$t/x.gguf" 2>"$t/e"; rc=$?
check "--seed -3 exits 2" "[ $rc = 2 ]"
"$OWB_BIN" synth --preset tiny 2>"$t/e"; rc=$?
check "missing -o exits 2" "[ $rc = 2 ]"
"$OWB_BIN" synth --bogus 2>"$t/e"; rc=$?
check "unknown flag exits 2" "[ $rc = 2 ]"
check "no x.gguf written" "no_output '^x\.gguf'"
"$OWB_BIN" synth --preset tiny -o "$t/no/such/dir/x.gguf" 2>"$t/e"; rc=$?
check "unwritable output exits 3" "[ $rc = 3 ]"
check "message names the path" "grep -q no/such/dir '$t/e'"

# quantize
if [ -r "$stories" ]; then
  "$OWB_BIN" quantize "$stories" "$t/q.gguf" --type q4_0 2>"$t/e"; rc=$?
  check "quantize q4_0 exits 0 (got $rc: $(tail -2 "$t/e"))" "[ $rc = 0 ]"
  check "one progress line per tensor" "[ \$(grep -c '^\[' '$t/e') = 48 ]"
  check "fallback summary names ffn_down" "grep 'fell back' '$t/e' | grep -q blk.0.ffn_down.weight"
  "$OWB_BIN" gguf "$t/q.gguf" >"$t/g" 2>&1
  check "derivative has q4_0 matrices" "grep 'blk.0.attn_q.weight' '$t/g' | grep -q q4_0"
  check "derivative's file_type is 2" "grep 'general.file_type' '$t/g' | grep -q ' 2'"
  if "$OWB_BIN" generate --help >/dev/null 2>&1; then
    out=$("$OWB_BIN" generate -m "$t/q.gguf" -n 12 --temp 0 2>/dev/null)
    check "the q4_0 derivative still tells the story (got '$out')" "[[ \"\$out\" == 'Once upon a time'* ]]"
  fi
else
  echo "note: $stories absent; quantize of a real file skipped" >&2
fi
"$OWB_BIN" quantize "$t/a.gguf" "$t/aq.gguf" --type f16 2>"$t/e"; rc=$?
check "quantize a synthetic file exits 0" "[ $rc = 0 ]"
"$OWB_BIN" quantize "$t/nonexistent.gguf" "$t/y.gguf" --type q8_0 2>"$t/e"; rc=$?
check "missing input exits 3" "[ $rc = 3 ]"
check "message names the input" "grep -q nonexistent.gguf '$t/e'"
echo "not a gguf" >"$t/text.gguf"
"$OWB_BIN" quantize "$t/text.gguf" "$t/y.gguf" --type q8_0 2>"$t/e"; rc=$?
check "non-GGUF input exits 3" "[ $rc = 3 ]"
check "message names the input" "grep -q text.gguf '$t/e'"
"$OWB_BIN" quantize "$t/a.gguf" "$t/y.gguf" --type q3_K 2>"$t/e"; rc=$?
check "unsupported type exits 2" "[ $rc = 2 ]"
check "message names the type" "grep -q q3_K '$t/e'"
"$OWB_BIN" quantize "$t/a.gguf" "$t/y.gguf" 2>"$t/e"; rc=$?
check "missing --type exits 2" "[ $rc = 2 ]"
"$OWB_BIN" quantize "$t/a.gguf" --type q8_0 2>"$t/e"; rc=$?
check "one file argument exits 2" "[ $rc = 2 ]"
check "no y.gguf and no temporary files left" "no_output '^y\.gguf|\.tmp\.'"

exit $fail
