#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test_mpi_serve.sh: `owbench serve` under `mpirun`: an unreachable server fails on every rank with
# one message (exit 3); `-np 2` (open loop, rate split) and `-np 3`
# (closed loop, concurrency split) against owb-testserver with injected TTFT (40 ms), ITL (10 ms)
# and HTTP 500s: every request the server received is in the one merged result exactly once
# (sent = the server's count less the probe, ok + errors = sent, per-rank counts add up), the merged
# TTFT and ITL medians equal what the server's own record says it delivered to those requests within
# 1 ms, and the injected values within 1 ms plus the machine's lateness (5 ms when owbench marked
# the point client-bound), each rank is recorded (host, clock
# offset, start skew, client health, env); a sweep and --find-max step together on every rank; a
# rank killed mid-run makes the run fail, mpirun naming the rank, with no result file. Skipped (77)
# without mpirun or an MPI build.
# OWB_TEST_LABELS: mpi serve
set -u
. "$(dirname "$0")/mpi_test_lib.sh"
TS=$(dirname "$OWB_BIN")/owb-testserver
[ -x "$TS" ] || { echo "SKIP: owb-testserver not built"; exit 77; }
t=$(mktemp -d "${OWB_TMP:-/tmp}/mpi_serve.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    rm -rf "$t"
}
trap cleanup EXIT
start_server() { # start_server NAME ARGS... -> sets PORT, PID
    local pf=$t/$1.port name=$1
    shift
    "$TS" --port-file "$pf" --max-seconds 120 --stats "$t/$name.stats.json" \
        --record "$t/$name.record.jsonl" "$@" 2>>"$t/server.log" &
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
# Checks of one merged result J of N ranks whose server recorded REC.
merged_checks() { # merged_checks LABEL J N REC
    local l=$1 J=$2 n=$3 rec=$4 got sent
    got=$(jq -s '[.[] | select(.event == "request" and .path == "/v1/completions")] | length' "$rec")
    sent=$(jq '.benchmarks[0].serving.requests.sent' "$J")
    check "$l: server got $got requests = $sent sent + 1 probe" test "$got" -eq $((sent + 1))
    check "$l: ok + failed = sent, some HTTP 500s" jq -e '.benchmarks[0].serving.requests as $r | .benchmarks[0].serving.errors.http > 0 and $r.ok + $r.failed == $r.sent' "$J"
    check "$l: per-request file has every request once" test "$(($(wc -l <"$(dirname "$J")/$(jq -r '.benchmarks[0].serving.requests_file' "$J")") - 1))" -eq "$sent"
    check "$l: $n ranks recorded, their requests add up" jq -e ".benchmarks[0].serving as \$s | (\$s.ranks | length) == $n and ([\$s.ranks[].requests] | add) == \$s.requests.sent and all(\$s.ranks[]; (.host | length) > 0 and (.start_skew_ns | fabs) < 1e8)" "$J"
    # Every ok request of the merged file is matched to the server's record of it (key r<item>,
    # the arrival closest to its send; the clocks are the same CLOCK_MONOTONIC on one host), which
    # gives the TTFT and ITL the server really delivered: injected plus however late the client
    # sent and the server wrote on this machine (both ~0 when it is not overloaded). The merged
    # medians must equal those within 1 ms (5 ms when owbench marked the point client-bound: the
    # machine delayed its timestamps and the result says so), and the injected 40/10 ms within
    # 1 ms plus that lateness.
    local slack=1 F
    F=$(dirname "$J")/$(jq -r '.benchmarks[0].serving.requests_file' "$J")
    if jq -e '.benchmarks[0].notes | any(test("client-bound"))' "$J" >/dev/null; then
        slack=5
        echo "note: $l was client-bound on this machine ($(uptime | sed 's/.*load/load/'))"
    fi
    check "$l: merged records match the server's, medians as delivered" python3 -c "
import json, statistics, sys
lines = [json.loads(x) for x in open(sys.argv[1])]
t0, reqs = lines[0]['t0_monotonic_ns'], lines[1:]
srv = {}
for x in open(sys.argv[2]):
    e = json.loads(x)
    if e.get('event') == 'done' and e.get('sent_ns'):
        srv.setdefault(e['key'], []).append(e)
med = json.load(open(sys.argv[3]))['benchmarks'][0]['serving']['latency']
slack = float(sys.argv[4])
ttft_exp, itl_exp = [], []
for r in reqs:
    if r['status'] != 200 or not r['chunks_ns']:
        continue
    send = t0 + r['send_ns']
    c = [e for e in srv.get('r%d' % r['item'], []) if abs(e['arrival_ns'] - send) < 500e6 and not e.get('used')]
    assert c, 'request %d (item %d) not in the server record' % (r['i'], r['item'])
    e = min(c, key=lambda e: abs(e['arrival_ns'] - send))
    e['used'] = True
    ttft_exp.append((e['sent_ns'][0] - t0 - r['sched_ns']) / 1e6)
    itl_exp += [(b - a) / 1e6 for a, b in zip(e['sent_ns'], e['sent_ns'][1:])]
te, ie = statistics.median(ttft_exp), statistics.median(itl_exp)
tm, im = med['ttft']['stats']['median'], med['itl']['stats']['median']
print('TTFT merged %.3f delivered %.3f; ITL merged %.3f delivered %.3f' % (tm, te, im, ie), file=sys.stderr)
assert abs(tm - te) <= slack and abs(im - ie) <= slack, 'merged medians differ from the delivered ones by more than %g ms' % slack
assert abs(tm - 40) <= slack + abs(te - 40) and abs(im - 10) <= slack + abs(ie - 10), 'not the injected values'
" "$F" "$rec" "$J" "$slack"
    check "$l: every rank's env, mpi active" jq -e "(.ranks.per_rank | length) == $n and all(.ranks.per_rank[]; .env.features.mpi.active) and .benchmarks[0].params.ranks == $n" "$J"
}

# An unreachable server: every rank learns it from rank 0's probe; one message, exit 3.
"${MPIRUN[@]}" -np 2 "$OWB_BIN" serve --url http://127.0.0.1:9/v1 --model m --concurrency 2 \
    --requests 4 -o "$t/unreach" 2>"$t/err"
rc=$?
check "unreachable server -np 2 exits 3 (got $rc)" test $rc -eq 3
check "unreachable server: said once, by rank 0" test "$(grep -c 'rank 0 (.*): cannot reach' "$t/err")" -eq 1
check "unreachable server: no result" test ! -e "$t/unreach/serve.json"

start_server a --ttft-ms 40 --itl-ms 10 --error-rate 0.2
"${MPIRUN[@]}" -np 2 "$OWB_BIN" serve --url "http://127.0.0.1:$PORT/v1" --rate 40 --requests 40 \
    --input-len 8 --output-len 6 -o "$t/open" >"$t/out" 2>"$t/err"
rc=$?
check "open loop -np 2 exits 0 (got $rc)" test $rc -eq 0 || cat "$t/err"
stop_server "$PID"
merged_checks "open loop -np 2" "$t/open/serve.json" 2 "$t/a.record.jsonl"
check "open loop: rate param is the total" jq -e '.benchmarks[0].params.rate == 40' "$t/open/serve.json"
check "summary printed once" test "$(grep -c '^  TTFT' "$t/out")" -eq 1

start_server b --ttft-ms 40 --itl-ms 10 --error-rate 0.2
"${MPIRUN[@]}" -np 3 "$OWB_BIN" serve --url "http://127.0.0.1:$PORT/v1" --concurrency 6 \
    --requests 30 --input-len 8 --output-len 6 -o "$t/closed" -q >/dev/null 2>"$t/err"
rc=$?
check "closed loop -np 3 exits 0 (got $rc)" test $rc -eq 0 || cat "$t/err"
stop_server "$PID"
merged_checks "closed loop -np 3" "$t/closed/serve.json" 3 "$t/b.record.jsonl"
check "closed loop: at most 6 in flight at the server" jq -e '.max_active <= 6' "$t/b.stats.json"

start_server c --ttft-ms 5 --itl-ms 2
"${MPIRUN[@]}" -np 2 "$OWB_BIN" serve --url "http://127.0.0.1:$PORT/v1" --sweep rate=20,40 \
    --requests 10 --input-len 8 --output-len 3 -o "$t/sweep" -q >/dev/null 2>"$t/err"
check "sweep -np 2 exits 0" test $? -eq 0
check "sweep -np 2: two points of 10 requests" jq -e '[.benchmarks[] | .serving.requests.sent] == [10, 10]' "$t/sweep/serve.json"
"${MPIRUN[@]}" -np 2 "$OWB_BIN" serve --url "http://127.0.0.1:$PORT/v1" --rate 10 --requests 10 \
    --input-len 8 --output-len 3 --find-max --find-max-probes 2 --slo ttft=10s \
    -o "$t/fm" -q >/dev/null 2>"$t/err"
check "find-max -np 2 exits 0" test $? -eq 0
check "find-max -np 2: two probes, rate doubled" jq -e '[.benchmarks[].params.rate] == [10, 20] and .find_max.max_rate_req_per_s == 20' "$t/fm/serve.json"
"${MPIRUN[@]}" -np 3 "$OWB_BIN" serve --url "http://127.0.0.1:$PORT/v1" --concurrency 2 \
    --requests 10 -o "$t/few" -q >/dev/null 2>"$t/err"
check "concurrency below the rank count is a usage error" test $? -eq 2
check "the usage error says why" grep -q "fewer than the 3 ranks" "$t/err"

# A rank that dies mid-run: the job fails, mpirun names the rank, no result is written.
"${MPIRUN[@]}" -np 2 "$OWB_BIN" serve --url "http://127.0.0.1:$PORT/v1" --rate 20 --requests 400 \
    --input-len 8 --output-len 3 -o "$t/killed" -q >/dev/null 2>"$t/err" &
mp=$!
victim=""
for _ in $(seq 1 100); do
    for c in $(pgrep -P "$mp"); do
        if tr '\0' '\n' <"/proc/$c/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1; then
            victim=$c
        fi
    done
    [ -n "$victim" ] && break
    sleep 0.05
done
sleep 1.5 # well inside the run (400 requests at 20/s)
[ -n "$victim" ] && kill -KILL "$victim"
wait "$mp"
rc=$?
check "found rank 1's process" test -n "$victim"
check "killed rank: the run fails (got $rc)" test $rc -ne 0
check "killed rank: the message names rank 1" grep -q "rank 1" "$t/err" || cat "$t/err"
check "killed rank: no result file" test ! -e "$t/killed/serve.json"
check "killed rank: no temporary file" test -z "$(ls -A "$t/killed" 2>/dev/null)"
stop_server "$PID"

[ $fail -eq 0 ] && echo "all MPI serve checks passed"
exit $fail
