#include "lib/kernels/hadamard/hadamard.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <string_view>

#include "lib/support/parallel.h"
#include "lib/support/strings.h"

namespace quantc::kernels::hadamard {
namespace {

// ---- GF(q) for q = p or p^2: elements a + b·α with α² = r (r a non-residue mod p) -------------

struct Field {
  int64_t p = 0, degree = 1, r = 0;
  int64_t q() const { return degree == 1 ? p : p * p; }
  // Element index e in [0, q): a = e % p, b = e / p.
  int64_t Sub(int64_t x, int64_t y) const {
    const int64_t a = ((x % p) - (y % p) + p) % p, b = ((x / p) - (y / p) + p) % p;
    return a + p * b;
  }
  int64_t Mul(int64_t x, int64_t y) const {
    const int64_t a1 = x % p, b1 = x / p, a2 = y % p, b2 = y / p;
    const int64_t a = (a1 * a2 + r * ((b1 * b2) % p)) % p, b = (a1 * b2 + a2 * b1) % p;
    return a + p * b;
  }
  // Quadratic character: 0 for 0, +1 for non-zero squares, -1 otherwise (Euler: x^((q-1)/2)).
  int Chi(int64_t x) const {
    if (x == 0) return 0;
    int64_t result = 1, base = x, e = (q() - 1) / 2;
    while (e > 0) {
      if (e & 1) result = Mul(result, base);
      base = Mul(base, base);
      e >>= 1;
    }
    return result == 1 ? 1 : -1;
  }
};

bool IsPrime(int64_t p) {
  if (p < 2) return false;
  for (int64_t d = 2; d * d <= p; ++d) {
    if (p % d == 0) return false;
  }
  return true;
}

// GF(q) when q is a prime or the square of a prime; p == 0 otherwise.
Field FieldOfOrder(int64_t q) {
  if (IsPrime(q)) return {q, 1, 0};
  const int64_t p = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(q))));
  if (p * p != q || !IsPrime(p) || p == 2) return {};
  for (int64_t r = 2; r < p; ++r) {  // a non-residue mod p makes x² - r irreducible
    bool residue = false;
    for (int64_t x = 1; x < p && !residue; ++x) residue = (x * x) % p == r;
    if (!residue) return {p, 2, r};
  }
  return {};
}

// Paley I: q ≡ 3 mod 4, H = [[1, 1ᵀ], [-1, Q + I]] with Q[i][j] = χ(j - i), order q + 1.
std::vector<int8_t> PaleyI(const Field& f) {
  const int64_t q = f.q(), n = q + 1;
  std::vector<int8_t> h(n * n);
  for (int64_t j = 0; j < n; ++j) h[j] = 1;
  for (int64_t i = 0; i < q; ++i) {
    h[(i + 1) * n] = -1;
    for (int64_t j = 0; j < q; ++j) h[(i + 1) * n + j + 1] = static_cast<int8_t>(i == j ? 1 : f.Chi(f.Sub(j, i)));
  }
  return h;
}

// Paley II: q ≡ 1 mod 4, C = [[0, 1ᵀ], [1, Q]] (symmetric conference matrix),
// H = C ⊗ [[1, 1], [1, -1]] + I ⊗ [[1, -1], [-1, -1]], order 2(q + 1).
std::vector<int8_t> PaleyII(const Field& f) {
  const int64_t q = f.q(), c = q + 1, n = 2 * c;
  auto conference = [&](int64_t i, int64_t j) -> int {
    if (i == 0 && j == 0) return 0;
    if (i == 0 || j == 0) return 1;
    return f.Chi(f.Sub(j - 1, i - 1));
  };
  std::vector<int8_t> h(n * n);
  for (int64_t i = 0; i < c; ++i) {
    for (int64_t j = 0; j < c; ++j) {
      const int v = conference(i, j);
      const int a[2][2] = {{1, 1}, {1, -1}}, b[2][2] = {{1, -1}, {-1, -1}};
      for (int di = 0; di < 2; ++di) {
        for (int dj = 0; dj < 2; ++dj) {
          h[(2 * i + di) * n + 2 * j + dj] = static_cast<int8_t>(v * a[di][dj] + (i == j ? b[di][dj] : 0));
        }
      }
    }
  }
  return h;
}

