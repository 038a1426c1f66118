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

absl::StatusOr<EvalResult> Evaluate(const WindowModel& model, const WindowModel* ref, std::span<const int32_t> ids,
                                    const EvalOptions& o, const std::function<void(int64_t, int64_t)>& progress) {
  if (o.ctx < 2) return absl::InvalidArgumentError("--ctx must be at least 2");
  const int64_t n = std::min<int64_t>(static_cast<int64_t>(ids.size()), o.max_tokens);
  if (n <= o.ctx) {
    return absl::InvalidArgumentError(StrCat("the text has ", n, " tokens; evaluation needs more than --ctx ", o.ctx));
  }
  const int64_t vocab = model.vocab;
  if (ref != nullptr && ref->vocab != vocab) {
    return absl::InvalidArgumentError(StrCat("reference vocabulary ", ref->vocab, " != model vocabulary ", vocab));
  }
  const int64_t windows = (n - o.ctx + o.ctx - 1) / o.ctx;  // starts 0, ctx, ... < n - ctx
  EvalResult r;
  RefMetrics m;
  double nll = 0, ref_nll = 0;
  std::vector<double> klds;
  std::vector<float> logits(o.ctx * vocab), ref_logits(ref ? o.ctx * vocab : 0);
  std::vector<double> lp, lq;
  for (int64_t w = 0; w < windows; ++w) {
    std::span<const int32_t> window = ids.subspan(w * o.ctx, o.ctx);
    QC_RETURN_IF_ERROR(model.forward(window, logits));
    if (ref != nullptr) QC_RETURN_IF_ERROR(ref->forward(window, ref_logits));
    for (int64_t t = 1; t < o.ctx; ++t) {  // logits at t-1 predict token t
      const int32_t target = window[t];
      LogSoftmax(std::span<const float>(logits).subspan((t - 1) * vocab, vocab), lq);
      nll -= lq[target];
      if (ref == nullptr) continue;
      LogSoftmax(std::span<const float>(ref_logits).subspan((t - 1) * vocab, vocab), lp);
      ref_nll -= lp[target];
      double kld = 0;
      int64_t top_p = 0, top_q = 0;
      for (int64_t v = 0; v < vocab; ++v) {
        kld += std::exp(lp[v]) * (lp[v] - lq[v]);
        if (lp[v] > lp[top_p]) top_p = v;
        if (lq[v] > lq[top_q]) top_q = v;
      }
      klds.push_back(std::max(kld, 0.0));
      m.top1_agree += top_p == top_q;
      m.delta_p_mean += std::exp(lq[target]) - std::exp(lp[target]);
    }
    if (progress) progress(w + 1, windows);
  }
  r.windows = windows;
  r.tokens = windows * (o.ctx - 1);
  r.nll = nll / r.tokens;
  r.ppl = std::exp(r.nll);
  if (ref != nullptr) {
    m.ref_ppl = std::exp(ref_nll / r.tokens);
    double sum = 0;
    for (double k : klds) sum += k;
    m.kld_mean = sum / r.tokens;
    m.kld_p99 = Percentile(klds, 0.99);
    m.kld_p999 = Percentile(klds, 0.999);
    m.top1_agree /= r.tokens;
    m.delta_p_mean /= r.tokens;
    r.ref = m;
  }
  return r;
}

}  // namespace quantc::runner
