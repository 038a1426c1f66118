#!/usr/bin/env bash
# The GGUF accuracy table of docs/results.md: tiny-llama (the K-quant testbed: rows of 256/768)
# quantized with every mix, without and with an importance matrix from calib.txt, evaluated on
# valid.txt (first TOKENS tokens, 512-token windows) against the BF16 checkpoint: file size, bits per
# weight, PPL, dPPL, mean KLD, same-top-1. Without an imatrix quantc's file is byte-identical to
# llama-quantize's (ctest llama_quantize_golden), so one row serves both; with one, quantc's file
# (imatrix from `quantc imatrix`) and llama-quantize's (imatrix from llama-imatrix, same text and
# chunking) are measured side by side.
#   LLAMA=/path/to/llama.cpp/build/bin tools/bench/gguf_accuracy.sh build/tools/quantc > table.md
set -euo pipefail
QUANTC=${1:?quantc binary}
LLAMA=${LLAMA:?set LLAMA to llama.cpp build/bin}
TOKENS=${TOKENS:-16384}
CHUNKS=${CHUNKS:-64}  # calibration: 64 chunks of 512 tokens of calib.txt
HERE=$(cd "$(dirname "$0")/../.." && pwd)
MODEL=$HERE/testdata/tiny-llama-bf16
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
MIXES="Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_0 Q4_1 Q5_0 Q5_1 Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K Q8_0 IQ4_NL IQ4_XS"
IMATRIX_MIXES="Q2_K Q3_K_M Q4_0 Q4_K_S Q4_K_M Q5_K_M IQ4_XS"

"$QUANTC" --quiet convert "$MODEL" -o "$TMP/f32.gguf" --type F32
"$QUANTC" --quiet imatrix "$MODEL" --text "$HERE/testdata/calib.txt" --chunk-size 512 --chunks "$CHUNKS" -o "$TMP/quantc.imatrix.gguf"
"$LLAMA/llama-imatrix" -m "$TMP/f32.gguf" -f "$HERE/testdata/calib.txt" -c 512 --chunks "$CHUNKS" -t 2 -o "$TMP/llama.imatrix.gguf" \
    > "$TMP/imatrix.log" 2>&1

params=$(python3 - "$TMP/f32.gguf" <<'PY'
import os, sys
print(os.path.getsize(sys.argv[1]) // 4)  # F32: ~4 bytes per weight (header is negligible)
PY
)
row() {  # label imatrix file
  local json
  json=$("$QUANTC" --quiet eval "$3" --tokenizer "$MODEL" --ref "$MODEL" --text "$HERE/testdata/valid.txt" \
         --max-tokens "$TOKENS" --json)
  python3 - "$1" "$2" "$3" "$params" "$json" <<'PY'
import json, os, sys
label, imat, path, params, j = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), json.loads(sys.argv[5])
size = os.path.getsize(path)
print(f"| {label} | {imat} | {size/2**20:.2f} MiB | {8*size/params:.2f} | {j['ppl']:.4f} | {j['ppl']-j['ref_ppl']:+.4f} | "
      f"{j['kld_mean']:.5f} | {100*j['top1_agree']:.2f}% |")
PY
}
echo "| mix | imatrix | size | bits/weight | PPL | dPPL vs BF16 | mean KLD | same top-1 |"
echo "|---|---|---|---|---|---|---|---|"
for mix in $MIXES; do
  "$QUANTC" --quiet convert "$MODEL" -o "$TMP/q.gguf" --type "$mix" --force
  row "$mix (quantc = llama-quantize, identical bytes)" none "$TMP/q.gguf"
done
for mix in $IMATRIX_MIXES; do
  "$QUANTC" --quiet convert "$MODEL" -o "$TMP/q.gguf" --type "$mix" --imatrix "$TMP/quantc.imatrix.gguf" --force
  row "$mix quantc" "quantc imatrix" "$TMP/q.gguf"
  "$LLAMA/llama-quantize" --imatrix "$TMP/llama.imatrix.gguf" "$TMP/f32.gguf" "$TMP/q.gguf" "$mix" 2 > /dev/null 2>&1
  row "$mix llama-quantize" "llama-imatrix" "$TMP/q.gguf"
done
