// GPTQ's solver (lib/kernels/gptq) against a float64 transcription of IST-DASLab/gptq's
// fasterquant written here: Cholesky, cholesky_inverse, upper Cholesky, the 128-column lazy blocks
// with the in-block updates, static groups and act-order. Both drive the same quantizer (GPTQ's
// quant.py int4 asymmetric grid, or an FP4 grid), so any difference comes from the solver. The FP4
// quantizer (fp4_quantizer.h) is also checked against round-to-nearest (fp4::QuantizeRow).
#include "lib/kernels/gptq/gptq.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "lib/kernels/fp4/fp4.h"
#include "lib/kernels/gptq/fp4_quantizer.h"

namespace quantc::kernels::gptq {
namespace {

// quant.py's Quantizer for one group: range forced to contain 0, asymmetric, maxq = 15.
struct AffineGroup {
  float scale = 1, zero = 0;
};
AffineGroup FitAffine(const float* w, int64_t n) {
  float lo = 0, hi = 0;
  for (int64_t i = 0; i < n; ++i) lo = std::min(lo, w[i]), hi = std::max(hi, w[i]);
  if (lo == 0 && hi == 0) lo = -1, hi = 1;
  AffineGroup g;
  g.scale = (hi - lo) / 15.0f;
  g.zero = std::nearbyint(-lo / g.scale);
  return g;
}
float RoundAffine(const AffineGroup& g, float w) {
  const float q = std::clamp(std::nearbyint(w / g.scale) + g.zero, 0.0f, 15.0f);
  return g.scale * (q - g.zero);
}

class Int4Quantizer final : public RowQuantizer {
 public:
  Int4Quantizer(int64_t rows, int64_t cols, int64_t group)
      : cols_(cols), group_(group), params_(static_cast<size_t>(rows * ((cols + group - 1) / group))) {}
  int64_t group_size() const override { return group_; }
  void FitGroup(int64_t row, int64_t group, const float* w, const float*, int64_t n) override {
    params_[Index(row, group)] = FitAffine(w, n);
  }
  float Quantize(int64_t row, int64_t col, float w) override { return RoundAffine(params_[Index(row, col / group_)], w); }

