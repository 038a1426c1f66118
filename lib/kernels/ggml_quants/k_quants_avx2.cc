// AVX2 K-quant quantizers, bit-identical to the reference ones (q2_k.cc .. q6_k.cc, after
// llama.cpp 81ff7abe ggml-quants.c). A super-block's sub-blocks are independent through the
// scale search, which is where the time goes: SIMD lane j runs sub-block j's search with ref's
// exact operation sequence (same adds in the same order, IEEE division and square root,
// nearest_int's 1.5 * 2^23 trick on the float bits); branches become per-lane blends. The cheap
// second level (scale codes) reuses the scalar code of k_quants_common.h. Decoders are in
// k_quants_avx2_dequant.cc.
// Every function carries the target attribute, so the library itself needs no -march.
#include "lib/kernels/ggml_quants/k_quants_avx2.h"

#include <cpuid.h>
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "lib/kernels/ggml_quants/k_quants_common.h"
#include "lib/kernels/ggml_quants/scale_search.h"

#define QUANTC_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace quantc::kernels::ggml_quants::avx2 {
namespace {

// ---- helpers ----------------------------------------------------------------------------------

QUANTC_AVX2 inline __m256 Abs(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.f), v); }
QUANTC_AVX2 inline __m256 Neg(__m256 v) { return _mm256_xor_ps(_mm256_set1_ps(-0.f), v); }
QUANTC_AVX2 inline __m256 Gt(__m256 a, __m256 b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
QUANTC_AVX2 inline __m256 Lt(__m256 a, __m256 b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
// Per lane: mask ? b : a.
QUANTC_AVX2 inline __m256 Select(__m256 mask, __m256 a, __m256 b) { return _mm256_blendv_ps(a, b, mask); }

// NearestInt per lane (round half to even through the float bits, as scale_search.cc).
QUANTC_AVX2 inline __m256i NearestIntLanes(__m256 v) {
  const __m256i bits = _mm256_castps_si256(_mm256_add_ps(v, _mm256_set1_ps(12582912.f)));
  return _mm256_sub_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)),
                          _mm256_set1_epi32(0x00400000));
}

// round(v) clamped to [lo, hi], as float (exact: small integers).
QUANTC_AVX2 inline __m256 Code(__m256 v, int lo, int hi) {
  const __m256i l = _mm256_min_epi32(_mm256_max_epi32(NearestIntLanes(v), _mm256_set1_epi32(lo)),
                                     _mm256_set1_epi32(hi));
  return _mm256_cvtepi32_ps(l);
}

// Lane j <- p[j * stride]: one element of each of 8 sub-blocks.
QUANTC_AVX2 inline __m256 GatherStrided(const float* p, int stride) {
  const __m256i index = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                           _mm256_set1_epi32(stride));
  return _mm256_i32gather_ps(p, index, 4);
}

// 32 codes (four vectors of 8 small integer floats) -> 32 bytes in order.
QUANTC_AVX2 inline void StoreCodes32(const __m256* codes, uint8_t* out) {
  const __m256i c01 = _mm256_packs_epi32(_mm256_cvtps_epi32(codes[0]), _mm256_cvtps_epi32(codes[1]));
  const __m256i c23 = _mm256_packs_epi32(_mm256_cvtps_epi32(codes[2]), _mm256_cvtps_epi32(codes[3]));
  // packs interleave per 128-bit lane: undo with a dword permutation.
  const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(c01, c23),
                                                    _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), bytes);
}

// ---- lane-parallel scale searches -------------------------------------------------------------

// ref's error term of one element: |diff| or diff^2.
template <bool kUseMad>
QUANTC_AVX2 inline __m256 ErrorOf(__m256 diff) {
  return kUseMad ? Abs(diff) : _mm256_mul_ps(diff, diff);
}

