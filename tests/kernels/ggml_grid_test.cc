// Tests of the element grids of ggml's block types (lib/kernels/ggml_quants/grid.{h,cc}) against
// the reference kernels, for every type with a grid:
//   1. GridValue(GridOf(t, b, i), CodeOf(t, b, i)) is, bit for bit, what Reference(t).dequantize
//      writes for element i, and the code lies in [qmin, qmax], on rows written by
//      Reference(t).quantize (several seeds, with and without importance; Gaussian rows, rows with
//      zeros, constant and near-constant rows, large outliers); on random block bytes too, where a
//      NaN only has to stay a NaN.
//   2. SetCode(CodeOf(...)) leaves the block's bytes unchanged.
//   3. SetCode(q) then dequantize gives GridValue(q) at element i and changes no other element.
//   4. NearestCode equals a brute-force argmin over every code (distances in long double, used only
//      where they are exact) for random, far-outside, infinite, on-grid and exactly-midpoint w.
// The seed is gtest's (random per run): rerun a failure with --gtest_random_seed=N.
#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "lib/dtypes/dtype.h"
#include "lib/kernels/ggml_quants/blocks.h"
#include "lib/kernels/ggml_quants/grid.h"
#include "lib/kernels/ggml_quants/quants.h"

namespace quantc::kernels::ggml_quants {
namespace {

struct TypeCase {
  DType type;
  const char* name;  // ggml's spelling
};

constexpr TypeCase kTypes[] = {
    {DType::kQ4_0, "q4_0"},   {DType::kQ4_1, "q4_1"},     {DType::kQ5_0, "q5_0"},
    {DType::kQ5_1, "q5_1"},   {DType::kQ8_0, "q8_0"},     {DType::kQ2_K, "q2_K"},
    {DType::kQ3_K, "q3_K"},   {DType::kQ4_K, "q4_K"},     {DType::kQ5_K, "q5_K"},
    {DType::kQ6_K, "q6_K"},   {DType::kIQ4_NL, "iq4_nl"}, {DType::kIQ4_XS, "iq4_xs"},
    {DType::kMXFP4, "mxfp4"},
};

std::string CaseName(const ::testing::TestParamInfo<TypeCase>& info) { return info.param.name; }
void PrintTo(const TypeCase& c, std::ostream* os) { *os << c.name; }

constexpr int64_t kRow = 2 * kQKK;  // two super-blocks, eight or sixteen legacy blocks

uint32_t Seed() { return static_cast<uint32_t>(::testing::UnitTest::GetInstance()->random_seed()); }

bool SameBits(float a, float b) { return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b); }
// Bit-equal, or both NaN (for blocks with NaN scales, where only NaN-ness is promised).
bool SameOrBothNaN(float a, float b) { return SameBits(a, b) || (std::isnan(a) && std::isnan(b)); }

// ---- inputs ------------------------------------------------------------------------------------

enum class RowKind { kGaussian, kOutliers, kZeros, kConstant, kNearConstant, kMixed };
constexpr RowKind kRowKinds[] = {RowKind::kGaussian, RowKind::kOutliers, RowKind::kZeros,
                                 RowKind::kConstant, RowKind::kNearConstant, RowKind::kMixed};

const char* KindName(RowKind k) {
  switch (k) {
    case RowKind::kGaussian: return "gaussian";
    case RowKind::kOutliers: return "outliers";
    case RowKind::kZeros: return "zeros";
    case RowKind::kConstant: return "constant";
    case RowKind::kNearConstant: return "near-constant";
    case RowKind::kMixed: return "mixed";
  }
  return "?";
}

void FillRow(std::mt19937& rng, RowKind kind, float* x, int64_t n) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  auto sign = [&] { return unit(rng) < 0.5f ? -1.0f : 1.0f; };
  switch (kind) {
    case RowKind::kGaussian: {
      const float sigma = std::exp2(-8.0f + 12.0f * unit(rng));
      for (int64_t j = 0; j < n; ++j) x[j] = sigma * normal(rng);
      break;
    }
    case RowKind::kOutliers:  // one weight in 40 is 20..10000 sigma
      for (int64_t j = 0; j < n; ++j) {
        x[j] = normal(rng);
        if (unit(rng) < 1.0f / 40) x[j] = sign() * std::exp2(4.3f + 9.0f * unit(rng));
      }
      break;
    case RowKind::kZeros:  // a whole zero super-block, then 40% exact zeros
      for (int64_t j = 0; j < n; ++j) x[j] = j < kQKK || unit(rng) < 0.4f ? 0.0f : normal(rng);
      break;
    case RowKind::kConstant: {
      const float c = sign() * std::exp2(-10.0f + 20.0f * unit(rng));
      for (int64_t j = 0; j < n; ++j) x[j] = c;
      break;
    }
    case RowKind::kNearConstant: {  // offsets far above the spread: neighbouring values can merge
      const float c = sign() * (1.0f + 99.0f * unit(rng));
      const float spread = std::exp2(-24.0f + 14.0f * unit(rng));
      for (int64_t j = 0; j < n; ++j) x[j] = c * (1.0f + spread * normal(rng));
      break;
    }
    case RowKind::kMixed:  // every 32 weights a different kind
      for (int64_t b = 0; b < n; b += kQK) {
        std::uniform_int_distribution<int> pick(0, 4);
        FillRow(rng, kRowKinds[pick(rng)], x + b, kQK);
      }
      break;
  }
}

