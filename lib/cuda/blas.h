// The prefill matmul: cuBLAS on FP32 tiles of a stored weight. A window of n >= kBlasMinTokens
// tokens is compute-bound, where the matmul kernel (one FMA per weight and token on CUDA cores)
// is not; so the weight is decoded, a tile of rows at a time, into a scratch of at most
// kMaxTileValues FP32 values (the matmul's own decoders: LaunchDequantRows), and each tile is one
// cublasGemmEx with FP32 inputs and outputs and TF32 tensor-core compute
// (CUBLAS_COMPUTE_32F_FAST_TF32). The inputs' and weights' mantissas are rounded to TF32's 10
// bits inside the GEMM, so results differ from the FP32 kernel by about 1e-3 of the row norm
// (blas_test states the bound). The handle and the scratch belong to the stream
// (Stream::Blas): created on its first GEMM, kept until the stream goes.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "lib/cuda/cuda.h"

namespace quantc::cuda {

// MatMul on a stream hands batches of this many tokens or more to BlasMatMul.
inline constexpr int64_t kBlasMinTokens = 64;
// The largest weight tile decoded at once: 64 Mi FP32 values (256 MiB of scratch per stream).
inline constexpr int64_t kMaxTileValues = int64_t{64} << 20;

// MatMul's contract (cuda.h) computed by cuBLAS, for any n >= 1: y[t * ldy + r] =
// sum_c x[t * cols + c] * W[r, c] (+ bias[r]) (+ y when accumulating), the weight decoded in tiles
// of whole rows of at most max_tile_values values (at least one row; tests pass small tiles).
// INVALID_ARGUMENT when a dimension exceeds cuBLAS's int; INTERNAL for a cuBLAS or CUDA failure.
absl::Status BlasMatMul(const DeviceWeight& w, const float* x, int64_t n, float* y, const MatMulOutput& out,
                        const Stream& stream, int64_t max_tile_values = kMaxTileValues);

}  // namespace quantc::cuda
