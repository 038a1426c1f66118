// Reference kernels of ggml's legacy 32-weight blocks Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0
// (ggml-quants.c at llama.cpp 81ff7abe: quantize_row_*_ref, quantize_row_*_impl, quantize_*,
// dequantize_row_*; spec /work/shared/specs/gguf-llamacpp.md §6 and corrections.md items 4-5).
//
// Without importance each block is fitted in closed form: the symmetric types (Q4_0, Q5_0) scale
// the element of largest magnitude to the most negative code, the asymmetric ones (Q4_1, Q5_1)
// spread [min, max] over all codes, and the codes round by truncating x * (1 / d) plus an offset
// (not x / d: corrections.md item 4). With importance (what llama-quantize --imatrix writes) each
// block runs a weighted scale search instead (scale_search.h; its codes round half to even), with
// weights importance_j * sqrt(sigma2 + x_j^2), sigma2 = mean(x^2) over the whole row. Q8_0 has no
// weighted variant: llama.cpp ignores the importance for it.
//
// llama.cpp turns floats into codes with C casts to int8_t / uint8_t; CodeCast spells out what
// they do on x86 so that even NaN and Inf inputs give llama.cpp's bytes.
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstring>

#include "lib/kernels/ggml_quants/blocks.h"
#include "lib/kernels/ggml_quants/half.h"
#include "lib/kernels/ggml_quants/ref.h"
#include "lib/kernels/ggml_quants/scale_search.h"

