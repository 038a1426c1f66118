// Reference row kernels of GGUF's unquantized tensor types, so callers treat every tensor type
// alike (ggml.c at llama.cpp 81ff7abe, ggml_quantize_chunk's F32/F16/BF16 cases and the types'
// to_float):
//   F32: a copy.
//   F16: ggml_fp32_to_fp16_row / ggml_fp16_to_fp32_row, round-to-nearest-even, NaN as ggml (half.h).
//   BF16: ggml_fp32_to_bf16_row_ref / ggml_bf16_to_fp32_row: round-to-nearest-even with quieted
//     NaN, which is exactly lib/dtypes F32ToBF16 (checked over all 2^32 floats).
// None of them uses an importance vector.
#include <cstring>

#include "lib/dtypes/float_convert.h"
#include "lib/kernels/ggml_quants/half.h"
#include "lib/kernels/ggml_quants/ref.h"

namespace quantc::kernels::ggml_quants::ref {

void QuantizeRowF32(const float* x, void* dst, int64_t n, const float* /*importance*/) {
  std::memcpy(dst, x, static_cast<size_t>(n) * sizeof(float));
}

void DequantizeRowF32(const void* src, float* y, int64_t n) {
  std::memcpy(y, src, static_cast<size_t>(n) * sizeof(float));
}

void QuantizeRowF16(const float* x, void* dst, int64_t n, const float* /*importance*/) {
  auto* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = GgmlF32ToF16(x[i]);
}

void DequantizeRowF16(const void* src, float* y, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) y[i] = GgmlF16ToF32(h[i]);
}

void QuantizeRowBF16(const float* x, void* dst, int64_t n, const float* /*importance*/) {
  auto* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = F32ToBF16(x[i]);
}

void DequantizeRowBF16(const void* src, float* y, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) y[i] = BF16ToF32(h[i]);
}

}  // namespace quantc::kernels::ggml_quants::ref
