#!/usr/bin/env bash
# Model-parallel shard output (issue 5): `quantc convert DS --format mp --mp N` on the synthetic
# DeepSeek-V3-shaped FP8 checkpoints (make_synthetic_checkpoint; FP8 kept, as convert.py does),
# against `cat` copying the same input bytes to one file on the same disk (the anchor: bytes moved
# per second), both from a warm page cache. Prints time, throughput ratio and peak RSS.
#   tools/bench/bench_mp.sh [BUILD_DIR]   env: BENCH_DIR (default /tmp/quantc-bench), N (default 8)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
BENCH_DIR=${BENCH_DIR:-/tmp/quantc-bench}
N=${N:-8}
GEN="$BUILD/tools/bench/make_synthetic_checkpoint"
for experts in 16 64; do
  IN="$BENCH_DIR/synthetic-fp8-e$experts"
  [ -f "$IN/config.json" ] || "$GEN" --arch deepseek_v3 --experts "$experts" --out "$IN"
  cp testdata/tiny-deepseek-v3-bf16/tokenizer*.json "$IN/" 2>/dev/null || true
  in_bytes=$(cat "$IN"/*.safetensors | wc -c)
  cat "$IN"/*.safetensors > /dev/null  # warm the page cache for both
  t0=$(date +%s.%N); cat "$IN"/*.safetensors > "$BENCH_DIR/cat.out"; sync "$BENCH_DIR/cat.out"; t1=$(date +%s.%N)
  rm -f "$BENCH_DIR/cat.out"
  rm -rf "$BENCH_DIR/mp-out"
  /usr/bin/time -f "%e %M" -o "$BENCH_DIR/mp.time" "$BUILD/tools/quantc" --quiet convert "$IN" -o "$BENCH_DIR/mp-out" --format mp --mp "$N"
  read -r secs rss < "$BENCH_DIR/mp.time"
  out_bytes=$(cat "$BENCH_DIR/mp-out"/model*.safetensors | wc -c)
  rm -rf "$BENCH_DIR/mp-out"
  python3 - "$experts" "$in_bytes" "$out_bytes" "$t0" "$t1" "$secs" "$rss" "$N" <<'PY'
import sys
e, i, o, t0, t1, s, rss, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]), sys.argv[8]
cat = t1 - t0
print(f"| {i/1e9:.1f} GB FP8, {e} experts | mp {n}: {o/1e9:.1f} GB in {n} files | {s:.1f} s ({(i+o)/s/1e6:.0f} MB/s moved) | "
      f"cat: {cat:.1f} s ({2*i/cat/1e6:.0f} MB/s) | {(i+o)/s/(2*i/cat):.2f}x | {rss/1024:.0f} MiB |")
PY
done
