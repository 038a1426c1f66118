// Q3_K reference kernels (ggml-quants.c at llama.cpp 81ff7abe: quantize_row_q3_K_ref, the
// imatrix path quantize_row_q3_K_impl, dequantize_row_q3_K). 16 sub-blocks of 16 weights, each
// x ~ d * (sc - 32) * q with signed 3-bit q (low 2 bits as Q2_K, the 3rd bit in hmask) and 6-bit
// scale codes under one fp16 super-scale.
#include <cmath>

#include "lib/kernels/ggml_quants/k_quants_common.h"
#include "lib/kernels/ggml_quants/ref.h"
#include "lib/kernels/ggml_quants/scale_search.h"

namespace quantc::kernels::ggml_quants::ref {
namespace {

constexpr int kSub = 16;
constexpr int kSubs = kQKK / kSub;
constexpr int kNmax = 4;  // codes -4..3, stored +4

// quantize_row_q3_K_impl's sub-block fits: weights importance * sqrt(sigma2 + x^2), sigma2 =
// 2 * mean(x^2) over the super-block; also the weight sums, which weight the second level.
void FitWithImportance(const float* x, const float* importance, float* scales, float* sums,
                       int8_t* L) {
  float sumx2 = 0;
  for (int j = 0; j < kQKK; ++j) sumx2 += x[j] * x[j];
  const float sigma2 = 2 * sumx2 / kQKK;
  float weight[kSub];
  for (int j = 0; j < kSubs; ++j) {
    const float* xs = x + kSub * j;
    const float* qw = importance + kSub * j;
    for (int l = 0; l < kSub; ++l) weight[l] = qw[l] * std::sqrt(sigma2 + xs[l] * xs[l]);
    float sumw = 0;
    for (int l = 0; l < kSub; ++l) sumw += weight[l];
    sums[j] = sumw;
    scales[j] = FitSymmetric(kSub, kNmax, xs, L + kSub * j, 1, weight);
  }
}

}  // namespace

void QuantizeRowQ3_K(const float* x, void* dst, int64_t n, const float* importance) {
  auto* blocks = static_cast<BlockQ3_K*>(dst);
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK) {
    BlockQ3_K& y = blocks[b];
    int8_t L[kQKK];
    float scales[kSubs];
    if (importance) {
      float sums[kSubs];
      FitWithImportance(x, importance + b * kQKK, scales, sums, L);
      EncodeQ3KFitted(scales, sums, y);
    } else {
      for (int j = 0; j < kSubs; ++j) {
        scales[j] = FitSymmetricIterative(kSub, kNmax, x + kSub * j, L + kSub * j, /*do_rmse=*/true);
      }
      EncodeQ3KByMax(scales, y);
    }
    FinishQ3K(x, L, y);
  }
}

// __restrict: output and blocks never overlap; lets the compiler vectorize the inner loops.
void DequantizeRowQ3_K(const void* __restrict src, float* __restrict y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ3_K*>(src);
  for (int64_t b = 0; b < n / kQKK; ++b) {
    const BlockQ3_K& x = blocks[b];
    const float d_all = GgmlF16ToF32(x.d);
    int sub = 0;
    for (int h = 0; h < 2; ++h) {
      const uint8_t* q = x.qs + 32 * h;
      for (int k = 0; k < 4; ++k) {
        const int shift = 2 * k;
        const uint8_t mask = static_cast<uint8_t>(1 << (4 * h + k));
        for (int half = 0; half < 2; ++half, ++sub) {  // q[0..15], then q[16..31]
          const float dl = d_all * UnpackQ3Scale(sub, x.scales);
          for (int l = 16 * half; l < 16 * half + 16; ++l) {
            *y++ = dl * (((q[l] >> shift) & 3) - ((x.hmask[l] & mask) ? 0 : 4));
          }
        }
      }
    }
  }
}

}  // namespace quantc::kernels::ggml_quants::ref
