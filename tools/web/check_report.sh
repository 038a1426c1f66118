#!/usr/bin/env bash
# `quantc validate --report` rendered in Debian's Chromium, headless — run by tools/check-all.
# Validates tiny-llama's Q8_0 and Q4_K_M GGUFs, an int4-g128 folder and a copy with layer 2's
# o_proj and down_proj zeroed against the BF16 checkpoint under a KLD gate, then checks the page
# (tools/web/check_report.mjs): 4 rows, the damaged one failing with its chart at layer 2.
#   tools/web/check_report.sh QUANTC [SCREENSHOT.png]
set -euo pipefail
QUANTC=$(realpath "$1"); SHOT=${2:-}
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(cd "$HERE/../.." && pwd)
command -v chromium >/dev/null || { echo "check_report: chromium missing (tools/web/check_web.sh installs it)" >&2; exit 1; }
(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
M="$ROOT/testdata/tiny-llama-bf16"
cp -r "$M" "$WORK/zeroed-layer-2"; chmod -R u+w "$WORK/zeroed-layer-2"
python3 - "$WORK/zeroed-layer-2/model.safetensors" <<'PY'
import json, struct, sys
with open(sys.argv[1], "r+b") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
    for name in ("model.layers.2.self_attn.o_proj.weight", "model.layers.2.mlp.down_proj.weight"):
        begin, end = header[name]["data_offsets"]
        f.seek(8 + n + begin)
        f.write(bytes(end - begin))
PY
"$QUANTC" --quiet convert "$M" -o "$WORK/Q8_0.gguf" --type Q8_0
"$QUANTC" --quiet convert "$M" -o "$WORK/Q4_K_M.gguf" --type Q4_K_M
"$QUANTC" --quiet convert "$M" -o "$WORK/int4-g128" --type int4-g128
set +e
"$QUANTC" validate "$M" "$WORK/Q8_0.gguf" "$WORK/Q4_K_M.gguf" "$WORK/int4-g128" "$WORK/zeroed-layer-2" \
  --text "$ROOT/testdata/valid.txt" --max-tokens 4096 --max-kld 0.1 --report "$WORK/report.html"
rc=$?
set -e
[ $rc -eq 1 ] || { echo "check_report: validate exited $rc, expected 1 (the zeroed layer fails its gate)" >&2; exit 1; }
shot=(); [ -n "$SHOT" ] && shot=(--screenshot "$SHOT")
node "$HERE/check_report.mjs" "$WORK/report.html" --rows 4 --fail zeroed-layer-2="layer 2" "${shot[@]}"
echo "check_report: ok"
