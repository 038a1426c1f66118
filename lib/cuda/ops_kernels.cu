// Element-wise kernels of the GPU forward pass, in the CPU runner's arithmetic (lib/runner/
// layers.cc, rope.cc) where it is cheap to keep: RMSNorm's double sum, the same silu and rotation
// formulas (GQA attention: attention_kernels.cu). DeepSeek's latent attention (absorbed kv_b, as
// AttendLatent in layers.cc, its sums over nope and kv_lora in the same order) and the MoE
// gather/combine (experts summed in the order of the CPU's Moe) follow the same rule.
#include <cuda_runtime.h>

#include <cfloat>
#include <cstdint>

#include "lib/cuda/launch.cuh"
#include "lib/cuda/ops_kernels.h"
#include "lib/cuda/softmax.cuh"
#include "lib/cuda/split_x.cuh"

namespace quantc::cuda::kernels {
namespace {

constexpr int kThreads = 256;

unsigned Blocks(int64_t count) { return static_cast<unsigned>((count + kThreads - 1) / kThreads); }
int LastError() { return static_cast<int>(cudaGetLastError()); }

// RMSNorm's blocks are wide: at one token (decode) the kernel is a single block whose time is the
// chain of dependent loads each thread makes, so the more threads, the shorter the chain (256
// threads over a 3584-wide row took 10.9 us a call on the H100 under ncu, 57 calls a token).
constexpr int kNormThreads = 1024;

// 1 / sqrtf(mean(x²) + eps) of one row of `width` values, for a block of kBlock threads (all must
// call it), from each thread's sum of its squares. Squares summed in double (as the CPU does),
// reduced by warp shuffles and one exchange through shared memory.
template <int kBlock>
__device__ float BlockInverseRms(double sum, int64_t width, float eps) {
  __shared__ double warp_sums[kBlock / 32];
  for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, o);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = sum;
  __syncthreads();
  double total = 0;
  for (int w = 0; w < kBlock / 32; ++w) total += warp_sums[w];
  const float mean = static_cast<float>(total / static_cast<double>(width));
  return 1.0f / sqrtf(mean + eps);
}
template <int kBlock = kThreads>
__device__ float BlockInverseRms(const float* xt, int64_t width, float eps) {
  double sum = 0;
#pragma unroll 4
  for (int64_t i = threadIdx.x; i < width; i += kBlock) sum += static_cast<double>(xt[i] * xt[i]);
  return BlockInverseRms<kBlock>(sum, width, eps);
}

// One block of kNormThreads per token. Rows of up to kNormHeld values a thread (4096 wide: the 1.5B
// to 8B shapes) are held in registers with their weights, loaded once before the sum: one trip to
// memory instead of two (7.0 us a call on the H100 with two, 57 calls a 7B token). The weights,
// which nothing writes, are loaded before the wait for the previous kernel: at one token the kernel
// is a chain of dependent steps between two products, and the weights' trip to memory (they are
// not in L2 after a layer's streaming) then overlaps the previous kernel. Wider rows read x twice.
// split.planes (one token, width a multiple of 32): a warp's 32 values of a pass are also split
// (split_x.cuh).
constexpr int kNormHeld = 4;
__global__ void __launch_bounds__(kNormThreads) RmsNormKernel(const float* x, int64_t x_stride, int64_t width,
                                                              const float* weight, float eps, float* out,
                                                              int64_t out_stride, SplitOut split) {
  AllowNextToStart();
  const float* xt = x + blockIdx.x * x_stride;
  float* ot = out + blockIdx.x * out_stride;
  auto put = [&](int64_t i, float v) {
    ot[i] = v;
    if (split.planes != nullptr) SplitWarp(v, i, split);
  };
  if (width <= kNormThreads * kNormHeld) {
    float xv[kNormHeld], wv[kNormHeld];
    double sum = 0;
#pragma unroll
    for (int j = 0; j < kNormHeld; ++j) {
      const int64_t i = threadIdx.x + j * kNormThreads;
      wv[j] = i < width ? weight[i] : 0.0f;
    }
    WaitForPrevious();
#pragma unroll
    for (int j = 0; j < kNormHeld; ++j) {
      const int64_t i = threadIdx.x + j * kNormThreads;
      xv[j] = i < width ? xt[i] : 0.0f;
    }
#pragma unroll
    for (int j = 0; j < kNormHeld; ++j) sum += static_cast<double>(xv[j] * xv[j]);  // zeros past the row add nothing
    const float scale = BlockInverseRms<kNormThreads>(sum, width, eps);
#pragma unroll
    for (int j = 0; j < kNormHeld; ++j) {
      const int64_t i = threadIdx.x + j * kNormThreads;
      if (i < width) put(i, (xv[j] * scale) * wv[j]);
    }
    return;
  }
  WaitForPrevious();
  const float scale = BlockInverseRms<kNormThreads>(xt, width, eps);
  for (int64_t i = threadIdx.x; i < width; i += kNormThreads) put(i, (xt[i] * scale) * weight[i]);
}

// Rotates pair i of a head (i, i + half, or 2i, 2i + 1 when interleaved) in place.
__device__ __forceinline__ void RotatePair(float* head, int64_t i, int64_t half, bool interleaved, float c, float s) {
  float* a = interleaved ? head + 2 * i : head + i;
  float* b = interleaved ? head + 2 * i + 1 : head + i + half;
  const float x0 = *a, x1 = *b;
  *a = x0 * c - x1 * s;
  *b = x1 * c + x0 * s;
}

__global__ void RopeKernel(float* x, int64_t n, int64_t stride, int64_t heads, int64_t head_stride, int64_t offset,
                           int64_t dim, bool interleaved, const float* cos, const float* sin, const int32_t* pos0) {
  const int64_t half = dim / 2;
  const int64_t job = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (job >= n * heads * half) return;
  const int64_t i = job % half, h = (job / half) % heads, t = job / (half * heads);
  float* head = x + t * stride + h * head_stride + offset;
  const int64_t pos = *pos0 + t;
  RotatePair(head, i, half, interleaved, cos[pos * half + i], sin[pos * half + i]);
}

// Jobs: q's rotation pairs in place, then every k value (rotated from its pair) and v value into
// the caches.
__global__ void RopeAppendKvKernel(float* qkv, int64_t n, int64_t stride, int64_t heads, int64_t kv_heads,
                                   int64_t head_dim, int64_t rope_dim, bool interleaved, const float* cos,
                                   const float* sin, const int32_t* pos0, float* cache_k, float* cache_v) {
  StartAfterPrevious();
  const int64_t half = rope_dim / 2, kv_width = kv_heads * head_dim;
  const int64_t q_jobs = n * heads * half;
  int64_t job = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (job < q_jobs) {
    const int64_t i = job % half, h = (job / half) % heads, t = job / (half * heads);
    float* head = qkv + t * stride + h * head_dim;
    const int64_t pos = *pos0 + t;
    RotatePair(head, i, half, interleaved, cos[pos * half + i], sin[pos * half + i]);
    return;
  }
  job -= q_jobs;
  if (job >= 2 * n * kv_width) return;
  const bool is_v = job >= n * kv_width;
  if (is_v) job -= n * kv_width;
  const int64_t t = job / kv_width, j = job % kv_width, d = j % head_dim;
  const float* row = qkv + t * stride + heads * head_dim + (is_v ? kv_width : 0);
  const int64_t pos = *pos0 + t;
  float value = row[j];
  if (!is_v && d < rope_dim) {
    // This value's rotation pair (first member x0 or second x1) and its frequency i.
    const bool first = interleaved ? d % 2 == 0 : d < half;
    const int64_t i = interleaved ? d / 2 : (first ? d : d - half);
    const int64_t partner = interleaved ? (first ? j + 1 : j - 1) : (first ? j + half : j - half);
    const float c = cos[pos * half + i], s = sin[pos * half + i];
    value = first ? value * c - row[partner] * s : value * c + row[partner] * s;
  }
  (is_v ? cache_v : cache_k)[pos * kv_width + j] = value;
}

// split.planes: n = 1, inter a multiple of 32 (whole warps).
__global__ void SiluMulKernel(const float* gu, int64_t n, int64_t inter, float* out, SplitOut split) {
  StartAfterPrevious();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * inter) return;
  const int64_t t = i / inter, j = i % inter;
  const float g = gu[t * 2 * inter + j];
  out[i] = g / (1.0f + expf(-g)) * gu[t * 2 * inter + inter + j];
  if (split.planes != nullptr) SplitWarp(out[i], i, split);
}

