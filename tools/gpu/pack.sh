#!/usr/bin/env bash
# Packs what the GPU suite needs into .gpu/ (ignored by git): the CUDA test binaries and quantc from
# BUILD, and the shared libraries they load that the device machine lacks (our Debian packages:
# Abseil, fmt, protobuf, ...; glibc and libstdc++ there are newer than ours and stay its own).
# With FIXTURES (names under testdata/, or files quantc converts into .gpu/testdata first), the
# models the GPU tests compare on: the repo's testdata does not travel (the 64 MiB limit).
# Then, on the device (the `run` tool, carry [".gpu"]): bash tools/gpu/run_gpu_suite.sh
#   tools/gpu/pack.sh build tiny-llama-bf16 tiny-qwen2-bf16
set -euo pipefail
BUILD=$(realpath "${1:-build}")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$ROOT/.gpu
grep -qx '/.gpu/' "$ROOT/.git/info/exclude" 2>/dev/null || echo '/.gpu/' >> "$ROOT/.git/info/exclude"
rm -rf "$OUT"; mkdir -p "$OUT/bin" "$OUT/lib"
bins=("$BUILD"/tests/cuda/*_test "$BUILD/tools/quantc")
for b in "${bins[@]}"; do
  [[ -x $b ]] || continue
  cp "$b" "$OUT/bin/"
  ldd "$b" | awk '/=> \// {print $3}' | while read -r lib; do
    case $(basename "$lib") in
      libc.so*|libm.so*|libstdc++.so*|libgcc_s.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*) ;;
      *) cp -nL "$lib" "$OUT/lib/" ;;
    esac
  done
done
shift || true
mkdir -p "$OUT/testdata"
for f in "$@"; do
  mkdir -p "$OUT/testdata/$f"
  find "$ROOT/testdata/$f" -maxdepth 1 -type f ! -name golden.safetensors -exec cp {} "$OUT/testdata/$f/" \;
done
# A Q4_K_M GGUF of tiny-llama (quantc's own conversion) for the block-type path.
if [[ -x $BUILD/tools/quantc ]]; then
  "$BUILD/tools/quantc" --quiet convert "$ROOT/testdata/tiny-llama-bf16" -o "$OUT/testdata/tiny-llama-Q4_K_M.gguf" \
    --format gguf --type Q4_K_M --force >/dev/null
fi
du -sh "$OUT"
