// Launch interface of lib/cuda's element-wise and attention kernels (ops_kernels.cu; GQA attention:
// attention_kernels.cu): plain types only. Each returns the CUDA error code of its launch (0 =
// success). All pointers are device memory. Positions come from device memory (`pos0`: the cache
// length before these tokens), so a captured decode step replays at whatever position the cache
// has reached.
#pragma once

#include <cstdint>

#include "lib/cuda/matmul_kernels.h"

struct CUstream_st;

namespace quantc::cuda::kernels {

// out[t, :] = x[t, :] * (1 / sqrtf(mean_fp32(x²) + eps)) * weight (squares summed in double, as the
// CPU runner and ggml do). out may alias x. `split` (one token, width a multiple of 32): also out's
// split for Q4_K's one-token kernels (LaunchSplitX).
int LaunchRmsNorm(const float* x, int64_t n, int64_t width, const float* weight, float eps, float* out,
                  CUstream_st* stream, const SplitOut& split = {});
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
// `split` as LaunchRmsNorm's.
int LaunchSiluMul(const float* gu, int64_t n, int64_t inter, float* out, CUstream_st* stream,
                  const SplitOut& split = {});
// Causal attention of n queries (positions *pos0 .. *pos0 + n - 1) over cached keys 0 .. *pos0 + t:
// q [n, q_stride] (head h at h * dk), k [T, kv_heads * dk], v [T, kv_heads * dv] ->
// out [n, heads * dv]; dv <= 512 (attention_kernels.cu). One token with `parts` (dk = dv in {64,
// 128, 256}, q 16-byte aligned): each head's keys split over kAttendSplits thread blocks, merged by
// the last to finish; `split` then also writes out's split for the o projection (LaunchSplitX).
// 8 a head: 7B Q4_K_M decode on the H100 2.64 ms a token with 16, 2.60 with 8 (2.59 with 4, but
// 4 leaves long caches to few blocks); at a 1024-token cache 2.644 (16) vs 2.599 (8).
constexpr int kAttendSplits = 8;
// The split attention's scratch: per head kAttendSplits parts of dv + 2 floats (AttendPartFloats)
// and a counter, zero before the first launch (each launch leaves it zero).
struct AttendParts {
  float* partial = nullptr;
  uint32_t* counters = nullptr;  // [heads]
};
constexpr int64_t AttendPartFloats(int64_t heads, int64_t dv) { return heads * kAttendSplits * (dv + 2); }
// The head sizes of LaunchAttend's thread-block kernels (with q 16-byte aligned), and whether it
// splits the keys of n queries when given parts.
constexpr bool AttendGroupedHeads(int64_t dk, int64_t dv) { return dk == dv && (dk == 64 || dk == 128 || dk == 256); }
constexpr bool AttendSplits(int64_t n, int64_t dk, int64_t dv) { return n == 1 && AttendGroupedHeads(dk, dv); }
int LaunchAttend(const float* q, int64_t q_stride, const float* k, const float* v, int64_t n, const int32_t* pos0,
                 int64_t heads, int64_t kv_heads, int64_t dk, int64_t dv, float scale, float* out, CUstream_st* stream,
                 const AttendParts& parts = {}, const SplitOut& split = {});
// RmsNorm over rows that sit inside wider rows: x[t * x_stride + i] -> out[t * out_stride + i] for
// i < width (MLA's q_a part of the stacked q_a/kv_a output). out must not alias x unless the strides match.
int LaunchRmsNormStrided(const float* x, int64_t x_stride, int64_t n, int64_t width, const float* weight, float eps,
                         float* out, int64_t out_stride, CUstream_st* stream);

// Multi-head latent attention (DeepSeek-V2/V3) over a latent cache: per position one row of
// kv_lora + rope_dim floats, the RMS-normalized KV latent then the rotated shared key part k_pe
// (lib/runner/gpu_mla.h). kv_b's per-head key rows are absorbed into the query and its value rows
// applied after attention, as the CPU runner's AttendLatent (lib/runner/layers.h).
//
// kv_a's output of n tokens (row stride `stride`: [latent (kv_lora) | k_pe (rope_dim)]) into the
// cache rows *pos0 + t: the latent normalized (RmsNorm with `norm`), k_pe rotated with the cos/sin
// tables [positions, rope_dim / 2] (interleaved or half-split pairs, as LaunchRope).
int LaunchMlaAppendLatent(const float* kva, int64_t n, int64_t stride, int64_t kv_lora, int64_t rope_dim,
                          const float* norm, float eps, bool interleaved, const float* cos, const float* sin,
                          const int32_t* pos0, float* cache, CUstream_st* stream);
// The absorbed queries: q [n, q_stride], head h at h * (nope + rope_dim) as [q_nope | q_pe] (q_pe
// already rotated) -> out [n, heads, kv_lora + rope_dim] = [q_nope · W_k[h] | q_pe], with
// w_k [heads, nope, kv_lora] (kv_b's key rows); the sum over nope runs in ascending order.
int LaunchMlaAbsorbQuery(const float* q, int64_t q_stride, int64_t n, int64_t heads, int64_t nope, int64_t rope_dim,
                         int64_t kv_lora, const float* w_k, float* out, CUstream_st* stream);
// Causal attention of n absorbed queries q [n, heads, kv_lora + rope_dim] (positions *pos0 + t)
// over the cache rows 0 .. *pos0 + t: scores q · row, values the rows' latents ->
// ctx [n, heads, kv_lora]. kv_lora <= 512.
int LaunchAttendLatent(const float* q, const float* cache, int64_t n, const int32_t* pos0, int64_t heads,
                       int64_t kv_lora, int64_t rope_dim, float scale, float* ctx, CUstream_st* stream);
// out [n, heads * v_dim]: head h's values W_v[h] · ctx[t, h], w_vt [heads, kv_lora, v_dim] (kv_b's
// value rows, transposed); the sum over kv_lora runs in ascending order.
int LaunchMlaProjectValues(const float* ctx, int64_t n, int64_t heads, int64_t kv_lora, int64_t v_dim,
                           const float* w_vt, float* out, CUstream_st* stream);

// Mixture of experts (lib/runner/gpu_moe.h). out[i, :] = x[rows[i], :] for i < count (rows of
// `width` floats): the tokens routed to each expert, gathered expert by expert.
int LaunchGatherRows(const float* x, int64_t width, const int32_t* rows, int64_t count, float* out,
                     CUstream_st* stream);
// x[t, :] += (sum over k < top_k of weights[t * top_k + k] * routed[slots[t * top_k + k], :]) +
// shared[t, :]: the routed experts' outputs (rows of `routed`, summed in the order of the slots;
// a negative slot adds nothing), then the shared experts' (null: none), then the residual add.
int LaunchMoeCombine(const float* routed, const int32_t* slots, const float* weights, int64_t n, int64_t top_k,
                     int64_t width, const float* shared, float* x, CUstream_st* stream);

// Where LaunchArgmax writes: ids[*pos + n] (ids[0] without pos), and *step = *pos + n where given:
// for a decode step at positions *pos .. + n, the token after them and the next step's position,
// which LaunchEmbedRows reads (the runner's token history: a recorded step replayed again runs the
// next token). ids and step may be mapped host memory (the host reads them after synchronizing,
// with no copy queued).
struct ArgmaxTo {
  int32_t* ids = nullptr;
  const int32_t* pos = nullptr;
  int32_t n = 0;
  int32_t* step = nullptr;
};
// The first index of the largest of x[0 .. width), written to `to`; scratch: kArgmaxScratch floats.
constexpr int64_t kArgmaxScratch = 256;
int LaunchArgmax(const float* x, int64_t width, float* scratch, const ArgmaxTo& to, CUstream_st* stream);

}  // namespace quantc::cuda::kernels