// Arg-max in two launches: kArgmaxBlocks blocks each reduce a slice to (value, index) in
// `partial`, then one block reduces those. Ties keep the smaller index (std::max_element's first).
constexpr int kArgmaxBlocks = 128;

__device__ __forceinline__ void KeepBetter(float& value, int32_t& index, float v, int32_t i) {
  if (v > value || (v == value && i < index)) value = v, index = i;
}

__device__ void BlockArgmax(float value, int32_t index, float* out_value, int32_t* out_index) {
  for (int o = 16; o > 0; o /= 2) {
    KeepBetter(value, index, __shfl_xor_sync(0xFFFFFFFFu, value, o), __shfl_xor_sync(0xFFFFFFFFu, index, o));
  }
  __shared__ float values[kThreads / 32];
  __shared__ int32_t indices[kThreads / 32];
  if (threadIdx.x % 32 == 0) values[threadIdx.x / 32] = value, indices[threadIdx.x / 32] = index;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < static_cast<int>(blockDim.x / 32); ++w) KeepBetter(value, index, values[w], indices[w]);
    *out_value = value, *out_index = index;
  }
}

__global__ void ArgmaxPartialKernel(const float* x, int64_t width, float* partial) {
  StartAfterPrevious();
  const int64_t slice = (width + gridDim.x - 1) / gridDim.x, begin = blockIdx.x * slice;
  const int64_t end = begin + slice < width ? begin + slice : width;
  float value = -FLT_MAX;
  int32_t index = INT32_MAX;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) KeepBetter(value, index, x[i], static_cast<int32_t>(i));
  BlockArgmax(value, index, partial + 2 * blockIdx.x, reinterpret_cast<int32_t*>(partial + 2 * blockIdx.x + 1));
}

