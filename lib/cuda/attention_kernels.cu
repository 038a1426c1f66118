// The attention of GQA/MHA layers (LaunchAttend): a query's scores over the cached keys with an
// online softmax (one pass over the keys), which differs from the CPU runner's two passes
// (lib/runner/layers.cc) only in rounding. Three kernels: a warp per (query, head) for any head
// size; a thread block per (query, head) with 16 keys in flight for dk = dv in {64, 128, 256}; and,
// for one token (a decode step), that block's work split over kAttendSplits thread blocks per head
// that each take every kAttendSplits-th tile of 16 keys and merge in the last one to finish.
#include <cuda_runtime.h>

#include <cstdint>

#include "lib/cuda/launch.cuh"
#include "lib/cuda/ops_kernels.h"
#include "lib/cuda/softmax.cuh"
#include "lib/cuda/split_x.cuh"

namespace quantc::cuda::kernels {
namespace {

// One warp per (query, head). Lane l holds output dims l, l + 32, ... (at most 16 each).
__global__ void AttendKernel(const float* q, int64_t q_stride, const float* k, const float* v, int64_t n,
                             const int32_t* pos0, int64_t heads, int64_t kv_heads, int64_t dk, int64_t dv, float scale,
                             float* out) {
  StartAfterPrevious();
  const int64_t job = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (job >= n * heads) return;
  const int64_t t = job / heads, h = job % heads, kvh = h / (heads / kv_heads);
  const float* qh = q + t * q_stride + h * dk;
  float acc[16] = {};
  OnlineSoftmax softmax;
  const int64_t last = *pos0 + t;
  for (int64_t j = 0; j <= last; ++j) {
    const float* kj = k + (j * kv_heads + kvh) * dk;
    float s = 0.0f;
    for (int64_t d = lane; d < dk; d += 32) s += qh[d] * kj[d];
    for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xFFFFFFFFu, s, o);
    s *= scale;
    const float correction = softmax.Add(s), p = softmax.weight;
    const float* vj = v + (j * kv_heads + kvh) * dv;
    for (int64_t d = lane, i = 0; d < dv; d += 32, ++i) acc[i] = acc[i] * correction + p * vj[d];
  }
  float* oh = out + (t * heads + h) * dv;
  for (int64_t d = lane, i = 0; d < dv; d += 32, ++i) oh[d] = acc[i] / softmax.denom;
}

// A thread block of 128 threads as 16 groups of 8 lanes over tiles of 16 keys: group g takes key
// 16 · tile + g with its own online softmax, lane i holding dims 4i + 32m as float4s, so 16 keys are
// in flight instead of one. dk = 32 KD, dv = 32 VD.
template <int KD, int VD>
struct GroupAttention {
  static constexpr int kGroups = 16, kDk = 32 * KD, kDv = 32 * VD;
  int g = threadIdx.x / 8, i = threadIdx.x % 8;
  float4 qr[KD];
  float4 acc[VD];
  OnlineSoftmax softmax;

