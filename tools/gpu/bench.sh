#!/usr/bin/env bash
# The GPU benchmark, on the device machine (after tools/gpu/pack.sh; the `run` tool, carry
# [".gpu", ".llama"]): synthetic models shaped like DeepSeek-R1-Distill-Qwen-1.5B and -7B
# (make_synthetic_checkpoint --arch qwen2, random BF16 weights), converted by quantc to GGUF BF16,
# Q8_0, Q4_K_M and MXFP4 (fp4-pack on every linear layer); bench_gpu on each, then llama.cpp's
# llama-bench on the same files, built for CUDA from .llama/src.tgz (a llama.cpp source tree,
# fetched, never committed; the build runs in the background from the first call on).
# Resumable: every step's output survives on the machine while it stays warm, so a call cut off at
# its time limit goes on where it stopped when called again. Results: $OUT/bench.md.
#   SIZES="1.5b 7b" TYPES="BF16 Q8_0 Q4_K_M MXFP4" bash tools/gpu/bench.sh
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$ROOT/.gpu/bin
source "$ROOT/tools/gpu/device_env.sh"  # .gpu/lib and the device's libcublas.so.13
WORK=${WORK:-/tmp/quantc-gpu-bench}
RESULTS=${OUT:-$ROOT/gpu-results}
SIZES=${SIZES:-1.5b 7b}
TYPES=${TYPES:-BF16 Q8_0 Q4_K_M MXFP4}
mkdir -p "$WORK" "$RESULTS"
LLAMA=$WORK/llama/b/bin/llama-bench

# llama.cpp's CUDA build, in the background (about 5 minutes on 16 cores). Examples on: llama-bench
# lived in examples/ before it moved to tools/ (only that target is built).
if [[ ! -x $LLAMA && -f $ROOT/.llama/src.tgz && ! -f $WORK/llama.started ]]; then
  touch "$WORK/llama.started"
  mkdir -p "$WORK/llama" && tar xzf "$ROOT/.llama/src.tgz" -C "$WORK/llama"
  setsid nohup bash -c "cd $WORK/llama && cmake -S . -B b -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a \
    -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=ON \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_BUILD_HTML=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DCMAKE_BUILD_TYPE=Release \
    && cmake --build b --target llama-bench -j 14" > "$WORK/llama-build.log" 2>&1 < /dev/null &
fi

shape() {
  case $1 in
    1.5b) echo "--hidden 1536 --intermediate 8960 --layers 28 --heads 12 --kv-heads 2 --vocab 151936" ;;
    7b) echo "--hidden 3584 --intermediate 18944 --layers 28 --heads 28 --kv-heads 4 --vocab 152064" ;;
  esac
}
source "$ROOT/tools/gpu/convert_args.sh"

[[ -f $WORK/device.txt ]] || nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$WORK/device.txt"
header=--header
[[ -f $WORK/quantc.md ]] && header=
for size in $SIZES; do
  hf=$WORK/qwen2-$size
  for type in $TYPES; do
    gguf=$WORK/qwen2-$size-$type.gguf
    [[ -f $WORK/done-quantc-$size-$type ]] && continue
    if [[ ! -f $gguf ]]; then
      if [[ ! -f $hf/config.json ]]; then
        "$BIN/make_synthetic_checkpoint" --arch qwen2 --out "$hf" $(shape "$size") > /dev/null || exit 1
        cp "$ROOT"/.gpu/testdata/tokenizer/tokenizer*.json "$hf/"
      fi
      echo "converting $size to $type"
      convert_args "$type"
      "$BIN/quantc" --quiet convert "$hf" -o "$gguf" --format gguf "${args[@]}" --force || exit 1
    fi
    "$BIN/bench_gpu" "$gguf" --label "qwen2-$size $type (quantc)" $header >> "$WORK/quantc.md" || exit 1
    header=
    touch "$WORK/done-quantc-$size-$type"
    cp "$WORK/quantc.md" "$RESULTS/"
  done
  rm -rf "$hf"
done

if [[ -f $WORK/llama.started ]]; then
  while [[ ! -x $LLAMA ]] && pgrep -f "cmake --build b" > /dev/null; do sleep 5; done
  tail -n 3 "$WORK/llama-build.log"
fi
if [[ -x $LLAMA ]]; then
  for size in $SIZES; do
    for type in $TYPES; do
      gguf=$WORK/qwen2-$size-$type.gguf
      [[ -f $gguf && ! -f $WORK/done-llama-$size-$type ]] || continue
      # A llama.cpp older than a type (MXFP4 came in 2025-08) cannot load its file: noted, not fatal.
      "$LLAMA" -m "$gguf" -p 512 -n 128 -r 5 -ngl 99 -o md >> "$WORK/llama.md" 2>> "$WORK/llama-bench.log" ||
        echo "| $(basename "$gguf") | llama-bench could not run it (see llama-bench.log) |" >> "$WORK/llama.md"
      touch "$WORK/done-llama-$size-$type"
      cp "$WORK/llama.md" "$RESULTS/"
    done
  done
fi
cat "$WORK/device.txt" "$WORK/quantc.md" "$WORK/llama.md" 2>/dev/null | tee "$RESULTS/bench.md"
