// Tests of the ggml row kernels for F16, BF16, the legacy 32-weight blocks, IQ4_NL/IQ4_XS and
// MXFP4 (lib/kernels/ggml_quants: plain.cc, legacy.cc, iq4.cc, mxfp4.cc, legacy_avx2.cc,
// dispatch.cc). The K-quants have their own test (ggml_k_quants_test.cc).
//   - Reference quantizers write llama.cpp's bytes, with and without importance, and reference
//     decoders produce llama.cpp's floats, bit for bit: goldens made by llama.cpp itself
//     (testdata/goldens/ggml_quants, read with the test-side safetensors parser).
//   - Fast kernels equal the reference ones bit for bit on random inputs of several sizes (seed
//     printed; rerun with --gtest_random_seed=N), on special values (NaN, Inf, subnormals, ties),
//     and on every F16/BF16 bit pattern.
//   - QuantizeRows / DequantizeRows (parallel) equal the reference row by row.
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <ostream>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "lib/dtypes/dtype.h"
#include "lib/kernels/ggml_quants/blocks.h"
#include "lib/kernels/ggml_quants/quants.h"
#include "tests/testing/raw_safetensors.h"

namespace quantc::kernels::ggml_quants {
namespace {

struct TypeCase {
  DType type;
  const char* name;  // ggml's spelling, as in the golden file
};

// The types these kernels cover.
constexpr TypeCase kTypes[] = {
    {DType::kF16, "f16"},       {DType::kBF16, "bf16"},     {DType::kQ4_0, "q4_0"},
    {DType::kQ4_1, "q4_1"},     {DType::kQ5_0, "q5_0"},     {DType::kQ5_1, "q5_1"},
    {DType::kQ8_0, "q8_0"},     {DType::kIQ4_NL, "iq4_nl"}, {DType::kIQ4_XS, "iq4_xs"},
    {DType::kMXFP4, "mxfp4"},
};

std::string CaseName(const ::testing::TestParamInfo<TypeCase>& info) { return info.param.name; }
void PrintTo(const TypeCase& c, std::ostream* os) { *os << c.name; }

int BlockElems(DType type) { return Traits(type).block_elems; }

// ---- goldens ------------------------------------------------------------------------------------

const std::map<std::string, testing::RawTensor>& Goldens() {
  static const auto* goldens = new std::map<std::string, testing::RawTensor>(testing::ReadRawSafetensors(
      std::filesystem::path(QUANTC_TESTDATA_DIR) / "goldens/ggml_quants/ggml_quants.safetensors"));
  return *goldens;
}

const testing::RawTensor& Golden(const std::string& name) {
  static const testing::RawTensor kMissing;
  auto it = Goldens().find(name);
  EXPECT_NE(it, Goldens().end()) << "golden tensor '" << name << "' missing";
  return it == Goldens().end() ? kMissing : it->second;
}

std::vector<float> Floats(const testing::RawTensor& t) {
  std::vector<float> out(t.bytes.size() / sizeof(float));
  std::memcpy(out.data(), t.bytes.data(), out.size() * sizeof(float));
  return out;
}

// Equal bytes, or a message naming the first differing block with both blocks' bytes.
::testing::AssertionResult SameBlocks(DType type, std::span<const uint8_t> got,
                                      std::span<const uint8_t> want) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << got.size() << " bytes, want " << want.size();
  }
  const size_t block = static_cast<size_t>(Traits(type).block_bytes);
  for (size_t b = 0; b * block < got.size(); ++b) {
    if (std::memcmp(got.data() + b * block, want.data() + b * block, block) == 0) continue;
    auto hex = [&](std::span<const uint8_t> s) {
      std::string out;
      char buf[4];
      for (size_t i = b * block; i < (b + 1) * block; ++i) {
        std::snprintf(buf, sizeof(buf), "%02x", s[i]);
        out += buf;
      }
      return out;
    };
    return ::testing::AssertionFailure() << "first differing block " << b << ":\n  got  " << hex(got)
                                         << "\n  want " << hex(want);
  }
  return ::testing::AssertionSuccess();
}