// FitScaleMin (make_qkx2/qkx3_quants) over n weights for 8 sub-blocks at once: x[i] and w[i]
// hold element i of each sub-block. Writes codes L[i] (as floats), the scales and -min.
template <int n, bool kUseMad>
QUANTC_AVX2 void FitScaleMinLanes(const __m256* x, const __m256* w, const ScaleMinSearch& s,
                                  __m256* L, __m256* scale_out, __m256* neg_min_out) {
  const __m256 zero = _mm256_setzero_ps();
  __m256 min = x[0], max = x[0];
  __m256 sum_w = w[0];
  __m256 sum_x = _mm256_mul_ps(sum_w, x[0]);
  for (int i = 1; i < n; ++i) {
    min = _mm256_min_ps(x[i], min);  // x < min ? x : min, as ref's if
    max = _mm256_max_ps(x[i], max);
    sum_w = _mm256_add_ps(sum_w, w[i]);
    sum_x = _mm256_add_ps(sum_x, _mm256_mul_ps(w[i], x[i]));
  }
  min = Select(Gt(min, zero), min, zero);
  const __m256 constant = _mm256_cmp_ps(max, min, _CMP_LE_OQ);  // ref returns early for these
  const __m256 first_min = min;

  __m256 iscale = _mm256_div_ps(_mm256_set1_ps(static_cast<float>(s.nmax)), _mm256_sub_ps(max, min));
  __m256 scale = _mm256_div_ps(_mm256_set1_ps(1.f), iscale);
  __m256 best = zero;
  for (int i = 0; i < n; ++i) {
    L[i] = Code(_mm256_mul_ps(iscale, _mm256_sub_ps(x[i], min)), 0, s.nmax);
    const __m256 diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(scale, L[i]), min), x[i]);
    best = _mm256_add_ps(best, _mm256_mul_ps(w[i], ErrorOf<kUseMad>(diff)));
  }
  __m256 aux[n];
  for (int is = 0; is <= s.nstep && s.nstep >= 1; ++is) {
    const float grid = s.rmin + s.rdelta * static_cast<float>(is) + static_cast<float>(s.nmax);
    // As in ref, `min` is the best fit's so far: an accepted grid moves the later ones.
    iscale = _mm256_div_ps(_mm256_set1_ps(grid), _mm256_sub_ps(max, min));
    __m256 sum_l = zero, sum_l2 = zero, sum_xl = zero;
    for (int i = 0; i < n; ++i) {
      aux[i] = Code(_mm256_mul_ps(iscale, _mm256_sub_ps(x[i], min)), 0, s.nmax);
      const __m256 wl = _mm256_mul_ps(w[i], aux[i]);
      sum_l = _mm256_add_ps(sum_l, wl);
      sum_l2 = _mm256_add_ps(sum_l2, _mm256_mul_ps(wl, aux[i]));
      sum_xl = _mm256_add_ps(sum_xl, _mm256_mul_ps(wl, x[i]));
    }
    const __m256 det = _mm256_sub_ps(_mm256_mul_ps(sum_w, sum_l2), _mm256_mul_ps(sum_l, sum_l));
    __m256 this_scale = _mm256_div_ps(
        _mm256_sub_ps(_mm256_mul_ps(sum_w, sum_xl), _mm256_mul_ps(sum_x, sum_l)), det);
    __m256 this_min = _mm256_div_ps(
        _mm256_sub_ps(_mm256_mul_ps(sum_l2, sum_x), _mm256_mul_ps(sum_l, sum_xl)), det);
    const __m256 positive = Gt(this_min, zero);
    this_min = Select(positive, this_min, zero);
    this_scale = Select(positive, this_scale, _mm256_div_ps(sum_xl, sum_l2));
    __m256 error = zero;
    for (int i = 0; i < n; ++i) {
      const __m256 diff =
          _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(this_scale, aux[i]), this_min), x[i]);
      error = _mm256_add_ps(error, _mm256_mul_ps(w[i], ErrorOf<kUseMad>(diff)));
    }
    const __m256 better = _mm256_and_ps(Gt(det, zero), Lt(error, best));
    if (_mm256_movemask_ps(better) == 0) continue;
    for (int i = 0; i < n; ++i) L[i] = Select(better, L[i], aux[i]);
    best = Select(better, best, error);
    scale = Select(better, scale, this_scale);
    min = Select(better, min, this_min);
  }
  for (int i = 0; i < n; ++i) L[i] = _mm256_andnot_ps(constant, L[i]);
  *scale_out = _mm256_andnot_ps(constant, scale);
  *neg_min_out = Neg(Select(constant, min, first_min));
}

