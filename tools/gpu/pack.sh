#!/usr/bin/env bash
# Packs what the GPU suite needs into .gpu/ (ignored by git): the CUDA test binaries and quantc from
# BUILD, bench_gpu and make_synthetic_checkpoint (tools/gpu/bench.sh), bench_gpu_matvec (the decode
# step's matrix-vector kernels alone: .gpu/bin/bench_gpu_matvec), and the shared libraries they
# load that the device machine lacks (our Debian packages: Abseil, fmt, protobuf, ...; glibc and
# libstdc++ there are newer than ours and stay its own). Not cuBLAS: libcublas/libcublasLt.so.13
# are about 600 MB, and the device has its own (tools/gpu/device_env.sh finds it).
# With FIXTURES (names under testdata/, or models quantc converts into .gpu/testdata first), the
# models the GPU tests compare on: the repo's testdata does not travel (the 64 MiB limit).
# Then, on the device (the `run` tool, carry [".gpu"]): bash tools/gpu/run_gpu_suite.sh
#   tools/gpu/pack.sh build tiny-llama-bf16 tiny-llama-Q4_K_M.gguf tiny-qwen2-Q8_0.gguf \
#     tiny-llama-int4-g128 tiny-qwen2-int4-g32-asym tiny-llama-nvfp4 tiny-qwen2-mxfp4
set -euo pipefail
BUILD=$(realpath "${1:-build}")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$ROOT/.gpu
source "$ROOT/tools/gpu/convert_args.sh"
rm -rf "$OUT"; mkdir -p "$OUT/bin" "$OUT/lib"
bins=("$BUILD"/tests/cuda/*_test "$BUILD/tools/quantc" "$BUILD/tools/bench/bench_gpu" "$BUILD/tools/bench/bench_gpu_matvec"
      "$BUILD/tools/bench/make_synthetic_checkpoint")
for b in "${bins[@]}"; do
  [[ -x $b ]] || continue
  cp "$b" "$OUT/bin/" && strip "$OUT/bin/$(basename "$b")"  # symbols stay here: 20% of the transfer
  ldd "$b" | awk '/=> \// {print $3}' | while read -r lib; do
    case $(basename "$lib") in
      libc.so*|libm.so*|libstdc++.so*|libgcc_s.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*) ;;
      libcublas*|libcublasLt*) ;;  # the device's own (device_env.sh)
      *) cp -nL "$lib" "$OUT/lib/" ;;
    esac
  done
done
shift || true
# FIXTURES: a fixture folder's name (copied without its golden); NAME-TYPE.gguf (quantc converts
# testdata/NAME-bf16 to a GGUF of TYPE: smaller than the folder, and the block-type path); or
# NAME-SCHEME, SCHEME an integer scheme (int4-g128, int4-g32-asym, int8, ...) or mxfp4 / nvfp4
# (quantc converts testdata/NAME-bf16 to compressed-tensors safetensors: the packed-int and FP4
# paths; safetensors_args in convert_args.sh).
mkdir -p "$OUT/testdata"
for f in "$@"; do
  if [[ -d $ROOT/testdata/$f ]]; then
    mkdir -p "$OUT/testdata/$f"
    # GpuDeepseekTest compares on the golden prompts (input_ids); the other tests make their own.
    golden=(! -name golden.safetensors); [[ $f == tiny-deepseek-v3-* ]] && golden=()
    find "$ROOT/testdata/$f" -maxdepth 1 -type f "${golden[@]}" -exec cp {} "$OUT/testdata/$f/" \;
  elif [[ $f =~ ^(.*)-([A-Z0-9_]+)\.gguf$ ]]; then
    convert_args "${BASH_REMATCH[2]}"
    "$BUILD/tools/quantc" --quiet convert "$ROOT/testdata/${BASH_REMATCH[1]}-bf16" -o "$OUT/testdata/$f" \
      --format gguf "${args[@]}" --force > /dev/null
  elif [[ $f =~ ^(.*)-(int[0-9][a-z0-9-]*|mxfp4|nvfp4)$ ]]; then
    safetensors_args "${BASH_REMATCH[2]}"
    "$BUILD/tools/quantc" --quiet convert "$ROOT/testdata/${BASH_REMATCH[1]}-bf16" -o "$OUT/testdata/$f" \
      "${args[@]}" --force > /dev/null
  else
    echo "pack.sh: no fixture testdata/$f, and no conversion makes it" >&2
    exit 1
  fi
done
# The tokenizer the benchmark's synthetic models borrow (tools/gpu/bench.sh).
mkdir -p "$OUT/testdata/tokenizer" && cp "$ROOT"/testdata/tiny-qwen2-bf16/tokenizer*.json "$OUT/testdata/tokenizer/"
du -sh "$OUT"
