// Tests of the dot-product family (lib/kernels/ggml_quants/dot.h): llama.cpp's CPU matmul
// arithmetic for block types.
//   - Activation quantizers (reference and fast) write the bytes llama.cpp's CPU backend writes
//     (its from_float for Q8_0 and Q8_K), ties and sign choices included: goldens from llama.cpp
//     (testdata/goldens/ggml_quants/ggml_quants.safetensors, `activations*`).
//   - Each dot product of llama.cpp's own weight bytes and activation bytes equals its vec_dot up to
//     the order of float additions (`<type>.dot`).
//   - Fast equals reference bit for bit on random rows of several lengths.
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "lib/kernels/ggml_quants/dot.h"
#include "lib/kernels/ggml_quants/quants.h"
#include "tests/testing/raw_safetensors.h"

namespace quantc::kernels::ggml_quants {
namespace {

struct DotCase {
  DType type;
  const char* name;  // ggml's spelling, as in the golden file
};
constexpr DotCase kCases[] = {{DType::kQ4_0, "q4_0"}, {DType::kQ8_0, "q8_0"}, {DType::kIQ4_NL, "iq4_nl"},
                              {DType::kQ4_K, "q4_K"}, {DType::kQ5_K, "q5_K"}, {DType::kQ6_K, "q6_K"}};

const char* ActName(ActivationBlocks b) { return b == ActivationBlocks::kQ8_K ? "q8_K" : "q8_0"; }

const testing::RawTensor& Golden(const std::string& name) {
  static const auto* goldens = new std::map<std::string, testing::RawTensor>(testing::ReadRawSafetensors(
      std::filesystem::path(QUANTC_TESTDATA_DIR) / "goldens/ggml_quants/ggml_quants.safetensors"));
  static const testing::RawTensor kMissing;
  auto it = goldens->find(name);
  EXPECT_NE(it, goldens->end()) << "golden tensor '" << name << "' missing";
  return it == goldens->end() ? kMissing : it->second;
}

std::vector<float> Floats(const testing::RawTensor& t) {
  std::vector<float> out(t.bytes.size() / sizeof(float));
  std::memcpy(out.data(), t.bytes.data(), out.size() * sizeof(float));
  return out;
}

class GgmlDotTest : public ::testing::TestWithParam<DotCase> {};

TEST_P(GgmlDotTest, ActivationBytesEqualLlamaCpp) {
  const DotKernels& ref = *ReferenceDot(GetParam().type);
  const DotKernels& fast = *FastDot(GetParam().type);
  const testing::RawTensor& input = Golden("activations");
  const std::vector<float> x = Floats(input);
  const int64_t rows = input.shape[0], cols = input.shape[1];
  const testing::RawTensor& want = Golden(std::string("activations.") + ActName(ref.activations));
  const uint64_t bytes = ActivationRowBytes(ref.activations, cols);
  ASSERT_EQ(want.bytes.size(), rows * bytes);
  for (const DotKernels* k : {&ref, &fast}) {
    std::vector<uint8_t> got(bytes);
    for (int64_t r = 0; r < rows; ++r) {
      k->quantize(&x[r * cols], got.data(), cols);
      EXPECT_EQ(std::memcmp(got.data(), want.bytes.data() + r * bytes, bytes), 0)
          << (k == &ref ? "reference" : "fast") << " row " << r;
    }
  }
}

TEST_P(GgmlDotTest, DotEqualsLlamaCppUpToSummationOrder) {
  const DType type = GetParam().type;
  const DotKernels& ref = *ReferenceDot(type);
  const testing::RawTensor& weights = Golden(GetParam().name);
  const testing::RawTensor& acts = Golden(std::string("activations.") + ActName(ref.activations));
  const std::vector<float> want = Floats(Golden(std::string(GetParam().name) + ".dot"));
  const int64_t cols = Golden("activations").shape[1];
  const int64_t w_rows = weights.shape[0], a_rows = acts.shape[0];
  ASSERT_EQ(want.size(), static_cast<size_t>(w_rows * a_rows));
  const uint64_t w_bytes = RowBytes(type, cols), a_bytes = ActivationRowBytes(ref.activations, cols);
  std::vector<float> w(cols), a(cols);
  for (int64_t r = 0; r < w_rows; ++r) {
    Reference(type).dequantize(weights.bytes.data() + r * w_bytes, w.data(), cols);
    for (int64_t j = 0; j < a_rows; ++j) {
      const uint8_t* act = acts.bytes.data() + j * a_bytes;
      DequantizeActivations(ref.activations, act, a.data(), cols);
      double mag = 0;  // the products' magnitudes bound what summation order can change
      for (int64_t c = 0; c < cols; ++c) mag += std::fabs(double(w[c]) * a[c]);
      float got = 0;
      ref.dot(weights.bytes.data() + r * w_bytes, act, a_bytes, 1, cols, &got);
      EXPECT_NEAR(got, want[r * a_rows + j], 1e-6 * mag + 1e-30) << "weight row " << r << ", activation row " << j;
    }
  }
}

TEST_P(GgmlDotTest, FastEqualsReferenceBitForBit) {
  const DType type = GetParam().type;
  const DotKernels& ref = *ReferenceDot(type);
  const DotKernels& fast = *FastDot(type);
  const unsigned seed = ::testing::UnitTest::GetInstance()->random_seed();
  std::mt19937 rng(seed + static_cast<unsigned>(type));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t cols : {256, 512, 1536, 4096}) {
    std::vector<float> w(cols), x(kMaxDotRows * cols);
    for (float& v : w) v = normal(rng) * (rng() % 50 == 0 ? 20.0f : 1.0f);
    for (float& v : x) v = normal(rng) * (rng() % 30 == 0 ? 50.0f : 1.0f);
    std::vector<uint8_t> qw(RowBytes(type, cols));
    Reference(type).quantize(w.data(), qw.data(), cols, nullptr);
    const uint64_t a_bytes = ActivationRowBytes(ref.activations, cols);
    std::vector<uint8_t> qa_ref(kMaxDotRows * a_bytes), qa_fast(kMaxDotRows * a_bytes);
    for (int j = 0; j < kMaxDotRows; ++j) {
      ref.quantize(x.data() + j * cols, qa_ref.data() + j * a_bytes, cols);
      fast.quantize(x.data() + j * cols, qa_fast.data() + j * a_bytes, cols);
    }
    EXPECT_EQ(qa_ref, qa_fast) << "cols " << cols << " seed " << seed;
    // Every row count, so each unrolled variant runs.
    for (int count = 1; count <= kMaxDotRows; ++count) {
      float want[kMaxDotRows], got[kMaxDotRows];
      ref.dot(qw.data(), qa_ref.data(), a_bytes, count, cols, want);
      fast.dot(qw.data(), qa_ref.data(), a_bytes, count, cols, got);
      for (int j = 0; j < count; ++j) {
        EXPECT_EQ(std::bit_cast<uint32_t>(got[j]), std::bit_cast<uint32_t>(want[j]))
            << "cols " << cols << " count " << count << " row " << j << ": " << got[j] << " vs " << want[j]
            << " seed " << seed;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(DotTypes, GgmlDotTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(GgmlDot, TypesWithoutIntegerKernels) {
  EXPECT_EQ(ReferenceDot(DType::kQ4_1), nullptr);
  EXPECT_EQ(FastDot(DType::kF32), nullptr);
  EXPECT_EQ(ActivationRowBytes(ActivationBlocks::kQ8_K, 512), 2 * 292u);
  EXPECT_EQ(ActivationRowBytes(ActivationBlocks::kQ8_0, 512), 16 * 34u);
}

}  // namespace
}  // namespace quantc::kernels::ggml_quants
