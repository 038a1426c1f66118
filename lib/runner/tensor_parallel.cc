#include "lib/runner/tensor_parallel.h"

#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::runner {

absl::StatusOr<std::unique_ptr<TensorParallelRunner>> TensorParallelRunner::Create(std::span<const Model> ranks) {
  if (ranks.empty()) return absl::InvalidArgumentError("tensor-parallel runner: no ranks");
  auto tp = std::unique_ptr<TensorParallelRunner>(new TensorParallelRunner());
  for (size_t r = 0; r < ranks.size(); ++r) {
    const Model& m = ranks[r];
    if (m.layout != "mp" || m.mp_ranks != static_cast<int64_t>(ranks.size()) || m.mp_rank != static_cast<int64_t>(r)) {
      return absl::InvalidArgumentError(StrCat("tensor-parallel runner: model ", r, " is not rank ", r, " of ",
                                               ranks.size(), " (", m.source_path.string(), ")"));
    }
    QC_ASSIGN_OR_RETURN(std::unique_ptr<Runner> runner, Runner::Create(m));
    tp->vocab_ += runner->spec().vocab_size;
    tp->ranks_.push_back(std::move(runner));
  }
  return tp;
}

std::vector<std::unique_ptr<KvCache>> TensorParallelRunner::NewCaches() const {
  std::vector<std::unique_ptr<KvCache>> caches;
  for (const auto& r : ranks_) caches.push_back(r->NewCache());
  return caches;
}

absl::Status TensorParallelRunner::Forward(std::span<const int32_t> tokens,
                                           std::span<const std::unique_ptr<KvCache>> caches,
                                           std::span<float> logits) const {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return absl::OkStatus();
  if (caches.size() != ranks_.size()) return absl::InvalidArgumentError("one KV cache per rank");
  if (static_cast<int64_t>(logits.size()) != n * vocab_) {
    return absl::InvalidArgumentError(StrCat("logits buffer holds ", logits.size(), " floats, need ", n * vocab_));
  }
  const arch::ModelSpec& spec = ranks_[0]->spec();
  const int64_t hidden = spec.hidden_size;
  std::vector<float> x(static_cast<size_t>(n * hidden)), part(x.size()), sum(x.size());
  // Each step: every rank's partial result from the same x, summed (the all-reduce).
  auto all_reduce = [&](auto&& step) -> absl::Status {
    std::fill(sum.begin(), sum.end(), 0.0f);
    for (size_t r = 0; r < ranks_.size(); ++r) {
      QC_RETURN_IF_ERROR(step(r));
      for (size_t i = 0; i < sum.size(); ++i) sum[i] += part[i];
    }
    return absl::OkStatus();
  };
  QC_RETURN_IF_ERROR(all_reduce([&](size_t r) { return ranks_[r]->Embed(tokens, part.data()); }));
  x = sum;
  for (int64_t l = 0; l < spec.num_layers; ++l) {
    QC_RETURN_IF_ERROR(all_reduce([&](size_t r) {
      ranks_[r]->AttentionDelta(l, x.data(), n, *caches[r], part.data());
      return absl::OkStatus();
    }));
    for (size_t i = 0; i < x.size(); ++i) x[i] += sum[i];
    QC_RETURN_IF_ERROR(all_reduce([&](size_t r) {
      ranks_[r]->FfnDelta(l, x.data(), n, part.data());
      return absl::OkStatus();
    }));
    for (size_t i = 0; i < x.size(); ++i) x[i] += sum[i];
  }
  // The head: each rank's vocabulary slice, gathered in rank order.
  ranks_[0]->FinalNorm(x.data(), n, part.data());
  int64_t column = 0;
  for (size_t r = 0; r < ranks_.size(); ++r) {
    const int64_t v = ranks_[r]->spec().vocab_size;
    std::vector<float> slice(static_cast<size_t>(n * v));
    ranks_[r]->Head(part.data(), n, slice.data());
    for (int64_t t = 0; t < n; ++t) std::copy_n(slice.data() + t * v, v, logits.data() + t * vocab_ + column);
    column += v;
    Runner::Advance(*caches[r], n);
  }
  return absl::OkStatus();
}

}  // namespace quantc::runner
