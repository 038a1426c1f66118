#!/usr/bin/env bash
# Benchmark: quantc's FP8 -> BF16 cast against `cat` copying the same input on the same disk.
#
#   tools/bench/bench_cast.sh [BUILD_DIR]        env: BENCH_DIR (default /tmp/quantc-bench), REPS (1)
#                                                     SYNTH_ARGS (generator shape; default ~8.5 GB)
# Each repetition times both tools in one run, alternating which goes first: `cat` copying every
# input file to the same disk + sync, and `quantc convert` (which fsyncs its files) under
# /usr/bin/time -v. Before each timed command the page cache is emptied the same way (sync +
# drop_caches as root; otherwise POSIX_FADV_DONTNEED on the input), so both read cold. Throughput
# is bytes moved (read + written) per second; the anchor is cat's rate in the same repetition.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
BENCH_DIR=${BENCH_DIR:-/tmp/quantc-bench}
REPS=${REPS:-1}
SYNTH_ARGS=${SYNTH_ARGS:---layers 4 --dense-layers 3 --experts 72}
IN="$BENCH_DIR/synthetic-fp8"
mkdir -p "$BENCH_DIR"

if [ ! -f "$IN/config.json" ] || [ "$(cat "$BENCH_DIR/synth-args" 2>/dev/null)" != "$SYNTH_ARGS" ]; then
  rm -rf "$IN"
  echo "generating $IN ($SYNTH_ARGS)" >&2
  "$BUILD/tools/bench/make_synthetic_checkpoint" --out "$IN" $SYNTH_ARGS
  echo "$SYNTH_ARGS" > "$BENCH_DIR/synth-args"
fi

evict() {  # empty the page cache (all of it when allowed, else the input's clean pages)
  sync
  if [ -w /proc/sys/vm/drop_caches ] && echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then return; fi
  python3 - "$1" <<'PY'
import os, sys
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        fd = os.open(os.path.join(root, f), os.O_RDONLY)
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
PY
}
now() { date +%s.%N; }
bytes_of() { du -sb --apparent-size "$1" | cut -f1; }

IN_BYTES=$(bytes_of "$IN")
echo "input: $IN ($IN_BYTES bytes), threads: ${OMP_NUM_THREADS:-$(nproc)}, commit $(git rev-parse --short HEAD 2>/dev/null || echo none)"
run_cat() {
  rm -rf "$BENCH_DIR/cat-out"; mkdir -p "$BENCH_DIR/cat-out"; evict "$IN"
  local t0 t1; t0=$(now)
  for f in "$IN"/*; do cat "$f" > "$BENCH_DIR/cat-out/$(basename "$f")"; done
  sync
  t1=$(now)
  CAT_S=$(echo "$t1 - $t0" | bc -l)
  rm -rf "$BENCH_DIR/cat-out"
}
run_quantc() {
  rm -rf "$BENCH_DIR/bf16-out"; evict "$IN"
  local t0 t1; t0=$(now)
  /usr/bin/time -v "$BUILD/tools/quantc" --quiet convert "$IN" -o "$BENCH_DIR/bf16-out" 2> "$BENCH_DIR/time.txt"
  t1=$(now)
  Q_S=$(echo "$t1 - $t0" | bc -l)
  OUT_BYTES=$(bytes_of "$BENCH_DIR/bf16-out")
  RSS_KB=$(grep "Maximum resident set size" "$BENCH_DIR/time.txt" | awk '{print $NF}')
  rm -rf "$BENCH_DIR/bf16-out"
}

for rep in $(seq 1 "$REPS"); do
  if [ $((rep % 2)) -eq 1 ]; then order="cat first"; run_cat; run_quantc; else order="quantc first"; run_quantc; run_cat; fi
  CAT_RATE=$(echo "2 * $IN_BYTES / $CAT_S" | bc -l)
  Q_RATE=$(echo "($IN_BYTES + $OUT_BYTES) / $Q_S" | bc -l)
  printf 'rep %d (%s): cat %.1f s (%.0f MB/s moved) | quantc %.1f s (%.0f MB/s moved, in %d + out %d bytes) | ratio %.2f | peak RSS %.0f MiB\n' \
    "$rep" "$order" "$CAT_S" "$(echo "$CAT_RATE / 1000000" | bc -l)" "$Q_S" "$(echo "$Q_RATE / 1000000" | bc -l)" \
    "$IN_BYTES" "$OUT_BYTES" "$(echo "$Q_RATE / $CAT_RATE" | bc -l)" "$(echo "$RSS_KB / 1024" | bc -l)"
done
