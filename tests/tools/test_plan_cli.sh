#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# owbench plan from the command line: a plan on a shipped description (gpt-oss-120b on H100 SXM at
# 32k x 16 needs two GPUs), capacity for a rate under an SLO, a GGUF file's shape, the measured
# path (--hardware measure: progress lines, hardware.json beside plan.json), --check against a real
# `owbench model` run with --tolerance deciding the exit code, plan documents valid against the
# JSON schema; bad arguments exit 2 naming the value, unreadable or corrupt inputs exit 3, and no
# plan.json is left behind on failure.
set -u
fail=0
t=$(mktemp -d "${OWB_TMP:-/tmp}/plan_cli.XXXXXX")
trap 'rm -rf "$t"' EXIT
check() { if ! eval "$2"; then echo "FAIL: $1" >&2; fail=1; fi; }
jq_ok() { jq -e "$2" "$1" >/dev/null 2>&1; }
schema="$OWB_SRC/results/owbench.result.schema.json"
validate() {
  python3 - "$schema" "$1" <<'EOF' 2>&1
import json, sys
try:
    import jsonschema
except ImportError:
    sys.exit(0)
jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))
EOF
}

"$OWB_BIN" plan --help >"$t/help" 2>&1; rc=$?
check "plan --help exits 0" "[ $rc = 0 ]"
check "help mentions --check and h100-sxm" "grep -q -- --check '$t/help' && grep -q h100-sxm '$t/help'"

# usage errors: exit 2, naming the problem
"$OWB_BIN" plan --hardware h100-sxm -o "$t/u" 2>"$t/e"; rc=$?
check "no --model exits 2" "[ $rc = 2 ] && grep -q -- '--model' '$t/e'"
"$OWB_BIN" plan --model no-such-model --hardware h100-sxm -o "$t/u" 2>"$t/e"; rc=$?
check "unknown model exits 2 naming it" "[ $rc = 2 ] && grep -q no-such-model '$t/e'"
"$OWB_BIN" plan --model tiny --hardware h100-sxm --slo ttft=abc -o "$t/u" 2>"$t/e"; rc=$?
check "bad --slo exits 2" "[ $rc = 2 ] && grep -q -- '--slo' '$t/e'"
"$OWB_BIN" plan --model tiny --hardware h100-sxm --rate 5 --concurrency 2 -o "$t/u" 2>"$t/e"; rc=$?
check "--rate with --concurrency exits 2" "[ $rc = 2 ]"
"$OWB_BIN" plan --model tiny --hardware h100-sxm --ctx -5 -o "$t/u" 2>"$t/e"; rc=$?
check "negative --ctx exits 2" "[ $rc = 2 ] && grep -q -- '--ctx' '$t/e'"
"$OWB_BIN" plan --model tiny --type q9_9 --hardware h100-sxm -o "$t/u" 2>"$t/e"; rc=$?
check "bad --type exits 2" "[ $rc = 2 ] && grep -q q9_9 '$t/e'"
"$OWB_BIN" plan --check -o "$t/u" 2>"$t/e"; rc=$?
check "--check without files exits 2" "[ $rc = 2 ]"
check "no plan.json after usage errors" "[ ! -e '$t/u/plan.json' ]"

# runtime errors: exit 3, no plan.json
"$OWB_BIN" plan --model tiny --hardware "$t/missing.json" -o "$t/r" 2>"$t/e"; rc=$?
check "missing hardware file exits 3 naming it" "[ $rc = 3 ] && grep -q missing.json '$t/e'"
echo '{"schema": "owbench.hardware/1", "name": "x", "kind": "gpu", "memory_bw_gb_per_s": 1}' >"$t/bad.json"
"$OWB_BIN" plan --model tiny --hardware "$t/bad.json" -o "$t/r" 2>"$t/e"; rc=$?
check "description without memory_gb exits 3 naming the field" "[ $rc = 3 ] && grep -q memory_gb '$t/e'"
echo '{"schema": "owbench.hardware/1", "name": ' >"$t/trunc.json"
"$OWB_BIN" plan --model tiny --hardware "$t/trunc.json" -o "$t/r" 2>"$t/e"; rc=$?
check "truncated description exits 3" "[ $rc = 3 ] && grep -q trunc.json '$t/e'"
printf 'GGUF\3\0\0\0' >"$t/broken.gguf"
"$OWB_BIN" plan --model "$t/broken.gguf" --hardware h100-sxm -o "$t/r" 2>"$t/e"; rc=$?
check "corrupt GGUF exits 3" "[ $rc = 3 ] && grep -q broken.gguf '$t/e'"
check "no plan.json after runtime errors" "[ ! -e '$t/r/plan.json' ]"

