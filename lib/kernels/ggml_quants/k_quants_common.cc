// The K-quant super-block steps shared by the reference and AVX2 quantizers (ggml-quants.c at
// llama.cpp 81ff7abe: the bodies of quantize_row_q{2,3,4,5}_K_ref and _impl around their scale
// searches), in ggml's float operation order for byte-exact output.
#include "lib/kernels/ggml_quants/k_quants_common.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "lib/kernels/ggml_quants/scale_search.h"

namespace quantc::kernels::ggml_quants {
namespace {

constexpr int kSub = 32;              // weights per sub-block
constexpr int kSubs = kQKK / kSub;    // sub-blocks per super-block

// NearestInt (scale_search.cc), repeated here so the per-weight requantization loops inline it.
inline int Round(float x) {
  const float shifted = x + 12582912.0f;  // 1.5 * 2^23
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof(bits));
  return (bits & 0x007fffff) - 0x00400000;
}

// ggml's uint8_t ls = nearest_int(v); ls = MIN(63, ls): the int wraps to 8 bits first.
uint8_t Code63(float v) {
  const auto code = static_cast<uint8_t>(NearestInt(v));
  return std::min<uint8_t>(63, code);
}

}  // namespace

void FitScaleMinSubBlocks(const float* x, const ScaleMinSearch& search, float* scales, float* mins,
                          uint8_t* L) {
  float weights[kSub];
  uint8_t scratch[kSub];
  for (int j = 0; j < kSubs; ++j) {
    const float* xs = x + kSub * j;
    float sum_x2 = 0;
    for (int l = 0; l < kSub; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / kSub);
    for (int l = 0; l < kSub; ++l) weights[l] = av_x + std::fabs(xs[l]);
    scales[j] = FitScaleMin(kSub, search.nmax, xs, weights, L + kSub * j, &mins[j], scratch,
                            search.rmin, search.rdelta, search.nstep, search.use_mad);
  }
}

void FitScaleMinSubBlocksImportance(const float* x, const float* importance, int nmax,
                                    float* scales, float* mins, float* sums, uint8_t* L) {
  float sum_x2 = 0;
  for (int l = 0; l < kQKK; ++l) sum_x2 += x[l] * x[l];
  const float sigma2 = 2 * sum_x2 / kQKK;
  float weights[kSub];
  uint8_t scratch[kSub];
  for (int j = 0; j < kSubs; ++j) {
    const float* xs = x + kSub * j;
    const float* qw = importance + kSub * j;
    for (int l = 0; l < kSub; ++l) weights[l] = qw[l] * std::sqrt(sigma2 + xs[l] * xs[l]);
    float sumw = 0;
    for (int l = 0; l < kSub; ++l) sumw += weights[l];
    sums[j] = sumw;
    constexpr ScaleMinSearch kGrid = ImportanceSearch(0);
    scales[j] = FitScaleMinWeighted(kSub, nmax, xs, weights, L + kSub * j, &mins[j], scratch,
                                    kGrid.rmin, kGrid.rdelta, kGrid.nstep, kGrid.use_mad);
  }
}

