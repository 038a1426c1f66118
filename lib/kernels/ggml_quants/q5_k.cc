// Q5_K reference kernels (ggml-quants.c at llama.cpp 81ff7abe: quantize_row_q5_K_ref, the
// imatrix path quantize_row_q5_K_impl, dequantize_row_q5_K). As Q4_K with 5-bit q: the low 4
// bits in nibbles laid out as Q4_K, the 5th bits in qh (bit 2c of qh[l] for element 64c + l,
// bit 2c + 1 for 64c + 32 + l).
#include "lib/kernels/ggml_quants/k_quants_common.h"
#include "lib/kernels/ggml_quants/ref.h"

namespace quantc::kernels::ggml_quants::ref {

void QuantizeRowQ5_K(const float* x, void* dst, int64_t n, const float* importance) {
  auto* blocks = static_cast<BlockQ5_K*>(dst);
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK) {
    BlockQ5_K& y = blocks[b];
    uint8_t L[kQKK];
    float scales[8], mins[8];
    if (importance) {
      float sums[8];
      FitScaleMinSubBlocksImportance(x, importance + b * kQKK, kQ5KSearch.nmax, scales, mins, sums, L);
      EncodeScaleMinFitted(scales, mins, sums, /*clamp63=*/true, &y.d, &y.dmin, y.scales);
    } else {
      FitScaleMinSubBlocks(x, kQ5KSearch, scales, mins, L);
      EncodeScaleMinByMax(scales, mins, &y.d, &y.dmin, y.scales);
    }
    RequantizeScaleMin(x, y.d, y.dmin, y.scales, kQ5KSearch.nmax, L);
    PackQ5(L, y.qh, y.qs);
  }
}

// __restrict: output and blocks never overlap; lets the compiler vectorize the inner loops.
void DequantizeRowQ5_K(const void* __restrict src, float* __restrict y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ5_K*>(src);
  for (int64_t b = 0; b < n / kQKK; ++b) {
    const BlockQ5_K& x = blocks[b];
    const float d = GgmlF16ToF32(x.d);
    const float min = GgmlF16ToF32(x.dmin);
    const uint8_t* ql = x.qs;
    for (int c = 0; c < 4; ++c, ql += 32) {
      uint8_t sc, m;
      UnpackScaleMin6(2 * c, x.scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      UnpackScaleMin6(2 * c + 1, x.scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      const int lo_bit = 1 << (2 * c), hi_bit = 2 << (2 * c);
      for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (x.qh[l] & lo_bit ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (x.qh[l] & hi_bit ? 16 : 0)) - m2;
    }
  }
}

}  // namespace quantc::kernels::ggml_quants::ref
