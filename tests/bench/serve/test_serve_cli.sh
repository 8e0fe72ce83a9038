#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_serve_cli.sh: `owbench serve` end to end against owb-testserver: usage errors (exit 2), an
# unreachable URL (clear message, exit 3), the issue's interface command writing a result whose
# serving benchmark has TTFT and TPOT statistics with their unit and the error counts, the raw
# per-request file, a missed SLO (exit 1), a sweep (one benchmark per point), the fallback when
# the server rejects stream_options, and --find-max finding the known capacity of a server that
# generates 4 requests at a time (each 20 ms + 4 x 10 ms = 60 ms: 66.7 requests/s).
set -u
BIN=${OWB_BIN:?}
TS=$(dirname "$BIN")/owb-testserver
TMP=${OWB_TMP:-/tmp}/serve-cli-$$
mkdir -p "$TMP"
[ -x "$TS" ] || { echo "SKIP: owb-testserver not built"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: needs jq"; exit 77; }
fail=0
pids=()
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if ! "$@" >/dev/null; then
        echo "FAIL: $what"
        fail=1
        return 1
    fi
}
start_server() { # start_server NAME ARGS... -> sets PORT, PID
    local pf=$TMP/$1.port
    shift
    rm -f "$pf"
    "$TS" --port-file "$pf" --max-seconds 120 --stats "$TMP/stats.json" "$@" 2>>"$TMP/server.log" &
    PID=$!
    pids+=("$PID")
    for _ in $(seq 1 500); do
        [ -s "$pf" ] && break
        sleep 0.01
    done
    PORT=$(cat "$pf")
}
stop_server() {
    kill -TERM "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
cleanup() {
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
}
trap cleanup EXIT

# usage
"$BIN" serve --help >"$TMP/help" 2>&1
check "--help exits 0" test $? -eq 0
check "--help mentions --find-max" grep -q -- "--find-max" "$TMP/help"
"$BIN" serve --url http://127.0.0.1:1/v1 --bogus 2>"$TMP/err"
check "unknown flag exits 2" test $? -eq 2
"$BIN" serve --url http://127.0.0.1:1/v1 --concurrency 4 --input-len 0 2>"$TMP/err"
check "bad value exits 2" test $? -eq 2
check "bad value is named" grep -q "input-len '0'" "$TMP/err"
"$BIN" serve --url http://127.0.0.1:1/v1 --concurrency 4 --slo ttft=soon 2>"$TMP/err"
check "bad --slo exits 2" test $? -eq 2

# unreachable URL at start: nothing listens on a port we just had and closed
"$BIN" serve --url http://127.0.0.1:9/v1 --model m --concurrency 1 --requests 2 \
    -o "$TMP/unreach" 2>"$TMP/err"
rc=$?
check "unreachable URL exits 3 (got $rc)" test $rc -eq 3
check "unreachable URL message" grep -q "cannot reach http://127.0.0.1:9/v1/models" "$TMP/err"

# the interface the checks use
start_server main --ttft-ms 10 --itl-ms 2 --record "$TMP/record.jsonl"
S1=$PID
"$BIN" serve --url "http://127.0.0.1:$PORT/v1" --model owb-test --endpoint chat \
    --dataset random --input-len 16 --output-len 8 --concurrency 4 --requests 20 \
    -o "$TMP/run" >"$TMP/out" 2>"$TMP/err"
rc=$?
check "serve exits 0 (got $rc)" test $rc -eq 0
J=$TMP/run/serve.json
check "result written" test -s "$J"
check "one serving benchmark" test "$(jq '.benchmarks | length' "$J")" -eq 1
check "TTFT median and unit" jq -e '.benchmarks[0].serving.latency.ttft | .unit == "ms" and .stats.median >= 10' "$J"
check "TPOT stats" jq -e '.benchmarks[0].serving.latency.tpot.stats.median > 0' "$J"
check "p95 reported" jq -e '.benchmarks[0].serving.latency.e2e.percentiles.p95.value > 0' "$J"
check "error counts present and zero" jq -e '.benchmarks[0].serving.errors | .http == 0 and .disconnect == 0 and .malformed == 0' "$J"
check "20 requests ok" jq -e '.benchmarks[0].serving.requests.ok == 20' "$J"
check "throughput metrics" jq -e '.benchmarks[0].metrics | .req_per_s > 0 and .output_tok_per_s > 0' "$J"
check "workload hash" jq -e '.benchmarks[0].params.dataset_sha256 | length == 64' "$J"
check "samples are TTFT in ms" jq -e '.benchmarks[0].samples.unit == "ms"' "$J"
RF=$TMP/run/$(jq -r '.benchmarks[0].serving.requests_file' "$J")
check "per-request file: 20 requests + header" test "$(wc -l <"$RF")" -eq 21
check "per-request chunk times" jq -s -e 'map(select(.i == 3))[0] | (.chunks_ns | length) == 8 and .sched_ns <= .send_ns and .send_ns < .first_token_ns' "$RF"
check "summary printed" grep -q "TTFT" "$TMP/out"

# a missed SLO: exit 1
"$BIN" serve --url "http://127.0.0.1:$PORT/v1" --concurrency 2 --requests 10 \
    --input-len 8 --output-len 4 --slo ttft=1ms -o "$TMP/slo" -q 2>"$TMP/err"
rc=$?
check "missed SLO exits 1 (got $rc)" test $rc -eq 1
check "SLO recorded as missed" jq -e '.benchmarks[0].serving.slo.met == false' "$TMP/slo/serve.json"
"$BIN" serve --url "http://127.0.0.1:$PORT/v1" --concurrency 2 --requests 10 \
    --input-len 8 --output-len 4 --slo ttft=10s -o "$TMP/slo2" -q 2>"$TMP/err"
check "met SLO exits 0" test $? -eq 0

# a sweep: one benchmark per point
"$BIN" serve --url "http://127.0.0.1:$PORT/v1" --sweep concurrency=1,4 --requests 8 \
    --input-len 8 --output-len 4 -o "$TMP/sweep" -q 2>"$TMP/err"
check "sweep exits 0" test $? -eq 0
check "sweep: two benchmarks" test "$(jq '.benchmarks | length' "$TMP/sweep/serve.json")" -eq 2
check "sweep: concurrency params" jq -e '[.benchmarks[].params.concurrency] == [1, 4]' "$TMP/sweep/serve.json"
stop_server "$S1"
# what the server received (its record is complete once it has stopped): chat, streaming,
# include_usage, ignore_eos, max_tokens 8 on every request
check "server saw stream_options and ignore_eos" \
    jq -s -e '[.[] | select(.event == "request" and .path == "/v1/chat/completions")] | ([.[] | select(.body.max_tokens == 8)] | length) == 20 and all(.body.stream and .body.stream_options.include_usage and .body.ignore_eos)' "$TMP/record.jsonl"

# a server that rejects stream_options: the probe retries without, the run works
start_server strict --ttft-ms 5 --itl-ms 1 --reject-stream-options
S2=$PID
"$BIN" serve --url "http://127.0.0.1:$PORT/v1" --concurrency 2 --requests 6 \
    --input-len 8 --output-len 4 -o "$TMP/strict" -q 2>"$TMP/err"
check "strict server: exits 0" test $? -eq 0
check "strict server: include_usage not sent" jq -e '.benchmarks[0].params.include_usage == "not sent" and .benchmarks[0].serving.requests.ok == 6' "$TMP/strict/serve.json"
stop_server "$S2"

# capacity: 4 at a time, 60 ms each -> 66.7 requests/s; constant arrivals keep the knee sharp
start_server cap --ttft-ms 20 --itl-ms 10 --max-concurrency 4
S3=$PID
"$BIN" serve --url "http://127.0.0.1:$PORT/v1" --rate 32 --arrival constant --requests 60 \
    --input-len 8 --output-len 5 --find-max --slo p90:ttft=60ms --find-max-tol 0.1 \
    --find-max-probes 8 -o "$TMP/cap" -q >"$TMP/capout" 2>"$TMP/err"
rc=$?
check "find-max exits 0 (got $rc)" test $rc -eq 0
best=$(jq '.find_max.max_rate_req_per_s' "$TMP/cap/serve.json")
echo "find-max: $best req/s (capacity 66.7)"
# at most the capacity (+5%), and not below half of it (a busy machine stretches the server's
# own timings, lowering its real capacity a little)
check "find-max within [33, 70] req/s of a 66.7 req/s server (got $best)" \
    jq -e '.find_max.max_rate_req_per_s >= 33 and .find_max.max_rate_req_per_s <= 70' "$TMP/cap/serve.json" ||
    cat "$TMP/err"
check "find-max: SLO terms carry CIs" jq -e '.benchmarks[0].serving.slo.terms[0] | has("ci95_lo_ms") and has("ci95_hi_ms")' "$TMP/cap/serve.json"
stop_server "$S3"

[ $fail -eq 0 ] && echo "all serve CLI checks passed"
exit $fail
