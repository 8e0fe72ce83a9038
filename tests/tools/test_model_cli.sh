#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# owbench model from the command line, on the synthetic `tiny` preset (stories260K's shape):
#   - `--synthetic tiny -p 16 -n 8 --threads 1,2` writes model/prefill/tiny-q4_0/p16/t{1,2} and
#     model/decode/tiny-q4_0/n8/t{1,2} with the documented fields;
#   - tok_per_s agrees with the samples (decode: samples / their sum; prefill: n_prompt / median),
#     decode has one sample per repetition and latency buckets that cover every position;
#   - the operation classes are non-negative and sum to at most the profiled total;
#   - weights_bytes, kv_bytes_per_token and decode_read_bytes equal what `owbench gguf --json`
#     says about the same file (written separately with `owbench synth`), and -m FILE gives the
#     same figures under the file's name; the roofline follows from the ceiling in the document;
#   - bad flags and values exit 2 naming the value; a missing model file exits 3.
set -u
fail=0
t=$(mktemp -d "${OWB_TMP:-/tmp}/model_cli.XXXXXX")
trap 'rm -rf "$t"' EXIT
check() { if ! eval "$2"; then echo "FAIL: $1" >&2; fail=1; fi; }

"$OWB_BIN" model --help >"$t/help" 2>&1; check "model --help exits 0" "[ $? = 0 ]"
check "help mentions --synthetic" "grep -q -- --synthetic '$t/help'"

TMPDIR="$t" "$OWB_BIN" model --synthetic tiny -p 16 -n 8 --threads 1,2 --quick --counters none \
  -o "$t/out" >"$t/o" 2>"$t/e"
rc=$?
check "synthetic tiny run exits 0 (got $rc: $(tail -3 "$t/e"))" "[ $rc = 0 ]"
check "model.json written" "[ -s '$t/out/model.json' ]"
check "table printed" "grep -q 'tg8' '$t/o' && grep -q 'pp16' '$t/o'"
check "temporary synthetic file removed" "[ -z \"\$(ls '$t' | grep owb-synth)\" ]"

"$OWB_BIN" synth --preset tiny --type q4_0 -o "$t/tiny.gguf" 2>/dev/null
"$OWB_BIN" gguf --json "$t/tiny.gguf" >"$t/tiny.json"
check "reference gguf json" "[ -s '$t/tiny.json' ]"

cat >"$t/check.py" <<'EOF'
import json, sys, statistics
doc = json.load(open(sys.argv[1]))
g = json.load(open(sys.argv[2]))
model, reps = sys.argv[3], int(sys.argv[4])
bad = []
def expect(cond, what):
    if not cond:
        bad.append(what)
