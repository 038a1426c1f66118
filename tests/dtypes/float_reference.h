// Slow, independent references for the conversions in lib/dtypes/float_convert.h.
//
// Nothing here shares code or bit tricks with the implementation:
//  - DecodeReference reads a code the way the format definitions write it: split the code into
//    sign, exponent and mantissa fields with integer arithmetic, then value = ±ldexp(significand,
//    exponent) in double, with each format's special codes listed explicitly.
//  - NearestEncoder rounds by search: it decodes every finite code with DecodeReference, sorts the
//    magnitudes, finds the two neighbours of |x| and picks the nearer one, comparing against their
//    exact midpoint; a tie goes to the even code. Overflow is a search result too: each format
//    lists the value its next code would have if the exponent range went on (480 for E4M3FN), and
//    rounding to or past it is overflow, which the format's rule then turns into Inf, NaN or max.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <limits>
#include <string_view>
#include <utility>
#include <vector>

namespace quantc::testing {

enum class Specials {
  kIeee,      // top exponent: mantissa 0 is ±Inf, anything else NaN (F16, BF16, E5M2)
  kFn,        // only S.1...1.1...1 is NaN, no Inf (E4M3FN)
  kFnuz,      // only 1.0...0.0...0 (negative zero) is NaN, no Inf (FNUZ)
  kNone,      // every code is a number (OCP MX FP6/FP4)
};
enum class Overflow { kInf, kNaN, kSaturate };
enum class NanRule {
  kQuietKeepPayload,  // sign and top payload bits kept, quiet bit set (our F16/BF16 rule)
  kFixedKeepSign,     // sign | nan_code (PyTorch's E4M3FN/E5M2)
  kFixed,             // nan_code (FNUZ)
  kZero,              // +0 (our FP4/FP6 choice)
};

struct FormatSpec {
  std::string_view name;
  int exp_bits;
  int man_bits;
  int bias;
  Specials specials;
  // Value of the code after the largest finite one, were the exponent range unbounded; rounding
  // to it or beyond is overflow. Unused (0) for saturating formats.
  double overflow_point;
  Overflow overflow;
  NanRule nan_rule;
  uint32_t nan_code;  // for kFixed*, the NaN magnitude code

  int bits() const { return 1 + exp_bits + man_bits; }
  uint32_t sign_bit() const { return 1u << (exp_bits + man_bits); }
  uint32_t num_codes() const { return 1u << bits(); }
  uint32_t inf_code() const { return ((1u << exp_bits) - 1) << man_bits; }
  uint32_t max_finite_code() const {
    switch (specials) {
      case Specials::kIeee: return inf_code() - 1;
      case Specials::kFn: return sign_bit() - 2;
      case Specials::kFnuz:
      case Specials::kNone: return sign_bit() - 1;
    }
    return 0;
  }
};

// value = (-1)^s * 2^(1 - bias) * (0 + m / 2^M) for exponent field 0, else
// (-1)^s * 2^(e - bias) * (1 + m / 2^M); written as ldexp of an integer significand.
inline double DecodeReference(const FormatSpec& f, uint32_t code) {
  const uint32_t mantissa_count = 1u << f.man_bits;
  const uint32_t exponent_count = 1u << f.exp_bits;
  const uint32_t mantissa = code % mantissa_count;
  const uint32_t exponent = (code / mantissa_count) % exponent_count;
  const bool negative = (code / mantissa_count / exponent_count) % 2 == 1;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  switch (f.specials) {
    case Specials::kIeee:
      if (exponent == exponent_count - 1) {
        if (mantissa != 0) return nan;
        return negative ? -HUGE_VAL : HUGE_VAL;
      }
      break;
    case Specials::kFn:
      if (exponent == exponent_count - 1 && mantissa == mantissa_count - 1) return nan;
      break;
    case Specials::kFnuz:
      if (negative && exponent == 0 && mantissa == 0) return nan;
      break;
    case Specials::kNone:
      break;
  }
  const double magnitude =
      exponent == 0
          ? std::ldexp(static_cast<double>(mantissa), 1 - f.bias - f.man_bits)
          : std::ldexp(static_cast<double>(mantissa_count + mantissa),
                       static_cast<int>(exponent) - f.bias - f.man_bits);
  return negative ? -magnitude : magnitude;
}

struct Magnitude {
  double value;
  uint32_t code;
};

// Round-to-nearest-even by searching the decoded table (see the file comment).
class NearestEncoder {
 public:
  explicit NearestEncoder(const FormatSpec& f) : f_(f) {
    for (uint32_t code = 0; code <= f.max_finite_code(); ++code) {
      table_.push_back({DecodeReference(f, code), code});
    }
    std::sort(table_.begin(), table_.end(),
              [](const Magnitude& a, const Magnitude& b) { return a.value < b.value; });
    if (f.overflow != Overflow::kSaturate) {
      overflow_code_ = f.max_finite_code() + 1;
      table_.push_back({f.overflow_point, overflow_code_});
    }
  }

