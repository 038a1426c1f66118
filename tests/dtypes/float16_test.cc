// BF16 and F16 <-> F32: every one of the 2^16 codes decoded against the ldexp formula, and encoding
// checked against the table-search reference (float_reference.h) on every code, every midpoint
// between neighbours (ties to even), the floats either side of each, NaN payloads, Inf, the
// overflow boundary, f32 subnormals, and a strided sweep over f32 bit patterns.
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

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

constexpr FormatSpec kBF16Spec = {"BF16", 8, 7, 127, Specials::kIeee, 0x1p128,
                                  Overflow::kInf, NanRule::kQuietKeepPayload, 0};
constexpr FormatSpec kF16Spec = {"F16", 5, 10, 15, Specials::kIeee, 65536.0,
                                 Overflow::kInf, NanRule::kQuietKeepPayload, 0};


struct Half {
  const FormatSpec& spec;
  float (*decode)(uint16_t);
  uint16_t (*encode)(float);
};

class HalfTest : public ::testing::TestWithParam<Half> {};

// Decoding is exact: numbers equal the ldexp formula; NaNs keep sign and payload bit for bit.
TEST_P(HalfTest, DecodesEveryCode) {
  const Half& h = GetParam();
  const int man_bits = h.spec.man_bits;
  for (uint32_t code = 0; code < 0x10000u; ++code) {
    const float got = h.decode(static_cast<uint16_t>(code));
    const double want = DecodeReference(h.spec, code);
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(got)) << h.spec.name << " code 0x" << std::hex << code;
      const uint32_t payload = code & ((1u << man_bits) - 1);
      EXPECT_EQ(Bits(got), ((code >> 15) << 31) | 0x7F800000u | payload << (23 - man_bits))
          << h.spec.name << " code 0x" << std::hex << code;
    } else {
      ASSERT_EQ(static_cast<double>(got), want) << h.spec.name << " code 0x" << std::hex << code;
      ASSERT_EQ(std::signbit(got), std::signbit(want)) << h.spec.name << " code 0x" << std::hex << code;
    }
  }
}

// Every number code comes back unchanged; quiet NaNs come back unchanged (IEEE 754 §6.2.3), and
// signalling NaNs come back with the quiet bit set and the rest of the payload kept.
TEST_P(HalfTest, EveryCodeRoundTrips) {
  const Half& h = GetParam();
  const uint32_t quiet_bit = 1u << (h.spec.man_bits - 1);
  for (uint32_t code = 0; code < 0x10000u; ++code) {
    const uint16_t back = h.encode(h.decode(static_cast<uint16_t>(code)));
    const bool is_nan = std::isnan(DecodeReference(h.spec, code));
    EXPECT_EQ(back, is_nan ? (code | quiet_bit) : code)
        << h.spec.name << " code 0x" << std::hex << code;
  }
}

// Midpoints between adjacent codes (ties: must go to the even code), the floats either side of
// each, and far-out values, against the search reference.
TEST_P(HalfTest, EncodesMidpointsAndNeighboursLikeReference) {
  const Half& h = GetParam();
  const NearestEncoder ref(h.spec);
  int ties = 0;
  for (size_t i = 0; i + 1 < ref.table().size(); ++i) {
    const double mid = (ref.table()[i].value + ref.table()[i + 1].value) / 2;
    const float midf = static_cast<float>(mid);
    ASSERT_EQ(static_cast<double>(midf), mid) << "midpoint not exact in f32";
    const uint16_t got = h.encode(midf);
    ASSERT_EQ(got, ref.Encode(midf)) << h.spec.name << " tie at " << mid;
    ASSERT_EQ(got % 2, 0) << h.spec.name << " tie at " << mid << " went to an odd code";
    ++ties;
  }
  EXPECT_EQ(ties, h.spec.inf_code());  // each finite code and the step to Inf
  for (float x : RoundingProbes(ref)) {
    ASSERT_EQ(h.encode(x), ref.Encode(x))
        << h.spec.name << " x=" << x << " (0x" << std::hex << Bits(x) << ")";
  }
}

TEST_P(HalfTest, EncodesF32SubnormalsLikeReference) {
  const Half& h = GetParam();
  const NearestEncoder ref(h.spec);
  for (uint32_t bits = 0; bits < 0x00800000u; bits += 127) {
    for (uint32_t sign : {0u, 0x80000000u}) {
      const float x = FromBits(sign | bits);
      ASSERT_EQ(h.encode(x), ref.Encode(x)) << h.spec.name << " 0x" << std::hex << (sign | bits);
    }
  }
}

TEST_P(HalfTest, EncodesF32SweepLikeReference) {
  const Half& h = GetParam();
  const NearestEncoder ref(h.spec);
  ForEachF32Pattern(F32SweepStride(), [&](uint32_t bits) {
    const float x = FromBits(bits);
    EXPECT_EQ(h.encode(x), ref.Encode(x)) << h.spec.name << " 0x" << std::hex << bits;
    return !::testing::Test::HasFailure();
  });
}

INSTANTIATE_TEST_SUITE_P(All, HalfTest,
                         ::testing::Values(Half{kBF16Spec, BF16ToF32, F32ToBF16},
                                           Half{kF16Spec, F16ToF32, F32ToF16}),
                         [](const ::testing::TestParamInfo<Half>& info) {
                           return std::string(info.param.spec.name);
                         });

// The same facts spelled out, for a reader who does not want to trust the reference.

