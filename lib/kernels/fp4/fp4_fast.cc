// Whole-matrix FP4 kernels (fp4.h, namespace fast): rows in parallel on OpenMP. Quantizing runs the
// reference row kernel per row (the scale search dominates and is already per group); dequantizing
// builds each group's 16 products once and looks both nibbles of a byte up, the same FP32 products
// as the reference. tests/kernels/fp4_test.cc checks both against the reference byte for byte.
#include <algorithm>
#include <cstdint>

#include "lib/kernels/fp4/fp4.h"
#include "lib/support/parallel.h"

namespace quantc::kernels::fp4::fast {
namespace {

// Rows per thread worth waking the pool for: about 16K weights.
int64_t MinRowsPerThread(int64_t cols) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1)); }

}  // namespace

void QuantizeRows(Fp4Format f, ScaleRule rule, const float* x, int64_t rows, int64_t cols, float global,
                  const float* importance, uint8_t* codes, uint8_t* scales) {
  const int64_t groups = cols / GroupSize(f);
  ParallelFor(0, rows, MinRowsPerThread(cols), [&](int64_t r) {
    QuantizeRow(f, rule, x + r * cols, cols, global, importance, codes + r * (cols / 2), scales + r * groups);
  });
}

void DequantizeRows(Fp4Format f, const uint8_t* codes, const uint8_t* scales, int64_t rows, int64_t cols,
                    float global, float* out) {
  const int64_t gs = GroupSize(f);
  ParallelFor(0, rows, MinRowsPerThread(cols), [&](int64_t r) {
    const uint8_t* q = codes + r * (cols / 2);
    float* y = out + r * cols;
    for (int64_t g = 0; g < cols / gs; ++g) {
      const float s = GroupScale(f, scales[r * (cols / gs) + g], global);
      float lut[16];
      for (int c = 0; c < 16; ++c) lut[c] = F4E2M1ToF32(static_cast<uint8_t>(c)) * s;
      for (int64_t j = g * gs / 2; j < (g + 1) * gs / 2; ++j) {
        y[2 * j] = lut[q[j] & 0xF];
        y[2 * j + 1] = lut[q[j] >> 4];
      }
    }
  });
}

}  // namespace quantc::kernels::fp4::fast
