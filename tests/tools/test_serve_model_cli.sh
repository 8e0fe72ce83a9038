#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# owbench serve against a real engine: `owbench serve-model` on stories260K. Streaming completions
# and chat both finish every request without an error, usage is reported (token counts from the
# final usage chunk), ignore_eos is honoured (every request reaches max_tokens), the server's
# /metrics is found and scraped by default (its generation counter rises during the run),
# and the non-streaming answer with echo + logprobs has one entry per prompt token plus the
# generated ones. Also: serve-model refuses a second bind of the same port (exit 3) and answers an
# unknown route with 404 and bad JSON with 400. Skips (77) without the shared model.
set -u
fail=0
t=$(mktemp -d "${OWB_TMP:-/tmp}/serve_model.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$t"
}
trap cleanup EXIT
check() { if ! eval "$2"; then echo "FAIL: $1" >&2; fail=1; fi; }
B="$OWB_BIN"
M="${OWB_TEST_DATA:-}/models/gguf/stories260K.gguf"
[ -r "$M" ] || { echo "SKIP: needs models/gguf/stories260K.gguf under OWB_TEST_DATA"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: needs curl"; exit 77; }

"$B" serve-model -m "$M" --port 0 --port-file "$t/port" 2>"$t/sm.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$t/port" ] && break; sleep 0.05; done
P=$(cat "$t/port")
U="http://127.0.0.1:$P/v1"
check "listening line names the model" "grep -q 'stories260K.gguf (n_ctx 128, vocab 512) listening' '$t/sm.log'"

for ep in completions chat; do
  "$B" serve --url "$U" --endpoint $ep --requests 30 --concurrency 3 --input-len 10 --output-len 24 --metrics-interval 20 -o "$t/$ep" -q >/dev/null 2>"$t/e_$ep"
  check "serve --endpoint $ep exits 0 ($(tail -1 $t/e_$ep))" "[ $? = 0 ]"
  check "$ep: all ok, usage counted, max_tokens reached, /metrics scraped" "python3 -c \"import json; b=json.load(open('$t/$ep/serve.json'))['benchmarks'][0]; s=b['serving']; r=s['requests']; assert r['ok']==30 and r['failed']==0, r; assert s['output_len_honoured_frac']==1, s['output_len_honoured_frac']; sm=s['server_metrics']; g=[v for v in sm['series']['owb:generation_tokens_total'] if v is not None]; assert sm['url'].endswith(':$P/metrics') and len(g)>=2 and g[-1]>g[0] and g==sorted(g), (sm['url'], g)\""
done

curl -s "$U/completions" -d '{"prompt":"Once upon a time","max_tokens":3,"echo":true,"logprobs":2,"ignore_eos":true}' >"$t/echo.json"
check "echo + logprobs: prompt entries + generated, null first, top-2 each" "python3 -c \"import json; c=json.load(open('$t/echo.json'))['choices'][0]; l=c['logprobs']; n=len(l['tokens']); assert n==len(l['token_logprobs'])==len(l['top_logprobs']) and n==5+3, n; assert l['token_logprobs'][0] is None and all(len(x)==2 for x in l['top_logprobs'][1:]); assert all(v<=0 for v in l['token_logprobs'][1:])\""
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/nope")
check "unknown route: 404" "[ '$code' = 404 ]"
code=$(curl -s -o "$t/bad" -w '%{http_code}' "$U/completions" -d '{not json')
check "bad JSON: 400 with a message" "[ '$code' = 400 ] && grep -q 'not a JSON object' '$t/bad'"
"$B" serve-model -m "$M" --port "$P" 2>"$t/e2"
check "second bind of the port: exit 3" "[ $? = 3 ]"
exit $fail
