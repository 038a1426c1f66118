#!/usr/bin/env bash
# Issue 6's accuracy table: RTN, rotate+RTN, GPTQ, rotate+GPTQ for each scheme on one fixture,
# calibrated on calib.txt (gptq's defaults: 128 windows x 512 tokens) and evaluated on valid.txt
# against the BF16 checkpoint. Prints markdown rows: | model | scheme | method | PPL | dPPL % | mean KLD | top-1 |.
#   tools/bench/gptq_accuracy.sh QUANTC MODEL_DIR "int4 int4-g128" [TOKENS=65536]
#   tools/bench/gptq_accuracy.sh QUANTC MODEL_DIR "gguf:Q4_K_M gguf:Q3_K_M gguf:Q2_K" 16384
# Schemes: compressed-tensors ones (int4, int4-g128, ...) write safetensors; gguf:TYPE writes GGUF.
# METHODS (env) picks rows: default "rtn rotate-rtn gptq rotate-gptq"; also gptq-stream and
# rotate-gptq-stream (GPTQ fitted to the quantized stream's own outputs, fp-target=false: the
# published algorithm), allocate-gptq and rotate-allocate-gptq (GGUF mixes).
set -euo pipefail
QUANTC=$(realpath "$1"); MODEL=$(realpath "$2"); SCHEMES=$3; TOKENS=${4:-65536}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
METHODS=${METHODS:-"rtn rotate-rtn gptq rotate-gptq"}
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
for scheme in $SCHEMES; do
  for method in $METHODS; do
    case $method in
      rtn) passes="";; rotate-rtn) passes="fuse-norms,rotate";; gptq) passes="gptq";; rotate-gptq) passes="fuse-norms,rotate,gptq";;
      gptq-stream) passes="gptq(fp-target=false)";; rotate-gptq-stream) passes="fuse-norms,rotate,gptq(fp-target=false)";;
      allocate-gptq) passes="allocate,gptq";; rotate-allocate-gptq) passes="fuse-norms,rotate,allocate,gptq";;
      *) echo "unknown method $method" >&2; exit 2;;
    esac
    if [[ $scheme == gguf:* ]]; then
      out="$TMP/q.gguf"; args=(--format gguf --type "${scheme#gguf:}"); evalargs=(--tokenizer "$MODEL")
    else
      out="$TMP/q"; args=(--format safetensors --type "$scheme"); evalargs=()
    fi
    [[ -n $passes ]] && args+=(--passes "$passes")
    [[ $passes == *gptq* || $passes == *allocate* ]] && args+=(--calib "$HERE/testdata/calib.txt")
    "$QUANTC" --quiet convert "$MODEL" -o "$out" "${args[@]}" --force >/dev/null
    json=$("$QUANTC" --quiet eval "$out" "${evalargs[@]}" --ref "$MODEL" --text "$HERE/testdata/valid.txt" --max-tokens "$TOKENS" --json)
    python3 - "$(basename "$MODEL")" "$scheme" "$method" "$json" <<'PY'
import json, sys
model, scheme, method, j = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
print(f"| {model} | {scheme} | {method} | {j['ppl']:.4f} | {100*(j['ppl']/j['ref_ppl']-1):+.2f}% | {j['kld_mean']:.5f} | "
      f"{100*j['top1_agree']:.2f}% |")
PY
  done
done
