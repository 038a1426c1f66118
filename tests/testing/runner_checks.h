// The checks the runner tests share: logits against a golden, hidden states by relative RMS, and
// incremental decoding (prefill 32, then one token at a time) against one full forward.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "gtest/gtest.h"
#include "lib/runner/runner.h"

namespace quantc::testing {

inline double MaxAbsDiff(const float* got, const float* want, int64_t n) {
  double d = 0;
  for (int64_t i = 0; i < n; ++i) d = std::max(d, std::fabs(double(got[i]) - want[i]));
  return d;
}

inline double RelativeRms(const float* got, const float* want, int64_t n) {
  double err = 0, ref = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = double(got[i]) - want[i];
    err += d * d;
    ref += double(want[i]) * want[i];
  }
  return std::sqrt(err / ref);
}

// `logits` [prompt.size(), vocab] from one Forward over `prompt`; decoding the same prompt as a
// 32-token prefill plus single steps must reproduce them within 1e-4.
inline void ExpectIncrementalMatchesFull(const runner::Runner& r, std::span<const int32_t> prompt,
                                         const std::vector<float>& logits, int64_t vocab, int prompt_index) {
  const int64_t seq = static_cast<int64_t>(prompt.size());
  auto inc = r.NewCache();
  std::vector<float> step_logits(32 * vocab);
  ASSERT_TRUE(r.Forward(prompt.subspan(0, 32), *inc, step_logits).ok());
  double diff = MaxAbsDiff(step_logits.data(), logits.data(), 32 * vocab);
  std::vector<float> one(vocab);
  for (int64_t t = 32; t < seq; ++t) {
    ASSERT_TRUE(r.Forward(prompt.subspan(t, 1), *inc, one).ok());
    diff = std::max(diff, MaxAbsDiff(one.data(), logits.data() + t * vocab, vocab));
  }
  EXPECT_LE(diff, 1e-4) << "prompt " << prompt_index << ": incremental decoding departs from the full forward";
}

}  // namespace quantc::testing
