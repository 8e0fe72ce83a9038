#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gpt-oss from the command line: `synth --list` shows the three gpt-oss presets with the published
# parameter counts; `synth --preset gpt-oss-tiny` writes the released type mix (mxfp4 experts,
# bf16 matrices, f32 router); `quantize --type q8_0` turns the 3-D experts into q8_0 and `owbench
# gguf` shows them with their 3-D shape (text and --json); `quantize --type bf16 --expert-type
# mxfp4` goes back to the released mix; bad --expert-type / --vocab exit 2, a missing gpt-oss
# vocabulary exits 3 naming --vocab, and no partial file is left behind.
set -u
fail=0
t=$(mktemp -d "${OWB_TMP:-/tmp}/synth_gpt_oss_cli.XXXXXX")
trap 'rm -rf "$t"' EXIT
check() { if ! eval "$2"; then echo "FAIL: $1" >&2; fail=1; fi; }
no_output() { [ -z "$(ls "$t" | grep -E "$1")" ]; }

"$OWB_BIN" synth --list >"$t/list" 2>&1; rc=$?
check "synth --list exits 0" "[ $rc = 0 ]"
for p in gpt-oss-tiny gpt-oss-20b gpt-oss-120b; do
  check "--list shows $p" "grep -q '^$p ' '$t/list'"
done
# openai/gpt-oss model card: 20.91 B and 116.83 B parameters.
check "--list: gpt-oss-20b has 20914757184 parameters" "grep '^gpt-oss-20b ' '$t/list' | grep -q 20914757184"
check "--list: gpt-oss-120b has 116829156672 parameters" "grep '^gpt-oss-120b ' '$t/list' | grep -q 116829156672"
"$OWB_BIN" synth --help >"$t/help" 2>&1
check "help documents --expert-type and --vocab" "grep -q -- --expert-type '$t/help' && grep -q -- --vocab '$t/help'"

"$OWB_BIN" synth --preset gpt-oss-tiny --seed 3 -o "$t/tiny.gguf" 2>"$t/e"; rc=$?
check "synth gpt-oss-tiny exits 0 (got $rc: $(tail -2 "$t/e"))" "[ $rc = 0 ]"
check "progress line per tensor (79)" "[ \$(grep -c '^\[' '$t/e') = 79 ]"
"$OWB_BIN" gguf "$t/tiny.gguf" >"$t/g" 2>&1; rc=$?
check "owbench gguf reads it" "[ $rc = 0 ]"
check "architecture gpt-oss" "grep 'general.architecture' '$t/g' | grep -q '\"gpt-oss\"'"
check "experts mxfp4 [64, 96, 4]" "grep -E '^ *blk\.0\.ffn_up_exps\.weight +mxfp4 +\[64, 96, 4\]' '$t/g' >/dev/null"
check "down experts mxfp4 [96, 64, 4]" "grep -E '^ *blk\.0\.ffn_down_exps\.weight +mxfp4 +\[96, 64, 4\]' '$t/g' >/dev/null"
check "attention bf16" "grep -E '^ *blk\.0\.attn_q\.weight +bf16 +\[64, 128\]' '$t/g' >/dev/null"
check "router f32" "grep -E '^ *blk\.0\.ffn_gate_inp\.weight +f32 +\[64, 4\]' '$t/g' >/dev/null"
check "expert biases f32 2-D" "grep -E '^ *blk\.0\.ffn_gate_exps\.bias +f32 +\[96, 4\]' '$t/g' >/dev/null"
check "sinks f32" "grep -E '^ *blk\.0\.attn_sinks\.weight +f32 +\[4\]' '$t/g' >/dev/null"
check "pre-tokenizer gpt-4o" "grep 'tokenizer.ggml.pre' '$t/g' | grep -q gpt-4o"

