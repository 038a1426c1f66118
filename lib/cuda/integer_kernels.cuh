// The integer kernels of one token's Q4_K and Q6_K products (matmul_kernels.cu launches them):
// x split into planes of bytes (split_x.cuh), the weights' codes times the planes as integer dot
// products. Each is a struct whose Run computes thread block `block`'s rows, so that one kernel
// can run one matrix (OnRows) or two side by side (OnTwoMatrices).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "lib/cuda/decode_warp.cuh"
#include "lib/cuda/matmul_kernels.h"
#include "lib/cuda/weight_formats.cuh"

namespace quantc::cuda::kernels {

// Σ q·(254 p1 + p2) over a unit of 16 values of x split into planes (LaunchSplitX): the 16 byte
// codes q (four words, each code below 128) times each plane's 16 signed bytes, as two independent
// chains of integer dot products. Exact: |t| < 64 · 16 · 255 · 127 < 2^31.
__device__ __forceinline__ int PlanesDot(const int (&q)[4], const uint4 (&planes)[kSplitXPlanes]) {
  int t[kSplitXPlanes];
#pragma unroll
  for (int p = 0; p < kSplitXPlanes; ++p) {
    const int x[4] = {int(planes[p].x), int(planes[p].y), int(planes[p].z), int(planes[p].w)};
    t[p] = 0;
#pragma unroll
    for (int j = 0; j < 4; ++j) t[p] = __dp4a(q[j], x[j], t[p]);
  }
  return t[0] * kSplitXRadix + t[1];
}

// Q4_K with x split into planes (LaunchSplitX): lanes, steps and scales as KQuantMatVec; a lane's
// 16 + 16 codes times each plane's 16 + 16 bytes are integer dot products (dp4a), summed exactly in
// one integer per sub-block (t = 254 · Σq·p1 + Σq·p2), so the per-weight work is a quarter of a
// mask and half a dp4a instead of a conversion and an FMA.
// Thread block `block`'s rows (a struct, so that OnRows and OnTwoMatrices can run it).
template <int R, bool kStaged>
struct Q4KPlanes {
  static __device__ void Run(const MatMulArgs& a, int split, unsigned block);
};
template <int R, bool kStaged>
__device__ void Q4KPlanes<R, kStaged>::Run(const MatMulArgs& a, int split, unsigned block) {
  extern __shared__ __align__(128) uint8_t stage[];
  const DecodeWarp<R> at(a, split, block, kStaged ? stage : nullptr);
  const KQuantLane lane(at.lane);
  const int k = lane.k, i = lane.i, h = lane.h;
  const int64_t blocks = a.cols / 256, stride = 4 * split;
  const float2* units = reinterpret_cast<const float2*>(a.x_units);
  float acc[R] = {};
#pragma unroll 2
  for (int64_t b = at.lane / 8 + 4 * at.part; b < blocks; b += stride) {
    const uint8_t* xp = a.x_planes + (b * 16 + 4 * i + h) * kSplitXUnitBytes;  // the 16 values at 256b + 64i + 16h
    uint4 p0[kSplitXPlanes], p1[kSplitXPlanes];  // sub-block 2i's planes, 2i + 1's (two units of 16 on)
#pragma unroll
    for (int p = 0; p < kSplitXPlanes; ++p) {
      p0[p] = LoadX16(xp + 16 * p), p1[p] = LoadX16(xp + 2 * kSplitXUnitBytes + 16 * p);
    }
    const float2 u0 = units[b * 16 + 4 * i + h], u1 = units[b * 16 + 4 * i + 2 + h];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const uint8_t* blk = at.row[r] + b * 144;
      const uint4 head = LoadWeight16<kStaged>(blk), qs = LoadWeight16<kStaged>(blk + 16 + 16 * k);
      const uint32_t q[4] = {qs.x, qs.y, qs.z, qs.w};
      int q0[4], q1[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) q0[j] = q[j] & 0x0F0F0F0Fu, q1[j] = (q[j] >> 4) & 0x0F0F0F0Fu;
      const int t0 = PlanesDot(q0, p0), t1 = PlanesDot(q1, p1);
      const uint32_t sc = lane.Scales(head), mn = lane.Mins(head);
      const float2 dm = __half22float2(*reinterpret_cast<const __half2*>(&head.x));  // d, dmin
      auto code = [&](uint32_t word, uint32_t sel) { return KQuantLane::Code(word, sel) - 0x1p23f; };
      const uint32_t sel0 = lane.sel0, sel1 = lane.sel1;
      const float sum =
          fmaf(code(sc, sel0) * u0.x, static_cast<float>(t0), code(sc, sel1) * u1.x * static_cast<float>(t1));
      const float mins = fmaf(code(mn, sel0), u0.y, code(mn, sel1) * u1.y);
      acc[r] = fmaf(dm.x, sum, fmaf(-dm.y, mins, acc[r]));
    }
  }
  at.Write(a, split, acc);
}

