#!/usr/bin/env bash
# GGUF benchmarks of docs/results.md, each against its anchor measured in the same run:
#  1. quantization throughput (MB of BF16 weights per second) of `quantc convert --type T` vs
#     llama.cpp's `llama-quantize` (built here), same input GGUF (in the page cache), same threads;
#  2. end-to-end FP8 folder -> Q4_K_M GGUF on the synthetic DeepSeek-V3-shaped FP8 checkpoint
#     (bench_cast.sh's), at two sizes: time and peak RSS (flat in model size);
#  3. runner speed (prefill / decode tokens/s) vs llama.cpp (node-llama-cpp, CPU) on the same F32
#     and Q4_K_M GGUF of the DeepSeek-R1-Distill-Qwen-1.5B-shaped synthetic model, with the
#     runner's exact FP32 products and with llama.cpp's arithmetic (--llama-cpp-numerics).
#   LLAMA=/path/to/llama.cpp/build/bin tools/bench/bench_gguf.sh [BUILD_DIR]
# env: BENCH_DIR (default /tmp/quantc-bench), THREADS (default 2), PARTS (default "1 2 3")
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
LLAMA=${LLAMA:?set LLAMA to llama.cpp build/bin}
BENCH_DIR=${BENCH_DIR:-/tmp/quantc-bench}
THREADS=${THREADS:-2}
PARTS=${PARTS:-1 2 3}
Q="$BUILD/tools/quantc"
GEN="$BUILD/tools/bench/make_synthetic_checkpoint"
QWEN="$BENCH_DIR/synthetic-qwen2-1.5b"
OUT="$BENCH_DIR/gguf"
mkdir -p "$OUT"
[ -f "$QWEN/config.json" ] || "$GEN" --arch qwen2 --out "$QWEN"
# The synthetic models have no tokenizer; GGUF needs one: borrow the fixtures' (ids past it become [PAD]).
cp testdata/tiny-qwen2-bf16/tokenizer*.json "$QWEN/"
timed() {  # label command... -> "label seconds peak_rss_kib"
  local label=$1; shift
  /usr/bin/time -f "$label %e %M" "$@" > /dev/null 2> "$OUT/time.log" || { cat "$OUT/time.log" >&2; return 1; }
  tail -1 "$OUT/time.log"
}

if [[ " $PARTS " == *" 1 "* ]]; then
  "$Q" --quiet convert "$QWEN" -o "$OUT/qwen-bf16.gguf" --force
  bytes=$(stat -c %s "$OUT/qwen-bf16.gguf")
  cat "$OUT/qwen-bf16.gguf" > /dev/null
  echo "## quantization throughput, $THREADS threads, input $(numfmt --to=iec "$bytes") BF16 GGUF"
  for type in Q8_0 Q4_K_M; do
    for rep in 1 2; do
      for tool in quantc llama; do
        if [ $tool = quantc ]; then
          r=$(timed quantc "$Q" --quiet --threads "$THREADS" convert "$OUT/qwen-bf16.gguf" -o "$OUT/q.gguf" --type $type --force)
        else
          r=$(timed llama "$LLAMA/llama-quantize" "$OUT/qwen-bf16.gguf" "$OUT/q.gguf" $type "$THREADS")
        fi
        read -r name secs rss <<< "$r"
        echo "$type rep $rep $name: $secs s, $(awk -v b="$bytes" -v s="$secs" 'BEGIN{printf "%.0f", b/s/1e6}') MB/s, peak RSS $((rss / 1024)) MiB"
      done
    done
  done
fi

if [[ " $PARTS " == *" 2 "* ]]; then
  echo "## end to end: FP8 folder -> Q4_K_M GGUF"
  for experts in 16 64; do
    DS="$BENCH_DIR/synthetic-fp8-e$experts"
    [ -f "$DS/config.json" ] || "$GEN" --out "$DS" --layers 5 --dense-layers 3 --experts $experts
    cp testdata/tiny-deepseek-v3-bf16/tokenizer*.json "$DS/"
    in=$(du -sb "$DS" | cut -f1)
    r=$(timed e2e "$Q" --quiet --threads "$THREADS" convert "$DS" -o "$OUT/ds.gguf" --type Q4_K_M --force)
    read -r name secs rss <<< "$r"
    echo "experts $experts: $(numfmt --to=iec "$in") FP8 -> $(numfmt --to=iec "$(stat -c %s "$OUT/ds.gguf")") Q4_K_M in $secs s, peak RSS $((rss / 1024)) MiB"
    rm -f "$OUT/ds.gguf"
  done
fi

if [[ " $PARTS " == *" 3 "* ]]; then
  echo "## runner vs llama.cpp (node-llama-cpp CPU), $THREADS threads, 1.5B-shaped synthetic"
  "$Q" --quiet convert "$QWEN" -o "$OUT/qwen-f32.gguf" --type F32 --force
  "$Q" --quiet convert "$QWEN" -o "$OUT/qwen-q4km.gguf" --type Q4_K_M --force
  for f in qwen-f32 qwen-q4km; do
    "$BUILD/tools/bench/bench_runner" "$OUT/$f.gguf" -p 64 -r 2 -n 16 --threads "$THREADS"
    # llama.cpp's own arithmetic (activations rounded per weight type, integer dot products)
    "$BUILD/tools/bench/bench_runner" "$OUT/$f.gguf" -p 64 -r 2 -n 16 --threads "$THREADS" --llama-cpp-numerics
    node tools/validators/llama_cpp_bench.mjs --model "$OUT/$f.gguf" --threads "$THREADS" --prefill 64 --decode 16 --reps 2
  done
fi