TEST(BF16Test, KnownValues) {
  EXPECT_EQ(F32ToBF16(1.0f), 0x3F80);
  EXPECT_EQ(F32ToBF16(-2.0f), 0xC000);
  EXPECT_EQ(F32ToBF16(FromBits(0x3F808000u)), 0x3F80);  // tie, even stays
  EXPECT_EQ(F32ToBF16(FromBits(0x3F818000u)), 0x3F82);  // tie, odd rounds up
  EXPECT_EQ(F32ToBF16(FromBits(0x3F808001u)), 0x3F81);  // just above a tie
  EXPECT_EQ(F32ToBF16(FromBits(0x3F817FFFu)), 0x3F81);  // just below a tie
  EXPECT_EQ(BF16ToF32(0x0001), 0x1p-133f);              // smallest subnormal
}

TEST(BF16Test, OverflowAndInfinity) {
  EXPECT_EQ(F32ToBF16(FromBits(0x7F7F7FFFu)), 0x7F7F);  // below the max/Inf midpoint
  EXPECT_EQ(F32ToBF16(FromBits(0x7F7F8000u)), 0x7F80);  // the midpoint: tie to even is Inf
  EXPECT_EQ(F32ToBF16(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_EQ(F32ToBF16(HUGE_VALF), 0x7F80);
  EXPECT_EQ(F32ToBF16(-HUGE_VALF), 0xFF80);
}

TEST(BF16Test, NaNPayloads) {
  EXPECT_EQ(F32ToBF16(FromBits(0x7FC00000u)), 0x7FC0);
  EXPECT_EQ(F32ToBF16(FromBits(0xFFC00000u)), 0xFFC0);
  EXPECT_EQ(F32ToBF16(FromBits(0x7F800001u)), 0x7FC0);  // payload only in dropped bits
  EXPECT_EQ(F32ToBF16(FromBits(0x7FA10000u)), 0x7FE1);  // signalling: quieted, payload kept
  EXPECT_EQ(F32ToBF16(FromBits(0x7FFFFFFFu)), 0x7FFF);  // must not round into the sign bit
  EXPECT_EQ(F32ToBF16(FromBits(0xFFFFFFFFu)), 0xFFFF);
}

TEST(BF16Test, F32Subnormals) {
  EXPECT_EQ(F32ToBF16(FromBits(0x00008000u)), 0x0000);  // tie between 0 and 0x0001
  EXPECT_EQ(F32ToBF16(FromBits(0x00008001u)), 0x0001);
  EXPECT_EQ(F32ToBF16(FromBits(0x00018000u)), 0x0002);  // tie, odd rounds up
  EXPECT_EQ(F32ToBF16(FromBits(0x807FFFFFu)), 0x8080);  // rounds up to -min normal
}

TEST(F16Test, KnownValues) {
  EXPECT_EQ(F32ToF16(1.0f), 0x3C00);
  EXPECT_EQ(F32ToF16(-2.5f), 0xC100);
  EXPECT_EQ(F32ToF16(0x1p-24f), 0x0001);        // smallest subnormal
  EXPECT_EQ(F32ToF16(0x1p-25f), 0x0000);        // half of it: tie to even zero
  EXPECT_EQ(F32ToF16(0x1.8p-24f), 0x0002);      // 1.5 subnormal ulps: tie, odd rounds up
  EXPECT_EQ(F32ToF16(std::nextafter(0x1p-25f, 1.0f)), 0x0001);
  EXPECT_EQ(F32ToF16(0x1.ffcp-15f), 0x0400);    // largest subnormal + half ulp: tie to min normal
  EXPECT_EQ(F32ToF16(-0.0f), 0x8000);
  EXPECT_EQ(F16ToF32(0x03FF), 0x1.ff8p-15f);    // largest subnormal
  EXPECT_EQ(F16ToF32(0x7BFF), 65504.0f);
}

TEST(F16Test, OverflowAndInfinity) {
  EXPECT_EQ(F32ToF16(65504.0f), 0x7BFF);
  EXPECT_EQ(F32ToF16(std::nextafter(65520.0f, 0.0f)), 0x7BFF);
  EXPECT_EQ(F32ToF16(65520.0f), 0x7C00);  // the max/Inf midpoint: tie to even is Inf
  EXPECT_EQ(F32ToF16(-65520.0f), 0xFC00);
  EXPECT_EQ(F32ToF16(std::numeric_limits<float>::max()), 0x7C00);
  EXPECT_EQ(F32ToF16(HUGE_VALF), 0x7C00);
  EXPECT_EQ(F32ToF16(-HUGE_VALF), 0xFC00);
  EXPECT_EQ(F16ToF32(0x7C00), HUGE_VALF);
}

TEST(F16Test, NaNPayloads) {
  EXPECT_EQ(F32ToF16(FromBits(0x7FC00000u)), 0x7E00);
  EXPECT_EQ(F32ToF16(FromBits(0xFFC00000u)), 0xFE00);
  EXPECT_EQ(F32ToF16(FromBits(0x7F800001u)), 0x7E00);  // payload only in dropped bits
  EXPECT_EQ(F32ToF16(FromBits(0x7FA00000u)), 0x7F00);  // signalling: quieted, payload kept
  EXPECT_EQ(F32ToF16(FromBits(0x7FFFFFFFu)), 0x7FFF);
  EXPECT_EQ(Bits(F16ToF32(0x7D01)), 0x7FA02000u);      // decoding keeps a signalling payload
}

TEST(F16Test, F32SubnormalsFlushToSignedZero) {
  EXPECT_EQ(F32ToF16(FromBits(0x00000001u)), 0x0000);
  EXPECT_EQ(F32ToF16(FromBits(0x007FFFFFu)), 0x0000);
  EXPECT_EQ(F32ToF16(FromBits(0x807FFFFFu)), 0x8000);
}

}  // namespace
}  // namespace quantc
