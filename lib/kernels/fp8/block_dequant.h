// Block-scaled FP8 weights (DeepSeek-V3/R1 `weight_scale_inv`, DeepSeek-V4 E8M0 `.scale`):
//   w[i][j] = bf16_rne( f32_rne( f32(q[i][j]) * s[i / block_rows][j / block_cols] ) )
// with the scale grid [ceil(rows/block_rows), ceil(cols/block_cols)] and edge blocks sharing
// their block's scale. This is the rounding sequence of DeepSeek's Triton `weight_dequant`
// (fp32 multiply, then a BF16 store), so the output matches `fp8_cast_bf16.py` byte for byte.
//
// Two variants with one signature: `ref` is the plain per-element definition; `fast` notes that
// the result depends only on (code, scale), so it precomputes each block's 256 possible outputs
// once and turns the block into table lookups, in parallel over rows. Tests check fast == ref.
#pragma once

#include <cstdint>

namespace quantc::kernels::fp8 {

struct BlockLayout {
  int64_t rows = 0, cols = 0;  // the weight, viewed as a matrix
  int64_t block_rows = 128, block_cols = 128;
  int64_t scale_rows() const { return (rows + block_rows - 1) / block_rows; }
  int64_t scale_cols() const { return (cols + block_cols - 1) / block_cols; }
};

// Dequantizes rows [row_begin, row_end): `q` points at row `row_begin` (row-major E4M3FN bytes),
// `scales` at the whole F32 scale grid, `out` receives (row_end - row_begin) * cols BF16 values.
namespace ref {
void DequantRowsToBF16(const uint8_t* q, const float* scales, const BlockLayout& layout, int64_t row_begin,
                       int64_t row_end, uint16_t* out);
}  // namespace ref
namespace fast {
void DequantRowsToBF16(const uint8_t* q, const float* scales, const BlockLayout& layout, int64_t row_begin,
                       int64_t row_end, uint16_t* out);
}  // namespace fast

}  // namespace quantc::kernels::fp8
