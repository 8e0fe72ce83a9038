#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The evals through a server (`eval ... --url`) against `owbench serve-model` on stories260K: eval
# ppl --url equals the local eval ppl (4 significant digits; in fact bit for bit), with the probe's
# findings in the result; llama.cpp's native /completion fallback (serve-model --no-echo) gives the
# same perplexity; a server answering every 3rd request with 503 still gives it (retries counted);
# a run killed half-way resumes from its checkpoint with identical results, and a cut last line of
# the checkpoint is dropped (the engine's sums can differ from the local run's in the last bit,
# since the server scores every position of a window in other batch shapes: resumed runs are
# compared with an uninterrupted server run); fingerprint --url + kld of the local model against it is ~0, kld
# --url of q4_0 against the base is as the local one; mc --url equals the local mc; another
# tokenizer, a server without log-probs (owb-testserver) and a checkpoint of another server are
# refused with exit 2. Skips (77) without the shared files.
set -u
fail=0
t=$(mktemp -d "${OWB_TMP:-/tmp}/eval_server.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$t"
}
trap cleanup EXIT
check() { if ! eval "$2"; then echo "FAIL: $1" >&2; fail=1; fi; }
B="$OWB_BIN"
TS=$(dirname "$B")/owb-testserver
D="${OWB_TEST_DATA:-}"
M="$D/models/gguf"
T="$D/data/tinystories/tinystories_validation_head.txt"

"$B" eval ppl --url http://127.0.0.1:1/v1 -f x 2>"$t/e"; check "--url without --tokenizer exits 2" "[ $? = 2 ]"
check "message names --tokenizer" "grep -q -- '--tokenizer' '$t/e'"
"$B" eval ppl -m x -f y --checkpoint c 2>"$t/e"; check "--checkpoint without --url exits 2" "[ $? = 2 ]"
"$B" eval ppl --url x --tokenizer y -f z --method magic 2>"$t/e"; check "--method magic exits 2" "[ $? = 2 ]"
"$B" serve-model 2>"$t/e"; check "serve-model without -m exits 2" "[ $? = 2 ]"
"$B" serve-model -m x --port 70000 2>"$t/e"; check "serve-model --port 70000 exits 2" "[ $? = 2 ]"

if [ ! -r "$M/stories260K.gguf" ] || [ ! -r "$T" ]; then
  echo "SKIP: needs models/gguf/stories260K.gguf and data/tinystories under OWB_TEST_DATA" >&2
  [ $fail = 0 ] && exit 77 || exit 1
fi
py() { python3 -c "import json,sys; $1"; }

# start NAME ARGS...: serve-model in the background, its port in $port
start() {
  local name=$1
  shift
  "$B" serve-model --port 0 --port-file "$t/$name.port" "$@" 2>"$t/$name.log" &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$t/$name.port" ] && break; sleep 0.05; done
  port=$(cat "$t/$name.port" 2>/dev/null)
  [ -n "$port" ] || { echo "FAIL: serve-model $name did not start: $(cat $t/$name.log)" >&2; exit 1; }
}
start base -m "$M/stories260K.gguf"
U="http://127.0.0.1:$port/v1"
common=(-f "$T" --ctx 128 --max-bytes 30000 --reps 300)

"$B" eval ppl -m "$M/stories260K.gguf" "${common[@]}" -o "$t/local" --quiet >"$t/o_local" 2>&1
check "local ppl exits 0" "[ $? = 0 ]"
"$B" eval ppl --url "$U" --tokenizer "$M/stories260K.gguf" "${common[@]}" --concurrency 4 -o "$t/srv" >"$t/o_srv" 2>"$t/e_srv"
check "ppl --url exits 0 ($(tail -1 $t/e_srv))" "[ $? = 0 ]"
check "probe summary on stderr" "grep -q 'scoring by prompt log-probs (echo)' '$t/e_srv'"
check "progress line" "grep -q 'ETA' '$t/e_srv'"
same_ppl() { py "a=json.load(open('$1'))['evals'][0]; b=json.load(open('$2'))['evals'][0]; assert a['n']==b['n'] and a['identity']==b['identity'], 'identity'; assert float('%.4g'%a['value'])==float('%.4g'%b['value']), (a['value'],b['value']); assert abs(a['value']-b['value'])<=1e-6*a['value']"; }
check "ppl --url equals local ppl to 4 significant digits" "same_ppl '$t/local/ppl.json' '$t/srv/ppl.json'"
check "server findings in the result" "py \"s=json.load(open('$t/srv/ppl.json'))['evals'][0]['params']; v=s['server']; assert s['producer']=='server' and v['method']=='echo' and v['tokenizer_agrees'] and v['normalised'] and v['repeatable'] and v['token_ids_returned'] and v['requests']>=1 and v['concurrency']==4, v\""

