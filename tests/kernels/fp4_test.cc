// The FP4 kernels (lib/kernels/fp4) against E2M1/E8M0/E4M3 decoders written out here from the
// format definitions, groups worked by hand (DeepSeek V4's ceil rule, OCP MX's reference rule,
// ModelOpt's NVFP4 export), the properties the scale rules promise (round trips, kCeil never clips,
// kMse never worse than kCeil or kReference), and the OpenMP fast path against the reference.
#include "lib/kernels/fp4/fp4.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/status_matchers.h"

namespace quantc::kernels::fp4 {
namespace {
using ::quantc::testing::IsOkAndHolds;
using ::quantc::testing::StatusIs;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr Fp4Format kFormats[] = {Fp4Format::kMx, Fp4Format::kNv};
constexpr ScaleRule kRules[] = {ScaleRule::kCeil, ScaleRule::kReference, ScaleRule::kMse};

// OCP MX v1.0 E2M1 by code, bit 3 the sign.
constexpr float kE2M1[16] = {0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0f, -0.5, -1, -1.5, -2, -3, -4, -6};

// E4M3FN from its fields: bias 7, subnormals m·2^-9, S.1111.111 NaN.
float E4M3Value(uint8_t b) {
  const int e = (b >> 3) & 0xF, m = b & 7;
  if (e == 15 && m == 7) return std::numeric_limits<float>::quiet_NaN();
  const float mag = e == 0 ? std::ldexp(static_cast<float>(m), -9) : std::ldexp(static_cast<float>(8 + m), e - 10);
  return (b & 0x80) ? -mag : mag;
}

// Equal as floats, zeros by sign too; NaN equals NaN.
bool Same(float a, float b) { return (std::isnan(a) && std::isnan(b)) || std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b); }

struct Quantized {
  std::vector<uint8_t> codes, scales;
};

Quantized Quantize(Fp4Format f, ScaleRule rule, const std::vector<float>& x, int64_t cols, float g,
                   const float* importance = nullptr) {
  const int64_t rows = static_cast<int64_t>(x.size()) / cols, gs = GroupSize(f);
  Quantized q{std::vector<uint8_t>(x.size() / 2), std::vector<uint8_t>(x.size() / gs)};
  for (int64_t r = 0; r < rows; ++r) {
    QuantizeRow(f, rule, x.data() + r * cols, cols, g, importance, q.codes.data() + r * cols / 2,
                q.scales.data() + r * cols / gs);
  }
  return q;
}

std::vector<float> Dequantize(Fp4Format f, const Quantized& q, int64_t cols, float g) {
  const int64_t rows = static_cast<int64_t>(q.codes.size()) * 2 / cols, gs = GroupSize(f);
  std::vector<float> y(q.codes.size() * 2);
  for (int64_t r = 0; r < rows; ++r) {
    DequantizeRow(f, q.codes.data() + r * cols / 2, q.scales.data() + r * cols / gs, cols, g, y.data() + r * cols);
  }
  return y;
}

float Amax(const std::vector<float>& x) {
  float a = 0;
  for (float v : x) a = std::max(a, std::fabs(v));
  return a;
}

// Gaussian weights with the shapes quantizers meet: an outlier (x40) per row, an all-zero group,
// a row of small weights (x0.01), an all-positive row, exact zeros (as far as the shape allows).
std::vector<float> TestMatrix(std::mt19937& rng, int64_t rows, int64_t cols) {
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> w(rows * cols);
  for (float& v : w) v = normal(rng);
  for (int64_t r = 0; r < rows; ++r) w[r * cols + rng() % cols] *= 40;
  for (int64_t i = 0; i < 32 && cols >= 64; ++i) w[i] = 0;
  for (int64_t i = cols; i < 2 * cols && rows > 1; ++i) w[i] *= 0.01f;
  for (int64_t i = 2 * cols; i < 3 * cols && rows > 2; ++i) w[i] = std::fabs(w[i]);
  for (int64_t i = 3 * cols; i < 4 * cols && rows > 3; i += 3) w[i] = 0;
  return w;
}

std::vector<float> TestImportance(std::mt19937& rng, int64_t cols) {
  std::uniform_real_distribution<float> u(0.1f, 10.0f);
  std::vector<float> w(cols);
  for (float& v : w) v = u(rng);
  return w;
}

TEST(Fp4, NamesAndParse) {
  EXPECT_EQ(GroupSize(Fp4Format::kMx), 32);
  EXPECT_EQ(GroupSize(Fp4Format::kNv), 16);
  EXPECT_EQ(Name(Fp4Format::kMx), "mxfp4");
  EXPECT_EQ(Name(Fp4Format::kNv), "nvfp4");
  for (ScaleRule r : kRules) EXPECT_THAT(ParseScaleRule(Name(r)), IsOkAndHolds(r));
  EXPECT_THAT(ParseScaleRule("Floor"), IsOkAndHolds(ScaleRule::kReference));
  EXPECT_THAT(ParseScaleRule("nearest"), IsOkAndHolds(ScaleRule::kReference));
  EXPECT_THAT(ParseScaleRule("round"), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr("'round': expected one of ceil, reference")));
}

