#!/usr/bin/env bash
# README command 1: set up, build, and run the main job on a bundled tiny FP8 model:
# cast testdata/tiny-deepseek-v3-fp8 (DeepSeek's block-FP8 format) to BF16 and print the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh build
OUT=${1:-build/demo/tiny-deepseek-v3-bf16}
mkdir -p "$(dirname "$OUT")"
build/tools/quantc inspect --no-tensors testdata/tiny-deepseek-v3-fp8
echo
build/tools/quantc convert testdata/tiny-deepseek-v3-fp8 -o "$OUT" --force
echo
build/tools/quantc inspect --no-tensors "$OUT"
