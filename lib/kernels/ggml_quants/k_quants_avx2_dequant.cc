// AVX2 K-quant decoders, bit-identical to the reference ones (q2_k.cc .. q6_k.cc, after
// llama.cpp 81ff7abe ggml-quants.c dequantize_row_q*_K): each float is ref's product (and
// difference) of the same operands, as separate multiply and subtract instructions (no FMA), so
// the results are the same floats. Codes are widened 16 bytes at a time to int32 and float.
// Every function carries the target attribute, so the library itself needs no -march.
#include <immintrin.h>

#include "lib/kernels/ggml_quants/k_quants_avx2.h"
#include "lib/kernels/ggml_quants/k_quants_common.h"

#define QUANTC_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace quantc::kernels::ggml_quants::avx2 {
namespace {

// y[0..15] = d * q - m for 16 signed byte codes (ref's d1 * q - m1).
QUANTC_AVX2 inline void StoreAffine16(__m128i q, __m256 d, __m256 m, float* y) {
  const __m256 lo = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
  const __m256 hi = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8)));
  _mm256_storeu_ps(y, _mm256_sub_ps(_mm256_mul_ps(d, lo), m));
  _mm256_storeu_ps(y + 8, _mm256_sub_ps(_mm256_mul_ps(d, hi), m));
}

// y[0..15] = d * q for 16 signed byte codes.
QUANTC_AVX2 inline void StoreScaled16(__m128i q, __m256 d, float* y) {
  _mm256_storeu_ps(y, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))));
  _mm256_storeu_ps(y + 8, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8)))));
}

QUANTC_AVX2 inline __m256i Load32(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
QUANTC_AVX2 inline __m256i Bytes(int v) { return _mm256_set1_epi8(static_cast<char>(v)); }
// Bytes shifted right by `shift` bits (16-bit shift, then masked back to the byte's bits).
QUANTC_AVX2 inline __m256i ShiftBits(__m256i v, int shift, int mask) {
  return _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(shift)), Bytes(mask));
}
// 0xFF where (v & bit) != 0.
QUANTC_AVX2 inline __m256i HasBit(__m256i v, int bit) {
  return _mm256_cmpeq_epi8(_mm256_and_si256(v, Bytes(bit)), Bytes(bit));
}

// ---- decoders ---------------------------------------------------------------------------------

QUANTC_AVX2 void DequantizeQ2K(const BlockQ2_K& b, float* y) {
  const float d = GgmlF16ToF32(b.d), min = GgmlF16ToF32(b.dmin);
  int sub = 0;
  for (int h = 0; h < 2; ++h) {
    const __m256i q = Load32(b.qs + 32 * h);
    for (int shift = 0; shift < 8; shift += 2) {
      const __m256i codes = ShiftBits(q, shift, 3);
      for (int half = 0; half < 2; ++half, ++sub, y += 16) {
        const uint8_t sc = b.scales[sub];
        const __m128i part = half ? _mm256_extracti128_si256(codes, 1) : _mm256_castsi256_si128(codes);
        StoreAffine16(part, _mm256_set1_ps(d * (sc & 0xF)), _mm256_set1_ps(min * (sc >> 4)), y);
      }
    }
  }
}

QUANTC_AVX2 void DequantizeQ3K(const BlockQ3_K& b, float* y) {
  const float d_all = GgmlF16ToF32(b.d);
  const __m256i hmask = Load32(b.hmask);
  int sub = 0;
  for (int h = 0; h < 2; ++h) {
    const __m256i q = Load32(b.qs + 32 * h);
    for (int k = 0; k < 4; ++k) {
      // code - 4 unless the high bit is set: low - (high ? 0 : 4).
      const __m256i low = ShiftBits(q, 2 * k, 3);
      const __m256i codes = _mm256_sub_epi8(low, _mm256_andnot_si256(HasBit(hmask, 1 << (4 * h + k)), Bytes(4)));
      for (int half = 0; half < 2; ++half, ++sub, y += 16) {
        const __m128i part = half ? _mm256_extracti128_si256(codes, 1) : _mm256_castsi256_si128(codes);
        StoreScaled16(part, _mm256_set1_ps(d_all * UnpackQ3Scale(sub, b.scales)), y);
      }
    }
  }
}