  __device__ explicit GroupAttention(const float* qh) {
#pragma unroll
    for (int m = 0; m < KD; ++m) qr[m] = *reinterpret_cast<const float4*>(qh + 4 * i + 32 * m);
#pragma unroll
    for (int m = 0; m < VD; ++m) acc[m] = make_float4(0, 0, 0, 0);
  }
  // Tiles first, first + step, ... up to key `last`; k and v point at this head's first key and
  // value, `row` floats from one position to the next.
  __device__ void Attend(const float* k, const float* v, int64_t k_row, int64_t v_row, int64_t first, int64_t step,
                         int64_t last, float scale) {
    // Every lane runs every pass (the shuffles need the whole warp); a group past the last key idles.
    for (int64_t j0 = first * kGroups; j0 <= last; j0 += step * kGroups) {
      const int64_t j = j0 + g;
      const bool valid = j <= last;
      // The key's values are loaded with the key (not after its score): one trip to memory, not two.
      float4 kv[KD], vv[VD];
      float s = 0.0f;
      if (valid) {
#pragma unroll
        for (int m = 0; m < KD; ++m) kv[m] = *reinterpret_cast<const float4*>(k + j * k_row + 4 * i + 32 * m);
#pragma unroll
        for (int m = 0; m < VD; ++m) vv[m] = *reinterpret_cast<const float4*>(v + j * v_row + 4 * i + 32 * m);
#pragma unroll
        for (int m = 0; m < KD; ++m) s += qr[m].x * kv[m].x + qr[m].y * kv[m].y + qr[m].z * kv[m].z + qr[m].w * kv[m].w;
      }
      s += __shfl_xor_sync(0xFFFFFFFFu, s, 4);
      s += __shfl_xor_sync(0xFFFFFFFFu, s, 2);
      s += __shfl_xor_sync(0xFFFFFFFFu, s, 1);
      if (!valid) continue;
      s *= scale;
      const float correction = softmax.Add(s), p = softmax.weight;
#pragma unroll
      for (int m = 0; m < VD; ++m) {
        acc[m].x = acc[m].x * correction + p * vv[m].x;
        acc[m].y = acc[m].y * correction + p * vv[m].y;
        acc[m].z = acc[m].z * correction + p * vv[m].z;
        acc[m].w = acc[m].w * correction + p * vv[m].w;
      }
    }
  }
  // The groups merged through shared memory (every thread calls it): out[0 .. kDv) = the attention
  // output, or with `partial` the merged accumulators left unnormalized and partial[0], [1] = their
  // max and denominator (for a later merge with other thread blocks' parts).
  __device__ void Merge(float* out, float* partial = nullptr) const {
    __shared__ float group_max[kGroups], group_denom[kGroups];
    __shared__ float group_acc[kGroups][kDv];
    if (i == 0) group_max[g] = softmax.max, group_denom[g] = softmax.denom;
#pragma unroll
    for (int m = 0; m < VD; ++m) *reinterpret_cast<float4*>(&group_acc[g][4 * i + 32 * m]) = acc[m];
    __syncthreads();
    float weight[kGroups], top;
    const float total = CombineSoftmaxParts<kGroups>(group_max, group_denom, weight, &top);
    if (partial != nullptr && threadIdx.x == 0) partial[0] = top, partial[1] = total;
    WriteMergedParts<kGroups>(&group_acc[0][0], kDv, kDv, weight, partial != nullptr ? 1.0f : total, out);
  }
};

// One block of 128 threads per (query, head): GroupAttention over all the keys.
template <int KD, int VD>
__global__ void __launch_bounds__(128) AttendGroupsKernel(const float* q, int64_t q_stride, const float* k,
                                                          const float* v, const int32_t* pos0, int64_t heads,
                                                          int64_t kv_heads, float scale, float* out) {
  using A = GroupAttention<KD, VD>;
  StartAfterPrevious();
  const int64_t t = blockIdx.x / heads, h = blockIdx.x % heads, kvh = h / (heads / kv_heads);
  A at(q + t * q_stride + h * A::kDk);
  at.Attend(k + kvh * A::kDk, v + kvh * A::kDv, kv_heads * A::kDk, kv_heads * A::kDv, 0, 1, *pos0 + t, scale);
  at.Merge(out + (t * heads + h) * A::kDv);
}

// One token: kAttendSplits blocks per head, block s taking tiles s, s + kAttendSplits, ... (a
// fixed grid whatever the position, so that a recorded decode step replays at any length). Each
// writes its part (max, denominator, unnormalized accumulators: kDv + 2 floats) and counts itself
// done on the head's counter; the last one merges the parts into the output (and its split for
// the o projection's integer kernel) and sets the counter back to zero.
template <int KD, int VD>
__global__ void __launch_bounds__(128) AttendSplitKernel(const float* q, const float* k, const float* v,
                                                         const int32_t* pos0, int64_t heads, int64_t kv_heads,
                                                         float scale, float* out, AttendParts parts, SplitOut split) {
  using A = GroupAttention<KD, VD>;
  constexpr int kSplits = kAttendSplits, kPart = A::kDv + 2;
  StartAfterPrevious();
  const int64_t h = blockIdx.x / kSplits, s = blockIdx.x % kSplits, kvh = h / (heads / kv_heads);
  A at(q + h * A::kDk);
  at.Attend(k + kvh * A::kDk, v + kvh * A::kDv, kv_heads * A::kDk, kv_heads * A::kDv, s, kSplits, *pos0, scale);
  float* head_parts = parts.partial + h * kSplits * kPart;
  at.Merge(head_parts + s * kPart + 2, head_parts + s * kPart);
  // The classic last-block pattern: every thread's writes fenced before the block is counted.
  __shared__ bool last_block;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    last_block = atomicAdd(parts.counters + h, 1u) == kSplits - 1;
    if (last_block) parts.counters[h] = 0;
  }
  __syncthreads();
  if (!last_block) return;
  __threadfence();
  float part_max[kSplits], part_denom[kSplits], weight[kSplits];
#pragma unroll
  for (int o = 0; o < kSplits; ++o) {
    part_max[o] = __ldcg(head_parts + o * kPart), part_denom[o] = __ldcg(head_parts + o * kPart + 1);
  }
  const float total = CombineSoftmaxParts<kSplits>(part_max, part_denom, weight);
  for (int d = threadIdx.x; d < A::kDv; d += blockDim.x) {  // whole warps: kDv is a multiple of 32
    float sum = 0.0f;
#pragma unroll
    for (int o = 0; o < kSplits; ++o) sum += weight[o] * __ldcg(head_parts + o * kPart + 2 + d);
    const float value = sum / total;
    out[h * A::kDv + d] = value;
    if (split.planes != nullptr) SplitWarp(value, h * A::kDv + d, split);
  }
}

