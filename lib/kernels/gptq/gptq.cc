#include "lib/kernels/gptq/gptq.h"

#include <algorithm>
#include <numeric>

#include "Eigen/Cholesky"
#include "Eigen/Core"
#include "lib/support/strings.h"

namespace quantc::kernels::gptq {
namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ColMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;

// GPTQ's U, the upper Cholesky factor of H^-1 (H^-1 = U^T U), is never formed whole. With J the
// exchange matrix, J H J = L L^T gives H = R R^T for the upper triangular R = J L J, and U = R^-1.
// GPTQ's scaled errors E (e_i = (w_i - q_i) / U_ii) satisfy W0 - Q = E U (W0: the weights before
// the solve), so E = D R with D = W0 - Q. The lazy update of the columns after a block therefore
// accumulates A = D R (one GEMM per block with R's rows of the block, as GPTQ's with U's), and
// GPTQ's current weights of block B at its start are W0_B - E_<B U_<B,B = W0_B + A_B U_BB (from
// R U = I: R_<B,<B U_<B,B = -R_<B,B U_BB), where U_BB = R_BB^-1 is the block's own small
// inverse. Inside the block the updates are GPTQ's, with U_BB. One Cholesky: the triangular
// inverse of all of H is gone (n^3 flops on one thread, 3x the Cholesky's).
absl::StatusOr<RowMatrix> UpperFactor(const RowMatrix& h) {
  const int64_t n = h.rows();
  const ColMatrix reversed = h.reverse();  // J H J
  Eigen::LLT<ColMatrix> llt(reversed);
  if (llt.info() != Eigen::Success) {
    return absl::FailedPreconditionError("the damped Hessian is not positive definite (raise damp)");
  }
  const ColMatrix& l = llt.matrixLLT();  // its lower triangle is L
  RowMatrix r = RowMatrix::Zero(n, n);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i; j < n; ++j) r(i, j) = l(n - 1 - i, n - 1 - j);  // R = J L J
  }
  return r;
}

// GPTQ's dampening: damp * mean(diag H) added to the diagonal (H already has a unit diagonal
// where an input was dead). Shared by Quantize and RetargetToOriginal, whose targets must agree.
template <class Matrix>
void AddDamping(Matrix& h, double damp) {
  h.diagonal().array() += static_cast<float>(damp * h.diagonal().mean());
}

}  // namespace

// Built for AVX2+FMA when the build machine has them (lib/CMakeLists.txt).
bool CpuRunsThisBuild() {
#if defined(__AVX2__) && defined(__FMA__)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return true;
#endif
}