// Property 1: every code under every scale byte, against the decoders above. Element j of the row
// holds code j % 16, element 2k in the low nibble.
TEST(Fp4, DequantDecodesEveryCodeAndScale) {
  for (Fp4Format f : kFormats) {
    const int gs = GroupSize(f);
    std::vector<uint8_t> codes(gs / 2);
    for (int k = 0; k < gs / 2; ++k) codes[k] = static_cast<uint8_t>((2 * k) % 16 | ((2 * k + 1) % 16) << 4);
    for (float g : {1.0f, 0.37f}) {
      if (f == Fp4Format::kMx && g != 1.0f) continue;
      for (int b = 0; b < 256; ++b) {
        const uint8_t sb = static_cast<uint8_t>(b);
        const float scale = f == Fp4Format::kMx ? (b == 255 ? std::numeric_limits<float>::quiet_NaN()
                                                            : static_cast<float>(std::ldexp(1.0, b - 127)))
                                                : E4M3Value(sb) * g;
        ASSERT_TRUE(Same(GroupScale(f, sb, g), scale)) << Name(f) << " byte " << b;
        std::vector<float> y(gs);
        DequantizeRow(f, codes.data(), &sb, gs, g, y.data());
        for (int j = 0; j < gs; ++j) {
          ASSERT_TRUE(Same(y[j], kE2M1[j % 16] * scale)) << Name(f) << " byte " << b << " element " << j;
        }
      }
    }
  }
}

// Property 8: a DeepSeek V4 group by hand. amax = 5: 5/6 -> ceil(log2 0.833) = 0, scale 2^0
// (byte 127); elements RNE: 5 -> 4 (tie, even), -2.6 -> -3, 0.25 -> 0 (tie), 0.3 -> 0.5,
// 1.25 -> 1 (tie), -0.75 -> -1 (tie), 4.9 -> 4.
TEST(Fp4, MxCeilByHand) {
  std::vector<float> x(32, 0.0f);
  const float head[] = {5, -2.6f, 0.25f, 0.3f, 1.25f, -0.75f, 4.9f};
  std::copy(std::begin(head), std::end(head), x.begin());
  const Quantized q = Quantize(Fp4Format::kMx, ScaleRule::kCeil, x, 32, 1.0f);
  EXPECT_THAT(q.scales, ElementsAreArray({127}));
  std::vector<uint8_t> want(16, 0);
  want[0] = 0xD6;  // 4 = code 6 (low), -3 = code 0xD (high)
  want[1] = 0x10;  // 0, 0.5
  want[2] = 0xA2;  // 1 = code 2, -1 = code 0xA
  want[3] = 0x06;  // 4, 0
  EXPECT_EQ(q.codes, want);
  // The exponent is exact where log2f would round: 6 fits 2^0, the next float above 6 needs 2^1.
  const float six = 6.0f, above = std::nextafter(6.0f, 7.0f), below_eight = std::nextafter(8.0f, 0.0f);
  EXPECT_EQ(FitGroupScale(Fp4Format::kMx, ScaleRule::kCeil, &six, 1, 1, nullptr), 127);
  EXPECT_EQ(FitGroupScale(Fp4Format::kMx, ScaleRule::kCeil, &above, 1, 1, nullptr), 128);
  // OCP reference: floor(log2(8 - ulp)) = 2, so shared_exp 0 (log2f(8 - ulp) rounds to 3.0).
  EXPECT_EQ(FitGroupScale(Fp4Format::kMx, ScaleRule::kReference, &below_eight, 1, 1, nullptr), 127);
  // All-zero and tiny groups: DeepSeek's amax floor 6·2^-126 gives byte 1; the reference gives 0.
  const float zero = 0.0f, tiny = 1e-40f;
  EXPECT_EQ(FitGroupScale(Fp4Format::kMx, ScaleRule::kCeil, &zero, 1, 1, nullptr), 1);
  EXPECT_EQ(FitGroupScale(Fp4Format::kMx, ScaleRule::kCeil, &tiny, 1, 1, nullptr), 1);
  EXPECT_EQ(FitGroupScale(Fp4Format::kMx, ScaleRule::kReference, &zero, 1, 1, nullptr), 0);
  EXPECT_EQ(FitGroupScale(Fp4Format::kMx, ScaleRule::kMse, &zero, 1, 1, nullptr), 1);
}