__global__ void ArgmaxFinalKernel(const float* partial, ArgmaxTo to) {
  StartAfterPrevious();
  float value = -FLT_MAX;
  int32_t index = INT32_MAX;
  for (int b = threadIdx.x; b < kArgmaxBlocks; b += blockDim.x) {
    KeepBetter(value, index, partial[2 * b], reinterpret_cast<const int32_t*>(partial)[2 * b + 1]);
  }
  float unused;
  int32_t best;
  BlockArgmax(value, index, &unused, &best);
  if (threadIdx.x != 0) return;
  const int32_t next = to.pos != nullptr ? *to.pos + to.n : 0;
  to.ids[next] = best;
  if (to.step != nullptr) *to.step = next;
}

// Multi-head latent attention. One block per token: the latent normalized into the cache row, k_pe's
// pairs rotated after it.
__global__ void MlaAppendLatentKernel(const float* kva, int64_t stride, int64_t kv_lora, int64_t rope_dim,
                                      const float* norm, float eps, bool interleaved, const float* cos,
                                      const float* sin, const int32_t* pos0, float* cache) {
  const int64_t t = blockIdx.x, pos = *pos0 + t, half = rope_dim / 2;
  const float* row = kva + t * stride;
  float* out = cache + pos * (kv_lora + rope_dim);
  const float scale = BlockInverseRms(row, kv_lora, eps);
  for (int64_t i = threadIdx.x; i < kv_lora; i += blockDim.x) out[i] = (row[i] * scale) * norm[i];
  for (int64_t i = threadIdx.x; i < half; i += blockDim.x) {
    const int64_t a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
    const float x0 = row[kv_lora + a], x1 = row[kv_lora + b];
    const float c = cos[pos * half + i], s = sin[pos * half + i];
    out[kv_lora + a] = x0 * c - x1 * s;
    out[kv_lora + b] = x1 * c + x0 * s;
  }
}

