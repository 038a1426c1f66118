// Scalar reference of the FP4 kernels (fp4.h): scale rules, row quantize and dequantize. Sources:
// DeepSeek V4 inference/kernel.py fp4_quant (spec §6.4), OCP MX v1.0's scale selection (§7.1),
// ModelOpt's NVFP4 export rules (§7.3).
#include "lib/kernels/fp4/fp4.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>

#include "lib/support/strings.h"

namespace quantc::kernels::fp4 {
namespace {

constexpr int kE8M0MaxFinite = 254;  // 0xFF is NaN
constexpr int kE4M3Max = 0x7E;       // 448; E4M3 bytes 0x01..0x7E are the positive values, increasing
constexpr uint8_t kE4M3One = 0x38;   // 1.0: ModelOpt's replacement for a zero scale
constexpr int kNvStepsBelow = 4;     // kMse's E4M3 candidates below min(ceil, reference)
constexpr int kNvStepsAbove = 4;     // ... and above max(ceil, reference), while the top code is used
constexpr uint8_t kE2M1Six = 0x7;    // the magnitude bits of ±6

float Amax(const float* x, int64_t n) {
  float a = 0.0f;
  for (int64_t i = 0; i < n; ++i) a = std::max(a, std::fabs(x[i]));
  return a;
}

uint8_t MxByte(int exponent) { return static_cast<uint8_t>(std::clamp(exponent + 127, 0, kE8M0MaxFinite)); }

// OCP MX v1.0: floor(log2(amax)) − 2. With amax = m·2^e, m in [0.5, 1), floor(log2(amax)) = e − 1.
uint8_t MxReference(float amax) {
  if (!(amax > 0.0f)) return 0;
  int e = 0;
  std::frexp(amax, &e);
  return MxByte(e - 1 - 2);
}

// DeepSeek V4: the smallest k with 6·2^k >= a, a = max(amax, 6·2^−126). With a = m·2^e, m in
// [0.5, 1): 6·2^(e−3) = 0.75·2^e holds a iff m <= 0.75, else 6·2^(e−2) = 1.5·2^e does, and
// 6·2^(e−4) = 0.375·2^e never does.
uint8_t MxCeil(float amax) {
  int e = 0;
  const float m = std::frexp(std::max(amax, 0x1.8p-124f), &e);
  return MxByte(m <= 0.75f ? e - 3 : e - 2);
}

// ModelOpt: e4m3_rne(amax / (6·g)), saturating; a zero scale becomes 1.0.
uint8_t NvReference(float amax, float g) {
  const uint8_t s = F32ToF8E4M3Saturating(amax / (6.0f * g));
  return s == 0 ? kE4M3One : s;
}

// The smallest positive E4M3 scale whose group holds amax, in the FP32 arithmetic of the
// dequantizer (amax <= 6 × GroupScale), starting from the nearest one; capped at 448.
uint8_t NvCeil(float amax, float g) {
  if (!(amax > 0.0f)) return kE4M3One;
  auto holds = [&](int s) { return amax <= 6.0f * GroupScale(Fp4Format::kNv, static_cast<uint8_t>(s), g); };
  int s = std::clamp<int>(F32ToF8E4M3Saturating(amax / (6.0f * g)), 1, kE4M3Max);
  while (s < kE4M3Max && !holds(s)) ++s;
  while (s > 1 && holds(s - 1)) --s;
  return static_cast<uint8_t>(s);
}

// sum importance[i]·(x[i] − dequant)², in double, with the dequantizer's FP32 products.
double GroupError(const float* x, int64_t n, float scale, const float* importance) {
  double err = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - static_cast<double>(F4E2M1ToF32(NearestCode(x[i], scale)) * scale);
    err += (importance != nullptr ? static_cast<double>(importance[i]) : 1.0) * d * d;
  }
  return err;
}

uint8_t FitMse(Fp4Format f, const float* x, int64_t n, float g, const float* importance, float amax) {
  const bool mx = f == Fp4Format::kMx;
  const uint8_t ceil = mx ? MxCeil(amax) : NvCeil(amax, g);
  if (!(amax > 0.0f)) return ceil;
  const uint8_t ref = mx ? MxReference(amax) : NvReference(amax, g);
  uint8_t best = ceil;
  double best_err = GroupError(x, n, GroupScale(f, ceil, g), importance);
  // Bytes increase with the scale in both formats, so "ties to the larger scale" is the larger byte.
  auto consider = [&](int b) {
    const double err = GroupError(x, n, GroupScale(f, static_cast<uint8_t>(b), g), importance);
    if (err < best_err || (err == best_err && b > best)) best = static_cast<uint8_t>(b), best_err = err;
  };
  const int lo = std::min(ceil, ref), hi = std::max(ceil, ref);
  if (mx) {
    for (int b = std::max(lo - 1, 0); b <= std::min(hi + 1, kE8M0MaxFinite); ++b) consider(b);
    return best;
  }
  for (int b = std::max(lo - kNvStepsBelow, 1); b <= hi; ++b) consider(b);
  for (int b = hi + 1; b <= std::min(hi + kNvStepsAbove, kE4M3Max); ++b) {
    if ((NearestCode(amax, GroupScale(f, static_cast<uint8_t>(b), g)) & kE2M1Six) != kE2M1Six) break;
    consider(b);
  }
  return best;
}

}  // namespace