// Property 7: the global scale, and two NVFP4 groups by hand with g = 2688 / (6·448) = 1.
TEST(Fp4, NvGlobalScaleAndHandExample) {
  EXPECT_EQ(NvGlobalScale(2688.0f), 1.0f);
  EXPECT_EQ(NvGlobalScale(1.0f), 1.0f / 2688.0f);
  EXPECT_EQ(NvGlobalScale(0.0f), 1.0f);
  EXPECT_EQ(NvGlobalScale(std::numeric_limits<float>::infinity()), 1.0f);
  EXPECT_EQ(NvGlobalScale(std::numeric_limits<float>::quiet_NaN()), 1.0f);
  EXPECT_EQ(NvGlobalScale(1e-44f), 1.0f);  // the quotient underflows to 0

  std::vector<float> x(32, 0.0f);
  const float g0[] = {2688, -1000, 500, 0.3f};          // amax/6 = 448: byte 0x7E under both rules
  const float g1[] = {10, -7, 2.5f, 0.8f, 1.6f, -0.4f};  // amax/6 = 1.667
  std::copy(std::begin(g0), std::end(g0), x.begin());
  std::copy(std::begin(g1), std::end(g1), x.begin() + 16);
  const float g = NvGlobalScale(Amax(x));
  ASSERT_EQ(g, 1.0f);
  // Group 0 at 448: 2688 -> 6 (7), -1000/448 = -2.23 -> -2 (0xC), 500/448 = 1.12 -> 1 (2), 0.3 -> 0.
  // Group 1, reference: e4m3_rne(1.667) = 1.625 (0x3D); 10/1.625 = 6.15 -> 6 (7, clipped to 9.75),
  // -7/1.625 = -4.31 -> -4 (0xE), 2.5/1.625 = 1.54 -> 1.5 (3), 0.8/1.625 = 0.49 -> 0.5 (1),
  // 1.6/1.625 = 0.98 -> 1 (2), -0.4/1.625 = -0.25 -> -0 (8).
  // Group 1, ceil: 6·1.625 = 9.75 < 10, 6·1.75 = 10.5 >= 10: 1.75 (0x3E); the codes are the same
  // (5.71 -> 6, -4, 1.43 -> 1.5, 0.46 -> 0.5, 0.91 -> 1, -0.23 -> -0).
  std::vector<uint8_t> want(16, 0);
  want[0] = 0xC7, want[1] = 0x02;
  want[8] = 0xE7, want[9] = 0x13, want[10] = 0x82;
  const Quantized ref = Quantize(Fp4Format::kNv, ScaleRule::kReference, x, 32, g);
  const Quantized ceil = Quantize(Fp4Format::kNv, ScaleRule::kCeil, x, 32, g);
  EXPECT_THAT(ref.scales, ElementsAreArray({0x7E, 0x3D}));
  EXPECT_THAT(ceil.scales, ElementsAreArray({0x7E, 0x3E}));
  EXPECT_EQ(ref.codes, want);
  EXPECT_EQ(ceil.codes, want);
  const std::vector<float> y = Dequantize(Fp4Format::kNv, ref, 32, g);
  const float want_y[] = {2688, -896, 448, 0, 9.75f, -6.5f, 2.4375f, 0.8125f, 1.625f, -0.0f};
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(Same(y[i < 4 ? i : 12 + i], want_y[i])) << i;
  // An all-zero group takes ModelOpt's 1.0 under every rule.
  const float zeros[16] = {};
  for (ScaleRule r : kRules) EXPECT_EQ(FitGroupScale(Fp4Format::kNv, r, zeros, 16, g, nullptr), 0x38) << Name(r);
}

