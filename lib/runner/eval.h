// Perplexity and the distance between two models' next-token distributions, with the fixtures'
// protocol: take the first max_tokens tokens (N), evaluate windows of ctx tokens starting at
// 0, ctx, 2ctx, ... while start < N - ctx, each from an empty cache, and score positions
// 1..ctx-1 of every window. Logits are held for one window at a time, never for the whole text.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>

#include "absl/status/statusor.h"
#include "lib/runner/runner.h"

namespace quantc::runner {

struct EvalOptions {
  int64_t ctx = 512;
  int64_t max_tokens = 65536;
};

struct RefMetrics {           // against a reference model (KL(ref || model) per scored token)
  double ref_ppl = 0;
  double kld_mean = 0, kld_p99 = 0, kld_p999 = 0;
  double top1_agree = 0;      // fraction of tokens where both models' argmax agree
  double delta_p_mean = 0;    // mean of p_model(correct) - p_ref(correct)
};

struct EvalResult {
  double nll = 0;             // mean negative log-likelihood (nats)
  double ppl = 0;             // exp(nll)
  int64_t tokens = 0;         // scored tokens
  int64_t windows = 0;
  std::optional<RefMetrics> ref;
};

// A model as evaluation sees it: the logits [window, vocab] of a window of tokens, from an empty
// state (the reference runner, or the NPU pipeline's graphs).
struct WindowModel {
  int64_t vocab = 0;
  std::function<absl::Status(std::span<const int32_t> window, std::span<float> logits)> forward;
};
WindowModel AsWindowModel(const Runner& runner);  // `runner` must outlive the result

absl::StatusOr<EvalResult> Evaluate(const WindowModel& model, const WindowModel* ref, std::span<const int32_t> ids,
                                    const EvalOptions& options,
                                    const std::function<void(int64_t, int64_t)>& progress = nullptr);

// `progress(windows_done, windows_total)` is called after each window (may be null).
absl::StatusOr<EvalResult> Evaluate(const Runner& model, const Runner* ref, std::span<const int32_t> ids,
                                    const EvalOptions& options,
                                    const std::function<void(int64_t, int64_t)>& progress = nullptr);

}  // namespace quantc::runner
