// AVX2 row kernels for the legacy 32-weight blocks, IQ4_NL/IQ4_XS, MXFP4, F16 and BF16 (fast.h),
// bit-identical to the reference kernels (legacy.cc, iq4.cc, mxfp4.cc, plain.cc). In the spirit of
// ggml-cpu's x86 paths, written anew.
//
// Why the results are the same floats and bytes as ref:
//   - Decoders widen each code to an int32 exactly, convert it to float exactly, then do ref's
//     float operations one by one: q * d, or (q * d) + m for Q4_1/Q5_1 (never an FMA, which would
//     round once where ref rounds twice; the library is built with -ffp-contract=off).
//   - fp16 scales go through F16C, which equals ggml's fp16 routines (half.h) on every non-NaN
//     value and, for decoding, on all 65536 halves (signalling NaNs are quieted by both).
//   - The Q8_0 encoder computes d and 1/d with ref's scalar divisions and rounds half away from
//     zero like roundf (RoundHalfAway, checked against roundf on every float below 2^23). It
//     takes ref's path for any block it cannot do exactly in SIMD: NaN, Inf, or a maximum so small
//     that 1/d is inexact enough to push a code past 127 (where int8 packing would saturate).
//   - The F16 encoder uses F16C, except on 8-float chunks holding a NaN (ggml writes sign | 0x7E00
//     where F16C keeps payload bits); BF16 is integer arithmetic throughout.
#include <immintrin.h>

#include <cstring>

#include "lib/kernels/ggml_quants/blocks.h"
#include "lib/kernels/ggml_quants/fast.h"
#include "lib/kernels/ggml_quants/half.h"
#include "lib/kernels/ggml_quants/ref.h"

#define QUANTC_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace quantc::kernels::ggml_quants::avx2 {
namespace {

// ---- shared pieces ---------------------------------------------------------------------------

QUANTC_AVX2 inline float HalfToFloat(uint16_t h) { return _cvtsh_ss(h); }

// The 8 int8 codes in the low 64 bits of `codes`, times d, to y[0..8).
QUANTC_AVX2 inline void StoreScaled8(__m128i codes, __m256 d, float* y) {
  const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(codes));
  _mm256_storeu_ps(y, _mm256_mul_ps(q, d));
}

// 16 int8 codes times d, to y[0..16).
QUANTC_AVX2 inline void StoreScaled16(__m128i codes, __m256 d, float* y) {
  StoreScaled8(codes, d, y);
  StoreScaled8(_mm_unpackhi_epi64(codes, codes), d, y + 8);
}

// (q * d) + m for 8 uint8 codes: two roundings, as ref.
QUANTC_AVX2 inline void StoreAffine8(__m128i codes, __m256 d, __m256 m, float* y) {
  const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(codes));
  _mm256_storeu_ps(y, _mm256_add_ps(_mm256_mul_ps(q, d), m));
}

QUANTC_AVX2 inline void StoreAffine16(__m128i codes, __m256 d, __m256 m, float* y) {
  StoreAffine8(codes, d, m, y);
  StoreAffine8(_mm_unpackhi_epi64(codes, codes), d, m, y + 8);
}

// A block's 16 bytes of nibbles as codes in element order: low nibbles are elements 0..15,
// high nibbles 16..31.
struct Nibbles {
  __m128i low;
  __m128i high;
};
QUANTC_AVX2 inline Nibbles SplitNibbles(const uint8_t* qs) {
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i mask = _mm_set1_epi8(0x0F);
  return {_mm_and_si128(bytes, mask), _mm_and_si128(_mm_srli_epi16(bytes, 4), mask)};
}

// 5-bit codes of a Q5 block in element order (32 bytes): nibbles | (bit j of qh) << 4.
QUANTC_AVX2 inline __m256i FiveBitCodes(const uint8_t* qs, const uint8_t* qh) {
  uint32_t high;
  std::memcpy(&high, qh, sizeof(high));
  // Byte j of `spread` is byte j / 8 of qh; then test bit j % 8 of it.
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(high)),
      _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  //
                       2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  const __m256i is_set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
  const Nibbles nib = SplitNibbles(qs);
  const __m256i low4 = _mm256_set_m128i(nib.high, nib.low);
  return _mm256_or_si256(low4, _mm256_and_si256(is_set, _mm256_set1_epi8(0x10)));
}

// Nibble codes of a block looked up in a 16-entry int8 table (IQ4 levels, MXFP4 values), times d.
QUANTC_AVX2 inline void StoreTableBlock(const uint8_t* qs, __m128i table, __m256 d, float* y) {
  const Nibbles nib = SplitNibbles(qs);
  StoreScaled16(_mm_shuffle_epi8(table, nib.low), d, y);
  StoreScaled16(_mm_shuffle_epi8(table, nib.high), d, y + kQK / 2);
}

}  // namespace

// ---- decoders --------------------------------------------------------------------------------