// Importance rows spread over decades, as real imatrices are.
std::vector<float> RandomImportance(std::mt19937& rng, int64_t n) {
  std::normal_distribution<float> normal(0.0f, 1.5f);
  std::vector<float> w(n);
  for (auto& v : w) v = std::exp(normal(rng));
  return w;
}

// One encoded row and how it was made.
struct EncodedRow {
  std::string what;
  std::vector<uint8_t> bytes;
  bool from_quantizer;  // false: random bytes (scales may be Inf or NaN, codes anything)
};

// Rows written by the reference quantizer: 3 seeds x every kind x with / without importance.
std::vector<EncodedRow> QuantizedRows(DType type, uint32_t seed) {
  std::vector<EncodedRow> rows;
  for (uint32_t s = 0; s < 3; ++s) {
    std::mt19937 rng(seed + s);
    for (RowKind kind : kRowKinds) {
      std::vector<float> x(kRow);
      FillRow(rng, kind, x.data(), kRow);
      const std::vector<float> importance = RandomImportance(rng, kRow);
      for (bool weighted : {false, true}) {
        EncodedRow row{std::string(KindName(kind)) + (weighted ? " with importance" : "") +
                           " seed " + std::to_string(seed + s),
                       std::vector<uint8_t>(RowBytes(type, kRow)), true};
        Reference(type).quantize(x.data(), row.bytes.data(), kRow, weighted ? importance.data() : nullptr);
        rows.push_back(std::move(row));
      }
    }
  }
  return rows;
}

