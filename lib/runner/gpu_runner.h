// The forward pass on a CUDA device (`--target gpu`; built when nvcc is found). Weights go to the
// device in their stored format where lib/cuda has a matmul kernel for it (F32/F16/BF16, Q8_0,
// Q4_0, Q4_K, Q6_K, MXFP4) and are decoded inside the kernel; other formats are decoded once on
// the host to FP32 and uploaded as such. Activations stay on the device; the embedding rows are
// gathered on the host. The arithmetic is the CPU runner's (lib/runner/layers.h), in a different
// summation order.
// This first version runs dense GQA decoders (qwen2, llama) window by window from an empty cache;
// MLA, MoE, rotate's online Hadamard and mp ranks are refused (UNIMPLEMENTED).
#pragma once

#include <memory>
#include <span>

#include "absl/status/statusor.h"
#include "lib/ir/model.h"
#include "lib/runner/eval.h"
#include "lib/runner/options.h"
#include "lib/runner/runner.h"

namespace quantc::runner {

class GpuRunner {
 public:
  // The model must outlive the runner. FAILED_PRECONDITION without a CUDA device.
  static absl::StatusOr<std::unique_ptr<GpuRunner>> Create(const Model& model, RunnerOptions options = {});
  ~GpuRunner();
  const arch::ModelSpec& spec() const;
  // Runs `tokens` at positions 0 .. n-1 and writes logits [n, vocab]; `observer` sees the hidden
  // states as the CPU runner's Forward gives them.
  absl::Status Forward(std::span<const int32_t> tokens, std::span<float> logits,
                       const HiddenObserver& observer = nullptr) const;
  // For Evaluate / validate: windows run from an empty cache anyway.
  WindowModel AsWindowModel() const;

 private:
  struct Impl;
  explicit GpuRunner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace quantc::runner