// For one grid of FitSymmetric: sum w * x * l and sum w * l^2 in ref's order.
QUANTC_AVX2 inline void SymmetricSums(const __m256* x, const __m256* w, int n, int nmax,
                                      __m256 iscale, __m256* sumlx, __m256* suml2) {
  *sumlx = *suml2 = _mm256_setzero_ps();
  for (int i = 0; i < n; ++i) {
    const __m256 l = Code(_mm256_mul_ps(iscale, x[i]), -nmax, nmax - 1);
    *sumlx = _mm256_add_ps(*sumlx, _mm256_mul_ps(_mm256_mul_ps(w[i], x[i]), l));
    *suml2 = _mm256_add_ps(*suml2, _mm256_mul_ps(_mm256_mul_ps(w[i], l), l));
  }
}

// Per lane, the largest |x| over n values and the signed value holding it (the first on ties),
// as ref's scan keeps them.
QUANTC_AVX2 void LargestMagnitudeLanes(const __m256* x, int n, __m256* amax_out, __m256* max_out) {
  __m256 amax = _mm256_setzero_ps(), max = _mm256_setzero_ps();
  for (int i = 0; i < n; ++i) {
    const __m256 ax = Abs(x[i]);
    const __m256 larger = Gt(ax, amax);
    amax = Select(larger, amax, ax);
    max = Select(larger, max, x[i]);
  }
  *amax_out = amax;
  *max_out = max;
}

// FitSymmetric (make_qx_quants, rmse_type 1) over 16 weights for 8 sub-blocks at once, with
// weights w. The codes of the best grid are recomputed from its inverse scale at the end, which
// gives ref's codes (ref recomputes them on each improvement). Writes codes + nmax as floats.
QUANTC_AVX2 void FitSymmetricLanes(const __m256* x, const __m256* w, int nmax, __m256* L,
                                   __m256* scale_out) {
  constexpr int n = 16;
  const __m256 zero = _mm256_setzero_ps();
  __m256 amax, max;
  LargestMagnitudeLanes(x, n, &amax, &max);
  const __m256 all_zero = Lt(amax, _mm256_set1_ps(kGroupMaxEps));
  __m256 best_iscale = _mm256_div_ps(_mm256_set1_ps(static_cast<float>(-nmax)), max);
  __m256 sumlx, suml2;
  SymmetricSums(x, w, n, nmax, best_iscale, &sumlx, &suml2);
  __m256 scale = Select(_mm256_cmp_ps(suml2, zero, _CMP_NEQ_UQ), zero, _mm256_div_ps(sumlx, suml2));
  __m256 best = _mm256_mul_ps(scale, sumlx);
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    const float grid = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(is));
    const __m256 iscale = _mm256_div_ps(_mm256_set1_ps(grid), max);
    SymmetricSums(x, w, n, nmax, iscale, &sumlx, &suml2);
    const __m256 better =
        _mm256_and_ps(Gt(suml2, zero), Gt(_mm256_mul_ps(sumlx, sumlx), _mm256_mul_ps(best, suml2)));
    if (_mm256_movemask_ps(better) == 0) continue;
    const __m256 this_scale = _mm256_div_ps(sumlx, suml2);
    best_iscale = Select(better, best_iscale, iscale);
    scale = Select(better, scale, this_scale);
    best = Select(better, best, _mm256_mul_ps(this_scale, sumlx));
  }
  const __m256 offset = _mm256_set1_ps(static_cast<float>(nmax));
  for (int i = 0; i < n; ++i) {
    const __m256 l = _mm256_add_ps(Code(_mm256_mul_ps(best_iscale, x[i]), -nmax, nmax - 1), offset);
    L[i] = _mm256_andnot_ps(all_zero, l);
  }
  *scale_out = _mm256_andnot_ps(all_zero, scale);
}