std::vector<EncodedRow> RandomByteRows(DType type, uint32_t seed) {
  std::vector<EncodedRow> rows;
  std::mt19937 rng(seed);
  for (int r = 0; r < 4; ++r) {
    EncodedRow row{"random bytes " + std::to_string(r), std::vector<uint8_t>(RowBytes(type, kRow)), false};
    for (auto& b : row.bytes) b = static_cast<uint8_t>(rng());
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<float> Dequantize(DType type, const uint8_t* bytes, int64_t n) {
  std::vector<float> y(n);
  Reference(type).dequantize(bytes, y.data(), n);
  return y;
}

class GgmlGridTest : public ::testing::TestWithParam<TypeCase> {};

// ---- 1 and 2: decoding and re-encoding the stored codes ------------------------------------------

TEST_P(GgmlGridTest, StoredCodeDecodesLikeReference) {
  const DType type = GetParam().type;
  const uint32_t seed = Seed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed << " (rerun with --gtest_random_seed=" << seed << ")");
  ASSERT_TRUE(HasGrid(type));
  const int64_t be = Traits(type).block_elems, bb = Traits(type).block_bytes;
  std::vector<EncodedRow> rows = QuantizedRows(type, seed);
  for (auto& r : RandomByteRows(type, seed)) rows.push_back(std::move(r));
  for (const EncodedRow& row : rows) {
    SCOPED_TRACE(row.what);
    const std::vector<float> y = Dequantize(type, row.bytes.data(), kRow);
    int failures = 0;
    for (int64_t j = 0; j < kRow && failures < 5; ++j) {
      const uint8_t* block = row.bytes.data() + (j / be) * bb;
      const int64_t i = j % be;
      const ElementGrid g = GridOf(type, block, i);
      const int32_t q = CodeOf(type, block, i);
      const float v = GridValue(g, q);
      const bool same = row.from_quantizer ? SameBits(v, y[j]) : SameOrBothNaN(v, y[j]);
      if (!same) {
        ADD_FAILURE() << "element " << j << ": code " << q << " scale " << g.scale << " offset " << g.offset
                      << " gives " << v << " (0x" << std::hex << std::bit_cast<uint32_t>(v)
                      << "), the decoder " << y[j] << " (0x" << std::bit_cast<uint32_t>(y[j]) << ")";
        ++failures;
      }
      if (row.from_quantizer && (q < g.qmin || q > g.qmax)) {
        ADD_FAILURE() << "element " << j << ": the quantizer wrote code " << q << " outside [" << g.qmin
                      << ", " << g.qmax << "]";
        ++failures;
      }
      // 2: writing the code back changes no byte.
      std::vector<uint8_t> copy(block, block + bb);
      SetCode(type, copy.data(), i, q);
      if (std::memcmp(copy.data(), block, bb) != 0) {
        ADD_FAILURE() << "element " << j << ": SetCode(CodeOf) changed the block";
        ++failures;
      }
    }
  }
}

// ---- 3: writing a code ---------------------------------------------------------------------------

TEST_P(GgmlGridTest, SetCodeChangesOnlyItsElement) {
  const DType type = GetParam().type;
  const uint32_t seed = Seed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed << " (rerun with --gtest_random_seed=" << seed << ")");
  const int64_t be = Traits(type).block_elems, bb = Traits(type).block_bytes;
  std::mt19937 rng(seed ^ 0x5e7c0de);
  std::vector<EncodedRow> rows = QuantizedRows(type, seed);
  for (auto& r : RandomByteRows(type, seed + 7)) rows.push_back(std::move(r));
  for (const EncodedRow& row : rows) {
    SCOPED_TRACE(row.what);
    int failures = 0;
    for (int64_t start = 0; start < kRow && failures < 5; start += be) {
      const uint8_t* block = row.bytes.data() + (start / be) * bb;
      const std::vector<float> before = Dequantize(type, block, be);
      for (int64_t i = 0; i < be && failures < 5; ++i) {
        const ElementGrid g = GridOf(type, block, i);
        // Every code for the block's first and last elements, a random one for the others.
        std::vector<int32_t> codes;
        if (i == 0 || i == be - 1) {
          for (int32_t q = g.qmin; q <= g.qmax; ++q) codes.push_back(q);
        } else {
          codes.push_back(std::uniform_int_distribution<int32_t>(g.qmin, g.qmax)(rng));
        }
        for (int32_t q : codes) {
          std::vector<uint8_t> copy(block, block + bb);
          SetCode(type, copy.data(), i, q);
          const std::vector<float> after = Dequantize(type, copy.data(), be);
          const float want = GridValue(g, q);
          bool ok = CodeOf(type, copy.data(), i) == q &&
                    (row.from_quantizer ? SameBits(after[i], want) : SameOrBothNaN(after[i], want));
          for (int64_t k = 0; k < be && ok; ++k) {
            if (k != i && !SameBits(after[k], before[k])) ok = false;
          }
          if (!ok) {
            ADD_FAILURE() << "element " << start + i << " set to code " << q << ": CodeOf reads "
                          << CodeOf(type, copy.data(), i) << ", decodes to " << after[i] << " (grid "
                          << want << "), or another element changed";
            ++failures;
          }
        }
      }
    }
  }
}

// ---- 4: nearest codes ----------------------------------------------------------------------------

// |v - w| in long double, when that is exact (checked by TwoSum's error term).
std::optional<long double> ExactDistance(float v, float w) {
  const long double a = v, b = -static_cast<long double>(w);
  const long double s = a + b;
  const long double b_virtual = s - a;
  const long double err = (a - (s - b_virtual)) + (b - b_virtual);
  if (err != 0) return std::nullopt;
  return std::fabs(s);
}

bool PreferOnTie(int32_t p, int32_t q) {
  const int32_t ap = std::abs(p), aq = std::abs(q);
  return ap != aq ? ap < aq : p < q;
}

