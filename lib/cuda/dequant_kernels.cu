// Rows of a stored weight decoded to FP32 on the device, for cuBLAS (blas.cc): the matmul's own
// decoders (weight_formats.cuh), so a prefill's GEMM multiplies the same weights as the decode
// step's matmul kernel; and the embedding rows of a step's tokens, looked up on the device. One
// thread per (row, block, lane): it decodes its share of the block as a matmul thread does and
// writes scale · q − min for each of its chunks of 4 weights.
#include <cuda_runtime.h>

#include "lib/cuda/matmul_kernels.h"
#include "lib/cuda/weight_formats.cuh"

namespace quantc::cuda::kernels {
namespace {

constexpr int kThreads = 256;

// The rows DequantRowsKernel decodes: r0, r0 + 1, ..., or, with `step` (an embedding lookup;
// ids and step may be mapped host memory), ids[p], ids[p + 1], ... for p = *step, copied to *pos
// (device memory) on the way.
struct RowSource {
  int64_t r0 = 0;
  const int32_t* ids = nullptr;
  const int32_t* step = nullptr;
  int32_t* pos = nullptr;
};

template <class F>
__global__ void __launch_bounds__(kThreads) DequantRowsKernel(MatMulArgs a, RowSource rows, int64_t units, float* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (i >= units) return;
  const int64_t blocks = a.cols / F::kElems;
  const int sub = static_cast<int>(i % F::kLanes);
  const int64_t b = (i / F::kLanes) % blocks, r = i / (F::kLanes * blocks);
  int64_t row = rows.r0 + r;
  if (rows.step != nullptr) {
    const int32_t p = *rows.step;
    row = rows.ids[p + r];
    if (i == 0) *rows.pos = p;
  }
  const uint8_t* block = static_cast<const uint8_t*>(a.w) + row * a.row_bytes + b * F::kBytes;
  float q[4 * F::kChunks], scale[F::kChunks], min[F::kChunks];
  F::Decode(block, sub, q, scale, min, BlockAt{a, row, b});
  float* o = out + r * a.cols + b * F::kElems;
#pragma unroll
  for (int c = 0; c < F::kChunks; ++c) {
    float v[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      v[j] = q[4 * c + j];
      if constexpr (F::kScaled) v[j] *= scale[c];
      if constexpr (F::kHasMin) v[j] -= min[c];
    }
    *reinterpret_cast<float4*>(o + F::XOffset(sub, c)) = make_float4(v[0], v[1], v[2], v[3]);
  }
}

__global__ void SetBiasKernel(float* y, int64_t n, int64_t rows, int64_t ldy, const float* bias, bool accumulate) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (i >= n * rows) return;
  const int64_t t = i / rows, r = i % rows;
  float* p = y + t * ldy + r;
  *p = accumulate ? *p + bias[r] : bias[r];
}

int64_t Grid(int64_t threads) { return (threads + kThreads - 1) / kThreads; }

int LaunchRows(Format format, const MatMulArgs& args, const RowSource& rows, int64_t count, float* out,
               CUstream_st* stream) {
  return VisitFormat(format, args, [&](auto tag) {
    using F = typename decltype(tag)::type;
    const int64_t units = count * (args.cols / F::kElems) * F::kLanes;
    if (Grid(units) > 0x7FFFFFFF) return static_cast<int>(cudaErrorInvalidValue);
    DequantRowsKernel<F><<<static_cast<unsigned>(Grid(units)), kThreads, 0, stream>>>(args, rows, units, out);
    return static_cast<int>(cudaGetLastError());
  });
}

}  // namespace

int LaunchDequantRows(Format format, const MatMulArgs& args, int64_t r0, int64_t r1, float* out, CUstream_st* stream) {
  if (r0 < 0 || r1 <= r0 || r1 > args.rows || out == nullptr) return static_cast<int>(cudaErrorInvalidValue);
  RowSource rows;
  rows.r0 = r0;
  return LaunchRows(format, args, rows, r1 - r0, out, stream);
}

int LaunchEmbedRows(Format format, const MatMulArgs& args, const int32_t* ids, const int32_t* step, int64_t n,
                    int32_t* pos, float* out, CUstream_st* stream) {
  if (ids == nullptr || step == nullptr || n <= 0 || pos == nullptr || out == nullptr) {
    return static_cast<int>(cudaErrorInvalidValue);
  }
  RowSource rows;
  rows.ids = ids, rows.step = step, rows.pos = pos;
  return LaunchRows(format, args, rows, n, out, stream);
}

int LaunchSetBias(float* y, int64_t n, int64_t rows, int64_t ldy, const float* bias, bool accumulate,
                  CUstream_st* stream) {
  if (n <= 0 || rows <= 0) return 0;
  if (ldy < rows || bias == nullptr || Grid(n * rows) > 0x7FFFFFFF) return static_cast<int>(cudaErrorInvalidValue);
  SetBiasKernel<<<static_cast<unsigned>(Grid(n * rows)), kThreads, 0, stream>>>(y, n, rows, ldy, bias, accumulate);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace quantc::cuda::kernels
