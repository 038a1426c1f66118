// AVX2 variants of the dot-product family (dot.h, dot_impl.h). The integer sums use
// maddubs (u8 x s8 -> s16 pairs) and madd (s16 pairs -> s32); every bound is noted where it is
// tight. Each block's exact integer sum then goes through dot_impl.h's scalar float step, so the
// results equal ref:: bit for bit.
#include <immintrin.h>

#include <cstring>

#include "lib/kernels/ggml_quants/dot_impl.h"

#define QC_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace quantc::kernels::ggml_quants::avx2 {
namespace {

QC_AVX2 inline int32_t HorizontalSum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

// Sum of x * y over 32 signed bytes, as 8 s32 lanes. maddubs needs an unsigned left operand: use
// |x| and move x's sign onto y. |x| <= 128 and |y| <= 127 keep each s16 pair within 32512.
QC_AVX2 inline __m256i DotSigned(__m256i x, __m256i y) {
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
  return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
}

// A legacy block's 16 nibble bytes as 32 codes 0..15 in element order (low nibbles first).
QC_AVX2 inline __m256i Nibbles32(const uint8_t* qs) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(b, 4), b);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

QC_AVX2 inline __m256i Load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Quantizes 32 floats with multiplier id: round half to even, saturating packs to int8.
QC_AVX2 inline __m256i RoundToInt8(const float* x, __m256 id) {
  __m256i i[4];
  #pragma GCC unroll 4
  for (int k = 0; k < 4; ++k) {
    const __m256 v = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), id), _MM_FROUND_TO_NEAREST_INT);
    i[k] = _mm256_cvtps_epi32(v);
  }
  // packs interleave 128-bit lanes; the permute restores element order.
  const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i[0], i[1]), _mm256_packs_epi32(i[2], i[3]));
  return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

QC_AVX2 inline float MaxAbs(const float* x, int n) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_setzero_ps();
  for (int k = 0; k < n; k += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + k)));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

}  // namespace

QC_AVX2 void QuantizeActivationsQ8_0(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    const float amax = MaxAbs(x, kQK);
    y[b].d = GgmlF32ToF16(amax / 127.0f);
    const __m256i q = RoundToInt8(x, _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs), q);
  }
}

QC_AVX2 void QuantizeActivationsQ8_K(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_K*>(dst);
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK) {
    // The signed value of largest magnitude, the first one on ties (as the scalar scan).
    const float amax = MaxAbs(x, kQKK);
    std::memset(&y[b], 0, sizeof(BlockQ8_K));
    if (amax == 0.0f) continue;
    float max = amax;
    for (int j = 0; j < kQKK; ++j) {
      if (x[j] == amax || x[j] == -amax) {
        max = x[j];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const __m256 mul = _mm256_set1_ps(iscale);
    for (int j = 0; j < kQKK; j += 32) {
      // |iscale * x| <= 127 up to rounding, so RNE then packing equals min(127, nearest(.)).
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs + j), RoundToInt8(x + j, mul));
    }
    for (int j = 0; j < 16; ++j) {
      int s = 0;
      for (int l = 0; l < 16; ++l) s += y[b].qs[16 * j + l];
      y[b].bsums[j] = static_cast<int16_t>(s);
    }
    y[b].d = 1 / iscale;
  }
}

namespace {

// Calls Kernel<count> for count 1..kMaxDotRows, so each kernel keeps its per-row state in registers.
template <template <int> class Kernel>
QC_AVX2 inline void ForCount(const void* w, const void* a, uint64_t a_stride, int count, int64_t n, float* out) {
  switch (count) {
    case 1: return Kernel<1>::Run(w, a, a_stride, n, out);
    case 2: return Kernel<2>::Run(w, a, a_stride, n, out);
    case 3: return Kernel<3>::Run(w, a, a_stride, n, out);
    default: return Kernel<4>::Run(w, a, a_stride, n, out);
  }
}

template <typename Block>
inline const Block& Row(const void* base, uint64_t stride, int j, int64_t b) {
  return reinterpret_cast<const Block*>(static_cast<const uint8_t*>(base) + j * stride)[b];
}

// ---- Q8_0 activations: 32-element blocks ---------------------------------------------------

// The weight block's 32 signed codes: Q4_0 (q - 8), Q8_0 (q), IQ4_NL (table values).
QC_AVX2 inline __m256i SignedCodes(const BlockQ4_0& x) { return _mm256_sub_epi8(Nibbles32(x.qs), _mm256_set1_epi8(8)); }
QC_AVX2 inline __m256i SignedCodes(const BlockQ8_0& x) { return Load32(x.qs); }
QC_AVX2 inline __m256i SignedCodes(const BlockIQ4_NL& x) {
  const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4Values)));
  return _mm256_shuffle_epi8(table, Nibbles32(x.qs));
}

