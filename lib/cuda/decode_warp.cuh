// The warps of the one-token (decode) matmul kernels (matmul_kernels.cu, integer_kernels.cuh):
// where a warp works and how its sums meet (DecodeWarp), the K-quant lanes' scale codes
// (KQuantLane), and the loads they share.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "lib/cuda/launch.cuh"
#include "lib/cuda/matmul_kernels.h"
#include "lib/cuda/stage.cuh"
#include "lib/cuda/weight_formats.cuh"

namespace quantc::cuda::kernels {

// A thread block is kMatMulWarps warps in kMatMulWarps / split groups of `split` warps: a group
// owns R rows (rows past the end repeat the last one; their sums are dropped), its warps take every
// split-th step along them, and each x value a lane loads serves the R rows. split > 1 (warps side
// by side along a row) makes more, shorter warps when the rows are few (LaunchDecode picks it); the
// warps' sums then meet in shared memory. Weight bytes are read once and kept out of L1
// (ld.global.nc.L1::no_allocate), which so holds x.
constexpr int kMatMulThreads = 128;  // a thread block of every matmul kernel
constexpr int kMatMulWarps = kMatMulThreads / 32;

__device__ __forceinline__ uint4 LoadStream16(const uint8_t* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}
template <bool kStaged>
__device__ __forceinline__ uint4 LoadWeight16(const uint8_t* p) {
  if constexpr (kStaged) {
    return LoadShared16(p);
  } else {
    return LoadStream16(p);
  }
}
__device__ __forceinline__ uint4 LoadX16(const uint8_t* p) { return __ldg(reinterpret_cast<const uint4*>(p)); }
__device__ __forceinline__ float4 LoadX4(const float* p) { return __ldg(reinterpret_cast<const float4*>(p)); }
__device__ __forceinline__ float Sum(const float4& v) { return (v.x + v.y) + (v.z + v.w); }
__device__ __forceinline__ float4 Scaled(const float4& v, float a, float b, float c, float d) {
  return make_float4(v.x * a, v.y * b, v.z * c, v.w * d);
}
// Σ q_j · x_j for the four byte values of `bytes` (weight_formats.cuh's exact conversion),
// accumulated into s.
__device__ __forceinline__ float Dot4(uint32_t bytes, const float4& x, float s) {
  s = fmaf(ByteValue<0>(bytes, 0), x.x, s);
  s = fmaf(ByteValue<0>(bytes, 1), x.y, s);
  s = fmaf(ByteValue<0>(bytes, 2), x.z, s);
  return fmaf(ByteValue<0>(bytes, 3), x.w, s);
}
// s + (the float with the bits `bits`) · x, a subnormal operand kept: PTX's fma.rn.f32 without
// .ftz whatever nvcc's -ftz, so the subnormal codes below survive a fast-math build.
__device__ __forceinline__ float FmaBits(uint32_t bits, float x, float s) {
  float d;
  asm("fma.rn.f32 %0, %1, %2, %3;" : "=f"(d) : "f"(__uint_as_float(bits)), "f"(x), "f"(s));
  return d;
}

// Where a warp works: its group's rows r0 .. r0 + R − 1 and its place `part` among the group's
// `split` warps.
template <int R>
struct DecodeWarp {
  int warp, lane, part;
  int64_t r0;
  const uint8_t* row[R];
  // Thread block `block` of the matrix's grid. Staged (stage non-null): copies the block's rows to
  // `stage` and waits for them (and for the previous kernel); otherwise the warp's rows are read
  // where they are.
  __device__ DecodeWarp(const MatMulArgs& a, int split, unsigned block, uint8_t* stage = nullptr) {
    warp = threadIdx.x / 32, lane = threadIdx.x % 32, part = warp % split;
    const int64_t block_r0 = static_cast<int64_t>(block) * (kMatMulWarps / split) * R;
    r0 = block_r0 + (warp / split) * R;
    if (stage == nullptr) {
      StartAfterPrevious();
#pragma unroll
      for (int r = 0; r < R; ++r) {
        row[r] = static_cast<const uint8_t*>(a.w) + (r0 + r < a.rows ? r0 + r : a.rows - 1) * a.row_bytes;
      }
      return;
    }
    const int64_t rows = min(static_cast<int64_t>((kMatMulWarps / split) * R), a.rows - block_r0);
    const uint8_t* staged = StageBytes(a.w, block_r0 * a.row_bytes, (block_r0 + rows) * a.row_bytes, stage);
#pragma unroll
    for (int r = 0; r < R; ++r) row[r] = staged + min(r0 + r - block_r0, rows - 1) * a.row_bytes;
  }
  // Row r0 + r gets the sum of acc[r] over the group's lanes (+ bias; + what y holds when
  // accumulating). Every thread of the block calls it (a barrier when split > 1).
  __device__ void Write(const MatMulArgs& a, int split, float (&acc)[R]) const {
    __shared__ float partial[kMatMulWarps][R];
    float mine = 0.0f;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      float s = acc[r];
#pragma unroll
      for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xFFFFFFFFu, s, o);
      if (lane == r) mine = s;  // a select, not an index into acc (which would put it in local memory)
    }
    if (split > 1) {
      if (lane < R) partial[warp][lane] = mine;
      __syncthreads();
      if (part != 0) return;
      for (int p = 1; p < split; ++p) mine += lane < R ? partial[warp + p][lane] : 0.0f;
    }
    if (lane >= R || r0 + lane >= a.rows) return;
    if (a.bias != nullptr) mine += a.bias[r0 + lane];
    float* y = a.y + r0 + lane;
    *y = a.accumulate ? *y + mine : mine;
  }
};

// Lane k (of 8) of a Q4_K/Q5_K block takes sub-blocks 2i and 2i + 1 (i = k / 2), half h = k % 2 of
// each. Their 6-bit scale and min codes are bytes 2(i % 2) and 2(i % 2) + 1 of a word built from
// the head's scale words A = scales[0..3], B = [4..7], C = [8..11] (ggml's get_scale_min_k4):
// sub-blocks 0..3 the low 6 bits of A (scales) and B (mins); 4..7 a nibble of C with the top 2 bits
// of A (scales) and B (mins) above it. A code c is then the float 2^23 + c (Code: a byte permute).
struct KQuantLane {
  int k, i, h;
  bool upper;
  uint32_t low, top, sel0, sel1;  // sel: byte_perm selectors of sub-block 2i's code, 2i + 1's
  __device__ explicit KQuantLane(int lane) {
    k = lane % 8, i = k / 2, h = k % 2, upper = i >= 2;
    low = upper ? 0x0F0F0F0Fu : 0x3F3F3F3Fu, top = upper ? 0x30303030u : 0u;
    sel0 = 0x7440u | (2 * (i % 2)), sel1 = sel0 + 1;
  }
  __device__ uint32_t Scales(const uint4& head) const {
    return ((upper ? head.w : head.y) & low) | ((head.y >> 2) & top);
  }
  __device__ uint32_t Mins(const uint4& head) const {
    return ((upper ? head.w >> 4 : head.z) & low) | ((head.z >> 2) & top);
  }
  static __device__ float Code(uint32_t word, uint32_t sel) {
    return __uint_as_float(__byte_perm(word, 0x4B000000u, sel));
  }
};

}  // namespace quantc::cuda::kernels
