#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# owbench report: usage errors (exit 2), an unreadable input (exit 3, no page); two `owbench serve`
# results against two owb-testserver configurations (a fast and a slow "backend", the slow one
# also scraped through --metrics-url of a serve-model when the shared model is there) and, with the
# shared data, eval results of serve-model and of the local engine: one report.html with the
# inputs, the side-by-side section, inline SVG figures (with gnuplot), environment and validity
# notes, server metrics and eval rows; no script, no external URL, a CSP forbidding fetches.
# Then the page is loaded in headless Chromium: no console message (a control page with a script
# error and a blocked fetch must produce them, so the check can fail), and a screenshot is taken
# (kept as build/report_screenshot.png). Skips (77) without owb-testserver or chromium.
set -u
fail=0
t=$(mktemp -d "${OWB_TMP:-/tmp}/report_cli.XXXXXX")
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
M="$D/models/gguf/stories260K.gguf"
TXT="$D/data/tinystories/tinystories_validation_head.txt"

"$B" report --help >/dev/null 2>&1; check "report --help exits 0" "[ $? = 0 ]"
"$B" report x.json 2>"$t/e"; check "no -o exits 2" "[ $? = 2 ]"
"$B" report -o "$t/r0" 2>"$t/e"; check "no input exits 2" "[ $? = 2 ]"
"$B" report /nonexistent.json -o "$t/r0" 2>"$t/e"; check "missing input exits 3, no page" "[ $? = 3 ] && [ ! -e '$t/r0/report.html' ]"

[ -x "$TS" ] || { echo "SKIP: owb-testserver not built"; [ $fail = 0 ] && exit 77 || exit 1; }
start_ts() { # NAME ARGS -> port in $port
  local n=$1
  shift
  "$TS" --port-file "$t/$n.port" --max-seconds 120 "$@" 2>>"$t/ts.log" &
  pids+=($!)
  for _ in $(seq 300); do [ -s "$t/$n.port" ] && break; sleep 0.01; done
  port=$(cat "$t/$n.port")
}
start_ts fast --ttft-ms 5 --itl-ms 1
"$B" serve --url "http://127.0.0.1:$port/v1" --model m --requests 30 --concurrency 4 --output-len 8 --no-metrics -o "$t/fast" -q >/dev/null 2>"$t/e"
check "serve against the fast server exits 0 ($(tail -1 $t/e))" "[ $? = 0 ]"
start_ts slow --ttft-ms 40 --itl-ms 5 --max-concurrency 2
murl=()
if [ -r "$M" ]; then
  "$B" serve-model -m "$M" --port 0 --port-file "$t/sm.port" 2>"$t/sm.log" &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$t/sm.port" ] && break; sleep 0.05; done
  smu="http://127.0.0.1:$(cat $t/sm.port)"
  murl=(--metrics-url "$smu/metrics" --metrics-interval 50)
fi
"$B" serve --url "http://127.0.0.1:$port/v1" --model m --requests 30 --concurrency 4 --output-len 8 "${murl[@]}" -o "$t/slow" -q >/dev/null 2>"$t/e"
check "serve against the slow server exits 0 ($(tail -1 $t/e))" "[ $? = 0 ]"
inputs=("$t/fast/serve.json" "$t/slow/serve.json")
if [ -r "$M" ] && [ -r "$TXT" ]; then
  check "server metrics scraped into the result" "python3 -c \"import json; sm=json.load(open('$t/slow/serve.json'))['benchmarks'][0]['serving']['server_metrics']; assert sm['scrapes']>=2 and 'owb:requests_running' in sm['series'] and len(sm['t_s'])==sm['scrapes'], sm\""
  "$B" serve --url "http://127.0.0.1:$port/v1" --model m --requests 5 --concurrency 2 --metrics-url "http://127.0.0.1:1/metrics" -o "$t/x" -q >/dev/null 2>"$t/e"
  check "an unreachable --metrics-url is an error (exit 3)" "[ $? = 3 ] && grep -q 'no Prometheus metrics' '$t/e'"
  "$B" eval ppl --url "$smu/v1" --tokenizer "$M" -f "$TXT" --ctx 128 --chunks 12 --reps 200 -o "$t/ev_srv" --quiet >/dev/null 2>&1
  "$B" eval ppl -m "$M" -f "$TXT" --ctx 128 --chunks 12 --reps 200 -o "$t/ev_loc" --quiet >/dev/null 2>&1
  inputs+=("$t/ev_srv/ppl.json" "$t/ev_loc/ppl.json")
fi
"$B" report "${inputs[@]}" -o "$t/rep" --title "fast vs slow" >/dev/null 2>"$t/e"
check "report exits 0 ($(tail -1 $t/e))" "[ $? = 0 ] && [ -s '$t/rep/report.html' ]"
H="$t/rep/report.html"
check "page has the inputs, side by side, environment, validity" "grep -q 'id=inputs' '$H' && grep -q 'Side by side' '$H' && grep -q 'Serving speed' '$H' && grep -q 'Environment' '$H' && grep -q 'Validity' '$H'"
check "both serve results side by side" "[ \$(grep -c 'serve/completions/random/c4' '$H') -ge 4 ]"
check "no script, no external URL in src/href, a CSP" "! grep -qi '<script' '$H' && ! grep -Eqi '(src|href)=\"?(https?:)?//' '$H' && grep -q 'Content-Security-Policy' '$H'"
if command -v gnuplot >/dev/null; then
  check "figures inline as SVG" "grep -q 'data:image/svg+xml;base64,' '$H'"
fi
if [ -r "$M" ] && [ -r "$TXT" ]; then
  check "server metrics and eval rows on the page" "grep -q 'Server metrics during' '$H' && grep -q 'owb:requests_running' '$H' && grep -q 'Quality' '$H' && grep -q 'by echo' '$H'"
fi

CH=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CH" ]; then
  echo "SKIP: chromium not installed (apt-get install chromium): page not rendered"
  [ $fail = 0 ] && exit 77 || exit 1
fi
render() { # render PAGE PNG LOG
  timeout 120 "$CH" --headless --no-sandbox --disable-gpu --no-first-run --enable-logging=stderr --v=0 \
    --host-resolver-rules="MAP * ~NOTFOUND" --user-data-dir="$t/chrome" --window-size=1300,2400 \
    --screenshot="$2" "file://$1" >"$3" 2>&1
}
cat >"$t/control.html" <<'EOF'
<!DOCTYPE html><html><head><meta http-equiv=Content-Security-Policy content="default-src 'none'; img-src data:"></head>
<body><img src="http://example.com/x.png"><script>notDefined();</script></body></html>
EOF
render "$t/control.html" "$t/control.png" "$t/control.log"
check "control page: console messages are seen (script error, blocked fetch)" "[ \$(grep -c 'CONSOLE' '$t/control.log') -ge 1 ]"
render "$H" "$t/shot.png" "$t/chrome.log"
check "chromium rendered the report" "[ -s '$t/shot.png' ] && head -c 8 '$t/shot.png' | od -An -c | grep -q 'P   N   G'"
check "no console message while loading the report ($(grep CONSOLE $t/chrome.log | head -2))" "! grep -q 'CONSOLE' '$t/chrome.log'"
[ -s "$t/shot.png" ] && cp "$t/shot.png" "$(dirname "$B")/report_screenshot.png"
exit $fail
