// Element-wise and attention kernels of the GPU forward pass, in the CPU runner's arithmetic
// (lib/runner/layers.cc, rope.cc) where it is cheap to keep: RMSNorm's double sum, the same silu
// and rotation formulas. Attention uses an online softmax (one pass over the keys), which differs
// from the CPU's two passes only in rounding.
#include <cuda_runtime.h>

#include <cfloat>

#include "lib/cuda/ops_kernels.h"

namespace quantc::cuda::kernels {
namespace {

constexpr int kThreads = 256;

unsigned Blocks(int64_t count) { return static_cast<unsigned>((count + kThreads - 1) / kThreads); }
int LastError() { return static_cast<int>(cudaGetLastError()); }

__global__ void RmsNormKernel(const float* x, int64_t width, const float* weight, float eps, float* out) {
  const float* xt = x + blockIdx.x * width;
  float* ot = out + blockIdx.x * width;
  __shared__ double partial[kThreads];
  double sum = 0;
  for (int64_t i = threadIdx.x; i < width; i += blockDim.x) sum += static_cast<double>(xt[i] * xt[i]);
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  const float mean = static_cast<float>(partial[0] / static_cast<double>(width));
  const float scale = 1.0f / sqrtf(mean + eps);
  for (int64_t i = threadIdx.x; i < width; i += blockDim.x) ot[i] = (xt[i] * scale) * weight[i];
}

__global__ void RopeKernel(float* x, int64_t n, int64_t stride, int64_t heads, int64_t head_stride, int64_t offset,
                           int64_t dim, bool interleaved, const float* cos, const float* sin, const int32_t* pos0) {
  const int64_t half = dim / 2;
  const int64_t job = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (job >= n * heads * half) return;
  const int64_t i = job % half, h = (job / half) % heads, t = job / (half * heads);
  float* head = x + t * stride + h * head_stride + offset;
  const int64_t pos = *pos0 + t;
  const float c = cos[pos * half + i], s = sin[pos * half + i];
  float* a = interleaved ? head + 2 * i : head + i;
  float* b = interleaved ? head + 2 * i + 1 : head + i + half;
  const float x0 = *a, x1 = *b;
  *a = x0 * c - x1 * s;
  *b = x1 * c + x0 * s;
}

__global__ void StoreRowsKernel(const float* src, int64_t n, int64_t stride, int64_t width, float* cache,
                                const int32_t* pos0) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * width) return;
  const int64_t t = i / width, j = i % width;
  cache[(*pos0 + t) * width + j] = src[t * stride + j];
}

__global__ void SiluMulKernel(const float* gu, int64_t n, int64_t inter, float* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * inter) return;
  const int64_t t = i / inter, j = i % inter;
  const float g = gu[t * 2 * inter + j];
  out[i] = g / (1.0f + expf(-g)) * gu[t * 2 * inter + inter + j];
}

// One warp per (query, head). Lane l holds output dims l, l + 32, ... (at most 16 each).
__global__ void AttendKernel(const float* q, int64_t q_stride, const float* k, const float* v, int64_t n,
                             const int32_t* pos0, int64_t heads, int64_t kv_heads, int64_t dk, int64_t dv, float scale,
                             float* out) {
  const int64_t job = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (job >= n * heads) return;
  const int64_t t = job / heads, h = job % heads, kvh = h / (heads / kv_heads);
  const float* qh = q + t * q_stride + h * dk;
  float acc[16] = {};
  float running_max = -INFINITY, denom = 0.0f;
  const int64_t last = *pos0 + t;
  for (int64_t j = 0; j <= last; ++j) {
    const float* kj = k + (j * kv_heads + kvh) * dk;
    float s = 0.0f;
    for (int64_t d = lane; d < dk; d += 32) s += qh[d] * kj[d];
    for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xFFFFFFFFu, s, o);
    s *= scale;
    const float new_max = fmaxf(running_max, s);
    const float correction = expf(running_max - new_max), p = expf(s - new_max);
    denom = denom * correction + p;
    const float* vj = v + (j * kv_heads + kvh) * dv;
    for (int64_t d = lane, i = 0; d < dv; d += 32, ++i) acc[i] = acc[i] * correction + p * vj[d];
    running_max = new_max;
  }
  float* oh = out + (t * heads + h) * dv;
  for (int64_t d = lane, i = 0; d < dv; d += 32, ++i) oh[d] = acc[i] / denom;
}

// One block: each thread scans a strided share, then a shared-memory reduction keeps the larger
// value and, on ties, the smaller index (std::max_element's first maximum).
__global__ void ArgmaxKernel(const float* x, int64_t width, int32_t* out) {
  __shared__ float best[1024];
  __shared__ int32_t where[1024];
  float b = -FLT_MAX;
  int32_t w = 0;
  for (int64_t i = threadIdx.x; i < width; i += blockDim.x) {
    if (x[i] > b) b = x[i], w = static_cast<int32_t>(i);
  }
  best[threadIdx.x] = b, where[threadIdx.x] = w;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) {
      const float o = best[threadIdx.x + s];
      const int32_t ow = where[threadIdx.x + s];
      if (o > best[threadIdx.x] || (o == best[threadIdx.x] && ow < where[threadIdx.x])) best[threadIdx.x] = o, where[threadIdx.x] = ow;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) *out = where[0];
}

}  // namespace

int LaunchRmsNorm(const float* x, int64_t n, int64_t width, const float* weight, float eps, float* out,
                  CUstream_st* stream) {
  if (n > 0) RmsNormKernel<<<static_cast<unsigned>(n), kThreads, 0, stream>>>(x, width, weight, eps, out);
  return LastError();
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

int LaunchStoreRows(const float* src, int64_t n, int64_t stride, int64_t width, float* cache, const int32_t* pos0,
                    CUstream_st* stream) {
  if (n * width > 0) StoreRowsKernel<<<Blocks(n * width), kThreads, 0, stream>>>(src, n, stride, width, cache, pos0);
  return LastError();
}

int LaunchSiluMul(const float* gu, int64_t n, int64_t inter, float* out, CUstream_st* stream) {
  if (n * inter > 0) SiluMulKernel<<<Blocks(n * inter), kThreads, 0, stream>>>(gu, n, inter, out);
  return LastError();
}

int LaunchAttend(const float* q, int64_t q_stride, const float* k, const float* v, int64_t n, const int32_t* pos0,
                 int64_t heads, int64_t kv_heads, int64_t dk, int64_t dv, float scale, float* out, CUstream_st* stream) {
  if (dv > 16 * 32 || kv_heads <= 0 || heads % kv_heads != 0) return static_cast<int>(cudaErrorInvalidValue);
  constexpr int kWarps = 4;
  const int64_t jobs = n * heads;
  if (jobs > 0) {
    AttendKernel<<<static_cast<unsigned>((jobs + kWarps - 1) / kWarps), kWarps * 32, 0, stream>>>(
        q, q_stride, k, v, n, pos0, heads, kv_heads, dk, dv, scale, out);
  }
  return LastError();
}

int LaunchArgmax(const float* x, int64_t width, int32_t* out, CUstream_st* stream) {
  if (width <= 0) return static_cast<int>(cudaErrorInvalidValue);
  ArgmaxKernel<<<1, 1024, 0, stream>>>(x, width, out);
  return LastError();
}

}  // namespace quantc::cuda::kernels
