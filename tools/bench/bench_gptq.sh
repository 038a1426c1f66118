#!/usr/bin/env bash
# GPTQ speed (issue 6) on a synthetic BF16 qwen2 with DeepSeek-R1-Distill-Qwen-1.5B's layer shapes
# (hidden 1536, FFN 8960, 12 heads / 2 KV heads of 128; make_synthetic_checkpoint --arch qwen2)
# but few layers and a 4096-token vocabulary (tiny-qwen2's tokenizer, which tokenizes calib.txt;
# gptq never touches the embeddings, and the GGUF output.weight it does touch is then small).
# For `quantc convert --passes gptq --calib testdata/calib.txt` to GGUF Q4_K_M and to
# compressed-tensors int4-g128, per layer: calibration forward, Hessian and solve seconds (the
# pass's time-*-ms statistics / layers), whole convert seconds and peak RSS (/usr/bin/time).
# Anchors measured in the same run:
#   (a) the runner's plain forward of 512-token windows (bench_runner: no logits, random ids; the
#       cost does not depend on the ids), timed just before each conversion and scaled to WINDOWS
#       windows, so the calibration forward reads as a multiple of one forward (GPTQ runs each
#       layer's attention and FFN twice: once for o's and down's inputs, once to move the stream
#       on through the quantized o and down; q/k/v and gate/up need only the norms: 2x is par);
#   (b) bench_gptq: GPTQ's solve and Hessian on one layer's matrices against a plain Eigen GEMM of
#       the same size (GFLOP/s ratio: is the solve GEMM-bound?).
#
#   tools/bench/bench_gptq.sh [BUILD_DIR]   BUILD_DIR (default build) must hold quantc, bench_runner,
#                                           bench_gptq and make_synthetic_checkpoint
#   env: BENCH_DIR    parent of the synthetic model (default /tmp/quantc-bench)
#        LAYERS       decoder layers of the synthetic model (default 2)
#        WINDOWS      calibration windows of 512 tokens (default 16; the pass's default is 128:
#                     forward and Hessian grow with it, the solve does not; ~10 min a layer on 2 cores)
#        FORMATS      "gguf int4" (default) or either one
#        ANCHOR_REPS  windows bench_runner times before each conversion (default min(WINDOWS, 8));
#                     the anchor is their mean, times WINDOWS
#        SOLVE_TOKENS Hessian rows for bench_gptq (default 2048)
#        THREADS      worker threads (default: all cores; also OMP_NUM_THREADS, which the solve's
#                     Eigen GEMMs follow)
# Prints markdown rows for docs/results.md. Other work on the machine slows every figure; the load
# average is printed before each timed step.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
BENCH_DIR=${BENCH_DIR:-/tmp/quantc-bench}
LAYERS=${LAYERS:-2}
WINDOWS=${WINDOWS:-16}
FORMATS=${FORMATS:-gguf int4}
ANCHOR_REPS=${ANCHOR_REPS:-$((WINDOWS < 8 ? WINDOWS : 8))}
SOLVE_TOKENS=${SOLVE_TOKENS:-2048}
VOCAB=4096  # = tiny-qwen2's tokenizer (4093 tokens + 3 added)
QUANTC="$BUILD/tools/quantc"
GEN="$BUILD/tools/bench/make_synthetic_checkpoint"
RUNNER="$BUILD/tools/bench/bench_runner"
SOLVE="$BUILD/tools/bench/bench_gptq"
for exe in "$QUANTC" "$GEN" "$RUNNER" "$SOLVE"; do
  if [ ! -x "$exe" ]; then
    echo "bench_gptq.sh: $exe is missing; build it first: cmake --build $BUILD --target quantc make_synthetic_checkpoint bench_runner bench_gptq" >&2
    exit 1
  fi
done
threads=()
if [ -n "${THREADS:-}" ]; then
  threads=(--threads "$THREADS")
  export OMP_NUM_THREADS=$THREADS
