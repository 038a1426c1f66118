// Q2_K reference kernels (ggml-quants.c at llama.cpp 81ff7abe: quantize_row_q2_K_ref, the
// imatrix path quantize_row_q2_K_impl, dequantize_row_q2_K). 16 sub-blocks of 16 weights, each
// x ~ d * sc * q - dmin * m with 2-bit q and 4-bit (sc, m) codes in one byte per sub-block.
#include <cmath>

#include "lib/kernels/ggml_quants/k_quants_common.h"
#include "lib/kernels/ggml_quants/ref.h"
#include "lib/kernels/ggml_quants/scale_search.h"

namespace quantc::kernels::ggml_quants::ref {
namespace {

constexpr int kSub = 16;
constexpr int kSubs = kQKK / kSub;
constexpr int kNmax = kQ2KSearch.nmax;

// quantize_row_q2_K_impl's sub-block fits: weights importance * sqrt(sigma2 + x^2) with sigma2 the
// super-block's mean x^2 (not doubled here, unlike Q3_K..Q5_K).
void FitWithImportance(const float* x, const float* importance, float* scales, float* mins,
                       float* sums, uint8_t* L) {
  float sumx2 = 0;
  for (int j = 0; j < kQKK; ++j) sumx2 += x[j] * x[j];
  const float sigma2 = sumx2 / kQKK;
  float weight[kSub];
  uint8_t scratch[kSub];
  for (int j = 0; j < kSubs; ++j) {
    const float* xs = x + kSub * j;
    const float* qw = importance + kSub * j;
    for (int l = 0; l < kSub; ++l) weight[l] = qw[l] * std::sqrt(sigma2 + xs[l] * xs[l]);
    float sw = 0;
    for (int l = 0; l < kSub; ++l) sw += weight[l];
    sums[j] = sw;
    constexpr ScaleMinSearch kGrid = ImportanceSearch(kNmax);
    scales[j] = FitScaleMinWeighted(kSub, kNmax, xs, weight, L + kSub * j, &mins[j], scratch,
                                    kGrid.rmin, kGrid.rdelta, kGrid.nstep, kGrid.use_mad);
  }
}

}  // namespace

void QuantizeRowQ2_K(const float* x, void* dst, int64_t n, const float* importance) {
  auto* blocks = static_cast<BlockQ2_K*>(dst);
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK) {
    BlockQ2_K& y = blocks[b];
    uint8_t L[kQKK];
    float scales[kSubs], mins[kSubs];
    if (importance) {
      float sums[kSubs];
      FitWithImportance(x, importance + b * kQKK, scales, mins, sums, L);
      EncodeQ2KFitted(scales, mins, sums, y);
    } else {
      // Weights |x|, mean absolute error: quantize_row_q2_K_ref's make_qkx2_quants call.
      float weights[kSub];
      uint8_t scratch[kSub];
      for (int j = 0; j < kSubs; ++j) {
        for (int l = 0; l < kSub; ++l) weights[l] = std::fabs(x[kSub * j + l]);
        scales[j] = FitScaleMin(kSub, kNmax, x + kSub * j, weights, L + kSub * j, &mins[j], scratch,
                                kQ2KSearch.rmin, kQ2KSearch.rdelta, kQ2KSearch.nstep,
                                kQ2KSearch.use_mad);
      }
      EncodeQ2KByMax(scales, mins, y);
    }
    FinishQ2K(x, L, y);
  }
}

// __restrict: output and blocks never overlap; lets the compiler vectorize the inner loops.
void DequantizeRowQ2_K(const void* __restrict src, float* __restrict y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ2_K*>(src);
  for (int64_t b = 0; b < n / kQKK; ++b) {
    const BlockQ2_K& x = blocks[b];
    const float d = GgmlF16ToF32(x.d);
    const float min = GgmlF16ToF32(x.dmin);
    const uint8_t* scales = x.scales;
    for (int h = 0; h < 2; ++h) {
      const uint8_t* q = x.qs + 32 * h;
      for (int shift = 0; shift < 8; shift += 2) {
        for (int half = 0; half < 2; ++half) {  // sub-blocks read q[0..15] then q[16..31]
          const uint8_t sc = *scales++;
          const float dl = d * (sc & 0xF), ml = min * (sc >> 4);
          for (int l = 0; l < 16; ++l) *y++ = dl * ((q[16 * half + l] >> shift) & 3) - ml;
        }
      }
    }
  }
}

}  // namespace quantc::kernels::ggml_quants::ref