// FitSymmetricIterative (make_q3_quants with do_rmse) over 16 weights for 8 sub-blocks at once.
// The coordinate descent is per lane; a lane whose pass changed nothing would change nothing in
// later passes either (same state), so running every lane until all have settled (at most 5
// passes, as ref) gives ref's codes. Writes codes + nmax as floats.
QUANTC_AVX2 void FitSymmetricIterativeLanes(const __m256* x, int nmax, __m256* L, __m256* scale_out) {
  constexpr int n = 16;
  const __m256 zero = _mm256_setzero_ps();
  __m256 amax, max;
  LargestMagnitudeLanes(x, n, &amax, &max);
  const __m256 all_zero = Lt(amax, _mm256_set1_ps(kGroupMaxEps));
  const __m256 iscale = _mm256_div_ps(_mm256_set1_ps(static_cast<float>(-nmax)), max);
  __m256 wx[n], sumlx = zero, suml2 = zero;
  for (int i = 0; i < n; ++i) {
    L[i] = Code(_mm256_mul_ps(iscale, x[i]), -nmax, nmax - 1);
    const __m256 w = _mm256_mul_ps(x[i], x[i]);
    wx[i] = _mm256_mul_ps(w, x[i]);
    sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(wx[i], L[i]));
    suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(w, L[i]), L[i]));
  }
  for (int itry = 0; itry < 5; ++itry) {
    __m256 changed = zero;
    for (int i = 0; i < n; ++i) {
      const __m256 w = _mm256_mul_ps(x[i], x[i]);
      __m256 slx = _mm256_sub_ps(sumlx, _mm256_mul_ps(wx[i], L[i]));
      __m256 sl2 = _mm256_sub_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(w, L[i]), L[i]));
      const __m256 new_l = Code(_mm256_div_ps(_mm256_mul_ps(x[i], sl2), slx), -nmax, nmax - 1);
      const __m256 try_it = _mm256_and_ps(Gt(slx, zero), _mm256_cmp_ps(new_l, L[i], _CMP_NEQ_OQ));
      slx = _mm256_add_ps(slx, _mm256_mul_ps(wx[i], new_l));
      sl2 = _mm256_add_ps(sl2, _mm256_mul_ps(_mm256_mul_ps(w, new_l), new_l));
      const __m256 improves =
          _mm256_and_ps(Gt(sl2, zero), Gt(_mm256_mul_ps(_mm256_mul_ps(slx, slx), suml2),
                                          _mm256_mul_ps(_mm256_mul_ps(sumlx, sumlx), sl2)));
      const __m256 accept = _mm256_and_ps(try_it, improves);
      L[i] = Select(accept, L[i], new_l);
      sumlx = Select(accept, sumlx, slx);
      suml2 = Select(accept, suml2, sl2);
      changed = _mm256_or_ps(changed, accept);
    }
    if (_mm256_movemask_ps(changed) == 0) break;
  }
  const __m256 offset = _mm256_set1_ps(static_cast<float>(nmax));
  for (int i = 0; i < n; ++i) L[i] = _mm256_andnot_ps(all_zero, _mm256_add_ps(L[i], offset));
  const __m256 scale = Select(Gt(suml2, zero), zero, _mm256_div_ps(sumlx, suml2));
  *scale_out = _mm256_andnot_ps(all_zero, scale);
}

// ---- Q2_K / Q3_K quantize ---------------------------------------------------------------------
// Sub-block fits in two lane groups (sub-blocks 8g .. 8g + 7), then the scalar super-block steps
// of k_quants_common.h, shared with ref.

// Sum of x^2 over the super-block, in ref's order (sigma2 of the importance weights).
inline float SumSquares(const float* x) {
  float sum = 0;
  for (int l = 0; l < kQKK; ++l) sum += x[l] * x[l];
  return sum;
}

