// Q4_K reference kernels (ggml-quants.c at llama.cpp 81ff7abe: quantize_row_q4_K_ref, the
// imatrix path quantize_row_q4_K_impl, dequantize_row_q4_K). 8 sub-blocks of 32 weights, each
// x ~ d * sc * q - dmin * m with 4-bit q and 6-bit (sc, m) codes under fp16 super-scales.
// Quantizing: fit (scale, min) per sub-block, code those on a second level, then re-derive every q
// from the stored, rounded scales so the codes match what a decoder will see.

#include "lib/kernels/ggml_quants/k_quants_common.h"
#include "lib/kernels/ggml_quants/ref.h"

namespace quantc::kernels::ggml_quants::ref {

void QuantizeRowQ4_K(const float* x, void* dst, int64_t n, const float* importance) {
  auto* blocks = static_cast<BlockQ4_K*>(dst);
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK) {
    BlockQ4_K& y = blocks[b];
    uint8_t L[kQKK];
    float scales[8], mins[8];
    if (importance) {
      float sums[8];
      FitScaleMinSubBlocksImportance(x, importance + b * kQKK, kQ4KSearch.nmax, scales, mins, sums, L);
      EncodeScaleMinFitted(scales, mins, sums, /*clamp63=*/false, &y.d, &y.dmin, y.scales);
    } else {
      FitScaleMinSubBlocks(x, kQ4KSearch, scales, mins, L);
      EncodeScaleMinByMax(scales, mins, &y.d, &y.dmin, y.scales);
    }
    RequantizeScaleMin(x, y.d, y.dmin, y.scales, kQ4KSearch.nmax, L);
    PackNibbles(L, y.qs);
  }
}

// __restrict: output and blocks never overlap; lets the compiler vectorize the inner loops.
void DequantizeRowQ4_K(const void* __restrict src, float* __restrict y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ4_K*>(src);
  for (int64_t b = 0; b < n / kQKK; ++b) {
    const BlockQ4_K& x = blocks[b];
    const float d = GgmlF16ToF32(x.d);
    const float min = GgmlF16ToF32(x.dmin);
    const uint8_t* q = x.qs;
    for (int j = 0; j < 8; j += 2, q += 32) {
      uint8_t sc, m;
      UnpackScaleMin6(j, x.scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      UnpackScaleMin6(j + 1, x.scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
    }
  }
}

}  // namespace quantc::kernels::ggml_quants::ref