namespace quantc::kernels::ggml_quants::ref {
namespace {

// A float -> small-integer C cast as GCC compiles it on x86 (cvttss2si to int32, then the low
// byte): truncation toward zero, and INT_MIN (low byte 0) for NaN and out-of-range values.
inline int TruncateX86(float v) {
  if (!(v > -2147483648.0f && v < 2147483648.0f)) return INT_MIN;
  return static_cast<int>(v);
}
inline int8_t Int8Cast(float v) { return static_cast<int8_t>(TruncateX86(v) & 0xFF); }
inline uint8_t Uint8Cast(float v) { return static_cast<uint8_t>(TruncateX86(v) & 0xFF); }

// The first element of largest magnitude, with its sign (0 for an all-zero block).
float SignedAbsMax(const float* x) {
  float amax = 0.0f;
  float max = 0.0f;
  for (int j = 0; j < kQK; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

// 1/d, or 0 for a zero scale (the block is all zero and every code lands on the zero point).
inline float InverseScale(float d) { return d != 0.0f ? 1.0f / d : 0.0f; }

// ---- packing -----------------------------------------------------------------------------------

// Element j in the low nibble of byte j, element j + 16 in the high nibble. Codes above 15 spill
// into the high nibble exactly as ggml's `L[j] | (L[j + 16] << 4)` does.
void PackNibbles(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < kQK / 2; ++j) qs[j] = static_cast<uint8_t>(L[j] | (L[j + kQK / 2] << 4));
}

// 5-bit codes: the low 4 bits as nibbles, bit 4 of element j in bit j of the little-endian qh.
void PackFiveBit(const uint8_t* L, uint8_t* qs, uint8_t* qh) {
  uint32_t high = 0;
  for (int j = 0; j < kQK / 2; ++j) {
    qs[j] = static_cast<uint8_t>((L[j] & 0x0F) | ((L[j + kQK / 2] & 0x0F) << 4));
  }
  for (int j = 0; j < kQK; ++j) high |= static_cast<uint32_t>((L[j] >> 4) & 1) << j;
  std::memcpy(qh, &high, sizeof(high));
}

// The 5-bit code of element j: nibble plus bit j of qh.
inline int FiveBitCode(const uint8_t* qs, uint32_t high, int j) {
  const int nibble = j < kQK / 2 ? qs[j] & 0x0F : qs[j - kQK / 2] >> 4;
  return nibble | static_cast<int>(((high >> j) & 1) << 4);
}

// ---- closed-form fits (no importance) --------------------------------------------------------

// Q4_0 / Q5_0 (kNmax 8 / 16): d = max / -kNmax puts the largest magnitude on code 0, the others
// truncate x * (1/d) + kNmax + 0.5, capped at 2 * kNmax - 1. Returns d.
template <int kNmax>
float FitSymmetricBlock(const float* x, uint8_t* L) {
  const float d = SignedAbsMax(x) / static_cast<float>(-kNmax);
  const float id = InverseScale(d);
  for (int j = 0; j < kQK; ++j) {
    const int code = Int8Cast(x[j] * id + (static_cast<float>(kNmax) + 0.5f));
    L[j] = static_cast<uint8_t>(code < 2 * kNmax - 1 ? code : 2 * kNmax - 1);
  }
  return d;
}

// Q4_1 / Q5_1 (kNmax 15 / 31): x ~ d * q + min with d = (max - min) / kNmax and q the truncation
// of (x - min) * (1/d) + 0.5. Q4_1 caps q at 15 (after an int8 cast); Q5_1 has no cap (a uint8
// cast). Returns d and the block minimum (stored unclipped, even when positive).
template <int kNmax>
float FitMinMaxBlock(const float* x, uint8_t* L, float* min_out) {
  float min = FLT_MAX;
  float max = -FLT_MAX;
  for (int j = 0; j < kQK; ++j) {
    if (x[j] < min) min = x[j];
    if (x[j] > max) max = x[j];
  }
  const float d = (max - min) / static_cast<float>(kNmax);
  const float id = InverseScale(d);
  for (int j = 0; j < kQK; ++j) {
    const float v = (x[j] - min) * id + 0.5f;
    if constexpr (kNmax == 15) {
      const int code = Int8Cast(v);
      L[j] = static_cast<uint8_t>(code < 15 ? code : 15);
    } else {
      L[j] = Uint8Cast(v);
    }
  }
  *min_out = min;
  return d;
}

// ---- importance-weighted fits ------------------------------------------------------------------

// sigma2 = mean(x^2) over the whole row (one sequential float sum, as ggml).
float RowMeanSquare(const float* x, int64_t n) {
  float sum = 0.0f;
  for (int64_t j = 0; j < n; ++j) sum += x[j] * x[j];
  return sum / static_cast<float>(n);
}

// w_j = importance_j * sqrt(sigma2 + x_j^2): the importance, raised where |x| is large.
void BlockWeights(const float* x, const float* importance, float sigma2, float* w) {
  for (int j = 0; j < kQK; ++j) w[j] = importance[j] * std::sqrt(sigma2 + x[j] * x[j]);
}

// Q4_0 / Q5_0 with importance: make_qx_quants over codes -kNmax..kNmax-1 (stored + kNmax).
template <int kNmax>
float FitSymmetricWeighted(const float* x, const float* w, uint8_t* L) {
  int8_t codes[kQK];
  const float d = FitSymmetric(kQK, kNmax, x, codes, /*rmse_type=*/1, w);
  for (int j = 0; j < kQK; ++j) L[j] = static_cast<uint8_t>(codes[j]);
  return d;
}

// Q4_1 / Q5_1 with importance: make_qkx3_quants with llama.cpp's grid for these types. Returns d
// and the offset (minus the search's non-negative `neg_min`).
template <int kNmax>
float FitMinMaxWeighted(const float* x, const float* w, uint8_t* L, float* min_out) {
  uint8_t scratch[kQK];
  float neg_min = 0.0f;
  const float d = FitScaleMinWeighted(kQK, kNmax, x, w, L, &neg_min, scratch, /*rmin=*/-0.9f,
                                      /*rdelta=*/0.05f, /*nstep=*/36, /*use_mad=*/false);
  *min_out = -neg_min;
  return d;
}

// Runs fit(x_block, weights_or_null, L) -> block fields over a row; `importance` may be null.
template <typename Block, typename FitAndStore>
void QuantizeBlocks(const float* x, void* dst, int64_t n, const float* importance, FitAndStore fit) {
  auto* blocks = static_cast<Block*>(dst);
  const float sigma2 = importance ? RowMeanSquare(x, n) : 0.0f;
  float w[kQK];
  for (int64_t b = 0; b < n / kQK; ++b) {
    const float* xb = x + b * kQK;
    if (importance) BlockWeights(xb, importance + b * kQK, sigma2, w);
    fit(xb, importance ? w : nullptr, blocks[b]);
  }
}

}  // namespace

// ---- Q4_0: x = (q - 8) * d ------------------------------------------------------------------

void QuantizeRowQ4_0(const float* x, void* dst, int64_t n, const float* importance) {
  QuantizeBlocks<BlockQ4_0>(x, dst, n, importance, [](const float* xb, const float* w, BlockQ4_0& y) {
    uint8_t L[kQK];
    const float d = w ? FitSymmetricWeighted<8>(xb, w, L) : FitSymmetricBlock<8>(xb, L);
    y.d = GgmlF32ToF16(d);
    PackNibbles(L, y.qs);
  });
}

void DequantizeRowQ4_0(const void* src, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ4_0*>(src);
  for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    const float d = GgmlF16ToF32(blocks[b].d);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>((blocks[b].qs[j] & 0x0F) - 8) * d;
      y[j + kQK / 2] = static_cast<float>((blocks[b].qs[j] >> 4) - 8) * d;
    }
  }
}

