// Pieces shared by the K-quant kernels (q2_k.cc .. q6_k.cc and k_quants_avx2.cc): the code and
// scale layouts (ggml get_scale_min_k4 and friends), and the super-block steps that follow the
// per-sub-block scale searches (ggml-quants.c at llama.cpp 81ff7abe, quantize_row_q*_K_ref /
// _impl), so the reference and AVX2 quantizers share them. Internal to the family: callers
// outside lib/kernels/ggml_quants use quants.h.
#pragma once

#include <cstdint>

#include "lib/kernels/ggml_quants/half.h"
#include "lib/kernels/ggml_quants/blocks.h"

namespace quantc::kernels::ggml_quants {

// ---- Q4_K / Q5_K 6-bit scale and min codes in 12 bytes -------------------------------------
// Sub-blocks 0..3: bytes j (scale) and j + 4 (min), low 6 bits. Sub-blocks 4..7: low nibbles of
// scale and min in byte j + 4, the top 2 bits in bits 6..7 of bytes j - 4 (scale) and j (min).

// Decodes sub-block j's (scale, min) codes (ggml get_scale_min_k4).
inline void UnpackScaleMin6(int j, const uint8_t* packed, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = packed[j] & 63;
    *min = packed[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
  }
}

// Packs eight (scale, min) codes. Codes are expected in 0..63; like ggml, wider values are not
// masked for sub-blocks 0..3, so their stray bits land where ggml's do.
inline void PackScaleMin6(const uint8_t* scales, const uint8_t* mins, uint8_t* packed) {
  for (int j = 0; j < 4; ++j) {
    packed[j] = scales[j];
    packed[j + 4] = mins[j];
  }
  for (int j = 4; j < 8; ++j) {
    packed[j + 4] = static_cast<uint8_t>((scales[j] & 0xF) | ((mins[j] & 0xF) << 4));
    packed[j - 4] |= static_cast<uint8_t>((scales[j] >> 4) << 6);
    packed[j] |= static_cast<uint8_t>((mins[j] >> 4) << 6);
  }
}

// ---- Q3_K 6-bit scale codes (stored +32) in 12 bytes ---------------------------------------
// Low nibbles: sub-block j < 8 in the low nibble of byte j, j >= 8 in the high nibble of byte
// j - 8. Top 2 bits: bits 2 * (j / 4) of byte 8 + j % 4.

// Packs sixteen codes in 0..63.
inline void PackQ3Scales(const int* codes, uint8_t* packed) {
  for (int i = 0; i < 12; ++i) packed[i] = 0;
  for (int j = 0; j < 16; ++j) {
    const int l = codes[j];
    if (j < 8) {
      packed[j] = static_cast<uint8_t>(l & 0xF);
    } else {
      packed[j - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
    }
    packed[j % 4 + 8] |= static_cast<uint8_t>((l >> 4) << (2 * (j / 4)));
  }
}

// Sub-block j's signed scale (code - 32), -32..31.
inline int UnpackQ3Scale(int j, const uint8_t* packed) {
  const int low = j < 8 ? packed[j] & 0xF : packed[j - 8] >> 4;
  const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (low | (high << 4)) - 32;
}

// ---- Q2_K / Q3_K 2-bit codes -----------------------------------------------------------------
// Each half of 128 weights: element 32k + l goes to bits 2k..2k+1 of byte l of its 32 bytes.
inline void PackQuarters2(const uint8_t* codes, uint8_t* qs) {
  for (int h = 0; h < kQKK; h += 128) {
    for (int l = 0; l < 32; ++l) {
      qs[h / 4 + l] = static_cast<uint8_t>(codes[h + l] | (codes[h + l + 32] << 2) |
                                           (codes[h + l + 64] << 4) | (codes[h + l + 96] << 6));
    }
  }
}

// ---- Q4_K / Q5_K / Q6_K code layouts ---------------------------------------------------------

// Q4_K: in chunk c of 64 weights, low nibbles hold sub-block 2c, high nibbles sub-block 2c + 1.
inline void PackNibbles(const uint8_t* codes, uint8_t* qs) {
  for (int c = 0; c < kQKK; c += 64) {
    for (int l = 0; l < 32; ++l) {
      qs[c / 2 + l] = static_cast<uint8_t>(codes[c + l] | (codes[c + l + 32] << 4));
    }
  }
}

// Q5_K: low 4 bits as Q4_K; the 5th bit of element 64c + l in bit 2c of qh[l], of element
// 64c + 32 + l in bit 2c + 1.
inline void PackQ5(const uint8_t* codes, uint8_t* qh, uint8_t* qs) {
  for (int l = 0; l < 32; ++l) qh[l] = 0;
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      const int lo = codes[64 * c + l], hi = codes[64 * c + l + 32];
      qh[l] |= static_cast<uint8_t>(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
      qs[32 * c + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
    }
  }
}

// Q6_K codes 0..63: in each 128-weight half, element 32k + l (k = 0..3) puts its low nibble in
// ql[l + 32 * (k & 1)] (high nibble when k >= 2) and its top 2 bits in bits 2k..2k+1 of qh[l].
inline void PackQ6(const int8_t* codes, uint8_t* ql_all, uint8_t* qh_all) {
  for (int h = 0; h < 2; ++h) {
    const int8_t* c = codes + 128 * h;
    uint8_t* ql = ql_all + 64 * h;
    uint8_t* qh = qh_all + 32 * h;
    for (int l = 0; l < 32; ++l) {
      ql[l] = static_cast<uint8_t>((c[l] & 0xF) | ((c[l + 64] & 0xF) << 4));
      ql[l + 32] = static_cast<uint8_t>((c[l + 32] & 0xF) | ((c[l + 96] & 0xF) << 4));
      qh[l] = static_cast<uint8_t>((c[l] >> 4) | ((c[l + 32] >> 4) << 2) | ((c[l + 64] >> 4) << 4) |
                                   ((c[l + 96] >> 4) << 6));
    }
  }
}

// ---- Q4_K / Q5_K super-block steps -----------------------------------------------------------

// Parameters of the per-sub-block FitScaleMin search.
struct ScaleMinSearch {
  int nmax;      // largest code (15 or 31)
  float rmin;    // first grid offset, in codes
  float rdelta;  // grid step, in codes
  int nstep;     // grid steps after the first
  bool use_mad = false;  // absolute instead of squared error
};

// Without importance: quantize_row_q4_K_ref's / quantize_row_q5_K_ref's make_qkx2_quants grids
// (weights av_x + |x|, squared error).
inline constexpr ScaleMinSearch kQ4KSearch = {15, -1.f, 0.1f, 20};
inline constexpr ScaleMinSearch kQ5KSearch = {31, -0.5f, 0.1f, 15};
// quantize_row_q2_K_ref's make_qkx2_quants grid (weights |x|, mean absolute error).
inline constexpr ScaleMinSearch kQ2KSearch = {3, -0.5f, 0.1f, 15, true};
// With importance: the _impl functions' make_qkx3_quants grid (Q2_K's too).
constexpr ScaleMinSearch ImportanceSearch(int nmax) { return {nmax, -0.9f, 0.05f, 36}; }

// Without importance (quantize_row_q{4,5}_K_ref): weights av_x + |x| per sub-block of 32, where
// av_x is the sub-block's RMS. Writes 8 scales, 8 negated mins and 256 codes.
void FitScaleMinSubBlocks(const float* x, const ScaleMinSearch& search, float* scales, float* mins,
                          uint8_t* L);

// With importance (quantize_row_q{4,5}_K_impl): weights importance * sqrt(sigma2 + x^2), sigma2 =
// 2 * mean(x^2) over the super-block, FitScaleMinWeighted with the imatrix grid. Also writes the
// weight sums per sub-block (`sums`), which weight the second-level fits.
void FitScaleMinSubBlocksImportance(const float* x, const float* importance, int nmax,
                                    float* scales, float* mins, float* sums, uint8_t* L);

// Second level without importance: scale and min codes on a 63-step grid up to their maxima;
// fills d, dmin and the packed codes.
void EncodeScaleMinByMax(const float* scales, const float* mins, uint16_t* d, uint16_t* dmin,
                         uint8_t* packed);

// Second level with importance: FitPositive on the scales and on the mins, weighted by `sums`.
// clamp63 repeats Q5_K's MIN(63, code) (Q4_K has none; it only matters for wrapped codes).
void EncodeScaleMinFitted(const float* scales, const float* mins, const float* sums, bool clamp63,
                          uint16_t* d, uint16_t* dmin, uint8_t* packed);

// Re-derives every code from the stored (fp16-rounded) scales: q = round((x + dmin*m) / (d*sc))
// clamped to 0..nmax. Sub-blocks whose scale decodes to 0 keep their codes from the search.
void RequantizeScaleMin(const float* x, uint16_t d, uint16_t dmin, const uint8_t* packed, int nmax,
                        uint8_t* L);

// ---- Q2_K / Q3_K super-block steps (after the per-sub-block fits) -----------------------------

// Q2_K second level without importance (quantize_row_q2_K_ref): 4-bit scale and min codes on a
// 15-step grid up to their maxima; fills d, dmin and scales.
void EncodeQ2KByMax(const float* scales, const float* mins, BlockQ2_K& y);
// With importance (quantize_row_q2_K_impl): FitPositive on the scales and on the mins, weighted
// by the sub-blocks' weight sums.
void EncodeQ2KFitted(const float* scales, const float* mins, const float* sums, BlockQ2_K& y);
// Re-derives the codes from y's stored scales (q = round((x + dmin*m) / (d*sc)) in 0..3; zero-scale
// sub-blocks keep their search codes in L) and packs them into y.qs.
void FinishQ2K(const float* x, uint8_t* L, BlockQ2_K& y);

// Q3_K second level without importance (quantize_row_q3_K_ref): the signed scale of largest
// magnitude maps to code -32; fills d and scales.
void EncodeQ3KByMax(const float* scales, BlockQ3_K& y);
// With importance (quantize_row_q3_K_impl): a weighted symmetric fit of the 16 scales onto -32..31.
void EncodeQ3KFitted(const float* scales, const float* sums, BlockQ3_K& y);
// Re-derives the codes from y's stored scales (q = round(x / (d*sc)) in -4..3, stored +4;
// zero-scale sub-blocks keep their search codes in L), then fills hmask and qs.
void FinishQ3K(const float* x, int8_t* L, BlockQ3_K& y);

}  // namespace quantc::kernels::ggml_quants
