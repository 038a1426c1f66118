#!/usr/bin/env bash
# README command 2 (and .ci/run): set up, build, and run the CI test tier with ctest.
# The tier must stay well under 20 minutes on 2 cores; slower checks live in tools/check-all.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh build
# --omit=optional: node-llama-cpp's GPU builds (CUDA, Vulkan) are optional dependencies; only the
# CPU one (@node-llama-cpp/linux-x64) is a direct dependency. Nothing downloads at install or run time.
(cd tools/validators && ONNXRUNTIME_NODE_INSTALL=skip NODE_LLAMA_CPP_SKIP_DOWNLOAD=true \
  npm ci --omit=optional --no-audit --no-fund --loglevel=error)
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 900 -LE slow
