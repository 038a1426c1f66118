#!/usr/bin/env bash
# Installs what the build needs on Debian 12, only what is missing, then configures and builds.
#   tools/setup.sh [BUILD_DIR]        (default: build)
# Used by the README's two commands (tools/demo.sh, tools/test.sh); safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}

PACKAGES=(cmake ninja-build g++ make pkg-config time
  libabsl-dev libfmt-dev libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev libomp-dev
  libprotobuf-dev protobuf-compiler libonnx-dev
  libpcre2-dev libutf8proc-dev libeigen3-dev)

missing=()
command -v python3 >/dev/null || PACKAGES+=(python3)
command -v node >/dev/null || PACKAGES+=(nodejs npm)  # tools/validators (transformers.js)
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

JOBS=$(nproc)
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${QUANTC_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"
