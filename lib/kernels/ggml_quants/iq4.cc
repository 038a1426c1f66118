// Reference kernels of ggml's non-uniform 4-bit types IQ4_NL (32-weight blocks) and IQ4_XS
// (256-weight super-blocks of 8 x 32 with 6-bit sub-block scales) (ggml-quants.c at llama.cpp
// 81ff7abe: quantize_row_iq4_nl_impl, quantize_iq4_nl, quantize_iq4_xs, dequantize_row_iq4_*;
// spec /work/shared/specs/gguf-llamacpp.md §6 and corrections.md item 9).
//
// Both map each weight to the nearest of 16 fixed levels (kIQ4Values) times a scale. The scale of
// every 32-weight block comes from a weighted least-squares search: start from d = max / 127 (the
// largest magnitude on the outermost level), then try the 15 inverse scales (k - 127) / max,
// k = -7..7, keeping the one with the best (sum w q x)^2 / (sum w q^2). Weights are x^2, or with
// an importance vector importance_j * sqrt(sigma2 + x_j^2), sigma2 = 2 * mean(x^2) over the
// 32 (IQ4_NL) or 256 (IQ4_XS) weights. The search runs with and without importance: that is what
// llama.cpp's ggml_quantize_chunk (so llama-quantize) does; its quantize_row_iq4_nl_ref skips it.
// IQ4_XS then codes the 8 block scales as 6-bit multiples of d = -max_scale / 32 and re-picks every
// level under its coded scale; IQ4_NL re-picks its levels under the searched (unrounded) scale.
#include <cmath>

#include "lib/kernels/ggml_quants/blocks.h"
#include "lib/kernels/ggml_quants/half.h"
#include "lib/kernels/ggml_quants/ref.h"
#include "lib/kernels/ggml_quants/scale_search.h"

namespace quantc::kernels::ggml_quants::ref {
namespace {

constexpr int kSearchSteps = 7;        // inverse scales tried on each side of the start
constexpr int kSubBlocks = kQKK / kQK; // IQ4_XS: 8 blocks of 32 per super-block

// Index of the level nearest to x (ties to the lower level), by bisection (ggml best_index_int8).
int NearestLevel(float x) {
  if (x <= kIQ4Values[0]) return 0;
  if (x >= kIQ4Values[15]) return 15;
  int lo = 0;
  int hi = 15;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (x < kIQ4Values[mid]) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return x - kIQ4Values[hi - 1] < kIQ4Values[hi] - x ? hi - 1 : hi;
}

// 2 * mean(x^2) over n weights, summed in order; the importance weights' noise floor.
float GroupSigma2(const float* x, int n) {
  float sum = 0.0f;
  for (int j = 0; j < n; ++j) sum += x[j] * x[j];
  return sum * (2.0f / static_cast<float>(n));
}

void BlockWeights(const float* x, const float* importance, float sigma2, float* w) {
  for (int j = 0; j < kQK; ++j) {
    w[j] = importance ? importance[j] * std::sqrt(sigma2 + x[j] * x[j]) : x[j] * x[j];
  }
}

// Weighted sums of the levels picked under inverse scale id: sum w q x and sum w q^2.
struct LevelSums {
  float qx = 0.0f;
  float q2 = 0.0f;
};
LevelSums SumsAt(const float* x, const float* w, float id, uint8_t* L) {
  LevelSums s;
  for (int j = 0; j < kQK; ++j) {
    const int l = NearestLevel(id * x[j]);
    if (L) L[j] = static_cast<uint8_t>(l);
    const float q = kIQ4Values[l];
    s.qx += w[j] * q * x[j];
    s.q2 += w[j] * q * q;
  }
  return s;
}

// The searched scale of one 32-weight block; 0 for a block below kGroupMaxEps (its levels are
// picked later, under the final scale).
float SearchBlockScale(const float* x, const float* w) {
  float amax = 0.0f;
  float max = 0.0f;
  for (int j = 0; j < kQK; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  if (amax < kGroupMaxEps) return 0.0f;
  const float level0 = kIQ4Values[0];
  LevelSums s = SumsAt(x, w, 1.0f / (-max / level0), nullptr);
  float d = s.q2 > 0 ? s.qx / s.q2 : 0.0f;
  float best = d * s.qx;
  for (int k = -kSearchSteps; k <= kSearchSteps; ++k) {
    s = SumsAt(x, w, static_cast<float>(k + kIQ4Values[0]) / max, nullptr);
    if (s.q2 > 0 && s.qx * s.qx > best * s.q2) {
      d = s.qx / s.q2;
      best = d * s.qx;
    }
  }
  return d;
}

// Levels of n weights under scale d (0 gives the level nearest zero everywhere).
void PickLevels(const float* x, int n, float d, uint8_t* L) {
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < n; ++j) L[j] = static_cast<uint8_t>(NearestLevel(id * x[j]));
}

// 32 levels per 16 bytes: element j low nibble, element j + 16 high nibble of byte j.
void PackNibbles(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < kQK / 2; ++j) qs[j] = static_cast<uint8_t>(L[j] | (L[j + kQK / 2] << 4));
}

}  // namespace