QUANTC_AVX2 void QuantizeQ2KBlock(const float* x, const float* importance, BlockQ2_K& y) {
  constexpr int kSub = 16;
  const float sigma2 = importance ? SumSquares(x) / kQKK : 0.f;  // not doubled for Q2_K
  alignas(32) float scales[16], mins[16], sums[16];
  alignas(32) float search_codes[2][kSub][8];
  for (int g = 0; g < 2; ++g) {
    __m256 xt[kSub], wt[kSub], codes[kSub], scale, neg_min;
    __m256 sumw = _mm256_setzero_ps();
    for (int i = 0; i < kSub; ++i) {
      xt[i] = GatherStrided(x + 128 * g + i, kSub);
      if (importance) {
        const __m256 qw = GatherStrided(importance + 128 * g + i, kSub);
        wt[i] = _mm256_mul_ps(qw, _mm256_sqrt_ps(_mm256_add_ps(_mm256_set1_ps(sigma2), _mm256_mul_ps(xt[i], xt[i]))));
        sumw = _mm256_add_ps(sumw, wt[i]);
      } else {
        wt[i] = Abs(xt[i]);
      }
    }
    if (importance) {
      FitScaleMinLanes<kSub, false>(xt, wt, ImportanceSearch(kQ2KSearch.nmax), codes, &scale, &neg_min);
    } else {
      FitScaleMinLanes<kSub, true>(xt, wt, kQ2KSearch, codes, &scale, &neg_min);
    }
    _mm256_store_ps(scales + 8 * g, scale);
    _mm256_store_ps(mins + 8 * g, neg_min);
    _mm256_store_ps(sums + 8 * g, sumw);
    for (int i = 0; i < kSub; ++i) _mm256_store_ps(search_codes[g][i], codes[i]);
  }
  if (importance) {
    EncodeQ2KFitted(scales, mins, sums, y);
  } else {
    EncodeQ2KByMax(scales, mins, y);
  }
  uint8_t L[kQKK];
  for (int j = 0; j < 16; ++j) {
    for (int i = 0; i < kSub; ++i) L[kSub * j + i] = static_cast<uint8_t>(search_codes[j / 8][i][j % 8]);
  }
  FinishQ2K(x, L, y);
}

QUANTC_AVX2 void QuantizeQ3KBlock(const float* x, const float* importance, BlockQ3_K& y) {
  constexpr int kSub = 16, kNmax = 4;
  const float sigma2 = importance ? 2 * SumSquares(x) / kQKK : 0.f;
  alignas(32) float scales[16], sums[16];
  alignas(32) float search_codes[2][kSub][8];
  for (int g = 0; g < 2; ++g) {
    __m256 xt[kSub], wt[kSub], codes[kSub], scale;
    for (int i = 0; i < kSub; ++i) xt[i] = GatherStrided(x + 128 * g + i, kSub);
    if (importance) {
      __m256 sumw = _mm256_setzero_ps();
      for (int i = 0; i < kSub; ++i) {
        const __m256 qw = GatherStrided(importance + 128 * g + i, kSub);
        wt[i] = _mm256_mul_ps(qw, _mm256_sqrt_ps(_mm256_add_ps(_mm256_set1_ps(sigma2), _mm256_mul_ps(xt[i], xt[i]))));
        sumw = _mm256_add_ps(sumw, wt[i]);
      }
      _mm256_store_ps(sums + 8 * g, sumw);
      FitSymmetricLanes(xt, wt, kNmax, codes, &scale);
    } else {
      FitSymmetricIterativeLanes(xt, kNmax, codes, &scale);
    }
    _mm256_store_ps(scales + 8 * g, scale);
    for (int i = 0; i < kSub; ++i) _mm256_store_ps(search_codes[g][i], codes[i]);
  }
  if (importance) {
    EncodeQ3KFitted(scales, sums, y);
  } else {
    EncodeQ3KByMax(scales, y);
  }
  int8_t L[kQKK];
  for (int j = 0; j < 16; ++j) {
    for (int i = 0; i < kSub; ++i) L[kSub * j + i] = static_cast<int8_t>(search_codes[j / 8][i][j % 8]);
  }
  FinishQ3K(x, L, y);
}

// ---- Q4_K / Q5_K quantize ---------------------------------------------------------------------

