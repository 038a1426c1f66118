// Benchmark: the one-token matrix-vector products of a decode step (n == 1) on the CUDA kernels,
// random weights of each format at the 7B shapes (DeepSeek-R1-Distill-Qwen-7B: hidden 3584, FFN
// 18944, q/k/v stacked 4608), as GB/s of weight bytes read and as a share of the device's copy
// bandwidth (cuda::MeasureCopyBandwidth: bytes read + written, bench_gpu's bound).
//
//   bench_gpu_matvec [--formats BF16,Q8_0,Q4_K,Q6_K] [--reps 200] [--lm-head] [--early 1]
//                    [--kernels default,generic] [--shapes down]
//
// Every kernel that can run a format's product is timed (kernels::MatVecKernel: "generic" is the
// kernel of n > 1, which ran every one-token product before the decode kernels, "generic rows R"
// the same with R rows a thread block instead of 4; "rows R" the decode kernels of Q4_K and Q5_K
// with R rows a warp, Q4_K's subnormal codes or x split into planes (Q6_K: planes only), and S warps along a row
// ("split S"; none: by the row count); "staged": the thread block's rows copied to shared memory
// first; "default" what LaunchMatMul picks, given x split as the runner gives it to Q4_K), and its
// result is compared with the generic kernel's (max |Δ| / max |y|). --kernels and --shapes keep
// those whose names contain one of the parts given (for Nsight Compute runs of one kernel).
// Weights: random bytes with every block's d (and dmin) a small positive half; BF16: random finite
// values. A shape gets as many copies as make 256 MB, cycled, so the 50 MB L2 cannot serve a
// product from the last one (a decode step's matrices are distinct too).
// Timing: a CUDA graph of `reps` products (as the runner's decode graph), launched once to warm up,
// then 5 times between CUDA events; the median. Prints a markdown table.
#include <cuda_runtime.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "fmt/core.h"
#include "lib/cuda/cuda.h"
#include "lib/cuda/matmul_kernels.h"
#include "lib/dtypes/float_convert.h"
#include "lib/kernels/ggml_quants/quants.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc {
namespace {

using cuda::kernels::Format;
using cuda::kernels::MatMulArgs;
using cuda::kernels::MatVecKernel;

struct Options {
  std::string formats = "BF16,Q8_0,Q4_K,Q6_K";
  int reps = 200;
  bool lm_head = false;
  bool early = true;
  std::string kernels, shapes;  // comma-separated names (or parts of them) to run; empty: all
};

// Whether `name` contains one of the comma-separated parts of `filter` (an empty filter: yes).
bool Selected(const std::string& filter, const std::string& name) {
  if (filter.empty()) return true;
  std::stringstream list(filter);
  for (std::string part; std::getline(list, part, ',');) {
    if (!part.empty() && name.find(part) != std::string::npos) return true;
  }
  return false;
}

struct Shape {
  const char* name;
  int64_t rows, cols;
};

struct FormatCase {
  const char* name;
  DType dtype;
  Format format;
};

absl::StatusOr<FormatCase> FormatNamed(std::string_view name) {
  for (FormatCase c : {FormatCase{"BF16", DType::kBF16, Format::kBF16}, FormatCase{"Q8_0", DType::kQ8_0, Format::kQ8_0},
                       FormatCase{"Q4_K", DType::kQ4_K, Format::kQ4_K}, FormatCase{"Q5_K", DType::kQ5_K, Format::kQ5_K},
                       FormatCase{"Q6_K", DType::kQ6_K, Format::kQ6_K}}) {
    if (std::equal(name.begin(), name.end(), c.name, c.name + std::strlen(c.name),
                   [](char a, char b) { return std::toupper(a) == std::toupper(b); })) {
      return c;
    }
  }
  return absl::InvalidArgumentError(StrCat("no benchmark for format ", name, " (BF16, Q8_0, Q4_K, Q5_K, Q6_K)"));
}

uint64_t SplitMix(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Random bytes made valid: the half scales of each block (where ggml's structs keep them) set to
// 0.001 .. 0.002, BF16 values to ±(1 .. 2) · 2^-7.
std::vector<uint8_t> RandomWeights(DType dtype, int64_t rows, int64_t cols, uint64_t seed) {
  std::vector<uint8_t> bytes(quantc::kernels::ggml_quants::RowBytes(dtype, cols) * rows + 8);
  for (size_t i = 0; i + 8 <= bytes.size(); i += 8) {
    const uint64_t v = SplitMix(seed);
    std::memcpy(&bytes[i], &v, 8);
  }
  bytes.resize(bytes.size() - 8);
  if (dtype == DType::kBF16) {
    for (size_t i = 0; i < bytes.size(); i += 2) {
      uint16_t v;
      std::memcpy(&v, &bytes[i], 2);
      v = static_cast<uint16_t>((v & 0x807F) | 0x3C00);
      std::memcpy(&bytes[i], &v, 2);
    }
    return bytes;
  }
  std::vector<int> halves;  // byte offsets of the block's half scales
  switch (dtype) {
    case DType::kQ8_0: halves = {0}; break;
    case DType::kQ4_K:
    case DType::kQ5_K: halves = {0, 2}; break;
    case DType::kQ6_K: halves = {208}; break;
    default: break;
  }
  const size_t block = static_cast<size_t>(Traits(dtype).block_bytes);
  for (size_t b = 0; b + block <= bytes.size(); b += block) {
    for (int o : halves) {
      const uint16_t h = F32ToF16(0.001f * (1.0f + static_cast<float>(SplitMix(seed) % 1000) / 1000.0f));
      std::memcpy(&bytes[b + o], &h, 2);
    }
  }
  return bytes;
}

absl::Status Check(cudaError_t e, std::string_view what) {
  if (e == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(StrCat("CUDA: ", what, ": ", cudaGetErrorString(e)));
}

std::string KernelName(const MatVecKernel& k) {
  switch (k.kind) {
    case MatVecKernel::kDefault: return "default";
    case MatVecKernel::kGeneric:
      return StrCat("generic", k.rows == 0 ? "" : StrCat(" rows ", k.rows), k.staged ? " staged" : "");
    case MatVecKernel::kDecode: break;
  }
  return StrCat("rows ", k.rows, k.subnormal ? " subnormal" : "", k.planes ? " planes" : "", k.staged ? " staged" : "",
                k.split == 0 ? "" : StrCat(" split ", k.split));
}

// The generic kernel first (the reference), the decode kernels with their options, the default.
std::vector<MatVecKernel> Kernels() {
  std::vector<MatVecKernel> ks(3);
  for (int i = 0; i < 3; ++i) ks[i].kind = MatVecKernel::kGeneric, ks[i].rows = i;  // 4 rows (the reference), 1, 2
  for (int rows : {1, 2, 4}) {
    MatVecKernel& k = ks.emplace_back();
    k.kind = MatVecKernel::kGeneric, k.rows = rows, k.staged = true;
  }
  for (int rows : {2, 4}) {
    for (bool subnormal : {false, true}) {
      for (int split : {0, 1, 2, 4}) {
        MatVecKernel k;
        k.kind = MatVecKernel::kDecode, k.rows = rows, k.subnormal = subnormal, k.split = split;
        ks.push_back(k);
      }
    }
  }
  for (bool staged : {false, true}) {
    for (int rows : {1, 2, 4}) {
      for (int split : {0, 1, 2, 4}) {
        MatVecKernel k;
        k.kind = MatVecKernel::kDecode, k.rows = rows, k.planes = true, k.split = split, k.staged = staged;
        ks.push_back(k);
      }
    }
  }
  for (int rows : {2, 4}) {
    for (int split : {0, 1, 2, 4}) {
      MatVecKernel k;
      k.kind = MatVecKernel::kDecode, k.rows = rows, k.subnormal = true, k.split = split, k.staged = true;
      ks.push_back(k);
    }
  }
  ks.emplace_back();
  return ks;
}

template <class Launch>
absl::StatusOr<double> TimeLaunches(int reps, const cuda::Stream& stream, Launch launch);

// The median time of one product, in seconds, on `kernel`, cycling through `copies` copies of the
// weights `stride` bytes apart.
absl::StatusOr<double> TimeProduct(const FormatCase& f, MatMulArgs a, int copies, int64_t stride,
                                   const MatVecKernel& kernel, int reps, const cuda::Stream& stream) {
  const uint8_t* w0 = static_cast<const uint8_t*>(a.w);
  return TimeLaunches(reps, stream, [&](int i) {
    a.w = w0 + (i % copies) * stride;
    return cuda::kernels::LaunchMatVec(f.format, a, kernel, stream.get());
  });
}

// The median time of one of `reps` launches (launch(i): the CUDA error code) recorded in a graph.
template <class Launch>
absl::StatusOr<double> TimeLaunches(int reps, const cuda::Stream& stream, Launch launch) {
  QC_ASSIGN_OR_RETURN(cuda::Graph graph, cuda::Graph::Capture(stream, [&]() -> absl::Status {
                        for (int i = 0; i < reps; ++i) QC_RETURN_IF_ERROR(cuda::CheckLaunch(launch(i), "launch"));
                        return absl::OkStatus();
                      }));
  cudaEvent_t start, stop;
  QC_RETURN_IF_ERROR(Check(cudaEventCreate(&start), "event"));
  QC_RETURN_IF_ERROR(Check(cudaEventCreate(&stop), "event"));
  std::vector<float> ms;
  absl::Status status;
  for (int t = -1; t < 5 && status.ok(); ++t) {  // t = -1: the warm-up
    cudaEventRecord(start, stream.get());
    status = graph.Launch(stream);
    cudaEventRecord(stop, stream.get());
    if (status.ok()) status = Check(cudaEventSynchronize(stop), "products");
    float elapsed = 0;
    cudaEventElapsedTime(&elapsed, start, stop);
    if (t >= 0) ms.push_back(elapsed);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  QC_RETURN_IF_ERROR(status);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2] * 1e-3 / reps;
}

absl::Status Run(const Options& o) {
  cuda::kernels::SetEarlyLaunch(o.early);
  std::vector<FormatCase> formats;
  std::stringstream list(o.formats);
  for (std::string name; std::getline(list, name, ',');) {
    QC_ASSIGN_OR_RETURN(FormatCase f, FormatNamed(name));
    formats.push_back(f);
  }
  if (cuda::DeviceCount() == 0) return absl::FailedPreconditionError("no CUDA device");
  std::vector<Shape> shapes = {
      {"18944x3584 (gate, up)", 18944, 3584}, {"3584x18944 (down)", 3584, 18944}, {"4608x3584 (q, k, v)", 4608, 3584}};
  if (o.lm_head) shapes.push_back({"152064x3584 (lm head)", 152064, 3584});
  std::erase_if(shapes, [&](const Shape& s) { return !Selected(o.shapes, s.name); });
  QC_ASSIGN_OR_RETURN(const double bandwidth, cuda::MeasureCopyBandwidth(size_t{1} << 30, 10));
  QC_ASSIGN_OR_RETURN(cuda::Stream stream, cuda::Stream::Create());
  fmt::print("{}; copy bandwidth (read + write) {:.0f} GB/s; {} products per timing\n\n", cuda::DeviceDescription(),
             bandwidth / 1e9, o.reps);
  fmt::print("| format | shape | kernel | µs | GB/s | of copy | max Δ vs generic |\n");
  fmt::print("|---|---|---|---|---|---|---|\n");
  constexpr int64_t kRotation = int64_t{256} << 20;
  for (const FormatCase& f : formats) {
    for (const Shape& s : shapes) {
      // The weights as UploadWeight lays them out on the device (Q6_K's rows apart, padded), the
      // stored bytes counted for the bandwidth.
      const std::vector<uint8_t> host = RandomWeights(f.dtype, s.rows, s.cols, 1234 + s.rows);
      QC_ASSIGN_OR_RETURN(cuda::DeviceWeight laid, cuda::UploadWeight(f.dtype, host, s.rows, s.cols));
      const int64_t row_bytes = static_cast<int64_t>(laid.row_bytes);
      const int64_t stored = static_cast<int64_t>(laid.stored_row_bytes) * s.rows;
      const int64_t bytes = row_bytes * s.rows, stride = (bytes + 16 + 255) / 256 * 256;
      const int copies = static_cast<int>(std::max<int64_t>(1, (kRotation + bytes - 1) / bytes));
      QC_ASSIGN_OR_RETURN(cuda::DeviceBuffer w, cuda::DeviceBuffer::Allocate(stride * copies));
      QC_RETURN_IF_ERROR(
          Check(cudaMemcpy(w.data(), laid.bytes.data(), bytes, cudaMemcpyDeviceToDevice), "copying the weights"));
      for (int c = 1; c < copies; ++c) {
        QC_RETURN_IF_ERROR(Check(cudaMemcpy(w.as<uint8_t>() + c * stride, w.data(), bytes, cudaMemcpyDeviceToDevice),
                                 "copying the weights"));
      }
      std::mt19937 rng(7);
      std::normal_distribution<float> normal(0.0f, 1.0f);
      std::vector<float> x(static_cast<size_t>(s.cols));
      for (float& v : x) v = normal(rng);
      QC_ASSIGN_OR_RETURN(cuda::DeviceBuffer dx,
                          cuda::DeviceBuffer::FromHost({reinterpret_cast<const uint8_t*>(x.data()), x.size() * 4}));
      QC_ASSIGN_OR_RETURN(cuda::DeviceBuffer dy, cuda::DeviceBuffer::Allocate(s.rows * 4));
      QC_ASSIGN_OR_RETURN(cuda::DeviceBuffer planes,
                          cuda::DeviceBuffer::Allocate(cuda::kernels::SplitXPlaneBytes(s.cols)));
      QC_ASSIGN_OR_RETURN(cuda::DeviceBuffer units,
                          cuda::DeviceBuffer::Allocate(cuda::kernels::SplitXUnitFloats(s.cols) * 4));
      auto split_x = [&](int) {
        return cuda::kernels::LaunchSplitX(dx.as<float>(), s.cols, {planes.as<uint8_t>(), units.as<float>()},
                                           stream.get());
      };
      QC_RETURN_IF_ERROR(cuda::CheckLaunch(split_x(0), "split x"));
      if (Selected(o.kernels, "split x")) {
        QC_ASSIGN_OR_RETURN(const double t, TimeLaunches(o.reps, stream, split_x));
        fmt::print("| {} | {} | split x (LaunchSplitX alone) | {:.1f} | | | |\n", f.name, s.name, t * 1e6);
      }
      MatMulArgs a;
      a.x_planes = planes.as<uint8_t>(), a.x_units = units.as<float>();
      a.w = w.data(), a.rows = s.rows, a.cols = s.cols, a.row_bytes = row_bytes;
      a.x = dx.as<float>(), a.n = 1, a.y = dy.as<float>(), a.ldy = s.rows;
      std::vector<float> want(static_cast<size_t>(s.rows)), got(want.size());
      for (const MatVecKernel& k : Kernels()) {
        const bool reference = k.kind == MatVecKernel::kGeneric && k.rows == 0;
        if (!reference && !Selected(o.kernels, KernelName(k))) continue;
        if (cuda::kernels::LaunchMatVec(f.format, a, k, stream.get()) != 0) continue;  // no such kernel
        QC_RETURN_IF_ERROR(stream.Synchronize());
        std::vector<float>& y = reference ? want : got;
        QC_RETURN_IF_ERROR(dy.Download({reinterpret_cast<uint8_t*>(y.data()), y.size() * 4}));
        double err = 0, norm = 0;
        for (size_t i = 0; i < y.size(); ++i) {
          err = std::max(err, std::fabs(double(y[i]) - want[i]));
          norm = std::max(norm, std::fabs(double(want[i])));
        }
        QC_ASSIGN_OR_RETURN(const double t, TimeProduct(f, a, copies, stride, k, o.reps, stream));
        const double gbs = static_cast<double>(stored) / t / 1e9;
        fmt::print("| {} | {} | {} | {:.1f} | {:.0f} | {:.1f}% | {:.1e} |\n", f.name, s.name, KernelName(k), t * 1e6,
                   gbs, 100.0 * gbs * 1e9 / bandwidth, norm > 0 ? err / norm : err);
        std::fflush(stdout);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace quantc

int main(int argc, char** argv) {
  CLI::App app{"One-token matrix-vector products of the CUDA kernels against the copy bandwidth"};
  quantc::Options o;
  app.add_option("--formats", o.formats, "comma-separated: BF16, Q8_0, Q4_K, Q5_K, Q6_K")->capture_default_str();
  app.add_option("--reps", o.reps, "products per timing")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_flag("--lm-head", o.lm_head, "also the 152064x3584 output matrix");
  app.add_option("--early", o.early, "start each product before the previous one ends (lib/cuda/launch.cuh)")
      ->capture_default_str();
  app.add_option("--kernels", o.kernels,
                 "comma-separated kernel names or parts of them (\"default\", \"rows 4\", ...); the generic kernel, "
                 "the reference, always runs");
  app.add_option("--shapes", o.shapes, "comma-separated shape names or parts of them (\"down\", \"18944x3584\")");
  CLI11_PARSE(app, argc, argv);
  if (absl::Status s = quantc::Run(o); !s.ok()) {
    fmt::print(stderr, "bench_gpu_matvec: {}\n", std::string(s.message()));
    return 1;
  }
  return 0;
}