// Tokens per block of the absorption and value kernels: each weight read serves this many tokens.
constexpr int kTokensPerBlock = 8;

// Block (column block, head, token chunk); thread c of the column block: out[t, h, c] for the
// chunk's tokens (c < kv_lora), reading w_k[h] column c once for all of them. The block of column
// blocks' first also copies q_pe.
__global__ void MlaAbsorbQueryKernel(const float* q, int64_t q_stride, int64_t n, int64_t heads, int64_t nope,
                                     int64_t rope_dim, int64_t kv_lora, const float* w_k, float* out) {
  const int64_t column_blocks = (kv_lora + kThreads - 1) / kThreads;
  const int64_t cb = blockIdx.x % column_blocks, t0 = (blockIdx.x / column_blocks) * kTokensPerBlock;
  const int64_t h = blockIdx.y, c = cb * kThreads + threadIdx.x,
                tokens = n - t0 < kTokensPerBlock ? n - t0 : kTokensPerBlock;
  const int64_t qk = nope + rope_dim, width = kv_lora + rope_dim;
  if (c < kv_lora) {
    float acc[kTokensPerBlock] = {};
    const float* wc = w_k + h * nope * kv_lora + c;
    const float* qh = q + t0 * q_stride + h * qk;
    for (int64_t d = 0; d < nope; ++d) {
      const float w = wc[d * kv_lora];
#pragma unroll
      for (int tt = 0; tt < kTokensPerBlock; ++tt) {
        if (tt < tokens) acc[tt] += qh[tt * q_stride + d] * w;
      }
    }
#pragma unroll
    for (int tt = 0; tt < kTokensPerBlock; ++tt) {
      if (tt < tokens) out[((t0 + tt) * heads + h) * width + c] = acc[tt];
    }
  }
  if (cb == 0) {
    for (int64_t j = threadIdx.x; j < tokens * rope_dim; j += blockDim.x) {
      const int64_t tt = j / rope_dim, i = j % rope_dim;
      out[((t0 + tt) * heads + h) * width + kv_lora + i] = q[(t0 + tt) * q_stride + h * qk + nope + i];
    }
  }
}

// One block of kLatentWarps warps per (query, head): warp w takes keys w, w + kLatentWarps, ... with
// its own online softmax, lane l holding latent dims l + 32i; the warps' partial results are merged
// through shared memory. Shared memory (dynamic): the query row, then each warp's accumulators,
// maxima and denominators.
constexpr int kLatentWarps = 4;
constexpr int kLatentDimsPerLane = 16;  // kv_lora <= 32 * 16

