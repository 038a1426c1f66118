// An independent float64 transcription of IST-DASLab/gptq quant.py (Quantizer.find_params with
// perchannel over one row-group, and quantize), with the one step quantc adds: the scale is
// rounded to its storage dtype (through FP32, as a scale computed in FP32 and then cast) where
// quant.py computes it, and the zero point is clamped to [0, maxq]. Also the compressed-tensors
// bit packing, written as bit-by-bit extraction. Nothing here calls quantc's kernels.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace quantc::testing {

// torch.round: to nearest, ties to even.
inline double RoundHalfEven(double v) {
  const double f = std::floor(v), d = v - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return std::fmod(f, 2.0) == 0 ? f : f + 1;
}

// The nearest value with `mantissa` fraction bits and exponents down to `emin` (subnormals below),
// ties to even. (No overflow handling: test scales are far from the top of every range.)
inline double RoundToPrecision(double x, int mantissa, int emin) {
  if (x == 0) return 0;
  const int e = std::max(static_cast<int>(std::floor(std::log2(std::fabs(x)))), emin);
  const double quantum = std::ldexp(1.0, e - mantissa);
  return RoundHalfEven(x / quantum) * quantum;
}

enum class ScaleStorage { kF32, kBF16, kF16 };

// A scale as stored: through FP32 to the storage dtype; one that rounds to 0 becomes the dtype's
// smallest positive value (quantc's rule: a scale is never 0).
inline double StoreScale(double s, ScaleStorage storage) {
  const double f32 = std::max(RoundToPrecision(s, 23, -126), std::ldexp(1.0, -149));
  switch (storage) {
    case ScaleStorage::kF32: return f32;
    case ScaleStorage::kBF16: return std::max(RoundToPrecision(f32, 7, -126), std::ldexp(1.0, -133));
    case ScaleStorage::kF16: return std::max(RoundToPrecision(f32, 10, -14), std::ldexp(1.0, -24));
  }
  return f32;
}

struct RefIntParams {
  double scale;
  int zero;
};

inline int RefCode(const RefIntParams& p, int maxq, double x) {
  return static_cast<int>(std::clamp(RoundHalfEven(x / p.scale) + p.zero, 0.0, static_cast<double>(maxq)));
}

inline double RefDequant(const RefIntParams& p, int q) { return p.scale * (q - p.zero); }

// quant.py find_params on one row-group x[0..n).
inline RefIntParams RefFit(const float* x, int64_t n, int bits, bool sym, bool mse, ScaleStorage storage) {
  const int maxq = (1 << bits) - 1;
  double xmin = 0, xmax = 0;
  for (int64_t i = 0; i < n; ++i) xmin = std::min(xmin, double(x[i])), xmax = std::max(xmax, double(x[i]));
  if (sym) {
    xmax = std::max(std::fabs(xmin), xmax);
    if (xmin < 0) xmin = -xmax;
  }
  if (xmin == 0 && xmax == 0) xmin = -1, xmax = 1;
  auto params = [&](double lo, double hi) {
    RefIntParams p;
    p.scale = StoreScale((hi - lo) / maxq, storage);
    p.zero = sym ? (maxq + 1) / 2 : static_cast<int>(std::clamp(RoundHalfEven(-lo / p.scale), 0.0, double(maxq)));
    return p;
  };
  RefIntParams best = params(xmin, xmax);
  if (!mse) return best;
  double best_err = std::numeric_limits<double>::infinity();
  for (int i = 0; i < static_cast<int>(0.8 * 100); ++i) {
    const double p = 1 - i / 100.0;
    const RefIntParams c = params(p * xmin, p * xmax);
    double err = 0;
    for (int64_t j = 0; j < n; ++j) err += std::pow(std::fabs(RefDequant(c, RefCode(c, maxq, x[j])) - x[j]), 2.4);
    if (err < best_err) best_err = err, best = c;
  }
  return best;
}

// Value i of a dense little-endian bit stream of `bits`-wide values: bit by bit.
inline int RefUnpack(const std::vector<uint32_t>& words, int64_t i, int bits) {
  int v = 0;
  for (int b = 0; b < bits; ++b) {
    const int64_t bit = i * bits + b;
    v |= static_cast<int>((words[bit / 32] >> (bit % 32)) & 1u) << b;
  }
  return v;
}

}  // namespace quantc::testing