// Property 2: quantize -> dequantize -> quantize -> dequantize gives the same floats, every rule,
// NV with g held fixed; property 3, first half: MX kReference also gives the same bytes.
TEST(Fp4, RoundTripKeepsValues) {
  const unsigned seed = ::testing::UnitTest::GetInstance()->random_seed();
  std::mt19937 rng(seed);
  const int64_t cols = 256;
  const std::vector<float> x = TestMatrix(rng, 8, cols);
  const std::vector<float> imp = TestImportance(rng, cols);
  for (Fp4Format f : kFormats) {
    const float g = f == Fp4Format::kNv ? NvGlobalScale(Amax(x)) : 1.0f;
    for (ScaleRule r : kRules) {
      for (const float* importance : {static_cast<const float*>(nullptr), imp.data()}) {
        const Quantized q1 = Quantize(f, r, x, cols, g, importance);
        const std::vector<float> y1 = Dequantize(f, q1, cols, g);
        const Quantized q2 = Quantize(f, r, y1, cols, g, importance);
        const std::vector<float> y2 = Dequantize(f, q2, cols, g);
        for (size_t i = 0; i < y1.size(); ++i) {
          ASSERT_TRUE(Same(y1[i], y2[i])) << Name(f) << " " << Name(r) << " i=" << i << " seed=" << seed;
        }
        if (f == Fp4Format::kMx && r == ScaleRule::kReference) {
          EXPECT_EQ(q1.codes, q2.codes);
          EXPECT_EQ(q1.scales, q2.scales);
        }
      }
    }
  }
}

// Property 3, second half: DeepSeek's round-up rule is not idempotent in bytes. 3.2 takes scale 2^0
// and code 3; its dequantized 3 = 6·2^-1 then takes 2^-1 and code 6. Values stay.
TEST(Fp4, MxCeilBytesMoveValuesStay) {
  std::vector<float> x(32, 0.0f);
  x[0] = 3.2f, x[1] = 1.0f, x[2] = -0.5f;
  const Quantized q1 = Quantize(Fp4Format::kMx, ScaleRule::kCeil, x, 32, 1.0f);
  EXPECT_THAT(q1.scales, ElementsAreArray({127}));
  EXPECT_EQ(q1.codes[0], 0x25);  // 3 = code 5, 1 = code 2
  EXPECT_EQ(q1.codes[1], 0x09);  // -0.5
  const std::vector<float> y1 = Dequantize(Fp4Format::kMx, q1, 32, 1.0f);
  const Quantized q2 = Quantize(Fp4Format::kMx, ScaleRule::kCeil, y1, 32, 1.0f);
  EXPECT_THAT(q2.scales, ElementsAreArray({126}));
  EXPECT_EQ(q2.codes[0], 0x47);  // 6·0.5, 2·0.5
  EXPECT_EQ(q2.codes[1], 0x0A);  // -1·0.5
  EXPECT_EQ(Dequantize(Fp4Format::kMx, q2, 32, 1.0f), y1);
  EXPECT_EQ(y1[0], 3.0f);
}