  // The finite magnitudes, ascending, then the overflow point unless the format saturates.
  const std::vector<Magnitude>& table() const { return table_; }

  // Magnitude code nearest to a >= 0 (a may be +Inf); a code > max_finite_code() means overflow.
  uint32_t RoundMagnitude(double a) const {
    if (a >= table_.back().value) return table_.back().code;
    const auto hi = std::lower_bound(
        table_.begin(), table_.end(), a,
        [](const Magnitude& m, double v) { return m.value < v; });
    if (hi->value == a) return hi->code;
    const auto lo = hi - 1;
    // Neighbours have at most 24 significant bits and close exponents: the midpoint is exact.
    const double mid = (lo->value + hi->value) / 2;
    if (a < mid) return lo->code;
    if (a > mid) return hi->code;
    return lo->code % 2 == 0 ? lo->code : hi->code;
  }

  // The full reference encoding of an f32, with the format's sign, overflow and NaN rules.
  uint32_t Encode(float x) const {
    const uint32_t bits = std::bit_cast<uint32_t>(x);
    const uint32_t sign = std::signbit(x) ? f_.sign_bit() : 0;
    if (std::isnan(x)) {
      switch (f_.nan_rule) {
        case NanRule::kQuietKeepPayload: {
          const uint32_t payload = (bits & 0x7FFFFFu) >> (23 - f_.man_bits);
          return sign | f_.inf_code() | (1u << (f_.man_bits - 1)) | payload;
        }
        case NanRule::kFixedKeepSign: return sign | f_.nan_code;
        case NanRule::kFixed: return f_.nan_code;
        case NanRule::kZero: return 0;
      }
    }
    const uint32_t mag = RoundMagnitude(std::fabs(static_cast<double>(x)));
    if (mag > f_.max_finite_code()) {
      switch (f_.overflow) {
        case Overflow::kInf: return sign | f_.inf_code();
        case Overflow::kNaN:
          return f_.nan_rule == NanRule::kFixed ? f_.nan_code : (sign | f_.nan_code);
        case Overflow::kSaturate: break;  // unreachable: no overflow point
      }
    }
    if (mag == 0 && f_.specials == Specials::kFnuz) return 0;  // no negative zero
    return sign | mag;
  }

 private:
  FormatSpec f_;
  std::vector<Magnitude> table_;
  uint32_t overflow_code_ = 0;
};

// Inputs that probe rounding: every finite magnitude, every midpoint between neighbours (and to
// the overflow point), the floats just below and above each, a few far-out and special values;
// each with both signs.
inline std::vector<float> RoundingProbes(const NearestEncoder& enc) {
  std::vector<float> probes;
  const std::vector<Magnitude>& t = enc.table();
  auto add_with_neighbours = [&](float v) {
    probes.push_back(v);
    probes.push_back(std::nextafter(v, 0.0f));
    probes.push_back(std::nextafter(v, HUGE_VALF));
  };
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i].value <= std::numeric_limits<float>::max()) {
      add_with_neighbours(static_cast<float>(t[i].value));
    }
    if (i + 1 < t.size()) {
      const double mid = (t[i].value + t[i + 1].value) / 2;
      if (mid <= std::numeric_limits<float>::max()) {
        add_with_neighbours(static_cast<float>(mid));
      }
    }
  }
  const double top = t.back().value;
  for (double v : {top * 1.0625, top * 1.5, top * 2, top * 1024, t[1].value / 2, t[1].value / 4}) {
    if (v <= std::numeric_limits<float>::max()) add_with_neighbours(static_cast<float>(v));
  }
  for (float v : {0.0f, HUGE_VALF, std::numeric_limits<float>::max(),
                  std::numeric_limits<float>::min(), std::numeric_limits<float>::denorm_min(),
                  std::bit_cast<float>(0x007FFFFFu)}) {
    probes.push_back(v);
  }
  const size_t n = probes.size();
  for (size_t i = 0; i < n; ++i) probes.push_back(-probes[i]);
  return probes;
}

// f32 bit patterns 0, stride, 2*stride, ... below 2^32: a sweep over every exponent, both signs,
// subnormals, Inf and NaNs, without the cost of all 2^32.
inline uint32_t Bits(float f) { return std::bit_cast<uint32_t>(f); }
inline float FromBits(uint32_t b) { return std::bit_cast<float>(b); }

// The F32 bit patterns a sweep visits: every 4099th in the CI tier, every one of the 2^32 when
// QUANTC_EXHAUSTIVE=1 (tools/check-all).
inline uint32_t F32SweepStride() {
  const char* env = std::getenv("QUANTC_EXHAUSTIVE");
  return env != nullptr && std::string_view(env) == "1" ? 1 : 4099;
}
// Calls fn(bits) for each pattern of the sweep; stops at the first false.
template <typename Fn>
void ForEachF32Pattern(uint32_t stride, Fn&& fn) {
  for (uint64_t bits = 0; bits <= 0xFFFFFFFFu; bits += stride) {
    if (!fn(static_cast<uint32_t>(bits))) return;
  }
}

}  // namespace quantc::testing