// Equal float bits (NaN payloads included), or the first differing index.
::testing::AssertionResult SameFloats(std::span<const float> got, std::span<const float> want) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << "size " << got.size() << " vs " << want.size();
  }
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::bit_cast<uint32_t>(got[i]) != std::bit_cast<uint32_t>(want[i])) {
      return ::testing::AssertionFailure()
             << "element " << i << ": got " << got[i] << " (0x" << std::hex << std::bit_cast<uint32_t>(got[i])
             << "), want " << want[i] << " (0x" << std::bit_cast<uint32_t>(want[i]) << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

class GgmlLegacyGoldenTest : public ::testing::TestWithParam<TypeCase> {};

// Quantizes each golden input row with `kernels` and compares with `<name><suffix>`.
void ExpectGoldenBytes(DType type, const RowKernels& kernels, const std::string& golden, bool importance) {
  const testing::RawTensor& input = Golden("input");
  const std::vector<float> x = Floats(input);
  const std::vector<float> imatrix = Floats(Golden("imatrix"));
  const testing::RawTensor& want = Golden(golden);
  const int64_t rows = input.shape[0], cols = input.shape[1];
  const uint64_t row_bytes = RowBytes(type, cols);
  ASSERT_EQ(want.bytes.size(), rows * row_bytes);
  std::vector<uint8_t> got(row_bytes);
  for (int64_t r = 0; r < rows; ++r) {
    kernels.quantize(&x[r * cols], got.data(), cols, importance ? imatrix.data() : nullptr);
    EXPECT_TRUE(SameBlocks(type, got, std::span(want.bytes).subspan(r * row_bytes, row_bytes)))
        << golden << " row " << r;
  }
}

TEST_P(GgmlLegacyGoldenTest, ReferenceQuantizeEqualsLlamaCpp) {
  ExpectGoldenBytes(GetParam().type, Reference(GetParam().type), GetParam().name, false);
}

TEST_P(GgmlLegacyGoldenTest, ReferenceQuantizeWithImportanceEqualsLlamaCpp) {
  ExpectGoldenBytes(GetParam().type, Reference(GetParam().type), std::string(GetParam().name) + ".imatrix",
                    true);
}

TEST_P(GgmlLegacyGoldenTest, FastQuantizeEqualsLlamaCpp) {
  ExpectGoldenBytes(GetParam().type, Fast(GetParam().type), GetParam().name, false);
  ExpectGoldenBytes(GetParam().type, Fast(GetParam().type), std::string(GetParam().name) + ".imatrix", true);
}

TEST_P(GgmlLegacyGoldenTest, DequantizeEqualsLlamaCpp) {
  const DType type = GetParam().type;
  const testing::RawTensor& bytes = Golden(GetParam().name);
  const std::vector<float> want = Floats(Golden(std::string(GetParam().name) + ".dequant"));
  const int64_t rows = bytes.shape[0];
  const int64_t cols = static_cast<int64_t>(want.size()) / rows;
  const uint64_t row_bytes = RowBytes(type, cols);
  for (const auto* kernels : {&Reference(type), &Fast(type)}) {
    std::vector<float> got(want.size());
    for (int64_t r = 0; r < rows; ++r) kernels->dequantize(&bytes.bytes[r * row_bytes], &got[r * cols], cols);
    EXPECT_TRUE(SameFloats(got, want)) << (kernels == &Reference(type) ? "reference" : "fast");
  }
}

INSTANTIATE_TEST_SUITE_P(Legacy, GgmlLegacyGoldenTest, ::testing::ValuesIn(kTypes), CaseName);

// ---- fast == reference ------------------------------------------------------------------------

// The gtest seed (random per run unless --gtest_random_seed is given), printed with every failure.
uint32_t Seed() { return static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed()); }

