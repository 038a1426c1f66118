#include "lib/runner/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <tuple>

namespace quantc::runner {
namespace {

// yarn_get_mscale in DeepSeek's and transformers' code.
double YarnMscale(double scale, double mscale) { return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

// Dimension index whose wavelength makes `rotations` turns over max_pos (transformers' yarn).
double CorrectionDim(double rotations, double dim, double base, double max_pos) {
  return dim * std::log(max_pos / (rotations * 2 * std::numbers::pi)) / (2 * std::log(base));
}

}  // namespace

Rope::Rope(const arch::RopeSpec& spec) : spec_(spec) {
  const int64_t half = spec.dim / 2;
  inv_freq_.resize(half);
  // As transformers: inv_freq = 1 / base^(2i/d) in float32.
  for (int64_t i = 0; i < half; ++i) {
    inv_freq_[i] = static_cast<float>(1.0 / std::pow(spec.theta, static_cast<double>(2 * i) / spec.dim));
  }
  if (spec.type == arch::RopeType::kLlama3) {
    const double low_wavelen = spec.original_max_position_embeddings / spec.low_freq_factor;
    const double high_wavelen = spec.original_max_position_embeddings / spec.high_freq_factor;
    for (double& f : inv_freq_) {
      const double wavelen = 2 * std::numbers::pi / f;
      if (wavelen < high_wavelen) continue;  // high frequencies: unchanged
      if (wavelen > low_wavelen) {
        f /= spec.factor;  // low frequencies: interpolated
        continue;
      }
      const double smooth = (spec.original_max_position_embeddings / wavelen - spec.low_freq_factor) /
                            (spec.high_freq_factor - spec.low_freq_factor);
      f = (1 - smooth) * f / spec.factor + smooth * f;
    }
  } else if (spec.type == arch::RopeType::kYarn) {
    const double d = static_cast<double>(spec.dim);
    const double max_pos = static_cast<double>(spec.original_max_position_embeddings);
    double low = std::floor(CorrectionDim(spec.beta_fast, d, spec.theta, max_pos));
    double high = std::ceil(CorrectionDim(spec.beta_slow, d, spec.theta, max_pos));
    low = std::max(low, 0.0);
    high = std::min(high, d - 1);
    if (low == high) high += 0.001;  // avoid a zero-width ramp
    for (int64_t i = 0; i < half; ++i) {
      const double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
      const double extrapolation = 1.0 - ramp;  // weight of the unscaled frequency
      const double f = inv_freq_[i];
      inv_freq_[i] = (f / spec.factor) * (1 - extrapolation) + f * extrapolation;
    }
    cos_sin_scale_ = spec.attention_factor > 0 ? spec.attention_factor
                     : (spec.mscale != 0 && spec.mscale_all_dim != 0)
                         ? YarnMscale(spec.factor, spec.mscale) / YarnMscale(spec.factor, spec.mscale_all_dim)
                         : YarnMscale(spec.factor, 1.0);
    if (spec.mscale_all_dim != 0) {
      const double m = YarnMscale(spec.factor, spec.mscale_all_dim);
      softmax_scale_factor_ = m * m;
    }
  }
}

Rope::Rope(const arch::RopeSpec& spec, const std::vector<float>& freq_factors) : Rope([&] {
  arch::RopeSpec unscaled = spec;
  unscaled.type = arch::RopeType::kDefault;
  return unscaled;
}()) {
  // llama.cpp (ggml_rope_ext): theta_i = pos * base^(-2i/d) / freq_factors[i]; in float32 like the
  // frequencies transformers computes.
  for (size_t i = 0; i < inv_freq_.size() && i < freq_factors.size(); ++i) {
    inv_freq_[i] = static_cast<float>(inv_freq_[i] / static_cast<double>(freq_factors[i]));
  }
}

std::pair<float, float> Rope::CosSinAt(int64_t pos, int64_t i) const {
  // transformers: freqs = pos * inv_freq in float32, then cos/sin in float32.
  const float angle = static_cast<float>(pos) * static_cast<float>(inv_freq_[i]);
  return {std::cos(angle) * static_cast<float>(cos_sin_scale_), std::sin(angle) * static_cast<float>(cos_sin_scale_)};
}

void Rope::Tables(int64_t positions, std::vector<float>& cos, std::vector<float>& sin) const {
  const int64_t half = spec_.dim / 2;
  cos.resize(static_cast<size_t>(positions * half));
  sin.resize(cos.size());
  for (int64_t pos = 0; pos < positions; ++pos) {
    for (int64_t i = 0; i < half; ++i) std::tie(cos[pos * half + i], sin[pos * half + i]) = CosSinAt(pos, i);
  }
}

void Rope::Apply(float* x, int64_t pos) const {
  const int64_t half = spec_.dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    const auto [c, s] = CosSinAt(pos, i);
    float& a = spec_.interleaved ? x[2 * i] : x[i];
    float& b = spec_.interleaved ? x[2 * i + 1] : x[i + half];
    const float x0 = a, x1 = b;
    a = x0 * c - x1 * s;
    b = x1 * c + x0 * s;
  }
}

}  // namespace quantc::runner
