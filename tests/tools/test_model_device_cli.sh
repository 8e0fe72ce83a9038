#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# owbench model --device: the backend the engine runs on is chosen at load.
#   - --device cpu runs as the default does (exit 0, tables printed, "forward": "host_threads");
#   - OWB_DEVFWD=1 forces the backend-driven forward pass (model/devfwd.h, the path --device cuda
#     runs) onto the cpu backend: exit 0, "forward": "driver" in every model benchmark;
#   - --device cuda where it cannot run (no CUDA in the build, no driver, no device) exits 77 with
#     "--device cuda: skipped: REASON" naming the reason, before writing anything; where it runs:
#     the driver ran and decode is held against the device's copy roofline;
#   - an unknown device exits 2 naming it.
set -u
fail=0
t=$(mktemp -d "${OWB_TMP:-/tmp}/model_device.XXXXXX")
trap 'rm -rf "$t"' EXIT
check() { if ! eval "$2"; then echo "FAIL: $1" >&2; fail=1; fi; }

TMPDIR="$t" "$OWB_BIN" model --synthetic tiny -p 4 -n 2 --threads 1 --quick --counters none \
  --device cpu -o "$t/cpu" >"$t/o" 2>"$t/e"
rc=$?
check "--device cpu exits 0 (got $rc: $(tail -3 "$t/e"))" "[ $rc = 0 ]"
check "--device cpu writes model.json" "[ -s '$t/cpu/model.json' ]"
check "--device cpu prints the decode row" "grep -q 'tg2' '$t/o'"

check "--device cpu runs the host-threads engine" \
  "grep -q '\"forward\":[[:space:]]*\"host_threads\"' '$t/cpu/model.json'"

# decode only, against the first run's ceiling: no second set of ceiling measurements (the
# driver's prefill is proven against the engine by tests/model/test_devfwd.c)
OWB_DEVFWD=1 TMPDIR="$t" "$OWB_BIN" model --synthetic tiny -p 0 -n 2 --threads 1 --quick \
  --counters none --ceiling "$t/cpu/model.json" --device cpu -o "$t/drv" >"$t/o" 2>"$t/e"
rc=$?
check "OWB_DEVFWD=1 exits 0 (got $rc: $(tail -3 "$t/e"))" "[ $rc = 0 ]"
check "OWB_DEVFWD=1 runs the driver" "grep -q '\"forward\":[[:space:]]*\"driver\"' '$t/drv/model.json'"
check "OWB_DEVFWD=1 prints the decode row" "grep -q 'tg2' '$t/o'"

TMPDIR="$t" "$OWB_BIN" model --synthetic tiny -p 4 -n 2 --threads 1 --quick --counters none \
  --device cuda -o "$t/cuda" >"$t/o" 2>"$t/e"
rc=$?
if [ "$rc" = 0 ]; then
  check "--device cuda ran: model.json written" "[ -s '$t/cuda/model.json' ]"
  check "--device cuda ran the driver" "grep -q '\"forward\":[[:space:]]*\"driver\"' '$t/cuda/model.json'"
  check "--device cuda held against the copy roofline" "grep -q 'device_copy' '$t/cuda/model.json'"
else
  check "--device cuda exits 77 when it cannot run (got $rc: $(cat "$t/e"))" "[ $rc = 77 ]"
  check "the reason is named" "grep -Eq -- '--device cuda: skipped: .{10,}' '$t/e'"
  check "nothing written when skipped" "[ ! -e '$t/cuda' ]"
  check "no temporary synthetic file left" "[ -z \"\$(ls '$t' | grep owb-synth)\" ]"
fi
case "$(cat "$t/e")" in
*"built without CUDA"* | *"no CUDA"* | *"driver"* | *"device"*) ;;
*) [ "$rc" = 0 ] || check "reason is one of the documented ones: $(cat "$t/e")" false ;;
esac

"$OWB_BIN" model --synthetic tiny -p 4 -n 2 --device tpu >"$t/o" 2>"$t/e"
rc=$?
check "--device tpu exits 2 (got $rc)" "[ $rc = 2 ]"
check "unknown device named" "grep -q \"tpu\" '$t/e'"
exit $fail
