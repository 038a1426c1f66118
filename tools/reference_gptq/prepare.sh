#!/usr/bin/env bash
# Stages what tools/reference_gptq/run_reference.py needs on the device machine into an ignored
# folder (default build-ext/reference_gptq, ignored by .gitignore's /build*/ rule), to be carried:
#   gptq.py, quant.py     IST-DASLab/gptq's GPTQ class and Quantizer, verbatim from a fetched mirror
#                         (never committed: this script extracts them each time), SOURCE.txt its commit;
#   quantc_ids.json       quantc's token ids for the first ~8 KB of testdata/valid.txt and calib.txt
#                         (`quantc logits ... --greedy 0`), so the driver can check that its
#                         tokenizer (tokenizers, tokenizer.json) gives the same ids as quantc's.
# Usage: tools/reference_gptq/prepare.sh MIRROR_GIT_DIR [QUANTC_BINARY] [OUT_DIR]
#   MIRROR_GIT_DIR  bare git dir of github:IST-DASLab/gptq (the `fetch` tool gives
#                   /work/.mirror/IST-DASLab+gptq/repo)
#   QUANTC_BINARY   default build/tools/quantc
set -euo pipefail
cd "$(dirname "$0")/../.."
mirror=${1:?usage: prepare.sh MIRROR_GIT_DIR [QUANTC_BINARY] [OUT_DIR]}
quantc=${2:-build/tools/quantc}
out=${3:-build-ext/reference_gptq}
mkdir -p "$out"
commit=$(git -C "$mirror" rev-parse HEAD)
for f in gptq.py quant.py; do git -C "$mirror" show "HEAD:$f" > "$out/$f"; done
git -C "$mirror" show HEAD:LICENSE > "$out/LICENSE"
printf 'IST-DASLab/gptq %s: gptq.py quant.py LICENSE, unmodified\n' "$commit" > "$out/SOURCE.txt"

# Samples cut at a line end so both tokenizers see the same whole text.
python3 - "$out" <<'PY'
import sys, pathlib
out = pathlib.Path(sys.argv[1])
for name in ("valid", "calib"):
    data = pathlib.Path(f"testdata/{name}.txt").read_bytes()[:8192]
    (out / f"sample_{name}.txt").write_bytes(data[: data.rindex(b"\n") + 1])
PY
for name in valid calib; do
  "$quantc" logits testdata/tiny-qwen2-bf16 --text "$out/sample_$name.txt" --positions 100000 --greedy 0 \
      -o "$out/logits_$name.json" > /dev/null
done
python3 - "$out" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
ids = {n: json.loads((out / f"logits_{n}.json").read_text())["ids"] for n in ("valid", "calib")}
(out / "quantc_ids.json").write_text(json.dumps(ids))
for n in ids: (out / f"logits_{n}.json").unlink()
print(f"{out}: gptq.py quant.py ({open(out / 'SOURCE.txt').read().split()[1][:12]}), quantc ids "
      + ", ".join(f"{n} {len(v)}" for n, v in ids.items()))
PY
