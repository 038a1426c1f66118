// Element grids of ggml's block types (grid.h). Each element's code is one or two bit fields of
// its block (CodeField), read and written generically; each grid reads the element's scales the
// way the type's reference dequantizer does and with the same float operations (compiled with
// -ffp-contract=off, as the dequantizers are). Layouts: blocks.h; decoders: legacy.cc, q2_k.cc ..
// q6_k.cc, iq4.cc, mxfp4.cc.
#include "lib/kernels/ggml_quants/grid.h"

#include <cmath>
#include <cstddef>
#include <cstring>

#include "lib/kernels/ggml_quants/blocks.h"
#include "lib/kernels/ggml_quants/half.h"
#include "lib/kernels/ggml_quants/k_quants_common.h"

namespace quantc::kernels::ggml_quants {
namespace {

// ---- codes -------------------------------------------------------------------------------------

// Where element i's stored code lives: `low_bits` bits at bit `low_shift` of byte `low_byte`, then
// optionally `high_bits` more bits (the code's top) at bit `high_shift` of byte `high_byte`.
// The natural code is the stored one minus `bias`, or the stored byte as int8 when `signed_byte`.
struct CodeField {
  int low_byte = 0, low_shift = 0, low_bits = 0;
  int high_byte = 0, high_shift = 0, high_bits = 0;
  int bias = 0;
  bool signed_byte = false;
};

// The 32-element blocks' nibbles at `qs`: element j in the low nibble of qs[j], j + 16 in the high.
CodeField Nibble32(size_t qs, int64_t i, int bias) {
  return {.low_byte = static_cast<int>(qs + i % 16), .low_shift = static_cast<int>(4 * (i / 16)),
          .low_bits = 4, .bias = bias};
}

// Q5_0 / Q5_1: the nibble, plus bit i of the little-endian u32 at `qh` as the 5th bit.
CodeField FiveBit32(size_t qs, size_t qh, int64_t i, int bias) {
  CodeField f = Nibble32(qs, i, bias);
  f.high_byte = static_cast<int>(qh + i / 8);
  f.high_shift = static_cast<int>(i % 8);
  f.high_bits = 1;
  return f;
}

// Q2_K / Q3_K's 2-bit codes: in each 128-element half h, element 32k + l sits at bits 2k of
// qs[32h + l].
CodeField TwoBitK(size_t qs, int64_t i, int bias) {
  return {.low_byte = static_cast<int>(qs + 32 * (i / 128) + i % 32),
          .low_shift = static_cast<int>(2 * (i % 128 / 32)), .low_bits = 2, .bias = bias};
}

// Q4_K / Q5_K's nibbles: in chunk c of 64, element 64c + l in the low nibble of qs[32c + l],
// 64c + 32 + l in the high nibble.
CodeField NibbleK(size_t qs, int64_t i) {
  return {.low_byte = static_cast<int>(qs + 32 * (i / 64) + i % 32),
          .low_shift = static_cast<int>(4 * (i % 64 / 32)), .low_bits = 4};
}

CodeField FieldOf(DType type, int64_t i) {
  switch (type) {
    case DType::kQ4_0: return Nibble32(offsetof(BlockQ4_0, qs), i, 8);
    case DType::kQ4_1: return Nibble32(offsetof(BlockQ4_1, qs), i, 0);
    case DType::kQ5_0: return FiveBit32(offsetof(BlockQ5_0, qs), offsetof(BlockQ5_0, qh), i, 16);
    case DType::kQ5_1: return FiveBit32(offsetof(BlockQ5_1, qs), offsetof(BlockQ5_1, qh), i, 0);
    case DType::kQ8_0:
      return {.low_byte = static_cast<int>(offsetof(BlockQ8_0, qs) + i), .low_bits = 8,
              .signed_byte = true};
    case DType::kQ2_K: return TwoBitK(offsetof(BlockQ2_K, qs), i, 0);
    case DType::kQ3_K: {
      // The 3rd bit is hmask's bit i / 32 of byte i % 32; set means "no -4", i.e. stored = q + 4.
      CodeField f = TwoBitK(offsetof(BlockQ3_K, qs), i, 4);
      f.high_byte = static_cast<int>(offsetof(BlockQ3_K, hmask) + i % 32);
      f.high_shift = static_cast<int>(i / 32);
      f.high_bits = 1;
      return f;
    }
    case DType::kQ4_K: return NibbleK(offsetof(BlockQ4_K, qs), i);
    case DType::kQ5_K: {
      // The 5th bit: bit i / 32 of qh[i % 32] (2c for the low half of chunk c, 2c + 1 the high).
      CodeField f = NibbleK(offsetof(BlockQ5_K, qs), i);
      f.high_byte = static_cast<int>(offsetof(BlockQ5_K, qh) + i % 32);
      f.high_shift = static_cast<int>(i / 32);
      f.high_bits = 1;
      return f;
    }
    case DType::kQ6_K: {
      // In half h, element 32k + l: low nibble in ql[64h + l + 32 (k & 1)] (high nibble when
      // k >= 2), top 2 bits at bits 2k of qh[32h + l].
      const int64_t h = i / 128, k = i % 128 / 32, l = i % 32;
      return {.low_byte = static_cast<int>(offsetof(BlockQ6_K, ql) + 64 * h + l + 32 * (k & 1)),
              .low_shift = static_cast<int>(4 * (k >> 1)), .low_bits = 4,
              .high_byte = static_cast<int>(offsetof(BlockQ6_K, qh) + 32 * h + l),
              .high_shift = static_cast<int>(2 * k), .high_bits = 2, .bias = 32};
    }
    case DType::kIQ4_NL: return Nibble32(offsetof(BlockIQ4_NL, qs), i, 0);
    case DType::kIQ4_XS: {
      // 16 bytes per 32-element sub-block, nibbles inside it as IQ4_NL.
      const int64_t sub = i / kQK;
      return Nibble32(offsetof(BlockIQ4_XS, qs) + 16 * static_cast<size_t>(sub), i % kQK, 0);
    }
    case DType::kMXFP4: return Nibble32(offsetof(BlockMXFP4, qs), i, 0);
    default: return {};
  }
}

inline int ReadBits(const uint8_t* block, int byte, int shift, int bits) {
  return (block[byte] >> shift) & ((1 << bits) - 1);
}

inline void WriteBits(uint8_t* block, int byte, int shift, int bits, int value) {
  const int mask = ((1 << bits) - 1) << shift;
  block[byte] = static_cast<uint8_t>((block[byte] & ~mask) | ((value << shift) & mask));
}

// ---- scales ------------------------------------------------------------------------------------

// An fp16 field of a block at any alignment (GGUF rows of 17- or 22-byte blocks are unaligned).
inline float HalfAt(const uint8_t* block, size_t offset) {
  uint16_t bits;
  std::memcpy(&bits, block + offset, sizeof(bits));
  return GgmlF16ToF32(bits);
}

ElementGrid Affine(float scale, float offset, int32_t qmin, int32_t qmax) {
  return {.scale = scale, .offset = offset, .qmin = qmin, .qmax = qmax};
}

ElementGrid Table(float scale, const int8_t* table) {
  return {.scale = scale, .offset = -0.0f, .qmin = 0, .qmax = 15, .table = table};
}

// Q4_K / Q5_K: sub-block i / 32's d * sc and -(dmin * m), as dequantize_row_q{4,5}_K form them.
ElementGrid ScaleMinK(const uint8_t* block, size_t d, size_t dmin, size_t scales, int64_t i,
                      int32_t qmax) {
  uint8_t sc, m;
  UnpackScaleMin6(static_cast<int>(i / 32), block + scales, &sc, &m);
  const float scale = HalfAt(block, d) * static_cast<float>(sc);
  const float min = HalfAt(block, dmin) * static_cast<float>(m);
  return Affine(scale, -min, 0, qmax);
}

// ---- exact distance comparison -----------------------------------------------------------------

// a + b = sum + *err exactly (Knuth's TwoSum; no FMA, round to nearest).
inline double TwoSum(double a, double b, double* err) {
  const double sum = a + b;
  const double b_virtual = sum - a;
  *err = (a - (sum - b_virtual)) + (b - b_virtual);
  return sum;
}

inline int Sign(double v) { return (v > 0) - (v < 0); }

// Sign of x + y + z, exactly, for doubles far from overflow. x + y becomes the expansion (e1, s1);
// growing it by z (Shewchuk 1997, Grow-Expansion) gives nonoverlapping h1, h2, q2 of increasing
// magnitude whose sum is exact, and such an expansion has the sign of its largest nonzero part.
int SignOfSum3(double x, double y, double z) {
  double e1, h1, h2;
  const double s1 = TwoSum(x, y, &e1);
  const double q1 = TwoSum(z, e1, &h1);
  const double q2 = TwoSum(q1, s1, &h2);
  if (q2 != 0) return Sign(q2);
  if (h2 != 0) return Sign(h2);
  return Sign(h1);
}

// Sign of |a - w| - |b - w| in exact arithmetic: negative when a is nearer to w. An infinite w is
// nearer to the larger (+inf) or smaller (-inf) value; a NaN value is farther than any number.
int CompareDistance(float a, float b, float w) {
  if (a == b) return 0;
  const bool a_nan = std::isnan(a), b_nan = std::isnan(b);
  if (a_nan || b_nan) return a_nan == b_nan ? 0 : (a_nan ? 1 : -1);
  // Usually decided by the distances in double: each is within 2^-53 (relative) of the exact one,
  // so a gap of more than 2^-50 is real. Near ties, and infinities, take the exact path below.
  const double da = std::fabs(static_cast<double>(a) - w), db = std::fabs(static_cast<double>(b) - w);
  constexpr double kMargin = 1.0 - 0x1p-50;
  if (da < db * kMargin) return -1;
  if (db < da * kMargin) return 1;
  const bool a_low = a < b;
  const float lo = a_low ? a : b, hi = a_low ? b : a;
  int low_vs_high;  // sign of |lo - w| - |hi - w|
  if (w <= lo) {
    low_vs_high = -1;
  } else if (w >= hi) {
    low_vs_high = 1;
  } else if (std::isinf(lo) || std::isinf(hi)) {  // w finite in between: an infinite end is farther
    low_vs_high = std::isinf(lo) == std::isinf(hi) ? 0 : (std::isinf(lo) ? 1 : -1);
  } else {
    // (w - lo) - (hi - w) = 2w - lo - hi; every term is exact in double.
    low_vs_high = -SignOfSum3(static_cast<double>(lo), static_cast<double>(hi), -2.0 * static_cast<double>(w));
  }
  return a_low ? low_vs_high : -low_vs_high;
}

// Whether code p beats code q on a tie: the smaller |code|, then the smaller code.
inline bool PreferOnTie(int32_t p, int32_t q) {
  const int32_t ap = p < 0 ? -p : p, aq = q < 0 ? -q : q;
  return ap != aq ? ap < aq : p < q;
}

// The tie-breaking code when every value is equally near: the one of smallest |q|.
inline int32_t CodeNearestZero(const ElementGrid& g) {
  return g.qmin > 0 ? g.qmin : (g.qmax < 0 ? g.qmax : 0);
}

// Every code, compared exactly: the table grids (16 codes) and affine grids with non-finite parts.
int32_t ScanNearest(const ElementGrid& g, float w) {
  int32_t best = g.qmin;
  float best_value = GridValue(g, best);
  for (int32_t q = g.qmin + 1; q <= g.qmax; ++q) {
    const float v = GridValue(g, q);
    const int c = CompareDistance(v, best_value, w);
    if (c < 0 || (c == 0 && PreferOnTie(q, best))) {
      best = q;
      best_value = v;
    }
  }
  return best;
}

}  // namespace

bool HasGrid(DType type) {
  switch (type) {
    case DType::kQ4_0: case DType::kQ4_1: case DType::kQ5_0: case DType::kQ5_1: case DType::kQ8_0:
    case DType::kQ2_K: case DType::kQ3_K: case DType::kQ4_K: case DType::kQ5_K: case DType::kQ6_K:
    case DType::kIQ4_NL: case DType::kIQ4_XS: case DType::kMXFP4:
      return true;
    default:
      return false;
  }
}

ElementGrid GridOf(DType type, const uint8_t* block, int64_t i) {
  switch (type) {
    case DType::kQ4_0: return Affine(HalfAt(block, offsetof(BlockQ4_0, d)), -0.0f, -8, 7);
    case DType::kQ4_1:
      return Affine(HalfAt(block, offsetof(BlockQ4_1, d)), HalfAt(block, offsetof(BlockQ4_1, m)), 0, 15);
    case DType::kQ5_0: return Affine(HalfAt(block, offsetof(BlockQ5_0, d)), -0.0f, -16, 15);
    case DType::kQ5_1:
      return Affine(HalfAt(block, offsetof(BlockQ5_1, d)), HalfAt(block, offsetof(BlockQ5_1, m)), 0, 31);
    case DType::kQ8_0: return Affine(HalfAt(block, offsetof(BlockQ8_0, d)), -0.0f, -127, 127);
    case DType::kQ2_K: {
      // Sub-block i / 16: scale code in the low nibble, min code in the high one.
      const uint8_t sc = block[offsetof(BlockQ2_K, scales) + i / 16];
      const float dl = HalfAt(block, offsetof(BlockQ2_K, d)) * static_cast<float>(sc & 0xF);
      const float ml = HalfAt(block, offsetof(BlockQ2_K, dmin)) * static_cast<float>(sc >> 4);
      return Affine(dl, -ml, 0, 3);
    }
    case DType::kQ3_K: {
      const int sc = UnpackQ3Scale(static_cast<int>(i / 16), block + offsetof(BlockQ3_K, scales));
      return Affine(HalfAt(block, offsetof(BlockQ3_K, d)) * static_cast<float>(sc), -0.0f, -4, 3);
    }
    case DType::kQ4_K:
      return ScaleMinK(block, offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin),
                       offsetof(BlockQ4_K, scales), i, 15);
    case DType::kQ5_K:
      return ScaleMinK(block, offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin),
                       offsetof(BlockQ5_K, scales), i, 31);
    case DType::kQ6_K: {
      const int8_t sc = static_cast<int8_t>(block[offsetof(BlockQ6_K, scales) + i / 16]);
      return Affine(HalfAt(block, offsetof(BlockQ6_K, d)) * static_cast<float>(sc), -0.0f, -32, 31);
    }
    case DType::kIQ4_NL: return Table(HalfAt(block, offsetof(BlockIQ4_NL, d)), kIQ4Values);
    case DType::kIQ4_XS: {
      // Sub-block ib's 6-bit code: low nibble ib % 2 of scales_l[ib / 2], top 2 bits at 2ib of
      // scales_h; dl = d * (code - 32).
      const int ib = static_cast<int>(i / kQK);
      uint16_t scales_h;
      std::memcpy(&scales_h, block + offsetof(BlockIQ4_XS, scales_h), sizeof(scales_h));
      const int low = (block[offsetof(BlockIQ4_XS, scales_l) + ib / 2] >> (4 * (ib % 2))) & 0xF;
      const int code = low | (((scales_h >> (2 * ib)) & 3) << 4);
      return Table(HalfAt(block, offsetof(BlockIQ4_XS, d)) * static_cast<float>(code - 32), kIQ4Values);
    }
    case DType::kMXFP4: return Table(E8M0HalfScale(block[offsetof(BlockMXFP4, e)]), kMXFP4Values);
    default: return {};
  }
}