// Q6_K with x split into planes (LaunchSplitX). A warp's step is 4 blocks of each row, 8 lanes a
// block (DecodeWarp, as Q4KPlanes). Weight 128n + 32g + l (half n, l < 32) is the low (g = 0,
// 1) or high (g = 2, 3) nibble of ql[64n + 32(g % 2) + l] with bits 2g, 2g + 1 of qh[32n + l] above
// it, minus 32, scaled by its sub-block's scales[8n + 2g + l / 16]. Lane k takes half n = k / 4,
// l = l0 .. l0 + 15 (l0 = 16 ((k / 2) % 2)) and g = k % 2 (low nibbles: sub-block A) and g + 2 (high:
// B): one 16-byte chunk of ql, one of qh (each one aligned load: the device's row layout,
// Q6KDeviceRowBytes), and two whole sub-blocks, matching two units of x. The
// codes q (0 .. 63) times the planes are integer dot products (t = Σ q·(254 p1 + p2)); the 32 comes
// off with the unit's sum of x' (split_x.cuh): Σ (q − 32)·x' = u·t − 32 Σ x'.
// LaunchMatMul's choice for tall matrices given the planes (measured on the H100, docs/results.md):
// alone it beats the generic kernel on short rows (lm head 152064 x 3584 with 4 rows a warp,
// staged: 99.5% of the copy bandwidth vs 89.1%; 4608 x 3584: 62% vs 53%) but not on FFN down's long
// ones (3584 x 18944, one row a thread block: 61% vs 74%, its x loads then outweighing the weights'
// in L1) — alone; inside the 7B decode step, where the next products' copies overlap it, FFN down
// unstaged with 2 rows a warp gains (LaunchOneToken). In the step: the head 2.500-2.504 ->
// 2.491-2.498 ms a token; v, in one launch with q/k (LaunchMatVecPair), 2.517-2.538 -> 2.494-2.499.
template <int R, bool kStaged>
struct Q6KPlanes {
  static __device__ void Run(const MatMulArgs& a, int split, unsigned block);
};
template <int R, bool kStaged>
__device__ void Q6KPlanes<R, kStaged>::Run(const MatMulArgs& a, int split, unsigned block) {
  extern __shared__ __align__(128) uint8_t stage[];
  const DecodeWarp<R> at(a, split, block, kStaged ? stage : nullptr);
  const int k = at.lane % 8, half = k / 4, l0 = 16 * ((k / 2) % 2), g = k % 2;
  const int sub_a = 8 * half + 2 * g + l0 / 16, sub_b = sub_a + 4;
  const int ql_at = 64 * half + 32 * g + l0, qh_at = 32 * half + l0;  // in the block's ql, qh
  const uint32_t qh_shift = 2 * g;
  const int64_t blocks = a.cols / 256, stride = 4 * split;
  const float2* units = reinterpret_cast<const float2*>(a.x_units);
  float acc[R] = {};
#pragma unroll 2
  for (int64_t b = at.lane / 8 + 4 * at.part; b < blocks; b += stride) {
    const uint8_t* xa = a.x_planes + (b * 16 + sub_a) * kSplitXUnitBytes;
    const uint8_t* xb = a.x_planes + (b * 16 + sub_b) * kSplitXUnitBytes;
    uint4 pa[kSplitXPlanes], pb[kSplitXPlanes];
#pragma unroll
    for (int p = 0; p < kSplitXPlanes; ++p) pa[p] = LoadX16(xa + 16 * p), pb[p] = LoadX16(xb + 16 * p);
    const float2 ua = units[b * 16 + sub_a], ub = units[b * 16 + sub_b];
    const float ca = -32.0f * ua.y, cb = -32.0f * ub.y;
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const Q6KBlock blk(at.row[r], b, blocks);
      const uint4 ql4 = LoadWeight16<kStaged>(blk.ql + ql_at), qh4 = LoadWeight16<kStaged>(blk.qh + qh_at);
      const uint32_t ql[4] = {ql4.x, ql4.y, ql4.z, ql4.w}, qh[4] = {qh4.x, qh4.y, qh4.z, qh4.w};
      int qa[4], qb[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const uint32_t h = qh[j] >> qh_shift;
        qa[j] = (ql[j] & 0x0F0F0F0Fu) | ((h << 4) & 0x30303030u);
        qb[j] = ((ql[j] >> 4) & 0x0F0F0F0Fu) | (h & 0x30303030u);
      }
      const int ta = PlanesDot(qa, pa), tb = PlanesDot(qb, pb);
      const int8_t* scales = reinterpret_cast<const int8_t*>(blk.scales);
      const float sa = fmaf(ua.x, static_cast<float>(ta), ca), sb = fmaf(ub.x, static_cast<float>(tb), cb);
      const float sum = fmaf(static_cast<float>(scales[sub_a]), sa, static_cast<float>(scales[sub_b]) * sb);
      acc[r] = fmaf(HalfAt(blk.d), sum, acc[r]);
    }
  }
  at.Write(a, split, acc);
}

}  // namespace quantc::cuda::kernels
