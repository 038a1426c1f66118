// 8-bit and sub-byte formats <-> F32: every code decoded against the ldexp formula, every code
// round-tripped, and encoding checked against the table-search reference (float_reference.h) on
// every midpoint between neighbours, the floats either side, the overflow boundaries, specials and
// a strided sweep over f32 bit patterns. E8M0 has PyTorch's rounding rule, checked against a
// frexp-based statement of that rule.
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/dtypes/float_convert.h"
#include "tests/dtypes/float_reference.h"

namespace quantc {
namespace {

using ::quantc::testing::DecodeReference;
using ::quantc::testing::FormatSpec;
using ::quantc::testing::NanRule;
using ::quantc::testing::NearestEncoder;
using ::quantc::testing::Overflow;
using ::quantc::testing::RoundingProbes;
using ::quantc::testing::Specials;
using ::quantc::testing::F32SweepStride;
using ::quantc::testing::Bits;
using ::quantc::testing::ForEachF32Pattern;
using ::quantc::testing::FromBits;

// Overflow points: the value of the code after the largest finite one (see float_reference.h).
constexpr FormatSpec kE4M3Spec = {"F8_E4M3", 4, 3, 7, Specials::kFn, 480.0,
                                  Overflow::kNaN, NanRule::kFixedKeepSign, 0x7F};
constexpr FormatSpec kE4M3SatSpec = {"F8_E4M3_saturating", 4, 3, 7, Specials::kFn, 0.0,
                                     Overflow::kSaturate, NanRule::kFixedKeepSign, 0x7F};
constexpr FormatSpec kE5M2Spec = {"F8_E5M2", 5, 2, 15, Specials::kIeee, 65536.0,
                                  Overflow::kInf, NanRule::kFixedKeepSign, 0x7F};
constexpr FormatSpec kE4M3FnuzSpec = {"F8_E4M3FNUZ", 4, 3, 8, Specials::kFnuz, 256.0,
                                      Overflow::kNaN, NanRule::kFixed, 0x80};
constexpr FormatSpec kE5M2FnuzSpec = {"F8_E5M2FNUZ", 5, 2, 16, Specials::kFnuz, 65536.0,
                                      Overflow::kNaN, NanRule::kFixed, 0x80};
constexpr FormatSpec kF4Spec = {"F4_E2M1", 2, 1, 1, Specials::kNone, 0.0,
                                Overflow::kSaturate, NanRule::kZero, 0};
constexpr FormatSpec kF6E2M3Spec = {"F6_E2M3", 2, 3, 1, Specials::kNone, 0.0,
                                    Overflow::kSaturate, NanRule::kZero, 0};
constexpr FormatSpec kF6E3M2Spec = {"F6_E3M2", 3, 2, 3, Specials::kNone, 0.0,
                                    Overflow::kSaturate, NanRule::kZero, 0};


struct Small {
  const FormatSpec& spec;
  float (*decode)(uint8_t);
  uint8_t (*encode)(float);
};

class SmallFloatTest : public ::testing::TestWithParam<Small> {};

TEST_P(SmallFloatTest, DecodesEveryCode) {
  const Small& s = GetParam();
  for (uint32_t code = 0; code < s.spec.num_codes(); ++code) {
    const float got = s.decode(static_cast<uint8_t>(code));
    const double want = DecodeReference(s.spec, code);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << s.spec.name << " code 0x" << std::hex << code;
    } else {
      EXPECT_EQ(static_cast<double>(got), want) << s.spec.name << " code 0x" << std::hex << code;
      EXPECT_EQ(std::signbit(got), std::signbit(want)) << s.spec.name << " code 0x" << std::hex << code;
    }
  }
}

TEST_P(SmallFloatTest, EveryCodeRoundTrips) {
  const Small& s = GetParam();
  const NearestEncoder ref(s.spec);
  for (uint32_t code = 0; code < s.spec.num_codes(); ++code) {
    const float value = s.decode(static_cast<uint8_t>(code));
    const uint8_t back = s.encode(value);
    if (std::isnan(value)) {
      EXPECT_EQ(back, ref.Encode(value)) << s.spec.name << " NaN code 0x" << std::hex << code;
    } else {
      EXPECT_EQ(back, code) << s.spec.name << " code 0x" << std::hex << code;
    }
  }
}

TEST_P(SmallFloatTest, EncodesMidpointsAndNeighboursLikeReference) {
  const Small& s = GetParam();
  const NearestEncoder ref(s.spec);
  for (float x : RoundingProbes(ref)) {
    EXPECT_EQ(s.encode(x), ref.Encode(x))
        << s.spec.name << " x=" << x << " (0x" << std::hex << Bits(x) << ")";
  }
}

TEST_P(SmallFloatTest, EncodesNaNAndInfinityLikeReference) {
  const Small& s = GetParam();
  const NearestEncoder ref(s.spec);
  for (uint32_t bits : {0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFC00000u, 0x7F800001u,
                        0xFFFFFFFFu, 0x7FA00000u}) {
    EXPECT_EQ(s.encode(FromBits(bits)), ref.Encode(FromBits(bits)))
        << s.spec.name << " 0x" << std::hex << bits;
  }
}

TEST_P(SmallFloatTest, EncodesF32SweepLikeReference) {
  const Small& s = GetParam();
  const NearestEncoder ref(s.spec);
  ForEachF32Pattern(F32SweepStride(), [&](uint32_t bits) {
    const float x = FromBits(bits);
    EXPECT_EQ(s.encode(x), ref.Encode(x)) << s.spec.name << " 0x" << std::hex << bits;
    return !::testing::Test::HasFailure();
  });
}

INSTANTIATE_TEST_SUITE_P(
    All, SmallFloatTest,
    ::testing::Values(Small{kE4M3Spec, F8E4M3ToF32, F32ToF8E4M3},
                      Small{kE4M3SatSpec, F8E4M3ToF32, F32ToF8E4M3Saturating},
                      Small{kE5M2Spec, F8E5M2ToF32, F32ToF8E5M2},
                      Small{kE4M3FnuzSpec, F8E4M3FNUZToF32, F32ToF8E4M3FNUZ},
                      Small{kE5M2FnuzSpec, F8E5M2FNUZToF32, F32ToF8E5M2FNUZ},
                      Small{kF4Spec, F4E2M1ToF32, F32ToF4E2M1},
                      Small{kF6E2M3Spec, F6E2M3ToF32, F32ToF6E2M3},
                      Small{kF6E3M2Spec, F6E3M2ToF32, F32ToF6E3M2}),
    [](const ::testing::TestParamInfo<Small>& info) { return std::string(info.param.spec.name); });

// ---- The boundaries spelled out -----------------------------------------------------------

// PyTorch's fp8e4m3fn_from_fp32_value rounds first and calls NaN whatever lands on 0x7F: 464 is
// the tie between 448 (0x7E, even) and 480 (0x7F), so it goes to 448; anything above is NaN.
TEST(F8E4M3Test, NonSaturatingOverflowMatchesPyTorch) {
  EXPECT_EQ(F32ToF8E4M3(448.0f), 0x7E);
  EXPECT_EQ(F32ToF8E4M3(463.99f), 0x7E);
  EXPECT_EQ(F32ToF8E4M3(464.0f), 0x7E);
  EXPECT_EQ(F32ToF8E4M3(std::nextafter(464.0f, HUGE_VALF)), 0x7F);
  EXPECT_EQ(F32ToF8E4M3(480.0f), 0x7F);
  EXPECT_EQ(F32ToF8E4M3(1e30f), 0x7F);
  EXPECT_EQ(F32ToF8E4M3(-1e30f), 0xFF);
  EXPECT_EQ(F32ToF8E4M3(HUGE_VALF), 0x7F);
  EXPECT_EQ(F32ToF8E4M3(-HUGE_VALF), 0xFF);
  EXPECT_EQ(F32ToF8E4M3(std::numeric_limits<float>::quiet_NaN()), 0x7F);
  EXPECT_EQ(F32ToF8E4M3(-std::numeric_limits<float>::quiet_NaN()), 0xFF);
}

TEST(F8E4M3Test, SaturatingClampsToMax) {
  EXPECT_EQ(F32ToF8E4M3Saturating(463.99f), 0x7E);
  EXPECT_EQ(F32ToF8E4M3Saturating(464.0f), 0x7E);
  EXPECT_EQ(F32ToF8E4M3Saturating(465.0f), 0x7E);
  EXPECT_EQ(F32ToF8E4M3Saturating(1e30f), 0x7E);
  EXPECT_EQ(F32ToF8E4M3Saturating(HUGE_VALF), 0x7E);
  EXPECT_EQ(F32ToF8E4M3Saturating(-HUGE_VALF), 0xFE);
  EXPECT_EQ(F32ToF8E4M3Saturating(std::numeric_limits<float>::quiet_NaN()), 0x7F);
}

TEST(F8E4M3Test, SubnormalsAndZero) {
  EXPECT_EQ(F8E4M3ToF32(0x01), 0x1p-9f);
  EXPECT_EQ(F8E4M3ToF32(0x07), 0x1.cp-7f);
  EXPECT_EQ(F8E4M3ToF32(0x08), 0x1p-6f);
  EXPECT_EQ(F32ToF8E4M3(0x1p-10f), 0x00);    // half the smallest subnormal: tie to zero
  EXPECT_EQ(F32ToF8E4M3(0x1.8p-9f), 0x02);   // 1.5 ulps: tie, odd rounds up
  EXPECT_EQ(F32ToF8E4M3(-0.0f), 0x80);
  EXPECT_EQ(F32ToF8E4M3(-0x1p-12f), 0x80);   // underflow keeps the sign
}

TEST(F8E5M2Test, OverflowAndSpecials) {
  EXPECT_EQ(F32ToF8E5M2(57344.0f), 0x7B);
  EXPECT_EQ(F32ToF8E5M2(std::nextafter(61440.0f, 0.0f)), 0x7B);
  EXPECT_EQ(F32ToF8E5M2(61440.0f), 0x7C);    // tie between 0x7B and Inf: even is Inf
  EXPECT_EQ(F32ToF8E5M2(-HUGE_VALF), 0xFC);
  EXPECT_EQ(F32ToF8E5M2(std::numeric_limits<float>::quiet_NaN()), 0x7F);
  EXPECT_EQ(F8E5M2ToF32(0x7C), HUGE_VALF);
  EXPECT_EQ(F8E5M2ToF32(0x01), 0x1p-16f);
}

TEST(F8FnuzTest, OverflowNaNAndNoNegativeZero) {
  EXPECT_EQ(F8E4M3FNUZToF32(0x7F), 240.0f);
  EXPECT_EQ(F32ToF8E4M3FNUZ(std::nextafter(248.0f, 0.0f)), 0x7F);
  EXPECT_EQ(F32ToF8E4M3FNUZ(248.0f), 0x80);  // tie rounds to 0x80, the NaN code
  EXPECT_EQ(F32ToF8E4M3FNUZ(-HUGE_VALF), 0x80);
  EXPECT_EQ(F32ToF8E4M3FNUZ(-0.0f), 0x00);
  EXPECT_EQ(F32ToF8E4M3FNUZ(-0x1p-12f), 0x00);
  EXPECT_EQ(F32ToF8E4M3FNUZ(-1.0f), 0xC0);
  EXPECT_EQ(F8E4M3FNUZToF32(0x01), 0x1p-10f);
  EXPECT_TRUE(std::isnan(F8E4M3FNUZToF32(0x80)));
  EXPECT_EQ(F8E5M2FNUZToF32(0x7F), 57344.0f);
  EXPECT_EQ(F32ToF8E5M2FNUZ(61440.0f), 0x80);
  EXPECT_EQ(F32ToF8E5M2FNUZ(-0.0f), 0x00);
  EXPECT_EQ(F8E5M2FNUZToF32(0x01), 0x1p-17f);
  EXPECT_TRUE(std::isnan(F8E5M2FNUZToF32(0x80)));
}

TEST(SubByteTest, SaturateAndNaN) {
  EXPECT_EQ(F32ToF4E2M1(5.0f), 0x6);          // tie between 4 (even) and 6
  EXPECT_EQ(F32ToF4E2M1(std::nextafter(5.0f, HUGE_VALF)), 0x7);
  EXPECT_EQ(F32ToF4E2M1(0.25f), 0x0);         // tie between 0 and 0.5
  EXPECT_EQ(F32ToF4E2M1(0.75f), 0x2);         // tie between 0.5 (odd) and 1
  EXPECT_EQ(F32ToF4E2M1(100.0f), 0x7);
  EXPECT_EQ(F32ToF4E2M1(-HUGE_VALF), 0xF);
  EXPECT_EQ(F32ToF4E2M1(std::numeric_limits<float>::quiet_NaN()), 0x0);
  EXPECT_EQ(F4E2M1ToF32(0xF7), 6.0f);          // high bits ignored
  EXPECT_EQ(F32ToF6E2M3(7.75f), 0x1F);
  EXPECT_EQ(F32ToF6E2M3(-1e9f), 0x3F);
  EXPECT_EQ(F6E2M3ToF32(0x01), 0.125f);
  EXPECT_EQ(F32ToF6E3M2(30.0f), 0x1F);
  EXPECT_EQ(F32ToF6E3M2(-HUGE_VALF), 0x3F);
  EXPECT_EQ(F6E3M2ToF32(0x01), 0.0625f);
  EXPECT_EQ(F32ToF6E3M2(std::numeric_limits<float>::quiet_NaN()), 0x00);
}

// ---- E8M0 --------------------------------------------------------------------------------

// PyTorch's fp8e8m0fnu_from_fp32_value stated on values instead of bits (see float_convert.cc):
// nearest power of two on a linear scale with 1.5 * 2^e rounding up, sign ignored, 0xFF for
// NaN/Inf and for results past 2^127, and its f32-subnormal rule.
uint8_t E8M0Reference(float x) {
  if (std::isnan(x) || std::isinf(x)) return 0xFF;
  const double a = std::fabs(static_cast<double>(x));
  if (a <= 0x1p-127) return 0x00;
  if (a < 0x1p-126) return 0x01;
  int e = 0;
  const double fraction = std::frexp(a, &e);  // a = fraction * 2^e, fraction in [0.5, 1)
  const int power = fraction >= 0.75 ? e : e - 1;
  const int code = power + 127;
  return code > 254 ? 0xFF : static_cast<uint8_t>(code);
}

TEST(F8E8M0Test, DecodesEveryCode) {
  for (int code = 0; code < 255; ++code) {
    EXPECT_EQ(static_cast<double>(F8E8M0ToF32(static_cast<uint8_t>(code))),
              std::ldexp(1.0, code - 127))
        << code;
  }
  EXPECT_EQ(Bits(F8E8M0ToF32(0x00)), 0x00400000u);  // 2^-127, an f32 subnormal
  EXPECT_TRUE(std::isnan(F8E8M0ToF32(0xFF)));
}

TEST(F8E8M0Test, EveryCodeRoundTrips) {
  for (int code = 0; code < 256; ++code) {
    EXPECT_EQ(F32ToF8E8M0(F8E8M0ToF32(static_cast<uint8_t>(code))), code) << code;
  }
}

TEST(F8E8M0Test, EncodesLikePyTorchRuleOnF32Sweep) {
  std::vector<float> probes = {0.0f, -0.0f, HUGE_VALF, -HUGE_VALF,
                               std::numeric_limits<float>::quiet_NaN(),
                               std::numeric_limits<float>::max(),
                               std::numeric_limits<float>::denorm_min()};
  for (int e = -149; e <= 127; ++e) {
    for (double m : {1.0, 1.25, 1.5, 1.75}) {
      const float v = static_cast<float>(std::ldexp(m, e));
      if (v == 0.0f) continue;
      for (float x : {v, std::nextafter(v, 0.0f), std::nextafter(v, HUGE_VALF)}) {
        probes.push_back(x);
        probes.push_back(-x);
      }
    }
  }
  for (float x : probes) {
    EXPECT_EQ(F32ToF8E8M0(x), E8M0Reference(x)) << x << " (0x" << std::hex << Bits(x) << ")";
  }
  ForEachF32Pattern(F32SweepStride(), [&](uint32_t bits) {
    const float x = FromBits(bits);
    EXPECT_EQ(F32ToF8E8M0(x), E8M0Reference(x)) << "0x" << std::hex << bits;
    return !::testing::Test::HasFailure();
  });
}

// Away from ties and below 2^127, the rule is plain nearest-on-a-linear-scale: check it by
// searching all 255 decoded scales.
TEST(F8E8M0Test, NormalNonTiesEncodeToNearestScale) {
  ForEachF32Pattern(4099, [&](uint32_t bits) {
    const float x = FromBits(bits);
    const double a = std::fabs(static_cast<double>(x));
    if (!std::isfinite(x) || a < 0x1p-126 || a >= 0x1.8p127) return true;
    int best = 0;
    double best_distance = HUGE_VAL;
    bool tie = false;
    for (int code = 0; code < 255; ++code) {
      const double d = std::fabs(a - F8E8M0ToF32(static_cast<uint8_t>(code)));
      tie = tie || d == best_distance;
      if (d < best_distance) { best = code; best_distance = d; tie = false; }
    }
    if (tie) return true;
    EXPECT_EQ(F32ToF8E8M0(x), best) << x;
    return !::testing::Test::HasFailure();
  });
}

TEST(F8E8M0Test, KnownValues) {
  EXPECT_EQ(F32ToF8E8M0(1.0f), 127);
  EXPECT_EQ(F32ToF8E8M0(1.4999999f), 127);
  EXPECT_EQ(F32ToF8E8M0(1.5f), 128);          // tie rounds up
  EXPECT_EQ(F32ToF8E8M0(-4.0f), 129);         // sign ignored
  EXPECT_EQ(F32ToF8E8M0(0.0f), 0);
  EXPECT_EQ(F32ToF8E8M0(0x1p127f), 254);
  EXPECT_EQ(F32ToF8E8M0(0x1.8p127f), 255);    // rounds past 2^127: NaN
  EXPECT_EQ(F32ToF8E8M0(0x1.4p-127f), 1);     // PyTorch's f32-subnormal rule
}

}  // namespace
}  // namespace quantc