// ---- Q4_1: x = q * d + m --------------------------------------------------------------------

void QuantizeRowQ4_1(const float* x, void* dst, int64_t n, const float* importance) {
  QuantizeBlocks<BlockQ4_1>(x, dst, n, importance, [](const float* xb, const float* w, BlockQ4_1& y) {
    uint8_t L[kQK];
    float min = 0.0f;
    const float d = w ? FitMinMaxWeighted<15>(xb, w, L, &min) : FitMinMaxBlock<15>(xb, L, &min);
    y.d = GgmlF32ToF16(d);
    y.m = GgmlF32ToF16(min);
    PackNibbles(L, y.qs);
  });
}

void DequantizeRowQ4_1(const void* src, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ4_1*>(src);
  for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    const float d = GgmlF16ToF32(blocks[b].d);
    const float m = GgmlF16ToF32(blocks[b].m);
    for (int j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>(blocks[b].qs[j] & 0x0F) * d + m;
      y[j + kQK / 2] = static_cast<float>(blocks[b].qs[j] >> 4) * d + m;
    }
  }
}

// ---- Q5_0: x = (q - 16) * d -----------------------------------------------------------------

void QuantizeRowQ5_0(const float* x, void* dst, int64_t n, const float* importance) {
  QuantizeBlocks<BlockQ5_0>(x, dst, n, importance, [](const float* xb, const float* w, BlockQ5_0& y) {
    uint8_t L[kQK];
    const float d = w ? FitSymmetricWeighted<16>(xb, w, L) : FitSymmetricBlock<16>(xb, L);
    y.d = GgmlF32ToF16(d);
    PackFiveBit(L, y.qs, y.qh);
  });
}

void DequantizeRowQ5_0(const void* src, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ5_0*>(src);
  for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    const float d = GgmlF16ToF32(blocks[b].d);
    uint32_t high;
    std::memcpy(&high, blocks[b].qh, sizeof(high));
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(FiveBitCode(blocks[b].qs, high, j) - 16) * d;
  }
}

// ---- Q5_1: x = q * d + m --------------------------------------------------------------------

void QuantizeRowQ5_1(const float* x, void* dst, int64_t n, const float* importance) {
  QuantizeBlocks<BlockQ5_1>(x, dst, n, importance, [](const float* xb, const float* w, BlockQ5_1& y) {
    uint8_t L[kQK];
    float min = 0.0f;
    const float d = w ? FitMinMaxWeighted<31>(xb, w, L, &min) : FitMinMaxBlock<31>(xb, L, &min);
    y.d = GgmlF32ToF16(d);
    y.m = GgmlF32ToF16(min);
    PackFiveBit(L, y.qs, y.qh);
  });
}

void DequantizeRowQ5_1(const void* src, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ5_1*>(src);
  for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    const float d = GgmlF16ToF32(blocks[b].d);
    const float m = GgmlF16ToF32(blocks[b].m);
    uint32_t high;
    std::memcpy(&high, blocks[b].qh, sizeof(high));
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(FiveBitCode(blocks[b].qs, high, j)) * d + m;
  }
}

// ---- Q8_0: x = q * d ------------------------------------------------------------------------
// d = amax / 127, q = roundf(x * (1/d)) (half away from zero). The importance is ignored.

void QuantizeRowQ8_0(const float* x, void* dst, int64_t n, const float* /*importance*/) {
  auto* blocks = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    float amax = 0.0f;
    // ggml's MAX(amax, |x|) = amax > |x| ? amax : |x| (the order matters only for NaN).
    for (int j = 0; j < kQK; ++j) amax = amax > std::fabs(x[j]) ? amax : std::fabs(x[j]);
    const float d = amax / 127.0f;
    const float id = InverseScale(d);
    blocks[b].d = GgmlF32ToF16(d);
    for (int j = 0; j < kQK; ++j) blocks[b].qs[j] = Int8Cast(std::round(x[j] * id));
  }
}

void DequantizeRowQ8_0(const void* src, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ8_0*>(src);
  for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    const float d = GgmlF16ToF32(blocks[b].d);
    for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(blocks[b].qs[j]) * d;
  }
}

}  // namespace quantc::kernels::ggml_quants::ref
