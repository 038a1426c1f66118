// The CPU reference runner: a decoder-only forward pass in FP32 for every architecture adapter
// (qwen2, llama: GQA attention + SwiGLU; deepseek_v3: absorbed MLA over a latent cache + sigmoid
// group-routed MoE), with a KV
// cache, batched prefill and single-token decode, executing weights in their stored formats.
// It is what judges every pass and format, so it follows Hugging Face transformers' math.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/arch/adapter.h"
#include "lib/ir/model.h"
#include "lib/runner/options.h"

namespace quantc::runner {

// Per-layer state of the tokens seen so far: keys and values for GQA attention; for MLA the
// latent cache (normalized KV latent and rotated k_pe), a fraction of the per-head K and V.
class KvCache {
 public:
  int64_t length() const { return length_; }
  void Clear();

 private:
  friend class Runner;
  struct Layer {
    std::vector<float> k, v;  // GQA: [length, kv_heads * head_dim] each; MLA: [length, kv_lora], [length, rope]
  };
  std::vector<Layer> layers_;
  int64_t length_ = 0;
};

// Receives hidden states during Forward: index 0 is the embedding output, i < L the input of
// layer i, L the output of the final norm (the layout of the fixtures' golden.safetensors).
using HiddenObserver = std::function<void(int64_t index, std::span<const float> states /* [n, hidden] */)>;

class Runner {
 public:
  // The model must outlive the runner (weights stay in its mapped files).
  static absl::StatusOr<std::unique_ptr<Runner>> Create(const Model& model, RunnerOptions options = {});
  ~Runner();

  const arch::ModelSpec& spec() const;
  std::unique_ptr<KvCache> NewCache() const;

  // Runs `tokens` at positions cache.length() .. +n, appending to the cache. Writes logits
  // [n, vocab] when `logits` is non-null (its size must be n * vocab).
  absl::Status Forward(std::span<const int32_t> tokens, KvCache& cache, std::span<float> logits,
                       const HiddenObserver& observer = nullptr) const;

  // Forward's steps, also driven by the tensor-parallel simulator (tensor_parallel.h): every rank
  // runs them on the same replicated activations x [n, hidden] and the driver sums the partial
  // results, as DeepSeek's engine all-reduces them. On an mp rank (layout "mp") the embedding
  // rows of tokens outside the rank's vocabulary slice are zero, the heads, MLP width and vocabulary
  // are the rank's slices, and routed experts held by other ranks contribute nothing.
  absl::Status Embed(std::span<const int32_t> tokens, float* x) const;
  // delta = attention(attn_norm(x)) for positions cache.length() .. +n; appends to the cache.
  void AttentionDelta(int64_t layer, const float* x, int64_t n, KvCache& cache, float* delta) const;
  // delta = ffn(ffn_norm(x)) (dense MLP or MoE).
  void FfnDelta(int64_t layer, const float* x, int64_t n, float* delta) const;
  void FinalNorm(const float* x, int64_t n, float* xn) const;
  // logits [n, rows of the head] of normalized states.
  void Head(const float* xn, int64_t n, float* logits) const;
  // The inputs of layer's attention projections (attn_norm(x)) and of its FFN (ffn_norm(x)):
  // [n, hidden] each, for calibration that needs no more of the layer.
  void AttentionInput(int64_t layer, const float* x, int64_t n, float* xn) const;
  void FfnInput(int64_t layer, const float* x, int64_t n, float* xn) const;
  // Rebuilds `layer`'s weights from the model's current tensor entries (after a pass replaced some
  // of them: gptq quantizes a layer, then runs it again to calibrate the next step).
  absl::Status ReloadLayer(int64_t layer);
  // Marks n more positions as cached (after every layer's AttentionDelta).
  static void Advance(KvCache& cache, int64_t n) { cache.length_ += n; }

 private:
  struct Impl;
  explicit Runner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace quantc::runner
