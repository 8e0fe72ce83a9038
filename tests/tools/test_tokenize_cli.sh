#!/bin/bash
# SPDX-License-Identifier: MIT
# test_tokenize_cli.sh: `owbench tokenize` end to end on the shared vocab files. Every input of the
# llama.cpp test pairs (ggml-vocab-{llama-spm,gpt-2,gpt-oss}.gguf .inp/.out) given with -f, --ids
# and --no-bos prints exactly the .out line as "[a, b, c]"; the per-token listing has
# llama-tokenize's "%6d -> 'piece'" form; BOS follows the vocabulary unless --no-bos; harmony
# special tokens are single tokens only with --special; -f - reads stdin. Bad arguments exit 2,
# unreadable text or GGUF files, corrupt or unsupported GGUFs and a failed stdout exit 3 with a
# message naming the file and nothing on stdout.
set -u
data=${OWB_TEST_DATA:-../shared}
bin=${OWB_BIN:?}
tmp=${OWB_TMP:-/tmp}/tokenize_cli.$$
dir=$data/models/gguf
oss=$dir/ggml-vocab-gpt-oss.gguf
spm=$dir/ggml-vocab-llama-spm.gguf
[ -r "$oss" ] && [ -r "$spm" ] || { echo "SKIP: shared ggml-vocab-gpt-oss.gguf / -llama-spm.gguf absent"; exit 77; }
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; fi; }

# The pairs: .inp split at "\n__ggml_vocab_test__\n" (as llama.cpp's test-tokenizer-0 does), one
# file per input; line i of .out, " a b c", is "[a, b, c]" in --ids form.
for v in llama-spm gpt-2 gpt-oss; do
    f=$dir/ggml-vocab-$v.gguf
    [ -r "$f.inp" ] && [ -r "$f.out" ] || { echo "FAIL: $f.inp/.out absent"; fail=1; continue; }
    mkdir -p "$tmp/$v"
    LC_ALL=C awk -v d="$tmp/$v" 'BEGIN { RS = "\n__ggml_vocab_test__\n" }
        { printf "%s", $0 > (d "/" sprintf("%03d", NR)); close(d "/" sprintf("%03d", NR)) }' "$f.inp"
    n=$(ls "$tmp/$v" | wc -l)
    check "$v: as many inputs as .out lines" '[ "$n" -eq "$(wc -l < "$f.out")" ] && [ "$n" -gt 40 ]'
    i=0 ok=0
    while IFS= read -r line; do
        i=$((i + 1))
        want="[$(echo "$line" | sed 's/^ *//; s/ *$//; s/  */, /g')]"
        got=$("$bin" tokenize -m "$f" -f "$tmp/$v/$(printf %03d $i)" --ids --no-bos)
        if [ "$got" = "$want" ]; then
            ok=$((ok + 1))
        else
            echo "FAIL: $v input $i: want $want"
            echo "                     got  $got"
            fail=1
        fi
    done < "$f.out"
    echo "$v: $ok/$i inputs exact"
done

# The listing: llama-tokenize's "%6d -> '%s'" lines, special tokens by their text.
"$bin" tokenize -m "$oss" -p "Hello world" > "$tmp/l.txt"
check "listing exit 0" '[ $? -eq 0 ]'
printf " 13225 -> '%s'\n  2375 -> '%s'\n" Hello " world" > "$tmp/l_want.txt"
check "listing lines" 'cmp -s "$tmp/l.txt" "$tmp/l_want.txt"'
"$bin" tokenize -m "$spm" -p "Hello world" > "$tmp/s.txt"
printf "     1 -> '<s>'\n 15043 -> ' Hello'\n  3186 -> ' world'\n" > "$tmp/s_want.txt"
check "SPM listing with BOS" 'cmp -s "$tmp/s.txt" "$tmp/s_want.txt"'
check "SPM --ids adds BOS" '[ "$("$bin" tokenize -m "$spm" -p "Hello world" --ids)" = "[1, 15043, 3186]" ]'
check "SPM --no-bos" '[ "$("$bin" tokenize -m "$spm" -p "Hello world" --ids --no-bos)" = "[15043, 3186]" ]'
check "empty text: []" '[ "$("$bin" tokenize -m "$oss" -p "" --ids)" = "[]" ]'

