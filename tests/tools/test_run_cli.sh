#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# OWB_TEST_LABELS: slow
# `owbench run --quick -o DIR` (the README's main job): writes a valid result with the stream
# ceilings and at least one PNG, prints a summary table, (its duration is printed, not asserted: benchmarks are not timed tests).
set -u
fail=0
t=$(mktemp -d "${OWB_TMP:-/tmp}/run_cli.XXXXXX")
trap 'rm -rf "$t"' EXIT
check() { if ! eval "$2"; then echo "FAIL: $1" >&2; fail=1; fi; }
start=$(date +%s)
"$OWB_BIN" run --quick -o "$t/out" >"$t/o" 2>"$t/e"; rc=$?
secs=$(( $(date +%s) - start ))
cat "$t/o"
check "run exits 0 (got $rc: $(tail -3 $t/e))" "[ $rc = 0 ]"
check "run.json written" "[ -s '$t/out/run.json' ]"
check "progress lines" "grep -q '\[1/' '$t/e'"
check "summary printed" "grep -q 'read' '$t/o'"
check "a PNG written" "ls '$t/out'/*.png >/dev/null 2>&1"
check "PNG magic" "head -c 8 \$(ls '$t/out'/*.png | head -1) | od -An -tx1 | grep -q '89 50 4e 47'"
check "result has stream/read and env" \
  "python3 -c 'import json; d=json.load(open(\"$t/out/run.json\")); assert d[\"env\"]; assert any(b[\"name\"].startswith(\"stream/read/\") for b in d[\"benchmarks\"])'"
# kernels step: every default format as GEMV at 4096x14336, the q4_0/q8_0/f16 GEMM sweep at
# 2880x2880, each with the read ceiling of the stream step; its table and figures.
cat >"$t/kernels.py" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
names = [x["name"] for x in d["benchmarks"]]
assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)  # compare keys
b = {x["name"].rsplit("/", 1)[0]: x for x in d["benchmarks"] if x["name"].startswith("kernels/")}
for f in ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_K", "q6_K", "mxfp4"]:
    g = b["kernels/gemv/%s/4096x14336" % f]
    assert g["metrics"]["gb_per_s"] > 0 and g["metrics"]["ceiling_gb_per_s"] > 0, f
    assert abs(g["metrics"]["pct_of_ceiling"] - 100 * g["metrics"]["gb_per_s"] / g["metrics"]["ceiling_gb_per_s"]) < 1e-6 * g["metrics"]["pct_of_ceiling"], f
    # medians against the stream read median of the same thread count, as well
    thr = g["params"]["threads"]
    sm = max(x["metrics"]["gb_per_s_median"] for x in d["benchmarks"]
             if x["name"].startswith("stream/read") and int(x["name"].split("/")[2][1:]) <= thr)
    assert g["metrics"]["ceiling_gb_per_s_median"] == sm, f
    assert abs(g["metrics"]["pct_of_ceiling_median"] - 100 * g["metrics"]["gb_per_s"] / sm) < 1e-6 * g["metrics"]["pct_of_ceiling_median"], f
peaks = {k: b.pop("kernels/peak/" + k)["metrics"]["gop_per_s_best"] for k in ["int8_dot", "f32_fma"]}
assert all(v > 0 for v in peaks.values()), peaks
b.pop("kernels/peak/q8_block", None)  # AVX-512 VNNI machines only
# the peak a figure is held against: the best of the run at <= its threads (kernels/ or model/peak)
peaks = {k: max(x["metrics"]["gop_per_s_best"] for x in d["benchmarks"]
                if x["params"].get("peak") == k) for k in peaks}
for f in ["q4_0", "q8_0", "f16"]:
    for n in [16, 64, 256]:
        g = b["kernels/gemm/%s/2880x2880/b%d" % (f, n)]
        assert g["metrics"]["gflop_per_s"] > 0, (f, n)
        # GEMMs carry the compute peak of their path (int8 dot or f32 FMA), measured in this run
        pk = "f32_fma" if f == "f16" else "int8_dot"
        if g["params"]["isa"] != "ref":
            assert g["params"]["compute_peak"] == pk and g["metrics"]["compute_peak_gop_per_s"] == peaks[pk], (f, n)
            assert abs(g["metrics"]["pct_of_compute_peak"] - 100 * g["metrics"]["gflop_per_s"] / peaks[pk]) < 1e-6 * g["metrics"]["pct_of_compute_peak"], (f, n)
