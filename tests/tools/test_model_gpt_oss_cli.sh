#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# owbench model on a mixture-of-experts file (`--synthetic gpt-oss-tiny`: 4 experts, 2 used, 4
# layers, sliding window 8 on layers 0 and 2): both cases run at 1 and 2 threads, the params name
# the experts and the window, weight_type is the experts' type (mxfp4), and decode_read_bytes
# counts the used experts only: the dense tensors plus half of every layer's expert bytes, as
# `owbench gguf --json` lists them for the same file.
set -u
fail=0
t=$(mktemp -d "${OWB_TMP:-/tmp}/model_goss.XXXXXX")
trap 'rm -rf "$t"' EXIT
check() { if ! eval "$2"; then echo "FAIL: $1" >&2; fail=1; fi; }

"$OWB_BIN" synth --preset gpt-oss-tiny -o "$t/g.gguf" 2>/dev/null
"$OWB_BIN" gguf --json "$t/g.gguf" >"$t/g.json"
"$OWB_BIN" model -m "$t/g.gguf" -p 24 -n 6 --threads 1,2 --quick --counters none -o "$t/out" \
  >"$t/o" 2>"$t/e"
rc=$?
check "gpt-oss-tiny run exits 0 (got $rc: $(tail -3 "$t/e"))" "[ $rc = 0 ]"
python3 - "$t/out/model.json" "$t/g.json" >"$t/py" 2>&1 <<'PY'
import json, sys
doc = json.load(open(sys.argv[1])); g = json.load(open(sys.argv[2]))
tensors = g["tensors"]
def nbytes(t): return t.get("bytes", t.get("size_bytes", 0))
exps = sum(nbytes(t) for t in tensors if "_exps." in t["name"])
rest = sum(nbytes(t) for t in tensors if "_exps." not in t["name"] and t["name"] != "token_embd.weight")
embd = [t for t in tensors if t["name"] == "token_embd.weight"][0]
bad = []
names = [b["name"] for b in doc["benchmarks"] if b["suite"] == "model" and "peak" not in b["params"]]
for want in ["model/prefill/g/p24/t1", "model/prefill/g/p24/t2", "model/decode/g/n6/t1", "model/decode/g/n6/t2"]:
    if want not in names: bad.append("missing " + want)
for b in doc["benchmarks"]:
    if b["name"] not in names: continue
    p, m = b["params"], b["metrics"]
    if p.get("arch") != "gpt-oss": bad.append("arch %s" % p.get("arch"))
    if p.get("n_expert") != 4 or p.get("n_expert_used") != 2: bad.append("experts %s" % p)
    if p.get("sliding_window") != 8: bad.append("window %s" % p.get("sliding_window"))
    if p.get("weight_type") != "mxfp4": bad.append("weight_type %s" % p.get("weight_type"))
    # dense tensors + one embedding row + half of the expert bytes (2 of 4), expert biases: 2 of 4 rows
    lo = rest + exps / 2
    dr = m["decode_read_bytes"]
    if not (lo <= dr <= lo + embd["shape"][0] * 4 + 4096):
        bad.append("decode_read_bytes %d, expected about %d" % (dr, lo))
    if dr >= m["weights_bytes"]: bad.append("active bytes not below all weights")
print("\n".join(bad) if bad else "ok")
sys.exit(1 if bad else 0)
PY
check "model.json facts: $(cat "$t/py")" "[ \"\$(tail -1 '$t/py')\" = ok ]"
exit $fail