# llama.cpp's native endpoint, teacher-forced (one request per position).
start noecho -m "$M/stories260K.gguf" --no-echo
"$B" eval ppl -m "$M/stories260K.gguf" -f "$T" --ctx 64 --chunks 3 -o "$t/local3" --quiet >/dev/null 2>&1
"$B" eval ppl --url "http://127.0.0.1:$port/v1" --tokenizer "$M/stories260K.gguf" -f "$T" --ctx 64 --chunks 3 --server-top-k 512 -o "$t/native" --quiet >"$t/o" 2>"$t/e"
check "ppl --url through /completion exits 0 ($(tail -1 $t/e))" "[ $? = 0 ]"
check "native method recorded, same ppl" "py \"v=json.load(open('$t/native/ppl.json'))['evals'][0]['params']['server']; assert v['method']=='native' and v['requests']>=3*31, v\" && same_ppl '$t/local3/ppl.json' '$t/native/ppl.json'"

# Retries: every 3rd POST fails with 503.
start flaky -m "$M/stories260K.gguf" --fail-every 3
"$B" eval ppl --url "http://127.0.0.1:$port/v1" --tokenizer "$M/stories260K.gguf" "${common[@]}" -o "$t/flaky" --quiet >/dev/null 2>"$t/e"
check "ppl through a flaky server exits 0 ($(tail -1 $t/e))" "[ $? = 0 ]"
check "retries counted, same ppl" "py \"v=json.load(open('$t/flaky/ppl.json'))['evals'][0]['params']['server']; assert v['retried']>0, v\" && same_ppl '$t/local/ppl.json' '$t/flaky/ppl.json'"
"$B" eval ppl --url "http://127.0.0.1:$port/v1" --tokenizer "$M/stories260K.gguf" "${common[@]}" --retries 0 -o "$t/flaky0" --quiet >/dev/null 2>"$t/e"
check "--retries 0 against it fails with exit 3 naming HTTP 503" "[ $? = 3 ] && grep -q 503 '$t/e'"

# Resume: kill a run half-way (a slow server: one request at a time, each window a request),
# rerun with the same checkpoint; also a cut last line.
ck="$t/run.ckpt"
"$B" eval ppl --url "$U" --tokenizer "$M/stories260K.gguf" "${common[@]}" --chunks 20 --checkpoint "$ck" -o "$t/part" --quiet >/dev/null 2>&1
check "partial run wrote 20 answers" "[ \$(( \$(wc -l < '$ck') - 1 )) -ge 20 ]"
printf '0123abcd {"choices":[{"logpr' >>"$ck"
"$B" eval ppl --url "$U" --tokenizer "$M/stories260K.gguf" "${common[@]}" --checkpoint "$ck" -o "$t/resumed" --quiet >/dev/null 2>"$t/e"
check "resumed run exits 0 ($(tail -1 $t/e))" "[ $? = 0 ]"
check "resumed: answers from the checkpoint, identical result" "py \"v=json.load(open('$t/resumed/ppl.json'))['evals'][0]['params']['server']; assert v['answers_from_checkpoint']>=20, v\" && py \"a=json.load(open('$t/srv/ppl.json'))['evals'][0]; b=json.load(open('$t/resumed/ppl.json'))['evals'][0]; assert a['windows']==b['windows'] and a['value']==b['value'] and a['ci95_lo']==b['ci95_lo']\""
ck2="$t/kill.ckpt"
"$B" eval ppl --url "$U" --tokenizer "$M/stories260K.gguf" "${common[@]}" --concurrency 1 --checkpoint "$ck2" -o "$t/killed" --quiet >/dev/null 2>&1 &
kp=$!
for _ in $(seq 200); do [ -s "$ck2" ] && [ "$(wc -l <"$ck2")" -gt 30 ] && break; sleep 0.02; done
kill -9 $kp 2>/dev/null; wait $kp 2>/dev/null
nk=$(($(wc -l <"$ck2") - 1))
"$B" eval ppl --url "$U" --tokenizer "$M/stories260K.gguf" "${common[@]}" --checkpoint "$ck2" -o "$t/after" --quiet >/dev/null 2>"$t/e"
check "rerun after kill -9 exits 0 ($(tail -1 $t/e))" "[ $? = 0 ] && [ ! -e '$t/killed/ppl.json' ]"
check "after kill: $nk answers reused, result identical to an uninterrupted run" "py \"v=json.load(open('$t/after/ppl.json'))['evals'][0]['params']['server']; assert v['answers_from_checkpoint']>=$nk>0, v\" && py \"a=json.load(open('$t/srv/ppl.json'))['evals'][0]; b=json.load(open('$t/after/ppl.json'))['evals'][0]; assert a['windows']==b['windows'] and a['value']==b['value']\""
start other -m "$M/stories260K.gguf" --name other
"$B" eval ppl --url "http://127.0.0.1:$port/v1" --tokenizer "$M/stories260K.gguf" "${common[@]}" --checkpoint "$ck" -o "$t/x" --quiet >/dev/null 2>"$t/e"
check "checkpoint of another server/model refused (exit 2)" "[ $? = 2 ] && grep -q 'checkpoint of another' '$t/e'"

