// Weight-stored matmul on the GPU. A thread block computes R output rows (for one token, the
// decode case, 4 or 2, so each input value loaded serves several rows; 1 otherwise); its 128
// threads take the rows' blocks side by side, each decoding its share of a block in registers with
// the format's decoder (weight_formats.cuh). The dot product is then scale · Σ q·x − min · Σ x per
// chunk of 4 weights: the per-weight work is decoding q and one FMA. The weights are the CPU
// runner's; the summation order differs.
//
// One token (a decode step) reads every weight once for two FLOPs each: bandwidth is all that
// counts. Q4_K and Q5_K have kernels of their own for it (below: a warp owns up to 4 rows and
// streams their blocks with 16-byte loads; Q4_K's integer kernel reads x split into planes);
// Q6_K and Q8_0 run this kernel with 1, 2 or 4 rows a thread block, Q6_K's staged (stage.cuh: the
// block's rows copied into shared memory first; Q6_K's integer kernel on x's planes for an LM head
// and beside Q4_K in one launch). LaunchOneToken picks.
#include <cuda_runtime.h>

#include <type_traits>

#include "lib/cuda/decode_warp.cuh"
#include "lib/cuda/integer_kernels.cuh"
#include "lib/cuda/launch.cuh"
#include "lib/cuda/matmul_kernels.h"
#include "lib/cuda/stage.cuh"
#include "lib/cuda/weight_formats.cuh"