// [[H, H], [H, -H]].
std::vector<int8_t> Double(const std::vector<int8_t>& h, int64_t m) {
  std::vector<int8_t> d(4 * m * m);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < m; ++j) {
      const int8_t v = h[i * m + j];
      d[i * 2 * m + j] = v, d[i * 2 * m + m + j] = v;
      d[(m + i) * 2 * m + j] = v, d[(m + i) * 2 * m + m + j] = static_cast<int8_t>(-v);
    }
  }
  return d;
}

// Williamson quadruples: symmetric circulant ±1 matrices A, B, C, D of odd order n with
// A² + B² + C² + D² = 4n·I. Being symmetric circulants they commute, so the Williamson array
//   [[ A,  B,  C,  D],
//    [-B,  A, -D,  C],
//    [-C,  D,  A, -B],
//    [-D, -C,  B,  A]]
// is a Hadamard matrix of order 4n (J. Williamson, Duke Math. J. 11 (1944) 65-81). A circulant's
// first row x gives X[i][j] = x[(j - i) mod n]; symmetry means x[n - k] = x[k], so only
// x[0..(n-1)/2] is stored ('+' = 1, '-' = -1).
struct WilliamsonQuadruple {
  int64_t n;                      // circulant order (odd); the Hadamard order is 4n
  std::string_view half_rows[4];  // x[0..(n-1)/2] of the first rows of A, B, C, D
};

// First rows as tabulated in SageMath's williamson_type_quadruples_smallcases
// (src/sage/combinat/matrices/hadamard_matrix.py), which takes n = 39 from S. London, PhD thesis,
// UIC 2013 ("Constructing New Turyn Type Sequences, T-Sequences and Hadamard Matrices"), and
// n = 43 from M. Hall, "Combinatorial Theory", 2nd ed., 1983 (Baumert–Hall's solutions). Only the
// published first rows are used; the test checks H·Hᵀ = 4n·I exactly.
constexpr WilliamsonQuadruple kWilliamson[] = {
    {39, {"+++--+-+-----+--++--", "+++--++-+---+-+--+--", "++++---+--++----+-+-", "+---++-+-+-----+++-+"}},
    {43, {"++---++++-+--+--++----", "+++-+-++--+-+-++++-+--", "++-++++++----+-+--++-+",
          "+---++--++++-+-+++-++-"}},
};

// Every stored half row has (n + 1) / 2 entries, each '+' or '-'.
constexpr bool WellFormed(const WilliamsonQuadruple& w) {
  for (std::string_view row : w.half_rows) {
    if (w.n % 2 == 0 || static_cast<int64_t>(row.size()) != (w.n + 1) / 2) return false;
    for (char c : row) {
      if (c != '+' && c != '-') return false;
    }
  }
  return true;
}
static_assert(std::all_of(std::begin(kWilliamson), std::end(kWilliamson), WellFormed));

// The Williamson-array Hadamard matrix of order 4n, or empty when no quadruple of order n is stored.
std::vector<int8_t> Williamson(int64_t n) {
  const auto it = std::find_if(std::begin(kWilliamson), std::end(kWilliamson),
                               [n](const WilliamsonQuadruple& w) { return w.n == n; });
  if (it == std::end(kWilliamson)) return {};
  // Entry k of the first row of circulant x (0..3 = A, B, C, D), mirrored from the stored half.
  auto first_row = [&](int x, int64_t k) -> int { return it->half_rows[x][std::min(k, n - k)] == '+' ? 1 : -1; };
  // Block (r, c) of the array is kSign[r][c] · (A, B, C, D)[kBlock[r][c]].
  constexpr int kBlock[4][4] = {{0, 1, 2, 3}, {1, 0, 3, 2}, {2, 3, 0, 1}, {3, 2, 1, 0}};
  constexpr int kSign[4][4] = {{1, 1, 1, 1}, {-1, 1, -1, 1}, {-1, 1, 1, -1}, {-1, -1, 1, 1}};
  const int64_t m = 4 * n;
  std::vector<int8_t> h(m * m);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < m; ++j) {
      const int64_t r = i / n, c = j / n, k = ((j % n) - (i % n) + n) % n;
      h[i * m + j] = static_cast<int8_t>(kSign[r][c] * first_row(kBlock[r][c], k));
    }
  }
  return h;
}

