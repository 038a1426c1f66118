// kernels::MakeBlockQuantWeight against the ggml reference kernels, for every block type: DequantRows
// of any row range equals ggml_quants::Reference(type).dequantize of those rows (bit for bit: the
// fast kernels are bit-identical to the reference), and MatMul equals a double-precision product
// of the decoded weights; with llama.cpp's activation rounding (the integer dot products where the
// type has them, ggml_quants/dot.h) it equals the product of the decoded weights and the rounded
// inputs. Bad shapes and byte counts are rejected.
#include <cmath>
#include <cstring>
#include <random>

#include "gtest/gtest.h"
#include "lib/kernels/ggml_quants/quants.h"
#include "lib/kernels/matmul/weight_matrix.h"

namespace quantc::kernels {
namespace {
namespace gq = ggml_quants;

class BlockQuantWeightTest : public ::testing::TestWithParam<DType> {};

TEST_P(BlockQuantWeightTest, DequantRowsAndMatMulMatchTheReference) {
  const DType type = GetParam();
  ASSERT_TRUE(gq::HasKernels(type)) << Name(type);
  constexpr int64_t kRows = 37, kCols = 512, kTokens = 3;  // 37: two full 16-row tiles and a partial one
  std::mt19937 rng(1234 + static_cast<int>(type));
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> w(kRows * kCols), x(kTokens * kCols);
  for (float& v : w) v = dist(rng);
  for (int64_t c = 0; c < kCols; c += 97) w[c] = 8.0f;  // outliers, so the scales differ by block
  for (float& v : x) v = dist(rng);

  const uint64_t row_bytes = gq::RowBytes(type, kCols);
  ASSERT_EQ(row_bytes, kCols / Traits(type).block_elems * Traits(type).block_bytes);
  std::vector<uint8_t> q(kRows * row_bytes);
  std::vector<float> decoded(w.size());
  for (int64_t r = 0; r < kRows; ++r) {
    gq::Reference(type).quantize(w.data() + r * kCols, q.data() + r * row_bytes, kCols, nullptr);
    gq::Reference(type).dequantize(q.data() + r * row_bytes, decoded.data() + r * kCols, kCols);
  }
  auto m = MakeBlockQuantWeight(type, q, kRows, kCols);
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ((*m)->rows(), kRows);
  ASSERT_EQ((*m)->cols(), kCols);

  // Whole matrix, and ranges that start and end mid-way.
  for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, kRows}, {5, 6}, {3, 29}, {36, 37}}) {
    std::vector<float> got((r1 - r0) * kCols);
    (*m)->DequantRows(r0, r1, got.data());
    EXPECT_EQ(std::memcmp(got.data(), decoded.data() + r0 * kCols, got.size() * 4), 0) << "rows " << r0 << ".." << r1;
  }
  // The decoded weights are close to the originals (the quantization happened at all, and sanely).
  double err = 0, ref = 0;
  for (size_t i = 0; i < w.size(); ++i) err += (w[i] - decoded[i]) * double(w[i] - decoded[i]), ref += w[i] * double(w[i]);
  EXPECT_GT(err, 0);
  EXPECT_LT(std::sqrt(err / ref), 0.6);

  std::vector<float> bias(kRows), y(kTokens * kRows);
  for (float& b : bias) b = dist(rng);
  MatMul(**m, x.data(), kTokens, y.data(), bias.data());
  for (int64_t t = 0; t < kTokens; ++t) {
    for (int64_t r = 0; r < kRows; ++r) {
      double want = bias[r], mag = std::fabs(bias[r]);
      for (int64_t c = 0; c < kCols; ++c) {
        want += double(x[t * kCols + c]) * decoded[r * kCols + c];
        mag += std::fabs(double(x[t * kCols + c]) * decoded[r * kCols + c]);
      }
      EXPECT_NEAR(y[t * kRows + r], want, 1e-5 * mag) << "token " << t << " row " << r;
    }
  }

  // llama.cpp's arithmetic: inputs rounded to the type's activation blocks (Q8_0 / Q8_K), then
  // (integer) dot products. Same as multiplying the decoded weights by the rounded inputs.
  const gq::ActivationRounding rounding = gq::ActivationRoundingFor(type);
  (*m)->set_input_rounding(rounding);
  std::vector<float> rounded = x;
  for (int64_t t = 0; t < kTokens; ++t) gq::RoundActivations(rounding, rounded.data() + t * kCols, kCols);
  EXPECT_NE(rounded, x);
  MatMul(**m, x.data(), kTokens, y.data(), bias.data());
  for (int64_t t = 0; t < kTokens; ++t) {
    for (int64_t r = 0; r < kRows; ++r) {
      double want = bias[r], mag = std::fabs(bias[r]);
      for (int64_t c = 0; c < kCols; ++c) {
        want += double(rounded[t * kCols + c]) * decoded[r * kCols + c];
        mag += std::fabs(double(rounded[t * kCols + c]) * decoded[r * kCols + c]);
      }
      EXPECT_NEAR(y[t * kRows + r], want, 1e-5 * mag) << "rounded inputs, token " << t << " row " << r;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllBlockTypes, BlockQuantWeightTest, ::testing::ValuesIn(BlockQuantDTypes()),
                         [](const auto& info) { return std::string(Name(info.param)); });

TEST(BlockQuantWeight, RejectsBadInput) {
  const uint64_t row_bytes = gq::RowBytes(DType::kQ8_0, 64);
  std::vector<uint8_t> bytes(4 * row_bytes);
  EXPECT_TRUE(MakeBlockQuantWeight(DType::kQ8_0, bytes, 4, 64).ok());
  // Byte count of another shape.
  EXPECT_EQ(MakeBlockQuantWeight(DType::kQ8_0, bytes, 3, 64).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeBlockQuantWeight(DType::kQ8_0, std::span(bytes).subspan(1), 4, 64).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Rows that are not whole blocks.
  EXPECT_EQ(MakeBlockQuantWeight(DType::kQ8_0, bytes, 8, 48).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeBlockQuantWeight(DType::kQ4_K, bytes, 1, 128).status().code(), absl::StatusCode::kInvalidArgument);
  // Not a block type.
  EXPECT_EQ(MakeBlockQuantWeight(DType::kBF16, bytes, 4, 64).status().code(), absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace quantc::kernels
