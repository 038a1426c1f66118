// GPTQ (Frantar et al., 2022) as IST-DASLab/gptq implements it: quantize a weight matrix column by
// column, pushing each column's rounding error onto the columns not yet quantized through the
// inverse Hessian of the layer's inputs, so that ||W X - Q X|| (not ||W - Q||) stays small.
//   H = (2/N) sum_t x_t x_t^T over calibration inputs (hessian.h);
//   dead columns (H[i][i] == 0) are zeroed; optional act-order (columns by descending H[i][i]);
//   damping H += damp * mean(diag H) * I; U = the upper Cholesky factor of H^-1, used through
//   U^-1 = R for H = R R^T (one Cholesky, no inverse; gptq.cc shows the algebra);
//   lazy blocks of `block` columns: inside a block the error update is row by row, and the rest
//   of the matrix is updated once per block with one GEMM (Eigen, OpenMP).
// The quantizer is pluggable (RowQuantizer): int4/int8 per channel or group, every ggml block type.
// Rows never interact, so the inner loop runs rows in parallel.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace quantc::kernels::gptq {

// What GPTQ asks of a quantizer. Parameters (scales, zero points, a ggml block's scales) are shared
// by `group_size()` consecutive columns of a row, in the matrix's original column order, and fitted
// once per row and group; each weight is then rounded to the nearest value of its group's grid.
// Calls for different rows may run concurrently; calls for one row come from one thread.
class RowQuantizer {
 public:
  virtual ~RowQuantizer() = default;
  // Columns per parameter group; the row width for per-channel schemes. Must divide the row width
  // unless the scheme accepts a ragged last group.
  virtual int64_t group_size() const = 0;
  // Fits the parameters of row `row`, group `group` (columns [group * G, group * G + n)) from the
  // group's current weights w[0..n) and their importance (the Hessian's diagonal: how much each
  // input matters; quantizers that weight their scale search use it).
  virtual void FitGroup(int64_t row, int64_t group, const float* w, const float* importance, int64_t n) = 0;
  // Rounds w (row `row`, original column `col`) to its group's grid; records the code; returns
  // the value the code stands for.
  virtual float Quantize(int64_t row, int64_t col, float w) = 0;
};

struct Options {
  double damp = 0.01;     // fraction of mean(diag H) added to the diagonal
  int64_t block = 128;    // lazy-update block; raised to a multiple of the group size when smaller
  bool act_order = false; // columns in order of descending H[i][i]; implies static groups
  // Fit every group's parameters up front from the original weights (GPTQ's static_groups)
  // instead of when the solve reaches the group. Per-channel schemes are always static.
  bool static_groups = false;
};

struct Result {
  double loss = 0;              // sum over weights of (w - q)^2 / U[i][i]^2 / 2 (GPTQ's "error")
  int64_t dead_columns = 0;     // inputs that were always zero (their weights are zeroed)
};

// Quantizes w [rows, cols] (row-major) in place: on return w holds the values the quantizer
// chose (its codes are recorded by the quantizer). `hessian` is [cols, cols], symmetric; it is
// not modified. FAILED_PRECONDITION when the damped Hessian is not positive definite.
absl::StatusOr<Result> Quantize(float* w, int64_t rows, int64_t cols, const float* hessian, RowQuantizer& quantizer,
                                const Options& options);

// H = (2/N) sum_t x_t x_t^T, accumulated batch by batch in FP32: each batch adds its X^T X to the
// lower triangle (a symmetric rank-k update, half a GEMM's work, in column panels across the
// OpenMP threads); data() scales the sum by 2/N and mirrors it once (GPTQ's add_batch keeps the
// same mean as a running one).
class HessianAccumulator {
 public:
  explicit HessianAccumulator(int64_t cols);
  // x [n, cols] row-major.
  void Add(const float* x, int64_t n);
  int64_t cols() const { return cols_; }
  int64_t samples() const { return samples_; }
  // [cols, cols] row-major (symmetric, so either order). The first call after an Add finishes the
  // sum in place; not to be called from two threads at once.
  const float* data() const;

 private:
  int64_t cols_;
  int64_t samples_ = 0;
  // Between Add and data(): sum_t x_t x_t^T in the lower triangle (the upper is stale). After
  // data(): H, both triangles.
  mutable std::vector<float> h_;
  mutable bool finished_ = true;
};

// GPTQ against the unquantized model's outputs (asymmetric calibration, as GPTAQ, Li et al. 2025):
// the layer sees X (inputs through the already quantized steps and layers) where the original
// model saw X0, and the objective becomes ||Q X - W X0||. With D = (2/N) (X0 - X)^T X (this
// accumulator; X rows are tokens) and H = (2/N) X^T X, the least-squares target is
//   W* = W + W D (H + damp I)^-1,
// and ||Q X - W X0||^2 = ||(Q - W*) X||^2 + const, so plain GPTQ on W* with H solves it. Where
// the two streams agree, D = 0 and W* = W.
class CrossAccumulator {
 public:
  explicit CrossAccumulator(int64_t cols);
  // x0 (the original model's input) and x (the quantized model's), both [n, cols] row-major.
  void Add(const float* x0, const float* x, int64_t n);
  int64_t cols() const { return cols_; }
  int64_t samples() const { return samples_; }
  // D [cols, cols] row-major: D[i][j] = (2/N) sum_t (x0 - x)[t][i] x[t][j].
  std::vector<float> Finish() const;

 private:
  int64_t cols_;
  int64_t samples_ = 0;
  std::vector<float> sum_;  // sum_t (x0 - x)^T x
  std::vector<float> diff_;  // scratch: x0 - x of one batch
};

// w [rows, cols] <- W* above, with `hessian` H and `cross` D ([cols, cols] each) and the same
// damping as Quantize (damp * mean(diag H), dead inputs' diagonal set to 1).
absl::Status RetargetToOriginal(float* w, int64_t rows, int64_t cols, const float* hessian, const float* cross,
                                double damp);

}  // namespace quantc::kernels::gptq
