#!/usr/bin/env bash
# Issue 9's accuracy table: MXFP4, NVFP4, Q4_K and int4 g128 on the same weights, each by round to
# nearest, with a scale search, with GPTQ and with GPTQ after a block rotation; calibrated on
# calib.txt, evaluated on valid.txt by one `quantc validate` run against the BF16 checkpoint.
#   tools/bench/fp4_accuracy.sh QUANTC testdata/tiny-deepseek-v3-bf16 experts [TOKENS=16384]
#   tools/bench/fp4_accuracy.sh QUANTC testdata/tiny-llama-bf16 linear
# WHICH: experts (routed experts only, as DeepSeek-V4 ships FP4) or linear (every Linear but
# lm_head). Everything else stays BF16. Rows: | model | format | method | bits/weight (packed) |
# file bpw | PPL | dPPL % | mean KLD | top-1 |.
#   rtn:    mxfp4 DeepSeek's ceil rule; nvfp4 ModelOpt's (reference) rule; Q4_K llama.cpp's
#           quantizer; int4-g128 GPTQ's minmax
#   search: mxfp4/nvfp4 the MSE scale search; Q4_K with an importance matrix from calib.txt
#           (quantc imatrix); int4-g128-mse (quant.py's clip search)
#   gptq:   GPTQ on the format's grid (mxfp4/nvfp4 with the MSE scale rule)
#   rot+gptq: fuse-norms, rotate(block=B) (B = the format's block: 32, 16, 32 for Q4_K's sub-blocks,
#           128), then GPTQ
set -euo pipefail
QUANTC=$(realpath "$1"); MODEL=$(realpath "$2"); WHICH=$3; TOKENS=${4:-16384}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
CALIB=$HERE/testdata/calib.txt; TEXT=$HERE/testdata/valid.txt
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
name=$(basename "$MODEL")
case $WHICH in
  experts) gguf_pattern='_exps\.weight'; int_ignore='self_attn|shared_experts|mlp\.gate_proj|mlp\.up_proj|mlp\.down_proj|lm_head';;
  linear) gguf_pattern='blk\.[0-9]+\.(attn_(q|k|v|output|q_a|q_b|kv_a_mqa|kv_b)|ffn_(gate|up|down)(_exps|_shexp)?)\.weight'; int_ignore='lm_head';;
  *) echo "WHICH must be experts or linear" >&2; exit 2;;
esac
"$QUANTC" --quiet imatrix "$MODEL" --text "$CALIB" -o "$TMP/imatrix.gguf" >/dev/null
convert() {  # convert OUT ARGS...
  local out=$1; shift
  "$QUANTC" --quiet convert "$MODEL" -o "$TMP/$out" --force "$@" >/dev/null
  CANDS+=("$TMP/$out"); LABELS+=("$out")
}
CANDS=(); LABELS=()
for fmt in mxfp4 nvfp4; do
  block=$([[ $fmt == mxfp4 ]] && echo 32 || echo 16); ref=$([[ $fmt == mxfp4 ]] && echo ceil || echo reference)
  convert "$fmt.rtn" --passes "fp4-pack(format=$fmt,rule=$ref,tensors=$WHICH)"
  convert "$fmt.search" --passes "fp4-pack(format=$fmt,rule=mse,tensors=$WHICH)"
  convert "$fmt.gptq" --passes "gptq(scheme=$fmt,rule=mse,tensors=$WHICH)" --calib "$CALIB"
  convert "$fmt.rot+gptq" --passes "fuse-norms,rotate(block=$block),gptq(scheme=$fmt,rule=mse,tensors=$WHICH)" --calib "$CALIB"
done
q4k=(--format gguf --type Q8_0 --override "$gguf_pattern=Q4_K" --override '.*=BF16')
convert "Q4_K.rtn.gguf" "${q4k[@]}"
convert "Q4_K.search.gguf" "${q4k[@]}" --imatrix "$TMP/imatrix.gguf"
convert "Q4_K.gptq.gguf" "${q4k[@]}" --passes gptq --calib "$CALIB"
convert "Q4_K.rot+gptq.gguf" "${q4k[@]}" --passes "fuse-norms,rotate(block=32),gptq" --calib "$CALIB"
convert "int4-g128.rtn" --passes "int-quant(scheme=int4-g128,ignore=$int_ignore)"
convert "int4-g128.search" --passes "int-quant(scheme=int4-g128-mse,ignore=$int_ignore)"
convert "int4-g128.gptq" --passes "gptq(scheme=int4-g128,tensors=$WHICH)" --calib "$CALIB"
convert "int4-g128.rot+gptq" --passes "fuse-norms,rotate(block=128),gptq(scheme=int4-g128,tensors=$WHICH)" --calib "$CALIB"
"$QUANTC" --quiet validate "$MODEL" "${CANDS[@]}" --text "$TEXT" --max-tokens "$TOKENS" --json "$TMP/v.json" >/dev/null || true
python3 - "$name" "$TMP/v.json" "${LABELS[@]}" <<'PY'
import json, sys
name, path, labels = sys.argv[1], sys.argv[2], sys.argv[3:]
packed_bits = {"mxfp4": 4.25, "nvfp4": 4.5, "Q4_K": 4.5, "int4-g128": 4.125}
rows = json.load(open(path))["rows"]
for label, r in zip(labels, rows):
    fmt, method = label.replace(".gguf", "").split(".", 1)
    print(f"| {name} | {fmt} | {method} | {packed_bits[fmt]} | {r['bits_per_weight']:.2f} | {r['ppl']:.4f} | "
          f"{100 * r['ppl_delta']:+.2f}% | {r['kld_mean']:.5f} | {100 * r['top1_agree']:.2f}% |")
PY