// The brute-force nearest code: smallest distance, ties to the smaller |q| then the smaller q.
// An infinite w is nearest to the largest / smallest value; w = +-FLT_MAX to the largest / smallest
// finite value (every finite value is on its near side). nullopt where a distance would be rounded
// (then this oracle cannot decide).
std::optional<int32_t> BruteNearest(const ElementGrid& g, float w) {
  const bool extreme = std::isinf(w) || std::fabs(w) == FLT_MAX;
  std::optional<int32_t> best;
  long double best_d = 0;
  float best_v = 0;
  for (int32_t q = g.qmin; q <= g.qmax; ++q) {
    const float v = GridValue(g, q);
    if (extreme) {
      if (std::isnan(v) || (std::isinf(v) && !std::isinf(w))) continue;
      const bool better = !best || (w > 0 ? v > best_v : v < best_v);
      if (better || (v == best_v && PreferOnTie(q, *best))) {
        best = q;
        best_v = v;
      }
      continue;
    }
    const std::optional<long double> d = ExactDistance(v, w);
    if (!d) return std::nullopt;
    if (!best || *d < best_d || (*d == best_d && PreferOnTie(q, *best))) {
      best = q;
      best_d = *d;
    }
  }
  return best;
}

int32_t CodeNearestZero(const ElementGrid& g) { return std::clamp(0, g.qmin, g.qmax); }

// Probes of w around a grid: random points over and beyond its span, far outside, infinities,
// every value, every midpoint of two values that is a float, and the floats either side of it.
std::vector<float> Probes(const ElementGrid& g, std::mt19937& rng) {
  std::vector<float> values;
  for (int32_t q = g.qmin; q <= g.qmax; ++q) values.push_back(GridValue(g, q));
  std::sort(values.begin(), values.end());
  std::vector<float> w = {0.0f, -0.0f, INFINITY, -INFINITY, FLT_MAX, -FLT_MAX};
  const float lo = values.front(), hi = values.back();
  const float span = std::max(hi - lo, std::max(std::fabs(lo), std::fabs(hi)) * 1e-3f) + 1e-30f;
  if (std::isfinite(lo - 1e6f * span) && std::isfinite(hi + 1e6f * span)) {
    for (float far : {1e3f, 1e6f}) {
      w.push_back(hi + far * span);
      w.push_back(lo - far * span);
    }
    std::uniform_real_distribution<float> around(lo - span, hi + span);
    for (int k = 0; k < 8; ++k) w.push_back(around(rng));
  }
  std::uniform_int_distribution<size_t> pick(0, values.size() - 1);
  for (int k = 0; k < 6; ++k) w.push_back(values[pick(rng)]);
  // Each midpoint of neighbouring values as the nearest float and the floats either side (a
  // midpoint that is a float is an exact tie). Beside a midpoint of 0 the next floats (2^-149) are
  // too small for the oracle; step by a fraction of the smallest nonzero magnitude instead.
  float min_nonzero = INFINITY;
  for (float v : values) {
    if (v != 0) min_nonzero = std::min(min_nonzero, std::fabs(v));
  }
  for (size_t k = 0; k + 1 < values.size(); ++k) {
    const float m = static_cast<float>((static_cast<double>(values[k]) + values[k + 1]) / 2);
    w.push_back(m);
    if (m != 0) {
      w.push_back(std::nextafter(m, -INFINITY));
      w.push_back(std::nextafter(m, INFINITY));
    } else if (std::isfinite(min_nonzero)) {
      w.push_back(-min_nonzero / 256);
      w.push_back(min_nonzero / 256);
    }
  }
  return w;
}

// Checks NearestCode on every probe of g; returns the number of probes the oracle could not decide.
int CheckNearest(const ElementGrid& g, std::mt19937& rng, const std::string& what) {
  int undecided = 0;
  int failures = 0;
  for (float w : Probes(g, rng)) {
    const int32_t got = NearestCode(g, w);
    const std::optional<int32_t> want = BruteNearest(g, w);
    if (!want) {
      ++undecided;
      if (got < g.qmin || got > g.qmax) ADD_FAILURE() << what << ": w " << w << " gave code " << got << " out of range";
      continue;
    }
    if (got != *want && failures++ < 5) {
      ADD_FAILURE() << what << ": scale " << g.scale << " offset " << g.offset << " w " << w << " (0x"
                    << std::hex << std::bit_cast<uint32_t>(w) << std::dec << "): NearestCode " << got
                    << " (value " << GridValue(g, got) << "), brute force " << *want << " (value "
                    << GridValue(g, *want) << ")";
    }
  }
  if (NearestCode(g, NAN) != CodeNearestZero(g)) ADD_FAILURE() << what << ": NaN w";
  return undecided;
}

