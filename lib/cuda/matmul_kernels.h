// The launch interface of lib/cuda's matmul kernels (matmul_kernels.cu): plain types only, so the
// C++ side (cuda.cc, absl::Status) and nvcc never share a header beyond this one. A stream is
// CUDA's own opaque handle type (cudaStream_t is `CUstream_st*`), declared here without CUDA's headers.
#pragma once

#include <cstdint>

struct CUstream_st;

namespace quantc::cuda::kernels {

// Storage formats with a kernel; the numbers are private to lib/cuda (cuda.cc maps DType).
enum class Format : int { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_K, kQ5_K, kQ6_K, kMXFP4, kFp8Block };

struct MatMulArgs {
  const void* w = nullptr;  // rows back to back, row_bytes each, the format's blocks in order
  int64_t rows = 0, cols = 0, row_bytes = 0;
  const float* x = nullptr;  // [n, cols]
  int64_t n = 0;
  float* y = nullptr;  // [n, ldy]: y[t * ldy + r]
  int64_t ldy = 0;
  const float* bias = nullptr;  // [rows] added to every token, or null
  bool accumulate = false;      // y += W·x (the residual add) instead of y = W·x
  // kFp8Block: the F32 scale of weight (r, c) at scales[(r / scale_block_rows) * scale_cols + c / 128].
  const float* scales = nullptr;
  int64_t scale_cols = 0, scale_block_rows = 128;
};

// y = W·x (+ bias) for every token; x, y and bias are device FP32. Returns the CUDA error code of
// the launch (0 = success). cols must be a multiple of 32 (256 for K-quants); kFp8Block: E4M3
// codes (cols bytes a row) whose blocks are 128 columns wide.
int LaunchMatMul(Format format, const MatMulArgs& args, CUstream_st* stream);

}  // namespace quantc::cuda::kernels