template <typename Block>
struct Q8_0Dot {
  template <int kCount>
  struct Kernel {
    QC_AVX2 static void Run(const void* w, const void* a, uint64_t a_stride, int64_t n, float* out) {
      const auto* x = static_cast<const Block*>(w);
      float acc[kCount] = {};
      for (int64_t b = 0; b < n / kQK; ++b) {
        const __m256i q = SignedCodes(x[b]);
        const float d = _cvtsh_ss(x[b].d);
        #pragma GCC unroll 4
        for (int j = 0; j < kCount; ++j) {
          const BlockQ8_0& y = Row<BlockQ8_0>(a, a_stride, j, b);
          acc[j] = AddQ8_0Block(acc[j], HorizontalSum(DotSigned(q, Load32(y.qs))), d, _cvtsh_ss(y.d));
        }
      }
      #pragma GCC unroll 4
      for (int j = 0; j < kCount; ++j) out[j] = acc[j];
    }
  };
};

// ---- Q8_K activations: 256-element super-blocks --------------------------------------------

// Q4_K / Q5_K's eight 6-bit scales and mins from their 12 packed bytes, as two 8-byte groups
// (the layout of k_quants_common.h's UnpackScaleMin6, four bytes at a time).
inline void UnpackScalesMins(const uint8_t* packed, uint8_t* scales, uint8_t* mins) {
  uint32_t u[3], s[2], m[2];
  std::memcpy(u, packed, 12);
  s[0] = u[0] & 0x3F3F3F3Fu;
  m[0] = u[1] & 0x3F3F3F3Fu;
  s[1] = (u[2] & 0x0F0F0F0Fu) | (((u[0] >> 6) & 0x03030303u) << 4);
  m[1] = ((u[2] >> 4) & 0x0F0F0F0Fu) | (((u[1] >> 6) & 0x03030303u) << 4);
  std::memcpy(scales, s, 8);
  std::memcpy(mins, m, 8);
}

// sum_j mins[j] * (bsums[2j] + bsums[2j + 1]): madd of the 16 sums with each min doubled.
QC_AVX2 inline int32_t MinSumSimd(const uint8_t* mins, const BlockQ8_K& y) {
  const __m128i m8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(mins));
  const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
  return HorizontalSum(_mm256_madd_epi16(Load32(y.bsums), m16));
}

// sum_j scales[j] * <q_j, a_j> over Q4_K/Q5_K's 8 sub-blocks of 32, for kCount activation rows.
// Codes <= 31 and |a| <= 127 keep maddubs pairs within 7874.
template <bool kFifthBit, int kCount>
QC_AVX2 inline void KMinSums(const uint8_t* qs, const uint8_t* qh, const uint8_t* scales,
                             const int8_t* const* acts, int32_t* isum) {
  const __m256i low4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
  __m256i sum[kCount];
  #pragma GCC unroll 4
  for (int j = 0; j < kCount; ++j) sum[j] = _mm256_setzero_si256();
  const __m256i high = kFifthBit ? Load32(qh) : _mm256_setzero_si256();
  #pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {  // chunk c: sub-blocks 2c (low nibbles) and 2c + 1 (high)
    const __m256i bytes = Load32(qs + 32 * c);
    __m256i q0 = _mm256_and_si256(bytes, low4);
    __m256i q1 = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low4);
    if (kFifthBit) {
      q0 = _mm256_or_si256(q0, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 2 * c), one), 4));
      q1 = _mm256_or_si256(q1, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 2 * c + 1), one), 4));
    }
    const __m256i s0 = _mm256_set1_epi16(scales[2 * c]), s1 = _mm256_set1_epi16(scales[2 * c + 1]);
    #pragma GCC unroll 4
    for (int j = 0; j < kCount; ++j) {
      const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(q0, Load32(acts[j] + 64 * c)), s0);
      const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(q1, Load32(acts[j] + 64 * c + 32)), s1);
      sum[j] = _mm256_add_epi32(sum[j], _mm256_add_epi32(p0, p1));
    }
  }
  #pragma GCC unroll 4
  for (int j = 0; j < kCount; ++j) isum[j] = HorizontalSum(sum[j]);
}

