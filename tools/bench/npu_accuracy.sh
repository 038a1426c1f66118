#!/usr/bin/env bash
# Issue 7's NPU accuracy table: the onnx-qdq pipeline (uint16 activations, int4 per-channel body,
# 4-bit block-32 embeddings and head) run by quantc's NPU target, against the BF16 checkpoint on
# valid.txt; calibration (activation ranges, GPTQ) on calib.txt.
#   tools/bench/npu_accuracy.sh QUANTC MODEL_DIR [TOKENS=16384]
# METHODS (env): default "rtn rotate-rtn rotate-gptq"; also gptq, rotate-r4-rtn, rotate-r4-gptq
# (rotate with r4: the online Hadamard before down_proj, emitted as an int4 MatMul). Prints | model | method | PPL | dPPL % | KLD | top-1 |.
set -euo pipefail
QUANTC=$(realpath "$1"); MODEL=$(realpath "$2"); TOKENS=${3:-16384}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
METHODS=${METHODS:-"rtn rotate-rtn rotate-gptq"}
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
for method in $METHODS; do
  case $method in
    rtn) passes="";; rotate-rtn) passes="rotate";; gptq) passes="gptq";; rotate-gptq) passes="rotate,gptq";;
    rotate-r4-rtn) passes="rotate(r4=true)";; rotate-r4-gptq) passes="rotate(r4=true),gptq";;
    *) echo "unknown method $method" >&2; exit 2;;
  esac
  args=(--format onnx-qdq --calib "$HERE/testdata/calib.txt")
  [[ -n $passes ]] && args+=(--passes "$passes")
  "$QUANTC" --quiet convert "$MODEL" -o "$TMP/npu" "${args[@]}" --force >/dev/null
  json=$("$QUANTC" --quiet eval "$TMP/npu" --target npu --ref "$MODEL" --text "$HERE/testdata/valid.txt" --max-tokens "$TOKENS" --json)
  python3 - "$(basename "$MODEL")" "$method" "$json" <<'PY'
import json, sys
model, method, j = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
print(f"| {model} | {method} | {j['ppl']:.4f} | {100*(j['ppl']/j['ref_ppl']-1):+.2f}% | {j['kld_mean']:.4f} | {100*j['top1_agree']:.2f}% |")
PY
done
