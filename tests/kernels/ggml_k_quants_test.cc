// K-quant kernels (Q2_K..Q6_K) and the shared scale searches against llama.cpp: the reference
// quantizer's bytes must equal llama.cpp's (with and without an importance matrix), its decoder
// must reproduce llama.cpp's floats bit for bit (goldens made by llama.cpp 81ff7abe itself,
// testdata/goldens/ggml_quants/README.md), and each AVX2 kernel must equal the reference bit for
// bit on random inputs.
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "lib/kernels/ggml_quants/blocks.h"
#include "lib/kernels/ggml_quants/k_quants_avx2.h"
#include "lib/kernels/ggml_quants/ref.h"
#include "lib/kernels/ggml_quants/scale_search.h"
#include "tests/testing/raw_safetensors.h"

namespace quantc::kernels::ggml_quants {
namespace {

using QuantizeFn = void (*)(const float*, void*, int64_t, const float*);
using DequantizeFn = void (*)(const void*, float*, int64_t);

struct KQuantType {
  const char* name;  // ggml's spelling, as in the goldens
  int block_bytes;
  QuantizeFn quantize;
  DequantizeFn dequantize;
  QuantizeFn fast_quantize;      // AVX2 variant, or null
  DequantizeFn fast_dequantize;  // AVX2 variant, or null
};

// gtest prints parameters of failed tests; the name says it all.
void PrintTo(const KQuantType& t, std::ostream* os) { *os << t.name; }

const KQuantType kTypes[] = {
    {"q2_K", sizeof(BlockQ2_K), ref::QuantizeRowQ2_K, ref::DequantizeRowQ2_K,
     avx2::QuantizeRowQ2_K, avx2::DequantizeRowQ2_K},
    {"q3_K", sizeof(BlockQ3_K), ref::QuantizeRowQ3_K, ref::DequantizeRowQ3_K,
     avx2::QuantizeRowQ3_K, avx2::DequantizeRowQ3_K},
    {"q4_K", sizeof(BlockQ4_K), ref::QuantizeRowQ4_K, ref::DequantizeRowQ4_K,
     avx2::QuantizeRowQ4_K, avx2::DequantizeRowQ4_K},
    {"q5_K", sizeof(BlockQ5_K), ref::QuantizeRowQ5_K, ref::DequantizeRowQ5_K,
     avx2::QuantizeRowQ5_K, avx2::DequantizeRowQ5_K},
    {"q6_K", sizeof(BlockQ6_K), ref::QuantizeRowQ6_K, ref::DequantizeRowQ6_K,
     avx2::QuantizeRowQ6_K, avx2::DequantizeRowQ6_K},
};

// ---- goldens ----------------------------------------------------------------------------------

struct Goldens {
  std::map<std::string, testing::RawTensor> tensors;
  int64_t rows = 0, cols = 0;

