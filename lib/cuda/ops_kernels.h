// Launch interface of lib/cuda's element-wise and attention kernels (ops_kernels.cu): plain types
// only. Each returns the CUDA error code of its launch (0 = success). All pointers are device memory.
#pragma once

#include <cstdint>

namespace quantc::cuda::kernels {

// out[t, :] = x[t, :] * (1 / sqrtf(mean_fp32(x²) + eps)) * weight (squares summed in double, as the
// CPU runner and ggml do). out may alias x.
int LaunchRmsNorm(const float* x, int64_t n, int64_t width, const float* weight, float eps, float* out);
// Rotates `heads` head vectors of `dim` values per token (row stride `stride` floats, head h at
// offset h * head_stride + offset) for positions pos0 + t, with cos/sin tables [positions, dim/2];
// half-split pairs (i, i + dim/2) or interleaved pairs (2i, 2i + 1).
int LaunchRope(float* x, int64_t n, int64_t stride, int64_t heads, int64_t head_stride, int64_t offset, int64_t dim,
               bool interleaved, const float* cos, const float* sin, int64_t pos0);
// g[i] = g[i] / (1 + expf(-g[i])) * u[i], i < count.
int LaunchSiluMul(float* g, const float* u, int64_t count);
// x[i] += y[i], i < count.
int LaunchAdd(float* x, const float* y, int64_t count);
// x[t, j] += bias[j] for t < n, j < width.
int LaunchAddBias(float* x, const float* bias, int64_t n, int64_t width);
// Causal attention of n queries (positions pos0 .. pos0 + n - 1) over keys 0 .. pos0 + t:
// q [n, heads, dk], k [T, kv_heads, dk], v [T, kv_heads, dv] -> out [n, heads, dv]; dv <= 512.
int LaunchAttend(const float* q, const float* k, const float* v, int64_t n, int64_t pos0, int64_t heads,
                 int64_t kv_heads, int64_t dk, int64_t dv, float scale, float* out);

}  // namespace quantc::cuda::kernels
