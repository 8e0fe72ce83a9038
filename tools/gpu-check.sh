#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gpu-check.sh: build owbench with CUDA on a GPU host, run the `gpu` tests (every CUDA kernel
# against the CPU backend) and the host-side CUDA tests, then a compact benchmark (all eight
# formats, GEMV/GEMM at 4096x4096, 14336x4096 and 4096x14336, batch 1, 8 and 512, the device copy
# ceiling) and a 1B-shape model (synthetic llama-3.2-1b in q4_0: decode of 128 tokens and a
# 512-token prefill through the engine's backend-driven forward pass, decode steps replayed from
# a recorded CUDA graph) and print one short table. Meant to finish in a few minutes on an H100,
# build included.
#
# The GPU host (Ubuntu 24.04, CUDA 13) has no libcjson (required) nor pkg-config; hwloc, PAPI,
# MPI and libcurl are left out of this build. Carry them from a machine with apt:
#
#     bash tools/gpu-check.sh --prepare     # here: .gpu/debs/*.deb (libcjson, pkgconf)
#     # then on the GPU host, with .gpu carried along (it is git-ignored):
#     bash tools/gpu-check.sh [OUTDIR]      # default OUTDIR: results/runs/gpu-check
#
# Exit: 0 all ran and the tests passed; 1 a test failed; 3 build or benchmark error; 77 no usable
# CUDA device (the reason is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD/.gpu/root

if [ "${1:-}" = "--prepare" ]; then
    mkdir -p .gpu/debs
    (cd .gpu/debs && apt-get download libcjson1 libcjson-dev pkgconf pkgconf-bin libpkgconf3)
    ls -l .gpu/debs
    exit 0
fi
out=${1:-results/runs/gpu-check}
mkdir -p "$out"

# carried packages, unpacked beside the tree (never into /)
if ! pkg-config --exists libcjson 2>/dev/null; then
    if ! ls .gpu/debs/*.deb >/dev/null 2>&1; then
        echo "gpu-check: libcjson not found and no .gpu/debs to unpack (run --prepare first)" >&2
        exit 3
    fi
    mkdir -p "$root"
    for f in .gpu/debs/*.deb; do dpkg-deb -x "$f" "$root"; done
    lib=$root/usr/lib/x86_64-linux-gnu
    export LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export PKG_CONFIG_LIBDIR=$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$root
    pc=$(command -v pkg-config || true)
    [ -n "$pc" ] || pc=$root/usr/bin/pkgconf
    pkgcfg=(-DPKG_CONFIG_EXECUTABLE="$pc")
else
    pkgcfg=()
fi
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
    export CUDACXX=/usr/local/cuda/bin/nvcc
fi

t0=$(date +%s)
echo "== build (CUDA on)"
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S . -B build-gpu "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DOWB_WITH_CUDA=ON \
    -DOWB_WITH_HWLOC=OFF -DOWB_WITH_PAPI=OFF -DOWB_WITH_MPI=OFF "${pkgcfg[@]}" >"$out/cmake.log" ||
    { cat "$out/cmake.log"; exit 3; }
cmake --build build-gpu -j"$(nproc)" >"$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 3; }
t1=$(date +%s)

echo "== tests (gpu label and host-side CUDA tests)"
test_rc=0
ctest --test-dir build-gpu -R 'cuda|backend|device|devfwd' --output-on-failure 2>&1 | tee "$out/ctest.log" ||
    test_rc=1
if grep -q "kernels_cuda_test_backend_cuda .*Skipped" "$out/ctest.log"; then
    echo "gpu-check: the gpu test was skipped: no usable CUDA device" >&2
    build-gpu/owbench kernels --device cuda --quick -o "$out/probe" || true
    exit 77
fi
t2=$(date +%s)

echo "== benchmark"
set +e
build-gpu/owbench kernels --device cuda --formats f32,f16,bf16,q8_0,q4_0,q4_K,q6_K,mxfp4 \
    --shapes 4096x4096,14336x4096,4096x14336 --batch 1,8,512 -o "$out" >"$out/table.txt" \
    2>"$out/bench.err"
bench_rc=$?
set -e
if [ $bench_rc -ne 0 ]; then
    cat "$out/bench.err" >&2
    [ $bench_rc -eq 77 ] && exit 77
    exit 3
fi
# the 1B-shape model (llama.cpp's llama-bench tg128 / pp512 on the same shape: 851 / ~38k t/s)
set +e
build-gpu/owbench model --synthetic llama-3.2-1b --type q4_0 -p 512 -n 128 --reps 3 --device cuda \
    --counters none -o "$out/model" >"$out/model.txt" 2>"$out/model.err"
model_rc=$?
set -e
t3=$(date +%s)
if [ $model_rc -ne 0 ]; then
    cat "$out/model.err" >&2
    [ $model_rc -eq 77 ] && exit 77
    exit 3
fi

echo "== summary (build $((t1 - t0)) s, tests $((t2 - t1)) s, benchmark $((t3 - t2)) s)"
python3 - "$out/kernels.json" "$out/model/model.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
mdoc = json.load(open(sys.argv[2]))
gpus = doc.get("env", {}).get("gpus") or [{}]
print("device:", gpus[0].get("name", "?"), "| driver CUDA", gpus[0].get("driver_cuda_version", "?"))
rows = [("case", "path", "us", "GB/s", "%copy", "TFLOP/s", "x cuBLAS bf16")]
for b in doc["benchmarks"]:
    m, name = b.get("metrics", {}), b["name"]
    if name == "kernels/gpu/copy":
        print("copy ceiling: %.0f GB/s (read + write)" % m.get("gb_per_s", 0))
    elif name.startswith(("kernels/gpu/gem", "kernels/gpu/cublas/")):
        sp = m.get("speedup_vs_cublas_bf16")
        rows.append((name[len("kernels/gpu/"):], b["params"].get("path", ""),
                     "%.2f" % m["us_median"], "%.0f" % m["gb_per_s"], "%.0f" % m["pct_of_copy"],
                     "%.2f" % (m["gflop_per_s"] / 1000), "%.2f" % sp if sp else "-"))
    elif name == "kernels/gpu/cublas":
        print("no cuBLAS baseline:", "; ".join(b.get("notes", [])))
w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
for r in rows:
    print("  ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(r)))
rows = [("model case", "launch", "tok/s", "ms/tok", "GB/s", "%copy roofline", "x llama.cpp")]
for b in mdoc["benchmarks"]:
    m, p, name = b.get("metrics", {}), b.get("params", {}), b["name"]
    if not name.startswith("model/"):
        continue
    dec = name.startswith("model/decode/")
    ref = 851.0 if dec else 38000.0  # llama-bench tg128 / pp512, llama.cpp de3ff81 on the H100
    rows.append((name[len("model/"):], p.get("decode_launch", "-") if dec else "ops",
                 "%.1f" % m.get("tok_per_s", 0), "%.3f" % m.get("ms_per_token", 0),
                 "%.0f" % m["gb_per_s"] if "gb_per_s" in m else "-",
                 "%.0f" % m["pct_of_roofline"] if "pct_of_roofline" in m else "-",
                 "%.2f" % (m.get("tok_per_s", 0) / ref)))
    for n in b.get("notes", []):
        print("note:", name, ":", n)
w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
for r in rows:
    print("  ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(r)))
PY
exit $test_rc
