// Q6_K reference kernels (ggml-quants.c at llama.cpp 81ff7abe: quantize_row_q6_K_ref, the
// imatrix path quantize_row_q6_K_impl, dequantize_row_q6_K). 16 sub-blocks of 16 weights, each
// x ~ d * sc * (q - 32) with 6-bit q (low 4 bits in ql, high 2 in qh) and signed 8-bit sc under
// one fp16 super-scale.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "lib/kernels/ggml_quants/k_quants_common.h"
#include "lib/kernels/ggml_quants/ref.h"
#include "lib/kernels/ggml_quants/scale_search.h"

namespace quantc::kernels::ggml_quants::ref {
namespace {

constexpr int kSub = 16;
constexpr int kSubs = kQKK / kSub;
constexpr int kNmax = 32;  // codes -32..31, stored +32

}  // namespace

void QuantizeRowQ6_K(const float* x, void* dst, int64_t n, const float* importance) {
  auto* blocks = static_cast<BlockQ6_K*>(dst);
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK) {
    BlockQ6_K& y = blocks[b];
    int8_t L[kQKK];
    float scales[kSubs];
    // Symmetric fit per sub-block (weights x^2, or the importance as they are: ggml's impl passes
    // the imatrix row straight through). Keep the signed scale of largest magnitude.
    float max_scale = 0, max_abs_scale = 0;
    for (int j = 0; j < kSubs; ++j) {
      const float* qw = importance ? importance + b * kQKK + kSub * j : nullptr;
      scales[j] = FitSymmetric(kSub, kNmax, x + kSub * j, L + kSub * j, 1, qw);
      if (std::fabs(scales[j]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(&y, 0, sizeof(y));
      continue;
    }
    // Second level: the largest scale maps to -128, the others to signed 8-bit codes.
    const float iscale = -128.f / max_scale;
    y.d = GgmlF32ToF16(1 / iscale);
    for (int j = 0; j < kSubs; ++j) {
      y.scales[j] = static_cast<int8_t>(std::min(127, NearestInt(iscale * scales[j])));
    }
    // Codes from the stored scales; sub-blocks whose scale decodes to 0 keep their search codes.
    const float d_all = GgmlF16ToF32(y.d);
    for (int j = 0; j < kSubs; ++j) {
      const float d = d_all * y.scales[j];
      if (!d) continue;
      for (int i = 0; i < kSub; ++i) {
        const int l = NearestInt(x[kSub * j + i] / d);
        L[kSub * j + i] = static_cast<int8_t>(std::max(-32, std::min(31, l)) + 32);
      }
    }
    PackQ6(L, y.ql, y.qh);
  }
}

// __restrict: output and blocks never overlap; lets the compiler vectorize the inner loops.
void DequantizeRowQ6_K(const void* __restrict src, float* __restrict y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ6_K*>(src);
  for (int64_t b = 0; b < n / kQKK; ++b, y += kQKK) {
    const BlockQ6_K& x = blocks[b];
    const float d = GgmlF16ToF32(x.d);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = x.ql + 64 * h;
      const uint8_t* qh = x.qh + 32 * h;
      const int8_t* sc = x.scales + 8 * h;
      float* out = y + 128 * h;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        out[l] = d * sc[is] * q1;
        out[l + 32] = d * sc[is + 2] * q2;
        out[l + 64] = d * sc[is + 4] * q3;
        out[l + 96] = d * sc[is + 6] * q4;
      }
    }
  }
}

}  // namespace quantc::kernels::ggml_quants::ref
