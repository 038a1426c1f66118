#include "tools/quantc/gpu_target.h"

#ifdef QUANTC_HAS_CUDA
#include "lib/runner/gpu_runner.h"
#endif

namespace quantc::tools {

absl::StatusOr<GpuTarget> MakeGpuTarget(const Model& model, runner::RunnerOptions options) {
#ifdef QUANTC_HAS_CUDA
  absl::StatusOr<std::unique_ptr<runner::GpuRunner>> r = runner::GpuRunner::Create(model, std::move(options));
  if (!r.ok()) return r.status();
  std::shared_ptr<runner::GpuRunner> gpu = std::move(*r);
  GpuTarget t{gpu, gpu->AsWindowModel()};
  return t;
#else
  (void)model, (void)options;
  return absl::FailedPreconditionError("--target gpu: this quantc was built without CUDA (no nvcc when it was configured)");
#endif
}

}  // namespace quantc::tools