# Harmony special tokens: parsed only with --special.
msg='<|start|>assistant<|channel|>final<|message|>Hi<|end|>'
check "--special parses harmony tokens" \
    '[ "$("$bin" tokenize -m "$oss" -p "$msg" --ids --special)" = "[200006, 173781, 200005, 17196, 200008, 12194, 200007]" ]'
check "without --special they are text" \
    '[ "$("$bin" tokenize -m "$oss" -p "<|start|>assistant" --ids)" = "[27, 91, 5236, 91, 29, 173781]" ]'
"$bin" tokenize -m "$oss" -p "<|start|>x" --special > "$tmp/sp.txt"
check "special token listed by its text" 'head -1 "$tmp/sp.txt" | grep -qx "200006 -> '"'"'<|start|>'"'"'"'
check "-f - reads stdin" '[ "$(printf "Hello world" | "$bin" tokenize -m "$oss" -f - --ids)" = "[13225, 2375]" ]'

# Usage errors: exit 2.
"$bin" tokenize > /dev/null 2>&1; check "no arguments exit 2" '[ $? -eq 2 ]'
"$bin" tokenize -m "$oss" > /dev/null 2> "$tmp/e.txt"
check "no text exits 2 with a message" '[ $? -eq 2 ] && grep -q -- "-p TEXT or -f FILE" "$tmp/e.txt"'
"$bin" tokenize -p hi > /dev/null 2>&1; check "no -m exits 2" '[ $? -eq 2 ]'
"$bin" tokenize -m "$oss" -p hi -f "$tmp/l.txt" > /dev/null 2>&1; check "-p and -f exit 2" '[ $? -eq 2 ]'
"$bin" tokenize -m "$oss" -p hi --nope > /dev/null 2> "$tmp/e.txt"
check "unknown flag exits 2 naming it" '[ $? -eq 2 ] && grep -q -- "--nope" "$tmp/e.txt"'
"$bin" tokenize -m "$oss" -p > /dev/null 2> "$tmp/e.txt"
check "-p without a value exits 2" '[ $? -eq 2 ] && grep -q "needs a value" "$tmp/e.txt"'
"$bin" tokenize -m "$oss" -p hi extra > /dev/null 2>&1; check "stray argument exits 2" '[ $? -eq 2 ]'
"$bin" tokenize --help > "$tmp/h.txt"; check "--help exits 0" '[ $? -eq 0 ] && grep -q "usage: owbench tokenize" "$tmp/h.txt"'

# Runtime errors: exit 3, the file named, nothing on stdout.
runtime() { # name, expected text in the message, args...
    local name=$1 pat=$2
    shift 2
    "$bin" tokenize "$@" > "$tmp/o.txt" 2> "$tmp/e.txt"
    local rc=$?
    check "$name exits 3" '[ $rc -eq 3 ]'
    check "$name: message names it" 'grep -q -- "$pat" "$tmp/e.txt"'
    check "$name: nothing on stdout" '[ ! -s "$tmp/o.txt" ]'
}
runtime "missing text file" "$tmp/none.txt: cannot open" -m "$oss" -f "$tmp/none.txt"
runtime "missing GGUF" "$tmp/none.gguf" -m "$tmp/none.gguf" -p hi
head -c 100000 "$oss" > "$tmp/cut.gguf"
runtime "truncated GGUF" "$tmp/cut.gguf" -m "$tmp/cut.gguf" -p hi
printf 'GGUF\003\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000' > "$tmp/empty.gguf"
runtime "GGUF without a tokenizer" "tokenizer.ggml.model" -m "$tmp/empty.gguf" -p hi
if [ -r "$dir/ggml-vocab-bert-bge.gguf" ]; then
    runtime "unsupported tokenizer" "bert" -m "$dir/ggml-vocab-bert-bge.gguf" -p hi
fi
if [ -w /dev/full ]; then
    "$bin" tokenize -m "$oss" -p hi > /dev/full 2> "$tmp/e.txt"
    check "full stdout exits 3" '[ $? -eq 3 ] && grep -q "standard output" "$tmp/e.txt"'
fi
exit $fail
