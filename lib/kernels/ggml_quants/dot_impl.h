// Internal to the dot-product family (dot.h): the scalar reference and AVX2 kernels, with the
// per-block float steps both variants share, so they add the same floats in the same order.
#pragma once

#include <cstdint>

#include "lib/kernels/ggml_quants/blocks.h"
#include "lib/kernels/ggml_quants/half.h"
#include "lib/kernels/ggml_quants/k_quants_common.h"

namespace quantc::kernels::ggml_quants {

// The fp16 scales arrive decoded (each variant decodes them its own way: equal for every non-NaN).
// Q8_0-activation types: one exact integer sum per 32-block, scaled by both scales.
inline float AddQ8_0Block(float acc, int32_t isum, float weight_d, float act_d) {
  return acc + static_cast<float>(isum) * (weight_d * act_d);
}
// Q4_K / Q5_K: the scaled sum sum_j sc_j * <q_j, a_j> and the mins' sum_j m_j * sum(a_j).
inline float AddKMinBlock(float acc, int32_t isum, int32_t imin, float d, float dmin, float act_d) {
  acc += d * act_d * static_cast<float>(isum);
  return acc - dmin * act_d * static_cast<float>(imin);
}
// Q6_K: sum_j sc_j * <q_j - 32, a_j>.
inline float AddKBlock(float acc, int32_t isum, float d, float act_d) {
  return acc + d * act_d * static_cast<float>(isum);
}
// sum_j m_j * (a's sum over sub-block j of 32), from Q8_K's 16-element sums.
inline int32_t MinSum(const uint8_t* mins, const BlockQ8_K& a) {
  int32_t s = 0;
  for (int j = 0; j < 8; ++j) s += mins[j] * (a.bsums[2 * j] + a.bsums[2 * j + 1]);
  return s;
}

#define QUANTC_GGML_DOT_KERNELS                                                  \
  void QuantizeActivationsQ8_0(const float* x, void* dst, int64_t n);            \
  void QuantizeActivationsQ8_K(const float* x, void* dst, int64_t n);            \
  void VecDotQ4_0(const void* w, const void* a, uint64_t a_stride, int count, int64_t n, float* out);   \
  void VecDotQ8_0(const void* w, const void* a, uint64_t a_stride, int count, int64_t n, float* out);   \
  void VecDotIQ4_NL(const void* w, const void* a, uint64_t a_stride, int count, int64_t n, float* out); \
  void VecDotQ4_K(const void* w, const void* a, uint64_t a_stride, int count, int64_t n, float* out);   \
  void VecDotQ5_K(const void* w, const void* a, uint64_t a_stride, int count, int64_t n, float* out);   \
  void VecDotQ6_K(const void* w, const void* a, uint64_t a_stride, int count, int64_t n, float* out);

namespace ref {
QUANTC_GGML_DOT_KERNELS  // dot_ref.cc
}
namespace avx2 {
QUANTC_GGML_DOT_KERNELS  // dot_avx2.cc (call only when avx2::CpuHasAvx2())
}
#undef QUANTC_GGML_DOT_KERNELS

}  // namespace quantc::kernels::ggml_quants
