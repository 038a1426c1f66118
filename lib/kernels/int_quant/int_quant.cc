#include "lib/kernels/int_quant/int_quant.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

#include "lib/dtypes/float_convert.h"
#include "lib/support/strings.h"

namespace quantc::kernels::int_quant {
namespace {

constexpr std::string_view kGrammar = "int<bits>[-g<group>][-asym][-mse], bits 2..8, e.g. int4, int4-g128, int8, int4-g128-asym";

// quant.py's MSE grid: p = 1 - i / grid for i < maxshrink * grid, error norm 2.4.
constexpr int kGrid = 100;
constexpr int kShrinkSteps = 80;  // int(0.8 * 100)
constexpr double kNorm = 2.4;

float SmallestPositive(DType dtype) {
  switch (dtype) {
    case DType::kBF16: return BF16ToF32(0x0001);
    case DType::kF16: return F16ToF32(0x0001);
    default: return std::numeric_limits<float>::denorm_min();
  }
}

float LargestFinite(DType dtype) {
  switch (dtype) {
    case DType::kBF16: return BF16ToF32(0x7F7F);
    case DType::kF16: return F16ToF32(0x7BFF);
    default: return std::numeric_limits<float>::max();
  }
}

// Scale and zero for the range [lo, hi] (lo <= 0 <= hi, hi > lo).
IntParams MakeParams(const IntScheme& s, double lo, double hi, DType scale_dtype) {
  const int maxq = MaxQ(s);
  IntParams p;
  p.scale = RoundScale((hi - lo) / maxq, scale_dtype);
  if (s.symmetric) {
    p.zero = (maxq + 1) / 2;
  } else {
    const double z = std::nearbyint(-lo / static_cast<double>(p.scale));
    p.zero = static_cast<int32_t>(std::clamp(z, 0.0, static_cast<double>(maxq)));
  }
  return p;
}

}  // namespace

absl::StatusOr<IntScheme> ParseIntScheme(std::string_view name) {
  std::string text(name);
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(StrCat("integer scheme '", name, "': ", why, " (expected ", kGrammar, ")"));
  };
  std::vector<std::string_view> parts = SplitOn(text, '-');
  if (parts.empty() || !parts[0].starts_with("int")) return bad("must start with 'int'");
  IntScheme s;
  std::optional<int> bits = ParseNumber<int>(parts[0].substr(3));
  if (!bits || *bits < 2 || *bits > 8) return bad("bits must be 2..8");
  s.bits = *bits;
  size_t i = 1;
  if (i < parts.size() && parts[i].starts_with("g")) {
    std::optional<int64_t> g = ParseNumber<int64_t>(parts[i].substr(1));
    if (!g || *g <= 0) return bad(StrCat("group '", parts[i], "' must be g<positive integer>"));
    s.group = *g;
    ++i;
  }
  if (i < parts.size() && parts[i] == "asym") s.symmetric = false, ++i;
  if (i < parts.size() && parts[i] == "mse") s.mse = true, ++i;
  if (i < parts.size()) return bad(StrCat("unexpected '", parts[i], "'"));
  return s;
}

std::string Name(const IntScheme& s) {
  std::string out = StrCat("int", s.bits);
  if (s.group > 0) out += StrCat("-g", s.group);
  if (!s.symmetric) out += "-asym";
  if (s.mse) out += "-mse";
  return out;
}

float RoundScale(double value, DType dtype) {
  float f = static_cast<float>(value);  // round-to-nearest-even (the default FP environment)
  if (dtype == DType::kBF16) f = BF16ToF32(F32ToBF16(f));
  if (dtype == DType::kF16) f = F16ToF32(F32ToF16(f));
  if (!(f > 0)) return SmallestPositive(dtype);
  if (std::isinf(f)) return LargestFinite(dtype);
  return f;
}

int32_t QuantizeCode(const IntParams& p, int maxq, float w) {
  const double q = std::nearbyint(static_cast<double>(w) / static_cast<double>(p.scale)) + p.zero;
  return static_cast<int32_t>(std::clamp(q, 0.0, static_cast<double>(maxq)));
}