# Fingerprint through the server, KLD of the local model and of q4_0.
"$B" eval fingerprint --url "$U" --tokenizer "$M/stories260K.gguf" "${common[@]}" --top-k 16 -o "$t/srv.owbfp" --quiet >/dev/null 2>"$t/e"
check "fingerprint --url exits 0 ($(tail -1 $t/e))" "[ $? = 0 ]"
"$B" eval kld --base "$t/srv.owbfp" -m "$M/stories260K.gguf" --reps 200 -o "$t/kself" --quiet >/dev/null 2>"$t/e"
check "kld of the local model against the served fingerprint ~ 0" "[ $? = 0 ] && py \"e=[x for x in json.load(open('$t/kself/kld.json'))['evals'] if x['metric']=='kld_mean'][0]; assert e['value']<1e-6, e['value']\""
"$B" eval fingerprint -m "$M/stories260K.gguf" "${common[@]}" --top-k 16 -o "$t/loc.owbfp" --quiet >/dev/null 2>&1
"$B" eval kld --base "$t/loc.owbfp" -m "$M/stories260K-q4_0.gguf" --reps 200 -o "$t/kq4" --quiet >/dev/null 2>&1
start q4 -m "$M/stories260K-q4_0.gguf"
"$B" eval kld --base "$t/loc.owbfp" --url "http://127.0.0.1:$port/v1" --tokenizer "$M/stories260K-q4_0.gguf" --server-top-k 16 --reps 200 -o "$t/kq4s" --quiet >/dev/null 2>"$t/e"
check "kld --url q4_0 exits 0 ($(tail -1 $t/e))" "[ $? = 0 ]"
check "kld --url q4_0 within 10% of the local (top-16 imputation), k recorded" "py \"g=lambda d,m: [x for x in json.load(open(d+'/kld.json'))['evals'] if x['metric']==m][0]; a=g('$t/kq4','kld_mean')['value']; b=g('$t/kq4s','kld_mean')['value']; assert abs(a-b)<=0.1*a, (a,b); v=g('$t/kq4s','kld_mean')['params']['server']; assert v['top_k_returned']>=16 and 'query_ids_imputed' in v, v\""

# Multiple choice through the server.
cat >"$t/task.jsonl" <<'EOF'
{"id": "a", "context": "Once upon a time, there was a little", "endings": ["girl.", "rock hard table of numbers."], "label": 0}
{"id": "b", "context": "Tom and Lily went to the", "endings": ["park.", "quantum of the."], "label": 0}
{"id": "c", "context": "The dog was very", "endings": ["happy.", "seventeen."], "label": 0}
EOF
"$B" eval mc --task "$t/task.jsonl" -m "$M/stories260K.gguf" -o "$t/mcl" --quiet >/dev/null 2>&1
"$B" eval mc --task "$t/task.jsonl" --url "$U" --tokenizer "$M/stories260K.gguf" -o "$t/mcs" --quiet >/dev/null 2>"$t/e"
check "mc --url exits 0 ($(tail -1 $t/e))" "[ $? = 0 ]"
check "mc --url: same log-likelihoods as local" "py \"r=lambda d: [json.loads(l)['ll'] for l in open(d+'/mc_items.jsonl')]; a=r('$t/mcl'); b=r('$t/mcs'); assert all(abs(x-y)<=1e-6*abs(x) for p,q in zip(a,b) for x,y in zip(p,q)) and len(a)==3\""

# Refusals.
"$B" eval ppl --url "$U" --tokenizer "$M/../gguf/ggml-vocab-llama-spm.gguf" "${common[@]}" -o "$t/x" --quiet >/dev/null 2>"$t/e"
check "another tokenizer refused (exit 2)" "[ $? = 2 ] && grep -Eq 'tokenize|token ids' '$t/e'"
if [ -x "$TS" ]; then
  "$TS" --port-file "$t/ts.port" --max-seconds 60 2>"$t/ts.log" &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$t/ts.port" ] && break; sleep 0.05; done
  "$B" eval ppl --url "http://127.0.0.1:$(cat $t/ts.port)/v1" --tokenizer "$M/stories260K.gguf" "${common[@]}" -o "$t/x" --quiet >/dev/null 2>"$t/e"
  check "a server without log-probs is refused (exit 2) naming both methods" "[ $? = 2 ] && grep -q 'cannot score text through this server' '$t/e' && grep -q 'completion' '$t/e'"
fi
"$B" eval ppl --url "http://127.0.0.1:1/v1" --tokenizer "$M/stories260K.gguf" "${common[@]}" -o "$t/x" --quiet >/dev/null 2>"$t/e"
check "unreachable server: exit 3" "[ $? = 3 ] && grep -q 'cannot reach' '$t/e'"
exit $fail
