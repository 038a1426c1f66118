// The cuBLAS prefill (lib/cuda/blas.h) against the CPU runner's matmul on the same stored bytes:
// n = 64, 100 and 130 tokens (MatMul on a stream takes cuBLAS from kBlasMinTokens = 64), with and
// without bias, accumulating or not, with an output stride, in one weight tile and in several (a
// ragged last one), for BF16, Q4_K, Q8_0, block FP8, int4 g128 and NVFP4. And the row
// dequantization that feeds it against the CPU's decoded rows, for every format.
//
// Tolerance. TF32 keeps 10 of FP32's 23 mantissa bits of each input and weight (the tensor cores
// may truncate rather than round), so each product w·x is off by at most 2·2^-10 of |w·x| and a
// dot product by at most ~2e-3 · Σ|w_c·x_c| <= 2e-3 · ‖W_r‖₂ · ‖x_t‖₂ (Cauchy-Schwarz); FP32
// accumulation adds far less. So output (t, r) must be within kTf32Tolerance = 2.5e-3 of
// ‖W_r‖₂ · ‖x_t‖₂ of the CPU's (plus 1e-6 of its magnitude, for an accumulated y). This is a
// worst-case bound: typical errors are ~100 times smaller. The weights themselves must be the
// CPU's to 1e-6 of the row's largest weight (DequantRowsEqualsTheCpuRows), so a wrong weight is
// caught there rather than hidden inside the TF32 bound.
#include "lib/cuda/blas.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "lib/cuda/cuda.h"
#include "lib/cuda/matmul_kernels.h"
#include "lib/support/strings.h"
#include "tests/cuda/test_weights.h"