// Rows of weights exercising the encoders' cases: Gaussian blocks of random scale, exact zeros,
// all-equal blocks, half-integers under a unit scale (ties for Q8_0's rounding: amax 127 gives
// d = 1), subnormal and near-threshold magnitudes, huge values.
std::vector<float> RandomWeights(std::mt19937& rng, int64_t n) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> kind(0, 7), half_steps(-254, 254);
  std::uniform_real_distribution<float> log_scale(-40.0f, 40.0f);
  std::vector<float> x(n);
  for (int64_t b = 0; b < n; b += kQK) {
    const int64_t end = std::min<int64_t>(n, b + kQK);
    const int k = kind(rng);
    const float scale = std::exp2(log_scale(rng));
    for (int64_t i = b; i < end; ++i) {
      switch (k) {
        case 0: x[i] = 0.0f; break;
        case 1: x[i] = 0.375f; break;
        case 2: x[i] = 0.5f * static_cast<float>(half_steps(rng)); break;
        case 3: x[i] = 1e-40f * normal(rng); break;                       // subnormal
        case 4: x[i] = std::ldexp(normal(rng), -118); break;              // Q8_0's SIMD threshold
        case 5: x[i] = 1e37f * normal(rng); break;                        // near overflow
        default: x[i] = scale * normal(rng); break;
      }
    }
    if (k == 2) x[b] = 127.0f;  // the unit scale
  }
  return x;
}

// Importance rows spread over decades, as real imatrices are.
std::vector<float> RandomImportance(std::mt19937& rng, int64_t n) {
  std::normal_distribution<float> normal(0.0f, 1.5f);
  std::vector<float> w(n);
  for (auto& v : w) v = std::exp(normal(rng));
  return w;
}

// Random block bytes; NaN scale pairs whose product and offset are both NaN are avoided (which NaN
// payload an add keeps then depends on the compiler's operand order, not on the kernel).
std::vector<uint8_t> RandomBlocks(std::mt19937& rng, DType type, int64_t n) {
  std::vector<uint8_t> bytes(RowBytes(type, n));
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  if (type == DType::kQ4_1 || type == DType::kQ5_1) {
    const size_t block = static_cast<size_t>(Traits(type).block_bytes);
    for (size_t at = 0; at < bytes.size(); at += block) {
      uint16_t d, m;
      std::memcpy(&d, &bytes[at], 2);
      std::memcpy(&m, &bytes[at + 2], 2);
      if ((d & 0x7C00) == 0x7C00 && (m & 0x7FFF) > 0x7C00) std::memset(&bytes[at + 2], 0, 2);
    }
  }
  return bytes;
}

class GgmlLegacyFastTest : public ::testing::TestWithParam<TypeCase> {};

TEST_P(GgmlLegacyFastTest, QuantizeEqualsReference) {
  const DType type = GetParam().type;
  const uint32_t seed = Seed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed << " (rerun with --gtest_random_seed=" << seed << ")");
  std::mt19937 rng(seed);
  const int64_t be = BlockElems(type);
  for (int64_t n : {be, be * 3, be * 64, be == 1 ? int64_t{1001} : int64_t{kQKK} * 8}) {
    const std::vector<float> x = RandomWeights(rng, n);
    const std::vector<float> w = RandomImportance(rng, n);
    for (const float* importance : {static_cast<const float*>(nullptr), w.data()}) {
      std::vector<uint8_t> want(RowBytes(type, n)), got(RowBytes(type, n), 0xAA);
      Reference(type).quantize(x.data(), want.data(), n, importance);
      Fast(type).quantize(x.data(), got.data(), n, importance);
      EXPECT_TRUE(SameBlocks(type, got, want)) << "n " << n << (importance ? " with importance" : "");
    }
  }
}