TEST_P(GgmlGridTest, NearestCodeIsBruteForceArgmin) {
  const DType type = GetParam().type;
  const uint32_t seed = Seed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed << " (rerun with --gtest_random_seed=" << seed << ")");
  const int64_t be = Traits(type).block_elems, bb = Traits(type).block_bytes;
  std::mt19937 rng(seed ^ 0xa4617);
  std::uniform_int_distribution<int64_t> element(0, kRow - 1);
  int grids = 0, undecided = 0;
  for (const EncodedRow& row : QuantizedRows(type, seed)) {
    for (int k = 0; k < 24; ++k) {
      const int64_t j = element(rng);
      const ElementGrid g = GridOf(type, row.bytes.data() + (j / be) * bb, j % be);
      undecided += CheckNearest(g, rng, row.what + " element " + std::to_string(j));
      ++grids;
    }
  }
  // The long-double oracle decides nearly every probe of real grids (a rounded distance is
  // skipped); a grid has about 30 probes.
  EXPECT_LT(undecided, grids) << "the oracle could not decide " << undecided << " probes";
  // Random bytes (scales from 2^-133 to 2^127, Inf, NaN): the oracle where it decides, and a code
  // in range always.
  for (const EncodedRow& row : RandomByteRows(type, seed + 3)) {
    for (int64_t j = 0; j < kRow; j += 7) {
      const ElementGrid g = GridOf(type, row.bytes.data() + (j / be) * bb, j % be);
      if (std::isfinite(g.scale) && std::isfinite(g.offset)) {
        CheckNearest(g, rng, row.what + " element " + std::to_string(j));
      } else {
        for (float w : {0.0f, 1.0f, -1e30f, INFINITY, NAN}) {
          const int32_t q = NearestCode(g, w);
          EXPECT_TRUE(q >= g.qmin && q <= g.qmax) << row.what << " element " << j << " w " << w;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllBlockTypes, GgmlGridTest, ::testing::ValuesIn(kTypes), CaseName);

// ---- hand-made grids -----------------------------------------------------------------------------

TEST(GgmlGrid, HasGridExactlyForTheBlockTypes) {
  for (int t = 0; t < static_cast<int>(DType::kCount); ++t) {
    const DType type = static_cast<DType>(t);
    const bool listed = std::any_of(std::begin(kTypes), std::end(kTypes), [&](const TypeCase& c) { return c.type == type; });
    EXPECT_EQ(HasGrid(type), listed) << Name(type);
  }
}

TEST(GgmlGrid, TiesGoToTheSmallerMagnitudeCode) {
  const ElementGrid q4_0 = {.scale = 1.0f, .offset = -0.0f, .qmin = -8, .qmax = 7};
  EXPECT_EQ(NearestCode(q4_0, 0.5f), 0);
  EXPECT_EQ(NearestCode(q4_0, -0.5f), 0);
  EXPECT_EQ(NearestCode(q4_0, 2.5f), 2);
  EXPECT_EQ(NearestCode(q4_0, -7.5f), -7);
  EXPECT_EQ(NearestCode(q4_0, -100.0f), -8);
  EXPECT_EQ(NearestCode(q4_0, INFINITY), 7);
  const ElementGrid negative = {.scale = -0.25f, .offset = -0.0f, .qmin = -8, .qmax = 7};
  EXPECT_EQ(NearestCode(negative, 1.0f), -4);
  EXPECT_EQ(NearestCode(negative, 100.0f), -8);
  EXPECT_EQ(NearestCode(negative, -INFINITY), 7);
  // MXFP4: code 8 (-0) has code 0's value; the first index wins.
  const ElementGrid mxfp4 = {.scale = 0.5f, .offset = -0.0f, .qmin = 0, .qmax = 15, .table = kMXFP4Values};
  EXPECT_EQ(NearestCode(mxfp4, 0.0f), 0);
  EXPECT_EQ(NearestCode(mxfp4, -0.1f), 0);
  EXPECT_EQ(NearestCode(mxfp4, -0.25f), 0);  // midway between 0 and -0.5 (code 9)
  EXPECT_EQ(NearestCode(mxfp4, -0.3f), 9);
  EXPECT_EQ(NearestCode(mxfp4, 100.0f), 7);
}

TEST(GgmlGrid, NearestCodeOnUnevenAffineGrids) {
  // |offset| >> scale: fl(scale * q + offset) merges runs of codes; ties inside a run go to the
  // smallest |q|, which may lie several codes from the rounded real solution. (CheckNearest
  // returns the probes its oracle could not decide: none here.)
  std::mt19937 rng(1234);
  for (float offset : {1000.0f, -1000.0f, 3e5f}) {
    for (float scale : {1e-5f, -1e-5f, 3e-4f, 1e-9f}) {
      for (int32_t qmin : {-32, 0}) {
        const ElementGrid g = {.scale = scale, .offset = offset, .qmin = qmin, .qmax = qmin + 63};
        EXPECT_EQ(CheckNearest(g, rng, "offset " + std::to_string(offset)), 0);
      }
    }
  }
  // Steps near the offset's ulp: the float values are unevenly spaced, and the code nearest to
  // the rounded real solution is often not the nearest float value.
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  for (int k = 0; k < 400; ++k) {
    const float offset = (unit(rng) < 0.5f ? -1.0f : 1.0f) * std::exp2(-20.0f + 40.0f * unit(rng));
    const float ulp = std::nextafter(std::fabs(offset), INFINITY) - std::fabs(offset);
    const float scale = (unit(rng) < 0.5f ? -1.0f : 1.0f) * ulp * std::exp2(-2.0f + 4.0f * unit(rng));
    const int32_t qmin = unit(rng) < 0.5f ? -16 : 0;
    const ElementGrid g = {.scale = scale, .offset = offset, .qmin = qmin, .qmax = qmin + 31};
    EXPECT_EQ(CheckNearest(g, rng, "offset " + std::to_string(offset)), 0);
  }
  // Any scale and offset: float rounding of scale * q + offset moves midpoints by an ulp, so the
  // rounded real solution is not always the nearest code.
  for (int k = 0; k < 2000; ++k) {
    const float offset = (unit(rng) < 0.3f ? 0.0f : 1.0f) * (unit(rng) < 0.5f ? -1.0f : 1.0f) *
                         std::exp2(-20.0f + 40.0f * unit(rng));
    const float scale = (unit(rng) < 0.5f ? -1.0f : 1.0f) * std::exp2(-20.0f + 40.0f * unit(rng));
    const int32_t qmin = unit(rng) < 0.5f ? -16 : 0;
    const ElementGrid g = {.scale = scale, .offset = offset, .qmin = qmin, .qmax = qmin + 31};
    CheckNearest(g, rng, "offset " + std::to_string(offset));
  }
  const ElementGrid flat = {.scale = 0.0f, .offset = 2.0f, .qmin = -4, .qmax = 3};
  EXPECT_EQ(NearestCode(flat, 5.0f), 0);
}

TEST(GgmlGrid, CodesOfAHandMadeQ8_0Block) {
  BlockQ8_0 block{};
  block.d = 0x3C00;  // 1.0
  for (int j = 0; j < kQK; ++j) block.qs[j] = static_cast<int8_t>(j * 8 - 127);
  auto* bytes = reinterpret_cast<uint8_t*>(&block);
  EXPECT_EQ(CodeOf(DType::kQ8_0, bytes, 0), -127);
  EXPECT_EQ(CodeOf(DType::kQ8_0, bytes, 31), 121);
  SetCode(DType::kQ8_0, bytes, 5, -100);
  EXPECT_EQ(block.qs[5], -100);
  EXPECT_EQ(GridValue(GridOf(DType::kQ8_0, bytes, 5), -100), -100.0f);
  const ElementGrid g = GridOf(DType::kQ8_0, bytes, 5);
  EXPECT_EQ(g.qmin, -127);
  EXPECT_EQ(g.qmax, 127);
}

}  // namespace
}  // namespace quantc::kernels::ggml_quants