namespace quantc {
namespace {

using testing_cuda::Random;
using testing_cuda::WeightSpec;

constexpr double kTf32Tolerance = 2.5e-3;  // of ‖W_r‖₂ · ‖x_t‖₂: see the header comment

std::span<const uint8_t> AsBytes(const std::vector<float>& v) {
  return {reinterpret_cast<const uint8_t*>(v.data()), v.size() * 4};
}
std::span<uint8_t> AsBytes(std::vector<float>& v) { return {reinterpret_cast<uint8_t*>(v.data()), v.size() * 4}; }

double Norm(const float* v, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(v[i]) * v[i];
  return std::sqrt(s);
}

WeightSpec Stored(DType dtype) {
  WeightSpec s;
  s.name = std::string(Name(dtype)), s.kind = WeightSpec::kStored, s.dtype = dtype;
  return s;
}
WeightSpec Fp8Block() {
  WeightSpec s;
  s.name = "fp8_block", s.kind = WeightSpec::kFp8Block;
  return s;
}
WeightSpec PackedInt(std::string name, int bits, int64_t group, bool asymmetric) {
  WeightSpec s;
  s.name = std::move(name), s.kind = WeightSpec::kPackedInt, s.bits = bits, s.group = group, s.asymmetric = asymmetric;
  return s;
}
WeightSpec Fp4(std::string name, kernels::fp4::Fp4Format format, float global) {
  WeightSpec s;
  s.name = std::move(name), s.kind = WeightSpec::kFp4, s.fp4 = format, s.global = global;
  return s;
}

class CudaBlasTest : public ::testing::TestWithParam<WeightSpec> {
 protected:
  void SetUp() override {
    if (cuda::DeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  }
};

// How the output is written: bias or not, accumulate or overwrite, extra columns in the stride.
struct Output {
  bool bias, accumulate;
  int64_t extra_ld;
};

TEST_P(CudaBlasTest, EqualsTheCpuResultWithinTf32) {
  const WeightSpec& spec = GetParam();
  constexpr int64_t kRows = 203, kCols = 768;  // 768: whole Q4_K blocks, int4 groups of 128, FP8 blocks
  auto w = testing_cuda::MakeTestWeight(spec, kRows, kCols, 3);
  ASSERT_TRUE(w.ok()) << w.status();
  std::vector<double> row_norm(kRows);
  for (int64_t r = 0; r < kRows; ++r) row_norm[r] = Norm(w->Row(r).data(), kCols);
  const std::vector<float> bias = Random(kRows, 9);
  auto db = cuda::DeviceBuffer::FromHost(AsBytes(bias));
  auto stream = cuda::Stream::Create();
  ASSERT_TRUE(db.ok() && stream.ok());
  for (int64_t n : {64, 100, 130}) {
    const std::vector<float> x = Random(n * kCols, 100 + n);
    auto dx = cuda::DeviceBuffer::FromHost(AsBytes(x));
    ASSERT_TRUE(dx.ok());
    std::vector<float> product(n * kRows);  // W·x
    kernels::MatMul(*w->cpu, x.data(), n, product.data());
    for (const Output o :
         {Output{false, false, 0}, Output{true, false, 5}, Output{false, true, 0}, Output{true, true, 5}}) {
      // Tiles: all rows at once, then 50 rows (203 = 4 · 50 + 3).
      for (const int64_t tile : {cuda::kMaxTileValues, 50 * kCols}) {
        const int64_t ldy = kRows + o.extra_ld;
        // y before: random when accumulating, else NaN (a GEMM with beta = 0 must not read it).
        std::vector<float> before = o.accumulate ? Random(n * ldy, 7 + n)
                                                 : std::vector<float>(n * ldy, std::numeric_limits<float>::quiet_NaN());
        auto dy = cuda::DeviceBuffer::FromHost(AsBytes(before));
        ASSERT_TRUE(dy.ok());
        const cuda::MatMulOutput out{ldy, o.bias ? db->as<float>() : nullptr, o.accumulate};
        // The default tile goes through MatMul (the runner's entry point), the small one straight in.
        absl::Status s = tile == cuda::kMaxTileValues
                             ? cuda::MatMul(w->gpu, dx->as<float>(), n, dy->as<float>(), out, &*stream)
                             : cuda::BlasMatMul(w->gpu, dx->as<float>(), n, dy->as<float>(), out, *stream, tile);
        ASSERT_TRUE(s.ok()) << s;
        ASSERT_TRUE(stream->Synchronize().ok());
        std::vector<float> got(before.size());
        ASSERT_TRUE(dy->Download(AsBytes(got)).ok());
        const std::string what = spec.name + " n=" + std::to_string(n) + " bias=" + std::to_string(o.bias) +
                                 " accumulate=" + std::to_string(o.accumulate) + " tile=" + std::to_string(tile);
        int bad = 0;
        for (int64_t t = 0; t < n && bad < 5; ++t) {
          const double x_norm = Norm(x.data() + t * kCols, kCols);
          for (int64_t r = 0; r < ldy; ++r) {
            const float g = got[t * ldy + r];
            if (r >= kRows) {  // past the rows: untouched
              const float b = before[t * ldy + r];
              if (!(g == b || (std::isnan(g) && std::isnan(b)))) {
                ++bad;
                ADD_FAILURE() << what << ": wrote past the rows at token " << t;
              }
              continue;
            }
            const double want =
                double(product[t * kRows + r]) + (o.bias ? bias[r] : 0.0) + (o.accumulate ? before[t * ldy + r] : 0.0);
            const double tol = kTf32Tolerance * row_norm[r] * x_norm + 1e-6 * std::fabs(want);
            if (!(std::fabs(g - want) <= tol)) {
              ++bad;
              ADD_FAILURE() << what << ": y[" << t << ", " << r << "] = " << g << ", want " << want << " within "
                            << tol;
            }
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, CudaBlasTest,
                         ::testing::Values(Stored(DType::kBF16), Stored(DType::kQ4_K), Stored(DType::kQ8_0), Fp8Block(),
                                           PackedInt("int4_g128", 4, 128, false),
                                           Fp4("nvfp4", kernels::fp4::Fp4Format::kNv, 0.37f)),
                         [](const auto& info) { return info.param.name; });

// The rows cuBLAS multiplies are the CPU runner's weights: rows 5 .. 150 of a matrix decoded on
// the device, against WeightMatrix::DequantRows; and the decode step's embedding lookup (rows by
// id, the ids in mapped host memory) the same rows.
class CudaDequantTest : public CudaBlasTest {};

// Each got row (cols wide) equals want's within 1e-6 of the row's largest weight; `row_name(r)` names it.
template <class Name>
void ExpectRowsEqual(const std::vector<float>& want, const std::vector<float>& got, int64_t cols, Name row_name) {
  for (int64_t r = 0; r < static_cast<int64_t>(want.size()) / cols; ++r) {
    double largest = 0;
    for (int64_t c = 0; c < cols; ++c) largest = std::max(largest, std::fabs(double(want[r * cols + c])));
    int bad = 0;
    for (int64_t c = 0; c < cols && bad < 3; ++c) {
      const float g = got[r * cols + c], v = want[r * cols + c];
      if (!(std::fabs(double(g) - v) <= 1e-6 * largest)) {
        ++bad;
        ADD_FAILURE() << row_name(r) << ", column " << c << ": " << g << ", want " << v;
      }
    }
  }
}

TEST_P(CudaDequantTest, DequantRowsEqualsTheCpuRows) {
  const WeightSpec& spec = GetParam();
  constexpr int64_t kRows = 160, kCols = 768, kR0 = 5, kR1 = 150;
  auto w = testing_cuda::MakeTestWeight(spec, kRows, kCols, 4);
  ASSERT_TRUE(w.ok()) << w.status();
  std::vector<float> want((kR1 - kR0) * kCols), got(want.size());
  w->cpu->DequantRows(kR0, kR1, want.data());
  auto out = cuda::DeviceBuffer::Allocate(got.size() * 4);
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(cuda::CheckLaunch(
                  cuda::kernels::LaunchDequantRows(w->gpu.format, w->gpu.Args(), kR0, kR1, out->as<float>(), nullptr),
                  "dequantize")
                  .ok());
  ASSERT_TRUE(cuda::Synchronize().ok());
  ASSERT_TRUE(out->Download(AsBytes(got)).ok());
  ExpectRowsEqual(want, got, kCols, [&](int64_t r) { return StrCat(spec.name, ": row ", kR0 + r); });
}

TEST_P(CudaDequantTest, EmbedRowsLooksUpTheCpuRows) {
  const WeightSpec& spec = GetParam();
  constexpr int64_t kRows = 160, kCols = 768;
  const std::vector<int32_t> ids = {159, 0, 7, 159, 42};
  auto w = testing_cuda::MakeTestWeight(spec, kRows, kCols, 4);
  ASSERT_TRUE(w.ok()) << w.status();
  const int64_t n = static_cast<int64_t>(ids.size());
  std::vector<float> want(n * kCols), got(want.size());
  for (int64_t t = 0; t < n; ++t) w->cpu->DequantRows(ids[t], ids[t] + 1, want.data() + t * kCols);
  // In mapped memory as the runner keeps its token history: ids by position (the step's at
  // positions 3 ..), then the step's first position.
  constexpr int32_t kPos = 3;
  auto history = cuda::PinnedBuffer::Allocate((kPos + ids.size() + 1) * 4);
  auto out = cuda::DeviceBuffer::Allocate(16 + got.size() * 4);  // the position, then (16-byte aligned) the rows
  auto stream = cuda::Stream::Create();
  ASSERT_TRUE(history.ok() && out.ok() && stream.ok());
  const std::span<int32_t> words = history->as<int32_t>();
  std::fill(words.begin(), words.end(), -1);  // what the lookup must not read
  std::copy(ids.begin(), ids.end(), words.begin() + kPos);
  words.back() = kPos;
  const int32_t* device = history->device_as<int32_t>();
  ASSERT_TRUE(cuda::EmbedRows(w->gpu, device, device + words.size() - 1, n, out->as<int32_t>(), out->as<float>() + 4,
                              *stream)
                  .ok());
  ASSERT_TRUE(stream->Synchronize().ok());
  int32_t copied = 0;
  ASSERT_TRUE(out->Download({reinterpret_cast<uint8_t*>(&copied), 4}).ok());
  ASSERT_TRUE(out->Download(AsBytes(got), 16).ok());
  EXPECT_EQ(copied, kPos);
  ExpectRowsEqual(want, got, kCols, [&](int64_t t) { return StrCat(spec.name, ": token ", t, " (row ", ids[t], ")"); });
}

INSTANTIATE_TEST_SUITE_P(
    Formats, CudaDequantTest,
    ::testing::Values(Stored(DType::kF32), Stored(DType::kF16), Stored(DType::kBF16), Stored(DType::kQ8_0),
                      Stored(DType::kQ4_0), Stored(DType::kQ4_K), Stored(DType::kQ5_K), Stored(DType::kQ6_K),
                      Stored(DType::kMXFP4), Fp8Block(), PackedInt("int4_per_channel", 4, 0, false),
                      PackedInt("int4_g128", 4, 128, false), PackedInt("int4_g32_asym", 4, 32, true),
                      PackedInt("int8_g128_asym", 8, 128, true), Fp4("nvfp4", kernels::fp4::Fp4Format::kNv, 0.37f),
                      Fp4("mxfp4_safetensors", kernels::fp4::Fp4Format::kMx, 1.0f)),
    [](const auto& info) { return info.param.name; });

TEST(CudaBlas, RefusesDimensionsOutsideCublasInt) {
  cuda::DeviceWeight w;
  w.rows = 4, w.cols = int64_t{1} << 31;
  cuda::Stream none;
  EXPECT_EQ(cuda::BlasMatMul(w, nullptr, 64, nullptr, {}, none).code(), absl::StatusCode::kInvalidArgument);
  w.cols = 64;
  EXPECT_EQ(cuda::BlasMatMul(w, nullptr, 64, nullptr, {2}, none).code(),
            absl::StatusCode::kInvalidArgument);                         // ldy < rows
  EXPECT_TRUE(cuda::BlasMatMul(w, nullptr, 0, nullptr, {}, none).ok());  // nothing to do
}

}  // namespace
}  // namespace quantc
