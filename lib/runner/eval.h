// Perplexity and the distance between two models' next-token distributions, with the fixtures'
// protocol: take the first max_tokens tokens (N), evaluate windows of ctx tokens starting at
// 0, ctx, 2ctx, ... while start < N - ctx, each from an empty cache, and score positions
// 1..ctx-1 of every window. Logits are held for one window at a time, never for the whole text.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

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

// The windows the protocol evaluates in the first max_tokens of `tokens` tokens (0 when the text
// is too short: Evaluate says so).
int64_t EvalWindows(int64_t tokens, const EvalOptions& options);

// KL(ref || model) in nats between the next-token distributions of one position's logits.
double KlDivergence(std::span<const float> ref_logits, std::span<const float> logits);

// Scores one model window by window (and, given the reference's logits of the same window, its
// distance to the reference), so that several models can be scored against one reference run.
class WindowScorer {
 public:
  explicit WindowScorer(int64_t vocab) : vocab_(vocab) {}
  // `logits` and `ref_logits` (empty: no reference) are [window.size(), vocab].
  void Add(std::span<const int32_t> window, std::span<const float> logits, std::span<const float> ref_logits = {});
  EvalResult Result() const;
  // KL(ref || model) of every scored token so far, in order (for histograms).
  const std::vector<double>& klds() const { return klds_; }

 private:
  int64_t vocab_;
  int64_t windows_ = 0, tokens_ = 0;
  double nll_ = 0, ref_nll_ = 0, top1_ = 0, delta_p_ = 0;
  std::vector<double> klds_, lp_, lq_;
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

// Where a model departs from a reference, hidden state by hidden state (HiddenObserver's indices:
// 0 the embeddings, i the input of layer i, L after the final norm): the SNR of the model's states
// against the reference's, 10 log10(Σ ref² / Σ (ref - model)²), and the mean per-token cosine.
class HiddenStateError {
 public:
  HiddenStateError(int64_t states, int64_t hidden) : hidden_(hidden), sums_(states) {}
  // Both [n, hidden] for hidden state `index`.
  void Add(int64_t index, std::span<const float> ref, std::span<const float> model);
  int64_t states() const { return static_cast<int64_t>(sums_.size()); }
  double SnrDb(int64_t index) const;  // +inf where the states are equal
  double Cosine(int64_t index) const;

 private:
  struct Sums {
    double signal = 0, noise = 0, cosine = 0;
    int64_t tokens = 0;
  };
  int64_t hidden_;
  std::vector<Sums> sums_;
};

}  // namespace quantc::runner
