#!/usr/bin/env bash
# The GPU suite, on the device machine (no build tools, no Node, no Debian packages there): runs
# the binaries tools/gpu/pack.sh put in .gpu/ and writes each one's log and JUnit XML under
# $OUT (default ./gpu-results). Exit status: non-zero if any test failed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RESULTS=${OUT:-$ROOT/gpu-results}
mkdir -p "$RESULTS"
source "$ROOT/tools/gpu/device_env.sh"  # .gpu/lib and the device's libcublas.so.13
export QUANTC_GPU_TESTDATA=$ROOT/.gpu/testdata
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$RESULTS/device.txt" 2>&1
status=0
for t in "$ROOT"/.gpu/bin/*_test; do
  name=$(basename "$t")
  # A hung kernel must not eat the call's device time: 120 s per binary (they take seconds).
  (cd "$ROOT" && timeout 120 "$t" --gtest_output="xml:$RESULTS/$name.xml") > "$RESULTS/$name.log" 2>&1 || status=1
  tail -n 3 "$RESULTS/$name.log"
done
exit $status