# a described machine: gpt-oss-120b, 32k context, 16 users on H100 SXM
"$OWB_BIN" plan --model gpt-oss-120b --hardware h100-sxm --ctx 32768 --concurrency 16 \
  -o "$t/p1" >"$t/out" 2>"$t/e"; rc=$?
check "plan on h100-sxm exits 0 ($(tail -1 "$t/e"))" "[ $rc = 0 ]"
check "table shows the windowed layers" "grep -q '18 layers windowed at 128' '$t/out'"
check "kind plan" "jq_ok '$t/p1/plan.json' '.kind == \"plan\"'"
check "needs two GPUs (tp 2) at 32k x 16" "jq_ok '$t/p1/plan.json' '.plan.memory.tp == 2 and .plan.memory.fits'"
check "KV per sequence counts windows (2048 B x (18 x 32768 + 18 x 128))" \
  "jq_ok '$t/p1/plan.json' '.plan.memory.kv_bytes_per_seq == 2048 * (18 * 32768 + 18 * 128)'"
check "every prediction with a value names its ceiling" \
  "jq_ok '$t/p1/plan.json' '[.plan.predictions[] | select(.efficiency != null) | .ceiling | length > 0] | all'"
check "plan.json valid against the result schema ($(validate "$t/p1/plan.json"))" "[ -z \"\$(validate '$t/p1/plan.json')\" ]"

# capacity for a rate under an SLO
"$OWB_BIN" plan --model llama-3.1-8b --type q4_K --hardware h200 --rate 50 --slo ttft=2000,tpot=50 \
  --input-len 1024 --output-len 256 -o "$t/p2" >"$t/out" 2>"$t/e"; rc=$?
check "plan --rate exits 0" "[ $rc = 0 ]"
check "capacity names devices and machines" "jq_ok '$t/p2/plan.json' '.plan.capacity.devices >= 1 and .plan.capacity.machines >= 1'"
check "capacity meets the TPOT objective" "jq_ok '$t/p2/plan.json' '[.plan.capacity.options[] | select(.replicas != null) | .tpot_ms <= 50] | all'"

# a GGUF file's metadata and tensor table
"$OWB_BIN" synth --preset tiny --type q8_0 -o "$t/tiny.gguf" 2>/dev/null
"$OWB_BIN" plan --model "$t/tiny.gguf" --hardware epyc-9654-2s -o "$t/p3" >"$t/out" 2>"$t/e"; rc=$?
check "plan of a GGUF exits 0" "[ $rc = 0 ]"
size=$(stat -c %s "$t/tiny.gguf")
check "weights are at most the file size" "jq_ok '$t/p3/plan.json' '.plan.memory.weights_bytes <= $size and .plan.memory.weights_bytes > $size / 2'"
"$OWB_BIN" plan --model "$t/tiny.gguf" --type q4_0 --hardware h200 -o "$t/u" 2>"$t/e"; rc=$?
check "--type with a GGUF file exits 2" "[ $rc = 2 ]"

# the measured path on one thread (a real FFN shape: kernels on tiny matrices rotate over
# thousands of copies and take minutes)
"$OWB_BIN" plan --model llama-3.2-1b --type q8_0 --layers 1 --threads 1 -o "$t/p4" >"$t/out" 2>"$t/e"; rc=$?
check "plan --hardware measure exits 0 ($(tail -1 "$t/e"))" "[ $rc = 0 ]"
check "progress lines" "grep -q 'plan: measuring this machine on 1 threads' '$t/e' && grep -q 'read ceiling again' '$t/e'"
check "hardware.json written beside plan.json" "[ -s '$t/p4/hardware.json' ] && [ -s '$t/p4/plan.json' ]"
check "measured hardware, engine KV f32" "jq_ok '$t/p4/plan.json' '.plan.hardware.measured and .plan.workload.kv_type == \"f32\"'"
check "q8_0 efficiency measured, not assumed" "jq_ok '$t/p4/plan.json' '.plan.hardware.types.q8_0.bw_eff_from | test(\"kernels/gemv/q8_0\")'"
check "CPU share probed" "jq_ok '$t/p4/hardware.json' '[.benchmarks[] | select(.name == \"plan/cpu_share/t1\") | .metrics.cpu_share > 0 and .metrics.cpu_share <= 1] == [true]'"
check "hardware.json is a result document" "jq_ok '$t/p4/hardware.json' '.benchmarks | map(.name) | any(startswith(\"kernels/gemv/q8_0/\"))'"
"$OWB_BIN" plan --model llama-3.2-1b --type q8_0 --hardware "$t/p4/hardware.json" -o "$t/p5" >/dev/null 2>"$t/e"; rc=$?
check "a result file as --hardware exits 0" "[ $rc = 0 ]"