// The documented limit of the NV round trip: in E4M3's subnormal range neighbouring scales are
// 3:2 apart. g = 1, amax = 13·2^-9: ceil scale 3·2^-9 (6·2 < 13 <= 6·3), 13/3 -> 4, 1.5/3 -> 0.5;
// the dequantized amax 12·2^-9 takes 2·2^-9, where 1.5·2^-9 is 0.75 units, a tie that goes to 1.
TEST(Fp4, NvRoundTripCanMoveWithSubnormalScales) {
  std::vector<float> x(16, 0.0f);
  x[0] = std::ldexp(13.0f, -9), x[1] = std::ldexp(1.5f, -9);
  const Quantized q1 = Quantize(Fp4Format::kNv, ScaleRule::kCeil, x, 16, 1.0f);
  EXPECT_THAT(q1.scales, ElementsAreArray({0x03}));
  const std::vector<float> y1 = Dequantize(Fp4Format::kNv, q1, 16, 1.0f);
  EXPECT_EQ(y1[0], std::ldexp(12.0f, -9));
  EXPECT_EQ(y1[1], std::ldexp(1.5f, -9));
  const Quantized q2 = Quantize(Fp4Format::kNv, ScaleRule::kCeil, y1, 16, 1.0f);
  EXPECT_THAT(q2.scales, ElementsAreArray({0x02}));
  EXPECT_EQ(Dequantize(Fp4Format::kNv, q2, 16, 1.0f)[1], std::ldexp(2.0f, -9));
}

// Property 4: under kCeil |x| <= 6 × scale for every element (NV: unless the 448 cap is hit, where
// the FP32 rounding of g itself can leave the tensor's amax an ulp or two above).
TEST(Fp4, CeilNeverClips) {
  const unsigned seed = ::testing::UnitTest::GetInstance()->random_seed();
  std::mt19937 rng(seed);
  const int64_t cols = 256;
  const std::vector<float> x = TestMatrix(rng, 16, cols);
  for (Fp4Format f : kFormats) {
    const float g = f == Fp4Format::kNv ? NvGlobalScale(Amax(x)) : 1.0f;
    const Quantized q = Quantize(f, ScaleRule::kCeil, x, cols, g);
    for (size_t i = 0; i < x.size(); ++i) {
      const uint8_t b = q.scales[i / GroupSize(f)];
      const float top = 6.0f * GroupScale(f, b, g);
      const float slack = f == Fp4Format::kNv && b == 0x7E ? 1.0f + 0x1p-21f : 1.0f;
      ASSERT_LE(std::fabs(x[i]), top * slack) << Name(f) << " i=" << i << " seed=" << seed;
    }
  }
}

// ... while kReference can clip: MX amax = 7.9·2^-3 keeps shared_exp -3 and saturates at 6·2^-3;
// NV amax 10 with g = 1 takes 1.625 and tops out at 9.75 (kCeil: 2^-2 and 1.75).
TEST(Fp4, ReferenceCanClip) {
  std::vector<float> mx(32, 0.1f);
  mx[5] = 7.9f * 0.125f;
  const Quantized qr = Quantize(Fp4Format::kMx, ScaleRule::kReference, mx, 32, 1.0f);
  EXPECT_THAT(qr.scales, ElementsAreArray({124}));
  EXPECT_EQ(Dequantize(Fp4Format::kMx, qr, 32, 1.0f)[5], 0.75f);
  const Quantized qc = Quantize(Fp4Format::kMx, ScaleRule::kCeil, mx, 32, 1.0f);
  EXPECT_THAT(qc.scales, ElementsAreArray({125}));
  EXPECT_EQ(Dequantize(Fp4Format::kMx, qc, 32, 1.0f)[5], 1.0f);  // 3.95 -> 4, times 2^-2

  std::vector<float> nv(16, 1.0f);
  nv[3] = 10.0f;
  EXPECT_EQ(Dequantize(Fp4Format::kNv, Quantize(Fp4Format::kNv, ScaleRule::kReference, nv, 16, 1.0f), 16, 1.0f)[3], 9.75f);
  EXPECT_EQ(Dequantize(Fp4Format::kNv, Quantize(Fp4Format::kNv, ScaleRule::kCeil, nv, 16, 1.0f), 16, 1.0f)[3], 10.5f);
}

