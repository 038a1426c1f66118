// The shared scale searches of ggml's quantizers (ggml-quants.c at llama.cpp 81ff7abe: nearest_int,
// make_qx_quants, make_q3_quants, make_qkx2_quants, make_qkx3_quants, make_qp_quants; spec
// docs in /work/shared/specs/gguf-llamacpp.md §5-6). Byte-exactness with llama.cpp needs the same
// float operations in the same order, so every expression below keeps ggml's association
// (e.g. w * x * l is (w * x) * l) and the integer -> float conversions happen where ggml's do.
// Code arrays keep ggml's element types too: make_qp_quants stores codes in uint8_t and reuses
// the stored (wrapped) value, which matters for negative inputs.
#include "lib/kernels/ggml_quants/scale_search.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace quantc::kernels::ggml_quants {
namespace {

// The element of largest magnitude (the first one on ties), signed; 0 for an empty group.
float SignedAbsMax(int n, const float* x, float* amax_out) {
  float max = 0.0f;
  float amax = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  *amax_out = amax;
  return max;
}

// Codes of x under inverse scale `iscale`, clamped to [-nmax, nmax - 1].
inline int SymmetricCode(float iscale, float x, int nmax) {
  return std::max(-nmax, std::min(nmax - 1, NearestInt(iscale * x)));
}

// One group of make_qx_quants after its first steps: the signed absmax `max` and the starting
// inverse scale.
struct SymmetricGroup {
  int n, nmax;
  const float* x;
  int8_t* L;
  float max, iscale;
  bool return_early;  // rmse_type < 0: average the first fit with the plain scale and stop
};

// make_qx_quants' weighted part, with weight(i) the weight of element i.
template <typename WeightFn>
float FitSymmetricWeighted(const SymmetricGroup& g, WeightFn weight) {
  const int n = g.n, nmax = g.nmax;
  const float* x = g.x;
  float iscale = g.iscale;
  float sumlx = 0;
  float suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = SymmetricCode(iscale, x[i], nmax);
    g.L[i] = static_cast<int8_t>(l + nmax);
    const float w = weight(i);
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  float scale = suml2 ? sumlx / suml2 : 0.0f;
  if (g.return_early) return suml2 > 0 ? 0.5f * (scale + 1 / iscale) : 1 / iscale;

  // Nudge the grid by +-0.1..0.9 code and keep the least-squares scale that explains the most
  // (maximises sumlx^2 / suml2, i.e. minimises the weighted error).
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / g.max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = SymmetricCode(iscale, x[i], nmax);
      const float w = weight(i);
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) g.L[i] = static_cast<int8_t>(nmax + SymmetricCode(iscale, x[i], nmax));
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// The body of make_qkx2_quants / make_qkx3_quants: `weight(i)` gives element i's weight.
template <typename WeightFn>
float FitScaleMinImpl(int n, int nmax, const float* x, WeightFn weight, uint8_t* L, float* neg_min,
                      uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad) {
  float min = x[0];
  float max = x[0];
  float sum_w = weight(0);
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weight(i);
    sum_w += w;
    sum_x += w * x[i];
  }
  // The offset only ever shifts down: an all-positive group is coded from 0.
  if (min > 0) min = 0;
  if (max <= min) {  // constant group (max >= min always, so this is ggml's max == min too)
    std::memset(L, 0, static_cast<size_t>(n));
    *neg_min = -min;
    return 0.0f;
  }
  auto error_of = [&](float scale, float offset, const uint8_t* codes) {
    float error = 0.0f;
    for (int i = 0; i < n; ++i) {
      float diff = scale * codes[i] + offset - x[i];
      diff = use_mad ? std::fabs(diff) : diff * diff;
      error += weight(i) * diff;
    }
    return error;
  };
  // Starting point: the plain min/max grid.
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  for (int i = 0; i < n; ++i) {
    const int l = NearestInt(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
  }
  float best_error = error_of(scale, min, L);
  if (nstep < 1) {
    *neg_min = -min;
    return scale;
  }
  // Try each candidate grid; for its codes, solve the weighted least squares for (scale, min).
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::max(0, std::min(nmax, NearestInt(iscale * (x[i] - min))));
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weight(i);
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (det > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
      if (this_min > 0) {  // a positive offset is not representable: refit the scale alone
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      const float cur_error = error_of(this_scale, this_min, Laux);
      if (cur_error < best_error) {
        std::memcpy(L, Laux, static_cast<size_t>(n));
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *neg_min = -min;
  return scale;
}

}  // namespace

int NearestInt(float x) {
  // Adding 1.5 * 2^23 leaves round-half-even(x) + 2^22 in the low 23 mantissa bits.
  const float shifted = x + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof(bits));
  return (bits & 0x007fffff) - 0x00400000;
}

float FitSymmetric(int n, int nmax, const float* x, int8_t* L, int rmse_type, const float* weights) {
  float amax;
  const float max = SignedAbsMax(n, x, &amax);
  if (amax < kGroupMaxEps) {
    std::memset(L, 0, static_cast<size_t>(n));
    return 0.0f;
  }
  // The largest magnitude maps to code -nmax (the asymmetric end), so the sign of the scale
  // follows it.
  const float iscale = -nmax / max;
  if (rmse_type == 0) {
    for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(nmax + SymmetricCode(iscale, x[i], nmax));
    return 1 / iscale;
  }
  const bool return_early = rmse_type < 0;
  if (return_early) rmse_type = -rmse_type;
  // The weight choice is fixed per call: pick it once, outside the loops.
  const SymmetricGroup g = {n, nmax, x, L, max, iscale, return_early};
  if (weights) return FitSymmetricWeighted(g, [weights](int i) { return weights[i]; });
  switch (rmse_type) {
    case 1: return FitSymmetricWeighted(g, [x](int i) { return x[i] * x[i]; });
    case 2: return FitSymmetricWeighted(g, [](int) { return 1.0f; });
    case 3: return FitSymmetricWeighted(g, [x](int i) { return std::fabs(x[i]); });
    default: return FitSymmetricWeighted(g, [x](int i) { return std::sqrt(std::fabs(x[i])); });
  }
}

float FitSymmetricIterative(int n, int nmax, const float* x, int8_t* L, bool do_rmse) {
  float amax;
  const float max = SignedAbsMax(n, x, &amax);
  if (amax < kGroupMaxEps) {
    std::memset(L, 0, static_cast<size_t>(n));
    return 0.0f;
  }
  const float iscale = -nmax / max;
  if (!do_rmse) {
    for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(SymmetricCode(iscale, x[i], nmax) + nmax);
    return 1 / iscale;
  }
  // Weighted (w = x^2) least squares over signed codes, then coordinate descent: move one code at
  // a time to its best value given the others, while that improves sumlx^2 / suml2.
  float sumlx = 0;
  float suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = SymmetricCode(iscale, x[i], nmax);
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * L[i];
      if (slx > 0) {
        float sl2 = suml2 - w * L[i] * L[i];
        int new_l = NearestInt(x[i] * sl2 / slx);
        new_l = std::max(-nmax, std::min(nmax - 1, new_l));
        if (new_l != L[i]) {
          slx += w * x[i] * new_l;
          sl2 += w * new_l * new_l;
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<int8_t>(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

float FitScaleMin(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* neg_min,
                  uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad) {
  return FitScaleMinImpl(
      n, nmax, x, [weights](int i) { return weights[i]; }, L, neg_min, Laux, rmin, rdelta, nstep,
      use_mad);
}

float FitScaleMinWeighted(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                          float* neg_min, uint8_t* Laux, float rmin, float rdelta, int nstep,
                          bool use_mad) {
  if (weights) return FitScaleMin(n, nmax, x, weights, L, neg_min, Laux, rmin, rdelta, nstep, use_mad);
  return FitScaleMinImpl(
      n, nmax, x, [x](int i) { return x[i] * x[i]; }, L, neg_min, Laux, rmin, rdelta, nstep,
      use_mad);
}

float FitPositive(int n, int nmax, const float* x, uint8_t* L, const float* weights) {
  float max = 0;
  for (int i = 0; i < n; ++i) max = max > x[i] ? max : x[i];
  if (max < kGroupMaxEps) {
    std::memset(L, 0, static_cast<size_t>(n));
    return 0.0f;
  }
  // ggml stores the unclamped first codes as uint8_t and measures the error with the stored value.
  float iscale = nmax / max;
  for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(NearestInt(iscale * x[i]));
  const float scale = 1 / iscale;
  float best_mse = 0;
  for (int i = 0; i < n; ++i) {
    const float diff = x[i] - scale * L[i];
    best_mse += weights[i] * diff * diff;
  }
  // Nudged grids (+-0.1..0.4 code): keep the inverse scale of least weighted squared error.
  for (int is = -4; is <= 4; ++is) {
    if (is == 0) continue;
    const float iscale_is = (0.1f * is + nmax) / max;
    const float scale_is = 1 / iscale_is;
    float mse = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::min(nmax, NearestInt(iscale_is * x[i]));
      const float diff = x[i] - scale_is * l;
      mse += weights[i] * diff * diff;
    }
    if (mse < best_mse) {
      best_mse = mse;
      iscale = iscale_is;
    }
  }
  // Least-squares scale for those codes, then coordinate descent on single codes as in
  // FitSymmetricIterative.
  float sumlx = 0;
  float suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::min(nmax, NearestInt(iscale * x[i]));
    L[i] = static_cast<uint8_t>(l);
    const float w = weights[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = weights[i];
      float slx = sumlx - w * x[i] * L[i];
      float sl2 = suml2 - w * L[i] * L[i];
      if (slx > 0 && sl2 > 0) {
        const int new_l = std::min(nmax, NearestInt(x[i] * sl2 / slx));
        if (new_l != L[i]) {
          slx += w * x[i] * new_l;
          sl2 += w * new_l * new_l;
          if (slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<uint8_t>(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

}  // namespace quantc::kernels::ggml_quants
