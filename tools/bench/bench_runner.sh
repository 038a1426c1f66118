#!/usr/bin/env bash
# Benchmark: prefill and decode tokens/s of the CPU reference runner (FP32 compute, weights read
# in their stored BF16) on testdata/tiny-qwen2-bf16 and on a synthetic BF16 model shaped like
# DeepSeek-R1-Distill-Qwen-1.5B (random weights, ~3.3 GiB; generated once, then reused).
#
#   tools/bench/bench_runner.sh [BUILD_DIR]     BUILD_DIR (default build) must hold bench_runner and
#                                               make_synthetic_checkpoint; this script builds nothing.
#   env: BENCH_DIR   parent of the synthetic model (default /tmp/quantc-bench, as bench_cast.sh)
#        THREADS     worker threads (default: all cores)
#        TINY_ARGS   bench_runner options for tiny-qwen2 (default: -p 512 -r 3 -n 64)
#        SYNTH_ARGS  bench_runner options for the 1.5B model (default: -p 128 -r 3 -n 16; one
#                    repetition of 128 tokens takes ~15 s on 2 cores)
#        JSON=1      print bench_runner's JSON line instead of its text line
# The timed runs share the machine with whatever else runs: the load average is printed before
# each so a busy host shows (two OpenMP threads on two busy cores can run decode 20x slower).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
BENCH_DIR=${BENCH_DIR:-/tmp/quantc-bench}
TINY_ARGS=${TINY_ARGS:--p 512 -r 3 -n 64}
SYNTH_ARGS=${SYNTH_ARGS:--p 128 -r 3 -n 16}
SYNTH="$BENCH_DIR/synthetic-qwen2-1.5b"
BENCH="$BUILD/tools/bench/bench_runner"
GEN="$BUILD/tools/bench/make_synthetic_checkpoint"

for exe in "$BENCH" "$GEN"; do
  if [ ! -x "$exe" ]; then
    echo "bench_runner.sh: $exe is missing; build it first: cmake --build $BUILD --target bench_runner make_synthetic_checkpoint" >&2
    exit 1
  fi
done

if [ ! -f "$SYNTH/config.json" ]; then
  mkdir -p "$BENCH_DIR"
  echo "generating $SYNTH (DeepSeek-R1-Distill-Qwen-1.5B shapes, BF16)" >&2
  "$GEN" --arch qwen2 --out "$SYNTH"
fi

extra=()
[ -n "${THREADS:-}" ] && extra+=(--threads "$THREADS")
[ "${JSON:-0}" = 1 ] && extra+=(--json)

echo "bench_runner: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo none)," \
  "$(nproc) cores, threads ${THREADS:-${OMP_NUM_THREADS:-all}}"
run() {
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  # shellcheck disable=SC2086  # the *_ARGS are option lists
  "$BENCH" "$1" $2 "${extra[@]}"
}
run testdata/tiny-qwen2-bf16 "$TINY_ARGS"
run "$SYNTH" "$SYNTH_ARGS"
