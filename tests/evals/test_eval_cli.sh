#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# owbench eval from the command line: help and usage errors (exit 2 naming the value); with the
# shared stories260K files (skipped, 77, when absent): eval ppl --ctx 128 --chunks 4 writes a
# valid result with 4 windows of 63 tokens and the same numbers with 1 and 2 threads; fingerprint
# + kld of the q8_0 and q4_0 derivatives order 0 < KLD(q8_0) < KLD(q4_0); a model with another
# tokenizer is refused (exit 2), a truncated fingerprint is an error (exit 3); the gate prints the
# MDE before the verdict and exits 0 (A/A), 1 (q4_0 against a tight margin), 4 (too few windows),
# 2 (different settings); eval mc on a tiny JSONL task and on a seeded HellaSwag subset; eval kld
# --base-llamacpp usage errors (2) and a truncated llama.cpp logits file (3).
set -u
fail=0
t=$(mktemp -d "${OWB_TMP:-/tmp}/eval_cli.XXXXXX")
trap 'rm -rf "$t"' EXIT
check() { if ! eval "$2"; then echo "FAIL: $1" >&2; fail=1; fi; }
B="$OWB_BIN"

"$B" eval --help >"$t/h" 2>&1; check "eval --help exits 0" "[ $? = 0 ]"
check "help lists gate" "grep -q gate '$t/h'"
for s in ppl fingerprint kld mc gate; do
  "$B" eval $s --help >"$t/h" 2>&1; check "eval $s --help exits 0" "[ $? = 0 ]"
done
"$B" eval bogus 2>"$t/e"; check "unknown subcommand exits 2" "[ $? = 2 ]"
"$B" eval ppl --nope 2>"$t/e"; check "unknown flag exits 2" "[ $? = 2 ]"
"$B" eval ppl -m x -f y --ctx 2 2>"$t/e"; check "--ctx 2 exits 2" "[ $? = 2 ]"
check "message names the value" "grep -q \"'2'\" '$t/e'"
"$B" eval ppl -f y 2>"$t/e"; check "missing -m exits 2" "[ $? = 2 ]"
"$B" eval gate --baseline a --candidate b --alpha 0.9 2>"$t/e"; check "--alpha 0.9 exits 2" "[ $? = 2 ]"
"$B" eval mc --task x -m y --format csv 2>"$t/e"; check "--format csv exits 2" "[ $? = 2 ]"
check "format message" "grep -q 'hellaswag or jsonl' '$t/e'"
"$B" eval ppl -m /nonexistent.gguf -f /nonexistent.txt -o "$t/x" 2>"$t/e"
check "missing model exits 3" "[ $? = 3 ]"
# --base-llamacpp: usage errors exit 2; a file that is not llama.cpp's logits exits 3 naming it
"$B" eval kld --base a --base-llamacpp b -m m -f x 2>"$t/e"; check "--base with --base-llamacpp exits 2" "[ $? = 2 ]"
"$B" eval kld --base-llamacpp b -m m 2>"$t/e"; check "--base-llamacpp without -f exits 2" "[ $? = 2 ]"
"$B" eval kld --base-llamacpp b -m m -f x --tokens-from-file 2>"$t/e"; check "-f with --tokens-from-file exits 2" "[ $? = 2 ]"
"$B" eval kld --base a -m m -f x 2>"$t/e"; check "-f with a fingerprint exits 2" "[ $? = 2 ]"
printf '_logits_\200\0\0\0' >"$t/short.kld"
"$B" eval kld --base-llamacpp "$t/short.kld" -m m --tokens-from-file -o "$t/kl" 2>"$t/e"
check "truncated llama.cpp logits exit 3" "[ $? = 3 ] && grep -q 'short.kld' '$t/e' && [ ! -e '$t/kl/kld.json' ]"

