// Element-wise and attention kernels of the GPU forward pass, in the CPU runner's arithmetic
// (lib/runner/layers.cc, rope.cc) where it is cheap to keep: RMSNorm's double sum, the same silu
// and rotation formulas. Attention uses an online softmax (one pass over the keys), which differs
// from the CPU's two passes only in rounding.
#include <cuda_runtime.h>

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
                           int64_t dim, bool interleaved, const float* cos, const float* sin, int64_t pos0) {
  const int64_t half = dim / 2;
  const int64_t job = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (job >= n * heads * half) return;
  const int64_t i = job % half, h = (job / half) % heads, t = job / (half * heads);
  float* head = x + t * stride + h * head_stride + offset;
  const float c = cos[(pos0 + t) * half + i], s = sin[(pos0 + t) * half + i];
  float* a = interleaved ? head + 2 * i : head + i;
  float* b = interleaved ? head + 2 * i + 1 : head + i + half;
  const float x0 = *a, x1 = *b;
  *a = x0 * c - x1 * s;
  *b = x1 * c + x0 * s;
}

__global__ void SiluMulKernel(float* g, const float* u, int64_t count) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

__global__ void AddKernel(float* x, const float* y, int64_t count) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) x[i] += y[i];
}

__global__ void AddBiasKernel(float* x, const float* bias, int64_t n, int64_t width) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n * width) x[i] += bias[i % width];
}

// One warp per (query, head). Lane l holds output dims l, l + 32, ... (at most 16 each).
__global__ void AttendKernel(const float* q, const float* k, const float* v, int64_t n, int64_t pos0, int64_t heads,
                             int64_t kv_heads, int64_t dk, int64_t dv, float scale, float* out) {
  const int64_t job = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (job >= n * heads) return;
  const int64_t t = job / heads, h = job % heads, kvh = h / (heads / kv_heads);
  const float* qh = q + (t * heads + h) * dk;
  float acc[16] = {};
  float running_max = -INFINITY, denom = 0.0f;
  for (int64_t j = 0; j <= pos0 + t; ++j) {
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

}  // namespace

int LaunchRmsNorm(const float* x, int64_t n, int64_t width, const float* weight, float eps, float* out) {
  if (n > 0) RmsNormKernel<<<static_cast<unsigned>(n), kThreads>>>(x, width, weight, eps, out);
  return LastError();
}

int LaunchRope(float* x, int64_t n, int64_t stride, int64_t heads, int64_t head_stride, int64_t offset, int64_t dim,
               bool interleaved, const float* cos, const float* sin, int64_t pos0) {
  const int64_t jobs = n * heads * (dim / 2);
  if (jobs > 0) RopeKernel<<<Blocks(jobs), kThreads>>>(x, n, stride, heads, head_stride, offset, dim, interleaved, cos, sin, pos0);
  return LastError();
}

int LaunchSiluMul(float* g, const float* u, int64_t count) {
  if (count > 0) SiluMulKernel<<<Blocks(count), kThreads>>>(g, u, count);
  return LastError();
}

int LaunchAdd(float* x, const float* y, int64_t count) {
  if (count > 0) AddKernel<<<Blocks(count), kThreads>>>(x, y, count);
  return LastError();
}

int LaunchAddBias(float* x, const float* bias, int64_t n, int64_t width) {
  if (n * width > 0) AddBiasKernel<<<Blocks(n * width), kThreads>>>(x, bias, n, width);
  return LastError();
}

int LaunchAttend(const float* q, const float* k, const float* v, int64_t n, int64_t pos0, int64_t heads,
                 int64_t kv_heads, int64_t dk, int64_t dv, float scale, float* out) {
  if (dv > 16 * 32 || kv_heads <= 0 || heads % kv_heads != 0) return static_cast<int>(cudaErrorInvalidValue);
  constexpr int kWarps = 4;
  const int64_t jobs = n * heads;
  if (jobs > 0) {
    AttendKernel<<<static_cast<unsigned>((jobs + kWarps - 1) / kWarps), kWarps * 32>>>(q, k, v, n, pos0, heads, kv_heads,
                                                                                      dk, dv, scale, out);
  }
  return LastError();
}

}  // namespace quantc::cuda::kernels