# the measured path for a MoE model: its experts as the engine runs them, at the prompt's chunk,
# a half, a quarter and a sixteenth of it (gpt-oss-20b's expert shape; a 64-token prompt keeps it
# short)
"$OWB_BIN" plan --model gpt-oss-20b --layers 1 --threads 1 --input-len 64 --batch 64 --output-len 4 \
  -o "$t/p6" >"$t/out" 2>"$t/e"; rc=$?
check "MoE plan --hardware measure exits 0 ($(tail -1 "$t/e"))" "[ $rc = 0 ]"
check "expert rows at 4, 16, 32 and 64 tokens" \
  "jq_ok '$t/p6/hardware.json' '[.benchmarks[] | select(.name | startswith(\"kernels/experts/mxfp4/2880x2880/x32k4/\")) | .params.tokens] | sort == [4, 16, 32, 64]'"
check "expert rows: rows per expert and an efficiency" \
  "jq_ok '$t/p6/hardware.json' '[.benchmarks[] | select(.name | startswith(\"kernels/experts/\")) | (.params.batch == .params.tokens * 4 / .params.experts_active) and .metrics.pct_of_compute_peak > 0] | all'"
check "prefill names the expert efficiency" \
  "jq_ok '$t/p6/plan.json' '.plan.predictions[] | select(.figure == \"prefill_tok_per_s\") | (.efficiency_from | test(\"kernels/experts/mxfp4\")) and .rows_per_expert > 7 and .rows_per_expert < 10'"
check "expert curve in the plan's hardware" "jq_ok '$t/p6/plan.json' '.plan.hardware.types.mxfp4.expert_eff_by_batch | length == 4'"
check "prefill attention measured at the prompt (64 heads, 8 KV heads of 64)" \
  "jq_ok '$t/p6/hardware.json' '[.benchmarks[] | select(.name == \"kernels/attn/f32/h64kv8d64/c64/t1\") | .metrics.pct_of_compute_peak > 0] == [true]'"
check "prefill names the attention efficiency" \
  "jq_ok '$t/p6/plan.json' '.plan.predictions[] | select(.figure == \"prefill_tok_per_s\") | .attention_efficiency > 0 and (.attention_efficiency_from | test(\"kernels/attn/\"))'"

# --check against a real owbench model run
"$OWB_BIN" model --synthetic tiny --type q8_0 -p 32 -n 8 --threads 1 --quick -o "$t/m" >/dev/null 2>&1; rc=$?
check "owbench model ran" "[ $rc = 0 ]"
"$OWB_BIN" plan --check "$t/m/model.json" -o "$t/c" >"$t/out" 2>"$t/e"; rc=$?
check "--check exits 0 ($(tail -1 "$t/e"))" "[ $rc = 0 ]"
check "--check has a decode and a prefill figure with errors" \
  "jq_ok '$t/c/plan.json' '[.plan.checks[] | .figure] | sort == [\"decode_tok_per_s\", \"prefill_tok_per_s\"]'"
check "errors are finite" "jq_ok '$t/c/plan.json' '[.plan.checks[] | .error_pct | isnormal or . == 0] | all'"
check "the model was inferred from params.source" "grep -q 'model/decode/tiny-q8_0' '$t/out'"
check "check document valid against the schema ($(validate "$t/c/plan.json"))" "[ -z \"\$(validate '$t/c/plan.json')\" ]"
"$OWB_BIN" plan --check "$t/m/model.json" --hardware "$t/p4/hardware.json" --tolerance 1000000 -o "$t/c2" >/dev/null 2>"$t/e"; rc=$?
check "--check within a loose tolerance exits 0" "[ $rc = 0 ]"
"$OWB_BIN" plan --check "$t/m/model.json" --tolerance 0.0001 -o "$t/c3" >/dev/null 2>"$t/e"; rc=$?
check "--check beyond --tolerance exits 1" "[ $rc = 1 ] && grep -q tolerance '$t/e'"
"$OWB_BIN" plan --check "$t/missing.json" -o "$t/c4" >/dev/null 2>"$t/e"; rc=$?
check "--check of a missing file exits 3" "[ $rc = 3 ]"

exit $fail