// Q4_K and Q5_K: 8 sub-blocks of 32, y = d * sc * q - dmin * m.
QUANTC_AVX2 void DequantizeScaleMin(uint16_t d16, uint16_t dmin16, const uint8_t* packed,
                                    const uint8_t* qs, const uint8_t* qh, float* y) {
  const float d = GgmlF16ToF32(d16), min = GgmlF16ToF32(dmin16);
  const __m256i high = qh ? Load32(qh) : _mm256_setzero_si256();
  for (int c = 0; c < 4; ++c, y += 64) {
    const __m256i q = Load32(qs + 32 * c);
    __m256i lo = _mm256_and_si256(q, Bytes(0xF));
    __m256i hi = ShiftBits(q, 4, 0xF);
    if (qh) {  // Q5_K's 5th bits
      lo = _mm256_add_epi8(lo, _mm256_and_si256(HasBit(high, 1 << (2 * c)), Bytes(16)));
      hi = _mm256_add_epi8(hi, _mm256_and_si256(HasBit(high, 2 << (2 * c)), Bytes(16)));
    }
    uint8_t sc, m;
    UnpackScaleMin6(2 * c, packed, &sc, &m);
    const __m256 d1 = _mm256_set1_ps(d * sc), m1 = _mm256_set1_ps(min * m);
    UnpackScaleMin6(2 * c + 1, packed, &sc, &m);
    const __m256 d2 = _mm256_set1_ps(d * sc), m2 = _mm256_set1_ps(min * m);
    StoreAffine16(_mm256_castsi256_si128(lo), d1, m1, y);
    StoreAffine16(_mm256_extracti128_si256(lo, 1), d1, m1, y + 16);
    StoreAffine16(_mm256_castsi256_si128(hi), d2, m2, y + 32);
    StoreAffine16(_mm256_extracti128_si256(hi, 1), d2, m2, y + 48);
  }
}

QUANTC_AVX2 void DequantizeQ6K(const BlockQ6_K& b, float* y) {
  const float d = GgmlF16ToF32(b.d);
  for (int h = 0; h < 2; ++h, y += 128) {
    const __m256i ql0 = Load32(b.ql + 64 * h), ql1 = Load32(b.ql + 64 * h + 32);
    const __m256i qh = Load32(b.qh + 32 * h);
    const int8_t* sc = b.scales + 8 * h;
    // Quarter k: low nibble of ql0/ql1 (k = 0, 1) or high nibble (k = 2, 3), top bits 2k.
    const __m256i low[4] = {_mm256_and_si256(ql0, Bytes(0xF)), _mm256_and_si256(ql1, Bytes(0xF)),
                            ShiftBits(ql0, 4, 0xF), ShiftBits(ql1, 4, 0xF)};
    for (int k = 0; k < 4; ++k) {
      const __m256i top = _mm256_slli_epi16(ShiftBits(qh, 2 * k, 3), 4);  // <= 48: stays in its byte
      const __m256i codes = _mm256_sub_epi8(_mm256_or_si256(low[k], top), Bytes(32));
      // ref: d * sc * q, i.e. (d * sc) * q.
      StoreScaled16(_mm256_castsi256_si128(codes), _mm256_set1_ps(d * sc[2 * k]), y + 32 * k);
      StoreScaled16(_mm256_extracti128_si256(codes, 1), _mm256_set1_ps(d * sc[2 * k + 1]), y + 32 * k + 16);
    }
  }
}

}  // namespace

// The exported functions carry no target attribute (their declarations in the header have none);
// each calls the AVX2 block decoders above.

void DequantizeRowQ2_K(const void* src, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ2_K*>(src);
  for (int64_t b = 0; b < n / kQKK; ++b) DequantizeQ2K(blocks[b], y + b * kQKK);
}

void DequantizeRowQ3_K(const void* src, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ3_K*>(src);
  for (int64_t b = 0; b < n / kQKK; ++b) DequantizeQ3K(blocks[b], y + b * kQKK);
}

void DequantizeRowQ4_K(const void* src, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ4_K*>(src);
  for (int64_t b = 0; b < n / kQKK; ++b) {
    DequantizeScaleMin(blocks[b].d, blocks[b].dmin, blocks[b].scales, blocks[b].qs, nullptr, y + b * kQKK);
  }
}

void DequantizeRowQ5_K(const void* src, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ5_K*>(src);
  for (int64_t b = 0; b < n / kQKK; ++b) {
    DequantizeScaleMin(blocks[b].d, blocks[b].dmin, blocks[b].scales, blocks[b].qs, blocks[b].qh,
                       y + b * kQKK);
  }
}

void DequantizeRowQ6_K(const void* src, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ6_K*>(src);
  for (int64_t b = 0; b < n / kQKK; ++b) DequantizeQ6K(blocks[b], y + b * kQKK);
}

}  // namespace quantc::kernels::ggml_quants::avx2