// One super-block of Q4_K or Q5_K: lane-parallel sub-block fits, scalar second level, vector
// requantization. Writes the header fields and the 256 codes.
QUANTC_AVX2 void QuantizeScaleMinBlock(const float* x, const float* importance,
                                       const ScaleMinSearch& search, bool clamp63, uint16_t* d,
                                       uint16_t* dmin, uint8_t* packed, uint8_t* L) {
  constexpr int kSub = 32;
  __m256 xt[kSub], wt[kSub], codes[kSub];
  for (int i = 0; i < kSub; ++i) xt[i] = GatherStrided(x + i, kSub);
  __m256 scale, neg_min;
  alignas(32) float scales[8], mins[8];
  if (importance) {
    float sum_x2 = 0;  // over the whole super-block in ref's order
    for (int l = 0; l < kQKK; ++l) sum_x2 += x[l] * x[l];
    const __m256 sigma2 = _mm256_set1_ps(2 * sum_x2 / kQKK);
    __m256 sumw = _mm256_setzero_ps();
    for (int i = 0; i < kSub; ++i) {
      const __m256 qw = GatherStrided(importance + i, kSub);
      wt[i] = _mm256_mul_ps(qw, _mm256_sqrt_ps(_mm256_add_ps(sigma2, _mm256_mul_ps(xt[i], xt[i]))));
      sumw = _mm256_add_ps(sumw, wt[i]);
    }
    FitScaleMinLanes<kSub, false>(xt, wt, ImportanceSearch(search.nmax), codes, &scale, &neg_min);
    alignas(32) float sums[8];
    _mm256_store_ps(sums, sumw);
    _mm256_store_ps(scales, scale);
    _mm256_store_ps(mins, neg_min);
    EncodeScaleMinFitted(scales, mins, sums, clamp63, d, dmin, packed);
  } else {
    __m256 sum_x2 = _mm256_setzero_ps();
    for (int i = 0; i < kSub; ++i) sum_x2 = _mm256_add_ps(sum_x2, _mm256_mul_ps(xt[i], xt[i]));
    const __m256 av_x = _mm256_sqrt_ps(_mm256_div_ps(sum_x2, _mm256_set1_ps(static_cast<float>(kSub))));
    for (int i = 0; i < kSub; ++i) wt[i] = _mm256_add_ps(av_x, Abs(xt[i]));
    FitScaleMinLanes<kSub, false>(xt, wt, search, codes, &scale, &neg_min);
    _mm256_store_ps(scales, scale);
    _mm256_store_ps(mins, neg_min);
    EncodeScaleMinByMax(scales, mins, d, dmin, packed);
  }
  // Requantize from the stored scales (RequantizeScaleMin); zero-scale sub-blocks keep the
  // search's codes.
  alignas(32) float search_codes[kSub][8];
  for (int i = 0; i < kSub; ++i) _mm256_store_ps(search_codes[i], codes[i]);
  const float d_all = GgmlF16ToF32(*d);
  const float m_all = GgmlF16ToF32(*dmin);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    UnpackScaleMin6(j, packed, &sc, &m);
    const float ds = d_all * sc;
    if (!ds) {
      for (int i = 0; i < kSub; ++i) L[kSub * j + i] = static_cast<uint8_t>(search_codes[i][j]);
      continue;
    }
    const __m256 dsv = _mm256_set1_ps(ds), dmv = _mm256_set1_ps(m_all * m);
    __m256 q[4];
    for (int v = 0; v < 4; ++v) {
      const __m256 xv = _mm256_loadu_ps(x + kSub * j + 8 * v);
      q[v] = Code(_mm256_div_ps(_mm256_add_ps(xv, dmv), dsv), 0, search.nmax);
    }
    StoreCodes32(q, L + kSub * j);
  }
}

