// Benchmark: prefill and batch-1 decode speed (tokens/s) of the GPU runner (lib/runner/gpu_runner.h)
// on a model (folder or .gguf), against the bandwidth bound measured in the same run.
//
//   bench_gpu MODEL [--prefill 512] [--decode 128] [--reps 5] [--label NAME] [--early 1] [--per-token]
//
// Bound: a decode step must read every weight once, so tokens/s <= copy bandwidth (a device to
// device copy of 1 GiB, bytes read + written, median of 10) / weight bytes per token (every
// matrix on the device, the embedding row aside). Prefill: P random ids from an empty cache, last
// token's logits only, median of R. Decode: N greedy single-token steps (the recorded CUDA graph,
// arg-max on the device) from position 1 of a fresh cache, median of R: queued back to back, each
// step's input the arg-max of the one before on the device (GpuRunner::Generate, as `quantc run`
// decodes), or with --per-token one Greedy call a token, the host waiting for each. Prints one
// markdown table row (and the header with --header).
#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "fmt/core.h"
#include "lib/cuda/cuda.h"
#include "lib/cuda/matmul_kernels.h"
#include "lib/runner/gpu_runner.h"
#include "lib/support/status_macros.h"
#include "tools/common/model_io.h"

namespace quantc {
namespace {

struct Options {
  std::string model, label;
  int64_t prefill = 512, decode = 128, reps = 5;
  bool header = false;
  bool early = true;
  bool per_token = false;
};

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

absl::Status Run(const Options& o) {
  cuda::kernels::SetEarlyLaunch(o.early);
  QC_ASSIGN_OR_RETURN(const double bandwidth, cuda::MeasureCopyBandwidth(size_t{1} << 30, 10));
  auto t0 = std::chrono::steady_clock::now();
  QC_ASSIGN_OR_RETURN(Model model, tools::ReadModel(o.model));
  QC_ASSIGN_OR_RETURN(std::unique_ptr<runner::GpuRunner> gpu, runner::GpuRunner::Create(model));
  const double load_s = Seconds(t0);
  const int64_t vocab = gpu->vocab();
  std::mt19937_64 rng(1234);
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(vocab - 1));
  std::vector<int32_t> prompt(static_cast<size_t>(o.prefill));
  for (int32_t& t : prompt) t = id(rng);
  std::vector<float> last(static_cast<size_t>(vocab));
  std::vector<double> prefill, decode;
  for (int64_t r = 0; r <= o.reps; ++r) {  // r = 0: the warm-up
    QC_ASSIGN_OR_RETURN(std::unique_ptr<runner::GpuCache> cache, gpu->NewCache(o.prefill));
    t0 = std::chrono::steady_clock::now();
    QC_RETURN_IF_ERROR(gpu->Forward(prompt, *cache, last));
    if (r > 0) prefill.push_back(Seconds(t0));
  }
  for (int64_t r = 0; r <= o.reps; ++r) {
    QC_ASSIGN_OR_RETURN(std::unique_ptr<runner::GpuCache> cache, gpu->NewCache(o.decode + 1));
    QC_ASSIGN_OR_RETURN(int32_t next, gpu->Greedy(std::span(prompt).first(1), *cache));  // records the graph
    t0 = std::chrono::steady_clock::now();
    if (o.per_token) {
      for (int64_t i = 0; i < o.decode; ++i) {
        QC_ASSIGN_OR_RETURN(next, gpu->Greedy(std::span(&next, 1), *cache));
      }
    } else {
      QC_RETURN_IF_ERROR(gpu->Generate(next, o.decode, *cache).status());
    }
    if (r > 0) decode.push_back(Seconds(t0));
  }
  const double bytes = static_cast<double>(gpu->weight_bytes_per_token());
  const double bound = bandwidth / bytes, prefill_tps = o.prefill / Median(prefill), decode_tps = o.decode / Median(decode);
  if (o.header) {
    fmt::print("| model | weights on GPU | copy GB/s | bound tok/s | prefill {} tok/s | decode tok/s | ms/token | of bound | load s |\n",
               o.prefill);
    fmt::print("|---|---|---|---|---|---|---|---|---|\n");
  }
  fmt::print("| {} | {:.2f} GB | {:.0f} | {:.0f} | {:.0f} | {:.1f} | {:.3f} | {:.1f}% | {:.1f} |\n",
             o.label.empty() ? o.model : o.label, bytes / 1e9, bandwidth / 1e9, bound, prefill_tps, decode_tps,
             1e3 / decode_tps, 100.0 * decode_tps / bound, load_s);
  return absl::OkStatus();
}

}  // namespace
}  // namespace quantc

int main(int argc, char** argv) {
  CLI::App app{"GPU runner prefill/decode tokens/s against the bandwidth bound"};
  quantc::Options o;
  app.add_option("model", o.model, "model folder or .gguf")->required();
  app.add_option("--prefill", o.prefill, "prompt tokens")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--decode", o.decode, "generated tokens")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--reps", o.reps, "repetitions (median)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--label", o.label, "the row's name");
  app.add_flag("--header", o.header, "print the table header first");
  app.add_option("--early", o.early, "start each decode kernel before the previous one ends (lib/cuda/launch.cuh)")
      ->capture_default_str();
  app.add_flag("--per-token", o.per_token, "decode with one Greedy call a token (the host waiting for each)");
  CLI11_PARSE(app, argc, argv);
  if (absl::Status s = quantc::Run(o); !s.ok()) {
    fmt::print(stderr, "bench_gpu: {}\n", std::string(s.message()));
    return 1;
  }
  return 0;
}
