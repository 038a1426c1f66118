// The weight interface of the runner: a matrix [rows = out features, cols = in features] kept in
// its stored format. Each kernel family implements DequantRows for its format; MatMul tiles the
// rows, dequantizes one tile at a time into FP32 (cache-sized, per thread) and multiplies, so a
// model runs from its stored bytes and is never copied whole into FP32. Compute is FP32.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/dtypes/dtype.h"
#include "lib/kernels/fp8/block_dequant.h"

namespace quantc::kernels {

class WeightMatrix {
 public:
  WeightMatrix(int64_t rows, int64_t cols) : rows_(rows), cols_(cols) {}
  virtual ~WeightMatrix() = default;
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  // Writes rows [r0, r1) as FP32 into out[(r - r0) * cols + c]. Thread-safe (const, no state).
  virtual void DequantRows(int64_t r0, int64_t r1, float* out) const = 0;

 private:
  int64_t rows_, cols_;
};

// F32 / BF16 / F16 rows, read in place (`bytes` must outlive the matrix).
absl::StatusOr<std::unique_ptr<WeightMatrix>> MakeDenseWeight(DType dtype, std::span<const uint8_t> bytes,
                                                              int64_t rows, int64_t cols);
// Block-scaled F8_E4M3 (DeepSeek): each value is bf16_rne(f32(q) * scale), exactly what the
// fp8-to-bf16 pass writes, so a model runs identically before and after that pass.
std::unique_ptr<WeightMatrix> MakeFp8BlockWeight(std::span<const uint8_t> codes, std::vector<float> scales,
                                                 fp8::BlockLayout layout);

// y[t * w.rows() + r] = sum_c x[t * w.cols() + c] * W[r, c] (+ bias[r]), for t < n. Parallel over
// row tiles; x and y must not overlap.
void MatMul(const WeightMatrix& w, const float* x, int64_t n, float* y, const float* bias = nullptr);

}  // namespace quantc::kernels
