// Reference kernels of ggml's MXFP4: 32 E2M1 elements under one E8M0 power-of-two scale (OCP
// Microscaling v1.0), with ggml's nibble order (ggml-quants.c at llama.cpp 81ff7abe:
// quantize_row_mxfp4_ref, dequantize_row_mxfp4; spec /work/shared/specs/gguf-llamacpp.md §6).
//
// The exponent puts the block's largest magnitude in [4, 8) times the scale:
// e = floor(log2(amax)) - 2 + 127 (0 for an all-zero block); then every element takes the nearest
// of the 16 codes (the first on ties). ggml keeps the E2M1 values doubled (kMXFP4Values) and the
// scale halved, 2^(e - 128), so products are the same floats. No importance weighting.
#include <cmath>
#include <cstdint>

#include "lib/kernels/ggml_quants/blocks.h"
#include "lib/kernels/ggml_quants/half.h"
#include "lib/kernels/ggml_quants/ref.h"

namespace quantc::kernels::ggml_quants::ref {
namespace {

// ggml's `(uint8_t)(floorf(log2f(amax)) - 2 + 127)`. log2f itself (glibc's, as llama.cpp's) must be
// used: near powers of two it rounds up to the integer, which moves the floor. The cast is what
// GCC emits on x86 (cvttss2si, low byte; INT_MIN for Inf), so even tiny or Inf maxima match.
uint8_t SharedExponent(float amax) {
  if (!(amax > 0.0f)) return 0;
  const float e = std::floor(std::log2(amax)) - 2.0f + 127.0f;
  const int truncated = (e > -2147483648.0f && e < 2147483648.0f) ? static_cast<int>(e) : INT32_MIN;
  return static_cast<uint8_t>(truncated & 0xFF);
}

// The code whose value (kMXFP4Values * d) is nearest to x, the first one on ties.
int NearestCode(float x, float d) {
  int best = 0;
  float best_err = std::fabs(kMXFP4Values[0] * d - x);
  for (int i = 1; i < 16; ++i) {
    const float err = std::fabs(kMXFP4Values[i] * d - x);
    if (err < best_err) {
      best = i;
      best_err = err;
    }
  }
  return best;
}

}  // namespace

void QuantizeRowMXFP4(const float* x, void* dst, int64_t n, const float* /*importance*/) {
  auto* blocks = static_cast<BlockMXFP4*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) {
      if (amax < std::fabs(x[j])) amax = std::fabs(x[j]);
    }
    const uint8_t e = SharedExponent(amax);
    const float d = E8M0HalfScale(e);
    blocks[b].e = e;
    for (int j = 0; j < kQK / 2; ++j) {
      blocks[b].qs[j] = static_cast<uint8_t>(NearestCode(x[j], d) | (NearestCode(x[j + kQK / 2], d) << 4));
    }
  }
}

void DequantizeRowMXFP4(const void* src, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockMXFP4*>(src);
  for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    const float d = E8M0HalfScale(blocks[b].e);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>(kMXFP4Values[blocks[b].qs[j] & 0x0F]) * d;
      y[j + kQK / 2] = static_cast<float>(kMXFP4Values[blocks[b].qs[j] >> 4]) * d;
    }
  }
}

}  // namespace quantc::kernels::ggml_quants::ref
