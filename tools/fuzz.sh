#!/usr/bin/env bash
# Runs every libFuzzer target of tests/fuzz (ASan + UBSan, build-fuzz/) for SECONDS each, one after
# the other, on a scratch copy of its committed corpus (tests/fuzz/corpus/<target>/), so long runs
# never grow the repository. Configures and builds build-fuzz first when needed (clang).
#   tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      (default 30 s, every target)
# Exits non-zero when any target crashed, leaked, timed out (> 1 s on one input) or ran out of
# memory; the input that did it is left in $FUZZ_OUT/artifacts/. Prints per target: executions,
# exec/s and the final coverage (cov: edges, ft: features).
# Environment: FUZZ_OUT (logs, scratch corpora, artifacts; default build-fuzz/fuzz-out),
# FUZZ_JOBS (build parallelism, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-30}
shift || true
BUILD_DIR=build-fuzz
ALL_TARGETS=(safetensors_fuzz config_fuzz tokenizer_json_fuzz tokenizer_encode_fuzz gguf_fuzz imatrix_fuzz gguf_vocab_fuzz)
TARGETS=("$@")
if (($# == 0)); then TARGETS=("${ALL_TARGETS[@]}"); fi
FUZZ_OUT=${FUZZ_OUT:-$BUILD_DIR/fuzz-out}

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DQUANTC_FUZZ=ON -DQUANTC_CUDA=OFF -DQUANTC_BUILD_TESTS=OFF >/dev/null
fi
nice -n 10 ninja -C "$BUILD_DIR" -j "${FUZZ_JOBS:-2}" fuzz_targets >/dev/null

mkdir -p "$FUZZ_OUT/artifacts" "$FUZZ_OUT/logs"
# Leaks are failures; UBSan already aborts on its first report (-fno-sanitize-recover).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

failed=()
printf '%-22s %8s %12s %8s %8s %8s  %s\n' target seconds executions exec/s cov ft result
for target in "${TARGETS[@]}"; do
  corpus="$FUZZ_OUT/corpus/$target"
  log="$FUZZ_OUT/logs/$target.log"
  rm -rf "$corpus" && mkdir -p "$corpus"
  cp tests/fuzz/corpus/"$target"/* "$corpus"/
  status=0
  nice -n 10 "$BUILD_DIR/tests/fuzz/$target" -max_total_time="$SECONDS_PER_TARGET" -timeout=1 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$FUZZ_OUT/artifacts/$target-" "$corpus" >"$log" 2>&1 || status=$?
  # The last coverage line ("#N DONE cov: 1234 ft: 5678 corp: ...") and the final stats.
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  result=ok
  if ((status != 0)); then
    result="FAILED (exit $status; $log)"
    failed+=("$target")
  fi
  printf '%-22s %8s %12s %8s %8s %8s  %s\n' "$target" "$SECONDS_PER_TARGET" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
    "${ft:-?}" "$result"
done
if ((${#failed[@]})); then
  echo "fuzz: ${failed[*]} failed; reproduce with $BUILD_DIR/tests/fuzz/<target> $FUZZ_OUT/artifacts/<file>" >&2
  exit 1
fi
