#include "lib/kernels/ggml_quants/activations.h"

#include <cmath>

#include "lib/kernels/ggml_quants/half.h"
#include "lib/kernels/ggml_quants/scale_search.h"

namespace quantc::kernels::ggml_quants {
namespace {

// Q8_0 / Q8_1: per 32 values, d = amax / 127 stored as fp16, codes roundf(x / d) (computed as
// x * (1 / d) with the unrounded d, as quantize_row_q8_0_ref does); decoded with the fp16 d.
void RoundQ8_0(float* x, int64_t n) {
  for (int64_t b = 0; b < n; b += 32) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b + j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const float dq = GgmlF16ToF32(GgmlF32ToF16(d));
    for (int j = 0; j < 32; ++j) x[b + j] = std::round(x[b + j] * id) * dq;
  }
}

// Q8_K: per 256 values, iscale = -127 / (signed value of largest magnitude), codes
// min(127, nearest(iscale * x)), d = 1 / iscale kept in FP32 (quantize_row_q8_K_ref).
void RoundQ8_K(float* x, int64_t n) {
  for (int64_t b = 0; b < n; b += 256) {
    float max = 0.0f, amax = 0.0f;
    for (int j = 0; j < 256; ++j) {
      const float ax = std::fabs(x[b + j]);
      if (ax > amax) amax = ax, max = x[b + j];
    }
    if (amax == 0.0f) {
      for (int j = 0; j < 256; ++j) x[b + j] = 0.0f;
      continue;
    }
    const float iscale = -127.0f / max;
    const float d = 1 / iscale;
    for (int j = 0; j < 256; ++j) x[b + j] = static_cast<float>(std::min(127, NearestInt(iscale * x[b + j]))) * d;
  }
}

}  // namespace

ActivationRounding ActivationRoundingFor(DType weight) {
  switch (weight) {
    case DType::kF16: return ActivationRounding::kF16;
    case DType::kBF16: return ActivationRounding::kBF16;
    case DType::kQ4_0:
    case DType::kQ5_0:
    case DType::kQ8_0:
    case DType::kIQ4_NL:
    case DType::kMXFP4: return ActivationRounding::kQ8_0;
    case DType::kQ4_1:
    case DType::kQ5_1: return ActivationRounding::kQ8_1;
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
    case DType::kIQ4_XS: return ActivationRounding::kQ8_K;
    default: return ActivationRounding::kNone;
  }
}

void RoundActivations(ActivationRounding r, float* x, int64_t n) {
  switch (r) {
    case ActivationRounding::kNone: return;
    case ActivationRounding::kF16:
      for (int64_t i = 0; i < n; ++i) x[i] = GgmlF16ToF32(GgmlF32ToF16(x[i]));
      return;
    case ActivationRounding::kBF16:
      for (int64_t i = 0; i < n; ++i) x[i] = BF16ToF32(F32ToBF16(x[i]));
      return;
    case ActivationRounding::kQ8_0:
    case ActivationRounding::kQ8_1:  // same codes and scale; Q8_1 adds a sum the dot product uses exactly
      RoundQ8_0(x, n);
      return;
    case ActivationRounding::kQ8_K: RoundQ8_K(x, n); return;
  }
}

}  // namespace quantc::kernels::ggml_quants
