#!/usr/bin/env bash
# The allocate rows of docs/results.md: tiny-llama quantized with each mix whose promotions vary by
# layer, with quantc's imatrix (64 chunks x 512 tokens of calib.txt, as gguf_accuracy.sh makes it),
# with and without `--passes allocate` (sensitivities on calib.txt too), evaluated on the first
# TOKENS tokens of valid.txt against the BF16 checkpoint: size, PPL, mean KLD, same top-1.
#   tools/bench/allocate_accuracy.sh build/tools/quantc > rows.md
set -euo pipefail
QUANTC=${1:?quantc binary}
TOKENS=${TOKENS:-16384}
MIXES=${MIXES:-"Q3_K_M Q4_K_M Q5_K_M"}  # Q2_K promotes no layer over another: nothing to move
HERE=$(cd "$(dirname "$0")/../.." && pwd)
MODEL=${MODEL:-$HERE/testdata/tiny-llama-bf16}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

"$QUANTC" --quiet imatrix "$MODEL" --text "$HERE/testdata/calib.txt" --chunk-size 512 --chunks 64 -o "$TMP/imatrix.gguf"
row() {  # label file
  local json
  json=$("$QUANTC" --quiet eval "$2" --tokenizer "$MODEL" --ref "$MODEL" --text "$HERE/testdata/valid.txt" \
         --max-tokens "$TOKENS" --json)
  python3 - "$1" "$2" "$json" <<'PY'
import json, os, sys
label, path, j = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
print(f"| {label} | {os.path.getsize(path):,} B | {j['ppl']:.4f} | {j['kld_mean']:.5f} | {100*j['top1_agree']:.2f}% |")
PY
}
echo "| mix (quantc imatrix) | size | PPL | mean KLD | same top-1 |"
echo "|---|---|---|---|---|"
for mix in $MIXES; do
  "$QUANTC" --quiet convert "$MODEL" -o "$TMP/q.gguf" --type "$mix" --imatrix "$TMP/imatrix.gguf" --force
  row "$mix" "$TMP/q.gguf"
  "$QUANTC" --quiet convert "$MODEL" -o "$TMP/q.gguf" --type "$mix" --imatrix "$TMP/imatrix.gguf" --force \
      --passes allocate --calib "$HERE/testdata/calib.txt"
  row "$mix + allocate" "$TMP/q.gguf"
done