absl::StatusOr<Result> Quantize(float* w, int64_t rows, int64_t cols, const float* hessian, RowQuantizer& quantizer,
                                const Options& options) {
  if (!CpuRunsThisBuild()) return absl::FailedPreconditionError("GPTQ was built for AVX2+FMA, which this CPU lacks");
  if (rows <= 0 || cols <= 0) return Result{};
  Eigen::Map<RowMatrix> weights(w, rows, cols);
  RowMatrix h = Eigen::Map<const RowMatrix>(hessian, cols, cols);
  Result result;
  // Inputs that never fired carry no information: GPTQ zeroes their weights and gives them a unit
  // diagonal so the factorization exists.
  std::vector<float> importance(static_cast<size_t>(cols));
  for (int64_t c = 0; c < cols; ++c) {
    importance[c] = h(c, c);
    if (h(c, c) == 0) {
      h(c, c) = 1;
      weights.col(c).setZero();
      ++result.dead_columns;
    }
  }
  const int64_t group = std::clamp<int64_t>(quantizer.group_size(), 1, cols);
  const int64_t groups = (cols + group - 1) / group;
  const bool static_fit = group == cols || options.act_order || options.static_groups;
  if (static_fit) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t g = 0; g < groups; ++g) {
        const int64_t c0 = g * group;
        quantizer.FitGroup(r, g, &weights(r, c0), importance.data() + c0, std::min(group, cols - c0));
      }
    }
  }

  // Column order: act-order takes the inputs with the largest second moment first.
  std::vector<int64_t> order(static_cast<size_t>(cols));
  std::iota(order.begin(), order.end(), 0);
  if (options.act_order) {
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return h(a, a) > h(b, b); });
  }
  // Rows are gathered one at a time (a column copy of a row-major matrix misses the cache on
  // every element).
  RowMatrix work(rows, cols);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < cols; ++i) work(r, i) = weights(r, order[i]);
  }
  RowMatrix hp(cols, cols);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < cols; ++i) {
    for (int64_t j = 0; j < cols; ++j) hp(i, j) = h(order[i], order[j]);
  }
  AddDamping(hp, options.damp);
  absl::StatusOr<RowMatrix> r_or = UpperFactor(hp);
  if (!r_or.ok()) return r_or.status();
  const RowMatrix& rf = *r_or;
  hp.resize(0, 0);

  // Groups fitted during the solve start at block boundaries, so their weights are up to date.
  int64_t block = std::max<int64_t>(1, options.block);
  if (!static_fit && block % group != 0) block = (block + group - 1) / group * group;
  // work: W0 + A for the columns not reached yet; GPTQ's current weights inside the block; Q behind.
  RowMatrix w0(rows, block), deltas(rows, block), u;
  std::vector<double> row_loss(static_cast<size_t>(rows), 0.0);
  for (int64_t i1 = 0; i1 < cols; i1 += block) {
    const int64_t i2 = std::min(cols, i1 + block), width = i2 - i1;
    u = rf.block(i1, i1, width, width).triangularView<Eigen::Upper>().solve(RowMatrix::Identity(width, width));
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      float* row = &work(r, 0);
      for (int64_t i = i1; i < i2; ++i) w0(r, i - i1) = weights(r, order[i]);
      // GPTQ's current weights of the block: W0_B + A_B U_BB (work holds W0_B + A_B).
      Eigen::Map<Eigen::RowVectorXf> current(row + i1, width);
      deltas.row(r).head(width) = current - w0.row(r).head(width);
      current.noalias() = w0.row(r).head(width) + deltas.row(r).head(width) * u.triangularView<Eigen::Upper>();
      double loss = 0;
      for (int64_t i = i1; i < i2; ++i) {
        if (!static_fit && i % group == 0) {
          quantizer.FitGroup(r, i / group, row + i, importance.data() + i, std::min(group, cols - i));
        }
        const float x = row[i];
        const float q = quantizer.Quantize(r, order[i], x);
        const float d = u(i - i1, i - i1);
        const float e = (x - q) / d;
        loss += static_cast<double>(x - q) * (x - q) / (static_cast<double>(d) * d) / 2;
        row[i] = q;
        const float* u_row = &u(i - i1, 0);
#pragma omp simd
        for (int64_t j = i + 1; j < i2; ++j) row[j] -= e * u_row[j - i1];
        deltas(r, i - i1) = w0(r, i - i1) - q;
      }
      row_loss[r] += loss;
    }
    if (i2 < cols) {
      work.rightCols(cols - i2).noalias() += deltas.leftCols(width) * rf.block(i1, i2, width, cols - i2);
    }
  }
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < cols; ++i) weights(r, order[i]) = work(r, i);
  }
  result.loss = std::accumulate(row_loss.begin(), row_loss.end(), 0.0);
  return result;
}

HessianAccumulator::HessianAccumulator(int64_t cols) : cols_(cols), h_(static_cast<size_t>(cols * cols), 0.0f) {}

