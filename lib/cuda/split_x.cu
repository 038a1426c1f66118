// LaunchSplitX (matmul_kernels.h): x split into planes by a kernel of its own, for inputs whose
// producer does not write the split itself (split_x.cuh).
#include <cuda_runtime.h>

#include "lib/cuda/launch.cuh"
#include "lib/cuda/matmul_kernels.h"
#include "lib/cuda/split_x.cuh"

namespace quantc::cuda::kernels {
namespace {

__global__ void SplitXKernel(const float* x, int64_t cols, SplitOut to) {
  StartAfterPrevious();
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c < cols) SplitWarp(x[c], c, to);  // whole warps: cols is a multiple of 32
}

}  // namespace

int LaunchSplitX(const float* x, int64_t cols, const SplitOut& to, CUstream_st* stream) {
  if (cols <= 0 || cols % 32 != 0) return static_cast<int>(cudaErrorInvalidValue);
  return LaunchEarly(SplitXKernel, static_cast<unsigned>((cols + 255) / 256), 256, 0, stream, x, cols, to);
}

}  // namespace quantc::cuda::kernels
