// Scalar reference of the dot-product family (dot.h): activation quantizers and one dot product
// per weight type, written for clarity. Integer sums per block, then dot_impl.h's float steps.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "lib/kernels/ggml_quants/dot_impl.h"
#include "lib/kernels/ggml_quants/scale_search.h"

namespace quantc::kernels::ggml_quants::ref {
namespace {

// The 4-bit code of element i of a legacy block's 16 nibble bytes: low nibbles are elements
// 0..15, high nibbles 16..31.
int Nibble(const uint8_t* qs, int i) { return i < 16 ? qs[i] & 0xF : qs[i - 16] >> 4; }

// Q4_K / Q5_K's eight 6-bit (scale, min) codes.
void UnpackScalesMins(const uint8_t* packed, uint8_t* scales, uint8_t* mins) {
  for (int j = 0; j < 8; ++j) UnpackScaleMin6(j, packed, &scales[j], &mins[j]);
}

float DotQ4_0(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const BlockQ4_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float acc = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int32_t isum = 0;
    for (int i = 0; i < kQK; ++i) isum += (Nibble(x[b].qs, i) - 8) * y[b].qs[i];
    acc = AddQ8_0Block(acc, isum, GgmlF16ToF32(x[b].d), GgmlF16ToF32(y[b].d));
  }
  return acc;
}

float DotQ8_0(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float acc = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int32_t isum = 0;
    for (int i = 0; i < kQK; ++i) isum += x[b].qs[i] * y[b].qs[i];
    acc = AddQ8_0Block(acc, isum, GgmlF16ToF32(x[b].d), GgmlF16ToF32(y[b].d));
  }
  return acc;
}

float DotIQ4_NL(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const BlockIQ4_NL*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float acc = 0.0f;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int32_t isum = 0;
    for (int i = 0; i < kQK; ++i) isum += kIQ4Values[Nibble(x[b].qs, i)] * y[b].qs[i];
    acc = AddQ8_0Block(acc, isum, GgmlF16ToF32(x[b].d), GgmlF16ToF32(y[b].d));
  }
  return acc;
}

// Q4_K and Q5_K: sub-block j is nibble half j % 2 of the 32 bytes of chunk j / 2; Q5_K adds bit j
// of qh[l] as the fifth bit.
template <typename Block>
float DotKMin(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const Block*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float acc = 0.0f;
  for (int64_t b = 0; b < n / kQKK; ++b) {
    uint8_t scales[8], mins[8];
    UnpackScalesMins(x[b].scales, scales, mins);
    int32_t isum = 0;
    for (int j = 0; j < 8; ++j) {
      const uint8_t* q = x[b].qs + 32 * (j / 2);
      int32_t s = 0;
      for (int l = 0; l < 32; ++l) {
        int code = j % 2 == 0 ? q[l] & 0xF : q[l] >> 4;
        if constexpr (std::is_same_v<Block, BlockQ5_K>) code |= ((x[b].qh[l] >> j) & 1) << 4;
        s += code * y[b].qs[32 * j + l];
      }
      isum += scales[j] * s;
    }
    acc = AddKMinBlock(acc, isum, MinSum(mins, y[b]), GgmlF16ToF32(x[b].d), GgmlF16ToF32(x[b].dmin), y[b].d);
  }
  return acc;
}
float DotQ4_K(const void* w, const void* a, int64_t n) { return DotKMin<BlockQ4_K>(w, a, n); }
float DotQ5_K(const void* w, const void* a, int64_t n) { return DotKMin<BlockQ5_K>(w, a, n); }

float DotQ6_K(const void* w, const void* a, int64_t n) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float acc = 0.0f;
  for (int64_t b = 0; b < n / kQKK; ++b) {
    int32_t isum = 0;
    for (int i = 0; i < kQKK; ++i) {
      // Element i: half h = i / 128; within it, quarter k = (i % 128) / 32 and lane l = i % 32.
      // Low 4 bits: nibble k / 2 of ql[64h + 32(k % 2) + l]; high 2 bits: bits 2k of qh[32h + l].
      const int h = i / 128, k = (i % 128) / 32, l = i % 32;
      const uint8_t ql = x[b].ql[64 * h + 32 * (k % 2) + l];
      const int low = k < 2 ? ql & 0xF : ql >> 4;
      const int q = low | (((x[b].qh[32 * h + l] >> (2 * k)) & 3) << 4);
      isum += x[b].scales[i / 16] * (q - 32) * y[b].qs[i];
    }
    acc = AddKBlock(acc, isum, GgmlF16ToF32(x[b].d), y[b].d);
  }
  return acc;
}

// One activation row at a time (the fast kernels share each weight block among rows).
template <float (*Dot)(const void*, const void*, int64_t)>
void EachRow(const void* w, const void* a, uint64_t a_stride, int count, int64_t n, float* out) {
  for (int j = 0; j < count; ++j) out[j] = Dot(w, static_cast<const uint8_t*>(a) + j * a_stride, n);
}

}  // namespace

void VecDotQ4_0(const void* w, const void* a, uint64_t a_stride, int count, int64_t n, float* out) {
  EachRow<DotQ4_0>(w, a, a_stride, count, n, out);
}
void VecDotQ8_0(const void* w, const void* a, uint64_t a_stride, int count, int64_t n, float* out) {
  EachRow<DotQ8_0>(w, a, a_stride, count, n, out);
}
void VecDotIQ4_NL(const void* w, const void* a, uint64_t a_stride, int count, int64_t n, float* out) {
  EachRow<DotIQ4_NL>(w, a, a_stride, count, n, out);
}
void VecDotQ4_K(const void* w, const void* a, uint64_t a_stride, int count, int64_t n, float* out) {
  EachRow<DotQ4_K>(w, a, a_stride, count, n, out);
}
void VecDotQ5_K(const void* w, const void* a, uint64_t a_stride, int count, int64_t n, float* out) {
  EachRow<DotQ5_K>(w, a, a_stride, count, n, out);
}
void VecDotQ6_K(const void* w, const void* a, uint64_t a_stride, int count, int64_t n, float* out) {
  EachRow<DotQ6_K>(w, a, a_stride, count, n, out);
}
void QuantizeActivationsQ8_0(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    y[b].d = GgmlF32ToF16(amax / 127.0f);
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    // Round half to even (the AVX2 path's _mm256_round_ps), then the int8 saturation of its packs.
    for (int j = 0; j < kQK; ++j) {
      y[b].qs[j] = static_cast<int8_t>(std::clamp(static_cast<int>(std::nearbyint(x[j] * id)), -128, 127));
    }
  }
}

void QuantizeActivationsQ8_K(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_K*>(dst);
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK) {
    float max = 0.0f, amax = 0.0f;
    for (int j = 0; j < kQKK; ++j) {
      if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), max = x[j];
    }
    std::memset(&y[b], 0, sizeof(BlockQ8_K));
    if (amax == 0.0f) continue;
    const float iscale = -127.0f / max;
    for (int j = 0; j < kQKK; ++j) y[b].qs[j] = static_cast<int8_t>(std::min(127, NearestInt(iscale * x[j])));
    for (int j = 0; j < kQKK; ++j) y[b].bsums[j / 16] = static_cast<int16_t>(y[b].bsums[j / 16] + y[b].qs[j]);
    y[b].d = 1 / iscale;
  }
}

}  // namespace quantc::kernels::ggml_quants::ref