 private:
  size_t Index(int64_t row, int64_t group) const { return static_cast<size_t>(row * ((cols_ + group_ - 1) / group_) + group); }
  int64_t cols_, group_;
  std::vector<AffineGroup> params_;
};

using Matrix = std::vector<double>;  // row-major n x n

// Lower Cholesky factor of a symmetric positive definite matrix.
Matrix Cholesky(const Matrix& a, int64_t n) {
  Matrix l(a.size(), 0.0);
  for (int64_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (int64_t k = 0; k < j; ++k) d -= l[j * n + k] * l[j * n + k];
    l[j * n + j] = std::sqrt(d);
    for (int64_t i = j + 1; i < n; ++i) {
      double s = a[i * n + j];
      for (int64_t k = 0; k < j; ++k) s -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = s / l[j * n + j];
    }
  }
  return l;
}

// (L L^T)^-1 from L (torch.cholesky_inverse): solve L Y = I, then L^T X = Y.
Matrix CholeskyInverse(const Matrix& l, int64_t n) {
  Matrix x(l.size(), 0.0);
  for (int64_t c = 0; c < n; ++c) {
    std::vector<double> y(static_cast<size_t>(n), 0.0);
    for (int64_t i = 0; i < n; ++i) {
      double s = i == c ? 1.0 : 0.0;
      for (int64_t k = 0; k < i; ++k) s -= l[i * n + k] * y[k];
      y[i] = s / l[i * n + i];
    }
    for (int64_t i = n - 1; i >= 0; --i) {
      double s = y[i];
      for (int64_t k = i + 1; k < n; ++k) s -= l[k * n + i] * x[k * n + c];
      x[i * n + c] = s / l[i * n + i];
    }
  }
  return x;
}

struct Reference {
  std::vector<float> q;
  double loss = 0;
};

// fasterquant(blocksize=128, percdamp, groupsize, actorder, static_groups), in float64, driving
// `quantizer` (groups of quantizer.group_size() columns; importance: the undamped H diagonal, as
// gptq.cc passes it; quant.py ignores it).
Reference ReferenceGptq(const std::vector<float>& w_in, int64_t rows, int64_t cols, const std::vector<float>& h_in,
                        RowQuantizer& quantizer, const Options& o) {
  std::vector<double> w(w_in.begin(), w_in.end()), h(h_in.begin(), h_in.end());
  const int64_t group = quantizer.group_size();
  std::vector<float> importance(static_cast<size_t>(cols));
  for (int64_t c = 0; c < cols; ++c) importance[c] = h_in[c * cols + c];
  for (int64_t c = 0; c < cols; ++c) {
    if (h[c * cols + c] == 0) {
      h[c * cols + c] = 1;
      for (int64_t r = 0; r < rows; ++r) w[r * cols + c] = 0;
    }
  }
  const int64_t groups = (cols + group - 1) / group;
  const bool static_fit = group == cols || o.static_groups || o.act_order;
  std::vector<float> wf(static_cast<size_t>(group));
  auto fit = [&](int64_t r, int64_t g, const std::vector<double>& src, int64_t c0) {
    const int64_t n = std::min(group, cols - c0);
    for (int64_t i = 0; i < n; ++i) wf[i] = static_cast<float>(src[r * cols + c0 + i]);
    quantizer.FitGroup(r, g, wf.data(), importance.data() + c0, n);
  };
  if (static_fit) {
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t g = 0; g < groups; ++g) fit(r, g, w, g * group);
    }
  }
  std::vector<int64_t> perm(static_cast<size_t>(cols));
  std::iota(perm.begin(), perm.end(), 0);
  if (o.act_order) {
    std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return h[a * cols + a] > h[b * cols + b]; });
  }
  std::vector<double> wp(w.size()), hp(h.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < cols; ++i) wp[r * cols + i] = w[r * cols + perm[i]];
  }
  for (int64_t i = 0; i < cols; ++i) {
    for (int64_t j = 0; j < cols; ++j) hp[i * cols + j] = h[perm[i] * cols + perm[j]];
  }
  double mean = 0;
  for (int64_t i = 0; i < cols; ++i) mean += hp[i * cols + i] / cols;
  for (int64_t i = 0; i < cols; ++i) hp[i * cols + i] += o.damp * mean;
  const Matrix hinv = CholeskyInverse(Cholesky(hp, cols), cols);
  const Matrix lower = Cholesky(hinv, cols);  // U = lower^T
  auto u = [&](int64_t i, int64_t j) { return lower[j * cols + i]; };

  Reference ref;
  std::vector<double> q(w.size(), 0.0);
  const int64_t block = 128;
  for (int64_t i1 = 0; i1 < cols; i1 += block) {
    const int64_t i2 = std::min(cols, i1 + block);
    std::vector<double> err(static_cast<size_t>(rows * (i2 - i1)));
    for (int64_t i = i1; i < i2; ++i) {
      if (!static_fit && i % group == 0) {
        for (int64_t r = 0; r < rows; ++r) fit(r, i / group, wp, i);  // W at block start == live (aligned groups)
      }
      for (int64_t r = 0; r < rows; ++r) {
        const double x = wp[r * cols + i];
        const double qv = quantizer.Quantize(r, perm[i], static_cast<float>(x));
        q[r * cols + i] = qv;
        ref.loss += (x - qv) * (x - qv) / (u(i, i) * u(i, i)) / 2;
        const double e = (x - qv) / u(i, i);
        for (int64_t j = i; j < i2; ++j) wp[r * cols + j] -= e * u(i, j);
        err[r * (i2 - i1) + (i - i1)] = e;
      }
    }
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = i2; j < cols; ++j) {
        double s = 0;
        for (int64_t k = i1; k < i2; ++k) s += err[r * (i2 - i1) + (k - i1)] * u(k, j);
        wp[r * cols + j] -= s;
      }
    }
  }
  ref.q.resize(w.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < cols; ++i) ref.q[r * cols + perm[i]] = static_cast<float>(q[r * cols + i]);
  }
  return ref;
}

struct Problem {
  int64_t rows, cols;
  std::vector<float> w, x, h;  // x [samples, cols]
  int64_t samples;
};

