#include "lib/kernels/fp8/block_dequant.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <vector>

#include "lib/dtypes/float_convert.h"
#include "lib/support/parallel.h"

namespace quantc::kernels::fp8 {
namespace {

// The 256 E4M3FN code values as F32, built at compile time (exact: every code is an f32).
constexpr std::array<float, 256> kE4M3Values = [] {
  std::array<float, 256> t{};
  for (int c = 0; c < 256; ++c) {
    int sign = c >> 7, exp = (c >> 3) & 0xF, man = c & 7;
    float v;
    if (exp == 0xF && man == 7) v = __builtin_nanf("");
    else if (exp == 0) v = man / 8.0f / 64.0f;  // subnormal: man/8 * 2^-6
    else {
      v = 1.0f + man / 8.0f;
      for (int e = exp - 7; e > 0; --e) v *= 2.0f;
      for (int e = exp - 7; e < 0; ++e) v /= 2.0f;
    }
    t[c] = sign ? -v : v;
  }
  return t;
}();

}  // namespace

namespace ref {
void DequantRowsToBF16(const uint8_t* q, const float* scales, const BlockLayout& layout, int64_t row_begin,
                       int64_t row_end, uint16_t* out) {
  const int64_t cols = layout.cols, scale_cols = layout.scale_cols();
  for (int64_t r = row_begin; r < row_end; ++r) {
    const float* srow = scales + (r / layout.block_rows) * scale_cols;
    const uint8_t* qrow = q + (r - row_begin) * cols;
    uint16_t* orow = out + (r - row_begin) * cols;
    for (int64_t c = 0; c < cols; ++c) {
      float product = F8E4M3ToF32(qrow[c]) * srow[c / layout.block_cols];  // one f32 RNE
      orow[c] = F32ToBF16(product);                                          // second RNE
    }
  }
}
}  // namespace ref

namespace fast {
void DequantRowsToBF16(const uint8_t* q, const float* scales, const BlockLayout& layout, int64_t row_begin,
                       int64_t row_end, uint16_t* out) {
  if (row_end <= row_begin) return;
  const int64_t cols = layout.cols, scale_cols = layout.scale_cols(), br = layout.block_rows;
  const int64_t first_block = row_begin / br, last_block = (row_end - 1) / br;
  const int64_t num_tables = (last_block - first_block + 1) * scale_cols;
  // tables[(block_row - first_block) * scale_cols + block_col][code] = BF16 of that code times that scale.
  std::vector<uint16_t> tables(static_cast<size_t>(num_tables) * 256);
  ParallelFor(0, num_tables, /*min_per_thread=*/1024, [&](int64_t t) {  // ~1 ms of work each
    float s = scales[first_block * scale_cols + t];
    uint16_t* tab = tables.data() + t * 256;
    for (int c = 0; c < 256; ++c) tab[c] = F32ToBF16(kE4M3Values[c] * s);
  });
  // At least 1 MiB of BF16 output per thread: below that, waking the pool costs more than it saves.
  ParallelFor(row_begin, row_end, std::max<int64_t>(1, (512 << 10) / std::max<int64_t>(1, cols)), [&](int64_t r) {
    const uint16_t* row_tables = tables.data() + (r / br - first_block) * scale_cols * 256;
    const uint8_t* qrow = q + (r - row_begin) * cols;
    uint16_t* orow = out + (r - row_begin) * cols;
    for (int64_t b = 0; b < scale_cols; ++b) {
      const uint16_t* tab = row_tables + b * 256;
      const int64_t c0 = b * layout.block_cols, c1 = std::min(cols, c0 + layout.block_cols);
      for (int64_t c = c0; c < c1; ++c) orow[c] = tab[qrow[c]];
    }
  });
}
}  // namespace fast

}  // namespace quantc::kernels::fp8
