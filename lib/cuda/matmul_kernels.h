// The launch interface of lib/cuda's matmul kernels (matmul_kernels.cu): plain types only, so the
// C++ side (matmul.cc, absl::Status) and nvcc never share a header beyond this one.
#pragma once

#include <cstdint>

namespace quantc::cuda::kernels {

// Storage formats with a kernel; the numbers are private to lib/cuda (matmul.cc maps DType).
enum class Format : int { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_K, kQ6_K, kMXFP4 };

// y[t * rows + r] = sum_c x[t * cols + c] * W[r, c] for t < n, W's rows back to back in `w`
// (row_bytes each, the format's blocks in order). x and y are device FP32. Returns the CUDA error
// code of the launch (0 = success). cols must be a multiple of 32 (256 for K-quants).
int LaunchMatMul(Format format, const void* w, int64_t rows, int64_t cols, int64_t row_bytes, const float* x,
                 int64_t n, float* y);

}  // namespace quantc::cuda::kernels
