// A tensor-parallel simulator of DeepSeek's engine (DeepSeek-V3 inference/model.py): N logical
// ranks, each a Runner over only its own shard (formats/mp ReadMpRank), stepped together on the
// same replicated activations and combined where the engine communicates: the embedding and every
// attention (wo), dense-MLP / shared-expert (w2) and routed-expert output are all-reduced (summed,
// here in FP32, rank order), the head's vocabulary slices all-gathered. It proves a set of mp
// shards computes the unsharded model.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/ir/model.h"
#include "lib/runner/runner.h"

namespace quantc::runner {

class TensorParallelRunner {
 public:
  // `ranks[r]` holds rank r of N = ranks.size() (layout "mp"); the models must outlive the runner.
  static absl::StatusOr<std::unique_ptr<TensorParallelRunner>> Create(std::span<const Model> ranks);

  int64_t vocab_size() const { return vocab_; }
  // One KV cache per rank (MLA's latent cache is the same on every rank, as in the engine).
  std::vector<std::unique_ptr<KvCache>> NewCaches() const;
  // As Runner::Forward: logits [n, vocab] for tokens at positions caches[0]->length() .. +n.
  absl::Status Forward(std::span<const int32_t> tokens, std::span<const std::unique_ptr<KvCache>> caches,
                       std::span<float> logits) const;

 private:
  std::vector<std::unique_ptr<Runner>> ranks_;
  int64_t vocab_ = 0;
};

}  // namespace quantc::runner
