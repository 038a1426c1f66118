#!/usr/bin/env bash
# Prepares build-ext/deepseek/ (ignored, never committed) for tools/deepseek_engine/run_engine.py on
# the device machine: DeepSeek-V3's inference/model.py and kernel.py with the two one-line changes
# (docs/validation.md), and quantc's mp shards of tiny-deepseek-v3-bf16 for each N.
#   tools/deepseek_engine/prepare.sh DEEPSEEK_V3_GIT_DIR [BUILD_DIR] [N ...]
# DEEPSEEK_V3_GIT_DIR: a clone of github.com/deepseek-ai/DeepSeek-V3 (tested at 9b4e978).
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=${1:?DeepSeek-V3 git dir}; BUILD=${2:-build}; shift $(( $# >= 2 ? 2 : $# ))
RANKS=${*:-1 2}
OUT=build-ext/deepseek
mkdir -p "$OUT/inference"
for f in model.py kernel.py; do git -C "$SRC" show HEAD:inference/$f > "$OUT/inference/$f"; done
# 1. Gate: the router's correction bias exists for sigmoid scoring, not only at dim 7168.
sed -i 's/ if self.dim == 7168 else None/ if self.score_func == "sigmoid" else None/' "$OUT/inference/model.py"
# 2. Linear: follow torch's default dtype (fp32 runs) instead of hard-wired bfloat16.
sed -i 's/else torch.bfloat16$/else torch.get_default_dtype()/' "$OUT/inference/model.py"
[ "$(diff <(git -C "$SRC" show HEAD:inference/model.py) "$OUT/inference/model.py" | grep -c '^>')" = 2 ] \
  || { echo "prepare.sh: expected exactly two changed lines in model.py" >&2; exit 1; }
for n in $RANKS; do
  rm -rf "$OUT/mp$n"
  "$BUILD/tools/quantc" --quiet convert testdata/tiny-deepseek-v3-bf16 -o "$OUT/mp$n" --format mp --mp "$n"
done
echo "ready: run on the device (kind nvidia-h200-x2 for N = 2), carry build-ext/deepseek:"
echo "  torchrun --nproc-per-node N tools/deepseek_engine/run_engine.py --inference $OUT/inference --shards $OUT/mpN \\"
echo "    --config testdata/tiny-deepseek-v3-bf16/config.json --golden testdata/tiny-deepseek-v3-bf16/golden.safetensors --dtype fp32 --out \$OUT/r.json"