__global__ void __launch_bounds__(kLatentWarps * 32)
    AttendLatentKernel(const float* q, const float* cache, const int32_t* pos0, int64_t heads, int64_t kv_lora,
                       int64_t rope_dim, float scale, float* ctx) {
  extern __shared__ float shared[];
  const int64_t width = kv_lora + rope_dim;
  float* sq = shared;
  float* sacc = sq + width;                     // [kLatentWarps, kv_lora]
  float* smax = sacc + kLatentWarps * kv_lora;  // [kLatentWarps]
  float* sden = smax + kLatentWarps;            // [kLatentWarps]
  const int64_t t = blockIdx.x / heads, h = blockIdx.x % heads;
  const float* qh = q + (t * heads + h) * width;
  for (int64_t i = threadIdx.x; i < width; i += blockDim.x) sq[i] = qh[i];
  __syncthreads();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float acc[kLatentDimsPerLane];
#pragma unroll
  for (int i = 0; i < kLatentDimsPerLane; ++i) acc[i] = 0.0f;
  OnlineSoftmax softmax;
  const int64_t last = *pos0 + t;
  for (int64_t j = warp; j <= last; j += kLatentWarps) {
    const float* row = cache + j * width;
    float s = 0.0f;
    for (int64_t d = lane; d < width; d += 32) s += sq[d] * row[d];
    for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xFFFFFFFFu, s, o);
    s *= scale;
    const float correction = softmax.Add(s), p = softmax.weight;
#pragma unroll
    for (int i = 0; i < kLatentDimsPerLane; ++i) {
      const int64_t d = lane + 32 * i;
      if (d < kv_lora) acc[i] = acc[i] * correction + p * row[d];
    }
  }
  if (lane == 0) smax[warp] = softmax.max, sden[warp] = softmax.denom;
#pragma unroll
  for (int i = 0; i < kLatentDimsPerLane; ++i) {
    const int64_t d = lane + 32 * i;
    if (d < kv_lora) sacc[warp * kv_lora + d] = acc[i];
  }
  __syncthreads();
  float weight[kLatentWarps];
  const float total = CombineSoftmaxParts<kLatentWarps>(smax, sden, weight);
  WriteMergedParts<kLatentWarps>(sacc, kv_lora, kv_lora, weight, total, ctx + (t * heads + h) * kv_lora);
}

// Block (value block, head, token chunk); thread e: out[t, h * v_dim + e] for the chunk's tokens,
// reading w_vt[h] column e once for all of them.
__global__ void MlaProjectValuesKernel(const float* ctx, int64_t n, int64_t heads, int64_t kv_lora, int64_t v_dim,
                                       const float* w_vt, float* out) {
  const int64_t value_blocks = (v_dim + kThreads - 1) / kThreads;
  const int64_t vb = blockIdx.x % value_blocks, t0 = (blockIdx.x / value_blocks) * kTokensPerBlock;
  const int64_t h = blockIdx.y, e = vb * kThreads + threadIdx.x,
                tokens = n - t0 < kTokensPerBlock ? n - t0 : kTokensPerBlock;
  if (e >= v_dim) return;
  float acc[kTokensPerBlock] = {};
  const float* we = w_vt + h * kv_lora * v_dim + e;
  const float* ch = ctx + (t0 * heads + h) * kv_lora;
  for (int64_t c = 0; c < kv_lora; ++c) {
    const float w = we[c * v_dim];
#pragma unroll
    for (int tt = 0; tt < kTokensPerBlock; ++tt) {
      if (tt < tokens) acc[tt] += ch[tt * heads * kv_lora + c] * w;
    }
  }
#pragma unroll
  for (int tt = 0; tt < kTokensPerBlock; ++tt) {
    if (tt < tokens) out[(t0 + tt) * heads * v_dim + h * v_dim + e] = acc[tt];
  }
}

// Mixture of experts.
__global__ void GatherRowsKernel(const float* x, int64_t width, const int32_t* rows, int64_t count, float* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count * width) return;
  out[i] = x[static_cast<int64_t>(rows[i / width]) * width + i % width];
}

__global__ void MoeCombineKernel(const float* routed, const int32_t* slots, const float* weights, int64_t n,
                                 int64_t top_k, int64_t width, const float* shared, float* x) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * width) return;
  const int64_t t = i / width, d = i % width;
  float sum = 0.0f;
  for (int64_t k = 0; k < top_k; ++k) {
    const int32_t slot = slots[t * top_k + k];
    if (slot >= 0) sum += weights[t * top_k + k] * routed[static_cast<int64_t>(slot) * width + d];
  }
  if (shared != nullptr) sum += shared[i];
  x[i] += sum;
}

}  // namespace