void QuantizeRowIQ4_NL(const float* x, void* dst, int64_t n, const float* importance) {
  auto* blocks = static_cast<BlockIQ4_NL*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b) {
    const float* xb = x + b * kQK;
    const float* qw = importance ? importance + b * kQK : nullptr;
    float w[kQK];
    BlockWeights(xb, qw, GroupSigma2(xb, kQK), w);
    const float d = SearchBlockScale(xb, w);
    uint8_t L[kQK];
    PickLevels(xb, kQK, d, L);
    blocks[b].d = GgmlF32ToF16(d);
    PackNibbles(L, blocks[b].qs);
  }
}

void DequantizeRowIQ4_NL(const void* src, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockIQ4_NL*>(src);
  for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    const float d = GgmlF16ToF32(blocks[b].d);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = d * kIQ4Values[blocks[b].qs[j] & 0x0F];
      y[j + kQK / 2] = d * kIQ4Values[blocks[b].qs[j] >> 4];
    }
  }
}

void QuantizeRowIQ4_XS(const float* x, void* dst, int64_t n, const float* importance) {
  auto* blocks = static_cast<BlockIQ4_XS*>(dst);
  for (int64_t sb = 0; sb < n / kQKK; ++sb) {
    const float* xs = x + sb * kQKK;
    const float sigma2 = GroupSigma2(xs, kQKK);
    // Search each block's scale; the largest magnitude sets the super-scale.
    float scales[kSubBlocks];
    float max_scale = 0.0f;
    float amax_scale = 0.0f;
    for (int ib = 0; ib < kSubBlocks; ++ib) {
      float w[kQK];
      BlockWeights(xs + ib * kQK, importance ? importance + sb * kQKK + ib * kQK : nullptr, sigma2, w);
      scales[ib] = SearchBlockScale(xs + ib * kQK, w);
      if (std::fabs(scales[ib]) > amax_scale) {
        amax_scale = std::fabs(scales[ib]);
        max_scale = scales[ib];
      }
    }
    // Code the block scales as l * d, l in -32..31 (stored + 32), and re-pick levels under them.
    BlockIQ4_XS& y = blocks[sb];
    const float d = -max_scale / 32.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y.d = GgmlF32ToF16(d);
    y.scales_h = 0;
    uint8_t L[kQKK];
    for (int ib = 0; ib < kSubBlocks; ++ib) {
      int l = NearestInt(id * scales[ib]);
      l = l < -32 ? -32 : (l > 31 ? 31 : l);
      PickLevels(xs + ib * kQK, kQK, d * static_cast<float>(l), L + ib * kQK);
      const int code = l + 32;
      if (ib % 2 == 0) {
        y.scales_l[ib / 2] = static_cast<uint8_t>(code & 0x0F);
      } else {
        y.scales_l[ib / 2] |= static_cast<uint8_t>((code & 0x0F) << 4);
      }
      y.scales_h |= static_cast<uint16_t>((code >> 4) << (2 * ib));
    }
    for (int ib = 0; ib < kSubBlocks; ++ib) PackNibbles(L + ib * kQK, y.qs + ib * kQK / 2);
  }
}

void DequantizeRowIQ4_XS(const void* src, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockIQ4_XS*>(src);
  for (int64_t sb = 0; sb < n / kQKK; ++sb) {
    const BlockIQ4_XS& x = blocks[sb];
    const float d = GgmlF16ToF32(x.d);
    for (int ib = 0; ib < kSubBlocks; ++ib, y += kQK) {
      const int low = (x.scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0F;
      const int code = low | (((x.scales_h >> (2 * ib)) & 3) << 4);
      const float dl = d * static_cast<float>(code - 32);
      const uint8_t* qs = x.qs + ib * kQK / 2;
      for (int j = 0; j < kQK / 2; ++j) {
        y[j] = dl * kIQ4Values[qs[j] & 0x0F];
        y[j + kQK / 2] = dl * kIQ4Values[qs[j] >> 4];
      }
    }
  }
}

}  // namespace quantc::kernels::ggml_quants::ref