TEST_P(GgmlLegacyFastTest, QuantizeSpecialValuesEqualsReference) {
  const DType type = GetParam().type;
  const float inf = INFINITY, nan = NAN;
  const float specials[] = {inf, -inf, nan, -nan, std::bit_cast<float>(0x7F812345u), 0.0f, -0.0f,
                            1e-45f, 0x1p-118f, 0x1.fffffep-119f, 65504.0f, 65520.0f, 3e38f, -3e38f};
  const int64_t n = std::max(BlockElems(type), kQK);
  auto base = [](int64_t i) { return 0.25f * static_cast<float>(i % 13) - 1.0f; };  // in [-1, 2]
  for (float special : specials) {
    // The special value at the first or last element of ordinary weights, or scaling them all.
    for (int64_t at : {int64_t{0}, n - 1, int64_t{-1}}) {
      std::vector<float> x(n);
      for (int64_t i = 0; i < n; ++i) x[i] = at < 0 ? 0.5f * special * base(i) : base(i);
      if (at >= 0) x[at] = special;
      std::vector<uint8_t> want(RowBytes(type, n)), got(RowBytes(type, n), 0xAA);
      Reference(type).quantize(x.data(), want.data(), n, nullptr);
      Fast(type).quantize(x.data(), got.data(), n, nullptr);
      EXPECT_TRUE(SameBlocks(type, got, want))
          << "special " << special << (at < 0 ? " scaling all" : " at ") << at;
    }
  }
}

TEST_P(GgmlLegacyFastTest, DequantizeEqualsReference) {
  const DType type = GetParam().type;
  const uint32_t seed = Seed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed << " (rerun with --gtest_random_seed=" << seed << ")");
  std::mt19937 rng(seed);
  const int64_t be = BlockElems(type);
  for (int64_t n : {be, be * 3, be * 64, be == 1 ? int64_t{1001} : be * 8}) {
    const std::vector<uint8_t> bytes = RandomBlocks(rng, type, n);
    std::vector<float> want(n), got(n, -1.0f);
    Reference(type).dequantize(bytes.data(), want.data(), n);
    Fast(type).dequantize(bytes.data(), got.data(), n);
    EXPECT_TRUE(SameFloats(got, want)) << "n " << n;
  }
}

INSTANTIATE_TEST_SUITE_P(Legacy, GgmlLegacyFastTest, ::testing::ValuesIn(kTypes), CaseName);

