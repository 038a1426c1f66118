#include "lib/kernels/ggml_quants/activations.h"

#include <vector>

#include "lib/kernels/ggml_quants/half.h"
#include "lib/kernels/ggml_quants/dot.h"
#include "lib/kernels/ggml_quants/dot_impl.h"

namespace quantc::kernels::ggml_quants {
namespace {

// Quantizes x to the activation blocks llama.cpp's CPU backend uses (dot.h), then decodes.
void RoundThroughBlocks(ActivationBlocks blocks, float* x, int64_t n) {
  std::vector<uint8_t> q(ActivationRowBytes(blocks, n));
  (blocks == ActivationBlocks::kQ8_K ? ref::QuantizeActivationsQ8_K : ref::QuantizeActivationsQ8_0)(x, q.data(), n);
  DequantizeActivations(blocks, q.data(), x, n);
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
      RoundThroughBlocks(ActivationBlocks::kQ8_0, x, n);
      return;
    case ActivationRounding::kQ8_K: RoundThroughBlocks(ActivationBlocks::kQ8_K, x, n); return;
  }
}

}  // namespace quantc::kernels::ggml_quants
