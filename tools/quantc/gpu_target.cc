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
  GpuTarget t{gpu, gpu->AsWindowModel(), nullptr};
  t.generate = [gpu](std::span<const int32_t> prompt, int64_t n,
                     std::optional<int32_t> eos) -> absl::StatusOr<std::vector<int32_t>> {
    absl::StatusOr<std::unique_ptr<runner::GpuCache>> cache = gpu->NewCache(static_cast<int64_t>(prompt.size()) + n);
    if (!cache.ok()) return cache.status();
    std::vector<int32_t> out;
    absl::StatusOr<int32_t> next = gpu->Greedy(prompt, **cache);
    while (next.ok()) {
      out.push_back(*next);
      if ((eos && *next == *eos) || static_cast<int64_t>(out.size()) == n) return out;
      next = gpu->Greedy(std::span(&out.back(), 1), **cache);
    }
    return next.status();
  };
  return t;
#else
  (void)model, (void)options;
  return absl::FailedPreconditionError("--target gpu: this quantc was built without CUDA (no nvcc when it was configured)");
#endif
}

}  // namespace quantc::tools
