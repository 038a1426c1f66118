// Weight-stored matmul on the GPU. A thread block computes R output rows (R = 4 for one token,
// the decode case, so each input value loaded serves four rows; 1 otherwise); its 128 threads take
// the rows' blocks side by side, each decoding its share of a block in registers with the format's
// decoder (weight_formats.cuh). The dot product is then scale · Σ q·x − min · Σ x per chunk of 4
// weights: the per-weight work is decoding q and one FMA. The weights are the CPU runner's; the
// summation order differs.
#include <cuda_runtime.h>

#include "lib/cuda/matmul_kernels.h"
#include "lib/cuda/weight_formats.cuh"

namespace quantc::cuda::kernels {
namespace {

constexpr int kMaxTokens = 8;  // input rows per pass over the weights
constexpr int kThreads = 128;  // per thread block

template <class F, int T, int R>
__global__ void __launch_bounds__(kThreads) MatMulKernel(MatMulArgs a) {
  constexpr int kPerPass = kThreads / F::kLanes, kN = 4 * F::kChunks;
  const int64_t r0 = static_cast<int64_t>(blockIdx.x) * R;
  const uint8_t* rows = static_cast<const uint8_t*>(a.w) + r0 * a.row_bytes;
  const int64_t blocks = a.cols / F::kElems;
  const int sub = threadIdx.x % F::kLanes;
  float acc[R][T] = {};
#pragma unroll 2
  for (int64_t b = threadIdx.x / F::kLanes; b < blocks; b += kPerPass) {
    float q[R][kN], scale[R][F::kChunks], min[R][F::kChunks];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      // Rows past the end (the last block's) read row 0's bytes again; their sums are dropped.
      const int64_t rr = r0 + r < a.rows ? r : 0;
      F::Decode(rows + rr * a.row_bytes + b * F::kBytes, sub, q[r], scale[r], min[r], BlockAt{a, r0 + rr, b});
    }
#pragma unroll
    for (int c = 0; c < F::kChunks; ++c) {
      const float* xc = a.x + b * F::kElems + F::XOffset(sub, c);
#pragma unroll
      for (int t = 0; t < T; ++t) {
        const float4 x = *reinterpret_cast<const float4*>(xc + t * a.cols);
        const float xsum = F::kHasMin ? (x.x + x.y) + (x.z + x.w) : 0.0f;
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const float* qc = q[r] + 4 * c;
          float d = qc[0] * x.x;
          d = fmaf(qc[1], x.y, d);
          d = fmaf(qc[2], x.z, d);
          d = fmaf(qc[3], x.w, d);
          if constexpr (F::kScaled) d *= scale[r][c];
          if constexpr (F::kHasMin) d = fmaf(-min[r][c], xsum, d);
          acc[r][t] += d;
        }
      }
    }
  }
  __shared__ float partial[kThreads / 32][R][T];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int t = 0; t < T; ++t) {
      float s = acc[r][t];
      for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xFFFFFFFFu, s, o);
      if (lane == 0) partial[warp][r][t] = s;
    }
  }
  __syncthreads();
  if (threadIdx.x < R * T) {
    const int r = threadIdx.x / T, t = threadIdx.x % T;
    if (r0 + r >= a.rows) return;
    float s = 0.0f;
    for (int w = 0; w < kThreads / 32; ++w) s += partial[w][r][t];
    if (a.bias != nullptr) s += a.bias[r0 + r];
    float* y = a.y + t * a.ldy + r0 + r;
    *y = a.accumulate ? *y + s : s;
  }
}

template <class F, int T, int R>
void LaunchOne(const MatMulArgs& a, cudaStream_t stream) {
  MatMulKernel<F, T, R><<<static_cast<unsigned>((a.rows + R - 1) / R), kThreads, 0, stream>>>(a);
}

template <class F>
int Launch(MatMulArgs a, cudaStream_t stream) {
  const int64_t n = a.n;
  for (int64_t t0 = 0; t0 < n; t0 += kMaxTokens) {
    switch (n - t0 < kMaxTokens ? n - t0 : kMaxTokens) {
      case 1: LaunchOne<F, 1, 4>(a, stream); break;
      case 2: LaunchOne<F, 2, 1>(a, stream); break;
      case 3: LaunchOne<F, 3, 1>(a, stream); break;
      case 4: LaunchOne<F, 4, 1>(a, stream); break;
      case 5: LaunchOne<F, 5, 1>(a, stream); break;
      case 6: LaunchOne<F, 6, 1>(a, stream); break;
      case 7: LaunchOne<F, 7, 1>(a, stream); break;
      default: LaunchOne<F, 8, 1>(a, stream); break;
    }
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return static_cast<int>(e);
    a.x += kMaxTokens * a.cols;
    a.y += kMaxTokens * a.ldy;
  }
  return 0;
}

}  // namespace

int LaunchMatMul(Format format, const MatMulArgs& args, CUstream_st* stream) {
  if (args.ldy < args.rows || args.n < 0) return static_cast<int>(cudaErrorInvalidValue);
  return VisitFormat(format, args, [&](auto tag) { return Launch<typename decltype(tag)::type>(args, stream); });
}

}  // namespace quantc::cuda::kernels