namespace {
int LaunchRmsNormKernel(const float* x, int64_t x_stride, int64_t n, int64_t width, const float* weight, float eps,
                        float* out, int64_t out_stride, CUstream_st* stream, const SplitOut& split) {
  if (x_stride < width || out_stride < width) return static_cast<int>(cudaErrorInvalidValue);
  if (split.planes != nullptr && (n != 1 || width % 32 != 0)) return static_cast<int>(cudaErrorInvalidValue);
  if (n > 0) {
    return LaunchEarly(RmsNormKernel, static_cast<unsigned>(n), kNormThreads, 0, stream, x, x_stride, width, weight, eps,
                       out, out_stride, split);
  }
  return LastError();
}
}  // namespace

int LaunchRmsNorm(const float* x, int64_t n, int64_t width, const float* weight, float eps, float* out,
                  CUstream_st* stream, const SplitOut& split) {
  return LaunchRmsNormKernel(x, width, n, width, weight, eps, out, width, stream, split);
}

int LaunchRmsNormStrided(const float* x, int64_t x_stride, int64_t n, int64_t width, const float* weight, float eps,
                         float* out, int64_t out_stride, CUstream_st* stream) {
  return LaunchRmsNormKernel(x, x_stride, n, width, weight, eps, out, out_stride, stream, {});
}

int LaunchRope(float* x, int64_t n, int64_t stride, int64_t heads, int64_t head_stride, int64_t offset, int64_t dim,
               bool interleaved, const float* cos, const float* sin, const int32_t* pos0, CUstream_st* stream) {
  const int64_t jobs = n * heads * (dim / 2);
  if (jobs > 0) {
    RopeKernel<<<Blocks(jobs), kThreads, 0, stream>>>(x, n, stride, heads, head_stride, offset, dim, interleaved, cos,
                                                      sin, pos0);
  }
  return LastError();
}

int LaunchRopeAppendKv(float* qkv, int64_t n, int64_t stride, int64_t heads, int64_t kv_heads, int64_t head_dim,
                       int64_t rope_dim, bool interleaved, const float* cos, const float* sin, const int32_t* pos0,
                       float* cache_k, float* cache_v, CUstream_st* stream) {
  if (rope_dim > head_dim || rope_dim % 2 != 0) return static_cast<int>(cudaErrorInvalidValue);
  const int64_t jobs = n * heads * (rope_dim / 2) + 2 * n * kv_heads * head_dim;
  if (jobs > 0) {
    return LaunchEarly(RopeAppendKvKernel, Blocks(jobs), kThreads, 0, stream, qkv, n, stride, heads, kv_heads, head_dim,
                       rope_dim, interleaved, cos, sin, pos0, cache_k, cache_v);
  }
  return LastError();
}

int LaunchSiluMul(const float* gu, int64_t n, int64_t inter, float* out, CUstream_st* stream,
                  const SplitOut& split) {
  if (split.planes != nullptr && (n != 1 || inter % 32 != 0)) return static_cast<int>(cudaErrorInvalidValue);
  if (n * inter > 0) return LaunchEarly(SiluMulKernel, Blocks(n * inter), kThreads, 0, stream, gu, n, inter, out, split);
  return LastError();
}

int LaunchArgmax(const float* x, int64_t width, float* scratch, const ArgmaxTo& to, CUstream_st* stream) {
  if (width <= 0 || to.ids == nullptr) return static_cast<int>(cudaErrorInvalidValue);
  const int e = LaunchEarly(ArgmaxPartialKernel, kArgmaxBlocks, kThreads, 0, stream, x, width, scratch);
  if (e != 0) return e;
  return LaunchEarly(ArgmaxFinalKernel, 1, kThreads, 0, stream, scratch, to);
}

