// dot.h's tables: each weight type's activation blocks and dot product, reference and fast.
#include "lib/kernels/ggml_quants/dot.h"

#include "lib/kernels/ggml_quants/dot_impl.h"
#include "lib/kernels/ggml_quants/k_quants_avx2.h"

namespace quantc::kernels::ggml_quants {
namespace {

struct DotTable {
  DotKernels q4_0, q8_0, iq4_nl, q4_k, q5_k, q6_k;
};

#define QUANTC_DOT_TABLE(ns)                                                            \
  DotTable {                                                                            \
    {ActivationBlocks::kQ8_0, ns::QuantizeActivationsQ8_0, ns::VecDotQ4_0},             \
        {ActivationBlocks::kQ8_0, ns::QuantizeActivationsQ8_0, ns::VecDotQ8_0},         \
        {ActivationBlocks::kQ8_0, ns::QuantizeActivationsQ8_0, ns::VecDotIQ4_NL},       \
        {ActivationBlocks::kQ8_K, ns::QuantizeActivationsQ8_K, ns::VecDotQ4_K},         \
        {ActivationBlocks::kQ8_K, ns::QuantizeActivationsQ8_K, ns::VecDotQ5_K},         \
        {ActivationBlocks::kQ8_K, ns::QuantizeActivationsQ8_K, ns::VecDotQ6_K},         \
  }

const DotTable kReference = QUANTC_DOT_TABLE(ref);

const DotKernels* Lookup(const DotTable& t, DType weight) {
  switch (weight) {
    case DType::kQ4_0: return &t.q4_0;
    case DType::kQ8_0: return &t.q8_0;
    case DType::kIQ4_NL: return &t.iq4_nl;
    case DType::kQ4_K: return &t.q4_k;
    case DType::kQ5_K: return &t.q5_k;
    case DType::kQ6_K: return &t.q6_k;
    default: return nullptr;
  }
}

}  // namespace

const DotKernels* ReferenceDot(DType weight) { return Lookup(kReference, weight); }

const DotKernels* FastDot(DType weight) {
  static const DotTable fast = avx2::CpuHasAvx2() ? QUANTC_DOT_TABLE(avx2) : kReference;
  return Lookup(fast, weight);
}

uint64_t ActivationRowBytes(ActivationBlocks blocks, int64_t n) {
  return blocks == ActivationBlocks::kQ8_K ? static_cast<uint64_t>(n / kQKK) * sizeof(BlockQ8_K)
                                           : static_cast<uint64_t>(n / kQK) * sizeof(BlockQ8_0);
}

void DequantizeActivations(ActivationBlocks blocks, const void* src, float* y, int64_t n) {
  if (blocks == ActivationBlocks::kQ8_K) {
    const auto* x = static_cast<const BlockQ8_K*>(src);
    for (int64_t i = 0; i < n; ++i) y[i] = x[i / kQKK].d * static_cast<float>(x[i / kQKK].qs[i % kQKK]);
  } else {
    const auto* x = static_cast<const BlockQ8_0*>(src);
    for (int64_t i = 0; i < n; ++i) y[i] = GgmlF16ToF32(x[i / kQK].d) * static_cast<float>(x[i / kQK].qs[i % kQK]);
  }
}

}  // namespace quantc::kernels::ggml_quants