"$OWB_BIN" quantize "$t/tiny.gguf" "$t/q8.gguf" --type q8_0 2>"$t/e"; rc=$?
check "quantize to q8_0 exits 0 (got $rc: $(tail -2 "$t/e"))" "[ $rc = 0 ]"
check "progress shows mxfp4 -> q8_0" "grep 'blk.0.ffn_up_exps.weight' '$t/e' | grep -q 'mxfp4 *-> q8_0'"
"$OWB_BIN" gguf "$t/q8.gguf" >"$t/g8" 2>&1
check "q8_0 experts keep their 3-D shape" "grep -E '^ *blk\.3\.ffn_gate_exps\.weight +q8_0 +\[64, 96, 4\]' '$t/g8' >/dev/null"
check "router stays f32" "grep -E '^ *blk\.3\.ffn_gate_inp\.weight +f32' '$t/g8' >/dev/null"
check "file_type 7" "grep 'general.file_type' '$t/g8' | grep -q ' 7$'"
"$OWB_BIN" gguf --json "$t/q8.gguf" >"$t/j8" 2>&1; rc=$?
check "gguf --json exits 0" "[ $rc = 0 ]"
if command -v jq >/dev/null 2>&1; then
  shape=$(jq -c '.tensors[] | select(.name == "blk.0.ffn_down_exps.weight") | [.type, .shape]' "$t/j8")
  check "--json: down experts q8_0 [96,64,4] (got $shape)" "[ '$shape' = '[\"q8_0\",[96,64,4]]' ]"
fi

"$OWB_BIN" quantize "$t/q8.gguf" "$t/back.gguf" --type bf16 --expert-type mxfp4 2>"$t/e"; rc=$?
check "quantize back to bf16 + mxfp4 experts exits 0" "[ $rc = 0 ]"
"$OWB_BIN" gguf "$t/back.gguf" >"$t/gb" 2>&1
check "back: the released mix" "[ \"\$(grep -E '^ *(blk|token|output)' '$t/gb' | awk '{print \$1, \$2, \$3, \$4, \$5}')\" = \"\$(grep -E '^ *(blk|token|output)' '$t/g' | awk '{print \$1, \$2, \$3, \$4, \$5}')\" ]"

"$OWB_BIN" synth --preset gpt-oss-tiny --type q4_0 --layers 2 -o "$t/q4.gguf" 2>"$t/e"; rc=$?
check "--type q4_0 --layers 2 exits 0" "[ $rc = 0 ]"
"$OWB_BIN" gguf "$t/q4.gguf" >"$t/g4" 2>&1
check "--type q4_0: experts q4_0" "grep -E '^ *blk\.1\.ffn_up_exps\.weight +q4_0' '$t/g4' >/dev/null"
check "--layers 2: 41 tensors" "grep -q 'tensors: 41' '$t/g4'"

# Errors.
"$OWB_BIN" synth --preset gpt-oss-tiny --expert-type q5_9 -o "$t/x.gguf" 2>"$t/e"; rc=$?
check "bad --expert-type exits 2" "[ $rc = 2 ]"
check "message names it" "grep -q q5_9 '$t/e'"
"$OWB_BIN" quantize "$t/tiny.gguf" "$t/y.gguf" --type q8_0 --expert-type q3_K 2>"$t/e"; rc=$?
check "quantize bad --expert-type exits 2" "[ $rc = 2 ]"
"$OWB_BIN" synth --preset gpt-oss-tiny --vocab "$t/v.gguf" -o "$t/x.gguf" 2>"$t/e"; rc=$?
check "--vocab on a generated-vocabulary preset exits 2" "[ $rc = 2 ]"
"$OWB_BIN" synth --preset gpt-oss-20b --layers 1 --vocab "$t/nonexistent-vocab.gguf" -o "$t/x.gguf" 2>"$t/e"; rc=$?
check "unreadable --vocab exits 3" "[ $rc = 3 ]"
check "message names the vocabulary" "grep -q nonexistent-vocab.gguf '$t/e'"
mkdir -p "$t/empty/cwd"
(cd "$t/empty/cwd" && OWB_TEST_DATA="$t/empty" "$OWB_BIN" synth --preset gpt-oss-20b --layers 1 -o "$t/x.gguf") 2>"$t/e"; rc=$?
check "no vocabulary found exits 3" "[ $rc = 3 ]"
check "message says --vocab" "grep -q -- --vocab '$t/e'"
check "no x.gguf, y.gguf or temporary left" "no_output '^x\.gguf|^y\.gguf|\.tmp\.'"

exit $fail
