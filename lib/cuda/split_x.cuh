// x split into planes of bytes (LaunchSplitX, matmul_kernels.h), one warp per 32 values: the one
// place the split is computed, shared by LaunchSplitX's own kernel and the kernels that produce a
// decode step's matmul inputs (RMSNorm, SiLU·up: ops_kernels.cu), which write it beside x so that
// no extra kernel sits between them and the product.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "lib/cuda/matmul_kernels.h"

namespace quantc::cuda::kernels {

// Called by all 32 lanes of a warp, lane l holding v = x[c] with c = c0 + l (c0 a multiple of 32):
// writes the split of those 32 values to `to`. With d = max |x| / 127 over them and r = x / d in
// [−127, 127], each plane takes the rounded value and passes on the rest (exact in float) times
// 128, so r = p1 + p2 / 128 + p3 / 16384 within 1 / 32768 and x = d · r within about d / 16384
// (r itself is x / d rounded to float).
__device__ __forceinline__ void SplitWarp(float v, int64_t c, const SplitOut& to) {
  float amax = fabsf(v), sum = v;
#pragma unroll
  for (int o = 16; o > 0; o /= 2) amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, o));
#pragma unroll
  for (int o = 8; o > 0; o /= 2) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, o);  // over each half's 16
  const float r = amax > 0.0f ? v * (127.0f / amax) : 0.0f;
  const float q1 = rintf(r), e1 = (r - q1) * 128.0f, q2 = rintf(e1), q3 = rintf((e1 - q2) * 128.0f);
  uint8_t* unit = to.planes + (c / 16) * 48 + c % 16;
  unit[0] = static_cast<uint8_t>(static_cast<int8_t>(q1));
  unit[16] = static_cast<uint8_t>(static_cast<int8_t>(q2));
  unit[32] = static_cast<uint8_t>(static_cast<int8_t>(q3));
  if (c % 16 == 0) reinterpret_cast<float2*>(to.units)[c / 16] = make_float2(amax / 127.0f / 16384.0f, sum);
}

}  // namespace quantc::cuda::kernels