int LaunchMlaAppendLatent(const float* kva, int64_t n, int64_t stride, int64_t kv_lora, int64_t rope_dim,
                          const float* norm, float eps, bool interleaved, const float* cos, const float* sin,
                          const int32_t* pos0, float* cache, CUstream_st* stream) {
  if (kv_lora <= 0 || rope_dim % 2 != 0 || stride < kv_lora + rope_dim) return static_cast<int>(cudaErrorInvalidValue);
  if (n > 0) {
    MlaAppendLatentKernel<<<static_cast<unsigned>(n), kThreads, 0, stream>>>(kva, stride, kv_lora, rope_dim, norm, eps,
                                                                             interleaved, cos, sin, pos0, cache);
  }
  return LastError();
}

int LaunchMlaAbsorbQuery(const float* q, int64_t q_stride, int64_t n, int64_t heads, int64_t nope, int64_t rope_dim,
                         int64_t kv_lora, const float* w_k, float* out, CUstream_st* stream) {
  if (kv_lora <= 0 || heads <= 0 || heads > 65535 || q_stride < heads * (nope + rope_dim)) {
    return static_cast<int>(cudaErrorInvalidValue);
  }
  if (n <= 0) return LastError();
  const int64_t chunks = (n + kTokensPerBlock - 1) / kTokensPerBlock, column_blocks = Blocks(kv_lora);
  const dim3 grid(static_cast<unsigned>(chunks * column_blocks), static_cast<unsigned>(heads));
  MlaAbsorbQueryKernel<<<grid, kThreads, 0, stream>>>(q, q_stride, n, heads, nope, rope_dim, kv_lora, w_k, out);
  return LastError();
}

int LaunchAttendLatent(const float* q, const float* cache, int64_t n, const int32_t* pos0, int64_t heads,
                       int64_t kv_lora, int64_t rope_dim, float scale, float* ctx, CUstream_st* stream) {
  const size_t shared = static_cast<size_t>(kv_lora + rope_dim + kLatentWarps * kv_lora + 2 * kLatentWarps) * 4;
  if (kv_lora <= 0 || kv_lora > 32 * kLatentDimsPerLane || rope_dim < 0 || shared > 48 * 1024) {
    return static_cast<int>(cudaErrorInvalidValue);
  }
  if (n * heads <= 0) return LastError();
  AttendLatentKernel<<<static_cast<unsigned>(n * heads), kLatentWarps * 32, shared, stream>>>(
      q, cache, pos0, heads, kv_lora, rope_dim, scale, ctx);
  return LastError();
}

int LaunchMlaProjectValues(const float* ctx, int64_t n, int64_t heads, int64_t kv_lora, int64_t v_dim,
                           const float* w_vt, float* out, CUstream_st* stream) {
  if (v_dim <= 0 || heads <= 0 || heads > 65535) return static_cast<int>(cudaErrorInvalidValue);
  if (n <= 0) return LastError();
  const int64_t chunks = (n + kTokensPerBlock - 1) / kTokensPerBlock, value_blocks = Blocks(v_dim);
  const dim3 grid(static_cast<unsigned>(chunks * value_blocks), static_cast<unsigned>(heads));
  MlaProjectValuesKernel<<<grid, kThreads, 0, stream>>>(ctx, n, heads, kv_lora, v_dim, w_vt, out);
  return LastError();
}

int LaunchGatherRows(const float* x, int64_t width, const int32_t* rows, int64_t count, float* out,
                     CUstream_st* stream) {
  if (count * width > 0) GatherRowsKernel<<<Blocks(count * width), kThreads, 0, stream>>>(x, width, rows, count, out);
  return LastError();
}

int LaunchMoeCombine(const float* routed, const int32_t* slots, const float* weights, int64_t n, int64_t top_k,
                     int64_t width, const float* shared, float* x, CUstream_st* stream) {
  if (n * width > 0) {
    MoeCombineKernel<<<Blocks(n * width), kThreads, 0, stream>>>(routed, slots, weights, n, top_k, width, shared, x);
  }
  return LastError();
}

}  // namespace quantc::cuda::kernels
