#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The commands that take a model, on a gpt-oss file (`synth --preset gpt-oss-tiny`):
#   - generate: greedy text identical with 1 and 2 threads;
#   - eval ppl: a perplexity over two windows, the same with 1 and 2 threads;
#   - eval fingerprint + eval kld of the q8_0 derivative against the base.
# gpt-oss-tiny's vocabulary uses the "gpt-4o" pre-tokenizer: with a tokenizer that lacks it the
# test is skipped (77) and says so.
set -u
fail=0
t=$(mktemp -d "${OWB_TMP:-/tmp}/goss_cmds.XXXXXX")
trap 'rm -rf "$t"' EXIT
check() { if ! eval "$2"; then echo "FAIL: $1" >&2; fail=1; fi; }

"$OWB_BIN" synth --preset gpt-oss-tiny -o "$t/g.gguf" 2>/dev/null
"$OWB_BIN" synth --preset gpt-oss-tiny --type q8_0 -o "$t/q.gguf" 2>/dev/null
"$OWB_BIN" generate -m "$t/g.gguf" -p "Hello world" -n 12 --temp 0 --threads 1 >"$t/g1" 2>"$t/e1"
rc=$?
if [ $rc != 0 ] && grep -q 'pre-tokenizer "gpt-4o" is not supported' "$t/e1"; then
  echo "SKIP: this build's tokenizer has no gpt-4o pre-tokenizer (needed by gpt-oss vocabularies)"
  exit 77
fi
check "generate t1 exits 0 (got $rc: $(tail -2 "$t/e1"))" "[ $rc = 0 ]"
"$OWB_BIN" generate -m "$t/g.gguf" -p "Hello world" -n 12 --temp 0 --threads 2 >"$t/g2" 2>"$t/e2"
check "generate t2 exits 0" "[ $? = 0 ]"
check "generate: same text with 1 and 2 threads" "cmp -s '$t/g1' '$t/g2'"
check "generate wrote text" "[ -s '$t/g1' ]"

printf 'The quick brown fox jumps over the lazy dog. %.0s' $(seq 1 40) >"$t/text.txt"
for n in 1 2; do
  "$OWB_BIN" eval ppl -m "$t/g.gguf" -f "$t/text.txt" --ctx 64 --chunks 2 -t $n --quiet \
    -o "$t/ppl$n" >"$t/p$n" 2>&1
  check "eval ppl t$n exits 0 ($(tail -2 "$t/p$n"))" "[ $? = 0 ]"
done
check "ppl: same figure with 1 and 2 threads" \
  "[ \"\$(grep -o 'perplexity [0-9.]*' '$t/p1')\" = \"\$(grep -o 'perplexity [0-9.]*' '$t/p2')\" ]"

"$OWB_BIN" eval fingerprint -m "$t/g.gguf" -f "$t/text.txt" --ctx 64 --chunks 2 -t 2 --quiet \
  -o "$t/fp" >"$t/f" 2>&1
check "eval fingerprint exits 0 ($(tail -2 "$t/f"))" "[ $? = 0 ]"
"$OWB_BIN" eval kld --base "$t/fp" -m "$t/q.gguf" -t 2 --quiet -o "$t/kld" >"$t/k" 2>&1
check "eval kld exits 0 ($(tail -2 "$t/k"))" "[ $? = 0 ]"
check "kld reported" "grep -q 'KLD' '$t/k'"
exit $fail