// Correlated inputs with a few strong channels and one dead channel: what makes GPTQ matter.
Problem MakeProblem(int64_t rows, int64_t cols, int64_t samples, uint32_t seed) {
  Problem p{rows, cols, {}, {}, {}, samples};
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  p.w.resize(static_cast<size_t>(rows * cols));
  for (float& v : p.w) v = normal(rng) * 0.05f;
  p.x.resize(static_cast<size_t>(samples * cols));
  std::vector<float> shared(8);
  for (int64_t t = 0; t < samples; ++t) {
    for (float& s : shared) s = normal(rng);
    for (int64_t c = 0; c < cols; ++c) {
      float v = normal(rng) + 0.8f * shared[c % 8];
      if (c % 37 == 5) v *= 6;   // outlier channels
      if (c == cols / 3) v = 0;  // a dead input
      p.x[t * cols + c] = v;
    }
  }
  HessianAccumulator acc(cols);
  for (int64_t t = 0; t < samples; t += 100) acc.Add(p.x.data() + t * cols, std::min<int64_t>(100, samples - t));
  p.h.assign(acc.data(), acc.data() + cols * cols);
  return p;
}

// ||(W - Q) X^T||^2: the output error GPTQ minimizes.
double OutputError(const Problem& p, const std::vector<float>& q) {
  double total = 0;
  for (int64_t r = 0; r < p.rows; ++r) {
    for (int64_t t = 0; t < p.samples; ++t) {
      double s = 0;
      for (int64_t c = 0; c < p.cols; ++c) s += (double(p.w[r * p.cols + c]) - q[r * p.cols + c]) * p.x[t * p.cols + c];
      total += s * s;
    }
  }
  return total;
}

struct Case {
  int64_t group;
  bool act_order, static_groups;
};

class GptqVsReference : public ::testing::TestWithParam<Case> {};

TEST_P(GptqVsReference, MatchesFloat64Transcription) {
  const Case c = GetParam();
  const Problem p = MakeProblem(48, 384, 600, 7);
  const int64_t group = c.group == 0 ? p.cols : c.group;
  Options o;
  o.act_order = c.act_order;
  o.static_groups = c.static_groups;
  std::vector<float> q = p.w;
  Int4Quantizer quantizer(p.rows, p.cols, group);
  absl::StatusOr<Result> result = Quantize(q.data(), p.rows, p.cols, p.h.data(), quantizer, o);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->dead_columns, 1);
  Int4Quantizer ref_quantizer(p.rows, p.cols, group);
  const Reference ref = ReferenceGptq(p.w, p.rows, p.cols, p.h, ref_quantizer, o);

  // FP32 against FP64: a weight near a rounding boundary may go the other way and the difference
  // then propagates along its row, so compare the choices and the objective, not bits.
  int64_t same = 0;
  for (size_t i = 0; i < q.size(); ++i) same += std::abs(q[i] - ref.q[i]) <= 1e-6f * std::max(1.0f, std::abs(ref.q[i]));
  EXPECT_GE(static_cast<double>(same) / q.size(), 0.99);
  EXPECT_NEAR(result->loss, ref.loss, 0.01 * ref.loss);
  const double err_kernel = OutputError(p, q), err_ref = OutputError(p, ref.q);
  EXPECT_NEAR(err_kernel, err_ref, 0.01 * err_ref);
  for (int64_t r = 0; r < p.rows; ++r) EXPECT_EQ(q[r * p.cols + p.cols / 3], 0.0f);  // dead input zeroed

  // And GPTQ must beat round-to-nearest on the output error by a wide margin on these inputs.
  std::vector<float> rtn = p.w;
  Int4Quantizer plain(p.rows, p.cols, group);
  for (int64_t r = 0; r < p.rows; ++r) {
    for (int64_t g = 0; g * group < p.cols; ++g) {
      plain.FitGroup(r, g, &p.w[r * p.cols + g * group], nullptr, std::min(group, p.cols - g * group));
    }
    for (int64_t col = 0; col < p.cols; ++col) rtn[r * p.cols + col] = plain.Quantize(r, col, p.w[r * p.cols + col]);
    rtn[r * p.cols + p.cols / 3] = 0;
  }
  EXPECT_LT(err_kernel, 0.7 * OutputError(p, rtn));
}

