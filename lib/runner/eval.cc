#include "lib/runner/eval.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::runner {
namespace {

// log-softmax of one row, in double for the sums.
void LogSoftmax(std::span<const float> logits, std::vector<double>& out) {
  out.resize(logits.size());
  const double m = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float l : logits) sum += std::exp(l - m);
  const double lse = m + std::log(sum);
  for (size_t i = 0; i < logits.size(); ++i) out[i] = logits[i] - lse;
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(std::ceil(q * v.size())) - 1);
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

}  // namespace

WindowModel AsWindowModel(const Runner& runner) {
  return {runner.spec().vocab_size, [&runner](std::span<const int32_t> window, std::span<float> logits) {
            auto cache = runner.NewCache();
            return runner.Forward(window, *cache, logits);
          }};
}

absl::StatusOr<EvalResult> Evaluate(const Runner& model, const Runner* ref, std::span<const int32_t> ids,
                                    const EvalOptions& o, const std::function<void(int64_t, int64_t)>& progress) {
  const WindowModel m = AsWindowModel(model);
  if (ref == nullptr) return Evaluate(m, nullptr, ids, o, progress);
  const WindowModel r = AsWindowModel(*ref);
  return Evaluate(m, &r, ids, o, progress);
}

int64_t EvalWindows(int64_t tokens, const EvalOptions& o) {
  const int64_t n = std::min(tokens, o.max_tokens);
  return n > o.ctx ? (n - 1) / o.ctx : 0;  // starts 0, ctx, ... < n - ctx
}

double KlDivergence(std::span<const float> ref_logits, std::span<const float> logits) {
  std::vector<double> lp, lq;
  LogSoftmax(ref_logits, lp);
  LogSoftmax(logits, lq);
  double kld = 0;
  for (size_t v = 0; v < lp.size(); ++v) kld += std::exp(lp[v]) * (lp[v] - lq[v]);
  return std::max(kld, 0.0);
}

void WindowScorer::Add(std::span<const int32_t> window, std::span<const float> logits,
                       std::span<const float> ref_logits) {
  const int64_t ctx = static_cast<int64_t>(window.size());
  const bool ref = !ref_logits.empty();
  for (int64_t t = 1; t < ctx; ++t) {  // logits at t-1 predict token t
    const int32_t target = window[t];
    LogSoftmax(logits.subspan((t - 1) * vocab_, vocab_), lq_);
    nll_ -= lq_[target];
    if (!ref) continue;
    LogSoftmax(ref_logits.subspan((t - 1) * vocab_, vocab_), lp_);
    ref_nll_ -= lp_[target];
    double kld = 0;
    int64_t top_p = 0, top_q = 0;
    for (int64_t v = 0; v < vocab_; ++v) {
      kld += std::exp(lp_[v]) * (lp_[v] - lq_[v]);
      if (lp_[v] > lp_[top_p]) top_p = v;
      if (lq_[v] > lq_[top_q]) top_q = v;
    }
    klds_.push_back(std::max(kld, 0.0));
    top1_ += top_p == top_q;
    delta_p_ += std::exp(lq_[target]) - std::exp(lp_[target]);
  }
  ++windows_;
  tokens_ += ctx - 1;
}

EvalResult WindowScorer::Result() const {
  EvalResult r;
  r.windows = windows_;
  r.tokens = tokens_;
  if (tokens_ == 0) return r;
  r.nll = nll_ / tokens_;
  r.ppl = std::exp(r.nll);
  if (klds_.empty()) return r;
  RefMetrics m;
  m.ref_ppl = std::exp(ref_nll_ / tokens_);
  double sum = 0;
  for (double k : klds_) sum += k;
  m.kld_mean = sum / tokens_;
  m.kld_p99 = Percentile(klds_, 0.99);
  m.kld_p999 = Percentile(klds_, 0.999);
  m.top1_agree = top1_ / tokens_;
  m.delta_p_mean = delta_p_ / tokens_;
  r.ref = m;
  return r;
}

absl::StatusOr<EvalResult> Evaluate(const WindowModel& model, const WindowModel* ref, std::span<const int32_t> ids,
                                    const EvalOptions& o, const std::function<void(int64_t, int64_t)>& progress) {
  if (o.ctx < 2) return absl::InvalidArgumentError("--ctx must be at least 2");
  const int64_t windows = EvalWindows(static_cast<int64_t>(ids.size()), o);
  if (windows == 0) {
    return absl::InvalidArgumentError(StrCat("the text has ", std::min<int64_t>(ids.size(), o.max_tokens),
                                             " tokens; evaluation needs more than --ctx ", o.ctx));
  }
  const int64_t vocab = model.vocab;
  if (ref != nullptr && ref->vocab != vocab) {
    return absl::InvalidArgumentError(StrCat("reference vocabulary ", ref->vocab, " != model vocabulary ", vocab));
  }
  WindowScorer scorer(vocab);
  std::vector<float> logits(o.ctx * vocab), ref_logits(ref ? o.ctx * vocab : 0);
  for (int64_t w = 0; w < windows; ++w) {
    std::span<const int32_t> window = ids.subspan(w * o.ctx, o.ctx);
    QC_RETURN_IF_ERROR(model.forward(window, logits));
    if (ref != nullptr) QC_RETURN_IF_ERROR(ref->forward(window, ref_logits));
    scorer.Add(window, logits, ref_logits);
    if (progress) progress(w + 1, windows);
  }
  return scorer.Result();
}

void HiddenStateError::Add(int64_t index, std::span<const float> ref, std::span<const float> model) {
  Sums& s = sums_[index];
  const int64_t n = static_cast<int64_t>(ref.size()) / hidden_;
  for (int64_t t = 0; t < n; ++t) {
    double dot = 0, na = 0, nb = 0, noise = 0;
    for (int64_t d = 0; d < hidden_; ++d) {
      const double x = ref[t * hidden_ + d], y = model[t * hidden_ + d];
      noise += (x - y) * (x - y);
      dot += x * y, na += x * x, nb += y * y;
    }
    s.signal += na;
    s.noise += noise;
    s.cosine += dot / std::max(std::sqrt(na * nb), 1e-30);
    ++s.tokens;
  }
}

double HiddenStateError::SnrDb(int64_t index) const {
  const Sums& s = sums_[index];
  return s.noise > 0 ? 10 * std::log10(s.signal / s.noise) : INFINITY;
}

double HiddenStateError::Cosine(int64_t index) const {
  const Sums& s = sums_[index];
  return s.cosine / std::max<int64_t>(1, s.tokens);
}

}  // namespace quantc::runner