void EncodeScaleMinByMax(const float* scales, const float* mins, uint16_t* d, uint16_t* dmin,
                         uint8_t* packed) {
  // Scales are non-negative in practice (the min is deducted); mins are stored negated (>= 0).
  float max_scale = 0;
  float max_min = 0;
  for (int j = 0; j < kSubs; ++j) {
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  uint8_t ls[kSubs], lm[kSubs];
  for (int j = 0; j < kSubs; ++j) {
    ls[j] = Code63(inv_scale * scales[j]);
    lm[j] = Code63(inv_min * mins[j]);
  }
  PackScaleMin6(ls, lm, packed);
  *d = GgmlF32ToF16(max_scale / 63.f);
  *dmin = GgmlF32ToF16(max_min / 63.f);
}

void EncodeScaleMinFitted(const float* scales, const float* mins, const float* sums, bool clamp63,
                          uint16_t* d, uint16_t* dmin, uint8_t* packed) {
  uint8_t ls[kSubs], lm[kSubs];
  const float d_block = FitPositive(kSubs, 63, scales, ls, sums);
  const float m_block = FitPositive(kSubs, 63, mins, lm, sums);
  if (clamp63) {
    for (int j = 0; j < kSubs; ++j) {
      ls[j] = std::min<uint8_t>(63, ls[j]);
      lm[j] = std::min<uint8_t>(63, lm[j]);
    }
  }
  PackScaleMin6(ls, lm, packed);
  *d = GgmlF32ToF16(d_block);
  *dmin = GgmlF32ToF16(m_block);
}

void RequantizeScaleMin(const float* x, uint16_t d, uint16_t dmin, const uint8_t* packed, int nmax,
                        uint8_t* L) {
  const float d_all = GgmlF16ToF32(d);
  const float m_all = GgmlF16ToF32(dmin);
  for (int j = 0; j < kSubs; ++j) {
    uint8_t sc, m;
    UnpackScaleMin6(j, packed, &sc, &m);
    const float ds = d_all * sc;
    if (!ds) continue;
    const float dm = m_all * m;
    for (int i = 0; i < kSub; ++i) {
      const int l = Round((x[kSub * j + i] + dm) / ds);
      L[kSub * j + i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    }
  }
}

// ---- Q2_K ------------------------------------------------------------------------------------

void EncodeQ2KByMax(const float* scales, const float* mins, BlockQ2_K& y) {
  constexpr float kCodeMax = 15.f;  // the 4-bit scale and min codes
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 16; ++j) {
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  // ggml assigns nearest_int's int to the byte (no clamp) and ORs the min code in above it.
  if (max_scale > 0) {
    const float iscale = kCodeMax / max_scale;
    for (int j = 0; j < 16; ++j) y.scales[j] = static_cast<uint8_t>(NearestInt(iscale * scales[j]));
    y.d = GgmlF32ToF16(max_scale / kCodeMax);
  } else {
    std::memset(y.scales, 0, sizeof(y.scales));
    y.d = GgmlF32ToF16(0.f);
  }
  if (max_min > 0) {
    const float iscale = kCodeMax / max_min;
    for (int j = 0; j < 16; ++j) y.scales[j] |= static_cast<uint8_t>(NearestInt(iscale * mins[j]) << 4);
    y.dmin = GgmlF32ToF16(max_min / kCodeMax);
  } else {
    y.dmin = GgmlF32ToF16(0.f);
  }
}

void EncodeQ2KFitted(const float* scales, const float* mins, const float* sums, BlockQ2_K& y) {
  uint8_t ls[16], lm[16];
  y.d = GgmlF32ToF16(FitPositive(16, 15, scales, ls, sums));
  y.dmin = GgmlF32ToF16(FitPositive(16, 15, mins, lm, sums));
  for (int j = 0; j < 16; ++j) y.scales[j] = static_cast<uint8_t>(ls[j] | (lm[j] << 4));
}

void FinishQ2K(const float* x, uint8_t* L, BlockQ2_K& y) {
  const float d_all = GgmlF16ToF32(y.d);
  const float m_all = GgmlF16ToF32(y.dmin);
  for (int j = 0; j < 16; ++j) {
    const float d = d_all * (y.scales[j] & 0xF);
    if (!d) continue;
    const float dm = m_all * (y.scales[j] >> 4);
    for (int i = 0; i < 16; ++i) {
      const int l = Round((x[16 * j + i] + dm) / d);
      L[16 * j + i] = static_cast<uint8_t>(std::max(0, std::min(3, l)));
    }
  }
  PackQuarters2(L, y.qs);
}

// ---- Q3_K ------------------------------------------------------------------------------------

void EncodeQ3KByMax(const float* scales, BlockQ3_K& y) {
  float max_scale = 0, amax = 0;
  for (int j = 0; j < 16; ++j) {
    if (std::fabs(scales[j]) > amax) {
      amax = std::fabs(scales[j]);
      max_scale = scales[j];
    }
  }
  if (!max_scale) {
    std::memset(y.scales, 0, sizeof(y.scales));
    y.d = GgmlF32ToF16(0.f);
    return;
  }
  const float iscale = -32.f / max_scale;
  int codes[16];
  for (int j = 0; j < 16; ++j) {
    // ggml narrows nearest_int to int8_t before clamping; |iscale * scale| <= 32 keeps it in range.
    const auto l = static_cast<int8_t>(NearestInt(iscale * scales[j]));
    codes[j] = std::max(-32, std::min(31, static_cast<int>(l))) + 32;
  }
  PackQ3Scales(codes, y.scales);
  y.d = GgmlF32ToF16(1 / iscale);
}

void EncodeQ3KFitted(const float* scales, const float* sums, BlockQ3_K& y) {
  int8_t ls[16];
  const float d_block = FitSymmetric(16, 32, scales, ls, 1, sums);
  int codes[16];
  for (int j = 0; j < 16; ++j) codes[j] = ls[j];
  PackQ3Scales(codes, y.scales);
  y.d = GgmlF32ToF16(d_block);
}

void FinishQ3K(const float* x, int8_t* L, BlockQ3_K& y) {
  const float d_all = GgmlF16ToF32(y.d);
  for (int j = 0; j < 16; ++j) {
    const float d = d_all * static_cast<int8_t>(UnpackQ3Scale(j, y.scales));
    if (!d) continue;
    for (int i = 0; i < 16; ++i) {
      const int l = Round(x[16 * j + i] / d);
      L[16 * j + i] = static_cast<int8_t>(std::max(-4, std::min(3, l)) + 4);
    }
  }
  // Codes 0..7: the hmask bit is set for codes >= 4 (element j -> bit j / 32 of byte j % 32); the
  // low 2 bits are packed as Q2_K.
  uint8_t low[kQKK];
  std::memset(y.hmask, 0, sizeof(y.hmask));
  for (int j = 0; j < kQKK; ++j) {
    const bool high = L[j] > 3;
    if (high) y.hmask[j % 32] |= static_cast<uint8_t>(1 << (j / 32));
    low[j] = static_cast<uint8_t>(high ? L[j] - 4 : L[j]);
  }
  PackQuarters2(low, y.qs);
}

}  // namespace quantc::kernels::ggml_quants