INSTANTIATE_TEST_SUITE_P(Schemes, GptqVsReference,
                         ::testing::Values(Case{0, false, false}, Case{0, true, false}, Case{128, false, false},
                                           Case{128, true, false}, Case{32, false, true}, Case{32, true, true}),
                         [](const auto& info) {
                           const Case& c = info.param;
                           return std::string(c.group == 0 ? "PerChannel" : "Group" + std::to_string(c.group)) +
                                  (c.act_order ? "ActOrder" : "") + (c.static_groups ? "Static" : "");
                         });

// With H = I there is nothing to compensate: GPTQ is round-to-nearest, exactly.
TEST(Gptq, IdentityHessianIsRoundToNearest) {
  const int64_t rows = 8, cols = 96;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (float& v : w) v = normal(rng);
  std::vector<float> h(static_cast<size_t>(cols * cols), 0.0f);
  for (int64_t c = 0; c < cols; ++c) h[c * cols + c] = 1;
  std::vector<float> q = w;
  Int4Quantizer quantizer(rows, cols, 32);
  ASSERT_TRUE(Quantize(q.data(), rows, cols, h.data(), quantizer, Options{}).ok());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < cols / 32; ++g) {
      const AffineGroup a = FitAffine(&w[r * cols + g * 32], 32);
      for (int64_t i = 0; i < 32; ++i) {
        const int64_t c = g * 32 + i;
        EXPECT_EQ(q[r * cols + c], RoundAffine(a, w[r * cols + c])) << r << "," << c;
      }
    }
  }
}

TEST(Gptq, HessianIsTwiceTheMeanOuterProduct) {
  const int64_t cols = 5, n = 7;
  std::vector<float> x(static_cast<size_t>(n * cols));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 11) - 4.5f;
  HessianAccumulator acc(cols);
  acc.Add(x.data(), 3);
  acc.Add(x.data() + 3 * cols, 4);
  EXPECT_EQ(acc.samples(), n);
  for (int64_t i = 0; i < cols; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      double s = 0;
      for (int64_t t = 0; t < n; ++t) s += double(x[t * cols + i]) * x[t * cols + j];
      EXPECT_NEAR(acc.data()[i * cols + j], 2 * s / n, 1e-5 * std::max(1.0, std::abs(2 * s / n)));
    }
  }
}

// RetargetToOriginal without damping is the least-squares fit of Q X^T to W X0^T: checked against
// the normal equations solved in float64 here (Gauss-Jordan on X^T X).
TEST(Gptq, RetargetIsTheLeastSquaresFitToTheOriginalOutputs) {
  const int64_t cols = 6, rows = 3, n = 200;
  std::mt19937 rng(7);
  std::normal_distribution<double> normal;
  std::vector<float> x(static_cast<size_t>(n * cols)), x0(x.size()), w(static_cast<size_t>(rows * cols));
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = static_cast<float>(normal(rng) * (1 + i % cols));
    x0[i] = x[i] + static_cast<float>(0.3 * normal(rng));
  }
  for (float& v : w) v = static_cast<float>(normal(rng));
  HessianAccumulator h(cols);
  CrossAccumulator d(cols);
  h.Add(x.data(), 120);
  h.Add(x.data() + 120 * cols, n - 120);
  d.Add(x0.data(), x.data(), 120);
  d.Add(x0.data() + 120 * cols, x.data() + 120 * cols, n - 120);
  EXPECT_EQ(d.samples(), n);
  std::vector<float> fitted = w;
  ASSERT_TRUE(RetargetToOriginal(fitted.data(), rows, cols, h.data(), d.Finish().data(), 0.0).ok());

  // [X^T X | X^T X0 W^T], reduced to [I | W*^T].
  std::vector<std::vector<double>> a(static_cast<size_t>(cols), std::vector<double>(static_cast<size_t>(cols + rows), 0.0));
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t i = 0; i < cols; ++i) {
      for (int64_t j = 0; j < cols; ++j) a[i][j] += double(x[t * cols + i]) * x[t * cols + j];
      for (int64_t r = 0; r < rows; ++r) {
        double y0 = 0;
        for (int64_t j = 0; j < cols; ++j) y0 += double(x0[t * cols + j]) * w[r * cols + j];
        a[i][cols + r] += double(x[t * cols + i]) * y0;
      }
    }
  }
  for (int64_t p = 0; p < cols; ++p) {
    const double pivot = a[p][p];
    for (double& v : a[p]) v /= pivot;
    for (int64_t i = 0; i < cols; ++i) {
      if (i == p) continue;
      const double f = a[i][p];
      for (int64_t j = 0; j < cols + rows; ++j) a[i][j] -= f * a[p][j];
    }
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) EXPECT_NEAR(fitted[r * cols + c], a[c][cols + r], 2e-4) << r << "," << c;
  }
  // The same streams leave the weights as they are, damped or not.
  CrossAccumulator same(cols);
  same.Add(x.data(), x.data(), n);
  fitted = w;
  ASSERT_TRUE(RetargetToOriginal(fitted.data(), rows, cols, h.data(), same.Finish().data(), 0.01).ok());
  EXPECT_EQ(fitted, w);
}