D="${OWB_TEST_DATA:-}"
M="$D/models/gguf"
T="$D/data/tinystories/tinystories_validation_head.txt"
if [ ! -r "$M/stories260K.gguf" ] || [ ! -r "$T" ]; then
  echo "SKIP: needs models/gguf/stories260K.gguf and data/tinystories under OWB_TEST_DATA" >&2
  [ $fail = 0 ] && exit 77 || exit 1
fi
py() { python3 -c "import json,sys; $1"; }

"$B" eval ppl -m "$M/stories260K.gguf" -f "$T" --ctx 128 --chunks 4 -o "$t/p4" >"$t/o" 2>"$t/e"
check "eval ppl exits 0 ($(tail -1 $t/e))" "[ $? = 0 ]"
check "prints perplexity" "grep -q '^perplexity' '$t/o'"
check "progress with ETA" "grep -q 'ETA' '$t/e'"
check "ppl.json: 4 windows of 63, finite PPL in its CI" "py \"e=json.load(open('$t/p4/ppl.json'))['evals'][0]; w=e['windows']; assert e['metric']=='perplexity' and e['n']==252 and len(w['nll'])==4 and w['count']==[63]*4; assert 1<e['value']<50 and e['ci95_lo']<=e['value']<=e['ci95_hi']; assert e['identity']['n_ctx']==128\""

"$B" eval ppl -m "$M/stories260K.gguf" -f "$T" --ctx 128 --max-bytes 40000 -t 1 -o "$t/t1" --quiet >/dev/null 2>&1
"$B" eval ppl -m "$M/stories260K.gguf" -f "$T" --ctx 128 --max-bytes 40000 -t 2 -o "$t/t2" --quiet >/dev/null 2>&1
check "same windows and numbers with 1 and 2 threads" "py \"a=json.load(open('$t/t1/ppl.json'))['evals'][0]; b=json.load(open('$t/t2/ppl.json'))['evals'][0]; assert a['windows']==b['windows'] and a['value']==b['value'] and a['ci95_lo']==b['ci95_lo']\""

"$B" eval fingerprint -m "$M/stories260K.gguf" -f "$T" --ctx 128 --max-bytes 40000 --top-k 32 -o "$t/base.owbfp" --quiet >"$t/o" 2>"$t/e"
check "fingerprint exits 0 ($(tail -1 $t/e))" "[ $? = 0 ] && [ -s '$t/base.owbfp' ]"
for q in q8_0 q4_0; do
  "$B" eval kld --base "$t/base.owbfp" -m "$M/stories260K-$q.gguf" --reps 200 -o "$t/k_$q" --quiet >"$t/o_$q" 2>"$t/e"
  check "kld $q exits 0 ($(tail -1 $t/e))" "[ $? = 0 ]"
done
check "0 < KLD(q8_0) < KLD(q4_0), top-1 q8_0 > q4_0" "py \"k=lambda q,m: [e for e in json.load(open('$t/k_'+q+'/kld.json'))['evals'] if e['metric']==m][0]['value']; assert 0 < k('q8_0','kld_mean') < k('q4_0','kld_mean'); assert k('q8_0','top1_agreement') > k('q4_0','top1_agreement')\""
check "kld prints the table" "grep -q 'top-1 agreement' '$t/o_q4_0' && grep -q 'KLD p99' '$t/o_q4_0'"

if [ -r "$M/ggml-vocab-llama-spm.gguf" ]; then
  "$B" eval kld --base "$t/base.owbfp" -m "$M/ggml-vocab-llama-spm.gguf" -o "$t/kx" 2>"$t/e"
  check "another tokenizer exits 2" "[ $? = 2 ]"
  check "refusal names the tokenizer" "grep -q 'tokenizer differs' '$t/e'"
fi
head -c 5000 "$t/base.owbfp" >"$t/cut.owbfp"
"$B" eval kld --base "$t/cut.owbfp" -m "$M/stories260K-q8_0.gguf" -o "$t/ky" 2>"$t/e"
check "truncated fingerprint exits 3" "[ $? = 3 ]"
check "message names the file" "grep -q 'cut.owbfp: ' '$t/e'"

