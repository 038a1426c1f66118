// The online softmax that every attention kernel accumulates with (attention_kernels.cu, and MLA's
// latent attention in ops_kernels.cu), and the merge of partial results that each saw part of the
// keys: warps or lane groups of one thread block, or thread blocks over key ranges.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

namespace quantc::cuda::kernels {

// An online softmax over keys seen one at a time: Add(s) takes a key's score, sets `weight` to that
// key's exp(s - max) and returns the factor exp(old max - new max) that rescales what was
// accumulated so far; denom is the sum of the weights at the current max.
struct OnlineSoftmax {
  float max = -INFINITY, denom = 0.0f, weight = 0.0f;
  __device__ __forceinline__ float Add(float s) {
    const float new_max = fmaxf(max, s);
    const float correction = expf(max - new_max);
    weight = expf(s - new_max);
    denom = denom * correction + weight;
    max = new_max;
    return correction;
  }
};

// Partial online softmaxes (each part's running max and denominator over its own keys) merged:
// weight[o] rescales part o to the largest max (also *top_out, if given), and the total
// denominator is returned. A part that saw no keys (max -inf) counts 0.
template <int kParts>
__device__ __forceinline__ float CombineSoftmaxParts(const float* part_max, const float* part_denom,
                                                     float (&weight)[kParts], float* top_out = nullptr) {
  float top = -INFINITY;
  for (int o = 0; o < kParts; ++o) top = fmaxf(top, part_max[o]);
  if (top_out != nullptr) *top_out = top;
  float total = 0.0f;
  for (int o = 0; o < kParts; ++o) {
    weight[o] = part_max[o] == -INFINITY ? 0.0f : expf(part_max[o] - top);
    total += weight[o] * part_denom[o];
  }
  return total;
}

// out[d] = Σ_o weight[o] · acc[o · stride + d] / total for d < width, the block's threads side by
// side: the parts' accumulators (each at its own max) merged into the attention output.
template <int kParts>
__device__ __forceinline__ void WriteMergedParts(const float* acc, int64_t stride, int64_t width,
                                                 const float (&weight)[kParts], float total, float* out) {
  for (int64_t d = threadIdx.x; d < width; d += blockDim.x) {
    float sum = 0.0f;
    for (int o = 0; o < kParts; ++o) sum += weight[o] * acc[o * stride + d];
    out[d] = sum / total;
  }
}

}  // namespace quantc::cuda::kernels
