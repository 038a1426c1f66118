// Hadamard transforms (lib/kernels/hadamard): every base order the library builds has H·Hᵀ = m·I
// exactly (integer arithmetic); every size the rotation passes need has a plan; the fast transform
// equals the dense product written entry by entry from the Kronecker definition
// (H_n[a·m + b][a'·m + b'] = (-1)^popcount(a & a') · H_m[b][b'], over sqrt(n)); norms are kept;
// the random ±1 diagonal is applied first; unsupported sizes are clear errors naming the size.
#include <bit>
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "lib/kernels/hadamard/hadamard.h"

namespace quantc::kernels::hadamard {
namespace {

TEST(Hadamard, BaseMatricesAreExactlyOrthogonal) {
  for (int64_t m : {1, 12, 20, 24, 28, 36, 40, 52, 60, 108, 140, 148}) {
    const std::vector<int8_t> h = BaseMatrix(m);
    ASSERT_EQ(static_cast<int64_t>(h.size()), m * m) << "order " << m;
    for (int8_t v : h) ASSERT_TRUE(v == 1 || v == -1) << "order " << m;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < m; ++j) {
        int64_t dot = 0;
        for (int64_t k = 0; k < m; ++k) dot += h[i * m + k] * h[j * m + k];
        ASSERT_EQ(dot, i == j ? m : 0) << "order " << m << " rows " << i << ", " << j;
      }
    }
  }
}

TEST(Hadamard, OrdersNotBuiltAreClearErrors) {
  EXPECT_TRUE(BaseMatrix(156).empty());
  EXPECT_TRUE(BaseMatrix(172).empty());
  auto plan = MakePlan(156 * 4);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(std::string(plan.status().message()).find("624"), std::string::npos) << plan.status();
  EXPECT_FALSE(MakePlan(3 * 5).ok());
  EXPECT_FALSE(MakePlan(0).ok());
}

// y = H_n x / sqrt(n) from the definition, in double.
std::vector<double> Dense(const Plan& p, const std::vector<float>& x) {
  const int64_t n = p.n, m = p.m;
  std::vector<double> y(n, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t a = i / m, b = i % m;
    double s = 0;
    for (int64_t j = 0; j < n; ++j) {
      const int64_t a2 = j / m, b2 = j % m;
      const int sign = (std::popcount(static_cast<uint64_t>(a & a2)) % 2) ? -1 : 1;
      s += sign * p.base[b * m + b2] * double(x[j]);
    }
    y[i] = s / std::sqrt(double(n));
  }
  return y;
}

TEST(Hadamard, EverySizeNeededHasAPlanAndTheFastTransformIsTheDenseProduct) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t n : {64, 128, 384, 1120, 1536, 2048, 3584, 4096, 7168, 8960, 14336, 18432, 18944}) {
    auto plan = MakePlan(n);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->pow2 * plan->m, n);
    std::vector<float> x(n);
    for (float& v : x) v = normal(rng);
    std::vector<float> y = x;
    Apply(*plan, y.data(), 1);
    const std::vector<double> want = Dense(*plan, x);
    double err = 0, norm_x = 0, norm_y = 0;
    for (int64_t i = 0; i < n; ++i) {
      err = std::max(err, std::fabs(y[i] - want[i]));
      norm_x += double(x[i]) * x[i], norm_y += double(y[i]) * y[i];
    }
    EXPECT_LT(err, 1e-4) << "n = " << n << " (" << plan->pow2 << " x " << plan->m << ")";
    EXPECT_NEAR(norm_y, norm_x, 1e-4 * norm_x) << "n = " << n;
  }
}

TEST(Hadamard, RandomSignsComeFirst) {
  const int64_t n = 1120;
  auto plan = MakePlan(n);
  ASSERT_TRUE(plan.ok());
  const std::vector<int8_t> d = RandomSigns(n, 42);
  EXPECT_EQ(d, RandomSigns(n, 42));
  EXPECT_NE(d, RandomSigns(n, 43));
  int64_t plus = 0;
  for (int8_t s : d) {
    ASSERT_TRUE(s == 1 || s == -1);
    plus += s == 1;
  }
  EXPECT_GT(plus, n / 3);
  EXPECT_LT(plus, 2 * n / 3);
  std::vector<float> x(2 * n), dx(2 * n);
  for (int64_t i = 0; i < 2 * n; ++i) x[i] = std::sin(0.1f * i), dx[i] = x[i] * d[i % n];
  Apply(*plan, x.data(), 2, d.data());
  Apply(*plan, dx.data(), 2);
  EXPECT_EQ(x, dx);
}

}  // namespace
}  // namespace quantc::kernels::hadamard
