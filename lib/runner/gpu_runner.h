// The forward pass on a CUDA device (`--target gpu`; built when nvcc is found). Weights go to the
// device in their stored format where lib/cuda has a matmul kernel for it (F32/F16/BF16, DeepSeek's
// block FP8, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, ggml MXFP4, compressed-tensors int4/int8
// pack-quantized, MXFP4 and NVFP4 safetensors) and are decoded inside the kernel (a prefill of 64
// tokens or more: into FP32 tiles for cuBLAS, lib/cuda/blas.h); other formats (the remaining ggml
// types so far) are decoded once on the host to FP32 and uploaded as such. Projections that read
// the same input (q/k/v, gate/up) are stacked into one matrix when they share a format (and, for
// scaled formats, a scale layout). Activations, the KV cache and the embedding (looked up there)
// stay on the device; the host passes token ids in and reads arg-maxes out through mapped memory,
// with no copy queued. The arithmetic is the CPU runner's
// (lib/runner/layers.h), in a different summation order.
// Runs dense GQA decoders (qwen2, llama) and DeepSeek-V3: multi-head latent attention over a latent
// cache (gpu_mla.h) and mixture-of-experts layers whose routing runs on the host with the CPU
// runner's Route (gpu_moe.h). rotate's online Hadamard and mp ranks are refused (UNIMPLEMENTED).
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/ir/model.h"
#include "lib/runner/eval.h"
#include "lib/runner/options.h"
#include "lib/runner/runner.h"

namespace quantc::cuda {
class Stream;
}  // namespace quantc::cuda

namespace quantc::runner {

// The device state of one sequence: keys and values (MLA: the latent cache) of every layer for up
// to `capacity` positions, the rope tables, scratch memory and the recorded decode step.
class GpuCache {
 public:
  ~GpuCache();
  int64_t length() const;
  int64_t capacity() const;

 private:
  friend class GpuRunner;
  struct State;
  struct Scratch;  // one forward pass's device buffers, for a number of tokens
  explicit GpuCache(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

class GpuRunner {
 public:
  // The model must outlive the runner. FAILED_PRECONDITION without a CUDA device.
  static absl::StatusOr<std::unique_ptr<GpuRunner>> Create(const Model& model, RunnerOptions options = {});
  ~GpuRunner();
  const arch::ModelSpec& spec() const;
  int64_t vocab() const;
  // Bytes of weights one token's forward pass reads on the device: every matrix once, the
  // embedding aside (one row a token). The numerator of the decode bandwidth bound.
  uint64_t weight_bytes_per_token() const;

  absl::StatusOr<std::unique_ptr<GpuCache>> NewCache(int64_t capacity) const;
  // Runs `tokens` at positions cache.length() .. + n, appending to the cache. `logits` is
  // [n, vocab] (every token's), [vocab] (the last token's) or empty. `observer` sees the hidden
  // states as the CPU runner's Forward gives them (synchronizing at every layer).
  absl::Status Forward(std::span<const int32_t> tokens, GpuCache& cache, std::span<float> logits,
                       const HiddenObserver& observer = nullptr) const;
  // Forward, then the arg-max of the last token's logits, taken on the device. A single token
  // replays the cache's recorded decode step (a CUDA graph; recorded on first use), except in a
  // model with MoE layers, whose routing on the host rules the graph out.
  absl::StatusOr<int32_t> Greedy(std::span<const int32_t> tokens, GpuCache& cache) const;
  // Greedy decoding of `count` tokens from `first` (the token at the cache's next position, such as
  // the arg-max Greedy returned): the arg-max of each step is the next one's input, all on the
  // device (the cache's token history), so the count steps are queued back to back and the host
  // waits once. Returns the count arg-maxes, as that many calls of Greedy would.
  absl::StatusOr<std::vector<int32_t>> Generate(int32_t first, int64_t count, GpuCache& cache) const;
  // Forward from an empty cache of exactly n positions, logits [n, vocab].
  absl::Status Forward(std::span<const int32_t> tokens, std::span<float> logits,
                       const HiddenObserver& observer = nullptr) const;
  // For Evaluate / validate: each window from an empty cache.
  WindowModel AsWindowModel() const;

 private:
  struct Impl;
  explicit GpuRunner(std::unique_ptr<Impl> impl);
  // The scratch in `slot`, (re)allocated for `tokens` tokens and `logit_rows` rows of logits.
  absl::StatusOr<GpuCache::Scratch*> ScratchFor(const cuda::Stream& stream, std::unique_ptr<GpuCache::Scratch>& slot,
                                                int64_t tokens, int64_t logit_rows) const;
  // Writes the tokens and their first position into the cache's history, where the step's first
  // kernel reads them (checked against the vocabulary; the cache's room checked).
  absl::Status Stage(std::span<const int32_t> tokens, GpuCache& cache) const;
  // Queues the forward pass and arg-max of n staged tokens (Greedy without the wait).
  absl::Status QueueGreedy(int64_t n, GpuCache& cache) const;
  // Queues the forward pass of n staged tokens on the cache's stream; the last `logit_rows`
  // tokens' logits into s.logits, their arg-max too when `argmax`.
  absl::Status Enqueue(int64_t n, GpuCache& cache, GpuCache::Scratch& s, int64_t logit_rows, bool argmax,
                       const HiddenObserver& observer) const;
  std::unique_ptr<Impl> impl_;
};

}  // namespace quantc::runner