md = g["metadata"]
n_layer = md["llama.block_count"]
n_embd = md["llama.embedding_length"]
n_head = md["llama.attention.head_count"]
n_kv = md["llama.attention.head_count_kv"]
n_vocab = md["llama.vocab_size"]
tensors = {t["name"]: t for t in g["tensors"]}
weights = sum(t["bytes"] for t in g["tensors"])
kv_tok = 2 * n_layer * n_kv * (n_embd // n_head) * 4
emb = tensors["token_embd.weight"]["bytes"]
decode_read = weights - emb + emb // n_vocab
bench = {b["name"]: b for b in doc["benchmarks"] if b["suite"] == "model"}
for thr in (1, 2):
    for kind, tag, n in (("prefill", "p", 16), ("decode", "n", 8)):
        name = "model/%s/%s/%s%d/t%d" % (kind, model, tag, n, thr)
        b = bench.get(name)
        expect(b is not None, "missing " + name)
        if b is None:
            continue
        m, p = b["metrics"], b["params"]
        s = b["samples"]["values"]
        expect(b["samples"]["unit"] == "ns", name + ": unit")
        expect(p["threads"] == thr and p["model"] == model, name + ": params")
        if kind == "decode":
            # one sample per repetition of n tokens (tokens of one repetition are not independent)
            expect(len(s) == reps, name + ": %d samples, want %d" % (len(s), reps))
            tps = n * 1e9 / statistics.median(s)
            buckets = b["latency_by_position"]
            expect(sum(x["n"] for x in buckets) == reps * n, name + ": buckets cover the tokens")
            expect(buckets[0]["pos_lo"] == 0 and buckets[-1]["pos_hi"] == n - 1,
                   name + ": bucket positions")
            bpt = m["bytes_per_token"]
            expect(bpt >= decode_read + kv_tok, name + ": bytes_per_token")
            # the ceiling: the best read kernel of the run at <= thr threads, before or after
            ceil = [x["metrics"]["gb_per_s"] for x in doc["benchmarks"]
                    if x["name"].startswith("stream/read")
                    and int(x["name"].split("/")[2][1:]) <= thr]
            if ceil:
                c = max(ceil)
                expect(abs(m["ceiling_gb_per_s"] - c) < 1e-9 * c, name + ": ceiling")
                expect(abs(m["pct_of_roofline"] - 100 * tps * bpt / (c * 1e9)) < 1e-6,
                       name + ": pct_of_roofline")
            else:
                bad.append(name + ": no stream/read/t%d in the document" % thr)
        else:
            expect(len(s) == reps, name + ": %d samples, want %d" % (len(s), reps))
            tps = n * 1e9 / statistics.median(s)
        expect(abs(m["tok_per_s"] - tps) <= 1e-9 * tps, name + ": tok_per_s %g vs samples %g"
               % (m["tok_per_s"], tps))
        expect(m["weights_bytes"] == weights, name + ": weights_bytes %d vs %d"
               % (m["weights_bytes"], weights))
        expect(m["kv_bytes_per_token"] == kv_tok, name + ": kv_bytes_per_token %d vs %d"
               % (m["kv_bytes_per_token"], kv_tok))
        expect(m["decode_read_bytes"] == decode_read, name + ": decode_read_bytes %d vs %d"
               % (m["decode_read_bytes"], decode_read))
        expect(m["kv_cache_bytes"] == kv_tok * p["n_ctx"], name + ": kv_cache_bytes")
        oc = b["op_classes"]
        parts = [v["ns_per_token"] for k, v in oc.items() if k != "total"]
        expect(all(x >= 0 for x in parts), name + ": negative class time")
        expect(any(k.startswith("matmul/") for k in oc), name + ": no matmul class")
        for k in ("attention", "norm", "sync", "other", "total"):
            expect(k in oc, name + ": class " + k)
        tot = oc["total"]["ns_per_token"]
        expect(sum(parts) <= tot * (1 + 1e-9), name + ": classes %g > total %g" % (sum(parts), tot))
        expect(sum(parts) >= 0.5 * tot, name + ": classes cover less than half the time")
if bad:
    print("\n".join(bad))
    sys.exit(1)
EOF
check "synthetic results consistent ($(python3 "$t/check.py" "$t/out/model.json" "$t/tiny.json" tiny-q4_0 3 2>&1 | head -5))" \
  "python3 '$t/check.py' '$t/out/model.json' '$t/tiny.json' tiny-q4_0 3"

# The same file by path: named after the file, same memory figures; a ceiling from a file.
"$OWB_BIN" model -m "$t/tiny.gguf" -p 8 -n 4 --threads 1 --reps 2 --ceiling "$t/out/model.json" \
  --counters none -o "$t/out2" >"$t/o2" 2>"$t/e2"
rc=$?
check "-m run exits 0 (got $rc: $(tail -2 "$t/e2"))" "[ $rc = 0 ]"
check "-m run: named after the file, same memory figures, ceiling from --ceiling" "python3 - <<'EOF'
import json
d = json.load(open('$t/out2/model.json'))
r = json.load(open('$t/out/model.json'))
b = {x['name']: x for x in d['benchmarks']}
rb = {x['name']: x for x in r['benchmarks']}
dec = b['model/decode/tiny/n4/t1']
assert 'model/prefill/tiny/p8/t1' in b
assert not any(x['suite'] == 'stream' for x in d['benchmarks'])
for k in ('weights_bytes', 'kv_bytes_per_token', 'decode_read_bytes'):
    assert dec['metrics'][k] == rb['model/decode/tiny-q4_0/n8/t1']['metrics'][k], k
assert dec['metrics']['ceiling_gb_per_s'] == max(x['metrics']['gb_per_s'] for n, x in rb.items()
                                                 if n.startswith('stream/read') and '/t1' in n)
assert dec['params']['source'].endswith('tiny.gguf')
EOF"

# Usage errors: exit 2 and the message names the value.
bad() { # description, expected text, args...
  local what=$1 text=$2; shift 2
  "$OWB_BIN" model "$@" -o "$t/x" >/dev/null 2>"$t/e"; local rc=$?
  check "$what exits 2 (got $rc)" "[ $rc = 2 ]"
  check "$what: message names '$text' ($(head -1 "$t/e"))" "grep -qF -- \"$text\" '$t/e'"
}
bad "--threads 0" "'0'" --synthetic tiny --threads 0
bad "-p abc" "abc" --synthetic tiny -p abc
bad "-n -3" "-3" --synthetic tiny -n -3
bad "--reps 0" "'0'" --synthetic tiny --reps 0
bad "--type q9_9" "q9_9" --synthetic tiny --type q9_9
bad "--synthetic nosuch" "nosuch" --synthetic nosuch
bad "--layers 99 on tiny" "99" --synthetic tiny --layers 99
bad "--pin bogus" "bogus" --synthetic tiny --pin bogus
bad "-m and --synthetic" "exactly one" -m "$t/tiny.gguf" --synthetic tiny
bad "neither -m nor --synthetic" "exactly one" -p 8
bad "-p 0 -n 0" "nothing to measure" --synthetic tiny -p 0 -n 0
"$OWB_BIN" model --nope 2>"$t/e"; rc=$?
check "unknown flag exits 2 (got $rc)" "[ $rc = 2 ]"

# Runtime errors: exit 3.
"$OWB_BIN" model -m "$t/no-such-model.gguf" -p 4 -n 4 -o "$t/x" 2>"$t/e"; rc=$?
check "missing model file exits 3 (got $rc)" "[ $rc = 3 ]"
check "message names the file" "grep -q no-such-model.gguf '$t/e'"
head -c 100 "$t/tiny.gguf" >"$t/trunc.gguf"
"$OWB_BIN" model -m "$t/trunc.gguf" -p 4 -n 4 --ceiling "$t/out/model.json" -o "$t/x" 2>"$t/e"
rc=$?
check "truncated model file exits 3 (got $rc)" "[ $rc = 3 ]"
exit $fail
