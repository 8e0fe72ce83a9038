# SPDX-License-Identifier: MIT
# test_plot_cli.sh: `owbench plot` end to end on a stream-shaped result file (written here with
# awk): with gnuplot on PATH it writes a PNG (magic bytes checked), an SVG, the .dat and the .gp;
# with a PATH lacking gnuplot it still exits 0, writes the .dat and .gp, no PNG, and says why on
# stderr; usage errors exit 2; a missing result file exits 3 naming the file.
set -u
: "${OWB_BIN:?}" "${OWB_TMP:?}"
d=$(mktemp -d "$OWB_TMP/plot_cli.XXXXXX")
fail=0
check() {
    local what=$1
    shift
    if ! "$@"; then
        echo "FAIL: $what" >&2
        fail=1
    fi
}

awk 'BEGIN {
    print "{\"schema\": \"owbench.result/1\", \"tool\": {\"name\": \"owbench\", \"version\": \"test\"},"
    print " \"created\": \"2024-01-01T00:00:00Z\", \"command\": [], \"env\": {\"host\": \"h\"}, \"evals\": [],"
    print " \"benchmarks\": ["
    split("copy scale add triad read", k, " ")
    sep = ""
    for (i = 1; i <= 5; i++)
        for (t = 1; t <= 8; t *= 2) {
            printf "%s  {\"name\": \"stream/%s/t%d\", \"suite\": \"stream\", \"params\": {},", sep, k[i], t
            printf " \"samples\": {\"unit\": \"ns\", \"values\": [1, 2, 3, 4, 5]},"
            printf " \"stats\": {\"n\": 5, \"median\": 3, \"mean\": 3, \"stddev\": 1.58, \"mad\": 1,"
            printf " \"min\": 1, \"max\": 5, \"p50\": 3, \"p90\": 4.6, \"p99\": 4.96, \"p999\": 4.996,"
            printf " \"ci95_lo\": 1, \"ci95_hi\": 5},"
            printf " \"metrics\": {\"gb_per_s\": %g, \"gb_per_s_median\": %g},", 10 * i * t ^ 0.8, 9 * i * t ^ 0.8
            printf " \"counters\": {}, \"valid\": true, \"notes\": []}"
            sep = ",\n"
        }
    print "\n ]}"
}' >"$d/stream.json"

if command -v gnuplot >/dev/null 2>&1; then
    "$OWB_BIN" plot "$d/stream.json" -o "$d/fig" 2>"$d/err"
    check "plot exits 0" test $? -eq 0
    check "PNG has the PNG magic" test "$(head -c 8 "$d/fig/stream_bw.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a"
    check "SVG written" grep -q "<svg" "$d/fig/stream_bw.svg"
    check ".dat has 5 series" test "$(grep -c '^# series' "$d/fig/stream_bw.dat")" -eq 5
    check ".dat has 20 rows" test "$(grep -c '^[0-9]' "$d/fig/stream_bw.dat")" -eq 20
    check ".gp written" grep -q "stream_bw.svg" "$d/fig/stream_bw.gp"
    check "figure count reported" grep -q "1 figure" "$d/err"
else
    echo "note: gnuplot not on PATH; figure checks skipped" >&2
fi

# Without gnuplot: exit 0, data and script written, no figure, message on stderr.
env PATH=/nonexistent-owbench "$OWB_BIN" plot -o "$d/nog" "$d/stream.json" 2>"$d/err"
check "no gnuplot: exit 0" test $? -eq 0
check "no gnuplot: .dat written" test -s "$d/nog/stream_bw.dat"
check "no gnuplot: .gp written" test -s "$d/nog/stream_bw.gp"
check "no gnuplot: no PNG" test ! -e "$d/nog/stream_bw.png"
check "no gnuplot: message" grep -q "gnuplot not found" "$d/err"

# Errors.
"$OWB_BIN" plot "$d/stream.json" >/dev/null 2>&1
check "missing -o exits 2" test $? -eq 2
"$OWB_BIN" plot --bogus -o "$d/x" "$d/stream.json" >/dev/null 2>&1
check "unknown flag exits 2" test $? -eq 2
"$OWB_BIN" plot -o "$d/x" >/dev/null 2>&1
check "no files exits 2" test $? -eq 2
"$OWB_BIN" plot -o "$d/x" "$d/nothere.json" >/dev/null 2>"$d/err"
check "missing file exits 3" test $? -eq 3
check "missing file is named" grep -q "nothere.json" "$d/err"
"$OWB_BIN" plot --help >"$d/out" 2>&1
check "--help exits 0" test $? -eq 0
check "--help lists stream_bw" grep -q "stream_bw" "$d/out"

exit $fail
