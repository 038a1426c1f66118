// `--target gpu`: a model's windows on the CUDA device (lib/runner/gpu_runner.h), for the commands
// that evaluate window by window (eval). A quantc built without nvcc says so.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "lib/ir/model.h"
#include "lib/runner/eval.h"
#include "lib/runner/options.h"

namespace quantc::tools {

struct GpuTarget {
  std::shared_ptr<void> runner;  // keeps the GPU runner (and its device memory) alive
  runner::WindowModel model;
};
// `model` must outlive the target. FAILED_PRECONDITION without CUDA (build or device).
absl::StatusOr<GpuTarget> MakeGpuTarget(const Model& model, runner::RunnerOptions options = {});

}  // namespace quantc::tools