// One Q6_K super-block: lane-parallel sub-block fits (sub-blocks 8g .. 8g + 7 in lanes), then
// the second level and requantization as ref (QuantizeRowQ6_K in q6_k.cc).
QUANTC_AVX2 void QuantizeQ6KBlock(const float* x, const float* importance, BlockQ6_K& y) {
  constexpr int kSub = 16, kNmax = 32;
  alignas(32) float scales[16];
  alignas(32) float search_codes[2][kSub][8];
  for (int g = 0; g < 2; ++g) {
    __m256 xt[kSub], wt[kSub], codes[kSub], scale;
    for (int i = 0; i < kSub; ++i) {
      xt[i] = GatherStrided(x + 128 * g + i, kSub);
      wt[i] = importance ? GatherStrided(importance + 128 * g + i, kSub) : _mm256_mul_ps(xt[i], xt[i]);
    }
    FitSymmetricLanes(xt, wt, kNmax, codes, &scale);
    _mm256_store_ps(scales + 8 * g, scale);
    for (int i = 0; i < kSub; ++i) _mm256_store_ps(search_codes[g][i], codes[i]);
  }
  float max_scale = 0, max_abs_scale = 0;
  for (int j = 0; j < 16; ++j) {
    if (std::fabs(scales[j]) > max_abs_scale) {
      max_abs_scale = std::fabs(scales[j]);
      max_scale = scales[j];
    }
  }
  if (max_abs_scale < kGroupMaxEps) {
    std::memset(&y, 0, sizeof(y));
    return;
  }
  const float iscale = -128.f / max_scale;
  y.d = GgmlF32ToF16(1 / iscale);
  for (int j = 0; j < 16; ++j) {
    const int code = NearestInt(iscale * scales[j]);
    y.scales[j] = static_cast<int8_t>(code < 127 ? code : 127);
  }
  int8_t L[kQKK];
  const float d_all = GgmlF16ToF32(y.d);
  for (int j = 0; j < 16; ++j) {
    const float ds = d_all * y.scales[j];
    if (!ds) {  // keep the search's codes
      for (int i = 0; i < kSub; ++i) L[kSub * j + i] = static_cast<int8_t>(search_codes[j / 8][i][j % 8]);
      continue;
    }
    const __m256 dsv = _mm256_set1_ps(ds), offset = _mm256_set1_ps(32.f);
    alignas(32) float q[kSub];
    for (int v = 0; v < 2; ++v) {
      const __m256 xv = _mm256_loadu_ps(x + kSub * j + 8 * v);
      _mm256_store_ps(q + 8 * v, _mm256_add_ps(Code(_mm256_div_ps(xv, dsv), -32, 31), offset));
    }
    for (int i = 0; i < kSub; ++i) L[kSub * j + i] = static_cast<int8_t>(q[i]);
  }
  PackQ6(L, y.ql, y.qh);
}

}  // namespace

// The exported functions carry no target attribute (their declarations in the header have none);
// each calls the AVX2 block kernels above.

bool CpuHasAvx2() {
  // F16C through CPUID leaf 1 (ECX bit 29): clang 14's __builtin_cpu_supports does not know "f16c".
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
}

void QuantizeRowQ2_K(const float* x, void* dst, int64_t n, const float* importance) {
  auto* blocks = static_cast<BlockQ2_K*>(dst);
  for (int64_t b = 0; b < n / kQKK; ++b) {
    QuantizeQ2KBlock(x + b * kQKK, importance ? importance + b * kQKK : nullptr, blocks[b]);
  }
}

void QuantizeRowQ3_K(const float* x, void* dst, int64_t n, const float* importance) {
  auto* blocks = static_cast<BlockQ3_K*>(dst);
  for (int64_t b = 0; b < n / kQKK; ++b) {
    QuantizeQ3KBlock(x + b * kQKK, importance ? importance + b * kQKK : nullptr, blocks[b]);
  }
}

void QuantizeRowQ4_K(const float* x, void* dst, int64_t n, const float* importance) {
  auto* blocks = static_cast<BlockQ4_K*>(dst);
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK) {
    BlockQ4_K& y = blocks[b];
    uint8_t L[kQKK];
    QuantizeScaleMinBlock(x, importance ? importance + b * kQKK : nullptr, kQ4KSearch,
                          /*clamp63=*/false, &y.d, &y.dmin, y.scales, L);
    PackNibbles(L, y.qs);
  }
}

void QuantizeRowQ5_K(const float* x, void* dst, int64_t n, const float* importance) {
  auto* blocks = static_cast<BlockQ5_K*>(dst);
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK) {
    BlockQ5_K& y = blocks[b];
    uint8_t L[kQKK];
    QuantizeScaleMinBlock(x, importance ? importance + b * kQKK : nullptr, kQ5KSearch,
                          /*clamp63=*/true, &y.d, &y.dmin, y.scales, L);
    PackQ5(L, y.qh, y.qs);
  }
}

void QuantizeRowQ6_K(const float* x, void* dst, int64_t n, const float* importance) {
  auto* blocks = static_cast<BlockQ6_K*>(dst);
  for (int64_t b = 0; b < n / kQKK; ++b) {
    QuantizeQ6KBlock(x + b * kQKK, importance ? importance + b * kQKK : nullptr, blocks[b]);
  }
}

}  // namespace quantc::kernels::ggml_quants::avx2
