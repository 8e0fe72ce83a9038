#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# OWB_TEST_LABELS: slow
# The ceilings hold on this machine: `owbench kernels` (every default format as a GEMV at
# 4096x14336, 1 and 2 threads) and `owbench model` (decode of a 2-layer synthetic Llama-1B-32k in
# q4_0, over 2 x the LLC per token) measure the read ceiling before and after their suite; no GEMV
# and no decode exceeds its ceiling by more than the ceiling's own run-to-run spread (before vs
# after), and every figure above 100% of its ceiling is marked not valid with a note saying so.
set -u
fail=0
t=$(mktemp -d "${OWB_TMP:-/tmp}/ceiling_cli.XXXXXX")
trap 'rm -rf "$t"' EXIT
check() { if ! eval "$2"; then echo "FAIL: $1" >&2; fail=1; fi; }
thr=1
[ "$(nproc)" -ge 2 ] && thr=1,2

"$OWB_BIN" kernels --formats f32,f16,bf16,q8_0,q4_0,q4_K,q6_K,mxfp4 --shapes 4096x14336 \
  --batch 1 --threads $thr --quick --counters none -o "$t/k" >"$t/ko" 2>"$t/ke"
rc=$?
check "kernels exits 0 (got $rc: $(tail -2 "$t/ke"))" "[ $rc = 0 ]"
TMPDIR="$t" "$OWB_BIN" model --synthetic llama-1b-32k --layers 2 -p 0 -n 16 --threads $thr \
  --quick --counters none -o "$t/m" >"$t/mo" 2>"$t/me"
rc=$?
check "model exits 0 (got $rc: $(tail -2 "$t/me"))" "[ $rc = 0 ]"

cat >"$t/check.py" <<'PY'
import json, sys
bad, seen = [], 0
for path, prefix in ((sys.argv[1], "kernels/gemv/"), (sys.argv[2], "model/decode/")):
    d = json.load(open(path))
    names = [b["name"] for b in d["benchmarks"]]
    if not any(n.startswith("stream/read") and n.endswith("/after") for n in names):
        bad.append(path + ": no read ceiling measured after the suite")
    for b in d["benchmarks"]:
        if not b["name"].startswith(prefix):
            continue
        seen += 1
        m = b["metrics"]
        for k in ("ceiling_gb_per_s", "ceiling_gb_per_s_before", "ceiling_gb_per_s_after",
                  "ceiling_spread_pct", "pct_of_ceiling"):
            if k not in m:
                bad.append(b["name"] + ": no " + k)
        if "pct_of_ceiling" not in m or "ceiling_spread_pct" not in m:
            continue
        pct, spread = m["pct_of_ceiling"], m["ceiling_spread_pct"]
        if pct > 100.0 + spread:
            bad.append("%s: %.1f%% of its ceiling %.1f GB/s (%s), spread %.1f%%"
                       % (b["name"], pct, m["ceiling_gb_per_s"], b["params"].get("ceiling"), spread))
        over = any("above the read ceiling" in n for n in b["notes"])
        if (pct > 100.0) != over or (pct > 100.0 and b["valid"]):
            bad.append("%s: %.1f%% of its ceiling but valid=%s, notes %s"
                       % (b["name"], pct, b["valid"], b["notes"]))
if seen < 3:
    bad.append("only %d figures checked" % seen)
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
check "no GEMV or decode above its ceiling beyond the ceiling's spread: $(python3 "$t/check.py" "$t/k/kernels.json" "$t/m/model.json" 2>&1 | head -5)" \
  "python3 '$t/check.py' '$t/k/kernels.json' '$t/m/model.json'"
check "the kernels table marks rows above the ceiling" \
  "! grep -E '1[0-9][0-9]%' '$t/ko' | grep -vq 'not valid'"
exit $fail