std::string_view Name(Fp4Format f) { return f == Fp4Format::kMx ? "mxfp4" : "nvfp4"; }

std::string_view Name(ScaleRule r) {
  switch (r) {
    case ScaleRule::kCeil: return "ceil";
    case ScaleRule::kReference: return "reference";
    case ScaleRule::kMse: return "mse";
  }
  return "?";
}

absl::StatusOr<ScaleRule> ParseScaleRule(std::string_view text) {
  std::string t(text);
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (t == "ceil") return ScaleRule::kCeil;
  if (t == "reference" || t == "floor" || t == "nearest") return ScaleRule::kReference;
  if (t == "mse") return ScaleRule::kMse;
  return absl::InvalidArgumentError(
      StrCat("FP4 scale rule '", text, "': expected one of ceil, reference (or floor, nearest), mse"));
}

float NvGlobalScale(float amax) {
  const float g = amax / (6.0f * 448.0f);
  return std::isfinite(g) && g > 0.0f ? g : 1.0f;
}

float GroupScale(Fp4Format f, uint8_t scale_byte, float global) {
  return f == Fp4Format::kMx ? F8E8M0ToF32(scale_byte) : F8E4M3ToF32(scale_byte) * global;
}

uint8_t FitGroupScale(Fp4Format f, ScaleRule rule, const float* x, int64_t n, float global,
                      const float* importance) {
  const float amax = Amax(x, n);
  const bool mx = f == Fp4Format::kMx;
  switch (rule) {
    case ScaleRule::kCeil: return mx ? MxCeil(amax) : NvCeil(amax, global);
    case ScaleRule::kReference: return mx ? MxReference(amax) : NvReference(amax, global);
    case ScaleRule::kMse: return FitMse(f, x, n, global, importance, amax);
  }
  return 0;
}

void QuantizeRow(Fp4Format f, ScaleRule rule, const float* x, int64_t cols, float global,
                 const float* importance, uint8_t* codes, uint8_t* scales) {
  const int64_t gs = GroupSize(f);
  for (int64_t g0 = 0; g0 < cols; g0 += gs) {
    const uint8_t b = FitGroupScale(f, rule, x + g0, gs, global, importance != nullptr ? importance + g0 : nullptr);
    scales[g0 / gs] = b;
    const float s = GroupScale(f, b, global);
    for (int64_t j = g0; j < g0 + gs; j += 2) {
      codes[j / 2] = static_cast<uint8_t>(NearestCode(x[j], s) | NearestCode(x[j + 1], s) << 4);
    }
  }
}

void DequantizeRow(Fp4Format f, const uint8_t* codes, const uint8_t* scales, int64_t cols, float global,
                   float* out) {
  const int64_t gs = GroupSize(f);
  for (int64_t j = 0; j < cols; ++j) {
    const uint8_t code = static_cast<uint8_t>(codes[j / 2] >> (4 * (j & 1)));
    out[j] = F4E2M1ToF32(code) * GroupScale(f, scales[j / gs], global);
  }
}

}  // namespace quantc::kernels::fp4
