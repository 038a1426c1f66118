// The int_quant kernel (GPTQ's quant.py quantizer, compressed-tensors packing) against the
// float64 transcription of quant.py in tests/testing/int_quant_reference.h, hand-worked rows, and
// int32 words worked out by hand; and the pack-quantized WeightMatrix against its own decoding.
#include "lib/kernels/int_quant/int_quant.h"

#include <cstring>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/kernels/matmul/weight_matrix.h"
#include "tests/status_matchers.h"
#include "tests/testing/int_quant_reference.h"

namespace quantc::kernels::int_quant {
namespace {
using ::quantc::testing::RefCode;
using ::quantc::testing::RefFit;
using ::quantc::testing::RefIntParams;
using ::quantc::testing::ScaleStorage;
using ::quantc::testing::StatusIs;
using ::testing::HasSubstr;

ScaleStorage StorageOf(DType d) {
  return d == DType::kBF16 ? ScaleStorage::kBF16 : d == DType::kF16 ? ScaleStorage::kF16 : ScaleStorage::kF32;
}

// Rows with the shapes quantizers meet: Gaussian weights, a few outliers, all-positive and
// all-negative rows, exact zeros.
std::vector<float> TestRow(std::mt19937& rng, int64_t n, int kind) {
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> w(n);
  for (float& x : w) x = normal(rng);
  if (kind == 1) w[rng() % n] *= 40;                   // outlier
  if (kind == 2) for (float& x : w) x = std::fabs(x);   // no negative weight (quant.py's sym quirk)
  if (kind == 3) for (float& x : w) x = -std::fabs(x);
  if (kind == 4) for (int64_t i = 0; i < n; i += 3) w[i] = 0;
  return w;
}

TEST(IntQuant, FitAndCodesEqualQuantPyInFloat64) {
  const unsigned seed = ::testing::UnitTest::GetInstance()->random_seed();
  std::mt19937 rng(seed);
  int64_t checked = 0;
  for (int bits : {2, 3, 4, 8}) {
    for (bool sym : {true, false}) {
      for (bool mse : {false, true}) {
        for (DType sd : {DType::kF32, DType::kBF16, DType::kF16}) {
          for (int64_t n : {1, 7, 32, 128, 200}) {
            for (int kind = 0; kind < 5; ++kind) {
              const std::vector<float> w = TestRow(rng, n, kind);
              const IntScheme s{bits, 0, sym, mse};
              const IntParams got = FitParams(s, w.data(), n, sd);
              const RefIntParams want = RefFit(w.data(), n, bits, sym, mse, StorageOf(sd));
              const std::string where = ::testing::PrintToString(std::make_tuple(bits, sym, mse, Name(sd), n, kind, seed));
              ASSERT_EQ(double(got.scale), want.scale) << where;
              ASSERT_EQ(got.zero, want.zero) << where;
              for (int64_t i = 0; i < n; ++i) {
                ASSERT_EQ(QuantizeCode(got, MaxQ(s), w[i]), RefCode(want, MaxQ(s), w[i])) << where << " i=" << i;
              }
              ++checked;
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, 4 * 2 * 2 * 3 * 5 * 5);
}

TEST(IntQuant, QuantizeRowFitsEachGroup) {
  std::mt19937 rng(::testing::UnitTest::GetInstance()->random_seed());
  for (bool sym : {true, false}) {
    const IntScheme s{4, 64, sym, false};
    const std::vector<float> w = TestRow(rng, 256, 1);
    std::vector<uint8_t> codes(256);
    std::vector<IntParams> params(4);
    QuantizeRow(s, w.data(), 256, DType::kBF16, codes.data(), params.data());
    for (int g = 0; g < 4; ++g) {
      const RefIntParams want = RefFit(w.data() + 64 * g, 64, 4, sym, false, ScaleStorage::kBF16);
      EXPECT_EQ(double(params[g].scale), want.scale) << g;
      EXPECT_EQ(params[g].zero, want.zero) << g;
      for (int i = 0; i < 64; ++i) EXPECT_EQ(codes[64 * g + i], RefCode(want, 15, w[64 * g + i])) << g << " " << i;
    }
  }
}

// Worked by hand, with ranges whose scales are exact in binary.
TEST(IntQuant, HandWorkedRows) {
  // Symmetric int4: max |w| = 3.75, scale = 7.5 / 15 = 0.5, zero 8. -1.5 -> -3 -> 5; 0.75 -> 1.5,
  // a tie, to even 2 -> 10; 0 -> 8; 3.75 -> 7.5, a tie, to even 8 -> 16, clamped to 15 (quant.py's
  // symmetric grid stops at +7·scale).
  const float sym[] = {-1.5f, 0.75f, 0.0f, 3.75f};
  IntParams p = FitParams({4, 0, true, false}, sym, 4, DType::kBF16);
  EXPECT_EQ(p, (IntParams{0.5f, 8}));
  EXPECT_EQ(QuantizeCode(p, 15, sym[0]), 5);
  EXPECT_EQ(QuantizeCode(p, 15, sym[1]), 10);
  EXPECT_EQ(QuantizeCode(p, 15, sym[2]), 8);
  EXPECT_EQ(QuantizeCode(p, 15, sym[3]), 15);
  EXPECT_EQ(Dequantize(p, 5), -1.5f);
  // Asymmetric int4: range [-1, 2.75], scale 3.75 / 15 = 0.25, zero round(4) = 4. 0.375 -> 1.5 -> 2
  // -> 6; 0.125 -> 0.5 -> 0 -> 4; 2.75 -> 11 -> 15; -1 -> -4 -> 0.
  const float asym[] = {-1.0f, 0.375f, 2.75f, 0.125f};
  p = FitParams({4, 0, false, false}, asym, 4, DType::kBF16);
  EXPECT_EQ(p, (IntParams{0.25f, 4}));
  EXPECT_EQ(QuantizeCode(p, 15, asym[0]), 0);
  EXPECT_EQ(QuantizeCode(p, 15, asym[1]), 6);
  EXPECT_EQ(QuantizeCode(p, 15, asym[2]), 15);
  EXPECT_EQ(QuantizeCode(p, 15, asym[3]), 4);
  // No negative weight, symmetric: quant.py keeps xmin = 0, so scale = 1.5 / 15 = 0.1 (as BF16:
  // 0.10009765625), zero 8, and 1.5 clamps to code 15.
  const float pos[] = {0.5f, 1.5f};
  p = FitParams({4, 0, true, false}, pos, 2, DType::kBF16);
  EXPECT_EQ(p, (IntParams{0.10009765625f, 8}));
  EXPECT_EQ(QuantizeCode(p, 15, 1.5f), 15);
  // All zero: the range becomes [-1, 1], scale 2 / 15 (BF16 0.1337890625).
  const float zeros[] = {0.0f, 0.0f, 0.0f};
  EXPECT_EQ(FitParams({4, 0, true, false}, zeros, 3, DType::kBF16), (IntParams{0.1337890625f, 8}));
  EXPECT_EQ(FitParams({4, 0, false, false}, zeros, 3, DType::kBF16), (IntParams{0.1337890625f, 7}));  // round(1 / 0.13379) = 7
}

TEST(IntQuant, SchemeNames) {
  struct Case {
    const char* text;
    IntScheme want;
    const char* canonical;
  };
  for (const Case& c : {Case{"int4", {4, 0, true, false}, "int4"}, Case{"int4-g128", {4, 128, true, false}, "int4-g128"},
                        Case{"int8", {8, 0, true, false}, "int8"}, Case{"INT4-G128-ASYM", {4, 128, false, false}, "int4-g128-asym"},
                        Case{"int3-g32-asym-mse", {3, 32, false, true}, "int3-g32-asym-mse"},
                        Case{"int4-mse", {4, 0, true, true}, "int4-mse"}}) {
    absl::StatusOr<IntScheme> s = ParseIntScheme(c.text);
    ASSERT_TRUE(s.ok()) << c.text << ": " << s.status();
    EXPECT_EQ(s->bits, c.want.bits) << c.text;
    EXPECT_EQ(s->group, c.want.group) << c.text;
    EXPECT_EQ(s->symmetric, c.want.symmetric) << c.text;
    EXPECT_EQ(s->mse, c.want.mse) << c.text;
    EXPECT_EQ(Name(*s), c.canonical);
  }
  for (const char* bad : {"int", "int9", "int1", "int4-g0", "int4-g", "int4-asym-g128", "Q4_K_M", "int4-g128-foo", "int4-", "uint4"}) {
    EXPECT_THAT(ParseIntScheme(bad), StatusIs(absl::StatusCode::kInvalidArgument,
                                              AllOf(HasSubstr(bad), HasSubstr("int<bits>[-g<group>][-asym][-mse]"))))
        << bad;
  }
}

std::vector<uint32_t> Pack(const std::vector<uint8_t>& v, int bits) {
  std::vector<int32_t> w(PackedWords(static_cast<int64_t>(v.size()), bits), -1);  // -1: padding must be cleared
  PackBits(v.data(), static_cast<int64_t>(v.size()), bits, w.data());
  return std::vector<uint32_t>(w.begin(), w.end());
}

TEST(IntQuant, PackedWordsByHand) {
  // int4: element i in bits [4i, 4i + 4): 1..8 -> 0x87654321, then 9, 10 -> 0x000000A9.
  EXPECT_THAT(Pack({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 4), ::testing::ElementsAre(0x87654321u, 0x000000A9u));
  // compressed-tensors' symmetric int4 stores q - zero + 8 = q: the signed values -8 and 7 become 0 and 15.
  EXPECT_THAT(Pack({0, 15}, 4), ::testing::ElementsAre(0x000000F0u));
  // int8: four per word, little-endian.
  EXPECT_THAT(Pack({0x01, 0x02, 0x03, 0x04, 0xFF}, 8), ::testing::ElementsAre(0x04030201u, 0x000000FFu));
  // int3: 5 | 3 << 3 = 29; eleven 7s fill 33 bits: 0xFFFFFFFF and one bit of the next word; a lone 6
  // as element 10 straddles: its low two bits (10b) are bits 30-31, its high bit is bit 0 of word 1.
  EXPECT_THAT(Pack({5, 3}, 3), ::testing::ElementsAre(29u));
  EXPECT_THAT(Pack(std::vector<uint8_t>(11, 7), 3), ::testing::ElementsAre(0xFFFFFFFFu, 0x1u));
  std::vector<uint8_t> lone(11, 0);
  lone[10] = 6;
  EXPECT_THAT(Pack(lone, 3), ::testing::ElementsAre(0x80000000u, 0x1u));
  // Along dim 0 ([3, 2] int4): column 0 = {1, 3, 5} -> 0x531, column 1 = {2, 4, 6} -> 0x642, one word row.
  const uint8_t m[] = {1, 2, 3, 4, 5, 6};
  int32_t words[2];
  PackBitsDim0(m, 3, 2, 4, words);
  EXPECT_EQ(words[0], 0x531);
  EXPECT_EQ(words[1], 0x642);
  uint8_t back[6];
  UnpackBitsDim0(words, 3, 2, 4, back);
  EXPECT_THAT(back, ::testing::ElementsAreArray(m));
}

TEST(IntQuant, UnpackInvertsPackForEveryWidth) {
  std::mt19937 rng(::testing::UnitTest::GetInstance()->random_seed());
  for (int bits = 1; bits <= 8; ++bits) {
    for (int64_t n : {1, 31, 32, 33, 100}) {
      std::vector<uint8_t> v(n);
      for (uint8_t& x : v) x = static_cast<uint8_t>(rng() % (1u << bits));
      const std::vector<uint32_t> words = Pack(v, bits);
      std::vector<uint8_t> back(n);
      UnpackBits(reinterpret_cast<const int32_t*>(words.data()), n, bits, back.data());
      EXPECT_EQ(back, v) << bits << " " << n;
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(quantc::testing::RefUnpack(words, i, bits), v[i]) << bits << " " << i;
    }
  }
}

// The runner's matrix decodes rows as scale · (q - zero), per group, with symmetric zero 2^(bits-1).
TEST(PackedIntWeight, DequantRowsDecodesGroups) {
  // Two rows of 8 int4 codes, groups of 4.
  const std::vector<uint8_t> codes = {0, 1, 2, 3, 12, 13, 14, 15, 8, 8, 9, 7, 15, 0, 4, 5};
  std::vector<uint8_t> bytes(2 * 4);
  for (int r = 0; r < 2; ++r) {
    const std::vector<uint32_t> w = Pack({codes.begin() + 8 * r, codes.begin() + 8 * r + 8}, 4);
    std::memcpy(bytes.data() + 4 * r, w.data(), 4);
  }
  const std::vector<float> scales = {0.5f, 0.25f, 2.0f, 1.0f};
  for (bool sym : {true, false}) {
    const std::vector<uint8_t> zeros = sym ? std::vector<uint8_t>{} : std::vector<uint8_t>{3, 12, 0, 5};
    auto m = kernels::MakePackedIntWeight(bytes, {4, 2, 8, 4}, scales, zeros);
    ASSERT_TRUE(m.ok()) << m.status();
    float out[16];
    (*m)->DequantRows(0, 2, out);
    for (int r = 0; r < 2; ++r) {
      for (int c = 0; c < 8; ++c) {
        const int g = r * 2 + c / 4;
        const int zero = sym ? 8 : zeros[g];
        EXPECT_EQ(out[r * 8 + c], scales[g] * (codes[r * 8 + c] - zero)) << r << " " << c;
      }
    }
  }
  // Groups of 3 over 8 columns: 3, 3 and a ragged 2, each with its own scale.
  const std::vector<float> ragged_scales = {1.0f, 2.0f, 4.0f, 0.5f, 0.25f, 8.0f};
  auto ragged = kernels::MakePackedIntWeight(bytes, {4, 2, 8, 3}, ragged_scales, {});
  ASSERT_TRUE(ragged.ok()) << ragged.status();
  float out[16];
  (*ragged)->DequantRows(0, 2, out);
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 8; ++c) EXPECT_EQ(out[r * 8 + c], ragged_scales[r * 3 + c / 3] * (codes[r * 8 + c] - 8)) << r << " " << c;
  }
  EXPECT_THAT(kernels::MakePackedIntWeight(bytes, {4, 2, 8, 3}, scales, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected 6")));
  EXPECT_THAT(kernels::MakePackedIntWeight(bytes, {4, 2, 8, 4}, {1.0f}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("scales")));
}

}  // namespace
}  // namespace quantc::kernels::int_quant