"$B" eval ppl -m "$M/stories260K.gguf" -f "$T" --ctx 128 --max-bytes 40000 -o "$t/pb" --quiet >/dev/null 2>&1
"$B" eval gate --baseline "$t/pb" --candidate "$t/t1/ppl.json" >"$t/g" 2>&1
check "gate A/A exits 0" "[ $? = 0 ]"
check "MDE printed before the verdict" "[ \$(grep -n 'minimum detectable' '$t/g' | cut -d: -f1) -lt \$(grep -n '^verdict' '$t/g' | cut -d: -f1) ]"
check "A/A says PASS" "grep -q 'verdict: PASS' '$t/g'"
"$B" eval gate --baseline "$t/pb" --candidate "$t/k_q4_0" --max-ppl-ratio 1.01 -o "$t/gout" >"$t/g" 2>&1
check "q4_0 fails a 1% PPL margin (exit 1)" "[ $? = 1 ]"
check "gate.json written" "py \"d=json.load(open('$t/gout/gate.json')); assert [e for e in d['evals'] if e['name']=='gate'][0]['verdict']=='FAIL'\""
"$B" eval gate --baseline "$t/p4" --candidate "$t/p4/ppl.json" >"$t/g" 2>&1
check "4 windows: INCONCLUSIVE (exit 4)" "[ $? = 4 ]"
"$B" eval ppl -m "$M/stories260K.gguf" -f "$T" --ctx 64 --max-bytes 40000 -o "$t/c64" --quiet >/dev/null 2>&1
"$B" eval gate --baseline "$t/pb" --candidate "$t/c64" >"$t/g" 2>"$t/e"
check "different settings refused (exit 2)" "[ $? = 2 ]"
check "refusal names the field" "grep -q 'n_ctx differs' '$t/e'"

if python3 -c 'import jsonschema' 2>/dev/null; then
  check "results validate against the JSON schema" "py \"import jsonschema; s=json.load(open('$OWB_SRC/results/owbench.result.schema.json')); [jsonschema.validate(json.load(open(f)), s) for f in ['$t/p4/ppl.json', '$t/k_q4_0/kld.json', '$t/gout/gate.json']]\""
fi

cat >"$t/task.jsonl" <<'J'
{"id": "a", "context": "Once upon a time, there was a little", "endings": ["girl.", "xqzv."], "label": 0}
{"id": "b", "context": "She was very", "endings": ["happy.", "qqqq."], "label": 0}
{"id": "c", "context": "The dog ran to the", "endings": ["park.", "zzxq."], "label": 0}
J
"$B" eval mc --task "$t/task.jsonl" -m "$M/stories260K.gguf" -o "$t/mc" >"$t/o" 2>"$t/e"
check "eval mc exits 0 ($(tail -1 $t/e))" "[ $? = 0 ]"
check "mc: stories260K prefers real words (acc 1)" "py \"e=json.load(open('$t/mc/mc.json'))['evals']; assert e[0]['metric']=='acc' and e[0]['value']==1.0 and e[0]['n']==3; assert e[1]['metric']=='acc_norm'\""
check "mc_items.jsonl has one line per item" "[ \$(wc -l <'$t/mc/mc_items.jsonl') = 3 ]"
H="$D/data/hellaswag/hellaswag_val_full.txt"
if [ -r "$H" ]; then
  "$B" eval mc --task "$H" -m "$M/stories260K.gguf" --limit 8 --seed 3 --ctx 512 -o "$t/hs" --quiet >"$t/o" 2>"$t/e"
  check "hellaswag subset exits 0 ($(tail -1 $t/e))" "[ $? = 0 ]"
  check "8 items, ids not the first 8" "py \"import json; L=[json.loads(l) for l in open('$t/hs/mc_items.jsonl')]; assert len(L)==8 and any(x['index']>=8 for x in L) and all(x['id']=='hellaswag/%d'%x['index'] for x in L)\""
fi
exit $fail
