#include "lib/cuda/blas.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <limits>
#include <string_view>

#include "lib/cuda/matmul_kernels.h"
#include "lib/support/status_macros.h"
#include "lib/support/strings.h"

namespace quantc::cuda {
namespace {

absl::Status CheckBlas(cublasStatus_t s, std::string_view what) {
  if (s == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(StrCat("cuBLAS: ", what, ": ", cublasGetStatusString(s)));
}

}  // namespace

// A cuBLAS handle bound to one stream, and the stream's dequantization scratch: the GEMMs queued
// on a stream run in order, so one scratch serves them all.
class BlasContext {
 public:
  static absl::StatusOr<std::unique_ptr<BlasContext, BlasContextDeleter>> Create(CUstream_st* stream) {
    std::unique_ptr<BlasContext, BlasContextDeleter> c(new BlasContext(stream));
    QC_RETURN_IF_ERROR(CheckBlas(cublasCreate(&c->handle_), "creating a handle"));
    QC_RETURN_IF_ERROR(CheckBlas(cublasSetStream(c->handle_, stream), "binding a handle to its stream"));
    return c;
  }
  ~BlasContext() {
    if (handle_ != nullptr) cublasDestroy(handle_);
  }
  cublasHandle_t handle() const { return handle_; }

  // Scratch for at least `values` FP32 values. Growing it waits for the stream first (work queued
  // earlier may still read the old buffer), so it grows at least twofold: a model's first prefill
  // meets its matrices smallest first (q/k/v, o, gate/up, lm_head) and should not wait at each.
  // (So the first GEMMs of a stream must not be recorded into a graph: waiting is not allowed there.)
  absl::StatusOr<float*> Scratch(int64_t values) {
    const size_t bytes = static_cast<size_t>(values) * sizeof(float);
    if (scratch_.size() < bytes) {
      if (cudaError_t e = cudaStreamSynchronize(stream_); e != cudaSuccess) {
        return absl::InternalError(StrCat("CUDA: kernels: ", cudaGetErrorString(e)));
      }
      const size_t grown = std::max(bytes, std::min(2 * scratch_.size(), kMaxTileValues * sizeof(float)));
      scratch_ = DeviceBuffer();  // freed before the larger one is allocated
      QC_ASSIGN_OR_RETURN(scratch_, DeviceBuffer::Allocate(grown));
    }
    return scratch_.as<float>();
  }

 private:
  explicit BlasContext(CUstream_st* stream) : stream_(stream) {}
  CUstream_st* stream_;
  cublasHandle_t handle_ = nullptr;
  DeviceBuffer scratch_;
};

void BlasContextDeleter::operator()(BlasContext* c) const { delete c; }

absl::StatusOr<BlasContext*> Stream::Blas() const {
  if (blas_ == nullptr) {
    QC_ASSIGN_OR_RETURN(blas_, BlasContext::Create(s_));
  }
  return blas_.get();
}

absl::Status BlasMatMul(const DeviceWeight& w, const float* x, int64_t n, float* y, const MatMulOutput& out,
                        const Stream& stream, int64_t max_tile_values) {
  if (n <= 0) return absl::OkStatus();
  const int64_t ldy = out.ldy == 0 ? w.rows : out.ldy;
  constexpr int64_t kMaxInt = std::numeric_limits<int>::max();
  if (w.rows <= 0 || w.cols <= 0 || n > kMaxInt || w.cols > kMaxInt || ldy > kMaxInt || ldy < w.rows) {
    return absl::InvalidArgumentError(StrCat("cuBLAS matmul of a [", w.rows, ", ", w.cols, "] weight with ", n,
                                             " tokens and output stride ", ldy, ": dimensions outside cuBLAS's int"));
  }
  QC_ASSIGN_OR_RETURN(BlasContext * blas, stream.Blas());
  CUstream_st* s = stream.get();
  // Whole rows per tile, as many as max_tile_values holds (at least one).
  const int64_t tile_rows = std::min(w.rows, std::max<int64_t>(1, max_tile_values / w.cols));
  QC_ASSIGN_OR_RETURN(float* tile, blas->Scratch(tile_rows * w.cols));
  // The bias goes into y first (added to it when accumulating); every GEMM then adds W·x to y.
  float beta = out.accumulate ? 1.0f : 0.0f;
  if (out.bias != nullptr) {
    QC_RETURN_IF_ERROR(CheckLaunch(kernels::LaunchSetBias(y, n, w.rows, ldy, out.bias, out.accumulate, s), "bias"));
    beta = 1.0f;
  }
  const float alpha = 1.0f;
  const kernels::MatMulArgs a = w.Args();
  const int cols = static_cast<int>(w.cols);
  for (int64_t r0 = 0; r0 < w.rows; r0 += tile_rows) {
    const int64_t r1 = std::min(w.rows, r0 + tile_rows);
    QC_RETURN_IF_ERROR(CheckLaunch(kernels::LaunchDequantRows(w.format, a, r0, r1, tile, s), "dequantizing rows"));
    // cuBLAS is column-major: the row-major tile [r1 - r0, cols] is a column-major [cols, r1 - r0]
    // (ld cols), x [n, cols] a [cols, n], and y's rows r0 .. r1 of every token a [r1 - r0, n]
    // (ld ldy). So y_tile = tileᵀ · x.
    QC_RETURN_IF_ERROR(
        CheckBlas(cublasGemmEx(blas->handle(), CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(r1 - r0), static_cast<int>(n),
                               cols, &alpha, tile, CUDA_R_32F, cols, x, CUDA_R_32F, cols, &beta, y + r0, CUDA_R_32F,
                               static_cast<int>(ldy), CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT),
                  "GEMM"));
  }
  return absl::OkStatus();
}

}  // namespace quantc::cuda