fi

MODEL="$BENCH_DIR/synthetic-qwen2-1.5b-l$LAYERS-v$VOCAB"
if [ ! -f "$MODEL/tokenizer.json" ]; then
  mkdir -p "$BENCH_DIR"
  echo "generating $MODEL (1.5B layer shapes, $LAYERS layers, vocab $VOCAB, BF16)" >&2
  "$GEN" --arch qwen2 --layers "$LAYERS" --vocab "$VOCAB" --out "$MODEL" --force >&2
  cp testdata/tiny-qwen2-bf16/tokenizer.json testdata/tiny-qwen2-bf16/tokenizer_config.json "$MODEL/"
fi
OUT=$(mktemp -d "$BENCH_DIR/gptq-bench.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
load() { echo "load average before $1: $(cut -d' ' -f1-3 /proc/loadavg)" >&2; }

echo "bench_gptq: $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo none)," \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, threads ${THREADS:-${OMP_NUM_THREADS:-all}};" \
  "$LAYERS layers, $WINDOWS x 512 calibration tokens"

# The conversions, each after its anchor (a): one forward of the windows through the unquantized
# model. The stats block of convert's summary holds the pass's time-*-ms.
for format in $FORMATS; do
  case $format in
    gguf) args=(--format gguf --type Q4_K_M); out="$OUT/q.gguf";;
    int4) args=(--format safetensors --type int4-g128); out="$OUT/q";;
    *) echo "bench_gptq.sh: unknown format $format (gguf, int4)" >&2; exit 2;;
  esac
  load "the forward anchor"
  "$RUNNER" "$MODEL" --prefill 512 --reps "$ANCHOR_REPS" --decode 0 --json "${threads[@]}" > "$OUT/$format.anchor.json"
  load "convert $format"
  /usr/bin/time -f "%e %M" -o "$OUT/$format.time" "$QUANTC" "${threads[@]}" convert "$MODEL" -o "$out" "${args[@]}" \
    --passes "gptq(samples=$WINDOWS)" --calib testdata/calib.txt --force > "$OUT/$format.log"
  rm -rf "$out"
done

echo
echo "| format | calibration | forward s/layer | one forward s/layer (anchor) | forward / anchor | Hessian s/layer | solve s/layer | convert s | peak RSS |"
echo "|---|---|---|---|---|---|---|---|---|"
for format in $FORMATS; do
  python3 - "$format" "$LAYERS" "$WINDOWS" "$OUT/$format.anchor.json" "$OUT/$format.log" "$OUT/$format.time" <<'PY'
import json, re, sys
fmt, layers, windows, anchor, log, tm = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:]
a = json.load(open(anchor))
forward_one = sum(a["prefill_reps_s"]) / len(a["prefill_reps_s"]) * windows / layers  # W windows, one layer
stats = dict(re.findall(r"^\s+([a-z-]+) = (\d+)$", open(log).read(), re.M))
secs, rss = open(tm).read().split()
ms = lambda k: int(stats[k]) / 1000 / layers
name = {"gguf": "GGUF Q4_K_M", "int4": "int4-g128 (compressed-tensors)"}[fmt]
fwd = ms("time-forward-ms")
print(f"| {name} | {windows} x 512 ({int(stats['calibration-tokens'])} tokens) | {fwd:.1f} | {forward_one:.1f} | "
      f"{fwd / forward_one:.2f}x | {ms('time-hessian-ms'):.1f} | {ms('time-solve-ms'):.1f} | {float(secs):.0f} | "
      f"{int(rss) / 1024:.0f} MiB |")
PY
done

# (b) The solve against a plain GEMM, on the Q4_K_M mix's main grid and on int4-g128.
echo
for type in Q4_K int4-g128; do
  load "bench_gptq $type"
  "$SOLVE" --type "$type" --tokens "$SOLVE_TOKENS"
done
