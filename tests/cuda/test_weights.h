// Random weight matrices for the CUDA tests, in each storage format the device runs: the same
// bytes as the CPU runner's WeightMatrix (the reference) and as a DeviceWeight.
#pragma once

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/cuda/cuda.h"
#include "lib/cuda/matmul_kernels.h"
#include "lib/dtypes/float_convert.h"
#include "lib/kernels/ggml_quants/quants.h"
#include "lib/kernels/matmul/weight_matrix.h"

namespace quantc::testing_cuda {

inline std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// A storage format and its parameters.
struct WeightSpec {
  enum Kind { kStored, kFp8Block, kPackedInt, kFp4 };
  std::string name;  // for test names
  Kind kind = kStored;
  DType dtype = DType::kF32;  // kStored: F32/F16/BF16 or a ggml block type
  int bits = 4;               // kPackedInt
  int64_t group = 0;          // kPackedInt: columns per scale, 0 per output channel
  bool asymmetric = false;    // kPackedInt: zero points
  kernels::fp4::Fp4Format fp4 = kernels::fp4::Fp4Format::kMx;
  float global = 1.0f;  // kFp4 (NVFP4's per-tensor multiplier)
};

// One random matrix: the host bytes (the CPU matrix views them, so they live here) and both views.
struct TestWeight {
  std::vector<uint8_t> bytes;
  std::unique_ptr<kernels::WeightMatrix> cpu;
  cuda::DeviceWeight gpu;
  // Row r of the CPU matrix in FP32.
  std::vector<float> Row(int64_t r) const {
    std::vector<float> row(static_cast<size_t>(cpu->cols()));
    cpu->DequantRows(r, r + 1, row.data());
    return row;
  }
};

inline absl::StatusOr<TestWeight> MakeTestWeight(const WeightSpec& s, int64_t rows, int64_t cols, uint32_t seed) {
  TestWeight t;
  std::mt19937 rng(seed);
  auto bytes_of = [&](size_t n) {
    std::vector<uint8_t> b(n);
    for (uint8_t& v : b) v = static_cast<uint8_t>(rng());
    return b;
  };
  switch (s.kind) {
    case WeightSpec::kStored: {
      const std::vector<float> w = Random(static_cast<size_t>(rows * cols), seed);
      if (Traits(s.dtype).is_block_quant) {
        t.bytes.resize(kernels::ggml_quants::RowBytes(s.dtype, cols) * rows);
        kernels::ggml_quants::QuantizeRows(s.dtype, w.data(), t.bytes.data(), rows, cols, nullptr);
        auto cpu = kernels::MakeBlockQuantWeight(s.dtype, t.bytes, rows, cols);
        if (!cpu.ok()) return cpu.status();
        t.cpu = std::move(*cpu);
      } else {
        const int size = Traits(s.dtype).block_bytes;
        t.bytes.resize(w.size() * size);
        for (size_t i = 0; i < w.size(); ++i) {
          if (s.dtype == DType::kF32) std::memcpy(&t.bytes[4 * i], &w[i], 4);
          const uint16_t h = s.dtype == DType::kBF16 ? F32ToBF16(w[i]) : F32ToF16(w[i]);
          if (s.dtype != DType::kF32) std::memcpy(&t.bytes[2 * i], &h, 2);
        }
        auto cpu = kernels::MakeDenseWeight(s.dtype, t.bytes, rows, cols);
        if (!cpu.ok()) return cpu.status();
        t.cpu = std::move(*cpu);
      }
      auto gpu = cuda::UploadWeight(s.dtype, t.bytes, rows, cols);
      if (!gpu.ok()) return gpu.status();
      t.gpu = std::move(*gpu);
      return t;
    }
    case WeightSpec::kFp8Block: {
      kernels::fp8::BlockLayout layout;
      layout.rows = rows, layout.cols = cols;
      t.bytes = bytes_of(static_cast<size_t>(rows * cols));
      for (uint8_t& c : t.bytes) {
        if ((c & 0x7F) == 0x7F) c ^= 1;  // no NaN codes
      }
      std::vector<float> scales(layout.scale_rows() * layout.scale_cols());
      for (float& v : scales) v = std::ldexp(1.0f + (rng() % 1000) / 1000.0f, -int(rng() % 8) - 4);
      auto gpu = cuda::UploadFp8BlockWeight(t.bytes, scales, rows, cols, 128, 128);
      if (!gpu.ok()) return gpu.status();
      t.gpu = std::move(*gpu);
      t.cpu = kernels::MakeFp8BlockWeight(t.bytes, std::move(scales), layout);
      return t;
    }
    case WeightSpec::kPackedInt: {
      const int64_t group = s.group > 0 ? s.group : cols, groups = (cols + group - 1) / group;
      t.bytes = bytes_of(static_cast<size_t>(rows * cols * s.bits / 8));  // any bit pattern is a code
      std::vector<float> scales(rows * groups);
      for (float& v : scales) v = 0.002f + 0.02f * static_cast<float>(rng() % 1000) / 1000.0f;
      std::vector<uint8_t> zeros;
      if (s.asymmetric) {
        zeros.resize(scales.size());
        for (uint8_t& z : zeros) z = static_cast<uint8_t>(rng() % (1u << s.bits));
      }
      auto gpu = cuda::UploadPackedIntWeight(t.bytes, s.bits, rows, cols, group, scales, zeros);
      if (!gpu.ok()) return gpu.status();
      t.gpu = std::move(*gpu);
      auto cpu =
          kernels::MakePackedIntWeight(t.bytes, {s.bits, rows, cols, group}, std::move(scales), std::move(zeros));
      if (!cpu.ok()) return cpu.status();
      t.cpu = std::move(*cpu);
      return t;
    }
    case WeightSpec::kFp4: {
      const int64_t groups = cols / kernels::fp4::GroupSize(s.fp4);
      t.bytes = bytes_of(static_cast<size_t>(rows * cols / 2));  // any byte is two codes
      std::vector<uint8_t> scales(rows * groups);
      for (uint8_t& v : scales) {
        // MXFP4: E8M0 2^-17 .. 2^8; NVFP4: positive E4M3 from 2^-5 to 224 (no NaN).
        v = static_cast<uint8_t>(s.fp4 == kernels::fp4::Fp4Format::kMx ? 110 + rng() % 26 : 0x10 + rng() % 0x67);
      }
      auto gpu = cuda::UploadFp4Weight(s.fp4, t.bytes, scales, s.global, rows, cols);
      if (!gpu.ok()) return gpu.status();
      t.gpu = std::move(*gpu);
      auto cpu = kernels::MakeFp4Weight(s.fp4, t.bytes, std::move(scales), s.global, rows, cols);
      if (!cpu.ok()) return cpu.status();
      t.cpu = std::move(*cpu);
      return t;
    }
  }
  return absl::InvalidArgumentError("unknown weight kind");
}

// The x' that a split (kernels::LaunchSplitX's planes and units, downloaded) stands for: value c is
// u · (254 p1 + p2) with u its unit's scale. The integer kernels compute the product with exactly
// this x' (up to FP32 rounding).
inline std::vector<double> RebuildSplit(const std::vector<int8_t>& planes, const std::vector<float>& units) {
  std::vector<double> x(units.size() / 2 * 16);
  for (size_t c = 0; c < x.size(); ++c) {
    const size_t at = c / 16 * cuda::kernels::kSplitXUnitBytes + c % 16;
    x[c] = double(units[c / 16 * 2]) * (double(cuda::kernels::kSplitXRadix) * planes[at] + planes[at + 16]);
  }
  return x;
}

// A split made on the device into buffers of its own (what the integer kernels read: Out()), and
// its bytes downloaded.
struct TestSplit {
  cuda::DeviceBuffer planes_buffer, units_buffer;
  std::vector<int8_t> planes;
  std::vector<float> units;
  cuda::kernels::SplitOut Out() const { return {planes_buffer.as<uint8_t>(), units_buffer.as<float>()}; }
  std::vector<double> Rebuilt() const { return RebuildSplit(planes, units); }
};
// `launch` writes the split of `cols` values where it is told (LaunchSplitX, or a kernel that
// writes it beside its output); returns its CUDA error code.
inline absl::StatusOr<TestSplit> MakeTestSplit(int64_t cols,
                                               const std::function<int(const cuda::kernels::SplitOut&)>& launch) {
  TestSplit t;
  t.planes.resize(cuda::kernels::SplitXPlaneBytes(cols));
  t.units.resize(cuda::kernels::SplitXUnitFloats(cols));
  absl::StatusOr<cuda::DeviceBuffer> planes = cuda::DeviceBuffer::Allocate(t.planes.size());
  if (!planes.ok()) return planes.status();
  absl::StatusOr<cuda::DeviceBuffer> units = cuda::DeviceBuffer::Allocate(t.units.size() * 4);
  if (!units.ok()) return units.status();
  t.planes_buffer = std::move(*planes), t.units_buffer = std::move(*units);
  if (absl::Status s = cuda::CheckLaunch(launch(t.Out()), "split"); !s.ok()) return s;
  if (absl::Status s = cuda::Synchronize(); !s.ok()) return s;
  absl::Status s = t.planes_buffer.Download({reinterpret_cast<uint8_t*>(t.planes.data()), t.planes.size()});
  if (s.ok()) s = t.units_buffer.Download({reinterpret_cast<uint8_t*>(t.units.data()), t.units.size() * 4});
  if (!s.ok()) return s;
  return t;
}

}  // namespace quantc::testing_cuda
