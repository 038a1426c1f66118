#!/usr/bin/env bash
# Records what llama.cpp's llama-quantize writes for every mix quantc offers, per tensor (type and
# sha256 of the bytes), starting from quantc's F32 GGUF of each tiny fixture, without and with an
# importance matrix made by llama-imatrix on calib.txt. tools/scripts/check_llama_quantize.py checks
# quantc's own conversions against the result (ctest llama_quantize_golden). Needs a llama.cpp
# build and gguf-py (not part of quantc):
#   LLAMA=/path/to/llama.cpp tools/goldens/llama_quantize_goldens.sh build/tools/quantc
set -euo pipefail
QUANTC=${1:?quantc binary}
LLAMA=${LLAMA:?set LLAMA to a llama.cpp checkout with build/bin}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$HERE/testdata/goldens/llama_quantize
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
MIXES="Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K IQ4_NL IQ4_XS MXFP4_MOE"
IMATRIX_MIXES="Q2_K Q3_K_M Q4_0 Q4_K_M Q5_K_M Q6_K IQ4_XS"
mkdir -p "$OUT"
for model in tiny-llama tiny-qwen2 tiny-deepseek-v3; do
  "$QUANTC" --quiet convert "$HERE/testdata/$model-bf16" -o "$TMP/$model.gguf" --type F32 --force
  "$LLAMA/build/bin/llama-imatrix" -m "$TMP/$model.gguf" -f "$HERE/testdata/calib.txt" -c 128 --chunks 16 -t 2 \
      -o "$OUT/$model.imatrix.gguf" > "$TMP/imatrix.log" 2>&1
  "$LLAMA/build/bin/llama-quantize" "$TMP/$model.gguf" "$TMP/out.gguf" Q8_0 2 > "$TMP/q.log" 2>&1
  version=$(grep -m1 -o 'build = .*' "$TMP/q.log" || true)
  {
    echo "# llama-quantize $version"
    echo "# from: quantc convert testdata/$model-bf16 --type F32; imatrix: llama-imatrix -f calib.txt -c 128 --chunks 16"
    echo "# columns: mix imatrix(no|yes) tensor type sha256"
    for mix in $MIXES; do
      for imat in no yes; do
        args=()
        if [[ $imat == yes ]]; then
          [[ " $IMATRIX_MIXES " == *" $mix "* ]] || continue
          args=(--imatrix "$OUT/$model.imatrix.gguf")
        fi
        "$LLAMA/build/bin/llama-quantize" "${args[@]}" "$TMP/$model.gguf" "$TMP/out.gguf" "$mix" 2 > "$TMP/q.log" 2>&1
        PYTHONPATH="$LLAMA/gguf-py" /usr/bin/python3 - "$TMP/out.gguf" "$mix" "$imat" <<'PY'
import hashlib, sys, numpy as np, gguf
r = gguf.GGUFReader(sys.argv[1])
for t in r.tensors:
    print(sys.argv[2], sys.argv[3], t.name, t.tensor_type.name, hashlib.sha256(np.asarray(t.data).tobytes()).hexdigest())
PY
      done
    done
  } > "$OUT/$model.txt"
done
