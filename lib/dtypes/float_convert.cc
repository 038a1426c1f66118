// Reference scalar conversions between F32 and the small float formats.
//
// Formats: IEEE 754-2019 binary16; bfloat16 (the top half of binary32); OCP 8-bit Floating Point
// v1.0 (E4M3 "fn", E5M2); the AMD/Graphcore "fnuz" variants (arXiv 2206.02915); OCP Microscaling
// v1.0 (E8M0 scales, FP6 E2M3/E3M2, FP4 E2M1). Rounding is round-to-nearest-even throughout, except
// E8M0, whose rule is PyTorch's (below).
//
// Special values follow PyTorch's c10 casts (c10/util/Float8_*.h, torch/headeronly/util/*.h), so a
// tensor we write has the bytes torch would write:
//   E4M3FN   x rounding past 448 (|x| > 464; 464 itself ties to even = 448), ±Inf, NaN -> S.1111.111
//   E5M2     overflow and ±Inf -> ±Inf; NaN -> S.11111.11
//   FNUZ     anything rounding past the largest finite value, ±Inf, NaN -> 0x80; -0 becomes +0
// Choices of our own:
//   F16/BF16 NaN keeps its sign and top payload bits and gets the quiet bit, so a quiet NaN survives
//            F16/BF16 -> F32 -> F16/BF16 unchanged (IEEE 754-2019 §6.2.3; also what x86 F16C
//            VCVTPS2PH and AVX512-BF16 VCVTNEPS2BF16 do, so SIMD paths can match bit for bit).
//   FP4/FP6  no NaN code exists and OCP MX v1.0 leaves NaN conversion implementation-defined; we
//            write +0 (ml_dtypes also yields a zero). Block-level NaN belongs in the E8M0 scale.
#include "lib/dtypes/float_convert.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

