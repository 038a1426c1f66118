// Rotary position embeddings as Hugging Face computes them: default, llama3 (frequency bands
// rescaled), and yarn as DeepSeek uses it (interpolation ramp between beta_fast and beta_slow,
// cos/sin scaled by the attention factor, softmax scale corrected by mscale(mscale_all_dim)^2).
// Half-split layout rotates (x[i], x[i + d/2]); interleaved (DeepSeek) rotates (x[2i], x[2i+1]).
// GGUF models carry llama3 scaling as per-frequency factors instead (rope_freqs.weight, as llama.cpp's
// converter computes them): each unscaled frequency is divided by its factor.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "lib/arch/model_spec.h"

namespace quantc::runner {

class Rope {
 public:
  explicit Rope(const arch::RopeSpec& spec);
  // With llama.cpp's frequency factors (spec.dim / 2 values, checked by the caller): inv_freq_i =
  // default_inv_freq_i / factors[i], in place of the llama3 scaling spec.type may name (the factors
  // encode it). spec.type must not be yarn.
  Rope(const arch::RopeSpec& spec, const std::vector<float>& freq_factors);
  // Rotates one head vector of spec.dim values in place for position `pos`.
  void Apply(float* x, int64_t pos) const;
  // The cos and sin Apply uses at positions 0 .. positions-1, one per frequency: row-major
  // [positions, spec.dim / 2] tables, the caches an ONNX GroupQueryAttention or RotaryEmbedding reads.
  void Tables(int64_t positions, std::vector<float>& cos, std::vector<float>& sin) const;
  // Multiplier on the attention softmax scale (1 except yarn with mscale_all_dim).
  double softmax_scale_factor() const { return softmax_scale_factor_; }
  const std::vector<double>& inv_freq() const { return inv_freq_; }

 private:
  std::pair<float, float> CosSinAt(int64_t pos, int64_t i) const;
  arch::RopeSpec spec_;
  std::vector<double> inv_freq_;   // dim/2 frequencies
  double cos_sin_scale_ = 1.0;     // yarn attention factor on cos/sin
  double softmax_scale_factor_ = 1.0;
};

}  // namespace quantc::runner
