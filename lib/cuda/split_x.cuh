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
// writes the split of those 32 values to `to`, a unit of 16 at a time. With d = max |x| / 127 over
// the unit and r = x / d in [−127, 127], the first plane takes r rounded and the second the rest
// (in [−0.5, 0.5]) times kSplitXRadix = 254, rounded: x' = d · (p1 + p2 / 254) is x within d / 508
// (and r's rounding to float). The unit's sum is x''s (an exact integer times d / 254), so a
// product's offset terms (Q4_K's mins, Q6_K's −32) and its codes see the same x': the integer
// kernels compute W·x' up to FP32 rounding.
__device__ __forceinline__ void SplitWarp(float v, int64_t c, const SplitOut& to) {
  float amax = fabsf(v);
#pragma unroll
  for (int o = 8; o > 0; o /= 2) amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, o));  // over each unit's 16
  const float r = amax > 0.0f ? v * (127.0f / amax) : 0.0f;
  const float q1 = rintf(r), q2 = rintf((r - q1) * static_cast<float>(kSplitXRadix));
  int sum = static_cast<int>(q1) * kSplitXRadix + static_cast<int>(q2);
#pragma unroll
  for (int o = 8; o > 0; o /= 2) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, o);
  uint8_t* unit = to.planes + (c / 16) * kSplitXUnitBytes + c % 16;
  unit[0] = static_cast<uint8_t>(static_cast<int8_t>(q1));
  unit[16] = static_cast<uint8_t>(static_cast<int8_t>(q2));
  if (c % 16 == 0) {
    const float scale = amax / 127.0f / static_cast<float>(kSplitXRadix);
    reinterpret_cast<float2*>(to.units)[c / 16] = make_float2(scale, scale * static_cast<float>(sum));
  }
}

}  // namespace quantc::cuda::kernels
