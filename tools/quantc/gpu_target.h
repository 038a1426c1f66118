// `--target gpu`: a model's windows on the CUDA device (lib/runner/gpu_runner.h), for the commands
// that evaluate window by window (eval, validate) and for greedy generation (run). A quantc built without nvcc says so.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/ir/model.h"
#include "lib/runner/eval.h"
#include "lib/runner/options.h"

namespace quantc::tools {

struct GpuTarget {
  std::shared_ptr<void> runner;  // keeps the GPU runner (and its device memory) alive
  runner::WindowModel model;
  // Up to n tokens greedily continuing `prompt`, stopping after `eos`; a device cache, one
  // recorded CUDA graph replayed per generated token.
  std::function<absl::StatusOr<std::vector<int32_t>>(std::span<const int32_t> prompt, int64_t n, std::optional<int32_t> eos)>
      generate;
};
// `model` must outlive the target. FAILED_PRECONDITION without CUDA (build or device).
absl::StatusOr<GpuTarget> MakeGpuTarget(const Model& model, runner::RunnerOptions options = {});

}  // namespace quantc::tools