std::vector<int8_t> Build(int64_t m) {
  if (m == 1) return {1};
  if (m % 4 != 0) return {};
  if (Field f = FieldOfOrder(m - 1); f.p != 0 && (m - 1) % 4 == 3) return PaleyI(f);
  if (m % 8 == 4) {
    if (Field f = FieldOfOrder(m / 2 - 1); f.p != 0 && (m / 2 - 1) % 4 == 1) return PaleyII(f);
  }
  if (std::vector<int8_t> h = Williamson(m / 4); !h.empty()) return h;
  if (m % 8 == 0) {  // doubling an order m / 2 that is not a power of two (those are the FWHT's)
    const int64_t half = m / 2;
    if (std::vector<int8_t> h = Build(half); !h.empty() && (half & (half - 1)) != 0) return Double(h, half);
  }
  return {};
}

constexpr int64_t kMaxBase = 256;

}  // namespace

std::vector<int8_t> BaseMatrix(int64_t m) {
  static std::mutex mu;
  static auto* cache = new std::map<int64_t, std::vector<int8_t>>();
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache->find(m);
  if (it == cache->end()) it = cache->emplace(m, m >= 1 && m <= kMaxBase ? Build(m) : std::vector<int8_t>()).first;
  return it->second;
}

std::vector<int64_t> BaseOrders() {
  std::vector<int64_t> orders;
  for (int64_t m = 1; m <= kMaxBase; ++m) {
    if (m > 1 && (m & (m - 1)) == 0) continue;  // powers of two are the FWHT's part
    if (!BaseMatrix(m).empty()) orders.push_back(m);
  }
  return orders;
}

absl::StatusOr<Plan> MakePlan(int64_t n) {
  if (n < 1) return absl::InvalidArgumentError(StrCat("Hadamard size ", n, " is not positive"));
  int64_t pow2 = 1;
  while (n % (pow2 * 2) == 0) pow2 *= 2;
  // n = pow2 · odd: try m = odd · 2^j for growing j (the base takes some of the powers of two).
  for (int64_t m = n / pow2, p2 = pow2; p2 >= 1; m *= 2, p2 /= 2) {
    std::vector<int8_t> base = BaseMatrix(m);
    if (!base.empty()) return Plan{n, p2, m, std::move(base)};
    if (p2 == 1) break;
  }
  return absl::InvalidArgumentError(StrCat("no Hadamard transform of size ", n, " (= ", pow2, " x ", n / pow2,
                                           "): needs a base order 2^j x ", n / pow2, " this library does not build"));
}

void FastWalshHadamard(float* x, int64_t n, int64_t stride) {
  for (int64_t h = 1; h < n; h *= 2) {
    for (int64_t i = 0; i < n; i += 2 * h) {
      for (int64_t j = i; j < i + h; ++j) {
        const float a = x[j * stride], b = x[(j + h) * stride];
        x[j * stride] = a + b;
        x[(j + h) * stride] = a - b;
      }
    }
  }
}

void Apply(const Plan& plan, float* x, int64_t rows, const int8_t* signs) {
  const int64_t n = plan.n, m = plan.m;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(n)));
  // H_mᵀ in FP32, so the base product runs as column updates over contiguous memory: each
  // block[i] still sums its terms j = 0, 1, ... in order, as the plain dot product would.
  std::vector<float> base_t(static_cast<size_t>(m * m));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < m; ++j) base_t[j * m + i] = plan.base[i * m + j];
  }
  ParallelFor(0, rows, /*min_per_thread=*/1, [&](int64_t r) {
    float* row = x + r * n;
    if (signs != nullptr) {
      for (int64_t i = 0; i < n; ++i) row[i] *= signs[i];
    }
    // Row index i = a·m + b: H_m on each contiguous block of m, then the FWHT across blocks.
    if (m > 1) {
      std::vector<float> block(m);
      for (int64_t a = 0; a < plan.pow2; ++a) {
        float* v = row + a * m;
        std::fill(block.begin(), block.end(), 0.0f);
        for (int64_t j = 0; j < m; ++j) {
          const float vj = v[j];
          const float* h = base_t.data() + j * m;
          float* b = block.data();
#pragma omp simd
          for (int64_t i = 0; i < m; ++i) b[i] += h[i] * vj;  // lanes are different i: same sums
        }
        std::copy(block.begin(), block.end(), v);
      }
    }
    for (int64_t b = 0; b < m; ++b) FastWalshHadamard(row + b, plan.pow2, m);
    for (int64_t i = 0; i < n; ++i) row[i] *= scale;
  });
}

std::vector<int8_t> RandomSigns(int64_t n, uint64_t seed) {
  std::vector<int8_t> s(n);
  for (int64_t i = 0; i < n; ++i) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(i + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    s[i] = (z & 1) ? 1 : -1;
  }
  return s;
}

}  // namespace quantc::kernels::hadamard