// Every 16-bit pattern, NaNs included, decodes to the same float through both variants.
TEST(GgmlLegacyPlainFastTest, DecodesEveryHalfAndBFloatPattern) {
  std::vector<uint16_t> all(65536);
  for (uint32_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint16_t>(i);
  for (DType type : {DType::kF16, DType::kBF16}) {
    std::vector<float> want(all.size()), got(all.size());
    Reference(type).dequantize(all.data(), want.data(), static_cast<int64_t>(all.size()));
    Fast(type).dequantize(all.data(), got.data(), static_cast<int64_t>(all.size()));
    EXPECT_TRUE(SameFloats(got, want)) << Name(type);
  }
}

// Random F32 bit patterns (every class: NaN payloads, Inf, subnormals) encode alike.
TEST(GgmlLegacyPlainFastTest, EncodesRandomBitPatterns) {
  const uint32_t seed = Seed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937 rng(seed);
  std::vector<float> x(1 << 18);
  for (auto& v : x) v = std::bit_cast<float>(static_cast<uint32_t>(rng()));
  for (DType type : {DType::kF16, DType::kBF16}) {
    std::vector<uint8_t> want(RowBytes(type, x.size())), got(want.size());
    Reference(type).quantize(x.data(), want.data(), static_cast<int64_t>(x.size()), nullptr);
    Fast(type).quantize(x.data(), got.data(), static_cast<int64_t>(x.size()), nullptr);
    EXPECT_TRUE(SameBlocks(type, got, want)) << Name(type);
  }
}

// NaN handling that llama.cpp's fp16 routines fix and lib/dtypes' conversions do differently
// (checked against libggml-base over all 2^32 floats): every F32 NaN encodes as sign | 0x7E00,
// and a signalling F16 NaN decodes quieted.
TEST(GgmlLegacyPlainTest, F16NaNAsLlamaCpp) {
  const float x[] = {std::bit_cast<float>(0x7FC12345u), std::bit_cast<float>(0xFF812345u)};
  uint16_t h[2];
  Reference(DType::kF16).quantize(x, h, 2, nullptr);
  EXPECT_EQ(h[0], 0x7E00);
  EXPECT_EQ(h[1], 0xFE00);
  const uint16_t snan = 0x7C01;
  float y;
  Reference(DType::kF16).dequantize(&snan, &y, 1);
  EXPECT_EQ(std::bit_cast<uint32_t>(y), 0x7FC02000u);
}

// ---- dispatch -----------------------------------------------------------------------------------

TEST(GgmlLegacyDispatchTest, EveryGgufTensorTypeHasBothVariants) {
  std::vector<DType> types = {DType::kF32, DType::kF16, DType::kBF16};
  for (DType t : BlockQuantDTypes()) types.push_back(t);
  for (DType t : types) {
    EXPECT_TRUE(HasKernels(t)) << Name(t);
    for (const RowKernels* k : {&Reference(t), &Fast(t)}) {
      EXPECT_NE(k->quantize, nullptr) << Name(t);
      EXPECT_NE(k->dequantize, nullptr) << Name(t);
    }
  }
  EXPECT_FALSE(HasKernels(DType::kF8E4M3));
  EXPECT_FALSE(HasKernels(DType::kI32));
}

TEST(GgmlLegacyDispatchTest, RowBytesIsBlocksTimesBlockBytes) {
  EXPECT_EQ(RowBytes(DType::kQ8_0, 4096), 128u * 34u);
  EXPECT_EQ(RowBytes(DType::kIQ4_XS, 512), 2u * 136u);
  EXPECT_EQ(RowBytes(DType::kF16, 7), 14u);
}

class GgmlLegacyRowsTest : public ::testing::TestWithParam<TypeCase> {};

// Enough rows (an odd count) to run in parallel, with and without importance.
TEST_P(GgmlLegacyRowsTest, QuantizeAndDequantizeRowsEqualReferencePerRow) {
  const DType type = GetParam().type;
  const uint32_t seed = Seed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  std::mt19937 rng(seed);
  const int64_t rows = 67, cols = 1024;
  const std::vector<float> x = RandomWeights(rng, rows * cols);
  const std::vector<float> w = RandomImportance(rng, cols);
  const uint64_t row_bytes = RowBytes(type, cols);
  for (const float* importance : {static_cast<const float*>(nullptr), w.data()}) {
    std::vector<uint8_t> want(rows * row_bytes), got(rows * row_bytes);
    for (int64_t r = 0; r < rows; ++r) {
      Reference(type).quantize(&x[r * cols], &want[r * row_bytes], cols, importance);
    }
    QuantizeRows(type, x.data(), got.data(), rows, cols, importance);
    EXPECT_TRUE(SameBlocks(type, got, want)) << (importance ? "with importance" : "");

    std::vector<float> want_y(rows * cols), got_y(rows * cols);
    for (int64_t r = 0; r < rows; ++r) {
      Reference(type).dequantize(&want[r * row_bytes], &want_y[r * cols], cols);
    }
    DequantizeRows(type, want.data(), got_y.data(), rows, cols);
    EXPECT_TRUE(SameFloats(got_y, want_y));
  }
}

INSTANTIATE_TEST_SUITE_P(Legacy, GgmlLegacyRowsTest, ::testing::ValuesIn(kTypes), CaseName);

}  // namespace
}  // namespace quantc::kernels::ggml_quants