assert len(b) == 8 + 9, sorted(b)
PY
check "result has the kernels GEMV and GEMM benchmarks with the ceiling" "python3 '$t/kernels.py' '$t/out/run.json'"
check "kernels table in the summary" "grep -q '^q4_0 *4096x14336 *1 ' '$t/o' && grep -q '^f16 *2880x2880 *256 ' '$t/o'"
check "kernels plot data" "grep -q '^# series 7: mxfp4' '$t/out/kernels_gemv_bw.dat' && grep -q '^# series 2: f16' '$t/out/kernels_gemm_gflops.dat'"
if command -v gnuplot >/dev/null 2>&1; then
  for k in kernels_gemv_bw kernels_gemm_gflops; do
    check "$k.png (PNG magic) and .svg" "head -c 8 '$t/out/$k.png' | od -An -tx1 | grep -q '89 50 4e 47' && grep -q '<svg' '$t/out/$k.svg'"
  done
fi
# quality step: a synthetic f32 base and its q8_0/q4_0/mxfp4 derivatives scored on the
# embedded prose: base perplexity, finite KLD >= 0 per derivative with its CI, a gate verdict each;
# q4_0 drifts more than q8_0 (KLD and top-1) and is smaller on disk (a mix-up of derivatives would
# fail this); its table in the summary; the temporary models are gone.
cat >"$t/quality.py" <<'PY'
import json, math, sys
d = json.load(open(sys.argv[1]))
ev = {(e["name"], e["metric"]): e for e in d["evals"]}
base = ev[("ppl/owb-prose/tiny-f32", "perplexity")]
assert base["kind"] == "ppl" and math.isfinite(base["value"]) and base["value"] > 1, base["value"]
assert base["summary"]["n_windows"] >= 10, base["summary"]
kld, top1, size = {}, {}, {}
for q in ["q8_0", "q4_0", "mxfp4"]:
    e = ev[("kld/owb-prose/tiny-" + q, "kld_mean")]
    v, lo, hi = e["value"], e["ci95_lo"], e["ci95_hi"]
    assert e["kind"] == "kld" and e["params"]["derivative"] == q, (q, e["params"])
    assert all(isinstance(x, (int, float)) and math.isfinite(x) for x in (v, lo, hi)), (q, v, lo, hi)
    assert 0 <= lo <= v <= hi, (q, lo, v, hi)
    assert e["identity"]["n_windows"] == base["identity"]["n_windows"], q
    assert e["identity"]["text_sha256"] == base["identity"]["text_sha256"], q
    assert any("random-weight" in n for n in e["notes"]), q
    kld[q], size[q] = v, e["params"]["bytes"]
    top1[q] = ev[("kld/owb-prose/tiny-" + q, "top1_agreement")]["value"]
    assert math.isfinite(ev[("kld/owb-prose/tiny-" + q, "ln_ppl_ratio")]["value"]), q
    g = ev[("gate/owb-prose/tiny-" + q, "verdict_exit_code")]
    assert g["kind"] == "gate" and g["verdict"] in ("PASS", "FAIL", "INCONCLUSIVE"), g
    assert g["params"]["max_kld"] == 0.01 and g["params"]["max_ppl_ratio"] == 1.01, g["params"]
    gk = ev[("gate/owb-prose/tiny-" + q + "/kld", "kld_mean")]
    assert gk["summary"]["verdict"] in ("PASS", "FAIL", "INCONCLUSIVE"), gk
assert 0 < kld["q8_0"] < kld["q4_0"], kld
assert top1["q8_0"] > top1["q4_0"], top1
assert size["q4_0"] < size["q8_0"], size
PY
check "quality evals: base PPL, finite KLD >= 0 with CI and a gate per derivative, KLD(q8_0) < KLD(q4_0)" "python3 '$t/quality.py' '$t/out/run.json'"
check "quality table in the summary" "grep -q 'RANDOM weights' '$t/o' && grep -Eq '^q4_0 .*(PASS|FAIL|INCONCLUSIVE)' '$t/o' && grep -Eq '^mxfp4 .*(PASS|FAIL|INCONCLUSIVE)' '$t/o'"
check "quality step leaves no model files" "[ ! -e '$t/out/quality' ] && ! ls '$t/out'/*.gguf >/dev/null 2>&1"
grep '^\[.*done in' "$t/e"
echo "owbench run --quick took ${secs}s"
exit $fail