namespace quantc {
namespace {

constexpr uint32_t kF32AbsMask = 0x7FFFFFFFu;
constexpr uint32_t kF32InfBits = 0x7F800000u;  // abs bits above this are NaN
constexpr uint32_t kF32QuietNaN = 0x7FC00000u;

inline uint32_t Bits(float f) { return std::bit_cast<uint32_t>(f); }

// Rounds a non-negative f32 (its bits) to a binary format with kManBits stored mantissa bits and
// exponent bias kBias, round-to-nearest-even, with subnormals, and with no upper limit on the
// exponent: the result is the magnitude code (biased_exponent << kManBits | mantissa), which callers
// compare against their largest finite code to apply their overflow rule. Inf and NaN inputs give
// codes above every format's range. Branch-free apart from the min/max selects.
template <int kManBits, int kBias>
constexpr uint32_t RoundMagnitude(uint32_t abs_bits) {
  const uint32_t f32_exp = abs_bits >> 23;
  const uint32_t f32_man = abs_bits & 0x7FFFFFu;
  // Significand with its implicit bit; f32 subnormals have none and share the exponent of 2^-126.
  const uint32_t sig = f32_exp != 0 ? (f32_man | 0x800000u) : f32_man;
  const int target_exp = std::max(static_cast<int>(f32_exp), 1) - 127 + kBias;
  // Bits to drop: the surplus mantissa bits, plus (1 - target_exp) more when the result is
  // subnormal. Past 25 the result is 0 whatever the shift (sig < 2^24), so clamp to keep it legal.
  const int shift = std::min(23 - kManBits + std::max(0, 1 - target_exp), 25);
  // RNE by adding half minus one, plus the kept LSB (so exact halves round to even).
  const uint32_t rounded = (sig + ((sig >> shift) & 1u) + (1u << (shift - 1)) - 1u) >> shift;
  // `rounded` still holds the implicit bit at kManBits, which adds one to (target_exp - 1); a
  // rounding carry moves into the exponent the same way, and a subnormal may round up to the
  // smallest normal.
  return (static_cast<uint32_t>(std::max(target_exp - 1, 0)) << kManBits) + rounded;
}

// f32 bits of a magnitude code of a binary format (no sign; every code read as a finite number).
template <int kManBits, int kBias>
constexpr uint32_t DecodeMagnitudeBits(uint32_t mag) {
  int exp = static_cast<int>(mag >> kManBits);
  uint32_t man = mag & ((1u << kManBits) - 1u);
  if (exp == 0) {
    if (man == 0) return 0;
    // Subnormal: shift the leading one up to the implicit position, lowering the exponent.
    const int shift = std::countl_zero(man) - (31 - kManBits);
    man = (man << shift) & ((1u << kManBits) - 1u);
    exp = 1 - shift;
  }
  return static_cast<uint32_t>(exp + 127 - kBias) << 23 | man << (23 - kManBits);
}

enum class Specials { kIeee, kFn, kFnuz, kNone };

// Decode table of a small binary format with a sign bit above kExpBits + kManBits.
//   kIeee: top exponent is Inf (mantissa 0) or NaN (payload kept); kFn: S.1..1.1..1 is NaN;
//   kFnuz: 0x80 (negative zero) is NaN; kNone: every code is a number.
template <int kExpBits, int kManBits, int kBias, Specials kSpecials>
constexpr auto MakeDecodeTable() {
  constexpr int kBits = 1 + kExpBits + kManBits;
  constexpr uint32_t kMagMask = (1u << (kBits - 1)) - 1u;
  std::array<float, (1 << kBits)> table{};
  for (uint32_t code = 0; code < table.size(); ++code) {
    const uint32_t mag = code & kMagMask;
    const uint32_t sign = (code >> (kBits - 1)) << 31;
    uint32_t bits = sign | DecodeMagnitudeBits<kManBits, kBias>(mag);
    const uint32_t top_exp = (1u << kExpBits) - 1u;
    if (kSpecials == Specials::kIeee && (mag >> kManBits) == top_exp) {
      bits = sign | kF32InfBits | (mag & ((1u << kManBits) - 1u)) << (23 - kManBits);
    } else if (kSpecials == Specials::kFn && mag == kMagMask) {
      bits = sign | kF32QuietNaN;
    } else if (kSpecials == Specials::kFnuz && code == (1u << (kBits - 1))) {
      bits = kF32QuietNaN;
    }
    table[code] = std::bit_cast<float>(bits);
  }
  return table;
}

constexpr auto kE4M3Table = MakeDecodeTable<4, 3, 7, Specials::kFn>();
constexpr auto kE5M2Table = MakeDecodeTable<5, 2, 15, Specials::kIeee>();
constexpr auto kE4M3FnuzTable = MakeDecodeTable<4, 3, 8, Specials::kFnuz>();
constexpr auto kE5M2FnuzTable = MakeDecodeTable<5, 2, 16, Specials::kFnuz>();
constexpr auto kF4E2M1Table = MakeDecodeTable<2, 1, 1, Specials::kNone>();
constexpr auto kF6E2M3Table = MakeDecodeTable<2, 3, 1, Specials::kNone>();
constexpr auto kF6E3M2Table = MakeDecodeTable<3, 2, 3, Specials::kNone>();

static_assert(kE4M3Table[0x7E] == 448.0f && kE4M3Table[0x01] == 0x1p-9f);
static_assert(kE5M2Table[0x7B] == 57344.0f && kE5M2Table[0x01] == 0x1p-16f);
static_assert(kE4M3FnuzTable[0x7F] == 240.0f && kE5M2FnuzTable[0x7F] == 57344.0f);
static_assert(kF4E2M1Table[0x7] == 6.0f && kF4E2M1Table[0x1] == 0.5f);
static_assert(kF6E2M3Table[0x1F] == 7.5f && kF6E3M2Table[0x1F] == 28.0f);

// Applies the sign of `bits` (an f32) to a magnitude code whose sign bit sits at `sign_bit`.
inline uint32_t SignAt(uint32_t bits, int sign_bit) { return (bits >> 31) << sign_bit; }

}  // namespace

// ---- 16-bit ------------------------------------------------------------------------------

float BF16ToF32(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

uint16_t F32ToBF16(float value) {
  const uint32_t bits = Bits(value);
  // RNE on the low 16 bits; a carry out of the mantissa bumps the exponent, up to Inf.
  const uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
  const uint32_t nan = (bits >> 16) | 0x0040u;  // quiet bit set, sign and top payload kept
  return static_cast<uint16_t>((bits & kF32AbsMask) > kF32InfBits ? nan : rounded);
}

float F16ToF32(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t mag = bits & 0x7FFFu;
  // Normal: rebias the exponent (15 -> 127); Inf/NaN: exponent 31 -> 255, payload kept.
  const uint32_t rebias = mag >= 0x7C00u ? (255u - 31u) << 23 : (127u - 15u) << 23;
  const uint32_t normal = (mag << 13) + rebias;
  // Subnormal: mag * 2^-24 is exact, and a normal f32, so flush-to-zero modes cannot touch it.
  const uint32_t subnormal = Bits(static_cast<float>(mag) * 0x1p-24f);
  return std::bit_cast<float>(sign | (mag < 0x0400u ? subnormal : normal));
}

uint16_t F32ToF16(float value) {
  const uint32_t bits = Bits(value);
  const uint32_t abs = bits & kF32AbsMask;
  const uint32_t finite = std::min(RoundMagnitude<10, 15>(abs), 0x7C00u);  // overflow, Inf -> Inf
  const uint32_t nan = 0x7E00u | ((abs >> 13) & 0x3FFu);  // quiet bit set, top payload kept
  return static_cast<uint16_t>(SignAt(bits, 15) | (abs > kF32InfBits ? nan : finite));
}

// ---- 8-bit -------------------------------------------------------------------------------

float F8E4M3ToF32(uint8_t bits) { return kE4M3Table[bits]; }

uint8_t F32ToF8E4M3(float value) {
  const uint32_t bits = Bits(value);
  // 0x7F is the NaN code, so every code that rounds to it or past it (x > 464, Inf, NaN) is NaN:
  // PyTorch's fp8e4m3fn_from_fp32_value. The sign stays, as there (-NaN is 0xFF).
  return static_cast<uint8_t>(SignAt(bits, 7) |
                              std::min(RoundMagnitude<3, 7>(bits & kF32AbsMask), 0x7Fu));
}

uint8_t F32ToF8E4M3Saturating(float value) {
  const uint32_t bits = Bits(value);
  const uint32_t abs = bits & kF32AbsMask;
  const uint32_t mag = abs > kF32InfBits ? 0x7Fu : std::min(RoundMagnitude<3, 7>(abs), 0x7Eu);
  return static_cast<uint8_t>(SignAt(bits, 7) | mag);
}

float F8E5M2ToF32(uint8_t bits) { return kE5M2Table[bits]; }

uint8_t F32ToF8E5M2(float value) {
  const uint32_t bits = Bits(value);
  const uint32_t abs = bits & kF32AbsMask;
  // Like PyTorch's fp8e5m2_from_fp32_value: every NaN becomes S.11111.11.
  const uint32_t mag = abs > kF32InfBits ? 0x7Fu : std::min(RoundMagnitude<2, 15>(abs), 0x7Cu);
  return static_cast<uint8_t>(SignAt(bits, 7) | mag);
}

// E8M0 has no mantissa: code b means 2^(b - 127). Code 0 is 2^-127, an f32 subnormal.
float F8E8M0ToF32(uint8_t bits) {
  if (bits == 0xFF) return std::bit_cast<float>(kF32QuietNaN);
  if (bits == 0) return std::bit_cast<float>(0x00400000u);
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 23);
}

// PyTorch's fp8e8m0fnu_from_fp32_value (torch/headeronly/util/Float8_e8m0fnu.h), bit for bit:
//  - the sign is ignored (-x encodes as x); f32 Inf and NaN become 0xFF (NaN);
//  - the result is the f32 biased exponent, plus one when the mantissa is more than half
//    (x > 1.5 * 2^e), or exactly half for a normal x (1.5 * 2^e rounds up: the implicit bit is
//    treated as the odd LSB); so rounding is to nearest on a linear scale, ties upward;
//  - 2^127 * (1.5 or more) rounds up into 0xFF, i.e. NaN;
//  - zero and everything up to 2^-127 give code 0 (2^-127); f32 subnormals strictly between
//    2^-127 and 2^-126 give code 1 (2^-126), even those nearer 2^-127 (the guard bit of a
//    subnormal is its leading bit). Only scales below 2^-126 see this.
uint8_t F32ToF8E8M0(float value) {
  const uint32_t bits = Bits(value);
  const uint32_t exp = (bits >> 23) & 0xFFu;
  if (exp == 0xFFu) return 0xFF;
  const uint32_t man = bits & 0x7FFFFFu;
  const bool guard = (man & 0x400000u) != 0;
  const bool below_guard = (man & 0x3FFFFFu) != 0;
  const bool lsb = exp != 0;
  return static_cast<uint8_t>(exp + ((guard && (below_guard || lsb)) ? 1u : 0u));
}

namespace {
// PyTorch's fp8e4m3fnuz/fp8e5m2fnuz_from_fp32_value: codes rounding to 0x80 or past it (|x| >= 248
// resp. 61440, Inf, NaN) are NaN, and a zero result is +0 because 0x80 is not -0 in FNUZ formats.
template <int kManBits, int kBias>
uint8_t EncodeFnuz(float value) {
  const uint32_t bits = Bits(value);
  const uint32_t mag = RoundMagnitude<kManBits, kBias>(bits & kF32AbsMask);
  if (mag >= 0x80u) return 0x80;
  return static_cast<uint8_t>(mag == 0 ? 0u : (SignAt(bits, 7) | mag));
}
}  // namespace

float F8E4M3FNUZToF32(uint8_t bits) { return kE4M3FnuzTable[bits]; }
uint8_t F32ToF8E4M3FNUZ(float value) { return EncodeFnuz<3, 8>(value); }

float F8E5M2FNUZToF32(uint8_t bits) { return kE5M2FnuzTable[bits]; }
uint8_t F32ToF8E5M2FNUZ(float value) { return EncodeFnuz<2, 16>(value); }

// ---- sub-byte ----------------------------------------------------------------------------
// OCP MX v1.0 (FP6/FP4 element types): conversions saturate (overflow and ±Inf give ±max); NaN is
// implementation-defined and we give +0. Decoders read only the low 4/6 bits of `code`.

namespace {
// An OCP MX element of 1 + kBits-1 bits: RNE, saturating at the largest magnitude, NaN -> +0.
template <int kManBits, int kBias, int kBits>
uint8_t EncodeMxElement(float value) {
  constexpr uint32_t kMaxMagnitude = (1u << (kBits - 1)) - 1;
  const uint32_t bits = Bits(value);
  const uint32_t abs = bits & kF32AbsMask;
  if (abs > kF32InfBits) return 0;
  return static_cast<uint8_t>(SignAt(bits, kBits - 1) |
                              std::min(RoundMagnitude<kManBits, kBias>(abs), kMaxMagnitude));
}
}  // namespace

float F4E2M1ToF32(uint8_t code) { return kF4E2M1Table[code & 0xFu]; }
uint8_t F32ToF4E2M1(float value) { return EncodeMxElement<1, 1, 4>(value); }

float F6E2M3ToF32(uint8_t code) { return kF6E2M3Table[code & 0x3Fu]; }
uint8_t F32ToF6E2M3(float value) { return EncodeMxElement<3, 1, 6>(value); }

float F6E3M2ToF32(uint8_t code) { return kF6E3M2Table[code & 0x3Fu]; }
uint8_t F32ToF6E3M2(float value) { return EncodeMxElement<2, 3, 6>(value); }

}  // namespace quantc