  std::vector<float> Floats(const std::string& name) const {
    const auto& bytes = tensors.at(name).bytes;
    std::vector<float> out(bytes.size() / sizeof(float));
    std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
  }
};

const Goldens& LoadGoldens() {
  static const Goldens* goldens = [] {
    auto* g = new Goldens;
    g->tensors = testing::ReadRawSafetensors(std::filesystem::path(QUANTC_TESTDATA_DIR) /
                                             "goldens/ggml_quants/ggml_quants.safetensors");
    const auto& input = g->tensors.at("input");
    g->rows = input.shape[0];
    g->cols = input.shape[1];
    return g;
  }();
  return *goldens;
}

// "" when equal, else the first differing block of the row.
std::string FirstBlockDiff(const uint8_t* got, const uint8_t* want, int64_t bytes, int block_bytes) {
  for (int64_t i = 0; i < bytes; ++i) {
    if (got[i] == want[i]) continue;
    const int64_t block = i / block_bytes;
    std::string msg = "block " + std::to_string(block) + ", byte " + std::to_string(i % block_bytes) +
                      ": got " + std::to_string(got[i]) + ", want " + std::to_string(want[i]) +
                      "\n  got : ";
    for (int k = 0; k < block_bytes; ++k) msg += std::to_string(got[block * block_bytes + k]) + " ";
    msg += "\n  want: ";
    for (int k = 0; k < block_bytes; ++k) msg += std::to_string(want[block * block_bytes + k]) + " ";
    return msg;
  }
  return "";
}

class KQuantGoldenTest : public ::testing::TestWithParam<KQuantType> {
 protected:
  void CheckQuantize(const std::string& golden_name, bool with_imatrix) {
    const Goldens& g = LoadGoldens();
    const KQuantType& t = GetParam();
    const std::vector<float> input = g.Floats("input");
    const std::vector<float> imatrix = g.Floats("imatrix");
    const auto& want = g.tensors.at(golden_name);
    const int64_t row_bytes = g.cols / kQKK * t.block_bytes;
    ASSERT_EQ(want.bytes.size(), static_cast<size_t>(g.rows * row_bytes));
    std::vector<uint8_t> got(static_cast<size_t>(row_bytes));
    for (int64_t r = 0; r < g.rows; ++r) {
      t.quantize(input.data() + r * g.cols, got.data(), g.cols, with_imatrix ? imatrix.data() : nullptr);
      EXPECT_EQ(FirstBlockDiff(got.data(), want.bytes.data() + r * row_bytes, row_bytes, t.block_bytes), "")
          << golden_name << " row " << r;
    }
  }
};

TEST_P(KQuantGoldenTest, QuantizeEqualsLlamaCpp) { CheckQuantize(GetParam().name, false); }

TEST_P(KQuantGoldenTest, QuantizeWithImatrixEqualsLlamaCpp) {
  CheckQuantize(std::string(GetParam().name) + ".imatrix", true);
}

TEST_P(KQuantGoldenTest, DequantizeEqualsLlamaCpp) {
  const Goldens& g = LoadGoldens();
  const KQuantType& t = GetParam();
  const auto& bytes = g.tensors.at(t.name).bytes;
  const std::vector<float> want = g.Floats(std::string(t.name) + ".dequant");
  const int64_t row_bytes = g.cols / kQKK * t.block_bytes;
  std::vector<float> got(static_cast<size_t>(g.cols));
  for (int64_t r = 0; r < g.rows; ++r) {
    t.dequantize(bytes.data() + r * row_bytes, got.data(), g.cols);
    for (int64_t i = 0; i < g.cols; ++i) {
      ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[r * g.cols + i]))
          << t.name << " row " << r << " element " << i << ": " << got[i] << " vs " << want[r * g.cols + i];
    }
  }
}

INSTANTIATE_TEST_SUITE_P(ggml_k_quants, KQuantGoldenTest, ::testing::ValuesIn(kTypes),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- fast vs reference -------------------------------------------------------------------------

// Random rows in the shapes that reach the searches' branches: Gaussian weights, heavy tails,
// all-positive and constant sub-blocks, zeros, tiny scales.
std::vector<float> RandomRows(std::mt19937& rng, int64_t count) {
  std::normal_distribution<float> normal(0.f, 1.f);
  std::uniform_int_distribution<int> kind(0, 9);
  std::vector<float> x(static_cast<size_t>(count));
  for (int64_t s = 0; s < count; s += 16) {  // one shape per 16 weights
    const int k = kind(rng);
    const float scale = k == 6 ? 1e-6f : k == 7 ? 1e3f : 0.02f;
    const float constant = normal(rng);
    for (int64_t i = s; i < s + 16 && i < count; ++i) {
      float v = normal(rng) * scale;
      if (k == 1) v = std::fabs(v) + 0.01f;            // all positive
      if (k == 2) v = -std::fabs(v);                   // all non-positive
      if (k == 3) v = 0.f;                             // zero sub-block
      if (k == 4) v = constant;                        // constant sub-block
      if (k == 5) v = normal(rng) * normal(rng) * 0.1f;  // heavy tail
      x[static_cast<size_t>(i)] = v;
    }
  }
  return x;
}

std::vector<float> RandomImportance(std::mt19937& rng, int64_t n) {
  std::normal_distribution<float> normal(0.f, 1.5f);
  std::vector<float> w(static_cast<size_t>(n));
  for (auto& v : w) v = std::exp(normal(rng));
  return w;
}

// --gtest_random_seed=N reproduces a run; without it each run draws (and prints) a fresh seed.
uint32_t TestSeed() {
  static const uint32_t seed = [] {
    const int flag = GTEST_FLAG_GET(random_seed);
    const uint32_t s = flag ? static_cast<uint32_t>(flag) : std::random_device{}() % 99999u + 1u;
    std::printf("ggml_k_quants_test: random seed %u (rerun with --gtest_random_seed=%u)\n", s, s);
    return s;
  }();
  return seed;
}

class KQuantFastTest : public ::testing::TestWithParam<KQuantType> {
 protected:
  void SetUp() override {
    if (!avx2::CpuHasAvx2()) GTEST_SKIP() << "no AVX2/FMA/F16C on this CPU";
  }
};

TEST_P(KQuantFastTest, QuantizeEqualsReference) {
  const KQuantType& t = GetParam();
  if (!t.fast_quantize) GTEST_SKIP() << "no fast quantizer for " << t.name;
  const uint32_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with --gtest_random_seed=" + std::to_string(seed) + ")");
  std::mt19937 rng(seed);
  for (int64_t n : {int64_t{kQKK}, int64_t{7 * kQKK}, int64_t{64 * kQKK}}) {
    for (int rep = 0; rep < 3; ++rep) {
      const std::vector<float> x = RandomRows(rng, n);
      const std::vector<float> w = RandomImportance(rng, n);
      const int64_t bytes = n / kQKK * t.block_bytes;
      for (const float* importance : {static_cast<const float*>(nullptr), w.data()}) {
        std::vector<uint8_t> want(static_cast<size_t>(bytes)), got(static_cast<size_t>(bytes));
        t.quantize(x.data(), want.data(), n, importance);
        t.fast_quantize(x.data(), got.data(), n, importance);
        ASSERT_EQ(FirstBlockDiff(got.data(), want.data(), bytes, t.block_bytes), "")
            << t.name << " n " << n << (importance ? " with" : " without") << " importance";
      }
    }
  }
}