IntParams FitParams(const IntScheme& s, const float* w, int64_t n, DType scale_dtype) {
  float lo = 0.0f, hi = 0.0f;
  for (int64_t i = 0; i < n; ++i) lo = std::min(lo, w[i]), hi = std::max(hi, w[i]);
  if (s.symmetric) {
    hi = std::max(-lo, hi);
    if (lo < 0) lo = -hi;
  }
  if (lo == 0 && hi == 0) lo = -1.0f, hi = 1.0f;
  IntParams best = MakeParams(s, lo, hi, scale_dtype);
  if (!s.mse) return best;
  const int maxq = MaxQ(s);
  double best_err = std::numeric_limits<double>::infinity();
  for (int i = 0; i < kShrinkSteps; ++i) {
    const double shrink = 1.0 - static_cast<double>(i) / kGrid;
    const IntParams c = MakeParams(s, shrink * lo, shrink * hi, scale_dtype);
    double err = 0;
    for (int64_t j = 0; j < n; ++j) {
      const double d = static_cast<double>(c.scale) * (QuantizeCode(c, maxq, w[j]) - c.zero) - w[j];
      err += std::pow(std::fabs(d), kNorm);
    }
    if (err < best_err) best_err = err, best = c;
  }
  return best;
}

void QuantizeRow(const IntScheme& s, const float* w, int64_t cols, DType scale_dtype, uint8_t* codes,
                 IntParams* params) {
  const int64_t g = GroupSize(s, cols);
  const int maxq = MaxQ(s);
  for (int64_t c0 = 0, k = 0; c0 < cols; c0 += g, ++k) {
    const int64_t n = std::min(g, cols - c0);
    params[k] = FitParams(s, w + c0, n, scale_dtype);
    for (int64_t j = 0; j < n; ++j) codes[c0 + j] = static_cast<uint8_t>(QuantizeCode(params[k], maxq, w[c0 + j]));
  }
}

void PackBits(const uint8_t* values, int64_t n, int bits, int32_t* words) {
  uint32_t* out = reinterpret_cast<uint32_t*>(words);  // int32 and uint32 may alias
  std::fill_n(out, PackedWords(n, bits), 0u);
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t v = values[i] & ((1u << bits) - 1);
    const int64_t bit = i * bits, word = bit / 32, shift = bit % 32;
    out[word] |= static_cast<uint32_t>(v << shift);
    if (shift + bits > 32) out[word + 1] |= static_cast<uint32_t>(v >> (32 - shift));
  }
}

void UnpackBits(const int32_t* words, int64_t n, int bits, uint8_t* values) {
  const uint32_t mask = (1u << bits) - 1;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t bit = i * bits, word = bit / 32, shift = bit % 32;
    uint64_t v = static_cast<uint32_t>(words[word]);
    if (shift + bits > 32) v |= static_cast<uint64_t>(static_cast<uint32_t>(words[word + 1])) << 32;
    values[i] = static_cast<uint8_t>((v >> shift) & mask);
  }
}

void PackBitsDim0(const uint8_t* values, int64_t rows, int64_t cols, int bits, int32_t* words) {
  const int64_t nw = PackedWords(rows, bits);
  std::vector<uint8_t> column(static_cast<size_t>(rows));
  std::vector<int32_t> packed(static_cast<size_t>(nw));
  for (int64_t c = 0; c < cols; ++c) {
    for (int64_t r = 0; r < rows; ++r) column[r] = values[r * cols + c];
    PackBits(column.data(), rows, bits, packed.data());
    for (int64_t w = 0; w < nw; ++w) words[w * cols + c] = packed[w];
  }
}

void UnpackBitsDim0(const int32_t* words, int64_t rows, int64_t cols, int bits, uint8_t* values) {
  const int64_t nw = PackedWords(rows, bits);
  std::vector<uint8_t> column(static_cast<size_t>(rows));
  std::vector<int32_t> packed(static_cast<size_t>(nw));
  for (int64_t c = 0; c < cols; ++c) {
    for (int64_t w = 0; w < nw; ++w) packed[w] = words[w * cols + c];
    UnpackBits(packed.data(), rows, bits, column.data());
    for (int64_t r = 0; r < rows; ++r) values[r * cols + c] = column[r];
  }
}

}  // namespace quantc::kernels::int_quant