// Property 5: per group, kMse's weighted squared error (computed as the kernel does) is at most
// kCeil's and kReference's, with and without importance weights.
TEST(Fp4, MseNeverWorseThanCeilOrReference) {
  const unsigned seed = ::testing::UnitTest::GetInstance()->random_seed();
  std::mt19937 rng(seed);
  const int64_t cols = 512;
  const std::vector<float> x = TestMatrix(rng, 16, cols);
  const std::vector<float> imp = TestImportance(rng, cols);
  for (Fp4Format f : kFormats) {
    const float g = f == Fp4Format::kNv ? NvGlobalScale(Amax(x)) : 1.0f;
    const int gs = GroupSize(f);
    for (const float* importance : {static_cast<const float*>(nullptr), imp.data()}) {
      double total[3] = {0, 0, 0};
      std::vector<double> err[3];
      for (int r = 0; r < 3; ++r) {
        const std::vector<float> y = Dequantize(f, Quantize(f, kRules[r], x, cols, g, importance), cols, g);
        for (size_t g0 = 0; g0 < x.size(); g0 += gs) {
          double e = 0;
          for (size_t i = g0; i < g0 + gs; ++i) {
            const double d = static_cast<double>(x[i]) - static_cast<double>(y[i]);
            e += (importance != nullptr ? static_cast<double>(importance[i % cols]) : 1.0) * d * d;
          }
          err[r].push_back(e);
          total[r] += e;
        }
      }
      for (size_t k = 0; k < err[2].size(); ++k) {
        ASSERT_LE(err[2][k], err[0][k]) << Name(f) << " group " << k << " seed=" << seed;
        ASSERT_LE(err[2][k], err[1][k]) << Name(f) << " group " << k << " seed=" << seed;
      }
      EXPECT_LT(total[2], std::min(total[0], total[1])) << Name(f);
      std::printf("%s importance=%d: squared error ceil %.6g reference %.6g mse %.6g\n", std::string(Name(f)).c_str(),
                  importance != nullptr, total[0], total[1], total[2]);
    }
  }
}

// Property 6: the OpenMP fast path equals the reference byte for byte (and float for float), on
// one group, one row, and a matrix big enough to run on several threads.
TEST(Fp4, FastEqualsReference) {
  const unsigned seed = ::testing::UnitTest::GetInstance()->random_seed();
  std::mt19937 rng(seed);
  for (Fp4Format f : kFormats) {
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, GroupSize(f)}, {1, 1024}, {300, 256}}) {
      const std::vector<float> x = TestMatrix(rng, rows, cols);
      const std::vector<float> imp = TestImportance(rng, cols);
      const float g = f == Fp4Format::kNv ? NvGlobalScale(Amax(x)) : 1.0f;
      for (ScaleRule r : kRules) {
        for (const float* importance : {static_cast<const float*>(nullptr), imp.data()}) {
          const Quantized want = Quantize(f, r, x, cols, g, importance);
          Quantized got{std::vector<uint8_t>(want.codes.size()), std::vector<uint8_t>(want.scales.size())};
          fast::QuantizeRows(f, r, x.data(), rows, cols, g, importance, got.codes.data(), got.scales.data());
          ASSERT_EQ(got.codes, want.codes) << Name(f) << " " << Name(r) << " " << rows << "x" << cols;
          ASSERT_EQ(got.scales, want.scales) << Name(f) << " " << Name(r) << " " << rows << "x" << cols;
          const std::vector<float> y = Dequantize(f, want, cols, g);
          std::vector<float> fy(y.size());
          fast::DequantizeRows(f, want.codes.data(), want.scales.data(), rows, cols, g, fy.data());
          for (size_t i = 0; i < y.size(); ++i) ASSERT_TRUE(Same(fy[i], y[i])) << Name(f) << " i=" << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace quantc::kernels::fp4