QUANTC_AVX2 void DequantizeRowQ4_0(const void* src, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ4_0*>(src);
  const __m128i eight = _mm_set1_epi8(8);
  for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    const __m256 d = _mm256_set1_ps(HalfToFloat(blocks[b].d));
    const Nibbles nib = SplitNibbles(blocks[b].qs);
    StoreScaled16(_mm_sub_epi8(nib.low, eight), d, y);
    StoreScaled16(_mm_sub_epi8(nib.high, eight), d, y + kQK / 2);
  }
}

QUANTC_AVX2 void DequantizeRowQ4_1(const void* src, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ4_1*>(src);
  for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    const __m256 d = _mm256_set1_ps(HalfToFloat(blocks[b].d));
    const __m256 m = _mm256_set1_ps(HalfToFloat(blocks[b].m));
    const Nibbles nib = SplitNibbles(blocks[b].qs);
    StoreAffine16(nib.low, d, m, y);
    StoreAffine16(nib.high, d, m, y + kQK / 2);
  }
}

QUANTC_AVX2 void DequantizeRowQ5_0(const void* src, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ5_0*>(src);
  for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    const __m256 d = _mm256_set1_ps(HalfToFloat(blocks[b].d));
    const __m256i q = _mm256_sub_epi8(FiveBitCodes(blocks[b].qs, blocks[b].qh), _mm256_set1_epi8(16));
    StoreScaled16(_mm256_castsi256_si128(q), d, y);
    StoreScaled16(_mm256_extracti128_si256(q, 1), d, y + kQK / 2);
  }
}

QUANTC_AVX2 void DequantizeRowQ5_1(const void* src, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ5_1*>(src);
  for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    const __m256 d = _mm256_set1_ps(HalfToFloat(blocks[b].d));
    const __m256 m = _mm256_set1_ps(HalfToFloat(blocks[b].m));
    const __m256i q = FiveBitCodes(blocks[b].qs, blocks[b].qh);
    StoreAffine16(_mm256_castsi256_si128(q), d, m, y);
    StoreAffine16(_mm256_extracti128_si256(q, 1), d, m, y + kQK / 2);
  }
}

QUANTC_AVX2 void DequantizeRowQ8_0(const void* src, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ8_0*>(src);
  for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    const __m256 d = _mm256_set1_ps(HalfToFloat(blocks[b].d));
    const auto* qs = reinterpret_cast<const __m128i*>(blocks[b].qs);
    StoreScaled16(_mm_loadu_si128(qs), d, y);
    StoreScaled16(_mm_loadu_si128(qs + 1), d, y + kQK / 2);
  }
}

QUANTC_AVX2 void DequantizeRowIQ4_NL(const void* src, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockIQ4_NL*>(src);
  const __m128i levels = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4Values));
  for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    StoreTableBlock(blocks[b].qs, levels, _mm256_set1_ps(HalfToFloat(blocks[b].d)), y);
  }
}

QUANTC_AVX2 void DequantizeRowIQ4_XS(const void* src, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockIQ4_XS*>(src);
  const __m128i levels = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4Values));
  for (int64_t sb = 0; sb < n / kQKK; ++sb) {
    const BlockIQ4_XS& x = blocks[sb];
    const float d = HalfToFloat(x.d);
    for (int ib = 0; ib < kQKK / kQK; ++ib, y += kQK) {
      const int low = (x.scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0F;
      const int code = low | (((x.scales_h >> (2 * ib)) & 3) << 4);
      const float dl = d * static_cast<float>(code - 32);
      StoreTableBlock(x.qs + ib * kQK / 2, levels, _mm256_set1_ps(dl), y);
    }
  }
}

QUANTC_AVX2 void DequantizeRowMXFP4(const void* src, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockMXFP4*>(src);
  const __m128i values = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kMXFP4Values));
  for (int64_t b = 0; b < n / kQK; ++b, y += kQK) {
    StoreTableBlock(blocks[b].qs, values, _mm256_set1_ps(E8M0HalfScale(blocks[b].e)), y);
  }
}

QUANTC_AVX2 void DequantizeRowF16(const void* src, float* y, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(src);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i))));
  }
  for (; i < n; ++i) y[i] = HalfToFloat(h[i]);
}

QUANTC_AVX2 void DequantizeRowBF16(const void* src, float* y, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(src);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i)));
    _mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16)));
  }
  ref::DequantizeRowBF16(h + i, y + i, n - i);
}

// ---- encoders --------------------------------------------------------------------------------

namespace {

// Below this maximum (2^-118) d = amax / 127 may be subnormal and 1/d inexact enough to push
// |x| / d past 127.5; such blocks (and NaN/Inf ones) take ref's path.
constexpr uint32_t kQ8SafeMinBits = (127u - 118u) << 23;
constexpr uint32_t kF32InfBits = 0x7F800000u;

// roundf (half away from zero) of 8 floats of magnitude below 2^23, as int32: truncate
// v + copysign(0.49999997f, v), the largest float below one half. Below a half, the sum stays
// below the next integer (it is at most 2^-25 short of it and rounds down); at exactly a half it
// is 2^-25 short, a tie at the scale of [0.5, 1) that rounds up to even, and closer above.
QUANTC_AVX2 inline __m256i RoundHalfAway(__m256 v) {
  const __m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0f));
  const __m256 almost_half = _mm256_or_ps(sign, _mm256_set1_ps(0x1.fffffep-2f));
  return _mm256_cvttps_epi32(_mm256_add_ps(v, almost_half));
}

