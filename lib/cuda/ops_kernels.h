// Launch interface of lib/cuda's element-wise and attention kernels (ops_kernels.cu): plain types
// only. Each returns the CUDA error code of its launch (0 = success). All pointers are device
// memory. Positions come from device memory (`pos0`: the cache length before these tokens), so a
// captured decode step replays at whatever position the cache has reached.
#pragma once

#include <cstdint>

struct CUstream_st;

namespace quantc::cuda::kernels {

// out[t, :] = x[t, :] * (1 / sqrtf(mean_fp32(x²) + eps)) * weight (squares summed in double, as the
// CPU runner and ggml do). out may alias x.
int LaunchRmsNorm(const float* x, int64_t n, int64_t width, const float* weight, float eps, float* out,
                  CUstream_st* stream);
// Rotates `heads` head vectors of `dim` values per token (row stride `stride` floats, head h at
// offset h * head_stride + offset) for positions *pos0 + t, with cos/sin tables [positions, dim/2];
// half-split pairs (i, i + dim/2) or interleaved pairs (2i, 2i + 1).
int LaunchRope(float* x, int64_t n, int64_t stride, int64_t heads, int64_t head_stride, int64_t offset, int64_t dim,
               bool interleaved, const float* cos, const float* sin, const int32_t* pos0, CUstream_st* stream);
// The attention inputs of n tokens, laid out [n, stride] as q (heads × head_dim), k, v
// (kv_heads × head_dim each): rotates q in place (rope over the first rope_dim values of each
// head) and appends rotated k and plain v to the caches at rows *pos0 + t ([T, kv_heads × head_dim]).
int LaunchRopeAppendKv(float* qkv, int64_t n, int64_t stride, int64_t heads, int64_t kv_heads, int64_t head_dim,
                       int64_t rope_dim, bool interleaved, const float* cos, const float* sin, const int32_t* pos0,
                       float* cache_k, float* cache_v, CUstream_st* stream);
// out[t, i] = silu(gu[t, i]) * gu[t, inter + i]: gate and up side by side in one row per token.
int LaunchSiluMul(const float* gu, int64_t n, int64_t inter, float* out, CUstream_st* stream);
// Causal attention of n queries (positions *pos0 .. *pos0 + n - 1) over cached keys 0 .. *pos0 + t:
// q [n, q_stride] (head h at h * dk), k [T, kv_heads * dk], v [T, kv_heads * dv] ->
// out [n, heads * dv]; dv <= 512.
int LaunchAttend(const float* q, int64_t q_stride, const float* k, const float* v, int64_t n, const int32_t* pos0,
                 int64_t heads, int64_t kv_heads, int64_t dk, int64_t dv, float scale, float* out, CUstream_st* stream);
// *out = the first index of the largest of x[0 .. width); scratch: kArgmaxScratch floats.
constexpr int64_t kArgmaxScratch = 256;
int LaunchArgmax(const float* x, int64_t width, float* scratch, int32_t* out, CUstream_st* stream);

}  // namespace quantc::cuda::kernels