int32_t CodeOf(DType type, const uint8_t* block, int64_t i) {
  const CodeField f = FieldOf(type, i);
  if (f.low_bits == 0) return 0;
  int stored = ReadBits(block, f.low_byte, f.low_shift, f.low_bits);
  if (f.high_bits > 0) stored |= ReadBits(block, f.high_byte, f.high_shift, f.high_bits) << f.low_bits;
  if (f.signed_byte) return static_cast<int8_t>(stored);
  return stored - f.bias;
}

void SetCode(DType type, uint8_t* block, int64_t i, int32_t q) {
  const CodeField f = FieldOf(type, i);
  if (f.low_bits == 0) return;
  const int stored = f.signed_byte ? (q & 0xFF) : q + f.bias;
  WriteBits(block, f.low_byte, f.low_shift, f.low_bits, stored);
  if (f.high_bits > 0) WriteBits(block, f.high_byte, f.high_shift, f.high_bits, stored >> f.low_bits);
}

float GridValue(const ElementGrid& g, int32_t q) {
  const int32_t level = g.table ? g.table[q - g.qmin] : q;
  return g.scale * static_cast<float>(level) + g.offset;
}

int32_t NearestCode(const ElementGrid& g, float w) {
  if (std::isnan(w)) return CodeNearestZero(g);
  if (g.table || !std::isfinite(g.scale) || !std::isfinite(g.offset)) return ScanNearest(g, w);
  if (g.scale == 0) return CodeNearestZero(g);  // every code has the value offset
  // Start at the rounded real solution; its distance is within a few codes of the true nearest.
  // (Rounding half away from zero by hand: std::nearbyint is a library call without SSE4.1.)
  const double t = (static_cast<double>(w) - g.offset) / g.scale;
  int32_t q = t <= g.qmin ? g.qmin : (t >= g.qmax ? g.qmax : static_cast<int32_t>(t + (t < 0 ? -0.5 : 0.5)));
  // Values are monotone in q (each float step rounds monotonically), so the distance falls, then
  // rises, and the nearest codes form one run. Walk towards w through equal distances to that
  // run's far end, then back towards q = 0 while the distance stays equal.
  auto in_range = [&g](int32_t c) { return c >= g.qmin && c <= g.qmax; };
  float value = GridValue(g, q);
  if (value != w) {
    const int32_t step = (value < w) == (g.scale > 0) ? 1 : -1;
    while (in_range(q + step)) {
      const float next = GridValue(g, q + step);
      if (CompareDistance(next, value, w) > 0) break;
      q += step;
      value = next;
    }
  }
  const int32_t to_zero = q > 0 ? -1 : 1;
  while (q != 0 && in_range(q + to_zero) && CompareDistance(GridValue(g, q + to_zero), value, w) == 0) {
    q += to_zero;
    value = GridValue(g, q);
  }
  return q;
}

}  // namespace quantc::kernels::ggml_quants