// The largest |x| bits of 32 floats (as integers: non-negative floats order like their bits, and
// NaN bits exceed Inf's, so NaN is never hidden).
QUANTC_AVX2 inline __m256i AbsBits(__m256 v) {
  return _mm256_and_si256(_mm256_castps_si256(v), _mm256_set1_epi32(0x7FFFFFFF));
}
QUANTC_AVX2 inline uint32_t AbsMaxBits(__m256 v0, __m256 v1, __m256 v2, __m256 v3) {
  const __m256i m = _mm256_max_epi32(_mm256_max_epi32(AbsBits(v0), AbsBits(v1)),
                                     _mm256_max_epi32(AbsBits(v2), AbsBits(v3)));
  __m128i r = _mm_max_epi32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
  r = _mm_max_epi32(r, _mm_shuffle_epi32(r, _MM_SHUFFLE(1, 0, 3, 2)));
  r = _mm_max_epi32(r, _mm_shuffle_epi32(r, _MM_SHUFFLE(2, 3, 0, 1)));
  return static_cast<uint32_t>(_mm_cvtsi128_si32(r));
}

}  // namespace

QUANTC_AVX2 void QuantizeRowQ8_0(const float* x, void* dst, int64_t n, const float* importance) {
  auto* blocks = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    const __m256 v0 = _mm256_loadu_ps(x);
    const __m256 v1 = _mm256_loadu_ps(x + 8);
    const __m256 v2 = _mm256_loadu_ps(x + 16);
    const __m256 v3 = _mm256_loadu_ps(x + 24);
    const uint32_t amax_bits = AbsMaxBits(v0, v1, v2, v3);
    if (amax_bits >= kF32InfBits || (amax_bits != 0 && amax_bits < kQ8SafeMinBits)) {
      ref::QuantizeRowQ8_0(x, &blocks[b], kQK, importance);
      continue;
    }
    float amax;
    std::memcpy(&amax, &amax_bits, sizeof(amax));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    blocks[b].d = static_cast<uint16_t>(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));  // d is finite
    const __m256 vid = _mm256_set1_ps(id);
    // Pack to int8 (|q| <= 127): the two packs interleave 4-element groups across the 128-bit
    // lanes; the permutation puts them back in order.
    const __m256i q01 = _mm256_packs_epi32(RoundHalfAway(_mm256_mul_ps(v0, vid)),
                                           RoundHalfAway(_mm256_mul_ps(v1, vid)));
    const __m256i q23 = _mm256_packs_epi32(RoundHalfAway(_mm256_mul_ps(v2, vid)),
                                           RoundHalfAway(_mm256_mul_ps(v3, vid)));
    const __m256i ordered = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(q01, q23),
                                                        _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(blocks[b].qs), ordered);
  }
}

QUANTC_AVX2 void QuantizeRowF16(const float* x, void* dst, int64_t n, const float* importance) {
  auto* h = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)) != 0) {
      ref::QuantizeRowF16(x + i, h + i, 8, importance);  // ggml's NaN code differs from F16C's
      continue;
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(h + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
  }
  ref::QuantizeRowF16(x + i, h + i, n - i, importance);
}

namespace {

// ref's F32ToBF16 on 8 floats: round to nearest even on the low 16 bits; NaN keeps its top bits
// with the quiet bit set. Results in the low 16 bits of each lane.
QUANTC_AVX2 inline __m256i ToBF16Lanes(__m256 v) {
  const __m256i bits = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  const __m256i rounded =
      _mm256_srli_epi32(_mm256_add_epi32(bits, _mm256_add_epi32(_mm256_set1_epi32(0x7FFF), lsb)), 16);
  const __m256i nan_code = _mm256_or_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(0x40));
  const __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x7FFFFFFF)),
                                            _mm256_set1_epi32(static_cast<int>(kF32InfBits)));
  return _mm256_blendv_epi8(rounded, nan_code, is_nan);
}

}  // namespace

QUANTC_AVX2 void QuantizeRowBF16(const float* x, void* dst, int64_t n, const float* importance) {
  auto* h = static_cast<uint16_t*>(dst);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i a = ToBF16Lanes(_mm256_loadu_ps(x + i));
    const __m256i b = ToBF16Lanes(_mm256_loadu_ps(x + i + 8));
    // packus works per 128-bit lane: [a0-3 b0-3 | a4-7 b4-7]; reorder the 64-bit quarters.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), _MM_SHUFFLE(3, 1, 2, 0));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(h + i), packed);
  }
  ref::QuantizeRowBF16(x + i, h + i, n - i, importance);
}

}  // namespace quantc::kernels::ggml_quants::avx2