TEST_P(KQuantFastTest, DequantizeEqualsReference) {
  const KQuantType& t = GetParam();
  if (!t.fast_dequantize) GTEST_SKIP() << "no fast decoder for " << t.name;
  const uint32_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with --gtest_random_seed=" + std::to_string(seed) + ")");
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int64_t n : {int64_t{kQKK}, int64_t{5 * kQKK}, int64_t{33 * kQKK}}) {
    // Random bytes reach every code and scale; keep the fp16 super-scales finite and moderate.
    const int64_t bytes = n / kQKK * t.block_bytes;
    std::vector<uint8_t> src(static_cast<size_t>(bytes));
    for (auto& b : src) b = static_cast<uint8_t>(byte(rng));
    // Also decode what the quantizer writes for realistic rows.
    std::vector<uint8_t> real(static_cast<size_t>(bytes));
    t.quantize(RandomRows(rng, n).data(), real.data(), n, nullptr);
    for (const auto* blocks : {&src, &real}) {
      std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
      t.dequantize(blocks->data(), want.data(), n);
      t.fast_dequantize(blocks->data(), got.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        const float a = got[static_cast<size_t>(i)], b = want[static_cast<size_t>(i)];
        // NaN from random fp16 bits: any NaN equals any NaN here.
        if (std::isnan(a) && std::isnan(b)) continue;
        ASSERT_EQ(std::bit_cast<uint32_t>(a), std::bit_cast<uint32_t>(b))
            << t.name << " n " << n << " element " << i << ": " << a << " vs " << b;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(ggml_k_quants, KQuantFastTest, ::testing::ValuesIn(kTypes),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- scale searches ----------------------------------------------------------------------------
// (Suite and instantiation names start with ggml_k_quants so `ctest -R ggml_k_quants` selects
// this file's tests.)

TEST(ggml_k_quants_ScaleSearch, NearestIntRoundsHalfToEven) {
  EXPECT_EQ(NearestInt(0.5f), 0);
  EXPECT_EQ(NearestInt(1.5f), 2);
  EXPECT_EQ(NearestInt(2.5f), 2);
  EXPECT_EQ(NearestInt(-0.5f), 0);
  EXPECT_EQ(NearestInt(-1.5f), -2);
  EXPECT_EQ(NearestInt(-2.49f), -2);
  EXPECT_EQ(NearestInt(4194303.f), 4194303);
  EXPECT_EQ(NearestInt(-4194303.f), -4194303);
}

TEST(ggml_k_quants_ScaleSearch, AllZeroGroupsGiveZeroScaleAndCodes) {
  const float zeros[16] = {};
  int8_t sl[16];
  uint8_t ul[16], aux[16];
  std::memset(sl, 7, sizeof(sl));
  EXPECT_EQ(FitSymmetric(16, 4, zeros, sl, 1, nullptr), 0.f);
  for (int8_t l : sl) EXPECT_EQ(l, 0);
  EXPECT_EQ(FitSymmetricIterative(16, 4, zeros, sl, true), 0.f);
  float neg_min = -1;
  EXPECT_EQ(FitScaleMinWeighted(16, 3, zeros, nullptr, ul, &neg_min, aux, -0.9f, 0.05f, 36, false), 0.f);
  EXPECT_EQ(neg_min, 0.f);
  for (uint8_t l : ul) EXPECT_EQ(l, 0);
  EXPECT_EQ(FitPositive(16, 15, zeros, ul, zeros), 0.f);
}

TEST(ggml_k_quants_ScaleSearch, ConstantNegativeGroupIsAllOffset) {
  float x[32];
  for (float& v : x) v = -0.75f;
  float w[32];
  for (float& v : w) v = 1.f;
  uint8_t L[32], aux[32];
  float neg_min = 0;
  EXPECT_EQ(FitScaleMin(32, 15, x, w, L, &neg_min, aux, -1.f, 0.1f, 20, false), 0.f);
  EXPECT_EQ(neg_min, 0.75f);  // x = 0 * q - neg_min
  for (uint8_t l : L) EXPECT_EQ(l, 0);
}

TEST(ggml_k_quants_ScaleSearch, ExactGridIsRecovered) {
  // x = 0.25 * q - 1 for q = 0..15 lies on a Q4_K grid: the fit reproduces it exactly.
  float x[32], w[32];
  for (int i = 0; i < 32; ++i) {
    x[i] = 0.25f * static_cast<float>(i % 16) - 1.f;
    w[i] = 1.f;
  }
  uint8_t L[32], aux[32];
  float neg_min = 0;
  const float scale = FitScaleMin(32, 15, x, w, L, &neg_min, aux, -1.f, 0.1f, 20, false);
  EXPECT_FLOAT_EQ(scale, 0.25f);
  EXPECT_FLOAT_EQ(neg_min, 1.f);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(L[i], i % 16) << i;
}

TEST(ggml_k_quants_ScaleSearch, WeightedDefaultsToSquares) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  float x[32], sq[32];
  for (int i = 0; i < 32; ++i) {
    x[i] = normal(rng);
    sq[i] = x[i] * x[i];
  }
  uint8_t a[32], b[32], aux[32];
  float ma = 0, mb = 0;
  const float sa = FitScaleMinWeighted(32, 15, x, nullptr, a, &ma, aux, -0.9f, 0.05f, 36, false);
  const float sb = FitScaleMin(32, 15, x, sq, b, &mb, aux, -0.9f, 0.05f, 36, false);
  EXPECT_EQ(std::bit_cast<uint32_t>(sa), std::bit_cast<uint32_t>(sb));
  EXPECT_EQ(std::bit_cast<uint32_t>(ma), std::bit_cast<uint32_t>(mb));
  EXPECT_EQ(std::memcmp(a, b, 32), 0);
}

TEST(ggml_k_quants_ScaleSearch, SymmetricFitMapsLargestMagnitudeToMostNegativeCode) {
  // make_qx_quants' convention: the element of largest |x| gets code -nmax (stored 0), so the
  // returned scale has the opposite sign of that element.
  float x[16];
  for (int i = 0; i < 16; ++i) x[i] = 0.1f * static_cast<float>(i) - 0.5f;  // largest |x|: +1.0
  int8_t L[16];
  const float scale = FitSymmetric(16, 32, x, L, 1, nullptr);
  EXPECT_LT(scale, 0.f);
  EXPECT_EQ(L[15], 0);
  for (int i = 0; i < 16; ++i) EXPECT_NEAR(scale * (L[i] - 32), x[i], 0.02f) << i;
}

TEST(ggml_k_quants_ScaleSearch, PositiveFitCodesNonNegativeValues) {
  const float x[8] = {0.f, 1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f};
  const float w[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  uint8_t L[8];
  const float scale = FitPositive(8, 63, x, L, w);
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(scale * L[i], x[i], 0.06f) << i;
  for (uint8_t l : L) EXPECT_LE(l, 63);
}

}  // namespace
}  // namespace quantc::kernels::ggml_quants
