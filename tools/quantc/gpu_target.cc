#include "tools/quantc/gpu_target.h"

#include <algorithm>

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
    absl::StatusOr<int32_t> first = gpu->Greedy(prompt, **cache);
    if (!first.ok()) return first.status();
    std::vector<int32_t> out = {*first};
    // Then chunks of steps queued back to back (GpuRunner::Generate), looking for eos between
    // them: at most a chunk's worth of steps past it, none past n.
    constexpr int64_t kGenerateChunk = 16;
    while (!(eos && out.back() == *eos) && static_cast<int64_t>(out.size()) < n) {
      const int64_t count = std::min<int64_t>(kGenerateChunk, n - static_cast<int64_t>(out.size()));
      absl::StatusOr<std::vector<int32_t>> made = gpu->Generate(out.back(), count, **cache);
      if (!made.ok()) return made.status();
      for (int32_t t : *made) {
        out.push_back(t);
        if (eos && t == *eos) break;
      }
    }
    return out;
  };
  return t;
#else
  (void)model, (void)options;
  return absl::FailedPreconditionError("--target gpu: this quantc was built without CUDA (no nvcc when it was configured)");
#endif
}

}  // namespace quantc::tools
