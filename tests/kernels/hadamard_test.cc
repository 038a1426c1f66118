// Hadamard transforms (lib/kernels/hadamard): every base order the library builds (Paley, doubling,
// Williamson 156 and 172) has H·Hᵀ = m·I exactly (integer arithmetic); every size the rotation
// passes need, and 156 · 2^k, 172 · 2^k, has a plan; the fast transform equals the dense product
// written entry by entry from the Kronecker definition
// (H_n[a·m + b][a'·m + b'] = (-1)^popcount(a & a') · H_m[b][b'], over sqrt(n)); norms are kept;
// the random ±1 diagonal is applied first; unsupported sizes are clear errors naming the size.
#include <algorithm>
#include <bit>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "lib/kernels/hadamard/hadamard.h"

namespace quantc::kernels::hadamard {
namespace {

TEST(Hadamard, BaseMatricesAreExactlyOrthogonal) {
  for (int64_t m : {1, 12, 20, 24, 28, 36, 40, 52, 60, 108, 140, 148, 156, 172}) {
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

TEST(Hadamard, WilliamsonOrdersAreBaseOrders) {
  const std::vector<int64_t> orders = BaseOrders();
  for (int64_t m : {156, 172}) EXPECT_NE(std::find(orders.begin(), orders.end(), m), orders.end()) << m;
}

// 188 = 4 · 47: no Paley order, and no Williamson matrices of order 47 exist (Holzmann, Kharaghani,
// Tayfeh-Rezaie, "Williamson matrices up to order 59", Des. Codes Cryptogr. 46 (2008)).
TEST(Hadamard, OrdersNotBuiltAreClearErrors) {
  EXPECT_TRUE(BaseMatrix(188).empty());
  auto plan = MakePlan(188 * 4);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(std::string(plan.status().message()).find("752"), std::string::npos) << plan.status();
  EXPECT_FALSE(MakePlan(3 * 5).ok());
  EXPECT_FALSE(MakePlan(0).ok());
}

// y = H_n x / sqrt(n) from the definition, in double.
// Columns j = a2·m + b2 are visited block by block (one sign per block a2), which is the same sum.
std::vector<double> Dense(const Plan& p, const std::vector<float>& x) {
  const int64_t n = p.n, m = p.m;
  std::vector<double> y(n, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t a = i / m, b = i % m;
    const int8_t* h = p.base.data() + b * m;
    double s = 0;
    for (int64_t a2 = 0; a2 < p.pow2; ++a2) {
      const int sign = (std::popcount(static_cast<uint64_t>(a & a2)) % 2) ? -1 : 1;
      const float* xa = x.data() + a2 * m;
      double block = 0;
      for (int64_t b2 = 0; b2 < m; ++b2) block += h[b2] * double(xa[b2]);
      s += sign * block;
    }
    y[i] = s / std::sqrt(double(n));
  }
  return y;
}

TEST(Hadamard, EverySizeNeededHasAPlanAndTheFastTransformIsTheDenseProduct) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  // 156 · 2^k and 172 · 2^k use the Williamson bases (312 = 2 x 156, 1376 = 8 x 172).
  for (int64_t n : {64, 128, 156, 172, 312, 384, 1120, 1376, 1536, 2048, 3584, 4096, 7168, 8960, 14336, 18432,
                    18944}) {
    auto plan = MakePlan(n);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->pow2 * plan->m, n);
    if (n % 39 == 0 || n % 43 == 0) {
      EXPECT_EQ(plan->m, n % 39 == 0 ? 156 : 172) << "n = " << n;
    }
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
