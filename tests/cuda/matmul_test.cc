// The GPU's weight-stored matmul against the CPU runner's (kernels::MatMul on the same stored
// bytes): every format with a CUDA kernel (ggml blocks, dense floats, block FP8, compressed-tensors
// packed int4/int8 per channel and per group, ragged last groups, with and without zero points,
// MXFP4 and NVFP4 in the safetensors layouts), 1 to 17 input rows, and one token at the 7B
// widths on each kernel that can run it. The weights decode to the same values on both; only the
// FP32 summation order differs, so results agree to ~1e-6 relative (the bound checked: 1e-5 of the
// largest output).
#include <cmath>
#include <optional>
#include <random>
#include <tuple>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/cuda/cuda.h"
#include "lib/kernels/ggml_quants/quants.h"
#include "lib/kernels/matmul/weight_matrix.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"
#include "tests/cuda/test_weights.h"

namespace quantc {
namespace {

class CudaMatMulTest : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override {
    if (cuda::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  }
};

using testing_cuda::Random;

// y = W·x for n tokens through the GPU's matmul (gpu) and the CPU kernels (cpu: the same bytes):
// the largest |difference| and the largest |y| of the CPU's.
struct GpuVsCpu {
  double max_error = 0, max_abs = 0;
};
absl::StatusOr<GpuVsCpu> CompareMatMul(const cuda::DeviceWeight& gpu, const kernels::WeightMatrix& cpu,
                                       const std::vector<float>& x, int64_t n) {
  std::vector<float> want(n * cpu.rows()), got(n * cpu.rows());
  kernels::MatMul(cpu, x.data(), n, want.data());
  QC_ASSIGN_OR_RETURN(auto dx, cuda::DeviceBuffer::FromHost({reinterpret_cast<const uint8_t*>(x.data()), x.size() * 4}));
  QC_ASSIGN_OR_RETURN(auto dy, cuda::DeviceBuffer::Allocate(got.size() * 4));
  QC_RETURN_IF_ERROR(cuda::MatMul(gpu, dx.as<float>(), n, dy.as<float>()));
  QC_RETURN_IF_ERROR(dy.Download({reinterpret_cast<uint8_t*>(got.data()), got.size() * 4}));
  GpuVsCpu r;
  for (size_t i = 0; i < got.size(); ++i) {
    r.max_error = std::max(r.max_error, std::fabs(double(got[i]) - want[i]));
    r.max_abs = std::max(r.max_abs, std::fabs(double(want[i])));
  }
  return r;
}

TEST_P(CudaMatMulTest, EqualsTheCpuKernelsOnTheSameBytes) {
  const DType dtype = GetParam();
  // Widths that leave the last pass of a warp over a row partly empty for every format.
  constexpr int64_t kRows = 67;
  const int64_t kCols = Traits(dtype).block_elems == 256 ? 768 : 800;
  const std::vector<float> w = Random(kRows * kCols, 1);
  std::vector<uint8_t> bytes(kernels::ggml_quants::RowBytes(dtype, kCols) * kRows);
  kernels::ggml_quants::QuantizeRows(dtype, w.data(), bytes.data(), kRows, kCols, nullptr);
  auto cpu = Traits(dtype).is_block_quant ? kernels::MakeBlockQuantWeight(dtype, bytes, kRows, kCols)
                                          : kernels::MakeDenseWeight(dtype, bytes, kRows, kCols);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  auto gpu = cuda::UploadWeight(dtype, bytes, kRows, kCols);
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  for (int64_t n : {1, 3, 8, 17}) {
    auto r = CompareMatMul(*gpu, **cpu, Random(n * kCols, 2 + n), n);
    ASSERT_TRUE(r.ok()) << r.status();
    const double err = r->max_error, norm = r->max_abs;
    EXPECT_LE(err, 1e-5 * norm) << Name(dtype) << " n=" << n << ": max error " << err << " of max |y| " << norm;
  }
}

// DeepSeek's block FP8 on the device (codes + scale grid) against the CPU runner's FP8 matrix: a
// row count and a width (tiny-qwen2's 1120) that end mid-block.
TEST(CudaMatMul, Fp8BlockEqualsTheCpuKernels) {
  if (cuda::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  constexpr int64_t kRows = 200, kCols = 1120;
  kernels::fp8::BlockLayout layout;
  layout.rows = kRows, layout.cols = kCols;
  std::mt19937 rng(21);
  std::vector<uint8_t> codes(kRows * kCols);
  for (uint8_t& c : codes) {
    do c = static_cast<uint8_t>(rng());
    while ((c & 0x7F) == 0x7F);  // no NaN codes
  }
  std::vector<float> scales(layout.scale_rows() * layout.scale_cols());
  for (float& v : scales) v = std::ldexp(1.0f + (rng() % 1000) / 1000.0f, -int(rng() % 8) - 4);
  auto cpu = kernels::MakeFp8BlockWeight(codes, scales, layout);
  auto gpu = cuda::UploadFp8BlockWeight(codes, scales, kRows, kCols, 128, 128);
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  for (int64_t n : {1, 5}) {
    const std::vector<float> x = Random(n * kCols, 40 + n);
    std::vector<float> want(n * kRows), got(n * kRows);
    kernels::MatMul(*cpu, x.data(), n, want.data());
    auto dx = cuda::DeviceBuffer::Allocate(x.size() * 4), dy = cuda::DeviceBuffer::Allocate(got.size() * 4);
    ASSERT_TRUE(dx.ok() && dy.ok());
    ASSERT_TRUE(dx->Upload({reinterpret_cast<const uint8_t*>(x.data()), x.size() * 4}).ok());
    ASSERT_TRUE(cuda::MatMul(*gpu, dx->as<float>(), n, dy->as<float>()).ok());
    ASSERT_TRUE(dy->Download({reinterpret_cast<uint8_t*>(got.data()), got.size() * 4}).ok());
    double err = 0, norm = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      err = std::max(err, std::fabs(double(got[i]) - want[i]));
      norm = std::max(norm, std::fabs(double(want[i])));
    }
    EXPECT_LE(err, 1e-5 * norm) << "n=" << n << ": max error " << err << " of max |y| " << norm;
  }
  EXPECT_EQ(cuda::UploadWeight(DType::kF8E4M3, codes, kRows, kCols).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cuda::UploadFp8BlockWeight(codes, scales, kRows, kCols, 128, 64).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CudaMatMul, WritesWithAStrideAddsTheBiasAndAccumulates) {
  if (cuda::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  constexpr int64_t kRows = 40, kCols = 256, kN = 3, kLd = 45;
  const std::vector<float> w = Random(kRows * kCols, 11), x = Random(kN * kCols, 12), bias = Random(kRows, 13);
  std::vector<float> want(kN * kRows), got(kN * kLd, 1.0f);
  for (int64_t t = 0; t < kN; ++t) {
    for (int64_t r = 0; r < kRows; ++r) {
      double s = 0;
      for (int64_t c = 0; c < kCols; ++c) s += double(w[r * kCols + c]) * x[t * kCols + c];
      want[t * kRows + r] = static_cast<float>(1.0 + s + bias[r]);
    }
  }
  auto gw = cuda::UploadWeight(DType::kF32, {reinterpret_cast<const uint8_t*>(w.data()), w.size() * 4}, kRows, kCols);
  auto dx = cuda::DeviceBuffer::Allocate(x.size() * 4), dy = cuda::DeviceBuffer::Allocate(got.size() * 4),
       db = cuda::DeviceBuffer::Allocate(bias.size() * 4);
  ASSERT_TRUE(gw.ok() && dx.ok() && dy.ok() && db.ok());
  ASSERT_TRUE(dx->Upload({reinterpret_cast<const uint8_t*>(x.data()), x.size() * 4}).ok());
  ASSERT_TRUE(dy->Upload({reinterpret_cast<const uint8_t*>(got.data()), got.size() * 4}).ok());
  ASSERT_TRUE(db->Upload({reinterpret_cast<const uint8_t*>(bias.data()), bias.size() * 4}).ok());
  ASSERT_TRUE(cuda::MatMul(*gw, dx->as<float>(), kN, dy->as<float>(), {kLd, db->as<float>(), true}).ok());
  ASSERT_TRUE(dy->Download({reinterpret_cast<uint8_t*>(got.data()), got.size() * 4}).ok());
  for (int64_t t = 0; t < kN; ++t) {
    for (int64_t r = 0; r < kLd; ++r) {
      if (r < kRows)
        EXPECT_NEAR(got[t * kLd + r], want[t * kRows + r], 1e-4) << t << " " << r;
      else
        EXPECT_EQ(got[t * kLd + r], 1.0f) << "wrote past the rows: " << t << " " << r;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, CudaMatMulTest,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0,
                                           DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kMXFP4),
                         [](const auto& info) { return std::string(Name(info.param)); });

// One token at the 7B shapes' widths (3584: hidden; 18944: FFN) on every kernel that can run it:
// LaunchMatMul's choice, the generic kernel with 1, 2 or 4 rows a thread block, and the decode
// kernels of Q4_K and Q5_K (1, 2 or 4 rows a warp, 1, 2 or 4 warps along a row, Q4_K's subnormal
// codes or x split into planes) and Q6_K's on the planes, each also with its rows staged in shared
// memory; other formats have no decode kernels. 37 rows leave the last group's rows partly empty; the bias and
// accumulation are the decode kernels' own epilogue.
class CudaMatVecTest : public ::testing::TestWithParam<std::tuple<DType, int64_t>> {
 protected:
  void SetUp() override {
    if (cuda::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  }
};

TEST_P(CudaMatVecTest, EqualsTheCpuKernelsOnEveryKernel) {
  using cuda::kernels::MatVecKernel;
  const auto [dtype, cols] = GetParam();
  constexpr int64_t kRows = 37;
  testing_cuda::WeightSpec spec;
  spec.dtype = dtype;
  auto w = testing_cuda::MakeTestWeight(spec, kRows, cols, 17);
  ASSERT_TRUE(w.ok()) << w.status();
  const std::vector<float> x = Random(cols, 18), bias = Random(kRows, 19), y0 = Random(kRows, 20);
  std::vector<float> want(kRows), got(kRows);
  kernels::MatMul(*w->cpu, x.data(), 1, want.data());
  double norm = 0;
  for (int64_t r = 0; r < kRows; ++r) {
    norm = std::max(norm, std::fabs(double(want[r])));
    want[r] += y0[r] + bias[r];
  }
  auto dx = cuda::DeviceBuffer::FromHost({reinterpret_cast<const uint8_t*>(x.data()), x.size() * 4});
  auto db = cuda::DeviceBuffer::FromHost({reinterpret_cast<const uint8_t*>(bias.data()), bias.size() * 4});
  auto dy = cuda::DeviceBuffer::Allocate(kRows * 4);
  ASSERT_TRUE(dx.ok() && db.ok() && dy.ok());
  // Which decode kernels each format has.
  auto exists = [&](const MatVecKernel& k) {
    if (k.kind != MatVecKernel::kDecode) return true;
    if (k.planes) return (dtype == DType::kQ4_K || dtype == DType::kQ6_K) && !k.subnormal;
    return dtype == DType::kQ4_K || (dtype == DType::kQ5_K && !k.subnormal);
  };
  // Staged kernels take a thread block's rows into at most 32 KB of shared memory: rows the
  // thread block takes (with split 0 the launcher's choice: either), and whether they fit.
  auto stage_fits = [&](const MatVecKernel& k) -> std::optional<bool> {
    if (!k.staged) return true;
    if (k.kind == MatVecKernel::kDecode && k.split == 0) return std::nullopt;
    const int64_t rows = k.rows == 0 ? 4 : k.rows;
    const int64_t block_rows = k.kind == MatVecKernel::kDecode ? 4 / k.split * rows : rows;
    return block_rows * static_cast<int64_t>(w->gpu.row_bytes) + 32 <= 32 * 1024;
  };
  // x split into planes for the planes kernels. They multiply the x' the split stands for: their
  // reference is the CPU's product with it (the split itself: cuda_ops_test).
  auto split = testing_cuda::MakeTestSplit(cols, [&](const cuda::kernels::SplitOut& to) {
    return cuda::kernels::LaunchSplitX(dx->as<float>(), cols, to, nullptr);
  });
  ASSERT_TRUE(split.ok()) << split.status();
  const std::vector<double> split_x = split->Rebuilt();
  std::vector<float> want_planes(kRows);
  kernels::MatMul(*w->cpu, std::vector<float>(split_x.begin(), split_x.end()).data(), 1, want_planes.data());
  for (int64_t r = 0; r < kRows; ++r) want_planes[r] += y0[r] + bias[r];
  std::vector<MatVecKernel> kernels(1);  // the default, then the generic kernel with 1, 2 and 4 rows a thread block
  for (bool staged : {false, true}) {
    for (int rows : {1, 2, 4}) {
      kernels.emplace_back().kind = MatVecKernel::kGeneric;
      kernels.back().rows = rows, kernels.back().staged = staged;
    }
  }
  for (int rows : {1, 2, 4}) {
    for (int split : {0, 1, 2, 4}) {
      for (int variant = 0; variant < 6; ++variant) {  // FP32 / subnormal codes / planes, each staged or not
        MatVecKernel k;
        k.kind = MatVecKernel::kDecode, k.rows = rows, k.split = split;
        k.subnormal = variant % 3 == 1, k.planes = variant % 3 == 2, k.staged = variant >= 3;
        if (rows == 1 && k.subnormal) continue;  // no such kernel for any format
        kernels.push_back(k);
      }
    }
  }
  for (const MatVecKernel& kernel : kernels) {
    ASSERT_TRUE(dy->Upload({reinterpret_cast<const uint8_t*>(y0.data()), y0.size() * 4}).ok());
    cuda::kernels::MatMulArgs a = w->gpu.Args();
    a.x = dx->as<float>(), a.n = 1, a.y = dy->as<float>(), a.ldy = kRows, a.bias = db->as<float>(), a.accumulate = true;
    a.x_planes = split->Out().planes, a.x_units = split->Out().units;
    const int code = cuda::kernels::LaunchMatVec(w->gpu.format, a, kernel, nullptr);
    const std::string what =
        StrCat(Name(dtype), " cols=", cols, " kernel ", static_cast<int>(kernel.kind), " rows ", kernel.rows, " split ",
               kernel.split, " subnormal ", kernel.subnormal, " planes ", kernel.planes, " staged ", kernel.staged);
    const std::optional<bool> fits = stage_fits(kernel);
    if (!exists(kernel) || fits == false) {
      EXPECT_NE(code, 0) << what << ": a kernel the format does not have";
      continue;
    }
    if (!fits.has_value() && code != 0) continue;  // the launcher's split does not fit the stage
    ASSERT_EQ(code, 0) << what;
    ASSERT_TRUE(cuda::Synchronize().ok()) << what;
    ASSERT_TRUE(dy->Download({reinterpret_cast<uint8_t*>(got.data()), got.size() * 4}).ok());
    double err = 0;
    // LaunchMatMul's choice, given the planes, may be an integer kernel.
    const bool on_planes = kernel.planes || (kernel.kind == MatVecKernel::kDefault &&
                                             cuda::kernels::OneTokenReadsSplit(w->gpu.format, kRows, cols));
    const std::vector<float>& reference = on_planes ? want_planes : want;
    for (int64_t r = 0; r < kRows; ++r) err = std::max(err, std::fabs(double(got[r]) - reference[r]));
    EXPECT_LE(err, 1e-5 * norm) << what << ": max error " << err << " of max |W·x| " << norm;
  }
}

INSTANTIATE_TEST_SUITE_P(
    SevenB, CudaMatVecTest,
    ::testing::Combine(::testing::Values(DType::kBF16, DType::kQ8_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K),
                       ::testing::Values(int64_t{3584}, int64_t{18944})),
    [](const auto& info) { return StrCat(Name(std::get<0>(info.param)), "_", std::get<1>(info.param)); });

// Two matrices on one split x in one launch (cuda::MatVecPair: q/k in Q4_K beside v in Q6_K, as
// Q4_K_M stores attention): each part's rows equal the CPU's product with the x' the split stands
// for, with its own bias, added to what y held, and nothing written between or past the parts. A
// part whose thread block's rows do not fit the stage, or a format without an integer kernel, is
// not launched.
TEST(CudaMatMul, TwoMatricesInOneLaunchEqualTheCpuProducts) {
  if (cuda::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  constexpr int64_t kCols = 3584, kRowsA = 37, kRowsB = 21, kLd = kRowsA + kRowsB + 3;
  for (const auto& [format_a, format_b] : {std::pair(DType::kQ4_K, DType::kQ6_K), std::pair(DType::kQ6_K, DType::kQ4_K)}) {
    testing_cuda::WeightSpec sa, sb;
    sa.dtype = format_a, sb.dtype = format_b;
    auto wa = testing_cuda::MakeTestWeight(sa, kRowsA, kCols, 31);
    auto wb = testing_cuda::MakeTestWeight(sb, kRowsB, kCols, 32);
    ASSERT_TRUE(wa.ok() && wb.ok());
    const std::vector<float> x = Random(kCols, 33), bias = Random(kRowsA + kRowsB, 34), y0 = Random(kLd, 35);
    auto stream = cuda::Stream::Create();
    auto split = cuda::SplitInput::Allocate(kCols);
    auto dx = cuda::DeviceBuffer::FromHost({reinterpret_cast<const uint8_t*>(x.data()), x.size() * 4});
    auto db = cuda::DeviceBuffer::FromHost({reinterpret_cast<const uint8_t*>(bias.data()), bias.size() * 4});
    auto dy = cuda::DeviceBuffer::FromHost({reinterpret_cast<const uint8_t*>(y0.data()), y0.size() * 4});
    ASSERT_TRUE(stream.ok() && split.ok() && dx.ok() && db.ok() && dy.ok());
    ASSERT_TRUE(split->Split(dx->as<float>(), *stream).ok());
    float* y = dy->as<float>();
    const float* b = db->as<float>();
    auto launched = cuda::MatVecPair(wa->gpu, y, {kLd, b, true}, wb->gpu, y + kRowsA, {kLd, b + kRowsA, true},
                                     dx->as<float>(), *split, *stream);
    ASSERT_TRUE(launched.ok()) << launched.status();
    ASSERT_TRUE(*launched);
    ASSERT_TRUE(stream->Synchronize().ok());
    std::vector<float> got(kLd);
    ASSERT_TRUE(dy->Download({reinterpret_cast<uint8_t*>(got.data()), got.size() * 4}).ok());
    // The reference: the CPU kernels on x' (the same split, made again into buffers of our own).
    auto again = testing_cuda::MakeTestSplit(kCols, [&](const cuda::kernels::SplitOut& to) {
      return cuda::kernels::LaunchSplitX(dx->as<float>(), kCols, to, nullptr);
    });
    ASSERT_TRUE(again.ok()) << again.status();
    const std::vector<double> rebuilt = again->Rebuilt();
    const std::vector<float> x_split(rebuilt.begin(), rebuilt.end());
    std::vector<float> want(kRowsA + kRowsB);
    kernels::MatMul(*wa->cpu, x_split.data(), 1, want.data());
    kernels::MatMul(*wb->cpu, x_split.data(), 1, want.data() + kRowsA);
    double norm = 0;
    for (const float v : want) norm = std::max(norm, std::fabs(double(v)));
    for (int64_t r = 0; r < kLd; ++r) {
      const std::string what = StrCat(Name(format_a), " + ", Name(format_b), " row ", r);
      if (r < kRowsA + kRowsB) {
        EXPECT_NEAR(got[r], double(want[r]) + y0[r] + bias[r], 1e-5 * norm) << what;
      } else {
        EXPECT_EQ(got[r], y0[r]) << what << ": written past the parts";
      }
    }
  }
  // 18944 columns: 4 rows of Q4_K (10.7 KB each) a thread block overflow the 32 KB stage; and Q5_K
  // has no integer kernel. Neither launches.
  testing_cuda::WeightSpec q4k, q5k;
  q4k.dtype = DType::kQ4_K, q5k.dtype = DType::kQ5_K;
  auto wide = testing_cuda::MakeTestWeight(q4k, 16, 18944, 36);
  auto q4 = testing_cuda::MakeTestWeight(q4k, 16, 3584, 37);
  auto q5 = testing_cuda::MakeTestWeight(q5k, 16, 3584, 38);
  auto stream = cuda::Stream::Create();
  auto wide_split = cuda::SplitInput::Allocate(18944), split = cuda::SplitInput::Allocate(3584);
  auto dy = cuda::DeviceBuffer::Allocate(32 * 4), dx = cuda::DeviceBuffer::Allocate(18944 * 4);
  ASSERT_TRUE(wide.ok() && q4.ok() && q5.ok() && stream.ok() && wide_split.ok() && split.ok() && dy.ok() && dx.ok());
  float* y = dy->as<float>();
  auto not_wide = cuda::MatVecPair(wide->gpu, y, {}, wide->gpu, y + 16, {}, dx->as<float>(), *wide_split, *stream);
  auto not_q5 = cuda::MatVecPair(q4->gpu, y, {}, q5->gpu, y + 16, {}, dx->as<float>(), *split, *stream);
  ASSERT_TRUE(not_wide.ok() && not_q5.ok());
  EXPECT_FALSE(*not_wide);
  EXPECT_FALSE(*not_q5);
}

// Formats whose scales sit beside the codes, as the runner reads them from safetensors.
struct ScaledCase {
  testing_cuda::WeightSpec spec;
  int64_t cols;
};

class CudaScaledMatMulTest : public ::testing::TestWithParam<ScaledCase> {
 protected:
  void SetUp() override {
    if (cuda::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  }
};

TEST_P(CudaScaledMatMulTest, EqualsTheCpuKernelsOnTheSameBytes) {
  const ScaledCase& c = GetParam();
  constexpr int64_t kRows = 67;  // 16 passes of 4 rows and 3 more
  auto w = testing_cuda::MakeTestWeight(c.spec, kRows, c.cols, 7);
  ASSERT_TRUE(w.ok()) << w.status();
  for (int64_t n : {1, 3, 8, 17}) {
    auto r = CompareMatMul(w->gpu, *w->cpu, Random(n * c.cols, 50 + n), n);
    ASSERT_TRUE(r.ok()) << r.status();
    const double err = r->max_error, norm = r->max_abs;
    EXPECT_GT(norm, 0.0);
    EXPECT_LE(err, 1e-5 * norm) << c.spec.name << " n=" << n << ": max error " << err << " of max |y| " << norm;
  }
}

testing_cuda::WeightSpec PackedInt(std::string name, int bits, int64_t group, bool asymmetric) {
  testing_cuda::WeightSpec s;
  s.name = std::move(name), s.kind = testing_cuda::WeightSpec::kPackedInt;
  s.bits = bits, s.group = group, s.asymmetric = asymmetric;
  return s;
}
testing_cuda::WeightSpec Fp4(std::string name, kernels::fp4::Fp4Format format, float global) {
  testing_cuda::WeightSpec s;
  s.name = std::move(name), s.kind = testing_cuda::WeightSpec::kFp4, s.fp4 = format, s.global = global;
  return s;
}

// Widths: 800 = 6 groups of 128 and a ragged 32; 816 = 25 groups of 32 and a ragged 16, or 51 of 16.
INSTANTIATE_TEST_SUITE_P(Formats, CudaScaledMatMulTest,
                         ::testing::Values(ScaledCase{PackedInt("int4_per_channel", 4, 0, false), 800},
                                           ScaledCase{PackedInt("int4_g128_ragged", 4, 128, false), 800},
                                           ScaledCase{PackedInt("int4_g128_asym", 4, 128, true), 1024},
                                           ScaledCase{PackedInt("int4_g32", 4, 32, false), 1024},
                                           ScaledCase{PackedInt("int4_g32_asym_ragged", 4, 32, true), 816},
                                           ScaledCase{PackedInt("int4_per_channel_asym", 4, 0, true), 816},
                                           ScaledCase{PackedInt("int8_per_channel", 8, 0, false), 800},
                                           ScaledCase{PackedInt("int8_g64_asym_ragged", 8, 64, true), 816},
                                           ScaledCase{Fp4("nvfp4", kernels::fp4::Fp4Format::kNv, 0.37f), 816},
                                           ScaledCase{Fp4("mxfp4_safetensors", kernels::fp4::Fp4Format::kMx, 1.0f),
                                                      800}),
                         [](const auto& info) { return info.param.spec.name; });

TEST(CudaDevice, DescribesItselfOrSaysThereIsNone) {
  const std::string d = cuda::DeviceDescription();
  if (cuda::DeviceCount() == 0)
    EXPECT_EQ(d, "no CUDA device");
  else
    EXPECT_NE(d.find("sm_"), std::string::npos) << d;
}

TEST(CudaDevice, RefusesWhatItCannotRun) {
  std::vector<uint8_t> bytes(100);
  EXPECT_EQ(cuda::UploadWeight(DType::kIQ4_XS, bytes, 1, 256).status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(cuda::UploadWeight(DType::kQ4_K, bytes, 1, 128).status().code(), absl::StatusCode::kInvalidArgument);
  // Packed integers: 4 or 8 bits, groups in units of 16, spans that fit [rows, cols].
  const std::vector<float> scales(2 * 4, 1.0f);
  std::vector<uint8_t> codes(2 * 64 / 2);
  EXPECT_TRUE(cuda::HasPackedIntKernel(4, 64, 16));
  EXPECT_FALSE(cuda::HasPackedIntKernel(3, 64, 16));
  EXPECT_FALSE(cuda::HasPackedIntKernel(4, 64, 8));
  EXPECT_FALSE(cuda::HasPackedIntKernel(4, 72, 72));
  EXPECT_EQ(cuda::UploadPackedIntWeight(codes, 3, 2, 64, 16, scales, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cuda::UploadPackedIntWeight(codes, 4, 2, 64, 8, scales, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cuda::UploadPackedIntWeight(codes, 4, 2, 64, 32, scales, {}).status().code(),  // 4 scales, 2 groups
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cuda::UploadPackedIntWeight(codes, 4, 2, 64, 16, scales, std::vector<uint8_t>(3)).status().code(),
            absl::StatusCode::kInvalidArgument);
  // FP4: whole groups (32 for MXFP4) in units of 16; one scale byte per group.
  EXPECT_TRUE(cuda::HasFp4Kernel(kernels::fp4::Fp4Format::kNv, 48));
  EXPECT_FALSE(cuda::HasFp4Kernel(kernels::fp4::Fp4Format::kMx, 48));
  auto mx = cuda::UploadFp4Weight(kernels::fp4::Fp4Format::kMx, codes, std::vector<uint8_t>(2 * 2), 1.0f, 2, 48);
  EXPECT_EQ(mx.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(mx.status().message()), ::testing::HasSubstr("mxfp4 weight [2, 48]"));
  EXPECT_EQ(
      cuda::UploadFp4Weight(kernels::fp4::Fp4Format::kNv, codes, std::vector<uint8_t>(5), 1.0f, 2, 64).status().code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quantc