int LastError() { return static_cast<int>(cudaGetLastError()); }

template <int KD>
int LaunchAttendHeads(const float* q, int64_t q_stride, const float* k, const float* v, int64_t n,
                      const int32_t* pos0, int64_t heads, int64_t kv_heads, float scale, float* out,
                      CUstream_st* stream, const AttendParts& parts, const SplitOut& split) {
  if (n == 1 && parts.partial != nullptr) {
    return LaunchEarly(AttendSplitKernel<KD, KD>, static_cast<unsigned>(heads * kAttendSplits), 128, 0, stream, q, k,
                       v, pos0, heads, kv_heads, scale, out, parts, split);
  }
  return LaunchEarly(AttendGroupsKernel<KD, KD>, static_cast<unsigned>(n * heads), 128, 0, stream, q, q_stride, k, v,
                     pos0, heads, kv_heads, scale, out);
}

}  // namespace

int LaunchAttend(const float* q, int64_t q_stride, const float* k, const float* v, int64_t n, const int32_t* pos0,
                 int64_t heads, int64_t kv_heads, int64_t dk, int64_t dv, float scale, float* out, CUstream_st* stream,
                 const AttendParts& parts, const SplitOut& split) {
  if (dv > 16 * 32 || kv_heads <= 0 || heads % kv_heads != 0) return static_cast<int>(cudaErrorInvalidValue);
  const int64_t jobs = n * heads;
  if (jobs <= 0) return LastError();
  const bool aligned = q_stride % 4 == 0 && reinterpret_cast<uintptr_t>(q) % 16 == 0;
  const bool grouped = aligned && AttendGroupedHeads(dk, dv);
  if (split.planes != nullptr && (!AttendSplits(n, dk, dv) || parts.partial == nullptr || !aligned)) {
    return static_cast<int>(cudaErrorInvalidValue);
  }
  if (grouped) {
    auto launch = [&](auto heads_kernel) {
      return heads_kernel(q, q_stride, k, v, n, pos0, heads, kv_heads, scale, out, stream, parts, split);
    };
    switch (dk) {
      case 64: return launch(LaunchAttendHeads<2>);
      case 128: return launch(LaunchAttendHeads<4>);
      default: return launch(LaunchAttendHeads<8>);
    }
  }
  constexpr int kWarps = 4;
  return LaunchEarly(AttendKernel, static_cast<unsigned>((jobs + kWarps - 1) / kWarps), kWarps * 32, 0, stream, q,
                     q_stride, k, v, n, pos0, heads, kv_heads, dk, dv, scale, out);
}

}  // namespace quantc::cuda::kernels