template <typename Block, bool kFifthBit>
struct KMinDot {
  template <int kCount>
  struct Kernel {
    QC_AVX2 static void Run(const void* w, const void* a, uint64_t a_stride, int64_t n, float* out) {
      const auto* x = static_cast<const Block*>(w);
      float acc[kCount] = {};
      for (int64_t b = 0; b < n / kQKK; ++b) {
        uint8_t scales[8], mins[8];
        UnpackScalesMins(x[b].scales, scales, mins);
        const int8_t* acts[kCount];
        #pragma GCC unroll 4
        for (int j = 0; j < kCount; ++j) acts[j] = Row<BlockQ8_K>(a, a_stride, j, b).qs;
        const uint8_t* qh = nullptr;
        if constexpr (kFifthBit) qh = x[b].qh;
        int32_t isum[kCount];
        KMinSums<kFifthBit, kCount>(x[b].qs, qh, scales, acts, isum);
        const float d = _cvtsh_ss(x[b].d), dmin = _cvtsh_ss(x[b].dmin);
        #pragma GCC unroll 4
        for (int j = 0; j < kCount; ++j) {
          const BlockQ8_K& y = Row<BlockQ8_K>(a, a_stride, j, b);
          acc[j] = AddKMinBlock(acc[j], isum[j], MinSumSimd(mins, y), d, dmin, y.d);
        }
      }
      #pragma GCC unroll 4
      for (int j = 0; j < kCount; ++j) out[j] = acc[j];
    }
  };
};

template <int kCount>
struct Q6_KDot {
  QC_AVX2 static void Run(const void* w, const void* a, uint64_t a_stride, int64_t n, float* out) {
    const auto* x = static_cast<const BlockQ6_K*>(w);
    const __m256i low4 = _mm256_set1_epi8(0x0F), two = _mm256_set1_epi8(3), offset = _mm256_set1_epi8(32);
    float acc[kCount] = {};
    for (int64_t b = 0; b < n / kQKK; ++b) {
      __m256i sum[kCount];
      #pragma GCC unroll 4
      for (int j = 0; j < kCount; ++j) sum[j] = _mm256_setzero_si256();
      #pragma GCC unroll 4
      for (int h = 0; h < 2; ++h) {  // halves of 128: ql[64h..], qh[32h..]
        const __m256i l0 = Load32(x[b].ql + 64 * h), l1 = Load32(x[b].ql + 64 * h + 32);
        const __m256i hb = Load32(x[b].qh + 32 * h);
        const __m256i q[4] = {
            _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_slli_epi16(_mm256_and_si256(hb, two), 4)),
            _mm256_or_si256(_mm256_and_si256(l1, low4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), two), 4)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), two), 4)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                            _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), two), 4)),
        };
        #pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {  // elements 128h + 32k .. +31: scales 8h + 2k and + 1
          const int8_t* sc = x[b].scales + 8 * h + 2 * k;
          const __m256i scale = _mm256_set_m128i(_mm_set1_epi16(sc[1]), _mm_set1_epi16(sc[0]));
          #pragma GCC unroll 4
          for (int j = 0; j < kCount; ++j) {
            const __m256i act = Load32(Row<BlockQ8_K>(a, a_stride, j, b).qs + 128 * h + 32 * k);
            // (q - 32) * a as q * a - 32 * a: pairs within 16002 and 8128, difference within 24130.
            const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q[k], act), _mm256_maddubs_epi16(offset, act));
            sum[j] = _mm256_add_epi32(sum[j], _mm256_madd_epi16(p, scale));
          }
        }
      }
      const float d = _cvtsh_ss(x[b].d);
      #pragma GCC unroll 4
      for (int j = 0; j < kCount; ++j) {
        acc[j] = AddKBlock(acc[j], HorizontalSum(sum[j]), d, Row<BlockQ8_K>(a, a_stride, j, b).d);
      }
    }
    #pragma GCC unroll 4
    for (int j = 0; j < kCount; ++j) out[j] = acc[j];
  }
};

template <int kCount>
using Q4_0Kernel = Q8_0Dot<BlockQ4_0>::Kernel<kCount>;
template <int kCount>
using Q8_0Kernel = Q8_0Dot<BlockQ8_0>::Kernel<kCount>;
template <int kCount>
using IQ4_NLKernel = Q8_0Dot<BlockIQ4_NL>::Kernel<kCount>;
template <int kCount>
using Q4_KKernel = KMinDot<BlockQ4_K, false>::Kernel<kCount>;
template <int kCount>
using Q5_KKernel = KMinDot<BlockQ5_K, true>::Kernel<kCount>;
template <int kCount>
using Q6_KKernel = Q6_KDot<kCount>;

}  // namespace

#define QC_DOT(T, K)                                                                                \
  QC_AVX2 void VecDot##T(const void* w, const void* a, uint64_t a_stride, int count, int64_t n, float* out) { \
    ForCount<K>(w, a, a_stride, count, n, out);                                                     \
  }
QC_DOT(Q4_0, Q4_0Kernel)
QC_DOT(Q8_0, Q8_0Kernel)
QC_DOT(IQ4_NL, IQ4_NLKernel)
QC_DOT(Q4_K, Q4_KKernel)
QC_DOT(Q5_K, Q5_KKernel)
QC_DOT(Q6_K, Q6_KKernel)
#undef QC_DOT

}  // namespace quantc::kernels::ggml_quants::avx2
