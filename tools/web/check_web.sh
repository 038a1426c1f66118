#!/usr/bin/env bash
# The chat page (tools/web) in Debian's Chromium, headless, wasm backend — run by tools/check-all.
# Converts tiny-qwen2 and tiny-llama with --format onnx (fp32, q4), then for each: fp32 must
# generate exactly quantc's runner's greedy continuation; q4 (accuracy level 4: int8 activations,
# as shipped) must load and generate (its agreement with quantc's int4-g32 runner is printed).
#   tools/web/check_web.sh QUANTC [SCREENSHOT.png]     (the q4 tiny-qwen2 chat is the screenshot)
set -euo pipefail
QUANTC=$(realpath "$1"); SHOT=${2:-}
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd)
if ! command -v chromium >/dev/null; then
  echo "check_web: installing chromium" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
[ -d "$ROOT/tools/validators/node_modules/@huggingface/transformers" ] ||
  (cd "$ROOT/tools/validators" && ONNXRUNTIME_NODE_INSTALL=skip NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --omit=optional --no-audit --no-fund --loglevel=error)
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
PROMPT="The history of the city"
for m in tiny-qwen2 tiny-llama; do
  "$QUANTC" --quiet convert "$ROOT/testdata/$m-bf16" -o "$WORK/$m" --format onnx --dtypes fp32,q4
  "$QUANTC" --quiet convert "$ROOT/testdata/$m-bf16" -o "$WORK/$m-int4" --type int4-g32
  for kind in float int4; do
    src="$ROOT/testdata/$m-bf16"; [ $kind = int4 ] && src="$WORK/$m-int4"
    "$QUANTC" --quiet run "$src" --tokenizer "$ROOT/testdata/$m-bf16" -p "$PROMPT" -n 24 --ids |
      python3 -c "import sys, json; print(json.dumps([int(x) for x in sys.stdin.read().split()]))" > "$WORK/$m.$kind.json"
  done
  node "$HERE/check_web.mjs" "$WORK" "$m" fp32 "$PROMPT" "$WORK/$m.float.json"
  shot=(); [ -n "$SHOT" ] && [ $m = tiny-qwen2 ] && shot=(--screenshot "$SHOT")
  node "$HERE/check_web.mjs" "$WORK" "$m" q4 "$PROMPT" "$WORK/$m.int4.json" --loose "${shot[@]}"
done
echo "check_web: ok"