TEST(Gptq, IndefiniteHessianIsAnError) {
  const int64_t cols = 4;
  std::vector<float> h = {1, 2, 0, 0, 2, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
  std::vector<float> w(static_cast<size_t>(cols), 0.5f);
  Int4Quantizer quantizer(1, cols, cols);
  Options o;
  o.damp = 0;
  absl::StatusOr<Result> r = Quantize(w.data(), 1, cols, h.data(), quantizer, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("positive definite"), std::string::npos);
}

// ---- FP4 (MXFP4 / NVFP4) ----

// The FP4 grid with codes chosen in float64 (nearest E2M1 value to w / scale, ties to the even
// code, saturating at ±6) and the family's scale bytes; unpacked codes. The reference GPTQ drives it.
class Fp4Grid64 final : public RowQuantizer {
 public:
  Fp4Grid64(fp4::Fp4Format f, fp4::ScaleRule rule, float global, int64_t rows, int64_t cols)
      : codes(static_cast<size_t>(rows * cols)), scales(static_cast<size_t>(rows * cols / fp4::GroupSize(f))),
        f_(f), rule_(rule), global_(global), cols_(cols), group_(fp4::GroupSize(f)) {}
  int64_t group_size() const override { return group_; }
  void FitGroup(int64_t row, int64_t group, const float* w, const float* importance, int64_t n) override {
    scales[row * (cols_ / group_) + group] = fp4::FitGroupScale(f_, rule_, w, n, global_, importance);
  }
  float Quantize(int64_t row, int64_t col, float w) override {
    static constexpr double kValues[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
    const double scale = fp4::GroupScale(f_, scales[row * (cols_ / group_) + col / group_], global_);
    const double a = std::abs(static_cast<double>(w)) / scale;
    int k = 0;
    for (int i = 1; i < 8; ++i) {
      const double d = std::abs(a - kValues[i]), best = std::abs(a - kValues[k]);
      if (d < best || (d == best && i % 2 == 0)) k = i;
    }
    codes[row * cols_ + col] = static_cast<uint8_t>(k | (std::signbit(w) ? 8 : 0));
    return static_cast<float>((std::signbit(w) ? -1 : 1) * kValues[k] * scale);
  }
  std::vector<uint8_t> codes, scales;

 private:
  fp4::Fp4Format f_;
  fp4::ScaleRule rule_;
  float global_;
  int64_t cols_, group_;
};

std::vector<uint8_t> Unpack(const std::vector<uint8_t>& packed) {
  std::vector<uint8_t> codes(packed.size() * 2);
  for (size_t j = 0; j < packed.size(); ++j) codes[2 * j] = packed[j] & 0xF, codes[2 * j + 1] = packed[j] >> 4;
  return codes;
}

float TensorGlobal(fp4::Fp4Format f, const std::vector<float>& w) {
  float amax = 0;
  for (float v : w) amax = std::max(amax, std::abs(v));
  return f == fp4::Fp4Format::kNv ? fp4::NvGlobalScale(amax) : 1.0f;
}

// Round-to-nearest with the family's reference codec (importance: H's diagonal, for kMse).
struct Fp4Rtn {
  std::vector<uint8_t> codes, scales;  // packed, as the family stores them
  std::vector<float> q;
};
Fp4Rtn RoundToNearest(fp4::Fp4Format f, fp4::ScaleRule rule, float global, const std::vector<float>& w, int64_t rows,
                      int64_t cols, const std::vector<float>& h) {
  const int64_t g = fp4::GroupSize(f);
  std::vector<float> importance(static_cast<size_t>(cols));
  for (int64_t c = 0; c < cols; ++c) importance[c] = h[c * cols + c];
  Fp4Rtn out{std::vector<uint8_t>(static_cast<size_t>(rows * cols / 2)),
             std::vector<uint8_t>(static_cast<size_t>(rows * cols / g)), std::vector<float>(w.size())};
  for (int64_t r = 0; r < rows; ++r) {
    fp4::QuantizeRow(f, rule, &w[r * cols], cols, global, importance.data(), &out.codes[r * cols / 2],
                     &out.scales[r * cols / g]);
    fp4::DequantizeRow(f, &out.codes[r * cols / 2], &out.scales[r * cols / g], cols, global, &out.q[r * cols]);
  }
  return out;
}

// tr((W - Q) H (W - Q)^T), in float64: the layer loss GPTQ minimizes.
double LayerLoss(const std::vector<float>& w, const std::vector<float>& q, const std::vector<float>& h, int64_t rows,
                 int64_t cols) {
  double total = 0;
  std::vector<double> d(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) d[c] = double(w[r * cols + c]) - q[r * cols + c];
    for (int64_t i = 0; i < cols; ++i) {
      double s = 0;
      for (int64_t j = 0; j < cols; ++j) s += h[i * cols + j] * d[j];
      total += d[i] * s;
    }
  }
  return total;
}

struct Fp4Case {
  fp4::Fp4Format format;
  fp4::ScaleRule rule;
};

class Fp4Gptq : public ::testing::TestWithParam<Fp4Case> {};

// A diagonal Hessian has no cross terms: nothing to compensate, so GPTQ is the family's RTN, byte
// for byte (kMse weighs its scale search by the same diagonal), in either column order.
TEST_P(Fp4Gptq, DiagonalHessianIsRoundToNearest) {
  const Fp4Case c = GetParam();
  const int64_t rows = 8, cols = 320;  // 10 MX groups, 20 NV groups; more than one lazy block
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> uniform(0.1f, 4.0f);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (size_t i = 0; i < w.size(); ++i) w[i] = normal(rng) * (i % 53 == 0 ? 8.0f : 1.0f);
  std::vector<float> h(static_cast<size_t>(cols * cols), 0.0f);
  for (int64_t i = 0; i < cols; ++i) h[i * cols + i] = uniform(rng);
  const float global = TensorGlobal(c.format, w);
  const Fp4Rtn rtn = RoundToNearest(c.format, c.rule, global, w, rows, cols, h);
  for (bool act_order : {false, true}) {
    SCOPED_TRACE(act_order ? "act-order" : "in order");
    Options o;
    o.act_order = act_order;
    std::vector<float> q = w;
    Fp4RowQuantizer quantizer(c.format, c.rule, global, rows, cols);
    ASSERT_TRUE(Quantize(q.data(), rows, cols, h.data(), quantizer, o).ok());
    EXPECT_EQ(quantizer.codes(), rtn.codes);
    EXPECT_EQ(quantizer.scales(), rtn.scales);
    EXPECT_EQ(q, rtn.q);  // the values Quantize returned are the family's dequantized ones
  }
}

// Correlated inputs: GPTQ's codes cost less layer loss than RTN's under the same scale rule.
TEST_P(Fp4Gptq, BeatsRoundToNearestOnLayerLoss) {
  const Fp4Case c = GetParam();
  const Problem p = MakeProblem(48, 384, 600, 7);
  const float global = TensorGlobal(c.format, p.w);
  std::vector<float> q = p.w;
  Fp4RowQuantizer quantizer(c.format, c.rule, global, p.rows, p.cols);
  ASSERT_TRUE(Quantize(q.data(), p.rows, p.cols, p.h.data(), quantizer, Options{}).ok());
  std::vector<float> dequant(q.size());
  for (int64_t r = 0; r < p.rows; ++r) {
    fp4::DequantizeRow(c.format, &quantizer.codes()[r * p.cols / 2],
                       &quantizer.scales()[r * p.cols / fp4::GroupSize(c.format)], p.cols, global, &dequant[r * p.cols]);
  }
  EXPECT_EQ(dequant, q);  // the codes and scales decode to what the solve left in w
  const Fp4Rtn rtn = RoundToNearest(c.format, c.rule, global, p.w, p.rows, p.cols, p.h);
  const double gptq = LayerLoss(p.w, q, p.h, p.rows, p.cols), plain = LayerLoss(p.w, rtn.q, p.h, p.rows, p.cols);
  EXPECT_LT(gptq, 0.8 * plain) << "gptq " << gptq << " rtn " << plain;
}

// The FP32 solver with Fp4RowQuantizer against the float64 transcription with the float64 grid.
TEST_P(Fp4Gptq, MatchesFloat64Transcription) {
  const Fp4Case c = GetParam();
  const Problem p = MakeProblem(48, 384, 600, 7);
  const float global = TensorGlobal(c.format, p.w);
  for (bool act_order : {false, true}) {
    SCOPED_TRACE(act_order ? "act-order" : "in order");
    Options o;
    o.act_order = act_order;
    std::vector<float> q = p.w;
    Fp4RowQuantizer quantizer(c.format, c.rule, global, p.rows, p.cols);
    absl::StatusOr<Result> result = Quantize(q.data(), p.rows, p.cols, p.h.data(), quantizer, o);
    ASSERT_TRUE(result.ok()) << result.status();
    Fp4Grid64 grid(c.format, c.rule, global, p.rows, p.cols);
    const Reference ref = ReferenceGptq(p.w, p.rows, p.cols, p.h, grid, o);
    // As for int4: a weight at a rounding boundary may go the other way in FP32, so compare choices.
    const std::vector<uint8_t> codes = Unpack(quantizer.codes());
    int64_t same_codes = 0, same_scales = 0;
    for (size_t i = 0; i < codes.size(); ++i) same_codes += codes[i] == grid.codes[i];
    for (size_t i = 0; i < grid.scales.size(); ++i) same_scales += quantizer.scales()[i] == grid.scales[i];
    EXPECT_GE(static_cast<double>(same_codes) / codes.size(), 0.99);
    EXPECT_GE(static_cast<double>(same_scales) / grid.scales.size(), 0.99);
    EXPECT_NEAR(result->loss, ref.loss, 0.01 * ref.loss);
    const double loss = LayerLoss(p.w, q, p.h, p.rows, p.cols), ref_loss = LayerLoss(p.w, ref.q, p.h, p.rows, p.cols);
    EXPECT_NEAR(loss, ref_loss, 0.01 * ref_loss);
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, Fp4Gptq,
                         ::testing::Values(Fp4Case{fp4::Fp4Format::kMx, fp4::ScaleRule::kCeil},
                                           Fp4Case{fp4::Fp4Format::kMx, fp4::ScaleRule::kReference},
                                           Fp4Case{fp4::Fp4Format::kMx, fp4::ScaleRule::kMse},
                                           Fp4Case{fp4::Fp4Format::kNv, fp4::ScaleRule::kCeil},
                                           Fp4Case{fp4::Fp4Format::kNv, fp4::ScaleRule::kReference},
                                           Fp4Case{fp4::Fp4Format::kNv, fp4::ScaleRule::kMse}),
                         [](const auto& info) {
                           return std::string(info.param.format == fp4::Fp4Format::kMx ? "Mx" : "Nv") +
                                  (info.param.rule == fp4::ScaleRule::kCeil        ? "Ceil"
                                   : info.param.rule == fp4::ScaleRule::kReference ? "Reference"
                                                                                   : "Mse");
                         });

}  // namespace
}  // namespace quantc::kernels::gptq