namespace quantc::cuda::kernels {
namespace {

constexpr int kMaxTokens = 8;  // input rows per pass over the weights
constexpr int kThreads = kMatMulThreads;  // per thread block
constexpr int64_t kTallRows = 16384;  // one token: a matrix this tall (an LM head) gets 4 rows a thread block or warp
constexpr int64_t kLongCols = 16384;  // one token: rows this long (FFN down) give Q6_K's integer kernel 2 rows a warp
// The most shared memory a staged kernel takes: 6 thread blocks an SM (24 warps), below the 48 KB
// that would need an opt-in.
constexpr int64_t kMaxStage = 32 * 1024;

template <class F, int T, int R, bool kStaged = false>
__global__ void __launch_bounds__(kThreads) MatMulKernel(MatMulArgs a) {
  constexpr int kPerPass = kThreads / F::kLanes, kN = 4 * F::kChunks;
  const int64_t r0 = static_cast<int64_t>(blockIdx.x) * R;
  const uint8_t* rows;
  if constexpr (kStaged) {
    extern __shared__ __align__(128) uint8_t stage[];
    rows = StageBytes(a.w, r0 * a.row_bytes, min(r0 + R, a.rows) * a.row_bytes, stage);
  } else {
    StartAfterPrevious();
    rows = static_cast<const uint8_t*>(a.w) + r0 * a.row_bytes;
  }
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

template <class F, int T, int R, bool kStaged = false>
int LaunchOne(const MatMulArgs& a, cudaStream_t stream) {
  const int64_t shared = kStaged ? R * a.row_bytes + kStageSlack : 0;
  if (shared > kMaxStage) return static_cast<int>(cudaErrorInvalidValue);
  return LaunchEarly(MatMulKernel<F, T, R, kStaged>, static_cast<unsigned>((a.rows + R - 1) / R), kThreads,
                     static_cast<size_t>(shared), stream, a);
}

// ---- The decode kernels (n == 1): decode_warp.cuh's warps; Q4_K's and Q6_K's integer kernels in
// integer_kernels.cuh ------------------------------------------------------------------------------

// Q4_K (kFive: Q5_K). A warp's step is 4 blocks of each row, 8 lanes a block; lane k of a block
// reads its 16-byte head (d, dmin, the 12 scale bytes: one load serves the block's 8 lanes), chunk
// k of qs (16 bytes: the weights l = 16h .. 16h + 15, h = k % 2, of sub-blocks 2i in the low
// nibbles and 2i + 1 in the high ones, i = k / 2) and, Q5_K, the 16 qh bytes of those l. Blocks
// (144, 176 bytes) and so rows are whole 16-byte units: every load is an aligned 16-byte one. The
// sum over a lane's share of two sub-blocks is d · (sc0 · Σ q·x + sc1 · Σ q·x) − dmin · (m0 · Σ x +
// m1 · Σ x).
//
// kSubnormal (Q4_K): a code q at bits 4k .. 4k + 3 of a word, masked out, is the subnormal float
// q · 2^(4k − 149), so one AND (a shift first for k > 4) replaces the conversion of every weight
// (byte permute and subtraction); each x is scaled by 2^(80 − 4k) to match (exact: powers of two),
// so the products are q · x · 2^-69, and 2^69 goes into the scale codes. Activations below 2^47 in
// magnitude stay finite so scaled.
template <bool kFive, int R, bool kSubnormal, bool kStaged>
__global__ void __launch_bounds__(kThreads) KQuantMatVec(MatMulArgs a, int split) {
  static_assert(!(kFive && kSubnormal), "Q5_K's codes are 5 bits wide");
  constexpr int kBytes = kFive ? 176 : 144, kQs = kFive ? 48 : 16;
  extern __shared__ __align__(128) uint8_t stage[];
  const DecodeWarp<R> at(a, split, blockIdx.x, kStaged ? stage : nullptr);
  const KQuantLane lane(at.lane);
  const int k = lane.k, i = lane.i, h = lane.h;
  // A scale code as (2^23 + c) · kUnit − 2^23 · kUnit = c · kUnit, exactly.
  constexpr float kUnit = kSubnormal ? 0x1p69f : 1.0f, kOffset = -0x1p23f * kUnit;
  const int64_t blocks = a.cols / 256, stride = 4 * split;
  float acc[R] = {};
#pragma unroll 2
  for (int64_t b = at.lane / 8 + 4 * at.part; b < blocks; b += stride) {
    const float* xb = a.x + b * 256 + 64 * i + 16 * h;
    float4 x0[4], x1[4];  // sub-block 2i's 16 values of x, 2i + 1's
#pragma unroll
    for (int j = 0; j < 4; ++j) x0[j] = LoadX4(xb + 4 * j), x1[j] = LoadX4(xb + 32 + 4 * j);
    const float xsum0 = (Sum(x0[0]) + Sum(x0[1])) + (Sum(x0[2]) + Sum(x0[3]));
    const float xsum1 = (Sum(x1[0]) + Sum(x1[1])) + (Sum(x1[2]) + Sum(x1[3]));
    if constexpr (kSubnormal) {  // x for the codes' positions k = 0 2 4 3 (low nibbles), 1 3 2 4 (high)
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        x0[j] = Scaled(x0[j], 0x1p80f, 0x1p72f, 0x1p64f, 0x1p68f);
        x1[j] = Scaled(x1[j], 0x1p76f, 0x1p68f, 0x1p72f, 0x1p64f);
      }
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const uint8_t* blk = at.row[r] + b * kBytes;
      const uint4 head = LoadWeight16<kStaged>(blk), qs = LoadWeight16<kStaged>(blk + kQs + 16 * k);
      uint4 qh = {};
      if constexpr (kFive) qh = LoadWeight16<kStaged>(blk + 16 + 16 * h);
      const uint32_t q[4] = {qs.x, qs.y, qs.z, qs.w}, fifth[4] = {qh.x, qh.y, qh.z, qh.w};
      float s0 = 0.0f, s1 = 0.0f;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        if constexpr (kSubnormal) {  // the code positions of the comment above
          const uint32_t w = q[j], u = w >> 12;
          s0 = FmaBits(w & 0x0000000Fu, x0[j].x, s0);
          s0 = FmaBits(w & 0x00000F00u, x0[j].y, s0);
          s0 = FmaBits(w & 0x000F0000u, x0[j].z, s0);
          s0 = FmaBits(u & 0x0000F000u, x0[j].w, s0);
          s1 = FmaBits(w & 0x000000F0u, x1[j].x, s1);
          s1 = FmaBits(w & 0x0000F000u, x1[j].y, s1);
          s1 = FmaBits(u & 0x00000F00u, x1[j].z, s1);
          s1 = FmaBits(u & 0x000F0000u, x1[j].w, s1);
        } else {
          uint32_t q0 = q[j] & 0x0F0F0F0Fu, q1 = (q[j] >> 4) & 0x0F0F0F0Fu;
          if constexpr (kFive) {  // weight 64i + l's fifth bit is bit 2i of qh[l], 64i + 32 + l's bit 2i + 1
            q0 |= ((fifth[j] >> (2 * i)) & 0x01010101u) << 4;
            q1 |= ((fifth[j] >> (2 * i + 1)) & 0x01010101u) << 4;
          }
          s0 = Dot4(q0, x0[j], s0);
          s1 = Dot4(q1, x1[j], s1);
        }
      }
      const uint32_t sc = lane.Scales(head), mn = lane.Mins(head);
      const float2 dm = __half22float2(*reinterpret_cast<const __half2*>(&head.x));  // d, dmin
      auto code = [&](uint32_t word, uint32_t sel) { return KQuantLane::Code(word, sel); };
      const uint32_t sel0 = lane.sel0, sel1 = lane.sel1;
      const float sum = fmaf(fmaf(code(sc, sel0), kUnit, kOffset), s0, fmaf(code(sc, sel1), kUnit, kOffset) * s1);
      const float mins = fmaf(code(mn, sel0) - 0x1p23f, xsum0, (code(mn, sel1) - 0x1p23f) * xsum1);
      acc[r] = fmaf(dm.x, sum, fmaf(-dm.y, mins, acc[r]));
    }
  }
  at.Write(a, split, acc);
}

// F's decode kernel with R rows a warp: the launch's CUDA error code, or kNoKernel where there is
// none, or where the addresses do not fit it (16-byte aligned x and blocks). split 0: doubled from
// 1 while the warps are fewer than few_warps (about 64 an SM on H100's 132, twice that for the
// integer kernel: a constant, as no runtime call may run here, inside a graph capture) and a step
// of the group (4 · split blocks) stays shorter than the row, so that no warp idles. On H100 at the
// 7B shapes that is the best of 1, 2 and 4 measured for each (tools/bench/bench_gpu_matvec.cc):
// 18944 x 3584 with 4 rows a warp: 2 (Q5_K with 2 rows: 1); 3584 x 18944: 4; 4608 x 3584: 2;
// 152064 x 3584: 1; and inside the decode step (bench_gpu), the integer kernel on the stacked
// gate/up 37888 x 3584: 2 (staged, 8 rows a thread block instead of 16: 2.96 -> 2.64 ms a 7B
// Q4_K_M token; smaller thread blocks finish and free their shared memory for the next bulk
// copies sooner, so the decoding overlaps the streaming better).
constexpr int kNoKernel = kNotLaunched;

// The grid, warps along a row and shared memory of F's decode kernel with R rows a warp; false
// where there is none (see above).
struct DecodePlan {
  int split = 0;
  unsigned grid = 0;
  size_t shared = 0;
};
template <class F, int R, bool kSubnormal>
bool PlanDecode(const MatMulArgs& a, int split, bool planes, bool staged, DecodePlan& plan) {
  constexpr bool kQ4K = std::is_same_v<F, Q4_K>, kQ5K = std::is_same_v<F, Q5_K>, kQ6K = std::is_same_v<F, Q6_K>;
  if (!(kQ4K || (kQ5K && !kSubnormal) || (kQ6K && !kSubnormal))) return false;
  // Q6_K has only the planes kernel, whose loads take 2-byte aligned blocks; the others load
  // whole 16-byte units.
  if (planes ? !(kQ4K || kQ6K) || a.x_planes == nullptr || a.x_units == nullptr : kQ6K) return false;
  const int64_t few_warps = planes ? 16384 : 8192;
  const int64_t groups = (a.rows + R - 1) / R, blocks = a.cols / 256;
  if (split == 0) {
    split = 1;
    while (split < kMatMulWarps && groups * split < few_warps && 8 * split < blocks) split *= 2;
  }
  const uintptr_t w = reinterpret_cast<uintptr_t>(a.w), x = reinterpret_cast<uintptr_t>(a.x);
  const int64_t grid = (groups + kMatMulWarps / split - 1) / (kMatMulWarps / split);
  const bool aligned = kQ6K ? w % 2 == 0 : x % 16 == 0 && w % 16 == 0 && a.row_bytes % 16 == 0;
  if ((split != 1 && split != 2 && split != 4) || !aligned || grid > 0x7FFFFFFF) return false;
  const int64_t shared = staged ? (kMatMulWarps / split) * R * a.row_bytes + kStageSlack : 0;
  if (shared > kMaxStage) return false;
  plan = {split, static_cast<unsigned>(grid), static_cast<size_t>(shared)};
  return true;
}

// A kernel of one matrix's rows (Rows: Q4KPlanes, Q6KPlanes), and one of two matrices' rows side by
// side: the first grid_a thread blocks take a's, the rest b's (LaunchMatVecPair).
template <class Rows>
__global__ void __launch_bounds__(kThreads) OnRows(MatMulArgs a, int split) {
  Rows::Run(a, split, blockIdx.x);
}
template <class RowsA, class RowsB>
__global__ void __launch_bounds__(kThreads) OnTwoMatrices(MatMulArgs a, int split_a, unsigned grid_a, MatMulArgs b,
                                                          int split_b) {
  if (blockIdx.x < grid_a) {
    RowsA::Run(a, split_a, blockIdx.x);
  } else {
    RowsB::Run(b, split_b, blockIdx.x - grid_a);
  }
}

template <class F, int R, bool kSubnormal>
int LaunchDecode(const MatMulArgs& a, int split, cudaStream_t stream, bool planes = false, bool staged = false) {
  constexpr bool kQ4K = std::is_same_v<F, Q4_K>, kQ5K = std::is_same_v<F, Q5_K>, kQ6K = std::is_same_v<F, Q6_K>;
  if constexpr (kQ4K || (kQ5K && !kSubnormal) || (kQ6K && !kSubnormal)) {
    DecodePlan plan;
    if (!PlanDecode<F, R, kSubnormal>(a, split, planes, staged, plan)) return kNoKernel;
    auto launch = [&](auto kernel) { return LaunchEarly(kernel, plan.grid, kThreads, plan.shared, stream, a, plan.split); };
    if constexpr (kQ6K) {
      return staged ? launch(OnRows<Q6KPlanes<R, true>>) : launch(OnRows<Q6KPlanes<R, false>>);
    } else {
      if constexpr (kQ4K) {
        if (planes) return staged ? launch(OnRows<Q4KPlanes<R, true>>) : launch(OnRows<Q4KPlanes<R, false>>);
      }
      return staged ? launch(KQuantMatVec<kQ5K, R, kSubnormal, true>)
                    : launch(KQuantMatVec<kQ5K, R, kSubnormal, false>);
    }
  } else {
    return kNoKernel;
  }
}

// The pair's kernels, staged: Q4_K with 4 rows a warp (as alone), Q6_K with 2 (its 210-byte rows
// then take a quarter less of the shared memory, which the pair's blocks all reserve: v beside q/k
// in the 7B decode step 2.494-2.499 ms a token, with 4 rows 2.539-2.541, 1 row 2.490-2.500).
template <class F>
struct PairRows {
  static constexpr int kRows = std::is_same_v<F, Q6_K> ? 2 : 4;
  using Rows = std::conditional_t<std::is_same_v<F, Q6_K>, Q6KPlanes<kRows, true>, Q4KPlanes<kRows, true>>;
};

template <class FA, class FB>
int LaunchPair(const MatMulArgs& a, const MatMulArgs& b, cudaStream_t stream) {
  DecodePlan pa, pb;
  if (!PlanDecode<FA, PairRows<FA>::kRows, false>(a, 0, true, true, pa) ||
      !PlanDecode<FB, PairRows<FB>::kRows, false>(b, 0, true, true, pb)) {
    return kNoKernel;
  }
  if (static_cast<int64_t>(pa.grid) + pb.grid > 0x7FFFFFFF) return kNoKernel;
  return LaunchEarly(OnTwoMatrices<typename PairRows<FA>::Rows, typename PairRows<FB>::Rows>, pa.grid + pb.grid,
                     kThreads, pa.shared > pb.shared ? pa.shared : pb.shared, stream, a, pa.split, pa.grid, b, pb.split);
}

template <class F>
int LaunchDecode(const MatMulArgs& a, const MatVecKernel& k, cudaStream_t stream) {
  if (k.planes) {
    switch (k.rows == 0 ? 4 : k.rows) {
      case 1: return LaunchDecode<F, 1, false>(a, k.split, stream, true, k.staged);
      case 2: return LaunchDecode<F, 2, false>(a, k.split, stream, true, k.staged);
      case 4: return LaunchDecode<F, 4, false>(a, k.split, stream, true, k.staged);
      default: return kNoKernel;
    }
  }
  switch (((k.rows == 0 ? 4 : k.rows) << 1) | k.subnormal) {
    case 1 << 1: return LaunchDecode<F, 1, false>(a, k.split, stream, false, k.staged);
    case 2 << 1: return LaunchDecode<F, 2, false>(a, k.split, stream, false, k.staged);
    case (2 << 1) | 1: return LaunchDecode<F, 2, true>(a, k.split, stream, false, k.staged);
    case 4 << 1: return LaunchDecode<F, 4, false>(a, k.split, stream, false, k.staged);
    case (4 << 1) | 1: return LaunchDecode<F, 4, true>(a, k.split, stream, false, k.staged);
    default: return kNoKernel;
  }
}

// One token as LaunchMatMul runs it (choices measured on H100 at the 7B shapes, % of the copy
// bandwidth: tools/bench/bench_gpu_matvec.cc, docs/results.md). Q4_K with x split: the integer
// kernel, staged with 4 rows a warp where the block's rows fit kMaxStage (18944 x 3584: 76%, the
// FP32 kernel 61%), else unstaged with 2 (3584 x 18944: 68%, FP32 56%); without a split, the FP32
// kernel with subnormal codes, 4 rows a warp. Q5_K: its decode kernel with 2 rows. Q6_K: with x
// split, tall matrices on the integer kernel, 4 rows a warp staged (lm head 99.5%), and long rows
// (FFN down) unstaged with 2 rows a warp, 2 warps along a row; else the generic kernel staged, 4
// rows a thread block for tall matrices (80%, unstaged with 2 rows: 69%), 2 for short rows (61%,
// 52%), 1 for long ones (74%, 61%). The rows and warps along a row of the long-row products (Q4_K's
// and Q6_K's FFN down) were chosen inside the 7B Q4_K_M decode step (bench_gpu, 2026-11-24, sixth
// session): both unstaged, 2 rows x 2 along a row, 2.462-2.482 ms a token against 2.486-2.494 with
// Q4_K's 2 x 4 and Q6_K's generic kernel (staged with one row a block); staged or with 1 or 4 rows,
// 2.51-2.80. Q8_0: the generic kernel staged with 4 rows
// where rows are short (18944 x 3584: 91%, unstaged with 2 rows 86%; 4608 x 3584: 72%, 61%; lm
// head 104%, 85%), else with 2 rows unstaged (3584 x 18944: 73%, staged with 1 row 62%). The others
// as for n > 1.
template <class F>
int LaunchOneToken(const MatMulArgs& a, cudaStream_t stream) {
  MatVecKernel k;
  k.kind = MatVecKernel::kDecode;
  if constexpr (std::is_same_v<F, Q4_K>) {
    if (a.x_planes != nullptr) {  // staged where a thread block's rows fit kMaxStage, else 2 rows a warp, 2 along a row
      k.planes = true, k.rows = 4, k.staged = true;
      if (const int e = LaunchDecode<F>(a, k, stream); e != kNoKernel) return e;
      k.rows = 2, k.split = 2, k.staged = false;
      if (const int e = LaunchDecode<F>(a, k, stream); e != kNoKernel) return e;
    }
    k = MatVecKernel{};
    k.kind = MatVecKernel::kDecode, k.rows = 4, k.subnormal = true;
    if (const int e = LaunchDecode<F>(a, k, stream); e != kNoKernel) return e;
  } else if constexpr (std::is_same_v<F, Q5_K>) {
    k.rows = 2;
    if (const int e = LaunchDecode<F>(a, k, stream); e != kNoKernel) return e;
  } else if constexpr (std::is_same_v<F, Q6_K>) {
    if (a.x_planes != nullptr && OneTokenReadsSplit(Format::kQ6_K, a.rows, a.cols)) {  // the integer kernel
      k.planes = true;
      if (a.rows >= kTallRows) {
        k.rows = 4, k.staged = true;
      } else {
        k.rows = 2, k.split = 2;
      }
      if (const int e = LaunchDecode<F>(a, k, stream); e != kNoKernel) return e;
      k = MatVecKernel{};
    }
    // Staged: 4 rows a thread block for tall matrices, 2 for short rows, 1 for long ones (FFN down).
    if (a.rows >= kTallRows && 4 * a.row_bytes + kStageSlack <= kMaxStage) return LaunchOne<F, 1, 4, true>(a, stream);
    if (a.cols <= 4096 && 2 * a.row_bytes + kStageSlack <= kMaxStage) return LaunchOne<F, 1, 2, true>(a, stream);
    if (a.row_bytes + kStageSlack <= kMaxStage) return LaunchOne<F, 1, 1, true>(a, stream);
    return LaunchOne<F, 1, 2>(a, stream);
  } else if constexpr (std::is_same_v<F, Q8_0>) {
    // Staged with 4 rows a thread block where rows are at most 4096 wide, else 2 rows unstaged.
    if (a.cols <= 4096 && 4 * a.row_bytes + kStageSlack <= kMaxStage) return LaunchOne<F, 1, 4, true>(a, stream);
    return LaunchOne<F, 1, 2>(a, stream);
  }
  return LaunchOne<F, 1, 4>(a, stream);
}

template <class F>
int Launch(MatMulArgs a, cudaStream_t stream) {
  const int64_t n = a.n;
  if (n == 1) return LaunchOneToken<F>(a, stream);
  for (int64_t t0 = 0; t0 < n; t0 += kMaxTokens) {
    int e;
    switch (n - t0 < kMaxTokens ? n - t0 : kMaxTokens) {
      case 1: e = LaunchOne<F, 1, 4>(a, stream); break;
      case 2: e = LaunchOne<F, 2, 1>(a, stream); break;
      case 3: e = LaunchOne<F, 3, 1>(a, stream); break;
      case 4: e = LaunchOne<F, 4, 1>(a, stream); break;
      case 5: e = LaunchOne<F, 5, 1>(a, stream); break;
      case 6: e = LaunchOne<F, 6, 1>(a, stream); break;
      case 7: e = LaunchOne<F, 7, 1>(a, stream); break;
      default: e = LaunchOne<F, 8, 1>(a, stream); break;
    }
    if (e != 0) return e;
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

int LaunchMatVec(Format format, const MatMulArgs& args, const MatVecKernel& kernel, CUstream_st* stream) {
  MatMulArgs a = args;
  a.n = 1;
  if (a.ldy < a.rows) a.ldy = a.rows;
  return VisitFormat(format, a, [&](auto tag) {
    using F = typename decltype(tag)::type;
    switch (kernel.kind) {
      case MatVecKernel::kDefault: return Launch<F>(a, stream);
      case MatVecKernel::kGeneric:
        switch ((kernel.rows << 1) | kernel.staged) {
          case 1 << 1: return LaunchOne<F, 1, 1>(a, stream);
          case 2 << 1: return LaunchOne<F, 1, 2>(a, stream);
          case 0:
          case 4 << 1: return LaunchOne<F, 1, 4>(a, stream);
          case (1 << 1) | 1: return LaunchOne<F, 1, 1, true>(a, stream);
          case (2 << 1) | 1: return LaunchOne<F, 1, 2, true>(a, stream);
          case 1:
          case (4 << 1) | 1: return LaunchOne<F, 1, 4, true>(a, stream);
          default: return static_cast<int>(cudaErrorInvalidValue);
        }
      case MatVecKernel::kDecode: {
        const int e = LaunchDecode<F>(a, kernel, stream);
        return e == kNoKernel ? static_cast<int>(cudaErrorInvalidValue) : e;
      }
    }
    return static_cast<int>(cudaErrorInvalidValue);
  });
}

bool OneTokenReadsSplit(Format format, int64_t rows, int64_t cols) {
  return format == Format::kQ4_K || (format == Format::kQ6_K && (rows >= kTallRows || cols >= kLongCols));
}

int LaunchMatVecPair(Format format_a, const MatMulArgs& args_a, Format format_b, const MatMulArgs& args_b,
                     CUstream_st* stream) {
  MatMulArgs a = args_a, b = args_b;
  a.n = b.n = 1;
  if (a.ldy < a.rows) a.ldy = a.rows;
  if (b.ldy < b.rows) b.ldy = b.rows;
  auto integer = [](Format f) { return f == Format::kQ4_K || f == Format::kQ6_K; };
  if (!integer(format_a) || !integer(format_b)) return kNotLaunched;
  // VisitFormat's checks of each matrix, then the kernels' own.
  const int checked_a = VisitFormat(format_a, a, [](auto) { return 0; });
  const int checked_b = VisitFormat(format_b, b, [](auto) { return 0; });
  if (checked_a != 0 || checked_b != 0) return checked_a != 0 ? checked_a : checked_b;
  const bool q6k_a = format_a == Format::kQ6_K, q6k_b = format_b == Format::kQ6_K;
  if (!q6k_a && !q6k_b) return LaunchPair<Q4_K, Q4_K>(a, b, stream);
  if (!q6k_a) return LaunchPair<Q4_K, Q6_K>(a, b, stream);
  if (!q6k_b) return LaunchPair<Q6_K, Q4_K>(a, b, stream);
  return LaunchPair<Q6_K, Q6_K>(a, b, stream);
}

namespace {
bool early_launch = true;
}  // namespace
void SetEarlyLaunch(bool early) { early_launch = early; }
bool EarlyLaunch() { return early_launch; }

}  // namespace quantc::cuda::kernels
