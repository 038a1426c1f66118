// Orthonormal Hadamard transforms (QuaRot-style rotations): H_n = H_{2^k} ⊗ H_m for n = 2^k · m,
// scaled by 1/sqrt(n), with an optional seeded random ±1 diagonal in front (H·D, still
// orthonormal). The 2^k factor is applied by the fast Walsh–Hadamard transform (O(n log n)); the
// m factor is a ±1 base matrix built here from its construction (no matrix text is copied; the
// Williamson first rows are published data, cited in hadamard.cc):
//   Paley I  (q prime ≡ 3 mod 4): order q + 1 — 12, 20, 60, 108, 140, ...
//   Paley II (q prime or prime square ≡ 1 mod 4): order 2(q + 1) — 28, 36, 52, 148, ...
//   Williamson (four symmetric circulant ±1 matrices of order n in the Williamson array, from
//     published first rows): order 4n — 156 (n = 39), 172 (n = 43)
// 24 and 40 are 2 · 12 and 2 · 20 (Sylvester doubling). The smallest m that makes n = 2^k · m work
// is chosen.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace quantc::kernels::hadamard {

// The ±1 base matrix of order m (row-major m x m) with H·Hᵀ = m·I, or empty when this library
// cannot build order m. m = 1 gives [1].
std::vector<int8_t> BaseMatrix(int64_t m);

// Orders m <= 256 this library builds, ascending, powers of two above 1 left out (they are the
// FWHT's): 1 and every multiple of 4 except 92, 116, 184, 188, 232, 236 (12, 20, 24, ..., 148,
// 152, 156, ..., 172, ..., 252).
std::vector<int64_t> BaseOrders();

struct Plan {
  int64_t n = 0;               // transform size
  int64_t pow2 = 1;            // 2^k
  int64_t m = 1;               // base order
  std::vector<int8_t> base;    // m x m, ±1
};

// The plan for size n; INVALID_ARGUMENT naming n (and what it would need) when n is not 2^k · m
// for a buildable m.
absl::StatusOr<Plan> MakePlan(int64_t n);

// In-place unnormalized fast Walsh–Hadamard transform of x[0..n), n a power of two, on `stride`-
// spaced elements (x[i * stride], i < n).
void FastWalshHadamard(float* x, int64_t n, int64_t stride = 1);

// y = (1/sqrt(n)) · H_n · (D · x) for each of `rows` rows of x (row-major [rows, n]), in place.
// `signs` (n entries of ±1, e.g. RandomSigns) is D; null means D = I.
void Apply(const Plan& plan, float* x, int64_t rows, const int8_t* signs = nullptr);

// n seeded pseudo-random ±1 values (splitmix64 of seed and index): the same on every machine.
std::vector<int8_t> RandomSigns(int64_t n, uint64_t seed);

}  // namespace quantc::kernels::hadamard