void HessianAccumulator::Add(const float* x, int64_t n) {
  if (n <= 0 || !CpuRunsThisBuild()) return;  // Quantize reports the CPU
  Eigen::Map<RowMatrix> h(h_.data(), cols_, cols_);
  if (finished_ && samples_ > 0) {  // data() was called: back to the sum
    const float to_sum = static_cast<float>(static_cast<double>(samples_) / 2);
    for (int64_t i = 0; i < cols_; ++i) h.row(i).head(i + 1) *= to_sum;
  }
  finished_ = false;
  Eigen::Map<const RowMatrix> batch(x, n, cols_);
  // Column panel [c0, c0 + w) of the lower triangle: rows c0.. of X^T times X's panel columns,
  // one GEMM each (Eigen runs it on one thread inside the region); the widest panels go first.
  constexpr int64_t kPanel = 128;
  const int64_t panels = (cols_ + kPanel - 1) / kPanel;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t c0 = p * kPanel, w = std::min(kPanel, cols_ - c0);
    h.block(c0, c0, cols_ - c0, w).noalias() += batch.rightCols(cols_ - c0).transpose() * batch.middleCols(c0, w);
  }
  samples_ += n;
}

const float* HessianAccumulator::data() const {
  if (!finished_) {
    Eigen::Map<RowMatrix> h(h_.data(), cols_, cols_);
    const float scale = static_cast<float>(2.0 / static_cast<double>(samples_));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < cols_; ++i) h.row(i).head(i + 1) *= scale;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < cols_; ++i) {
      for (int64_t j = i + 1; j < cols_; ++j) h(i, j) = h(j, i);
    }
    finished_ = true;
  }
  return h_.data();
}

CrossAccumulator::CrossAccumulator(int64_t cols) : cols_(cols), sum_(static_cast<size_t>(cols * cols), 0.0f) {}

void CrossAccumulator::Add(const float* x0, const float* x, int64_t n) {
  if (n <= 0 || !CpuRunsThisBuild()) return;
  diff_.resize(static_cast<size_t>(n * cols_));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n * cols_; ++i) diff_[i] = x0[i] - x[i];
  Eigen::Map<RowMatrix> sum(sum_.data(), cols_, cols_);
  Eigen::Map<const RowMatrix> d(diff_.data(), n, cols_), batch(x, n, cols_);
  // Row panels of the product, one GEMM each, across the threads (as HessianAccumulator::Add).
  constexpr int64_t kPanel = 128;
  const int64_t panels = (cols_ + kPanel - 1) / kPanel;
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t r0 = p * kPanel, h = std::min(kPanel, cols_ - r0);
    sum.middleRows(r0, h).noalias() += d.middleCols(r0, h).transpose() * batch;
  }
  samples_ += n;
}

std::vector<float> CrossAccumulator::Finish() const {
  std::vector<float> d = sum_;
  const float scale = samples_ > 0 ? static_cast<float>(2.0 / static_cast<double>(samples_)) : 0.0f;
  for (float& v : d) v *= scale;
  return d;
}

absl::Status RetargetToOriginal(float* w, int64_t rows, int64_t cols, const float* hessian, const float* cross,
                                double damp) {
  if (!CpuRunsThisBuild()) return absl::FailedPreconditionError("GPTQ was built for AVX2+FMA, which this CPU lacks");
  if (rows <= 0 || cols <= 0) return absl::OkStatus();
  ColMatrix h = Eigen::Map<const RowMatrix>(hessian, cols, cols);
  for (int64_t c = 0; c < cols; ++c) {
    if (h(c, c) == 0) h(c, c) = 1;  // as Quantize: a dead input gets a unit diagonal
  }
  AddDamping(h, damp);
  Eigen::LLT<ColMatrix> llt(h);
  if (llt.info() != Eigen::Success) {
    return absl::FailedPreconditionError("the damped Hessian is not positive definite (raise damp)");
  }
  Eigen::Map<RowMatrix> weights(w, rows, cols);
  // W D (H + damp I)^-1 = ((H + damp I)^-1 (W D)^T)^T, H symmetric.
  const ColMatrix wd_t = (weights * Eigen::Map<const RowMatrix>(cross, cols, cols)).transpose();
  weights += llt.solve(wd_t).transpose();
  return absl::OkStatus();
}

}  // namespace quantc::kernels::gptq
